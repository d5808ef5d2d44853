//! SQLite through rusqlite (bundled library, no-mutex mode, foreign keys on, WAL for files).

mod connection;
mod error;
pub(crate) mod introspection;
mod types;

pub use connection::SqliteConnection;
