//! The demo's process 4: the 2026/27 campaign (year 2026) with the seed's
//! windows and the primaria transfers published on 29 July, classes of
//! competition, districts of Bergamo and Milano (Milano's city split in two
//! districts of sites), about 300 tenured teachers holding posts at real
//! sites of both provinces, and their forms in every state: drafts,
//! submissions checked by the real rules, withdrawals, utilisations with a
//! declared score, interprovincial ones. The demo teacher is in Bergamo's
//! registry with no form yet, so a visitor can submit one (moving the
//! clock into a window with `setTestClock`).

use chrono::{NaiveDate, TimeZone, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;

use crate::db::mobility::{self as q, ClassRow, DioceseRow, DistrictRow, TeacherRow};
use crate::db::schema::users;
use crate::rules::mobility::Order;
use crate::rules::mobility::application::{Kind, PostType, PrefKind, Preference, Scope, UtCategory};
use crate::rules::mobility::eligibility::ReasonKind;
use crate::rules::mobility::windows::Windows;
use crate::rules::tax_code::{Sex, encode};
use crate::usecases::mobility::{ChildInput, ChildRelation, FormInput, ReunionInput, demo_form, order_of, order_str};

/// The campaign: school year 2026/27.
pub const YEAR: i32 = 2026;
const TEACHERS: usize = 300;
const SURNAMES: [&str; 12] = [
    "Rossi", "Bianchi", "Colombo", "Ferrari", "Esposito", "Ricci", "Marino", "Greco", "Bruno", "Galli", "Conti",
    "Costa",
];
const NAMES: [&str; 10] = ["Giulia", "Marco", "Sara", "Luca", "Chiara", "Paolo", "Elena", "Andrea", "Marta", "Davide"];

/// A site where a teacher holds a post (also `ambito seed`'s).
#[derive(QueryableByName)]
pub(crate) struct SiteRow {
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub province: String,
    #[diesel(sql_type = Text)]
    pub municipality: String,
    #[diesel(sql_type = Text)]
    pub school_order: String,
}

fn d(m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(YEAR, m, day).expect("a date of the campaign")
}

/// Loads the campaign as the owner, acting as Bergamo's office.
pub async fn load(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    let office: i64 =
        users::table.filter(users::email.eq("ufficio.bg@ambito.invalid")).select(users::id).first(conn).await?;
    diesel::sql_query("SELECT set_config('ambito.user_id', $1, true)")
        .bind::<Text, _>(office.to_string())
        .execute(conn)
        .await?;
    let mut windows = Windows::default_for(YEAR);
    windows.primaria.opens = Some(d(7, 29));
    q::insert_campaign(conn, YEAR, &serde_json::to_value(&windows)?).await?;
    for (code, name, order) in [
        ("A022", "Italiano, storia, geografia nella scuola secondaria di I grado", "secondaria_primo_grado"),
        ("A028", "Matematica e scienze", "secondaria_primo_grado"),
        ("A012", "Discipline letterarie negli istituti di II grado", "secondaria_secondo_grado"),
        ("A026", "Matematica", "secondaria_secondo_grado"),
        ("AB24", "Lingue e culture straniere (inglese)", "secondaria_secondo_grado"),
    ] {
        q::upsert_class(conn, &ClassRow { code: code.into(), name: name.into(), school_order: order.into() }).await?;
    }
    let sites: Vec<SiteRow> = diesel::sql_query(
        "SELECT code, province_code AS province, municipality_istat AS municipality, school_order FROM sites
         WHERE province_code IN ('BG', 'MI') AND school_order IN
               ('infanzia', 'primaria', 'secondaria_primo_grado', 'secondaria_secondo_grado')
         ORDER BY code",
    )
    .load(conn)
    .await?;
    districts(conn, &sites).await?;
    q::set_esubero(conn, YEAR, "BG", "A022", 2).await?;
    q::set_esubero(conn, YEAR, "MI", "NN", 0).await?;
    irc(conn, &sites).await?;

    // The demo teacher: a primaria post at a site of the demo school.
    let own = sites.iter().find(|s| s.code.starts_with("BGEE821")).or_else(|| <[SiteRow]>::first(&sites));
    if let Some(site) = own {
        let me = TeacherRow {
            tax_code: demo_teacher_tax_code(),
            ..teacher_row(0, "docente@ambito.invalid".into(), site, "Verdi", "Anna")
        };
        q::upsert_teacher(conn, &me).await?;
    }
    // Spread the teachers over the provinces' sites.
    let step = (sites.len() / TEACHERS).max(1);
    let held: Vec<&SiteRow> = sites.iter().step_by(step).take(TEACHERS).collect();
    for (i, site) in held.iter().enumerate() {
        let (surname, name) = (SURNAMES[i % SURNAMES.len()], NAMES[(i / SURNAMES.len()) % NAMES.len()]);
        let row = teacher_row(i + 1, format!("docente{:03}@demo.ambito.invalid", i + 1), site, surname, name);
        let Some(row) = q::upsert_teacher(conn, &row).await? else { continue };
        // Another municipality of the same province to rejoin a family in.
        let away = held
            .iter()
            .cycle()
            .skip(i + 1)
            .take(held.len())
            .find(|s| s.province == site.province && s.municipality != site.municipality);
        let Some(away) = away else { continue };
        if let Some((input, submit, withdraw)) = plan(i, site, away) {
            let day = if order_of(&site.school_order).first_cycle() { d(8, 5) } else { d(8, 20) };
            let at = Utc.from_utc_datetime(&day.and_hms_opt(9, 30, 0).expect("a time"));
            let app =
                demo_form(conn, &row, input, day, at, submit, false).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let Some(app) = app else { continue };
            if withdraw && app.state == "submitted" {
                q::withdraw(conn, app.id, at + chrono::Duration::hours(2)).await?;
            }
        }
    }
    Ok(())
}

/// The dioceses of the two sees, and two IRC teachers whose paper forms
/// the regional directorate of Lombardia received (seed L83).
async fn irc(conn: &mut AsyncPgConnection, sites: &[SiteRow]) -> anyhow::Result<()> {
    for (code, name, province) in [("BERGAMO", "Diocesi di Bergamo", "BG"), ("MILANO", "Arcidiocesi di Milano", "MI")] {
        let row = DioceseRow { code: code.into(), name: name.into(), province_code: province.into() };
        q::upsert_diocese(conn, &row).await?;
    }
    for (n, (province, diocese)) in [("BG", "BERGAMO"), ("MI", "MILANO")].into_iter().enumerate() {
        let mut held = sites.iter().filter(|s| s.province == province && s.school_order == "primaria");
        let Some(site) = held.next() else { continue };
        let Some(away) = held.find(|s| s.municipality != site.municipality) else { continue };
        let (surname, name) = (SURNAMES[n], "Teresa");
        let row = TeacherRow {
            category: "irc".into(),
            ..teacher_row(n + 1, format!("irc{:02}@demo.ambito.invalid", n + 1), site, surname, name)
        };
        let born = d(1, 1) - chrono::Duration::days(365 * 50);
        let row = TeacherRow { tax_code: encode(surname, name, born, Sex::F, "A794"), ..row };
        let Some(row) = q::upsert_teacher(conn, &row).await? else { continue };
        let (mut input, ..) = plan(0, site, away).expect("a form for teacher 0");
        input.diocese = Some(diocese.into());
        input.children = vec![];
        let day = d(8, 1);
        let at = Utc.from_utc_datetime(&day.and_hms_opt(11, 0, 0).expect("a time"));
        demo_form(conn, &row, input, day, at, true, true).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    Ok(())
}

/// Bergamo: three districts of whole municipalities. Milano: the city's
/// sites in two districts (a city with several, COM-2), the other towns in a third.
async fn districts(conn: &mut AsyncPgConnection, sites: &[SiteRow]) -> anyhow::Result<()> {
    let mut bg: Vec<String> = sites.iter().filter(|s| s.province == "BG").map(|s| s.municipality.clone()).collect();
    bg.sort();
    bg.dedup();
    let third = bg.len().div_ceil(3).max(1);
    for (n, chunk) in bg.chunks(third).enumerate() {
        let row = DistrictRow {
            code: format!("BG{:02}", n + 1),
            province_code: "BG".into(),
            municipalities: chunk.to_vec(),
            sites: vec![],
        };
        q::upsert_district(conn, &row).await?;
    }
    let city: Vec<String> = sites.iter().filter(|s| s.municipality == "015146").map(|s| s.code.clone()).collect();
    for (code, parity) in [("MI01", 0), ("MI02", 1)] {
        let sites = city.iter().enumerate().filter(|(i, _)| i % 2 == parity).map(|(_, s)| s.clone()).collect();
        q::upsert_district(
            conn,
            &DistrictRow { code: code.into(), province_code: "MI".into(), municipalities: vec![], sites },
        )
        .await?;
    }
    let mut towns: Vec<String> = sites
        .iter()
        .filter(|s| s.province == "MI" && s.municipality != "015146")
        .map(|s| s.municipality.clone())
        .collect();
    towns.sort();
    towns.dedup();
    if !towns.is_empty() {
        let row = DistrictRow { code: "MI03".into(), province_code: "MI".into(), municipalities: towns, sites: vec![] };
        q::upsert_district(conn, &row).await?;
    }
    Ok(())
}

/// The demo teacher's tax code in the registry.
pub fn demo_teacher_tax_code() -> String {
    encode("Verdi", "Anna", NaiveDate::from_ymd_opt(1980, 5, 4).expect("a date"), Sex::F, "A794")
}

/// A tenured teacher's registry row, holding a post at `site`.
pub(crate) fn teacher_row(i: usize, email: String, site: &SiteRow, surname: &str, name: &str) -> TeacherRow {
    let order = order_of(&site.school_order);
    let class = match order {
        Order::SecondariaPrimoGrado => Some(if i.is_multiple_of(2) { "A022" } else { "A028" }),
        Order::SecondariaSecondoGrado => Some(if i.is_multiple_of(2) { "A012" } else { "A026" }),
        _ => None,
    };
    let support = i % 10 == 7;
    let birth = NaiveDate::from_ymd_opt(1965 + (i % 25) as i32, 1 + (i % 12) as u32, 1 + (i % 28) as u32)
        .expect("a birth date");
    let sex = if i.is_multiple_of(2) { Sex::F } else { Sex::M };
    TeacherRow {
        tax_code: encode(surname, name, birth, sex, "A794"),
        first_name: name.into(),
        last_name: surname.into(),
        email,
        category: "teacher".into(),
        tenured: true,
        school_order: order_str(order).into(),
        class_code: class.map(Into::into),
        post_type: if support { "EH" } else { "NN" }.into(),
        holding_kind: "school".into(),
        holding_code: site.code.clone(),
        province_code: site.province.clone(),
        legal_start: NaiveDate::from_ymd_opt(2005 + (i % 15) as i32, 9, 1),
        economic_start: NaiveDate::from_ymd_opt(2005 + (i % 15) as i32, 9, 1),
        probation: Some("passed".into()),
        qualifications: json!([]),
        support_titles: if support { json!([["Eh", "2004-06-30"]]) } else { json!([]) },
        support_constraint_satisfied: support,
        hiring_source: None,
        hiring_phase: None,
        merit_region: None,
        // Some primaria teachers hold the language title (UT-3).
        language_title: (order == Order::Primaria && i.is_multiple_of(3))
            .then(|| d(7, 1) - chrono::Duration::days(3650)),
        service_hours: None,
    }
}

/// A provincial AP form to rejoin a spouse in `municipality` (also
/// `ambito seed`'s), with no children, precedences or options.
pub(crate) fn spouse_ap(
    year: i32,
    order: Order,
    post: PostType,
    municipality: &str,
    preferences: Vec<Preference>,
) -> FormInput {
    FormInput {
        campaign_year: year,
        kind: Kind::Ap,
        category: None,
        order,
        scope: Scope::Provincial,
        musical_liceo: false,
        class: None,
        additional_classes: vec![],
        post_types: vec![post],
        reasons: vec![ReasonKind::Spouse],
        reunion: Some(ReunionInput {
            relation: ReasonKind::Spouse,
            municipality: municipality.to_owned(),
            birth_date: None,
            registered_since: NaiveDate::from_ymd_opt(year, 1, 10),
            registry_cohabitation: false,
            new_work_seat: false,
            documents: vec![],
        }),
        children: vec![],
        precedences: vec![],
        ut_categories: vec![],
        declared_score: None,
        preferences,
        options: Default::default(),
        section_e: None,
        confirmation: None,
        chain_start: None,
        diocese: None,
        ut_score: None,
    }
}

/// Teacher `i`'s form, if any: the form, whether it is submitted, whether
/// it is then withdrawn.
fn plan(i: usize, site: &SiteRow, away: &SiteRow) -> Option<(FormInput, bool, bool)> {
    let order = order_of(&site.school_order);
    let post = if i % 10 == 7 { PostType::Eh } else { PostType::Nn };
    let base = FormInput {
        children: if i.is_multiple_of(4) {
            vec![ChildInput {
                birth_date: d(3, 1) - chrono::Duration::days(365 * 3),
                relation: ChildRelation::Child,
                unable_to_work: false,
                documents: vec![],
            }]
        } else {
            vec![]
        },
        ..spouse_ap(
            YEAR,
            order,
            post,
            &away.municipality,
            vec![
                Preference { kind: PrefKind::School, code: away.code.clone() },
                Preference { kind: PrefKind::Municipality, code: away.municipality.clone() },
            ],
        )
    };
    Some(match i % 12 {
        0 | 3 | 6 | 9 => (base, true, false),
        1 => (base, false, false),
        5 => (base, true, true),
        2 | 8 => {
            let ut = FormInput {
                kind: Kind::Ut,
                reasons: vec![],
                reunion: None,
                children: vec![],
                ut_categories: vec![UtCategory::SurplusOf],
                declared_score: Some(40.0 + (i % 50) as f64),
                preferences: vec![Preference { kind: PrefKind::School, code: site.code.clone() }],
                ..base
            };
            (ut, true, false)
        }
        10 => {
            let other = if site.province == "BG" { "MI" } else { "BG" };
            let town = if other == "MI" { "015146" } else { "016024" };
            let inter = FormInput {
                scope: Scope::Interprovincial,
                reunion: Some(ReunionInput { municipality: town.into(), ..base.reunion.clone()? }),
                preferences: vec![
                    Preference { kind: PrefKind::Municipality, code: town.into() },
                    Preference { kind: PrefKind::Province, code: other.into() },
                ],
                ..base
            };
            (inter, true, false)
        }
        _ => return None,
    })
}
