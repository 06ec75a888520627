//! Enabling a personal account in person (abilitazione, seed 004), and the
//! personal code it creates. A registered teacher signs in but submits
//! nothing until a school secretariat or the office has seen an identity
//! document; the staff member records the document's kind, the last four
//! characters of its number and the day it was checked. The account then
//! gets its personal code: half shown once to the staff member, half
//! e-mailed to the teacher. Its holder may ask for a new code later, by a
//! link e-mailed to the account's address.

use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::AsyncConnection as _;

use super::lifecycle::{Links, PasswordCheck, own_personal_account};
use super::limited::{AccountFunction, ensure_enabled};
use super::login::{ClientAddr, admit_password_attempt, password_attempt_succeeded};
use super::recovery::admit_mail_request;
use crate::auth::passwords::Passwords;
use crate::auth::tokens;
use crate::authz::Caller;
use crate::db::accounts::{self as q, NewEnabling, PendingValidation, Validation};
use crate::db::{AuthDb, RequestDb, audit};
use crate::error::{AppError, AppResult};
use crate::mail::Mailer;
use crate::rules::personal_code;
use crate::rules::throttle::ThrottlePolicy;

/// The identity documents a secretariat may check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    CartaIdentita,
    Passaporto,
    Patente,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::CartaIdentita => "carta_identita",
            DocumentKind::Passaporto => "passaporto",
            DocumentKind::Patente => "patente",
        }
    }
}

/// What the staff member recorded.
pub struct Enabling {
    pub email: String,
    pub document_kind: DocumentKind,
    pub document_last4: String,
    pub checked_on: NaiveDate,
}

/// An enabled account, and the half of its code to hand over on paper.
pub struct Enabled {
    pub email: String,
    pub enabled_at: DateTime<Utc>,
    pub staff_half: String,
}

/// The last four characters of a document number: letters or digits.
fn last4(raw: &str) -> AppResult<String> {
    let v = raw.trim().to_ascii_uppercase();
    if v.len() == 4 && v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(v)
    } else {
        Err(AppError::bad_input("input.documentNumberLast4", "must be the last four letters or digits of the number"))
    }
}

/// Enables the personal account of `input.email` for the caller (a school
/// or the office of the account's province), with a new personal code. An
/// account the caller may not enable is not found, like one that does not
/// exist. The e-mailed half leaves once the database work succeeded.
pub async fn enable(
    db: &RequestDb,
    passwords: &Passwords,
    mailer: Option<&Mailer>,
    caller: &Caller,
    input: Enabling,
    today: NaiveDate,
) -> AppResult<Enabled> {
    let document_last4 = last4(&input.document_last4)?;
    if input.checked_on > today {
        return Err(AppError::bad_input("input.checkedOn", "is in the future: give the day the document was seen"));
    }
    let province = caller.province.clone().ok_or(AppError::Forbidden)?;
    let mailer = mailer.ok_or_else(|| AppError::internal(anyhow::anyhow!("no mailer configured")))?.clone();
    let email = input.email.clone();
    let user = db.run(move |c| Box::pin(async move { q::enablable(c, &email).await })).await?;
    let user = user.ok_or(AppError::NotFound)?;
    // Looked up before anything is hashed: an unknown address costs no argon2 time.
    let code = fresh_code()?;
    let (staff_half, mail_half) = code.split_at(personal_code::HALF);
    let (staff_half, mail_half) = (staff_half.to_owned(), mail_half.to_owned());
    let hash = passwords.hash(&code).await?;
    let (school, kind, checked_on) = (caller.school.clone(), input.document_kind, input.checked_on);
    let event = audit::Event {
        action: "enable",
        object_kind: "account",
        object_id: Some(user.to_string()),
        province: Some(province.clone()),
        institution: school.clone(),
        current: Some(serde_json::json!({
            "email": input.email,
            "documentKind": kind.as_str(),
            "documentNumberLast4": document_last4,
            "checkedOn": checked_on,
        })),
        ..Default::default()
    };
    let enabled_at = db
        .try_run(move |c| {
            Box::pin(async move {
                let record = NewEnabling {
                    user_id: user,
                    province_code: &province,
                    institution_code: school.as_deref(),
                    document_kind: kind.as_str(),
                    document_last4: &document_last4,
                    checked_on,
                };
                let at = q::enable(c, &hash, record).await?.ok_or(AppError::NotFound)?;
                audit::record(c, vec![event]).await?;
                Ok(at)
            })
        })
        .await?;
    let to = input.email.clone();
    crate::mail::in_background("enabling", async move {
        let body = format!(
            "Gentile docente,\n\n\
             il suo account Ambito è stato abilitato in presenza. Da ora può presentare domande: \
             ogni invio si conferma con il codice personale, fatto di due metà. La prima metà le è stata \
             consegnata su carta da chi l'ha abilitata; la seconda è questa:\n\n\
             Codice personale (seconda metà): {mail_half}\n\n\
             Il codice è la prima metà seguita dalla seconda. Non lo comunichi a nessuno.\n\
             Se non è stato lei a chiedere l'abilitazione, avverta subito l'ufficio scolastico.\n\n\
             Your Ambito account was enabled in person. Your personal code is the half you were handed \
             on paper followed by the half above. If this was not you, tell the school office at once.\n"
        );
        mailer.send(&to, "Ambito: account abilitato", body).await
    });
    Ok(Enabled { email: input.email, enabled_at, staff_half })
}

