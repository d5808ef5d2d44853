//! [`PostgresConnection`]: the `postgres` crate's synchronous client, with a prepared-statement
//! cache keyed by SQL text, streaming reads and transaction tracking.

use super::error::{connect_error, map, target};
use super::stream::PostgresStream;
use super::types::{KindedRow, Param};
use crate::connection::{
    begin_sql, changes_schema, commit_sql, no_transaction, rollback_sql, Connection, GeneratedKeys, InsertKeys,
    InsertedRows, StatementObserver,
};
use crate::dialect::Dialect;
use crate::error::{Error, ErrorKind, Result};
use crate::row::{OwnedRow, Row, RowStream};
use crate::url::ConnectOptions;
use crate::value::{Value, ValueRef};
use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::Arc;

/// Prepared statements kept per connection. When the cache is full one entry is dropped
/// (closing it on the server) to make room.
const STATEMENT_CACHE_SIZE: usize = 256;

/// A connection to a PostgreSQL server.
///
/// Every statement with parameters, and every query, is prepared once per connection and
/// cached by its SQL text (256 statements); the server infers the parameter types, and each
/// [`Value`] is encoded for the type inferred. `execute_batch` uses the simple-query protocol,
/// which accepts several statements separated by `;` and no parameters.
///
/// Sessions run with `TimeZone=UTC` and, when the options name one, the given `search_path`.
///
/// A prepared statement whose result columns changed under it (a table altered by DDL) fails
/// on the server with "cached plan must not change result type". This connection clears its
/// cache after running DDL itself, drops a statement that failed so, and outside a
/// transaction prepares it again and retries once (`execute`, `query`, `query_opt`,
/// `insert`; a bare `stream` reports the error, and the next call succeeds).
pub struct PostgresConnection {
    client: Client,
    statements: HashMap<String, Statement>,
    depth: usize,
    /// A statement failed inside the open transaction, which the server has therefore
    /// aborted; cleared by a rollback.
    aborted: bool,
    observer: Option<Arc<dyn StatementObserver>>,
    target: String,
}

impl std::fmt::Debug for PostgresConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConnection")
            .field("target", &self.target)
            .field("depth", &self.depth)
            .field("aborted", &self.aborted)
            .field("cached_statements", &self.statements.len())
            .field("closed", &self.client.is_closed())
            .finish()
    }
}

