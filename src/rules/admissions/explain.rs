//! Why an application stands where it stands (issue 19, part 5): each step
//! of the engine that decided it, with its rule id: the window, the tier
//! and its evidence, each points line with the table version, the place in
//! the site's ranking and the tie-break used, the site outcome against the
//! cutoffs, the time-model decision and the waiting-list rule. Pure: it
//! reads the same inputs and outcome the engine produced.

use serde::Serialize;

use super::points::{ClaimStatus, PointsLine};
use super::{AppId, Applicant, Outcome, Prepared, RoundConfig, Territory, Tier, Via, WaitingGroup, acceptable_sites};

/// One reason, with the rule of the spec it applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub rule: &'static str,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub tier: Tier,
    pub steps: Vec<Step>,
}

fn step(rule: &'static str, text: impl Into<String>) -> Step {
    Step { rule, text: text.into() }
}

/// What explaining needs besides the engine's inputs and outcome.
pub struct Context<'a> {
    pub points_lines: &'a [PointsLine],
    pub table_version: i32,
}

pub fn explain(
    config: &RoundConfig,
    applicants: &[Applicant],
    outcome: &Outcome,
    id: AppId,
    cx: &Context,
) -> Option<Explanation> {
    let p = Prepared::new(config, applicants);
    let a = applicants.iter().find(|a| a.id == id)?;
    let requested = a.site_preferences.first()?.as_str();
    let key = p.key(a, requested);
    let mut steps = Vec::new();
    if a.status != super::Status::Active {
        steps
            .push(step("R-NO-2", "the application left the round for good (withdrawal, nulla osta or non-acceptance)"));
        return Some(Explanation { tier: key.tier(), steps });
    }
    let late = p.is_late(a);
    steps.push(match late {
        false => step("R-WIN-1", "submitted within the window: it takes part in the ranking"),
        true => step(
            "R-LATE-1",
            format!(
                "submitted on {}, after the window closed on {}: late applications wait on the list by date",
                a.submitted_at.format("%Y-%m-%d"),
                config.window_closes_at.format("%Y-%m-%d")
            ),
        ),
    });
    // The tier and its evidence.
    steps.push(match (key.tier(), key.territory) {
        (Tier::T1Disability, _) => {
            step("R-TIER-1", "T1: a certification under L. 104/92, dated by submission, was verified: precedence")
        }
        (_, Territory::Catchment) => {
            step("R-TIER-2", format!("T2: resident, the address is in the catchment of {requested} (group A)"))
        }
        (_, Territory::Municipality) => step(
            "R-TIER-2",
            format!(
                "T3: resident, the address is in the catchment of {} (group B at {requested})",
                a.catchment_site.as_deref().unwrap_or("no site")
            ),
        ),
        (_, Territory::Other) => step(
            "R-TIER-2",
            format!(
                "T4: not resident ({} is not among {}) (group C)",
                a.municipality,
                config.resident_municipalities.join(", ")
            ),
        ),
    });
    // Points, line by line.
    for l in cx.points_lines {
        let status = match l.status {
            ClaimStatus::Declared => "declared",
            ClaimStatus::Verified => "verified",
            ClaimStatus::Rejected => "rejected",
        };
        let counted = if l.counted { format!("+{:.2}", l.points.as_f64()) } else { "0".into() };
        steps.push(step(
            "R-PTS-2",
            format!(
                "{} × {} ({status}): {counted}, {} (points table version {})",
                l.criterion, l.quantity, l.why, cx.table_version
            ),
        ));
    }
    steps.push(step("R-PTS-2", format!("total {:.2} points", a.points.as_f64())));
    // The place in the requested site's ranking and the tie-break.
    if !late
        && let Some(r) = outcome.rankings.iter().find(|r| r.site == requested)
        && let Some(row) = r.rows.iter().find(|row| row.id == id)
    {
        steps.push(step("R-RANK-1", format!("position {} of {} at {requested}", row.position, r.rows.len())));
        if row.tie {
            let same: Vec<&Applicant> = p
                .on_time()
                .filter(|o| o.id != id && o.site_preferences.first().map(String::as_str) == Some(requested))
                .filter(|o| p.key(o, requested).before_ties() == key.before_ties())
                .collect();
            let by_age = same.iter().all(|o| o.birth_date != a.birth_date);
            steps.push(if by_age {
                step("R-TIE-1", "tied on tier, group and points with another application: the older pupil comes first")
            } else {
                step(
                    "R-TIE-1",
                    format!(
                        "tied on tier, group, points and birth date: the public draw decides, key SHA-256(seed:externalRef) = {}",
                        &p.draw(a)[..16]
                    ),
                )
            });
        }
    }
    // The site outcome.
    if let Some(adm) = outcome.admitted.get(&id) {
        steps.push(match adm.via {
            Via::Ranking => step("R-SITE-2", format!("admitted at {}, the first choice, within its places", adm.site)),
            Via::Redistribution => step(
                "R-SITE-3",
                format!(
                    "{requested} was full; redistributed to {} where its key is {} (phase B, each site ranks by its own catchment)",
                    adm.site,
                    describe(&p.key(a, &adm.site))
                ),
            ),
            Via::WaitingList => step("R-WL-1", format!("admitted at {} from the waiting list, after a place freed up", adm.site)),
        });
        steps.extend(time_model_steps(config, applicants, outcome, a, adm));
    } else if let Some(w) = outcome.waiting.iter().find(|w| w.id == id) {
        if !late {
            for site in acceptable_sites(config, a) {
                if let Some(c) = outcome.cutoffs.iter().find(|c| c.site == site) {
                    steps.push(step(
                        "R-SITE-3",
                        format!(
                            "{site}: the last admitted had {} {}, {:.2} points; this application has {}",
                            c.tier.code(),
                            c.group.group(),
                            c.points.as_f64(),
                            describe(&p.key(a, site))
                        ),
                    ));
                }
            }
        }
        let rule = match w.group {
            WaitingGroup::W1 => {
                "W1: on time with disability precedence, not admitted: first on the list, in ranking order"
            }
            WaitingGroup::W2 => {
                "W2: late, resident, with disability precedence and inclusion assessed or pending: by date, after W1"
            }
            WaitingGroup::W3 => "W3: on time, not admitted: in global ranking order, after W1 and W2",
            WaitingGroup::W4 => "W4: late: by date, after every on-time application",
        };
        steps.push(step("R-WL-2", format!("waiting, position {}. {rule}", w.position)));
    }
    Some(Explanation { tier: key.tier(), steps })
}

