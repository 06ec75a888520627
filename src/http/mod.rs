//! HTTP routes (poem): `/graphql` (POST; GET upgrades to subscriptions, or
//! serves the explorer to a browser), `/health`, `/ready`, `/metrics`, with one
//! request id and one structured log line per request.

pub mod attachments;
pub mod explorer;
pub mod exports;
pub mod json;
pub mod metrics;
pub mod subscriptions;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::dataloader::DataLoader;
use poem::http::{StatusCode, header};
use poem::web::{Data, Path};
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler, put};

use crate::auth::{SessionPolicy, Subject, subject_for};
use crate::authz::{Action, Authorizer, Caller, ObjectKind};
use crate::db::audit::Actor;
use crate::db::journal::Journal;
use crate::db::{AuthDb, PgPool, RequestDb};
use crate::error::{AppError, REQUEST_ID, RETRY_AFTER_SECS};
use crate::graphql::gate::{self, PersistedQueries};
use crate::graphql::loaders::RequestLoader;
use crate::graphql::{PRE_EXECUTION_CODES, Schemas};
use crate::storage::Files;
use crate::telemetry;
use crate::usecases::accounts::login::ClientAddr;
use crate::usecases::idempotency;
use metrics::Metrics;
use tracing::Instrument as _;

/// Largest GraphQL request body accepted.
pub const MAX_BODY: usize = 256 * 1024;

pub struct AppState {
    /// Request work (each transaction switches to `ambito_app`).
    pub pool: PgPool,
    /// Authentication (connections working as `ambito_auth`).
    pub auth: AuthDb,
    /// Records the audit events of queries, on the authentication pool.
    pub journal: Journal,
    /// Served over HTTP through [`gate::admit`], and over WebSocket.
    pub schemas: Schemas,
    pub persisted: PersistedQueries,
    pub metrics: Metrics,
    pub sessions: SessionPolicy,
    pub authz: Authorizer,
    pub trust_proxy: bool,
    /// `GET /graphql` serves the GraphiQL explorer to browsers.
    pub explorer: bool,
    pub files: Files,
    /// The domain clock, for files whose content depends on the date.
    pub clock: crate::usecases::clock::Clock,
}

/// Who a request's audit events are recorded for.
fn actor(s: &Subject) -> Actor {
    Actor { user_id: s.user_id, membership_id: Some(s.membership.id), role: s.membership.role.as_str() }
}

/// The client's address: the peer, or behind a trusted proxy the address the
/// proxy appended last to `X-Forwarded-For`.
fn client_addr(req: &Request, trust_proxy: bool) -> ClientAddr {
    let forwarded = trust_proxy
        .then(|| req.headers().get("x-forwarded-for")?.to_str().ok()?.rsplit(',').next().map(|s| s.trim().to_owned()))
        .flatten()
        .filter(|s| !s.is_empty());
    let peer = || match req.remote_addr().as_socket_addr() {
        Some(a) => a.ip().to_string(),
        None => "unknown".into(),
    };
    ClientAddr(forwarded.unwrap_or_else(peer))
}

/// What the GraphQL handler tells the access log about a request.
#[derive(Default, Clone)]
struct GraphqlOutcome {
    operation: Option<String>,
    codes: Vec<String>,
}

type OutcomeSlot = Arc<Mutex<GraphqlOutcome>>;

pub fn app(state: Arc<AppState>) -> impl Endpoint {
    Route::new()
        .at("/graphql", get(GetGraphql).post(graphql))
        .at("/explorer/:name", get(explorer_asset))
        .at("/health", get(health))
        .at("/ready", get(ready))
        .at("/metrics", get(metrics_text))
        .at("/exports/registry", get(exports::registry))
        .at("/exports/support-summary", get(exports::support_summary))
        .at("/exports/admissions-albo", get(exports::admissions_albo))
        .at("/exports/mobility-receipt", get(exports::mobility_receipt))
        .at("/exports/mobility-certificate", get(exports::mobility_certificate))
        .at("/exports/mobility-outcomes", get(exports::mobility_outcomes))
        .at("/exports/enrolment-requests", get(exports::enrolment_requests))
        .at("/exports/admissions", get(exports::admissions))
        .at("/attachments/:id", get(attachments::download))
        .at("/uploads/:id", put(attachments::upload).patch(attachments::resume).head(attachments::upload_offset))
        .data(state.clone())
        .around(move |ep, req| {
            let state = state.clone();
            async move { observe(ep, req, state).await }
        })
}

