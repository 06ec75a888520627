//! Process 3 after the provisional ranking (spec §6): complaints and their
//! decisions, the final ranking that fixes placements and class formation,
//! the waiting list, nulla osta, the inclusion assessment of late disabled
//! pupils, and the office's non-acceptance invitations and reduced views.
//! Each act checks its rule, answers its code, changes nothing when it
//! fails, and is audited.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::{
    app_event, bad, closed, event, lock_round, not_future, own_institution, record_decision, removed, round_event,
    round_view, text, write_snapshot,
};
use crate::authz::Caller;
use crate::db::RequestDb;
use crate::db::admissions::{self as q, ApplicationRow, ComplaintRow, InvitationRow, NullaOstaRow, RoundRow};
use crate::db::audit;
use crate::error::{AppError, AppResult};
use crate::rules::admissions::after_final::{self, Refusal};
use crate::rules::admissions::{Outcome, Via, public::PublicVersion};

fn already_decided() -> AppError {
    AppError::rule("ALREADY_DECIDED", "it was decided already")
}

/// An application of the caller's institution with its round, locked.
async fn own_application(
    c: &mut diesel_async::AsyncPgConnection,
    caller: &Caller,
    id: i64,
) -> AppResult<(ApplicationRow, RoundRow)> {
    let app = q::application(c, id).await?.ok_or(AppError::NotFound)?;
    own_institution(caller, &app.institution_code)?;
    let round = q::round(c, app.round_id, true).await?.ok_or(AppError::NotFound)?;
    Ok((app, round))
}

/// The caller's application and its round (locked), still in the round: a
/// removed application takes no further act.
async fn own_active_application(
    c: &mut diesel_async::AsyncPgConnection,
    caller: &Caller,
    id: i64,
) -> AppResult<(ApplicationRow, RoundRow)> {
    let (app, round) = own_application(c, caller, id).await?;
    if app.status != "active" {
        return Err(removed());
    }
    Ok((app, round))
}

/// A decision's reason: required when it refuses, optional when it grants.
fn decision_reason(grants: bool, reason: Option<String>) -> AppResult<Option<String>> {
    match (grants, reason.as_deref().map(str::trim)) {
        (true, None | Some("")) => Ok(None),
        (_, r) => Ok(Some(text("reason", r.unwrap_or(""), 2000)?)),
    }
}

// Complaints (R-PUB-2, R-PUB-3).

/// Registers a written complaint received while the provisional list is
/// posted. Its text is kept for the school only.
pub async fn file_complaint(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    application: i64,
    received_at: DateTime<Utc>,
    body: String,
) -> AppResult<ComplaintRow> {
    not_future("receivedAt", received_at, now)?;
    let body = text("text", &body, 5000)?;
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let (app, round) = own_application(c, &caller, application).await?;
            let (Some(published), Some(deadline)) = (round.published_at, round.complaint_deadline) else {
                return Err(AppError::rule("RANKING_NOT_PUBLISHED", "complaints follow the provisional ranking"));
            };
            if received_at < published {
                return Err(bad("receivedAt", "before the provisional ranking was published"));
            }
            if received_at > deadline || round.approved_at.is_some() {
                return Err(AppError::rule(
                    "COMPLAINT_WINDOW_CLOSED",
                    "complaints are received until the end of the tenth day after publication",
                ));
            }
            let complaint = q::insert_complaint(c, &app, received_at, &body).await?;
            // The text may reveal health or family circumstances: not in the trail.
            let current = json!({ "complaint": complaint.id, "receivedAt": received_at });
            audit::record(c, vec![app_event("file_complaint", &app, current)]).await?;
            Ok(complaint)
        })
    })
    .await
}

/// What accepting a complaint corrects on the complainant's own application
/// facts true at submission only (R-APP-4).
#[derive(Debug, Clone, Default)]
pub struct Corrections {
    pub verify_claims: Vec<String>,
    pub reject_claims: Vec<String>,
    pub verify_disability: bool,
    pub certified_on: Option<NaiveDate>,
    /// The certificate itself, one of the application's documents.
    pub certification_document: Option<uuid::Uuid>,
    pub catchment_site: Option<String>,
}

