//! Teachers' forms for a provisional assignment or a utilisation (spec §2–8,
//! §10): drafts the teacher edits at any time; a submission inside the
//! window, confirmed with the personal code, that checks every rule of
//! `rules::mobility::application` and stores the assessment with a protocol
//! number; a withdrawal inside the window; and the office's entry of a
//! paper form on its day of receipt. The processing office is derived from
//! the form (R-ROUTE-1), never chosen.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::AsyncPgConnection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{StaffCategory, order_of, order_str, post_type_of, windows_of};
use crate::authz::{Caller, Office};
use crate::db::RequestDb;
use crate::db::audit::{self, Event};
use crate::db::mobility::{self as q, ApplicationRow, NewApplication, Submission, TeacherRow};
use crate::db::territory::PageRequest;
use crate::error::{AppError, AppResult};
use crate::mail::Mailer;
use crate::reports::mobility::Receipt;
use crate::rules::mobility::DocumentKind;
use crate::rules::mobility::application::{
    self as rules, Context, Document, Kind, OtherForm, Place, PrecedenceClaim, PrefKind, Preference, Scope, Teacher,
};
use crate::rules::mobility::eligibility::{Reason, ReasonKind, Tenure};
use crate::rules::mobility::scores::{self, Evidence, FamilyDeclarations, Kin};
use crate::rules::mobility::windows::{self, Channel};
use crate::rules::rome;
use crate::usecases::accounts::enabling::CodeCheck;

fn bad(field: &str, reason: impl Into<String>) -> AppError {
    AppError::bad_input(field, reason)
}

/// The family member of the *ricongiungimento* (casella A).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReunionInput {
    pub relation: ReasonKind,
    pub municipality: String,
    pub birth_date: Option<NaiveDate>,
    pub registered_since: Option<NaiveDate>,
    pub registry_cohabitation: bool,
    pub new_work_seat: bool,
    pub documents: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChildRelation {
    Child,
    Adopted,
    PreAdoptive,
    Fostered,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildInput {
    pub birth_date: NaiveDate,
    pub relation: ChildRelation,
    pub unable_to_work: bool,
    pub documents: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimInput {
    pub code: rules::Precedence,
    pub documents: Vec<String>,
    pub child_birth_date: Option<NaiveDate>,
    pub municipality: Option<String>,
    /// The declarations of spec §4.3 (forms stored before them have none).
    #[serde(default)]
    pub details: rules::PrecedenceDetails,
}

/// A form as entered, stored as the application's `input`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormInput {
    pub campaign_year: i32,
    pub kind: Kind,
    /// When given, it must agree with the registry's.
    pub category: Option<StaffCategory>,
    pub order: crate::rules::mobility::Order,
    pub scope: Scope,
    pub musical_liceo: bool,
    pub class: Option<String>,
    pub additional_classes: Vec<String>,
    pub post_types: Vec<rules::PostType>,
    pub reasons: Vec<ReasonKind>,
    pub reunion: Option<ReunionInput>,
    pub children: Vec<ChildInput>,
    pub precedences: Vec<ClaimInput>,
    pub ut_categories: Vec<rules::UtCategory>,
    pub declared_score: Option<f64>,
    pub preferences: Vec<Preference>,
    /// The request options of spec §6 (forms stored before them have none).
    #[serde(default)]
    pub options: rules::RequestOptions,
    /// UT-E1: return to the school held before a move as surplus.
    #[serde(default)]
    pub section_e: Option<rules::SectionE>,
    /// UT-CONF: confirmation in the school of use of the year before.
    #[serde(default)]
    pub confirmation: Option<rules::Confirmation>,
    /// PREF-7: where the nearest-seat chain starts.
    #[serde(default)]
    pub chain_start: Option<Preference>,
    /// An IRC form's requested diocese: it routes the form (seed L83).
    #[serde(default)]
    pub diocese: Option<String>,
    /// SC-U2: the utilisation score part by part, instead of its total.
    #[serde(default)]
    pub ut_score: Option<scores::UtComponents>,
}

fn kind_str(k: Kind) -> &'static str {
    match k {
        Kind::Ap => "ap",
        Kind::Ut => "ut",
    }
}

pub fn kind_of(s: &str) -> Kind {
    if s == "ut" { Kind::Ut } else { Kind::Ap }
}

fn scope_str(s: Scope) -> &'static str {
    match s {
        Scope::Provincial => "provincial",
        Scope::Interprovincial => "interprovincial",
    }
}

/// The stored input of a row.
pub fn input_of(row: &ApplicationRow) -> AppResult<FormInput> {
    serde_json::from_value(row.input.clone()).map_err(AppError::internal)
}

