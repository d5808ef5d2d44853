//! Statements this backend prepares, binds and steps through SQLite's C API itself, for the
//! calls that run most: [`execute`](Statements::execute) (every save, `bulk_create`,
//! `bulk_update` and delete) and [`for_each_row`](Statements::for_each_row) (every read that
//! builds a list). The rest of the backend goes through rusqlite.
//!
//! Why not rusqlite's statement cache, as everywhere else: rusqlite binds every text and blob
//! parameter with `SQLITE_TRANSIENT`, so SQLite copies each into an allocation of its own
//! before the statement runs and frees it when the parameter is next bound. A 100-row
//! `bulk_create` of users copies its 200 strings that way, and while the caller's 100 users
//! (200 more strings) are alive glibc serves those copies from its slow bins: measured with
//! callgrind, about 185 instructions per copy and as many per free, a third of what the ORM
//! added to the driver's insert. Here text and blobs are bound with `SQLITE_STATIC`: SQLite
//! reads them in place. That is sound because the parameters are borrowed for the whole call
//! and the call resets the statement and clears its bindings before it returns (an
//! [`Active`] guard does it on every path, errors and panics included), so SQLite never keeps
//! a pointer past the borrow. Diesel binds SQLite parameters the same way. Rows are read
//! straight off the statement, without rusqlite's `Rows`/`Row` layer in between.
//!
//! The cache keeps at most [`CAPACITY`] statements and starts over when it is full (a
//! workload with more distinct statements than that is re-preparing anyway).

use super::error::map;
use super::types::{cell, check_param, text_form, value_ref, wrong_count};
use crate::cell::Cell;
use crate::error::{Error, ErrorKind, Result};
use crate::row::{out_of_range, Row};
use crate::value::ValueRef;
use rusqlite::ffi;
use rusqlite::types::ValueRef as SqlRef;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, CStr};
use std::ptr::NonNull;

/// How many statements the cache keeps.
pub(crate) const CAPACITY: usize = 256;

/// Prepared statements by SQL text, owned by one connection.
#[derive(Default)]
pub(crate) struct Statements {
    map: HashMap<Box<str>, Stmt, foldhash::fast::RandomState>,
    /// The statement used last and its key's text (in the map, which owns both): a statement
    /// run again and again (a save in a loop) is found by comparing its text, without hashing
    /// it (callgrind: the hash and the probe were about 80 of the 4,600 instructions of an
    /// UPDATE by key). Cleared whenever the map is.
    last: Option<(NonNull<str>, NonNull<ffi::sqlite3_stmt>)>,
}

// SAFETY: the statements belong to one connection, which is opened without SQLite's mutex
// and used by one thread at a time (`&mut` access only); moving them to another thread with
// their connection is what rusqlite's own `Connection: Send` already relies on.
unsafe impl Send for Statements {}

/// One prepared statement, finalized on drop.
struct Stmt(NonNull<ffi::sqlite3_stmt>);

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `sqlite3_prepare_v3` and is finalized once, here.
        unsafe {
            ffi::sqlite3_finalize(self.0.as_ptr());
        }
    }
}

/// A statement in use: reset and its bindings cleared when dropped, so that neither a
/// borrowed parameter nor an open read outlives the call.
struct Active {
    stmt: *mut ffi::sqlite3_stmt,
}

impl Drop for Active {
    fn drop(&mut self) {
        // SAFETY: `stmt` is a live statement of the cache, borrowed for the guard's life.
        unsafe {
            ffi::sqlite3_reset(self.stmt);
            ffi::sqlite3_clear_bindings(self.stmt);
        }
    }
}

/// What `execute` and `for_each_row` report: done, or `Fallback` when the SQL is not one
/// statement (empty, or several separated by `;`) and the caller should hand it to rusqlite,
/// which says what is wrong with it.
pub(crate) enum Outcome<T> {
    Done(T),
    Fallback,
}

