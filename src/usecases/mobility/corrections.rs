//! After a run of process 4 (issue 21): the office's overrides, each with a
//! reason; complaints about a published outcome, recorded within the
//! campaign's deadline and decided; and the explicit renunciation of a
//! post. Overrides and renunciations change the next run of the phase
//! (which reconsiders everyone), never a published one. Every act is
//! audited.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::{chair_str, change_windows, phase_of_form, phase_str, post_type_str, windows_of};
use crate::authz::Caller;
use crate::db::RequestDb;
use crate::db::audit::{self, Event};
use crate::db::mobility::{
    self as q, CampaignRow, ComplaintRow, NewComplaint, NewOverride, OverrideRow, RenunciationRow,
};
use crate::error::{AppError, AppResult};
use crate::rules::mobility::allocation::ChairKind;
use crate::rules::mobility::application::PostType;
use crate::rules::mobility::phase::Phase;
use crate::rules::mobility::windows::complaint_deadline;
use crate::rules::rome;

fn bad(field: &str, reason: impl Into<String>) -> AppError {
    AppError::bad_input(field, reason)
}

/// A reason or a summary: trimmed, between `min` and `max` characters.
fn text(field: &str, value: &str, min: usize, max: usize) -> AppResult<String> {
    let t = value.trim();
    let n = t.chars().count();
    if n < min || n > max {
        return Err(bad(field, format!("from {min} to {max} characters")));
    }
    Ok(t.to_owned())
}

fn event(action: &'static str, kind: &'static str, id: i64, province: &str, current: serde_json::Value) -> Event {
    Event {
        action,
        object_kind: kind,
        object_id: Some(id.to_string()),
        province: Some(province.to_owned()),
        current: Some(current),
        ..Event::default()
    }
}

/// A manual assignment as the office asks for it.
#[derive(Debug, Clone)]
pub struct OverrideEntry {
    pub year: i32,
    pub phase: Phase,
    pub application: i64,
    pub school: String,
    pub post_type: PostType,
    pub class: Option<String>,
    pub chair: ChairKind,
    pub reason: String,
}

/// Records an override: the form must take part in the phase, and the line
/// must be one of the province's free posts. It counts from the next run.
pub async fn set_override(
    db: &RequestDb,
    caller: &Caller,
    user: i64,
    e: OverrideEntry,
    now: DateTime<Utc>,
) -> AppResult<OverrideRow> {
    let office = caller.office_province()?;
    let reason = text("reason", &e.reason, 5, 1000)?;
    let school = e.school.trim().to_ascii_uppercase();
    let class = e.class.as_deref().map(|c| c.trim().to_ascii_uppercase()).unwrap_or_default();
    db.try_run(move |c| {
        Box::pin(async move {
            q::campaign(c, e.year).await?.ok_or(AppError::NotFound)?;
            let app = q::application(c, e.application)
                .await?
                .filter(|a| a.campaign_year == e.year && a.processing_province.as_deref() == Some(office.as_str()))
                .filter(|a| a.processing_region.is_none() && a.state == "submitted")
                .ok_or(AppError::NotFound)?;
            if phase_of_form(&app) != e.phase {
                return Err(bad(
                    "phase",
                    format!("the form takes part in {}", phase_str(phase_of_form(&app)).to_uppercase()),
                ));
            }
            let (post_type, chair) = (post_type_str(e.post_type), chair_str(e.chair));
            let line = q::vacancies(c, e.year, &office).await?.into_iter().find(|v| {
                v.school_code == school && v.post_type == post_type && v.class_code == class && v.chair_kind == chair
            });
            if line.is_none_or(|l| l.count <= 0) {
                return Err(bad("school", "no free post of this kind at this school in the province"));
            }
            let ph = phase_str(e.phase);
            if q::standing_overrides(c, e.year, &office, ph).await?.iter().any(|o| o.application_id == app.id) {
                return Err(AppError::Conflict("the form has an override already: withdraw it first".into()));
            }
            let row = q::insert_override(
                c,
                NewOverride {
                    campaign_year: e.year,
                    province_code: &office,
                    phase: ph,
                    application_id: app.id,
                    school_code: &school,
                    post_type,
                    class_code: &class,
                    chair_kind: chair,
                    reason: &reason,
                    created_by: user,
                    created_at: now,
                },
            )
            .await?;
            let current = json!({ "application": app.id, "phase": ph, "school": school, "postType": post_type,
                                  "classOfCompetition": class, "chairKind": chair, "reason": reason });
            audit::record(c, vec![event("override", "mobility_override", row.id, &office, current)]).await?;
            Ok(row)
        })
    })
    .await
}