/// What a submission stored, as read back.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Stored {
    #[serde(default)]
    pub preferences: Vec<rules::PreferenceOutcome>,
    #[serde(default)]
    pub precedences: Vec<rules::PrecedenceOutcome>,
    pub family: Option<StoredFamily>,
    #[serde(default)]
    pub section_e: Option<bool>,
    #[serde(default)]
    pub ut_score: Option<scores::UtScore>,
    #[serde(default)]
    pub warnings: Vec<rules::Warning>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StoredFamily {
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub d: u32,
    pub lines: Vec<StoredLine>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoredLine {
    pub rule: String,
    pub points: u32,
    pub recognised: bool,
    pub reason: String,
}

pub fn stored_of(row: &ApplicationRow) -> Stored {
    row.assessment.clone().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
}

/// The registry row as the rules read it, with the places of its holding.
fn teacher_of(row: &TeacherRow, holding: &super::HoldingPlace) -> Teacher {
    let order = order_of(&row.school_order);
    Teacher {
        language_title: row.language_title,
        service_hours: row.service_hours.map(|h| h as u32),
        category: StaffCategory::of(&row.category).category(order, false),
        tenure: Tenure {
            tenured: row.tenured,
            // A registry row with no legal start is not tenured (ELIG-4 refuses it).
            legal_start: row.legal_start.unwrap_or(NaiveDate::MAX),
        },
        order,
        class: row.class_code.clone(),
        post_type: post_type_of(&row.post_type),
        holding: super::holding_of(&row.holding_kind),
        province: row.province_code.clone(),
        municipality: holding.municipality.clone(),
        district: holding.district.clone(),
        probation: row.probation.as_deref().map(super::probation_of),
        qualifications: serde_json::from_value(row.qualifications.clone()).unwrap_or_default(),
        support_titles: serde_json::from_value(row.support_titles.clone()).unwrap_or_default(),
        support_constraint_satisfied: row.support_constraint_satisfied,
        concorso_2012_phase: (row.hiring_source.as_deref() == Some("CONCORSO_2012"))
            .then(|| row.hiring_phase.clone())
            .flatten(),
        merit_region: row.merit_region.clone(),
    }
}

fn kin_of(r: ReasonKind) -> AppResult<Kin> {
    Ok(match r {
        ReasonKind::Spouse => Kin::Spouse,
        ReasonKind::Cohabitant => Kin::Partner,
        ReasonKind::CohabitingRelative => Kin::CohabitingRelative,
        ReasonKind::Child => Kin::Child,
        ReasonKind::Parent => Kin::Parent,
        ReasonKind::OwnSeriousHealth => {
            return Err(bad("input.reunion.relation", "the family member's relation, not the teacher's own health"));
        }
    })
}

/// The documents of an application: those attached (with the day the
/// teacher confirmed them, DOC-4) and those the office received off line
/// (DOC-6), with the precedence they back.
#[derive(Debug, Clone, Default)]
pub struct Docs {
    attached: Vec<(String, DocumentKind, Option<NaiveDate>)>,
    receipts: Vec<(DocumentKind, NaiveDate, Option<String>)>,
}

/// A precedence code as stored (receipts, decisions).
pub fn precedence_str(p: rules::Precedence) -> String {
    serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A stored precedence code read back.
pub fn precedence_of(s: &str) -> Option<rules::Precedence> {
    serde_json::from_value(Value::String(s.to_owned())).ok()
}

impl Docs {
    async fn load(c: &mut AsyncPgConnection, application: i64) -> AppResult<Docs> {
        let attached = q::documents_of(c, application)
            .await?
            .into_iter()
            .filter_map(|d| {
                let kind = DocumentKind::parse(d.kind.as_deref()?)?;
                Some((d.id.to_string(), kind, d.confirmed_at.map(rome::date)))
            })
            .collect();
        let receipts = q::receipts_of(c, application)
            .await?
            .into_iter()
            .filter_map(|r| Some((DocumentKind::parse(&r.document_kind)?, r.received_on, r.precedence)))
            .collect();
        Ok(Docs { attached, receipts })
    }

    /// The confirmed documents `ids` name, by the deadline. An id that is not
    /// a document of the application is refused; an unconfirmed one, or one
    /// confirmed after the deadline, does not count (DOC-3, DOC-4).
    fn named(&self, field: &str, ids: &[String], deadline: NaiveDate) -> AppResult<Vec<(DocumentKind, NaiveDate)>> {
        let mut out = Vec::new();
        for id in ids {
            let found = self.attached.iter().find(|(a, _, _)| a.eq_ignore_ascii_case(id.trim()));
            let Some((_, kind, confirmed)) = found else {
                return Err(bad(field, format!("{id} is not a document of this application")));
            };
            out.extend(confirmed.filter(|d| *d <= deadline).map(|d| (*kind, d)));
        }
        Ok(out)
    }

    /// Every document in hand by the deadline.
    fn all(&self, deadline: NaiveDate) -> Vec<(DocumentKind, NaiveDate)> {
        let attached = self.attached.iter().filter_map(|(_, k, d)| d.map(|d| (*k, d)));
        let received = self.receipts.iter().map(|(k, d, _)| (*k, *d));
        attached.chain(received).filter(|(_, d)| *d <= deadline).collect()
    }
}

fn has(docs: &[(DocumentKind, NaiveDate)], kinds: &[DocumentKind]) -> bool {
    docs.iter().any(|(k, _)| kinds.contains(k))
}

/// How a fact is backed by these documents.
fn evidence_of(docs: &[(DocumentKind, NaiveDate)], certificate: &[DocumentKind]) -> Evidence {
    if has(docs, certificate) {
        Evidence::Certificate
    } else if has(docs, &[DocumentKind::SelfDeclaration]) {
        Evidence::SelfDeclaration
    } else {
        Evidence::None
    }
}

/// The form as the rules read it, with its documents.
fn form_of(input: &FormInput, channel: Channel, docs: &Docs, deadline: NaiveDate) -> AppResult<rules::Form> {
    use DocumentKind as D;
    if input.ut_score.is_some() && input.declared_score.is_some() {
        return Err(bad("input.declaredScore", "give the score's total or its parts (utScore), not both"));
    }
    let everything = docs.all(deadline);
    let medical: Vec<(DocumentKind, NaiveDate)> = everything.iter().copied().filter(|(k, _)| k.medical()).collect();
    let cohabitation = input.reunion.as_ref().is_some_and(|r| r.registry_cohabitation);
    let reasons = input
        .reasons
        .iter()
        .map(|&kind| Reason {
            kind,
            registry_cohabitation: cohabitation,
            health_evidence: if medical.is_empty() { Evidence::None } else { Evidence::Certificate },
            certificate_received_on: medical.iter().map(|(_, d)| *d).min(),
        })
        .collect();
    let reunion = match &input.reunion {
        Some(r) => {
            let named = docs.named("input.reunion.documents", &r.documents, deadline)?;
            Some(scores::Reunion {
                kin: kin_of(r.relation)?,
                birth_date: r.birth_date,
                severe_disability: evidence_of(&named, &[D::DisabilityCertificate104]),
                disability_valid_until: None,
                kinship_declaration: has(&named, &[D::SelfDeclaration, D::SpouseCohabitationDeclaration]),
                registered_since: r.registered_since,
                employer_declaration: r.new_work_seat && has(&named, &[D::EmployerDeclaration]),
            })
        }
        None => None,
    };
    let mut children = Vec::new();
    for ch in &input.children {
        let named = docs.named("input.children.documents", &ch.documents, deadline)?;
        children.push(scores::Child {
            birth_date: Some(ch.birth_date),
            fostered: ch.relation == ChildRelation::Fostered,
            court_order: has(&named, &[D::CourtOrderFostering]),
            unable_to_work: if ch.unable_to_work { evidence_of(&named, &[D::AslCertificate]) } else { Evidence::None },
        });
    }
    let mut precedences = Vec::new();
    for p in &input.precedences {
        let code = precedence_str(p.code);
        let mut backing = docs.named("input.precedences.documents", &p.documents, deadline)?;
        // Receipts count with their own day: the rule checks it against the deadline.
        backing.extend(docs.receipts.iter().filter(|(_, _, c)| c.as_deref() == Some(&code)).map(|(k, d, _)| (*k, *d)));
        precedences.push(PrecedenceClaim {
            code: p.code,
            documents: backing.iter().map(|(k, d)| Document { kind: *k, received_on: *d }).collect(),
            child_birth_date: p.child_birth_date,
            municipality: p.municipality.clone(),
            details: p.details.clone(),
        });
    }
    Ok(rules::Form {
        kind: input.kind,
        order: input.order,
        scope: input.scope,
        channel,
        class: input.class.clone(),
        additional_classes: input.additional_classes.clone(),
        post_types: input.post_types.clone(),
        reasons,
        reunion_municipality: input.reunion.as_ref().map(|r| r.municipality.clone()),
        family: FamilyDeclarations { reunion, children, assistance: None },
        precedences,
        ut_categories: input.ut_categories.clone(),
        preferences: input.preferences.clone(),
        options: input.options.clone(),
        section_e: input.section_e.clone(),
        confirmation: input.confirmation.clone(),
        chain_start: input.chain_start.clone(),
        diocese: input.diocese.clone(),
        ut_score: input.ut_score.clone(),
    })
}

/// A precedence claim as it stands now, with every document on record (the
/// confirmed attachments and the office's receipts): what the office's
/// review checks again. `None` when the form claims no such precedence.
pub(super) async fn claim_now(
    c: &mut AsyncPgConnection,
    app: &ApplicationRow,
    code: rules::Precedence,
    deadline: NaiveDate,
) -> AppResult<Option<(Kind, PrecedenceClaim)>> {
    let input = input_of(app)?;
    let docs = Docs::load(c, app.id).await?;
    let channel = if app.channel == "online" { Channel::Online } else { Channel::Paper };
    let form = form_of(&input, channel, &docs, deadline)?;
    Ok(form.precedences.into_iter().find(|p| p.code == code).map(|p| (form.kind, p)))
}

/// Everything the rules read besides the form, loaded in one transaction.
struct Loaded {
    year: i32,
    windows: windows::Windows,
    teacher: Teacher,
    regions: BTreeMap<String, String>,
    places: BTreeMap<(PrefKind, String), Place>,
    multi: BTreeSet<String>,
    esubero: i32,
    others: Vec<OtherForm>,
    docs: Docs,
    /// The see of the form's diocese.
    diocese: Option<Place>,
}

impl Loaded {
    /// WIN-5: what counts must exist by the deadline of the teacher's own order.
    fn deadline(&self, day: NaiveDate) -> NaiveDate {
        windows::titles_deadline(&self.windows, self.teacher.category).unwrap_or(day)
    }

    fn form(&self, input: &FormInput, channel: Channel, day: NaiveDate) -> AppResult<rules::Form> {
        form_of(input, channel, &self.docs, self.deadline(day))
    }

    /// Whether the form asks for `office`: the region of its diocese, or
    /// the province of its first preference.
    fn asks_for(&self, input: &FormInput, office: &Office) -> bool {
        let first = input.preferences.first().and_then(|p| self.places.get(&(p.kind, p.code.clone())));
        match office {
            Office::Region(r) => self.diocese.as_ref().is_some_and(|d| &d.region == r),
            Office::Province(p) => self.diocese.is_none() && first.is_some_and(|f| &f.province == p),
        }
    }

    fn context(&self, day: NaiveDate) -> Context<'_> {
        Context {
            year: self.year,
            windows: &self.windows,
            teacher: &self.teacher,
            regions: &self.regions,
            places: &self.places,
            multi_district: &self.multi,
            esubero: self.esubero,
            others: &self.others,
            day,
            diocese: self.diocese.as_ref(),
        }
    }
}

/// Loads the campaign, the places of the form's codes and the teacher's
/// other forms; municipality codes (ISTAT or Belfiore) come back as ISTAT.
async fn load(
    c: &mut AsyncPgConnection,
    teacher: &TeacherRow,
    input: &mut FormInput,
    except: Option<i64>,
) -> AppResult<Loaded> {
    if input.category.is_some_and(|c| c != StaffCategory::of(&teacher.category)) {
        return Err(bad("input.category", format!("the registry's category is {}", teacher.category)));
    }
    let campaign = q::campaign(c, input.campaign_year).await?.ok_or_else(|| {
        bad("input.campaignYear", format!("the office has not opened the campaign {}", input.campaign_year))
    })?;
    let holding = super::holding_place(c, super::holding_of(&teacher.holding_kind), &teacher.holding_code)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("a registry holding outside the territory")))?;
    // The chain's start (PREF-7) is an area code like a preference's.
    let of = |k: PrefKind, input: &FormInput| -> Vec<String> {
        let codes = input.preferences.iter().chain(input.chain_start.as_ref());
        codes.filter(|p| p.kind == k).map(|p| p.code.trim().to_ascii_uppercase()).collect()
    };
    let mut municipalities = of(PrefKind::Municipality, input);
    municipalities.extend(input.reunion.iter().map(|r| r.municipality.trim().to_ascii_uppercase()));
    municipalities.extend(
        input.precedences.iter().filter_map(|p| p.municipality.as_ref()).map(|m| m.trim().to_ascii_uppercase()),
    );
    // Codes are compared in capitals, as the territory stores them.
    if let Some(e) = &mut input.section_e {
        e.previous_school = e.previous_school.trim().to_ascii_uppercase();
    }
    if let Some(conf) = &mut input.confirmation {
        conf.school = conf.school.trim().to_ascii_uppercase();
        conf.class = conf.class.as_ref().map(|c| c.trim().to_ascii_uppercase());
    }
    let mut schools = of(PrefKind::School, input);
    schools.extend(input.section_e.iter().map(|e| e.previous_school.clone()));
    schools.extend(input.confirmation.iter().map(|conf| conf.school.clone()));
    let rows =
        q::places(c, &schools, &municipalities, &of(PrefKind::District, input), &of(PrefKind::Province, input)).await?;
    let kind = |s: &str| match s {
        "school" => PrefKind::School,
        "municipality" => PrefKind::Municipality,
        "district" => PrefKind::District,
        _ => PrefKind::Province,
    };
    let istat: BTreeMap<String, String> = rows
        .iter()
        .filter(|r| r.kind == "municipality")
        .filter_map(|r| Some((r.code.clone(), r.municipality.clone()?)))
        .collect();
    let municipality = |field: &str, raw: &str| -> AppResult<String> {
        istat
            .get(&raw.trim().to_ascii_uppercase())
            .cloned()
            .ok_or_else(|| bad(field, format!("{raw} is not a municipality")))
    };
    for p in input.preferences.iter_mut().chain(input.chain_start.as_mut()) {
        p.code = p.code.trim().to_ascii_uppercase();
        if p.kind == PrefKind::Municipality {
            // An unknown code stays as given: PREF-2 refuses it with its rule.
            if let Some(i) = istat.get(&p.code) {
                p.code = i.clone();
            }
        }
    }
    if let Some(r) = &mut input.reunion {
        r.municipality = municipality("input.reunion.municipality", &r.municipality)?;
    }
    for p in &mut input.precedences {
        if let Some(m) = &mut p.municipality {
            *m = municipality("input.precedences.municipality", m)?;
        }
    }
    let mut places = BTreeMap::new();
    let mut regions = BTreeMap::from([(holding.province.clone(), holding.region.clone())]);
    for r in rows {
        regions.insert(r.province.clone(), r.region.clone());
        let code =
            if r.kind == "municipality" { r.municipality.clone().unwrap_or(r.code.clone()) } else { r.code.clone() };
        let place =
            Place { province: r.province, region: r.region, municipality: r.municipality, district: r.district };
        places.insert((kind(&r.kind), code), place);
    }
    let provinces: Vec<String> = regions.keys().cloned().collect();
    let multi = q::multi_district(c, &provinces).await?.into_iter().collect();
    let class = teacher.class_code.clone().unwrap_or_else(|| teacher.post_type.clone());
    let esubero = q::esubero(c, input.campaign_year, &teacher.province_code, &class).await?;
    let others = q::forms_of(c, &teacher.tax_code, input.campaign_year)
        .await?
        .into_iter()
        .filter(|r| Some(r.id) != except && r.state != "withdrawn")
        .map(|r| OtherForm {
            kind: kind_of(&r.kind),
            order: order_of(&r.school_order),
            submitted: r.state == "submitted",
        })
        .collect();
    let docs = match except {
        Some(id) => Docs::load(c, id).await?,
        None => Docs::default(),
    };
    if let Some(d) = &mut input.diocese {
        *d = d.trim().to_ascii_uppercase();
    }
    let diocese = match &input.diocese {
        Some(code) => match q::diocese(c, code).await? {
            Some(d) => {
                let region = q::region_of(c, &d.province_code).await?;
                Some(Place { province: d.province_code, region, municipality: None, district: None })
            }
            None => None,
        },
        None => None,
    };
    Ok(Loaded {
        diocese,
        docs,
        year: input.campaign_year,
        windows: windows_of(&campaign),
        teacher: teacher_of(teacher, &holding),
        regions,
        places,
        multi,
        esubero,
        others,
    })
}

