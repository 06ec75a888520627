//! The engine's examples (the spec's cases) and its properties over random
//! rounds: capacity, no justified envy, tiers in order, late applications
//! only on the waiting list, feasible activation, byte-identical outcomes.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::*;
use crate::rules::dice::Dice;

pub(crate) fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 1, day, 10, 0, 0).unwrap()
}

pub(crate) fn config(sites: &[(&str, u32)], models: &[&str]) -> RoundConfig {
    RoundConfig {
        sites: sites.iter().map(|(c, p)| SiteConfig { code: (*c).into(), places: *p, models: vec![] }).collect(),
        window_opens_at: at(4),
        window_closes_at: Utc.with_ymd_and_hms(2021, 1, 25, 23, 59, 59).unwrap(),
        resident_municipalities: vec!["016008".into()],
        time_models: models.iter().map(|m| (*m).into()).collect(),
        default_time_model: models.first().map(|m| (*m).into()).unwrap_or_default(),
        min_pupils_per_time_model: 15,
        caps: BTreeMap::new(),
        redistribute_beyond_preferences: true,
        draw_seed: Some("seduta pubblica 2021-01-28".into()),
    }
}

pub(crate) fn applicant(id: AppId, sites: &[&str], catchment: Option<&str>, resident: bool) -> Applicant {
    Applicant {
        id,
        external_ref: format!("PORTALE-{id:05}"),
        submitted_at: at(10),
        birth_date: NaiveDate::from_ymd_opt(2015, 6, 1).unwrap(),
        municipality: if resident { "016008".into() } else { "016024".into() },
        catchment_site: catchment.map(Into::into),
        site_preferences: sites.iter().map(|s| (*s).into()).collect(),
        time_model_preferences: vec![],
        disability_verified: false,
        points: Points(0),
        status: Status::Active,
        assessment: Assessment::Pending,
    }
}

fn ranking_ids(o: &Outcome, site: &str) -> Vec<AppId> {
    o.rankings.iter().find(|r| r.site == site).unwrap().rows.iter().map(|r| r.id).collect()
}

#[test]
fn tiers_come_before_points_and_ties_go_to_the_older_then_the_draw() {
    let c = config(&[("X", 10)], &["27H"]);
    let mut apps = vec![
        applicant(1, &["X"], None, false),     // T4, 9 points
        applicant(2, &["X"], Some("Y"), true), // T3
        applicant(3, &["X"], Some("X"), true), // T2, 1 point
        applicant(4, &["X"], Some("X"), true), // T2, 5 points
        applicant(5, &["X"], None, false),     // T1: disabled non-resident
        applicant(6, &["X"], Some("X"), true), // T2, 5 points, older than 4
        applicant(7, &["X"], Some("X"), true), // T2, 1 point, same birth as 3: the draw
    ];
    apps[0].points = Points(900);
    apps[2].points = Points(100);
    apps[3].points = Points(500);
    apps[4].disability_verified = true;
    apps[5].points = Points(500);
    apps[5].birth_date = NaiveDate::from_ymd_opt(2015, 2, 1).unwrap();
    apps[6].points = Points(100);
    let o = compute(&c, &apps);
    let draw_first = if draw_key(c.draw_seed.as_deref().unwrap(), "PORTALE-00003")
        < draw_key(c.draw_seed.as_deref().unwrap(), "PORTALE-00007")
    {
        [3, 7]
    } else {
        [7, 3]
    };
    assert_eq!(ranking_ids(&o, "X"), vec![5, 6, 4, draw_first[0], draw_first[1], 2, 1]);
    let rows = &o.rankings[0].rows;
    assert_eq!(rows[0].tier, Tier::T1Disability);
    assert!(rows[1].tie && rows[2].tie, "6 and 4 were ordered by birth date");
    assert!(rows[3].tie && rows[4].tie);
    assert!(!rows[0].tie && !rows[5].tie && !rows[6].tie);
}

