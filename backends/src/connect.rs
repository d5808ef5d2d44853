//! Opening connections by URL: the one module that names every vendor, above the pool and the
//! vendor folders, which know nothing of each other.

use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::pool::Pool;
use crate::url::{Backend, ConnectOptions};

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

impl Pool {
    /// Builds a pool from parsed options; opens the first connection now (and keeps it).
    pub fn new(options: ConnectOptions) -> Result<Self> {
        Pool::with_opener(options, connect_with)
    }

    /// A pool that opens no connection until the first checkout (Django connects lazily):
    /// a server that is down is reported by the first query, not here, so an application can
    /// start while a replica is away. `sqlite::memory:` still opens its one connection now,
    /// since that connection is the database.
    pub fn lazy(options: ConnectOptions) -> Result<Self> {
        if matches!(options.sqlite, Some(crate::url::SqliteTarget::Memory)) {
            return Pool::new(options);
        }
        Ok(Pool::with_opener_lazy(options, connect_with))
    }
}
