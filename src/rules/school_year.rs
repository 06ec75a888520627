//! School years: `2026/27` runs from 1 September 2026 to 31 August 2027.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

/// A school year, by the calendar year it starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchoolYear(i32);

impl SchoolYear {
    /// Years the platform accepts: the registry has no business before 2000 or far ahead.
    const FIRST: i32 = 2000;
    const LAST: i32 = 2098;

    pub fn starting(year: i32) -> Option<SchoolYear> {
        (Self::FIRST..=Self::LAST).contains(&year).then_some(SchoolYear(year))
    }

    /// The school year a day falls in.
    pub fn of(day: NaiveDate) -> SchoolYear {
        SchoolYear(if day.month() >= 9 { day.year() } else { day.year() - 1 })
    }

    pub fn start_year(self) -> i32 {
        self.0
    }

    /// The stored form, as in the Ministry's files: `202627`.
    pub fn stored(self) -> i32 {
        self.0 * 100 + (self.0 + 1) % 100
    }

    pub fn from_stored(v: i32) -> Option<SchoolYear> {
        let y = SchoolYear::starting(v / 100)?;
        (y.stored() == v).then_some(y)
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.0, 9, 1).expect("1 September exists")
    }

    pub fn last_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.0 + 1, 8, 31).expect("31 August exists")
    }
}

impl fmt::Display for SchoolYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:02}", self.0, (self.0 + 1) % 100)
    }
}

impl FromStr for SchoolYear {
    type Err = String;
    fn from_str(s: &str) -> Result<SchoolYear, String> {
        let bad = || format!("must be a school year such as \"2026/27\" (2000/01 to 2098/99), was {s:?}");
        let (a, b) = s.trim().split_once('/').ok_or_else(bad)?;
        if a.len() != 4 || b.len() != 2 {
            return Err(bad());
        }
        let start: i32 = a.parse().map_err(|_| bad())?;
        let end: i32 = b.parse().map_err(|_| bad())?;
        if (start + 1) % 100 != end {
            return Err(format!("{s:?} is not a school year: the second year must follow the first"));
        }
        SchoolYear::starting(start).ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prints_and_stores() {
        let y: SchoolYear = "2026/27".parse().unwrap();
        assert_eq!(y.to_string(), "2026/27");
        assert_eq!(y.stored(), 202627);
        assert_eq!(SchoolYear::from_stored(202627), Some(y));
        assert_eq!("2099/00".parse::<SchoolYear>().ok(), None);
        assert_eq!(SchoolYear::from_stored(202628), None);
        let y99: SchoolYear = "2049/50".parse().unwrap();
        assert_eq!(y99.stored(), 204950);
        for bad in ["2026/28", "2026-27", "26/27", "2026/2027", "", "abcd/ef", "1999/00"] {
            assert!(bad.parse::<SchoolYear>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_year_runs_from_september_to_august() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(SchoolYear::of(d(2026, 8, 31)).to_string(), "2025/26");
        assert_eq!(SchoolYear::of(d(2026, 9, 1)).to_string(), "2026/27");
        let y = SchoolYear::of(d(2027, 3, 1));
        assert_eq!((y.first_day(), y.last_day()), (d(2026, 9, 1), d(2027, 8, 31)));
    }
}
