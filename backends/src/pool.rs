//! A thread-safe, cheap-to-clone pool of connections.
//!
//! `sqlite::memory:` is private to one connection, so its pool holds exactly one connection
//! that is never closed while the pool lives; a second checkout waits for the first to be
//! returned. File databases and servers get up to `pool_size` connections (default 8).
//!
//! The pool is our own, not r2d2: a checkout is one uncontended mutex round trip (pop an idle
//! connection) and a return another (push it back). r2d2 read the clock twice and took its
//! lock twice per checkout, which was a quarter of the ORM's own cost on a one-row query.
//!
//! Clocks are read only where something needs them: `max_lifetime` and `idle_timeout` (none
//! by default) close a connection at checkout instead of handing it out, and a server
//! connection idle for longer than `health_check` (1 s by default; Django's
//! `CONN_HEALTH_CHECKS`) is pinged first and replaced if the server closed it. A SQLite pool
//! with neither reads no clock at all (a server's query costs far more than the two clock
//! reads). There is no reaper thread: an expired connection is closed when a checkout finds
//! it. The checkout timeout (30 s by default) bounds the wait for a busy pool.

use crate::connection::{Checkout, Connection, Executor};
use crate::dialect::Dialect;
use crate::error::{Error, ErrorKind, Result};
use crate::transaction::{atomic_with_options, AtomicOptions, Transaction};
use crate::url::{Backend, ConnectOptions, SqliteTarget};

/// How a pool opens a connection: the vendor's constructor, chosen above this module
/// ([`connect_with`](crate::connect_with)), so the pool names no vendor.
pub type Opener = fn(&ConnectOptions) -> Result<Box<dyn Connection>>;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// An idle connection and, when the pool keeps clocks, when it was opened and returned.
struct Idle {
    conn: Box<dyn Connection>,
    opened: Option<Instant>,
    returned: Option<Instant>,
}

/// What the pool's lock guards.
struct State {
    /// Connections ready to be handed out, the most recently returned last (it is reused
    /// first: its statement cache and pages are warm).
    idle: Vec<Idle>,
    /// Connections open, idle or checked out (or being opened).
    open: usize,
    /// Callers waiting for a connection; a return wakes one only when there is one, so the
    /// common return costs no system call.
    waiting: usize,
}

struct Shared {
    options: ConnectOptions,
    open: Opener,
    max_size: usize,
    /// How long a checkout waits for a connection to be returned.
    wait: Duration,
    /// Does the pool read the clock (a lifetime, an idle timeout or health checks are set)?
    /// When not, a checkout and a return read no clock at all.
    clocked: bool,
    /// Ping a server connection idle longer than this before handing it out.
    health_check_after: Option<Duration>,
    state: Mutex<State>,
    returned: Condvar,
}

impl Shared {
    /// `idle` as a checkout, or `None` when it is too old, idle too long or found dead (it is
    /// closed then; the caller frees its slot).
    fn usable(self: &Arc<Self>, idle: Idle) -> Option<PooledConnection> {
        let Idle { mut conn, opened, returned } = idle;
        if self.clocked {
            let now = Instant::now();
            let o = &self.options;
            let too_old = o.max_lifetime.zip(opened).is_some_and(|(max, at)| now.duration_since(at) > max);
            let idle_too_long = o.idle_timeout.zip(returned).is_some_and(|(max, at)| now.duration_since(at) > max);
            if too_old || idle_too_long {
                return None;
            }
            let check = self.health_check_after.zip(returned).is_some_and(|(after, at)| now.duration_since(at) > after);
            if check {
                // Unobserved: the ping is the pool's, not a statement of whoever checks out
                // (handles re-install their observer on every checkout).
                conn.set_observer(None);
                if conn.query("SELECT 1", &[]).is_err() || conn.is_broken() {
                    return None;
                }
            }
        }
        Some(PooledConnection { conn: Some(conn), opened, pool: self.clone() })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave `State` inconsistent (every update is a
        // single push, pop or counter step), so a poisoned lock is used as it is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes back a connection, or forgets one that broke (which frees a slot to open anew).
    fn give_back(&self, conn: Option<(Box<dyn Connection>, Option<Instant>)>) {
        let returned = if self.clocked && conn.is_some() { Some(Instant::now()) } else { None };
        let mut st = self.lock();
        match conn {
            Some((conn, opened)) => st.idle.push(Idle { conn, opened, returned }),
            None => st.open -= 1,
        }
        if st.waiting > 0 {
            self.returned.notify_one();
        }
    }
}

/// A pooled connection: dereferences to the connection and returns to the pool on drop. A
/// connection returned inside a transaction is rolled back ([`Connection::reset`]) first; one
/// that cannot be is closed instead.
pub struct PooledConnection {
    conn: Option<Box<dyn Connection>>,
    /// When it was opened (kept when the pool has a `max_lifetime`).
    opened: Option<Instant>,
    pool: Arc<Shared>,
}

impl std::ops::Deref for PooledConnection {
    type Target = dyn Connection;
    fn deref(&self) -> &Self::Target {
        &**self.conn.as_ref().expect("a pooled connection is present until dropped")
    }
}

impl std::ops::DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut **self.conn.as_mut().expect("a pooled connection is present until dropped")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        let broken = conn.is_broken() && (conn.reset().is_err() || conn.is_broken());
        if broken {
            drop(conn);
            self.pool.give_back(None);
        } else {
            self.pool.give_back(Some((conn, self.opened)));
        }
    }
}

