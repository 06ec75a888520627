//! Process 2 through GraphQL, as the demo's municipalities, hubs, schools
//! and office: routing, the whole workflow, invalid and stale moves,
//! isolation, duplicates, self-registration and delta sync.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::harness::{TestApp, TestDb};

pub const MILANO: &str = "comune.milano@ambito.invalid";
pub const ABBIATEGRASSO: &str = "comune.abbiategrasso@ambito.invalid";
pub const CTI_CITY: &str = "cti.mi1@ambito.invalid";
pub const CTI_AMBIT: &str = "cti.abbiategrasso@ambito.invalid";
pub const START: &str = "start.mi1@ambito.invalid";
pub const OFFICE_MI: &str = "ufficio.mi@ambito.invalid";
const OFFICE_BG: &str = "ufficio.bg@ambito.invalid";

#[derive(QueryableByName)]
struct Code {
    #[diesel(sql_type = diesel::sql_types::Text)]
    code: String,
}

/// The code a one-row query returns (as `code`).
pub async fn code_where(db: &TestDb, sql: &str) -> String {
    let mut conn = db.conn().await;
    diesel::sql_query(sql).get_result::<Code>(&mut conn).await.unwrap().code
}

/// The demo's school accounts of process 2: (Polo START 1 school, Abbiategrasso ambit school).
pub async fn schools(db: &TestDb) -> (String, String) {
    let start = code_where(
        db,
        "SELECT min(a.code) AS code FROM (SELECT s.institution_code AS code FROM hub_sites h JOIN sites s
             ON s.code = h.site_code WHERE h.hub_code = 'START-MI-1' AND s.school_order = 'primaria') a
         JOIN memberships m ON m.institution_code = a.code",
    )
    .await;
    let ambit = code_where(
        db,
        "SELECT min(s.institution_code) AS code FROM sites s JOIN institutions i ON i.code = s.institution_code
         JOIN municipalities m ON m.istat_code = s.municipality_istat
         JOIN memberships ms ON ms.institution_code = i.code
         WHERE m.ambit_code = (SELECT ambit_code FROM municipalities WHERE istat_code = '015002')
           AND s.school_order = 'primaria' AND i.kind = 'state'",
    )
    .await;
    (start, ambit)
}

pub fn email_of(code: &str) -> String {
    format!("{}@istruzione.it", code.to_ascii_lowercase())
}

pub const CREATE: &str = "mutation($i: EnrolmentRequestInput!) { createEnrolmentRequest(input: $i) {
    id status version hub { code } municipality { istatCode } } }";

/// A request form for a minor of `age`-ish in primaria year 3.
pub fn form(first: &str, last: &str, zone: Option<i32>) -> Value {
    let born = chrono::Utc::now().date_naive() - chrono::Duration::days(365 * 8 + 100);
    json!({
        "firstName": first, "lastName": last, "birthDate": born.to_string(), "sex": "F",
        "nationality": "UA", "arrivedOn": (chrono::Utc::now().date_naive() - chrono::Duration::days(30)).to_string(),
        "languages": ["uk", "ru"], "specialNeeds": false, "guardianName": "Olena K.", "guardianPhone": "+39 333 0000000",
        "guardianEmail": "famiglia@example.org", "address": "Via Roma 1", "cityZone": zone,
        "order": "PRIMARIA", "yearOfStudy": 3,
    })
}

/// Enters a request as `municipality`; returns (id, version, hub).
pub async fn create(app: &TestApp, token: &str, form: Value) -> (String, i64, String) {
    let d = app.query_as(token, CREATE, json!({ "i": form })).await;
    let r = &d["createEnrolmentRequest"];
    assert_eq!(r["status"], "SUBMITTED");
    (
        r["id"].as_str().unwrap().to_owned(),
        r["version"].as_i64().unwrap(),
        r["hub"]["code"].as_str().unwrap().to_owned(),
    )
}

const GET: &str = "query($id: ID!) { enrolmentRequest(id: $id) { id status version school { code } hub { code }
    history { action fromStatus toStatus reason school { code } } } }";

async fn get(app: &TestApp, token: &str, id: &str) -> Value {
    app.query_as(token, GET, json!({ "id": id })).await["enrolmentRequest"].clone()
}

/// A move that must succeed: returns (status, version).
async fn mv(app: &TestApp, token: &str, doc: &str, vars: Value) -> (String, i64) {
    let d = app.query_as(token, doc, vars).await;
    let m = d.as_object().unwrap().values().next().unwrap();
    (m["status"].as_str().unwrap().to_owned(), m["version"].as_i64().unwrap())
}

/// A document that must fail: returns its first error's code.
async fn fails(app: &TestApp, token: &str, doc: &str, vars: Value) -> (String, Value) {
    let (_, body) = app.post_as(Some(token), doc, vars).await;
    let err = body["errors"][0].clone();
    assert!(err.is_object(), "expected an error: {body}");
    (err["extensions"]["code"].as_str().unwrap().to_owned(), err)
}