impl Statements {
    /// Runs `sql` with `params` and returns how many rows it changed.
    pub(crate) fn execute<'p>(
        &mut self,
        conn: &rusqlite::Connection,
        sql: &str,
        params: impl ExactSizeIterator<Item = ValueRef<'p>>,
    ) -> Result<Outcome<u64>> {
        let db = handle(conn);
        let Some(active) = self.start(db, sql, params)? else {
            return Ok(Outcome::Fallback);
        };
        // SAFETY: `active.stmt` is live and bound; `db` is its connection.
        match unsafe { ffi::sqlite3_step(active.stmt) } {
            ffi::SQLITE_DONE => Ok(Outcome::Done(u64::try_from(unsafe { ffi::sqlite3_changes64(db) }).unwrap_or(0))),
            ffi::SQLITE_ROW => {
                Err(Error::new(ErrorKind::Query, "the statement returned rows: run it as a query, not with execute")
                    .with_sql(sql))
            }
            _ => Err(last_error(db, sql)),
        }
    }

    /// Runs the query `sql` with `params` and lends each row to `each` until it returns
    /// `false` or the rows end.
    pub(crate) fn for_each_row<'p>(
        &mut self,
        conn: &rusqlite::Connection,
        sql: &str,
        params: impl ExactSizeIterator<Item = ValueRef<'p>>,
        each: &mut dyn FnMut(&dyn Row) -> bool,
    ) -> Result<Outcome<()>> {
        let db = handle(conn);
        let Some(active) = self.start(db, sql, params)? else {
            return Ok(Outcome::Fallback);
        };
        // The column count is read after the first step: a statement cached before a schema
        // change is prepared again by that step, and may come back with other columns.
        let mut row = StmtRow { stmt: active.stmt, columns: usize::MAX };
        loop {
            // SAFETY: `active.stmt` is live and bound; the row is lent only between this step
            // and the next.
            match unsafe { ffi::sqlite3_step(active.stmt) } {
                ffi::SQLITE_ROW => {
                    if row.columns == usize::MAX {
                        // SAFETY: as above.
                        row.columns = unsafe { ffi::sqlite3_column_count(active.stmt) } as usize;
                    }
                    if !each(&row) {
                        return Ok(Outcome::Done(()));
                    }
                }
                ffi::SQLITE_DONE => return Ok(Outcome::Done(())),
                _ => return Err(last_error(db, sql)),
            }
        }
    }

    /// Finds `sql`'s statement in the map, or prepares and keeps it, and remembers it as the
    /// last one used. `None` when `sql` is not exactly one statement.
    fn find(&mut self, db: *mut ffi::sqlite3, sql: &str) -> Result<Option<NonNull<ffi::sqlite3_stmt>>> {
        if let Some((key, stmt)) = self.map.get_key_value(sql) {
            self.last = Some((NonNull::from(&**key), stmt.0));
            return Ok(Some(stmt.0));
        }
        let Some(s) = prepare(db, sql)? else { return Ok(None) };
        if self.map.len() >= CAPACITY {
            self.last = None;
            self.map.clear();
        }
        let key: Box<str> = sql.into();
        let found = (NonNull::from(&*key), s.0);
        self.map.insert(key, s);
        self.last = Some(found);
        Ok(Some(found.1))
    }

    /// Finds or prepares the statement for `sql` and binds `params` to it. `None` when `sql`
    /// is not exactly one statement.
    fn start<'p>(
        &mut self,
        db: *mut ffi::sqlite3,
        sql: &str,
        params: impl ExactSizeIterator<Item = ValueRef<'p>>,
    ) -> Result<Option<Active>> {
        // SAFETY: `last` points into an entry of `map`, which is only ever emptied with
        // `last` cleared first; a `Box<str>`'s text stays where it is when the map moves it.
        let stmt = match self.last {
            Some((key, stmt)) if unsafe { key.as_ref() } == sql => stmt,
            _ => match self.find(db, sql)? {
                Some(stmt) => stmt,
                None => return Ok(None),
            },
        }
        .as_ptr();
        let active = Active { stmt };
        // SAFETY: `stmt` is live (the cache owns it and is borrowed for this call).
        let expected = unsafe { ffi::sqlite3_bind_parameter_count(stmt) } as usize;
        if expected != params.len() {
            return Err(wrong_count(expected, params.len(), sql));
        }
        for (i, p) in params.enumerate() {
            check_param(i, p)?;
            // SAFETY: the parameter outlives the call, and `active` clears the binding before
            // the call returns.
            let rc = unsafe { bind(stmt, i as c_int + 1, p) };
            if rc != ffi::SQLITE_OK {
                return Err(last_error(db, sql));
            }
        }
        Ok(Some(active))
    }
}

