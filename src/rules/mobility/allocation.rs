//! The allocation of teachers to free posts (spec §9, issue 21): pure, with
//! no I/O and no clock. The same candidates and vacancies always give the
//! same assignment, and every outcome carries its evidence: for each
//! preference above the post obtained, who took the last post there, so a
//! teacher can check that nobody with a weaker claim took a post they
//! ranked higher (Consiglio di Stato 2270/2019).
//!
//! The algorithm is the spec's default (Ambiguity 26): teachers ranked per
//! preference (by the precedence that counts there, then score, then the
//! tie-break of Ambiguity 27), and a stable assignment by
//! applicant-proposing deferred acceptance. Its result does not depend on
//! the order in which teachers propose.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::application::{PostType, Precedence};

/// PREF-6: the kinds of chair, in the order a preference examines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ChairKind {
    Internal,
    ExternalSameMunicipality,
    ExternalOtherMunicipalities,
}

impl ChairKind {
    pub const ORDER: [ChairKind; 3] =
        [ChairKind::Internal, ChairKind::ExternalSameMunicipality, ChairKind::ExternalOtherMunicipalities];
}

/// A line of free posts: `seats` alike posts of one kind at a school.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vacancy {
    pub school: String,
    pub municipality: String,
    pub post_type: PostType,
    /// The class of competition (I and II grado); none for infanzia and primaria.
    pub class: Option<String>,
    pub chair: ChairKind,
    pub seats: u32,
    /// The school's district, for COM-2 (a city of several districts).
    pub district: Option<String>,
    /// POST-8: the weekly hours of a post made of part-posts, or of a
    /// single part-post; none for a whole post. Absent from the hash when
    /// none, so runs stored before part-posts existed verify as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<u32>,
    /// The part-posts a composed post is made of (empty for a single one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<u32>,
}

impl Vacancy {
    /// POST-8: a line of part-posts goes only to a form that asked for them
    /// and whose service hours its hours match; a whole post goes to all.
    pub fn fits(&self, terms: &Terms) -> bool {
        self.hours.is_none() || self.hours == terms.part_posts
    }
}

/// One preference of a candidate, expanded by the caller: the schools its
/// code covers, in the documented order, and what counts there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wish {
    /// The form it belongs to (an index into the candidate's `forms`).
    pub form: usize,
    /// The preference's position on its form, from 1, and its code.
    pub position: u32,
    pub code: String,
    pub schools: Vec<String>,
    /// The strongest precedence whose scope covers this preference (§4.5).
    pub precedence: Option<Precedence>,
    /// UT-E1: the return to the previous school counts here.
    pub section_e: bool,
}

/// COM-1: the municipality an AP skips (COM-2: in a city of several
/// districts, only the district held).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    pub municipality: String,
    pub district: Option<String>,
}

/// What one form of a teacher asks, as the engine reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Terms {
    /// The application's id.
    pub application: i64,
    /// SEQ-4/5: lower goes first (a UT before an AP; the own grade or class
    /// before another).
    pub group: u8,
    /// SC-T for an AP, SC-U for a UT.
    pub score: f64,
    /// The classes of competition it accepts, in its order (none for
    /// infanzia and primaria).
    pub classes: Vec<String>,
    /// The post types asked, in the form's order.
    pub post_types: Vec<PostType>,
    /// PREF-6 and POST-7: the chair kinds the teacher accepts.
    pub chairs: Vec<ChairKind>,
    pub skip: Option<Skip>,
    /// POST-8: the service hours a post of part-posts must add up to, when
    /// the form asks for such posts (an AP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_posts: Option<u32>,
}

/// A teacher in a phase: every form they have in it (one post at most, ORG-4),
/// and the preferences of all of them, in the order they are walked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The candidate's id: the smallest id of its applications.
    pub id: i64,
    /// The pseudonymous code certificates show instead of the name.
    pub code: String,
    /// Ambiguity 27: the older teacher first, then the earlier submission.
    pub birth_date: NaiveDate,
    pub submitted_at: i64,
    pub forms: Vec<Terms>,
    pub wishes: Vec<Wish>,
}

/// §4.5: the rank of what counts at a preference; lower is stronger, and no
/// precedence ranks after all.
pub fn rank(precedence: Option<Precedence>, section_e: bool) -> u8 {
    use Precedence as P;
    let by_precedence = match precedence {
        Some(P::ABlind | P::BDialysis) => 0,
        Some(P::DDisabilityArt21 | P::ESeriousIllness | P::FSevereHandicapSelf) => 2,
        Some(P::GAssistChild | P::HAssistSpouseOrParent | P::ISoleRelative | P::LChildUnder6 | P::MChild6To12) => 3,
        Some(P::NReturnOutOfRole) => 4,
        Some(P::OMilitarySpouse) => 5,
        Some(P::QLocalPublicOffice) => 6,
        Some(P::RUnionLeaveEnd) => 7,
        None => 8,
    };
    // Sezione E stands in point II's unused slot.
    if section_e { by_precedence.min(1) } else { by_precedence }
}

