//! The office's CSV files of process 4's reference data: classes of
//! competition, school districts, the surplus (esubero), the teacher
//! registry and the free posts (vacancies). Parsing is pure and checks the whole file first, naming every
//! bad line; each line then goes through the same use case as its GraphQL
//! mutation. The columns are documented in `docs/teacher-applications.md`.
//! Separator `;` (a `,` is accepted when the header uses it), lists inside a
//! field separated by `,`, enum values spelled as in GraphQL.

use chrono::NaiveDate;

use super::RowError;
use super::text::{date, each, each_with, yes_no};
use crate::rules::mobility::Order;
use crate::rules::mobility::allocation::ChairKind;
use crate::rules::mobility::application::{HoldingKind, PostType, Probation, Qualification};
use crate::usecases::mobility::{StaffCategory, TeacherEntry, VacancyEntry};

pub const CLASS_COLUMNS: [&str; 3] = ["code", "name", "order"];
pub const DISTRICT_COLUMNS: [&str; 4] = ["code", "province", "municipalities", "sites"];
pub const ESUBERO_COLUMNS: [&str; 3] = ["province", "classOfCompetition", "count"];
pub const DIOCESE_COLUMNS: [&str; 3] = ["code", "name", "province"];
pub const VACANCY_COLUMNS: [&str; 5] = ["school", "postType", "classOfCompetition", "chairKind", "count"];
pub const TEACHER_COLUMNS: [&str; 21] = [
    "taxCode",
    "firstName",
    "lastName",
    "email",
    "category",
    "tenured",
    "order",
    "classOfCompetition",
    "postType",
    "holding",
    "holdingCode",
    "legalStart",
    "economicStart",
    "probation",
    "qualifications",
    "supportTitles",
    "supportConstraintSatisfied",
    "hiringSource",
    "hiringPhase",
    "meritRankingRegion",
    "languageTitle",
];

/// A parsed line and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<T> {
    pub line: u64,
    pub row: T,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassLine {
    pub code: String,
    pub name: String,
    pub order: Order,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistrictLine {
    pub code: String,
    pub province: String,
    pub municipalities: Vec<String>,
    pub sites: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsuberoLine {
    pub province: String,
    pub class: String,
    pub count: i32,
}

/// A diocese and the province of its see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DioceseLine {
    pub code: String,
    pub name: String,
    pub province: String,
}

const ORDERS: [(&str, Order); 4] = [
    ("INFANZIA", Order::Infanzia),
    ("PRIMARIA", Order::Primaria),
    ("SECONDARIA_PRIMO_GRADO", Order::SecondariaPrimoGrado),
    ("SECONDARIA_SECONDO_GRADO", Order::SecondariaSecondoGrado),
];
const CATEGORIES: [(&str, StaffCategory); 4] = [
    ("TEACHER", StaffCategory::Teacher),
    ("EDUCATIVO", StaffCategory::Educativo),
    ("IRC", StaffCategory::Irc),
    ("ATA", StaffCategory::Ata),
];
const POST_TYPES: [(&str, PostType); 7] = [
    ("NN", PostType::Nn),
    ("EH", PostType::Eh),
    ("CH", PostType::Ch),
    ("DH", PostType::Dh),
    ("LINGUA", PostType::Lingua),
    ("SPECIALE", PostType::Speciale),
    ("IDD", PostType::Idd),
];
const HOLDINGS: [(&str, HoldingKind); 3] =
    [("SCHOOL", HoldingKind::School), ("AMBIT", HoldingKind::Ambit), ("PROVINCE", HoldingKind::Province)];
const PROBATIONS: [(&str, Probation); 4] = [
    ("PASSED", Probation::Passed),
    ("NOT_DONE", Probation::NotDone),
    ("NOT_FINISHED", Probation::NotFinished),
    ("UNFAVOURABLE", Probation::Unfavourable),
];

/// One of the values a column allows, spelled as in GraphQL (any case).
fn one_of<T: Copy>(v: &str, allowed: &[(&str, T)]) -> Result<T, String> {
    let up = v.trim().to_ascii_uppercase();
    allowed.iter().find(|(name, _)| *name == up).map(|(_, t)| *t).ok_or_else(|| {
        let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
        format!("one of {}", names.join(", "))
    })
}

/// `a, b, c` → codes in capitals.
fn codes(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_ascii_uppercase).collect()
}

