//! What-if (issue 19, part 5): the engine over a round's real data with
//! other places, another minimum for time models or other points per
//! criterion, and the difference against the current outcome. Pure and
//! stores nothing.

use std::collections::BTreeMap;

use serde::Serialize;

use super::points::{self, Claim, Criterion, PointsLine};
use super::{AppId, Applicant, Outcome, RoundConfig, compute};

/// The changes to try. Unnamed sites and criteria keep their values.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub places: BTreeMap<String, u32>,
    pub min_pupils: Option<u32>,
    /// Per criterion code: its points (FLAG) or points per unit (COUNT), in hundredths.
    pub criteria_points: BTreeMap<String, i64>,
}

/// Where an application stands in one outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Standing {
    Admitted { site: String, time_model: String },
    Waiting { position: u32 },
    Out,
}

pub fn standing(o: &Outcome, id: AppId) -> Standing {
    if let Some(a) = o.admitted.get(&id) {
        return Standing::Admitted { site: a.site.clone(), time_model: a.time_model.clone() };
    }
    match o.waiting.iter().find(|w| w.id == id) {
        Some(w) => Standing::Waiting { position: w.position },
        None => Standing::Out,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub id: AppId,
    pub before: Standing,
    pub after: Standing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Simulation {
    pub outcome: Outcome,
    /// Applications whose standing differs, by id.
    pub changes: Vec<Change>,
}

/// Runs the engine with the changes and compares with `current`.
pub fn what_if(
    config: &RoundConfig,
    applicants: &[Applicant],
    lines: &BTreeMap<AppId, Vec<PointsLine>>,
    criteria: &[Criterion],
    changes: &Changes,
    current: &Outcome,
) -> Simulation {
    let mut config = config.clone();
    for s in &mut config.sites {
        if let Some(p) = changes.places.get(&s.code) {
            s.places = *p;
        }
    }
    if let Some(m) = changes.min_pupils {
        config.min_pupils_per_time_model = m;
    }
    let criteria: Vec<Criterion> = criteria
        .iter()
        .map(|c| match changes.criteria_points.get(&c.code) {
            Some(p) => with_points(c, *p),
            None => c.clone(),
        })
        .collect();
    let applicants: Vec<Applicant> = applicants
        .iter()
        .map(|a| {
            if changes.criteria_points.is_empty() {
                return a.clone();
            }
            let claims: Vec<Claim> = lines
                .get(&a.id)
                .into_iter()
                .flatten()
                .map(|l| Claim { criterion: l.criterion.clone(), quantity: l.quantity, status: l.status })
                .collect();
            Applicant { points: points::sum(&criteria, &claims).0, ..a.clone() }
        })
        .collect();
    let outcome = compute(&config, &applicants);
    let changes = applicants
        .iter()
        .filter(|a| a.status == super::Status::Active)
        .filter_map(|a| {
            let (before, after) = (standing(current, a.id), standing(&outcome, a.id));
            (before != after).then_some(Change { id: a.id, before, after })
        })
        .collect();
    Simulation { outcome, changes }
}

/// A criterion with other points: a FLAG's points, a COUNT's points per unit.
fn with_points(c: &Criterion, hundredths: i64) -> Criterion {
    Criterion { points: super::Points(hundredths), ..c.clone() }
}

#[cfg(test)]
mod tests {
    use super::super::{Points, tests};
    use super::*;

    #[test]
    fn one_more_place_admits_the_head_of_the_list_and_nothing_else_moves() {
        let config = tests::config(&[("A", 1)], &["27H"]);
        let apps = vec![
            Applicant { points: Points(900), ..tests::applicant(1, &["A"], Some("A"), true) },
            Applicant { points: Points(500), ..tests::applicant(2, &["A"], Some("A"), true) },
            Applicant { points: Points(100), ..tests::applicant(3, &["A"], Some("A"), true) },
        ];
        let current = compute(&config, &apps);
        let changes = Changes { places: [("A".to_owned(), 2)].into(), ..Changes::default() };
        let sim = what_if(&config, &apps, &BTreeMap::new(), &[], &changes, &current);
        assert_eq!(
            sim.changes,
            [
                Change {
                    id: 2,
                    before: Standing::Waiting { position: 1 },
                    after: Standing::Admitted { site: "A".into(), time_model: "27H".into() }
                },
                Change { id: 3, before: Standing::Waiting { position: 2 }, after: Standing::Waiting { position: 1 } },
            ]
        );
        // Nothing changed, nothing differs.
        let same = what_if(&config, &apps, &BTreeMap::new(), &[], &Changes::default(), &current);
        assert!(same.changes.is_empty());
        assert_eq!(same.outcome, current);
    }
}
