//! Enabling a personal account in person (abilitazione, seed 004), and the
//! personal code it creates. A registered teacher signs in but submits
//! nothing until a school secretariat or the office has seen an identity
//! document; the staff member records the document's kind, the last four
//! characters of its number and the day it was checked. The account then
//! gets its personal code: half shown once to the staff member, half
//! e-mailed to the teacher.

use chrono::{DateTime, NaiveDate, Utc};

use super::passwords::Passwords;
use crate::authz::Caller;
use crate::db::accounts::{self as q, NewEnabling};
use crate::db::{RequestDb, audit};
use crate::error::{AppError, AppResult};
use crate::mail::Mailer;
use crate::rules::personal_code;

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
    let mut random = [0u8; 2 * personal_code::HALF];
    getrandom::fill(&mut random).map_err(|e| AppError::internal(anyhow::anyhow!("random source: {e}")))?;
    let (staff_half, mail_half) = personal_code::halves(random);
    let hash = passwords.hash(&format!("{staff_half}{mail_half}")).await?;
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
    tokio::spawn(async move {
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
        if let Err(e) = mailer.send(&to, "Ambito: account abilitato", body).await {
            let reason = crate::mail::without_addresses(&format!("{e:#}"));
            tracing::error!(error = %reason, "sending the enabling e-mail failed");
        }
    });
    Ok(Enabled { email: input.email, enabled_at, staff_half })
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