fn optional(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

/// `PRIMARIA:2005-06-30, SECONDARIA_PRIMO_GRADO/A022:2010-07-01`.
fn qualifications(v: &str) -> Result<Vec<Qualification>, String> {
    codes(v)
        .iter()
        .map(|item| {
            let (what, day) = item.rsplit_once(':').ok_or_else(|| format!("{item}: ORDER[/CLASS]:DATE"))?;
            let (order, class) = match what.split_once('/') {
                Some((o, c)) => (o, Some(c.trim().to_owned())),
                None => (what, None),
            };
            Ok(Qualification {
                order: one_of(order, &ORDERS).map_err(|r| format!("{item}: {r}"))?,
                class,
                obtained_on: date(day.trim()).map_err(|r| format!("{item}: {r}"))?,
            })
        })
        .collect()
}

/// `EH:2010-06-30, CH:2012-01-01`: support titles and when they were obtained.
fn support_titles(v: &str) -> Result<Vec<(PostType, NaiveDate)>, String> {
    codes(v)
        .iter()
        .map(|item| {
            let (kind, day) = item.split_once(':').ok_or_else(|| format!("{item}: TYPE:DATE"))?;
            let kind = one_of(kind, &POST_TYPES[1..4]).map_err(|r| format!("{item}: {r}"))?;
            Ok((kind, date(day.trim()).map_err(|r| format!("{item}: {r}"))?))
        })
        .collect()
}

fn bad(line: u64, field: &str) -> impl Fn(String) -> RowError + '_ {
    move |reason| RowError { line, field: Some(field.into()), reason }
}

pub fn classes(text: &str) -> Result<Vec<Line<ClassLine>>, Vec<RowError>> {
    each(text, &CLASS_COLUMNS, |line, f| {
        let order = one_of(&f[2], &ORDERS).map_err(bad(line, "order"))?;
        Ok(Line { line, row: ClassLine { code: f[0].clone(), name: f[1].clone(), order } })
    })
}

pub fn districts(text: &str) -> Result<Vec<Line<DistrictLine>>, Vec<RowError>> {
    each(text, &DISTRICT_COLUMNS, |line, f| {
        let row = DistrictLine {
            code: f[0].clone(),
            province: f[1].trim().to_ascii_uppercase(),
            municipalities: codes(&f[2]),
            sites: codes(&f[3]),
        };
        Ok(Line { line, row })
    })
}

pub fn esubero(text: &str) -> Result<Vec<Line<EsuberoLine>>, Vec<RowError>> {
    each(text, &ESUBERO_COLUMNS, |line, f| {
        let count = f[2].parse().map_err(|_| bad(line, "count")("a whole number".into()))?;
        let row = EsuberoLine { province: f[0].trim().to_ascii_uppercase(), class: f[1].clone(), count };
        Ok(Line { line, row })
    })
}

const CHAIRS: [(&str, ChairKind); 3] = [
    ("INTERNAL", ChairKind::Internal),
    ("EXTERNAL_SAME_MUNICIPALITY", ChairKind::ExternalSameMunicipality),
    ("EXTERNAL_OTHER_MUNICIPALITIES", ChairKind::ExternalOtherMunicipalities),
];

/// A whole number in an optional column (empty is none).
fn optional_number<T: std::str::FromStr>(f: &[String], i: usize) -> Result<Option<T>, String> {
    f.get(i).and_then(|v| optional(v)).map(|v| v.parse().map_err(|_| "a whole number".to_owned())).transpose()
}

pub fn vacancies(text: &str) -> Result<Vec<Line<VacancyEntry>>, Vec<RowError>> {
    each_with(text, &VACANCY_COLUMNS, Some("hours"), |line, f| {
        let row = VacancyEntry {
            school: f[0].clone(),
            post_type: one_of(&f[1], &POST_TYPES).map_err(bad(line, "postType"))?,
            class: optional(&f[2]),
            chair: one_of(&f[3], &CHAIRS).map_err(bad(line, "chairKind"))?,
            count: f[4].parse().map_err(|_| bad(line, "count")("a whole number".into()))?,
            hours: optional_number(f, 5).map_err(bad(line, "hours"))?,
        };
        Ok(Line { line, row })
    })
}

pub fn dioceses(text: &str) -> Result<Vec<Line<DioceseLine>>, Vec<RowError>> {
    each(text, &DIOCESE_COLUMNS, |line, f| {
        let row = DioceseLine { code: f[0].clone(), name: f[1].clone(), province: f[2].trim().to_ascii_uppercase() };
        Ok(Line { line, row })
    })
}