impl Corrections {
    fn is_empty(&self) -> bool {
        self.verify_claims.is_empty()
            && self.reject_claims.is_empty()
            && !self.verify_disability
            && self.certified_on.is_none()
            && self.certification_document.is_none()
            && self.catchment_site.is_none()
    }
}

/// The head teacher accepts a complaint, applying its corrections, or
/// rejects it with a reason; once, and before the final ranking.
pub async fn decide_complaint(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    id: i64,
    accept: bool,
    reason: Option<String>,
    corrections: Corrections,
) -> AppResult<ComplaintRow> {
    let reason = decision_reason(accept, reason)?;
    if !accept && !corrections.is_empty() {
        return Err(bad("corrections", "a rejected complaint corrects nothing"));
    }
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let complaint = q::complaint(c, id).await?.ok_or(AppError::NotFound)?;
            let (app, round) = own_application(c, &caller, complaint.application_id).await?;
            if complaint.decision != "pending" {
                return Err(already_decided());
            }
            if round.approved_at.is_some() {
                return Err(AppError::rule("RANKING_FINAL", "the final ranking was approved"));
            }
            let applied = if accept { apply(c, &app, &round, &corrections, id, now).await? } else { json!(null) };
            let decision = if accept { "accepted" } else { "rejected" };
            let stored = (!applied.is_null()).then_some(&applied);
            q::decide_complaint(c, id, decision, reason.as_deref(), stored, now).await?;
            let current = json!({ "complaint": id, "decision": decision, "corrections": applied });
            audit::record(c, vec![app_event("decide_complaint", &app, current)]).await?;
            q::complaint(c, id).await?.ok_or(AppError::NotFound)
        })
    })
    .await
}

/// Applies an accepted complaint's corrections; what was applied, for the
/// complaint's record and the trail.
async fn apply(
    c: &mut diesel_async::AsyncPgConnection,
    app: &ApplicationRow,
    round: &RoundRow,
    k: &Corrections,
    complaint: i64,
    now: DateTime<Utc>,
) -> AppResult<serde_json::Value> {
    let because = format!("reclamo n. {complaint} accolto");
    for (list, status) in [(&k.verify_claims, "verified"), (&k.reject_claims, "rejected")] {
        for criterion in list {
            let why = (status == "rejected").then_some(because.as_str());
            if q::set_claim(c, app.id, criterion, status, why, now).await? == 0 {
                return Err(bad("corrections", format!("the application does not claim {criterion}")));
            }
        }
    }
    let certifies = k.verify_disability || k.certified_on.is_some() || k.certification_document.is_some();
    if certifies {
        let Some(on) = k.certified_on.or(app.disability_certified_on) else {
            return Err(bad("corrections.certifiedOn", "no certification under L. 104/92 is dated"));
        };
        super::certified_in_time(app, on)?;
        let field = "corrections.certificationAttachmentId";
        let Some(document) = k.certification_document.or(app.certification_attachment) else {
            return Err(bad(field, "no certification under L. 104/92 is attached to the application"));
        };
        if let Some(d) = k.certification_document {
            super::certification_document(c, app, d, field).await?;
        }
        q::certify_disability(c, app.id, on, document, true).await?;
    }
    if let Some(site) = &k.catchment_site {
        if !round.resident_municipalities.contains(&app.residence_municipality) {
            return Err(bad("corrections.catchmentSite", "a catchment is resolved for residents only"));
        }
        if !q::sites(c, round.id).await?.iter().any(|s| &s.site_code == site) {
            return Err(bad("corrections.catchmentSite", "not a site of the round"));
        }
        q::set_catchment(c, app.id, Some(site), "manual", Some(&because)).await?;
    }
    Ok(json!({
        "verifyClaims": k.verify_claims, "rejectClaims": k.reject_claims,
        "verifyDisability": certifies, "certifiedOn": k.certified_on,
        "certificationAttachmentId": k.certification_document, "catchmentSite": k.catchment_site,
    }))
}

pub async fn complaints(db: &RequestDb, round: i64) -> AppResult<Vec<ComplaintRow>> {
    db.run(move |c| Box::pin(async move { q::complaints(c, round).await })).await
}

