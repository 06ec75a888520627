//! Demo data of process 3: IC Alzano Lombardo's (`BGIC82100T`) primaria
//! round for 2026/27 over its three sites, with an approved points table,
//! the street list of the three catchments and about 120 applications in
//! every situation (disabled, each catchment, residents elsewhere in town,
//! non-residents, late, early, a complaint, a nulla osta), and the
//! provisional ranking published three days ago, so complaints are open.
//! Dates are anchored on today; the draw and the children come from a fixed
//! seed, so every demo database holds the same round.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;

use crate::db::admissions::{self as q, NewApplication, RoundFields, StradarioRow};
use crate::rules::admissions::points::{Criterion, CriterionKind, Evidence, Points};
use crate::rules::admissions::round::public_code;
use crate::rules::admissions::seed_commitment;
use crate::rules::admissions::stradario::{self, street_key};
use crate::rules::dice::Dice;
use crate::rules::tax_code::{Sex, encode};

pub const INSTITUTION: &str = "BGIC82100T";
/// The draw seed the head teacher fixed in a public session.
pub const DRAW_SEED: &str = "seduta pubblica del consiglio, demo";

/// A catchment street: name, first and last number, parity.
type Street = (&'static str, Option<i32>, Option<i32>, &'static str);

/// The three primaria sites with their places and their catchment streets.
const SITES: [(&str, i32, &[Street]); 3] = [
    (
        "BGEE82101X",
        40,
        &[
            ("Via Roma", Some(1), Some(99), "odd"),
            ("Piazza Italia", None, None, "all"),
            ("Via Mazzini", None, None, "all"),
        ],
    ),
    (
        "BGEE821021",
        30,
        &[
            ("Via Roma", Some(2), Some(98), "even"),
            ("Via Nese", None, None, "all"),
            ("Via Monte di Nese", None, None, "all"),
        ],
    ),
    ("BGEE821032", 20, &[("Via Olera", None, None, "all"), ("Via Busa", None, None, "all")]),
];

/// Neighbouring municipalities: non-residents come from there.
const NEIGHBOURS: [&str; 3] = ["016144", "016178", "016240"];

const NAMES: [(&str, Sex); 12] = [
    ("GIULIA", Sex::F),
    ("SOFIA", Sex::F),
    ("AURORA", Sex::F),
    ("GINEVRA", Sex::F),
    ("ALICE", Sex::F),
    ("EMMA", Sex::F),
    ("LEONARDO", Sex::M),
    ("FRANCESCO", Sex::M),
    ("TOMMASO", Sex::M),
    ("EDOARDO", Sex::M),
    ("MATTIA", Sex::M),
    ("RICCARDO", Sex::M),
];
const SURNAMES: [&str; 12] = [
    "ROTA",
    "PESENTI",
    "CARRARA",
    "LOCATELLI",
    "MAZZOLENI",
    "GHISLENI",
    "BONETTI",
    "FORESTI",
    "ZANCHI",
    "BREMBILLA",
    "MORETTI",
    "CORTINOVIS",
];

fn criteria() -> Vec<Criterion> {
    let c = |code: &str, label: &str, kind, points: i64, max_units, evidence, health_related| Criterion {
        code: code.into(),
        label: label.into(),
        kind,
        points: Points(points),
        max_units,
        evidence,
        health_related,
    };
    vec![
        c("lavoro", "Entrambi i genitori lavorano", CriterionKind::Flag, 500, 0, Evidence::SelfDeclaration, false),
        c("fratelli", "Fratelli nello stesso plesso", CriterionKind::Count, 150, 2, Evidence::SelfDeclaration, false),
        c("monogenitore", "Nucleo monogenitoriale", CriterionKind::Flag, 400, 0, Evidence::Document, false),
        c("invalidita", "Genitore con invalidità", CriterionKind::Flag, 1000, 0, Evidence::Document, true),
    ]
}

