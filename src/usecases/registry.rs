//! Process 1 as use cases: collection windows, classes, pupils, support-hour
//! requests, submission and approval. Each use case checks its input with the
//! pure rules, checks that the collection is open for the caller, writes,
//! and records the change in the audit trail, all in the request's
//! transaction. Row security decides which rows exist for the caller.

use chrono::NaiveDate;
use diesel_async::AsyncPgConnection;
use serde_json::{Map, Value};

use crate::authz::{Caller, Scope};
use crate::db::audit::{self, Event};
use crate::db::registry::{
    self as q, ClassFields, ClassRow, Dimension, Duplicate, PupilFields, PupilRow, ReportFilter, ReportRow,
    ReportSource, RequestRow, SubmissionRow, WindowRow,
};
use crate::db::{RequestDb, territory};
use crate::error::{AppError, AppResult};
use crate::rules::classes::{self, ClassShape};
use crate::rules::order::SchoolOrder;
use crate::rules::school_year::SchoolYear;
use crate::rules::support::{self, Ratio, Severity};
use crate::rules::tax_code::{self, Sex};
use crate::rules::window::{self, Window};

fn bad(field: &str, reason: impl Into<String>) -> AppError {
    AppError::bad_input(field, reason)
}

/// A pupil found at the start of a write and deleted by another request
/// before the write's insert: the insert's foreign key finds it gone, and
/// so does the caller.
fn gone_meanwhile(e: diesel::result::Error) -> AppError {
    match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::ForeignKeyViolation, _) => {
            AppError::NotFound
        }
        other => other.into(),
    }
}

fn year_label(stored: i32) -> String {
    SchoolYear::from_stored(stored).map_or_else(|| stored.to_string(), |y| y.to_string())
}

/// A school writes only while a collection window of its province is open
/// for it, and until it submits its request; the office is not bound.
pub(crate) async fn check_writable(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    institution: &str,
    province: &str,
    year: i32,
) -> AppResult<()> {
    if caller.scope != Scope::School {
        return Ok(());
    }
    let today = q::today(conn).await?;
    let windows: Vec<Window> = q::windows(conn, province, year)
        .await?
        .into_iter()
        .map(|w| Window {
            school: w.institution_code,
            opens_on: w.opens_on,
            closes_on: w.closes_on,
            closed: w.closed_at.is_some(),
        })
        .collect();
    if !window::is_open(&windows, institution, today) {
        return Err(AppError::CampaignClosed(format!(
            "the collection for {} is closed: data can be read but not changed",
            year_label(year)
        )));
    }
    if q::submission(conn, institution, year).await?.is_some_and(|s| s.state == "submitted") {
        return Err(AppError::Submitted(format!(
            "the support request for {} was submitted: ask the provincial office to send it back before changing it",
            year_label(year)
        )));
    }
    Ok(())
}

// Collection windows.

pub async fn open_window(
    db: &RequestDb,
    caller: &Caller,
    year: SchoolYear,
    opens_on: NaiveDate,
    closes_on: NaiveDate,
    schools: Option<Vec<String>>,
) -> AppResult<Vec<WindowRow>> {
    let province = caller.office_province()?;
    if closes_on < opens_on {
        return Err(bad("input.closesOn", "must not be before opensOn"));
    }
    db.try_run(move |c| {
        Box::pin(async move {
            let targets: Vec<Option<String>> = match schools {
                None => vec![None],
                Some(list) => check_schools(c, &province, list).await?.into_iter().map(Some).collect(),
            };
            let mut out = Vec::new();
            for school in targets {
                let w = q::open_window(c, &province, year.stored(), school, opens_on, closes_on).await?;
                out.push(w);
            }
            audit::record(c, out.iter().map(|w| window_event("open_window", w)).collect()).await?;
            Ok(out)
        })
    })
    .await
}

