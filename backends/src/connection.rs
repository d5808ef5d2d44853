//! The [`Connection`] trait every backend implements, and [`Executor`]: anything a statement
//! can run on (a pool, a transaction).

use crate::dialect::Dialect;
use crate::error::{Error, ErrorKind, Result};
use crate::features::Features;
use crate::row::{OwnedRow, Row, RowStream};
use crate::value::{Param, Value};
use std::sync::Arc;

/// Observes every statement a connection runs (query capture, tracing). Installed per
/// connection; see [`Connection::set_observer`].
pub trait StatementObserver: Send + Sync {
    /// Called once per statement, before it runs, with its SQL and parameter count.
    fn statement(&self, sql: &str, params: &[Value]);

    /// Is the observer recording right now? When it says no, a connection may skip building
    /// what [`statement`](StatementObserver::statement) would receive (owned copies of
    /// borrowed parameters). `true` by default.
    fn is_active(&self) -> bool {
        true
    }
}

/// One open connection to a database.
///
/// The implementer's checklist:
///
/// - `execute`, `query`, `stream` and `insert` take SQL with the dialect's placeholders
///   (`?` on SQLite and MySQL, `$1` on PostgreSQL) and bind every value as a parameter; user
///   data is never spliced into the SQL text.
/// - Prepared statements are cached per connection, keyed by the SQL text.
/// - `stream` yields rows as the server sends them, with memory independent of the row count.
/// - `begin`/`commit`/`rollback` nest: depth 0 opens a transaction, deeper levels use
///   savepoints named `orm_sp_<depth>`.
/// - Errors are classified into [`ErrorKind`]s and keep the server's message, code and
///   constraint name.
/// - Every statement is reported to the observer, if one is installed, before it runs.
pub trait Connection: Send {
    /// The SQL dialect of this connection.
    fn dialect(&self) -> Dialect;

    /// Runs one statement with bound parameters; returns the number of rows affected.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;

    /// Runs one statement with parameters that borrow where they can (see
    /// [`Param`](crate::Param)); returns the number of rows affected. The default copies them
    /// into owned values for [`execute`](Connection::execute); SQLite binds them as they are.
    fn execute_params(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let owned: Vec<Value> = params.iter().map(|p| p.as_value_ref().to_owned_value()).collect();
        self.execute(sql, &owned)
    }

    /// Runs one or more statements separated by `;`, with no parameters (DDL scripts,
    /// transaction control).
    fn execute_batch(&mut self, sql: &str) -> Result<()>;

