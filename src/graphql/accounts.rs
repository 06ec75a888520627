//! Login, logout, the viewer and its memberships.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::loaders::{HubKey, InstitutionKey, MunicipalityKey, ProvinceKey};
use super::scalars::Date;
use super::{caller, db, loader, subject};
use crate::auth::passwords::Passwords;
use crate::auth::{self, OrgRef, SessionPolicy};
use crate::authz::{Action, ObjectKind};
use crate::db::AuthDb;
use crate::db::accounts as q;
use crate::error::AppError;
use crate::mail::Mailer;
use crate::rules::throttle::ThrottlePolicy;
use crate::usecases::accounts::enabling::{self, DocumentKind, Enabling};
use crate::usecases::accounts::lifecycle::{self, Links, PasswordCheck};
use crate::usecases::accounts::limited::{self, AccountFunction, Period, Status};
use crate::usecases::accounts::login::{self, ClientAddr, LoginServices};
use crate::usecases::accounts::provision;
use crate::usecases::accounts::recovery::{self, PublicUrl};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "Role")]
pub enum RoleGql {
    /// Staff of a provincial school office: the whole province.
    Provincial,
    /// A state school institution: its own sites, pupils and documents.
    School,
    /// The head teacher of an institution: the Dirigente's acts.
    HeadTeacher,
    /// A municipality: the enrolment requests it entered.
    Municipality,
    /// Coordinators of a CTI or Polo START: their territory.
    CtiHub,
    /// A teacher: their own applications.
    Teacher,
    /// A regional directorate: the IRC teachers' forms of its region.
    Regional,
}

impl From<RoleGql> for auth::Role {
    fn from(r: RoleGql) -> Self {
        match r {
            RoleGql::Provincial => auth::Role::Provincial,
            RoleGql::School => auth::Role::School,
            RoleGql::HeadTeacher => auth::Role::HeadTeacher,
            RoleGql::Municipality => auth::Role::Municipality,
            RoleGql::CtiHub => auth::Role::CtiHub,
            RoleGql::Teacher => auth::Role::Teacher,
            RoleGql::Regional => auth::Role::Regional,
        }
    }
}

