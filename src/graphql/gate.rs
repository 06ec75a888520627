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

use async_graphql::Positioned;
use async_graphql::extensions::apollo_persisted_queries::{CacheStorage, LruCacheStorage};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextResolve, NextValidation,
    ResolveInfo,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
};
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::{Schemas, limits};

/// Documents kept per process for automatic persisted queries. A process that
/// lacks one answers PERSISTED_QUERY_NOT_FOUND and the client sends the text.
pub const PERSISTED_QUERIES: usize = 2048;

/// Parsed documents kept by this process: by the SHA-256 of their text, for
/// mobile clients that send a query's hash instead of its text once this
/// process has seen it; and by operation name and text once admitted
/// without variables, so that a front end's next request with the same
/// text is neither parsed nor validated again (see [`admit`]).
#[derive(Clone)]
pub struct PersistedQueries {
    by_hash: LruCacheStorage,
    admitted: LruCacheStorage,
}

impl Default for PersistedQueries {
    fn default() -> Self {
        PersistedQueries {
            by_hash: LruCacheStorage::new(PERSISTED_QUERIES),
            admitted: LruCacheStorage::new(PERSISTED_QUERIES),
        }
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
            let doc = self.by_hash.get(hash).await.ok_or_else(|| {
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

/// A request over HTTP that passed every check needing no database: its
/// document within the limits and, when it carries a session, valid against
/// the schema. Only then is the caller looked up and the request run.
pub struct Admitted {
    request: Request,
    /// Introspection alone, answered by the introspection schema.
    introspection: bool,
    /// The operation that runs is a mutation.
    mutation: bool,
    /// The name of the operation that runs, given or from the document.
    name: Option<String>,
}

/// Checks one request over HTTP: its text (nesting), its document
/// (persisted or parsed, then the limits, so only a document within them is
/// kept), and the schema's whole validation, run on a copy that executes
/// nothing. All of it comes before the session is looked up: that is a
/// database call that a refused document must not cost. The HTTP schema
/// then executes with async-graphql's fast validation alone (see
/// [`super::schemas`]): every document it runs passed here.
///
/// A text sent again with no variables is the same document under the same
/// validation: the one admitted before is taken as it is, neither parsed
/// nor validated again (a front end or a report sends the same few texts
/// all day). With variables, their values are part of the validation, which
/// runs every time.
pub async fn admit(schemas: &Schemas, persisted: &PersistedQueries, request: Request) -> Result<Admitted, Response> {
    let refuse = |e: ServerError| Response::from_errors(vec![e]);
    let (mut request, keep) = persisted.resolve(request).await.map_err(refuse)?;
    let reusable = request.variables.is_empty() && !request.query.is_empty();
    // Keyed by the operation too: it decides which operation is validated.
    let key = |r: &Request| format!("{}\n{}", r.operation_name.as_deref().unwrap_or(""), r.query);
    let known = match reusable {
        true => persisted.admitted.get(key(&request)).await,
        false => None,
    };
    let checked = known.is_some();
    match known {
        Some(doc) => request.set_parsed_query(doc),
        None => limits::check_text(&request.query).map_err(|r| refuse(limit_error(r)))?,
    }
    let text_len = request.query.len();
    // Apart while the document borrows the request, and back in before it runs.
    let variables = std::mem::take(&mut request.variables);
    let operation_name = request.operation_name.clone();
    // Where to keep the document once validated: on a miss only.
    let keep_as = (reusable && !checked).then(|| key(&request));
    let doc = request.parsed_query().map_err(|e| refuse(with_code(e, "GRAPHQL_PARSE_FAILED")))?;
    if let Some((_, op)) = doc.operations.iter().find(|(_, op)| op.node.ty == OperationType::Subscription) {
        let message = "subscriptions run over the WebSocket at GET /graphql, not over POST";
        return Err(refuse(with_code(ServerError::new(message, Some(op.pos)), "GRAPHQL_VALIDATION_FAILED")));
    }
    if !checked {
        limits::check(doc, schemas.introspection.is_some(), text_len).map_err(|r| refuse(limit_error(r)))?;
    }
    let introspection = schemas.introspection.is_some() && introspects_only(doc);
    let (name, op) = selected(doc, operation_name.as_deref()).unzip();
    let name = name.flatten().map(str::to_owned);
    let mutation = op.is_some_and(|op| op.node.ty == OperationType::Mutation);
    // No operation selected, or an unknown one: the validator says so.
    if let Some(op) = op {
        missing_variable(op, &variables).map_err(refuse)?;
    }
    // Introspection alone runs on its own schema, which validates in full.
    if !introspection && !checked {
        let mut probe = Request::new(String::new()).variables(variables.clone());
        probe.operation_name = operation_name;
        probe.set_parsed_query(doc.clone());
        let validated = schemas.validator.execute(probe).await;
        if !validated.errors.is_empty() {
            return Err(Response::from_errors(validated.errors.into_iter().map(coded).collect()));
        }
        if let Some(key) = keep_as {
            persisted.admitted.set(key, doc.clone()).await;
        }
    }
    if let Some(hash) = keep {
        persisted.by_hash.set(hash, doc.clone()).await;
    }
    request.variables = variables;
    Ok(Admitted { request, introspection, mutation, name })
}

/// A non-null variable of the operation that runs, with no value and no
/// default, is refused here: async-graphql notices it only as a field
/// resolves, with a path, like an error of that field.
fn missing_variable(op: &Positioned<OperationDefinition>, variables: &Variables) -> Result<(), ServerError> {
    for def in &op.node.variable_definitions {
        let d = &def.node;
        let given = variables.get(&d.name.node).is_some_and(|v| !matches!(v, async_graphql::Value::Null));
        if !d.var_type.node.nullable && d.default_value.is_none() && !given {
            let message =
                format!("variable ${} of type {} is required and was not given", d.name.node, d.var_type.node);
            return Err(with_code(ServerError::new(message, Some(def.pos)), "GRAPHQL_VALIDATION_FAILED"));
        }
    }
    Ok(())
}

/// The operation of `doc` that a request naming `name` runs, and its name, if there is one.
fn selected<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&'d str>,
) -> Option<(Option<&'d str>, &'d Positioned<OperationDefinition>)> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), name) => Some((name, op)),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get_key_value(name).map(|(n, op)| (Some(n.as_str()), op))
        }
        // One named operation runs without its name being given.
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.iter().next().map(|(n, op)| (Some(n.as_str()), op))
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

