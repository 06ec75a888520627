//! Relay-style cursor connections over keyset pagination.
//!
//! A cursor is the row's key, base64url-encoded with a version tag: opaque to
//! clients, stable across inserts (unlike offsets), and checked on the way in.

use async_graphql::connection::{Edge, EmptyFields};
use async_graphql::{Context, OutputType, SimpleObject};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::BoxFuture;

use crate::db::territory::PageRequest;
use crate::error::{AppError, AppResult};

/// Most rows one page may ask for.
pub const MAX_PAGE: i32 = 100;
/// Rows per page when `first` is not given.
pub const DEFAULT_PAGE: i32 = 20;

/// Fields every connection has besides edges, nodes and page info.
#[derive(SimpleObject)]
pub struct ConnectionTotals {
    /// Rows matching the filter across all pages. Counted only when asked for.
    pub total_count: i32,
}

/// A Relay connection named after its node (`SchoolConnection`, `SchoolEdge`).
pub type Connection<Node> = async_graphql::connection::Connection<String, Node, ConnectionTotals, EmptyFields>;

pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{key}"))
}

pub fn decode_cursor(cursor: &str) -> AppResult<String> {
    let bad = || AppError::bad_input("after", "not a cursor returned by this server");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let key = text.strip_prefix("v1:").ok_or_else(bad)?;
    if key.is_empty() || key.len() > 64 {
        return Err(bad());
    }
    Ok(key.to_owned())
}

/// Validated `first` and `after` arguments. One extra row is fetched to learn
/// whether another page follows.
pub fn page_request(first: Option<i32>, after: Option<String>) -> AppResult<PageRequest> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(0..=MAX_PAGE).contains(&first) {
        return Err(AppError::bad_input("first", format!("must be between 0 and {MAX_PAGE}, was {first}")));
    }
    let after = after.as_deref().map(decode_cursor).transpose()?;
    Ok(PageRequest { after, limit: i64::from(first) + 1 })
}

/// Like [`page_request`], for lists keyed by numeric id.
pub fn page_request_by_id(first: Option<i32>, after: Option<String>) -> AppResult<PageRequest> {
    let page = page_request(first, after)?;
    if page.after.as_deref().is_some_and(|a| a.parse::<i64>().map_or(true, |id| id < 0)) {
        return Err(AppError::bad_input("after", "not a cursor returned by this server"));
    }
    Ok(page)
}

/// Whether the client selects any of `fields` on a connection's nodes
/// (through `edges { node }` or `nodes`): a list then fetches them with its
/// page, in the same statement, instead of a batch per field afterwards.
pub fn nodes_show(ctx: &Context<'_>, fields: &[&str]) -> bool {
    let look = ctx.look_ahead();
    let (edges, nodes) = (look.field("edges").field("node"), look.field("nodes"));
    fields.iter().any(|f| edges.field(f).exists() || nodes.field(f).exists())
}

/// Builds a connection from one page of rows and, when the client selected
/// `totalCount`, the count over the same filter.
pub async fn connection<Row, Node: OutputType>(
    ctx: &Context<'_>,
    page: &PageRequest,
    rows: Vec<Row>,
    count: impl FnOnce() -> BoxFuture<'static, AppResult<i64>>,
    key: impl Fn(&Row) -> String,
    node: impl Fn(Row) -> Node,
) -> AppResult<Connection<Node>> {
    let total_count = if ctx.look_ahead().field("totalCount").exists() {
        i32::try_from(count().await?).unwrap_or(i32::MAX)
    } else {
        0
    };
    let want = (page.limit - 1) as usize;
    let has_next_page = rows.len() > want;
    let mut conn =
        Connection::with_additional_fields(page.after.is_some(), has_next_page, ConnectionTotals { total_count });
    conn.edges.extend(rows.into_iter().take(want).map(|r| Edge::new(encode_cursor(&key(&r)), node(r))));
    Ok(conn)
}

/// Expands to a function that returns one page of a list (`first`, `after`,
/// checked by `$request`) and, when selected, its count, both run in the
/// request's transaction.
macro_rules! list {
    (@make $node:ident) => { $node };
    (@make $node:ident $make:path) => { $make };
    ($name:ident, $request:path, $filter:ty, $row:ty, $node:ident $(= $make:path)?, $page:path, $count:path, $($key:tt)+) => {
        async fn $name(
            ctx: &async_graphql::Context<'_>,
            filter: $filter,
            first: Option<i32>,
            after: Option<String>,
        ) -> async_graphql::Result<$crate::graphql::connection::Connection<$node>> {
            let page = $request(first, after)?;
            let database = $crate::graphql::db(ctx).clone();
            let (f, p) = (filter.clone(), page.clone());
            let rows = database.run(move |c| Box::pin(async move { $page(c, &f, &p).await })).await?;
            let counter = $crate::graphql::db(ctx).clone();
            $crate::graphql::connection::connection(
                ctx,
                &page,
                rows,
                move || {
                    Box::pin(
                        async move { counter.run(move |c| Box::pin(async move { $count(c, &filter).await })).await },
                    )
                },
                |r: &$row| r.$($key)+.to_string(),
                list!(@make $node $($make)?),
            )
            .await
            .map_err(Into::into)
        }
    };
}
pub(crate) use list;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        assert_eq!(decode_cursor(&encode_cursor("BGIC82100T")).unwrap(), "BGIC82100T");
        assert!(decode_cursor("BGIC82100T").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("v2:X")).is_err());
    }

    #[test]
    fn first_is_capped() {
        assert_eq!(page_request(None, None).unwrap().limit, 21);
        assert_eq!(page_request(Some(100), None).unwrap().limit, 101);
        assert!(matches!(page_request(Some(101), None), Err(AppError::BadInput { .. })));
        assert!(matches!(page_request(Some(-1), None), Err(AppError::BadInput { .. })));
    }
}
