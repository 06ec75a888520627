//! Provisioning, password recovery and limited mode, as seed 000 and seed 004
//! describe them: the office creates school accounts, each school sets its
//! first password from its institutional mailbox.

use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::harness::{PUBLIC_URL, TestApp, demo_account, demo_accounts};

const PROVISION: &str =
    "mutation($c: [String!]) { provisionSchoolAccounts(schoolCodes: $c) { email organization created } }";
const PROVISION_ONE: &str = "mutation($e: String!, $r: Role!, $o: String!) {
    provisionAccount(email: $e, role: $r, organization: $o) { email organization created } }";
const REQUEST: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
const RESET: &str = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { membership { role organization { code } } } }";

/// A Bergamo state institute without a demo account.
async fn unprovisioned_school(app: &TestApp) -> String {
    let data = app
        .query(
            r#"{ schools(first: 20, filter: { province: "BG", kind: STATE, codePrefix: "BGIC" }) { nodes { code } } }"#,
            json!({}),
        )
        .await;
    let taken: Vec<String> = demo_accounts().into_iter().filter_map(|a| a.organization).collect();
    data["schools"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["code"].as_str().unwrap().to_owned())
        .find(|c| !taken.contains(c))
        .unwrap()
}

/// The token of the newest reset link in these messages.
fn token_in(mails: &[String]) -> String {
    link_token(mails, "reset-password")
}

/// The token of the newest link to `page` in these messages.
pub fn link_token(mails: &[String], page: &str) -> String {
    let mail = mails.iter().rev().find(|m| m.contains(&format!("/{page}#token="))).expect("an e-mail with the link");
    let link = format!("{PUBLIC_URL}/{page}#token=");
    let start = mail.find(&link).unwrap_or_else(|| panic!("no reset link in {mail}")) + link.len();
    mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("OK")
}

