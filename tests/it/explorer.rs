//! The explorer: `GET /graphql` from a browser serves GraphiQL from the
//! binary when the server has it on, and a user signs in and queries in it,
//! in a real headless Chromium.

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::harness::{TestApp, TestDb, demo_account};

const SCHOOL: &str = "bgic82100t@istruzione.it";
const PUPILS: &str = "query Pupils {\n  pupils(first: 3) {\n    totalCount\n    nodes { internalCode }\n  }\n}";

/// The text of GraphiQL's editor under `selector`.
fn editor(selector: &str) -> String {
    format!("document.querySelector('{selector} .CodeMirror').CodeMirror")
}

/// Replaces the query editor's text by typing `text`, then runs it and
/// returns the response pane's JSON once it shows `expect`.
async fn run(browser: &mut Browser, text: &str, expect: &str) -> Value {
    let query = editor(".graphiql-query-editor");
    browser.eval(&format!("{query}.focus(), {query}.execCommand('selectAll'), true")).await;
    browser.type_text(text).await;
    assert_eq!(browser.eval(&format!("{query}.getValue()")).await, text, "the editor holds what was typed");
    // GraphiQL reads the operations of an edit after a 100 ms debounce; a
    // person takes longer than that to reach the button.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    browser.eval("document.querySelector('.graphiql-execute-button').click(), true").await;
    let response = editor(".graphiql-response");
    let shown = browser.wait_for(&format!("{response}.getValue().includes({expect:?}) && {response}.getValue()")).await;
    serde_json::from_str(shown.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_browser_gets_the_explorer_signs_in_and_sees_its_own_data() {
    let app = TestApp::demo().await;
    let mut browser = Browser::launch().await;
    browser.goto(&app.url("/graphql")).await;
    // GraphiQL mounted, and its schema loaded by introspection (the docs button works off it).
    browser.wait_for(&format!("!!{}", editor(".graphiql-query-editor"))).await;
    assert_eq!(browser.eval("document.title").await, "Ambito · GraphQL explorer");

    let password = demo_account(SCHOOL).password;
    let login = format!("mutation {{ login(email: \"{SCHOOL}\", password: \"{password}\") {{ token }} }}");
    let signed_in = run(&mut browser, &login, "token").await;
    let token = signed_in["data"]["login"]["token"].as_str().expect("a session token").to_owned();

    // The explorer now sends that session: the page shows the school's own pupils,
    // exactly what the same query gets over HTTP as that school.
    let shown = run(&mut browser, PUPILS, "totalCount").await;
    let expected = app.query_as(&token, PUPILS, json!({})).await;
    assert_eq!(shown["data"], expected, "{shown}");
    assert!(expected["pupils"]["totalCount"].as_i64().unwrap() > 0, "the demo school has pupils");
    // The schema came by introspection: the documentation pane lists the root fields.
    browser.eval("document.querySelector('[aria-label=\"Show Documentation Explorer\"]').click(), true").await;
    browser.wait_for("document.querySelector('.graphiql-doc-explorer').innerText.includes('Root Types')").await;
    browser
        .eval("document.querySelector('.graphiql-doc-explorer a.graphiql-doc-explorer-type-name').click(), true")
        .await;
    browser.wait_for("document.querySelector('.graphiql-doc-explorer').innerText.includes('pupils')").await;
    let shot = browser.screenshot("explorer.png").await;
    println!("explorer screenshot: {}", shot.display());

    // Neither the password nor the session is left in the browser's storage.
    let stored = browser.eval("JSON.stringify(Object.assign({}, localStorage, sessionStorage))").await;
    let stored = stored.as_str().unwrap();
    assert!(!stored.contains(&token) && !stored.contains(&password), "{stored}");
}

#[tokio::test]
async fn the_explorer_is_off_in_production_and_operations_never_run_over_get() {
    let app = TestApp::production(TestDb::demo().await).await;
    let page = app.http.get(app.url("/graphql")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 405);
    assert_eq!(page.headers()["allow"], "POST");
    assert!(page.text().await.unwrap().contains("--explorer"), "it says how to switch it on");
    let asset = app.http.get(app.url("/explorer/graphiql.min.js")).send().await.unwrap();
    assert_eq!(asset.status(), 404);

    let demo = TestApp::demo().await;
    let page = demo.http.get(demo.url("/graphql")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
    // Compressed when asked, whole otherwise, and the same bytes either way.
    let plain = demo.http.get(demo.url("/explorer/graphiql.min.js")).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    let packed =
        demo.http.get(demo.url("/explorer/graphiql.min.js")).header("accept-encoding", "deflate").send().await.unwrap();
    assert_eq!(packed.headers()["content-encoding"], "deflate");
    let packed = packed.bytes().await.unwrap();
    assert!(packed.len() < plain.len() / 2, "{} of {}", packed.len(), plain.len());
    assert_eq!(miniz_oxide::inflate::decompress_to_vec_zlib(&packed).unwrap(), plain);

    // A mutation over GET is refused on both servers, explorer or not, and changes nothing.
    for server in [&app, &demo] {
        let url = server.url("/graphql?query=mutation%7Blogout%7D");
        let resp = server.http.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 405);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    }
}
