//! Demo accounts: one or more of every role, each with a fresh random
//! password, listed in `demo-accounts.json` in the data dir.

use anyhow::Context as _;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::auth::passwords::Passwords;
use crate::auth::{OrgRef, Role, tokens};
use crate::db::accounts;
use crate::db::schema::{institutions, users};

#[derive(Debug, Clone, Serialize)]
pub struct DemoAccount {
    pub email: String,
    pub password: String,
    /// `role` and `organization` of every membership; the first is used at login.
    pub role: String,
    pub organization: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_memberships: Vec<DemoMembership>,
    /// The personal code of the teacher enabled in person (seed 004).
    #[serde(rename = "personalCode", skip_serializing_if = "Option::is_none")]
    pub personal_code: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DemoMembership {
    pub role: String,
    pub organization: Option<String>,
}

/// The teacher the demo enables in person at Bergamo's office; the other
/// demo teacher is registered but not enabled yet.
const ENABLED_TEACHER: &str = "docente@ambito.invalid";

/// Enables `user` as Bergamo's office would after seeing an identity card,
/// with a fresh personal code; returns the code.
async fn enable_in_person(conn: &mut AsyncPgConnection, passwords: &Passwords, user: i64) -> anyhow::Result<String> {
    let code = crate::usecases::accounts::enabling::fresh_code().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let hash = passwords.hash(&code).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    diesel::sql_query(
        "WITH office AS (SELECT m.user_id, m.id FROM memberships m JOIN users u ON u.id = m.user_id
                         WHERE u.email = 'ufficio.bg@ambito.invalid' AND m.role = 'provincial'),
              enabled AS (UPDATE users SET enabled_at = now(), enabled_province = 'BG', personal_code_hash = $2,
                                           personal_code_set_at = now() WHERE id = $1 RETURNING id)
         INSERT INTO account_enablings (user_id, province_code, enabled_by, membership_id, document_kind,
                                        document_last4, checked_on)
         SELECT enabled.id, 'BG', office.user_id, office.id, 'carta_identita', 'X042', current_date
         FROM enabled, office",
    )
    .bind::<diesel::sql_types::BigInt, _>(user)
    .bind::<diesel::sql_types::Text, _>(&hash)
    .execute(conn)
    .await?;
    Ok(code)
}

/// A role and the code of its organisation.
type Grant = (Role, Option<String>);

/// The first state comprehensive institute of a province other than `except`.
async fn an_institute(conn: &mut AsyncPgConnection, province: &str, except: &str) -> QueryResult<String> {
    institutions::table
        .filter(institutions::province_code.eq(province))
        .filter(institutions::kind.eq("state"))
        .filter(institutions::code.like(format!("{province}IC%")))
        .filter(institutions::code.ne(except))
        .order(institutions::code)
        .select(institutions::code)
        .first(conn)
        .await
}

