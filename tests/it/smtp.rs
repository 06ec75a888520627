//! E-mail over SMTP, to a real SMTP server on loopback (Python's `smtpd`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ambito::mail::{Mailer, decode_quoted_printable};
use ambito::server::Options;
use serde_json::json;

use crate::harness::{PUBLIC_URL, TestApp, TestDb, demo_account};

/// Stops the SMTP server however the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// Multi-threaded: the test waits on the SMTP server's output with a blocking
// receive while the server it started sends the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_links_are_sent_over_smtp_when_configured() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new("python3")
        .args(["-u", "-W", "ignore", "-m", "smtpd", "-n", "-c", "DebuggingServer", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs the test SMTP server");
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Wait until it accepts connections.
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mailer = Mailer::smtp(&format!("smtp://127.0.0.1:{port}"), "Ambito <noreply@ambito.invalid>").unwrap();
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let app = TestApp::start(TestDb::demo().await, Options { mailer: Some(mailer), ..Default::default() }).await;
    let account = demo_account("comune.milano@ambito.invalid");
    let sent =
        app.query("mutation($e: String!) { requestPasswordReset(email: $e) }", json!({ "e": account.email })).await;
    assert_eq!(sent["requestPasswordReset"], true);

    let mut received = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline && !received.contains("END MESSAGE") {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            // The server prints each line of the message as a Python bytes literal: b'...'.
            let inner = ["b'", "b\""]
                .iter()
                .find_map(|q| line.strip_prefix(q).and_then(|l| l.strip_suffix(&q[1..])))
                .unwrap_or(&line);
            received.push_str(inner);
            received.push('\n');
        }
    }
    let message = decode_quoted_printable(&received);
    assert!(message.contains(&format!("To: {}", account.email)), "{message}");
    assert!(message.contains(&format!("{PUBLIC_URL}/reset-password#token=")), "{message}");
    assert!(message.contains("Subject: Ambito: impostazione della password"), "{message}");
}
