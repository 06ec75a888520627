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

#[derive(QueryableByName)]
struct Place {
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Text)]
    municipality: String,
}

/// The first site of a state infanzia school where `filter` holds (the
/// forms are for infanzia).
async fn place(w: &World, filter: &str) -> Place {
    let sql = format!(
        "SELECT code, municipality_istat AS municipality FROM sites
         WHERE institution_code IN (SELECT code FROM institutions WHERE kind = 'state')
           AND school_order = 'infanzia' AND {filter}
         ORDER BY code LIMIT 1"
    );
    let found: Vec<Place> = diesel::sql_query(&sql).load(&mut w.app.db().conn().await).await.unwrap();
    found.into_iter().next().unwrap_or_else(|| panic!("the demo territory has a site where {filter}"))
}

const OVERRIDE: &str = "mutation($i: MobilityOverrideInput!) { setMobilityOverride(input: $i) { id reason } }";
const COMPLAINT: &str = "mutation($a: ID!, $d: Date!, $s: String!) {
    recordMobilityComplaint(applicationId: $a, receivedOn: $d, summary: $s) { id state runId } }";
const DECIDE: &str = "mutation($k: ID!, $u: Boolean!, $r: String!) {
    decideMobilityComplaint(id: $k, upheld: $u, reason: $r) { state decisionReason } }";
const RENOUNCE: &str = "mutation($a: ID!) { renounceMobilityPost(applicationId: $a) { renouncedAt } }";
const MOVES: &str = "mutation { runMobilityPhase(campaignYear: 2016, province: \"BG\", phase: UT_AP_INTRA) {
    runId moves { applicationId before after why } } }";
const SEEN: &str = "query($id: ID!) { mobilityApplication(id: $id) { protocolNumber
    outcome { state schoolCode renunciation { renouncedAt } }
    certificate { preference { position } lastAdmitted { code } overrides { code reason } }
    complaints { state summary decisionReason } } }";

/// `GET /exports/{what}?{query}` as `token`: status and bytes.
async fn export(w: &World, token: &str, what: &str, query: &str) -> (u16, Vec<u8>) {
    let resp = w.app.http.get(w.app.url(&format!("/exports/{what}?{query}"))).bearer_auth(token).send().await.unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

/// The rows of a CSV export (after its byte-order mark), header first.
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).unwrap().trim_start_matches('\u{feff}');
    text.lines().map(|l| l.split(';').map(str::to_owned).collect()).collect()
}