/// Checks that need no window, for a draft.
fn check_draft(input: &FormInput, loaded: &Loaded, day: NaiveDate) -> AppResult<()> {
    if input.musical_liceo || loaded.teacher.category != windows::Category::Teacher(loaded.teacher.order) {
        return Err(bad("input.category", "this form is on paper: the office records it (CH-1)"));
    }
    let form = loaded.form(input, Channel::Online, day)?;
    rules::check_shape(&form, &loaded.context(day))?;
    Ok(())
}

/// The teacher's own registry row, or a clear refusal.
async fn own_teacher(c: &mut AsyncPgConnection) -> AppResult<TeacherRow> {
    q::own_teacher(c).await?.ok_or_else(|| {
        AppError::Refused("no row of the teacher registry has this account's address: ask the provincial office".into())
    })
}

fn event(action: &'static str, row: &ApplicationRow, province: Option<String>, current: Value) -> Event {
    super::app_event(action, row, province, None, current)
}

/// The row a new form starts as.
fn new_row<'a>(input: &FormInput, teacher: &'a TeacherRow, channel: &'a str, value: &'a Value) -> NewApplication<'a> {
    NewApplication {
        campaign_year: input.campaign_year,
        teacher_tax_code: &teacher.tax_code,
        kind: kind_str(input.kind),
        school_order: order_str(input.order),
        scope: scope_str(input.scope),
        channel,
        home_province: &teacher.province_code,
        input: value,
    }
}

