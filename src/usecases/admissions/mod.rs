//! Process 3's use cases (seed 002): points tables, rounds, the street
//! list, applications, and the round as the engine sees it now. Each runs
//! in the request's transaction under row security, checks the spec's rules
//! (answering their codes), and records the audit trail; the ranking itself
//! is computed by the pure engine (`rules::admissions`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::authz::Caller;
use crate::db::RequestDb;
use crate::db::admissions::{self as q, ApplicationRow, PointsTableRow, RoundFields, RoundRow, StradarioRow};
use crate::db::audit::{self, Event};
use crate::error::{AppError, AppResult};
use crate::rules::admissions::after_final::{self, Frozen};
use crate::rules::admissions::points::{
    self, Claim, ClaimStatus, Criterion, CriterionKind, Evidence, Points, PointsLine,
};
use crate::rules::admissions::round::{self as rround, State, Timeline};
use crate::rules::admissions::stradario::{self, Entry, Parity};
use crate::rules::admissions::time_models::MAX_NON_DEFAULT_MODELS;
use crate::rules::admissions::{
    self as engine, Admission, Applicant, Assessment, Outcome, RoundConfig, SiteConfig, Status, Via, seed_commitment,
};
use crate::rules::tax_code;

mod after_publication;
pub use after_publication::*;

fn bad(field: &str, reason: impl Into<String>) -> AppError {
    AppError::bad_input(field, reason)
}

/// The orders a round can be for, as stored.
pub const ORDERS: [&str; 3] = ["infanzia", "primaria", "secondaria_primo_grado"];

fn event(
    action: &'static str,
    kind: &'static str,
    id: i64,
    institution: &str,
    province: &str,
    current: Value,
) -> Event {
    Event {
        action,
        object_kind: kind,
        object_id: Some(id.to_string()),
        province: Some(province.to_owned()),
        institution: Some(institution.to_owned()),
        current: Some(current),
        ..Event::default()
    }
}

/// An act on a round, for the audit trail.
fn round_event(action: &'static str, r: &RoundRow, current: Value) -> Event {
    event(action, "admission_round", r.id, &r.institution_code, &r.province_code, current)
}

/// A free text of 1 to `max` characters, trimmed.
fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(bad(field, format!("1 to {max} characters")));
    }
    Ok(v.to_owned())
}

/// A document date entered by the school is never in the future (§6).
fn not_future(field: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> AppResult<()> {
    if at > now {
        return Err(bad(field, "cannot be in the future"));
    }
    Ok(())
}

fn closed() -> AppError {
    AppError::rule("ADMISSIONS_CLOSED", "the round's waiting list is closed (31 August)")
}

fn removed() -> AppError {
    AppError::rule("APPLICATION_REMOVED", "the application left the round for good")
}

fn app_event(action: &'static str, app: &ApplicationRow, current: Value) -> Event {
    event(action, "admission_application", app.id, &app.institution_code, &app.province_code, current)
}

/// Records an act on an application; when it removed the application from
/// the round, the event keeps the status it had.
async fn record_decision(
    c: &mut diesel_async::AsyncPgConnection,
    action: &'static str,
    app: &ApplicationRow,
    current: Value,
    removed: bool,
) -> AppResult<()> {
    let previous = removed.then(|| json!({ "status": app.status }));
    audit::record(c, vec![Event { previous, ..app_event(action, app, current) }]).await?;
    Ok(())
}

/// Locks a round for the rest of the request, so that what an act decides
/// on is what it read.
async fn lock_round(db: &RequestDb, round: i64) -> AppResult<()> {
    db.try_run(move |c| Box::pin(async move { q::round(c, round, true).await?.ok_or(AppError::NotFound).map(drop) }))
        .await
}

/// The caller's own institution: rounds belong to schools, and a school
/// (or its head teacher) acts only for its own.
fn own_institution(caller: &Caller, institution: &str) -> AppResult<()> {
    match caller.school.as_deref() {
        Some(s) if s == institution => Ok(()),
        _ => Err(AppError::NotFound),
    }
}

/// An application that takes a document: the caller's school's, and still
/// in the round (a removed application takes nothing more).
pub async fn document_parent(
    conn: &mut diesel_async::AsyncPgConnection,
    caller: &Caller,
    id: i64,
) -> AppResult<ApplicationRow> {
    let app = q::application(conn, id).await?.ok_or(AppError::NotFound)?;
    own_institution(caller, &app.institution_code)?;
    if app.status != "active" {
        return Err(removed());
    }
    Ok(app)
}

// Points tables.

/// A criterion as entered.
#[derive(Debug, Clone)]
pub struct CriterionInput {
    pub code: String,
    pub label: String,
    pub kind: CriterionKind,
    pub points: f64,
    pub per_unit: Option<f64>,
    pub max_units: Option<u32>,
    pub evidence: Evidence,
    pub health_related: bool,
}

fn criteria(input: &[CriterionInput]) -> AppResult<Vec<Criterion>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(input.len());
    for (i, c) in input.iter().enumerate() {
        let field = |f: &str| format!("criteria[{i}].{f}");
        let code = c.code.trim();
        if code.is_empty()
            || code.len() > 40
            || !code.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        {
            return Err(bad(&field("code"), "1 to 40 letters, digits, '-' or '_'"));
        }
        if !seen.insert(code.to_owned()) {
            return Err(bad(&field("code"), format!("{code} appears twice")));
        }
        if c.label.trim().is_empty() || c.label.len() > 300 {
            return Err(bad(&field("label"), "1 to 300 characters"));
        }
        let value = match c.kind {
            CriterionKind::Flag => c.points,
            CriterionKind::Count => c.per_unit.unwrap_or(c.points),
        };
        let points = Points::from_decimal(value)
            .filter(|p| p.0 >= 0 && p.0 <= 100_000)
            .ok_or_else(|| bad(&field("points"), "a number from 0 to 1000 with at most two decimals"))?;
        let max_units = match c.kind {
            CriterionKind::Flag => 1,
            CriterionKind::Count => c
                .max_units
                .filter(|m| (1..=20).contains(m))
                .ok_or_else(|| bad(&field("maxUnits"), "a COUNT criterion needs 1 to 20 units"))?,
        };
        out.push(Criterion {
            code: code.to_owned(),
            label: c.label.trim().to_owned(),
            kind: c.kind,
            points,
            max_units,
            evidence: c.evidence,
            health_related: c.health_related,
        });
    }
    if out.is_empty() {
        return Err(bad("criteria", "a points table needs at least one criterion"));
    }
    Ok(out)
}

pub fn table_criteria(row: &PointsTableRow) -> Vec<Criterion> {
    serde_json::from_value(row.criteria.clone()).unwrap_or_default()
}

pub async fn create_points_table(
    db: &RequestDb,
    caller: &Caller,
    institution: String,
    order: String,
    input: Vec<CriterionInput>,
) -> AppResult<PointsTableRow> {
    own_institution(caller, &institution)?;
    if !ORDERS.contains(&order.as_str()) {
        return Err(bad("input.order", "INFANZIA, PRIMARIA or SECONDARIA_PRIMO_GRADO"));
    }
    let criteria = serde_json::to_value(criteria(&input)?).map_err(AppError::internal)?;
    db.try_run(move |c| {
        Box::pin(async move {
            let row = q::insert_points_table(c, &institution, &order, &criteria, None).await?;
            let current = json!({ "order": row.school_order, "version": row.version, "criteria": row.criteria });
            let e = event("create", "points_table", row.id, &row.institution_code, &row.province_code, current);
            audit::record(c, vec![e]).await?;
            Ok(row)
        })
    })
    .await
}

