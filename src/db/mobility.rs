//! Queries of process 4's intake (teachers' applications, seed 003), under
//! the request's row security: campaigns, classes of competition,
//! districts and surplus; the teacher registry; where preference codes lie;
//! the applications themselves; the allocation's runs, outcomes and cutoffs.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use crate::db::fixed::Fixed;
use crate::db::schema::{
    classes_of_competition, mobility_applications, mobility_campaigns, mobility_complaints, mobility_cutoffs,
    mobility_dioceses, mobility_esubero, mobility_overrides, mobility_renunciations, mobility_run_results,
    mobility_runs, mobility_vacancies, school_districts, teachers,
};
use crate::db::territory::PageRequest;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mobility_campaigns, check_for_backend(diesel::pg::Pg))]
pub struct CampaignRow {
    pub year: i32,
    pub windows: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn campaign(conn: &mut AsyncPgConnection, year: i32) -> QueryResult<Option<CampaignRow>> {
    mobility_campaigns::table.find(year).select(CampaignRow::as_select()).first(conn).await.optional()
}

/// A new campaign; `None` when one exists for the year.
pub async fn insert_campaign(
    conn: &mut AsyncPgConnection,
    year: i32,
    windows: &Value,
) -> QueryResult<Option<CampaignRow>> {
    diesel::insert_into(mobility_campaigns::table)
        .values((mobility_campaigns::year.eq(year), mobility_campaigns::windows.eq(windows)))
        .on_conflict_do_nothing()
        .returning(CampaignRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn set_windows(conn: &mut AsyncPgConnection, year: i32, windows: &Value) -> QueryResult<CampaignRow> {
    diesel::update(mobility_campaigns::table.find(year))
        .set((mobility_campaigns::windows.eq(windows), mobility_campaigns::updated_at.eq(diesel::dsl::now)))
        .returning(CampaignRow::as_returning())
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = classes_of_competition, check_for_backend(diesel::pg::Pg))]
pub struct ClassRow {
    pub code: String,
    pub name: String,
    pub school_order: String,
}

pub async fn upsert_class(conn: &mut AsyncPgConnection, row: &ClassRow) -> QueryResult<ClassRow> {
    diesel::insert_into(classes_of_competition::table)
        .values(row)
        .on_conflict(classes_of_competition::code)
        .do_update()
        .set(row)
        .returning(ClassRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn class(conn: &mut AsyncPgConnection, code: &str) -> QueryResult<Option<ClassRow>> {
    classes_of_competition::table.find(code).select(ClassRow::as_select()).first(conn).await.optional()
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = school_districts, check_for_backend(diesel::pg::Pg))]
pub struct DistrictRow {
    pub code: String,
    pub province_code: String,
    pub municipalities: Vec<String>,
    pub sites: Vec<String>,
}

pub async fn upsert_district(conn: &mut AsyncPgConnection, row: &DistrictRow) -> QueryResult<DistrictRow> {
    diesel::insert_into(school_districts::table)
        .values(row)
        .on_conflict(school_districts::code)
        .do_update()
        .set(row)
        .returning(DistrictRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn district(conn: &mut AsyncPgConnection, code: &str) -> QueryResult<Option<DistrictRow>> {
    school_districts::table.find(code).select(DistrictRow::as_select()).first(conn).await.optional()
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = mobility_dioceses, check_for_backend(diesel::pg::Pg))]
pub struct DioceseRow {
    pub code: String,
    pub name: String,
    pub province_code: String,
}

pub async fn upsert_diocese(conn: &mut AsyncPgConnection, row: &DioceseRow) -> QueryResult<DioceseRow> {
    diesel::insert_into(mobility_dioceses::table)
        .values(row)
        .on_conflict(mobility_dioceses::code)
        .do_update()
        .set(row)
        .returning(DioceseRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn diocese(conn: &mut AsyncPgConnection, code: &str) -> QueryResult<Option<DioceseRow>> {
    mobility_dioceses::table.find(code).select(DioceseRow::as_select()).first(conn).await.optional()
}

/// A line of free posts of a campaign (issue 21).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mobility_vacancies, check_for_backend(diesel::pg::Pg))]
pub struct VacancyRow {
    pub campaign_year: i32,
    pub school_code: String,
    pub province_code: String,
    pub post_type: String,
    pub class_code: String,
    pub chair_kind: String,
    pub count: i32,
    /// POST-8: part-posts of these weekly hours each; 0 for whole posts.
    pub hours: i32,
}

/// The count of a line, if it has one.
pub async fn vacancy_count(conn: &mut AsyncPgConnection, row: &VacancyRow) -> QueryResult<Option<i32>> {
    use mobility_vacancies as v;
    v::table
        .find((row.campaign_year, &row.school_code, &row.post_type, &row.class_code, &row.chair_kind, row.hours))
        .select(v::count)
        .first(conn)
        .await
        .optional()
}

pub async fn set_vacancy(conn: &mut AsyncPgConnection, row: &VacancyRow) -> QueryResult<usize> {
    use mobility_vacancies as v;
    diesel::insert_into(v::table)
        .values(row)
        .on_conflict((v::campaign_year, v::school_code, v::post_type, v::class_code, v::chair_kind, v::hours))
        .do_update()
        .set((v::count.eq(row.count), v::updated_at.eq(diesel::dsl::now)))
        .execute(conn)
        .await
}

/// The free posts of a province in a campaign, in a stable order.
pub async fn vacancies(conn: &mut AsyncPgConnection, year: i32, province: &str) -> QueryResult<Vec<VacancyRow>> {
    use mobility_vacancies as v;
    v::table
        .filter(v::campaign_year.eq(year))
        .filter(v::province_code.eq(province))
        .order((v::school_code, v::post_type, v::class_code, v::chair_kind, v::hours))
        .select(VacancyRow::as_select())
        .load(conn)
        .await
}

/// The region of a province.
pub async fn region_of(conn: &mut AsyncPgConnection, province: &str) -> QueryResult<String> {
    use crate::db::schema::provinces;
    provinces::table.find(province).select(provinces::region).first(conn).await
}

pub async fn set_esubero(
    conn: &mut AsyncPgConnection,
    year: i32,
    province: &str,
    class: &str,
    count: i32,
) -> QueryResult<usize> {
    diesel::insert_into(mobility_esubero::table)
        .values((
            mobility_esubero::campaign_year.eq(year),
            mobility_esubero::province_code.eq(province),
            mobility_esubero::class_code.eq(class),
            mobility_esubero::count.eq(count),
        ))
        .on_conflict((mobility_esubero::campaign_year, mobility_esubero::province_code, mobility_esubero::class_code))
        .do_update()
        .set(mobility_esubero::count.eq(count))
        .execute(conn)
        .await
}

pub async fn esubero(conn: &mut AsyncPgConnection, year: i32, province: &str, class: &str) -> QueryResult<i32> {
    Ok(mobility_esubero::table
        .find((year, province, class))
        .select(mobility_esubero::count)
        .first(conn)
        .await
        .optional()?
        .unwrap_or(0))
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = teachers, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub struct TeacherRow {
    pub tax_code: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub category: String,
    pub tenured: bool,
    pub school_order: String,
    pub class_code: Option<String>,
    pub post_type: String,
    pub holding_kind: String,
    pub holding_code: String,
    pub province_code: String,
    pub legal_start: Option<NaiveDate>,
    pub economic_start: Option<NaiveDate>,
    pub probation: Option<String>,
    pub qualifications: Value,
    pub support_titles: Value,
    pub support_constraint_satisfied: bool,
    pub hiring_source: Option<String>,
    pub hiring_phase: Option<String>,
    pub merit_region: Option<String>,
    /// UT-3: when the foreign-language title was obtained.
    pub language_title: Option<NaiveDate>,
    /// POST-8: weekly service hours when part-time (none: full time).
    pub service_hours: Option<i32>,
}

/// Inserts or replaces a registry row; `None` when the row exists but
/// belongs to another province (row security hides it from the update).
pub async fn upsert_teacher(conn: &mut AsyncPgConnection, row: &TeacherRow) -> QueryResult<Option<TeacherRow>> {
    diesel::insert_into(teachers::table)
        .values(row)
        .on_conflict(teachers::tax_code)
        .do_update()
        .set((row, teachers::updated_at.eq(diesel::dsl::now)))
        .returning(TeacherRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Whether an upsert met a row that row security hides from the caller's
/// update (PostgreSQL refuses it rather than skipping it).
pub fn hidden_row(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info)
        if info.message().starts_with("new row violates row-level security policy (USING expression)"))
}

pub async fn teacher(conn: &mut AsyncPgConnection, tax_code: &str) -> QueryResult<Option<TeacherRow>> {
    teachers::table.find(tax_code).select(TeacherRow::as_select()).first(conn).await.optional()
}

/// The registry row of a paper form's teacher, for the office that
/// received the form: it may keep another province's registry (migration
/// 000026). The caller accepts the form only if it is routed to it.
pub async fn teacher_for_paper_form(conn: &mut AsyncPgConnection, tax_code: &str) -> QueryResult<Option<TeacherRow>> {
    Fixed::new("SELECT * FROM ambito_teacher_for_paper_form($1)")
        .bind::<Text, _>(tax_code)
        .get_result(conn)
        .await
        .optional()
}

/// The signed-in teacher's own registry row.
pub async fn own_teacher(conn: &mut AsyncPgConnection) -> QueryResult<Option<TeacherRow>> {
    diesel::define_sql_function!(fn ambito_own_tax_code() -> Nullable<Text>);
    teachers::table
        .filter(teachers::tax_code.nullable().eq(ambito_own_tax_code()))
        .select(TeacherRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Where a code of the territory lies: its province and region, the
/// municipality it lies wholly inside and its district, if any.
#[derive(Debug, Clone, QueryableByName)]
pub struct PlaceRow {
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub province: String,
    #[diesel(sql_type = Text)]
    pub region: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub municipality: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub district: Option<String>,
}

/// The places of the codes asked for, by kind (`school`: a site or an
/// institution; `municipality`: ISTAT or Belfiore code, answered as
/// given; `district`; `province`). Unknown codes are absent.
pub async fn places(
    conn: &mut AsyncPgConnection,
    schools: &[String],
    municipalities: &[String],
    districts: &[String],
    provinces: &[String],
) -> QueryResult<Vec<PlaceRow>> {
    Fixed::new(
        "WITH school AS (
             SELECT s.code, s.province_code, s.municipality_istat FROM sites s WHERE s.code = ANY($1)
             UNION ALL
             SELECT i.code, i.province_code, i.municipality_istat FROM institutions i
             WHERE i.code = ANY($1) AND NOT EXISTS (SELECT 1 FROM sites s WHERE s.code = i.code))
         SELECT 'school' AS kind, x.code, x.province_code AS province, p.region, x.municipality_istat AS municipality,
                (SELECT d.code FROM school_districts d
                 WHERE x.code = ANY(d.sites) OR x.municipality_istat = ANY(d.municipalities)
                 ORDER BY x.code = ANY(d.sites) DESC, d.code LIMIT 1) AS district
         FROM school x JOIN provinces p ON p.code = x.province_code
         UNION ALL
         SELECT 'municipality', c.code, m.province_code, p.region, m.istat_code, NULL
         FROM unnest($2::text[]) AS c(code)
         JOIN municipalities m ON m.istat_code = c.code OR m.belfiore_code = c.code
         JOIN provinces p ON p.code = m.province_code
         UNION ALL
         SELECT 'district', d.code, d.province_code, p.region,
                CASE WHEN cardinality(d.municipalities) = 1 THEN d.municipalities[1]
                     WHEN cardinality(d.sites) > 0 THEN
                         (SELECT min(s.municipality_istat) FROM sites s WHERE s.code = ANY(d.sites)
                          HAVING count(DISTINCT s.municipality_istat) = 1)
                END,
                d.code
         FROM school_districts d JOIN provinces p ON p.code = d.province_code WHERE d.code = ANY($3)
         UNION ALL
         SELECT 'province', p.code, p.code, p.region, NULL, NULL FROM provinces p WHERE p.code = ANY($4)",
    )
    .bind::<Array<Text>, _>(schools)
    .bind::<Array<Text>, _>(municipalities)
    .bind::<Array<Text>, _>(districts)
    .bind::<Array<Text>, _>(provinces)
    .load(conn)
    .await
}

#[derive(QueryableByName)]
struct Code {
    #[diesel(sql_type = Text)]
    code: String,
}

/// Municipalities of these provinces that hold more than one district
/// (COM-2: Milano, Roma, Napoli).
pub async fn multi_district(conn: &mut AsyncPgConnection, provinces: &[String]) -> QueryResult<Vec<String>> {
    let rows: Vec<Code> = Fixed::new(
        "SELECT m AS code FROM (
             SELECT d.code AS district, unnest(d.municipalities) AS m FROM school_districts d
             WHERE d.province_code = ANY($1)
             UNION
             SELECT d.code, s.municipality_istat FROM school_districts d JOIN sites s ON s.code = ANY(d.sites)
             WHERE d.province_code = ANY($1)) x
         GROUP BY m HAVING count(DISTINCT district) > 1",
    )
    .bind::<Array<Text>, _>(provinces)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.code).collect())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mobility_applications, check_for_backend(diesel::pg::Pg))]
pub struct ApplicationRow {
    pub id: i64,
    pub campaign_year: i32,
    pub teacher_tax_code: String,
    pub kind: String,
    pub school_order: String,
    pub scope: String,
    pub channel: String,
    pub state: String,
    pub home_province: String,
    pub processing_province: Option<String>,
    pub input: Value,
    pub teacher_snapshot: Option<Value>,
    pub assessment: Option<Value>,
    pub protocol_number: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub received_on: Option<NaiveDate>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub precedence_decisions: Value,
    pub family_override: Option<Value>,
    pub processing_region: Option<String>,
}

/// What a new form starts with.
#[derive(Insertable)]
#[diesel(table_name = mobility_applications)]
pub struct NewApplication<'a> {
    pub campaign_year: i32,
    pub teacher_tax_code: &'a str,
    pub kind: &'a str,
    pub school_order: &'a str,
    pub scope: &'a str,
    pub channel: &'a str,
    pub home_province: &'a str,
    pub input: &'a Value,
}

/// Whether a write failed on ORG-4's one-form-per-order index.
pub fn duplicate(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, info)
        if info.constraint_name() == Some("mobility_applications_one_per_order"))
}

pub async fn insert_application(conn: &mut AsyncPgConnection, new: NewApplication<'_>) -> QueryResult<ApplicationRow> {
    diesel::insert_into(mobility_applications::table)
        .values(new)
        .returning(ApplicationRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn application(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<ApplicationRow>> {
    mobility_applications::table.find(id).select(ApplicationRow::as_select()).first(conn).await.optional()
}

/// The row, locked for an act on it.
pub async fn application_for_update(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<ApplicationRow>> {
    mobility_applications::table.find(id).select(ApplicationRow::as_select()).for_update().first(conn).await.optional()
}

/// The teacher's forms in a campaign.
pub async fn forms_of(conn: &mut AsyncPgConnection, tax_code: &str, year: i32) -> QueryResult<Vec<ApplicationRow>> {
    mobility_applications::table
        .filter(mobility_applications::teacher_tax_code.eq(tax_code))
        .filter(mobility_applications::campaign_year.eq(year))
        .order(mobility_applications::id)
        .select(ApplicationRow::as_select())
        .load(conn)
        .await
}

/// A draft's new content (or a withdrawn form's, which becomes a draft again).
pub async fn set_input(
    conn: &mut AsyncPgConnection,
    id: i64,
    kind: &str,
    order: &str,
    scope: &str,
    input: &Value,
) -> QueryResult<ApplicationRow> {
    use mobility_applications as a;
    diesel::update(a::table.find(id))
        .set((
            a::kind.eq(kind),
            a::school_order.eq(order),
            a::scope.eq(scope),
            a::input.eq(input),
            a::state.eq("draft"),
            a::withdrawn_at.eq(None::<DateTime<Utc>>),
            a::updated_at.eq(diesel::dsl::now),
        ))
        .returning(ApplicationRow::as_returning())
        .get_result(conn)
        .await
}

/// What a submission stores.
pub struct Submission<'a> {
    pub processing_province: &'a str,
    /// An IRC form's directorate, and the diocese that routes it there.
    pub processing_region: Option<&'a str>,
    pub diocese: Option<&'a str>,
    pub teacher_snapshot: &'a Value,
    pub assessment: &'a Value,
    pub at: DateTime<Utc>,
}

diesel::define_sql_function!(fn ambito_mobility_protocol(province: Text, year: diesel::sql_types::Integer) -> Text);

/// A fresh protocol number of the processing office (`BG-2016-000042`).
async fn protocol(conn: &mut AsyncPgConnection, province: &str, year: i32) -> QueryResult<String> {
    diesel::select(ambito_mobility_protocol(province, year)).get_result(conn).await
}

/// Submits a form with a fresh protocol number.
pub async fn submit(
    conn: &mut AsyncPgConnection,
    row: &ApplicationRow,
    s: Submission<'_>,
) -> QueryResult<ApplicationRow> {
    use mobility_applications as a;
    let number = protocol(conn, s.processing_province, row.campaign_year).await?;
    diesel::update(a::table.find(row.id))
        .set((
            a::state.eq("submitted"),
            a::processing_province.eq(s.processing_province),
            a::processing_region.eq(s.processing_region),
            a::diocese.eq(s.diocese),
            a::teacher_snapshot.eq(s.teacher_snapshot),
            a::assessment.eq(s.assessment),
            a::protocol_number.eq(number),
            a::submitted_at.eq(s.at),
            a::withdrawn_at.eq(None::<DateTime<Utc>>),
            a::updated_at.eq(diesel::dsl::now),
        ))
        .returning(ApplicationRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn withdraw(conn: &mut AsyncPgConnection, id: i64, at: DateTime<Utc>) -> QueryResult<ApplicationRow> {
    use mobility_applications as a;
    diesel::update(a::table.find(id))
        .set((a::state.eq("withdrawn"), a::withdrawn_at.eq(at), a::updated_at.eq(diesel::dsl::now)))
        .returning(ApplicationRow::as_returning())
        .get_result(conn)
        .await
}

/// A paper form the office records: submitted as it is created (the
/// office never sees a draft), on its day of receipt.
pub async fn insert_paper(
    conn: &mut AsyncPgConnection,
    new: NewApplication<'_>,
    received_on: NaiveDate,
    s: Submission<'_>,
) -> QueryResult<ApplicationRow> {
    use mobility_applications as a;
    let number = protocol(conn, s.processing_province, new.campaign_year).await?;
    diesel::insert_into(a::table)
        .values((
            new,
            a::state.eq("submitted"),
            a::processing_province.eq(s.processing_province),
            a::processing_region.eq(s.processing_region),
            a::diocese.eq(s.diocese),
            a::teacher_snapshot.eq(s.teacher_snapshot),
            a::assessment.eq(s.assessment),
            a::protocol_number.eq(number),
            a::submitted_at.eq(s.at),
            a::received_on.eq(received_on),
        ))
        .returning(ApplicationRow::as_returning())
        .get_result(conn)
        .await
}

/// Which applications a list shows, besides row security.
#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    pub year: Option<i32>,
}

fn filtered(f: &ApplicationFilter) -> mobility_applications::BoxedQuery<'static, diesel::pg::Pg> {
    let mut q = mobility_applications::table.into_boxed();
    if let Some(y) = f.year {
        q = q.filter(mobility_applications::campaign_year.eq(y));
    }
    q
}

/// The applications the caller sees, a page by id.
pub async fn applications_page(
    conn: &mut AsyncPgConnection,
    f: &ApplicationFilter,
    page: &PageRequest,
) -> QueryResult<Vec<ApplicationRow>> {
    use mobility_applications as a;
    let mut q = filtered(f);
    if let Some(after) = page.after.as_deref().and_then(|s| s.parse::<i64>().ok()) {
        q = q.filter(a::id.gt(after));
    }
    q.order(a::id).limit(page.limit).select(ApplicationRow::as_select()).load(conn).await
}

pub async fn applications_count(conn: &mut AsyncPgConnection, f: &ApplicationFilter) -> QueryResult<i64> {
    filtered(f).count().get_result(conn).await
}

/// A document of an application as the rules read it: what it is and when
/// the teacher confirmed it.
#[derive(Debug, Clone, Queryable)]
pub struct DocumentFact {
    pub id: uuid::Uuid,
    pub kind: Option<String>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub uploaded_by: i64,
}

/// The committed documents of an application the caller sees.
pub async fn documents_of(conn: &mut AsyncPgConnection, application: i64) -> QueryResult<Vec<DocumentFact>> {
    use crate::db::schema::attachments as t;
    t::table
        .filter(t::mobility_application_id.eq(application))
        .filter(t::state.eq("committed"))
        .order(t::created_at)
        .select((t::id, t::mobility_document_kind, t::confirmed_at, t::uploaded_by))
        .load(conn)
        .await
}

/// DOC-4: the teacher confirms a document of theirs.
pub async fn confirm_document(
    conn: &mut AsyncPgConnection,
    id: uuid::Uuid,
    at: DateTime<Utc>,
) -> QueryResult<crate::db::attachments::AttachmentRow> {
    use crate::db::schema::attachments as t;
    diesel::update(t::table.find(id))
        .set(t::confirmed_at.eq(at))
        .returning(crate::db::attachments::AttachmentRow::as_returning())
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::mobility_document_receipts, check_for_backend(diesel::pg::Pg))]
pub struct ReceiptRow {
    pub id: i64,
    pub application_id: i64,
    pub processing_province: String,
    pub document_kind: String,
    pub channel: String,
    pub received_on: NaiveDate,
    pub precedence: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

pub async fn receipts_of(conn: &mut AsyncPgConnection, application: i64) -> QueryResult<Vec<ReceiptRow>> {
    use crate::db::schema::mobility_document_receipts as r;
    r::table.filter(r::application_id.eq(application)).order(r::id).select(ReceiptRow::as_select()).load(conn).await
}

pub async fn insert_receipt(
    conn: &mut AsyncPgConnection,
    application: &ApplicationRow,
    kind: &str,
    channel: &str,
    received_on: NaiveDate,
    precedence: Option<&str>,
) -> QueryResult<ReceiptRow> {
    use crate::db::schema::mobility_document_receipts as r;
    diesel::insert_into(r::table)
        .values((
            r::application_id.eq(application.id),
            r::processing_province.eq(application.processing_province.clone().unwrap_or_default()),
            r::document_kind.eq(kind),
            r::channel.eq(channel),
            r::received_on.eq(received_on),
            r::precedence.eq(precedence),
        ))
        .returning(ReceiptRow::as_returning())
        .get_result(conn)
        .await
}

/// The office's review: its decisions on precedences, its family score.
pub async fn set_review(
    conn: &mut AsyncPgConnection,
    id: i64,
    decisions: &Value,
    family: Option<&Value>,
) -> QueryResult<ApplicationRow> {
    use mobility_applications as a;
    diesel::update(a::table.find(id))
        .set((a::precedence_decisions.eq(decisions), a::family_override.eq(family), a::updated_at.eq(diesel::dsl::now)))
        .returning(ApplicationRow::as_returning())
        .get_result(conn)
        .await
}

/// The committed documents of an application, as attachments.
pub async fn attachments_of(
    conn: &mut AsyncPgConnection,
    application: i64,
) -> QueryResult<Vec<crate::db::attachments::AttachmentRow>> {
    use crate::db::schema::attachments as t;
    t::table
        .filter(t::mobility_application_id.eq(application))
        .filter(t::state.eq_any(["committed", "archived"]))
        .order(t::created_at)
        .select(crate::db::attachments::AttachmentRow::as_select())
        .load(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::mobility_ut_scores, check_for_backend(diesel::pg::Pg))]
pub struct UtScoreRow {
    pub application_id: i64,
    pub institution_code: String,
    pub teacher_tax_code: String,
    pub teacher_name: String,
    pub declared: Option<f64>,
    pub validated: Option<f64>,
    pub note: Option<String>,
    pub validated_at: Option<DateTime<Utc>>,
}

/// The score section of a submitted UT, for the school of service; a
/// resubmission declares again and clears the school's validation.
pub async fn upsert_ut_score(
    conn: &mut AsyncPgConnection,
    application: i64,
    institution: &str,
    tax_code: &str,
    name: &str,
    declared: Option<f64>,
) -> QueryResult<()> {
    use crate::db::schema::mobility_ut_scores as u;
    diesel::insert_into(u::table)
        .values((
            u::application_id.eq(application),
            u::institution_code.eq(institution),
            u::province_code.eq(""),
            u::teacher_tax_code.eq(tax_code),
            u::teacher_name.eq(name),
            u::declared.eq(declared),
        ))
        .on_conflict(u::application_id)
        .do_update()
        .set((
            u::declared.eq(declared),
            u::validated.eq(None::<f64>),
            u::validated_by.eq(None::<i64>),
            u::validated_at.eq(None::<DateTime<Utc>>),
            u::note.eq(None::<String>),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn ut_score(conn: &mut AsyncPgConnection, application: i64) -> QueryResult<Option<UtScoreRow>> {
    use crate::db::schema::mobility_ut_scores as u;
    u::table.find(application).select(UtScoreRow::as_select()).first(conn).await.optional()
}

pub async fn ut_scores_page(conn: &mut AsyncPgConnection, page: &PageRequest) -> QueryResult<Vec<UtScoreRow>> {
    use crate::db::schema::mobility_ut_scores as u;
    let mut q = u::table.into_boxed();
    if let Some(after) = page.after.as_deref().and_then(|s| s.parse::<i64>().ok()) {
        q = q.filter(u::application_id.gt(after));
    }
    q.order(u::application_id).limit(page.limit).select(UtScoreRow::as_select()).load(conn).await
}

pub async fn ut_scores_count(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    crate::db::schema::mobility_ut_scores::table.count().get_result(conn).await
}

/// SC-U4: the school's validation (or correction) of the declared score.
pub async fn validate_ut_score(
    conn: &mut AsyncPgConnection,
    application: i64,
    score: f64,
    note: Option<&str>,
    user: i64,
    at: DateTime<Utc>,
) -> QueryResult<UtScoreRow> {
    use crate::db::schema::mobility_ut_scores as u;
    diesel::update(u::table.find(application))
        .set((u::validated.eq(score), u::note.eq(note), u::validated_by.eq(user), u::validated_at.eq(at)))
        .returning(UtScoreRow::as_returning())
        .get_result(conn)
        .await
}

#[derive(QueryableByName)]
struct MaybeCode {
    #[diesel(sql_type = Nullable<Text>)]
    code: Option<String>,
}

/// The institution of a school code: a site's, or the institution itself.
pub async fn institution_of(conn: &mut AsyncPgConnection, school: &str) -> QueryResult<Option<String>> {
    let row: MaybeCode = Fixed::new(
        "SELECT coalesce((SELECT institution_code FROM sites WHERE code = $1),
                         (SELECT code FROM institutions WHERE code = $1)) AS code",
    )
    .bind::<Text, _>(school)
    .get_result(conn)
    .await?;
    Ok(row.code)
}

/// The submitted forms routed to a provincial office in a campaign (IRC
/// forms, routed to a region, are not in its runs), in id order.
pub async fn phase_forms(conn: &mut AsyncPgConnection, year: i32, province: &str) -> QueryResult<Vec<ApplicationRow>> {
    use mobility_applications as a;
    a::table
        .filter(a::campaign_year.eq(year))
        .filter(a::processing_province.eq(province))
        .filter(a::processing_region.is_null())
        .filter(a::state.eq("submitted"))
        .order(a::id)
        .select(ApplicationRow::as_select())
        .load(conn)
        .await
}

/// The validated UT scores of these applications.
pub async fn validated_ut_scores(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<Vec<(i64, Option<f64>)>> {
    use crate::db::schema::mobility_ut_scores as u;
    u::table.filter(u::application_id.eq_any(ids)).select((u::application_id, u::validated)).load(conn).await
}

/// The surplus of every class or post type of a province.
pub async fn esuberi(conn: &mut AsyncPgConnection, year: i32, province: &str) -> QueryResult<Vec<(String, i32)>> {
    use mobility_esubero as e;
    e::table
        .filter(e::campaign_year.eq(year))
        .filter(e::province_code.eq(province))
        .select((e::class_code, e::count))
        .load(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mobility_runs, check_for_backend(diesel::pg::Pg))]
pub struct RunRow {
    pub id: i64,
    pub campaign_year: i32,
    pub province_code: String,
    pub phase: String,
    pub state: String,
    pub input_hash: String,
    pub outcome_hash: String,
    pub assigned_count: i32,
    pub revises: Option<i64>,
    pub diff: Value,
    pub created_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
}

#[derive(Insertable)]
#[diesel(table_name = mobility_runs)]
pub struct NewRun<'a> {
    pub campaign_year: i32,
    pub province_code: &'a str,
    pub phase: &'a str,
    pub input: Value,
    pub input_hash: &'a str,
    pub outcome_hash: &'a str,
    pub assigned_count: i32,
    pub revises: Option<i64>,
    pub diff: Value,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mobility_run_results, check_for_backend(diesel::pg::Pg))]
pub struct ResultRow {
    pub run_id: i64,
    pub application_id: i64,
    pub province_code: String,
    pub teacher_tax_code: String,
    pub state: String,
    pub school_code: Option<String>,
    pub post_type: Option<String>,
    pub class_code: Option<String>,
    pub chair_kind: Option<String>,
    pub position: Option<i32>,
    pub certificate: Value,
    /// POST-8: the weekly hours of a post of part-posts, and its part-posts.
    pub hours: Option<i32>,
    pub parts: Option<Vec<i32>>,
}

/// The run of a phase in a state (`proposal` or `approved`), locked.
pub async fn run_in_state(
    conn: &mut AsyncPgConnection,
    year: i32,
    province: &str,
    phase: &str,
    state: &str,
) -> QueryResult<Option<RunRow>> {
    use mobility_runs as r;
    r::table
        .filter(r::campaign_year.eq(year))
        .filter(r::province_code.eq(province))
        .filter(r::phase.eq(phase))
        .filter(r::state.eq(state))
        .select(RunRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

pub async fn run_for_update(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<RunRow>> {
    use mobility_runs as r;
    r::table.find(id).select(RunRow::as_select()).for_update().first(conn).await.optional()
}

/// A run without its input, if the caller may read it.
pub async fn run(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<RunRow>> {
    use mobility_runs as r;
    r::table.find(id).select(RunRow::as_select()).first(conn).await.optional()
}

/// A run's stored input, for `ambito mobility verify`.
pub async fn run_input(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<(RunRow, Value)>> {
    use mobility_runs as r;
    r::table.find(id).select((RunRow::as_select(), r::input)).first(conn).await.optional()
}

/// The runs of a campaign's phase, newest first.
pub async fn runs_of(conn: &mut AsyncPgConnection, year: i32, phase: &str) -> QueryResult<Vec<RunRow>> {
    use mobility_runs as r;
    r::table
        .filter(r::campaign_year.eq(year))
        .filter(r::phase.eq(phase))
        .order(r::id.desc())
        .select(RunRow::as_select())
        .load(conn)
        .await
}

pub async fn insert_run(conn: &mut AsyncPgConnection, new: NewRun<'_>) -> QueryResult<RunRow> {
    diesel::insert_into(mobility_runs::table).values(new).returning(RunRow::as_returning()).get_result(conn).await
}

/// Sets a run's state; approving records who and when.
pub async fn set_run_state(
    conn: &mut AsyncPgConnection,
    id: i64,
    state: &str,
    approved: Option<(i64, DateTime<Utc>)>,
) -> QueryResult<RunRow> {
    use mobility_runs as r;
    let target = diesel::update(r::table.find(id));
    match approved {
        Some((by, at)) => {
            target
                .set((r::state.eq(state), r::approved_by.eq(by), r::approved_at.eq(at)))
                .returning(RunRow::as_returning())
                .get_result(conn)
                .await
        }
        None => target.set(r::state.eq(state)).returning(RunRow::as_returning()).get_result(conn).await,
    }
}

/// A superseded run keeps its input and hashes; its outcomes go.
pub async fn delete_results(conn: &mut AsyncPgConnection, run: i64) -> QueryResult<usize> {
    use mobility_run_results as x;
    diesel::delete(x::table.filter(x::run_id.eq(run))).execute(conn).await
}

pub async fn insert_results(conn: &mut AsyncPgConnection, rows: &[ResultRow]) -> QueryResult<usize> {
    let mut n = 0;
    // Eleven parameters a row: chunks stay under PostgreSQL's 65,535.
    for chunk in rows.chunks(5_000) {
        n += diesel::insert_into(mobility_run_results::table).values(chunk).execute(conn).await?;
    }
    Ok(n)
}

/// A run's outcomes.
pub async fn results_of_run(conn: &mut AsyncPgConnection, run: i64) -> QueryResult<Vec<ResultRow>> {
    use mobility_run_results as x;
    x::table.filter(x::run_id.eq(run)).order(x::application_id).select(ResultRow::as_select()).load(conn).await
}

/// The newest outcome of an application the caller may see (the office:
/// a proposal too; the teacher: approved runs only, by row security).
pub async fn result_of(conn: &mut AsyncPgConnection, application: i64) -> QueryResult<Option<ResultRow>> {
    use mobility_run_results as x;
    x::table
        .filter(x::application_id.eq(application))
        .order(x::run_id.desc())
        .select(ResultRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Seats of each line taken by the approved runs of the other phases, and
/// the teachers they placed.
pub async fn taken_by_other_phases(
    conn: &mut AsyncPgConnection,
    year: i32,
    province: &str,
    phase: &str,
) -> QueryResult<Vec<ResultRow>> {
    use mobility_run_results as x;
    use mobility_runs as r;
    x::table
        .inner_join(r::table.on(r::id.eq(x::run_id)))
        .filter(r::campaign_year.eq(year))
        .filter(r::province_code.eq(province))
        .filter(r::phase.ne(phase))
        .filter(r::state.eq("approved"))
        // An override's seat is as taken as the engine's.
        .filter(x::state.eq_any(["assigned", "manual"]))
        .select(ResultRow::as_select())
        .load(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mobility_cutoffs, check_for_backend(diesel::pg::Pg))]
pub struct CutoffRow {
    pub run_id: i64,
    pub campaign_year: i32,
    pub province_code: String,
    pub phase: String,
    pub code: String,
    pub post_type: String,
    pub suppressed: bool,
    pub last_score: Option<f64>,
    pub precedence: Option<String>,
}

/// Replaces a phase's published cutoffs with an approved run's.
pub async fn replace_cutoffs(
    conn: &mut AsyncPgConnection,
    year: i32,
    province: &str,
    phase: &str,
    rows: &[CutoffRow],
) -> QueryResult<()> {
    use mobility_cutoffs as k;
    diesel::delete(
        k::table.filter(k::campaign_year.eq(year)).filter(k::province_code.eq(province)).filter(k::phase.eq(phase)),
    )
    .execute(conn)
    .await?;
    for chunk in rows.chunks(5_000) {
        diesel::insert_into(k::table).values(chunk).execute(conn).await?;
    }
    Ok(())
}

pub async fn cutoffs(conn: &mut AsyncPgConnection, year: i32, province: &str) -> QueryResult<Vec<CutoffRow>> {
    use mobility_cutoffs as k;
    k::table
        .filter(k::campaign_year.eq(year))
        .filter(k::province_code.eq(province))
        .order((k::phase, k::code, k::post_type))
        .select(CutoffRow::as_select())
        .load(conn)
        .await
}

/// Records who moved in a re-run.
pub async fn set_diff(conn: &mut AsyncPgConnection, id: i64, diff: &Value) -> QueryResult<RunRow> {
    use mobility_runs as r;
    diesel::update(r::table.find(id)).set(r::diff.eq(diff)).returning(RunRow::as_returning()).get_result(conn).await
}

#[derive(QueryableByName)]
pub struct OutcomeAddress {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub application_id: i64,
    #[diesel(sql_type = Text)]
    pub email: String,
    #[diesel(sql_type = Text)]
    pub protocol_number: String,
}

/// Where to e-mail an approved run's outcomes (the approving office only).
pub async fn outcome_addresses(conn: &mut AsyncPgConnection, run: i64) -> QueryResult<Vec<OutcomeAddress>> {
    Fixed::new("SELECT application_id, email, protocol_number FROM ambito_mobility_outcome_addresses($1)")
        .bind::<diesel::sql_types::BigInt, _>(run)
        .load(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mobility_overrides, check_for_backend(diesel::pg::Pg))]
pub struct OverrideRow {
    pub id: i64,
    pub campaign_year: i32,
    pub province_code: String,
    pub phase: String,
    pub application_id: i64,
    pub school_code: String,
    pub post_type: String,
    pub class_code: String,
    pub chair_kind: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawal_reason: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = mobility_overrides)]
pub struct NewOverride<'a> {
    pub campaign_year: i32,
    pub province_code: &'a str,
    pub phase: &'a str,
    pub application_id: i64,
    pub school_code: &'a str,
    pub post_type: &'a str,
    pub class_code: &'a str,
    pub chair_kind: &'a str,
    pub reason: &'a str,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_override(conn: &mut AsyncPgConnection, new: NewOverride<'_>) -> QueryResult<OverrideRow> {
    diesel::insert_into(mobility_overrides::table)
        .values(new)
        .returning(OverrideRow::as_returning())
        .get_result(conn)
        .await
}

/// The standing (not withdrawn) overrides of a phase, oldest first.
pub async fn standing_overrides(
    conn: &mut AsyncPgConnection,
    year: i32,
    province: &str,
    phase: &str,
) -> QueryResult<Vec<OverrideRow>> {
    use mobility_overrides as o;
    o::table
        .filter(o::campaign_year.eq(year))
        .filter(o::province_code.eq(province))
        .filter(o::phase.eq(phase))
        .filter(o::withdrawn_at.is_null())
        .order(o::id)
        .select(OverrideRow::as_select())
        .load(conn)
        .await
}

pub async fn override_for_update(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<OverrideRow>> {
    use mobility_overrides as o;
    o::table.find(id).select(OverrideRow::as_select()).for_update().first(conn).await.optional()
}

pub async fn withdraw_override(
    conn: &mut AsyncPgConnection,
    id: i64,
    by: i64,
    at: DateTime<Utc>,
    reason: &str,
) -> QueryResult<OverrideRow> {
    use mobility_overrides as o;
    diesel::update(o::table.find(id))
        .set((o::withdrawn_by.eq(by), o::withdrawn_at.eq(at), o::withdrawal_reason.eq(reason)))
        .returning(OverrideRow::as_returning())
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mobility_complaints, check_for_backend(diesel::pg::Pg))]
pub struct ComplaintRow {
    pub id: i64,
    pub run_id: i64,
    pub application_id: i64,
    pub province_code: String,
    pub received_on: NaiveDate,
    pub summary: String,
    pub state: String,
    pub decision_reason: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

#[derive(Insertable)]
#[diesel(table_name = mobility_complaints)]
pub struct NewComplaint<'a> {
    pub run_id: i64,
    pub application_id: i64,
    pub province_code: &'a str,
    pub teacher_tax_code: &'a str,
    pub received_on: NaiveDate,
    pub summary: &'a str,
    pub recorded_by: i64,
    pub recorded_at: DateTime<Utc>,
}

pub async fn insert_complaint(conn: &mut AsyncPgConnection, new: NewComplaint<'_>) -> QueryResult<ComplaintRow> {
    diesel::insert_into(mobility_complaints::table)
        .values(new)
        .returning(ComplaintRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn complaint_for_update(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<ComplaintRow>> {
    use mobility_complaints as k;
    k::table.find(id).select(ComplaintRow::as_select()).for_update().first(conn).await.optional()
}

pub async fn decide_complaint(
    conn: &mut AsyncPgConnection,
    id: i64,
    state: &str,
    reason: &str,
    by: i64,
    at: DateTime<Utc>,
) -> QueryResult<ComplaintRow> {
    use mobility_complaints as k;
    diesel::update(k::table.find(id))
        .set((k::state.eq(state), k::decision_reason.eq(reason), k::decided_by.eq(by), k::decided_at.eq(at)))
        .returning(ComplaintRow::as_returning())
        .get_result(conn)
        .await
}

/// The complaints about an application the caller may see, oldest first.
pub async fn complaints_of(conn: &mut AsyncPgConnection, application: i64) -> QueryResult<Vec<ComplaintRow>> {
    use mobility_complaints as k;
    k::table.filter(k::application_id.eq(application)).order(k::id).select(ComplaintRow::as_select()).load(conn).await
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mobility_renunciations, check_for_backend(diesel::pg::Pg))]
pub struct RenunciationRow {
    pub application_id: i64,
    pub run_id: i64,
    pub province_code: String,
    pub teacher_tax_code: String,
    pub renounced_at: DateTime<Utc>,
    pub recorded_by: i64,
}

/// Records a renunciation; `None` when the form was already renounced.
pub async fn insert_renunciation(
    conn: &mut AsyncPgConnection,
    row: &RenunciationRow,
) -> QueryResult<Option<RenunciationRow>> {
    diesel::insert_into(mobility_renunciations::table)
        .values(row)
        .on_conflict_do_nothing()
        .returning(RenunciationRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn renunciation_of(conn: &mut AsyncPgConnection, application: i64) -> QueryResult<Option<RenunciationRow>> {
    use mobility_renunciations as n;
    n::table.find(application).select(RenunciationRow::as_select()).first(conn).await.optional()
}

/// The renounced forms of a campaign in a province.
pub async fn renounced(conn: &mut AsyncPgConnection, year: i32, province: &str) -> QueryResult<Vec<i64>> {
    use mobility_renunciations as n;
    use mobility_runs as r;
    n::table
        .inner_join(r::table.on(r::id.eq(n::run_id)))
        .filter(r::campaign_year.eq(year))
        .filter(n::province_code.eq(province))
        .select(n::application_id)
        .load(conn)
        .await
}

/// A line of the outcome sheet (`ambito_mobility_outcome_sheet`).
#[derive(Debug, Clone, QueryableByName)]
pub struct SheetRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub application_id: i64,
    #[diesel(sql_type = Text)]
    pub protocol_number: String,
    #[diesel(sql_type = Text)]
    pub last_name: String,
    #[diesel(sql_type = Text)]
    pub first_name: String,
    #[diesel(sql_type = Text)]
    pub tax_code: String,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub school_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub institution_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub post_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub class_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub chair_kind: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    pub position: Option<i32>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    pub hours: Option<i32>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Array<diesel::sql_types::Integer>>)]
    pub parts: Option<Vec<i32>>,
}

/// The outcome sheet of a run: the office's whole province, a school's
/// own sites in an approved run, nothing for anyone else.
pub async fn outcome_sheet(conn: &mut AsyncPgConnection, run: i64) -> QueryResult<Vec<SheetRow>> {
    Fixed::new(
        "SELECT application_id, protocol_number, last_name, first_name, tax_code, state, school_code,
                institution_code, post_type, class_code, chair_kind, pref_position AS position, hours, parts
         FROM ambito_mobility_outcome_sheet($1)",
    )
    .bind::<diesel::sql_types::BigInt, _>(run)
    .load(conn)
    .await
}

#[derive(QueryableByName)]
struct MaybeId {
    #[diesel(sql_type = Nullable<diesel::sql_types::BigInt>)]
    id: Option<i64>,
}

/// The approved run of a phase in the caller's province (offices and schools).
pub async fn approved_run_id(conn: &mut AsyncPgConnection, year: i32, phase: &str) -> QueryResult<Option<i64>> {
    let row: MaybeId = Fixed::new("SELECT ambito_mobility_approved_run($1, $2) AS id")
        .bind::<diesel::sql_types::Integer, _>(year)
        .bind::<Text, _>(phase)
        .get_result(conn)
        .await?;
    Ok(row.id)
}

/// An application's outcome in the approved run of its phase, if the
/// caller may see it (a teacher reads no run, so approval is asked of the
/// function the row policies use).
pub async fn approved_result_of(conn: &mut AsyncPgConnection, application: i64) -> QueryResult<Option<ResultRow>> {
    use mobility_run_results as x;
    x::table
        .filter(x::application_id.eq(application))
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("ambito_mobility_run_approved(run_id)"))
        .order(x::run_id.desc())
        .select(ResultRow::as_select())
        .first(conn)
        .await
        .optional()
}
