//! Row security: PostgreSQL enforces each caller's scope even on a query that
//! forgets its filter, and the policy matrix drives what every role sees.

use std::collections::BTreeSet;

use ambito::auth::Subject;
use ambito::authz::{Action, Authorizer, ObjectKind, PUBLIC_GRAPHQL_TYPES, Scope};
use ambito::db::RequestDb;
use ambito::db::accounts::{self, MembershipRow};
use ambito::db::schema::memberships;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::harness::{TestApp, TestDb, demo_accounts};

/// The subject a demo account acts as (its first membership).
pub async fn subject_of(db: &TestDb, email: &str) -> Subject {
    let mut conn = db.conn().await;
    let user = accounts::user_by_email(&mut conn, email).await.unwrap().unwrap();
    let m = accounts::memberships_of(&mut conn, user.id).await.unwrap().remove(0);
    Subject { session_id: 0, user_id: user.id, email: user.email, membership: m.to_membership() }
}

/// Every membership row an unfiltered query returns to this caller.
async fn visible_memberships(db: &TestDb, authz: &Authorizer, subject: Option<&Subject>) -> Vec<MembershipRow> {
    let request = RequestDb::new(db.pool(), authz.settings(subject));
    let rows = request
        .run(|c| Box::pin(memberships::table.select(MembershipRow::as_select()).order(memberships::id).load(c)))
        .await
        .unwrap();
    request.finish(true).await.unwrap();
    rows
}

#[tokio::test]
async fn a_query_that_forgets_its_filter_still_sees_only_the_callers_rows() {
    let db = TestDb::demo().await;
    let authz = Authorizer::embedded().await.unwrap();
    let all = {
        let mut conn = db.conn().await;
        memberships::table.select(MembershipRow::as_select()).load(&mut conn).await.unwrap()
    };
    assert!(all.len() >= 13);

    let school = subject_of(&db, "bgic82100t@istruzione.it").await;
    let seen = visible_memberships(&db, &authz, Some(&school)).await;
    assert_eq!(seen.iter().map(|m| m.user_id).collect::<BTreeSet<_>>(), BTreeSet::from([school.user_id]));

    let office = subject_of(&db, "ufficio.bg@ambito.invalid").await;
    let seen = visible_memberships(&db, &authz, Some(&office)).await;
    let expected: BTreeSet<i64> =
        all.iter().filter(|m| m.scope_province.as_deref() == Some("BG")).map(|m| m.id).collect();
    assert_eq!(seen.iter().map(|m| m.id).collect::<BTreeSet<_>>(), expected);
    assert!(expected.len() >= 4 && expected.len() < all.len(), "Bergamo's office sees Bergamo, not Milano");

    assert!(visible_memberships(&db, &authz, None).await.is_empty(), "no subject, no tenant rows");
}

#[tokio::test]
async fn writes_must_stay_inside_the_scope() {
    let db = TestDb::demo().await;
    let authz = Authorizer::embedded().await.unwrap();
    let office = subject_of(&db, "ufficio.bg@ambito.invalid").await;
    let teacher = subject_of(&db, "docente@ambito.invalid").await;
    let milan_school = demo_accounts()
        .into_iter()
        .find_map(|a| a.organization.filter(|o| a.role == "school" && o.starts_with("MI")))
        .expect("a Milano school in the demo");
    // Ok(()) when written, else the error's text.
    let grant = |subject: Subject, school: String| {
        let request = RequestDb::new(db.pool(), authz.settings(Some(&subject)));
        async move {
            let outcome = request
                .run(move |c| {
                    Box::pin(async move {
                        let org = ambito::auth::OrgRef::School(school);
                        accounts::grant(c, subject.user_id, ambito::auth::Role::School, &org).await
                    })
                })
                .await;
            request.finish(outcome.is_ok()).await.unwrap();
            outcome.map(drop).map_err(|e| format!("{e:?}"))
        }
    };
    assert_eq!(grant(office.clone(), "BGIC82100T".into()).await, Ok(()), "the office manages its own province");
    for (who, school) in [(office, milan_school), (teacher, "BGIC82100T".to_owned())] {
        let err = grant(who, school).await.unwrap_err();
        assert!(err.contains("row-level security"), "refused by the database's policy: {err}");
    }
}

