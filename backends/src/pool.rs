//! A thread-safe, cheap-to-clone pool of connections.
//!
//! `sqlite::memory:` is private to one connection, so its pool holds exactly one connection
//! that is never closed while the pool lives; a second checkout waits for the first to be
//! returned. File databases and servers get up to `pool_size` connections (default 8).
//!
//! The pool is our own, not r2d2: a checkout is one uncontended mutex round trip (pop an idle
//! connection) and a return another (push it back), with no clock read unless a caller has to
//! wait. r2d2 read the clock twice and took its lock twice per checkout, which was a quarter
//! of the ORM's own cost on a one-row query. What r2d2 had and this pool leaves out: a reaper
//! thread closing connections idle for a while, and a maximum lifetime. Idle connections stay
//! open until the pool is dropped or they break, as Django's persistent connections
//! (`CONN_MAX_AGE = None`) do.

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

/// What the pool's lock guards.
struct State {
    /// Connections ready to be handed out, the most recently returned last (it is reused
    /// first: its statement cache and pages are warm).
    idle: Vec<Box<dyn Connection>>,
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
    state: Mutex<State>,
    returned: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave `State` inconsistent (every update is a
        // single push, pop or counter step), so a poisoned lock is used as it is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes back a connection, or forgets one that broke (which frees a slot to open anew).
    fn give_back(&self, conn: Option<Box<dyn Connection>>) {
        let mut st = self.lock();
        match conn {
            Some(c) => st.idle.push(c),
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
            self.pool.give_back(Some(conn));
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
        let memory = matches!(options.sqlite, Some(SqliteTarget::Memory));
        let max_size = if memory { 1 } else { options.pool_size.max(1) as usize };
        let wait = Duration::from_secs(30).max(options.connect_timeout);
        let state = State { idle: vec![first], open: 1, waiting: 0 };
        Ok(Pool {
            shared: Arc::new(Shared {
                options,
                open,
                max_size,
                wait,
                state: Mutex::new(state),
                returned: Condvar::new(),
            }),
        })
    }

    /// Checks out a connection: an idle one, else a new one while fewer than the pool's size
    /// are open, else the first one returned, waiting up to 30 seconds (or the connect
    /// timeout, if longer). Failing to open a connection is reported at once.
    pub fn get(&self) -> Result<PooledConnection> {
        let shared = &self.shared;
        let mut st = shared.lock();
        // Read the clock only once a caller has to wait.
        let mut deadline = None;
        loop {
            if let Some(conn) = st.idle.pop() {
                drop(st);
                return Ok(PooledConnection { conn: Some(conn), pool: shared.clone() });
            }
            if st.open < shared.max_size {
                st.open += 1;
                drop(st);
                return match (shared.open)(&shared.options) {
                    Ok(conn) => Ok(PooledConnection { conn: Some(conn), pool: shared.clone() }),
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
