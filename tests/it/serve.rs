//! `ambito serve` as a new user runs it: the embedded default with demo data,
//! one log line per request, HTTPS when given a certificate, a clean stop.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn ambito(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ambito"));
    cmd.env_remove("DATABASE_URL").env("AMBITO_LOG", "info").arg("--data-dir").arg(data_dir);
    cmd
}

/// Starts `serve` and returns it with the URL it printed.
pub fn start(mut cmd: Command) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("serve printed nothing").unwrap();
    let url = first.strip_prefix("Ambito is listening on ").unwrap_or_else(|| panic!("unexpected: {first}")).to_owned();
    std::thread::spawn(move || lines.for_each(drop));
    (child, url)
}

/// A GraphQL POST to the running binary.
pub async fn post(url: &str, body: Value) -> Value {
    reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

/// Ctrl-C, as a user stops the server; returns what it logged.
pub fn interrupt(child: &mut Child) -> String {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}: {log}");
    log
}

fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    // The embedded cluster may belong to the `postgres` user: let it through.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[tokio::test]
async fn serve_starts_the_embedded_default_with_demo_data_and_stops_it() {
    let dir = data_dir();
    let mut cmd = ambito(dir.path());
    cmd.args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"]);
    let (mut child, url) = start(cmd);
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/graphql"), "{url}");
    let towns = "query Towns { municipalities(filter: {province: \"BG\"}) { totalCount } }";
    let body = post(&url, serde_json::json!({ "query": towns, "operationName": "Towns" })).await;
    assert_eq!(body["data"]["municipalities"]["totalCount"], 243);

    // The demo accounts are listed for a person to use, readable by the owner only.
    let file = dir.path().join("demo-accounts.json");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let accounts: Vec<Value> = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let school = accounts.iter().find(|a| a["email"] == "bgic82100t@istruzione.it").expect("the school of seed 002");
    assert_eq!(school["role"], "school");
    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { membership { role } } }";
    let vars = serde_json::json!({ "e": school["email"], "p": school["password"] });
    let login = post(&url, serde_json::json!({ "query": login, "variables": vars })).await;
    assert_eq!(login["data"]["login"]["membership"]["role"], "SCHOOL");

    // Without --test-clock nobody moves the domain clock, the office included.
    let office = accounts.iter().find(|a| a["role"] == "provincial").unwrap();
    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let vars = serde_json::json!({ "e": office["email"], "p": office["password"] });
    let token = post(&url, serde_json::json!({ "query": login, "variables": vars })).await["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let clock = serde_json::json!({ "query": "mutation { setTestClock(now: \"2027-01-01T00:00:00Z\") }" });
    let refused: Value =
        reqwest::Client::new().post(&url).bearer_auth(&token).json(&clock).send().await.unwrap().json().await.unwrap();
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");

    let log = interrupt(&mut child);
    let line: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"] == "request" && v["route"] == "/graphql")
        .unwrap_or_else(|| panic!("no JSON request line in: {log}"));
    assert_eq!(line["operation"], "Towns");
    assert_eq!(line["outcome"], "ok");
    assert_eq!(line["status"], 200);
    assert_eq!(line["request_id"].as_str().unwrap().len(), 32);
    assert!(line["duration_ms"].is_number());
    assert!(!dir.path().join("postgres/postmaster.pid").exists(), "the cluster stops with the server");
}

#[tokio::test]
async fn serve_speaks_https_when_given_a_certificate() {
    let dir = data_dir();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make a test certificate");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let mut cmd = ambito(dir.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"]).arg(&cert).arg("--tls-key").arg(&key);
    let (mut child, url) = start(cmd);
    assert!(url.starts_with("https://"), "{url}");
    let health = url.replace("/graphql", "/health");
    let got = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sk", "--max-time", "10", &health])
            .output()
            .expect("curl is needed for the HTTPS test")
    })
    .await
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&got.stdout), "ok");
    interrupt(&mut child);
}

#[test]
fn missing_postgres_binaries_name_the_package() {
    let dir = data_dir();
    let out = ambito(dir.path()).env("AMBITO_PG_BIN", dir.path()).arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("apt-get install postgresql"));
}

#[test]
fn the_test_clock_is_refused_outside_demo_mode() {
    let dir = data_dir();
    let out =
        ambito(dir.path()).args(["serve", "--demo=false", "--test-clock", "--listen", "127.0.0.1:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--test-clock") && err.contains("demo mode only"), "{err}");
}

#[test]
fn plain_http_on_a_public_address_is_refused_outside_demo_mode() {
    let dir = data_dir();
    let out = ambito(dir.path()).args(["serve", "--demo=false", "--listen", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to serve plain HTTP"), "{err}");
    assert!(!dir.path().join("postgres/postmaster.pid").exists(), "the cluster is stopped on the way out");
}

/// A data directory that holds an earlier version's demo is never loaded
/// over (its rows would collide half-way): the server says what to do. The
/// same version's demo is left as it is.
#[tokio::test]
async fn an_older_demo_is_refused_with_what_to_do_and_the_same_one_is_kept() {
    use diesel_async::RunQueryDsl as _;
    let db = crate::harness::TestDb::demo().await;
    let mut conn = db.conn().await;
    let passwords = ambito::auth::passwords::Passwords::new();
    assert!(ambito::demo::load(&mut conn, &passwords).await.unwrap().is_none(), "already loaded: nothing to do");
    diesel::sql_query("UPDATE app_meta SET value = '7' WHERE key = 'demo'").execute(&mut conn).await.unwrap();
    let err = ambito::demo::load(&mut conn, &passwords).await.unwrap_err().to_string();
    assert!(err.contains("demo version 7") && err.contains("remove the data directory"), "{err}");
}