pub async fn close_window(
    db: &RequestDb,
    caller: &Caller,
    year: SchoolYear,
    schools: Option<Vec<String>>,
) -> AppResult<Vec<WindowRow>> {
    let province = caller.office_province()?;
    db.try_run(move |c| {
        Box::pin(async move {
            let schools = match schools {
                Some(list) => Some(check_schools(c, &province, list).await?),
                None => None,
            };
            let closed = q::close_windows(c, &province, year.stored(), schools).await?;
            audit::record(c, closed.iter().map(|w| window_event("close_window", w)).collect()).await?;
            Ok(closed)
        })
    })
    .await
}

/// Named schools must be institutions of the office's province.
async fn check_schools(c: &mut AsyncPgConnection, province: &str, list: Vec<String>) -> AppResult<Vec<String>> {
    if list.is_empty() {
        return Err(bad("input.schools", "name at least one school, or leave the list out for every school"));
    }
    let codes: Vec<String> = list.iter().map(|s| s.trim().to_ascii_uppercase()).collect();
    let found = q::provinces_of(c, codes.clone()).await?;
    for code in &codes {
        if !found.iter().any(|(c, p)| c == code && p == province) {
            return Err(bad("input.schools", format!("{code} is not a school of province {province}")));
        }
    }
    Ok(codes)
}

fn window_event(action: &'static str, w: &WindowRow) -> Event {
    Event {
        action,
        object_kind: "collection_window",
        object_id: Some(w.id.to_string()),
        province: Some(w.province_code.clone()),
        institution: w.institution_code.clone(),
        current: Some(serde_json::json!({
            "schoolYear": year_label(w.school_year),
            "opensOn": w.opens_on,
            "closesOn": w.closes_on,
            "closed": w.closed_at.is_some(),
        })),
        ..Event::default()
    }
}

// Classes.

/// A class as the school enters it.
#[derive(Debug, Clone)]
pub struct ClassInput {
    pub school_year: SchoolYear,
    pub site: String,
    pub order: SchoolOrder,
    pub year_of_study: i32,
    pub section: String,
    pub pupils: i32,
    pub time_model_hours: i32,
}

async fn class_fields(
    c: &mut AsyncPgConnection,
    caller: &Caller,
    input: &ClassInput,
) -> AppResult<(ClassFields, String)> {
    let site_code = input.site.trim().to_ascii_uppercase();
    let site = territory::sites_by_code(c, vec![site_code.clone()]).await?.into_iter().next();
    let site = site.filter(|s| caller.reaches(&s.institution_code, &s.province_code));
    let Some(site) = site else {
        return Err(bad("input.site", "is not a site of your school"));
    };
    let site_order = site.school_order.as_deref().and_then(|o| o.parse::<SchoolOrder>().ok());
    let shape = ClassShape {
        order: input.order,
        year_of_study: input.year_of_study,
        section: input.section.clone(),
        pupils: input.pupils,
        time_model_hours: input.time_model_hours,
    };
    let shape = classes::check(&shape, site_order).map_err(|(f, r)| bad(&format!("input.{f}"), r))?;
    Ok((
        ClassFields {
            school_year: input.school_year.stored(),
            institution_code: site.institution_code,
            site_code: site.code,
            school_order: shape.order.as_str().to_owned(),
            year_of_study: shape.year_of_study,
            section: shape.section,
            pupils: shape.pupils,
            time_model_hours: shape.time_model_hours,
        },
        site.province_code,
    ))
}

fn class_taken(f: &ClassFields) -> AppError {
    AppError::Conflict(format!(
        "class {}{} already exists at site {} for {}",
        f.year_of_study,
        f.section,
        f.site_code,
        year_label(f.school_year)
    ))
}

pub async fn create_class(db: &RequestDb, caller: &Caller, input: ClassInput) -> AppResult<ClassRow> {
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let (fields, province) = class_fields(c, &caller, &input).await?;
            check_writable(c, &caller, &fields.institution_code, &province, fields.school_year).await?;
            let f = fields.clone();
            let row = q::unless_taken(c, move |c| Box::pin(async move { q::insert_class(c, &f).await }))
                .await?
                .map_err(|_| class_taken(&fields))?;
            audit::record(c, vec![class_event("create", &row, None)]).await?;
            Ok(row)
        })
    })
    .await
}