impl std::fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledConnection").field("backend", &self.pool.options.backend).finish()
    }
}

/// A pool of connections to one database. Clones share the pool; the connections close when
/// the last clone (and every checked-out connection) is dropped.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("Pool")
            .field("backend", &self.shared.options.backend)
            .field("open", &st.open)
            .field("idle", &st.idle.len())
            .field("max_size", &self.shared.max_size)
            .finish()
    }
}

impl Pool {
    /// Builds a pool that opens its connections with `open`; opens the first one now (and
    /// keeps it). [`Pool::new`] passes the vendor constructor the options name.
    pub fn with_opener(options: ConnectOptions, open: Opener) -> Result<Self> {
        let first = open(&options)?;
        Ok(Self::build(options, open, Some(first)))
    }

    /// A pool that opens its connections with `open`, none until the first checkout (see
    /// [`Pool::lazy`]).
    pub fn with_opener_lazy(options: ConnectOptions, open: Opener) -> Self {
        Self::build(options, open, None)
    }

    fn build(options: ConnectOptions, open: Opener, first: Option<Box<dyn Connection>>) -> Self {
        let memory = matches!(options.sqlite, Some(SqliteTarget::Memory));
        let max_size = if memory { 1 } else { options.pool_size.max(1) as usize };
        let wait = options.checkout_timeout;
        // The one connection of `sqlite::memory:` is the database: it never expires. SQLite
        // has no server that could close a connection, so it is never pinged.
        let health_check_after = options.health_check_after.filter(|_| options.backend != Backend::Sqlite);
        let clocked = !memory
            && (options.max_lifetime.is_some() || options.idle_timeout.is_some() || health_check_after.is_some());
        let now = clocked.then(Instant::now);
        let open_now = usize::from(first.is_some());
        let idle = first.map(|conn| Idle { conn, opened: now, returned: now }).into_iter().collect();
        let state = State { idle, open: open_now, waiting: 0 };
        Pool {
            shared: Arc::new(Shared {
                options,
                open,
                max_size,
                wait,
                clocked,
                health_check_after,
                state: Mutex::new(state),
                returned: Condvar::new(),
            }),
        }
    }

    /// Checks out a connection: an idle one, else a new one while fewer than the pool's size
    /// are open, else the first one returned, waiting up to the checkout timeout (30 s by
    /// default). Failing to open a connection is reported at once.
    ///
    /// An idle connection past its `max_lifetime` or `idle_timeout` is closed instead of
    /// handed out, and a server connection idle past `health_check` is pinged first and
    /// replaced if the server closed it (Django's `CONN_MAX_AGE` and `CONN_HEALTH_CHECKS`).
    pub fn get(&self) -> Result<PooledConnection> {
        let shared = &self.shared;
        let mut st = shared.lock();
        // Read the clock only once a caller has to wait.
        let mut deadline = None;
        loop {
            if let Some(idle) = st.idle.pop() {
                drop(st);
                match shared.usable(idle) {
                    Some(ready) => return Ok(ready),
                    None => {
                        shared.give_back(None);
                        st = shared.lock();
                        continue;
                    }
                }
            }
            if st.open < shared.max_size {
                st.open += 1;
                drop(st);
                let opened = shared.clocked.then(Instant::now);
                return match (shared.open)(&shared.options) {
                    Ok(conn) => Ok(PooledConnection { conn: Some(conn), opened, pool: shared.clone() }),
                    Err(e) => {
                        shared.give_back(None);
                        Err(e)
                    }
                };
            }
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + shared.wait);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no connection available from the {} pool: all {} are in use and none was returned within {:?}",
                        shared.options.backend.name(),
                        shared.max_size,
                        shared.wait
                    ),
                ));
            }
            st.waiting += 1;
            let (guard, _) = shared.returned.wait_timeout(st, left).unwrap_or_else(|p| p.into_inner());
            st = guard;
            st.waiting -= 1;
        }
    }

    /// The options this pool connects with.
    pub fn options(&self) -> &ConnectOptions {
        &self.shared.options
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.shared.options.backend
    }

    /// Runs `f` in a transaction on a checked-out connection (see [`atomic`](crate::atomic)).
    pub fn atomic<R, E: From<Error>>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<R, E>) -> Result<R, E> {
        self.atomic_with(AtomicOptions::new(), f)
    }

    /// [`atomic`](Pool::atomic) with [`AtomicOptions`] (a checked-out connection is never
    /// inside a transaction, so a durable block always opens).
    pub fn atomic_with<R, E: From<Error>>(
        &self,
        options: AtomicOptions,
        f: impl FnOnce(&Transaction<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut conn = self.get()?;
        atomic_with_options(&mut *conn, None, options, f)
    }
}

