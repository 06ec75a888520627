//! The public version of a ranking (spec §7.2): what the albo may show
//! during posting, and nothing more. Pseudonymous codes, the territorial
//! group, total points, the outcome; never a name, an address or health
//! data. Rows with disability precedence are left out and positions are
//! renumbered over the rows shown, so that no gap reveals them; places are
//! shown net of legal precedences, with no count per reason.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AppId, Outcome, Points, Tier, WaitingGroup};

/// What the public version needs of an application besides the outcome.
#[derive(Debug, Clone)]
pub struct Shown {
    pub public_code: String,
    pub late: bool,
    pub first_site: String,
    /// The territorial group at the first site (A, B or C).
    pub group: String,
    pub submitted_order: (chrono::DateTime<chrono::Utc>, String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicRow {
    pub position: u32,
    pub public_code: String,
    pub group: String,
    /// None for late applications.
    pub points: Option<Points>,
    /// AMMESSO, AMMESSO_ALTRO_PLESSO, LISTA_ATTESA or FUORI_TERMINE.
    pub outcome: String,
    /// The site admitted to (for AMMESSO_ALTRO_PLESSO, the other site).
    pub site: Option<String>,
    /// FINAL stage only.
    pub time_model: Option<String>,
    pub waiting_position: Option<u32>,
    pub tie: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicSite {
    pub site: String,
    /// "posti al netto delle precedenze previste dalla legge".
    pub places_net: u32,
    pub rows: Vec<PublicRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicVersion {
    pub final_stage: bool,
    pub sites: Vec<PublicSite>,
}

/// The public version of an outcome. `places` per site in round order.
pub fn public_version(
    final_stage: bool,
    outcome: &Outcome,
    places: &[(String, u32)],
    shown: &BTreeMap<AppId, Shown>,
) -> PublicVersion {
    // Waiting positions renumbered over the rows shown: W1 and W2 are pupils
    // with disability precedence, left out.
    let mut waiting_shown: BTreeMap<AppId, u32> = BTreeMap::new();
    for w in outcome.waiting.iter().filter(|w| !matches!(w.group, WaitingGroup::W1 | WaitingGroup::W2)) {
        let n = waiting_shown.len() as u32 + 1;
        waiting_shown.insert(w.id, n);
    }
    let precedence: Vec<AppId> = outcome
        .rankings
        .iter()
        .flat_map(|r| r.rows.iter())
        .filter(|r| r.tier == Tier::T1Disability)
        .map(|r| r.id)
        .chain(outcome.waiting.iter().filter(|w| matches!(w.group, WaitingGroup::W1 | WaitingGroup::W2)).map(|w| w.id))
        .collect();
    let mut sites = Vec::new();
    for (site, total) in places {
        let taken_by_precedence =
            outcome.admitted.iter().filter(|(id, a)| &a.site == site && precedence.contains(id)).count() as u32;
        let mut rows = Vec::new();
        if let Some(ranking) = outcome.rankings.iter().find(|r| &r.site == site) {
            for r in ranking.rows.iter().filter(|r| r.tier != Tier::T1Disability) {
                let Some(s) = shown.get(&r.id) else { continue };
                let (kind, at, model) = match outcome.admitted.get(&r.id) {
                    Some(a) if &a.site == site => ("AMMESSO", Some(a.site.clone()), Some(a.time_model.clone())),
                    Some(a) => ("AMMESSO_ALTRO_PLESSO", Some(a.site.clone()), Some(a.time_model.clone())),
                    None => ("LISTA_ATTESA", None, None),
                };
                rows.push(PublicRow {
                    position: rows.len() as u32 + 1,
                    public_code: s.public_code.clone(),
                    group: r.territory.group().to_owned(),
                    points: Some(r.points),
                    outcome: kind.to_owned(),
                    site: at,
                    time_model: if final_stage { model } else { None },
                    waiting_position: waiting_shown.get(&r.id).copied(),
                    tie: r.tie,
                });
            }
        }
        let mut late: Vec<(&(chrono::DateTime<chrono::Utc>, String), AppId)> = shown
            .iter()
            .filter(|(id, s)| s.late && &s.first_site == site && !precedence.contains(id))
            .map(|(id, s)| (&s.submitted_order, *id))
            .collect();
        late.sort();
        for (_, id) in late {
            rows.push(PublicRow {
                position: rows.len() as u32 + 1,
                public_code: shown[&id].public_code.clone(),
                group: shown[&id].group.clone(),
                points: None,
                outcome: "FUORI_TERMINE".into(),
                site: None,
                time_model: None,
                waiting_position: waiting_shown.get(&id).copied(),
                tie: false,
            });
        }
        sites.push(PublicSite { site: site.clone(), places_net: total.saturating_sub(taken_by_precedence), rows });
    }
    PublicVersion { final_stage, sites }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{applicant, config};
    use super::super::{Prepared, compute};
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn precedence_rows_are_left_out_and_positions_close_up() {
        let c = config(&[("X", 2)], &["27H"]);
        let mut apps = vec![
            applicant(1, &["X"], Some("X"), true),
            applicant(2, &["X"], Some("X"), true),
            applicant(3, &["X"], None, false),
            applicant(4, &["X"], Some("X"), true),
        ];
        apps[0].disability_verified = true;
        apps[1].points = Points(300);
        apps[3].submitted_at = Utc.with_ymd_and_hms(2021, 2, 1, 9, 0, 0).unwrap();
        let o = compute(&c, &apps);
        let p = Prepared::new(&c, &apps);
        let shown: BTreeMap<AppId, Shown> = apps
            .iter()
            .map(|a| {
                let shown = Shown {
                    public_code: format!("CODE{:04}", a.id),
                    late: p.is_late(a),
                    first_site: "X".into(),
                    group: p.territory(a, "X").group().into(),
                    submitted_order: (a.submitted_at, p.draw(a).to_owned()),
                };
                (a.id, shown)
            })
            .collect();
        let v = public_version(false, &o, &[("X".into(), 2)], &shown);
        let rows = &v.sites[0].rows;
        let codes: Vec<&str> = rows.iter().map(|r| r.public_code.as_str()).collect();
        assert_eq!(codes, ["CODE0002", "CODE0003", "CODE0004"], "the disabled pupil (1) is left out");
        assert_eq!(rows.iter().map(|r| r.position).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(v.sites[0].places_net, 1, "net of the place taken by precedence");
        assert_eq!((rows[0].outcome.as_str(), rows[1].outcome.as_str()), ("AMMESSO", "LISTA_ATTESA"));
        assert_eq!(rows[1].waiting_position, Some(1));
        assert_eq!((rows[2].outcome.as_str(), rows[2].points), ("FUORI_TERMINE", None));
        assert_eq!(rows[2].group, "A");
        assert!(rows.iter().all(|r| r.time_model.is_none()), "time models only in the final version");
    }
}
