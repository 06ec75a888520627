//! Process 3 through the real server, as each role: a points table drafted
//! by the secretariat and approved by the head teacher, a round of
//! `BGIC82100T`'s three primaria sites, the street list, applications in
//! several situations with the rules' refusals, and the round's current
//! ranking as the engine computes it. Out of scope is not found.

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::harness::{TestApp, demo_account, demo_accounts};
use crate::recovery::code;
use ambito::rules::tax_code::{Sex, encode};

const SCHOOL: &str = "bgic82100t@istruzione.it";
const HEAD: &str = "dirigente.bgic82100t@example.org";
const HEAD_PASSWORD: &str = "la password della dirigente";
const SEED: &str = "seduta pubblica del 28 gennaio 2027";

const CREATE_TABLE: &str = "mutation($i: PointsTableInput!) { createPointsTable(input: $i) { id status version } }";
const APPROVE: &str = "mutation($id: ID!) {
    approvePointsTable(id: $id, councilDate: \"2026-11-20\", resolutionNumber: \"12/2026\") { id status } }";
const UPDATE_TABLE: &str =
    "mutation($id: ID!, $c: [PointsCriterionInput!]!) { updatePointsTable(id: $id, criteria: $c) { version } }";
const CREATE_ROUND: &str =
    "mutation($i: AdmissionRoundInput!) { createAdmissionRound(input: $i) { id state drawSeedCommitment } }";
const UPDATE_ROUND: &str =
    "mutation($id: ID!, $i: AdmissionRoundInput!) { updateAdmissionRound(id: $id, input: $i) { id } }";
const STRADARIO: &str = "mutation($r: ID!, $e: [StradarioEntryInput!]!) { importStradario(roundId: $r, entries: $e) }";
const REGISTER: &str = "mutation($i: ApplicationInput!) {
    registerApplication(input: $i) { id publicCode points tier late early } }";
const CLOCK: &str = "mutation($t: DateTime!) { setTestClock(now: $t) }";
const ROUND: &str = "query($id: ID!) { admissionRound(id: $id) {
    state drawSeedCommitment
    sites { site { code } places admittedCount freePlaces }
    ranking(stage: CURRENT) { position tier points tie application { externalRef publicCode }
                              outcome { kind site timeModel timeModelPreferenceRank via } }
    waitingList { position group application { externalRef } }
    timeModelOutcome { site model activated pupils }
    cutoffs { site tier points } } }";

fn criteria() -> Value {
    json!([
        { "code": "lavoro", "label": "Entrambi i genitori lavorano", "kind": "FLAG", "points": 5,
          "evidence": "SELF_DECLARATION" },
        { "code": "fratelli", "label": "Fratelli nello stesso plesso", "kind": "COUNT", "perUnit": 1.5,
          "maxUnits": 2, "evidence": "SELF_DECLARATION" },
        { "code": "invalidita", "label": "Genitore con invalidità", "kind": "FLAG", "points": 10,
          "evidence": "DOCUMENT", "healthRelated": true }
    ])
}

fn round_input(table: &str) -> Value {
    json!({
        "institution": "BGIC82100T", "order": "PRIMARIA", "schoolYear": "2027/28",
        "windowOpensAt": "2027-01-04T00:00:00+01:00", "windowClosesAt": "2027-01-25T23:59:59+01:00",
        "mandatoryBornBy": "2021-12-31", "earlyBornBy": "2022-04-30",
        "sites": [ { "site": "BGEE82101X", "places": 2 }, { "site": "BGEE821021", "places": 2 },
                   { "site": "BGEE821032", "places": 1 } ],
        "pointsTableId": table,
        "timeModels": [ { "code": "27H", "hours": 27 }, { "code": "30H", "hours": 30 }, { "code": "40H", "hours": 40 } ],
        "defaultTimeModel": "27H", "minPupilsPerTimeModel": 2,
        "finalDueOn": "2027-03-20", "waitingListClosesAt": "2027-08-31T23:59:59+02:00",
        "enrolmentDocumentsDueOn": "2027-05-31",
        "drawSeedHash": ambito::rules::admissions::seed_commitment(SEED)
    })
}

/// An application as the portal sends it; `n` varies the child.
fn application(round: &str, n: u32, street: &str, number: &str, sites: &[&str]) -> Value {
    let birth = NaiveDate::from_ymd_opt(2021, 1 + n % 12, 1 + n % 28).unwrap();
    let name = ["ANNA", "LUCA", "SARA", "MARCO", "GIULIA", "PIETRO", "ELENA", "DAVIDE"][n as usize % 8];
    let surname = format!("ROSSI{}", "ABCDEFGHIL".chars().nth(n as usize % 10).unwrap());
    json!({
        "roundId": round, "externalRef": format!("PORTALE-{n:05}"), "submittedAt": "2027-01-10T10:00:00+01:00",
        "child": { "firstName": name, "lastName": surname, "taxCode": encode(&surname, name, birth, Sex::F, "A246"),
                   "birthDate": birth.to_string(), "sex": "F" },
        "residence": { "municipality": "016008", "street": street, "houseNumber": number },
        "sitePreferences": sites, "timeModelPreferences": ["40H", "30H"]
    })
}

async fn head_teacher(app: &TestApp) -> String {
    account(app, HEAD, ambito::auth::Role::HeadTeacher, "BGIC82100T").await
}

/// An account with one membership, signed in; `org` as `OrgRef::for_role` takes it.
async fn account(app: &TestApp, email: &str, role: ambito::auth::Role, org: &str) -> String {
    use ambito::auth::OrgRef;
    use ambito::db::accounts;
    let hash = ambito::auth::passwords::Passwords::new().hash(HEAD_PASSWORD).await.unwrap();
    let mut conn = app.db().conn().await;
    let user = accounts::create_user(&mut conn, email, Some(&hash)).await.unwrap().unwrap();
    accounts::grant(&mut conn, user, role, &OrgRef::for_role(role, Some(org)).unwrap()).await.unwrap();
    let d = app
        .query(
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token membership { role } } }",
            json!({ "e": email, "p": HEAD_PASSWORD }),
        )
        .await;
    assert_eq!(d["login"]["membership"]["role"], role.as_str().to_ascii_uppercase());
    d["login"]["token"].as_str().unwrap().to_owned()
}

/// Signed in as another school of Bergamo's province, for out-of-scope checks.
async fn another_school(app: &TestApp) -> String {
    let other = demo_accounts()
        .into_iter()
        .find(|a| {
            a.role == "school" && a.email != SCHOOL && a.organization.as_deref().is_some_and(|o| o.starts_with("BG"))
        })
        .unwrap();
    app.login(&other.email).await
}

const CERTIFY: &str = "mutation($a: ID!, $d: ID!, $on: Date!) {
    updateApplicationDisability(applicationId: $a, input: { certificationAttachmentId: $d, certifiedOn: $on }) {
        disability { declared certifiedOn certificationAttachmentId verified } } }";

/// Uploads a certificate for an application and records it; its id.
async fn certify(app: &TestApp, school: &str, application: &str, on: &str) -> String {
    let pdf = format!("%PDF-1.7 certificazione L. 104/92 per {application}").into_bytes();
    let doc = crate::attachments::upload_of(app, school, application, "ADMISSION_DOCUMENT", "verbale.pdf", &pdf).await;
    app.query_as(school, CERTIFY, json!({ "a": application, "d": doc, "on": on })).await;
    doc
}

/// `ambito admissions verify ROUND`: recomputes the round's snapshots.
fn verify(app: &TestApp, round: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ambito"))
        .env_remove("DATABASE_URL")
        .args(["--database-url", &app.db().login_url(), "admissions", "verify", round])
        .output()
        .unwrap()
}

/// The head teacher fixes the draw seed and publishes the provisional
/// ranking (clock: 2027-01-27, after the window).
async fn publish(app: &TestApp, head: &str, office: &str, round: &str) {
    app.query_as(office, CLOCK, json!({ "t": "2027-01-27T10:00:00Z" })).await;
    let seed = json!({ "r": round, "s": SEED });
    app.query_as(head, "mutation($r: ID!, $s: String!) { setDrawSeed(roundId: $r, seed: $s) { id } }", seed).await;
    let r = json!({ "r": round });
    app.query_as(head, "mutation($r: ID!) { publishProvisionalRanking(roundId: $r) { id } }", r).await;
}

async fn error(app: &TestApp, token: &str, doc: &str, vars: Value) -> Value {
    let (_, body) = app.post_as(Some(token), doc, vars).await;
    assert!(body["errors"][0].is_object(), "expected an error: {body}");
    body["errors"][0].clone()
}

