//! The family points of a provisional assignment (spec §7.1, Sezione F):
//! SC-A *ricongiungimento* (6), SC-B each child under 6 (4), SC-C each
//! child from 6 to 18 or unable to work (3), SC-D the municipality where a
//! relative can be assisted (6), SC-T their sum (Ambiguity 14). Computed
//! from structured declarations; each item says whether it counts and why.
//! Medical facts count only with a certificate (DOC-2).

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// How a fact is backed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Evidence {
    None,
    /// A personal declaration under DPR 445/2000.
    SelfDeclaration,
    /// A certificate of the competent body.
    Certificate,
}

/// Who the teacher rejoins (SC-A).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kin {
    Spouse,
    /// A partner in a registered cohabitation.
    Partner,
    Child,
    Parent,
    /// A parent assimilated under conditions a–c of the seed (L636–638).
    AssimilatedParent,
    FosteredChild,
    /// A relative or in-law who is not a partner: a valid reason, no points.
    CohabitingRelative,
}

/// The family member of a *ricongiungimento* (SC-A).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reunion {
    pub kin: Kin,
    pub birth_date: Option<NaiveDate>,
    /// A severe disability (L. 104/92 art. 3 c. 3), and how it is backed.
    pub severe_disability: Evidence,
    /// For a certificate to be reviewed (*rivedibile*): until when it holds.
    pub disability_valid_until: Option<NaiveDate>,
    /// The personal declaration of kinship or registered cohabitation (L632).
    pub kinship_declaration: bool,
    /// Since when the family member is registered at the address.
    pub registered_since: Option<NaiveDate>,
    /// Sent to a new work seat in the three months before the deadline,
    /// with the employer's declaration attached (L642).
    pub employer_declaration: bool,
}

/// A child or fostered child (SC-B, SC-C).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Child {
    pub birth_date: Option<NaiveDate>,
    /// Fostered: it counts only by a court order (L650).
    pub fostered: bool,
    pub court_order: bool,
    /// An adult child absolutely and permanently unable to work (SC-C),
    /// and how it is backed (an ASL certificate).
    pub unable_to_work: Evidence,
}

/// What makes assistance possible only in one municipality (SC-D, L688–690).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Care {
    /// (a) permanent residential care.
    Residential,
    /// (b) continuous care in an institute that forces residence there.
    Institute,
    /// (c) a drug-addicted child on a therapeutic programme.
    TherapeuticProgramme,
}

/// SC-D: the municipality where a relative can be assisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assistance {
    pub municipality: String,
    pub care: Care,
    /// The certificate of the institute, hospital, ASL or structure.
    pub certificate: Evidence,
    /// The declaration that assistance is possible only there (L696, L698).
    pub only_there_declaration: bool,
}

/// The declarations of Sezione F.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyDeclarations {
    pub reunion: Option<Reunion>,
    pub children: Vec<Child>,
    pub assistance: Option<Assistance>,
}

/// One item of the score: its rule, the points it gives, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScoreLine {
    pub rule: &'static str,
    pub points: u32,
    pub recognised: bool,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FamilyScore {
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub d: u32,
    pub lines: Vec<ScoreLine>,
}

impl FamilyScore {
    /// SC-T (Ambiguity 14): A + B + C + D.
    pub fn total(&self) -> u32 {
        self.a + self.b + self.c + self.d
    }
}

fn line(rule: &'static str, points: u32, reason: impl Into<String>) -> ScoreLine {
    ScoreLine { rule, points, recognised: points > 0, reason: reason.into() }
}

fn not(rule: &'static str, reason: impl Into<String>) -> ScoreLine {
    line(rule, 0, reason)
}

/// A severe disability counts with a certificate holding beyond the start
/// of the school year `start` (L634); a self-declaration never (DOC-2).
fn severe(r: &Reunion, start: NaiveDate) -> bool {
    r.severe_disability == Evidence::Certificate && r.disability_valid_until.is_none_or(|until| until > start)
}

