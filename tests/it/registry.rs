//! Process 1 through GraphQL, as the demo's schools and offices: windows,
//! classes, pupils, support hours, submission, approval, scope and audit.

use ambito::db::schema::{audit_events, pupils, support_requests};
use ambito::rules::school_year::SchoolYear;
use ambito::rules::tax_code::{self, Sex};
use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::harness::{TestApp, demo_accounts};

const SCHOOL: &str = "bgic82100t@istruzione.it";
const OFFICE: &str = "ufficio.bg@ambito.invalid";
const OFFICE_MI: &str = "ufficio.mi@ambito.invalid";

fn this_year() -> String {
    SchoolYear::of(chrono::Utc::now().date_naive()).to_string()
}

/// The e-mail and code of the demo's other Bergamo school (it has submitted its request).
pub fn other_school() -> (String, String) {
    let a = demo_accounts()
        .into_iter()
        .filter(|a| a.role == "school" && a.organization.as_deref().is_some_and(|o| o.starts_with("BG")))
        .nth(1)
        .expect("a second Bergamo school");
    (a.email, a.organization.unwrap())
}

const PUPILS: &str = "query($f: PupilFilterInput, $after: String) {
    pupils(first: 100, after: $after, filter: $f) { totalCount
        edges { node { id school { code } firstName taxCode certification { severity }
                       supportRequest { ratio hours approvedHours } } }
        pageInfo { hasNextPage endCursor } } }";

/// Every pupil the caller can list, following the pages.
async fn all_pupils(app: &TestApp, token: &str, filter: Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app.query_as(token, PUPILS, json!({ "f": filter, "after": after })).await;
        let page = &data["pupils"];
        out.extend(page["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()));
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            assert_eq!(page["totalCount"].as_u64().unwrap() as usize, out.len());
            return out;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// A primaria class of the caller's school this year.
pub async fn a_primaria_class(app: &TestApp, token: &str) -> String {
    let data = app
        .query_as(
            token,
            "query($y: String) { classes(first: 100, filter: { schoolYear: $y }) { edges { node { id order } } } }",
            json!({ "y": this_year() }),
        )
        .await;
    let edges = data["classes"]["edges"].as_array().unwrap();
    edges.iter().find(|e| e["node"]["order"] == "PRIMARIA").expect("a primaria class")["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn new_pupil(class_id: &str, surname: &str, severity: &str) -> Value {
    let birth = NaiveDate::from_ymd_opt(2018, 5, 17).unwrap();
    json!({
        "classId": class_id, "firstName": "Luca", "lastName": surname,
        "taxCode": tax_code::encode(surname, "Luca", birth, Sex::M, "A794"),
        "birthDate": "2018-05-17", "sex": "M",
        "certification": { "severity": severity, "certifiedOn": "2022-03-01", "revisionOn": "2025-03-01",
                           "issuedBy": "Commissione medica INPS - ASST Bergamo Est" },
    })
}

pub const CREATE: &str = "mutation($i: CreatePupilInput!) { createPupil(input: $i) {
    id internalCode school { code } certification { severity revisionOn } } }";
const REQUEST: &str = "mutation($p: ID!, $r: String!, $h: Int) {
    requestSupportHours(pupilId: $p, ratio: $r, hours: $h) { ratio hours approvedHours } }";

/// The first error of a request that must fail, with its code.
async fn error_as(app: &TestApp, token: &str, query: &str, vars: Value) -> Value {
    let (status, body) = app.post_as(Some(token), query, vars).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"].is_null() || body["data"].as_object().is_some_and(|d| d.values().all(Value::is_null)),
        "{body}"
    );
    body["errors"][0].clone()
}

async fn pupil_count(app: &TestApp) -> i64 {
    pupils::table.count().get_result(&mut app.db().conn().await).await.unwrap()
}