/// How long a link for a new personal code works.
pub const REGENERATION_VALID_FOR: chrono::Duration = chrono::Duration::minutes(60);

/// A new personal code, from the operating system's random source.
pub fn fresh_code() -> AppResult<String> {
    let mut random = [0u8; 2 * personal_code::HALF];
    getrandom::fill(&mut random).map_err(|e| AppError::internal(anyhow::anyhow!("random source: {e}")))?;
    let (a, b) = personal_code::halves(random);
    Ok(format!("{a}{b}"))
}

/// Asks for a new personal code: confirmed with the password (throttled like
/// a login), it e-mails a single-use link to the account's address. Only an
/// enabled teacher's account has a code to regenerate.
pub async fn request_regeneration(
    links: &Links,
    check: &PasswordCheck<'_>,
    user_id: i64,
    password: &str,
) -> AppResult<()> {
    ensure_enabled(&links.db, AccountFunction::PersonalCodeRegeneration).await?;
    let user = own_personal_account(&links.db, check, user_id, password).await?;
    let enabled = links.db.run(move |c| Box::pin(q::enabled_at(c, user_id))).await?;
    if enabled.is_none() {
        return Err(AppError::Refused(
            "the account is not enabled yet: a school secretariat enables it in person, which creates the code".into(),
        ));
    }
    if !admit_mail_request(&links.db, &links.throttle, &user.email, check.addr).await? {
        return Ok(());
    }
    let (token, hash) = tokens::new_token();
    let (email, expires) = (user.email.clone(), Utc::now() + REGENERATION_VALID_FOR);
    links
        .db
        .run(move |c| {
            Box::pin(async move {
                let v = PendingValidation {
                    purpose: Validation::PersonalCode,
                    email: &email,
                    user_id: Some(user_id),
                    password_hash: None,
                };
                q::create_validation(c, v, &hash, expires).await
            })
        })
        .await?;
    let (mailer, link) = (links.mailer.clone(), links.url.link("confirm-personal-code", &token));
    links.in_background("personal-code link", async move {
        let body = format!(
            "Gentile docente,\n\n\
             per ricevere un nuovo codice personale apra questo collegamento entro 60 minuti:\n\n\
             {link}\n\n\
             Il codice attuale resta valido finché non apre il collegamento.\n\
             Se non ha chiesto lei un nuovo codice, ignori questo messaggio e avverta l'ufficio scolastico.\n\n\
             To get a new personal code, open the link above within 60 minutes.\n"
        );
        mailer.send(&user.email, "Ambito: nuovo codice personale", body).await.map_err(AppError::Internal)
    });
    Ok(())
}

