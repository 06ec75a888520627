//! Start-up: the database every command shares (embedded or given), the
//! listener with its TLS policy, and graceful shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use poem::Server;
use poem::listener::{Acceptor, AcceptorExt, Listener, RustlsCertificate, RustlsConfig, TcpListener};

use crate::auth::SessionPolicy;
use crate::auth::passwords::Passwords;
use crate::authz::Authorizer;
use crate::config::{GlobalArgs, ServeArgs};
use crate::db::embedded::{self, ClusterOptions, EmbeddedCluster};
use crate::db::journal::Journal;
use crate::db::roles::Pools;
use crate::db::{self, AuthDb, PgPool};
use crate::graphql::Services;
use crate::http::metrics::Metrics;
use crate::http::{self, AppState};
use crate::mail::Mailer;
use crate::rules::throttle::ThrottlePolicy;
use crate::storage::Files;
use crate::storage::keys::LiveKeys;
use crate::storage::store::Store;
use crate::usecases::accounts::recovery::PublicUrl;

/// The database of this run: the embedded cluster under the data dir unless
/// a URL was given. Migrations are applied on open, as the owner.
pub struct Database {
    /// The login role every piece of work connects as (it owns nothing).
    pub url: String,
    /// The owner, for migrations and demo data; none when a server of one's
    /// own was given without `--owner-database-url`.
    pub owner_url: Option<String>,
    cluster: Option<EmbeddedCluster>,
}

impl Database {
    pub async fn open(global: &GlobalArgs) -> anyhow::Result<Database> {
        let (url, owner_url, cluster) = match &global.database_url {
            Some(url) => (url.clone(), global.owner_database_url.clone(), None),
            None => {
                let dir = global.data_dir.join("postgres");
                let cluster = EmbeddedCluster::ensure(&dir, &ClusterOptions { fsync: true }).await?;
                let owner = cluster.url(embedded::DATABASE);
                (cluster.login_url(embedded::DATABASE), Some(owner), Some(cluster))
            }
        };
        match &owner_url {
            Some(owner) => {
                let applied = db::migrate(owner).await?;
                if !applied.is_empty() {
                    tracing::info!(migrations = ?applied, "applied migrations");
                }
            }
            None => db::check_migrated(&url).await?,
        }
        Ok(Database { url, owner_url, cluster })
    }

    pub fn is_embedded(&self) -> bool {
        self.cluster.is_some()
    }

    pub fn pools(&self, size: usize, wait: Duration) -> anyhow::Result<Pools> {
        Pools::connect(&self.url, size, wait)
    }

    /// Stops the embedded cluster if this process started it.
    pub async fn close(self) -> anyhow::Result<()> {
        match self.cluster {
            Some(c) => c.stop().await,
            None => Ok(()),
        }
    }
}

/// Plain HTTP is for loopback, demos, and deployments behind a TLS proxy.
pub fn check_transport(args: &ServeArgs, demo: bool) -> anyhow::Result<()> {
    let tls = args.tls_cert.is_some();
    if !tls && !demo && !args.listen.ip().is_loopback() && !args.behind_tls_proxy {
        bail!(
            "refusing to serve plain HTTP on {}: personal data must travel encrypted. Give --tls-cert and \
             --tls-key, or --behind-tls-proxy when a proxy in front terminates TLS",
            args.listen
        );
    }
    Ok(())
}

/// How a server behaves, beyond its database and policies.
#[derive(Clone, Default)]
pub struct Options {
    pub sessions: SessionPolicy,
    pub throttle: ThrottlePolicy,
    /// Introspection, suggestions and the explorer on (demo mode, `--explorer`).
    pub explorable: bool,
    /// A TLS proxy in front: the client address is the last `X-Forwarded-For` entry.
    pub trust_proxy: bool,
    /// Where e-mail goes; without one, password recovery answers INTERNAL.
    pub mailer: Option<Mailer>,
    /// The address users reach the front end at, for links in e-mails.
    pub public_url: String,
    /// Password hashing, shared with whatever else the process hashes for (demo accounts).
    pub passwords: Passwords,
    /// The domain clock: real, or settable on a demo server (`--test-clock`).
    pub clock: crate::usecases::clock::Clock,
    /// Count every GraphQL field resolved, in `/metrics`: a diagnostic that
    /// costs throughput (the tests prove with it that refused documents run nothing).
    pub count_fields: bool,
}

