//! Command line and settings: flags, each with an `AMBITO_*` (or `DATABASE_URL`)
//! environment variable. Secret values are never echoed by `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::SessionPolicy;
use crate::authz::Authorizer;

#[derive(Parser, Debug)]
#[command(name = "ambito", version, about = "GraphQL server for the data platforms of provincial school offices")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Where the embedded database and local files live.
    #[arg(long, env = "AMBITO_DATA_DIR", default_value = ".ambito", global = true)]
    pub data_dir: PathBuf,
    /// PostgreSQL server to use instead of the embedded cluster.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
    /// Most database connections this process opens.
    #[arg(long, env = "AMBITO_DB_POOL_SIZE", default_value_t = 16, global = true)]
    pub db_pool_size: usize,
    /// Log lines as human-readable text or JSON.
    #[arg(long, env = "AMBITO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
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
    /// PEM certificate chain: serve HTTPS directly.
    #[arg(long, env = "AMBITO_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "AMBITO_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A proxy in front terminates TLS: allow plain HTTP on a non-loopback address.
    #[arg(long, env = "AMBITO_BEHIND_TLS_PROXY")]
    pub behind_tls_proxy: bool,
    /// Directory with the Casbin `model.conf` and `policy.csv` to use instead
    /// of the ones built in (a copy of `policies/`).
    #[arg(long, env = "AMBITO_POLICIES")]
    pub policies: Option<PathBuf>,
    /// Send e-mail over SMTP (`smtps://user:password@host:465`); without it,
    /// messages are written as .eml files in DATA_DIR/outbox.
    #[arg(long, env = "AMBITO_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
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
pub enum LimitedCommand {
    /// Disable these functions: registration, external-password-recovery, email-change, revocation.
    On {
        #[arg(required = true, value_delimiter = ',')]
        functions: Vec<String>,
    },
    /// Enable every function again.
    Off,
    /// Print the disabled functions.
    Show,
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
}
