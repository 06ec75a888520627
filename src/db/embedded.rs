//! The embedded default: a private PostgreSQL cluster under the data dir,
//! started from the machine's PostgreSQL binaries and reached on a unix socket.
//!
//! PostgreSQL refuses to run as root, so when Ambito runs as root the cluster
//! belongs to the `postgres` system user and its tools run through `runuser`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context as _, bail};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::process::Command;

/// Database created inside the cluster for Ambito's data.
pub const DATABASE: &str = "ambito";
const SUPERUSER: &str = "ambito";
const SYSTEM_USER: &str = "postgres";

#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Off only for throw-away test clusters: durability is not needed there.
    pub fsync: bool,
}

/// A running cluster. Stop it with [`EmbeddedCluster::stop`]; a cluster that
/// was already running when this process came (another `serve`) is left alone.
#[derive(Debug)]
pub struct EmbeddedCluster {
    bin: PathBuf,
    dir: PathBuf,
    started_here: bool,
    as_system_user: bool,
}

/// The directory holding `initdb` and `pg_ctl`: `AMBITO_PG_BIN`, else the newest
/// Debian-style `/usr/lib/postgresql/N/bin`, else `pg_config --bindir`.
pub fn find_binaries() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("AMBITO_PG_BIN") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").is_file() {
            return Ok(dir);
        }
        bail!(
            "AMBITO_PG_BIN={} has no initdb: install the PostgreSQL server (`apt-get install postgresql`) \
             and point AMBITO_PG_BIN at its bin directory",
            dir.display()
        );
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Ok(out) = std::process::Command::new("pg_config").arg("--bindir").output() {
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if bin.join("initdb").is_file() {
            return Ok(bin);
        }
    }
    bail!(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them with \
         `apt-get install postgresql` (Debian/Ubuntu; the package `postgresql-15` or newer), \
         set AMBITO_PG_BIN to their directory, or give --database-url to use an existing server"
    )
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl EmbeddedCluster {
    /// Creates the cluster under `dir` on first use, starts it unless it is
    /// already running, and makes sure Ambito's database exists.
    pub async fn ensure(dir: &Path, opts: &ClusterOptions) -> anyhow::Result<EmbeddedCluster> {
        let bin = find_binaries()?;
        let as_system_user = running_as_root();
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir.canonicalize()?;
        let socket = dir.join(".s.PGSQL.5432");
        if socket.as_os_str().len() > 100 {
            bail!("the data dir path is too long for a unix socket: {}", dir.display());
        }
        let mut cluster = EmbeddedCluster { bin, dir, started_here: false, as_system_user };
        if !cluster.dir.join("PG_VERSION").exists() {
            cluster.init(opts).await?;
        }
        if !cluster.is_running().await? {
            cluster.pg_ctl(&["start", "-w", "-t", "60", "-s", "-l"], Some("server.log")).await?;
            cluster.started_here = true;
        }
        cluster.create_database().await?;
        Ok(cluster)
    }

    async fn init(&self, opts: &ClusterOptions) -> anyhow::Result<()> {
        if self.as_system_user {
            // The system user must be able to reach and own its directory.
            if let Some(parent) = self.dir.parent() {
                let mode = std::fs::metadata(parent)?.permissions().mode();
                std::fs::set_permissions(parent, std::fs::Permissions::from_mode(mode | 0o711))?;
            }
            self.run_tool("chown", &[SYSTEM_USER, &self.dir.to_string_lossy()], false).await?;
        }
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        let initdb = self.bin.join("initdb");
        self.run_tool(
            &initdb.to_string_lossy(),
            &[
                "-D",
                &self.dir.to_string_lossy(),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            true,
        )
        .await
        .context("initdb failed")?;
        // Only the unix socket inside the cluster directory, readable by its
        // owner alone: trust authentication is then as safe as the directory.
        let conf = format!(
            "\n# Written by Ambito for its embedded cluster.\n\
             listen_addresses = ''\n\
             unix_socket_directories = '{}'\n\
             unix_socket_permissions = 0700\n\
             fsync = {}\n\
             synchronous_commit = {}\n\
             full_page_writes = {}\n",
            self.dir.display(),
            on_off(opts.fsync),
            on_off(opts.fsync),
            on_off(opts.fsync),
        );
        let path = self.dir.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path)?;
        text.push_str(&conf);
        std::fs::write(&path, text)?;
        Ok(())
    }

    async fn is_running(&self) -> anyhow::Result<bool> {
        let status = self
            .command(&self.bin.join("pg_ctl").to_string_lossy(), &["status", "-D", &self.dir.to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await?;
        Ok(status.success())
    }

    async fn pg_ctl(&self, args: &[&str], log: Option<&str>) -> anyhow::Result<()> {
        let mut all: Vec<String> = vec!["-D".into(), self.dir.to_string_lossy().into_owned()];
        all.extend(args.iter().map(|s| s.to_string()));
        if let Some(log) = log {
            all.push(self.dir.join(log).to_string_lossy().into_owned());
        }
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        self.run_tool(&self.bin.join("pg_ctl").to_string_lossy(), &refs, true)
            .await
            .with_context(|| format!("pg_ctl {} failed (see {}/server.log)", args[0], self.dir.display()))
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = if self.as_system_user {
            let mut c = Command::new("runuser");
            c.args(["-u", SYSTEM_USER, "--", program]);
            c
        } else {
            Command::new(program)
        };
        cmd.args(args).stdin(Stdio::null()).kill_on_drop(false);
        cmd
    }

    /// Runs a tool to completion; `as_owner` runs it as the cluster's owner.
    async fn run_tool(&self, program: &str, args: &[&str], as_owner: bool) -> anyhow::Result<()> {
        let mut cmd = if as_owner {
            self.command(program, args)
        } else {
            let mut c = Command::new(program);
            c.args(args).stdin(Stdio::null());
            c
        };
        let out = cmd.output().await.with_context(|| format!("running {program}"))?;
        if !out.status.success() {
            bail!("{program} exited with {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    async fn create_database(&self) -> anyhow::Result<()> {
        let mut conn =
            AsyncPgConnection::establish(&self.url("postgres")).await.context("connecting to the embedded cluster")?;
        #[derive(diesel::QueryableByName)]
        struct Exists {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            exists: bool,
        }
        let found: Exists = diesel::sql_query(format!(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{DATABASE}') AS exists"
        ))
        .get_result(&mut conn)
        .await?;
        if !found.exists {
            diesel::sql_query(format!("CREATE DATABASE {DATABASE}")).execute(&mut conn).await?;
        }
        super::roles::bootstrap(&mut conn).await
    }

    /// Connection string for a database of this cluster as its superuser,
    /// who owns the tables: for migrations and demo data only (unix socket,
    /// trust).
    pub fn url(&self, dbname: &str) -> String {
        format!("host='{}' port=5432 user={SUPERUSER} dbname={dbname}", self.dir.display())
    }

    /// Connection string as the login role the server works through.
    pub fn login_url(&self, dbname: &str) -> String {
        format!("host='{}' port=5432 user={} dbname={dbname}", self.dir.display(), super::roles::LOGIN_ROLE)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The command line that stops this cluster at once, for a watchdog that
    /// outlives the process (test clusters stop when their test run ends).
    pub fn stop_argv(&self) -> Vec<String> {
        let mut argv = Vec::new();
        if self.as_system_user {
            argv.extend(["runuser", "-u", SYSTEM_USER, "--"].map(String::from));
        }
        argv.push(self.bin.join("pg_ctl").to_string_lossy().into_owned());
        argv.extend([
            "-D".into(),
            self.dir.to_string_lossy().into_owned(),
            "stop".into(),
            "-m".into(),
            "immediate".into(),
        ]);
        argv
    }

    /// Stops the cluster if this process started it.
    pub async fn stop(self) -> anyhow::Result<()> {
        if self.started_here {
            self.pg_ctl(&["stop", "-m", "fast", "-w", "-s"], None).await?;
        }
        Ok(())
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}
