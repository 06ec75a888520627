//! The audit trail: every change, and every read of a pupil's identity or
//! certification, recorded with who (user, membership, role) and when. The
//! database fills in the actor from the request's settings.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use super::fixed::Fixed;
use super::schema::audit_events;

/// One event to record.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub action: &'static str,
    pub object_kind: &'static str,
    pub object_id: Option<String>,
    /// The pupils it concerns: the one changed, or every one a read showed.
    pub pupil_ids: Vec<i64>,
    pub province: Option<String>,
    pub institution: Option<String>,
    pub fields: Vec<String>,
    pub previous: Option<Value>,
    pub current: Option<Value>,
}

/// Records the events in one statement of fixed text, whatever their number:
/// a multi-row `VALUES` list would send (and have the server parse) nine
/// parameters per event. Arrays travel as comma-joined text because `unnest`
/// would flatten an array of arrays.
pub async fn record(conn: &mut AsyncPgConnection, events: Vec<Event>) -> QueryResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let query = Fixed::new(
        "INSERT INTO audit_events (action, object_kind, object_id, pupil_ids, province_code, institution_code,
                                   fields, previous, current)
         SELECT a, k, o, string_to_array(p, ',')::int8[], pr, i, string_to_array(f, ','), prev, cur
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::jsonb[], $9::jsonb[]) AS t(a, k, o, p, pr, i, f, prev, cur)",
    );
    Columns::of(events).bind(query).execute(conn).await.map(drop)
}

/// Who an event is recorded for, written with it where the transaction's
/// settings cannot say (the journal writes many callers' events at once).
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub user_id: i64,
    pub membership_id: Option<i64>,
    pub role: &'static str,
}

/// Records events of several callers in one statement, each with its actor,
/// as a role that may record anyone's events (`ambito_auth`).
pub async fn record_as(conn: &mut AsyncPgConnection, events: Vec<(Actor, Event)>) -> QueryResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let (mut users, mut memberships, mut roles) = (Vec::new(), Vec::new(), Vec::new());
    let c = Columns::of(events.into_iter().map(|(actor, e)| {
        users.push(actor.user_id);
        memberships.push(actor.membership_id);
        roles.push(actor.role);
        e
    }));
    let query = Fixed::new(
        "INSERT INTO audit_events (user_id, membership_id, role, action, object_kind, object_id, pupil_ids,
                                   province_code, institution_code, fields, previous, current)
         SELECT u, m, r, a, k, o, string_to_array(p, ',')::int8[], pr, i, string_to_array(f, ','), prev, cur
         FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::text[], $10::text[], $11::jsonb[], $12::jsonb[]) AS t(u, m, r, a, k, o, p, pr, i, f, prev, cur)",
    )
    .bind::<Array<BigInt>, _>(users)
    .bind::<Array<Nullable<BigInt>>, _>(memberships)
    .bind::<Array<Text>, _>(roles);
    c.bind(query).execute(conn).await.map(drop)
}

/// [`Event`]s column by column, as `unnest` takes them.
#[derive(Default)]
struct Columns {
    action: Vec<&'static str>,
    object_kind: Vec<&'static str>,
    object_id: Vec<Option<String>>,
    pupil_ids: Vec<String>,
    province: Vec<Option<String>>,
    institution: Vec<Option<String>>,
    fields: Vec<String>,
    previous: Vec<Option<Value>>,
    current: Vec<Option<Value>>,
}

