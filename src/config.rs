//! Command line and settings: flags, each with an `AMBITO_*` (or `DATABASE_URL`)
//! environment variable. Secret values are never echoed by `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::SessionPolicy;
use crate::authz::Authorizer;
use crate::storage::keys::{Keyring, LiveKeys};
use crate::storage::store::{self, S3Settings, Store};

#[derive(Parser, Debug)]
#[command(name = "ambito", version, about = "GraphQL server for the data platforms of provincial school offices")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct GlobalArgs {
    /// Where the embedded database and local files live.
    #[arg(long, env = "AMBITO_DATA_DIR", default_value = ".ambito", global = true)]
    pub data_dir: PathBuf,
    /// PostgreSQL server to use instead of the embedded cluster, as the
    /// login role the server works through (no superuser, owns nothing).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
    /// The same database as its owner: the role the migrations run as.
    /// Without it, a server on --database-url does not migrate.
    #[arg(long, env = "AMBITO_OWNER_DATABASE_URL", hide_env_values = true, global = true)]
    pub owner_database_url: Option<String>,
    /// Most database connections this process opens.
    #[arg(long, env = "AMBITO_DB_POOL_SIZE", default_value_t = 16, global = true)]
    pub db_pool_size: usize,
    /// Longest wait for a database connection, in milliseconds: past it the
    /// request is answered 503 with Retry-After instead of queueing on.
    #[arg(long, env = "AMBITO_DB_POOL_WAIT_MS", default_value_t = 2000, global = true)]
    pub db_pool_wait_ms: u64,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Log lines as human-readable text or JSON.
    #[arg(long, env = "AMBITO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Where to send traces, over OTLP/HTTP (protobuf): a collector's base
    /// address (`http://127.0.0.1:4318`, `/v1/traces` is added) or its full
    /// traces address. Without it no span leaves the process.
    #[arg(long, env = "AMBITO_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
}

/// A setting that carries a password: it never reaches a debug print.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(given)")
    }
}

/// Connection strings carry passwords: they never reach a debug print.
impl std::fmt::Debug for GlobalArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given = |o: &Option<String>| o.as_ref().map(|_| "(given)");
        f.debug_struct("GlobalArgs")
            .field("data_dir", &self.data_dir)
            .field("database_url", &given(&self.database_url))
            .field("owner_database_url", &given(&self.owner_database_url))
            .field("db_pool_size", &self.db_pool_size)
            .field("db_pool_wait_ms", &self.db_pool_wait_ms)
            .field("storage", &self.storage)
            .field("log_format", &self.log_format)
            .field("otlp_endpoint", &self.otlp_endpoint)
            .finish()
    }
}

/// Where documents are stored and the keys that encrypt them. Without an S3
/// bucket, files live under DATA_DIR/files; without keys, a key file is
/// generated at DATA_DIR/keys (local files only: with S3, keys must be given).
#[derive(Args, Clone)]
pub struct StorageArgs {
    /// S3-compatible endpoint (Garage, MinIO, AWS), e.g. https://s3.eu-south-1.amazonaws.com.
    #[arg(long, env = "AMBITO_S3_ENDPOINT", global = true, requires = "s3_bucket")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "AMBITO_S3_REGION", default_value = "us-east-1", global = true)]
    pub s3_region: String,
    #[arg(long, env = "AMBITO_S3_BUCKET", global = true, requires = "s3_endpoint")]
    pub s3_bucket: Option<String>,
    #[arg(long, env = "AMBITO_S3_ACCESS_KEY", hide_env_values = true, global = true)]
    pub s3_access_key: Option<String>,
    #[arg(long, env = "AMBITO_S3_SECRET_KEY", hide_env_values = true, global = true)]
    pub s3_secret_key: Option<String>,
    /// Allow plain HTTP to the endpoint (a node on loopback or a private network).
    #[arg(long, env = "AMBITO_S3_ALLOW_HTTP", global = true)]
    pub s3_allow_http: bool,
    /// Key file: one `id base64-key` per line, the last one current.
    #[arg(long, env = "AMBITO_KEYS_FILE", global = true, conflicts_with = "keys")]
    pub keys_file: Option<PathBuf>,
    /// The keys themselves, as in a key file, entries separated by `;`.
    #[arg(long, env = "AMBITO_KEYS", hide_env_values = true, global = true)]
    pub keys: Option<String>,
}

/// The secret key and the key material never reach a debug print.
impl std::fmt::Debug for StorageArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageArgs")
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_bucket", &self.s3_bucket)
            .field("keys_file", &self.keys_file)
            .field("keys", &self.keys.as_ref().map(|_| "(given)"))
            .finish_non_exhaustive()
    }
}

