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
//! DDL is rendered by this crate's own small per-dialect renderer ([`schema`]) rather than
//! sea-query's schema builders: the create → introspect round trip needs exact control of the
//! type names each vendor reports back (sea-query picks `binary(16)` UUIDs and `bool` on
//! MySQL, for example), and sea-query's SQLite builder panics on several ALTERs the
//! migrations engine needs.

mod cell;
mod connect;
mod connection;
mod dialect;
mod error;
mod features;
mod pool;
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
pub use connection::{Checkout, Connection, Executor, GeneratedKeys, InsertKeys, InsertedRows, StatementObserver};
pub use dialect::Dialect;
pub use error::{Error, ErrorKind, Result, Violation};
pub use features::Features;
pub use pool::{Opener, Pool, PooledConnection};
pub use row::{OwnedRow, Row, RowStream};
pub use transaction::{atomic, atomic_with_extension, Transaction};
pub use url::{Backend, ConnectOptions, SqliteTarget};
pub use value::{ConversionError, FromValue, Param, ToValue, Value, ValueRef};

/// Re-exported so users and the layers above name one version.
pub use chrono;
pub use rust_decimal;
pub use serde_json;
pub use uuid;
