//! Transactions as guards: [`atomic`] commits when its closure returns `Ok`, and rolls back
//! when it returns `Err` or panics. Nested calls use savepoints. `on_commit` callbacks run
//! after the outermost commit and are dropped with a rollback.
//!
//! A [`Transaction`] is handed to the closure by shared reference and is an [`Executor`], so
//! it can be passed to any number of calls (`a.save(tx)?; b.save(tx)?`) without re-borrowing.
//!
//! A statement that fails on the server breaks the block it ran in, on every backend as
//! PostgreSQL does by itself (Django's `needs_rollback`): every further statement of that
//! block is refused with [`ErrorKind::TransactionManagement`], and when the block's closure
//! returns, the block rolls back whatever it returns. A savepoint block (`tx.atomic(...)`)
//! around the statement that may fail keeps the damage to itself. Without this, SQLite and
//! MariaDB would commit the rest of a block whose caller swallowed an error.

use crate::connection::{busy, Checkout, Connection, Executor, InsertKeys, InsertedRows, StatementObserver};
use crate::dialect::Dialect;
use crate::error::{Error, ErrorKind, Result};
use crate::features::Features;
use crate::row::{OwnedRow, Row, RowStream};
use crate::value::{Param, Value};
use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;

type Hook = Box<dyn FnOnce() + Send>;

/// How an `atomic` block opens: Django's `atomic(savepoint=…, durable=…)`.
///
/// ```
/// use orm_backends::{atomic_with_options, connect_one, AtomicOptions, Error};
/// let mut conn = connect_one("sqlite::memory:").unwrap();
/// atomic_with_options(&mut conn, None, AtomicOptions::new().durable(), |tx| {
///     // A durable block must be the outermost one.
///     let nested = tx.atomic_with(AtomicOptions::new().durable(), |_| Ok::<_, Error>(()));
///     assert!(nested.is_err());
///     Ok::<_, Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtomicOptions {
    savepoint: bool,
    durable: bool,
}

impl Default for AtomicOptions {
    fn default() -> Self {
        AtomicOptions { savepoint: true, durable: false }
    }
}

impl AtomicOptions {
    /// A block with a savepoint when nested, not durable: what `atomic` opens.
    pub fn new() -> Self {
        Self::default()
    }

    /// A nested block without a savepoint of its own (Django's `savepoint=False`): it costs
    /// no round trip, but an error leaving it cannot be rolled back alone, so it marks the
    /// enclosing block to roll back. Outermost, it is an ordinary transaction.
    pub fn without_savepoint(mut self) -> Self {
        self.savepoint = false;
        self
    }

    /// A block that must be the outermost one (Django's `durable=True`): when it returns,
    /// its writes are committed. Opening it inside another block is an error.
    pub fn durable(mut self) -> Self {
        self.durable = true;
        self
    }
}

/// Django's message for a durable block opened inside another.
fn nested_durable() -> Error {
    Error::new(ErrorKind::Usage, "A durable atomic block cannot be nested within another atomic block.")
}

/// A savepoint taken by hand inside an `atomic` block ([`Transaction::savepoint`]): Django's
/// `sid`. Commit or roll it back with [`Transaction::savepoint_commit`] /
/// [`Transaction::savepoint_rollback`]; one left open is released with its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Savepoint {
    depth: usize,
}

/// An open transaction (or savepoint) on one connection.
pub struct Transaction<'a> {
    conn: &'a RefCell<dyn Connection + 'a>,
    /// `on_commit` callbacks, each with the connection depth it was registered at.
    hooks: &'a RefCell<Vec<(usize, Hook)>>,
    level: usize,
    extension: Option<&'a (dyn Any + Send + Sync)>,
    /// The connection's dialect, read when the block opens: [`Connection::dialect`] must
    /// answer while the connection is checked out (a streaming read holds it).
    dialect: Dialect,
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").field("level", &self.level).finish()
    }
}