impl Admitted {
    /// Whether running it needs the caller: introspection never does.
    pub fn needs_caller(&self) -> bool {
        !self.introspection
    }

    /// The name of the operation that runs, as the request or its document gives it.
    pub fn operation_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether it runs a mutation (which an idempotency key applies to).
    pub fn is_mutation(&self) -> bool {
        self.mutation
    }

    /// Runs it with the request data `with` adds (database, loaders,
    /// caller), and puts a code on every error.
    pub async fn run(self, schemas: &Schemas, with: impl FnOnce(Request) -> Request) -> Response {
        let schema = match (&schemas.introspection, self.introspection) {
            (Some(introspection), true) => introspection,
            _ => &schemas.http,
        };
        let mut response = schema.execute(with(self.request)).await;
        response.errors = std::mem::take(&mut response.errors).into_iter().map(coded).collect();
        response
    }
}

/// Counts every field resolved (see [`super::schemas`]).
pub struct CountFields(pub prometheus::IntCounter);

impl ExtensionFactory for CountFields {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CountFields(self.0.clone()))
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for CountFields {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<async_graphql::Value>> {
        self.0.inc();
        next.run(ctx, info).await
    }
}

/// The schema's validation without execution: the extension of
/// [`Schemas::validator`], which stops every request once it is validated.
pub struct ValidateOnly;

impl ExtensionFactory for ValidateOnly {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ValidateOnly)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ValidateOnly {
    async fn execute(&self, _: &ExtensionContext<'_>, _: Option<&str>, _: NextExecute<'_>) -> Response {
        Response::new(async_graphql::Value::Null)
    }
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

fn limit_error(r: limits::Refused) -> ServerError {
    with_code(ServerError::new(r.message, None), r.code)
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
        limits::check_text(query).map_err(limit_error)?;
        let doc = next.run(ctx, query, variables).await.map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))?;
        subscriptions_only(&doc)?;
        // The socket answers no introspection: subscriptions are its only business.
        limits::check(&doc, false, query.len()).map_err(limit_error)?;
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
