//! Demo data of process 2: a few hundred refugee minors' requests across
//! the Città Metropolitana di Milano, in every state, routed by the same rule
//! as live requests, with their recorded transitions. Deterministic: the same
//! rows on every machine. Written as the provincial office's demo account.

use crate::rules::dice::Dice;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::refugees::{self as q, Form, NewEnrolment};
use crate::db::schema::{enrolment_requests as er, enrolment_transitions as et, municipalities, users};
use crate::rules::order::SchoolOrder;
use crate::rules::refugees::{self as rules, Status};
use crate::rules::school_year::SchoolYear;

const REQUESTS: usize = 360;
const REGISTRATIONS: usize = 30;
const MILANO: &str = "015146";
/// The other demo municipality (a different ambit from Milano's).
const ABBIATEGRASSO: &str = "015002";
const ABBIATEGRASSO_EVERY: usize = 30;
/// Alzano Lombardo (Bergamo), whose municipality also reads process 3.
const ALZANO: &str = "016008";

const FIRST: [&str; 16] = [
    "Olena",
    "Mykola",
    "Sofiia",
    "Artem",
    "Anastasiia",
    "Dmytro",
    "Yeva",
    "Maksym",
    "Zahra",
    "Ahmad",
    "Mariam",
    "Omar",
    "Amina",
    "Yusuf",
    "Fatima",
    "Bilal",
];
const LAST: [&str; 16] = [
    "Shevchenko",
    "Kovalenko",
    "Bondarenko",
    "Tkachenko",
    "Kravchenko",
    "Oliinyk",
    "Melnyk",
    "Lysenko",
    "Ahmadi",
    "Rahimi",
    "Haddad",
    "Nasser",
    "Karimi",
    "Hosseini",
    "Mansour",
    "Saleh",
];
const NATIONS: [&str; 8] = ["UA", "UA", "UA", "AF", "SY", "EG", "PK", "MA"];
const LANGUAGES: [&[&str]; 8] =
    [&["uk"], &["uk", "ru"], &["uk"], &["fa", "ps"], &["ar"], &["ar"], &["ur"], &["ar", "fr"]];
const STATUSES: [Status; 12] = [
    Status::Submitted,
    Status::Submitted,
    Status::Submitted,
    Status::InCharge,
    Status::InCharge,
    Status::Proposed,
    Status::Proposed,
    Status::Declined,
    Status::Enrolled,
    Status::Enrolled,
    Status::Enrolled,
    Status::Withdrawn,
];
const ORDERS: [SchoolOrder; 4] = [
    SchoolOrder::Infanzia,
    SchoolOrder::Primaria,
    SchoolOrder::SecondariaPrimoGrado,
    SchoolOrder::SecondariaSecondoGrado,
];

#[derive(QueryableByName)]
struct Candidate {
    #[diesel(sql_type = Text)]
    hub: String,
    #[diesel(sql_type = Text)]
    school_order: String,
    #[diesel(sql_type = Text)]
    institution: String,
}

/// One recorded move of a demo request: action, from, to, school, reason,
/// days after the request was entered.
type Step = (&'static str, Option<Status>, Status, Option<String>, Option<&'static str>, i64);

/// One request with its path through the workflow.
struct Planned {
    row: NewEnrolment,
    created: DateTime<Utc>,
    path: Vec<Step>,
}