#[tokio::test]
async fn a_round_from_its_points_table_to_the_current_ranking() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let head = head_teacher(&app).await;
    let office = app.login("ufficio.bg@ambito.invalid").await;
    let other = another_school(&app).await;
    // Only the office moves the domain clock.
    assert_eq!(code(&app.post_as(Some(&school), CLOCK, json!({ "t": "2026-12-01T10:00:00Z" })).await.1), "FORBIDDEN");
    app.query_as(&office, CLOCK, json!({ "t": "2026-12-01T10:00:00Z" })).await;

    // The points table: a draft the secretariat may change, the head teacher approves.
    let input = json!({ "institution": "BGIC82100T", "order": "PRIMARIA", "criteria": criteria() });
    assert_eq!(code(&app.post_as(Some(&other), CREATE_TABLE, json!({ "i": input })).await.1), "NOT_FOUND");
    let table = app.query_as(&school, CREATE_TABLE, json!({ "i": input })).await["createPointsTable"].clone();
    assert_eq!(table["status"], "DRAFT");
    let table_id = table["id"].as_str().unwrap().to_owned();
    let bad = json!([{ "code": "x", "label": "x", "kind": "FLAG", "points": 1.234, "evidence": "DOCUMENT" }]);
    let e = error(&app, &school, UPDATE_TABLE, json!({ "id": table_id, "c": bad })).await;
    assert_eq!(
        (e["extensions"]["code"].as_str(), e["extensions"]["field"].as_str()),
        (Some("BAD_USER_INPUT"), Some("criteria[0].points"))
    );
    app.query_as(&school, UPDATE_TABLE, json!({ "id": table_id, "c": criteria() })).await;
    assert_eq!(code(&app.post_as(Some(&school), APPROVE, json!({ "id": table_id })).await.1), "FORBIDDEN");
    let approved = app.query_as(&head, APPROVE, json!({ "id": table_id })).await;
    assert_eq!(approved["approvePointsTable"]["status"], "APPROVED");
    let e = error(&app, &school, UPDATE_TABLE, json!({ "id": table_id, "c": criteria() })).await;
    assert_eq!(e["extensions"]["code"], "POINTS_TABLE_FROZEN");

    // A round needs an approved table.
    let draft = app.query_as(&school, CREATE_TABLE, json!({ "i": input })).await["createPointsTable"]["id"].clone();
    let e = error(&app, &school, CREATE_ROUND, json!({ "i": round_input(draft.as_str().unwrap()) })).await;
    assert_eq!(e["extensions"]["code"], "POINTS_TABLE_NOT_APPROVED");
    let round =
        app.query_as(&school, CREATE_ROUND, json!({ "i": round_input(&table_id) })).await["createAdmissionRound"]
            .clone();
    assert_eq!(round["state"], "DRAFT");
    assert_eq!(round["drawSeedCommitment"], ambito::rules::admissions::seed_commitment(SEED));
    let round_id = round["id"].as_str().unwrap().to_owned();

    // The street list: overlapping ranges are refused whole.
    let overlap = json!([
        { "street": "Via Roma", "from": 1, "to": 99, "site": "BGEE82101X" },
        { "street": "via roma", "from": 51, "to": 51, "site": "BGEE821021" }
    ]);
    let e = error(&app, &school, STRADARIO, json!({ "r": round_id, "e": overlap })).await;
    assert_eq!(e["extensions"]["code"], "STRADARIO_OVERLAP");
    assert!(e["message"].as_str().unwrap().contains("entries 1 and 2"));
    let list = json!([
        { "street": "Via Roma", "from": 1, "to": 99, "parity": "ODD", "site": "BGEE82101X" },
        { "street": "Via Roma", "from": 2, "to": 98, "parity": "EVEN", "site": "BGEE821021" },
        { "street": "Piazza Garibaldi", "site": "BGEE821032" }
    ]);
    assert_eq!(app.query_as(&school, STRADARIO, json!({ "r": round_id, "e": list })).await["importStradario"], 3);

    // Applications: the window and the rules refuse with their codes.
    app.query_as(&office, CLOCK, json!({ "t": "2027-01-03T10:00:00Z" })).await;
    let mut early_one = application(&round_id, 1, "Via Roma", "13/A", &["BGEE82101X"]);
    early_one["submittedAt"] = json!("2027-01-02T10:00:00+01:00");
    let e = error(&app, &school, REGISTER, json!({ "i": early_one })).await;
    assert_eq!(e["extensions"]["code"], "WINDOW_NOT_OPEN", "{e}");
    app.query_as(&office, CLOCK, json!({ "t": "2027-01-20T10:00:00Z" })).await;
    let mut too_young = application(&round_id, 2, "Via Roma", "3", &["BGEE82101X"]);
    too_young["child"]["birthDate"] = json!("2022-05-01");
    too_young["child"]["taxCode"] =
        json!(encode("VERDI", "ANNA", NaiveDate::from_ymd_opt(2022, 5, 1).unwrap(), Sex::F, "A246"));
    assert_eq!(
        error(&app, &school, REGISTER, json!({ "i": too_young })).await["extensions"]["code"],
        "NOT_ELIGIBLE_AGE"
    );
    let mut elsewhere = application(&round_id, 3, "Via Roma", "3", &["BGEE82101X", "BGEE82101X"]);
    let e = error(&app, &school, REGISTER, json!({ "i": elsewhere.clone() })).await;
    assert_eq!(e["extensions"]["field"], "input.sitePreferences[1]");
    elsewhere["sitePreferences"] = json!(["BGEE82101X"]);
    assert_eq!(error(&app, &other, REGISTER, json!({ "i": elsewhere })).await["extensions"]["code"], "NOT_FOUND");

    // Three ask the first site (two places), two the second, one the third.
    let mut registered = Vec::new();
    let mut with_points = application(&round_id, 10, "Via Roma", "13/A", &["BGEE82101X"]);
    with_points["claims"] = json!([{ "criterion": "lavoro" }, { "criterion": "fratelli", "quantity": 5 },
                                   { "criterion": "invalidita" }]);
    for (i, a) in [
        with_points,
        application(&round_id, 11, "Via Roma", "15", &["BGEE82101X"]),
        application(&round_id, 12, "Via Roma", "14", &["BGEE82101X", "BGEE821032"]),
        application(&round_id, 13, "Via Roma", "20", &["BGEE821021"]),
        application(&round_id, 14, "Piazza Garibaldi", "1", &["BGEE821021"]),
        application(&round_id, 15, "Via Roma", "7", &["BGEE821032"]),
    ]
    .into_iter()
    .enumerate()
    {
        let r = app.query_as(&school, REGISTER, json!({ "i": a })).await["registerApplication"].clone();
        assert_eq!(r["publicCode"].as_str().unwrap().len(), 8, "{r}");
        if i == 0 {
            // 5.00 + 2 × 1.50; the health criterion counts only verified.
            assert_eq!((r["points"].as_f64(), r["tier"].as_str()), (Some(8.0), Some("T2_CATCHMENT")));
        }
        registered.push(r);
    }
    let again = application(&round_id, 10, "Via Roma", "13/A", &["BGEE82101X"]);
    let mut again = again;
    again["externalRef"] = json!("PORTALE-99999");
    assert_eq!(
        error(&app, &school, REGISTER, json!({ "i": again })).await["extensions"]["code"],
        "DUPLICATE_APPLICATION"
    );

    // The secretariat's checks: a verified health claim counts, a rejected
    // one needs its reason; no certification, no precedence.
    const VERIFY: &str = "mutation($a: ID!, $c: String!) { verifyClaim(applicationId: $a, criterion: $c) { points } }";
    const REJECT: &str = "mutation($a: ID!, $c: String!, $r: String!) {
        rejectClaim(applicationId: $a, criterion: $c, reason: $r) { points } }";
    const DISABILITY: &str = "mutation($a: ID!) { verifyDisability(applicationId: $a) { tier } }";
    let first = registered[0]["id"].as_str().unwrap().to_owned();
    let d = app.query_as(&school, VERIFY, json!({ "a": first, "c": "invalidita" })).await;
    assert_eq!(d["verifyClaim"]["points"], 18.0, "5 + 2 × 1.5 + 10 once verified");
    let e = error(&app, &school, REJECT, json!({ "a": first, "c": "lavoro", "r": " " })).await;
    assert_eq!(e["extensions"]["field"], "reason");
    assert_eq!(error(&app, &school, DISABILITY, json!({ "a": first })).await["extensions"]["field"], "applicationId");
    assert_eq!(
        error(&app, &other, VERIFY, json!({ "a": first, "c": "lavoro" })).await["extensions"]["code"],
        "NOT_FOUND"
    );

    // The current ranking, as the school and its head teacher see it.
    let view = app.query_as(&head, ROUND, json!({ "id": round_id })).await["admissionRound"].clone();
    assert_eq!(view["state"], "OPEN");
    let sites: Vec<(String, u64, u64)> = view["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["site"]["code"].as_str().unwrap().to_owned(),
                s["admittedCount"].as_u64().unwrap(),
                s["freePlaces"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sites, [("BGEE82101X".into(), 2, 0), ("BGEE821021".into(), 2, 0), ("BGEE821032".into(), 1, 0)]);
    let first_site: Vec<&str> = view["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .map(|r| r["application"]["externalRef"].as_str().unwrap())
        .collect();
    // 10 has points; 12 lives at number 14, and even numbers are the second
    // site's catchment: at the first site it is group B, after 11.
    assert_eq!(first_site[0], "PORTALE-00010");
    assert_eq!(first_site[2], "PORTALE-00012");
    let waiting: Vec<&str> = view["waitingList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["application"]["externalRef"].as_str().unwrap())
        .collect();
    assert_eq!(waiting, ["PORTALE-00012"], "the third site is full with its own catchment pupil");
    assert!(view["timeModelOutcome"].as_array().unwrap().iter().any(|t| t["model"] == "40H" && t["activated"] == true));
    assert_eq!(view["cutoffs"].as_array().unwrap().len(), 3);

    // Out of scope: another school does not find the round; the office has
    // no line for a minor's application (its aggregates come separately).
    assert_eq!(error(&app, &other, ROUND, json!({ "id": round_id })).await["extensions"]["code"], "NOT_FOUND");
    assert_eq!(error(&app, &office, ROUND, json!({ "id": round_id })).await["extensions"]["code"], "FORBIDDEN");

    // Once the window is open the configuration is frozen, places are not.
    let mut moved = round_input(&table_id);
    moved["windowClosesAt"] = json!("2027-01-30T23:59:59+01:00");
    let e = error(&app, &school, UPDATE_ROUND, json!({ "id": round_id, "i": moved })).await;
    assert_eq!(e["extensions"]["code"], "ROUND_FROZEN");
    let mut more = round_input(&table_id);
    more["sites"][2]["places"] = json!(2);
    app.query_as(&school, UPDATE_ROUND, json!({ "id": round_id, "i": more })).await;
    let view = app.query_as(&school, ROUND, json!({ "id": round_id })).await["admissionRound"].clone();
    assert_eq!(view["waitingList"], json!([]), "the new place went to the redistributed applicant");
    let _ = demo_account(SCHOOL);

    // Publication: the head teacher, after the window, with the committed
    // seed and every resident's catchment resolved, once.
    let seed = |s: &str| json!({ "r": round_id, "s": s });
    const SET_SEED: &str = "mutation($r: ID!, $s: String!) { setDrawSeed(roundId: $r, seed: $s) { id } }";
    const PUBLISH: &str = "mutation($r: ID!) { publishProvisionalRanking(roundId: $r) {
        state complaintDeadline publishedLate } }";
    let e = error(&app, &head, PUBLISH, json!({ "r": round_id })).await;
    assert_eq!(e["extensions"]["code"], "WINDOW_STILL_OPEN");
    assert_eq!(error(&app, &head, SET_SEED, seed(SEED)).await["extensions"]["code"], "WINDOW_STILL_OPEN");
    let lost = application(&round_id, 16, "Via Milano", "3", &["BGEE821032"]);
    app.query_as(&school, REGISTER, json!({ "i": lost })).await;
    app.query_as(&office, CLOCK, json!({ "t": "2027-01-27T10:00:00Z" })).await;
    let e = error(&app, &head, PUBLISH, json!({ "r": round_id })).await;
    assert_eq!(e["extensions"]["code"], "DRAW_SEED_MISSING");
    assert_eq!(code(&app.post_as(Some(&school), SET_SEED, seed(SEED)).await.1), "FORBIDDEN");
    assert_eq!(error(&app, &head, SET_SEED, seed("another seed")).await["extensions"]["field"], "seed");
    app.query_as(&head, SET_SEED, seed(SEED)).await;
    assert_eq!(error(&app, &head, SET_SEED, seed(SEED)).await["extensions"]["code"], "DRAW_SEED_ALREADY_SET");
    let e = error(&app, &head, PUBLISH, json!({ "r": round_id })).await;
    assert_eq!(e["extensions"]["code"], "UNRESOLVED_RESIDENCE");
    assert!(e["message"].as_str().unwrap().contains("PORTALE-00016"), "{e}");
    let mut list = list;
    list.as_array_mut().unwrap().push(json!({ "street": "Via Milano", "site": "BGEE821032" }));
    app.query_as(&school, STRADARIO, json!({ "r": round_id, "e": list })).await;
    let published = app.query_as(&head, PUBLISH, json!({ "r": round_id })).await["publishProvisionalRanking"].clone();
    assert_eq!(published["state"], "PROVISIONAL");
    assert_eq!(published["publishedLate"], false);
    // The tenth day after publication, to its end in Italian time.
    assert_eq!(published["complaintDeadline"], "2027-02-06T22:59:59+00:00");
    assert_eq!(error(&app, &head, PUBLISH, json!({ "r": round_id })).await["extensions"]["code"], "ALREADY_PUBLISHED");

    const PUBLISHED: &str = "query($id: ID!) { admissionRound(id: $id) {
        current: ranking(stage: CURRENT) { application { externalRef } outcome { kind site } }
        provisional: ranking(stage: PROVISIONAL) { application { externalRef } outcome { kind site } }
        publicVersion(stage: PROVISIONAL) { sites { site placesNet rows { position publicCode group points outcome } } } } }";
    let d = app.query_as(&school, PUBLISHED, json!({ "id": round_id })).await["admissionRound"].clone();
    assert_eq!(d["current"], d["provisional"], "nothing changed since publication");
    let public = d["publicVersion"].to_string();
    for private in ["PORTALE-", "ROSSI", "Via Roma", "taxCode"] {
        assert!(!public.contains(private), "{private} in the public version: {public}");
    }
    let codes: Vec<String> = registered.iter().map(|r| r["publicCode"].as_str().unwrap().to_owned()).collect();
    assert!(codes.iter().all(|c| public.contains(c.as_str())), "every row is shown by its public code");

    // After publication corrections go through complaints; a claim found
    // false in a sample check is the exception.
    let e = error(&app, &school, VERIFY, json!({ "a": first, "c": "lavoro" })).await;
    assert_eq!(e["extensions"]["code"], "RANKING_PUBLISHED");
    let d = app.query_as(&school, REJECT, json!({ "a": first, "c": "lavoro", "r": "NON_VERIDICITA" })).await;
    assert_eq!(d["rejectClaim"]["points"], 13.0);

    // The snapshot is reproducible; a tampered one is caught.
    let out = verify(&app, &round_id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("provisional snapshot: inputs match their hash, outcome recomputed identically")
    );
    use diesel_async::RunQueryDsl;
    diesel::sql_query("UPDATE admission_snapshots SET inputs = jsonb_set(inputs, '{config,sites,0,places}', '9')")
        .execute(&mut app.db().conn().await)
        .await
        .unwrap();
    let out = verify(&app, &round_id);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("DIFFER"), "{}", String::from_utf8_lossy(&out.stdout));

    // A withdrawal is for good: the pupil cannot come back in this round.
    const WITHDRAW: &str = "mutation($a: ID!, $t: DateTime!) {
        withdrawApplication(applicationId: $a, at: $t) { outcome { kind } waitingPosition } }";
    let last = registered[5]["id"].as_str().unwrap().to_owned();
    let future = json!({ "a": last, "t": "2027-02-01T10:00:00Z" });
    assert_eq!(error(&app, &school, WITHDRAW, future).await["extensions"]["field"], "at");
    let gone = json!({ "a": last, "t": "2027-01-26T10:00:00Z" });
    let d = app.query_as(&school, WITHDRAW, gone.clone()).await;
    assert_eq!(d["withdrawApplication"], json!({ "outcome": { "kind": "REMOVED" }, "waitingPosition": null }));
    assert_eq!(error(&app, &school, WITHDRAW, gone).await["extensions"]["code"], "APPLICATION_REMOVED");
    let back = application(&round_id, 15, "Via Roma", "7", &["BGEE821032"]);
    assert_eq!(error(&app, &school, REGISTER, json!({ "i": back })).await["extensions"]["code"], "APPLICATION_REMOVED");
}