fn conflict_on_duplicate(e: diesel::result::Error) -> AppError {
    if q::duplicate(&e) {
        AppError::Ruled {
            code: "CONFLICT",
            rule: "ORG-4",
            field: Some("input.order"),
            message: "a form of this kind for this order exists already in the campaign".into(),
        }
    } else {
        e.into()
    }
}

/// A new draft of the signed-in teacher.
pub async fn create(db: &RequestDb, input: FormInput, now: DateTime<Utc>) -> AppResult<ApplicationRow> {
    let day = rome::date(now);
    db.try_run(move |c| {
        Box::pin(async move {
            let mut input = input;
            let teacher = own_teacher(c).await?;
            let loaded = load(c, &teacher, &mut input, None).await?;
            check_draft(&input, &loaded, day)?;
            let value = serde_json::to_value(&input).map_err(AppError::internal)?;
            let row = q::insert_application(c, new_row(&input, &teacher, "online", &value))
                .await
                .map_err(conflict_on_duplicate)?;
            audit::record(c, vec![event("create", &row, None, json!({ "kind": row.kind, "order": row.school_order }))])
                .await?;
            Ok(row)
        })
    })
    .await
}

/// Edits a draft (or a withdrawn form, which becomes a draft again).
pub async fn update(db: &RequestDb, id: i64, input: FormInput, now: DateTime<Utc>) -> AppResult<ApplicationRow> {
    let day = rome::date(now);
    db.try_run(move |c| {
        Box::pin(async move {
            let mut input = input;
            let teacher = own_teacher(c).await?;
            let row = q::application_for_update(c, id).await?.ok_or(AppError::NotFound)?;
            if row.teacher_tax_code != teacher.tax_code || row.channel != "online" {
                return Err(AppError::NotFound);
            }
            if row.state == "submitted" {
                return Err(AppError::Conflict("a submitted form is withdrawn before it is changed".into()));
            }
            if input.campaign_year != row.campaign_year {
                return Err(bad("input.campaignYear", "a form stays in its campaign"));
            }
            let loaded = load(c, &teacher, &mut input, Some(id)).await?;
            check_draft(&input, &loaded, day)?;
            let value = serde_json::to_value(&input).map_err(AppError::internal)?;
            let kind = kind_str(input.kind);
            let updated = q::set_input(c, id, kind, order_str(input.order), scope_str(input.scope), &value)
                .await
                .map_err(conflict_on_duplicate)?;
            let e = Event { previous: Some(row.input.clone()), ..event("update", &updated, None, value) };
            audit::record(c, vec![e]).await?;
            Ok(updated)
        })
    })
    .await
}

