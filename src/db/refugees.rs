//! Process 2 rows and queries: refugee minors' enrolment requests, their
//! recorded transitions, routing facts, delta sync and monitoring counts.
//! Row security decides which rows each query sees.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::count_star;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::fixed::Fixed;
use super::schema::{enrolment_requests as er, enrolment_transitions as et, hubs, institutions, municipalities, sites};
use super::territory::{MunicipalityRow, PageRequest};
use crate::authz::Within;
use crate::rules::refugees::{Place, Polo};

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = er, check_for_backend(Pg))]
pub struct EnrolmentRow {
    pub id: i64,
    pub province_code: String,
    pub municipality_istat: String,
    pub origin: String,
    pub hub_code: String,
    pub institution_code: Option<String>,
    pub status: String,
    pub version: i32,
    pub school_year: i32,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: NaiveDate,
    pub sex: String,
    pub nationality: String,
    pub arrived_on: NaiveDate,
    pub languages: Vec<String>,
    pub last_class: Option<String>,
    pub special_needs: bool,
    pub guardian_name: Option<String>,
    pub guardian_phone: Option<String>,
    pub guardian_email: Option<String>,
    pub address: String,
    pub city_zone: Option<i32>,
    pub school_order: String,
    pub year_of_study: i32,
    pub notes: Option<String>,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub enrolled_at: Option<DateTime<Utc>>,
}

/// The request form: what a municipality (or a school) enters and may correct.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = er, check_for_backend(Pg), treat_none_as_null = true)]
pub struct Form {
    pub first_name: String,
    pub last_name: String,
    pub birth_date: NaiveDate,
    pub sex: String,
    pub nationality: String,
    pub arrived_on: NaiveDate,
    pub languages: Vec<String>,
    pub last_class: Option<String>,
    pub special_needs: bool,
    pub guardian_name: Option<String>,
    pub guardian_phone: Option<String>,
    pub guardian_email: Option<String>,
    pub address: String,
    pub city_zone: Option<i32>,
    pub school_order: String,
    pub year_of_study: i32,
    pub notes: Option<String>,
}

/// A new request: its form and where the workflow starts it.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = er, check_for_backend(Pg))]
pub struct NewEnrolment {
    pub municipality_istat: String,
    pub origin: String,
    pub hub_code: String,
    pub institution_code: Option<String>,
    pub status: String,
    pub school_year: i32,
    pub enrolled_at: Option<DateTime<Utc>>,
    #[diesel(embed)]
    pub form: Form,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = et, check_for_backend(Pg))]
pub struct TransitionRow {
    pub id: i64,
    pub request_id: i64,
    pub hub_code: String,
    pub to_hub_code: Option<String>,
    pub institution_code: Option<String>,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub reason: Option<String>,
    pub user_id: i64,
    pub at: DateTime<Utc>,
}

/// One recorded move.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = et, check_for_backend(Pg))]
pub struct NewTransition {
    pub request_id: i64,
    pub municipality_istat: String,
    pub origin: String,
    pub hub_code: String,
    pub to_hub_code: Option<String>,
    pub institution_code: Option<String>,
    pub action: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub reason: Option<String>,
}

/// Filters of the request list; every one is optional.
#[derive(Debug, Clone, Default)]
pub struct EnrolmentFilter {
    /// The caller's scope.
    pub within: Within,
    pub statuses: Option<Vec<String>>,
    pub school_year: Option<i32>,
    pub municipality: Option<String>,
    pub hub: Option<String>,
    pub school: Option<String>,
    pub order: Option<String>,
    /// Open requests entered on or before this day.
    pub waiting_since: Option<DateTime<Utc>>,
}

