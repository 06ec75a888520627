//! Attachment benchmark: encrypted upload and download against plain
//! object_store put/get of the same bytes to the same Garage node, in one
//! run, interleaved; then the real `ambito serve` process streaming a large
//! file through HTTP in and out, with its resident memory sampled.
//!
//! `cargo bench --bench attachments` (sizes: `AMBITO_BENCH_MIB`, default
//! 512, and `AMBITO_BENCH_SERVER_MIB`, default 1024). Prints a Markdown report.

#[path = "../tests/it/garage.rs"]
#[allow(dead_code)]
mod garage;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ambito::storage::envelope::Envelope;
use ambito::storage::store::{self, Store};
use futures_util::StreamExt as _;
use object_store::ObjectStoreExt as _;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;

const MIB: u64 = 1 << 20;

fn env_mib(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `size` bytes made on the fly, a mebibyte at a time, never held whole: a
/// PDF marker, then pseudo-random bytes from a fresh seed. Like real scans
/// and PDFs they do not compress, and no two storage blocks are alike, not
/// even across rounds: Garage compresses and deduplicates blocks, so
/// repeated bytes would let the plain transfer skip work that ciphertext
/// (and any real document) cannot skip.
fn generated(size: u64) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).unwrap();
    futures_util::stream::unfold((0u64, u64::from_le_bytes(seed)), move |(sent, mut state)| async move {
        if sent >= size {
            return None;
        }
        let n = (size - sent).min(MIB) as usize;
        let mut block = Vec::with_capacity(MIB as usize);
        while block.len() < n {
            // splitmix64: fast, and every word differs.
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            block.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        block.truncate(n);
        if sent == 0 {
            let marker = b"%PDF-1.7\n";
            let m = marker.len().min(n);
            block[..m].copy_from_slice(&marker[..m]);
        }
        Some((Ok(block.into()), (sent + n as u64, state)))
    })
}

fn reader(size: u64) -> impl tokio::io::AsyncRead + Unpin + Send {
    tokio_util_reader(generated(size))
}

/// An `AsyncRead` over a stream of byte chunks.
fn tokio_util_reader(
    s: impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
) -> impl tokio::io::AsyncRead + Unpin + Send {
    struct R<S> {
        s: std::pin::Pin<Box<S>>,
        cur: bytes::Bytes,
    }
    impl<S: futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>>> tokio::io::AsyncRead for R<S> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            while self.cur.is_empty() {
                match self.s.as_mut().poll_next(cx) {
                    std::task::Poll::Ready(Some(Ok(b))) => self.cur = b,
                    std::task::Poll::Ready(Some(Err(e))) => return std::task::Poll::Ready(Err(e)),
                    std::task::Poll::Ready(None) => return std::task::Poll::Ready(Ok(())),
                    std::task::Poll::Pending => return std::task::Poll::Pending,
                }
            }
            let n = self.cur.len().min(buf.remaining());
            let chunk = self.cur.split_to(n);
            buf.put_slice(&chunk);
            std::task::Poll::Ready(Ok(()))
        }
    }
    R { s: Box::pin(s), cur: bytes::Bytes::new() }
}

async fn plain_put(store: &Store, path: &Path, size: u64) {
    // The same multipart settings as the sealed path: 8 MiB parts, two in flight.
    let mut w = BufWriter::with_capacity(store.clone(), path.clone(), 8 << 20).with_max_concurrency(2);
    let mut chunks = Box::pin(generated(size));
    while let Some(c) = chunks.next().await {
        w.write_all(&c.unwrap()).await.unwrap();
    }
    w.shutdown().await.unwrap();
}

async fn plain_get(store: &Store, path: &Path) -> u64 {
    let mut s = store.get(path).await.unwrap().into_stream();
    let mut n = 0;
    while let Some(c) = s.next().await {
        n += c.unwrap().len() as u64;
    }
    n
}

