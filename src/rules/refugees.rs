//! Process 2 rules: which hub owns a refugee minor's request, which moves a
//! request may make and who makes them, and whether the minor's age and dates
//! fit what was asked. Pure functions, tested exhaustively.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

use super::classes::years_of_study;
use super::order::SchoolOrder;
use super::school_year::SchoolYear;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Entered by the municipality, waiting for its hub.
    Submitted,
    /// The hub reviews it and looks for a school.
    InCharge,
    /// Proposed to a school, which confirms or declines.
    Proposed,
    /// Declined by the proposed school: back with the hub.
    Declined,
    /// Enrolled in a school. Final.
    Enrolled,
    /// Withdrawn by the municipality. Final.
    Withdrawn,
}

impl Status {
    pub const ALL: [Status; 6] =
        [Status::Submitted, Status::InCharge, Status::Proposed, Status::Declined, Status::Enrolled, Status::Withdrawn];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::InCharge => "in_charge",
            Status::Proposed => "proposed",
            Status::Declined => "declined",
            Status::Enrolled => "enrolled",
            Status::Withdrawn => "withdrawn",
        }
    }

    /// Still waiting for a place.
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Enrolled | Status::Withdrawn)
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Status, String> {
        Status::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| format!("unknown status {s:?}"))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who acts on a request: the organisation kinds of seed 001.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Municipality,
    Hub,
    School,
    Office,
}

/// A move of the workflow, as recorded in the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    TakeInCharge,
    Propose,
    Confirm,
    Decline,
    Withdraw,
    Transfer,
}

impl Move {
    pub const ALL: [Move; 6] =
        [Move::TakeInCharge, Move::Propose, Move::Confirm, Move::Decline, Move::Withdraw, Move::Transfer];

    pub fn as_str(self) -> &'static str {
        match self {
            Move::TakeInCharge => "take_in_charge",
            Move::Propose => "propose",
            Move::Confirm => "confirm",
            Move::Decline => "decline",
            Move::Withdraw => "withdraw",
            Move::Transfer => "transfer",
        }
    }

    /// The only kind of organisation that makes this move.
    pub fn actor(self) -> Actor {
        match self {
            Move::TakeInCharge | Move::Propose | Move::Transfer => Actor::Hub,
            Move::Confirm | Move::Decline => Actor::School,
            Move::Withdraw => Actor::Municipality,
        }
    }

    /// Moves that need a written reason.
    pub fn needs_reason(self) -> bool {
        matches!(self, Move::Decline | Move::Withdraw | Move::Transfer)
    }
}

/// The status a move leads to from `from`, or why it cannot be made.
///
/// A hub proposes a school after taking the request in charge or after a
/// school declined; a transfer hands a request not yet proposed to another
/// hub, where it starts again as submitted; only a municipality withdraws,
/// and not once the minor is enrolled.
pub fn next(from: Status, m: Move) -> Result<Status, String> {
    use Status::*;
    let to = match (m, from) {
        (Move::TakeInCharge, Submitted) => InCharge,
        (Move::Propose, InCharge | Declined) => Proposed,
        (Move::Confirm, Proposed) => Enrolled,
        (Move::Decline, Proposed) => Declined,
        (Move::Withdraw, Submitted | InCharge | Proposed | Declined) => Withdrawn,
        (Move::Transfer, Submitted | InCharge | Declined) => Submitted,
        _ => return Err(format!("a request that is {} cannot be given the move {}", from.as_str(), m.as_str())),
    };
    Ok(to)
}

/// A Polo START: the city it serves and the zones (Municipi) of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polo {
    pub code: String,
    pub municipality: String,
    pub zones: Vec<i32>,
}

/// The hubs that may own a request from one municipality: the CTI of its
/// ambit, and the Poli START of the city if it has them.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub istat_code: String,
    pub cti: Option<String>,
    pub poli: Vec<Polo>,
}

