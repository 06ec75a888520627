//! Schema assembly: the query root, limits, and the error codes that
//! async-graphql's own parse and validation errors lack.

pub mod connection;
pub mod loaders;
pub mod territory;

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    EmptyMutation, EmptySubscription, MergedObject, Schema, SchemaBuilder, ServerError, ServerResult, ValidationResult,
    Variables,
};

/// Deepest selection accepted.
pub const MAX_DEPTH: usize = 12;
/// Most expensive query accepted: lists count `first` × their children.
pub const MAX_COMPLEXITY: usize = 20_000;

#[derive(MergedObject, Default)]
pub struct Query(territory::TerritoryQuery);

pub type AmbitoSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// The schema with its limits; request data (database, loaders) is added per request.
pub fn builder() -> SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query::default(), EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(8)
        .extension(ErrorCodes)
}

pub fn schema() -> AmbitoSchema {
    builder().finish()
}

/// The SDL written to `schema.graphql`.
pub fn sdl() -> String {
    schema().sdl()
}

/// Error codes that tell a request refused before execution from one that ran:
/// `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`, `QUERY_TOO_DEEP`,
/// `QUERY_TOO_COMPLEX`. No resolver runs for any of them.
pub const PRE_EXECUTION_CODES: [&str; 4] =
    ["GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "QUERY_TOO_DEEP", "QUERY_TOO_COMPLEX"];

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
        next.run(ctx, query, variables).await.map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))
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