pub async fn update_class(db: &RequestDb, caller: &Caller, id: i64, input: ClassInput) -> AppResult<ClassRow> {
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let old = q::classes_by_id(c, vec![id]).await?.into_iter().next().ok_or(AppError::NotFound)?;
            check_writable(c, &caller, &old.institution_code, &old.province_code, old.school_year).await?;
            let (fields, _) = class_fields(c, &caller, &input).await?;
            if fields.institution_code != old.institution_code || fields.school_year != old.school_year {
                return Err(bad("input.site", "a class stays in its school and school year"));
            }
            if fields.school_order != old.school_order && q::pupils_in_class(c, id).await? > 0 {
                return Err(bad("input.order", "the class has pupils: move them before changing its order"));
            }
            let f = fields.clone();
            let row = q::unless_taken(c, move |c| Box::pin(async move { q::update_class(c, id, &f).await }))
                .await?
                .map_err(|_| class_taken(&fields))?;
            audit::record(c, vec![class_event("update", &row, Some(&old))]).await?;
            Ok(row)
        })
    })
    .await
}

pub async fn delete_class(db: &RequestDb, caller: &Caller, id: i64) -> AppResult<()> {
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let old = q::classes_by_id(c, vec![id]).await?.into_iter().next().ok_or(AppError::NotFound)?;
            check_writable(c, &caller, &old.institution_code, &old.province_code, old.school_year).await?;
            if q::pupils_in_class(c, id).await? > 0 {
                return Err(AppError::Conflict("the class has pupils: move or remove them first".into()));
            }
            q::delete_class(c, id).await?;
            let mut e = class_event("delete", &old, None);
            (e.previous, e.current) = (e.current, None);
            audit::record(c, vec![e]).await?;
            Ok(())
        })
    })
    .await
}

fn class_json(r: &ClassRow) -> Value {
    serde_json::json!({
        "site": r.site_code, "order": r.school_order, "yearOfStudy": r.year_of_study,
        "section": r.section, "pupils": r.pupils, "timeModelHours": r.time_model_hours,
    })
}

fn class_event(action: &'static str, r: &ClassRow, previous: Option<&ClassRow>) -> Event {
    let (previous, current) = diff(previous.map(class_json), Some(class_json(r)));
    Event {
        action,
        object_kind: "class",
        object_id: Some(r.id.to_string()),
        province: Some(r.province_code.clone()),
        institution: Some(r.institution_code.clone()),
        fields: changed_keys(&previous, &current),
        previous,
        current,
        ..Event::default()
    }
}

// Pupils.

/// A pupil as entered; every field, as for a new registration.
#[derive(Debug, Clone)]
pub struct PupilInput {
    pub class_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub tax_code: String,
    pub birth_date: NaiveDate,
    pub sex: Sex,
    pub severity: Severity,
    pub certified_on: NaiveDate,
    pub revision_on: Option<NaiveDate>,
    pub certified_by: String,
}

/// Changes to a pupil: only the fields given change. `revision_on` of
/// `Some(None)` clears the revision date (a permanent certification).
#[derive(Debug, Clone, Default)]
pub struct PupilPatch {
    pub class_id: Option<i64>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub tax_code: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub sex: Option<Sex>,
    pub severity: Option<Severity>,
    pub certified_on: Option<NaiveDate>,
    pub revision_on: Option<Option<NaiveDate>>,
    pub certified_by: Option<String>,
}

fn sex_str(s: Sex) -> &'static str {
    match s {
        Sex::F => "F",
        Sex::M => "M",
    }
}

pub fn parse_sex(s: &str) -> Option<Sex> {
    match s {
        "F" => Some(Sex::F),
        "M" => Some(Sex::M),
        _ => None,
    }
}

