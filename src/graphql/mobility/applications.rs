//! Teachers' forms for a provisional assignment (AP) or a utilisation (UT)
//! in GraphQL: the teacher's drafts, submission and withdrawal with the
//! personal code, the office's paper entry, and what each reads. A refusal
//! carries `extensions.code` and `extensions.rule`.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::{MobilityDocumentKind, PostType, mirror, order_arg, order_out};
use crate::auth::passwords::Passwords;
use crate::authz::{self, Action, ObjectKind, Scope as AuthScope};
use crate::db::AuthDb;
use crate::db::mobility::{ApplicationFilter, ApplicationRow};
use crate::error::AppError;
use crate::error::AppResult;
use crate::graphql::attachments::{Attachment, uuid_arg};
use crate::graphql::connection::{Connection, connection, page_request_by_id};
use crate::graphql::registry::id_arg;
use crate::graphql::scalars::Date;
use crate::graphql::territory::SchoolOrder;
use crate::graphql::{caller, db, subject};
use crate::mail::Mailer;
use crate::rules::mobility::DocumentKind;
use crate::rules::mobility::application::{
    AssistedBy as RAssistedBy, ChairOption as RChair, Confirmation as RConfirmation, IddMethod as RIdd, Kind,
    LanguageOrder as RLanguageOrder, Precedence, PrecedenceDetails, PrefKind, Preference, RequestOptions as ROptions,
    Scope, SectionE as RSectionE, UtActivity as RActivity, UtCategory as RUt,
};
use crate::rules::mobility::eligibility::ReasonKind;
use crate::rules::mobility::scores;
use crate::rules::throttle::ThrottlePolicy;
use crate::usecases::accounts::enabling::CodeCheck;
use crate::usecases::accounts::login::ClientAddr;
use crate::usecases::clock::Clock;
use crate::usecases::mobility::{
    self as uc, ChildInput as UChild, ChildRelation as UChildRelation, ClaimInput, FormInput, ReunionInput as UReunion,
};
use futures_util::future::BoxFuture;

mirror!(
    /// AP: provisional assignment; UT: utilisation.
    MobilityKind = Kind { Ap, Ut }
);
mirror!(
    /// Provincial (the province held) or interprovincial (one other province).
    MobilityScope = Scope { Provincial, Interprovincial }
);
mirror!(
    /// The art. 7 reasons of an AP (spec §3.2).
    MobilityReason = ReasonKind { Spouse, Cohabitant, CohabitingRelative, Child, Parent, OwnSeriousHealth }
);
mirror!(ChildRelation = UChildRelation { Child, Adopted, PreAdoptive, Fostered });
mirror!(
    /// A preference code: a school, a municipality (ISTAT or Belfiore), a
    /// district, or a whole province.
    PreferenceKind = PrefKind { School, Municipality, District, Province }
);
mirror!(
    /// The art. 8 precedences (spec §4.2), by their letter.
    PrecedenceCode = Precedence {
        ABlind, BDialysis, DDisabilityArt21 = "D_DISABILITY_ART21", ESeriousIllness, FSevereHandicapSelf,
        GAssistChild, HAssistSpouseOrParent, ISoleRelative, LChildUnder6 = "L_CHILD_UNDER_6",
        MChild6To12 = "M_CHILD_6_TO_12", NReturnOutOfRole, OMilitarySpouse, QLocalPublicOffice, RUnionLeaveEnd,
    }
);
mirror!(
    /// The utilisation categories of art. 2 (spec §3.7).
    UtCategory = RUt {
        SurplusAmbito, TransferredSince2008 = "TRANSFERRED_SINCE_2008", NoSeat,
        Hired2015ExOfficio = "HIRED_2015_EX_OFFICIO", Restored, NoAmbitoPhaseC = "NO_AMBITO_PHASE_C",
        SpecialisedCurricular, Reconversion, PrimariaLanguage, SpecialSettings, ExDosNotConfirmed, ExDosMoved,
        DopMoved, SurplusOf, Esubero, Other,
    }
);

mirror!(
    /// IDD methods (POST-4; Pizzigoni only in primaria).
    IddMethod = RIdd { Montessori, Agazzi, Pizzigoni }
);
mirror!(
    /// Primaria: which of common and language posts comes first (POST-2).
    LanguageOrder = RLanguageOrder { CommonFirst = "COMUNE_LINGUA", LanguageFirst = "LINGUA_COMUNE" }
);
mirror!(
    /// I/II grado: the chairs accepted (POST-7); none is internal chairs only.
    ChairOption = RChair { InternalOnly, ExternalSameMunicipality, ExternalOtherMunicipalities }
);
mirror!(
    /// Utilisation activities (POST-10).
    UtActivity = RActivity { Art3Projects = "ART3_PROJECTS", Art6TerProjects = "ART6_TER_PROJECTS", Hospitals, Prisons, TechnicalOffice }
);

/// The request options of spec §6, each on the forms and orders that offer
/// it (POST-2, POST-4, POST-6..13); absent is no.
#[derive(InputObject, Default)]
pub struct MobilityRequestOptionsInput {
    pub idd_methods: Option<Vec<IddMethod>>,
    pub language_order: Option<LanguageOrder>,
    pub extended_timetable: Option<bool>,
    pub adult_courses: Option<bool>,
    pub chairs: Option<ChairOption>,
    pub part_posts: Option<bool>,
    pub short_posts: Option<bool>,
    pub several_schools: Option<bool>,
    pub activities: Option<Vec<UtActivity>>,
    pub cpia: Option<bool>,
    /// Classes of competition for utilisation (casella 31/32).
    pub ut_classes: Option<Vec<String>>,
    pub at_disposal: Option<bool>,
}