/// Loads the round as the owner; `now` anchors the dates.
pub async fn load(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> anyhow::Result<i64> {
    let today = crate::rules::rome::date(now);
    let day = |d: i64| now + Duration::days(d);
    let table = q::insert_points_table(conn, INSTITUTION, "primaria", &serde_json::to_value(criteria())?, None).await?;
    q::approve_points_table(conn, table.id, today - Duration::days(120), "14/2025", day(-120)).await?;
    let opens = day(-60);
    let closes = day(-30);
    let fields = RoundFields {
        window_opens_at: opens,
        window_closes_at: closes,
        mandatory_born_by: NaiveDate::from_ymd_opt(2020, 12, 31).unwrap(),
        early_born_by: NaiveDate::from_ymd_opt(2021, 4, 30).unwrap(),
        resident_municipalities: vec!["016008".into()],
        points_table_id: table.id,
        time_models: json!([{ "code": "27H", "hours": 27 }, { "code": "30H", "hours": 30 }, { "code": "40H", "hours": 40 }]),
        default_time_model: "27H".into(),
        min_pupils_per_time_model: 15,
        redistribute_beyond_preferences: true,
        provisional_due_on: today,
        final_due_on: today + Duration::days(20),
        waiting_list_closes_at: day(270),
        enrolment_documents_due_on: Some(today + Duration::days(180)),
        draw_seed_hash: Some(seed_commitment(DRAW_SEED)),
    };
    let round = q::insert_round(conn, INSTITUTION, "primaria", 202627, &fields).await?;
    let sites: Vec<(String, i32)> = SITES.iter().map(|(s, p, _)| ((*s).to_owned(), *p)).collect();
    q::replace_sites(conn, &round, &sites, &[]).await?;
    let streets: Vec<(StradarioRow, String)> = SITES
        .iter()
        .flat_map(|(site, _, streets)| {
            streets.iter().map(move |(street, from, to, parity)| {
                let row = StradarioRow {
                    street: (*street).into(),
                    from_number: *from,
                    to_number: *to,
                    parity: (*parity).into(),
                    site_code: (*site).into(),
                };
                (row, street_key(street))
            })
        })
        .collect();
    q::replace_stradario(conn, &round, &streets).await?;
    let rows: Vec<StradarioRow> = streets.iter().map(|(r, _)| r.clone()).collect();
    let entries = crate::usecases::admissions::entries_of(&rows);

    let mut dice = Dice(202_627);
    let mut registered = Vec::new();
    for n in 0..120u32 {
        let (name, sex) = NAMES[dice.next(NAMES.len())];
        let surname = SURNAMES[dice.next(SURNAMES.len())];
        // Ages: most of mandatory age, a few early (anticipatari).
        let birth = match n % 15 {
            0 => NaiveDate::from_ymd_opt(2021, 1 + dice.next(4) as u32, 1 + dice.next(28) as u32).unwrap(),
            _ => NaiveDate::from_ymd_opt(2020, 1 + dice.next(12) as u32, 1 + dice.next(28) as u32).unwrap(),
        };
        // Residence: every catchment, residents whose street is not listed
        // (resolved by hand), and non-residents.
        let (municipality, street, number) = match n % 10 {
            0 | 1 => (NEIGHBOURS[dice.next(3)].to_owned(), "Via Garibaldi".to_owned(), (1 + dice.next(60)).to_string()),
            // A street the list does not have: the school resolves it by hand.
            2 if n % 20 == 2 => ("016008".to_owned(), "Via dei Caduti".to_owned(), (1 + dice.next(30)).to_string()),
            _ => {
                let (_, _, list) = SITES[dice.next(3)];
                let (street, ..) = list[dice.next(list.len())];
                (
                    "016008".to_owned(),
                    street.to_owned(),
                    format!("{}{}", 1 + dice.next(90), if n % 7 == 0 { "/A" } else { "" }),
                )
            }
        };
        let (catchment, resolution) = match municipality == "016008" {
            false => (None, "not_resident"),
            true => match stradario::catchment(&entries, &street, &number) {
                Some(site) => (Some(site.to_owned()), "stradario"),
                None => (None, "unresolved"),
            },
        };
        let first = match (&catchment, dice.next(5)) {
            (Some(site), 0..=2) => site.clone(),
            _ => SITES[dice.next(3)].0.to_owned(),
        };
        let mut preferences = vec![first.clone()];
        if dice.next(2) == 0 {
            preferences.extend(SITES.iter().map(|(s, ..)| (*s).to_owned()).filter(|s| *s != first).take(1));
        }
        let models: Vec<String> = match dice.next(4) {
            0 => vec!["40H".into(), "30H".into()],
            1 => vec!["40H".into()],
            2 => vec!["30H".into(), "27H".into()],
            _ => vec!["27H".into()],
        };
        // Late: the last eight, after the window; disabled: every 25th.
        let late = n >= 112;
        let submitted = match late {
            true => closes + Duration::days(1 + (n - 112) as i64),
            false => opens + Duration::hours(1 + (n as i64 * 5)),
        };
        let disabled = n % 25 == 3 || n == 115;
        let random: [u8; 5] = std::array::from_fn(|_| dice.next(256) as u8);
        let new = NewApplication {
            round_id: round.id,
            institution_code: INSTITUTION.into(),
            province_code: String::new(),
            external_ref: match late {
                true => format!("PROT-{:04}", 900 + n),
                false => format!("RM{:08}", 26_000_000 + n * 37),
            },
            public_code: public_code(random),
            first_name: name.into(),
            last_name: surname.into(),
            tax_code: encode(surname, name, birth, sex, "A246"),
            birth_date: birth,
            sex: if sex == Sex::F { "F".into() } else { "M".into() },
            residence_municipality: municipality,
            street: Some(street),
            house_number: Some(number),
            catchment_site: catchment,
            catchment_resolution: resolution.into(),
            submitted_at: submitted,
            site_preferences: preferences,
            time_model_preferences: models,
            disability_declared: disabled,
            disability_certified_on: disabled.then(|| (submitted - Duration::days(200)).date_naive()),
        };
        let Some(app) =
            crate::db::unless_taken(conn, move |c| Box::pin(async move { q::insert_application(c, &new).await }))
                .await?
                .ok()
        else {
            // Two children drew the same name and birth date: the second is left out.
            continue;
        };
        let mut claims = Vec::new();
        if dice.next(2) == 0 {
            claims.push(("lavoro".to_owned(), 1));
        }
        if dice.next(4) == 0 {
            claims.push(("fratelli".to_owned(), 1 + dice.next(2) as i32));
        }
        if dice.next(10) == 0 {
            claims.push(("monogenitore".to_owned(), 1));
        }
        q::insert_claims(conn, &app, &claims).await?;
        if disabled {
            q::verify_disability(conn, app.id).await?;
        }
        if app.catchment_resolution == "unresolved" {
            let site = SITES[dice.next(3)].0;
            q::set_catchment(
                conn,
                app.id,
                Some(site),
                "manual",
                Some("via non presente nello stradario: verificata la frazione"),
            )
            .await?;
        }
        registered.push(app);
    }
    q::set_draw_seed(conn, round.id, DRAW_SEED, closes + Duration::days(2)).await?;
    let published_at = day(-3);
    q::publish(conn, round.id, published_at).await?;
    let view =
        crate::usecases::admissions::load_view(conn, now, round.id).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    crate::usecases::admissions::write_snapshot(conn, &view, "provisional", published_at)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    // A family complains about its points; another asks for a nulla osta.
    let waiting = view.outcome.waiting.first().map(|w| w.id);
    if let Some(app) = registered.iter().find(|a| Some(a.id) == waiting) {
        q::insert_complaint(
            conn,
            app,
            day(-1),
            "Entrambi i genitori lavorano: allego le dichiarazioni dei datori di lavoro.",
        )
        .await?;
    }
    if let Some(app) = registered.iter().find(|a| view.outcome.admitted.contains_key(&a.id)) {
        q::insert_nulla_osta(conn, app, day(-1), "Trasferimento della famiglia a Bergamo.", "BGIC81400A").await?;
    }
    Ok(round.id)
}