/// Adds an [`EnrolmentFilter`]'s conditions to a boxed query whose source
/// has `enrolment_requests`: the table alone, or joined with what a list shows.
macro_rules! filter_enrolments {
    ($query:expr, $f:expr) => {{
        let (mut q, f) = ($query, $f);
        match &f.within {
            Within::School(c) => q = q.filter(er::institution_code.eq(c.clone())),
            Within::Municipality(m) => {
                q = q.filter(er::municipality_istat.eq(m.clone())).filter(er::origin.eq("municipality"))
            }
            Within::Hub(h) => q = q.filter(er::hub_code.eq(h.clone())),
            Within::Province(p) => q = q.filter(er::province_code.eq(p.clone())),
            Within::Unscoped => {}
        }
        if let Some(s) = &f.statuses {
            q = q.filter(er::status.eq_any(s.clone()));
        }
        if let Some(y) = f.school_year {
            q = q.filter(er::school_year.eq(y));
        }
        if let Some(m) = &f.municipality {
            q = q.filter(er::municipality_istat.eq(m.clone()));
        }
        if let Some(h) = &f.hub {
            q = q.filter(er::hub_code.eq(h.clone()));
        }
        if let Some(s) = &f.school {
            q = q.filter(er::institution_code.eq(s.clone()));
        }
        if let Some(o) = &f.order {
            q = q.filter(er::school_order.eq(o.clone()));
        }
        if let Some(t) = f.waiting_since {
            q = q.filter(er::created_at.le(t)).filter(er::status.ne_all(vec!["enrolled", "withdrawn"]));
        }
        q
    }};
}

fn filtered(f: &EnrolmentFilter) -> er::BoxedQuery<'static, Pg> {
    filter_enrolments!(er::table.into_boxed(), f)
}

/// The SQL type of a selected [`EnrolmentRow`].
pub type EnrolmentSql = diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<EnrolmentRow, Pg>>;

/// The query of a page of requests, newest first.
pub fn list_query(f: &EnrolmentFilter, page: &PageRequest) -> er::BoxedQuery<'static, Pg, EnrolmentSql> {
    let mut q = filtered(f);
    if let Some(after) = page.after_id() {
        q = q.filter(er::id.lt(after));
    }
    q.order(er::id.desc()).limit(page.limit).select(EnrolmentRow::as_select())
}

/// A request with the municipality where the minor lives.
pub type EnrolmentAlong = (EnrolmentRow, Option<MunicipalityRow>);

/// A page of requests, like [`list_query`], joined with each one's
/// municipality: what a hub's queue shows, in one statement.
pub fn list_along_query(f: &EnrolmentFilter, page: &PageRequest) -> impl super::PageQuery<EnrolmentAlong> {
    let mut q = filter_enrolments!(er::table.left_join(municipalities::table).into_boxed(), f);
    if let Some(after) = page.after_id() {
        q = q.filter(er::id.lt(after));
    }
    q.order(er::id.desc()).limit(page.limit).select((EnrolmentRow::as_select(), Option::<MunicipalityRow>::as_select()))
}

pub async fn list_along(
    conn: &mut AsyncPgConnection,
    f: &EnrolmentFilter,
    page: &PageRequest,
) -> QueryResult<Vec<EnrolmentAlong>> {
    list_along_query(f, page).load(conn).await
}

/// A page of requests, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    f: &EnrolmentFilter,
    page: &PageRequest,
) -> QueryResult<Vec<EnrolmentRow>> {
    list_query(f, page).load(conn).await
}

pub async fn count(conn: &mut AsyncPgConnection, f: &EnrolmentFilter) -> QueryResult<i64> {
    filtered(f).select(count_star()).get_result(conn).await
}

