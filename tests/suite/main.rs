//! The integration suite: every body runs on SQLite, PostgreSQL and MySQL (see
//! `orm_backends::testing`).

mod connect;
mod deletion;
mod inheritance;
mod integrity;
mod migrations_cli;
mod migrations_data;
mod migrations_executor;
mod migrations_inspected;
mod migrations_keys;
mod migrations_operations;
mod migrations_renames;
mod models;
mod query_semantics;
mod queryset;
mod relations;
mod schema_ddl;
mod signals;
mod streaming;
mod transactions;
mod values;
