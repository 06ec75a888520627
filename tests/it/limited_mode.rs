//! Limited mode planned ahead, as seed 004 describes it: the operator plans a
//! period from the command line; users with flows in progress that it will
//! stop are told by when to finish; at the start the unfinished flows end
//! (a registration cancelled, an unvalidated address change lapsed with the
//! enabling withdrawn, a regeneration lapsed, an external recovery link
//! dead) and each holder is told once; sign-in and open work go on; every
//! switch is in the audit trail.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::harness::{TestApp, demo_account};
use crate::recovery::{code, link_token};

const REGISTER: &str = "mutation($e: String!, $p: String!) { register(email: $e, password: $p) }";
const CONFIRM_REGISTRATION: &str = "mutation($t: String!) { confirmRegistration(token: $t) }";
const CHANGE: &str = "mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e, password: $p) }";
const CONFIRM_CHANGE: &str = "mutation($t: String!) { confirmEmailChange(token: $t) }";
const REGENERATE: &str = "mutation($p: String!) { regeneratePersonalCode(password: $p) }";
const CONFIRM_CODE: &str = "mutation($t: String!) { confirmPersonalCodeRegeneration(token: $t) }";
const RECOVER: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
const RESET: &str = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
const STATUS: &str =
    "{ serviceStatus { limited functions from until message planned { functions from until message } } }";
const PASSWORD: &str = "la mia password di docente";

fn limited_mode(app: &TestApp, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ambito"))
        .env_remove("DATABASE_URL")
        .args(["--database-url", &app.db().url, "limited-mode"])
        .args(args)
        .output()
        .unwrap();
    match out.status.success() {
        true => Ok(String::from_utf8(out.stdout).unwrap()),
        false => Err(String::from_utf8(out.stderr).unwrap()),
    }
}

/// The operator's audit events about limited mode and accounts, oldest first.
async fn operator_events(app: &TestApp) -> Vec<(String, Value)> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        action: String,
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        current: Value,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT action, current FROM audit_events WHERE role = 'operator'
           AND object_kind IN ('limited_mode_period', 'account') ORDER BY id",
    )
    .load(&mut app.db().conn().await)
    .await
    .unwrap();
    rows.into_iter().map(|r| (r.action, r.current)).collect()
}

