//! Isolation as a property, a differential check in the manner of SpiceDB's
//! consistency tests: for (account, row) pairs over every object kind the
//! API lists and looks up by id, what the account's list shows, what the
//! lookup by id returns and what the policy says (its scope for the role,
//! applied to whose the row is, as `policy_matrix` writes it once) must
//! agree. A row the policy hides that a list or lookup shows is a leak; one
//! it allows that they hide is a loss; both fail.
//!
//! The pairs are drawn with a seed, printed, and taken from
//! `AMBITO_ISOLATION_SEED` when set, so a failure can be run again. A
//! failure names the smallest counter-example (one account, one row, what
//! each of the three said) and how many pairs disagreed.

use std::collections::{BTreeMap, BTreeSet};

use ambito::auth::Subject;
use ambito::authz::{Action, Authorizer, ObjectKind};
use ambito::rules::school_year::SchoolYear;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::harness::{TestApp, demo_accounts, dice_from};
use crate::policy_matrix::{Facts, KEPT, in_scope};
use crate::row_security::subject_of;

/// Lookups checked per run, at least: each is a (user, row) pair on which
/// the list, the lookup and the policy must agree.
const LOOKUPS: usize = 12_000;
/// Lookups in one request (root fields are limited to 20).
const PER_REQUEST: usize = 20;

/// An object kind as the API serves it.
struct Served {
    kind: ObjectKind,
    /// The list's root field; it takes `first`, `after` and, with `years`,
    /// a school year (lists of pupils and classes default to the current one).
    list: &'static str,
    years: Option<&'static str>,
    /// The lookup by id's root field, where there is one.
    lookup: Option<&'static str>,
}

const SERVED: [Served; 5] = [
    Served { kind: ObjectKind::Pupil, list: "pupils", years: Some("pupils"), lookup: Some("pupil") },
    Served { kind: ObjectKind::Class, list: "classes", years: Some("classes"), lookup: Some("schoolClass") },
    Served {
        kind: ObjectKind::EnrolmentRequest,
        list: "enrolmentRequests",
        years: None,
        lookup: Some("enrolmentRequest"),
    },
    Served {
        kind: ObjectKind::MobilityApplication,
        list: "mobilityApplications",
        years: None,
        lookup: Some("mobilityApplication"),
    },
    // The trail has no lookup by id: its list and the policy must agree.
    Served { kind: ObjectKind::AuditEvent, list: "auditTrail", years: None, lookup: None },
];

/// Every id the account's list shows (none when the role may not list).
async fn listed(app: &TestApp, token: &str, s: &Served, years: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let scoped: Vec<Option<&String>> = match s.years {
        Some(_) => years.iter().map(Some).collect(),
        None => vec![None],
    };
    for year in scoped {
        let (params, args) = match year {
            Some(_) => ("$after: String, $year: String", "first: 100, after: $after, filter: { schoolYear: $year }"),
            None => ("$after: String", "first: 100, after: $after"),
        };
        let query = format!(
            "query({params}) {{ {}({args}) {{ edges {{ node {{ id }} }} pageInfo {{ hasNextPage endCursor }} }} }}",
            s.list
        );
        let mut after = Value::Null;
        loop {
            let (_, body) = app.post_as(Some(token), &query, json!({ "after": after, "year": year })).await;
            if body["errors"][0]["extensions"]["code"] == "FORBIDDEN" {
                return out;
            }
            let page = &body["data"][s.list];
            let edges = page["edges"].as_array().unwrap_or_else(|| panic!("{}: {body}", s.list));
            out.extend(edges.iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()));
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
    }
    out
}

/// Which of `ids` the lookup finds for the account: a row, or nothing
/// (null, NOT_FOUND or FORBIDDEN, all the same to a caller out of scope).
async fn looked_up(app: &TestApp, token: &str, field: &str, ids: &[&str]) -> Vec<bool> {
    let vars: Vec<String> = (0..ids.len()).map(|i| format!("$i{i}: ID!")).collect();
    let fields: Vec<String> = (0..ids.len()).map(|i| format!("l{i}: {field}(id: $i{i}) {{ id }}")).collect();
    let query = format!("query({}) {{ {} }}", vars.join(", "), fields.join(" "));
    let variables: serde_json::Map<String, Value> =
        ids.iter().enumerate().map(|(i, id)| (format!("i{i}"), json!(id))).collect();
    let (_, body) = app.post_as(Some(token), &query, Value::Object(variables)).await;
    for e in body["errors"].as_array().into_iter().flatten() {
        let code = e["extensions"]["code"].as_str().unwrap_or_default();
        assert!(["NOT_FOUND", "FORBIDDEN"].contains(&code), "{field}: {e}");
    }
    (0..ids.len())
        .map(|i| match &body["data"][format!("l{i}")] {
            Value::Null => false,
            found => {
                assert_eq!(found["id"], ids[i], "{field}");
                true
            }
        })
        .collect()
}

/// One pair on which the three disagreed.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Disagreement {
    kind: String,
    account: String,
    row: String,
    policy: bool,
    list: bool,
    lookup: Option<bool>,
}

