//! The account lifecycle of seed 004 besides password recovery:
//! self-registration, which creates an account only once its holder proves
//! the address; an address change, confirmed from the new address; and
//! revocation of one's own account. Limited mode switches each one off.
//! These are for personal accounts (teachers): an organisation's account
//! keeps the address the office gave it, and the office manages it.

use chrono::Utc;
use diesel::result::Error as DbError;
use diesel_async::AsyncConnection as _;

use super::limited::{AccountFunction, ensure_enabled};
use super::login::{ClientAddr, admit_password_attempt, password_attempt_succeeded};
use super::recovery::{PublicUrl, admit_mail_request};
use crate::auth::passwords::Passwords;
use crate::auth::{OrgRef, Role, tokens};
use crate::db::AuthDb;
use crate::db::accounts::{self as q, PendingValidation, Validation};
use crate::error::{AppError, AppResult};
use crate::mail::Mailer;
use crate::rules::throttle::ThrottlePolicy;

/// How long a registration or address-change link works.
pub const VALIDATION_VALID_FOR: chrono::Duration = chrono::Duration::hours(24);

/// What sends the e-mailed links.
#[derive(Clone)]
pub struct Links {
    pub db: AuthDb,
    pub mailer: Mailer,
    pub url: PublicUrl,
    pub throttle: ThrottlePolicy,
}

impl Links {
    /// Runs `send` in the background: neither the answer nor its timing may
    /// tell whether an address has an account.
    pub fn in_background(&self, what: &'static str, send: impl Future<Output = AppResult<()>> + Send + 'static) {
        crate::mail::in_background(what, send);
    }

    /// Tells the holder of `email` that it already has an account.
    async fn already_registered(&self, email: &str) -> AppResult<()> {
        let body = format!(
            "Gentile utente,\n\n\
             questo indirizzo ha già un account Ambito. Per accedere usi la password che ha scelto; \
             se non la ricorda, la reimposti da {}.\n\n\
             This address already has an Ambito account: sign in, or reset the password.\n",
            self.url.page("forgot-password")
        );
        self.mailer.send(email, "Ambito: account già registrato", body).await.map_err(AppError::Internal)
    }

    /// In the background: e-mails `email` a link that confirms it for
    /// `purpose`, or, when the address already has an account, tells its
    /// holder so instead.
    fn validate_address(&self, purpose: NewAddress, email: String, user_id: Option<i64>, password: Option<String>) {
        let l = self.clone();
        let (what, page, subject) = match purpose {
            NewAddress::Registration => {
                ("registration", "confirm-registration", "Ambito: conferma della registrazione")
            }
            NewAddress::EmailChange => ("address change", "confirm-email", "Ambito: conferma del nuovo indirizzo"),
        };
        let purpose = purpose.validation();
        self.in_background(what, async move {
            let known = {
                let email = email.clone();
                l.db.run(move |c| Box::pin(async move { q::user_id_by_email(c, &email).await })).await?
            };
            if known.is_some() {
                return l.already_registered(&email).await;
            }
            let (token, hash) = tokens::new_token();
            let expires = Utc::now() + VALIDATION_VALID_FOR;
            let to = email.clone();
            l.db.run(move |c| {
                Box::pin(async move {
                    let v = PendingValidation { purpose, email: &to, user_id, password_hash: password.as_deref() };
                    q::create_validation(c, v, &hash, expires).await
                })
            })
            .await?;
            let body = format!(
                "Gentile utente,\n\n\
                 per confermare questo indirizzo per Ambito apra questo collegamento entro 24 ore:\n\n\
                 {}\n\n\
                 Se non ha chiesto lei la registrazione o il cambio di indirizzo, ignori questo messaggio.\n\n\
                 To confirm this address for Ambito, open the link above within 24 hours.\n\
                 If you did not ask for it, ignore this message.\n",
                l.url.link(page, &token)
            );
            l.mailer.send(&email, subject, body).await.map_err(AppError::Internal)
        });
    }
}

