//! One error type for the whole application, mapped to GraphQL `extensions.code`.
//!
//! `AppError` deliberately does not implement `Display`: async-graphql has a
//! blanket conversion for every `Display` type that would drop the code, so
//! the only way into a GraphQL error is the conversion below.

use async_graphql::ErrorExtensions;

tokio::task_local! {
    /// The id of the HTTP request being served, for log lines and internal errors.
    pub static REQUEST_ID: String;
}

/// The current request's id, or `-` outside a request (CLI commands).
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_else(|_| "-".into())
}

#[derive(Debug)]
pub enum AppError {
    /// The caller sent something unacceptable; `field` names the argument or input field.
    BadInput {
        field: Option<String>,
        reason: String,
    },
    /// Does not exist, or is outside the caller's scope: the two are indistinguishable.
    NotFound,
    Unauthenticated,
    /// A login that failed, for whatever reason: one answer for all of them.
    LoginFailed,
    /// An account function switched off by limited mode, until when (None:
    /// until the operator switches it back on).
    Disabled {
        function: &'static str,
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Too many failed logins for this account or address.
    RateLimited {
        until: chrono::DateTime<chrono::Utc>,
    },
    /// Too many requests for e-mailed links from this address.
    TooManyResets {
        until: chrono::DateTime<chrono::Utc>,
    },
    Forbidden,
    /// Not allowed, for a reason the caller may know (about their own account).
    Refused(String),
    Conflict(String),
    /// A write outside an open collection window.
    CampaignClosed(String),
    /// A write to a request the school already submitted.
    Submitted(String),
    /// A document that left the live store for legal preservation.
    Archived,
    /// A rule of a process refused the act: the code names the rule's
    /// outcome (`DUPLICATE_APPLICATION`, `WINDOW_STILL_OPEN`, …).
    Rule {
        code: &'static str,
        message: String,
    },
    /// A rule of the spec with its id refused the act (process 4:
    /// `extensions.rule`, e.g. `PREF-1`, beside the code).
    Ruled {
        code: &'static str,
        rule: &'static str,
        field: Option<&'static str>,
        message: String,
    },
    /// No database connection came free within the pool's wait: the client
    /// should try again after [`RETRY_AFTER_SECS`] (HTTP 503, `Retry-After`).
    Busy,
    /// The document store did not answer within its retries: nothing of the
    /// request was kept (an upload keeps its offset). The cause is logged.
    StorageUnavailable(anyhow::Error),
    /// Anything else. The cause is logged with the request id and never shown.
    Internal(anyhow::Error),
}

/// What a busy server asks a client to wait before trying again.
pub const RETRY_AFTER_SECS: u64 = 1;

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn bad_input(field: impl Into<String>, reason: impl Into<String>) -> AppError {
        AppError::BadInput { field: Some(field.into()), reason: reason.into() }
    }