    /// Runs a query and lends its rows one at a time, as they arrive.
    fn stream<'a>(&'a mut self, sql: &str, params: &[Value]) -> Result<Box<dyn RowStream + 'a>>;

    /// Runs a query to be read row by row, as [`stream`](Connection::stream) does, telling the
    /// backend it may fetch `fetch_rows` rows per round trip ([`FETCH_GROWING`]: 2000, then
    /// twice as many each round trip up to 8192): PostgreSQL, outside a transaction, then
    /// reads through a portal in a transaction of its own (what Django's server-side cursors
    /// do for `iterator(chunk_size=…)`), which costs two more round trips (BEGIN, COMMIT) but
    /// spends about half the client CPU time per row of waking the protocol task once per
    /// row. Memory is bounded by one fetch. The default is `stream`.
    fn stream_fetching<'a>(
        &'a mut self,
        sql: &str,
        params: &[Value],
        fetch_rows: usize,
    ) -> Result<Box<dyn RowStream + 'a>> {
        let _ = fetch_rows;
        self.stream(sql, params)
    }

    /// Runs a query whose rows are all wanted at once (to build a list) and lends them one at
    /// a time. Unlike [`stream`](Connection::stream), the backend may read the whole result
    /// before the first row is lent, so memory grows with the result: PostgreSQL does, in one
    /// round trip, instead of waking its protocol task once per row. The default is `stream`.
    fn stream_all<'a>(&'a mut self, sql: &str, params: &[Value]) -> Result<Box<dyn RowStream + 'a>> {
        self.stream(sql, params)
    }

    /// Runs a query whose rows are all wanted and hands each to `each`, in order, until it
    /// returns `false` or the rows end. Nothing is boxed and the SQL is not copied, which is
    /// what a one-row read spends most of its own time on; the rows are read as
    /// [`stream_all`](Connection::stream_all) reads them (the default goes through it).
    fn for_each_row(&mut self, sql: &str, params: &[Value], each: &mut dyn FnMut(&dyn Row) -> bool) -> Result<()> {
        let mut stream = self.stream_all(sql, params)?;
        while let Some(row) = stream.next_row()? {
            if !each(row) {
                break;
            }
        }
        Ok(())
    }

    /// Runs an `INSERT` and returns the generated key: read through `RETURNING <column>` where
    /// the backend has it (SQLite, PostgreSQL) and `returning` names the column, else the
    /// driver's last-insert id (MySQL `LAST_INSERT_ID()`). `None` when nothing was generated.
    fn insert(&mut self, sql: &str, params: &[Value], returning: Option<&str>) -> Result<Option<Value>>;

    /// Runs a multi-row `INSERT` of `rows` rows and returns how many were inserted and, when
    /// `keys` names the table and its generated key column, the key of every row in order
    /// ([`GeneratedKeys::Unknown`] where the backend cannot tell them, MySQL:
    /// `LAST_INSERT_ID()` names only the first row, as in Django).
    ///
    /// The default appends `RETURNING <column>` where
    /// [`Features::can_return_rows_from_bulk_insert`] holds; SQLite overrides it to read the
    /// keys off `last_insert_rowid()` instead (see its implementation), which spares SQLite
    /// the temporary table its `RETURNING` builds.
    fn insert_rows(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        rows: usize,
        keys: Option<InsertKeys<'_>>,
    ) -> Result<InsertedRows> {
        let params: Vec<Value> = params.iter().map(|p| p.as_value_ref().to_owned_value()).collect();
        let params = params.as_slice();
        match keys {
            Some(k) if self.features().can_return_rows_from_bulk_insert => {
                let mut full = String::with_capacity(sql.len() + k.column.len() + 16);
                full.push_str(sql);
                full.push_str(" RETURNING ");
                self.dialect().write_ident(&mut full, k.column);
                let mut stream = self.stream(&full, params)?;
                let mut out = Vec::with_capacity(rows);
                while let Some(row) = stream.next_row()? {
                    out.push(row.value(0)?);
                }
                Ok(InsertedRows { count: out.len() as u64, keys: GeneratedKeys::Listed(out) })
            }
            _ => Ok(InsertedRows { count: self.execute(sql, params)?, keys: GeneratedKeys::Unknown }),
        }
    }

    /// How many transactions and savepoints are open (0 = autocommit).
    fn transaction_depth(&self) -> usize;

    /// Opens a transaction, or a savepoint inside the open one.
    fn begin(&mut self) -> Result<()>;

    /// Commits the innermost transaction or releases the innermost savepoint.
    fn commit(&mut self) -> Result<()>;

    /// Rolls back the innermost transaction or savepoint.
    fn rollback(&mut self) -> Result<()>;

    /// Must the innermost `atomic` block this connection is in roll back (Django's
    /// `get_rollback`)? True after a statement of the block failed on the server, or after
    /// [`set_rollback(true)`](Connection::set_rollback); every further statement of the block
    /// is then refused with [`ErrorKind::TransactionManagement`] until the block ends. Only
    /// the connection an `atomic` block hands out tracks this; a bare connection says `false`.
    fn needs_rollback(&self) -> bool {
        false
    }

    /// Marks (or, with `false`, unmarks) the innermost `atomic` block for rollback (Django's
    /// `set_rollback`). Only a connection handed out by an `atomic` block can; elsewhere it is
    /// an [`ErrorKind::Usage`] error.
    fn set_rollback(&mut self, rollback: bool) -> Result<()> {
        let _ = rollback;
        Err(Error::new(ErrorKind::Usage, "set_rollback() is only possible inside an atomic block"))
    }

    /// Installs (or removes) the statement observer. Installing the one already installed
    /// costs nothing (pools re-install it on every checkout).
    fn set_observer(&mut self, observer: Option<&Arc<dyn StatementObserver>>);

    /// Is the connection unusable (lost, or left inside a transaction)? Pools discard such
    /// connections instead of handing them out again.
    fn is_broken(&mut self) -> bool {
        self.transaction_depth() > 0
    }

    /// Rolls back whatever transaction the connection was left in, so it can serve again: a
    /// pool calls it when a connection comes back (a caller that returned it mid-transaction
    /// loses that transaction, as if it had rolled back), and discards the connection only if
    /// this fails. Without it, `sqlite::memory:`, whose one connection *is* the database,
    /// would lose every table with the connection.
    fn reset(&mut self) -> Result<()> {
        while self.transaction_depth() > 0 {
            self.rollback()?;
        }
        Ok(())
    }

    /// The capability flags of this backend.
    fn features(&self) -> &'static Features {
        self.dialect().features()
    }

    /// Runs a query and copies every row.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<OwnedRow>> {
        let mut stream = self.stream(sql, params)?;
        let mut out = Vec::new();
        let mut columns: Option<Arc<[String]>> = None;
        while let Some(row) = stream.next_row()? {
            let cols = columns.get_or_insert_with(|| {
                (0..row.column_count()).map(|i| row.column_name(i).unwrap_or_default().to_owned()).collect()
            });
            let values =
                (0..row.column_count()).map(|i| Ok(row.value_ref(i)?.to_owned_value())).collect::<Result<Vec<_>>>()?;
            out.push(OwnedRow::new(cols.clone(), values));
        }
        Ok(out)
    }

    /// Runs a query expected to return at most one row and copies it.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<OwnedRow>> {
        let mut stream = self.stream(sql, params)?;
        let first = match stream.next_row()? {
            Some(row) => Some((row as &dyn Row).to_owned_row()?),
            None => None,
        };
        Ok(first)
    }
}