async fn sealed_put(store: &Store, path: &Path, id: [u8; 16], size: u64) -> Envelope {
    let env = Envelope::new(id);
    let part = store::put_part(store, path, env.clone(), size, 0, reader(size), |_| Ok(())).await.unwrap();
    assert!(part.complete);
    env
}

async fn sealed_get(store: &Store, path: &Path, env: &Envelope, size: u64) -> u64 {
    let header = store::header(store, path).await.unwrap();
    let env = env.with_header(&header).unwrap();
    let mut s = Box::pin(store::plaintext(store.clone(), path.clone(), env, size, 0..size));
    let mut n = 0;
    while let Some(c) = s.next().await {
        n += c.unwrap().len() as u64;
    }
    n
}

fn rate(size: u64, d: Duration) -> f64 {
    size as f64 / MIB as f64 / d.as_secs_f64()
}

/// CPU time a process has used so far (user and system), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses: utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let ticks: Vec<f64> = after.split_whitespace().skip(11).take(2).filter_map(|v| v.parse().ok()).collect();
    ticks.iter().sum::<f64>() / 100.0
}

/// The Garage node this benchmark started (its command line names our process's directory).
fn garage_pid() -> u32 {
    let mark = format!("ambito-garage-{}", std::process::id());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(&mark))
        })
        .expect("the benchmark's Garage node")
}

/// One timed transfer: its rate, and the CPU seconds per GiB that this
/// process and the Garage node spent on it.
#[derive(Clone, Copy, Default)]
struct Sample {
    rate: f64,
    client: f64,
    garage: f64,
}

/// Waits until the disk has the last transfer's bytes and Garage has
/// finished its background work for it, so that no transfer pays for the
/// one before it.
async fn settle(garage: u32) {
    unsafe { libc::sync() };
    for _ in 0..40 {
        let before = cpu_seconds(garage);
        tokio::time::sleep(Duration::from_millis(250)).await;
        if cpu_seconds(garage) - before < 0.02 {
            return;
        }
    }
}

async fn timed<F: std::future::Future<Output = ()>>(size: u64, garage: u32, f: F) -> Sample {
    settle(garage).await;
    let me = std::process::id();
    let (c0, g0, t) = (cpu_seconds(me), cpu_seconds(garage), Instant::now());
    f.await;
    let d = t.elapsed();
    let gib = size as f64 / (1u64 << 30) as f64;
    Sample { rate: rate(size, d), client: (cpu_seconds(me) - c0) / gib, garage: (cpu_seconds(garage) - g0) / gib }
}

/// The round with the median rate.
fn median_sample(mut v: Vec<Sample>) -> Sample {
    v.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    v[v.len() / 2]
}

async fn throughput(store: &Store, size: u64, rounds: usize) -> [Sample; 4] {
    let garage = garage_pid();
    let (mut pu, mut pd, mut su, mut sd) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let plain = Path::from(format!("bench/plain-{round}"));
        let sealed = Path::from(format!("bench/sealed-{round}"));
        pu.push(timed(size, garage, plain_put(store, &plain, size)).await);
        let mut env = None;
        su.push(
            timed(size, garage, async {
                env = Some(sealed_put(store, &sealed, *uuid::Uuid::new_v4().as_bytes(), size).await)
            })
            .await,
        );
        let env = env.expect("sealed above");
        pd.push(timed(size, garage, async { assert_eq!(plain_get(store, &plain).await, size) }).await);
        sd.push(timed(size, garage, async { assert_eq!(sealed_get(store, &sealed, &env, size).await, size) }).await);
        store.delete(&plain).await.unwrap();
        store.delete(&sealed).await.unwrap();
    }
    [median_sample(pu), median_sample(su), median_sample(pd), median_sample(sd)]
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_owned()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Samples a process's resident memory every 20 ms until stopped; keeps the peak.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                p.fetch_max(rss_kib(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Sampler { stop, peak, thread }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        self.peak.load(Ordering::SeqCst)
    }
}

