//! The domain clock: the one "now" every rule of a process reads (windows,
//! deadlines, posting periods). In production it is the real clock. A demo
//! server started with `--test-clock` lets the provincial role fix it
//! (`setTestClock`), so a demo or a test can walk a round through its dates.
//! Sessions, tokens and throttles never read it: they keep real time.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use crate::error::{AppError, AppResult};

#[derive(Clone, Default)]
pub struct Clock {
    /// Present only on a server started with `--test-clock`.
    fixed: Option<Arc<RwLock<Option<DateTime<Utc>>>>>,
}

impl Clock {
    /// The real clock, which nobody can move.
    pub fn real() -> Clock {
        Clock { fixed: None }
    }

    /// A clock that `set` may fix (demo mode only); real until it is set.
    pub fn settable() -> Clock {
        Clock { fixed: Some(Arc::new(RwLock::new(None))) }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.fixed.as_ref().and_then(|f| *f.read().unwrap_or_else(|e| e.into_inner())).unwrap_or_else(Utc::now)
    }

    /// Fixes the time; FORBIDDEN on the real clock.
    pub fn set(&self, now: DateTime<Utc>) -> AppResult<DateTime<Utc>> {
        let fixed = self.fixed.as_ref().ok_or(AppError::Forbidden)?;
        *fixed.write().unwrap_or_else(|e| e.into_inner()) = Some(now);
        Ok(now)
    }
}