fn frozen() -> AppError {
    AppError::rule("POINTS_TABLE_FROZEN", "an approved points table never changes: create a new version")
}

pub async fn update_points_table(
    db: &RequestDb,
    caller: &Caller,
    id: i64,
    input: Vec<CriterionInput>,
) -> AppResult<PointsTableRow> {
    let caller = caller.clone();
    let criteria = serde_json::to_value(criteria(&input)?).map_err(AppError::internal)?;
    db.try_run(move |c| {
        Box::pin(async move {
            let old = q::points_table(c, id).await?.ok_or(AppError::NotFound)?;
            own_institution(&caller, &old.institution_code)?;
            if old.status == "approved" {
                return Err(frozen());
            }
            let row =
                q::set_criteria(c, id, &criteria).await.map_err(|e| if q::frozen(&e) { frozen() } else { e.into() })?;
            let e = event(
                "update",
                "points_table",
                id,
                &row.institution_code,
                &row.province_code,
                json!({ "criteria": row.criteria }),
            );
            audit::record(c, vec![Event { previous: Some(json!({ "criteria": old.criteria })), ..e }]).await?;
            Ok(row)
        })
    })
    .await
}

pub async fn approve_points_table(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    id: i64,
    council_date: NaiveDate,
    resolution: String,
) -> AppResult<PointsTableRow> {
    let caller = caller.clone();
    let resolution = resolution.trim().to_owned();
    if resolution.is_empty() || resolution.len() > 50 {
        return Err(bad("resolutionNumber", "1 to 50 characters"));
    }
    if council_date > now.date_naive() {
        return Err(bad("councilDate", "cannot be in the future"));
    }
    db.try_run(move |c| {
        Box::pin(async move {
            let old = q::points_table(c, id).await?.ok_or(AppError::NotFound)?;
            own_institution(&caller, &old.institution_code)?;
            if old.status == "approved" {
                return Err(frozen());
            }
            let row = q::approve_points_table(c, id, council_date, &resolution, now).await?;
            let current = json!({ "status": "approved", "councilDate": council_date, "resolutionNumber": resolution });
            audit::record(
                c,
                vec![event("approve", "points_table", id, &row.institution_code, &row.province_code, current)],
            )
            .await?;
            Ok(row)
        })
    })
    .await
}

// Rounds.

#[derive(Debug, Clone)]
pub struct TimeModelInput {
    pub code: String,
    pub hours: u32,
}

#[derive(Debug, Clone)]
pub struct RoundInput {
    pub institution: String,
    pub order: String,
    pub school_year: i32,
    pub window_opens_at: DateTime<Utc>,
    pub window_closes_at: DateTime<Utc>,
    pub mandatory_born_by: NaiveDate,
    pub early_born_by: NaiveDate,
    pub resident_municipalities: Option<Vec<String>>,
    pub sites: Vec<(String, u32)>,
    pub caps: Vec<(String, String, u32)>,
    pub points_table_id: i64,
    pub time_models: Vec<TimeModelInput>,
    pub default_time_model: String,
    pub min_pupils_per_time_model: Option<u32>,
    pub redistribute_beyond_preferences: bool,
    pub provisional_due_on: Option<NaiveDate>,
    pub final_due_on: NaiveDate,
    pub waiting_list_closes_at: DateTime<Utc>,
    pub enrolment_documents_due_on: Option<NaiveDate>,
    pub draw_seed_hash: Option<String>,
}

