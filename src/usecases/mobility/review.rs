//! Documents of an application and the office's review (spec §8, §10): the
//! parent an upload hangs from, the teacher's confirmation with the personal
//! code (DOC-4), the office's record of documents delivered off line
//! (DOC-6), its decision on each precedence and its correction of the
//! family score. Every act is audited with the value it replaces.

use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::json;
use uuid::Uuid;

use super::applications::{claim_now, precedence_str, stored_of};
use super::windows_of;
use crate::authz::{Caller, Scope};
use crate::db::RequestDb;
use crate::db::attachments::AttachmentRow;
use crate::db::audit::{self, Event};
use crate::db::mobility::{self as q, ApplicationRow};
use crate::error::{AppError, AppResult};
use crate::rules::mobility::application::{Precedence, Teacher, missing_documents};
use crate::rules::mobility::{DocumentKind, windows};
use crate::rules::rome;
use crate::usecases::accounts::enabling::CodeCheck;

fn bad(field: &str, reason: impl Into<String>) -> AppError {
    AppError::bad_input(field, reason)
}

/// The reason an office gives for an act: 1 to 500 characters.
fn reason_arg(reason: &str) -> AppResult<String> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(bad("reason", "1 to 500 characters"));
    }
    Ok(reason.to_owned())
}

/// The application a document is added to, in the caller's scope: the
/// teacher's own form (not withdrawn), or one routed to the office. Answers
/// its id and province.
pub async fn document_parent(c: &mut AsyncPgConnection, caller: &Caller, id: i64) -> AppResult<(i64, String)> {
    let app = q::application(c, id).await?.ok_or(AppError::NotFound)?;
    if caller.scope == Scope::Own && app.channel != "online" {
        return Err(AppError::NotFound);
    }
    if app.state == "withdrawn" {
        return Err(AppError::Conflict("the form was withdrawn: edit it before adding documents".into()));
    }
    let province = app.processing_province.clone().unwrap_or(app.home_province);
    Ok((app.id, province))
}

use super::app_event as event;

/// DOC-4: the teacher confirms a document of their application with the
/// personal code. Only a confirmed document counts for the rules, on the
/// day it was confirmed.
pub async fn confirm_document(
    db: &RequestDb,
    code: CodeCheck<'_>,
    application: i64,
    attachment: Uuid,
    now: DateTime<Utc>,
) -> AppResult<AttachmentRow> {
    code.verify().await?;
    let user = code.user_id;
    db.try_run(move |c| {
        Box::pin(async move {
            let app = q::application(c, application).await?.ok_or(AppError::NotFound)?;
            let docs = q::documents_of(c, app.id).await?;
            let doc = docs.iter().find(|d| d.id == attachment && d.uploaded_by == user).ok_or(AppError::NotFound)?;
            if doc.confirmed_at.is_some() {
                return Err(AppError::Conflict("the document is confirmed already".into()));
            }
            let row = q::confirm_document(c, attachment, now).await?;
            let e = event(
                "confirm_document",
                &app,
                None,
                None,
                json!({ "attachment": attachment.to_string(),
                "documentKind": row.mobility_document_kind }),
            );
            audit::record(c, vec![e]).await?;
            Ok(row)
        })
    })
    .await
}

/// The office's application: routed to it (a provincial office, or the
/// regional directorate of an IRC form) and submitted. Answers it with the
/// province its events are filed under: none for a directorate, whose acts
/// no provincial office reads in its trail.
async fn routed(c: &mut AsyncPgConnection, caller: &Caller, id: i64) -> AppResult<(ApplicationRow, Option<String>)> {
    let office = caller.office()?;
    let app = q::application_for_update(c, id).await?.ok_or(AppError::NotFound)?;
    if super::routed_office(&app).as_ref() != Some(&office) {
        return Err(AppError::NotFound);
    }
    if app.state != "submitted" {
        return Err(AppError::Conflict("only a submitted application is reviewed".into()));
    }
    Ok((app, office.audit_province()))
}

/// A document delivered off line.
pub struct Receipt {
    pub kind: DocumentKind,
    /// `hand`, `registered_post`, `pec` or `online`.
    pub channel: &'static str,
    pub received_on: NaiveDate,
    pub precedence: Option<Precedence>,
}

