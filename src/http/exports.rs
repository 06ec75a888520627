//! File downloads of tenant data: the registry export ("scarica dettaglio
//! anagrafica") as `.xlsx` or CSV, a school's summary of requested hours as
//! PDF, and the monitoring export of refugee minors' requests. The session
//! comes in the `Authorization` header, never in the URL; the rows are read
//! under row security, and every pupil exported is a read in the audit trail.

use std::sync::Arc;

use poem::http::{StatusCode, header};
use poem::web::{Data, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::{AppState, Scoped, error_response, scoped};
use crate::authz::{Action, Caller, ObjectKind, Scope};
use crate::db::registry::{self as q, ReportFilter};
use crate::db::{RequestDb, audit, refugees, territory};
use crate::error::{AppError, current_request_id};
use crate::graphql::territory::{code_arg, istat_arg};
use crate::reports;
use crate::reports::summary::{self, Summary};
use crate::rules::order::SchoolOrder;
use crate::rules::refugees::Status;
use crate::rules::school_year::SchoolYear;
use crate::rules::support::{Ratio, stored_order_label};

/// Fields of a pupil that an export discloses, for the audit trail.
const EXPORTED: [&str; 6] = ["firstName", "lastName", "taxCode", "birthDate", "sex", "certification"];

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExportParams {
    school_year: Option<String>,
    /// `xlsx` (default) or `csv`.
    format: Option<String>,
    school: Option<String>,
    municipality: Option<String>,
    ambit: Option<String>,
    order: Option<String>,
    severity: Option<String>,
}

fn filter_of(p: &ExportParams) -> Result<(SchoolYear, ReportFilter), AppError> {
    let year =
        p.school_year.as_deref().ok_or_else(|| AppError::bad_input("schoolYear", "is required, e.g. 2026/27"))?;
    let year: SchoolYear = year.parse().map_err(|r| AppError::bad_input("schoolYear", r))?;
    let order = p
        .order
        .as_deref()
        .map(|o| o.to_ascii_lowercase().parse::<SchoolOrder>().map_err(|r| AppError::bad_input("order", r)))
        .transpose()?;
    let severity = match p.severity.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some(s @ ("c1" | "c3")) => Some(s.to_owned()),
        Some(_) => return Err(AppError::bad_input("severity", "must be C1 or C3")),
    };
    Ok((
        year,
        ReportFilter {
            within: Default::default(),
            institution: code_arg("school", p.school.clone(), 10)?,
            municipality: istat_arg("municipality", p.municipality.clone())?,
            ambit: code_arg("ambit", p.ambit.clone(), 16)?,
            order: order.map(|o| o.as_str().to_owned()),
            severity,
        },
    ))
}

/// `GET /exports/registry?schoolYear=2026/27&format=xlsx|csv` and the
/// filters `school`, `municipality`, `ambit`, `order`, `severity`.
#[handler]
pub async fn registry(
    req: &Request,
    Query(params): Query<ExportParams>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    download(req, state, Export::Registry(&params)).await.unwrap_or_else(error_response)
}

