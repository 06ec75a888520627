//! The registry report's cells (`registry_report_cells`), which every write
//! keeps up to date, as a property: after bursts of concurrent random
//! writes through GraphQL (pupils created, moved, recertified and deleted,
//! hours requested and approved, and changed alone, which the cells take as
//! a difference, classes changed), with the territory
//! changing beside them as the importers change it (a site moved to another
//! municipality, a municipality to another ambit), every role the policy
//! lets read pupils gets, for random groupings and filters, exactly the
//! figures counted from the pupils themselves within its scope.
//!
//! The database's owner is no superuser here, as in a deployment on a
//! PostgreSQL of one's own: the triggers that keep the cells run as the
//! owner, under the owner's row security policies. The draws take a seed,
//! printed, and `AMBITO_REPORT_SEED` when set, so a failure runs again.

use std::collections::BTreeMap;

use ambito::auth::Role;
use ambito::auth::passwords::Passwords;
use ambito::authz::{Action, Authorizer, ObjectKind, Scope};
use ambito::demo::DemoAccount;
use ambito::rules::school_year::SchoolYear;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Int4, Nullable, Text};
use diesel_async::RunQueryDsl;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::harness::{Dice, TestApp, TestDb, dice_from};
use crate::registry::new_pupil;

const ROUNDS: usize = 6;
const WRITES_PER_ROUND: usize = 16;
/// The kinds of write `a_write` makes.
const KINDS: usize = 9;
const REPORTS_PER_READER: usize = 6;

const REPORT: &str = "query($y: String!, $g: [RegistryDimension!]!, $f: RegistryReportFilter) {
    registryReport(schoolYear: $y, groupBy: $g, filter: $f) {
        province { code } ambit { code } municipality { istatCode } school { code } site { code }
        order severity ratio pupils pupilsWithRequest requestedHours approvedHours } }";

/// The dimensions, as GraphQL names them and as the oracle reads them off a pupil.
const DIMENSIONS: [&str; 8] = ["PROVINCE", "AMBIT", "MUNICIPALITY", "SCHOOL", "SITE", "ORDER", "SEVERITY", "RATIO"];

/// A pupil of the year as the report counts it, read by the owner.
#[derive(Debug, Clone, QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    province: String,
    #[diesel(sql_type = Text)]
    ambit: String,
    #[diesel(sql_type = Text)]
    municipality: String,
    #[diesel(sql_type = Text)]
    institution: String,
    #[diesel(sql_type = Text)]
    site: String,
    #[diesel(sql_type = Text)]
    school_order: String,
    #[diesel(sql_type = Text)]
    severity: String,
    #[diesel(sql_type = BigInt)]
    class_id: i64,
    #[diesel(sql_type = Nullable<Int4>)]
    ratio: Option<i32>,
    #[diesel(sql_type = Nullable<Int4>)]
    hours: Option<i32>,
    #[diesel(sql_type = Nullable<Int4>)]
    approved: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    submitted: bool,
}

impl Counted {
    /// The value of dimension `d` (an index into [`DIMENSIONS`]) as GraphQL shows it.
    fn dimension(&self, d: usize) -> Option<String> {
        Some(match d {
            0 => self.province.clone(),
            1 => self.ambit.clone(),
            2 => self.municipality.clone(),
            3 => self.institution.clone(),
            4 => self.site.clone(),
            5 => self.school_order.to_uppercase(),
            6 => self.severity.to_uppercase(),
            _ => return self.ratio.map(|r| format!("1:{r}")),
        })
    }
}

#[derive(Debug, Clone, QueryableByName)]
struct Class {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    institution: String,
    #[diesel(sql_type = Text)]
    site: String,
    #[diesel(sql_type = Text)]
    school_order: String,
    #[diesel(sql_type = Int4)]
    year_of_study: i32,
    #[diesel(sql_type = Int4)]
    pupils: i32,
    #[diesel(sql_type = Int4)]
    time_model_hours: i32,
}