/// Why no hub could be chosen; each names the input field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The city has Poli START and the first-cycle request names no zone.
    ZoneNeeded { zones: Vec<i32> },
    /// The zone is not one any Polo serves.
    UnknownZone { zones: Vec<i32> },
    /// The municipality has no CTI (the territory is not configured).
    NoHub,
}

/// The hub that owns a request: in a city with Poli START, a first-cycle
/// request (infanzia, primaria, secondaria I grado) goes to the Polo of its
/// zone; everything else, including secondaria II grado in that city, goes to
/// the CTI of the municipality's ambit.
pub fn route(place: &Place, order: SchoolOrder, zone: Option<i32>) -> Result<String, RouteError> {
    let poli: Vec<&Polo> = place.poli.iter().filter(|p| p.municipality == place.istat_code).collect();
    if order.is_first_cycle() && !poli.is_empty() {
        let mut zones: Vec<i32> = poli.iter().flat_map(|p| p.zones.iter().copied()).collect();
        zones.sort_unstable();
        let Some(z) = zone else { return Err(RouteError::ZoneNeeded { zones }) };
        return poli
            .iter()
            .find(|p| p.zones.contains(&z))
            .map(|p| p.code.clone())
            .ok_or(RouteError::UnknownZone { zones });
    }
    place.cti.clone().ok_or(RouteError::NoHub)
}

