//! Process 4 after a run, in GraphQL (issue 21): the office's overrides,
//! complaints and their deadline, and the renunciation of a post.
//! Resolvers check arguments and call `crate::usecases::mobility`.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::allocation::MobilityPhase;
use super::{ChairKind, MobilityCampaign, PostType};
use crate::authz::{Action, ObjectKind};
use crate::db::mobility::{ComplaintRow, OverrideRow, RenunciationRow};
use crate::graphql::registry::id_arg;
use crate::graphql::scalars::Date;
use crate::graphql::{authorize, caller, db, subject};
use crate::usecases::clock::Clock;
use crate::usecases::mobility::{self as uc, OverrideEntry};

/// A manual assignment: the office puts a form on a line of free posts,
/// with a reason that the certificates it affects show.
#[derive(SimpleObject)]
pub struct MobilityOverride {
    pub id: ID,
    pub application_id: ID,
    pub phase: MobilityPhase,
    pub school_code: String,
    pub post_type: PostType,
    pub class_of_competition: Option<String>,
    pub chair_kind: ChairKind,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawal_reason: Option<String>,
}

impl From<OverrideRow> for MobilityOverride {
    fn from(r: OverrideRow) -> MobilityOverride {
        MobilityOverride {
            id: ID(r.id.to_string()),
            application_id: ID(r.application_id.to_string()),
            phase: uc::phase_of(&r.phase).into(),
            school_code: r.school_code,
            post_type: uc::post_type_of(&r.post_type).into(),
            class_of_competition: (!r.class_code.is_empty()).then_some(r.class_code),
            chair_kind: uc::chair_of(&r.chair_kind).into(),
            reason: r.reason,
            created_at: r.created_at,
            withdrawn_at: r.withdrawn_at,
            withdrawal_reason: r.withdrawal_reason,
        }
    }
}