impl<'a> Transaction<'a> {
    /// Runs `f` inside a savepoint of this transaction: released on `Ok`, rolled back on
    /// `Err` or panic (and the outer transaction goes on).
    ///
    /// Refused with [`ErrorKind::TransactionManagement`] when this block must roll back.
    pub fn atomic<R, E: From<Error>>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<R, E>) -> Result<R, E> {
        self.atomic_with(AtomicOptions::new(), f)
    }

    /// [`atomic`](Self::atomic) with options. A durable block is refused here (this is always
    /// inside another block). Without a savepoint, `f` runs in this block: an `Err` (or a
    /// panic) it returns marks this block to roll back, as Django's `savepoint=False` does.
    pub fn atomic_with<R, E: From<Error>>(
        &self,
        options: AtomicOptions,
        f: impl FnOnce(&Transaction<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        if options.durable {
            return Err(nested_durable().into());
        }
        if !options.savepoint {
            let mut mark = MarkOnUnwind { tx: self, armed: true };
            let out = f(self);
            mark.armed = out.is_err();
            return out;
        }
        let level = {
            let mut conn = self.conn.try_borrow_mut().map_err(|_| busy())?;
            conn.begin()?;
            conn.transaction_depth()
        };
        let child =
            Transaction { conn: self.conn, hooks: self.hooks, level, extension: self.extension, dialect: self.dialect };
        run_level(&child, f)
    }

    /// Registers `f` to run after the outermost transaction commits. It is dropped, never
    /// run, if this level, a savepoint taken by hand since, or any level around it rolls
    /// back.
    pub fn on_commit(&self, f: impl FnOnce() + Send + 'static) {
        let depth = self.depth();
        self.hooks.borrow_mut().push((depth, Box::new(f)));
    }

    /// How deep this level is: 1 for the transaction, 2 for its first savepoint, …
    pub fn level(&self) -> usize {
        self.level
    }

    /// Must this block roll back (Django's `get_rollback`)? True once a statement of the
    /// block failed on the server, or after [`set_rollback(true)`](Self::set_rollback).
    pub fn get_rollback(&self) -> bool {
        self.conn.try_borrow().is_ok_and(|c| c.needs_rollback())
    }

    /// Marks this block to roll back when it ends, whatever its closure returns (Django's
    /// `set_rollback(True)`); further statements of the block are refused. `false` lifts the
    /// mark, for a caller that has rolled back to a savepoint of its own (PostgreSQL still
    /// refuses to commit a transaction whose statement failed).
    pub fn set_rollback(&self, rollback: bool) -> Result<()> {
        self.conn.try_borrow_mut().map_err(|_| busy())?.set_rollback(rollback)
    }

    /// Takes a savepoint by hand (Django's `transaction.savepoint()`), to
    /// [`savepoint_rollback`](Self::savepoint_rollback) to or
    /// [`savepoint_commit`](Self::savepoint_commit) later in this block. A failure after it
    /// that is rolled back to it leaves the block usable. A nested `tx.atomic(...)` block
    /// is usually the clearer tool.
    ///
    /// ```
    /// use orm_backends::{atomic, connect_one, Connection, Error, Executor, Value};
    /// let mut conn = connect_one("sqlite::memory:").unwrap();
    /// conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    /// atomic(&mut conn, |tx| {
    ///     tx.with_connection(|c| c.execute("INSERT INTO t VALUES (1)", &[]))?;
    ///     let sid = tx.savepoint()?;
    ///     tx.with_connection(|c| c.execute("INSERT INTO t VALUES (2)", &[]))?;
    ///     tx.savepoint_rollback(sid)?; // the 2 is gone, the 1 stays
    ///     Ok::<_, Error>(())
    /// })
    /// .unwrap();
    /// assert_eq!(conn.query("SELECT x FROM t", &[]).unwrap().len(), 1);
    /// ```
    pub fn savepoint(&self) -> Result<Savepoint> {
        let mut conn = self.conn.try_borrow_mut().map_err(|_| busy())?;
        conn.begin()?;
        Ok(Savepoint { depth: conn.transaction_depth() })
    }

    /// Releases `sid` and every savepoint taken after it (Django's `savepoint_commit`): their
    /// writes become part of this block.
    pub fn savepoint_commit(&self, sid: Savepoint) -> Result<()> {
        let mut conn = self.conn.try_borrow_mut().map_err(|_| busy())?;
        self.check_savepoint(&*conn, sid)?;
        while conn.transaction_depth() >= sid.depth {
            let depth = conn.transaction_depth();
            conn.commit()?;
            hooks_released(self.hooks, depth);
        }
        Ok(())
    }

    /// Rolls back to `sid` (Django's `savepoint_rollback`): the writes made since are undone
    /// and their `on_commit` callbacks dropped, and a failure since is mended.
    pub fn savepoint_rollback(&self, sid: Savepoint) -> Result<()> {
        let mut conn = self.conn.try_borrow_mut().map_err(|_| busy())?;
        self.check_savepoint(&*conn, sid)?;
        while conn.transaction_depth() >= sid.depth {
            let depth = conn.transaction_depth();
            hooks_rolled_back(self.hooks, depth);
            conn.rollback()?;
        }
        Ok(())
    }

    fn check_savepoint(&self, conn: &(dyn Connection + '_), sid: Savepoint) -> Result<()> {
        if sid.depth <= self.level || sid.depth > conn.transaction_depth() {
            return Err(Error::new(
                ErrorKind::Usage,
                "this savepoint is not open in this block (already committed or rolled back, or taken elsewhere)",
            ));
        }
        Ok(())
    }

    /// The connection's depth now: this level, or deeper by the savepoints taken by hand.
    fn depth(&self) -> usize {
        self.conn.try_borrow().map(|c| c.transaction_depth()).unwrap_or(self.level)
    }
}

/// Marks the block to roll back when a `savepoint = false` block is left by an error or a
/// panic (disarmed on success).
struct MarkOnUnwind<'t, 'a> {
    tx: &'t Transaction<'a>,
    armed: bool,
}

impl Drop for MarkOnUnwind<'_, '_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.tx.set_rollback(true);
        }
    }
}

