//! Provisioning as in seed 000: the office creates the accounts of its
//! schools from their institutional addresses in the registry; each holder
//! then sets the first password through password recovery.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::{OrgRef, Role, normalize_email};
use crate::db::RequestDb;
use crate::db::schema::institutions;
use crate::db::{accounts, audit};
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone)]
pub struct Provisioned {
    pub email: String,
    pub organization: String,
    /// False when the account and membership existed already.
    pub created: bool,
}

/// Accounts for the state schools of `province` (all of them, or the listed
/// codes). Runs in the caller's scope: row security refuses a membership
/// outside the province even if this code were wrong.
pub async fn schools(db: &RequestDb, province: String, codes: Option<Vec<String>>) -> AppResult<Vec<Provisioned>> {
    let (wanted, province_code) = (codes.clone(), province.clone());
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
        let org = OrgRef::School(school.clone());
        let created = ensure(db, &province_code, email.clone(), Role::School, org).await?;
        out.push(Provisioned { email, organization: school, created });
    }
    Ok(out)
}

/// One account for one organisation of the caller's province (a school, or a
/// municipality, whose address the registry does not have). The organisation
/// must be in `province`, else it is not found.
pub async fn one(db: &RequestDb, province: String, email: String, role: Role, org: OrgRef) -> AppResult<Provisioned> {
    let org_code = org.code().unwrap_or_default().to_owned();
    let in_province = {
        let (p, o) = (province.clone(), org.clone());
        db.run(move |c| {
            Box::pin(async move {
                use crate::db::schema::{hubs, municipalities};
                let found: Option<String> = match &o {
                    OrgRef::School(code) => {
                        institutions::table.find(code).select(institutions::province_code).first(c).await.optional()?
                    }
                    OrgRef::Municipality(code) => municipalities::table
                        .find(code)
                        .select(municipalities::province_code)
                        .first(c)
                        .await
                        .optional()?,
                    OrgRef::Hub(code) => {
                        hubs::table.find(code).select(hubs::province_code).first(c).await.optional()?
                    }
                    OrgRef::Province(code) => Some(code.clone()),
                    // A directorate is above any province: the operator grants it.
                    OrgRef::Region(_) | OrgRef::Own => None,
                };
                Ok(found.as_deref() == Some(p.as_str()))
            })
        })
        .await?
    };
    if !in_province {
        return Err(AppError::NotFound);
    }
    let created = ensure(db, &province, email.clone(), role, org).await?;
    Ok(Provisioned { email, organization: org_code, created })
}

/// The account exists (without a password if new) and holds the membership.
/// Returns whether anything was created. A grant is recorded in the audit
/// trail with the request: it gives access to special-category data.
async fn ensure(db: &RequestDb, province: &str, email: String, role: Role, org: OrgRef) -> AppResult<bool> {
    let province = province.to_owned();
    db.run(move |c| {
        Box::pin(async move {
            let user = accounts::account_for(c, &email).await?;
            let held = accounts::memberships_of(c, user)
                .await?
                .iter()
                .any(|m| m.role == role.as_str() && m.to_membership().org == org);
            if !held {
                let m = accounts::grant(c, user, role, &org).await?;
                audit::record(c, vec![grant_event(Some(province), m.id, &email, role, &org)]).await?;
            }
            Ok(!held)
        })
    })
    .await
}

/// The audit event of a membership given to an account.
/// `province`: the membership's (none for a teacher's own).
pub fn grant_event(
    province: Option<String>,
    membership_id: i64,
    email: &str,
    role: Role,
    org: &OrgRef,
) -> audit::Event {
    audit::Event {
        action: "grant",
        object_kind: "membership",
        object_id: Some(membership_id.to_string()),
        province,
        current: Some(serde_json::json!({ "email": email, "role": role.as_str(), "organization": org.code() })),
        ..Default::default()
    }
}
