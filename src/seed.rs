//! Benchmark data at province or national scale (`ambito seed`): the real
//! territory from the open data, then invented classes, pupils with
//! disabilities and their support requests and approvals, refugee minors'
//! requests in every state, audit rows, a mobility campaign, Bergamo's
//! admission rounds, and an account for every organisation. The rows of
//! processes 1 and 2 are generated inside PostgreSQL a set at a time
//! (`INSERT … SELECT` over `generate_series`) from a seed mixed into every
//! choice (`md5`); those of processes 3 and 4 row by row, through the
//! demo's generators and the rules they apply. The same seed gives the same
//! rows.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::demo::registry::{BOYS, GIRLS, SURNAMES};

mod admissions;
mod mobility;
use crate::demo::{self, OpenData};
use crate::rules::school_year::SchoolYear;

/// How much data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    /// The demo's two provinces (Bergamo and Milano, files built in): about
    /// a twentieth of the country.
    Province,
    /// Every province, from the published national files (`--open-data`).
    National,
}

impl Scale {
    /// Refugee minors' requests and audit rows to generate.
    fn sizes(self) -> (i64, i64) {
        match self {
            Scale::Province => (2_500, 50_000),
            Scale::National => (50_000, 1_000_000),
        }
    }

    /// Process 4: submitted forms of 20 preferences, and free posts (the
    /// national figures are issue 21's campaign).
    fn mobility(self) -> (usize, usize) {
        match self {
            Scale::Province => (1_500, 2_500),
            Scale::National => (30_000, 50_000),
        }
    }
}