/// Starts a registration: e-mails a link that creates the account (a
/// teacher's, acting for themselves) with `password`. Answers the same
/// whether or not the address has an account; if it has, its holder is
/// told so instead.
pub async fn register(
    links: &Links,
    passwords: &Passwords,
    addr: &ClientAddr,
    email: String,
    password: &str,
) -> AppResult<()> {
    ensure_enabled(&links.db, AccountFunction::Registration).await?;
    crate::auth::passwords::acceptable(password)?;
    // Counted before the hash: a refused or surplus request costs no argon2 time.
    if !admit_mail_request(&links.db, &links.throttle, &email, addr).await? {
        return Ok(());
    }
    let hash = passwords.hash(password).await?;
    links.validate_address(NewAddress::Registration, email, None, Some(hash));
    Ok(())
}

/// What checking the caller's own password needs: it is throttled.
pub struct PasswordCheck<'a> {
    pub passwords: &'a Passwords,
    pub throttle: &'a ThrottlePolicy,
    pub addr: &'a ClientAddr,
}

/// Account events whose holder is told by e-mail, at the account's address,
/// with what to do if it was not them (NIST SP 800-63B rev. 4, section 4.6).
/// Enabling and a new personal code send messages of their own, which carry
/// the code and the same line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    Registered,
    PasswordReset,
    AddressChanged,
    Revoked,
}

impl Notice {
    fn text(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Notice::Registered => (
                "Ambito: account creato",
                "il suo account Ambito è stato creato con questo indirizzo. Per presentare domande va abilitato in \
                 presenza presso una segreteria scolastica o l'ufficio, con un documento d'identità.",
                "Your Ambito account was created with this address.",
            ),
            Notice::PasswordReset => (
                "Ambito: password cambiata",
                "la password del suo account Ambito è stata reimpostata e ogni sessione aperta è stata chiusa.",
                "Your Ambito password was reset and every open session ended.",
            ),
            Notice::AddressChanged => (
                "Ambito: indirizzo cambiato",
                "l'indirizzo del suo account Ambito è stato cambiato: da ora accede con il nuovo indirizzo.",
                "Your Ambito account's address was changed.",
            ),
            Notice::Revoked => (
                "Ambito: account revocato",
                "il suo account Ambito è stato revocato: non è più possibile accedere.",
                "Your Ambito account was revoked: it can no longer sign in.",
            ),
        }
    }

    /// The message: what happened, and what to do if it was not the holder.
    pub fn body(self) -> String {
        let (_, it, en) = self.text();
        format!(
            "Gentile utente,\n\n{it}\n\n\
             Se non è stato lei, avverta subito l'ufficio scolastico e reimposti la password.\n\n\
             {en} If this was not you, tell the school office at once and reset your password.\n"
        )
    }
}

impl Links {
    /// Tells the holder of `email` of an account event, in the background.
    pub fn notify(&self, email: String, notice: Notice) {
        let mailer = self.mailer.clone();
        self.in_background("account notice", async move {
            mailer.send(&email, notice.text().0, notice.body()).await.map_err(AppError::Internal)
        });
    }
}

/// Why an address is being validated: a new account, or a new address for
/// an existing one.
#[derive(Clone, Copy)]
enum NewAddress {
    Registration,
    EmailChange,
}

impl NewAddress {
    fn validation(self) -> Validation {
        match self {
            NewAddress::Registration => Validation::Registration,
            NewAddress::EmailChange => Validation::EmailChange,
        }
    }
}

/// What confirming a link found.
enum Confirmed<T> {
    Done(T),
    Invalid,
    Taken,
}

fn outcome<T>(c: Confirmed<T>, again: &str) -> AppResult<T> {
    match c {
        Confirmed::Done(t) => Ok(t),
        Confirmed::Invalid => {
            Err(AppError::bad_input("token", format!("the link is invalid, used or expired: {again}")))
        }
        Confirmed::Taken => Err(AppError::bad_input(
            "token",
            "this address already has an account: sign in with it, or reset its password",
        )),
    }
}

/// Completes a registration from its link: the account exists from now on.
pub async fn confirm_registration(links: &Links, token: &str) -> AppResult<()> {
    ensure_enabled(&links.db, AccountFunction::Registration).await?;
    ensure_enabled(&links.db, AccountFunction::EmailValidation).await?;
    let token_hash = tokens::hash(token.trim());
    let done = links
        .db
        .run(move |c| {
            Box::pin(c.transaction::<_, DbError, _>(async move |c| {
                let Some((email, _, Some(hash))) =
                    q::spend_validation(c, Validation::Registration, &token_hash).await?
                else {
                    return Ok(Confirmed::Invalid);
                };
                let Some(user_id) = q::create_user(c, &email, Some(&hash)).await? else {
                    return Ok(Confirmed::Taken);
                };
                q::grant(c, user_id, Role::Teacher, &OrgRef::Own).await?;
                Ok(Confirmed::Done(email))
            }))
        })
        .await?;
    let email = outcome(done, "register again")?;
    links.notify(email, Notice::Registered);
    Ok(())
}