#[tokio::test]
async fn after_publication_overrides_complaints_and_renunciations_change_the_next_run_and_say_why() {
    let w = world().await;
    // S: a site of the demo school BGIC82100T; the teachers hold posts
    // elsewhere (COM-1 does not skip S), and Y lies in a third town.
    let s = place(&w, "institution_code = 'BGIC82100T'").await;
    let home = place(&w, &format!("province_code = 'BG' AND municipality_istat <> '{}'", s.municipality)).await;
    let y = place(
        &w,
        &format!("province_code = 'BG' AND municipality_istat NOT IN ('{}', '{}')", s.municipality, home.municipality),
    )
    .await;
    let lines = json!({ "e": [line(&s.code, 1), line(&y.code, 1)] });
    assert_eq!(w.app.post_as(Some(&w.office), VACANCIES, lines).await.1["data"]["setVacancies"], 2);
    w.app
        .query_as(&w.office, SET_TEACHER, json!({ "i": teacher_input(crate::mobility::TEACHER, "Rossi", &home.code) }))
        .await;
    let (b_session, b_code) = enabled_teacher(&w, OTHER_TEACHER, "Bianchi", &home.code, true).await;
    let (c_session, c_code) = enabled_teacher(&w, "docente.conti@example.org", "Conti", &home.code, false).await;
    // The municipality of reunion is listed, so Y counts too (PREF-3a).
    let prefs = json!([{ "kind": "SCHOOL", "code": s.code }, { "kind": "MUNICIPALITY", "code": s.municipality },
                       { "kind": "SCHOOL", "code": y.code }]);
    let a = submitted(&w, &w.teacher, &w.code, ap(&s.municipality, prefs.clone())).await;
    let b = submitted(&w, &b_session, &b_code, ap(&s.municipality, prefs.clone())).await;
    let c = submitted(&w, &c_session, &c_code, ap(&s.municipality, prefs)).await;
    family(&w, &a, [6, 4, 0, 0]).await;
    family(&w, &b, [6, 8, 0, 6]).await;
    family(&w, &c, [0, 4, 0, 0]).await;
    let first = run(&w, "UT_AP_INTRA").await;
    w.app.query_as(&w.office, APPROVE, json!({ "r": first["runId"] })).await;
    let seen = |session: &str, id: &str| {
        let (app, session, id) = (&w.app, session.to_owned(), id.to_owned());
        async move { app.query_as(&session, SEEN, json!({ "id": id })).await["mobilityApplication"].clone() }
    };
    assert_eq!(seen(&b_session, &b).await["outcome"]["schoolCode"], s.code.as_str(), "20 points: S");
    assert_eq!(seen(&c_session, &c).await["outcome"]["state"], "NOT_ASSIGNED");

    // A complaint needs the campaign's deadline, then must arrive within it.
    let complain = |day: &str| json!({ "a": c, "d": day, "s": "il punteggio di famiglia non considera il figlio" });
    let (_, body) = w.app.post_as(Some(&w.office), COMPLAINT, complain("2016-08-01")).await;
    assert_eq!(error_of(&body), ("CONFLICT".into(), "COMPLAINT-1".into()), "{body}");
    let days = "mutation { setMobilityComplaintDays(campaignYear: 2016, days: 5) { complaintDays } }";
    assert_eq!(w.app.query_as(&w.office, days, json!({})).await["setMobilityComplaintDays"]["complaintDays"], 5);
    w.app.query_as(&w.office, crate::mobility::CLOCK, json!({ "t": "2016-08-10T10:00:00" })).await;
    let (_, body) = w.app.post_as(Some(&w.office), COMPLAINT, complain("2016-08-07")).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "COMPLAINT-1".into()), "after 6 August: {body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "receivedOn");
    let mi = w.app.login(MI).await;
    let (_, body) = w.app.post_as(Some(&mi), COMPLAINT, complain("2016-08-03")).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND", "another province's outcome: {body}");
    let filed = w.app.query_as(&w.office, COMPLAINT, complain("2016-08-03")).await["recordMobilityComplaint"].clone();
    assert_eq!((filed["state"].as_str(), &filed["runId"]), (Some("PENDING"), &first["runId"]), "{filed}");
    assert_eq!(seen(&c_session, &c).await["complaints"][0]["state"], "PENDING", "the teacher sees it");
    let decided = json!({ "k": filed["id"], "u": true, "r": "punteggio di famiglia riesaminato" });
    let done = w.app.query_as(&w.office, DECIDE, decided.clone()).await;
    assert_eq!(done["decideMobilityComplaint"]["state"], "UPHELD");
    assert_eq!(error_of(&w.app.post_as(Some(&w.office), DECIDE, decided).await.1).0, "CONFLICT", "decided once");

    // The office puts C on S by hand; bad input stores nothing.
    let by_hand = |school: &str, reason: &str| {
        json!({ "i": { "campaignYear": 2016, "phase": "UT_AP_INTRA", "applicationId": c, "school": school,
                       "postType": "NN", "chairKind": "INTERNAL", "reason": reason } })
    };
    let (_, body) = w.app.post_as(Some(&w.office), OVERRIDE, by_hand(&s.code, "no")).await;
    assert_eq!(
        (error_of(&body).0.as_str(), &body["errors"][0]["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("reason"))
    );
    let (_, body) = w.app.post_as(Some(&w.office), OVERRIDE, by_hand(&w.p.milan, "reclamo accolto")).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "school", "{body}");
    let (_, body) = w.app.post_as(Some(&b_session), OVERRIDE, by_hand(&s.code, "reclamo accolto")).await;
    assert!(body["data"].is_null() && !body["errors"].is_null(), "a teacher cannot override: {body}");
    let list = "{ mobilityOverrides(campaignYear: 2016, phase: UT_AP_INTRA) { applicationId schoolCode reason } }";
    assert_eq!(w.app.query_as(&w.office, list, json!({})).await["mobilityOverrides"], json!([]), "nothing stored");
    let reason = "reclamo accolto: sede assegnata d'ufficio";
    w.app.query_as(&w.office, OVERRIDE, by_hand(&s.code, reason)).await;
    let (_, body) = w.app.post_as(Some(&w.office), OVERRIDE, by_hand(&y.code, reason)).await;
    assert_eq!(error_of(&body).0, "CONFLICT", "one standing override per form: {body}");

    // The re-run places C first, reconsiders everyone, and says why each moved.
    let rerun = w.app.query_as(&w.office, MOVES, json!({})).await["runMobilityPhase"].clone();
    let moves: std::collections::BTreeMap<String, Value> = rerun["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["applicationId"].as_str().unwrap().to_owned(), m.clone()))
        .collect();
    assert_eq!(moves.len(), 3, "{rerun}");
    assert!(moves[&c]["after"].as_str().unwrap().starts_with(&format!("MANUAL {}", s.code)), "{rerun}");
    assert_eq!(moves[&c]["why"], json!([format!("assigned by the office's override: {reason}")]));
    assert_eq!(
        moves[&b]["why"],
        json!([format!("a post at preference 1 ({}) went to the office's override: {reason}", s.code)])
    );
    assert_eq!(moves[&a]["why"], moves[&b]["why"], "A too ranked S above Y, where B now outranks A");
    w.app.query_as(&w.office, APPROVE, json!({ "r": rerun["runId"] })).await;
    let c_seen = seen(&c_session, &c).await;
    assert_eq!((&c_seen["outcome"]["state"], &c_seen["outcome"]["schoolCode"]), (&json!("MANUAL"), &json!(s.code)));
    // B's certificate shows the post S went to by hand, and why.
    let b_seen = seen(&b_session, &b).await;
    assert_eq!(b_seen["outcome"]["schoolCode"], y.code.as_str());
    // (The municipality at preference 2 holds only S, met at preference 1.)
    let by_hand = json!([{ "code": c_seen["protocolNumber"], "reason": reason }]);
    assert_eq!(
        b_seen["certificate"],
        json!([{ "preference": { "position": 1 }, "lastAdmitted": null, "overrides": by_hand },
               { "preference": { "position": 2 }, "lastAdmitted": null, "overrides": [] }])
    );

    // Exports: the school reads the posts of its own sites, once published;
    // another school and a teacher read nothing.
    let school = w.app.login("bgic82100t@istruzione.it").await;
    let (status, bytes) =
        export(&w, &school, "mobility-outcomes", "campaignYear=2016&phase=UT_AP_INTRA&format=csv").await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let rows = csv_rows(&bytes);
    assert_eq!(rows.len(), 2, "a header and C's post at S: {rows:?}");
    assert_eq!((rows[1][0].as_str(), rows[1][5].as_str()), (s.code.as_str(), "MANUAL"));
    assert_eq!(rows[1][6], c_seen["protocolNumber"].as_str().unwrap());
    let (status, _) = export(&w, &w.teacher, "mobility-outcomes", "campaignYear=2016&phase=UT_AP_INTRA").await;
    assert_eq!(status, 404);
    let (status, bytes) = export(&w, &w.office, "mobility-outcomes", "campaignYear=2016&phase=UT_AP_INTRA").await;
    assert_eq!(status, 200);
    let book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("an xlsx file");
    let mut book = book;
    use calamine::Reader as _;
    let sheet = book.worksheet_range("Esiti").expect("the sheet");
    assert_eq!(sheet.rows().count(), 4, "a header and every form of the province");
    let (status, _) = export(&w, &w.office, "mobility-outcomes", "campaignYear=2016&phase=SIDEWAYS").await;
    assert_eq!(status, 400);
    // The certificate as a PDF, for the teacher and the office alone.
    let (status, pdf) = export(&w, &b_session, "mobility-certificate", &format!("application={b}")).await;
    assert_eq!(status, 200);
    let text = crate::exports::pdf_text(&pdf);
    assert!(
        text.contains("assegnato d'ufficio") && text.contains(c_seen["protocolNumber"].as_str().unwrap()),
        "{text}"
    );
    assert_eq!(export(&w, &w.teacher, "mobility-certificate", &format!("application={b}")).await.0, 404);
    assert_eq!(export(&w, &school, "mobility-certificate", &format!("application={b}")).await.0, 404);

    // Renouncing is explicit: only a post obtained, only once, only one's own.
    let a_now = seen(&w.teacher, &a).await;
    assert_eq!(a_now["outcome"]["state"], "NOT_ASSIGNED", "{a_now}");
    let (_, body) = w.app.post_as(Some(&w.teacher), RENOUNCE, json!({ "a": a })).await;
    assert_eq!(error_of(&body), ("CONFLICT".into(), "RENOUNCE".into()), "{body}");
    let (_, body) = w.app.post_as(Some(&w.teacher), RENOUNCE, json!({ "a": b })).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND", "another's post: {body}");
    let (_, body) = w.app.post_as(Some(&b_session), RENOUNCE, json!({ "a": b })).await;
    assert!(body["data"]["renounceMobilityPost"]["renouncedAt"].is_string(), "{body}");
    assert_eq!(error_of(&w.app.post_as(Some(&b_session), RENOUNCE, json!({ "a": b })).await.1).0, "CONFLICT");
    assert!(seen(&b_session, &b).await["outcome"]["renunciation"]["renouncedAt"].is_string());
    // The next run leaves B out and gives Y to A.
    let last = w.app.query_as(&w.office, MOVES, json!({})).await["runMobilityPhase"].clone();
    w.app.query_as(&w.office, APPROVE, json!({ "r": last["runId"] })).await;
    assert_eq!(seen(&b_session, &b).await["outcome"]["state"], "RENOUNCED");
    assert_eq!(seen(&w.teacher, &a).await["outcome"]["schoolCode"], y.code.as_str(), "{last}");
    // The interprovincial phase finds S's post taken by the override as
    // much as Y's by the engine: neither is offered again.
    let (_, body) = w.app.post_as(Some(&w.office), RUN, json!({ "p": "AP_INTER" })).await;
    assert!(body["errors"].is_null(), "{body}");
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text)]
        school: String,
    }
    let sql = "SELECT v->>'school' AS school FROM mobility_runs r, jsonb_array_elements(r.input->'vacancies') v
               WHERE r.phase = 'ap_inter'";
    let offered: Vec<Line> = diesel::sql_query(sql).load(&mut w.app.db().conn().await).await.unwrap();
    let offered: Vec<&str> = offered.iter().map(|l| l.school.as_str()).collect();
    assert!(!offered.contains(&s.code.as_str()) && !offered.contains(&y.code.as_str()), "{offered:?}");

    // Every act is in the audit trail: the office's in its own, the
    // teacher's (audited without a province, as every act of a teacher).
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sql = "SELECT count(*) AS n FROM audit_events WHERE action = 'renounce' AND province_code IS NULL";
    let renounced: N = diesel::sql_query(sql).get_result(&mut w.app.db().conn().await).await.unwrap();
    assert_eq!(renounced.n, 1);
    for action in ["override", "record", "decide"] {
        let trail = format!("{{ auditTrail(first: 5, action: \"{action}\") {{ edges {{ node {{ objectKind }} }} }} }}");
        let found = w.app.query_as(&w.office, &trail, json!({})).await["auditTrail"]["edges"].clone();
        assert!(!found.as_array().unwrap().is_empty(), "{action}: {found}");
    }
}

