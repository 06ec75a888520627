//! One phase of the allocation (spec §9) from the stored applications, as
//! pure code: who takes part, what each form asks, where each precedence
//! counts, how area codes expand to schools, and which free posts a phase
//! may fill. The caller loads the facts; this module decides. Its output is
//! the engine's whole input, hashed so a run can be recomputed and checked.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::allocation::{self, Allocation, Candidate, ChairKind, Override, Skip, Terms, Vacancy, Violation, Wish};
use super::application::{ChairOption, Kind, PostType, Precedence, PrefKind, Scope};
use super::{Order, hours};

/// SEQ-1: the phases the office runs, in their legal order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// (2) utilisations and provisional assignments within the province.
    UtApIntra,
    /// (4) interprovincial provisional assignments, after the appointments.
    ApInter,
}

impl Phase {
    /// SEQ-1: the phase that must be closed (approved) before this one runs.
    pub fn after(self) -> Option<Phase> {
        match self {
            Phase::UtApIntra => None,
            Phase::ApInter => Some(Phase::UtApIntra),
        }
    }

    /// Which forms take part: UT and provincial AP in the first, the
    /// interprovincial AP in the second.
    pub fn takes(self, kind: Kind, scope: Scope) -> bool {
        match self {
            Phase::UtApIntra => kind == Kind::Ut || scope == Scope::Provincial,
            Phase::ApInter => kind == Kind::Ap && scope == Scope::Interprovincial,
        }
    }
}

/// Where a school or a code lies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spot {
    pub province: String,
    /// The ISTAT code of the municipality it lies wholly inside, if any.
    pub municipality: Option<String>,
    pub district: Option<String>,
}

/// An effective preference with the place of its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedPreference {
    pub position: u32,
    pub kind: PrefKind,
    pub code: String,
    pub spot: Spot,
}

/// A precedence that counts in a run (every one not refused, spec contract:
/// «a run counts every precedence that is not false»), with the place it
/// names (care, residence, the assisted person, the mandate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedPrecedence {
    pub code: Precedence,
    pub spot: Option<Spot>,
}

/// One submitted form and what the office decided on it, as loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct FormFacts {
    pub application: i64,
    /// Groups the forms of one teacher (one post each, ORG-4); never stored
    /// in the run's input.
    pub teacher: String,
    /// The pseudonymous code certificates show: the protocol number.
    pub code: String,
    pub birth_date: NaiveDate,
    pub submitted_at: i64,
    pub kind: Kind,
    pub scope: Scope,
    pub order: Order,
    /// The teacher's own order and class (ORG-3: those come first).
    pub own_order: Order,
    pub own_class: Option<String>,
    pub class: Option<String>,
    /// AP: the other classes asked (§3.3); UT: the classes for utilisation (POST-12).
    pub other_classes: Vec<String>,
    pub post_types: Vec<PostType>,
    pub chairs: Option<ChairOption>,
    pub score: f64,
    pub preferences: Vec<PlacedPreference>,
    pub precedences: Vec<CountedPrecedence>,
    /// UT-E1 recognised: where the previous school lies, and its code.
    pub section_e: Option<(String, Spot)>,
    /// COM-1: an AP by the holder of a school post skips it.
    pub skip: Option<Skip>,
    /// POST-8: the service hours, when the form asks for posts of part-posts.
    pub part_posts: Option<u32>,
}

/// A line of free posts as stored, with where its school lies.
#[derive(Debug, Clone, PartialEq)]
pub struct VacancyFacts {
    pub school: String,
    pub spot: Spot,
    pub post_type: PostType,
    pub class: Option<String>,
    pub chair: ChairKind,
    pub count: u32,
    /// Seats an approved run of another phase already filled.
    pub taken_before: u32,
    /// POST-8: a line of part-posts of these weekly hours each; none for
    /// whole posts.
    pub hours: Option<u32>,
}

/// The engine's whole input for one run: what is hashed, stored and
/// recomputed by `ambito mobility verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInput {
    pub campaign_year: i32,
    pub province: String,
    pub phase: Phase,
    pub candidates: Vec<Candidate>,
    pub vacancies: Vec<Vacancy>,
    /// The office's manual assignments (absent from the hash when none, so
    /// runs stored before overrides existed verify as they were).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
}

impl RunInput {
    /// SHA-256 of the canonical JSON (struct fields in their declared order).
    pub fn hash(&self) -> String {
        hex(&Sha256::digest(serde_json::to_vec(self).expect("plain data serialises")))
    }
}

