//! What every GraphQL request meets before and after execution: automatic
//! persisted queries, the document limits of [`super::limits`], and error
//! codes for async-graphql's own parse and validation errors.
//!
//! Over HTTP these run around `Schema::execute` rather than as async-graphql
//! extensions: a schema with any extension wraps every field of every
//! response in the extension chain (boxed futures and type lookups per
//! field), which cost a school's first page of pupils (W1 in BENCHMARKS.md)
//! about a third of its throughput. Subscriptions over WebSocket have no such
//! hook, so their schema keeps the same checks as [`WsChecks`].

use async_graphql::extensions::apollo_persisted_queries::{CacheStorage, LruCacheStorage};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::{Schemas, limits};

/// Documents kept per process for automatic persisted queries. A process that
/// lacks one answers PERSISTED_QUERY_NOT_FOUND and the client sends the text.
pub const PERSISTED_QUERIES: usize = 2048;

/// Parsed documents by the SHA-256 of their text: mobile clients send a
/// query's hash instead of its text once this process has seen it.
#[derive(Clone)]
pub struct PersistedQueries(LruCacheStorage);

impl Default for PersistedQueries {
    fn default() -> Self {
        PersistedQueries(LruCacheStorage::new(PERSISTED_QUERIES))
    }
}

#[derive(serde::Deserialize)]
struct PersistedQuery {
    version: i32,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

impl PersistedQueries {
    /// The request with its document taken from the cache when it sends a
    /// hash alone; when it sends text and a matching hash, the hash under
    /// which to keep the document once it has passed the checks.
    async fn resolve(&self, mut request: Request) -> Result<(Request, Option<String>), ServerError> {
        let Some(value) = request.extensions.remove("persistedQuery") else {
            return Ok((request, None));
        };
        let bad = |message: &str| with_code(ServerError::new(message, None), "BAD_USER_INPUT");
        let pq: PersistedQuery = value
            .into_json()
            .ok()
            .and_then(|json| serde_json::from_value(json).ok())
            .ok_or_else(|| bad("invalid persistedQuery extension"))?;
        if pq.version != 1 {
            return Err(bad("only version 1 of the persistedQuery extension is supported"));
        }
        let hash = pq.sha256_hash.to_ascii_lowercase();
        if request.query.is_empty() {
            let doc = self.0.get(hash).await.ok_or_else(|| {
                with_code(ServerError::new("PersistedQueryNotFound", None), "PERSISTED_QUERY_NOT_FOUND")
            })?;
            request.set_parsed_query(doc);
            return Ok((request, None));
        }
        if crate::storage::hex(&Sha256::digest(request.query.as_bytes())) != hash {
            return Err(bad("provided sha does not match query"));
        }
        Ok((request, Some(hash)))
    }
}

/// Runs one request over HTTP: its document (persisted or parsed, then
/// checked against the limits, so only a document within them is kept),
/// execution, and a code on every error.
pub async fn execute(schemas: &Schemas, persisted: &PersistedQueries, request: Request) -> Response {
    let (mut request, keep) = match persisted.resolve(request).await {
        Ok(r) => r,
        Err(e) => return Response::from_errors(vec![e]),
    };
    let doc = match request.parsed_query().map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED")) {
        Ok(doc) => doc,
        Err(e) => return Response::from_errors(vec![e]),
    };
    if let Err(e) = checked(doc) {
        return Response::from_errors(vec![e]);
    }
    if let Some(hash) = keep {
        persisted.0.set(hash, doc.clone()).await;
    }
    let schema = match &schemas.introspection {
        Some(introspection) if introspects_only(doc) => introspection,
        _ => &schemas.http,
    };
    let mut response = schema.execute(request).await;
    response.errors = std::mem::take(&mut response.errors).into_iter().map(coded).collect();
    response
}

/// Whether every root field of every operation is introspection, so the
/// deeper introspection schema may answer it (and it alone answers nothing else).
fn introspects_only(doc: &ExecutableDocument) -> bool {
    doc.operations.iter().all(|(_, op)| {
        op.node.selection_set.node.items.iter().all(|s| match &s.node {
            Selection::Field(f) => f.node.name.node.starts_with("__"),
            _ => false,
        })
    })
}

/// The document limits async-graphql lacks, as an error with its code.
fn checked(doc: &ExecutableDocument) -> Result<(), ServerError> {
    limits::check(doc).map_err(|r| with_code(ServerError::new(r.message, None), r.code))
}

fn with_code(mut err: ServerError, code: &str) -> ServerError {
    let ext = err.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    err
}

/// Errors without a code come from async-graphql itself. Those with a path
/// arose while resolving a field: its coercion of argument values, the
/// caller's input. Those without one refused the document before any
/// resolver ran (validation, its depth and complexity limits, a missing
/// operation).
fn coded(err: ServerError) -> ServerError {
    if !err.path.is_empty() {
        return with_code(err, "BAD_USER_INPUT");
    }
    validation_coded(err)
}

fn validation_coded(err: ServerError) -> ServerError {
    let code = if err.message.contains("nested too deep") || err.message.contains("recursion depth") {
        "QUERY_TOO_DEEP"
    } else if err.message.contains("too complex") {
        "QUERY_TOO_COMPLEX"
    } else {
        "GRAPHQL_VALIDATION_FAILED"
    };
    with_code(err, code)
}

/// The socket runs subscriptions only. Queries and mutations go to
/// `POST /graphql`, where each request is one transaction that commits
/// whole or not at all, checks its session afresh and is audited as one;
/// a long-lived socket authenticated once has none of that, so rather than
/// rebuild it there, it refuses them before anything runs.
pub const SUBSCRIPTIONS_ONLY: &str = "SUBSCRIPTIONS_ONLY";

fn subscriptions_only(doc: &ExecutableDocument) -> Result<(), ServerError> {
    let other = doc.operations.iter().find(|(_, op)| op.node.ty != OperationType::Subscription);
    match other {
        None => Ok(()),
        Some((_, op)) => Err(with_code(
            ServerError::new(
                format!(
                    "the WebSocket runs subscriptions only: send this {} with POST /graphql",
                    match op.node.ty {
                        OperationType::Query => "query",
                        _ => "mutation",
                    }
                ),
                Some(op.pos),
            ),
            SUBSCRIPTIONS_ONLY,
        )),
    }
}

/// The same checks and codes as [`execute`], as an extension of the schema
/// that serves subscriptions over WebSocket, which also refuses every
/// operation but a subscription.
pub struct WsChecks;

impl ExtensionFactory for WsChecks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(WsChecks)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for WsChecks {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await.map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))?;
        subscriptions_only(&doc)?;
        checked(&doc)?;
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| errors.into_iter().map(validation_coded).collect())
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        response.errors = std::mem::take(&mut response.errors).into_iter().map(coded).collect();
        response
    }
}