#[tokio::test]
async fn the_whole_path_as_school_and_office() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let office = app.login(OFFICE).await;
    let year = this_year();

    // The school registers a pupil with a severe certification in primaria.
    let class = a_primaria_class(&app, &school).await;
    let created = app.query_as(&school, CREATE, json!({ "i": new_pupil(&class, "Verdi", "C3") })).await;
    let pupil = created["createPupil"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["createPupil"]["school"]["code"], "BGIC82100T");
    assert_eq!(created["createPupil"]["certification"]["severity"], "C3");
    assert_eq!(created["createPupil"]["certification"]["revisionOn"], "2025-03-01");
    assert!(created["createPupil"]["internalCode"].as_str().unwrap().starts_with("AL-"));

    // One-to-one for a severe certification: 22 hours in primaria, by the rule.
    let r = app.query_as(&school, REQUEST, json!({ "p": pupil, "r": "1:1" })).await;
    assert_eq!(r["requestSupportHours"], json!({ "ratio": "1:1", "hours": 22, "approvedHours": null }));

    // The pupil is in the list with its request.
    let mine = all_pupils(&app, &school, json!({ "schoolYear": year })).await;
    let found = mine.iter().find(|p| p["id"] == pupil.as_str()).expect("the new pupil is listed");
    assert_eq!(found["supportRequest"]["hours"], 22);
    assert_eq!(found["taxCode"].as_str().unwrap().len(), 16);

    // Totals by order and ratio include it.
    let summary = "query($y: String!, $s: String) { supportSubmission(schoolYear: $y, school: $s) {
        state returnReason totals { order ratio pupils requestedHours approvedHours } } }";
    let before = app.query_as(&school, summary, json!({ "y": year })).await;
    assert_eq!(before["supportSubmission"]["state"], "DRAFT");
    let totals = before["supportSubmission"]["totals"].as_array().unwrap();
    let primaria_1_1 = totals.iter().find(|t| t["order"] == "PRIMARIA" && t["ratio"] == "1:1").unwrap();
    assert!(primaria_1_1["requestedHours"].as_i64().unwrap() >= 22);
    let pupils_in_totals: i64 = totals.iter().map(|t| t["pupils"].as_i64().unwrap()).sum();
    assert_eq!(pupils_in_totals as usize, mine.len(), "every pupil has a request and is counted once");

    // The office's worklist holds the demo's submitted school, not this draft.
    let worklist =
        "query($y: String!) { supportSubmissions(schoolYear: $y, state: SUBMITTED) { school { code } state } }";
    let (_, other_code) = other_school();
    let list = app.query_as(&office, worklist, json!({ "y": year })).await;
    assert_eq!(list["supportSubmissions"], json!([{ "school": { "code": other_code }, "state": "SUBMITTED" }]));
    let mi = app.login(OFFICE_MI).await;
    assert_eq!(app.query_as(&mi, worklist, json!({ "y": year })).await["supportSubmissions"], json!([]));
    let own = app.query_as(&school, worklist, json!({ "y": year })).await;
    assert_eq!(own["supportSubmissions"], json!([]), "a school sees only its own, and it has not submitted");

    // Approving before submission is refused.
    let approve = "mutation($p: ID!, $h: Int!) { approveSupportHours(pupilId: $p, hours: $h) { hours approvedHours } }";
    let err = error_as(&app, &office, approve, json!({ "p": pupil, "h": 20 })).await;
    assert_eq!(err["extensions"]["code"], "CONFLICT");

    // The school submits; its data lock.
    let submit = "mutation($y: String!) { submitSupportRequest(schoolYear: $y) { state school { code } } }";
    let s = app.query_as(&school, submit, json!({ "y": year })).await;
    assert_eq!(s["submitSupportRequest"]["state"], "SUBMITTED");
    let err = error_as(&app, &school, REQUEST, json!({ "p": pupil, "r": "1:2", "h": 10 })).await;
    assert_eq!(err["extensions"]["code"], "REQUEST_SUBMITTED");
    let err = error_as(&app, &school, CREATE, json!({ "i": new_pupil(&class, "Neri", "C1") })).await;
    assert_eq!(err["extensions"]["code"], "REQUEST_SUBMITTED");

    // The office approves hours; above the maximum is refused with the maximum named.
    let err = error_as(&app, &office, approve, json!({ "p": pupil, "h": 23 })).await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(err["extensions"]["field"], "hours");
    assert!(err["message"].as_str().unwrap().contains("22"), "{err}");
    let a = app.query_as(&office, approve, json!({ "p": pupil, "h": 20 })).await;
    assert_eq!(a["approveSupportHours"], json!({ "hours": 22, "approvedHours": 20 }));
    let seen = all_pupils(&app, &school, json!({ "schoolYear": year })).await;
    let p = seen.iter().find(|p| p["id"] == pupil.as_str()).unwrap();
    assert_eq!(p["supportRequest"]["approvedHours"], 20, "the school sees the approved hours");
    let office_view = app.query_as(&office, summary, json!({ "y": year, "s": "BGIC82100T" })).await;
    let t = office_view["supportSubmission"]["totals"].as_array().unwrap();
    assert!(t.iter().any(|t| t["approvedHours"].as_i64().unwrap() >= 20));

    // The approval keeps who, when and the previous value.
    app.query_as(&office, approve, json!({ "p": pupil, "h": 18 })).await;
    let trail: Vec<(String, Option<Value>, Option<Value>)> = audit_events::table
        .filter(audit_events::pupil_ids.contains(vec![pupil.parse::<i64>().unwrap()]))
        .filter(audit_events::action.eq("approve"))
        .order(audit_events::id)
        .select((audit_events::role, audit_events::previous, audit_events::current))
        .load(&mut app.db().conn().await)
        .await
        .unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[1], ("provincial".into(), Some(json!({ "hours": 20 })), Some(json!({ "hours": 18 }))));

    // The office sends it back with a reason; the school may edit again.
    let back = "mutation($s: String!, $y: String!, $r: String!) {
        returnSupportRequest(school: $s, schoolYear: $y, reason: $r) { state returnReason } }";
    let b = app.query_as(&office, back, json!({ "s": "BGIC82100T", "y": year, "r": "Manca il PEI" })).await;
    assert_eq!(b["returnSupportRequest"], json!({ "state": "RETURNED", "returnReason": "Manca il PEI" }));
    let r = app.query_as(&school, REQUEST, json!({ "p": pupil, "r": "1:2", "h": 11 })).await;
    assert_eq!(r["requestSupportHours"]["hours"], 11);
}

