//! Sealed objects in real storage: Garage over S3, and the local file system.

use ambito::storage::envelope::{Envelope, Kek, SEGMENT};
use ambito::storage::store::{self, Store, StoreError};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use sha2::{Digest, Sha256};

use crate::garage;
use crate::harness::pdf;

fn new_id() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

async fn round_trip(store: Store) {
    let kek = Kek::generate("test");
    for size in [0usize, 10, 64 * 1024, 3 * 1024 * 1024 + 17] {
        let id = new_id();
        let path = Path::from(format!("attachments/{}", uuid::Uuid::from_bytes(id)));
        let data = pdf(size, 0);
        let env = Envelope::new(id);
        let wrapped = env.wrap(&kek);
        let part = store::put_part(&store, &path, env, size as u64, 0, data.as_slice(), |_| Ok(())).await.unwrap();
        assert!(part.complete && !part.interrupted);
        assert_eq!(part.sha256.unwrap().as_slice(), Sha256::digest(&data).as_slice());

        let raw = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(raw.len() as u64, ambito::storage::envelope::object_len(size as u64));
        assert!(!raw.windows(4).any(|w| w == b"%PDF"), "no plaintext in the bucket");

        let env = Envelope::open(id, &wrapped, &kek, &store::header(&store, &path).await.unwrap()).unwrap();
        let all = store::read_range(&store, &path, &env, size as u64, 0..size as u64).await.unwrap();
        assert_eq!(all, data, "size {size}");
        if size > 200_000 {
            for r in [0..1, 65_530..65_550, 200_000..1_200_000, size as u64 - 5..size as u64] {
                let got = store::read_range(&store, &path, &env, size as u64, r.clone()).await.unwrap();
                assert_eq!(got, &data[r.start as usize..r.end as usize], "range {r:?}");
            }
        }
    }
}

async fn over_the_size_or_refused_leaves_nothing(store: Store) {
    let id = new_id();
    let path = Path::from(format!("attachments/{}", uuid::Uuid::from_bytes(id)));
    let data = pdf(2 * 1024 * 1024, 0);
    let err = store::put_part(&store, &path, Envelope::new(id), 1024 * 1024, 0, data.as_slice(), |_| Ok(()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::TooLarge(1_048_576)), "{err}");
    assert!(matches!(store.head(&path).await, Err(object_store::Error::NotFound { .. })), "no object left behind");
    let refuse = |head: &[u8]| if head.starts_with(b"%PDF") { Err("no PDFs".to_string()) } else { Ok(()) };
    let err = store::put_part(&store, &path, Envelope::new(id), data.len() as u64, 0, data.as_slice(), refuse)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Content(_)), "{err}");
    assert!(matches!(store.head(&path).await, Err(object_store::Error::NotFound { .. })), "no object left behind");
}

/// A file sent in three requests, the middle one cut short, joined into one object.
async fn parts_join_into_one_file(store: Store) {
    let kek = Kek::generate("test");
    let id = new_id();
    let size = 5 * SEGMENT as u64 + 1_000;
    let data = pdf(size as usize, 0);
    let wrapped = Envelope::new(id).wrap(&kek);
    let key = Envelope::reseal(id, &wrapped, &kek).unwrap();
    let mut pieces = Vec::new();
    let mut at = 0u64;
    // Each send stops somewhere; only whole segments count.
    for stop in [2 * SEGMENT as u64 + 500, 4 * SEGMENT as u64 + 10, size] {
        let path = Path::from(format!("attachments/{}/{at}", uuid::Uuid::from_bytes(id)));
        let first = at / SEGMENT as u64;
        let body = &data[at as usize..stop as usize];
        let part = store::put_part(&store, &path, key.fresh(), size, first, body, |_| Ok(())).await.unwrap();
        assert_eq!(part.complete, stop == size);
        pieces.push(store::Piece { path, first, last: first + part.segments - 1 });
        at = (first + part.segments) * SEGMENT as u64;
    }
    assert_eq!(pieces.iter().map(|p| p.first).collect::<Vec<_>>(), [0, 2, 4]);
    let joined = Path::from(format!("attachments/{}/joined", uuid::Uuid::from_bytes(id)));
    let stored = store::join_parts(&store, &key, size, &pieces, &joined).await.unwrap();
    assert_eq!(stored.sha256.as_slice(), Sha256::digest(&data).as_slice());
    let env = Envelope::open(id, &wrapped, &kek, &store::header(&store, &joined).await.unwrap()).unwrap();
    assert_eq!(store::read_range(&store, &joined, &env, size, 0..size).await.unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_files_round_trip_through_garage() {
    let store = store::s3(&garage::s3()).unwrap();
    round_trip(store.clone()).await;
    parts_join_into_one_file(store.clone()).await;
    over_the_size_or_refused_leaves_nothing(store).await;
}

#[tokio::test]
async fn sealed_files_round_trip_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::local(dir.path()).unwrap();
    round_trip(store.clone()).await;
    parts_join_into_one_file(store.clone()).await;
    over_the_size_or_refused_leaves_nothing(store).await;
}

/// The byte at `pos` of a generated upload.
fn byte_at(pos: u64) -> u8 {
    (pos.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// An endless-looking upload: `size` bytes made on the fly, never held whole.
struct Generated {
    left: u64,
    counter: u64,
}

impl tokio::io::AsyncRead for Generated {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left).min(50_000) as usize;
        let start = self.counter;
        let bytes: Vec<u8> = (start..start + n as u64).map(byte_at).collect();
        buf.put_slice(&bytes);
        self.left -= n as u64;
        self.counter += n as u64;
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_file_streams_through_garage() {
    let store = store::s3(&garage::s3()).unwrap();
    let size: u64 = 256 * 1024 * 1024 + 12_345;
    let kek = Kek::generate("test");
    let id = new_id();
    let path = Path::from(format!("attachments/{}", uuid::Uuid::from_bytes(id)));
    let env = Envelope::new(id);
    let wrapped = env.wrap(&kek);
    let started = std::time::Instant::now();
    let part =
        store::put_part(&store, &path, env, size, 0, Generated { left: size, counter: 0 }, |_| Ok(())).await.unwrap();
    let up = started.elapsed();
    assert!(part.complete);

    let env = Envelope::open(id, &wrapped, &kek, &store::header(&store, &path).await.unwrap()).unwrap();
    let started = std::time::Instant::now();
    let mut seen = 0u64;
    let sha = store::read_each(&store, &path, &env, size, |piece| seen += piece.len() as u64).await.unwrap();
    println!("256 MiB: sealed upload {up:?}, decrypting download {:?}", started.elapsed());
    assert_eq!(seen, size);
    assert_eq!(sha, part.sha256.unwrap(), "the bytes that come back are the bytes that went in");
    let tail = store::read_range(&store, &path, &env, size, size - 100..size).await.unwrap();
    assert_eq!(tail, (size - 100..size).map(byte_at).collect::<Vec<u8>>());
}
