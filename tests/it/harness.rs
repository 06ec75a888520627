//! Test harness: a throw-away PostgreSQL cluster per test run (or
//! `TEST_DATABASE_URL`), a migrated template database, a demo template, and a
//! database per test cloned from one of them. Servers run on port 0.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use ambito::auth::SessionPolicy;
use ambito::auth::passwords::Passwords;
use ambito::config::ServeArgs;
use ambito::db::embedded::{ClusterOptions, EmbeddedCluster};
use ambito::db::roles::Pools;
use ambito::db::{self, PgPool, with_database};
use ambito::demo::DemoAccount;
use ambito::server::Options;
use ambito::storage::Files;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

const TEMPLATE: &str = "ambito_template";
/// The front end's address that links in e-mails point to.
pub const PUBLIC_URL: &str = "https://ambito.example.test";
const DEMO_TEMPLATE: &str = "ambito_demo_template";

struct Server {
    /// Connection string of the maintenance database (`postgres`).
    admin_url: String,
    prefix: String,
    /// The demo template's accounts, with their passwords.
    accounts: Vec<DemoAccount>,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The shared data folder beside the repository (`../shared/data`).
pub fn shared_data(file: &str) -> PathBuf {
    let dir = std::env::var_os("AMBITO_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let path = dir.join(file);
    assert!(
        path.is_file(),
        "{} is missing: the tests read the published open-data files from ../shared/data (or AMBITO_SHARED_DATA)",
        path.display()
    );
    path
}

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        // Migrations run through a blocking harness: give them a runtime of their own.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(setup())
        })
        .join()
        .expect("test database setup panicked")
    })
}

async fn setup() -> Server {
    let pid = std::process::id();
    let (admin_url, prefix) = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) => (with_database(&url, "postgres"), format!("ambito_t{pid}_")),
        Err(_) => {
            let dir = std::env::temp_dir().join(format!("ambito-test-{pid}"));
            let _ = std::fs::remove_dir_all(&dir);
            let cluster = EmbeddedCluster::ensure(&dir.join("postgres"), &ClusterOptions { fsync: false })
                .await
                .expect("starting the test PostgreSQL cluster");
            watchdog(pid, &cluster.stop_argv(), &dir);
            (cluster.url("postgres"), "t_".to_string())
        }
    };
    let template = format!("{prefix}{TEMPLATE}");
    let demo_template = format!("{prefix}{DEMO_TEMPLATE}");
    let mut admin = AsyncPgConnection::establish(&admin_url).await.expect("connecting to the test server");
    ambito::db::roles::bootstrap(&mut admin).await.expect("creating Ambito's roles");
    for db in [&demo_template, &template] {
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {db}")).execute(&mut admin).await.unwrap();
    }
    diesel::sql_query(format!("CREATE DATABASE {template}")).execute(&mut admin).await.unwrap();
    db::migrate(&with_database(&admin_url, &template)).await.expect("migrating the template");
    diesel::sql_query(format!("CREATE DATABASE {demo_template} TEMPLATE {template} STRATEGY FILE_COPY"))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut demo = AsyncPgConnection::establish(&with_database(&admin_url, &demo_template)).await.unwrap();
    let accounts = ambito::demo::load(&mut demo, &Passwords::new()).await.expect("loading demo data").unwrap();
    Server { admin_url, prefix, accounts }
}

