//! The `ambito` binary as an operator runs it: its own embedded cluster, and
//! imports that report and exit with a status.

use std::process::Command;

use crate::harness::{TestDb, shared_data};

fn ambito() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ambito"));
    cmd.env_remove("DATABASE_URL").env("AMBITO_LOG", "warn");
    cmd
}

#[tokio::test]
async fn import_commands_report_and_refuse_bad_files() {
    let db = TestDb::empty().await;
    let ok = ambito()
        .args(["--database-url", &db.url, "import", "municipalities"])
        .arg(shared_data("istat-comuni-2024.csv"))
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("7896 rows of municipalities: 7896 inserted, 0 updated, 0 unchanged"), "{out}");

    let bad = ambito()
        .args(["--database-url", &db.url, "import", "schools"])
        .arg(shared_data("istat-comuni-2024.csv"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("istat-comuni-2024.csv:1: unknown column layout"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
}

#[test]
fn migrate_creates_reuses_and_stops_its_embedded_cluster() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = ambito().arg("--data-dir").arg(dir.path()).arg("migrate").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("migrations are up to date"));
    }
    let pg = dir.path().join("postgres");
    assert!(pg.join("PG_VERSION").is_file(), "the cluster lives under the data dir");
    assert!(!pg.join("postmaster.pid").exists(), "the cluster is stopped when the command ends");
}

#[test]
fn export_schema_prints_the_sdl() {
    let out = ambito().arg("export-schema").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), ambito::graphql::sdl());
}

fn run_user(url: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    run_with_input(ambito().args(["--database-url", url, "user"]).args(args), stdin)
}