/// The checks of a round's configuration that need no database.
fn round_fields(input: &RoundInput) -> AppResult<RoundFields> {
    if input.window_closes_at <= input.window_opens_at {
        return Err(bad("input.windowClosesAt", "must come after windowOpensAt"));
    }
    if input.early_born_by < input.mandatory_born_by {
        return Err(bad("input.earlyBornBy", "cannot be before mandatoryBornBy"));
    }
    if input.waiting_list_closes_at <= input.window_closes_at {
        return Err(bad("input.waitingListClosesAt", "must come after the window closes"));
    }
    let mut codes = BTreeSet::new();
    for (i, m) in input.time_models.iter().enumerate() {
        let code = m.code.trim();
        if code.is_empty() || code.len() > 10 || !codes.insert(code.to_owned()) {
            return Err(bad(&format!("input.timeModels[{i}].code"), "a short code, once (e.g. 27H)"));
        }
        if !(10..=50).contains(&m.hours) {
            return Err(bad(&format!("input.timeModels[{i}].hours"), "10 to 50 weekly hours"));
        }
    }
    if codes.is_empty() || codes.len() > MAX_NON_DEFAULT_MODELS + 1 {
        return Err(bad("input.timeModels", format!("1 to {} time models", MAX_NON_DEFAULT_MODELS + 1)));
    }
    if !codes.contains(input.default_time_model.trim()) {
        return Err(bad("input.defaultTimeModel", "must be one of the round's time models"));
    }
    let min = input.min_pupils_per_time_model.unwrap_or_else(|| rround::default_min_pupils(&input.order));
    if !(1..=40).contains(&min) {
        return Err(bad("input.minPupilsPerTimeModel", "1 to 40"));
    }
    if let Some(h) = &input.draw_seed_hash
        && !(h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
    {
        return Err(bad("input.drawSeedHash", "the lowercase hex SHA-256 of the seed (64 characters)"));
    }
    let closes = input.window_closes_at.date_naive();
    let provisional_due_on = input.provisional_due_on.unwrap_or(closes + chrono::Duration::days(30));
    if provisional_due_on < closes || input.final_due_on < provisional_due_on {
        return Err(bad("input.finalDueOn", "due dates come after the window, the final after the provisional"));
    }
    Ok(RoundFields {
        window_opens_at: input.window_opens_at,
        window_closes_at: input.window_closes_at,
        mandatory_born_by: input.mandatory_born_by,
        early_born_by: input.early_born_by,
        resident_municipalities: Vec::new(),
        points_table_id: input.points_table_id,
        time_models: json!(
            input.time_models.iter().map(|m| json!({ "code": m.code.trim(), "hours": m.hours })).collect::<Vec<_>>()
        ),
        default_time_model: input.default_time_model.trim().to_owned(),
        min_pupils_per_time_model: min as i32,
        redistribute_beyond_preferences: input.redistribute_beyond_preferences,
        provisional_due_on,
        final_due_on: input.final_due_on,
        waiting_list_closes_at: input.waiting_list_closes_at,
        enrolment_documents_due_on: input.enrolment_documents_due_on,
        draw_seed_hash: input.draw_seed_hash.clone(),
    })
}

/// The checks that read the territory and the points table.
async fn check_round(
    c: &mut diesel_async::AsyncPgConnection,
    institution: &str,
    order: &str,
    fields: &mut RoundFields,
    input: &RoundInput,
) -> AppResult<()> {
    let table =
        q::points_table(c, fields.points_table_id).await?.ok_or_else(|| bad("input.pointsTableId", "not found"))?;
    if table.institution_code != institution || table.school_order != order {
        return Err(bad("input.pointsTableId", "a table of the same institution and order"));
    }
    if table.status != "approved" {
        return Err(AppError::rule("POINTS_TABLE_NOT_APPROVED", "the round needs a points table the council approved"));
    }
    let own = q::institution_sites(c, institution, order).await?;
    let mut seen = BTreeSet::new();
    for (i, (site, places)) in input.sites.iter().enumerate() {
        if !own.contains(site) || !seen.insert(site.clone()) {
            return Err(bad(
                &format!("input.sites[{i}].site"),
                format!("{site} is not a {order} site of {institution}, or is repeated"),
            ));
        }
        if *places > 1000 {
            return Err(bad(&format!("input.sites[{i}].places"), "0 to 1000"));
        }
    }
    if seen.is_empty() {
        return Err(bad("input.sites", "a round needs at least one site"));
    }
    let models: Vec<String> = input.time_models.iter().map(|m| m.code.trim().to_owned()).collect();
    for (i, (site, model, _)) in input.caps.iter().enumerate() {
        if !seen.contains(site) || !models.contains(model) || *model == fields.default_time_model {
            return Err(bad(
                &format!("input.timeModelCaps[{i}]"),
                "a site of the round and a model other than the default",
            ));
        }
    }
    let municipality = q::institution_municipality(c, institution).await?.ok_or(AppError::NotFound)?;
    fields.resident_municipalities =
        input.resident_municipalities.clone().filter(|m| !m.is_empty()).unwrap_or(vec![municipality]);
    Ok(())
}

pub async fn create_round(db: &RequestDb, caller: &Caller, input: RoundInput) -> AppResult<RoundRow> {
    own_institution(caller, &input.institution)?;
    if !ORDERS.contains(&input.order.as_str()) {
        return Err(bad("input.order", "INFANZIA, PRIMARIA or SECONDARIA_PRIMO_GRADO"));
    }
    let mut fields = round_fields(&input)?;
    db.try_run(move |c| {
        Box::pin(async move {
            check_round(c, &input.institution, &input.order, &mut fields, &input).await?;
            let (institution, order, year, f) = (input.institution.clone(), input.order.clone(), input.school_year, fields.clone());
            let round = crate::db::unless_taken(c, move |c| {
                Box::pin(async move { q::insert_round(c, &institution, &order, year, &f).await })
            })
                .await?
                .map_err(|_| AppError::Conflict(format!("{} already has a {} round for {}", input.institution, input.order, input.school_year)))?;
            let sites: Vec<(String, i32)> = input.sites.iter().map(|(s, p)| (s.clone(), *p as i32)).collect();
            let caps: Vec<(String, String, i32)> = input.caps.iter().map(|(s, m, x)| (s.clone(), m.clone(), *x as i32)).collect();
            q::replace_sites(c, &round, &sites, &caps).await?;
            let current = json!({ "order": round.school_order, "schoolYear": round.school_year, "sites": sites, "drawSeedHash": round.draw_seed_hash });
            audit::record(c, vec![round_event("create", &round, current)]).await?;
            Ok(round)
        })
    })
    .await
}

/// Changes a round's configuration. Before the window opens anything may
/// change; after, only places, due dates and the draw seed's commitment
/// (ROUND_FROZEN otherwise).
pub async fn update_round(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    id: i64,
    input: RoundInput,
) -> AppResult<RoundRow> {
    let caller = caller.clone();
    let mut fields = round_fields(&input)?;
    db.try_run(move |c| {
        Box::pin(async move {
            let old = q::round(c, id, true).await?.ok_or(AppError::NotFound)?;
            own_institution(&caller, &old.institution_code)?;
            if input.institution != old.institution_code
                || input.order != old.school_order
                || input.school_year != old.school_year
            {
                return Err(bad("input.institution", "a round keeps its institution, order and school year"));
            }
            check_round(c, &old.institution_code, &old.school_order, &mut fields, &input).await?;
            if now >= old.window_opens_at {
                let sites = q::sites(c, id).await?;
                let same_sites =
                    sites.iter().map(|s| s.site_code.as_str()).eq(input.sites.iter().map(|(s, _)| s.as_str()));
                let frozen_changed = fields.window_opens_at != old.window_opens_at
                    || fields.window_closes_at != old.window_closes_at
                    || fields.mandatory_born_by != old.mandatory_born_by
                    || fields.early_born_by != old.early_born_by
                    || fields.resident_municipalities != old.resident_municipalities
                    || fields.points_table_id != old.points_table_id
                    || fields.time_models != old.time_models
                    || fields.default_time_model != old.default_time_model
                    || fields.min_pupils_per_time_model != old.min_pupils_per_time_model
                    || fields.redistribute_beyond_preferences != old.redistribute_beyond_preferences
                    || fields.waiting_list_closes_at != old.waiting_list_closes_at
                    || !same_sites
                    || q::caps(c, id).await?
                        != input.caps.iter().map(|(s, m, x)| (s.clone(), m.clone(), *x as i32)).collect::<Vec<_>>();
                if frozen_changed {
                    return Err(AppError::rule(
                        "ROUND_FROZEN",
                        "the window has opened: only places, due dates and the draw seed's commitment change now",
                    ));
                }
                if old.draw_seed.is_some() && fields.draw_seed_hash != old.draw_seed_hash {
                    return Err(AppError::rule(
                        "DRAW_SEED_ALREADY_SET",
                        "the draw seed was fixed: its commitment stays",
                    ));
                }
            }
            check_places(c, &old, &input.sites).await?;
            let round = q::update_round(c, id, &fields).await?;
            let sites: Vec<(String, i32)> = input.sites.iter().map(|(s, p)| (s.clone(), *p as i32)).collect();
            let caps: Vec<(String, String, i32)> =
                input.caps.iter().map(|(s, m, x)| (s.clone(), m.clone(), *x as i32)).collect();
            q::replace_sites(c, &round, &sites, &caps).await?;
            let current = json!({ "version": round.version, "sites": sites });
            audit::record(c, vec![round_event("update", &round, current)]).await?;
            Ok(round)
        })
    })
    .await
}

/// After the final ranking places may grow, or shrink down to the pupils
/// admitted at the site (R-SITE-1).
async fn check_places(
    c: &mut diesel_async::AsyncPgConnection,
    r: &RoundRow,
    places: &[(String, u32)],
) -> AppResult<()> {
    if r.approved_at.is_none() {
        return Ok(());
    }
    let active: BTreeSet<i64> =
        q::applications(c, r.id).await?.iter().filter(|a| a.status == "active").map(|a| a.id).collect();
    let placed = q::placements(c, r.id).await?;
    for (site, n) in places {
        let admitted = placed.iter().filter(|p| &p.site_code == site && active.contains(&p.application_id)).count();
        if (*n as usize) < admitted {
            return Err(AppError::rule(
                "PLACES_BELOW_ADMITTED",
                format!("{admitted} pupils are admitted at {site}: places cannot go below"),
            ));
        }
    }
    Ok(())
}

pub async fn set_site_places(
    db: &RequestDb,
    caller: &Caller,
    round: i64,
    site: String,
    places: u32,
) -> AppResult<RoundRow> {
    let caller = caller.clone();
    if places > 1000 {
        return Err(bad("places", "0 to 1000"));
    }
    db.try_run(move |c| {
        Box::pin(async move {
            let r = q::round(c, round, true).await?.ok_or(AppError::NotFound)?;
            own_institution(&caller, &r.institution_code)?;
            check_places(c, &r, &[(site.clone(), places)]).await?;
            if q::set_places(c, round, &site, places as i32).await? == 0 {
                return Err(bad("site", "not a site of the round"));
            }
            let current = json!({ "site": site, "places": places });
            audit::record(c, vec![round_event("set_places", &r, current)]).await?;
            Ok(r)
        })
    })
    .await
}

/// A line of the street list as entered (from GraphQL or a CSV line).
#[derive(Debug, Clone)]
pub struct StradarioInput {
    pub street: String,
    pub from: Option<u32>,
    pub to: Option<u32>,
    pub parity: Parity,
    pub site: String,
}

/// Replaces the round's street list, all or nothing, and resolves again
/// the catchment of every resident application not resolved by hand.
pub async fn import_stradario(
    db: &RequestDb,
    caller: &Caller,
    round: i64,
    input: Vec<StradarioInput>,
) -> AppResult<usize> {
    let caller = caller.clone();
    let entries: Vec<Entry> = input
        .iter()
        .map(|e| Entry {
            street: e.street.trim().to_owned(),
            from: e.from,
            to: e.to,
            parity: e.parity,
            site: e.site.clone(),
        })
        .collect();
    for (i, e) in entries.iter().enumerate() {
        if e.street.is_empty() || e.street.len() > 200 {
            return Err(bad(&format!("entries[{i}].street"), "1 to 200 characters"));
        }
        if let (Some(f), Some(t)) = (e.from, e.to)
            && t < f
        {
            return Err(bad(&format!("entries[{i}].to"), "comes before from"));
        }
    }
    if let Some((a, b)) = stradario::overlap(&entries) {
        return Err(AppError::rule(
            "STRADARIO_OVERLAP",
            format!("entries {} and {} overlap on {}: nothing was imported", a + 1, b + 1, entries[a].street),
        ));
    }
    db.try_run(move |c| {
        Box::pin(async move {
            let r = q::round(c, round, true).await?.ok_or(AppError::NotFound)?;
            own_institution(&caller, &r.institution_code)?;
            let sites: Vec<String> = q::sites(c, round).await?.into_iter().map(|s| s.site_code).collect();
            if let Some(i) = entries.iter().position(|e| !sites.contains(&e.site)) {
                return Err(bad(&format!("entries[{i}].site"), "not a site of the round"));
            }
            let rows: Vec<(StradarioRow, String)> = entries
                .iter()
                .map(|e| {
                    let row = StradarioRow {
                        street: e.street.clone(),
                        from_number: e.from.map(|n| n as i32),
                        to_number: e.to.map(|n| n as i32),
                        parity: e.parity.as_str().to_owned(),
                        site_code: e.site.clone(),
                    };
                    (row, stradario::street_key(&e.street))
                })
                .collect();
            let n = q::replace_stradario(c, &r, &rows).await?;
            for app in q::applications(c, round).await? {
                if matches!(app.catchment_resolution.as_str(), "stradario" | "unresolved") {
                    let (site, how) = catchment_of(
                        &r,
                        &entries,
                        &app.residence_municipality,
                        app.street.as_deref(),
                        app.house_number.as_deref(),
                    );
                    q::set_catchment(c, app.id, site.as_deref(), how, None).await?;
                }
            }
            let current = json!({ "entries": n });
            audit::record(c, vec![round_event("import_stradario", &r, current)]).await?;
            Ok(n)
        })
    })
    .await
}

/// The catchment of a residence by the street list: the site and how it was
/// found ("not_resident" outside the round's municipalities).
fn catchment_of(
    round: &RoundRow,
    entries: &[Entry],
    municipality: &str,
    street: Option<&str>,
    number: Option<&str>,
) -> (Option<String>, &'static str) {
    if !round.resident_municipalities.iter().any(|m| m == municipality) {
        return (None, "not_resident");
    }
    match stradario::catchment(entries, street.unwrap_or(""), number.unwrap_or("")) {
        Some(site) => (Some(site.to_owned()), "stradario"),
        None => (None, "unresolved"),
    }
}

pub fn entries_of(rows: &[StradarioRow]) -> Vec<Entry> {
    rows.iter()
        .map(|r| Entry {
            street: r.street.clone(),
            from: r.from_number.map(|n| n as u32),
            to: r.to_number.map(|n| n as u32),
            parity: Parity::parse(&r.parity).unwrap_or(Parity::All),
            site: r.site_code.clone(),
        })
        .collect()
}

// Applications.

#[derive(Debug, Clone)]
pub struct ApplicationInput {
    pub round_id: i64,
    pub submitted_at: DateTime<Utc>,
    pub form: ApplicationForm,
}

/// What a family's application says, as the portal (or a CSV line) gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationForm {
    pub external_ref: String,
    pub first_name: String,
    pub last_name: String,
    pub tax_code: String,
    pub birth_date: NaiveDate,
    pub sex: String,
    pub municipality: String,
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub site_preferences: Vec<String>,
    pub time_model_preferences: Vec<String>,
    pub disability_declared: bool,
    pub disability_certified_on: Option<NaiveDate>,
    pub claims: Vec<(String, u32)>,
}

