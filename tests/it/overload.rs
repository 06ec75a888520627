//! Overload and shutdown: when no database connection comes free within the
//! pool's wait, a request is answered at once with 503 and `Retry-After`,
//! having done nothing, and the server serves again as soon as connections
//! come back. On SIGTERM the server stops accepting, lets requests in flight
//! finish within the grace period, and cuts the rest, which change nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use futures_util::StreamExt as _;

use crate::harness::{GRACE, TestApp, TestDb, demo_account, metric};

const SCHOOL: &str = "bgic82100t@istruzione.it";
const WAIT: Duration = Duration::from_millis(300);

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
    // Bounded, with room for a loaded test machine: a hang would never answer.
    assert!(waited < Duration::from_secs(10), "and then answered, instead of hanging ({waited:?})");

    // Connections come back: the very next request is served.
    drop(held);
    assert_eq!(app.query_as(&school, count, json!({})).await, before);

    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(metric(&text, r#"ambito_db_pool_timeouts_total{pool="requests"}"#), 1.0);
    assert!(metric(&text, r#"ambito_db_pool_wait_seconds_sum{pool="requests"}"#) >= WAIT.as_secs_f64());
    assert!(metric(&text, r#"ambito_db_pool_checkouts_total{pool="auth"}"#) >= 2.0, "sessions were looked up");
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn sessions(app: &TestApp) -> i64 {
    let query = diesel::sql_query("SELECT count(*) AS n FROM sessions");
    query.get_result::<Count>(&mut app.db().conn().await).await.unwrap().n
}

/// A login whose body arrives in two parts: the first now, the second when
/// the returned sender says so (or never, when it is dropped).
fn slow_login(
    app: &TestApp,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>) {
    let password = demo_account(SCHOOL).password;
    let query = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let body = json!({ "query": query, "variables": { "e": SCHOOL, "p": password } }).to_string().into_bytes();
    let (head, tail) = body.split_at(20);
    let (head, tail) = (head.to_vec(), tail.to_vec());
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let parts = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(
        futures_util::stream::once(async move {
            match wait.await {
                Ok(()) => Ok(tail),
                Err(_) => std::future::pending().await,
            }
        }),
    );
    let request = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .body(reqwest::Body::wrap_stream(parts))
        .send();
    (go, tokio::spawn(request))
}

#[tokio::test]
async fn on_shutdown_requests_in_flight_finish_whole_new_ones_are_refused_and_the_rest_are_cut() {
    const GRACE_SECS: u64 = 3;
    let mut app = GRACE.scope(GRACE_SECS, TestApp::demo()).await;
    let before = sessions(&app).await;
    let (finish, finishing) = slow_login(&app);
    let (never, cut) = slow_login(&app);
    tokio::time::sleep(Duration::from_millis(300)).await; // both are in flight

    let started = Instant::now();
    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = app.http.post(app.url("/graphql")).json(&json!({ "query": "{ __typename }" })).send().await;
    assert!(refused.is_err(), "a new connection is refused once shutdown has begun: {refused:?}");

    // The first request finishes within the grace period: answered, and committed.
    finish.send(()).unwrap();
    let resp = finishing.await.unwrap().expect("the request in flight is answered");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["data"]["login"]["token"].is_string(), "{body}");

    // The second never completes its body: it is cut when the grace period ends.
    app.stopped().await;
    let took = started.elapsed();
    assert!(cut.await.unwrap().is_err(), "the unfinished request is cut");
    drop(never);
    assert!(
        took >= Duration::from_secs(GRACE_SECS) - Duration::from_millis(100),
        "it waited the grace period ({took:?})"
    );
    assert!(took < Duration::from_secs(GRACE_SECS + 5), "and then stopped ({took:?})");
    assert_eq!(sessions(&app).await, before + 1, "the finished login committed, the cut one changed nothing");
}