fn assessment_value(a: &rules::Assessment) -> AppResult<Value> {
    serde_json::to_value(a).map_err(AppError::internal)
}

/// Submits the teacher's form: the personal code first, then every rule
/// on the day of submission. A refusal stores nothing.
pub async fn submit(
    db: &RequestDb,
    code: CodeCheck<'_>,
    mailer: Option<&Mailer>,
    id: i64,
    now: DateTime<Utc>,
) -> AppResult<ApplicationRow> {
    code.verify().await?;
    let day = rome::date(now);
    let row = db
        .try_run(move |c| {
            Box::pin(async move {
                let teacher = own_teacher(c).await?;
                let row = q::application_for_update(c, id).await?.ok_or(AppError::NotFound)?;
                if row.teacher_tax_code != teacher.tax_code || row.channel != "online" {
                    return Err(AppError::NotFound);
                }
                if row.state == "submitted" {
                    return Err(AppError::Conflict("the form is submitted already".into()));
                }
                let mut input = input_of(&row)?;
                let loaded = load(c, &teacher, &mut input, Some(id)).await?;
                check_draft(&input, &loaded, day)?;
                let assessment = rules::assess(&loaded.form(&input, Channel::Online, day)?, &loaded.context(day))?;
                let snapshot = serde_json::to_value(&loaded.teacher).map_err(AppError::internal)?;
                let value = assessment_value(&assessment)?;
                let submitted = q::submit(c, &row, submission(&assessment, &input, &snapshot, &value, now))
                    .await
                    .map_err(conflict_on_duplicate)?;
                let e = event(
                    "submit",
                    &submitted,
                    None,
                    json!({ "protocolNumber": submitted.protocol_number, "office": submitted.processing_province,
                            "warnings": assessment.warnings.len() }),
                );
                audit::record(c, vec![e]).await?;
                super::review::send_ut_score(c, &submitted, &teacher, declared(&input, &assessment)).await?;
                Ok((submitted, teacher))
            })
        })
        .await?;
    let (submitted, teacher) = row;
    if let (Some(mailer), Some(receipt)) = (mailer, receipt_of(&submitted, Some(&teacher))) {
        receipt_mail(mailer.clone(), teacher.email.clone(), receipt);
    }
    Ok(submitted)
}

