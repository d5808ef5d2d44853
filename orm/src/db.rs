//! [`Database`]: the handle an application keeps: a connection pool plus what is scoped to
//! it (query capture, and signal receivers: [`Signals`]). Two `Database`s never see each
//! other's captures or receivers.

use crate::error::Result;
use crate::signals::{HandleScope, Signals, DEFAULT_DB_ALIAS};
use orm_backends::{
    AtomicOptions, Checkout, Connection, Dialect, Executor, Pool, StatementObserver, Transaction, Value,
};
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// One statement seen by a [`QueryCapture`].
#[derive(Clone, Debug, PartialEq)]
pub struct CapturedQuery {
    /// The SQL text.
    pub sql: String,
    /// The bound parameters.
    pub params: Vec<Value>,
    /// The alias of the database it ran on.
    pub alias: &'static str,
}

struct Hub {
    alias: &'static str,
    active: AtomicUsize,
    logs: Mutex<Vec<Weak<Mutex<Vec<CapturedQuery>>>>>,
}

impl StatementObserver for Hub {
    fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire) > 0
    }

    fn statement(&self, sql: &str, params: &[Value]) {
        if self.active.load(Ordering::Acquire) == 0 {
            return;
        }
        if let Ok(logs) = self.logs.lock() {
            for log in logs.iter().filter_map(Weak::upgrade) {
                if let Ok(mut l) = log.lock() {
                    l.push(CapturedQuery { sql: sql.to_owned(), params: params.to_vec(), alias: self.alias });
                }
            }
        }
    }
}

/// Records every statement run through its [`Database`] while it lives (Django's
/// `CaptureQueriesContext`).
///
/// ```
/// # include!("../doctest_setup.rs");
/// # fn main() -> orm::Result<()> {
/// # let db = setup()?;
/// let capture = db.capture_queries();
/// let qs = Note::objects().filter(Note::title().contains("Rust"));   // lazy: nothing yet
/// assert_eq!(capture.len(), 0);
/// qs.fetch(&db)?;
/// assert_eq!(capture.len(), 1);
/// assert!(capture.queries()[0].sql.starts_with("SELECT"));
/// # Ok(()) }
/// ```
pub struct QueryCapture {
    /// The hubs of the databases it listens to (one, or every member of a set).
    hubs: Vec<Arc<Hub>>,
    log: Arc<Mutex<Vec<CapturedQuery>>>,
}

impl QueryCapture {
    /// The statements so far.
    pub fn queries(&self) -> Vec<CapturedQuery> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many statements so far.
    pub fn len(&self) -> usize {
        self.log.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// None yet?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        if let Ok(mut l) = self.log.lock() {
            l.clear();
        }
    }
}

impl QueryCapture {
    /// Records what runs through each of `dbs` (in one log, in the order statements ran).
    pub(crate) fn across(dbs: &[&Database]) -> QueryCapture {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut hubs: Vec<Arc<Hub>> = Vec::new();
        for db in dbs {
            if hubs.iter().any(|h| Arc::ptr_eq(h, &db.hub)) {
                continue;
            }
            if let Ok(mut logs) = db.hub.logs.lock() {
                logs.push(Arc::downgrade(&log));
            }
            db.hub.active.fetch_add(1, Ordering::AcqRel);
            hubs.push(db.hub.clone());
        }
        QueryCapture { hubs, log }
    }
}

impl Drop for QueryCapture {
    fn drop(&mut self) {
        for hub in &self.hubs {
            if let Ok(mut logs) = hub.logs.lock() {
                logs.retain(|w| w.upgrade().is_some_and(|l| !Arc::ptr_eq(&l, &self.log)));
            }
            hub.active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl std::fmt::Debug for QueryCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryCapture").field("len", &self.len()).finish()
    }
}

/// A database handle: cheap to clone, thread-safe, and an [`Executor`].
///
/// ```
/// use orm::Database;
/// let db = Database::connect("sqlite::memory:")?;
/// assert_eq!(db.dialect(), orm::Dialect::Sqlite);
/// # Ok::<(), orm::Error>(())
/// ```
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    hub: Arc<Hub>,
    /// `hub` as the observer each checked-out connection gets (kept as a trait object so a
    /// checkout hands over a reference, which the connection compares with the one it has).
    observer: Arc<dyn StatementObserver>,
    /// Its signal receivers and alias, handed to every executor it opens.
    scope: Arc<HandleScope>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("alias", &self.scope.alias).field("pool", &self.pool).finish()
    }
}