impl From<MobilityRequestOptionsInput> for ROptions {
    fn from(o: MobilityRequestOptionsInput) -> ROptions {
        let yes = |b: Option<bool>| b.unwrap_or(false);
        ROptions {
            idd_methods: o.idd_methods.unwrap_or_default().into_iter().map(Into::into).collect(),
            language_order: o.language_order.map(Into::into),
            extended_timetable: yes(o.extended_timetable),
            adult_courses: yes(o.adult_courses),
            chairs: o.chairs.map(Into::into),
            part_posts: yes(o.part_posts),
            short_posts: yes(o.short_posts),
            several_schools: yes(o.several_schools),
            activities: o.activities.unwrap_or_default().into_iter().map(Into::into).collect(),
            cpia: yes(o.cpia),
            ut_classes: o.ut_classes.unwrap_or_default().iter().map(|c| c.trim().to_ascii_uppercase()).collect(),
            at_disposal: yes(o.at_disposal),
        }
    }
}

/// The request options as entered.
#[derive(SimpleObject)]
pub struct MobilityRequestOptions {
    pub idd_methods: Vec<IddMethod>,
    pub language_order: Option<LanguageOrder>,
    pub extended_timetable: bool,
    pub adult_courses: bool,
    pub chairs: Option<ChairOption>,
    pub part_posts: bool,
    pub short_posts: bool,
    pub several_schools: bool,
    pub activities: Vec<UtActivity>,
    pub cpia: bool,
    pub ut_classes: Vec<String>,
    pub at_disposal: bool,
}

impl From<&ROptions> for MobilityRequestOptions {
    fn from(o: &ROptions) -> MobilityRequestOptions {
        MobilityRequestOptions {
            idd_methods: o.idd_methods.iter().map(|m| (*m).into()).collect(),
            language_order: o.language_order.map(Into::into),
            extended_timetable: o.extended_timetable,
            adult_courses: o.adult_courses,
            chairs: o.chairs.map(Into::into),
            part_posts: o.part_posts,
            short_posts: o.short_posts,
            several_schools: o.several_schools,
            activities: o.activities.iter().map(|a| (*a).into()).collect(),
            cpia: o.cpia,
            ut_classes: o.ut_classes.clone(),
            at_disposal: o.at_disposal,
        }
    }
}

/// Sezione E (UT-E1): the return to the school held before a move as surplus.
#[derive(InputObject, SimpleObject, Clone)]
#[graphql(input_name = "SectionEInput", name = "SectionE")]
pub struct SectionE {
    /// Infanzia: the circolo's code; primaria: the site that hosts the circolo.
    pub previous_school: String,
    /// The post previously held was a support post.
    pub previous_support: bool,
    /// The first year of the school year of the move (2008 for 2008/09).
    pub moved_in_year: i32,
    /// A transfer including the previous school was asked in every year of the eight.
    pub asked_every_year: bool,
}

/// UT-CONF: confirmation in the school of use of the year before.
#[derive(InputObject, SimpleObject, Clone)]
#[graphql(input_name = "ConfirmationInput", name = "Confirmation")]
pub struct Confirmation {
    pub school: String,
    /// I/II grado: the class confirmed.
    pub class_of_competition: Option<String>,
    /// I/II grado: `NN`, `EH`, `CH` or `DH`.
    pub post_type: Option<PostType>,
    /// Used on another class last year because the own class was in esubero.
    pub other_class_for_esubero: bool,
}

impl From<SectionE> for RSectionE {
    fn from(e: SectionE) -> RSectionE {
        RSectionE {
            previous_school: e.previous_school,
            previous_support: e.previous_support,
            moved_in: e.moved_in_year,
            asked_every_year: e.asked_every_year,
        }
    }
}

impl From<&RSectionE> for SectionE {
    fn from(e: &RSectionE) -> SectionE {
        SectionE {
            previous_school: e.previous_school.clone(),
            previous_support: e.previous_support,
            moved_in_year: e.moved_in,
            asked_every_year: e.asked_every_year,
        }
    }
}

impl From<Confirmation> for RConfirmation {
    fn from(c: Confirmation) -> RConfirmation {
        RConfirmation {
            school: c.school,
            class: c.class_of_competition,
            post_type: c.post_type.map(Into::into),
            other_class_for_esubero: c.other_class_for_esubero,
        }
    }
}

impl From<&RConfirmation> for Confirmation {
    fn from(c: &RConfirmation) -> Confirmation {
        Confirmation {
            school: c.school.clone(),
            class_of_competition: c.class.clone(),
            post_type: c.post_type.map(Into::into),
            other_class_for_esubero: c.other_class_for_esubero,
        }
    }
}

/// Casella A: the family member of the reason. Documents are ids of the
/// application's own attachments.
#[derive(InputObject)]
pub struct ReunionInput {
    pub relation: MobilityReason,
    /// Where the family member lives: ISTAT or Belfiore code.
    pub municipality: String,
    pub birth_date: Option<Date>,
    pub registered_since: Option<Date>,
    pub registry_cohabitation: Option<bool>,
    pub new_work_seat: Option<bool>,
    pub documents: Option<Vec<ID>>,
}

/// A child of the teacher (SC-B, SC-C). Named apart from admissions'
/// `ChildInput` (a pupil), which had the name first.
#[derive(InputObject)]
#[graphql(name = "MobilityChildInput")]
pub struct ChildInput {
    pub birth_date: Date,
    pub relation: Option<ChildRelation>,
    pub unable_to_work: Option<bool>,
    pub documents: Option<Vec<ID>>,
}