/// The caller's own account, if it is a personal one and `password` is its
/// password. An organisation's account is the office's to change.
/// The password check is throttled like a login (a stolen session must not
/// become a way to guess the password), counted before it is computed.
pub(crate) async fn own_personal_account(
    db: &AuthDb,
    check: &PasswordCheck<'_>,
    user_id: i64,
    password: &str,
) -> AppResult<q::UserRow> {
    let (user, memberships) = db
        .run(move |c| {
            Box::pin(async move { Ok((q::user_by_id(c, user_id).await?, q::memberships_of(c, user_id).await?)) })
        })
        .await?;
    let user = user.ok_or(AppError::Unauthenticated)?;
    if memberships.iter().any(|m| m.role != Role::Teacher.as_str()) {
        return Err(AppError::Refused(
            "this account acts for an organisation: its address and its end are managed by the provincial office"
                .into(),
        ));
    }
    let keys = admit_password_attempt(db, check.throttle, &user.email, check.addr).await?;
    if !check.passwords.verify(password, user.password_hash.as_deref()).await? {
        return Err(AppError::bad_input("password", "is not this account's password"));
    }
    password_attempt_succeeded(db, keys).await?;
    Ok(user)
}

/// Starts an address change: e-mails a link to the new address, which
/// becomes the account's address when the link is opened.
pub async fn request_email_change(
    links: &Links,
    check: &PasswordCheck<'_>,
    user_id: i64,
    password: &str,
    new_email: String,
) -> AppResult<()> {
    ensure_enabled(&links.db, AccountFunction::EmailChange).await?;
    let addr = check.addr;
    let user = own_personal_account(&links.db, check, user_id, password).await?;
    if user.email == new_email {
        return Err(AppError::bad_input("newEmail", "is already this account's address"));
    }
    if !admit_mail_request(&links.db, &links.throttle, &new_email, addr).await? {
        return Ok(());
    }
    links.validate_address(NewAddress::EmailChange, new_email, Some(user.id), None);
    Ok(())
}

/// Completes an address change from the link sent to the new address. The
/// account's sessions end, and the old address is told.
pub async fn confirm_email_change(links: &Links, token: &str) -> AppResult<()> {
    ensure_enabled(&links.db, AccountFunction::EmailChange).await?;
    ensure_enabled(&links.db, AccountFunction::EmailValidation).await?;
    let token_hash = tokens::hash(token.trim());
    let done = links
        .db
        .run(move |c| {
            Box::pin(c.transaction::<_, DbError, _>(async move |c| {
                let Some((email, Some(user_id), _)) =
                    q::spend_validation(c, Validation::EmailChange, &token_hash).await?
                else {
                    return Ok(Confirmed::Invalid);
                };
                let old = q::email_of(c, user_id).await?;
                match q::set_email(c, user_id, &email).await? {
                    true => Ok(Confirmed::Done(old)),
                    false => Ok(Confirmed::Taken),
                }
            }))
        })
        .await?;
    let old = outcome(done, "ask for the change again")?;
    links.notify(old, Notice::AddressChanged);
    Ok(())
}

/// Revokes the caller's own account for good, confirmed with its password.
pub async fn revoke_own_account(
    links: &Links,
    check: &PasswordCheck<'_>,
    user_id: i64,
    password: &str,
) -> AppResult<()> {
    let db = &links.db;
    ensure_enabled(db, AccountFunction::Revocation).await?;
    let user = own_personal_account(db, check, user_id, password).await?;
    db.run(move |c| Box::pin(c.transaction::<_, DbError, _>(async move |c| q::revoke_account(c, user_id).await)))
        .await?;
    // The address has left the account: the notice goes to where it was.
    links.notify(user.email, Notice::Revoked);
    Ok(())
}
