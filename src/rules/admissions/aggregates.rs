//! What the provincial office reads of a round (spec §2, §7.3): counts per
//! site, territorial group and time model, and the late applications, from
//! a published snapshot. Disability precedence is health data: its pupils
//! are counted in their territorial group and never on their own, so no
//! count reveals how many disabled pupils a site has.

use serde::Serialize;

use super::{Inputs, ModelOutcome, Outcome, Prepared};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteCounts {
    pub site: String,
    pub places: u32,
    /// On-time applications with this site as first choice.
    pub applications: u32,
    /// Of them, by territorial group at the site: A, B, C.
    pub by_group: [u32; 3],
    pub admitted: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Aggregates {
    pub sites: Vec<SiteCounts>,
    pub time_models: Vec<ModelOutcome>,
    pub late: u32,
    pub waiting: u32,
}

pub fn aggregates(inputs: &Inputs, outcome: &Outcome) -> Aggregates {
    let p = Prepared::new(&inputs.config, &inputs.applicants);
    let sites = inputs
        .config
        .sites
        .iter()
        .map(|s| {
            let mut by_group = [0u32; 3];
            let mut applications = 0;
            for a in p.on_time().filter(|a| a.site_preferences.first() == Some(&s.code)) {
                applications += 1;
                by_group[p.territory(a, &s.code) as usize] += 1;
            }
            let admitted = outcome.admitted.values().filter(|a| a.site == s.code).count() as u32;
            SiteCounts { site: s.code.clone(), places: s.places, applications, by_group, admitted }
        })
        .collect();
    let late = p.apps.iter().filter(|a| p.is_late(a)).count() as u32;
    Aggregates { sites, time_models: outcome.time_models.clone(), late, waiting: outcome.waiting.len() as u32 }
}

#[cfg(test)]
mod tests {
    use super::super::{Points, compute, tests};
    use super::*;

    #[test]
    fn counts_add_up_and_disability_hides_in_its_group() {
        let config = tests::config(&[("A", 2), ("B", 1)], &["27H"]);
        let mut apps = vec![
            tests::applicant(1, &["A"], Some("A"), true),
            tests::applicant(2, &["A"], Some("B"), true),
            tests::applicant(3, &["A"], None, false),
            tests::applicant(4, &["B"], Some("B"), true),
        ];
        apps[2].disability_verified = true;
        apps[1].points = Points(100);
        let mut late = tests::applicant(5, &["A"], Some("A"), true);
        late.submitted_at = config.window_closes_at + chrono::Duration::days(1);
        apps.push(late);
        let inputs = Inputs { config: config.clone(), applicants: apps.clone() };
        let a = aggregates(&inputs, &compute(&config, &apps));
        assert_eq!(
            a.sites[0],
            SiteCounts { site: "A".into(), places: 2, applications: 3, by_group: [1, 1, 1], admitted: 2 }
        );
        assert_eq!(a.sites[1].admitted, 1);
        assert_eq!((a.late, a.waiting), (1, 2));
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains("T1") && !json.contains("isab"), "{json}");
    }
}