// The final ranking (R-FIN-1, R-FIN-2).

/// the school may give families more time to complain, never less:
/// a later deadline, while the provisional ranking stands.
pub async fn extend_complaint_deadline(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    round: i64,
    until: DateTime<Utc>,
) -> AppResult<RoundRow> {
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let r = q::round(c, round, true).await?.ok_or(AppError::NotFound)?;
            own_institution(&caller, &r.institution_code)?;
            let Some(deadline) = r.complaint_deadline else {
                return Err(AppError::rule("RANKING_NOT_PUBLISHED", "the provisional ranking comes first"));
            };
            if r.approved_at.is_some() {
                return Err(AppError::rule("RANKING_FINAL", "the final ranking was approved"));
            }
            if until <= deadline || until <= now {
                return Err(bad("until", "a complaint deadline can only move later, never earlier"));
            }
            let extended = q::set_complaint_deadline(c, round, until).await?;
            let current = json!({ "complaintDeadline": until, "previous": deadline });
            let e = round_event("extend_complaint_deadline", &r, current);
            audit::record(c, vec![e]).await?;
            Ok(extended)
        })
    })
    .await
}

/// The head teacher approves the final ranking once the complaint window
/// has passed and every complaint is decided: the engine runs over the
/// corrected data, its placements and class formation are fixed, and the
/// FINAL snapshot is written with its hashes in the trail.
pub async fn approve_final(db: &RequestDb, caller: &Caller, now: DateTime<Utc>, round: i64) -> AppResult<RoundRow> {
    // Locked before it is read: what is approved is what was read.
    lock_round(db, round).await?;
    let view = round_view(db, now, round).await?;
    own_institution(caller, &view.round.institution_code)?;
    let r = &view.round;
    let Some(deadline) = r.complaint_deadline else {
        return Err(AppError::rule("RANKING_NOT_PUBLISHED", "the provisional ranking comes first"));
    };
    if r.approved_at.is_some() {
        return Err(AppError::rule("ALREADY_APPROVED", "the final ranking was approved already"));
    }
    if now <= deadline {
        return Err(AppError::rule("COMPLAINT_WINDOW_OPEN", "complaints are received until the deadline"));
    }
    let pending = complaints(db, round).await?.iter().filter(|k| k.decision == "pending").count();
    if pending > 0 {
        return Err(AppError::rule("COMPLAINTS_PENDING", format!("{pending} complaints wait for a decision")));
    }
    let placements: Vec<q::PlacementRow> =
        view.outcome.admitted.iter().map(|(id, a)| placement(&view.round, *id, a, now)).collect();
    db.try_run(move |c| {
        Box::pin(async move {
            let approved = q::approve(c, round, now).await?;
            q::insert_placements(c, &placements).await?;
            let (inputs_hash, outcome_hash) = write_snapshot(c, &view, "final", now).await?;
            let late = crate::rules::rome::date(now) > approved.final_due_on;
            let current = json!({ "stage": "final", "inputsHash": inputs_hash, "outcomeHash": outcome_hash,
                                  "approvedLate": late, "postedUntil": approved.posted_until,
                                  "admitted": placements.len() });
            let e = round_event("approve", &approved, current);
            audit::record(c, vec![e]).await?;
            Ok(approved)
        })
    })
    .await
}

fn placement(round: &RoundRow, id: i64, a: &crate::rules::admissions::Admission, at: DateTime<Utc>) -> q::PlacementRow {
    q::PlacementRow {
        application_id: id,
        round_id: round.id,
        institution_code: round.institution_code.clone(),
        province_code: String::new(),
        site_code: a.site.clone(),
        time_model: a.time_model.clone(),
        preference_rank: a.time_model_preference_rank.map(|r| r as i32),
        via: match a.via {
            Via::Ranking => "ranking",
            Via::Redistribution => "redistribution",
            Via::WaitingList => "waiting_list",
        }
        .into(),
        placed_at: at,
    }
}

// The waiting list (R-WL-1..3, R-TM-7).