    pub fn rule(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Rule { code, message: message.into() }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> AppError {
        AppError::Internal(err.into())
    }

    /// A failure of a call to the document store: the store not answering
    /// (connection, timeout, its own 5xx) is [`AppError::StorageUnavailable`];
    /// anything else (a missing or altered object, a key) is internal.
    pub fn storage(err: impl Into<anyhow::Error>) -> AppError {
        let err = err.into();
        let unreachable = err.chain().any(|c| {
            c.downcast_ref::<object_store::Error>().is_some_and(|e| {
                !matches!(e, object_store::Error::NotFound { .. } | object_store::Error::Precondition { .. })
            })
        });
        if unreachable { AppError::StorageUnavailable(err) } else { AppError::Internal(err) }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadInput { .. } => "BAD_USER_INPUT",
            AppError::NotFound => "NOT_FOUND",
            AppError::Unauthenticated | AppError::LoginFailed => "UNAUTHENTICATED",
            AppError::Forbidden | AppError::Refused(_) => "FORBIDDEN",
            AppError::Conflict(_) => "CONFLICT",
            AppError::CampaignClosed(_) => "CAMPAIGN_CLOSED",
            AppError::Submitted(_) => "REQUEST_SUBMITTED",
            AppError::Archived => "ARCHIVED",
            AppError::Rule { code, .. } | AppError::Ruled { code, .. } => code,
            AppError::RateLimited { .. } | AppError::TooManyResets { .. } => "RATE_LIMITED",
            AppError::Disabled { .. } => "LIMITED_MODE",
            AppError::Busy | AppError::StorageUnavailable(_) => "UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// The message a client sees. Never contains internal causes.
    pub fn public_message(&self, request_id: &str) -> String {
        match self {
            // A line of a file (`csv:3: …`) already names where it is.
            AppError::BadInput { field: Some(f), reason } if reason.starts_with(&format!("{f}:")) => reason.clone(),
            AppError::BadInput { field: Some(f), reason } => format!("{f}: {reason}"),
            AppError::BadInput { field: None, reason } => reason.clone(),
            AppError::NotFound => "not found".into(),
            AppError::Unauthenticated => "authentication required".into(),
            AppError::LoginFailed => "wrong e-mail or password".into(),
            AppError::Disabled { function, until: None } => {
                format!("{function} is unavailable during limited mode; everything else keeps working")
            }
            AppError::Disabled { function, until: Some(until) } => format!(
                "{function} is unavailable during limited mode, until {} UTC; everything else keeps working",
                until.format("%Y-%m-%d %H:%M")
            ),
            AppError::RateLimited { until } => format!(
                "too many failed logins: try again after {} UTC, or reset the password",
                until.format("%Y-%m-%d %H:%M")
            ),
            AppError::TooManyResets { until } => format!(
                "too many requests for e-mailed links (password resets, registrations, address changes) \
                 from this address: try again after {} UTC",
                until.format("%Y-%m-%d %H:%M")
            ),
            AppError::Forbidden => "not allowed".into(),
            AppError::Busy => {
                format!("the server is busy: nothing was done, try again in {RETRY_AFTER_SECS} s")
            }
            AppError::StorageUnavailable(_) => format!(
                "the document store is unavailable: nothing of this request was kept; try again in \
                 {RETRY_AFTER_SECS} s or later (an upload resumes from the offset HEAD gives)"
            ),
            AppError::Archived => {
                "the document was archived for legal preservation: ask the provincial office for it".into()
            }
            AppError::Conflict(m)
            | AppError::CampaignClosed(m)
            | AppError::Submitted(m)
            | AppError::Refused(m)
            | AppError::Rule { message: m, .. } => m.clone(),
            AppError::Ruled { rule, message, .. } => format!("{rule}: {message}"),
            AppError::Internal(_) => format!("internal error (request {request_id})"),
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        let request_id = current_request_id();
        match &err {
            AppError::Internal(cause) => tracing::error!(request_id = %request_id, error = ?cause, "internal error"),
            AppError::StorageUnavailable(cause) => {
                tracing::warn!(request_id = %request_id, error = %cause, "document store unavailable")
            }
            _ => {}
        }
        let code = err.code();
        let field = match &err {
            AppError::BadInput { field, .. } => field.clone(),
            AppError::Ruled { field, .. } => field.map(str::to_owned),
            _ => None,
        };
        let rule = match &err {
            AppError::Ruled { rule, .. } => Some(*rule),
            _ => None,
        };
        let until = match &err {
            AppError::Disabled { until, .. } => *until,
            _ => None,
        };
        async_graphql::Error::new(err.public_message(&request_id)).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(f) = &field {
                ext.set("field", f.as_str());
            }
            if let Some(r) = rule {
                ext.set("rule", r);
            }
            if let Some(u) = until {
                ext.set("until", u.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            }
            if code == "INTERNAL" {
                ext.set("requestId", request_id.as_str());
            }
        })
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        match err {
            diesel::result::Error::NotFound => AppError::NotFound,
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for AppError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        match err {
            deadpool::managed::PoolError::Timeout(deadpool::managed::TimeoutType::Wait) => AppError::Busy,
            other => AppError::Internal(other.into()),
        }
    }
}
