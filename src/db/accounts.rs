//! Users, memberships and sessions: the queries behind login, the request
//! guard and the `ambito user` commands.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::fixed::Fixed;
use super::schema::{
    account_enablings, email_validations, login_throttle, memberships, password_resets, sessions, users,
};
use crate::auth::{Membership, OrgRef, Role};
use crate::rules::throttle::{self, Decision, Record, ThrottlePolicy};
use diesel_async::AsyncConnection as _;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(Pg))]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub password_hash: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = memberships, check_for_backend(Pg))]
pub struct MembershipRow {
    pub id: i64,
    pub user_id: i64,
    pub role: String,
    pub province_code: Option<String>,
    pub institution_code: Option<String>,
    pub municipality_istat: Option<String>,
    pub hub_code: Option<String>,
    /// The province the organisation is in (set by the database).
    pub scope_province: Option<String>,
    pub region: Option<String>,
}

impl MembershipRow {
    pub fn to_membership(&self) -> Membership {
        let role: Role = self.role.parse().unwrap_or(Role::Teacher);
        let org = match (&self.province_code, &self.institution_code, &self.municipality_istat, &self.hub_code) {
            (Some(p), ..) => OrgRef::Province(p.clone()),
            (_, Some(i), ..) => OrgRef::School(i.clone()),
            (_, _, Some(m), _) => OrgRef::Municipality(m.clone()),
            (.., Some(h)) => OrgRef::Hub(h.clone()),
            _ => self.region.clone().map_or(OrgRef::Own, OrgRef::Region),
        };
        Membership { id: self.id, role, org, province: self.scope_province.clone() }
    }
}

/// The organisation columns of a membership (province, institution,
/// municipality, hub, region): at most one is set.
fn org_columns(org: &OrgRef) -> [Option<String>; 5] {
    let mut out = [None, None, None, None, None];
    let (at, code) = match org {
        OrgRef::Province(c) => (0, c),
        OrgRef::School(c) => (1, c),
        OrgRef::Municipality(c) => (2, c),
        OrgRef::Hub(c) => (3, c),
        OrgRef::Region(c) => (4, c),
        OrgRef::Own => return out,
    };
    out[at] = Some(code.clone());
    out
}