#[derive(InputObject)]
pub struct PrecedenceClaimInput {
    pub code: PrecedenceCode,
    pub documents: Option<Vec<ID>>,
    /// (l) and (m): the child's birth date.
    pub child_birth_date: Option<Date>,
    /// (e) the municipality of care, (f) of residence, (g, h, i) of the
    /// assisted person, (q) of the mandate.
    pub municipality: Option<String>,
    /// (d) the degree of civil invalidity, 0 to 100: above two thirds (67)
    /// with a disability (art. 3 c. 1).
    pub invalidity_percent: Option<i32>,
    /// (d) the category of table A, L. 648/1950: 1 to 3 qualify.
    pub table_a_category: Option<i32>,
    /// (g, h, i) who assists the disabled person.
    pub assisted_by: Option<AssistedBy>,
    /// (i) the degree of kinship or affinity, 1 to 6.
    pub kinship_degree: Option<i32>,
    /// (i) 3rd degree: the parents or spouse of the disabled person are 65
    /// or over, have disabling illnesses, or are dead or missing.
    pub third_degree_condition: Option<bool>,
    /// (i) 3rd degree: no relative or in-law of a lower degree.
    pub no_closer_relatives: Option<bool>,
    /// (h) a child assisting a parent, (i): the only one who can assist.
    pub sole_referent: Option<bool>,
    /// (g) a sibling: both parents dead or totally unable.
    pub parents_unable: Option<bool>,
    /// (g) a sibling: living with the disabled person.
    pub cohabiting: Option<bool>,
    /// (r) domiciled in the province since this day.
    pub domiciled_since: Option<Date>,
    /// (g, h, i) the certificate of Down syndrome is the family doctor's,
    /// provisional until the final one (DOC-8).
    pub down_syndrome_provisional: Option<bool>,
}

mirror!(
    /// Who assists the disabled person (spec §4.3): (g) a parent, a
    /// cohabiting sibling or a legal guardian (a support administrator is
    /// not one); (h) the spouse or the child who is sole referent; (i) a
    /// relative or in-law, or the only foster carer.
    AssistedBy = RAssistedBy { Parent, Sibling, LegalGuardian, SupportAdministrator, Spouse, Child, Relative, FosterCarer }
);

/// A whole number of a declaration within `range`.
fn small(field: &str, v: Option<i32>, range: std::ops::RangeInclusive<u8>) -> Result<Option<u8>, AppError> {
    v.map(|n| {
        u8::try_from(n)
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| AppError::bad_input(field, format!("from {} to {}", range.start(), range.end())))
    })
    .transpose()
}

fn details(p: &PrecedenceClaimInput) -> Result<PrecedenceDetails, AppError> {
    Ok(PrecedenceDetails {
        invalidity_percent: small("input.precedences.invalidityPercent", p.invalidity_percent, 0..=100)?,
        table_a_category: small("input.precedences.tableACategory", p.table_a_category, 1..=8)?,
        assisted_by: p.assisted_by.map(Into::into),
        kinship_degree: small("input.precedences.kinshipDegree", p.kinship_degree, 1..=6)?,
        third_degree_condition: p.third_degree_condition.unwrap_or(false),
        no_closer_relatives: p.no_closer_relatives.unwrap_or(false),
        sole_referent: p.sole_referent.unwrap_or(false),
        parents_unable: p.parents_unable.unwrap_or(false),
        cohabiting: p.cohabiting.unwrap_or(false),
        domiciled_since: super::day(p.domiciled_since),
        down_syndrome_provisional: p.down_syndrome_provisional.unwrap_or(false),
    })
}

/// A code of the territory of a given kind.
#[derive(SimpleObject)]
pub struct AreaCode {
    pub kind: PreferenceKind,
    pub code: String,
}

/// List order is preference order.
#[derive(InputObject)]
pub struct PreferenceInput {
    pub kind: PreferenceKind,
    pub code: String,
}

#[derive(InputObject)]
pub struct MobilityApplicationInput {
    pub campaign_year: i32,
    pub kind: MobilityKind,
    /// The registry's category is the one that counts; when given, it must agree.
    pub category: Option<super::StaffCategory>,
    pub order: SchoolOrder,
    pub scope: MobilityScope,
    pub musical_liceo: Option<bool>,
    pub class_of_competition: Option<String>,
    pub additional_classes: Option<Vec<String>>,
    pub post_types: Option<Vec<PostType>>,
    pub reasons: Option<Vec<MobilityReason>>,
    pub reunion: Option<ReunionInput>,
    pub children: Option<Vec<ChildInput>>,
    pub precedences: Option<Vec<PrecedenceClaimInput>>,
    pub ut_categories: Option<Vec<UtCategory>>,
    /// SC-U1: the utilisation score the teacher declares.
    pub declared_score: Option<f64>,
    pub preferences: Option<Vec<PreferenceInput>>,
    pub options: Option<MobilityRequestOptionsInput>,
    pub section_e: Option<SectionE>,
    pub confirmation: Option<Confirmation>,
    /// PREF-7: a UT in surplus or on a DOP names where the nearest-seat
    /// chain starts (a municipality or district of the own province).
    pub chain_start: Option<PreferenceInput>,
    /// An IRC teacher's form names the diocese requested: it goes to the
    /// regional directorate of that diocese's region (seed L83).
    pub diocese: Option<String>,
    /// SC-U2: a UT's score part by part (instead of `declaredScore`).
    pub ut_score: Option<UtScoreInput>,
}

