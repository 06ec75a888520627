//! Database access: connection settings, pool, embedded migrations, and the
//! request-scoped handle through which every resolver reaches PostgreSQL.

pub mod accounts;
pub mod admissions;
pub mod attachments;
pub mod audit;
pub mod embedded;
pub mod fixed;
pub mod idempotency;
pub mod journal;
pub mod limited_mode;
pub mod mobility;
pub mod pool;
pub mod refugees;
pub mod registry;
pub mod roles;
pub mod schema;
pub mod territory;

use anyhow::Context as _;
use diesel::QueryResult;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::{
    AnsiTransactionManager, AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl, TransactionManager,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::future::BoxFuture;
use tokio::sync::Mutex;

use crate::error::{AppError, AppResult};

pub use pool::PgPool;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Opens a pool of at most `max_size` connections as the login role, which
/// request work switches from per transaction (see [`roles::pool_as`]).
pub fn pool(url: &str, max_size: usize) -> anyhow::Result<PgPool> {
    roles::pool_as(url, max_size, None, "requests", pool::DEFAULT_WAIT)
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

/// A server that does not migrate (it has no owner's login) checks that
/// the database has every migration it was built with.
pub async fn check_migrated(url: &str) -> anyhow::Result<()> {
    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let mut conn = roles::connect_as(url, roles::DbRole::Auth).await?;
    let done: Vec<Version> = diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
        .load(&mut conn)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("reading which migrations ran: run `ambito migrate` as the owner (--owner-database-url)")?;
    let done: std::collections::HashSet<String> = done.into_iter().map(|v| v.version).collect();
    let missing = diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .iter()
        .map(|m| m.name().version().to_string())
        .filter(|v| !done.contains(v))
        .count();
    anyhow::ensure!(
        missing == 0,
        "the database lacks {missing} migrations: run `ambito migrate` with the owner's --owner-database-url"
    );
    Ok(())
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

/// Replaces the user in a connection string (URL or key/value form), for
/// the login role beside an owner's URL (tests, the embedded cluster).
pub fn with_user(url: &str, user: &str) -> String {
    if let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) {
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        format!("postgres://{user}@{host}")
    } else {
        // In the key/value form the last value of a key wins.
        format!("{url} user={user}")
    }
}

/// The database handle of one GraphQL request. All of a request's database
/// work runs in one transaction on one connection, as the role `ambito_app`
/// (no BYPASSRLS) with the caller's scope in transaction-local settings, so
/// row-level security applies to every query a resolver or loader makes. The
/// transaction commits only when the whole request succeeded.
#[derive(Clone)]
pub struct RequestDb {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    settings: Vec<(String, String)>,
    conn: Mutex<Option<Object<AsyncPgConnection>>>,
    failed: AtomicBool,
    kept: std::sync::Mutex<audit::Kept>,
    /// Each piece of work in a transaction of its own, committed at once
    /// (long-lived subscriptions must not hold a transaction open).
    per_call: bool,
    /// For a query: the audit events go to the journal, as the caller's.
    journal: Option<(journal::Journal, audit::Actor)>,
}

impl RequestDb {
    pub fn new(pool: PgPool, settings: Vec<(String, String)>) -> RequestDb {
        RequestDb::build(pool, settings, false, None)
    }

    /// A handle for a query, which writes nothing but its audit events:
    /// they are recorded through `journal` with other requests' (group
    /// commit), as `actor`'s, and its own transaction ends without a flush.
    pub fn journaled(
        pool: PgPool,
        settings: Vec<(String, String)>,
        journal: journal::Journal,
        actor: audit::Actor,
    ) -> RequestDb {
        RequestDb::build(pool, settings, false, Some((journal, actor)))
    }

    /// A handle whose every `run` is its own scoped transaction, for the
    /// fields of subscription events: nothing stays open between events.
    pub fn per_call(pool: PgPool, settings: Vec<(String, String)>) -> RequestDb {
        RequestDb::build(pool, settings, true, None)
    }

    fn build(
        pool: PgPool,
        settings: Vec<(String, String)>,
        per_call: bool,
        journal: Option<(journal::Journal, audit::Actor)>,
    ) -> RequestDb {
        RequestDb {
            inner: Arc::new(Inner {
                pool,
                settings,
                conn: Mutex::new(None),
                failed: AtomicBool::new(false),
                kept: Default::default(),
                per_call,
                journal,
            }),
        }
    }

    pub async fn run<R, F>(&self, f: F) -> AppResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, QueryResult<R>> + Send + 'static,
    {
        self.try_run(move |c| Box::pin(async move { Ok(f(c).await?) })).await
    }

    /// Like [`run`](Self::run), for work that also checks the caller's input:
    /// any error fails the request and nothing it wrote is kept.
    pub async fn try_run<R, F>(&self, f: F) -> AppResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, AppResult<R>> + Send + 'static,
    {
        if self.inner.per_call {
            let mut conn = self.inner.pool.get().await?;
            begin_scoped(&mut conn, &self.inner.settings).await?;
            let result = f(&mut conn).await;
            let reads = self.inner.kept.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
            if result.is_ok() {
                audit::record(&mut conn, reads.into_events()).await?;
                AnsiTransactionManager::commit_transaction(&mut *conn).await?;
            } else {
                AnsiTransactionManager::rollback_transaction(&mut *conn).await?;
            }
            return result;
        }
        let mut guard = self.inner.conn.lock().await;
        if guard.is_none() {
            let mut conn = self.inner.pool.get().await?;
            begin_scoped(&mut conn, &self.inner.settings).await?;
            *guard = Some(conn);
        }
        let conn = guard.as_mut().expect("set above");
        let result = f(conn).await;
        if matches!(&result, Err(e) if !matches!(e, AppError::NotFound)) {
            self.inner.failed.store(true, Ordering::SeqCst);
        }
        result
    }

    /// Notes that the request read a protected field of a pupil; the read is
    /// recorded in the audit trail when the request ends.
    pub fn note_read(&self, pupil_id: i64, province: &str, institution: &str, field: &'static str) {
        if let Ok(mut kept) = self.inner.kept.lock() {
            kept.note(pupil_id, province, institution, field);
        }
    }

    /// Records an event in the audit trail when the request ends, even if
    /// the request fails (an attempt the office must know of).
    pub fn note_event(&self, event: audit::Event) {
        if let Ok(mut kept) = self.inner.kept.lock() {
            kept.note_event(event);
        }
    }

    /// Ends the transaction of work whose outcome is `result`: committed when
    /// it succeeded, its audit events kept either way. Returns `result`.
    pub async fn settle<T>(&self, result: AppResult<T>) -> AppResult<T> {
        self.finish(result.is_ok()).await?;
        result
    }

    /// Ends the request's transaction: commits if asked and nothing failed,
    /// else rolls back. A request that never touched the database has nothing
    /// to end. Reads of protected fields are recorded either way: data that
    /// left the server is in the trail even when the request failed later.
    pub async fn finish(&self, commit: bool) -> AppResult<()> {
        let Some(mut conn) = self.inner.conn.lock().await.take() else { return Ok(()) };
        let reads = self.inner.kept.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
        let ok = commit && !AtomicBool::load(&self.inner.failed, Ordering::SeqCst);
        if let Some((journal, actor)) = &self.inner.journal {
            match ok {
                true => AnsiTransactionManager::commit_transaction(&mut *conn).await?,
                false => AnsiTransactionManager::rollback_transaction(&mut *conn).await?,
            }
            // The connection goes back before the wait for the journal's flush.
            drop(conn);
            return journal.record(*actor, reads.into_events()).await;
        }
        if ok {
            audit::record(&mut conn, reads.into_events()).await?;
            AnsiTransactionManager::commit_transaction(&mut *conn).await?;
        } else {
            AnsiTransactionManager::rollback_transaction(&mut *conn).await?;
            if !reads.is_empty() {
                begin_scoped(&mut conn, &self.inner.settings).await?;
                audit::record(&mut conn, reads.into_events()).await?;
                AnsiTransactionManager::commit_transaction(&mut *conn).await?;
            }
        }
        Ok(())
    }
}

/// Begins a transaction as `ambito_app` with the caller's settings, in one
/// round trip: a request's first query waits for it, and a prepared
/// statement would be parsed afresh each time anyway (its text varies).
async fn begin_scoped(conn: &mut AsyncPgConnection, settings: &[(String, String)]) -> QueryResult<()> {
    AnsiTransactionManager::begin_transaction_sql(conn, &begin_sql(settings)?).await
}

/// `BEGIN`, the role, and one `set_config` per setting, as literals.
fn begin_sql(settings: &[(String, String)]) -> QueryResult<String> {
    let mut sql = String::from("BEGIN; SET LOCAL ROLE ambito_app;");
    if !settings.is_empty() {
        let calls: Vec<String> = settings
            .iter()
            .map(|(k, v)| Ok(format!("set_config({}, {}, true)", literal(k)?, literal(v)?)))
            .collect::<QueryResult<_>>()?;
        sql.push_str(" SELECT ");
        sql.push_str(&calls.join(", "));
    }
    Ok(sql)
}

/// An escape-string literal, read the same whatever the server's
/// `standard_conforming_strings`. Settings are our own names and codes, but
/// a NUL byte cannot be sent at all, so it is refused.
fn literal(s: &str) -> QueryResult<String> {
    if s.contains('\0') {
        return Err(diesel::result::Error::SerializationError("NUL byte in a setting".into()));
    }
    Ok(format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''")))
}

/// The handle of authentication and the account lifecycle: connections
/// working as `ambito_auth`, outside any caller's scope, because login must
/// find an account before anyone is signed in. Besides login and the
/// session guard, the account functions of seed 004 use it (registration,
/// recovery, address change, revocation of one's own account) and the
/// `limitedMode` query. It reaches accounts, sessions, throttles and tokens,
/// and none of the tenant data (pupils, requests, documents).
#[derive(Clone)]
pub struct AuthDb(pub PgPool);

impl AuthDb {
    pub async fn run<R, F>(&self, f: F) -> AppResult<R>
    where
        R: Send + 'static,
        F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, QueryResult<R>> + Send + 'static,
    {
        let mut conn = self.0.get().await?;
        Ok(f(&mut conn).await?)
    }
}

/// A page query that loads rows of `T` and can also be explained: what a
/// list's `*_query` function returns when its type cannot be named.
pub trait PageQuery<T>:
    diesel_async::methods::LoadQuery<'static, AsyncPgConnection, T>
    + diesel::query_builder::QueryFragment<diesel::pg::Pg>
    + diesel::query_builder::QueryId
    + Send
    + 'static
{
}

impl<T, Q> PageQuery<T> for Q where
    Q: diesel_async::methods::LoadQuery<'static, AsyncPgConnection, T>
        + diesel::query_builder::QueryFragment<diesel::pg::Pg>
        + diesel::query_builder::QueryId
        + Send
        + 'static
{
}

/// `EXPLAIN (FORMAT JSON)` of a query as the application builds it, binds
/// and all: the plan PostgreSQL would run, for tests that guard plans.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
pub struct Explain<Q>(pub Q);

impl<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>> diesel::query_builder::QueryFragment<diesel::pg::Pg>
    for Explain<Q>
{
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql("EXPLAIN (FORMAT JSON) ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q> diesel::query_builder::Query for Explain<Q> {
    type SqlType = diesel::sql_types::Text;
}

/// Runs `write` in a savepoint. A unique violation comes back as the name of
/// the constraint, and leaves the request's transaction usable.
pub async fn unless_taken<T: Send>(
    conn: &mut AsyncPgConnection,
    write: impl for<'c> FnOnce(&'c mut AsyncPgConnection) -> futures_util::future::BoxFuture<'c, QueryResult<T>> + Send,
) -> QueryResult<Result<T, String>> {
    use diesel::result::{DatabaseErrorKind, Error};
    // Inside the request's transaction this begins a savepoint.
    AnsiTransactionManager::begin_transaction(conn).await?;
    match write(conn).await {
        Ok(v) => {
            AnsiTransactionManager::commit_transaction(conn).await?;
            Ok(Ok(v))
        }
        Err(e) => {
            AnsiTransactionManager::rollback_transaction(conn).await?;
            match e {
                Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                    Ok(Err(info.constraint_name().unwrap_or_default().to_owned()))
                }
                e => Err(e),
            }
        }
    }
}
