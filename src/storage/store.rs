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

use super::envelope::{self, Envelope, EnvelopeError, HEADER, SEGMENT};

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
    #[error("the file is larger than the {0} bytes allowed")]
    TooLarge(u64),
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

/// Seals `reader` into `path` as it streams, refusing more than `max_size`
/// bytes. A refused or failed upload leaves no object behind.
pub async fn put_sealed(
    store: &Store,
    path: &Path,
    envelope: Envelope,
    mut reader: impl AsyncRead + Unpin,
    max_size: u64,
) -> Result<Stored, StoreError> {
    let mut writer = BufWriter::with_capacity(Arc::clone(store), path.clone(), 8 * SEGMENT);
    let mut sealer = envelope::Sealer::new(envelope);
    let mut sha = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; SEGMENT];
    let outcome: Result<(), StoreError> = async {
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > max_size {
                return Err(StoreError::TooLarge(max_size));
            }
            sha.update(&buf[..n]);
            writer.write_all(&sealer.push(&buf[..n])?).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        let _ = writer.abort().await;
        return Err(e);
    }
    writer.write_all(&sealer.finish()).await?;
    writer.shutdown().await?;
    Ok(Stored { size, sha256: sha.finalize().into() })
}

/// The object's header, to open its envelope.
pub async fn header(store: &Store, path: &Path) -> Result<Vec<u8>, StoreError> {
    Ok(store.get_range(path, 0..HEADER as u64).await?.to_vec())
}

/// Plaintext bytes `range` of a stored file of `size` bytes, fetching and
/// decrypting only the segments that hold them.
pub async fn read_range(
    store: &Store,
    path: &Path,
    envelope: &Envelope,
    size: u64,
    range: Range<u64>,
) -> Result<Vec<u8>, StoreError> {
    if range.is_empty() {
        return Ok(Vec::new());
    }
    let segs = envelope::segments_for(&range);
    let mut plain = Vec::with_capacity((range.end - range.start) as usize + SEGMENT);
    each_segment(store, path, envelope, size, segs.clone(), |piece| plain.extend_from_slice(piece)).await?;
    let offset = (range.start - segs.start() * SEGMENT as u64) as usize;
    Ok(plain[offset..offset + (range.end - range.start) as usize].to_vec())
}

/// Decrypts a whole stored file segment by segment, handing each piece of
/// plaintext to `sink`: memory stays at a few segments whatever the size.
pub async fn read_each(
    store: &Store,
    path: &Path,
    envelope: &Envelope,
    size: u64,
    sink: impl FnMut(&[u8]),
) -> Result<(), StoreError> {
    each_segment(store, path, envelope, size, 0..=envelope::segments(size) - 1, sink).await
}

/// Fetches segments `segs` a batch per request and hands each, decrypted, to `sink`.
async fn each_segment(
    store: &Store,
    path: &Path,
    envelope: &Envelope,
    size: u64,
    segs: std::ops::RangeInclusive<u64>,
    mut sink: impl FnMut(&[u8]),
) -> Result<(), StoreError> {
    // A few segments per request: fewer round trips, still bounded memory.
    const BATCH: u64 = 16;
    let total = envelope::segments(size);
    let mut first = *segs.start();
    while first <= *segs.end() {
        let last = (first + BATCH - 1).min(*segs.end());
        let span = envelope::segment_span(size, first).start..envelope::segment_span(size, last).end;
        let sealed = store.get_range(path, span.clone()).await?;
        for i in first..=last {
            let s = envelope::segment_span(size, i);
            let bytes = sealed
                .get((s.start - span.start) as usize..(s.end - span.start) as usize)
                .ok_or(EnvelopeError::Segment)?;
            sink(&envelope.unseal(i as u32, i + 1 == total, bytes)?);
        }
        first = last + 1;
    }
    Ok(())
}