/// SC-U1..U3: the utilisation score part by part: the school's internal
/// ranking, the current year of service and its continuity, and the titles
/// obtained since (counted if obtained by the deadline).
#[derive(InputObject)]
pub struct UtScoreInput {
    pub base: f64,
    pub current_year: Option<f64>,
    pub continuity: Option<f64>,
    pub titles: Option<Vec<UtTitle>>,
}

#[derive(InputObject, SimpleObject, Clone)]
#[graphql(input_name = "UtTitleInput")]
pub struct UtTitle {
    pub name: String,
    pub points: f64,
    pub obtained_on: Date,
}

/// The utilisation score the declared parts give (SC-U2, SC-U3).
#[derive(SimpleObject)]
pub struct UtScore {
    pub base: f64,
    pub current_year: f64,
    pub continuity: f64,
    /// The points of the titles obtained by the deadline.
    pub titles: f64,
    pub total: f64,
    /// The titles obtained after the deadline, not counted.
    pub late_titles: Vec<String>,
}

fn ut_components(u: UtScoreInput) -> Result<scores::UtComponents, AppError> {
    let titles = u.titles.unwrap_or_default();
    if let Some(t) = titles.iter().find(|t| t.name.trim().is_empty() || t.name.chars().count() > 200) {
        return Err(AppError::bad_input("input.utScore.titles.name", format!("1 to 200 characters: {:?}", t.name)));
    }
    Ok(scores::UtComponents {
        base: u.base,
        current_year: u.current_year.unwrap_or(0.0),
        continuity: u.continuity.unwrap_or(0.0),
        titles: titles
            .into_iter()
            .map(|t| scores::UtTitle { name: t.name.trim().to_owned(), points: t.points, obtained_on: t.obtained_on.0 })
            .collect(),
    })
}

fn ids(v: Option<Vec<ID>>) -> Vec<String> {
    v.unwrap_or_default().into_iter().map(|i| i.0).collect()
}

fn form_input(i: MobilityApplicationInput) -> Result<FormInput, AppError> {
    let day = super::day;
    if i.declared_score.is_some_and(|s| !(0.0..=1000.0).contains(&s)) {
        return Err(AppError::bad_input("input.declaredScore", "from 0 to 1000"));
    }
    let upper =
        |v: Option<Vec<String>>| v.unwrap_or_default().into_iter().map(|c| c.trim().to_ascii_uppercase()).collect();
    Ok(FormInput {
        campaign_year: i.campaign_year,
        kind: i.kind.into(),
        category: i.category.map(Into::into),
        order: order_arg("input.order", i.order)?,
        scope: i.scope.into(),
        musical_liceo: i.musical_liceo.unwrap_or(false),
        class: i.class_of_competition.map(|c| c.trim().to_ascii_uppercase()),
        additional_classes: upper(i.additional_classes),
        post_types: i.post_types.unwrap_or_default().into_iter().map(Into::into).collect(),
        reasons: i.reasons.unwrap_or_default().into_iter().map(Into::into).collect(),
        reunion: i.reunion.map(|r| UReunion {
            relation: r.relation.into(),
            municipality: r.municipality,
            birth_date: day(r.birth_date),
            registered_since: day(r.registered_since),
            registry_cohabitation: r.registry_cohabitation.unwrap_or(false),
            new_work_seat: r.new_work_seat.unwrap_or(false),
            documents: ids(r.documents),
        }),
        children: i
            .children
            .unwrap_or_default()
            .into_iter()
            .map(|c| UChild {
                birth_date: c.birth_date.0,
                relation: c.relation.map_or(UChildRelation::Child, Into::into),
                unable_to_work: c.unable_to_work.unwrap_or(false),
                documents: ids(c.documents),
            })
            .collect(),
        precedences: i
            .precedences
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                Ok(ClaimInput {
                    details: details(&p)?,
                    code: p.code.into(),
                    documents: ids(p.documents),
                    child_birth_date: day(p.child_birth_date),
                    municipality: p.municipality,
                })
            })
            .collect::<Result<_, AppError>>()?,
        ut_categories: i.ut_categories.unwrap_or_default().into_iter().map(Into::into).collect(),
        declared_score: i.declared_score,
        preferences: i
            .preferences
            .unwrap_or_default()
            .into_iter()
            .map(|p| Preference { kind: p.kind.into(), code: p.code })
            .collect(),
        options: i.options.unwrap_or_default().into(),
        section_e: i.section_e.map(Into::into),
        confirmation: i.confirmation.map(Into::into),
        chain_start: i.chain_start.map(|p| Preference { kind: p.kind.into(), code: p.code }),
        diocese: i.diocese,
        ut_score: i.ut_score.map(ut_components).transpose()?,
    })
}

