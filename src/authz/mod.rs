//! Authorization in one place. Casbin (`policies/`) decides which role may do
//! which action on which object kind, and within which scope; this module turns
//! that into the settings that PostgreSQL row-level security reads, so the
//! same scope is enforced twice: by the queries and by the database.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context as _, bail};
use casbin::{CoreApi, DefaultModel, Enforcer, MgmtApi, StringAdapter};

use crate::auth::{OrgRef, Role, Subject};
use crate::error::AppError;

pub const MODEL: &str = include_str!("../../policies/model.conf");
pub const POLICY: &str = include_str!("../../policies/policy.csv");

/// Kinds of object that carry tenant data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Membership,
    /// Accounts of other users (provisioning, administration).
    Account,
    /// Collection windows of a process and school year.
    CollectionWindow,
    /// Classes and sections of a school.
    Class,
    /// Pupils with a disability: identity, certification.
    Pupil,
    /// A school's requests of support hours, and its submission for the year.
    SupportRequest,
    /// Support hours the office approved.
    SupportApproval,
    /// The audit trail.
    AuditEvent,
    /// Encrypted documents, in their parent's scope.
    Attachment,
    /// Refugee minors' enrolment requests and their recorded transitions.
    EnrolmentRequest,
    /// Documents of an enrolment request: where the request is visible, to
    /// the roles named here. Exposed as `Attachment`, like every document.
    EnrolmentDocument,
    /// Enabling a personal account in person (seed 004), and the record of
    /// who checked which document.
    AccountEnabling,
    /// Points tables of admission rounds (seed 002).
    PointsTable,
    /// Admission rounds: configuration, sites and places, street list,
    /// published snapshots.
    AdmissionRound,
    /// Admission applications: a minor's identity, residence, claims and
    /// health data.
    AdmissionApplication,
    /// The Dirigente's acts on a round (seed 002): the draw seed,
    /// publication, complaints, final approval, nulla osta.
    AdmissionDecision,
    /// The public version of a published ranking (spec §7.2): pseudonymous
    /// rows, served to others than the school only while posted.
    AdmissionPublic,
    /// A non-resident application in the office's reduced form (§7.3).
    AdmissionNonResident,
    /// The office's invitation not to accept a non-resident (R-WL-4).
    AdmissionInvitation,
    /// Process 4's reference data (campaigns, classes of competition,
    /// districts, surplus): public to read, the office writes.
    MobilityReference,
    /// The teacher registry: the office of the holding province, and the
    /// teacher their own row.
    TeacherRegistry,
    /// Teachers' applications for provisional assignments and
    /// utilisations (seed 003): the teacher's own, the office's routed ones.
    MobilityApplication,
    /// SC-U4: the utilisation score section of a UT form, which the school
    /// of service validates (no other part of the form).
    UtilisationScore,
    /// Allocation runs of process 4 and each application's outcome and
    /// certificate: the office's proposals, the teacher's own once approved.
    MobilityAllocation,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 24] = [
        ObjectKind::Membership,
        ObjectKind::Account,
        ObjectKind::CollectionWindow,
        ObjectKind::Class,
        ObjectKind::Pupil,
        ObjectKind::SupportRequest,
        ObjectKind::SupportApproval,
        ObjectKind::AuditEvent,
        ObjectKind::Attachment,
        ObjectKind::EnrolmentRequest,
        ObjectKind::EnrolmentDocument,
        ObjectKind::AccountEnabling,
        ObjectKind::PointsTable,
        ObjectKind::AdmissionRound,
        ObjectKind::AdmissionApplication,
        ObjectKind::AdmissionDecision,
        ObjectKind::AdmissionPublic,
        ObjectKind::AdmissionNonResident,
        ObjectKind::AdmissionInvitation,
        ObjectKind::MobilityReference,
        ObjectKind::TeacherRegistry,
        ObjectKind::MobilityApplication,
        ObjectKind::UtilisationScore,
        ObjectKind::MobilityAllocation,
    ];

    /// The kinds of document: a route that serves documents of any kind
    /// needs one of them, and row security decides on each document.
    pub const DOCUMENTS: [ObjectKind; 4] = [
        ObjectKind::Attachment,
        ObjectKind::EnrolmentDocument,
        ObjectKind::AdmissionApplication,
        ObjectKind::MobilityApplication,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Membership => "membership",
            ObjectKind::Account => "account",
            ObjectKind::CollectionWindow => "collection_window",
            ObjectKind::Class => "class",
            ObjectKind::Pupil => "pupil",
            ObjectKind::SupportRequest => "support_request",
            ObjectKind::SupportApproval => "support_approval",
            ObjectKind::AuditEvent => "audit_event",
            ObjectKind::Attachment => "attachment",
            ObjectKind::EnrolmentRequest => "enrolment_request",
            ObjectKind::EnrolmentDocument => "enrolment_document",
            ObjectKind::AccountEnabling => "account_enabling",
            ObjectKind::PointsTable => "points_table",
            ObjectKind::AdmissionRound => "admission_round",
            ObjectKind::AdmissionApplication => "admission_application",
            ObjectKind::AdmissionDecision => "admission_decision",
            ObjectKind::AdmissionPublic => "admission_public",
            ObjectKind::AdmissionNonResident => "admission_non_resident",
            ObjectKind::AdmissionInvitation => "admission_invitation",
            ObjectKind::MobilityReference => "mobility_reference",
            ObjectKind::TeacherRegistry => "teacher_registry",
            ObjectKind::MobilityApplication => "mobility_application",
            ObjectKind::UtilisationScore => "utilisation_score",
            ObjectKind::MobilityAllocation => "mobility_allocation",
        }
    }

    /// The GraphQL types that expose this kind of object.
    pub fn graphql_types(self) -> &'static [&'static str] {
        match self {
            ObjectKind::Membership => &["Membership", "Viewer", "Session"],
            ObjectKind::Account => &["ProvisionedAccount"],
            ObjectKind::CollectionWindow => &["CollectionWindow"],
            ObjectKind::Class => &["SchoolClass"],
            ObjectKind::Pupil => &["Pupil", "Certification", "RegistryReportRow"],
            ObjectKind::SupportRequest => &["SupportRequest", "SupportSubmission", "SupportTotal"],
            ObjectKind::SupportApproval => &["SupportApproval"],
            ObjectKind::AuditEvent => &["AuditEvent"],
            ObjectKind::Attachment => &["Attachment", "UploadSlot"],
            ObjectKind::EnrolmentRequest => &[
                "EnrolmentRequest",
                "EnrolmentTransition",
                "EnrolmentMove",
                "EnrolmentChanges",
                "EnrolmentEvent",
                "EnrolmentCount",
            ],
            ObjectKind::EnrolmentDocument => &[],
            ObjectKind::AccountEnabling => &["EnabledAccount"],
            ObjectKind::PointsTable => &["PointsTable", "PointsCriterion"],
            ObjectKind::AdmissionRound => &[
                "AdmissionRound",
                "AdmissionRoundSite",
                "RankingRow",
                "WaitingRow",
                "TimeModelOutcome",
                "AdmissionCutoff",
                "TimeModel",
                "RoundStatistics",
                "SiteStatistics",
            ],
            ObjectKind::AdmissionApplication => &[
                "AdmissionApplication",
                "ApplicationDisability",
                "EnrolmentChecklist",
                "AdmissionOutcome",
                "RegisteredApplication",
                "AdmissionComplaint",
                "NullaOstaRequest",
                "WaitingListAdmission",
                "AdmissionExplanation",
                "ExplanationStep",
                "AdmissionSimulation",
                "SimulatedChange",
                "SimulatedStanding",
                "SimulatedFreePlaces",
            ],
            ObjectKind::AdmissionDecision => &[],
            ObjectKind::AdmissionPublic => &["PublicVersion", "PublicSite", "PublicRow"],
            ObjectKind::AdmissionNonResident => &["NonResidentApplication", "NonResidentOutcome"],
            ObjectKind::AdmissionInvitation => &["NonAcceptanceInvitation"],
            ObjectKind::MobilityReference => &[],
            ObjectKind::TeacherRegistry => &["Teacher"],
            ObjectKind::MobilityApplication => &[
                "MobilityApplication",
                "MobilityApplicationConnection",
                "PreferenceOut",
                "PrecedenceOut",
                "FamilyScore",
                "FamilyScoreLine",
                "Warning",
                "Office",
                "DocumentReceipt",
                "MobilityRequestOptions",
                "SectionE",
                "Confirmation",
                "AreaCode",
                "UtScore",
                "UtTitle",
            ],
            ObjectKind::UtilisationScore => &["UtilisationScore", "UtilisationScoreConnection"],
            ObjectKind::MobilityAllocation => &[
                "MobilityRun",
                "Outcome",
                "CertificateEntry",
                "LastAdmitted",
                "RunMove",
                "CertificateOverride",
                "MobilityOverride",
                "MobilityComplaint",
                "Renunciation",
            ],
        }
    }
}