/// An application registered, with what the engine derives from it now.
pub struct Registered {
    pub row: ApplicationRow,
    pub points: Points,
    pub tier: engine::Tier,
    pub late: bool,
    pub early: bool,
}

fn distinct(field: &str, list: &[String], allowed: &[String]) -> AppResult<()> {
    let mut seen = BTreeSet::new();
    if list.is_empty() {
        return Err(bad(field, "name at least one"));
    }
    for (i, v) in list.iter().enumerate() {
        if !allowed.contains(v) || !seen.insert(v) {
            return Err(bad(&format!("{field}[{i}]"), format!("{v} is not offered by the round, or is repeated")));
        }
    }
    Ok(())
}

/// Registers an application from the national portal (R-APP-1..4).
pub async fn register_application(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    input: ApplicationInput,
) -> AppResult<Registered> {
    let caller = caller.clone();
    let tax_code = input.form.tax_code.trim().to_ascii_uppercase();
    tax_code::parse(&tax_code).map_err(|r| bad("input.child.taxCode", r))?;
    for (field, value) in
        [("input.child.firstName", &input.form.first_name), ("input.child.lastName", &input.form.last_name)]
    {
        if value.trim().is_empty() || value.len() > 100 {
            return Err(bad(field, "1 to 100 characters"));
        }
    }
    if !["F", "M"].contains(&input.form.sex.as_str()) {
        return Err(bad("input.child.sex", "F or M"));
    }
    let external_ref = input.form.external_ref.trim().to_owned();
    if external_ref.is_empty() || external_ref.len() > 50 {
        return Err(bad("input.externalRef", "1 to 50 characters"));
    }
    not_future("input.submittedAt", input.submitted_at, now)?;
    if let Some(d) = input.form.disability_certified_on
        && d > input.submitted_at.date_naive()
    {
        return Err(AppError::rule("FACT_AFTER_SUBMISSION", "the certification is dated after the application"));
    }
    db.try_run(move |c| {
        Box::pin(async move {
            let round = q::round(c, input.round_id, false).await?.ok_or(AppError::NotFound)?;
            own_institution(&caller, &round.institution_code)?;
            if input.submitted_at < round.window_opens_at {
                return Err(AppError::rule("WINDOW_NOT_OPEN", "the application is dated before the window opened"));
            }
            if now > round.waiting_list_closes_at {
                return Err(closed());
            }
            let early = rround::age_check(input.form.birth_date, round.mandatory_born_by, round.early_born_by)
                .map_err(|m| AppError::rule("NOT_ELIGIBLE_AGE", m))?;
            match q::status_of_tax_code(c, round.id, &tax_code).await?.as_deref() {
                Some("active") => return Err(AppError::rule("DUPLICATE_APPLICATION", "the pupil already has an application in this round")),
                Some(_) => return Err(AppError::rule("APPLICATION_REMOVED", "the pupil's application left this round for good")),
                None => {}
            }
            let site_rows = q::sites(c, round.id).await?;
            let sites: Vec<String> = site_rows.iter().map(|s| s.site_code.clone()).collect();
            distinct("input.sitePreferences", &input.form.site_preferences, &sites)?;
            let models = model_codes(&round);
            distinct("input.timeModelPreferences", &input.form.time_model_preferences, &models)?;
            let table = q::points_table(c, round.points_table_id).await?.ok_or(AppError::NotFound)?;
            let criteria = table_criteria(&table);
            let mut seen = BTreeSet::new();
            for (i, (criterion, quantity)) in input.form.claims.iter().enumerate() {
                if !criteria.iter().any(|k| &k.code == criterion) || !seen.insert(criterion) {
                    return Err(bad(&format!("input.claims[{i}].criterion"), "not a criterion of the round's points table, or repeated"));
                }
                if *quantity > 100 {
                    return Err(bad(&format!("input.claims[{i}].quantity"), "0 to 100"));
                }
            }
            let entries = entries_of(&q::stradario(c, round.id).await?);
            let (catchment, how) = catchment_of(&round, &entries, &input.form.municipality, input.form.street.as_deref(), input.form.house_number.as_deref());
            let mut random = [0u8; 5];
            getrandom::fill(&mut random).map_err(|e| AppError::internal(anyhow::anyhow!("no randomness: {e}")))?;
            let new = q::NewApplication {
                round_id: round.id,
                institution_code: round.institution_code.clone(),
                province_code: round.province_code.clone(),
                external_ref,
                public_code: rround::public_code(random),
                first_name: input.form.first_name.trim().to_owned(),
                last_name: input.form.last_name.trim().to_owned(),
                tax_code,
                birth_date: input.form.birth_date,
                sex: input.form.sex.clone(),
                residence_municipality: input.form.municipality.clone(),
                street: input.form.street.clone(),
                house_number: input.form.house_number.clone(),
                catchment_site: catchment,
                catchment_resolution: how.to_owned(),
                submitted_at: input.submitted_at,
                site_preferences: input.form.site_preferences.clone(),
                time_model_preferences: input.form.time_model_preferences.clone(),
                disability_declared: input.form.disability_declared,
                disability_certified_on: input.form.disability_certified_on,
            };
            let n = new.clone();
            let row = crate::db::unless_taken(c, move |c| Box::pin(async move { q::insert_application(c, &n).await }))
                .await?
                .map_err(|constraint| match constraint.as_str() {
                    "admission_applications_round_id_external_ref_key" => AppError::Conflict("externalRef is already registered in this round".into()),
                    "admission_applications_round_id_tax_code_key" => AppError::rule("DUPLICATE_APPLICATION", "the pupil already has an application in this round"),
                    _ => AppError::Conflict("the public code was drawn twice: send again".into()),
                })?;
            let claims: Vec<(String, i32)> = input.form.claims.iter().map(|(k, n)| (k.clone(), *n as i32)).collect();
            q::insert_claims(c, &row, &claims).await?;
            let current = json!({ "externalRef": row.external_ref, "publicCode": row.public_code, "submittedAt": row.submitted_at,
                                  "sitePreferences": row.site_preferences, "timeModelPreferences": row.time_model_preferences,
                                  "catchment": row.catchment_resolution, "claims": claims.iter().map(|(k, _)| k).collect::<Vec<_>>() });
            audit::record(c, vec![event("register", "admission_application", row.id, &row.institution_code, &row.province_code, current)]).await?;
            let claims: Vec<Claim> = input.form.claims.iter().map(|(k, n)| Claim { criterion: k.clone(), quantity: *n, status: ClaimStatus::Declared }).collect();
            let (points, _) = points::sum(&criteria, &claims);
            // The tier needs the residence rule only: no caps.
            let tier = tier_of(&round_config(&round, &site_rows, &[]), &applicant_of(&row, points));
            let late = row.submitted_at > round.window_closes_at;
            Ok(Registered { row, points, tier, late, early })
        })
    })
    .await
}

