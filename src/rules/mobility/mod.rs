//! Process 4 (seed 003): teachers' applications for provisional assignments
//! (AP) and utilisations (UT), as pure rules. Every rule of the spec
//! (`teacher-applications.md`) is a function of an application snapshot,
//! the campaign, the territory and the teacher registry; none reads a clock
//! or a database. Each answer names its rule id and says why, in one of the
//! seed's three consequences (spec §0.3).

pub mod allocation;
pub mod application;
pub mod eligibility;
pub mod hours;
pub mod phase;
pub mod scores;
pub mod synthetic;
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

/// What a document of an application is (spec §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DocumentKind {
    SelfDeclaration,
    MedicalCertificate,
    DisabilityCertificate104,
    InvalidityCertificate,
    AslCertificate,
    CareInstituteCertificate,
    RehabStructureCertificate,
    CourtOrderFostering,
    CourtOrderGuardianship,
    EmployerDeclaration,
    SpouseCohabitationDeclaration,
    MandateDeclaration,
    UnionLeaveDeclaration,
    Title,
    PaperApplicationScan,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 15] = [
        DocumentKind::SelfDeclaration,
        DocumentKind::MedicalCertificate,
        DocumentKind::DisabilityCertificate104,
        DocumentKind::InvalidityCertificate,
        DocumentKind::AslCertificate,
        DocumentKind::CareInstituteCertificate,
        DocumentKind::RehabStructureCertificate,
        DocumentKind::CourtOrderFostering,
        DocumentKind::CourtOrderGuardianship,
        DocumentKind::EmployerDeclaration,
        DocumentKind::SpouseCohabitationDeclaration,
        DocumentKind::MandateDeclaration,
        DocumentKind::UnionLeaveDeclaration,
        DocumentKind::Title,
        DocumentKind::PaperApplicationScan,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::SelfDeclaration => "self_declaration",
            DocumentKind::MedicalCertificate => "medical_certificate",
            DocumentKind::DisabilityCertificate104 => "disability_certificate_104",
            DocumentKind::InvalidityCertificate => "invalidity_certificate",
            DocumentKind::AslCertificate => "asl_certificate",
            DocumentKind::CareInstituteCertificate => "care_institute_certificate",
            DocumentKind::RehabStructureCertificate => "rehab_structure_certificate",
            DocumentKind::CourtOrderFostering => "court_order_fostering",
            DocumentKind::CourtOrderGuardianship => "court_order_guardianship",
            DocumentKind::EmployerDeclaration => "employer_declaration",
            DocumentKind::SpouseCohabitationDeclaration => "spouse_cohabitation_declaration",
            DocumentKind::MandateDeclaration => "mandate_declaration",
            DocumentKind::UnionLeaveDeclaration => "union_leave_declaration",
            DocumentKind::Title => "title",
            DocumentKind::PaperApplicationScan => "paper_application_scan",
        }
    }

    pub fn parse(s: &str) -> Option<DocumentKind> {
        DocumentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A certificate of a medical fact: what no self-declaration replaces
    /// (DOC-2, PRE-0c).
    pub fn medical(self) -> bool {
        matches!(
            self,
            DocumentKind::MedicalCertificate
                | DocumentKind::DisabilityCertificate104
                | DocumentKind::InvalidityCertificate
                | DocumentKind::AslCertificate
                | DocumentKind::CareInstituteCertificate
                | DocumentKind::RehabStructureCertificate
        )
    }
}
