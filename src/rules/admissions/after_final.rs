//! The round after its final ranking (spec §5.7, R-WL-1..3, R-TM-7):
//! placements are facts and activation is frozen, so nothing is recomputed
//! from scratch. Removals free places; a freed place goes to the first
//! waiting candidate who accepts the site, with a time model among those
//! activated at class formation. Pure: the stored facts come in as values.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Admission, AppId, Applicant, Assessment, Cutoff, ModelOutcome, Outcome, Prepared, RoundConfig, Via};
use super::{WaitingGroup, rankings, waiting_list};

/// What the final ranking fixed: who sits where, which models run where
/// (with their pupils at formation), and the published cutoffs.
#[derive(Debug, Clone, Default)]
pub struct Frozen {
    pub placements: BTreeMap<AppId, Admission>,
    pub activation: Vec<ModelOutcome>,
    pub cutoffs: Vec<Cutoff>,
}

impl Frozen {
    /// What the final outcome fixes, as the approval stores it.
    pub fn of(outcome: &Outcome) -> Frozen {
        Frozen {
            placements: outcome.admitted.clone(),
            activation: outcome.time_models.clone(),
            cutoffs: outcome.cutoffs.clone(),
        }
    }
}

/// The current outcome: the placements of active applications, the waiting
/// list of every other active one (late ones included, R-WL-2), places left,
/// and frozen activation with today's pupils.
pub fn current(config: &RoundConfig, applicants: &[Applicant], frozen: &Frozen) -> Outcome {
    let p = Prepared::new(config, applicants);
    let admitted: BTreeMap<AppId, Admission> =
        p.apps.iter().filter_map(|a| frozen.placements.get(&a.id).map(|adm| (a.id, adm.clone()))).collect();
    let held: BTreeMap<AppId, (String, Via)> = admitted.iter().map(|(id, a)| (*id, (a.site.clone(), a.via))).collect();
    let waiting = waiting_list(&p, &held);
    let residual =
        config.sites.iter().map(|s| (s.code.clone(), s.places.saturating_sub(taken(&admitted, &s.code)))).collect();
    let time_models = frozen
        .activation
        .iter()
        .map(|m| ModelOutcome {
            pupils: admitted.values().filter(|a| a.site == m.site && a.time_model == m.model).count() as u32,
            ..m.clone()
        })
        .collect();
    Outcome { rankings: rankings(&p), admitted, waiting, residual, time_models, cutoffs: frozen.cutoffs.clone() }
}

fn taken(admitted: &BTreeMap<AppId, Admission>, site: &str) -> u32 {
    admitted.values().filter(|a| a.site == site).count() as u32
}

/// Why no one can be admitted from the waiting list at a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Refusal {
    /// Every place of the site is taken.
    NoFreePlace,
    /// No waiting candidate accepts the site.
    NobodyWaiting,
    /// The head candidate is a late disabled resident whose inclusion the
    /// head teacher has not assessed yet (RG 9, A-9).
    AssessmentPending(AppId),
}

/// The call of one waiting candidate to a freed place at `site` (R-WL-2,
/// R-WL-3), with the time model of R-TM-7.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    pub id: AppId,
    pub group: WaitingGroup,
    /// The candidates ahead of this one who do not accept the site.
    pub passed_over: u32,
    pub admission: Admission,
}

pub fn call(config: &RoundConfig, applicants: &[Applicant], current: &Outcome, site: &str) -> Result<Call, Refusal> {
    let free = current.residual.iter().find(|(s, _)| s == site).map_or(0, |(_, n)| *n);
    if free == 0 {
        return Err(Refusal::NoFreePlace);
    }
    let by_id: BTreeMap<AppId, &Applicant> = applicants.iter().map(|a| (a.id, a)).collect();
    let accepts =
        |a: &Applicant| config.redistribute_beyond_preferences || a.site_preferences.iter().any(|s| s == site);
    let mut passed_over = 0;
    for row in &current.waiting {
        let a = by_id[&row.id];
        if !accepts(a) {
            passed_over += 1;
            continue;
        }
        if row.group == WaitingGroup::W2 && a.assessment == Assessment::Pending {
            return Err(Refusal::AssessmentPending(a.id));
        }
        let (time_model, time_model_preference_rank) = late_model(config, current, site, a);
        let admission =
            Admission { site: site.to_owned(), via: Via::WaitingList, time_model, time_model_preference_rank };
        return Ok(Call { id: a.id, group: row.group, passed_over, admission });
    }
    Err(Refusal::NobodyWaiting)
}

