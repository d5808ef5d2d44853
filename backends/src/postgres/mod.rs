//! PostgreSQL 12+ through the synchronous `postgres` crate (pure Rust, no TLS).
//!
//! - `connection.rs`: [`PostgresConnection`]: connecting (bounded by the connect timeout), the
//!   prepared-statement cache, statements, `INSERT … RETURNING`, transactions and savepoints.
//! - `stream.rs`: rows read off the socket one at a time as the caller asks for them.
//! - `types.rs`: `Value` → parameters encoded for the type the server inferred, and binary
//!   cells → `ValueRef` by the column's type.
//! - `error.rs`: SQLSTATE → `ErrorKind`, keeping the server's message, constraint and table.
//!
//! Choices worth knowing:
//!
//! - Statements are prepared without declared parameter types, so the server infers each
//!   parameter's type from the SQL; a [`Value`](crate::Value) is then encoded for that type
//!   (an `Int` bound to a `smallint` parameter is range-checked, `Text` bound to a `uuid` or
//!   `date` parameter is parsed, a naive `DateTime` bound to `timestamptz` is taken as UTC).
//!   Types this backend does not encode itself (enums, `inet`, `interval`, arrays …) receive
//!   the value's text form, which the server parses as it would a literal.
//! - Results are read in the binary format. Cells of types without a [`ValueRef`](crate::ValueRef)
//!   counterpart (`interval`, `inet`, arrays …) are an error that suggests a cast to `text`.
//! - Streaming uses `query_raw`: the driver reads the socket only as rows are asked for
//!   (the protocol task stops reading while the caller holds a row back), so memory stays flat
//!   without a portal or a transaction; an early-dropped stream's remaining rows are read and
//!   discarded before the next statement runs. (A portal would need the driver's own
//!   `Transaction` object, which cannot nest inside the transactions this crate tracks.)
//! - Sessions run with `TimeZone=UTC`, so `timestamptz` arithmetic and casts to `timestamp` or
//!   `date` agree with the "naive datetimes are UTC" rule of the other backends.
//! - `search_path` from the options (the test harness's per-test schema) is set at connect
//!   time as a startup option, so it holds for every pooled connection.
//! - A failed statement aborts a PostgreSQL transaction. The connection remembers that, and
//!   refuses to `COMMIT` an aborted transaction (the server would silently roll it back);
//!   rolling back to a savepoint taken before the failure recovers, as on the server.

mod connection;
mod error;
mod stream;
mod types;

pub use connection::PostgresConnection;