/// Runs a command with `stdin` as its standard input (one line), to the end.
fn run_with_input(cmd: &mut Command, stdin: Option<&str>) -> std::process::Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        writeln!(input, "{s}").unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn operators_provision_accounts_and_cut_sessions_from_the_command_line() {
    use serde_json::json;
    let app = crate::harness::TestApp::over(TestDb::demo().await).await;
    let url = app.db().url.clone();
    let ok = |out: std::process::Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let me = "{ me { activeMembership { role organization { code } } } }";
    let sign_in = async |password: &str| -> Option<String> {
        let login = "mutation($p: String!) { login(email: \"Dirigente@Example.org\", password: $p) { token } }";
        let (_, body) = app.post(login, json!({ "p": password })).await;
        body["data"]["login"]["token"].as_str().map(str::to_owned)
    };

    ok(run_user(&url, &["create", "Dirigente@Example.org", "--password-stdin"], Some("first password 1")));
    assert!(
        ok(run_user(&url, &["grant", "dirigente@example.org", "provincial", "bg"], None))
            .contains("granted provincial BG")
    );
    let token = sign_in("first password 1").await.expect("the new account signs in");
    let data = app.query_as(&token, me, json!({})).await;
    assert_eq!(data["me"]["activeMembership"]["organization"]["code"], "BG");

    // A new password ends every session.
    ok(run_user(&url, &["set-password", "dirigente@example.org"], Some("second password 2")));
    let (_, body) = app.post_as(Some(&token), me, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert!(sign_in("first password 1").await.is_none());
    let token = sign_in("second password 2").await.unwrap();

    // Removing the membership ends the sessions acting as it.
    ok(run_user(&url, &["revoke", "dirigente@example.org", "provincial", "BG"], None));
    let (_, body) = app.post_as(Some(&token), me, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    // Disabling ends them too, and login is refused.
    ok(run_user(&url, &["grant", "dirigente@example.org", "school", "BGIC82100T"], None));
    let token = sign_in("second password 2").await.unwrap();
    ok(run_user(&url, &["disable", "dirigente@example.org"], None));
    let (_, body) = app.post_as(Some(&token), me, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert!(sign_in("second password 2").await.is_none());

    // Mistakes are explained.
    let bad = run_user(&url, &["grant", "dirigente@example.org", "school", "ZZIC00000X"], None);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("the organisation must exist"));
    let bad = run_user(&url, &["grant", "nobody@example.org", "teacher"], None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no account nobody@example.org"));
    let bad = run_user(&url, &["create", "short@example.org", "--password-stdin"], Some("short"));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("the password must be at least 12 characters"));
}

#[tokio::test]
async fn storage_and_key_commands_check_clean_and_rotate() {
    let db = TestDb::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        ambito().args(["--database-url", &db.url, "--data-dir"]).arg(dir.path()).args(args).output().unwrap()
    };
    let ok = run(&["storage", "verify"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("0 documents checked, 0 problems"));
    assert!(dir.path().join("keys").is_file(), "a key file is generated under the data dir");

    // An object no document refers to: verify reports it, the janitor removes it.
    let orphan = dir.path().join("files/attachments/0b9b1c7e-0000-4000-8000-000000000000");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("part-0000000000-abc"), b"sealed").unwrap();
    let bad = run(&["storage", "verify"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("belongs to no document"));
    // With no document in sight, no object is provably an orphan: the
    // janitor refuses rather than empty the store.
    let refused = run(&["storage", "janitor", "--older-than-minutes", "0"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nothing was deleted"), "{refused:?}");
    assert!(orphan.join("part-0000000000-abc").is_file(), "the object is still there");
    std::fs::remove_dir_all(&orphan).unwrap();
    assert!(run(&["storage", "verify"]).status.success());

    let rotated = run(&["keys", "rotate", "--generate"]);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let out = String::from_utf8_lossy(&rotated.stdout);
    assert!(out.contains("added key kek-") && out.contains("re-wrapped 0 data keys"), "{out}");
    let keys = std::fs::read_to_string(dir.path().join("keys")).unwrap();
    assert_eq!(keys.lines().count(), 2);
    assert!(!out.contains(keys.lines().last().unwrap().split(' ').nth(1).unwrap()), "keys are never printed");
}

/// A deployment on a PostgreSQL of its own, whose owner is no superuser:
/// the owner migrates, and the server and every maintenance command work
/// through the login role, which owns nothing. (The review found the
/// janitor would then have deleted every document.)
#[tokio::test]
async fn a_database_whose_owner_is_no_superuser_serves_and_is_maintained() {
    let db = TestDb::owned_by_a_plain_role().await;
    let (owner, login) = (db.url.clone(), db.login_url());
    let dir = tempfile::tempdir().unwrap();
    let run = |url: &str, args: &[&str], stdin: Option<&str>| {
        let out =
            run_with_input(ambito().args(["--database-url", url, "--data-dir"]).arg(dir.path()).args(args), stdin);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "ambito {args:?} failed: {text}");
        text
    };
    // Before migrating, the login role's server says what to do.
    let early = ambito().args(["--database-url", &login, "storage", "verify"]).output().unwrap();
    assert!(!early.status.success());
    assert!(String::from_utf8_lossy(&early.stderr).contains("ambito migrate"), "{early:?} {login}");

    run(&owner, &["migrate"], None);
    let istat = crate::harness::shared_data("istat-comuni-2024.csv");
    run(&login, &["import", "municipalities", istat.to_str().unwrap()], None);
    run(&login, &["user", "create", "ufficio@example.org", "--password-stdin"], Some("a long enough password"));
    run(&login, &["user", "grant", "ufficio@example.org", "provincial", "BG"], None);

    // The owner cannot be the server's login role.
    let refused =
        ambito().args(["--database-url", &owner, "serve", "--demo=false", "--listen", "127.0.0.1:0"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("owns tables"), "{refused:?}");

    let mut cmd = ambito();
    cmd.args(["--database-url", &login, "--owner-database-url", &owner, "--data-dir"]).arg(dir.path()).args([
        "serve",
        "--demo=false",
        "--listen",
        "127.0.0.1:0",
    ]);
    let (mut child, url) = crate::serve::start(cmd);
    let login_doc =
        "mutation { login(email: \"ufficio@example.org\", password: \"a long enough password\") { token } }";
    let body = crate::serve::post(&url, serde_json::json!({ "query": login_doc })).await;
    let token = body["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let me = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&token)
        .json(&serde_json::json!({ "query": "{ me { email activeMembership { role } } }" }))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(me["data"]["me"]["activeMembership"]["role"], "PROVINCIAL", "{me}");
    crate::serve::interrupt(&mut child);

    assert!(run(&login, &["storage", "verify"], None).contains("0 problems"));
    run(&login, &["storage", "janitor"], None);
    run(&login, &["keys", "rotate"], None);
    let archive = dir.path().join("archive");
    run(&login, &["archive", "export", "--dir", archive.to_str().unwrap(), "--before", "2100-01-01"], None);
    run(&login, &["limited-mode", "on", "registration"], None);
    assert!(run(&login, &["limited-mode", "show"], None).contains("disabled registration"));
    run(&login, &["limited-mode", "off"], None);
    // The account and the grant made on the command line are in the trail, and sealed.
    crate::audit_chain::sealed_at_least(&login, 2).await;
}