/// The documents' store and keys, with the largest file accepted.
pub fn files(store: Store, keys: impl Into<LiveKeys>, max_upload_mib: u64) -> Files {
    Files { store, keys: Arc::new(keys.into()), max_size: max_upload_mib << 20 }
}

/// Every hour, removes uploads left unfinished for a day and objects that no
/// document refers to, like `ambito storage janitor`, and idempotency keys
/// past their day, as `ambito_maint`.
pub fn spawn_janitor(pool: PgPool, store: Store) {
    tokio::spawn(async move {
        // The first run an hour after start-up: a restart must not list the whole bucket.
        let hour = Duration::from_secs(3600);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + hour, hour);
        loop {
            tick.tick().await;
            janitor_once(&pool, &store).await;
        }
    });
}

/// One run of the server's janitor, its results counted for `/metrics`.
pub async fn janitor_once(pool: &PgPool, store: &Store) {
    let m = &*JANITOR;
    let Ok(mut conn) = pool.get().await else {
        m.runs.with_label_values(&["failed"]).inc();
        return;
    };
    let files = crate::storage::maintenance::janitor(&mut conn, store, Duration::from_secs(24 * 3600)).await;
    let keys = crate::db::idempotency::purge_expired(&mut conn, crate::usecases::idempotency::REPLAY_HOURS).await;
    match &files {
        Ok(r) => {
            m.removed.with_label_values(&["uploads"]).inc_by(r.uploads as u64);
            m.removed.with_label_values(&["objects"]).inc_by(r.objects as u64);
            if r.uploads + r.objects > 0 {
                tracing::info!(uploads = r.uploads, objects = r.objects, "janitor removed unfinished uploads");
            }
        }
        Err(e) => tracing::warn!(error = %e, "janitor failed"),
    }
    match &keys {
        Ok(n) => m.removed.with_label_values(&["idempotency_keys"]).inc_by(*n as u64),
        Err(e) => tracing::warn!(error = %e, "removing expired idempotency keys failed"),
    }
    let outcome = if files.is_ok() && keys.is_ok() { "ok" } else { "failed" };
    m.runs.with_label_values(&[outcome]).inc();
    m.last_run.set(chrono::Utc::now().timestamp());
}

/// What the janitor did in this process, for `/metrics`.
pub struct JanitorMetrics {
    pub runs: prometheus::IntCounterVec,
    pub removed: prometheus::IntCounterVec,
    pub last_run: prometheus::IntGauge,
}

pub static JANITOR: std::sync::LazyLock<JanitorMetrics> = std::sync::LazyLock::new(|| JanitorMetrics {
    runs: prometheus::IntCounterVec::new(
        prometheus::Opts::new("ambito_janitor_runs_total", "Runs of the server's janitor, by outcome"),
        &["outcome"],
    )
    .expect("valid metric"),
    removed: prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "ambito_janitor_removed_total",
            "What the janitor removed: unfinished uploads, unreferenced objects, expired idempotency keys",
        ),
        &["what"],
    )
    .expect("valid metric"),
    last_run: prometheus::IntGauge::new(
        "ambito_janitor_last_run_timestamp_seconds",
        "When the janitor last ran (Unix time; 0 before its first run, an hour after start-up)",
    )
    .expect("valid metric"),
});

/// How often a server seals the audit events committed since the last time.
pub const SEAL_EVERY: Duration = Duration::from_secs(2);

/// Seals committed audit events into the hash chain every [`SEAL_EVERY`],
/// as `ambito_maint`. Every process may run it: they take turns.
pub fn spawn_sealer(pool: PgPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SEAL_EVERY);
        loop {
            tick.tick().await;
            let Ok(mut conn) = pool.get().await else { continue };
            if let Err(e) = crate::db::audit::seal(&mut conn).await {
                tracing::warn!(error = %e, "sealing the audit trail failed");
            }
        }
    });
}

