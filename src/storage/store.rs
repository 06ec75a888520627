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
            let mut next = p.first;
            while next <= p.last {
                let (plain, last) = batch(store, &p.path, &env, size, p.first, next, p.last).await?;
                push(&mut writer, &mut sealer, Some(&mut sha), &plain).await?;
                next = last + 1;
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

/// Segments fetched per request: fewer round trips, still bounded memory.
const BATCH: u64 = 16;

/// Fetches segments `from..` (at most [`BATCH`], none past `to`) of an
/// object holding segments `base..`, in one request, and decrypts them.
/// Returns their plaintext and the last segment fetched.
async fn batch(
    store: &Store,
    path: &Path,
    envelope: &Envelope,
    size: u64,
    base: u64,
    from: u64,
    to: u64,
) -> Result<(Vec<u8>, u64), StoreError> {
    let total = envelope::segments(size);
    let last = (from + BATCH - 1).min(to);
    let span = part_span(size, base, from).start..part_span(size, base, last).end;
    let sealed = store.get_range(path, span.clone()).await?;
    let mut plain = Vec::with_capacity(((last - from + 1) as usize) * SEGMENT);
    for i in from..=last {
        let s = part_span(size, base, i);
        let bytes =
            sealed.get((s.start - span.start) as usize..(s.end - span.start) as usize).ok_or(EnvelopeError::Segment)?;
        plain.extend(envelope.unseal(u32::try_from(i).map_err(|_| EnvelopeError::TooLarge)?, i + 1 == total, bytes)?);
    }
    Ok((plain, last))
}

/// Plaintext bytes `range` of a stored file of `size` bytes, as a stream of
/// chunks: only the segments that hold them are fetched and decrypted, a
/// batch at a time, so memory stays bounded whatever the size.
pub fn plaintext(
    store: Store,
    path: Path,
    envelope: Envelope,
    size: u64,
    range: Range<u64>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, StoreError>> + Send + 'static {
    // An empty range starts past its end, so the stream ends at once.
    let state = match range.is_empty() {
        true => (1, 0, range.start),
        false => {
            let segs = envelope::segments_for(&range);
            (*segs.start(), *segs.end(), range.start)
        }
    };
    futures_util::stream::try_unfold(state, move |(next, end, at)| {
        let (store, path) = (store.clone(), path.clone());
        let envelope = envelope.clone();
        let stop = range.end;
        async move {
            if next > end || at >= stop {
                return Ok(None);
            }
            let (plain, last) = batch(&store, &path, &envelope, size, 0, next, end).await?;
            let offset = (at - next * SEGMENT as u64) as usize;
            let upto = ((stop - next * SEGMENT as u64) as usize).min(plain.len());
            let chunk = bytes::Bytes::copy_from_slice(&plain[offset..upto]);
            Ok(Some((chunk, (last + 1, end, (last + 1) * SEGMENT as u64))))
        }
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
    if size == 0 {
        // No bytes to stream, but the empty last segment must still open.
        batch(store, path, envelope, size, 0, 0, 0).await?;
    }
    let mut chunks = std::pin::pin!(plaintext(store.clone(), path.clone(), envelope.clone(), size, 0..size));
    while let Some(c) = chunks.next().await {
        let c = c?;
        sha.update(&c);
        sink(&c);
    }
    Ok(sha.finalize().into())
}