/// A round of `BGIC82100T` with its street list, its window open (clock:
/// 2027-01-20).
async fn an_open_round(app: &TestApp, school: &str, head: &str, office: &str) -> String {
    open_round(app, school, head, office, true).await
}

async fn open_round(app: &TestApp, school: &str, head: &str, office: &str, redistribute: bool) -> String {
    app.query_as(office, CLOCK, json!({ "t": "2026-12-01T10:00:00Z" })).await;
    let input = json!({ "institution": "BGIC82100T", "order": "PRIMARIA", "criteria": criteria() });
    let table = app.query_as(school, CREATE_TABLE, json!({ "i": input })).await["createPointsTable"]["id"].clone();
    app.query_as(head, APPROVE, json!({ "id": table })).await;
    let mut input = round_input(table.as_str().unwrap());
    input["redistributeBeyondPreferences"] = json!(redistribute);
    let round = app.query_as(school, CREATE_ROUND, json!({ "i": input })).await;
    let round = round["createAdmissionRound"]["id"].as_str().unwrap().to_owned();
    let list = json!([
        { "street": "Via Roma", "from": 1, "to": 99, "parity": "ODD", "site": "BGEE82101X" },
        { "street": "Via Roma", "from": 2, "to": 98, "parity": "EVEN", "site": "BGEE821021" },
        { "street": "Piazza Garibaldi", "site": "BGEE821032" }
    ]);
    app.query_as(school, STRADARIO, json!({ "r": round, "e": list })).await;
    app.query_as(office, CLOCK, json!({ "t": "2027-01-20T10:00:00Z" })).await;
    round
}

/// A round whose provisional ranking is published (clock: 2027-01-27):
/// the first site has two places for three requests and a non-resident.
/// Returns the round and each application's id by external reference.
async fn a_published_round(app: &TestApp, school: &str, head: &str, office: &str) -> (String, Vec<(String, String)>) {
    let round = an_open_round(app, school, head, office).await;
    let mut outsider = application(&round, 17, "Via Dante", "1", &["BGEE82101X"]);
    outsider["residence"]["municipality"] = json!("016024");
    let mut working = application(&round, 11, "Via Roma", "15", &["BGEE82101X"]);
    working["claims"] = json!([{ "criterion": "lavoro" }]);
    let mut ids = Vec::new();
    for a in [
        application(&round, 10, "Via Roma", "13", &["BGEE82101X"]),
        working,
        application(&round, 12, "Via Roma", "14", &["BGEE82101X", "BGEE821032"]),
        application(&round, 13, "Via Roma", "20", &["BGEE821021"]),
        application(&round, 15, "Via Roma", "7", &["BGEE821032"]),
        outsider,
    ] {
        let r = app.query_as(school, REGISTER, json!({ "i": a.clone() })).await["registerApplication"].clone();
        ids.push((a["externalRef"].as_str().unwrap().to_owned(), r["id"].as_str().unwrap().to_owned()));
    }
    publish(app, head, office, &round).await;
    (round, ids)
}

