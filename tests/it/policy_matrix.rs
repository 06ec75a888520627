//! The policy matrix, generated from every line of `policies/policy.csv`:
//! for each object kind the database keeps, every demo account reads (and
//! tries to change) every row at SQL level, under its own scope, and what
//! it gets must be exactly what the policy's scope means for that row. A
//! role with no line for an object and action must get nothing. Then the
//! same through GraphQL, for the lists that show a total.
//!
//! What a scope means is written once, below ([`in_scope`]), from the
//! columns that say whose a row is: a policy line the database does not
//! honour, or a row security policy wider than its line, fails here.

use std::collections::{BTreeMap, BTreeSet};

use ambito::auth::{OrgRef, Subject};
use ambito::authz::{Action, Authorizer, ObjectKind, Scope};
use ambito::db::RequestDb;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::harness::{TestApp, TestDb, demo_accounts};
use crate::row_security::subject_of;

/// Whose a row is.
#[derive(Debug, Clone, QueryableByName)]
pub(crate) struct Facts {
    #[diesel(sql_type = Text)]
    pub(crate) key: String,
    #[diesel(sql_type = Nullable<Text>)]
    province: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    institution: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    municipality: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    hub: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    user_id: Option<i64>,
    /// A row of the whole province that a school's scope includes (a
    /// collection window for every school).
    #[diesel(sql_type = Bool)]
    province_wide: bool,
    #[diesel(sql_type = Nullable<Text>)]
    region: Option<String>,
}

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = Text)]
    key: String,
}

/// An object kind the database keeps: its table, the columns that say
/// whose a row is (SQL expressions, `NULL` where the kind has none), and an
/// assignment that changes nothing but needs the write policy (`None`: the
/// kind has no write lines, or is written only by insert).
pub(crate) struct Kept {
    pub(crate) kind: ObjectKind,
    table: &'static str,
    key: &'static str,
    /// province, institution, municipality, hub, user id, province-wide.
    whose: [&'static str; 6],
    /// The region of a directorate's rows.
    region: &'static str,
    touch: Option<&'static str>,
}

const NONE: &str = "NULL";
/// A school's own rows: province and institution.
const SCHOOLS: [&str; 6] = ["province_code", "institution_code", NONE, NONE, NONE, "false"];

impl Kept {
    pub(crate) fn facts(&self) -> String {
        let [province, institution, municipality, hub, user_id, wide] = self.whose;
        format!(
            "SELECT {}::text AS key, {province}::text AS province, {institution}::text AS institution,
                    {municipality}::text AS municipality, {hub}::text AS hub, {user_id}::bigint AS user_id,
                    {wide} AS province_wide, {}::text AS region FROM {}",
            self.key, self.region, self.table
        )
    }

