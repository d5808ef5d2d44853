//! The integration suite: every body runs on SQLite, PostgreSQL and MySQL (see
//! `orm_backends::testing`).

mod abstract_bases;
mod connect;
mod deletion;
mod deletion_order;
mod inheritance;
mod inheritance_relations;
mod inheritance_writes;
mod integrity;
mod migrations_cli;
mod migrations_data;
mod migrations_executor;
mod migrations_inspected;
mod migrations_keys;
mod migrations_operations;
mod migrations_renames;
mod models;
mod queryset;
mod related_managers;
mod relations;
mod schema_ddl;
mod signals;
mod signals_dispatch;
mod streaming;
mod transactions;
mod values;
