//! [`MysqlConnection`]: the `mysql` crate's synchronous connection, with its statement cache
//! keyed by SQL text, a session set up for utf8mb4, UTC and strict SQL, and unbuffered row
//! streams.

use super::error::map;
use super::stream::MysqlStream;
use super::types::to_params;
use crate::connection::{begin_sql, commit_sql, no_transaction, rollback_sql, Connection, StatementObserver};
use crate::dialect::Dialect;
use crate::error::{Error, ErrorKind, Result};
use crate::row::RowStream;
use crate::url::ConnectOptions;
use crate::value::Value;
use mysql::consts::CapabilityFlags;
use mysql::prelude::Queryable;
use std::sync::Arc;

/// Prepared statements the driver keeps per connection (the server's default limit is 16,382
/// across all connections).
const STATEMENT_CACHE_SIZE: usize = 256;

/// Statements this connection keeps in front of the driver's cache: fewer, so that the
/// statements it holds are always among the driver's most recently prepared (and so still
/// open on the server) even after a few prepared through [`MysqlConnection::raw`].
const FRONT_CACHE_SIZE: usize = STATEMENT_CACHE_SIZE - 16;

/// ER_UNKNOWN_STMT_HANDLER: the statement was closed on the server.
const ER_UNKNOWN_STMT_HANDLER: u16 = 1243;

/// The SQL mode every session runs in: strict, no zero dates, and without `ANSI_QUOTES`
/// (identifiers are quoted with backticks, strings with single quotes).
pub(crate) const SQL_MODE: &str =
    "STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

/// ER_UNSUPPORTED_PS: the statement cannot be prepared; it is then sent as text.
const ER_UNSUPPORTED_PS: u16 = 1295;

/// Two statements in one round trip (`SET NAMES` is kept apart from the variable list, which
/// not every server version accepts after it).
fn session_setup() -> String {
    format!("SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci; SET time_zone = '+00:00', sql_mode = '{SQL_MODE}'")
}

/// The flags of the server whose `VERSION()` is `version` (`10.11.6-MariaDB-…` or `8.0.36`).
fn features_of(version: &str) -> &'static crate::features::Features {
    let mut parts = version.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if version.contains("MariaDB") && (major, minor) >= (10, 5) {
        &crate::dialect::MARIADB_RETURNING_FEATURES
    } else {
        Dialect::Mysql.features()
    }
}

/// Runs `sql` through the text protocol, reading every result set so that an error in any
/// statement of a multi-statement text is reported (the driver's `query_drop` drops errors
/// after the first statement).
fn run_text(conn: &mut mysql::Conn, sql: &str) -> mysql::Result<()> {
    let mut result = conn.query_iter(sql)?;
    while let Some(mut set) = result.iter() {
        for row in &mut set {
            row?;
        }
    }
    Ok(())
}

/// Forgets the cached statement for `sql` when the server says it no longer knows it (which
/// the cache sizes prevent; should it happen, the next call prepares the statement again).
fn forget_closed(statements: &mut std::collections::HashMap<Box<str>, mysql::Statement>, e: &mysql::Error, sql: &str) {
    if matches!(e, mysql::Error::MySqlError(me) if me.code == ER_UNKNOWN_STMT_HANDLER) {
        statements.remove(sql);
    }
}

/// A connection to a MySQL or MariaDB server.
///
/// Every statement with parameters, and every query, goes through the binary protocol as a
/// prepared statement cached by its SQL text (256 per connection). `execute_batch` uses the
/// text protocol, which accepts several statements separated by `;`.
///
/// Sessions run with `SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci`, `time_zone = '+00:00'`
/// (so `TIMESTAMP` columns read and write UTC) and a strict `sql_mode` (see `SQL_MODE`
/// in the source). The client asks for `CLIENT_FOUND_ROWS`, so `execute` returns the rows an
/// `UPDATE` matched, as on SQLite and PostgreSQL, rather than only those it changed.
///
/// Transactions: DDL statements (`CREATE`, `ALTER`, `DROP` …) commit the open transaction
/// implicitly on MySQL and MariaDB, and drop its savepoints. The depth this connection tracks
/// does not see that; a later `ROLLBACK TO SAVEPOINT` then fails with the server's "SAVEPOINT
/// does not exist" and the outer `ROLLBACK` has nothing left to undo.
pub struct MysqlConnection {
    conn: mysql::Conn,
    /// Prepared statements by SQL text, in front of the driver's own cache: the driver's
    /// `prep` scans the whole text for named parameters on every call, before its cache
    /// lookup (callgrind: about 13,600 instructions for the 70-byte UPDATE of a save, a fifth
    /// of the client's cost of that statement). Emptied when full.
    statements: std::collections::HashMap<Box<str>, mysql::Statement>,
    depth: usize,
    /// Set when the connection failed below the SQL level (I/O, protocol, server gone).
    lost: bool,
    observer: Option<Arc<dyn StatementObserver>>,
    /// MySQL's flags, or MariaDB 10.5+'s (which can return inserted rows).
    features: &'static crate::features::Features,
}

