//! The physical references of bench/run's engine rows (issue 23): the
//! admission engine over every seeded round of Bergamo, and the mobility
//! allocation over the stored inputs of the national campaign's proposals,
//! each in a tight loop on one core with no I/O. The inputs are read once,
//! before the clock starts, from the database `AMBITO_BENCH_DATABASE_URL`
//! names: the owner's login of a database `ambito seed` filled, after the
//! offices ran the campaign through the server (bench/run does both).
//! Prints one line `RESULT {json}` for bench/report.py.
//!
//! `AMBITO_BENCH_DATABASE_URL=postgres://… cargo bench --bench seeded`

mod common;

use common::median;
use diesel::QueryableByName;
use diesel::sql_types::Jsonb;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use ambito::rules::admissions::{Applicant, RoundConfig, compute};
use ambito::rules::mobility::phase::{self, RunInput};

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Jsonb)]
    input: serde_json::Value,
}

/// Every round of 2026/27 as the engine takes it, and the proposals' inputs.
async fn load(url: &str) -> anyhow::Result<(Vec<(RoundConfig, Vec<Applicant>)>, Vec<RunInput>)> {
    let mut c = AsyncPgConnection::establish(url).await?;
    let now = chrono::Utc::now();
    let mut rounds = Vec::new();
    for r in ambito::db::admissions::rounds_of_year(&mut c, 202627).await? {
        let view =
            ambito::usecases::admissions::load_view(&mut c, now, r.id).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        rounds.push((view.config.clone(), view.applicants()));
    }
    let stored: Vec<Stored> =
        diesel::sql_query("SELECT input FROM mobility_runs WHERE state = 'proposal' ORDER BY province_code")
            .load(&mut c)
            .await?;
    let runs = stored.into_iter().map(|s| serde_json::from_value(s.input)).collect::<Result<_, _>>()?;
    Ok((rounds, runs))
}

fn main() -> anyhow::Result<()> {
    let url = std::env::var("AMBITO_BENCH_DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("AMBITO_BENCH_DATABASE_URL names the seeded database (bench/run sets it)"))?;
    let (rounds, runs) = tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(load(&url))?;
    anyhow::ensure!(!rounds.is_empty(), "the database has no admission round of 2026/27: seed it with `ambito seed`");
    let applications: usize = rounds.iter().map(|(_, a)| a.len()).sum();
    let admissions = median(5, || {
        for (config, applicants) in &rounds {
            std::hint::black_box(compute(config, applicants));
        }
    });
    let forms: usize = runs.iter().map(|r| r.candidates.len()).sum();
    let mut assigned = 0;
    let allocation = median(3, || {
        assigned = 0;
        for input in &runs {
            let a = phase::run(input).expect("the checker accepts a stored proposal's input");
            assigned += a.outcomes.iter().filter(|o| o.assigned.is_some() || o.manual.is_some()).count();
            std::hint::black_box(a);
        }
    });
    println!(
        "RESULT {}",
        serde_json::json!({
            "admissions": { "rounds": rounds.len(), "applications": applications, "seconds": admissions.as_secs_f64() },
            "allocation": { "provinces": runs.len(), "forms": forms, "assigned": assigned,
                            "seconds": allocation.as_secs_f64() },
        })
    );
    Ok(())
}