/// The files this module makes.
enum Export<'a> {
    Registry(&'a ExportParams),
    Summary(&'a SummaryParams),
    Enrolments(&'a EnrolmentParams),
    Admissions(&'a AdmissionParams),
    Albo(&'a AlboParams),
    MobilityReceipt(&'a ReceiptParams),
    MobilityCertificate(&'a ReceiptParams),
    MobilityOutcomes(&'a OutcomeParams),
}

/// Makes a file for the caller in one transaction in the caller's scope:
/// committed, with its audit events, only when the file was made; the reads
/// it noted are recorded either way.
async fn download(req: &Request, state: &AppState, export: Export<'_>) -> Result<Response, AppError> {
    let obj = match export {
        Export::Registry(_) => ObjectKind::Pupil,
        Export::Summary(_) => ObjectKind::SupportRequest,
        Export::Enrolments(_) => ObjectKind::EnrolmentRequest,
        Export::Admissions(_) => ObjectKind::AdmissionApplication,
        Export::Albo(_) => ObjectKind::AdmissionPublic,
        Export::MobilityReceipt(_) => ObjectKind::MobilityApplication,
        Export::MobilityCertificate(_) | Export::MobilityOutcomes(_) => ObjectKind::MobilityAllocation,
    };
    let Scoped { caller, db, .. } = scoped(req, state, obj, Action::Read).await?;
    let made = match export {
        Export::Registry(p) => registry_file(&db, &caller, p).await,
        Export::Summary(p) => summary_file(&db, &caller, p).await,
        Export::Enrolments(p) => enrolments_file(&db, &caller, p).await,
        Export::Admissions(p) => admissions_file(&db, state.clock.now(), p).await,
        Export::Albo(p) => albo_file(&db, &caller, state.clock.now(), p).await,
        Export::MobilityReceipt(p) => receipt_file(&db, &caller, p).await,
        Export::MobilityCertificate(p) => certificate_file(&db, &caller, state.clock.now(), p).await,
        Export::MobilityOutcomes(p) => outcomes_file(&db, &caller, p).await,
    };
    db.settle(made).await
}

fn file(mime: &str, name: &str, body: Vec<u8>) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .content_type(mime)
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
}

/// `xlsx` (the default) or `csv`: whether the file is CSV.
fn is_csv(format: Option<&str>) -> Result<bool, AppError> {
    match format.unwrap_or("xlsx") {
        "xlsx" => Ok(false),
        "csv" => Ok(true),
        _ => Err(AppError::bad_input("format", "must be xlsx or csv")),
    }
}

/// One sheet of rows as a download named `{stem}.xlsx` or `{stem}.csv`.
fn spreadsheet(
    csv: bool,
    stem: &str,
    sheet: &str,
    headers: &[&str],
    rows: impl Iterator<Item = Vec<reports::Cell>>,
) -> Result<Response, AppError> {
    Ok(if csv {
        file(
            "text/csv; charset=utf-8",
            &format!("{stem}.csv"),
            reports::csv(headers, rows).map_err(AppError::internal)?,
        )
    } else {
        let body = reports::xlsx(sheet, headers, rows).map_err(AppError::internal)?;
        file("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", &format!("{stem}.xlsx"), body)
    })
}

/// The institution `code`, if the caller reaches it. Out of scope is not
/// found, exactly like a school that does not exist.
async fn reachable_school(
    db: &RequestDb,
    caller: &Caller,
    code: String,
) -> Result<crate::db::territory::InstitutionRow, AppError> {
    let inst = db
        .run(move |c| Box::pin(async move { territory::institutions_by_code(c, vec![code]).await }))
        .await?
        .into_iter()
        .next();
    inst.filter(|i| caller.reaches(&i.code, &i.province_code)).ok_or(AppError::NotFound)
}

async fn registry_file(db: &RequestDb, caller: &Caller, params: &ExportParams) -> Result<Response, AppError> {
    let csv = is_csv(params.format.as_deref())?;
    let (year, filter) = filter_of(params)?;
    if let Some(code) = filter.institution.clone() {
        reachable_school(db, caller, code).await?;
    }
    let filter = ReportFilter { within: caller.within(), ..filter };
    let stored = year.stored();
    let rows = db.run(move |c| Box::pin(async move { q::export_rows(c, stored, &filter).await })).await?;
    for r in &rows {
        for field in EXPORTED {
            db.note_read(r.id, &r.province_code, &r.institution_code, field);
        }
    }
    let scope = caller.school.clone().or(caller.province.clone()).unwrap_or_else(|| "ambito".into());
    tracing::info!(request_id = %current_request_id(), rows = rows.len(), csv, "registry export");
    let stem = format!("anagrafica-{}-{}", scope, year.to_string().replace('/', "-"));
    use reports::registry::{HEADERS, SHEET, cells};
    spreadsheet(csv, &stem, SHEET, &HEADERS, rows.iter().map(cells))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EnrolmentParams {
    school_year: Option<String>,
    /// `xlsx` (default) or `csv`.
    format: Option<String>,
    /// Comma-separated statuses, e.g. `submitted,in_charge`.
    status: Option<String>,
}

/// `GET /exports/enrolment-requests?format=xlsx|csv[&schoolYear=2026/27][&status=…]`:
/// the monitoring export of refugee minors' requests, for hubs (their
/// territory) and the office (its province). No names, no contacts.
#[handler]
pub async fn enrolment_requests(
    req: &Request,
    Query(params): Query<EnrolmentParams>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    download(req, state, Export::Enrolments(&params)).await.unwrap_or_else(error_response)
}

async fn enrolments_file(db: &RequestDb, caller: &Caller, params: &EnrolmentParams) -> Result<Response, AppError> {
    if !matches!(caller.scope, Scope::Territory | Scope::Province) {
        return Err(AppError::Forbidden);
    }
    let csv = is_csv(params.format.as_deref())?;
    let year = params
        .school_year
        .as_deref()
        .map(|y| y.parse::<SchoolYear>().map_err(|r| AppError::bad_input("schoolYear", r)))
        .transpose()?;
    let statuses = params
        .status
        .as_deref()
        .map(|list| {
            list.split(',')
                .map(|s| s.trim().to_ascii_lowercase().parse::<Status>().map(|s| s.as_str().to_owned()))
                .collect::<Result<Vec<String>, String>>()
                .map_err(|r| AppError::bad_input("status", r))
        })
        .transpose()?;
    let stored = year.map(SchoolYear::stored);
    let rows = db.run(move |c| Box::pin(refugees::export_rows(c, stored, statuses))).await?;
    let scope = caller.hub.clone().or(caller.province.clone()).unwrap_or_else(|| "ambito".into());
    tracing::info!(request_id = %current_request_id(), rows = rows.len(), csv, "enrolment export");
    use reports::refugees::{HEADERS, SHEET, cells};
    spreadsheet(csv, &format!("richieste-minori-{scope}"), SHEET, &HEADERS, rows.iter().map(cells))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionParams {
    round: Option<String>,
    /// `xlsx` (default) or `csv`.
    format: Option<String>,
}

/// `GET /exports/admissions?round=ID&format=xlsx|csv`: a round's
/// applications and their current outcomes, for the school (its own rounds).
/// The export is a read of every pupil's identity, recorded in the trail.
#[handler]
pub async fn admissions(
    req: &Request,
    Query(params): Query<AdmissionParams>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    download(req, state, Export::Admissions(&params)).await.unwrap_or_else(error_response)
}

async fn admissions_file(
    db: &RequestDb,
    now: chrono::DateTime<chrono::Utc>,
    params: &AdmissionParams,
) -> Result<Response, AppError> {
    let csv = is_csv(params.format.as_deref())?;
    let round = round_arg(params.round.as_deref())?;
    let view = crate::usecases::admissions::round_view(db, now, round).await?;
    // Dates as the school reads them: in Italian time.
    let dates = view.applications.values().map(|a| (a.id, crate::rules::rome::date(a.submitted_at))).collect();
    let rows = view.export_rows(&dates);
    db.note_event(audit::Event {
        action: "export",
        object_kind: "admission_round",
        object_id: Some(round.to_string()),
        province: Some(view.round.province_code.clone()),
        institution: Some(view.round.institution_code.clone()),
        fields: ["firstName", "lastName", "taxCode", "birthDate", "address", "tier"].map(String::from).to_vec(),
        current: Some(serde_json::json!({ "applications": view.applications.keys().collect::<Vec<_>>() })),
        ..audit::Event::default()
    });
    tracing::info!(request_id = %current_request_id(), rows = rows.len(), csv, "admissions export");
    let stem = format!("domande-{}-{}", view.round.institution_code, view.round.school_year);
    use reports::admissions::{HEADERS, SHEET, cells};
    spreadsheet(csv, &stem, SHEET, &HEADERS, rows.iter().map(cells))
}

fn round_arg(round: Option<&str>) -> Result<i64, AppError> {
    round.and_then(|r| r.parse().ok()).ok_or_else(|| AppError::bad_input("round", "the round's id is required"))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AlboParams {
    round: Option<String>,
    /// `final` (default) or `provisional`.
    stage: Option<String>,
}

/// `GET /exports/admissions-albo?round=ID&stage=final|provisional`: the
/// public list as the PDF the albo posts (spec §7.2), to whoever may read
/// the public version, when they may (else not found).
#[handler]
pub async fn admissions_albo(
    req: &Request,
    Query(params): Query<AlboParams>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    download(req, state, Export::Albo(&params)).await.unwrap_or_else(error_response)
}

async fn albo_file(
    db: &RequestDb,
    caller: &Caller,
    now: chrono::DateTime<chrono::Utc>,
    params: &AlboParams,
) -> Result<Response, AppError> {
    let round = round_arg(params.round.as_deref())?;
    let final_stage = match params.stage.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("final") => true,
        Some("provisional") => false,
        Some(_) => return Err(AppError::bad_input("stage", "must be final or provisional")),
    };
    let (r, version) = crate::usecases::admissions::public_list(db, caller, now, round, final_stage).await?;
    let published = if final_stage { r.approved_at } else { r.published_at }.ok_or(AppError::NotFound)?;
    let until = if final_stage { r.posted_until } else { r.complaint_deadline };
    let (code, sites) = (r.institution_code.clone(), version.sites.iter().map(|s| s.site.clone()).collect());
    let (institution, site_rows) = db
        .run(move |c| {
            Box::pin(async move {
                let institution = territory::institutions_by_code(c, vec![code]).await?.into_iter().next();
                Ok((institution, territory::sites_by_code(c, sites).await?))
            })
        })
        .await?;
    let albo = reports::admissions::Albo {
        institution_code: r.institution_code.clone(),
        institution_name: institution.map(|i| i.name).unwrap_or_default(),
        order: stored_order_label(&r.school_order),
        school_year: crate::graphql::registry::year_of(r.school_year),
        published_on: crate::rules::rome::date(published),
        posted_until: until.map(crate::rules::rome::date),
        site_names: site_rows.into_iter().map(|s| (s.code, s.name)).collect(),
        version,
        generated_at: now,
    };
    let stage = if final_stage { "definitiva" } else { "provvisoria" };
    let name = format!("graduatoria-{stage}-{}-{}.pdf", albo.institution_code, albo.school_year.replace('/', "-"));
    Ok(file("application/pdf", &name, reports::admissions::albo_pdf(&albo)))
}

#[derive(Deserialize, Default)]
pub struct ReceiptParams {
    application: Option<String>,
}

/// `GET /exports/mobility-receipt?application=ID`: the PDF receipt of a
/// submitted process-4 form (R-ROUTE-3), to the teacher who submitted it
/// and the office it is routed to; not found for anyone else.
#[handler]
pub async fn mobility_receipt(
    req: &Request,
    Query(params): Query<ReceiptParams>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    download(req, state, Export::MobilityReceipt(&params)).await.unwrap_or_else(error_response)
}

async fn receipt_file(db: &RequestDb, caller: &Caller, params: &ReceiptParams) -> Result<Response, AppError> {
    let id = params.application.as_deref().and_then(|a| a.parse().ok());
    let id = id.ok_or_else(|| AppError::bad_input("application", "the application's id is required"))?;
    let receipt = crate::usecases::mobility::receipt(db, caller, id).await?;
    let name = format!("ricevuta-{}.pdf", receipt.protocol);
    Ok(file("application/pdf", &name, reports::mobility::receipt_pdf(&receipt)))
}

/// `GET /exports/mobility-certificate?application=ID`: the PDF certificate
/// of a form's outcome (issue 21), to the teacher once published and to
/// the office; not found for anyone else.
#[handler]
pub async fn mobility_certificate(
    req: &Request,
    Query(params): Query<ReceiptParams>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    download(req, state, Export::MobilityCertificate(&params)).await.unwrap_or_else(error_response)
}

async fn certificate_file(
    db: &RequestDb,
    caller: &Caller,
    now: chrono::DateTime<chrono::Utc>,
    params: &ReceiptParams,
) -> Result<Response, AppError> {
    let id = params.application.as_deref().and_then(|a| a.parse().ok());
    let id = id.ok_or_else(|| AppError::bad_input("application", "the application's id is required"))?;
    let certificate = crate::usecases::mobility::certificate_document(db, caller, id, now).await?;
    let name = format!("certificato-{}.pdf", certificate.protocol);
    Ok(file("application/pdf", &name, reports::mobility::certificate_pdf(&certificate)))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeParams {
    campaign_year: Option<String>,
    /// `UT_AP_INTRA` or `AP_INTER`.
    phase: Option<String>,
    /// The office may name a run (a proposal, to review it).
    run: Option<String>,
    school: Option<String>,
    post_type: Option<String>,
    /// `xlsx` (default) or `csv`.
    format: Option<String>,
}

/// `GET /exports/mobility-outcomes?campaignYear=2016&phase=UT_AP_INTRA&format=xlsx|csv`
/// with the filters `school`, `postType` and, for the office, `run`: the
/// outcome per school and post type (issue 21), to the office (its
/// province) and to a school (the posts of its own sites, once published).
#[handler]
pub async fn mobility_outcomes(
    req: &Request,
    Query(params): Query<OutcomeParams>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    download(req, state, Export::MobilityOutcomes(&params)).await.unwrap_or_else(error_response)
}

async fn outcomes_file(db: &RequestDb, caller: &Caller, params: &OutcomeParams) -> Result<Response, AppError> {
    use crate::rules::mobility::phase::Phase;
    let csv = is_csv(params.format.as_deref())?;
    let year = params.campaign_year.as_deref().and_then(|y| y.parse::<i32>().ok());
    let year = year.ok_or_else(|| AppError::bad_input("campaignYear", "is required, e.g. 2016"))?;
    let phase = match params.phase.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("UT_AP_INTRA") => Phase::UtApIntra,
        Some("AP_INTER") => Phase::ApInter,
        _ => return Err(AppError::bad_input("phase", "must be UT_AP_INTRA or AP_INTER")),
    };
    let run = params
        .run
        .as_deref()
        .map(|r| r.parse::<i64>().map_err(|_| AppError::bad_input("run", "a run's id")))
        .transpose()?;
    let filter = crate::usecases::mobility::SheetFilter {
        run,
        school: code_arg("school", params.school.clone(), 10)?,
        post_type: params.post_type.as_deref().map(|p| p.trim().to_ascii_uppercase()),
    };
    let (run, rows) = crate::usecases::mobility::outcome_sheet(db, caller, year, phase, filter).await?;
    tracing::info!(request_id = %current_request_id(), rows = rows.len(), csv, "mobility outcome export");
    let scope = caller.school.clone().or(caller.province.clone()).unwrap_or_else(|| "ambito".into());
    let stem =
        format!("esiti-{scope}-{year}-{}-{run}", params.phase.as_deref().unwrap_or_default().to_ascii_lowercase());
    use reports::mobility::{HEADERS, SHEET, cells};
    spreadsheet(csv, &stem, SHEET, &HEADERS, rows.iter().map(cells))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SummaryParams {
    school_year: Option<String>,
    /// The office names the school; a school gets its own.
    school: Option<String>,
}

/// `GET /exports/support-summary?schoolYear=2026/27[&school=CODE]`: the PDF
/// summary of a school's requested hours, to be signed by the head teacher.
#[handler]
pub async fn support_summary(
    req: &Request,
    Query(params): Query<SummaryParams>,
    Data(state): Data<&Arc<AppState>>,
) -> Response {
    download(req, state, Export::Summary(&params)).await.unwrap_or_else(error_response)
}

async fn summary_file(db: &RequestDb, caller: &Caller, params: &SummaryParams) -> Result<Response, AppError> {
    let year =
        params.school_year.as_deref().ok_or_else(|| AppError::bad_input("schoolYear", "is required, e.g. 2026/27"))?;
    let year: SchoolYear = year.parse().map_err(|r| AppError::bad_input("schoolYear", r))?;
    let school = code_arg("school", params.school.clone(), 10)?
        .or(caller.school.clone())
        .ok_or_else(|| AppError::bad_input("school", "name the school"))?;
    let inst = reachable_school(db, caller, school.clone()).await?;
    let (code, istat, stored) = (inst.code.clone(), inst.municipality_istat.clone(), year.stored());
    let (municipality, submission, totals, rows) = db
        .run(move |c| {
            Box::pin(async move {
                let municipality = territory::municipalities_by_code(c, vec![istat]).await?.into_iter().next();
                let submission = q::submission(c, &code, stored).await?;
                let totals = q::totals(c, &code, stored).await?;
                let filter = ReportFilter { institution: Some(code.clone()), ..Default::default() };
                let rows = q::export_rows(c, stored, &filter).await?;
                Ok((municipality.map(|m| m.name), submission, totals, rows))
            })
        })
        .await?;
    let summary = Summary {
        school_code: inst.code.clone(),
        school_name: inst.name.clone(),
        municipality: municipality.unwrap_or_default(),
        year,
        state: match submission.as_ref().map(|s| s.state.as_str()) {
            Some("submitted") => "inviata all'ufficio",
            Some("returned") => "restituita dall'ufficio",
            _ => "bozza (non ancora inviata)",
        }
        .into(),
        generated_at: chrono::Utc::now(),
        totals: totals
            .into_iter()
            .map(|t| summary::Total {
                order: stored_order_label(&t.school_order),
                ratio: Ratio::label(t.ratio),
                pupils: t.pupils,
                requested: t.hours,
                approved: t.approved_hours,
            })
            .collect(),
        pupils: rows
            .iter()
            .map(|r| summary::Line {
                internal_code: crate::graphql::registry::internal_code(r.id),
                initials: summary::initials(&r.first_name, &r.last_name),
                order: stored_order_label(&r.school_order),
                class: format!("{}{}", r.year_of_study, r.section),
                severity: if r.severity == "c3" { "c. 3".into() } else { "c. 1".into() },
                ratio: r.ratio.and_then(Ratio::pupils).map_or_else(|| "-".into(), |x| x.to_string()),
                hours: r.hours,
            })
            .collect(),
    };
    let body = summary::pdf(&summary);
    let event = audit::Event {
        action: "export",
        object_kind: "support_summary",
        object_id: Some(format!("{}/{}", inst.code, year)),
        // The summary shows each pupil's initials and certification: it names them.
        pupil_ids: rows.iter().map(|r| r.id).collect(),
        province: Some(inst.province_code.clone()),
        institution: Some(inst.code.clone()),
        ..Default::default()
    };
    db.run(move |c| Box::pin(audit::record(c, vec![event]))).await?;
    let name = format!("sintesi-ore-sostegno-{}-{}.pdf", inst.code, year.to_string().replace('/', "-"));
    Ok(file("application/pdf", &name, body))
}
