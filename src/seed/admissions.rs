//! Process 3 at benchmark scale for `ambito seed` (issue 23): a primaria
//! round for 2026/27 at every state institution of Bergamo with primaria
//! sites, made as the demo's round is (`demo::admissions::generate`), with
//! about 40 applications per site. The same seed gives the same rounds.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::demo::admissions::{Plan, PlanSite, generate};
use crate::rules::dice::Dice;

/// The province whose rounds are generated, at either scale: the row of
/// BENCHMARKS.md is "a province's rounds".
pub const PROVINCE: &str = "BG";

#[derive(QueryableByName)]
struct SiteRow {
    #[diesel(sql_type = Text)]
    institution: String,
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Text)]
    municipality: String,
}

/// Catchment streets of a site: three names, the first split by parity.
const STREETS: [&str; 3] = ["Via del Plesso", "Piazza del Plesso", "Vicolo del Plesso"];

/// Generates the rounds, anchored on `now`; answers how many applications
/// were registered.
pub(super) async fn rounds(
    conn: &mut AsyncPgConnection,
    seed: u64,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let sites: Vec<SiteRow> = diesel::sql_query(
        "SELECT s.institution_code AS institution, s.code, s.municipality_istat AS municipality
         FROM sites s
         JOIN institutions i ON i.code = s.institution_code AND i.kind = 'state'
         WHERE s.school_order = 'primaria' AND s.province_code = $1 ORDER BY 1, 2",
    )
    .bind::<Text, _>(PROVINCE)
    .load(conn)
    .await?;
    let mut towns: Vec<&str> = sites.iter().map(|s| s.municipality.as_str()).collect();
    towns.sort_unstable();
    towns.dedup();
    let mut dice = Dice(seed ^ 0x0061_646d_6973_7369);
    let (mut rounds, mut applications) = (0i64, 0i64);
    for group in sites.chunk_by(|a, b| a.institution == b.institution) {
        let plan_sites: Vec<PlanSite> = group
            .iter()
            .enumerate()
            .map(|(j, s)| PlanSite {
                code: s.code.clone(),
                places: 25 + dice.next(11) as i32,
                municipality: s.municipality.clone(),
                streets: vec![
                    (format!("{} {}", STREETS[0], j + 1), Some(1), Some(199), "odd"),
                    (format!("{} {}", STREETS[1], j + 1), None, None, "all"),
                    (format!("{} {}", STREETS[2], j + 1), None, None, "all"),
                ],
            })
            .collect();
        // Non-residents come from three towns of the province without a site of the round.
        // A bounded number of draws: a province of one town has none to give.
        let mut neighbours: Vec<String> = Vec::new();
        for _ in 0..100 {
            if neighbours.len() == 3 {
                break;
            }
            let t = towns[dice.next(towns.len())];
            if !group.iter().any(|s| s.municipality == t) && !neighbours.iter().any(|n| n == t) {
                neighbours.push(t.to_owned());
            }
        }
        anyhow::ensure!(!neighbours.is_empty(), "{PROVINCE} has no town without a site of {}", group[0].institution);
        let plan = Plan {
            institution: group[0].institution.clone(),
            applications: 40 * plan_sites.len() as u32,
            sites: plan_sites,
            neighbours,
            seed: seed ^ (rounds as u64 + 1),
        };
        let made = generate(conn, now, &plan).await?;
        rounds += 1;
        applications += made.registered.len() as i64;
    }
    Ok(vec![("admission_rounds", rounds), ("admission_applications", applications)])
}