/// R-TM-7: the pupil's highest preference among the models activated at
/// the site that have room; else the default model if it runs there; else
/// the activated model with the most room (ties: configured order).
/// Arrivals never activate a model.
pub fn late_model(config: &RoundConfig, current: &Outcome, site: &str, a: &Applicant) -> (String, Option<u32>) {
    let activated: Vec<&ModelOutcome> = config
        .time_models
        .iter()
        .filter_map(|m| current.time_models.iter().find(|t| t.site == site && &t.model == m && t.activated))
        .collect();
    let room = |m: &ModelOutcome| match config.caps.get(&(site.to_owned(), m.model.clone())) {
        Some(cap) if m.model != config.default_time_model => cap.saturating_sub(m.pupils),
        _ => u32::MAX,
    };
    let rank = |model: &str| a.time_model_preferences.iter().position(|p| p == model).map(|i| i as u32 + 1);
    for (i, wanted) in a.time_model_preferences.iter().enumerate() {
        if activated.iter().any(|m| &m.model == wanted && room(m) > 0) {
            return (wanted.clone(), Some(i as u32 + 1));
        }
    }
    if activated.iter().any(|m| m.model == config.default_time_model) {
        return (config.default_time_model.clone(), rank(&config.default_time_model));
    }
    // Activated models in configured order: the first with the most room.
    let best = activated.iter().fold(None::<&&ModelOutcome>, |best, m| match best {
        Some(b) if room(b) >= room(m) => Some(b),
        _ => Some(m),
    });
    match best {
        Some(m) => (m.model.clone(), rank(&m.model)),
        None => (config.default_time_model.clone(), rank(&config.default_time_model)),
    }
}

/// whether the final ranking, recomputed from its own inputs with one
/// applicant's declarations corrected (a claim found false), would still
/// admit that applicant. If not, the admission may be revoked.
pub fn admitted_after_correction(final_inputs: &super::Inputs, corrected: &Applicant) -> bool {
    let applicants: Vec<Applicant> = final_inputs
        .applicants
        .iter()
        .map(|a| if a.id == corrected.id { corrected.clone() } else { a.clone() })
        .collect();
    super::compute(&final_inputs.config, &applicants).admitted.contains_key(&corrected.id)
}

#[cfg(test)]
mod tests {
    use super::super::tests;
    use super::*;
    use crate::rules::admissions::{Points, Status, compute};

    fn config(sites: &[(&str, u32)], models: &[&str], min: u32) -> RoundConfig {
        RoundConfig { min_pupils_per_time_model: min, ..tests::config(sites, models) }
    }

    /// A resident of `site`'s catchment wanting `models`, with points in hundredths.
    fn applicant(id: AppId, site: &str, models: &[&str], points: i64) -> Applicant {
        Applicant {
            time_model_preferences: models.iter().map(|m| (*m).into()).collect(),
            points: Points(points),
            ..tests::applicant(id, &[site], Some(site), true)
        }
    }

    #[test]
    fn a_removal_frees_a_place_that_the_head_of_the_list_takes_with_a_frozen_model() {
        let cfg = config(&[("A", 2)], &["27H", "40H"], 2);
        // Three on time for two places, all wanting 40H; one late.
        let mut apps: Vec<Applicant> = (1..=3).map(|i| applicant(i, "A", &["40H"], (4 - i) * 100)).collect();
        let mut late = applicant(4, "A", &["40H"], 900);
        late.submitted_at = cfg.window_closes_at + chrono::Duration::days(3);
        apps.push(late);
        let final_outcome = compute(&cfg, &apps);
        let frozen = Frozen::of(&final_outcome);
        assert_eq!(final_outcome.admitted.keys().copied().collect::<Vec<_>>(), [1, 2]);
        let now = current(&cfg, &apps, &frozen);
        assert_eq!(now, Outcome { rankings: now.rankings.clone(), ..final_outcome.clone() }, "nothing changed");
        assert_eq!(call(&cfg, &apps, &now, "A"), Err(Refusal::NoFreePlace));

        // The second withdraws: the third (on time, W3) comes before the late one (W4).
        apps[1].status = Status::Withdrawn;
        let now = current(&cfg, &apps, &frozen);
        assert_eq!(now.residual, [("A".to_owned(), 1)]);
        let c = call(&cfg, &apps, &now, "A").unwrap();
        assert_eq!((c.id, c.group), (3, WaitingGroup::W3));
        // 40H ran at formation with two pupils; it still runs with one.
        assert_eq!(now.time_models.iter().find(|m| m.model == "40H").map(|m| (m.activated, m.pupils)), Some((true, 1)));
        assert_eq!((c.admission.time_model.as_str(), c.admission.time_model_preference_rank), ("40H", Some(1)));
        assert_eq!(c.admission.via, Via::WaitingList);
    }

