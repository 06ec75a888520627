//! The audit trail: every change, and every read of a pupil's identity or
//! certification, recorded with who (user, membership, role) and when. The
//! database fills in the actor from the request's settings.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use super::schema::audit_events;

/// One event to record.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub action: &'static str,
    pub object_kind: &'static str,
    pub object_id: Option<String>,
    pub pupil_id: Option<i64>,
    pub province: Option<String>,
    pub institution: Option<String>,
    pub fields: Vec<String>,
    pub previous: Option<Value>,
    pub current: Option<Value>,
}

pub async fn record(conn: &mut AsyncPgConnection, events: Vec<Event>) -> QueryResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = events
        .into_iter()
        .map(|e| {
            (
                audit_events::action.eq(e.action),
                audit_events::object_kind.eq(e.object_kind),
                audit_events::object_id.eq(e.object_id),
                audit_events::pupil_id.eq(e.pupil_id),
                audit_events::province_code.eq(e.province),
                audit_events::institution_code.eq(e.institution),
                audit_events::fields.eq(e.fields),
                audit_events::previous.eq(e.previous),
                audit_events::current.eq(e.current),
            )
        })
        .collect();
    diesel::insert_into(audit_events::table).values(rows).execute(conn).await.map(drop)
}

/// Where a read pupil belongs, and which of its protected fields were read.
#[derive(Debug, Clone, Default)]
struct PupilRead {
    province: String,
    institution: String,
    fields: BTreeSet<&'static str>,
}

/// Events a request keeps whether or not it succeeds: the protected fields
/// it read, per pupil (one event per pupil and request, however many fields
/// and times), and attempts the office must learn of even though they failed.
#[derive(Debug, Default)]
pub struct Kept {
    reads: BTreeMap<i64, PupilRead>,
    events: Vec<Event>,
}

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

    pub fn into_events(self) -> Vec<Event> {
        self.reads
            .into_iter()
            .map(|(id, r)| Event {
                action: "read",
                object_kind: "pupil",
                object_id: Some(id.to_string()),
                pupil_id: Some(id),
                province: Some(r.province),
                institution: Some(r.institution),
                fields: r.fields.into_iter().map(str::to_owned).collect(),
                ..Event::default()
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
    pub pupil_id: Option<i64>,
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
        q = q.filter(audit_events::pupil_id.eq(p));
    }
    if let Some(u) = f.user_id {
        q = q.filter(audit_events::user_id.eq(u));
    }
    if let Some(a) = &f.action {
        q = q.filter(audit_events::action.eq(a.clone()));
    }
    q
}

/// The trail the caller may read, newest first: events before `before`.
pub async fn trail_page(
    conn: &mut AsyncPgConnection,
    f: &TrailFilter,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut q = trail_filtered(f);
    if let Some(b) = before {
        q = q.filter(audit_events::id.lt(b));
    }
    q.order(audit_events::id.desc()).limit(limit).select(EventRow::as_select()).load(conn).await
}

pub async fn trail_count(conn: &mut AsyncPgConnection, f: &TrailFilter) -> QueryResult<i64> {
    trail_filtered(f).count().get_result(conn).await
}

/// E-mail addresses of users, by id, for showing who acted.
pub async fn emails(conn: &mut AsyncPgConnection, ids: Vec<i64>) -> QueryResult<Vec<(i64, String)>> {
    use super::schema::users;
    users::table.filter(users::id.eq_any(ids)).select((users::id, users::email)).load(conn).await
}
