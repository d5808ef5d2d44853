//! [`Database`]: the handle an application keeps: a connection pool plus what is scoped to
//! it (query capture, and signal receivers: [`Signals`]). Two `Database`s never see each
//! other's captures or receivers.

use crate::error::Result;
use crate::signals::Signals;
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
}

#[derive(Default)]
struct Hub {
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
                    l.push(CapturedQuery { sql: sql.to_owned(), params: params.to_vec() });
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
    hub: Arc<Hub>,
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

impl Drop for QueryCapture {
    fn drop(&mut self) {
        if let Ok(mut logs) = self.hub.logs.lock() {
            logs.retain(|w| w.upgrade().is_some_and(|l| !Arc::ptr_eq(&l, &self.log)));
        }
        self.hub.active.fetch_sub(1, Ordering::AcqRel);
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
    signals: Arc<Signals>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("pool", &self.pool).finish()
    }
}

impl Database {
    /// Connects to `url` (`sqlite::memory:`, `sqlite://file.db`, `postgres://…`, `mysql://…`).
    pub fn connect(url: &str) -> Result<Self> {
        Ok(Self::from_pool(orm_backends::connect(url)?))
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: Pool) -> Self {
        let hub = Arc::new(Hub::default());
        Database { pool, observer: hub.clone(), hub, signals: Arc::new(Signals::new()) }
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
        &self.signals
    }

    /// Starts recording every statement run through this handle (and transactions opened from
    /// it) until the returned capture is dropped.
    pub fn capture_queries(&self) -> QueryCapture {
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Ok(mut logs) = self.hub.logs.lock() {
            logs.push(Arc::downgrade(&log));
        }
        self.hub.active.fetch_add(1, Ordering::AcqRel);
        QueryCapture { hub: self.hub.clone(), log }
    }

    fn observer(&self) -> Option<&Arc<dyn StatementObserver>> {
        Some(&self.observer)
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
        orm_backends::atomic_with_options(&mut *conn, Some(&*self.signals), options, f)
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

    /// The signal hub, for the ORM to find from any executor (see [`signals`](crate::signals)).
    fn extension(&self) -> Option<&(dyn Any + Send + Sync)> {
        Some(&*self.signals)
    }
}
