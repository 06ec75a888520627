//! Queries of process 3 (admission rounds), under the request's row
//! security: points tables, rounds with their sites, caps and street list,
//! applications and their claims; after publication, complaints, the final
//! placements, nulla osta requests and the office's invitations.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use crate::db::schema::{
    admission_applications, admission_claims, admission_complaints, admission_invitations, admission_nulla_osta,
    admission_placements, admission_round_sites, admission_rounds, admission_snapshots, admission_stradario,
    admission_time_model_caps, points_tables,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = points_tables, check_for_backend(diesel::pg::Pg))]
pub struct PointsTableRow {
    pub id: i64,
    pub institution_code: String,
    pub province_code: String,
    pub school_order: String,
    pub version: i32,
    pub criteria: Value,
    pub status: String,
    pub council_date: Option<NaiveDate>,
    pub resolution_number: Option<String>,
    pub published_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
}

/// A new draft version of an institution's table for an order.
pub async fn insert_points_table(
    conn: &mut AsyncPgConnection,
    institution: &str,
    order: &str,
    criteria: &Value,
    published_url: Option<&str>,
) -> QueryResult<PointsTableRow> {
    let version: Option<i32> = points_tables::table
        .filter(points_tables::institution_code.eq(institution))
        .filter(points_tables::school_order.eq(order))
        .select(diesel::dsl::max(points_tables::version))
        .first(conn)
        .await?;
    diesel::insert_into(points_tables::table)
        .values((
            points_tables::institution_code.eq(institution),
            points_tables::province_code.eq(""),
            points_tables::school_order.eq(order),
            points_tables::version.eq(version.unwrap_or(0) + 1),
            points_tables::criteria.eq(criteria),
            points_tables::published_url.eq(published_url),
        ))
        .returning(PointsTableRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn points_table(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<PointsTableRow>> {
    points_tables::table.find(id).select(PointsTableRow::as_select()).first(conn).await.optional()
}

/// Whether a write failed on the frozen-table trigger.
pub fn frozen(e: &Error) -> bool {
    matches!(e, Error::DatabaseError(DatabaseErrorKind::CheckViolation, info) if info.message().starts_with("POINTS_TABLE_FROZEN"))
}

pub async fn set_criteria(conn: &mut AsyncPgConnection, id: i64, criteria: &Value) -> QueryResult<PointsTableRow> {
    diesel::update(points_tables::table.find(id))
        .set(points_tables::criteria.eq(criteria))
        .returning(PointsTableRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn approve_points_table(
    conn: &mut AsyncPgConnection,
    id: i64,
    council_date: NaiveDate,
    resolution: &str,
    at: DateTime<Utc>,
) -> QueryResult<PointsTableRow> {
    diesel::update(points_tables::table.find(id))
        .set((
            points_tables::status.eq("approved"),
            points_tables::council_date.eq(council_date),
            points_tables::resolution_number.eq(resolution),
            points_tables::approved_at.eq(at),
        ))
        .returning(PointsTableRow::as_returning())
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admission_rounds, check_for_backend(diesel::pg::Pg))]
pub struct RoundRow {
    pub id: i64,
    pub institution_code: String,
    pub province_code: String,
    pub school_order: String,
    pub school_year: i32,
    pub window_opens_at: DateTime<Utc>,
    pub window_closes_at: DateTime<Utc>,
    pub mandatory_born_by: NaiveDate,
    pub early_born_by: NaiveDate,
    pub resident_municipalities: Vec<String>,
    pub points_table_id: i64,
    pub time_models: Value,
    pub default_time_model: String,
    pub min_pupils_per_time_model: i32,
    pub redistribute_beyond_preferences: bool,
    pub provisional_due_on: NaiveDate,
    pub final_due_on: NaiveDate,
    pub waiting_list_closes_at: DateTime<Utc>,
    pub enrolment_documents_due_on: Option<NaiveDate>,
    pub draw_seed_hash: Option<String>,
    pub draw_seed: Option<String>,
    pub draw_seed_set_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub complaint_deadline: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
    pub posted_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub version: i32,
}

/// The settable part of a round.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = admission_rounds)]
pub struct RoundFields {
    pub window_opens_at: DateTime<Utc>,
    pub window_closes_at: DateTime<Utc>,
    pub mandatory_born_by: NaiveDate,
    pub early_born_by: NaiveDate,
    pub resident_municipalities: Vec<String>,
    pub points_table_id: i64,
    pub time_models: Value,
    pub default_time_model: String,
    pub min_pupils_per_time_model: i32,
    pub redistribute_beyond_preferences: bool,
    pub provisional_due_on: NaiveDate,
    pub final_due_on: NaiveDate,
    pub waiting_list_closes_at: DateTime<Utc>,
    pub enrolment_documents_due_on: Option<NaiveDate>,
    pub draw_seed_hash: Option<String>,
}

pub async fn insert_round(
    conn: &mut AsyncPgConnection,
    institution: &str,
    order: &str,
    school_year: i32,
    fields: &RoundFields,
) -> QueryResult<RoundRow> {
    diesel::insert_into(admission_rounds::table)
        .values((
            admission_rounds::institution_code.eq(institution),
            admission_rounds::province_code.eq(""),
            admission_rounds::school_order.eq(order),
            admission_rounds::school_year.eq(school_year),
            fields,
        ))
        .returning(RoundRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn update_round(conn: &mut AsyncPgConnection, id: i64, fields: &RoundFields) -> QueryResult<RoundRow> {
    diesel::update(admission_rounds::table.find(id))
        .set((fields, admission_rounds::version.eq(admission_rounds::version + 1)))
        .returning(RoundRow::as_returning())
        .get_result(conn)
        .await
}

/// The round, locked for this request's transaction when `lock`.
pub async fn round(conn: &mut AsyncPgConnection, id: i64, lock: bool) -> QueryResult<Option<RoundRow>> {
    let q = admission_rounds::table.find(id).select(RoundRow::as_select());
    match lock {
        true => q.for_update().first(conn).await.optional(),
        false => q.first(conn).await.optional(),
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admission_round_sites, check_for_backend(diesel::pg::Pg))]
pub struct RoundSiteRow {
    pub round_id: i64,
    pub site_code: String,
    pub position: i32,
    pub places: i32,
}

/// Sets the round's sites (in order, with places) and caps: sites left out
/// go, with their street-list lines; the others keep them.
pub async fn replace_sites(
    conn: &mut AsyncPgConnection,
    round: &RoundRow,
    sites: &[(String, i32)],
    caps: &[(String, String, i32)],
) -> QueryResult<()> {
    let codes: Vec<&str> = sites.iter().map(|(s, _)| s.as_str()).collect();
    diesel::delete(
        admission_round_sites::table
            .filter(admission_round_sites::round_id.eq(round.id))
            .filter(admission_round_sites::site_code.ne_all(&codes)),
    )
    .execute(conn)
    .await?;
    for (i, (site, places)) in sites.iter().enumerate() {
        diesel::insert_into(admission_round_sites::table)
            .values((
                admission_round_sites::round_id.eq(round.id),
                admission_round_sites::site_code.eq(site),
                admission_round_sites::institution_code.eq(&round.institution_code),
                admission_round_sites::province_code.eq(""),
                admission_round_sites::position.eq(i as i32),
                admission_round_sites::places.eq(places),
            ))
            .on_conflict((admission_round_sites::round_id, admission_round_sites::site_code))
            .do_update()
            .set((admission_round_sites::position.eq(i as i32), admission_round_sites::places.eq(places)))
            .execute(conn)
            .await?;
    }
    diesel::delete(admission_time_model_caps::table.filter(admission_time_model_caps::round_id.eq(round.id)))
        .execute(conn)
        .await?;
    let caps: Vec<_> = caps
        .iter()
        .map(|(site, model, max)| {
            (
                admission_time_model_caps::round_id.eq(round.id),
                admission_time_model_caps::site_code.eq(site),
                admission_time_model_caps::model.eq(model),
                admission_time_model_caps::max_pupils.eq(max),
                admission_time_model_caps::institution_code.eq(&round.institution_code),
                admission_time_model_caps::province_code.eq(""),
            )
        })
        .collect();
    diesel::insert_into(admission_time_model_caps::table).values(caps).execute(conn).await?;
    Ok(())
}

pub async fn sites(conn: &mut AsyncPgConnection, round: i64) -> QueryResult<Vec<RoundSiteRow>> {
    admission_round_sites::table
        .filter(admission_round_sites::round_id.eq(round))
        .order(admission_round_sites::position)
        .select(RoundSiteRow::as_select())
        .load(conn)
        .await
}

pub async fn set_places(conn: &mut AsyncPgConnection, round: i64, site: &str, places: i32) -> QueryResult<usize> {
    diesel::update(admission_round_sites::table.find((round, site)))
        .set(admission_round_sites::places.eq(places))
        .execute(conn)
        .await
}

/// (site, model, max) of the round's caps.
pub async fn caps(conn: &mut AsyncPgConnection, round: i64) -> QueryResult<Vec<(String, String, i32)>> {
    admission_time_model_caps::table
        .filter(admission_time_model_caps::round_id.eq(round))
        .order((admission_time_model_caps::site_code, admission_time_model_caps::model))
        .select((
            admission_time_model_caps::site_code,
            admission_time_model_caps::model,
            admission_time_model_caps::max_pupils,
        ))
        .load(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admission_stradario, check_for_backend(diesel::pg::Pg))]
pub struct StradarioRow {
    pub street: String,
    pub from_number: Option<i32>,
    pub to_number: Option<i32>,
    pub parity: String,
    pub site_code: String,
}

/// Replaces the round's street list.
pub async fn replace_stradario(
    conn: &mut AsyncPgConnection,
    round: &RoundRow,
    entries: &[(StradarioRow, String)],
) -> QueryResult<usize> {
    diesel::delete(admission_stradario::table.filter(admission_stradario::round_id.eq(round.id))).execute(conn).await?;
    let rows: Vec<_> = entries
        .iter()
        .map(|(e, key)| {
            (
                admission_stradario::round_id.eq(round.id),
                admission_stradario::institution_code.eq(&round.institution_code),
                admission_stradario::province_code.eq(""),
                admission_stradario::street.eq(&e.street),
                admission_stradario::street_key.eq(key),
                admission_stradario::from_number.eq(e.from_number),
                admission_stradario::to_number.eq(e.to_number),
                admission_stradario::parity.eq(&e.parity),
                admission_stradario::site_code.eq(&e.site_code),
            )
        })
        .collect();
    diesel::insert_into(admission_stradario::table).values(rows).execute(conn).await
}

pub async fn stradario(conn: &mut AsyncPgConnection, round: i64) -> QueryResult<Vec<StradarioRow>> {
    admission_stradario::table
        .filter(admission_stradario::round_id.eq(round))
        .order(admission_stradario::id)
        .select(StradarioRow::as_select())
        .load(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admission_applications, check_for_backend(diesel::pg::Pg))]
pub struct ApplicationRow {
    pub id: i64,
    pub round_id: i64,
    pub institution_code: String,
    pub province_code: String,
    pub external_ref: String,
    pub public_code: String,
    pub first_name: String,
    pub last_name: String,
    pub tax_code: String,
    pub birth_date: NaiveDate,
    pub sex: String,
    pub residence_municipality: String,
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub catchment_site: Option<String>,
    pub catchment_resolution: String,
    pub catchment_reason: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub site_preferences: Vec<String>,
    pub time_model_preferences: Vec<String>,
    pub disability_declared: bool,
    pub disability_certified_on: Option<NaiveDate>,
    pub certification_attachment: Option<uuid::Uuid>,
    pub disability_verified: bool,
    pub inclusion_assessment: String,
    pub status: String,
    pub status_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub version: i32,
    /// R-DOC-1: when the two photos and the vaccination booklet arrived.
    pub photos_received_on: Option<NaiveDate>,
    pub vaccination_booklet_received_on: Option<NaiveDate>,
}

/// What registering an application stores.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = admission_applications)]
pub struct NewApplication {
    pub round_id: i64,
    pub institution_code: String,
    pub province_code: String,
    pub external_ref: String,
    pub public_code: String,
    pub first_name: String,
    pub last_name: String,
    pub tax_code: String,
    pub birth_date: NaiveDate,
    pub sex: String,
    pub residence_municipality: String,
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub catchment_site: Option<String>,
    pub catchment_resolution: String,
    pub submitted_at: DateTime<Utc>,
    pub site_preferences: Vec<String>,
    pub time_model_preferences: Vec<String>,
    pub disability_declared: bool,
    pub disability_certified_on: Option<NaiveDate>,
}

pub async fn insert_application(conn: &mut AsyncPgConnection, a: &NewApplication) -> QueryResult<ApplicationRow> {
    diesel::insert_into(admission_applications::table)
        .values(a)
        .returning(ApplicationRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn applications(conn: &mut AsyncPgConnection, round: i64) -> QueryResult<Vec<ApplicationRow>> {
    admission_applications::table
        .filter(admission_applications::round_id.eq(round))
        .order(admission_applications::id)
        .select(ApplicationRow::as_select())
        .load(conn)
        .await
}

pub async fn application(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<ApplicationRow>> {
    admission_applications::table.find(id).select(ApplicationRow::as_select()).first(conn).await.optional()
}

/// The status of the round's application for this tax code, if any.
pub async fn status_of_tax_code(
    conn: &mut AsyncPgConnection,
    round: i64,
    tax_code: &str,
) -> QueryResult<Option<String>> {
    admission_applications::table
        .filter(admission_applications::round_id.eq(round))
        .filter(admission_applications::tax_code.eq(tax_code))
        .select(admission_applications::status)
        .first(conn)
        .await
        .optional()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admission_claims, check_for_backend(diesel::pg::Pg))]
pub struct ClaimRow {
    pub application_id: i64,
    pub criterion: String,
    pub quantity: i32,
    pub status: String,
    pub reason: Option<String>,
}

pub async fn insert_claims(
    conn: &mut AsyncPgConnection,
    app: &ApplicationRow,
    claims: &[(String, i32)],
) -> QueryResult<usize> {
    let rows: Vec<_> = claims
        .iter()
        .map(|(criterion, quantity)| {
            (
                admission_claims::application_id.eq(app.id),
                admission_claims::criterion.eq(criterion),
                admission_claims::quantity.eq(quantity),
                admission_claims::institution_code.eq(&app.institution_code),
                admission_claims::province_code.eq(""),
            )
        })
        .collect();
    diesel::insert_into(admission_claims::table).values(rows).execute(conn).await
}

/// The claims of every application of a round.
pub async fn claims(conn: &mut AsyncPgConnection, round: i64) -> QueryResult<Vec<ClaimRow>> {
    admission_claims::table
        .inner_join(admission_applications::table)
        .filter(admission_applications::round_id.eq(round))
        .order((admission_claims::application_id, admission_claims::criterion))
        .select(ClaimRow::as_select())
        .load(conn)
        .await
}

pub async fn set_claim(
    conn: &mut AsyncPgConnection,
    application: i64,
    criterion: &str,
    status: &str,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(admission_claims::table.find((application, criterion)))
        .set((
            admission_claims::status.eq(status),
            admission_claims::reason.eq(reason),
            admission_claims::checked_at.eq(at),
        ))
        .execute(conn)
        .await
}

/// The sites of an institution that teach this order.
pub async fn institution_sites(
    conn: &mut AsyncPgConnection,
    institution: &str,
    order: &str,
) -> QueryResult<Vec<String>> {
    use crate::db::schema::sites;
    sites::table
        .filter(sites::institution_code.eq(institution))
        .filter(sites::school_order.eq(order))
        .order(sites::code)
        .select(sites::code)
        .load(conn)
        .await
}

pub async fn institution_municipality(conn: &mut AsyncPgConnection, institution: &str) -> QueryResult<Option<String>> {
    use crate::db::schema::institutions;
    institutions::table.find(institution).select(institutions::municipality_istat).first(conn).await.optional()
}

pub async fn set_catchment(
    conn: &mut AsyncPgConnection,
    application: i64,
    site: Option<&str>,
    how: &str,
    reason: Option<&str>,
) -> QueryResult<usize> {
    diesel::update(admission_applications::table.find(application))
        .set((
            admission_applications::catchment_site.eq(site),
            admission_applications::catchment_resolution.eq(how),
            admission_applications::catchment_reason.eq(reason),
        ))
        .execute(conn)
        .await
}

pub async fn set_draw_seed(
    conn: &mut AsyncPgConnection,
    round: i64,
    seed: &str,
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(admission_rounds::table.find(round).filter(admission_rounds::draw_seed.is_null()))
        .set((admission_rounds::draw_seed.eq(seed), admission_rounds::draw_seed_set_at.eq(at)))
        .execute(conn)
        .await
}

/// Records the provisional publication at `at`: the complaint deadline is
/// the end (Italian time) of the tenth day after it.
/// A later complaint deadline.
pub async fn set_complaint_deadline(
    conn: &mut AsyncPgConnection,
    round: i64,
    until: DateTime<Utc>,
) -> QueryResult<RoundRow> {
    diesel::update(admission_rounds::table.find(round))
        .set(admission_rounds::complaint_deadline.eq(until))
        .returning(RoundRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn publish(conn: &mut AsyncPgConnection, round: i64, at: DateTime<Utc>) -> QueryResult<RoundRow> {
    let deadline = crate::rules::rome::end_of_day_after(at, 10);
    diesel::update(admission_rounds::table.find(round))
        .set((admission_rounds::published_at.eq(at), admission_rounds::complaint_deadline.eq(deadline)))
        .returning(RoundRow::as_returning())
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admission_snapshots, check_for_backend(diesel::pg::Pg))]
pub struct SnapshotRow {
    pub id: i64,
    pub round_id: i64,
    pub stage: String,
    pub at: DateTime<Utc>,
    pub inputs: Value,
    pub outcome: Value,
    pub public_version: Value,
    pub inputs_hash: String,
    pub outcome_hash: String,
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_snapshot(
    conn: &mut AsyncPgConnection,
    round: &RoundRow,
    stage: &str,
    at: DateTime<Utc>,
    inputs: &Value,
    outcome: &Value,
    public_version: &Value,
    hashes: (&str, &str),
) -> QueryResult<SnapshotRow> {
    diesel::insert_into(admission_snapshots::table)
        .values((
            admission_snapshots::round_id.eq(round.id),
            admission_snapshots::institution_code.eq(&round.institution_code),
            admission_snapshots::province_code.eq(""),
            admission_snapshots::stage.eq(stage),
            admission_snapshots::at.eq(at),
            admission_snapshots::inputs.eq(inputs),
            admission_snapshots::outcome.eq(outcome),
            admission_snapshots::public_version.eq(public_version),
            admission_snapshots::inputs_hash.eq(hashes.0),
            admission_snapshots::outcome_hash.eq(hashes.1),
        ))
        .returning(SnapshotRow::as_returning())
        .get_result(conn)
        .await
}

/// The round's snapshot of a stage, if published.
pub async fn snapshot(conn: &mut AsyncPgConnection, round: i64, stage: &str) -> QueryResult<Option<SnapshotRow>> {
    admission_snapshots::table
        .filter(admission_snapshots::round_id.eq(round))
        .filter(admission_snapshots::stage.eq(stage))
        .select(SnapshotRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Only the outcome of a stage's snapshot: what a round's current view
/// needs after the final ranking, without the stored inputs.
pub async fn snapshot_outcome(conn: &mut AsyncPgConnection, round: i64, stage: &str) -> QueryResult<Option<Value>> {
    admission_snapshots::table
        .filter(admission_snapshots::round_id.eq(round))
        .filter(admission_snapshots::stage.eq(stage))
        .select(admission_snapshots::outcome)
        .first(conn)
        .await
        .optional()
}

pub async fn snapshots(conn: &mut AsyncPgConnection, round: i64) -> QueryResult<Vec<SnapshotRow>> {
    admission_snapshots::table
        .filter(admission_snapshots::round_id.eq(round))
        .order(admission_snapshots::id)
        .select(SnapshotRow::as_select())
        .load(conn)
        .await
}

pub async fn verify_disability(conn: &mut AsyncPgConnection, application: i64) -> QueryResult<usize> {
    diesel::update(admission_applications::table.find(application))
        .set(admission_applications::disability_verified.eq(true))
        .execute(conn)
        .await
}

/// Moves an active application out of the round for good; 0 if it was not active.
pub async fn leave(
    conn: &mut AsyncPgConnection,
    application: i64,
    status: &str,
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(admission_applications::table.find(application).filter(admission_applications::status.eq("active")))
        .set((
            admission_applications::status.eq(status),
            admission_applications::status_at.eq(at),
            admission_applications::version.eq(admission_applications::version + 1),
        ))
        .execute(conn)
        .await
}

/// Records the final approval at `at`: the public version is posted to the
/// end (Italian time) of the fifteenth day after it (R-FIN-2, A-4).
pub async fn approve(conn: &mut AsyncPgConnection, round: i64, at: DateTime<Utc>) -> QueryResult<RoundRow> {
    let until = crate::rules::rome::end_of_day_after(at, 15);
    diesel::update(admission_rounds::table.find(round).filter(admission_rounds::approved_at.is_null()))
        .set((admission_rounds::approved_at.eq(at), admission_rounds::posted_until.eq(until)))
        .returning(RoundRow::as_returning())
        .get_result(conn)
        .await
}

/// Where a pupil was placed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admission_placements, check_for_backend(diesel::pg::Pg))]
pub struct PlacementRow {
    pub application_id: i64,
    pub round_id: i64,
    pub institution_code: String,
    pub province_code: String,
    pub site_code: String,
    pub time_model: String,
    pub preference_rank: Option<i32>,
    pub via: String,
    pub placed_at: DateTime<Utc>,
}

pub async fn insert_placements(conn: &mut AsyncPgConnection, rows: &[PlacementRow]) -> QueryResult<usize> {
    let mut n = 0;
    // Chunks keep each statement under PostgreSQL's bind limit.
    for chunk in rows.chunks(1000) {
        n += diesel::insert_into(admission_placements::table).values(chunk).execute(conn).await?;
    }
    Ok(n)
}

pub async fn placements(conn: &mut AsyncPgConnection, round: i64) -> QueryResult<Vec<PlacementRow>> {
    admission_placements::table
        .filter(admission_placements::round_id.eq(round))
        .order(admission_placements::application_id)
        .select(PlacementRow::as_select())
        .load(conn)
        .await
}

/// The days the enrolment documents arrived (R-DOC-1).
pub async fn set_enrolment_documents(
    conn: &mut AsyncPgConnection,
    application: i64,
    photos: Option<NaiveDate>,
    booklet: Option<NaiveDate>,
) -> QueryResult<usize> {
    use admission_applications as a;
    diesel::update(a::table.find(application))
        .set((a::photos_received_on.eq(photos), a::vaccination_booklet_received_on.eq(booklet)))
        .execute(conn)
        .await
}

/// Moves a placement out of the current placements into the revocations
/// whether there was one.
pub async fn revoke_placement(
    conn: &mut AsyncPgConnection,
    application: i64,
    at: DateTime<Utc>,
    reason: &str,
) -> QueryResult<bool> {
    use super::schema::admission_revocations as r;
    let Some(p) = diesel::delete(admission_placements::table.find(application))
        .returning(PlacementRow::as_returning())
        .get_result(conn)
        .await
        .optional()?
    else {
        return Ok(false);
    };
    diesel::insert_into(r::table)
        .values((
            r::application_id.eq(p.application_id),
            r::round_id.eq(p.round_id),
            r::institution_code.eq(&p.institution_code),
            r::province_code.eq(&p.province_code),
            r::site_code.eq(&p.site_code),
            r::time_model.eq(&p.time_model),
            r::via.eq(&p.via),
            r::placed_at.eq(p.placed_at),
            r::revoked_at.eq(at),
            r::reason.eq(reason),
        ))
        .execute(conn)
        .await?;
    Ok(true)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admission_complaints, check_for_backend(diesel::pg::Pg))]
pub struct ComplaintRow {
    pub id: i64,
    pub application_id: i64,
    pub round_id: i64,
    pub institution_code: String,
    pub province_code: String,
    pub received_at: DateTime<Utc>,
    pub text: String,
    pub decision: String,
    pub reason: Option<String>,
    pub corrections: Option<Value>,
    pub decided_at: Option<DateTime<Utc>>,
}

pub async fn insert_complaint(
    conn: &mut AsyncPgConnection,
    app: &ApplicationRow,
    received_at: DateTime<Utc>,
    text: &str,
) -> QueryResult<ComplaintRow> {
    diesel::insert_into(admission_complaints::table)
        .values((
            admission_complaints::application_id.eq(app.id),
            admission_complaints::round_id.eq(app.round_id),
            admission_complaints::institution_code.eq(&app.institution_code),
            admission_complaints::province_code.eq(""),
            admission_complaints::received_at.eq(received_at),
            admission_complaints::text.eq(text),
        ))
        .returning(ComplaintRow::as_returning())
        .get_result(conn)
        .await
}

/// A complaint, locked for its decision.
pub async fn complaint(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<ComplaintRow>> {
    admission_complaints::table.find(id).for_update().select(ComplaintRow::as_select()).first(conn).await.optional()
}

pub async fn complaints(conn: &mut AsyncPgConnection, round: i64) -> QueryResult<Vec<ComplaintRow>> {
    admission_complaints::table
        .filter(admission_complaints::round_id.eq(round))
        .order(admission_complaints::id)
        .select(ComplaintRow::as_select())
        .load(conn)
        .await
}

pub async fn decide_complaint(
    conn: &mut AsyncPgConnection,
    id: i64,
    decision: &str,
    reason: Option<&str>,
    corrections: Option<&Value>,
    at: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(admission_complaints::table.find(id).filter(admission_complaints::decision.eq("pending")))
        .set((
            admission_complaints::decision.eq(decision),
            admission_complaints::reason.eq(reason),
            admission_complaints::corrections.eq(corrections),
            admission_complaints::decided_at.eq(at),
        ))
        .execute(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admission_nulla_osta, check_for_backend(diesel::pg::Pg))]
pub struct NullaOstaRow {
    pub id: i64,
    pub application_id: i64,
    pub round_id: i64,
    pub institution_code: String,
    pub province_code: String,
    pub requested_at: DateTime<Utc>,
    pub reason: String,
    pub destination: String,
    pub due_on: NaiveDate,
    pub decision: String,
    pub decision_reason: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub overdue: Option<bool>,
}

/// A request of nulla osta, due five days after the day it was made
/// (Italian calendar, R-NO-1); None when one is pending already.
pub async fn insert_nulla_osta(
    conn: &mut AsyncPgConnection,
    app: &ApplicationRow,
    requested_at: DateTime<Utc>,
    reason: &str,
    destination: &str,
) -> QueryResult<Option<NullaOstaRow>> {
    let due_on = crate::rules::rome::date(requested_at) + chrono::Duration::days(5);
    let values = (
        admission_nulla_osta::application_id.eq(app.id),
        admission_nulla_osta::round_id.eq(app.round_id),
        admission_nulla_osta::institution_code.eq(app.institution_code.clone()),
        admission_nulla_osta::province_code.eq(""),
        admission_nulla_osta::requested_at.eq(requested_at),
        admission_nulla_osta::reason.eq(reason.to_owned()),
        admission_nulla_osta::destination.eq(destination.to_owned()),
        admission_nulla_osta::due_on.eq(due_on),
    );
    let inserted = crate::db::unless_taken(conn, move |c| {
        Box::pin(async move {
            diesel::insert_into(admission_nulla_osta::table)
                .values(values)
                .returning(NullaOstaRow::as_returning())
                .get_result(c)
                .await
        })
    })
    .await?;
    Ok(inserted.ok())
}

pub async fn nulla_osta(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<NullaOstaRow>> {
    admission_nulla_osta::table.find(id).for_update().select(NullaOstaRow::as_select()).first(conn).await.optional()
}

pub async fn nulla_osta_requests(conn: &mut AsyncPgConnection, round: i64) -> QueryResult<Vec<NullaOstaRow>> {
    admission_nulla_osta::table
        .filter(admission_nulla_osta::round_id.eq(round))
        .order(admission_nulla_osta::id)
        .select(NullaOstaRow::as_select())
        .load(conn)
        .await
}

pub async fn decide_nulla_osta(
    conn: &mut AsyncPgConnection,
    id: i64,
    decision: &str,
    reason: Option<&str>,
    at: DateTime<Utc>,
    overdue: bool,
) -> QueryResult<NullaOstaRow> {
    diesel::update(admission_nulla_osta::table.find(id))
        .set((
            admission_nulla_osta::decision.eq(decision),
            admission_nulla_osta::decision_reason.eq(reason),
            admission_nulla_osta::decided_at.eq(at),
            admission_nulla_osta::overdue.eq(overdue),
        ))
        .returning(NullaOstaRow::as_returning())
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admission_invitations, check_for_backend(diesel::pg::Pg))]
pub struct InvitationRow {
    pub id: i64,
    pub application_id: i64,
    pub round_id: i64,
    pub institution_code: String,
    pub province_code: String,
    pub issued_by: i64,
    pub issued_at: DateTime<Utc>,
    pub note: String,
    pub decision: String,
    pub reason: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// The office's invitation; None when one is pending already.
pub async fn insert_invitation(
    conn: &mut AsyncPgConnection,
    app: &ApplicationRow,
    at: DateTime<Utc>,
    note: &str,
) -> QueryResult<Option<InvitationRow>> {
    let values = (
        admission_invitations::application_id.eq(app.id),
        admission_invitations::round_id.eq(app.round_id),
        admission_invitations::institution_code.eq(app.institution_code.clone()),
        admission_invitations::province_code.eq(""),
        admission_invitations::issued_at.eq(at),
        admission_invitations::note.eq(note.to_owned()),
    );
    let inserted = crate::db::unless_taken(conn, move |c| {
        Box::pin(async move {
            diesel::insert_into(admission_invitations::table)
                .values(values)
                .returning(InvitationRow::as_returning())
                .get_result(c)
                .await
        })
    })
    .await?;
    Ok(inserted.ok())
}

pub async fn invitation(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<InvitationRow>> {
    admission_invitations::table.find(id).for_update().select(InvitationRow::as_select()).first(conn).await.optional()
}

pub async fn invitations(conn: &mut AsyncPgConnection, round: i64) -> QueryResult<Vec<InvitationRow>> {
    admission_invitations::table
        .filter(admission_invitations::round_id.eq(round))
        .order(admission_invitations::id)
        .select(InvitationRow::as_select())
        .load(conn)
        .await
}

pub async fn decide_invitation(
    conn: &mut AsyncPgConnection,
    id: i64,
    decision: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> QueryResult<InvitationRow> {
    diesel::update(admission_invitations::table.find(id))
        .set((
            admission_invitations::decision.eq(decision),
            admission_invitations::reason.eq(reason),
            admission_invitations::decided_at.eq(at),
        ))
        .returning(InvitationRow::as_returning())
        .get_result(conn)
        .await
}

pub async fn set_assessment(conn: &mut AsyncPgConnection, application: i64, assessment: &str) -> QueryResult<usize> {
    diesel::update(
        admission_applications::table
            .find(application)
            .filter(admission_applications::inclusion_assessment.eq("pending")),
    )
    .set(admission_applications::inclusion_assessment.eq(assessment))
    .execute(conn)
    .await
}

/// Sets a disability's certificate date and verifies it (a complaint's correction).
pub async fn certify_disability(
    conn: &mut AsyncPgConnection,
    application: i64,
    on: NaiveDate,
    document: uuid::Uuid,
    verified: bool,
) -> QueryResult<usize> {
    diesel::update(admission_applications::table.find(application))
        .set((
            admission_applications::disability_declared.eq(true),
            admission_applications::disability_certified_on.eq(on),
            admission_applications::certification_attachment.eq(document),
            admission_applications::disability_verified.eq(verified),
        ))
        .execute(conn)
        .await
}

/// The rounds of a school year the caller may read, by institution.
pub async fn rounds_of_year(conn: &mut AsyncPgConnection, school_year: i32) -> QueryResult<Vec<RoundRow>> {
    admission_rounds::table
        .filter(admission_rounds::school_year.eq(school_year))
        .order((admission_rounds::institution_code, admission_rounds::school_order))
        .select(RoundRow::as_select())
        .load(conn)
        .await
}