#[tokio::test]
async fn part_posts_add_up_to_posts_only_for_the_forms_that_asked_and_fit_their_service_hours() {
    let w = world().await;
    let (x, m) = (w.p.elsewhere.clone(), w.p.elsewhere_municipality.clone());
    let y = third_site(&w).await;
    let import = "mutation($csv: String!) { importMobilityReference(file: VACANCIES, csv: $csv, campaignYear: 2016) }";
    let list = "{ mobilityVacancies(campaignYear: 2016, province: \"BG\") { school count hours } }";
    let header = "school;postType;classOfCompetition;chairKind;count;hours\n";
    // 25 hours are a whole infanzia post, not a part-post: the file is refused whole.
    let bad = format!("{header}{y};NN;;INTERNAL;1;\n{x};NN;;INTERNAL;1;25\n");
    let (_, body) = w.app.post_as(Some(&w.office), import, json!({ "csv": bad })).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), "POST-8".into()), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("csv:3:"), "names the line: {body}");
    assert_eq!(w.app.query_as(&w.office, list, json!({})).await["mobilityVacancies"], json!([]), "nothing stored");
    // X: part-posts of 15, 10 and 12 hours (15 + 10 make a post); Y: a whole post.
    let good =
        format!("{header}{y};NN;;INTERNAL;1;\n{x};NN;;INTERNAL;1;15\n{x};NN;;INTERNAL;1;10\n{x};NN;;INTERNAL;1;12\n");
    assert_eq!(w.app.query_as(&w.office, import, json!({ "csv": good })).await["importMobilityReference"], 4);
    let shown = w.app.query_as(&w.teacher, list, json!({})).await["mobilityVacancies"].clone();
    let mut hours: Vec<Value> = shown.as_array().unwrap().iter().map(|l| l["hours"].clone()).collect();
    hours.sort_by_key(|h| h.as_i64());
    assert_eq!(hours, [json!(null), json!(10), json!(12), json!(15)], "{shown}");

    // B full time and C part time (12 hours) ask for part-posts; A does not.
    let (b_session, b_code) = enabled_teacher(&w, OTHER_TEACHER, "Bianchi", &w.p.held, true).await;
    let c_mail = "docente.conti@example.org";
    let (c_session, c_code) = enabled_teacher(&w, c_mail, "Conti", &w.p.held, false).await;
    let mut c_row = teacher_input(c_mail, "Conti", &w.p.held);
    c_row["serviceHours"] = json!(30);
    let (_, body) = w.app.post_as(Some(&w.office), SET_TEACHER, json!({ "i": c_row })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.serviceHours", "more than a full post: {body}");
    c_row["serviceHours"] = json!(12);
    let (_, body) = w.app.post_as(Some(&w.office), SET_TEACHER, json!({ "i": c_row })).await;
    assert!(body["errors"].is_null(), "{body}");
    let prefs = json!([{ "kind": "SCHOOL", "code": x }, { "kind": "MUNICIPALITY", "code": m },
                       { "kind": "SCHOOL", "code": y }]);
    let asking = || {
        let mut f = ap(&m, prefs.clone());
        f["options"] = json!({ "partPosts": true });
        f
    };
    let a = submitted(&w, &w.teacher, &w.code, ap(&m, prefs.clone())).await;
    let b = submitted(&w, &b_session, &b_code, asking()).await;
    let c = submitted(&w, &c_session, &c_code, asking()).await;

    let ran = run(&w, "UT_AP_INTRA").await;
    assert_eq!(ran["assignedCount"], 3, "{ran}");
    let post = "query($id: ID!) { mobilityApplication(id: $id) { protocolNumber
        outcome { state schoolCode hours parts preferencePosition } } }";
    let w = &w;
    let seen = |id: String| async move {
        w.app.query_as(&w.office, post, json!({ "id": id })).await["mobilityApplication"].clone()
    };
    let (a_seen, b_seen, c_seen) = (seen(a).await, seen(b).await, seen(c).await);
    // A did not ask: X's part-posts are not A's to take, so Y at preference 3.
    assert_eq!(
        a_seen["outcome"],
        json!({ "state": "ASSIGNED", "schoolCode": y, "hours": null, "parts": [],
                                           "preferencePosition": 3 })
    );
    assert_eq!(
        b_seen["outcome"],
        json!({ "state": "ASSIGNED", "schoolCode": x, "hours": 25, "parts": [15, 10],
                                           "preferencePosition": 1 }),
        "a full-time teacher: 15 + 10 hours"
    );
    assert_eq!(
        c_seen["outcome"],
        json!({ "state": "ASSIGNED", "schoolCode": x, "hours": 12, "parts": [],
                                           "preferencePosition": 1 }),
        "a 12-hour teacher: the 12-hour part-post"
    );

    // Approved, the teacher is told the hours by e-mail, and the sheet
    // names the part-posts of each post.
    let approved = w.app.query_as(&w.office, APPROVE, json!({ "r": ran["runId"] })).await;
    assert_eq!(approved["approveMobilityRun"]["state"], "APPROVED");
    let mails = w.app.mail_to(c_mail, 5).await;
    let told = mails.iter().find(|m| m.contains("Esito: ")).expect("the outcome e-mail");
    assert!(told.contains(&format!("ASSEGNATA: sede {x}, posto NN, spezzoni per 12 ore (preferenza n. 1)")), "{told}");
    let (status, bytes) =
        export(w, &w.office, "mobility-outcomes", "campaignYear=2016&phase=UT_AP_INTRA&format=csv").await;
    assert_eq!(status, 200);
    let rows = csv_rows(&bytes);
    let of = |protocol: &Value| rows.iter().find(|r| r[6] == protocol.as_str().unwrap()).unwrap().clone();
    assert_eq!(rows[0].last().unwrap(), "Spezzoni");
    assert_eq!(of(&b_seen["protocolNumber"]).last().unwrap(), "25 ore (15+10)");
    assert_eq!(of(&c_seen["protocolNumber"]).last().unwrap(), "12 ore");
    assert_eq!(of(&a_seen["protocolNumber"]).last().unwrap(), "");
}
