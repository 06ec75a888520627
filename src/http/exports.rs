//! File downloads of tenant data: the registry export ("scarica dettaglio
//! anagrafica") as `.xlsx` or CSV. The session comes in the `Authorization`
//! header, never in the URL; the rows are read under row security, and every
//! pupil exported is a read in the audit trail.

use std::sync::Arc;

use poem::http::{StatusCode, header};
use poem::web::{Data, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::AppState;
use crate::auth::subject_for;
use crate::authz::{Action, ObjectKind};
use crate::db::RequestDb;
use crate::db::registry::{self as q, ReportFilter};
use crate::error::{AppError, current_request_id};
use crate::graphql::territory::{code_arg, istat_arg};
use crate::reports;
use crate::rules::order::SchoolOrder;
use crate::rules::school_year::SchoolYear;

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

/// An error as the JSON body GraphQL clients already understand.
pub fn error_response(err: AppError) -> Response {
    let status = match err.code() {
        "BAD_USER_INPUT" => StatusCode::BAD_REQUEST,
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let gql = async_graphql::Error::from(err);
    let body = serde_json::json!({ "errors": [{ "message": gql.message, "extensions": gql.extensions }] });
    Response::builder().status(status).content_type("application/json").body(body.to_string())
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
    match registry_file(req, &params, state).await {
        Ok(r) => r,
        Err(e) => error_response(e),
    }
}

async fn registry_file(req: &Request, params: &ExportParams, state: &AppState) -> Result<Response, AppError> {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let subject = subject_for(&state.pool, authorization, &state.sessions).await?.ok_or(AppError::Unauthenticated)?;
    state.authz.scope(subject.membership.role, ObjectKind::Pupil, Action::Read).ok_or(AppError::Forbidden)?;
    let csv = match params.format.as_deref().unwrap_or("xlsx") {
        "xlsx" => false,
        "csv" => true,
        _ => return Err(AppError::bad_input("format", "must be xlsx or csv")),
    };
    let (year, filter) = filter_of(params)?;
    let db = RequestDb::new(state.pool.clone(), state.authz.settings(Some(&subject)));
    let stored = year.stored();
    let rows = db.run(move |c| Box::pin(async move { q::export_rows(c, stored, &filter).await })).await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            db.finish(false).await?;
            return Err(e);
        }
    };
    for r in &rows {
        for field in EXPORTED {
            db.note_read(r.id, &r.province_code, &r.institution_code, field);
        }
    }
    let file = if csv {
        reports::registry::csv(&rows).map_err(AppError::internal)?
    } else {
        reports::registry::xlsx(&rows).map_err(AppError::internal)?
    };
    // The trail must hold the export before the file leaves.
    db.finish(true).await?;
    let scope = match &subject.membership.org {
        crate::auth::OrgRef::School(c) | crate::auth::OrgRef::Province(c) => c.clone(),
        _ => "ambito".into(),
    };
    let (ext, mime) = if csv {
        ("csv", "text/csv; charset=utf-8")
    } else {
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    };
    let name = format!("anagrafica-{}-{}.{ext}", scope, year.to_string().replace('/', "-"));
    tracing::info!(request_id = %current_request_id(), rows = rows.len(), format = ext, "registry export");
    Ok(Response::builder()
        .status(StatusCode::OK)
        .content_type(mime)
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))
        .header(header::CACHE_CONTROL, "no-store")
        .body(file))
}
