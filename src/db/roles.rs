//! The roles Ambito's work runs as in PostgreSQL, and the pools that hold
//! connections already switched to them.
//!
//! The server logs in as a role that owns nothing, is no superuser, has no
//! `BYPASSRLS` and inherits nothing (`NOINHERIT`): a connection can do
//! nothing until it switches to one of the roles below, each allowed only
//! what its work needs (migration 000013 grants them).

use std::time::Duration;

use anyhow::{Context as _, bail};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::FutureExt as _;

use super::PgPool;

/// The login role of the embedded cluster (and the name the README suggests
/// for a server of one's own).
pub const LOGIN_ROLE: &str = "ambito_server";

/// What a connection works as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbRole {
    /// Request work, under row security with the caller's scope (switched
    /// per transaction: see [`super::RequestDb`]).
    App,
    /// Authentication and the account lifecycle.
    Auth,
    /// The operator's commands and the server's upkeep: documents, the
    /// territory, the audit chain.
    Maint,
}

impl DbRole {
    pub fn name(self) -> &'static str {
        match self {
            DbRole::App => "ambito_app",
            DbRole::Auth => "ambito_auth",
            DbRole::Maint => "ambito_maint",
        }
    }
}

async fn establish_as(url: &str, role: Option<DbRole>) -> diesel::ConnectionResult<AsyncPgConnection> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    if let Some(statements) = crate::telemetry::statements() {
        conn.set_instrumentation(statements);
    }
    if let Some(role) = role {
        // The role names are our own constants.
        diesel::sql_query(format!("SET ROLE {}", role.name()))
            .execute(&mut conn)
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    }
    Ok(conn)
}

/// One connection working as `role`, for commands.
pub async fn connect_as(url: &str, role: DbRole) -> anyhow::Result<AsyncPgConnection> {
    establish_as(url, Some(role)).await.with_context(|| format!("connecting to PostgreSQL as {}", role.name()))
}

/// A pool of connections working as `role` (`None`: as the login role,
/// which request work switches from per transaction). Connections are made
/// lazily, and go back into use without a test query (`SELECT 1` on every
/// checkout cost two round trips per request); one the server closed fails
/// its first use instead.
/// Work waits at most `wait` for a connection (see [`super::pool`]).
pub fn pool_as(
    url: &str,
    max_size: usize,
    role: Option<DbRole>,
    name: &'static str,
    wait: Duration,
) -> anyhow::Result<PgPool> {
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| establish_as(url, role).boxed());
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    let pool = Pool::builder(manager).max_size(max_size).build().context("building the connection pool")?;
    Ok(PgPool::new(pool, name, wait))
}

/// The pools of one server process.
#[derive(Clone)]
pub struct Pools {
    /// Request work: each transaction switches to `ambito_app`.
    pub requests: PgPool,
    /// Authentication: sessions, logins, the account lifecycle.
    pub auth: PgPool,
    /// The janitor and the audit sealer.
    pub maint: PgPool,
}

impl Pools {
    /// Pools over the login role at `url`: `size` connections for requests,
    /// half as many (at least two) for authentication, two for upkeep. Work
    /// waits at most `wait` for a connection.
    pub fn connect(url: &str, size: usize, wait: Duration) -> anyhow::Result<Pools> {
        Ok(Pools {
            requests: pool_as(url, size, None, "requests", wait)?,
            auth: pool_as(url, (size / 2).max(2), Some(DbRole::Auth), "auth", wait)?,
            maint: pool_as(url, 2, Some(DbRole::Maint), "maint", wait)?,
        })
    }

    pub fn all(&self) -> [&PgPool; 3] {
        [&self.requests, &self.auth, &self.maint]
    }
}

#[derive(QueryableByName)]
struct LoginFacts {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    superuser: bool,
    #[diesel(sql_type = Bool)]
    bypass: bool,
    #[diesel(sql_type = Bool)]
    inherits: bool,
    #[diesel(sql_type = BigInt)]
    owned: i64,
}

/// Refuses a login role that could get around row security: a superuser, a
/// role with `BYPASSRLS`, or one that owns anything in the database (an
/// owner can switch row security off). A role that inherits the roles
/// granted to it is refused too: it would hold every role's rights at once.
pub async fn check_login_role(url: &str) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(url).await.context("connecting to PostgreSQL")?;
    let f: LoginFacts = diesel::sql_query(
        "SELECT r.rolname::text AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypass, r.rolinherit AS inherits,
                (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relowner = r.oid AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                    AND n.nspname NOT LIKE 'pg_toast%') AS owned
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .get_result(&mut conn)
    .await
    .context("reading the login role")?;
    let why = if f.superuser {
        "is a superuser"
    } else if f.bypass {
        "has BYPASSRLS"
    } else if f.owned > 0 {
        "owns tables (an owner can switch row security off)"
    } else if f.inherits {
        "inherits the rights of the roles granted to it (create it NOINHERIT)"
    } else {
        return Ok(());
    };
    bail!(
        "refusing to serve as the PostgreSQL role {}: it {why}. Give --database-url a login role that owns \
         nothing (see README, \"Roles in PostgreSQL\"), and --owner-database-url the owner for migrations",
        f.name
    )
}

/// Creates the roles on a cluster where the caller may (the embedded
/// cluster's superuser, a test cluster): the three working roles, and the
/// login role with them granted. Idempotent.
pub async fn bootstrap(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    diesel::sql_query(format!(
        "DO $$
         DECLARE r text;
         BEGIN
             FOREACH r IN ARRAY ARRAY['ambito_app', 'ambito_auth', 'ambito_maint'] LOOP
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
                     EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', r);
                 END IF;
             END LOOP;
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{LOGIN_ROLE}') THEN
                 CREATE ROLE {LOGIN_ROLE} LOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
             END IF;
             GRANT ambito_app, ambito_auth, ambito_maint TO {LOGIN_ROLE};
         END
         $$"
    ))
    .execute(conn)
    .await
    .context("creating Ambito's roles")?;
    Ok(())
}
