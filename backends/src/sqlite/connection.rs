//! [`SqliteConnection`]: rusqlite in its default no-mutex mode, with a prepared-statement
//! cache and a stepping row stream. `execute`, `execute_params`, `for_each_row` and
//! transaction control go through this backend's own statement cache instead (`stmt.rs`:
//! parameters bound in place, rows read straight off the statement); `stream`,
//! `execute_batch` and SQL that is not exactly one statement go through rusqlite.

use super::error::map;
use super::stmt::{Outcome, Statements};
use super::types::{cell, check_param, check_params, value_ref, wrong_count, Param, RefParam};
use crate::cell::Cell;
use crate::connection::{
    begin_sql, changes_schema, commit_sql, no_transaction, rollback_sql, Connection, StatementObserver,
};
use crate::dialect::Dialect;
use crate::error::{Error, ErrorKind, Result};
use crate::row::{out_of_range, Row, RowStream};
use crate::url::{ConnectOptions, SqliteTarget};
use crate::value::{Value, ValueRef};
use rusqlite::{CachedStatement, OpenFlags};
use std::sync::Arc;

/// A connection to a SQLite database.
pub struct SqliteConnection {
    /// Declared before `conn`: its statements are finalized before the connection closes.
    pub(super) stmts: Statements,
    conn: rusqlite::Connection,
    depth: usize,
    observer: Option<Arc<dyn StatementObserver>>,
    /// Whether each table asked about has an `AUTOINCREMENT` key (read once per table from
    /// `sqlite_master`, forgotten when the schema changes): see `insert_rows`.
    autoincrement: std::collections::HashMap<String, bool>,
}

impl std::fmt::Debug for SqliteConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteConnection").field("depth", &self.depth).finish()
    }
}

impl SqliteConnection {
    /// Opens the database the options name, with foreign keys on, a 5 s busy timeout and, for
    /// files, WAL journaling.
    pub fn open(options: &ConnectOptions) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let target = options.sqlite.clone().unwrap_or(SqliteTarget::Memory);
        let (conn, file) = match &target {
            SqliteTarget::Memory => (rusqlite::Connection::open_in_memory_with_flags(flags), false),
            SqliteTarget::SharedMemory(name) => {
                (rusqlite::Connection::open_with_flags(format!("file:{name}?mode=memory&cache=shared"), flags), false)
            }
            SqliteTarget::File(path) => (rusqlite::Connection::open_with_flags(path, flags), true),
        };
        let conn = conn.map_err(|e| {
            let what = match &target {
                SqliteTarget::File(p) => format!("cannot open SQLite database `{p}`: {e}"),
                _ => format!("cannot open SQLite memory database: {e}"),
            };
            Error::new(ErrorKind::Connection, what).with_source(e)
        })?;
        conn.set_prepared_statement_cache_capacity(256);
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| map(e, None))?;
        register_functions(&conn).map_err(|e| map(e, None))?;
        // LIKE is case-sensitive, as on the other backends; case-insensitive lookups say so.
        let mut pragmas = String::from("PRAGMA foreign_keys = ON; PRAGMA case_sensitive_like = ON;");
        if file {
            pragmas.push_str("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
        }
        conn.execute_batch(&pragmas).map_err(|e| {
            let e = map(e, None);
            Error::new(ErrorKind::Connection, format!("cannot set up the SQLite database: {e}"))
        })?;
        Ok(SqliteConnection {
            stmts: Statements::default(),
            conn,
            depth: 0,
            observer: None,
            autoincrement: Default::default(),
        })
    }

    /// The rusqlite connection underneath, for what this crate does not cover.
    ///
    /// The backend's own statement cache is emptied first: its statements belong to the
    /// connection handed out, which the caller may replace.
    pub fn raw(&mut self) -> &mut rusqlite::Connection {
        self.stmts = Statements::default();
        self.autoincrement.clear();
        &mut self.conn
    }

    fn observe(&self, sql: &str, params: &[Value]) {
        tracing::debug!(target: "orm::sql", backend = "sqlite", sql, params = params.len());
        if let Some(o) = &self.observer {
            o.statement(sql, params);
        }
    }

    /// Runs transaction control (`BEGIN`, `SAVEPOINT`, `COMMIT` …) from the statement cache
    /// (a nested rollback is two statements and goes to rusqlite). `execute_batch` itself
    /// stays uncached: it runs schema scripts, which would only crowd the cache.
    fn control(&mut self, sql: &str) -> Result<()> {
        self.observe(sql, &[]);
        if let Outcome::Done(_) = self.stmts.execute(&self.conn, sql, std::iter::empty())? {
            return Ok(());
        }
        self.conn.execute_batch(sql).map_err(|e| map(e, Some(sql)))
    }

    /// Is `table`'s key `AUTOINCREMENT`? Such a key never takes a random rowid (SQLite fails
    /// with SQLITE_FULL instead), so one INSERT's rows get consecutive keys.
    fn is_autoincrement(&mut self, table: &str) -> Result<bool> {
        if let Some(&known) = self.autoincrement.get(table) {
            return Ok(known);
        }
        let sql = "SELECT instr(upper(sql), 'AUTOINCREMENT') > 0 FROM sqlite_master WHERE type = 'table' AND name = ?";
        self.observe(sql, &[Value::from(table)]);
        let mut stmt = self.prepare(sql)?;
        stmt.raw_bind_parameter(1, table).map_err(|e| map(e, Some(sql)))?;
        let mut rows = stmt.raw_query();
        let known = match rows.next().map_err(|e| map(e, Some(sql)))? {
            Some(row) => row.get::<_, Option<bool>>(0).map_err(|e| map(e, Some(sql)))?.unwrap_or(false),
            None => false,
        };
        drop(rows);
        drop(stmt);
        self.autoincrement.insert(table.to_owned(), known);
        Ok(known)
    }

    fn prepare(&self, sql: &str) -> Result<CachedStatement<'_>> {
        self.conn.prepare_cached(sql).map_err(|e| map(e, Some(sql)))
    }
}