/// The hash of an allocation's result, chained into the audit trail.
pub fn outcome_hash(a: &Allocation) -> String {
    hex(&Sha256::digest(serde_json::to_vec(a).expect("plain data serialises")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the engine on a stored input: the same input, the same result.
pub fn run(input: &RunInput) -> Result<Allocation, Violation> {
    allocation::allocate_with(&input.candidates, &input.vacancies, &input.overrides)
}

/// The birth date a tax code encodes: a teacher is an adult, so a two-digit
/// year that would make them younger than 18 in the campaign year is of
/// the previous century.
pub fn birth_date_of(tax_code: &str, campaign_year: i32) -> Option<NaiveDate> {
    let t = crate::rules::tax_code::parse(tax_code).ok()?;
    let century = if 2000 + t.year2 as i32 <= campaign_year - 18 { 2000 } else { 1900 };
    NaiveDate::from_ymd_opt(century + t.year2 as i32, t.month, t.day)
}

/// COM-1 and COM-2 (Ambiguities 6, 7): an AP by the holder of a school
/// post skips the schools of its municipality, or, in a city of several
/// districts, only those of the district held. Ambit and provincial holders
/// and UT skip nothing.
pub fn skip_of(kind: Kind, holds_a_school: bool, held: &Spot, multi_district: bool) -> Option<Skip> {
    if kind != Kind::Ap || !holds_a_school {
        return None;
    }
    Some(Skip {
        municipality: held.municipality.clone()?,
        district: if multi_district { held.district.clone() } else { None },
    })
}

/// POST-7: the chair kinds an option accepts, in the PREF-6 order. No
/// choice means internal chairs only; the external options never exclude
/// internal chairs, and «comuni diversi» includes the same municipality.
pub fn chairs_of(option: Option<ChairOption>) -> Vec<ChairKind> {
    let n = match option {
        None | Some(ChairOption::InternalOnly) => 1,
        Some(ChairOption::ExternalSameMunicipality) => 2,
        Some(ChairOption::ExternalOtherMunicipalities) => 3,
    };
    ChairKind::ORDER[..n].to_vec()
}

/// SEQ-4/5: UT first (Ambiguity 24), then AP in the teacher's own order
/// and class, then AP across orders or classes (ORG-3).
pub fn group_of(f: &FormFacts) -> u8 {
    if f.kind == Kind::Ut {
        return 0;
    }
    let own = f.order == f.own_order && (f.order.first_cycle() || f.class == f.own_class);
    if own { 1 } else { 2 }
}

/// §4.5: whether a precedence counts at a preference. `index` is the
/// preference's place among the form's effective ones; `reached` is the
/// first index whose code lies in the precedence's municipality.
fn counts_at(
    p: &CountedPrecedence,
    pref: &PlacedPreference,
    index: usize,
    reached: Option<usize>,
    f: &FormFacts,
) -> bool {
    use Precedence as P;
    let municipality = p.spot.as_ref().and_then(|s| s.municipality.as_deref());
    match p.code {
        // f in the province of residence; r in the province of domicile
        // (the office's own when the form names none).
        P::FSevereHandicapSelf | P::RUnionLeaveEnd => {
            let province = p.spot.as_ref().map(|s| s.province.as_str());
            province.is_none_or(|pr| pr == pref.spot.province)
        }
        // g, h, i: in the assisted person's municipality and after it.
        P::GAssistChild | P::HAssistSpouseOrParent | P::ISoleRelative => reached.is_some_and(|r| index >= r),
        // m: interprovincial only.
        P::MChild6To12 => f.scope == Scope::Interprovincial,
        // q: the mandate's seat.
        P::QLocalPublicOffice => municipality.is_some() && pref.spot.municipality.as_deref() == municipality,
        // a, b, d, e (from preference 1 on), l, n, o: every preference.
        _ => true,
    }
}

/// The strongest precedence that counts at each effective preference.
pub fn precedences_at(f: &FormFacts) -> Vec<Option<Precedence>> {
    let reached: Vec<Option<usize>> = f
        .precedences
        .iter()
        .map(|p| {
            let m = p.spot.as_ref().and_then(|s| s.municipality.as_deref())?;
            f.preferences.iter().position(|x| x.spot.municipality.as_deref() == Some(m))
        })
        .collect();
    f.preferences
        .iter()
        .enumerate()
        .map(|(i, pref)| {
            f.precedences
                .iter()
                .zip(&reached)
                .filter(|(p, r)| counts_at(p, pref, i, **r, f))
                .map(|(p, _)| p.code)
                .min_by_key(|c| (allocation::rank(Some(*c), false), *c))
        })
        .collect()
}

/// UT-E1: the return counts at a preference naming the previous school,
/// or (subordinately) its district or municipality.
fn section_e_at(f: &FormFacts, pref: &PlacedPreference) -> bool {
    let Some((school, spot)) = &f.section_e else { return false };
    match pref.kind {
        PrefKind::School => pref.code == *school,
        PrefKind::District => spot.district.is_some() && pref.spot.district == spot.district,
        PrefKind::Municipality => spot.municipality.is_some() && pref.spot.municipality == spot.municipality,
        PrefKind::Province => false,
    }
}

/// SEQ-6: the schools with free posts, by the areas that contain them,
/// each list in ascending ministry code (the documented order within an
/// area). Built once per run, so an area code is a lookup, not a scan.
struct Areas<'a> {
    schools: BTreeSet<&'a str>,
    by_area: BTreeMap<(PrefKind, &'a str), Vec<&'a str>>,
}

impl<'a> Areas<'a> {
    fn new(lines: &'a [VacancyFacts]) -> Areas<'a> {
        let schools: BTreeMap<&str, &Spot> = lines.iter().map(|l| (l.school.as_str(), &l.spot)).collect();
        let mut by_area: BTreeMap<(PrefKind, &str), Vec<&str>> = BTreeMap::new();
        // Schools in code order, so each area's list is too.
        for (&code, spot) in &schools {
            let areas = [
                spot.municipality.as_deref().map(|m| (PrefKind::Municipality, m)),
                spot.district.as_deref().map(|d| (PrefKind::District, d)),
                Some((PrefKind::Province, spot.province.as_str())),
            ];
            for area in areas.into_iter().flatten() {
                by_area.entry(area).or_default().push(code);
            }
        }
        Areas { schools: schools.into_keys().collect(), by_area }
    }

    /// The schools with free posts a preference covers.
    fn schools_of(&self, pref: &PlacedPreference) -> Vec<String> {
        let key = match pref.kind {
            PrefKind::School => {
                let known = self.schools.contains(pref.code.as_str());
                return if known { vec![pref.code.clone()] } else { vec![] };
            }
            // A municipality answers by its ISTAT code, whichever code the form gave.
            PrefKind::Municipality => match pref.spot.municipality.as_deref() {
                Some(m) => (PrefKind::Municipality, m),
                None => return vec![],
            },
            kind => (kind, pref.code.as_str()),
        };
        self.by_area.get(&key).map_or_else(Vec::new, |v| v.iter().map(|c| c.to_string()).collect())
    }
}

/// SEQ-2: the surplus key of a line: its class, or its post type where
/// there is no class.
pub fn surplus_key(class: Option<&str>, post_type: &str) -> String {
    class.unwrap_or(post_type).to_owned()
}

/// Builds a run's input: the forms of the phase grouped by teacher (UT
/// first, then the own-order form, then the others by id), the lines with
/// the seats left by earlier phases, and, for the interprovincial phase,
/// only lines whose surplus is zero (SEQ-2). `surplus` gives the surplus
/// per key (`surplus_key`); a line with no entry has none.
pub fn input(
    campaign_year: i32,
    province: &str,
    phase: Phase,
    forms: &[FormFacts],
    lines: &[VacancyFacts],
    surplus: &BTreeMap<String, u32>,
    post_type_str: impl Fn(PostType) -> &'static str,
) -> RunInput {
    let open = lines.iter().filter(|l| {
        phase != Phase::ApInter
            || surplus.get(&surplus_key(l.class.as_deref(), post_type_str(l.post_type))).is_none_or(|n| *n == 0)
    });
    let vacancies = vacancies_of(open);
    let areas = Areas::new(lines);
    let mut by_teacher: BTreeMap<&str, Vec<&FormFacts>> = BTreeMap::new();
    for f in forms.iter().filter(|f| phase.takes(f.kind, f.scope)) {
        by_teacher.entry(f.teacher.as_str()).or_default().push(f);
    }
    let mut candidates: Vec<Candidate> = by_teacher
        .into_values()
        .map(|mut fs| {
            fs.sort_by_key(|f| (f.kind != Kind::Ut, f.order != f.own_order, f.application));
            let mut c = Candidate {
                id: fs.iter().map(|f| f.application).min().unwrap_or_default(),
                code: fs[0].code.clone(),
                birth_date: fs[0].birth_date,
                submitted_at: fs.iter().map(|f| f.submitted_at).min().unwrap_or_default(),
                forms: Vec::new(),
                wishes: Vec::new(),
            };
            for (n, f) in fs.iter().enumerate() {
                c.forms.push(Terms {
                    application: f.application,
                    group: group_of(f),
                    score: f.score,
                    classes: ordered_classes(f),
                    post_types: f.post_types.clone(),
                    chairs: chairs_of(f.chairs),
                    skip: f.skip.clone(),
                    part_posts: f.part_posts,
                });
                let at = precedences_at(f);
                for (pref, precedence) in f.preferences.iter().zip(at) {
                    c.wishes.push(Wish {
                        form: n,
                        position: pref.position,
                        code: pref.code.clone(),
                        schools: areas.schools_of(pref),
                        precedence,
                        section_e: section_e_at(f, pref),
                    });
                }
            }
            c
        })
        .collect();
    candidates.sort_by_key(|c| c.id);
    RunInput { campaign_year, province: province.to_owned(), phase, candidates, vacancies, overrides: Vec::new() }
}

/// The engine's lines from the stored ones, with the seats earlier phases
/// left: whole posts as they are, then (POST-8) the part-posts of each
/// school, post type, class and chair kind composed into full posts of
/// their order ([`hours::compose`]), and what is left as single part-posts.
/// Part-post lines come last, so within a school and class a whole post is
/// offered before one of part-posts.
fn vacancies_of<'a>(lines: impl Iterator<Item = &'a VacancyFacts>) -> Vec<Vacancy> {
    let line = |l: &VacancyFacts, seats: u32, hours: Option<u32>, parts: Vec<u32>| Vacancy {
        school: l.school.clone(),
        municipality: l.spot.municipality.clone().unwrap_or_default(),
        post_type: l.post_type,
        class: l.class.clone(),
        chair: l.chair,
        seats,
        district: l.spot.district.clone(),
        hours,
        parts,
    };
    let mut out = Vec::new();
    // The part-posts of each group, in the order groups first appear.
    let mut groups: Vec<(&VacancyFacts, Vec<u32>)> = Vec::new();
    let mut group_of: HashMap<(&str, PostType, Option<&str>, ChairKind), usize> = HashMap::new();
    for l in lines {
        let seats = l.count.saturating_sub(l.taken_before);
        match l.hours {
            _ if seats == 0 => {}
            None => out.push(line(l, seats, None, Vec::new())),
            Some(h) => {
                let key = (l.school.as_str(), l.post_type, l.class.as_deref(), l.chair);
                let g = *group_of.entry(key).or_insert_with(|| {
                    groups.push((l, Vec::new()));
                    groups.len() - 1
                });
                groups[g].1.extend(std::iter::repeat_n(h, seats as usize));
            }
        }
    }
    for (l, pieces) in groups {
        let (posts, left) = match hours::line_order(&l.school, l.class.as_deref()) {
            Some(order) => hours::compose(&pieces, hours::full_hours(order)),
            None => (Vec::new(), pieces),
        };
        // Alike posts (the same part-posts) and alike leftovers make one line each.
        let mut alike: Vec<(Vec<u32>, u32)> = Vec::new();
        for parts in posts.into_iter().chain(left.into_iter().map(|h| vec![h])) {
            match alike.iter_mut().find(|(p, _)| *p == parts) {
                Some((_, n)) => *n += 1,
                None => alike.push((parts, 1)),
            }
        }
        for (parts, seats) in alike {
            let hours = parts.iter().sum();
            let parts = if parts.len() > 1 { parts } else { Vec::new() };
            out.push(line(l, seats, Some(hours), parts));
        }
    }
    out
}

/// An override as the office recorded it: the form and the line it names.
#[derive(Debug, Clone, PartialEq)]
pub struct OverrideFacts {
    pub application: i64,
    pub school: String,
    pub post_type: PostType,
    pub class: Option<String>,
    pub chair: ChairKind,
    pub reason: String,
}

/// The run's input with the office's overrides placed on its lines, in the
/// order given. An override whose line has no free post in this run keeps
/// no line, and the engine refuses the run naming its application.
pub fn with_overrides(mut input: RunInput, overrides: &[OverrideFacts]) -> RunInput {
    input.overrides = overrides
        .iter()
        .map(|o| Override {
            application: o.application,
            vacancy: input
                .vacancies
                .iter()
                .position(|v| {
                    // An override names a line of whole posts.
                    v.hours.is_none()
                        && v.school == o.school
                        && v.post_type == o.post_type
                        && v.class == o.class
                        && v.chair == o.chair
                })
                .unwrap_or(usize::MAX),
            reason: o.reason.clone(),
        })
        .collect();
    input
}

/// A precedence as §4.5 letters it: `(l)`.
fn letter(p: Option<Precedence>) -> String {
    p.map_or_else(|| "none".to_owned(), |p| format!("({})", format!("{p:?}")[..1].to_ascii_lowercase()))
}

/// One run's input, indexed once for [`Why`]: each form's candidate, the
/// lines of each school, the overrides on the lines of each school.
struct Side<'a> {
    input: &'a RunInput,
    forms: HashMap<i64, (usize, usize)>,
    lines: HashMap<&'a str, Vec<&'a Vacancy>>,
    by_hand: HashMap<&'a str, Vec<&'a Override>>,
}

impl<'a> Side<'a> {
    fn new(input: &'a RunInput) -> Side<'a> {
        let mut forms = HashMap::new();
        for (c, cand) in input.candidates.iter().enumerate() {
            for (f, t) in cand.forms.iter().enumerate() {
                forms.insert(t.application, (c, f));
            }
        }
        let mut lines: HashMap<&str, Vec<&Vacancy>> = HashMap::new();
        for v in &input.vacancies {
            lines.entry(v.school.as_str()).or_default().push(v);
        }
        let mut by_hand: HashMap<&str, Vec<&Override>> = HashMap::new();
        for o in &input.overrides {
            if let Some(v) = input.vacancies.get(o.vacancy) {
                by_hand.entry(v.school.as_str()).or_default().push(o);
            }
        }
        Side { input, forms, lines, by_hand }
    }

    fn form(&self, application: i64) -> Option<(&'a Candidate, usize)> {
        self.forms.get(&application).map(|&(c, f)| (&self.input.candidates[c], f))
    }

    /// Free posts the form could take at these schools: of its post types,
    /// and (POST-8) part-posts only if they fit its hours.
    fn seats(&self, schools: &BTreeSet<&str>, t: &Terms) -> u32 {
        let lines = schools.iter().filter_map(|s| self.lines.get(s)).flatten();
        lines.filter(|v| t.post_types.contains(&v.post_type) && v.fits(t)).map(|v| v.seats).sum()
    }

    /// The reasons of other forms' overrides at these schools.
    fn overrides_at(&self, schools: &BTreeSet<&str>, application: i64) -> Vec<&'a str> {
        let found = schools.iter().filter_map(|s| self.by_hand.get(s)).flatten();
        found.filter(|o| o.application != application).map(|o| o.reason.as_str()).collect()
    }
}

/// Why forms' outcomes changed between an approved run and its re-run, in
/// words for the office and the teacher: what changed in the form's own
/// claim, in the free posts of the preferences it lists, or by the office's
/// hand; failing those, the claims of others (the certificate names them).
/// Both inputs are indexed once, for every form that moved.
pub struct Why<'a> {
    before: Side<'a>,
    after: Side<'a>,
}

impl<'a> Why<'a> {
    pub fn new(before: &'a RunInput, after: &'a RunInput) -> Why<'a> {
        Why { before: Side::new(before), after: Side::new(after) }
    }

    pub fn of(&self, application: i64) -> Vec<String> {
        let by_hand = |side: &Side<'_>| side.input.overrides.iter().find(|o| o.application == application).cloned();
        let mut why = Vec::new();
        match (by_hand(&self.before), by_hand(&self.after)) {
            (None, Some(o)) => why.push(format!("assigned by the office's override: {}", o.reason)),
            (Some(_), None) => why.push("the office withdrew its override".to_owned()),
            _ => {}
        }
        let (old, new) = match (self.before.form(application), self.after.form(application)) {
            (None, None) => return why,
            (None, Some(_)) => {
                why.push("the form takes part in this run and did not in the one it revises".to_owned());
                return why;
            }
            (Some(_), None) => {
                why.push("the form no longer takes part (renounced, withdrawn or inadmissible)".to_owned());
                return why;
            }
            (Some(old), Some(new)) => (old, new),
        };
        let (t0, t1) = (&old.0.forms[old.1], &new.0.forms[new.1]);
        if t0.score != t1.score {
            why.push(format!("the score changed from {} to {}", t0.score, t1.score));
        }
        if t0.group != t1.group {
            why.push(format!("the group changed from {} to {}", t0.group, t1.group));
        }
        let wishes =
            |c: &'a Candidate, f: usize| -> Vec<&'a Wish> { c.wishes.iter().filter(|w| w.form == f).collect() };
        let (w0, w1) = (wishes(old.0, old.1), wishes(new.0, new.1));
        if w0.iter().map(|w| (&w.code, w.position)).ne(w1.iter().map(|w| (&w.code, w.position))) {
            why.push("the preferences taken into account changed".to_owned());
        }
        for (a, b) in w0.iter().zip(&w1).filter(|(a, b)| a.code == b.code) {
            if (a.precedence, a.section_e) != (b.precedence, b.section_e) {
                why.push(format!(
                    "the precedence counted at preference {} ({}) changed from {} to {}",
                    b.position,
                    b.code,
                    letter(a.precedence),
                    letter(b.precedence)
                ));
            }
        }
        // As the engine walks them: a school met at an earlier preference of
        // the form is not offered again at a later one.
        let mut met: BTreeSet<&str> = BTreeSet::new();
        for b in &w1 {
            let schools: BTreeSet<&str> = b.schools.iter().map(String::as_str).filter(|s| met.insert(s)).collect();
            let (was, now) = (self.before.seats(&schools, t1), self.after.seats(&schools, t1));
            if was != now {
                why.push(format!("free posts at preference {} ({}): {was} before, {now} now", b.position, b.code));
            }
            let earlier = self.before.overrides_at(&schools, application);
            for reason in self.after.overrides_at(&schools, application).into_iter().filter(|r| !earlier.contains(r)) {
                why.push(format!(
                    "a post at preference {} ({}) went to the office's override: {reason}",
                    b.position, b.code
                ));
            }
        }
        if why.is_empty() {
            why.push(
                "others' claims or posts changed (a chain of moves); the certificate names who holds each \
                 preference above"
                    .to_owned(),
            );
        }
        why
    }
}