pub async fn by_id(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<EnrolmentRow>> {
    er::table.find(id).select(EnrolmentRow::as_select()).first(conn).await.optional()
}

pub async fn by_ids(conn: &mut AsyncPgConnection, ids: Vec<i64>) -> QueryResult<Vec<EnrolmentRow>> {
    er::table.filter(er::id.eq_any(ids)).order(er::id).select(EnrolmentRow::as_select()).load(conn).await
}

/// The row, locked for a change in this transaction.
pub async fn for_update(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<EnrolmentRow>> {
    er::table.find(id).select(EnrolmentRow::as_select()).for_update().first(conn).await.optional()
}

pub async fn insert(conn: &mut AsyncPgConnection, row: &NewEnrolment) -> QueryResult<EnrolmentRow> {
    diesel::insert_into(er::table).values(row).returning(EnrolmentRow::as_returning()).get_result(conn).await
}

/// The workflow fields a move changes.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = er, treat_none_as_null = true)]
pub struct Moved {
    pub status: String,
    pub hub_code: String,
    pub institution_code: Option<String>,
    pub enrolled_at: Option<DateTime<Utc>>,
}

/// Replaces the form of the version the caller read: 0 rows when another change came first.
pub async fn edit(conn: &mut AsyncPgConnection, id: i64, version: i32, hub: &str, form: &Form) -> QueryResult<usize> {
    diesel::update(er::table.filter(er::id.eq(id)).filter(er::version.eq(version)))
        .set((form, er::hub_code.eq(hub), er::version.eq(version + 1)))
        .execute(conn)
        .await
}

/// Applies a move to the version the caller read: 0 rows when another
/// change came first. No RETURNING: a hand-over leaves the writer's scope.
pub async fn apply(conn: &mut AsyncPgConnection, id: i64, version: i32, moved: &Moved) -> QueryResult<usize> {
    diesel::update(er::table.filter(er::id.eq(id)).filter(er::version.eq(version)))
        .set((moved, er::version.eq(version + 1)))
        .execute(conn)
        .await
}

pub async fn record(conn: &mut AsyncPgConnection, t: &NewTransition) -> QueryResult<()> {
    diesel::insert_into(et::table).values(t).execute(conn).await.map(drop)
}

/// The transitions of a request the caller may see, oldest first.
pub async fn transitions_of(conn: &mut AsyncPgConnection, ids: Vec<i64>) -> QueryResult<Vec<TransitionRow>> {
    et::table.filter(et::request_id.eq_any(ids)).order(et::id).select(TransitionRow::as_select()).load(conn).await
}

/// A page of the transitions the caller may see, newest first: a hub keeps
/// the history of what it handled after handing a request on.
pub async fn transitions(conn: &mut AsyncPgConnection, page: &PageRequest) -> QueryResult<Vec<TransitionRow>> {
    let mut q = et::table.into_boxed();
    if let Some(after) = page.after_id() {
        q = q.filter(et::id.lt(after));
    }
    q.order(et::id.desc()).limit(page.limit).select(TransitionRow::as_select()).load(conn).await
}

pub async fn transitions_count(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    et::table.select(count_star()).get_result(conn).await
}

/// Other requests of the province with the same minor's names (either
/// order) and birth date, whoever entered them: ids only.
pub async fn duplicates(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Ids {
        #[diesel(sql_type = Array<BigInt>)]
        ids: Vec<i64>,
    }
    let r: Ids =
        Fixed::new("SELECT ambito_enrolment_duplicates($1) AS ids").bind::<BigInt, _>(id).get_result(conn).await?;
    Ok(r.ids)
}

/// What routing needs to know about a municipality: its CTI and the Poli START of the city.
pub async fn place(conn: &mut AsyncPgConnection, istat: &str) -> QueryResult<Option<(String, Place)>> {
    let Some((province, ambit)) = municipalities::table
        .find(istat)
        .select((municipalities::province_code, municipalities::ambit_code))
        .first::<(String, Option<String>)>(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let cti = match ambit {
        Some(a) => hubs::table
            .filter(hubs::kind.eq("cti"))
            .filter(hubs::ambit_code.eq(a))
            .select(hubs::code)
            .order(hubs::code)
            .first::<String>(conn)
            .await
            .optional()?,
        None => None,
    };
    let poli = hubs::table
        .filter(hubs::kind.eq("polo_start"))
        .filter(hubs::municipality_istat.eq(istat))
        .select((hubs::code, hubs::city_zones))
        .order(hubs::code)
        .load::<(String, Option<Vec<i32>>)>(conn)
        .await?
        .into_iter()
        .map(|(code, zones)| Polo { code, municipality: istat.to_owned(), zones: zones.unwrap_or_default() })
        .collect();
    Ok(Some((province, Place { istat_code: istat.to_owned(), cti, poli })))
}

/// A hub's kind, province and ambit.
pub async fn hub(conn: &mut AsyncPgConnection, code: &str) -> QueryResult<Option<(String, String, Option<String>)>> {
    hubs::table.find(code).select((hubs::kind, hubs::province_code, hubs::ambit_code)).first(conn).await.optional()
}

/// Whether a school is in a hub's territory: for a CTI, the school's
/// municipality is in its ambit; for a Polo START, one of the school's sites
/// is the Polo's.
pub async fn school_in_territory(conn: &mut AsyncPgConnection, hub: &str, institution: &str) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = Bool)]
        found: bool,
    }
    let r: Found = Fixed::new(
        "SELECT EXISTS (
             SELECT 1 FROM hubs h JOIN institutions i ON i.code = $2
             JOIN municipalities m ON m.istat_code = i.municipality_istat
             WHERE h.code = $1 AND h.kind = 'cti' AND m.ambit_code = h.ambit_code
             UNION ALL
             SELECT 1 FROM hub_sites hs JOIN sites s ON s.code = hs.site_code
             WHERE hs.hub_code = $1 AND s.institution_code = $2) AS found",
    )
    .bind::<Text, _>(hub)
    .bind::<Text, _>(institution)
    .get_result(conn)
    .await?;
    Ok(r.found)
}

