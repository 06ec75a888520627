//! Rows and queries of process 1: collection windows, classes, pupils,
//! support-hour requests, approvals and submissions. Every query runs under
//! row-level security: rows outside the caller's scope are simply absent.

pub use super::unless_taken;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::{count_star, sql};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Date, Int4, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::fixed::Fixed;
use super::schema::{
    classes, collection_windows, pupils, sites, support_approvals, support_requests, support_submissions,
};
use super::territory::{PageRequest, SiteRow};
use crate::authz::Within;

/// The process whose windows this module keeps.
pub const PROCESS: &str = "support_registry";

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = collection_windows, check_for_backend(Pg))]
pub struct WindowRow {
    pub id: i64,
    pub province_code: String,
    pub school_year: i32,
    pub institution_code: Option<String>,
    pub opens_on: NaiveDate,
    pub closes_on: NaiveDate,
    pub closed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = classes, check_for_backend(Pg))]
pub struct ClassRow {
    pub id: i64,
    pub school_year: i32,
    pub institution_code: String,
    pub province_code: String,
    pub site_code: String,
    pub school_order: String,
    pub year_of_study: i32,
    pub section: String,
    pub pupils: i32,
    pub time_model_hours: i32,
}

/// A class as written: the school and year, then what the school entered.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = classes)]
pub struct ClassFields {
    pub school_year: i32,
    pub institution_code: String,
    pub site_code: String,
    pub school_order: String,
    pub year_of_study: i32,
    pub section: String,
    pub pupils: i32,
    pub time_model_hours: i32,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pupils, check_for_backend(Pg))]
pub struct PupilRow {
    pub id: i64,
    pub school_year: i32,
    pub institution_code: String,
    pub province_code: String,
    pub class_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub tax_code: String,
    pub birth_date: NaiveDate,
    pub sex: String,
    pub severity: String,
    pub certified_on: NaiveDate,
    pub revision_on: Option<NaiveDate>,
    pub certified_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A pupil as written.
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset, serde::Serialize)]
#[diesel(table_name = pupils, treat_none_as_null = true)]
#[serde(rename_all = "camelCase")]
pub struct PupilFields {
    pub school_year: i32,
    pub institution_code: String,
    pub class_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub tax_code: String,
    pub birth_date: NaiveDate,
    pub sex: String,
    pub severity: String,
    pub certified_on: NaiveDate,
    pub revision_on: Option<NaiveDate>,
    pub certified_by: String,
}

impl PupilRow {
    pub fn fields(&self) -> PupilFields {
        PupilFields {
            school_year: self.school_year,
            institution_code: self.institution_code.clone(),
            class_id: self.class_id,
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            tax_code: self.tax_code.clone(),
            birth_date: self.birth_date,
            sex: self.sex.clone(),
            severity: self.severity.clone(),
            certified_on: self.certified_on,
            revision_on: self.revision_on,
            certified_by: self.certified_by.clone(),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = support_requests, check_for_backend(Pg))]
pub struct RequestRow {
    pub pupil_id: i64,
    pub ratio: i32,
    pub hours: i32,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = support_approvals, check_for_backend(Pg))]
pub struct ApprovalRow {
    pub pupil_id: i64,
    pub hours: i32,
    pub approved_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = support_submissions, check_for_backend(Pg))]
pub struct SubmissionRow {
    pub institution_code: String,
    pub school_year: i32,
    pub state: String,
    pub submitted_at: DateTime<Utc>,
    pub returned_at: Option<DateTime<Utc>>,
    pub return_reason: Option<String>,
}

/// Today in Italy, by the database's clock: windows open and close by the
/// calendar of the offices, not of the server's time zone.
pub async fn today(conn: &mut AsyncPgConnection) -> QueryResult<NaiveDate> {
    diesel::select(sql::<Date>("(now() AT TIME ZONE 'Europe/Rome')::date")).get_result(conn).await
}

/// The windows the caller sees for a province and year.
pub async fn windows(conn: &mut AsyncPgConnection, province: &str, year: i32) -> QueryResult<Vec<WindowRow>> {
    collection_windows::table
        .filter(collection_windows::province_code.eq(province))
        .filter(collection_windows::process.eq(PROCESS))
        .filter(collection_windows::school_year.eq(year))
        .order(collection_windows::id)
        .select(WindowRow::as_select())
        .load(conn)
        .await
}