/// The year as it is, read without row security: the pupils as counted,
/// and the classes.
async fn state(db: &TestDb, year: i32) -> (Vec<Counted>, Vec<Class>) {
    let mut conn = db.superuser_conn().await;
    let pupils = diesel::sql_query(
        "SELECT p.id, p.province_code AS province, m.ambit_code AS ambit, s.municipality_istat AS municipality,
                p.institution_code AS institution, c.site_code AS site, c.school_order, p.severity, p.class_id,
                r.ratio, r.hours, a.hours AS approved,
                EXISTS (SELECT 1 FROM support_submissions u WHERE u.institution_code = p.institution_code
                        AND u.school_year = p.school_year AND u.state = 'submitted') AS submitted
         FROM pupils p JOIN classes c ON c.id = p.class_id JOIN sites s ON s.code = c.site_code
         JOIN municipalities m ON m.istat_code = s.municipality_istat
         LEFT JOIN support_requests r ON r.pupil_id = p.id LEFT JOIN support_approvals a ON a.pupil_id = p.id
         WHERE p.school_year = $1 ORDER BY p.id",
    )
    .bind::<Int4, _>(year)
    .load(&mut conn)
    .await
    .unwrap();
    let classes = diesel::sql_query(
        "SELECT id, institution_code AS institution, site_code AS site, school_order, year_of_study, pupils,
                time_model_hours FROM classes WHERE school_year = $1 ORDER BY id",
    )
    .bind::<Int4, _>(year)
    .load(&mut conn)
    .await
    .unwrap();
    (pupils, classes)
}

/// A reader: a demo account of a role that reads pupils, its token, and
/// which pupils its scope takes in.
struct Reader {
    email: String,
    role: Role,
    token: String,
    scope: Scope,
    /// The province or the school the scope names.
    code: String,
}

impl Reader {
    fn takes(&self, p: &Counted) -> bool {
        match self.scope {
            Scope::Province => p.province == self.code,
            Scope::School => p.institution == self.code,
            other => panic!("a role reads pupils at scope {other:?}, which this test does not know: teach it"),
        }
    }
}

/// The measures of a group: pupils, with a request, hours requested, approved.
type Measures = [i64; 4];

/// The report counted from the pupils the reader's scope takes in.
fn expected(reader: &Reader, pupils: &[Counted], dims: &[usize], filter: &BTreeMap<usize, String>) -> Vec<String> {
    let mut groups: BTreeMap<Vec<Option<String>>, Measures> = BTreeMap::new();
    for p in pupils.iter().filter(|p| reader.takes(p)) {
        if filter.iter().any(|(d, v)| p.dimension(*d).as_ref() != Some(v)) {
            continue;
        }
        let key = (0..DIMENSIONS.len()).map(|d| if dims.contains(&d) { p.dimension(d) } else { None }).collect();
        let m = groups.entry(key).or_default();
        m[0] += 1;
        m[1] += i64::from(p.ratio.is_some());
        m[2] += i64::from(p.hours.unwrap_or(0));
        m[3] += i64::from(p.approved.unwrap_or(0));
    }
    if dims.is_empty() && groups.is_empty() {
        groups.insert(vec![None; DIMENSIONS.len()], [0; 4]);
    }
    groups.into_iter().map(|(k, m)| format!("{k:?} {m:?}")).collect()
}

/// The report as GraphQL answers it, in the oracle's terms.
fn answered(rows: &Value) -> Vec<String> {
    let code = |v: &Value, f: &str| v.get(f).and_then(|x| x.as_str()).map(str::to_owned);
    let mut out: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key: Vec<Option<String>> = vec![
                code(&r["province"], "code"),
                code(&r["ambit"], "code"),
                code(&r["municipality"], "istatCode"),
                code(&r["school"], "code"),
                code(&r["site"], "code"),
                r["order"].as_str().map(str::to_owned),
                r["severity"].as_str().map(str::to_owned),
                r["ratio"].as_str().map(str::to_owned),
            ];
            let m: Measures = ["pupils", "pupilsWithRequest", "requestedHours", "approvedHours"]
                .map(|f| r[f].as_i64().unwrap_or_else(|| panic!("{f} in {r}")));
            format!("{key:?} {m:?}")
        })
        .collect();
    out.sort();
    out
}

/// Who writes: the office's token, the school's token and code; the year.
struct Writers<'a> {
    office: &'a str,
    school: (&'a str, &'a str),
    year: &'a str,
}