#[tokio::test]
async fn complaints_the_final_ranking_the_waiting_list_and_who_reads_what() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let head = head_teacher(&app).await;
    let office = app.login("ufficio.bg@ambito.invalid").await;
    let alzano = account(&app, "comune.alzano@example.org", ambito::auth::Role::Municipality, "016008").await;
    let milano = app.login("comune.milano@ambito.invalid").await;
    let (round, ids) = a_published_round(&app, &school, &head, &office).await;
    let id = |r: &str| ids.iter().find(|(x, _)| x == &format!("PORTALE-{r}")).unwrap().1.clone();
    let clock = |t: &'static str| {
        let (app, office) = (&app, &office);
        async move { app.query_as(office, CLOCK, json!({ "t": t })).await }
    };
    const OUTCOME: &str = "query($a: ID!) { admissionApplication(id: $a) {
        points outcome { kind site timeModel via } waitingPosition } }";
    let outcome = |a: String| {
        let (app, school) = (&app, &school);
        async move { app.query_as(school, OUTCOME, json!({ "a": a })).await["admissionApplication"].clone() }
    };
    // At publication 10 and 11 (its catchment) hold the first site's two
    // places; 12 goes to the second site (its catchment) by redistribution,
    // and the non-resident 17 waits.
    assert_eq!(outcome(id("00012")).await["outcome"]["via"], "REDISTRIBUTION");
    assert_eq!(outcome(id("00017")).await["outcome"]["kind"], "WAITING");

    // Why: each step with its rule, scoped like the application.
    const EXPLAIN: &str = "query($a: ID!) { admissionExplanation(applicationId: $a) { tier steps { rule text } } }";
    let e = app.query_as(&school, EXPLAIN, json!({ "a": id("00017") })).await["admissionExplanation"].clone();
    assert_eq!(e["tier"], "T4_OTHER");
    let steps: Vec<(String, String)> = e["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["rule"].as_str().unwrap().to_owned(), s["text"].as_str().unwrap().to_owned()))
        .collect();
    assert!(steps.iter().any(|(r, t)| r == "R-TIER-2" && t.starts_with("T4: not resident (016024")), "{steps:?}");
    assert!(
        steps.iter().any(|(r, t)| r == "R-SITE-3" && t.starts_with("BGEE82101X: the last admitted had T2 A")),
        "{steps:?}"
    );
    assert!(steps.iter().any(|(r, t)| r == "R-WL-2" && t.starts_with("waiting, position 1. W3")), "{steps:?}");
    let other = another_school(&app).await;
    assert_eq!(error(&app, &other, EXPLAIN, json!({ "a": id("00017") })).await["extensions"]["code"], "NOT_FOUND");

    // What-if: one more place at the first site would give it to 12 (its
    // first choice) and 12's place at the second site to the non-resident;
    // nothing is stored.
    const SIMULATE: &str = "query($r: ID!, $c: SimulationChanges!) { simulateAdmissionRound(roundId: $r, changes: $c) {
        changes { application { externalRef } before { kind waitingPosition } after { kind site } }
        freePlaces { site free } } }";
    let more = json!({ "r": round, "c": { "places": [{ "site": "BGEE82101X", "places": 3 }] } });
    let sim = app.query_as(&head, SIMULATE, more.clone()).await["simulateAdmissionRound"].clone();
    assert_eq!(
        sim["changes"],
        json!([
            { "application": { "externalRef": "PORTALE-00012" }, "before": { "kind": "ADMITTED", "waitingPosition": null },
              "after": { "kind": "ADMITTED", "site": "BGEE82101X" } },
            { "application": { "externalRef": "PORTALE-00017" }, "before": { "kind": "WAITING", "waitingPosition": 1 },
              "after": { "kind": "ADMITTED", "site": "BGEE821021" } }
        ])
    );
    let unknown = json!({ "r": round, "c": { "criteriaPoints": [{ "code": "nonno", "points": 3 }] } });
    assert_eq!(error(&app, &school, SIMULATE, unknown).await["extensions"]["field"], "changes.criteriaPoints");
    assert_eq!(error(&app, &other, SIMULATE, more).await["extensions"]["code"], "NOT_FOUND");
    assert_eq!(outcome(id("00017")).await["outcome"]["kind"], "WAITING");

    // Complaints: written, while the list is posted, decided once by the head teacher.
    const FILE: &str = "mutation($a: ID!, $t: DateTime!, $x: String!) {
        fileComplaint(applicationId: $a, receivedAt: $t, text: $x) { id decision } }";
    const DECIDE: &str = "mutation($k: ID!, $ok: Boolean!, $r: String, $c: ComplaintCorrections) {
        decideComplaint(id: $k, accept: $ok, reason: $r, corrections: $c) { decision reason } }";
    const APPROVE_FINAL: &str = "mutation($r: ID!) { approveFinalRanking(roundId: $r) {
        state approvedLate postedUntil sites { site { code } places admittedCount freePlaces } } }";
    let complaint =
        |t: &str| json!({ "a": id("00011"), "t": t, "x": "Entrambi i genitori lavorano: allego i contratti." });
    let e = error(&app, &school, FILE, complaint("2027-01-28T10:00:00Z")).await;
    assert_eq!(e["extensions"]["field"], "receivedAt", "not in the future: {e}");
    let filed = app.query_as(&school, FILE, complaint("2027-01-27T10:00:00Z")).await["fileComplaint"].clone();
    assert_eq!(filed["decision"], "PENDING");
    let k = filed["id"].as_str().unwrap().to_owned();
    clock("2027-02-01T10:00:00Z").await;
    assert_eq!(
        error(&app, &head, APPROVE_FINAL, json!({ "r": round })).await["extensions"]["code"],
        "COMPLAINT_WINDOW_OPEN"
    );
    clock("2027-02-08T10:00:00Z").await;
    let late = complaint("2027-02-07T10:00:00Z");
    assert_eq!(error(&app, &school, FILE, late).await["extensions"]["code"], "COMPLAINT_WINDOW_CLOSED");
    assert_eq!(
        error(&app, &head, APPROVE_FINAL, json!({ "r": round })).await["extensions"]["code"],
        "COMPLAINTS_PENDING"
    );
    assert_eq!(code(&app.post_as(Some(&school), DECIDE, json!({ "k": k, "ok": true })).await.1), "FORBIDDEN");
    assert_eq!(error(&app, &head, DECIDE, json!({ "k": k, "ok": false })).await["extensions"]["field"], "reason");
    let corrections = json!({ "verifyClaims": ["lavoro"] });
    let d = app.query_as(&head, DECIDE, json!({ "k": k, "ok": true, "c": corrections })).await;
    assert_eq!(d["decideComplaint"]["decision"], "ACCEPTED");
    assert_eq!(outcome(id("00011")).await["points"], 5.0);
    let again = json!({ "k": k, "ok": false, "r": "no" });
    assert_eq!(error(&app, &head, DECIDE, again).await["extensions"]["code"], "ALREADY_DECIDED");

    // The office: non-residents only, in the reduced form; residents are not found.
    const NON_RESIDENTS: &str = "query($r: ID!) { nonResidentApplications(roundId: $r) {
        id publicCode residenceMunicipality requestedSite timeModelPreferences late status outcome { kind site } } }";
    let list = app.query_as(&office, NON_RESIDENTS, json!({ "r": round })).await["nonResidentApplications"].clone();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["residenceMunicipality"], "016024");
    assert_eq!(list[0]["outcome"]["kind"], "WAITING");
    for private in ["ROSSI", "PORTALE", "Via Dante", "taxCode"] {
        assert!(!list.to_string().contains(private), "{private} in the office's list");
    }
    assert_eq!(code(&app.post_as(Some(&school), NON_RESIDENTS, json!({ "r": round })).await.1), "FORBIDDEN");
    // Its counts: per site and group, never a name nor a disability.
    const STATS: &str = "query { admissionStatistics(schoolYear: \"2027/28\") {
        institution stage late waiting sites { site places applications groupA groupB groupC admitted } } }";
    let stats = app.query_as(&office, STATS, json!({})).await["admissionStatistics"].clone();
    assert_eq!(
        (stats[0]["institution"].as_str(), stats[0]["stage"].as_str()),
        (Some("BGIC82100T"), Some("PROVISIONAL"))
    );
    assert_eq!(
        stats[0]["sites"][0],
        json!({ "site": "BGEE82101X", "places": 2, "applications": 4, "groupA": 2, "groupB": 1, "groupC": 1, "admitted": 2 })
    );
    let milan_office = app.login("ufficio.mi@ambito.invalid").await;
    assert_eq!(app.query_as(&milan_office, STATS, json!({})).await["admissionStatistics"], json!([]));
    const INVITE: &str =
        "mutation($a: ID!, $n: String!) { inviteNonAcceptance(applicationId: $a, note: $n) { id decision } }";
    let resident = json!({ "a": id("00010"), "n": "verifica" });
    assert_eq!(error(&app, &office, INVITE, resident).await["extensions"]["code"], "NOT_FOUND");
    let invite = json!({ "a": id("00017"), "n": "Posti insufficienti per i residenti dei comuni vicini" });
    let invitation = app.query_as(&office, INVITE, invite.clone()).await["inviteNonAcceptance"].clone();
    assert_eq!(invitation["decision"], "PENDING");
    assert_eq!(error(&app, &office, INVITE, invite).await["extensions"]["code"], "CONFLICT");

    // The final ranking: the head teacher, once; placements are fixed and posted 15 days.
    assert_eq!(code(&app.post_as(Some(&school), APPROVE_FINAL, json!({ "r": round })).await.1), "FORBIDDEN");
    let fin = app.query_as(&head, APPROVE_FINAL, json!({ "r": round })).await["approveFinalRanking"].clone();
    assert_eq!((fin["state"].as_str(), fin["approvedLate"].as_bool()), (Some("FINAL"), Some(false)));
    assert_eq!(fin["postedUntil"], "2027-02-23T22:59:59+00:00");
    assert_eq!(
        error(&app, &head, APPROVE_FINAL, json!({ "r": round })).await["extensions"]["code"],
        "ALREADY_APPROVED"
    );
    assert_eq!(
        error(&app, &school, FILE, complaint("2027-02-01T10:00:00Z")).await["extensions"]["code"],
        "COMPLAINT_WINDOW_CLOSED"
    );

    // The municipality of the institution reads the final public list while
    // it is posted; another municipality and other lists are not found.
    const PUBLIC: &str = "query($r: ID!, $s: RankingStage) { admissionPublicList(roundId: $r, stage: $s) {
        institution stage postedUntil placesNote rows { publicCode group points outcome site timeModel } } }";
    let public = app.query_as(&alzano, PUBLIC, json!({ "r": round })).await["admissionPublicList"].clone();
    assert_eq!((public["institution"].as_str(), public["stage"].as_str()), (Some("BGIC82100T"), Some("FINAL")));
    assert!(public["rows"].as_array().unwrap().iter().all(|r| r["timeModel"].is_string() || r["outcome"] != "AMMESSO"));
    for private in ["ROSSI", "PORTALE", "Via Roma"] {
        assert!(!public.to_string().contains(private), "{private} in the public list");
    }
    // The albo's PDF shows the same rows under the header of §7.2, and is
    // found only where the JSON is.
    let albo = |token: String, query: String| {
        let req = app.http.get(app.url(&format!("/exports/admissions-albo?round={round}{query}"))).bearer_auth(token);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
        }
    };
    let (status, pdf) = albo(alzano.clone(), String::new()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&pdf));
    let text = crate::exports::pdf_text(&pdf);
    for expected in [
        "Graduatoria definitiva",
        "BGIC82100T",
        "scuola primaria",
        "Affissa fino al 23/02/2027",
        "Plesso BGEE82101X",
        "posti al netto delle precedenze previste dalla legge",
    ] {
        assert!(text.contains(expected), "{expected} missing from the albo: {text}");
    }
    for row in public["rows"].as_array().unwrap() {
        assert!(text.contains(row["publicCode"].as_str().unwrap()), "{row} missing from the albo");
    }
    for private in ["ROSSI", "PORTALE", "Via Roma"] {
        assert!(!text.contains(private), "{private} in the albo");
    }
    assert_eq!(albo(alzano.clone(), "&stage=provisional".into()).await.0, 404);
    assert_eq!(albo(milano.clone(), String::new()).await.0, 404);
    assert_eq!(albo(alzano.clone(), "&stage=current".into()).await.0, 400);
    let (status, pdf) = albo(school.clone(), "&stage=provisional".into()).await;
    assert_eq!(status, 200, "the school keeps what it published");
    assert!(crate::exports::pdf_text(&pdf).contains("Graduatoria provvisoria"));

    let provisional = json!({ "r": round, "s": "PROVISIONAL" });
    assert_eq!(error(&app, &alzano, PUBLIC, provisional).await["extensions"]["code"], "NOT_FOUND");
    assert_eq!(error(&app, &milano, PUBLIC, json!({ "r": round })).await["extensions"]["code"], "NOT_FOUND");
    assert_eq!(error(&app, &alzano, ROUND, json!({ "id": round })).await["extensions"]["code"], "FORBIDDEN");

    // The waiting list: a freed place goes to the head of the list, with a
    // model among those formed; places never go below the admitted.
    const ADMIT: &str = "mutation($r: ID!, $s: String!) { admitFromWaitingList(roundId: $r, site: $s) {
        application { externalRef outcome { kind site timeModel via } } } }";
    const PLACES: &str =
        "mutation($r: ID!, $s: String!, $p: Int!) { setSitePlaces(roundId: $r, site: $s, places: $p) { id } }";
    let first_site = json!({ "r": round, "s": "BGEE82101X" });
    assert_eq!(error(&app, &school, ADMIT, first_site.clone()).await["extensions"]["code"], "NO_FREE_PLACE");
    let shrink = json!({ "r": round, "s": "BGEE82101X", "p": 1 });
    assert_eq!(error(&app, &school, PLACES, shrink).await["extensions"]["code"], "PLACES_BELOW_ADMITTED");
    const WITHDRAW: &str = "mutation($a: ID!, $t: DateTime!) { withdrawApplication(applicationId: $a, at: $t) { id } }";
    app.query_as(&school, WITHDRAW, json!({ "a": id("00010"), "t": "2027-02-08T09:00:00Z" })).await;
    let head_of_list = app.query_as(&school, ROUND, json!({ "id": round })).await["admissionRound"]["waitingList"][0]
        ["application"]["externalRef"]
        .clone();
    let admitted =
        app.query_as(&school, ADMIT, first_site.clone()).await["admitFromWaitingList"]["application"].clone();
    assert_eq!(admitted["externalRef"], head_of_list);
    assert_eq!(admitted["outcome"]["via"], "WAITING_LIST");
    assert_eq!(admitted["outcome"]["site"], "BGEE82101X");

    // A nulla osta: due in five days, decided late is flagged; issued, the
    // pupil leaves for good and the place is free again.
    const REQUEST: &str = "mutation($a: ID!, $t: DateTime!) {
        requestNullaOsta(applicationId: $a, requestedAt: $t, reason: \"trasferimento della famiglia\",
                         destination: \"BGIC81000X\") { id dueOn decision } }";
    const DECIDE_NO: &str = "mutation($n: ID!, $i: Boolean!, $r: String) {
        decideNullaOsta(id: $n, issue: $i, reason: $r) { decision overdue } }";
    let request = json!({ "a": id("00011"), "t": "2027-02-08T09:00:00Z" });
    let n = app.query_as(&school, REQUEST, request.clone()).await["requestNullaOsta"].clone();
    assert_eq!((n["dueOn"].as_str(), n["decision"].as_str()), (Some("2027-02-13"), Some("PENDING")));
    assert_eq!(error(&app, &school, REQUEST, request).await["extensions"]["code"], "CONFLICT");
    clock("2027-02-15T10:00:00Z").await;
    let n_id = json!({ "n": n["id"], "i": true });
    assert_eq!(code(&app.post_as(Some(&school), DECIDE_NO, n_id.clone()).await.1), "FORBIDDEN");
    let d = app.query_as(&head, DECIDE_NO, n_id.clone()).await["decideNullaOsta"].clone();
    assert_eq!(d, json!({ "decision": "ISSUED", "overdue": true }));
    assert_eq!(error(&app, &head, DECIDE_NO, n_id).await["extensions"]["code"], "ALREADY_DECIDED");
    assert_eq!(outcome(id("00011")).await["outcome"]["kind"], "REMOVED");

    // A late disabled resident goes to the head of the list (W2), and waits
    // for the head teacher's assessment of inclusion before a call.
    let mut late = application(&round, 20, "Via Roma", "21", &["BGEE82101X"]);
    late["submittedAt"] = json!("2027-02-10T10:00:00+01:00");
    late["disability"] = json!({ "declared": true, "certifiedOn": "2027-02-01" });
    let late_id = app.query_as(&school, REGISTER, json!({ "i": late })).await["registerApplication"]["id"].clone();
    certify(&app, &school, late_id.as_str().unwrap(), "2027-02-01").await;
    let d = app
        .query_as(
            &school,
            "mutation($a: ID!) { verifyDisability(applicationId: $a) { waitingPosition } }",
            json!({ "a": late_id }),
        )
        .await;
    assert_eq!(d["verifyDisability"]["waitingPosition"], 1);
    assert_eq!(error(&app, &school, ADMIT, first_site.clone()).await["extensions"]["code"], "ASSESSMENT_PENDING");
    const ASSESS: &str = "mutation($a: ID!) { recordInclusionAssessment(applicationId: $a, confirmed: true) { id } }";
    assert_eq!(code(&app.post_as(Some(&school), ASSESS, json!({ "a": late_id })).await.1), "FORBIDDEN");
    let on_time = json!({ "a": id("00012") });
    assert_eq!(error(&app, &head, ASSESS, on_time).await["extensions"]["field"], "applicationId");
    app.query_as(&head, ASSESS, json!({ "a": late_id })).await;
    let admitted =
        app.query_as(&school, ADMIT, first_site.clone()).await["admitFromWaitingList"]["application"].clone();
    assert_eq!(admitted["externalRef"], "PORTALE-00020");
    assert_eq!(admitted["outcome"]["timeModel"], "40H", "its first preference was formed at this site");

    // The head teacher decides the office's invitation: the non-resident leaves.
    const DECIDE_INV: &str = "mutation($i: ID!) {
        decideNonAcceptance(id: $i, notAccepted: true, reason: \"residenti in attesa\") { decision } }";
    let inv = json!({ "i": invitation["id"] });
    assert_eq!(code(&app.post_as(Some(&office), DECIDE_INV, inv.clone()).await.1), "FORBIDDEN");
    assert_eq!(app.query_as(&head, DECIDE_INV, inv).await["decideNonAcceptance"]["decision"], "NOT_ACCEPTED");
    let list = app.query_as(&office, NON_RESIDENTS, json!({ "r": round })).await["nonResidentApplications"].clone();
    assert_eq!(
        (list[0]["status"].as_str(), list[0]["outcome"]["kind"].as_str()),
        (Some("NOT_ACCEPTED"), Some("REMOVED"))
    );

    // Both snapshots recompute identically.
    let out = verify(&app, &round);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("final snapshot: inputs match"));

    // After posting the municipality finds nothing; after 31 August the list is closed.
    clock("2027-02-24T10:00:00Z").await;
    assert_eq!(error(&app, &alzano, PUBLIC, json!({ "r": round })).await["extensions"]["code"], "NOT_FOUND");
    app.query_as(&school, PUBLIC, json!({ "r": round })).await;
    clock("2027-09-01T10:00:00Z").await;
    assert_eq!(error(&app, &school, ADMIT, first_site).await["extensions"]["code"], "ADMISSIONS_CLOSED");
}

