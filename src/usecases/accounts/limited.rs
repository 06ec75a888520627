//! Limited mode (seed 004): periods an operator plans, switches on or off,
//! in which chosen account functions stop while everything else (sign-in,
//! one's own documents, open applications) keeps working. The periods live
//! in the database, so every server process sees a switch at once. A
//! watcher in every server warns the users whose flows a planned period
//! will stop, ends those flows when it starts, and notes its end; each step
//! is audited and the mail goes out after the step commits.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel::result::Error as DbError;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::json;

use crate::db::AuthDb;
use crate::db::audit::{self, Event};
use crate::db::limited_mode::{self as q, PendingFlow, PeriodRow};
use crate::error::{AppError, AppResult};
use crate::mail::Mailer;
use crate::rules::limited_mode::{self as rules, Flow};
pub use crate::rules::limited_mode::{AccountFunction, Period, is_institutional};

/// Limited mode at an instant: the period in force and those planned.
#[derive(Debug, Clone)]
pub struct Status {
    pub now: DateTime<Utc>,
    pub in_force: Option<Period>,
    pub planned: Vec<Period>,
}

impl Status {
    /// The functions stopped now; empty when limited mode is off.
    pub fn disabled(&self) -> Vec<AccountFunction> {
        self.in_force.as_ref().map(|p| p.functions.clone()).unwrap_or_default()
    }
}

pub async fn status(conn: &mut AsyncPgConnection) -> QueryResult<Status> {
    let (periods, now) = q::current(conn).await?;
    let in_force = rules::in_force(&periods, now).cloned();
    let planned = rules::planned(&periods, now).into_iter().cloned().collect();
    Ok(Status { now, in_force, planned })
}

/// The functions stopped now; empty when limited mode is off.
pub async fn disabled(conn: &mut AsyncPgConnection) -> QueryResult<Vec<AccountFunction>> {
    Ok(status(conn).await?.disabled())
}

/// LIMITED_MODE, with the end of the period, when `function` is stopped now.
pub async fn ensure_enabled(db: &AuthDb, function: AccountFunction) -> AppResult<()> {
    let status = db.run(|c| Box::pin(status(c))).await?;
    match status.in_force {
        Some(p) if p.stops(function) => Err(AppError::Disabled { function: function.describe(), until: p.until }),
        _ => Ok(()),
    }
}

/// LIMITED_MODE for a password recovery by a non-institutional address
/// while external recovery is stopped; institutional addresses always
/// recover (seed 004, point 3). The answer depends on the address's domain
/// only, never on whether it has an account.
pub async fn ensure_recovery(db: &AuthDb, email: &str) -> AppResult<()> {
    match is_institutional(email) {
        true => Ok(()),
        false => ensure_enabled(db, AccountFunction::ExternalPasswordRecovery).await,
    }
}

/// What an operator asks of limited mode.
#[derive(Debug, Clone)]
pub enum Switch {
    /// Stop these functions from now (ending the period in force, if any).
    On { functions: Vec<AccountFunction>, until: Option<DateTime<Utc>>, message: String },
    /// Plan a period ahead.
    Schedule { functions: Vec<AccountFunction>, from: DateTime<Utc>, until: Option<DateTime<Utc>>, message: String },
    /// End the period in force now.
    Off,
    /// Call off a planned period.
    Cancel { id: i64 },
}

