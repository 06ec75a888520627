//! The login service: throttling, password check, session creation. Runs on
//! the privileged [`AuthDb`]: nobody is signed in yet.

use chrono::{DateTime, Utc};

use crate::auth::passwords::Passwords;
use crate::auth::{SessionPolicy, normalize_email, tokens};
use crate::db::AuthDb;
use crate::db::accounts::{self as q, MembershipRow};
use crate::error::{AppError, AppResult};
use crate::rules::throttle::{Decision, ThrottlePolicy};

/// Where a request came from, for throttling (never logged with an account).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

pub struct Login {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub membership: MembershipRow,
}

/// Everything login needs besides the database.
pub struct LoginServices<'a> {
    pub passwords: &'a Passwords,
    pub sessions: &'a SessionPolicy,
    pub throttle: &'a ThrottlePolicy,
}

/// Signs in. Unknown e-mail, wrong password and disabled account all fail
/// the same way, in the same time; repeated failures slow down, then lock
/// the account and the client address for a while.
pub async fn login(
    db: &AuthDb,
    services: LoginServices<'_>,
    email: &str,
    password: &str,
    membership: Option<i64>,
    addr: &ClientAddr,
) -> AppResult<Login> {
    let email = normalize_email(email).map_err(|_| AppError::LoginFailed)?;
    let keys = admit_password_attempt(db, services.throttle, &email, addr).await?;
    let user = {
        let email = email.clone();
        db.run(move |c| Box::pin(async move { q::user_by_email(c, &email).await })).await?
    };
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let matches = services.passwords.verify(password, stored).await?;
    let Some(user) = user.filter(|u| matches && u.disabled_at.is_none()) else {
        return Err(AppError::LoginFailed);
    };
    password_attempt_succeeded(db, keys).await?;
    let user_id = user.id;
    let memberships = db.run(move |c| Box::pin(q::memberships_of(c, user_id))).await?;
    let chosen = match membership {
        Some(id) => memberships.into_iter().find(|m| m.id == id).ok_or(AppError::NotFound)?,
        None => memberships.into_iter().next().ok_or(AppError::Forbidden)?,
    };
    let expires_at = Utc::now() + services.sessions.absolute;
    let (token, hash) = tokens::new_token();
    let membership_id = chosen.id;
    db.run(move |c| Box::pin(async move { q::create_session(c, &hash, user_id, membership_id, expires_at).await }))
        .await?;
    Ok(Login { token, expires_at, membership: chosen })
}

/// Counts an attempt at the password of `email` from `addr` against both
/// throttles before any hash is computed, then waits the delay they set.
/// A locked account or address answers RATE_LIMITED and computes nothing.
/// Returns the keys, for [`password_attempt_succeeded`].
pub async fn admit_password_attempt(
    db: &AuthDb,
    policy: &ThrottlePolicy,
    email: &str,
    addr: &ClientAddr,
) -> AppResult<[String; 2]> {
    let keys = [format!("account:{email}"), format!("address:{}", addr.0)];
    let counted = vec![(keys[0].clone(), policy.account_lock_after), (keys[1].clone(), policy.address_lock_after)];
    let (policy_copy, now) = (*policy, Utc::now());
    let decisions = db.run(move |c| Box::pin(q::throttle_attempt(c, policy_copy, counted, now))).await?;
    let mut delay = std::time::Duration::ZERO;
    for d in decisions {
        match d {
            Decision::Locked(until) => return Err(AppError::RateLimited { until }),
            Decision::Allow(wait) => delay = delay.max(wait),
        }
    }
    tokio::time::sleep(delay).await;
    Ok(keys)
}

/// The password was right: the account's failures are forgotten, and the
/// attempt no longer counts against the address.
pub async fn password_attempt_succeeded(db: &AuthDb, keys: [String; 2]) -> AppResult<()> {
    let [account, address] = keys;
    db.run(move |c| {
        Box::pin(async move {
            q::throttle_clear(c, account).await?;
            q::throttle_succeeded(c, address).await
        })
    })
    .await
}