    #[test]
    fn a_false_declaration_revokes_only_an_admission_it_bought() {
        // One place: 1 leads 2 by a claim worth 5 points; 3 trails far behind.
        let cfg = config(&[("A", 1)], &["27H"], 1);
        let apps = vec![applicant(1, "A", &["27H"], 700), applicant(2, "A", &["27H"], 300), applicant(3, "A", &[], 0)];
        let inputs = crate::rules::admissions::Inputs { config: cfg, applicants: apps.clone() };
        assert!(compute(&inputs.config, &apps).admitted.contains_key(&1));
        // Without the false claim 1 falls behind 2: the admission was bought by it.
        assert!(!admitted_after_correction(&inputs, &Applicant { points: Points(200), ..apps[0].clone() }));
        // A smaller correction leaves 1 ahead: the admission stands.
        assert!(admitted_after_correction(&inputs, &Applicant { points: Points(400), ..apps[0].clone() }));
        // Nobody else's data changes the answer.
        assert!(admitted_after_correction(&inputs, &apps[0]));
    }

    #[test]
    fn an_arrival_never_activates_a_model_and_a_pending_assessment_blocks_the_list() {
        // 40H not activated at formation (1 < 2): the late pupil gets 27H d'ufficio.
        let cfg = config(&[("A", 2)], &["27H", "40H"], 2);
        let mut apps = vec![applicant(1, "A", &["40H"], 0)];
        let mut late = applicant(2, "A", &["40H"], 0);
        late.submitted_at = cfg.window_closes_at + chrono::Duration::days(1);
        late.disability_verified = true;
        apps.push(late);
        let frozen = Frozen::of(&compute(&cfg, &apps));
        let now = current(&cfg, &apps, &frozen);
        // W2 (late, disabled, resident) with no assessment yet: blocked.
        assert_eq!(call(&cfg, &apps, &now, "A"), Err(Refusal::AssessmentPending(2)));
        apps[1].assessment = Assessment::Confirmed;
        let c = call(&cfg, &apps, &now, "A").unwrap();
        assert_eq!((c.id, c.group), (2, WaitingGroup::W2));
        assert_eq!((c.admission.time_model.as_str(), c.admission.time_model_preference_rank), ("27H", None));
    }

    #[test]
    fn without_redistribution_a_candidate_who_did_not_list_the_site_is_passed_over() {
        let mut cfg = config(&[("A", 1), ("B", 1)], &["27H"], 1);
        cfg.redistribute_beyond_preferences = false;
        let apps = vec![
            applicant(1, "A", &["27H"], 500),
            applicant(2, "A", &["27H"], 400),
            applicant(3, "B", &["27H"], 0),
            applicant(4, "B", &["27H"], 0),
        ];
        let mut apps = apps;
        apps[1].site_preferences = vec!["A".into(), "B".into()];
        let frozen = Frozen::of(&compute(&cfg, &apps));
        let mut apps2 = apps.clone();
        apps2[2].status = Status::Withdrawn; // frees B
        let now = current(&cfg, &apps2, &frozen);
        let waiting: Vec<AppId> = now.waiting.iter().map(|w| w.id).collect();
        let c = call(&cfg, &apps2, &now, "B").unwrap();
        // 2 listed B and ranks ahead of 4 globally only if its key is lower;
        // either way nobody who did not list B is called.
        assert!(apps2.iter().find(|a| a.id == c.id).unwrap().site_preferences.contains(&"B".to_owned()));
        assert_eq!(c.passed_over as usize, waiting.iter().position(|w| *w == c.id).unwrap());
    }
}