/// The generated key column a multi-row insert should hand back: see
/// [`Connection::insert_rows`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InsertKeys<'a> {
    /// The table inserted into.
    pub table: &'a str,
    /// Its generated key column.
    pub column: &'a str,
}

/// What [`Connection::insert_rows`] reports.
#[derive(Clone, Debug, PartialEq)]
pub struct InsertedRows {
    /// How many rows were inserted.
    pub count: u64,
    /// The generated key of every row, in order, when asked for and known.
    pub keys: GeneratedKeys,
}

/// The keys a multi-row insert generated, in row order.
#[derive(Clone, Debug, PartialEq)]
pub enum GeneratedKeys {
    /// Not asked for, or not known (MySQL).
    Unknown,
    /// One per row, as the database returned them.
    Listed(Vec<Value>),
    /// The integers `first`, `first + 1`, … one per row (SQLite's rowids).
    Consecutive {
        /// The first row's key.
        first: i64,
    },
}

/// Something statements can run on: a pool (checks a connection out for the call) or a
/// transaction (uses its connection).
///
/// Methods take `&self`, so a transaction handle can be passed to many calls in a row without
/// re-borrowing. Using a transaction's connection while a row stream over it is still open is
/// a [`ErrorKind::Busy`] error, never a panic.
pub trait Executor {
    /// Runs `f` with a connection.
    fn with_connection<R, E: From<Error>>(&self, f: impl FnOnce(&mut dyn Connection) -> Result<R, E>) -> Result<R, E>;

    /// Holds a connection for as long as the returned guard lives (a pooled checkout, or the
    /// transaction's connection borrowed). Row iterators that outlive one call use this.
    fn checkout(&self) -> Result<Checkout<'_>>;

    /// The dialect statements will be written in.
    fn dialect(&self) -> Dialect;

    /// Something the layer above attached to the handle this executor comes from, for it to
    /// find again from any executor (the ORM keeps its signal receivers here, so `save(tx)`
    /// reaches the receivers of the database handle that opened `tx`). This crate never looks
    /// inside: it only carries the value, from a handle to the transactions it opens
    /// ([`atomic_with_extension`](crate::atomic_with_extension)) and their savepoints.
    /// `None` by default, and for a bare [`Pool`](crate::Pool).
    fn extension(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        None
    }
}

