//! [`Database`]: the handle an application keeps: a connection pool plus what is scoped to
//! it (signal receivers and query capture arrive with later layers).

use crate::error::Result;
use orm_backends::{Connection, Dialect, Executor, Pool, Transaction};

/// A database handle: cheap to clone, thread-safe, and an [`Executor`].
///
/// ```
/// use orm::Database;
/// let db = Database::connect("sqlite::memory:")?;
/// assert_eq!(db.dialect(), orm::Dialect::Sqlite);
/// # Ok::<(), orm::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Database {
    pool: Pool,
}

impl Database {
    /// Connects to `url` (`sqlite::memory:`, `sqlite://file.db`, `postgres://…`, `mysql://…`).
    pub fn connect(url: &str) -> Result<Self> {
        Ok(Database { pool: orm_backends::connect(url)? })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: Pool) -> Self {
        Database { pool }
    }

    /// The pool underneath.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The SQL dialect.
    pub fn dialect(&self) -> Dialect {
        Dialect::of(self.pool.backend())
    }

    /// Runs `f` in a transaction: commits on `Ok`, rolls back on `Err` or panic. Nested
    /// `tx.atomic(...)` calls use savepoints.
    pub fn atomic<R>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<R>) -> Result<R> {
        self.pool.atomic(f)
    }
}

impl Executor for Database {
    fn with_connection<R, E: From<orm_backends::Error>>(
        &self,
        f: impl FnOnce(&mut dyn Connection) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        self.pool.with_connection(f)
    }

    fn checkout(&self) -> std::result::Result<orm_backends::Checkout<'_>, orm_backends::Error> {
        self.pool.checkout()
    }

    fn dialect(&self) -> Dialect {
        Database::dialect(self)
    }
}
