//! The admission engine of seed 002 (spec `admissions.md` §5), pure: the
//! ranking key, site assignment with redistribution, the waiting list and
//! time-model activation, from a round's configuration and its
//! applications. No I/O and no clock: the same inputs give a byte-identical
//! outcome (every collection is ordered, every order total).

pub mod after_final;
pub mod aggregates;
pub mod assignment;
pub mod documents;
pub mod explain;
pub mod points;
pub mod public;
pub mod round;
pub mod simulate;
pub mod stradario;
pub mod time_models;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use points::Points;

use super::hex;

/// Application ids.
pub type AppId = i64;

/// A site of the round with its places and the time models it offers
/// (empty: every model of the round).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteConfig {
    pub code: String,
    pub places: u32,
    pub models: Vec<String>,
}

/// What the engine needs of a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundConfig {
    /// In the round's site order, which redistribution follows (R-SITE-3).
    pub sites: Vec<SiteConfig>,
    pub window_opens_at: DateTime<Utc>,
    pub window_closes_at: DateTime<Utc>,
    pub resident_municipalities: Vec<String>,
    /// Offered models in the configured order.
    pub time_models: Vec<String>,
    pub default_time_model: String,
    pub min_pupils_per_time_model: u32,
    /// Caps per (site, model); the default model is never capped.
    #[serde(with = "caps_as_list")]
    pub caps: BTreeMap<(String, String), u32>,
    pub redistribute_beyond_preferences: bool,
    /// None until the head teacher fixes it; the draw key then uses "".
    pub draw_seed: Option<String>,
}

impl RoundConfig {
    fn site_index(&self, code: &str) -> Option<usize> {
        self.sites.iter().position(|s| s.code == code)
    }

    /// The models offered at a site, in configured order.
    pub fn models_at(&self, site: &str) -> Vec<&str> {
        let offered = self.sites.iter().find(|s| s.code == site).map(|s| &s.models);
        self.time_models
            .iter()
            .filter(|m| offered.is_none_or(|o| o.is_empty() || o.contains(m) || **m == self.default_time_model))
            .map(String::as_str)
            .collect()
    }

    pub fn resident(&self, municipality: &str) -> bool {
        self.resident_municipalities.iter().any(|m| m == municipality)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Active,
    Withdrawn,
    Transferred,
    NotAccepted,
}

/// The head teacher's assessment of a late resident disabled pupil (RG 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Assessment {
    Pending,
    Confirmed,
    NotConfirmed,
}

/// An application as the engine sees it: the facts as at submission, with
/// the points already summed (R-PTS-2) and the disability already checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicant {
    pub id: AppId,
    pub external_ref: String,
    pub submitted_at: DateTime<Utc>,
    pub birth_date: NaiveDate,
    pub municipality: String,
    /// The site whose catchment the address falls in (stradario or by hand).
    pub catchment_site: Option<String>,
    pub site_preferences: Vec<String>,
    pub time_model_preferences: Vec<String>,
    /// A certification under L. 104/92, dated by submission, verified (R-TIER-1).
    pub disability_verified: bool,
    pub points: Points,
    pub status: Status,
    pub assessment: Assessment,
}

/// The territorial class of an application relative to a site (R-TIER-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Territory {
    /// Group A: resident, in the site's catchment.
    Catchment,
    /// Group B: resident, another catchment.
    Municipality,
    /// Group C: not resident.
    Other,
}

impl Territory {
    pub fn group(self) -> &'static str {
        match self {
            Territory::Catchment => "A",
            Territory::Municipality => "B",
            Territory::Other => "C",
        }
    }
}

/// The tier shown to school users (R-TIER-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Tier {
    T1Disability,
    T2Catchment,
    T3Municipality,
    T4Other,
}

impl Tier {
    /// `T1` … `T4`, as lists and explanations write it.
    pub fn code(self) -> &'static str {
        match self {
            Tier::T1Disability => "T1",
            Tier::T2Catchment => "T2",
            Tier::T3Municipality => "T3",
            Tier::T4Other => "T4",
        }
    }
}

/// The ranking key at a site (§5.3), ascending: disability first, then
/// territorial class, more points, older, the draw; the id last only to make
/// the order total (external references are unique per round).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    /// False for disability precedence, which sorts first.
    pub no_precedence: bool,
    pub territory: Territory,
    pub minus_points: i64,
    pub birth_date: NaiveDate,
    pub draw: String,
    pub id: AppId,
}

impl Key {
    pub fn tier(&self) -> Tier {
        match (!self.no_precedence, self.territory) {
            (true, _) => Tier::T1Disability,
            (false, Territory::Catchment) => Tier::T2Catchment,
            (false, Territory::Municipality) => Tier::T3Municipality,
            (false, Territory::Other) => Tier::T4Other,
        }
    }

    pub fn points(&self) -> Points {
        Points(-self.minus_points)
    }

    /// The part of the key a tie-break does not decide.
    pub fn before_ties(&self) -> (bool, Territory, i64) {
        (self.no_precedence, self.territory, self.minus_points)
    }
}