/// Every window the caller sees, newest year first, optionally for one year.
pub async fn all_windows(conn: &mut AsyncPgConnection, year: Option<i32>) -> QueryResult<Vec<WindowRow>> {
    let mut q = collection_windows::table.filter(collection_windows::process.eq(PROCESS)).into_boxed();
    if let Some(y) = year {
        q = q.filter(collection_windows::school_year.eq(y));
    }
    q.order((collection_windows::school_year.desc(), collection_windows::id))
        .select(WindowRow::as_select())
        .load(conn)
        .await
}

/// Opens (or reopens) a window: for every school, or for one.
pub async fn open_window(
    conn: &mut AsyncPgConnection,
    province: &str,
    year: i32,
    institution: Option<String>,
    opens_on: NaiveDate,
    closes_on: NaiveDate,
) -> QueryResult<WindowRow> {
    Fixed::new(
        "INSERT INTO collection_windows (province_code, process, school_year, institution_code, opens_on, closes_on)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (province_code, process, school_year, coalesce(institution_code, ''))
         DO UPDATE SET opens_on = EXCLUDED.opens_on, closes_on = EXCLUDED.closes_on, closed_at = NULL,
                       updated_by = ambito_user_id(), updated_at = now()
         RETURNING id, province_code, school_year, institution_code, opens_on, closes_on, closed_at, updated_at",
    )
    .bind::<Text, _>(province)
    .bind::<Text, _>(PROCESS)
    .bind::<Int4, _>(year)
    .bind::<Nullable<Text>, _>(institution)
    .bind::<Date, _>(opens_on)
    .bind::<Date, _>(closes_on)
    .get_result(conn)
    .await
}

/// Closes the windows of a year: all of them, or the named schools' reopenings.
pub async fn close_windows(
    conn: &mut AsyncPgConnection,
    province: &str,
    year: i32,
    schools: Option<Vec<String>>,
) -> QueryResult<Vec<WindowRow>> {
    let mut q = diesel::update(collection_windows::table)
        .filter(collection_windows::province_code.eq(province))
        .filter(collection_windows::process.eq(PROCESS))
        .filter(collection_windows::school_year.eq(year))
        .filter(collection_windows::closed_at.is_null())
        .into_boxed();
    if let Some(s) = schools {
        q = q.filter(collection_windows::institution_code.eq_any(s));
    }
    q.set((
        collection_windows::closed_at.eq(diesel::dsl::now),
        collection_windows::updated_at.eq(diesel::dsl::now),
        collection_windows::updated_by.eq(sql::<diesel::sql_types::Int8>("ambito_user_id()")),
    ))
    .returning(WindowRow::as_returning())
    .get_results(conn)
    .await
}

pub async fn insert_class(conn: &mut AsyncPgConnection, c: &ClassFields) -> QueryResult<ClassRow> {
    diesel::insert_into(classes::table).values(c).returning(ClassRow::as_returning()).get_result(conn).await
}

pub async fn update_class(conn: &mut AsyncPgConnection, id: i64, c: &ClassFields) -> QueryResult<ClassRow> {
    diesel::update(classes::table.find(id)).set(c).returning(ClassRow::as_returning()).get_result(conn).await
}

pub async fn delete_class(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<usize> {
    diesel::delete(classes::table.find(id)).execute(conn).await
}

pub async fn classes_by_id(conn: &mut AsyncPgConnection, ids: Vec<i64>) -> QueryResult<Vec<ClassRow>> {
    classes::table.filter(classes::id.eq_any(ids)).select(ClassRow::as_select()).load(conn).await
}

pub async fn pupils_in_class(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<i64> {
    pupils::table.filter(pupils::class_id.eq(id)).select(count_star()).get_result(conn).await
}

#[derive(Debug, Clone, Default)]
pub struct ClassFilter {
    pub school_year: Option<i32>,
    pub institution: Option<String>,
    pub site: Option<String>,
}

fn classes_filtered(f: &ClassFilter) -> classes::BoxedQuery<'static, Pg> {
    let mut q = classes::table.into_boxed();
    if let Some(y) = f.school_year {
        q = q.filter(classes::school_year.eq(y));
    }
    if let Some(i) = &f.institution {
        q = q.filter(classes::institution_code.eq(i.clone()));
    }
    if let Some(s) = &f.site {
        q = q.filter(classes::site_code.eq(s.clone()));
    }
    q
}

pub async fn classes_page(
    conn: &mut AsyncPgConnection,
    f: &ClassFilter,
    page: &PageRequest,
) -> QueryResult<Vec<ClassRow>> {
    let mut q = classes_filtered(f);
    if let Some(after) = page.after_id() {
        q = q.filter(classes::id.gt(after));
    }
    q.order(classes::id).limit(page.limit).select(ClassRow::as_select()).load(conn).await
}

pub async fn classes_count(conn: &mut AsyncPgConnection, f: &ClassFilter) -> QueryResult<i64> {
    classes_filtered(f).select(count_star()).get_result(conn).await
}

/// A second registration of a pupil in the same province and year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicate {
    /// In a row the caller can see (the id).
    Visible(i64),
    /// In a school the caller cannot see.
    Elsewhere,
}