/// Calls the first waiting candidate who accepts a freed place at `site`.
/// Returns the application admitted.
pub async fn admit_from_waiting_list(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    round: i64,
    site: String,
) -> AppResult<i64> {
    lock_round(db, round).await?;
    let view = round_view(db, now, round).await?;
    own_institution(caller, &view.round.institution_code)?;
    if view.round.approved_at.is_none() {
        return Err(AppError::rule("RANKING_NOT_FINAL", "the waiting list runs after the final ranking"));
    }
    if now > view.round.waiting_list_closes_at {
        return Err(closed());
    }
    if !view.sites.iter().any(|s| s.site_code == site) {
        return Err(bad("site", "not a site of the round"));
    }
    let applicants = view.applicants();
    let called = after_final::call(&view.config, &applicants, &view.outcome, &site).map_err(|r| match r {
        Refusal::NoFreePlace => AppError::rule("NO_FREE_PLACE", "every place of the site is taken"),
        Refusal::NobodyWaiting => AppError::rule("WAITING_LIST_EMPTY", "no one on the waiting list accepts this site"),
        Refusal::AssessmentPending(id) => AppError::rule(
            "ASSESSMENT_PENDING",
            format!(
                "the head of the list ({}) waits for the head teacher's inclusion assessment",
                view.applications[&id].public_code
            ),
        ),
    })?;
    let row = placement(&view.round, called.id, &called.admission, now);
    let app = view.applications[&called.id].clone();
    db.try_run(move |c| {
        Box::pin(async move {
            q::insert_placements(c, std::slice::from_ref(&row)).await?;
            let current = json!({ "site": row.site_code, "timeModel": row.time_model, "via": "waiting_list",
                                  "group": format!("{:?}", called.group), "passedOver": called.passed_over });
            audit::record(c, vec![app_event("admit_from_waiting_list", &app, current)]).await?;
            Ok(app.id)
        })
    })
    .await
}

/// the head teacher revokes an admission that a declaration found
/// false (a claim rejected as NON_VERIDICITA) had bought: the final ranking,
/// recomputed from its own inputs with the correction, would not admit the
/// pupil. The placement is kept among the revocations, the pupil waits at
/// the corrected position, and the place goes to the waiting list. Until
/// the waiting list closes; afterwards the false declaration is only
/// recorded.
pub async fn revoke_admission(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    application: i64,
    reason: String,
) -> AppResult<()> {
    let reason = text("reason", &reason, 2000)?;
    let own = caller.clone();
    let (app, round) =
        db.try_run(move |c| Box::pin(async move { own_active_application(c, &own, application).await })).await?;
    if round.approved_at.is_none() {
        return Err(AppError::rule("RANKING_NOT_FINAL", "before the final ranking a false claim is simply rejected"));
    }
    if now > round.waiting_list_closes_at {
        return Err(closed());
    }
    let view = round_view(db, now, round.id).await?;
    let Some(placed) = view.outcome.admitted.get(&application).cloned() else {
        return Err(bad("applicationId", "the application holds no place"));
    };
    let corrected = view.applicants().into_iter().find(|a| a.id == application).ok_or(AppError::NotFound)?;
    db.try_run(move |c| {
        Box::pin(async move {
            let found_false = q::claims(c, round.id).await?.into_iter().any(|k| {
                k.application_id == application
                    && k.status == "rejected"
                    && k.reason.as_deref() == Some(super::FALSE_DECLARATION)
            });
            if !found_false {
                return Err(bad("applicationId", "no declaration of the application was found false (NON_VERIDICITA)"));
            }
            let snapshot = q::snapshots(c, round.id).await?.into_iter().find(|s| s.stage == "final");
            let snapshot = snapshot
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("an approved round without its final snapshot")))?;
            let inputs: crate::rules::admissions::Inputs =
                serde_json::from_value(snapshot.inputs).map_err(AppError::internal)?;
            if after_final::admitted_after_correction(&inputs, &corrected) {
                return Err(AppError::rule(
                    "ADMISSION_STANDS",
                    "the final ranking recomputed with the correction still admits the pupil",
                ));
            }
            q::revoke_placement(c, application, now, &reason).await?;
            let current = json!({ "revoked": { "site": placed.site, "timeModel": placed.time_model },
                                  "pointsNow": corrected.points.as_f64(), "reason": reason });
            record_decision(c, "revoke_admission", &app, current, false).await
        })
    })
    .await
}

