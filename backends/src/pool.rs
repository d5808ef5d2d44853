//! A thread-safe, cheap-to-clone pool of connections, on r2d2.
//!
//! `sqlite::memory:` is private to one connection, so its pool holds exactly one connection
//! that is never closed while the pool lives; a second checkout waits for the first to be
//! returned. File databases and servers get `pool_size` connections (default 8).

use crate::connection::{Checkout, Connection, Executor};
use crate::dialect::Dialect;
use crate::error::{Error, ErrorKind, Result};
use crate::transaction::{atomic, Transaction};
use crate::url::{Backend, ConnectOptions, SqliteTarget};
use std::sync::Arc;
use std::time::Duration;

/// Opens one connection from parsed options.
pub fn connect_with(options: &ConnectOptions) -> Result<Box<dyn Connection>> {
    match options.backend {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => Ok(Box::new(crate::sqlite::SqliteConnection::open(options)?)),
        #[cfg(feature = "postgres")]
        Backend::Postgres => Ok(Box::new(crate::postgres::PostgresConnection::open(options)?)),
        #[cfg(feature = "mysql")]
        Backend::Mysql => Ok(Box::new(crate::mysql::MysqlConnection::open(options)?)),
        #[allow(unreachable_patterns)]
        other => Err(Error::new(
            ErrorKind::Unsupported,
            format!("orm-backends was built without the `{}` feature", other.name()),
        )),
    }
}

/// Opens one connection to `url` (see [`ConnectOptions::parse`] for the forms).
pub fn connect_one(url: &str) -> Result<Box<dyn Connection>> {
    connect_with(&ConnectOptions::parse(url)?)
}

/// Opens a pool for `url`. One connection is opened at once, so a bad URL, a server that is
/// down or wrong credentials fail here, within the connect timeout.
///
/// ```
/// use orm_backends::{connect, Connection, Value};
/// let pool = connect("sqlite::memory:").unwrap();
/// let mut conn = pool.get().unwrap();
/// let rows = conn.query("SELECT ? + 1", &[Value::Int(41)]).unwrap();
/// assert_eq!(rows[0].get::<i64>(0).unwrap(), 42);
/// ```
pub fn connect(url: &str) -> Result<Pool> {
    Pool::new(ConnectOptions::parse(url)?)
}

/// The r2d2 connection manager behind [`Pool`]: opens connections from [`ConnectOptions`],
/// rolls back a connection returned inside a transaction ([`Connection::reset`]) and discards
/// those left broken.
pub struct Manager {
    options: ConnectOptions,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Box<dyn Connection>;
    type Error = Error;

    fn connect(&self) -> Result<Self::Connection> {
        connect_with(&self.options)
    }

    fn is_valid(&self, conn: &mut Self::Connection) -> Result<()> {
        conn.execute_batch("SELECT 1")
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        conn.is_broken() && (conn.reset().is_err() || conn.is_broken())
    }
}

/// A pooled connection; dereferences to the connection and returns to the pool on drop.
pub type PooledConnection = r2d2::PooledConnection<Manager>;

/// A pool of connections to one database. Clones share the pool.
#[derive(Clone)]
pub struct Pool {
    inner: r2d2::Pool<Manager>,
    options: Arc<ConnectOptions>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("backend", &self.options.backend).field("state", &self.inner.state()).finish()
    }
}

impl Pool {
    /// Builds a pool from parsed options; opens the first connection now.
    pub fn new(options: ConnectOptions) -> Result<Self> {
        let first = connect_with(&options)?;
        drop(first);
        let memory = matches!(options.sqlite, Some(SqliteTarget::Memory));
        let mut builder = r2d2::Pool::builder()
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(30).max(options.connect_timeout))
            .error_handler(Box::new(r2d2::NopErrorHandler));
        if memory {
            builder = builder.max_size(1).min_idle(Some(1)).idle_timeout(None).max_lifetime(None);
        } else {
            builder = builder.max_size(options.pool_size).min_idle(Some(0));
        }
        let inner = builder
            .build(Manager { options: options.clone() })
            .map_err(|e| Error::new(ErrorKind::Connection, e.to_string()))?;
        Ok(Pool { inner, options: Arc::new(options) })
    }

    /// Checks out a connection, waiting up to 30 seconds (or the connect timeout, if longer)
    /// for one to be free.
    pub fn get(&self) -> Result<PooledConnection> {
        self.inner.get().map_err(|e| {
            Error::new(
                ErrorKind::Timeout,
                format!("no connection available from the {} pool: {e}", self.options.backend.name()),
            )
        })
    }

    /// The options this pool connects with.
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.options.backend
    }

    /// Runs `f` in a transaction on a checked-out connection (see [`atomic`]).
    pub fn atomic<R, E: From<Error>>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<R, E>) -> Result<R, E> {
        let mut conn = self.get()?;
        atomic(&mut *conn, f)
    }
}

impl Executor for Pool {
    fn with_connection<R, E: From<Error>>(&self, f: impl FnOnce(&mut dyn Connection) -> Result<R, E>) -> Result<R, E> {
        let mut conn = self.get()?;
        f(&mut *conn)
    }

    fn checkout(&self) -> Result<Checkout<'_>> {
        Ok(Checkout::pooled(self.get()?))
    }

    fn dialect(&self) -> Dialect {
        Dialect::of(self.options.backend)
    }
}