/// Tables that hold no user, session or tenant rows: the published
/// territory (public open data), settings, the audit chain's horizon, and
/// the operator's limited-mode periods (public through `serviceStatus`).
/// Every other table must have row security enabled and forced.
const NOT_TENANT_TABLES: [&str; 11] = [
    "provinces",
    "territorial_ambits",
    "municipalities",
    "institutions",
    "sites",
    "hubs",
    "hub_sites",
    "app_meta",
    "audit_seal_horizon",
    "limited_mode_periods",
    "__diesel_schema_migrations",
];

#[tokio::test]
async fn every_table_with_user_or_tenant_rows_has_forced_row_security() {
    #[derive(QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        enabled: bool,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        forced: bool,
    }
    let db = TestDb::empty().await;
    let tables: Vec<Table> = diesel::sql_query(
        "SELECT c.relname::text AS name, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .load(&mut db.conn().await)
    .await
    .unwrap();
    assert!(tables.len() > NOT_TENANT_TABLES.len(), "the walk found the tables");
    let unforced: Vec<&str> = tables
        .iter()
        .filter(|t| !NOT_TENANT_TABLES.contains(&t.name.as_str()))
        .filter(|t| !(t.enabled && t.forced))
        .map(|t| t.name.as_str())
        .collect();
    assert!(unforced.is_empty(), "tables with user or tenant rows but no forced row security: {unforced:?}");
    for t in NOT_TENANT_TABLES.iter().filter(|n| !n.starts_with("__")) {
        assert!(tables.iter().any(|x| x.name == *t), "{t} is listed but does not exist");
    }
}

#[tokio::test]
async fn no_role_the_server_works_as_can_bypass_row_security() {
    #[derive(QueryableByName)]
    struct Role {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        risky: bool,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        owned: i64,
    }
    let db = TestDb::empty().await;
    let roles: Vec<Role> = diesel::sql_query(
        "SELECT r.rolname::text AS name, (r.rolsuper OR r.rolbypassrls OR r.rolcreaterole OR r.rolcreatedb) AS risky,
                (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid) AS owned
         FROM pg_roles r WHERE r.rolname IN ('ambito_server', 'ambito_app', 'ambito_auth', 'ambito_maint') ORDER BY 1",
    )
    .load(&mut db.conn().await)
    .await
    .unwrap();
    assert_eq!(roles.len(), 4);
    for r in roles {
        assert!(!r.risky && r.owned == 0, "{} can get around row security", r.name);
    }
    // The login role the tests' servers use passes the server's own check.
    ambito::db::roles::check_login_role(&db.login_url()).await.unwrap();
    // The owner (a superuser here) is refused as a login role.
    let err = ambito::db::roles::check_login_role(&db.url).await.unwrap_err().to_string();
    assert!(err.contains("superuser"), "{err}");
}

