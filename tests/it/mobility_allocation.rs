//! Process 4's allocation (issue 21) through the real server: the office
//! sets the free posts, runs the phase, re-runs it before approval and
//! after, approves it; three teachers' outcomes follow the legal order
//! (a recognised precedence before a higher score, COM-1 on an area code),
//! each sees only their own and only once approved, the certificate names
//! who took the post above theirs, and the cutoffs are published with
//! small counts suppressed.

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::mobility::{MI, OTHER_TEACHER, SET_TEACHER, World, ap, error_of, submit_doc, teacher_input, world};
use crate::recovery::link_token;

const ENABLE: &str = "mutation($i: EnableAccountInput!) { enableAccount(input: $i) { personalCodeHalf } }";
const VACANCIES: &str =
    "mutation($e: [VacancyInput!]!, $r: String) { setVacancies(campaignYear: 2016, entries: $e, reason: $r) }";
const RUN: &str = "mutation($p: MobilityPhase!) { runMobilityPhase(campaignYear: 2016, province: \"BG\", phase: $p) {
    runId state assignedCount inputHash outcomeHash revises moves { applicationId before after } } }";
const APPROVE: &str = "mutation($r: ID!) { approveMobilityRun(runId: $r) { runId state } }";
const OUTCOME: &str = "query($id: ID!) { mobilityApplication(id: $id) {
    protocolNumber
    outcome { state school { code } site { code } schoolCode postType chairKind phase preferencePosition }
    certificate { preference { position code } lastAdmitted { code precedence score group } } } }";
