//! Subscriptions: hub coordinators' apps follow the requests of their
//! territory as they change. A connection authenticates once, at connection
//! init; every event is checked again against the session (ended or expired
//! sessions stop receiving) and the request is read again under the
//! subscriber's row security, so an event of another hub never reaches it.
//! Kept apart from the query modules: diesel-async's `RunQueryDsl` clashes
//! with the `#[Subscription]` expansion.

use async_graphql::{Context, Enum, ID, Object, Result, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::authorize;
use super::refugees::{EnrolmentRequest, EnrolmentStatus};
use crate::auth::{SessionPolicy, Subject, subject_for};
use crate::authz::{Action, Authorizer, Caller, ObjectKind, Scope};
use crate::db::{PgPool, RequestDb, refugees as q};
use crate::error::AppError;
use crate::events::{EnrolmentSignal, Events};
use crate::rules::refugees::Status;

/// The bearer token a WebSocket connection authenticated with, kept in
/// memory only, to check the session again at every event.
#[derive(Clone)]
pub struct ConnectionToken(pub String);

/// The pool subscriptions read from, outside any request.
#[derive(Clone)]
pub struct EventPool(pub PgPool);

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum EnrolmentEventKind {
    /// A request entered (or registered) in the subscriber's view.
    Created,
    /// A request of the subscriber's view changed.
    Changed,
    /// A request left the subscriber's view (transferred, declined by its school).
    Removed,
}

/// One change of a request as the subscriber may see it.
pub struct EnrolmentEvent {
    kind: EnrolmentEventKind,
    id: i64,
    status: Status,
    version: i32,
    request: Option<EnrolmentRequest>,
}

#[Object]
impl EnrolmentEvent {
    async fn kind(&self) -> EnrolmentEventKind {
        self.kind
    }
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn status(&self) -> EnrolmentStatus {
        self.status.into()
    }
    async fn version(&self) -> i32 {
        self.version
    }
    /// The request as it is now; null when it left the subscriber's view.
    async fn request(&self) -> Option<&EnrolmentRequest> {
        self.request.as_ref()
    }
}

/// Whether a signal concerns the caller's scope now or concerned it before:
/// a cheap filter before the database decides.
fn concerns(caller: &Caller, s: &EnrolmentSignal) -> (bool, bool) {
    let is = |mine: &Option<String>, v: &Option<String>| mine.is_some() && mine == v;
    match caller.scope {
        Scope::Territory => (is(&caller.hub, &Some(s.hub.clone())), is(&caller.hub, &s.previous_hub)),
        Scope::School => (is(&caller.school, &s.school), is(&caller.school, &s.previous_school)),
        Scope::Municipality => (is(&caller.municipality, &s.municipality), false),
        Scope::Province => (is(&caller.province, &Some(s.province.clone())), false),
        Scope::Own => (false, false),
    }
}

/// What one subscriber needs to turn signals into events.
#[derive(Clone)]
struct Follower {
    pool: PgPool,
    authz: Authorizer,
    sessions: SessionPolicy,
    token: String,
    caller: Caller,
}

impl Follower {
    /// The subscriber's event for a signal, or none when it does not concern them.
    async fn event(&self, s: &EnrolmentSignal) -> Result<Option<EnrolmentEvent>, AppError> {
        let (now, before) = concerns(&self.caller, s);
        if !now && !before {
            return Ok(None);
        }
        let bearer = format!("Bearer {}", self.token);
        let Some(subject) = subject_for(&self.pool, Some(&bearer), &self.sessions).await? else {
            return Err(AppError::Unauthenticated);
        };
        let db = RequestDb::new(self.pool.clone(), self.authz.settings(Some(&subject)));
        let id = s.id;
        let row = db.run(move |c| Box::pin(q::by_id(c, id))).await;
        let row = db.settle(row).await?;
        let status: Status = s.status.parse().map_err(|e: String| AppError::internal(anyhow::anyhow!(e)))?;
        let event = |kind, request| EnrolmentEvent { kind, id, status, version: s.version, request };
        Ok(match row {
            Some(r) if s.version == 1 => Some(event(EnrolmentEventKind::Created, Some(EnrolmentRequest::from(r)))),
            Some(r) => Some(event(EnrolmentEventKind::Changed, Some(EnrolmentRequest::from(r)))),
            None if before => Some(event(EnrolmentEventKind::Removed, None)),
            None => None,
        })
    }
}

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// New and changed requests of the subscriber's scope (a hub's
    /// territory, a school's minors, a municipality's requests, the
    /// office's province), as they commit on any server process.
    async fn enrolment_request_changed(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<EnrolmentEvent>> + use<>> {
        let (subject, scope): (&Subject, Scope) = authorize(ctx, ObjectKind::EnrolmentRequest, Action::Read)?;
        let token = ctx.data_opt::<ConnectionToken>().ok_or(AppError::Unauthenticated)?.0.clone();
        let follower = Follower {
            pool: ctx.data_unchecked::<EventPool>().0.clone(),
            authz: ctx.data_unchecked::<Authorizer>().clone(),
            sessions: *ctx.data_unchecked::<SessionPolicy>(),
            token,
            caller: Caller::new(subject, scope),
        };
        let rx = ctx.data_unchecked::<Events>().enrolment();
        Ok(futures_util::stream::unfold(Some((rx, follower)), |state| async move {
            let (mut rx, follower) = state?;
            loop {
                let signal = match rx.recv().await {
                    Ok(s) => s,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(
                            missed = n,
                            "a subscriber fell behind; it should catch up with enrolmentChanges"
                        );
                        continue;
                    }
                    Err(RecvError::Closed) => return None,
                };
                match follower.event(&signal).await {
                    Ok(Some(e)) => return Some((Ok(e), Some((rx, follower)))),
                    Ok(None) => continue,
                    // The session ended: one error, then the stream ends.
                    Err(e) => return Some((Err(e.into()), None)),
                }
            }
        }))
    }
}