pub const TAKE: &str = "mutation($id: ID!, $v: Int!) { takeInCharge(id: $id, version: $v) { status version } }";
pub const PROPOSE: &str =
    "mutation($id: ID!, $v: Int!, $s: String!) { proposeSchool(id: $id, version: $v, school: $s) { status version } }";
const CONFIRM: &str = "mutation($id: ID!, $v: Int!) { confirmEnrolment(id: $id, version: $v) { status version
    request { status school { code } } } }";
pub const DECLINE: &str =
    "mutation($id: ID!, $v: Int!, $r: String!) { declineEnrolment(id: $id, version: $v, reason: $r) {
    status version request { id } } }";
pub const WITHDRAW: &str = "mutation($id: ID!, $v: Int!, $r: String!) {
    withdrawEnrolmentRequest(id: $id, version: $v, reason: $r) { status version } }";
pub const TRANSFER: &str = "mutation($id: ID!, $v: Int!, $h: String!, $r: String!) {
    transferEnrolmentRequest(id: $id, version: $v, hub: $h, reason: $r) { status version request { id } } }";

async fn count_rows(db: &TestDb, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = db.conn().await;
    diesel::sql_query(format!("SELECT count(*) AS n FROM {table}")).get_result::<N>(&mut conn).await.unwrap().n
}