/// What was generated, and how long it took.
#[derive(Debug, Default)]
pub struct Report {
    pub counts: Vec<(&'static str, i64)>,
    pub took: Duration,
}

/// The password every generated account shares: benchmark data only.
pub const BENCH_PASSWORD: &str = "ambito-bench-password";

const MINORS: [&str; 12] =
    ["Olena", "Andrii", "Mariia", "Ahmed", "Fatima", "Yusuf", "Amina", "Ivan", "Sofiia", "Omar", "Leila", "Denys"];
const MINOR_SURNAMES: [&str; 10] =
    ["Shevchenko", "Bondarenko", "Kovalenko", "Haddad", "Mansour", "Diallo", "Traore", "Melnyk", "Ali", "Nasser"];
const NATIONS: [&str; 8] = ["UA", "AF", "SY", "ML", "GN", "EG", "PK", "NG"];

/// Generates the data set into an empty, migrated database, in one transaction.
pub async fn generate(
    conn: &mut AsyncPgConnection,
    scale: Scale,
    seed: u64,
    data_dir: &Path,
    password_hash: &str,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let national;
    let files = match scale {
        Scale::Province => demo::EMBEDDED,
        Scale::National => {
            let read = |f: &str| {
                let path = data_dir.join(f);
                std::fs::read(&path).with_context(|| format!("reading {} (give --open-data)", path.display()))
            };
            national = (
                read("istat-comuni-2024.csv")?,
                read("mim-scuole-paritarie-2023-24.csv")?,
                read("mim-alunni-per-sede-2024-25.csv")?,
            );
            OpenData { istat: &national.0, non_state: &national.1, pupils: &national.2 }
        }
    };
    let hash = password_hash.to_owned();
    let counts = conn
        .transaction::<_, anyhow::Error, _>(async move |conn| {
            let taken: i64 = scalar(conn, "SELECT count(*) AS n FROM institutions").await?;
            if taken > 0 {
                bail!("the database already has data: seed a new, empty one (benchmark data only)");
            }
            demo::load_territory(conn, &files, false).await?;
            let year = SchoolYear::of(crate::db::registry::today(conn).await?);
            rows(conn, seed, scale, year, &hash).await
        })
        .await?;
    diesel::sql_query("ANALYZE").execute(conn).await?;
    Ok(Report { counts, took: started.elapsed() })
}

async fn scalar(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<i64> {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    Ok(diesel::sql_query(sql).get_result::<N>(conn).await?.n)
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Every generated row, after the territory.
async fn rows(
    conn: &mut AsyncPgConnection,
    seed: u64,
    scale: Scale,
    year: SchoolYear,
    hash: &str,
) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let (requests, audit) = scale.sizes();
    let (stored, start) = (year.stored(), year.start_year());
    // A number in [0, n) from a key: md5 is the same on every server.
    diesel::sql_query(format!(
        "CREATE FUNCTION pg_temp.rnd(k text, n bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS
         $$ SELECT (('x' || substr(md5('{seed}:' || k), 1, 15))::bit(60)::bigint) % n $$"
    ))
    .execute(conn)
    .await?;

    // An account for every organisation, all with the same password.
    for sql in [
        "INSERT INTO users (email, password_hash, password_changed_at)
         SELECT 'ufficio.' || lower(code) || '@bench.invalid', $1, now() FROM provinces p
         WHERE EXISTS (SELECT 1 FROM institutions i WHERE i.province_code = p.code)",
        "INSERT INTO users (email, password_hash, password_changed_at)
         SELECT lower(code) || '@istruzione.it', $1, now() FROM institutions WHERE kind = 'state'",
        "INSERT INTO users (email, password_hash, password_changed_at)
         SELECT 'comune.' || istat_code || '@bench.invalid', $1, now() FROM municipalities WHERE ambit_code IS NOT NULL",
        "INSERT INTO users (email, password_hash, password_changed_at)
         SELECT lower(code) || '@bench.invalid', $1, now() FROM hubs",
    ] {
        diesel::sql_query(sql).bind::<Text, _>(hash).execute(conn).await?;
    }
    for sql in [
        "INSERT INTO memberships (user_id, role, province_code) SELECT u.id, 'provincial', p.code
         FROM provinces p JOIN users u ON u.email = 'ufficio.' || lower(p.code) || '@bench.invalid'",
        "INSERT INTO memberships (user_id, role, institution_code) SELECT u.id, 'school', i.code
         FROM institutions i JOIN users u ON u.email = lower(i.code) || '@istruzione.it' WHERE i.kind = 'state'",
        "INSERT INTO memberships (user_id, role, municipality_istat) SELECT u.id, 'municipality', m.istat_code
         FROM municipalities m JOIN users u ON u.email = 'comune.' || m.istat_code || '@bench.invalid'",
        "INSERT INTO memberships (user_id, role, hub_code) SELECT u.id, 'cti_hub', h.code
         FROM hubs h JOIN users u ON u.email = lower(h.code) || '@bench.invalid'",
    ] {
        diesel::sql_query(sql).execute(conn).await?;
    }

    // Classes: one per 21 pupils of a state site, over its years of study.
    diesel::sql_query(format!(
        "INSERT INTO classes (school_year, institution_code, province_code, site_code, school_order, year_of_study,
             section, pupils, time_model_hours)
         SELECT {stored}, s.institution_code, s.province_code, s.code, s.school_order, 1 + k % y.years,
             CASE WHEN k / y.years < 26 THEN chr(65 + k / y.years)
                  ELSE chr(64 + (k / y.years) / 26) || chr(65 + (k / y.years) % 26) END,
             least(35, greatest(1, coalesce(s.pupils, s.pupils_at_most, 1) / n.classes)),
             CASE s.school_order WHEN 'infanzia' THEN 40 WHEN 'secondaria_primo_grado' THEN 30
                  WHEN 'secondaria_secondo_grado' THEN 32
                  ELSE CASE WHEN pg_temp.rnd('tm:' || s.code || ':' || k, 3) = 0 THEN 40 ELSE 27 END END
         FROM sites s
         JOIN institutions i ON i.code = s.institution_code AND i.kind = 'state'
         JOIN (VALUES ('infanzia', 3), ('primaria', 5), ('secondaria_primo_grado', 3),
                      ('secondaria_secondo_grado', 5)) AS y(school_order, years) ON y.school_order = s.school_order
         CROSS JOIN LATERAL (SELECT least(200, greatest(1, round(coalesce(s.pupils, s.pupils_at_most, 1) / 21.0)))::int
             AS classes) AS n
         CROSS JOIN LATERAL generate_series(0, n.classes - 1) AS k"
    ))
    .execute(conn)
    .await?;

    // Pupils with a disability: none, one or two per class (0.9 on average).
    diesel::sql_query(format!(
        "INSERT INTO pupils (school_year, institution_code, province_code, class_id, first_name, last_name, tax_code,
             birth_date, sex, severity, certified_on, revision_on, certified_by)
         SELECT {stored}, c.institution_code, c.province_code, c.id,
             CASE WHEN x.sex = 'F' THEN ($1::text[])[1 + pg_temp.rnd('gn:' || x.key, {girls})]
                  ELSE ($2::text[])[1 + pg_temp.rnd('bn:' || x.key, {boys})] END,
             ($3::text[])[1 + pg_temp.rnd('sn:' || x.key, {surnames})],
             'Z' || upper(lpad(to_hex(row_number() OVER (ORDER BY c.id, x.j)), 15, '0')),
             make_date({start} - (CASE c.school_order WHEN 'infanzia' THEN 3 WHEN 'primaria' THEN 6
                                      WHEN 'secondaria_primo_grado' THEN 11 ELSE 14 END) - c.year_of_study + 1,
                       1 + pg_temp.rnd('bm:' || x.key, 12)::int, 1 + pg_temp.rnd('bd:' || x.key, 28)::int),
             x.sex, CASE WHEN pg_temp.rnd('sv:' || x.key, 3) = 0 THEN 'c3' ELSE 'c1' END,
             make_date({start} - 1 - pg_temp.rnd('cy:' || x.key, 4)::int, 1 + pg_temp.rnd('cm:' || x.key, 12)::int, 1),
             CASE WHEN pg_temp.rnd('rv:' || x.key, 2) = 0 THEN make_date({start} + 2, 6, 30) END,
             'Commissione medica INPS - provincia di ' || c.province_code
         FROM classes c
         CROSS JOIN LATERAL (SELECT CASE WHEN r < 3 THEN 0 WHEN r < 8 THEN 1 ELSE 2 END AS n
                             FROM pg_temp.rnd('np:' || c.id, 10) AS r) AS n
         CROSS JOIN LATERAL (SELECT j, c.id || ':' || j AS key,
                                    CASE WHEN pg_temp.rnd('sx:' || c.id || ':' || j, 2) = 0 THEN 'F' ELSE 'M' END AS sex
                             FROM generate_series(1, n.n) AS j) AS x",
        girls = GIRLS.len(),
        boys = BOYS.len(),
        surnames = SURNAMES.len(),
    ))
    .bind::<Array<Text>, _>(texts(GIRLS))
    .bind::<Array<Text>, _>(texts(BOYS))
    .bind::<Array<Text>, _>(texts(SURNAMES))
    .execute(conn)
    .await?;