fn model_codes(round: &RoundRow) -> Vec<String> {
    round.time_models.as_array().into_iter().flatten().filter_map(|m| m["code"].as_str().map(str::to_owned)).collect()
}

fn round_config(round: &RoundRow, sites: &[q::RoundSiteRow], caps: &[(String, String, i32)]) -> RoundConfig {
    RoundConfig {
        sites: sites
            .iter()
            .map(|s| SiteConfig { code: s.site_code.clone(), places: s.places as u32, models: vec![] })
            .collect(),
        window_opens_at: round.window_opens_at,
        window_closes_at: round.window_closes_at,
        resident_municipalities: round.resident_municipalities.clone(),
        time_models: model_codes(round),
        default_time_model: round.default_time_model.clone(),
        min_pupils_per_time_model: round.min_pupils_per_time_model as u32,
        caps: caps.iter().map(|(s, m, x)| ((s.clone(), m.clone()), *x as u32)).collect(),
        redistribute_beyond_preferences: round.redistribute_beyond_preferences,
        draw_seed: round.draw_seed.clone(),
    }
}

fn applicant_of(a: &ApplicationRow, points: Points) -> Applicant {
    Applicant {
        id: a.id,
        external_ref: a.external_ref.clone(),
        submitted_at: a.submitted_at,
        birth_date: a.birth_date,
        municipality: a.residence_municipality.clone(),
        catchment_site: a.catchment_site.clone(),
        site_preferences: a.site_preferences.clone(),
        time_model_preferences: a.time_model_preferences.clone(),
        disability_verified: a.disability_verified,
        points,
        status: match a.status.as_str() {
            "withdrawn" => Status::Withdrawn,
            "transferred" => Status::Transferred,
            "not_accepted" => Status::NotAccepted,
            _ => Status::Active,
        },
        assessment: match a.inclusion_assessment.as_str() {
            "confirmed" => Assessment::Confirmed,
            "not_confirmed" => Assessment::NotConfirmed,
            _ => Assessment::Pending,
        },
    }
}

/// A stored placement as the engine's admission.
fn admission_of(p: q::PlacementRow) -> (i64, Admission) {
    let via = match p.via.as_str() {
        "redistribution" => Via::Redistribution,
        "waiting_list" => Via::WaitingList,
        _ => Via::Ranking,
    };
    let admission = Admission {
        site: p.site_code,
        via,
        time_model: p.time_model,
        time_model_preference_rank: p.preference_rank.map(|r| r as u32),
    };
    (p.application_id, admission)
}

/// A round with the engine's current outcome over its stored inputs.
#[derive(Clone)]
pub struct RoundView {
    pub round: RoundRow,
    pub state: State,
    pub sites: Vec<q::RoundSiteRow>,
    pub applications: BTreeMap<i64, ApplicationRow>,
    pub points: BTreeMap<i64, Points>,
    pub config: RoundConfig,
    pub outcome: Outcome,
    pub commitment: Option<String>,
    /// Whether the provisional ranking came after its due date (None: not yet).
    pub published_late: Option<bool>,
    /// Whether the final ranking came after its due date (None: not yet).
    pub approved_late: Option<bool>,
    /// Each application's points, line by line, and the table's version.
    pub points_lines: BTreeMap<i64, Vec<PointsLine>>,
    pub table_version: i32,
    /// The points table's criteria.
    pub criteria: Vec<Criterion>,
}

impl RoundView {
    pub fn applicants(&self) -> Vec<Applicant> {
        self.applications.values().map(|a| applicant_of(a, self.points[&a.id])).collect()
    }

    /// Why an application stands where it stands.
    pub fn explanation(&self, id: i64) -> Option<engine::explain::Explanation> {
        let cx = engine::explain::Context {
            points_lines: self.points_lines.get(&id).map_or(&[][..], Vec::as_slice),
            table_version: self.table_version,
        };
        engine::explain::explain(&self.config, &self.applicants(), &self.outcome, id, &cx)
    }

