//! Idempotency keys for mutations: a signed-in client that sends a mutation
//! with an `Idempotency-Key` header may send it again after a dropped
//! connection and get the first answer, not a second effect.
//!
//! The claim is the first statement of the request's transaction, so it
//! commits or rolls back with the mutation: a mutation that failed changed
//! nothing and left no claim, and its retry runs afresh. A duplicate sent
//! while the first is running waits on the claim's unique index; it then
//! replays the first's answer, or runs if the first rolled back. The answer
//! is sealed under the current key-encryption key before it is stored: it
//! may carry a secret (the half of a personal code `enableAccount` returns)
//! or personal data.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::RequestDb;
use crate::db::idempotency as q;
use crate::error::{AppError, AppResult};
use crate::storage::envelope::{self, Envelope, WrappedKey};
use crate::storage::keys::{Keyring, LiveKeys};

/// The header that carries the key.
pub const HEADER: &str = "idempotency-key";
/// The header on a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long an answer is replayed, in hours.
pub const REPLAY_HOURS: i32 = 24;
const MAX_LEN: usize = 255;

/// A key as the client sent it: 1 to 255 visible ASCII characters (a UUID, typically).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    pub fn parse(raw: &[u8]) -> AppResult<Key> {
        let ok = (1..=MAX_LEN).contains(&raw.len()) && raw.iter().all(|b| (0x21..=0x7e).contains(b));
        match ok {
            true => Ok(Key(String::from_utf8_lossy(raw).into_owned())),
            false => Err(AppError::bad_input(
                "Idempotency-Key",
                format!("a key is 1 to {MAX_LEN} visible ASCII characters, such as a UUID"),
            )),
        }
    }
}

/// What a claimed key means for the request.
pub enum Claim {
    /// The key is new (or its claim expired): run the mutation, then [`keep`] its answer.
    Run(Ticket),
    /// The mutation ran under this key: its answer, to send again.
    Replay(Vec<u8>),
}

/// The claim a mutation's answer is kept under.
pub struct Ticket(Uuid);

/// Claims `key` for `body` (the request's bytes) in the request's transaction.
pub async fn claim(db: &RequestDb, keys: &LiveKeys, key: &Key, body: &[u8]) -> AppResult<Claim> {
    let sha = Sha256::digest(body).to_vec();
    let id = Uuid::new_v4();
    let key = key.0.clone();
    let kept = db
        .try_run(move |c| {
            Box::pin(async move {
                if q::claim(c, id, &key, &sha, REPLAY_HOURS).await? {
                    return Ok(None);
                }
                let row = q::find(c, &key).await?.ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("an idempotency key was claimed but cannot be read"))
                })?;
                if row.request_sha256 != sha {
                    return Err(AppError::Conflict(format!(
                        "Idempotency-Key: this key was used for another request in the last {REPLAY_HOURS} hours; \
                         a new request needs a new key"
                    )));
                }
                Ok(Some(row))
            })
        })
        .await?;
    match kept {
        None => Ok(Claim::Run(Ticket(id))),
        Some(row) => Ok(Claim::Replay(open(&keys.ring(), &row)?)),
    }
}

/// Keeps the answer of the mutation that ran under `ticket`, sealed, in the
/// same transaction: it commits with the mutation or not at all.
pub async fn keep(db: &RequestDb, keys: &LiveKeys, ticket: Ticket, answer: &[u8]) -> AppResult<()> {
    let ring = keys.ring();
    let kek = ring.current();
    let env = Envelope::new(*ticket.0.as_bytes());
    let sealed = envelope::seal_whole(&env, answer);
    let wrapped = env.wrap(kek);
    db.run(move |c| Box::pin(async move { q::keep(c, ticket.0, &wrapped.kek_id, &wrapped.bytes, &sealed).await })).await
}

fn open(keys: &Keyring, row: &q::KeptRow) -> AppResult<Vec<u8>> {
    let lost = |why: &str| AppError::Internal(anyhow::anyhow!("the kept answer of an idempotency key {why}"));
    let (Some(kek_id), Some(wrapped), Some(answer)) = (&row.kek_id, &row.wrapped_key, &row.answer) else {
        return Err(lost("is missing"));
    };
    let kek = keys.get(kek_id).ok_or_else(|| lost("is sealed under a key no longer in the key file"))?;
    let wrapped = WrappedKey { kek_id: kek_id.clone(), bytes: wrapped.clone() };
    let header = answer.get(..envelope::HEADER).ok_or_else(|| lost("is cut short"))?;
    let env = Envelope::open(*row.id.as_bytes(), &wrapped, kek, header).map_err(|e| lost(&e.to_string()))?;
    envelope::open_whole(&env, answer).map_err(|e| lost(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_visible_ascii_of_bounded_length() {
        assert!(Key::parse(b"0b7d3c1e-8f1a-4c7e-9a53-2d1b5c4e6f70").is_ok());
        assert!(Key::parse(&[b'k'; MAX_LEN]).is_ok());
        for bad in [&b""[..], &[b'k'; MAX_LEN + 1], b"with space", b"tab\there", "caff\u{e8}".as_bytes(), b"nul\0"] {
            let err = Key::parse(bad).unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{bad:?}");
        }
    }
}
