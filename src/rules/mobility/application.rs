//! A whole application checked at once (spec §3, §4, §5, §6): who may ask
//! for what, with which preferences and precedences. The use case loads the
//! registry row, the campaign, the territory of the codes named and the
//! teacher's other forms; this module decides, with no I/O. A refusal is the
//! first rule broken (nothing is stored); otherwise every preference and
//! precedence comes back with its standing, and every not-recognised item
//! or ineffective preference is a warning the teacher can fix in the window.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::eligibility::{self, Reason, ReasonKind, Tenure};
use super::scores::{self, FamilyDeclarations, FamilyScore};
use super::windows::{self, Category, Channel, Windows};
use super::{DocumentKind, Finding, Order};

fn refused(rule: &'static str, why: impl Into<String>) -> Finding {
    Finding::refused(rule, "BAD_USER_INPUT", why)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Ap,
    Ut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    Provincial,
    Interprovincial,
}

/// Post types (spec §6): the seed's four codes and the internal ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PostType {
    Nn,
    Eh,
    Ch,
    Dh,
    Lingua,
    Speciale,
    Idd,
}

impl PostType {
    pub fn support(self) -> bool {
        matches!(self, PostType::Eh | PostType::Ch | PostType::Dh)
    }

    /// Support, special and IDD posts are interchangeable for the five-year
    /// constraint (SOS-2).
    fn constrained(self) -> bool {
        self.support() || matches!(self, PostType::Speciale | PostType::Idd)
    }

    /// POST-1..3: the post types each order's form offers.
    fn offered_in(self, order: Order) -> bool {
        match self {
            PostType::Nn | PostType::Eh | PostType::Ch | PostType::Dh => true,
            PostType::Lingua => order == Order::Primaria,
            PostType::Speciale | PostType::Idd => order.first_cycle(),
        }
    }
}

/// How the teacher holds their post (*titolarità*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldingKind {
    School,
    Ambit,
    Province,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Probation {
    Passed,
    NotDone,
    NotFinished,
    Unfavourable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qualification {
    pub order: Order,
    pub class: Option<String>,
    pub obtained_on: NaiveDate,
}

/// The registry row of the applicant, with the places of the holding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Teacher {
    /// UT-3: when the foreign-language title was obtained (snapshots of
    /// forms submitted before the field have none).
    #[serde(default)]
    pub language_title: Option<NaiveDate>,
    pub category: Category,
    pub tenure: Tenure,
    pub order: Order,
    pub class: Option<String>,
    pub post_type: PostType,
    pub holding: HoldingKind,
    pub province: String,
    /// The municipality and district of a held school.
    pub municipality: Option<String>,
    pub district: Option<String>,
    pub probation: Option<Probation>,
    pub qualifications: Vec<Qualification>,
    pub support_titles: Vec<(PostType, NaiveDate)>,
    pub support_constraint_satisfied: bool,
    /// PROV-2: Concorso 2012, phase B or C, and the region of the merit ranking.
    pub concorso_2012_phase: Option<String>,
    pub merit_region: Option<String>,
    /// POST-8: weekly service hours when part-time (none: full time, and
    /// snapshots taken before the field).
    #[serde(default)]
    pub service_hours: Option<u32>,
}

/// Where a preference code lies, as the territory says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub province: String,
    pub region: String,
    /// The municipality the code lies wholly inside (a school, a
    /// municipality, a district of one city), if any.
    pub municipality: Option<String>,
    /// The district of a school, or the district itself.
    pub district: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PrefKind {
    School,
    Municipality,
    District,
    Province,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preference {
    pub kind: PrefKind,
    pub code: String,
}

/// The art. 8 precedences (spec §4.2), in their order of priority (§4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Precedence {
    ABlind,
    BDialysis,
    DDisabilityArt21,
    ESeriousIllness,
    FSevereHandicapSelf,
    GAssistChild,
    HAssistSpouseOrParent,
    ISoleRelative,
    LChildUnder6,
    MChild6To12,
    NReturnOutOfRole,
    OMilitarySpouse,
    QLocalPublicOffice,
    RUnionLeaveEnd,
}

impl Precedence {
    /// PRE-0e: the form that offers it.
    fn offered_on(self, kind: Kind) -> bool {
        match self {
            Precedence::MChild6To12
            | Precedence::OMilitarySpouse
            | Precedence::QLocalPublicOffice
            | Precedence::RUnionLeaveEnd => kind == Kind::Ap,
            Precedence::NReturnOutOfRole => kind == Kind::Ut,
            _ => true,
        }
    }

    /// PRE-0c: the precedences that rest on a medical fact.
    fn medical(self) -> bool {
        matches!(
            self,
            Precedence::ABlind
                | Precedence::BDialysis
                | Precedence::DDisabilityArt21
                | Precedence::ESeriousIllness
                | Precedence::FSevereHandicapSelf
                | Precedence::GAssistChild
                | Precedence::HAssistSpouseOrParent
                | Precedence::ISoleRelative
        )
    }

    /// DOC-9 (spec §4.3): the documents a provisional assignment's
    /// precedence rests on, each needed by the deadline, besides the
    /// medical certificate of PRE-0c. A utilisation needs none for the
    /// precedences the school already evaluated (DOC-7), so only the AP
    /// form asks for them.
    fn documents_needed(self) -> &'static [DocumentKind] {
        use DocumentKind as D;
        match self {
            Precedence::ESeriousIllness => &[D::AslCertificate],
            Precedence::FSevereHandicapSelf => &[D::DisabilityCertificate104],
            // Severity (art. 3 c. 3), and the declaration that the person is
            // not in full-time residential care (L369).
            Precedence::GAssistChild | Precedence::HAssistSpouseOrParent | Precedence::ISoleRelative => {
                &[D::DisabilityCertificate104, D::SelfDeclaration]
            }
            Precedence::OMilitarySpouse => &[D::SelfDeclaration, D::SpouseCohabitationDeclaration],
            Precedence::QLocalPublicOffice => &[D::MandateDeclaration],
            Precedence::RUnionLeaveEnd => &[D::UnionLeaveDeclaration],
            _ => &[],
        }
    }

    /// The precedences whose municipality must come first (§4.2: e, f from
    /// preference 1; g, h, i before any other municipality; q the mandate seat).
    fn municipality_rule(self) -> Option<&'static str> {
        match self {
            Precedence::ESeriousIllness => Some("PRE-E"),
            Precedence::FSevereHandicapSelf => Some("PRE-F"),
            Precedence::GAssistChild | Precedence::HAssistSpouseOrParent | Precedence::ISoleRelative => Some("PRE-GHI"),
            Precedence::QLocalPublicOffice => Some("PRE-Q"),
            _ => None,
        }
    }
}

/// A document of the application, as far as the rules go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub kind: DocumentKind,
    pub received_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrecedenceClaim {
    pub code: Precedence,
    pub documents: Vec<Document>,
    pub child_birth_date: Option<NaiveDate>,
    /// The municipality of care (e), residence (f), of the assisted person
    /// (g, h, i) or of the mandate (q).
    pub municipality: Option<String>,
    /// What the particular conditions of spec §4.3 read.
    #[serde(default)]
    pub details: PrecedenceDetails,
}

/// Who assists the disabled person, for (g), (h) and (i) (spec §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssistedBy {
    /// (g) a mother or father.
    Parent,
    /// (g) a cohabiting sibling, both parents dead or totally unable.
    Sibling,
    /// (g) a legal guardian by court order.
    LegalGuardian,
    /// Not a guardian: «non è in alcun modo equiparabile» (L383–388).
    SupportAdministrator,
    /// (h) the spouse.
    Spouse,
    /// (h) the child who is sole referent for a parent.
    Child,
    /// (i) a relative or in-law, with its degree.
    Relative,
    /// (i) the only foster carer.
    FosterCarer,
}

/// The declarations the particular conditions of a precedence read (spec
/// §4.3); each is what the teacher declares, the documents back it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrecedenceDetails {
    /// (d) the degree of civil invalidity, in percent.
    pub invalidity_percent: Option<u8>,
    /// (d) the category of table A, L. 648/1950.
    pub table_a_category: Option<u8>,
    pub assisted_by: Option<AssistedBy>,
    /// (i) the degree of kinship or affinity.
    pub kinship_degree: Option<u8>,
    /// (i) 3rd degree: the parents or spouse of the disabled person are 65
    /// or over, ill with disabling illnesses, dead or missing (L479).
    pub third_degree_condition: bool,
    /// (i) 3rd degree: no relative or in-law of a lower degree (L479).
    pub no_closer_relatives: bool,
    /// (h) child of a parent, (i): the only one who can assist (L437, L442).
    pub sole_referent: bool,
    /// (g) sibling: both parents dead or totally unable (L392).
    pub parents_unable: bool,
    /// (g) sibling: living with the disabled person (L399).
    pub cohabiting: bool,
    /// (r) domiciled in the province since (L609).
    pub domiciled_since: Option<NaiveDate>,
    /// (g, h, i) a family doctor's provisional certificate of Down
    /// syndrome (DOC-8).
    pub down_syndrome_provisional: bool,
}

/// The utilisation categories (spec §3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum UtCategory {
    SurplusAmbito,
    TransferredSince2008,
    NoSeat,
    Hired2015ExOfficio,
    Restored,
    NoAmbitoPhaseC,
    SpecialisedCurricular,
    Reconversion,
    PrimariaLanguage,
    SpecialSettings,
    ExDosNotConfirmed,
    ExDosMoved,
    DopMoved,
    SurplusOf,
    Esubero,
    Other,
}

/// IDD methods (POST-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IddMethod {
    Montessori,
    Agazzi,
    Pizzigoni,
}