#[tokio::test]
async fn the_demo_round_is_published_with_every_situation_and_verifies() {
    let app = TestApp::demo().await;
    let head = app.login("dirigente.bgic82100t@ambito.invalid").await;
    let stats = app
        .query_as(&head, "{ admissionStatistics(schoolYear: \"2026/27\") { roundId stage late } }", json!({}))
        .await["admissionStatistics"]
        .clone();
    assert_eq!(
        (stats[0]["stage"].as_str(), stats[0]["late"].as_u64().map(|n| n > 0)),
        (Some("PROVISIONAL"), Some(true))
    );
    let round = stats[0]["roundId"].as_str().unwrap().to_owned();
    let rounds =
        app.query_as(&head, "{ admissionRounds(schoolYear: \"2026/27\") { id institution } }", json!({})).await;
    assert_eq!(rounds["admissionRounds"], json!([{ "id": round, "institution": "BGIC82100T" }]));
    const DEMO: &str = "query($id: ID!) { admissionRound(id: $id) {
        state complaints { decision } nullaOstaRequests { decision }
        ranking(stage: PROVISIONAL) { tier territorialGroup outcome { kind via } }
        waitingList { group } } }";
    let d = app.query_as(&head, DEMO, json!({ "id": round })).await["admissionRound"].clone();
    assert_eq!(d["state"], "PROVISIONAL");
    assert_eq!(
        (d["complaints"][0]["decision"].as_str(), d["nullaOstaRequests"][0]["decision"].as_str()),
        (Some("PENDING"), Some("PENDING"))
    );
    let rows = d["ranking"].as_array().unwrap();
    assert!(rows.len() >= 100, "about 120 applications, {} on time", rows.len());
    let has = |f: &dyn Fn(&Value) -> bool| rows.iter().any(f);
    assert!(has(&|r| r["tier"] == "T1_DISABILITY"));
    for g in ["A", "B", "C"] {
        assert!(has(&|r| r["territorialGroup"] == g), "group {g}");
    }
    assert!(has(&|r| r["outcome"]["via"] == "REDISTRIBUTION") && has(&|r| r["outcome"]["kind"] == "WAITING"));
    let groups: Vec<&str> = d["waitingList"].as_array().unwrap().iter().map(|w| w["group"].as_str().unwrap()).collect();
    assert!(groups.contains(&"W2") && groups.contains(&"W4"), "{groups:?}");
    // The school's export: every application with its outcome, typed cells;
    // a read of identities in the trail; nobody else gets it.
    let export = |token: String, q: String| {
        let app = &app;
        async move {
            let r = app.http.get(app.url(&format!("/exports/admissions?{q}"))).bearer_auth(token).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    let (status, body) = export(head.clone(), format!("round={round}&format=csv")).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let mut lines = text.trim_start_matches('\u{feff}').lines();
    assert!(lines.next().unwrap().starts_with("Numero domanda;Codice pubblico;Cognome;Nome;Codice fiscale"));
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= 110, "{} rows", rows.len());
    assert!(rows.iter().any(|r| r.contains(";AMMESSO;")) && rows.iter().any(|r| r.contains(";LISTA_ATTESA;")));
    assert!(rows.iter().all(|r| r.split(';').nth(16).is_some_and(|p| p.contains(','))), "points with two decimals");
    let (status, xlsx) = export(head.clone(), format!("round={round}")).await;
    assert_eq!((status, &xlsx[..2]), (200, &b"PK"[..]));
    let office = app.login("ufficio.bg@ambito.invalid").await;
    assert_eq!(export(office, format!("round={round}&format=csv")).await.0, 403);
    {
        use ambito::db::schema::audit_events;
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        let exports: i64 = audit_events::table
            .filter(audit_events::action.eq("export"))
            .filter(audit_events::object_kind.eq("admission_round"))
            .filter(audit_events::object_id.eq(&round))
            .count()
            .get_result(&mut app.db().conn().await)
            .await
            .unwrap();
        assert_eq!(exports, 2, "each download is in the trail");
    }

    // The municipality of Alzano has nothing until a final list is posted.
    let alzano = app.login("comune.alzano@ambito.invalid").await;
    const PUBLIC: &str = "query($r: ID!) { admissionPublicList(roundId: $r) { stage } }";
    assert_eq!(error(&app, &alzano, PUBLIC, json!({ "r": round })).await["extensions"]["code"], "NOT_FOUND");
    let out = verify(&app, &round);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
async fn csv_files_of_applications_and_streets_are_taken_whole_or_not_at_all() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let head = head_teacher(&app).await;
    let office = app.login("ufficio.bg@ambito.invalid").await;
    let round = an_open_round(&app, &school, &head, &office).await;
    const STREETS: &str = "mutation($r: ID!, $f: String!) { importStradarioCsv(roundId: $r, csv: $f) }";
    let bad = "street;from;to;parity;site\nVia Roma;1;99;dispari;BGEE82101X\nVia Po;;;ogni;BGEE821021\n";
    let e = error(&app, &school, STREETS, json!({ "r": round, "f": bad })).await;
    assert_eq!(e["extensions"]["field"], "csv");
    assert!(e["message"].as_str().unwrap().contains("csv:3: parity"), "{e}");
    let good = "street;from;to;parity;site\nVia Roma;1;99;dispari;bgee82101x\nVia Roma;2;98;pari;BGEE821021\nPiazza Garibaldi;;;;BGEE821032\nVia Milano;;;tutti;BGEE821032\n";
    assert_eq!(app.query_as(&school, STREETS, json!({ "r": round, "f": good })).await["importStradarioCsv"], 4);

    const IMPORT: &str = "mutation($r: ID!, $f: String!) { importApplications(roundId: $r, csv: $f) }";
    let header = ambito::import::admissions::APPLICATION_COLUMNS.join(";");
    let line = |n: u32, birth: &str, when: &str| {
        let b = NaiveDate::parse_from_str(birth, "%Y-%m-%d").unwrap();
        let tax = encode("BIANCHI", "ANNA", b, Sex::F, "A246");
        format!(
            "RM{n};{when};ANNA;BIANCHI;{tax};{birth};F;016008;Via Roma;{n};BGEE82101X,BGEE821021;40H,30H;no;;lavoro, fratelli:2"
        )
    };
    // The third child is too young: its line is named and nothing stays.
    let file = [
        header.clone(),
        line(11, "2021-02-03", "2027-01-10 10:00"),
        line(12, "2021-03-04", "2027-01-11T09:00:00+01:00"),
        line(13, "2022-06-01", "2027-01-12 10:00"),
    ]
    .join("\n");
    let e = error(&app, &school, IMPORT, json!({ "r": round, "f": file })).await;
    assert_eq!(e["extensions"]["code"], "NOT_ELIGIBLE_AGE");
    assert!(e["message"].as_str().unwrap().starts_with("csv:4:"), "{e}");
    const COUNT: &str = "query($id: ID!) { admissionRound(id: $id) { ranking(stage: CURRENT) { points application { externalRef } } } }";
    let ranked = app.query_as(&school, COUNT, json!({ "id": round })).await["admissionRound"]["ranking"].clone();
    assert_eq!(ranked, json!([]), "all or nothing");
    // Half past midnight in Italy is still the 9th in UTC: the date exported is Italian.
    let file =
        [header, line(11, "2021-02-03", "2027-01-10 00:30"), line(12, "2021-03-04", "2027-01-11T09:00:00+01:00")]
            .join("\n");
    assert_eq!(app.query_as(&school, IMPORT, json!({ "r": round, "f": file })).await["importApplications"], 2);
    let ranked = app.query_as(&school, COUNT, json!({ "id": round })).await["admissionRound"]["ranking"].clone();
    assert_eq!(ranked.as_array().unwrap().len(), 2);
    assert!(ranked.as_array().unwrap().iter().all(|r| r["points"] == 8.0), "5 + 2 × 1.5: {ranked}");
    let csv = app
        .http
        .get(app.url(&format!("/exports/admissions?round={round}&format=csv")))
        .bearer_auth(&school)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = csv.lines().find(|l| l.starts_with("RM11;")).unwrap();
    assert_eq!(row.split(';').nth(10), Some("2027-01-10"), "{row}");
}

