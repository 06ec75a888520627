//! Process 4's intake (seed 003, spec teacher-applications.md) through the
//! real server, as each role: the office loads the reference data and the
//! registry, a teacher drafts, submits with the personal code and
//! withdraws inside the windows, the office of the derived province reads
//! what is routed to it, and every refusal names its rule and stores nothing.

use ambito::rules::tax_code::{Sex, encode};
use ambito::usecases::accounts::limited::{self, AccountFunction, Switch};
use chrono::NaiveDate;
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use ambito::rules::throttle::ThrottlePolicy;
use ambito::server::Options;
use std::time::Duration;

use crate::harness::{TestApp, TestDb, demo_account, pdf, test_files};

pub(crate) const TEACHER: &str = "docente@ambito.invalid";
pub(crate) const OTHER_TEACHER: &str = "docente.nuovo@ambito.invalid";
pub(crate) const BG: &str = "ufficio.bg@ambito.invalid";
pub(crate) const MI: &str = "ufficio.mi@ambito.invalid";
const SCHOOL: &str = "bgic82100t@istruzione.it";
const DIRECTORATE: &str = "direzione.lombardia@ambito.invalid";

const CAMPAIGN: &str =
    "mutation($y: Int!) { createMobilityCampaign(input: { year: $y }) { year windows { category opens closes } } }";
const PUBLISH: &str = "mutation($y: Int!, $d: Date!) { setMovementsPublicationDate(campaignYear: $y, order: PRIMARIA, date: $d) { primariaPublicationDate } }";
pub(crate) const SET_TEACHER: &str = "mutation($i: TeacherInput!) { setTeacher(input: $i) { taxCode email province } }";
const READ_TEACHER: &str = "query($t: String!) { teacher(taxCode: $t) { taxCode province } }";
pub(crate) const CREATE: &str =
    "mutation($i: MobilityApplicationInput!) { createMobilityApplication(input: $i) { id state } }";
const UPDATE: &str =
    "mutation($id: ID!, $i: MobilityApplicationInput!) { updateMobilityApplication(id: $id, input: $i) { id state } }";
const SHOWN: &str = "id state kind channel protocolNumber processingOffice { code } \
    preferences { position kind code effective rule } precedences { code recognised rule } \
    familyScore { a b c d total } warnings { rule message }";
pub(crate) const CLOCK: &str = "mutation($t: DateTime!) { setTestClock(now: $t) }";

pub(crate) fn submit_doc() -> String {
    format!("mutation($id: ID!, $c: String!) {{ submitMobilityApplication(id: $id, personalCode: $c) {{ {SHOWN} }} }}")
}

fn withdraw_doc() -> String {
    format!(
        "mutation($id: ID!, $c: String!) {{ withdrawMobilityApplication(id: $id, personalCode: $c) {{ {SHOWN} }} }}"
    )
}

fn one_doc() -> String {
    format!("query($id: ID!) {{ mobilityApplication(id: $id) {{ {SHOWN} }} }}")
}

#[derive(QueryableByName)]
struct Code {
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Text)]
    municipality: String,
}

/// Real sites of the demo's territory: two in Bergamo's chief town, one in
/// another municipality of Bergamo, one in Milan.
pub(crate) struct Places {
    pub held: String,
    pub held_municipality: String,
    pub same_town: String,
    pub elsewhere: String,
    pub elsewhere_municipality: String,
    pub milan: String,
}

