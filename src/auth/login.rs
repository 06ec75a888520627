//! The login service: throttling, password check, session creation. Runs on
//! the privileged [`AuthDb`]: nobody is signed in yet.

use chrono::{DateTime, Utc};

use super::passwords::Passwords;
use super::{SessionPolicy, normalize_email, tokens};
use crate::db::AuthDb;
use crate::db::accounts::{self as q, MembershipRow};
use crate::error::{AppError, AppResult};
use crate::rules::throttle::{self, Decision, ThrottlePolicy};

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
    let keys = [format!("account:{email}"), format!("address:{}", addr.0)];
    let now = Utc::now();
    let records = {
        let keys = keys.to_vec();
        db.run(move |c| Box::pin(q::throttle_records(c, keys))).await?
    };
    let record = |key: &str| records.iter().find(|(k, _)| k == key).map(|(_, r)| *r);
    let mut delay = std::time::Duration::ZERO;
    for key in &keys {
        match throttle::decide(services.throttle, record(key).as_ref(), now) {
            Decision::Locked(until) => return Err(AppError::RateLimited { until }),
            Decision::Allow(d) => delay = delay.max(d),
        }
    }
    tokio::time::sleep(delay).await;

    let user = {
        let email = email.clone();
        db.run(move |c| Box::pin(async move { q::user_by_email(c, &email).await })).await?
    };
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let matches = services.passwords.verify(password, stored).await?;
    let Some(user) = user.filter(|u| matches && u.disabled_at.is_none()) else {
        let limits = [services.throttle.account_lock_after, services.throttle.address_lock_after];
        for (key, lock_after) in keys.into_iter().zip(limits) {
            let next = throttle::after_failure(services.throttle, record(&key).as_ref(), lock_after, now);
            db.run(move |c| Box::pin(q::throttle_store(c, key, next))).await?;
        }
        return Err(AppError::LoginFailed);
    };
    let [account_key, _] = keys;
    db.run(move |c| Box::pin(q::throttle_clear(c, account_key))).await?;

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
