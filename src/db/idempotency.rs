//! Idempotency keys: a caller's claim on (its account, a key) for one
//! mutation, and the sealed answer replayed to a retry. Claims run in the
//! request's transaction under row security (a caller reaches only its own
//! keys); upkeep and key rotation run as `ambito_maint`.

use diesel::prelude::*;
use diesel::sql_types::{Bytea, Integer, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::fixed::Fixed;
use super::schema::idempotency_keys as k;

/// A key as a caller claimed it earlier, with the answer kept for it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = k)]
pub struct KeptRow {
    pub id: Uuid,
    pub request_sha256: Vec<u8>,
    pub kek_id: Option<String>,
    pub wrapped_key: Option<Vec<u8>>,
    pub answer: Option<Vec<u8>>,
}

/// Claims `key` for the caller, as `id`: a new key, or one whose claim is
/// older than `ttl_hours`. False when a live claim holds it. A claim by a
/// transaction still running is waited for on the unique index, so of
/// duplicates sent at once one runs and the others then find its answer.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    key: &str,
    sha256: &[u8],
    ttl_hours: i32,
) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Claimed {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        #[allow(dead_code)]
        id: Uuid,
    }
    let rows: Vec<Claimed> = Fixed::new(
        "INSERT INTO idempotency_keys (id, key, request_sha256) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, key) DO UPDATE
           SET id = EXCLUDED.id, request_sha256 = EXCLUDED.request_sha256, created_at = now(),
               kek_id = NULL, wrapped_key = NULL, answer = NULL
           WHERE idempotency_keys.created_at <= now() - make_interval(hours => $4)
         RETURNING id",
    )
    .bind::<diesel::sql_types::Uuid, _>(id)
    .bind::<Text, _>(key)
    .bind::<Bytea, _>(sha256)
    .bind::<Integer, _>(ttl_hours)
    .load(conn)
    .await?;
    Ok(!rows.is_empty())
}

/// The caller's live claim of `key` (row security keeps it to the caller's own).
pub async fn find(conn: &mut AsyncPgConnection, key: &str) -> QueryResult<Option<KeptRow>> {
    k::table.filter(k::key.eq(key)).select(KeptRow::as_select()).first(conn).await.optional()
}

/// Keeps the sealed answer of the claim `id`.
pub async fn keep(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    kek_id: &str,
    wrapped: &[u8],
    answer: &[u8],
) -> QueryResult<()> {
    diesel::update(k::table.find(id))
        .set((k::kek_id.eq(kek_id), k::wrapped_key.eq(wrapped), k::answer.eq(answer)))
        .execute(conn)
        .await
        .map(drop)
}

/// Removes claims older than `ttl_hours`: their answers are no longer replayed.
pub async fn purge_expired(conn: &mut AsyncPgConnection, ttl_hours: i32) -> QueryResult<usize> {
    Fixed::new("DELETE FROM idempotency_keys WHERE created_at <= now() - make_interval(hours => $1)")
        .bind::<Integer, _>(ttl_hours)
        .execute(conn)
        .await
}

/// Answers sealed under a key other than `current`, for rotation.
pub async fn wrapped_under_other(conn: &mut AsyncPgConnection, current: &str, limit: i64) -> QueryResult<Vec<KeptRow>> {
    k::table.filter(k::kek_id.ne(current)).order(k::id).limit(limit).select(KeptRow::as_select()).load(conn).await
}

/// Stores a re-wrapped key, unless the row changed keys meanwhile.
pub async fn rewrap(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    old_kek: &str,
    new_kek: &str,
    wrapped: &[u8],
) -> QueryResult<usize> {
    diesel::update(k::table.find(id).filter(k::kek_id.eq(old_kek)))
        .set((k::kek_id.eq(new_kek), k::wrapped_key.eq(wrapped)))
        .execute(conn)
        .await
}
