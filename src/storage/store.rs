//! Where sealed objects live: S3-compatible storage in production (Garage,
//! MinIO, AWS), the local file system for the embedded default. Plaintext
//! only ever exists in memory, one segment at a time.

use std::ops::Range;
use std::sync::Arc;

use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use futures_util::StreamExt as _;

use super::envelope::{self, Envelope, EnvelopeError, HEADER, SEGMENT, Sealer, part_span};
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

pub fn s3(s: &S3Settings) -> anyhow::Result<Store> {
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&s.endpoint)
        .with_region(&s.region)
        .with_bucket_name(&s.bucket)
        .with_access_key_id(&s.access_key)
        .with_secret_access_key(&s.secret_key)
        .with_virtual_hosted_style_request(false)
        .with_allow_http(s.allow_http)
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

/// Seals the bytes of a file of `size` bytes that `reader` delivers,
/// starting at segment `first`, into the object `path`, as they stream.
/// Starting at the file's beginning, `check` sees its first bytes before
/// anything is stored. More bytes than the file has, refused content or a
/// storage failure leave no object; a sender that stops early leaves the
/// whole segments it sent.
pub async fn put_part(
    store: &Store,
    path: &Path,
    envelope: Envelope,
    size: u64,
    first: u64,
    mut reader: impl AsyncRead + Unpin,
    check: impl FnOnce(&[u8]) -> Result<(), String>,
) -> Result<Part, StoreError> {
    let mut writer = writer(store, path);
    let mut sealer = Sealer::new(envelope, size, first);
    let mut sha = (first == 0).then(Sha256::new);
    let mut check = (first == 0).then_some(check);
    let sniff = (SNIFF as u64).min(size) as usize;
    let mut head = Vec::with_capacity(sniff);
    let mut buf = vec![0u8; SEGMENT];
    let mut interrupted = false;
    let outcome: Result<(), StoreError> = async {
        writer.write_all(&sealer.push(&[])?).await?;
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
                push(&mut writer, &mut sealer, sha.as_mut(), &std::mem::take(&mut head)).await?;
            }
            push(&mut writer, &mut sealer, sha.as_mut(), bytes).await?;
        }
        if let Some(c) = check.take()
            && (!interrupted || head.len() == sniff)
        {
            c(&head).map_err(StoreError::Content)?;
            push(&mut writer, &mut sealer, sha.as_mut(), &head).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        let _ = writer.abort().await;
        return Err(match e {
            StoreError::Envelope(EnvelopeError::TooLarge) => StoreError::TooLarge(size),
            e => e,
        });
    }
    let segments = sealer.sealed();
    if segments == 0 {
        let _ = writer.abort().await;
        return Ok(Part { segments, complete: false, sha256: None, interrupted: true });
    }
    writer.shutdown().await?;
    let complete = sealer.complete();
    let sha256 = sha.filter(|_| complete).map(|h| h.finalize().into());
    Ok(Part { segments, complete, sha256, interrupted: interrupted || !complete })
}