#[tokio::test]
async fn writes_outside_an_open_window_fail_and_change_nothing() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let office = app.login(OFFICE).await;
    let year = this_year();
    let class = a_primaria_class(&app, &school).await;

    let close =
        "mutation($y: String!, $s: [String!]) { closeCollectionWindow(schoolYear: $y, schools: $s) { id closedAt } }";
    let closed = app.query_as(&office, close, json!({ "y": year })).await;
    assert_eq!(closed["closeCollectionWindow"].as_array().unwrap().len(), 1);

    let before = pupil_count(&app).await;
    let err = error_as(&app, &school, CREATE, json!({ "i": new_pupil(&class, "Verdi", "C3") })).await;
    assert_eq!(err["extensions"]["code"], "CAMPAIGN_CLOSED");
    assert_eq!(pupil_count(&app).await, before, "nothing written");
    // Reads always work.
    assert!(!all_pupils(&app, &school, json!({ "schoolYear": year })).await.is_empty());

    // The office reopens for this school alone, until the end of the school year.
    let y: SchoolYear = year.parse().unwrap();
    let open =
        "mutation($i: OpenCollectionWindowInput!) { openCollectionWindow(input: $i) { school { code } closesOn } }";
    let today = chrono::Utc::now().date_naive();
    let input = json!({ "schoolYear": year, "opensOn": today.to_string(), "closesOn": y.last_day().to_string(),
                        "schools": ["bgic82100t"] });
    let opened = app.query_as(&office, open, json!({ "i": input })).await;
    assert_eq!(opened["openCollectionWindow"][0]["school"]["code"], "BGIC82100T");
    app.query_as(&school, CREATE, json!({ "i": new_pupil(&class, "Verdi", "C3") })).await;
    assert_eq!(pupil_count(&app).await, before + 1);

    // Another school of the province is still closed.
    let (other, _) = other_school();
    let other_token = app.login(&other).await;
    let other_class = a_primaria_class(&app, &other_token).await;
    let err = error_as(&app, &other_token, CREATE, json!({ "i": new_pupil(&other_class, "Bassi", "C1") })).await;
    assert_eq!(err["extensions"]["code"], "CAMPAIGN_CLOSED");

    // A window whose days have passed is closed too; schools cannot open windows.
    let past = json!({ "schoolYear": year, "opensOn": "2020-06-22", "closesOn": "2020-07-13" });
    let err = error_as(&app, &school, open, json!({ "i": past })).await;
    assert_eq!(err["extensions"]["code"], "FORBIDDEN");
    app.query_as(&office, open, json!({ "i": past })).await;
    app.query_as(&office, close, json!({ "y": year, "s": ["BGIC82100T"] })).await;
    let err = error_as(&app, &school, CREATE, json!({ "i": new_pupil(&class, "Rota", "C3") })).await;
    assert_eq!(err["extensions"]["code"], "CAMPAIGN_CLOSED");
    let bad = json!({ "schoolYear": year, "opensOn": "2026-07-13", "closesOn": "2026-06-22" });
    let err = error_as(&app, &office, open, json!({ "i": bad })).await;
    assert_eq!(err["extensions"]["field"], "input.closesOn");
}