/// SC-A. `y` is the campaign year, `deadline` the teacher's own deadline.
fn reunion(r: &Reunion, y: i32, deadline: NaiveDate) -> ScoreLine {
    let start = NaiveDate::from_ymd_opt(y, 9, 1).expect("1 September");
    let adult = |birth: NaiveDate| birth.checked_add_months(Months::new(18 * 12)).is_some_and(|b| b <= deadline);
    let kin_counts = match r.kin {
        Kin::Spouse | Kin::Partner | Kin::AssimilatedParent => Ok(()),
        Kin::Child | Kin::FosteredChild => match r.birth_date {
            None => Err("the child's birth date is not declared"),
            Some(b) if !adult(b) || severe(r, start) => Ok(()),
            Some(_) => Err("an adult child counts only with a certified severe disability (art. 3 c. 3)"),
        },
        // Over 65, or turning 65 in year Y (L635).
        Kin::Parent => match r.birth_date {
            Some(b) if b.year() <= y - 65 => Ok(()),
            Some(_) => Err("a parent counts from the year of their 65th birthday"),
            None => Err("the parent's birth date is not declared"),
        },
        Kin::CohabitingRelative => Err("a relative who is not a partner is a reason for the assignment, not points"),
    };
    if let Err(why) = kin_counts {
        return not("SC-A", why);
    }
    if !r.kinship_declaration {
        return not("SC-A", "the declaration of kinship or registered cohabitation is missing (L632)");
    }
    let three_months_before = deadline.checked_sub_months(Months::new(3)).expect("a date");
    match r.registered_since {
        Some(since) if since <= three_months_before => line("SC-A", 6, "ricongiungimento"),
        Some(_) if r.employer_declaration => line(
            "SC-A",
            6,
            "ricongiungimento: recent registration after a transfer for work, with the employer's declaration",
        ),
        Some(_) => not(
            "SC-A",
            format!(
                "the registration must date from {} or before (three months before the deadline)",
                three_months_before
            ),
        ),
        None => not("SC-A", "the family member's registration date is not declared"),
    }
}

/// SC-B and SC-C for one child.
fn child(c: &Child, y: i32) -> ScoreLine {
    if c.fostered && !c.court_order {
        return not("SC-B", "a fostering counts only by a court order (L650)");
    }
    let Some(birth) = c.birth_date else { return not("SC-B", "the child's birth date is not declared") };
    if birth.year() >= y - 6 {
        return line("SC-B", 4, "a child under 6, or turning 6 in the year");
    }
    if birth.year() >= y - 18 {
        return line("SC-C", 3, "a child from 6 to 18, or turning 18 in the year");
    }
    match c.unable_to_work {
        Evidence::Certificate => line("SC-C", 3, "an adult child unable to work, certified"),
        Evidence::SelfDeclaration => not("SC-C", "inability to work needs a certificate (DOC-2)"),
        Evidence::None => not("SC-C", "an adult child counts only when unable to work"),
    }
}

/// SC-D.
fn assistance(a: &Assistance) -> ScoreLine {
    if !a.only_there_declaration {
        return not(
            "SC-D",
            "without the declaration that assistance is possible only there, the documents are disregarded (L698)",
        );
    }
    if a.certificate != Evidence::Certificate {
        return not("SC-D", "the care needs the certificate of the institute, hospital, ASL or structure (DOC-2)");
    }
    line("SC-D", 6, format!("assistance possible only in {}", a.municipality))
}