impl StorageArgs {
    pub fn s3(&self) -> Option<S3Settings> {
        let (endpoint, bucket) = (self.s3_endpoint.clone()?, self.s3_bucket.clone()?);
        Some(S3Settings {
            endpoint,
            region: self.s3_region.clone(),
            bucket,
            access_key: self.s3_access_key.clone().unwrap_or_default(),
            secret_key: self.s3_secret_key.clone().unwrap_or_default(),
            allow_http: self.s3_allow_http,
        })
    }

    /// The store and keys of this run, with the embedded defaults under `data_dir`.
    pub fn open(&self, data_dir: &std::path::Path) -> anyhow::Result<(Store, Keyring)> {
        let store = match self.s3() {
            Some(s) => store::s3(&s)?,
            None => store::local(&data_dir.join("files"))?,
        };
        let keys = match (&self.keys, &self.keys_file) {
            (Some(text), _) => Keyring::parse(text)?,
            (None, Some(file)) => Keyring::load(file)?,
            // Every process that shares a bucket must hold the same keys: one
            // invented here would encrypt documents that no other process can
            // open.
            (None, None) if self.s3().is_some() => anyhow::bail!(
                "documents are stored in S3 but no key was given: give --keys-file (AMBITO_KEYS_FILE) or \
                 --keys (AMBITO_KEYS), the same for every process that shares the bucket"
            ),
            (None, None) => Keyring::load_or_create(&data_dir.join("keys"))?,
        };
        Ok((store, keys))
    }

    /// The store and the keys of a server, which follows its key file (if
    /// the keys come from one) as it changes.
    pub fn open_live(&self, data_dir: &std::path::Path) -> anyhow::Result<(Store, LiveKeys)> {
        let (store, ring) = self.open(data_dir)?;
        let keys = match self.keys {
            Some(_) => LiveKeys::from(ring),
            None => LiveKeys::watching(self.key_file(data_dir), ring),
        };
        Ok((store, keys))
    }