#[tokio::test]
async fn another_schools_pupils_are_invisible_everywhere() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let (other_email, other_code) = other_school();
    let other = app.login(&other_email).await;
    let year = this_year();

    let mine = all_pupils(&app, &school, json!({})).await;
    let theirs = all_pupils(&app, &other, json!({})).await;
    assert!(!mine.is_empty() && !theirs.is_empty());
    assert!(mine.iter().all(|p| p["school"]["code"] == "BGIC82100T"));
    assert!(theirs.iter().all(|p| p["school"]["code"] == other_code.as_str()));

    // Asking for the other school by filter, by id, by tax code: nothing.
    assert!(all_pupils(&app, &school, json!({ "school": other_code })).await.is_empty());
    let their_id = theirs[0]["id"].as_str().unwrap();
    let their_tax = theirs[0]["taxCode"].as_str().unwrap();
    assert!(all_pupils(&app, &school, json!({ "taxCode": their_tax })).await.is_empty());
    let by_id = app.query_as(&school, "query($id: ID!) { pupil(id: $id) { id } }", json!({ "id": their_id })).await;
    assert!(by_id["pupil"].is_null());
    let missing = app.query_as(&school, "{ pupil(id: \"999999999\") { id } }", json!({})).await;
    assert!(missing["pupil"].is_null(), "out of scope looks like missing");

    // Writing to it is NOT_FOUND, exactly as for an id that does not exist.
    let update = "mutation($id: ID!) { updatePupil(id: $id, input: { firstName: \"X\" }) { id } }";
    for id in [their_id, "999999999"] {
        let err = error_as(&app, &school, update, json!({ "id": id })).await;
        assert_eq!(err["extensions"]["code"], "NOT_FOUND");
        assert_eq!(err["message"], "not found");
        let err = error_as(&app, &school, REQUEST, json!({ "p": id, "r": "1:1" })).await;
        assert_eq!(err["extensions"]["code"], "NOT_FOUND");
    }

    // Their totals and submission are not visible; their classes are not either.
    let summary = "query($y: String!, $s: String) { supportSubmission(schoolYear: $y, school: $s) { state } }";
    let s = app.query_as(&school, summary, json!({ "y": year, "s": other_code })).await;
    assert!(s["supportSubmission"].is_null());
    let classes = app
        .query_as(
            &school,
            "query($s: String) { classes(filter: { school: $s }) { totalCount } }",
            json!({ "s": other_code }),
        )
        .await;
    assert_eq!(classes["classes"]["totalCount"], 0);

    // The office sees its province, both schools; the other province's office neither.
    let office = app.login(OFFICE).await;
    let province = all_pupils(&app, &office, json!({ "schoolYear": year })).await;
    assert!(province.iter().any(|p| p["school"]["code"] == "BGIC82100T"));
    assert!(province.iter().any(|p| p["school"]["code"] == other_code.as_str()));
    let mi = app.login(OFFICE_MI).await;
    let mi_view = all_pupils(&app, &mi, json!({})).await;
    assert!(!mi_view.is_empty());
    assert!(mi_view.iter().all(|p| p["school"]["code"].as_str().unwrap().starts_with("MI")));
    let by_id = app.query_as(&mi, "query($id: ID!) { pupil(id: $id) { id } }", json!({ "id": their_id })).await;
    assert!(by_id["pupil"].is_null());

    // Roles without the registry in their policy are refused outright.
    let hub = app.login("cti.bg1@ambito.invalid").await;
    let err = error_as(&app, &hub, PUPILS, json!({})).await;
    assert_eq!(err["extensions"]["code"], "FORBIDDEN");
}