/// One random write, as the office or (for its own pupils) the school.
fn a_write(
    dice: &mut Dice,
    kind: usize,
    pupils: &[Counted],
    classes: &[Class],
    who: &Writers,
    serial: usize,
) -> Option<(String, &'static str, String, Value)> {
    let Writers { office, school, year } = *who;
    let province: Vec<&Counted> = pupils.iter().filter(|p| p.province == "BG").collect();
    let pick = |dice: &mut Dice, from: &[&Counted]| -> Option<Counted> {
        (!from.is_empty()).then(|| from[dice.next(from.len())].clone())
    };
    let p = pick(dice, &province)?;
    // The school writes its own pupils half the time; the office every pupil.
    let token = if p.institution == school.1 && dice.next(2) == 0 { school.0 } else { office };
    let same_school: Vec<&Class> = classes.iter().filter(|c| c.institution == p.institution).collect();
    Some(match kind {
        0 => {
            let severity = if p.severity == "c1" { "C3" } else { "C1" };
            let q = "mutation($id: ID!, $s: CertificationSeverity!) {
                updatePupil(id: $id, input: { certification: { severity: $s } }) { id } }";
            (token.to_owned(), "recertify", q.to_owned(), json!({ "id": p.id.to_string(), "s": severity }))
        }
        1 => {
            let to = same_school[dice.next(same_school.len())];
            let q = "mutation($id: ID!, $c: ID!) { updatePupil(id: $id, input: { classId: $c }) { id } }";
            (token.to_owned(), "move", q.to_owned(), json!({ "id": p.id.to_string(), "c": to.id.to_string() }))
        }
        // 7: hours alone, the ratio as it was, which the cells take as a
        // difference without recomputing the pupil's share (migration 000034).
        2 | 7 => {
            let (p, ratio, name, token) = if kind == 7 {
                let requested: Vec<&Counted> =
                    province.iter().copied().filter(|p| !p.submitted && p.ratio.is_some_and(|r| r > 1)).collect();
                let other = pick(dice, &requested)?;
                let ratio = other.ratio.unwrap() as usize;
                // The school writes only its own pupils.
                let token = if other.institution == p.institution { token } else { office };
                (other, ratio, "change hours", token)
            } else {
                (p, 1 + dice.next(4), "request", token)
            };
            // Within every order's maximum; one-to-one takes the rule's hours.
            let hours = if ratio == 1 { Value::Null } else { json!(1 + dice.next(18)) };
            let ratio = format!("1:{ratio}");
            let q = "mutation($p: ID!, $r: String!, $h: Int) {
                requestSupportHours(pupilId: $p, ratio: $r, hours: $h) { hours } }";
            (token.to_owned(), name, q.to_owned(), json!({ "p": p.id.to_string(), "r": ratio, "h": hours }))
        }
        // 8: new hours for an approval already made.
        3 | 8 => {
            let approvable: Vec<&Counted> = province
                .iter()
                .copied()
                .filter(|p| p.submitted && if kind == 8 { p.approved.is_some() } else { p.ratio.is_some() })
                .collect();
            let p = pick(dice, &approvable)?;
            let q = "mutation($p: ID!, $h: Int!) { approveSupportHours(pupilId: $p, hours: $h) { hours } }";
            let hours = dice.next(p.hours.unwrap_or(0) as usize + 1);
            let name = if kind == 8 { "approve again" } else { "approve" };
            (office.to_owned(), name, q.to_owned(), json!({ "p": p.id.to_string(), "h": hours }))
        }
        4 => {
            let q = "mutation($id: ID!) { deletePupil(id: $id) }";
            (token.to_owned(), "delete", q.to_owned(), json!({ "id": p.id.to_string() }))
        }
        5 => {
            let class = same_school[dice.next(same_school.len())];
            let surname: String = (0..8).map(|_| char::from(b'A' + dice.next(26) as u8)).collect();
            let severity = ["C1", "C3"][dice.next(2)];
            let q = "mutation($i: CreatePupilInput!) { createPupil(input: $i) { id } }";
            let input = new_pupil(&class.id.to_string(), &format!("{surname}{serial}"), severity);
            (token.to_owned(), "create", q.to_owned(), json!({ "i": input }))
        }
        _ => {
            // A class moved to another site of its school that teaches its
            // order (a class with pupils keeps its order), as a new section.
            let class = classes.iter().find(|c| c.id == p.class_id)?;
            let sites: Vec<&str> =
                same_school.iter().filter(|c| c.school_order == class.school_order).map(|c| c.site.as_str()).collect();
            let site = sites[dice.next(sites.len())];
            let order = class.school_order.to_uppercase();
            let section: String = (0..3).map(|_| char::from(b'A' + dice.next(26) as u8)).collect();
            let q = "mutation($id: ID!, $i: SchoolClassInput!) { updateClass(id: $id, input: $i) { id } }";
            let input = json!({
                "schoolYear": year,
                "site": site, "order": order, "yearOfStudy": class.year_of_study,
                "section": section, "pupils": class.pupils, "timeModelHours": class.time_model_hours,
            });
            (token.to_owned(), "change class", q.to_owned(), json!({ "id": class.id.to_string(), "i": input }))
        }
    })
}