/// The e-mail that confirms a submission, with its protocol number and the
/// PDF receipt attached.
fn receipt_mail(mailer: Mailer, to: String, receipt: Receipt) {
    let warnings = if receipt.warnings.is_empty() {
        "- nessuna\n".to_owned()
    } else {
        receipt.warnings.iter().map(|w| format!("- {w}\n")).collect()
    };
    crate::mail::in_background("mobility receipt", async move {
        let Receipt { protocol, kind, school_year, office, .. } = &receipt;
        let at = rome::local(receipt.submitted_at).format("%d/%m/%Y %H:%M");
        let body = format!(
            "Gentile docente,\n\n\
             la sua domanda di {kind} per l'a.s. {school_year} è stata inoltrata il {at}.\n\
             Numero di protocollo: {protocol}\n\
             Ufficio che la tratta: {office}\n\n\
             Avvertenze (correggibili entro la scadenza ritirando e ripresentando la domanda):\n{warnings}\n\
             In allegato la ricevuta in PDF.\n\n\
             Your application was submitted with protocol number {protocol}; the PDF receipt is attached.\n",
            kind = kind.to_lowercase(),
        );
        let pdf = crate::reports::mobility::receipt_pdf(&receipt);
        let name = format!("ricevuta-{protocol}.pdf");
        mailer.send_with_pdf(&to, &format!("Ambito: domanda {protocol}"), body, &name, pdf).await
    });
}

/// A submitted form's receipt, in words (R-ROUTE-3); `None` for a draft or
/// a withdrawn form, which have none. `teacher` is the name, when the
/// reader sees the registry row.
pub fn receipt_of(row: &ApplicationRow, teacher: Option<&TeacherRow>) -> Option<Receipt> {
    if row.state != "submitted" {
        return None;
    }
    let stored = stored_of(row);
    let pref_kind = |k: rules::PrefKind| match k {
        rules::PrefKind::School => "scuola",
        rules::PrefKind::Municipality => "comune",
        rules::PrefKind::District => "distretto",
        rules::PrefKind::Province => "provincia",
    };
    let preferences = stored
        .preferences
        .iter()
        .map(|p| match (&p.rule, p.effective) {
            (_, true) => format!("{}. {} {}", p.position, pref_kind(p.kind), p.code),
            (rule, false) => format!(
                "{}. {} {}: non efficace ({})",
                p.position,
                pref_kind(p.kind),
                p.code,
                rule.as_deref().unwrap_or("-")
            ),
        })
        .collect();
    let mut precedences: Vec<String> = stored
        .precedences
        .iter()
        .map(|p| match (p.recognised, &p.rule) {
            (Some(false), rule) => {
                format!("{}: non riconosciuta ({})", precedence_str(p.code), rule.as_deref().unwrap_or("-"))
            }
            (Some(true), _) => format!("{}: riconosciuta", precedence_str(p.code)),
            (None, _) => format!("{}: da verificare dall'ufficio", precedence_str(p.code)),
        })
        .collect();
    let input = input_of(row).ok();
    if let Some(e) = input.as_ref().and_then(|i| i.section_e.as_ref()) {
        let standing = if stored.section_e == Some(true) { "riconosciuta" } else { "non riconosciuta" };
        precedences.push(format!("Sezione E, rientro in {}: {standing}", e.previous_school));
    }
    if let Some(conf) = input.as_ref().and_then(|i| i.confirmation.as_ref()) {
        precedences.push(format!("Conferma nella scuola {}", conf.school));
    }
    let year = row.campaign_year;
    Some(Receipt {
        protocol: row.protocol_number.clone()?,
        kind: if row.kind == "ut" { "Utilizzazione" } else { "Assegnazione provvisoria" }.into(),
        school_year: format!("{year}/{:02}", (year + 1) % 100),
        order: row.school_order.replace('_', " "),
        scope: if row.scope == "interprovincial" { "interprovinciale" } else { "provinciale" }.into(),
        channel: if row.channel == "online" { "online".into() } else { format!("cartaceo ({})", row.channel) },
        submitted_at: row.submitted_at?,
        office: match routed_office(row) {
            Some(Office::Region(r)) => format!("Direzione regionale {r}"),
            Some(Office::Province(p)) => format!("Ufficio scolastico di {p}"),
            None => "-".into(),
        },
        teacher: teacher.map(|t| format!("{} {}", t.last_name, t.first_name)).unwrap_or_default(),
        tax_code: row.teacher_tax_code.clone(),
        preferences,
        precedences,
        warnings: stored.warnings.iter().map(|w| format!("{}: {}", w.rule, w.message)).collect(),
    })
}

