//! Process 4's allocation in GraphQL (issue 21): the office runs a phase
//! and approves it; an application shows its outcome and certificate; the
//! cutoffs are published. Resolvers check arguments and call
//! `crate::usecases::mobility`.

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::applications::{PrecedenceCode, PreferenceOut};
use super::{ChairKind, PostType};
use crate::authz::{Action, ObjectKind};
use crate::db::mobility::{ApplicationRow, CutoffRow, ResultRow, RunRow};
use crate::graphql::loaders::{InstitutionKey, SiteKey};
use crate::graphql::registry::id_arg;
use crate::graphql::territory::{School, Site};
use crate::graphql::{authorize, caller, db, loader, subject};
use crate::mail::Mailer;
use crate::rules::mobility::phase::Phase;
use crate::usecases::clock::Clock;
use crate::usecases::mobility::{self as uc};

/// SEQ-1: the phases the office runs, in their legal order.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MobilityPhase {
    /// Utilisations and provisional assignments within the province.
    UtApIntra,
    /// Interprovincial provisional assignments, after the appointments.
    ApInter,
}

impl From<MobilityPhase> for Phase {
    fn from(p: MobilityPhase) -> Phase {
        match p {
            MobilityPhase::UtApIntra => Phase::UtApIntra,
            MobilityPhase::ApInter => Phase::ApInter,
        }
    }
}

impl From<Phase> for MobilityPhase {
    fn from(p: Phase) -> MobilityPhase {
        match p {
            Phase::UtApIntra => MobilityPhase::UtApIntra,
            Phase::ApInter => MobilityPhase::ApInter,
        }
    }
}

/// A run of a phase: a proposal until the office approves it.
pub struct MobilityRun(pub RunRow);

