//! Subscriptions over WebSocket (graphql-transport-ws), as hub coordinators'
//! apps use them: authenticated at connection init, scoped to the hub's
//! territory, fed by every server process through LISTEN/NOTIFY.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::TestApp;
use crate::refugees::{ABBIATEGRASSO, CTI_AMBIT, MILANO, START, TRANSFER, create, form};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const SUBSCRIBE: &str =
    "subscription { enrolmentRequestChanged { kind id status version request { id municipality { istatCode } } } }";

/// Opens a graphql-transport-ws connection with `payload` at init; returns the
/// socket and the server's answer to the init.
async fn connect(app: &TestApp, payload: Value) -> (Ws, Value) {
    let mut req = app.url("/graphql").replace("http://", "ws://").into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::text(json!({ "type": "connection_init", "payload": payload }).to_string())).await.unwrap();
    let answer = next_message(&mut ws, Duration::from_secs(5)).await.unwrap_or(Value::Null);
    (ws, answer)
}

/// A hub's subscription to its territory's changes.
async fn subscribe(app: &TestApp, token: &str) -> Ws {
    let (mut ws, ack) = connect(app, json!({ "authorization": format!("Bearer {token}") })).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let msg = json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIBE } });
    ws.send(Message::text(msg.to_string())).await.unwrap();
    ws
}

/// The next JSON message within `wait`, or none; a close frame is `{"type": "close", "code": …}`.
async fn next_message(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(wait, ws.next()).await.ok()??;
        match msg {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Message::Close(frame)) => {
                return Some(json!({ "type": "close", "code": frame.map(|f| u16::from(f.code)) }));
            }
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// The next event of the subscription, or none within `wait`.
async fn next_event(ws: &mut Ws, wait: Duration) -> Option<Value> {
    let msg = next_message(ws, wait).await?;
    assert_eq!(msg["type"], "next", "{msg}");
    Some(msg["payload"]["data"]["enrolmentRequestChanged"].clone())
}

#[tokio::test]
async fn a_hub_receives_its_territorys_changes_from_any_server_process_and_nothing_else() {
    let one = TestApp::demo().await;
    let two = one.beside().await;
    let hub_a = one.login(CTI_AMBIT).await;
    let hub_b = one.login(START).await;
    let mut sub_a = subscribe(&one, &hub_a).await;
    let mut sub_b = subscribe(&one, &hub_b).await;
    // Subscriptions have no acknowledgement: give the server a moment to start them.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Both municipalities write through the second process.
    let town = two.login(ABBIATEGRASSO).await;
    let milano = two.login(MILANO).await;
    let (a_id, ..) = create(&two, &town, form("Bohdan", "Kravets", None)).await;
    let (b_id, ..) = create(&two, &milano, form("Iryna", "Oliinyk", Some(1))).await;

    let ev = next_event(&mut sub_a, Duration::from_secs(10)).await.expect("hub A's event");
    assert_eq!(ev["kind"], "CREATED");
    assert_eq!(ev["id"], a_id.as_str());
    assert_eq!(ev["request"]["municipality"]["istatCode"], "015002");
    let ev = next_event(&mut sub_b, Duration::from_secs(10)).await.expect("hub B's event");
    assert_eq!(ev["id"], b_id.as_str());
    // Neither receives the other's.
    assert_eq!(next_message(&mut sub_a, Duration::from_secs(1)).await, None);
    assert_eq!(next_message(&mut sub_b, Duration::from_millis(200)).await, None);

    // Hub A hands its request to Milan's CTI (through the second process):
    // it learns the request left its view, and receives nothing of its data.
    let hub_a_two = two.login(CTI_AMBIT).await;
    two.query_as(&hub_a_two, TRANSFER, json!({ "id": a_id, "v": 1, "h": "CTI-MI-1", "r": "family moved" })).await;
    let ev = next_event(&mut sub_a, Duration::from_secs(10)).await.expect("the removal");
    assert_eq!((ev["kind"].as_str(), ev["id"].as_str()), (Some("REMOVED"), Some(a_id.as_str())));
    assert!(ev["request"].is_null());
    assert_eq!(next_message(&mut sub_b, Duration::from_millis(500)).await, None);

    // Logging out ends the session: the next event of the territory ends the subscription.
    one.query_as(&hub_b, "mutation { logout }", json!({})).await;
    create(&two, &milano, form("Maksym", "Tkachuk", Some(2))).await;
    let msg = next_message(&mut sub_b, Duration::from_secs(10)).await.expect("an answer");
    assert_eq!(msg["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{msg}");
    assert!(msg["payload"]["data"].is_null(), "no data after the session ended: {msg}");
    let end = next_message(&mut sub_b, Duration::from_secs(5)).await.expect("the end of the stream");
    assert_eq!(end["type"], "complete", "{end}");
}

#[tokio::test]
async fn a_connection_without_a_valid_session_is_refused() {
    let app = TestApp::demo().await;
    for payload in [json!({}), json!({ "authorization": format!("Bearer {}", "x".repeat(43)) })] {
        let (mut ws, answer) = connect(&app, payload).await;
        // The server answers, and its answer is to close the connection.
        assert_eq!(answer["type"], "close", "{answer}");
        assert!(answer["code"].is_u64(), "{answer}");
        // Nothing can be subscribed on a refused connection.
        let msg = json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIBE } });
        let _ = ws.send(Message::text(msg.to_string())).await;
        let next = next_message(&mut ws, Duration::from_secs(1)).await;
        assert!(next.is_none() || next.as_ref().is_some_and(|m| m["type"] == "close"), "{next:?}");
    }
}