pub async fn user_by_email(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<Option<UserRow>> {
    users::table.filter(users::email.eq(email)).select(UserRow::as_select()).first(conn).await.optional()
}

/// The id of the account with this address; readable in a request's scope
/// (no secret columns).
pub async fn user_by_id(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<UserRow>> {
    users::table.find(id).select(UserRow::as_select()).first(conn).await.optional()
}

pub async fn user_id_by_email(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<Option<i64>> {
    users::table.filter(users::email.eq(email)).select(users::id).first(conn).await.optional()
}

/// The account with this address, made without a password if there is
/// none: for the office, under its scope (the function checks it).
pub async fn account_for(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<i64> {
    diesel::define_sql_function! {
        #[sql_name = "ambito_account_for"]
        fn account_for_email(email: diesel::sql_types::Text) -> diesel::sql_types::BigInt;
    }
    diesel::select(account_for_email(email)).get_result(conn).await
}

pub async fn memberships_of(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<Vec<MembershipRow>> {
    memberships::table
        .filter(memberships::user_id.eq(user_id))
        .order(memberships::id)
        .select(MembershipRow::as_select())
        .load(conn)
        .await
}

pub async fn create_session(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    user_id: i64,
    membership_id: i64,
    expires_at: DateTime<Utc>,
) -> QueryResult<i64> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(token_hash),
            sessions::user_id.eq(user_id),
            sessions::membership_id.eq(membership_id),
            sessions::expires_at.eq(expires_at),
        ))
        .returning(sessions::id)
        .get_result(conn)
        .await
}

/// A live session for this token hash: not expired, not idle since
/// `idle_cutoff`, of an enabled account.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub session_id: i64,
    pub user_id: i64,
    pub email: String,
    pub last_seen_at: DateTime<Utc>,
    pub membership: MembershipRow,
}

pub async fn live_session(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
    idle_cutoff: DateTime<Utc>,
) -> QueryResult<Option<LiveSession>> {
    let now = Utc::now();
    let row: Option<(i64, i64, DateTime<Utc>, String, MembershipRow)> = sessions::table
        .inner_join(users::table)
        .inner_join(memberships::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_seen_at.gt(idle_cutoff))
        .filter(users::disabled_at.is_null())
        .select((sessions::id, sessions::user_id, sessions::last_seen_at, users::email, MembershipRow::as_select()))
        .first(conn)
        .await
        .optional()?;
    Ok(row.map(|(session_id, user_id, last_seen_at, email, membership)| LiveSession {
        session_id,
        user_id,
        email,
        last_seen_at,
        membership,
    }))
}

/// Marks a session used now, unless another request did since
/// `stale_before`. The commit does not wait for the WAL flush: a request
/// that only reads would otherwise wait for the disk once a minute per
/// session, and the requests of the same session arriving meanwhile for
/// its row lock (a flush takes seconds on a slow disk). A touch lost in a crash
/// only makes the session look idle since earlier: it ends sooner, never
/// later.
pub async fn touch_session(
    conn: &mut AsyncPgConnection,
    session_id: i64,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> QueryResult<()> {
    conn.transaction(async move |c| {
        Fixed::new("SET LOCAL synchronous_commit = off").execute(c).await?;
        diesel::update(sessions::table.find(session_id).filter(sessions::last_seen_at.lt(stale_before)))
            .set(sessions::last_seen_at.eq(now))
            .execute(c)
            .await?;
        Ok(())
    })
    .await
}

pub async fn delete_session(conn: &mut AsyncPgConnection, session_id: i64) -> QueryResult<()> {
    diesel::delete(sessions::table.find(session_id)).execute(conn).await?;
    Ok(())
}

/// Points a session at another membership of the same user; `None` if the
/// membership is not the user's.
pub async fn switch_membership(
    conn: &mut AsyncPgConnection,
    session_id: i64,
    user_id: i64,
    membership_id: i64,
) -> QueryResult<Option<MembershipRow>> {
    let Some(m) = memberships::table
        .filter(memberships::id.eq(membership_id))
        .filter(memberships::user_id.eq(user_id))
        .select(MembershipRow::as_select())
        .first(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    diesel::update(sessions::table.find(session_id)).set(sessions::membership_id.eq(m.id)).execute(conn).await?;
    Ok(Some(m))
}

// Administration (the `ambito user` commands and the demo data).

/// A new account, or none when the address already has one. The clash is
/// resolved without an error, whose detail would put the address in the
/// server log.
pub async fn create_user(
    conn: &mut AsyncPgConnection,
    email: &str,
    password_hash: Option<&str>,
) -> QueryResult<Option<i64>> {
    diesel::insert_into(users::table)
        .values((
            users::email.eq(email),
            users::password_hash.eq(password_hash),
            users::password_changed_at.eq(password_hash.map(|_| Utc::now())),
        ))
        .on_conflict_do_nothing()
        .returning(users::id)
        .get_result(conn)
        .await
        .optional()
}

pub async fn grant(conn: &mut AsyncPgConnection, user_id: i64, role: Role, org: &OrgRef) -> QueryResult<MembershipRow> {
    let [p, i, m, h, r] = org_columns(org);
    diesel::insert_into(memberships::table)
        .values((
            memberships::user_id.eq(user_id),
            memberships::role.eq(role.as_str()),
            memberships::province_code.eq(p),
            memberships::institution_code.eq(i),
            memberships::municipality_istat.eq(m),
            memberships::hub_code.eq(h),
            memberships::region.eq(r),
        ))
        .returning(MembershipRow::as_returning())
        .get_result(conn)
        .await
}

/// Removes a membership; its sessions end with it. Returns how many were removed.
pub async fn revoke(conn: &mut AsyncPgConnection, user_id: i64, role: Role, org: &OrgRef) -> QueryResult<usize> {
    let [p, i, m, h, r] = org_columns(org);
    diesel::delete(
        memberships::table
            .filter(memberships::user_id.eq(user_id))
            .filter(memberships::role.eq(role.as_str()))
            .filter(memberships::province_code.is_not_distinct_from(p))
            .filter(memberships::institution_code.is_not_distinct_from(i))
            .filter(memberships::municipality_istat.is_not_distinct_from(m))
            .filter(memberships::hub_code.is_not_distinct_from(h))
            .filter(memberships::region.is_not_distinct_from(r)),
    )
    .execute(conn)
    .await
}

/// Disables an account and ends its sessions at once.
pub async fn disable(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<()> {
    diesel::update(users::table.find(user_id)).set(users::disabled_at.eq(Utc::now())).execute(conn).await?;
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn).await?;
    Ok(())
}

/// Sets a new password hash and ends every session of the account.
pub async fn set_password(conn: &mut AsyncPgConnection, user_id: i64, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((users::password_hash.eq(hash), users::password_changed_at.eq(Utc::now())))
        .execute(conn)
        .await?;
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn).await?;
    Ok(())
}

// Login throttling.

/// Counts one attempt against each key (with its lock threshold) before it
/// is tried, and returns the decision for each. Every key's row is created if
/// missing and locked, so parallel attempts queue here for a moment and each
/// one sees the attempts before it: N attempts count N.
pub async fn throttle_attempt(
    conn: &mut AsyncPgConnection,
    policy: ThrottlePolicy,
    keys: Vec<(String, u32)>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Decision>> {
    conn.transaction(async move |c| {
        let mut decisions = Vec::with_capacity(keys.len());
        for (key, lock_after) in keys {
            let record = locked_record(c, &key, now).await?;
            let a = throttle::attempt(&policy, record.as_ref(), lock_after, now);
            store_record(c, &key, a.record).await?;
            decisions.push(a.decision);
        }
        Ok(decisions)
    })
    .await
}

/// Uncounts the attempt that [`throttle_attempt`] counted against `key` once
/// it turned out right.
pub async fn throttle_succeeded(conn: &mut AsyncPgConnection, key: String) -> QueryResult<()> {
    let now = Utc::now();
    conn.transaction(async move |c| {
        let record = locked_record(c, &key, now).await?;
        store_record(c, &key, throttle::after_success(record.as_ref())).await
    })
    .await
}

/// The key's record, its row locked until the transaction ends. The row is
/// made first if missing (an empty one means no record), so that two first
/// attempts cannot both see nothing.
async fn locked_record(c: &mut AsyncPgConnection, key: &str, now: DateTime<Utc>) -> QueryResult<Option<Record>> {
    diesel::insert_into(login_throttle::table)
        .values((login_throttle::key.eq(key), login_throttle::failures.eq(0), login_throttle::last_failure.eq(now)))
        .on_conflict_do_nothing()
        .execute(c)
        .await?;
    let (failures, last_failure, locked_until): (i32, DateTime<Utc>, Option<DateTime<Utc>>) = login_throttle::table
        .find(key)
        .select((login_throttle::failures, login_throttle::last_failure, login_throttle::locked_until))
        .for_update()
        .first(c)
        .await?;
    let failures = u32::try_from(failures).unwrap_or(0);
    Ok((failures > 0 || locked_until.is_some()).then_some(Record { failures, last_failure, locked_until }))
}

async fn store_record(c: &mut AsyncPgConnection, key: &str, r: Option<Record>) -> QueryResult<()> {
    let Some(r) = r else {
        diesel::delete(login_throttle::table.find(key)).execute(c).await?;
        return Ok(());
    };
    diesel::update(login_throttle::table.find(key))
        .set((
            login_throttle::failures.eq(i32::try_from(r.failures).unwrap_or(i32::MAX)),
            login_throttle::last_failure.eq(r.last_failure),
            login_throttle::locked_until.eq(r.locked_until),
        ))
        .execute(c)
        .await?;
    Ok(())
}

pub async fn throttle_clear(conn: &mut AsyncPgConnection, key: String) -> QueryResult<()> {
    diesel::delete(login_throttle::table.find(key)).execute(conn).await?;
    Ok(())
}

// Password resets.

pub async fn create_reset(
    conn: &mut AsyncPgConnection,
    user_id: i64,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(password_resets::table)
        .values((
            password_resets::user_id.eq(user_id),
            password_resets::token_hash.eq(token_hash),
            password_resets::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a reset token is unused and unexpired (it is spent later, by [`spend_reset`]).
pub async fn reset_is_live(conn: &mut AsyncPgConnection, token_hash: &[u8]) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        password_resets::table
            .filter(password_resets::token_hash.eq(token_hash))
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(Utc::now())),
    ))
    .get_result(conn)
    .await
}

/// Spends a reset token: the user it was for, if it is unused and unexpired.
/// One statement, so a token cannot be used twice even by racing requests.
pub async fn spend_reset(conn: &mut AsyncPgConnection, token_hash: &[u8]) -> QueryResult<Option<i64>> {
    let now = Utc::now();
    diesel::update(
        password_resets::table
            .filter(password_resets::token_hash.eq(token_hash))
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(now)),
    )
    .set(password_resets::used_at.eq(now))
    .returning(password_resets::user_id)
    .get_result(conn)
    .await
    .optional()
}

/// The user's e-mail, for clearing its login throttle after a reset.
pub async fn email_of(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<String> {
    users::table.find(user_id).select(users::email).first(conn).await
}

// E-mail validations: registrations and address changes waiting for their link.

/// What an e-mail validation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    Registration,
    EmailChange,
    /// A new personal code, asked for by its holder.
    PersonalCode,
}

impl Validation {
    fn as_str(self) -> &'static str {
        match self {
            Validation::Registration => "registration",
            Validation::EmailChange => "email_change",
            Validation::PersonalCode => "personal_code",
        }
    }
}

