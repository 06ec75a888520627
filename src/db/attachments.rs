//! Attachment rows: documents of a parent row, their upload state and the
//! wrapped key that opens their sealed object. Reads in a request run under
//! row security; the operator's commands (janitor, verify, rotation,
//! archive) run as the database owner, across tenants.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::attachments as a;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = a)]
pub struct AttachmentRow {
    pub id: Uuid,
    pub blob_id: Uuid,
    /// Null for a document of an enrolment request, which has no school.
    pub institution_code: Option<String>,
    pub province_code: String,
    pub kind: String,
    pub document_type: Option<String>,
    pub pupil_id: Option<i64>,
    pub school_year: Option<i32>,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub state: String,
    pub received: i64,
    pub parts: Vec<String>,
    pub object_key: Option<String>,
    pub sha256: Option<Vec<u8>>,
    pub kek_id: String,
    pub wrapped_key: Vec<u8>,
    pub uploaded_by: i64,
    pub created_at: DateTime<Utc>,
    pub committed_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    pub enrolment_request_id: Option<i64>,
    pub admission_application_id: Option<i64>,
    pub mobility_application_id: Option<i64>,
    /// What a teacher's application document is (spec §8).
    pub mobility_document_kind: Option<String>,
    /// DOC-4: when the teacher confirmed it with the personal code.
    pub confirmed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = a)]
pub struct NewAttachment {
    pub id: Uuid,
    pub blob_id: Uuid,
    pub institution_code: Option<String>,
    /// Set again by the database from the institution or the request.
    pub province_code: String,
    pub kind: String,
    pub document_type: Option<String>,
    pub pupil_id: Option<i64>,
    pub school_year: Option<i32>,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub state: String,
    pub received: i64,
    pub object_key: Option<String>,
    pub sha256: Option<Vec<u8>>,
    pub kek_id: String,
    pub wrapped_key: Vec<u8>,
    pub committed_at: Option<DateTime<Utc>>,
    pub enrolment_request_id: Option<i64>,
    pub admission_application_id: Option<i64>,
    pub mobility_application_id: Option<i64>,
    pub mobility_document_kind: Option<String>,
}