/// Applies a switch and records it in the audit trail, in one transaction.
/// Refusals explain themselves and change nothing.
pub async fn switch(conn: &mut AsyncPgConnection, what: Switch) -> anyhow::Result<Status> {
    conn.transaction::<_, anyhow::Error, _>(async |conn| {
        let now = status(conn).await?;
        let (action, row) = match what {
            Switch::On { functions, until, message } => {
                if let Some(p) = &now.in_force {
                    ended(conn, p.id).await?;
                }
                check_period(&now, now.now, until, &message, now.in_force.as_ref().map(|p| p.id))?;
                ("limited_mode.on", q::insert(conn, &functions, None, until, &message).await?)
            }
            Switch::Schedule { functions, from, until, message } => {
                anyhow::ensure!(
                    from > now.now,
                    "--from {from} is not in the future: use `limited-mode on` to start now"
                );
                check_period(&now, from, until, &message, None)?;
                ("limited_mode.schedule", q::insert(conn, &functions, Some(from), until, &message).await?)
            }
            Switch::Off => {
                let Some(p) = &now.in_force else { anyhow::bail!("limited mode is already off") };
                ("limited_mode.off", ended(conn, p.id).await?)
            }
            Switch::Cancel { id } => {
                anyhow::ensure!(
                    now.planned.iter().any(|p| p.id == id),
                    "no planned period #{id}: `limited-mode show` lists them (one in force ends with `off`)"
                );
                ("limited_mode.cancel", ended(conn, id).await?)
            }
        };
        audit::record_operator(conn, period_event(action, &row, json!({}))).await?;
        Ok(status(conn).await?)
    })
    .await
}

/// A period's end or cancellation, which must exist.
async fn ended(conn: &mut AsyncPgConnection, id: i64) -> anyhow::Result<PeriodRow> {
    q::end_or_cancel(conn, id).await?.ok_or_else(|| anyhow::anyhow!("period #{id} is over already"))
}

/// The checks a new period passes: a real span, a message of sensible
/// length, no overlap with another (besides `replacing`).
fn check_period(
    now: &Status,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    message: &str,
    replacing: Option<i64>,
) -> anyhow::Result<()> {
    if let Some(u) = until {
        anyhow::ensure!(u > from, "--until {u} must come after the start ({from})");
    }
    anyhow::ensure!(message.chars().count() <= 2000, "--message is longer than 2000 characters");
    let others: Vec<Period> =
        now.in_force.iter().chain(&now.planned).filter(|p| Some(p.id) != replacing).cloned().collect();
    if let Some(p) = rules::overlapping(&others, from, until) {
        anyhow::bail!(
            "the period would overlap period #{} (from {}{}): cancel it or choose other dates",
            p.id,
            p.from,
            p.until.map(|u| format!(" until {u}")).unwrap_or_default()
        );
    }
    Ok(())
}

/// An audit event about a period: what it stops and when, plus `extra`.
fn period_event(action: &'static str, row: &PeriodRow, extra: serde_json::Value) -> Event {
    let mut current = json!({
        "functions": row.functions,
        "from": row.starts_at,
        "until": row.ends_at,
        "message": row.message,
    });
    if let (Some(c), Some(e)) = (current.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    Event {
        action,
        object_kind: "limited_mode_period",
        object_id: Some(row.id.to_string()),
        current: Some(current),
        ..Default::default()
    }
}

/// One e-mail to send once the step that decided it has committed.
type Mail = (String, String, String);

/// What one pass of the watcher did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub warned: usize,
    pub started: usize,
    pub ended_flows: usize,
    pub closed: usize,
}

/// One pass of the watcher: warnings for a planned period, the start of one
/// that is due, the end of those over. Several servers may run it at once:
/// the rows it works on are locked and skipped by the others.
pub async fn watch_once(db: &AuthDb, mailer: &Mailer) -> AppResult<Pass> {
    let (warned, mut mails) = db.run(|c| Box::pin(c.transaction::<_, DbError, _>(async |c| warn(c).await))).await?;
    let (ended_flows, started, more) =
        db.run(|c| Box::pin(c.transaction::<_, DbError, _>(async |c| start(c).await))).await?;
    mails.extend(more);
    let closed = db.run(|c| Box::pin(c.transaction::<_, DbError, _>(async |c| close(c).await))).await?;
    let pass = Pass { warned, started, ended_flows, closed };
    for (to, subject, body) in mails {
        if let Err(e) = mailer.send(&to, &subject, body).await {
            tracing::warn!(error = %crate::mail::without_addresses(&format!("{e:#}")), "a limited-mode e-mail failed");
        }
    }
    Ok(pass)
}

