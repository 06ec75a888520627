//! Hostile GraphQL: a corpus of documents and requests built to cost a
//! server work (depth, breadth, aliases, fragment cycles and fan-out,
//! directive floods, huge literals and bodies, batches, operations over GET,
//! form content types, persisted-query abuse, introspection in production,
//! unicode tricks). Each is refused, with and without a session, before any
//! resolver runs or any database connection is taken: the server counts both
//! (`ambito_graphql_fields_resolved_total`, `ambito_db_pool_checkouts_total`)
//! and neither moves.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{TestApp, TestDb};

const SCHOOL: &str = "bgic82100t@istruzione.it";

enum Send {
    /// A JSON body: `{"query": …}` and more.
    Json(Value),
    /// Raw bytes with a content type (none: no header).
    Raw(Option<&'static str>, Vec<u8>),
    /// `GET` with this query string.
    Get(String),
}

struct Case {
    name: String,
    send: Send,
    status: u16,
    /// The codes it may be refused with (parsers differ on which stage
    /// catches a malformed number, say; all of them refuse before execution).
    codes: &'static [&'static str],
}

const PARSE: &[&str] = &["GRAPHQL_PARSE_FAILED"];
const INVALID: &[&str] = &["GRAPHQL_VALIDATION_FAILED"];
const DEEP: &[&str] = &["QUERY_TOO_DEEP"];
const LARGE: &[&str] = &["QUERY_TOO_LARGE"];
const INPUT: &[&str] = &["BAD_USER_INPUT"];
const NUMBER: &[&str] = &["GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"];

fn doc(name: &str, query: String, codes: &'static [&'static str]) -> Case {
    Case { name: name.into(), send: Send::Json(json!({ "query": query })), status: 400, codes }
}

fn with(name: &str, body: Value, status: u16, codes: &'static [&'static str]) -> Case {
    Case { name: name.into(), send: Send::Json(body), status, codes }
}

fn raw(name: &str, content_type: Option<&'static str>, body: impl Into<Vec<u8>>, status: u16) -> Case {
    Case { name: name.into(), send: Send::Raw(content_type, body.into()), status, codes: INPUT }
}

