//! Process 2 as use cases: a municipality enters a refugee minor's request,
//! the hub that the routing rule names places the minor, the school confirms
//! or declines, a school registers a minor it enrolled on its own. Every move
//! is checked against the workflow and the version the caller read, recorded
//! with who, when and why, and written in the request's transaction. Row
//! security decides which requests exist for the caller.

use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;

use crate::authz::{Caller, Scope};
use crate::db::RequestDb;
use crate::db::audit::{self, Event};
use crate::db::refugees::{self as q, EnrolmentRow, Form, Moved, NewEnrolment, NewTransition};
use crate::db::registry::today;
use crate::error::{AppError, AppResult};
use crate::rules::order::SchoolOrder;
use crate::rules::refugees::{self as rules, Actor, Minor, Move, RouteError, Status};
use crate::rules::school_year::SchoolYear;
use crate::rules::tax_code::Sex;

fn bad(field: &str, reason: impl Into<String>) -> AppError {
    AppError::bad_input(field, reason)
}

/// The kind of organisation the caller acts for, from its scope.
pub fn actor(caller: &Caller) -> Actor {
    match caller.scope {
        Scope::Municipality => Actor::Municipality,
        Scope::Territory => Actor::Hub,
        Scope::School => Actor::School,
        Scope::Province | Scope::Region | Scope::Own => Actor::Office,
    }
}

/// The request form, as a municipality or a school enters it.
#[derive(Debug, Clone)]
pub struct RequestInput {
    pub school_year: Option<SchoolYear>,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
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
    pub order: SchoolOrder,
    pub year_of_study: i32,
    pub notes: Option<String>,
}

fn text(field: &str, v: &str, max: usize) -> AppResult<String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(bad(field, "is required"));
    }
    if v.chars().count() > max {
        return Err(bad(field, format!("is longer than {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(bad(field, "contains control characters"));
    }
    Ok(v.to_owned())
}

fn optional(field: &str, v: Option<String>, max: usize) -> AppResult<Option<String>> {
    match v {
        Some(s) if !s.trim().is_empty() => text(field, &s, max).map(Some),
        _ => Ok(None),
    }
}

/// A form checked with the pure rules, with its school year and order.
struct Checked {
    form: Form,
    year: SchoolYear,
    order: SchoolOrder,
}

/// Checks the form with the pure rules.
fn checked(input: RequestInput, today: NaiveDate) -> AppResult<Checked> {
    let year = input.school_year.unwrap_or_else(|| SchoolYear::of(today));
    let minor = Minor {
        birth_date: input.birth_date,
        arrived_on: input.arrived_on,
        order: input.order,
        year_of_study: input.year_of_study,
    };
    rules::check_minor(&minor, year, today).map_err(|(f, r)| bad(&format!("input.{f}"), r))?;
    let nationality = input.nationality.trim().to_ascii_uppercase();
    if nationality.len() != 2 || !nationality.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("input.nationality", "must be an ISO 3166-1 alpha-2 country code, such as UA"));
    }
    if input.languages.len() > 10 {
        return Err(bad("input.languages", "lists at most 10 languages"));
    }
    let languages =
        input.languages.iter().map(|l| text("input.languages", l, 50)).collect::<AppResult<Vec<String>>>()?;
    let phone = optional("input.guardianPhone", input.guardian_phone, 40)?;
    if let Some(p) = &phone
        && !p.chars().all(|c| c.is_ascii_digit() || " +-./()".contains(c))
    {
        return Err(bad("input.guardianPhone", "may hold only digits, spaces and + - . / ( )"));
    }
    let email = optional("input.guardianEmail", input.guardian_email, 200)?
        .map(|e| crate::auth::normalize_email(&e).map_err(|r| bad("input.guardianEmail", r)))
        .transpose()?;
    if input.city_zone.is_some_and(|z| !(1..=99).contains(&z)) {
        return Err(bad("input.cityZone", "must be between 1 and 99"));
    }
    Ok(Checked {
        form: Form {
            first_name: text("input.firstName", &input.first_name, 100)?,
            last_name: text("input.lastName", &input.last_name, 100)?,
            birth_date: input.birth_date,
            sex: match input.sex {
                Sex::F => "F".to_owned(),
                Sex::M => "M".to_owned(),
            },
            nationality,
            arrived_on: input.arrived_on,
            languages,
            last_class: optional("input.lastClass", input.last_class, 200)?,
            special_needs: input.special_needs,
            guardian_name: optional("input.guardianName", input.guardian_name, 200)?,
            guardian_phone: phone,
            guardian_email: email,
            address: text("input.address", &input.address, 300)?,
            city_zone: input.city_zone,
            school_order: input.order.as_str().to_owned(),
            year_of_study: input.year_of_study,
            notes: optional("input.notes", input.notes, 2000)?,
        },
        year,
        order: input.order,
    })
}