/// The certificate under L. 104/92 is an encrypted document of the
/// application, in S3: the school uploads, records and verifies it; nobody
/// else can add to it, list it or download it, and reading the disability
/// is in the trail. Without it there is no precedence.
#[tokio::test]
async fn a_certification_is_an_encrypted_document_of_the_application_for_the_school_alone() {
    use crate::harness::{TestDb, test_files};
    let options = ambito::server::Options { explorable: true, ..Default::default() };
    let app = TestApp::start_with(TestDb::demo().await, options, test_files(crate::attachments::bucket(), 8)).await;
    let school = app.login(SCHOOL).await;
    let head = head_teacher(&app).await;
    let office = app.login("ufficio.bg@ambito.invalid").await;
    let other = another_school(&app).await;
    let round = an_open_round(&app, &school, &head, &office).await;
    let mut input = application(&round, 30, "Via Roma", "3", &["BGEE82101X"]);
    input["disability"] = json!({ "declared": true, "certifiedOn": "2026-10-01" });
    let a = app.query_as(&school, REGISTER, json!({ "i": input })).await["registerApplication"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    const VERIFY: &str = "mutation($a: ID!) { verifyDisability(applicationId: $a) { tier } }";
    assert_eq!(error(&app, &school, VERIFY, json!({ "a": a })).await["extensions"]["field"], "applicationId");

    // Only the school of the application adds documents to it.
    const SLOT: &str = "mutation($i: CreateUploadInput!) { createUpload(input: $i) { uploadUrl } }";
    let slot = json!({ "i": { "parentId": a, "kind": "ADMISSION_DOCUMENT", "fileName": "v.pdf",
                              "contentType": "application/pdf", "size": 10 } });
    assert_eq!(code(&app.post_as(Some(&office), SLOT, slot.clone()).await.1), "FORBIDDEN");
    assert_eq!(error(&app, &other, SLOT, slot).await["extensions"]["code"], "NOT_FOUND");

    let pdf = b"%PDF-1.7 verbale di accertamento".to_vec();
    let doc = crate::attachments::upload_of(&app, &school, &a, "ADMISSION_DOCUMENT", "verbale.pdf", &pdf).await;
    // Stored sealed: the object holds no byte of the certificate in clear.
    let objects: Vec<object_store::ObjectMeta> =
        futures_util::TryStreamExt::try_collect(app.files.store.list(None)).await.unwrap();
    assert_eq!(objects.len(), 1);
    let sealed =
        object_store::ObjectStoreExt::get(&app.files.store, &objects[0].location).await.unwrap().bytes().await.unwrap();
    assert!(!sealed.windows(8).any(|w| w == b"verbale "), "the certificate is stored in clear");

    // The certificate must be the application's own and dated in time.
    let record = |d: &str, on: &str| json!({ "a": a, "d": d, "on": on });
    let e = error(&app, &school, CERTIFY, record(&uuid::Uuid::new_v4().to_string(), "2026-10-01")).await;
    assert_eq!(e["extensions"]["field"], "input.certificationAttachmentId");
    let e = error(&app, &school, CERTIFY, record(&doc, "2027-01-11")).await;
    assert_eq!(e["extensions"]["code"], "FACT_AFTER_SUBMISSION");
    assert_eq!(code(&app.post_as(Some(&other), CERTIFY, record(&doc, "2026-10-01")).await.1), "NOT_FOUND");
    let d = app.query_as(&school, CERTIFY, record(&doc, "2026-10-01")).await;
    assert_eq!(
        d["updateApplicationDisability"]["disability"],
        json!({ "declared": true, "certifiedOn": "2026-10-01", "certificationAttachmentId": doc, "verified": false })
    );
    assert_eq!(app.query_as(&school, VERIFY, json!({ "a": a })).await["verifyDisability"]["tier"], "T1_DISABILITY");
    // The same certificate keeps its check; another one needs a new check.
    let d = app.query_as(&school, CERTIFY, record(&doc, "2026-10-01")).await;
    assert_eq!(d["updateApplicationDisability"]["disability"]["verified"], true);
    let pdf2 = b"%PDF-1.7 verbale aggiornato".to_vec();
    let doc2 = crate::attachments::upload_of(&app, &school, &a, "ADMISSION_DOCUMENT", "nuovo.pdf", &pdf2).await;
    let d = app.query_as(&school, CERTIFY, record(&doc2, "2026-11-01")).await;
    assert_eq!(d["updateApplicationDisability"]["disability"]["verified"], false);

    // The school and its head teacher list and download them; others find nothing.
    const DOCS: &str = "query($a: ID!) { admissionApplication(id: $a) { documents { id fileName } } }";
    let listed = app.query_as(&head, DOCS, json!({ "a": a })).await["admissionApplication"]["documents"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let got = crate::attachments::get(&app, &school, &doc, None).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), pdf);
    for token in [&office, &other] {
        assert_eq!(crate::attachments::get(&app, token, &doc, None).await.status(), 404);
        let q = app.post_as(Some(token), "query($id: ID!) { attachment(id: $id) { id } }", json!({ "id": doc })).await;
        assert!(q.1["data"]["attachment"].is_null(), "{}", q.1);
    }

    // Reading the disability is a read of health data, in the trail.
    let reads = {
        use ambito::db::schema::audit_events as e;
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        let mut conn = app.db().conn().await;
        e::table
            .filter(e::action.eq("read"))
            .filter(e::object_kind.eq("admission_application"))
            .filter(e::object_id.eq(&a))
            .count()
            .get_result::<i64>(&mut conn)
            .await
            .unwrap()
    };
    assert!(reads >= 3, "each read of the disability is recorded ({reads})");
}