/// Another registration of this tax code in the province and year: one the
/// caller sees, or one elsewhere (asked of a function that checks the
/// caller's province).
async fn registered(
    conn: &mut AsyncPgConnection,
    key: &(String, i32, String),
    except: Option<i64>,
) -> QueryResult<Option<Duplicate>> {
    let (province, year, tax) = key.clone();
    let seen: Option<i64> = pupils::table
        .filter(pupils::province_code.eq(&province))
        .filter(pupils::school_year.eq(year))
        .filter(pupils::tax_code.eq(&tax))
        .filter(pupils::id.ne(except.unwrap_or(0)))
        .select(pupils::id)
        .first(conn)
        .await
        .optional()?;
    if let Some(id) = seen {
        return Ok(Some(Duplicate::Visible(id)));
    }
    let elsewhere: bool = diesel::select(pupil_registered(province, year, tax, except)).get_result(conn).await?;
    Ok(elsewhere.then_some(Duplicate::Elsewhere))
}

diesel::define_sql_function! {
    #[sql_name = "ambito_pupil_registered"]
    fn pupil_registered(
        province: diesel::sql_types::Text,
        year: diesel::sql_types::Integer,
        tax: diesel::sql_types::Text,
        except: diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
    ) -> diesel::sql_types::Bool;
}

/// Runs a write of a pupil; a clash with another registration of the same
/// tax code, province and year becomes a [`Duplicate`].
async fn unless_duplicate<T: Send>(
    conn: &mut AsyncPgConnection,
    province_year_tax: (String, i32, String),
    except: Option<i64>,
    write: impl for<'c> FnOnce(&'c mut AsyncPgConnection) -> futures_util::future::BoxFuture<'c, QueryResult<T>> + Send,
) -> QueryResult<Result<T, Duplicate>> {
    // Looked for first: a unique violation's detail would put the tax code
    // in the server log. The savepoint below still catches a race.
    if let Some(found) = registered(conn, &province_year_tax, except).await? {
        return Ok(Err(found));
    }
    match unless_taken(conn, write).await? {
        Ok(v) => Ok(Ok(v)),
        Err(constraint) if constraint == "pupils_once" => {
            let (province, year, tax) = province_year_tax;
            let seen: Option<i64> = pupils::table
                .filter(pupils::province_code.eq(province))
                .filter(pupils::school_year.eq(year))
                .filter(pupils::tax_code.eq(tax))
                .select(pupils::id)
                .first(conn)
                .await
                .optional()?;
            Ok(Err(seen.map_or(Duplicate::Elsewhere, Duplicate::Visible)))
        }
        Err(constraint) => {
            Err(diesel::result::Error::QueryBuilderError(format!("unexpected unique violation of {constraint}").into()))
        }
    }
}

pub async fn insert_pupil(
    conn: &mut AsyncPgConnection,
    province: String,
    p: PupilFields,
) -> QueryResult<Result<PupilRow, Duplicate>> {
    let key = (province, p.school_year, p.tax_code.clone());
    unless_duplicate(conn, key, None, move |c| {
        Box::pin(async move {
            diesel::insert_into(pupils::table).values(&p).returning(PupilRow::as_returning()).get_result(c).await
        })
    })
    .await
}

pub async fn update_pupil(
    conn: &mut AsyncPgConnection,
    id: i64,
    province: String,
    p: PupilFields,
) -> QueryResult<Result<PupilRow, Duplicate>> {
    let key = (province, p.school_year, p.tax_code.clone());
    unless_duplicate(conn, key, Some(id), move |c| {
        Box::pin(async move {
            diesel::update(pupils::table.find(id))
                .set((&p, pupils::updated_at.eq(diesel::dsl::now)))
                .returning(PupilRow::as_returning())
                .get_result(c)
                .await
        })
    })
    .await
}

