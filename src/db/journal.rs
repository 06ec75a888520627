//! Group commit of the audit trail's read events. A query writes nothing but
//! the record of what it showed, and committing that alone would cost a
//! flush of the WAL per request. Queries hand their events here instead:
//! one task writes every event waiting, of many requests, in one statement
//! (one transaction, one flush), and each request answers only once its
//! events are durable. A crash loses no read that was answered.

use diesel_async::AsyncPgConnection;
use tokio::sync::{mpsc, oneshot};

use super::PgPool;
use super::audit::{self, Actor, Event};
use crate::error::{AppError, AppResult};

/// Events one statement writes at most; more wait for the next.
const MOST_PER_WRITE: usize = 2000;

/// What the journal wrote, for `/metrics`: events over writes is how many
/// requests' events share a flush. Process-wide, like the janitor's.
pub struct JournalMetrics {
    pub writes: prometheus::IntCounter,
    pub events: prometheus::IntCounter,
}

pub static METRICS: std::sync::LazyLock<JournalMetrics> = std::sync::LazyLock::new(|| JournalMetrics {
    writes: prometheus::IntCounter::new(
        "ambito_audit_journal_writes_total",
        "Statements the audit journal wrote, each one transaction and one flush",
    )
    .expect("valid metric"),
    events: prometheus::IntCounter::new(
        "ambito_audit_journal_events_total",
        "Audit events of queries the journal wrote",
    )
    .expect("valid metric"),
});

/// The handle requests give their events to; the writing task stops when
/// the last handle is dropped.
#[derive(Clone)]
pub struct Journal {
    entries: mpsc::UnboundedSender<Entry>,
}

struct Entry {
    actor: Actor,
    events: Vec<Event>,
    written: oneshot::Sender<Outcome>,
}

#[derive(Clone, Copy)]
enum Outcome {
    Durable,
    /// No connection within the pool's wait: the request is told to retry.
    Busy,
    Failed,
}

impl Journal {
    /// Starts the writing task on `pool`, whose role may record events for
    /// any caller (`ambito_auth`): the actor is written with each event,
    /// since one statement carries many callers' events.
    pub fn start(pool: PgPool) -> Journal {
        let (entries, mut queue) = mpsc::unbounded_channel::<Entry>();
        tokio::spawn(async move {
            while let Some(first) = queue.recv().await {
                // Whatever arrived while the last write was flushing goes in this one.
                let mut batch = vec![first];
                let mut events = batch[0].events.len();
                while events < MOST_PER_WRITE {
                    let Ok(next) = queue.try_recv() else { break };
                    events += next.events.len();
                    batch.push(next);
                }
                let outcome = write(&pool, &mut batch).await;
                for entry in batch {
                    let _ = entry.written.send(outcome);
                }
            }
        });
        Journal { entries }
    }

    /// Records `events` as `actor`'s, returning once they are durable.
    pub async fn record(&self, actor: Actor, events: Vec<Event>) -> AppResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let (written, outcome) = oneshot::channel();
        self.entries
            .send(Entry { actor, events, written })
            .map_err(|_| AppError::internal(anyhow::anyhow!("the audit journal has stopped")))?;
        match outcome.await {
            Ok(Outcome::Durable) => Ok(()),
            Ok(Outcome::Busy) => Err(AppError::Busy),
            Ok(Outcome::Failed) | Err(_) => {
                Err(AppError::internal(anyhow::anyhow!("the audit trail could not record what the request read")))
            }
        }
    }
}

async fn write(pool: &PgPool, batch: &mut [Entry]) -> Outcome {
    let mut rows: Vec<(Actor, Event)> = Vec::new();
    for entry in batch.iter_mut() {
        rows.extend(std::mem::take(&mut entry.events).into_iter().map(|ev| (entry.actor, ev)));
    }
    let n = rows.len();
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(events = n, error = %e, "audit journal: no connection");
            return Outcome::Busy;
        }
    };
    let conn: &mut AsyncPgConnection = &mut conn;
    match audit::record_as(conn, rows).await {
        Ok(()) => {
            METRICS.writes.inc();
            METRICS.events.inc_by(n as u64);
            Outcome::Durable
        }
        Err(e) => {
            tracing::error!(events = n, error = %e, "audit journal: writing events failed");
            Outcome::Failed
        }
    }
}