pub async fn insert(conn: &mut AsyncPgConnection, row: &NewAttachment) -> QueryResult<AttachmentRow> {
    diesel::insert_into(a::table).values(row).returning(AttachmentRow::as_returning()).get_result(conn).await
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<AttachmentRow>> {
    a::table.find(id).select(AttachmentRow::as_select()).first(conn).await.optional()
}

/// A committed attachment, or an archived one (which answers with its own code).
pub async fn visible(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<AttachmentRow>> {
    a::table.find(id).filter(a::state.ne("pending")).select(AttachmentRow::as_select()).first(conn).await.optional()
}

/// The documents of parent rows, oldest first: pupils' certification
/// documents, enrolment requests' and admission applications' documents.
pub async fn of_parents(
    conn: &mut AsyncPgConnection,
    pupils: Vec<i64>,
    requests: Vec<i64>,
    applications: Vec<i64>,
) -> QueryResult<Vec<AttachmentRow>> {
    a::table
        .filter(
            a::pupil_id
                .eq_any(pupils)
                .and(a::kind.eq("certification"))
                .or(a::enrolment_request_id.eq_any(requests))
                .or(a::admission_application_id.eq_any(applications)),
        )
        .filter(a::state.ne("pending"))
        .order((a::created_at, a::id))
        .select(AttachmentRow::as_select())
        .load(conn)
        .await
}

/// The signed summaries a school sent for a year, newest first.
pub async fn signed_summaries(
    conn: &mut AsyncPgConnection,
    institution: &str,
    year: i32,
) -> QueryResult<Vec<AttachmentRow>> {
    a::table
        .filter(a::institution_code.eq(institution))
        .filter(a::school_year.eq(year))
        .filter(a::kind.eq("signed_summary"))
        .filter(a::state.ne("pending"))
        .order((a::created_at.desc(), a::id))
        .select(AttachmentRow::as_select())
        .load(conn)
        .await
}

/// What a user uploaded, newest first, within the caller's scope.
pub async fn uploaded_by(
    conn: &mut AsyncPgConnection,
    user: i64,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<AttachmentRow>> {
    let mut q = a::table
        .filter(a::uploaded_by.eq(user))
        .filter(a::state.eq("committed"))
        .filter(a::blob_id.eq(a::id))
        .select(AttachmentRow::as_select())
        .order((a::created_at.desc(), a::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = before {
        q = q.filter(a::created_at.lt(at).or(a::created_at.eq(at).and(a::id.lt(id))));
    }
    q.load(conn).await
}

pub async fn uploaded_count(conn: &mut AsyncPgConnection, user: i64) -> QueryResult<i64> {
    a::table
        .filter(a::uploaded_by.eq(user))
        .filter(a::state.eq("committed"))
        .filter(a::blob_id.eq(a::id))
        .count()
        .get_result(conn)
        .await
}

/// Records a part of a pending upload, unless another request moved it on
/// meanwhile. Returns whether it did.
pub async fn add_part(conn: &mut AsyncPgConnection, id: Uuid, from: i64, to: i64, key: &str) -> QueryResult<bool> {
    let n = diesel::update(a::table.find(id).filter(a::state.eq("pending")).filter(a::received.eq(from)))
        .set((a::received.eq(to), a::parts.eq(a::parts.concat(vec![key.to_owned()]))))
        .execute(conn)
        .await?;
    Ok(n == 1)
}

/// Makes a pending upload visible, unless another request moved it on
/// meanwhile. Returns the row as committed.
pub async fn commit(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    from: i64,
    key: &str,
    sha256: &[u8; 32],
) -> QueryResult<Option<AttachmentRow>> {
    diesel::update(a::table.find(id).filter(a::state.eq("pending")).filter(a::received.eq(from)))
        .set((
            a::state.eq("committed"),
            a::received.eq(a::size),
            a::parts.eq(Vec::<String>::new()),
            a::object_key.eq(key),
            a::sha256.eq(sha256.to_vec()),
            a::committed_at.eq(diesel::dsl::now),
        ))
        .returning(AttachmentRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

// The operator's work, across tenants.

/// Pending uploads started before `before`.
pub async fn stale_pending(conn: &mut AsyncPgConnection, before: DateTime<Utc>) -> QueryResult<Vec<AttachmentRow>> {
    a::table
        .filter(a::state.eq("pending"))
        .filter(a::created_at.lt(before))
        .select(AttachmentRow::as_select())
        .load(conn)
        .await
}

pub async fn delete_pending(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
    diesel::delete(a::table.find(id).filter(a::state.eq("pending"))).execute(conn).await
}

/// Every object key a row refers to: committed objects and pending parts.
pub async fn referenced_keys(conn: &mut AsyncPgConnection) -> QueryResult<std::collections::HashSet<String>> {
    let rows: Vec<(Option<String>, Vec<String>)> = a::table.select((a::object_key, a::parts)).load(conn).await?;
    Ok(rows.into_iter().flat_map(|(k, p)| k.into_iter().chain(p)).collect())
}

/// Committed attachments after `after` in id order, a page at a time.
pub async fn committed_page(
    conn: &mut AsyncPgConnection,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<AttachmentRow>> {
    let mut q = a::table
        .filter(a::state.eq("committed"))
        .order(a::id)
        .limit(limit)
        .select(AttachmentRow::as_select())
        .into_boxed();
    if let Some(id) = after {
        q = q.filter(a::id.gt(id));
    }
    q.load(conn).await
}

/// Rows whose data key is wrapped under another key than `current`.
pub async fn wrapped_under_other(
    conn: &mut AsyncPgConnection,
    current: &str,
    limit: i64,
) -> QueryResult<Vec<AttachmentRow>> {
    a::table
        .filter(a::kek_id.ne(current))
        .filter(a::state.ne("archived"))
        .order(a::id)
        .limit(limit)
        .select(AttachmentRow::as_select())
        .load(conn)
        .await
}

/// Stores a re-wrapped key, unless the row changed keys meanwhile.
pub async fn rewrap(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    old_kek: &str,
    new_kek: &str,
    wrapped: &[u8],
) -> QueryResult<usize> {
    diesel::update(a::table.find(id).filter(a::kek_id.eq(old_kek)))
        .set((a::kek_id.eq(new_kek), a::wrapped_key.eq(wrapped)))
        .execute(conn)
        .await
}

/// Marks documents archived: their objects leave the live store.
pub async fn mark_archived(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<usize> {
    diesel::update(a::table.filter(a::id.eq_any(ids)).filter(a::state.eq("committed")))
        .set((a::state.eq("archived"), a::object_key.eq(None::<String>), a::archived_at.eq(diesel::dsl::now)))
        .execute(conn)
        .await
}

/// Committed documents to archive: of a province, uploaded before a time.
pub async fn to_archive(
    conn: &mut AsyncPgConnection,
    province: Option<&str>,
    before: Option<DateTime<Utc>>,
) -> QueryResult<Vec<AttachmentRow>> {
    let mut q = a::table.filter(a::state.eq("committed")).order(a::id).select(AttachmentRow::as_select()).into_boxed();
    if let Some(p) = province {
        q = q.filter(a::province_code.eq(p.to_owned()));
    }
    if let Some(b) = before {
        q = q.filter(a::created_at.lt(b));
    }
    q.load(conn).await
}
