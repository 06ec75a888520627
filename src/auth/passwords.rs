//! Argon2id password hashing (OWASP parameters: `argon2` 0.6 defaults) on a
//! few threads of its own at a lower OS priority, so that a login storm
//! queues for them instead of taking the cores from other requests, and
//! cannot exhaust memory (each hash takes 19 MiB).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::oneshot;

use crate::error::{AppError, AppResult};

type Job = Box<dyn FnOnce() + Send>;

/// How much lower than the server's other threads the hashing threads run
/// (`nice`): when the cores are busy, requests go first and logins wait;
/// when they are idle, a login takes a core as fast as ever.
const NICENESS: i32 = 10;

#[derive(Clone)]
pub struct Passwords {
    /// The hashing threads' queue; they stop when the last clone is dropped.
    jobs: mpsc::Sender<Job>,
    /// Verified against when the account does not exist or has no password,
    /// so that every failed login costs the same.
    dummy: Arc<String>,
}

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;

impl Passwords {
    /// Hashing on half the cores (at least one), so that a storm of logins
    /// leaves the other half to the rest of the server.
    pub fn new() -> Passwords {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Passwords::with_threads((cores / 2).max(1))
    }

    pub fn with_threads(threads: usize) -> Passwords {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name("argon2".into())
                .spawn(move || {
                    lower_priority();
                    // The lock is held only while waiting, so each job goes to one idle thread.
                    while let Ok(job) = queue.lock().map_err(drop).and_then(|q| q.recv().map_err(drop)) {
                        job();
                    }
                })
                .expect("starting a hashing thread");
        }
        let dummy = hash_now("not a password: equalises the time of failed logins").expect("hashing cannot fail");
        Passwords { jobs, dummy: Arc::new(dummy) }
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
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        self.jobs.send(job).map_err(|_| AppError::internal(anyhow::anyhow!("the hashing threads stopped")))?;
        result.await.map_err(AppError::internal)
    }
}

/// Lowers the calling thread's priority (Linux sets `nice` per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take and return plain integers; raising
    // one's own niceness needs no privilege, and a failure leaves it as it was.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, NICENESS);
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

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_yield_to_the_rest_of_the_server() {
        fn niceness() -> i32 {
            // SAFETY: plain integers in and out.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::syscall(libc::SYS_gettid) as libc::id_t) }
        }
        let p = Passwords::with_threads(2);
        let on_pool = p.blocking(niceness).await.unwrap();
        assert_eq!(
            on_pool,
            (niceness() + NICENESS).min(19),
            "a hashing thread runs {NICENESS} steps nicer than the server"
        );
    }
}