fn handle(conn: &rusqlite::Connection) -> *mut ffi::sqlite3 {
    // SAFETY: the handle is only used for calls on this connection's own statements while
    // the connection is borrowed, never closed or handed elsewhere.
    unsafe { conn.handle() }
}

/// Prepares one statement. `None` when `sql` holds no statement or more than one.
fn prepare(db: *mut ffi::sqlite3, sql: &str) -> Result<Option<Stmt>> {
    let len = c_int::try_from(sql.len())
        .map_err(|_| Error::new(ErrorKind::DataError, "the SQL text is too long for SQLite"))?;
    let mut stmt = std::ptr::null_mut();
    let mut tail: *const c_char = std::ptr::null();
    // SAFETY: `sql` is valid for `len` bytes; SQLite writes the statement and the tail.
    let rc = unsafe {
        ffi::sqlite3_prepare_v3(db, sql.as_ptr().cast(), len, ffi::SQLITE_PREPARE_PERSISTENT, &mut stmt, &mut tail)
    };
    if rc != ffi::SQLITE_OK {
        return Err(last_error(db, sql));
    }
    let Some(stmt) = NonNull::new(stmt).map(Stmt) else { return Ok(None) };
    // SAFETY: `tail` points into `sql` (or at its end).
    let used = unsafe { tail.offset_from(sql.as_ptr().cast()) } as usize;
    if !sql[used.min(sql.len())..].trim().is_empty() {
        return Ok(None);
    }
    Ok(Some(stmt))
}

/// Binds one parameter, borrowing text and blobs (`SQLITE_STATIC`).
///
/// # Safety
/// `stmt` is a live statement and `p` stays valid until its bindings are cleared.
unsafe fn bind(stmt: *mut ffi::sqlite3_stmt, index: c_int, p: ValueRef<'_>) -> c_int {
    // SAFETY: the caller's contract; lengths are checked to fit a C int. Empty text and blobs
    // are bound as rusqlite binds them (a real, NUL-terminated "" and a zero-length zeroblob),
    // never through a dangling empty-slice pointer.
    unsafe {
        match p {
            ValueRef::Null => ffi::sqlite3_bind_null(stmt, index),
            ValueRef::Bool(b) => ffi::sqlite3_bind_int64(stmt, index, i64::from(b)),
            ValueRef::Int(i) => ffi::sqlite3_bind_int64(stmt, index, i),
            ValueRef::Float(f) => ffi::sqlite3_bind_double(stmt, index, f),
            ValueRef::Text(s) | ValueRef::Json(s) if !s.is_empty() => {
                ffi::sqlite3_bind_text(stmt, index, s.as_ptr().cast(), text_len(s), ffi::SQLITE_STATIC())
            }
            ValueRef::Text(_) | ValueRef::Json(_) => {
                ffi::sqlite3_bind_text(stmt, index, c"".as_ptr(), 0, ffi::SQLITE_STATIC())
            }
            ValueRef::Bytes(b) if !b.is_empty() => {
                ffi::sqlite3_bind_blob(stmt, index, b.as_ptr().cast(), text_len(b), ffi::SQLITE_STATIC())
            }
            ValueRef::Bytes(_) => ffi::sqlite3_bind_zeroblob(stmt, index, 0),
            other => {
                let s = text_form(other).unwrap_or_default();
                ffi::sqlite3_bind_text(stmt, index, s.as_ptr().cast(), text_len(&s), ffi::SQLITE_TRANSIENT())
            }
        }
    }
}

