//! Enabling a teacher's account in person and its personal code (seed 004),
//! through the real server: who may enable whom, the two halves of the code,
//! and what the teacher then sees.

use ambito::auth::passwords::Passwords;
use ambito::rules::personal_code;
use ambito::usecases::accounts::limited::{self, AccountFunction, Switch};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::harness::{TestApp, demo_account};

const ENABLE: &str =
    "mutation($i: EnableAccountInput!) { enableAccount(input: $i) { email enabledAt personalCodeHalf } }";
const ME: &str = "{ me { enabled enabledAt } }";
const NEW_TEACHER: &str = "docente.nuovo@ambito.invalid";

fn input(email: &str) -> Value {
    json!({ "email": email, "documentKind": "CARTA_IDENTITA", "documentNumberLast4": "ab42",
            "checkedOn": chrono::Utc::now().date_naive().to_string() })
}

/// The stored hash of an account's personal code (read as the owner).
async fn code_hash(app: &TestApp, email: &str) -> Option<String> {
    use ambito::db::schema::users;
    users::table
        .filter(users::email.eq(email))
        .select(users::personal_code_hash)
        .first(&mut app.db().conn().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_school_enables_a_teacher_who_gets_the_other_half_by_email() {
    let app = TestApp::demo().await;
    let teacher = app.login(NEW_TEACHER).await;
    assert_eq!(app.query_as(&teacher, ME, json!({})).await["me"], json!({ "enabled": false, "enabledAt": null }));
    let school = app.login("bgic82100t@istruzione.it").await;
    let done = app.query_as(&school, ENABLE, json!({ "i": input(NEW_TEACHER) })).await["enableAccount"].clone();
    assert_eq!(done["email"], NEW_TEACHER);
    let staff_half = done["personalCodeHalf"].as_str().unwrap().to_owned();
    assert_eq!(staff_half.len(), personal_code::HALF);

    let mail = app.mail_to(NEW_TEACHER, 1).await.pop().expect("the teacher's e-mail");
    let line = mail.lines().find_map(|l| l.strip_prefix("Codice personale (seconda metà): ")).expect("the half's line");
    let mail_half = line.trim().to_owned();
    assert!(!mail.contains(&staff_half), "the e-mail never carries the staff's half");
    let code = personal_code::normalize(&format!("{staff_half}{mail_half}")).expect("the halves make a code");
    let hash = code_hash(&app, NEW_TEACHER).await.expect("a stored hash");
    assert!(!hash.contains(&code), "only a hash is stored");
    let passwords = Passwords::new();
    assert!(passwords.verify(&code, Some(&hash)).await.unwrap());
    assert!(!passwords.verify(&format!("{mail_half}{staff_half}"), Some(&hash)).await.unwrap(), "order matters");

    let me = app.query_as(&teacher, ME, json!({})).await["me"].clone();
    assert_eq!(me["enabled"], true);
    assert_eq!(me["enabledAt"], done["enabledAt"]);
    // The office reads who enabled whom, with which document.
    let office = app.login("ufficio.bg@ambito.invalid").await;
    let trail = "{ auditTrail(first: 5, action: \"enable\") { edges { node { userEmail schoolCode current } } } }";
    let t = app.query_as(&office, trail, json!({})).await;
    let event = &t["auditTrail"]["edges"][0]["node"];
    assert_eq!(event["userEmail"], "bgic82100t@istruzione.it");
    assert_eq!(event["schoolCode"], "BGIC82100T");
    assert_eq!(event["current"]["documentNumberLast4"], "AB42");
    assert_eq!(event["current"]["email"], NEW_TEACHER);
    // Enabled in Bergamo, the account is Bergamo's: Milan's office cannot enable it again.
    let mi = app.login("ufficio.mi@ambito.invalid").await;
    let (_, body) = app.post_as(Some(&mi), ENABLE, json!({ "i": input(NEW_TEACHER) })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    assert_eq!(code_hash(&app, NEW_TEACHER).await, Some(hash), "nothing changed");
}

#[tokio::test]
async fn only_staff_enable_only_personal_accounts_and_bad_input_changes_nothing() {
    let app = TestApp::demo().await;
    let school = app.login("bgic82100t@istruzione.it").await;
    let code = |body: &Value| body["errors"][0]["extensions"]["code"].as_str().unwrap_or("OK").to_owned();
    let field = |body: &Value| body["errors"][0]["extensions"]["field"].as_str().unwrap_or("").to_owned();
    for (who, what) in
        [("nobody@example.org", "an unknown address"), ("ufficio.mi@ambito.invalid", "an office's account")]
    {
        let (_, body) = app.post_as(Some(&school), ENABLE, json!({ "i": input(who) })).await;
        assert_eq!(code(&body), "NOT_FOUND", "{what}: {body}");
    }
    let mut bad = input(NEW_TEACHER);
    bad["documentNumberLast4"] = json!("12-4");
    let (_, body) = app.post_as(Some(&school), ENABLE, json!({ "i": bad })).await;
    assert_eq!((code(&body), field(&body)), ("BAD_USER_INPUT".into(), "input.documentNumberLast4".into()));
    let mut bad = input(NEW_TEACHER);
    bad["checkedOn"] = json!((chrono::Utc::now().date_naive() + chrono::Duration::days(2)).to_string());
    let (_, body) = app.post_as(Some(&school), ENABLE, json!({ "i": bad })).await;
    assert_eq!((code(&body), field(&body)), ("BAD_USER_INPUT".into(), "input.checkedOn".into()));
    let mut bad = input(NEW_TEACHER);
    bad["taxCode"] = json!("RSSMRA80A01H501X");
    let (_, body) = app.post_as(Some(&school), ENABLE, json!({ "i": bad })).await;
    assert_eq!((code(&body), field(&body)), ("BAD_USER_INPUT".into(), "input.taxCode".into()));
    assert_eq!(code_hash(&app, NEW_TEACHER).await, None, "no refused request enabled anything");
    // Teachers, municipalities and hubs do not enable accounts.
    for who in ["docente@ambito.invalid", "comune.milano@ambito.invalid", "cti.mi1@ambito.invalid"] {
        let token = app.login(who).await;
        let (_, body) = app.post_as(Some(&token), ENABLE, json!({ "i": input(NEW_TEACHER) })).await;
        assert_eq!(code(&body), "FORBIDDEN", "{who}");
    }
}

/// The demo has a teacher enabled in person whose personal code is in
/// `demo-accounts.json`, and one registered but not enabled.
#[tokio::test]
async fn the_demo_teacher_is_enabled_with_a_known_code() {
    let app = TestApp::demo().await;
    let enabled = demo_account("docente@ambito.invalid");
    let code = enabled.personal_code.clone().expect("a personal code in the demo accounts");
    let hash = code_hash(&app, &enabled.email).await.expect("a stored hash");
    assert!(Passwords::new().verify(&code, Some(&hash)).await.unwrap());
    let token = app.login(&enabled.email).await;
    assert_eq!(app.query_as(&token, ME, json!({})).await["me"]["enabled"], true);
    assert!(demo_account(NEW_TEACHER).personal_code.is_none());
}

const REGENERATE: &str = "mutation($p: String!) { regeneratePersonalCode(password: $p) }";
const CONFIRM: &str = "mutation($t: String!) { confirmPersonalCodeRegeneration(token: $t) }";

#[tokio::test]
async fn a_teacher_regenerates_the_personal_code_by_an_emailed_link() {
    let app = TestApp::demo().await;
    let teacher = demo_account("docente@ambito.invalid");
    let token = app.login(&teacher.email).await;
    let before = code_hash(&app, &teacher.email).await.unwrap();
    // A wrong password is refused and sends nothing.
    let (_, body) = app.post_as(Some(&token), REGENERATE, json!({ "p": "not the password" })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "password", "{body}");
    assert!(app.mail_to(&teacher.email, 1).await.is_empty());

    app.query_as(&token, REGENERATE, json!({ "p": teacher.password })).await;
    let t = crate::recovery::link_token(&app.mail_to(&teacher.email, 1).await, "confirm-personal-code");
    assert_eq!(
        code_hash(&app, &teacher.email).await.as_ref(),
        Some(&before),
        "nothing changes before the link is opened"
    );
    app.query(CONFIRM, json!({ "t": t })).await;
    let mails = app.mail_to(&teacher.email, 2).await;
    let notice = mails.iter().find(|m| m.contains("Codice personale: ")).expect("the new code");
    let new = notice.lines().find_map(|l| l.strip_prefix("Codice personale: ")).unwrap().trim().to_owned();
    let after = code_hash(&app, &teacher.email).await.unwrap();
    let passwords = Passwords::new();
    assert!(passwords.verify(&new, Some(&after)).await.unwrap(), "the e-mailed code is the account's");
    let old = teacher.personal_code.unwrap();
    assert!(!passwords.verify(&old, Some(&after)).await.unwrap(), "the old code no longer works");
    // The link works once.
    let (_, body) = app.post(CONFIRM, json!({ "t": t })).await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "token", "{body}");
    assert_eq!(code_hash(&app, &teacher.email).await, Some(after), "a spent link changes nothing");

    // An account not enabled yet has no code to regenerate; limited mode stops the function.
    let fresh = demo_account(NEW_TEACHER);
    let fresh_token = app.login(&fresh.email).await;
    let (_, body) = app.post_as(Some(&fresh_token), REGENERATE, json!({ "p": fresh.password })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    let mut conn = app.db().conn_as(ambito::db::roles::DbRole::Auth).await;
    let functions = vec![AccountFunction::PersonalCodeRegeneration];
    limited::switch(&mut conn, Switch::On { functions, until: None, message: String::new() }).await.unwrap();
    let (_, body) = app.post_as(Some(&token), REGENERATE, json!({ "p": teacher.password })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "LIMITED_MODE", "{body}");
}