/// Request work sees its own account and the accounts it manages, and only
/// its own session; the secrets of none.
#[tokio::test]
async fn request_work_sees_only_its_own_session_and_the_accounts_it_may() {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let app = TestApp::demo().await;
    let teacher_token = app.login("docente@ambito.invalid").await;
    let _school = app.login("bgic82100t@istruzione.it").await;
    let pools = app.db().pools();
    let bearer = format!("Bearer {teacher_token}");
    let teacher =
        ambito::auth::subject_for(&pools.auth, Some(&bearer), &Default::default()).await.unwrap().expect("a session");
    let authz = Authorizer::embedded().await.unwrap();
    // Each statement in a request of its own: a refused one ends its transaction.
    let count = |sql: &'static str| {
        let request = RequestDb::new(pools.requests.clone(), authz.settings(Some(&teacher)));
        async move {
            let n =
                request.run(move |c| Box::pin(async move { diesel::sql_query(sql).get_result::<N>(c).await })).await;
            request.finish(true).await.unwrap();
            n.map(|n| n.n)
        }
    };
    assert_eq!(count("SELECT count(*) AS n FROM users").await.unwrap(), 1, "a teacher sees its own account");
    assert_eq!(count("SELECT count(*) AS n FROM sessions").await.unwrap(), 1, "and its own session");
    let others =
        "WITH d AS (DELETE FROM sessions WHERE id <> ambito_session_id() RETURNING 1) SELECT count(*) AS n FROM d";
    assert_eq!(count(others).await.unwrap(), 0, "it cannot end anyone else's session");
    for refused in [
        "SELECT count(password_hash) AS n FROM users",
        "SELECT count(*) AS n FROM login_throttle",
        "SELECT count(*) AS n FROM password_resets",
        "WITH i AS (INSERT INTO users (email) VALUES ('mallory@example.org') RETURNING 1) SELECT count(*) AS n FROM i",
        "SELECT count(*) AS n FROM audit_seals",
    ] {
        assert!(count(refused).await.is_err(), "{refused} must be refused");
    }
    let mut conn = app.db().conn().await;
    let total: N = diesel::sql_query("SELECT count(*) AS n FROM sessions").get_result(&mut conn).await.unwrap();
    assert_eq!(total.n, 2, "both sessions are still there");
}

#[tokio::test]
async fn a_request_with_an_error_changes_nothing() {
    let app = TestApp::demo().await;
    let token = app.login("comune.milano@ambito.invalid").await;
    let (_, body) =
        app.post_as(Some(&token), r#"mutation { logout switchMembership(id: "999999") { role } }"#, json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");
    app.query_as(&token, "{ me { email } }", json!({})).await;
}

/// The matrix test: for every line of the policy, each demo account of that
/// role sees exactly the memberships its scope means.
#[tokio::test]
async fn every_policy_line_means_what_it_says() {
    let db = TestDb::demo().await;
    let authz = Authorizer::embedded().await.unwrap();
    let all = {
        let mut conn = db.conn().await;
        memberships::table.select(MembershipRow::as_select()).load(&mut conn).await.unwrap()
    };
    let mut checked = 0;
    for account in demo_accounts() {
        let subject = subject_of(&db, &account.email).await;
        let role = subject.membership.role;
        let expected: BTreeSet<i64> = match authz.scope(role, ObjectKind::Membership, Action::Read) {
            Some(Scope::Own) => all.iter().filter(|m| m.user_id == subject.user_id).map(|m| m.id).collect(),
            Some(Scope::Province) => all
                .iter()
                .filter(|m| m.scope_province.is_some() && m.scope_province == subject.membership.province)
                .map(|m| m.id)
                .collect(),
            Some(other) => panic!("membership read has no meaning for scope {other}"),
            None => BTreeSet::new(),
        };
        let seen: BTreeSet<i64> = visible_memberships(&db, &authz, Some(&subject)).await.iter().map(|m| m.id).collect();
        assert_eq!(seen, expected, "{} as {role}", account.email);
        checked += 1;
    }
    assert!(checked >= 12);
    let roles: BTreeSet<&str> = authz.matrix().iter().map(|(r, ..)| r.as_str()).collect();
    assert_eq!(roles.len(), ambito::auth::Role::ALL.len(), "every role has a line in the policy");

    // Writes: every role tries to add a membership in its own province and in
    // the other one; the database allows exactly what the policy says.
    for account in demo_accounts() {
        let subject = subject_of(&db, &account.email).await;
        let scope = authz.scope(subject.membership.role, ObjectKind::Membership, Action::Write);
        for (province, municipality) in [("BG", "016008"), ("MI", "015146")] {
            let request = RequestDb::new(db.pool(), authz.settings(Some(&subject)));
            let user_id = subject.user_id;
            let written = request
                .run(move |c| {
                    Box::pin(async move {
                        let org = ambito::auth::OrgRef::Municipality(municipality.into());
                        accounts::grant(c, user_id, ambito::auth::Role::Municipality, &org).await
                    })
                })
                .await
                .is_ok();
            request.finish(false).await.unwrap();
            let allowed = scope == Some(Scope::Province) && subject.membership.province.as_deref() == Some(province);
            assert_eq!(written, allowed, "{} writing in {province}", account.email);
        }
    }
}

/// Every GraphQL type is public reference data or belongs to an object kind
/// that the policy names.
#[test]
fn every_graphql_type_is_covered_by_the_policy() {
    let sdl = ambito::graphql::sdl();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let authz = rt.block_on(Authorizer::embedded()).unwrap();
    let covered: BTreeSet<&str> = ObjectKind::ALL
        .iter()
        .filter(|k| authz.matrix().iter().any(|(_, o, ..)| o == *k))
        .flat_map(|k| k.graphql_types().iter().copied())
        .collect();
    for line in sdl.lines() {
        let Some(name) = line.strip_prefix("type ").and_then(|r| r.split_whitespace().next()) else { continue };
        if name.ends_with("Connection") || name.ends_with("Edge") {
            continue;
        }
        assert!(
            PUBLIC_GRAPHQL_TYPES.contains(&name) || covered.contains(name),
            "GraphQL type {name} is neither public nor covered by a policy line"
        );
    }
}

#[tokio::test]
async fn request_work_cannot_read_secrets() {
    let db = TestDb::demo().await;
    let authz = Authorizer::embedded().await.unwrap();
    let office = subject_of(&db, "ufficio.bg@ambito.invalid").await;
    for sql in [
        "SELECT password_hash FROM users LIMIT 1",
        "SELECT token_hash FROM sessions LIMIT 1",
        "SELECT token_hash FROM password_resets LIMIT 1",
        "UPDATE users SET password_hash = 'x'",
    ] {
        let request = RequestDb::new(db.pool(), authz.settings(Some(&office)));
        let outcome = request.run(move |c| Box::pin(diesel::sql_query(sql).execute(c))).await;
        request.finish(false).await.unwrap();
        let err = format!("{:?}", outcome.unwrap_err());
        assert!(err.contains("permission denied"), "{sql}: {err}");
    }
}

#[derive(QueryableByName, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct TenantRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    institution_code: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    province_code: String,
}