/// A pooled connection as a [`Checkout`] of any lifetime (it owns its connection).
struct CheckedOut<'a>(PooledConnection, std::marker::PhantomData<&'a ()>);

impl<'a> std::ops::Deref for CheckedOut<'a> {
    type Target = dyn Connection + 'a;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::ops::DerefMut for CheckedOut<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.0
    }
}

impl Executor for Pool {
    fn with_connection<R, E: From<Error>>(&self, f: impl FnOnce(&mut dyn Connection) -> Result<R, E>) -> Result<R, E> {
        let mut conn = self.get()?;
        f(&mut *conn)
    }

    fn checkout(&self) -> Result<Checkout<'_>> {
        Ok(Checkout::borrowed(CheckedOut(self.get()?, std::marker::PhantomData)))
    }

    fn dialect(&self) -> Dialect {
        Dialect::of(self.shared.options.backend)
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    /// A pool for `url` (the vendor is picked above this module, by `Pool::new`).
    fn connect(url: &str) -> Result<Pool> {
        Pool::new(ConnectOptions::parse(url)?)
    }

    #[test]
    fn a_memory_pool_keeps_its_one_connection_and_times_out_a_second_checkout() {
        let mut pool = connect("sqlite::memory:").unwrap();
        // Wait 50 ms instead of the 30 s a real caller would.
        Arc::get_mut(&mut pool.shared).unwrap().wait = Duration::from_millis(50);
        pool.get().unwrap().execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let held = pool.get().unwrap();
        let err = pool.get().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(err.to_string().contains("all 1 are in use"), "{err}");
        drop(held);
        // The same database: the table is still there.
        assert_eq!(pool.get().unwrap().query("SELECT count(*) FROM t", &[]).unwrap().len(), 1);
    }

    #[test]
    fn a_waiting_checkout_gets_the_connection_another_thread_returns() {
        let pool = connect("sqlite::memory:").unwrap();
        let held = pool.get().unwrap();
        let p2 = pool.clone();
        let waiter = std::thread::spawn(move || p2.get().map(|mut c| c.execute_batch("SELECT 1").is_ok()));
        // Return the connection only once the other thread is waiting for it, so the wake-up
        // is what hands it over (not an idle connection found on arrival).
        let start = Instant::now();
        while pool.shared.lock().waiting == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "the second checkout never waited");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(held);
        assert!(waiter.join().unwrap().unwrap());
        assert!(format!("{pool:?}").contains("open: 1"), "{pool:?}");
    }

    #[test]
    fn a_file_pool_opens_up_to_its_size_and_reuses_returned_connections() {
        let dir = std::env::temp_dir().join(format!("orm-pool-{}.db", std::process::id()));
        let url = format!("sqlite://{}?pool_size=2", dir.display());
        let pool = connect(&url).unwrap();
        let a = pool.get().unwrap();
        let b = pool.get().unwrap();
        assert!(format!("{pool:?}").contains("open: 2"), "{pool:?}");
        drop((a, b));
        let _c = pool.get().unwrap();
        assert!(format!("{pool:?}").contains("open: 2, idle: 1"), "{pool:?}");
        drop(_c);
        drop(pool);
        let _ = std::fs::remove_file(&dir);
    }

    #[test]
    fn a_connection_returned_inside_a_transaction_is_rolled_back_and_kept() {
        let pool = connect("sqlite::memory:").unwrap();
        pool.get().unwrap().execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        {
            let mut c = pool.get().unwrap();
            c.begin().unwrap();
            c.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        }
        let rows = pool.get().unwrap().query("SELECT count(*) FROM t", &[]).unwrap();
        assert_eq!(rows[0].get::<i64>(0).unwrap(), 0);
    }
}