/// The family score of campaign year `y` for a teacher whose own deadline is `deadline`.
pub fn family_score(f: &FamilyDeclarations, y: i32, deadline: NaiveDate) -> FamilyScore {
    let mut lines = Vec::new();
    lines.extend(f.reunion.as_ref().map(|r| reunion(r, y, deadline)));
    lines.extend(f.children.iter().map(|c| child(c, y)));
    lines.extend(f.assistance.as_ref().map(assistance));
    let sum = |rule: &str| lines.iter().filter(|l| l.rule == rule).map(|l| l.points).sum::<u32>();
    FamilyScore { a: sum("SC-A"), b: sum("SC-B"), c: sum("SC-C"), d: sum("SC-D"), lines }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const DEADLINE: &str = "2016-08-12";

    fn spouse() -> Reunion {
        Reunion {
            kin: Kin::Spouse,
            birth_date: None,
            severe_disability: Evidence::None,
            disability_valid_until: None,
            kinship_declaration: true,
            registered_since: Some(d("2015-01-10")),
            employer_declaration: false,
        }
    }

    fn kid(birth: &str) -> Child {
        Child { birth_date: Some(d(birth)), fostered: false, court_order: false, unable_to_work: Evidence::None }
    }

    #[test]
    fn a_spouse_two_small_children_and_a_schoolchild() {
        let f = FamilyDeclarations {
            reunion: Some(spouse()),
            children: vec![kid("2012-03-01"), kid("2010-12-31"), kid("2005-06-01")],
            assistance: None,
        };
        let s = family_score(&f, 2016, d(DEADLINE));
        // 2010 turns 6 in 2016: still SC-B (L651).
        assert_eq!((s.a, s.b, s.c, s.d, s.total()), (6, 8, 3, 0, 17));
    }

    #[test]
    fn ricongiungimento_needs_kin_declaration_and_three_months() {
        let y = 2016;
        let at = |r: Reunion| reunion(&r, y, d(DEADLINE));
        assert_eq!(at(Reunion { kinship_declaration: false, ..spouse() }).points, 0);
        // Three months before 12 August is 12 May.
        assert_eq!(at(Reunion { registered_since: Some(d("2016-05-12")), ..spouse() }).points, 6);
        let late = Reunion { registered_since: Some(d("2016-06-01")), ..spouse() };
        assert_eq!(at(late.clone()).points, 0);
        assert_eq!(at(Reunion { employer_declaration: true, ..late }).points, 6, "moved for work");
        // A parent counts from the year of their 65th birthday (L635).
        let parent = |born: &str| Reunion { kin: Kin::Parent, birth_date: Some(d(born)), ..spouse() };
        assert_eq!(at(parent("1951-12-31")).points, 6);
        assert_eq!(at(parent("1952-01-01")).points, 0);
        assert_eq!(at(Reunion { kin: Kin::CohabitingRelative, ..spouse() }).points, 0);
        // An adult child: only with a certified severe disability running beyond 1 September.
        let adult = Reunion { kin: Kin::Child, birth_date: Some(d("1990-01-01")), ..spouse() };
        assert_eq!(at(adult.clone()).points, 0);
        let declared = Reunion { severe_disability: Evidence::SelfDeclaration, ..adult.clone() };
        assert_eq!(at(declared).points, 0, "DOC-2");
        let certified = Reunion { severe_disability: Evidence::Certificate, ..adult };
        assert_eq!(at(certified.clone()).points, 6);
        let expiring = Reunion { disability_valid_until: Some(d("2016-09-01")), ..certified };
        assert_eq!(at(expiring).points, 0, "a rivedibile certificate must run beyond 1 September");
    }

    #[test]
    fn children_fostering_and_inability_to_work() {
        let y = 2016;
        assert_eq!(child(&Child { fostered: true, ..kid("2013-01-01") }, y).points, 0);
        assert_eq!(child(&Child { fostered: true, court_order: true, ..kid("2013-01-01") }, y).points, 4);
        assert_eq!(child(&kid("1998-12-31"), y).points, 3, "turning 18 in the year");
        assert_eq!(child(&kid("1997-12-31"), y).points, 0);
        let unable = |e| Child { unable_to_work: e, ..kid("1980-01-01") };
        assert_eq!(child(&unable(Evidence::Certificate), y).points, 3);
        assert_eq!(child(&unable(Evidence::SelfDeclaration), y).points, 0);
        assert_eq!(child(&Child { birth_date: None, ..kid("2013-01-01") }, y).rule, "SC-B");
    }

    #[test]
    fn assistance_needs_the_declaration_and_the_certificate() {
        let a = Assistance {
            municipality: "Bergamo".into(),
            care: Care::Institute,
            certificate: Evidence::Certificate,
            only_there_declaration: true,
        };
        assert_eq!(assistance(&a).points, 6);
        assert_eq!(assistance(&Assistance { only_there_declaration: false, ..a.clone() }).points, 0);
        assert_eq!(assistance(&Assistance { certificate: Evidence::SelfDeclaration, ..a }).points, 0);
    }
}

