//! Where sealed objects live: S3-compatible storage in production (Garage,
//! MinIO, AWS), the local file system for the embedded default. Plaintext
//! only ever exists in memory, one segment at a time.

use std::ops::Range;
use std::sync::Arc;

use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt as _};

use futures_util::{StreamExt as _, TryStreamExt as _};

use super::envelope::{self, Envelope, EnvelopeError, HEADER, SEGMENT, Sealer, TAG, part_span};
use crate::rules::files::SNIFF;

pub type Store = Arc<dyn ObjectStore>;

/// An S3-compatible bucket.
#[derive(Clone)]
pub struct S3Settings {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// Plain HTTP to the endpoint, only when configured (a node on loopback).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// How long a storage call keeps retrying before the request that needs it
/// fails: an outage is told to the client in seconds (503, its upload's
/// offset kept), not after the library's default of three minutes.
pub const STORAGE_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

pub fn s3(s: &S3Settings) -> anyhow::Result<Store> {
    let retry = object_store::RetryConfig { max_retries: 4, retry_timeout: STORAGE_RETRY, ..Default::default() };
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&s.endpoint)
        .with_region(&s.region)
        .with_bucket_name(&s.bucket)
        .with_access_key_id(&s.access_key)
        .with_secret_access_key(&s.secret_key)
        .with_virtual_hosted_style_request(false)
        .with_allow_http(s.allow_http)
        .with_retry(retry)
        .build()?;
    Ok(Arc::new(store))
}

pub fn local(dir: &std::path::Path) -> anyhow::Result<Store> {
    std::fs::create_dir_all(dir)?;
    Ok(Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?))
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the file has more bytes than the {0} declared")]
    TooLarge(u64),
    #[error("{0}")]
    Content(String),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("object storage: {0}")]
    Storage(#[from] object_store::Error),
    #[error("reading the upload: {0}")]
    Read(#[from] std::io::Error),
}

/// What a stored file is: its plaintext size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    pub sha256: [u8; 32],
}

/// The bytes one request delivered of a file, sealed into one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Whole segments stored; 0 means no object was left.
    pub segments: u64,
    /// The file's last segment is among them.
    pub complete: bool,
    /// SHA-256 of the whole file, when this one part holds all of it.
    pub sha256: Option<[u8; 32]>,
    /// The sender stopped before the end (a dropped connection): the whole
    /// segments received are kept, for the client to resume after them.
    pub interrupted: bool,
}

/// A multipart writer: parts of 8 MiB (above S3's 5 MiB minimum), at most
/// two in flight, so an upload of any size holds a few tens of MiB at most.
fn writer(store: &Store, path: &Path) -> BufWriter {
    BufWriter::with_capacity(Arc::clone(store), path.clone(), 8 << 20).with_max_concurrency(2)
}

/// Sealed bytes gathered before they are handed to the multipart writer,
/// which takes them as they are, without another copy.
const HANDOFF: usize = 1 << 20;

/// Plaintext in, sealed object out: a [`Sealer`] in front of the multipart
/// writer, hashing the plaintext on the way when asked to.
struct SealedWriter {
    writer: BufWriter,
    sealer: Sealer,
    sha: Option<Sha256>,
    out: Vec<u8>,
}

impl SealedWriter {
    fn new(store: &Store, path: &Path, sealer: Sealer, hash: bool) -> SealedWriter {
        SealedWriter { writer: writer(store, path), sealer, sha: hash.then(Sha256::new), out: Self::buffer() }
    }

    fn buffer() -> Vec<u8> {
        Vec::with_capacity(HANDOFF + 2 * (SEGMENT + TAG))
    }

    async fn push(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        if let Some(h) = &mut self.sha {
            h.update(bytes);
        }
        self.sealer.push(bytes, &mut self.out)?;
        if self.out.len() >= HANDOFF {
            self.hand_off().await?;
        }
        Ok(())
    }