async fn mail_with(app: &TestApp, to: &str, subject: &str) -> Option<String> {
    for _ in 0..100 {
        let found = app.mail_to(to, 1).await.into_iter().find(|m| m.contains(subject));
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn a_planned_period_warns_ahead_then_ends_the_flows_in_progress() {
    let app = TestApp::demo().await;
    let teacher = demo_account("docente@ambito.invalid");
    let office = demo_account("ufficio.bg@ambito.invalid");
    let school = demo_account("bgic82100t@istruzione.it");
    // Flows in progress: a registration, an address change and a code
    // regeneration of the enabled teacher, two recoveries.
    app.query(REGISTER, json!({ "e": "in.corso@example.org", "p": PASSWORD })).await;
    let session = app.login(&teacher.email).await;
    app.query_as(&session, CHANGE, json!({ "e": "nuovo.indirizzo@example.org", "p": teacher.password })).await;
    app.query_as(&session, REGENERATE, json!({ "p": teacher.password })).await;
    app.query(RECOVER, json!({ "e": office.email })).await;
    app.query(RECOVER, json!({ "e": school.email })).await;
    let registration = link_token(&app.mail_to("in.corso@example.org", 1).await, "confirm-registration");
    let change = link_token(&app.mail_to("nuovo.indirizzo@example.org", 1).await, "confirm-email");
    let regeneration = link_token(&app.mail_to(&teacher.email, 1).await, "confirm-personal-code");
    let office_reset = link_token(&app.mail_to(&office.email, 1).await, "reset-password");
    let school_reset = link_token(&app.mail_to(&school.email, 1).await, "reset-password");

    let from = (Utc::now() + chrono::Duration::seconds(6)).trunc_subsecs(0);
    let until = from + chrono::Duration::hours(2);
    let functions = "registration,email-validation,personal-code-regeneration,external-password-recovery";
    let planned = limited_mode(
        &app,
        &[
            "schedule",
            "--from",
            &from.to_rfc3339(),
            "--until",
            &until.to_rfc3339(),
            "--functions",
            functions,
            "--message",
            "Aggiornamento del servizio",
        ],
    )
    .unwrap();
    assert!(planned.starts_with("limited mode is off\nplanned #"), "{planned}");

    // Front ends can announce it; nothing is stopped yet.
    let status = app.query(STATUS, json!({})).await["serviceStatus"].clone();
    assert_eq!(status["limited"], false);
    assert_eq!(status["functions"], json!([]));
    let announced = &status["planned"][0];
    assert_eq!(
        announced["functions"],
        json!(["REGISTRATION", "EXTERNAL_PASSWORD_RECOVERY", "PERSONAL_CODE_REGENERATION", "EMAIL_VALIDATION"])
    );
    assert_eq!(announced["from"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), from);
    assert_eq!(announced["message"], "Aggiornamento del servizio");

    // Each holder gets one warning naming every flow of theirs and the deadline.
    let warning = "Subject: Ambito: da completare entro";
    let to_teacher = mail_with(&app, &teacher.email, warning).await.expect("the teacher is warned");
    assert!(to_teacher.contains("validazione del nuovo indirizzo e-mail"), "{to_teacher}");
    assert!(to_teacher.contains("rigenerazione del codice personale"), "{to_teacher}");
    assert!(to_teacher.contains("abilitato di nuovo di persona"), "{to_teacher}");
    assert!(to_teacher.contains("Aggiornamento del servizio"), "{to_teacher}");
    let to_registrant = mail_with(&app, "in.corso@example.org", warning).await.expect("the registrant is warned");
    assert!(to_registrant.contains("registrazione al servizio"), "{to_registrant}");
    assert!(mail_with(&app, &office.email, warning).await.unwrap().contains("recupero della password"));
    let warnings = |mails: Vec<String>| mails.iter().filter(|m| m.contains(warning)).count();
    assert_eq!(warnings(app.mail_to(&teacher.email, 2).await), 1, "one warning per holder");
    assert_eq!(warnings(app.mail_to(&school.email, 1).await), 0, "institutional recovery is never stopped");

    // At the start: the period is in force on every server at once, and the
    // unfinished flows end, each holder told once.
    let ended = "Subject: Ambito: operazioni in corso terminate";
    assert!(mail_with(&app, &teacher.email, ended).await.is_some(), "the teacher is told");
    assert!(mail_with(&app, "in.corso@example.org", ended).await.is_some());
    assert!(mail_with(&app, &office.email, ended).await.is_some());
    let beside = app.beside().await;
    for server in [&app, &beside] {
        let status = server.query(STATUS, json!({})).await["serviceStatus"].clone();
        assert_eq!(status["limited"], true);
        assert_eq!(status["from"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), from);
        assert_eq!(status["until"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), until);
        assert_eq!(status["message"], "Aggiornamento del servizio");
        assert_eq!(status["planned"], json!([]));
    }
    let (_, body) = app.post(REGISTER, json!({ "e": "altro@example.org", "p": PASSWORD })).await;
    assert_eq!(code(&body), "LIMITED_MODE", "{body}");
    let answered_until = body["errors"][0]["extensions"]["until"].as_str().expect("extensions.until");
    assert_eq!(answered_until.parse::<DateTime<Utc>>().unwrap(), until);

    // Sign-in and open work go on; the enabling was withdrawn.
    let again = app.login(&teacher.email).await;
    let me = app.query_as(&again, "{ me { email enabled enabledAt } }", json!({})).await;
    assert_eq!(me["me"], json!({ "email": teacher.email, "enabled": false, "enabledAt": null }));

    // After the period, the ended flows stay ended: their links are dead.
    assert!(limited_mode(&app, &["off"]).unwrap().starts_with("limited mode is off"));
    for (doc, vars) in [
        (CONFIRM_REGISTRATION, json!({ "t": registration })),
        (CONFIRM_CHANGE, json!({ "t": change })),
        (CONFIRM_CODE, json!({ "t": regeneration })),
        (RESET, json!({ "t": office_reset, "p": "una nuova password lunga" })),
    ] {
        let (_, body) = app.post(doc, vars).await;
        assert_eq!(body["errors"][0]["extensions"]["field"], "token", "{doc}: {body}");
    }
    let reset = app.query(RESET, json!({ "t": school_reset, "p": "una nuova password lunga" })).await;
    assert_eq!(reset["resetPassword"], true, "the institutional recovery was left alone");

    let events = operator_events(&app).await;
    let actions: Vec<&str> = events.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        ["limited_mode.schedule", "limited_mode.warn", "limited_mode.start", "withdraw_enabling", "limited_mode.off"]
    );
    let started = &events[2].1;
    assert_eq!(
        started["ended_flows"],
        json!({ "address-change": 1, "code-regeneration": 1, "external-recovery": 1, "registration": 1 })
    );
    assert_eq!(started["enablings_withdrawn"], 1);
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("@"), "no address in the audit trail of limited mode: {text}");
}