/// A person's name: trimmed, single spaces, 1 to 100 characters with a letter.
fn name(field: &str, raw: &str) -> AppResult<String> {
    let n = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if n.is_empty() || n.chars().count() > 100 || !n.chars().any(char::is_alphabetic) {
        return Err(bad(field, "must be 1 to 100 characters, with at least one letter"));
    }
    if n.chars().any(|ch| ch.is_control() || "<>{}[]|\\;".contains(ch)) {
        return Err(bad(field, "contains characters that do not belong in a name"));
    }
    Ok(n)
}

/// Checks a pupil's identity and certification as a whole.
fn check_pupil(mut p: PupilFields, today: NaiveDate) -> AppResult<PupilFields> {
    p.first_name = name("input.firstName", &p.first_name)?;
    p.last_name = name("input.lastName", &p.last_name)?;
    let code = tax_code::parse(&p.tax_code).map_err(|r| bad("input.taxCode", r))?;
    let sex = parse_sex(&p.sex).ok_or_else(|| bad("input.sex", "must be F or M"))?;
    code.matches(p.birth_date, sex).map_err(|r| bad("input.taxCode", r))?;
    p.tax_code = code.code;
    if p.birth_date >= today || p.birth_date < today - chrono::Days::new(30 * 366) {
        return Err(bad("input.birthDate", "must be a past date within the last 30 years"));
    }
    if p.certified_on > today {
        return Err(bad("input.certification.certifiedOn", "must not be in the future"));
    }
    if p.certified_on < p.birth_date {
        return Err(bad("input.certification.certifiedOn", "must not be before the birth date"));
    }
    if p.revision_on.is_some_and(|r| r <= p.certified_on) {
        return Err(bad("input.certification.revisionOn", "must be after the certification date"));
    }
    let body = p.certified_by.split_whitespace().collect::<Vec<_>>().join(" ");
    if body.is_empty() || body.chars().count() > 200 {
        return Err(bad("input.certification.issuedBy", "must name the issuing body (1 to 200 characters)"));
    }
    p.certified_by = body;
    Ok(p)
}

fn duplicate(d: Duplicate, year: i32) -> AppError {
    match d {
        Duplicate::Visible(id) => AppError::Conflict(format!(
            "a pupil with this tax code is already registered for {} (pupil {id})",
            year_label(year)
        )),
        Duplicate::Elsewhere => AppError::Conflict(format!(
            "this pupil is already registered elsewhere in the province for {}: the provincial office will resolve it",
            year_label(year)
        )),
    }
}

/// A registration refused because another school has the pupil: kept in the
/// trail even though the request fails, so the office can resolve it.
fn duplicate_event(f: &PupilFields, province: &str) -> Event {
    Event {
        action: "duplicate_registration",
        object_kind: "pupil",
        province: Some(province.to_owned()),
        institution: Some(f.institution_code.clone()),
        fields: vec!["taxCode".into()],
        current: Some(serde_json::json!({ "taxCode": f.tax_code, "schoolYear": year_label(f.school_year) })),
        ..Event::default()
    }
}

/// The outcome of a pupil write: the row, or a refusal with the event the
/// trail keeps regardless.
type PupilWrite = Result<PupilRow, (AppError, Option<Event>)>;

async fn keep_refusal(db: &RequestDb, w: AppResult<PupilWrite>) -> AppResult<PupilRow> {
    match w? {
        Ok(row) => Ok(row),
        Err((err, event)) => {
            if let Some(e) = event {
                db.note_event(e);
            }
            Err(err)
        }
    }
}

/// Maps a duplicate to its error, and to an event when another school has the pupil.
fn refusal(d: Duplicate, f: &PupilFields, province: &str) -> (AppError, Option<Event>) {
    let event = (d == Duplicate::Elsewhere).then(|| duplicate_event(f, province));
    (duplicate(d, f.school_year), event)
}

