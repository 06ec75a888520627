//! Time-model activation at class formation (§5.6, R-TM-1..6): per site,
//! the set of non-default models to run is the feasible set (each reaching
//! the minimum) that is rank-maximal (most first preferences, then most
//! second preferences, …); ties go to fewer models, then the configured
//! order. Pupils are served in class-stay precedence order, so caps move the
//! last ones to their next preference. The default model runs whatever its
//! count and has no cap.

use std::collections::BTreeMap;

use super::{AppId, ModelOutcome, Prepared, Via};

/// The most models a site may offer besides the default: 2^7 subsets.
pub const MAX_NON_DEFAULT_MODELS: usize = 7;

/// One pupil's model and which of their preferences it is (None: d'ufficio).
pub type Assigned = (String, Option<u32>);

/// A site's pupils and models, in the order the search needs.
pub struct SiteProblem<'a> {
    /// Pupils in class-stay precedence order, with their preferences.
    pub pupils: Vec<(AppId, &'a [String])>,
    /// Non-default models offered here, in configured order.
    pub models: Vec<&'a str>,
    pub default: &'a str,
    pub min: u32,
    /// Caps of non-default models (the default has none).
    pub caps: BTreeMap<&'a str, u32>,
}

/// The result of `assign(P, X ∪ {d})`.
pub struct Assignment {
    pub per_pupil: Vec<(AppId, Assigned)>,
    pub counts: BTreeMap<String, u32>,
}

impl SiteProblem<'_> {
    /// Serves the pupils in order: each takes its first preference that is
    /// allowed and has room, else the default model.
    pub fn assign(&self, allowed: &[&str]) -> Assignment {
        let mut counts: BTreeMap<String, u32> = BTreeMap::new();
        let mut per_pupil = Vec::with_capacity(self.pupils.len());
        for (id, prefs) in &self.pupils {
            let room = |m: &str| counts.get(m).copied().unwrap_or(0) < self.caps.get(m).copied().unwrap_or(u32::MAX);
            let pick = prefs
                .iter()
                .enumerate()
                .find(|(_, m)| m.as_str() == self.default || allowed.contains(&m.as_str()) && room(m));
            let (model, rank) = match pick {
                Some((i, m)) => (m.clone(), Some(i as u32 + 1)),
                None => (self.default.to_owned(), None),
            };
            *counts.entry(model.clone()).or_default() += 1;
            per_pupil.push((*id, (model, rank)));
        }
        Assignment { per_pupil, counts }
    }

    /// Whether every model of `x` reaches the minimum.
    fn feasible(&self, x: &[&str], a: &Assignment) -> bool {
        x.iter().all(|m| a.counts.get(*m).copied().unwrap_or(0) >= self.min)
    }

    /// (n1, n2, …): how many pupils got their k-th preference.
    fn value(&self, a: &Assignment) -> Vec<u32> {
        let longest = self.pupils.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
        let mut v = vec![0; longest];
        for (_, (_, rank)) in &a.per_pupil {
            if let Some(r) = rank {
                v[*r as usize - 1] += 1;
            }
        }
        v
    }

    /// The chosen set of non-default models and its assignment.
    pub fn solve(&self) -> (Vec<&str>, Assignment) {
        let n = self.models.len().min(MAX_NON_DEFAULT_MODELS);
        let mut best: Option<(Vec<u32>, Vec<usize>, Assignment)> = None;
        for mask in 0u32..(1 << n) {
            let indices: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            let x: Vec<&str> = indices.iter().map(|&i| self.models[i]).collect();
            let a = self.assign(&x);
            if !self.feasible(&x, &a) {
                continue;
            }
            let v = self.value(&a);
            let better = match &best {
                None => true,
                Some((bv, bi, _)) => match v.cmp(bv) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Less => false,
                    std::cmp::Ordering::Equal => (indices.len(), &indices) < (bi.len(), bi),
                },
            };
            if better {
                best = Some((v, indices, a));
            }
        }
        let (_, indices, a) = best.expect("the empty set is always feasible");
        (indices.iter().map(|&i| self.models[i]).collect(), a)
    }
}

/// The problem of one site: its on-time admitted pupils in class-stay order.
pub fn problem<'a>(p: &'a Prepared, admitted: &BTreeMap<AppId, (String, Via)>, site: &'a str) -> SiteProblem<'a> {
    let mut here: Vec<_> = p
        .on_time()
        .filter(|a| admitted.get(&a.id).is_some_and(|(s, _)| s == site))
        .map(|a| (p.key(a, site), a.id, a.time_model_preferences.as_slice()))
        .collect();
    here.sort();
    let default = p.config.default_time_model.as_str();
    let models: Vec<&str> = p.config.models_at(site).into_iter().filter(|m| *m != default).collect();
    let caps = p
        .config
        .caps
        .iter()
        .filter(|((s, m), _)| s == site && m != default)
        .map(|((_, m), c)| (m.as_str(), *c))
        .collect();
    SiteProblem {
        pupils: here.into_iter().map(|(_, id, prefs)| (id, prefs)).collect(),
        models,
        default,
        min: p.config.min_pupils_per_time_model,
        caps,
    }
}

/// R-TM-6, A-19: the pupils placed at a site in the order in which they
/// stay when pupils must move between classes: disabled, catchment
/// residents, other residents, then ranking order. Ambito gives the list;
/// forming sections stays with the school.
pub fn class_stay_order(
    config: &super::RoundConfig,
    applicants: &[super::Applicant],
    admitted: &BTreeMap<AppId, super::Admission>,
    site: &str,
) -> Vec<AppId> {
    let p = Prepared::new(config, applicants);
    let mut here: Vec<_> = p
        .apps
        .iter()
        .filter(|a| admitted.get(&a.id).is_some_and(|x| x.site == site))
        .map(|a| (p.key(a, site), a.id))
        .collect();
    here.sort();
    here.into_iter().map(|(_, id)| id).collect()
}

/// Class formation at every site: which models run with how many pupils,
/// and each admitted pupil's model.
pub fn form_classes(
    p: &Prepared,
    admitted: &BTreeMap<AppId, (String, Via)>,
) -> (Vec<ModelOutcome>, BTreeMap<AppId, Assigned>) {
    let mut outcomes = Vec::new();
    let mut per_pupil = BTreeMap::new();
    for s in &p.config.sites {
        let problem = problem(p, admitted, &s.code);
        let (_, assignment) = problem.solve();
        for m in p.config.models_at(&s.code) {
            let pupils = assignment.counts.get(m).copied().unwrap_or(0);
            outcomes.push(ModelOutcome { site: s.code.clone(), model: m.to_owned(), activated: pupils > 0, pupils });
        }
        per_pupil.extend(assignment.per_pupil);
    }
    (outcomes, per_pupil)
}