#[tokio::test]
async fn a_request_goes_from_the_municipality_through_the_hub_to_a_school() {
    let app = TestApp::demo().await;
    let (_, ambit_school) = schools(app.db()).await;
    let town = app.login(ABBIATEGRASSO).await;
    let hub = app.login(CTI_AMBIT).await;
    let school = app.login(&email_of(&ambit_school)).await;
    let office = app.login(OFFICE_MI).await;

    let (id, v, hub_code) = create(&app, &town, form("Mariia", "Shevchenko", None)).await;
    let hub_me = app.query_as(&hub, "{ me { activeMembership { organization { code } } } }", json!({})).await;
    assert_eq!(hub_me["me"]["activeMembership"]["organization"]["code"], hub_code.as_str());

    // The hub finds it in its queue, newest first, and takes it in charge.
    let queue = app
        .query_as(
            &hub,
            "{ enrolmentRequests(first: 5, filter: { status: [SUBMITTED] }) { totalCount
            edges { node { id firstName guardianPhone municipality { istatCode } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(queue["enrolmentRequests"]["edges"][0]["node"]["id"], id.as_str());
    assert_eq!(queue["enrolmentRequests"]["edges"][0]["node"]["municipality"]["istatCode"], "015002");
    let (status, v) = mv(&app, &hub, TAKE, json!({ "id": id, "v": v })).await;
    assert_eq!((status.as_str(), v), ("IN_CHARGE", 2));

    // Before the proposal the school does not see the minor.
    assert!(get(&app, &school, &id).await.is_null());
    let (status, v) = mv(&app, &hub, PROPOSE, json!({ "id": id, "v": v, "s": ambit_school })).await;
    assert_eq!((status.as_str(), v), ("PROPOSED", 3));

    let seen = get(&app, &school, &id).await;
    assert_eq!(seen["status"], "PROPOSED");
    let d = app.query_as(&school, CONFIRM, json!({ "id": id, "v": v })).await;
    assert_eq!(d["confirmEnrolment"]["status"], "ENROLLED");
    assert_eq!(d["confirmEnrolment"]["request"]["school"]["code"], ambit_school.as_str());

    // Everyone involved sees the outcome and the recorded path.
    for token in [&town, &hub, &office] {
        let r = get(&app, token, &id).await;
        assert_eq!(r["status"], "ENROLLED");
        assert_eq!(r["version"], 4);
        let actions: Vec<&str> =
            r["history"].as_array().unwrap().iter().map(|t| t["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["SUBMIT", "TAKE_IN_CHARGE", "PROPOSE", "CONFIRM"]);
    }
    // The office monitors without the family's contacts.
    let (code, err) =
        fails(&app, &office, "query($id: ID!) { enrolmentRequest(id: $id) { guardianPhone } }", json!({ "id": id }))
            .await;
    assert_eq!(code, "FORBIDDEN", "{err}");
    // The other province's office does not see it at all.
    let bg = app.login(OFFICE_BG).await;
    assert!(get(&app, &bg, &id).await.is_null());
}

#[tokio::test]
async fn milan_first_cycle_goes_to_a_polo_start_and_high_school_to_the_city_cti() {
    let app = TestApp::demo().await;
    let milano = app.login(MILANO).await;
    let start = app.login(START).await;
    let cti = app.login(CTI_CITY).await;
    let (primary, _, hub) = create(&app, &milano, form("Andrii", "Bondarenko", Some(1))).await;
    assert_eq!(hub, "START-MI-1");
    let mut high = form("Sofiia", "Melnyk", None);
    let born = chrono::Utc::now().date_naive() - chrono::Duration::days(365 * 16 + 30);
    high["birthDate"] = json!(born.to_string());
    high["order"] = json!("SECONDARIA_SECONDO_GRADO");
    high["yearOfStudy"] = json!(2);
    let (secondary, _, hub) = create(&app, &milano, high).await;
    assert_eq!(hub, "CTI-MI-1");
    assert_eq!(get(&app, &start, &primary).await["id"], primary.as_str());
    assert!(get(&app, &start, &secondary).await.is_null());
    assert_eq!(get(&app, &cti, &secondary).await["id"], secondary.as_str());
    assert!(get(&app, &cti, &primary).await.is_null());
    // A zone no Polo serves, and none at all, are refused with the field named.
    let (code, err) = fails(&app, &milano, CREATE, json!({ "i": form("A", "B", None) })).await;
    assert_eq!((code.as_str(), err["extensions"]["field"].as_str()), ("BAD_USER_INPUT", Some("input.cityZone")));
    let (_, err) = fails(&app, &milano, CREATE, json!({ "i": form("A", "B", Some(42)) })).await;
    assert_eq!(err["extensions"]["field"], "input.cityZone");
}

#[tokio::test]
async fn invalid_moves_and_stale_versions_change_nothing() {
    let app = TestApp::demo().await;
    let (_, ambit_school) = schools(app.db()).await;
    let town = app.login(ABBIATEGRASSO).await;
    let hub = app.login(CTI_AMBIT).await;
    let (id, v, _) = create(&app, &town, form("Ivan", "Kovalenko", None)).await;
    let transitions = count_rows(app.db(), "enrolment_transitions").await;

    // Proposing before taking in charge is not a move of a submitted request.
    let (code, _) = fails(&app, &hub, PROPOSE, json!({ "id": id, "v": v, "s": ambit_school })).await;
    assert_eq!(code, "CONFLICT");
    // A move on a version someone else already changed.
    mv(&app, &hub, TAKE, json!({ "id": id, "v": v })).await;
    let (code, err) = fails(&app, &hub, TAKE, json!({ "id": id, "v": v })).await;
    assert_eq!(code, "CONFLICT", "{err}");
    let (code, _) = fails(&app, &town, WITHDRAW, json!({ "id": id, "v": v, "r": "moved away" })).await;
    assert_eq!(code, "CONFLICT");
    // A move of another kind of organisation, and a missing reason.
    let (code, _) = fails(&app, &town, TAKE, json!({ "id": id, "v": 2 })).await;
    assert_eq!(code, "FORBIDDEN");
    let (code, err) = fails(&app, &town, WITHDRAW, json!({ "id": id, "v": 2, "r": "  " })).await;
    assert_eq!((code.as_str(), err["extensions"]["field"].as_str()), ("BAD_USER_INPUT", Some("reason")));
    // A school outside the hub's territory, or that lacks the order.
    let (code, err) = fails(&app, &hub, PROPOSE, json!({ "id": id, "v": 2, "s": "BGIC82100T" })).await;
    assert_eq!((code.as_str(), err["extensions"]["field"].as_str()), ("BAD_USER_INPUT", Some("school")));

    let r = get(&app, &town, &id).await;
    assert_eq!((r["status"].as_str(), r["version"].as_i64()), (Some("IN_CHARGE"), Some(2)));
    assert_eq!(count_rows(app.db(), "enrolment_transitions").await, transitions + 1);

    // A withdrawn request is final.
    mv(&app, &town, WITHDRAW, json!({ "id": id, "v": 2, "r": "the family left Italy" })).await;
    let (code, _) = fails(&app, &hub, PROPOSE, json!({ "id": id, "v": 3, "s": ambit_school })).await;
    assert_eq!(code, "CONFLICT");
}

#[tokio::test]
async fn bad_forms_name_the_field_and_create_nothing() {
    let app = TestApp::demo().await;
    let town = app.login(ABBIATEGRASSO).await;
    let before = count_rows(app.db(), "enrolment_requests").await;
    let cases = [
        ("yearOfStudy", json!(5), "input.yearOfStudy"),
        ("order", json!("SECONDARIA_SECONDO_GRADO"), "input.order"),
        ("arrivedOn", json!("2001-01-01"), "input.arrivedOn"),
        ("nationality", json!("Ukraine"), "input.nationality"),
        ("guardianEmail", json!("not-an-address"), "input.guardianEmail"),
        ("firstName", json!("  "), "input.firstName"),
    ];
    for (key, value, field) in cases {
        let mut f = form("Oksana", "Tkachenko", None);
        f[key] = value;
        let (code, err) = fails(&app, &town, CREATE, json!({ "i": f })).await;
        let got = err["extensions"]["field"].as_str().unwrap_or_default();
        assert_eq!((code.as_str(), got), ("BAD_USER_INPUT", field), "{key}: {err}");
        assert!(!err["message"].as_str().unwrap().contains("Oksana"), "no personal data in errors: {err}");
    }
    assert_eq!(count_rows(app.db(), "enrolment_requests").await, before);
    // Only municipalities enter requests.
    let hub = app.login(CTI_AMBIT).await;
    let (code, _) = fails(&app, &hub, CREATE, json!({ "i": form("A", "B", None) })).await;
    assert_eq!(code, "FORBIDDEN");
}

#[tokio::test]
async fn each_organisation_sees_exactly_its_own_requests() {
    let app = TestApp::demo().await;
    let (start_school, ambit_school) = schools(app.db()).await;
    let milano = app.login(MILANO).await;
    let town = app.login(ABBIATEGRASSO).await;
    let start = app.login(START).await;
    let cti = app.login(CTI_CITY).await;
    let ambit = app.login(CTI_AMBIT).await;
    let (m_id, m_v, _) = create(&app, &milano, form("Taras", "Lysenko", Some(2))).await;
    let (t_id, _, _) = create(&app, &town, form("Yulia", "Savchenko", None)).await;
    // The Polo proposes the Milan minor to its school.
    let (_, v) = mv(&app, &start, TAKE, json!({ "id": m_id, "v": m_v })).await;
    mv(&app, &start, PROPOSE, json!({ "id": m_id, "v": v, "s": start_school })).await;

    let start_school_t = app.login(&email_of(&start_school)).await;
    let ambit_school_t = app.login(&email_of(&ambit_school)).await;
    let ids = |d: &Value| -> Vec<String> {
        d["enrolmentRequests"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = "{ enrolmentRequests(first: 100) { totalCount edges { node { id } } } }";
    let expectations: [(&str, &String, Vec<&String>); 6] = [
        ("Milano", &milano, vec![&m_id]),
        ("Abbiategrasso", &town, vec![&t_id]),
        ("Polo START 1", &start, vec![&m_id]),
        ("CTI of Milan city", &cti, vec![]),
        ("CTI of Abbiategrasso", &ambit, vec![&t_id]),
        ("the Polo's school", &start_school_t, vec![&m_id]),
    ];
    for (who, token, want) in expectations {
        let d = app.query_as(token, list, json!({})).await;
        let got = ids(&d);
        for id in [&m_id, &t_id] {
            assert_eq!(got.contains(id), want.contains(&id), "{who} and request {id}: {d}");
        }
        // (Totals per caller are checked against the policy in tests/it/policy_matrix.rs.)
    }
    // The other school sees neither; by id they do not exist; moves on them are not found.
    let d = app.query_as(&ambit_school_t, list, json!({})).await;
    assert!(!ids(&d).contains(&m_id) && !ids(&d).contains(&t_id));
    assert!(get(&app, &ambit_school_t, &m_id).await.is_null());
    let (code, _) = fails(&app, &ambit_school_t, CONFIRM, json!({ "id": m_id, "v": 3 })).await;
    assert_eq!(code, "NOT_FOUND");
    let (code, _) = fails(&app, &cti, TAKE, json!({ "id": t_id, "v": 1 })).await;
    assert_eq!(code, "NOT_FOUND");
    let (code, _) = fails(&app, &milano, WITHDRAW, json!({ "id": t_id, "v": 1, "r": "x" })).await;
    assert_eq!(code, "NOT_FOUND");
    // Same answer as an id that never existed.
    let (code, _) = fails(&app, &cti, TAKE, json!({ "id": "999999999", "v": 1 })).await;
    assert_eq!(code, "NOT_FOUND");
}

#[tokio::test]
async fn a_refusal_returns_the_minor_to_the_hub_and_a_transfer_hands_it_on() {
    let app = TestApp::demo().await;
    let (_, ambit_school) = schools(app.db()).await;
    let town = app.login(ABBIATEGRASSO).await;
    let hub = app.login(CTI_AMBIT).await;
    let school = app.login(&email_of(&ambit_school)).await;
    let (id, v, hub_code) = create(&app, &town, form("Denys", "Moroz", None)).await;
    let (_, v) = mv(&app, &hub, TAKE, json!({ "id": id, "v": v })).await;
    let (_, v) = mv(&app, &hub, PROPOSE, json!({ "id": id, "v": v, "s": ambit_school })).await;
    let d = app.query_as(&school, DECLINE, json!({ "id": id, "v": v, "r": "no places in year 3" })).await;
    assert_eq!(d["declineEnrolment"]["status"], "DECLINED");
    assert!(d["declineEnrolment"]["request"].is_null(), "the school no longer sees it");
    assert!(get(&app, &school, &id).await.is_null());
    // The school keeps its own part of the history, the hub sees the reason.
    let h = app
        .query_as(&school, "{ enrolmentHistory(first: 10) { edges { node { requestId action reason } } } }", json!({}))
        .await;
    let mine: Vec<&Value> = h["enrolmentHistory"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["requestId"] == id.as_str())
        .collect();
    assert_eq!(mine.len(), 2, "proposal and refusal: {h}");
    let r = get(&app, &hub, &id).await;
    assert_eq!(r["status"], "DECLINED");
    assert!(r["school"].is_null());
    assert_eq!(r["history"].as_array().unwrap().last().unwrap()["reason"], "no places in year 3");

    // The family moves to Milan: the hub hands the request to Milan's CTI.
    let v = r["version"].as_i64().unwrap();
    let d =
        app.query_as(&hub, TRANSFER, json!({ "id": id, "v": v, "h": "CTI-MI-1", "r": "family moved to Milan" })).await;
    assert_eq!(d["transferEnrolmentRequest"]["status"], "SUBMITTED");
    assert!(d["transferEnrolmentRequest"]["request"].is_null());
    assert!(get(&app, &hub, &id).await.is_null(), "the old hub no longer sees the minor");
    let h = app
        .query_as(
            &hub,
            "{ enrolmentHistory(first: 20) { edges { node { requestId action toHub { code } } } } }",
            json!({}),
        )
        .await;
    assert!(
        h["enrolmentHistory"]["edges"].as_array().unwrap().iter().any(|e| e["node"]["requestId"] == id.as_str()
            && e["node"]["action"] == "TRANSFER"
            && e["node"]["toHub"]["code"] == "CTI-MI-1"),
        "{h}"
    );
    let cti = app.login(CTI_CITY).await;
    let r = get(&app, &cti, &id).await;
    assert_eq!(r["status"], "SUBMITTED");
    assert_eq!(r["hub"]["code"], "CTI-MI-1");
    assert_ne!(hub_code, "CTI-MI-1");
    // A transfer to a hub of another province is refused.
    let v = r["version"].as_i64().unwrap();
    let (code, err) = fails(&app, &cti, TRANSFER, json!({ "id": id, "v": v, "h": "CTI-BG-1", "r": "x" })).await;
    assert_eq!((code.as_str(), err["extensions"]["field"].as_str()), ("BAD_USER_INPUT", Some("hub")));
}

#[tokio::test]
async fn likely_duplicates_are_flagged_to_the_hubs_not_merged() {
    let app = TestApp::demo().await;
    let milano = app.login(MILANO).await;
    let town = app.login(ABBIATEGRASSO).await;
    let mut f = form("Kateryna", "Hnatiuk", Some(1));
    let (first, ..) = create(&app, &milano, f.clone()).await;
    // The same minor, names swapped and spelt with other case, in another municipality.
    f["firstName"] = json!("HNATIUK");
    f["lastName"] = json!("kateryna");
    f["cityZone"] = Value::Null;
    let (second, ..) = create(&app, &town, f).await;
    assert_ne!(first, second);
    let q = "query($id: ID!) { enrolmentRequest(id: $id) { possibleDuplicateCount possibleDuplicates { id } } }";
    let hub = app.login(CTI_AMBIT).await;
    let d = app.query_as(&hub, q, json!({ "id": second })).await;
    assert_eq!(d["enrolmentRequest"]["possibleDuplicateCount"], 1);
    assert_eq!(d["enrolmentRequest"]["possibleDuplicates"], json!([]), "the other hub's request stays out of sight");
    let office = app.login(OFFICE_MI).await;
    let d = app.query_as(&office, q, json!({ "id": second })).await;
    assert_eq!(d["enrolmentRequest"]["possibleDuplicates"], json!([{ "id": first }]));
    let (code, _) = fails(&app, &town, q, json!({ "id": second })).await;
    assert_eq!(code, "FORBIDDEN");
}

#[tokio::test]
async fn a_school_registers_a_minor_it_enrolled_on_its_own() {
    let app = TestApp::demo().await;
    let (_, ambit_school) = schools(app.db()).await;
    let school = app.login(&email_of(&ambit_school)).await;
    let doc = "mutation($i: EnrolledMinorInput!) { registerEnrolledMinor(input: $i) { id status origin school { code } hub { code } } }";
    let d = app
        .query_as(
            &school,
            doc,
            json!({ "i": { "municipality": "015002", "minor": form("Roman", "Polishchuk", None) } }),
        )
        .await;
    let r = &d["registerEnrolledMinor"];
    assert_eq!((r["status"].as_str(), r["origin"].as_str()), (Some("ENROLLED"), Some("SCHOOL")));
    let id = r["id"].as_str().unwrap();
    // The office and the hub see it; the municipality, which did not enter it, does not.
    let office = app.login(OFFICE_MI).await;
    assert_eq!(get(&app, &office, id).await["status"], "ENROLLED");
    let hub = app.login(CTI_AMBIT).await;
    assert_eq!(get(&app, &hub, id).await["status"], "ENROLLED");
    let town = app.login(ABBIATEGRASSO).await;
    assert!(get(&app, &town, id).await.is_null());
    // A municipality of another province is refused.
    let (code, err) =
        fails(&app, &school, doc, json!({ "i": { "municipality": "016008", "minor": form("R", "P", None) } })).await;
    assert_eq!((code.as_str(), err["extensions"]["field"].as_str()), ("BAD_USER_INPUT", Some("input.municipality")));
}

const CHANGES: &str = "query($s: String, $n: Int) { enrolmentChanges(since: $s, first: $n) {
    changed { id status version } removed cursor complete } }";

#[tokio::test]
async fn delta_sync_returns_exactly_the_changes_since_the_cursor() {
    let app = TestApp::demo().await;
    let town = app.login(ABBIATEGRASSO).await;
    let hub = app.login(CTI_AMBIT).await;
    let mut ids = Vec::new();
    for (f, l) in [("Anna", "Koval"), ("Petro", "Shevchuk"), ("Olha", "Rudenko")] {
        ids.push(create(&app, &town, form(f, l, None)).await.0);
    }
    // A full sync in pages of two.
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let d = app.query_as(&hub, CHANGES, json!({ "s": cursor, "n": 2 })).await;
        let c = &d["enrolmentChanges"];
        seen.extend(c["changed"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        cursor = c["cursor"].clone();
        if c["complete"].as_bool().unwrap() {
            break;
        }
    }
    for id in &ids {
        assert!(seen.contains(id), "full sync has {id}");
    }
    // Nothing changed: nothing returned.
    let d = app.query_as(&hub, CHANGES, json!({ "s": cursor })).await;
    assert_eq!(d["enrolmentChanges"]["changed"], json!([]));
    let cursor = d["enrolmentChanges"]["cursor"].clone();
    // Two changes: exactly those two, at their new versions.
    mv(&app, &hub, TAKE, json!({ "id": ids[0], "v": 1 })).await;
    mv(&app, &town, WITHDRAW, json!({ "id": ids[2], "v": 1, "r": "returned home" })).await;
    let d = app.query_as(&hub, CHANGES, json!({ "s": cursor })).await;
    let c = &d["enrolmentChanges"];
    assert_eq!(
        c["changed"],
        json!([
            { "id": ids[0], "status": "IN_CHARGE", "version": 2 },
            { "id": ids[2], "status": "WITHDRAWN", "version": 2 },
        ])
    );
    assert_eq!(c["removed"], json!([]));
    // A transfer: the request leaves the hub's view and is listed as removed.
    let cursor = c["cursor"].clone();
    app.query_as(&hub, TRANSFER, json!({ "id": ids[1], "v": 1, "h": "CTI-MI-1", "r": "moved" })).await;
    let d = app.query_as(&hub, CHANGES, json!({ "s": cursor })).await;
    assert_eq!(d["enrolmentChanges"]["changed"], json!([]));
    assert_eq!(d["enrolmentChanges"]["removed"], json!([ids[1]]));
    // A null page size is the default; a forged cursor is refused.
    let (code, _) = fails(&app, &hub, CHANGES, json!({ "s": cursor, "n": 0 })).await;
    assert_eq!(code, "BAD_USER_INPUT");
    // A forged cursor is refused.
    let (code, err) = fails(&app, &hub, CHANGES, json!({ "s": "djF8eHx4fDA" })).await;
    assert_eq!((code.as_str(), err["extensions"]["field"].as_str()), ("BAD_USER_INPUT", Some("since")));
}

async fn export(app: &TestApp, token: &str, query: &str) -> (u16, Vec<u8>) {
    let resp =
        app.http.get(app.url(&format!("/exports/enrolment-requests?{query}"))).bearer_auth(token).send().await.unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

const TOTAL: &str = "query($f: EnrolmentRequestFilter) { enrolmentRequests(first: 1, filter: $f) { totalCount } }";

/// The office's and the hubs' monitoring: counts that add up to what they
/// see, and an export with exactly their rows and no names.
#[tokio::test]
async fn monitoring_counts_and_exports_show_exactly_the_callers_requests() {
    use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
    let app = TestApp::demo().await;
    let town = app.login(ABBIATEGRASSO).await;
    create(&app, &town, form("Nadiia", "Zaporozhets", None)).await;
    let office = app.login(OFFICE_MI).await;
    let hub = app.login(CTI_AMBIT).await;

    for (token, who) in [(&office, "office"), (&hub, "hub")] {
        let total = app.query_as(token, TOTAL, json!({})).await["enrolmentRequests"]["totalCount"].as_u64().unwrap();
        let counts = app
            .query_as(token, "{ enrolmentCounts(by: STATUS) { key requests open enrolled waitingLong } }", json!({}))
            .await;
        let rows = counts["enrolmentCounts"].as_array().unwrap();
        assert_eq!(rows.iter().map(|r| r["requests"].as_u64().unwrap()).sum::<u64>(), total, "{who}");
        for r in rows {
            let open = !matches!(r["key"].as_str(), Some("enrolled" | "withdrawn"));
            assert_eq!(r["open"] == r["requests"], open, "{who}: {r}");
        }
        let enrolled = app
            .query_as(token, TOTAL, json!({ "f": { "status": ["ENROLLED"] } }))
            .await["enrolmentRequests"]["totalCount"]
            .as_u64()
            .unwrap();
        let counted = rows.iter().find(|r| r["key"] == "enrolled").map_or(0, |r| r["enrolled"].as_u64().unwrap());
        assert_eq!(counted, enrolled, "{who}");

        let (status, bytes) = export(&app, token, "format=xlsx").await;
        assert_eq!(status, 200, "{who}");
        let mut book: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("a valid xlsx file");
        let sheet = book.worksheet_range("Richieste").expect("the sheet");
        let header: Vec<String> = sheet.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
        assert!(!header.iter().any(|h| h == "Nome" || h == "Cognome"), "no names in the export: {header:?}");
        assert_eq!(sheet.rows().count() as u64 - 1, total, "{who}: one row per request");
        assert!(sheet.rows().skip(1).all(|r| matches!(r[9], Data::Float(_))), "ages are numbers");

        let (_, csv) = export(&app, token, "format=csv&status=submitted").await;
        let text = String::from_utf8(csv).unwrap();
        assert!(!text.contains("Zaporozhets") && !text.contains("+39"), "no names or contacts");
        let submitted = app
            .query_as(token, TOTAL, json!({ "f": { "status": ["SUBMITTED"] } }))
            .await["enrolmentRequests"]["totalCount"]
            .as_u64()
            .unwrap();
        assert_eq!(text.lines().count() as u64 - 1, submitted, "{who}: the CSV has the filtered rows");
    }
    // The hub's counts cover its own hub only.
    let by_hub = app.query_as(&hub, "{ enrolmentCounts(by: HUB) { key } }", json!({})).await;
    assert_eq!(by_hub["enrolmentCounts"].as_array().unwrap().len(), 1);
    // Municipalities and schools do not get the monitoring.
    let (status, _) = export(&app, &town, "format=csv").await;
    assert_eq!(status, 403);
    let (code, _) = fails(&app, &town, "{ enrolmentCounts(by: STATUS) { key } }", json!({})).await;
    assert_eq!(code, "FORBIDDEN");
    let (status, _) = export(&app, &office, "format=pdf").await;
    assert_eq!(status, 400);
}

const EDIT: &str = "mutation($id: ID!, $v: Int!, $i: EnrolmentRequestInput!) {
    updateEnrolmentRequest(id: $id, version: $v, input: $i) { id version status address hub { code } } }";

/// The municipality corrects its form with the version it read; a stale
/// version, or an edit that would move the request to another hub once in
/// charge, is refused and changes nothing.
#[tokio::test]
async fn edits_name_their_version_and_never_overwrite_silently() {
    let app = TestApp::demo().await;
    let milano = app.login(MILANO).await;
    let start = app.login(START).await;
    let (id, v, hub) = create(&app, &milano, form("Vira", "Hrytsenko", Some(1))).await;
    assert_eq!(hub, "START-MI-1");
    let mut f = form("Vira", "Hrytsenko", Some(2));
    f["address"] = json!("Via Padova 100");
    let d = app.query_as(&milano, EDIT, json!({ "id": id, "v": v, "i": f })).await;
    let r = &d["updateEnrolmentRequest"];
    assert_eq!((r["version"].as_i64(), r["address"].as_str()), (Some(2), Some("Via Padova 100")));
    assert_eq!(r["hub"]["code"], "START-MI-1", "zones 1 and 2 are the same Polo's");
    // The same version again: someone else's change came first.
    let (code, _) = fails(&app, &milano, EDIT, json!({ "id": id, "v": v, "i": form("X", "Y", Some(2)) })).await;
    assert_eq!(code, "CONFLICT");
    // In charge, an edit may not move it to another Polo.
    mv(&app, &start, TAKE, json!({ "id": id, "v": 2 })).await;
    let (code, err) =
        fails(&app, &milano, EDIT, json!({ "id": id, "v": 3, "i": form("Vira", "Hrytsenko", Some(3)) })).await;
    assert_eq!((code.as_str(), err["extensions"]["field"].as_str()), ("BAD_USER_INPUT", Some("input.cityZone")));
    let r = get(&app, &start, &id).await;
    assert_eq!((r["version"].as_i64(), r["hub"]["code"].as_str()), (Some(3), Some("START-MI-1")));
    let history: Vec<&str> = r["history"].as_array().unwrap().iter().map(|t| t["action"].as_str().unwrap()).collect();
    assert_eq!(history, ["SUBMIT", "EDIT", "TAKE_IN_CHARGE"]);

    // Before a hub takes it, a new zone routes it to that zone's Polo.
    let (other, v, _) = create(&app, &milano, form("Lev", "Marchenko", Some(1))).await;
    let d = app.query_as(&milano, EDIT, json!({ "id": other, "v": v, "i": form("Lev", "Marchenko", Some(3)) })).await;
    assert_eq!(d["updateEnrolmentRequest"]["hub"]["code"], "START-MI-2");
    assert!(get(&app, &start, &other).await.is_null(), "the first Polo no longer sees it");
    // Another municipality cannot edit it: not found.
    let town = app.login(ABBIATEGRASSO).await;
    let (code, _) = fails(&app, &town, EDIT, json!({ "id": other, "v": 2, "i": form("A", "B", None) })).await;
    assert_eq!(code, "NOT_FOUND");
}

#[tokio::test]
async fn a_queue_shows_each_minors_municipality_as_the_request_itself_does() {
    let app = TestApp::demo().await;
    let milano = app.login(MILANO).await;
    create(&app, &milano, form("Taras", "Lysenko", Some(2))).await;
    create(&app, &app.login(ABBIATEGRASSO).await, form("Yulia", "Savchenko", None)).await;
    for who in [OFFICE_MI, CTI_AMBIT, MILANO] {
        let token = app.login(who).await;
        // The page fetches the municipalities with its rows; a single request, through the loader.
        let shown = "id municipality { istatCode name }";
        let along = app
            .query_as(
                &token,
                &format!("{{ enrolmentRequests(first: 100) {{ totalCount nodes {{ {shown} }} }} }}"),
                json!({}),
            )
            .await;
        let plain =
            app.query_as(&token, "{ enrolmentRequests(first: 100) { totalCount nodes { id } } }", json!({})).await;
        let nodes = along["enrolmentRequests"]["nodes"].as_array().unwrap();
        assert!(!nodes.is_empty(), "{who} has requests in the demo");
        let ids = |d: &Value| -> Vec<Value> {
            d["enrolmentRequests"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].clone()).collect()
        };
        assert_eq!(ids(&along), ids(&plain), "{who}");
        assert_eq!(along["enrolmentRequests"]["totalCount"], plain["enrolmentRequests"]["totalCount"]);
        app.assert_each_as_alone(&token, nodes, "enrolmentRequest", shown).await;
        for node in nodes {
            assert!(node["municipality"]["name"].as_str().is_some_and(|n| !n.is_empty()), "{node}");
        }
    }
}

/// The review's gap in delta sync: a request withdrawn by its municipality
/// after the hub proposed it to a school leaves the school's view, and the
/// school's next sync lists it as removed.
#[tokio::test]
async fn a_withdrawal_after_a_proposal_is_removed_from_the_schools_sync() {
    let app = TestApp::demo().await;
    let (_, ambit_school) = schools(app.db()).await;
    let town = app.login(ABBIATEGRASSO).await;
    let hub = app.login(CTI_AMBIT).await;
    let school = app.login(&email_of(&ambit_school)).await;
    let (id, v, _) = create(&app, &town, form("Oksana", "Melnyk", None)).await;
    let (_, v) = mv(&app, &hub, TAKE, json!({ "id": id, "v": v })).await;
    let (_, v) = mv(&app, &hub, PROPOSE, json!({ "id": id, "v": v, "s": ambit_school })).await;
    let d = app.query_as(&school, CHANGES, json!({ "s": null })).await;
    let listed: Vec<&str> =
        d["enrolmentChanges"]["changed"].as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
    assert!(listed.contains(&id.as_str()), "the school sees the proposal: {d}");
    let cursor = d["enrolmentChanges"]["cursor"].clone();
    mv(&app, &town, WITHDRAW, json!({ "id": id, "v": v, "r": "the family left" })).await;
    assert!(get(&app, &school, &id).await.is_null(), "the school no longer sees it");
    let d = app.query_as(&school, CHANGES, json!({ "s": cursor })).await;
    assert_eq!(d["enrolmentChanges"]["changed"], json!([]), "{d}");
    assert_eq!(d["enrolmentChanges"]["removed"], json!([id]), "{d}");
}

/// Every demo account has rows to look at (the review found Abbiategrasso's
/// account saw no request): pupils for schools and offices, requests for
/// municipalities and hubs, its own memberships for a teacher.
#[tokio::test]
async fn every_demo_account_has_rows_to_look_at() {
    let app = TestApp::demo().await;
    for account in crate::harness::demo_accounts() {
        let token = app.login(&account.email).await;
        let (query, path): (&str, &[&str]) = match account.role.as_str() {
            "school" | "provincial" => ("{ pupils(first: 1) { totalCount } }", &["pupils", "totalCount"]),
            "head_teacher" => {
                ("{ admissionStatistics(schoolYear: \"2026/27\") { roundId } }", &["admissionStatistics"])
            }
            "municipality" | "cti_hub" => {
                ("{ enrolmentRequests(first: 1) { totalCount } }", &["enrolmentRequests", "totalCount"])
            }
            _ => ("{ me { memberships { id } } }", &["me", "memberships"]),
        };
        let d = app.query_as(&token, query, json!({})).await;
        let found = path.iter().fold(&d, |v, k| &v[*k]);
        let n = found.as_u64().or_else(|| found.as_array().map(|a| a.len() as u64)).unwrap_or(0);
        assert!(n > 0, "{} ({}) has nothing to look at: {d}", account.email, account.role);
    }
}