    async fn hand_off(&mut self) -> Result<(), StoreError> {
        let out = std::mem::replace(&mut self.out, Self::buffer());
        if !out.is_empty() {
            self.writer.put(out.into()).await?;
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<Option<Sha256>, StoreError> {
        self.hand_off().await?;
        // The writer's last upload fails as an `io::Error`: the store's own
        // error inside it tells an outage from a broken sender.
        self.writer.shutdown().await.map_err(|e| {
            if e.get_ref().is_some_and(|inner| inner.is::<object_store::Error>()) {
                let inner = e.into_inner().expect("checked above").downcast::<object_store::Error>();
                StoreError::Storage(*inner.expect("checked above"))
            } else {
                StoreError::Read(e)
            }
        })?;
        Ok(self.sha)
    }

    async fn abort(mut self) {
        let _ = self.writer.abort().await;
    }
}

/// Bytes read from the sender at a time.
const READ: usize = 4 * SEGMENT;

/// Seals the bytes of a file of `size` bytes that `reader` delivers,
/// starting at segment `first`, into the object `path`, as they stream.
/// Starting at the file's beginning, `check` sees its first bytes before
/// anything is stored. More bytes than the file has, refused content or a
/// storage failure leave no object; a sender that stops early leaves the
/// whole segments it sent.
#[tracing::instrument(level = "debug", name = "storage.put", skip_all, fields(otel.kind = "client", object = %path))]
pub async fn put_part(
    store: &Store,
    path: &Path,
    envelope: Envelope,
    size: u64,
    first: u64,
    mut reader: impl AsyncRead + Unpin,
    check: impl FnOnce(&[u8]) -> Result<(), String>,
) -> Result<Part, StoreError> {
    let mut sink = SealedWriter::new(store, path, Sealer::new(envelope, size, first), first == 0);
    let mut check = (first == 0).then_some(check);
    let sniff = (SNIFF as u64).min(size) as usize;
    let mut head = Vec::with_capacity(sniff);
    let mut buf = vec![0u8; READ];
    let mut interrupted = false;
    let outcome: Result<(), StoreError> = async {
        sink.push(&[]).await?;
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(_) => {
                    interrupted = true;
                    break;
                }
            };
            let mut bytes = &buf[..n];
            if check.is_some() {
                let take = (sniff - head.len()).min(bytes.len());
                head.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if head.len() < sniff {
                    continue;
                }
                (check.take().expect("checked above"))(&head).map_err(StoreError::Content)?;
                sink.push(&std::mem::take(&mut head)).await?;
            }
            sink.push(bytes).await?;
        }
        if let Some(c) = check.take()
            && (!interrupted || head.len() == sniff)
        {
            c(&head).map_err(StoreError::Content)?;
            sink.push(&head).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        sink.abort().await;
        return Err(match e {
            StoreError::Envelope(EnvelopeError::TooLarge) => StoreError::TooLarge(size),
            e => e,
        });
    }
    let segments = sink.sealer.sealed();
    if segments == 0 {
        sink.abort().await;
        return Ok(Part { segments, complete: false, sha256: None, interrupted: true });
    }
    let complete = sink.sealer.complete();
    let sha = sink.finish().await?;
    let sha256 = sha.filter(|_| complete).map(|h| h.finalize().into());
    Ok(Part { segments, complete, sha256, interrupted: interrupted || !complete })
}

/// An object holding segments `first..=last` of a file of `size` bytes.
#[derive(Debug, Clone)]
pub struct Piece {
    pub path: Path,
    pub first: u64,
    pub last: u64,
}

/// Joins the parts of a resumed upload into one object at `path`, checking
/// every segment and computing the file's SHA-256 on the way; the new
/// object is sealed under a fresh nonce prefix. Memory stays at a batch.
#[tracing::instrument(level = "debug", name = "storage.join", skip_all, fields(otel.kind = "client", object = %path))]
pub async fn join_parts(
    store: &Store,
    key: &Envelope,
    size: u64,
    parts: &[Piece],
    path: &Path,
) -> Result<Stored, StoreError> {
    let mut sink = SealedWriter::new(store, path, Sealer::new(key.fresh(), size, 0), true);
    let outcome: Result<(), StoreError> = async {
        sink.push(&[]).await?;
        for p in parts {
            let env = key.with_header(&header(store, &p.path).await?)?;
            let mut segments =
                std::pin::pin!(decrypted(store.clone(), p.path.clone(), env, size, p.first, p.first..=p.last));
            while let Some(segment) = segments.next().await {
                sink.push(&segment?.1).await?;
            }
        }
        if !sink.sealer.complete() {
            return Err(EnvelopeError::Segment.into());
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        sink.abort().await;
        return Err(e);
    }
    let sha = sink.finish().await?.expect("hashed");
    Ok(Stored { size, sha256: sha.finalize().into() })
}

/// The object's header, to open its envelope.
#[tracing::instrument(level = "debug", name = "storage.head", skip_all, fields(otel.kind = "client", object = %path))]
pub async fn header(store: &Store, path: &Path) -> Result<Vec<u8>, StoreError> {
    Ok(store.get_range(path, 0..HEADER as u64).await?.to_vec())
}

/// Segments fetched and opened together.
const BATCH: u64 = 16;

/// Batches of ciphertext fetched ahead: while one batch is opened, the
/// next ones arrive, so the network and the cipher work at the same time.
const AHEAD: usize = 2;

/// The ciphertext of segments `first..=last`.
struct Batch {
    first: u64,
    last: u64,
    bytes: bytes::BytesMut,
}

/// The plaintext of segments `segs` of an object that holds segments
/// `base..` of a file of `size` bytes, one segment at a time with its
/// index. One streamed GET for the whole span, read ahead by a task of its
/// own; each batch is opened where it lies and handed on as slices of it,
/// so memory stays at a few batches whatever the size.
fn decrypted(
    store: Store,
    path: Path,
    envelope: Envelope,
    size: u64,
    base: u64,
    segs: std::ops::RangeInclusive<u64>,
) -> impl futures_util::Stream<Item = Result<(u64, bytes::Bytes), StoreError>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(AHEAD);
    // In the caller's span: the reading task's own span is made when it first runs.
    tokio::spawn(tracing::Instrument::in_current_span(fetch(store, path, size, base, segs, tx)));
    let total = envelope::segments(size);
    futures_util::stream::try_unfold(rx, move |mut rx| {
        let envelope = envelope.clone();
        async move {
            let Some(batch) = rx.recv().await else { return Ok::<_, StoreError>(None) };
            let Batch { first, last, mut bytes } = batch?;
            let mut opened = Vec::with_capacity((last - first + 1) as usize);
            let mut at = 0;
            for i in first..=last {
                let len = (part_span(size, base, i).end - part_span(size, base, i).start) as usize;
                let index = u32::try_from(i).map_err(|_| EnvelopeError::TooLarge)?;
                let plain = envelope.unseal_in_place(index, i + 1 == total, &mut bytes[at..at + len])?;
                opened.push((i, at..at + plain));
                at += len;
            }
            let bytes = bytes.freeze();
            let segments = opened.into_iter().map(move |(i, span)| Ok::<_, StoreError>((i, bytes.slice(span))));
            Ok(Some((futures_util::stream::iter(segments), rx)))
        }
    })
    .try_flatten()
}

/// Reads segments `segs` of the object into batches and sends them on,
/// until the receiver is gone; the first failure is sent and ends it.
#[tracing::instrument(level = "debug", name = "storage.get", skip_all, fields(otel.kind = "client", object = %path))]
async fn fetch(
    store: Store,
    path: Path,
    size: u64,
    base: u64,
    segs: std::ops::RangeInclusive<u64>,
    tx: tokio::sync::mpsc::Sender<Result<Batch, StoreError>>,
) {
    let (first, last) = (*segs.start(), *segs.end());
    let outcome: Result<(), StoreError> = async {
        if first > last {
            return Ok(());
        }
        let span = part_span(size, base, first).start..part_span(size, base, last).end;
        let options = object_store::GetOptions { range: Some(span.into()), ..Default::default() };
        let mut body = store.get_opts(&path, options).await?.into_stream();
        let mut rest = bytes::Bytes::new();
        let mut next = first;
        while next <= last {
            let upto = (next + BATCH - 1).min(last);
            let need = (part_span(size, base, upto).end - part_span(size, base, next).start) as usize;
            let mut batch = bytes::BytesMut::with_capacity(need);
            while batch.len() < need {
                if rest.is_empty() {
                    // The object ends early: truncated.
                    rest = body.next().await.ok_or(EnvelopeError::Segment)??;
                }
                let take = (need - batch.len()).min(rest.len());
                batch.extend_from_slice(&rest.split_to(take));
            }
            if tx.send(Ok(Batch { first: next, last: upto, bytes: batch })).await.is_err() {
                return Ok(());
            }
            next = upto + 1;
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        let _ = tx.send(Err(e)).await;
    }
}

/// Plaintext bytes `range` of a stored file of `size` bytes, as a stream of
/// chunks: only the segments that hold them are fetched and decrypted.
pub fn plaintext(
    store: Store,
    path: Path,
    envelope: Envelope,
    size: u64,
    range: Range<u64>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, StoreError>> + Send + 'static {
    // An empty range asks for no segment: the stream ends at once.
    #[allow(clippy::reversed_empty_ranges)]
    let segs = if range.is_empty() { 1..=0 } else { envelope::segments_for(&range) };
    decrypted(store, path, envelope, size, 0, segs).map(move |segment| {
        let (index, plain) = segment?;
        let start = index * SEGMENT as u64;
        let from = range.start.saturating_sub(start) as usize;
        let to = ((range.end - start) as usize).min(plain.len());
        Ok(plain.slice(from..to))
    })
}

/// Plaintext bytes `range` of a stored file of `size` bytes, in memory.
pub async fn read_range(
    store: &Store,
    path: &Path,
    envelope: &Envelope,
    size: u64,
    range: Range<u64>,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity((range.end - range.start) as usize);
    let mut chunks = std::pin::pin!(plaintext(store.clone(), path.clone(), envelope.clone(), size, range));
    while let Some(c) = chunks.next().await {
        out.extend_from_slice(&c?);
    }
    Ok(out)
}

/// Decrypts a whole stored file segment by segment, handing each piece of
/// plaintext to `sink`, and returns its SHA-256: memory stays at a few batches.
pub async fn read_each(
    store: &Store,
    path: &Path,
    envelope: &Envelope,
    size: u64,
    mut sink: impl FnMut(&[u8]),
) -> Result<[u8; 32], StoreError> {
    let mut sha = Sha256::new();
    // Every segment, the empty last one of an empty file included, must open.
    let mut segments = std::pin::pin!(decrypted(
        store.clone(),
        path.clone(),
        envelope.clone(),
        size,
        0,
        0..=envelope::segments(size) - 1
    ));
    while let Some(segment) = segments.next().await {
        let (_, plain) = segment?;
        sha.update(&plain);
        sink(&plain);
    }
    Ok(sha.finalize().into())
}
