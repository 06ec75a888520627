//! Password recovery: a single-use link e-mailed to the account's address.
//! It is also how a provisioned account (seed 000) sets its first password:
//! the holder proves control of the institutional mailbox.

use chrono::Utc;
use diesel_async::AsyncConnection as _;

use super::lifecycle::{Links, Notice};
use super::login::ClientAddr;
use crate::auth::passwords::Passwords;
use crate::auth::tokens;
use crate::db::AuthDb;
use crate::db::accounts as q;
use crate::error::{AppError, AppResult};
use crate::mail::Mailer;
use crate::rules::throttle::{Decision, ThrottlePolicy};

/// How long a reset link works.
pub const RESET_VALID_FOR: chrono::Duration = chrono::Duration::minutes(60);

/// Where the links in e-mails point. From configuration, never from request
/// headers, so a forged `Host` cannot redirect a reset link.
#[derive(Debug, Clone)]
pub struct PublicUrl(pub String);

impl PublicUrl {
    /// A page of the front end.
    pub fn page(&self, page: &str) -> String {
        format!("{}/{page}", self.0.trim_end_matches('/'))
    }

    /// A page with a token in the fragment, which browsers never send to a
    /// server: the token cannot end up in any access log.
    pub fn link(&self, page: &str, token: &str) -> String {
        format!("{}#token={token}", self.page(page))
    }
}

/// Reset e-mails one account may be sent per throttle period: enough for a
/// lost message, too few to flood a mailbox.
pub const RESETS_PER_ACCOUNT: u32 = 3;
/// Reset requests one client address may make per throttle period.
pub const RESETS_PER_ADDRESS: u32 = 20;

/// Counts a request that e-mails a link (a reset, a registration, an
/// address change) against the e-mail and the client address, atomically. Too many from the address is RATE_LIMITED; too many for the
/// e-mail sends nothing more (`false`) but answers as usual, so that the
/// answer still says nothing about the account.
pub async fn admit_mail_request(
    db: &AuthDb,
    policy: &ThrottlePolicy,
    email: &str,
    addr: &ClientAddr,
) -> AppResult<bool> {
    // One counter for every kind of link: a mailbox gets at most three per
    // period, whatever they are for.
    let keys =
        vec![(format!("mail:{email}"), RESETS_PER_ACCOUNT), (format!("mail-address:{}", addr.0), RESETS_PER_ADDRESS)];
    let (policy, now) = (*policy, Utc::now());
    let decisions = db.run(move |c| Box::pin(q::throttle_attempt(c, policy, keys, now))).await?;
    if let Decision::Locked(until) = decisions[1] {
        return Err(AppError::TooManyResets { until });
    }
    Ok(matches!(decisions[0], Decision::Allow(_)))
}

/// Sends a reset link if the address belongs to an enabled account; does
/// nothing otherwise. Callers answer the same either way and run this in the
/// background, so neither the answer nor its timing tells whether the
/// account exists.
pub async fn send_reset_link(db: &AuthDb, mailer: &Mailer, public_url: &PublicUrl, email: String) -> AppResult<()> {
    let user = {
        let email = email.clone();
        db.run(move |c| Box::pin(async move { q::user_by_email(c, &email).await })).await?
    };
    let Some(user) = user.filter(|u| u.disabled_at.is_none()) else { return Ok(()) };
    let (token, hash) = tokens::new_token();
    let user_id = user.id;
    let expires = Utc::now() + RESET_VALID_FOR;
    db.run(move |c| Box::pin(async move { q::create_reset(c, user_id, &hash, expires).await })).await?;
    let link = public_url.link("reset-password", &token);
    let body = format!(
        "Gentile utente,\n\n\
         per impostare la password di Ambito apra questo collegamento entro 60 minuti:\n\n\
         {link}\n\n\
         Se non ha chiesto lei il ripristino, ignori questo messaggio.\n\n\
         To set your Ambito password, open the link above within 60 minutes.\n\
         If you did not ask for it, ignore this message.\n"
    );
    mailer.send(&email, "Ambito: impostazione della password", body).await.map_err(AppError::Internal)
}

/// Sets a new password with a reset token; ends every session and lifts a
/// login lock on the account.
pub async fn reset_password(links: &Links, passwords: &Passwords, token: &str, new_password: &str) -> AppResult<()> {
    let db = &links.db;
    let invalid = || AppError::bad_input("token", "the link is invalid, used or expired: ask for a new one");
    let weak = |e: AppError| match e {
        AppError::BadInput { reason, .. } => AppError::bad_input("newPassword", reason),
        other => other,
    };
    crate::auth::passwords::acceptable(new_password).map_err(weak)?;
    let token_hash = tokens::hash(token.trim());
    // The token is looked at before anything is hashed: without a live one a
    // request costs no argon2 time at all.
    let live = {
        let token_hash = token_hash.clone();
        db.run(move |c| Box::pin(async move { q::reset_is_live(c, &token_hash).await })).await?
    };
    if !live {
        return Err(invalid());
    }
    let hash = passwords.hash(new_password).await.map_err(weak)?;
    // Spending the token and setting the password commit together or not at all.
    let done = db
        .run(move |c| {
            Box::pin(c.transaction::<_, diesel::result::Error, _>(async move |c| {
                let Some(user_id) = q::spend_reset(c, &token_hash).await? else { return Ok(None) };
                q::set_password(c, user_id, &hash).await?;
                let email = q::email_of(c, user_id).await?;
                q::throttle_clear(c, format!("account:{email}")).await?;
                Ok(Some(email))
            }))
        })
        .await?;
    let email = done.ok_or_else(invalid)?;
    links.notify(email, Notice::PasswordReset);
    Ok(())
}