/// The office that processes an application: a provincial office, by its province.
#[derive(SimpleObject)]
pub struct Office {
    /// The province code of a provincial office, or the region of a
    /// regional directorate.
    pub code: String,
    pub kind: OfficeKind,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum OfficeKind {
    /// A provincial office (Ufficio scolastico territoriale).
    Provincial,
    /// A regional directorate (Direzione regionale): IRC forms.
    Regional,
}

#[derive(SimpleObject)]
pub struct PreferenceOut {
    pub position: i32,
    pub kind: PreferenceKind,
    pub code: String,
    /// False when the office will not consider it (PREF-3a), with `rule`.
    pub effective: bool,
    pub rule: Option<String>,
}

#[derive(SimpleObject)]
pub struct PrecedenceOut {
    pub code: PrecedenceCode,
    /// False when a rule refuses it (with `rule`), null until the office decides.
    pub recognised: Option<bool>,
    pub rule: Option<String>,
    /// The office's reason, once it decided.
    pub decision_reason: Option<String>,
}

#[derive(SimpleObject)]
pub struct FamilyScoreLine {
    pub rule: String,
    pub points: i32,
    pub recognised: bool,
    pub reason: String,
}

/// The family points of an AP (SC-A..D), their total and why.
#[derive(SimpleObject)]
pub struct FamilyScore {
    pub a: i32,
    pub b: i32,
    pub c: i32,
    pub d: i32,
    pub total: i32,
    /// Set when the office corrected the computed score.
    pub override_reason: Option<String>,
    /// The computed items, each with its rule and why.
    pub lines: Vec<FamilyScoreLine>,
}

#[derive(SimpleObject)]
pub struct Warning {
    pub rule: String,
    pub message: String,
}

/// SC-U4: the score section of a UT form, which the school of service
/// validates. It holds nothing else of the form.
pub struct UtilisationScore(pub crate::db::mobility::UtScoreRow);

#[Object]
impl UtilisationScore {
    async fn application_id(&self) -> ID {
        ID(self.0.application_id.to_string())
    }

    async fn teacher_tax_code(&self) -> &str {
        &self.0.teacher_tax_code
    }

    async fn teacher_name(&self) -> &str {
        &self.0.teacher_name
    }

    /// The school institution of service.
    async fn school_code(&self) -> &str {
        &self.0.institution_code
    }

    /// SC-U1: what the teacher declared.
    async fn declared(&self) -> Option<f64> {
        self.0.declared
    }

    /// What the school validated (or corrected it to); null until it does.
    async fn validated(&self) -> Option<f64> {
        self.0.validated
    }

    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    async fn validated_at(&self) -> Option<DateTime<Utc>> {
        self.0.validated_at
    }
}

/// A document the office received off line (DOC-6).
#[derive(SimpleObject)]
pub struct DocumentReceipt {
    pub document_kind: Option<MobilityDocumentKind>,
    /// `HAND`, `REGISTERED_POST`, `PEC` or `ONLINE`.
    pub channel: String,
    pub received_on: Date,
    pub precedence: Option<String>,
}

/// An application, with its stored input and assessment read once (not
/// once per field).
pub struct MobilityApplication {
    row: ApplicationRow,
    input: std::sync::OnceLock<Option<FormInput>>,
    stored: std::sync::OnceLock<uc::Stored>,
}

impl MobilityApplication {
    pub fn new(row: ApplicationRow) -> MobilityApplication {
        MobilityApplication { row, input: Default::default(), stored: Default::default() }
    }

    fn input(&self) -> Result<&FormInput, AppError> {
        self.input
            .get_or_init(|| uc::input_of(&self.row).ok())
            .as_ref()
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("an application whose input does not parse")))
    }

    fn stored(&self) -> &uc::Stored {
        self.stored.get_or_init(|| uc::stored_of(&self.row))
    }
}

fn int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

#[Object]
impl MobilityApplication {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    /// `DRAFT`, `SUBMITTED` or `WITHDRAWN`.
    async fn state(&self) -> String {
        self.row.state.to_ascii_uppercase()
    }

    async fn campaign_year(&self) -> i32 {
        self.row.campaign_year
    }

    async fn kind(&self) -> MobilityKind {
        uc::kind_of(&self.row.kind).into()
    }

    async fn order(&self) -> SchoolOrder {
        order_out(uc::order_of(&self.row.school_order))
    }

    async fn scope(&self) -> Result<MobilityScope> {
        Ok(if self.row.scope == "interprovincial" { MobilityScope::Interprovincial } else { MobilityScope::Provincial })
    }

    /// `ONLINE` or `PAPER`.
    async fn channel(&self) -> String {
        self.row.channel.to_ascii_uppercase()
    }

    async fn protocol_number(&self) -> Option<&str> {
        self.row.protocol_number.as_deref()
    }

