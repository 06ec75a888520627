//! The HTTP surface: health, readiness, metrics, request ids, and what
//! happens to malformed or oversized GraphQL.

use serde_json::json;

use crate::harness::{TestApp, TestDb, counter, metric, seal_all};

#[tokio::test]
async fn health_ready_and_metrics_answer() {
    let app = TestApp::demo().await;
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    app.query("{ provinces { totalCount } }", json!({})).await;
    let (_, _) = app.query_error("{ schools(first: 500) { totalCount } }", json!({})).await;
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"ambito_http_requests_total{route="/graphql",status="200"} 2"#), "{text}");
    assert!(text.contains("ambito_http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains(r#"ambito_graphql_errors_total{code="BAD_USER_INPUT"} 1"#), "{text}");
    assert!(text.contains(r#"ambito_db_pool_connections{pool="requests",state="max"} 4"#), "{text}");
}

/// What the operator watches besides requests: the audit chain's lag, login
/// locks, the janitor's results and the e-mail queue.
#[tokio::test]
async fn metrics_show_the_chains_lag_login_locks_the_janitor_and_mail() {
    let options = ambito::server::Options { throttle: crate::throttle::policy(), ..Default::default() };
    let app = TestApp::start(TestDb::demo().await, options).await;
    let scrape = || async { app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap() };
    let before = scrape().await;
    assert_eq!(metric(&before, "ambito_login_throttle_locked"), 0.0);

    // Reads of names are audit events; no sealer runs in the tests, so they wait.
    let school = app.login("bgic82100t@istruzione.it").await;
    app.query_as(&school, "{ pupils(first: 2) { nodes { taxCode } } }", json!({})).await;
    let text = scrape().await;
    assert!(metric(&text, "ambito_audit_unsealed_events") >= 1.0, "{text}");
    // The query's read went through the journal (counters of the whole test process: at least one more).
    for counter in ["ambito_audit_journal_writes_total", "ambito_audit_journal_events_total"] {
        assert!(metric(&text, counter) > metric(&before, counter), "{counter}: {text}");
    }
    assert!(metric(&text, "ambito_audit_oldest_unsealed_seconds") > 0.0, "{text}");
    seal_all(&mut app.db().conn_as(ambito::db::roles::DbRole::Maint).await).await;
    let text = scrape().await;
    assert_eq!(metric(&text, "ambito_audit_unsealed_events"), 0.0, "sealed: no lag");
    assert_eq!(metric(&text, "ambito_audit_oldest_unsealed_seconds"), 0.0);

    // Three wrong passwords lock the office's account.
    let office = crate::harness::demo_account("ufficio.bg@ambito.invalid");
    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    for _ in 0..3 {
        app.post(login, json!({ "e": office.email, "p": "wrong password!" })).await;
    }
    assert_eq!(metric(&scrape().await, "ambito_login_throttle_locked"), 1.0);

    // The janitor's run, as the server makes it every hour: an expired idempotency key goes.
    let removed = r#"ambito_janitor_removed_total{what="idempotency_keys"}"#;
    let runs = r#"ambito_janitor_runs_total{outcome="ok"}"#;
    let (removed_before, runs_before) = {
        let t = scrape().await;
        (counter(&t, removed), counter(&t, runs))
    };
    let resp = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth(&school)
        .header("Idempotency-Key", "metrics-1")
        .json(&json!({ "query": "mutation { logout }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"),
        &mut app.db().conn().await,
    )
    .await
    .unwrap();
    ambito::server::janitor_once(&app.db().pools().maint, &app.files.store).await;
    let text = scrape().await;
    assert_eq!(metric(&text, removed), removed_before + 1.0, "{text}");
    assert_eq!(metric(&text, runs), runs_before + 1.0);
    assert!(metric(&text, "ambito_janitor_last_run_timestamp_seconds") > 0.0);

    // A recovery e-mail goes through the background queue.
    let sent = r#"ambito_mail_total{outcome="sent"}"#;
    let sent_before = counter(&before, sent);
    app.post("mutation($e: String!) { requestPasswordReset(email: $e) }", json!({ "e": "bgic82100t@istruzione.it" }))
        .await;
    app.mail_to("bgic82100t@istruzione.it", 1).await;
    let text = scrape().await;
    assert!(metric(&text, sent) >= sent_before + 1.0, "{text}");
    assert!(text.contains("ambito_mail_queued "), "{text}");
}

#[tokio::test]
async fn ready_fails_when_the_database_is_gone() {
    let db = TestDb::empty().await;
    let gone = TestDb { url: ambito::db::with_database(&db.url, "no_such_database") };
    let app = TestApp::over(gone).await;
    let ready = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(app.http.get(app.url("/health")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn internal_errors_show_only_the_request_id() {
    let db = TestDb::empty().await;
    let gone = TestDb { url: ambito::db::with_database(&db.url, "no_such_database") };
    let app = TestApp::over(gone).await;
    let resp = app
        .http
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ provinces { totalCount } }" }))
        .send()
        .await
        .unwrap();
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = resp.json().await.unwrap();
    let err = &body["errors"][0];
    assert_eq!(err["extensions"]["code"], "INTERNAL");
    assert_eq!(err["extensions"]["requestId"], request_id.as_str());
    assert_eq!(err["message"], format!("internal error (request {request_id})"));
    assert!(!body.to_string().contains("no_such_database"), "no database detail leaks: {body}");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::demo().await;
    let resp = app.http.get(app.url("/health")).send().await.unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    let other = app.http.get(app.url("/health")).send().await.unwrap();
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);
}

#[tokio::test]
async fn malformed_and_over_limit_queries_are_refused_before_execution() {
    let app = TestApp::demo().await;
    let cases = [
        ("{ schools { totalCount ", "GRAPHQL_PARSE_FAILED"),
        ("{ schools { nonsense } }", "GRAPHQL_VALIDATION_FAILED"),
        (
            "{ provinces(first: 1) { nodes { municipalities(first: 1) { nodes { province { municipalities(first: 1) { nodes { province { municipalities(first: 1) { nodes { province { municipalities(first: 1) { nodes { name } } } } } } } } } } } } } }",
            "QUERY_TOO_DEEP",
        ),
        (
            "{ provinces(first: 100) { nodes { municipalities(first: 100) { nodes { sites(first: 100) { nodes { code } } } } } } }",
            "QUERY_TOO_COMPLEX",
        ),
    ];
    for (query, code) in cases {
        let (status, err) = app.query_error(query, json!({})).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(err["extensions"]["code"], code, "{query}: {err}");
    }
}

#[tokio::test]
async fn only_single_json_requests_are_accepted() {
    let app = TestApp::demo().await;
    let form = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("query=%7B+provinces+%7B+totalCount+%7D+%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    let body: serde_json::Value = form.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    let batch = app
        .http
        .post(app.url("/graphql"))
        .json(&json!([{ "query": "{ provinces { totalCount } }" }]))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 400);

    let huge = "x".repeat(ambito::http::MAX_BODY + 1);
    let big = app.http.post(app.url("/graphql")).json(&json!({ "query": huge })).send().await.unwrap();
    assert_eq!(big.status(), 413);
}

#[tokio::test]
async fn too_many_aliases_or_root_fields_are_refused() {
    let app = TestApp::demo().await;
    let aliased: String = (0..31).map(|i| format!("a{i}: provinces(first: 1) {{ totalCount }} ")).collect();
    let (status, err) = app.query_error(&format!("{{ {aliased} }}"), json!({})).await;
    assert_eq!((status, err["extensions"]["code"].as_str()), (400, Some("QUERY_TOO_MANY_ALIASES")));
    let many: String = (0..21).map(|_| "__typename ").collect();
    let (status, err) = app.query_error(&format!("{{ {many} }}"), json!({})).await;
    assert_eq!((status, err["extensions"]["code"].as_str()), (400, Some("QUERY_TOO_MANY_ROOT_FIELDS")));
}

#[tokio::test]
async fn production_schemas_cannot_be_explored() {
    let demo = TestApp::demo().await;
    let data = demo.query("{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
    let (_, err) = demo.query_error("{ schools { totalCont } }", json!({})).await;
    assert!(err["message"].as_str().unwrap().contains("Did you mean"), "{err}");

    let prod = TestApp::production(TestDb::demo().await).await;
    let (status, body) = prod.post("{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(status, 400, "introspection is refused, not answered with nulls");
    assert_eq!(body["errors"][0]["extensions"]["code"], "INTROSPECTION_DISABLED", "{body}");
    assert!(body["data"].is_null(), "{body}");
    let (_, err) = prod.query_error("{ schools { totalCont } }", json!({})).await;
    assert!(!err["message"].as_str().unwrap().contains("Did you mean"), "{err}");
    prod.query("{ provinces { totalCount } }", json!({})).await;
}

/// Automatic persisted queries: an unknown hash asks for the text, the text
/// with its hash is run and kept, then the hash alone is enough; a wrong
/// hash is refused, and a document over the limits is refused and never kept.
#[tokio::test]
async fn persisted_queries_save_mobile_clients_the_query_text() {
    use sha2::Digest as _;
    let app = TestApp::demo().await;
    let send = |body: serde_json::Value| {
        let req = app.http.post(app.url("/graphql")).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let query = "{ provinces(first: 2) { edges { node { code } } } }";
    let hash = |q: &str| sha2::Sha256::digest(q.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let ext = |h: &str| serde_json::json!({ "persistedQuery": { "version": 1, "sha256Hash": h } });

    let (status, body) = send(serde_json::json!({ "extensions": ext(&hash(query)) })).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND", "{body}");
    let (_, with_text) = send(serde_json::json!({ "query": query, "extensions": ext(&hash(query)) })).await;
    assert!(with_text.get("errors").is_none(), "{with_text}");
    let (_, by_hash) = send(serde_json::json!({ "extensions": ext(&hash(query)) })).await;
    assert_eq!(by_hash["data"], with_text["data"]);
    assert_eq!(by_hash["data"]["provinces"]["edges"][0]["node"]["code"], "BG");

    let (_, body) = send(serde_json::json!({ "query": query, "extensions": ext(&hash("{ other }")) })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");

    let aliases: String = (0..40).map(|i| format!(" a{i}: __typename")).collect();
    let heavy = format!("{{{aliases} }}");
    let (status, body) = send(serde_json::json!({ "query": heavy, "extensions": ext(&hash(&heavy)) })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_MANY_ALIASES", "{body}");
    assert_eq!(status, 400);
    let (_, body) = send(serde_json::json!({ "extensions": ext(&hash(&heavy)) })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND", "{body}");
}

/// The review's panic: `first` near i32::MAX on nested lists overflowed
/// the complexity count (a panic in debug builds, before any check). Now the
/// count saturates and the document is refused with a code.
#[tokio::test]
async fn huge_page_sizes_on_nested_lists_are_refused_not_a_panic() {
    let app = TestApp::demo().await;
    let max = i32::MAX;
    let query = format!(
        "{{ provinces(first: {max}) {{ nodes {{ territorialAmbits(first: {max}) {{ nodes {{ \
         municipalities(first: {max}) {{ nodes {{ sites(first: {max}) {{ nodes {{ code }} }} }} }} }} }} }} }} }}"
    );
    let (status, body) = app.post(&query, serde_json::json!({})).await;
    assert_eq!(status, 400, "refused before it runs: {body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{body}");
    // The server is still there.
    let data = app.query("{ provinces(first: 1) { nodes { code } } }", serde_json::json!({})).await;
    assert_eq!(data["provinces"]["nodes"].as_array().map(Vec::len), Some(1));
}
