//! Support hours (ore di sostegno), by the rule of seed 000: a one-to-one
//! request for a pupil certified art. 3 c. 3 L.104/92 (severe) is 25 h/week
//! in infanzia, 22 in primaria and 18 in secondaria of either grade; every
//! other request is free hours up to the same maxima.

use std::fmt;
use std::str::FromStr;

use super::order::SchoolOrder;

/// The certification under law 104/92, art. 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Comma 1: disability.
    C1,
    /// Comma 3: severe disability (gravità).
    C3,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::C1 => "c1",
            Severity::C3 => "c3",
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Severity, String> {
        match s {
            "c1" => Ok(Severity::C1),
            "c3" => Ok(Severity::C3),
            _ => Err(format!("unknown severity {s:?}")),
        }
    }
}

/// How many pupils share one support teacher: `1:1`, `1:2`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ratio(u8);

impl Ratio {
    pub const MAX_PUPILS: u8 = 4;
    pub const ONE_TO_ONE: Ratio = Ratio(1);

    pub fn pupils(n: i32) -> Option<Ratio> {
        u8::try_from(n).ok().filter(|n| (1..=Self::MAX_PUPILS).contains(n)).map(Ratio)
    }

    pub fn pupils_per_teacher(self) -> i32 {
        i32::from(self.0)
    }

    /// `1:2` for a stored pupils-per-teacher count.
    pub fn label(stored: i32) -> String {
        Ratio::pupils(stored).map_or_else(|| stored.to_string(), |r| r.to_string())
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1:{}", self.0)
    }
}

impl FromStr for Ratio {
    type Err = String;
    fn from_str(s: &str) -> Result<Ratio, String> {
        let bad = || format!("must be a ratio from \"1:1\" to \"1:{}\"", Ratio::MAX_PUPILS);
        let (one, n) = s.trim().split_once(':').ok_or_else(bad)?;
        if one.trim() != "1" {
            return Err(bad());
        }
        n.trim().parse::<i32>().ok().and_then(Ratio::pupils).ok_or_else(bad)
    }
}

/// Most weekly support hours for one pupil in an order; none for adult
/// education, which the registry does not cover.
pub fn max_hours(order: SchoolOrder) -> Option<i32> {
    match order {
        SchoolOrder::Infanzia => Some(25),
        SchoolOrder::Primaria => Some(22),
        SchoolOrder::SecondariaPrimoGrado | SchoolOrder::SecondariaSecondoGrado => Some(18),
        SchoolOrder::Adult => None,
    }
}

/// Italian name of an order, for messages to schools.
pub fn order_label(order: SchoolOrder) -> &'static str {
    match order {
        SchoolOrder::Infanzia => "scuola dell'infanzia",
        SchoolOrder::Primaria => "scuola primaria",
        SchoolOrder::SecondariaPrimoGrado => "secondaria di I grado",
        SchoolOrder::SecondariaSecondoGrado => "secondaria di II grado",
        SchoolOrder::Adult => "istruzione degli adulti",
    }
}

/// The Italian name of a stored order (`primaria`), for files people read.
pub fn stored_order_label(stored: &str) -> String {
    stored.parse::<SchoolOrder>().map(order_label).unwrap_or(stored).to_owned()
}

/// A refused request: the field at fault and why, the maximum included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursError {
    pub field: &'static str,
    pub reason: String,
}

fn refuse(field: &'static str, reason: String) -> HoursError {
    HoursError { field, reason }
}

/// The weekly hours to record for a request. A one-to-one request for a
/// severe certification gets the order's maximum (`hours` may be left out,
/// and if given must be that maximum); every other request needs `hours`
/// from 1 to the maximum.
pub fn requested_hours(
    order: SchoolOrder,
    severity: Severity,
    ratio: Ratio,
    hours: Option<i32>,
) -> Result<i32, HoursError> {
    let label = order_label(order);
    let max =
        max_hours(order).ok_or_else(|| refuse("pupilId", format!("no support hours are requested for {label}")))?;
    if severity == Severity::C3 && ratio == Ratio::ONE_TO_ONE {
        return match hours {
            None => Ok(max),
            Some(h) if h == max => Ok(max),
            Some(h) => Err(refuse(
                "hours",
                format!(
                    "a one-to-one request for a severe certification (art. 3 c. 3) is {max} h/week in {label}, not {h}"
                ),
            )),
        };
    }
    let h = hours.ok_or_else(|| refuse("hours", format!("say how many hours, from 1 to {max} in {label}")))?;
    if h < 1 {
        return Err(refuse("hours", format!("must be at least 1 (at most {max} in {label})")));
    }
    if h > max {
        return Err(refuse("hours", format!("{h} h/week is above the maximum of {max} h/week in {label}")));
    }
    Ok(h)
}

