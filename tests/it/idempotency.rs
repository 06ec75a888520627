//! Idempotency keys through the real server: a mutation sent again with its
//! `Idempotency-Key` gets the first answer and changes nothing more; the same
//! key with another request is CONFLICT; duplicates sent at once make one
//! row; answers are kept sealed, per account, for a day, and survive a key
//! rotation.

use ambito::storage::keys::Keyring;
use ambito::storage::maintenance;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::harness::{TEST_KEYS, TestApp, TestDb};

const SCHOOL: &str = "bgic82100t@istruzione.it";
const CREATE_CLASS: &str = "mutation($i: SchoolClassInput!) { createClass(input: $i) { id name section } }";
const ENABLE: &str =
    "mutation($i: EnableAccountInput!) { enableAccount(input: $i) { email enabledAt personalCodeHalf } }";

/// What a client gets back: the status, whether the answer is a replay, and its bytes.
struct Answer {
    status: u16,
    replayed: bool,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap()
    }
}

/// Sends exactly `body` (so a retry is byte for byte the same request).
async fn send(app: &TestApp, token: Option<&str>, key: Option<&str>, body: &[u8]) -> Answer {
    let mut req = app.http.post(app.url("/graphql")).header("content-type", "application/json").body(body.to_vec());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let replayed = resp.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    Answer { status, replayed, bytes: resp.bytes().await.unwrap().to_vec() }
}

fn body(query: &str, variables: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({ "query": query, "variables": variables })).unwrap()
}

/// A lower-secondary site of the demo school, for new classes.
async fn site(app: &TestApp) -> String {
    use ambito::db::schema::sites;
    sites::table
        .filter(sites::institution_code.eq("BGIC82100T"))
        .filter(sites::school_order.eq("secondaria_primo_grado"))
        .select(sites::code)
        .first(&mut app.db().conn().await)
        .await
        .unwrap()
}

fn class(site: &str, section: &str, year: i32) -> Value {
    json!({ "i": { "schoolYear": ambito::rules::school_year::SchoolYear::of(chrono::Utc::now().date_naive()).to_string(),
                   "site": site, "order": "SECONDARIA_PRIMO_GRADO", "yearOfStudy": year, "section": section,
                   "pupils": 21, "timeModelHours": 30 } })
}

/// Classes of a section at the demo school, read as the owner.
async fn classes(app: &TestApp, section: &str) -> i64 {
    use ambito::db::schema::classes as c;
    c::table
        .filter(c::institution_code.eq("BGIC82100T"))
        .filter(c::section.eq(section.to_uppercase()).or(c::section.eq(section)))
        .count()
        .get_result(&mut app.db().conn().await)
        .await
        .unwrap()
}

async fn claims(app: &TestApp, key: &str) -> i64 {
    use ambito::db::schema::idempotency_keys as k;
    k::table.filter(k::key.eq(key)).count().get_result(&mut app.db().conn().await).await.unwrap()
}

