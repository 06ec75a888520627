//! Accounts and sessions through GraphQL, as the demo's users sign in.

use std::time::Duration;

use ambito::auth::SessionPolicy;
use serde_json::json;

use crate::harness::{TestApp, TestDb, demo_account, demo_accounts};

const ME: &str =
    "{ me { email activeMembership { id role organization { kind code name } } memberships { id role } } }";
const LOGIN: &str = "mutation($e: String!, $p: String!, $m: ID) {
    login(email: $e, password: $p, membershipId: $m) { token expiresAt membership { role organization { code } } } }";

#[tokio::test]
async fn every_demo_account_signs_in_as_its_first_membership() {
    let app = TestApp::demo().await;
    let accounts = demo_accounts();
    assert!(accounts.len() >= 12);
    for a in accounts {
        let data = app.query(LOGIN, json!({ "e": a.email.to_uppercase(), "p": a.password })).await;
        let session = &data["login"];
        let token = session["token"].as_str().unwrap();
        assert_eq!(token.len(), 43);
        assert_eq!(session["membership"]["role"], a.role.to_uppercase());
        assert_eq!(session["membership"]["organization"]["code"].as_str(), a.organization.as_deref());
        let expires = chrono::DateTime::parse_from_rfc3339(session["expiresAt"].as_str().unwrap()).unwrap();
        let hours = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() as f64 / 60.0;
        assert!((11.9..=12.0).contains(&hours), "{hours}");

        let me = app.query_as(token, ME, json!({})).await;
        assert_eq!(me["me"]["email"], a.email.as_str(), "e-mail is matched case-insensitively");
        assert_eq!(me["me"]["activeMembership"]["role"], a.role.to_uppercase());
        assert_eq!(me["me"]["memberships"].as_array().unwrap().len(), 1 + a.other_memberships.len());
    }
}

#[tokio::test]
async fn the_school_of_seed_002_sees_its_own_organisation() {
    let app = TestApp::demo().await;
    let token = app.login("bgic82100t@istruzione.it").await;
    let me = app.query_as(&token, ME, json!({})).await;
    let org = &me["me"]["activeMembership"]["organization"];
    assert_eq!(org["kind"], "SCHOOL");
    assert_eq!(org["code"], "BGIC82100T");
    assert!(org["name"].as_str().unwrap().contains("ALZANO LOMBARDO"));
    let teacher = app.login("docente@ambito.invalid").await;
    let me = app.query_as(&teacher, ME, json!({})).await;
    assert!(me["me"]["activeMembership"]["organization"].is_null(), "a teacher acts for themselves");
}