const FAMILY: &str = "mutation($a: ID!, $s: FamilyScoreInput!) {
    setFamilyScore(applicationId: $a, score: $s, reason: \"dichiarazione verificata\") { id } }";
const CUTOFFS: &str =
    "{ mobilityCutoffs(campaignYear: 2016, province: \"BG\") { code postType phase lastScore precedence suppressed } }";
const PASSWORD: &str = "la password di una docente";

#[derive(QueryableByName)]
struct Code {
    #[diesel(sql_type = Text)]
    code: String,
}

/// A site of Bergamo in a municipality that is neither of these.
async fn third_site(w: &World) -> String {
    let sql = format!(
        "SELECT code FROM sites WHERE province_code = 'BG' AND municipality_istat NOT IN ('{}', '{}') ORDER BY code LIMIT 1",
        w.p.held_municipality, w.p.elsewhere_municipality
    );
    let found: Vec<Code> = diesel::sql_query(sql).load(&mut w.app.db().conn().await).await.unwrap();
    found[0].code.clone()
}

/// A teacher enabled in person at Bergamo's office: registered (unless a
/// demo account), in the registry holding `school`, with a personal code.
/// Answers the session and the code.
async fn enabled_teacher(w: &World, email: &str, surname: &str, school: &str, demo: bool) -> (String, String) {
    let app = &w.app;
    if !demo {
        let register = "mutation($e: String!, $p: String!) { register(email: $e, password: $p) }";
        app.query(register, json!({ "e": email, "p": PASSWORD })).await;
        let token = link_token(&app.mail_to(email, 1).await, "confirm-registration");
        app.query("mutation($t: String!) { confirmRegistration(token: $t) }", json!({ "t": token })).await;
    }
    app.query_as(&w.office, SET_TEACHER, json!({ "i": teacher_input(email, surname, school) })).await;
    let input = json!({ "email": email, "documentKind": "CARTA_IDENTITA", "documentNumberLast4": "ab42",
                        "checkedOn": "2016-08-01" });
    let half = app.query_as(&w.office, ENABLE, json!({ "i": input })).await["enableAccount"]["personalCodeHalf"]
        .as_str()
        .unwrap()
        .to_owned();
    let mails = app.mail_to(email, if demo { 1 } else { 3 }).await;
    let other = mails
        .iter()
        .rev()
        .find_map(|m| m.lines().find_map(|l| l.strip_prefix("Codice personale (seconda metà): ")))
        .unwrap_or_else(|| panic!("the e-mailed half: {mails:?}"))
        .trim()
        .to_owned();
    let session = if demo {
        app.login(email).await
    } else {
        let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
        app.query(login, json!({ "e": email, "p": PASSWORD })).await["login"]["token"].as_str().unwrap().to_owned()
    };
    (session, format!("{half}{other}"))
}

/// Drafts and submits a form as `session`; answers its id.
async fn submitted(w: &World, session: &str, code: &str, input: Value) -> String {
    let create = "mutation($i: MobilityApplicationInput!) { createMobilityApplication(input: $i) { id } }";
    let id = w.app.query_as(session, create, json!({ "i": input })).await["createMobilityApplication"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = w.app.post_as(Some(session), &submit_doc(), json!({ "id": id, "c": code })).await;
    assert_eq!(body["data"]["submitMobilityApplication"]["state"], "SUBMITTED", "{body}");
    id
}

async fn family(w: &World, id: &str, s: [i32; 4]) {
    let score = json!({ "a": s[0], "b": s[1], "c": s[2], "d": s[3] });
    let (_, body) = w.app.post_as(Some(&w.office), FAMILY, json!({ "a": id, "s": score })).await;
    assert!(body["errors"].is_null(), "{body}");
}

async fn run(w: &World, phase: &str) -> Value {
    let (_, body) = w.app.post_as(Some(&w.office), RUN, json!({ "p": phase })).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["runMobilityPhase"].clone()
}

async fn outcome(w: &World, session: &str, id: &str) -> Value {
    w.app.query_as(session, OUTCOME, json!({ "id": id })).await["mobilityApplication"].clone()
}

fn line(school: &str, count: i32) -> Value {
    json!({ "school": school, "postType": "NN", "chairKind": "INTERNAL", "count": count })
}

#[tokio::test]
async fn the_office_runs_and_approves_a_phase_that_follows_the_legal_order_and_explains_itself() {
    let w = world().await;
    let (x, same_town, m) = (w.p.elsewhere.clone(), w.p.same_town.clone(), w.p.elsewhere_municipality.clone());
    let y = third_site(&w).await;
    let body =
        w.app.post_as(Some(&w.office), VACANCIES, json!({ "e": [line(&x, 1), line(&y, 1), line(&same_town, 1)] }));
    assert_eq!(body.await.1["data"]["setVacancies"], 3);

    // Three infanzia teachers holding posts in Bergamo's chief town.
    let (b_session, b_code) = enabled_teacher(&w, OTHER_TEACHER, "Bianchi", &w.p.held, true).await;
    let (c_session, c_code) = enabled_teacher(&w, "docente.conti@example.org", "Conti", &w.p.held, false).await;
    let school = |code: &str| json!({ "kind": "SCHOOL", "code": code });
    let municipality = json!({ "kind": "MUNICIPALITY", "code": m });
    // A asks for X, then the whole province (which holds a free post in
    // the town A holds a post in: COM-1 skips it), then the municipality.
    let a = submitted(
        &w,
        &w.teacher,
        &w.code,
        ap(&m, json!([school(&x), { "kind": "PROVINCE", "code": "BG" }, municipality])),
    )
    .await;
    let b = submitted(&w, &b_session, &b_code, ap(&m, json!([school(&x), school(&y), municipality]))).await;
    let mut c_form = ap(&m, json!([school(&x), municipality, school(&y)]));
    c_form["precedences"] = json!([{ "code": "B_DIALYSIS" }]);
    let c = submitted(&w, &c_session, &c_code, c_form).await;
    family(&w, &a, [6, 4, 0, 0]).await;
    family(&w, &b, [6, 8, 0, 6]).await;
    family(&w, &c, [0, 0, 0, 0]).await;

    // (b) lacks its certificate: not recognised, so the scores decide.
    let first = run(&w, "UT_AP_INTRA").await;
    assert_eq!((first["state"].as_str(), first["assignedCount"].as_i64()), (Some("PROPOSAL"), Some(2)), "{first}");
    let shown = |v: &Value| v["outcome"]["schoolCode"].as_str().map(str::to_owned);
    assert_eq!(shown(&outcome(&w, &w.office, &b).await), Some(x.clone()), "20 points take X");
    assert_eq!(shown(&outcome(&w, &w.office, &a).await), Some(y.clone()), "10 points: the province's next post");
    assert_eq!(outcome(&w, &w.office, &c).await["outcome"]["state"], "NOT_ASSIGNED");
    // A proposal is the office's alone.
    for (session, id) in [(&w.teacher, &a), (&b_session, &b)] {
        let mine = outcome(&w, session, id).await;
        assert_eq!((mine["outcome"].clone(), mine["certificate"].clone()), (Value::Null, json!([])), "{mine}");
    }
    // The same inputs, the same run; the next phase waits for approval (SEQ-1).
    let again = run(&w, "UT_AP_INTRA").await;
    assert_eq!((&again["inputHash"], &again["outcomeHash"]), (&first["inputHash"], &first["outcomeHash"]));
    assert_ne!(again["runId"], first["runId"], "a new proposal replaced the first");
    let (_, body) = w.app.post_as(Some(&w.office), RUN, json!({ "p": "AP_INTER" })).await;
    assert_eq!(error_of(&body), ("CONFLICT".into(), "SEQ-1".into()), "{body}");
    // Milano's office cannot approve Bergamo's run.
    let mi = w.app.login(MI).await;
    let (_, body) = w.app.post_as(Some(&mi), APPROVE, json!({ "r": again["runId"] })).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND", "{body}");

    // The certificate reaches the office by hand; it recognises (b): C now
    // comes first at X, whatever the scores.
    let receipt =
        "mutation($a: ID!) { recordDocumentReceipt(applicationId: $a, input: { documentKind: MEDICAL_CERTIFICATE,
        channel: HAND, receivedOn: \"2016-08-01\", precedence: B_DIALYSIS }) { id } }";
    w.app.query_as(&w.office, receipt, json!({ "a": c })).await;
    let decide = "mutation($a: ID!) { decidePrecedence(applicationId: $a, code: B_DIALYSIS, recognised: true,
        reason: \"certificato consegnato a mano\") { id } }";
    w.app.query_as(&w.office, decide, json!({ "a": c })).await;
    let second = run(&w, "UT_AP_INTRA").await;
    assert_ne!(second["inputHash"], first["inputHash"], "{second}");
    let approved = w.app.query_as(&w.office, APPROVE, json!({ "r": second["runId"] })).await;
    assert_eq!(approved["approveMobilityRun"]["state"], "APPROVED");
    let (_, body) = w.app.post_as(Some(&w.office), APPROVE, json!({ "r": second["runId"] })).await;
    assert_eq!(error_of(&body).0, "CONFLICT", "approved once: {body}");

    // Each teacher is told by e-mail (registration, account, enabling, receipt, outcome).
    let mails = w.app.mail_to("docente.conti@example.org", 5).await;
    let told = mails.iter().find(|m| m.contains("Esito: ")).expect("the outcome e-mail");
    assert!(told.contains(&format!("ASSEGNATA: sede {x}, posto NN (preferenza n. 1)")), "{told}");
    // Each teacher sees their own outcome now, and only their own.
    let c_seen = outcome(&w, &c_session, &c).await;
    assert_eq!(c_seen["outcome"]["state"], "ASSIGNED", "{c_seen}");
    assert_eq!(c_seen["outcome"]["schoolCode"], x.as_str());
    assert_eq!(c_seen["outcome"]["site"]["code"], x.as_str());
    assert_eq!((&c_seen["outcome"]["postType"], &c_seen["outcome"]["chairKind"]), (&json!("NN"), &json!("INTERNAL")));
    assert_eq!(c_seen["outcome"]["phase"], "UT_AP_INTRA");
    assert_eq!(c_seen["certificate"], json!([]), "the first preference obtained: nothing above it");
    let b_seen = outcome(&w, &b_session, &b).await;
    assert_eq!(shown(&b_seen), Some(y.clone()), "{b_seen}");
    // B's certificate: X went to a stronger claim, named by its protocol number.
    assert_eq!(
        b_seen["certificate"],
        json!([{ "preference": { "position": 1, "code": x }, "lastAdmitted": {
            "code": c_seen["protocolNumber"], "precedence": "B_DIALYSIS", "score": 0.0, "group": "AP_OWN" } }])
    );
    let a_seen = outcome(&w, &w.teacher, &a).await;
    assert_eq!(a_seen["outcome"]["state"], "NOT_ASSIGNED", "{a_seen}");
    let entries = a_seen["certificate"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "nothing obtained: every preference explained: {a_seen}");
    assert_eq!(entries[0]["lastAdmitted"]["code"], c_seen["protocolNumber"]);
    // The province: X and Y are full of stronger claims, the chief town's post is skipped (COM-1).
    assert_eq!(entries[1]["lastAdmitted"]["code"], b_seen["protocolNumber"]);
    assert_eq!(entries[1]["lastAdmitted"]["score"], 20.0);
    for (session, id) in [(&w.teacher, &b), (&b_session, &c), (&c_session, &a)] {
        assert_eq!(outcome(&w, session, id).await, Value::Null, "another teacher's form is not found");
    }

    // Cutoffs are public; one post per code is fewer than 3: suppressed.
    let cutoffs = w.app.query_as(&mi, CUTOFFS, json!({})).await["mobilityCutoffs"].clone();
    let rows = cutoffs.as_array().unwrap();
    assert_eq!(rows.len(), 2, "X and Y: {cutoffs}");
    assert!(rows.iter().all(|r| r["suppressed"] == true && r["lastScore"].is_null() && r["precedence"].is_null()));

    // A post more at Y: the re-run reconsiders everyone and lists who moved.
    let body = w.app.post_as(Some(&w.office), VACANCIES, json!({ "e": [line(&y, 2)], "r": "un posto liberato" }));
    assert_eq!(body.await.1["data"]["setVacancies"], 1);
    let rerun = run(&w, "UT_AP_INTRA").await;
    assert_eq!(rerun["revises"], second["runId"], "{rerun}");
    let moves = rerun["moves"].as_array().unwrap();
    assert_eq!(moves.len(), 1, "{rerun}");
    assert_eq!(moves[0]["applicationId"], a.as_str());
    assert_eq!(moves[0]["before"], "NOT_ASSIGNED");
    assert!(moves[0]["after"].as_str().unwrap().starts_with(&format!("ASSIGNED {y}")), "{rerun}");
    assert_eq!(outcome(&w, &w.teacher, &a).await["outcome"]["state"], "NOT_ASSIGNED", "published until approved");
    w.app.query_as(&w.office, APPROVE, json!({ "r": rerun["runId"] })).await;
    assert_eq!(shown(&outcome(&w, &w.teacher, &a).await), Some(y.clone()));

    // Every run and approval is in the audit trail with its hashes.
    let trail = "{ auditTrail(first: 20, action: \"run\") { edges { node { objectKind current } } } }";
    let runs = w.app.query_as(&w.office, trail, json!({})).await["auditTrail"]["edges"].clone();
    let hashes: Vec<&Value> = runs.as_array().unwrap().iter().map(|e| &e["node"]["current"]["inputHash"]).collect();
    assert!(hashes.contains(&&rerun["inputHash"]) && hashes.contains(&&first["inputHash"]), "{runs}");

    // `ambito mobility verify` recomputes every run from its stored input;
    // a tampered input is caught.
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_ambito"))
            .env_remove("DATABASE_URL")
            .args(["--database-url", &w.app.db().login_url(), "mobility", "verify", "2016", "UT_AP_INTRA"])
            .output()
            .unwrap()
    };
    let out = verify();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(said.matches("input matches its hash, outcome recomputed identically").count(), 4, "{said}");
    let tamper =
        "UPDATE mobility_runs SET input = jsonb_set(input, '{vacancies,0,seats}', '7') WHERE state = 'approved'";
    diesel::sql_query(tamper).execute(&mut w.app.db().conn().await).await.unwrap();
    let out = verify();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("DIFFERS"), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
async fn the_office_loads_vacancies_from_a_csv_file_all_or_nothing() {
    let w = world().await;
    let import = "mutation($csv: String!) { importMobilityReference(file: VACANCIES, csv: $csv, campaignYear: 2016) }";
    let list = "{ mobilityVacancies(campaignYear: 2016, province: \"BG\") { school postType chairKind count } }";
    let header = "school;postType;classOfCompetition;chairKind;count\n";
    // A bad chair kind on line 3 and a school of Milan on line 4: nothing is stored.
    let bad = format!("{header}{};NN;;INTERNAL;2\n{};NN;;SIDEWAYS;1\n", w.p.elsewhere, w.p.same_town);
    let (_, body) = w.app.post_as(Some(&w.office), import, json!({ "csv": bad })).await;
    assert_eq!(error_of(&body).0, "BAD_USER_INPUT", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("csv:3: chairKind:"), "names the line: {body}");
    let milan = format!("{header}{};NN;;INTERNAL;2\n{};NN;;INTERNAL;1\n", w.p.elsewhere, w.p.milan);
    let (_, body) = w.app.post_as(Some(&w.office), import, json!({ "csv": milan })).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().starts_with("csv:3: entries.school:"), "{body}");
    assert_eq!(w.app.query_as(&w.office, list, json!({})).await["mobilityVacancies"], json!([]), "nothing stored");
    let good = format!("{header}{};NN;;INTERNAL;2\n{};EH;;INTERNAL;1\n", w.p.elsewhere, w.p.same_town);
    let done = w.app.query_as(&w.office, import, json!({ "csv": good })).await;
    assert_eq!(done["importMobilityReference"], 2);
    let shown = w.app.query_as(&w.teacher, list, json!({})).await["mobilityVacancies"].clone();
    assert_eq!(shown.as_array().unwrap().len(), 2, "{shown}");
}
