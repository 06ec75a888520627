//! Sealed objects in real storage: Garage over S3, and the local file system.

use ambito::storage::envelope::{Envelope, Kek};
use ambito::storage::store::{self, Store, StoreError};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use sha2::{Digest, Sha256};

use crate::garage;

fn pdf_like(size: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend((0..size.saturating_sub(9)).map(|i| (i * 7919 % 253) as u8));
    v.truncate(size);
    v
}

fn new_id() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

async fn round_trip(store: Store) {
    let kek = Kek::generate("test");
    for size in [0usize, 10, 64 * 1024, 3 * 1024 * 1024 + 17] {
        let id = new_id();
        let path = Path::from(format!("attachments/{}", uuid::Uuid::from_bytes(id)));
        let data = pdf_like(size);
        let env = Envelope::new(id);
        let wrapped = env.wrap(&kek);
        let stored = store::put_sealed(&store, &path, env, data.as_slice(), 1 << 30).await.unwrap();
        assert_eq!(stored.size, size as u64);
        assert_eq!(stored.sha256.as_slice(), Sha256::digest(&data).as_slice());

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

async fn over_the_cap_leaves_nothing(store: Store) {
    let id = new_id();
    let path = Path::from(format!("attachments/{}", uuid::Uuid::from_bytes(id)));
    let data = pdf_like(2 * 1024 * 1024);
    let err = store::put_sealed(&store, &path, Envelope::new(id), data.as_slice(), 1024 * 1024).await.unwrap_err();
    assert!(matches!(err, StoreError::TooLarge(1_048_576)), "{err}");
    assert!(matches!(store.head(&path).await, Err(object_store::Error::NotFound { .. })), "no object left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_files_round_trip_through_garage() {
    let store = store::s3(&garage::s3()).unwrap();
    round_trip(store.clone()).await;
    over_the_cap_leaves_nothing(store).await;
}

#[tokio::test]
async fn sealed_files_round_trip_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::local(dir.path()).unwrap();
    round_trip(store.clone()).await;
    over_the_cap_leaves_nothing(store).await;
}
