//! Transactions as guards: [`atomic`] commits when its closure returns `Ok`, and rolls back
//! when it returns `Err` or panics. Nested calls use savepoints. `on_commit` callbacks run
//! after the outermost commit and are dropped with a rollback.
//!
//! A [`Transaction`] is handed to the closure by shared reference and is an [`Executor`], so
//! it can be passed to any number of calls (`a.save(tx)?; b.save(tx)?`) without re-borrowing.

use crate::connection::{busy, Checkout, Connection, Executor};
use crate::dialect::Dialect;
use crate::error::{Error, Result};
use std::any::Any;
use std::cell::RefCell;

type Hook = Box<dyn FnOnce() + Send>;

/// An open transaction (or savepoint) on one connection.
pub struct Transaction<'a> {
    conn: &'a RefCell<dyn Connection + 'a>,
    hooks: &'a RefCell<Vec<(usize, Hook)>>,
    level: usize,
    extension: Option<&'a (dyn Any + Send + Sync)>,
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").field("level", &self.level).finish()
    }
}

impl<'a> Transaction<'a> {
    /// Runs `f` inside a savepoint of this transaction: released on `Ok`, rolled back on
    /// `Err` or panic (and the outer transaction goes on).
    pub fn atomic<R, E: From<Error>>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<R, E>) -> Result<R, E> {
        self.conn.try_borrow_mut().map_err(|_| busy())?.begin()?;
        let child =
            Transaction { conn: self.conn, hooks: self.hooks, level: self.level + 1, extension: self.extension };
        run_level(&child, f)
    }

    /// Registers `f` to run after the outermost transaction commits. It is dropped, never
    /// run, if this level or any level around it rolls back.
    pub fn on_commit(&self, f: impl FnOnce() + Send + 'static) {
        self.hooks.borrow_mut().push((self.level, Box::new(f)));
    }

    /// How deep this level is: 1 for the transaction, 2 for its first savepoint, …
    pub fn level(&self) -> usize {
        self.level
    }
}

impl Executor for Transaction<'_> {
    fn with_connection<R, E: From<Error>>(&self, f: impl FnOnce(&mut dyn Connection) -> Result<R, E>) -> Result<R, E> {
        let mut guard = self.conn.try_borrow_mut().map_err(|_| busy())?;
        f(&mut *guard)
    }

    fn checkout(&self) -> Result<Checkout<'_>> {
        struct Guard<'b, 'a>(std::cell::RefMut<'b, dyn Connection + 'a>);
        impl<'b, 'a: 'b> std::ops::Deref for Guard<'b, 'a> {
            type Target = dyn Connection + 'b;
            fn deref(&self) -> &Self::Target {
                &*self.0
            }
        }
        impl<'b, 'a: 'b> std::ops::DerefMut for Guard<'b, 'a> {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut *self.0
            }
        }
        let guard = self.conn.try_borrow_mut().map_err(|_| busy())?;
        Ok(Checkout::borrowed(Guard(guard)))
    }

    fn dialect(&self) -> Dialect {
        match self.conn.try_borrow() {
            Ok(c) => c.dialect(),
            Err(_) => Dialect::Sqlite,
        }
    }

    /// The extension of the handle that opened the transaction (see
    /// [`atomic_with_extension`]); savepoints inherit it.
    fn extension(&self) -> Option<&(dyn Any + Send + Sync)> {
        self.extension
    }
}

struct LevelGuard<'t, 'a> {
    tx: &'t Transaction<'a>,
    done: bool,
}

impl LevelGuard<'_, '_> {
    fn rollback(&mut self) -> Result<()> {
        self.done = true;
        self.hooks_rolled_back();
        let mut conn = self.tx.conn.try_borrow_mut().map_err(|_| busy())?;
        conn.rollback()
    }

    fn hooks_rolled_back(&self) {
        if let Ok(mut hooks) = self.tx.hooks.try_borrow_mut() {
            hooks.retain(|(l, _)| *l < self.tx.level);
        }
    }
}

impl Drop for LevelGuard<'_, '_> {
    fn drop(&mut self) {
        if !self.done {
            // Reached when the closure panicked. A failed rollback leaves the connection
            // inside a transaction, which makes the pool discard it.
            let _ = self.rollback();
        }
    }
}