/// The class a pupil is placed in, which the caller must reach.
async fn class_for(c: &mut AsyncPgConnection, caller: &Caller, id: i64) -> AppResult<ClassRow> {
    q::classes_by_id(c, vec![id])
        .await?
        .into_iter()
        .next()
        .filter(|k| caller.reaches(&k.institution_code, &k.province_code))
        .ok_or_else(|| bad("input.classId", "no such class"))
}

pub async fn create_pupil(db: &RequestDb, caller: &Caller, input: PupilInput) -> AppResult<PupilRow> {
    let caller = caller.clone();
    let written = db.try_run(move |c| {
        Box::pin(async move {
            let class = class_for(c, &caller, input.class_id).await?;
            check_writable(c, &caller, &class.institution_code, &class.province_code, class.school_year).await?;
            let fields = PupilFields {
                school_year: class.school_year,
                institution_code: class.institution_code.clone(),
                class_id: class.id,
                first_name: input.first_name,
                last_name: input.last_name,
                tax_code: input.tax_code,
                birth_date: input.birth_date,
                sex: sex_str(input.sex).into(),
                severity: input.severity.as_str().into(),
                certified_on: input.certified_on,
                revision_on: input.revision_on,
                certified_by: input.certified_by,
            };
            let fields = check_pupil(fields, q::today(c).await?)?;
            let row = match q::insert_pupil(c, class.province_code.clone(), fields.clone()).await? {
                Ok(row) => row,
                Err(d) => return Ok(Err(refusal(d, &fields, &class.province_code))),
            };
            audit::record(c, vec![pupil_event("create", &row, None)]).await?;
            Ok(Ok(row))
        })
    });
    keep_refusal(db, written.await).await
}

pub async fn update_pupil(db: &RequestDb, caller: &Caller, id: i64, patch: PupilPatch) -> AppResult<PupilRow> {
    let caller = caller.clone();
    let written = db.try_run(move |c| {
        Box::pin(async move {
            let old = q::pupils_by_id(c, vec![id]).await?.into_iter().next().ok_or(AppError::NotFound)?;
            check_writable(c, &caller, &old.institution_code, &old.province_code, old.school_year).await?;
            let mut f = old.fields();
            if let Some(class_id) = patch.class_id {
                let class = class_for(c, &caller, class_id).await?;
                if class.institution_code != old.institution_code || class.school_year != old.school_year {
                    return Err(bad("input.classId", "must be a class of the same school and school year"));
                }
                f.class_id = class.id;
            }
            f.first_name = patch.first_name.unwrap_or(f.first_name);
            f.last_name = patch.last_name.unwrap_or(f.last_name);
            f.tax_code = patch.tax_code.unwrap_or(f.tax_code);
            f.birth_date = patch.birth_date.unwrap_or(f.birth_date);
            f.sex = patch.sex.map(|s| sex_str(s).to_owned()).unwrap_or(f.sex);
            f.severity = patch.severity.map(|s| s.as_str().to_owned()).unwrap_or(f.severity);
            f.certified_on = patch.certified_on.unwrap_or(f.certified_on);
            f.revision_on = patch.revision_on.unwrap_or(f.revision_on);
            f.certified_by = patch.certified_by.unwrap_or(f.certified_by);
            let f = check_pupil(f, q::today(c).await?)?;
            if f == old.fields() {
                return Ok(Ok(old));
            }
            let severity_changed = f.severity != old.severity;
            let row = match q::update_pupil(c, id, old.province_code.clone(), f.clone()).await? {
                Ok(row) => row,
                Err(d) => return Ok(Err(refusal(d, &f, &old.province_code))),
            };
            // A request fixed by the severe one-to-one rule follows the certification.
            if severity_changed || row.class_id != old.class_id {
                recheck_request(c, &row).await?;
            }
            audit::record(c, vec![pupil_event("update", &row, Some(&old))]).await?;
            Ok(Ok(row))
        })
    });
    keep_refusal(db, written.await).await
}