async fn places(app: &TestApp) -> Places {
    let mut c = app.db().conn().await;
    let q = |sql: &str| diesel::sql_query(sql.to_owned());
    let town: Vec<Code> = q("SELECT code, municipality_istat AS municipality FROM sites
                             WHERE province_code = 'BG' AND municipality_istat = '016024' ORDER BY code LIMIT 2")
    .load(&mut c)
    .await
    .unwrap();
    let other: Vec<Code> = q("SELECT code, municipality_istat AS municipality FROM sites
                              WHERE province_code = 'BG' AND municipality_istat <> '016024' ORDER BY code LIMIT 1")
    .load(&mut c)
    .await
    .unwrap();
    let milan: Vec<Code> = q("SELECT code, municipality_istat AS municipality FROM sites
                              WHERE province_code = 'MI' ORDER BY code LIMIT 1")
    .load(&mut c)
    .await
    .unwrap();
    assert_eq!((town.len(), other.len(), milan.len()), (2, 1, 1), "the demo territory has the sites");
    Places {
        held: town[0].code.clone(),
        held_municipality: town[0].municipality.clone(),
        same_town: town[1].code.clone(),
        elsewhere: other[0].code.clone(),
        elsewhere_municipality: other[0].municipality.clone(),
        milan: milan[0].code.clone(),
    }
}

/// The demo teacher's row in the demo's registry.
fn own_tax() -> String {
    ambito::demo::mobility::demo_teacher_tax_code()
}

pub(crate) fn tax(surname: &str) -> String {
    encode(surname, "Anna", NaiveDate::from_ymd_opt(1980, 5, 4).unwrap(), Sex::F, "A794")
}

/// A tenured infanzia teacher on a common post at `school`.
pub(crate) fn teacher_input(email: &str, surname: &str, school: &str) -> Value {
    let code = if email == TEACHER { own_tax() } else { tax(surname) };
    json!({
        "taxCode": code, "firstName": "Anna", "lastName": surname, "email": email,
        "category": "TEACHER", "tenured": true, "order": "INFANZIA", "postType": "NN",
        "holding": { "kind": "SCHOOL", "code": school }, "legalStart": "2010-09-01", "probation": "PASSED"
    })
}

/// A provincial AP for the spouse in `municipality`, asking `prefs`.
pub(crate) fn ap(municipality: &str, prefs: Value) -> Value {
    json!({
        "campaignYear": 2016, "kind": "AP", "order": "INFANZIA", "scope": "PROVINCIAL", "postTypes": ["NN"],
        "reasons": ["SPOUSE"], "reunion": { "relation": "SPOUSE", "municipality": municipality },
        "preferences": prefs
    })
}

/// The attachment `name` of an e-mail as written to the outbox (base64).
fn attached_pdf(mail: &str, name: &str) -> Vec<u8> {
    use base64::Engine as _;
    let after = mail.split(&format!("filename=\"{name}\"")).nth(1).expect("the attachment");
    let body = after.split("\r\n\r\n").nth(1).or_else(|| after.split("\n\n").nth(1)).expect("its body");
    let encoded: String = body.lines().take_while(|l| !l.starts_with("--")).collect::<Vec<_>>().concat();
    base64::engine::general_purpose::STANDARD.decode(encoded.trim()).expect("base64")
}

pub(crate) fn error_of(body: &Value) -> (String, String) {
    let ext = &body["errors"][0]["extensions"];
    (ext["code"].as_str().unwrap_or("OK").to_owned(), ext["rule"].as_str().unwrap_or("").to_owned())
}

/// A demo server with the 2016 campaign, and the enabled demo teacher in
/// Bergamo's registry; the clock inside the infanzia window.
pub(crate) struct World {
    pub app: TestApp,
    pub office: String,
    pub teacher: String,
    pub code: String,
    pub p: Places,
}

pub(crate) async fn world() -> World {
    world_over(TestApp::demo().await).await
}

async fn world_over(app: TestApp) -> World {
    let p = places(&app).await;
    let office = app.login(BG).await;
    app.query_as(&office, CAMPAIGN, json!({ "y": 2016 })).await;
    app.query_as(&office, SET_TEACHER, json!({ "i": teacher_input(TEACHER, "Rossi", &p.held) })).await;
    app.query_as(&office, CLOCK, json!({ "t": "2016-08-01T10:00:00" })).await;
    let teacher = app.login(TEACHER).await;
    let code = demo_account(TEACHER).personal_code.expect("the demo teacher's personal code");
    World { app, office, teacher, code, p }
}

impl World {
    pub async fn draft(&self, input: Value) -> String {
        let d = self.app.query_as(&self.teacher, CREATE, json!({ "i": input })).await;
        d["createMobilityApplication"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn submit(&self, id: &str) -> (u16, Value) {
        self.app.post_as(Some(&self.teacher), &submit_doc(), json!({ "id": id, "c": self.code })).await
    }

    pub async fn read(&self, token: &str, id: &str) -> Value {
        self.app.query_as(token, &one_doc(), json!({ "id": id })).await["mobilityApplication"].clone()
    }

    /// `GET /exports/mobility-receipt` as `token`: status and bytes.
    async fn receipt(&self, token: &str, id: &str) -> (u16, Vec<u8>) {
        let url = self.app.url(&format!("/exports/mobility-receipt?application={id}"));
        let resp = self.app.http.get(url).bearer_auth(token).send().await.unwrap();
        (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
    }

    pub async fn clock(&self, at: &str) {
        self.app.query_as(&self.office, CLOCK, json!({ "t": at })).await;
    }
}

#[tokio::test]
async fn the_office_loads_reference_data_that_everyone_reads_and_only_its_own_province() {
    let app = TestApp::demo().await;
    let p = places(&app).await;
    let (bg, mi, school) = (app.login(BG).await, app.login(MI).await, app.login(SCHOOL).await);
    let c = app.query_as(&bg, CAMPAIGN, json!({ "y": 2016 })).await["createMobilityCampaign"].clone();
    let window = |cat: &str| c["windows"].as_array().unwrap().iter().find(|w| w["category"] == cat).unwrap().clone();
    assert_eq!(window("INFANZIA"), json!({ "category": "INFANZIA", "opens": "2016-07-28", "closes": "2016-08-12" }));
    assert_eq!(window("PRIMARIA")["opens"], Value::Null, "primaria waits for the publication of the transfers");
    assert_eq!(
        window("SECONDARIA"),
        json!({ "category": "SECONDARIA", "opens": "2016-08-18", "closes": "2016-08-28" })
    );
    let (_, again) = app.post_as(Some(&mi), CAMPAIGN, json!({ "y": 2016 })).await;
    assert_eq!(error_of(&again).0, "CONFLICT");
    let (_, body) = app.post_as(Some(&school), CAMPAIGN, json!({ "y": 2017 })).await;
    assert_eq!(error_of(&body).0, "FORBIDDEN");
    let published = app.query_as(&bg, PUBLISH, json!({ "y": 2016, "d": "2016-07-29" })).await;
    assert_eq!(published["setMovementsPublicationDate"]["primariaPublicationDate"], "2016-07-29");
    let teacher = app.login(TEACHER).await;
    let read =
        app.query_as(&teacher, "{ mobilityCampaign(year: 2016) { year primariaPublicationDate } }", json!({})).await;
    assert_eq!(read["mobilityCampaign"], json!({ "year": 2016, "primariaPublicationDate": "2016-07-29" }));

    let class = "mutation { setClassOfCompetition(input: { code: \"a022\", name: \"Italiano, storia, geografia\", order: SECONDARIA_PRIMO_GRADO }) { code } }";
    assert_eq!(app.query_as(&bg, class, json!({})).await["setClassOfCompetition"]["code"], "A022");
    let district = "mutation($i: SchoolDistrictInput!) { setSchoolDistrict(input: $i) { code municipalities } }";
    let ok = json!({ "code": "BG01", "province": "BG", "municipalities": [p.held_municipality] });
    assert_eq!(app.query_as(&bg, district, json!({ "i": ok })).await["setSchoolDistrict"]["code"], "BG01");
    let (_, body) = app.post_as(Some(&mi), district, json!({ "i": ok })).await;
    assert_eq!(error_of(&body).0, "BAD_USER_INPUT", "Milan's office keeps Milan's districts: {body}");
    let foreign = json!({ "code": "BG02", "province": "BG", "sites": [p.milan] });
    let (_, body) = app.post_as(Some(&bg), district, json!({ "i": foreign })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.sites", "{body}");
    let esubero = "mutation($p: String!) { setEsubero(campaignYear: 2016, province: $p, classOfCompetition: \"A022\", count: 3) }";
    assert_eq!(app.query_as(&bg, esubero, json!({ "p": "BG" })).await["setEsubero"], 3);
    let (_, body) = app.post_as(Some(&mi), esubero, json!({ "p": "BG" })).await;
    assert_eq!(error_of(&body).0, "BAD_USER_INPUT");
}

#[tokio::test]
async fn the_registry_is_the_holding_offices_and_each_teachers_own() {
    let app = TestApp::demo().await;
    let p = places(&app).await;
    let (bg, mi) = (app.login(BG).await, app.login(MI).await);
    let set = app.query_as(&bg, SET_TEACHER, json!({ "i": teacher_input(TEACHER, "Rossi", &p.held) })).await;
    assert_eq!(set["setTeacher"]["province"], "BG");
    let code = own_tax();
    let read = |token: String| {
        let app = &app;
        let code = code.clone();
        async move { app.query_as(&token, READ_TEACHER, json!({ "t": code })).await["teacher"].clone() }
    };
    assert_eq!(read(bg.clone()).await["province"], "BG");
    assert_eq!(read(mi.clone()).await, Value::Null, "another province's office does not see the row");
    assert_eq!(read(app.login(TEACHER).await).await["taxCode"], code.as_str(), "the teacher reads their own row");
    assert_eq!(read(app.login(OTHER_TEACHER).await).await, Value::Null);
    // Milan's office cannot take over Bergamo's row, nor enter a Bergamo holding.
    let (_, body) =
        app.post_as(Some(&mi), SET_TEACHER, json!({ "i": teacher_input(TEACHER, "Rossi", &p.milan) })).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND", "{body}");
    let (_, body) =
        app.post_as(Some(&mi), SET_TEACHER, json!({ "i": teacher_input("x@ambito.invalid", "Verdi", &p.held) })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.holding.code", "{body}");
    let mut bad = teacher_input("y@ambito.invalid", "Bianchi", &p.held);
    bad["taxCode"] = json!("RSSNNA80E44A794X");
    let (_, body) = app.post_as(Some(&bg), SET_TEACHER, json!({ "i": bad })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.taxCode", "{body}");
    assert_eq!(read(bg).await["province"], "BG", "unchanged");
}

#[tokio::test]
async fn a_teacher_submits_with_the_personal_code_and_only_the_derived_office_sees_it() {
    let w = world().await;
    let id = w
        .draft(ap(&w.p.elsewhere_municipality, json!([{ "kind": "MUNICIPALITY", "code": w.p.elsewhere_municipality }])))
        .await;
    assert_eq!(w.read(&w.teacher, &id).await["state"], "DRAFT");
    let bg_office = w.app.login(BG).await;
    let none = w.app.query_as(&bg_office, &one_doc(), json!({ "id": id })).await;
    assert_eq!(none["mobilityApplication"], Value::Null, "a draft is the teacher's alone");

    // A wrong code changes nothing.
    let (_, body) = w.app.post_as(Some(&w.teacher), &submit_doc(), json!({ "id": id, "c": "AAAAAAAAAAAAAAAA" })).await;
    assert_eq!(error_of(&body).0, "PERSONAL_CODE_INVALID", "{body}");
    assert_eq!(w.read(&w.teacher, &id).await["state"], "DRAFT");

    let (_, body) = w.submit(&id).await;
    let done = body["data"]["submitMobilityApplication"].clone();
    assert_eq!(done["state"], "SUBMITTED", "{body}");
    assert_eq!(done["processingOffice"]["code"], "BG");
    let protocol = done["protocolNumber"].as_str().unwrap().to_owned();
    assert!(protocol.starts_with("BG-2016-"), "{protocol}");
    let mail = w.app.raw_mail_to(TEACHER, 1).await;
    let receipt_mail = mail.iter().find(|m| m.contains(&protocol)).expect("the receipt carries the protocol number");
    let receipt = w.receipt(&w.teacher, &id).await;
    assert_eq!(receipt.0, 200);
    assert_eq!(attached_pdf(receipt_mail, &format!("ricevuta-{protocol}.pdf")), receipt.1, "the PDF by e-mail");
    let text = crate::exports::pdf_text(&receipt.1);
    for needle in [protocol.as_str(), "Assegnazione provvisoria - anno scolastico 2016/17", "Ufficio scolastico di BG"]
    {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert_eq!(w.receipt(&bg_office, &id).await.1, receipt.1, "the processing office's copy");
    for other in [MI, OTHER_TEACHER] {
        assert_eq!(w.receipt(&w.app.login(other).await, &id).await.0, 404, "{other}");
    }
    assert_eq!(w.receipt(&w.app.login(SCHOOL).await, &id).await.0, 403, "a school reads no forms");

    // Each download is a read in the audit trail; the office's is in its own.
    let trail =
        "{ auditTrail(first: 10, action: \"download_receipt\") { edges { node { userEmail objectId current } } } }";
    let events = w.app.query_as(&bg_office, trail, json!({})).await["auditTrail"]["edges"].clone();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1, "the office's download, not the teacher's: {events:?}");
    assert_eq!(events[0]["node"]["userEmail"], BG);
    assert_eq!(events[0]["node"]["objectId"], id.as_str());
    assert_eq!(events[0]["node"]["current"]["protocolNumber"], protocol.as_str());
    assert_eq!(w.read(&bg_office, &id).await["protocolNumber"], protocol.as_str());
    let mi = w.app.login(MI).await;
    assert_eq!(w.app.query_as(&mi, &one_doc(), json!({ "id": id })).await["mobilityApplication"], Value::Null);
    let other = w.app.login(OTHER_TEACHER).await;
    assert_eq!(w.app.query_as(&other, &one_doc(), json!({ "id": id })).await["mobilityApplication"], Value::Null);
    let list = "{ mobilityApplications(first: 10, campaignYear: 2016) { totalCount nodes { id } } }";
    assert_eq!(w.app.query_as(&bg_office, list, json!({})).await["mobilityApplications"]["totalCount"], 1);
    assert_eq!(w.app.query_as(&mi, list, json!({})).await["mobilityApplications"]["totalCount"], 0);
    assert_eq!(w.app.query_as(&other, list, json!({})).await["mobilityApplications"]["totalCount"], 0);
    let school = w.app.login(SCHOOL).await;
    let (_, body) = w.app.post_as(Some(&school), list, json!({})).await;
    assert_eq!(error_of(&body).0, "FORBIDDEN");
    // The office cannot submit or draft for the teacher.
    let (_, body) = w.app.post_as(Some(&bg_office), CREATE, json!({ "i": ap("016024", json!([])) })).await;
    assert_eq!(error_of(&body).0, "FORBIDDEN");

    // Withdraw inside the window, edit, submit again with a new protocol number.
    let (_, body) = w.app.post_as(Some(&w.teacher), &withdraw_doc(), json!({ "id": id, "c": "wrong" })).await;
    assert_eq!(error_of(&body).0, "PERSONAL_CODE_INVALID");
    let (_, body) = w.app.post_as(Some(&w.teacher), &withdraw_doc(), json!({ "id": id, "c": w.code })).await;
    assert_eq!(body["data"]["withdrawMobilityApplication"]["state"], "WITHDRAWN", "{body}");
    let input = ap(
        &w.p.elsewhere_municipality,
        json!([{ "kind": "SCHOOL", "code": w.p.elsewhere }, { "kind": "MUNICIPALITY", "code": w.p.elsewhere_municipality }]),
    );
    let edited = w.app.query_as(&w.teacher, UPDATE, json!({ "id": id, "i": input })).await;
    assert_eq!(edited["updateMobilityApplication"]["state"], "DRAFT");
    let (_, body) = w.submit(&id).await;
    let again = &body["data"]["submitMobilityApplication"];
    assert_ne!(again["protocolNumber"], protocol.as_str());
    assert_eq!(again["preferences"][0]["code"], w.p.elsewhere.as_str());
    // After the window nothing changes, not even a withdrawal.
    w.clock("2016-08-13T00:00:00").await;
    let (_, body) = w.app.post_as(Some(&w.teacher), &withdraw_doc(), json!({ "id": id, "c": w.code })).await;
    assert_eq!(error_of(&body), ("CAMPAIGN_CLOSED".into(), "WIN-1".into()), "{body}");
}

/// The personal code is a secret like a password: guesses sent in parallel
/// are counted before they are tried, so at most the limit of them are
/// tried, and then even the right code is refused for a while.
#[tokio::test]
async fn parallel_guesses_of_the_personal_code_are_counted_and_lock_it() {
    let throttle = ThrottlePolicy {
        account_lock_after: 5,
        address_lock_after: 1000,
        lock_for: Duration::from_secs(60),
        forget_after: Duration::from_secs(60),
        free_failures: 100,
        step: Duration::ZERO,
        max_delay: Duration::ZERO,
    };
    let w = world_over(TestApp::start(TestDb::demo().await, Options { throttle, ..Default::default() }).await).await;
    let id = w
        .draft(ap(&w.p.elsewhere_municipality, json!([{ "kind": "MUNICIPALITY", "code": w.p.elsewhere_municipality }])))
        .await;
    let guesses = (0..20).map(|i| {
        let (w, id) = (&w, id.clone());
        async move {
            let c = format!("{i:02}AAAAAAAAAAAAAA");
            error_of(&w.app.post_as(Some(&w.teacher), &submit_doc(), json!({ "id": id, "c": c })).await.1).0
        }
    });
    let codes = futures_util::future::join_all(guesses).await;
    let tried = codes.iter().filter(|c| *c == "PERSONAL_CODE_INVALID").count();
    let refused = codes.iter().filter(|c| *c == "RATE_LIMITED").count();
    assert_eq!((tried, refused), (5, 15), "{codes:?}");
    assert_eq!(error_of(&w.submit(&id).await.1).0, "RATE_LIMITED", "even the right code, while locked");
    assert_eq!(w.read(&w.teacher, &id).await["state"], "DRAFT");
    // The code's lock is its own: the password still signs in.
    w.app.login(TEACHER).await;
}

#[tokio::test]
async fn the_infanzia_window_holds_from_its_first_to_its_last_second_in_italy() {
    let w = world().await;
    let input =
        ap(&w.p.elsewhere_municipality, json!([{ "kind": "MUNICIPALITY", "code": w.p.elsewhere_municipality }]));
    let id = w.draft(input).await;
    w.clock("2016-07-27T23:59:59").await;
    let (_, body) = w.submit(&id).await;
    assert_eq!(error_of(&body), ("CAMPAIGN_CLOSED".into(), "WIN-1".into()), "{body}");
    w.clock("2016-08-13T00:00:00").await;
    assert_eq!(error_of(&w.submit(&id).await.1).0, "CAMPAIGN_CLOSED");
    assert_eq!(w.read(&w.teacher, &id).await["protocolNumber"], Value::Null, "a refusal stores nothing");
    w.clock("2016-08-12T23:59:59").await;
    assert_eq!(w.submit(&id).await.1["data"]["submitMobilityApplication"]["state"], "SUBMITTED");
    // The first second, for a second teacher's form of another kind.
    let ut = json!({ "campaignYear": 2016, "kind": "UT", "order": "INFANZIA", "scope": "PROVINCIAL",
                     "postTypes": ["NN"], "utCategories": ["SURPLUS_OF"],
                     "preferences": [{ "kind": "SCHOOL", "code": w.p.held }] });
    let ut = w.draft(ut).await;
    w.clock("2016-07-28T00:00:00").await;
    let (_, body) = w.submit(&ut).await;
    assert_eq!(body["data"]["submitMobilityApplication"]["state"], "SUBMITTED", "COM-4: a UT may stay: {body}");
}

#[tokio::test]
async fn every_refusal_names_its_rule_and_stores_nothing() {
    let w = world().await;
    let m = w.p.elsewhere_municipality.clone();
    let cases: Vec<(&str, &str, Value)> = vec![
        ("BAD_USER_INPUT", "COM-1", ap(&m, json!([{ "kind": "SCHOOL", "code": w.p.same_town }]))),
        ("BAD_USER_INPUT", "COM-1", ap(&m, json!([{ "kind": "MUNICIPALITY", "code": w.p.held_municipality }]))),
        ("BAD_USER_INPUT", "PROV-1", ap(&m, json!([{ "kind": "SCHOOL", "code": w.p.milan }]))),
        ("BAD_USER_INPUT", "PREF-2", ap(&m, json!([]))),
        ("BAD_USER_INPUT", "ELIG-5", {
            let mut i = ap(&m, json!([{ "kind": "MUNICIPALITY", "code": m }]));
            i["reasons"] = json!([]);
            i
        }),
        (
            "BAD_USER_INPUT",
            "UT-1",
            json!({ "campaignYear": 2016, "kind": "UT", "order": "INFANZIA", "scope": "PROVINCIAL",
            "postTypes": ["NN"], "preferences": [{ "kind": "SCHOOL", "code": w.p.elsewhere }] }),
        ),
        (
            "BAD_USER_INPUT",
            "UTIP-1",
            json!({ "campaignYear": 2016, "kind": "UT", "order": "INFANZIA", "scope": "INTERPROVINCIAL",
            "postTypes": ["NN"], "utCategories": ["ESUBERO"], "preferences": [{ "kind": "PROVINCE", "code": "MI" }] }),
        ),
        ("BAD_USER_INPUT", "POST-5", {
            let mut i = ap(&m, json!([{ "kind": "MUNICIPALITY", "code": m }]));
            i["postTypes"] = json!(["EH"]);
            i
        }),
    ];
    for (code, rule, input) in cases {
        let id = w.draft(input).await;
        let (_, body) = w.submit(&id).await;
        assert_eq!(error_of(&body), (code.to_owned(), rule.to_owned()), "{body}");
        let after = w.read(&w.teacher, &id).await;
        assert_eq!((after["state"].as_str(), after["protocolNumber"].as_str()), (Some("DRAFT"), None), "{rule}");
        // One form per order: the draft makes way for the next case.
        let mut c = w.app.db().conn().await;
        diesel::sql_query(format!("DELETE FROM mobility_applications WHERE id = {id}")).execute(&mut c).await.unwrap();
    }
    // PREF-1 is checked on the draft already: 21 preferences for infanzia.
    let many: Vec<Value> = (0..21)
        .map(|i| json!({ "kind": "PROVINCE", "code": if i == 0 { "BG".to_owned() } else { format!("X{i}") } }))
        .collect();
    let (_, body) = w.app.post_as(Some(&w.teacher), CREATE, json!({ "i": ap(&m, json!(many)) })).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "PREF-1".into()), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.preferences");
    // ORG-4: a second form of the same kind and order.
    w.draft(ap(&m, json!([{ "kind": "MUNICIPALITY", "code": m }]))).await;
    let (_, body) = w
        .app
        .post_as(Some(&w.teacher), CREATE, json!({ "i": ap(&m, json!([{ "kind": "MUNICIPALITY", "code": m }])) }))
        .await;
    assert_eq!(error_of(&body), ("CONFLICT".into(), "ORG-4".into()), "{body}");
    let count =
        w.app.query_as(&w.teacher, "{ mobilityApplications(campaignYear: 2016) { totalCount } }", json!({})).await;
    assert_eq!(count["mobilityApplications"]["totalCount"], 1);
}

#[tokio::test]
async fn not_recognised_items_and_ineffective_preferences_are_stored_with_warnings() {
    let w = world().await;
    let m = w.p.elsewhere_municipality.clone();
    // Without the reunion municipality's own code, a province code is ineffective (PREF-3a).
    let mut input = ap(&m, json!([{ "kind": "SCHOOL", "code": w.p.elsewhere }, { "kind": "PROVINCE", "code": "BG" }]));
    input["children"] = json!([{ "birthDate": "2012-03-01" }, { "birthDate": "2004-01-01" }]);
    input["precedences"] = json!([
        { "code": "L_CHILD_UNDER_6", "childBirthDate": "2010-01-01" },
        { "code": "L_CHILD_UNDER_6", "childBirthDate": "2009-12-31" },
        { "code": "M_CHILD_6_TO_12", "childBirthDate": "2006-01-01" },
        { "code": "A_BLIND" }
    ]);
    let id = w.draft(input).await;
    let (_, body) = w.submit(&id).await;
    let a = &body["data"]["submitMobilityApplication"];
    assert_eq!(a["state"], "SUBMITTED", "{body}");
    assert_eq!(a["preferences"][0]["effective"], true);
    assert_eq!(
        a["preferences"][1],
        json!({ "position": 2, "kind": "PROVINCE", "code": "BG", "effective": false, "rule": "PREF-3a" })
    );
    let precedences: Vec<(Value, Value)> =
        a["precedences"].as_array().unwrap().iter().map(|p| (p["recognised"].clone(), p["rule"].clone())).collect();
    assert_eq!(
        precedences,
        [
            (Value::Null, Value::Null),
            (json!(false), json!("PRE-L")),
            (json!(false), json!("PRE-M")),
            (json!(false), json!("PRE-0c")),
        ]
    );
    // 4 for the child under 6, 3 for the one from 6 to 18; the spouse's 6 need the declaration.
    assert_eq!(a["familyScore"], json!({ "a": 0, "b": 4, "c": 3, "d": 0, "total": 7 }));
    let rules: Vec<&str> = a["warnings"].as_array().unwrap().iter().map(|x| x["rule"].as_str().unwrap()).collect();
    for r in ["PREF-3a", "PRE-L", "PRE-M", "PRE-0c", "SC-A"] {
        assert!(rules.contains(&r), "a warning for {r}: {rules:?}");
    }
}

#[tokio::test]
async fn an_interprovincial_application_goes_to_the_requested_province_only() {
    let w = world().await;
    let mut input =
        ap("015146", json!([{ "kind": "SCHOOL", "code": w.p.milan }, { "kind": "PROVINCE", "code": "MI" }]));
    input["scope"] = json!("INTERPROVINCIAL");
    let id = w.draft(input).await;
    let (_, body) = w.submit(&id).await;
    assert_eq!(body["data"]["submitMobilityApplication"]["processingOffice"]["code"], "MI", "{body}");
    let mi = w.app.login(MI).await;
    assert_eq!(w.read(&mi, &id).await["processingOffice"]["code"], "MI");
    assert_eq!(w.app.query_as(&w.office, &one_doc(), json!({ "id": id })).await["mobilityApplication"], Value::Null);
}

#[tokio::test]
async fn the_office_enters_paper_forms_only_for_the_paper_cases_on_their_day_of_receipt() {
    let w = world().await;
    let paper = "mutation($t: String!, $i: MobilityApplicationInput!, $r: Date!) {
        recordPaperMobilityApplication(teacherTaxCode: $t, input: $i, receivedOn: $r) { state channel receivedOn protocolNumber processingOffice { code } } }";
    let mut ata = teacher_input("ata@ambito.invalid", "Neri", &w.p.held);
    ata["category"] = json!("ATA");
    w.app.query_as(&w.office, SET_TEACHER, json!({ "i": ata })).await;
    let m = w.p.elsewhere_municipality.clone();
    let input = ap(&m, json!([{ "kind": "MUNICIPALITY", "code": m }]));
    w.clock("2016-08-25T10:00:00").await;
    let (_, body) =
        w.app.post_as(Some(&w.office), paper, json!({ "t": tax("Neri"), "i": input, "r": "2016-08-21" })).await;
    assert_eq!(error_of(&body), ("CAMPAIGN_CLOSED".into(), "WIN-3".into()), "ATA until 20 August: {body}");
    let (_, body) =
        w.app.post_as(Some(&w.office), paper, json!({ "t": tax("Neri"), "i": input, "r": "2016-08-20" })).await;
    let row = &body["data"]["recordPaperMobilityApplication"];
    assert_eq!((row["state"].as_str(), row["channel"].as_str()), (Some("SUBMITTED"), Some("PAPER")), "{body}");
    assert_eq!(row["processingOffice"]["code"], "BG");
    // An ordinary teacher's own form is online only (CH-1).
    let (_, body) =
        w.app.post_as(Some(&w.office), paper, json!({ "t": own_tax(), "i": input, "r": "2016-08-01" })).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "CH-1".into()), "{body}");
    // Milan's office does not reach Bergamo's registry.
    let mi = w.app.login(MI).await;
    let (_, body) = w.app.post_as(Some(&mi), paper, json!({ "t": tax("Neri"), "i": input, "r": "2016-08-20" })).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND", "{body}");
}

#[tokio::test]
async fn irc_forms_go_to_the_regional_directorate_of_the_diocese_and_no_province_sees_them() {
    let w = world().await;
    let paper = "mutation($t: String!, $i: MobilityApplicationInput!, $r: Date!) {
        recordPaperMobilityApplication(teacherTaxCode: $t, input: $i, receivedOn: $r) {
            id state protocolNumber diocese processingOffice { code kind } } }";
    let mut irc = teacher_input("irc@ambito.invalid", "Bruni", &w.p.held);
    irc["category"] = json!("IRC");
    w.app.query_as(&w.office, SET_TEACHER, json!({ "i": irc })).await;
    let m = w.p.elsewhere_municipality.clone();
    let mut input = ap(&m, json!([{ "kind": "MUNICIPALITY", "code": m }]));
    let usr = w.app.login(DIRECTORATE).await;
    let app = &w.app;
    let record = |token: &str, input: &Value| {
        let vars = json!({ "t": tax("Bruni"), "i": input, "r": "2016-08-01" });
        let token = token.to_owned();
        async move { app.post_as(Some(&token), paper, vars).await.1 }
    };
    // The diocese routes the form: none, or one not on record, is refused.
    for diocese in [Value::Null, json!("NOWHERE")] {
        input["diocese"] = diocese;
        let body = record(&usr, &input).await;
        assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "R-ROUTE-1".into()), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "input.diocese");
    }
    input["diocese"] = json!("BERGAMO");
    // Bergamo's office is the see's, not the form's destination.
    let body = record(&w.office, &input).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "R-ROUTE-1".into()), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("regional directorate of Lombardia"), "{body}");
    let body = record(&usr, &input).await;
    let row = &body["data"]["recordPaperMobilityApplication"];
    assert_eq!(row["state"], "SUBMITTED", "{body}");
    assert_eq!(row["processingOffice"], json!({ "code": "Lombardia", "kind": "REGIONAL" }));
    assert_eq!(row["diocese"], "BERGAMO");
    let id = row["id"].as_str().unwrap().to_owned();
    // The directorate reads and reviews it; neither provincial office finds it.
    assert_eq!(w.read(&usr, &id).await["id"], id.as_str());
    let mi = w.app.login(MI).await;
    for office in [&w.office, &mi] {
        assert!(w.read(office, &id).await.is_null(), "no province reads a form routed to the region");
    }
    let receipt = "mutation($a: ID!) { recordDocumentReceipt(applicationId: $a, input: { documentKind: SELF_DECLARATION, channel: HAND, receivedOn: \"2016-08-01\" }) { documentReceipts { channel } } }";
    let r = w.app.query_as(&usr, receipt, json!({ "a": id })).await;
    assert_eq!(r["recordDocumentReceipt"]["documentReceipts"][0]["channel"], "HAND");
    let (_, body) = w.app.post_as(Some(&w.office), receipt, json!({ "a": id })).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND", "{body}");
    // Its list holds the IRC forms, and nothing else.
    let list = "{ mobilityApplications(first: 100) { totalCount nodes { processingOffice { code kind } } } }";
    let got = w.app.query_as(&usr, list, json!({})).await["mobilityApplications"].clone();
    let nodes = got["nodes"].as_array().unwrap();
    assert!(!nodes.is_empty() && nodes.iter().all(|n| n["processingOffice"]["kind"] == "REGIONAL"), "{got}");
    assert_eq!(got["totalCount"].as_u64().unwrap() as usize, nodes.len());
    let bg = w.app.query_as(&w.office, list, json!({})).await["mobilityApplications"].clone();
    assert!(bg["nodes"].as_array().unwrap().iter().all(|n| n["processingOffice"]["kind"] == "PROVINCIAL"), "{bg}");
    // Only an IRC teacher's form names a diocese.
    let mut own = ap(&m, json!([{ "kind": "MUNICIPALITY", "code": m }]));
    own["diocese"] = json!("BERGAMO");
    let id = w.draft(own).await;
    let (_, body) = w.submit(&id).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "R-ROUTE-1".into()), "{body}");
}