    /// The engine over this round's data with `changes`, against the
    /// current outcome; nothing is stored. Unknown sites and criteria are
    /// refused with their field.
    pub fn simulate(&self, changes: &engine::simulate::Changes) -> AppResult<engine::simulate::Simulation> {
        if let Some(site) = changes.places.keys().find(|s| !self.config.sites.iter().any(|c| &c.code == *s)) {
            return Err(bad("changes.places", format!("{site} is not a site of the round")));
        }
        if let Some(code) = changes.criteria_points.keys().find(|k| !self.criteria.iter().any(|c| &c.code == *k)) {
            return Err(bad(
                "changes.criteriaPoints",
                format!("{code} is not a criterion of the round's points table"),
            ));
        }
        if changes.min_pupils.is_some_and(|m| !(1..=40).contains(&m)) {
            return Err(bad("changes.minPupils", "1 to 40"));
        }
        if changes.places.values().any(|p| *p > 1000) {
            return Err(bad("changes.places", "0 to 1000 places"));
        }
        Ok(engine::simulate::what_if(
            &self.config,
            &self.applicants(),
            &self.points_lines,
            &self.criteria,
            changes,
            &self.outcome,
        ))
    }

    /// Every application with its current outcome, as the school's export
    /// lists them; `submitted_on` gives each application's Italian date of
    /// submission (by id).
    pub fn export_rows(&self, submitted_on: &BTreeMap<i64, NaiveDate>) -> Vec<crate::reports::admissions::Row> {
        let p = engine::Prepared::new(&self.config, &[]);
        self.applications
            .values()
            .map(|a| {
                let applicant = applicant_of(a, self.points[&a.id]);
                let tier = self.tier(a.id);
                let admitted = self.outcome.admitted.get(&a.id);
                let waiting = self.outcome.waiting.iter().find(|w| w.id == a.id).map(|w| w.position);
                let outcome = match (a.status.as_str(), admitted, waiting) {
                    ("active", Some(x), _) if x.site == a.site_preferences[0] => "AMMESSO",
                    ("active", Some(_), _) => "AMMESSO_ALTRO_PLESSO",
                    ("active", None, Some(_)) => "LISTA_ATTESA",
                    _ => "RIMOSSO",
                };
                crate::reports::admissions::Row {
                    external_ref: a.external_ref.clone(),
                    public_code: a.public_code.clone(),
                    last_name: a.last_name.clone(),
                    first_name: a.first_name.clone(),
                    tax_code: a.tax_code.clone(),
                    birth_date: a.birth_date,
                    early: a.birth_date > self.round.mandatory_born_by,
                    municipality: a.residence_municipality.clone(),
                    address: [a.street.as_deref(), a.house_number.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" "),
                    catchment: a.catchment_site.clone(),
                    submitted_on: submitted_on.get(&a.id).copied().unwrap_or(a.submitted_at.date_naive()),
                    late: a.submitted_at > self.round.window_closes_at,
                    sites: a.site_preferences.clone(),
                    models: a.time_model_preferences.clone(),
                    tier: tier.code(),
                    group: p.territory(&applicant, &a.site_preferences[0]).group(),
                    points: self.points[&a.id].0,
                    outcome,
                    site: admitted.map(|x| x.site.clone()),
                    time_model: admitted.map(|x| x.time_model.clone()),
                    waiting_position: waiting,
                    status: a.status.clone(),
                }
            })
            .collect()
    }

    /// An application's tier at its requested site.
    pub fn tier(&self, id: i64) -> engine::Tier {
        tier_of(&self.config, &applicant_of(&self.applications[&id], self.points[&id]))
    }
}

/// The tier of an applicant at its requested site.
fn tier_of(config: &RoundConfig, a: &Applicant) -> engine::Tier {
    engine::Prepared::new(config, std::slice::from_ref(a)).key(a, &a.site_preferences[0]).tier()
}

pub async fn round_view(db: &RequestDb, now: DateTime<Utc>, id: i64) -> AppResult<RoundView> {
    db.try_run(move |c| Box::pin(load_view(c, now, id))).await
}

