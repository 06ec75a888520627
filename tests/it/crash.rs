//! Crash consistency: the server process killed (`kill -9`), or PostgreSQL
//! stopped at once, while mutations of every process, and reads of a
//! pupil's name, are in flight, again and again, over one database. Every
//! mutation a client saw acknowledged is there after the restart, every
//! read it was answered is in the audit trail, no row is left half-written
//! (without the rows its mutation writes with it, or its audit event), and
//! the audit chain verifies.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use ambito::rules::tax_code::{Sex, encode};
use chrono::{Datelike as _, NaiveDate};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::harness::{Dice, TEST_KEYS, TestDb, demo_account, seal_all};
use crate::refugees::{ABBIATEGRASSO, form};
use crate::serve::start;

const TRIALS: usize = 50;
const IN_FLIGHT: usize = 6;
const SCHOOL: &str = "bgic82100t@istruzione.it";
const OFFICE: &str = "ufficio.bg@ambito.invalid";

/// Where a kind's mutations go: the demo round of the school, a primaria
/// class of it; and the school's pupil whose name is read.
struct Places {
    round: String,
    class: String,
    pupil: String,
}

/// One request of a process: who sends it, how its `n`-th input (named
/// with the run's `marker`) is made, the answer's field that acknowledges
/// it, and how it is found after the restart.
struct Kind {
    process: &'static str,
    account: &'static str,
    doc: &'static str,
    field: &'static str,
    key: &'static str,
    found: Found,
    input: fn(&Places, &str, usize) -> Value,
}

/// Where an acknowledged request's effect is after the restart.
enum Found {
    /// The row, read by its sender with this query field and argument.
    Query(&'static str, &'static str),
    /// The account, in the database: no query lists accounts.
    Account,
    /// The read's event in the audit trail (by its sender, naming the pupil).
    ReadEvent,
}

/// A surname whose tax-code letters differ for each `n` (14 × 14), and a
/// day that tells apart the rounds of it: every child and teacher is new.
fn person(n: usize) -> (String, NaiveDate) {
    const C: &[u8] = b"BCDFGLMNPRSTVZ";
    let surname = format!("Qu{}a{}o", C[n % 14] as char, C[(n / 14) % 14] as char);
    (surname, NaiveDate::from_ymd_opt(2000, 1, 1 + (n / 196 % 28) as u32).unwrap())
}

