//! Schema assembly: the query root, limits, and the error codes that
//! async-graphql's own parse and validation errors lack.

pub mod accounts;
pub mod attachments;
pub mod connection;
pub mod events;
pub mod limits;
pub mod loaders;
pub mod refugees;
pub mod registry;
pub mod scalars;
pub mod territory;

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::extensions::apollo_persisted_queries::{ApolloPersistedQueries, LruCacheStorage};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Context, MergedObject, Schema, SchemaBuilder, ServerError, ServerResult, ValidationResult, Variables,
};

use crate::auth::passwords::Passwords;
use crate::auth::recovery::PublicUrl;
use crate::auth::{SessionPolicy, Subject};
use crate::authz::{Action, Authorizer, Caller, ObjectKind, Scope};
use crate::db::RequestDb;
use crate::error::AppError;
use crate::mail::Mailer;
use crate::rules::throttle::ThrottlePolicy;
use crate::storage::Files;
use loaders::RequestLoader;

/// Deepest selection accepted.
pub const MAX_DEPTH: usize = 12;
/// Most expensive query accepted: lists count `first` × their children.
pub const MAX_COMPLEXITY: usize = 20_000;

#[derive(MergedObject, Default)]
pub struct Query(
    territory::TerritoryQuery,
    accounts::AccountsQuery,
    registry::RegistryQuery,
    attachments::AttachmentsQuery,
    refugees::RefugeesQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountsMutation,
    registry::RegistryMutation,
    attachments::AttachmentsMutation,
    refugees::RefugeesMutation,
);

pub type AmbitoSchema = Schema<Query, Mutation, events::Subscription>;

/// The schema with its limits; request data (database, loaders, subject) is added per request.
pub fn builder() -> SchemaBuilder<Query, Mutation, events::Subscription> {
    Schema::build(Query::default(), Mutation::default(), events::Subscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(8)
        .extension(ErrorCodes)
        // Automatic persisted queries: mobile clients send a query's SHA-256
        // instead of its text once this process has seen it.
        .extension(ApolloPersistedQueries::new(LruCacheStorage::new(PERSISTED_QUERIES)))
}

/// Documents kept per process for automatic persisted queries. A process that
/// lacks one answers PERSISTED_QUERY_NOT_FOUND and the client sends the text.
pub const PERSISTED_QUERIES: usize = 2048;

/// What resolvers share besides the request's own data.
pub struct Services {
    pub passwords: Passwords,
    pub sessions: SessionPolicy,
    pub throttle: ThrottlePolicy,
    pub authz: Authorizer,
    pub mailer: Option<Mailer>,
    pub public_url: PublicUrl,
    pub files: Files,
    /// Change signals for subscriptions, and the pool they read from.
    pub events: crate::events::Events,
    pub pool: crate::db::PgPool,
}

/// The served schema. Outside demo mode it cannot be explored: no
/// introspection, no "did you mean" suggestions.
pub fn schema(services: Services, explorable: bool) -> AmbitoSchema {
    let mut b = builder()
        .data(services.passwords)
        .data(services.sessions)
        .data(services.throttle)
        .data(services.authz)
        .data(services.public_url)
        .data(services.files)
        .data(services.events)
        .data(events::EventPool(services.pool));
    if let Some(m) = services.mailer {
        b = b.data(m);
    }
    if explorable { b.finish() } else { b.disable_introspection().disable_suggestions().finish() }
}

/// The SDL written to `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

/// The request's database handle.
pub(crate) fn db<'a>(ctx: &'a Context<'_>) -> &'a RequestDb {
    ctx.data_unchecked::<RequestDb>()
}

pub(crate) fn loader<'a>(ctx: &'a Context<'_>) -> &'a DataLoader<RequestLoader> {
    ctx.data_unchecked::<DataLoader<RequestLoader>>()
}

/// The caller, or UNAUTHENTICATED.
pub(crate) fn subject<'a>(ctx: &'a Context<'_>) -> Result<&'a Subject, AppError> {
    ctx.data_opt::<Subject>().ok_or(AppError::Unauthenticated)
}

/// The caller and the scope in which the policies let them `act` on `obj`:
/// UNAUTHENTICATED without a session, FORBIDDEN when no policy line allows it.
pub(crate) fn authorize<'a>(
    ctx: &'a Context<'_>,
    obj: ObjectKind,
    act: Action,
) -> Result<(&'a Subject, Scope), AppError> {
    let s = subject(ctx)?;
    let scope = ctx.data_unchecked::<Authorizer>().scope(s.membership.role, obj, act).ok_or(AppError::Forbidden)?;
    Ok((s, scope))
}

/// The caller as the use cases see it: its scope for `act` on `obj`.
pub(crate) fn caller(ctx: &Context<'_>, obj: ObjectKind, act: Action) -> Result<Caller, AppError> {
    caller_of_any(ctx, &[obj], act)
}

/// The caller, when the policies let them `act` on one of `objs` at least
/// (documents of any kind); row security then decides on each row.
pub(crate) fn caller_of_any(ctx: &Context<'_>, objs: &[ObjectKind], act: Action) -> Result<Caller, AppError> {
    let s = subject(ctx)?;
    let scope =
        ctx.data_unchecked::<Authorizer>().first_scope(s.membership.role, objs, act).ok_or(AppError::Forbidden)?;
    Ok(Caller::new(s, scope))
}

/// Error codes that tell a request refused before execution from one that ran:
/// parse and validation failures and each limit. No resolver runs for any of them.
pub const PRE_EXECUTION_CODES: [&str; 6] = [
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "QUERY_TOO_DEEP",
    "QUERY_TOO_COMPLEX",
    "QUERY_TOO_MANY_ALIASES",
    "QUERY_TOO_MANY_ROOT_FIELDS",
];

struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

fn with_code(mut err: ServerError, code: &str) -> ServerError {
    let ext = err.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    err
}

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await.map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))?;
        limits::check(&doc).map_err(|r| with_code(ServerError::new(r.message, None), r.code))?;
        Ok(doc)
    }

    /// A persisted query skips parsing: its document meets the same limits
    /// here, and the persisted-query errors get codes clients can act on.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        let mut request = next.run(ctx, request).await.map_err(|e| {
            let code =
                if e.message == "PersistedQueryNotFound" { "PERSISTED_QUERY_NOT_FOUND" } else { "BAD_USER_INPUT" };
            with_code(e, code)
        })?;
        // Only a persisted query arrives without text (and already parsed).
        if request.query.is_empty() {
            let doc = request.parsed_query().map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))?;
            limits::check(doc).map_err(|r| with_code(ServerError::new(r.message, None), r.code))?;
        }
        Ok(request)
    }

    /// Errors that reach the response without a code come from
    /// async-graphql's own coercion of argument values: the caller's input.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let mut response = next.run(ctx, operation_name).await;
        response.errors =
            std::mem::take(&mut response.errors).into_iter().map(|e| with_code(e, "BAD_USER_INPUT")).collect();
        response
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    let code = if e.message.contains("nested too deep") || e.message.contains("recursion depth") {
                        "QUERY_TOO_DEEP"
                    } else if e.message.contains("too complex") {
                        "QUERY_TOO_COMPLEX"
                    } else {
                        "GRAPHQL_VALIDATION_FAILED"
                    };
                    with_code(e, code)
                })
                .collect()
        })
    }
}
