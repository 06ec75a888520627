//! Who is calling: accounts, memberships, sessions and the request's subject.

pub mod passwords;
pub mod tokens;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The roles of a membership, as Casbin policies and GraphQL name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Provincial,
    School,
    /// The head teacher (Dirigente) of an institution: the acts seed 002
    /// gives the Dirigente (publishing and approving rankings, deciding
    /// complaints and nulla osta).
    HeadTeacher,
    Municipality,
    CtiHub,
    Teacher,
    /// A regional directorate (Direzione regionale): the office that
    /// receives the IRC teachers' forms of the dioceses in its region (seed
    /// 003 L83).
    Regional,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Provincial,
        Role::School,
        Role::HeadTeacher,
        Role::Municipality,
        Role::CtiHub,
        Role::Teacher,
        Role::Regional,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Provincial => "provincial",
            Role::School => "school",
            Role::HeadTeacher => "head_teacher",
            Role::Municipality => "municipality",
            Role::CtiHub => "cti_hub",
            Role::Teacher => "teacher",
            Role::Regional => "regional",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            format!(
                "unknown role {s:?}: one of provincial, school, head_teacher, municipality, cti_hub, teacher, regional"
            )
        })
    }
}

/// The organisation a membership acts for. A teacher acts for themselves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrgRef {
    Province(String),
    School(String),
    Municipality(String),
    Hub(String),
    /// A region, by the name its provinces carry (`Lombardia`).
    Region(String),
    Own,
}

impl OrgRef {
    /// The organisation a role needs, from its code (`BG`, `BGIC82100T`, `016008`, `CTI-MI-1`, `Lombardia`).
    pub fn for_role(role: Role, code: Option<&str>) -> Result<OrgRef, String> {
        let need = |kind: &str| code.map(str::to_owned).ok_or_else(|| format!("role {role} needs {kind}"));
        Ok(match role {
            Role::Provincial => OrgRef::Province(need("a province code")?.to_ascii_uppercase()),
            Role::School | Role::HeadTeacher => OrgRef::School(need("a school code")?.to_ascii_uppercase()),
            Role::Municipality => OrgRef::Municipality(need("an ISTAT municipality code")?),
            Role::CtiHub => OrgRef::Hub(need("a hub code")?.to_ascii_uppercase()),
            Role::Regional => OrgRef::Region(need("a region name")?.trim().to_owned()),
            Role::Teacher if code.is_some() => {
                return Err("role teacher acts for the user alone: no organisation".into());
            }
            Role::Teacher => OrgRef::Own,
        })
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            OrgRef::Province(c) | OrgRef::School(c) | OrgRef::Municipality(c) | OrgRef::Hub(c) | OrgRef::Region(c) => {
                Some(c)
            }
            OrgRef::Own => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub id: i64,
    pub role: Role,
    pub org: OrgRef,
    /// The province the organisation is in; none for a teacher.
    pub province: Option<String>,
}

/// The authenticated caller of one request, acting as one membership.
#[derive(Debug, Clone)]
pub struct Subject {
    pub session_id: i64,
    pub user_id: i64,
    pub email: String,
    pub membership: Membership,
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle: Duration,
    /// No session outlives this, however busy.
    pub absolute: Duration,
}

impl SessionPolicy {
    /// How stale a session's record of its last use may grow before a
    /// request renews it: recording every request would write on every
    /// read, and a minute's precision is plenty, or a quarter of the idle
    /// time if that is shorter (a session in use must not look idle).
    pub fn last_use_precision(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.idle / 4).unwrap_or(chrono::Duration::MAX).min(chrono::Duration::seconds(60))
    }
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy { idle: Duration::from_secs(30 * 60), absolute: Duration::from_secs(12 * 3600) }
    }
}

/// The subject of a request from its `Authorization` header value. A missing,
/// malformed, unknown, expired or idle token gives no subject: protected
/// fields then answer UNAUTHENTICATED.
pub async fn subject_for(
    pool: &crate::db::PgPool,
    authorization: Option<&str>,
    policy: &SessionPolicy,
) -> crate::error::AppResult<Option<Subject>> {
    let Some(token) = authorization.and_then(|h| h.strip_prefix("Bearer ")).map(str::trim) else {
        return Ok(None);
    };
    session_subject(pool, token, policy, true).await
}

/// The subject of a session token as it stands now, without counting the
/// look as use: an open subscription checks its session this way, so that
/// the idle timeout still ends a session that only listens.
pub async fn current_subject(
    pool: &crate::db::PgPool,
    token: &str,
    policy: &SessionPolicy,
) -> crate::error::AppResult<Option<Subject>> {
    session_subject(pool, token, policy, false).await
}

async fn session_subject(
    pool: &crate::db::PgPool,
    token: &str,
    policy: &SessionPolicy,
    touch: bool,
) -> crate::error::AppResult<Option<Subject>> {
    if token.len() != 43 {
        return Ok(None);
    }
    let hash = tokens::hash(token);
    let now = chrono::Utc::now();
    let idle_cutoff = now - policy.idle;
    let mut conn = pool.get().await?;
    let Some(live) = crate::db::accounts::live_session(&mut conn, &hash, idle_cutoff).await? else {
        return Ok(None);
    };
    let stale_before = now - policy.last_use_precision();
    if touch && live.last_seen_at < stale_before {
        crate::db::accounts::touch_session(&mut conn, live.session_id, now, stale_before).await?;
    }
    Ok(Some(Subject {
        session_id: live.session_id,
        user_id: live.user_id,
        email: live.email,
        membership: live.membership.to_membership(),
    }))
}

/// The subject of an operator's command run on behalf of an account, with
/// no session: the first membership of an enabled account whose role
/// `fits`. The command then works in that membership's scope, under the
/// same row security and audit trail as the account's own requests.
pub async fn acting_as(
    pool: &crate::db::PgPool,
    email: &str,
    fits: impl Fn(Role) -> bool,
) -> crate::error::AppResult<Option<Subject>> {
    let email = normalize_email(email).map_err(|r| crate::error::AppError::bad_input("as", r))?;
    let mut conn = pool.get().await?;
    let Some(user) = crate::db::accounts::user_by_email(&mut conn, &email).await? else { return Ok(None) };
    if user.disabled_at.is_some() {
        return Ok(None);
    }
    let memberships = crate::db::accounts::memberships_of(&mut conn, user.id).await?;
    let membership = memberships.iter().map(|m| m.to_membership()).find(|m| fits(m.role));
    Ok(membership.map(|membership| Subject { session_id: 0, user_id: user.id, email: user.email, membership }))
}

/// E-mail addresses are compared case-insensitively: stored lower case, trimmed.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let e = raw.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'))
        && !e.chars().any(char::is_whitespace);
    if valid { Ok(e) } else { Err("is not an e-mail address".into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_need_the_right_organisation() {
        assert_eq!(OrgRef::for_role(Role::School, Some("bgic82100t")), Ok(OrgRef::School("BGIC82100T".into())));
        assert_eq!(OrgRef::for_role(Role::Teacher, None), Ok(OrgRef::Own));
        assert!(OrgRef::for_role(Role::Teacher, Some("BG")).is_err());
        assert!(OrgRef::for_role(Role::CtiHub, None).is_err());
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
    }

    #[test]
    fn emails_are_case_insensitive() {
        assert_eq!(normalize_email(" BGIC82100T@Istruzione.it ").unwrap(), "bgic82100t@istruzione.it");
        assert!(normalize_email("bgic82100t").is_err());
        assert!(normalize_email("a b@x.it").is_err());
        assert!(normalize_email("@x.it").is_err());
    }
}