#[tokio::test]
async fn the_particular_conditions_of_precedences_are_declared_on_the_form() {
    let w = world().await;
    let m = w.p.elsewhere_municipality.clone();
    let mut input = ap(&m, json!([{ "kind": "MUNICIPALITY", "code": m }]));
    input["precedences"] = json!([{ "code": "I_SOLE_RELATIVE", "municipality": m, "kinshipDegree": 9 }]);
    let (_, body) = w.app.post_as(Some(&w.teacher), CREATE, json!({ "i": input })).await;
    assert_eq!(error_of(&body).0, "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.precedences.kinshipDegree");
    input["precedences"] = json!([
        { "code": "D_DISABILITY_ART21", "invalidityPercent": 66 },
        { "code": "G_ASSIST_CHILD", "municipality": m, "assistedBy": "SUPPORT_ADMINISTRATOR" },
        { "code": "I_SOLE_RELATIVE", "municipality": m, "kinshipDegree": 3, "soleReferent": true },
        { "code": "H_ASSIST_SPOUSE_OR_PARENT", "municipality": m, "downSyndromeProvisional": true },
    ]);
    let id = w.draft(input).await;
    let (_, body) = w.submit(&id).await;
    let done = &body["data"]["submitMobilityApplication"];
    let rules: Vec<&str> =
        done["precedences"].as_array().unwrap().iter().map(|p| p["rule"].as_str().unwrap()).collect();
    // Each condition unmet is named; the spouse (h) meets its own and lacks
    // only its certificate. The form stands.
    assert_eq!(rules, ["PRE-D", "PRE-G", "PRE-I", "PRE-0c"], "{body}");
    assert_eq!(done["state"], "SUBMITTED");
    assert!(done["warnings"].as_array().unwrap().iter().any(|x| x["rule"] == "DOC-8"), "{body}");
}