/// Primaria: which of common and language posts comes first (POST-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LanguageOrder {
    CommonFirst,
    LanguageFirst,
}

/// I/II grado: which chairs the teacher accepts (POST-7). No choice is
/// internal chairs only («Nessuna selezione»); the external options never
/// exclude internal chairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChairOption {
    InternalOnly,
    ExternalSameMunicipality,
    ExternalOtherMunicipalities,
}

/// Utilisation activities (POST-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UtActivity {
    /// Art. 3 c. 1 projects, every order.
    Art3Projects,
    /// Art. 6 ter projects: not infanzia.
    Art6TerProjects,
    Hospitals,
    Prisons,
    /// Technical offices (art. 5 c. 4): II grado only.
    TechnicalOffice,
}

/// The request options of spec §6 (POST-2, POST-4, POST-6..13).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestOptions {
    pub idd_methods: Vec<IddMethod>,
    pub language_order: Option<LanguageOrder>,
    /// I grado: also classes on the extended timetable (POST-6).
    pub extended_timetable: bool,
    /// II grado: also adult education courses (POST-6).
    pub adult_courses: bool,
    pub chairs: Option<ChairOption>,
    /// AP: posts made of several part-posts (POST-8).
    pub part_posts: bool,
    /// UT: posts lasting less than a year (POST-9).
    pub short_posts: bool,
    /// UT, primaria and I grado: posts spread over several schools (POST-9).
    pub several_schools: bool,
    pub activities: Vec<UtActivity>,
    /// UT on CPIA seats and second-level courses (POST-11).
    pub cpia: bool,
    /// UT, I/II grado: the classes for utilisation (casella 31/32, POST-12).
    pub ut_classes: Vec<String>,
    /// UT: placement at disposal in the previous school (POST-13).
    pub at_disposal: bool,
}

/// Sezione E (UT-E1): a teacher moved as surplus asks to return to the
/// school held before, as preference 1 (or, subordinately, its district or
/// municipality).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionE {
    /// The previous school (infanzia: the circolo; primaria: the site that hosts it).
    pub previous_school: String,
    /// The post previously held was a support post (UT-E2 ties).
    pub previous_support: bool,
    /// The first calendar year of the school year of the move (2008 = 2008/09).
    pub moved_in: i32,
    /// Declared: a transfer that included the previous school was asked in
    /// every year of the eight-year period.
    pub asked_every_year: bool,
}

/// UT-CONF: confirmation in the school of use of the year before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub school: String,
    /// I/II grado: the class and the post type (`NN`, `EH`, `CH`, `DH`).
    pub class: Option<String>,
    pub post_type: Option<PostType>,
    /// Used on another class in (Y−1)/Y because the own class was in esubero.
    pub other_class_for_esubero: bool,
}

/// What the teacher (or the office, for paper) filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Form {
    pub kind: Kind,
    pub order: Order,
    pub scope: Scope,
    pub channel: Channel,
    pub class: Option<String>,
    pub additional_classes: Vec<String>,
    pub post_types: Vec<PostType>,
    pub reasons: Vec<Reason>,
    /// The *ricongiungimento* municipality (casella A).
    pub reunion_municipality: Option<String>,
    pub family: FamilyDeclarations,
    pub precedences: Vec<PrecedenceClaim>,
    pub ut_categories: Vec<UtCategory>,
    pub preferences: Vec<Preference>,
    #[serde(default)]
    pub options: RequestOptions,
    #[serde(default)]
    pub section_e: Option<SectionE>,
    #[serde(default)]
    pub confirmation: Option<Confirmation>,
    /// PREF-7: where the nearest-seat chain starts (a municipality or a
    /// district), for ex-officio treatment when no preference can be met.
    #[serde(default)]
    pub chain_start: Option<Preference>,
    /// An IRC form's requested diocese (seed L83).
    #[serde(default)]
    pub diocese: Option<String>,
    /// SC-U2: a UT's score, part by part.
    #[serde(default)]
    pub ut_score: Option<scores::UtComponents>,
}

/// Another form of the same teacher in the same campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherForm {
    pub kind: Kind,
    pub order: Order,
    pub submitted: bool,
}

/// Everything a check reads besides the form.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub year: i32,
    pub windows: &'a Windows,
    pub teacher: &'a Teacher,
    /// The region of each province named (the holding's included).
    pub regions: &'a BTreeMap<String, String>,
    /// Where each preference code lies; a missing code is unknown (PREF-2).
    pub places: &'a BTreeMap<(PrefKind, String), Place>,
    /// Municipalities with more than one district (COM-2).
    pub multi_district: &'a BTreeSet<String>,
    /// The surplus of the teacher's class or post in their province (UTIP-1, UT-4).
    pub esubero: i32,
    pub others: &'a [OtherForm],
    /// The day the form is submitted, or received on paper.
    pub day: NaiveDate,
    /// The see of the diocese the form names (its province and region);
    /// `None` when it names none or one the office has not loaded.
    pub diocese: Option<&'a Place>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreferenceOutcome {
    pub position: usize,
    pub kind: PrefKind,
    pub code: String,
    pub effective: bool,
    pub rule: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrecedenceOutcome {
    pub code: Precedence,
    /// `Some(false)` when a rule refuses it; `None` until the office decides.
    pub recognised: Option<bool>,
    pub rule: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub rule: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// Where the application goes (R-ROUTE-1): the office of this province,
    /// or, for an IRC form, the see of its diocese.
    pub processing_province: String,
    /// An IRC form goes to the regional directorate of this region instead.
    pub processing_region: Option<String>,
    pub preferences: Vec<PreferenceOutcome>,
    pub precedences: Vec<PrecedenceOutcome>,
    pub family: Option<FamilyScore>,
    /// UT-E1: whether the return to the previous school is recognised.
    pub section_e: Option<bool>,
    /// SC-U2, SC-U3: a UT's score from its declared components.
    pub ut_score: Option<scores::UtScore>,
    pub warnings: Vec<Warning>,
}

/// The form's rank among the teacher's forms (ORG-4): the own order first.
pub const MAX_FORMS: usize = 3;

/// PREF-1: how many preferences a form of this order takes.
pub fn max_preferences(order: Order) -> usize {
    if order.first_cycle() { 20 } else { 15 }
}

/// The checks that need no window: what a draft must already respect.
pub fn check_shape(form: &Form, cx: &Context<'_>) -> Result<(), Finding> {
    let t = cx.teacher;
    if form.preferences.len() > max_preferences(form.order) {
        return Err(refused(
            "PREF-1",
            format!("at most {} preferences for {}", max_preferences(form.order), form.order.label()),
        ));
    }
    let mut seen = BTreeSet::new();
    for p in &form.preferences {
        if !seen.insert((p.kind, p.code.as_str())) {
            return Err(refused("PREF-2", format!("the code {} is listed twice", p.code)));
        }
        if !cx.places.contains_key(&(p.kind, p.code.clone())) {
            return Err(refused("PREF-2", format!("the code {} is not a {:?} of the territory", p.code, p.kind)));
        }
    }
    for pt in &form.post_types {
        if !pt.offered_in(form.order) {
            return Err(refused("POST-1", format!("{pt:?} posts are not offered for {}", form.order.label())));
        }
    }
    check_options(form, t)?;
    for c in &form.additional_classes {
        if Some(c) == t.class.as_ref() {
            return Err(refused("ORG-5", "additional classes must differ from the class held"));
        }
    }
    for claim in &form.precedences {
        if !claim.code.offered_on(form.kind) {
            return Err(refused("PRE-0e", format!("{:?} is not offered on the {:?} form", claim.code, form.kind)));
        }
    }
    if form.kind == Kind::Ap && !form.ut_categories.is_empty() {
        return Err(refused("UT-1", "utilisation categories belong on the UT form"));
    }
    if form.kind == Kind::Ap && form.section_e.is_some() {
        return Err(refused("UT-E1", "Sezione E belongs on the UT form"));
    }
    if let Some(conf) = &form.confirmation {
        check_confirmation(form, conf, cx)?;
    }
    if let Some(start) = &form.chain_start {
        check_chain_start(form, start, cx)?;
    }
    if let Some(e) = &form.section_e
        && !cx.places.contains_key(&(PrefKind::School, e.previous_school.clone()))
    {
        return Err(refused("UT-E1", format!("{} is not a school of the territory", e.previous_school)));
    }
    Ok(())
}

/// PREF-7: only a utilisation of a teacher in surplus or on a provincial
/// endowment names where the nearest-seat chain starts: a municipality or
/// district of the teacher's own province.
fn check_chain_start(form: &Form, start: &Preference, cx: &Context<'_>) -> Result<(), Finding> {
    use UtCategory as C;
    let surplus = [C::SurplusOf, C::SurplusAmbito, C::Esubero, C::DopMoved];
    if form.kind != Kind::Ut || !form.ut_categories.iter().any(|c| surplus.contains(c)) {
        return Err(refused("PREF-7", "the nearest-seat chain is for a utilisation in surplus or on a DOP"));
    }
    if !matches!(start.kind, PrefKind::Municipality | PrefKind::District) {
        return Err(refused("PREF-7", "the chain starts at a municipality or a district"));
    }
    match cx.places.get(&(start.kind, start.code.clone())) {
        Some(p) if p.province == cx.teacher.province => Ok(()),
        _ => Err(refused("PREF-7", format!("{} is not in the province {}", start.code, cx.teacher.province))),
    }
}

