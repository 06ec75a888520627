//! Several server processes behind a proxy on one PostgreSQL, as the
//! deployment guide (docs/deployment.md) sets them up: a round-robin proxy
//! on loopback sends each connection to the next process, and what one
//! process does is what the other knows: login throttles, and a key
//! rotation written to the key file both read. (A subscription on one
//! process seeing a change made through the other is in
//! `subscriptions.rs`; limited mode on both, in `limited_mode.rs`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ambito::server::Options;
use ambito::storage::keys::{Keyring, LiveKeys};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{TestApp, TestDb, demo_account, seal_all};

/// A TCP proxy on loopback that hands each new connection to the next
/// backend in turn, and counts how many each got.
struct Proxy {
    addr: std::net::SocketAddr,
    served: Arc<[AtomicUsize; 2]>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn over(backends: [String; 2]) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let counts = served.clone();
        let task = tokio::spawn(async move {
            let mut next = 0usize;
            while let Ok((mut client, _)) = listener.accept().await {
                let i = next % 2;
                next += 1;
                counts[i].fetch_add(1, Ordering::SeqCst);
                let backend = backends[i].clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Proxy { addr, served, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn served(&self) -> [usize; 2] {
        [self.served[0].load(Ordering::SeqCst), self.served[1].load(Ordering::SeqCst)]
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A GraphQL request through the proxy, on a connection of its own.
async fn post(proxy: &Proxy, token: Option<&str>, key: Option<&str>, query: &str, variables: Value) -> Value {
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut req = http.post(proxy.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    req.send().await.unwrap().json().await.unwrap()
}

const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("OK")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_behind_a_proxy_share_throttles_and_a_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keys");
    let first_key = Keyring::add_generated(&key_file).unwrap();
    let keys = || LiveKeys::watching(key_file.clone(), Keyring::load(&key_file).unwrap());
    let options = || Options { throttle: crate::throttle::policy(), ..Default::default() };
    let store_dir = tempfile::tempdir().unwrap();
    let store = ambito::storage::store::local(store_dir.path()).unwrap();
    let files = || ambito::server::files(store.clone(), keys(), 8);
    let one = TestApp::start_with(TestDb::demo().await, options(), files()).await;
    let two = TestApp::start_with(TestDb { url: one.db().url.clone() }, options(), files()).await;
    let backend = |app: &TestApp| app.base.trim_start_matches("http://").to_owned();
    let proxy = Proxy::over([backend(&one), backend(&two)]).await;

    // A key rotation written to the shared key file reaches both processes:
    // what either seals next is under the new key. (File times can be
    // coarse: rotate a moment after the keys were read.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let new_key = Keyring::add_generated(&key_file).unwrap();
    assert_ne!(new_key, first_key);
    let school = demo_account("bgic82100t@istruzione.it");
    for (i, app) in [&one, &two].into_iter().enumerate() {
        // A mutation with a key seals its answer; `logout` ends the session it names.
        let token = app.login(&school.email).await;
        let resp = app
            .http
            .post(app.url("/graphql"))
            .bearer_auth(&token)
            .header("Idempotency-Key", format!("rotation-{i}"))
            .json(&json!({ "query": "mutation { logout }" }))
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(code(&body), "OK", "{body}");
    }
    #[derive(diesel::QueryableByName)]
    struct Kek {
        #[diesel(sql_type = diesel::sql_types::Text)]
        kek_id: String,
    }
    use diesel_async::RunQueryDsl;
    let keks: Vec<Kek> = diesel::sql_query("SELECT kek_id FROM idempotency_keys ORDER BY key")
        .load(&mut one.db().conn().await)
        .await
        .unwrap();
    assert_eq!(keks.iter().map(|k| k.kek_id.as_str()).collect::<Vec<_>>(), [new_key.as_str(); 2]);

    // Failed logins land on both processes in turn; the lock is the database's
    // (last: the loopback address itself locks soon after).
    let office = demo_account("ufficio.bg@ambito.invalid");
    for _ in 0..3 {
        let body = post(&proxy, None, None, LOGIN, json!({ "e": office.email, "p": "wrong password!" })).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
    }
    for _ in 0..2 {
        let body = post(&proxy, None, None, LOGIN, json!({ "e": office.email, "p": office.password })).await;
        assert_eq!(code(&body), "RATE_LIMITED", "locked on both processes, even with the right password: {body}");
    }
    let [a, b] = proxy.served();
    assert!(a >= 2 && b >= 2, "each process served some of them: {a} and {b}");
}

/// The backup of the deployment guide, tried: `pg_dump` of a database in
/// use, `pg_restore` into a new one, a server over it. The same accounts
/// see the same rows, and the audit chain verifies.
#[tokio::test]
async fn a_backup_restores_into_a_server_that_serves_the_same_rows_with_a_sound_chain() {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    const PUPILS: &str = "{ pupils(first: 100) { totalCount nodes { id firstName lastName taxCode } } }";
    let app = TestApp::demo().await;
    let school = demo_account("bgic82100t@istruzione.it");
    let token = app.login(&school.email).await;
    let before = app.query_as(&token, PUPILS, json!({})).await;
    // Reads of names are in the trail; seal them into the chain, as the server does every 2 s.
    let mut maint = app.db().conn_as(ambito::db::roles::DbRole::Maint).await;
    seal_all(&mut maint).await;
    let sealed = ambito::db::audit::verify_chain(&mut maint).await.unwrap();
    assert!(sealed.sealed >= 1 && sealed.problem.is_none(), "{sealed:?}");

    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("ambito.dump");
    let bin = ambito::db::embedded::find_binaries().unwrap();
    let run = |program: &str, args: Vec<String>| {
        let out = std::process::Command::new(bin.join(program)).args(&args).output().unwrap();
        assert!(out.status.success(), "{program}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(
        "pg_dump",
        vec!["--format=custom".into(), format!("--file={}", dump.display()), format!("--dbname={}", app.db().url)],
    );
    let name = format!("restored_{}", std::process::id());
    let mut admin = diesel_async::AsyncPgConnection::establish(&ambito::db::with_database(&app.db().url, "postgres"))
        .await
        .unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let restored_url = ambito::db::with_database(&app.db().url, &name);
    run("pg_restore", vec!["--exit-on-error".into(), format!("--dbname={restored_url}"), dump.display().to_string()]);

    let restored = TestApp::over(TestDb { url: restored_url }).await;
    let token = restored.login(&school.email).await;
    assert_eq!(restored.query_as(&token, PUPILS, json!({})).await, before, "the same rows to the same account");
    let mut maint = restored.db().conn_as(ambito::db::roles::DbRole::Maint).await;
    let chain = ambito::db::audit::verify_chain(&mut maint).await.unwrap();
    assert!(chain.problem.is_none(), "{chain:?}");
    assert!(chain.sealed >= sealed.sealed, "the restored chain holds every sealed event: {chain:?}");
}