/// A validation to be confirmed: the address, and the account it changes or
/// the password a registration chose.
pub struct PendingValidation<'a> {
    pub purpose: Validation,
    pub email: &'a str,
    pub user_id: Option<i64>,
    pub password_hash: Option<&'a str>,
}

pub async fn create_validation(
    conn: &mut AsyncPgConnection,
    v: PendingValidation<'_>,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(email_validations::table)
        .values((
            email_validations::purpose.eq(v.purpose.as_str()),
            email_validations::email.eq(v.email),
            email_validations::user_id.eq(v.user_id),
            email_validations::password_hash.eq(v.password_hash),
            email_validations::token_hash.eq(token_hash),
            email_validations::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a validation token of `purpose` is unused and unexpired (spent later).
pub async fn validation_is_live(
    conn: &mut AsyncPgConnection,
    purpose: Validation,
    token_hash: &[u8],
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        email_validations::table
            .filter(email_validations::purpose.eq(purpose.as_str()))
            .filter(email_validations::token_hash.eq(token_hash))
            .filter(email_validations::used_at.is_null())
            .filter(email_validations::expires_at.gt(Utc::now())),
    ))
    .get_result(conn)
    .await
}

/// Spends a validation token of `purpose`, if unused and unexpired, in one
/// statement: (address, account, chosen password hash).
pub async fn spend_validation(
    conn: &mut AsyncPgConnection,
    purpose: Validation,
    token_hash: &[u8],
) -> QueryResult<Option<(String, Option<i64>, Option<String>)>> {
    let now = Utc::now();
    diesel::update(
        email_validations::table
            .filter(email_validations::purpose.eq(purpose.as_str()))
            .filter(email_validations::token_hash.eq(token_hash))
            .filter(email_validations::used_at.is_null())
            .filter(email_validations::expires_at.gt(now)),
    )
    .set(email_validations::used_at.eq(now))
    .returning((email_validations::email, email_validations::user_id, email_validations::password_hash))
    .get_result(conn)
    .await
    .optional()
}

/// Gives the account a new address and ends its sessions (the address is
/// what signs in); false (and nothing changed) when
/// another account holds it. Looked for first: a unique violation's detail
/// would put the address in the server log.
pub async fn set_email(conn: &mut AsyncPgConnection, user_id: i64, email: &str) -> QueryResult<bool> {
    if user_id_by_email(conn, email).await?.is_some() {
        return Ok(false);
    }
    diesel::update(users::table.find(user_id)).set(users::email.eq(email)).execute(conn).await?;
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn).await?;
    Ok(true)
}