#[tokio::test]
async fn a_retried_mutation_gets_its_first_answer_and_runs_once() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let site = site(&app).await;
    let key = uuid::Uuid::new_v4().to_string();

    let first_body = body(CREATE_CLASS, class(&site, "k", 1));
    let first = send(&app, Some(&school), Some(&key), &first_body).await;
    assert_eq!((first.status, first.replayed), (200, false), "{}", first.json());
    assert_eq!(first.json()["data"]["createClass"]["section"], "K");
    assert_eq!(classes(&app, "k").await, 1);

    // The connection dropped before the answer came: the client sends it again.
    let again = send(&app, Some(&school), Some(&key), &first_body).await;
    assert_eq!((again.status, again.replayed), (200, true));
    assert_eq!(again.bytes, first.bytes, "the first answer, byte for byte");
    assert_eq!(classes(&app, "k").await, 1, "and no second effect");

    // The same key with another request is a client's bug, refused whole.
    let other = send(&app, Some(&school), Some(&key), &body(CREATE_CLASS, class(&site, "j", 1))).await;
    assert_eq!(other.status, 409);
    let err = &other.json()["errors"][0];
    assert_eq!(err["extensions"]["code"], "CONFLICT", "{err}");
    assert!(err["message"].as_str().unwrap().contains("Idempotency-Key"), "{err}");
    assert_eq!(classes(&app, "j").await, 0);

    // Keys are per account: another school's same key is its own.
    // A Milan school: the demo's other Bergamo school has submitted its request.
    let other = crate::harness::demo_accounts()
        .into_iter()
        .find(|a| a.role == "school" && a.organization.as_deref().is_some_and(|o| o.starts_with("MI")))
        .expect("a Milan school");
    let (other_school, other_code) = (other.email, other.organization.unwrap());
    let other_token = app.login(&other_school).await;
    let (other_site, order): (String, Option<String>) = {
        use ambito::db::schema::sites;
        sites::table
            .filter(sites::institution_code.eq(&other_code))
            .filter(sites::school_order.eq_any(["primaria", "secondaria_primo_grado"]))
            .select((sites::code, sites::school_order))
            .first(&mut app.db().conn().await)
            .await
            .unwrap()
    };
    let mut theirs = class(&other_site, "k", 1);
    let order = order.unwrap();
    theirs["i"]["order"] = json!(order.to_uppercase());
    theirs["i"]["timeModelHours"] = json!(if order == "primaria" { 27 } else { 30 });
    let theirs = send(&app, Some(&other_token), Some(&key), &body(CREATE_CLASS, theirs)).await;
    assert_eq!((theirs.status, theirs.replayed), (200, false), "{}", theirs.json());
    let their_id = theirs.json()["data"]["createClass"]["id"].clone();
    assert!(their_id.is_string(), "{}", theirs.json());
    assert_ne!(their_id, first.json()["data"]["createClass"]["id"]);

    // A mutation that fails changes nothing and keeps no claim: its retry, mended, runs.
    let failing_key = uuid::Uuid::new_v4().to_string();
    let failed = send(&app, Some(&school), Some(&failing_key), &body(CREATE_CLASS, class(&site, "h", 4))).await;
    assert_eq!(failed.json()["errors"][0]["extensions"]["field"], "input.yearOfStudy", "{}", failed.json());
    assert_eq!(claims(&app, &failing_key).await, 0);
    let mended = send(&app, Some(&school), Some(&failing_key), &body(CREATE_CLASS, class(&site, "h", 2))).await;
    assert_eq!((mended.status, mended.replayed), (200, false), "{}", mended.json());
    assert_eq!(classes(&app, "h").await, 1);

    // A query with a key runs as it is, and leaves no claim.
    let query_key = uuid::Uuid::new_v4().to_string();
    let q = send(&app, Some(&school), Some(&query_key), &body("{ me { email } }", json!({}))).await;
    assert_eq!((q.status, q.replayed), (200, false));
    assert_eq!(claims(&app, &query_key).await, 0);

    // Keys are kept per account: an anonymous mutation cannot have one.
    let login = body(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        json!({ "e": SCHOOL, "p": crate::harness::demo_account(SCHOOL).password }),
    );
    let anonymous = send(&app, None, Some("k-1"), &login).await;
    assert_eq!(anonymous.status, 400);
    let err = &anonymous.json()["errors"][0];
    assert_eq!(
        (err["extensions"]["code"].as_str(), err["extensions"]["field"].as_str()),
        (Some("BAD_USER_INPUT"), Some("Idempotency-Key"))
    );
    // A key that is no key is refused before anything runs.
    for bad in ["x".repeat(256), "two words".into(), String::new()] {
        let a = send(&app, Some(&school), Some(&bad), &body(CREATE_CLASS, class(&site, "g", 1))).await;
        assert_eq!(a.status, 400, "{bad:?}");
        assert_eq!(a.json()["errors"][0]["extensions"]["field"], "Idempotency-Key");
    }
    assert_eq!(classes(&app, "g").await, 0);

    // After a day the key is free again: another request under it runs.
    diesel::sql_query("UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 second' WHERE key = $1")
        .bind::<diesel::sql_types::Text, _>(&key)
        .execute(&mut app.db().conn().await)
        .await
        .unwrap();
    let later = send(&app, Some(&school), Some(&key), &body(CREATE_CLASS, class(&site, "j", 1))).await;
    assert_eq!((later.status, later.replayed), (200, false), "{}", later.json());
    assert_eq!(classes(&app, "j").await, 1);
    assert_eq!(claims(&app, &key).await, 2, "this school's claim, renewed, and the other school's");

    // The upkeep removes expired claims.
    diesel::sql_query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        .execute(&mut app.db().conn().await)
        .await
        .unwrap();
    let mut maint = app.db().conn_as(ambito::db::roles::DbRole::Maint).await;
    let purged =
        ambito::db::idempotency::purge_expired(&mut maint, ambito::usecases::idempotency::REPLAY_HOURS).await.unwrap();
    assert_eq!(purged, 3);
}