impl std::fmt::Debug for MysqlConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlConnection")
            .field("connection_id", &self.conn.connection_id())
            .field("depth", &self.depth)
            .field("lost", &self.lost)
            .finish()
    }
}

/// `host:port`, with IPv6 hosts in brackets.
fn target(options: &ConnectOptions) -> String {
    if options.host.contains(':') {
        format!("[{}]:{}", options.host, options.port)
    } else {
        format!("{}:{}", options.host, options.port)
    }
}

enum ConnectFailure {
    Connect(mysql::Error),
    Setup(mysql::Error),
}

fn connect_error(options: &ConnectOptions, failure: ConnectFailure) -> Error {
    let at = target(options);
    let timed_out = || {
        Error::new(
            ErrorKind::Timeout,
            format!("connecting to MySQL at {at} timed out after {:.1} s", options.connect_timeout.as_secs_f64()),
        )
    };
    match failure {
        ConnectFailure::Connect(e) => {
            let out = match &e {
                mysql::Error::DriverError(mysql::DriverError::ConnectTimeout | mysql::DriverError::Timeout) => {
                    timed_out()
                }
                mysql::Error::DriverError(mysql::DriverError::CouldNotConnect(Some((_, desc, _)))) => {
                    Error::new(ErrorKind::Connection, format!("cannot connect to MySQL at {at}: {desc}"))
                }
                mysql::Error::IoError(io)
                    if matches!(io.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) =>
                {
                    timed_out()
                }
                mysql::Error::MySqlError(me) => Error::new(
                    ErrorKind::Connection,
                    format!("cannot connect to MySQL at {at} as `{}`: {}", options.user, me.message),
                )
                .with_code(me.code.to_string()),
                other => Error::new(ErrorKind::Connection, format!("cannot connect to MySQL at {at}: {other}")),
            };
            out.with_source(e)
        }
        ConnectFailure::Setup(e) => {
            let mapped = map(e, None);
            let mut out = Error::new(
                ErrorKind::Connection,
                format!("connected to MySQL at {at} but could not set up the session: {}", mapped.message()),
            );
            if let Some(code) = mapped.code() {
                out = out.with_code(code);
            }
            out.with_source(mapped)
        }
    }
}

