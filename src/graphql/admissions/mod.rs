//! Process 3 in GraphQL: points tables, admission rounds, the street list,
//! applications, and the round's ranking as the engine computes it.
//! Resolvers check arguments and call `crate::usecases::admissions`.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::attachments::Attachment;
use super::loaders::{DocumentsOf, SiteKey};
use super::registry::{id_arg, year_arg, year_of};
use super::scalars::{Date, Instant};
use super::territory::Site;
use super::{caller, db, loader};
use crate::authz::{Action, ObjectKind};
use crate::db::admissions::PointsTableRow;
use crate::error::AppError;
use crate::rules::admissions::points::{CriterionKind, Evidence, Points};
use crate::rules::admissions::round::State;
use crate::rules::admissions::stradario::Parity;
use crate::rules::admissions::{Tier, Via, WaitingGroup};
use crate::usecases::admissions::{self as uc, RoundView};
use crate::usecases::clock::Clock;

mod after_publication;
pub use after_publication::{AfterPublicationMutation, AfterPublicationQuery};

fn now(ctx: &Context<'_>) -> DateTime<Utc> {
    ctx.data_unchecked::<Clock>().now()
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AdmissionOrder {
    Infanzia,
    Primaria,
    SecondariaPrimoGrado,
}

impl AdmissionOrder {
    fn stored(self) -> &'static str {
        match self {
            AdmissionOrder::Infanzia => "infanzia",
            AdmissionOrder::Primaria => "primaria",
            AdmissionOrder::SecondariaPrimoGrado => "secondaria_primo_grado",
        }
    }

    fn of(stored: &str) -> AdmissionOrder {
        match stored {
            "infanzia" => AdmissionOrder::Infanzia,
            "primaria" => AdmissionOrder::Primaria,
            _ => AdmissionOrder::SecondariaPrimoGrado,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "CriterionKind")]
pub enum CriterionKindGql {
    Flag,
    Count,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "CriterionEvidence")]
pub enum EvidenceGql {
    SelfDeclaration,
    Document,
}

#[derive(InputObject)]
pub struct PointsCriterionInput {
    code: String,
    label: String,
    kind: CriterionKindGql,
    /// FLAG: the points (two decimals at most).
    #[graphql(default)]
    points: f64,
    /// COUNT: the points per unit.
    per_unit: Option<f64>,
    /// COUNT: the most units that count.
    max_units: Option<u32>,
    evidence: EvidenceGql,
    #[graphql(default)]
    health_related: bool,
}

impl From<PointsCriterionInput> for uc::CriterionInput {
    fn from(c: PointsCriterionInput) -> Self {
        uc::CriterionInput {
            code: c.code,
            label: c.label,
            kind: match c.kind {
                CriterionKindGql::Flag => CriterionKind::Flag,
                CriterionKindGql::Count => CriterionKind::Count,
            },
            points: c.points,
            per_unit: c.per_unit,
            max_units: c.max_units,
            evidence: match c.evidence {
                EvidenceGql::SelfDeclaration => Evidence::SelfDeclaration,
                EvidenceGql::Document => Evidence::Document,
            },
            health_related: c.health_related,
        }
    }
}

#[derive(InputObject)]
pub struct PointsTableInput {
    institution: String,
    order: AdmissionOrder,
    criteria: Vec<PointsCriterionInput>,
}