    // The support registry's collection window is open in every province, so
    // that schools that have not submitted can still change their requests.
    diesel::sql_query(format!(
        "INSERT INTO collection_windows (province_code, process, school_year, opens_on, closes_on, updated_by)
         SELECT p.code, 'support_registry', {stored}, current_date - 30, current_date + 60, u.id
         FROM provinces p JOIN users u ON u.email = 'ufficio.' || lower(p.code) || '@bench.invalid'"
    ))
    .execute(conn)
    .await?;

    // Requests of support hours for every pupil; the office approved most of them;
    // most schools submitted.
    for sql in [
        "INSERT INTO support_requests (pupil_id, institution_code, province_code, ratio, hours)
         SELECT p.id, p.institution_code, p.province_code, r.ratio,
             CASE WHEN r.ratio = 1 THEN 18 + pg_temp.rnd('h:' || p.id, 8) ELSE 6 + pg_temp.rnd('h:' || p.id, 12) END
         FROM pupils p CROSS JOIN LATERAL (SELECT CASE WHEN p.severity = 'c3' THEN 1
             ELSE 2 + pg_temp.rnd('r:' || p.id, 3)::int END AS ratio) AS r"
            .to_owned(),
        format!(
            "INSERT INTO support_submissions (institution_code, school_year, province_code, state, submitted_by)
             SELECT i.code, {stored}, i.province_code, 'submitted', u.id
             FROM institutions i JOIN users u ON u.email = lower(i.code) || '@istruzione.it'
             WHERE i.kind = 'state' AND pg_temp.rnd('sub:' || i.code, 10) < 7
               AND EXISTS (SELECT 1 FROM pupils p WHERE p.institution_code = i.code)"
        ),
        "INSERT INTO support_approvals (pupil_id, institution_code, province_code, hours, approved_by)
         SELECT r.pupil_id, r.institution_code, r.province_code, greatest(0, r.hours - pg_temp.rnd('a:' || r.pupil_id, 4)),
             u.id
         FROM support_requests r
         JOIN support_submissions s ON s.institution_code = r.institution_code
         JOIN users u ON u.email = 'ufficio.' || lower(r.province_code) || '@bench.invalid'
         WHERE pg_temp.rnd('ap:' || r.pupil_id, 10) < 8"
            .to_owned(),
    ] {
        diesel::sql_query(sql).execute(conn).await?;
    }