/// Loads the demo requests; `today` anchors the dates.
pub async fn load(conn: &mut AsyncPgConnection, today: NaiveDate) -> anyhow::Result<()> {
    let office: i64 =
        users::table.filter(users::email.eq("ufficio.mi@ambito.invalid")).select(users::id).first(conn).await?;
    diesel::sql_query("SELECT set_config('ambito.user_id', $1, true)")
        .bind::<Text, _>(office.to_string())
        .execute(conn)
        .await?;
    let towns: Vec<String> = municipalities::table
        .filter(municipalities::province_code.eq("MI"))
        .order(municipalities::istat_code)
        .select(municipalities::istat_code)
        .load(conn)
        .await?;
    // Schools each hub may propose, per order.
    let candidates: Vec<Candidate> = diesel::sql_query(
        "SELECT DISTINCT h.code AS hub, s.school_order, s.institution_code AS institution
         FROM hubs h JOIN municipalities m ON m.ambit_code = h.ambit_code
         JOIN sites s ON s.municipality_istat = m.istat_code
         JOIN institutions i ON i.code = s.institution_code AND i.kind = 'state'
         WHERE h.province_code IN ('MI', 'BG') AND h.kind = 'cti' AND s.school_order IS NOT NULL
         UNION
         SELECT DISTINCT hs.hub_code, s.school_order, s.institution_code
         FROM hub_sites hs JOIN sites s ON s.code = hs.site_code WHERE hs.hub_code LIKE 'START-MI-%'
         ORDER BY 1, 2, 3",
    )
    .load(conn)
    .await?;
    let schools_of = |hub: &str, order: SchoolOrder| -> Vec<&str> {
        candidates
            .iter()
            .filter(|c| c.hub == hub && c.school_order == order.as_str())
            .map(|c| c.institution.as_str())
            .collect()
    };
    // Bergamo's CTI has requests too: towns of its ambit.
    let bergamo: Vec<String> = diesel::sql_query(
        "SELECT m.istat_code AS institution, '' AS hub, '' AS school_order FROM municipalities m
         JOIN hubs h ON h.ambit_code = m.ambit_code AND h.code = 'CTI-BG-1' ORDER BY m.istat_code",
    )
    .load::<Candidate>(conn)
    .await?
    .into_iter()
    .map(|c| c.institution)
    .collect();
    let year = SchoolYear::of(today);
    let now = Utc::now();
    let mut dice = Dice(20_260_311);
    let mut plan: Vec<Planned> = Vec::new();
    for i in 0..REQUESTS + REGISTRATIONS {
        let registration = i >= REQUESTS;
        let town = if dice.next(5) < 2 { MILANO.to_owned() } else { towns[dice.next(towns.len())].clone() };
        let order = ORDERS[dice.next(4)];
        let zone = (town == MILANO).then(|| dice.next(9) as i32 + 1);
        // Every demo municipality and hub has requests to look at: one in
        // every ABBIATEGRASSO_EVERY is Abbiategrasso's, one Alzano
        // Lombardo's, and one a town of Bergamo's CTI (the draws are made all the same, so the rest of the
        // data set does not move).
        let (town, zone) = match i % ABBIATEGRASSO_EVERY {
            0 => (ABBIATEGRASSO.to_owned(), None),
            15 if !bergamo.is_empty() => (bergamo[(i / ABBIATEGRASSO_EVERY) % bergamo.len()].clone(), None),
            25 => (ALZANO.to_owned(), None),
            _ => (town, zone),
        };
        let Some((_, place)) = q::place(conn, &town).await? else { continue };
        let Ok(hub) = rules::route(&place, order, zone) else { continue };
        let years = crate::rules::classes::years_of_study(order).unwrap_or(1..=1);
        let year_of_study = *years.start() + dice.next((years.end() - years.start() + 1) as usize) as i32;
        let age = match order {
            SchoolOrder::Infanzia => 2 + year_of_study,
            SchoolOrder::Primaria => 5 + year_of_study,
            SchoolOrder::SecondariaPrimoGrado => 10 + year_of_study,
            _ => 13 + year_of_study,
        };
        let birth =
            NaiveDate::from_ymd_opt(year.start_year() - age, 1 + dice.next(12) as u32, 1 + dice.next(28) as u32)
                .unwrap_or(today);
        let nation = dice.next(NATIONS.len());
        let created = now - Duration::days(1 + dice.next(120) as i64) - Duration::minutes(dice.next(600) as i64);
        let arrived = (created.date_naive() - Duration::days(dice.next(40) as i64)).max(birth);
        let status = if registration { Status::Enrolled } else { STATUSES[dice.next(STATUSES.len())] };
        let schools = schools_of(&hub, order);
        let school = (!schools.is_empty()).then(|| schools[dice.next(schools.len())].to_owned());
        let (first, last) = (FIRST[dice.next(16)], LAST[dice.next(16)]);
        let mut row = NewEnrolment {
            municipality_istat: town,
            origin: if registration { "school" } else { "municipality" }.into(),
            hub_code: hub,
            institution_code: None,
            status: status.as_str().into(),
            school_year: year.stored(),
            enrolled_at: None,
            form: Form {
                first_name: first.into(),
                last_name: last.into(),
                birth_date: birth,
                sex: if dice.next(2) == 0 { "F" } else { "M" }.into(),
                nationality: NATIONS[nation].into(),
                arrived_on: arrived,
                languages: LANGUAGES[nation].iter().map(|l| (*l).to_owned()).collect(),
                last_class: Some(format!("classe {} nel paese d'origine", year_of_study.max(1))),
                special_needs: dice.next(10) == 0,
                guardian_name: Some(format!("Genitore di {first}")),
                guardian_phone: Some(format!("+39 3{:02} {:07}", dice.next(100), dice.next(10_000_000))),
                guardian_email: None,
                address: format!("Via dell'Accoglienza {}", 1 + dice.next(200)),
                city_zone: zone,
                school_order: order.as_str().into(),
                year_of_study,
                notes: None,
            },
        };
        let mut path = Vec::new();
        if registration {
            let Some(s) = school else { continue };
            row.institution_code = Some(s.clone());
            row.enrolled_at = Some(created);
            path.push(("register", None, Status::Enrolled, Some(s), None, 0));
        } else {
            path.push(("submit", None, Status::Submitted, None, None, 0));
            let step = |path: &mut Vec<_>, a, f, t, s: Option<String>, r, d| path.push((a, Some(f), t, s, r, d));
            if status != Status::Submitted && status != Status::Withdrawn {
                step(&mut path, "take_in_charge", Status::Submitted, Status::InCharge, None, None, 1);
            }
            let Some(s) = school.clone() else { continue };
            if matches!(status, Status::Proposed | Status::Declined | Status::Enrolled) {
                step(&mut path, "propose", Status::InCharge, Status::Proposed, Some(s.clone()), None, 4);
            }
            match status {
                Status::Declined => {
                    step(&mut path, "decline", Status::Proposed, Status::Declined, Some(s), Some("no places"), 7)
                }
                Status::Enrolled => {
                    let days = 8 + dice.next(20) as i64;
                    row.enrolled_at = Some(created + Duration::days(days));
                    step(&mut path, "confirm", Status::Proposed, Status::Enrolled, Some(s), None, days)
                }
                Status::Withdrawn => {
                    step(&mut path, "withdraw", Status::Submitted, Status::Withdrawn, None, Some("family moved"), 3)
                }
                _ => {}
            }
            if matches!(status, Status::Proposed | Status::Enrolled) {
                row.institution_code = school;
            }
        }
        plan.push(Planned { row, created, path });
    }
    // Two likely duplicates: the same minor entered by Milan and by another town.
    if let Some(p) = plan.iter().find(|p| p.row.municipality_istat == MILANO && p.row.origin == "municipality") {
        let mut twin = p.row.clone();
        if let Some(other) = plan.iter().find(|o| o.row.municipality_istat != MILANO && o.row.origin == "municipality")
        {
            twin.municipality_istat = other.row.municipality_istat.clone();
            twin.hub_code = other.row.hub_code.clone();
            twin.form.city_zone = None;
            twin.status = Status::Submitted.as_str().into();
            twin.institution_code = None;
            twin.enrolled_at = None;
            let created = p.created + Duration::days(2);
            plan.push(Planned { row: twin, created, path: vec![("submit", None, Status::Submitted, None, None, 0)] });
        }
    }
    for p in plan {
        let id: i64 = diesel::insert_into(er::table)
            .values((&p.row, er::created_at.eq(p.created), er::updated_at.eq(p.created)))
            .returning(er::id)
            .get_result(conn)
            .await?;
        let rows: Vec<_> = p
            .path
            .iter()
            .map(|(action, from, to, school, reason, days)| {
                (
                    et::request_id.eq(id),
                    et::municipality_istat.eq(p.row.municipality_istat.clone()),
                    et::origin.eq(p.row.origin.clone()),
                    et::hub_code.eq(p.row.hub_code.clone()),
                    et::institution_code.eq(school.clone()),
                    et::action.eq(*action),
                    et::from_status.eq(from.map(|f| f.as_str())),
                    et::to_status.eq(to.as_str()),
                    et::reason.eq(*reason),
                    et::at.eq(p.created + Duration::days(*days)),
                )
            })
            .collect();
        diesel::insert_into(et::table).values(rows).execute(conn).await?;
        let moves = p.path.len() as i64;
        diesel::sql_query("UPDATE enrolment_requests SET version = $2 WHERE id = $1")
            .bind::<BigInt, _>(id)
            .bind::<BigInt, _>(moves.max(1))
            .execute(conn)
            .await?;
    }
    Ok(())
}