    async fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.row.submitted_at
    }

    /// A paper form's day of receipt at the office.
    async fn received_on(&self) -> Option<Date> {
        self.row.received_on.map(Date)
    }

    /// Derived at submission (R-ROUTE-1); null while a draft.
    async fn processing_office(&self) -> Option<Office> {
        uc::routed_office(&self.row).map(|o| match o {
            authz::Office::Province(code) => Office { code, kind: OfficeKind::Provincial },
            authz::Office::Region(code) => Office { code, kind: OfficeKind::Regional },
        })
    }

    /// The diocese an IRC form requests.
    async fn diocese(&self) -> Result<Option<String>> {
        Ok(self.input()?.diocese.clone())
    }

    /// As checked at submission; a draft's as entered.
    async fn preferences(&self) -> Result<Vec<PreferenceOut>> {
        let stored = self.stored().clone();
        if self.row.assessment.is_some() {
            return Ok(stored
                .preferences
                .into_iter()
                .map(|p| PreferenceOut {
                    position: i32::try_from(p.position).unwrap_or(i32::MAX),
                    kind: p.kind.into(),
                    code: p.code,
                    effective: p.effective,
                    rule: p.rule,
                })
                .collect());
        }
        Ok(self
            .input()?
            .clone()
            .preferences
            .into_iter()
            .enumerate()
            .map(|(i, p)| PreferenceOut {
                position: i32::try_from(i + 1).unwrap_or(i32::MAX),
                kind: p.kind.into(),
                code: p.code,
                effective: true,
                rule: None,
            })
            .collect())
    }

    /// Each claimed precedence: refused by a rule (`recognised: false`,
    /// `rule`), or as the office decided, or null until it does.
    async fn precedences(&self) -> Result<Vec<PrecedenceOut>> {
        if self.row.assessment.is_some() {
            let decisions = &self.row.precedence_decisions;
            return Ok(self
                .stored()
                .clone()
                .precedences
                .into_iter()
                .map(|p| {
                    let decided = decisions.get(uc::precedence_str(p.code)).and_then(|d| d["recognised"].as_bool());
                    let reason =
                        decisions.get(uc::precedence_str(p.code)).and_then(|d| d["reason"].as_str().map(str::to_owned));
                    let recognised = decided.or(p.recognised);
                    // A rule's id stays while the outcome is the rule's.
                    let rule = if decided.is_some() && decided != p.recognised { None } else { p.rule };
                    PrecedenceOut { code: p.code.into(), recognised, rule, decision_reason: reason }
                })
                .collect());
        }
        Ok(self
            .input()?
            .clone()
            .precedences
            .into_iter()
            .map(|p| PrecedenceOut { code: p.code.into(), recognised: None, rule: None, decision_reason: None })
            .collect())
    }

    /// The family points computed at submission (zero for a draft or a
    /// UT), or as the office corrected them (`overrideReason`).
    async fn family_score(&self) -> FamilyScore {
        let f = self.stored().family.clone().unwrap_or_default();
        let o = self.row.family_override.as_ref();
        let [a, b, c, d] = uc::family_boxes(&self.row);
        FamilyScore {
            a,
            b,
            c,
            d,
            total: a + b + c + d,
            override_reason: o.and_then(|o| o["reason"].as_str().map(str::to_owned)),
            lines: f
                .lines
                .into_iter()
                .map(|l| FamilyScoreLine {
                    rule: l.rule,
                    points: int(l.points),
                    recognised: l.recognised,
                    reason: l.reason,
                })
                .collect(),
        }
    }

    /// The outcome in the newest run the caller may see: the office sees
    /// its proposal, the teacher only an approved run (issue 21).
    async fn outcome(&self, ctx: &Context<'_>) -> Result<Option<super::allocation::Outcome>> {
        super::allocation::outcome(ctx, &self.row).await
    }

    /// For every preference above the post obtained (every one, if none
    /// was), who took the last post of the relevant type there.
    async fn certificate(&self, ctx: &Context<'_>) -> Result<Vec<super::allocation::CertificateEntry>> {
        let preferences = self.preferences(ctx).await?;
        super::allocation::certificate(ctx, &self.row, preferences).await
    }

    /// The complaints recorded about this form's published outcome.
    async fn complaints(&self, ctx: &Context<'_>) -> Result<Vec<super::corrections::MobilityComplaint>> {
        super::corrections::complaints(ctx, self.row.id).await
    }

    /// Every not-recognised item and ineffective preference found at
    /// submission: the teacher can still fix them inside the window.
    async fn warnings(&self) -> Vec<Warning> {
        self.stored().warnings.iter().cloned().map(|w| Warning { rule: w.rule, message: w.message }).collect()
    }

    /// The application's documents (health certificates among them: only
    /// the teacher and the processing office see them).
    async fn attachments(&self, ctx: &Context<'_>) -> Result<Vec<Attachment>> {
        let id = self.row.id;
        let rows = uc::documents(db(ctx), id).await?;
        Ok(rows.into_iter().map(|r| Attachment::shown(ctx, r)).collect())
    }

    /// Documents the office received off line (DOC-6).
    async fn document_receipts(&self, ctx: &Context<'_>) -> Result<Vec<DocumentReceipt>> {
        let id = self.row.id;
        let rows = uc::receipts(db(ctx), id).await?;
        Ok(rows
            .into_iter()
            .map(|r| DocumentReceipt {
                document_kind: DocumentKind::parse(&r.document_kind).map(Into::into),
                channel: r.channel.to_ascii_uppercase(),
                received_on: Date(r.received_on),
                precedence: r.precedence,
            })
            .collect())
    }

    /// A UT's score section: declared, and validated by the school of service.
    async fn utilisation_score(&self, ctx: &Context<'_>) -> Result<Option<UtilisationScore>> {
        if self.row.kind != "ut" {
            return Ok(None);
        }
        Ok(uc::ut_score(db(ctx), self.row.id).await?.map(UtilisationScore))
    }

    /// SC-U1: the utilisation score declared.
    async fn declared_score(&self) -> Result<Option<f64>> {
        Ok(self.input()?.declared_score)
    }

    /// The request options (spec §6).
    async fn options(&self) -> Result<MobilityRequestOptions> {
        Ok((&self.input()?.options).into())
    }

    /// Sezione E as entered (UT-E1).
    async fn section_e(&self) -> Result<Option<SectionE>> {
        Ok(self.input()?.section_e.as_ref().map(Into::into))
    }

    /// The utilisation score its parts give, once submitted (SC-U2, SC-U3).
    async fn ut_score(&self) -> Option<UtScore> {
        self.stored().ut_score.as_ref().map(|s| UtScore {
            base: s.base,
            current_year: s.current_year,
            continuity: s.continuity,
            titles: s.titles,
            total: s.total,
            late_titles: s.late.clone(),
        })
    }

    /// The titles declared with the utilisation score, as entered.
    async fn ut_score_titles(&self) -> Result<Vec<UtTitle>> {
        let titles = self.input()?.ut_score.as_ref().map(|u| u.titles.clone()).unwrap_or_default();
        Ok(titles
            .into_iter()
            .map(|t| UtTitle { name: t.name, points: t.points, obtained_on: Date(t.obtained_on) })
            .collect())
    }

    /// Whether Sezione E is recognised, once submitted; its warnings say why not.
    async fn section_e_recognised(&self) -> Option<bool> {
        self.stored().section_e
    }

    /// Where the nearest-seat chain starts (PREF-7).
    async fn chain_start(&self) -> Result<Option<AreaCode>> {
        let start = self.input()?.chain_start.as_ref();
        Ok(start.map(|p| AreaCode { kind: p.kind.into(), code: p.code.clone() }))
    }

    /// The confirmation asked (UT-CONF).
    async fn confirmation(&self) -> Result<Option<Confirmation>> {
        Ok(self.input()?.confirmation.as_ref().map(Into::into))
    }
}

