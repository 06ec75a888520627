//! Process 3 in GraphQL after the provisional ranking: complaints, the final
//! ranking, the waiting list, nulla osta, the inclusion assessment, the
//! office's reduced list of non-residents and its invitations, and the
//! public lists the municipality reads while they are posted. Resolvers
//! check the caller's line and call `crate::usecases::admissions`.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::{
    AdmissionApplication, AdmissionRound, PublicHeader, PublicVersionGql, RankingStage, application, now, round,
};
use super::{caller, db};
use crate::authz::{Action, ObjectKind};
use crate::db::admissions::{ComplaintRow, InvitationRow, NullaOstaRow};
use crate::error::AppError;
use crate::graphql::registry::id_arg;
use crate::graphql::scalars::{Date, Instant};
use crate::usecases::admissions as uc;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum ComplaintDecision {
    Pending,
    Accepted,
    Rejected,
}

/// A written complaint against the provisional ranking (school only: its
/// text may reveal health or family circumstances).
#[derive(SimpleObject)]
pub struct AdmissionComplaint {
    id: ID,
    application_id: ID,
    received_at: DateTime<Utc>,
    text: String,
    decision: ComplaintDecision,
    reason: Option<String>,
    decided_at: Option<DateTime<Utc>>,
}

impl From<ComplaintRow> for AdmissionComplaint {
    fn from(k: ComplaintRow) -> Self {
        AdmissionComplaint {
            id: ID(k.id.to_string()),
            application_id: ID(k.application_id.to_string()),
            received_at: k.received_at,
            text: k.text,
            decision: match k.decision.as_str() {
                "accepted" => ComplaintDecision::Accepted,
                "rejected" => ComplaintDecision::Rejected,
                _ => ComplaintDecision::Pending,
            },
            reason: k.reason,
            decided_at: k.decided_at,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum NullaOstaDecision {
    Pending,
    Issued,
    Refused,
}

/// A request of nulla osta: due five days after it was made.
#[derive(SimpleObject)]
pub struct NullaOstaRequest {
    id: ID,
    application_id: ID,
    requested_at: DateTime<Utc>,
    reason: String,
    destination: String,
    due_on: Date,
    decision: NullaOstaDecision,
    decision_reason: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    /// Decided after it was due (null while pending).
    overdue: Option<bool>,
}

impl From<NullaOstaRow> for NullaOstaRequest {
    fn from(n: NullaOstaRow) -> Self {
        NullaOstaRequest {
            id: ID(n.id.to_string()),
            application_id: ID(n.application_id.to_string()),
            requested_at: n.requested_at,
            reason: n.reason,
            destination: n.destination,
            due_on: Date(n.due_on),
            decision: match n.decision.as_str() {
                "issued" => NullaOstaDecision::Issued,
                "refused" => NullaOstaDecision::Refused,
                _ => NullaOstaDecision::Pending,
            },
            decision_reason: n.decision_reason,
            decided_at: n.decided_at,
            overdue: n.overdue,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum InvitationDecision {
    Pending,
    NotAccepted,
    Accepted,
}

/// The office's invitation not to accept a non-resident, and the head
/// teacher's decision.
#[derive(SimpleObject)]
pub struct NonAcceptanceInvitation {
    id: ID,
    application_id: ID,
    issued_at: DateTime<Utc>,
    note: String,
    decision: InvitationDecision,
    reason: Option<String>,
    decided_at: Option<DateTime<Utc>>,
}

impl From<InvitationRow> for NonAcceptanceInvitation {
    fn from(i: InvitationRow) -> Self {
        NonAcceptanceInvitation {
            id: ID(i.id.to_string()),
            application_id: ID(i.application_id.to_string()),
            issued_at: i.issued_at,
            note: i.note,
            decision: match i.decision.as_str() {
                "not_accepted" => InvitationDecision::NotAccepted,
                "accepted" => InvitationDecision::Accepted,
                _ => InvitationDecision::Pending,
            },
            reason: i.reason,
            decided_at: i.decided_at,
        }
    }
}

pub(super) async fn complaints_of(ctx: &Context<'_>, round: i64) -> Result<Vec<AdmissionComplaint>> {
    Ok(uc::complaints(db(ctx), round).await?.into_iter().map(Into::into).collect())
}

pub(super) async fn nulla_osta_of(ctx: &Context<'_>, round: i64) -> Result<Vec<NullaOstaRequest>> {
    Ok(uc::nulla_osta_requests(db(ctx), round).await?.into_iter().map(Into::into).collect())
}

pub(super) async fn invitations_of(ctx: &Context<'_>, round: i64) -> Result<Vec<NonAcceptanceInvitation>> {
    Ok(uc::invitations(db(ctx), round).await?.into_iter().map(Into::into).collect())
}

/// Where a non-resident application stands, as the office may know it.
#[derive(SimpleObject)]
pub struct NonResidentOutcome {
    /// ADMITTED, WAITING or REMOVED.
    kind: String,
    site: Option<String>,
}

/// A non-resident application in the office's reduced form (spec §7.3).
#[derive(SimpleObject)]
pub struct NonResidentApplication {
    id: ID,
    public_code: String,
    residence_municipality: String,
    requested_site: String,
    time_model_preferences: Vec<String>,
    late: bool,
    /// ACTIVE, WITHDRAWN, TRANSFERRED or NOT_ACCEPTED.
    status: String,
    /// As last published, or as placed after the final ranking; null before publication.
    outcome: Option<NonResidentOutcome>,
}

/// One admission from the waiting list.
#[derive(SimpleObject)]
pub struct WaitingListAdmission {
    application: AdmissionApplication,
}

#[derive(InputObject, Default)]
pub struct ComplaintCorrections {
    /// Claims of the complainant's application found true.
    #[graphql(default)]
    verify_claims: Vec<String>,
    /// Claims found false.
    #[graphql(default)]
    reject_claims: Vec<String>,
    /// The certification under L. 104/92 is verified (with `certifiedOn`
    /// when it was not dated yet).
    #[graphql(default)]
    verify_disability: bool,
    certified_on: Option<Date>,
    /// The certificate, uploaded as an ADMISSION_DOCUMENT of the application
    /// (needed unless one is attached already).
    certification_attachment_id: Option<ID>,
    /// The catchment site of a resident, set by hand.
    catchment_site: Option<String>,
}

/// A site's counts in a published ranking.
#[derive(SimpleObject)]
pub struct SiteStatistics {
    site: String,
    places: u32,
    /// On-time applications with the site as first choice.
    applications: u32,
    /// Of them, catchment residents (group A), other residents (B), non-residents (C).
    group_a: u32,
    group_b: u32,
    group_c: u32,
    admitted: u32,
}

/// A round's counts for the office: no identity and no health data (pupils
/// with disability precedence are counted in their territorial group only).
#[derive(SimpleObject)]
pub struct RoundStatistics {
    round_id: ID,
    institution: String,
    order: super::AdmissionOrder,
    /// The published stage the counts come from.
    stage: RankingStage,
    sites: Vec<SiteStatistics>,
    time_models: Vec<super::TimeModelOutcome>,
    late: u32,
    waiting: u32,
}

#[derive(Default)]
pub struct AfterPublicationQuery;

#[Object]
impl AfterPublicationQuery {
    /// The non-resident applications of a round of the office's province,
    /// without identity, address, points detail or health data.
    async fn non_resident_applications(&self, ctx: &Context<'_>, round_id: ID) -> Result<Vec<NonResidentApplication>> {
        caller(ctx, ObjectKind::AdmissionNonResident, Action::Read)?;
        let rows = uc::non_resident_applications(db(ctx), id_arg("roundId", &round_id)?).await?;
        Ok(rows
            .into_iter()
            .map(|r| NonResidentApplication {
                id: ID(r.id.to_string()),
                public_code: r.public_code,
                residence_municipality: r.municipality,
                requested_site: r.requested_site,
                time_model_preferences: r.time_model_preferences,
                late: r.late,
                status: r.status.to_ascii_uppercase(),
                outcome: r.outcome.map(|(kind, site)| NonResidentOutcome { kind: kind.into(), site }),
            })
            .collect())
    }

    /// Counts of every published round of a school year in the caller's
    /// scope (the office: its province), from the latest published ranking.
    async fn admission_statistics(&self, ctx: &Context<'_>, school_year: String) -> Result<Vec<RoundStatistics>> {
        caller(ctx, ObjectKind::AdmissionRound, Action::Read)?;
        let year = crate::graphql::registry::year_arg("schoolYear", &school_year)?.stored();
        let rows = uc::statistics(db(ctx), year).await?;
        Ok(rows
            .into_iter()
            .map(|(r, stage, a)| RoundStatistics {
                round_id: ID(r.id.to_string()),
                institution: r.institution_code.clone(),
                order: super::AdmissionOrder::of(&r.school_order),
                stage: if stage == "FINAL" { RankingStage::Final } else { RankingStage::Provisional },
                sites: a
                    .sites
                    .into_iter()
                    .map(|s| SiteStatistics {
                        site: s.site,
                        places: s.places,
                        applications: s.applications,
                        group_a: s.by_group[0],
                        group_b: s.by_group[1],
                        group_c: s.by_group[2],
                        admitted: s.admitted,
                    })
                    .collect(),
                time_models: super::time_models_of_list(&a.time_models),
                late: a.late,
                waiting: a.waiting,
            })
            .collect())
    }

    /// A published list as the albo shows it. The school reads its own at
    /// any time; the municipality and the office read the final list only
    /// while it is posted, and nothing else (not found).
    async fn admission_public_list(
        &self,
        ctx: &Context<'_>,
        round_id: ID,
        #[graphql(desc = "FINAL when left out")] stage: Option<RankingStage>,
    ) -> Result<PublicVersionGql> {
        let c = caller(ctx, ObjectKind::AdmissionPublic, Action::Read)?;
        let final_stage = match stage.unwrap_or(RankingStage::Final) {
            RankingStage::Final => true,
            RankingStage::Provisional => false,
            RankingStage::Current => return Err(AppError::bad_input("stage", "a published stage").into()),
        };
        let id = id_arg("roundId", &round_id)?;
        let (r, public) = uc::public_list(db(ctx), &c, now(ctx), id, final_stage).await?;
        Ok(PublicVersionGql(public, PublicHeader::of(&r, final_stage)))
    }
}

#[derive(Default)]
pub struct AfterPublicationMutation;

#[Object]
impl AfterPublicationMutation {
    /// Registers a written complaint received while the provisional list is posted.
    async fn file_complaint(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        received_at: Instant,
        text: String,
    ) -> Result<AdmissionComplaint> {
        let c = caller(ctx, ObjectKind::AdmissionApplication, Action::Write)?;
        let id = id_arg("applicationId", &application_id)?;
        Ok(uc::file_complaint(db(ctx), &c, now(ctx), id, received_at.0, text).await?.into())
    }

    /// The head teacher accepts a complaint (its corrections apply to the
    /// complainant's own application) or rejects it with a reason.
    async fn decide_complaint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        accept: bool,
        reason: Option<String>,
        corrections: Option<ComplaintCorrections>,
    ) -> Result<AdmissionComplaint> {
        let c = caller(ctx, ObjectKind::AdmissionDecision, Action::Write)?;
        let corrections = corrections.unwrap_or_default();
        let corrections = uc::Corrections {
            verify_claims: corrections.verify_claims,
            reject_claims: corrections.reject_claims,
            verify_disability: corrections.verify_disability,
            certified_on: corrections.certified_on.map(|d| d.0),
            certification_document: corrections
                .certification_attachment_id
                .map(|id| crate::graphql::attachments::uuid_arg("corrections.certificationAttachmentId", &id))
                .transpose()?,
            catchment_site: corrections.catchment_site.map(|s| s.trim().to_ascii_uppercase()),
        };
        let decided =
            uc::decide_complaint(db(ctx), &c, now(ctx), id_arg("id", &id)?, accept, reason, corrections).await?;
        Ok(decided.into())
    }

    /// Gives families more time to complain: a later deadline, never
    /// an earlier one, before the final ranking.
    async fn extend_complaint_deadline(
        &self,
        ctx: &Context<'_>,
        round_id: ID,
        until: Instant,
    ) -> Result<AdmissionRound> {
        let c = caller(ctx, ObjectKind::AdmissionRound, Action::Write)?;
        let id = id_arg("roundId", &round_id)?;
        uc::extend_complaint_deadline(db(ctx), &c, now(ctx), id, until.0).await?;
        round(ctx, id).await
    }

    /// The head teacher approves the final ranking: placements and class
    /// formation are fixed, the FINAL snapshot is written and posted.
    async fn approve_final_ranking(&self, ctx: &Context<'_>, round_id: ID) -> Result<AdmissionRound> {
        let c = caller(ctx, ObjectKind::AdmissionDecision, Action::Write)?;
        let id = id_arg("roundId", &round_id)?;
        uc::approve_final(db(ctx), &c, now(ctx), id).await?;
        round(ctx, id).await
    }

    /// The head teacher's assessment of a late disabled resident's inclusion (RG 9).
    async fn record_inclusion_assessment(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        confirmed: bool,
    ) -> Result<AdmissionApplication> {
        let c = caller(ctx, ObjectKind::AdmissionDecision, Action::Write)?;
        let id = id_arg("applicationId", &application_id)?;
        uc::record_inclusion_assessment(db(ctx), &c, now(ctx), id, confirmed).await?;
        application(ctx, id).await
    }

    /// The head teacher revokes an admission that a declaration found false
    /// (a claim rejected as NON_VERIDICITA) had bought: the pupil
    /// waits at the corrected position and the place goes to the waiting
    /// list. ADMISSION_STANDS when the corrected final ranking still admits
    /// the pupil.
    async fn revoke_admission(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        reason: String,
    ) -> Result<AdmissionApplication> {
        let c = caller(ctx, ObjectKind::AdmissionDecision, Action::Write)?;
        let id = id_arg("applicationId", &application_id)?;
        uc::revoke_admission(db(ctx), &c, now(ctx), id, reason).await?;
        application(ctx, id).await
    }

    /// Records that a placed pupil's photos or vaccination booklet arrived
    /// on `receivedOn` (R-DOC-1). Only the arrival is recorded.
    async fn receive_enrolment_documents(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        photos: Option<bool>,
        vaccination_booklet: Option<bool>,
        received_on: Date,
    ) -> Result<AdmissionApplication> {
        let c = caller(ctx, ObjectKind::AdmissionApplication, Action::Write)?;
        let id = id_arg("applicationId", &application_id)?;
        let (photos, booklet) = (photos.unwrap_or(false), vaccination_booklet.unwrap_or(false));
        uc::receive_enrolment_documents(db(ctx), &c, now(ctx), id, photos, booklet, received_on.0).await?;
        application(ctx, id).await
    }

    /// Admits the first waiting candidate who accepts a freed place at `site`.
    async fn admit_from_waiting_list(
        &self,
        ctx: &Context<'_>,
        round_id: ID,
        site: String,
    ) -> Result<WaitingListAdmission> {
        let c = caller(ctx, ObjectKind::AdmissionApplication, Action::Write)?;
        let id = id_arg("roundId", &round_id)?;
        let admitted = uc::admit_from_waiting_list(db(ctx), &c, now(ctx), id, site.trim().to_ascii_uppercase()).await?;
        Ok(WaitingListAdmission { application: application(ctx, admitted).await? })
    }

    /// Records a written request of nulla osta (transfer to another school).
    async fn request_nulla_osta(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        requested_at: Instant,
        reason: String,
        destination: String,
    ) -> Result<NullaOstaRequest> {
        let c = caller(ctx, ObjectKind::AdmissionApplication, Action::Write)?;
        let id = id_arg("applicationId", &application_id)?;
        Ok(uc::request_nulla_osta(db(ctx), &c, now(ctx), id, requested_at.0, reason, destination).await?.into())
    }

    /// The head teacher issues the nulla osta (the pupil leaves the round
    /// for good) or refuses it with a reason.
    async fn decide_nulla_osta(
        &self,
        ctx: &Context<'_>,
        id: ID,
        issue: bool,
        reason: Option<String>,
    ) -> Result<NullaOstaRequest> {
        let c = caller(ctx, ObjectKind::AdmissionDecision, Action::Write)?;
        Ok(uc::decide_nulla_osta(db(ctx), &c, now(ctx), id_arg("id", &id)?, issue, reason).await?.into())
    }

    /// The office invites the head teacher not to accept a non-resident.
    async fn invite_non_acceptance(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        note: String,
    ) -> Result<NonAcceptanceInvitation> {
        caller(ctx, ObjectKind::AdmissionInvitation, Action::Write)?;
        caller(ctx, ObjectKind::AdmissionNonResident, Action::Read)?;
        let id = id_arg("applicationId", &application_id)?;
        Ok(uc::invite_non_acceptance(db(ctx), now(ctx), id, note).await?.into())
    }

    /// The head teacher's decision on the office's invitation, with a reason.
    async fn decide_non_acceptance(
        &self,
        ctx: &Context<'_>,
        id: ID,
        not_accepted: bool,
        reason: String,
    ) -> Result<NonAcceptanceInvitation> {
        let c = caller(ctx, ObjectKind::AdmissionDecision, Action::Write)?;
        caller(ctx, ObjectKind::AdmissionInvitation, Action::Write)?;
        let decided =
            uc::decide_non_acceptance(db(ctx), &c, now(ctx), id_arg("id", &id)?, not_accepted, reason).await?;
        Ok(decided.into())
    }
}