/// A II grado site of a province, from the demo territory.
async fn liceo(app: &TestApp, province: &str) -> String {
    let sql = format!(
        "SELECT code, municipality_istat AS municipality FROM sites
         WHERE province_code = '{province}' AND school_order = 'secondaria_secondo_grado' ORDER BY code LIMIT 1"
    );
    let found: Vec<Code> = diesel::sql_query(sql).load(&mut app.db().conn().await).await.unwrap();
    found[0].code.clone()
}

#[tokio::test]
async fn a_liceo_musicale_form_goes_to_the_office_of_the_liceos_province() {
    let w = world().await;
    let (bg_liceo, mi_liceo) = (liceo(&w.app, "BG").await, liceo(&w.app, "MI").await);
    let mut t = teacher_input("musica@ambito.invalid", "Verdi", &bg_liceo);
    t["order"] = json!("SECONDARIA_SECONDO_GRADO");
    t["classOfCompetition"] = json!("A012");
    w.app.query_as(&w.office, SET_TEACHER, json!({ "i": t })).await;
    let esubero =
        "mutation { setEsubero(campaignYear: 2016, province: \"BG\", classOfCompetition: \"A012\", count: 2) }";
    w.app.query_as(&w.office, esubero, json!({})).await;
    w.clock("2016-08-25T10:00:00").await;
    let paper = "mutation($t: String!, $i: MobilityApplicationInput!) {
        recordPaperMobilityApplication(teacherTaxCode: $t, input: $i, receivedOn: \"2016-08-20\") {
            id state processingOffice { code kind } } }";
    let form = |school: &str, scope: &str| {
        json!({ "campaignYear": 2016, "kind": "UT", "order": "SECONDARIA_SECONDO_GRADO", "scope": scope,
                "musicalLiceo": true, "classOfCompetition": "A012", "postTypes": ["NN"],
                "utCategories": ["SURPLUS_OF"], "preferences": [{ "kind": "SCHOOL", "code": school }] })
    };
    let vars = json!({ "t": tax("Verdi"), "i": form(&mi_liceo, "INTERPROVINCIAL") });
    // The seed gives no days (Ambiguity 3): closed until the office sets them.
    let (_, body) = w.app.post_as(Some(&w.office), paper, vars.clone()).await;
    assert_eq!(error_of(&body), ("CAMPAIGN_CLOSED".into(), "WIN-1".into()), "{body}");
    let window = "mutation { setLiceoMusicaleWindow(campaignYear: 2016, opens: \"2016-08-16\", closes: \"2016-08-31\") { year } }";
    w.app.query_as(&w.office, window, json!({})).await;
    // Held in Bergamo, asking a liceo in Milano: Milano's office receives it.
    let (_, body) = w.app.post_as(Some(&w.office), paper, vars.clone()).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "R-ROUTE-1".into()), "{body}");
    let mi = w.app.login(MI).await;
    let (_, body) = w.app.post_as(Some(&mi), paper, vars).await;
    let row = &body["data"]["recordPaperMobilityApplication"];
    assert_eq!(row["state"], "SUBMITTED", "{body}");
    assert_eq!(row["processingOffice"], json!({ "code": "MI", "kind": "PROVINCIAL" }));
    let id = row["id"].as_str().unwrap();
    assert_eq!(w.read(&mi, id).await["id"], id);
    assert!(w.read(&w.office, id).await.is_null(), "the home office does not read it");
    // A form asking for Bergamo is not Milano's to enter: its teacher is
    // then as unknown to Milano as any other of Bergamo's registry.
    let vars = json!({ "t": tax("Verdi"), "i": form(&bg_liceo, "PROVINCIAL") });
    let (_, body) = w.app.post_as(Some(&mi), paper, vars).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND", "{body}");
}

