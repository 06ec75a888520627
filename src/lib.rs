//! Ambito: GraphQL server for the data platforms of Italian provincial school offices.

pub mod auth;
pub mod authz;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod import;
pub mod mail;
pub mod reports;
pub mod rules;
pub mod seed;
pub mod server;
pub mod storage;
pub mod telemetry;
pub mod usecases;