impl From<auth::Role> for RoleGql {
    fn from(r: auth::Role) -> Self {
        match r {
            auth::Role::Provincial => RoleGql::Provincial,
            auth::Role::School => RoleGql::School,
            auth::Role::HeadTeacher => RoleGql::HeadTeacher,
            auth::Role::Municipality => RoleGql::Municipality,
            auth::Role::CtiHub => RoleGql::CtiHub,
            auth::Role::Teacher => RoleGql::Teacher,
            auth::Role::Regional => RoleGql::Regional,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum OrganizationKind {
    Province,
    School,
    Municipality,
    Hub,
    Region,
}

/// The organisation a membership acts for.
#[derive(SimpleObject, Clone)]
pub struct Organization {
    kind: OrganizationKind,
    /// Province code, codice meccanografico, ISTAT code, hub code or region name.
    code: String,
    name: String,
}

/// A role held for an organisation. Every request acts as one membership.
#[derive(Clone)]
pub struct Membership(auth::Membership);

#[Object]
impl Membership {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn role(&self) -> RoleGql {
        self.0.role.into()
    }
    /// Null for a teacher, who acts for themselves.
    async fn organization(&self, ctx: &Context<'_>) -> Result<Option<Organization>> {
        let l = loader(ctx);
        let found = match &self.0.org {
            OrgRef::Province(c) => {
                l.load_one(ProvinceKey(c.clone())).await?.map(|r| (OrganizationKind::Province, r.name))
            }
            OrgRef::School(c) => {
                l.load_one(InstitutionKey(c.clone())).await?.map(|r| (OrganizationKind::School, r.name))
            }
            OrgRef::Municipality(c) => {
                l.load_one(MunicipalityKey(c.clone())).await?.map(|r| (OrganizationKind::Municipality, r.name))
            }
            OrgRef::Hub(c) => l.load_one(HubKey(c.clone())).await?.map(|r| (OrganizationKind::Hub, r.name)),
            OrgRef::Region(c) => Some((OrganizationKind::Region, format!("Direzione regionale {c}"))),
            OrgRef::Own => None,
        };
        let code = self.0.org.code().unwrap_or_default().to_owned();
        Ok(found.map(|(kind, name)| Organization { kind, code, name }))
    }
}

/// A new session: send `token` as `Authorization: Bearer <token>`.
#[derive(SimpleObject)]
pub struct Session {
    token: String,
    /// When the session ends at the latest; it ends earlier when left idle.
    expires_at: DateTime<Utc>,
    membership: Membership,
}

/// The signed-in user.
pub struct Viewer {
    user_id: i64,
    email: String,
    active: auth::Membership,
    /// When the account was enabled in person, once read.
    enabled_at: tokio::sync::OnceCell<Option<DateTime<Utc>>>,
}

#[Object]
impl Viewer {
    async fn email(&self) -> &str {
        &self.email
    }
    /// Every membership of the user; switch with `switchMembership`.
    async fn memberships(&self, ctx: &Context<'_>) -> Result<Vec<Membership>> {
        let user_id = self.user_id;
        let rows = db(ctx).run(move |c| Box::pin(q::memberships_of(c, user_id))).await?;
        Ok(rows.iter().map(|m| Membership(m.to_membership())).collect())
    }
    /// The membership this request acts as.
    async fn active_membership(&self) -> Membership {
        Membership(self.active.clone())
    }
    /// Whether the account was enabled in person (seed 004): a teacher
    /// submits nothing before. Organisations' accounts need no enabling.
    async fn enabled(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.active.role != auth::Role::Teacher || self.enabled_on(ctx).await?.is_some())
    }
    /// When the account was enabled in person.
    async fn enabled_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        Ok(self.enabled_on(ctx).await?)
    }
}

impl Viewer {
    /// When the account was enabled, read once however many fields ask.
    async fn enabled_on(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>, AppError> {
        let user_id = self.user_id;
        let at = self.enabled_at.get_or_try_init(|| db(ctx).run(move |c| Box::pin(q::enabled_at(c, user_id)))).await?;
        Ok(*at)
    }
}

/// Limited mode as front ends show it: whether a period is in force, what
/// it stops, since and until when (`until` null: until the office switches
/// it off), the office's message; and the periods planned, for a banner
/// that warns ahead.
#[derive(SimpleObject)]
pub struct ServiceStatus {
    limited: bool,
    functions: Vec<AccountFunctionGql>,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    message: Option<String>,
    planned: Vec<LimitedPeriod>,
}

/// A period of limited mode.
#[derive(SimpleObject)]
pub struct LimitedPeriod {
    functions: Vec<AccountFunctionGql>,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    message: Option<String>,
}

impl From<Period> for LimitedPeriod {
    fn from(p: Period) -> Self {
        LimitedPeriod {
            functions: p.functions.into_iter().map(Into::into).collect(),
            from: p.from,
            until: p.until,
            message: Some(p.message).filter(|m| !m.trim().is_empty()),
        }
    }
}

impl From<Status> for ServiceStatus {
    fn from(s: Status) -> Self {
        let now: Option<LimitedPeriod> = s.in_force.map(Into::into);
        ServiceStatus {
            limited: now.is_some(),
            functions: now.as_ref().map(|p| p.functions.clone()).unwrap_or_default(),
            from: now.as_ref().map(|p| p.from),
            until: now.as_ref().and_then(|p| p.until),
            message: now.and_then(|p| p.message),
            planned: s.planned.into_iter().map(Into::into).collect(),
        }
    }
}

/// The documents a secretariat may check to enable an account.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum IdentityDocumentKind {
    CartaIdentita,
    Passaporto,
    Patente,
}

impl From<IdentityDocumentKind> for DocumentKind {
    fn from(k: IdentityDocumentKind) -> Self {
        match k {
            IdentityDocumentKind::CartaIdentita => DocumentKind::CartaIdentita,
            IdentityDocumentKind::Passaporto => DocumentKind::Passaporto,
            IdentityDocumentKind::Patente => DocumentKind::Patente,
        }
    }
}

/// What a staff member records after seeing a teacher's identity document.
#[derive(InputObject)]
pub struct EnableAccountInput {
    /// The account's address.
    email: String,
    /// The teacher's tax code, as on the document (checked when given).
    tax_code: Option<String>,
    document_kind: IdentityDocumentKind,
    /// The last four letters or digits of the document's number.
    document_number_last4: String,
    /// The day the document was seen in person.
    checked_on: Date,
}

/// An account just enabled, with the half of its personal code to hand over
/// on paper: shown this once, never again.
#[derive(SimpleObject)]
pub struct EnabledAccount {
    email: String,
    enabled_at: DateTime<Utc>,
    personal_code_half: String,
}

/// Account functions that limited mode can switch off.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AccountFunction")]
pub enum AccountFunctionGql {
    Registration,
    /// Password recovery for addresses outside the institutional domains.
    ExternalPasswordRecovery,
    EmailChange,
    Revocation,
    PersonalCodeRegeneration,
    /// Confirming an address by its e-mailed link.
    EmailValidation,
}

impl From<AccountFunction> for AccountFunctionGql {
    fn from(f: AccountFunction) -> Self {
        match f {
            AccountFunction::Registration => AccountFunctionGql::Registration,
            AccountFunction::ExternalPasswordRecovery => AccountFunctionGql::ExternalPasswordRecovery,
            AccountFunction::EmailChange => AccountFunctionGql::EmailChange,
            AccountFunction::Revocation => AccountFunctionGql::Revocation,
            AccountFunction::PersonalCodeRegeneration => AccountFunctionGql::PersonalCodeRegeneration,
            AccountFunction::EmailValidation => AccountFunctionGql::EmailValidation,
        }
    }
}

/// An account the office provisioned.
#[derive(SimpleObject)]
pub struct ProvisionedAccount {
    /// The account's user name.
    email: String,
    /// The code of the organisation it acts for.
    organization: String,
    /// False when the account already existed with this membership.
    created: bool,
}

#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// Account functions switched off by limited mode (empty when it is off).
    /// Everything else, open applications included, keeps working.
    async fn limited_mode(&self, ctx: &Context<'_>) -> Result<Vec<AccountFunctionGql>> {
        let off = ctx.data_unchecked::<AuthDb>().run(|c| Box::pin(limited::disabled(c))).await?;
        Ok(off.into_iter().map(Into::into).collect())
    }

