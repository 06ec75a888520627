//! R-DOC-1: the enrolment documents of an admitted pupil, two passport
//! photos and the vaccination booklet, due by the round's date. What is
//! still missing is listed to the school; nothing else follows (no pupil
//! loses a place over it). Pure: the days received and "today" come in.

use chrono::NaiveDate;
use serde::Serialize;

/// A document of the checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Item {
    /// «2 fototessera».
    Photos,
    /// «il libretto delle vaccinazioni»: only its arrival is recorded.
    VaccinationBooklet,
}

/// An admitted pupil's checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checklist {
    pub missing: Vec<Item>,
    /// Something is missing and the due date has passed.
    pub overdue: bool,
}

pub fn checklist(
    photos: Option<NaiveDate>,
    booklet: Option<NaiveDate>,
    due_on: Option<NaiveDate>,
    today: NaiveDate,
) -> Checklist {
    let missing: Vec<Item> = [(Item::Photos, photos), (Item::VaccinationBooklet, booklet)]
        .into_iter()
        .filter(|(_, on)| on.is_none())
        .map(|(item, _)| item)
        .collect();
    let overdue = !missing.is_empty() && due_on.is_some_and(|due| today > due);
    Checklist { missing, overdue }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn what_is_missing_and_whether_it_is_late() {
        let due = Some(d("2027-05-31"));
        let c = checklist(None, None, due, d("2027-05-31"));
        assert_eq!((c.missing, c.overdue), (vec![Item::Photos, Item::VaccinationBooklet], false));
        let c = checklist(Some(d("2027-04-02")), None, due, d("2027-06-01"));
        assert_eq!((c.missing, c.overdue), (vec![Item::VaccinationBooklet], true));
        let c = checklist(Some(d("2027-04-02")), Some(d("2027-06-03")), due, d("2027-06-05"));
        assert_eq!((c.missing, c.overdue), (vec![], false), "complete, even if late");
        assert!(!checklist(None, None, None, d("2030-01-01")).overdue, "no due date, never overdue");
    }
}