#[tokio::test]
async fn twenty_duplicates_sent_at_once_make_one_row() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let site = site(&app).await;
    let key = uuid::Uuid::new_v4().to_string();
    let request = body(CREATE_CLASS, class(&site, "p", 1));
    let answers =
        futures_util::future::join_all((0..20).map(|_| send(&app, Some(&school), Some(&key), &request))).await;
    assert_eq!(classes(&app, "p").await, 1, "one row");
    let ran: Vec<&Answer> = answers.iter().filter(|a| !a.replayed).collect();
    assert_eq!(ran.len(), 1, "one of them ran; the others replayed its answer");
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.json());
        assert_eq!(a.bytes, ran[0].bytes, "every duplicate gets the same answer");
    }
    assert_eq!(claims(&app, &key).await, 1);
}

#[tokio::test]
async fn a_kept_answer_is_sealed_and_survives_a_key_rotation() {
    let app = TestApp::demo().await;
    let school = app.login(SCHOOL).await;
    let key = uuid::Uuid::new_v4().to_string();
    let input = json!({ "i": { "email": "docente.nuovo@ambito.invalid", "documentKind": "CARTA_IDENTITA",
                               "documentNumberLast4": "ab42", "checkedOn": chrono::Utc::now().date_naive().to_string() } });
    let request = body(ENABLE, input);
    let first = send(&app, Some(&school), Some(&key), &request).await;
    assert_eq!((first.status, first.replayed), (200, false), "{}", first.json());
    let half = first.json()["data"]["enableAccount"]["personalCodeHalf"].as_str().unwrap().to_owned();

    // Half a personal code is a secret: the database holds it sealed.
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        kek_id: String,
        #[diesel(sql_type = diesel::sql_types::Bytea)]
        answer: Vec<u8>,
    }
    let stored = || async {
        let rows: Vec<Stored> = diesel::sql_query("SELECT kek_id, answer FROM idempotency_keys WHERE key = $1")
            .bind::<diesel::sql_types::Text, _>(&key)
            .load(&mut app.db().conn().await)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        rows.into_iter().next().unwrap()
    };
    let row = stored().await;
    assert_eq!(row.kek_id, "test-1");
    assert!(!row.answer.windows(half.len()).any(|w| w == half.as_bytes()), "the half is not stored in clear");
    assert!(!row.answer.windows(8).any(|w| w == b"docente."), "nor the answer's other fields");

    // `ambito keys rotate` re-wraps kept answers too, so the old key can go.
    let new_line = "test-2 bmV3IGtleSBmb3IgdGVzdHMgb25seTogbm90IHJlYWw=";
    let both = Keyring::parse(&format!("{TEST_KEYS}\n{new_line}")).unwrap();
    let mut maint = app.db().conn_as(ambito::db::roles::DbRole::Maint).await;
    maintenance::rotate(&mut maint, &both).await.unwrap();
    assert_eq!(stored().await.kek_id, "test-2");

    // A second process that has only the new key replays the answer.
    let store = app.files.store.clone();
    let files = ambito::server::files(store, Keyring::parse(new_line).unwrap(), 8);
    let beside = TestApp::start_with(TestDb { url: app.db().url.clone() }, Default::default(), files).await;
    let again = send(&beside, Some(&school), Some(&key), &request).await;
    assert_eq!((again.status, again.replayed), (200, true), "{}", again.json());
    assert_eq!(again.bytes, first.bytes);
}
