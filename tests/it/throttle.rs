//! Login throttling through HTTP: per account, per client address, the same
//! for accounts that exist and accounts that do not.

use std::time::Duration;

use ambito::rules::throttle::ThrottlePolicy;
use ambito::server::Options;
use serde_json::{Value, json};

use crate::harness::{TestApp, TestDb, demo_account};

const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";

pub(crate) fn policy() -> ThrottlePolicy {
    ThrottlePolicy {
        account_lock_after: 3,
        address_lock_after: 5,
        lock_for: Duration::from_secs(60),
        forget_after: Duration::from_secs(60),
        free_failures: 100,
        step: Duration::ZERO,
        max_delay: Duration::ZERO,
    }
}

async fn app(trust_proxy: bool) -> TestApp {
    TestApp::start(TestDb::demo().await, Options { throttle: policy(), trust_proxy, ..Default::default() }).await
}

/// The error code of a login attempt, or "OK".
async fn attempt(app: &TestApp, email: &str, password: &str, from: Option<&str>) -> String {
    let mut req =
        app.http.post(app.url("/graphql")).json(&json!({ "query": LOGIN, "variables": { "e": email, "p": password } }));
    if let Some(addr) = from {
        req = req.header("x-forwarded-for", format!("198.51.100.9, {addr}"));
    }
    let body: Value = req.send().await.unwrap().json().await.unwrap();
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("OK").to_owned()
}

#[tokio::test]
async fn an_account_locks_after_repeated_failures_whether_or_not_it_exists() {
    let app = app(false).await;
    let office = demo_account("ufficio.bg@ambito.invalid");
    for _ in 0..3 {
        assert_eq!(attempt(&app, &office.email, "wrong password!", None).await, "UNAUTHENTICATED");
    }
    assert_eq!(attempt(&app, &office.email, &office.password, None).await, "RATE_LIMITED", "even the right password");
    let school = demo_account("bgic82100t@istruzione.it");
    assert_eq!(attempt(&app, &school.email, &school.password, None).await, "OK", "other accounts are not locked");

    let fresh = self::app(false).await;
    for _ in 0..3 {
        assert_eq!(attempt(&fresh, "nobody@ambito.invalid", "wrong password!", None).await, "UNAUTHENTICATED");
    }
    assert_eq!(attempt(&fresh, "nobody@ambito.invalid", "wrong password!", None).await, "RATE_LIMITED");
}

#[tokio::test]
async fn a_success_clears_the_accounts_failures() {
    let app = app(false).await;
    let office = demo_account("ufficio.mi@ambito.invalid");
    for _ in 0..2 {
        assert_eq!(attempt(&app, &office.email, "wrong password!", None).await, "UNAUTHENTICATED");
    }
    assert_eq!(attempt(&app, &office.email, &office.password, None).await, "OK");
    for _ in 0..2 {
        assert_eq!(attempt(&app, &office.email, "wrong password!", None).await, "UNAUTHENTICATED");
    }
    assert_eq!(attempt(&app, &office.email, &office.password, None).await, "OK");
}

#[tokio::test]
async fn a_client_address_locks_after_failures_across_accounts() {
    let app = app(true).await;
    for i in 0..5 {
        let code = attempt(&app, &format!("guess{i}@ambito.invalid"), "wrong password!", Some("203.0.113.1")).await;
        assert_eq!(code, "UNAUTHENTICATED");
    }
    let school = demo_account("bgic82100t@istruzione.it");
    assert_eq!(attempt(&app, &school.email, &school.password, Some("203.0.113.1")).await, "RATE_LIMITED");
    assert_eq!(attempt(&app, &school.email, &school.password, Some("203.0.113.2")).await, "OK", "another address");
}

/// The attack of the security review: 40 wrong passwords sent in parallel
/// never locked the account (each overwrote the same count). Counted
/// before they are tried, at most the limit of them are tried at all, the
/// rest are refused, and the right password is then refused too.
#[tokio::test]
async fn parallel_guesses_count_one_each_and_lock_the_account() {
    let app = TestApp::start(
        TestDb::demo().await,
        Options {
            throttle: ThrottlePolicy { account_lock_after: 10, address_lock_after: 1000, ..policy() },
            ..Default::default()
        },
    )
    .await;
    let office = demo_account("ufficio.bg@ambito.invalid");
    let guesses = (0..40).map(|i| {
        let (app, email) = (&app, office.email.clone());
        async move { attempt(app, &email, &format!("wrong password {i:02}"), None).await }
    });
    let codes = futures_util::future::join_all(guesses).await;
    let tried = codes.iter().filter(|c| *c == "UNAUTHENTICATED").count();
    let refused = codes.iter().filter(|c| *c == "RATE_LIMITED").count();
    assert_eq!((tried, refused), (10, 30), "{codes:?}");
    assert_eq!(attempt(&app, &office.email, &office.password, None).await, "RATE_LIMITED");
}

/// Password checks inside a session are throttled like logins: a stolen
/// session cannot guess the password through `revokeAccount` or
/// `requestEmailChange`.
#[tokio::test]
async fn password_checks_inside_a_session_are_throttled() {
    let app = app(false).await;
    let teacher = demo_account("docente@ambito.invalid");
    let token = app.login(&teacher.email).await;
    let revoke = "mutation($p: String!) { revokeAccount(password: $p) }";
    let change = "mutation($p: String!) { requestEmailChange(newEmail: \"new@example.org\", password: $p) }";
    let mut codes = Vec::new();
    for (i, q) in [revoke, change, revoke, change].into_iter().enumerate() {
        let (_, body) = app.post_as(Some(&token), q, json!({ "p": format!("wrong password {i}") })).await;
        codes.push(body["errors"][0]["extensions"]["code"].as_str().unwrap_or("OK").to_owned());
    }
    assert_eq!(codes, ["BAD_USER_INPUT", "BAD_USER_INPUT", "BAD_USER_INPUT", "RATE_LIMITED"]);
    // And the account is locked for logins too: the same count.
    assert_eq!(attempt(&app, &teacher.email, &teacher.password, None).await, "RATE_LIMITED");
}
