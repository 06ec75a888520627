//! Synthetic registry data for the demo: classes, pupils with disabilities
//! and support-hour requests for a few state institutions of each demo
//! province, and a collection window open for the current school year.
//!
//! Every pupil is invented: names from a list, birth dates that fit the
//! class, tax codes computed from them (so they validate), certifications
//! and requests that obey the seed's rule. A pseudo-random generator with a
//! fixed seed makes every demo database the same.

use chrono::{Datelike, Days, NaiveDate};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::registry::{ClassFields, PROCESS};
use crate::db::schema::{
    classes, collection_windows, institutions, municipalities, pupils, sites, support_approvals, support_requests,
    support_submissions,
};
use crate::rules::classes::{time_model_hours, years_of_study};
use crate::rules::order::SchoolOrder;
use crate::rules::school_year::SchoolYear;
use crate::rules::support::{self, Ratio, Severity};
use crate::rules::tax_code::{self, Sex};

pub(crate) const SURNAMES: &[&str] = &[
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
    "Barbieri",
    "Fontana",
    "Santoro",
    "Mariani",
    "Rinaldi",
    "Caruso",
    "Ferrara",
    "Galli",
    "Martini",
    "Leone",
    "Longo",
    "Gentile",
    "Martinelli",
    "Vitale",
    "Lombardo",
    "Serra",
    "Coppola",
    "De Santis",
    "Marchetti",
    "Pellegrini",
];
pub(crate) const GIRLS: &[&str] = &[
    "Sofia", "Giulia", "Aurora", "Alice", "Ginevra", "Emma", "Giorgia", "Greta", "Beatrice", "Anna", "Vittoria",
    "Chiara", "Ludovica", "Matilde", "Martina", "Nicole", "Sara", "Noemi", "Elisa", "Bianca",
];
pub(crate) const BOYS: &[&str] = &[
    "Leonardo",
    "Francesco",
    "Alessandro",
    "Lorenzo",
    "Mattia",
    "Andrea",
    "Gabriele",
    "Riccardo",
    "Tommaso",
    "Edoardo",
    "Matteo",
    "Giuseppe",
    "Nicolo",
    "Antonio",
    "Federico",
    "Diego",
    "Davide",
    "Christian",
    "Pietro",
    "Samuele",
];
const BODIES: &[&str] = &[
    "Commissione medica INPS - ASST Bergamo Est",
    "Commissione medica INPS - ASST Papa Giovanni XXIII",
    "Commissione medica INPS - ASST Fatebenefratelli Sacco",
    "Commissione medica INPS - ASST Ovest Milanese",
];