#[tokio::test]
async fn a_pupil_registered_elsewhere_is_a_conflict_that_names_no_one() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let (other_email, _) = other_school();
    let other = app.login(&other_email).await;
    // A pupil of the other school, as its own row says.
    let theirs = all_pupils(&app, &other, json!({})).await;
    let id: i64 = theirs[0]["id"].as_str().unwrap().parse().unwrap();
    let (first, last, tax, birth, sex): (String, String, String, NaiveDate, String) = pupils::table
        .find(id)
        .select((pupils::first_name, pupils::last_name, pupils::tax_code, pupils::birth_date, pupils::sex))
        .first(&mut app.db().conn().await)
        .await
        .unwrap();

    // The other school's window is irrelevant: this school's is open.
    let class = a_primaria_class(&app, &school).await;
    let mut input = new_pupil(&class, &last, "C1");
    input["firstName"] = json!(first);
    input["taxCode"] = json!(tax);
    input["birthDate"] = json!(birth.to_string());
    input["sex"] = json!(sex);
    let before = pupil_count(&app).await;
    let err = error_as(&app, &school, CREATE, json!({ "i": input })).await;
    assert_eq!(err["extensions"]["code"], "CONFLICT");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("elsewhere in the province"), "{message}");
    for secret in [first.as_str(), last.as_str(), tax.as_str(), &other_email[..10]] {
        assert!(!message.to_lowercase().contains(&secret.to_lowercase()), "{message} names {secret}");
    }
    assert_eq!(pupil_count(&app).await, before);
    // The duplicate was found by looking, not by a unique violation whose
    // detail would carry the tax code into PostgreSQL's log.
    let log = std::fs::read_to_string(crate::harness::server_log()).unwrap();
    assert!(!log.contains(tax.as_str()), "the tax code is in the server log");

    // The office learns of the refused registration and finds the pupil it concerns.
    let office = app.login(OFFICE).await;
    let trail = app
        .query_as(
            &office,
            "{ auditTrail(action: \"duplicate_registration\") { edges { node { schoolCode userEmail current } } } }",
            json!({}),
        )
        .await;
    let refused = &trail["auditTrail"]["edges"][0]["node"];
    assert_eq!(refused["schoolCode"], "BGIC82100T");
    assert_eq!(refused["userEmail"], SCHOOL);
    assert_eq!(refused["current"]["taxCode"], tax.as_str());
    let found = all_pupils(&app, &office, json!({ "taxCode": tax })).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], theirs[0]["id"]);

    // Twice in the same school: the school is told which of its pupils it is.
    let created = app.query_as(&school, CREATE, json!({ "i": new_pupil(&class, "Verdi", "C1") })).await;
    let err = error_as(&app, &school, CREATE, json!({ "i": new_pupil(&class, "Verdi", "C1") })).await;
    assert_eq!(err["extensions"]["code"], "CONFLICT");
    assert!(err["message"].as_str().unwrap().contains(created["createPupil"]["id"].as_str().unwrap()));
}

#[tokio::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let class = a_primaria_class(&app, &school).await;
    let before = pupil_count(&app).await;
    let valid = new_pupil(&class, "Verdi", "C3")["taxCode"].as_str().unwrap().to_owned();
    let wrong_check = format!("{}{}", &valid[..15], if valid.ends_with('A') { 'B' } else { 'A' });
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            {
                let mut i = new_pupil(&class, "Verdi", "C3");
                i["taxCode"] = json!(wrong_check);
                i
            },
            "input.taxCode",
            "check character",
        ),
        (
            {
                let mut i = new_pupil(&class, "Verdi", "C3");
                i["birthDate"] = json!("2018-05-18");
                i
            },
            "input.taxCode",
            "birth date",
        ),
        (
            {
                let mut i = new_pupil(&class, "Verdi", "C3");
                i["sex"] = json!("F");
                i
            },
            "input.taxCode",
            "sex",
        ),
        (
            {
                let mut i = new_pupil(&class, "Verdi", "C3");
                i["firstName"] = json!("  ");
                i
            },
            "input.firstName",
            "letter",
        ),
        (
            {
                let mut i = new_pupil(&class, "Verdi", "C3");
                i["certification"]["revisionOn"] = json!("2021-01-01");
                i
            },
            "input.certification.revisionOn",
            "after",
        ),
        (
            {
                let mut i = new_pupil(&class, "Verdi", "C3");
                i["classId"] = json!("999999999");
                i
            },
            "input.classId",
            "no such class",
        ),
    ];
    for (input, field, reason) in cases {
        let err = error_as(&app, &school, CREATE, json!({ "i": input })).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{err}");
        assert_eq!(err["extensions"]["field"], field, "{err}");
        assert!(err["message"].as_str().unwrap().contains(reason), "{err}");
    }
    assert_eq!(pupil_count(&app).await, before);

    // Hours: above the order's maximum, or other than the rule for severe one-to-one.
    let created = app.query_as(&school, CREATE, json!({ "i": new_pupil(&class, "Verdi", "C1") })).await;
    let pupil = created["createPupil"]["id"].as_str().unwrap();
    let requests_before: i64 = support_requests::table.count().get_result(&mut app.db().conn().await).await.unwrap();
    for (ratio, hours, field, reason) in [
        ("1:2", json!(30), "hours", "22"),
        ("1:1", json!(null), "hours", "22"),
        ("2:1", json!(5), "ratio", "1:1"),
        ("1:2", json!(0), "hours", "at least 1"),
    ] {
        let err = error_as(&app, &school, REQUEST, json!({ "p": pupil, "r": ratio, "h": hours })).await;
        assert_eq!(err["extensions"]["field"], field, "{err}");
        assert!(err["message"].as_str().unwrap().contains(reason), "{err}");
    }
    let requests_after: i64 = support_requests::table.count().get_result(&mut app.db().conn().await).await.unwrap();
    assert_eq!(requests_after, requests_before);

    // Classes: the year of study must fit the order, the site must be the school's.
    let create_class = "mutation($i: SchoolClassInput!) { createClass(input: $i) { id name } }";
    let site: String = ambito::db::schema::sites::table
        .filter(ambito::db::schema::sites::institution_code.eq("BGIC82100T"))
        .filter(ambito::db::schema::sites::school_order.eq("secondaria_primo_grado"))
        .select(ambito::db::schema::sites::code)
        .first(&mut app.db().conn().await)
        .await
        .unwrap();
    let class_input = |site: &str, year: i32| {
        json!({ "i": { "schoolYear": this_year(), "site": site, "order": "SECONDARIA_PRIMO_GRADO",
                       "yearOfStudy": year, "section": "z", "pupils": 21, "timeModelHours": 30 } })
    };
    let err = error_as(&app, &school, create_class, class_input(&site, 4)).await;
    assert_eq!(err["extensions"]["field"], "input.yearOfStudy");
    let err = error_as(&app, &school, create_class, class_input("MIIC8AA00A", 1)).await;
    assert_eq!(err["extensions"]["field"], "input.site");
    let ok = app.query_as(&school, create_class, class_input(&site, 3)).await;
    assert_eq!(ok["createClass"]["name"], "3Z");
    let err = error_as(&app, &school, create_class, class_input(&site, 3)).await;
    assert_eq!(err["extensions"]["code"], "CONFLICT");
}

