//! Argon2id password hashing (OWASP parameters: `argon2` 0.6 defaults), off
//! the async runtime and behind a semaphore sized to the cores, so that a
//! login storm queues instead of stalling requests or exhausting memory
//! (each hash takes 19 MiB).

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::error::{AppError, AppResult};

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Verified against when the account does not exist or has no password,
    /// so that every failed login costs the same.
    dummy: Arc<String>,
}

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;

impl Passwords {
    pub fn new() -> Passwords {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let dummy = hash_now("not a password: equalises the time of failed logins").expect("hashing cannot fail");
        Passwords { permits: Arc::new(Semaphore::new(cores)), dummy: Arc::new(dummy) }
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with a fresh salt.
    pub async fn hash(&self, password: &str) -> AppResult<String> {
        acceptable(password)?;
        let password = password.to_owned();
        self.blocking(move || hash_now(&password)).await?.map_err(AppError::internal)
    }

    /// Whether `password` matches `stored`; a missing hash never matches but
    /// takes as long as one that does not.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> AppResult<bool> {
        let (phc, real) = match stored {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy.as_str().to_owned(), false),
        };
        let password = password.to_owned();
        let ok = self
            .blocking(move || {
                PasswordHash::new(&phc)
                    .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
                    .unwrap_or(false)
            })
            .await?;
        Ok(ok && real)
    }

    async fn blocking<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> AppResult<R> {
        let _permit = self.permits.acquire().await.map_err(AppError::internal)?;
        tokio::task::spawn_blocking(f).await.map_err(AppError::internal)
    }
}

/// Whether a new password meets the policy: checked before anything is
/// counted or hashed.
pub fn acceptable(password: &str) -> AppResult<()> {
    if password.chars().count() < MIN_LENGTH {
        return Err(AppError::bad_input("password", format!("must be at least {MIN_LENGTH} characters")));
    }
    Ok(())
}

impl Default for Passwords {
    fn default() -> Self {
        Passwords::new()
    }
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_refuse_what_they_should() {
        let p = Passwords::new();
        let h = p.hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(p.verify("correct horse battery", Some(&h)).await.unwrap());
        assert!(!p.verify("correct horse batterY", Some(&h)).await.unwrap());
        assert!(!p.verify("not a password: equalises the time of failed logins", None).await.unwrap());
        assert!(matches!(p.hash("short").await, Err(AppError::BadInput { .. })));
    }
}
