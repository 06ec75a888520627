//! Change events that every server process must see. PostgreSQL sends a
//! notification when a change commits (`ambito_enrolment`, see migration
//! 000009); each process listens on one connection of its own and fans the
//! signals out to its subscribers. A signal carries ids and codes only: a
//! subscriber reads the row again under its own row security.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::db::PgPool;

/// The notification channel of enrolment requests.
pub const ENROLMENT_CHANNEL: &str = "ambito_enrolment";

/// A committed change of an enrolment request: where it is, and where it was.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnrolmentSignal {
    pub id: i64,
    pub province: String,
    /// The municipality that entered it; none for a school's registration.
    pub municipality: Option<String>,
    pub hub: String,
    pub previous_hub: Option<String>,
    pub school: Option<String>,
    pub previous_school: Option<String>,
    pub status: String,
    pub version: i32,
}

/// The signals of this process, for subscriptions to follow.
#[derive(Clone)]
pub struct Events {
    enrolment: broadcast::Sender<Arc<EnrolmentSignal>>,
}

impl Events {
    pub fn enrolment(&self) -> broadcast::Receiver<Arc<EnrolmentSignal>> {
        self.enrolment.subscribe()
    }

    /// Listens with a connection of `pool` for as long as the process runs,
    /// reconnecting after a failure.
    pub fn listen(pool: PgPool) -> Events {
        // A slow subscriber that falls this far behind misses signals, not memory.
        let (tx, _) = broadcast::channel(1024);
        let events = Events { enrolment: tx.clone() };
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                match listen_once(&pool, &tx).await {
                    Ok(()) => backoff = Duration::from_millis(200),
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for change events failed; retrying");
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
                tokio::time::sleep(backoff).await;
            }
        });
        events
    }
}

/// One listening connection, until it fails.
async fn listen_once(pool: &PgPool, tx: &broadcast::Sender<Arc<EnrolmentSignal>>) -> anyhow::Result<()> {
    // Out of the pool for good: a listening connection is never shared.
    let mut conn: AsyncPgConnection = Object::take(pool.get().await?);
    diesel::sql_query(format!("LISTEN {ENROLMENT_CHANNEL}")).execute(&mut conn).await?;
    let mut stream = std::pin::pin!(conn.notifications_stream());
    while let Some(n) = stream.next().await {
        let n = n?;
        match serde_json::from_str::<EnrolmentSignal>(&n.payload) {
            // No subscriber is not an error.
            Ok(signal) => drop(tx.send(Arc::new(signal))),
            Err(e) => tracing::warn!(error = %e, "unreadable change event"),
        }
    }
    anyhow::bail!("the listening connection closed")
}