/// Revokes an account for good: it can no longer sign in, its sessions and
/// pending links end, and its holder's address leaves the row (free for a
/// new registration) while the row stays for the audit trail.
pub async fn revoke_account(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<()> {
    let now = Utc::now();
    diesel::update(users::table.find(user_id))
        .set((
            users::email.eq(format!("revoked-{user_id}@ambito.invalid")),
            users::password_hash.eq(None::<String>),
            users::disabled_at.eq(now),
            users::revoked_at.eq(now),
        ))
        .execute(conn)
        .await?;
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn).await?;
    diesel::delete(password_resets::table.filter(password_resets::user_id.eq(user_id))).execute(conn).await?;
    diesel::delete(email_validations::table.filter(email_validations::user_id.eq(user_id))).execute(conn).await?;
    Ok(())
}

// Enabling in person and the personal code.

/// A record of an enabling: who checked which document, and when.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = account_enablings)]
pub struct NewEnabling<'a> {
    pub user_id: i64,
    pub province_code: &'a str,
    pub institution_code: Option<&'a str>,
    pub document_kind: &'a str,
    pub document_last4: &'a str,
    pub checked_on: chrono::NaiveDate,
}

diesel::define_sql_function! {
    #[sql_name = "ambito_enablable_account"]
    fn enablable_account(email: diesel::sql_types::Text) -> diesel::sql_types::Nullable<diesel::sql_types::BigInt>;
}

