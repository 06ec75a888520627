//! The points of an application (R-PTS-2): the sum over its claims of the
//! points table's criteria, counting self-declarations unless rejected and
//! documented or health-related claims only once verified. Points are
//! hundredths, never floats.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Points in hundredths: 12.50 is `Points(1250)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Points(pub i64);

impl Points {
    /// From a decimal with at most two decimals; None for more, or out of range.
    pub fn from_decimal(value: f64) -> Option<Points> {
        let hundredths = (value * 100.0).round();
        if !value.is_finite() || (value * 100.0 - hundredths).abs() > 1e-6 || hundredths.abs() > 1e12 {
            return None;
        }
        Some(Points(hundredths as i64))
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl fmt::Display for Points {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", self.0.abs() / 100, self.0.abs() % 100)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CriterionKind {
    /// Points once when claimed.
    Flag,
    /// Points per unit, up to a number of units.
    Count,
}

/// What proves a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Evidence {
    /// Valid until a check disproves it (RG 5).
    SelfDeclaration,
    /// Counts only once the school has seen the document.
    Document,
}

/// A line of a points table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    pub code: String,
    pub label: String,
    pub kind: CriterionKind,
    /// FLAG: the points; COUNT: the points per unit.
    pub points: Points,
    /// COUNT only: the most units that count.
    pub max_units: u32,
    pub evidence: Evidence,
    /// Health facts are never self-declared (RG 5): they count only verified.
    pub health_related: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ClaimStatus {
    Declared,
    Verified,
    Rejected,
}

/// A family's claim of a criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    pub criterion: String,
    pub quantity: u32,
    pub status: ClaimStatus,
}

/// One line of an application's points, with why it counts or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PointsLine {
    pub criterion: String,
    pub quantity: u32,
    pub status: ClaimStatus,
    pub points: Points,
    pub counted: bool,
    pub why: &'static str,
}

/// Whether a claim in this status counts (R-PTS-2).
pub fn counts(criterion: &Criterion, status: ClaimStatus) -> (bool, &'static str) {
    match status {
        ClaimStatus::Rejected => (false, "rejected by the school's check"),
        ClaimStatus::Verified => (true, "verified by the school"),
        ClaimStatus::Declared if criterion.health_related => {
            (false, "health facts count only once verified on a medical certificate (RG 5)")
        }
        ClaimStatus::Declared if criterion.evidence == Evidence::Document => {
            (false, "counts only once the school has verified the document")
        }
        ClaimStatus::Declared => (true, "self-declaration, valid until a check disproves it (RG 5)"),
    }
}

/// The value of a claim if it counts.
pub fn value(criterion: &Criterion, quantity: u32) -> Points {
    match criterion.kind {
        CriterionKind::Flag => criterion.points,
        CriterionKind::Count => Points(criterion.points.0 * i64::from(quantity.min(criterion.max_units))),
    }
}

/// The points of a set of claims under a table, with a line per claim.
/// Claims of criteria the table does not have count nothing.
pub fn sum(table: &[Criterion], claims: &[Claim]) -> (Points, Vec<PointsLine>) {
    let mut total = 0;
    let mut lines = Vec::with_capacity(claims.len());
    for claim in claims {
        let Some(criterion) = table.iter().find(|c| c.code == claim.criterion) else {
            lines.push(PointsLine {
                criterion: claim.criterion.clone(),
                quantity: claim.quantity,
                status: claim.status,
                points: Points(0),
                counted: false,
                why: "not a criterion of the round's points table",
            });
            continue;
        };
        let (counted, why) = counts(criterion, claim.status);
        let points = value(criterion, claim.quantity);
        if counted {
            total += points.0;
        }
        lines.push(PointsLine {
            criterion: claim.criterion.clone(),
            quantity: claim.quantity,
            status: claim.status,
            points,
            counted,
            why,
        });
    }
    (Points(total), lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criterion(code: &str, kind: CriterionKind, points: i64, evidence: Evidence, health: bool) -> Criterion {
        Criterion {
            code: code.into(),
            label: code.into(),
            kind,
            points: Points(points),
            max_units: 3,
            evidence,
            health_related: health,
        }
    }

    #[test]
    fn points_are_hundredths_written_with_two_decimals() {
        assert_eq!(Points::from_decimal(12.5), Some(Points(1250)));
        assert_eq!(Points::from_decimal(0.07), Some(Points(7)));
        assert_eq!(Points::from_decimal(1.234), None);
        assert_eq!(Points::from_decimal(f64::NAN), None);
        assert_eq!(Points(1250).to_string(), "12.50");
        assert_eq!(Points(-5).to_string(), "-0.05");
    }

    #[test]
    fn what_counts_follows_the_evidence_and_the_check() {
        let table = [
            criterion("work", CriterionKind::Flag, 500, Evidence::SelfDeclaration, false),
            criterion("siblings", CriterionKind::Count, 150, Evidence::SelfDeclaration, false),
            criterion("invalid-parent", CriterionKind::Flag, 1000, Evidence::Document, true),
            criterion("social", CriterionKind::Flag, 300, Evidence::Document, false),
        ];
        let claim = |c: &str, q: u32, s: ClaimStatus| Claim { criterion: c.into(), quantity: q, status: s };
        let (total, lines) = sum(
            &table,
            &[
                claim("work", 1, ClaimStatus::Declared),
                claim("siblings", 5, ClaimStatus::Declared),
                claim("invalid-parent", 1, ClaimStatus::Declared),
                claim("social", 1, ClaimStatus::Verified),
                claim("unknown", 1, ClaimStatus::Verified),
            ],
        );
        // 5.00 + min(5, 3) × 1.50 + (health, declared: 0) + 3.00 + (unknown: 0)
        assert_eq!(total, Points(500 + 450 + 300));
        assert_eq!(lines.iter().filter(|l| l.counted).count(), 3);
        assert!(!lines[2].counted && lines[2].why.contains("medical certificate"));
        let (rejected, _) = sum(&table, &[claim("work", 1, ClaimStatus::Rejected)]);
        assert_eq!(rejected, Points(0));
        let (verified, _) = sum(&table, &[claim("invalid-parent", 1, ClaimStatus::Verified)]);
        assert_eq!(verified, Points(1000));
    }
}