    /// Whether limited mode is on and what it stops, for a banner; public.
    /// Sign-in, one's own documents and open applications are never stopped.
    async fn service_status(&self, ctx: &Context<'_>) -> Result<ServiceStatus> {
        Ok(ctx.data_unchecked::<AuthDb>().run(|c| Box::pin(limited::status(c))).await?.into())
    }

    /// The caller; fails with UNAUTHENTICATED without a valid session.
    async fn me(&self, ctx: &Context<'_>) -> Result<Viewer> {
        let s = subject(ctx)?;
        Ok(Viewer {
            user_id: s.user_id,
            email: s.email.clone(),
            active: s.membership.clone(),
            enabled_at: Default::default(),
        })
    }
}

/// What sends e-mailed links, from the schema's data.
fn links(ctx: &Context<'_>) -> Result<Links, AppError> {
    Ok(Links {
        db: ctx.data_unchecked::<AuthDb>().clone(),
        mailer: ctx.data::<Mailer>().map_err(|_| AppError::internal(anyhow::anyhow!("no mailer configured")))?.clone(),
        url: ctx.data_unchecked::<PublicUrl>().clone(),
        throttle: *ctx.data_unchecked::<ThrottlePolicy>(),
    })
}

/// The client's address, for the throttles. Every HTTP request has one; a
/// context without it (the socket, which runs subscriptions only) is refused
/// rather than throttled under no key.
fn client_addr<'a>(ctx: &'a Context<'_>) -> Result<&'a ClientAddr, AppError> {
    ctx.data_opt::<ClientAddr>().ok_or_else(|| AppError::internal(anyhow::anyhow!("no client address")))
}

/// What a check of the caller's own password needs.
fn password_check<'a>(ctx: &'a Context<'_>) -> Result<PasswordCheck<'a>, AppError> {
    Ok(PasswordCheck {
        passwords: ctx.data_unchecked::<Passwords>(),
        throttle: ctx.data_unchecked::<ThrottlePolicy>(),
        addr: client_addr(ctx)?,
    })
}

fn email_arg(field: &str, email: &str) -> Result<String, AppError> {
    auth::normalize_email(email).map_err(|r| AppError::bad_input(field, r))
}

fn parse_membership_id(field: &str, id: &ID) -> Result<i64, AppError> {
    id.parse::<i64>().map_err(|_| AppError::bad_input(field, "is not a membership id"))
}