/// The receipt of a form the caller sees: the teacher's own, or one routed
/// to the office. Not found otherwise, and for forms not submitted. Each
/// download is a read in the audit trail: the receipt names the teacher
/// and their precedences.
pub async fn receipt(db: &RequestDb, caller: &Caller, id: i64) -> AppResult<Receipt> {
    // A provincial office files the read in its trail; a teacher or a
    // directorate acts for no province.
    let province = caller.office().ok().and_then(Office::audit_province);
    db.try_run(move |c| {
        Box::pin(async move {
            let row = q::application(c, id).await?.ok_or(AppError::NotFound)?;
            let teacher = q::teacher(c, &row.teacher_tax_code).await?;
            let receipt = receipt_of(&row, teacher.as_ref()).ok_or(AppError::NotFound)?;
            let e = event("download_receipt", &row, province, json!({ "protocolNumber": receipt.protocol }));
            audit::record(c, vec![e]).await?;
            Ok(receipt)
        })
    })
    .await
}

/// Withdraws a submitted form while its window is open (Ambiguity 20), with
/// the personal code. The form for the post held stays while forms for
/// other orders stand (ORG-2, Ambiguity 31).
pub async fn withdraw(db: &RequestDb, code: CodeCheck<'_>, id: i64, now: DateTime<Utc>) -> AppResult<ApplicationRow> {
    code.verify().await?;
    let day = rome::date(now);
    db.try_run(move |c| {
        Box::pin(async move {
            let teacher = own_teacher(c).await?;
            let row = q::application_for_update(c, id).await?.ok_or(AppError::NotFound)?;
            if row.teacher_tax_code != teacher.tax_code || row.channel != "online" {
                return Err(AppError::NotFound);
            }
            if row.state != "submitted" {
                return Err(AppError::Conflict("only a submitted form is withdrawn".into()));
            }
            let campaign = q::campaign(c, row.campaign_year).await?.ok_or(AppError::NotFound)?;
            let windows = windows_of(&campaign);
            let own = order_of(&teacher.school_order);
            let category = StaffCategory::of(&teacher.category).category(own, false);
            let form = windows::Form { category, order: Some(order_of(&row.school_order)), channel: Channel::Online };
            windows::check(&windows, &form, day).map_err(|f| AppError::Ruled {
                code: "CAMPAIGN_CLOSED",
                rule: f.rule,
                field: None,
                message: format!("after the window only the office records a written withdrawal ({})", f.reason),
            })?;
            if row.kind == "ap" && order_of(&row.school_order) == own {
                let others = q::forms_of(c, &teacher.tax_code, row.campaign_year).await?;
                if others.iter().any(|o| o.kind == "ap" && o.school_order != row.school_order && o.state != "withdrawn")
                {
                    return Err(AppError::Ruled {
                        code: "BAD_USER_INPUT",
                        rule: "ORG-2",
                        field: None,
                        message: "withdraw the forms for other orders first".into(),
                    });
                }
            }
            let done = q::withdraw(c, id, now).await?;
            audit::record(c, vec![event("withdraw", &done, None, json!({ "protocolNumber": done.protocol_number }))])
                .await?;
            Ok(done)
        })
    })
    .await
}

/// SC-U1/U2: the score the school of service validates: the total of the
/// components when the form gives them, else the total declared.
fn declared(input: &FormInput, a: &rules::Assessment) -> Option<f64> {
    a.ut_score.as_ref().map(|s| s.total).or(input.declared_score)
}

/// What a submission stores of its assessment: where it is routed.
fn submission<'a>(
    a: &'a rules::Assessment,
    input: &'a FormInput,
    snapshot: &'a Value,
    stored: &'a Value,
    at: DateTime<Utc>,
) -> Submission<'a> {
    Submission {
        processing_province: &a.processing_province,
        processing_region: a.processing_region.as_deref(),
        diocese: a.processing_region.as_ref().and(input.diocese.as_deref()),
        teacher_snapshot: snapshot,
        assessment: stored,
        at,
    }
}

/// The office an assessment routes the form to (R-ROUTE-1).
pub fn office_of(a: &rules::Assessment) -> Office {
    match &a.processing_region {
        Some(r) => Office::Region(r.clone()),
        None => Office::Province(a.processing_province.clone()),
    }
}

/// The office a stored form is routed to.
pub fn routed_office(row: &ApplicationRow) -> Option<Office> {
    match (&row.processing_region, &row.processing_province) {
        (Some(r), _) => Some(Office::Region(r.clone())),
        (None, Some(p)) => Some(Office::Province(p.clone())),
        _ => None,
    }
}

/// How a receipt and an error name an office.
pub fn office_name(o: &Office) -> String {
    match o {
        Office::Province(p) => format!("the office of {p}"),
        Office::Region(r) => format!("the regional directorate of {r}"),
    }
}

