//! The audit trail as an auditor relies on it: append-only for every role
//! the server works as, and a hash chain that `ambito audit verify` walks,
//! naming the first event changed behind the server's back.

use std::process::Command;

use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::harness::TestApp;

fn verify(url: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ambito"))
        .env_remove("DATABASE_URL")
        .env("AMBITO_LOG", "warn")
        .args(["--database-url", url, "audit", "verify"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Verifies until at least `n` events are sealed, each time asserting the
/// chain holds. An event is sealed once no transaction that began before it
/// is still running anywhere in the cluster (other tests' too): until then
/// the chain holds but is shorter.
pub async fn sealed_at_least(url: &str, n: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (ok, out) = verify(url);
        assert!(ok, "{out}");
        let checked: i64 = out.split_whitespace().find_map(|w| w.parse().ok()).expect("a count");
        if checked >= n {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "only {checked} of {n} events sealed: {out}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn concurrent_writers_keep_the_chain_and_a_changed_event_is_named() {
    let app = TestApp::demo().await;
    let school = app.login("bgic82100t@istruzione.it").await;
    // 50 requests at once, each showing pupils' tax codes: 50 read events.
    let reads = (0..50).map(|_| {
        let (app, school) = (&app, school.clone());
        async move { app.query_as(&school, "{ pupils(first: 5) { nodes { taxCode } } }", json!({})).await }
    });
    futures_util::future::join_all(reads).await;
    sealed_at_least(&app.db().login_url(), 50).await;

    // No role the server works as may change or remove an event.
    for role in [ambito::db::roles::DbRole::Maint, ambito::db::roles::DbRole::Auth] {
        let mut conn = app.db().conn_as(role).await;
        for sql in ["UPDATE audit_events SET action = 'nothing'", "DELETE FROM audit_events", "TRUNCATE audit_events"] {
            assert!(diesel::sql_query(sql).execute(&mut conn).await.is_err(), "{role:?}: {sql}");
        }
    }
    // Nor the owner: the trail refuses it.
    let mut owner = app.db().conn().await;
    let err = diesel::sql_query("DELETE FROM audit_events").execute(&mut owner).await.unwrap_err().to_string();
    assert!(err.contains("append-only"), "{err}");

    // A superuser who switches the triggers off can change a row: the chain names it.
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let victim: Id = diesel::sql_query("SELECT event_id AS id FROM audit_seals ORDER BY seq OFFSET 20 LIMIT 1")
        .get_result(&mut owner)
        .await
        .unwrap();
    diesel::sql_query("SET session_replication_role = replica").execute(&mut owner).await.unwrap();
    diesel::sql_query(format!("UPDATE audit_events SET user_id = user_id + 1 WHERE id = {}", victim.id))
        .execute(&mut owner)
        .await
        .unwrap();
    let (ok, out) = verify(&app.db().login_url());
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("event {} was changed", victim.id)), "{out}");
    assert!(out.contains("link 21"), "{out}");
}

#[tokio::test]
async fn a_removed_event_breaks_the_chain_at_its_place() {
    let app = TestApp::demo().await;
    let school = app.login("bgic82100t@istruzione.it").await;
    for _ in 0..3 {
        app.query_as(&school, "{ pupils(first: 2) { nodes { taxCode } } }", json!({})).await;
    }
    sealed_at_least(&app.db().login_url(), 3).await;
    let mut owner = app.db().conn().await;
    diesel::sql_query("SET session_replication_role = replica").execute(&mut owner).await.unwrap();
    diesel::sql_query("DELETE FROM audit_seals WHERE seq = 2").execute(&mut owner).await.unwrap();
    let (ok, out) = verify(&app.db().login_url());
    assert!(!ok && out.contains("seal 2 is missing"), "{out}");
}