/// `x REGEXP y` calls `regexp(y, x)`; SQLite ships no implementation, so this is one (the
/// `regex` crate's syntax; compiled patterns are cached per statement).
fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let re =
                ctx.get_or_create_aux(0, |vr| -> Result<regex::Regex, Box<dyn std::error::Error + Send + Sync>> {
                    Ok(regex::Regex::new(vr.as_str()?)?)
                })?;
            let text = match ctx.get_raw(1) {
                rusqlite::types::ValueRef::Null => return Ok(None),
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                other => match other {
                    rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                    rusqlite::types::ValueRef::Real(f) => f.to_string(),
                    _ => return Ok(Some(false)),
                },
            };
            Ok(Some(re.is_match(&text)))
        },
    )?;
    super::functions::register(conn)?;
    // PostgreSQL's and MySQL's STDDEV_POP, STDDEV_SAMP, VAR_POP and VAR_SAMP, which SQLite
    // lacks (Django registers the same on SQLite).
    for (name, sample, root) in
        [("STDDEV_POP", false, true), ("STDDEV_SAMP", true, true), ("VAR_POP", false, false), ("VAR_SAMP", true, false)]
    {
        conn.create_aggregate_function(
            name,
            1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            Spread { sample, root },
        )?;
    }
    Ok(())
}

/// Variance or standard deviation, population or sample, by Welford's method: (count, mean,
/// sum of squared differences).
struct Spread {
    sample: bool,
    root: bool,
}

impl rusqlite::functions::Aggregate<(u64, f64, f64), Option<f64>> for Spread {
    fn init(&self, _: &mut rusqlite::functions::Context<'_>) -> rusqlite::Result<(u64, f64, f64)> {
        Ok((0, 0.0, 0.0))
    }

    fn step(&self, ctx: &mut rusqlite::functions::Context<'_>, acc: &mut (u64, f64, f64)) -> rusqlite::Result<()> {
        let x = match ctx.get_raw(0) {
            rusqlite::types::ValueRef::Integer(i) => i as f64,
            rusqlite::types::ValueRef::Real(f) => f,
            rusqlite::types::ValueRef::Text(t) => match std::str::from_utf8(t).ok().and_then(|s| s.parse().ok()) {
                Some(f) => f,
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        let (n, mean, m2) = acc;
        *n += 1;
        let delta = x - *mean;
        *mean += delta / *n as f64;
        *m2 += delta * (x - *mean);
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut rusqlite::functions::Context<'_>,
        acc: Option<(u64, f64, f64)>,
    ) -> rusqlite::Result<Option<f64>> {
        let Some((n, _, m2)) = acc else { return Ok(None) };
        let divisor = if self.sample { n.saturating_sub(1) } else { n };
        if divisor == 0 {
            return Ok(None);
        }
        let v = m2 / divisor as f64;
        Ok(Some(if self.root { v.sqrt() } else { v }))
    }
}

fn check_count(stmt: &rusqlite::Statement<'_>, given: usize, sql: &str) -> Result<()> {
    let expected = stmt.parameter_count();
    if expected != given {
        return Err(wrong_count(expected, given, sql));
    }
    Ok(())
}

fn bind(stmt: &mut rusqlite::Statement<'_>, params: &[Value], sql: &str) -> Result<()> {
    check_params(params)?;
    check_count(stmt, params.len(), sql)?;
    for (i, p) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, Param(p)).map_err(|e| map(e, Some(sql)))?;
    }
    Ok(())
}

