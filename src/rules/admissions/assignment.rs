//! Site assignment (§5.4). Phase A: each site admits its first-choice
//! applicants in ranking order up to its places. Phase B: the others are
//! redistributed by applicant-proposing deferred acceptance over the
//! residual places, each site keeping the best proposers by its own key.
//! Phase A is never undone; late applications take no part.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{AppId, Key, Prepared, Via, acceptable_sites};

/// Who got a place where, and who asked which site in phase B.
pub struct Placed {
    pub admitted: BTreeMap<AppId, (String, Via)>,
    /// (application, site) pairs of every first choice and every proposal.
    asked: BTreeSet<(AppId, String)>,
}

impl Placed {
    /// Whether the application wanted this site (first choice or a proposal).
    pub fn wanted(&self, id: AppId, site: &str) -> bool {
        self.asked.contains(&(id, site.to_owned()))
    }
}

pub fn assign(p: &Prepared) -> Placed {
    let mut admitted: BTreeMap<AppId, (String, Via)> = BTreeMap::new();
    let mut asked: BTreeSet<(AppId, String)> = BTreeSet::new();
    let mut residual: BTreeMap<&str, usize> = BTreeMap::new();
    // Phase A.
    for s in &p.config.sites {
        let mut first: Vec<(Key, AppId)> = p
            .on_time()
            .filter(|a| a.site_preferences.first() == Some(&s.code))
            .map(|a| (p.key(a, &s.code), a.id))
            .collect();
        first.sort();
        for (_, id) in &first {
            asked.insert((*id, s.code.clone()));
        }
        let places = s.places as usize;
        for (_, id) in first.iter().take(places) {
            admitted.insert(*id, (s.code.clone(), Via::Ranking));
        }
        residual.insert(&s.code, places.saturating_sub(first.len()));
    }
    // Phase B: every applicant not admitted proposes down its list (its first
    // choice left out); a site holds the best by its own key.
    let mut lists: BTreeMap<AppId, Vec<&str>> = BTreeMap::new();
    let mut queue: VecDeque<AppId> = VecDeque::new();
    let apps: BTreeMap<AppId, _> = p.on_time().map(|a| (a.id, a)).collect();
    for a in apps.values() {
        if admitted.contains_key(&a.id) {
            continue;
        }
        let first = a.site_preferences.first().map(String::as_str);
        let list: Vec<&str> = acceptable_sites(p.config, a).into_iter().filter(|s| Some(*s) != first).collect();
        lists.insert(a.id, list);
        queue.push_back(a.id);
    }
    let mut next: BTreeMap<AppId, usize> = BTreeMap::new();
    let mut held: BTreeMap<&str, Vec<(Key, AppId)>> = BTreeMap::new();
    while let Some(id) = queue.pop_front() {
        let list = &lists[&id];
        let at = next.entry(id).or_insert(0);
        let Some(site) = list.get(*at).copied() else { continue };
        *at += 1;
        asked.insert((id, site.to_owned()));
        let capacity = residual[site];
        let holding = held.entry(site).or_default();
        holding.push((p.key(apps[&id], site), id));
        holding.sort();
        if holding.len() > capacity {
            let (_, rejected) = holding.pop().expect("more than the capacity");
            queue.push_back(rejected);
        }
    }
    for (site, holding) in held {
        for (_, id) in holding {
            admitted.insert(id, (site.to_owned(), Via::Redistribution));
        }
    }
    Placed { admitted, asked }
}