    fn touch(&self) -> Option<String> {
        self.touch.map(|set| format!("UPDATE {} SET {set} RETURNING {}::text AS key", self.table, self.key))
    }
}

pub(crate) const KEPT: [Kept; 13] = [
    Kept {
        kind: ObjectKind::Membership,
        table: "memberships",
        key: "id",
        whose: ["scope_province", NONE, NONE, NONE, "user_id", "false"],
        region: NONE,
        touch: Some("role = role"),
    },
    Kept {
        kind: ObjectKind::CollectionWindow,
        table: "collection_windows",
        key: "id",
        whose: ["province_code", "institution_code", NONE, NONE, NONE, "institution_code IS NULL"],
        region: NONE,
        touch: Some("opens_on = opens_on"),
    },
    Kept {
        kind: ObjectKind::Class,
        table: "classes",
        key: "id",
        whose: SCHOOLS,
        region: NONE,
        touch: Some("section = section"),
    },
    Kept {
        kind: ObjectKind::Pupil,
        table: "pupils",
        key: "id",
        whose: SCHOOLS,
        region: NONE,
        touch: Some("sex = sex"),
    },
    Kept {
        kind: ObjectKind::SupportRequest,
        table: "support_requests",
        key: "pupil_id",
        whose: SCHOOLS,
        region: NONE,
        touch: Some("hours = hours"),
    },
    Kept {
        kind: ObjectKind::SupportApproval,
        table: "support_approvals",
        key: "pupil_id",
        whose: SCHOOLS,
        region: NONE,
        touch: Some("hours = hours"),
    },
    Kept {
        kind: ObjectKind::AuditEvent,
        table: "audit_events",
        key: "id",
        whose: ["province_code", NONE, NONE, NONE, NONE, "false"],
        region: NONE,
        touch: None,
    },
    Kept {
        kind: ObjectKind::EnrolmentRequest,
        table: "enrolment_requests",
        key: "id",
        whose: [
            "province_code",
            "institution_code",
            "CASE WHEN origin = 'municipality' THEN municipality_istat END",
            "hub_code",
            NONE,
            "false",
        ],
        region: NONE,
        touch: Some("status = status"),
    },
    Kept {
        kind: ObjectKind::AccountEnabling,
        table: "account_enablings",
        key: "id",
        whose: ["province_code", "institution_code", NONE, NONE, NONE, "false"],
        region: NONE,
        touch: None,
    },
    // Approved tables are immutable (a trigger): no write to touch.
    Kept {
        kind: ObjectKind::PointsTable,
        table: "points_tables",
        key: "id",
        whose: SCHOOLS,
        region: NONE,
        touch: None,
    },
    Kept {
        kind: ObjectKind::AdmissionRound,
        table: "admission_rounds",
        key: "id",
        whose: SCHOOLS,
        region: NONE,
        touch: Some("version = version"),
    },
    // Process 4. A teacher's own rows are those of the registry row whose
    // e-mail is the account's.
    Kept {
        kind: ObjectKind::TeacherRegistry,
        table: "teachers",
        key: "tax_code",
        whose: [
            "province_code",
            NONE,
            NONE,
            NONE,
            "(SELECT u.id FROM users u WHERE u.email = teachers.email)",
            "false",
        ],
        region: "(SELECT p.region FROM provinces p WHERE p.code = teachers.province_code)",
        touch: Some("first_name = first_name"),
    },
    // The office reads what is routed to it once submitted, never a draft.
    // Writes are not walked: the teacher writes only online forms, a
    // condition of the row this matrix has no column for (tests/it/mobility.rs).
    Kept {
        kind: ObjectKind::MobilityApplication,
        table: "mobility_applications",
        key: "id",
        whose: [
            "CASE WHEN state <> 'draft' AND processing_region IS NULL THEN processing_province END",
            NONE,
            NONE,
            NONE,
            "(SELECT u.id FROM users u JOIN teachers t ON t.email = u.email WHERE t.tax_code = teacher_tax_code)",
            "false",
        ],
        region: "CASE WHEN state <> 'draft' THEN processing_region END",
        touch: None,
    },
];

/// Object kinds with policy lines that this matrix does not walk, and where
/// they are checked instead. Any other kind with a line fails the test.
const CHECKED_ELSEWHERE: [(ObjectKind, &str); 11] = [
    (ObjectKind::Account, "write only: provisioning, tests/it/recovery.rs"),
    (ObjectKind::Attachment, "documents by parent, tests/it/attachments.rs"),
    (ObjectKind::EnrolmentDocument, "documents of a request, tests/it/attachments.rs"),
    // Applications are read under two lines (the school's, and the office's
    // reduced list of non-residents), which one row of this matrix cannot
    // tell apart: each role is checked through GraphQL there.
    (ObjectKind::AdmissionApplication, "tests/it/admissions.rs"),
    (ObjectKind::AdmissionDecision, "the head teacher's acts, tests/it/admissions.rs"),
    (ObjectKind::AdmissionPublic, "the municipality during posting, tests/it/admissions.rs"),
    (ObjectKind::AdmissionNonResident, "the office's reduced list, tests/it/admissions.rs"),
    (ObjectKind::AdmissionInvitation, "the office and the head teacher, tests/it/admissions.rs"),
    // Reference data is public to read, with no policy line saying so.
    (ObjectKind::MobilityReference, "the office writes, everyone reads, tests/it/mobility.rs"),
    // Read under two lines (the school's, and whoever sees the application).
    (ObjectKind::UtilisationScore, "the school of service, tests/it/mobility.rs"),
    // A teacher reads an outcome only once its run is approved, and a school
    // the posts at its sites only then: conditions of another row this
    // matrix has no column for.
    (ObjectKind::MobilityAllocation, "proposals, approved runs, exports, tests/it/mobility_allocation.rs"),
];

/// What a scope means for one row, for one caller.
pub(crate) fn in_scope(scope: Scope, row: &Facts, who: &Subject) -> bool {
    let m = &who.membership;
    let same = |a: &Option<String>, b: Option<&str>| a.as_deref().is_some() && a.as_deref() == b;
    match scope {
        Scope::Province => same(&row.province, m.province.as_deref()),
        Scope::School => match &m.org {
            OrgRef::School(code) => {
                same(&row.institution, Some(code)) || (row.province_wide && same(&row.province, m.province.as_deref()))
            }
            _ => false,
        },
        Scope::Municipality => matches!(&m.org, OrgRef::Municipality(code) if same(&row.municipality, Some(code))),
        Scope::Territory => matches!(&m.org, OrgRef::Hub(code) if same(&row.hub, Some(code))),
        Scope::Region => matches!(&m.org, OrgRef::Region(name) if same(&row.region, Some(name))),
        Scope::Own => row.user_id == Some(who.user_id),
    }
}

async fn keys_as(db: &TestDb, authz: &Authorizer, who: &Subject, sql: String) -> BTreeSet<String> {
    let request = RequestDb::new(db.pool(), authz.settings(Some(who)));
    let query = sql.clone();
    let rows = request.run(move |c| Box::pin(async move { diesel::sql_query(query).load::<Key>(c).await })).await;
    // Rolled back: a write here only asks which rows the policy lets through.
    request.finish(false).await.unwrap();
    rows.unwrap_or_else(|e| panic!("{sql}: {e:?}")).into_iter().map(|k| k.key).collect()
}

#[tokio::test]
async fn every_policy_line_is_what_each_role_sees_and_may_change_at_sql_level() {
    let app = TestApp::demo().await;
    // Some of everything: an audit event, as the demo has none yet.
    let school = app.login("bgic82100t@istruzione.it").await;
    app.query_as(&school, "{ pupils(first: 3) { nodes { taxCode } } }", json!({})).await;
    let db = app.db();
    let authz = Authorizer::embedded().await.unwrap();
    let lines = authz.matrix();
    for (_, obj, _, _) in &lines {
        assert!(
            KEPT.iter().any(|k| k.kind == *obj) || CHECKED_ELSEWHERE.iter().any(|(k, _)| k == obj),
            "the policy has lines for {obj:?}, which the matrix does not know how to check"
        );
    }
    let mut subjects = Vec::new();
    for account in demo_accounts() {
        subjects.push(subject_of(db, &account.email).await);
    }
    let mut owner = db.conn().await;
    let mut checked = BTreeMap::<(String, &str), usize>::new();
    for kept in &KEPT {
        let all: Vec<Facts> = diesel::sql_query(kept.facts()).load(&mut owner).await.unwrap();
        assert!(!all.is_empty(), "the demo has rows of {:?} to check", kept.kind);
        for who in &subjects {
            let role = who.membership.role;
            for act in [Action::Read, Action::Write] {
                let scope = authz.scope(role, kept.kind, act);
                let sql = match act {
                    Action::Read => kept.facts(),
                    _ => match kept.touch() {
                        Some(t) => t,
                        None => continue,
                    },
                };
                let expected: BTreeSet<String> =
                    all.iter().filter(|r| scope.is_some_and(|s| in_scope(s, r, who))).map(|r| r.key.clone()).collect();
                let got = keys_as(db, &authz, who, sql).await;
                assert_eq!(
                    got,
                    expected,
                    "{} as {role} {} {:?} under {:?}",
                    who.email,
                    act.as_str(),
                    kept.kind,
                    scope.map(Scope::as_str)
                );
                *checked.entry((format!("{:?}", kept.kind), act.as_str())).or_default() += 1;
            }
        }
    }
    // Every line of the policy for a kept kind was walked, by every account of its role.
    for (role, obj, act, _) in &lines {
        if KEPT.iter().any(|k| k.kind == *obj && (*act == Action::Read || k.touch.is_some())) {
            let n = checked.get(&(format!("{obj:?}"), act.as_str())).copied().unwrap_or(0);
            assert!(n >= subjects.len(), "{role} {obj:?} {} was not walked", act.as_str());
        }
    }
}

/// Through GraphQL: every list with a total shows each account exactly the
/// rows its policy line allows, and a role with no line is FORBIDDEN.
#[tokio::test]
async fn every_policy_line_is_what_each_role_gets_through_graphql() {
    let app = TestApp::demo().await;
    let db = app.db();
    let authz = Authorizer::embedded().await.unwrap();
    let lists: [(ObjectKind, &str, &str); 4] = [
        (ObjectKind::Class, "{ classes(first: 1) { totalCount } }", "classes"),
        (ObjectKind::Pupil, "{ pupils(first: 1) { totalCount } }", "pupils"),
        (ObjectKind::AuditEvent, "{ auditTrail(first: 1) { totalCount } }", "auditTrail"),
        (ObjectKind::EnrolmentRequest, "{ enrolmentRequests(first: 1) { totalCount } }", "enrolmentRequests"),
    ];
    let mut owner = db.conn().await;
    for account in demo_accounts() {
        let who = subject_of(db, &account.email).await;
        let token = app.login(&account.email).await;
        for (kind, query, field) in lists {
            let facts = KEPT.iter().find(|k| k.kind == kind).expect("a kept kind").facts();
            let all: Vec<Facts> = diesel::sql_query(facts).load(&mut owner).await.unwrap();
            let (_, body) = app.post_as(Some(&token), query, json!({})).await;
            match authz.scope(who.membership.role, kind, Action::Read) {
                None => {
                    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{} {field}: {body}", who.email)
                }
                Some(scope) => {
                    let expected = all.iter().filter(|r| in_scope(scope, r, &who)).count();
                    // Lists of the school year default to the current one: compare with what it shows.
                    let got = body["data"][field]["totalCount"].as_u64().unwrap_or_else(|| panic!("{body}"));
                    assert!(got as usize <= expected, "{} sees {got} {field}, its scope holds {expected}", who.email);
                    if kind == ObjectKind::AuditEvent || kind == ObjectKind::EnrolmentRequest {
                        assert_eq!(got as usize, expected, "{} {field}", who.email);
                    }
                }
            }
        }
    }
}
