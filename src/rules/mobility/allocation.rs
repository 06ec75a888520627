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
use std::collections::BTreeMap;

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
}

/// One preference of a candidate, expanded by the caller: the schools its
/// code covers, in the documented order, and what counts there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wish {
    /// The preference's position on the form, from 1.
    pub position: u32,
    pub schools: Vec<String>,
    /// The strongest precedence whose scope covers this preference (§4.5).
    pub precedence: Option<Precedence>,
    /// UT-E1: the return to the previous school counts here.
    pub section_e: bool,
}

/// A teacher's effective application, as the engine reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The application's id.
    pub id: i64,
    /// The pseudonymous code certificates show instead of the name.
    pub code: String,
    /// SEQ-4/5: lower goes first (a UT before an AP; the own grade or class
    /// before another).
    pub group: u8,
    /// SC-T for an AP, SC-U for a UT.
    pub score: f64,
    /// Ambiguity 27: the older teacher first, then the earlier submission.
    pub birth_date: NaiveDate,
    pub submitted_at: i64,
    pub class: Option<String>,
    /// The post types asked, in the form's order.
    pub post_types: Vec<PostType>,
    /// PREF-6 and POST-7: the chair kinds the teacher accepts.
    pub chairs: Vec<ChairKind>,
    /// COM-1: an AP skips the schools of the municipality held.
    pub skip_municipality: Option<String>,
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

/// SEQ-6: the posts each wish reaches, in order: its schools in their
/// order (a school met in an earlier wish is not offered again; COM-1
/// skips the municipality held), in each the chairs in the PREF-6 order,
/// in each chair the post types in the form's order.
pub fn options(c: &Candidate, vacancies: &[Vacancy], at: &BTreeMap<(&str, ChairKind), Vec<usize>>) -> Vec<Reach> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (w, wish) in c.wishes.iter().enumerate() {
        let standing = Standing {
            group: c.group,
            rank: rank(wish.precedence, wish.section_e),
            score: c.score,
            birth_date: c.birth_date,
            submitted_at: c.submitted_at,
            id: c.id,
        };
        for school in &wish.schools {
            if !seen.insert(school.as_str()) {
                continue;
            }
            for chair in ChairKind::ORDER.into_iter().filter(|k| c.chairs.contains(k)) {
                let Some(lines) = at.get(&(school.as_str(), chair)) else { continue };
                for post_type in &c.post_types {
                    for &v in lines {
                        let line = &vacancies[v];
                        let skipped = c.skip_municipality.as_deref() == Some(line.municipality.as_str());
                        let fits = line.post_type == *post_type && (line.class.is_none() || line.class == c.class);
                        if fits && !skipped && line.seats > 0 {
                            out.push(Reach { vacancy: v, wish: w, standing });
                        }
                    }
                }
            }
        }
    }
    out
}

/// Who took a post, as a certificate shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Admitted {
    pub code: String,
    pub precedence: Option<Precedence>,
    pub score: f64,
}

/// For one preference above the post obtained: the weakest claim that
/// still took a post of the relevant kind there (none: it had no such post).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertificateEntry {
    pub position: u32,
    pub last_admitted: Option<Admitted>,
}

/// A candidate's outcome: the post and the preference it came from, and
/// the evidence for every preference ranked above it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub id: i64,
    /// The vacancy line and the preference position, if assigned.
    pub assigned: Option<(usize, u32)>,
    pub certificate: Vec<CertificateEntry>,
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
}