    /// The key file `keys rotate --generate` adds to.
    pub fn key_file(&self, data_dir: &std::path::Path) -> PathBuf {
        self.keys_file.clone().unwrap_or_else(|| data_dir.join("keys"))
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the GraphQL server.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load official open-data files. A file with bad rows is refused whole.
    Import {
        /// Import the good rows of a file and list the bad ones, instead of refusing it.
        #[arg(long, global = true)]
        skip_bad_rows: bool,
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// Admission rounds (process 3).
    Admissions {
        #[command(subcommand)]
        what: AdmissionsCommand,
    },
    /// The allocation of process 4.
    Mobility {
        #[command(subcommand)]
        what: MobilityCommand,
    },
    /// Switch limited mode: disable chosen account functions, keep the rest working.
    LimitedMode {
        #[command(subcommand)]
        what: LimitedCommand,
    },
    /// Manage accounts and memberships.
    User {
        #[command(subcommand)]
        what: UserCommand,
    },
    /// Stored documents: find mismatches, clean up unfinished uploads.
    Storage {
        #[command(subcommand)]
        what: StorageCommand,
    },
    /// The audit trail's hash chain.
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
    },
    /// Key-encryption keys.
    Keys {
        #[command(subcommand)]
        what: KeysCommand,
    },
    /// Generate benchmark data into an empty database: the real territory,
    /// invented pupils, requests and audit rows, an account for every
    /// organisation (password `ambito-bench-password`).
    Seed {
        #[arg(long, value_enum, default_value = "province")]
        scale: crate::seed::Scale,
        /// Mixed into every generated choice: the same seed gives the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where the published national files are (`--scale national`).
        #[arg(long, env = "AMBITO_SHARED_DATA", default_value = "../shared/data")]
        open_data: PathBuf,
    },
    /// Legal preservation of documents.
    Archive {
        #[command(subcommand)]
        what: ArchiveCommand,
    },
    /// Print the GraphQL schema (SDL), or write it to a file.
    ExportSchema {
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AMBITO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Load demo data (default: on with the embedded database, off with --database-url).
    #[arg(long, env = "AMBITO_DEMO", num_args = 0..=1, default_missing_value = "true")]
    pub demo: Option<bool>,
    /// Serve the GraphiQL explorer at `GET /graphql` to browsers, with
    /// introspection (default: on in demo mode, off otherwise).
    #[arg(long, env = "AMBITO_EXPLORER", num_args = 0..=1, default_missing_value = "true")]
    pub explorer: Option<bool>,
    /// PEM certificate chain: serve HTTPS directly.
    #[arg(long, env = "AMBITO_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "AMBITO_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A proxy in front terminates TLS: allow plain HTTP on a non-loopback address.
    #[arg(long, env = "AMBITO_BEHIND_TLS_PROXY")]
    pub behind_tls_proxy: bool,
    /// Let the provincial role fix the domain clock (`setTestClock`), to walk
    /// a round through its dates. Demo mode only: refused otherwise.
    #[arg(long, env = "AMBITO_TEST_CLOCK")]
    pub test_clock: bool,
    /// Directory with the Casbin `model.conf` and `policy.csv` to use instead
    /// of the ones built in (a copy of `policies/`).
    #[arg(long, env = "AMBITO_POLICIES")]
    pub policies: Option<PathBuf>,
    /// Send e-mail over SMTP (`smtps://user:password@host:465`); without it,
    /// messages are written as .eml files in DATA_DIR/outbox.
    #[arg(long, env = "AMBITO_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,
    /// Sender of Ambito's e-mail.
    #[arg(long, env = "AMBITO_MAIL_FROM", default_value = "Ambito <noreply@ambito.invalid>")]
    pub mail_from: String,
    /// Address of the front end, for links in e-mails (default: the listen address).
    #[arg(long, env = "AMBITO_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A session unused this many minutes ends.
    #[arg(long, env = "AMBITO_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: u64,
    /// No session lasts longer than this many hours.
    #[arg(long, env = "AMBITO_SESSION_MAX_HOURS", default_value_t = 12)]
    pub session_max_hours: u64,
    /// Largest document accepted, in MiB.
    #[arg(long, env = "AMBITO_MAX_UPLOAD_MIB", default_value_t = 100)]
    pub max_upload_mib: u64,
    /// On SIGTERM or Ctrl-C: stop accepting, and give requests in flight this
    /// many seconds to finish (each commits or rolls back whole) before exiting.
    #[arg(long, env = "AMBITO_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
}

impl ServeArgs {
    /// The defaults of `ambito serve --listen ADDR`, as clap would give them.
    pub fn listening_on(listen: SocketAddr) -> ServeArgs {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let mut args = Only::parse_from(["ambito"]).serve;
        args.listen = listen;
        args
    }

    pub async fn authorizer(&self) -> anyhow::Result<Authorizer> {
        match &self.policies {
            Some(dir) => Authorizer::from_dir(dir).await,
            None => Authorizer::embedded().await,
        }
    }

    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy {
            idle: Duration::from_secs(self.session_idle_minutes * 60),
            absolute: Duration::from_secs(self.session_max_hours * 3600),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum AdmissionsCommand {
    /// Recompute every published snapshot of a round from its stored inputs
    /// and compare the hashes; exits with status 1 if one differs.
    Verify { round: i64 },
}

#[derive(Subcommand, Debug)]
pub enum MobilityCommand {
    /// Recompute every run of a campaign's phase (UT_AP_INTRA or AP_INTER)
    /// from its stored input and compare both hashes; exits with status 1
    /// if one differs.
    Verify { campaign: i32, phase: String },
}

#[derive(Subcommand, Debug)]
pub enum LimitedCommand {
    /// Stop these functions from now: registration, email-validation,
    /// email-change, external-password-recovery, personal-code-regeneration,
    /// revocation (comma-separated).
    On {
        #[arg(required = true, value_delimiter = ',')]
        functions: Vec<String>,
        /// When the period ends by itself (otherwise at `off`).
        #[arg(long, value_parser = parse_when)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// What users are told, on the banner and in the e-mails.
        #[arg(long, default_value = "")]
        message: String,
    },
    /// Plan a period ahead. Users with flows in progress that it will stop
    /// are e-mailed by when to finish them; at the start the flows still in
    /// progress end. Times are RFC 3339, or local Italian time as
    /// `2026-12-01`, `2026-12-01 08:00`.
    Schedule {
        #[arg(long, value_parser = parse_when)]
        from: chrono::DateTime<chrono::Utc>,
        #[arg(long, value_parser = parse_when)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, required = true, value_delimiter = ',')]
        functions: Vec<String>,
        #[arg(long, default_value = "")]
        message: String,
    },
    /// End the period in force: every function works again.
    Off,
    /// Call off a planned period (its number is in `show`).
    Cancel { id: i64 },
    /// Print the period in force and the planned ones.
    Show,
}

/// An instant given on the command line: RFC 3339, Italian local time, or
/// a day (its midnight in Italy).
pub fn parse_when(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let day = || chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
    crate::rules::rome::parse(s)
        .or_else(|| day().map(|d| crate::rules::rome::instant(d.and_time(chrono::NaiveTime::MIN))))
        .ok_or_else(|| {
            format!(
                "{s:?} is not a time: give 2026-12-01, 2026-12-01 08:00 (Italian time) or RFC 3339 (2026-12-01T08:00:00+01:00)"
            )
        })
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account. Without --password-stdin it has no password until
    /// the holder sets one.
    Create {
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give an account a role for an organisation (province code, school
    /// code, ISTAT municipality code or hub code; none for a teacher).
    Grant { email: String, role: String, organization: Option<String> },
    /// Take a membership away; its sessions end at once.
    Revoke { email: String, role: String, organization: Option<String> },
    /// Disable an account; its sessions end at once.
    Disable { email: String },
    /// Set a new password (first line of standard input); every session ends.
    SetPassword { email: String },
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// ISTAT's list of municipalities (Elenco dei comuni), as published.
    Municipalities { file: PathBuf },
    /// The Ministry's school registry files (state or non-state), as published.
    Schools {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// The Ministry's pupils-per-site file.
    PupilCounts { file: PathBuf },
    /// Process 4's reference data, as an office: classes of competition,
    /// school districts, the surplus of a campaign, or the teacher registry
    /// (columns: docs/teacher-applications.md). Every line is checked as its
    /// GraphQL mutation checks it, in the office's scope and audit trail; a
    /// file with any bad line imports nothing.
    Mobility {
        #[arg(value_enum)]
        kind: crate::usecases::mobility::ReferenceFile,
        file: PathBuf,
        /// The office account the file is entered as.
        #[arg(long = "as", value_name = "EMAIL")]
        office: String,
        /// The campaign of a surplus file.
        #[arg(long)]
        campaign_year: Option<i32>,
    },
}

#[derive(Subcommand, Debug)]
pub enum StorageCommand {
    /// Check that every document's object exists and decrypts to its
    /// recorded SHA-256, and that every object belongs to a document.
    Verify,
    /// Remove uploads left unfinished and objects no document refers to.
    Janitor {
        /// Only what is older than this many minutes.
        #[arg(long, default_value_t = 24 * 60)]
        older_than_minutes: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Seal what is pending, then walk the chain and name the first broken link.
    Verify,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Re-wrap every document's data key under the current key (objects are
    /// not rewritten). Resumable: run it again after an interruption.
    Rotate {
        /// First add a freshly generated key to the key file, as the current key.
        #[arg(long)]
        generate: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ArchiveCommand {
    /// Write the documents to a preservation package (the files, decrypted,
    /// and an index in JSON and CSV with metadata and SHA-256), then remove
    /// them from the live store.
    Export {
        /// An empty (or new) directory for the package.
        #[arg(long)]
        dir: PathBuf,
        /// Only the documents of this province.
        #[arg(long)]
        province: Option<String>,
        /// Only documents uploaded before this date (YYYY-MM-DD).
        #[arg(long)]
        before: Option<chrono::NaiveDate>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from([&["ambito"], args].concat()).unwrap()
    }

    #[test]
    fn s3_storage_without_keys_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let s3 = ["--s3-endpoint", "http://127.0.0.1:3900", "--s3-bucket", "b", "migrate"];
        let Err(err) = parse(&s3).global.storage.open(dir.path()) else { panic!("S3 without keys was accepted") };
        let err = err.to_string();
        assert!(err.contains("no key was given"), "{err}");
        assert!(!dir.path().join("keys").exists(), "no key was invented");
        // Local files keep the embedded default: a key file under the data dir.
        assert!(parse(&["migrate"]).global.storage.open(dir.path()).is_ok());
        assert!(dir.path().join("keys").is_file());
    }

    #[test]
    fn secrets_never_reach_a_debug_print() {
        let cli = parse(&[
            "--database-url",
            "postgres://ambito_server:hunter2@db/ambito",
            "--owner-database-url",
            "postgres://owner:swordfish@db/ambito",
            "--s3-secret-key",
            "opensesame",
            "--keys",
            "k1 c2VjcmV0",
            "serve",
            "--smtp-url",
            "smtps://mailer:letmein@smtp.example:465",
        ]);
        let printed = format!("{cli:?}");
        for secret in ["hunter2", "swordfish", "opensesame", "c2VjcmV0", "letmein"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }
}