/// An institution's province, and whether it has a site of the order.
pub async fn school_for(
    conn: &mut AsyncPgConnection,
    institution: &str,
    order: &str,
) -> QueryResult<Option<(String, bool)>> {
    let Some(province) = institutions::table
        .find(institution)
        .select(institutions::province_code)
        .first::<String>(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let teaches: i64 = sites::table
        .filter(sites::institution_code.eq(institution))
        .filter(sites::school_order.eq(order))
        .select(count_star())
        .get_result(conn)
        .await?;
    Ok(Some((province, teaches > 0)))
}

/// The caller's current snapshot, as text: a delta-sync cursor.
pub async fn snapshot(conn: &mut AsyncPgConnection) -> QueryResult<String> {
    #[derive(QueryableByName)]
    struct Snap {
        #[diesel(sql_type = Text)]
        s: String,
    }
    let r: Snap = Fixed::new("SELECT pg_current_snapshot()::text AS s").get_result(conn).await?;
    Ok(r.s)
}

/// Requests changed by transactions that `since` did not see (committed
/// after it was taken), oldest change first, at most `limit`; `after` skips
/// ids already returned for the same snapshot.
pub async fn changed_since(
    conn: &mut AsyncPgConnection,
    since: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<EnrolmentRow>> {
    Fixed::new(
        "SELECT * FROM enrolment_requests
         WHERE change_xid >= pg_snapshot_xmin($1::pg_snapshot)
           AND NOT pg_visible_in_snapshot(change_xid, $1::pg_snapshot)
           AND id > $2
         ORDER BY id LIMIT $3",
    )
    .bind::<Text, _>(since)
    .bind::<BigInt, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Requests that left the caller's view since `since`: every request with a
/// move the caller can see (each move names the hub, school and
/// municipality it concerned when it happened) that the caller no longer
/// sees. So a transfer, a decline, a withdrawal after a proposal and an
/// edit that re-routed the request before take-in-charge all count: the
/// review found that listing the moves by name missed the last two.
pub async fn left_since(conn: &mut AsyncPgConnection, since: &str) -> QueryResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        request_id: i64,
    }
    let rows: Vec<Id> = Fixed::new(
        "SELECT DISTINCT t.request_id FROM enrolment_transitions t
         WHERE t.change_xid >= pg_snapshot_xmin($1::pg_snapshot)
           AND NOT pg_visible_in_snapshot(t.change_xid, $1::pg_snapshot)
           AND NOT EXISTS (SELECT 1 FROM enrolment_requests r WHERE r.id = t.request_id)
         ORDER BY t.request_id",
    )
    .bind::<Text, _>(since)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.request_id).collect())
}