/// The hub that owns a request from `istat` for `order`, by the routing rule.
async fn route(
    c: &mut AsyncPgConnection,
    field: &str,
    istat: &str,
    order: SchoolOrder,
    zone: Option<i32>,
) -> AppResult<(String, String)> {
    let Some((province, place)) = q::place(c, istat).await? else {
        return Err(bad(field, "is not an ISTAT municipality code"));
    };
    let hub = rules::route(&place, order, zone).map_err(|e| match e {
        RouteError::ZoneNeeded { zones } => bad(
            "input.cityZone",
            format!("is required for this order here: Poli START serve the city by zone ({zones:?})"),
        ),
        RouteError::UnknownZone { zones } => bad("input.cityZone", format!("must be one of {zones:?}")),
        RouteError::NoHub => bad(field, "has no territorial hub configured: ask the provincial office"),
    })?;
    Ok((hub, province))
}

fn event(action: &'static str, row: &EnrolmentRow) -> Event {
    Event {
        action,
        object_kind: "enrolment_request",
        object_id: Some(row.id.to_string()),
        province: Some(row.province_code.clone()),
        institution: row.institution_code.clone(),
        // Workflow facts only: the minor's data stay in the request.
        current: Some(json!({
            "status": row.status,
            "hub": row.hub_code,
            "school": row.institution_code,
            "version": row.version,
        })),
        ..Event::default()
    }
}

fn transition(row: &EnrolmentRow, action: &str, from: Option<&str>) -> NewTransition {
    NewTransition {
        request_id: row.id,
        municipality_istat: row.municipality_istat.clone(),
        origin: row.origin.clone(),
        hub_code: row.hub_code.clone(),
        to_hub_code: None,
        institution_code: row.institution_code.clone(),
        action: action.to_owned(),
        from_status: from.map(str::to_owned),
        to_status: row.status.clone(),
        reason: None,
    }
}

/// A municipality enters a request for a minor living in it.
pub async fn create(db: &RequestDb, caller: &Caller, input: RequestInput) -> AppResult<EnrolmentRow> {
    if actor(caller) != Actor::Municipality {
        return Err(AppError::Forbidden);
    }
    let municipality = caller.municipality.clone().ok_or(AppError::Forbidden)?;
    db.try_run(move |c| {
        Box::pin(async move {
            let Checked { form, year, order } = checked(input, today(c).await?)?;
            let (hub, _) = route(c, "municipality", &municipality, order, form.city_zone).await?;
            let new = NewEnrolment {
                municipality_istat: municipality,
                origin: "municipality".into(),
                hub_code: hub,
                institution_code: None,
                status: Status::Submitted.as_str().into(),
                school_year: year.stored(),
                enrolled_at: None,
                form,
            };
            let row = q::insert(c, &new).await?;
            q::record(c, &transition(&row, "submit", None)).await?;
            audit::record(c, vec![event("create", &row)]).await?;
            Ok(row)
        })
    })
    .await
}

