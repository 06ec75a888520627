//! A connection pool that measures its waits and bounds them. Work that
//! cannot get a connection within the wait is told the server is busy (503
//! with `Retry-After`) instead of queueing without end while the requests
//! behind it pile up; the pool recovers by itself as connections come back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool::managed::TimeoutType;
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, IntCounter, Opts};

/// How long work waits for a connection unless configured otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(2);

/// A pool of connections, named for the metrics (`requests`, `auth`, `maint`).
#[derive(Clone)]
pub struct PgPool {
    inner: Pool<AsyncPgConnection>,
    name: &'static str,
    wait: Duration,
    stats: Arc<Stats>,
}

struct Stats {
    checkouts: IntCounter,
    timeouts: IntCounter,
    waited: Histogram,
}

impl PgPool {
    pub fn new(inner: Pool<AsyncPgConnection>, name: &'static str, wait: Duration) -> PgPool {
        let opts = |metric: &str, help: &str| Opts::new(metric, help).const_label("pool", name);
        let stats = Stats {
            checkouts: IntCounter::with_opts(opts("ambito_db_pool_checkouts_total", "Connections handed out"))
                .expect("valid metric"),
            timeouts: IntCounter::with_opts(opts(
                "ambito_db_pool_timeouts_total",
                "Waits for a connection that ran out (answered 503)",
            ))
            .expect("valid metric"),
            waited: Histogram::with_opts(
                HistogramOpts::new("ambito_db_pool_wait_seconds", "Time spent waiting for a connection")
                    .const_label("pool", name)
                    .buckets(vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0]),
            )
            .expect("valid metric"),
        };
        PgPool { inner, name, wait, stats: Arc::new(stats) }
    }

    /// A connection, or `PoolError::Timeout(Wait)` once the wait is over.
    pub async fn get(&self) -> Result<Object<AsyncPgConnection>, PoolError> {
        let started = Instant::now();
        let got = tokio::time::timeout(self.wait, self.inner.get()).await;
        self.stats.waited.observe(started.elapsed().as_secs_f64());
        match got {
            Ok(Ok(conn)) => {
                self.stats.checkouts.inc();
                Ok(conn)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                self.stats.timeouts.inc();
                Err(PoolError::Timeout(TimeoutType::Wait))
            }
        }
    }

    pub fn status(&self) -> deadpool::Status {
        self.inner.status()
    }

    /// The pool's name in the metrics.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The pool's counters and wait histogram, for a metrics registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.stats.checkouts.clone()),
            Box::new(self.stats.timeouts.clone()),
            Box::new(self.stats.waited.clone()),
        ]
    }
}
