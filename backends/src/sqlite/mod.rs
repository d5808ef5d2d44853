//! SQLite through rusqlite (bundled library, no-mutex mode, foreign keys on, WAL for files).

mod connection;
mod error;
mod functions;
mod stmt;
mod types;

pub use connection::SqliteConnection;