/// The municipality corrects its request's form while the request waits for
/// a school. An edit that would route the request to another hub is allowed
/// only before the hub took it in charge; later the hub transfers it.
pub async fn edit(
    db: &RequestDb,
    caller: &Caller,
    id: i64,
    version: i32,
    input: RequestInput,
) -> AppResult<EnrolmentRow> {
    if actor(caller) != Actor::Municipality {
        return Err(AppError::Forbidden);
    }
    db.try_run(move |c| {
        Box::pin(async move {
            let old = q::for_update(c, id).await?.ok_or(AppError::NotFound)?;
            check_version(&old, version)?;
            let status: Status = old.status.parse().map_err(|e: String| AppError::internal(anyhow::anyhow!(e)))?;
            if !matches!(status, Status::Submitted | Status::InCharge | Status::Declined) {
                return Err(AppError::Conflict(format!(
                    "a request that is {status} cannot be edited: only while it waits for a school"
                )));
            }
            let Checked { form, year, order } = checked(input, today(c).await?)?;
            if year.stored() != old.school_year {
                return Err(bad("input.schoolYear", "a request stays in its school year"));
            }
            let (hub, _) = route(c, "municipality", &old.municipality_istat, order, form.city_zone).await?;
            if hub != old.hub_code && status != Status::Submitted {
                let field = if form.school_order != old.school_order { "input.order" } else { "input.cityZone" };
                return Err(bad(field, "would move the request to another hub: ask its hub to transfer it"));
            }
            if q::edit(c, id, version, &hub, &form).await? != 1 {
                return Err(AppError::Conflict("the request changed while you were editing it: read it again".into()));
            }
            let row = q::by_id(c, id).await?.ok_or(AppError::NotFound)?;
            let mut t = transition(&row, "edit", Some(status.as_str()));
            t.hub_code = old.hub_code.clone();
            q::record(c, &t).await?;
            audit::record(c, vec![event("edit", &row)]).await?;
            Ok(row)
        })
    })
    .await
}

fn check_version(old: &EnrolmentRow, version: i32) -> AppResult<()> {
    if old.version != version {
        return Err(AppError::Conflict(format!(
            "the request changed since you read it (version {version}, now {}): read it again",
            old.version
        )));
    }
    Ok(())
}

/// A school registers a minor it enrolled on its own, so the office and the
/// hub see the whole territory; `municipality` is where the minor lives.
pub async fn register(
    db: &RequestDb,
    caller: &Caller,
    municipality: String,
    input: RequestInput,
) -> AppResult<EnrolmentRow> {
    if actor(caller) != Actor::School {
        return Err(AppError::Forbidden);
    }
    let school = caller.school.clone().ok_or(AppError::Forbidden)?;
    let own_province = caller.province.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let Checked { form, year, order } = checked(input, today(c).await?)?;
            let istat = municipality.trim().to_owned();
            let (hub, province) = route(c, "input.municipality", &istat, order, form.city_zone).await?;
            if Some(&province) != own_province.as_ref() {
                return Err(bad("input.municipality", "is not a municipality of your province"));
            }
            if !q::school_for(c, &school, order.as_str()).await?.is_some_and(|(_, teaches)| teaches) {
                return Err(bad("input.order", "is not an order your school teaches"));
            }
            let new = NewEnrolment {
                municipality_istat: istat,
                origin: "school".into(),
                hub_code: hub,
                institution_code: Some(school),
                status: Status::Enrolled.as_str().into(),
                school_year: year.stored(),
                enrolled_at: Some(Utc::now()),
                form,
            };
            let row = q::insert(c, &new).await?;
            q::record(c, &transition(&row, "register", None)).await?;
            audit::record(c, vec![event("register", &row)]).await?;
            Ok(row)
        })
    })
    .await
}

/// What a move asks for besides itself.
#[derive(Debug, Clone, Default)]
pub struct MoveArgs {
    pub school: Option<String>,
    pub hub: Option<String>,
    pub reason: Option<String>,
}

/// The outcome of a move: the request's new status and version, and the
/// row when it is still in the caller's scope (a transfer or a refusal
/// hands it on).
#[derive(Debug, Clone)]
pub struct MoveOutcome {
    pub id: i64,
    pub status: Status,
    pub version: i32,
    pub row: Option<EnrolmentRow>,
}