pub fn teachers(text: &str) -> Result<Vec<Line<TeacherEntry>>, Vec<RowError>> {
    each_with(text, &TEACHER_COLUMNS, Some("serviceHours"), |line, f| {
        let day = |i: usize| optional(&f[i]).map(|d| date(&d)).transpose().map_err(bad(line, TEACHER_COLUMNS[i]));
        let row = TeacherEntry {
            tax_code: f[0].clone(),
            first_name: f[1].clone(),
            last_name: f[2].clone(),
            email: f[3].clone(),
            category: one_of(&f[4], &CATEGORIES).map_err(bad(line, "category"))?,
            tenured: yes_no(&f[5]).map_err(bad(line, "tenured"))?,
            order: one_of(&f[6], &ORDERS).map_err(bad(line, "order"))?,
            class: optional(&f[7]),
            post_type: one_of(&f[8], &POST_TYPES).map_err(bad(line, "postType"))?,
            holding: one_of(&f[9], &HOLDINGS).map_err(bad(line, "holding"))?,
            holding_code: f[10].clone(),
            legal_start: day(11)?,
            economic_start: day(12)?,
            probation: optional(&f[13]).map(|p| one_of(&p, &PROBATIONS)).transpose().map_err(bad(line, "probation"))?,
            qualifications: qualifications(&f[14]).map_err(bad(line, "qualifications"))?,
            support_titles: support_titles(&f[15]).map_err(bad(line, "supportTitles"))?,
            support_constraint_satisfied: yes_no(&f[16]).map_err(bad(line, "supportConstraintSatisfied"))?,
            hiring_source: optional(&f[17]),
            hiring_phase: optional(&f[18]),
            merit_region: optional(&f[19]),
            language_title: day(20)?,
            service_hours: optional_number(f, 21).map_err(bad(line, "serviceHours"))?,
        };
        Ok(Line { line, row })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_teacher_line_reads_every_column() {
        let text = format!(
            "{}\nRSSMRA80A01A794X;Mario;Rossi;m.rossi@example.org;teacher;sì;primaria;;EH;school;BGEE82101X;\
             2010-09-01;01/09/2010;PASSED;\"PRIMARIA:2005-06-30, SECONDARIA_PRIMO_GRADO/A022:2010-07-01\";\
             EH:2011-06-30;no;;;;2009-07-01\n",
            TEACHER_COLUMNS.join(";")
        );
        let t = &teachers(&text).unwrap()[0];
        assert_eq!(t.line, 2);
        assert_eq!(t.row.category, StaffCategory::Teacher);
        assert_eq!(t.row.order, Order::Primaria);
        assert_eq!((t.row.post_type, t.row.holding), (PostType::Eh, HoldingKind::School));
        assert_eq!(t.row.legal_start, t.row.economic_start);
        assert_eq!(t.row.qualifications[1].class.as_deref(), Some("A022"));
        assert_eq!(t.row.support_titles, [(PostType::Eh, NaiveDate::from_ymd_opt(2011, 6, 30).unwrap())]);
        assert_eq!(t.row.hiring_source, None);
        assert_eq!(t.row.language_title, NaiveDate::from_ymd_opt(2009, 7, 1));
        assert_eq!(t.row.service_hours, None, "a file without the column: full time");
        let with_hours = format!("{};serviceHours\n{}", TEACHER_COLUMNS.join(";"), text.lines().nth(1).unwrap());
        assert_eq!(teachers(&format!("{with_hours};11\n")).unwrap()[0].row.service_hours, Some(11));
        let bad = teachers(&format!("{with_hours};half\n")).unwrap_err();
        assert_eq!(bad[0].field.as_deref(), Some("serviceHours"));
    }

    #[test]
    fn a_vacancy_file_may_give_the_hours_of_part_posts() {
        let head = VACANCY_COLUMNS.join(";");
        let old = vacancies(&format!("{head}\nBGMM00100X;NN;A022;INTERNAL;2\n")).unwrap();
        assert_eq!((old[0].row.count, old[0].row.hours), (2, None));
        let new =
            vacancies(&format!("{head};hours\nBGMM00100X;NN;A022;INTERNAL;2;\nBGMM00100X;NN;A022;INTERNAL;1;8\n"))
                .unwrap();
        assert_eq!(new.iter().map(|l| l.row.hours).collect::<Vec<_>>(), [None, Some(8)]);
    }

    #[test]
    fn every_bad_line_is_named_with_its_column() {
        let errors = classes("code;name;order\nA022;Italiano;SECONDARIA_PRIMO_GRADO\nEEEE;Primaria;ELEMENTARE\nX;y\n")
            .unwrap_err();
        let got: Vec<(u64, Option<&str>)> = errors.iter().map(|e| (e.line, e.field.as_deref())).collect();
        assert_eq!(got, [(3, Some("order")), (4, None)]);
        assert!(errors[0].reason.contains("SECONDARIA_SECONDO_GRADO"), "the allowed values are named");
        let e = esubero("province;classOfCompetition;count\nBG;A022;tre\n").unwrap_err();
        assert_eq!((e[0].line, e[0].field.as_deref()), (2, Some("count")));
        let d = districts("code,province,municipalities,sites\nBG01,bg,\"016024, 016008\",\n").unwrap();
        assert_eq!(d[0].row.municipalities, ["016024", "016008"]);
        assert_eq!(d[0].row.province, "BG");
        assert!(teachers("taxCode\n").unwrap_err()[0].reason.starts_with("the header must be"));
    }
}
