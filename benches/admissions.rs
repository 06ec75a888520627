//! The admission engine's speed (issue 19): one round of 1,000 applications
//! over 5 sites and 3 time models, and a province's 1,000 rounds the size of
//! the seed's (about 120 applications over 3 sites), each on one core.
//! Beside each, the physical reference: the same applications only sorted by
//! their key, with no assignment, waiting list or class formation.
//!
//! `cargo bench --bench admissions`. Prints a Markdown table.

use std::collections::BTreeMap;
mod common;

use common::median;

use ambito::rules::admissions::{Applicant, Assessment, Points, Prepared, RoundConfig, SiteConfig, Status, compute};
use ambito::rules::dice::Dice;
use chrono::{NaiveDate, TimeZone, Utc};

fn round(d: &mut Dice, sites: usize, places: u32, n: usize) -> (RoundConfig, Vec<Applicant>) {
    let codes: Vec<String> = (0..sites).map(|i| format!("BGEE8210{i}X")).collect();
    let models = vec!["27H".to_string(), "30H".into(), "40H".into()];
    let config = RoundConfig {
        sites: codes.iter().map(|c| SiteConfig { code: c.clone(), places, models: vec![] }).collect(),
        window_opens_at: Utc.with_ymd_and_hms(2026, 1, 4, 0, 0, 0).unwrap(),
        window_closes_at: Utc.with_ymd_and_hms(2026, 1, 25, 22, 59, 59).unwrap(),
        resident_municipalities: vec!["016008".into()],
        time_models: models.clone(),
        default_time_model: "27H".into(),
        min_pupils_per_time_model: 15,
        caps: BTreeMap::new(),
        redistribute_beyond_preferences: true,
        draw_seed: Some("seduta pubblica".into()),
    };
    let apps = (0..n as i64)
        .map(|id| {
            let mut prefs = codes.clone();
            for i in (1..prefs.len()).rev() {
                prefs.swap(i, d.next(i + 1));
            }
            prefs.truncate(1 + d.next(prefs.len()));
            let mut m = models.clone();
            for i in (1..m.len()).rev() {
                m.swap(i, d.next(i + 1));
            }
            m.truncate(1 + d.next(3));
            let resident = d.next(5) > 0;
            Applicant {
                id,
                external_ref: format!("PORTALE-{id:06}"),
                submitted_at: Utc.with_ymd_and_hms(2026, 1, 10, 9, 0, 0).unwrap()
                    + chrono::Duration::hours(if d.next(15) == 0 { 600 } else { 0 }),
                birth_date: NaiveDate::from_ymd_opt(2020, 1 + d.next(12) as u32, 1 + d.next(28) as u32).unwrap(),
                municipality: if resident { "016008".into() } else { "016024".into() },
                catchment_site: resident.then(|| codes[d.next(codes.len())].clone()),
                site_preferences: prefs,
                time_model_preferences: m,
                disability_verified: d.next(30) == 0,
                points: Points(100 * d.next(20) as i64),
                status: Status::Active,
                assessment: Assessment::Pending,
            }
        })
        .collect();
    (config, apps)
}

fn sort_only(config: &RoundConfig, apps: &[Applicant]) -> usize {
    let p = Prepared::new(config, apps);
    let mut keys: Vec<_> = p.on_time().map(|a| p.key(a, &a.site_preferences[0])).collect();
    keys.sort();
    keys.len()
}

fn main() {
    let mut d = Dice(2026);
    let (big_config, big) = round(&mut d, 5, 170, 1000);
    let big_engine = median(21, || {
        std::hint::black_box(compute(&big_config, &big));
    });
    let big_sort = median(21, || {
        std::hint::black_box(sort_only(&big_config, &big));
    });
    let province: Vec<(RoundConfig, Vec<Applicant>)> = (0..1000).map(|_| round(&mut d, 3, 40, 120)).collect();
    let all_engine = median(3, || {
        for (c, a) in &province {
            std::hint::black_box(compute(c, a));
        }
    });
    let all_sort = median(3, || {
        for (c, a) in &province {
            std::hint::black_box(sort_only(c, a));
        }
    });
    println!("| workload | engine | sort only (reference) | target |");
    println!("|---|---:|---:|---:|");
    println!(
        "| one round: 1,000 applications, 5 sites, 3 models | {:.1} ms | {:.2} ms | 50 ms |",
        big_engine.as_secs_f64() * 1e3,
        big_sort.as_secs_f64() * 1e3
    );
    println!(
        "| a province: 1,000 rounds of 120 applications, 3 sites | {:.2} s | {:.3} s | 10 s |",
        all_engine.as_secs_f64(),
        all_sort.as_secs_f64()
    );
}