fn sha(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

fn corpus() -> Vec<Case> {
    let deep_fields = "{ provinces(first: 1) { nodes { municipalities(first: 1) { nodes { province { municipalities(first: 1) { nodes { province { municipalities(first: 1) { nodes { province { municipalities(first: 1) { nodes { name } } } } } } } } } } } } } }";
    let chain: String = (0..14)
        .map(|i| {
            format!(
                "fragment F{i} on Province {{ municipalities(first: 1) {{ nodes {{ province {{ ...F{} }} }} }} }} ",
                i + 1
            )
        })
        .collect();
    let fan_out: String =
        (0..30).map(|i| format!("fragment F{i} on Query {{ {} }} ", format!("...F{} ", i + 1).repeat(10))).collect();
    let too_deep_pq = format!("{{ a{}{} }}", " { a".repeat(60), " }".repeat(60));
    let mut cases = vec![
        // Syntax, and characters that look like syntax.
        doc("unterminated", "{ schools { totalCount ".into(), PARSE),
        doc("empty document", String::new(), PARSE),
        doc("NUL byte", "{ __typename \u{0} }".into(), PARSE),
        doc("zero-width space in a name", "{ sch\u{200b}ools { totalCount } }".into(), PARSE),
        doc("Cyrillic homoglyphs", "{ sch\u{043e}\u{043e}ls { totalCount } }".into(), PARSE),
        doc("right-to-left override", "{ \u{202e}slooh\u{0441}s { totalCount } }".into(), PARSE),
        // The spec ignores a byte-order mark like a space: two unknown fields.
        doc("byte-order mark inside a name", "{ sch\u{feff}ools { totalCount } }".into(), INVALID),
        doc("fullwidth braces", "\u{ff5b} __typename \u{ff5d}".into(), PARSE),
        // Depth.
        doc("60 nested braces", format!("{}{}", "{ a ".repeat(60), "}".repeat(60)), DEEP),
        doc("50,000 nested braces", format!("{}{}", "{a".repeat(50_000), "}".repeat(50_000)), DEEP),
        doc("list argument nested 100 deep", format!("{{ schools(filter: {}1{}) {{ totalCount }} }}", "[".repeat(100), "]".repeat(100)), DEEP),
        doc("13 levels of fields", deep_fields.into(), DEEP),
        doc("depth through a chain of fragments", format!("{{ provinces(first: 1) {{ nodes {{ ...F0 }} }} }} {chain} fragment F14 on Province {{ name }}"), DEEP),
        doc("nested lists of 100", "{ provinces(first: 100) { nodes { municipalities(first: 100) { nodes { sites(first: 100) { nodes { code } } } } } } }".into(), &["QUERY_TOO_COMPLEX"]),
        // Breadth and aliases.
        doc("1,001 fields", format!("{{ {} }}", "__typename ".repeat(1_001)), LARGE),
        doc("21 root fields", format!("{{ {} }}", "__typename ".repeat(21)), &["QUERY_TOO_MANY_ROOT_FIELDS"]),
        doc("31 aliases", format!("{{ {} }}", (0..31).map(|i| format!("a{i}: __typename ")).collect::<String>()), &["QUERY_TOO_MANY_ALIASES"]),
        doc("aliases multiplied by spreads", format!("{{ {} }} fragment F on Query {{ a: __typename b: __typename c: __typename d: __typename }}", "...F ".repeat(8)), &["QUERY_TOO_MANY_ALIASES"]),
        doc("the same field 1,001 times under one alias", format!("{{ x: __typename {} }}", "x: __typename ".repeat(1_000)), LARGE),
        // Fragments.
        doc("a fragment spreading itself", "{ ...A } fragment A on Query { ...A }".into(), INVALID),
        doc("two fragments in a cycle", "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }".into(), INVALID),
        doc("a cycle through fields and inline fragments", "{ provinces { nodes { ...A } } } fragment A on Province { municipalities { nodes { ... on Municipality { province { ...A } } } } }".into(), INVALID),
        doc("a cycle in a fragment nobody uses", "{ __typename } fragment A on Query { ...B } fragment B on Query { ...A }".into(), INVALID),
        doc("fan-out: 10 spreads, 30 levels", format!("{{ ...F0 }} {fan_out} fragment F30 on Query {{ __typename }}"), LARGE),
        doc("fan-out of spreads to a fragment that does not exist", format!("{{ ...F0 }} {}", (0..30).map(|i| format!("fragment F{i} on Query {{ {} }} ", if i == 29 { "...Nowhere ".repeat(10) } else { format!("...F{} ", i + 1).repeat(10) })).collect::<String>()), LARGE),
        doc("an unknown fragment", "{ ...Nowhere }".into(), INVALID),
        doc("an unused fragment", "{ __typename } fragment A on Query { __typename }".into(), INVALID),
        doc("a fragment on a type that does not exist", "{ ...A } fragment A on Nothing { x }".into(), INVALID),
        // Directives.
        doc("100 directives on a field", format!("{{ __typename {} }}", "@skip(if: false) ".repeat(100)), INVALID),
        doc("100 directives on a spread", format!("{{ ...A {} }} fragment A on Query {{ __typename }}", "@include(if: true) ".repeat(100)), INVALID),
        doc("an unknown directive", "{ provinces(first: 1) { totalCount @evil } }".into(), INVALID),
        doc("a repeated directive", "{ provinces(first: 1) { totalCount @include(if: true) @include(if: true) } }".into(), INVALID),
        doc("a directive where none may go", "query @skip(if: true) { __typename }".into(), INVALID),
        // Values.
        doc("an Int beyond 64 bits", "{ schools(first: 99999999999999999999999) { totalCount } }".into(), NUMBER),
        doc("a float that overflows", "{ schools(first: 1e999) { totalCount } }".into(), NUMBER),
        doc("a string for an Int", "{ schools(first: \"ten\") { totalCount } }".into(), INVALID),
        doc("a 20 KiB literal", format!("{{ school(code: \"{}\") {{ name }} }}", "A".repeat(20 * 1024)), LARGE),
        doc("an object literal nested 60 deep", format!("{{ schools(filter: {}1{}) {{ totalCount }} }}", "{a: ".repeat(60), "}".repeat(60)), DEEP),
        // Schema.
        doc("an unknown field", "{ schools { nonsense } }".into(), INVALID),
        doc("an unknown argument", "{ schools(evil: 1) { totalCount } }".into(), INVALID),
        doc("a missing required argument", "{ school { name } }".into(), INVALID),
        doc("a scalar with a selection", "{ provinces(first: 1) { totalCount { x } } }".into(), INVALID),
        doc("an object without a selection", "{ schools }".into(), INVALID),
        doc("an undefined variable", "{ schools(first: $n) { totalCount } }".into(), INVALID),
        doc("an unused variable", "query($n: Int) { __typename }".into(), INVALID),
        doc("a variable of an output type", "query($n: School) { __typename }".into(), INVALID),
        doc("conflicting fields under one name", "{ x: schools(first: 1) { totalCount } x: schools(first: 2) { totalCount } }".into(), INVALID),
        with("a variable of the wrong type", json!({ "query": "query($n: Int) { schools(first: $n) { totalCount } }", "variables": { "n": "ten" } }), 400, INVALID),
        with("a required variable missing", json!({ "query": "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }" }), 400, INVALID),
        // Operations.
        with("an unknown operation name", json!({ "query": "query A { __typename }", "operationName": "B" }), 400, INVALID),
        doc("two operations and no name", "query A { __typename } query B { __typename }".into(), INVALID),
        doc("two operations of one name", "query A { __typename } query A { __typename }".into(), PARSE),
        doc("a subscription over POST", "subscription { __typename }".into(), INVALID),
        doc("a mutation hidden beside a query", "query A { __typename } mutation B { logout }".into(), INVALID),
        // Introspection, where it is off.
        doc("the schema", "{ __schema { types { name fields { name } } } }".into(), &["INTROSPECTION_DISABLED"]),
        doc("one type", "{ __type(name: \"Pupil\") { fields { name } } }".into(), &["INTROSPECTION_DISABLED"]),
        doc("the schema in a fragment", "{ ...A } fragment A on Query { __schema { queryType { name } } }".into(), &["INTROSPECTION_DISABLED"]),
        doc("a type in an inline fragment beside a mutation", "mutation M { ... on Mutation { __typename } } query Q { ... on Query { __type(name: \"Query\") { name } } }".into(), &["INTROSPECTION_DISABLED"]),
        doc("a guess for suggestions", "{ pupil { firstNam } }".into(), INVALID),
        // Persisted queries.
        with("an unknown hash alone", json!({ "extensions": persisted(&sha("{ nothing }")) }), 200, &["PERSISTED_QUERY_NOT_FOUND"]),
        with("a hash that is not the text's", json!({ "query": "{ __typename }", "extensions": persisted(&sha("{ other }")) }), 200, INPUT),
        with("version 2", json!({ "query": "{ __typename }", "extensions": { "persistedQuery": { "version": 2, "sha256Hash": sha("{ __typename }") } } }), 200, INPUT),
        with("an extension that is not an object", json!({ "query": "{ __typename }", "extensions": { "persistedQuery": "yes" } }), 200, INPUT),
        with("a refused document with its hash", json!({ "query": too_deep_pq, "extensions": persisted(&sha(&too_deep_pq)) }), 400, DEEP),
        with("then its hash alone", json!({ "extensions": persisted(&sha(&too_deep_pq)) }), 200, &["PERSISTED_QUERY_NOT_FOUND"]),
        // Transport.
        raw("a batch", Some("application/json"), r#"[{"query":"{ __typename }"},{"query":"{ __typename }"}]"#, 400),
        raw("a form (CSRF)", Some("application/x-www-form-urlencoded"), "query=%7B+__typename+%7D", 415),
        raw("multipart (CSRF)", Some("multipart/form-data; boundary=x"), "--x\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\n{ __typename }\r\n--x--\r\n", 415),
        raw("JSON sent as text/plain (CSRF)", Some("text/plain"), r#"{"query":"{ __typename }"}"#, 415),
        raw("no content type", None, r#"{"query":"{ __typename }"}"#, 415),
        raw("a body over 256 KiB", Some("application/json"), format!(r#"{{"query":"{{ __typename }} # {}"}}"#, "x".repeat(300 * 1024)), 413),
        raw("invalid UTF-8", Some("application/json"), b"{\"query\":\"{ __typename \xff\xfe }\"}".to_vec(), 400),
        raw("a lone surrogate", Some("application/json"), r#"{"query":"{ school(code: \"\ud800\") { name } }"}"#, 400),
        raw("variables nested 10,000 deep", Some("application/json"), format!(r#"{{"query":"{{ __typename }}","variables":{{"v":{}1{}}}}}"#, "[".repeat(10_000), "]".repeat(10_000)), 400),
        raw("a query that is a number", Some("application/json"), r#"{"query":42}"#, 400),
        raw("a body that is not JSON", Some("application/json"), "{ __typename }", 400),
        Case { name: "a query over GET".into(), send: Send::Get("query=%7B__typename%7D".into()), status: 405, codes: INPUT },
        Case { name: "a mutation over GET".into(), send: Send::Get("query=mutation%7Blogout%7D".into()), status: 405, codes: INPUT },
    ];
    for (i, case) in cases.iter_mut().enumerate() {
        case.name = format!("{:02} {}", i + 1, case.name);
    }
    cases
}

/// The counters that move when anything runs: fields resolved, connections
/// taken from the pools a request can use (`requests`, `auth`). The third,
/// `maint`, is the upkeep's and the scrape's own: `/metrics` reads the audit
/// chain's lag through it, and no request has a handle to it.
async fn work(app: &TestApp) -> (u64, u64) {
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let sum = |prefix: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(prefix) && !l.contains("pool=\"maint\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    (sum("ambito_graphql_fields_resolved_total"), sum("ambito_db_pool_checkouts_total"))
}

async fn send(app: &TestApp, token: Option<&str>, case: &Case) -> (u16, Value) {
    let request = match &case.send {
        Send::Json(body) => app.http.post(app.url("/graphql")).json(body),
        Send::Raw(content_type, body) => {
            let r = app.http.post(app.url("/graphql")).body(body.clone());
            match content_type {
                Some(t) => r.header("content-type", *t),
                None => r,
            }
        }
        Send::Get(query) => app.http.get(app.url(&format!("/graphql?{query}"))),
    };
    let request = match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    };
    let resp = request.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn every_hostile_document_is_refused_before_any_resolver_or_database_call() {
    let app = TestApp::counting(TestDb::demo().await).await;
    let token = app.login(SCHOOL).await;
    let cases = corpus();
    assert!(cases.len() >= 50, "the corpus has {} cases", cases.len());

    // The counters see work: one small query resolves fields and takes a connection.
    let before = work(&app).await;
    app.query_as(&token, "{ pupils(first: 1) { totalCount } }", json!({})).await;
    let after = work(&app).await;
    assert!(after.0 > before.0 && after.1 > before.1, "{before:?} → {after:?}");

    // Every case is tried and every failure reported at once.
    let mut failures = Vec::new();
    let mut refused = 0;
    for who in [None, Some(token.as_str())] {
        for case in &cases {
            let before = work(&app).await;
            let (status, body) = send(&app, who, case).await;
            let after = work(&app).await;
            let name = format!("{} ({})", case.name, if who.is_some() { "signed in" } else { "anonymous" });
            let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default();
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            let problem = if status != case.status {
                format!("status {status}, expected {}", case.status)
            } else if !case.codes.contains(&code) {
                format!("code {code:?}, expected one of {:?}", case.codes)
            } else if !body.get("data").is_none_or(Value::is_null) {
                "it answered data".into()
            } else if message.contains("Did you mean") {
                "it made suggestions, which production does not".into()
            } else if after != before {
                format!("fields resolved and connections taken moved: {before:?} → {after:?}")
            } else {
                refused += 1;
                continue;
            };
            let shown: String = body.to_string().chars().take(400).collect();
            failures.push(format!("{name}: {problem}: {shown}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} requests:\n{}", failures.len(), cases.len() * 2, failures.join("\n"));
    println!(
        "hostile GraphQL: {} documents, {refused} requests refused, 0 fields resolved, 0 connections taken",
        cases.len()
    );
}

/// A text sent again without variables is taken as admitted before, not
/// parsed or validated again; with variables it is validated every time.
/// Either way a bad request is refused before any work, signed in or not.
#[tokio::test]
async fn a_document_admitted_before_is_checked_again_with_other_variables() {
    let app = TestApp::counting(TestDb::demo().await).await;
    let token = app.login(SCHOOL).await;
    let text = "query($n: Int) { schools(first: $n) { totalCount } }";
    for who in [Some(token.as_str()), None] {
        let first = app.post_as(who, text, json!({})).await;
        let again = app.post_as(who, text, json!({})).await;
        assert_eq!(first, again, "the same text answers the same");
        let bad = Case {
            name: "a variable of the wrong type after the text was admitted".into(),
            send: Send::Json(json!({ "query": text, "variables": { "n": "ten" } })),
            status: 400,
            codes: INVALID,
        };
        let before = work(&app).await;
        let (status, body) = send(&app, who, &bad).await;
        assert_eq!((status, work(&app).await), (400, before), "{}: {body}", bad.name);
        assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{body}");
        // An unknown operation of the same text is its own document to validate.
        let other = Case {
            name: "the admitted text with an unknown operation name".into(),
            send: Send::Json(json!({ "query": text, "operationName": "Other" })),
            status: 400,
            codes: INVALID,
        };
        let (status, body) = send(&app, who, &other).await;
        assert_eq!(status, other.status, "{}: {body}", other.name);
        assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{body}");
    }
}