/// GraphQL types that carry no tenant data: the territory (public open
/// data), pagination and the roots. Every other type must belong to an
/// [`ObjectKind`] with policy lines, which a test checks against the schema.
pub const PUBLIC_GRAPHQL_TYPES: &[&str] = &[
    "Query",
    "Mutation",
    "Subscription",
    "PageInfo",
    "Province",
    "TerritorialAmbit",
    "Municipality",
    "School",
    "Site",
    "Hub",
    "Organization",
    "ServiceStatus",
    "LimitedPeriod",
    // Process 4's reference data: public, as the forms are checked against it.
    "MobilityCampaign",
    "MobilityWindow",
    "ClassOfCompetition",
    "SchoolDistrict",
    "Diocese",
    "Vacancy",
    "MobilityCutoff",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Read,
    Write,
}

impl Action {
    pub const ALL: [Action; 2] = [Action::Read, Action::Write];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
        }
    }
}

/// Within which rows a role may act: the closed vocabulary of the policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    School,
    Municipality,
    Territory,
    Province,
    /// A regional directorate's region (IRC forms, seed 003 L83).
    Region,
    Own,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::School => "school",
            Scope::Municipality => "municipality",
            Scope::Territory => "territory",
            Scope::Province => "province",
            Scope::Region => "region",
            Scope::Own => "own",
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Scope, String> {
        [Scope::School, Scope::Municipality, Scope::Territory, Scope::Province, Scope::Region, Scope::Own]
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                format!("unknown scope {s:?}: one of school, municipality, territory, province, region, own")
            })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rows a caller's scope reaches, as a filter the list queries add to