pub async fn delete_pupil(db: &RequestDb, caller: &Caller, id: i64) -> AppResult<()> {
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let old = q::pupils_by_id(c, vec![id]).await?.into_iter().next().ok_or(AppError::NotFound)?;
            check_writable(c, &caller, &old.institution_code, &old.province_code, old.school_year).await?;
            q::delete_pupil(c, id).await?;
            let mut e = pupil_event("delete", &old, None);
            (e.previous, e.current) = (e.current, None);
            audit::record(c, vec![e]).await?;
            Ok(())
        })
    })
    .await
}

fn pupil_json(r: &PupilRow) -> Value {
    serde_json::to_value(r.fields()).unwrap_or(Value::Null)
}

fn pupil_event(action: &'static str, r: &PupilRow, previous: Option<&PupilRow>) -> Event {
    let (previous, current) = diff(previous.map(pupil_json), Some(pupil_json(r)));
    Event {
        action,
        object_kind: "pupil",
        object_id: Some(r.id.to_string()),
        pupil_ids: vec![r.id],
        province: Some(r.province_code.clone()),
        institution: Some(r.institution_code.clone()),
        fields: changed_keys(&previous, &current),
        previous,
        current,
    }
}

// Support hours.

async fn order_of_pupil(c: &mut AsyncPgConnection, p: &PupilRow) -> AppResult<SchoolOrder> {
    let class = q::classes_by_id(c, vec![p.class_id]).await?.into_iter().next().ok_or(AppError::NotFound)?;
    class.school_order.parse::<SchoolOrder>().map_err(|e| AppError::internal(anyhow::anyhow!(e)))
}

/// After a change of certification or class, the stored request must still
/// obey the rule; a severe one-to-one request follows the order's hours.
async fn recheck_request(c: &mut AsyncPgConnection, p: &PupilRow) -> AppResult<()> {
    let Some(r) = q::requests_by_pupil(c, vec![p.id]).await?.into_iter().next() else { return Ok(()) };
    let order = order_of_pupil(c, p).await?;
    let severity: Severity = p.severity.parse().map_err(|e: String| AppError::internal(anyhow::anyhow!(e)))?;
    let ratio =
        Ratio::pupils(r.ratio).ok_or_else(|| AppError::internal(anyhow::anyhow!("stored ratio {}", r.ratio)))?;
    let fixed = severity == Severity::C3 && ratio == Ratio::ONE_TO_ONE;
    let hours = support::requested_hours(order, severity, ratio, (!fixed).then_some(r.hours))
        .map_err(|e| bad("input", format!("the support request no longer fits: {}", e.reason)))?;
    if hours != r.hours {
        q::upsert_request(c, p.id, &p.institution_code, r.ratio, hours).await?;
    }
    Ok(())
}

pub async fn request_hours(
    db: &RequestDb,
    caller: &Caller,
    pupil_id: i64,
    ratio: Ratio,
    hours: Option<i32>,
) -> AppResult<(PupilRow, RequestRow)> {
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let p = q::pupils_by_id(c, vec![pupil_id]).await?.into_iter().next().ok_or(AppError::NotFound)?;
            check_writable(c, &caller, &p.institution_code, &p.province_code, p.school_year).await?;
            let order = order_of_pupil(c, &p).await?;
            let severity: Severity = p.severity.parse().map_err(|e: String| AppError::internal(anyhow::anyhow!(e)))?;
            let hours = support::requested_hours(order, severity, ratio, hours).map_err(|e| bad(e.field, e.reason))?;
            let old = q::requests_by_pupil(c, vec![pupil_id]).await?.into_iter().next();
            let row = q::upsert_request(c, pupil_id, &p.institution_code, ratio.pupils_per_teacher(), hours)
                .await
                .map_err(gone_meanwhile)?;
            let json = |r: &RequestRow| {
                serde_json::json!({ "ratio": Ratio::pupils(r.ratio).map(|x| x.to_string()), "hours": r.hours })
            };
            let (previous, current) = diff(old.as_ref().map(json), Some(json(&row)));
            audit::record(
                c,
                vec![Event {
                    action: if old.is_some() { "update" } else { "create" },
                    object_kind: "support_request",
                    object_id: Some(pupil_id.to_string()),
                    pupil_ids: vec![pupil_id],
                    province: Some(p.province_code.clone()),
                    institution: Some(p.institution_code.clone()),
                    fields: changed_keys(&previous, &current),
                    previous,
                    current,
                }],
            )
            .await?;
            Ok((p, row))
        })
    })
    .await
}