/// A length as SQLite takes it. One past `c_int::MAX` is passed as `c_int::MAX` (those bytes
/// exist), and SQLite then reports `SQLITE_TOOBIG` against its own, much smaller, limit.
fn text_len<T: AsRef<[u8]> + ?Sized>(s: &T) -> c_int {
    c_int::try_from(s.as_ref().len()).unwrap_or(c_int::MAX)
}

/// The connection's last error, classified as every other SQLite error is.
#[cold]
fn last_error(db: *mut ffi::sqlite3, sql: &str) -> Error {
    // SAFETY: `db` is a live connection; the message is copied before any other call.
    let (code, message) = unsafe {
        let code = ffi::sqlite3_extended_errcode(db);
        let msg = ffi::sqlite3_errmsg(db);
        let message = (!msg.is_null()).then(|| CStr::from_ptr(msg).to_string_lossy().into_owned());
        (code, message)
    };
    map(rusqlite::Error::SqliteFailure(ffi::Error::new(code), message), Some(sql))
}

/// The current row of a stepping statement.
struct StmtRow {
    stmt: *mut ffi::sqlite3_stmt,
    columns: usize,
}

impl StmtRow {
    /// Cell `index` as SQLite holds it; `Err` for an index out of range or a text SQLite
    /// could not hand over (out of memory).
    #[inline]
    fn sql_ref(&self, index: usize) -> Result<SqlRef<'_>> {
        if index >= self.columns {
            return Err(out_of_range(index, self.columns));
        }
        let i = index as c_int;
        // SAFETY: the statement is on a row and `i` is in range. Text and blobs are read as
        // SQLite documents (pointer first, then length) and stay valid until the next step,
        // which cannot happen while the row is borrowed.
        unsafe {
            Ok(match ffi::sqlite3_column_type(self.stmt, i) {
                ffi::SQLITE_NULL => SqlRef::Null,
                ffi::SQLITE_INTEGER => SqlRef::Integer(ffi::sqlite3_column_int64(self.stmt, i)),
                ffi::SQLITE_FLOAT => SqlRef::Real(ffi::sqlite3_column_double(self.stmt, i)),
                ffi::SQLITE_TEXT => {
                    // A text cell's pointer is never NULL (an empty text is ""), except when
                    // SQLite ran out of memory converting it.
                    let p = ffi::sqlite3_column_text(self.stmt, i);
                    if p.is_null() {
                        return Err(Error::new(ErrorKind::Query, format!("column {index}: SQLite is out of memory")));
                    }
                    SqlRef::Text(bytes(p, self.stmt, i))
                }
                // A zero-length blob's pointer is NULL.
                _ => SqlRef::Blob(bytes(ffi::sqlite3_column_blob(self.stmt, i).cast(), self.stmt, i)),
            })
        }
    }
}

impl Row for StmtRow {
    fn column_count(&self) -> usize {
        self.columns
    }

    fn column_name(&self, index: usize) -> Option<&str> {
        if index >= self.columns {
            return None;
        }
        // SAFETY: the index is in range; the name lives as long as the statement.
        unsafe {
            let p = ffi::sqlite3_column_name(self.stmt, index as c_int);
            (!p.is_null()).then(|| CStr::from_ptr(p).to_str().ok()).flatten()
        }
    }

    #[inline]
    fn cell(&self, index: usize) -> Cell<'_> {
        self.sql_ref(index).map_or(Cell::OTHER, cell)
    }

    #[inline]
    fn value_ref(&self, index: usize) -> Result<ValueRef<'_>> {
        value_ref(self.sql_ref(index)?)
    }
}