#[tokio::test]
async fn failed_logins_all_look_the_same() {
    let app = TestApp::demo().await;
    let real = demo_account("ufficio.bg@ambito.invalid");
    let attempts = [
        json!({ "e": real.email, "p": "wrong password!" }),
        json!({ "e": "nobody@ambito.invalid", "p": real.password }),
        json!({ "e": "not an address", "p": real.password }),
    ];
    for vars in attempts {
        let (status, err) = app.query_error(LOGIN, vars.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(err["extensions"]["code"], "UNAUTHENTICATED", "{vars}");
        assert_eq!(err["message"], "wrong e-mail or password", "{vars}");
    }
}

#[tokio::test]
async fn protected_fields_need_a_valid_session() {
    let app = TestApp::demo().await;
    let (_, err) = app.query_error(ME, json!({})).await;
    assert_eq!(err["extensions"]["code"], "UNAUTHENTICATED");
    for bad in ["", "not-a-token", &"A".repeat(43)] {
        let (_, body) = app.post_as(Some(bad), ME, json!({})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "token {bad:?}");
    }
    let (_, err) = app.query_error("mutation { logout }", json!({})).await;
    assert_eq!(err["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::demo().await;
    let token = app.login("comune.milano@ambito.invalid").await;
    let other = app.login("comune.milano@ambito.invalid").await;
    assert_eq!(app.query_as(&token, "mutation { logout }", json!({})).await["logout"], true);
    let (_, body) = app.post_as(Some(&token), ME, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    app.query_as(&other, ME, json!({})).await;
}

#[tokio::test]
async fn a_user_with_two_memberships_switches_between_them() {
    let app = TestApp::demo().await;
    let email = "segreteria.cti@ambito.invalid";
    let token = app.login(email).await;
    let me = app.query_as(&token, ME, json!({})).await;
    assert_eq!(me["me"]["activeMembership"]["role"], "SCHOOL");
    let hub =
        me["me"]["memberships"].as_array().unwrap().iter().find(|m| m["role"] == "CTI_HUB").unwrap()["id"].clone();
    let switched = app
        .query_as(
            &token,
            "mutation($id: ID!) { switchMembership(id: $id) { role organization { code } } }",
            json!({ "id": hub }),
        )
        .await;
    assert_eq!(switched["switchMembership"]["organization"]["code"], "CTI-MI-2");
    let me = app.query_as(&token, ME, json!({})).await;
    assert_eq!(me["me"]["activeMembership"]["role"], "CTI_HUB");

    // Chosen at login, too.
    let account = demo_account(email);
    let data = app.query(LOGIN, json!({ "e": email, "p": account.password, "m": hub })).await;
    assert_eq!(data["login"]["membership"]["role"], "CTI_HUB");

    // Another user's membership is not found, like one that does not exist.
    let office = app.login("ufficio.mi@ambito.invalid").await;
    let theirs = app.query_as(&office, ME, json!({})).await["me"]["activeMembership"]["id"].clone();
    for id in [theirs, json!("999999")] {
        let (_, body) = app
            .post_as(Some(&token), "mutation($id: ID!) { switchMembership(id: $id) { role } }", json!({ "id": id }))
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");
    }
}

#[tokio::test]
async fn idle_and_absolute_expiry_end_sessions() {
    let idle = TestApp::with_sessions(
        TestDb::demo().await,
        SessionPolicy { idle: Duration::from_millis(1500), absolute: Duration::from_secs(3600) },
    )
    .await;
    let token = idle.login("cti.mi1@ambito.invalid").await;
    idle.query_as(&token, ME, json!({})).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (_, body) = idle.post_as(Some(&token), ME, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "idle session ended");

    let short = TestApp::with_sessions(
        TestDb::demo().await,
        SessionPolicy { idle: Duration::from_secs(3600), absolute: Duration::from_millis(1500) },
    )
    .await;
    let token = short.login("cti.mi1@ambito.invalid").await;
    short.query_as(&token, ME, json!({})).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (_, body) = short.post_as(Some(&token), ME, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "absolute expiry");
}

/// A session in use stays alive past its idle time: its last use is
/// recorded often enough. Many requests of a session due for that record
/// at once all answer, and the record is made.
#[tokio::test]
async fn a_session_in_use_outlives_its_idle_time() {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Seen {
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        at: chrono::DateTime<chrono::Utc>,
    }
    let app = TestApp::with_sessions(
        TestDb::demo().await,
        SessionPolicy { idle: Duration::from_millis(3000), absolute: Duration::from_secs(3600) },
    )
    .await;
    let email = "cti.mi1@ambito.invalid";
    let token = app.login(email).await;
    // Used every 400 ms for twice its idle time.
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        app.query_as(&token, ME, json!({})).await;
    }
    let mut conn = app.db().conn().await;
    let last_seen = async |conn: &mut diesel_async::AsyncPgConnection| {
        diesel::sql_query(
            "SELECT s.last_seen_at AS at FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1",
        )
        .bind::<diesel::sql_types::Text, _>(email)
        .get_result::<Seen>(conn)
        .await
        .unwrap()
        .at
    };
    let before = last_seen(&mut conn).await;
    // Past the record's precision (a quarter of the idle time), within the idle time.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let asked = chrono::Utc::now();
    let answers = futures_util::future::join_all((0..16).map(|_| app.post_as(Some(&token), ME, json!({})))).await;
    for (_, body) in &answers {
        assert_eq!(body["data"]["me"]["email"], email, "{body}");
    }
    let after = last_seen(&mut conn).await;
    assert!(after > before && after >= asked - chrono::Duration::milliseconds(50), "{before} -> {after}");
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    use diesel_async::RunQueryDsl;
    let app = TestApp::demo().await;
    let token = app.login("ufficio.mi@ambito.invalid").await;
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = app.db().conn().await;
    let raw: Found = diesel::sql_query(
        "SELECT count(*) AS n FROM sessions WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'",
    )
    .bind::<diesel::sql_types::Text, _>(&token)
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(raw.n, 0);
    let hashed: Found =
        diesel::sql_query("SELECT count(*) AS n FROM sessions WHERE token_hash = sha256(convert_to($1, 'UTF8'))")
            .bind::<diesel::sql_types::Text, _>(&token)
            .get_result(&mut conn)
            .await
            .unwrap();
    assert_eq!(hashed.n, 1);
}