/// The registry's tables, unfiltered, as every demo account: each sees
/// exactly the rows its policy scope reaches (no more, and no fewer), and
/// cannot write a row for another school.
#[tokio::test]
async fn registry_tables_show_each_caller_exactly_its_scope() {
    let db = TestDb::demo().await;
    let authz = Authorizer::embedded().await.unwrap();
    let tables = [
        ("classes", ObjectKind::Class),
        ("pupils", ObjectKind::Pupil),
        ("support_requests", ObjectKind::SupportRequest),
        ("support_submissions", ObjectKind::SupportRequest),
        ("support_approvals", ObjectKind::SupportApproval),
    ];
    let mut admin = db.conn().await;
    for (table, kind) in tables {
        let sql = format!("SELECT institution_code, province_code FROM {table} ORDER BY 1, 2");
        let all: Vec<TenantRow> = diesel::sql_query(&sql).load(&mut admin).await.unwrap();
        assert!(!all.is_empty(), "the demo has {table}");
        for account in demo_accounts() {
            let subject = subject_of(&db, &account.email).await;
            let m = &subject.membership;
            let expected: Vec<TenantRow> = match authz.scope(m.role, kind, Action::Read) {
                Some(Scope::School) => all
                    .iter()
                    .filter(|r| m.org == ambito::auth::OrgRef::School(r.institution_code.clone()))
                    .cloned()
                    .collect(),
                Some(Scope::Province) => {
                    all.iter().filter(|r| m.province.as_deref() == Some(r.province_code.as_str())).cloned().collect()
                }
                Some(other) => panic!("{table} read has no meaning for scope {other}"),
                None => Vec::new(),
            };
            let request = RequestDb::new(db.pool(), authz.settings(Some(&subject)));
            let q = sql.clone();
            let seen: Vec<TenantRow> = request.run(move |c| Box::pin(diesel::sql_query(q).load(c))).await.unwrap();
            request.finish(false).await.unwrap();
            assert_eq!(seen, expected, "{table} as {}", account.email);
        }
    }

    // A school cannot move its pupil to another school, nor add a class there.
    let school = subject_of(&db, "bgic82100t@istruzione.it").await;
    for sql in [
        "UPDATE pupils SET institution_code = 'BGIC81900T' WHERE institution_code = 'BGIC82100T'",
        "INSERT INTO classes (school_year, institution_code, province_code, site_code, school_order, year_of_study,
             section, pupils, time_model_hours)
         SELECT 202627, institution_code, province_code, code, 'primaria', 1, 'Q', 20, 30 FROM sites
         WHERE institution_code <> 'BGIC82100T' AND province_code = 'BG' LIMIT 1",
    ] {
        let request = RequestDb::new(db.pool(), authz.settings(Some(&school)));
        let outcome = request.run(move |c| Box::pin(diesel::sql_query(sql).execute(c))).await;
        request.finish(false).await.unwrap();
        let err = format!("{:?}", outcome.unwrap_err());
        assert!(err.contains("row-level security"), "{sql}: {err}");
    }
}

