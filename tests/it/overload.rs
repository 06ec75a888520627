//! Overload: when no database connection comes free within the pool's wait,
//! a request is answered at once with 503 and `Retry-After`, having done
//! nothing, and the server serves again as soon as connections come back.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{TestApp, TestDb};

const SCHOOL: &str = "bgic82100t@istruzione.it";
const WAIT: Duration = Duration::from_millis(300);

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_with_retry_after_and_the_server_recovers() {
    let db = TestDb::demo().await;
    let pools = db.pools_waiting(WAIT);
    let app = TestApp::over_pools(db, pools.clone()).await;
    let school = app.login(SCHOOL).await;
    let count = "{ pupils(first: 1) { totalCount } }";
    let before = app.query_as(&school, count, json!({})).await;

    // Something else holds every connection of the request pool.
    let mut held = Vec::new();
    for _ in 0..pools.requests.status().max_size {
        held.push(pools.requests.get().await.unwrap());
    }
    let started = Instant::now();
    let resp =
        app.http.post(app.url("/graphql")).bearer_auth(&school).json(&json!({ "query": count })).send().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{body}");
    assert!(waited >= WAIT, "it waited for a connection first ({waited:?})");
    assert!(waited < WAIT * 10, "and then answered, instead of hanging ({waited:?})");

    // Connections come back: the very next request is served.
    drop(held);
    assert_eq!(app.query_as(&school, count, json!({})).await, before);

    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(metric(&text, r#"ambito_db_pool_timeouts_total{pool="requests"}"#), 1.0);
    assert!(metric(&text, r#"ambito_db_pool_wait_seconds_sum{pool="requests"}"#) >= WAIT.as_secs_f64());
    assert!(metric(&text, r#"ambito_db_pool_checkouts_total{pool="auth"}"#) >= 2.0, "sessions were looked up");
}