/// R-DOC-1: the school records the day the two photos or the vaccination
/// booklet of an admitted pupil arrived. Only the arrival is recorded; a
/// day already recorded stays.
pub async fn receive_enrolment_documents(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    application: i64,
    photos: bool,
    booklet: bool,
    received_on: NaiveDate,
) -> AppResult<()> {
    if !photos && !booklet {
        return Err(bad("photos", "name what arrived: the photos, the vaccination booklet or both"));
    }
    if received_on > crate::rules::rome::date(now) {
        return Err(bad("receivedOn", "cannot be in the future"));
    }
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let (app, round) = own_active_application(c, &caller, application).await?;
            if !q::placements(c, round.id).await?.iter().any(|p| p.application_id == application) {
                return Err(bad("applicationId", "only admitted pupils hand in enrolment documents"));
            }
            let photos_on = app.photos_received_on.or(photos.then_some(received_on));
            let booklet_on = app.vaccination_booklet_received_on.or(booklet.then_some(received_on));
            q::set_enrolment_documents(c, application, photos_on, booklet_on).await?;
            let current = json!({ "photos": photos_on, "vaccinationBooklet": booklet_on });
            audit::record(c, vec![app_event("receive_enrolment_documents", &app, current)]).await?;
            Ok(())
        })
    })
    .await
}

/// The head teacher's assessment of a late resident disabled pupil's
/// inclusion (RG 9, A-9): confirmed, the pupil waits in W2; not, in W4.
pub async fn record_inclusion_assessment(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    application: i64,
    confirmed: bool,
) -> AppResult<()> {
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let (app, round) = own_active_application(c, &caller, application).await?;
            let late = app.submitted_at > round.window_closes_at;
            let resident = round.resident_municipalities.contains(&app.residence_municipality);
            if !(late && resident && app.disability_verified) {
                return Err(bad(
                    "applicationId",
                    "the assessment is for late applications of resident pupils with a verified disability",
                ));
            }
            if now > round.waiting_list_closes_at {
                return Err(closed());
            }
            let value = if confirmed { "confirmed" } else { "not_confirmed" };
            if q::set_assessment(c, application, value).await? == 0 {
                return Err(already_decided());
            }
            audit::record(c, vec![app_event("inclusion_assessment", &app, json!({ "assessment": value }))]).await?;
            Ok(())
        })
    })
    .await
}

// Nulla osta (R-NO-1, R-NO-2).

pub async fn request_nulla_osta(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    application: i64,
    requested_at: DateTime<Utc>,
    reason: String,
    destination: String,
) -> AppResult<NullaOstaRow> {
    not_future("requestedAt", requested_at, now)?;
    let reason = text("reason", &reason, 2000)?;
    let destination = text("destination", &destination, 200)?;
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let (app, _) = own_active_application(c, &caller, application).await?;
            let Some(request) = q::insert_nulla_osta(c, &app, requested_at, &reason, &destination).await? else {
                return Err(AppError::Conflict(
                    "a request of nulla osta for this application waits for a decision".into(),
                ));
            };
            // The reason may reveal family circumstances: not in the trail.
            let current = json!({ "nullaOsta": request.id, "requestedAt": requested_at, "dueOn": request.due_on });
            audit::record(c, vec![app_event("request_nulla_osta", &app, current)]).await?;
            Ok(request)
        })
    })
    .await
}