#[tokio::test]
async fn lists_lookups_and_the_policy_agree_on_every_pair() {
    let (mut dice, seed) = dice_from("AMBITO_ISOLATION_SEED", "isolation");
    let app = TestApp::demo().await;
    let db = app.db();
    let authz = Authorizer::embedded().await.unwrap();

    // The trail has events of several provinces: schools read their pupils.
    let accounts = demo_accounts();
    let mut tokens = BTreeMap::new();
    let mut subjects: Vec<Subject> = Vec::new();
    for a in &accounts {
        tokens.insert(a.email.clone(), app.login(&a.email).await);
        subjects.push(subject_of(db, &a.email).await);
    }
    for a in accounts.iter().filter(|a| a.role == "school") {
        app.query_as(&tokens[&a.email], "{ pupils(first: 2) { nodes { taxCode } } }", json!({})).await;
    }
    // Events are sealed and listed as they are written; the check takes
    // those that exist now (its own lookups read no protected field).
    #[derive(diesel::QueryableByName)]
    struct Max {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        max: i64,
    }
    let mut owner = db.conn().await;
    let last_event = diesel::sql_query("SELECT coalesce(max(id), 0) AS max FROM audit_events")
        .get_result::<Max>(&mut owner)
        .await
        .unwrap()
        .max;

    let mut pairs = 0usize;
    let mut lookups = 0usize;
    let mut disagreements = Vec::new();
    let mut per_kind = Vec::new();
    let kinds_total: usize = {
        let mut n = 0;
        for s in &SERVED {
            let kept = KEPT.iter().find(|k| k.kind == s.kind).unwrap();
            let rows: Vec<Facts> = diesel::sql_query(kept.facts()).load(&mut owner).await.unwrap();
            if s.lookup.is_some() {
                n += rows.len() * subjects.len();
            }
        }
        n
    };
    for s in &SERVED {
        let kept = KEPT.iter().find(|k| k.kind == s.kind).unwrap();
        let mut rows: Vec<Facts> = diesel::sql_query(kept.facts()).load(&mut owner).await.unwrap();
        if s.kind == ObjectKind::AuditEvent {
            rows.retain(|r| r.key.parse::<i64>().unwrap() <= last_event);
        }
        assert!(!rows.is_empty(), "the demo has rows of {:?}", s.kind);
        let years: Vec<String> = match s.years {
            Some(table) => {
                #[derive(diesel::QueryableByName)]
                struct Year {
                    #[diesel(sql_type = diesel::sql_types::Integer)]
                    school_year: i32,
                }
                let ys: Vec<Year> = diesel::sql_query(format!("SELECT DISTINCT school_year FROM {table}"))
                    .load(&mut owner)
                    .await
                    .unwrap();
                ys.iter().map(|y| SchoolYear::from_stored(y.school_year).unwrap().to_string()).collect()
            }
            None => Vec::new(),
        };
        let (mut kind_pairs, mut visible) = (0, 0);
        for who in &subjects {
            let token = &tokens[&who.email];
            let scope = authz.scope(who.membership.role, s.kind, Action::Read);
            let mut list = listed(&app, token, s, &years).await;
            if s.kind == ObjectKind::AuditEvent {
                list.retain(|id| id.parse::<i64>().unwrap() <= last_event);
            }
            // Each row the account could be asked about: a share of the
            // lookups drawn by the dice, the list and policy for every row.
            let share = if kinds_total == 0 { 0.0 } else { (LOOKUPS as f64 / kinds_total as f64).min(1.0) };
            let mut sampled: Vec<&Facts> = Vec::new();
            // What the policy and the list say of a row, and the lookup when asked:
            // a disagreement when they differ.
            let judge = |row: &Facts, lookup: Option<bool>| {
                let policy = scope.is_some_and(|sc| in_scope(sc, row, who));
                let list = list.contains(&row.key);
                (policy != list || lookup.is_some_and(|found| found != policy)).then(|| Disagreement {
                    kind: format!("{:?}", s.kind),
                    account: who.email.clone(),
                    row: row.key.clone(),
                    policy,
                    list,
                    lookup,
                })
            };
            for row in &rows {
                kind_pairs += 1;
                visible += usize::from(scope.is_some_and(|sc| in_scope(sc, row, who)));
                disagreements.extend(judge(row, None));
                if s.lookup.is_some() && (dice.next(1_000_000) as f64) < share * 1_000_000.0 {
                    sampled.push(row);
                }
            }
            // Every listed id is a row of the kind: a list shows nothing else.
            let known: BTreeSet<&String> = rows.iter().map(|r| &r.key).collect();
            if let Some(id) = list.iter().find(|id| !known.contains(id)) {
                panic!("{} lists {:?} {id}, which is no row of its kind", who.email, s.kind);
            }
            let Some(field) = s.lookup else { continue };
            for chunk in sampled.chunks(PER_REQUEST) {
                let ids: Vec<&str> = chunk.iter().map(|r| r.key.as_str()).collect();
                let found = looked_up(&app, token, field, &ids).await;
                for (row, found) in chunk.iter().zip(found) {
                    lookups += 1;
                    disagreements.extend(judge(row, Some(found)));
                }
            }
        }
        // Both answers occur, so agreement is not one answer given everywhere.
        assert!(0 < visible && visible < kind_pairs, "{:?}: {visible} of {kind_pairs} pairs visible", s.kind);
        pairs += kind_pairs;
        per_kind.push(format!("{:?} {} rows, {visible} pairs visible", s.kind, rows.len()));
    }
    println!(
        "isolation: seed {seed}: {pairs} (account, row) pairs over {} accounts ({}), list = policy on all; \
         {lookups} of them looked up by id, lookup = list = policy; {} disagreements",
        subjects.len(),
        per_kind.join(", "),
        disagreements.len()
    );
    if let Some(smallest) = disagreements.iter().min() {
        panic!(
            "isolation: {} pairs disagree (seed {seed}); the smallest counter-example: {smallest:?}",
            disagreements.len()
        );
    }
    assert!(lookups >= 10_000, "only {lookups} pairs were looked up: the demo is smaller than the check needs");
}