/// A connection held for a while: see [`Executor::checkout`].
pub struct Checkout<'a> {
    inner: Box<dyn std::ops::DerefMut<Target = dyn Connection + 'a> + 'a>,
}

impl<'a> Checkout<'a> {
    /// Holds `c` (a pooled connection, a transaction's borrowed one) until dropped.
    pub(crate) fn borrowed(c: impl std::ops::DerefMut<Target = dyn Connection + 'a> + 'a) -> Self {
        Checkout { inner: Box::new(c) }
    }

    /// The connection.
    pub fn connection(&mut self) -> &mut (dyn Connection + 'a) {
        &mut *self.inner
    }
}

impl std::fmt::Debug for Checkout<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkout")
    }
}

impl<T: Executor + ?Sized> Executor for &T {
    fn with_connection<R, E: From<Error>>(&self, f: impl FnOnce(&mut dyn Connection) -> Result<R, E>) -> Result<R, E> {
        (**self).with_connection(f)
    }

    fn checkout(&self) -> Result<Checkout<'_>> {
        (**self).checkout()
    }

    fn dialect(&self) -> Dialect {
        (**self).dialect()
    }

    fn extension(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        (**self).extension()
    }
}

pub(crate) fn busy() -> Error {
    Error::new(
        ErrorKind::Busy,
        "the connection is in use (a row stream over it is still open); finish or drop the stream first",
    )
}

/// Logs a statement run with borrowed parameters and shows it to a recording observer, which
/// sees owned values: copied only when one is recording. Inlined: it runs with every save.
#[inline]
pub(crate) fn observe_params(
    backend: &'static str,
    observer: Option<&Arc<dyn StatementObserver>>,
    sql: &str,
    params: &[Param<'_>],
) {
    tracing::debug!(target: "orm::sql", backend, sql, params = params.len());
    if let Some(o) = observer.filter(|o| o.is_active()) {
        let owned: Vec<Value> = params.iter().map(|p| p.as_value_ref().to_owned_value()).collect();
        o.statement(sql, &owned);
    }
}

/// The `fetch_rows` of [`Connection::stream_fetching`] that asks for Django's default first
/// fetch (2000 rows) growing twice as large each round trip up to 8192 rows: the
/// first rows come as soon as with a small fetch, and a long result costs few round trips.
pub const FETCH_GROWING: usize = usize::MAX;

/// The largest fetch [`FETCH_GROWING`] grows to.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) const FETCH_MAX: usize = 8192;

/// The first fetch of [`FETCH_GROWING`].
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) const FETCH_FIRST: usize = 2000;