#[tokio::test]
async fn the_office_provisions_a_school_that_sets_its_first_password_by_email() {
    let app = TestApp::demo().await;
    let school = unprovisioned_school(&app).await;
    let email = format!("{}@istruzione.it", school.to_lowercase());
    let office = app.login("ufficio.bg@ambito.invalid").await;
    let done = app.query_as(&office, PROVISION, json!({ "c": [school] })).await;
    assert_eq!(done["provisionSchoolAccounts"], json!([{ "email": email, "organization": school, "created": true }]));
    let again = app.query_as(&office, PROVISION, json!({ "c": [school] })).await;
    assert_eq!(again["provisionSchoolAccounts"][0]["created"], false, "provisioning twice changes nothing");

    // No password yet: the account cannot sign in.
    let (_, body) = app.post(LOGIN, json!({ "e": email, "p": "any password at all" })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");

    assert_eq!(app.query(REQUEST, json!({ "e": email.to_uppercase() })).await["requestPasswordReset"], true);
    let mails = app.mail_to(&email, 1).await;
    assert_eq!(mails.len(), 1, "one message in the outbox");
    assert!(mails[0].contains("Content-Type: text/plain; charset=utf-8"), "{}", mails[0]);
    let token = token_in(&mails);
    assert_eq!(token.len(), 43);
    assert_eq!(app.query(RESET, json!({ "t": token, "p": "la mia password nuova" })).await["resetPassword"], true);
    let session = app.query(LOGIN, json!({ "e": email, "p": "la mia password nuova" })).await;
    assert_eq!(session["login"]["membership"], json!({ "role": "SCHOOL", "organization": { "code": school } }));

    // The link works once.
    let (_, body) = app.post(RESET, json!({ "t": token, "p": "another new password" })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "token");
}

#[tokio::test]
async fn provisioning_stays_inside_the_offices_province() {
    let app = TestApp::demo().await;
    let school = unprovisioned_school(&app).await;
    let milano = app.login("ufficio.mi@ambito.invalid").await;
    let (_, body) = app.post_as(Some(&milano), PROVISION, json!({ "c": [school] })).await;
    assert_eq!(code(&body), "NOT_FOUND", "another province's school is not found");
    let a_school = app.login("bgic82100t@istruzione.it").await;
    let (_, body) = app.post_as(Some(&a_school), PROVISION, json!({ "c": [school] })).await;
    assert_eq!(code(&body), "FORBIDDEN", "schools provision nobody");
    let (_, body) = app.post(PROVISION, json!({ "c": [school] })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
    let bergamo = app.login("ufficio.bg@ambito.invalid").await;
    let all = app.query_as(&bergamo, PROVISION, json!({ "c": null })).await;
    let all = all["provisionSchoolAccounts"].as_array().unwrap();
    assert!(all.len() > 100, "every state school of Bergamo: {}", all.len());
    assert!(all.iter().all(|a| a["organization"].as_str().unwrap().starts_with("BG")));
}

#[tokio::test]
async fn the_office_provisions_a_municipality_of_its_province() {
    let app = TestApp::demo().await;
    let office = app.login("ufficio.mi@ambito.invalid").await;
    let vars = json!({ "e": "Protocollo@Comune.Sesto.example", "r": "MUNICIPALITY", "o": "015209" });
    let done = app.query_as(&office, PROVISION_ONE, vars.clone()).await;
    assert_eq!(
        done["provisionAccount"],
        json!({ "email": "protocollo@comune.sesto.example", "organization": "015209", "created": true })
    );
    assert_eq!(app.query_as(&office, PROVISION_ONE, vars).await["provisionAccount"]["created"], false);
    // The grant (access to special-category data) is in the province's trail, once.
    let trail =
        "{ auditTrail(first: 10, action: \"grant\") { totalCount edges { node { objectKind userEmail current } } } }";
    let t = app.query_as(&office, trail, json!({})).await;
    assert_eq!(t["auditTrail"]["totalCount"], 1, "{t}");
    let grant = &t["auditTrail"]["edges"][0]["node"];
    assert_eq!(grant["objectKind"], "membership");
    assert_eq!(grant["userEmail"], "ufficio.mi@ambito.invalid");
    assert_eq!(grant["current"]["organization"], "015209");
    let bergamo = app.login("ufficio.bg@ambito.invalid").await;
    let (_, body) = app
        .post_as(Some(&bergamo), PROVISION_ONE, json!({ "e": "x@comune.example", "r": "MUNICIPALITY", "o": "015146" }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "Milan is outside Bergamo's province");
    let (_, body) =
        app.post_as(Some(&bergamo), PROVISION_ONE, json!({ "e": "x@comune.example", "r": "TEACHER", "o": "BG" })).await;
    assert_eq!(
        (code(&body), body["errors"][0]["extensions"]["field"].as_str()),
        ("BAD_USER_INPUT", Some("organization"))
    );
    let hub = app.login("cti.mi1@ambito.invalid").await;
    let (_, body) = app
        .post_as(Some(&hub), PROVISION_ONE, json!({ "e": "x@comune.example", "r": "MUNICIPALITY", "o": "015146" }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN");
}

#[tokio::test]
async fn recovery_answers_the_same_for_unknown_addresses_and_sends_nothing() {
    let app = TestApp::demo().await;
    assert_eq!(app.query(REQUEST, json!({ "e": "nobody@ambito.invalid" })).await["requestPasswordReset"], true);
    let real = demo_account("comune.milano@ambito.invalid");
    assert_eq!(app.query(REQUEST, json!({ "e": real.email })).await["requestPasswordReset"], true);
    assert_eq!(app.mail_to(&real.email, 1).await.len(), 1);
    assert!(app.mail_to("nobody@ambito.invalid", 1).await.is_empty());
}

#[tokio::test]
async fn expired_links_do_not_work_and_raw_tokens_are_not_stored() {
    let app = TestApp::demo().await;
    let account = demo_account("cti.mi1@ambito.invalid");
    app.query(REQUEST, json!({ "e": account.email })).await;
    let token = token_in(&app.mail_to(&account.email, 1).await);
    let mut conn = app.db().conn().await;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let raw: N = diesel::sql_query(
        "SELECT count(*) AS n FROM password_resets WHERE position(convert_to($1, 'UTF8') in token_hash) > 0",
    )
    .bind::<diesel::sql_types::Text, _>(&token)
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(raw.n, 0, "only a hash is stored");
    diesel::sql_query("UPDATE password_resets SET expires_at = now() - interval '1 second'")
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, body) = app.post(RESET, json!({ "t": token, "p": "a brand new password" })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    let (_, body) = app.post(LOGIN, json!({ "e": account.email, "p": account.password })).await;
    assert_eq!(code(&body), "OK", "the old password still works");
}

#[tokio::test]
async fn a_reset_ends_sessions_and_lifts_a_login_lock() {
    use ambito::rules::throttle::ThrottlePolicy;
    let policy = ThrottlePolicy { account_lock_after: 2, free_failures: 100, ..Default::default() };
    let app = TestApp::start(
        crate::harness::TestDb::demo().await,
        ambito::server::Options { throttle: policy, ..Default::default() },
    )
    .await;
    let account = demo_account("start.mi1@ambito.invalid");
    let token = app.login(&account.email).await;
    for _ in 0..2 {
        app.post(LOGIN, json!({ "e": account.email, "p": "wrong password!" })).await;
    }
    let (_, body) = app.post(LOGIN, json!({ "e": account.email, "p": account.password })).await;
    assert_eq!(code(&body), "RATE_LIMITED");
    app.query(REQUEST, json!({ "e": account.email })).await;
    let reset = token_in(&app.mail_to(&account.email, 1).await);
    app.query(RESET, json!({ "t": reset, "p": "fresh password 42" })).await;
    let (_, body) = app.post_as(Some(&token), "{ me { email } }", json!({})).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "the old session ended");
    let (_, body) = app.post(LOGIN, json!({ "e": account.email, "p": "fresh password 42" })).await;
    assert_eq!(code(&body), "OK", "a locked account can reset its password");
    let mails = app.mail_to(&account.email, 2).await;
    assert!(mails.iter().any(|m| m.contains("Subject: Ambito: password cambiata")), "the holder is told: {mails:?}");
    let (_, body) = app.post(RESET, json!({ "t": reset, "p": "short" })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "newPassword");
}

#[tokio::test]
async fn limited_mode_disables_chosen_functions_and_nothing_else() {
    let app = TestApp::demo().await;
    let switch = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ambito"))
            .env_remove("DATABASE_URL")
            .args(["--database-url", &app.db().url, "limited-mode"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(
        switch(&["on", "external-password-recovery,email-change"])
            .contains("disabled external-password-recovery, email-change")
    );
    let modes = app.query("{ limitedMode }", json!({})).await;
    assert_eq!(modes["limitedMode"], json!(["EXTERNAL_PASSWORD_RECOVERY", "EMAIL_CHANGE"]));

    let external = demo_account("ufficio.bg@ambito.invalid");
    let (_, body) = app.post(REQUEST, json!({ "e": external.email })).await;
    assert_eq!(code(&body), "LIMITED_MODE");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("non-institutional"));
    let school = demo_account("bgic82100t@istruzione.it");
    assert_eq!(
        app.query(REQUEST, json!({ "e": school.email })).await["requestPasswordReset"],
        true,
        "institutional addresses still recover"
    );
    // Everything else keeps working.
    let token = app.login(&external.email).await;
    app.query_as(&token, "{ me { email } provinces { totalCount } }", json!({})).await;

    assert!(switch(&["off"]).contains("limited mode is off"));
    assert_eq!(app.query(REQUEST, json!({ "e": external.email })).await["requestPasswordReset"], true);
}

/// Reset requests cannot flood a mailbox, and one client address cannot
/// send them without end; the answer still tells nothing about the account.
#[tokio::test]
async fn reset_requests_are_throttled() {
    let app = TestApp::demo().await;
    let email = demo_account("bgic82100t@istruzione.it").email;
    for _ in 0..5 {
        assert_eq!(app.query(REQUEST, json!({ "e": email })).await["requestPasswordReset"], true);
    }
    assert_eq!(app.mail_to(&email, 3).await.len(), 3);
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(app.mail_to(&email, 3).await.len(), 3, "no more than three links per quarter of an hour");

    // Twenty requests from one address in all; the next is refused.
    for i in 0..15 {
        let other = format!("nobody{i}@ambito.invalid");
        assert_eq!(app.query(REQUEST, json!({ "e": other })).await["requestPasswordReset"], true);
    }
    let (_, err) = app.query_error(REQUEST, json!({ "e": "someone@ambito.invalid" })).await;
    assert_eq!(err["extensions"]["code"], "RATE_LIMITED");
    assert!(err["message"].as_str().unwrap().contains("password resets"), "{err}");
}