/// Documents sent over the socket meet the same limits as over HTTP, with
/// the same codes: an alias flood is refused before anything runs.
#[tokio::test]
async fn documents_over_the_socket_meet_the_http_limits() {
    let app = TestApp::demo().await;
    let hub = app.login(CTI_AMBIT).await;
    let (mut ws, ack) = connect(&app, json!({ "authorization": format!("Bearer {hub}") })).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let aliases: String = (0..40).map(|i| format!(" a{i}: enrolmentRequestChanged {{ id }}")).collect();
    let cases = [
        (format!("subscription {{{aliases} }}"), "QUERY_TOO_MANY_ALIASES"),
        ("subscription { enrolmentRequestChanged { nonsense } }".to_owned(), "GRAPHQL_VALIDATION_FAILED"),
        ("subscription { enrolmentRequestChanged { id ".to_owned(), "GRAPHQL_PARSE_FAILED"),
    ];
    for (n, (query, code)) in cases.into_iter().enumerate() {
        let msg = json!({ "id": n.to_string(), "type": "subscribe", "payload": { "query": query } });
        ws.send(Message::text(msg.to_string())).await.unwrap();
        let answer = next_message(&mut ws, Duration::from_secs(5)).await.unwrap_or(Value::Null);
        // async-graphql answers a refused document as a result with errors only.
        assert_eq!(answer["type"], "next", "{answer}");
        assert_eq!(answer["payload"]["data"], Value::Null, "{answer}");
        assert_eq!(answer["payload"]["errors"][0]["extensions"]["code"], code, "{answer}");
        let end = next_message(&mut ws, Duration::from_secs(5)).await.unwrap_or(Value::Null);
        assert_eq!(end["type"], "complete", "{end}");
    }
}

/// The attack of the security review: a socket opened before logout kept
/// answering queries with the school's pupils. The socket runs
/// subscriptions only, before and after logout.
#[tokio::test]
async fn the_socket_runs_subscriptions_only() {
    let app = TestApp::demo().await;
    let school = app.login("bgic82100t@istruzione.it").await;
    let (mut ws, ack) = connect(&app, json!({ "authorization": format!("Bearer {school}") })).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let ask = |ws_id: &str, query: &str| json!({ "id": ws_id, "type": "subscribe", "payload": { "query": query } });
    let refused = [
        ("q", "{ pupils { nodes { taxCode } } }"),
        ("m", "mutation { logout }"),
        ("l", "mutation { login(email: \"x@y.it\", password: \"not a password\") { token } }"),
        ("mixed", "subscription s { enrolmentRequestChanged { id } } query q { me { email } }"),
    ];
    for round in ["before logout", "after logout"] {
        for (id, query) in refused {
            ws.send(Message::text(ask(id, query).to_string())).await.unwrap();
            let answer = next_message(&mut ws, Duration::from_secs(5)).await.expect("an answer");
            assert_eq!(answer["type"], "next", "{round}: {answer}");
            assert_eq!(answer["payload"]["data"], Value::Null, "{round}: {answer}");
            assert_eq!(answer["payload"]["errors"][0]["extensions"]["code"], "SUBSCRIPTIONS_ONLY", "{round}: {answer}");
            let end = next_message(&mut ws, Duration::from_secs(5)).await.expect("the end");
            assert_eq!(end["type"], "complete", "{end}");
        }
        if round == "before logout" {
            app.query_as(&school, "mutation { logout }", json!({})).await;
        }
    }
    // The session is still there for HTTP? No: logout ended it.
    let (_, body) = app.post_as(Some(&school), "{ me { email } }", json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

/// A session that ends while its subscription waits for events ends the
/// subscription within the re-check interval, with no event needed; a
/// subscription asked for after the end is refused at once.
#[tokio::test]
async fn an_ended_session_ends_its_quiet_subscription_within_seconds() {
    let app = TestApp::demo().await;
    let hub = app.login(CTI_AMBIT).await;
    let mut ws = subscribe(&app, &hub).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.query_as(&hub, "mutation { logout }", json!({})).await;
    let started = std::time::Instant::now();
    let wait = ambito::graphql::events::SESSION_RECHECK + Duration::from_secs(2);
    let msg = next_message(&mut ws, wait).await.expect("the subscription ends without any event");
    assert_eq!(msg["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{msg}");
    assert!(started.elapsed() <= wait, "ended after {:?}", started.elapsed());
    let end = next_message(&mut ws, Duration::from_secs(5)).await.expect("the end of the stream");
    assert_eq!(end["type"], "complete", "{end}");
    // On the same connection, a new subscription is refused at once.
    let msg = json!({ "id": "2", "type": "subscribe", "payload": { "query": SUBSCRIBE } });
    ws.send(Message::text(msg.to_string())).await.unwrap();
    let answer = next_message(&mut ws, Duration::from_secs(2)).await.expect("an answer at once");
    assert_eq!(answer["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{answer}");
}