#[derive(QueryableByName, Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct EnrolmentTenant {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    province_code: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    municipality_istat: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    origin: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    hub_code: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    institution_code: Option<String>,
}

/// The demo's refugee requests, unfiltered, as every demo account: each
/// sees exactly what its scope means (the municipality that entered a
/// request, the hub it is routed to, the school it is proposed to or
/// enrolled in, the office of its province), and no role can move a request
/// to another municipality or hub by writing the row directly.
#[tokio::test]
async fn enrolment_requests_show_each_caller_exactly_its_scope() {
    let db = TestDb::demo().await;
    let authz = Authorizer::embedded().await.unwrap();
    let sql = "SELECT id, province_code, municipality_istat, origin, hub_code, institution_code
               FROM enrolment_requests ORDER BY id";
    let mut admin = db.conn().await;
    let all: Vec<EnrolmentTenant> = diesel::sql_query(sql).load(&mut admin).await.unwrap();
    assert!(all.len() >= 300, "the demo has a few hundred requests");
    let mut seen_by_someone = 0;
    for account in demo_accounts() {
        let subject = subject_of(&db, &account.email).await;
        let m = &subject.membership;
        let code = m.org.code().map(str::to_owned);
        let expected: Vec<EnrolmentTenant> = all
            .iter()
            .filter(|r| match authz.scope(m.role, ObjectKind::EnrolmentRequest, Action::Read) {
                Some(Scope::Municipality) => Some(&r.municipality_istat) == code.as_ref() && r.origin == "municipality",
                Some(Scope::Territory) => Some(&r.hub_code) == code.as_ref(),
                Some(Scope::School) => r.institution_code.is_some() && r.institution_code == code,
                Some(Scope::Province) => Some(&r.province_code) == m.province.as_ref(),
                Some(Scope::Own | Scope::Region) => panic!("{:?} has no meaning for requests", m.role),
                None => false,
            })
            .cloned()
            .collect();
        let request = RequestDb::new(db.pool(), authz.settings(Some(&subject)));
        let seen: Vec<EnrolmentTenant> = request.run(move |c| Box::pin(diesel::sql_query(sql).load(c))).await.unwrap();
        request.finish(false).await.unwrap();
        assert_eq!(seen, expected, "enrolment_requests as {}", account.email);
        if m.role != ambito::auth::Role::Provincial {
            seen_by_someone += seen.len();
        }
    }
    assert!(seen_by_someone > 0, "the demo's municipalities and hubs have requests");

    for (who, sql) in [
        ("comune.milano@ambito.invalid", "UPDATE enrolment_requests SET municipality_istat = '015002'"),
        ("cti.mi1@ambito.invalid", "UPDATE enrolment_requests SET hub_code = 'CTI-BG-1', status = 'in_charge'"),
    ] {
        let subject = subject_of(&db, who).await;
        let request = RequestDb::new(db.pool(), authz.settings(Some(&subject)));
        let outcome = request.run(move |c| Box::pin(diesel::sql_query(sql).execute(c))).await;
        request.finish(false).await.unwrap();
        let err = format!("{:?}", outcome.unwrap_err());
        assert!(err.contains("row-level security"), "{sql}: {err}");
    }
}

