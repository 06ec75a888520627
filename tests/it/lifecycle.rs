//! The account lifecycle of seed 004 through GraphQL: a teacher registers
//! and proves the address, changes it, and revokes the account; an
//! organisation's account cannot do the last two; limited mode switches
//! each function off while open work goes on.

use ambito::usecases::accounts::limited::{self, AccountFunction, Switch};
use serde_json::json;

use crate::harness::{TestApp, demo_account};
use crate::recovery::{code, link_token};

const REGISTER: &str = "mutation($e: String!, $p: String!) { register(email: $e, password: $p) }";
const CONFIRM_REGISTRATION: &str = "mutation($t: String!) { confirmRegistration(token: $t) }";
const CHANGE: &str = "mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e, password: $p) }";
const CONFIRM_CHANGE: &str = "mutation($t: String!) { confirmEmailChange(token: $t) }";
const REVOKE: &str = "mutation($p: String!) { revokeAccount(password: $p) }";
const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token
    membership { role organization { code } } } }";
const ME: &str = "{ me { email } }";

const PASSWORD: &str = "la mia password di docente";

/// Signs in; returns the token, or the error code.
async fn login(app: &TestApp, email: &str, password: &str) -> Result<String, String> {
    let (_, body) = app.post(LOGIN, json!({ "e": email, "p": password })).await;
    match body["data"]["login"]["token"].as_str() {
        Some(t) => Ok(t.to_owned()),
        None => Err(code(&body).to_owned()),
    }
}

async fn me(app: &TestApp, token: &str) -> String {
    let (_, body) = app.post_as(Some(token), ME, json!({})).await;
    body["data"]["me"]["email"].as_str().map_or_else(|| code(&body).to_owned(), str::to_owned)
}