/// The first state institution matching a territory query, for the refugee process's accounts.
async fn first_code(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<String> {
    #[derive(QueryableByName)]
    struct Code {
        #[diesel(sql_type = diesel::sql_types::Text)]
        code: String,
    }
    let r: Code = diesel::sql_query(sql).get_result(conn).await?;
    Ok(r.code)
}

/// Creates the demo accounts (replacing earlier ones with the same e-mail).
pub async fn create(conn: &mut AsyncPgConnection, passwords: &Passwords) -> anyhow::Result<Vec<DemoAccount>> {
    let bg_school = "BGIC82100T".to_owned();
    let bg_other = an_institute(conn, "BG", &bg_school).await?;
    let mi_school = an_institute(conn, "MI", "").await?;
    // Process 2: a school of Polo START 1, a Milan high school (CTI of Milan
    // city), and the CTI of Abbiategrasso's ambit with a primary school of it.
    // Codes are checked by the registry's constraint ([A-Z0-9]), so they can be inlined.
    let start_school = first_code(
        conn,
        &format!(
            "SELECT min(s.institution_code) AS code FROM hub_sites h JOIN sites s ON s.code = h.site_code
             WHERE h.hub_code = 'START-MI-1' AND s.school_order = 'primaria' AND s.institution_code <> '{mi_school}'"
        ),
    )
    .await?;
    let city_high_school = first_code(
        conn,
        &format!(
            "SELECT min(s.institution_code) AS code FROM sites s JOIN institutions i ON i.code = s.institution_code
             WHERE s.municipality_istat = '015146' AND s.school_order = 'secondaria_secondo_grado'
               AND i.kind = 'state' AND i.code <> '{mi_school}'"
        ),
    )
    .await?;
    let ambit_hub = first_code(
        conn,
        "SELECT h.code FROM hubs h JOIN municipalities m ON m.ambit_code = h.ambit_code
         WHERE m.istat_code = '015002' AND h.kind = 'cti'",
    )
    .await?;
    let ambit_school = first_code(
        conn,
        "SELECT min(s.institution_code) AS code FROM sites s JOIN institutions i ON i.code = s.institution_code
         JOIN municipalities m ON m.istat_code = s.municipality_istat
         WHERE m.ambit_code = (SELECT ambit_code FROM municipalities WHERE istat_code = '015002')
           AND s.school_order = 'primaria' AND i.kind = 'state'",
    )
    .await?;
    let ambit_school =
        if ambit_school == mi_school { an_institute(conn, "MI", &mi_school).await? } else { ambit_school };
    let school_email = |code: &str| format!("{}@istruzione.it", code.to_ascii_lowercase());
    let plan: Vec<(String, Vec<Grant>)> = vec![
        ("ufficio.bg@ambito.invalid".into(), vec![(Role::Provincial, Some("BG".into()))]),
        ("ufficio.mi@ambito.invalid".into(), vec![(Role::Provincial, Some("MI".into()))]),
        ("direzione.lombardia@ambito.invalid".into(), vec![(Role::Regional, Some("Lombardia".into()))]),
        (school_email(&bg_school), vec![(Role::School, Some(bg_school.clone()))]),
        (school_email(&bg_other), vec![(Role::School, Some(bg_other.clone()))]),
        ("dirigente.bgic82100t@ambito.invalid".into(), vec![(Role::HeadTeacher, Some(bg_school.clone()))]),
        ("comune.alzano@ambito.invalid".into(), vec![(Role::Municipality, Some("016008".into()))]),
        (school_email(&mi_school), vec![(Role::School, Some(mi_school.clone()))]),
        ("comune.milano@ambito.invalid".into(), vec![(Role::Municipality, Some("015146".into()))]),
        ("comune.abbiategrasso@ambito.invalid".into(), vec![(Role::Municipality, Some("015002".into()))]),
        ("cti.mi1@ambito.invalid".into(), vec![(Role::CtiHub, Some("CTI-MI-1".into()))]),
        ("cti.bg1@ambito.invalid".into(), vec![(Role::CtiHub, Some("CTI-BG-1".into()))]),
        ("start.mi1@ambito.invalid".into(), vec![(Role::CtiHub, Some("START-MI-1".into()))]),
        ("cti.abbiategrasso@ambito.invalid".into(), vec![(Role::CtiHub, Some(ambit_hub))]),
        (school_email(&start_school), vec![(Role::School, Some(start_school.clone()))]),
        (school_email(&city_high_school), vec![(Role::School, Some(city_high_school.clone()))]),
        (school_email(&ambit_school), vec![(Role::School, Some(ambit_school.clone()))]),
        (ENABLED_TEACHER.into(), vec![(Role::Teacher, None)]),
        ("docente.nuovo@ambito.invalid".into(), vec![(Role::Teacher, None)]),
        (
            "segreteria.cti@ambito.invalid".into(),
            vec![(Role::School, Some(mi_school.clone())), (Role::CtiHub, Some("CTI-MI-2".into()))],
        ),
    ];
    let mut out = Vec::with_capacity(plan.len());
    for (email, grants) in plan {
        let password = tokens::new_password();
        let hash = passwords.hash(&password).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        diesel::delete(users::table.filter(users::email.eq(&email))).execute(conn).await?;
        let user = accounts::create_user(conn, &email, Some(&hash)).await?.context("a demo address is taken")?;
        let mut memberships = Vec::new();
        for (role, org) in &grants {
            let org_ref = OrgRef::for_role(*role, org.as_deref()).map_err(anyhow::Error::msg)?;
            accounts::grant(conn, user, *role, &org_ref).await?;
            memberships.push(DemoMembership { role: role.as_str().into(), organization: org.clone() });
        }
        let first = memberships.remove(0);
        let personal_code = match email == ENABLED_TEACHER {
            true => Some(enable_in_person(conn, passwords, user).await?),
            false => None,
        };
        out.push(DemoAccount {
            email,
            password,
            role: first.role,
            organization: first.organization,
            other_memberships: memberships,
            personal_code,
        });
    }
    Ok(out)
}