/// Gives the request an id, runs it, and writes its log line and metrics.
async fn observe<E: Endpoint>(ep: Arc<E>, mut req: Request, state: Arc<AppState>) -> poem::Result<Response> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let route: &'static str = match req.uri().path() {
        "/graphql" => "/graphql",
        "/health" => "/health",
        "/ready" => "/ready",
        "/metrics" => "/metrics",
        "/exports/registry" => "/exports/registry",
        "/exports/support-summary" => "/exports/support-summary",
        "/exports/enrolment-requests" => "/exports/enrolment-requests",
        "/exports/admissions" => "/exports/admissions",
        p if p.starts_with("/attachments/") => "/attachments/{id}",
        p if p.starts_with("/explorer/") => "/explorer/{name}",
        p if p.starts_with("/uploads/") => "/uploads/{id}",
        _ => "other",
    };
    let method = req.method().clone();
    let slot: OutcomeSlot = Arc::default();
    req.extensions_mut().insert(slot.clone());
    let span = telemetry::request_span(req.headers(), method.as_str(), route, &id);
    let trace_id = telemetry::trace_id(&span);
    let result = REQUEST_ID
        .scope(id.clone(), async { ep.call(req).await.map(IntoResponse::into_response) })
        .instrument(span.clone())
        .await;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let elapsed = started.elapsed();
    let status = resp.status();
    span.record("http.response.status_code", status.as_u16());
    drop(span);
    state.metrics.requests.with_label_values(&[route, status.as_str()]).inc();
    state.metrics.latency.with_label_values(&[route]).observe(elapsed.as_secs_f64());
    let outcome = slot.lock().map(|o| o.clone()).unwrap_or_default();
    for code in &outcome.codes {
        state.metrics.graphql_errors.with_label_values(&[code]).inc();
    }
    let errors = outcome.codes.join(",");
    tracing::info!(
        request_id = %id,
        method = %method,
        route,
        status = status.as_u16(),
        operation = outcome.operation.as_deref().unwrap_or(""),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        outcome = if status.is_success() && errors.is_empty() { "ok" } else { "error" },
        errors = %errors,
        trace_id = trace_id.as_deref().unwrap_or(""),
        "request"
    );
    if let Ok(v) = id.parse() {
        resp.headers_mut().insert("x-request-id", v);
    }
    if let Some(v) = trace_id.and_then(|t| t.parse().ok()) {
        resp.headers_mut().insert("x-trace-id", v);
    }
    Ok(resp)
}

/// An error as the JSON body GraphQL clients already understand, with the
/// HTTP status that says the same.
pub fn error_response(err: AppError) -> Response {
    let status = match err.code() {
        "BAD_USER_INPUT" => StatusCode::BAD_REQUEST,
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "CONFLICT" | "CAMPAIGN_CLOSED" | "REQUEST_SUBMITTED" => StatusCode::CONFLICT,
        "ARCHIVED" => StatusCode::GONE,
        "RATE_LIMITED" => StatusCode::TOO_MANY_REQUESTS,
        "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let gql = async_graphql::Error::from(err);
    let body = serde_json::json!({ "errors": [{ "message": gql.message, "extensions": gql.extensions }] });
    busy(Response::builder().status(status).content_type("application/json").body(body.to_string()))
}

/// A 503 says when to try again.
fn busy(mut resp: Response) -> Response {
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut().insert(header::RETRY_AFTER, RETRY_AFTER_SECS.into());
    }
    resp
}

/// A signed-in caller of a plain HTTP route, in the scope the policies give
/// its role for `obj` and `act`, with a database handle in that scope.
pub struct Scoped {
    pub subject: Subject,
    pub caller: Caller,
    pub db: RequestDb,
}

pub async fn scoped(req: &Request, state: &AppState, obj: ObjectKind, act: Action) -> Result<Scoped, AppError> {
    scoped_any(req, state, &[obj], act).await
}

