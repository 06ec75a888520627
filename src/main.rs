//! The `ambito` command: serve, migrate, import, export-schema.

use std::process::ExitCode;

use ambito::config::{Cli, Command, GlobalArgs, ImportCommand, LogFormat, ServeArgs};
use ambito::import::{self, ImportError, ImportOptions};
use ambito::server::{self, Database};
use anyhow::Context as _;
use clap::Parser;
use diesel_async::{AsyncConnection, AsyncPgConnection};

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AMBITO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.log_format);
    let result = match cli.command {
        Command::Serve(args) => serve(&cli.global, &args).await,
        Command::Migrate => migrate(&cli.global).await,
        Command::Import { what, skip_bad_rows } => run_import(&cli.global, what, ImportOptions { skip_bad_rows }).await,
        Command::ExportSchema { output } => export_schema(output),
    };
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
    let database = Database::open(global).await?;
    let demo = args.demo.unwrap_or(database.is_embedded());
    let outcome = async {
        server::check_transport(args, demo)?;
        if demo {
            let mut conn = AsyncPgConnection::establish(&database.url).await?;
            if ambito::demo::load(&mut conn).await? {
                tracing::info!("loaded the demo data (Bergamo and Milano)");
            }
        }
        let pool = database.pool(global.db_pool_size)?;
        let running = server::spawn(server::state(pool), args, server::shutdown_signal()).await?;
        let scheme = if running.https { "https" } else { "http" };
        println!("Ambito is listening on {scheme}://{}/graphql", running.addr);
        match &global.database_url {
            None => println!("Database: embedded PostgreSQL in {}", global.data_dir.join("postgres").display()),
            Some(_) => println!("Database: the server given by --database-url"),
        }
        if demo {
            println!("Demo data: the provinces of Bergamo and Milano (see README, \"Demo data\")");
        }
        running.task.await??;
        anyhow::Ok(())
    }
    .await;
    let closed = database.close().await;
    outcome?;
    closed
}

async fn migrate(global: &GlobalArgs) -> anyhow::Result<()> {
    let database = Database::open(global).await?;
    println!("migrations are up to date");
    database.close().await
}

async fn run_import(global: &GlobalArgs, what: ImportCommand, options: ImportOptions) -> anyhow::Result<()> {
    let database = Database::open(global).await?;
    let outcome = async {
        let mut conn = AsyncPgConnection::establish(&database.url).await?;
        let (kind, files) = match what {
            ImportCommand::Municipalities { file } => ("municipalities", vec![file]),
            ImportCommand::Schools { files } => ("schools", files),
            ImportCommand::PupilCounts { file } => ("pupil-counts", vec![file]),
        };
        for path in files {
            let name = import::display_name(&path);
            let bytes = std::fs::read(&path).with_context(|| format!("{name}: cannot read the file"))?;
            let started = std::time::Instant::now();
            let mut report = match kind {
                "municipalities" => import::istat::import(&mut conn, &name, &bytes, options).await?,
                "schools" => import::schools::import(&mut conn, &name, &bytes, options).await?,
                _ => import::pupils::import(&mut conn, &name, &bytes, options).await?,
            };
            let elapsed = started.elapsed().as_secs_f64();
            let skipped = std::mem::take(&mut report.rejected);
            println!("{report} in {elapsed:.2}s");
            for e in &skipped {
                println!("  skipped {}", e.located(&name));
            }
        }
        anyhow::Ok(())
    }
    .await;
    let closed = database.close().await;
    outcome?;
    closed
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