#[tokio::test]
async fn the_office_sets_its_provinces_vacancies_all_or_nothing_and_corrects_them_with_a_reason() {
    let w = world().await;
    let (bg_liceo, mi_liceo) = (liceo(&w.app, "BG").await, liceo(&w.app, "MI").await);
    let set =
        "mutation($e: [VacancyInput!]!, $r: String) { setVacancies(campaignYear: 2016, entries: $e, reason: $r) }";
    let list = "{ mobilityVacancies(campaignYear: 2016, province: \"BG\") { school postType classOfCompetition chairKind count } }";
    let line = |school: &str, count: i32| json!({ "school": school, "postType": "NN", "classOfCompetition": "A012", "chairKind": "INTERNAL", "count": count });
    let infanzia = json!({ "school": w.p.held, "postType": "NN", "chairKind": "INTERNAL", "count": 1 });
    let set_as = |token: &str, e: Value, r: Value| {
        let token = token.to_owned();
        let app = &w.app;
        async move { app.post_as(Some(&token), set, json!({ "e": e, "r": r })).await.1 }
    };
    let body = set_as(&w.office, json!([line(&bg_liceo, 2), infanzia]), Value::Null).await;
    assert_eq!(body["data"]["setVacancies"], 2, "{body}");
    // Everyone signed in reads them: they are published.
    let shown = w.app.query_as(&w.teacher, list, json!({})).await["mobilityVacancies"].clone();
    assert_eq!(shown.as_array().unwrap().len(), 2, "{shown}");
    assert!(shown.as_array().unwrap().contains(
        &json!({ "school": bg_liceo, "postType": "NN", "classOfCompetition": "A012", "chairKind": "INTERNAL", "count": 2 })
    ));
    // A school of another province: refused, and the line before it is not stored either.
    let body = set_as(&w.office, json!([line(&bg_liceo, 5), line(&mi_liceo, 1)]), json!("errore")).await;
    assert_eq!(error_of(&body).0, "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "entries.school");
    let mi = w.app.login(MI).await;
    let body = set_as(&mi, json!([line(&bg_liceo, 5)]), json!("errore")).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "entries.school", "Milano's office keeps Milano's: {body}");
    assert_eq!(w.app.query_as(&w.teacher, list, json!({})).await["mobilityVacancies"], shown, "nothing changed");
    // A correction needs a reason; the same count again does not.
    let body = set_as(&w.office, json!([line(&bg_liceo, 3)]), Value::Null).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "reason", "{body}");
    assert_eq!(set_as(&w.office, json!([line(&bg_liceo, 2)]), Value::Null).await["data"]["setVacancies"], 1);
    let body = set_as(&w.office, json!([line(&bg_liceo, 3)]), json!("un posto liberato")).await;
    assert_eq!(body["data"]["setVacancies"], 1, "{body}");
    let trail = "{ auditTrail(first: 10, action: \"set\") { edges { node { objectKind previous current } } } }";
    let events = w.app.query_as(&w.office, trail, json!({})).await["auditTrail"]["edges"].clone();
    let corrected = events.as_array().unwrap().iter().find(|e| e["node"]["current"]["reason"] == "un posto liberato");
    let corrected = corrected.expect("the correction is audited");
    assert_eq!(corrected["node"]["previous"]["count"], 2);
    assert_eq!(corrected["node"]["current"]["count"], 3);
    // Bad counts and classes not on record change nothing.
    let body = set_as(&w.office, json!([line(&bg_liceo, 1001)]), json!("x")).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "entries.count", "{body}");
    let mut unknown = line(&bg_liceo, 1);
    unknown["classOfCompetition"] = json!("Z999");
    let body = set_as(&w.office, json!([unknown]), json!("x")).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "entries.classOfCompetition", "{body}");
}

#[tokio::test]
async fn limited_mode_never_stops_an_application() {
    let w = world().await;
    let mut conn = w.app.db().conn_as(ambito::db::roles::DbRole::Auth).await;
    let functions = AccountFunction::ALL.to_vec();
    limited::switch(&mut conn, Switch::On { functions, until: None, message: "manutenzione".into() }).await.unwrap();
    let m = w.p.elsewhere_municipality.clone();
    let id = w.draft(ap(&m, json!([{ "kind": "MUNICIPALITY", "code": m }]))).await;
    let (_, body) = w.submit(&id).await;
    assert_eq!(body["data"]["submitMobilityApplication"]["state"], "SUBMITTED", "{body}");
    let (_, body) = w.app.post_as(Some(&w.teacher), &withdraw_doc(), json!({ "id": id, "c": w.code })).await;
    assert_eq!(body["data"]["withdrawMobilityApplication"]["state"], "WITHDRAWN", "{body}");
}