/// How often a server looks for limited-mode periods to warn about, start or close.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Runs the limited-mode watcher every `every`, as `ambito_auth` (see
/// [`crate::usecases::accounts::limited::watch_once`]). Every process may run it.
pub fn spawn_limited_mode_watch(db: AuthDb, mailer: Mailer, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match crate::usecases::accounts::limited::watch_once(&db, &mailer).await {
                Ok(p) if p.started + p.warned + p.closed > 0 => tracing::info!(
                    warned = p.warned,
                    started = p.started,
                    ended_flows = p.ended_flows,
                    closed = p.closed,
                    "limited mode"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "the limited-mode watcher failed"),
            }
        }
    });
}

pub fn state(pools: Pools, authz: Authorizer, files: Files, options: Options) -> Arc<AppState> {
    let services = Services {
        passwords: options.passwords,
        sessions: options.sessions,
        throttle: options.throttle,
        authz: authz.clone(),
        mailer: options.mailer,
        public_url: PublicUrl(options.public_url),
        files: files.clone(),
        events: crate::events::Events::listen(pools.auth.clone()),
        pools: pools.clone(),
        clock: options.clock.clone(),
    };
    let metrics = Metrics::new(&pools, options.count_fields);
    let schemas = crate::graphql::schemas(services, options.explorable, metrics.fields.clone());
    Arc::new(AppState {
        pool: pools.requests,
        journal: Journal::start(pools.auth.clone()),
        auth: AuthDb(pools.auth),
        schemas,
        persisted: Default::default(),
        metrics,
        sessions: options.sessions,
        authz,
        trust_proxy: options.trust_proxy,
        explorer: options.explorable,
        files,
        clock: options.clock,
    })
}

/// A server listening and accepting: its address and the task running it.
pub struct Running {
    pub addr: SocketAddr,
    pub https: bool,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn read_pem(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading the TLS {what} {}", path.display()))
}

/// Binds (port 0 picks a free port) and serves until `shutdown` completes,
/// then drains for `--shutdown-grace-secs`.
pub async fn spawn(
    state: Arc<AppState>,
    args: &ServeArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let app = http::app(state);
    let tcp = TcpListener::bind(args.listen);
    let (acceptor, https) = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let config = RustlsConfig::new()
                .fallback(RustlsCertificate::new().cert(read_pem(cert, "certificate")?).key(read_pem(key, "key")?));
            (tcp.rustls(config).into_acceptor().await?.boxed(), true)
        }
        _ => (tcp.into_acceptor().await?.boxed(), false),
    };
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .with_context(|| format!("listening on {}", args.listen))?;
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let task = tokio::spawn(async move {
        // Past the grace period, requests still running are dropped: their
        // transactions roll back (a connection left in one is never reused).
        Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(app, shutdown, Some(grace)).await
    });
    Ok(Running { addr, https, task })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(listen: &str, tls: bool, proxy: bool) -> ServeArgs {
        let mut args = ServeArgs::listening_on(listen.parse().unwrap());
        args.tls_cert = tls.then(|| "cert.pem".into());
        args.tls_key = tls.then(|| "key.pem".into());
        args.behind_tls_proxy = proxy;
        args
    }

    #[test]
    fn plain_http_only_on_loopback_in_demo_or_behind_a_proxy() {
        assert!(check_transport(&args("0.0.0.0:8080", false, false), false).is_err());
        assert!(check_transport(&args("[::]:8080", false, false), false).is_err());
        assert!(check_transport(&args("0.0.0.0:8080", true, false), false).is_ok());
        assert!(check_transport(&args("0.0.0.0:8080", false, true), false).is_ok());
        assert!(check_transport(&args("0.0.0.0:8080", false, false), true).is_ok());
        assert!(check_transport(&args("127.0.0.1:8080", false, false), false).is_ok());
        assert!(check_transport(&args("[::1]:8080", false, false), false).is_ok());
    }
}
