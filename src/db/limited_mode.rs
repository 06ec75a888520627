//! Storage of limited-mode periods and of the flows in progress they end,
//! as `ambito_auth` (the CLI and the server's watcher).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp, Timestamptz};
use diesel::{QueryResult, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::fixed::Fixed;
use crate::rules::limited_mode::{AccountFunction, Flow, Period};

#[derive(QueryableByName, Debug, Clone)]
pub struct PeriodRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Array<Text>)]
    pub functions: Vec<String>,
    #[diesel(sql_type = Timestamptz)]
    pub starts_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub ends_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Text)]
    pub message: String,
    /// The start in Italian local time, for what people read.
    #[diesel(sql_type = Timestamp)]
    pub starts_local: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub warned_through: Option<DateTime<Utc>>,
    /// The database's clock, read in the same statement.
    #[diesel(sql_type = Timestamptz)]
    pub now: DateTime<Utc>,
}

impl PeriodRow {
    pub fn period(&self) -> Period {
        let mut functions: Vec<AccountFunction> = self.functions.iter().filter_map(|f| f.parse().ok()).collect();
        functions.sort();
        Period { id: self.id, functions, from: self.starts_at, until: self.ends_at, message: self.message.clone() }
    }
}

const COLUMNS: &str =
    "id, functions, starts_at, ends_at, message, (starts_at AT TIME ZONE 'Europe/Rome') AS starts_local,
                       warned_through, now() AS now";

/// The periods not cancelled and not over, and the database's clock.
pub async fn current(conn: &mut AsyncPgConnection) -> QueryResult<(Vec<Period>, DateTime<Utc>)> {
    #[derive(QueryableByName)]
    struct Now {
        #[diesel(sql_type = Timestamptz)]
        now: DateTime<Utc>,
    }
    let rows: Vec<PeriodRow> = Fixed::new(format!(
        "SELECT {COLUMNS} FROM limited_mode_periods
         WHERE cancelled_at IS NULL AND (ends_at IS NULL OR ends_at > now()) ORDER BY starts_at"
    ))
    .load(conn)
    .await?;
    let now = match <[PeriodRow]>::first(&rows) {
        Some(r) => r.now,
        None => Fixed::new("SELECT now() AS now").get_result::<Now>(conn).await?.now,
    };
    Ok((rows.iter().map(PeriodRow::period).collect(), now))
}

/// Plans a period; `from` None starts it now. Overlapping another period
/// breaks the exclusion constraint (a unique violation to the caller).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    functions: &[AccountFunction],
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    message: &str,
) -> QueryResult<PeriodRow> {
    let names: Vec<&str> = functions.iter().map(|f| f.as_str()).collect();
    Fixed::new(format!(
        "INSERT INTO limited_mode_periods (functions, starts_at, ends_at, message)
         VALUES ($1, coalesce($2, now()), $3, $4) RETURNING {COLUMNS}"
    ))
    .bind::<Array<Text>, _>(names)
    .bind::<Nullable<Timestamptz>, _>(from)
    .bind::<Nullable<Timestamptz>, _>(until)
    .bind::<Text, _>(message)
    .get_result(conn)
    .await
}

