//! Who may ask for a provisional assignment (spec §3.1–3.2: ELIG-1..5 and
//! the art. 7 reasons REA-*): tenured staff whose legal start is by
//! 1 September of the year before, with at least one valid reason. The
//! probation year is not required for the own role (ELIG-2), so it is not
//! an input here.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Finding;
use super::scores::Evidence;

/// What the registry says of the teacher, as far as eligibility goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenure {
    pub tenured: bool,
    /// The legal start of the tenured contract (*decorrenza giuridica*).
    pub legal_start: NaiveDate,
}

/// An art. 7 reason (§3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReasonKind {
    Spouse,
    Cohabitant,
    CohabitingRelative,
    Child,
    Parent,
    OwnSeriousHealth,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub kind: ReasonKind,
    /// Cohabitation shown by the civil registry (REA-COHAB).
    pub registry_cohabitation: bool,
    /// The health certificate (REA-HEALTH), and the day it arrived.
    pub health_evidence: Evidence,
    pub certificate_received_on: Option<NaiveDate>,
}

fn refused(rule: &'static str, why: impl Into<String>) -> Finding {
    Finding::refused(rule, "BAD_USER_INPUT", why)
}

/// Whether a teacher may submit an AP for campaign year `y` whose own
/// deadline is `deadline`: the first rule that refuses, if any.
pub fn check_ap(tenure: &Tenure, reasons: &[Reason], y: i32, deadline: NaiveDate) -> Result<(), Finding> {
    let start = NaiveDate::from_ymd_opt(y, 9, 1).expect("1 September");
    let year_before = NaiveDate::from_ymd_opt(y - 1, 9, 1).expect("1 September");
    if !tenure.tenured {
        return Err(refused("ELIG-4", "only tenured staff ask for a provisional assignment"));
    }
    if tenure.legal_start >= start {
        return Err(refused("ELIG-4", format!("a legal start on {start} or later is not yet a tenured post")));
    }
    if tenure.legal_start > year_before {
        return Err(refused("ELIG-3", format!("the legal start must be {year_before} or earlier")));
    }
    if reasons.is_empty() {
        return Err(refused("ELIG-5", "declare at least one reason of art. 7 (family or own serious health)"));
    }
    for r in reasons {
        match r.kind {
            ReasonKind::Cohabitant | ReasonKind::CohabitingRelative if !r.registry_cohabitation => {
                return Err(refused("REA-COHAB", "cohabitation counts only when the civil registry shows it"));
            }
            ReasonKind::OwnSeriousHealth => match (r.health_evidence, r.certificate_received_on) {
                (Evidence::Certificate, Some(on)) if on <= deadline => {}
                (Evidence::Certificate, _) => {
                    return Err(refused("REA-HEALTH", format!("the health certificate must arrive by {deadline}")));
                }
                _ => {
                    return Err(refused(
                        "REA-HEALTH",
                        "serious health needs a certificate; it cannot be self-declared (DOC-2)",
                    ));
                }
            },
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn reason(kind: ReasonKind) -> Reason {
        Reason { kind, registry_cohabitation: false, health_evidence: Evidence::None, certificate_received_on: None }
    }

    const DEADLINE: &str = "2016-08-12";

    fn check(legal_start: &str, reasons: &[Reason]) -> Result<(), &'static str> {
        let t = Tenure { tenured: true, legal_start: d(legal_start) };
        check_ap(&t, reasons, 2016, d(DEADLINE)).map_err(|f| f.rule)
    }

    #[test]
    fn tenure_by_the_year_before_with_a_reason() {
        let spouse = [reason(ReasonKind::Spouse)];
        // Hired with a legal start backdated to 1/9/2015: eligible (ELIG-3).
        assert_eq!(check("2015-09-01", &spouse), Ok(()));
        assert_eq!(check("2015-09-02", &spouse), Err("ELIG-3"));
        assert_eq!(check("2016-09-01", &spouse), Err("ELIG-4"));
        let temp = Tenure { tenured: false, legal_start: d("2010-09-01") };
        assert_eq!(check_ap(&temp, &spouse, 2016, d(DEADLINE)).unwrap_err().rule, "ELIG-4");
        assert_eq!(check("2015-09-01", &[]), Err("ELIG-5"));
    }

    #[test]
    fn cohabitation_from_the_registry_and_health_from_a_certificate() {
        let mut cohab = reason(ReasonKind::CohabitingRelative);
        assert_eq!(check("2010-09-01", std::slice::from_ref(&cohab)), Err("REA-COHAB"));
        cohab.registry_cohabitation = true;
        assert_eq!(check("2010-09-01", &[cohab]), Ok(()));
        let mut health = reason(ReasonKind::OwnSeriousHealth);
        health.health_evidence = Evidence::SelfDeclaration;
        assert_eq!(check("2010-09-01", std::slice::from_ref(&health)), Err("REA-HEALTH"));
        health.health_evidence = Evidence::Certificate;
        health.certificate_received_on = Some(d("2016-08-13"));
        assert_eq!(check("2010-09-01", std::slice::from_ref(&health)), Err("REA-HEALTH"));
        health.certificate_received_on = Some(d(DEADLINE));
        assert_eq!(check("2010-09-01", &[health]), Ok(()));
        // A parent is a reason at any age (age matters only for points).
        assert_eq!(check("2010-09-01", &[reason(ReasonKind::Parent)]), Ok(()));
    }
}