#[derive(Default)]
pub struct AccountsMutation;

#[Object]
impl AccountsMutation {
    /// Opens a session acting as `membershipId`, or as the first membership.
    /// Unknown e-mail, wrong password and disabled account get the same answer.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        membership_id: Option<ID>,
    ) -> Result<Session> {
        let wanted = membership_id.as_ref().map(|id| parse_membership_id("membershipId", id)).transpose()?;
        let services = LoginServices {
            passwords: ctx.data_unchecked::<Passwords>(),
            sessions: ctx.data_unchecked::<SessionPolicy>(),
            throttle: ctx.data_unchecked::<ThrottlePolicy>(),
        };
        let addr = client_addr(ctx)?;
        let done = login::login(ctx.data_unchecked::<AuthDb>(), services, &email, &password, wanted, addr).await?;
        Ok(Session {
            token: done.token,
            expires_at: done.expires_at,
            membership: Membership(done.membership.to_membership()),
        })
    }

    /// Sends a single-use link to set a new password, if the address has an
    /// account. Always answers true: the answer does not tell whether it has.
    /// Also how a provisioned account sets its first password. At most three
    /// links per address in a quarter of an hour; many requests from one
    /// client address are RATE_LIMITED.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        let email = email_arg("email", &email)?;
        let links = links(ctx)?;
        limited::ensure_recovery(&links.db, &email).await?;
        if !recovery::admit_mail_request(&links.db, &links.throttle, &email, client_addr(ctx)?).await? {
            return Ok(true);
        }
        let l = links.clone();
        links.in_background("password-reset", async move {
            recovery::send_reset_link(&l.db, &l.mailer, &l.url, email).await
        });
        Ok(true)
    }

    /// Registers a personal account (a teacher's): e-mails a link that
    /// creates it, with this password, once opened (`confirmRegistration`).
    /// Always answers true; an address that already has an account is told
    /// so by e-mail instead. LIMITED_MODE while registration is switched off.
    async fn register(&self, ctx: &Context<'_>, email: String, password: String) -> Result<bool> {
        let email = email_arg("email", &email)?;
        let passwords = ctx.data_unchecked::<Passwords>();
        lifecycle::register(&links(ctx)?, passwords, client_addr(ctx)?, email, &password).await?;
        Ok(true)
    }

    /// Creates the registered account, with the token of its link (valid 24 hours, once).
    async fn confirm_registration(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        lifecycle::confirm_registration(&links(ctx)?, &token).await?;
        Ok(true)
    }

    /// Asks to change the signed-in personal account's address: e-mails a
    /// link to the new address (`confirmEmailChange`). Confirmed with the
    /// current password. An organisation's account is FORBIDDEN: the office
    /// manages its address.
    async fn request_email_change(&self, ctx: &Context<'_>, new_email: String, password: String) -> Result<bool> {
        let user_id = subject(ctx)?.user_id;
        let new_email = email_arg("newEmail", &new_email)?;
        lifecycle::request_email_change(&links(ctx)?, &password_check(ctx)?, user_id, &password, new_email).await?;
        Ok(true)
    }

    /// Makes the new address the account's, with the token of the link sent
    /// to it. The account's sessions end; sign in with the new address.
    async fn confirm_email_change(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        lifecycle::confirm_email_change(&links(ctx)?, &token).await?;
        Ok(true)
    }

    /// Revokes the signed-in personal account for good, confirmed with its
    /// password: it can no longer sign in, and its address is free again.
    async fn revoke_account(&self, ctx: &Context<'_>, password: String) -> Result<bool> {
        let user_id = subject(ctx)?.user_id;
        lifecycle::revoke_own_account(&links(ctx)?, &password_check(ctx)?, user_id, &password).await?;
        Ok(true)
    }

    /// Sets a new password with the token of a reset link. Ends every
    /// session of the account and lifts a login lock.
    async fn reset_password(&self, ctx: &Context<'_>, token: String, new_password: String) -> Result<bool> {
        recovery::reset_password(&links(ctx)?, ctx.data_unchecked::<Passwords>(), &token, &new_password).await?;
        Ok(true)
    }

    /// The office creates accounts for its state schools from their
    /// institutional addresses: all of them, or those listed. Each holder
    /// sets the first password with `requestPasswordReset`.
    async fn provision_school_accounts(
        &self,
        ctx: &Context<'_>,
        school_codes: Option<Vec<String>>,
    ) -> Result<Vec<ProvisionedAccount>> {
        let province = caller(ctx, ObjectKind::Account, Action::Write)?.office_province()?;
        let codes = school_codes.map(|v| v.iter().map(|c| c.trim().to_ascii_uppercase()).collect());
        let done = provision::schools(db(ctx), province, codes).await?;
        Ok(done
            .into_iter()
            .map(|p| ProvisionedAccount { email: p.email, organization: p.organization, created: p.created })
            .collect())
    }

    /// The office creates one account for an organisation of its province: a
    /// school, a municipality (whose address the registry lacks), a hub or
    /// the office itself. The holder sets the password with `requestPasswordReset`.
    async fn provision_account(
        &self,
        ctx: &Context<'_>,
        email: String,
        role: RoleGql,
        organization: String,
    ) -> Result<ProvisionedAccount> {
        let province = caller(ctx, ObjectKind::Account, Action::Write)?.office_province()?;
        let email = email_arg("email", &email)?;
        let role = auth::Role::from(role);
        let org =
            OrgRef::for_role(role, Some(organization.trim())).map_err(|r| AppError::bad_input("organization", r))?;
        let p = provision::one(db(ctx), province, email, role, org).await?;
        Ok(ProvisionedAccount { email: p.email, organization: p.organization, created: p.created })
    }

    /// Enables a teacher's account after seeing an identity document in
    /// person (a school secretariat or the office, in their province), and
    /// creates its personal code: the answer carries the half to hand over
    /// on paper; the other half is e-mailed to the teacher. An account that
    /// belongs to another province, or is not a teacher's, is NOT_FOUND.
    async fn enable_account(&self, ctx: &Context<'_>, input: EnableAccountInput) -> Result<EnabledAccount> {
        let caller = caller(ctx, ObjectKind::AccountEnabling, Action::Write)?;
        if let Some(code) = input.tax_code.as_deref() {
            crate::rules::tax_code::parse(code).map_err(|r| AppError::bad_input("input.taxCode", r))?;
        }
        let enabling = Enabling {
            email: email_arg("input.email", &input.email)?,
            document_kind: input.document_kind.into(),
            document_last4: input.document_number_last4,
            checked_on: input.checked_on.0,
        };
        let today = chrono::Utc::now().date_naive();
        let passwords = ctx.data_unchecked::<Passwords>();
        let done = enabling::enable(db(ctx), passwords, ctx.data_opt::<Mailer>(), &caller, enabling, today).await?;
        Ok(EnabledAccount { email: done.email, enabled_at: done.enabled_at, personal_code_half: done.staff_half })
    }

    /// Asks for a new personal code, confirmed with the password: e-mails a
    /// single-use link (`confirmPersonalCodeRegeneration`) to the account's
    /// address. LIMITED_MODE while regeneration is switched off.
    async fn regenerate_personal_code(&self, ctx: &Context<'_>, password: String) -> Result<bool> {
        let user_id = subject(ctx)?.user_id;
        enabling::request_regeneration(&links(ctx)?, &password_check(ctx)?, user_id, &password).await?;
        Ok(true)
    }

    /// Gives the account a new personal code, with the token of the link:
    /// the code is e-mailed to the account's address, and the old one stops
    /// working.
    async fn confirm_personal_code_regeneration(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        enabling::confirm_regeneration(&links(ctx)?, ctx.data_unchecked::<Passwords>(), &token).await?;
        Ok(true)
    }

    /// Ends the caller's session.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let session_id = subject(ctx)?.session_id;
        db(ctx).run(move |c| Box::pin(q::delete_session(c, session_id))).await?;
        Ok(true)
    }

    /// Makes the session act as another of the user's memberships.
    async fn switch_membership(&self, ctx: &Context<'_>, id: ID) -> Result<Membership> {
        let s = subject(ctx)?;
        let (session_id, user_id, membership) = (s.session_id, s.user_id, parse_membership_id("id", &id)?);
        let row = db(ctx)
            .run(move |c| Box::pin(q::switch_membership(c, session_id, user_id, membership)))
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(Membership(row.to_membership()))
    }
}