/// A-22: a declaration found false after the final ranking revokes the
/// admission it bought, and only that one; the place goes to the waiting
/// list and the pupil waits at the corrected position. After 31 August the
/// finding is only recorded. Along the way: a later complaint deadline
/// (A-4), the class-stay order (R-TM-6) and the enrolment checklist (R-DOC-1).
#[tokio::test]
async fn a_false_declaration_found_after_the_final_ranking_revokes_the_admission_it_bought() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let head = head_teacher(&app).await;
    let office = app.login("ufficio.bg@ambito.invalid").await;
    // No redistribution: who loses the first site waits for it.
    let round = open_round(&app, &school, &head, &office, false).await;
    let mut ids = std::collections::BTreeMap::new();
    for (n, number, site, claims) in [
        (40, "13", "BGEE82101X", json!([{ "criterion": "lavoro" }])), // 5 points
        (41, "17", "BGEE82101X", json!([{ "criterion": "fratelli", "quantity": 2 }])), // 3 points
        (42, "19", "BGEE82101X", json!([{ "criterion": "fratelli", "quantity": 1 }])), // 1.5 points
        (43, "2", "BGEE821021", json!([{ "criterion": "lavoro" }])),  // alone at the second site
    ] {
        let mut a = application(&round, n, "Via Roma", number, &[site]);
        a["claims"] = claims;
        let r = app.query_as(&school, REGISTER, json!({ "i": a })).await;
        ids.insert(n, r["registerApplication"]["id"].as_str().unwrap().to_owned());
    }
    let clock = |t: &'static str| {
        let (app, office) = (&app, &office);
        async move { app.query_as(office, CLOCK, json!({ "t": t })).await }
    };
    publish(&app, &head, &office, &round).await;
    let r = json!({ "r": round });
    // A-4: the school may give more time to complain, never less.
    const EXTEND: &str = "mutation($r: ID!, $t: DateTime!) {
        extendComplaintDeadline(roundId: $r, until: $t) { complaintDeadline } }";
    let until = |t: &str| json!({ "r": round, "t": t });
    assert_eq!(code(&app.post_as(Some(&office), EXTEND, until("2027-02-07T23:59:59")).await.1), "FORBIDDEN");
    assert_eq!(error(&app, &school, EXTEND, until("2027-02-05T12:00:00")).await["extensions"]["field"], "until");
    let d = app.query_as(&school, EXTEND, until("2027-02-07T23:59:59")).await;
    assert_eq!(d["extendComplaintDeadline"]["complaintDeadline"], "2027-02-07T22:59:59+00:00");
    clock("2027-02-07T12:00:00Z").await;
    const APPROVE_FINAL: &str = "mutation($r: ID!) { approveFinalRanking(roundId: $r) { id } }";
    assert_eq!(error(&app, &head, APPROVE_FINAL, r.clone()).await["extensions"]["code"], "COMPLAINT_WINDOW_OPEN");
    clock("2027-02-08T10:00:00Z").await;
    app.query_as(&head, APPROVE_FINAL, r).await;
    assert_eq!(error(&app, &school, EXTEND, until("2027-02-20T23:59:59")).await["extensions"]["code"], "RANKING_FINAL");
    // R-TM-6: who stays when pupils move between classes, for the school's sections.
    const STAY: &str =
        "query($r: ID!) { admissionRound(id: $r) { classStayOrder(site: \"BGEE82101X\") { externalRef } } }";
    let stay = app.query_as(&school, STAY, json!({ "r": round })).await["admissionRound"]["classStayOrder"].clone();
    assert_eq!(stay, json!([{ "externalRef": "PORTALE-00040" }, { "externalRef": "PORTALE-00041" }]));

    const OUTCOME: &str =
        "query($a: ID!) { admissionApplication(id: $a) { points outcome { kind site } waitingPosition } }";
    let outcome = |n: u32| {
        let (app, school, id) = (&app, &school, ids[&n].clone());
        async move { app.query_as(school, OUTCOME, json!({ "a": id })).await["admissionApplication"].clone() }
    };
    assert_eq!(outcome(40).await["outcome"]["kind"], "ADMITTED");
    assert_eq!(outcome(41).await["outcome"]["kind"], "ADMITTED");
    assert_eq!(outcome(42).await["waitingPosition"], 1);

    const REVOKE: &str = "mutation($a: ID!) {
        revokeAdmission(applicationId: $a, reason: \"controllo a campione: dichiarazione non veritiera\") {
            points outcome { kind } waitingPosition } }";
    const FALSE: &str = "mutation($a: ID!, $c: String!) {
        rejectClaim(applicationId: $a, criterion: $c, reason: \"NON_VERIDICITA\") { points } }";
    let a = |n: u32| json!({ "a": ids[&n] });
    // Only the head teacher revokes, and only for a declaration found false.
    assert_eq!(code(&app.post_as(Some(&school), REVOKE, a(40)).await.1), "FORBIDDEN");
    assert_eq!(error(&app, &head, REVOKE, a(40)).await["extensions"]["field"], "applicationId");
    // A false claim that bought nothing: the pupil is alone at the second site.
    app.query_as(&school, FALSE, json!({ "a": ids[&43], "c": "lavoro" })).await;
    assert_eq!(error(&app, &head, REVOKE, a(43)).await["extensions"]["code"], "ADMISSION_STANDS");
    assert_eq!(outcome(43).await["outcome"]["kind"], "ADMITTED");

    // The first pupil's 5 points were false: without them 41 and 42 come first.
    let d = app.query_as(&school, FALSE, json!({ "a": ids[&40], "c": "lavoro" })).await;
    assert_eq!(d["rejectClaim"]["points"], 0.0);
    let revoked = app.query_as(&head, REVOKE, a(40)).await["revokeAdmission"].clone();
    assert_eq!(revoked["outcome"]["kind"], "WAITING");
    assert_eq!(revoked["waitingPosition"], 2, "behind 42, who has 1.5 points");
    assert_eq!(error(&app, &head, REVOKE, a(40)).await["extensions"]["field"], "applicationId");
    const ADMIT: &str = "mutation($r: ID!, $s: String!) { admitFromWaitingList(roundId: $r, site: $s) {
        application { externalRef } } }";
    let admitted = app.query_as(&school, ADMIT, json!({ "r": round, "s": "BGEE82101X" })).await;
    assert_eq!(admitted["admitFromWaitingList"]["application"]["externalRef"], "PORTALE-00042");
    // The revoked placement is kept, and the act is in the trail.
    {
        use ambito::db::schema::{admission_revocations as rv, audit_events as e};
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        let mut conn = app.db().conn().await;
        let kept: Vec<(String, String)> = rv::table.select((rv::site_code, rv::reason)).load(&mut conn).await.unwrap();
        assert_eq!(kept, [("BGEE82101X".to_owned(), "controllo a campione: dichiarazione non veritiera".to_owned())]);
        let acts: i64 = e::table.filter(e::action.eq("revoke_admission")).count().get_result(&mut conn).await.unwrap();
        assert_eq!(acts, 1);
    }

    // R-DOC-1: placed pupils hand in two photos and the vaccination booklet;
    // the school sees what is missing, and nothing else follows.
    const RECEIVE: &str = "mutation($a: ID!, $p: Boolean, $v: Boolean, $on: Date!) {
        receiveEnrolmentDocuments(applicationId: $a, photos: $p, vaccinationBooklet: $v, receivedOn: $on) {
            enrolmentDocuments { photosReceivedOn missing overdue } } }";
    let receive = |n: u32, p: bool, v: bool, on: &str| json!({ "a": ids[&n], "p": p, "v": v, "on": on });
    assert_eq!(code(&app.post_as(Some(&office), RECEIVE, receive(41, true, false, "2027-02-08")).await.1), "FORBIDDEN");
    let e = error(&app, &school, RECEIVE, receive(40, true, false, "2027-02-08")).await;
    assert_eq!(e["extensions"]["field"], "applicationId", "40 waits: no enrolment yet");
    assert_eq!(
        error(&app, &school, RECEIVE, receive(41, false, false, "2027-02-08")).await["extensions"]["field"],
        "photos"
    );
    assert_eq!(
        error(&app, &school, RECEIVE, receive(41, true, false, "2027-02-09")).await["extensions"]["field"],
        "receivedOn"
    );
    let d = app.query_as(&school, RECEIVE, receive(41, true, false, "2027-02-08")).await;
    assert_eq!(
        d["receiveEnrolmentDocuments"]["enrolmentDocuments"],
        json!({ "photosReceivedOn": "2027-02-08", "missing": ["VACCINATION_BOOKLET"], "overdue": false })
    );
    app.query_as(&school, RECEIVE, receive(42, true, true, "2027-02-08")).await;
    const MISSING: &str = "query($r: ID!) { admissionRound(id: $r) {
        missingEnrolmentDocuments { externalRef enrolmentDocuments { missing overdue } } } }";
    let missing =
        app.query_as(&school, MISSING, json!({ "r": round })).await["admissionRound"]["missingEnrolmentDocuments"]
            .clone();
    let refs: Vec<&str> = missing.as_array().unwrap().iter().map(|m| m["externalRef"].as_str().unwrap()).collect();
    assert_eq!(refs, ["PORTALE-00041", "PORTALE-00043"], "42 handed in everything, 40 is not placed");

    // After 31 August a false declaration is recorded, and nothing follows.
    clock("2027-09-01T10:00:00Z").await;
    let missing =
        app.query_as(&school, MISSING, json!({ "r": round })).await["admissionRound"]["missingEnrolmentDocuments"]
            .clone();
    assert_eq!(missing[0]["enrolmentDocuments"], json!({ "missing": ["VACCINATION_BOOKLET"], "overdue": true }));
    app.query_as(&school, FALSE, json!({ "a": ids[&41], "c": "fratelli" })).await;
    assert_eq!(error(&app, &head, REVOKE, a(41)).await["extensions"]["code"], "ADMISSIONS_CLOSED");
    assert_eq!(outcome(41).await["outcome"]["kind"], "ADMITTED");
}

