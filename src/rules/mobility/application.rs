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
use super::{Finding, Order};

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
    pub medical: bool,
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
    /// Where the application goes (R-ROUTE-1): the office of this province.
    pub processing_province: String,
    pub preferences: Vec<PreferenceOutcome>,
    pub precedences: Vec<PrecedenceOutcome>,
    pub family: Option<FamilyScore>,
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
    Ok(())
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
            if form.ut_categories.is_empty() {
                return Err(refused("UT-1", "a utilisation needs at least one category of art. 2"));
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
            let only_specialised = form.ut_categories.iter().all(|c| *c == UtCategory::SpecialisedCurricular);
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
    let processing = provinces(form, cx)?;
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
    Ok(Assessment { processing_province: processing, preferences, precedences, family, warnings })
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
    if claim.code.medical() {
        let certified = claim.documents.iter().any(|d| d.medical && d.received_on <= deadline);
        if !certified {
            return Some((
                "PRE-0c",
                format!("a medical certificate received by {deadline}; a self-declaration is not enough"),
            ));
        }
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
    None
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
        f.precedences = vec![PrecedenceClaim {
            code: Precedence::RUnionLeaveEnd,
            documents: vec![],
            child_birth_date: None,
            municipality: None,
        }];
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
        let claim = |code, born: Option<NaiveDate>, m: Option<&str>| PrecedenceClaim {
            code,
            documents: vec![],
            child_birth_date: born,
            municipality: m.map(Into::into),
        };
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
        let cert = Document { medical: true, received_on: d(2016, 8, 12) };
        let mut g = claim(Precedence::GAssistChild, None, Some("016091"));
        g.documents = vec![cert];
        f.precedences = vec![g.clone()];
        f.preferences = vec![pref(PrefKind::School, "BGAA000001"), pref(PrefKind::Province, "BG")];
        f.preferences.insert(1, pref(PrefKind::Municipality, "016091"));
        assert_eq!(w.assess(&f).unwrap().precedences[0].recognised, None);
        f.preferences = vec![pref(PrefKind::Province, "BG"), pref(PrefKind::Municipality, "016091")];
        assert_eq!(w.assess(&f).unwrap().precedences[0].rule.as_deref(), Some("PRE-GHI"));
        g.documents = vec![Document { medical: true, received_on: d(2016, 8, 13) }];
        f.precedences = vec![g];
        f.preferences = vec![pref(PrefKind::Municipality, "016091")];
        assert_eq!(w.assess(&f).unwrap().precedences[0].rule.as_deref(), Some("PRE-0c"), "late certificate");
    }
}