/// DOC-6: a document the office received by hand, registered post or PEC,
/// on its day of receipt (the postmark for registered post), optionally
/// for a precedence of the application.
pub async fn record_receipt(
    db: &RequestDb,
    caller: &Caller,
    id: i64,
    receipt: Receipt,
    now: DateTime<Utc>,
) -> AppResult<ApplicationRow> {
    let Receipt { kind, channel, received_on, precedence } = receipt;
    if received_on > rome::date(now) {
        return Err(bad("input.receivedOn", "cannot be in the future"));
    }
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let (app, office) = routed(c, &caller, id).await?;
            let code = precedence.map(precedence_str);
            let claimed = |p: &String| stored_of(&app).precedences.iter().any(|x| &precedence_str(x.code) == p);
            if code.as_ref().is_some_and(|p| !claimed(p)) {
                return Err(bad("input.precedence", "the application claims no such precedence"));
            }
            let r = q::insert_receipt(c, &app, kind.as_str(), channel, received_on, code.as_deref()).await?;
            let e = event("record_document_receipt", &app, office, None,
                json!({ "documentKind": r.document_kind, "channel": r.channel, "receivedOn": r.received_on, "precedence": r.precedence }));
            audit::record(c, vec![e]).await?;
            Ok(app)
        })
    })
    .await
}

/// The deadline of a submitted application: its teacher's own order's
/// window as the registry stood at submission (WIN-5).
async fn deadline_of(c: &mut AsyncPgConnection, app: &ApplicationRow) -> AppResult<NaiveDate> {
    let teacher: Teacher =
        app.teacher_snapshot.clone().and_then(|v| serde_json::from_value(v).ok()).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("a submitted application without its registry snapshot"))
        })?;
    let campaign = q::campaign(c, app.campaign_year).await?.ok_or(AppError::NotFound)?;
    let day = app.received_on.or(app.submitted_at.map(rome::date)).unwrap_or(NaiveDate::MAX);
    Ok(windows::titles_deadline(&windows_of(&campaign), teacher.category).unwrap_or(day))
}

/// The office recognises or denies a precedence, with a reason. A
/// precedence a rule refused stays refused, except one that lacked only its
/// certificate (PRE-0c) when the office has recorded a medical document for
/// it, received by the deadline.
pub async fn decide_precedence(
    db: &RequestDb,
    caller: &Caller,
    id: i64,
    code: Precedence,
    recognised: bool,
    reason: &str,
) -> AppResult<ApplicationRow> {
    let reason = reason_arg(reason)?;
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let (app, office) = routed(c, &caller, id).await?;
            let outcome = stored_of(&app)
                .precedences
                .into_iter()
                .find(|p| p.code == code)
                .ok_or_else(|| bad("code", "the application claims no such precedence"))?;
            // A precedence a rule refused stays refused, except one that
            // lacked only documents (PRE-0c, DOC-9) which are now on record,
            // received by the deadline: the claim is checked again with them.
            if recognised && outcome.recognised == Some(false) {
                let rule = outcome.rule.clone().unwrap_or_default();
                let refused = |still: &'static str, why: String| AppError::Ruled {
                    code: "BAD_USER_INPUT",
                    rule: still,
                    field: Some("recognised"),
                    message: format!("refused by {rule}: the office cannot recognise it{why}"),
                };
                if !matches!(rule.as_str(), "PRE-0c" | "DOC-9") {
                    return Err(refused("PRE-0d", String::new()));
                }
                let deadline = deadline_of(c, &app).await?;
                let (kind, claim) = claim_now(c, &app, code, deadline)
                    .await?
                    .ok_or_else(|| bad("code", "the application claims no such precedence"))?;
                if let Some((still, why)) = missing_documents(&claim, kind, deadline) {
                    return Err(refused(still, format!(" ({why})")));
                }
            }
            let key = precedence_str(code);
            let mut decisions = app.precedence_decisions.clone();
            let previous = decisions.get(&key).cloned();
            decisions[&key] = json!({ "recognised": recognised, "reason": reason, "at": chrono::Utc::now() });
            let updated = q::set_review(c, app.id, &decisions, app.family_override.as_ref()).await?;
            let e = event(
                "decide_precedence",
                &app,
                office,
                previous,
                json!({ "code": key, "recognised": recognised, "reason": reason }),
            );
            audit::record(c, vec![e]).await?;
            Ok(updated)
        })
    })
    .await
}