/// UT-CONF: on the UT form only, in a known school; I/II grado name the
/// class and one of the seed's four post codes, the first cycle neither.
fn check_confirmation(form: &Form, conf: &Confirmation, cx: &Context<'_>) -> Result<(), Finding> {
    if form.kind == Kind::Ap {
        return Err(refused("UT-CONF", "confirmation belongs on the UT form"));
    }
    if !cx.places.contains_key(&(PrefKind::School, conf.school.clone())) {
        return Err(refused("UT-CONF", format!("{} is not a school of the territory", conf.school)));
    }
    let seed_code =
        conf.post_type.is_some_and(|p| matches!(p, PostType::Nn | PostType::Eh | PostType::Ch | PostType::Dh));
    match form.order.first_cycle() {
        false if conf.class.is_none() || !seed_code => {
            Err(refused("UT-CONF", "I and II grado confirm a class and a post type (NN, EH, CH or DH)"))
        }
        true if conf.class.is_some() || conf.post_type.is_some() || conf.other_class_for_esubero => {
            Err(refused("UT-CONF", "infanzia and primaria confirm the school only"))
        }
        _ => Ok(()),
    }
}

/// UT-E1: recognised when the move dates from (Y−8)/(Y−7) on, a transfer
/// to the previous school was asked every year, and preference 1 is the
/// previous school, or its district or municipality. Otherwise not
/// recognised, with a warning; the form stands.
fn section_e_outcome(e: &SectionE, form: &Form, cx: &Context<'_>, warnings: &mut Vec<Warning>) -> bool {
    let mut fail = |why: String| warnings.push(Warning { rule: "UT-E1".into(), message: why });
    let mut ok = true;
    if e.moved_in < cx.year - 8 {
        fail(format!("the move must date from {}/{:02} or later", cx.year - 8, (cx.year - 7) % 100));
        ok = false;
    }
    if !e.asked_every_year {
        fail("a transfer including the previous school must have been asked in every year of the eight".into());
        ok = false;
    }
    let previous = &cx.places[&(PrefKind::School, e.previous_school.clone())];
    let first_matches = form.preferences.first().is_some_and(|p| match p.kind {
        PrefKind::School => p.code == e.previous_school,
        PrefKind::District => previous.district.as_deref() == Some(p.code.as_str()),
        PrefKind::Municipality => previous.municipality.as_deref() == Some(p.code.as_str()),
        PrefKind::Province => false,
    });
    if !first_matches {
        fail("preference 1 must be the previous school, or its district or municipality".into());
        ok = false;
    }
    ok
}

/// The whole check of a submission (or of a paper form on its day of
/// receipt): the first refusal, or the standing of every item.
pub fn assess(form: &Form, cx: &Context<'_>) -> Result<Assessment, Finding> {
    let t = cx.teacher;
    let form_cx = windows::Form { category: t.category, order: Some(form.order), channel: form.channel };
    windows::check(cx.windows, &form_cx, cx.day)?;
    check_shape(form, cx)?;
    let deadline = windows::titles_deadline(cx.windows, t.category).unwrap_or(cx.day);
    let other_order = form.order != t.order;
    // ORG-4 and ORG-2: one form per kind and order, the own order's first.
    if cx.others.iter().any(|o| o.kind == form.kind && o.order == form.order && o.submitted) {
        return Err(Finding::refused("ORG-4", "CONFLICT", "a form for this order is already submitted"));
    }
    if cx.others.iter().filter(|o| o.kind == form.kind && o.submitted).count() >= MAX_FORMS {
        return Err(Finding::refused("ORG-4", "CONFLICT", format!("at most {MAX_FORMS} forms of this kind")));
    }
    if form.kind == Kind::Ap
        && other_order
        && !cx.others.iter().any(|o| o.kind == Kind::Ap && o.order == t.order && o.submitted)
    {
        return Err(refused("ORG-2", "a form for another order needs a submitted form for the post held"));
    }
    let asks_other_class = form.class.is_some() && form.class != t.class;
    match form.kind {
        Kind::Ap => {
            eligibility::check_ap(&t.tenure, &form.reasons, cx.year, deadline)?;
            if other_order || asks_other_class || !form.additional_classes.is_empty() {
                check_org1(form, t, deadline)?;
            }
            let family = form.reasons.iter().any(|r| r.kind != ReasonKind::OwnSeriousHealth);
            if family && form.reunion_municipality.is_none() {
                return Err(refused("REA-MUN", "a family reason needs the municipality where the family member lives"));
            }
        }
        Kind::Ut => {
            if form.ut_categories.is_empty() && form.confirmation.is_none() && form.section_e.is_none() {
                return Err(refused(
                    "UT-1",
                    "a utilisation needs a category of art. 2, a confirmation or a Sezione E request",
                ));
            }
            if form.scope == Scope::Interprovincial && cx.esubero <= 0 {
                return Err(refused(
                    "UTIP-1",
                    "an interprovincial utilisation needs a surplus of the class in the home province",
                ));
            }
            if !form.additional_classes.is_empty() && cx.esubero <= 0 {
                return Err(refused("UT-4", "other classes are for holders of a class in surplus"));
            }
            let language = form.post_types.contains(&PostType::Lingua)
                || form.ut_categories.contains(&UtCategory::PrimariaLanguage);
            if language && t.language_title.is_none_or(|d| d > deadline) {
                return Err(refused("UT-3", format!("a language post needs the language title by {deadline}")));
            }
            let only_specialised = !form.ut_categories.is_empty()
                && form.ut_categories.iter().all(|c| *c == UtCategory::SpecialisedCurricular);
            if only_specialised && (other_order || form.post_types.iter().any(|p| !p.support())) {
                return Err(refused(
                    "UT-2",
                    "a curricular teacher with a support title is used on support, in the same grade",
                ));
            }
        }
    }
    check_posts(form, t, deadline)?;
    if form.preferences.is_empty() {
        return Err(refused("PREF-2", "at least one preference"));
    }
    let mut processing = provinces(form, cx)?;
    let processing_region = diocese_route(form, cx)?.map(|see| {
        processing = see.province.clone();
        see.region.clone()
    });
    check_same_municipality(form, cx)?;
    let mut warnings = Vec::new();
    let preferences = preference_outcomes(form, cx, &mut warnings);
    let precedences = precedence_outcomes(form, cx, deadline, &mut warnings);
    let family = (form.kind == Kind::Ap).then(|| scores::family_score(&form.family, cx.year, deadline));
    if let Some(f) = &family {
        for line in f.lines.iter().filter(|l| !l.recognised) {
            warnings.push(Warning { rule: line.rule.to_owned(), message: line.reason.clone() });
        }
    }
    let section_e = form.section_e.as_ref().map(|e| section_e_outcome(e, form, cx, &mut warnings));
    let ut_score = match (&form.ut_score, form.kind) {
        (None, _) => None,
        (Some(_), Kind::Ap) => return Err(refused("SC-U2", "only a utilisation has a utilisation score")),
        (Some(c), Kind::Ut) => {
            let s = scores::ut_score(c, deadline).map_err(|r| refused("SC-U2", r))?;
            for late in &s.late {
                warnings.push(Warning {
                    rule: "SC-U3".into(),
                    message: format!("the title {late} was obtained after {deadline}: not counted"),
                });
            }
            Some(s)
        }
    };
    Ok(Assessment {
        processing_province: processing,
        processing_region,
        preferences,
        precedences,
        family,
        section_e,
        ut_score,
        warnings,
    })
}

/// R-ROUTE-1 for IRC teachers (seed L83): their forms go «alle Direzioni
/// Regionali nel cui territorio è ubicata la Diocesi richiesta». An IRC
/// form names a diocese the office knows; no other form names one.
fn diocese_route<'a>(form: &Form, cx: &Context<'a>) -> Result<Option<&'a Place>, Finding> {
    let irc = cx.teacher.category == Category::Irc;
    match (&form.diocese, cx.diocese) {
        (None, _) if irc => Err(refused("R-ROUTE-1", "an IRC form names the diocese requested")),
        (None, _) => Ok(None),
        (Some(_), _) if !irc => Err(refused("R-ROUTE-1", "only an IRC teacher's form names a diocese")),
        (Some(d), None) => Err(refused("R-ROUTE-1", format!("{d} is not a diocese on record"))),
        (Some(_), Some(see)) => Ok(Some(see)),
    }
}

/// ORG-1: another order, grade or class needs a passed probation in the
/// own role and the qualification for what is asked, both by the deadline.
fn check_org1(form: &Form, t: &Teacher, deadline: NaiveDate) -> Result<(), Finding> {
    if t.probation != Some(Probation::Passed) {
        return Err(refused("ORG-1", "another order or class needs a passed probation in the own role"));
    }
    let qualified = |class: Option<&String>| {
        t.qualifications.iter().any(|q| {
            q.order == form.order && q.obtained_on <= deadline && (class.is_none() || q.class.as_ref() == class)
        })
    };
    let asked = form.class.as_ref().filter(|c| Some(*c) != t.class.as_ref());
    if (form.order != t.order || asked.is_some()) && !qualified(asked) {
        return Err(refused("ORG-1", format!("no qualification for what is asked, obtained by {deadline}")));
    }
    if let Some(c) = form.additional_classes.iter().find(|c| !qualified(Some(c))) {
        return Err(refused("ORG-1", format!("no qualification for the class {c}, obtained by {deadline}")));
    }
    Ok(())
}