/// Runs one phase: deferred acceptance over every candidate's options,
/// the certificates, and the checker. An `Err` changes nothing: the caller
/// stores no result.
pub fn allocate(candidates: &[Candidate], vacancies: &[Vacancy]) -> Result<Allocation, Violation> {
    let mut at: BTreeMap<(&str, ChairKind), Vec<usize>> = BTreeMap::new();
    for (i, v) in vacancies.iter().enumerate() {
        at.entry((v.school.as_str(), v.chair)).or_default().push(i);
    }
    let lists: Vec<Vec<Reach>> = candidates.iter().map(|c| options(c, vacancies, &at)).collect();
    // held[v]: the candidates a line holds with their option, weakest last.
    let mut held: Vec<Vec<(Standing, usize, usize)>> = vec![Vec::new(); vacancies.len()];
    let mut next = vec![0usize; candidates.len()];
    let mut free: Vec<usize> = (0..candidates.len()).rev().collect();
    while let Some(c) = free.pop() {
        while let Some(o) = lists[c].get(next[c]) {
            let option = next[c];
            next[c] += 1;
            let line = &mut held[o.vacancy];
            let seats = vacancies[o.vacancy].seats as usize;
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
    check(vacancies, &lists, &held, &assigned, candidates)?;
    let outcomes = candidates
        .iter()
        .enumerate()
        .map(|(c, cand)| {
            let upto = assigned[c].map_or(lists[c].len(), |o| o);
            let wishes_above = match assigned[c] {
                Some(o) => lists[c][o].wish,
                None => cand.wishes.len(),
            };
            let certificate = (0..wishes_above)
                .map(|w| {
                    let weakest = lists[c][..upto]
                        .iter()
                        .filter(|o| o.wish == w)
                        .filter_map(|o| held[o.vacancy].last())
                        .max_by_key(|(s, ..)| *s);
                    CertificateEntry {
                        position: cand.wishes[w].position,
                        last_admitted: weakest.map(|&(_, h, option)| {
                            let wish = &candidates[h].wishes[lists[h][option].wish];
                            Admitted {
                                code: candidates[h].code.clone(),
                                precedence: wish.precedence,
                                score: candidates[h].score,
                            }
                        }),
                    }
                })
                .collect();
            let assigned = assigned[c].map(|o| (lists[c][o].vacancy, cand.wishes[lists[c][o].wish].position));
            Outcome { id: cand.id, assigned, certificate }
        })
        .collect();
    Ok(Allocation { outcomes, taken: held.iter().map(|l| l.len() as u32).collect() })
}

/// The global checker: no line over its seats, and no candidate with a
/// post above theirs (in their own order) that had a free seat or went to
/// a weaker claim.
fn check(
    vacancies: &[Vacancy],
    lists: &[Vec<Reach>],
    held: &[Vec<(Standing, usize, usize)>],
    assigned: &[Option<usize>],
    candidates: &[Candidate],
) -> Result<(), Violation> {
    for (v, line) in held.iter().enumerate() {
        if line.len() > vacancies[v].seats as usize {
            return Err(Violation::OverFilled { vacancy: v });
        }
    }
    for (c, list) in lists.iter().enumerate() {
        let upto = assigned[c].unwrap_or(list.len());
        for o in &list[..upto] {
            let line = &held[o.vacancy];
            let full = line.len() >= vacancies[o.vacancy].seats as usize;
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
        }
    }

    fn wish(position: u32, schools: &[&str], precedence: Option<Precedence>) -> Wish {
        Wish { position, schools: schools.iter().map(|s| s.to_string()).collect(), precedence, section_e: false }
    }

    fn candidate(id: i64, score: f64, wishes: Vec<Wish>) -> Candidate {
        Candidate {
            id,
            code: format!("T{id:03}"),
            group: 1,
            score,
            birth_date: NaiveDate::from_ymd_opt(1975, 1, 1).unwrap(),
            submitted_at: 0,
            class: None,
            post_types: vec![PostType::Nn],
            chairs: vec![ChairKind::Internal],
            skip_municipality: None,
            wishes,
        }
    }

    fn got(a: &Allocation) -> Vec<(i64, Option<(usize, u32)>)> {
        a.outcomes.iter().map(|o| (o.id, o.assigned)).collect()
    }

    #[test]
    fn a_precedence_where_it_counts_beats_a_higher_score_and_the_loser_sees_who_took_it() {
        let v = [vacancy("X", "m1", ChairKind::Internal, 1), vacancy("Y", "m2", ChairKind::Internal, 1)];
        let strong = candidate(1, 10.0, vec![wish(1, &["X"], Some(Precedence::LChildUnder6)), wish(2, &["Y"], None)]);
        let scored = candidate(2, 50.0, vec![wish(1, &["X"], None), wish(2, &["Y"], None)]);
        let a = allocate(&[strong, scored], &v).unwrap();
        assert_eq!(got(&a), [(1, Some((0, 1))), (2, Some((1, 2)))]);
        let entry = &a.outcomes[1].certificate;
        assert_eq!(entry.len(), 1, "one preference above the post obtained");
        let last = entry[0].last_admitted.as_ref().unwrap();
        assert_eq!(
            (entry[0].position, last.code.as_str(), last.precedence),
            (1, "T001", Some(Precedence::LChildUnder6))
        );
        // Without the precedence at X, the score decides there.
        let weak = candidate(1, 10.0, vec![wish(1, &["X"], None), wish(2, &["Y"], Some(Precedence::LChildUnder6))]);
        let scored = candidate(2, 50.0, vec![wish(1, &["X"], None), wish(2, &["Y"], None)]);
        assert_eq!(got(&allocate(&[weak, scored], &v).unwrap()), [(1, Some((1, 2))), (2, Some((0, 1)))]);
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
        let by_id = |a: Allocation| {
            let mut g = got(&a);
            g.sort();
            (g, a.taken)
        };
        let first = by_id(allocate(&all, &v).unwrap());
        all.reverse();
        assert_eq!(by_id(allocate(&all, &v).unwrap()), first);
        all.rotate_left(5);
        assert_eq!(by_id(allocate(&all, &v).unwrap()), first);
        let seats: u32 = v.iter().map(|x| x.seats).sum();
        assert_eq!(first.1.iter().sum::<u32>(), seats, "more candidates than seats: every seat taken");
    }

    #[test]
    fn groups_go_first_then_ties_go_to_the_older_teacher_then_the_earlier_form() {
        let v = [vacancy("X", "m", ChairKind::Internal, 1)];
        let mut ut = candidate(1, 1.0, vec![wish(1, &["X"], None)]);
        ut.group = 0;
        let ap = candidate(2, 99.0, vec![wish(1, &["X"], None)]);
        assert_eq!(allocate(&[ap, ut], &v).unwrap().outcomes[1].assigned, Some((0, 1)), "SEQ-5: UT first");
        let young = candidate(1, 5.0, vec![wish(1, &["X"], None)]);
        let mut old = candidate(2, 5.0, vec![wish(1, &["X"], None)]);
        old.birth_date = NaiveDate::from_ymd_opt(1960, 1, 1).unwrap();
        assert_eq!(allocate(&[young.clone(), old], &v).unwrap().outcomes[1].assigned, Some((0, 1)));
        let mut later = young.clone();
        later.id = 3;
        later.submitted_at = 10;
        assert_eq!(allocate(&[later, young], &v).unwrap().outcomes[1].assigned, Some((0, 1)), "earlier form");
    }

    #[test]
    fn chairs_go_internal_first_the_municipality_held_is_skipped_and_options_are_kept() {
        let v = [
            vacancy("X", "m", ChairKind::ExternalSameMunicipality, 1),
            vacancy("X", "m", ChairKind::Internal, 1),
            vacancy("H", "home", ChairKind::Internal, 1),
        ];
        let mut c = candidate(1, 1.0, vec![wish(1, &["H"], None), wish(2, &["X"], None)]);
        c.chairs = ChairKind::ORDER.to_vec();
        c.skip_municipality = Some("home".into());
        let a = allocate(std::slice::from_ref(&c), &v).unwrap();
        assert_eq!(a.outcomes[0].assigned, Some((1, 2)), "COM-1 skips H; X's internal chair first");
        assert_eq!(a.outcomes[0].certificate[0].last_admitted, None, "no post of its kind at H");
        let mut other = candidate(2, 9.0, vec![wish(1, &["X"], None)]);
        other.chairs = vec![ChairKind::Internal];
        let a = allocate(&[c, other], &v).unwrap();
        assert_eq!(got(&a), [(1, Some((0, 2))), (2, Some((1, 1)))], "only one accepts an external chair");
    }

    #[test]
    fn the_checker_refuses_an_over_filled_line_and_justified_envy() {
        let v = [vacancy("X", "m", ChairKind::Internal, 1), vacancy("Y", "m", ChairKind::Internal, 1)];
        let cands = [
            candidate(1, 9.0, vec![wish(1, &["X"], None), wish(2, &["Y"], None)]),
            candidate(2, 1.0, vec![wish(1, &["X"], None), wish(2, &["Y"], None)]),
        ];
        let mut at = BTreeMap::new();
        for (i, x) in v.iter().enumerate() {
            at.entry((x.school.as_str(), x.chair)).or_insert_with(Vec::new).push(i);
        }
        let lists: Vec<Vec<Reach>> = cands.iter().map(|c| options(c, &v, &at)).collect();
        let hold = |c: usize, o: usize| (lists[c][o].standing, c, o);
        // The weaker teacher at X, the stronger one at Y: envy.
        let held = vec![vec![hold(1, 0)], vec![hold(0, 1)]];
        let err = check(&v, &lists, &held, &[Some(1), Some(0)], &cands).unwrap_err();
        assert_eq!(err, Violation::Envy { candidate: 1, position: 1, vacancy: 0 });
        // Both at X.
        let held = vec![vec![hold(0, 0), hold(1, 0)], vec![]];
        assert_eq!(check(&v, &lists, &held, &[Some(0), Some(0)], &cands), Err(Violation::OverFilled { vacancy: 0 }));
        // Unassigned while Y is free.
        let held = vec![vec![hold(0, 0)], vec![]];
        assert!(matches!(
            check(&v, &lists, &held, &[Some(0), None], &cands),
            Err(Violation::Envy { candidate: 2, .. })
        ));
        let held = vec![vec![hold(0, 0)], vec![hold(1, 1)]];
        assert_eq!(check(&v, &lists, &held, &[Some(0), Some(1)], &cands), Ok(()));
    }
}