fn now(ctx: &Context<'_>) -> DateTime<Utc> {
    ctx.data_unchecked::<Clock>().now()
}

/// The step-up with the caller's personal code.
fn code_check<'a>(ctx: &'a Context<'_>, code: &'a str) -> Result<CodeCheck<'a>, AppError> {
    Ok(CodeCheck {
        auth: ctx.data_unchecked::<AuthDb>(),
        passwords: ctx.data_unchecked::<Passwords>(),
        throttle: ctx.data_unchecked::<ThrottlePolicy>(),
        addr: ctx.data_opt::<ClientAddr>().ok_or_else(|| AppError::internal(anyhow::anyhow!("no client address")))?,
        user_id: subject(ctx)?.user_id,
        code,
    })
}

/// The teacher's own acts: FORBIDDEN for any other scope.
fn teacher_writes(ctx: &Context<'_>) -> Result<crate::authz::Caller, AppError> {
    let c = caller(ctx, ObjectKind::MobilityApplication, Action::Write)?;
    if c.scope != AuthScope::Own {
        return Err(AppError::Forbidden);
    }
    Ok(c)
}

#[derive(Default)]
pub struct ApplicationsQuery;

#[Object]
impl ApplicationsQuery {
    /// The applications in the caller's scope: a teacher's own, an office's
    /// routed ones (never a draft).
    async fn mobility_applications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        campaign_year: Option<i32>,
    ) -> Result<Connection<MobilityApplication>> {
        caller(ctx, ObjectKind::MobilityApplication, Action::Read)?;
        let page = page_request_by_id(first, after)?;
        let filter = ApplicationFilter { year: campaign_year };
        let rows = uc::applications(db(ctx), filter.clone(), page.clone()).await?;
        let counter = db(ctx).clone();
        let count = move || -> BoxFuture<'static, AppResult<i64>> {
            Box::pin(async move { uc::applications_count(&counter, filter).await })
        };
        Ok(connection(ctx, &page, rows, count, |r| r.id.to_string(), MobilityApplication::new).await?)
    }

    /// SC-U4: the score sections of the caller's school's staff's UT forms.
    async fn utilisation_scores(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<UtilisationScore>> {
        caller(ctx, ObjectKind::UtilisationScore, Action::Read)?;
        let page = page_request_by_id(first, after)?;
        let rows = uc::ut_scores(db(ctx), page.clone()).await?;
        let counter = db(ctx).clone();
        let count = move || -> BoxFuture<'static, AppResult<i64>> {
            Box::pin(async move { uc::ut_scores_count(&counter).await })
        };
        Ok(connection(ctx, &page, rows, count, |r| r.application_id.to_string(), UtilisationScore).await?)
    }

    /// An application by id; null when out of scope.
    async fn mobility_application(&self, ctx: &Context<'_>, id: ID) -> Result<Option<MobilityApplication>> {
        caller(ctx, ObjectKind::MobilityApplication, Action::Read)?;
        let id = id_arg("id", &id)?;
        Ok(uc::application(db(ctx), id).await?.map(MobilityApplication::new))
    }
}

#[derive(Default)]
pub struct ApplicationsMutation;

#[Object]
impl ApplicationsMutation {
    /// A new draft of the signed-in teacher: drafts are created at any time.
    async fn create_mobility_application(
        &self,
        ctx: &Context<'_>,
        input: MobilityApplicationInput,
    ) -> Result<MobilityApplication> {
        teacher_writes(ctx)?;
        let input = form_input(input)?;
        Ok(MobilityApplication::new(uc::create(db(ctx), input, now(ctx)).await?))
    }

    /// Edits a draft, or a withdrawn form (which becomes a draft again).
    async fn update_mobility_application(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: MobilityApplicationInput,
    ) -> Result<MobilityApplication> {
        teacher_writes(ctx)?;
        let id = id_arg("id", &id)?;
        let input = form_input(input)?;
        Ok(MobilityApplication::new(uc::update(db(ctx), id, input, now(ctx)).await?))
    }

    /// Submits inside the window, confirmed with the personal code: every
    /// rule is checked; a refusal stores nothing. The answer carries the
    /// protocol number and the warnings; a receipt goes by e-mail.
    async fn submit_mobility_application(
        &self,
        ctx: &Context<'_>,
        id: ID,
        personal_code: String,
    ) -> Result<MobilityApplication> {
        teacher_writes(ctx)?;
        let id = id_arg("id", &id)?;
        let check = code_check(ctx, &personal_code)?;
        let mailer = ctx.data_opt::<Mailer>();
        Ok(MobilityApplication::new(uc::submit(db(ctx), check, mailer, id, now(ctx)).await?))
    }