    // Refugee minors' requests, spread over the municipalities of every
    // ambit, routed to the ambit's CTI, in every state. Without their change
    // notices: no server listens to an empty database being filled, and
    // 50,000 notices in one transaction would only fill the queue.
    diesel::sql_query("ALTER TABLE enrolment_requests DISABLE TRIGGER enrolment_requests_changed")
        .execute(conn)
        .await?;
    diesel::sql_query(format!(
        "WITH towns AS (
             SELECT array_agg(istat_code ORDER BY istat_code) AS codes FROM municipalities WHERE ambit_code IS NOT NULL),
         schools AS (
             SELECT m.ambit_code, array_agg(DISTINCT i.code ORDER BY i.code) AS codes
             FROM institutions i JOIN municipalities m ON m.istat_code = i.municipality_istat
             WHERE i.kind = 'state' GROUP BY m.ambit_code),
         picked AS (
             SELECT g, t.codes[1 + pg_temp.rnd('t:' || g, array_length(t.codes, 1))] AS istat,
                 (ARRAY['infanzia', 'primaria', 'secondaria_primo_grado', 'secondaria_secondo_grado'])
                     [1 + pg_temp.rnd('o:' || g, 4)] AS school_order,
                 (ARRAY['submitted', 'in_charge', 'proposed', 'declined', 'enrolled', 'enrolled', 'withdrawn',
                        'submitted', 'in_charge', 'enrolled'])[1 + pg_temp.rnd('s:' || g, 10)] AS status,
                 pg_temp.rnd('d:' || g, 300)::int AS days_ago
             FROM generate_series(1, $1) AS g, towns t)
         INSERT INTO enrolment_requests (province_code, municipality_istat, origin, hub_code, institution_code, status,
             version, school_year, first_name, last_name, birth_date, sex, nationality, arrived_on, languages,
             special_needs, guardian_name, guardian_phone, address, school_order, year_of_study, created_by,
             created_at, updated_at, enrolled_at)
         SELECT m.province_code, p.istat, 'municipality', 'CTI-' || m.ambit_code,
             CASE WHEN p.status IN ('proposed', 'enrolled') THEN s.codes[1 + pg_temp.rnd('i:' || p.g, array_length(s.codes, 1))] END,
             p.status, CASE p.status WHEN 'submitted' THEN 1 WHEN 'in_charge' THEN 2 WHEN 'withdrawn' THEN 2
                 WHEN 'proposed' THEN 3 ELSE 4 END,
             {stored}, ($2::text[])[1 + pg_temp.rnd('f:' || p.g, {minors})],
             ($3::text[])[1 + pg_temp.rnd('l:' || p.g, {minor_surnames})], b.born,
             CASE WHEN pg_temp.rnd('x:' || p.g, 2) = 0 THEN 'F' ELSE 'M' END,
             ($4::text[])[1 + pg_temp.rnd('n:' || p.g, {nations})], current_date - p.days_ago - 20, '{{uk}}',
             pg_temp.rnd('sn:' || p.g, 10) = 0, 'Famiglia ' || p.g, '+39 333 ' || lpad(p.g::text, 7, '0'),
             'Via Roma ' || (1 + pg_temp.rnd('a:' || p.g, 200)), p.school_order, y.year, u.id,
             now() - make_interval(days => p.days_ago), now() - make_interval(days => p.days_ago / 2),
             CASE WHEN p.status = 'enrolled' THEN now() - make_interval(days => p.days_ago / 2) END
         FROM picked p
         JOIN municipalities m ON m.istat_code = p.istat
         JOIN users u ON u.email = 'comune.' || p.istat || '@bench.invalid'
         JOIN schools s ON s.ambit_code = m.ambit_code
         CROSS JOIN LATERAL (SELECT CASE p.school_order WHEN 'infanzia' THEN 1 + pg_temp.rnd('y:' || p.g, 3)
                 WHEN 'secondaria_primo_grado' THEN 1 + pg_temp.rnd('y:' || p.g, 3)
                 ELSE 1 + pg_temp.rnd('y:' || p.g, 5) END::int AS year) AS y
         CROSS JOIN LATERAL (SELECT make_date({start} - (CASE p.school_order WHEN 'infanzia' THEN 3 WHEN 'primaria' THEN 6
                 WHEN 'secondaria_primo_grado' THEN 11 ELSE 14 END) - y.year + 1,
                 1 + pg_temp.rnd('bm:' || p.g, 12)::int, 1 + pg_temp.rnd('bd:' || p.g, 28)::int) AS born) AS b",
        minors = MINORS.len(),
        minor_surnames = MINOR_SURNAMES.len(),
        nations = NATIONS.len(),
    ))
    .bind::<BigInt, _>(requests)
    .bind::<Array<Text>, _>(texts(&MINORS))
    .bind::<Array<Text>, _>(texts(&MINOR_SURNAMES))
    .bind::<Array<Text>, _>(texts(&NATIONS))
    .execute(conn)
    .await?;
    diesel::sql_query("ALTER TABLE enrolment_requests ENABLE TRIGGER enrolment_requests_changed").execute(conn).await?;
    // Their recorded path: the submission, then the move that led to the state.
    diesel::sql_query(
        "INSERT INTO enrolment_transitions (request_id, province_code, municipality_istat, origin, hub_code,
             institution_code, action, from_status, to_status, user_id, at)
         SELECT r.id, r.province_code, r.municipality_istat, r.origin, r.hub_code, NULL, 'submit', NULL, 'submitted',
             r.created_by, r.created_at
         FROM enrolment_requests r
         UNION ALL
         SELECT r.id, r.province_code, r.municipality_istat, r.origin, r.hub_code, r.institution_code,
             CASE r.status WHEN 'in_charge' THEN 'take_in_charge' WHEN 'proposed' THEN 'propose'
                 WHEN 'declined' THEN 'decline' WHEN 'enrolled' THEN 'confirm' ELSE 'withdraw' END,
             CASE r.status WHEN 'in_charge' THEN 'submitted' WHEN 'proposed' THEN 'in_charge'
                 WHEN 'declined' THEN 'proposed' WHEN 'enrolled' THEN 'proposed' ELSE 'submitted' END,
             r.status, r.created_by, r.updated_at
         FROM enrolment_requests r WHERE r.status <> 'submitted'",
    )
    .execute(conn)
    .await?;

    // The audit trail: schools reading their pupils' identities.
    diesel::sql_query(
        "WITH n AS (SELECT count(*) AS pupils FROM pupils)
         INSERT INTO audit_events (at, user_id, membership_id, role, action, object_kind, pupil_ids,
             province_code, institution_code, fields)
         SELECT now() - make_interval(mins => g::int % 100000), m.user_id, m.id, 'school', 'read', 'pupil',
             ARRAY[p.id], p.province_code, p.institution_code, '{firstName,lastName,taxCode}'
         FROM n, generate_series(1, $1) AS g
         JOIN pupils p ON p.id = 1 + pg_temp.rnd('au:' || g, (SELECT pupils FROM n))
         JOIN memberships m ON m.institution_code = p.institution_code AND m.role = 'school'",
    )
    .bind::<BigInt, _>(audit)
    .execute(conn)
    .await?;

    diesel::sql_query(format!(
        "INSERT INTO app_meta (key, value) VALUES ('seed', '{}:{seed}')",
        if scale == Scale::National { "national" } else { "province" }
    ))
    .execute(conn)
    .await?;

    // Process 4, acting as an office (the forms' audit rows name a user).
    diesel::sql_query(
        "SELECT set_config('ambito.user_id', (SELECT min(id)::text FROM users WHERE email LIKE 'ufficio.%'), true)",
    )
    .execute(conn)
    .await?;
    let (forms, posts) = scale.mobility();
    let mut counts = mobility::campaign(conn, seed, start, forms, posts).await?;
    counts.extend(admissions::rounds(conn, seed, chrono::Utc::now()).await?);
    for table in [
        "institutions",
        "sites",
        "classes",
        "pupils",
        "support_requests",
        "support_approvals",
        "enrolment_requests",
        "enrolment_transitions",
        "audit_events",
        "users",
    ] {
        counts.push((table, scalar(conn, &format!("SELECT count(*) AS n FROM {table}")).await?));
    }
    Ok(counts)
}
