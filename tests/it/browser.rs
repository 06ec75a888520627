//! A real headless Chromium driven over the DevTools protocol (a WebSocket
//! with JSON commands), for the pages Ambito serves to browsers. It stops with
//! the test process, however that ends.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Chromium: `AMBITO_CHROMIUM`, or the first of the usual names on the path.
fn binary() -> String {
    if let Ok(path) = std::env::var("AMBITO_CHROMIUM") {
        return path;
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            Command::new("sh").args(["-c", &format!("command -v {name}")]).output().is_ok_and(|o| o.status.success())
        })
        .expect("no Chromium: tests/run installs it (apt-get install chromium), or set AMBITO_CHROMIUM")
        .to_owned()
}

pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    page: Socket,
    next_id: u64,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// A fresh browser (its own empty profile) with one blank page.
    pub async fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let port_file = profile.path().join("DevToolsActivePort");
        let mut child = Command::new(binary())
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--window-size=1280,860",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting Chromium");
        // Stop it when the test process is gone, however that happens.
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; kill -9 {c} 2>/dev/null",
            pid = std::process::id(),
            c = child.id()
        );
        Command::new("setsid").args(["-f", "sh", "-c", &script]).status().expect("starting the browser watchdog");
        // Chromium writes the port it chose to its profile once it listens.
        let mut port = None;
        for _ in 0..300 {
            if let Some(p) =
                std::fs::read_to_string(&port_file).ok().and_then(|t| t.lines().next()?.parse::<u16>().ok())
            {
                port = Some(p);
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("Chromium exited at start-up: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let port = port.expect("Chromium did not open its DevTools port within 30 s");
        let targets: Value =
            reqwest::get(format!("http://127.0.0.1:{port}/json/list")).await.unwrap().json().await.unwrap();
        let url = targets
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let (page, _) = tokio_tungstenite::connect_async(url).await.expect("connecting to the page");
        let mut browser = Browser { child, _profile: profile, page, next_id: 0 };
        browser.call("Page.enable", json!({})).await;
        browser.call("Runtime.enable", json!({})).await;
        browser
    }

    /// Sends one command and returns its result (events in between are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let text = json!({ "id": id, "method": method, "params": params }).to_string();
        self.page.send(Message::text(text)).await.unwrap();
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(30), self.page.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer from Chromium in 30 s"))
                .expect("the DevTools socket closed")
                .unwrap();
            let Message::Text(text) = msg else { continue };
            let reply: Value = serde_json::from_str(&text).unwrap();
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    pub async fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
    }

    /// The value of a JavaScript expression in the page (promises awaited).
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }))
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits up to 30 s for an expression to be truthy; returns its value.
    pub async fn wait_for(&mut self, expression: &str) -> Value {
        let probe = format!("(() => {{ try {{ return ({expression}) || null; }} catch (e) {{ return null; }} }})()");
        for _ in 0..300 {
            let v = self.eval(&probe).await;
            if !v.is_null() {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let shot = self.screenshot("timed-out.png").await;
        let text = self.eval("document.body.innerText.slice(0, 2000)").await;
        panic!("waited 30 s for {expression}; the page shows ({}):\n{}", shot.display(), text.as_str().unwrap_or(""));
    }

    /// Types text into the focused element, as a keyboard would commit it.
    pub async fn type_text(&mut self, text: &str) {
        self.call("Input.insertText", json!({ "text": text })).await;
    }

    /// A screenshot of the page, kept under `target/test-artifacts/` as `name`.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" })).await;
        let png = base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("test-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}
