//! Collection windows: when a school may write its data for a process and
//! school year. The office opens a window for everyone, and may reopen it
//! for named schools (e.g. new certifications until 31 August).

use chrono::NaiveDate;

/// One window row: for every school of the province (`school` is `None`) or
/// for one school.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub school: Option<String>,
    pub opens_on: NaiveDate,
    pub closes_on: NaiveDate,
    /// Closed by the office before its last day.
    pub closed: bool,
}

impl Window {
    fn admits(&self, school: &str, today: NaiveDate) -> bool {
        !self.closed
            && self.school.as_deref().is_none_or(|s| s == school)
            && (self.opens_on..=self.closes_on).contains(&today)
    }
}

/// Whether `school` may write today: some window of its province for the
/// process and year, general or its own, is open.
pub fn is_open(windows: &[Window], school: &str, today: NaiveDate) -> bool {
    windows.iter().any(|w| w.admits(school, today))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn general() -> Window {
        Window { school: None, opens_on: d(6, 22), closes_on: d(7, 13), closed: false }
    }

    #[test]
    fn the_seed_calendar() {
        let w = [general()];
        assert!(!is_open(&w, "BGIC82100T", d(6, 21)));
        assert!(is_open(&w, "BGIC82100T", d(6, 22)));
        assert!(is_open(&w, "BGIC82100T", d(7, 13)));
        assert!(!is_open(&w, "BGIC82100T", d(7, 14)));
        assert!(!is_open(&[], "BGIC82100T", d(7, 1)));
    }

    #[test]
    fn reopening_for_named_schools_and_closing_early() {
        let reopened =
            Window { school: Some("BGIC82100T".into()), opens_on: d(7, 20), closes_on: d(8, 31), closed: false };
        let w = [general(), reopened.clone()];
        assert!(is_open(&w, "BGIC82100T", d(8, 31)));
        assert!(!is_open(&w, "BGIC81900T", d(8, 31)));
        let closed = [Window { closed: true, ..general() }, Window { closed: true, ..reopened }];
        assert!(!is_open(&closed, "BGIC82100T", d(7, 1)));
        assert!(!is_open(&closed, "BGIC82100T", d(8, 1)));
    }
}
