//! Traces over OTLP: the server binary run with `--otlp-endpoint` sends its
//! spans to a receiver on loopback (the HTTP request, continuing a caller's
//! `traceparent`; the GraphQL operation; each database statement, with its
//! SQL and never its parameters; each object-store call), gives the trace id
//! in the response header and in the request's log line, and sends what is
//! still queued when it stops.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};

use crate::harness::{TEST_KEYS, TestDb, demo_account, pdf};
use crate::serve::{interrupt, start};

const SCHOOL: &str = "bgic82100t@istruzione.it";
/// A caller's trace, as a W3C `traceparent` names it.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP receiver on a loopback port: every body posted to `/v1/traces`.
async fn receiver() -> (String, Arc<Mutex<Vec<bytes::Bytes>>>) {
    let got: Arc<Mutex<Vec<bytes::Bytes>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let kept = got.clone();
    let endpoint = poem::endpoint::make(move |mut req: poem::Request| {
        let kept = kept.clone();
        async move {
            let body = req.take_body().into_bytes().await.unwrap();
            kept.lock().unwrap().push(body);
            poem::http::StatusCode::OK
        }
    });
    let app = poem::Route::new().at("/v1/traces", poem::post(endpoint));
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (url, got)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    match kv.value.as_ref()?.value.as_ref()? {
        Any::StringValue(s) => Some(s.clone()),
        Any::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

async fn send(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
    traceparent: Option<&str>,
) -> (Value, String) {
    let mut req = http.post(url).json(&json!({ "query": query, "variables": variables }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(t) = traceparent {
        req = req.header("traceparent", t);
    }
    let resp = req.send().await.unwrap();
    let trace = resp.headers().get("x-trace-id").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (resp.json().await.unwrap(), trace)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_without_parameters_and_the_trace_id_is_in_the_header_and_log() {
    let (collector, got) = receiver().await;
    let db = TestDb::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ambito"));
    cmd.env_remove("DATABASE_URL")
        .env("AMBITO_KEYS", TEST_KEYS)
        .env("AMBITO_LOG", "info")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--database-url")
        .arg(db.login_url())
        .args(["--otlp-endpoint", &collector, "serve", "--listen", "127.0.0.1:0"]);
    let (mut child, url) = start(cmd);
    let http = reqwest::Client::new();
    let school = demo_account(SCHOOL);

    // Signing in: the e-mail and password go to the database only as parameters.
    let login = "mutation Login($e: String!, $p: String!) { login(email: $e, password: $p) { token } }";
    let (body, login_trace) =
        send(&http, &url, None, login, json!({ "e": school.email, "p": school.password }), None).await;
    let token = body["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    assert_eq!(login_trace.len(), 32, "a trace id in the response header");

    // A query in a caller's trace: the server's spans continue it.
    let parent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let list = "query Pupils { pupils(first: 2) { edges { node { id lastName } } } }";
    let (body, trace) = send(&http, &url, Some(&token), list, json!({}), Some(&parent)).await;
    assert_eq!(trace, CALLER_TRACE, "the caller's trace goes on: {body}");
    let pupil = body["data"]["pupils"]["edges"][0]["node"].clone();
    let surname = pupil["lastName"].as_str().unwrap().to_owned();

    // A document stored and read back: the object store's calls.
    let bytes = pdf(70_000, 4);
    let create = "mutation Slot($i: CreateUploadInput!) { createUpload(input: $i) { attachment { id } uploadUrl } }";
    let input = json!({ "i": { "parentId": pupil["id"], "kind": "CERTIFICATION", "fileName": "v.pdf",
                               "contentType": "application/pdf", "size": bytes.len() } });
    let (slot, _) = send(&http, &url, Some(&token), create, input, None).await;
    let base = url.trim_end_matches("/graphql");
    let upload = slot["data"]["createUpload"]["uploadUrl"].as_str().unwrap_or_else(|| panic!("{slot}"));
    let put = http.put(format!("{base}{upload}")).bearer_auth(&token).body(bytes.clone()).send().await.unwrap();
    assert_eq!(put.status(), 200);
    let put_trace = put.headers()["x-trace-id"].to_str().unwrap().to_owned();
    let id = slot["data"]["createUpload"]["attachment"]["id"].as_str().unwrap();
    let got_back = http.get(format!("{base}/attachments/{id}")).bearer_auth(&token).send().await.unwrap();
    let get_trace = got_back.headers()["x-trace-id"].to_str().unwrap().to_owned();
    assert_eq!(got_back.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // Stopped, the server sends the spans still queued.
    let log = interrupt(&mut child);
    let line = log.lines().find(|l| l.contains("operation=\"Pupils\"") || l.contains("operation=Pupils"));
    let line = line.unwrap_or_else(|| panic!("no log line of the query: {log}"));
    assert!(line.contains("trace_id") && line.contains(CALLER_TRACE), "the trace id in the log line: {line}");

    let bodies = got.lock().unwrap().clone();
    assert!(!bodies.is_empty(), "the receiver got no export");
    let spans: Vec<Span> = bodies
        .iter()
        .flat_map(|b| ExportTraceServiceRequest::decode(b.as_ref()).expect("an OTLP protobuf export").resource_spans)
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect();
    // Nothing a request carried is in any span: no password, no e-mail, no name.
    for b in &bodies {
        for secret in [school.password.as_str(), school.email.as_str(), surname.as_str()] {
            assert!(!b.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret:?} was exported");
        }
    }
    let by_id: HashMap<String, &Span> = spans.iter().map(|s| (hex(&s.span_id), s)).collect();
    let in_trace = |trace: &str, name: &str| -> Vec<&Span> {
        spans.iter().filter(|s| hex(&s.trace_id) == trace && s.name.starts_with(name)).collect()
    };
    // Whether `span` descends from `ancestor`, through the spans received.
    let descends = |span: &Span, ancestor: &Span| {
        let mut at = hex(&span.parent_span_id);
        while let Some(s) = by_id.get(&at) {
            if s.span_id == ancestor.span_id {
                return true;
            }
            at = hex(&s.parent_span_id);
        }
        false
    };

    // A statement is part of a request's trace, never a trace of its own
    // (start-up, the sealer, the janitor and LISTEN make none).
    let orphans = spans.iter().filter(|s| s.name == "db.statement" && s.parent_span_id.is_empty()).count();
    assert_eq!(orphans, 0, "statements outside any request were exported");
    let request = in_trace(CALLER_TRACE, "POST");
    assert_eq!(request.len(), 1, "one HTTP span for the query: {spans:?}");
    let request = request[0];
    assert_eq!(hex(&request.parent_span_id), CALLER_SPAN, "the caller's span is its parent");
    assert_eq!(attribute(request, "http.route").as_deref(), Some("/graphql"));
    assert_eq!(attribute(request, "http.response.status_code").as_deref(), Some("200"));
    let operation = in_trace(CALLER_TRACE, "query Pupils");
    assert_eq!(operation.len(), 1, "{spans:?}");
    assert_eq!(hex(&operation[0].parent_span_id), hex(&request.span_id));
    let statements = in_trace(CALLER_TRACE, "db.statement");
    assert!(!statements.is_empty(), "the query's statements");
    for s in &statements {
        assert!(descends(s, request), "a statement outside its request: {s:?}");
        let sql = attribute(s, "db.statement").expect("the statement's text");
        assert!(!sql.contains("binds"), "parameters were exported: {sql}");
    }
    assert!(
        statements.iter().any(|s| attribute(s, "db.statement").is_some_and(|q| q.contains("pupils"))),
        "the pupils' statement is there"
    );
    assert!(in_trace(&login_trace, "mutation Login").len() == 1 && !in_trace(&login_trace, "db.statement").is_empty());
    let put = in_trace(&put_trace, "storage.put");
    assert_eq!(put.len(), 1, "the upload's store call: {spans:?}");
    let http_put = in_trace(&put_trace, "PUT")[0];
    assert!(descends(put[0], http_put));
    let names = |trace: &str| -> Vec<&str> {
        spans.iter().filter(|s| hex(&s.trace_id) == trace).map(|s| s.name.as_str()).collect()
    };
    assert!(!in_trace(&get_trace, "storage.get").is_empty(), "the download's store call: {:?}", names(&get_trace));
}
