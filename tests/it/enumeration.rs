//! Neither the answer nor its timing tells whether an address has an
//! account, in the flows that take an address from anyone (registration and
//! password recovery). 200 requests for addresses with an account and 200
//! for addresses without one, interleaved in a seeded random order, each from
//! its own client address (as behind a proxy) so that no throttle mixes in;
//! the two samples of times are compared with a Mann-Whitney U test. The
//! same test tells a real difference apart (a request that hashes a password
//! against one that does not), so it can fail.

use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::harness::{Dice, TestApp, TestDb};

const REGISTER: &str = "mutation($e: String!, $p: String!) { register(email: $e, password: $p) }";
const RECOVER: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
const PER_SIDE: usize = 200;
/// |z| above this is a difference (two-sided p < 0.0001): a false alarm
/// once in ten thousand runs per flow.
const Z_LIMIT: f64 = 3.9;

/// The normal approximation of the Mann-Whitney U statistic of `a` against
/// `b`, ties given their average rank.
fn mann_whitney_z(a: &[f64], b: &[f64]) -> f64 {
    let mut all: Vec<(f64, bool)> = a.iter().map(|&x| (x, true)).chain(b.iter().map(|&x| (x, false))).collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut rank_a = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_a += all[i..=j].iter().filter(|(_, in_a)| *in_a).count() as f64 * rank;
        i = j + 1;
    }
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let u = rank_a - n1 * (n1 + 1.0) / 2.0;
    (u - n1 * n2 / 2.0) / (n1 * n2 * (n1 + n2 + 1.0) / 12.0).sqrt()
}

#[test]
fn the_statistic_sees_shifts_and_not_shuffles() {
    let a: Vec<f64> = (0..200).map(|i| (i % 37) as f64).collect();
    let mut b = a.clone();
    b.reverse();
    assert!(mann_whitney_z(&a, &b).abs() < 0.01);
    let shifted: Vec<f64> = a.iter().map(|x| x + 5.0).collect();
    assert!(mann_whitney_z(&a, &shifted) < -Z_LIMIT);
}

/// Times one request from its own client address; returns the answer.
async fn timed(app: &TestApp, n: usize, query: &str, variables: Value) -> (Duration, Value) {
    let forwarded = format!("10.{}.{}.{}", n / 65536 % 256, n / 256 % 256, n % 256);
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("X-Forwarded-For", forwarded)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    (started.elapsed(), body)
}

/// Runs `request` for known and unknown addresses, interleaved at random;
/// asserts every answer is the same and returns the z of the times.
async fn compare(app: &TestApp, seed: u64, query: &str, vars: impl Fn(&str) -> Value) -> f64 {
    let mut order: Vec<(bool, usize)> = (0..PER_SIDE).flat_map(|i| [(true, i), (false, i)]).collect();
    Dice(seed).shuffle(&mut order);
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    let mut answers = std::collections::BTreeSet::new();
    // A few requests first, so that neither side pays for warming up.
    for i in 0..20 {
        timed(app, 60_000 + i, query, vars(&format!("riscaldamento{i}@example.org"))).await;
    }
    for (n, (has_account, i)) in order.into_iter().enumerate() {
        let email = match has_account {
            true => format!("noto{i}@example.org"),
            false => format!("ignoto{i}@example.org"),
        };
        let (took, body) = timed(app, n, query, vars(&email)).await;
        answers.insert(body.to_string());
        match has_account {
            true => known.push(took.as_secs_f64()),
            false => unknown.push(took.as_secs_f64()),
        }
    }
    assert_eq!(answers.len(), 1, "one answer for every address (seed {seed}): {answers:?}");
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] * 1000.0
    };
    let z = mann_whitney_z(&known, &unknown);
    eprintln!(
        "{query}: median {:.2} ms with an account, {:.2} ms without; z = {z:.2} (seed {seed})",
        median(&mut known),
        median(&mut unknown)
    );
    z
}

async fn app_with_known_accounts() -> TestApp {
    let db = TestDb::demo().await;
    diesel::sql_query(format!(
        "INSERT INTO users (email) SELECT 'noto' || g || '@example.org' FROM generate_series(0, {}) g",
        PER_SIDE - 1
    ))
    .execute(&mut db.conn().await)
    .await
    .unwrap();
    let options = ambito::server::Options { trust_proxy: true, ..Default::default() };
    TestApp::start(db, options).await
}

#[tokio::test]
async fn recovery_and_registration_answer_alike_and_as_fast_for_any_address() {
    let app = app_with_known_accounts().await;
    let seed: u64 = std::env::var("AMBITO_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos().into()
    });
    let z = compare(&app, seed, RECOVER, |e| json!({ "e": e })).await;
    assert!(z.abs() < Z_LIMIT, "recovery: timing tells known addresses apart, z = {z:.2} (seed {seed})");
    let z = compare(&app, seed, REGISTER, |e| json!({ "e": e, "p": "una password abbastanza lunga" })).await;
    assert!(z.abs() < Z_LIMIT, "registration: timing tells known addresses apart, z = {z:.2} (seed {seed})");
    // The mail went where it should: a link to an address without an account,
    // a notice to one with an account, nothing from recovery for the unknown.
    let to_known = app.mail_to("noto7@example.org", 2).await;
    assert!(to_known.iter().any(|m| m.contains("reset-password#token=")), "{to_known:?}");
    assert!(to_known.iter().any(|m| m.contains("già un account")), "{to_known:?}");
    let to_unknown = app.mail_to("ignoto7@example.org", 1).await;
    assert_eq!(to_unknown.len(), 1, "{to_unknown:?}");
    assert!(to_unknown[0].contains("confirm-registration#token="));

    // The same measure sees a real difference: a recovery (no hashing)
    // against a registration (an argon2 hash) is told apart at once.
    let mut fast = Vec::new();
    let mut slow = Vec::new();
    for i in 0..30 {
        fast.push(timed(&app, 70_000 + i, RECOVER, json!({ "e": format!("x{i}@example.org") })).await.0.as_secs_f64());
        let vars = json!({ "e": format!("y{i}@example.org"), "p": "una password abbastanza lunga" });
        slow.push(timed(&app, 80_000 + i, REGISTER, vars).await.0.as_secs_f64());
    }
    assert!(mann_whitney_z(&fast, &slow) < -Z_LIMIT, "the measure can see a difference");
}