/// A line of a points table.
#[derive(SimpleObject)]
pub struct PointsCriterion {
    code: String,
    label: String,
    kind: CriterionKindGql,
    /// FLAG: the points; COUNT: the points per unit.
    points: f64,
    max_units: u32,
    evidence: EvidenceGql,
    health_related: bool,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum PointsTableStatus {
    Draft,
    Approved,
}

/// A version of an institution's points table for an order.
pub struct PointsTable(PointsTableRow);

#[Object]
impl PointsTable {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn institution(&self) -> &str {
        &self.0.institution_code
    }
    async fn order(&self) -> AdmissionOrder {
        AdmissionOrder::of(&self.0.school_order)
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn status(&self) -> PointsTableStatus {
        if self.0.status == "approved" { PointsTableStatus::Approved } else { PointsTableStatus::Draft }
    }
    async fn council_date(&self) -> Option<Date> {
        self.0.council_date.map(Date)
    }
    async fn resolution_number(&self) -> Option<&str> {
        self.0.resolution_number.as_deref()
    }
    async fn criteria(&self) -> Vec<PointsCriterion> {
        uc::table_criteria(&self.0)
            .into_iter()
            .map(|c| PointsCriterion {
                code: c.code,
                label: c.label,
                kind: match c.kind {
                    CriterionKind::Flag => CriterionKindGql::Flag,
                    CriterionKind::Count => CriterionKindGql::Count,
                },
                points: c.points.as_f64(),
                max_units: c.max_units,
                evidence: match c.evidence {
                    Evidence::SelfDeclaration => EvidenceGql::SelfDeclaration,
                    Evidence::Document => EvidenceGql::Document,
                },
                health_related: c.health_related,
            })
            .collect()
    }
}

#[derive(InputObject)]
pub struct RoundSiteInput {
    site: String,
    places: u32,
}

#[derive(InputObject)]
pub struct TimeModelCapInput {
    site: String,
    model: String,
    max: u32,
}

#[derive(InputObject)]
pub struct TimeModelInput {
    code: String,
    hours: u32,
}

#[derive(InputObject)]
pub struct AdmissionRoundInput {
    institution: String,
    order: AdmissionOrder,
    /// "2026/27".
    school_year: String,
    window_opens_at: Instant,
    window_closes_at: Instant,
    mandatory_born_by: Date,
    early_born_by: Date,
    /// ISTAT codes counting as resident; default the institution's municipality.
    resident_municipalities: Option<Vec<String>>,
    /// In the round's site order, which redistribution follows.
    sites: Vec<RoundSiteInput>,
    #[graphql(default)]
    time_model_caps: Vec<TimeModelCapInput>,
    points_table_id: ID,
    /// In the configured order.
    time_models: Vec<TimeModelInput>,
    default_time_model: String,
    /// Default: 15 in primaria, 18 otherwise (RT preamble).
    min_pupils_per_time_model: Option<u32>,
    #[graphql(default = true)]
    redistribute_beyond_preferences: bool,
    /// Default: the window's close + 30 days (RG 6).
    provisional_due_on: Option<Date>,
    final_due_on: Date,
    waiting_list_closes_at: Instant,
    enrolment_documents_due_on: Option<Date>,
    /// SHA-256 (lowercase hex) of the draw seed, published as a commitment.
    draw_seed_hash: Option<String>,
}

impl AdmissionRoundInput {
    fn into_uc(self) -> Result<uc::RoundInput, AppError> {
        Ok(uc::RoundInput {
            institution: self.institution.trim().to_ascii_uppercase(),
            order: self.order.stored().to_owned(),
            school_year: year_arg("input.schoolYear", &self.school_year)?.stored(),
            window_opens_at: self.window_opens_at.0,
            window_closes_at: self.window_closes_at.0,
            mandatory_born_by: self.mandatory_born_by.0,
            early_born_by: self.early_born_by.0,
            resident_municipalities: self.resident_municipalities,
            sites: self.sites.into_iter().map(|s| (s.site.trim().to_ascii_uppercase(), s.places)).collect(),
            caps: self
                .time_model_caps
                .into_iter()
                .map(|c| (c.site.trim().to_ascii_uppercase(), c.model, c.max))
                .collect(),
            points_table_id: id_arg("input.pointsTableId", &self.points_table_id)?,
            time_models: self
                .time_models
                .into_iter()
                .map(|m| uc::TimeModelInput { code: m.code, hours: m.hours })
                .collect(),
            default_time_model: self.default_time_model,
            min_pupils_per_time_model: self.min_pupils_per_time_model,
            redistribute_beyond_preferences: self.redistribute_beyond_preferences,
            provisional_due_on: self.provisional_due_on.map(|d| d.0),
            final_due_on: self.final_due_on.0,
            waiting_list_closes_at: self.waiting_list_closes_at.0,
            enrolment_documents_due_on: self.enrolment_documents_due_on.map(|d| d.0),
            draw_seed_hash: self.draw_seed_hash,
        })
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "StreetParity")]
pub enum ParityGql {
    All,
    Odd,
    Even,
}

#[derive(InputObject)]
pub struct StradarioEntryInput {
    street: String,
    from: Option<u32>,
    to: Option<u32>,
    #[graphql(default_with = "ParityGql::All")]
    parity: ParityGql,
    site: String,
}

#[derive(InputObject)]
pub struct ChildInput {
    first_name: String,
    last_name: String,
    tax_code: String,
    birth_date: Date,
    /// F or M.
    sex: String,
}

#[derive(InputObject)]
pub struct ResidenceInput {
    /// ISTAT code.
    municipality: String,
    street: Option<String>,
    house_number: Option<String>,
}

#[derive(InputObject)]
pub struct DisabilityInput {
    #[graphql(default)]
    declared: bool,
    certified_on: Option<Date>,
}

#[derive(InputObject)]
pub struct ClaimInput {
    criterion: String,
    #[graphql(default = 1)]
    quantity: u32,
}

#[derive(InputObject)]
pub struct ApplicationInput {
    round_id: ID,
    /// The portal's application number, or the protocol of a late paper one.
    external_ref: String,
    submitted_at: Instant,
    child: ChildInput,
    residence: ResidenceInput,
    /// Site codes, first the requested one.
    site_preferences: Vec<String>,
    time_model_preferences: Vec<String>,
    disability: Option<DisabilityInput>,
    #[graphql(default)]
    claims: Vec<ClaimInput>,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AdmissionTier")]
pub enum TierGql {
    T1Disability,
    T2Catchment,
    T3Municipality,
    T4Other,
}

impl From<Tier> for TierGql {
    fn from(t: Tier) -> Self {
        match t {
            Tier::T1Disability => TierGql::T1Disability,
            Tier::T2Catchment => TierGql::T2Catchment,
            Tier::T3Municipality => TierGql::T3Municipality,
            Tier::T4Other => TierGql::T4Other,
        }
    }
}

/// An application just registered, with what the engine derives now.
#[derive(SimpleObject)]
pub struct RegisteredApplication {
    id: ID,
    public_code: String,
    points: f64,
    tier: TierGql,
    late: bool,
    early: bool,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum RoundState {
    Draft,
    Open,
    Closed,
    Provisional,
    Final,
    Ended,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RankingStage {
    Provisional,
    Final,
    /// The engine over the round's data as they stand now.
    Current,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum OutcomeKind {
    Admitted,
    Waiting,
    Removed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "AdmissionVia")]
pub enum ViaGql {
    Ranking,
    Redistribution,
    WaitingList,
}

/// Where an application stands.
#[derive(SimpleObject)]
pub struct AdmissionOutcome {
    kind: OutcomeKind,
    site: Option<String>,
    time_model: Option<String>,
    /// Which of the family's preferences; null: assigned d'ufficio.
    time_model_preference_rank: Option<u32>,
    via: Option<ViaGql>,
}

/// An application, in the round's current outcome.
pub struct AdmissionApplication {
    view: Arc<RoundView>,
    id: i64,
}

impl AdmissionApplication {
    fn row(&self) -> &crate::db::admissions::ApplicationRow {
        &self.view.applications[&self.id]
    }
}

#[Object]
impl AdmissionApplication {
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }
    async fn external_ref(&self) -> &str {
        &self.row().external_ref
    }
    async fn public_code(&self) -> &str {
        &self.row().public_code
    }
    async fn points(&self) -> f64 {
        self.view.points[&self.id].as_f64()
    }
    /// The tier at the requested site.
    async fn tier(&self) -> TierGql {
        self.view.tier(self.id).into()
    }
    async fn late(&self) -> bool {
        self.row().submitted_at > self.view.round.window_closes_at
    }
    async fn early(&self) -> bool {
        self.row().birth_date > self.view.round.mandatory_born_by
    }
    async fn outcome(&self) -> AdmissionOutcome {
        outcome_of(&self.view, self.id)
    }
    async fn waiting_position(&self) -> Option<u32> {
        self.view.outcome.waiting.iter().find(|w| w.id == self.id).map(|w| w.position)
    }
    /// Why the application stands where it stands, step by step.
    async fn explanation(&self) -> Option<AdmissionExplanation> {
        self.view.explanation(self.id).map(AdmissionExplanation::from)
    }
    /// The declared disability and its certification: health data (spec
    /// §7.1), for the school alone; every read is in the audit trail.
    async fn disability(&self, ctx: &Context<'_>) -> ApplicationDisability {
        let r = self.row();
        db(ctx).note_event(crate::db::audit::Event {
            action: "read",
            object_kind: "admission_application",
            object_id: Some(r.id.to_string()),
            province: Some(r.province_code.clone()),
            institution: Some(r.institution_code.clone()),
            fields: vec!["disability".into()],
            ..Default::default()
        });
        ApplicationDisability {
            declared: r.disability_declared,
            certified_on: r.disability_certified_on.map(Date),
            certification_attachment_id: r.certification_attachment.map(|d| ID(d.to_string())),
            verified: r.disability_verified,
        }
    }
    /// For a pupil placed by the final ranking or the waiting list: the
    /// enrolment documents received and missing (R-DOC-1); else null.
    async fn enrolment_documents(&self, ctx: &Context<'_>) -> Option<EnrolmentChecklist> {
        EnrolmentChecklist::of(&self.view, self.id, now(ctx))
    }
    /// The application's documents (kind ADMISSION_DOCUMENT): the
    /// certification, a complaint's papers. Add one with `createUpload`.
    async fn documents(&self, ctx: &Context<'_>) -> Result<Vec<Attachment>> {
        let rows = loader(ctx).load_one(DocumentsOf::Admission(self.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(|r| Attachment::shown(ctx, r)).collect())
    }
}

/// A document of the enrolment checklist (R-DOC-1).
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum EnrolmentItem {
    /// Two passport photos.
    Photos,
    /// The vaccination booklet (only its arrival is recorded).
    VaccinationBooklet,
}

/// An admitted pupil's enrolment documents (R-DOC-1): what arrived when,
/// what is missing, and whether the due date has passed. Nothing follows
/// from a missing item but this list.
#[derive(SimpleObject)]
pub struct EnrolmentChecklist {
    photos_received_on: Option<Date>,
    vaccination_booklet_received_on: Option<Date>,
    missing: Vec<EnrolmentItem>,
    overdue: bool,
    due_on: Option<Date>,
}

impl EnrolmentChecklist {
    /// The checklist of a placed pupil, as of `now`; None for anyone else.
    fn of(view: &RoundView, id: i64, now: DateTime<Utc>) -> Option<EnrolmentChecklist> {
        use crate::rules::admissions::documents::{Item, checklist};
        if view.round.approved_at.is_none() || !view.outcome.admitted.contains_key(&id) {
            return None;
        }
        let a = &view.applications[&id];
        let (photos, booklet) = (a.photos_received_on, a.vaccination_booklet_received_on);
        let due = view.round.enrolment_documents_due_on;
        let c = checklist(photos, booklet, due, crate::rules::rome::date(now));
        Some(EnrolmentChecklist {
            photos_received_on: photos.map(Date),
            vaccination_booklet_received_on: booklet.map(Date),
            missing: c
                .missing
                .iter()
                .map(|i| match i {
                    Item::Photos => EnrolmentItem::Photos,
                    Item::VaccinationBooklet => EnrolmentItem::VaccinationBooklet,
                })
                .collect(),
            overdue: c.overdue,
            due_on: due.map(Date),
        })
    }
}

/// A declared disability and the certificate it rests on (R-TIER-1).
#[derive(SimpleObject)]
pub struct ApplicationDisability {
    declared: bool,
    certified_on: Option<Date>,
    /// The certificate: one of the application's documents.
    certification_attachment_id: Option<ID>,
    /// Checked by the school: disability precedence.
    verified: bool,
}

#[derive(InputObject)]
pub struct SitePlacesInput {
    site: String,
    places: u32,
}

#[derive(InputObject)]
pub struct CriterionPointsInput {
    code: String,
    /// A FLAG's points, or a COUNT's points per unit.
    points: f64,
}

/// What to try: unnamed sites and criteria keep their values.
#[derive(InputObject)]
pub struct SimulationChanges {
    #[graphql(default)]
    places: Vec<SitePlacesInput>,
    min_pupils: Option<u32>,
    #[graphql(default)]
    criteria_points: Vec<CriterionPointsInput>,
}

/// Where an application would stand.
#[derive(SimpleObject)]
pub struct SimulatedStanding {
    kind: OutcomeKind,
    site: Option<String>,
    time_model: Option<String>,
    waiting_position: Option<u32>,
}

impl From<&crate::rules::admissions::simulate::Standing> for SimulatedStanding {
    fn from(s: &crate::rules::admissions::simulate::Standing) -> Self {
        use crate::rules::admissions::simulate::Standing;
        let (kind, site, time_model, waiting_position) = match s {
            Standing::Admitted { site, time_model } => {
                (OutcomeKind::Admitted, Some(site.clone()), Some(time_model.clone()), None)
            }
            Standing::Waiting { position } => (OutcomeKind::Waiting, None, None, Some(*position)),
            Standing::Out => (OutcomeKind::Removed, None, None, None),
        };
        SimulatedStanding { kind, site, time_model, waiting_position }
    }
}

/// An application whose standing would change.
#[derive(SimpleObject)]
pub struct SimulatedChange {
    application: AdmissionApplication,
    before: SimulatedStanding,
    after: SimulatedStanding,
}

/// The outcome of a what-if, against the current one.
pub struct AdmissionSimulation {
    view: Arc<RoundView>,
    sim: crate::rules::admissions::simulate::Simulation,
}

#[Object]
impl AdmissionSimulation {
    async fn changes(&self) -> Vec<SimulatedChange> {
        self.sim
            .changes
            .iter()
            .map(|c| SimulatedChange {
                application: AdmissionApplication { view: self.view.clone(), id: c.id },
                before: (&c.before).into(),
                after: (&c.after).into(),
            })
            .collect()
    }
    async fn time_model_outcome(&self) -> Vec<TimeModelOutcome> {
        time_models_of(&self.sim.outcome)
    }
    /// Places left per site.
    async fn free_places(&self) -> Vec<SimulatedFreePlaces> {
        self.sim
            .outcome
            .residual
            .iter()
            .map(|(site, free)| SimulatedFreePlaces { site: site.clone(), free: *free })
            .collect()
    }
}

#[derive(SimpleObject)]
pub struct SimulatedFreePlaces {
    site: String,
    free: u32,
}

fn time_models_of(o: &crate::rules::admissions::Outcome) -> Vec<TimeModelOutcome> {
    time_models_of_list(&o.time_models)
}

fn time_models_of_list(list: &[crate::rules::admissions::ModelOutcome]) -> Vec<TimeModelOutcome> {
    list.iter()
        .map(|t| TimeModelOutcome {
            site: t.site.clone(),
            model: t.model.clone(),
            activated: t.activated,
            pupils: t.pupils,
        })
        .collect()
}

/// One reason, with the rule of the regulation it applies.
#[derive(SimpleObject)]
pub struct ExplanationStep {
    rule: &'static str,
    text: String,
}

/// Why an application stands where it stands: the window, the tier and its
/// evidence, each points line with the table version, the tie-break, the
/// site outcome against the cutoffs, the time model and the waiting list.
#[derive(SimpleObject)]
pub struct AdmissionExplanation {
    tier: TierGql,
    steps: Vec<ExplanationStep>,
}

impl From<crate::rules::admissions::explain::Explanation> for AdmissionExplanation {
    fn from(e: crate::rules::admissions::explain::Explanation) -> Self {
        AdmissionExplanation {
            tier: e.tier.into(),
            steps: e.steps.into_iter().map(|s| ExplanationStep { rule: s.rule, text: s.text }).collect(),
        }
    }
}

fn outcome_of(view: &RoundView, id: i64) -> AdmissionOutcome {
    if let Some(a) = view.outcome.admitted.get(&id) {
        return AdmissionOutcome {
            kind: OutcomeKind::Admitted,
            site: Some(a.site.clone()),
            time_model: Some(a.time_model.clone()),
            time_model_preference_rank: a.time_model_preference_rank,
            via: Some(match a.via {
                Via::Ranking => ViaGql::Ranking,
                Via::Redistribution => ViaGql::Redistribution,
                Via::WaitingList => ViaGql::WaitingList,
            }),
        };
    }
    let waiting = view.outcome.waiting.iter().any(|w| w.id == id);
    AdmissionOutcome {
        kind: if waiting { OutcomeKind::Waiting } else { OutcomeKind::Removed },
        site: None,
        time_model: None,
        time_model_preference_rank: None,
        via: None,
    }
}

/// A site of a round.
pub struct AdmissionRoundSite {
    view: Arc<RoundView>,
    index: usize,
}

#[Object]
impl AdmissionRoundSite {
    async fn site(&self, ctx: &Context<'_>) -> Result<Site> {
        let code = self.view.sites[self.index].site_code.clone();
        Ok(Site::from(loader(ctx).load_one(SiteKey(code)).await?.ok_or(AppError::NotFound)?))
    }
    async fn places(&self) -> i32 {
        self.view.sites[self.index].places
    }
    async fn admitted_count(&self) -> u32 {
        let code = &self.view.sites[self.index].site_code;
        self.view.outcome.admitted.values().filter(|a| &a.site == code).count() as u32
    }
    async fn free_places(&self) -> u32 {
        let code = &self.view.sites[self.index].site_code;
        self.view.outcome.residual.iter().find(|(s, _)| s == code).map_or(0, |(_, n)| *n)
    }
}

/// A row of a site's ranking.
pub struct RankingRow {
    view: Arc<RoundView>,
    row: crate::rules::admissions::RankRow,
}

#[Object]
impl RankingRow {
    async fn position(&self) -> u32 {
        self.row.position
    }
    async fn tier(&self) -> TierGql {
        self.row.tier.into()
    }
    /// A (catchment of the site), B (other residents), C (non-residents).
    async fn territorial_group(&self) -> &'static str {
        self.row.territory.group()
    }
    async fn points(&self) -> f64 {
        self.row.points.as_f64()
    }
    /// Ordered by a tie-break (age, then the draw).
    async fn tie(&self) -> bool {
        self.row.tie
    }
    async fn application(&self) -> AdmissionApplication {
        AdmissionApplication { view: self.view.clone(), id: self.row.id }
    }
    async fn outcome(&self) -> AdmissionOutcome {
        outcome_of(&self.view, self.row.id)
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum WaitingGroupGql {
    W1,
    W2,
    W3,
    W4,
}

/// A place on the waiting list.
pub struct WaitingRow {
    view: Arc<RoundView>,
    row: crate::rules::admissions::WaitingRow,
}

#[Object]
impl WaitingRow {
    async fn position(&self) -> u32 {
        self.row.position
    }
    async fn group(&self) -> WaitingGroupGql {
        match self.row.group {
            WaitingGroup::W1 => WaitingGroupGql::W1,
            WaitingGroup::W2 => WaitingGroupGql::W2,
            WaitingGroup::W3 => WaitingGroupGql::W3,
            WaitingGroup::W4 => WaitingGroupGql::W4,
        }
    }
    async fn application(&self) -> AdmissionApplication {
        AdmissionApplication { view: self.view.clone(), id: self.row.id }
    }
}

/// A time model at a site after class formation.
#[derive(SimpleObject)]
pub struct TimeModelOutcome {
    site: String,
    model: String,
    activated: bool,
    pupils: u32,
}

/// The last admitted key at a site.
#[derive(SimpleObject)]
pub struct AdmissionCutoff {
    site: String,
    tier: TierGql,
    territorial_group: String,
    points: f64,
    tie: bool,
}

/// A time model a round offers.
#[derive(SimpleObject)]
pub struct TimeModel {
    code: String,
    hours: u32,
}

/// An admission round with its current outcome.
pub struct AdmissionRound(Arc<RoundView>);

#[Object]
impl AdmissionRound {
    async fn id(&self) -> ID {
        ID(self.0.round.id.to_string())
    }
    async fn institution(&self) -> &str {
        &self.0.round.institution_code
    }
    async fn order(&self) -> AdmissionOrder {
        AdmissionOrder::of(&self.0.round.school_order)
    }
    async fn school_year(&self) -> String {
        year_of(self.0.round.school_year)
    }
    async fn state(&self) -> RoundState {
        match self.0.state {
            State::Draft => RoundState::Draft,
            State::Open => RoundState::Open,
            State::Closed => RoundState::Closed,
            State::Provisional => RoundState::Provisional,
            State::Final => RoundState::Final,
            State::Ended => RoundState::Ended,
        }
    }
    async fn window_opens_at(&self) -> DateTime<Utc> {
        self.0.round.window_opens_at
    }
    async fn window_closes_at(&self) -> DateTime<Utc> {
        self.0.round.window_closes_at
    }
    /// SHA-256 of the draw seed, published when the window opens.
    async fn draw_seed_commitment(&self) -> Option<&str> {
        self.0.commitment.as_deref()
    }
    async fn time_models(&self) -> Vec<TimeModel> {
        self.0
            .round
            .time_models
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| TimeModel {
                code: m["code"].as_str().unwrap_or_default().to_owned(),
                hours: m["hours"].as_u64().unwrap_or_default() as u32,
            })
            .collect()
    }
    async fn default_time_model(&self) -> &str {
        &self.0.round.default_time_model
    }
    async fn min_pupils_per_time_model(&self) -> i32 {
        self.0.round.min_pupils_per_time_model
    }
    async fn provisional_due_on(&self) -> Date {
        Date(self.0.round.provisional_due_on)
    }
    async fn final_due_on(&self) -> Date {
        Date(self.0.round.final_due_on)
    }
    async fn complaint_deadline(&self) -> Option<DateTime<Utc>> {
        self.0.round.complaint_deadline
    }
    async fn posted_until(&self) -> Option<DateTime<Utc>> {
        self.0.round.posted_until
    }
    async fn sites(&self) -> Vec<AdmissionRoundSite> {
        (0..self.0.sites.len()).map(|index| AdmissionRoundSite { view: self.0.clone(), index }).collect()
    }
    /// The ranking of each site, or of one. CURRENT is the engine over the
    /// data as they stand; PROVISIONAL and FINAL are what was published.
    async fn ranking(&self, ctx: &Context<'_>, stage: RankingStage, site: Option<String>) -> Result<Vec<RankingRow>> {
        // A published stage reads its snapshot's outcome over the same applications.
        let view = match stage {
            RankingStage::Current => self.0.clone(),
            RankingStage::Provisional | RankingStage::Final => {
                let name = if stage == RankingStage::Final { "final" } else { "provisional" };
                let outcome = uc::published(db(ctx), self.0.round.id, name).await?.0;
                Arc::new(RoundView { outcome, ..self.0.as_ref().clone() })
            }
        };
        let site = site.map(|s| s.trim().to_ascii_uppercase());
        if let Some(s) = &site
            && !self.0.sites.iter().any(|x| &x.site_code == s)
        {
            return Err(AppError::bad_input("site", "not a site of the round").into());
        }
        Ok(view
            .outcome
            .rankings
            .iter()
            .filter(|r| site.as_ref().is_none_or(|s| &r.site == s))
            .flat_map(|r| r.rows.iter().cloned())
            .map(|row| RankingRow { view: view.clone(), row })
            .collect())
    }
    /// What the albo shows (spec §7.2): published versions only.
    async fn public_version(&self, ctx: &Context<'_>, stage: RankingStage) -> Result<PublicVersionGql> {
        let final_stage = stage == RankingStage::Final;
        let public =
            uc::published(db(ctx), self.0.round.id, if final_stage { "final" } else { "provisional" }).await?.1;
        Ok(PublicVersionGql(public, PublicHeader::of(&self.0.round, final_stage)))
    }
    async fn published_late(&self) -> Option<bool> {
        self.0.published_late
    }
    /// Whether the final ranking came after its due date.
    async fn approved_late(&self) -> Option<bool> {
        self.0.approved_late
    }
    async fn complaints(&self, ctx: &Context<'_>) -> Result<Vec<after_publication::AdmissionComplaint>> {
        after_publication::complaints_of(ctx, self.0.round.id).await
    }
    async fn nulla_osta_requests(&self, ctx: &Context<'_>) -> Result<Vec<after_publication::NullaOstaRequest>> {
        after_publication::nulla_osta_of(ctx, self.0.round.id).await
    }
    async fn non_acceptance_invitations(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<after_publication::NonAcceptanceInvitation>> {
        after_publication::invitations_of(ctx, self.0.round.id).await
    }
    async fn waiting_list(&self) -> Vec<WaitingRow> {
        self.0.outcome.waiting.iter().cloned().map(|row| WaitingRow { view: self.0.clone(), row }).collect()
    }
    async fn time_model_outcome(&self) -> Vec<TimeModelOutcome> {
        time_models_of(&self.0.outcome)
    }
    /// The pupils placed at a site in class-stay precedence (R-TM-6): who
    /// stays when pupils must move between classes. The school forms
    /// sections with it.
    async fn class_stay_order(&self, site: String) -> Vec<AdmissionApplication> {
        let site = site.trim().to_ascii_uppercase();
        let applicants = self.0.applicants();
        crate::rules::admissions::time_models::class_stay_order(
            &self.0.config,
            &applicants,
            &self.0.outcome.admitted,
            &site,
        )
        .into_iter()
        .map(|id| AdmissionApplication { view: self.0.clone(), id })
        .collect()
    }
    /// Placed pupils with enrolment documents still missing (R-DOC-1), in
    /// application order: the school's reminder list.
    async fn missing_enrolment_documents(&self, ctx: &Context<'_>) -> Vec<AdmissionApplication> {
        let now = now(ctx);
        self.0
            .outcome
            .admitted
            .keys()
            .filter(|id| EnrolmentChecklist::of(&self.0, **id, now).is_some_and(|c| !c.missing.is_empty()))
            .map(|id| AdmissionApplication { view: self.0.clone(), id: *id })
            .collect()
    }
    /// Per site, the last admitted key: families compare their own with it.
    async fn cutoffs(&self) -> Vec<AdmissionCutoff> {
        self.0
            .outcome
            .cutoffs
            .iter()
            .map(|c| AdmissionCutoff {
                site: c.site.clone(),
                tier: c.tier.into(),
                territorial_group: c.group.group().into(),
                points: c.points.as_f64(),
                tie: c.tie,
            })
            .collect()
    }
}

/// The public version of a ranking, with the header the albo prints.
pub struct PublicVersionGql(crate::rules::admissions::public::PublicVersion, PublicHeader);

/// What a public list says of itself (spec §7.2).
pub struct PublicHeader {
    institution: String,
    order: AdmissionOrder,
    school_year: String,
    stage: RankingStage,
    /// Until when the list is posted: the complaint deadline, or the end of
    /// the final posting.
    posted_until: Option<DateTime<Utc>>,
}

impl PublicHeader {
    fn of(round: &crate::db::admissions::RoundRow, final_stage: bool) -> PublicHeader {
        PublicHeader {
            institution: round.institution_code.clone(),
            order: AdmissionOrder::of(&round.school_order),
            school_year: year_of(round.school_year),
            stage: if final_stage { RankingStage::Final } else { RankingStage::Provisional },
            posted_until: if final_stage { round.posted_until } else { round.complaint_deadline },
        }
    }
}

#[derive(SimpleObject)]
pub struct PublicRow {
    position: u32,
    public_code: String,
    group: String,
    points: Option<f64>,
    outcome: String,
    site: Option<String>,
    time_model: Option<String>,
    waiting_position: Option<u32>,
    tie: bool,
}

#[derive(SimpleObject)]
pub struct PublicSite {
    site: String,
    places_net: u32,
    rows: Vec<PublicRow>,
}

#[Object(name = "PublicVersion")]
impl PublicVersionGql {
    async fn institution(&self) -> &str {
        &self.1.institution
    }
    async fn order(&self) -> AdmissionOrder {
        self.1.order
    }
    async fn school_year(&self) -> &str {
        &self.1.school_year
    }
    async fn stage(&self) -> RankingStage {
        self.1.stage
    }
    async fn posted_until(&self) -> Option<DateTime<Utc>> {
        self.1.posted_until
    }
    /// The note the header carries instead of counts per reason.
    async fn places_note(&self) -> &'static str {
        "posti al netto delle precedenze previste dalla legge"
    }
    async fn sites(&self) -> Vec<PublicSite> {
        self.0
            .sites
            .iter()
            .map(|s| PublicSite { site: s.site.clone(), places_net: s.places_net, rows: rows_of(&s.rows) })
            .collect()
    }
    /// Every site's rows, one after the other.
    async fn rows(&self) -> Vec<PublicRow> {
        self.0.sites.iter().flat_map(|s| rows_of(&s.rows)).collect()
    }
}

fn rows_of(rows: &[crate::rules::admissions::public::PublicRow]) -> Vec<PublicRow> {
    rows.iter()
        .map(|r| PublicRow {
            position: r.position,
            public_code: r.public_code.clone(),
            group: r.group.clone(),
            points: r.points.map(|p| p.as_f64()),
            outcome: r.outcome.clone(),
            site: r.site.clone(),
            time_model: r.time_model.clone(),
            waiting_position: r.waiting_position,
            tie: r.tie,
        })
        .collect()
}

#[derive(Default)]
pub struct AdmissionsQuery;

#[Object]
impl AdmissionsQuery {
    /// A round of the caller's institution (school, head teacher) or
    /// province (office); out of scope is not found.
    async fn admission_round(&self, ctx: &Context<'_>, id: ID) -> Result<AdmissionRound> {
        caller(ctx, ObjectKind::AdmissionRound, Action::Read)?;
        caller(ctx, ObjectKind::AdmissionApplication, Action::Read)?;
        round(ctx, id_arg("id", &id)?).await
    }

    /// The rounds of a school year in the caller's institution, each with
    /// its current outcome.
    async fn admission_rounds(&self, ctx: &Context<'_>, school_year: String) -> Result<Vec<AdmissionRound>> {
        caller(ctx, ObjectKind::AdmissionRound, Action::Read)?;
        caller(ctx, ObjectKind::AdmissionApplication, Action::Read)?;
        let year = year_arg("schoolYear", &school_year)?.stored();
        let mut out = Vec::new();
        for id in uc::round_ids(db(ctx), year).await? {
            out.push(round(ctx, id).await?);
        }
        Ok(out)
    }

    /// What-if: the engine over the round's real data with other places, a
    /// minimum for time models or points per criterion, and what would
    /// change against the current outcome. Nothing is stored.
    async fn simulate_admission_round(
        &self,
        ctx: &Context<'_>,
        round_id: ID,
        changes: SimulationChanges,
    ) -> Result<AdmissionSimulation> {
        caller(ctx, ObjectKind::AdmissionRound, Action::Read)?;
        caller(ctx, ObjectKind::AdmissionApplication, Action::Read)?;
        let view = Arc::new(uc::round_view(db(ctx), now(ctx), id_arg("roundId", &round_id)?).await?);
        let mut criteria_points = std::collections::BTreeMap::new();
        for (i, c) in changes.criteria_points.into_iter().enumerate() {
            let p = Points::from_decimal(c.points).filter(|p| p.0 >= 0).ok_or_else(|| {
                AppError::bad_input(format!("changes.criteriaPoints[{i}].points"), "two decimals at most, not negative")
            })?;
            criteria_points.insert(c.code, p.0);
        }
        let changes = crate::rules::admissions::simulate::Changes {
            places: changes.places.into_iter().map(|p| (p.site.trim().to_ascii_uppercase(), p.places)).collect(),
            min_pupils: changes.min_pupils,
            criteria_points,
        };
        let sim = view.simulate(&changes)?;
        Ok(AdmissionSimulation { view, sim })
    }

    /// Why an application stands where it stands; scoped like the application.
    async fn admission_explanation(&self, ctx: &Context<'_>, application_id: ID) -> Result<AdmissionExplanation> {
        caller(ctx, ObjectKind::AdmissionApplication, Action::Read)?;
        let (id, view) = uc::application_view(db(ctx), now(ctx), id_arg("applicationId", &application_id)?).await?;
        view.explanation(id).map(Into::into).ok_or_else(|| AppError::NotFound.into())
    }

    async fn admission_application(&self, ctx: &Context<'_>, id: ID) -> Result<AdmissionApplication> {
        caller(ctx, ObjectKind::AdmissionApplication, Action::Read)?;
        application(ctx, id_arg("id", &id)?).await
    }
}

/// An application as it now stands, with its round's outcome.
async fn application(ctx: &Context<'_>, id: i64) -> Result<AdmissionApplication> {
    let (id, view) = uc::application_view(db(ctx), now(ctx), id).await?;
    Ok(AdmissionApplication { view: Arc::new(view), id })
}

/// A round as it now stands.
async fn round(ctx: &Context<'_>, id: i64) -> Result<AdmissionRound> {
    Ok(AdmissionRound(Arc::new(uc::round_view(db(ctx), now(ctx), id).await?)))
}

/// Records a school's check and answers the application as it now stands.
/// The certification of a declared disability.
#[derive(InputObject)]
pub struct ApplicationDisabilityInput {
    /// A document uploaded for the application (kind ADMISSION_DOCUMENT).
    certification_attachment_id: ID,
    /// The certificate's date.
    certified_on: Date,
}

async fn check(ctx: &Context<'_>, application_id: ID, what: uc::Check) -> Result<AdmissionApplication> {
    let c = caller(ctx, ObjectKind::AdmissionApplication, Action::Write)?;
    let id = id_arg("applicationId", &application_id)?;
    uc::check_application(db(ctx), &c, now(ctx), id, what).await?;
    application(ctx, id).await
}

#[derive(Default)]
pub struct AdmissionsMutation;

#[Object]
impl AdmissionsMutation {
    /// A new draft version of the institution's points table for an order.
    async fn create_points_table(&self, ctx: &Context<'_>, input: PointsTableInput) -> Result<PointsTable> {
        let c = caller(ctx, ObjectKind::PointsTable, Action::Write)?;
        let criteria = input.criteria.into_iter().map(Into::into).collect();
        let institution = input.institution.trim().to_ascii_uppercase();
        Ok(PointsTable(uc::create_points_table(db(ctx), &c, institution, input.order.stored().into(), criteria).await?))
    }

    /// Changes a draft; an approved table answers POINTS_TABLE_FROZEN.
    async fn update_points_table(
        &self,
        ctx: &Context<'_>,
        id: ID,
        criteria: Vec<PointsCriterionInput>,
    ) -> Result<PointsTable> {
        let c = caller(ctx, ObjectKind::PointsTable, Action::Write)?;
        let criteria = criteria.into_iter().map(Into::into).collect();
        Ok(PointsTable(uc::update_points_table(db(ctx), &c, id_arg("id", &id)?, criteria).await?))
    }

    /// The council's approval (head teacher): the table never changes again.
    async fn approve_points_table(
        &self,
        ctx: &Context<'_>,
        id: ID,
        council_date: Date,
        resolution_number: String,
    ) -> Result<PointsTable> {
        let c = caller(ctx, ObjectKind::AdmissionDecision, Action::Write)?;
        let row =
            uc::approve_points_table(db(ctx), &c, now(ctx), id_arg("id", &id)?, council_date.0, resolution_number)
                .await?;
        Ok(PointsTable(row))
    }

    async fn create_admission_round(&self, ctx: &Context<'_>, input: AdmissionRoundInput) -> Result<AdmissionRound> {
        let c = caller(ctx, ObjectKind::AdmissionRound, Action::Write)?;
        let created = uc::create_round(db(ctx), &c, input.into_uc()?).await?;
        round(ctx, created.id).await
    }

    /// After the window opens only places, due dates and the draw seed's
    /// commitment change (ROUND_FROZEN).
    async fn update_admission_round(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: AdmissionRoundInput,
    ) -> Result<AdmissionRound> {
        let c = caller(ctx, ObjectKind::AdmissionRound, Action::Write)?;
        let updated = uc::update_round(db(ctx), &c, now(ctx), id_arg("id", &id)?, input.into_uc()?).await?;
        round(ctx, updated.id).await
    }

    async fn set_site_places(
        &self,
        ctx: &Context<'_>,
        round_id: ID,
        site: String,
        places: u32,
    ) -> Result<AdmissionRound> {
        let c = caller(ctx, ObjectKind::AdmissionRound, Action::Write)?;
        let id = id_arg("roundId", &round_id)?;
        uc::set_site_places(db(ctx), &c, id, site.trim().to_ascii_uppercase(), places).await?;
        round(ctx, id).await
    }

    /// Replaces the round's street list, all or nothing; overlapping ranges
    /// answer STRADARIO_OVERLAP with the lines. Returns how many entries.
    async fn import_stradario(
        &self,
        ctx: &Context<'_>,
        round_id: ID,
        entries: Vec<StradarioEntryInput>,
    ) -> Result<i32> {
        let c = caller(ctx, ObjectKind::AdmissionRound, Action::Write)?;
        let entries = entries
            .into_iter()
            .map(|e| uc::StradarioInput {
                street: e.street,
                from: e.from,
                to: e.to,
                parity: match e.parity {
                    ParityGql::All => Parity::All,
                    ParityGql::Odd => Parity::Odd,
                    ParityGql::Even => Parity::Even,
                },
                site: e.site.trim().to_ascii_uppercase(),
            })
            .collect();
        Ok(uc::import_stradario(db(ctx), &c, id_arg("roundId", &round_id)?, entries).await? as i32)
    }

    /// Registers every application of a CSV file (columns in
    /// docs/admissions.md), all or nothing: the first refusal names its
    /// line. Returns how many were registered.
    async fn import_applications(&self, ctx: &Context<'_>, round_id: ID, csv: String) -> Result<i32> {
        let c = caller(ctx, ObjectKind::AdmissionApplication, Action::Write)?;
        let id = id_arg("roundId", &round_id)?;
        Ok(uc::import_applications(db(ctx), &c, now(ctx), id, &csv).await? as i32)
    }

    /// Replaces the round's street list from a CSV file: street;from;to;parity;site.
    async fn import_stradario_csv(&self, ctx: &Context<'_>, round_id: ID, csv: String) -> Result<i32> {
        let c = caller(ctx, ObjectKind::AdmissionRound, Action::Write)?;
        Ok(uc::import_stradario_csv(db(ctx), &c, id_arg("roundId", &round_id)?, &csv).await? as i32)
    }

    /// Registers an application from the national portal.
    async fn register_application(&self, ctx: &Context<'_>, input: ApplicationInput) -> Result<RegisteredApplication> {
        let c = caller(ctx, ObjectKind::AdmissionApplication, Action::Write)?;
        let disability = input.disability.unwrap_or(DisabilityInput { declared: false, certified_on: None });
        let upper = |v: Vec<String>| v.into_iter().map(|s| s.trim().to_ascii_uppercase()).collect();
        let registered = uc::register_application(
            db(ctx),
            &c,
            now(ctx),
            uc::ApplicationInput {
                round_id: id_arg("input.roundId", &input.round_id)?,
                submitted_at: input.submitted_at.0,
                form: uc::ApplicationForm {
                    external_ref: input.external_ref,
                    first_name: input.child.first_name,
                    last_name: input.child.last_name,
                    tax_code: input.child.tax_code,
                    birth_date: input.child.birth_date.0,
                    sex: input.child.sex,
                    municipality: input.residence.municipality.trim().to_owned(),
                    street: input.residence.street,
                    house_number: input.residence.house_number,
                    site_preferences: upper(input.site_preferences),
                    time_model_preferences: input
                        .time_model_preferences
                        .into_iter()
                        .map(|m| m.trim().to_owned())
                        .collect(),
                    disability_declared: disability.declared,
                    disability_certified_on: disability.certified_on.map(|d| d.0),
                    claims: input.claims.into_iter().map(|k| (k.criterion, k.quantity)).collect(),
                },
            },
        )
        .await?;
        Ok(RegisteredApplication {
            id: ID(registered.row.id.to_string()),
            public_code: registered.row.public_code,
            points: registered.points.as_f64(),
            tier: registered.tier.into(),
            late: registered.late,
            early: registered.early,
        })
    }

    /// Verifies a claim (before publication).
    async fn verify_claim(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        criterion: String,
    ) -> Result<AdmissionApplication> {
        check(ctx, application_id, uc::Check::VerifyClaim { criterion }).await
    }

    /// Rejects a claim with a reason; after publication only as a false
    /// declaration found in a sample check (reason NON_VERIDICITA).
    async fn reject_claim(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        criterion: String,
        reason: String,
    ) -> Result<AdmissionApplication> {
        check(ctx, application_id, uc::Check::RejectClaim { criterion, reason }).await
    }

    /// Records the certification under L. 104/92 on which a declared
    /// disability rests: a document uploaded for the application (kind
    /// ADMISSION_DOCUMENT) and its date, which cannot be after the
    /// application (FACT_AFTER_SUBMISSION). Before publication; a new
    /// certificate must be verified again.
    async fn update_application_disability(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        input: ApplicationDisabilityInput,
    ) -> Result<AdmissionApplication> {
        let document = crate::graphql::attachments::uuid_arg(
            "input.certificationAttachmentId",
            &input.certification_attachment_id,
        )?;
        let what = uc::Check::Certification { document, certified_on: input.certified_on.0 };
        check(ctx, application_id, what).await
    }

    /// Verifies the certification under L. 104/92: disability precedence.
    /// The certificate must be attached first (updateApplicationDisability).
    async fn verify_disability(&self, ctx: &Context<'_>, application_id: ID) -> Result<AdmissionApplication> {
        check(ctx, application_id, uc::Check::VerifyDisability).await
    }

    /// Sets a resident's catchment by hand, with a reason (audited).
    async fn resolve_catchment(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        site: String,
        reason: String,
    ) -> Result<AdmissionApplication> {
        let site = site.trim().to_ascii_uppercase();
        check(ctx, application_id, uc::Check::ResolveCatchment { site, reason }).await
    }

    /// Records a family's withdrawal (rinuncia): the application leaves
    /// every current list for good.
    async fn withdraw_application(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        at: Instant,
    ) -> Result<AdmissionApplication> {
        let c = caller(ctx, ObjectKind::AdmissionApplication, Action::Write)?;
        let id = id_arg("applicationId", &application_id)?;
        uc::withdraw_application(db(ctx), &c, now(ctx), id, at.0).await?;
        application(ctx, id).await
    }

    /// Fixes the draw seed (head teacher, after the window closes; once; it
    /// must match the published commitment).
    async fn set_draw_seed(&self, ctx: &Context<'_>, round_id: ID, seed: String) -> Result<AdmissionRound> {
        let c = caller(ctx, ObjectKind::AdmissionDecision, Action::Write)?;
        let id = id_arg("roundId", &round_id)?;
        uc::set_draw_seed(db(ctx), &c, now(ctx), id, seed).await?;
        round(ctx, id).await
    }

    /// Publishes the provisional ranking (head teacher): a snapshot whose
    /// hashes enter the audit trail; complaints run for 10 days.
    async fn publish_provisional_ranking(&self, ctx: &Context<'_>, round_id: ID) -> Result<AdmissionRound> {
        let c = caller(ctx, ObjectKind::AdmissionDecision, Action::Write)?;
        let id = id_arg("roundId", &round_id)?;
        uc::publish_provisional(db(ctx), &c, now(ctx), id).await?;
        round(ctx, id).await
    }

    /// Fixes the domain clock (provincial role, on a demo server started
    /// with `--test-clock`); FORBIDDEN otherwise. Sessions keep real time.
    async fn set_test_clock(&self, ctx: &Context<'_>, now: Instant) -> Result<DateTime<Utc>> {
        let s = super::subject(ctx)?;
        if s.membership.role != crate::auth::Role::Provincial {
            return Err(AppError::Forbidden.into());
        }
        Ok(ctx.data_unchecked::<Clock>().set(now.0)?)
    }
}