/// row security: the same rows, said so that the planner can use an index
/// (row security's policy is an OR over every scope, which it cannot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Within {
    School(String),
    Municipality(String),
    Hub(String),
    Province(String),
    /// No filter beyond row security.
    #[default]
    Unscoped,
}

/// Who acts, and within which scope the policies let them act for the use case.
#[derive(Debug, Clone)]
pub struct Caller {
    pub scope: Scope,
    pub province: Option<String>,
    pub school: Option<String>,
    pub municipality: Option<String>,
    pub hub: Option<String>,
    pub region: Option<String>,
}

/// The office a form is routed to and that acts on it: a provincial
/// office, or the regional directorate of an IRC form's diocese.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Office {
    Province(String),
    Region(String),
}

impl Office {
    /// The province the office's acts are filed under in the audit trail:
    /// a directorate's under none, so no provincial office reads them.
    pub fn audit_province(self) -> Option<String> {
        match self {
            Office::Province(p) => Some(p),
            Office::Region(_) => None,
        }
    }
}

impl Caller {
    pub fn new(subject: &Subject, scope: Scope) -> Caller {
        let org = &subject.membership.org;
        let code = |want: fn(&OrgRef) -> bool| want(org).then(|| org.code().map(str::to_owned)).flatten();
        Caller {
            scope,
            province: subject.membership.province.clone(),
            school: code(|o| matches!(o, OrgRef::School(_))),
            municipality: code(|o| matches!(o, OrgRef::Municipality(_))),
            hub: code(|o| matches!(o, OrgRef::Hub(_))),
            region: code(|o| matches!(o, OrgRef::Region(_))),
        }
    }

