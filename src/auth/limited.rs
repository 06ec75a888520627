//! Limited mode (seed 004): an operator switch that disables chosen account
//! functions while everything else, open applications included, keeps working.
//! Stored in the database, so every server process sees the same switch.

use std::fmt;
use std::str::FromStr;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::AuthDb;
use crate::db::schema::app_meta;
use crate::error::{AppError, AppResult};

const KEY: &str = "limited_mode";

/// Account functions the switch can disable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountFunction {
    /// Self-registration of new accounts.
    Registration,
    /// Password recovery for addresses outside the institutional domains.
    ExternalPasswordRecovery,
    /// Changing an account's e-mail address.
    EmailChange,
    /// Revoking one's own account.
    Revocation,
    /// Asking for a new personal code.
    PersonalCodeRegeneration,
    /// Confirming an address by its e-mailed link (of a registration or an
    /// address change).
    EmailValidation,
}

impl AccountFunction {
    pub const ALL: [AccountFunction; 6] = [
        AccountFunction::Registration,
        AccountFunction::ExternalPasswordRecovery,
        AccountFunction::EmailChange,
        AccountFunction::Revocation,
        AccountFunction::PersonalCodeRegeneration,
        AccountFunction::EmailValidation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountFunction::Registration => "registration",
            AccountFunction::ExternalPasswordRecovery => "external-password-recovery",
            AccountFunction::EmailChange => "email-change",
            AccountFunction::Revocation => "revocation",
            AccountFunction::PersonalCodeRegeneration => "personal-code-regeneration",
            AccountFunction::EmailValidation => "email-validation",
        }
    }
}

impl AccountFunction {
    /// What the function is, for people.
    pub fn describe(self) -> &'static str {
        match self {
            AccountFunction::Registration => "registration",
            AccountFunction::ExternalPasswordRecovery => "password recovery for non-institutional addresses",
            AccountFunction::EmailChange => "e-mail change",
            AccountFunction::Revocation => "account revocation",
            AccountFunction::PersonalCodeRegeneration => "personal code regeneration",
            AccountFunction::EmailValidation => "e-mail address validation",
        }
    }
}

impl fmt::Display for AccountFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccountFunction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AccountFunction::ALL.into_iter().find(|f| f.as_str() == s.trim()).ok_or_else(|| {
            let all: Vec<&str> = AccountFunction::ALL.iter().map(|f| f.as_str()).collect();
            format!("unknown account function {s:?}: one of {}", all.join(", "))
        })
    }
}

/// The Ministry's institutional mail domains: their holders can always recover access.
pub fn is_institutional(email: &str) -> bool {
    email.ends_with("@istruzione.it") || email.ends_with("@pec.istruzione.it")
}

/// LIMITED_MODE when the switch disables `function` now.
pub async fn ensure_enabled(db: &AuthDb, function: AccountFunction) -> AppResult<()> {
    if db.run(|c| Box::pin(disabled(c))).await?.contains(&function) {
        return Err(AppError::Disabled(function.describe().into()));
    }
    Ok(())
}

/// The functions disabled now; empty when limited mode is off.
pub async fn disabled(conn: &mut AsyncPgConnection) -> QueryResult<Vec<AccountFunction>> {
    let value: Option<String> =
        app_meta::table.filter(app_meta::key.eq(KEY)).select(app_meta::value).first(conn).await.optional()?;
    let mut out: Vec<AccountFunction> = value.unwrap_or_default().split(',').filter_map(|s| s.parse().ok()).collect();
    out.sort();
    Ok(out)
}

/// Turns limited mode on for these functions, or off with none.
pub async fn set(conn: &mut AsyncPgConnection, functions: &[AccountFunction]) -> QueryResult<()> {
    if functions.is_empty() {
        diesel::delete(app_meta::table.filter(app_meta::key.eq(KEY))).execute(conn).await?;
        return Ok(());
    }
    let value = functions.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",");
    diesel::insert_into(app_meta::table)
        .values((app_meta::key.eq(KEY), app_meta::value.eq(&value)))
        .on_conflict(app_meta::key)
        .do_update()
        .set(app_meta::value.eq(&value))
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_institutional_domains() {
        for f in AccountFunction::ALL {
            assert_eq!(f.as_str().parse::<AccountFunction>(), Ok(f));
        }
        assert!("everything".parse::<AccountFunction>().is_err());
        assert!(is_institutional("bgic82100t@istruzione.it"));
        assert!(is_institutional("bgic82100t@pec.istruzione.it"));
        assert!(!is_institutional("famiglia.rossi@gmail.com"));
        assert!(!is_institutional("x@istruzione.it.example.com"));
    }
}
