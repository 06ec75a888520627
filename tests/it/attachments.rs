//! Encrypted documents through the real server and a real Garage node: upload
//! slots, streamed PUT, resumed PATCH, download with ranges, scope, bad
//! input, history and reuse, the janitor, `storage verify`, key rotation and
//! the archive export.

use ambito::db::attachments as rows;
use ambito::server::Options;
use ambito::storage::keys::Keyring;
use ambito::storage::maintenance;
use ambito::storage::store::{self, Store};
use futures_util::TryStreamExt as _;
use object_store::ObjectStoreExt as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::garage;
use crate::harness::{TEST_KEYS, TestApp, TestDb, pdf, test_files};
use crate::registry::other_school;

const SCHOOL: &str = "bgic82100t@istruzione.it";
const OFFICE: &str = "ufficio.bg@ambito.invalid";
const OFFICE_MI: &str = "ufficio.mi@ambito.invalid";
const MAX_MIB: u64 = 4;

/// The Garage bucket, under a prefix of this test's own, so that one test's
/// janitor never sees another test's objects.
pub fn bucket() -> Store {
    let s3 = store::s3(&garage::s3()).unwrap();
    let prefix = format!("t-{}", uuid::Uuid::new_v4().simple());
    std::sync::Arc::new(object_store::prefix::PrefixStore::new(s3, prefix.as_str()))
}

async fn app() -> TestApp {
    let options = Options { explorable: true, ..Default::default() };
    TestApp::start_with(TestDb::demo().await, options, test_files(bucket(), MAX_MIB)).await
}

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The first pupils the caller can list.
async fn pupil_ids(app: &TestApp, token: &str) -> Vec<String> {
    let data = app.query_as(token, "{ pupils(first: 3) { edges { node { id } } } }", json!({})).await;
    data["pupils"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()).collect()
}

const CREATE: &str = "mutation($i: CreateUploadInput!) { createUpload(input: $i) { attachment { id } uploadUrl } }";

fn upload_input(parent: &str, kind: &str, name: &str, content_type: &str, size: usize) -> Value {
    json!({ "i": { "parentId": parent, "kind": kind, "fileName": name, "contentType": content_type, "size": size } })
}

/// Opens an upload slot for a certification; returns the attachment id and the upload URL.
async fn slot(app: &TestApp, token: &str, parent: &str, name: &str, bytes: &[u8]) -> (String, String) {
    slot_of(app, token, parent, "CERTIFICATION", name, bytes).await
}

async fn slot_of(app: &TestApp, token: &str, parent: &str, kind: &str, name: &str, bytes: &[u8]) -> (String, String) {
    let data = app.query_as(token, CREATE, upload_input(parent, kind, name, "application/pdf", bytes.len())).await;
    let s = &data["createUpload"];
    (s["attachment"]["id"].as_str().unwrap().to_owned(), s["uploadUrl"].as_str().unwrap().to_owned())
}

async fn put(app: &TestApp, token: &str, url: &str, bytes: Vec<u8>) -> (u16, Value) {
    let resp = app.http.put(app.url(url)).bearer_auth(token).body(bytes).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub async fn get(app: &TestApp, token: &str, id: &str, range: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url(&format!("/attachments/{id}"))).bearer_auth(token);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().await.unwrap()
}

/// Uploads a document for a pupil in one PUT; returns its id.
async fn upload(app: &TestApp, token: &str, pupil: &str, name: &str, bytes: &[u8]) -> String {
    upload_of(app, token, pupil, "CERTIFICATION", name, bytes).await
}

pub async fn upload_of(app: &TestApp, token: &str, parent: &str, kind: &str, name: &str, bytes: &[u8]) -> String {
    let (id, url) = slot_of(app, token, parent, kind, name, bytes).await;
    let (status, body) = put(app, token, &url, bytes.to_vec()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["complete"], true);
    assert_eq!(body["sha256"], sha_hex(bytes));
    id
}

/// Every object key in the app's bucket.
async fn object_keys(app: &TestApp) -> Vec<String> {
    let listed: Vec<object_store::ObjectMeta> = app.files.store.list(None).try_collect().await.unwrap();
    listed.into_iter().map(|m| m.location.to_string()).collect()
}