/// Hours the office may approve: from 0 (none) to the order's maximum.
pub fn approved_hours(order: SchoolOrder, hours: i32) -> Result<i32, HoursError> {
    let label = order_label(order);
    let max =
        max_hours(order).ok_or_else(|| refuse("pupilId", format!("no support hours are approved for {label}")))?;
    if !(0..=max).contains(&hours) {
        return Err(refuse("hours", format!("must be from 0 to the maximum of {max} h/week in {label}, was {hours}")));
    }
    Ok(hours)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: [SchoolOrder; 4] = [
        SchoolOrder::Infanzia,
        SchoolOrder::Primaria,
        SchoolOrder::SecondariaPrimoGrado,
        SchoolOrder::SecondariaSecondoGrado,
    ];

    fn ratios() -> impl Iterator<Item = Ratio> {
        (1..=i32::from(Ratio::MAX_PUPILS)).filter_map(Ratio::pupils)
    }

    #[test]
    fn the_seed_rule() {
        let one = Ratio::ONE_TO_ONE;
        assert_eq!(requested_hours(SchoolOrder::Infanzia, Severity::C3, one, None), Ok(25));
        assert_eq!(requested_hours(SchoolOrder::Primaria, Severity::C3, one, None), Ok(22));
        assert_eq!(requested_hours(SchoolOrder::SecondariaPrimoGrado, Severity::C3, one, None), Ok(18));
        assert_eq!(requested_hours(SchoolOrder::SecondariaSecondoGrado, Severity::C3, one, None), Ok(18));
        let e = requested_hours(SchoolOrder::Primaria, Severity::C3, one, Some(20)).unwrap_err();
        assert!(e.reason.contains("22 h/week"), "{}", e.reason);
    }

    /// Every order, severity, ratio and hour count from -5 to 60: the answer
    /// is the maximum for severe one-to-one, the hours themselves within
    /// 1..=max otherwise, and every refusal names the maximum.
    #[test]
    fn exhaustively() {
        for order in ORDERS {
            let max = max_hours(order).unwrap();
            for severity in [Severity::C1, Severity::C3] {
                for ratio in ratios() {
                    let fixed = severity == Severity::C3 && ratio == Ratio::ONE_TO_ONE;
                    for h in (-5..=60).map(Some).chain([None]) {
                        let got = requested_hours(order, severity, ratio, h);
                        let want_ok = if fixed {
                            h.is_none() || h == Some(max)
                        } else {
                            h.is_some_and(|h| (1..=max).contains(&h))
                        };
                        match got {
                            Ok(v) => {
                                assert!(want_ok, "{order:?} {severity:?} {ratio} {h:?} accepted");
                                assert_eq!(v, if fixed { max } else { h.unwrap() });
                                assert!(v <= max);
                            }
                            Err(e) => {
                                assert!(!want_ok, "{order:?} {severity:?} {ratio} {h:?} refused: {}", e.reason);
                                assert_eq!(e.field, "hours");
                                assert!(e.reason.contains(&max.to_string()), "{}", e.reason);
                            }
                        }
                    }
                }
            }
            for h in -3..=40 {
                assert_eq!(approved_hours(order, h).is_ok(), (0..=max).contains(&h));
            }
        }
        assert!(requested_hours(SchoolOrder::Adult, Severity::C3, Ratio::ONE_TO_ONE, None).is_err());
    }

    #[test]
    fn ratios_parse_and_print() {
        for r in ratios() {
            assert_eq!(r.to_string().parse::<Ratio>(), Ok(r));
        }
        assert_eq!(" 1 : 2 ".parse::<Ratio>(), Ratio::pupils(2).ok_or(String::new()));
        for bad in ["1:0", "1:5", "2:1", "1", "1:x", ""] {
            assert!(bad.parse::<Ratio>().is_err(), "{bad}");
        }
    }
}