async fn push(
    writer: &mut BufWriter,
    sealer: &mut Sealer,
    sha: Option<&mut Sha256>,
    bytes: &[u8],
) -> Result<(), StoreError> {
    if let Some(h) = sha {
        h.update(bytes);
    }
    writer.write_all(&sealer.push(bytes)?).await?;
    Ok(())
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
pub async fn join_parts(
    store: &Store,
    key: &Envelope,
    size: u64,
    parts: &[Piece],
    path: &Path,
) -> Result<Stored, StoreError> {
    let mut writer = writer(store, path);
    let mut sealer = Sealer::new(key.fresh(), size, 0);
    let mut sha = Sha256::new();
    let outcome: Result<(), StoreError> = async {
        writer.write_all(&sealer.push(&[])?).await?;
        for p in parts {
            let env = key.with_header(&header(store, &p.path).await?)?;
            let mut chunks =
                std::pin::pin!(decrypted(store.clone(), p.path.clone(), env, size, p.first, p.first..=p.last));
            while let Some(chunk) = chunks.next().await {
                push(&mut writer, &mut sealer, Some(&mut sha), &chunk?.1).await?;
            }
        }
        if !sealer.complete() {
            return Err(EnvelopeError::Segment.into());
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        let _ = writer.abort().await;
        return Err(e);
    }
    writer.shutdown().await?;
    Ok(Stored { size, sha256: sha.finalize().into() })
}

/// The object's header, to open its envelope.
pub async fn header(store: &Store, path: &Path) -> Result<Vec<u8>, StoreError> {
    Ok(store.get_range(path, 0..HEADER as u64).await?.to_vec())
}

/// Segments decrypted per chunk handed on: fewer, larger chunks, still bounded memory.
const BATCH: u64 = 16;

/// The plaintext of segments `segs` of an object that holds segments
/// `base..` of a file of `size` bytes, in chunks of up to [`BATCH`]
/// segments, each with the index of its first segment. One streamed GET
/// for the whole span: no round trip per chunk, and memory stays at a chunk
/// whatever the size.
fn decrypted(
    store: Store,
    path: Path,
    envelope: Envelope,
    size: u64,
    base: u64,
    segs: std::ops::RangeInclusive<u64>,
) -> impl futures_util::Stream<Item = Result<(u64, Vec<u8>), StoreError>> + Send + 'static {
    struct State {
        body: Option<futures_util::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>>,
        buf: Vec<u8>,
        next: u64,
    }
    let (first, last) = (*segs.start(), *segs.end());
    let total = envelope::segments(size);
    futures_util::stream::try_unfold(State { body: None, buf: Vec::new(), next: first }, move |mut st| {
        let (store, path, envelope) = (store.clone(), path.clone(), envelope.clone());
        async move {
            if st.next > last {
                return Ok(None);
            }
            if st.body.is_none() {
                let span = part_span(size, base, first).start..part_span(size, base, last).end;
                let options = object_store::GetOptions { range: Some(span.into()), ..Default::default() };
                st.body = Some(store.get_opts(&path, options).await?.into_stream());
            }
            let upto = (st.next + BATCH - 1).min(last);
            let need = (part_span(size, base, upto).end - part_span(size, base, st.next).start) as usize;
            let body = st.body.as_mut().expect("opened above");
            while st.buf.len() < need {
                match body.next().await {
                    Some(chunk) => st.buf.extend_from_slice(&chunk?),
                    // The object ends early: truncated.
                    None => return Err(EnvelopeError::Segment.into()),
                }
            }
            let mut plain = Vec::with_capacity(((upto - st.next + 1) as usize) * SEGMENT);
            let mut at = 0;
            for i in st.next..=upto {
                let len = (part_span(size, base, i).end - part_span(size, base, i).start) as usize;
                let index = u32::try_from(i).map_err(|_| EnvelopeError::TooLarge)?;
                plain.extend(envelope.unseal(index, i + 1 == total, &st.buf[at..at + len])?);
                at += len;
            }
            st.buf.drain(..need);
            let chunk = (st.next, plain);
            st.next = upto + 1;
            Ok(Some((chunk, st)))
        }
    })
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
    decrypted(store, path, envelope, size, 0, segs).map(move |chunk| {
        let (first, plain) = chunk?;
        let start = first * SEGMENT as u64;
        let from = range.start.saturating_sub(start) as usize;
        let to = ((range.end - start) as usize).min(plain.len());
        Ok(bytes::Bytes::from(plain).slice(from..to))
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

/// Decrypts a whole stored file batch by batch, handing each piece of
/// plaintext to `sink`, and returns its SHA-256: memory stays at a batch.
pub async fn read_each(
    store: &Store,
    path: &Path,
    envelope: &Envelope,
    size: u64,
    mut sink: impl FnMut(&[u8]),
) -> Result<[u8; 32], StoreError> {
    let mut sha = Sha256::new();
    // Every segment, the empty last one of an empty file included, must open.
    let mut chunks = std::pin::pin!(decrypted(
        store.clone(),
        path.clone(),
        envelope.clone(),
        size,
        0,
        0..=envelope::segments(size) - 1
    ));
    while let Some(c) = chunks.next().await {
        let (_, c) = c?;
        sha.update(&c);
        sink(&c);
    }
    Ok(sha.finalize().into())
}