/// A small linear congruential generator: deterministic, good enough for names.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Institutions that get registry data: the demo accounts' schools and the
/// first few comprehensive institutes of each province.
async fn demo_schools(conn: &mut AsyncPgConnection, also: &[String]) -> QueryResult<Vec<String>> {
    let mut out: Vec<String> = also.to_vec();
    for province in ["BG", "MI"] {
        let more: Vec<String> = institutions::table
            .filter(institutions::province_code.eq(province))
            .filter(institutions::kind.eq("state"))
            .filter(institutions::code.like(format!("{province}IC%")))
            .order(institutions::code)
            .limit(4)
            .select(institutions::code)
            .load(conn)
            .await?;
        out.extend(more);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Loads the registry data. `schools` are the demo accounts' schools; the
/// second of them has submitted its request and the office approved part of it.
pub async fn load(conn: &mut AsyncPgConnection, schools: &[String], today: NaiveDate) -> anyhow::Result<()> {
    let year = SchoolYear::of(today);
    for province in ["BG", "MI"] {
        diesel::insert_into(collection_windows::table)
            .values((
                collection_windows::province_code.eq(province),
                collection_windows::process.eq(PROCESS),
                collection_windows::school_year.eq(year.stored()),
                collection_windows::opens_on.eq(today - Days::new(7)),
                collection_windows::closes_on.eq(today + Days::new(60)),
                collection_windows::updated_by.eq(0),
            ))
            .execute(conn)
            .await?;
    }
    let mut rng = Lcg(0x5eed_0000_0001);
    for institution in demo_schools(conn, schools).await? {
        let site_rows: Vec<(String, Option<String>, String)> = sites::table
            .inner_join(municipalities::table.on(municipalities::istat_code.eq(sites::municipality_istat)))
            .filter(sites::institution_code.eq(&institution))
            .order(sites::code)
            .select((sites::code, sites::school_order, municipalities::belfiore_code))
            .load(conn)
            .await?;
        let mut placed: Vec<(i64, SchoolOrder, i32, String)> = Vec::new();
        for (site, order, belfiore) in site_rows {
            let Some(order) = order.and_then(|o| o.parse::<SchoolOrder>().ok()) else { continue };
            let (Some(years), Some(hours)) = (years_of_study(order), time_model_hours(order)) else { continue };
            for y in years.clone().take(5) {
                let class = ClassFields {
                    school_year: year.stored(),
                    institution_code: institution.clone(),
                    site_code: site.clone(),
                    school_order: order.as_str().into(),
                    year_of_study: y,
                    section: "A".into(),
                    pupils: 17 + rng.below(9) as i32,
                    time_model_hours: if rng.below(2) == 0 { *hours.start() } else { (*hours.end()).min(40) },
                };
                let id: i64 =
                    diesel::insert_into(classes::table).values(&class).returning(classes::id).get_result(conn).await?;
                placed.push((id, order, y, belfiore.clone()));
            }
        }
        if placed.is_empty() {
            continue;
        }
        let count = 6 + rng.below(5);
        for _ in 0..count {
            let (class_id, order, year_of_study, belfiore) = placed[rng.below(placed.len())].clone();
            pupil(conn, &mut rng, year, &institution, class_id, order, year_of_study, &belfiore).await?;
        }
    }
    if let Some(submitted) = schools.get(1) {
        diesel::insert_into(support_submissions::table)
            .values((
                support_submissions::institution_code.eq(submitted),
                support_submissions::school_year.eq(year.stored()),
                support_submissions::state.eq("submitted"),
                support_submissions::submitted_by.eq(0),
            ))
            .execute(conn)
            .await?;
        let requests: Vec<(i64, i32)> = support_requests::table
            .filter(support_requests::institution_code.eq(submitted))
            .order(support_requests::pupil_id)
            .select((support_requests::pupil_id, support_requests::hours))
            .load(conn)
            .await?;
        for (pupil_id, hours) in requests.iter().take(requests.len() / 2) {
            diesel::insert_into(support_approvals::table)
                .values((
                    support_approvals::pupil_id.eq(pupil_id),
                    support_approvals::institution_code.eq(submitted),
                    support_approvals::hours.eq((hours - 2).max(0)),
                    support_approvals::approved_by.eq(0),
                ))
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn pupil(
    conn: &mut AsyncPgConnection,
    rng: &mut Lcg,
    year: SchoolYear,
    institution: &str,
    class_id: i64,
    order: SchoolOrder,
    year_of_study: i32,
    birthplace: &str,
) -> anyhow::Result<()> {
    let sex = if rng.below(5) < 3 { Sex::M } else { Sex::F };
    let first = rng.pick(if sex == Sex::F { GIRLS } else { BOYS });
    let last = rng.pick(SURNAMES);
    let age = match order {
        SchoolOrder::Infanzia => 3,
        SchoolOrder::Primaria => 6,
        SchoolOrder::SecondariaPrimoGrado => 11,
        _ => 14,
    } + year_of_study
        - 1;
    let born_in = year.start_year() - age - 1;
    let birth = NaiveDate::from_ymd_opt(born_in, 1, 1).expect("1 January") + Days::new(rng.below(365) as u64);
    let severity = if rng.below(20) < 11 { Severity::C3 } else { Severity::C1 };
    let certified_on = NaiveDate::from_ymd_opt(birth.year() + 2 + rng.below(age.max(3) as usize - 2) as i32, 3, 1)
        .expect("1 March")
        + Days::new(rng.below(200) as u64);
    let certified_on = certified_on.min(year.first_day() - Days::new(30));
    let revision_on = (rng.below(3) == 0).then(|| certified_on + Days::new(3 * 365));
    let code = tax_code::encode(last, first, birth, sex, birthplace);
    let id: i64 = diesel::insert_into(pupils::table)
        .values((
            pupils::school_year.eq(year.stored()),
            pupils::institution_code.eq(institution),
            pupils::class_id.eq(class_id),
            pupils::first_name.eq(first),
            pupils::last_name.eq(last),
            pupils::tax_code.eq(&code),
            pupils::birth_date.eq(birth),
            pupils::sex.eq(if sex == Sex::F { "F" } else { "M" }),
            pupils::severity.eq(severity.as_str()),
            pupils::certified_on.eq(certified_on),
            pupils::revision_on.eq(revision_on),
            pupils::certified_by.eq(rng.pick(BODIES)),
        ))
        .on_conflict_do_nothing()
        .returning(pupils::id)
        .get_result(conn)
        .await
        .optional()?
        .unwrap_or_default();
    if id == 0 {
        // Two invented pupils with the same code: keep the first.
        return Ok(());
    }
    let ratio =
        if severity == Severity::C3 || rng.below(2) == 0 { Ratio::ONE_TO_ONE } else { Ratio::pupils(2).expect("1:2") };
    let max = support::max_hours(order).unwrap_or(18);
    let wanted =
        (severity == Severity::C1 || ratio != Ratio::ONE_TO_ONE).then(|| 6 + rng.below((max - 5) as usize) as i32);
    let hours = support::requested_hours(order, severity, ratio, wanted).map_err(|e| anyhow::anyhow!(e.reason))?;
    diesel::insert_into(support_requests::table)
        .values((
            support_requests::pupil_id.eq(id),
            support_requests::institution_code.eq(institution),
            support_requests::ratio.eq(ratio.pupils_per_teacher()),
            support_requests::hours.eq(hours),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