struct Server {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM: the server shuts down gracefully and stops its embedded cluster.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_server(s3: &ambito::storage::store::S3Settings, max_mib: u64) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_ambito"))
        .args(["--data-dir"])
        .arg(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--max-upload-mib", &max_mib.to_string()])
        .env_remove("DATABASE_URL")
        .env("AMBITO_LOG", "warn")
        .env("AMBITO_S3_ENDPOINT", &s3.endpoint)
        .env("AMBITO_S3_REGION", &s3.region)
        .env("AMBITO_S3_BUCKET", &s3.bucket)
        .env("AMBITO_S3_ACCESS_KEY", &s3.access_key)
        .env("AMBITO_S3_SECRET_KEY", &s3.secret_key)
        .env("AMBITO_S3_ALLOW_HTTP", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting ambito serve");
    // Owned at once: however this ends, dropping it stops the process.
    let server = Server { child, base: format!("http://127.0.0.1:{port}"), dir };
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if http.get(format!("{}/ready", server.base)).send().await.is_ok_and(|r| r.status().is_success())
            && server.dir.path().join("demo-accounts.json").exists()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("ambito serve did not become ready");
}

async fn gql(http: &reqwest::Client, base: &str, token: Option<&str>, query: &str, vars: Value) -> Value {
    let mut req = http.post(format!("{base}/graphql")).json(&json!({ "query": query, "variables": vars }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let body: Value = req.send().await.unwrap().json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// Streams a file of `size` bytes through the real server, in and out;
/// returns (idle RSS, peak during upload, peak during download) in KiB and
/// the two durations.
async fn through_server(server: &Server, size: u64) -> (u64, u64, u64, Duration, Duration) {
    let http = reqwest::Client::new();
    let accounts: Vec<Value> =
        serde_json::from_slice(&std::fs::read(server.dir.path().join("demo-accounts.json")).unwrap()).unwrap();
    let school = accounts.iter().find(|a| a["role"] == "school").expect("a demo school");
    let login = gql(
        &http,
        &server.base,
        None,
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        json!({ "e": school["email"], "p": school["password"] }),
    )
    .await;
    let token = login["login"]["token"].as_str().unwrap().to_owned();
    let pupils =
        gql(&http, &server.base, Some(&token), "{ pupils(first: 1) { edges { node { id } } } }", json!({})).await;
    let pupil = pupils["pupils"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();
    let slot = gql(
        &http,
        &server.base,
        Some(&token),
        "mutation($i: CreateUploadInput!) { createUpload(input: $i) { attachment { id } uploadUrl } }",
        json!({ "i": { "parentId": pupil, "kind": "CERTIFICATION", "fileName": "big.pdf",
                       "contentType": "application/pdf", "size": size } }),
    )
    .await;
    let id = slot["createUpload"]["attachment"]["id"].as_str().unwrap().to_owned();
    let url = format!("{}{}", server.base, slot["createUpload"]["uploadUrl"].as_str().unwrap());
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kib(pid);

    let sampler = Sampler::start(pid);
    let t = Instant::now();
    let resp =
        http.put(&url).bearer_auth(&token).body(reqwest::Body::wrap_stream(generated(size))).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let up = t.elapsed();
    let peak_up = sampler.finish();

    let sampler = Sampler::start(pid);
    let t = Instant::now();
    let resp = http.get(format!("{}/attachments/{id}", server.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut n = 0u64;
    while let Some(c) = body.next().await {
        n += c.unwrap().len() as u64;
    }
    assert_eq!(n, size);
    let down = t.elapsed();
    (idle, peak_up, sampler.finish(), up, down)
}

/// Sealing (with SHA-256) and opening in memory, no I/O: the CPU cost that
/// encryption adds to every byte, in MiB/s on one core.
fn cpu_only(size: u64) -> (f64, f64) {
    let block: Vec<u8> = (0..MIB as usize).map(|i| (i * 7919 % 251) as u8).collect();
    let env = Envelope::new(*uuid::Uuid::new_v4().as_bytes());
    let t = Instant::now();
    let mut sealer = ambito::storage::envelope::Sealer::new(env.clone(), size, 0);
    let mut sha = <sha2::Sha256 as sha2::Digest>::new();
    let mut sealed = Vec::with_capacity(64 * MIB as usize);
    let mut kept = 0usize;
    let mut out = Vec::with_capacity(2 * MIB as usize);
    for _ in 0..size / MIB {
        sha2::Digest::update(&mut sha, &block);
        out.clear();
        sealer.push(&block, &mut out).unwrap();
        // Keep the first 64 MiB of ciphertext to time the opening.
        if sealed.len() + out.len() <= 64 * MIB as usize {
            sealed.extend_from_slice(&out);
            kept += block.len();
        }
    }
    let seal = rate(size, t.elapsed());
    let header = &sealed[..ambito::storage::envelope::HEADER];
    let opened = env.with_header(header).unwrap();
    let t = Instant::now();
    let segments = kept as u64 / ambito::storage::envelope::SEGMENT as u64;
    for i in 0..segments {
        let span = ambito::storage::envelope::segment_span(size, i);
        opened.unseal_in_place(i as u32, false, &mut sealed[span.start as usize..span.end as usize]).unwrap();
    }
    (seal, rate(kept as u64, t.elapsed()))
}

#[tokio::main]
async fn main() {
    let size = env_mib("AMBITO_BENCH_MIB", 512) * MIB;
    let server_size = env_mib("AMBITO_BENCH_SERVER_MIB", 1024) * MIB;
    let s3 = garage::s3();
    let store = store::s3(&s3).unwrap();
    let rounds = 5;
    let [pu, su, pd, sd] = throughput(&store, size, rounds).await;
    let (seal_cpu, open_cpu) = cpu_only(size);

    let server = start_server(&s3, server_size / MIB + 16).await;
    let (idle, peak_up, peak_down, up, down) = through_server(&server, server_size).await;
    drop(server);

    println!("## Attachments (Garage on loopback, {} MiB, median of {rounds} interleaved rounds)\n", size / MIB);
    println!("| | plain object_store | encrypted (Ambito) | ratio |");
    println!("|---|---:|---:|---:|");
    println!("| upload | {:.0} MiB/s | {:.0} MiB/s | {:.2} |", pu.rate, su.rate, su.rate / pu.rate);
    println!("| download | {:.0} MiB/s | {:.0} MiB/s | {:.2} |", pd.rate, sd.rate, sd.rate / pd.rate);
    println!();
    println!("CPU seconds per GiB moved (client / Garage), same rounds:\n");
    println!("| | plain | encrypted |");
    println!("|---|---:|---:|");
    for (what, p, s) in [("upload", pu, su), ("download", pd, sd)] {
        println!("| {what} | {:.2} / {:.2} | {:.2} / {:.2} |", p.client, p.garage, s.client, s.garage);
    }
    println!();
    println!("In memory, one core, no I/O: sealing with SHA-256 {seal_cpu:.0} MiB/s, opening {open_cpu:.0} MiB/s.");
    println!();
    println!("## `ambito serve` streaming {} MiB through HTTP (PUT then GET)\n", server_size / MIB);
    println!("| | time | throughput | peak RSS | growth over idle ({} MiB) |", idle / 1024);
    println!("|---|---:|---:|---:|---:|");
    for (what, d, peak) in [("upload", up, peak_up), ("download", down, peak_down)] {
        println!(
            "| {what} | {:.1} s | {:.0} MiB/s | {} MiB | {} MiB |",
            d.as_secs_f64(),
            rate(server_size, d),
            peak / 1024,
            peak.saturating_sub(idle) / 1024
        );
    }
}