#[tokio::test]
async fn reads_of_identity_and_every_change_are_audited() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let reads = |app: &TestApp| {
        let url = app.db().url.clone();
        async move {
            let mut conn =
                <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&url).await.unwrap();
            audit_events::table
                .filter(audit_events::action.eq("read"))
                .select((audit_events::pupil_ids, audit_events::fields, audit_events::role))
                .load::<(Vec<i64>, Vec<String>, String)>(&mut conn)
                .await
                .unwrap()
        }
    };

    // Ids and internal codes are not identity: no trail.
    app.query_as(&school, "{ pupils(first: 100) { edges { node { id internalCode } } } }", json!({})).await;
    assert!(reads(&app).await.is_empty());

    // Names and tax codes are: one event per page, naming every pupil shown
    // (once) and the fields shown.
    let listed = all_pupils(&app, &school, json!({})).await;
    let events = reads(&app).await;
    assert!(listed.len() > 1);
    assert_eq!(events.len(), listed.len().div_ceil(100), "one event per page of 100");
    let mut named: Vec<i64> = events.iter().flat_map(|e| e.0.iter().copied()).collect();
    named.sort_unstable();
    let mut shown: Vec<i64> = listed.iter().map(|p| p["id"].as_str().unwrap().parse().unwrap()).collect();
    shown.sort_unstable();
    assert_eq!(named, shown, "every pupil shown is named once");
    for e in &events {
        assert_eq!(e.1, vec!["certification", "firstName", "taxCode"]);
        assert_eq!(e.2, "school");
    }

    // A change records the previous and new values of what changed, and who.
    let id = listed[0]["id"].as_str().unwrap();
    let update = "mutation($id: ID!) { updatePupil(id: $id, input: { firstName: \"Maria Luisa\" }) { id } }";
    app.query_as(&school, update, json!({ "id": id })).await;
    let (user, membership, fields, previous, current): (i64, Option<i64>, Vec<String>, Option<Value>, Option<Value>) =
        audit_events::table
            .filter(audit_events::action.eq("update"))
            .filter(audit_events::pupil_ids.eq(vec![id.parse::<i64>().unwrap()]))
            .select((
                audit_events::user_id,
                audit_events::membership_id,
                audit_events::fields,
                audit_events::previous,
                audit_events::current,
            ))
            .first(&mut app.db().conn().await)
            .await
            .unwrap();
    assert!(user > 0 && membership.is_some());
    assert_eq!(fields, vec!["firstName"]);
    assert_eq!(previous, Some(json!({ "firstName": listed[0]["firstName"] })));
    assert_eq!(current, Some(json!({ "firstName": "Maria Luisa" })));
}