/// A shell loop that stops the cluster and removes its files once the test
/// process is gone, however it ends.
fn watchdog(pid: u32, stop: &[String], dir: &std::path::Path) {
    let quoted: Vec<String> = stop.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect();
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {} >/dev/null 2>&1; rm -rf '{}'",
        quoted.join(" "),
        dir.display()
    );
    // `setsid -f` detaches the loop and returns at once, so there is nothing to wait for later.
    std::process::Command::new("setsid")
        .args(["-f", "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("starting the cluster watchdog");
}

/// The log of the throw-away cluster, where PostgreSQL writes errors with
/// their details: tests check that no personal data ends up there.
pub fn server_log() -> PathBuf {
    server();
    assert!(
        std::env::var_os("TEST_DATABASE_URL").is_none(),
        "this test reads the server log of the throw-away cluster: run it without TEST_DATABASE_URL"
    );
    std::env::temp_dir().join(format!("ambito-test-{}", std::process::id())).join("postgres/server.log")
}

/// A demo account by e-mail.
pub fn demo_account(email: &str) -> DemoAccount {
    server().accounts.iter().find(|a| a.email == email).unwrap_or_else(|| panic!("no demo account {email}")).clone()
}

/// Every demo account.
pub fn demo_accounts() -> Vec<DemoAccount> {
    server().accounts.clone()
}

/// A database of its own for one test.
pub struct TestDb {
    /// As the owner (a superuser of the test cluster): for setting up and
    /// inspecting, never for the server's own work.
    pub url: String,
}

impl TestDb {
    async fn clone_of(template: &str) -> TestDb {
        let s = server();
        let name = format!("{}db{}_{}", s.prefix, std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        let mut admin = AsyncPgConnection::establish(&s.admin_url).await.unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {}{template} STRATEGY FILE_COPY", s.prefix))
            .execute(&mut admin)
            .await
            .unwrap();
        TestDb { url: with_database(&s.admin_url, &name) }
    }

    /// Migrated and empty.
    pub async fn empty() -> TestDb {
        TestDb::clone_of(TEMPLATE).await
    }

    /// Created but not migrated, owned by a new role that is no superuser
    /// (CREATEROLE only, which the first migration needs): `url` is the
    /// owner's. As a deployment with a PostgreSQL of its own starts.
    pub async fn owned_by_a_plain_role() -> TestDb {
        let s = server();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let (name, owner) = (
            format!("{}plain{}_{n}", s.prefix, std::process::id()),
            format!("{}owner{}_{n}", s.prefix, std::process::id()),
        );
        let mut admin = AsyncPgConnection::establish(&s.admin_url).await.unwrap();
        for sql in [
            format!("CREATE ROLE {owner} LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS"),
            format!("CREATE DATABASE {name} OWNER {owner}"),
        ] {
            diesel::sql_query(sql).execute(&mut admin).await.unwrap();
        }
        TestDb { url: db::with_user(&with_database(&s.admin_url, &name), &owner) }
    }

    /// With the demo territory.
    pub async fn demo() -> TestDb {
        TestDb::clone_of(DEMO_TEMPLATE).await
    }

    /// As the test cluster's superuser, whoever owns it: to load what a
    /// plain owner may not (the demo's accounts).
    pub async fn superuser_conn(&self) -> AsyncPgConnection {
        let name = match self.url.strip_prefix("postgres://") {
            Some(rest) => rest.split('?').next().and_then(|r| r.rsplit('/').next()),
            None => self.url.split_whitespace().filter_map(|kv| kv.strip_prefix("dbname=")).next_back(),
        };
        let name = name.expect("a database name in the test URL");
        AsyncPgConnection::establish(&with_database(&server().admin_url, name)).await.unwrap()
    }

    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.unwrap()
    }

    /// The login role the server works through (owns nothing).
    pub fn login_url(&self) -> String {
        db::with_user(&self.url, ambito::db::roles::LOGIN_ROLE)
    }

    /// A pool as the login role, as request work uses it.
    pub fn pool(&self) -> PgPool {
        db::pool(&self.login_url(), 4).unwrap()
    }

    /// The pools of a server process over this database.
    pub fn pools(&self) -> Pools {
        self.pools_waiting(ambito::db::pool::DEFAULT_WAIT)
    }

    /// The pools of a server process whose work waits at most `wait` for a connection.
    pub fn pools_waiting(&self, wait: std::time::Duration) -> Pools {
        ambito::db::roles::Pools::connect(&self.login_url(), 4, wait).unwrap()
    }

    /// A connection working as `role`, as the server's upkeep and the
    /// operator's commands do.
    pub async fn conn_as(&self, role: ambito::db::roles::DbRole) -> AsyncPgConnection {
        ambito::db::roles::connect_as(&self.login_url(), role).await.unwrap()
    }
}

/// `size` bytes that start like a PDF, varied by `seed`.
pub fn pdf(size: usize, seed: u8) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend((0..size.saturating_sub(9)).map(|i| ((i * 7919 + seed as usize) % 251) as u8));
    v.truncate(size);
    v
}

/// The test servers' key file: one key, for tests only.
pub const TEST_KEYS: &str = "test-1 dGVzdHMgb25seTogbmV2ZXIgYSByZWFsIGtleSEhISE=";