/// A complaint (*reclamo*) about a published outcome, as the office
/// recorded it, and its decision.
#[derive(SimpleObject)]
pub struct MobilityComplaint {
    pub id: ID,
    pub application_id: ID,
    /// The approved run whose outcome it is about.
    pub run_id: ID,
    pub received_on: Date,
    pub summary: String,
    /// `PENDING`, `UPHELD` or `REJECTED`.
    pub state: String,
    pub decision_reason: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

impl From<ComplaintRow> for MobilityComplaint {
    fn from(r: ComplaintRow) -> MobilityComplaint {
        MobilityComplaint {
            id: ID(r.id.to_string()),
            application_id: ID(r.application_id.to_string()),
            run_id: ID(r.run_id.to_string()),
            received_on: Date(r.received_on),
            summary: r.summary,
            state: r.state.to_ascii_uppercase(),
            decision_reason: r.decision_reason,
            recorded_at: r.recorded_at,
            decided_at: r.decided_at,
        }
    }
}

/// The explicit renunciation of a published post.
#[derive(SimpleObject)]
pub struct Renunciation {
    pub application_id: ID,
    pub run_id: ID,
    pub renounced_at: DateTime<Utc>,
}

impl From<RenunciationRow> for Renunciation {
    fn from(r: RenunciationRow) -> Renunciation {
        Renunciation {
            application_id: ID(r.application_id.to_string()),
            run_id: ID(r.run_id.to_string()),
            renounced_at: r.renounced_at,
        }
    }
}

/// The complaints about an application the caller may see (none where the
/// policies give no allocation scope).
pub async fn complaints(ctx: &Context<'_>, application: i64) -> Result<Vec<MobilityComplaint>> {
    if authorize(ctx, ObjectKind::MobilityAllocation, Action::Read).is_err() {
        return Ok(vec![]);
    }
    Ok(uc::complaints(db(ctx), application).await?.into_iter().map(Into::into).collect())
}

/// The renunciation of an application, if any and the caller may see it.
pub async fn renunciation(ctx: &Context<'_>, application: i64) -> Result<Option<Renunciation>> {
    if authorize(ctx, ObjectKind::MobilityAllocation, Action::Read).is_err() {
        return Ok(None);
    }
    Ok(uc::renunciation(db(ctx), application).await?.map(Into::into))
}

#[derive(InputObject)]
pub struct MobilityOverrideInput {
    pub campaign_year: i32,
    pub phase: MobilityPhase,
    pub application_id: ID,
    /// The school or site of the line, as the vacancies name it.
    pub school: String,
    pub post_type: PostType,
    pub class_of_competition: Option<String>,
    pub chair_kind: ChairKind,
    /// Shown on the certificates of everyone who ranked that line higher:
    /// say why, without health or family details.
    pub reason: String,
}

#[derive(Default)]
pub struct CorrectionsQuery;

#[Object]
impl CorrectionsQuery {
    /// The standing overrides of a phase of the office's province.
    async fn mobility_overrides(
        &self,
        ctx: &Context<'_>,
        campaign_year: i32,
        phase: MobilityPhase,
    ) -> Result<Vec<MobilityOverride>> {
        let c = caller(ctx, ObjectKind::MobilityAllocation, Action::Read)?;
        Ok(uc::overrides(db(ctx), &c, campaign_year, phase.into()).await?.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct CorrectionsMutation;

#[Object]
impl CorrectionsMutation {
    /// Assigns a form by hand, with a reason. It counts from the next run
    /// of the phase, which places it before sharing out the other seats.
    async fn set_mobility_override(&self, ctx: &Context<'_>, input: MobilityOverrideInput) -> Result<MobilityOverride> {
        let c = caller(ctx, ObjectKind::MobilityAllocation, Action::Write)?;
        let user = subject(ctx)?.user_id;
        let entry = OverrideEntry {
            year: input.campaign_year,
            phase: input.phase.into(),
            application: id_arg("applicationId", &input.application_id)?,
            school: input.school,
            post_type: input.post_type.into(),
            class: input.class_of_competition,
            chair: input.chair_kind.into(),
            reason: input.reason,
        };
        let now = ctx.data_unchecked::<Clock>().now();
        Ok(uc::set_override(db(ctx), &c, user, entry, now).await?.into())
    }

    /// Withdraws an override, with a reason; the next run shares its seat.
    async fn withdraw_mobility_override(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<MobilityOverride> {
        let c = caller(ctx, ObjectKind::MobilityAllocation, Action::Write)?;
        let user = subject(ctx)?.user_id;
        let now = ctx.data_unchecked::<Clock>().now();
        Ok(uc::withdraw_override(db(ctx), &c, user, id_arg("id", &id)?, reason, now).await?.into())
    }

    /// How many days after an outcome's publication a complaint about it
    /// is received (the seed sets no number: until set, none is).
    async fn set_mobility_complaint_days(
        &self,
        ctx: &Context<'_>,
        campaign_year: i32,
        days: i32,
    ) -> Result<MobilityCampaign> {
        let c = caller(ctx, ObjectKind::MobilityReference, Action::Write)?;
        Ok(MobilityCampaign(uc::set_complaint_days(db(ctx), &c, campaign_year, days).await?))
    }

    /// Records a complaint about an application's published outcome,
    /// received on `receivedOn`, within the campaign's deadline.
    async fn record_mobility_complaint(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        received_on: Date,
        summary: String,
    ) -> Result<MobilityComplaint> {
        let c = caller(ctx, ObjectKind::MobilityAllocation, Action::Write)?;
        let user = subject(ctx)?.user_id;
        let id = id_arg("applicationId", &application_id)?;
        let now = ctx.data_unchecked::<Clock>().now();
        Ok(uc::record_complaint(db(ctx), &c, user, id, received_on.0, summary, now).await?.into())
    }

    /// Decides a pending complaint with a reason. An upheld complaint is put
    /// right by correcting the form (or an override) and running the phase
    /// again; the re-run says why each form moved.
    async fn decide_mobility_complaint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        upheld: bool,
        reason: String,
    ) -> Result<MobilityComplaint> {
        let c = caller(ctx, ObjectKind::MobilityAllocation, Action::Write)?;
        let user = subject(ctx)?.user_id;
        let now = ctx.data_unchecked::<Clock>().now();
        Ok(uc::decide_complaint(db(ctx), &c, user, id_arg("id", &id)?, upheld, reason, now).await?.into())
    }

    /// Renounces the post a published outcome gave: by the teacher, or by
    /// the office for a written renunciation. Never implied by silence; the
    /// next run of the phase shares the seat.
    async fn renounce_mobility_post(&self, ctx: &Context<'_>, application_id: ID) -> Result<Renunciation> {
        let c = caller(ctx, ObjectKind::MobilityAllocation, Action::Write)?;
        let user = subject(ctx)?.user_id;
        let id = id_arg("applicationId", &application_id)?;
        let now = ctx.data_unchecked::<Clock>().now();
        Ok(uc::renounce(db(ctx), &c, user, id, now).await?.into())
    }
}