/// Bad plans are refused with the reason and change nothing; a planned
/// period can be called off.
#[tokio::test]
async fn the_command_line_refuses_bad_plans_and_cancels_planned_ones() {
    let app = TestApp::demo().await;
    let soon = Utc::now() + chrono::Duration::days(1);
    let later = soon + chrono::Duration::days(2);
    let at = |t: DateTime<Utc>| t.to_rfc3339();
    let plan = |from: &str, until: Option<&str>, functions: &str| {
        let mut args = vec!["schedule", "--from", from, "--functions", functions];
        if let Some(u) = until {
            args.extend(["--until", u]);
        }
        limited_mode(&app, &args)
    };
    let yesterday = at(Utc::now() - chrono::Duration::days(1));
    assert!(plan(&yesterday, None, "registration").unwrap_err().contains("not in the future"));
    assert!(plan(&at(later), Some(&at(soon)), "registration").unwrap_err().contains("must come after"));
    assert!(plan(&at(soon), None, "registration,everything").unwrap_err().contains("unknown account function"));
    assert!(plan("1 dicembre", None, "registration").unwrap_err().contains("is not a time"));
    assert_eq!(limited_mode(&app, &["show"]).unwrap(), "limited mode is off\n", "refusals change nothing");

    // Italian local time is understood: midnight of 1 December 2099 in Rome is 23:00 UTC.
    let shown = plan("2099-12-01", Some("2099-12-03 08:00"), "revocation").unwrap();
    assert!(shown.contains("revocation from 2099-11-30 23:00 UTC until 2099-12-03 07:00 UTC"), "{shown}");
    let overlap = plan("2099-12-02", None, "registration").unwrap_err();
    assert!(overlap.contains("would overlap period #"), "{overlap}");
    let id: String = shown.split('#').nth(1).unwrap().chars().take_while(char::is_ascii_digit).collect();
    assert!(limited_mode(&app, &["cancel", "999999"]).unwrap_err().contains("no planned period"));
    assert_eq!(limited_mode(&app, &["cancel", &id]).unwrap(), "limited mode is off\n");
    let status = app.query(STATUS, json!({})).await["serviceStatus"].clone();
    assert_eq!(status["planned"], json!([]));
    assert!(limited_mode(&app, &["off"]).unwrap_err().contains("already off"));
    let actions: Vec<String> = operator_events(&app).await.into_iter().map(|(a, _)| a).collect();
    assert_eq!(actions, ["limited_mode.schedule", "limited_mode.cancel"]);
}