/// Withdraws an override, with a reason: the next run shares its seat.
pub async fn withdraw_override(
    db: &RequestDb,
    caller: &Caller,
    user: i64,
    id: i64,
    reason: String,
    now: DateTime<Utc>,
) -> AppResult<OverrideRow> {
    let office = caller.office_province()?;
    let reason = text("reason", &reason, 5, 1000)?;
    db.try_run(move |c| {
        Box::pin(async move {
            let row = q::override_for_update(c, id).await?.ok_or(AppError::NotFound)?;
            if row.withdrawn_at.is_some() {
                return Err(AppError::Conflict("the override is withdrawn already".into()));
            }
            let row = q::withdraw_override(c, id, user, now, &reason).await?;
            let current = json!({ "withdrawn": true, "reason": reason });
            audit::record(c, vec![event("withdraw", "mobility_override", id, &office, current)]).await?;
            Ok(row)
        })
    })
    .await
}

/// The standing overrides of a phase of the office's province.
pub async fn overrides(db: &RequestDb, caller: &Caller, year: i32, ph: Phase) -> AppResult<Vec<OverrideRow>> {
    let office = caller.office_province()?;
    db.run(move |c| Box::pin(async move { q::standing_overrides(c, year, &office, phase_str(ph)).await })).await
}

/// Ambiguity 21: how many days after publication a complaint is received.
pub async fn set_complaint_days(db: &RequestDb, caller: &Caller, year: i32, days: i32) -> AppResult<CampaignRow> {
    if !(1..=90).contains(&days) {
        return Err(bad("days", "from 1 to 90"));
    }
    change_windows(db, caller, year, "set_complaint_days", move |w| {
        w.complaint_days = Some(days as u32);
        Ok(())
    })
    .await
}

/// Records a complaint about an application's published outcome, received
/// on `received_on`, within the campaign's deadline.
pub async fn record_complaint(
    db: &RequestDb,
    caller: &Caller,
    user: i64,
    application: i64,
    received_on: NaiveDate,
    summary: String,
    now: DateTime<Utc>,
) -> AppResult<ComplaintRow> {
    let office = caller.office_province()?;
    let summary = text("summary", &summary, 5, 4000)?;
    db.try_run(move |c| {
        Box::pin(async move {
            let result = q::approved_result_of(c, application)
                .await?
                .filter(|r| r.province_code == office)
                .ok_or(AppError::NotFound)?;
            let run = q::run(c, result.run_id).await?.ok_or(AppError::NotFound)?;
            let campaign = q::campaign(c, run.campaign_year).await?.ok_or(AppError::NotFound)?;
            let Some(days) = windows_of(&campaign).complaint_days else {
                return Err(AppError::Ruled {
                    code: "CONFLICT",
                    rule: "COMPLAINT-1",
                    field: Some("campaignYear"),
                    message: "the campaign has no deadline for complaints yet: set it with setMobilityComplaintDays"
                        .into(),
                });
            };
            let published = rome::date(run.approved_at.unwrap_or(run.created_at));
            let deadline = complaint_deadline(published, days);
            if received_on < published || received_on > deadline || received_on > rome::date(now) {
                return Err(AppError::Ruled {
                    code: "BAD_USER_INPUT",
                    rule: "COMPLAINT-1",
                    field: Some("receivedOn"),
                    message: format!(
                        "a complaint about this outcome is received from {published} to {deadline} \
                         ({days} days after publication), and not later than today"
                    ),
                });
            }
            let row = q::insert_complaint(
                c,
                NewComplaint {
                    run_id: run.id,
                    application_id: application,
                    province_code: &office,
                    teacher_tax_code: &result.teacher_tax_code,
                    received_on,
                    summary: &summary,
                    recorded_by: user,
                    recorded_at: now,
                },
            )
            .await?;
            let current = json!({ "application": application, "run": run.id, "receivedOn": received_on });
            audit::record(c, vec![event("record", "mobility_complaint", row.id, &office, current)]).await?;
            Ok(row)
        })
    })
    .await
}

