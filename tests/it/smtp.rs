//! E-mail over SMTP, to a real SMTP server on loopback: a small one written
//! here over tokio, speaking the protocol as a mail relay does (greeting,
//! EHLO, MAIL, RCPT, DATA with dot-stuffing, QUIT), so the test needs
//! nothing installed (Python's `smtpd` is gone from Python 3.12).

use std::time::Duration;

use ambito::mail::{Mailer, decode_quoted_printable};
use ambito::server::Options;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::harness::{PUBLIC_URL, TestApp, TestDb, demo_account};

/// One message as the server received it.
#[derive(Debug)]
struct Received {
    from: String,
    to: Vec<String>,
    data: String,
}

/// An SMTP server on a free loopback port; each message it accepts is sent
/// on the channel. It stops when the test's runtime ends.
async fn smtp_server() -> (u16, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test.invalid ESMTP\r\n").await?;
                let (mut from, mut to) = (String::new(), Vec::new());
                while let Some(line) = lines.next_line().await? {
                    let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                    match verb.as_str() {
                        "EHLO" | "HELO" => write.write_all(b"250-test.invalid\r\n250 8BITMIME\r\n").await?,
                        "MAIL" => {
                            from = line[line.find(':').map_or(0, |i| i + 1)..].trim().to_owned();
                            write.write_all(b"250 OK\r\n").await?
                        }
                        "RCPT" => {
                            to.push(line[line.find(':').map_or(0, |i| i + 1)..].trim().to_owned());
                            write.write_all(b"250 OK\r\n").await?
                        }
                        "DATA" => {
                            write.write_all(b"354 end with .\r\n").await?;
                            let mut data = String::new();
                            while let Some(l) = lines.next_line().await? {
                                if l == "." {
                                    break;
                                }
                                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                                data.push('\n');
                            }
                            let _ = tx.send(Received { from: from.clone(), to: std::mem::take(&mut to), data });
                            write.write_all(b"250 queued\r\n").await?
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await?;
                            break;
                        }
                        _ => write.write_all(b"250 OK\r\n").await?,
                    }
                }
                std::io::Result::Ok(())
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn reset_links_are_sent_over_smtp_when_configured() {
    let (port, mut inbox) = smtp_server().await;
    let mailer = Mailer::smtp(&format!("smtp://127.0.0.1:{port}"), "Ambito <noreply@ambito.invalid>").unwrap();
    let app = TestApp::start(TestDb::demo().await, Options { mailer: Some(mailer), ..Default::default() }).await;
    let account = demo_account("comune.milano@ambito.invalid");
    let sent =
        app.query("mutation($e: String!) { requestPasswordReset(email: $e) }", json!({ "e": account.email })).await;
    assert_eq!(sent["requestPasswordReset"], true);

    let got = tokio::time::timeout(Duration::from_secs(10), inbox.recv()).await.expect("a message within 10 s");
    let got = got.expect("the server is running");
    assert_eq!(got.from, "<noreply@ambito.invalid>");
    assert_eq!(got.to, [format!("<{}>", account.email)]);
    let message = decode_quoted_printable(&got.data);
    assert!(message.contains(&format!("To: {}", account.email)), "{message}");
    assert!(message.contains(&format!("{PUBLIC_URL}/reset-password#token=")), "{message}");
    assert!(message.contains("Subject: Ambito: impostazione della password"), "{message}");
}