const DOCUMENTS: &str =
    "query($id: ID!) { pupil(id: $id) { documents { id fileName size sha256 kind documentType uploadedAt } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_round_trips_encrypted_in_its_schools_scope() {
    let app = app().await;
    let school = app.login(SCHOOL).await;
    let pupil = pupil_ids(&app, &school).await.remove(0);
    let bytes = pdf(300_000, 1);
    let mut input =
        upload_input(&pupil, "CERTIFICATION", "../Verbale di accertamento è.pdf", "application/pdf", 300_000);
    input["i"]["documentType"] = json!("VERBALE_ACCERTAMENTO");
    let data = app.query_as(&school, CREATE, input).await;
    let id = data["createUpload"]["attachment"]["id"].as_str().unwrap().to_owned();
    let url = data["createUpload"]["uploadUrl"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("/uploads/{id}"));

    // Pending: not listed, not downloadable.
    let docs = app.query_as(&school, DOCUMENTS, json!({ "id": pupil })).await;
    assert_eq!(docs["pupil"]["documents"], json!([]));
    assert_eq!(get(&app, &school, &id, None).await.status(), 404);

    let (status, body) = put(&app, &school, &url, bytes.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sha256"], sha_hex(&bytes));

    let docs = app.query_as(&school, DOCUMENTS, json!({ "id": pupil })).await;
    let doc = &docs["pupil"]["documents"][0];
    assert_eq!(doc["id"], id.as_str());
    assert_eq!(doc["fileName"], "Verbale di accertamento è.pdf", "no directories in names");
    assert_eq!(doc["size"], 300_000);
    assert_eq!(doc["sha256"], sha_hex(&bytes));
    assert_eq!(doc["kind"], "CERTIFICATION");
    assert_eq!(doc["documentType"], "VERBALE_ACCERTAMENTO");

    // The bucket holds one sealed object, with no plaintext in it.
    let keys = object_keys(&app).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let raw = app.files.store.get(&keys[0].as_str().into()).await.unwrap().bytes().await.unwrap();
    // No 32 bytes of the plaintext in it (a 4-byte "%PDF" turns up in 300 kB of
    // ciphertext once in some 14,000 runs, and did once).
    for at in [0, 150_000, 299_968] {
        let probe = &bytes[at..at + 32];
        assert!(!raw.windows(32).any(|w| w == probe), "the stored object is encrypted (plaintext at {at})");
    }
    assert!(!keys[0].contains("Verbale"), "file names are never storage keys");

    let resp = get(&app, &school, &id, None).await;
    assert_eq!(resp.status(), 200);
    let h = resp.headers();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    let disposition = h["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(disposition.contains("filename*=UTF-8''Verbale%20di%20accertamento%20%C3%A8.pdf"), "{disposition}");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());

    for (range, want) in
        [("bytes=0-99", 0..100), ("bytes=65530-131080", 65_530..131_081), ("bytes=-10", 299_990..300_000)]
    {
        let resp = get(&app, &school, &id, Some(range)).await;
        assert_eq!(resp.status(), 206, "{range}");
        assert_eq!(
            resp.headers()["content-range"].to_str().unwrap(),
            format!("bytes {}-{}/300000", want.start, want.end - 1)
        );
        assert_eq!(resp.bytes().await.unwrap().as_ref(), &bytes[want], "{range}");
    }
    let resp = get(&app, &school, &id, Some("bytes=300000-")).await;
    assert_eq!(resp.status(), 416);
    assert_eq!(resp.headers()["content-range"], "bytes */300000");

    // The office of the province reads it; another school and another
    // province find nothing, exactly as for an id that does not exist.
    let office = app.login(OFFICE).await;
    assert_eq!(get(&app, &office, &id, None).await.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let missing = uuid::Uuid::new_v4().to_string();
    for email in [other_school().0.as_str(), OFFICE_MI] {
        let token = app.login(email).await;
        let theirs = get(&app, &token, &id, None).await;
        let none = get(&app, &token, &missing, None).await;
        assert_eq!((theirs.status(), none.status()), (reqwest::StatusCode::NOT_FOUND, reqwest::StatusCode::NOT_FOUND));
        assert_eq!(theirs.text().await.unwrap(), none.text().await.unwrap(), "out of scope is not found");
        let data = app.query_as(&token, "query($id: ID!) { attachment(id: $id) { id } }", json!({ "id": id })).await;
        assert_eq!(data["attachment"], Value::Null);
        let (_, put_theirs) = put(&app, &token, &url, bytes.clone()).await;
        assert_eq!(put_theirs["errors"][0]["extensions"]["code"], "NOT_FOUND");
    }

    // Every download and every read of the metadata is in the audit trail.
    let trail = app
        .query_as(
            &office,
            "{ auditTrail(first: 100) { edges { node { action objectKind objectId userEmail } } } }",
            json!({}),
        )
        .await;
    let events: Vec<&Value> = trail["auditTrail"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["objectKind"] == "attachment" && n["objectId"] == id.as_str())
        .collect();
    let count =
        |action: &str, who: &str| events.iter().filter(|n| n["action"] == action && n["userEmail"] == who).count();
    assert_eq!(count("upload", SCHOOL), 1);
    assert_eq!(count("download", SCHOOL), 5, "whole file and each range");
    assert_eq!(count("download", OFFICE), 1);
    assert!(count("read", SCHOOL) >= 1, "metadata reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_leave_nothing() {
    let app = app().await;
    let school = app.login(SCHOOL).await;
    let pupil = pupil_ids(&app, &school).await.remove(0);
    let code = |body: &Value| body["errors"][0]["extensions"]["code"].as_str().unwrap_or("").to_owned();
    let field = |body: &Value| body["errors"][0]["extensions"]["field"].as_str().unwrap_or("").to_owned();

    for (input, want_field) in [
        (upload_input(&pupil, "CERTIFICATION", "a.html", "text/html", 10), "contentType"),
        (upload_input(&pupil, "CERTIFICATION", "big.pdf", "application/pdf", ((MAX_MIB as usize) << 20) + 1), "size"),
        (upload_input(&pupil, "CERTIFICATION", "empty.pdf", "application/pdf", 0), "size"),
        (upload_input(&pupil, "CERTIFICATION", "///", "application/pdf", 10), "fileName"),
        (upload_input("not-a-pupil", "CERTIFICATION", "a.pdf", "application/pdf", 10), "parentId"),
    ] {
        let (_, body) = app.post_as(Some(&school), CREATE, input).await;
        assert_eq!((code(&body), field(&body)), ("BAD_USER_INPUT".into(), want_field.into()), "{body}");
    }
    // A pupil of another school, and parents that do not exist, are not found.
    let office = app.login(OFFICE).await;
    let (other_email, _) = other_school();
    let other = app.login(&other_email).await;
    let theirs = pupil_ids(&app, &other).await.remove(0);
    for (parent, kind) in [(theirs.as_str(), "CERTIFICATION"), ("999999999", "CERTIFICATION")] {
        let (_, body) =
            app.post_as(Some(&school), CREATE, upload_input(parent, kind, "a.pdf", "application/pdf", 10)).await;
        assert_eq!(code(&body), "NOT_FOUND", "{body}");
    }
    // Teachers' application documents are no school's to add (tests/it/mobility.rs has the rest).
    let teachers = upload_input("1", "APPLICATION_DOCUMENT", "a.pdf", "application/pdf", 10);
    let (_, body) = app.post_as(Some(&school), CREATE, teachers).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    // Content that is not what was declared, and more bytes than declared.
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[7u8; 200_000]].concat();
    let (id, url) = slot(&app, &school, &pupil, "scan.pdf", &png).await;
    let (status, body) = put(&app, &school, &url, png.clone()).await;
    assert_eq!((status, code(&body), field(&body)), (400, "BAD_USER_INPUT".into(), "body".into()), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("PNG"), "{body}");
    let bytes = pdf(100_000, 2);
    let (_, url2) = slot(&app, &school, &pupil, "short.pdf", &bytes[..50_000]).await;
    let (status, body) = put(&app, &school, &url2, bytes.clone()).await;
    assert_eq!((status, code(&body)), (400, "BAD_USER_INPUT".into()), "{body}");
    assert!(object_keys(&app).await.is_empty(), "nothing stored");
    let docs = app.query_as(&school, DOCUMENTS, json!({ "id": pupil })).await;
    assert_eq!(docs["pupil"]["documents"], json!([]));
    assert_eq!(get(&app, &school, &id, None).await.status(), 404);

    // The office sees the same: no document, and one cannot be uploaded twice.
    let ok = upload(&app, &school, &pupil, "ok.pdf", &bytes).await;
    let (status, body) = put(&app, &school, &format!("/uploads/{ok}"), bytes.clone()).await;
    assert_eq!((status, code(&body)), (409, "CONFLICT".into()), "{body}");
    let data = app.query_as(&office, DOCUMENTS, json!({ "id": pupil })).await;
    assert_eq!(data["pupil"]["documents"].as_array().unwrap().len(), 1);
    // No session, no upload.
    let resp = app.http.put(app.url(&url)).body(png).send().await.unwrap();
    assert_eq!(resp.status(), 401);
}

/// A body that sends `bytes` and then fails, like a connection lost mid-upload.
fn cut_off(bytes: Vec<u8>) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes
        .chunks(16 * 1024)
        .map(|c| Ok(c.to_vec()))
        .chain([Err(std::io::Error::other("connection lost"))])
        .collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

/// A PATCH of the rest of `url`'s file from `at`.
fn resume_from(app: &TestApp, token: &str, url: &str, at: u64, body: reqwest::Body) -> reqwest::RequestBuilder {
    app.http
        .patch(app.url(url))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", at.to_string())
        .body(body)
}

async fn offset(app: &TestApp, token: &str, url: &str) -> u64 {
    // A cut-off upload may leave a dead keep-alive connection in the
    // client's pool; a client resends an idempotent HEAD on a fresh one.
    let mut attempt = 0;
    let resp = loop {
        match app.http.head(app.url(url)).bearer_auth(token).send().await {
            Ok(resp) => break resp,
            Err(e) if e.is_request() && attempt < 3 => attempt += 1,
            Err(e) => panic!("HEAD {url}: {e}"),
        }
    };
    assert_eq!(resp.status(), 200, "HEAD {url}: {:?}", resp.headers());
    assert_eq!(resp.headers()["tus-resumable"], "1.0.0");
    resp.headers()["upload-offset"].to_str().unwrap().parse().unwrap()
}

/// Waits until the server has stored what it received of a cut-off upload.
async fn settled_offset(app: &TestApp, token: &str, url: &str) -> u64 {
    let mut last = u64::MAX;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = offset(app, token, url).await;
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_uploads_resume_and_the_janitor_removes_abandoned_ones() {
    let app = app().await;
    let school = app.login(SCHOOL).await;
    let pupil = pupil_ids(&app, &school).await.remove(0);
    let bytes = pdf(1_000_000, 3);
    let (id, url) = slot(&app, &school, &pupil, "diagnosi.pdf", &bytes).await;

    // First attempt: the connection drops after 400 000 bytes.
    let sent = app.http.put(app.url(&url)).bearer_auth(&school).body(cut_off(bytes[..400_000].to_vec())).send().await;
    assert!(sent.is_err(), "the client saw its upload fail");
    let at = settled_offset(&app, &school, &url).await;
    assert!(at <= 400_000 && at % 65_536 == 0, "only whole segments are acknowledged: {at}");

    // tus 1.0 core: a PATCH must name the protocol version and the offset media type.
    let patch = |headers: &[(&str, String)], body: Vec<u8>| {
        let mut req = app.http.patch(app.url(&url)).bearer_auth(&school);
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        req.body(body).send()
    };
    let tus = ("tus-resumable", "1.0.0".to_owned());
    let octets = ("content-type", "application/offset+octet-stream".to_owned());
    // A refusal by the headers answers before the body is read and closes
    // the connection: a short body, so the client is never cut off mid-send
    // (a flake of the full run with the whole rest of the file).
    let head = bytes[at as usize..at as usize + 16].to_vec();
    let resp = patch(&[octets.clone(), ("upload-offset", at.to_string())], head.clone()).await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.headers()["tus-version"].to_str().unwrap()), (412, "1.0.0"));
    let resp = patch(&[tus.clone(), ("upload-offset", at.to_string())], head).await.unwrap();
    assert_eq!(resp.status(), 415);
    assert_eq!(offset(&app, &school, &url).await, at, "neither refusal stored a byte");

    // A PATCH from the wrong offset is refused with the right one.
    let resp = patch(
        &[tus.clone(), octets.clone(), ("upload-offset", (at + 1).to_string())],
        bytes[at as usize + 1..at as usize + 17].to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 409);
    assert_eq!(resp.headers()["upload-offset"].to_str().unwrap(), at.to_string());

    // Second attempt from there is cut off too; the third completes.
    let second_end = 800_000;
    let _ = resume_from(&app, &school, &url, at, cut_off(bytes[at as usize..second_end].to_vec())).send().await;
    let at = settled_offset(&app, &school, &url).await;
    assert!(at <= second_end as u64 && at % 65_536 == 0, "{at}");
    let resp = resume_from(&app, &school, &url, at, bytes[at as usize..].to_vec().into()).send().await.unwrap();
    assert_eq!(resp.status(), 204, "tus answers a PATCH with no content");
    assert_eq!(resp.headers()["upload-offset"], "1000000");
    assert_eq!(resp.headers()["tus-resumable"], "1.0.0");
    assert!(resp.bytes().await.unwrap().is_empty());
    // HEAD on the finished upload: every byte stored.
    let head = app.http.head(app.url(&url)).bearer_auth(&school).send().await.unwrap();
    assert_eq!(head.headers()["upload-offset"], "1000000");
    assert_eq!(head.headers()["upload-length"], "1000000");
    let docs = app.query_as(&school, DOCUMENTS, json!({ "id": pupil })).await;
    let sha = docs["pupil"]["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id.as_str())
        .map(|d| d["sha256"].clone());
    assert_eq!(sha, Some(json!(sha_hex(&bytes))));
    assert_eq!(get(&app, &school, &id, None).await.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(object_keys(&app).await.len(), 1, "the parts were joined into one object and removed");

    // An upload abandoned after its first part: the janitor removes it all.
    let (abandoned, url) = slot(&app, &school, &pupil, "pei.pdf", &bytes).await;
    let _ = app.http.put(app.url(&url)).bearer_auth(&school).body(cut_off(bytes[..300_000].to_vec())).send().await;
    assert!(settled_offset(&app, &school, &url).await > 0);
    assert_eq!(object_keys(&app).await.len(), 2);
    // As the server's janitor runs: the operator's role, under row security.
    let mut conn = app.db().conn_as(ambito::db::roles::DbRole::Maint).await;
    let report = maintenance::janitor(&mut conn, &app.files.store, std::time::Duration::from_secs(3600)).await.unwrap();
    assert_eq!(report, maintenance::JanitorReport::default(), "recent uploads are left alone");
    // An object that no row refers to (a crash between writing and recording).
    let orphan = object_store::path::Path::from(format!("attachments/{}/part-0000000000-x", uuid::Uuid::new_v4()));
    app.files.store.put(&orphan, b"sealed bytes".to_vec().into()).await.unwrap();
    let report = maintenance::janitor(&mut conn, &app.files.store, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(report, maintenance::JanitorReport { uploads: 1, objects: 1 });
    assert_eq!(object_keys(&app).await.len(), 1, "only the completed document is left");
    let gone = rows::find(&mut conn, abandoned.parse().unwrap()).await.unwrap();
    assert!(gone.is_none());
    let verify = maintenance::verify(&mut conn, &app.files.store, &app.files.keys.ring()).await.unwrap();
    assert_eq!((verify.documents, verify.problems), (1, Vec::<String>::new()));
}

/// Garage stopped while an upload streams in: the request fails within the
/// store's retries with a clear 503 (`UNAVAILABLE`, `Retry-After`), the
/// upload keeps the offset it had, nothing half-stored shows, downloads say
/// the same; with storage back, the retry from that offset completes the
/// document, and no object is left over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_stopped_mid_upload_is_a_clear_error_and_the_retry_resumes() {
    let mut garage = garage::Garage::start();
    let files = test_files(store::s3(&garage.settings).unwrap(), MAX_MIB);
    let app = TestApp::start_with(TestDb::demo().await, Options::default(), files).await;
    let school = app.login(SCHOOL).await;
    let pupil = pupil_ids(&app, &school).await.remove(0);
    let kept = upload(&app, &school, &pupil, "verbale.pdf", &pdf(100_000, 1)).await;
    let bytes = pdf(3_000_000, 5);
    let (id, url) = slot(&app, &school, &pupil, "diagnosi.pdf", &bytes).await;
    let at = 1u64 << 20;
    let (status, body) = put(&app, &school, &url, bytes[..at as usize].to_vec()).await;
    assert_eq!((status, body["offset"].as_u64()), (200, Some(at)), "the first MiB is stored: {body}");

    // The next request streams the rest; storage is killed halfway through it.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let sending = tokio::spawn(resume_from(&app, &school, &url, at, reqwest::Body::wrap_stream(stream)).send());
    let rest = bytes[at as usize..].to_vec();
    let (first, second) = rest.split_at(rest.len() / 2);
    for c in first.chunks(64 * 1024) {
        tx.send(Ok(c.to_vec())).await.unwrap();
    }
    garage.kill();
    for c in second.chunks(64 * 1024) {
        tx.send(Ok(c.to_vec())).await.unwrap();
    }
    drop(tx);
    let resp = sending.await.unwrap().unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "UNAVAILABLE", "{body}");
    assert!(error["message"].as_str().unwrap().contains("document store is unavailable"), "{body}");
    assert_eq!(
        offset(&app, &school, &url).await,
        at,
        "the upload keeps its offset; nothing of the failed request counts"
    );
    let docs = app.query_as(&school, DOCUMENTS, json!({ "id": pupil })).await;
    let listed: Vec<&Value> = docs["pupil"]["documents"].as_array().unwrap().iter().map(|d| &d["id"]).collect();
    assert_eq!(listed, [&json!(kept)], "the unfinished upload shows nowhere");
    // A download while storage is down says the same, not an internal error.
    let resp = get(&app, &school, &kept, None).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.json::<Value>().await.unwrap()["errors"][0]["extensions"]["code"], "UNAVAILABLE");

    // Storage back: the retry from the offset completes the document.
    garage.restart();
    let resp = resume_from(&app, &school, &url, at, rest.clone().into()).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["upload-offset"], bytes.len().to_string().as_str());
    assert_eq!(get(&app, &school, &id, None).await.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert_eq!(get(&app, &school, &kept, None).await.status(), 200);
    assert_eq!(object_keys(&app).await.len(), 2, "two documents, no part or failed object left");
    let mut conn = app.db().conn_as(ambito::db::roles::DbRole::Maint).await;
    let report = maintenance::janitor(&mut conn, &app.files.store, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(report, maintenance::JanitorReport::default(), "no orphan for the janitor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_reuse_rotation_verify_and_archive() {
    let app = app().await;
    let school = app.login(SCHOOL).await;
    let pupils = pupil_ids(&app, &school).await;
    let (a, b) = (&pupils[0], &pupils[1]);
    let first = pdf(150_000, 4);
    let second = pdf(70_000, 5);
    let id1 = upload(&app, &school, a, "verbale.pdf", &first).await;
    let id2 = upload(&app, &school, a, "pei.pdf", &second).await;

    // History: newest first, then attach the first one to another pupil.
    let data = app
        .query_as(&school, "{ myUploads(first: 10) { totalCount edges { node { id fileName } } } }", json!({}))
        .await;
    let ids: Vec<&str> =
        data["myUploads"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id2.as_str(), id1.as_str()]);
    assert_eq!(data["myUploads"]["totalCount"], 2);
    const ATTACH: &str = "mutation($i: AttachDocumentInput!) { attachDocument(input: $i) { id sha256 fileName } }";
    let data = app
        .query_as(&school, ATTACH, json!({ "i": { "attachmentId": id1, "parentId": b, "kind": "CERTIFICATION" } }))
        .await;
    let reused = data["attachDocument"]["id"].as_str().unwrap().to_owned();
    assert_ne!(reused, id1);
    assert_eq!(data["attachDocument"]["sha256"], sha_hex(&first));
    let docs = app.query_as(&school, DOCUMENTS, json!({ "id": b })).await;
    assert_eq!(docs["pupil"]["documents"][0]["id"], reused.as_str());
    assert_eq!(get(&app, &school, &reused, None).await.bytes().await.unwrap().as_ref(), first.as_slice());
    assert_eq!(object_keys(&app).await.len(), 2, "attached again, not uploaded again");
    // Only the uploader may reuse a document, and only within scope.
    let office = app.login(OFFICE).await;
    let (_, body) = app
        .post_as(Some(&office), ATTACH, json!({ "i": { "attachmentId": id1, "parentId": b, "kind": "CERTIFICATION" } }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");

    // Rotation: a new current key re-wraps every data key; the old key can then go.
    // As `ambito keys rotate` runs: the operator's role, under row security.
    let mut conn = app.db().conn_as(ambito::db::roles::DbRole::Maint).await;
    let mut new_key = [0u8; 32];
    getrandom::fill(&mut new_key).unwrap();
    use base64::Engine as _;
    let new_line = format!("test-2 {}", base64::engine::general_purpose::STANDARD.encode(new_key));
    let both = Keyring::parse(&format!("{TEST_KEYS}\n{new_line}")).unwrap();
    assert_eq!(maintenance::rotate(&mut conn, &both).await.unwrap(), 3);
    assert_eq!(maintenance::rotate(&mut conn, &both).await.unwrap(), 0, "a second run has nothing left to do");
    let only_new = Keyring::parse(&new_line).unwrap();
    let report = maintenance::verify(&mut conn, &app.files.store, &only_new).await.unwrap();
    assert_eq!((report.documents, report.problems), (3, Vec::<String>::new()));
    let stale = maintenance::verify(&mut conn, &app.files.store, &app.files.keys.ring()).await.unwrap();
    assert_eq!(stale.problems.len(), 3, "the old key opens nothing any more");

    // Archive: the package holds the files and their index; the live store lets them go.
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("package");
    let index =
        maintenance::archive_export(&mut conn, &app.files.store, &only_new, &package, Some("BG"), None).await.unwrap();
    assert_eq!(index.len(), 3);
    for e in &index {
        let content = std::fs::read(package.join(&e.file)).unwrap();
        assert_eq!(sha_hex(&content), e.sha256);
        assert!(e.sha256 == sha_hex(&first) || e.sha256 == sha_hex(&second));
    }
    let json: Value = serde_json::from_slice(&std::fs::read(package.join("index.json")).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 3);
    let csv = std::fs::read_to_string(package.join("index.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4);
    // Decrypted special-category documents: the operator's eyes only.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&package), mode(&package.join("files"))), (0o700, 0o700));
    for e in &index {
        assert_eq!(mode(&package.join(&e.file)), 0o600, "{}", e.file);
    }
    assert_eq!(mode(&package.join("index.csv")), 0o600);
    assert!(object_keys(&app).await.is_empty(), "archived documents leave the live store");
    let resp = get(&app, &school, &id1, None).await;
    assert_eq!(resp.status(), 410);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "ARCHIVED");
    let err = maintenance::archive_export(&mut conn, &app.files.store, &only_new, &package, None, None).await;
    assert!(err.is_err(), "a package is never written over another");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_school_sends_its_signed_summary_back() {
    let app = app().await;
    let (email, code) = other_school();
    let token = app.login(&email).await;
    let year = ambito::rules::school_year::SchoolYear::of(chrono::Utc::now().date_naive()).to_string();
    let parent = format!("{code}:{year}");
    let q = "query($y: String!) { supportSubmission(schoolYear: $y) { id state signedSummaryReceived } }";
    let data = app.query_as(&token, q, json!({ "y": year })).await;
    assert_eq!(data["supportSubmission"]["id"], parent.as_str());
    assert_eq!(data["supportSubmission"]["signedSummaryReceived"], false);

    // A CAdES envelope: DER SEQUENCE, then the signedData OID.
    let mut p7m = vec![0x30, 0x82, 0x01, 0x00, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
    p7m.extend(pdf(5_000, 6));
    let input = upload_input(&parent, "SIGNED_SUMMARY", "sintesi.pdf.p7m", "application/pkcs7-mime", p7m.len());
    let data = app.query_as(&token, CREATE, input).await;
    let url = data["createUpload"]["uploadUrl"].as_str().unwrap().to_owned();
    let (status, body) = put(&app, &token, &url, p7m.clone()).await;
    assert_eq!(status, 200, "{body}");
    let data = app.query_as(&token, q, json!({ "y": year })).await;
    assert_eq!(data["supportSubmission"]["signedSummaryReceived"], true);

    // A school that has not submitted is told to submit first.
    let school = app.login(SCHOOL).await;
    let input = upload_input(&format!("BGIC82100T:{year}"), "SIGNED_SUMMARY", "s.pdf", "application/pdf", 10);
    let (_, body) = app.post_as(Some(&school), CREATE, input).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_swapped_or_truncated_objects_are_detected() {
    let app = app().await;
    let school = app.login(SCHOOL).await;
    let pupil = pupil_ids(&app, &school).await.remove(0);
    let (one, two) = (pdf(200_000, 7), pdf(200_000, 8));
    let id1 = upload(&app, &school, &pupil, "one.pdf", &one).await;
    let id2 = upload(&app, &school, &pupil, "two.pdf", &two).await;
    let mut conn = app.db().conn().await;
    let key_of = async |conn: &mut diesel_async::AsyncPgConnection, id: &str| {
        let row = rows::find(conn, id.parse().unwrap()).await.unwrap().unwrap();
        object_store::path::Path::from(row.object_key.unwrap())
    };
    let (k1, k2) = (key_of(&mut conn, &id1).await, key_of(&mut conn, &id2).await);
    let raw = |k: &object_store::path::Path| {
        let store = app.files.store.clone();
        let k = k.clone();
        async move { store.get(&k).await.unwrap().bytes().await.unwrap().to_vec() }
    };
    let (raw1, raw2) = (raw(&k1).await, raw(&k2).await);
    let verify = async |conn: &mut diesel_async::AsyncPgConnection| {
        maintenance::verify(conn, &app.files.store, &app.files.keys.ring()).await.unwrap().problems
    };
    assert!(verify(&mut conn).await.is_empty());

    // One byte flipped in the first segment: the download fails instead of
    // serving altered content, and verify names the document.
    let mut flipped = raw1.clone();
    flipped[100] ^= 1;
    app.files.store.put(&k1, flipped.into()).await.unwrap();
    let resp = get(&app, &school, &id1, None).await;
    assert_eq!(resp.status(), 500);
    let problems = verify(&mut conn).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(&id1), "{problems:?}");

    // Swapped objects: each is sealed under its own id, so neither opens.
    app.files.store.put(&k1, raw2.clone().into()).await.unwrap();
    app.files.store.put(&k2, raw1.clone().into()).await.unwrap();
    assert_eq!(verify(&mut conn).await.len(), 2);
    assert_eq!(get(&app, &school, &id2, None).await.status(), 500);

    // Truncated by a segment: the length no longer matches, and the new last segment is not sealed as last.
    app.files.store.put(&k1, raw1[..raw1.len() - 65_552].to_vec().into()).await.unwrap();
    app.files.store.put(&k2, raw2.into()).await.unwrap();
    let problems = verify(&mut conn).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(&id1));
    let resp = get(&app, &school, &id1, Some("bytes=150000-")).await;
    assert_eq!(resp.status(), 500, "a range in the cut-off part is an error, not short content");
}

const REQUEST_DOCUMENTS: &str =
    "query($id: ID!) { enrolmentRequest(id: $id) { documents { id kind fileName sha256 } } }";

/// Ids of a request's documents as the caller sees them.
async fn request_documents(app: &TestApp, token: &str, request: &str) -> Vec<String> {
    let d = app.query_as(token, REQUEST_DOCUMENTS, json!({ "id": request })).await;
    let docs = d["enrolmentRequest"]["documents"].as_array().cloned().unwrap_or_default();
    assert!(docs.iter().all(|doc| doc["kind"] == "ENROLMENT_DOCUMENT"));
    docs.iter().map(|doc| doc["id"].as_str().unwrap().to_owned()).collect()
}

async fn download_status(app: &TestApp, token: &str, id: &str) -> u16 {
    get(app, token, id, None).await.status().as_u16()
}

/// A refugee minor's papers follow the request: the municipality and the hub
/// read them, the school only while the minor is proposed to it, the office
/// and other municipalities never; a transfer hands them to the new hub, and
/// a withdrawn request takes no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_documents_follow_their_request() {
    use crate::refugees::{
        ABBIATEGRASSO, CTI_AMBIT, CTI_CITY, DECLINE, MILANO, OFFICE_MI, PROPOSE, TAKE, TRANSFER, WITHDRAW, create,
        email_of, form, schools,
    };
    let app = app().await;
    let (start_school, ambit_school) = schools(app.db()).await;
    let town = app.login(ABBIATEGRASSO).await;
    let hub = app.login(CTI_AMBIT).await;
    let school = app.login(&email_of(&ambit_school)).await;
    let other_school = app.login(&email_of(&start_school)).await;
    let office = app.login(OFFICE_MI).await;
    let milano = app.login(MILANO).await;

    let (request, v, _) = create(&app, &town, form("Yana", "Hrytsenko", None)).await;
    let passport = pdf(90_000, 7);
    let doc = upload_of(&app, &town, &request, "ENROLMENT_DOCUMENT", "passaporto.pdf", &passport).await;
    for token in [&town, &hub] {
        assert_eq!(request_documents(&app, token, &request).await, std::slice::from_ref(&doc));
        assert_eq!(get(&app, token, &doc, None).await.bytes().await.unwrap().as_ref(), passport.as_slice());
    }
    // Not proposed to any school yet; the office monitors without papers; another town sees nothing.
    for token in [&school, &other_school, &office, &milano] {
        assert_eq!(download_status(&app, token, &doc).await, 404);
        let d = app.query_as(token, "query($id: ID!) { attachment(id: $id) { id } }", json!({ "id": doc })).await;
        assert!(d["attachment"].is_null());
    }
    let (_, body) = app.post_as(Some(&office), REQUEST_DOCUMENTS, json!({ "id": request })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    // Only those who may add papers do, and only to requests they see.
    let input = upload_input(&request, "ENROLMENT_DOCUMENT", "x.pdf", "application/pdf", 1000);
    for (token, code) in [(&milano, "NOT_FOUND"), (&school, "FORBIDDEN"), (&office, "FORBIDDEN")] {
        let (_, body) = app.post_as(Some(token), CREATE, input.clone()).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body}");
    }

    // Proposed to the school: it reads the papers, and the hub adds one.
    let d = app.query_as(&hub, TAKE, json!({ "id": request, "v": v })).await;
    let v = d["takeInCharge"]["version"].as_i64().unwrap();
    let d = app.query_as(&hub, PROPOSE, json!({ "id": request, "v": v, "s": ambit_school })).await;
    let v = d["proposeSchool"]["version"].as_i64().unwrap();
    let report = pdf(40_000, 8);
    let card = upload_of(&app, &hub, &request, "ENROLMENT_DOCUMENT", "pagella.pdf", &report).await;
    assert_eq!(request_documents(&app, &school, &request).await, [doc.clone(), card.clone()]);
    assert_eq!(get(&app, &school, &card, None).await.bytes().await.unwrap().as_ref(), report.as_slice());
    assert_eq!(download_status(&app, &other_school, &card).await, 404);

    // The school declines and loses the papers; the family moves and Milan's CTI gains them.
    let d = app.query_as(&school, DECLINE, json!({ "id": request, "v": v, "r": "no places" })).await;
    let v = d["declineEnrolment"]["version"].as_i64().unwrap();
    assert_eq!(download_status(&app, &school, &doc).await, 404);
    app.query_as(&hub, TRANSFER, json!({ "id": request, "v": v, "h": "CTI-MI-1", "r": "moved" })).await;
    assert_eq!(download_status(&app, &hub, &doc).await, 404, "the old hub keeps no papers");
    let cti = app.login(CTI_CITY).await;
    assert_eq!(request_documents(&app, &cti, &request).await, [doc.clone(), card.clone()]);
    assert_eq!(download_status(&app, &cti, &card).await, 200);

    // Withdrawn: no more papers, and nothing is left behind by the refusal.
    let d = app
        .query_as(&town, "query($id: ID!) { enrolmentRequest(id: $id) { version } }", json!({ "id": request }))
        .await;
    let v = d["enrolmentRequest"]["version"].as_i64().unwrap();
    app.query_as(&town, WITHDRAW, json!({ "id": request, "v": v, "r": "the family left" })).await;
    let (_, body) = app.post_as(Some(&town), CREATE, input).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}");
    let mut conn = app.db().conn().await;
    let stored = rows::committed_page(&mut conn, None, 100).await.unwrap();
    assert_eq!(stored.len(), 2, "no slot was opened by a refused request");
    assert!(stored.iter().all(|r| r.institution_code.is_none() && r.enrolment_request_id.is_some()));
    assert_eq!(object_keys(&app).await.len(), 2);
}

/// A rotation reaches a server that is running: `ambito keys rotate
/// --generate` adds a key to the file the server reads its keys from and
/// re-wraps every data key; the running server opens the re-wrapped
/// documents and wraps new uploads under the new key, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_reaches_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keys");
    let first = Keyring::add_generated(&key_file).unwrap();
    let keys = ambito::storage::keys::LiveKeys::watching(key_file.clone(), Keyring::load(&key_file).unwrap());
    let files = ambito::server::files(bucket(), keys, MAX_MIB);
    let options = Options { explorable: true, ..Default::default() };
    let app = TestApp::start_with(TestDb::demo().await, options, files).await;
    let school = app.login(SCHOOL).await;
    let pupil = pupil_ids(&app, &school).await.remove(0);
    let before = pdf(90_000, 7);
    let old = upload(&app, &school, &pupil, "prima.pdf", &before).await;

    // File times can be coarse: rotate a moment later.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ambito"))
        .env_remove("DATABASE_URL")
        .env("AMBITO_LOG", "warn")
        .args(["--database-url", &app.db().login_url(), "--keys-file", key_file.to_str().unwrap()])
        .args(["keys", "rotate", "--generate"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said} {}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("re-wrapped 1 data keys"), "{said}");
    let second = Keyring::load(&key_file).unwrap().current().id.clone();
    assert_ne!(second, first);

    // The re-wrapped document opens through the running server.
    let resp = get(&app, &school, &old, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), before.as_slice());
    // A new upload is wrapped under the new key.
    let new = upload(&app, &school, &pupil, "seconda.pdf", &pdf(80_000, 8)).await;
    let row = rows::find(&mut app.db().conn().await, uuid::Uuid::parse_str(&new).unwrap()).await.unwrap().unwrap();
    let kek = row.kek_id;
    assert_eq!(kek, second);
}
