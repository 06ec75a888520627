//! Query plans at scale. On the province-scale benchmark data (`ambito
//! seed`), the scoped list queries of the benchmark's W1 (a school's pupils)
//! and W2 (a hub's open requests), and the office's trail of a pupil, built
//! exactly as the server builds them and run under the caller's row
//! security, read through indexes: never a
//! sequential scan of a big table. A plan regression fails here, not on
//! deadline day.

use std::path::Path;

use ambito::auth::Subject;
use ambito::auth::passwords::Passwords;
use ambito::authz::{Action, Authorizer, Caller, ObjectKind};
use ambito::db::audit::{self, TrailFilter};
use ambito::db::refugees::{self, EnrolmentFilter};
use ambito::db::registry::{self, PupilFilter};
use ambito::db::territory::PageRequest;
use ambito::db::{Explain, RequestDb};
use ambito::seed::{self, BENCH_PASSWORD, Scale};
use diesel_async::RunQueryDsl;
use serde_json::Value;

use crate::harness::TestDb;
use crate::refugees::code_where;
use crate::row_security::subject_of;

/// Tables that grow with the country: a sequential scan of one is a regression.
const BIG: [&str; 7] = [
    "pupils",
    "classes",
    "support_requests",
    "support_approvals",
    "enrolment_requests",
    "enrolment_transitions",
    "audit_events",
];

/// Relations a plan reads with a sequential scan.
fn seq_scans(node: &Value, out: &mut Vec<String>) {
    if node["Node Type"] == "Seq Scan" {
        out.push(node["Relation Name"].as_str().unwrap_or("?").to_owned());
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        seq_scans(child, out);
    }
}

/// The caller `email` acts as, with the scope the policies give it on `kind`.
async fn caller(db: &TestDb, authz: &Authorizer, email: &str, kind: ObjectKind) -> (Subject, Caller) {
    let subject = subject_of(db, email).await;
    let scope = authz.scope(subject.membership.role, kind, Action::Read).unwrap();
    let caller = Caller::new(&subject, scope);
    (subject, caller)
}

/// The plan of `query` as `subject` would run it, under its row security.
async fn plan<Q>(db: &TestDb, authz: &Authorizer, subject: &Subject, query: Q) -> Value
where
    Q: diesel::query_builder::QueryFragment<diesel::pg::Pg> + diesel::query_builder::QueryId + Send + 'static,
{
    let request = RequestDb::new(db.pool(), authz.settings(Some(subject)));
    let text: String = request.run(move |c| Box::pin(async move { Explain(query).get_result(c).await })).await.unwrap();
    request.finish(false).await.unwrap();
    let plans: Value = serde_json::from_str(&text).unwrap();
    plans[0]["Plan"].clone()
}

#[tokio::test]
async fn scoped_lists_read_through_indexes_at_scale() {
    let db = TestDb::empty().await;
    {
        let mut conn = db.conn().await;
        let hash = Passwords::new().hash(BENCH_PASSWORD).await.unwrap();
        seed::generate(&mut conn, Scale::Province, 1, Path::new("."), &hash).await.unwrap();
    }
    // Process 4's campaign: every form submitted through the rules, with 20
    // effective preferences (schools, municipalities, the province).
    let submitted =
        code_where(&db, "SELECT count(*)::text AS code FROM mobility_applications WHERE state = 'submitted'");
    assert_eq!(submitted.await, "1500");
    let effective = code_where(
        &db,
        "SELECT min(n)::text AS code FROM (SELECT count(*) AS n FROM mobility_applications a,
             jsonb_array_elements(a.assessment -> 'preferences') p WHERE (p ->> 'effective')::boolean GROUP BY a.id) x",
    );
    assert_eq!(effective.await, "20");
    let posts = code_where(&db, "SELECT sum(count)::text AS code FROM mobility_vacancies");
    assert_eq!(posts.await, "2500");
    // Process 3: a round at every state institution of Bergamo with
    // primaria sites, each with applications (W6 ranks them).
    let rounds = code_where(&db, "SELECT count(*)::text AS code FROM admission_rounds").await;
    let schools = code_where(
        &db,
        "SELECT count(DISTINCT s.institution_code)::text AS code FROM sites s
         JOIN institutions i ON i.code = s.institution_code AND i.kind = 'state'
         WHERE s.school_order = 'primaria' AND s.province_code = 'BG'",
    );
    assert_eq!(rounds, schools.await);
    assert_ne!(rounds, "0");
    let empty = code_where(
        &db,
        "SELECT count(*)::text AS code FROM admission_rounds r
         WHERE NOT EXISTS (SELECT 1 FROM admission_applications a WHERE a.round_id = r.id)",
    );
    assert_eq!(empty.await, "0");
    let authz = Authorizer::embedded().await.unwrap();
    let page = PageRequest { after: None, limit: 51 };

    let school =
        code_where(&db, "SELECT institution_code AS code FROM pupils GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").await;
    // The filters the resolvers build for these callers.
    let (subject, who) =
        caller(&db, &authz, &format!("{}@istruzione.it", school.to_lowercase()), ObjectKind::Pupil).await;
    let own = PupilFilter { within: who.within(), ..Default::default() };
    let w1_page = plan(&db, &authz, &subject, registry::pupils_page_query(&own, &page)).await;
    let w1 = plan(&db, &authz, &subject, registry::pupils_page_along_query(&own, &page)).await;

    let hub =
        code_where(&db, "SELECT hub_code AS code FROM enrolment_requests GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
            .await;
    let (subject, who) =
        caller(&db, &authz, &format!("{}@bench.invalid", hub.to_lowercase()), ObjectKind::EnrolmentRequest).await;
    let open = EnrolmentFilter {
        within: who.within(),
        statuses: Some(["submitted", "in_charge", "proposed", "declined"].map(String::from).to_vec()),
        ..Default::default()
    };
    let w2_page = plan(&db, &authz, &subject, refugees::list_query(&open, &page)).await;
    let w2 = plan(&db, &authz, &subject, refugees::list_along_query(&open, &page)).await;

    // The office reading the trail of a pupil that was read many times.
    let pupil: i64 = code_where(
        &db,
        "SELECT pupil_ids[1]::text AS code FROM audit_events WHERE pupil_ids <> '{}' ORDER BY id DESC LIMIT 1",
    )
    .await
    .parse()
    .unwrap();
    let office = code_where(
        &db,
        &format!(
            "SELECT u.email AS code FROM users u JOIN memberships m ON m.user_id = u.id
             JOIN pupils p ON p.province_code = m.province_code WHERE p.id = {pupil} AND m.role = 'provincial' LIMIT 1"
        ),
    )
    .await;
    let (subject, _) = caller(&db, &authz, &office, ObjectKind::AuditEvent).await;
    let by_pupil = TrailFilter { pupil_id: Some(pupil), ..Default::default() };
    let trail = plan(&db, &authz, &subject, audit::trail_page_query(&by_pupil, None, 21)).await;

    for (name, p) in [
        ("W1 school pupils", &w1_page),
        ("W1 with classes, sites, requests", &w1),
        ("W2 hub queue", &w2_page),
        ("W2 with municipalities", &w2),
        ("the trail of a pupil", &trail),
    ] {
        let mut scans = Vec::new();
        seq_scans(p, &mut scans);
        scans.retain(|t| BIG.contains(&t.as_str()));
        assert!(scans.is_empty(), "{name} scans {scans:?} sequentially:\n{p:#}");
    }
}