/// [`Why::of`] for one form.
pub fn why_moved(before: &RunInput, after: &RunInput, application: i64) -> Vec<String> {
    Why::new(before, after).of(application)
}

/// A form's classes in its order, each once: the class, then the others.
fn ordered_classes(f: &FormFacts) -> Vec<String> {
    let mut seen = BTreeSet::new();
    f.class.iter().chain(&f.other_classes).filter(|c| seen.insert(c.as_str())).cloned().collect()
}

/// A cutoff (France publishes them per area): for a preference code and a
/// post type, how many were assigned through it and the weakest claim
/// among them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cutoff {
    pub code: String,
    pub post_type: PostType,
    pub assigned: u32,
    pub last_score: f64,
    pub precedence: Option<Precedence>,
}

/// Fewer than this many assigned through a code and post type: the cutoff
/// is published without score or precedence, which would point at people.
pub const CUTOFF_MIN_COUNT: u32 = 3;

/// The cutoffs of an allocation, by code and post type.
pub fn cutoffs(input: &RunInput, a: &Allocation) -> Vec<Cutoff> {
    let mut out: BTreeMap<(String, PostType), Cutoff> = BTreeMap::new();
    for (c, o) in input.candidates.iter().zip(&a.outcomes) {
        let Some(p) = o.assigned else { continue };
        let wish = &c.wishes[p.wish];
        let standing = (allocation::rank(wish.precedence, wish.section_e), c.forms[wish.form].score);
        let post_type = input.vacancies[p.vacancy].post_type;
        let e = out.entry((wish.code.clone(), post_type)).or_insert_with(|| Cutoff {
            code: wish.code.clone(),
            post_type,
            assigned: 0,
            last_score: standing.1,
            precedence: wish.precedence,
        });
        e.assigned += 1;
        // The weakest: the higher rank, then the lower score.
        let current = (allocation::rank(e.precedence, false), e.last_score);
        if standing.0 > current.0 || (standing.0 == current.0 && standing.1 < current.1) {
            e.last_score = standing.1;
            e.precedence = wish.precedence;
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spot(province: &str, municipality: &str, district: &str) -> Spot {
        Spot { province: province.into(), municipality: Some(municipality.into()), district: Some(district.into()) }
    }

    fn pref(position: u32, kind: PrefKind, code: &str, spot: Spot) -> PlacedPreference {
        PlacedPreference { position, kind, code: code.into(), spot }
    }

    fn form(application: i64, teacher: &str, preferences: Vec<PlacedPreference>) -> FormFacts {
        FormFacts {
            application,
            teacher: teacher.into(),
            code: format!("BG-2016-{application:06}"),
            birth_date: NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
            submitted_at: 0,
            kind: Kind::Ap,
            scope: Scope::Provincial,
            order: Order::SecondariaPrimoGrado,
            own_order: Order::SecondariaPrimoGrado,
            own_class: Some("A022".into()),
            class: Some("A022".into()),
            other_classes: vec![],
            post_types: vec![PostType::Nn],
            chairs: None,
            score: 10.0,
            preferences,
            precedences: vec![],
            section_e: None,
            skip: None,
            part_posts: None,
        }
    }

    fn line(school: &str, spot: Spot, class: &str, count: u32) -> VacancyFacts {
        VacancyFacts {
            school: school.into(),
            spot,
            post_type: PostType::Nn,
            class: Some(class.into()),
            chair: ChairKind::Internal,
            count,
            taken_before: 0,
            hours: None,
        }
    }

    fn pt(p: PostType) -> &'static str {
        if p == PostType::Nn { "NN" } else { "EH" }
    }

    #[test]
    fn overrides_find_their_line_and_a_re_run_says_why_each_form_moved() {
        let bg = spot("BG", "016024", "D1");
        let lines = [line("BGMM00001", bg.clone(), "A022", 1), line("BGMM00002", bg.clone(), "A022", 1)];
        let school = |p, code| pref(p, PrefKind::School, code, bg.clone());
        let forms = [
            form(1, "T1", vec![school(1, "BGMM00001"), school(2, "BGMM00002")]),
            form(2, "T2", vec![school(1, "BGMM00001")]),
        ];
        let before = input(2016, "BG", Phase::UtApIntra, &forms, &lines, &BTreeMap::new(), pt);
        let o = |school: &str| OverrideFacts {
            application: 2,
            school: school.into(),
            post_type: PostType::Nn,
            class: Some("A022".into()),
            chair: ChairKind::Internal,
            reason: "complaint upheld".into(),
        };
        let after = with_overrides(before.clone(), &[o("BGMM00001")]);
        assert_eq!(after.overrides[0].vacancy, 0);
        assert_ne!(after.hash(), before.hash(), "the overrides are hashed with the input");
        assert_eq!(with_overrides(before.clone(), &[o("BGMM09999")]).overrides[0].vacancy, usize::MAX);
        assert_eq!(why_moved(&before, &after, 2), ["assigned by the office's override: complaint upheld"]);
        assert_eq!(
            why_moved(&before, &after, 1),
            ["a post at preference 1 (BGMM00001) went to the office's override: complaint upheld"]
        );
        // A new post at the first preference, and a new score.
        let mut more = lines.clone();
        more[0].count = 2;
        let mut scored = forms.clone();
        scored[0].score = 12.5;
        let later = input(2016, "BG", Phase::UtApIntra, &scored, &more, &BTreeMap::new(), pt);
        assert_eq!(
            why_moved(&before, &later, 1),
            ["the score changed from 10 to 12.5", "free posts at preference 1 (BGMM00001): 1 before, 2 now"]
        );
        let gone = input(2016, "BG", Phase::UtApIntra, &forms[..1], &lines, &BTreeMap::new(), pt);
        assert!(why_moved(&before, &gone, 2)[0].contains("no longer takes part"));
    }

    #[test]
    fn the_assisted_persons_municipality_counts_from_where_it_is_named_and_m_only_between_provinces() {
        let here = spot("BG", "016024", "D1");
        let there = spot("BG", "016100", "D2");
        let mut f = form(
            1,
            "T",
            vec![
                pref(1, PrefKind::School, "S1", there.clone()),
                pref(2, PrefKind::Municipality, "016024", here.clone()),
                pref(3, PrefKind::School, "S3", there.clone()),
            ],
        );
        f.precedences = vec![
            CountedPrecedence { code: Precedence::GAssistChild, spot: Some(here.clone()) },
            CountedPrecedence { code: Precedence::MChild6To12, spot: None },
        ];
        let g = Some(Precedence::GAssistChild);
        assert_eq!(precedences_at(&f), [None, g, g], "(g) from the assisted person's municipality on");
        f.scope = Scope::Interprovincial;
        let m = Some(Precedence::MChild6To12);
        assert_eq!(precedences_at(&f), [m, g, g], "(m) counts between provinces, (g) stays stronger");
        f.precedences = vec![CountedPrecedence { code: Precedence::QLocalPublicOffice, spot: Some(there.clone()) }];
        let q = Some(Precedence::QLocalPublicOffice);
        assert_eq!(precedences_at(&f), [q, None, q], "(q) at the mandate's seat only");
    }

    #[test]
    fn area_codes_expand_to_schools_by_code_and_the_interprovincial_phase_skips_classes_in_surplus() {
        let a = spot("BG", "016024", "D1");
        let lines = [
            line("BGMM00200X", a.clone(), "A022", 1),
            line("BGMM00100X", a.clone(), "A028", 2),
            line("BGMM00300X", spot("BG", "016100", "D2"), "A022", 1),
        ];
        let mut f = form(1, "T", vec![pref(1, PrefKind::Municipality, "016024", a.clone())]);
        f.scope = Scope::Interprovincial;
        let surplus = BTreeMap::from([("A022".to_string(), 2u32)]);
        let intra = input(2016, "BG", Phase::UtApIntra, std::slice::from_ref(&f), &lines, &surplus, pt);
        assert!(intra.candidates.is_empty(), "an interprovincial form waits for its phase");
        assert_eq!(intra.vacancies.len(), 3, "the surplus binds only the interprovincial phase");
        let inter = input(2016, "BG", Phase::ApInter, &[f], &lines, &surplus, pt);
        assert_eq!(inter.vacancies.iter().map(|v| v.school.as_str()).collect::<Vec<_>>(), ["BGMM00100X"], "SEQ-2");
        assert_eq!(inter.candidates[0].wishes[0].schools, ["BGMM00100X", "BGMM00200X"], "ascending code");
    }

    #[test]
    fn part_posts_of_a_school_compose_into_full_posts_after_the_whole_ones_and_left_seats_count() {
        let a = spot("BG", "016024", "D1");
        let part = |school: &str, hours, count, taken_before| VacancyFacts {
            hours: Some(hours),
            taken_before,
            ..line(school, a.clone(), "A022", count)
        };
        let lines = [
            part("BGMM00100X", 10, 1, 0),
            part("BGMM00100X", 8, 2, 1),
            line("BGMM00100X", a.clone(), "A022", 1),
            part("BGMM00100X", 9, 3, 0),
            part("BGMM00200X", 8, 1, 0),
        ];
        let mut f = form(1, "T", vec![pref(1, PrefKind::School, "BGMM00100X", a.clone())]);
        f.part_posts = Some(18);
        let run = input(2016, "BG", Phase::UtApIntra, &[f], &lines, &BTreeMap::new(), pt);
        let got: Vec<(&str, u32, Option<u32>, &[u32])> =
            run.vacancies.iter().map(|v| (v.school.as_str(), v.seats, v.hours, v.parts.as_slice())).collect();
        // One 8 was taken before: 10 + 8 and 9 + 9 make posts, a 9 is left;
        // another school's part-posts are never added in.
        assert_eq!(
            got,
            [
                ("BGMM00100X", 1, None, &[][..]),
                ("BGMM00100X", 1, Some(18), &[10, 8][..]),
                ("BGMM00100X", 1, Some(18), &[9, 9][..]),
                ("BGMM00100X", 1, Some(9), &[][..]),
                ("BGMM00200X", 1, Some(8), &[][..]),
            ]
        );
        assert_eq!(run.candidates[0].forms[0].part_posts, Some(18));
        let taken = super::run(&run).unwrap().outcomes[0].assigned.unwrap();
        assert_eq!(taken.vacancy, 0, "the whole post first");
    }

    #[test]
    fn a_teachers_forms_are_one_candidate_ut_first_and_seats_taken_before_are_gone() {
        let a = spot("BG", "016024", "D1");
        let lines = [VacancyFacts { taken_before: 1, ..line("BGMM00100X", a.clone(), "A022", 2) }];
        let mut ap = form(1, "T", vec![pref(1, PrefKind::School, "BGMM00100X", a.clone())]);
        ap.order = Order::SecondariaSecondoGrado;
        let mut ut = form(2, "T", vec![pref(1, PrefKind::School, "BGMM00100X", a.clone())]);
        ut.kind = Kind::Ut;
        let other = form(3, "U", vec![pref(1, PrefKind::School, "BGMM00100X", a.clone())]);
        let run = input(2016, "BG", Phase::UtApIntra, &[ap, ut, other], &lines, &BTreeMap::new(), pt);
        assert_eq!(run.vacancies[0].seats, 1);
        assert_eq!(run.candidates.len(), 2);
        let t = &run.candidates[0];
        assert_eq!(t.forms.iter().map(|f| (f.application, f.group)).collect::<Vec<_>>(), [(2, 0), (1, 2)]);
        assert_eq!((t.id, t.wishes[0].form), (1, 0), "the UT's wishes first");
        let a = super::run(&run).unwrap();
        assert_eq!(a.taken, [1]);
        assert!(a.outcomes[0].assigned.is_some(), "the UT goes before another teacher's AP");
    }

    #[test]
    fn com_1_skips_the_municipality_held_or_in_a_city_of_districts_only_the_district() {
        let held = spot("MI", "015146", "MI-1");
        assert_eq!(skip_of(Kind::Ut, true, &held, false), None, "COM-4");
        assert_eq!(skip_of(Kind::Ap, false, &held, false), None, "COM-3: an ambit holder");
        let town = skip_of(Kind::Ap, true, &held, false).unwrap();
        assert_eq!((town.municipality.as_str(), town.district), ("015146", None));
        assert_eq!(skip_of(Kind::Ap, true, &held, true).unwrap().district.as_deref(), Some("MI-1"), "COM-2");
    }

    #[test]
    fn a_tax_code_gives_an_adults_birth_date_and_chairs_follow_the_option() {
        let code = crate::rules::tax_code::encode(
            "Rossi",
            "Anna",
            NaiveDate::from_ymd_opt(1999, 3, 9).unwrap(),
            crate::rules::tax_code::Sex::F,
            "A794",
        );
        assert_eq!(birth_date_of(&code, 2016), NaiveDate::from_ymd_opt(1999, 3, 9));
        let young = crate::rules::tax_code::encode(
            "Rossi",
            "Anna",
            NaiveDate::from_ymd_opt(1994, 3, 9).unwrap(),
            crate::rules::tax_code::Sex::F,
            "A794",
        );
        assert_eq!(birth_date_of(&young, 2026), NaiveDate::from_ymd_opt(1994, 3, 9));
        assert_eq!(chairs_of(None), [ChairKind::Internal]);
        assert_eq!(chairs_of(Some(ChairOption::ExternalOtherMunicipalities)), ChairKind::ORDER);
    }
}