/// The flows in progress that `row`'s period ends, with their holders.
fn grouped(rows: &[PendingFlow]) -> BTreeMap<String, BTreeMap<Flow, bool>> {
    rules::by_address(rows.iter().filter_map(|r| Some((r.flow()?, r.email.as_str()))))
}

/// Warns the holders of flows started since the last warning about a
/// planned period; returns how many addresses and the mail.
async fn warn(conn: &mut AsyncPgConnection) -> QueryResult<(usize, Vec<Mail>)> {
    let Some(row) = q::lock_to_warn(conn).await? else { return Ok((0, Vec::new())) };
    let period = row.period();
    let pending = q::pending(conn, &rules::flows_ended(&period.functions), row.warned_through, false).await?;
    let by_address = grouped(&pending);
    q::warned(conn, row.id, row.now).await?;
    if !by_address.is_empty() {
        let extra = json!({ "warned_addresses": by_address.len() });
        audit::record_operator(conn, period_event("limited_mode.warn", &row, extra)).await?;
    }
    let mails: Vec<Mail> = by_address
        .into_iter()
        .map(|(to, flows)| {
            let (subject, body) = rules::warning(&flows, row.starts_local, &row.message);
            (to, subject, body)
        })
        .collect();
    Ok((mails.len(), mails))
}

/// Starts a period that is due: ends the flows in progress it stops, as seed
/// 004 says (registrations cancelled, address changes and regenerations
/// lapsed, an account left without a validated private address must be
/// enabled in person again), and tells each holder once.
async fn start(conn: &mut AsyncPgConnection) -> QueryResult<(usize, usize, Vec<Mail>)> {
    let Some(row) = q::lock_to_start(conn).await? else { return Ok((0, 0, Vec::new())) };
    let period = row.period();
    let pending = q::pending(conn, &rules::flows_ended(&period.functions), None, true).await?;
    let ending: Vec<&PendingFlow> =
        pending.iter().filter(|r| r.flow().is_some_and(|f| rules::affects(f, is_institutional(&r.email)))).collect();
    let (resets, validations): (Vec<&PendingFlow>, Vec<&PendingFlow>) =
        ending.iter().partition(|r| r.flow() == Some(Flow::ExternalRecovery));
    let ids = |rows: &[&PendingFlow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    q::expire(conn, &ids(&validations), &ids(&resets)).await?;
    let to_withdraw: Vec<i64> = ending
        .iter()
        .filter(|r| r.flow().is_some_and(|f| rules::lapse_withdraws_enabling(f, is_institutional(&r.email))))
        .filter_map(|r| r.user_id)
        .collect();
    let withdrawn = q::withdraw_enabling(conn, &to_withdraw).await?;
    q::started(conn, row.id).await?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &ending {
        *counts.entry(r.flow.as_str()).or_default() += 1;
    }
    let extra = json!({ "ended_flows": counts, "enablings_withdrawn": withdrawn.len() });
    audit::record_operator(conn, period_event("limited_mode.start", &row, extra)).await?;
    for user in &withdrawn {
        let event = Event {
            action: "withdraw_enabling",
            object_kind: "account",
            object_id: Some(user.to_string()),
            current: Some(json!({ "reason": "address change not validated before limited mode", "period": row.id })),
            ..Default::default()
        };
        audit::record_operator(conn, event).await?;
    }
    let mails = grouped(&pending)
        .into_iter()
        .map(|(to, flows)| {
            let (subject, body) = rules::ended(&flows, &row.message);
            (to, subject, body)
        })
        .collect();
    Ok((ending.len(), 1, mails))
}

/// Notes the end of periods that are over.
async fn close(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    let rows = q::close_ended(conn).await?;
    for row in &rows {
        audit::record_operator(conn, period_event("limited_mode.end", row, json!({}))).await?;
    }
    Ok(rows.len())
}