pub async fn delete_pupil(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<usize> {
    diesel::delete(pupils::table.find(id)).execute(conn).await
}

pub async fn pupils_by_id(conn: &mut AsyncPgConnection, ids: Vec<i64>) -> QueryResult<Vec<PupilRow>> {
    pupils::table.filter(pupils::id.eq_any(ids)).select(PupilRow::as_select()).load(conn).await
}

#[derive(Debug, Clone, Default)]
pub struct PupilFilter {
    /// The caller's scope.
    pub within: Within,
    pub school_year: Option<i32>,
    pub institution: Option<String>,
    pub class_id: Option<i64>,
    pub site: Option<String>,
    pub order: Option<String>,
    pub municipality: Option<String>,
    pub severity: Option<String>,
    pub tax_code: Option<String>,
}

/// Adds a [`PupilFilter`]'s conditions to a boxed query whose source has
/// `pupils`: the table alone, or a page joined with what it shows.
macro_rules! filter_pupils {
    ($query:expr, $f:expr) => {{
        let (mut q, f) = ($query, $f);
        match &f.within {
            Within::School(c) => q = q.filter(pupils::institution_code.eq(c.clone())),
            Within::Province(p) => q = q.filter(pupils::province_code.eq(p.clone())),
            _ => {}
        }
        if let Some(y) = f.school_year {
            q = q.filter(pupils::school_year.eq(y));
        }
        if let Some(i) = &f.institution {
            q = q.filter(pupils::institution_code.eq(i.clone()));
        }
        if let Some(c) = f.class_id {
            q = q.filter(pupils::class_id.eq(c));
        }
        if f.site.is_some() || f.order.is_some() || f.municipality.is_some() {
            let mut c = classes::table.select(classes::id).into_boxed();
            if let Some(s) = &f.site {
                c = c.filter(classes::site_code.eq(s.clone()));
            }
            if let Some(o) = &f.order {
                c = c.filter(classes::school_order.eq(o.clone()));
            }
            if let Some(m) = &f.municipality {
                c = c.filter(
                    classes::site_code
                        .eq_any(sites::table.select(sites::code).filter(sites::municipality_istat.eq(m.clone()))),
                );
            }
            q = q.filter(pupils::class_id.eq_any(c));
        }
        if let Some(s) = &f.severity {
            q = q.filter(pupils::severity.eq(s.clone()));
        }
        if let Some(t) = &f.tax_code {
            q = q.filter(pupils::tax_code.eq(t.clone()));
        }
        q
    }};
}

fn pupils_filtered(f: &PupilFilter) -> pupils::BoxedQuery<'static, Pg> {
    filter_pupils!(pupils::table.into_boxed(), f)
}

/// The SQL type of a selected [`PupilRow`].
pub type PupilSql = diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<PupilRow, Pg>>;

/// The query of a page of pupils, in id order.
pub fn pupils_page_query(f: &PupilFilter, page: &PageRequest) -> pupils::BoxedQuery<'static, Pg, PupilSql> {
    let mut q = pupils_filtered(f);
    if let Some(after) = page.after_id() {
        q = q.filter(pupils::id.gt(after));
    }
    q.order(pupils::id).limit(page.limit).select(PupilRow::as_select())
}

pub async fn pupils_page(
    conn: &mut AsyncPgConnection,
    f: &PupilFilter,
    page: &PageRequest,
) -> QueryResult<Vec<PupilRow>> {
    pupils_page_query(f, page).load(conn).await
}

/// A pupil with what a list shows beside it: its class, the class's site
/// and its support request (none until the school makes one).
pub type PupilAlong = (PupilRow, Option<ClassRow>, Option<SiteRow>, Option<RequestRow>);

/// A page of pupils, like [`pupils_page`], joined with each one's class,
/// site and support request: one statement instead of four. The joins are
/// outer so that the page is the same rows whatever they find.
pub fn pupils_page_along_query(f: &PupilFilter, page: &PageRequest) -> impl super::PageQuery<PupilAlong> {
    let source = pupils::table.left_join(classes::table.left_join(sites::table)).left_join(support_requests::table);
    let mut q = filter_pupils!(source.into_boxed(), f);
    if let Some(after) = page.after_id() {
        q = q.filter(pupils::id.gt(after));
    }
    q.order(pupils::id).limit(page.limit).select((
        PupilRow::as_select(),
        Option::<ClassRow>::as_select(),
        Option::<SiteRow>::as_select(),
        Option::<RequestRow>::as_select(),
    ))
}

pub async fn pupils_page_along(
    conn: &mut AsyncPgConnection,
    f: &PupilFilter,
    page: &PageRequest,
) -> QueryResult<Vec<PupilAlong>> {
    pupils_page_along_query(f, page).load(conn).await
}