/// Age in whole years on a day.
pub fn age_on(birth: NaiveDate, day: NaiveDate) -> i32 {
    let mut age = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// The ages at 31 December of the school year's first calendar year (the
/// Italian enrolment reference) that an order takes, with room for the
/// anticipi of infanzia and primaria and for the class below or above the
/// age that the teachers' board may choose for a newly arrived minor
/// (DPR 394/1999, art. 45).
pub fn ages(order: SchoolOrder) -> std::ops::RangeInclusive<i32> {
    match order {
        SchoolOrder::Infanzia => 2..=6,
        SchoolOrder::Primaria => 5..=12,
        SchoolOrder::SecondariaPrimoGrado => 10..=15,
        SchoolOrder::SecondariaSecondoGrado | SchoolOrder::Adult => 13..=20,
    }
}

/// The year of study of an order that matches an age at 31 December.
fn year_for_age(order: SchoolOrder, age: i32) -> i32 {
    match order {
        SchoolOrder::Infanzia => age - 2,
        SchoolOrder::Primaria => age - 5,
        SchoolOrder::SecondariaPrimoGrado => age - 10,
        SchoolOrder::SecondariaSecondoGrado | SchoolOrder::Adult => age - 13,
    }
}

/// What a request says about the minor and the class asked for.
#[derive(Debug, Clone, Copy)]
pub struct Minor {
    pub birth_date: NaiveDate,
    pub arrived_on: NaiveDate,
    pub order: SchoolOrder,
    pub year_of_study: i32,
}

/// Checks dates and age against the order and year asked for. The error
/// names the input field and the reason, never the minor's data.
pub fn check_minor(m: &Minor, year: SchoolYear, today: NaiveDate) -> Result<(), (&'static str, String)> {
    if m.birth_date > today {
        return Err(("birthDate", "is in the future".into()));
    }
    if m.arrived_on < m.birth_date {
        return Err(("arrivedOn", "is before the birth date".into()));
    }
    if m.arrived_on > today {
        return Err(("arrivedOn", "is in the future".into()));
    }
    let Some(years) = years_of_study(m.order) else {
        return Err(("order", "must be infanzia, primaria, secondaria di I or II grado".into()));
    };
    if !years.contains(&m.year_of_study) {
        return Err(("yearOfStudy", format!("must be {} to {} in this order", years.start(), years.end())));
    }
    let reference = NaiveDate::from_ymd_opt(year.start_year(), 12, 31).expect("31 December exists");
    let age = age_on(m.birth_date, reference);
    let range = ages(m.order);
    if !range.contains(&age) {
        return Err((
            "order",
            format!(
                "does not fit the minor's age ({age} on 31 December {}): this order takes ages {} to {}",
                year.start_year(),
                range.start(),
                range.end()
            ),
        ));
    }
    let expected = year_for_age(m.order, age).clamp(*years.start(), *years.end());
    if m.order != SchoolOrder::Infanzia && (m.year_of_study - expected).abs() > 1 {
        return Err((
            "yearOfStudy",
            format!(
                "a minor of {age} goes to year {expected}, or the year below or above it if the teachers' board so decides"
            ),
        ));
    }
    Ok(())
}

/// Age bands of the office's monitoring.
pub fn age_band(age: i32) -> &'static str {
    match age {
        ..=5 => "0-5",
        6..=10 => "6-10",
        11..=13 => "11-13",
        14..=18 => "14-18",
        _ => "19+",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn every_status_and_move_has_exactly_the_documented_outcome() {
        use Status::*;
        let allowed = [
            (Submitted, Move::TakeInCharge, InCharge),
            (InCharge, Move::Propose, Proposed),
            (Declined, Move::Propose, Proposed),
            (Proposed, Move::Confirm, Enrolled),
            (Proposed, Move::Decline, Declined),
            (Submitted, Move::Withdraw, Withdrawn),
            (InCharge, Move::Withdraw, Withdrawn),
            (Proposed, Move::Withdraw, Withdrawn),
            (Declined, Move::Withdraw, Withdrawn),
            (Submitted, Move::Transfer, Submitted),
            (InCharge, Move::Transfer, Submitted),
            (Declined, Move::Transfer, Submitted),
        ];
        for from in Status::ALL {
            for m in Move::ALL {
                let want = allowed.iter().find(|(f, mv, _)| *f == from && *mv == m).map(|(_, _, to)| *to);
                match (next(from, m), want) {
                    (Ok(to), Some(w)) => assert_eq!(to, w, "{from} {m:?}"),
                    (Err(_), None) => {}
                    (got, want) => panic!("{from} {m:?}: got {got:?}, want {want:?}"),
                }
            }
        }
        // Final states accept nothing.
        for m in Move::ALL {
            assert!(next(Enrolled, m).is_err());
            assert!(next(Withdrawn, m).is_err());
        }
    }

    #[test]
    fn each_move_has_one_actor() {
        assert_eq!(Move::TakeInCharge.actor(), Actor::Hub);
        assert_eq!(Move::Propose.actor(), Actor::Hub);
        assert_eq!(Move::Transfer.actor(), Actor::Hub);
        assert_eq!(Move::Confirm.actor(), Actor::School);
        assert_eq!(Move::Decline.actor(), Actor::School);
        assert_eq!(Move::Withdraw.actor(), Actor::Municipality);
        assert!(Move::Decline.needs_reason() && Move::Withdraw.needs_reason() && !Move::Confirm.needs_reason());
    }

    fn milan() -> Place {
        Place {
            istat_code: "015146".into(),
            cti: Some("CTI-MI-1".into()),
            poli: vec![
                Polo { code: "START-MI-1".into(), municipality: "015146".into(), zones: vec![1, 2] },
                Polo { code: "START-MI-2".into(), municipality: "015146".into(), zones: vec![3, 4] },
            ],
        }
    }

    #[test]
    fn milan_first_cycle_goes_to_the_polo_of_its_zone_and_second_cycle_to_the_cti() {
        let m = milan();
        assert_eq!(route(&m, SchoolOrder::Primaria, Some(3)).unwrap(), "START-MI-2");
        assert_eq!(route(&m, SchoolOrder::Infanzia, Some(1)).unwrap(), "START-MI-1");
        assert_eq!(route(&m, SchoolOrder::SecondariaPrimoGrado, Some(2)).unwrap(), "START-MI-1");
        assert_eq!(route(&m, SchoolOrder::SecondariaSecondoGrado, Some(3)).unwrap(), "CTI-MI-1");
        assert_eq!(route(&m, SchoolOrder::SecondariaSecondoGrado, None).unwrap(), "CTI-MI-1");
        assert_eq!(route(&m, SchoolOrder::Primaria, None), Err(RouteError::ZoneNeeded { zones: vec![1, 2, 3, 4] }));
        assert_eq!(route(&m, SchoolOrder::Primaria, Some(9)), Err(RouteError::UnknownZone { zones: vec![1, 2, 3, 4] }));
    }

    #[test]
    fn elsewhere_every_order_goes_to_the_cti_and_the_zone_is_ignored() {
        let town = Place { istat_code: "015002".into(), cti: Some("CTI-MI-3".into()), poli: milan().poli };
        for order in [SchoolOrder::Infanzia, SchoolOrder::Primaria, SchoolOrder::SecondariaSecondoGrado] {
            assert_eq!(route(&town, order, None).unwrap(), "CTI-MI-3");
            assert_eq!(route(&town, order, Some(1)).unwrap(), "CTI-MI-3");
        }
        let nowhere = Place { istat_code: "099999".into(), ..Place::default() };
        assert_eq!(route(&nowhere, SchoolOrder::Primaria, None), Err(RouteError::NoHub));
    }

    fn minor(birth: &str, order: SchoolOrder, year: i32) -> Minor {
        Minor { birth_date: d(birth), arrived_on: d("2026-03-01"), order, year_of_study: year }
    }

    #[test]
    fn ages_fit_orders_with_one_year_of_latitude() {
        let y = SchoolYear::starting(2026).unwrap();
        let today = d("2026-10-01");
        // Born 2018: 8 on 31 Dec 2026, primaria year 3; years 2 to 4 accepted.
        for year in 2..=4 {
            assert!(check_minor(&minor("2018-05-10", SchoolOrder::Primaria, year), y, today).is_ok(), "{year}");
        }
        assert_eq!(check_minor(&minor("2018-05-10", SchoolOrder::Primaria, 5), y, today).unwrap_err().0, "yearOfStudy");
        assert_eq!(
            check_minor(&minor("2018-05-10", SchoolOrder::SecondariaSecondoGrado, 1), y, today).unwrap_err().0,
            "order"
        );
        // 16 on 31 Dec: secondaria II grado year 3.
        assert!(check_minor(&minor("2010-02-01", SchoolOrder::SecondariaSecondoGrado, 3), y, today).is_ok());
        assert_eq!(check_minor(&minor("2018-05-10", SchoolOrder::Primaria, 6), y, today).unwrap_err().0, "yearOfStudy");
        // Infanzia takes 2 to 6, any of its three years.
        assert!(check_minor(&minor("2023-06-01", SchoolOrder::Infanzia, 1), y, today).is_ok());
        assert!(check_minor(&minor("2025-06-01", SchoolOrder::Infanzia, 1), y, today).is_err());
    }

    #[test]
    fn dates_must_be_coherent() {
        let y = SchoolYear::starting(2026).unwrap();
        let today = d("2026-10-01");
        let mut m = minor("2018-05-10", SchoolOrder::Primaria, 3);
        m.arrived_on = d("2017-01-01");
        assert_eq!(check_minor(&m, y, today).unwrap_err().0, "arrivedOn");
        m.arrived_on = d("2026-12-01");
        assert_eq!(check_minor(&m, y, today).unwrap_err().0, "arrivedOn");
        m.birth_date = d("2027-01-01");
        assert_eq!(check_minor(&m, y, today).unwrap_err().0, "birthDate");
    }

    #[test]
    fn ages_on_birthdays_and_bands() {
        assert_eq!(age_on(d("2010-12-31"), d("2026-12-30")), 15);
        assert_eq!(age_on(d("2010-12-31"), d("2026-12-31")), 16);
        assert_eq!(age_band(5), "0-5");
        assert_eq!(age_band(6), "6-10");
        assert_eq!(age_band(13), "11-13");
        assert_eq!(age_band(18), "14-18");
        assert_eq!(age_band(19), "19+");
    }
}
