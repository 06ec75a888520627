//! Attachments: envelope encryption now; object storage, uploads and
//! downloads build on it.

pub mod envelope;
pub mod store;
