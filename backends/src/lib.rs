//! # orm-backends: the database layer
//!
//! This crate talks to databases and knows nothing of models, querysets or migrations. It
//! owns:
//!
//! - [`Value`] / [`ValueRef`], the neutral parameter and cell types, with [`ToValue`] and
//!   [`FromValue`];
//! - [`Row`], read by column index without copying, and [`RowStream`], rows lent as they
//!   arrive;
//! - the object-safe [`Connection`] trait and its three implementations (SQLite, PostgreSQL,
//!   MySQL/MariaDB, each behind a cargo feature), [`Pool`] and [`Executor`];
//! - transactions and nested savepoints as guards ([`atomic`], [`Transaction`]);
//! - [`Dialect`] and [`Features`]: quoting, placeholders and documented capability flags;
//! - a neutral schema description ([`schema`]) rendered to DDL per dialect, and
//!   introspection that reads the same description back from a live database;
//! - one [`Error`] type whose [`ErrorKind`] is vendor-neutral and keeps the server's detail.
//!
//! ## Layers
//!
//! Modules depend one way, bottom to top (`../shared/tools/layers` checks it):
//!
//! ```text
//! connect          connect(url): the one module that names every vendor
//!   ├─ sqlite/ postgres/ mysql/   vendor connections; each knows only the layers below
//!   └─ pool        a pool opens connections through an `Opener` it is handed
//!        transaction   atomic blocks as guards over a `dyn Connection`
//!          connection  the Connection trait, Executor, Checkout
//!            row        Row, OwnedRow, RowStream
//!              value    Value, ValueRef, ToValue/FromValue, ConversionError
//!                error · dialect · url · features · cell   (leaves)
//! schema           neutral schema description, DDL, introspection (over connection)
//! testing          per-test isolated databases (feature "testing")
//! ```
//!
//! ```
//! use orm_backends::{connect, Connection, Value};
//!
//! let pool = connect("sqlite::memory:")?;
//! let mut conn = pool.get()?;
//! conn.execute_batch("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")?;
//! conn.execute("INSERT INTO note (body) VALUES (?)", &[Value::from("it's; -- fine")])?;
//! let mut stream = conn.stream("SELECT id, body FROM note", &[])?;
//! while let Some(row) = stream.next_row()? {
//!     let body: String = row.get(1)?;
//!     assert_eq!(body, "it's; -- fine");
//! }
//! # Ok::<(), orm_backends::Error>(())
//! ```
//!
//! ## Departures from the design notes
//!
//! DDL is built with sea-query's schema statements ([`schema::render`]): `CREATE`/`DROP
//! TABLE`, `CREATE`/`DROP INDEX`, column definitions, unique, check and foreign-key clauses,
//! and the `ALTER TABLE` forms sea-query has for each dialect ([`schema::render::AlterTable`]).
//! Two things stay this crate's so the create → introspect round trip reads back exactly what
//! was written: type names (each column is a sea-query custom type named by
//! [`schema::column_type_sql`]; sea-query's own names differ, such as `binary(16)` UUIDs on
//! MySQL) and default literals ([`schema::default_sql`]). Hand-written, each with a
//! `sea-query lacks` comment, are only what sea-query cannot express: PostgreSQL identity
//! columns, the names of SQLite foreign keys in `CREATE TABLE`, and a few `ALTER TABLE`
//! forms (`DROP DEFAULT`, identity changes, a multi-column `ADD PRIMARY KEY`, MySQL's `DROP
//! PRIMARY KEY`, adding a unique or check constraint). sea-query's SQLite builder panics on
//! the ALTERs SQLite lacks; `AlterTable` returns an `Unsupported` error for those instead, and
//! the migrations engine rebuilds the table there.

mod cell;
mod connect;
mod connection;
mod dialect;
mod error;
mod features;
mod pool;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod probe;
mod row;
mod transaction;
mod url;
mod value;

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod schema;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use cell::{Cell, CellRef};
pub use connect::{connect, connect_one, connect_with};
pub use connection::{
    Checkout, Connection, Executor, GeneratedKeys, InsertKeys, InsertedRows, StatementObserver, FETCH_GROWING,
};
pub use dialect::Dialect;
pub use error::{Error, ErrorKind, Result, Violation};
pub use features::Features;
pub use pool::{Opener, Pool, PooledConnection};
pub use row::{OwnedRow, Row, RowStream};
pub use transaction::{atomic, atomic_with_extension, atomic_with_options, AtomicOptions, Savepoint, Transaction};
pub use url::{Backend, ConnectOptions, SqliteTarget};
pub use value::{ConversionError, FromValue, Param, ToValue, Value, ValueRef};

/// Re-exported so users and the layers above name one version.
pub use chrono;
pub use rust_decimal;
pub use serde_json;
pub use uuid;