    /// Withdraws a submitted form while its window is open, with the personal code.
    async fn withdraw_mobility_application(
        &self,
        ctx: &Context<'_>,
        id: ID,
        personal_code: String,
    ) -> Result<MobilityApplication> {
        teacher_writes(ctx)?;
        let id = id_arg("id", &id)?;
        let check = code_check(ctx, &personal_code)?;
        Ok(MobilityApplication::new(uc::withdraw(db(ctx), check, id, now(ctx)).await?))
    }

    /// The office enters a paper form (the paper categories of CH-1 and the
    /// forms for an order of the other cycle), checked on its day of receipt.
    async fn record_paper_mobility_application(
        &self,
        ctx: &Context<'_>,
        teacher_tax_code: String,
        input: MobilityApplicationInput,
        received_on: Date,
    ) -> Result<MobilityApplication> {
        let c = caller(ctx, ObjectKind::MobilityApplication, Action::Write)?;
        let input = form_input(input)?;
        let row = uc::record_paper(db(ctx), &c, &teacher_tax_code, input, received_on.0, now(ctx)).await?;
        Ok(MobilityApplication::new(row))
    }

    /// DOC-5: links a document of the teacher's history to an application
    /// without a new upload. Only its owner may; it needs confirming again.
    async fn import_attachment_from_history(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        attachment_id: ID,
    ) -> Result<Attachment> {
        let c = teacher_writes(ctx)?;
        let user = subject(ctx)?.user_id;
        let source = uuid_arg("attachmentId", &attachment_id)?;
        let parent = id_arg("applicationId", &application_id)?.to_string();
        let kind = crate::usecases::attachments::Kind::ApplicationDocument;
        Ok(Attachment(crate::usecases::attachments::attach_again(db(ctx), &c, user, source, kind, parent).await?))
    }

    /// DOC-4: confirms a document of the teacher's application with the
    /// personal code; only confirmed documents count.
    async fn confirm_mobility_attachment(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        attachment_id: ID,
        personal_code: String,
    ) -> Result<Attachment> {
        teacher_writes(ctx)?;
        let id = id_arg("applicationId", &application_id)?;
        let attachment = uuid_arg("attachmentId", &attachment_id)?;
        let check = code_check(ctx, &personal_code)?;
        Ok(Attachment(uc::confirm_document(db(ctx), check, id, attachment, now(ctx)).await?))
    }

    /// DOC-6: the office records a document delivered by hand, registered
    /// post or PEC, on its day of receipt.
    async fn record_document_receipt(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        input: DocumentReceiptInput,
    ) -> Result<MobilityApplication> {
        let c = caller(ctx, ObjectKind::MobilityApplication, Action::Write)?;
        let id = id_arg("applicationId", &application_id)?;
        let channel = match input.channel {
            DeliveryChannel::Online => "online",
            DeliveryChannel::Hand => "hand",
            DeliveryChannel::RegisteredPost => "registered_post",
            DeliveryChannel::Pec => "pec",
        };
        let receipt = uc::Receipt {
            kind: input.document_kind.into(),
            channel,
            received_on: input.received_on.0,
            precedence: input.precedence.map(Into::into),
        };
        let row = uc::record_receipt(db(ctx), &c, id, receipt, now(ctx)).await?;
        Ok(MobilityApplication::new(row))
    }

    /// The office recognises or denies a precedence, with a reason.
    async fn decide_precedence(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        code: PrecedenceCode,
        recognised: bool,
        reason: String,
    ) -> Result<MobilityApplication> {
        let c = caller(ctx, ObjectKind::MobilityApplication, Action::Write)?;
        let id = id_arg("applicationId", &application_id)?;
        Ok(MobilityApplication::new(uc::decide_precedence(db(ctx), &c, id, code.into(), recognised, &reason).await?))
    }

    /// SC-U4: the school of service validates (or corrects) a declared
    /// utilisation score.
    async fn validate_utilisation_score(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        score: f64,
        note: Option<String>,
    ) -> Result<UtilisationScore> {
        let c = caller(ctx, ObjectKind::UtilisationScore, Action::Write)?;
        let id = id_arg("applicationId", &application_id)?;
        let user = subject(ctx)?.user_id;
        Ok(UtilisationScore(uc::validate_ut_score(db(ctx), &c, user, id, score, note, now(ctx)).await?))
    }

    /// The office corrects the family score of an AP, with a reason.
    async fn set_family_score(
        &self,
        ctx: &Context<'_>,
        application_id: ID,
        score: FamilyScoreInput,
        reason: String,
    ) -> Result<MobilityApplication> {
        let c = caller(ctx, ObjectKind::MobilityApplication, Action::Write)?;
        let id = id_arg("applicationId", &application_id)?;
        let score = [score.a, score.b, score.c, score.d];
        Ok(MobilityApplication::new(uc::set_family_score(db(ctx), &c, id, score, &reason).await?))
    }
}

/// How a document reached the office (DOC-6).
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq)]
pub enum DeliveryChannel {
    Online,
    Hand,
    RegisteredPost,
    Pec,
}

#[derive(InputObject)]
pub struct DocumentReceiptInput {
    pub document_kind: MobilityDocumentKind,
    pub channel: DeliveryChannel,
    /// The day of receipt; for registered post the postmark, for PEC the delivery.
    pub received_on: Date,
    /// The precedence the document backs, if any.
    pub precedence: Option<PrecedenceCode>,
}

#[derive(InputObject)]
pub struct FamilyScoreInput {
    pub a: i32,
    pub b: i32,
    pub c: i32,
    pub d: i32,
}