/// A change of the territory, as the importers make it (on the operator's
/// role): a site of a Bergamo pupil moved to another municipality, or a
/// municipality to another ambit. The kind alternates by round, so both
/// kinds happen in every run whatever the seed (with a coin per round, one
/// run in 32 made only one kind in its six rounds).
async fn territory_change(dice: &mut Dice, db: &TestDb, pupils: &[Counted], round: usize) -> &'static str {
    let bg: Vec<&Counted> = pupils.iter().filter(|p| p.province == "BG").collect();
    let mut municipalities: Vec<&str> = bg.iter().map(|p| p.municipality.as_str()).collect();
    let mut ambits: Vec<&str> = bg.iter().map(|p| p.ambit.as_str()).collect();
    municipalities.sort();
    municipalities.dedup();
    ambits.sort();
    ambits.dedup();
    let p = bg[dice.next(bg.len())];
    let (sql, kind, to, which) = if round.is_multiple_of(2) {
        let to = municipalities[dice.next(municipalities.len())];
        ("UPDATE sites SET municipality_istat = $1 WHERE code = $2", "move site", to, p.site.clone())
    } else {
        let to = ambits[dice.next(ambits.len())];
        ("UPDATE municipalities SET ambit_code = $1 WHERE istat_code = $2", "change ambit", to, p.municipality.clone())
    };
    let (to, which) = (to.to_owned(), which);
    let mut maint = db.conn_as(ambito::db::roles::DbRole::Maint).await;
    diesel::sql_query(sql).bind::<Text, _>(to).bind::<Text, _>(which).execute(&mut maint).await.unwrap();
    kind
}

async fn login(app: &TestApp, a: &DemoAccount) -> String {
    let data = app
        .query(
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
            json!({ "e": a.email, "p": a.password }),
        )
        .await;
    data["login"]["token"].as_str().unwrap().to_owned()
}