/// SC-U1..U3: the components of a utilisation score as the teacher declares
/// them (Ambiguity 18: the CCNI table is not in the seed, so the teacher
/// declares each part and the school of service validates the whole). The
/// base is the score of the school's internal ranking; the current year of
/// service and its continuity count (L186); new titles count if obtained
/// by the deadline (L186, L840).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtComponents {
    pub base: f64,
    #[serde(default)]
    pub current_year: f64,
    #[serde(default)]
    pub continuity: f64,
    #[serde(default)]
    pub titles: Vec<UtTitle>,
}

/// A title obtained since the internal ranking, with its points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtTitle {
    pub name: String,
    pub points: f64,
    pub obtained_on: NaiveDate,
}

/// The utilisation score the components give, and what did not count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtScore {
    pub base: f64,
    pub current_year: f64,
    pub continuity: f64,
    /// The points of the titles obtained by the deadline.
    pub titles: f64,
    pub total: f64,
    /// Titles obtained after the deadline (SC-U3): not counted.
    pub late: Vec<String>,
}

/// The most a utilisation score can be, as the school's record keeps it.
pub const UT_SCORE_MAX: f64 = 1000.0;

/// SC-U2 and SC-U3: the score of the components, by the deadline. A part
/// that is negative or not a number, or a total beyond the record's bound,
/// is refused with the reason.
pub fn ut_score(c: &UtComponents, deadline: NaiveDate) -> Result<UtScore, String> {
    let parts = [c.base, c.current_year, c.continuity].into_iter().chain(c.titles.iter().map(|t| t.points));
    if parts.clone().any(|p| !p.is_finite() || p < 0.0) {
        return Err("every part of the score is a number of points, not negative".into());
    }
    let (counted, late): (Vec<&UtTitle>, Vec<&UtTitle>) = c.titles.iter().partition(|t| t.obtained_on <= deadline);
    let titles: f64 = counted.iter().map(|t| t.points).sum();
    let total = c.base + c.current_year + c.continuity + titles;
    if total > UT_SCORE_MAX {
        return Err(format!("a score of at most {UT_SCORE_MAX} points"));
    }
    Ok(UtScore {
        base: c.base,
        current_year: c.current_year,
        continuity: c.continuity,
        titles,
        total,
        late: late.iter().map(|t| t.name.clone()).collect(),
    })
}

#[cfg(test)]
mod ut_score_tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2016, m, day).unwrap()
    }

    #[test]
    fn the_utilisation_score_counts_the_titles_obtained_by_the_deadline() {
        let title = |name: &str, day| UtTitle { name: name.into(), points: 3.0, obtained_on: d(8, day) };
        let c = UtComponents {
            base: 41.5,
            current_year: 6.0,
            continuity: 2.0,
            titles: vec![title("master", 12), title("perfezionamento", 13)],
        };
        let s = ut_score(&c, d(8, 12)).unwrap();
        assert_eq!((s.titles, s.total), (3.0, 52.5));
        assert_eq!(s.late, ["perfezionamento"]);
        assert_eq!(ut_score(&c, d(8, 13)).unwrap().total, 55.5, "both by a later deadline");
        let negative = UtComponents { continuity: -1.0, ..c.clone() };
        assert!(ut_score(&negative, d(8, 12)).is_err());
        let huge = UtComponents { base: 999.0, ..c };
        assert!(ut_score(&huge, d(8, 12)).is_err());
    }
}
