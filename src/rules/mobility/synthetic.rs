//! A synthetic allocation campaign from a seed, for the engine's property
//! tests and its benchmark (issue 21): invented schools, free posts and
//! forms with 20 preferences over schools, municipalities, districts and
//! provinces, precedences and scores. Pure: the same seed and sizes give the
//! same campaign on every machine.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::Order;
use super::allocation::{ChairKind, Skip};
use super::application::{ChairOption, Kind, PostType, Precedence, PrefKind, Scope};
use super::phase::{self, CountedPrecedence, FormFacts, Phase, PlacedPreference, RunInput, Spot, VacancyFacts};
use crate::rules::dice::Dice;

/// How big a campaign to invent.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub forms: usize,
    pub preferences: usize,
    /// Seats in all, over about a fifth as many lines.
    pub posts: usize,
    pub schools: usize,
    pub provinces: usize,
    /// POST-8: part-posts beside the whole posts.
    pub pieces: usize,
}

impl Sizes {
    /// Issue 21's national campaign: 30,000 forms of 20 preferences, 50,000 posts.
    pub const NATIONAL: Sizes =
        Sizes { forms: 30_000, preferences: 20, posts: 50_000, schools: 8_000, provinces: 100, pieces: 0 };
}

const CLASSES: [&str; 6] = ["A022", "A028", "A001", "AB25", "A012", "A048"];
const POST_TYPES: [PostType; 3] = [PostType::Nn, PostType::Eh, PostType::Nn];
const PRECEDENCES: [Precedence; 6] = [
    Precedence::ABlind,
    Precedence::GAssistChild,
    Precedence::LChildUnder6,
    Precedence::FSevereHandicapSelf,
    Precedence::QLocalPublicOffice,
    Precedence::RUnionLeaveEnd,
];

/// The forms and lines of a campaign; `phase::input` turns them into a run.
pub struct Campaign {
    pub forms: Vec<FormFacts>,
    pub lines: Vec<VacancyFacts>,
}

fn school_spot(s: usize, sizes: &Sizes) -> (String, Spot) {
    let province = s % sizes.provinces;
    let municipality = s / sizes.provinces % 12;
    (
        format!("XX{s:08}"),
        Spot {
            province: format!("P{province:02}"),
            municipality: Some(format!("{province:03}{municipality:03}")),
            district: Some(format!("D{province:02}{}", municipality % 4)),
        },
    )
}

