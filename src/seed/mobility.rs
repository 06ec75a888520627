//! A process-4 campaign at benchmark scale for `ambito seed` (issue 21):
//! primaria teachers holding posts at real state sites, each with a
//! provincial AP form of 20 preferences (schools, municipalities and the
//! province) submitted through the real rules, and the free posts of every
//! province. The same seed gives the same campaign.

use chrono::{NaiveDate, TimeZone, Utc};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use crate::db::mobility::{self as q, VacancyRow};
use crate::demo::mobility::{SiteRow, spouse_ap, teacher_row};
use crate::demo::registry::{GIRLS, SURNAMES};
use crate::rules::dice::Dice;
use crate::rules::mobility::Order;
use crate::rules::mobility::application::{PostType, PrefKind, Preference};
use crate::rules::mobility::windows::Windows;
use crate::usecases::mobility::demo_form;

/// Preferences on each form: the spec's maximum.
const PREFERENCES: usize = 20;

/// The campaign of `year` with `forms` submitted forms and `posts` free
/// posts over about a fifth as many lines; answers what it made.
pub(super) async fn campaign(
    conn: &mut AsyncPgConnection,
    seed: u64,
    year: i32,
    forms: usize,
    posts: usize,
) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let day = |m, d| NaiveDate::from_ymd_opt(year, m, d).expect("a date of the campaign");
    let mut windows = Windows::default_for(year);
    windows.primaria.opens = Some(day(7, 29));
    q::insert_campaign(conn, year, &serde_json::to_value(&windows)?).await?;
    let sites: Vec<SiteRow> = diesel::sql_query(
        "SELECT s.code, s.province_code AS province, s.municipality_istat AS municipality, s.school_order
         FROM sites s
         JOIN institutions i ON i.code = s.institution_code AND i.kind = 'state'
         WHERE s.school_order = 'primaria' ORDER BY s.province_code, s.code",
    )
    .load(conn)
    .await?;
    anyhow::ensure!(!sites.is_empty(), "the territory has no state primaria site");
    // Each province's sites, as a range of `sites`.
    let mut provinces: Vec<(usize, usize)> = Vec::new();
    for (i, s) in sites.iter().enumerate() {
        match provinces.last_mut() {
            Some(p) if sites[p.0].province == s.province => p.1 = i + 1,
            _ => provinces.push((i, i + 1)),
        }
    }
    let mut dice = Dice(seed ^ 0x6d6f_6269_6c69_7479);
    let (submitted_on, at) = (day(8, 5), Utc.from_utc_datetime(&day(8, 5).and_hms_opt(9, 30, 0).expect("a time")));
    let mut made = 0i64;
    let mut taken = std::collections::HashSet::new();
    for i in 0..forms {
        let h = dice.next(sites.len());
        let (from, to) = provinces.iter().copied().find(|(a, b)| (*a..*b).contains(&h)).unwrap_or((0, sites.len()));
        // teacher_row varies the birth date with a period of 2,100: the
        // names vary past it. Two surnames can share their three letters of
        // the tax code (Rossi, Russo): the next name is taken until the tax
        // code is new, or the second form would be the same teacher's.
        let surname = SURNAMES[i / 2_100 % SURNAMES.len()];
        let mut k = i / 2_100 / SURNAMES.len();
        let mut row = loop {
            let row = teacher_row(
                i,
                format!("docente{:06}@bench.invalid", i + 1),
                &sites[h],
                surname,
                GIRLS[k % GIRLS.len()],
            );
            if taken.insert(row.tax_code.clone()) {
                break row;
            }
            k += 1;
        };
        // Common posts only: a support post needs a title the forms do not carry (POST-5).
        (row.post_type, row.support_titles, row.support_constraint_satisfied) = ("NN".into(), json!([]), false);
        let Some(row) = q::upsert_teacher(conn, &row).await? else { continue };
        // A school in the municipality of reunion, then that municipality's
        // code, so every later preference counts too (PREF-3a); then
        // schools, municipalities and the province, each once.
        // COM-1: no school or municipality of the town the post is held in.
        let held = sites[h].municipality.as_str();
        let mut pick = || {
            let mut s = &sites[from + dice.next(to - from)];
            for _ in 0..50 {
                if s.municipality != held {
                    break;
                }
                s = &sites[from + dice.next(to - from)];
            }
            s
        };
        let first = pick();
        let mut preferences = vec![
            Preference { kind: PrefKind::School, code: first.code.clone() },
            Preference { kind: PrefKind::Municipality, code: first.municipality.clone() },
        ];
        for k in 2..PREFERENCES {
            for _ in 0..50 {
                let s = pick();
                let p = match k {
                    19 => Preference { kind: PrefKind::Province, code: s.province.clone() },
                    _ if k % 4 == 3 => Preference { kind: PrefKind::Municipality, code: s.municipality.clone() },
                    _ => Preference { kind: PrefKind::School, code: s.code.clone() },
                };
                if !preferences.contains(&p) {
                    preferences.push(p);
                    break;
                }
            }
        }
        let input = spouse_ap(year, Order::Primaria, PostType::Nn, &first.municipality, preferences);
        let done =
            demo_form(conn, &row, input, submitted_on, at, true, false).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        made += i64::from(done.is_some_and(|d| d.state == "submitted"));
    }
    // The free posts: lines of 1 to 9 posts at sites drawn from the forms' territory.
    let mut left = posts;
    let mut lines = 0i64;
    while left > 0 {
        let s = &sites[dice.next(sites.len())];
        let count = (1 + dice.next(9)).min(left);
        let line = VacancyRow {
            campaign_year: year,
            school_code: s.code.clone(),
            province_code: s.province.clone(),
            post_type: "NN".into(),
            class_code: String::new(),
            chair_kind: "internal".into(),
            count: count as i32,
            hours: 0,
        };
        // A site drawn twice keeps the larger count; the total stays close.
        if q::vacancy_count(conn, &line).await?.is_none() {
            q::set_vacancy(conn, &line).await?;
            left -= count;
            lines += 1;
        }
    }
    Ok(vec![("mobility_applications", made), ("mobility_vacancies", lines)])
}