fn bind_params(stmt: &mut rusqlite::Statement<'_>, params: &[crate::Param<'_>], sql: &str) -> Result<()> {
    check_count(stmt, params.len(), sql)?;
    for (i, p) in params.iter().enumerate() {
        let v = p.as_value_ref();
        check_param(i, v)?;
        stmt.raw_bind_parameter(i + 1, RefParam(v)).map_err(|e| map(e, Some(sql)))?;
    }
    Ok(())
}

impl Connection for SqliteConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.observe(sql, params);
        if !self.autoincrement.is_empty() && changes_schema(sql) {
            self.autoincrement.clear();
        }
        if let Outcome::Done(n) = self.stmts.execute(&self.conn, sql, params.iter().map(Value::as_ref))? {
            return Ok(n);
        }
        let mut stmt = self.prepare(sql)?;
        bind(&mut stmt, params, sql)?;
        let n = stmt.raw_execute().map_err(|e| map(e, Some(sql)))?;
        Ok(n as u64)
    }

    fn execute_params(&mut self, sql: &str, params: &[crate::Param<'_>]) -> Result<u64> {
        crate::connection::observe_params("sqlite", self.observer.as_ref(), sql, params);
        if let Outcome::Done(n) = self.stmts.execute(&self.conn, sql, params.iter().map(crate::Param::as_value_ref))? {
            return Ok(n);
        }
        let mut stmt = self.prepare(sql)?;
        bind_params(&mut stmt, params, sql)?;
        let n = stmt.raw_execute().map_err(|e| map(e, Some(sql)))?;
        Ok(n as u64)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<()> {
        self.observe(sql, &[]);
        if changes_schema(sql) {
            self.autoincrement.clear();
        }
        self.conn.execute_batch(sql).map_err(|e| map(e, Some(sql)))
    }

    fn stream<'a>(&'a mut self, sql: &str, params: &[Value]) -> Result<Box<dyn RowStream + 'a>> {
        self.observe(sql, params);
        let mut stmt = self.prepare(sql)?;
        bind(&mut stmt, params, sql)?;
        let stmt = Box::into_raw(Box::new(stmt));
        // SAFETY: `stmt` is a heap allocation owned by the stream and freed only in its
        // `Drop`, after `rows` (which borrows it) has been dropped. The allocation never moves,
        // so the borrow stays valid for the stream's whole life; `'a` ties the stream to the
        // connection the statement came from.
        let rows = unsafe { (*stmt).raw_query() };
        let rows: rusqlite::Rows<'a> = unsafe { std::mem::transmute::<rusqlite::Rows<'_>, rusqlite::Rows<'a>>(rows) };
        Ok(Box::new(SqliteStream { rows: std::mem::ManuallyDrop::new(rows), stmt, sql: sql.to_owned() }))
    }

    fn for_each_row(&mut self, sql: &str, params: &[Value], each: &mut dyn FnMut(&dyn Row) -> bool) -> Result<()> {
        self.observe(sql, params);
        if let Outcome::Done(()) = self.stmts.for_each_row(&self.conn, sql, params.iter().map(Value::as_ref), each)? {
            return Ok(());
        }
        let mut stmt = self.prepare(sql)?;
        bind(&mut stmt, params, sql)?;
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next().map_err(|e| map(e, Some(sql)))? {
            if !each(row) {
                break;
            }
        }
        Ok(())
    }

    /// The generated key is `last_insert_rowid()` whether or not `returning` names the
    /// column: SQLite generates values only for an `INTEGER PRIMARY KEY` (the rowid), and
    /// reading the rowid costs nothing where `RETURNING` makes SQLite buffer the row in a
    /// temporary table first. Triggers do not disturb it (SQLite restores the value when a
    /// trigger ends).
    fn insert(&mut self, sql: &str, params: &[Value], _returning: Option<&str>) -> Result<Option<Value>> {
        let n = self.execute(sql, params)?;
        Ok((n > 0).then(|| Value::Int(self.conn.last_insert_rowid())))
    }

    /// Reads the keys of a multi-row insert off `last_insert_rowid()`: SQLite gives the rows
    /// of one INSERT consecutive rowids (each the largest so far plus one), so the keys are
    /// `last - rows + 1 ..= last`. That holds unless something else inserted in between
    /// (a trigger: then `total_changes()` grew by more than `rows`) or the table ran out of
    /// rowids and SQLite picked random ones (then a row above `last` exists): in those rare
    /// cases the keys are unknown (`GeneratedKeys::Unknown`), as on MySQL. An `AUTOINCREMENT`
    /// key (what this crate's DDL writes) never takes random rowids, so for such a table the
    /// check for a row above `last` is skipped: no query beyond the INSERT itself, after one
    /// look at `sqlite_master` per table and connection. Tables whose key is not the
    /// rowid generate no keys at all, so there is nothing to read for them.
    fn insert_rows(
        &mut self,
        sql: &str,
        params: &[crate::Param<'_>],
        rows: usize,
        keys: Option<crate::connection::InsertKeys<'_>>,
    ) -> Result<crate::connection::InsertedRows> {
        let before = self.conn.total_changes();
        let count = self.execute_params(sql, params)?;
        let Some(k) = keys else {
            return Ok(crate::connection::InsertedRows { count, keys: crate::GeneratedKeys::Unknown });
        };
        let last = self.conn.last_insert_rowid();
        let only_ours = self.conn.total_changes().wrapping_sub(before) == count && count == rows as u64;
        let mut consecutive = only_ours && last >= count as i64;
        if consecutive && count > 1 && !self.is_autoincrement(k.table)? {
            let mut check = String::with_capacity(48 + k.table.len() + k.column.len());
            check.push_str("SELECT 1 FROM ");
            Dialect::Sqlite.write_ident(&mut check, k.table);
            check.push_str(" WHERE ");
            Dialect::Sqlite.write_ident(&mut check, k.column);
            check.push_str(" > ? LIMIT 1");
            self.observe(&check, &[]);
            let mut stmt = self.prepare(&check)?;
            stmt.raw_bind_parameter(1, last).map_err(|e| map(e, Some(&check)))?;
            let mut above = stmt.raw_query();
            consecutive = above.next().map_err(|e| map(e, Some(&check)))?.is_none();
        }
        let keys = if consecutive {
            crate::GeneratedKeys::Consecutive { first: last - count as i64 + 1 }
        } else {
            crate::GeneratedKeys::Unknown
        };
        Ok(crate::connection::InsertedRows { count, keys })
    }

    fn transaction_depth(&self) -> usize {
        self.depth
    }

    fn begin(&mut self) -> Result<()> {
        self.control(&begin_sql(Dialect::Sqlite, self.depth))?;
        self.depth += 1;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if self.depth == 0 {
            return Err(no_transaction());
        }
        self.control(&commit_sql(self.depth))?;
        self.depth -= 1;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if self.depth == 0 {
            return Err(no_transaction());
        }
        let r = self.control(&rollback_sql(self.depth));
        self.depth -= 1;
        if self.depth == 0 && !self.conn.is_autocommit() {
            // A failed ROLLBACK must not leave the connection inside a transaction.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        r
    }

    fn set_observer(&mut self, observer: Option<&Arc<dyn StatementObserver>>) {
        crate::connection::replace_observer(&mut self.observer, observer);
    }

    fn is_broken(&mut self) -> bool {
        self.depth > 0 || !self.conn.is_autocommit()
    }

    fn reset(&mut self) -> Result<()> {
        // One ROLLBACK ends the transaction and every savepoint in it, ours or a raw `BEGIN`.
        self.depth = 0;
        if !self.conn.is_autocommit() {
            self.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }
}

struct SqliteStream<'a> {
    rows: std::mem::ManuallyDrop<rusqlite::Rows<'a>>,
    stmt: *mut CachedStatement<'a>,
    sql: String,
}

// SAFETY: the stream is used by one thread at a time (it is `&mut`-borrowed from a
// connection that is itself `Send`); the raw pointer is only an owned box.
unsafe impl Send for SqliteStream<'_> {}

impl Drop for SqliteStream<'_> {
    fn drop(&mut self) {
        // SAFETY: `rows` borrows `*stmt`, so it goes first; `stmt` came from `Box::into_raw`
        // and is freed exactly once, here.
        unsafe {
            std::mem::ManuallyDrop::drop(&mut self.rows);
            drop(Box::from_raw(self.stmt));
        }
    }
}

impl RowStream for SqliteStream<'_> {
    fn next_row(&mut self) -> Result<Option<&dyn Row>> {
        match self.rows.next() {
            Ok(Some(row)) => Ok(Some(row as &dyn Row)),
            Ok(None) => Ok(None),
            Err(e) => Err(map(e, Some(&self.sql))),
        }
    }
}

impl Row for rusqlite::Row<'_> {
    fn column_count(&self) -> usize {
        self.as_ref().column_count()
    }

    fn column_name(&self, index: usize) -> Option<&str> {
        self.as_ref().column_name(index).ok()
    }

    #[inline]
    fn cell(&self, index: usize) -> Cell<'_> {
        self.get_ref(index).map_or(Cell::OTHER, cell)
    }

    fn value_ref(&self, index: usize) -> Result<ValueRef<'_>> {
        match self.get_ref(index) {
            Ok(v) => value_ref(v),
            Err(rusqlite::Error::InvalidColumnIndex(_)) => Err(out_of_range(index, self.column_count())),
            Err(e) => Err(map(e, None)),
        }
    }
}