/// Ends the period in force now, or cancels it if it has not started; the
/// operator's switch is its own audit event, so the end is noted already.
pub async fn end_or_cancel(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<Option<PeriodRow>> {
    Fixed::new(format!(
        "UPDATE limited_mode_periods
         SET ends_at = CASE WHEN starts_at < now() THEN now() ELSE ends_at END,
             cancelled_at = CASE WHEN starts_at < now() THEN NULL ELSE now() END,
             closed_at = now()
         WHERE id = $1 AND cancelled_at IS NULL AND (ends_at IS NULL OR ends_at > now())
         RETURNING {COLUMNS}"
    ))
    .bind::<BigInt, _>(id)
    .get_result(conn)
    .await
    .map(Some)
    .or_else(none_if_not_found)
}

fn none_if_not_found<T>(e: diesel::result::Error) -> QueryResult<Option<T>> {
    match e {
        diesel::result::Error::NotFound => Ok(None),
        e => Err(e),
    }
}

/// A planned period whose warnings are due (flows started since the last
/// warning), locked so that of several servers one sends them.
pub async fn lock_to_warn(conn: &mut AsyncPgConnection) -> QueryResult<Option<PeriodRow>> {
    Fixed::new(format!(
        "SELECT {COLUMNS} FROM limited_mode_periods
         WHERE cancelled_at IS NULL AND starts_at > now() AND (warned_through IS NULL OR warned_through < now())
         ORDER BY starts_at LIMIT 1 FOR UPDATE SKIP LOCKED"
    ))
    .get_result(conn)
    .await
    .map(Some)
    .or_else(none_if_not_found)
}

pub async fn warned(conn: &mut AsyncPgConnection, id: i64, through: DateTime<Utc>) -> QueryResult<()> {
    Fixed::new("UPDATE limited_mode_periods SET warned_through = $2 WHERE id = $1")
        .bind::<BigInt, _>(id)
        .bind::<Timestamptz, _>(through)
        .execute(conn)
        .await
        .map(drop)
}

/// A period that has started and whose flows have not been ended yet, locked.
pub async fn lock_to_start(conn: &mut AsyncPgConnection) -> QueryResult<Option<PeriodRow>> {
    Fixed::new(format!(
        "SELECT {COLUMNS} FROM limited_mode_periods
         WHERE cancelled_at IS NULL AND started_at IS NULL AND starts_at <= now() AND (ends_at IS NULL OR ends_at > now())
         ORDER BY starts_at LIMIT 1 FOR UPDATE SKIP LOCKED"
    ))
    .get_result(conn)
    .await
    .map(Some)
    .or_else(none_if_not_found)
}

pub async fn started(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    Fixed::new("UPDATE limited_mode_periods SET started_at = now() WHERE id = $1")
        .bind::<BigInt, _>(id)
        .execute(conn)
        .await
        .map(drop)
}

/// Periods that are over and not yet noted as such, marked noted.
pub async fn close_ended(conn: &mut AsyncPgConnection) -> QueryResult<Vec<PeriodRow>> {
    Fixed::new(format!(
        "UPDATE limited_mode_periods SET closed_at = now()
         WHERE cancelled_at IS NULL AND closed_at IS NULL AND ends_at <= now() RETURNING {COLUMNS}"
    ))
    .load(conn)
    .await
}

/// A flow in progress: its link's row and who is concerned.
#[derive(QueryableByName, Debug, Clone)]
pub struct PendingFlow {
    #[diesel(sql_type = Text)]
    pub flow: String,
    /// Whether the row is a password reset (else an e-mail validation).
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub user_id: Option<i64>,
    /// Where to tell the holder: the account's address, or the address a
    /// registration would confirm.
    #[diesel(sql_type = Text)]
    pub email: String,
}

impl PendingFlow {
    pub fn flow(&self) -> Option<Flow> {
        Flow::ALL.into_iter().find(|f| f.as_str() == self.flow)
    }
}

/// Flows in progress (link unused and unexpired) of these kinds, started
/// after `since` (all when None); locked when `lock`.
pub async fn pending(
    conn: &mut AsyncPgConnection,
    flows: &[Flow],
    since: Option<DateTime<Utc>>,
    lock: bool,
) -> QueryResult<Vec<PendingFlow>> {
    let names: Vec<&str> = flows.iter().map(|f| f.as_str()).collect();
    let (lock_v, lock_r) = if lock { ("FOR UPDATE OF v", "FOR UPDATE OF r") } else { ("", "") };
    Fixed::new(format!(
        "SELECT * FROM (
           SELECT CASE v.purpose WHEN 'registration' THEN 'registration' WHEN 'email_change' THEN 'address-change'
                                 ELSE 'code-regeneration' END AS flow,
                  v.id, v.user_id, coalesce(u.email, v.email) AS email
           FROM email_validations v LEFT JOIN users u ON u.id = v.user_id
           WHERE v.used_at IS NULL AND v.expires_at > now() AND v.created_at > coalesce($2, '-infinity')
           {lock_v}
         ) v WHERE flow = ANY($1)
         UNION ALL
         SELECT * FROM (
           SELECT 'external-recovery' AS flow, r.id, r.user_id, u.email
           FROM password_resets r JOIN users u ON u.id = r.user_id
           WHERE 'external-recovery' = ANY($1) AND r.used_at IS NULL AND r.expires_at > now()
             AND r.created_at > coalesce($2, '-infinity')
           {lock_r}
         ) r
         ORDER BY flow, id"
    ))
    .bind::<Array<Text>, _>(names)
    .bind::<Nullable<Timestamptz>, _>(since)
    .load(conn)
    .await
}

/// Makes these links expire now: the flows they belong to have ended.
pub async fn expire(conn: &mut AsyncPgConnection, validations: &[i64], resets: &[i64]) -> QueryResult<()> {
    Fixed::new("UPDATE email_validations SET expires_at = now() WHERE id = ANY($1) AND used_at IS NULL")
        .bind::<Array<BigInt>, _>(validations)
        .execute(conn)
        .await?;
    Fixed::new("UPDATE password_resets SET expires_at = now() WHERE id = ANY($1) AND used_at IS NULL")
        .bind::<Array<BigInt>, _>(resets)
        .execute(conn)
        .await?;
    Ok(())
}

/// Withdraws the enabling (and with it the personal code, and any pending
/// regeneration of it) of these accounts; returns those that were enabled.
pub async fn withdraw_enabling(conn: &mut AsyncPgConnection, users: &[i64]) -> QueryResult<Vec<i64>> {
    Fixed::new(
        "UPDATE email_validations SET expires_at = now()
         WHERE purpose = 'personal_code' AND user_id = ANY($1) AND used_at IS NULL AND expires_at > now()",
    )
    .bind::<Array<BigInt>, _>(users)
    .execute(conn)
    .await?;
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let rows: Vec<Id> = Fixed::new(
        "UPDATE users SET enabled_at = NULL, personal_code_hash = NULL, personal_code_set_at = NULL
         WHERE id = ANY($1) AND enabled_at IS NOT NULL RETURNING id",
    )
    .bind::<Array<BigInt>, _>(users)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