impl MysqlConnection {
    /// Connects to the server the options name and sets the session up (utf8mb4, UTC, strict
    /// SQL mode).
    ///
    /// Fails within the connect timeout (default 5 s): a refused port or an unknown host is a
    /// [`ErrorKind::Connection`] error naming `host:port`, a server that does not answer is
    /// [`ErrorKind::Timeout`], and rejected credentials or an unknown database are
    /// [`ErrorKind::Connection`] errors carrying the server's message and error number.
    pub fn open(options: &ConnectOptions) -> Result<Self> {
        let host = if options.host.contains(':') { format!("[{}]", options.host) } else { options.host.clone() };
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(host))
            .tcp_port(options.port)
            .user(Some(options.user.clone()))
            .pass(options.password.clone())
            .db_name(options.database.clone())
            .tcp_connect_timeout(Some(options.connect_timeout))
            .prefer_socket(false)
            .stmt_cache_size(STATEMENT_CACHE_SIZE)
            .additional_capabilities(CapabilityFlags::CLIENT_FOUND_ROWS);
        // The driver bounds only the TCP connect; a server that accepts the connection and
        // then never answers the handshake would block the read forever. A probe first waits
        // for the server's greeting (a silent server leaves no thread or socket behind); then
        // the handshake runs on a helper thread, so the caller gets its answer within the
        // timeout however the server behaves afterwards.
        let deadline = std::time::Instant::now() + options.connect_timeout;
        crate::probe::probe(&options.host, options.port, options.connect_timeout, &[], "MySQL")?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("orm-mysql-connect".into())
            .spawn(move || {
                let r = mysql::Conn::new(opts).map_err(ConnectFailure::Connect).and_then(|mut conn| {
                    run_text(&mut conn, &session_setup()).map_err(ConnectFailure::Setup)?;
                    let version: Option<String> =
                        conn.query_first("SELECT VERSION()").map_err(ConnectFailure::Setup)?;
                    Ok((conn, features_of(version.as_deref().unwrap_or_default())))
                });
                let _ = tx.send(r);
            })
            .map_err(|e| {
                Error::new(ErrorKind::Connection, format!("cannot start the MySQL connect thread: {e}")).with_source(e)
            })?;
        match rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            Ok(Ok((conn, features))) => Ok(MysqlConnection {
                conn,
                statements: std::collections::HashMap::new(),
                depth: 0,
                lost: false,
                observer: None,
                features,
            }),
            Ok(Err(failure)) => Err(connect_error(options, failure)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "connecting to MySQL at {} timed out after {:.1} s: no answer to the handshake",
                    target(options),
                    options.connect_timeout.as_secs_f64()
                ),
            )),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "connecting to MySQL at {} failed: the connect thread ended without an answer",
                    target(options)
                ),
            )),
        }
    }

    /// The `mysql` crate's connection underneath, for what this crate does not cover.
    /// Statements prepared through it may push those this connection cached out of the
    /// driver's cache (which closes them on the server), so this connection forgets its own
    /// cache here and prepares again (through the driver's cache) as it needs.
    pub fn raw(&mut self) -> &mut mysql::Conn {
        self.statements.clear();
        &mut self.conn
    }

    fn observe(&self, sql: &str, params: &[Value]) {
        tracing::debug!(target: "orm::sql", backend = "mysql", sql, params = params.len());
        if let Some(o) = &self.observer {
            o.statement(sql, params);
        }
    }

    /// Maps a driver error, remembers a lost connection, and forgets a cached statement the
    /// server no longer knows (so the next call prepares it again).
    fn fail(&mut self, e: mysql::Error, sql: &str) -> Error {
        forget_closed(&mut self.statements, &e, sql);
        let e = map(e, Some(sql));
        if e.kind() == ErrorKind::Connection {
            self.lost = true;
        }
        e
    }

    /// The prepared statement for `sql`, from this connection's cache or prepared now.
    fn prepared(&mut self, sql: &str) -> mysql::Result<mysql::Statement> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.conn.prep(sql)?;
        if self.statements.len() >= FRONT_CACHE_SIZE {
            self.statements.clear();
        }
        self.statements.insert(sql.into(), stmt.clone());
        Ok(stmt)
    }

    /// Runs `sql` as a prepared statement with `bound` and returns the rows it changed. A
    /// statement the server cannot prepare, without parameters, goes through the text
    /// protocol.
    fn exec(&mut self, sql: &str, bound: mysql::Params) -> Result<u64> {
        let empty = matches!(bound, mysql::Params::Empty);
        let outcome = self.prepared(sql).and_then(|stmt| self.conn.exec_drop(&stmt, bound));
        match outcome {
            Ok(()) => Ok(self.conn.affected_rows()),
            Err(mysql::Error::MySqlError(me)) if me.code == ER_UNSUPPORTED_PS && empty => {
                self.run_text(sql)?;
                Ok(self.conn.affected_rows())
            }
            Err(e) => Err(self.fail(e, sql)),
        }
    }

    /// Runs `sql` (one or more statements) through the text protocol.
    fn run_text(&mut self, sql: &str) -> Result<()> {
        run_text(&mut self.conn, sql).map_err(|e| self.fail(e, sql))
    }
}