/// POST-2, POST-4, POST-6..13: each request option only on the form and
/// order that offer it, and with the posts it qualifies.
fn check_options(form: &Form, t: &Teacher) -> Result<(), Finding> {
    let o = &form.options;
    let (ap, ut) = (form.kind == Kind::Ap, form.kind == Kind::Ut);
    let order = form.order;
    let asks = |p: PostType| form.post_types.contains(&p);
    let only = |rule: &'static str, allowed: bool, what: &str| {
        if allowed { Ok(()) } else { Err(refused(rule, format!("{what} ({})", order.label()))) }
    };
    // POST-4: methods go with IDD posts; Pizzigoni exists only in primaria.
    only("POST-4", o.idd_methods.is_empty() || asks(PostType::Idd), "IDD methods go with IDD posts")?;
    only("POST-4", !asks(PostType::Idd) || !o.idd_methods.is_empty(), "IDD posts need at least one method")?;
    let pizzigoni = o.idd_methods.contains(&IddMethod::Pizzigoni);
    only("POST-4", !pizzigoni || order == Order::Primaria, "the Pizzigoni method exists only in primaria")?;
    // POST-2: the order between common and language posts, in primaria, when both are asked.
    let both = asks(PostType::Nn) && asks(PostType::Lingua);
    only("POST-2", o.language_order.is_none() || both, "the order between common and language posts needs both")?;
    only("POST-2", !both || o.language_order.is_some(), "give the order between common and language posts")?;
    only(
        "POST-6",
        !o.extended_timetable || order == Order::SecondariaPrimoGrado,
        "the extended timetable is I grado's",
    )?;
    only("POST-6", !o.adult_courses || order == Order::SecondariaSecondoGrado, "adult courses are II grado's")?;
    only("POST-7", o.chairs.is_none() || !order.first_cycle(), "chair options are I and II grado's")?;
    only("POST-8", !o.part_posts || ap, "posts of several part-posts are a provisional assignment's")?;
    only("POST-9", !o.short_posts || ut, "posts of less than a year are a utilisation's")?;
    let several = matches!(order, Order::Primaria | Order::SecondariaPrimoGrado);
    only("POST-9", !o.several_schools || (ut && several), "posts over several schools: UT, primaria and I grado")?;
    for a in &o.activities {
        only("POST-10", ut, "activities are a utilisation's")?;
        match a {
            UtActivity::Art3Projects => {}
            UtActivity::Art6TerProjects | UtActivity::Hospitals | UtActivity::Prisons => {
                only("POST-10", order != Order::Infanzia, "art. 6 ter projects, hospitals and prisons: not infanzia")?
            }
            UtActivity::TechnicalOffice => {
                only("POST-10", order == Order::SecondariaSecondoGrado, "technical offices are II grado's")?
            }
        }
    }
    only(
        "POST-11",
        !o.cpia || (ut && !t.post_type.constrained()),
        "CPIA: a utilisation, for holders of a curricular post",
    )?;
    only(
        "POST-12",
        o.ut_classes.is_empty() || (ut && !order.first_cycle()),
        "classes for utilisation: UT, I and II grado",
    )?;
    let mut seen = BTreeSet::new();
    for c in &o.ut_classes {
        let well_formed = (2..=8).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric());
        only("POST-12", well_formed && seen.insert(c), "each class for utilisation once, as its code")?;
    }
    only("POST-13", !o.at_disposal || ut, "placement at disposal is a utilisation's")?;
    Ok(())
}

/// SOS-1 and POST-5: a support holder within the five years asks only for
/// support, special or IDD posts; a support type needs its title by the
/// deadline (a polivalente title is all three), except while retraining.
fn check_posts(form: &Form, t: &Teacher, deadline: NaiveDate) -> Result<(), Finding> {
    if form.post_types.is_empty() {
        return Err(refused("POST-1", "at least one post type"));
    }
    let within_five_years = t.post_type.constrained() && !t.support_constraint_satisfied;
    if let Some(p) = form.post_types.iter().find(|p| within_five_years && !p.constrained()) {
        return Err(refused(
            "SOS-1",
            format!("{p:?} posts only once the five-year constraint on support is satisfied"),
        ));
    }
    let retraining = form.kind == Kind::Ut && form.ut_categories.contains(&UtCategory::Reconversion);
    for p in form.post_types.iter().filter(|p| p.support()) {
        let titled = t.support_titles.iter().any(|(held, on)| held == p && *on <= deadline);
        if !titled && !retraining {
            return Err(refused(
                "POST-5",
                format!("a {p:?} support post needs its specialisation title by {deadline}"),
            ));
        }
    }
    Ok(())
}

/// PROV-1/2/3: one province (the holding's for a provincial movement,
/// another for an interprovincial one); under the Concorso 2012 derogation
/// other provinces of the merit region follow the first. Answers the
/// processing office's province (R-ROUTE-1).
fn provinces(form: &Form, cx: &Context<'_>) -> Result<String, Finding> {
    let t = cx.teacher;
    let place = |p: &Preference| &cx.places[&(p.kind, p.code.clone())];
    let first = place(&form.preferences[0]).province.clone();
    match form.scope {
        Scope::Provincial if first != t.province => {
            return Err(refused("PROV-1", format!("a provincial movement stays in the province {}", t.province)));
        }
        Scope::Interprovincial if first == t.province => {
            return Err(refused("PROV-1", "an interprovincial movement asks for another province"));
        }
        _ => {}
    }
    let derogation = form.kind == Kind::Ap
        && matches!(t.concorso_2012_phase.as_deref(), Some("B" | "C"))
        && t.merit_region.is_some()
        && cx.regions.get(&first) == t.merit_region.as_ref();
    let mut left_first = false;
    for p in &form.preferences {
        let at = place(p);
        if at.province == first {
            if left_first {
                return Err(refused("PROV-2", "every preference for the first province comes before the others"));
            }
            continue;
        }
        left_first = true;
        let same_region = Some(&at.region) == t.merit_region.as_ref();
        if !derogation || !same_region || at.province == t.province && form.scope == Scope::Interprovincial {
            return Err(refused("PROV-1", format!("the code {} is outside the province {first}", p.code)));
        }
    }
    Ok(first)
}

/// COM-1..4: no AP within the municipality of the school held, except
/// towards another district of a city with several (COM-2); not for ambit
/// holders (COM-3) nor UT (COM-4).
fn check_same_municipality(form: &Form, cx: &Context<'_>) -> Result<(), Finding> {
    let t = cx.teacher;
    let (Kind::Ap, HoldingKind::School, Some(own)) = (form.kind, t.holding, t.municipality.as_ref()) else {
        return Ok(());
    };
    for p in &form.preferences {
        let at = &cx.places[&(p.kind, p.code.clone())];
        if at.municipality.as_ref() != Some(own) {
            continue;
        }
        let other_district = cx.multi_district.contains(own)
            && p.kind != PrefKind::Municipality
            && at.district.is_some()
            && at.district != t.district;
        if !other_district {
            return Err(refused("COM-1", format!("{} lies in the municipality of the school held", p.code)));
        }
    }
    Ok(())
}

/// PREF-3/3a: without the *ricongiungimento* municipality's own code among
/// the preferences, only schools in it for the class or post held count.
fn preference_outcomes(form: &Form, cx: &Context<'_>, warnings: &mut Vec<Warning>) -> Vec<PreferenceOutcome> {
    let reunion = form.reunion_municipality.as_ref().filter(|_| form.kind == Kind::Ap);
    let coded =
        reunion.is_none_or(|m| form.preferences.iter().any(|p| p.kind == PrefKind::Municipality && &p.code == m));
    let same_post =
        form.order == cx.teacher.order && form.class.as_ref().is_none_or(|c| Some(c) == cx.teacher.class.as_ref());
    form.preferences
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let at = &cx.places[&(p.kind, p.code.clone())];
            let kept = coded || (p.kind == PrefKind::School && at.municipality.as_ref() == reunion && same_post);
            let rule = (!kept).then(|| {
                warnings.push(Warning {
                    rule: "PREF-3a".into(),
                    message: format!(
                        "preference {} ({}) is ineffective: list the code of the municipality of reunion to ask beyond its schools",
                        i + 1,
                        p.code
                    ),
                });
                "PREF-3a".to_owned()
            });
            PreferenceOutcome { position: i + 1, kind: p.kind, code: p.code.clone(), effective: kept, rule }
        })
        .collect()
}

/// The standing of each precedence: refused by a rule (`Some(false)`), or
/// waiting for the office (`None`).
fn precedence_outcomes(
    form: &Form,
    cx: &Context<'_>,
    deadline: NaiveDate,
    warnings: &mut Vec<Warning>,
) -> Vec<PrecedenceOutcome> {
    let y = cx.year;
    let places: Vec<&Place> = form.preferences.iter().map(|p| &cx.places[&(p.kind, p.code.clone())]).collect();
    form.precedences
        .iter()
        .map(|claim| {
            let denied = precedence_denial(claim, form, &places, y, deadline);
            if claim.details.down_syndrome_provisional && claim.code.municipality_rule() == Some("PRE-GHI") {
                warnings.push(Warning {
                    rule: "DOC-8".into(),
                    message: "the family doctor's certificate of Down syndrome is provisional: hand in the final \
                              certificate within 10 days of receiving it"
                        .into(),
                });
            }
            if let Some((rule, why)) = &denied {
                warnings.push(Warning {
                    rule: (*rule).to_owned(),
                    message: format!("{:?} not recognised: {why}", claim.code),
                });
            }
            PrecedenceOutcome {
                code: claim.code,
                recognised: denied.as_ref().map(|_| false),
                rule: denied.map(|(r, _)| r.to_owned()),
            }
        })
        .collect()
}

