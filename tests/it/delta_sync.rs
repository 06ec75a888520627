//! Delta sync as a property: over random sequences of moves of refugee
//! minors' requests (every move of the workflow, by every actor), what
//! `enrolmentChanges` reports to each caller must be the difference of two
//! snapshots of what that caller sees: every request that appeared or
//! changed version is in `changed`, and every request that left the
//! caller's view is in `removed`. A failure prints the seed.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::harness::{Dice, TestApp};
use crate::refugees::{
    ABBIATEGRASSO, CTI_AMBIT, CTI_CITY, MILANO, OFFICE_MI, PROPOSE, START, TAKE, TRANSFER, WITHDRAW, create, email_of,
    form, schools,
};

const LIST: &str = "query($a: String) { enrolmentRequests(first: 100, after: $a) {
    pageInfo { hasNextPage endCursor } edges { node { id version } } } }";
const CHANGES: &str = "query($s: String) { enrolmentChanges(since: $s, first: 500) {
    changed { id version } removed cursor complete } }";
const DECLINE: &str =
    "mutation($id: ID!, $v: Int!) { declineEnrolment(id: $id, version: $v, reason: \"full\") { version } }";
const CONFIRM: &str = "mutation($id: ID!, $v: Int!) { confirmEnrolment(id: $id, version: $v) { version } }";
const EDIT: &str = "mutation($id: ID!, $v: Int!, $i: EnrolmentRequestInput!) {
    updateEnrolmentRequest(id: $id, version: $v, input: $i) { version } }";
const VERSION: &str = "query($id: ID!) { enrolmentRequest(id: $id) { version } }";

/// Every request the caller sees, with its version.
async fn snapshot(app: &TestApp, token: &str) -> BTreeMap<String, i64> {
    let mut seen = BTreeMap::new();
    let mut after = Value::Null;
    loop {
        let d = app.query_as(token, LIST, json!({ "a": after })).await;
        let page = &d["enrolmentRequests"];
        for e in page["edges"].as_array().unwrap() {
            seen.insert(e["node"]["id"].as_str().unwrap().to_owned(), e["node"]["version"].as_i64().unwrap());
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            return seen;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// The changes since `cursor`, all pages; returns (changed, removed, next cursor).
async fn changes(app: &TestApp, token: &str, cursor: Value) -> (BTreeMap<String, i64>, Vec<String>, Value) {
    let (mut changed, mut removed, mut cursor) = (BTreeMap::new(), Vec::new(), cursor);
    loop {
        let d = app.query_as(token, CHANGES, json!({ "s": cursor })).await;
        let c = &d["enrolmentChanges"];
        for r in c["changed"].as_array().unwrap() {
            changed.insert(r["id"].as_str().unwrap().to_owned(), r["version"].as_i64().unwrap());
        }
        removed.extend(c["removed"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()));
        cursor = c["cursor"].clone();
        if c["complete"].as_bool().unwrap() {
            return (changed, removed, cursor);
        }
    }
}

/// Seeds per run: three sequences, each on a fresh copy of the demo.
const SEEDS: u64 = 3;

#[tokio::test]
async fn enrolment_changes_are_the_difference_of_two_snapshots() {
    let base: u64 = std::env::var("AMBITO_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    for seed in base..base + SEEDS {
        println!("delta sync property: seed {seed} (AMBITO_SEED={seed} replays it first)");
        one_sequence(seed).await;
    }
}

async fn one_sequence(seed: u64) {
    let app = TestApp::demo().await;
    let (start_school, ambit_school) = schools(app.db()).await;
    let mut tokens = BTreeMap::new();
    for who in [MILANO, ABBIATEGRASSO, CTI_CITY, CTI_AMBIT, START, OFFICE_MI] {
        tokens.insert(who.to_owned(), app.login(who).await);
    }
    for school in [&start_school, &ambit_school] {
        tokens.insert(email_of(school), app.login(&email_of(school)).await);
    }
    let token = |who: &str| tokens[who].clone();
    // Requests of both towns, some in different zones of Milan (different hubs).
    let mut requests: Vec<(String, &str)> = Vec::new();
    let mut dice = Dice(seed);
    for i in 0..8 {
        let (town, zone) = if i % 2 == 0 { (MILANO, Some(1 + dice.next(9) as i32)) } else { (ABBIATEGRASSO, None) };
        let (id, ..) = create(&app, &token(town), form("Anna", &format!("Prova{i}"), zone)).await;
        requests.push((id, town));
    }
    let observers: Vec<String> = tokens.keys().cloned().collect();
    let mut views = BTreeMap::new();
    for who in &observers {
        let (_, _, cursor) = changes(&app, &token(who), Value::Null).await;
        views.insert(who.clone(), (snapshot(&app, &token(who)).await, cursor));
    }
    let hubs = [CTI_CITY, CTI_AMBIT, START];
    let mut moves = 0;
    for round in 0..4 {
        for _ in 0..12 {
            let (id, town) = requests[dice.next(requests.len())].clone();
            let owner = token(town);
            let v = app.query_as(&owner, VERSION, json!({ "id": id })).await["enrolmentRequest"]["version"].clone();
            let hub = hubs[dice.next(hubs.len())];
            let school = [&start_school, &ambit_school][dice.next(2)].clone();
            let (who, doc, vars) = match dice.next(7) {
                0 => (hub.to_owned(), TAKE, json!({ "id": id, "v": v })),
                1 => (hub.to_owned(), PROPOSE, json!({ "id": id, "v": v, "s": school })),
                2 => (email_of(&school), DECLINE, json!({ "id": id, "v": v })),
                3 => (email_of(&school), CONFIRM, json!({ "id": id, "v": v })),
                4 => (town.to_owned(), WITHDRAW, json!({ "id": id, "v": v, "r": "left" })),
                5 => {
                    let to = ["CTI-MI-1", "START-MI-1", "START-MI-2"][dice.next(3)];
                    (hub.to_owned(), TRANSFER, json!({ "id": id, "v": v, "h": to, "r": "moved" }))
                }
                _ => {
                    // An edit; in Milan, a new zone may route it to another hub.
                    let zone = (town == MILANO).then(|| 1 + dice.next(9) as i32);
                    (town.to_owned(), EDIT, json!({ "id": id, "v": v, "i": form("Anna", "Prova", zone) }))
                }
            };
            // A move the workflow refuses changes nothing; it is part of the property too.
            let (_, body) = app.post_as(Some(&token(&who)), doc, vars).await;
            moves += usize::from(body.get("errors").is_none());
        }
        for who in &observers {
            let (before, cursor) = views.remove(who).unwrap();
            let after = snapshot(&app, &token(who)).await;
            let (changed, removed, next) = changes(&app, &token(who), cursor).await;
            let context = format!("seed {seed}, round {round}, {who}");
            for (id, v) in &after {
                if before.get(id) != Some(v) {
                    assert_eq!(changed.get(id), Some(v), "{context}: {id} appeared or changed but is not in changed");
                }
            }
            for id in before.keys().filter(|id| !after.contains_key(*id)) {
                assert!(removed.contains(id), "{context}: {id} left the view but is not in removed");
            }
            for id in &removed {
                assert!(!after.contains_key(id), "{context}: {id} is removed but still seen");
            }
            for (id, v) in &changed {
                assert_eq!(after.get(id), Some(v), "{context}: {id} is reported at a version not seen");
            }
            views.insert(who.clone(), (after, next));
        }
    }
    assert!(moves >= 8, "seed {seed}: only {moves} moves went through; the property was barely exercised");
}