#[Object]
impl MobilityRun {
    async fn run_id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn phase(&self) -> MobilityPhase {
        uc::phase_of(&self.0.phase).into()
    }
    /// `PROPOSAL`, `APPROVED` or `SUPERSEDED`.
    async fn state(&self) -> String {
        self.0.state.to_ascii_uppercase()
    }
    async fn assigned_count(&self) -> i32 {
        self.0.assigned_count
    }
    /// SHA-256 of the engine's whole input; `ambito mobility verify`
    /// recomputes the run from it.
    async fn input_hash(&self) -> &str {
        &self.0.input_hash
    }
    async fn outcome_hash(&self) -> &str {
        &self.0.outcome_hash
    }
    /// A re-run after approval: the approved run it revises.
    async fn revises(&self) -> Option<ID> {
        self.0.revises.map(|r| ID(r.to_string()))
    }
    /// A re-run: every application whose outcome changed.
    async fn moves(&self) -> Vec<RunMove> {
        self.0
            .diff
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| RunMove {
                        application_id: ID(m["application"].as_i64().unwrap_or_default().to_string()),
                        before: m["before"].get("state").map(|s| summary(&m["before"], s)),
                        after: summary(&m["after"], &m["after"]["state"]),
                        why: m["why"]
                            .as_array()
                            .map(|w| w.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn approved_at(&self) -> Option<DateTime<Utc>> {
        self.0.approved_at
    }
}

fn summary(v: &serde_json::Value, state: &serde_json::Value) -> String {
    match v["school"].as_str() {
        Some(s) => format!(
            "{} {} {} {}{}",
            state.as_str().unwrap_or_default().to_ascii_uppercase(),
            s,
            v["postType"].as_str().unwrap_or_default(),
            v["classOfCompetition"].as_str().unwrap_or_default(),
            v["position"].as_i64().map(|p| format!(" (preference {p})")).unwrap_or_default()
        ),
        None => state.as_str().unwrap_or_default().to_ascii_uppercase(),
    }
}

/// One application whose outcome a re-run changed.
#[derive(SimpleObject)]
pub struct RunMove {
    pub application_id: ID,
    /// Null: it was not in the approved run.
    pub before: Option<String>,
    pub after: String,
    /// Why, in words: what changed in the form's own claim, in the free
    /// posts of its preferences, or by the office's hand.
    pub why: Vec<String>,
}

/// An application's outcome in the newest run the caller may see.
pub struct Outcome(pub ResultRow, pub Phase);

#[Object]
impl Outcome {
    /// `ASSIGNED`, `MANUAL` (by the office's override), `NOT_ASSIGNED`,
    /// `INADMISSIBLE` (no effective preference) or `RENOUNCED` (left out
    /// of a re-run after the teacher renounced).
    async fn state(&self) -> String {
        self.0.state.to_ascii_uppercase()
    }
    /// The renunciation of this post, once the teacher (or the office for
    /// a written one) made it.
    async fn renunciation(&self, ctx: &Context<'_>) -> Result<Option<super::corrections::Renunciation>> {
        super::corrections::renunciation(ctx, self.0.application_id).await
    }
    /// The school institution of the post (the site's, for a site).
    async fn school(&self, ctx: &Context<'_>) -> Result<Option<School>> {
        let Some(code) = &self.0.school_code else { return Ok(None) };
        if let Some(row) = loader(ctx).load_one(InstitutionKey(code.clone())).await? {
            return Ok(Some(School(row)));
        }
        let Some(site) = loader(ctx).load_one(SiteKey(code.clone())).await? else { return Ok(None) };
        Ok(loader(ctx).load_one(InstitutionKey(site.institution_code.clone())).await?.map(School))
    }
    /// The site of the post, when its code is a site's.
    async fn site(&self, ctx: &Context<'_>) -> Result<Option<Site>> {
        let Some(code) = &self.0.school_code else { return Ok(None) };
        Ok(loader(ctx).load_one(SiteKey(code.clone())).await?.map(Site::from))
    }
    /// The code of the post's school or site, as the vacancies name it.
    async fn school_code(&self) -> Option<&str> {
        self.0.school_code.as_deref()
    }
    async fn post_type(&self) -> Option<PostType> {
        self.0.post_type.as_deref().map(|p| uc::post_type_of(p).into())
    }
    async fn class_of_competition(&self) -> Option<&str> {
        self.0.class_code.as_deref()
    }
    async fn chair_kind(&self) -> Option<ChairKind> {
        self.0.chair_kind.as_deref().map(|c| uc::chair_of(c).into())
    }
    /// POST-8: the weekly hours of a post of part-posts (null: a whole post).
    async fn hours(&self) -> Option<i32> {
        self.0.hours
    }
    /// POST-8: the hours of the part-posts it is made of, largest first
    /// (empty: a whole post or a single part-post).
    async fn parts(&self) -> Vec<i32> {
        self.0.parts.clone().unwrap_or_default()
    }
    /// The preference it came from.
    async fn preference_position(&self) -> Option<i32> {
        self.0.position
    }
    async fn phase(&self) -> Option<MobilityPhase> {
        matches!(self.0.state.as_str(), "assigned" | "manual").then_some(self.1.into())
    }
}

/// Who took the last post of the relevant type at a preference, by
/// pseudonymous code (the protocol number).
#[derive(SimpleObject)]
pub struct LastAdmitted {
    pub code: String,
    pub precedence: Option<PrecedenceCode>,
    pub score: f64,
    /// SEQ-4/5: `UT` (utilisations go first), `AP_OWN` (own order and
    /// class), `AP_OTHER`.
    pub group: String,
    /// The return to the previous school (UT-E1) counted for them there.
    pub section_e: bool,
}

/// For one preference above the post obtained (every preference, if none
/// was): the evidence that nobody with a weaker claim took a post there.
#[derive(SimpleObject)]
pub struct CertificateEntry {
    pub preference: PreferenceOut,
    /// Null: that preference had no post of the teacher's type.
    pub last_admitted: Option<LastAdmitted>,
    /// Posts there that the office assigned by hand, and why.
    pub overrides: Vec<CertificateOverride>,
}

/// An override that took a seat a preference reaches.
#[derive(SimpleObject)]
pub struct CertificateOverride {
    /// The protocol number of the form placed there.
    pub code: String,
    pub reason: String,
}

fn group_name(g: u8) -> String {
    match g {
        0 => "UT",
        1 => "AP_OWN",
        _ => "AP_OTHER",
    }
    .into()
}

/// The newest outcome of an application the caller may see: none where the
/// policies give no allocation scope.
async fn result_of(ctx: &Context<'_>, row: &ApplicationRow) -> Result<Option<(ResultRow, Phase)>> {
    if authorize(ctx, ObjectKind::MobilityAllocation, Action::Read).is_err() {
        return Ok(None);
    }
    let phase = uc::phase_of_form(row);
    Ok(uc::outcome(db(ctx), row.id).await?.map(|r| (r, phase)))
}

pub async fn outcome(ctx: &Context<'_>, row: &ApplicationRow) -> Result<Option<Outcome>> {
    Ok(result_of(ctx, row).await?.map(|(r, p)| Outcome(r, p)))
}

pub async fn certificate(
    ctx: &Context<'_>,
    row: &ApplicationRow,
    preferences: Vec<PreferenceOut>,
) -> Result<Vec<CertificateEntry>> {
    let Some((r, _)) = result_of(ctx, row).await? else { return Ok(vec![]) };
    let mut by_position: std::collections::BTreeMap<i32, PreferenceOut> =
        preferences.into_iter().map(|p| (p.position, p)).collect();
    Ok(uc::certificate_of(&r)
        .into_iter()
        .filter_map(|e| {
            Some(CertificateEntry {
                preference: by_position.remove(&(e.position as i32))?,
                last_admitted: e.last_admitted.map(|l| LastAdmitted {
                    code: l.code,
                    precedence: l.precedence.map(Into::into),
                    score: l.score,
                    group: group_name(l.group),
                    section_e: l.section_e,
                }),
                overrides: e
                    .overrides
                    .into_iter()
                    .map(|o| CertificateOverride { code: o.code, reason: o.reason })
                    .collect(),
            })
        })
        .collect())
}

/// A published cutoff: per preference code and post type, the weakest
/// claim assigned through it. Fewer than 3 assigned: `suppressed`, with no
/// score or precedence.
#[derive(SimpleObject)]
pub struct MobilityCutoff {
    pub code: String,
    pub post_type: PostType,
    pub phase: MobilityPhase,
    pub last_score: Option<f64>,
    pub precedence: Option<PrecedenceCode>,
    pub suppressed: bool,
}

impl From<CutoffRow> for MobilityCutoff {
    fn from(r: CutoffRow) -> MobilityCutoff {
        MobilityCutoff {
            post_type: uc::post_type_of(&r.post_type).into(),
            phase: uc::phase_of(&r.phase).into(),
            last_score: r.last_score,
            precedence: r.precedence.as_deref().and_then(uc::precedence_of).map(Into::into),
            suppressed: r.suppressed,
            code: r.code,
        }
    }
}

#[derive(Default)]
pub struct AllocationQuery;

#[Object]
impl AllocationQuery {
    /// The published cutoffs of a province's approved runs: public to every
    /// signed-in caller, as France publishes its own per area.
    async fn mobility_cutoffs(
        &self,
        ctx: &Context<'_>,
        campaign_year: i32,
        province: String,
    ) -> Result<Vec<MobilityCutoff>> {
        subject(ctx)?;
        let rows = uc::cutoffs(db(ctx), campaign_year, province.trim().to_ascii_uppercase()).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct AllocationMutation;

#[Object]
impl AllocationMutation {
    /// Runs a phase of the office's province (SEQ-1..9). The result is a
    /// proposal only the office sees; running it again before approval
    /// replaces it; after approval it is a re-run listing who moved. The
    /// global checker refuses a result with justified envy or an
    /// over-filled post, and then nothing is stored.
    async fn run_mobility_phase(
        &self,
        ctx: &Context<'_>,
        campaign_year: i32,
        province: String,
        phase: MobilityPhase,
    ) -> Result<MobilityRun> {
        let c = caller(ctx, ObjectKind::MobilityAllocation, Action::Write)?;
        let user = subject(ctx)?.user_id;
        let province = province.trim().to_ascii_uppercase();
        let now = ctx.data_unchecked::<Clock>().now();
        Ok(MobilityRun(uc::run_phase(db(ctx), &c, user, campaign_year, &province, phase.into(), now).await?))
    }

    /// Approves a proposal: publishes it to the teachers, publishes the
    /// phase's cutoffs and closes the phase, so the next one can run.
    async fn approve_mobility_run(&self, ctx: &Context<'_>, run_id: ID) -> Result<MobilityRun> {
        let c = caller(ctx, ObjectKind::MobilityAllocation, Action::Write)?;
        let user = subject(ctx)?.user_id;
        let id = id_arg("runId", &run_id)?;
        let now = ctx.data_unchecked::<Clock>().now();
        let mailer = ctx.data_opt::<Mailer>();
        Ok(MobilityRun(uc::approve_run(db(ctx), &c, mailer, user, id, now).await?))
    }
}