/// Uploads a document of an application, to Garage, in one PUT; returns its id.
async fn upload_doc(app: &TestApp, token: &str, application: &str, kind: &str, bytes: &[u8]) -> String {
    let slot = "mutation($i: CreateUploadInput!) { createUpload(input: $i) { attachment { id } uploadUrl } }";
    let input = json!({ "i": { "parentId": application, "kind": "APPLICATION_DOCUMENT", "documentKind": kind,
                               "fileName": "certificato.pdf", "contentType": "application/pdf", "size": bytes.len() } });
    let s = app.query_as(token, slot, input).await["createUpload"].clone();
    let url = s["uploadUrl"].as_str().unwrap();
    let resp = app.http.put(app.url(url)).bearer_auth(token).body(bytes.to_vec()).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    s["attachment"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn documents_count_once_confirmed_and_the_office_reviews_with_reasons() {
    let options = Options { explorable: true, ..Default::default() };
    let files = test_files(crate::attachments::bucket(), 8);
    let w = world_over(TestApp::start_with(TestDb::demo().await, options, files).await).await;
    let m = w.p.elsewhere_municipality.clone();
    let mut input = ap(&m, json!([{ "kind": "MUNICIPALITY", "code": m }]));
    let id = w.draft(input.clone()).await;
    let bytes = pdf(3000, 7);
    let cert = upload_doc(&w.app, &w.teacher, &id, "MEDICAL_CERTIFICATE", &bytes).await;
    input["precedences"] = json!([{ "code": "A_BLIND", "documents": [cert] }, { "code": "B_DIALYSIS" }]);
    w.app.query_as(&w.teacher, UPDATE, json!({ "id": id, "i": input })).await;
    // A document of another application is not this one's.
    let mut wrong = input.clone();
    wrong["precedences"] = json!([{ "code": "A_BLIND", "documents": ["00000000-0000-0000-0000-000000000000"] }]);
    let (_, body) = w.app.post_as(Some(&w.teacher), UPDATE, json!({ "id": id, "i": wrong })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.precedences.documents", "{body}");

    let confirm = "mutation($a: ID!, $d: ID!, $c: String!) { confirmMobilityAttachment(applicationId: $a, attachmentId: $d, personalCode: $c) { id documentKind confirmedAt } }";
    let (_, body) =
        w.app.post_as(Some(&w.teacher), confirm, json!({ "a": id, "d": cert, "c": "BBBBBBBBBBBBBBBB" })).await;
    assert_eq!(error_of(&body).0, "PERSONAL_CODE_INVALID", "{body}");
    let done = w.app.query_as(&w.teacher, confirm, json!({ "a": id, "d": cert, "c": w.code })).await;
    assert_eq!(done["confirmMobilityAttachment"]["documentKind"], "MEDICAL_CERTIFICATE");
    assert!(done["confirmMobilityAttachment"]["confirmedAt"].is_string());

    let (_, body) = w.submit(&id).await;
    let a = &body["data"]["submitMobilityApplication"];
    assert_eq!(a["precedences"][0], json!({ "code": "A_BLIND", "recognised": null, "rule": null }), "{body}");
    assert_eq!(a["precedences"][1]["rule"], "PRE-0c", "no certificate for (b)");

    // The certificate: the teacher and the processing office, nobody else.
    let get = |token: String| {
        let app = &w.app;
        let cert = cert.clone();
        async move { crate::attachments::get(app, &token, &cert, None).await.status().as_u16() }
    };
    assert_eq!(get(w.teacher.clone()).await, 200);
    assert_eq!(get(w.office.clone()).await, 200);
    for other in [MI, SCHOOL, OTHER_TEACHER] {
        assert_eq!(get(w.app.login(other).await).await, 404, "{other}");
    }
    let docs = "query($id: ID!) { mobilityApplication(id: $id) { attachments { id documentKind } } }";
    let seen = w.app.query_as(&w.office, docs, json!({ "id": id })).await;
    assert_eq!(seen["mobilityApplication"]["attachments"][0]["id"], cert.as_str());

    // The office's review, each act with a reason.
    let decide = "mutation($a: ID!, $c: PrecedenceCode!, $r: Boolean!) { decidePrecedence(applicationId: $a, code: $c, recognised: $r, reason: \"visto il certificato\") { precedences { code recognised rule decisionReason } } }";
    let d = w.app.query_as(&w.office, decide, json!({ "a": id, "c": "A_BLIND", "r": true })).await;
    assert_eq!(d["decidePrecedence"]["precedences"][0]["recognised"], true);
    assert_eq!(d["decidePrecedence"]["precedences"][0]["decisionReason"], "visto il certificato");
    let (_, body) = w.app.post_as(Some(&w.office), decide, json!({ "a": id, "c": "B_DIALYSIS", "r": true })).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "PRE-0c".into()), "{body}");
    let receipt = "mutation($a: ID!, $d: Date!) { recordDocumentReceipt(applicationId: $a, input: { documentKind: MEDICAL_CERTIFICATE, channel: HAND, receivedOn: $d, precedence: B_DIALYSIS }) { documentReceipts { channel receivedOn precedence } } }";
    w.clock("2016-08-20T09:00:00").await;
    let late = w.app.query_as(&w.office, receipt, json!({ "a": id, "d": "2016-08-13" })).await;
    assert_eq!(late["recordDocumentReceipt"]["documentReceipts"][0]["channel"], "HAND");
    let (_, body) = w.app.post_as(Some(&w.office), decide, json!({ "a": id, "c": "B_DIALYSIS", "r": true })).await;
    assert_eq!(error_of(&body).1, "PRE-0c", "a certificate after the deadline does not count: {body}");
    w.app.query_as(&w.office, receipt, json!({ "a": id, "d": "2016-08-12" })).await;
    let d = w.app.query_as(&w.office, decide, json!({ "a": id, "c": "B_DIALYSIS", "r": true })).await;
    assert_eq!(d["decidePrecedence"]["precedences"][1]["recognised"], true);
    let mi = w.app.login(MI).await;
    let (_, body) = w.app.post_as(Some(&mi), decide, json!({ "a": id, "c": "A_BLIND", "r": false })).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND");
    let (_, body) = w.app.post_as(Some(&w.teacher), decide, json!({ "a": id, "c": "A_BLIND", "r": true })).await;
    assert_eq!(error_of(&body).0, "FORBIDDEN", "the teacher does not decide: {body}");

    let family = "mutation($a: ID!, $s: FamilyScoreInput!) { setFamilyScore(applicationId: $a, score: $s, reason: \"dichiarazione consegnata a mano\") { familyScore { a b c d total overrideReason } } }";
    let (_, body) =
        w.app.post_as(Some(&w.office), family, json!({ "a": id, "s": { "a": 5, "b": 0, "c": 0, "d": 0 } })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "score", "{body}");
    let f = w.app.query_as(&w.office, family, json!({ "a": id, "s": { "a": 6, "b": 4, "c": 0, "d": 0 } })).await;
    assert_eq!(
        f["setFamilyScore"]["familyScore"],
        json!({ "a": 6, "b": 4, "c": 0, "d": 0, "total": 10, "overrideReason": "dichiarazione consegnata a mano" })
    );
    let trail = "{ auditTrail(first: 10, action: \"set_family_score\") { edges { node { previous current } } } }";
    let t = w.app.query_as(&w.office, trail, json!({})).await;
    let node = &t["auditTrail"]["edges"][0]["node"];
    assert_eq!(node["current"]["a"], 6);
    assert_eq!(node["previous"]["a"], 0, "the computed score it replaced: {node}");

    // DOC-5: the teacher reuses the certificate on another form, without uploading it again.
    let ut = json!({ "campaignYear": 2016, "kind": "UT", "order": "INFANZIA", "scope": "PROVINCIAL",
                     "postTypes": ["NN"], "utCategories": ["SURPLUS_OF"], "preferences": [{ "kind": "SCHOOL", "code": w.p.held }] });
    let ut = w.draft(ut).await;
    let import = "mutation($a: ID!, $d: ID!) { importAttachmentFromHistory(applicationId: $a, attachmentId: $d) { id documentKind confirmedAt } }";
    let imported =
        w.app.query_as(&w.teacher, import, json!({ "a": ut, "d": cert })).await["importAttachmentFromHistory"].clone();
    assert_ne!(imported["id"], cert.as_str());
    assert_eq!(
        (imported["documentKind"].as_str(), &imported["confirmedAt"]),
        (Some("MEDICAL_CERTIFICATE"), &Value::Null)
    );
    let other = w.app.login(OTHER_TEACHER).await;
    let (_, body) = w.app.post_as(Some(&other), import, json!({ "a": ut, "d": cert })).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND", "{body}");
}

#[tokio::test]
async fn the_school_of_service_validates_the_utilisation_score_and_sees_nothing_else() {
    let w = world().await;
    // The demo teacher holds a post at a site of BGIC82100T, the demo school.
    let mut c = w.app.db().conn().await;
    let site: Vec<Code> = diesel::sql_query(
        "SELECT code, municipality_istat AS municipality FROM sites WHERE institution_code = 'BGIC82100T' ORDER BY code LIMIT 1",
    )
    .load(&mut c)
    .await
    .unwrap();
    w.app.query_as(&w.office, SET_TEACHER, json!({ "i": teacher_input(TEACHER, "Rossi", &site[0].code) })).await;
    // SC-U2/U3: the score part by part; a title after the 12 August
    // deadline does not count.
    let mut ut = json!({ "campaignYear": 2016, "kind": "UT", "order": "INFANZIA", "scope": "PROVINCIAL", "postTypes": ["NN"],
                     "utCategories": ["SURPLUS_OF"], "declaredScore": 42.5,
                     "precedences": [{ "code": "A_BLIND" }],
                     "preferences": [{ "kind": "SCHOOL", "code": site[0].code }] });
    let title = |name: &str, day: &str| json!({ "name": name, "points": 1.5, "obtainedOn": day });
    ut["utScore"] = json!({ "base": 35.0, "currentYear": 6, "continuity": 0,
                            "titles": [title("master", "2016-08-12"), title("corso", "2016-08-13")] });
    let (_, body) = w.app.post_as(Some(&w.teacher), CREATE, json!({ "i": ut })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.declaredScore", "the total or its parts: {body}");
    ut.as_object_mut().unwrap().remove("declaredScore");
    let mut bad = ut.clone();
    bad["utScore"]["continuity"] = json!(-1.0);
    let id = w.draft(bad).await;
    let (_, body) = w.submit(&id).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "SC-U2".into()), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.utScore");
    w.app.query_as(&w.teacher, UPDATE, json!({ "id": id, "i": ut })).await;
    let (_, body) = w.submit(&id).await;
    let done = &body["data"]["submitMobilityApplication"];
    assert_eq!(done["state"], "SUBMITTED", "{body}");
    assert!(done["warnings"].as_array().unwrap().iter().any(|x| x["rule"] == "SC-U3"), "{body}");
    let score = "query($id: ID!) { mobilityApplication(id: $id) { utScore { base currentYear continuity titles total lateTitles } } }";
    let got = w.app.query_as(&w.teacher, score, json!({ "id": id })).await;
    assert_eq!(
        got["mobilityApplication"]["utScore"],
        json!({ "base": 35.0, "currentYear": 6.0, "continuity": 0.0, "titles": 1.5, "total": 42.5, "lateTitles": ["corso"] })
    );

    let school = w.app.login(SCHOOL).await;
    let scores =
        "{ utilisationScores(first: 100) { nodes { applicationId teacherName schoolCode declared validated } } }";
    let got = w.app.query_as(&school, scores, json!({})).await["utilisationScores"]["nodes"].clone();
    let nodes = got.as_array().unwrap();
    assert!(nodes.iter().all(|n| n["schoolCode"] == "BGIC82100T"), "its own staff only: {got}");
    let mine = nodes.iter().find(|n| n["applicationId"] == id.as_str()).expect("the form's score section");
    let want = json!({ "applicationId": id, "teacherName": "Anna Rossi", "schoolCode": "BGIC82100T", "declared": 42.5, "validated": null });
    assert_eq!(mine, &want);
    // Nothing else of the form: no application, no documents, no precedences.
    let (_, body) = w.app.post_as(Some(&school), &one_doc(), json!({ "id": id })).await;
    assert_eq!(error_of(&body).0, "FORBIDDEN", "{body}");
    let other_school = crate::harness::demo_accounts()
        .into_iter()
        .find(|a| a.role == "school" && a.email != SCHOOL)
        .expect("another demo school");
    let other = w.app.login(&other_school.email).await;
    let theirs = w.app.query_as(&other, scores, json!({})).await["utilisationScores"]["nodes"].clone();
    let theirs = theirs.as_array().unwrap();
    assert!(theirs.iter().all(|n| n["applicationId"] != id.as_str() && n["schoolCode"] != "BGIC82100T"));

    let validate = "mutation($a: ID!, $s: Float!) { validateUtilisationScore(applicationId: $a, score: $s, note: \"anno in corso\") { declared validated note } }";
    let (_, body) = w.app.post_as(Some(&other), validate, json!({ "a": id, "s": 40.0 })).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND", "{body}");
    let (_, body) = w.app.post_as(Some(&w.office), validate, json!({ "a": id, "s": 40.0 })).await;
    assert_eq!(error_of(&body).0, "FORBIDDEN", "the school of service validates: {body}");
    let v = w.app.query_as(&school, validate, json!({ "a": id, "s": 40.0 })).await;
    assert_eq!(v["validateUtilisationScore"], json!({ "declared": 42.5, "validated": 40.0, "note": "anno in corso" }));
    // The office sees both values; the teacher too.
    let section =
        "query($id: ID!) { mobilityApplication(id: $id) { utilisationScore { declared validated validatedAt } } }";
    for token in [&w.office, &w.teacher] {
        let s = w.app.query_as(token, section, json!({ "id": id })).await["mobilityApplication"]["utilisationScore"]
            .clone();
        assert_eq!((s["declared"].as_f64(), s["validated"].as_f64()), (Some(42.5), Some(40.0)));
    }
}

#[tokio::test]
async fn the_demo_campaign_has_forms_in_every_state_and_the_demo_teacher_can_submit() {
    let app = TestApp::demo().await;
    let list = "{ mobilityApplications(first: 100, campaignYear: 2026) { totalCount nodes { state kind processingOffice { code } } } }";
    for (email, province) in [(BG, "BG"), (MI, "MI")] {
        let office = app.login(email).await;
        let got = app.query_as(&office, list, json!({})).await["mobilityApplications"].clone();
        assert!(got["totalCount"].as_i64().unwrap() >= 20, "{province}: {got}");
        let nodes = got["nodes"].as_array().unwrap();
        assert!(nodes.iter().all(|n| n["processingOffice"]["code"] == province), "only what is routed to {province}");
        for state in ["SUBMITTED", "WITHDRAWN"] {
            assert!(nodes.iter().any(|n| n["state"] == state), "{province} has a {state} form");
        }
        assert!(nodes.iter().any(|n| n["kind"] == "UT") && nodes.iter().any(|n| n["kind"] == "AP"));
    }
    let office = app.login(BG).await;
    app.query_as(&office, CLOCK, json!({ "t": "2026-08-05T10:00:00" })).await;
    let teacher = app.login(TEACHER).await;
    let drafts = app.query_as(&teacher, list, json!({})).await;
    assert_eq!(drafts["mobilityApplications"]["totalCount"], 0, "the demo teacher starts with no form");
    let code = demo_account(TEACHER).personal_code.unwrap();
    let input = json!({ "campaignYear": 2026, "kind": "AP", "order": "PRIMARIA", "scope": "PROVINCIAL", "postTypes": ["NN"],
                        "reasons": ["SPOUSE"], "reunion": { "relation": "SPOUSE", "municipality": "016024" },
                        "preferences": [{ "kind": "PROVINCE", "code": "BG" }] });
    let id = app.query_as(&teacher, CREATE, json!({ "i": input })).await["createMobilityApplication"]["id"].clone();
    let (_, body) = app.post_as(Some(&teacher), &submit_doc(), json!({ "id": id, "c": code })).await;
    assert_eq!(body["data"]["submitMobilityApplication"]["state"], "SUBMITTED", "{body}");
}

const IMPORT: &str = "mutation($f: MobilityReferenceFile!, $csv: String!, $y: Int) { \
    importMobilityReference(file: $f, csv: $csv, campaignYear: $y) }";

/// A line of the registry file: a tenured infanzia teacher at `school`.
fn teacher_line(surname: &str, school: &str, legal_start: &str, category: &str) -> String {
    let email = format!("{}@example.org", surname.to_lowercase());
    format!(
        "{};Anna;{surname};{email};{category};sì;INFANZIA;;NN;SCHOOL;{school};{legal_start};;PASSED;\
         \"PRIMARIA:2005-06-30\";;no;;;;2009-07-01",
        tax(surname)
    )
}

fn registry_file(lines: &[String]) -> String {
    let header = ambito::import::mobility::TEACHER_COLUMNS.join(";");
    format!("{header}\n{}\n", lines.join("\n"))
}

/// The office's CSV files: every bad line named first; then each line is
/// checked as its single mutation is, and the first refusal names its line
/// and stores nothing at all; a good file lands whole, in the office's scope.
#[tokio::test]
async fn the_office_imports_reference_files_all_or_nothing_with_line_numbers() {
    let app = TestApp::demo().await;
    let p = places(&app).await;
    let (bg, mi, school) = (app.login(BG).await, app.login(MI).await, app.login(SCHOOL).await);
    let read = async |token: &str, surname: &str| {
        app.query_as(token, READ_TEACHER, json!({ "t": tax(surname) })).await["teacher"].clone()
    };
    let import = async |token: &str, file: &str, csv: &str, year: Option<i32>| {
        app.post_as(Some(token), IMPORT, json!({ "f": file, "csv": csv, "y": year })).await.1
    };

    // Bad lines, each named with its column; nothing is stored.
    let csv = registry_file(&[
        teacher_line("Uno", &p.held, "2010-09-01", "TEACHER"),
        teacher_line("Due", &p.held, "2010-31-01", "TEACHER"),
        teacher_line("Tre", &p.held, "2010-09-01", "BIDELLO"),
    ]);
    let body = import(&bg, "TEACHERS", &csv, None).await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert_eq!(body["errors"][0]["extensions"]["field"], "csv", "{body}");
    assert!(message.contains("2 bad line(s)"), "{message}");
    assert!(message.contains("csv:3: legalStart:") && message.contains("csv:4: category:"), "{message}");
    assert_eq!(read(&bg, "Uno").await, Value::Null, "nothing was imported");

    // A line the use case refuses (a holding of another province) names its
    // line, and the good line before it is rolled back with it.
    let csv = registry_file(&[
        teacher_line("Uno", &p.held, "2010-09-01", "TEACHER"),
        teacher_line("Due", &p.milan, "2010-09-01", "TEACHER"),
    ]);
    let body = import(&bg, "TEACHERS", &csv, None).await;
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("csv:3: holding.code: not a school of the province BG"), "{body}");
    assert_eq!(read(&bg, "Uno").await, Value::Null, "all or nothing");

    // A good file lands whole, in Bergamo's scope only.
    let csv = registry_file(&[
        teacher_line("Uno", &p.held, "2010-09-01", "TEACHER"),
        teacher_line("Due", &p.elsewhere, "01/09/2011", "teacher"),
    ]);
    assert_eq!(import(&bg, "TEACHERS", &csv, None).await["data"]["importMobilityReference"], 2);
    assert_eq!(read(&bg, "Due").await["province"], "BG");
    let title = "query($t: String!) { teacher(taxCode: $t) { languageTitle } }";
    let got = app.query_as(&bg, title, json!({ "t": tax("Due") })).await;
    assert_eq!(got["teacher"]["languageTitle"], "2009-07-01", "every column lands");
    assert_eq!(read(&mi, "Due").await, Value::Null);
    // Milan's office re-importing Bergamo's teachers finds nothing to take over.
    let body =
        import(&mi, "TEACHERS", &registry_file(&[teacher_line("Uno", &p.milan, "2010-09-01", "TEACHER")]), None).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND", "{body}");
    assert_eq!(read(&bg, "Uno").await["province"], "BG", "unchanged");
    let body = import(&school, "CLASSES", "code;name;order\nA022;Italiano;SECONDARIA_PRIMO_GRADO\n", None).await;
    assert_eq!(error_of(&body).0, "FORBIDDEN");

    // The surplus belongs to a campaign; its province must be the office's.
    app.query_as(&bg, CAMPAIGN, json!({ "y": 2016 })).await;
    let surplus = "province;classOfCompetition;count\nBG;A022;3\nBG;EEEE;0\n";
    let body = import(&bg, "ESUBERO", surplus, None).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "campaignYear", "{body}");
    assert_eq!(import(&bg, "ESUBERO", surplus, Some(2016)).await["data"]["importMobilityReference"], 2);
    let body = import(&mi, "ESUBERO", surplus, Some(2016)).await;
    assert!(body["errors"][0]["message"].as_str().unwrap_or_default().starts_with("csv:2: province:"), "{body}");
}