/// Documents in `store`, under [`TEST_KEYS`], up to `max_mib` MiB each.
pub fn test_files(store: ambito::storage::store::Store, max_mib: u64) -> Files {
    ambito::server::files(store, ambito::storage::keys::Keyring::parse(TEST_KEYS).unwrap(), max_mib)
}

/// The real server on a free loopback port, over a test database.
pub struct TestApp {
    pub base: String,
    /// The database the server uses.
    _db: TestDb,
    pub http: reqwest::Client,
    /// Where the server's e-mail goes, as .eml files.
    pub outbox: tempfile::TempDir,
    /// The server's document store and keys.
    pub files: Files,
    _files_dir: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn demo() -> TestApp {
        TestApp::over(TestDb::demo().await).await
    }

    pub async fn over(db: TestDb) -> TestApp {
        TestApp::with_sessions(db, SessionPolicy::default()).await
    }

    pub async fn with_sessions(db: TestDb, sessions: SessionPolicy) -> TestApp {
        TestApp::start(db, Options { sessions, explorable: true, ..Default::default() }).await
    }

    /// A server as in production: the schema cannot be explored.
    pub async fn production(db: TestDb) -> TestApp {
        TestApp::start(db, Options::default()).await
    }

    pub async fn start(db: TestDb, options: Options) -> TestApp {
        let pools = db.pools();
        TestApp::local(db, options, pools, true).await
    }

    /// A server as in production that counts the fields it resolves, with
    /// no background work of its own: only requests touch the database.
    pub async fn counting(db: TestDb) -> TestApp {
        let pools = db.pools();
        TestApp::local(db, Options { count_fields: true, ..Default::default() }, pools, false).await
    }

    /// A server on `pools` (with their own wait), as `over` starts one.
    pub async fn over_pools(db: TestDb, pools: Pools) -> TestApp {
        TestApp::local(db, Options { explorable: true, ..Default::default() }, pools, true).await
    }