/// Decides a pending complaint, with a reason. An upheld complaint is
/// put right by correcting the form's facts (or an override) and running
/// the phase again, which reconsiders everyone and says why each moved.
pub async fn decide_complaint(
    db: &RequestDb,
    caller: &Caller,
    user: i64,
    id: i64,
    upheld: bool,
    reason: String,
    now: DateTime<Utc>,
) -> AppResult<ComplaintRow> {
    let office = caller.office_province()?;
    let reason = text("reason", &reason, 5, 4000)?;
    db.try_run(move |c| {
        Box::pin(async move {
            let row = q::complaint_for_update(c, id).await?.ok_or(AppError::NotFound)?;
            if row.state != "pending" {
                return Err(AppError::Conflict(format!("the complaint is {} already", row.state)));
            }
            let state = if upheld { "upheld" } else { "rejected" };
            let row = q::decide_complaint(c, id, state, &reason, user, now).await?;
            let current = json!({ "state": state, "reason": reason });
            audit::record(c, vec![event("decide", "mobility_complaint", id, &office, current)]).await?;
            Ok(row)
        })
    })
    .await
}

/// The complaints about an application the caller may see.
pub async fn complaints(db: &RequestDb, application: i64) -> AppResult<Vec<ComplaintRow>> {
    db.run(move |c| Box::pin(async move { q::complaints_of(c, application).await })).await
}

/// Renounces the post an approved run gave a form: by the teacher, or by
/// the office for a written renunciation. Never implied: a teacher who
/// says nothing keeps the post. The next run of the phase shares the seat.
pub async fn renounce(
    db: &RequestDb,
    caller: &Caller,
    user: i64,
    application: i64,
    now: DateTime<Utc>,
) -> AppResult<RenunciationRow> {
    // A teacher acts for no office: their acts are audited without a province.
    let office = caller.office_province().ok();
    db.try_run(move |c| {
        Box::pin(async move {
            let result = q::approved_result_of(c, application).await?.ok_or(AppError::NotFound)?;
            if !matches!(result.state.as_str(), "assigned" | "manual") {
                return Err(AppError::Ruled {
                    code: "CONFLICT",
                    rule: "RENOUNCE",
                    field: Some("application"),
                    message: "only a post obtained in a published outcome can be renounced".into(),
                });
            }
            let row = RenunciationRow {
                application_id: application,
                run_id: result.run_id,
                province_code: result.province_code.clone(),
                teacher_tax_code: result.teacher_tax_code.clone(),
                renounced_at: now,
                recorded_by: user,
            };
            let row = q::insert_renunciation(c, &row)
                .await?
                .ok_or_else(|| AppError::Conflict("the post is renounced already".into()))?;
            let current = json!({ "run": result.run_id, "school": result.school_code });
            let e = Event { province: office, ..event("renounce", "mobility_application", application, "", current) };
            audit::record(c, vec![e]).await?;
            Ok(row)
        })
    })
    .await
}

/// The renunciation of an application, if the caller may see it.
pub async fn renunciation(db: &RequestDb, application: i64) -> AppResult<Option<RenunciationRow>> {
    db.run(move |c| Box::pin(async move { q::renunciation_of(c, application).await })).await
}