/// The round and the engine's current outcome, read on a connection (the
/// request's, or the owner's when the demo is loaded).
pub async fn load_view(c: &mut diesel_async::AsyncPgConnection, now: DateTime<Utc>, id: i64) -> AppResult<RoundView> {
    let round = q::round(c, id, false).await?.ok_or(AppError::NotFound)?;
    let sites = q::sites(c, id).await?;
    let caps = q::caps(c, id).await?;
    let table = q::points_table(c, round.points_table_id).await?;
    let criteria = table.as_ref().map(table_criteria).unwrap_or_default();
    let apps = q::applications(c, id).await?;
    let mut claims: BTreeMap<i64, Vec<Claim>> = BTreeMap::new();
    for k in q::claims(c, id).await? {
        let status = match k.status.as_str() {
            "verified" => ClaimStatus::Verified,
            "rejected" => ClaimStatus::Rejected,
            _ => ClaimStatus::Declared,
        };
        claims.entry(k.application_id).or_default().push(Claim {
            criterion: k.criterion,
            quantity: k.quantity as u32,
            status,
        });
    }
    let mut points_lines: BTreeMap<i64, Vec<PointsLine>> = BTreeMap::new();
    let mut points: BTreeMap<i64, Points> = BTreeMap::new();
    for a in &apps {
        let (total, lines) = points::sum(&criteria, claims.get(&a.id).map_or(&[][..], Vec::as_slice));
        points.insert(a.id, total);
        points_lines.insert(a.id, lines);
    }
    let table_version = table.as_ref().map_or(0, |t| t.version);
    let config = round_config(&round, &sites, &caps);
    let applicants: Vec<Applicant> = apps.iter().map(|a| applicant_of(a, points[&a.id])).collect();
    // After the final ranking placements are facts (§5.7): the
    // engine lays the current lists over them, never recomputes them.
    let outcome = match round.approved_at {
        None => engine::compute(&config, &applicants),
        Some(_) => {
            let fixed = q::snapshot_outcome(c, id, "final")
                .await?
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("an approved round without its final snapshot")))?;
            let fixed: Outcome = serde_json::from_value(fixed).map_err(AppError::internal)?;
            let frozen = Frozen {
                placements: q::placements(c, id).await?.into_iter().map(admission_of).collect(),
                ..Frozen::of(&fixed)
            };
            after_final::current(&config, &applicants, &frozen)
        }
    };
    let state = rround::state(
        &Timeline {
            window_opens_at: round.window_opens_at,
            window_closes_at: round.window_closes_at,
            waiting_list_closes_at: round.waiting_list_closes_at,
            published_at: round.published_at,
            approved_at: round.approved_at,
        },
        now,
    );
    let commitment = round.draw_seed_hash.clone().or_else(|| round.draw_seed.as_deref().map(seed_commitment));
    let applications = apps.into_iter().map(|a| (a.id, a)).collect();
    // Whether each act came after its due date, in one statement (None: not yet).
    let acts: Vec<(DateTime<Utc>, NaiveDate)> = [
        round.published_at.map(|at| (at, round.provisional_due_on)),
        round.approved_at.map(|at| (at, round.final_due_on)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut late = acts.iter().map(|(at, due)| crate::rules::rome::date(*at) > *due);
    let published_late = round.published_at.and_then(|_| late.next());
    let approved_late = round.approved_at.and_then(|_| late.next());
    Ok(RoundView {
        round,
        state,
        sites,
        applications,
        points,
        config,
        outcome,
        commitment,
        published_late,
        approved_late,
        points_lines,
        table_version,
        criteria,
    })
}

/// The rounds of a school year the caller may read.
pub async fn round_ids(db: &RequestDb, school_year: i32) -> AppResult<Vec<i64>> {
    let rounds = db.run(move |c| Box::pin(async move { q::rounds_of_year(c, school_year).await })).await?;
    Ok(rounds.into_iter().map(|r| r.id).collect())
}

/// The round an application belongs to, with the engine's outcome.
pub async fn application_view(db: &RequestDb, now: DateTime<Utc>, id: i64) -> AppResult<(i64, RoundView)> {
    let round = db
        .run(move |c| Box::pin(async move { q::application(c, id).await }))
        .await?
        .ok_or(AppError::NotFound)?
        .round_id;
    Ok((id, round_view(db, now, round).await?))
}

// Publication.

/// Fixes the draw seed (the head teacher, in a public session after the
/// window closes, R-TIE-1): once, and matching the commitment if one was
/// published.
pub async fn set_draw_seed(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    round: i64,
    seed: String,
) -> AppResult<()> {
    let caller = caller.clone();
    let seed = seed.trim().to_owned();
    if seed.is_empty() || seed.len() > 200 {
        return Err(bad("seed", "1 to 200 characters"));
    }
    db.try_run(move |c| {
        Box::pin(async move {
            let r = q::round(c, round, true).await?.ok_or(AppError::NotFound)?;
            own_institution(&caller, &r.institution_code)?;
            if now <= r.window_closes_at {
                return Err(AppError::rule("WINDOW_STILL_OPEN", "the seed is fixed after the window closes"));
            }
            if r.draw_seed.is_some() {
                return Err(AppError::rule("DRAW_SEED_ALREADY_SET", "the draw seed was fixed and never changes"));
            }
            if let Some(h) = &r.draw_seed_hash
                && seed_commitment(&seed) != *h
            {
                return Err(bad("seed", "does not match the commitment published when the window opened"));
            }
            q::set_draw_seed(c, round, &seed, now).await?;
            let current = json!({ "drawSeed": seed, "commitment": seed_commitment(&seed) });
            audit::record(c, vec![round_event("set_draw_seed", &r, current)]).await?;
            Ok(())
        })
    })
    .await
}

/// The engine's inputs as a snapshot keeps them.
fn inputs_of(view: &RoundView) -> engine::Inputs {
    engine::Inputs { config: view.config.clone(), applicants: view.applicants() }
}

/// The public version of an outcome over the view's applications.
pub fn public_of(view: &RoundView, outcome: &Outcome, final_stage: bool) -> engine::public::PublicVersion {
    let p = engine::Prepared::new(&view.config, &[]);
    let shown = view
        .applications
        .values()
        .map(|a| {
            let first = a.site_preferences[0].clone();
            let applicant = applicant_of(a, view.points[&a.id]);
            let shown = engine::public::Shown {
                public_code: a.public_code.clone(),
                late: a.submitted_at > view.round.window_closes_at,
                group: p.territory(&applicant, &first).group().to_owned(),
                first_site: first,
                submitted_order: (
                    a.submitted_at,
                    engine::draw_key(view.config.draw_seed.as_deref().unwrap_or(""), &a.external_ref),
                ),
            };
            (a.id, shown)
        })
        .collect();
    let places: Vec<(String, u32)> = view.sites.iter().map(|s| (s.site_code.clone(), s.places as u32)).collect();
    engine::public::public_version(final_stage, outcome, &places, &shown)
}

/// Publishes the provisional ranking (the head teacher, R-PUB-1): after the
/// window, with the draw seed fixed and every resident's catchment
/// resolved, once. Writes the snapshot with the hashes of its inputs and
/// outcome, which go into the audit trail's chain.
pub async fn publish_provisional(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    round: i64,
) -> AppResult<RoundRow> {
    // The request is one transaction: the round is locked before its data
    // are read, so what is published is what was read.
    lock_round(db, round).await?;
    let view = round_view(db, now, round).await?;
    own_institution(caller, &view.round.institution_code)?;
    let r = &view.round;
    if now <= r.window_closes_at {
        return Err(AppError::rule("WINDOW_STILL_OPEN", "the ranking is published after the window closes"));
    }
    if r.published_at.is_some() {
        return Err(AppError::rule("ALREADY_PUBLISHED", "the provisional ranking was published already"));
    }
    if r.draw_seed.is_none() {
        return Err(AppError::rule("DRAW_SEED_MISSING", "the head teacher fixes the draw seed before publishing"));
    }
    let unresolved: Vec<&str> = view
        .applications
        .values()
        .filter(|a| a.status == "active" && a.catchment_resolution == "unresolved")
        .map(|a| a.external_ref.as_str())
        .collect();
    if !unresolved.is_empty() {
        return Err(AppError::rule(
            "UNRESOLVED_RESIDENCE",
            format!("resolve the catchment of these residents by hand first: {}", unresolved.join(", ")),
        ));
    }
    db.try_run(move |c| {
        Box::pin(async move {
            let published = q::publish(c, round, now).await?;
            let (inputs_hash, outcome_hash) = write_snapshot(c, &view, "provisional", now).await?;
            let late = crate::rules::rome::date(now) > published.provisional_due_on;
            let current = json!({ "stage": "provisional", "inputsHash": inputs_hash, "outcomeHash": outcome_hash,
                                  "publishedLate": late, "complaintDeadline": published.complaint_deadline });
            let e = round_event("publish", &published, current);
            audit::record(c, vec![e]).await?;
            Ok(published)
        })
    })
    .await
}

/// Writes a stage's snapshot of the view: the engine's inputs, its outcome
/// and the public version, with the hashes of inputs and outcome (returned,
/// for the audit trail's chain).
pub async fn write_snapshot(
    c: &mut diesel_async::AsyncPgConnection,
    view: &RoundView,
    stage: &str,
    at: DateTime<Utc>,
) -> AppResult<(String, String)> {
    let inputs = inputs_of(view);
    let public = public_of(view, &view.outcome, stage == "final");
    let hashes = (inputs.hash(), view.outcome.hash());
    let json = |v: serde_json::Result<Value>| v.map_err(AppError::internal);
    let values = (
        json(serde_json::to_value(&inputs))?,
        json(serde_json::to_value(&view.outcome))?,
        json(serde_json::to_value(&public))?,
    );
    q::insert_snapshot(c, &view.round, stage, at, &values.0, &values.1, &values.2, (&hashes.0, &hashes.1)).await?;
    Ok(hashes)
}

/// A snapshot's outcome and public version, or the stage's error code.
pub async fn published(db: &RequestDb, round: i64, stage: &str) -> AppResult<(Outcome, engine::public::PublicVersion)> {
    let stage_owned = stage.to_owned();
    let snap = db.run(move |c| Box::pin(async move { q::snapshot(c, round, &stage_owned).await })).await?;
    let Some(snap) = snap else {
        return Err(match stage {
            "final" => AppError::rule("RANKING_NOT_FINAL", "the final ranking was not approved yet"),
            _ => AppError::rule("RANKING_NOT_PUBLISHED", "no provisional ranking was published yet"),
        });
    };
    let outcome = serde_json::from_value(snap.outcome).map_err(AppError::internal)?;
    let public = serde_json::from_value(snap.public_version).map_err(AppError::internal)?;
    Ok((outcome, public))
}

/// What `ambito admissions verify` found for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub stage: String,
    pub inputs_hold: bool,
    pub outcome_holds: bool,
}