/// As [`scoped`], for a route that serves any of `objs` (documents of any
/// kind): the scope of the first one the role may act on.
pub async fn scoped_any(req: &Request, state: &AppState, objs: &[ObjectKind], act: Action) -> Result<Scoped, AppError> {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let subject = subject_for(&state.auth.0, authorization, &state.sessions).await?.ok_or(AppError::Unauthenticated)?;
    let scope = state.authz.first_scope(subject.membership.role, objs, act).ok_or(AppError::Forbidden)?;
    let caller = Caller::new(&subject, scope);
    let db = RequestDb::new(state.pool.clone(), state.authz.settings(Some(&subject)));
    Ok(Scoped { subject, caller, db })
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    Response::builder().status(status).content_type("application/json").body(body.to_string())
}

/// `GET /graphql`: a WebSocket upgrade runs subscriptions; anything else is
/// a browser, shown the explorer or told how to send a query.
struct GetGraphql;

impl Endpoint for GetGraphql {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let upgrade = req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if upgrade {
            return subscriptions::websocket.call(req).await.map(IntoResponse::into_response);
        }
        let on = req.data::<Arc<AppState>>().is_some_and(|s| s.explorer);
        Ok(explorer::page(&req, on))
    }
}

#[handler]
fn explorer_asset(req: &Request, Path(name): Path<String>, Data(state): Data<&Arc<AppState>>) -> Response {
    explorer::asset(req, &name, state.explorer)
}