    /// A server on `pools` whose documents live in a temporary directory.
    async fn local(db: TestDb, options: Options, pools: Pools, watch: bool) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let store = ambito::storage::store::local(dir.path()).unwrap();
        let mut app = TestApp::launch(db, options, test_files(store, 64), pools, watch).await;
        app._files_dir = Some(dir);
        app
    }

    /// A server whose documents live in `files` (Garage, in the attachment tests).
    pub async fn start_with(db: TestDb, options: Options, files: Files) -> TestApp {
        let pools = db.pools();
        TestApp::launch(db, options, files, pools, true).await
    }

    /// A server on `pools`; `watch`: with the limited-mode watcher every
    /// server runs (without it, only requests touch the database).
    pub async fn launch(db: TestDb, mut options: Options, files: Files, pools: Pools, watch: bool) -> TestApp {
        // Internal errors' causes go to the failing test's output (AMBITO_LOG to see more).
        let filter = tracing_subscriber::EnvFilter::try_from_env("AMBITO_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        let outbox = tempfile::tempdir().unwrap();
        if options.mailer.is_none() {
            let mailer = ambito::mail::Mailer::outbox(outbox.path().to_owned(), "Ambito <noreply@ambito.invalid>");
            options.mailer = Some(mailer.unwrap());
        }
        options.public_url = PUBLIC_URL.into();
        // Tests walk rounds through their dates (the refusal without
        // `--test-clock` is tested on the real binary, in serve.rs).
        options.clock = ambito::usecases::clock::Clock::settable();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut args = ServeArgs::listening_on("127.0.0.1:0".parse().unwrap());
        args.shutdown_grace_secs = GRACE.try_with(|g| *g).unwrap_or(args.shutdown_grace_secs);
        let authz = ambito::authz::Authorizer::embedded().await.unwrap();
        // The limited-mode watcher, as every server runs it, but brisker.
        if watch {
            let mailer = options.mailer.clone().expect("a mailer");
            let every = std::time::Duration::from_millis(300);
            ambito::server::spawn_limited_mode_watch(ambito::db::AuthDb(pools.auth.clone()), mailer, every);
        }
        let state = ambito::server::state(pools, authz, files.clone(), options);
        let running = ambito::server::spawn(state, &args, async {
            let _ = rx.await;
        })
        .await
        .expect("starting the server");
        TestApp {
            base: format!("http://{}", running.addr),
            _db: db,
            // A fresh loopback connection per request: a pooled one the
            // server has just closed (after refusing an upload by its
            // headers, say) would fail the next request with a broken pipe.
            http: reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("an HTTP client"),
            outbox,
            files,
            _files_dir: None,
            stop: Some(tx),
            task: Some(running.task),
        }
    }

    /// Begins shutting the server down, as SIGTERM does.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits until the server has stopped.
    pub async fn stopped(&mut self) {
        if let Some(task) = self.task.take() {
            task.await.expect("the server task").expect("the server stopped cleanly");
        }
    }

    /// The messages sent to `to` so far, waiting up to five seconds for at least `count`.
    pub async fn mail_to(&self, to: &str, count: usize) -> Vec<String> {
        let raw = self.raw_mail_to(to, count).await;
        raw.iter().map(|m| ambito::mail::decode_quoted_printable(m)).collect()
    }

    /// The messages to `to` as written, undecoded (for their attachments).
    pub async fn raw_mail_to(&self, to: &str, count: usize) -> Vec<String> {
        let header = format!("To: {to}");
        for _ in 0..50 {
            let found: Vec<String> = std::fs::read_dir(self.outbox.path())
                .unwrap()
                .flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter(|m| m.lines().any(|l| l.eq_ignore_ascii_case(&header)))
                .collect();
            if found.len() >= count {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Vec::new()
    }

    /// A second server process over the same database, as behind a load balancer.
    pub async fn beside(&self) -> TestApp {
        TestApp::over(TestDb { url: self._db.url.clone() }).await
    }

    pub fn db(&self) -> &TestDb {
        &self._db
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a GraphQL document; returns the HTTP status and the JSON body.
    pub async fn post(&self, query: &str, variables: Value) -> (u16, Value) {
        self.post_as(None, query, variables).await
    }

    /// POSTs a GraphQL document with a bearer token.
    pub async fn post_as(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut req = self.http.post(self.url("/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// A query that must succeed: returns `data`.
    pub async fn query(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// A query as a signed-in user that must succeed: returns `data`.
    pub async fn query_as(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.post_as(Some(token), query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Asserts that each node of a list shows what the object itself shows
    /// when fetched alone by `field(id: $id) { shown }`: a page that fetches
    /// related rows along with its own must not change what a client sees.
    pub async fn assert_each_as_alone(&self, token: &str, nodes: &[Value], field: &str, shown: &str) {
        let single = format!("query($id: ID!) {{ {field}(id: $id) {{ {shown} }} }}");
        for node in nodes {
            let one = self.query_as(token, &single, json!({ "id": node["id"] })).await;
            assert_eq!(&one[field], node);
        }
    }

    /// Logs in as a demo account; returns the session token.
    pub async fn login(&self, email: &str) -> String {
        let password = demo_account(email).password;
        let data = self
            .query(
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                json!({ "e": email, "p": password }),
            )
            .await;
        data["login"]["token"].as_str().unwrap().to_owned()
    }

    /// A query that must fail: returns its first error.
    pub async fn query_error(&self, query: &str, variables: Value) -> (u16, Value) {
        let (status, body) = self.post(query, variables).await;
        let err = body["errors"][0].clone();
        assert!(err.is_object(), "expected an error: {body}");
        (status, err)
    }
}

pub use ambito::rules::dice::Dice;

/// The dice of a property test: seeded from `var` when set (to run a
/// failure again), from the clock otherwise; the seed is printed.
pub fn dice_from(var: &str, label: &str) -> (Dice, u64) {
    let seed: u64 = match std::env::var(var) {
        Ok(s) => s.parse().unwrap_or_else(|_| panic!("{var} is a number")),
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
    };
    println!("{label}: seed {seed} ({var}={seed} runs it again)");
    (Dice(seed), seed)
}

/// The value of a series in a `/metrics` text: `name` with its labels, as written there.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Seals the audit trail as far as it goes, as the server's sealer does
/// every 2 s: an event waits until every older transaction of the cluster
/// has ended, and other tests run beside this one.
pub async fn seal_all(maint: &mut AsyncPgConnection) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while ambito::db::audit::lag(maint).await.unwrap().unsealed > 0 && std::time::Instant::now() < deadline {
        ambito::db::audit::seal(maint).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A counter in a `/metrics` text: 0 before its first increment, when a
/// series with labels is not written at all.
pub fn counter(text: &str, name: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or(0.0)
}

tokio::task_local! {
    /// The shutdown grace period of servers started within its scope.
    pub static GRACE: u64;
}