/// PRE-0c and DOC-9: what a claim still lacks in documents by the
/// deadline, if anything. The office's review asks it again once receipts
/// are recorded: a precedence refused for want of documents alone may then
/// be recognised.
pub fn missing_documents(claim: &PrecedenceClaim, kind: Kind, deadline: NaiveDate) -> Option<(&'static str, String)> {
    let by_deadline = |k: DocumentKind| claim.documents.iter().any(|d| d.kind == k && d.received_on <= deadline);
    if claim.code.medical() {
        let certified = claim.documents.iter().any(|d| d.kind.medical() && d.received_on <= deadline);
        if !certified {
            return Some((
                "PRE-0c",
                format!("a medical certificate received by {deadline}; a self-declaration is not enough"),
            ));
        }
    }
    if kind == Kind::Ap {
        // Named as the API names document kinds.
        let missing: Vec<String> = claim
            .code
            .documents_needed()
            .iter()
            .filter(|k| !by_deadline(**k))
            .map(|k| k.as_str().to_ascii_uppercase())
            .collect();
        if !missing.is_empty() {
            return Some(("DOC-9", format!("needs {} received by {deadline}", missing.join(" and "))));
        }
    }
    None
}

/// The particular conditions of spec §4.3 on (d), (g), (h), (i) and (r):
/// the first one unmet, with its rule. Unmet means not recognised (PRE-0d).
fn particular_condition(claim: &PrecedenceClaim, form: &Form, deadline: NaiveDate) -> Option<(&'static str, String)> {
    let d = &claim.details;
    let has = |k: DocumentKind| claim.documents.iter().any(|x| x.kind == k && x.received_on <= deadline);
    let unmet = |rule: &'static str, why: &str| Some((rule, why.to_owned()));
    let assist =
        matches!(claim.code, Precedence::GAssistChild | Precedence::HAssistSpouseOrParent | Precedence::ISoleRelative);
    // L376: lost when the AP rejoins another family member who lives in
    // another municipality than the assisted person.
    if assist
        && form.kind == Kind::Ap
        && form.reunion_municipality.as_ref().is_some_and(|r| claim.municipality.as_ref().is_some_and(|m| m != r))
    {
        return unmet(
            "PRE-GHI",
            "the assignment rejoins a family member in another municipality than the assisted person",
        );
    }
    match (claim.code, d.assisted_by) {
        (Precedence::DDisabilityArt21, _) => {
            let percent = d.invalidity_percent.is_some_and(|p| p >= 67);
            let table_a = d.table_a_category.is_some_and(|c| (1..=3).contains(&c));
            if !percent && !table_a {
                return unmet(
                    "PRE-D",
                    "an invalidity above two thirds with a disability, or table A categories 1 to 3",
                );
            }
        }
        (Precedence::GAssistChild, None | Some(AssistedBy::Parent)) => {}
        (Precedence::GAssistChild, Some(AssistedBy::Sibling)) if !(d.parents_unable && d.cohabiting) => {
            return unmet(
                "PRE-G",
                "a sibling assists when both parents are dead or totally unable, and lives with the person",
            );
        }
        (Precedence::GAssistChild, Some(AssistedBy::Sibling)) => {}
        (Precedence::GAssistChild, Some(AssistedBy::LegalGuardian)) if !has(DocumentKind::CourtOrderGuardianship) => {
            return Some(("PRE-G", format!("a legal guardian needs the court order received by {deadline}")));
        }
        (Precedence::GAssistChild, Some(AssistedBy::LegalGuardian)) => {}
        (Precedence::GAssistChild, Some(AssistedBy::SupportAdministrator)) => {
            return unmet("PRE-G", "a support administrator is not a legal guardian");
        }
        (Precedence::GAssistChild, Some(_)) => {
            return unmet("PRE-G", "a parent, a cohabiting sibling or a legal guardian assists the child");
        }
        (Precedence::HAssistSpouseOrParent, None | Some(AssistedBy::Spouse)) => {}
        (Precedence::HAssistSpouseOrParent, Some(AssistedBy::Child)) if !d.sole_referent => {
            return unmet("PRE-H", "a child assisting a parent must be the sole referent");
        }
        (Precedence::HAssistSpouseOrParent, Some(AssistedBy::Child)) => {}
        (Precedence::HAssistSpouseOrParent, Some(_)) => {
            return unmet("PRE-H", "the spouse, or the child who is sole referent for a parent");
        }
        (Precedence::ISoleRelative, by) => {
            let foster = by == Some(AssistedBy::FosterCarer);
            let ok = match (foster, d.kinship_degree) {
                _ if !d.sole_referent => false,
                (true, _) => true,
                (false, Some(1 | 2)) => true,
                (false, Some(3)) => d.third_degree_condition && d.no_closer_relatives,
                (false, _) => false,
            };
            if !ok {
                return unmet(
                    "PRE-I",
                    "the only relative within the 2nd degree, the 3rd only when the parents or spouse are 65 or over, \
                     ill, dead or missing and no closer relative exists, or the only foster carer",
                );
            }
        }
        (Precedence::RUnionLeaveEnd, _) => {
            let three_years = deadline.checked_sub_months(chrono::Months::new(36));
            if d.domiciled_since.is_none_or(|since| three_years.is_none_or(|limit| since > limit)) {
                return Some(("PRE-R", format!("domiciled in the province for at least three years by {deadline}")));
            }
        }
        _ => {}
    }
    None
}