static KINDS: [Kind; 6] = [
    Kind {
        process: "1 registry",
        account: SCHOOL,
        doc: "mutation($i: CreatePupilInput!) { createPupil(input: $i) { id } }",
        field: "createPupil",
        key: "id",
        found: Found::Query("pupil", "id"),
        input: |p, marker, n| {
            let (surname, day) = person(n);
            let born = day.with_year(2018).unwrap();
            json!({ "classId": p.class, "firstName": marker, "lastName": surname, "birthDate": born.to_string(),
                    "taxCode": encode(&surname, marker, born, Sex::M, "A794"), "sex": "M",
                    "certification": { "severity": "C3", "certifiedOn": "2022-03-01", "revisionOn": "2027-03-01",
                                       "issuedBy": "Commissione medica INPS - ASST Bergamo Est" } })
        },
    },
    Kind {
        process: "2 refugees",
        account: ABBIATEGRASSO,
        doc: "mutation($i: EnrolmentRequestInput!) { createEnrolmentRequest(input: $i) { id } }",
        field: "createEnrolmentRequest",
        key: "id",
        found: Found::Query("enrolmentRequest", "id"),
        input: |_, marker, n| form("Olha", &format!("{marker}{n}"), None),
    },
    Kind {
        process: "3 admissions",
        account: SCHOOL,
        doc: "mutation($i: ApplicationInput!) { registerApplication(input: $i) { id } }",
        field: "registerApplication",
        key: "id",
        found: Found::Query("admissionApplication", "id"),
        input: |p, marker, n| {
            let (surname, day) = person(n);
            let born = day.with_year(2020).unwrap();
            json!({ "roundId": p.round, "externalRef": format!("{marker}-{n}"),
                    "submittedAt": (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339(),
                    "child": { "firstName": "ANNA", "lastName": surname, "birthDate": born.to_string(), "sex": "F",
                               "taxCode": encode(&surname, "ANNA", born, Sex::F, "A246") },
                    "residence": { "municipality": "016008", "street": "Via Roma", "houseNumber": "3" },
                    "sitePreferences": ["BGEE82101X"], "timeModelPreferences": ["40H"],
                    "claims": [{ "criterion": "lavoro" }] })
        },
    },
    Kind {
        process: "4 mobility",
        account: OFFICE,
        doc: "mutation($i: TeacherInput!) { setTeacher(input: $i) { taxCode } }",
        field: "setTeacher",
        key: "taxCode",
        found: Found::Query("teacher", "taxCode"),
        input: |_, marker, n| {
            let (surname, day) = person(n);
            let born = day.with_year(1980).unwrap();
            json!({ "taxCode": encode(&surname, "Anna", born, Sex::F, "A794"), "firstName": "Anna", "lastName": surname,
                    "email": format!("{}.{n}@ambito.invalid", marker.to_lowercase()), "category": "TEACHER",
                    "tenured": true, "order": "INFANZIA", "postType": "NN",
                    "holding": { "kind": "SCHOOL", "code": "BGEE82101X" }, "legalStart": "2010-09-01", "probation": "PASSED" })
        },
    },
    Kind {
        process: "5 accounts",
        account: OFFICE,
        doc: "mutation($i: String!) { provisionAccount(email: $i, role: SCHOOL, organization: \"BGIC82100T\") { email } }",
        field: "provisionAccount",
        key: "email",
        found: Found::Account,
        input: |_, marker, n| json!(format!("{}.{n}@scuola.invalid", marker.to_lowercase())),
    },
    Kind {
        process: "1 registry, read",
        account: SCHOOL,
        doc: "query($i: ID!) { pupil(id: $i) { id lastName } }",
        field: "pupil",
        key: "id",
        found: Found::ReadEvent,
        input: |p, _, _| json!(p.pupil),
    },
];

/// The demo accounts' tokens, by e-mail, and the places the mutations go to.
async fn prepare(url: &str, password: impl Fn(&str) -> String) -> (BTreeMap<&'static str, String>, Places) {
    let mut tokens = BTreeMap::new();
    for who in [SCHOOL, OFFICE, ABBIATEGRASSO] {
        let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
        let body = post(url, None, login, json!({ "e": who, "p": password(who) })).await.unwrap();
        tokens.insert(who, body["data"]["login"]["token"].as_str().expect("a demo account signs in").to_owned());
    }
    let found = "query($y: String!) { admissionRounds(schoolYear: \"2026/27\") { id }
        classes(first: 100, filter: { schoolYear: $y }) { nodes { id order } } pupils(first: 1) { nodes { id } } }";
    let year = ambito::rules::school_year::SchoolYear::of(chrono::Utc::now().date_naive()).to_string();
    let body = post(url, Some(&tokens[SCHOOL]), found, json!({ "y": year })).await.unwrap();
    let classes = body["data"]["classes"]["nodes"].as_array().unwrap_or_else(|| panic!("{body}"));
    let class = classes.iter().find(|c| c["order"] == "PRIMARIA").expect("a primaria class")["id"].clone();
    let places = Places {
        round: body["data"]["admissionRounds"][0]["id"].as_str().expect("the demo round").to_owned(),
        class: class.as_str().unwrap().to_owned(),
        pupil: body["data"]["pupils"]["nodes"][0]["id"].as_str().expect("a demo pupil").to_owned(),
    };
    (tokens, places)
}

/// The `n`-th request of a run, of the kind `n` names in turn.
fn send(
    url: &str,
    tokens: &BTreeMap<&'static str, String>,
    places: &Places,
    marker: &str,
    n: usize,
) -> tokio::task::JoinHandle<(usize, Result<Value, reqwest::Error>)> {
    let kind = &KINDS[n % KINDS.len()];
    let (url, token, vars) =
        (url.to_owned(), tokens[kind.account].clone(), json!({ "i": (kind.input)(places, marker, n) }));
    tokio::spawn(async move { (n % KINDS.len(), post(&url, Some(&token), kind.doc, vars).await) })
}

