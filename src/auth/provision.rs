//! Provisioning as in seed 000: the office creates the accounts of its
//! schools from their institutional addresses in the registry; each holder
//! then sets the first password through password recovery.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{OrgRef, Role, normalize_email};
use crate::db::RequestDb;
use crate::db::accounts;
use crate::db::schema::institutions;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone)]
pub struct Provisioned {
    pub email: String,
    pub school: String,
    /// False when the account and membership existed already.
    pub created: bool,
}

/// Accounts for the state schools of `province` (all of them, or the listed
/// codes). Runs in the caller's scope: row security refuses a membership
/// outside the province even if this code were wrong.
pub async fn schools(db: &RequestDb, province: String, codes: Option<Vec<String>>) -> AppResult<Vec<Provisioned>> {
    let wanted = codes.clone();
    let found: Vec<(String, Option<String>)> = db
        .run(move |c| {
            Box::pin(async move {
                let mut q = institutions::table
                    .filter(institutions::province_code.eq(province))
                    .filter(institutions::kind.eq("state"))
                    .into_boxed();
                if let Some(codes) = wanted {
                    q = q.filter(institutions::code.eq_any(codes));
                }
                q.order(institutions::code).select((institutions::code, institutions::email)).load(c).await
            })
        })
        .await?;
    if let Some(codes) = &codes
        && codes.iter().any(|c| !found.iter().any(|(f, _)| f == c))
    {
        return Err(AppError::NotFound);
    }
    let mut out = Vec::new();
    for (school, email) in found {
        let Some(email) = email.and_then(|e| normalize_email(&e).ok()) else { continue };
        let (e, s) = (email.clone(), school.clone());
        let created = db
            .run(move |c| {
                Box::pin(async move {
                    let user = match accounts::user_by_email(c, &e).await? {
                        Some(u) => u.id,
                        None => accounts::create_user(c, &e, None).await?,
                    };
                    let has = accounts::memberships_of(c, user)
                        .await?
                        .iter()
                        .any(|m| m.role == "school" && m.institution_code.as_deref() == Some(&s));
                    if !has {
                        accounts::grant(c, user, Role::School, &OrgRef::School(s)).await?;
                    }
                    Ok(!has)
                })
            })
            .await?;
        out.push(Provisioned { email, school, created });
    }
    Ok(out)
}
