//! Attachments' storage: envelope encryption, key-encryption keys, and the
//! object store that holds sealed files.

pub mod envelope;
pub mod keys;
pub mod maintenance;
pub mod store;

use std::sync::Arc;

use keys::LiveKeys;
use store::Store;

/// Where a process keeps documents, and the keys that open them.
#[derive(Clone)]
pub struct Files {
    pub store: Store,
    pub keys: Arc<LiveKeys>,
    /// Largest file accepted, in bytes.
    pub max_size: u64,
}

/// Where an object of a sealed file lives: under its blob's id, so that
/// every object of one file, and only those, share a prefix.
pub fn object_path(blob: uuid::Uuid, name: &str) -> object_store::path::Path {
    object_store::path::Path::from(format!("{PREFIX}/{blob}/{name}"))
}

pub use crate::rules::hex;

/// The prefix of every object Ambito writes.
pub const PREFIX: &str = "attachments";
