//! Database access: connection settings, pool, embedded migrations, and the
//! request-scoped handle through which every resolver reaches PostgreSQL.

pub mod accounts;
pub mod embedded;
pub mod schema;
pub mod territory;

use anyhow::Context as _;
use diesel::QueryResult;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::future::BoxFuture;

use crate::error::AppResult;

pub type PgPool = Pool<AsyncPgConnection>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Opens a pool of at most `max_size` connections. Connections are made lazily.
pub fn pool(url: &str, max_size: usize) -> anyhow::Result<PgPool> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    Pool::builder(manager).max_size(max_size).build().context("building the connection pool")
}

/// Applies pending migrations. Several processes may start at once (a server
/// and an import): an advisory lock makes them take turns.
pub async fn migrate(url: &str) -> anyhow::Result<Vec<String>> {
    let mut conn = AsyncPgConnection::establish(url).await.context("connecting to PostgreSQL to run migrations")?;
    diesel::sql_query("SELECT pg_advisory_lock(7405120)").execute(&mut conn).await?;
    let mut harness = AsyncMigrationHarness::new(conn);
    let applied = harness
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?
        .into_iter()
        .map(|v| v.to_string())
        .collect();
    let mut conn = harness.into_inner();
    diesel::sql_query("SELECT pg_advisory_unlock(7405120)").execute(&mut conn).await?;
    Ok(applied)
}

/// Whether the database answers a trivial query.
pub async fn ping(pool: &PgPool) -> bool {
    match pool.get().await {
        Ok(mut conn) => diesel::sql_query("SELECT 1").execute(&mut conn).await.is_ok(),
        Err(_) => false,
    }
}

/// Replaces the database name in a connection string (URL or key/value form).
pub fn with_database(url: &str, dbname: &str) -> String {
    if let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) {
        let (before_query, query) = match rest.find('?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let authority = before_query.split('/').next().unwrap_or("");
        format!("postgres://{authority}/{dbname}{query}")
    } else {
        format!("{url} dbname={dbname}")
    }
}

/// The database handle of one GraphQL request. Every query a resolver or a
/// loader makes goes through [`RequestDb::run`], so that the request's
/// identity and scope can be applied to the connection in one place.
#[derive(Clone)]
pub struct RequestDb {
    pool: PgPool,
}

impl RequestDb {
    pub fn new(pool: PgPool) -> RequestDb {
        RequestDb { pool }
    }

    pub async fn run<R, F>(&self, f: F) -> AppResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, QueryResult<R>> + Send + 'static,
    {
        let mut conn = self.pool.get().await?;
        Ok(f(&mut conn).await?)
    }
}