const REPORT: &str = "query($y: String!, $g: [RegistryDimension!]!, $f: RegistryReportFilter) {
    registryReport(schoolYear: $y, groupBy: $g, filter: $f) {
        province { code } ambit { code } municipality { istatCode name } school { code } site { code }
        order severity ratio pupils pupilsWithRequest requestedHours approvedHours } }";

fn sum(rows: &Value, field: &str) -> i64 {
    rows.as_array().unwrap().iter().map(|r| r[field].as_i64().unwrap()).sum()
}

#[tokio::test]
async fn reports_are_computed_in_scope() {
    let app = TestApp::demo().await;
    let year = this_year();
    let school = app.login(SCHOOL).await;
    let office = app.login(OFFICE).await;
    let (_, other_code) = other_school();

    // The database's own figures, counted without row security.
    let stored = SchoolYear::of(chrono::Utc::now().date_naive()).stored();
    let per_school: Vec<(String, i64)> = pupils::table
        .filter(pupils::school_year.eq(stored))
        .filter(pupils::province_code.eq("BG"))
        .group_by(pupils::institution_code)
        .select((pupils::institution_code, diesel::dsl::count_star()))
        .order(pupils::institution_code)
        .load(&mut app.db().conn().await)
        .await
        .unwrap();
    let own = per_school.iter().find(|(s, _)| s == "BGIC82100T").unwrap().1;

    // A school gets its own figures, whatever it groups by.
    let mine = app.query_as(&school, REPORT, json!({ "y": year, "g": ["ORDER", "SEVERITY"] })).await;
    assert_eq!(sum(&mine["registryReport"], "pupils"), own);
    assert!(mine["registryReport"].as_array().unwrap().iter().all(|r| r["school"].is_null() && !r["order"].is_null()));
    let theirs =
        app.query_as(&school, REPORT, json!({ "y": year, "g": ["SCHOOL"], "f": { "school": other_code } })).await;
    assert_eq!(theirs["registryReport"], json!([]), "another school's figures are not there");

    // The office gets its province, school by school, and nothing of Milano.
    let by_school = app.query_as(&office, REPORT, json!({ "y": year, "g": ["SCHOOL"] })).await;
    let got: Vec<(String, i64)> = by_school["registryReport"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["school"]["code"].as_str().unwrap().to_owned(), r["pupils"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, per_school);
    // Requested against approved: the school that submitted has approvals.
    let other =
        by_school["registryReport"].as_array().unwrap().iter().find(|r| r["school"]["code"] == other_code.as_str());
    let other = other.unwrap();
    assert!(other["approvedHours"].as_i64().unwrap() > 0);
    assert!(other["approvedHours"].as_i64().unwrap() < other["requestedHours"].as_i64().unwrap());

    // Territory: by ambit and municipality; totals agree with the single total row.
    let total = app.query_as(&office, REPORT, json!({ "y": year, "g": [] })).await;
    assert_eq!(total["registryReport"].as_array().unwrap().len(), 1);
    let by_place =
        app.query_as(&office, REPORT, json!({ "y": year, "g": ["AMBIT", "MUNICIPALITY", "PROVINCE"] })).await;
    let rows = by_place["registryReport"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["province"]["code"] == "BG" && r["ambit"]["code"].is_string()));
    assert!(rows.iter().any(|r| r["municipality"]["name"] == "Alzano Lombardo"));
    for field in ["pupils", "requestedHours", "approvedHours"] {
        assert_eq!(sum(&by_place["registryReport"], field), sum(&total["registryReport"], field), "{field}");
    }
    let by_ratio = app.query_as(&office, REPORT, json!({ "y": year, "g": ["RATIO"], "f": { "severity": "C3" } })).await;
    assert!(by_ratio["registryReport"].as_array().unwrap().iter().any(|r| r["ratio"] == "1:1"));
}

