//! The use cases of every process: what a request may do and how, between
//! the GraphQL resolvers above and the queries of `db/` below. Each checks
//! the caller's scope and the rules (`rules/`, pure), runs its queries in the
//! request's transaction, and records the audit trail.

pub mod accounts;
pub mod admissions;
pub mod attachments;
pub mod clock;
pub mod mobility;
pub mod refugees;
pub mod registry;