/// The head teacher issues the nulla osta (the pupil leaves the round for
/// good) or refuses it with a reason; late decisions are flagged.
pub async fn decide_nulla_osta(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    id: i64,
    issue: bool,
    reason: Option<String>,
) -> AppResult<NullaOstaRow> {
    let reason = decision_reason(issue, reason)?;
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let request = q::nulla_osta(c, id).await?.ok_or(AppError::NotFound)?;
            let (app, _) = own_application(c, &caller, request.application_id).await?;
            if request.decision != "pending" {
                return Err(already_decided());
            }
            let overdue = crate::rules::rome::date(now) > request.due_on;
            let decision = if issue { "issued" } else { "refused" };
            if issue && q::leave(c, app.id, "transferred", now).await? == 0 {
                return Err(removed());
            }
            let decided = q::decide_nulla_osta(c, id, decision, reason.as_deref(), now, overdue).await?;
            let current = json!({ "nullaOsta": id, "decision": decision, "overdue": overdue });
            record_decision(c, "decide_nulla_osta", &app, current, issue).await?;
            Ok(decided)
        })
    })
    .await
}

pub async fn nulla_osta_requests(db: &RequestDb, round: i64) -> AppResult<Vec<NullaOstaRow>> {
    db.run(move |c| Box::pin(async move { q::nulla_osta_requests(c, round).await })).await
}

// The office's check on non-residents (RG 4 N.B., R-WL-4, §7.3).

/// The office invites the head teacher not to accept a non-resident's
/// application. Residents' applications are out of the office's scope.
pub async fn invite_non_acceptance(
    db: &RequestDb,
    now: DateTime<Utc>,
    application: i64,
    note: String,
) -> AppResult<InvitationRow> {
    let note = text("note", &note, 2000)?;
    db.try_run(move |c| {
        Box::pin(async move {
            // Row security shows the office non-residents only.
            let app = q::application(c, application).await?.ok_or(AppError::NotFound)?;
            let round = q::round(c, app.round_id, false).await?.ok_or(AppError::NotFound)?;
            if app.status != "active" {
                return Err(bad("applicationId", "the application is no longer active"));
            }
            if now > round.waiting_list_closes_at {
                return Err(closed());
            }
            let Some(invitation) = q::insert_invitation(c, &app, now, &note).await? else {
                return Err(AppError::Conflict("an invitation for this application waits for a decision".into()));
            };
            let current = json!({ "invitation": invitation.id, "note": note });
            let e = event(
                "invite_non_acceptance",
                "admission_application",
                app.id,
                &app.institution_code,
                &app.province_code,
                current,
            );
            audit::record(c, vec![e]).await?;
            Ok(invitation)
        })
    })
    .await
}

/// The head teacher's decision on an invitation: NOT_ACCEPTED removes the
/// application for good (a place it held is freed), ACCEPTED keeps it;
/// with a reason either way, until the waiting list closes.
pub async fn decide_non_acceptance(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    id: i64,
    not_accepted: bool,
    reason: String,
) -> AppResult<InvitationRow> {
    let reason = text("reason", &reason, 2000)?;
    let caller = caller.clone();
    db.try_run(move |c| {
        Box::pin(async move {
            let invitation = q::invitation(c, id).await?.ok_or(AppError::NotFound)?;
            let (app, round) = own_application(c, &caller, invitation.application_id).await?;
            if invitation.decision != "pending" {
                return Err(already_decided());
            }
            if now > round.waiting_list_closes_at {
                return Err(closed());
            }
            let decision = if not_accepted { "not_accepted" } else { "accepted" };
            if not_accepted && q::leave(c, app.id, "not_accepted", now).await? == 0 {
                return Err(removed());
            }
            let decided = q::decide_invitation(c, id, decision, &reason, now).await?;
            let current = json!({ "invitation": id, "decision": decision });
            record_decision(c, "decide_non_acceptance", &app, current, not_accepted).await?;
            Ok(decided)
        })
    })
    .await
}

pub async fn invitations(db: &RequestDb, round: i64) -> AppResult<Vec<InvitationRow>> {
    db.run(move |c| Box::pin(async move { q::invitations(c, round).await })).await
}