fn run_level<R, E: From<Error>>(
    tx: &Transaction<'_>,
    f: impl FnOnce(&Transaction<'_>) -> Result<R, E>,
) -> Result<R, E> {
    let mut guard = LevelGuard { tx, done: false };
    match f(tx) {
        Ok(v) => {
            let committed = tx.conn.try_borrow_mut().map_err(|_| busy()).and_then(|mut c| c.commit());
            if let Err(e) = committed {
                let _ = guard.rollback();
                return Err(e.into());
            }
            guard.done = true;
            if tx.level == 1 {
                let hooks = std::mem::take(&mut *tx.hooks.borrow_mut());
                for (_, hook) in hooks {
                    hook();
                }
            } else {
                for (l, _) in tx.hooks.borrow_mut().iter_mut() {
                    if *l == tx.level {
                        *l = tx.level - 1;
                    }
                }
            }
            Ok(v)
        }
        Err(e) => {
            // The closure's error is the one that matters; a failed rollback is secondary.
            let _ = guard.rollback();
            Err(e)
        }
    }
}

/// Runs `f` in a transaction on `conn` (a savepoint if one is already open there): commits
/// when `f` returns `Ok`, rolls back on `Err` or panic.
///
/// ```
/// use orm_backends::{atomic, connect_one, Connection, Executor, Value};
/// let mut conn = connect_one("sqlite::memory:").unwrap();
/// conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
/// let r: Result<(), orm_backends::Error> = atomic(&mut conn, |tx| {
///     tx.with_connection(|c| c.execute("INSERT INTO t VALUES (?)", &[Value::Int(1)]))?;
///     Err(orm_backends::Error::new(orm_backends::ErrorKind::Usage, "changed my mind"))
/// });
/// assert!(r.is_err());
/// assert!(conn.query("SELECT x FROM t", &[]).unwrap().is_empty());
/// ```
pub fn atomic<C, R, E>(conn: &mut C, f: impl FnOnce(&Transaction<'_>) -> Result<R, E>) -> Result<R, E>
where
    C: Connection + ?Sized,
    E: From<Error>,
{
    atomic_with_extension(conn, None, f)
}

/// [`atomic`], with the transaction (and its savepoints) carrying `extension` as its
/// [`Executor::extension`]: a layer above passes what it keeps on its own handle (the ORM's
/// database handle passes its signal hub), so code handed the transaction finds it again.
/// This crate only carries the value.
///
/// ```
/// use orm_backends::{atomic_with_extension, connect_one, Executor};
/// let mut conn = connect_one("sqlite::memory:").unwrap();
/// let tag = String::from("app state");
/// atomic_with_extension(&mut conn, Some(&tag), |tx| {
///     let ext = tx.extension().and_then(|e| e.downcast_ref::<String>());
///     assert_eq!(ext.map(String::as_str), Some("app state"));
///     tx.atomic(|sp| {
///         assert!(sp.extension().is_some()); // savepoints inherit it
///         Ok::<_, orm_backends::Error>(())
///     })
/// })
/// .unwrap();
/// ```
pub fn atomic_with_extension<C, R, E>(
    conn: &mut C,
    extension: Option<&(dyn Any + Send + Sync)>,
    f: impl FnOnce(&Transaction<'_>) -> Result<R, E>,
) -> Result<R, E>
where
    C: Connection + ?Sized,
    E: From<Error>,
{
    let base = conn.transaction_depth();
    conn.begin()?;
    let cell = RefCell::new(conn);
    let hooks = RefCell::new(Vec::new());
    let tx = Transaction { conn: &cell, hooks: &hooks, level: base + 1, extension };
    let out = run_level(&tx, f);
    if base > 0 {
        // We opened a savepoint inside a transaction we do not own: hooks belong to it, but we
        // cannot reach its queue, so run them only if the caller's transaction is ours to
        // finish. Documented: on_commit inside a raw connection's transaction runs at release.
        for (_, hook) in hooks.into_inner() {
            hook();
        }
    }
    out
}