    /// The caller's scope as a list filter.
    pub fn within(&self) -> Within {
        let code = match self.scope {
            Scope::School => self.school.clone().map(Within::School),
            Scope::Municipality => self.municipality.clone().map(Within::Municipality),
            Scope::Territory => self.hub.clone().map(Within::Hub),
            Scope::Province => self.province.clone().map(Within::Province),
            Scope::Region | Scope::Own => None,
        };
        code.unwrap_or_default()
    }

    /// The office's province; only a `province` scope has one to act on.
    pub fn office_province(&self) -> Result<String, AppError> {
        match (self.scope, &self.province) {
            (Scope::Province, Some(p)) => Ok(p.clone()),
            _ => Err(AppError::Forbidden),
        }
    }

    /// The office the caller acts as: a `province` or a `region` scope.
    pub fn office(&self) -> Result<Office, AppError> {
        match (self.scope, &self.province, &self.region) {
            (Scope::Province, Some(p), _) => Ok(Office::Province(p.clone())),
            (Scope::Region, _, Some(r)) => Ok(Office::Region(r.clone())),
            _ => Err(AppError::Forbidden),
        }
    }

    /// Whether the caller's scope reaches rows of this institution. Row
    /// security says the same again; this lets callers answer with a field
    /// or with not-found before asking the database.
    pub fn reaches(&self, institution: &str, province: &str) -> bool {
        match self.scope {
            Scope::School => self.school.as_deref() == Some(institution),
            Scope::Province => self.province.as_deref() == Some(province),
            _ => false,
        }
    }
}

/// Every decision of the policies, asked of Casbin once at start-up: a
/// request then costs a map lookup, not a scan of the rules.
#[derive(Debug, Clone)]
pub struct Authorizer {
    scopes: HashMap<(Role, ObjectKind, Action), Scope>,
}

impl Authorizer {
    /// The policies compiled into the binary (`policies/`).
    pub async fn embedded() -> anyhow::Result<Authorizer> {
        Authorizer::from_text(MODEL, POLICY).await
    }