/// A non-resident application as the office sees it (§7.3): no name, tax
/// code, birth date, address, points detail or disability.
#[derive(Debug, Clone)]
pub struct NonResident {
    pub id: i64,
    pub public_code: String,
    pub municipality: String,
    pub requested_site: String,
    pub time_model_preferences: Vec<String>,
    pub late: bool,
    pub status: String,
    /// ADMITTED with its site, WAITING, REMOVED; None before publication.
    pub outcome: Option<(&'static str, Option<String>)>,
}

/// The non-resident applications of a round of the office's province, with
/// the outcome as last published, or as placed after the final ranking.
pub async fn non_resident_applications(db: &RequestDb, round: i64) -> AppResult<Vec<NonResident>> {
    db.try_run(move |c| {
        Box::pin(async move {
            let r = q::round(c, round, false).await?.ok_or(AppError::NotFound)?;
            let apps = q::applications(c, round).await?;
            let placements: std::collections::BTreeMap<i64, String> =
                q::placements(c, round).await?.into_iter().map(|p| (p.application_id, p.site_code)).collect();
            let published: Option<Outcome> = match q::snapshot(c, round, "provisional").await? {
                Some(s) => Some(serde_json::from_value(s.outcome).map_err(AppError::internal)?),
                None => None,
            };
            Ok(apps
                .into_iter()
                .map(|a| {
                    let outcome = if a.status != "active" {
                        Some(("REMOVED", None))
                    } else if let Some(site) = placements.get(&a.id) {
                        Some(("ADMITTED", Some(site.clone())))
                    } else if r.approved_at.is_some() {
                        Some(("WAITING", None))
                    } else {
                        published.as_ref().and_then(|o| match o.admitted.get(&a.id) {
                            Some(adm) => Some(("ADMITTED", Some(adm.site.clone()))),
                            None if o.waiting.iter().any(|w| w.id == a.id) => Some(("WAITING", None)),
                            None => None,
                        })
                    };
                    NonResident {
                        id: a.id,
                        public_code: a.public_code,
                        municipality: a.residence_municipality,
                        requested_site: a.site_preferences[0].clone(),
                        time_model_preferences: a.time_model_preferences,
                        late: a.submitted_at > r.window_closes_at,
                        status: a.status,
                        outcome,
                    }
                })
                .collect())
        })
    })
    .await
}

// Public versions (§7.2).

/// A published public version and the round's header. The school reads
/// what it published at any time, for its records; anyone else only the
/// final version, only while it is posted (R-FIN-2), else not found.
pub async fn public_list(
    db: &RequestDb,
    caller: &Caller,
    now: DateTime<Utc>,
    round: i64,
    final_stage: bool,
) -> AppResult<(RoundRow, PublicVersion)> {
    let stage = if final_stage { "final" } else { "provisional" };
    let r =
        db.run(move |c| Box::pin(async move { q::round(c, round, false).await })).await?.ok_or(AppError::NotFound)?;
    let own = caller.school.as_deref() == Some(r.institution_code.as_str());
    if !own {
        let posted = match final_stage {
            true => r.approved_at.is_some() && r.posted_until.is_some_and(|until| now <= until),
            false => r.published_at.is_some() && r.complaint_deadline.is_some_and(|until| now <= until),
        };
        if !posted {
            return Err(AppError::NotFound);
        }
    }
    let (_, public) = super::published(db, round, stage).await?;
    Ok((r, public))
}

// The office's aggregates (§2, §7.3).

/// Per round of a school year in scope, the counts of its latest published
/// snapshot (final, else provisional); rounds not yet published give none.
pub async fn statistics(
    db: &RequestDb,
    school_year: i32,
) -> AppResult<Vec<(RoundRow, &'static str, crate::rules::admissions::aggregates::Aggregates)>> {
    db.try_run(move |c| {
        Box::pin(async move {
            let mut out = Vec::new();
            for r in q::rounds_of_year(c, school_year).await? {
                let snaps = q::snapshots(c, r.id).await?;
                let Some(s) = snaps.iter().find(|s| s.stage == "final").or_else(|| snaps.first()) else { continue };
                let inputs: crate::rules::admissions::Inputs =
                    serde_json::from_value(s.inputs.clone()).map_err(AppError::internal)?;
                let outcome: Outcome = serde_json::from_value(s.outcome.clone()).map_err(AppError::internal)?;
                let stage = if s.stage == "final" { "FINAL" } else { "PROVISIONAL" };
                out.push((r, stage, crate::rules::admissions::aggregates::aggregates(&inputs, &outcome)));
            }
            Ok(out)
        })
    })
    .await
}