/// The row an answer acknowledges, if it is a success.
fn acknowledged(kind: usize, body: &Value) -> Option<String> {
    let k = &KINDS[kind];
    body["data"][k.field][k.key].as_str().map(str::to_owned)
}

/// Every acknowledged row is there after the restart: read by its sender
/// where a query reads it, else in the database.
async fn all_there(
    url: &str,
    tokens: &BTreeMap<&'static str, String>,
    owner: &mut diesel_async::AsyncPgConnection,
    rows: &[(usize, String)],
) {
    for (kind, k) in KINDS.iter().enumerate() {
        let keys: Vec<&String> = rows.iter().filter(|(i, _)| *i == kind).map(|(_, key)| key).collect();
        let (query, arg) = match k.found {
            Found::Query(query, arg) => (query, arg),
            Found::Account => {
                let found: Count = diesel::sql_query(
                    "SELECT count(*) AS n FROM users u JOIN memberships m ON m.user_id = u.id WHERE u.email = ANY($1)",
                )
                .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(&keys)
                .get_result(owner)
                .await
                .unwrap();
                assert_eq!(found.n as usize, keys.len(), "{}: acknowledged rows are lost", k.process);
                continue;
            }
            Found::ReadEvent => {
                // Reads cut off may have been recorded too: at least one event per answer.
                let Some(pupil) = <[_]>::first(&keys) else { continue };
                let found: Count = diesel::sql_query(
                    "SELECT count(*) AS n FROM audit_events e JOIN users u ON u.id = e.user_id
                     WHERE e.action = 'read' AND u.email = $1 AND $2::int8 = ANY(e.pupil_ids)",
                )
                .bind::<diesel::sql_types::Text, _>(k.account)
                .bind::<diesel::sql_types::Text, _>(pupil.as_str())
                .get_result(owner)
                .await
                .unwrap();
                assert!(
                    found.n as usize >= keys.len(),
                    "{}: {} reads answered, {} recorded",
                    k.process,
                    keys.len(),
                    found.n
                );
                continue;
            }
        };
        for chunk in keys.chunks(20) {
            let fields: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(i, key)| format!("r{i}: {query}({arg}: \"{key}\") {{ {arg} }}"))
                .collect();
            let doc = format!("{{ {} }}", fields.join(" "));
            let body = post(url, Some(&tokens[k.account]), &doc, json!({})).await.unwrap();
            for (i, key) in chunk.iter().enumerate() {
                assert_eq!(body["data"][format!("r{i}")][arg], key.as_str(), "{}: {key} is lost: {body}", k.process);
            }
        }
    }
}

/// How many acknowledged rows each process had.
fn per_process(rows: &[(usize, String)]) -> String {
    let counts: Vec<String> = KINDS
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{} {}", k.process, rows.iter().filter(|(kind, _)| *kind == i).count()))
        .collect();
    counts.join(", ")
}

fn server(db: &TestDb, dir: &std::path::Path) -> (std::process::Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ambito"));
    cmd.env_remove("DATABASE_URL")
        .env("AMBITO_KEYS", TEST_KEYS)
        .env("AMBITO_LOG", "warn")
        .arg("--data-dir")
        .arg(dir)
        .arg("--database-url")
        .arg(db.login_url())
        .args(["serve", "--listen", "127.0.0.1:0"]);
    start(cmd)
}