/// Callbacks registered at `depth` now belong to the level around it.
fn hooks_released(hooks: &RefCell<Vec<(usize, Hook)>>, depth: usize) {
    if let Ok(mut hooks) = hooks.try_borrow_mut() {
        for (d, _) in hooks.iter_mut() {
            if *d >= depth {
                *d = depth - 1;
            }
        }
    }
}

/// Callbacks registered at `depth` or deeper are dropped with it.
fn hooks_rolled_back(hooks: &RefCell<Vec<(usize, Hook)>>, depth: usize) {
    if let Ok(mut hooks) = hooks.try_borrow_mut() {
        hooks.retain(|(d, _)| *d < depth);
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
        self.dialect
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
    /// Rolls back this level and every savepoint taken by hand inside it.
    fn rollback(&mut self) -> Result<()> {
        self.done = true;
        let mut conn = self.tx.conn.try_borrow_mut().map_err(|_| busy())?;
        while conn.transaction_depth() >= self.tx.level {
            let depth = conn.transaction_depth();
            hooks_rolled_back(self.tx.hooks, depth);
            conn.rollback()?;
        }
        Ok(())
    }

    /// Releases the savepoints taken by hand inside this level and commits it.
    fn commit(&mut self) -> Result<()> {
        let mut conn = self.tx.conn.try_borrow_mut().map_err(|_| busy())?;
        while conn.transaction_depth() >= self.tx.level {
            let depth = conn.transaction_depth();
            conn.commit()?;
            if depth > 1 {
                hooks_released(self.tx.hooks, depth);
            }
        }
        Ok(())
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
        Ok(v) if tx.get_rollback() => {
            // The closure swallowed a failed statement (or asked for it): the block rolls
            // back and its value is returned, as Django's atomic does on a clean exit.
            guard.rollback()?;
            Ok(v)
        }
        Ok(v) => {
            if let Err(e) = guard.commit() {
                let _ = guard.rollback();
                return Err(e.into());
            }
            guard.done = true;
            if tx.level == 1 {
                let hooks = std::mem::take(&mut *tx.hooks.borrow_mut());
                for (_, hook) in hooks {
                    hook();
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
    atomic_with_options(conn, None, AtomicOptions::new(), f)
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
    atomic_with_options(conn, extension, AtomicOptions::new(), f)
}

/// [`atomic_with_extension`] with [`AtomicOptions`]. On a connection already inside a
/// transaction a durable block is refused, and a block without a savepoint runs `f` in the
/// transaction that is open (an `Err` leaves it to its owner).
pub fn atomic_with_options<C, R, E>(
    conn: &mut C,
    extension: Option<&(dyn Any + Send + Sync)>,
    options: AtomicOptions,
    f: impl FnOnce(&Transaction<'_>) -> Result<R, E>,
) -> Result<R, E>
where
    C: Connection + ?Sized,
    E: From<Error>,
{
    let base = conn.transaction_depth();
    if base > 0 && options.durable {
        return Err(nested_durable().into());
    }
    let merged = base > 0 && !options.savepoint;
    if !merged {
        conn.begin()?;
    }
    let dialect = conn.dialect();
    let cell = RefCell::new(Guarded { conn, broken: None });
    let hooks = RefCell::new(Vec::new());
    let tx = Transaction { conn: &cell, hooks: &hooks, level: base + usize::from(!merged), extension, dialect };
    let out = if merged {
        // Django's savepoint=False inside a transaction this call does not own: run in it.
        f(&tx)
    } else {
        run_level(&tx, f)
    };
    if base > 0 && out.is_ok() {
        // We opened a savepoint inside a transaction we do not own: hooks belong to it, but we
        // cannot reach its queue, so run them only if the caller's transaction is ours to
        // finish. Documented: on_commit inside a raw connection's transaction runs at release.
        for (_, hook) in hooks.into_inner() {
            hook();
        }
    }
    out
}

/// The connection an `atomic` block hands out: it forwards everything to the real one, and
/// tracks which open level a failed statement broke (see the module doc). The level is the
/// connection's transaction depth when the statement failed; rolling that level back (or
/// any level around it) mends it.
struct Guarded<'c, C: Connection + ?Sized> {
    conn: &'c mut C,
    broken: Option<usize>,
}

/// Django's message for a statement run in a block that must roll back.
fn broken_block() -> Error {
    Error::new(
        ErrorKind::TransactionManagement,
        "An error occurred in the current transaction. You can't execute queries until the end of the 'atomic' block.",
    )
}

impl<C: Connection + ?Sized> Guarded<'_, C> {
    fn check(&self) -> Result<()> {
        match self.broken {
            Some(_) => Err(broken_block()),
            None => Ok(()),
        }
    }

    /// Notes that `e` broke the innermost open level, if it is a server's refusal.
    fn note(&mut self, e: Error) -> Error {
        if e.breaks_transaction() && self.broken.is_none() {
            let depth = self.conn.transaction_depth();
            if depth > 0 {
                self.broken = Some(depth);
            }
        }
        e
    }

    fn run<T>(&mut self, f: impl FnOnce(&mut C) -> Result<T>) -> Result<T> {
        self.check()?;
        let r = f(self.conn);
        r.map_err(|e| self.note(e))
    }
}

/// A row stream of a guarded connection: an error while reading rows breaks the block too.
struct GuardedStream<'s> {
    rows: Box<dyn RowStream + 's>,
    broken: &'s mut Option<usize>,
    depth: usize,
}

impl RowStream for GuardedStream<'_> {
    fn next_row(&mut self) -> Result<Option<&dyn Row>> {
        match self.rows.next_row() {
            Ok(row) => Ok(row),
            Err(e) => {
                if e.breaks_transaction() && self.broken.is_none() && self.depth > 0 {
                    *self.broken = Some(self.depth);
                }
                Err(e)
            }
        }
    }
}

impl<C: Connection + ?Sized> Connection for Guarded<'_, C> {
    fn dialect(&self) -> Dialect {
        self.conn.dialect()
    }

    fn features(&self) -> &'static Features {
        self.conn.features()
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.run(|c| c.execute(sql, params))
    }

    fn execute_params(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        self.run(|c| c.execute_params(sql, params))
    }

    fn execute_batch(&mut self, sql: &str) -> Result<()> {
        self.run(|c| c.execute_batch(sql))
    }

    fn stream<'a>(&'a mut self, sql: &str, params: &[Value]) -> Result<Box<dyn RowStream + 'a>> {
        self.check()?;
        let depth = self.conn.transaction_depth();
        match self.conn.stream(sql, params) {
            Ok(rows) => Ok(Box::new(GuardedStream { rows, broken: &mut self.broken, depth })),
            Err(e) => {
                if e.breaks_transaction() && depth > 0 {
                    self.broken = Some(depth);
                }
                Err(e)
            }
        }
    }

    fn stream_all<'a>(&'a mut self, sql: &str, params: &[Value]) -> Result<Box<dyn RowStream + 'a>> {
        self.check()?;
        let depth = self.conn.transaction_depth();
        match self.conn.stream_all(sql, params) {
            Ok(rows) => Ok(Box::new(GuardedStream { rows, broken: &mut self.broken, depth })),
            Err(e) => {
                if e.breaks_transaction() && depth > 0 {
                    self.broken = Some(depth);
                }
                Err(e)
            }
        }
    }

    fn for_each_row(&mut self, sql: &str, params: &[Value], each: &mut dyn FnMut(&dyn Row) -> bool) -> Result<()> {
        self.run(|c| c.for_each_row(sql, params, each))
    }

    fn insert(&mut self, sql: &str, params: &[Value], returning: Option<&str>) -> Result<Option<Value>> {
        self.run(|c| c.insert(sql, params, returning))
    }

    fn insert_rows(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        rows: usize,
        keys: Option<InsertKeys<'_>>,
    ) -> Result<InsertedRows> {
        self.run(|c| c.insert_rows(sql, params, rows, keys))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<OwnedRow>> {
        self.run(|c| c.query(sql, params))
    }

    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<OwnedRow>> {
        self.run(|c| c.query_opt(sql, params))
    }

    fn transaction_depth(&self) -> usize {
        self.conn.transaction_depth()
    }

    /// A savepoint cannot be opened inside a block that must roll back.
    fn begin(&mut self) -> Result<()> {
        self.run(|c| c.begin())
    }

    /// A level that must roll back cannot be committed.
    fn commit(&mut self) -> Result<()> {
        let depth = self.conn.transaction_depth();
        if self.broken.is_some_and(|b| b >= depth) {
            return Err(broken_block());
        }
        let r = self.conn.commit();
        r.map_err(|e| self.note(e))
    }

    /// Rolling a level back mends it, and any level inside it.
    fn rollback(&mut self) -> Result<()> {
        let depth = self.conn.transaction_depth();
        let r = self.conn.rollback();
        if self.broken.is_some_and(|b| b >= depth) {
            self.broken = None;
        }
        r
    }

    fn set_observer(&mut self, observer: Option<&Arc<dyn StatementObserver>>) {
        self.conn.set_observer(observer)
    }

    fn is_broken(&mut self) -> bool {
        self.conn.is_broken()
    }

    fn reset(&mut self) -> Result<()> {
        self.broken = None;
        self.conn.reset()
    }

    fn needs_rollback(&self) -> bool {
        self.broken.is_some() || self.conn.needs_rollback()
    }

    fn set_rollback(&mut self, rollback: bool) -> Result<()> {
        let depth = self.conn.transaction_depth();
        if depth == 0 {
            return Err(Error::new(ErrorKind::Usage, "set_rollback() is only possible inside an atomic block"));
        }
        self.broken = if rollback { Some(depth) } else { None };
        Ok(())
    }
}