/// The routing rule on the demo territory, every municipality of Milan's
/// province and every order and zone: the Polo START of the zone for Milan's
/// first cycle, otherwise the CTI of the municipality's ambit.
#[tokio::test]
async fn every_request_of_the_demo_territory_is_routed_to_exactly_its_hub() {
    use ambito::rules::order::SchoolOrder;
    use ambito::rules::refugees::route;
    let db = TestDb::demo().await;
    let mut conn = db.conn().await;
    let towns: Vec<(String, Option<String>)> = ambito::db::schema::municipalities::table
        .filter(ambito::db::schema::municipalities::province_code.eq("MI"))
        .select((ambito::db::schema::municipalities::istat_code, ambito::db::schema::municipalities::ambit_code))
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(towns.len(), 133);
    let mut routed = 0;
    for (istat, ambit) in towns {
        let (_, place) = ambito::db::refugees::place(&mut conn, &istat).await.unwrap().unwrap();
        let cti = format!("CTI-{}", ambit.expect("every municipality has an ambit"));
        for order in [
            SchoolOrder::Infanzia,
            SchoolOrder::Primaria,
            SchoolOrder::SecondariaPrimoGrado,
            SchoolOrder::SecondariaSecondoGrado,
        ] {
            for zone in (1..=9).map(Some).chain([None]) {
                let got = route(&place, order, zone);
                if istat == "015146" && order.is_first_cycle() {
                    match zone {
                        Some(z) => {
                            let i = ambito::demo::derive::START_ZONES.iter().position(|zs| zs.contains(&z)).unwrap();
                            assert_eq!(got.unwrap(), format!("START-MI-{}", i + 1), "Milano {order:?} zone {z}");
                        }
                        None => assert!(got.is_err(), "Milano's first cycle needs a zone"),
                    }
                } else {
                    assert_eq!(got.unwrap(), cti, "{istat} {order:?} {zone:?}");
                }
                routed += 1;
            }
        }
    }
    assert_eq!(routed, 133 * 4 * 10);
}

/// The request's transaction runs as `ambito_app` with each setting exactly
/// as given, quotes and backslashes included: the settings travel as
/// literals in the statement that begins the transaction.
#[tokio::test]
async fn request_settings_arrive_verbatim_as_the_app_role() {
    #[derive(diesel::QueryableByName)]
    struct Seen {
        #[diesel(sql_type = diesel::sql_types::Text)]
        who: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        odd: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        plain: String,
    }
    let db = TestDb::empty().await;
    let odd = r"it's \' \\ E'x'; SELECT 1 --";
    let request =
        RequestDb::new(db.pool(), vec![("ambito.odd".into(), odd.into()), ("ambito.plain".into(), "BG".into())]);
    let seen: Seen = request
        .run(|c| {
            Box::pin(
                diesel::sql_query(
                    "SELECT current_user::text AS who, current_setting('ambito.odd') AS odd, \
                     current_setting('ambito.plain') AS plain",
                )
                .get_result(c),
            )
        })
        .await
        .unwrap();
    request.finish(true).await.unwrap();
    assert_eq!((seen.who.as_str(), seen.odd.as_str(), seen.plain.as_str()), ("ambito_app", odd, "BG"));

    let bad = RequestDb::new(db.pool(), vec![("ambito.odd".into(), "a\0b".into())]);
    assert!(bad.run(|c| Box::pin(diesel::sql_query("SELECT 1").execute(c))).await.is_err());
}

