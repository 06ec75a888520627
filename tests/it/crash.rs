//! Crash consistency: the server process killed (`kill -9`) while mutations
//! are in flight, again and again, over one database. Every mutation a
//! client saw acknowledged is there after the restart, no request is left
//! half-written (a request without its history or its audit event), and the
//! audit chain verifies.

use std::process::Command;
use std::time::Duration;

use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::harness::{Dice, TEST_KEYS, TestDb, demo_account};
use crate::refugees::{ABBIATEGRASSO, CREATE, form};
use crate::serve::start;

const TRIALS: usize = 50;
const IN_FLIGHT: usize = 6;

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
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_mutation_keeps_every_acknowledged_write_whole() {
    let seed: u64 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut dice = Dice(seed);
    let db = TestDb::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let town = demo_account(ABBIATEGRASSO);
    let mut token = None;
    let mut acknowledged: Vec<String> = Vec::new();
    let mut cut = 0;
    for trial in 0..TRIALS {
        let (mut child, url) = server(&db, dir.path());
        if token.is_none() {
            let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
            let body = post(&url, None, login, json!({ "e": town.email, "p": town.password })).await.unwrap();
            token = Some(body["data"]["login"]["token"].as_str().unwrap().to_owned());
        }
        let token = token.clone().unwrap();
        let sends = (0..IN_FLIGHT).map(|i| {
            let (url, token) = (url.clone(), token.clone());
            tokio::spawn(async move {
                let name = format!("Crash{trial}x{i}");
                post(&url, Some(&token), CREATE, json!({ "i": form("Olha", &name, None) })).await
            })
        });
        let sends: Vec<_> = sends.collect();
        // The kill lands anywhere from before the first request to after the last.
        tokio::time::sleep(Duration::from_millis(dice.next(300) as u64)).await;
        // SAFETY: a signal to our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        for send in sends {
            match send.await.unwrap() {
                Ok(body) => match body["data"]["createEnrolmentRequest"]["id"].as_str() {
                    Some(id) => acknowledged.push(id.to_owned()),
                    None => panic!("an answer that is neither a success nor a cut connection: {body}"),
                },
                Err(_) => cut += 1,
            }
        }
    }
    println!(
        "crash: seed {seed}: {TRIALS} kill -9 trials, {} mutations acknowledged, {cut} cut off",
        acknowledged.len()
    );
    assert!(cut > 0 && !acknowledged.is_empty(), "the kills landed both before and after answers");

    // After a restart: every acknowledged request is there, as its municipality sees it.
    let (mut child, url) = server(&db, dir.path());
    let token = token.unwrap();
    for chunk in acknowledged.chunks(20) {
        let fields: Vec<String> =
            chunk.iter().enumerate().map(|(i, id)| format!("r{i}: enrolmentRequest(id: \"{id}\") {{ id }}")).collect();
        let body = post(&url, Some(&token), &format!("{{ {} }}", fields.join(" ")), json!({})).await.unwrap();
        for (i, id) in chunk.iter().enumerate() {
            assert_eq!(body["data"][format!("r{i}")]["id"], id.as_str(), "acknowledged request {id} is lost: {body}");
        }
    }
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();

    // No request without its first history line or its audit event: each committed whole.
    let mut owner = db.conn().await;
    let half: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM enrolment_requests r
         WHERE r.last_name LIKE 'Crash%'
           AND (NOT EXISTS (SELECT 1 FROM enrolment_transitions t WHERE t.request_id = r.id)
                OR NOT EXISTS (SELECT 1 FROM audit_events e
                               WHERE e.object_kind = 'enrolment_request' AND e.object_id = r.id::text))",
    )
    .get_result(&mut owner)
    .await
    .unwrap();
    assert_eq!(half.n, 0, "requests committed without their history or audit event");
    let stored: Count = diesel::sql_query("SELECT count(*) AS n FROM enrolment_requests WHERE last_name LIKE 'Crash%'")
        .get_result(&mut owner)
        .await
        .unwrap();
    assert!(stored.n as usize >= acknowledged.len());

    // The chain, sealed as far as it goes, verifies (as `ambito audit verify` does).
    let mut maint = db.conn_as(ambito::db::roles::DbRole::Maint).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while ambito::db::audit::lag(&mut maint).await.unwrap().unsealed > 0 && std::time::Instant::now() < deadline {
        ambito::db::audit::seal(&mut maint).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let chain = ambito::db::audit::verify_chain(&mut maint).await.unwrap();
    assert!(chain.problem.is_none(), "{chain:?}");
    assert!(chain.sealed as usize >= acknowledged.len(), "{chain:?}");
}