impl Connection for MysqlConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    /// MariaDB 10.5 and later return inserted rows (`INSERT … RETURNING`), so a multi-row
    /// insert hands back every generated key there; MySQL's flags otherwise.
    fn features(&self) -> &'static crate::features::Features {
        self.features
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.observe(sql, params);
        let bound = to_params(params.iter().map(Value::as_ref)).map_err(|e| e.with_sql(sql))?;
        self.exec(sql, bound)
    }

    /// Binds text and bytes straight from the borrowed parameters, without an owned
    /// [`Value`] in between.
    fn execute_params(&mut self, sql: &str, params: &[crate::Param<'_>]) -> Result<u64> {
        crate::connection::observe_params("mysql", self.observer.as_ref(), sql, params);
        let bound = to_params(params.iter().map(crate::Param::as_value_ref)).map_err(|e| e.with_sql(sql))?;
        self.exec(sql, bound)
    }

    fn execute_batch(&mut self, sql: &str) -> Result<()> {
        self.observe(sql, &[]);
        self.run_text(sql)
    }

    fn stream<'a>(&'a mut self, sql: &str, params: &[Value]) -> Result<Box<dyn RowStream + 'a>> {
        self.observe(sql, params);
        let bound = to_params(params.iter().map(Value::as_ref)).map_err(|e| e.with_sql(sql))?;
        let stmt = self.prepared(sql).map_err(|e| self.fail(e, sql))?;
        let lost = &mut self.lost;
        match self.conn.exec_iter(&stmt, bound) {
            Ok(result) => Ok(Box::new(MysqlStream::new(result, sql, lost))),
            Err(e) => {
                // `fail`'s work, on the fields the rows would have borrowed.
                forget_closed(&mut self.statements, &e, sql);
                let e = map(e, Some(sql));
                if e.kind() == ErrorKind::Connection {
                    *lost = true;
                }
                Err(e)
            }
        }
    }

    /// MySQL has no `RETURNING`: `returning` is ignored and the key is the statement's
    /// `LAST_INSERT_ID()`, present when a row was inserted into a table with an
    /// `AUTO_INCREMENT` column. For a multi-row insert it is the id of the *first* row.
    fn insert(&mut self, sql: &str, params: &[Value], _returning: Option<&str>) -> Result<Option<Value>> {
        let n = self.execute(sql, params)?;
        let id = self.conn.last_insert_id();
        if n == 0 || id == 0 {
            return Ok(None);
        }
        i64::try_from(id).map(|id| Some(Value::Int(id))).map_err(|_| {
            Error::new(ErrorKind::DataError, format!("the generated id {id} does not fit an i64")).with_sql(sql)
        })
    }

    fn transaction_depth(&self) -> usize {
        self.depth
    }

    fn begin(&mut self) -> Result<()> {
        self.execute_batch(&begin_sql(Dialect::Mysql, self.depth))?;
        self.depth += 1;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if self.depth == 0 {
            return Err(no_transaction());
        }
        self.execute_batch(&commit_sql(self.depth))?;
        self.depth -= 1;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if self.depth == 0 {
            return Err(no_transaction());
        }
        let r = self.execute_batch(&rollback_sql(self.depth));
        self.depth -= 1;
        if r.is_err() && self.depth == 0 {
            // A failed ROLLBACK must not leave the connection inside a transaction.
            let _ = self.conn.query_drop("ROLLBACK");
        }
        r
    }

    fn set_observer(&mut self, observer: Option<&Arc<dyn StatementObserver>>) {
        crate::connection::replace_observer(&mut self.observer, observer);
    }

    fn is_broken(&mut self) -> bool {
        self.depth > 0 || self.lost
    }
}

#[cfg(test)]
mod version_tests {
    use super::*;

    #[test]
    fn mariadb_from_10_5_returns_inserted_rows() {
        assert!(features_of("10.11.19-MariaDB-0+deb12u1").can_return_rows_from_bulk_insert);
        assert!(features_of("10.5.0-MariaDB").can_return_rows_from_bulk_insert);
        assert!(!features_of("10.4.32-MariaDB").can_return_rows_from_bulk_insert);
        assert!(!features_of("8.0.36").can_return_rows_from_bulk_insert);
        assert!(!features_of("").can_return_rows_from_bulk_insert);
    }
}
