//! Outgoing e-mail: SMTP when configured, otherwise `.eml` files in an
//! outbox folder that a person can open (the demo's default).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>),
}

impl Mailer {
    /// SMTP from a URL such as `smtps://user:password@mail.example.org:465`.
    pub fn smtp(url: &str, from: &str) -> anyhow::Result<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .context("the SMTP URL is not valid (smtp://, smtps:// or smtp://…?tls=required)")?
            .build();
        Ok(Mailer { from: from.parse().context("the sender address")?, transport: Transport::Smtp(transport) })
    }

    /// `.eml` files in `dir`, one per message.
    pub fn outbox(dir: PathBuf, from: &str) -> anyhow::Result<Mailer> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating the outbox {}", dir.display()))?;
        Ok(Mailer {
            from: from.parse().context("the sender address")?,
            transport: Transport::Outbox(AsyncFileTransport::new(dir)),
        })
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        // UTF-8 plain text; lettre picks the transfer encoding (quoted-printable
        // for the long lines of links), which every mail client decodes.
        let message = self.to(to, subject)?.header(ContentType::TEXT_PLAIN).body(body)?;
        self.deliver(message).await
    }

    /// Plain text with a PDF attached (a receipt).
    pub async fn send_with_pdf(
        &self,
        to: &str,
        subject: &str,
        body: String,
        file_name: &str,
        pdf: Vec<u8>,
    ) -> anyhow::Result<()> {
        let pdf_type = ContentType::parse("application/pdf").context("the PDF content type")?;
        let parts = MultiPart::mixed()
            .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(body))
            .singlepart(Attachment::new(file_name.to_owned()).body(pdf, pdf_type));
        let message = self.to(to, subject)?.multipart(parts)?;
        self.deliver(message).await
    }

    fn to(&self, to: &str, subject: &str) -> anyhow::Result<lettre::message::MessageBuilder> {
        Ok(Message::builder().from(self.from.clone()).to(to.parse().context("the recipient address")?).subject(subject))
    }

    async fn deliver(&self, message: Message) -> anyhow::Result<()> {
        match &self.transport {
            Transport::Smtp(t) => t.send(message).await.map(drop).context("sending over SMTP"),
            Transport::Outbox(t) => t.send(message).await.map(drop).context("writing to the outbox"),
        }
    }
}

/// Sends in the background: a request's answer (and its timing) must not
/// depend on the mail server. The work starts a random 50 to 250 ms later,
/// once the answer is on its way: work that ran beside the answer would
/// slow it down only for addresses that have an account, a difference a
/// patient client can measure. A failure is logged with addresses blanked,
/// since an SMTP server's reply often echoes the recipient.
pub fn in_background<E: std::fmt::Debug>(
    what: &'static str,
    send: impl Future<Output = Result<(), E>> + Send + 'static,
) {
    let mut jitter = [0u8; 1];
    let _ = getrandom::fill(&mut jitter);
    let after = Duration::from_millis(50 + u64::from(jitter[0]) * 200 / 255);
    QUEUE.queued.inc();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let result = send.await;
        QUEUE.queued.dec();
        let outcome = match result {
            Ok(()) => "sent",
            Err(e) => {
                let reason = without_addresses(&format!("{e:?}"));
                tracing::error!(error = %reason, "sending a {what} e-mail failed");
                "failed"
            }
        };
        QUEUE.done.with_label_values(&[outcome]).inc();
    });
}

/// The process's background e-mail, for `/metrics`: messages waiting or
/// being sent, and those sent or failed since it started.
pub struct Queue {
    pub queued: prometheus::IntGauge,
    pub done: prometheus::IntCounterVec,
}

pub static QUEUE: std::sync::LazyLock<Queue> = std::sync::LazyLock::new(|| Queue {
    queued: prometheus::IntGauge::new("ambito_mail_queued", "E-mail messages waiting or being sent")
        .expect("valid metric"),
    done: prometheus::IntCounterVec::new(
        prometheus::Opts::new("ambito_mail_total", "E-mail messages sent or failed, by outcome"),
        &["outcome"],
    )
    .expect("valid metric"),
});

/// Text with every word that holds an `@` replaced, for log lines about
/// e-mail: no address reaches a log.
pub fn without_addresses(text: &str) -> String {
    text.split(' ').map(|w| if w.contains('@') { "<address>" } else { w }).collect::<Vec<_>>().join(" ")
}

/// Decodes a quoted-printable message body, as a mail client does (tests and tools).
pub fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_about_mail_name_no_address() {
        let reply = "permanent error (550): 5.1.1 <mario.rossi@istruzione.it>: Recipient address rejected";
        let clean = without_addresses(reply);
        assert!(!clean.contains('@') && clean.contains("Recipient address rejected"), "{clean}");
    }

    #[tokio::test]
    async fn the_outbox_holds_readable_messages() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::outbox(dir.path().to_owned(), "Ambito <noreply@ambito.invalid>").unwrap();
        let link = format!("https://ambito.example.test/reset-password#token={}", "A".repeat(43));
        mailer.send("bgic82100t@istruzione.it", "Prova", format!("Città: {link}\n")).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(files.len(), 1);
        assert!(files[0].path().extension().is_some_and(|e| e == "eml"));
        let text = decode_quoted_printable(&std::fs::read_to_string(files[0].path()).unwrap());
        assert!(text.contains(&link), "{text}");
        assert!(text.contains("Città"), "{text}");
        assert!(text.contains("To: bgic82100t@istruzione.it"), "{text}");
    }
}