/// Instants written without an offset are Italian time: the pure rule
/// agrees with PostgreSQL's `Europe/Rome` every half hour of six years,
/// both changes of each year included, both ways (local time to instant,
/// instant to day), and the API reads them so.
#[tokio::test]
async fn an_instant_without_an_offset_is_italian_time() {
    use diesel::sql_types::{Array, Timestamptz};
    use diesel_async::RunQueryDsl;
    let app = TestApp::demo().await;
    let theirs: Vec<chrono::DateTime<chrono::Utc>> = {
        let mut conn = app.db().conn().await;
        diesel::select(diesel::dsl::sql::<Array<Timestamptz>>(
            "ARRAY(SELECT t AT TIME ZONE 'Europe/Rome' FROM generate_series(timestamp '2025-01-01',
                   timestamp '2030-12-31 23:30', interval '30 minutes') AS t)",
        ))
        .get_result(&mut conn)
        .await
        .unwrap()
    };
    let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    assert_eq!(theirs.len(), (6 * 365 + 1) * 48, "six years, 2028 a leap year");
    for (i, t) in theirs.iter().enumerate() {
        let local = start + chrono::Duration::minutes(30 * i as i64);
        assert_eq!(ambito::rules::rome::instant(local), *t, "{local}");
    }
    // And the other way: the day in Italy of every half hour, in UTC.
    let days: Vec<NaiveDate> = {
        use diesel::sql_types::Date;
        let mut conn = app.db().conn().await;
        diesel::select(diesel::dsl::sql::<Array<Date>>(
            "ARRAY(SELECT (t AT TIME ZONE 'Europe/Rome')::date FROM generate_series(timestamptz '2025-01-01 00:00Z',
                   timestamptz '2030-12-31 23:30Z', interval '30 minutes') AS t)",
        ))
        .get_result(&mut conn)
        .await
        .unwrap()
    };
    let utc_start = start.and_utc();
    for (i, day) in days.iter().enumerate() {
        let t = utc_start + chrono::Duration::minutes(30 * i as i64);
        assert_eq!(ambito::rules::rome::date(t), *day, "{t}");
    }

    let office = app.login("ufficio.bg@ambito.invalid").await;
    for (written, meant) in [
        ("2027-01-20T10:00:00", "2027-01-20T09:00:00+00:00"),
        ("2027-07-20T10:00", "2027-07-20T08:00:00+00:00"),
        ("2027-07-20T10:00:00+02:00", "2027-07-20T08:00:00+00:00"),
        ("2027-07-20T10:00:00Z", "2027-07-20T10:00:00+00:00"),
    ] {
        let d = app.query_as(&office, CLOCK, json!({ "t": written })).await;
        assert_eq!(d["setTestClock"], meant, "{written}");
    }
    let e = app.post_as(Some(&office), CLOCK, json!({ "t": "domani alle dieci" })).await.1;
    assert!(e["errors"][0]["message"].as_str().unwrap().contains("Italian time"), "{e}");
}