/// The office corrects the family score of an AP (SC-A..D), with a reason.
pub async fn set_family_score(
    db: &RequestDb,
    caller: &Caller,
    id: i64,
    score: [i32; 4],
    reason: &str,
) -> AppResult<ApplicationRow> {
    let reason = reason_arg(reason)?;
    // The most each box can give: 6 (A), 4 per child under 6, 3 per child to 18, 6 (D).
    let [a, b, c_, d] = score;
    if !matches!(a, 0 | 6) || !matches!(d, 0 | 6) || b < 0 || b % 4 != 0 || c_ < 0 || c_ % 3 != 0 || b > 80 || c_ > 60 {
        return Err(bad("score", "A and D are 0 or 6, B a multiple of 4, C a multiple of 3"));
    }
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let (app, office) = routed(c, &caller, id).await?;
            if app.kind != "ap" {
                return Err(bad("applicationId", "only a provisional assignment has a family score"));
            }
            let value = json!({ "a": a, "b": b, "c": c_, "d": d, "reason": reason, "at": chrono::Utc::now() });
            let previous =
                app.family_override.clone().or_else(|| app.assessment.as_ref().and_then(|x| x.get("family").cloned()));
            let updated = q::set_review(c, app.id, &app.precedence_decisions, Some(&value)).await?;
            let e = event("set_family_score", &app, office, previous, value);
            audit::record(c, vec![e]).await?;
            Ok(updated)
        })
    })
    .await
}

/// At a UT's submission: its score section goes to the school the teacher
/// holds a post in (SC-U4), to validate. Ambit and provincial holders have
/// no school of their own: their office evaluates the score.
pub(super) async fn send_ut_score(
    c: &mut AsyncPgConnection,
    app: &ApplicationRow,
    teacher: &crate::db::mobility::TeacherRow,
    declared: Option<f64>,
) -> AppResult<()> {
    if app.kind != "ut" || teacher.holding_kind != "school" {
        return Ok(());
    }
    let Some(institution) = q::institution_of(c, &teacher.holding_code).await? else { return Ok(()) };
    let name = format!("{} {}", teacher.first_name, teacher.last_name);
    q::upsert_ut_score(c, app.id, &institution, &teacher.tax_code, &name, declared).await?;
    Ok(())
}

/// The score sections the caller's school validates, a page at a time.
pub async fn ut_scores(db: &RequestDb, page: crate::db::territory::PageRequest) -> AppResult<Vec<q::UtScoreRow>> {
    db.run(move |c| Box::pin(async move { q::ut_scores_page(c, &page).await })).await
}

pub async fn ut_scores_count(db: &RequestDb) -> AppResult<i64> {
    db.run(|c| Box::pin(q::ut_scores_count(c))).await
}

/// The score section of one application, where the caller sees it.
pub async fn ut_score(db: &RequestDb, application: i64) -> AppResult<Option<q::UtScoreRow>> {
    db.run(move |c| Box::pin(q::ut_score(c, application))).await
}

/// SC-U4: the school of service validates or corrects a declared score.
pub async fn validate_ut_score(
    db: &RequestDb,
    caller: &Caller,
    user: i64,
    application: i64,
    score: f64,
    note: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<q::UtScoreRow> {
    if caller.scope != Scope::School {
        return Err(AppError::Forbidden);
    }
    if !(0.0..=1000.0).contains(&score) {
        return Err(bad("score", "from 0 to 1000"));
    }
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(bad("note", "at most 500 characters"));
    }
    let province = caller.province.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let before = q::ut_score(c, application).await?.ok_or(AppError::NotFound)?;
            let row = q::validate_ut_score(c, application, score, note.as_deref(), user, now).await?;
            let e = Event {
                action: "validate_utilisation_score",
                object_kind: "mobility_application",
                object_id: Some(application.to_string()),
                province,
                institution: Some(row.institution_code.clone()),
                previous: Some(json!({ "declared": before.declared, "validated": before.validated })),
                current: Some(json!({ "validated": score, "note": row.note })),
                ..Event::default()
            };
            audit::record(c, vec![e]).await?;
            Ok(row)
        })
    })
    .await
}
