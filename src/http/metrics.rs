//! Prometheus metrics: requests, latency, GraphQL errors by code, each
//! connection pool's usage, checkouts, timeouts and waits, the background
//! work (janitor, e-mail), and what the database says at scrape time (the
//! audit chain's lag, login throttle locks).

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::db::roles::Pools;

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub graphql_errors: IntCounterVec,
    pool: IntGaugeVec,
    pools: Pools,
    /// Read from the database at each scrape.
    unsealed: IntGauge,
    unsealed_age: Gauge,
    throttle_locks: IntGauge,
    /// Fields resolved over HTTP, when counted (`Options::count_fields`).
    pub fields: Option<IntCounter>,
}

impl Metrics {
    pub fn new(pools: &Pools, count_fields: bool) -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("ambito_http_requests_total", "HTTP requests by route and status"),
            &["route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("ambito_http_request_duration_seconds", "HTTP request latency by route")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["route"],
        )
        .expect("valid metric");
        let graphql_errors = IntCounterVec::new(
            Opts::new("ambito_graphql_errors_total", "GraphQL errors by extensions.code"),
            &["code"],
        )
        .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new("ambito_db_pool_connections", "Database pool connections by pool and state"),
            &["pool", "state"],
        )
        .expect("valid metric");
        let unsealed = IntGauge::new(
            "ambito_audit_unsealed_events",
            "Audit events committed but not yet sealed into the hash chain",
        )
        .expect("valid metric");
        let unsealed_age = Gauge::new(
            "ambito_audit_oldest_unsealed_seconds",
            "Age of the oldest audit event not yet sealed (0 when none waits): the chain's lag",
        )
        .expect("valid metric");
        let throttle_locks =
            IntGauge::new("ambito_login_throttle_locked", "Accounts and client addresses locked out of login now")
                .expect("valid metric");
        let janitor = &*crate::server::JANITOR;
        let mail = &*crate::mail::QUEUE;
        let journal = &*crate::db::journal::METRICS;
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(graphql_errors.clone()),
            Box::new(pool.clone()),
            Box::new(unsealed.clone()),
            Box::new(unsealed_age.clone()),
            Box::new(throttle_locks.clone()),
            // Process-wide: the same counters in every registry of the process.
            Box::new(janitor.runs.clone()),
            Box::new(janitor.removed.clone()),
            Box::new(janitor.last_run.clone()),
            Box::new(mail.queued.clone()),
            Box::new(mail.done.clone()),
            Box::new(journal.writes.clone()),
            Box::new(journal.events.clone()),
        ]
        .into_iter()
        .chain(pools.all().into_iter().flat_map(|p| p.collectors()))
        {
            registry.register(m).expect("metric registered once");
        }
        let fields = count_fields.then(|| {
            let counter = IntCounter::new("ambito_graphql_fields_resolved_total", "GraphQL fields resolved over HTTP")
                .expect("valid metric");
            registry.register(Box::new(counter.clone())).expect("metric registered once");
            counter
        });
        Metrics {
            registry,
            requests,
            latency,
            graphql_errors,
            pool,
            pools: pools.clone(),
            unsealed,
            unsealed_age,
            throttle_locks,
            fields,
        }
    }

    /// Reads what the database says now, the audit chain's lag and login
    /// locks, on the operator's pool (`ambito_maint`), which no request
    /// uses: a scrape never takes a connection a request could have had.
    /// A database that does not answer within the pool's wait leaves the
    /// last values.
    pub async fn refresh(&self) {
        let Ok(mut conn) = self.pools.maint.get().await else { return };
        if let Ok(lag) = crate::db::audit::lag(&mut conn).await {
            self.unsealed.set(lag.unsealed);
            self.unsealed_age.set(lag.oldest_seconds);
        }
        if let Ok(n) = crate::db::audit::login_locks(&mut conn).await {
            self.throttle_locks.set(n);
        }
    }

    /// The text exposition, with pool gauges read now.
    pub fn render(&self) -> String {
        for pool in self.pools.all() {
            let (name, status) = (pool.name(), pool.status());
            for (state, value) in [
                ("max", status.max_size),
                ("open", status.size),
                ("idle", status.available),
                ("waiting", status.waiting),
            ] {
                self.pool.with_label_values(&[name, state]).set(value as i64);
            }
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding cannot fail");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}