/// A campaign of these sizes from this seed.
pub fn campaign(seed: u64, sizes: Sizes) -> Campaign {
    let mut dice = Dice(seed);
    let schools: Vec<(String, Spot)> = (0..sizes.schools).map(|s| school_spot(s, &sizes)).collect();
    // Lines of 1 to 9 seats until the posts are spread.
    let mut lines = Vec::new();
    let mut left = sizes.posts;
    let mut seen = BTreeMap::new();
    while left > 0 {
        let (school, spot) = &schools[dice.next(schools.len())];
        let class = Some(CLASSES[dice.next(CLASSES.len())].to_owned());
        let post_type = POST_TYPES[dice.next(POST_TYPES.len())];
        let chair = ChairKind::ORDER[dice.next(4).min(2)];
        let count = (1 + dice.next(9)).min(left);
        let key = (school.clone(), class.clone(), post_type, chair);
        if seen.insert(key, ()).is_some() {
            continue;
        }
        left -= count;
        lines.push(VacancyFacts {
            school: school.clone(),
            spot: spot.clone(),
            post_type,
            class,
            chair,
            count: count as u32,
            taken_before: 0,
            hours: None,
        });
    }
    let forms = (0..sizes.forms)
        .map(|i| {
            // A teacher asks mostly near one home school.
            let home = dice.next(schools.len());
            let home_spot = &schools[home].1;
            let preferences = (0..sizes.preferences)
                .map(|k| {
                    let roll = dice.next(100);
                    let near = (home + sizes.provinces * dice.next(40)) % schools.len();
                    let (code, spot) = &schools[near];
                    let (kind, code) = match roll {
                        0..=69 => (PrefKind::School, code.clone()),
                        70..=89 => (PrefKind::Municipality, spot.municipality.clone().unwrap_or_default()),
                        90..=97 => (PrefKind::District, spot.district.clone().unwrap_or_default()),
                        _ => (PrefKind::Province, spot.province.clone()),
                    };
                    let spot = match kind {
                        PrefKind::School | PrefKind::Municipality => spot.clone(),
                        PrefKind::District => Spot { municipality: None, ..spot.clone() },
                        PrefKind::Province => {
                            Spot { province: spot.province.clone(), municipality: None, district: None }
                        }
                    };
                    PlacedPreference { position: k as u32 + 1, kind, code, spot }
                })
                .collect();
            let precedences = match dice.next(10) {
                0 => vec![CountedPrecedence {
                    code: PRECEDENCES[dice.next(PRECEDENCES.len())],
                    spot: Some(home_spot.clone()),
                }],
                _ => vec![],
            };
            let kind = if dice.next(5) == 0 { Kind::Ut } else { Kind::Ap };
            let class = CLASSES[dice.next(CLASSES.len())].to_owned();
            FormFacts {
                application: i as i64 + 1,
                teacher: format!("T{i}"),
                code: format!("P{i:06}"),
                birth_date: NaiveDate::from_ymd_opt(1960 + dice.next(30) as i32, 1 + dice.next(12) as u32, 1)
                    .expect("a valid date"),
                submitted_at: dice.next(1_000_000) as i64,
                kind,
                scope: Scope::Provincial,
                order: Order::SecondariaSecondoGrado,
                own_order: Order::SecondariaSecondoGrado,
                own_class: Some(class.clone()),
                class: Some(class),
                other_classes: if dice.next(3) == 0 {
                    vec![CLASSES[dice.next(CLASSES.len())].to_owned()]
                } else {
                    vec![]
                },
                post_types: if dice.next(4) == 0 { vec![PostType::Eh, PostType::Nn] } else { vec![PostType::Nn] },
                chairs: [
                    None,
                    Some(ChairOption::ExternalSameMunicipality),
                    Some(ChairOption::ExternalOtherMunicipalities),
                ][dice.next(3)],
                score: dice.next(120) as f64 / 2.0,
                preferences,
                precedences,
                section_e: None,
                skip: (kind == Kind::Ap && dice.next(2) == 0)
                    .then(|| Skip { municipality: home_spot.municipality.clone().unwrap_or_default(), district: None }),
                part_posts: None,
            }
        })
        .collect();
    let mut c = Campaign { forms, lines };
    c.add_part_posts(seed, &sizes, &schools);
    c
}

impl Campaign {
    /// POST-8: `sizes.pieces` part-posts of 2 to 12 hours at random schools,
    /// and a third of the AP forms asking for posts of part-posts (full time
    /// or, one in four, half time). A dice of its own, so the rest of the
    /// campaign is the same with or without them.
    fn add_part_posts(&mut self, seed: u64, sizes: &Sizes, schools: &[(String, Spot)]) {
        if sizes.pieces == 0 {
            return;
        }
        let mut dice = Dice(seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut seen = BTreeMap::new();
        let mut left = sizes.pieces;
        // A few schools, so that their part-posts add up.
        let few = (sizes.pieces / 4).clamp(1, schools.len());
        // Every school, class and hours drawn: stop short rather than loop.
        while left > 0 && seen.len() < few * 2 * 11 {
            let (school, spot) = &schools[dice.next(few)];
            let class = Some(CLASSES[dice.next(2)].to_owned());
            let hours = 2 + dice.next(11) as u32;
            let count = (1 + dice.next(3)).min(left);
            if seen.insert((school.clone(), class.clone(), hours), ()).is_some() {
                continue;
            }
            left -= count;
            self.lines.push(VacancyFacts {
                school: school.clone(),
                spot: spot.clone(),
                post_type: PostType::Nn,
                class,
                chair: ChairKind::Internal,
                count: count as u32,
                taken_before: 0,
                hours: Some(hours),
            });
        }
        for f in self.forms.iter_mut().filter(|f| f.kind == Kind::Ap) {
            if dice.next(3) == 0 {
                f.part_posts = Some(if dice.next(4) == 0 { 9 } else { 18 });
            }
        }
    }

    /// The first phase's input over the whole campaign.
    pub fn input(&self) -> RunInput {
        phase::input(2016, "ALL", Phase::UtApIntra, &self.forms, &self.lines, &BTreeMap::new(), |p| match p {
            PostType::Nn => "NN",
            _ => "EH",
        })
    }
}