diesel::define_sql_function! {
    #[sql_name = "ambito_enable_account"]
    fn enable_account(user: diesel::sql_types::BigInt, code_hash: diesel::sql_types::Text)
        -> diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>;
}

/// The personal account with this address, if the caller's scope may enable
/// it (a function that checks the caller's province: the account itself is
/// outside row security's view).
pub async fn enablable(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<Option<i64>> {
    diesel::select(enablable_account(email)).get_result(conn).await
}

/// Enables the account with a new personal code (its hash) and records who
/// checked which document; when it was enabled, or none when the account
/// may not be enabled (any more) by this caller.
pub async fn enable(
    conn: &mut AsyncPgConnection,
    code_hash: &str,
    record: NewEnabling<'_>,
) -> QueryResult<Option<DateTime<Utc>>> {
    let Some(at) = diesel::select(enable_account(record.user_id, code_hash)).get_result(conn).await? else {
        return Ok(None);
    };
    diesel::insert_into(account_enablings::table).values(&record).execute(conn).await?;
    Ok(Some(at))
}

/// When the caller's own account was enabled (none: not yet).
pub async fn enabled_at(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<Option<DateTime<Utc>>> {
    users::table.find(user_id).select(users::enabled_at).first(conn).await
}

/// The hash of an account's personal code (authentication only).
pub async fn personal_code_hash(conn: &mut AsyncPgConnection, user_id: i64) -> QueryResult<Option<String>> {
    users::table.find(user_id).select(users::personal_code_hash).first(conn).await
}

/// Sets a new personal code (its hash) on an enabled account.
pub async fn set_personal_code(conn: &mut AsyncPgConnection, user_id: i64, code_hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(user_id).filter(users::enabled_at.is_not_null()))
        .set((users::personal_code_hash.eq(code_hash), users::personal_code_set_at.eq(Utc::now())))
        .execute(conn)
        .await?;
    Ok(())
}