/// The draw key (R-TIE-1): lowercase hex of SHA-256(seed ":" externalRef).
pub fn draw_key(seed: &str, external_ref: &str) -> String {
    hex(&Sha256::digest(format!("{seed}:{external_ref}").as_bytes()))
}

/// The commitment published when the window opens: SHA-256 of the seed.
pub fn seed_commitment(seed: &str) -> String {
    hex(&Sha256::digest(seed.as_bytes()))
}

/// The round's applications with what the engine derives once per
/// application: lateness, residence, the draw key.
pub struct Prepared<'a> {
    pub config: &'a RoundConfig,
    pub apps: Vec<&'a Applicant>,
    draws: BTreeMap<AppId, String>,
}

impl<'a> Prepared<'a> {
    pub fn new(config: &'a RoundConfig, applicants: &'a [Applicant]) -> Prepared<'a> {
        let seed = config.draw_seed.as_deref().unwrap_or("");
        let mut apps: Vec<&Applicant> = applicants.iter().filter(|a| a.status == Status::Active).collect();
        apps.sort_by_key(|a| a.id);
        let draws = apps.iter().map(|a| (a.id, draw_key(seed, &a.external_ref))).collect();
        Prepared { config, apps, draws }
    }

    pub fn is_late(&self, a: &Applicant) -> bool {
        a.submitted_at > self.config.window_closes_at
    }

    pub fn on_time(&self) -> impl Iterator<Item = &'a Applicant> + '_ {
        self.apps
            .iter()
            .copied()
            .filter(|a| a.submitted_at >= self.config.window_opens_at && a.submitted_at <= self.config.window_closes_at)
    }

    pub fn territory(&self, a: &Applicant, site: &str) -> Territory {
        match (self.config.resident(&a.municipality), a.catchment_site.as_deref() == Some(site)) {
            (true, true) => Territory::Catchment,
            (true, false) => Territory::Municipality,
            (false, _) => Territory::Other,
        }
    }

    pub fn draw(&self, a: &Applicant) -> &str {
        &self.draws[&a.id]
    }

    pub fn key(&self, a: &Applicant, site: &str) -> Key {
        Key {
            no_precedence: !a.disability_verified,
            territory: self.territory(a, site),
            minus_points: -a.points.0,
            birth_date: a.birth_date,
            draw: self.draw(a).to_owned(),
            id: a.id,
        }
    }
}

/// How an application got its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Via {
    Ranking,
    Redistribution,
    WaitingList,
}

/// A place at a site, with the time model and which preference it was
/// (None: assigned d'ufficio).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    pub site: String,
    pub via: Via,
    pub time_model: String,
    pub time_model_preference_rank: Option<u32>,
}

/// A row of a site's ranking (§5.3): its on-time first-choice applicants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankRow {
    pub position: u32,
    pub id: AppId,
    pub tier: Tier,
    pub territory: Territory,
    pub points: Points,
    /// Ordered by a tie-break (birth date or draw) against another row.
    pub tie: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRanking {
    pub site: String,
    pub rows: Vec<RankRow>,
}

/// The groups of the waiting list (R-WL-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WaitingGroup {
    /// On time, disability precedence, not admitted.
    W1,
    /// Late, disability precedence, resident, assessment confirmed or pending.
    W2,
    /// On time, not admitted.
    W3,
    /// Every other late application.
    W4,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingRow {
    pub position: u32,
    pub id: AppId,
    pub group: WaitingGroup,
}

/// A model at a site after class formation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelOutcome {
    pub site: String,
    pub model: String,
    pub activated: bool,
    pub pupils: u32,
}

/// The last admitted key at a site, for families to compare their own with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cutoff {
    pub site: String,
    pub tier: Tier,
    pub group: Territory,
    pub points: Points,
    /// An applicant with the same tier, group and points was not admitted
    /// here: the tie-break decided.
    pub tie: bool,
}

/// Everything the engine decides for a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub rankings: Vec<SiteRanking>,
    pub admitted: BTreeMap<AppId, Admission>,
    pub waiting: Vec<WaitingRow>,
    /// Places left per site, in round order.
    pub residual: Vec<(String, u32)>,
    pub time_models: Vec<ModelOutcome>,
    pub cutoffs: Vec<Cutoff>,
}

/// What a snapshot stores as the engine's input: enough to recompute the
/// outcome exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    pub config: RoundConfig,
    pub applicants: Vec<Applicant>,
}

impl Inputs {
    /// SHA-256 of the canonical JSON (fields in declaration order).
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("inputs serialise");
        hex(&Sha256::digest(&json))
    }
}

impl Outcome {
    /// SHA-256 of the canonical JSON of the outcome: what snapshots store.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("an outcome serialises");
        hex(&Sha256::digest(&json))
    }
}