/// The bytes of a text or blob cell whose pointer is `p`.
///
/// # Safety
/// `p` was just read from column `i` of `stmt`, which is on a row.
unsafe fn bytes<'a>(p: *const u8, stmt: *mut ffi::sqlite3_stmt, i: c_int) -> &'a [u8] {
    if p.is_null() {
        return &[];
    }
    // SAFETY: the caller's contract; SQLite gives the length of what `p` points at.
    unsafe { std::slice::from_raw_parts(p, ffi::sqlite3_column_bytes(stmt, i) as usize) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Connection;
    use crate::sqlite::SqliteConnection;
    use crate::url::ConnectOptions;
    use crate::value::Value;
    use crate::Param;

    fn open() -> SqliteConnection {
        let mut c = SqliteConnection::open(&ConnectOptions::parse("sqlite::memory:").unwrap()).unwrap();
        c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, data BLOB, x REAL)").unwrap();
        c
    }

    fn names(c: &mut SqliteConnection) -> Vec<Option<String>> {
        let mut out = Vec::new();
        c.for_each_row("SELECT name FROM t ORDER BY id", &[], &mut |r| {
            out.push(r.get::<Option<String>>(0).unwrap());
            true
        })
        .unwrap();
        out
    }

    /// The text SQLite would run for the cached statement of `sql`, with its current bindings.
    fn expanded(c: &SqliteConnection, sql: &str) -> String {
        let stmt = c.stmts.map.get(sql).expect("the statement is cached").0.as_ptr();
        // SAFETY: a live statement of the cache; the expanded text is freed after the copy.
        unsafe {
            let p = ffi::sqlite3_expanded_sql(stmt);
            let s = CStr::from_ptr(p).to_str().unwrap().to_owned();
            ffi::sqlite3_free(p.cast());
            s
        }
    }

    #[test]
    fn borrowed_parameters_are_released_before_the_call_returns() {
        let mut c = open();
        let sql = "INSERT INTO t (name, data) VALUES (?, ?)";
        {
            let name = String::from("borrowed name");
            let data = vec![1u8, 2, 3];
            let n = c.execute_params(
                sql,
                &[Param::Borrowed(ValueRef::Text(&name)), Param::Borrowed(ValueRef::Bytes(&data))],
            );
            assert_eq!(n.unwrap(), 1);
        }
        // SQLite holds no pointer into the dropped strings: the bindings were cleared.
        assert_eq!(expanded(&c, sql), "INSERT INTO t (name, data) VALUES (NULL, NULL)");
        assert_eq!(names(&mut c), [Some("borrowed name".to_owned())]);
        let mut blob = Vec::new();
        c.for_each_row("SELECT data FROM t", &[], &mut |r| {
            blob = r.get::<Vec<u8>>(0).unwrap();
            true
        })
        .unwrap();
        assert_eq!(blob, [1, 2, 3]);
    }

    #[test]
    fn a_failing_statement_is_reset_and_classified() {
        let mut c = open();
        let sql = "INSERT INTO t (name) VALUES (?)";
        c.execute(sql, &[Value::Text("a".into())]).unwrap();
        let e = c.execute(sql, &[Value::Text("a".into())]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Integrity(crate::error::Violation::Unique), "{e}");
        assert!(e.to_string().contains("UNIQUE"), "{e}");
        assert_eq!(expanded(&c, sql), "INSERT INTO t (name) VALUES (NULL)");
        // The statement is usable again at once (it was reset, and holds no open write).
        c.execute(sql, &[Value::Text("b".into())]).unwrap();
        assert_eq!(names(&mut c), [Some("a".to_owned()), Some("b".to_owned())]);
    }

    #[test]
    fn bad_calls_get_clear_errors() {
        let mut c = open();
        let e = c.execute("INSERT INTO t (name) VALUES (?)", &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert!(e.to_string().contains("takes 1 parameters but 0 were given"), "{e}");
        let e = c.execute("SELECT 1", &[]).unwrap_err();
        assert!(e.to_string().contains("returned rows"), "{e}");
        let e = c.execute("INSERT INTO t (x) VALUES (?)", &[Value::Float(f64::NAN)]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DataError, "{e}");
        let e = c.execute("SELEC 1", &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Query);
        assert!(e.to_string().contains("syntax error"), "{e}");
        // Several statements are not one: rusqlite's path refuses them, nothing runs.
        assert!(c.execute("INSERT INTO t (name) VALUES ('x'); INSERT INTO t (name) VALUES ('y')", &[]).is_err());
        assert!(names(&mut c).is_empty());
        // A row is lent with its names; past the last column is an error, not a panic.
        c.execute("INSERT INTO t (name, data) VALUES ('n', x'')", &[]).unwrap();
        c.for_each_row("SELECT name AS label, data, x FROM t", &[], &mut |r| {
            assert_eq!((r.column_count(), r.column_name(0), r.column_name(3)), (3, Some("label"), None));
            assert_eq!(r.value_ref(1).unwrap(), ValueRef::Bytes(&[]));
            assert_eq!(r.value_ref(2).unwrap(), ValueRef::Null);
            assert!(r.value_ref(3).unwrap_err().to_string().contains("out of range"));
            true
        })
        .unwrap();
        let mut seen = None;
        c.for_each_row("SELECT CAST(x'ff' AS TEXT)", &[], &mut |r| {
            seen = Some(r.value_ref(0).map(|_| ()));
            true
        })
        .unwrap();
        assert_eq!(seen.unwrap().unwrap_err().kind(), ErrorKind::Conversion);
    }

    #[test]
    fn a_full_cache_starts_over() {
        let mut c = open();
        for i in 0..CAPACITY + 10 {
            c.execute(&format!("INSERT INTO t (name) VALUES ('n{i}')"), &[]).unwrap();
            assert!(c.stmts.map.len() <= CAPACITY);
        }
        assert_eq!(c.stmts.map.len(), 10);
        assert_eq!(names(&mut c).len(), CAPACITY + 10);
    }

    #[test]
    fn a_cached_read_sees_columns_added_since() {
        let mut c = open();
        c.execute("INSERT INTO t (name) VALUES ('a')", &[]).unwrap();
        let widths = |c: &mut SqliteConnection| {
            let mut w = Vec::new();
            c.for_each_row("SELECT * FROM t", &[], &mut |r| {
                w.push((r.column_count(), r.column_name(r.column_count() - 1).map(str::to_owned)));
                true
            })
            .unwrap();
            w
        };
        assert_eq!(widths(&mut c), [(4, Some("x".to_owned()))]);
        c.execute_batch("ALTER TABLE t ADD COLUMN added TEXT DEFAULT 'new'").unwrap();
        // The cached statement is prepared again by its first step, with five columns.
        assert_eq!(widths(&mut c), [(5, Some("added".to_owned()))]);
    }

    #[test]
    fn empty_text_and_blobs_are_values_not_nulls() {
        let mut c = open();
        let params = [Param::Borrowed(ValueRef::Text("")), Param::Borrowed(ValueRef::Bytes(&[]))];
        c.execute_params("INSERT INTO t (name, data) VALUES (?, ?)", &params).unwrap();
        let mut seen = Vec::new();
        c.for_each_row("SELECT name, data, typeof(name), typeof(data) FROM t", &[], &mut |r| {
            seen.push((
                r.value(0).unwrap(),
                r.value(1).unwrap(),
                r.get::<String>(2).unwrap(),
                r.get::<String>(3).unwrap(),
            ));
            true
        })
        .unwrap();
        assert_eq!(seen, [(Value::Text(String::new()), Value::Bytes(Vec::new()), "text".into(), "blob".into())]);
    }

    #[test]
    fn handing_out_the_raw_connection_empties_the_cache() {
        let mut c = open();
        c.execute("INSERT INTO t (name) VALUES (?)", &[Value::Text("a".into())]).unwrap();
        assert!(!c.stmts.map.is_empty());
        // The caller could swap the connection; no statement of the old one may stay.
        let _ = c.raw();
        assert!(c.stmts.map.is_empty());
        assert_eq!(names(&mut c), [Some("a".to_owned())]);
    }

    #[test]
    fn stopping_early_leaves_no_read_open() {
        let mut c = open();
        for i in 0..3 {
            c.execute("INSERT INTO t (name) VALUES (?)", &[Value::Text(format!("n{i}"))]).unwrap();
        }
        let mut seen = 0;
        c.for_each_row("SELECT name FROM t", &[], &mut |_| {
            seen += 1;
            false
        })
        .unwrap();
        assert_eq!(seen, 1);
        // An unfinished read would keep the table locked against DROP.
        c.execute_batch("DROP TABLE t").unwrap();
    }
}
