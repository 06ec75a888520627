//! Integration tests: the real server over HTTP, a real PostgreSQL, the
//! published open-data files. One test binary, so one cluster per run.

mod harness;

mod accounts;
mod admissions;
mod attachments;
mod audit_chain;
mod browser;
mod cli;
mod crash;
mod delta_sync;
mod deployment;
mod enabling;
mod enumeration;
mod explorer;
mod exports;
mod garage;
mod hostile;
mod http;
mod idempotency;
mod imports;
mod isolation;
mod lifecycle;
mod limited_mode;
mod mobility;
mod mobility_allocation;
mod overload;
mod plans;
mod policy_matrix;
mod recovery;
mod refugees;
mod registry;
mod registry_report;
mod row_security;
mod schema_file;
mod serve;
mod smtp;
mod storage;
mod subscriptions;
mod territory;
mod throttle;
mod traces;