/// Runs the engine: rankings, phases A and B, the waiting list, class
/// formation.
pub fn compute(config: &RoundConfig, applicants: &[Applicant]) -> Outcome {
    let p = Prepared::new(config, applicants);
    let rankings = rankings(&p);
    let placed = assignment::assign(&p);
    let waiting = waiting_list(&p, &placed.admitted);
    let (time_models, models) = time_models::form_classes(&p, &placed.admitted);
    let admitted = placed
        .admitted
        .iter()
        .map(|(id, (site, via))| {
            let (model, rank) = models[id].clone();
            (*id, Admission { site: site.clone(), via: *via, time_model: model, time_model_preference_rank: rank })
        })
        .collect();
    let residual = config
        .sites
        .iter()
        .map(|s| {
            let taken = placed.admitted.values().filter(|(site, _)| *site == s.code).count() as u32;
            (s.code.clone(), s.places.saturating_sub(taken))
        })
        .collect();
    let cutoffs = cutoffs(&p, &placed);
    Outcome { rankings, admitted, waiting, residual, time_models, cutoffs }
}

/// The per-site rankings: on-time applications by first choice, in key order.
fn rankings(p: &Prepared) -> Vec<SiteRanking> {
    p.config
        .sites
        .iter()
        .map(|s| {
            let mut keyed: Vec<Key> = p
                .on_time()
                .filter(|a| a.site_preferences.first() == Some(&s.code))
                .map(|a| p.key(a, &s.code))
                .collect();
            keyed.sort();
            let rows = keyed
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let tie = keyed.iter().any(|o| o.id != k.id && o.before_ties() == k.before_ties());
                    RankRow {
                        position: i as u32 + 1,
                        id: k.id,
                        tier: k.tier(),
                        territory: k.territory,
                        points: k.points(),
                        tie,
                    }
                })
                .collect();
            SiteRanking { site: s.code.clone(), rows }
        })
        .collect()
}

/// The waiting list (§5.5): W1 and W3 in global order, W2 and W4 by
/// submission and draw.
fn waiting_list(p: &Prepared, admitted: &BTreeMap<AppId, (String, Via)>) -> Vec<WaitingRow> {
    // On time: the global key; late: submission, then the draw.
    type Order = (Option<Key>, DateTime<Utc>, String, AppId);
    let mut rows: Vec<(WaitingGroup, Order)> = Vec::new();
    for a in p.apps.iter().copied() {
        if admitted.contains_key(&a.id) || a.submitted_at < p.config.window_opens_at {
            continue;
        }
        let late = p.is_late(a);
        let group = match (late, a.disability_verified) {
            (false, true) => WaitingGroup::W1,
            (false, false) => WaitingGroup::W3,
            (true, true)
                if p.config.resident(&a.municipality)
                    && matches!(a.assessment, Assessment::Pending | Assessment::Confirmed) =>
            {
                WaitingGroup::W2
            }
            (true, _) => WaitingGroup::W4,
        };
        let order = match late {
            false => (a.site_preferences.first().map(|s| p.key(a, s)), a.submitted_at, String::new(), a.id),
            true => (None, a.submitted_at, p.draw(a).to_owned(), a.id),
        };
        rows.push((group, order));
    }
    rows.sort();
    rows.into_iter()
        .enumerate()
        .map(|(i, (group, (.., id)))| WaitingRow { position: i as u32 + 1, id, group })
        .collect()
}

/// The sites an on-time applicant accepts, in its order: its preferences,
/// then (when the round redistributes beyond them) every other site in
/// round order.
pub fn acceptable_sites<'c>(config: &'c RoundConfig, a: &Applicant) -> Vec<&'c str> {
    let mut out: Vec<&str> = Vec::new();
    for s in &a.site_preferences {
        if let Some(i) = config.site_index(s)
            && !out.contains(&config.sites[i].code.as_str())
        {
            out.push(&config.sites[i].code);
        }
    }
    if config.redistribute_beyond_preferences {
        for s in &config.sites {
            if !out.contains(&s.code.as_str()) {
                out.push(&s.code);
            }
        }
    }
    out
}

/// Per site, the key of the last admitted applicant, and whether a tie-break
/// decided against someone who wanted the site.
fn cutoffs(p: &Prepared, placed: &assignment::Placed) -> Vec<Cutoff> {
    let mut out = Vec::new();
    for s in &p.config.sites {
        let last = p
            .on_time()
            .filter(|a| placed.admitted.get(&a.id).is_some_and(|(site, _)| *site == s.code))
            .map(|a| p.key(a, &s.code))
            .max();
        let Some(last) = last else { continue };
        let tie = p.on_time().any(|a| {
            placed.admitted.get(&a.id).is_none_or(|(site, _)| *site != s.code)
                && placed.wanted(a.id, &s.code)
                && p.key(a, &s.code).before_ties() == last.before_ties()
        });
        out.push(Cutoff { site: s.code.clone(), tier: last.tier(), group: last.territory, points: last.points(), tie });
    }
    out
}

/// JSON has no tuple keys: caps travel as a list of (site, model, max).
mod caps_as_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(caps: &BTreeMap<(String, String), u32>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(caps.iter().map(|((site, model), max)| (site, model, max)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<(String, String), u32>, D::Error> {
        let list: Vec<(String, String, u32)> = Vec::deserialize(d)?;
        Ok(list.into_iter().map(|(site, model, max)| ((site, model), max)).collect())
    }
}

#[cfg(test)]
pub(crate) mod tests;