/// `ambito import mobility districts FILE --as OFFICE`: the operator enters
/// an office's file with the office's checks and in its audit trail.
#[tokio::test]
async fn the_cli_imports_an_offices_file_as_the_office() {
    let app = TestApp::demo().await;
    let p = places(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, csv: String, office: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, csv).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_ambito"))
            .env_remove("DATABASE_URL")
            .env("AMBITO_LOG", "warn")
            .args(["--database-url", &app.db().login_url(), "import", "mobility", "districts"])
            .arg(&path)
            .args(["--as", office])
            .output()
            .unwrap()
    };
    let good = format!(
        "code;province;municipalities;sites\nBG07;BG;\"{}, {}\";\n",
        p.held_municipality, p.elsewhere_municipality
    );
    let out = run("districts.csv", good.clone(), BG);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 lines of school districts imported as"));

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = async |sql: &str| {
        let mut c = app.db().conn().await;
        diesel::sql_query(sql.to_owned()).get_result::<Count>(&mut c).await.unwrap().n
    };
    assert_eq!(count("SELECT count(*) AS n FROM school_districts WHERE code = 'BG07'").await, 1);
    let by_office = "SELECT count(*) AS n FROM audit_events a JOIN users u ON u.id = a.user_id
                     WHERE a.object_kind = 'school_district' AND a.object_id = 'BG07'
                       AND u.email = 'ufficio.bg@ambito.invalid' AND a.province_code = 'BG'";
    assert_eq!(count(by_office).await, 1, "audited as the office, in its province");

    // Milan's office cannot enter Bergamo's district; a school is no office.
    let out = run("bg.csv", good.replace("BG07", "BG08"), MI);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bg.csv:2: province:"), "{err}");
    let out = run("bg.csv", good.replace("BG07", "BG08"), SCHOOL);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no enabled account with an office's membership"));
    let out = run("bad.csv", "code;province;municipalities;sites\nBG08;BG;;\nBG09\n".into(), BG);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv:3:") && err.contains("nothing was imported"), "{err}");
    assert_eq!(count("SELECT count(*) AS n FROM school_districts WHERE code IN ('BG08', 'BG09')").await, 0);
}

