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

use crate::db::admissions::{self as q, ApplicationRow, NewApplication, RoundFields, RoundRow, StradarioRow};
use crate::rules::admissions::points::{Criterion, CriterionKind, Evidence, Points};
use crate::rules::admissions::round::public_code;
use crate::rules::admissions::seed_commitment;
use crate::rules::admissions::stradario::{self, street_key};
use crate::rules::dice::Dice;
use crate::rules::tax_code::{Sex, encode};

pub const INSTITUTION: &str = "BGIC82100T";
/// The draw seed the head teacher fixed in a public session.
pub const DRAW_SEED: &str = "seduta pubblica del consiglio, demo";

/// A catchment street of the demo: name, first and last number, parity.
type Street = (&'static str, Option<i32>, Option<i32>, &'static str);

/// The demo round's municipality (Alzano Lombardo) and its Belfiore code,
/// where the children were born.
const MUNICIPALITY: &str = "016008";
const BIRTHPLACE: &str = "A246";

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

/// A site of a generated round: code, places, municipality and catchment
/// streets (name, first and last number, parity).
pub struct PlanSite {
    pub code: String,
    pub places: i32,
    pub municipality: String,
    pub streets: Vec<(String, Option<i32>, Option<i32>, &'static str)>,
}

/// A primaria round to generate: the school, its sites, where
/// non-residents come from, how many applications, and the dice's seed.
/// The round's resident municipalities are its sites'.
pub struct Plan {
    pub institution: String,
    pub sites: Vec<PlanSite>,
    pub neighbours: Vec<String>,
    pub applications: u32,
    pub seed: u64,
}

/// A generated round: its row and the applications registered.
pub struct Made {
    pub round: RoundRow,
    pub registered: Vec<ApplicationRow>,
}

/// Loads the demo round as the owner; `now` anchors the dates.
pub async fn load(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> anyhow::Result<i64> {
    let plan = Plan {
        institution: INSTITUTION.into(),
        sites: SITES
            .iter()
            .map(|(code, places, streets)| PlanSite {
                code: (*code).into(),
                places: *places,
                municipality: MUNICIPALITY.into(),
                streets: streets.iter().map(|(s, from, to, parity)| ((*s).into(), *from, *to, *parity)).collect(),
            })
            .collect(),
        neighbours: NEIGHBOURS.iter().map(|n| (*n).to_owned()).collect(),
        applications: 120,
        seed: 202_627,
    };
    let Made { round, registered } = generate(conn, now, &plan).await?;
    let day = |d: i64| now + Duration::days(d);
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

/// Generates a primaria round for 2026/27 as the owner, with an approved
/// points table, the street list, the applications in every situation the
/// demo shows (see the module's doc), and the draw seed fixed after the
/// window closed 30 days before `now`. Nothing is published.
pub async fn generate(conn: &mut AsyncPgConnection, now: DateTime<Utc>, plan: &Plan) -> anyhow::Result<Made> {
    let today = crate::rules::rome::date(now);
    let day = |d: i64| now + Duration::days(d);
    let institution = plan.institution.as_str();
    let table = q::insert_points_table(conn, institution, "primaria", &serde_json::to_value(criteria())?, None).await?;
    q::approve_points_table(conn, table.id, today - Duration::days(120), "14/2025", day(-120)).await?;
    let opens = day(-60);
    let closes = day(-30);
    let mut residents: Vec<String> = plan.sites.iter().map(|s| s.municipality.clone()).collect();
    residents.sort();
    residents.dedup();
    let fields = RoundFields {
        window_opens_at: opens,
        window_closes_at: closes,
        mandatory_born_by: NaiveDate::from_ymd_opt(2020, 12, 31).unwrap(),
        early_born_by: NaiveDate::from_ymd_opt(2021, 4, 30).unwrap(),
        resident_municipalities: residents.clone(),
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
    let round = q::insert_round(conn, institution, "primaria", 202627, &fields).await?;
    let sites: Vec<(String, i32)> = plan.sites.iter().map(|s| (s.code.clone(), s.places)).collect();
    q::replace_sites(conn, &round, &sites, &[]).await?;
    let streets: Vec<(StradarioRow, String)> = plan
        .sites
        .iter()
        .flat_map(|site| {
            site.streets.iter().map(move |(street, from, to, parity)| {
                let row = StradarioRow {
                    street: street.clone(),
                    from_number: *from,
                    to_number: *to,
                    parity: (*parity).into(),
                    site_code: site.code.clone(),
                };
                (row, street_key(street))
            })
        })
        .collect();
    q::replace_stradario(conn, &round, &streets).await?;
    let rows: Vec<StradarioRow> = streets.iter().map(|(r, _)| r.clone()).collect();
    let entries = crate::usecases::admissions::entries_of(&rows);
    let n_sites = plan.sites.len();
    let on_time = plan.applications - plan.applications / 15;

    let mut dice = Dice(plan.seed);
    let mut registered = Vec::new();
    for n in 0..plan.applications {
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
            0 | 1 => (
                plan.neighbours[dice.next(plan.neighbours.len())].clone(),
                "Via Garibaldi".to_owned(),
                (1 + dice.next(60)).to_string(),
            ),
            // A street the list does not have: the school resolves it by hand.
            2 if n % 20 == 2 => (residents[0].clone(), "Via dei Caduti".to_owned(), (1 + dice.next(30)).to_string()),
            _ => {
                let site = &plan.sites[dice.next(n_sites)];
                let (street, ..) = &site.streets[dice.next(site.streets.len())];
                (
                    site.municipality.clone(),
                    street.clone(),
                    format!("{}{}", 1 + dice.next(90), if n % 7 == 0 { "/A" } else { "" }),
                )
            }
        };
        let (catchment, resolution) = match residents.contains(&municipality) {
            false => (None, "not_resident"),
            true => match stradario::catchment(&entries, &street, &number) {
                Some(site) => (Some(site.to_owned()), "stradario"),
                None => (None, "unresolved"),
            },
        };
        let first = match (&catchment, dice.next(5)) {
            (Some(site), 0..=2) => site.clone(),
            _ => plan.sites[dice.next(n_sites)].code.clone(),
        };
        let mut preferences = vec![first.clone()];
        if dice.next(2) == 0 {
            preferences.extend(plan.sites.iter().map(|s| s.code.clone()).filter(|s| *s != first).take(1));
        }
        let models: Vec<String> = match dice.next(4) {
            0 => vec!["40H".into(), "30H".into()],
            1 => vec!["40H".into()],
            2 => vec!["30H".into(), "27H".into()],
            _ => vec!["27H".into()],
        };
        // Late: the last 1 in 15, after the window; disabled: every 25th.
        let late = n >= on_time;
        let submitted = match late {
            true => closes + Duration::days(1 + (n - on_time) as i64),
            false => opens + Duration::minutes(60 + (n as i64 * 300 * 120 / i64::from(plan.applications))),
        };
        let disabled = n % 25 == 3 || n == on_time + 3;
        let random: [u8; 5] = std::array::from_fn(|_| dice.next(256) as u8);
        let new = NewApplication {
            round_id: round.id,
            institution_code: institution.into(),
            province_code: String::new(),
            external_ref: match late {
                true => format!("PROT-{:04}", 900 + n),
                false => format!("RM{:08}", 26_000_000 + n * 37),
            },
            public_code: public_code(random),
            first_name: name.into(),
            last_name: surname.into(),
            tax_code: encode(surname, name, birth, sex, BIRTHPLACE),
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
            let site = plan.sites[dice.next(n_sites)].code.as_str();
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
    Ok(Made { round, registered })
}
