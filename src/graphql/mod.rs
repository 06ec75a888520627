//! Schema assembly: the query root and its limits (the checks run around
//! each request are in [`gate`]).

pub mod accounts;
pub mod admissions;
pub mod attachments;
pub mod connection;
pub mod events;
pub mod gate;
pub mod limits;
pub mod loaders;
pub mod mobility;
pub mod refugees;
pub mod registry;
pub mod scalars;
pub mod territory;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, MergedObject, Schema, SchemaBuilder, ValidationMode};

use crate::auth::passwords::Passwords;
use crate::auth::{SessionPolicy, Subject};
use crate::authz::{Action, Authorizer, Caller, ObjectKind, Scope};
use crate::db::RequestDb;
use crate::error::AppError;
use crate::mail::Mailer;
use crate::rules::throttle::ThrottlePolicy;
use crate::storage::Files;
use crate::usecases::accounts::recovery::PublicUrl;
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
    admissions::AdmissionsQuery,
    admissions::AfterPublicationQuery,
    mobility::MobilityQuery,
    mobility::ApplicationsQuery,
    mobility::AllocationQuery,
    mobility::CorrectionsQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountsMutation,
    registry::RegistryMutation,
    attachments::AttachmentsMutation,
    refugees::RefugeesMutation,
    admissions::AdmissionsMutation,
    admissions::AfterPublicationMutation,
    mobility::MobilityMutation,
    mobility::ApplicationsMutation,
    mobility::AllocationMutation,
    mobility::CorrectionsMutation,
);

pub type AmbitoSchema = Schema<Query, Mutation, events::Subscription>;

/// The schema with its limits; request data (database, loaders, subject) is added per request.
pub fn builder() -> SchemaBuilder<Query, Mutation, events::Subscription> {
    // Instants as arguments (scalars::Instant) and in answers (chrono) are both `DateTime`.
    Schema::build_with_ignore_name_conflicts(Query::default(), Mutation::default(), events::Subscription, ["DateTime"])
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(8)
}

/// What resolvers share besides the request's own data.
#[derive(Clone)]
pub struct Services {
    pub passwords: Passwords,
    pub sessions: SessionPolicy,
    pub throttle: ThrottlePolicy,
    pub authz: Authorizer,
    pub mailer: Option<Mailer>,
    pub public_url: PublicUrl,
    pub files: Files,
    /// Change signals for subscriptions, and the pools they read from.
    pub events: crate::events::Events,
    pub pools: crate::db::roles::Pools,
    /// The domain clock the processes' rules read.
    pub clock: crate::usecases::clock::Clock,
}

/// Deepest selection of an introspection document: the explorer's asks for
/// a field argument's type wrapped eight times (`[[Int!]!]`…), 14 levels.
pub const MAX_INTROSPECTION_DEPTH: usize = 16;

/// The schemas a server runs.
pub struct Schemas {
    /// Over HTTP, checked by [`gate::admit`].
    pub http: AmbitoSchema,
    /// Over WebSocket, checked by [`gate::WsChecks`].
    pub ws: AmbitoSchema,
    /// Introspection alone, with room for the depth the explorer's query
    /// needs: only on a server that can be explored.
    pub introspection: Option<AmbitoSchema>,
    /// The HTTP schema's validation alone, run before a session is looked up
    /// (see [`gate::admit`]).
    pub validator: AmbitoSchema,
}

/// The schemas served over HTTP and WebSocket. Outside demo mode (or
/// `--explorer`) they cannot be explored: no introspection, no "did you
/// mean" suggestions.
///
/// `fields`, when given, counts every field resolved over HTTP: a
/// diagnostic (the tests' proof that refused documents run nothing), off by
/// default because any extension slows every field (see [`gate`]).
pub fn schemas(services: Services, explorable: bool, fields: Option<prometheus::IntCounter>) -> Schemas {
    let counted = |b: SchemaBuilder<Query, Mutation, events::Subscription>| match &fields {
        Some(counter) => b.extension(gate::CountFields(counter.clone())),
        None => b,
    };
    let introspection = explorable.then(|| {
        let b = builder().limit_depth(MAX_INTROSPECTION_DEPTH).introspection_only();
        schema(counted(b), services.clone(), true)
    });
    Schemas {
        // Every document the HTTP schema runs passed the validator's full
        // validation first (`gate::admit`); running it again cost W1 a
        // tenth of the server's instructions (BENCHMARKS.md, issue 23).
        http: schema(counted(builder().validation_mode(ValidationMode::Fast)), services.clone(), explorable),
        validator: schema(builder().extension(gate::ValidateOnly), services.clone(), explorable),
        ws: schema(builder().extension(gate::WsChecks), services, explorable),
        introspection,
    }
}

fn schema(
    builder: SchemaBuilder<Query, Mutation, events::Subscription>,
    services: Services,
    explorable: bool,
) -> AmbitoSchema {
    let mut b = builder
        .data(services.passwords)
        .data(services.sessions)
        .data(services.throttle)
        .data(services.authz)
        .data(services.public_url)
        .data(services.files)
        .data(services.clock)
        .data(services.events)
        .data(events::EventPools { requests: services.pools.requests, auth: services.pools.auth });
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
pub const PRE_EXECUTION_CODES: [&str; 8] = [
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "QUERY_TOO_DEEP",
    "QUERY_TOO_COMPLEX",
    "QUERY_TOO_LARGE",
    "QUERY_TOO_MANY_ALIASES",
    "QUERY_TOO_MANY_ROOT_FIELDS",
    "INTROSPECTION_DISABLED",
];