/// `POST /graphql` with `application/json`. Batches are not accepted.
#[handler]
async fn graphql(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let slot = req.extensions().get::<OutcomeSlot>().cloned().unwrap_or_default();
    let mut record = |codes: Vec<String>, operation: Option<String>| {
        if let Ok(mut o) = slot.lock() {
            *o = GraphqlOutcome { operation, codes };
        }
    };
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !is_json {
        record(vec!["BAD_USER_INPUT".into()], None);
        return json_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "BAD_USER_INPUT", "send the query as application/json");
    }
    let bytes = match body.into_bytes_limit(MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            record(vec!["BAD_USER_INPUT".into()], None);
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BAD_USER_INPUT",
                &format!("request body larger than {MAX_BODY} bytes"),
            );
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(_) => {
            record(vec!["BAD_USER_INPUT".into()], None);
            return json_error(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "the body must be one JSON object with a \"query\" string (batches are not accepted)",
            );
        }
    };
    let mut operation = request.operation_name.clone();
    let key = match req.headers().get(idempotency::HEADER).map(|v| idempotency::Key::parse(v.as_bytes())).transpose() {
        Ok(k) => k,
        Err(e) => {
            record(vec![e.code().into()], operation);
            return error_response(e);
        }
    };
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    // The answer as sent, when it must be kept for an idempotency key.
    let mut answer: Option<Vec<u8>> = None;
    let response = match gate::admit(&state.schemas, &state.persisted, request).await {
        Err(refused) => refused,
        Ok(admitted) => {
            operation = admitted.operation_name().map(str::to_owned);
            let subject = match admitted.needs_caller() {
                true => subject_for(&state.auth.0, authorization, &state.sessions).await,
                false => Ok(None),
            };
            let subject = match subject {
                Ok(s) => s,
                Err(e) => {
                    record(vec![e.code().into()], operation);
                    return error_response(e);
                }
            };
            let settings = state.authz.settings(subject.as_ref());
            let db = match &subject {
                // A query's reads are recorded by the journal, many requests' in one flush.
                Some(s) if !admitted.is_mutation() => {
                    RequestDb::journaled(state.pool.clone(), settings, state.journal.clone(), actor(s))
                }
                _ => RequestDb::new(state.pool.clone(), settings),
            };
            // Queries are idempotent as they are: a key applies to mutations.
            let key = key.filter(|_| admitted.is_mutation());
            let ticket = match claim_key(state, &db, key, subject.is_some(), &bytes).await {
                Ok(ticket) => ticket,
                Err((codes, answer)) => {
                    record(codes, operation);
                    return answer;
                }
            };
            let kind = if admitted.is_mutation() { "mutation" } else { "query" };
            let span = tracing::info_span!(
                "graphql.operation",
                otel.name = %format_args!("{kind} {}", operation.as_deref().unwrap_or("")),
                graphql.operation.type = kind,
                graphql.operation.name = operation.as_deref().unwrap_or(""),
            );
            let response = admitted
                .run(&state.schemas, |mut request| {
                    request = request
                        // Batched loads run in the operation's span, with their statements.
                        .data(DataLoader::new(RequestLoader::new(db.clone()), |f| tokio::spawn(f.in_current_span())))
                        .data(db.clone())
                        .data(state.auth.clone())
                        .data(client_addr(req, state.trust_proxy));
                    match subject {
                        Some(subject) => request.data(subject),
                        None => request,
                    }
                })
                .instrument(span)
                .await;
            let ok = response.errors.is_empty();
            // The answer is kept in the mutation's own transaction, so a
            // retry finds it exactly when the mutation's effect is there.
            let (kept, body) = match ticket.filter(|_| ok) {
                None => (Ok(()), None),
                Some(ticket) => {
                    let body = json::to_vec(&response);
                    (idempotency::keep(&db, &state.files.keys, ticket, &body).await, Some(body))
                }
            };
            // All or nothing: a request with any error leaves no partial writes.
            match db.finish(ok).await.and(kept) {
                Ok(()) => {
                    answer = body;
                    response
                }
                Err(e) => {
                    let err = async_graphql::Error::from(e);
                    async_graphql::Response::from_errors(vec![err.into_server_error(Default::default())])
                }
            }
        }
    };
    let codes: Vec<String> = response
        .errors
        .iter()
        .map(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .and_then(|v| match v {
                    async_graphql::Value::String(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "INTERNAL".into())
        })
        .collect();
    let refused = !codes.is_empty() && codes.iter().all(|c| PRE_EXECUTION_CODES.contains(&c.as_str()));
    let status = if refused {
        StatusCode::BAD_REQUEST
    } else if codes.iter().any(|c| c == "UNAVAILABLE") {
        // Nothing was kept (the transaction rolled back): the client may simply retry.
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    record(codes, operation);
    let body = answer.unwrap_or_else(|| json::to_vec(&response));
    busy(Response::builder().status(status).content_type("application/json").body(body))
}

/// Claims a mutation's idempotency key, as the first work of its
/// transaction. `Err` is the answer to send at once, with its error codes:
/// the kept answer of an earlier run under the key, or a refusal. Either way
/// nothing was written and the transaction has ended.
async fn claim_key(
    state: &AppState,
    db: &RequestDb,
    key: Option<idempotency::Key>,
    signed_in: bool,
    body: &[u8],
) -> Result<Option<idempotency::Ticket>, (Vec<String>, Response)> {
    let Some(key) = key else { return Ok(None) };
    let claim = match signed_in {
        true => idempotency::claim(db, &state.files.keys, &key, body).await,
        false => Err(AppError::bad_input(
            "Idempotency-Key",
            "keys are kept per account: sign in to send a mutation with one",
        )),
    };
    let answer = match claim {
        Ok(idempotency::Claim::Run(ticket)) => return Ok(Some(ticket)),
        Ok(idempotency::Claim::Replay(kept)) => (
            Vec::new(),
            Response::builder()
                .status(StatusCode::OK)
                .content_type("application/json")
                .header(idempotency::REPLAYED, "true")
                .body(kept),
        ),
        Err(e) => (vec![e.code().into()], error_response(e)),
    };
    let _ = db.finish(false).await;
    Err(answer)
}

/// Process is alive.
#[handler]
fn health() -> &'static str {
    "ok"
}

/// The database answers.
#[handler]
async fn ready(Data(state): Data<&Arc<AppState>>) -> Response {
    if crate::db::ping(&state.pool).await {
        Response::builder().status(StatusCode::OK).body("ready")
    } else {
        Response::builder().status(StatusCode::SERVICE_UNAVAILABLE).body("database unavailable")
    }
}

#[handler]
async fn metrics_text(Data(state): Data<&Arc<AppState>>) -> Response {
    state.metrics.refresh().await;
    Response::builder().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}