#[test]
fn overflow_is_redistributed_and_each_site_ranks_by_its_own_catchment() {
    // X has 2 places and 4 first-choice applicants; Y has 2 places and one.
    let c = config(&[("X", 2), ("Y", 2)], &["27H"]);
    let mut apps = vec![
        applicant(1, &["X"], Some("X"), true),
        applicant(2, &["X"], Some("X"), true),
        applicant(3, &["X", "Y"], Some("X"), true), // resident of X's catchment: group B at Y
        applicant(4, &["X"], Some("Y"), true),      // Y's catchment: group A at Y, not listed
        applicant(5, &["Y"], Some("Y"), true),
    ];
    apps[2].points = Points(900);
    apps[0].points = Points(1000);
    apps[1].points = Points(950);
    let o = compute(&c, &apps);
    assert_eq!(o.admitted[&1].site, "X");
    assert_eq!(o.admitted[&2].site, "X");
    assert_eq!(o.admitted[&5].site, "Y");
    // One place left at Y: 4 is in Y's catchment, so it beats 3 there,
    // although 3 listed Y and has more points.
    assert_eq!(o.admitted[&4], Admission { site: "Y".into(), via: Via::Redistribution, ..o.admitted[&4].clone() });
    assert!(!o.admitted.contains_key(&3));
    assert_eq!(o.waiting.iter().map(|w| (w.id, w.group)).collect::<Vec<_>>(), vec![(3, WaitingGroup::W3)]);
    assert_eq!(o.residual, vec![("X".into(), 0), ("Y".into(), 0)]);
    // Without redistribution beyond preferences, 4 listed only X and waits; 3 gets Y.
    let strict = RoundConfig { redistribute_beyond_preferences: false, ..c };
    let o = compute(&strict, &apps);
    assert_eq!(o.admitted[&3].site, "Y");
    assert!(!o.admitted.contains_key(&4));
}

#[test]
fn the_waiting_list_puts_disabled_first_and_late_by_date() {
    let c = config(&[("X", 1)], &["27H"]);
    let late = |id, day: u32| Applicant {
        submitted_at: Utc.with_ymd_and_hms(2021, 2, day, 9, 0, 0).unwrap(),
        ..applicant(id, &["X"], Some("X"), true)
    };
    let mut apps = vec![
        applicant(1, &["X"], Some("X"), true),
        applicant(2, &["X"], Some("X"), true),
        applicant(3, &["X"], None, false),
        late(4, 3),
        late(5, 2),
        late(6, 1),
        late(7, 1),
        applicant(8, &["X"], Some("X"), true),
    ];
    apps[0].disability_verified = true; // admitted
    apps[1].disability_verified = true; // W1
    apps[4].disability_verified = true; // late resident disabled, pending: W2
    apps[6].disability_verified = true;
    apps[6].municipality = "016024".into(); // late non-resident disabled: W4
    apps[7].points = Points(100); // W3 ahead of 3 (tier)
    let o = compute(&c, &apps);
    assert_eq!(o.admitted.keys().copied().collect::<Vec<_>>(), vec![1]);
    let list: Vec<(AppId, WaitingGroup)> = o.waiting.iter().map(|w| (w.id, w.group)).collect();
    assert_eq!(
        list,
        vec![
            (2, WaitingGroup::W1),
            (5, WaitingGroup::W2),
            (8, WaitingGroup::W3),
            (3, WaitingGroup::W3),
            (
                if draw_key("seduta pubblica 2021-01-28", "PORTALE-00006")
                    < draw_key("seduta pubblica 2021-01-28", "PORTALE-00007")
                {
                    6
                } else {
                    7
                },
                WaitingGroup::W4
            ),
            (
                if draw_key("seduta pubblica 2021-01-28", "PORTALE-00006")
                    < draw_key("seduta pubblica 2021-01-28", "PORTALE-00007")
                {
                    7
                } else {
                    6
                },
                WaitingGroup::W4
            ),
            (4, WaitingGroup::W4),
        ]
    );
    // A NOT_CONFIRMED assessment moves the late disabled pupil to W4.
    apps[4].assessment = Assessment::NotConfirmed;
    let o = compute(&c, &apps);
    assert_eq!(o.waiting.iter().find(|w| w.id == 5).unwrap().group, WaitingGroup::W4);
    // Withdrawn applications take part in nothing.
    apps[1].status = Status::Withdrawn;
    assert!(compute(&c, &apps).waiting.iter().all(|w| w.id != 2));
}

fn with_models(mut a: Applicant, prefs: &[&str]) -> Applicant {
    a.time_model_preferences = prefs.iter().map(|m| (*m).into()).collect();
    a
}

#[test]
fn second_preferences_are_considered_before_a_model_is_given_up() {
    // The spec's case (§5.6): 14 ask [40H, 30H], 11 ask [30H, 27H], 3 ask
    // [27H]. 40H cannot run; its 14 take 30H, which runs with 25.
    let c = config(&[("X", 28)], &["27H", "30H", "40H"]);
    let mut apps = Vec::new();
    for i in 0..28 {
        let prefs: &[&str] = match i {
            0..14 => &["40H", "30H"],
            14..25 => &["30H", "27H"],
            _ => &["27H"],
        };
        apps.push(with_models(applicant(i, &["X"], Some("X"), true), prefs));
    }
    let o = compute(&c, &apps);
    let model = |m: &str| o.time_models.iter().find(|t| t.model == m).unwrap().clone();
    assert_eq!((model("40H").activated, model("40H").pupils), (false, 0));
    assert_eq!((model("30H").activated, model("30H").pupils), (true, 25));
    assert_eq!((model("27H").activated, model("27H").pupils), (true, 3));
    assert_eq!(o.admitted[&0].time_model, "30H");
    assert_eq!(o.admitted[&0].time_model_preference_rank, Some(2));
}