pub async fn make_move(
    db: &RequestDb,
    caller: &Caller,
    id: i64,
    version: i32,
    m: Move,
    args: MoveArgs,
) -> AppResult<MoveOutcome> {
    // Capability first: a move of another kind of organisation is refused
    // whatever the id, so the answer tells nothing about the request.
    if actor(caller) != m.actor() {
        return Err(AppError::Forbidden);
    }
    let reason = optional("reason", args.reason, 1000)?;
    if m.needs_reason() && reason.is_none() {
        return Err(bad("reason", "is required for this move"));
    }
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let old = q::for_update(c, id).await?.ok_or(AppError::NotFound)?;
            check_version(&old, version)?;
            let from: Status = old.status.parse().map_err(|e: String| AppError::internal(anyhow::anyhow!(e)))?;
            let to = rules::next(from, m).map_err(AppError::Conflict)?;
            let mut moved = Moved {
                status: to.as_str().into(),
                hub_code: old.hub_code.clone(),
                institution_code: old.institution_code.clone(),
                enrolled_at: old.enrolled_at,
            };
            let mut t = transition(&old, m.as_str(), Some(from.as_str()));
            t.to_status = to.as_str().into();
            t.reason = reason;
            match m {
                Move::Propose => {
                    let school = args.school.map(|s| s.trim().to_ascii_uppercase()).unwrap_or_default();
                    check_proposal(c, &caller, &old, &school).await?;
                    moved.institution_code = Some(school.clone());
                    t.institution_code = Some(school);
                }
                Move::Confirm => moved.enrolled_at = Some(Utc::now()),
                Move::Decline | Move::Withdraw => moved.institution_code = None,
                Move::Transfer => {
                    let hub = args.hub.map(|h| h.trim().to_ascii_uppercase()).unwrap_or_default();
                    match q::hub(c, &hub).await? {
                        Some((_, province, _)) if province == old.province_code && hub != old.hub_code => {}
                        _ => return Err(bad("hub", "must be another hub of the request's province")),
                    }
                    moved.hub_code = hub.clone();
                    t.to_hub_code = Some(hub);
                }
                Move::TakeInCharge => {}
            }
            if q::apply(c, id, version, &moved).await? != 1 {
                return Err(AppError::Conflict("the request changed while you were moving it: read it again".into()));
            }
            q::record(c, &t).await?;
            // A refusal or a transfer hands the request out of the caller's scope.
            let row = match m {
                Move::Decline | Move::Transfer => None,
                _ => q::by_id(c, id).await?,
            };
            let mut e = event(m.as_str(), &old);
            e.current = Some(json!({
                "status": moved.status, "hub": moved.hub_code, "school": moved.institution_code, "version": version + 1,
            }));
            e.previous = Some(json!({ "status": old.status, "hub": old.hub_code, "school": old.institution_code }));
            audit::record(c, vec![e]).await?;
            Ok(MoveOutcome { id, status: to, version: version + 1, row })
        })
    })
    .await
}

/// A hub proposes a school of its territory that teaches the order asked for.
async fn check_proposal(c: &mut AsyncPgConnection, caller: &Caller, old: &EnrolmentRow, school: &str) -> AppResult<()> {
    if school.is_empty() {
        return Err(bad("school", "is required"));
    }
    let hub = caller.hub.as_deref().unwrap_or_default();
    match q::school_for(c, school, &old.school_order).await? {
        None => Err(bad("school", "is not a school code")),
        Some((_, false)) => Err(bad("school", "has no site of the order the minor needs")),
        Some(_) if !q::school_in_territory(c, hub, school).await? => {
            Err(bad("school", "is not a school of your hub's territory"))
        }
        Some(_) => Ok(()),
    }
}

/// Requests waiting since before this many days ago.
pub fn waiting_cutoff(now: DateTime<Utc>, days: i32) -> DateTime<Utc> {
    now - chrono::Duration::days(i64::from(days))
}