/// The request options of spec §6 travel with the form, and one the form
/// does not offer is refused with its rule on `input.options`, changing nothing.
#[tokio::test]
async fn request_options_are_kept_and_refused_where_the_form_does_not_offer_them() {
    let w = world().await;
    let m = w.p.elsewhere_municipality.clone();
    let mut input = ap(&m, json!([{ "kind": "MUNICIPALITY", "code": m }]));
    input["options"] = json!({ "partPosts": true });
    let id = w.draft(input.clone()).await;
    let read =
        "query($id: ID!) { mobilityApplication(id: $id) { options { partPosts atDisposal chairs idd: iddMethods } } }";
    let options = w.app.query_as(&w.teacher, read, json!({ "id": id })).await["mobilityApplication"]["options"].clone();
    assert_eq!(options, json!({ "partPosts": true, "atDisposal": false, "chairs": null, "idd": [] }));
    for (options, rule) in [
        (json!({ "atDisposal": true }), "POST-13"),
        (json!({ "iddMethods": ["PIZZIGONI"] }), "POST-4"),
        (json!({ "chairs": "EXTERNAL_SAME_MUNICIPALITY" }), "POST-7"),
    ] {
        input["options"] = options;
        let (_, body) = w.app.post_as(Some(&w.teacher), UPDATE, json!({ "id": id, "i": input })).await;
        assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), rule.into()), "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "input.options");
    }
    let after = w.app.query_as(&w.teacher, read, json!({ "id": id })).await["mobilityApplication"]["options"].clone();
    assert_eq!(after["partPosts"], true, "unchanged");
    assert_eq!(w.submit(&id).await.1["data"]["submitMobilityApplication"]["state"], "SUBMITTED");
}

/// Sezione E (UT-E1) and confirmation (UT-CONF) make a utilisation on their
/// own; Sezione E is recognised only on its conditions, with warnings that
/// say why not, and a confirmation the order does not take is refused.
#[tokio::test]
async fn sezione_e_and_confirmation_through_the_server() {
    let w = world().await;
    let (held, elsewhere) = (w.p.held.clone(), w.p.elsewhere.clone());
    let ut = |extra: Value| {
        let mut f = json!({ "campaignYear": 2016, "kind": "UT", "order": "INFANZIA", "scope": "PROVINCIAL",
                            "postTypes": ["NN"], "preferences": [{ "kind": "SCHOOL", "code": elsewhere.to_lowercase() }] });
        f.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        f
    };
    let section = |year: i32| {
        json!({ "sectionE": { "previousSchool": elsewhere, "previousSupport": false, "movedInYear": year,
                              "askedEveryYear": true } })
    };
    let read = "query($id: ID!) { mobilityApplication(id: $id) { sectionE { previousSchool movedInYear } \
                sectionERecognised confirmation { school } warnings { rule message } } }";
    let id = w.draft(ut(section(2008))).await;
    let (_, body) = w.submit(&id).await;
    assert_eq!(body["data"]["submitMobilityApplication"]["state"], "SUBMITTED", "{body}");
    let a = w.app.query_as(&w.teacher, read, json!({ "id": id })).await["mobilityApplication"].clone();
    assert_eq!(a["sectionE"], json!({ "previousSchool": elsewhere, "movedInYear": 2008 }));
    assert_eq!(a["sectionERecognised"], true, "{a}");
    let receipt = crate::exports::pdf_text(&w.receipt(&w.teacher, &id).await.1);
    assert!(receipt.contains(&format!("Sezione E, rientro in {elsewhere}: riconosciuta")), "{receipt}");

    // A move before 2008/09: stored, not recognised, with its warning.
    w.app.query_as(&w.teacher, &withdraw_doc(), json!({ "id": id, "c": w.code })).await;
    w.app.query_as(&w.teacher, UPDATE, json!({ "id": id, "i": ut(section(2007)) })).await;
    w.submit(&id).await;
    let a = w.app.query_as(&w.teacher, read, json!({ "id": id })).await["mobilityApplication"].clone();
    assert_eq!(a["sectionERecognised"], false);
    assert_eq!(a["warnings"][0]["rule"], "UT-E1", "{a}");
    assert!(a["warnings"][0]["message"].as_str().unwrap().contains("2008/09"));

    // Confirmation alone: infanzia confirms the school, not a post type.
    let conf =
        |post: Value| json!({ "confirmation": { "school": held, "postType": post, "otherClassForEsubero": false } });
    let (_, body) = w.app.post_as(Some(&w.teacher), CREATE, json!({ "i": ut(conf(json!("NN"))) })).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "UT-CONF".into()), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.confirmation");
    w.app.query_as(&w.teacher, &withdraw_doc(), json!({ "id": id, "c": w.code })).await;
    w.app.query_as(&w.teacher, UPDATE, json!({ "id": id, "i": ut(conf(Value::Null)) })).await;
    let (_, body) = w.submit(&id).await;
    assert_eq!(body["data"]["submitMobilityApplication"]["state"], "SUBMITTED", "{body}");
    let a = w.app.query_as(&w.teacher, read, json!({ "id": id })).await["mobilityApplication"].clone();
    assert_eq!(a["confirmation"]["school"], held.as_str());
    assert_eq!(a["sectionERecognised"], Value::Null, "no Sezione E asked");

    // PREF-7: a utilisation in surplus names where the nearest-seat chain
    // starts, in its own province only.
    w.app.query_as(&w.teacher, &withdraw_doc(), json!({ "id": id, "c": w.code })).await;
    let chain =
        |code: &str| json!({ "utCategories": ["SURPLUS_OF"], "chainStart": { "kind": "MUNICIPALITY", "code": code } });
    let (_, body) = w.app.post_as(Some(&w.teacher), UPDATE, json!({ "id": id, "i": ut(chain("015146")) })).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "PREF-7".into()), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.chainStart");
    w.app.query_as(&w.teacher, UPDATE, json!({ "id": id, "i": ut(chain(&w.p.held_municipality)) })).await;
    let (_, body) = w.submit(&id).await;
    assert_eq!(body["data"]["submitMobilityApplication"]["state"], "SUBMITTED", "{body}");
    let start = "query($id: ID!) { mobilityApplication(id: $id) { chainStart { kind code } } }";
    let got = w.app.query_as(&w.teacher, start, json!({ "id": id })).await["mobilityApplication"]["chainStart"].clone();
    assert_eq!(got, json!({ "kind": "MUNICIPALITY", "code": w.p.held_municipality }));
}

/// DOC-9: an AP precedence without its documents is stored not recognised;
/// once the office records their receipt (by the deadline) it may recognise
/// it, and not before: the claim is checked again with what is on record.
#[tokio::test]
async fn a_precedence_lacking_documents_is_recognised_once_their_receipts_are_recorded() {
    let w = world().await;
    let m = w.p.elsewhere_municipality.clone();
    let mut input = ap(&m, json!([{ "kind": "MUNICIPALITY", "code": m }]));
    input["precedences"] = json!([{ "code": "O_MILITARY_SPOUSE" }]);
    let id = w.draft(input).await;
    let (_, body) = w.submit(&id).await;
    let a = &body["data"]["submitMobilityApplication"];
    assert_eq!(a["precedences"][0], json!({ "code": "O_MILITARY_SPOUSE", "recognised": false, "rule": "DOC-9" }));
    let warning = a["warnings"].as_array().unwrap().iter().find(|x| x["rule"] == "DOC-9").expect("a DOC-9 warning");
    assert!(warning["message"].as_str().unwrap().contains("SPOUSE_COHABITATION_DECLARATION"), "{warning}");

    let receipt = "mutation($a: ID!, $k: MobilityDocumentKind!, $d: Date!) { recordDocumentReceipt(applicationId: $a, \
                   input: { documentKind: $k, channel: HAND, receivedOn: $d, precedence: O_MILITARY_SPOUSE }) { id } }";
    let decide = "mutation($a: ID!) { decidePrecedence(applicationId: $a, code: O_MILITARY_SPOUSE, recognised: true, \
                  reason: \"dichiarazioni ricevute\") { precedences { code recognised } } }";
    w.clock("2016-08-20T09:00:00").await;
    w.app.query_as(&w.office, receipt, json!({ "a": id, "k": "SELF_DECLARATION", "d": "2016-08-05" })).await;
    let (_, body) = w.app.post_as(Some(&w.office), decide, json!({ "a": id })).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "DOC-9".into()), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("SPOUSE_COHABITATION_DECLARATION"));
    // Received after the deadline (12 August for infanzia): still missing.
    let k = "SPOUSE_COHABITATION_DECLARATION";
    w.app.query_as(&w.office, receipt, json!({ "a": id, "k": k, "d": "2016-08-13" })).await;
    let (_, body) = w.app.post_as(Some(&w.office), decide, json!({ "a": id })).await;
    assert_eq!(error_of(&body).1, "DOC-9", "{body}");
    w.app.query_as(&w.office, receipt, json!({ "a": id, "k": k, "d": "2016-08-10" })).await;
    let d = w.app.query_as(&w.office, decide, json!({ "a": id })).await;
    assert_eq!(d["decidePrecedence"]["precedences"][0], json!({ "code": "O_MILITARY_SPOUSE", "recognised": true }));
}
