//! Crash consistency: the server process killed (`kill -9`) while mutations
//! are in flight, again and again, over one database. Every mutation a
//! client saw acknowledged is there after the restart, no request is left
//! half-written (a request without its history or its audit event), and the
//! audit chain verifies.

use std::process::Command;
use std::time::Duration;

use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::harness::{Dice, TEST_KEYS, TestDb, demo_account, seal_all};
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

/// Requests of the trials (named `prefix…`) without their first history
/// line or their audit event: a request committed in part.
async fn half_written(owner: &mut diesel_async::AsyncPgConnection, prefix: &str) -> i64 {
    diesel::sql_query(
        "SELECT count(*) AS n FROM enrolment_requests r
         WHERE r.last_name LIKE $1 || '%'
           AND (NOT EXISTS (SELECT 1 FROM enrolment_transitions t WHERE t.request_id = r.id)
                OR NOT EXISTS (SELECT 1 FROM audit_events e
                               WHERE e.object_kind = 'enrolment_request' AND e.object_id = r.id::text))",
    )
    .bind::<diesel::sql_types::Text, _>(prefix)
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
    let town = demo_account(ABBIATEGRASSO);
    let mut token = None;
    let mut acknowledged: Vec<String> = Vec::new();
    let mut cut = 0;
    for trial in 0..TRIALS {
        let (child, url) = server(&db, dir.path());
        let mut child = Killed::new(child);
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
        child.now();
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
    let (child, url) = server(&db, dir.path());
    let child = Killed::new(child);
    let token = token.unwrap();
    for chunk in acknowledged.chunks(20) {
        let fields: Vec<String> =
            chunk.iter().enumerate().map(|(i, id)| format!("r{i}: enrolmentRequest(id: \"{id}\") {{ id }}")).collect();
        let body = post(&url, Some(&token), &format!("{{ {} }}", fields.join(" ")), json!({})).await.unwrap();
        for (i, id) in chunk.iter().enumerate() {
            assert_eq!(body["data"][format!("r{i}")]["id"], id.as_str(), "acknowledged request {id} is lost: {body}");
        }
    }
    drop(child);

    // No request without its first history line or its audit event: each committed whole.
    let mut owner = db.conn().await;
    assert_eq!(half_written(&mut owner, "Crash").await, 0, "requests committed without their history or audit event");
    let stored: Count = diesel::sql_query("SELECT count(*) AS n FROM enrolment_requests WHERE last_name LIKE 'Crash%'")
        .get_result(&mut owner)
        .await
        .unwrap();
    assert!(stored.n as usize >= acknowledged.len());

    // The chain, sealed as far as it goes, verifies (as `ambito audit verify` does).
    let mut maint = db.conn_as(ambito::db::roles::DbRole::Maint).await;
    seal_all(&mut maint).await;
    let chain = ambito::db::audit::verify_chain(&mut maint).await.unwrap();
    assert!(chain.problem.is_none(), "{chain:?}");
    assert!(chain.sealed as usize >= acknowledged.len(), "{chain:?}");
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
    let town = accounts.iter().find(|a| a["email"] == ABBIATEGRASSO).expect("the demo municipality");
    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let body = post(&url, None, login, json!({ "e": town["email"], "p": town["password"] })).await.unwrap();
    let token = body["data"]["login"]["token"].as_str().unwrap().to_owned();

    let (mut acknowledged, mut refused) = (Vec::<String>::new(), 0);
    for trial in 0..10 {
        let sends: Vec<_> = (0..IN_FLIGHT)
            .map(|i| {
                let (url, token) = (url.clone(), token.clone());
                tokio::spawn(async move {
                    let name = format!("Stop{trial}x{i}");
                    post(&url, Some(&token), CREATE, json!({ "i": form("Olha", &name, None) })).await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(dice.next(300) as u64)).await;
        stop.now();
        for send in sends {
            let body = send.await.unwrap().expect("the server answers even when its database is gone");
            match body["data"]["createEnrolmentRequest"]["id"].as_str() {
                Some(id) => acknowledged.push(id.to_owned()),
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
            let body = post(&url, Some(&token), "{ me { email } }", json!({})).await.unwrap();
            if body["data"]["me"]["email"] == ABBIATEGRASSO {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the server did not recover: {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    println!(
        "crash: seed {seed}: 10 pg_ctl stop -m immediate trials, {} mutations acknowledged, {refused} refused",
        acknowledged.len()
    );
    assert!(!acknowledged.is_empty() && refused > 0, "the stops landed both before and after answers");

    use diesel_async::AsyncConnection as _;
    let mut owner = diesel_async::AsyncPgConnection::establish(&owner_url).await.unwrap();
    let ids: Vec<i64> = acknowledged.iter().map(|id| id.parse().unwrap()).collect();
    let found: Count = diesel::sql_query("SELECT count(*) AS n FROM enrolment_requests WHERE id = ANY($1)")
        .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(&ids)
        .get_result(&mut owner)
        .await
        .unwrap();
    assert_eq!(found.n as usize, ids.len(), "every acknowledged request survived the stops");
    assert_eq!(half_written(&mut owner, "Stop").await, 0, "requests committed without their history or audit event");
    let chain = ambito::db::audit::verify_chain(&mut owner).await.unwrap();
    assert!(chain.problem.is_none(), "{chain:?}");
    drop(child);
}