/// The office enters a paper form received on `received_on` (R-ROUTE-2):
/// checked as on that day, routed to the office that records it.
pub async fn record_paper(
    db: &RequestDb,
    caller: &Caller,
    tax_code: &str,
    input: FormInput,
    received_on: NaiveDate,
    now: DateTime<Utc>,
) -> AppResult<ApplicationRow> {
    let office = caller.office()?;
    if received_on > rome::date(now) {
        return Err(bad("receivedOn", "cannot be in the future"));
    }
    let tax = crate::rules::tax_code::parse(tax_code).map_err(|r| bad("teacherTaxCode", r))?.code;
    db.try_run(move |c| {
        Box::pin(async move {
            let mut input = input;
            // A teacher of another registry is reached for this form only,
            // and a form not routed here is then as unknown as the teacher.
            let (teacher, foreign) = match q::teacher(c, &tax).await? {
                Some(t) => (t, false),
                None => (q::teacher_for_paper_form(c, &tax).await?.ok_or(AppError::NotFound)?, true),
            };
            let mut loaded = load(c, &teacher, &mut input, None).await?;
            if input.musical_liceo {
                loaded.teacher.category = windows::Category::LiceoMusicale;
            }
            // Another registry's teacher: nothing is said about them unless
            // the form asks for this office (its diocese, or its first
            // preference), not even which rule refuses it.
            if foreign && !loaded.asks_for(&input, &office) {
                return Err(AppError::NotFound);
            }
            let assessment =
                rules::assess(&loaded.form(&input, Channel::Paper, received_on)?, &loaded.context(received_on))?;
            let routed_to = office_of(&assessment);
            if routed_to != office && foreign {
                return Err(AppError::NotFound);
            } else if routed_to != office {
                return Err(AppError::Ruled {
                    code: "BAD_USER_INPUT",
                    rule: "R-ROUTE-1",
                    field: None,
                    message: format!("this form is routed to {}", office_name(&routed_to)),
                });
            }
            let value = serde_json::to_value(&input).map_err(AppError::internal)?;
            let snapshot = serde_json::to_value(&loaded.teacher).map_err(AppError::internal)?;
            let stored = assessment_value(&assessment)?;
            let row = q::insert_paper(
                c,
                new_row(&input, &teacher, "paper", &value),
                received_on,
                submission(&assessment, &input, &snapshot, &stored, now),
            )
            .await
            .map_err(conflict_on_duplicate)?;
            let province = routed_to.audit_province();
            let e = event(
                "record_paper",
                &row,
                province,
                json!({ "protocolNumber": row.protocol_number, "receivedOn": received_on }),
            );
            audit::record(c, vec![e]).await?;
            super::review::send_ut_score(c, &row, &teacher, declared(&input, &assessment)).await?;
            Ok(row)
        })
    })
    .await
}

pub async fn application(db: &RequestDb, id: i64) -> AppResult<Option<ApplicationRow>> {
    db.run(move |c| Box::pin(q::application(c, id))).await
}

/// A page of the applications in the caller's scope.
pub async fn applications(
    db: &RequestDb,
    f: q::ApplicationFilter,
    page: PageRequest,
) -> AppResult<Vec<ApplicationRow>> {
    db.run(move |c| Box::pin(async move { q::applications_page(c, &f, &page).await })).await
}

pub async fn applications_count(db: &RequestDb, f: q::ApplicationFilter) -> AppResult<i64> {
    db.run(move |c| Box::pin(async move { q::applications_count(c, &f).await })).await
}

/// The documents of an application the caller sees.
pub async fn documents(db: &RequestDb, id: i64) -> AppResult<Vec<crate::db::attachments::AttachmentRow>> {
    db.run(move |c| Box::pin(q::attachments_of(c, id))).await
}

/// The documents the office received off line for an application.
pub async fn receipts(db: &RequestDb, id: i64) -> AppResult<Vec<q::ReceiptRow>> {
    db.run(move |c| Box::pin(q::receipts_of(c, id))).await
}

/// A registry row in the caller's scope.
pub async fn teacher(db: &RequestDb, tax_code: String) -> AppResult<Option<TeacherRow>> {
    db.run(move |c| Box::pin(async move { q::teacher(c, &tax_code).await })).await
}

/// The demo's forms (`src/demo/mobility.rs`), as the owner: a draft, then,
/// for `submit`, every rule as on `day` and the same stored assessment as
/// a teacher's submission. A form the rules refuse stays a draft. A paper
/// form (`paper`) is recorded as received on `day`, as the office would.
pub(crate) async fn demo_form(
    c: &mut AsyncPgConnection,
    teacher: &TeacherRow,
    mut input: FormInput,
    day: NaiveDate,
    at: DateTime<Utc>,
    submit: bool,
    paper: bool,
) -> AppResult<Option<ApplicationRow>> {
    let value = serde_json::to_value(&input).map_err(AppError::internal)?;
    let channel = if paper { Channel::Paper } else { Channel::Online };
    let row = match paper {
        true => None,
        false => Some(q::insert_application(c, new_row(&input, teacher, "online", &value)).await?),
    };
    if !submit {
        return Ok(row);
    }
    let loaded = load(c, teacher, &mut input, row.as_ref().map(|r| r.id)).await?;
    let Ok(assessment) = rules::assess(&loaded.form(&input, channel, day)?, &loaded.context(day)) else {
        return Ok(row);
    };
    let snapshot = serde_json::to_value(&loaded.teacher).map_err(AppError::internal)?;
    let stored = assessment_value(&assessment)?;
    let s = submission(&assessment, &input, &snapshot, &stored, at);
    let done = match &row {
        Some(r) => q::submit(c, r, s).await?,
        None => q::insert_paper(c, new_row(&input, teacher, "paper", &value), day, s).await?,
    };
    super::review::send_ut_score(c, &done, teacher, declared(&input, &assessment)).await?;
    Ok(Some(done))
}