#[test]
fn fifteen_pupils_open_a_model_and_fourteen_do_not() {
    let c = config(&[("X", 40)], &["27H", "40H"]);
    for (n, runs) in [(14, false), (15, true)] {
        let apps: Vec<Applicant> =
            (0..n).map(|i| with_models(applicant(i, &["X"], Some("X"), true), &["40H"])).collect();
        let o = compute(&c, &apps);
        let forty = o.time_models.iter().find(|t| t.model == "40H").unwrap();
        assert_eq!(forty.activated, runs, "{n} pupils");
        let d_ufficio = o.admitted.values().filter(|a| a.time_model_preference_rank.is_none()).count();
        assert_eq!(d_ufficio, if runs { 0 } else { n as usize }, "the default is given d'ufficio");
    }
}

#[test]
fn a_cap_moves_the_last_in_class_stay_order_to_their_next_preference() {
    let mut c = config(&[("X", 40)], &["27H", "30H", "40H"]);
    c.caps.insert(("X".into(), "40H".into()), 16);
    c.min_pupils_per_time_model = 2;
    let mut apps: Vec<Applicant> =
        (0..18).map(|i| with_models(applicant(i, &["X"], Some("X"), true), &["40H", "30H"])).collect();
    apps[17].disability_verified = true; // stays first in class-stay order
    for (i, a) in apps.iter_mut().enumerate().take(17) {
        a.points = Points(1000 - i as i64);
    }
    let o = compute(&c, &apps);
    assert_eq!(o.admitted[&17].time_model, "40H");
    let moved: Vec<AppId> = o.admitted.iter().filter(|(_, a)| a.time_model == "30H").map(|(id, _)| *id).collect();
    assert_eq!(moved, vec![15, 16], "the two last by the site's key go to 30H");
    // The list the school forms sections with: the disabled pupil, then by points.
    let order = time_models::class_stay_order(&c, &apps, &o.admitted, "X");
    assert_eq!(order, [17].into_iter().chain(0..17).collect::<Vec<_>>());
}

#[test]
fn class_stay_order_puts_the_disabled_then_the_catchment_then_residents() {
    let c = config(&[("X", 10)], &["27H"]);
    let mut apps = vec![
        applicant(1, &["X"], None, false),     // not resident
        applicant(2, &["X"], Some("Y"), true), // resident, another catchment
        applicant(3, &["X"], Some("X"), true), // catchment
        applicant(4, &["X"], None, false),     // disabled, not resident
    ];
    apps[0].points = Points(9000);
    apps[3].disability_verified = true;
    let o = compute(&c, &apps);
    assert_eq!(time_models::class_stay_order(&c, &apps, &o.admitted, "X"), [4, 3, 2, 1]);
    assert!(time_models::class_stay_order(&c, &apps, &o.admitted, "Y").is_empty());
}