/// The school submits its request for the year: every pupil needs a request.
pub async fn submit(db: &RequestDb, caller: &Caller, year: SchoolYear) -> AppResult<SubmissionRow> {
    let caller = caller.clone();
    let (Scope::School, Some(school), Some(province)) = (caller.scope, caller.school.clone(), caller.province.clone())
    else {
        return Err(AppError::Forbidden);
    };
    db.try_run(move |c| {
        Box::pin(async move {
            check_writable(c, &caller, &school, &province, year.stored()).await?;
            let filter = q::PupilFilter {
                school_year: Some(year.stored()),
                institution: Some(school.clone()),
                ..Default::default()
            };
            let pupils = q::pupils_count(c, &filter).await?;
            let requested: i64 = q::totals(c, &school, year.stored()).await?.iter().map(|t| t.pupils).sum();
            if requested < pupils {
                return Err(bad(
                    "schoolYear",
                    format!("{} of {pupils} pupils have no support-hour request yet", pupils - requested),
                ));
            }
            let row = q::submit(c, &school, year.stored()).await?;
            audit::record(c, vec![submission_event("submit", &province, &row)]).await?;
            Ok(row)
        })
    })
    .await
}

/// The office sends a submitted request back to the school, with a reason.
pub async fn send_back(
    db: &RequestDb,
    caller: &Caller,
    school: String,
    year: SchoolYear,
    reason: String,
) -> AppResult<SubmissionRow> {
    let province = caller.office_province()?;
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(bad("reason", "say why, in 1 to 1000 characters"));
    }
    let school = school.trim().to_ascii_uppercase();
    db.try_run(move |c| {
        Box::pin(async move {
            let row = q::send_back(c, &school, year.stored(), &reason).await?.ok_or_else(|| {
                AppError::Conflict(format!("{school} has no submitted request for {year} to send back"))
            })?;
            audit::record(c, vec![submission_event("return", &province, &row)]).await?;
            Ok(row)
        })
    })
    .await
}

fn submission_event(action: &'static str, province: &str, r: &SubmissionRow) -> Event {
    Event {
        action,
        object_kind: "support_submission",
        object_id: Some(format!("{}/{}", r.institution_code, year_label(r.school_year))),
        province: Some(province.to_owned()),
        institution: Some(r.institution_code.clone()),
        current: Some(serde_json::json!({ "state": r.state, "reason": r.return_reason })),
        ..Event::default()
    }
}