macro_rules! forward_connection {
    ($($deref:tt)*) => {
        fn dialect(&self) -> Dialect {
            ($($deref)* self).dialect()
        }
        fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
            ($($deref)* self).execute(sql, params)
        }
        fn execute_batch(&mut self, sql: &str) -> Result<()> {
            ($($deref)* self).execute_batch(sql)
        }
        fn stream<'s>(&'s mut self, sql: &str, params: &[Value]) -> Result<Box<dyn RowStream + 's>> {
            ($($deref)* self).stream(sql, params)
        }
        fn stream_all<'s>(&'s mut self, sql: &str, params: &[Value]) -> Result<Box<dyn RowStream + 's>> {
            ($($deref)* self).stream_all(sql, params)
        }
        fn stream_fetching<'s>(
            &'s mut self,
            sql: &str,
            params: &[Value],
            fetch_rows: usize,
        ) -> Result<Box<dyn RowStream + 's>> {
            ($($deref)* self).stream_fetching(sql, params, fetch_rows)
        }
        fn for_each_row(&mut self, sql: &str, params: &[Value], each: &mut dyn FnMut(&dyn Row) -> bool) -> Result<()> {
            ($($deref)* self).for_each_row(sql, params, each)
        }
        fn insert(&mut self, sql: &str, params: &[Value], returning: Option<&str>) -> Result<Option<Value>> {
            ($($deref)* self).insert(sql, params, returning)
        }
        fn execute_params(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
            ($($deref)* self).execute_params(sql, params)
        }
        fn insert_rows(
            &mut self,
            sql: &str,
            params: &[Param<'_>],
            rows: usize,
            keys: Option<InsertKeys<'_>>,
        ) -> Result<InsertedRows> {
            ($($deref)* self).insert_rows(sql, params, rows, keys)
        }
        fn transaction_depth(&self) -> usize {
            ($($deref)* self).transaction_depth()
        }
        fn begin(&mut self) -> Result<()> {
            ($($deref)* self).begin()
        }
        fn commit(&mut self) -> Result<()> {
            ($($deref)* self).commit()
        }
        fn rollback(&mut self) -> Result<()> {
            ($($deref)* self).rollback()
        }
        fn set_observer(&mut self, observer: Option<&Arc<dyn StatementObserver>>) {
            ($($deref)* self).set_observer(observer)
        }
        fn is_broken(&mut self) -> bool {
            ($($deref)* self).is_broken()
        }
        fn reset(&mut self) -> Result<()> {
            ($($deref)* self).reset()
        }
        fn needs_rollback(&self) -> bool {
            ($($deref)* self).needs_rollback()
        }
        fn set_rollback(&mut self, rollback: bool) -> Result<()> {
            ($($deref)* self).set_rollback(rollback)
        }
        fn features(&self) -> &'static Features {
            ($($deref)* self).features()
        }
        fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<OwnedRow>> {
            ($($deref)* self).query_opt(sql, params)
        }
        fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<OwnedRow>> {
            ($($deref)* self).query(sql, params)
        }
    };
}

impl<C: Connection + ?Sized> Connection for &mut C {
    forward_connection!(**);
}

impl Connection for Box<dyn Connection> {
    forward_connection!(**);
}

/// The SQL that opens level `depth` (0 = the transaction itself).
pub(crate) fn begin_sql(dialect: Dialect, depth: usize) -> String {
    if depth == 0 {
        match dialect {
            Dialect::Sqlite => "BEGIN IMMEDIATE".into(),
            Dialect::Postgres => "BEGIN".into(),
            Dialect::Mysql => "START TRANSACTION".into(),
        }
    } else {
        format!("SAVEPOINT orm_sp_{depth}")
    }
}

/// The SQL that commits level `depth` (1 = the transaction itself).
pub(crate) fn commit_sql(depth: usize) -> String {
    if depth <= 1 {
        "COMMIT".into()
    } else {
        format!("RELEASE SAVEPOINT orm_sp_{}", depth - 1)
    }
}

/// The SQL that rolls back level `depth` (1 = the transaction itself). A savepoint is rolled
/// back to and then released, so the names can be reused.
pub(crate) fn rollback_sql(depth: usize) -> String {
    if depth <= 1 {
        "ROLLBACK".into()
    } else {
        format!("ROLLBACK TO SAVEPOINT orm_sp_{0}; RELEASE SAVEPOINT orm_sp_{0}", depth - 1)
    }
}

/// Does this statement (or one of the `;`-separated statements of a batch) change the schema,
/// so that cached statements may describe tables that no longer look the same? Errs towards
/// yes: a false positive only empties the cache.
pub(crate) fn changes_schema(sql: &str) -> bool {
    sql.split(';').any(|stmt| {
        let word: String = stmt.trim_start().chars().take_while(char::is_ascii_alphabetic).take(8).collect();
        ["ALTER", "DROP", "CREATE"].iter().any(|k| word.eq_ignore_ascii_case(k))
    })
}

pub(crate) fn no_transaction() -> Error {
    Error::new(ErrorKind::Usage, "no transaction is open")
}

/// Stores `new` in a connection's observer slot, unless it is the observer already there (no
/// reference count is touched then).
pub(crate) fn replace_observer(
    slot: &mut Option<Arc<dyn StatementObserver>>,
    new: Option<&Arc<dyn StatementObserver>>,
) {
    match (slot.as_ref(), new) {
        (Some(old), Some(new)) if Arc::ptr_eq(old, new) => {}
        (None, None) => {}
        _ => *slot = new.cloned(),
    }
}