/// Recomputes every snapshot of a round from its stored inputs and compares
/// the hashes (pure engine, so equal inputs give equal bytes).
pub fn verify_snapshots(snapshots: &[q::SnapshotRow]) -> anyhow::Result<Vec<Verified>> {
    snapshots
        .iter()
        .map(|s| {
            let inputs: engine::Inputs = serde_json::from_value(s.inputs.clone())?;
            let outcome = engine::compute(&inputs.config, &inputs.applicants);
            Ok(Verified {
                stage: s.stage.clone(),
                inputs_hold: inputs.hash() == s.inputs_hash,
                outcome_holds: outcome.hash() == s.outcome_hash,
            })
        })
        .collect()
}

// The school's checks before publication.

/// What the secretariat checks on an application.
#[derive(Debug, Clone)]
pub enum Check {
    VerifyClaim {
        criterion: String,
    },
    RejectClaim {
        criterion: String,
        reason: String,
    },
    VerifyDisability,
    ResolveCatchment {
        site: String,
        reason: String,
    },
    /// The certification under L. 104/92: one of the application's own
    /// documents and its date. A new certificate is checked again.
    Certification {
        document: uuid::Uuid,
        certified_on: NaiveDate,
    },
}

/// The certification an application rests on must be one of its own
/// committed documents.
pub(crate) async fn certification_document(
    c: &mut diesel_async::AsyncPgConnection,
    app: &ApplicationRow,
    document: uuid::Uuid,
    field: &'static str,
) -> AppResult<()> {
    match crate::db::attachments::visible(c, document).await? {
        Some(d) if d.admission_application_id == Some(app.id) && d.state == "committed" => Ok(()),
        _ => Err(bad(field, "must be a document uploaded for this application (kind ADMISSION_DOCUMENT)")),
    }
}

/// R-APP-4: a certificate dated after the application cannot count.
pub(crate) fn certified_in_time(app: &ApplicationRow, on: NaiveDate) -> AppResult<()> {
    if on > app.submitted_at.date_naive() {
        return Err(AppError::rule("FACT_AFTER_SUBMISSION", "the certification is dated after the application"));
    }
    Ok(())
}

/// The reason a claim found false in a sample check after publication
/// carries (R-PTS-3: «non veridicità»).
pub const FALSE_DECLARATION: &str = "NON_VERIDICITA";

/// Records a check. Before the provisional publication anything; after it,
/// only a claim rejected as a false declaration, until the waiting list
/// closes (everything else goes through complaints).
pub async fn check_application(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    application: i64,
    check: Check,
) -> AppResult<()> {
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let app = q::application(c, application).await?.ok_or(AppError::NotFound)?;
            own_institution(&caller, &app.institution_code)?;
            let round = q::round(c, app.round_id, true).await?.ok_or(AppError::NotFound)?;
            if app.status != "active" {
                return Err(removed());
            }
            let false_declaration =
                matches!(&check, Check::RejectClaim { reason, .. } if reason.trim() == FALSE_DECLARATION);
            // A late application is in no published ranking: the school
            // checks it whenever it arrives (W2 needs a verified disability).
            let late = app.submitted_at > round.window_closes_at;
            if round.published_at.is_some() && !false_declaration && !late {
                return Err(AppError::rule(
                    "RANKING_PUBLISHED",
                    "the ranking is published: corrections go through complaints, or a claim found false (NON_VERIDICITA)",
                ));
            }
            // A declaration found false after the waiting list closed is
            // still recorded; nothing else follows from it.
            if now > round.waiting_list_closes_at && !false_declaration {
                return Err(closed());
            }
            let (action, current) = match &check {
                Check::VerifyClaim { criterion } | Check::RejectClaim { criterion, .. } => {
                    let (status, reason) = match &check {
                        Check::RejectClaim { reason, .. } => ("rejected", Some(text("reason", reason, 500)?)),
                        _ => ("verified", None),
                    };
                    if q::set_claim(c, application, criterion, status, reason.as_deref(), now).await? == 0 {
                        return Err(bad("criterion", "the application does not claim it"));
                    }
                    ("check_claim", json!({ "criterion": criterion, "status": status }))
                }
                Check::VerifyDisability => {
                    let (Some(on), Some(_)) = (app.disability_certified_on, app.certification_attachment) else {
                        return Err(bad(
                            "applicationId",
                            "no certification under L. 104/92 is attached: record it with updateApplicationDisability",
                        ));
                    };
                    certified_in_time(&app, on)?;
                    q::verify_disability(c, application).await?;
                    ("verify_disability", json!({ "verified": true }))
                }
                Check::Certification { document, certified_on } => {
                    certified_in_time(&app, *certified_on)?;
                    certification_document(c, &app, *document, "input.certificationAttachmentId").await?;
                    // The same certificate keeps its check; another needs a new one.
                    let same = app.certification_attachment == Some(*document)
                        && app.disability_certified_on == Some(*certified_on);
                    let verified = same && app.disability_verified;
                    q::certify_disability(c, application, *certified_on, *document, verified).await?;
                    let current = json!({ "document": document, "certifiedOn": certified_on, "verified": verified });
                    ("record_certification", current)
                }
                Check::ResolveCatchment { site, reason } => {
                    if !round.resident_municipalities.contains(&app.residence_municipality) {
                        return Err(bad("applicationId", "a catchment is resolved for residents only"));
                    }
                    if !q::sites(c, round.id).await?.iter().any(|s| &s.site_code == site) {
                        return Err(bad("site", "not a site of the round"));
                    }
                    let reason = text("reason", reason, 500)?;
                    q::set_catchment(c, application, Some(site), "manual", Some(&reason)).await?;
                    ("resolve_catchment", json!({ "site": site, "resolution": "manual" }))
                }
            };
            let e = app_event(action, &app, current);
            audit::record(c, vec![e]).await?;
            Ok(())
        })
    })
    .await
}

/// A family's withdrawal (rinuncia, R-NO-3): possible in any state; the
/// application leaves every current list for good. Published snapshots are
/// history and stay as they were.
pub async fn withdraw_application(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    application: i64,
    at: DateTime<Utc>,
) -> AppResult<()> {
    not_future("at", at, now)?;
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let app = q::application(c, application).await?.ok_or(AppError::NotFound)?;
            own_institution(&caller, &app.institution_code)?;
            if q::leave(c, application, "withdrawn", at).await? == 0 {
                return Err(removed());
            }
            record_decision(c, "withdraw", &app, json!({ "status": "withdrawn", "at": at }), true).await
        })
    })
    .await
}

// Imports from the school's CSV files (all or nothing).

/// Registers every application of a CSV file in the request's transaction:
/// the first refusal names its line and keeps its code, and the request
/// then changes nothing. Returns how many were registered.
pub async fn import_applications(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    round: i64,
    csv: &str,
) -> AppResult<usize> {
    use crate::import::admissions as file;
    let lines = file::applications(csv).map_err(|e| super::bad_lines(&e))?;
    let n = lines.len();
    for l in lines {
        let line = l.line;
        let input = ApplicationInput { round_id: round, submitted_at: l.submitted, form: l.form };
        register_application(db, caller, now, input).await.map_err(|e| super::at_line(e, line))?;
    }
    Ok(n)
}

/// Replaces the round's street list from a CSV file (all or nothing).
pub async fn import_stradario_csv(db: &RequestDb, caller: &Caller, round: i64, csv: &str) -> AppResult<usize> {
    let lines = crate::import::admissions::stradario(csv).map_err(|e| super::bad_lines(&e))?;
    let entries = lines
        .into_iter()
        .map(|l| StradarioInput {
            street: l.street,
            from: l.from,
            to: l.to,
            parity: Parity::parse(&l.parity).unwrap_or(Parity::All),
            site: l.site,
        })
        .collect();
    import_stradario(db, caller, round, entries).await
}