/// A key as a family reads it: tier, group, points.
fn describe(k: &super::Key) -> String {
    format!("{} {}, {:.2} points", k.tier().code(), k.territory.group(), k.points().as_f64())
}

/// R-TM-2..7: which of the family's models it got, and why not the ones before.
fn time_model_steps(
    config: &RoundConfig,
    applicants: &[Applicant],
    outcome: &Outcome,
    a: &Applicant,
    adm: &super::Admission,
) -> Vec<Step> {
    let site = adm.site.as_str();
    let mut out = Vec::new();
    if adm.via == Via::WaitingList {
        out.push(step(
            "R-TM-7",
            "after class formation models are neither activated nor closed by arrivals: the first preference among the models running here with room",
        ));
    }
    let formed = |m: &str| outcome.time_models.iter().find(|t| t.site == site && t.model == m);
    let stop = adm.time_model_preference_rank.map_or(a.time_model_preferences.len(), |r| r as usize - 1);
    for (i, m) in a.time_model_preferences.iter().take(stop).enumerate() {
        let text = match formed(m) {
            Some(t) if t.activated => match config.caps.get(&(site.to_owned(), m.clone())) {
                Some(cap) => format!("preference {}: {m} runs at {site} but is full ({cap} places)", i + 1),
                None => format!("preference {}: {m} runs at {site} but had no room", i + 1),
            },
            _ => {
                // Who could have joined its class: the pupils placed here at
                // formation who listed it.
                let by_id: std::collections::BTreeMap<AppId, &Applicant> =
                    applicants.iter().map(|x| (x.id, x)).collect();
                let could = outcome
                    .admitted
                    .iter()
                    .filter(|(_, x)| x.site == site && x.via != Via::WaitingList)
                    .filter(|(other, _)| by_id.get(other).is_some_and(|o| o.time_model_preferences.contains(m)))
                    .count() as u32;
                let min = config.min_pupils_per_time_model;
                match could < min {
                    true => format!("preference {}: {m} not activated at {site}: {could} < {min}", i + 1),
                    false => format!(
                        "preference {}: {m} not activated at {site}: {could} pupils listed it, but too few were left once earlier preferences were served (rank-maximal activation)",
                        i + 1
                    ),
                }
            }
        };
        out.push(step("R-TM-2", text));
    }
    out.push(match adm.time_model_preference_rank {
        Some(1) => step("R-TM-3", format!("first preference {} at {site}", adm.time_model)),
        Some(r) => step("R-TM-3", format!("preference {r}: {} at {site}", adm.time_model)),
        None => step(
            "R-TM-4",
            format!("none of its preferences could run: the default model {} «d'ufficio»", adm.time_model),
        ),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Points, compute, tests};
    use super::*;

    #[test]
    fn a_model_below_the_minimum_is_named_with_its_count_and_the_next_preference_given() {
        let config = RoundConfig { ..tests::config(&[("A", 30)], &["27H", "30H", "40H"]) };
        let mut apps = Vec::new();
        for id in 1..=20 {
            let models: &[&str] = if id <= 12 { &["40H", "30H"] } else { &["30H"] };
            apps.push(Applicant {
                time_model_preferences: models.iter().map(|m| (*m).into()).collect(),
                points: Points(id * 10),
                ..tests::applicant(id, &["A"], Some("A"), true)
            });
        }
        let outcome = compute(&config, &apps);
        let cx = Context { points_lines: &[], table_version: 3 };
        let e = explain(&config, &apps, &outcome, 1, &cx).unwrap();
        let texts: Vec<&str> = e.steps.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(e.tier, Tier::T2Catchment);
        assert!(texts.contains(&"preference 1: 40H not activated at A: 12 < 15"), "{texts:#?}");
        assert!(texts.contains(&"preference 2: 30H at A"), "{texts:#?}");
        assert!(texts.contains(&"admitted at A, the first choice, within its places"), "{texts:#?}");
        assert!(texts.contains(&"position 20 of 20 at A"), "fewest points: {texts:#?}");
        // The same inputs explain the same way.
        assert_eq!(explain(&config, &apps, &outcome, 1, &cx), Some(e));
    }

    #[test]
    fn a_waiting_application_is_told_each_cutoff_and_its_group() {
        let config = tests::config(&[("A", 1)], &["27H"]);
        let apps = vec![
            Applicant { points: Points(500), ..tests::applicant(1, &["A"], Some("A"), true) },
            Applicant { points: Points(900), ..tests::applicant(2, &["A"], None, false) },
        ];
        let outcome = compute(&config, &apps);
        let e = explain(&config, &apps, &outcome, 2, &Context { points_lines: &[], table_version: 1 }).unwrap();
        let texts: Vec<&str> = e.steps.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(e.tier, Tier::T4Other);
        assert!(
            texts.contains(&"A: the last admitted had T2 A, 5.00 points; this application has T4 C, 9.00 points"),
            "{texts:#?}"
        );
        assert!(texts.iter().any(|t| t.starts_with("waiting, position 1. W3")), "{texts:#?}");
    }
}