async fn post(url: &str, token: Option<&str>, query: &str, variables: Value) -> Result<Value, reqwest::Error> {
    // Bounded: a server that hangs fails the test instead of stalling the suite.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(60)).build().unwrap();
    let mut req = http.post(url).json(&json!({ "query": query, "variables": variables }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await?.json().await
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Rows of the run (named with `marker`) committed in part: a request
/// without its first history line, an application without its claim, an
/// account without its membership, or any of them without its audit event.
async fn half_written(owner: &mut diesel_async::AsyncPgConnection, marker: &str) -> i64 {
    let audited = |kind: &str, id: &str| {
        format!("EXISTS (SELECT 1 FROM audit_events e WHERE e.object_kind = '{kind}' AND e.object_id = {id})")
    };
    diesel::sql_query(format!(
        "SELECT
           (SELECT count(*) FROM enrolment_requests r WHERE r.last_name LIKE $1 || '%'
              AND (NOT EXISTS (SELECT 1 FROM enrolment_transitions t WHERE t.request_id = r.id) OR NOT {request}))
         + (SELECT count(*) FROM pupils p WHERE p.first_name = $1 AND NOT {pupil})
         + (SELECT count(*) FROM admission_applications a WHERE a.external_ref LIKE $1 || '-%'
              AND (NOT EXISTS (SELECT 1 FROM admission_claims c WHERE c.application_id = a.id) OR NOT {application}))
         + (SELECT count(*) FROM teachers t WHERE t.email LIKE lower($1) || '.%' AND NOT {teacher})
         + (SELECT count(*) FROM users u WHERE u.email LIKE lower($1) || '.%'
              AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND {membership})) AS n",
        request = audited("enrolment_request", "r.id::text"),
        pupil = audited("pupil", "p.id::text"),
        application = audited("admission_application", "a.id::text"),
        teacher = audited("teacher", "t.tax_code"),
        membership = audited("membership", "m.id::text"),
    ))
    .bind::<diesel::sql_types::Text, _>(marker)
    .get_result::<Count>(owner)
    .await
    .unwrap()
    .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_mutation_keeps_every_acknowledged_write_whole() {
    let seed: u64 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut dice = Dice(seed);
    let db = TestDb::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let mut ready = None;
    let mut rows: Vec<(usize, String)> = Vec::new();
    let mut cut = 0;
    for trial in 0..TRIALS {
        let (child, url) = server(&db, dir.path());
        let mut child = Killed::new(child);
        if ready.is_none() {
            ready = Some(prepare(&url, |who| demo_account(who).password).await);
        }
        let (tokens, places) = ready.as_ref().unwrap();
        let sends: Vec<_> =
            (0..IN_FLIGHT).map(|i| send(&url, tokens, places, "Crash", trial * IN_FLIGHT + i)).collect();
        // The kill lands anywhere from before the first request to after the last.
        tokio::time::sleep(Duration::from_millis(dice.next(300) as u64)).await;
        child.now();
        for send in sends {
            match send.await.unwrap() {
                (kind, Ok(body)) => match acknowledged(kind, &body) {
                    Some(key) => rows.push((kind, key)),
                    None => panic!("an answer that is neither a success nor a cut connection: {body}"),
                },
                (_, Err(_)) => cut += 1,
            }
        }
    }
    println!(
        "crash: seed {seed}: {TRIALS} kill -9 trials, {} requests acknowledged ({}), {cut} cut off",
        rows.len(),
        per_process(&rows)
    );
    assert!(cut > 0 && !rows.is_empty(), "the kills landed both before and after answers");

    // After a restart: every acknowledged row is there, as its sender sees it.
    let (child, url) = server(&db, dir.path());
    let child = Killed::new(child);
    let mut owner = db.conn().await;
    all_there(&url, &ready.unwrap().0, &mut owner, &rows).await;
    drop(child);

    // No row without the rows written with it or its audit event: each committed whole.
    assert_eq!(half_written(&mut owner, "Crash").await, 0, "rows committed without their parts or audit event");

    // The chain, sealed as far as it goes, verifies (as `ambito audit verify` does).
    let mut maint = db.conn_as(ambito::db::roles::DbRole::Maint).await;
    seal_all(&mut maint).await;
    let chain = ambito::db::audit::verify_chain(&mut maint).await.unwrap();
    assert!(chain.problem.is_none(), "{chain:?}");
    assert!(chain.sealed as usize >= rows.len(), "{chain:?}");
}

/// A server process, killed when dropped: a failed test leaves none running.
/// Its log is read as it comes: a full pipe would block the server's next
/// log line, and with it the thread writing it (a database that is gone
/// makes every request log an error).
struct Killed(std::process::Child);

impl Killed {
    fn new(mut child: std::process::Child) -> Killed {
        if let Some(mut stderr) = child.stderr.take() {
            std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        }
        Killed(child)
    }

    fn now(&mut self) {
        // SAFETY: a signal to our own child process.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.now();
    }
}

/// Stops a cluster at once when dropped, so a failed test leaves none running.
struct StopsAtOnce(Vec<String>);

impl StopsAtOnce {
    fn now(&self) {
        let out = Command::new(&self.0[0]).args(&self.0[1..]).output().unwrap();
        assert!(out.status.success(), "pg_ctl stop -m immediate: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for StopsAtOnce {
    fn drop(&mut self) {
        let _ = Command::new(&self.0[0]).args(&self.0[1..]).output();
    }
}

/// PostgreSQL itself stopped at once (`pg_ctl stop -m immediate`: no
/// checkpoint, recovery from the WAL at the next start) while mutations are
/// in flight, on a cluster of its own with `fsync` on, under the demo server
/// as the README's first command starts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_at_once_mid_mutation_keeps_every_acknowledged_write_whole() {
    use std::os::unix::fs::PermissionsExt as _;
    let seed: u64 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut dice = Dice(seed);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ambito"));
    cmd.env_remove("DATABASE_URL").env("AMBITO_LOG", "error").arg("--data-dir").arg(dir.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    let (child, url) = start(cmd);
    let child = Killed::new(child);
    let pg_dir = dir.path().join("postgres");
    let options = ambito::db::embedded::ClusterOptions { fsync: true };
    let cluster = ambito::db::embedded::EmbeddedCluster::ensure(&pg_dir, &options).await.unwrap();
    let stop = StopsAtOnce(cluster.stop_argv());
    let owner_url = cluster.url("ambito");

    let accounts: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.path().join("demo-accounts.json")).unwrap()).unwrap();
    let password = |who: &str| {
        let account = accounts.iter().find(|a| a["email"] == who).expect("a demo account");
        account["password"].as_str().unwrap().to_owned()
    };
    let (tokens, places) = prepare(&url, password).await;

    let (mut rows, mut refused) = (Vec::<(usize, String)>::new(), 0);
    for trial in 0..10 {
        let sends: Vec<_> =
            (0..IN_FLIGHT).map(|i| send(&url, &tokens, &places, "Stop", trial * IN_FLIGHT + i)).collect();
        tokio::time::sleep(Duration::from_millis(dice.next(300) as u64)).await;
        stop.now();
        for send in sends {
            let (kind, body) = send.await.unwrap();
            let body = body.expect("the server answers even when its database is gone");
            match acknowledged(kind, &body) {
                Some(key) => rows.push((kind, key)),
                None => {
                    let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_owned();
                    assert!(["INTERNAL", "UNAVAILABLE"].contains(&code.as_str()), "{body}");
                    refused += 1;
                }
            }
        }
        // Started again, PostgreSQL recovers from its WAL; the server's pools reconnect.
        ambito::db::embedded::EmbeddedCluster::ensure(&pg_dir, &options).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let body = post(&url, Some(&tokens[OFFICE]), "{ me { email } }", json!({})).await.unwrap();
            if body["data"]["me"]["email"] == OFFICE {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the server did not recover: {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    println!(
        "crash: seed {seed}: 10 pg_ctl stop -m immediate trials, {} requests acknowledged ({}), {refused} refused",
        rows.len(),
        per_process(&rows)
    );
    assert!(!rows.is_empty() && refused > 0, "the stops landed both before and after answers");

    use diesel_async::AsyncConnection as _;
    let mut owner = diesel_async::AsyncPgConnection::establish(&owner_url).await.unwrap();
    all_there(&url, &tokens, &mut owner, &rows).await;
    assert_eq!(half_written(&mut owner, "Stop").await, 0, "rows committed without their parts or audit event");
    let chain = ambito::db::audit::verify_chain(&mut owner).await.unwrap();
    assert!(chain.problem.is_none(), "{chain:?}");
    drop(child);
}