    /// Policies an operator keeps in a directory (`model.conf`, `policy.csv`).
    pub async fn from_dir(dir: &Path) -> anyhow::Result<Authorizer> {
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f)).with_context(|| format!("reading {}", dir.join(f).display()))
        };
        Authorizer::from_text(&read("model.conf")?, &read("policy.csv")?).await
    }

    pub async fn from_text(model: &str, policy: &str) -> anyhow::Result<Authorizer> {
        check_policy_lines(policy)?;
        let model = DefaultModel::from_str(model).await.context("reading the Casbin model")?;
        let enforcer = Enforcer::new(model, StringAdapter::new(policy)).await.context("reading the Casbin policy")?;
        let mut scopes = HashMap::new();
        for role in Role::ALL {
            for obj in ObjectKind::ALL {
                for act in Action::ALL {
                    let request = (role.as_str(), obj.as_str(), act.as_str());
                    if !enforcer.enforce(request)? {
                        continue;
                    }
                    let rules =
                        enforcer.get_filtered_policy(0, vec![request.0.into(), request.1.into(), request.2.into()]);
                    let found: Vec<Scope> = rules
                        .iter()
                        .map(|r| r.get(3).map(|s| s.trim()).unwrap_or("").parse::<Scope>().map_err(anyhow::Error::msg))
                        .collect::<anyhow::Result<_>>()?;
                    match found.as_slice() {
                        [scope] => {
                            scopes.insert((role, obj, act), *scope);
                        }
                        _ => bail!("policy: {role} {} {} must have exactly one scope", obj.as_str(), act.as_str()),
                    }
                }
            }
        }
        Ok(Authorizer { scopes })
    }

    /// The scope in which `role` may `act` on `obj`; `None` means denied.
    pub fn scope(&self, role: Role, obj: ObjectKind, act: Action) -> Option<Scope> {
        self.scopes.get(&(role, obj, act)).copied()
    }

    /// The scope of the first of `objs` that `role` may `act` on.
    pub fn first_scope(&self, role: Role, objs: &[ObjectKind], act: Action) -> Option<Scope> {
        objs.iter().find_map(|o| self.scope(role, *o, act))
    }

    /// Transaction-local settings that row-level security reads for this
    /// caller: who they are, their organisation's place, and their scope for
    /// every object kind and action. No subject, no settings: no tenant rows.
    pub fn settings(&self, subject: Option<&Subject>) -> Vec<(String, String)> {
        let Some(s) = subject else { return Vec::new() };
        let m = &s.membership;
        let mut out = vec![
            ("ambito.user_id".to_owned(), s.user_id.to_string()),
            ("ambito.session_id".to_owned(), s.session_id.to_string()),
            ("ambito.role".to_owned(), m.role.as_str().to_owned()),
            ("ambito.membership_id".to_owned(), m.id.to_string()),
        ];
        if let Some(p) = &m.province {
            out.push(("ambito.province".into(), p.clone()));
        }
        let org = match &m.org {
            OrgRef::School(c) => Some(("ambito.school", c)),
            OrgRef::Municipality(c) => Some(("ambito.municipality", c)),
            OrgRef::Hub(c) => Some(("ambito.hub", c)),
            OrgRef::Region(c) => Some(("ambito.region", c)),
            OrgRef::Province(_) | OrgRef::Own => None,
        };
        if let Some((k, v)) = org {
            out.push((k.to_owned(), v.clone()));
        }
        for obj in ObjectKind::ALL {
            for act in Action::ALL {
                if let Some(scope) = self.scope(m.role, obj, act) {
                    out.push((format!("ambito.scope.{}.{}", obj.as_str(), act.as_str()), scope.as_str().to_owned()));
                }
            }
        }
        out
    }

    /// Every allowed (role, object, action, scope), for tests and documentation.
    pub fn matrix(&self) -> Vec<(Role, ObjectKind, Action, Scope)> {
        let mut rows: Vec<_> = self.scopes.iter().map(|((r, o, a), s)| (*r, *o, *a, *s)).collect();
        rows.sort_by_key(|(r, o, a, _)| (r.as_str(), o.as_str(), a.as_str()));
        rows
    }
}

/// A typo in the policy must not silently deny: every line names a known
/// role, object kind, action and scope.
fn check_policy_lines(policy: &str) -> anyhow::Result<()> {
    for (i, line) in policy.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let ok = f.len() == 5
            && f[0] == "p"
            && f[1].parse::<Role>().is_ok()
            && ObjectKind::ALL.iter().any(|o| o.as_str() == f[2])
            && Action::ALL.iter().any(|a| a.as_str() == f[3])
            && f[4].parse::<Scope>().is_ok();
        if !ok {
            bail!("policy.csv line {}: expected `p, ROLE, OBJECT, ACTION, SCOPE` with known names: {line}", i + 1);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_shipped_policy_loads_and_denies_by_default() {
        let a = Authorizer::embedded().await.unwrap();
        assert_eq!(a.scope(Role::Provincial, ObjectKind::Membership, Action::Read), Some(Scope::Province));
        assert_eq!(a.scope(Role::School, ObjectKind::Membership, Action::Read), Some(Scope::Own));
        assert_eq!(a.scope(Role::School, ObjectKind::Membership, Action::Write), None);
    }

    #[tokio::test]
    async fn typos_in_the_policy_are_refused() {
        for bad in [
            "p, provincal, membership, read, province",
            "p, school, pupils, read, school",
            "p, school, membership, read, everything",
        ] {
            let err = Authorizer::from_text(MODEL, bad).await.unwrap_err();
            assert!(err.to_string().contains("policy.csv line 1"), "{err}");
        }
        let twice = "p, school, membership, read, own\np, school, membership, read, province";
        assert!(Authorizer::from_text(MODEL, twice).await.is_err());
    }
}