impl Columns {
    fn of(events: impl IntoIterator<Item = Event>) -> Columns {
        let mut c = Columns::default();
        for e in events {
            c.action.push(e.action);
            c.object_kind.push(e.object_kind);
            c.object_id.push(e.object_id);
            c.pupil_ids.push(e.pupil_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
            c.province.push(e.province);
            c.institution.push(e.institution);
            // Field names are GraphQL identifiers: no commas.
            c.fields.push(e.fields.join(","));
            c.previous.push(e.previous);
            c.current.push(e.current);
        }
        c
    }

    /// Binds the columns, in the order of their `unnest`, after what `query`
    /// bound before them.
    fn bind(self, query: Fixed<'static>) -> Fixed<'static> {
        query
            .bind::<Array<Text>, _>(self.action)
            .bind::<Array<Text>, _>(self.object_kind)
            .bind::<Array<Nullable<Text>>, _>(self.object_id)
            .bind::<Array<Text>, _>(self.pupil_ids)
            .bind::<Array<Nullable<Text>>, _>(self.province)
            .bind::<Array<Nullable<Text>>, _>(self.institution)
            .bind::<Array<Text>, _>(self.fields)
            .bind::<Array<Nullable<Jsonb>>, _>(self.previous)
            .bind::<Array<Nullable<Jsonb>>, _>(self.current)
    }
}

/// Where a read pupil belongs, and which of its protected fields were read.
#[derive(Debug, Clone, Default)]
struct PupilRead {
    province: String,
    institution: String,
    fields: BTreeSet<&'static str>,
}

/// Events a request keeps whether or not it succeeds: the protected fields
/// it read, per pupil (however many fields and times), and attempts the
/// office must learn of even though they failed.
#[derive(Debug, Default)]
pub struct Kept {
    reads: BTreeMap<i64, PupilRead>,
    events: Vec<Event>,
}

/// Pupils one read event names at most: a province-wide export still makes
/// rows of bounded size.
const PUPILS_PER_READ: usize = 1000;

impl Kept {
    pub fn note_event(&mut self, e: Event) {
        self.events.push(e);
    }

    pub fn note(&mut self, pupil_id: i64, province: &str, institution: &str, field: &'static str) {
        let r = self.reads.entry(pupil_id).or_insert_with(|| PupilRead {
            province: province.to_owned(),
            institution: institution.to_owned(),
            fields: BTreeSet::new(),
        });
        r.fields.insert(field);
    }

    pub fn is_empty(&self) -> bool {
        self.reads.is_empty() && self.events.is_empty()
    }

    /// One read event for the pupils of a school whose same fields were
    /// shown (a page of fifty is one event), then the kept events.
    pub fn into_events(self) -> Vec<Event> {
        let mut groups: BTreeMap<(String, String, BTreeSet<&'static str>), Vec<i64>> = BTreeMap::new();
        for (id, r) in self.reads {
            groups.entry((r.province, r.institution, r.fields)).or_default().push(id);
        }
        groups
            .into_iter()
            .flat_map(|((province, institution, fields), ids)| {
                let fields: Vec<String> = fields.into_iter().map(str::to_owned).collect();
                ids.chunks(PUPILS_PER_READ)
                    .map(|chunk| Event {
                        action: "read",
                        object_kind: "pupil",
                        pupil_ids: chunk.to_vec(),
                        province: Some(province.clone()),
                        institution: Some(institution.clone()),
                        fields: fields.clone(),
                        ..Event::default()
                    })
                    .collect::<Vec<_>>()
            })
            .chain(self.events)
            .collect()
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
pub struct EventRow {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub user_id: i64,
    pub membership_id: Option<i64>,
    pub role: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: Option<String>,
    pub pupil_ids: Vec<i64>,
    pub province_code: Option<String>,
    pub institution_code: Option<String>,
    pub fields: Vec<String>,
    pub previous: Option<Value>,
    pub current: Option<Value>,
}

#[derive(Debug, Clone, Default)]
pub struct TrailFilter {
    pub pupil_id: Option<i64>,
    pub user_id: Option<i64>,
    pub action: Option<String>,
}

fn trail_filtered(f: &TrailFilter) -> audit_events::BoxedQuery<'static, diesel::pg::Pg> {
    let mut q = audit_events::table.into_boxed();
    if let Some(p) = f.pupil_id {
        // By id through the lookup the migration keeps: row security would
        // not let `pupil_ids @> …` use an index.
        q = q.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("audit_events.id = ANY(ambito_audit_events_naming(")
                .bind::<diesel::sql_types::Int8, _>(p)
                .sql("))"),
        );
    }
    if let Some(u) = f.user_id {
        q = q.filter(audit_events::user_id.eq(u));
    }
    if let Some(a) = &f.action {
        q = q.filter(audit_events::action.eq(a.clone()));
    }
    q
}

type EventSql = diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<EventRow, diesel::pg::Pg>>;

/// The query of the trail the caller may read, newest first: events before `before`.
pub fn trail_page_query(
    f: &TrailFilter,
    before: Option<i64>,
    limit: i64,
) -> audit_events::BoxedQuery<'static, diesel::pg::Pg, EventSql> {
    let mut q = trail_filtered(f);
    if let Some(b) = before {
        q = q.filter(audit_events::id.lt(b));
    }
    q.order(audit_events::id.desc()).limit(limit).select(EventRow::as_select())
}

pub async fn trail_page(
    conn: &mut AsyncPgConnection,
    f: &TrailFilter,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    trail_page_query(f, before, limit).load(conn).await
}

pub async fn trail_count(conn: &mut AsyncPgConnection, f: &TrailFilter) -> QueryResult<i64> {
    trail_filtered(f).count().get_result(conn).await
}

/// E-mail addresses of users, by id, for showing who acted.
pub async fn emails(conn: &mut AsyncPgConnection, ids: Vec<i64>) -> QueryResult<Vec<(i64, String)>> {
    use super::schema::users;
    users::table.filter(users::id.eq_any(ids)).select((users::id, users::email)).load(conn).await
}

/// Seals the audit events committed since the last seal into the hash
/// chain (migration 000013). Returns how many it sealed.
pub async fn seal(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Sealed {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    Ok(Fixed::new("SELECT ambito_audit_seal() AS n").get_result::<Sealed>(conn).await?.n)
}

/// How far the chain lags behind the trail: events committed but not yet
/// sealed, and the age in seconds of the oldest (0 when none waits).
#[derive(Debug, QueryableByName)]
pub struct Lag {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub unsealed: i64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    pub oldest_seconds: f64,
}

/// The chain's lag, read as `ambito_maint`, which sees counts and no event.
pub async fn lag(conn: &mut AsyncPgConnection) -> QueryResult<Lag> {
    diesel::sql_query("SELECT unsealed, oldest_seconds FROM ambito_audit_lag()").get_result(conn).await
}

/// Login throttle keys (accounts, client addresses) locked now, read as
/// `ambito_maint` beside the chain's lag for `/metrics`.
pub async fn login_locks(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Locks {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    Ok(diesel::sql_query("SELECT ambito_login_locks() AS n").get_result::<Locks>(conn).await?.n)
}

/// What a walk of the audit chain found.
#[derive(Debug, QueryableByName)]
pub struct ChainCheck {
    /// Events whose seal checked out, in chain order, before any break.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub sealed: i64,
    /// The first broken link: its place in the chain, its event, and what is wrong.
    #[diesel(sql_type = Nullable<diesel::sql_types::BigInt>)]
    pub broken_seq: Option<i64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::BigInt>)]
    pub broken_event: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub problem: Option<String>,
}

/// Walks the whole chain, recomputing each hash, and names the first
/// broken link.
pub async fn verify_chain(conn: &mut AsyncPgConnection) -> QueryResult<ChainCheck> {
    diesel::sql_query("SELECT sealed, broken_seq, broken_event, problem FROM ambito_audit_verify()")
        .get_result(conn)
        .await
}

/// Records an event of the operator's command line (account provisioning,
/// grants, revocations), as `ambito_auth`: there is no signed-in user, so
/// the actor is user 0 with the role `operator`.
pub async fn record_operator(conn: &mut AsyncPgConnection, e: Event) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO audit_events (user_id, membership_id, role, action, object_kind, object_id, province_code,
                                   institution_code, fields, previous, current)
         VALUES (0, NULL, 'operator', $1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind::<Text, _>(e.action)
    .bind::<Text, _>(e.object_kind)
    .bind::<Nullable<Text>, _>(e.object_id)
    .bind::<Nullable<Text>, _>(e.province)
    .bind::<Nullable<Text>, _>(e.institution)
    .bind::<Array<Text>, _>(e.fields)
    .bind::<Nullable<Jsonb>, _>(e.previous)
    .bind::<Nullable<Jsonb>, _>(e.current)
    .execute(conn)
    .await
    .map(drop)
}