fn precedence_denial(
    claim: &PrecedenceClaim,
    form: &Form,
    places: &[&Place],
    y: i32,
    deadline: NaiveDate,
) -> Option<(&'static str, String)> {
    let born = |from: i32, to: i32| claim.child_birth_date.is_some_and(|b| (y - to..=y - from).contains(&b.year()));
    match claim.code {
        Precedence::LChildUnder6 if !born(0, 6) => {
            return Some(("PRE-L", format!("a child born in {} or later, with its birth date", y - 6)));
        }
        Precedence::MChild6To12 if form.scope != Scope::Interprovincial => {
            return Some(("PRE-M", "only for interprovincial provisional assignments".into()));
        }
        Precedence::MChild6To12 if !born(7, 12) => {
            return Some(("PRE-M", format!("a child born from {} to {}, with its birth date", y - 12, y - 7)));
        }
        _ => {}
    }
    if let Some(unmet) = particular_condition(claim, form, deadline) {
        return Some(unmet);
    }
    if let Some(rule) = claim.code.municipality_rule() {
        let Some(m) = claim.municipality.as_ref() else {
            return Some((rule, "name the municipality the precedence rests on".into()));
        };
        let inside = |p: &&Place| p.municipality.as_ref() == Some(m);
        let ok = if rule == "PRE-GHI" {
            // The assisted person's municipality before any other (Ambiguity 12:
            // its schools alone will do).
            let last_in = places.iter().rposition(&inside);
            let first_out = places.iter().position(|p| !inside(p));
            last_in.is_some_and(|l| first_out.is_none_or(|o| l < o))
        } else {
            places.first().is_some_and(inside)
        };
        if !ok {
            let why = if rule == "PRE-GHI" {
                format!("the municipality {m} must come before any other")
            } else {
                format!("preference 1 must relate to the municipality {m}")
            };
            return Some((rule, why));
        }
    }
    // Documents last: a claim refused for them alone (PRE-0c, DOC-9) meets
    // every other condition, so the office may recognise it once they are
    // on record (review::decide_precedence).
    missing_documents(claim, form.kind, deadline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::mobility::scores::Evidence;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// A tenured infanzia teacher holding a school in Bergamo (016024).
    fn teacher() -> Teacher {
        Teacher {
            language_title: None,
            service_hours: None,
            category: Category::Teacher(Order::Infanzia),
            tenure: Tenure { tenured: true, legal_start: d(2010, 9, 1) },
            order: Order::Infanzia,
            class: None,
            post_type: PostType::Nn,
            holding: HoldingKind::School,
            province: "BG".into(),
            municipality: Some("016024".into()),
            district: Some("BG01".into()),
            probation: Some(Probation::Passed),
            qualifications: vec![],
            support_titles: vec![],
            support_constraint_satisfied: false,
            concorso_2012_phase: None,
            merit_region: None,
        }
    }

    fn place(province: &str, municipality: Option<&str>, district: Option<&str>) -> Place {
        let region = if province == "RM" { "Lazio" } else { "Lombardia" };
        Place {
            province: province.into(),
            region: region.into(),
            municipality: municipality.map(Into::into),
            district: district.map(Into::into),
        }
    }

    fn places() -> BTreeMap<(PrefKind, String), Place> {
        let mut m = BTreeMap::new();
        m.insert((PrefKind::Municipality, "016024".into()), place("BG", Some("016024"), None));
        m.insert((PrefKind::Municipality, "016091".into()), place("BG", Some("016091"), None));
        m.insert((PrefKind::School, "BGAA000001".into()), place("BG", Some("016091"), Some("BG02")));
        m.insert((PrefKind::School, "BGAA000002".into()), place("BG", Some("016024"), Some("BG01")));
        m.insert((PrefKind::Province, "BG".into()), place("BG", None, None));
        m.insert((PrefKind::Province, "MI".into()), place("MI", None, None));
        m.insert((PrefKind::Province, "RM".into()), place("RM", None, None));
        m.insert((PrefKind::School, "MIAA000001".into()), place("MI", Some("015146"), Some("MI01")));
        m.insert((PrefKind::School, "MIAA000002".into()), place("MI", Some("015146"), Some("MI02")));
        for i in 0..25 {
            m.insert((PrefKind::School, format!("BGAA1{i:05}")), place("BG", Some("016091"), Some("BG02")));
        }
        m
    }

    fn pref(kind: PrefKind, code: &str) -> Preference {
        Preference { kind, code: code.into() }
    }

    fn spouse() -> Reason {
        Reason {
            kind: ReasonKind::Spouse,
            registry_cohabitation: false,
            health_evidence: Evidence::None,
            certificate_received_on: None,
        }
    }

    fn claim(code: Precedence, born: Option<NaiveDate>, municipality: Option<&str>) -> PrecedenceClaim {
        PrecedenceClaim {
            code,
            documents: vec![],
            child_birth_date: born,
            municipality: municipality.map(Into::into),
            details: PrecedenceDetails::default(),
        }
    }

    fn ap() -> Form {
        Form {
            kind: Kind::Ap,
            order: Order::Infanzia,
            scope: Scope::Provincial,
            channel: Channel::Online,
            class: None,
            additional_classes: vec![],
            post_types: vec![PostType::Nn],
            reasons: vec![spouse()],
            reunion_municipality: Some("016091".into()),
            family: FamilyDeclarations::default(),
            precedences: vec![],
            ut_categories: vec![],
            preferences: vec![pref(PrefKind::Municipality, "016091")],
            options: RequestOptions::default(),
            section_e: None,
            confirmation: None,
            chain_start: None,
            diocese: None,
            ut_score: None,
        }
    }

    struct World {
        windows: Windows,
        teacher: Teacher,
        regions: BTreeMap<String, String>,
        places: BTreeMap<(PrefKind, String), Place>,
        multi: BTreeSet<String>,
        others: Vec<OtherForm>,
        esubero: i32,
        diocese: Option<Place>,
    }

    impl World {
        fn new() -> World {
            let regions = [("BG", "Lombardia"), ("MI", "Lombardia"), ("RM", "Lazio")]
                .into_iter()
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect();
            World {
                windows: Windows::default_for(2016),
                teacher: teacher(),
                regions,
                places: places(),
                multi: ["015146".to_owned()].into(),
                others: vec![],
                esubero: 0,
                diocese: None,
            }
        }

        fn assess(&self, form: &Form) -> Result<Assessment, Finding> {
            let cx = Context {
                year: 2016,
                windows: &self.windows,
                teacher: &self.teacher,
                regions: &self.regions,
                places: &self.places,
                multi_district: &self.multi,
                esubero: self.esubero,
                others: &self.others,
                day: d(2016, 8, 1),
                diocese: self.diocese.as_ref(),
            };
            assess(form, &cx)
        }

        fn rule(&self, form: &Form) -> &'static str {
            self.assess(form).err().map_or("OK", |f| f.rule)
        }
    }

    #[test]
    fn a_plain_provincial_ap_goes_to_the_holding_province() {
        let w = World::new();
        let a = w.assess(&ap()).unwrap();
        assert_eq!(a.processing_province, "BG");
        assert!(a.preferences.iter().all(|p| p.effective));
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    }

    #[test]
    fn preferences_up_to_the_order_limit_each_once_and_known() {
        let w = World::new();
        let mut f = ap();
        f.preferences = (0..20).map(|i| pref(PrefKind::School, &format!("BGAA1{i:05}"))).collect();
        f.preferences.push(pref(PrefKind::Municipality, "016091"));
        assert_eq!(w.rule(&f), "PREF-1");
        f.preferences.remove(0);
        assert_eq!(w.rule(&f), "OK");
        let mut f = ap();
        f.preferences.push(pref(PrefKind::Municipality, "016091"));
        assert_eq!(w.rule(&f), "PREF-2");
        f.preferences = vec![pref(PrefKind::School, "BGZZ999999")];
        assert_eq!(w.rule(&f), "PREF-2");
        f.preferences.clear();
        assert_eq!(w.rule(&f), "PREF-2");
        let mut w2 = World::new();
        w2.teacher.order = Order::SecondariaPrimoGrado;
        w2.teacher.category = Category::Teacher(Order::SecondariaPrimoGrado);
        assert_eq!(max_preferences(Order::SecondariaPrimoGrado), 15);
    }

    #[test]
    fn one_province_and_the_concorso_2012_derogation() {
        let mut w = World::new();
        let mut f = ap();
        f.preferences.push(pref(PrefKind::Province, "MI"));
        assert_eq!(w.rule(&f), "PROV-1");
        f.scope = Scope::Interprovincial;
        f.preferences = vec![pref(PrefKind::Province, "MI"), pref(PrefKind::Province, "RM")];
        f.reunion_municipality = Some("015146".into());
        assert_eq!(w.rule(&f), "PROV-1");
        w.teacher.concorso_2012_phase = Some("B".into());
        w.teacher.merit_region = Some("Lombardia".into());
        assert_eq!(w.rule(&f), "PROV-1", "Rome is outside the merit region");
        f.preferences = vec![pref(PrefKind::School, "MIAA000001"), pref(PrefKind::Province, "MI")];
        let a = w.assess(&f).unwrap();
        assert_eq!(a.processing_province, "MI");
        f.scope = Scope::Provincial;
        assert_eq!(w.rule(&f), "PROV-1", "a provincial movement starts in the own province");
    }

    #[test]
    fn never_within_the_municipality_of_the_school_held_except_another_district_of_a_city() {
        let mut w = World::new();
        let mut f = ap();
        f.preferences = vec![pref(PrefKind::School, "BGAA000002")];
        assert_eq!(w.rule(&f), "COM-1");
        f.preferences = vec![pref(PrefKind::Municipality, "016024")];
        assert_eq!(w.rule(&f), "COM-1");
        f.preferences = vec![pref(PrefKind::Province, "BG")];
        assert_eq!(w.rule(&f), "OK", "a broader code is accepted");
        w.teacher.holding = HoldingKind::Ambit;
        f.preferences = vec![pref(PrefKind::School, "BGAA000002")];
        assert_eq!(w.rule(&f), "OK", "COM-3: ambit holders");
        // Milan has several districts: another district is allowed, the same is not.
        let mut w = World::new();
        w.teacher.province = "MI".into();
        w.teacher.municipality = Some("015146".into());
        w.teacher.district = Some("MI01".into());
        f.reunion_municipality = Some("015146".into());
        f.preferences = vec![pref(PrefKind::School, "MIAA000002")];
        assert_eq!(w.rule(&f), "OK");
        f.preferences = vec![pref(PrefKind::School, "MIAA000001")];
        assert_eq!(w.rule(&f), "COM-1");
        let mut ut = f.clone();
        ut.kind = Kind::Ut;
        ut.reasons.clear();
        ut.ut_categories = vec![UtCategory::SurplusOf];
        assert_eq!(w.rule(&ut), "OK", "COM-4: a UT may stay");
    }

    #[test]
    fn an_ap_precedence_needs_its_documents_by_the_deadline_and_a_ut_does_not() {
        let w = World::new();
        let on = |kind, day| Document { kind, received_on: d(2016, 8, day) };
        let mut f = ap();
        let standing = |f: &Form| {
            let a = w.assess(f).unwrap();
            (a.precedences[0].recognised, a.precedences[0].rule.clone())
        };
        let mut o = claim(Precedence::OMilitarySpouse, None, None);
        o.documents = vec![on(DocumentKind::SelfDeclaration, 1)];
        f.precedences = vec![o.clone()];
        assert_eq!(standing(&f), (Some(false), Some("DOC-9".into())));
        let a = w.assess(&f).unwrap();
        assert!(a.warnings[0].message.contains("SPOUSE_COHABITATION_DECLARATION"), "{:?}", a.warnings);
        o.documents.push(on(DocumentKind::SpouseCohabitationDeclaration, 12));
        f.precedences = vec![o.clone()];
        assert_eq!(standing(&f), (None, None), "both by the deadline");
        o.documents[1] = on(DocumentKind::SpouseCohabitationDeclaration, 13);
        f.precedences = vec![o];
        assert_eq!(standing(&f).1.as_deref(), Some("DOC-9"), "one day late");
        for (code, kind) in [
            (Precedence::RUnionLeaveEnd, DocumentKind::UnionLeaveDeclaration),
            (Precedence::QLocalPublicOffice, DocumentKind::MandateDeclaration),
        ] {
            let mut c = claim(code, None, Some("016091"));
            c.details.domiciled_since = Some(d(2010, 1, 1));
            f.precedences = vec![c.clone()];
            assert_eq!(standing(&f).1.as_deref(), Some("DOC-9"), "{code:?}");
            c.documents = vec![on(kind, 1)];
            f.precedences = vec![c];
            assert_ne!(standing(&f).1.as_deref(), Some("DOC-9"), "{code:?}");
        }
        // An ASL certificate is medical too: it answers PRE-0c and DOC-9 for (e).
        let mut e = claim(Precedence::ESeriousIllness, None, Some("016091"));
        e.documents = vec![on(DocumentKind::MedicalCertificate, 1)];
        f.precedences = vec![e.clone()];
        assert_eq!(standing(&f).1.as_deref(), Some("DOC-9"));
        e.documents = vec![on(DocumentKind::AslCertificate, 1)];
        f.precedences = vec![e.clone()];
        assert_eq!(standing(&f), (None, None));
        // A utilisation's precedence needs no declarations (DOC-7), only PRE-0c.
        let mut ut = ap();
        ut.kind = Kind::Ut;
        ut.reasons.clear();
        ut.ut_categories = vec![UtCategory::SurplusOf];
        e.documents = vec![on(DocumentKind::MedicalCertificate, 1)];
        ut.precedences = vec![e];
        assert_eq!(standing(&ut), (None, None));
    }

    #[test]
    fn sezione_e_and_confirmation_make_a_utilisation_and_sezione_e_is_checked() {
        let w = World::new();
        let mut ut = ap();
        ut.kind = Kind::Ut;
        ut.reasons.clear();
        assert_eq!(w.rule(&ut), "UT-1", "no category, confirmation or Sezione E");
        let e = SectionE {
            previous_school: "BGAA000001".into(),
            previous_support: false,
            moved_in: 2008,
            asked_every_year: true,
        };
        ut.section_e = Some(e.clone());
        ut.preferences = vec![pref(PrefKind::School, "BGAA000001"), pref(PrefKind::Municipality, "016091")];
        let a = w.assess(&ut).unwrap();
        assert_eq!(a.section_e, Some(true));
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        // Subordinately the municipality of the previous school.
        ut.preferences = vec![pref(PrefKind::Municipality, "016091")];
        assert_eq!(w.assess(&ut).unwrap().section_e, Some(true));
        // Each failed condition is a warning, and the form stands.
        for (broken, why) in [
            (SectionE { moved_in: 2007, ..e.clone() }, "the move must date from 2008/09"),
            (SectionE { asked_every_year: false, ..e.clone() }, "every year of the eight"),
        ] {
            ut.section_e = Some(broken);
            let a = w.assess(&ut).unwrap();
            assert_eq!(a.section_e, Some(false));
            assert!(a.warnings.iter().any(|x| x.rule == "UT-E1" && x.message.contains(why)), "{:?}", a.warnings);
        }
        ut.section_e = Some(e.clone());
        ut.preferences = vec![pref(PrefKind::Province, "BG")];
        assert_eq!(w.assess(&ut).unwrap().section_e, Some(false), "preference 1 is not the previous school");
        ut.section_e = Some(SectionE { previous_school: "XXAA000000".into(), ..e.clone() });
        assert_eq!(w.rule(&ut), "UT-E1", "an unknown school");
        let mut on_ap = ap();
        on_ap.section_e = Some(e);
        assert_eq!(w.rule(&on_ap), "UT-E1", "Sezione E is the UT form's");

        // UT-CONF: infanzia confirms the school only.
        ut.section_e = None;
        let conf =
            Confirmation { school: "BGAA000001".into(), class: None, post_type: None, other_class_for_esubero: false };
        ut.confirmation = Some(conf.clone());
        assert_eq!(w.rule(&ut), "OK");
        ut.confirmation = Some(Confirmation { post_type: Some(PostType::Nn), ..conf.clone() });
        assert_eq!(w.rule(&ut), "UT-CONF");
        ut.confirmation = Some(Confirmation { school: "XXAA000000".into(), ..conf.clone() });
        assert_eq!(w.rule(&ut), "UT-CONF");
        let mut on_ap = ap();
        on_ap.confirmation = Some(conf);
        assert_eq!(w.rule(&on_ap), "UT-CONF");
    }

    #[test]
    fn the_nearest_seat_chain_is_named_by_a_utilisation_in_surplus_in_its_province() {
        let w = World::new();
        let mut ut = ap();
        ut.kind = Kind::Ut;
        ut.reasons.clear();
        ut.ut_categories = vec![UtCategory::SurplusOf];
        ut.chain_start = Some(pref(PrefKind::Municipality, "016091"));
        assert_eq!(w.rule(&ut), "OK");
        let mut other = ut.clone();
        other.ut_categories = vec![UtCategory::Reconversion];
        assert_eq!(w.rule(&other), "PREF-7", "not in surplus");
        let mut on_ap = ap();
        on_ap.chain_start = ut.chain_start.clone();
        assert_eq!(w.rule(&on_ap), "PREF-7");
        ut.chain_start = Some(pref(PrefKind::School, "BGAA000001"));
        assert_eq!(w.rule(&ut), "PREF-7", "a school is no start of a chain");
        ut.chain_start = Some(pref(PrefKind::Municipality, "015146"));
        assert_eq!(w.rule(&ut), "PREF-7", "Milan is another province (and unknown here)");
    }

    #[test]
    fn a_language_post_needs_the_language_title_by_the_deadline() {
        let mut w = World::new();
        w.teacher.order = Order::Primaria;
        w.teacher.category = Category::Teacher(Order::Primaria);
        w.windows.primaria.opens = Some(d(2016, 7, 29));
        let mut ut = ap();
        ut.kind = Kind::Ut;
        ut.order = Order::Primaria;
        ut.reasons.clear();
        ut.ut_categories = vec![UtCategory::PrimariaLanguage];
        ut.post_types = vec![PostType::Lingua];
        assert_eq!(w.rule(&ut), "UT-3");
        w.teacher.language_title = Some(d(2016, 8, 12));
        assert_eq!(w.rule(&ut), "OK", "obtained on the primaria deadline");
        w.teacher.language_title = Some(d(2016, 8, 13));
        assert_eq!(w.rule(&ut), "UT-3", "one day late");
        w.teacher.language_title = None;
        ut.post_types = vec![PostType::Nn];
        ut.ut_categories = vec![UtCategory::SurplusOf];
        assert_eq!(w.rule(&ut), "OK", "a common post needs no title");
    }

    #[test]
    fn each_request_option_only_where_the_form_offers_it() {
        let w = World::new();
        let with = |f: &Form, set: &dyn Fn(&mut RequestOptions)| {
            let mut f = f.clone();
            set(&mut f.options);
            w.rule(&f)
        };
        let ap = ap();
        let mut ut = ap.clone();
        ut.kind = Kind::Ut;
        ut.reasons.clear();
        ut.ut_categories = vec![UtCategory::SurplusOf];
        assert_eq!(w.rule(&ap), "OK");
        assert_eq!(with(&ap, &|o| o.idd_methods = vec![IddMethod::Montessori]), "POST-4", "methods need IDD posts");
        let mut idd = ap.clone();
        idd.post_types = vec![PostType::Idd];
        assert_eq!(w.rule(&idd), "POST-4", "IDD posts need a method");
        assert_eq!(with(&idd, &|o| o.idd_methods = vec![IddMethod::Agazzi]), "OK");
        assert_eq!(with(&idd, &|o| o.idd_methods = vec![IddMethod::Pizzigoni]), "POST-4", "not in infanzia");
        assert_eq!(with(&ap, &|o| o.language_order = Some(LanguageOrder::CommonFirst)), "POST-2");
        assert_eq!(with(&ap, &|o| o.extended_timetable = true), "POST-6");
        assert_eq!(with(&ap, &|o| o.adult_courses = true), "POST-6");
        assert_eq!(with(&ap, &|o| o.chairs = Some(ChairOption::InternalOnly)), "POST-7");
        assert_eq!(with(&ap, &|o| o.part_posts = true), "OK", "POST-8: an AP may take part-posts");
        assert_eq!(with(&ut, &|o| o.part_posts = true), "POST-8");
        assert_eq!(with(&ut, &|o| o.short_posts = true), "OK", "POST-9: UT in every order");
        assert_eq!(with(&ap, &|o| o.short_posts = true), "POST-9");
        assert_eq!(with(&ut, &|o| o.several_schools = true), "POST-9", "not infanzia");
        assert_eq!(with(&ut, &|o| o.activities = vec![UtActivity::Art3Projects]), "OK");
        assert_eq!(with(&ap, &|o| o.activities = vec![UtActivity::Art3Projects]), "POST-10");
        for a in [UtActivity::Art6TerProjects, UtActivity::Hospitals, UtActivity::Prisons, UtActivity::TechnicalOffice]
        {
            assert_eq!(with(&ut, &|o| o.activities = vec![a]), "POST-10", "{a:?} in infanzia");
        }
        assert_eq!(with(&ut, &|o| o.cpia = true), "OK", "POST-11: a common post");
        assert_eq!(with(&ap, &|o| o.cpia = true), "POST-11");
        assert_eq!(with(&ut, &|o| o.ut_classes = vec!["A022".into()]), "POST-12", "not infanzia");
        assert_eq!(with(&ut, &|o| o.at_disposal = true), "OK");
        assert_eq!(with(&ap, &|o| o.at_disposal = true), "POST-13");
    }

    #[test]
    fn support_holders_within_five_years_ask_only_constrained_posts_and_titles_are_needed() {
        let mut w = World::new();
        w.teacher.post_type = PostType::Eh;
        let mut f = ap();
        assert_eq!(w.rule(&f), "SOS-1");
        f.post_types = vec![PostType::Eh];
        assert_eq!(w.rule(&f), "POST-5");
        w.teacher.support_titles = vec![(PostType::Eh, d(2016, 8, 12))];
        assert_eq!(w.rule(&f), "OK", "a title obtained on the deadline counts");
        w.teacher.support_titles = vec![(PostType::Eh, d(2016, 8, 13))];
        assert_eq!(w.rule(&f), "POST-5");
        w.teacher.support_constraint_satisfied = true;
        f.post_types = vec![PostType::Nn];
        assert_eq!(w.rule(&f), "OK");
        f.post_types = vec![PostType::Lingua];
        assert_eq!(w.rule(&f), "POST-1", "language posts are primaria's");
    }

    #[test]
    fn another_order_needs_the_own_form_a_passed_probation_and_the_qualification() {
        let mut w = World::new();
        let mut f = ap();
        f.order = Order::Primaria;
        assert_eq!(w.rule(&f), "ORG-2");
        w.others = vec![OtherForm { kind: Kind::Ap, order: Order::Infanzia, submitted: true }];
        assert_eq!(w.rule(&f), "ORG-1");
        w.teacher.qualifications =
            vec![Qualification { order: Order::Primaria, class: None, obtained_on: d(2016, 8, 12) }];
        assert_eq!(w.rule(&f), "OK");
        w.teacher.probation = Some(Probation::NotFinished);
        assert_eq!(w.rule(&f), "ORG-1");
        assert_eq!(w.rule(&ap()).to_owned(), "CONFLICT".replace("CONFLICT", "ORG-4"));
        assert_eq!(w.assess(&ap()).unwrap_err().code, "CONFLICT");
    }

    #[test]
    fn utilisations_need_a_category_and_a_surplus_to_leave_the_province() {
        let mut w = World::new();
        let mut f = ap();
        f.kind = Kind::Ut;
        f.reasons.clear();
        assert_eq!(w.rule(&f), "UT-1");
        f.ut_categories = vec![UtCategory::Esubero];
        f.scope = Scope::Interprovincial;
        f.preferences = vec![pref(PrefKind::Province, "MI")];
        assert_eq!(w.rule(&f), "UTIP-1");
        w.esubero = 2;
        assert_eq!(w.rule(&f), "OK");
        f.precedences = vec![claim(Precedence::RUnionLeaveEnd, None, None)];
        assert_eq!(w.rule(&f), "PRE-0e");
    }

    #[test]
    fn without_the_reunion_code_only_its_schools_for_the_post_held_count() {
        let w = World::new();
        let mut f = ap();
        f.preferences = vec![pref(PrefKind::School, "BGAA000001"), pref(PrefKind::Province, "BG")];
        let a = w.assess(&f).unwrap();
        assert_eq!(a.preferences.iter().map(|p| p.effective).collect::<Vec<_>>(), [true, false]);
        assert_eq!(a.preferences[1].rule.as_deref(), Some("PREF-3a"));
        assert_eq!(a.warnings[0].rule, "PREF-3a");
    }

    #[test]
    fn precedences_with_their_conditions_are_not_recognised_but_the_form_stands() {
        let w = World::new();
        let mut f = ap();
        f.precedences = vec![
            claim(Precedence::LChildUnder6, Some(d(2010, 1, 1)), None),
            claim(Precedence::LChildUnder6, Some(d(2009, 12, 31)), None),
            claim(Precedence::MChild6To12, Some(d(2005, 1, 1)), None),
            claim(Precedence::ABlind, None, None),
        ];
        let a = w.assess(&f).unwrap();
        let got: Vec<_> = a.precedences.iter().map(|p| (p.recognised, p.rule.as_deref())).collect();
        assert_eq!(
            got,
            [(None, None), (Some(false), Some("PRE-L")), (Some(false), Some("PRE-M")), (Some(false), Some("PRE-0c"))]
        );
        let mut f = ap();
        let on = |kind, day| Document { kind, received_on: d(2016, 8, day) };
        let mut g = claim(Precedence::GAssistChild, None, Some("016091"));
        g.documents = vec![on(DocumentKind::DisabilityCertificate104, 12), on(DocumentKind::SelfDeclaration, 12)];
        f.precedences = vec![g.clone()];
        f.preferences = vec![pref(PrefKind::School, "BGAA000001"), pref(PrefKind::Province, "BG")];
        f.preferences.insert(1, pref(PrefKind::Municipality, "016091"));
        assert_eq!(w.assess(&f).unwrap().precedences[0].recognised, None);
        f.preferences = vec![pref(PrefKind::Province, "BG"), pref(PrefKind::Municipality, "016091")];
        assert_eq!(w.assess(&f).unwrap().precedences[0].rule.as_deref(), Some("PRE-GHI"));
        g.documents = vec![on(DocumentKind::DisabilityCertificate104, 13), on(DocumentKind::SelfDeclaration, 12)];
        f.precedences = vec![g];
        f.preferences = vec![pref(PrefKind::Municipality, "016091")];
        assert_eq!(w.assess(&f).unwrap().precedences[0].rule.as_deref(), Some("PRE-0c"), "late certificate");
    }

    /// Spec §4.3: the particular conditions of (d), (g), (h), (i) and (r),
    /// each at its boundary; unmet means not recognised, and the form stands.
    #[test]
    fn particular_conditions_of_each_precedence_at_their_boundaries() {
        let w = World::new();
        // The infanzia deadline is 12 August 2016.
        let on = |kind, m, day| Document { kind, received_on: d(2016, m, day) };
        let certified = |code, municipality: Option<&str>| {
            let mut c = claim(code, None, municipality);
            c.documents = vec![
                on(DocumentKind::DisabilityCertificate104, 8, 1),
                on(DocumentKind::SelfDeclaration, 8, 1),
                on(DocumentKind::InvalidityCertificate, 8, 1),
            ];
            c
        };
        let standing = |c: PrecedenceClaim| {
            let mut f = ap();
            f.precedences = vec![c];
            let a = w.assess(&f).expect("the form stands");
            (a.precedences[0].recognised, a.precedences[0].rule.clone().unwrap_or_default(), a.warnings)
        };
        let rule = |c: PrecedenceClaim| standing(c).1;
        let with = |code, municipality: Option<&str>, set: &dyn Fn(&mut PrecedenceDetails)| {
            let mut c = certified(code, municipality);
            set(&mut c.details);
            c
        };
        // (d): above two thirds, or table A 1 to 3.
        let d_ = |set: &dyn Fn(&mut PrecedenceDetails)| with(Precedence::DDisabilityArt21, None, set);
        assert_eq!(rule(d_(&|x| x.invalidity_percent = Some(66))), "PRE-D");
        assert_eq!(rule(d_(&|x| x.invalidity_percent = Some(67))), "");
        assert_eq!(rule(d_(&|x| x.table_a_category = Some(3))), "");
        assert_eq!(rule(d_(&|x| x.table_a_category = Some(4))), "PRE-D");
        assert_eq!(rule(d_(&|_| {})), "PRE-D");
        // (g): a parent by default; a sibling needs both conditions; a
        // guardian the court order by the deadline; never a support administrator.
        let g = |set: &dyn Fn(&mut PrecedenceDetails)| with(Precedence::GAssistChild, Some("016091"), set);
        assert_eq!(rule(g(&|_| {})), "");
        assert_eq!(rule(g(&|x| x.assisted_by = Some(AssistedBy::Parent))), "");
        let sibling = |unable, cohabiting| {
            g(&move |x: &mut PrecedenceDetails| {
                x.assisted_by = Some(AssistedBy::Sibling);
                x.parents_unable = unable;
                x.cohabiting = cohabiting;
            })
        };
        assert_eq!(rule(sibling(true, false)), "PRE-G");
        assert_eq!(rule(sibling(false, true)), "PRE-G");
        assert_eq!(rule(sibling(true, true)), "");
        let guardian = |day| {
            let mut c = g(&|x| x.assisted_by = Some(AssistedBy::LegalGuardian));
            c.documents.push(on(DocumentKind::CourtOrderGuardianship, 8, day));
            c
        };
        assert_eq!(rule(guardian(12)), "");
        assert_eq!(rule(guardian(13)), "PRE-G", "the court order after the deadline");
        assert_eq!(rule(g(&|x| x.assisted_by = Some(AssistedBy::SupportAdministrator))), "PRE-G");
        assert_eq!(rule(g(&|x| x.assisted_by = Some(AssistedBy::Spouse))), "PRE-G");
        // (h): the spouse, or the child who is sole referent.
        let h = |set: &dyn Fn(&mut PrecedenceDetails)| with(Precedence::HAssistSpouseOrParent, Some("016091"), set);
        assert_eq!(rule(h(&|_| {})), "");
        assert_eq!(rule(h(&|x| x.assisted_by = Some(AssistedBy::Child))), "PRE-H");
        assert_eq!(
            rule(h(&|x| {
                x.assisted_by = Some(AssistedBy::Child);
                x.sole_referent = true;
            })),
            ""
        );
        // (i): the only relative within the 2nd degree; the 3rd under both
        // conditions; never the 4th; or the only foster carer.
        let i = |degree: Option<u8>, sole: bool, third: bool, closer_none: bool| {
            with(Precedence::ISoleRelative, Some("016091"), &move |x: &mut PrecedenceDetails| {
                x.kinship_degree = degree;
                x.sole_referent = sole;
                x.third_degree_condition = third;
                x.no_closer_relatives = closer_none;
            })
        };
        assert_eq!(rule(i(Some(2), true, false, false)), "");
        assert_eq!(rule(i(Some(2), false, false, false)), "PRE-I", "not the only one");
        assert_eq!(rule(i(Some(3), true, true, false)), "PRE-I");
        assert_eq!(rule(i(Some(3), true, false, true)), "PRE-I");
        assert_eq!(rule(i(Some(3), true, true, true)), "");
        assert_eq!(rule(i(Some(4), true, true, true)), "PRE-I");
        assert_eq!(rule(i(None, true, false, false)), "PRE-I");
        let mut foster = i(None, true, false, false);
        foster.details.assisted_by = Some(AssistedBy::FosterCarer);
        assert_eq!(rule(foster), "");
        // L376: lost when the AP rejoins someone in another municipality.
        let mut f = ap();
        f.reunion_municipality = Some("016024".into());
        f.precedences = vec![g(&|_| {})];
        assert_eq!(w.assess(&f).unwrap().precedences[0].rule.as_deref(), Some("PRE-GHI"));
        // (r): domiciled three years by the deadline, to the day.
        let r = |since| {
            let mut c = claim(Precedence::RUnionLeaveEnd, None, None);
            c.documents = vec![on(DocumentKind::UnionLeaveDeclaration, 8, 1)];
            c.details.domiciled_since = Some(since);
            c
        };
        assert_eq!(rule(r(d(2013, 8, 12))), "");
        assert_eq!(rule(r(d(2013, 8, 13))), "PRE-R");
        // DOC-8: a provisional Down syndrome certificate counts, with its follow-up.
        let (recognised, _, warnings) = standing(g(&|x| x.down_syndrome_provisional = true));
        assert_eq!(recognised, None);
        assert!(warnings.iter().any(|w| w.rule == "DOC-8"), "{warnings:?}");
    }
}
