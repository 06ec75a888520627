//! Process 4 (seed 003): teachers' applications for provisional assignments
//! (AP) and utilisations (UT), as pure rules. Every rule of the spec
//! (`teacher-applications.md`) is a function of an application snapshot,
//! the campaign, the territory and the teacher registry; none reads a clock
//! or a database. Each answer names its rule id and says why, in one of the
//! seed's three consequences (spec §0.3).

pub mod application;
pub mod eligibility;
pub mod scores;
pub mod windows;

use serde::{Deserialize, Serialize};

/// What a rule does to an application (spec §0.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Consequence {
    /// The mutation fails and nothing is stored.
    Refused,
    /// The application stands; a precedence or score item is not granted.
    NotRecognised,
    /// A preference is stored but the office will not consider it.
    Ineffective,
}

/// One rule's finding on an application: its id (`WIN-1`, `PREF-1`, …),
/// its consequence, the API code of a refusal, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub consequence: Consequence,
    /// `CAMPAIGN_CLOSED`, `BAD_USER_INPUT` or `CONFLICT` for a refusal.
    pub code: &'static str,
    pub reason: String,
}

impl Finding {
    pub fn refused(rule: &'static str, code: &'static str, reason: impl Into<String>) -> Finding {
        Finding { rule, consequence: Consequence::Refused, code, reason: reason.into() }
    }
}

/// A school order as process 4 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Order {
    Infanzia,
    Primaria,
    SecondariaPrimoGrado,
    SecondariaSecondoGrado,
}

impl Order {
    /// The cycle: infanzia and primaria are the first, I and II grado the second.
    pub fn first_cycle(self) -> bool {
        matches!(self, Order::Infanzia | Order::Primaria)
    }

    pub fn label(self) -> &'static str {
        match self {
            Order::Infanzia => "scuola dell'infanzia",
            Order::Primaria => "scuola primaria",
            Order::SecondariaPrimoGrado => "scuola secondaria di I grado",
            Order::SecondariaSecondoGrado => "scuola secondaria di II grado",
        }
    }
}