pub async fn pupils_count(conn: &mut AsyncPgConnection, f: &PupilFilter) -> QueryResult<i64> {
    pupils_filtered(f).select(count_star()).get_result(conn).await
}

pub async fn requests_by_pupil(conn: &mut AsyncPgConnection, ids: Vec<i64>) -> QueryResult<Vec<RequestRow>> {
    support_requests::table
        .filter(support_requests::pupil_id.eq_any(ids))
        .select(RequestRow::as_select())
        .load(conn)
        .await
}

pub async fn approvals_by_pupil(conn: &mut AsyncPgConnection, ids: Vec<i64>) -> QueryResult<Vec<ApprovalRow>> {
    support_approvals::table
        .filter(support_approvals::pupil_id.eq_any(ids))
        .select(ApprovalRow::as_select())
        .load(conn)
        .await
}

pub async fn upsert_request(
    conn: &mut AsyncPgConnection,
    pupil_id: i64,
    institution: &str,
    ratio: i32,
    hours: i32,
) -> QueryResult<RequestRow> {
    diesel::insert_into(support_requests::table)
        .values((
            support_requests::pupil_id.eq(pupil_id),
            support_requests::institution_code.eq(institution),
            support_requests::ratio.eq(ratio),
            support_requests::hours.eq(hours),
        ))
        .on_conflict(support_requests::pupil_id)
        .do_update()
        .set((
            support_requests::ratio.eq(ratio),
            support_requests::hours.eq(hours),
            support_requests::updated_at.eq(diesel::dsl::now),
        ))
        .returning(RequestRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn upsert_approval(
    conn: &mut AsyncPgConnection,
    pupil_id: i64,
    institution: &str,
    hours: i32,
) -> QueryResult<ApprovalRow> {
    diesel::insert_into(support_approvals::table)
        .values((
            support_approvals::pupil_id.eq(pupil_id),
            support_approvals::institution_code.eq(institution),
            support_approvals::hours.eq(hours),
        ))
        .on_conflict(support_approvals::pupil_id)
        .do_update()
        .set((
            support_approvals::hours.eq(hours),
            support_approvals::approved_at.eq(diesel::dsl::now),
            support_approvals::approved_by.eq(sql::<diesel::sql_types::Int8>("ambito_user_id()")),
        ))
        .returning(ApprovalRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn submission(
    conn: &mut AsyncPgConnection,
    institution: &str,
    year: i32,
) -> QueryResult<Option<SubmissionRow>> {
    support_submissions::table.find((institution, year)).select(SubmissionRow::as_select()).first(conn).await.optional()
}

pub async fn submit(conn: &mut AsyncPgConnection, institution: &str, year: i32) -> QueryResult<SubmissionRow> {
    diesel::insert_into(support_submissions::table)
        .values((
            support_submissions::institution_code.eq(institution),
            support_submissions::school_year.eq(year),
            support_submissions::state.eq("submitted"),
        ))
        .on_conflict((support_submissions::institution_code, support_submissions::school_year))
        .do_update()
        .set((
            support_submissions::state.eq("submitted"),
            support_submissions::submitted_at.eq(diesel::dsl::now),
            support_submissions::submitted_by.eq(sql::<diesel::sql_types::Int8>("ambito_user_id()")),
        ))
        .returning(SubmissionRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn send_back(
    conn: &mut AsyncPgConnection,
    institution: &str,
    year: i32,
    reason: &str,
) -> QueryResult<Option<SubmissionRow>> {
    diesel::update(support_submissions::table.find((institution, year)))
        .filter(support_submissions::state.eq("submitted"))
        .set((
            support_submissions::state.eq("returned"),
            support_submissions::returned_at.eq(diesel::dsl::now),
            support_submissions::returned_by.eq(sql::<Nullable<diesel::sql_types::Int8>>("ambito_user_id()")),
            support_submissions::return_reason.eq(reason),
        ))
        .returning(SubmissionRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Requested and approved hours of a school's year by order and ratio.
#[derive(Debug, Clone, QueryableByName, PartialEq, Eq)]
pub struct TotalRow {
    #[diesel(sql_type = Text)]
    pub school_order: String,
    #[diesel(sql_type = Int4)]
    pub ratio: i32,
    #[diesel(sql_type = diesel::sql_types::Int8)]
    pub pupils: i64,
    #[diesel(sql_type = diesel::sql_types::Int8)]
    pub hours: i64,
    #[diesel(sql_type = diesel::sql_types::Int8)]
    pub approved_hours: i64,
}

pub async fn totals(conn: &mut AsyncPgConnection, institution: &str, year: i32) -> QueryResult<Vec<TotalRow>> {
    Fixed::new(
        "SELECT c.school_order, r.ratio, count(*) AS pupils, sum(r.hours)::int8 AS hours,
                coalesce(sum(a.hours), 0)::int8 AS approved_hours
         FROM pupils p
         JOIN classes c ON c.id = p.class_id
         JOIN support_requests r ON r.pupil_id = p.id
         LEFT JOIN support_approvals a ON a.pupil_id = p.id
         WHERE p.institution_code = $1 AND p.school_year = $2
         GROUP BY c.school_order, r.ratio
         ORDER BY array_position(ARRAY['infanzia', 'primaria', 'secondaria_primo_grado', 'secondaria_secondo_grado'],
                                 c.school_order), r.ratio",
    )
    .bind::<Text, _>(institution)
    .bind::<Int4, _>(year)
    .load(conn)
    .await
}

/// The provinces of the named institutions that exist.
pub async fn provinces_of(conn: &mut AsyncPgConnection, codes: Vec<String>) -> QueryResult<Vec<(String, String)>> {
    use super::schema::institutions;
    institutions::table
        .filter(institutions::code.eq_any(codes))
        .select((institutions::code, institutions::province_code))
        .load(conn)
        .await
}

/// What a registry report may group by; each maps to one column of the
/// report query, never to caller text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Province,
    Ambit,
    Municipality,
    School,
    Site,
    Order,
    Severity,
    Ratio,
}

impl Dimension {
    pub const ALL: [Dimension; 8] = [
        Dimension::Province,
        Dimension::Ambit,
        Dimension::Municipality,
        Dimension::School,
        Dimension::Site,
        Dimension::Order,
        Dimension::Severity,
        Dimension::Ratio,
    ];

    /// The expression over `source` and the report column it fills.
    fn column(self, source: ReportSource) -> (&'static str, &'static str) {
        let cells = source == ReportSource::Cells;
        match self {
            Dimension::Province => (if cells { "k.province_code" } else { "p.province_code" }, "province"),
            Dimension::Ambit => (if cells { "nullif(k.ambit_code, '')" } else { "m.ambit_code" }, "ambit"),
            Dimension::Municipality => {
                (if cells { "k.municipality_istat" } else { "s.municipality_istat" }, "municipality")
            }
            Dimension::School => (if cells { "k.institution_code" } else { "p.institution_code" }, "school"),
            Dimension::Site => (if cells { "k.site_code" } else { "c.site_code" }, "site"),
            Dimension::Order => (if cells { "k.school_order" } else { "c.school_order" }, "school_order"),
            Dimension::Severity => (if cells { "k.severity" } else { "p.severity" }, "severity"),
            Dimension::Ratio => (if cells { "nullif(k.ratio, 0)::text" } else { "r.ratio::text" }, "ratio"),
        }
    }
}

/// What a report is counted from: both give the same figures (the property
/// test `the_report_cells_equal_the_report_counted_from_the_pupils`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportSource {
    /// `registry_report_cells`, which every write keeps up to date (a few
    /// thousand rows for a province, one table to sum); readable only by a
    /// caller that reads the pupils, classes, requests and approvals at one
    /// scope.
    Cells,
    /// The pupils with their classes, requests and approvals, each table
    /// under its own row security.
    Pupils,
}

#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    /// The caller's scope.
    pub within: Within,
    pub institution: Option<String>,
    pub municipality: Option<String>,
    pub ambit: Option<String>,
    pub order: Option<String>,
    pub severity: Option<String>,
}

/// One group of a registry report: the dimensions grouped by (the others
/// are null) and the measures.
#[derive(Debug, Clone, QueryableByName)]
pub struct ReportRow {
    #[diesel(sql_type = Nullable<Text>)]
    pub province: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub ambit: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub municipality: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub school: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub site: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub school_order: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub severity: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub ratio: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Int8)]
    pub pupils: i64,
    #[diesel(sql_type = diesel::sql_types::Int8)]
    pub pupils_with_request: i64,
    #[diesel(sql_type = diesel::sql_types::Int8)]
    pub requested_hours: i64,
    #[diesel(sql_type = diesel::sql_types::Int8)]
    pub approved_hours: i64,
}

/// Counts of pupils and hours for a school year, grouped by the given
/// dimensions, over the rows the caller may read: computed in SQL from
/// `source`, scoped by row security like every other query.
pub async fn report(
    conn: &mut AsyncPgConnection,
    year: i32,
    group_by: &[Dimension],
    f: &ReportFilter,
    source: ReportSource,
) -> QueryResult<Vec<ReportRow>> {
    let select: Vec<String> = Dimension::ALL
        .iter()
        .map(|d| {
            let (expr, alias) = d.column(source);
            if group_by.contains(d) { format!("{expr} AS {alias}") } else { format!("NULL::text AS {alias}") }
        })
        .collect();
    let grouped: Vec<&str> = group_by.iter().map(|d| d.column(source).0).collect();
    let (group, order) = if grouped.is_empty() {
        (String::new(), String::new())
    } else {
        (format!("GROUP BY {}", grouped.join(", ")), format!("ORDER BY {}", grouped.join(", ")))
    };
    let (measures, from) = match source {
        ReportSource::Cells => (
            "coalesce(sum(k.pupils), 0)::int8 AS pupils,
             coalesce(sum(k.pupils) FILTER (WHERE k.ratio <> 0), 0)::int8 AS pupils_with_request,
             coalesce(sum(k.requested_hours), 0)::int8 AS requested_hours,
             coalesce(sum(k.approved_hours), 0)::int8 AS approved_hours",
            CELLS_JOINED,
        ),
        ReportSource::Pupils => (
            "count(*) AS pupils, count(r.pupil_id) AS pupils_with_request,
             coalesce(sum(r.hours), 0)::int8 AS requested_hours, coalesce(sum(a.hours), 0)::int8 AS approved_hours",
            PUPILS_JOINED,
        ),
    };
    let sql = format!("SELECT {}, {measures} {from} {} {group} {order}", select.join(", "), where_clause(f, source));
    // Up to eight dimensions in any order: too many texts to keep one
    // prepared statement each on every connection.
    let query = filtered(sql, year, f).parsed_each_time();
    match source {
        ReportSource::Cells => query.load(conn).await,
        ReportSource::Pupils => with_hash_joins(conn, f, query).await,
    }
}

/// Loads rows joined over a province's pupils. Thousands of pupils join their
/// classes, sites and requests: hash joins over the scoped rows take half the
/// time of the nested index loops the planner picks from its estimates of the
/// row-security filters (BENCHMARKS.md, W3). A school's few rows keep the
/// planner's choice. The setting ends with the statement, not the request.
async fn with_hash_joins<T>(
    conn: &mut AsyncPgConnection,
    f: &ReportFilter,
    query: Fixed<'static>,
) -> QueryResult<Vec<T>>
where
    T: QueryableByName<Pg> + Send + 'static,
{
    if matches!(f.within, Within::School(_)) {
        return query.load(conn).await;
    }
    Fixed::new("SET LOCAL enable_nestloop = off").execute(conn).await?;
    let rows = query.load(conn).await?;
    Fixed::new("SET LOCAL enable_nestloop TO DEFAULT").execute(conn).await?;
    Ok(rows)
}

/// The pupils with their class, site, municipality, request and approval,
/// for the report and the export.
const PUPILS_JOINED: &str = "FROM pupils p
         JOIN classes c ON c.id = p.class_id
         JOIN sites s ON s.code = c.site_code
         JOIN municipalities m ON m.istat_code = s.municipality_istat
         LEFT JOIN support_requests r ON r.pupil_id = p.id
         LEFT JOIN support_approvals a ON a.pupil_id = p.id";

/// The report's cells, each with its site's municipality and ambit.
const CELLS_JOINED: &str = "FROM registry_report_cells k";

/// The year (`$1`), the [`ReportFilter`] (`$2` to `$6`) and the caller's
/// scope (`$7`, as an equality the planner can use an index for), over the
/// columns of `source`. A cell emptied by deletions counts for no group.
fn where_clause(f: &ReportFilter, source: ReportSource) -> String {
    let col = |d: Dimension| d.column(source).0;
    let scope = match f.within {
        Within::School(_) => format!("{} = $7", col(Dimension::School)),
        Within::Province(_) => format!("{} = $7", col(Dimension::Province)),
        _ => "$7::text IS NULL".to_owned(),
    };
    let year = match source {
        ReportSource::Cells => "k.school_year = $1 AND k.pupils > 0",
        ReportSource::Pupils => "p.school_year = $1",
    };
    format!(
        "WHERE {year}
           AND ($2::text IS NULL OR {} = $2)
           AND ($3::text IS NULL OR {} = $3)
           AND ($4::text IS NULL OR {} = $4)
           AND ($5::text IS NULL OR {} = $5)
           AND ($6::text IS NULL OR {} = $6)
           AND {scope}",
        col(Dimension::School),
        col(Dimension::Municipality),
        col(Dimension::Ambit),
        col(Dimension::Order),
        col(Dimension::Severity)
    )
}

/// `sql` (over [`PUPILS_JOINED`] or [`CELLS_JOINED`] and [`where_clause`])
/// with the year, the filter and the scope bound.
fn filtered(sql: String, year: i32, f: &ReportFilter) -> Fixed<'static> {
    Fixed::new(sql)
        .bind::<Int4, _>(year)
        .bind::<Nullable<Text>, _>(f.institution.clone())
        .bind::<Nullable<Text>, _>(f.municipality.clone())
        .bind::<Nullable<Text>, _>(f.ambit.clone())
        .bind::<Nullable<Text>, _>(f.order.clone())
        .bind::<Nullable<Text>, _>(f.severity.clone())
        .bind::<Nullable<Text>, _>(match &f.within {
            Within::School(c) | Within::Province(c) => Some(c.clone()),
            _ => None,
        })
}

/// One pupil as the registry export lists it ("scarica dettaglio anagrafica").
#[derive(Debug, Clone, QueryableByName)]
pub struct ExportRow {
    #[diesel(sql_type = diesel::sql_types::Int8)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub province_code: String,
    #[diesel(sql_type = Text)]
    pub institution_code: String,
    #[diesel(sql_type = Text)]
    pub institution_name: String,
    #[diesel(sql_type = Text)]
    pub site_code: String,
    #[diesel(sql_type = Text)]
    pub site_name: String,
    #[diesel(sql_type = Text)]
    pub municipality: String,
    #[diesel(sql_type = Text)]
    pub school_order: String,
    #[diesel(sql_type = Int4)]
    pub year_of_study: i32,
    #[diesel(sql_type = Text)]
    pub section: String,
    #[diesel(sql_type = Text)]
    pub last_name: String,
    #[diesel(sql_type = Text)]
    pub first_name: String,
    #[diesel(sql_type = Text)]
    pub tax_code: String,
    #[diesel(sql_type = Date)]
    pub birth_date: NaiveDate,
    #[diesel(sql_type = Text)]
    pub sex: String,
    #[diesel(sql_type = Text)]
    pub severity: String,
    #[diesel(sql_type = Date)]
    pub certified_on: NaiveDate,
    #[diesel(sql_type = Nullable<Date>)]
    pub revision_on: Option<NaiveDate>,
    #[diesel(sql_type = Text)]
    pub certified_by: String,
    #[diesel(sql_type = Nullable<Int4>)]
    pub ratio: Option<i32>,
    #[diesel(sql_type = Nullable<Int4>)]
    pub hours: Option<i32>,
    #[diesel(sql_type = Nullable<Int4>)]
    pub approved_hours: Option<i32>,
}

/// The registry of a school year as the caller may read it, by school, site,
/// class and name.
pub async fn export_rows(conn: &mut AsyncPgConnection, year: i32, f: &ReportFilter) -> QueryResult<Vec<ExportRow>> {
    let sql = format!(
        "SELECT p.id, p.province_code, p.institution_code, i.name AS institution_name, c.site_code,
                s.name AS site_name, m.name AS municipality, c.school_order, c.year_of_study, c.section,
                p.last_name, p.first_name, p.tax_code, p.birth_date, p.sex, p.severity, p.certified_on,
                p.revision_on, p.certified_by, r.ratio, r.hours, a.hours AS approved_hours
         {PUPILS_JOINED}
         JOIN institutions i ON i.code = p.institution_code
         {}
         ORDER BY p.institution_code, c.site_code, c.school_order, c.year_of_study, c.section,
                  p.last_name, p.first_name, p.id",
        where_clause(f, ReportSource::Pupils)
    );
    with_hash_joins(conn, f, filtered(sql, year, f)).await
}

/// Submissions of a school year the caller may read, optionally in one state.
pub async fn submissions(
    conn: &mut AsyncPgConnection,
    year: i32,
    state: Option<&'static str>,
) -> QueryResult<Vec<SubmissionRow>> {
    let mut q = support_submissions::table.filter(support_submissions::school_year.eq(year)).into_boxed();
    if let Some(s) = state {
        q = q.filter(support_submissions::state.eq(s));
    }
    q.order(support_submissions::institution_code).select(SubmissionRow::as_select()).load(conn).await
}