/// The office approves hours for a pupil of a submitted request.
/// Returns the pupil and its request, whose approved hours are now set.
pub async fn approve(db: &RequestDb, caller: &Caller, pupil_id: i64, hours: i32) -> AppResult<(PupilRow, RequestRow)> {
    caller.office_province()?;
    db.try_run(move |c| {
        Box::pin(async move {
            let p = q::pupils_by_id(c, vec![pupil_id]).await?.into_iter().next().ok_or(AppError::NotFound)?;
            let submitted =
                q::submission(c, &p.institution_code, p.school_year).await?.is_some_and(|s| s.state == "submitted");
            if !submitted {
                return Err(AppError::Conflict(format!(
                    "{} has not submitted its request for {}: hours are approved on submitted requests",
                    p.institution_code,
                    year_label(p.school_year)
                )));
            }
            let Some(request) = q::requests_by_pupil(c, vec![pupil_id]).await?.into_iter().next() else {
                return Err(bad("pupilId", "the school requested no support hours for this pupil"));
            };
            let order = order_of_pupil(c, &p).await?;
            let hours = support::approved_hours(order, hours).map_err(|e| bad(e.field, e.reason))?;
            let old = q::approvals_by_pupil(c, vec![pupil_id]).await?.into_iter().next();
            let row = q::upsert_approval(c, pupil_id, &p.institution_code, hours).await.map_err(gone_meanwhile)?;
            audit::record(
                c,
                vec![Event {
                    action: "approve",
                    object_kind: "support_approval",
                    object_id: Some(pupil_id.to_string()),
                    pupil_ids: vec![pupil_id],
                    province: Some(p.province_code.clone()),
                    institution: Some(p.institution_code.clone()),
                    fields: vec!["hours".into()],
                    previous: old.map(|o| serde_json::json!({ "hours": o.hours })),
                    current: Some(serde_json::json!({ "hours": row.hours })),
                }],
            )
            .await?;
            Ok((p, request))
        })
    })
    .await
}

/// A registry report for a caller who reads pupils at `caller.scope`, and
/// reads classes, requests and approvals at `joined` (`None`: not at all).
/// When all four are read at one scope, as every role of the policy does,
/// the report is summed from the cells the writes keep up to date;
/// otherwise it is counted from the pupils, each table under its own row
/// security. Both give the same figures.
pub async fn report(
    db: &RequestDb,
    caller: &Caller,
    joined: [Option<Scope>; 3],
    year: i32,
    group_by: Vec<Dimension>,
    filter: ReportFilter,
) -> AppResult<Vec<ReportRow>> {
    let source =
        if joined.iter().all(|s| *s == Some(caller.scope)) { ReportSource::Cells } else { ReportSource::Pupils };
    let filter = ReportFilter { within: caller.within(), ..filter };
    db.run(move |c| Box::pin(async move { q::report(c, year, &group_by, &filter, source).await })).await
}

/// Keeps only the keys whose values differ: the trail records what changed.
fn diff(previous: Option<Value>, current: Option<Value>) -> (Option<Value>, Option<Value>) {
    let (Some(Value::Object(p)), Some(Value::Object(c))) = (&previous, &current) else {
        return (previous, current);
    };
    let keys: Vec<&String> = c.keys().filter(|k| p.get(*k) != c.get(*k)).collect();
    let pick = |m: &Map<String, Value>| {
        Value::Object(keys.iter().filter_map(|k| m.get(*k).map(|v| ((*k).clone(), v.clone()))).collect())
    };
    (Some(pick(p)), Some(pick(c)))
}

fn changed_keys(previous: &Option<Value>, current: &Option<Value>) -> Vec<String> {
    let mut keys: Vec<String> = [previous, current]
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|m| m.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trail_keeps_only_what_changed() {
        let (p, c) = diff(Some(serde_json::json!({"a": 1, "b": 2})), Some(serde_json::json!({"a": 1, "b": 3})));
        assert_eq!(p, Some(serde_json::json!({"b": 2})));
        assert_eq!(c, Some(serde_json::json!({"b": 3})));
        assert_eq!(changed_keys(&p, &c), vec!["b".to_owned()]);
        let (p, c) = diff(None, Some(serde_json::json!({"a": 1})));
        assert_eq!((p, changed_keys(&None, &c)), (None, vec!["a".to_owned()]));
    }

    #[test]
    fn names_are_tidied_and_checked() {
        assert_eq!(name("f", "  Anna   Maria ").unwrap(), "Anna Maria");
        assert!(name("f", "   ").is_err());
        assert!(name("f", "1234").is_err());
        assert!(name("f", "<script>").is_err());
        assert_eq!(name("f", "D'Angelo").unwrap(), "D'Angelo");
    }
}