#[test]
fn the_same_round_in_any_order_gives_the_same_bytes() {
    let c = config(&[("X", 5), ("Y", 3), ("Z", 4)], &["27H", "30H", "40H"]);
    let apps = random_round(&mut Dice(7), &c, 40);
    let mut reversed = apps.clone();
    reversed.reverse();
    let a = compute(&c, &apps);
    assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&compute(&c, &reversed)).unwrap());
    assert_eq!(a.hash(), compute(&c, &apps).hash());
    assert_eq!(seed_commitment("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/// A random round's applications over the config's sites and models.
pub(crate) fn random_round(d: &mut Dice, c: &RoundConfig, n: usize) -> Vec<Applicant> {
    let sites: Vec<&str> = c.sites.iter().map(|s| s.code.as_str()).collect();
    (0..n as i64)
        .map(|id| {
            let mut prefs: Vec<&str> = sites.clone();
            for i in (1..prefs.len()).rev() {
                prefs.swap(i, d.next(i + 1));
            }
            prefs.truncate(1 + d.next(prefs.len()));
            let mut models: Vec<String> = c.time_models.clone();
            for i in (1..models.len()).rev() {
                models.swap(i, d.next(i + 1));
            }
            models.truncate(1 + d.next(models.len()));
            let resident = d.next(4) > 0;
            let catchment = resident.then(|| sites[d.next(sites.len())]);
            let late = d.next(8) == 0;
            Applicant {
                id,
                external_ref: format!("R{id}"),
                submitted_at: if late { c.window_closes_at + Duration::hours(1 + d.next(500) as i64) } else { at(5) },
                birth_date: NaiveDate::from_ymd_opt(2015, 1 + d.next(12) as u32, 1 + d.next(28) as u32).unwrap(),
                municipality: if resident { "016008".into() } else { "016024".into() },
                catchment_site: catchment.map(Into::into),
                site_preferences: prefs.into_iter().map(Into::into).collect(),
                time_model_preferences: models,
                disability_verified: d.next(12) == 0,
                points: Points(50 * d.next(6) as i64),
                status: if d.next(20) == 0 { Status::Withdrawn } else { Status::Active },
                assessment: [Assessment::Pending, Assessment::Confirmed, Assessment::NotConfirmed][d.next(3)],
            }
        })
        .collect()
}

fn random_config(d: &mut Dice) -> RoundConfig {
    let names = ["S1", "S2", "S3", "S4", "S5"];
    let sites: Vec<(&str, u32)> = names.iter().take(1 + d.next(5)).map(|s| (*s, d.next(30) as u32)).collect();
    let models = ["27H", "30H", "40H", "24H"];
    let mut c = config(&sites, &models[..1 + d.next(4)]);
    c.min_pupils_per_time_model = 1 + d.next(12) as u32;
    c.redistribute_beyond_preferences = d.next(2) == 0;
    for s in &sites {
        for m in c.time_models.iter().skip(1) {
            if d.next(3) == 0 {
                c.caps.insert((s.0.into(), m.clone()), d.next(20) as u32);
            }
        }
    }
    c
}

#[test]
fn properties_hold_on_random_rounds() {
    for seed in 0..400 {
        let mut d = Dice(seed);
        let c = random_config(&mut d);
        let n = d.next(120);
        let apps = random_round(&mut d, &c, n);
        let o = compute(&c, &apps);
        let p = Prepared::new(&c, &apps);
        let ctx = format!("seed {seed}");
        let by_id: BTreeMap<AppId, &Applicant> = apps.iter().map(|a| (a.id, a)).collect();

        // Capacity never exceeded; residual places are what is left.
        for s in &c.sites {
            let n = o.admitted.values().filter(|a| a.site == s.code).count() as u32;
            assert!(n <= s.places, "{ctx}: {} over capacity", s.code);
            assert!(o.residual.contains(&(s.code.clone(), s.places - n)), "{ctx}");
        }
        // Late and inactive applications are never placed by the ranking.
        for id in o.admitted.keys() {
            let a = by_id[id];
            assert!(!p.is_late(a) && a.status == Status::Active, "{ctx}: {id} placed");
        }
        // Every active application is either admitted or waiting, once.
        let active = apps.iter().filter(|a| a.status == Status::Active).count();
        assert_eq!(o.admitted.len() + o.waiting.len(), active, "{ctx}");
        // Tiers never go down a ranking.
        for r in &o.rankings {
            assert!(r.rows.windows(2).all(|w| w[0].tier <= w[1].tier), "{ctx}: tiers out of order at {}", r.site);
        }
        // No justified envy: a site an applicant prefers to its outcome is
        // full, and holds nobody with a worse key there, except first-choice
        // pupils of phase A when it was not the envier's own first choice.
        for b in p.on_time() {
            let list = acceptable_sites(&c, b);
            let got = o.admitted.get(&b.id).map(|a| a.site.as_str());
            let better: &[&str] = match got.and_then(|g| list.iter().position(|s| *s == g)) {
                Some(i) => &list[..i],
                None => &list,
            };
            let first = b.site_preferences.first().map(String::as_str);
            for &t in better {
                let left = o.residual.iter().find(|(s, _)| s == t).unwrap().1;
                assert_eq!(left, 0, "{ctx}: {} wanted {t}, which has room", b.id);
                for (a, adm) in o.admitted.iter().filter(|(_, adm)| adm.site == t) {
                    let protected = adm.via == Via::Ranking && first != Some(t);
                    if !protected {
                        assert!(
                            p.key(by_id[a], t) < p.key(b, t),
                            "{ctx}: {} holds {t} with a worse key than {}",
                            a,
                            b.id
                        );
                    }
                }
            }
        }
        // Activation is feasible: every non-default model that runs has the
        // minimum, and no cap is exceeded.
        for t in &o.time_models {
            if t.activated && t.model != c.default_time_model {
                assert!(
                    t.pupils >= c.min_pupils_per_time_model,
                    "{ctx}: {} {} runs with {}",
                    t.site,
                    t.model,
                    t.pupils
                );
            }
            if let Some(cap) = c.caps.get(&(t.site.clone(), t.model.clone())) {
                assert!(t.pupils <= *cap, "{ctx}: {} {} over its cap", t.site, t.model);
            }
        }
        // The same inputs in another order give the same bytes.
        let mut shuffled = apps.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, d.next(i + 1));
        }
        assert_eq!(o.hash(), compute(&c, &shuffled).hash(), "{ctx}: order changed the outcome");
    }
}
