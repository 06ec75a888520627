//! The `ambito` command: serve, migrate, import, export-schema.

use std::process::ExitCode;
use std::time::Duration;

use ambito::auth::passwords::Passwords;
use ambito::auth::{self, OrgRef, Role};
use ambito::config::{
    AdmissionsCommand, ArchiveCommand, AuditCommand, Cli, Command, GlobalArgs, ImportCommand, KeysCommand,
    LimitedCommand, MobilityCommand, ServeArgs, StorageCommand, UserCommand,
};
use ambito::db::roles::{self, DbRole};
use ambito::db::{AuthDb, accounts, audit as audit_trail};
use ambito::import::{self, ImportError, ImportOptions};
use ambito::mail::Mailer;
use ambito::seed;
use ambito::server::{self, Database};
use ambito::storage::keys::Keyring;
use ambito::storage::maintenance;
use ambito::usecases::accounts::limited::{self, AccountFunction, Switch};
use anyhow::Context as _;
use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use diesel_async::{AsyncConnection, AsyncPgConnection};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = match ambito::telemetry::init(cli.global.log_format, cli.global.otlp_endpoint.as_deref()) {
        Ok(t) => t,
        Err(err) => {
            eprintln!("error: starting the trace exporter: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => serve(&cli.global, &args).await,
        Command::Migrate => migrate(&cli.global).await,
        Command::Import { what: ImportCommand::Mobility { kind, file, office, campaign_year }, .. } => {
            import_mobility(&cli.global, kind, &file, &office, campaign_year).await
        }
        Command::Import { what, skip_bad_rows } => run_import(&cli.global, what, ImportOptions { skip_bad_rows }).await,
        Command::User { what } => user(&cli.global, what).await,
        Command::LimitedMode { what } => limited_mode(&cli.global, what).await,
        Command::Admissions { what } => admissions(&cli.global, what).await,
        Command::Seed { scale, seed, open_data } => seed_data(&cli.global, scale, seed, &open_data).await,
        Command::Storage { what } => storage(&cli.global, what).await,
        Command::Keys { what } => keys(&cli.global, what).await,
        Command::Audit { what } => audit(&cli.global, what).await,
        Command::Mobility { what } => mobility(&cli.global, what).await,
        Command::Archive { what } => archive(&cli.global, what).await,
        Command::ExportSchema { output } => export_schema(output),
    };
    telemetry.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            match err.downcast_ref::<ImportError>() {
                Some(import_error) => eprint!("{import_error}"),
                None => eprintln!("error: {err:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

async fn serve(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<()> {
    // Before anything else: a login role that could get around row security
    // is refused whatever the state of the database.
    if let Some(url) = &global.database_url {
        roles::check_login_role(url).await?;
    }
    let database = Database::open(global).await?;
    let demo = args.demo.unwrap_or(database.is_embedded());
    let outcome = async {
        server::check_transport(args, demo)?;
        anyhow::ensure!(
            !args.test_clock || demo,
            "--test-clock lets a user move the time that rules read: it is for demo mode only"
        );
        let authz = args.authorizer().await?;
        let accounts_file = global.data_dir.join("demo-accounts.json");
        let passwords = Passwords::new();
        // A given URL was checked before opening; the embedded cluster's login role is checked here.
        if database.is_embedded() {
            roles::check_login_role(&database.url).await?;
        }
        if demo {
            let owner = database.owner_url.as_deref().context(
                "demo data is loaded as the database's owner: give --owner-database-url, or run without --demo",
            )?;
            let mut conn = AsyncPgConnection::establish(owner).await?;
            if let Some(accounts) = ambito::demo::load(&mut conn, &passwords).await? {
                write_private(&accounts_file, &serde_json::to_vec_pretty(&accounts)?)?;
                tracing::info!("loaded the demo data (Bergamo and Milano) and its accounts");
            }
        }
        let pools = database.pools(global.db_pool_size, Duration::from_millis(global.db_pool_wait_ms))?;
        let mailer = match &args.smtp_url {
            Some(url) => Mailer::smtp(url.expose(), &args.mail_from)?,
            None => Mailer::outbox(global.data_dir.join("outbox"), &args.mail_from)?,
        };
        let options = server::Options {
            sessions: args.session_policy(),
            throttle: Default::default(),
            explorable: args.explorer.unwrap_or(demo),
            trust_proxy: args.behind_tls_proxy,
            mailer: Some(mailer.clone()),
            public_url: args.public_url.clone().unwrap_or_else(|| format!("http://{}", args.listen)),
            passwords,
            clock: match args.test_clock {
                true => ambito::usecases::clock::Clock::settable(),
                false => ambito::usecases::clock::Clock::real(),
            },
            count_fields: false,
        };
        let (store, keys) = global.storage.open_live(&global.data_dir)?;
        let files = server::files(store, keys, args.max_upload_mib);
        server::spawn_janitor(pools.maint.clone(), files.store.clone());
        server::spawn_sealer(pools.maint.clone());
        server::spawn_limited_mode_watch(AuthDb(pools.auth.clone()), mailer.clone(), server::WATCH_EVERY);
        let state = server::state(pools, authz, files, options);
        let running = server::spawn(state, args, server::shutdown_signal()).await?;
        let scheme = if running.https { "https" } else { "http" };
        println!("Ambito is listening on {scheme}://{}/graphql", running.addr);
        if args.explorer.unwrap_or(demo) {
            println!("Explorer: open {scheme}://{}/graphql in a browser", running.addr);
        }
        match &global.database_url {
            None => println!("Database: embedded PostgreSQL in {}", global.data_dir.join("postgres").display()),
            Some(_) => println!("Database: the server given by --database-url"),
        }
        if demo {
            println!("Demo data: the provinces of Bergamo and Milano (see docs/demo-data.md)");
            println!("Demo accounts: {}", accounts_file.display());
        }
        if args.smtp_url.is_none() {
            println!("E-mail: written to {}", global.data_dir.join("outbox").display());
        }
        match global.storage.s3() {
            Some(s) => println!("Documents: bucket {} at {}, encrypted", s.bucket, s.endpoint),
            None => println!("Documents: encrypted, in {}", global.data_dir.join("files").display()),
        }
        running.task.await??;
        anyhow::Ok(())
    }
    .await;
    let closed = database.close().await;
    outcome?;
    closed
}

/// Writes a file only its owner can read (it holds passwords).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}

/// Who a command's connection works as.
enum As {
    /// The login role, switched to one of Ambito's roles.
    Role(DbRole),
    /// The database's owner (benchmark data, which writes every table at once).
    Owner,
}

/// Runs `f` on a connection to this run's database working as `who`, then
/// closes the database whatever `f` returned.
async fn with_database<R>(
    global: &GlobalArgs,
    who: As,
    f: impl AsyncFnOnce(&mut AsyncPgConnection) -> anyhow::Result<R>,
) -> anyhow::Result<R> {
    let database = Database::open(global).await?;
    let outcome = async {
        let mut conn = match who {
            As::Role(role) => roles::connect_as(&database.url, role).await?,
            As::Owner => {
                let owner = database.owner_url.as_deref();
                let owner = owner.context("this command runs as the owner: give --owner-database-url")?;
                AsyncPgConnection::establish(owner).await?
            }
        };
        f(&mut conn).await
    }
    .await;
    let closed = database.close().await;
    let r = outcome?;
    closed?;
    Ok(r)
}

async fn migrate(global: &GlobalArgs) -> anyhow::Result<()> {
    // `ambito migrate --database-url OWNER` runs as that owner.
    let mut global = global.clone();
    if global.owner_database_url.is_none() {
        global.owner_database_url = global.database_url.clone();
    }
    let database = Database::open(&global).await?;
    println!("migrations are up to date");
    database.close().await
}

async fn run_import(global: &GlobalArgs, what: ImportCommand, options: ImportOptions) -> anyhow::Result<()> {
    with_database(global, As::Role(DbRole::Maint), async |conn| {
        let (kind, files) = match what {
            ImportCommand::Municipalities { file } => ("municipalities", vec![file]),
            ImportCommand::Schools { files } => ("schools", files),
            ImportCommand::PupilCounts { file } => ("pupil-counts", vec![file]),
            ImportCommand::Mobility { .. } => unreachable!("imported as an office by import_mobility"),
        };
        for path in files {
            let name = import::display_name(&path);
            let bytes = std::fs::read(&path).with_context(|| format!("{name}: cannot read the file"))?;
            let started = std::time::Instant::now();
            let mut report = match kind {
                "municipalities" => import::istat::import(conn, &name, &bytes, options).await?,
                "schools" => import::schools::import(conn, &name, &bytes, options).await?,
                _ => import::pupils::import(conn, &name, &bytes, options).await?,
            };
            let elapsed = started.elapsed().as_secs_f64();
            let skipped = std::mem::take(&mut report.rejected);
            println!("{report} in {elapsed:.2}s");
            for e in &skipped {
                println!("  skipped {}", e.located(&name));
            }
        }
        anyhow::Ok(())
    })
    .await
}

/// A reference file of process 4, entered as the office account `office`:
/// the same use case, scope, row security and audit trail as the office's
/// `importMobilityReference`, in one transaction. `--skip-bad-rows` does not
/// apply: the office's files are all or nothing.
async fn import_mobility(
    global: &GlobalArgs,
    file: ambito::usecases::mobility::ReferenceFile,
    path: &std::path::Path,
    office: &str,
    year: Option<i32>,
) -> anyhow::Result<()> {
    use ambito::authz::{Action, Authorizer, Caller};
    let name = import::display_name(path);
    let csv = std::fs::read_to_string(path).with_context(|| format!("{name}: cannot read the file as UTF-8 text"))?;
    let database = Database::open(global).await?;
    let outcome = async {
        let pools = database.pools(2, ambito::db::pool::DEFAULT_WAIT)?;
        let authz = Authorizer::embedded().await?;
        let scope_of = |role| authz.scope(role, file.object(), Action::Write);
        let subject = auth::acting_as(&pools.auth, office, |role| scope_of(role).is_some())
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.public_message("cli")))?
            .with_context(|| format!("{office}: no enabled account with an office's membership"))?;
        let caller = Caller::new(&subject, scope_of(subject.membership.role).context("the membership found has one")?);
        let db = ambito::db::RequestDb::new(pools.requests.clone(), authz.settings(Some(&subject)));
        let result = ambito::usecases::mobility::import_reference(&db, &caller, file, year, &csv).await;
        let n = db.settle(result).await.map_err(|e| {
            // The use case names lines of `csv`, as GraphQL's argument; here, of the file.
            let message = e.public_message("cli").replace("csv:", &format!("{name}:"));
            anyhow::anyhow!("{name}: {}: {message}", e.code())
        })?;
        println!("{name}: {n} lines of {} imported as {office}", file.label());
        anyhow::Ok(())
    }
    .await;
    let closed = database.close().await;
    outcome?;
    closed
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn user(global: &GlobalArgs, what: UserCommand) -> anyhow::Result<()> {
    with_database(global, As::Role(DbRole::Auth), async |conn| {
        let email_of = |raw: &str| auth::normalize_email(raw).map_err(|e| anyhow::anyhow!("{raw}: {e}"));
        let membership = |role: &str, org: Option<&str>| -> anyhow::Result<(Role, OrgRef)> {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            Ok((role, OrgRef::for_role(role, org).map_err(anyhow::Error::msg)?))
        };
        // Each change and its audit event commit together.
        let event = |action: &'static str, kind: &'static str, province: Option<String>, current| audit_trail::Event {
            action,
            object_kind: kind,
            province,
            current: Some(current),
            ..Default::default()
        };
        conn.transaction::<_, anyhow::Error, _>(async |conn| {
            let recorded = match what {
                UserCommand::Create { email, password_stdin } => {
                    let email = email_of(&email)?;
                    let hash = match password_stdin {
                        true => Some(hash(&read_password()?).await?),
                        false => None,
                    };
                    accounts::create_user(conn, &email, hash.as_deref())
                        .await
                        .context("creating the account")?
                        .with_context(|| format!("{email} already has an account"))?;
                    println!("created {email}");
                    event("create", "account", None, serde_json::json!({ "email": email }))
                }
                UserCommand::Grant { email, role, organization } => {
                    let id = user_id(conn, &email_of(&email)?).await?;
                    let (role, org) = membership(&role, organization.as_deref())?;
                    let m = accounts::grant(conn, id, role, &org).await.context("the organisation must exist")?;
                    println!("granted {role} {} to {email}", org.code().unwrap_or("(own)"));
                    ambito::usecases::accounts::provision::grant_event(
                        m.to_membership().province,
                        m.id,
                        &email,
                        role,
                        &org,
                    )
                }
                UserCommand::Revoke { email, role, organization } => {
                    let id = user_id(conn, &email_of(&email)?).await?;
                    let (role, org) = membership(&role, organization.as_deref())?;
                    let held = accounts::memberships_of(conn, id).await?;
                    let province = held
                        .iter()
                        .map(|m| m.to_membership())
                        .find(|m| m.role == role && m.org == org)
                        .and_then(|m| m.province);
                    let n = accounts::revoke(conn, id, role, &org).await?;
                    anyhow::ensure!(n > 0, "{email} has no such membership");
                    println!("revoked {role} {} from {email}", org.code().unwrap_or("(own)"));
                    let what = serde_json::json!({ "email": email, "role": role.as_str(), "organization": org.code() });
                    event("revoke", "membership", province, what)
                }
                UserCommand::Disable { email } => {
                    let id = user_id(conn, &email_of(&email)?).await?;
                    accounts::disable(conn, id).await?;
                    println!("disabled {email}");
                    event("disable", "account", None, serde_json::json!({ "email": email }))
                }
                UserCommand::SetPassword { email } => {
                    let id = user_id(conn, &email_of(&email)?).await?;
                    accounts::set_password(conn, id, &hash(&read_password()?).await?).await?;
                    println!("password set for {email}; its sessions have ended");
                    event("set_password", "account", None, serde_json::json!({ "email": email }))
                }
            };
            audit_trail::record_operator(conn, recorded).await?;
            Ok(())
        })
        .await?;
        anyhow::Ok(())
    })
    .await
}

async fn admissions(global: &GlobalArgs, what: AdmissionsCommand) -> anyhow::Result<()> {
    let AdmissionsCommand::Verify { round } = what;
    with_database(global, As::Role(DbRole::Maint), async |conn| {
        let snapshots = ambito::db::admissions::snapshots(conn, round).await?;
        anyhow::ensure!(!snapshots.is_empty(), "round {round} has no published snapshot");
        let mut broken = 0;
        for v in ambito::usecases::admissions::verify_snapshots(&snapshots)? {
            let holds = v.inputs_hold && v.outcome_holds;
            broken += usize::from(!holds);
            println!(
                "{} snapshot: inputs {}, outcome {}",
                v.stage,
                if v.inputs_hold { "match their hash" } else { "DIFFER from their hash" },
                if v.outcome_holds { "recomputed identically" } else { "DIFFERS when recomputed" }
            );
        }
        anyhow::ensure!(broken == 0, "{broken} snapshot(s) of round {round} do not verify");
        anyhow::Ok(())
    })
    .await
}

async fn mobility(global: &GlobalArgs, what: MobilityCommand) -> anyhow::Result<()> {
    let MobilityCommand::Verify { campaign, phase } = what;
    let phase = match phase.to_ascii_uppercase().as_str() {
        "UT_AP_INTRA" => ambito::rules::mobility::phase::Phase::UtApIntra,
        "AP_INTER" => ambito::rules::mobility::phase::Phase::ApInter,
        other => anyhow::bail!("unknown phase {other}: UT_AP_INTRA or AP_INTER"),
    };
    with_database(global, As::Role(DbRole::Maint), async |conn| {
        let runs =
            ambito::usecases::mobility::verify(conn, campaign, phase).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        anyhow::ensure!(!runs.is_empty(), "campaign {campaign} has no run of that phase");
        let mut broken = 0;
        for v in runs {
            broken += usize::from(!(v.input_matches && v.outcome_matches));
            println!(
                "run {} ({}, {}): input {}, outcome {}",
                v.run.id,
                v.run.province_code,
                v.run.state,
                if v.input_matches { "matches its hash" } else { "DIFFERS from its hash" },
                if v.outcome_matches { "recomputed identically" } else { "DIFFERS when recomputed" }
            );
        }
        anyhow::ensure!(broken == 0, "{broken} run(s) do not verify");
        anyhow::Ok(())
    })
    .await
}

async fn limited_mode(global: &GlobalArgs, what: LimitedCommand) -> anyhow::Result<()> {
    with_database(global, As::Role(DbRole::Auth), async |conn| {
        let functions = |names: &[String]| AccountFunction::parse_list(&names.join(",")).map_err(anyhow::Error::msg);
        let switch = match what {
            LimitedCommand::On { functions: f, until, message } => {
                Some(Switch::On { functions: functions(&f)?, until, message })
            }
            LimitedCommand::Schedule { from, until, functions: f, message } => {
                Some(Switch::Schedule { functions: functions(&f)?, from, until, message })
            }
            LimitedCommand::Off => Some(Switch::Off),
            LimitedCommand::Cancel { id } => Some(Switch::Cancel { id }),
            LimitedCommand::Show => None,
        };
        let status = match switch {
            Some(s) => limited::switch(conn, s).await?,
            None => limited::status(conn).await?,
        };
        print!("{}", describe_limited(&status));
        anyhow::Ok(())
    })
    .await
}

fn describe_limited(status: &limited::Status) -> String {
    let period = |p: &limited::Period| {
        let names: Vec<&str> = p.functions.iter().map(|f| f.as_str()).collect();
        let until = p.until.map(|u| format!(" until {}", u.format("%Y-%m-%d %H:%M UTC"))).unwrap_or_default();
        let message = if p.message.is_empty() { String::new() } else { format!("\n    message: {}", p.message) };
        format!("#{}: {} from {}{until}{message}", p.id, names.join(", "), p.from.format("%Y-%m-%d %H:%M UTC"))
    };
    let mut out = match &status.in_force {
        None => "limited mode is off\n".to_string(),
        Some(p) => format!(
            "limited mode is on: disabled {}\n  {}\n",
            p.functions.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", "),
            period(p)
        ),
    };
    for p in &status.planned {
        out.push_str(&format!("planned {}\n", period(p)));
    }
    out
}

async fn seed_data(global: &GlobalArgs, scale: seed::Scale, n: u64, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let hash = hash(seed::BENCH_PASSWORD).await?;
    with_database(global, As::Owner, async |conn| {
        let report = seed::generate(conn, scale, n, data_dir, &hash).await?;
        for (table, count) in &report.counts {
            println!("{table:>22} {count:>9}");
        }
        println!(
            "generated in {:.1} s; every account's password is {}",
            report.took.as_secs_f64(),
            seed::BENCH_PASSWORD
        );
        anyhow::Ok(())
    })
    .await
}

async fn user_id(conn: &mut AsyncPgConnection, email: &str) -> anyhow::Result<i64> {
    Ok(accounts::user_by_email(conn, email).await?.with_context(|| format!("no account {email}"))?.id)
}

async fn hash(password: &str) -> anyhow::Result<String> {
    Passwords::new().hash(password).await.map_err(|e| match e {
        ambito::error::AppError::BadInput { reason, .. } => anyhow::anyhow!("the password {reason}"),
        other => anyhow::anyhow!("hashing the password: {other:?}"),
    })
}

fn export_schema(output: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let sdl = ambito::graphql::sdl();
    match output {
        Some(path) => std::fs::write(&path, sdl).with_context(|| format!("writing {}", path.display())),
        None => {
            print!("{sdl}");
            Ok(())
        }
    }
}

async fn storage(global: &GlobalArgs, what: StorageCommand) -> anyhow::Result<()> {
    let (store, keys) = global.storage.open(&global.data_dir)?;
    with_database(global, As::Role(DbRole::Maint), async |conn| match what {
        StorageCommand::Verify => {
            let report = maintenance::verify(conn, &store, &keys).await?;
            for p in &report.problems {
                println!("{p}");
            }
            println!("{} documents checked, {} problems", report.documents, report.problems.len());
            anyhow::ensure!(report.problems.is_empty(), "the store and the database disagree");
            Ok(())
        }
        StorageCommand::Janitor { older_than_minutes } => {
            let grace = std::time::Duration::from_secs(older_than_minutes * 60);
            let report = maintenance::janitor(conn, &store, grace).await?;
            println!("removed {} unfinished uploads and {} orphan objects", report.uploads, report.objects);
            Ok(())
        }
    })
    .await
}

async fn keys(global: &GlobalArgs, what: KeysCommand) -> anyhow::Result<()> {
    let KeysCommand::Rotate { generate } = what;
    if generate {
        anyhow::ensure!(global.storage.keys.is_none(), "--generate adds to a key file; the keys were given inline");
        let id = Keyring::add_generated(&global.storage.key_file(&global.data_dir))?;
        println!("added key {id} to the key file; it is now the current key");
    }
    let (_, keys) = global.storage.open(&global.data_dir)?;
    with_database(global, As::Role(DbRole::Maint), async |conn| {
        let n = maintenance::rotate(conn, &keys).await?;
        println!("re-wrapped {n} data keys under {}", keys.current().id);
        Ok(())
    })
    .await
}

async fn archive(global: &GlobalArgs, what: ArchiveCommand) -> anyhow::Result<()> {
    let ArchiveCommand::Export { dir, province, before } = what;
    let (store, keys) = global.storage.open(&global.data_dir)?;
    let before = before.map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    with_database(global, As::Role(DbRole::Maint), async |conn| {
        let index = maintenance::archive_export(conn, &store, &keys, &dir, province.as_deref(), before).await?;
        println!("archived {} documents to {}", index.len(), dir.display());
        Ok(())
    })
    .await
}

async fn audit(global: &GlobalArgs, what: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify = what;
    with_database(global, As::Role(DbRole::Maint), async |conn| {
        let sealed = audit_trail::seal(conn).await?;
        let check = audit_trail::verify_chain(conn).await?;
        match check.problem {
            None => {
                println!("the audit chain holds: {} events checked ({sealed} sealed now)", check.sealed);
                Ok(())
            }
            Some(problem) => {
                let at = check.broken_seq.map(|s| format!(" at link {s}")).unwrap_or_default();
                println!("the audit chain is broken{at}: {problem}");
                anyhow::bail!("the audit chain is broken after {} good links", check.sealed)
            }
        }
    })
    .await
}