/// One monitoring cell: a dimension's value and its counts.
#[derive(Debug, Clone, QueryableByName)]
pub struct CountRow {
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = BigInt)]
    pub requests: i64,
    #[diesel(sql_type = BigInt)]
    pub open: i64,
    #[diesel(sql_type = BigInt)]
    pub enrolled: i64,
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    pub median_days_to_enrolment: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub waiting_long: i64,
}

/// Counts of the requests the caller sees, grouped by one dimension: the SQL
/// expression is chosen from a fixed list by the caller of this function.
pub async fn counts(
    conn: &mut AsyncPgConnection,
    key_sql: &'static str,
    school_year: Option<i32>,
    waiting_days: i32,
) -> QueryResult<Vec<CountRow>> {
    Fixed::new(format!(
        "SELECT {key_sql} AS key,
                count(*) AS requests,
                count(*) FILTER (WHERE r.status NOT IN ('enrolled', 'withdrawn')) AS open,
                count(*) FILTER (WHERE r.status = 'enrolled') AS enrolled,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.enrolled_at - r.created_at) / 86400)
                    FILTER (WHERE r.status = 'enrolled' AND r.origin = 'municipality') AS median_days_to_enrolment,
                count(*) FILTER (WHERE r.status NOT IN ('enrolled', 'withdrawn')
                    AND r.created_at < now() - make_interval(days => $2)) AS waiting_long
         FROM enrolment_requests r
         JOIN municipalities m ON m.istat_code = r.municipality_istat
         WHERE ($1::int IS NULL OR r.school_year = $1)
         GROUP BY 1 ORDER BY 1"
    ))
    .bind::<Nullable<Integer>, _>(school_year)
    .bind::<Integer, _>(waiting_days)
    .load(conn)
    .await
}

/// One request in the monitoring export: workflow facts and places, no
/// names or contacts.
#[derive(Debug, Clone, QueryableByName)]
pub struct ExportRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub origin: String,
    #[diesel(sql_type = Text)]
    pub municipality: String,
    #[diesel(sql_type = Text)]
    pub municipality_istat: String,
    #[diesel(sql_type = Text)]
    pub hub_code: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub institution_code: Option<String>,
    #[diesel(sql_type = Text)]
    pub school_order: String,
    #[diesel(sql_type = Integer)]
    pub year_of_study: i32,
    #[diesel(sql_type = Integer)]
    pub age: i32,
    #[diesel(sql_type = Text)]
    pub nationality: String,
    #[diesel(sql_type = diesel::sql_types::Date)]
    pub arrived_on: NaiveDate,
    #[diesel(sql_type = diesel::sql_types::Date)]
    pub entered_on: NaiveDate,
    #[diesel(sql_type = Nullable<diesel::sql_types::Date>)]
    pub enrolled_on: Option<NaiveDate>,
    #[diesel(sql_type = Integer)]
    pub days_waiting: i32,
}

/// The requests the caller sees for the monitoring export, oldest first.
pub async fn export_rows(
    conn: &mut AsyncPgConnection,
    school_year: Option<i32>,
    statuses: Option<Vec<String>>,
) -> QueryResult<Vec<ExportRow>> {
    Fixed::new(
        "SELECT r.id, r.status, r.origin, m.name AS municipality, r.municipality_istat, r.hub_code,
                r.institution_code, r.school_order, r.year_of_study,
                extract(year FROM age(r.birth_date))::int AS age, r.nationality, r.arrived_on,
                (r.created_at AT TIME ZONE 'Europe/Rome')::date AS entered_on,
                (r.enrolled_at AT TIME ZONE 'Europe/Rome')::date AS enrolled_on,
                (coalesce(r.enrolled_at, now())::date - r.created_at::date) AS days_waiting
         FROM enrolment_requests r JOIN municipalities m ON m.istat_code = r.municipality_istat
         WHERE ($1::int IS NULL OR r.school_year = $1) AND ($2::text[] IS NULL OR r.status = ANY($2))
         ORDER BY r.id",
    )
    .bind::<Nullable<Integer>, _>(school_year)
    .bind::<Nullable<Array<Text>>, _>(statuses)
    .load(conn)
    .await
}