// Migrating blocks in place, which needs the multi-threaded runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn for_every_role_that_reads_pupils_the_report_cells_equal_the_pupils_counted() {
    let (mut dice, seed) = dice_from("AMBITO_REPORT_SEED", "report cells");

    let db = TestDb::owned_by_a_plain_role().await;
    ambito::db::migrate(&db.url).await.unwrap();
    // The demo's accounts are the superuser's to make; its pupils, classes and
    // requests still run the owner's triggers.
    let accounts = ambito::demo::load(&mut db.superuser_conn().await, &Passwords::new()).await.unwrap().unwrap();
    let year = SchoolYear::of(chrono::Utc::now().date_naive());
    let stored = year.stored();
    let app = TestApp::over(db).await;

    // The readers, from the policy: a Bergamo account of every role that
    // reads pupils, at that role's scope.
    let authz = Authorizer::embedded().await.unwrap();
    let mut readers = Vec::new();
    for role in Role::ALL {
        let Some(scope) = authz.scope(role, ObjectKind::Pupil, Action::Read) else { continue };
        let account = accounts
            .iter()
            .find(|a| a.role == role.as_str() && a.organization.as_deref().is_some_and(|o| o.starts_with("BG")))
            .unwrap_or_else(|| panic!("no Bergamo demo account of role {role:?}"));
        // The organisation an account is made for: the office's province, the school's code.
        let code = account.organization.clone().unwrap();
        let token = login(&app, account).await;
        readers.push(Reader { email: account.email.clone(), role, token, scope, code });
    }
    let roles: Vec<Role> = readers.iter().map(|r| r.role).collect();
    assert!(roles.contains(&Role::Provincial) && roles.contains(&Role::School), "readers: {roles:?}");
    let office = readers.iter().find(|r| r.scope == Scope::Province).unwrap();
    let school = readers.iter().find(|r| r.scope == Scope::School).unwrap();

    let year_text = year.to_string();
    let writers = Writers { office: &office.token, school: (&school.token, &school.code), year: &year_text };
    let mut done: BTreeMap<&str, usize> = BTreeMap::new();
    let mut serial = 0;
    for round in 0..ROUNDS {
        // A burst of writes at once, every kind at least once.
        let (pupils, classes) = state(app.db(), stored).await;
        let mut writes = Vec::new();
        for w in 0..WRITES_PER_ROUND {
            serial += 1;
            let kind = if w < KINDS { w } else { dice.next(KINDS) };
            if let Some(write) = a_write(&mut dice, kind, &pupils, &classes, &writers, serial) {
                writes.push(write);
            }
        }
        let territory = territory_change(&mut dice, app.db(), &pupils, round);
        let (answers, moved) = tokio::join!(
            join_all(writes.iter().map(|(token, _, q, vars)| app.post_as(Some(token), q, vars.clone()))),
            territory
        );
        *done.entry(moved).or_default() += 1;
        for ((_, kind, _, _), (status, body)) in writes.iter().zip(&answers) {
            assert_eq!(*status, 200, "{body}");
            if body.get("errors").is_none() {
                *done.entry(kind).or_default() += 1;
            } else {
                // A write the rules refuse changes nothing; a failure of the
                // cells' upkeep is no refusal.
                let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or("");
                assert!(code != "INTERNAL" && !code.is_empty(), "{kind}: {body}");
                if std::env::var("AMBITO_REPORT_SHOW").is_ok() {
                    println!("{kind}: {}", body["errors"][0]["message"]);
                }
            }
        }

        // Every reader, several groupings and filters.
        let (pupils, _) = state(app.db(), stored).await;
        for reader in &readers {
            for r in 0..REPORTS_PER_READER {
                let dims: Vec<usize> = match r {
                    0 => (0..DIMENSIONS.len()).collect(),
                    1 => Vec::new(),
                    _ => (0..DIMENSIONS.len()).filter(|_| dice.next(3) == 0).collect(),
                };
                let mut filter = BTreeMap::new();
                if r >= 2 && !pupils.is_empty() {
                    let p = &pupils[dice.next(pupils.len())];
                    // school, municipality, ambit, order, severity
                    for d in [3, 2, 1, 5, 6] {
                        if dice.next(4) == 0 {
                            filter.insert(d, p.dimension(d).unwrap());
                        }
                    }
                }
                let f: serde_json::Map<String, Value> = filter
                    .iter()
                    .map(|(d, v)| {
                        let name = ["", "ambit", "municipality", "school", "", "order", "severity"][*d];
                        (name.to_owned(), json!(v))
                    })
                    .collect();
                let g: Vec<&str> = dims.iter().map(|d| DIMENSIONS[*d]).collect();
                let got = app.query_as(&reader.token, REPORT, json!({ "y": year.to_string(), "g": g, "f": f })).await;
                let mut want = expected(reader, &pupils, &dims, &filter);
                want.sort();
                assert_eq!(
                    answered(&got["registryReport"]),
                    want,
                    "round {round}: {} ({:?}) grouping by {g:?} filtered by {f:?} (seed {seed})",
                    reader.email,
                    reader.role
                );
            }
        }
    }
    println!("report cells: writes that took effect {done:?}");
    for kind in [
        "recertify",
        "move",
        "request",
        "change hours",
        "approve",
        "approve again",
        "delete",
        "create",
        "change class",
        "move site",
        "change ambit",
    ] {
        assert!(done.get(kind).copied().unwrap_or(0) > 0, "no {kind} took effect in {ROUNDS} rounds: {done:?}");
    }
}