impl Database {
    /// Connects to `url` (`sqlite::memory:`, `sqlite://file.db`, `postgres://…`, `mysql://…`).
    pub fn connect(url: &str) -> Result<Self> {
        Ok(Self::from_pool(orm_backends::connect(url)?))
    }

    /// Wraps an existing pool (as the database called `"default"`).
    pub fn from_pool(pool: Pool) -> Self {
        Self::with_scope(pool, DEFAULT_DB_ALIAS, Arc::new(Signals::new()), None)
    }

    /// A handle on `pool` known as `alias`, sharing `signals` with the other members of its
    /// [`Databases`](crate::Databases) set.
    pub(crate) fn with_scope(
        pool: Pool,
        alias: &'static str,
        signals: Arc<Signals>,
        routing: Option<Arc<dyn Any + Send + Sync>>,
    ) -> Self {
        let hub = Arc::new(Hub { alias, active: AtomicUsize::new(0), logs: Mutex::new(Vec::new()) });
        Database { pool, observer: hub.clone(), hub, scope: Arc::new(HandleScope::new(signals, alias, routing)) }
    }

    /// The name this handle goes by (Django's alias: `"default"`, `"replica"`, …):
    /// `"default"` unless it was made by a [`Databases`](crate::Databases) set.
    pub fn alias(&self) -> &'static str {
        self.scope.alias
    }

    /// The same pool and query-capture hub under another scope (a set's handle, which is its
    /// default database carrying the routing).
    pub(crate) fn rescoped(&self, scope: HandleScope) -> Database {
        Database {
            pool: self.pool.clone(),
            hub: self.hub.clone(),
            observer: self.observer.clone(),
            scope: Arc::new(scope),
        }
    }

    /// The pool underneath.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The SQL dialect.
    pub fn dialect(&self) -> Dialect {
        Dialect::of(self.pool.backend())
    }

    /// The signal receivers of this handle (shared by its clones, and reached from
    /// transactions opened by [`atomic`](Self::atomic)); see [`signals`](crate::signals).
    pub fn signals(&self) -> &Signals {
        &self.scope.signals
    }

    /// Starts recording every statement run through this handle (and transactions opened from
    /// it) until the returned capture is dropped.
    pub fn capture_queries(&self) -> QueryCapture {
        QueryCapture::across(&[self])
    }

    fn observer(&self) -> Option<&Arc<dyn StatementObserver>> {
        Some(&self.observer)
    }

    /// Runs `f` on a pooled connection without recording its statements in query captures:
    /// for the library's own bookkeeping (health checks, replication positions), as the pool's
    /// own pings are not recorded.
    fn unobserved<R>(&self, f: impl FnOnce(&mut dyn Connection) -> orm_backends::Result<R>) -> Result<R> {
        let mut conn = self.pool.get()?;
        conn.set_observer(None);
        Ok(f(&mut *conn)?)
    }

    /// Checks that the database answers (`SELECT 1` on a pooled connection; not recorded by
    /// query captures).
    pub fn ping(&self) -> Result<()> {
        self.unobserved(|c| c.query("SELECT 1", &[]).map(drop))
    }

    /// The server's replication position now, as text: PostgreSQL's
    /// `pg_current_wal_lsn()` (on a primary), MariaDB's `@@gtid_binlog_pos`; `None` on
    /// SQLite, and on a MySQL without GTIDs. Compare with a replica's
    /// [`has_replayed`](Self::has_replayed). Neither is recorded by query captures.
    pub fn replication_position(&self) -> Result<Option<String>> {
        let sql = match self.dialect() {
            Dialect::Postgres => "SELECT pg_current_wal_lsn()::text",
            Dialect::Mysql => "SELECT @@GLOBAL.gtid_binlog_pos",
            Dialect::Sqlite => return Ok(None),
        };
        let row = self.unobserved(|c| c.query_opt(sql, &[]))?;
        let position: Option<String> = match row {
            Some(r) => r.get(0)?,
            None => None,
        };
        Ok(position.filter(|p| !p.is_empty()))
    }

    /// Has this server (a replica) replayed the primary's `position` (from
    /// [`replication_position`](Self::replication_position))? PostgreSQL compares
    /// `pg_last_wal_replay_lsn()`; MariaDB asks `MASTER_GTID_WAIT(position, 0)`. A server
    /// that is not in recovery (a primary, or a promoted replica) and SQLite answer yes.
    pub fn has_replayed(&self, position: &str) -> Result<bool> {
        let sql = match self.dialect() {
            // Not `COALESCE(pg_last_wal_replay_lsn() >= …, TRUE)`: a server that went through
            // crash recovery at start-up keeps reporting that recovery's last LSN for good, so
            // a primary would look forever behind.
            Dialect::Postgres => {
                "SELECT CASE WHEN pg_is_in_recovery() THEN COALESCE(pg_last_wal_replay_lsn() >= CAST($1 AS pg_lsn), FALSE) ELSE TRUE END"
            }
            Dialect::Mysql => "SELECT MASTER_GTID_WAIT(?, 0) = 0",
            Dialect::Sqlite => return Ok(true),
        };
        let row = self.unobserved(|c| c.query_opt(sql, &[Value::Text(position.to_owned())]))?;
        Ok(match row {
            Some(r) => r.get::<bool>(0)?,
            None => false,
        })
    }

    /// Runs `f` in a transaction: commits on `Ok`, rolls back on `Err` or panic. Nested
    /// `tx.atomic(...)` calls use savepoints; `tx.on_commit(...)` runs after the commit.
    pub fn atomic<R>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<R>) -> Result<R> {
        self.atomic_with(AtomicOptions::new(), f)
    }

    /// [`atomic`](Self::atomic), run again while it fails with an error the database says may
    /// simply be retried ([`Error::is_retryable`](crate::Error::is_retryable): a
    /// serialization failure, a deadlock, a lock wait that timed out), at most `attempts`
    /// times in all, with a short growing pause between tries. The closure must be safe to
    /// run again: each try starts from a rolled-back transaction. Returns the last error when
    /// the tries run out, or the first error that is not retryable.
    pub fn atomic_with_retry<R>(&self, attempts: u32, mut f: impl FnMut(&Transaction<'_>) -> Result<R>) -> Result<R> {
        let mut tried = 0;
        loop {
            tried += 1;
            match self.atomic(&mut f) {
                Err(e) if e.is_retryable() && tried < attempts.max(1) => {
                    // 1, 2, 4 … ms, at most 64 ms, offset by the thread so that two
                    // transactions that collided do not collide again in step.
                    let jitter =
                        std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), tried) % 1000;
                    let pause = std::time::Duration::from_micros((1000u64 << (tried - 1).min(6)) + jitter);
                    std::thread::sleep(pause);
                }
                other => return other,
            }
        }
    }

    /// [`atomic`](Self::atomic) with options: `AtomicOptions::new().durable()` (a block that
    /// must be outermost; one opened from the handle always is) or `.without_savepoint()`.
    /// Inside a block, `tx.atomic_with(…)`, `tx.savepoint()`, `tx.set_rollback(…)` are
    /// Django's other transaction tools.
    pub fn atomic_with<R>(&self, options: AtomicOptions, f: impl FnOnce(&Transaction<'_>) -> Result<R>) -> Result<R> {
        let mut conn = self.pool.get()?;
        conn.set_observer(self.observer());
        orm_backends::atomic_with_options(&mut *conn, Some(&*self.scope), options, f)
    }
}

impl Executor for Database {
    fn with_connection<R, E: From<orm_backends::Error>>(
        &self,
        f: impl FnOnce(&mut dyn Connection) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        let mut conn = self.pool.get()?;
        conn.set_observer(self.observer());
        f(&mut *conn)
    }

    fn checkout(&self) -> std::result::Result<Checkout<'_>, orm_backends::Error> {
        let mut c = self.pool.checkout()?;
        c.connection().set_observer(self.observer());
        Ok(c)
    }

    fn dialect(&self) -> Dialect {
        Database::dialect(self)
    }

    /// The handle's scope (signal receivers, alias), for the ORM to find from any executor
    /// (see [`signals`](crate::signals)).
    fn extension(&self) -> Option<&(dyn Any + Send + Sync)> {
        Some(&*self.scope)
    }
}