/// Completes a regeneration from its link: the account gets a new personal
/// code, e-mailed whole to its address with a notice that it changed. The
/// token is looked at before anything is hashed; it works once.
pub async fn confirm_regeneration(links: &Links, passwords: &Passwords, token: &str) -> AppResult<()> {
    ensure_enabled(&links.db, AccountFunction::PersonalCodeRegeneration).await?;
    let invalid = || AppError::bad_input("token", "the link is invalid, used or expired: ask for a new code again");
    let token_hash = tokens::hash(token.trim());
    let live = {
        let token_hash = token_hash.clone();
        links
            .db
            .run(move |c| {
                Box::pin(async move { q::validation_is_live(c, Validation::PersonalCode, &token_hash).await })
            })
            .await?
    };
    if !live {
        return Err(invalid());
    }
    let code = fresh_code()?;
    let hash = passwords.hash(&code).await?;
    let spent = links
        .db
        .run(move |c| {
            Box::pin(c.transaction::<_, diesel::result::Error, _>(async move |c| {
                let Some((email, Some(user_id), _)) =
                    q::spend_validation(c, Validation::PersonalCode, &token_hash).await?
                else {
                    return Ok(None);
                };
                q::set_personal_code(c, user_id, &hash).await?;
                Ok(Some(email))
            }))
        })
        .await?;
    let email = spent.ok_or_else(invalid)?;
    let mailer = links.mailer.clone();
    links.in_background("new personal code", async move {
        let body = format!(
            "Gentile docente,\n\n\
             il codice personale del suo account Ambito è cambiato. Il nuovo codice è:\n\n\
             Codice personale: {code}\n\n\
             Il codice precedente non vale più. Se non è stato lei a chiederlo, avverta subito l'ufficio \
             scolastico e cambi la password.\n\n\
             Your Ambito personal code changed; the new one is above. If this was not you, tell the school \
             office at once and change your password.\n"
        );
        mailer.send(&email, "Ambito: codice personale cambiato", body).await.map_err(AppError::Internal)
    });
    Ok(())
}

/// A step-up with the personal code (seed 004: «L'inserimento si completerà
/// con il codice personale»): what confirms a process-4 submission, its
/// withdrawal and a document. Throttled like a login, on keys of its own.
pub struct CodeCheck<'a> {
    pub auth: &'a AuthDb,
    pub passwords: &'a Passwords,
    pub throttle: &'a ThrottlePolicy,
    pub addr: &'a ClientAddr,
    pub user_id: i64,
    pub code: &'a str,
}

impl CodeCheck<'_> {
    /// `PERSONAL_CODE_INVALID` for a wrong code, or an account that has none
    /// (not enabled in person yet).
    pub async fn verify(&self) -> AppResult<()> {
        let invalid = || {
            AppError::rule(
                "PERSONAL_CODE_INVALID",
                "the personal code is wrong, or the account is not enabled in person yet",
            )
        };
        let keys =
            admit_password_attempt(self.auth, self.throttle, &format!("personal-code:{}", self.user_id), self.addr)
                .await?;
        let user = self.user_id;
        let hash = self.auth.run(move |c| Box::pin(q::personal_code_hash(c, user))).await?;
        let Some(code) = personal_code::normalize(self.code) else {
            // Shaped wrong: still hashed, so a wrong shape costs what a wrong code does.
            self.passwords.verify("-", hash.as_deref()).await?;
            return Err(invalid());
        };
        if !self.passwords.verify(&code, hash.as_deref()).await? {
            return Err(invalid());
        }
        password_attempt_succeeded(self.auth, keys).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_four_characters_are_letters_or_digits() {
        assert_eq!(last4(" ab12 ").unwrap(), "AB12");
        for bad in ["123", "12345", "12-4", "", "àb12"] {
            assert!(last4(bad).is_err(), "{bad:?}");
        }
    }
}