#[tokio::test]
async fn a_teacher_registers_changes_address_and_revokes_the_account() {
    let app = TestApp::demo().await;
    let first = "docente.rossi@example.org";
    assert_eq!(app.query(REGISTER, json!({ "e": "Docente.Rossi@Example.org", "p": PASSWORD })).await["register"], true);
    assert_eq!(login(&app, first, PASSWORD).await, Err("UNAUTHENTICATED".into()), "no account before the link");
    let token = link_token(&app.mail_to(first, 1).await, "confirm-registration");
    assert_eq!(app.query(CONFIRM_REGISTRATION, json!({ "t": token })).await["confirmRegistration"], true);
    let (_, again) = app.post(CONFIRM_REGISTRATION, json!({ "t": token })).await;
    assert_eq!((code(&again), again["errors"][0]["extensions"]["field"].as_str()), ("BAD_USER_INPUT", Some("token")));
    let (_, body) = app.post(LOGIN, json!({ "e": first, "p": PASSWORD })).await;
    assert_eq!(body["data"]["login"]["membership"], json!({ "role": "TEACHER", "organization": null }));
    let session = login(&app, first, PASSWORD).await.unwrap();

    // Registering a taken address answers the same and tells its holder.
    assert_eq!(app.query(REGISTER, json!({ "e": first, "p": "someone else's password" })).await["register"], true);
    let mails = app.mail_to(first, 3).await;
    assert!(mails.iter().any(|m| m.contains("ha già un account")), "{mails:?}");
    // The new account's holder was told it exists, and what to do if it was not them.
    let created = mails.iter().find(|m| m.contains("Subject: Ambito: account creato")).expect("a notice");
    assert!(created.contains("Se non è stato lei, avverta subito l'ufficio scolastico"), "{created}");
    // A short password is refused before anything is sent.
    let (_, body) = app.post(REGISTER, json!({ "e": "altro@example.org", "p": "short" })).await;
    assert_eq!((code(&body), body["errors"][0]["extensions"]["field"].as_str()), ("BAD_USER_INPUT", Some("password")));

    // The address changes only from a link sent to the new one, with the password.
    let second = "rossi.nuovo@example.org";
    let (_, body) = app.post_as(Some(&session), CHANGE, json!({ "e": second, "p": "not the password!" })).await;
    assert_eq!((code(&body), body["errors"][0]["extensions"]["field"].as_str()), ("BAD_USER_INPUT", Some("password")));
    assert_eq!(app.query_as(&session, CHANGE, json!({ "e": second, "p": PASSWORD })).await["requestEmailChange"], true);
    assert_eq!(me(&app, &session).await, first, "nothing changes before the link");
    let token = link_token(&app.mail_to(second, 1).await, "confirm-email");
    assert_eq!(app.query(CONFIRM_CHANGE, json!({ "t": token })).await["confirmEmailChange"], true);
    assert_eq!(me(&app, &session).await, "UNAUTHENTICATED", "the change ends the sessions");
    assert_eq!(login(&app, first, PASSWORD).await, Err("UNAUTHENTICATED".into()));
    let session = login(&app, second, PASSWORD).await.unwrap();
    assert_eq!(me(&app, &session).await, second);
    let notices = app.mail_to(first, 4).await;
    assert!(notices.iter().any(|m| m.contains("stato cambiato")), "the old address is told: {notices:?}");

    // Revocation, with the password: no more sign-in, and the address is free again.
    let (_, body) = app.post_as(Some(&session), REVOKE, json!({ "p": "not the password!" })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert_eq!(app.query_as(&session, REVOKE, json!({ "p": PASSWORD })).await["revokeAccount"], true);
    assert_eq!(me(&app, &session).await, "UNAUTHENTICATED");
    assert_eq!(login(&app, second, PASSWORD).await, Err("UNAUTHENTICATED".into()));
    let revoked = app.mail_to(second, 2).await;
    assert!(revoked.iter().any(|m| m.contains("Subject: Ambito: account revocato")), "{revoked:?}");
    app.query(REGISTER, json!({ "e": second, "p": PASSWORD })).await;
    let mails = app.mail_to(second, 3).await;
    assert!(mails.iter().filter(|m| m.contains("/confirm-registration#token=")).count() == 1, "{mails:?}");
    assert!(!mails.iter().any(|m| m.contains("ha già un account")), "a revoked account no longer holds the address");
}

#[tokio::test]
async fn an_organisations_account_keeps_the_address_the_office_gave_it() {
    let app = TestApp::demo().await;
    let school = demo_account("bgic82100t@istruzione.it");
    let token = app.login(&school.email).await;
    for (doc, vars) in [
        (CHANGE, json!({ "e": "segreteria@gmail.example", "p": school.password })),
        (REVOKE, json!({ "p": school.password })),
    ] {
        let (_, body) = app.post_as(Some(&token), doc, vars).await;
        assert_eq!(code(&body), "FORBIDDEN", "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("provincial office"));
    }
    assert_eq!(me(&app, &token).await, school.email, "nothing changed");
    // Without a session there is no account to change.
    let (_, body) = app.post(REVOKE, json!({ "p": "whatever password" })).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn limited_mode_stops_the_account_lifecycle_but_not_open_work() {
    let app = TestApp::demo().await;
    let teacher = demo_account("docente@ambito.invalid");
    // A registration started before the switch cannot be completed during it.
    app.query(REGISTER, json!({ "e": "in.corso@example.org", "p": PASSWORD })).await;
    let pending = link_token(&app.mail_to("in.corso@example.org", 1).await, "confirm-registration");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ambito"))
        .env_remove("DATABASE_URL")
        .args(["--database-url", &app.db().url, "limited-mode", "on", "registration,email-change,revocation"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let session = app.login(&teacher.email).await;
    for (token, doc, vars) in [
        (None, REGISTER, json!({ "e": "nuovo@example.org", "p": PASSWORD })),
        (None, CONFIRM_REGISTRATION, json!({ "t": pending })),
        (Some(&session), CHANGE, json!({ "e": "nuovo@example.org", "p": teacher.password })),
        (None, CONFIRM_CHANGE, json!({ "t": "any" })),
        (Some(&session), REVOKE, json!({ "p": teacher.password })),
    ] {
        let (_, body) = app.post_as(token.map(String::as_str), doc, vars).await;
        assert_eq!(code(&body), "LIMITED_MODE", "{doc}: {body}");
    }
    // Open work goes on: the teacher is signed in and still is.
    assert_eq!(me(&app, &session).await, teacher.email);
    assert_eq!(login(&app, "in.corso@example.org", PASSWORD).await, Err("UNAUTHENTICATED".into()));
}

/// `email-validation` stops the confirmation of addresses alone: a
/// registration can start, but its link waits. `serviceStatus` tells front
/// ends what is off, without a session.
#[tokio::test]
async fn email_validation_stops_confirmations_and_the_status_says_so() {
    let app = TestApp::demo().await;
    let status = "{ serviceStatus { limited functions from until message } }";
    assert_eq!(app.query(status, json!({})).await["serviceStatus"]["limited"], false);
    let mut conn = app.db().conn_as(ambito::db::roles::DbRole::Auth).await;
    let functions = vec![AccountFunction::EmailValidation];
    limited::switch(&mut conn, Switch::On { functions, until: None, message: String::new() }).await.unwrap();
    let s = app.query(status, json!({})).await["serviceStatus"].clone();
    assert!(s["from"].is_string(), "a switch made now starts now: {s}");
    assert_eq!(
        s,
        json!({ "limited": true, "functions": ["EMAIL_VALIDATION"], "from": s["from"], "until": null, "message": null })
    );
    // Registration still starts; confirming it waits for the end of the period.
    app.query(REGISTER, json!({ "e": "attesa@example.org", "p": PASSWORD })).await;
    let pending = link_token(&app.mail_to("attesa@example.org", 1).await, "confirm-registration");
    let (_, body) = app.post(CONFIRM_REGISTRATION, json!({ "t": pending })).await;
    assert_eq!(code(&body), "LIMITED_MODE", "{body}");
    limited::switch(&mut conn, Switch::Off).await.unwrap();
    assert_eq!(app.query(CONFIRM_REGISTRATION, json!({ "t": pending })).await["confirmRegistration"], true);
    assert!(login(&app, "attesa@example.org", PASSWORD).await.is_ok());
}