/// The startup `options` string: `-c TimeZone=UTC`, plus `-c search_path=…` when a schema is
/// named. The schema is quoted as an identifier; spaces and backslashes are escaped, as the
/// server splits this string at unescaped whitespace.
fn startup_options(options: &ConnectOptions) -> String {
    let mut out = String::from("-c TimeZone=UTC");
    if let Some(schema) = &options.search_path {
        out.push_str(" -c search_path=");
        for c in Dialect::Postgres.quote(schema).chars() {
            if c.is_whitespace() || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// Did the server refuse a cached statement because its result columns changed?
fn is_stale_plan(e: &Error) -> bool {
    e.code() == Some("0A000") && e.message().starts_with("cached plan must not change result type")
}

fn check_count(stmt: &Statement, params: &[Value], sql: &str) -> Result<()> {
    check_len(stmt, params.len(), sql)
}

fn check_len(stmt: &Statement, given: usize, sql: &str) -> Result<()> {
    let expected = stmt.params().len();
    if expected != given {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("the statement takes {expected} parameters but {given} were given"),
        )
        .with_sql(sql));
    }
    Ok(())
}

/// Maps a statement's driver error; inside a transaction, a server error marks it aborted.
/// A statement the server refused as stale leaves the cache.
fn fail(
    e: postgres::Error,
    sql: &str,
    depth: usize,
    aborted: &mut bool,
    statements: &mut HashMap<String, Statement>,
) -> Error {
    if depth > 0 && e.as_db_error().is_some() {
        *aborted = true;
    }
    let e = map(e, Some(sql));
    if is_stale_plan(&e) {
        statements.remove(sql);
    }
    e
}

/// Copies every row of a stream.
fn collect(stream: &mut dyn RowStream, limit: Option<usize>) -> Result<Vec<OwnedRow>> {
    let mut out = Vec::new();
    let mut columns: Option<Arc<[String]>> = None;
    while let Some(row) = stream.next_row()? {
        if limit.is_some_and(|l| out.len() >= l) {
            continue;
        }
        let cols = columns.get_or_insert_with(|| {
            (0..row.column_count()).map(|i| row.column_name(i).unwrap_or_default().to_owned()).collect()
        });
        let values =
            (0..row.column_count()).map(|i| Ok(row.value_ref(i)?.to_owned_value())).collect::<Result<Vec<_>>>()?;
        out.push(OwnedRow::new(cols.clone(), values));
    }
    Ok(out)
}

impl PostgresConnection {
    /// Connects to the server the options name (no TLS), with `TimeZone=UTC` and, when
    /// `options.search_path` names a schema, that schema as the `search_path`.
    ///
    /// Fails within the connect timeout (default 5 s): a refused port or an unknown host is a
    /// [`ErrorKind::Connection`] error naming `host:port` and the cause, a server that does not
    /// answer is [`ErrorKind::Timeout`], and rejected credentials or an unknown database are
    /// [`ErrorKind::Connection`] errors carrying the server's message and SQLSTATE.
    pub fn open(options: &ConnectOptions) -> Result<Self> {
        let mut config = postgres::Config::new();
        config
            .host(&options.host)
            .port(options.port)
            .user(&options.user)
            .connect_timeout(options.connect_timeout)
            .application_name("orm-backends")
            .options(&startup_options(options));
        if let Some(password) = &options.password {
            config.password(password);
        }
        if let Some(database) = &options.database {
            config.dbname(database);
        }
        // The driver bounds only each TCP connect; name resolution and a server that accepts
        // the connection but never answers the startup would block without limit. A probe
        // first asks for one byte of answer (no thread or socket is left behind by a silent
        // server); then connecting runs on a helper thread, so the caller has its answer
        // within the timeout however the server behaves afterwards.
        let deadline = std::time::Instant::now() + options.connect_timeout;
        crate::probe::probe(
            &options.host,
            options.port,
            options.connect_timeout,
            &crate::probe::POSTGRES_SSL_REQUEST,
            "PostgreSQL",
        )?;
        let (tx, rx) = sync_channel(1);
        std::thread::Builder::new()
            .name("orm-postgres-connect".into())
            .spawn(move || {
                let _ = tx.send(config.connect(NoTls));
            })
            .map_err(|e| {
                Error::new(ErrorKind::Connection, format!("cannot start the PostgreSQL connect thread: {e}"))
                    .with_source(e)
            })?;
        match rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
            Ok(Ok(client)) => Ok(PostgresConnection {
                client,
                statements: HashMap::new(),
                depth: 0,
                aborted: false,
                observer: None,
                target: target(options),
            }),
            Ok(Err(e)) => Err(connect_error(options, e)),
            Err(RecvTimeoutError::Timeout) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "connecting to PostgreSQL at {} timed out after {:.1} s",
                    target(options),
                    options.connect_timeout.as_secs_f64()
                ),
            )),
            Err(RecvTimeoutError::Disconnected) => Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "connecting to PostgreSQL at {} failed: the connect thread ended without an answer",
                    target(options)
                ),
            )),
        }
    }

    /// The `postgres` crate's client underneath, for what this crate does not cover.
    pub fn raw(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Runs a query and reads its whole result in one round trip (`Client::query`).
    fn query_all(&mut self, sql: &str, params: &[Value]) -> Result<Vec<postgres::Row>> {
        self.observe(sql, params);
        self.run_bound(sql, || params.iter().map(Value::as_ref), |client, stmt, refs| client.query(stmt, refs))
    }

    /// [`query_all`](Self::query_all) with parameters that borrow (a [`crate::Param`] slice),
    /// bound as they are, without an owned copy.
    fn query_params(&mut self, sql: &str, params: &[crate::Param<'_>]) -> Result<Vec<postgres::Row>> {
        crate::connection::observe_params("postgres", self.observer.as_ref(), sql, params);
        self.run_bound(
            sql,
            || params.iter().map(crate::Param::as_value_ref),
            |client, stmt, refs| client.query(stmt, refs),
        )
    }

    /// Runs a statement that returns no rows with `values` bound, and forgets the cached
    /// statements after a schema change.
    fn execute_values<'v, I: ExactSizeIterator<Item = ValueRef<'v>>>(
        &mut self,
        sql: &str,
        values: impl Fn() -> I,
    ) -> Result<u64> {
        let n = self.run_bound(sql, values, |client, stmt, refs| client.execute(stmt, refs))?;
        if changes_schema(sql) {
            self.statements.clear();
        }
        Ok(n)
    }

    /// Finds or prepares `sql`'s statement, checks that `values` fill its parameters, binds
    /// them and hands the driver's client the statement and the bound parameters (the one path
    /// of every statement read or run in full), once more on a stale cached plan (see
    /// [`retrying`](Self::retrying)).
    fn run_bound<'v, T, I: ExactSizeIterator<Item = ValueRef<'v>>>(
        &mut self,
        sql: &str,
        values: impl Fn() -> I,
        run: impl Fn(&mut Client, &Statement, &[&(dyn ToSql + Sync)]) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        self.retrying(|c| {
            let stmt = c.statement(sql)?;
            let values = values();
            check_len(&stmt, values.len(), sql)?;
            Param::with_value_refs(values, |refs| run(&mut c.client, &stmt, refs)).map_err(|e| c.fail(e, sql))
        })
    }

    fn observe(&self, sql: &str, params: &[Value]) {
        tracing::debug!(target: "orm::sql", backend = "postgres", sql, params = params.len());
        if let Some(o) = &self.observer {
            o.statement(sql, params);
        }
    }

    fn fail(&mut self, e: postgres::Error, sql: &str) -> Error {
        fail(e, sql, self.depth, &mut self.aborted, &mut self.statements)
    }

    /// The prepared statement for `sql`, from the cache or prepared now.
    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.client.prepare(sql).map_err(|e| self.fail(e, sql))?;
        if self.statements.len() >= STATEMENT_CACHE_SIZE {
            // Any entry will do: a cache this size rarely fills, and dropping a statement
            // closes it on the server.
            if let Some(key) = self.statements.keys().next().cloned() {
                self.statements.remove(&key);
            }
        }
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    /// Runs `f` and, when it failed on a stale cached statement outside a transaction, once
    /// more (the statement has left the cache by then and is prepared afresh).
    fn retrying<T>(&mut self, mut f: impl FnMut(&mut Self) -> Result<T>) -> Result<T> {
        match f(self) {
            Err(e) if self.depth == 0 && is_stale_plan(&e) => f(self),
            other => other,
        }
    }
}

impl Connection for PostgresConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.observe(sql, params);
        self.execute_values(sql, || params.iter().map(Value::as_ref))
    }

    fn execute_batch(&mut self, sql: &str) -> Result<()> {
        self.observe(sql, &[]);
        self.client.batch_execute(sql).map_err(|e| self.fail(e, sql))?;
        if changes_schema(sql) {
            self.statements.clear();
        }
        Ok(())
    }

    fn stream<'a>(&'a mut self, sql: &str, params: &[Value]) -> Result<Box<dyn RowStream + 'a>> {
        self.observe(sql, params);
        let stmt = self.statement(sql)?;
        check_count(&stmt, params, sql)?;
        let depth = self.depth;
        match self.client.query_raw(&stmt, Param::all(params)) {
            Ok(rows) => Ok(Box::new(PostgresStream::new(rows, sql, &mut self.aborted, depth > 0))),
            // Only fields other than `client` here: the rows borrow it on the other arm.
            Err(e) => Err(fail(e, sql, depth, &mut self.aborted, &mut self.statements)),
        }
    }

    /// Outside a transaction, reads through a portal `fetch_rows` rows per round trip, in a
    /// transaction opened for the stream and committed at its end (rolled back when the stream
    /// is dropped before it: a query changes nothing). Inside one, where the driver cannot
    /// open a portal on a transaction it did not begin, and for one row per round trip (which
    /// a portal would only slow down), as [`stream`](Connection::stream).
    fn stream_fetching<'a>(
        &'a mut self,
        sql: &str,
        params: &[Value],
        fetch_rows: usize,
    ) -> Result<Box<dyn RowStream + 'a>> {
        if self.depth > 0 || fetch_rows <= 1 {
            return self.stream(sql, params);
        }
        self.observe(sql, params);
        let stmt = self.statement(sql)?;
        check_count(&stmt, params, sql)?;
        let mut tx = match self.client.transaction() {
            Ok(tx) => tx,
            Err(e) => return Err(fail(e, sql, 0, &mut self.aborted, &mut self.statements)),
        };
        match Param::with_refs(params, |refs| tx.bind(&stmt, refs)) {
            Ok(portal) => Ok(Box::new(super::stream::PortalStream::new(tx, portal, fetch_rows, sql))),
            // The transaction rolls back as it drops.
            Err(e) => Err(fail(e, sql, 0, &mut self.aborted, &mut self.statements)),
        }
    }

    /// Reads the whole result with `Client::query` (one round trip, no wake-up per row).
    fn stream_all<'a>(&'a mut self, sql: &str, params: &[Value]) -> Result<Box<dyn RowStream + 'a>> {
        let rows = self.query_all(sql, params)?;
        Ok(Box::new(super::stream::BufferedStream::new(rows)))
    }

    fn for_each_row(&mut self, sql: &str, params: &[Value], each: &mut dyn FnMut(&dyn Row) -> bool) -> Result<()> {
        let rows = self.query_all(sql, params)?;
        let mut current = KindedRow::default();
        for row in &rows {
            if !each(current.hold(row)) {
                break;
            }
        }
        Ok(())
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<OwnedRow>> {
        collect(&mut *self.stream_all(sql, params)?, None)
    }

    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<OwnedRow>> {
        // Reads to the end, so an error the server reports after the first row is not lost.
        let rows = self.retrying(|c| collect(&mut *c.stream(sql, params)?, Some(1)))?;
        Ok(rows.into_iter().next())
    }

    /// Binds the parameters as they are (the default copies them into owned values first).
    fn execute_params(&mut self, sql: &str, params: &[crate::Param<'_>]) -> Result<u64> {
        crate::connection::observe_params("postgres", self.observer.as_ref(), sql, params);
        self.execute_values(sql, || params.iter().map(crate::Param::as_value_ref))
    }

    /// Appends `RETURNING "<column>"` when asked for the keys, as the default does, but binds
    /// the parameters as they are and reads the keys in one call (`Client::query`) instead of
    /// row by row through a stream: the `postgres` crate enters its runtime once per row it
    /// streams, which was a third of the client's instructions for a 1000-row `bulk_create`,
    /// and the owned copy of the parameters a fifth (callgrind).
    fn insert_rows(
        &mut self,
        sql: &str,
        params: &[crate::Param<'_>],
        _rows: usize,
        keys: Option<InsertKeys<'_>>,
    ) -> Result<InsertedRows> {
        let Some(k) = keys else {
            return Ok(InsertedRows { count: self.execute_params(sql, params)?, keys: GeneratedKeys::Unknown });
        };
        let mut full = String::with_capacity(sql.len() + k.column.len() + 16);
        full.push_str(sql);
        full.push_str(" RETURNING ");
        Dialect::Postgres.write_ident(&mut full, k.column);
        let rows = self.query_params(&full, params)?;
        let mut current = KindedRow::default();
        let keys = rows.iter().map(|r| (current.hold(r) as &dyn Row).value(0)).collect::<Result<Vec<Value>>>()?;
        Ok(InsertedRows { count: keys.len() as u64, keys: GeneratedKeys::Listed(keys) })
    }

    /// With `returning`, appends `RETURNING "<column>"` and hands back that column of the
    /// first row (`None` when no row was inserted, as with `ON CONFLICT DO NOTHING`). Without
    /// it, runs the statement and returns `None`.
    fn insert(&mut self, sql: &str, params: &[Value], returning: Option<&str>) -> Result<Option<Value>> {
        match returning {
            Some(col) => {
                let body = sql.trim_end().trim_end_matches(';').trim_end();
                let mut full = String::with_capacity(body.len() + col.len() + 13);
                full.push_str(body);
                full.push_str(" RETURNING ");
                Dialect::Postgres.write_ident(&mut full, col);
                let row = self.query_opt(&full, params)?;
                Ok(row.and_then(|r| r.into_values().into_iter().next()))
            }
            None => {
                self.execute(sql, params)?;
                Ok(None)
            }
        }
    }

    fn transaction_depth(&self) -> usize {
        self.depth
    }

    fn begin(&mut self) -> Result<()> {
        self.execute_batch(&begin_sql(Dialect::Postgres, self.depth))?;
        self.depth += 1;
        Ok(())
    }

    /// Commits the transaction or releases the innermost savepoint. A transaction in which a
    /// statement failed (and that was not rolled back to a savepoint since) cannot be
    /// committed: the server would roll it back and report success. That is an error here,
    /// and the transaction stays open for [`rollback`](Connection::rollback).
    fn commit(&mut self) -> Result<()> {
        if self.depth == 0 {
            return Err(no_transaction());
        }
        if self.depth == 1 && self.aborted {
            return Err(Error::new(
                ErrorKind::Query,
                "cannot commit: a statement failed in this transaction, so the server has aborted it; \
                 roll it back (run statements that may fail inside a savepoint to carry on after them)",
            )
            .with_code("25P02"));
        }
        self.execute_batch(&commit_sql(self.depth))?;
        self.depth -= 1;
        if self.depth == 0 {
            self.aborted = false;
        }
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if self.depth == 0 {
            return Err(no_transaction());
        }
        let r = self.execute_batch(&rollback_sql(self.depth));
        self.depth -= 1;
        if r.is_ok() {
            // Rolling back to a savepoint taken before the failure recovers the transaction.
            self.aborted = false;
        }
        if self.depth == 0 {
            self.aborted = false;
            if r.is_err() {
                // A failed ROLLBACK must not leave the connection inside a transaction.
                let _ = self.client.batch_execute("ROLLBACK");
            }
        }
        r
    }

    fn set_observer(&mut self, observer: Option<&Arc<dyn StatementObserver>>) {
        crate::connection::replace_observer(&mut self.observer, observer);
    }

    fn is_broken(&mut self) -> bool {
        self.depth > 0 || self.client.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_options_set_utc_and_quote_the_schema() {
        let mut o = ConnectOptions::parse("postgres://u@h/db").unwrap();
        assert_eq!(startup_options(&o), "-c TimeZone=UTC");
        o.search_path = Some("t_0123_case".into());
        assert_eq!(startup_options(&o), "-c TimeZone=UTC -c search_path=\"t_0123_case\"");
        o.search_path = Some("my schema\\x".into());
        assert_eq!(startup_options(&o), "-c TimeZone=UTC -c search_path=\"my\\ schema\\\\x\"");
    }

    #[test]
    fn ddl_is_recognised_in_batches() {
        assert!(changes_schema("ALTER TABLE t ADD COLUMN c int"));
        assert!(changes_schema("  drop table t"));
        assert!(changes_schema("BEGIN; create index i on t (c); COMMIT"));
        assert!(!changes_schema("SELECT 1"));
        assert!(!changes_schema("SAVEPOINT orm_sp_1"));
        assert!(!changes_schema("ROLLBACK TO SAVEPOINT orm_sp_1; RELEASE SAVEPOINT orm_sp_1"));
        assert!(!changes_schema("INSERT INTO created (x) VALUES ($1)"));
    }
}