/// The SECURITY DEFINER functions see past row security, so each checks
/// the caller's scope before it answers: the possible duplicates of a
/// request only for a hub or the office of its province, the events naming
/// a pupil only for the office of its province, whether a tax code is
/// registered only for a caller who writes pupils in that province.
#[tokio::test]
async fn the_definer_functions_answer_only_within_the_callers_scope() {
    #[derive(QueryableByName)]
    struct Answer {
        #[diesel(sql_type = diesel::sql_types::Text)]
        a: String,
    }
    let app = TestApp::demo().await;
    let db = app.db();
    let mut owner = db.conn().await;
    // The demo's two likely duplicates (Milan's and another town's), and a Bergamo pupil read by its school.
    let twin: Answer = diesel::sql_query(
        "SELECT min(k.request_id)::text AS a FROM enrolment_identity_keys k
         JOIN enrolment_identity_keys o ON o.identity = k.identity AND o.request_id <> k.request_id",
    )
    .get_result(&mut owner)
    .await
    .unwrap();
    let school = app.login("bgic82100t@istruzione.it").await;
    app.query_as(&school, "{ pupils(first: 1) { nodes { taxCode } } }", json!({})).await;
    let pupil: Answer = diesel::sql_query(
        "SELECT p.id::text || ' ' || p.tax_code || ' ' || p.school_year::text AS a FROM pupils p
         JOIN audit_event_pupils e ON e.pupil_id = p.id LIMIT 1",
    )
    .get_result(&mut owner)
    .await
    .unwrap();
    let parts: Vec<&str> = pupil.a.split(' ').collect();
    let (pupil_id, tax, year) = (parts[0].to_owned(), parts[1].to_owned(), parts[2].to_owned());
    let authz = Authorizer::embedded().await.unwrap();
    let ask = |email: &str, sql: String| {
        let (authz, email) = (authz.clone(), email.to_owned());
        async move {
            let who = subject_of(db, &email).await;
            let request = RequestDb::new(db.pool(), authz.settings(Some(&who)));
            let a = request
                .run(move |c| Box::pin(async move { diesel::sql_query(sql).get_result::<Answer>(c).await }))
                .await
                .unwrap();
            request.finish(false).await.unwrap();
            a.a
        }
    };
    let duplicates = format!("SELECT ambito_enrolment_duplicates({})::text AS a", twin.a);
    assert_ne!(ask("ufficio.mi@ambito.invalid", duplicates.clone()).await, "{}", "Milan's office sees the link");
    for outside in ["ufficio.bg@ambito.invalid", "comune.milano@ambito.invalid", "cti.bg1@ambito.invalid"] {
        assert_eq!(ask(outside, duplicates.clone()).await, "{}", "{outside} learns nothing");
    }
    let naming = format!("SELECT ambito_audit_events_naming({pupil_id})::text AS a");
    assert_ne!(ask("ufficio.bg@ambito.invalid", naming.clone()).await, "{}");
    for outside in ["ufficio.mi@ambito.invalid", "bgic82100t@istruzione.it"] {
        assert_eq!(ask(outside, naming.clone()).await, "{}", "{outside} learns nothing");
    }
    let registered =
        |province: &str| format!("SELECT ambito_pupil_registered('{province}', {year}, '{tax}', NULL)::text AS a");
    let (other_email, _) = crate::registry::other_school();
    assert_eq!(ask(&other_email, registered("BG")).await, "true", "another school of the province writing pupils");
    assert_eq!(ask("ufficio.mi@ambito.invalid", registered("BG")).await, "false", "another province's office");
    assert_eq!(ask("comune.milano@ambito.invalid", registered("BG")).await, "false", "no pupil scope");
}