#[tokio::test]
async fn the_office_reads_the_trail_of_a_pupil_or_a_user() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let office = app.login(OFFICE).await;
    let listed = all_pupils(&app, &school, json!({})).await;
    let id = listed[0]["id"].as_str().unwrap();
    let update = "mutation($id: ID!) { updatePupil(id: $id, input: { lastName: \"Bonfanti\" }) { id } }";
    app.query_as(&school, update, json!({ "id": id })).await;

    let trail = "query($p: ID, $u: String) { auditTrail(first: 50, pupilId: $p, userEmail: $u) {
        totalCount edges { node { action objectKind pupilIds userEmail role fields previous current } } } }";
    let t = app.query_as(&office, trail, json!({ "p": id })).await;
    let events: Vec<&Value> = t["auditTrail"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).collect();
    assert_eq!(events[0]["action"], "update", "newest first");
    assert_eq!(events[0]["userEmail"], SCHOOL);
    assert_eq!(events[0]["current"], json!({ "lastName": "Bonfanti" }));
    assert!(events.iter().any(|e| e["action"] == "read" && e["role"] == "school"));
    assert!(events.iter().all(|e| e["pupilIds"].as_array().unwrap().contains(&json!(id))));
    let page_read = events.iter().find(|e| e["action"] == "read").unwrap();
    assert_eq!(page_read["pupilIds"].as_array().unwrap().len(), listed.len().min(100), "the page it was read in");

    // Reading the trail's values was itself a read of the pupil's identity:
    // the office's own read is now in the trail.
    let again = app.query_as(&office, trail, json!({ "p": id })).await;
    let office_read = again["auditTrail"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .find(|e| e["action"] == "read" && e["role"] == "provincial" && e["userEmail"] == OFFICE);
    let office_read = office_read.unwrap_or_else(|| panic!("the office's read of the trail is recorded: {again}"));
    let fields: Vec<&str> = office_read["fields"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(fields.contains(&"auditTrail.current") && fields.contains(&"auditTrail.previous"), "{fields:?}");

    let by_user = app.query_as(&office, trail, json!({ "u": SCHOOL.to_uppercase() })).await;
    assert!(by_user["auditTrail"]["totalCount"].as_i64().unwrap() >= 2);
    let nobody = app.query_as(&office, trail, json!({ "u": "nobody@ambito.invalid" })).await;
    assert_eq!(nobody["auditTrail"]["totalCount"], 0);

    // Schools do not read the trail; another province's office does not see this one.
    let err = error_as(&app, &school, trail, json!({ "p": id })).await;
    assert_eq!(err["extensions"]["code"], "FORBIDDEN");
    let mi = app.login(OFFICE_MI).await;
    let t = app.query_as(&mi, trail, json!({ "p": id })).await;
    assert_eq!(t["auditTrail"]["totalCount"], 0);
}

/// What a list shows of each pupil: its class, the class's site and its request.
const SHOWN: &str = "id class { id yearOfStudy section site { code name } } supportRequest { ratio hours }";

#[tokio::test]
async fn a_page_shows_each_pupils_class_site_and_request_as_the_pupil_itself_does() {
    let app = TestApp::demo().await;
    let office = app.login(OFFICE).await;
    // A pupil without a support request yet.
    let school = app.login(SCHOOL).await;
    let class = a_primaria_class(&app, &school).await;
    app.query_as(&school, CREATE, json!({ "i": new_pupil(&class, "Verdi", "C1") })).await;
    // The page fetches these with its rows; a single pupil, through the loaders.
    let page = app.query_as(&office, &format!("{{ pupils(first: 100) {{ nodes {{ {SHOWN} }} }} }}"), json!({})).await;
    let listed = page["pupils"]["nodes"].as_array().unwrap();
    assert!(listed.len() > 5, "the demo's Bergamo pupils: {page}");
    assert!(
        listed.iter().any(|p| p["supportRequest"].is_null()) && listed.iter().any(|p| !p["supportRequest"].is_null())
    );
    app.assert_each_as_alone(&office, listed, "pupil", SHOWN).await;
    for shown in listed {
        assert!(shown["class"]["site"]["code"].is_string(), "{shown}");
    }

    // A filter keeps the same rows whether or not the page fetches them along.
    let site = listed[0]["class"]["site"]["code"].clone();
    let ids = |data: &Value| -> Vec<Value> {
        data["pupils"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()).collect()
    };
    let query = |fields: &str| {
        format!(
            "query($s: String) {{ pupils(first: 100, filter: {{ site: $s }}) {{ totalCount edges {{ node {{ {fields} }} }} }} }}"
        )
    };
    let plain = app.query_as(&office, &query("id"), json!({ "s": site })).await;
    let along = app.query_as(&office, &query(SHOWN), json!({ "s": site })).await;
    assert_eq!(ids(&plain), ids(&along));
    assert_eq!(plain["pupils"]["totalCount"], along["pupils"]["totalCount"]);
    assert!(ids(&along).len() < listed.len(), "the filter narrows the page");
    for e in along["pupils"]["edges"].as_array().unwrap() {
        assert_eq!(e["node"]["class"]["site"]["code"], site);
    }
}
