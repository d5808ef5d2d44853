//! MySQL 8 and MariaDB 10.5+ through the `mysql` crate (pure Rust: no OpenSSL, no system
//! zlib).
//!
//! - `connection.rs`: [`MysqlConnection`], session setup, statements, transactions.
//! - `stream.rs`: unbuffered result reading; memory stays flat however many rows arrive.
//! - `types.rs`: `Value` → MySQL parameters, and cells → `ValueRef` by column metadata.
//! - `error.rs`: server error numbers → `ErrorKind`, with the constraint read from the
//!   server's message.
//!
//! Choices worth knowing:
//!
//! - Queries and parameterised statements use the binary protocol as prepared statements,
//!   cached by SQL text; rows therefore carry typed cells (integers, doubles, dates) and the
//!   column metadata decides the rest (`DECIMAL`, `JSON`, binary vs. text strings).
//! - A `:name` outside quotes in SQL is taken as a named parameter by the driver; the SQL
//!   this crate renders uses `?` only.
//! - Connecting runs on a short-lived helper thread so that a server that accepts TCP but
//!   never answers cannot hang the caller past the connect timeout.
//! - A stream dropped before its end reads and discards the rest of the result (the
//!   protocol offers no cheaper way to cancel it); drop early streams over huge results
//!   with care, or add a `LIMIT`.

// `crate::Error` is larger than clippy's 128-byte threshold; every `Result` in the crate
// carries it, so the lint belongs to `error.rs` (boxing its detail), not to each backend.
#![allow(clippy::result_large_err)]

mod connection;
mod error;
mod stream;
mod types;

pub use connection::MysqlConnection;