/// Where a candidate stands at one post: compared field by field, lower
/// first. The application id makes every two candidates differ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    pub group: u8,
    pub rank: u8,
    pub score: f64,
    pub birth_date: NaiveDate,
    pub submitted_at: i64,
    pub id: i64,
}

impl Eq for Standing {}

impl Ord for Standing {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.group, self.rank)
            .cmp(&(o.group, o.rank))
            .then_with(|| o.score.total_cmp(&self.score))
            .then_with(|| (self.birth_date, self.submitted_at, self.id).cmp(&(o.birth_date, o.submitted_at, o.id)))
    }
}

impl PartialOrd for Standing {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// One post a candidate may get, in the order they would take it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reach {
    pub vacancy: usize,
    /// The index of the wish it comes from.
    pub wish: usize,
    pub standing: Standing,
}

/// The vacancy lines of each school, by chair kind in the PREF-6 order.
pub struct Index<'a> {
    by_school: HashMap<&'a str, [Vec<usize>; 3]>,
}

impl<'a> Index<'a> {
    pub fn new(vacancies: &'a [Vacancy]) -> Index<'a> {
        let mut by_school: HashMap<&str, [Vec<usize>; 3]> = HashMap::new();
        for (i, v) in vacancies.iter().enumerate() {
            by_school.entry(v.school.as_str()).or_default()[v.chair as usize].push(i);
        }
        Index { by_school }
    }

    fn lines(&self, school: &str, chair: ChairKind) -> Option<&Vec<usize>> {
        self.by_school.get(school).map(|l| &l[chair as usize])
    }
}

/// SEQ-6: the posts each wish reaches, in order: its schools in their
/// order (a school met in an earlier wish of the same form is not offered
/// again; COM-1 skips the municipality held), in each the chairs in the
/// PREF-6 order, in each chair the post types in the form's order, in each
/// post type the classes in the form's order, and in each class the whole
/// posts before those of part-posts (POST-8: the caller lists part-post
/// lines last).
pub fn options(c: &Candidate, vacancies: &[Vacancy], at: &Index<'_>) -> Vec<Reach> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (w, wish) in c.wishes.iter().enumerate() {
        let Some(terms) = c.forms.get(wish.form) else { continue };
        let standing = Standing {
            group: terms.group,
            rank: rank(wish.precedence, wish.section_e),
            score: terms.score,
            birth_date: c.birth_date,
            submitted_at: c.submitted_at,
            id: c.id,
        };
        for school in &wish.schools {
            if !seen.insert((wish.form, school.as_str())) {
                continue;
            }
            for chair in ChairKind::ORDER.into_iter().filter(|k| terms.chairs.contains(k)) {
                let Some(lines) = at.lines(school, chair) else { continue };
                for post_type in &terms.post_types {
                    let classes = terms.classes.iter().map(|c| Some(c.as_str())).chain(std::iter::once(None));
                    for class in classes {
                        for &v in lines {
                            let line = &vacancies[v];
                            if line.post_type != *post_type
                                || line.class.as_deref() != class
                                || line.seats == 0
                                || !line.fits(terms)
                            {
                                continue;
                            }
                            let skipped = terms.skip.as_ref().is_some_and(|s| {
                                s.municipality == line.municipality
                                    && (s.district.is_none() || s.district == line.district)
                            });
                            if !skipped {
                                out.push(Reach { vacancy: v, wish: w, standing });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// A manual assignment (issue 21, human sign-off): the office puts a form
/// on a line by hand, with a reason. Its seat is taken before the engine
/// runs, its teacher takes no other part in the phase, and the certificate
/// of everyone who ranked that line above their own post names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub application: i64,
    /// The vacancy line; `usize::MAX` when the line the office named has no
    /// free post in this run (the run is then refused).
    pub vacancy: usize,
    pub reason: String,
}

/// Who took a post, as a certificate shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Admitted {
    pub code: String,
    /// SEQ-4/5: 0 a utilisation, 1 an AP in its own order and class, 2 across.
    pub group: u8,
    pub precedence: Option<Precedence>,
    /// UT-E1 counted for them there.
    pub section_e: bool,
    pub score: f64,
}

/// For one preference above the post obtained: the weakest claim that
/// still took a post of the relevant kind there (none: it had no such post).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificateEntry {
    /// The index of the wish in the candidate's list.
    pub wish: usize,
    pub last_admitted: Option<Admitted>,
    /// Overrides (indices into the run's) that took a seat this wish reaches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<usize>,
}

/// A candidate's outcome: the post and the preference it came from, and
/// the evidence for every preference ranked above it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub id: i64,
    /// The vacancy line and the index of the wish it came from, if assigned.
    pub assigned: Option<Placed>,
    /// Placed by an override instead (`assigned` is then none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual: Option<Manual>,
    pub certificate: Vec<CertificateEntry>,
}

/// Where an override put a candidate: the line, the form, and the override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Manual {
    pub vacancy: usize,
    pub form: usize,
    pub r#override: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Placed {
    pub vacancy: usize,
    pub wish: usize,
}

/// The whole result: each candidate's outcome, in the order given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Allocation {
    pub outcomes: Vec<Outcome>,
    /// How many seats of each vacancy line were taken.
    pub taken: Vec<u32>,
}

/// Why a result is refused (the global checker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A vacancy line holds more teachers than seats.
    OverFilled { vacancy: usize },
    /// A candidate ranked a post above theirs that had a free seat, or that
    /// someone with a weaker claim took: justified envy.
    Envy { candidate: i64, position: u32, vacancy: usize },
    /// An override names no form of the phase, a line with no free post, or
    /// a teacher another override already placed.
    Override { application: i64 },
}

/// Runs one phase: deferred acceptance over every candidate's options,
/// the certificates, and the checker. An `Err` changes nothing: the caller
/// stores no result.
pub fn allocate(candidates: &[Candidate], vacancies: &[Vacancy]) -> Result<Allocation, Violation> {
    allocate_with(candidates, vacancies, &[])
}

/// [`allocate`] after the office's overrides have taken their seats.
pub fn allocate_with(
    candidates: &[Candidate],
    vacancies: &[Vacancy],
    overrides: &[Override],
) -> Result<Allocation, Violation> {
    // manual[c]: the override that places candidate c; by_line[v]: those on line v.
    let mut manual: Vec<Option<Manual>> = vec![None; candidates.len()];
    let mut by_line: HashMap<usize, Vec<usize>> = HashMap::new();
    for (k, o) in overrides.iter().enumerate() {
        let refused = Violation::Override { application: o.application };
        let (c, form) = candidates
            .iter()
            .enumerate()
            .find_map(|(c, cand)| Some((c, cand.forms.iter().position(|f| f.application == o.application)?)))
            .ok_or(refused.clone())?;
        if o.vacancy >= vacancies.len() || manual[c].is_some() {
            return Err(refused);
        }
        manual[c] = Some(Manual { vacancy: o.vacancy, form, r#override: k });
        by_line.entry(o.vacancy).or_default().push(k);
    }
    for (&v, ks) in &by_line {
        if ks.len() > vacancies[v].seats as usize {
            return Err(Violation::OverFilled { vacancy: v });
        }
    }
    // The seats the engine shares out: what the overrides left. Options
    // are listed once, over every line: a line the overrides filled takes
    // no one, and the certificates find the overrides among the same list.
    let mut open: Vec<u32> = vacancies.iter().map(|v| v.seats).collect();
    for (&line, ks) in &by_line {
        open[line] -= ks.len() as u32;
    }
    let at = Index::new(vacancies);
    let lists: Vec<Vec<Reach>> = candidates
        .iter()
        .zip(&manual)
        .map(|(c, m)| if m.is_some() { Vec::new() } else { options(c, vacancies, &at) })
        .collect();
    // held[v]: the candidates a line holds with their option, weakest last.
    let mut held: Vec<Vec<(Standing, usize, usize)>> = vec![Vec::new(); vacancies.len()];
    let mut next = vec![0usize; candidates.len()];
    let mut free: Vec<usize> = (0..candidates.len()).rev().collect();
    while let Some(c) = free.pop() {
        while let Some(o) = lists[c].get(next[c]) {
            let option = next[c];
            next[c] += 1;
            let line = &mut held[o.vacancy];
            let seats = open[o.vacancy] as usize;
            let place = line.partition_point(|(s, ..)| *s < o.standing);
            if line.len() < seats {
                line.insert(place, (o.standing, c, option));
                break;
            }
            if place < line.len() {
                let (_, evicted, _) = line.pop().expect("a full line holds someone");
                line.insert(place, (o.standing, c, option));
                free.push(evicted);
                break;
            }
        }
    }
    let mut assigned: Vec<Option<usize>> = vec![None; candidates.len()];
    for line in &held {
        for &(_, c, option) in line {
            assigned[c] = Some(option);
        }
    }
    check(&open, &lists, &held, &assigned, candidates)?;
    let outcomes = candidates
        .iter()
        .enumerate()
        .map(|(c, cand)| {
            if manual[c].is_some() {
                return Outcome { id: cand.id, assigned: None, manual: manual[c], certificate: Vec::new() };
            }
            let upto = assigned[c].map_or(lists[c].len(), |o| o);
            let wishes_above = match assigned[c] {
                Some(o) => lists[c][o].wish,
                None => cand.wishes.len(),
            };
            // One pass over the options above the post: the weakest holder per wish.
            let mut weakest_at: Vec<Option<&(Standing, usize, usize)>> = vec![None; wishes_above];
            for o in &lists[c][..upto] {
                if let (Some(slot), Some(h)) = (weakest_at.get_mut(o.wish), held[o.vacancy].last())
                    && slot.is_none_or(|x| x.0 < h.0)
                {
                    *slot = Some(h);
                }
            }
            // The overrides on lines a wish above reaches.
            let mut overridden: Vec<Vec<usize>> = vec![Vec::new(); wishes_above];
            if !by_line.is_empty() {
                for o in lists[c].iter().filter(|o| o.wish < wishes_above) {
                    if let Some(ks) = by_line.get(&o.vacancy) {
                        overridden[o.wish].extend(ks);
                    }
                }
                for ks in &mut overridden {
                    ks.sort_unstable();
                    ks.dedup();
                }
            }
            let certificate = weakest_at
                .into_iter()
                .zip(overridden)
                .enumerate()
                .map(|(w, (weakest, overrides))| CertificateEntry {
                    wish: w,
                    last_admitted: weakest.map(|&(_, h, option)| {
                        let wish = &candidates[h].wishes[lists[h][option].wish];
                        Admitted {
                            code: candidates[h].code.clone(),
                            group: candidates[h].forms[wish.form].group,
                            precedence: wish.precedence,
                            section_e: wish.section_e,
                            score: candidates[h].forms[wish.form].score,
                        }
                    }),
                    overrides,
                })
                .collect();
            let assigned = assigned[c].map(|o| Placed { vacancy: lists[c][o].vacancy, wish: lists[c][o].wish });
            Outcome { id: cand.id, assigned, manual: None, certificate }
        })
        .collect();
    let taken = held.iter().enumerate().map(|(v, l)| (l.len() + by_line.get(&v).map_or(0, Vec::len)) as u32).collect();
    Ok(Allocation { outcomes, taken })
}

/// The global checker: no line over its seats, and no candidate with a
/// post above theirs (in their own order) that had a free seat or went to
/// a weaker claim.
fn check(
    seats: &[u32],
    lists: &[Vec<Reach>],
    held: &[Vec<(Standing, usize, usize)>],
    assigned: &[Option<usize>],
    candidates: &[Candidate],
) -> Result<(), Violation> {
    for (v, line) in held.iter().enumerate() {
        if line.len() > seats[v] as usize {
            return Err(Violation::OverFilled { vacancy: v });
        }
    }
    for (c, list) in lists.iter().enumerate() {
        let upto = assigned[c].unwrap_or(list.len());
        for o in &list[..upto] {
            let line = &held[o.vacancy];
            let full = line.len() >= seats[o.vacancy] as usize;
            if !full || line.last().is_some_and(|(s, ..)| *s > o.standing) {
                let position = candidates[c].wishes[o.wish].position;
                return Err(Violation::Envy { candidate: candidates[c].id, position, vacancy: o.vacancy });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vacancy(school: &str, municipality: &str, chair: ChairKind, seats: u32) -> Vacancy {
        Vacancy {
            school: school.into(),
            municipality: municipality.into(),
            post_type: PostType::Nn,
            class: None,
            chair,
            seats,
            district: None,
            hours: None,
            parts: vec![],
        }
    }

    fn wish(position: u32, schools: &[&str], precedence: Option<Precedence>) -> Wish {
        Wish {
            form: 0,
            position,
            code: schools.join("+"),
            schools: schools.iter().map(|s| s.to_string()).collect(),
            precedence,
            section_e: false,
        }
    }

    fn candidate(id: i64, score: f64, wishes: Vec<Wish>) -> Candidate {
        Candidate {
            id,
            code: format!("T{id:03}"),
            birth_date: NaiveDate::from_ymd_opt(1975, 1, 1).unwrap(),
            submitted_at: 0,
            forms: vec![Terms {
                application: id,
                group: 1,
                score,
                classes: vec![],
                post_types: vec![PostType::Nn],
                chairs: vec![ChairKind::Internal],
                skip: None,
                part_posts: None,
            }],
            wishes,
        }
    }

    /// Each candidate's post: the vacancy line and the preference's position.
    fn got(a: &Allocation, cands: &[Candidate]) -> Vec<(i64, Option<(usize, u32)>)> {
        a.outcomes
            .iter()
            .zip(cands)
            .map(|(o, c)| (o.id, o.assigned.map(|p| (p.vacancy, c.wishes[p.wish].position))))
            .collect()
    }

    #[test]
    fn a_precedence_where_it_counts_beats_a_higher_score_and_the_loser_sees_who_took_it() {
        let v = [vacancy("X", "m1", ChairKind::Internal, 1), vacancy("Y", "m2", ChairKind::Internal, 1)];
        let strong = candidate(1, 10.0, vec![wish(1, &["X"], Some(Precedence::LChildUnder6)), wish(2, &["Y"], None)]);
        let scored = candidate(2, 50.0, vec![wish(1, &["X"], None), wish(2, &["Y"], None)]);
        let cands = [strong, scored];
        let a = allocate(&cands, &v).unwrap();
        assert_eq!(got(&a, &cands), [(1, Some((0, 1))), (2, Some((1, 2)))]);
        let entry = &a.outcomes[1].certificate;
        assert_eq!(entry.len(), 1, "one preference above the post obtained");
        let last = entry[0].last_admitted.as_ref().unwrap();
        assert_eq!(
            (cands[1].wishes[entry[0].wish].position, last.code.as_str(), last.precedence),
            (1, "T001", Some(Precedence::LChildUnder6))
        );
        // Without the precedence at X, the score decides there.
        let weak = candidate(1, 10.0, vec![wish(1, &["X"], None), wish(2, &["Y"], Some(Precedence::LChildUnder6))]);
        let scored = candidate(2, 50.0, vec![wish(1, &["X"], None), wish(2, &["Y"], None)]);
        let cands = [weak, scored];
        assert_eq!(got(&allocate(&cands, &v).unwrap(), &cands), [(1, Some((1, 2))), (2, Some((0, 1)))]);
    }

    #[test]
    fn the_result_does_not_depend_on_the_order_of_the_candidates() {
        let v: Vec<Vacancy> = (0..6).map(|i| vacancy(&format!("S{i}"), "m", ChairKind::Internal, 1 + i % 2)).collect();
        let schools = ["S0", "S1", "S2", "S3", "S4", "S5"];
        let mut all: Vec<Candidate> = (0..14)
            .map(|i| {
                // Each walks the schools from its own start, with one precedence here and there.
                let wishes = (0..4)
                    .map(|k| {
                        let p = (i % 3 == 0 && k == 1).then_some(Precedence::GAssistChild);
                        wish(k as u32 + 1, &[schools[(i + 2 * k) % 6]], p)
                    })
                    .collect();
                candidate(i as i64, (i * 37 % 11) as f64, wishes)
            })
            .collect();
        let by_id = |a: Allocation, cands: &[Candidate]| {
            let mut g = got(&a, cands);
            g.sort();
            (g, a.taken)
        };
        let first = by_id(allocate(&all, &v).unwrap(), &all);
        all.reverse();
        assert_eq!(by_id(allocate(&all, &v).unwrap(), &all), first);
        all.rotate_left(5);
        assert_eq!(by_id(allocate(&all, &v).unwrap(), &all), first);
        let seats: u32 = v.iter().map(|x| x.seats).sum();
        assert_eq!(first.1.iter().sum::<u32>(), seats, "more candidates than seats: every seat taken");
    }

    #[test]
    fn groups_go_first_then_ties_go_to_the_older_teacher_then_the_earlier_form() {
        let v = [vacancy("X", "m", ChairKind::Internal, 1)];
        let mut ut = candidate(1, 1.0, vec![wish(1, &["X"], None)]);
        ut.forms[0].group = 0;
        let ap = candidate(2, 99.0, vec![wish(1, &["X"], None)]);
        let placed = Some(Placed { vacancy: 0, wish: 0 });
        assert_eq!(allocate(&[ap, ut], &v).unwrap().outcomes[1].assigned, placed, "SEQ-5: UT first");
        let young = candidate(1, 5.0, vec![wish(1, &["X"], None)]);
        let mut old = candidate(2, 5.0, vec![wish(1, &["X"], None)]);
        old.birth_date = NaiveDate::from_ymd_opt(1960, 1, 1).unwrap();
        assert_eq!(allocate(&[young.clone(), old], &v).unwrap().outcomes[1].assigned, placed);
        let mut later = young.clone();
        later.id = 3;
        later.submitted_at = 10;
        assert_eq!(allocate(&[later, young], &v).unwrap().outcomes[1].assigned, placed, "earlier form");
    }

    #[test]
    fn chairs_go_internal_first_the_municipality_held_is_skipped_and_options_are_kept() {
        let v = [
            vacancy("X", "m", ChairKind::ExternalSameMunicipality, 1),
            vacancy("X", "m", ChairKind::Internal, 1),
            vacancy("H", "home", ChairKind::Internal, 1),
        ];
        let mut c = candidate(1, 1.0, vec![wish(1, &["H"], None), wish(2, &["X"], None)]);
        c.forms[0].chairs = ChairKind::ORDER.to_vec();
        c.forms[0].skip = Some(Skip { municipality: "home".into(), district: None });
        let a = allocate(std::slice::from_ref(&c), &v).unwrap();
        assert_eq!(
            a.outcomes[0].assigned,
            Some(Placed { vacancy: 1, wish: 1 }),
            "COM-1 skips H; X's internal chair first"
        );
        assert_eq!(a.outcomes[0].certificate[0].last_admitted, None, "no post of its kind at H");
        let mut other = candidate(2, 9.0, vec![wish(1, &["X"], None)]);
        other.forms[0].chairs = vec![ChairKind::Internal];
        let cands = [c, other];
        let a = allocate(&cands, &v).unwrap();
        assert_eq!(got(&a, &cands), [(1, Some((0, 2))), (2, Some((1, 1)))], "only one accepts an external chair");
    }

    #[test]
    fn the_checker_refuses_an_over_filled_line_and_justified_envy() {
        let v = [vacancy("X", "m", ChairKind::Internal, 1), vacancy("Y", "m", ChairKind::Internal, 1)];
        let cands = [
            candidate(1, 9.0, vec![wish(1, &["X"], None), wish(2, &["Y"], None)]),
            candidate(2, 1.0, vec![wish(1, &["X"], None), wish(2, &["Y"], None)]),
        ];
        let at = Index::new(&v);
        let seats: Vec<u32> = v.iter().map(|l| l.seats).collect();
        let lists: Vec<Vec<Reach>> = cands.iter().map(|c| options(c, &v, &at)).collect();
        let hold = |c: usize, o: usize| (lists[c][o].standing, c, o);
        // The weaker teacher at X, the stronger one at Y: envy.
        let held = vec![vec![hold(1, 0)], vec![hold(0, 1)]];
        let err = check(&seats, &lists, &held, &[Some(1), Some(0)], &cands).unwrap_err();
        assert_eq!(err, Violation::Envy { candidate: 1, position: 1, vacancy: 0 });
        // Both at X.
        let held = vec![vec![hold(0, 0), hold(1, 0)], vec![]];
        assert_eq!(
            check(&seats, &lists, &held, &[Some(0), Some(0)], &cands),
            Err(Violation::OverFilled { vacancy: 0 })
        );
        // Unassigned while Y is free.
        let held = vec![vec![hold(0, 0)], vec![]];
        assert!(matches!(
            check(&seats, &lists, &held, &[Some(0), None], &cands),
            Err(Violation::Envy { candidate: 2, .. })
        ));
        let held = vec![vec![hold(0, 0)], vec![hold(1, 1)]];
        assert_eq!(check(&seats, &lists, &held, &[Some(0), Some(1)], &cands), Ok(()));
    }

    #[test]
    fn an_override_takes_its_seat_first_and_shows_on_the_certificates_it_affects() {
        let v = [vacancy("X", "m1", ChairKind::Internal, 1), vacancy("Y", "m2", ChairKind::Internal, 1)];
        let strong = candidate(1, 50.0, vec![wish(1, &["X"], None), wish(2, &["Y"], None)]);
        let placed = candidate(2, 1.0, vec![wish(1, &["Y"], None)]);
        let cands = [strong, placed];
        let by_hand = [Override { application: 2, vacancy: 0, reason: "decided complaint".into() }];
        let a = allocate_with(&cands, &v, &by_hand).unwrap();
        assert_eq!(a.outcomes[1].manual, Some(Manual { vacancy: 0, form: 0, r#override: 0 }));
        assert_eq!(a.outcomes[1].assigned, None, "the engine does not place an overridden form again");
        assert_eq!(got(&a, &cands)[0], (1, Some((1, 2))), "the stronger claim goes on to Y");
        let entry = &a.outcomes[0].certificate[0];
        assert_eq!((entry.last_admitted.as_ref(), entry.overrides.as_slice()), (None, &[0][..]));
        assert_eq!(a.taken, [1, 1]);
        // Without the override the stronger claim had X: the override is what moved it.
        assert_eq!(got(&allocate(&cands, &v).unwrap(), &cands)[0], (1, Some((0, 1))));
        // Refusals: no such form, no such line, a line over its seats, two overrides of one teacher.
        let refuse = |o: Vec<Override>| allocate_with(&cands, &v, &o).unwrap_err();
        let at = |application, vacancy| Override { application, vacancy, reason: "r".into() };
        assert_eq!(refuse(vec![at(9, 0)]), Violation::Override { application: 9 });
        assert_eq!(refuse(vec![at(2, usize::MAX)]), Violation::Override { application: 2 });
        assert_eq!(refuse(vec![at(1, 0), at(2, 0)]), Violation::OverFilled { vacancy: 0 });
        assert_eq!(refuse(vec![at(2, 0), at(2, 1)]), Violation::Override { application: 2 });
    }

    #[test]
    fn posts_of_part_posts_go_after_whole_posts_only_to_forms_that_asked_with_matching_hours() {
        let part = |seats, hours, parts: Vec<u32>| Vacancy {
            seats,
            hours: Some(hours),
            parts,
            ..vacancy("X", "m", ChairKind::Internal, 0)
        };
        let v = [
            vacancy("X", "m", ChairKind::Internal, 1),
            part(1, 18, vec![10, 8]),
            part(1, 9, vec![]),
            vacancy("Y", "n", ChairKind::Internal, 1),
        ];
        let both = |id, score| candidate(id, score, vec![wish(1, &["X"], None), wish(2, &["Y"], None)]);
        let asks = |mut c: Candidate, hours| {
            c.forms[0].part_posts = Some(hours);
            c
        };
        let cands =
            [both(1, 50.0), asks(both(2, 40.0), 18), both(3, 30.0), asks(both(4, 20.0), 9), asks(both(5, 10.0), 18)];
        let a = allocate(&cands, &v).unwrap();
        assert_eq!(
            got(&a, &cands),
            [
                (1, Some((0, 1))), // the whole post at X to the strongest claim
                (2, Some((1, 1))), // then X's 10 + 8 hours, to a full-time form that asked
                (3, Some((3, 2))), // a form that did not ask goes on to Y
                (4, Some((2, 1))), // the single 9 hours, to the half-time form that asked
                (5, None),         // Y went to a stronger claim; no other post fits 18 hours
            ]
        );
        // The certificate of the last form names who took X's posts it could take.
        let entry = &a.outcomes[4].certificate[0];
        assert_eq!(entry.last_admitted.as_ref().map(|l| l.code.as_str()), Some("T002"));
        // Whole posts first: with X's whole post free, the form that asked takes it.
        let a = allocate(&cands[1..2], &v).unwrap();
        assert_eq!(a.outcomes[0].assigned, Some(Placed { vacancy: 0, wish: 0 }));
    }

    /// Random campaigns, each from a printed seed.
    mod properties {
        use super::*;
        use crate::rules::dice::Dice;
        use crate::rules::mobility::phase;
        use crate::rules::mobility::synthetic::{self, Sizes};

        const SMALL: Sizes = Sizes { forms: 120, preferences: 6, posts: 90, schools: 40, provinces: 3, pieces: 60 };

        /// A candidate's rank of each line it reaches, in its own order.
        fn preference_index(c: &Candidate, v: &[Vacancy], placed: Option<Placed>) -> usize {
            let at = index(v);
            let list = options(c, v, &at);
            placed
                .and_then(|p| list.iter().position(|o| o.vacancy == p.vacancy && o.wish == p.wish))
                .unwrap_or(usize::MAX)
        }

        fn index(v: &[Vacancy]) -> Index<'_> {
            Index::new(v)
        }

        /// Stability checked from the published result alone: every line
        /// within its seats; every post a teacher ranked above their own is
        /// full of claims stronger than theirs there; every certificate
        /// entry names a claim stronger than the teacher's at that wish.
        fn assert_stable(seed: u64, cands: &[Candidate], v: &[Vacancy], a: &Allocation) {
            let at = index(v);
            let mut holders: Vec<Vec<Standing>> = vec![Vec::new(); v.len()];
            let lists: Vec<Vec<Reach>> = cands.iter().map(|c| options(c, v, &at)).collect();
            for (c, o) in a.outcomes.iter().enumerate() {
                if let Some(p) = o.assigned {
                    let got = lists[c].iter().find(|r| r.vacancy == p.vacancy && r.wish == p.wish);
                    holders[p.vacancy].push(got.expect("the post is among the teacher's options").standing);
                }
            }
            for (i, h) in holders.iter().enumerate() {
                assert!(h.len() <= v[i].seats as usize, "seed {seed}: line {i} over-filled");
                assert_eq!(h.len() as u32, a.taken[i], "seed {seed}: taken agrees");
            }
            for (c, o) in a.outcomes.iter().enumerate() {
                let mine = o
                    .assigned
                    .map(|p| lists[c].iter().position(|r| r.vacancy == p.vacancy && r.wish == p.wish).unwrap());
                for r in &lists[c][..mine.unwrap_or(lists[c].len())] {
                    let h = &holders[r.vacancy];
                    assert!(
                        h.len() == v[r.vacancy].seats as usize && h.iter().all(|s| *s < r.standing),
                        "seed {seed}: candidate {} envies line {}",
                        cands[c].id,
                        r.vacancy
                    );
                }
                for e in &o.certificate {
                    let wish = &cands[c].wishes[e.wish];
                    if let Some(last) = &e.last_admitted {
                        let terms = &cands[c].forms[wish.form];
                        let mine = (terms.group, rank(wish.precedence, wish.section_e), -terms.score);
                        let theirs = (last.group, rank(last.precedence, last.section_e), -last.score);
                        assert!(theirs <= mine, "seed {seed}: the certificate names a weaker claim");
                    }
                }
            }
        }

        #[test]
        fn random_campaigns_are_stable_deterministic_and_monotone_in_score() {
            // POST-8: posts of part-posts taken, over all seeds.
            let mut composed = 0;
            for seed in 1..=40u64 {
                let input = synthetic::campaign(seed, SMALL).input();
                let (cands, v) = (&input.candidates, &input.vacancies);
                let a = allocate(cands, v).unwrap_or_else(|e| panic!("seed {seed}: the checker refused: {e:?}"));
                assert_stable(seed, cands, v, &a);
                for (o, c) in a.outcomes.iter().zip(cands) {
                    if let Some(p) = o.assigned.filter(|p| v[p.vacancy].hours.is_some()) {
                        assert_eq!(v[p.vacancy].hours, c.forms[c.wishes[p.wish].form].part_posts, "seed {seed}");
                        composed += usize::from(!v[p.vacancy].parts.is_empty());
                    }
                }
                // Determinism: the same input in another order, the same posts.
                let mut shuffled = cands.clone();
                Dice(seed).shuffle(&mut shuffled);
                let b = allocate(&shuffled, v).unwrap();
                let by_id = |a: &Allocation| {
                    let mut x: Vec<_> = a.outcomes.iter().map(|o| (o.id, o.assigned)).collect();
                    x.sort_by_key(|p| p.0);
                    x
                };
                assert_eq!(by_id(&a), by_id(&b), "seed {seed}: order changed the result");
                assert_eq!(allocate(cands, v).unwrap(), a, "seed {seed}: a second run differs");
                // Monotone: a better score never gives a teacher a worse post.
                let mut dice = Dice(seed);
                for _ in 0..5 {
                    let c = dice.next(cands.len());
                    let before = preference_index(&cands[c], v, a.outcomes[c].assigned);
                    let mut raised = cands.clone();
                    for t in &mut raised[c].forms {
                        t.score += 1.0 + dice.next(40) as f64;
                    }
                    let after = allocate(&raised, v).unwrap();
                    assert_stable(seed, &raised, v, &after);
                    let now = preference_index(&raised[c], v, after.outcomes[c].assigned);
                    assert!(now <= before, "seed {seed}: candidate {} got worse with a better score", cands[c].id);
                }
            }
            assert!(composed > 0, "the campaigns exercise posts of part-posts");
        }

        #[test]
        fn the_phase_input_hash_is_the_same_for_the_same_campaign_and_changes_with_it() {
            let one = synthetic::campaign(7, SMALL).input();
            assert_eq!(one.hash(), synthetic::campaign(7, SMALL).input().hash());
            let mut other = one.clone();
            other.vacancies[0].seats += 1;
            assert_ne!(one.hash(), other.hash());
            let back: phase::RunInput = serde_json::from_slice(&serde_json::to_vec(&one).unwrap()).unwrap();
            assert_eq!(back.hash(), one.hash(), "stored and read back, the input hashes alike");
        }
    }
}
