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
use crate::auth::{SessionPolicy, Subject, current_subject};
use crate::authz::{Action, Authorizer, Caller, ObjectKind, Scope};
use crate::db::{PgPool, RequestDb, refugees as q};
use crate::error::AppError;
use crate::events::{EnrolmentSignal, Events};
use crate::rules::refugees::Status;

/// The bearer token a WebSocket connection authenticated with, kept in
/// memory only, to check the session again at every event.
#[derive(Clone)]
pub struct ConnectionToken(pub String);

/// The pools subscriptions read from, outside any request: sessions are
/// checked on the authentication pool, requests read under row security.
#[derive(Clone)]
pub struct EventPools {
    pub requests: PgPool,
    pub auth: PgPool,
}

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
        Scope::Region | Scope::Own => (false, false),
    }
}

/// How often an open subscription checks its session while no event comes:
/// a session that ends (logout, disable, password change, membership
/// removed, idle or absolute expiry) ends its subscriptions within this time
/// or at the next event, whichever is first.
pub const SESSION_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// What one subscriber needs to turn signals into events.
#[derive(Clone)]
struct Follower {
    pools: EventPools,
    authz: Authorizer,
    sessions: SessionPolicy,
    token: String,
    caller: Caller,
    /// The session and membership the connection authenticated as: the
    /// stream ends if the session no longer acts as them.
    session_id: i64,
    membership_id: i64,
}

impl Follower {
    /// The subject of the session as it stands now, if it still acts as it
    /// did when the connection opened. The look does not count as use.
    async fn still_valid(&self) -> Result<Subject, AppError> {
        match current_subject(&self.pools.auth, &self.token, &self.sessions).await? {
            Some(s) if s.session_id == self.session_id && s.membership.id == self.membership_id => Ok(s),
            _ => Err(AppError::Unauthenticated),
        }
    }

    /// The subscriber's event for a signal, or none when it does not concern them.
    async fn event(&self, s: &EnrolmentSignal) -> Result<Option<EnrolmentEvent>, AppError> {
        let (now, before) = concerns(&self.caller, s);
        if !now && !before {
            return Ok(None);
        }
        let subject = self.still_valid().await?;
        let db = RequestDb::new(self.pools.requests.clone(), self.authz.settings(Some(&subject)));
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

/// What a subscriber's stream waits on: change signals, and a clock that
/// has the session checked while no signal comes.
struct Listening {
    rx: tokio::sync::broadcast::Receiver<std::sync::Arc<EnrolmentSignal>>,
    tick: tokio::time::Interval,
    follower: Follower,
}

impl Listening {
    /// The next event for the subscriber, an error when the session ended
    /// (after which the stream ends), or none when the signals stopped.
    async fn next(&mut self) -> Option<Result<EnrolmentEvent, AppError>> {
        loop {
            let signal = tokio::select! {
                received = self.rx.recv() => match received {
                    Ok(s) => s,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "a subscriber fell behind; it should catch up with enrolmentChanges");
                        continue;
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.tick.tick() => match self.follower.still_valid().await {
                    Ok(_) => continue,
                    Err(e) => return Some(Err(e)),
                },
            };
            match self.follower.event(&signal).await {
                Ok(Some(e)) => return Some(Ok(e)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
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
            pools: ctx.data_unchecked::<EventPools>().clone(),
            authz: ctx.data_unchecked::<Authorizer>().clone(),
            sessions: *ctx.data_unchecked::<SessionPolicy>(),
            token,
            caller: Caller::new(subject, scope),
            session_id: subject.session_id,
            membership_id: subject.membership.id,
        };
        // A subscription started on a connection whose session has since
        // ended is refused at once, not at the first check.
        follower.still_valid().await?;
        let rx = ctx.data_unchecked::<Events>().enrolment();
        let start = tokio::time::Instant::now() + SESSION_RECHECK;
        let tick = tokio::time::interval_at(start, SESSION_RECHECK);
        Ok(futures_util::stream::unfold(Some(Listening { rx, tick, follower }), |state| async move {
            let mut listening = state?;
            match listening.next().await? {
                Ok(e) => Some((Ok(e), Some(listening))),
                // The session ended: one error, then the stream ends.
                Err(e) => Some((Err(e.into()), None)),
            }
        }))
    }
}
