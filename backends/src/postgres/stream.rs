//! Rows read off the socket one at a time as the caller asks for them.
//!
//! `query_raw` hands back the driver's `RowIter`, which polls the protocol task only when the
//! next row is asked for. That task forwards server messages through a channel of capacity
//! one and stops reading the socket while the channel is full, so however many rows the
//! statement yields, only the current row and one socket buffer are held.

use super::error::map;
use crate::error::Result;
use crate::row::{Row, RowStream};
use postgres::fallible_iterator::FallibleIterator;

/// A row stream over a running statement.
///
/// It holds the current row and lends it as `&dyn Row` until the next call. Dropped before its
/// end, the driver reads and discards the rest of the result before the connection's next
/// statement runs.
pub(crate) struct PostgresStream<'a> {
    rows: postgres::RowIter<'a>,
    current: Option<postgres::Row>,
    done: bool,
    /// The connection's "transaction aborted" flag, raised when a row fails inside a
    /// transaction.
    aborted: &'a mut bool,
    in_transaction: bool,
    sql: String,
}

impl<'a> PostgresStream<'a> {
    pub(crate) fn new(rows: postgres::RowIter<'a>, sql: &str, aborted: &'a mut bool, in_transaction: bool) -> Self {
        PostgresStream { rows, current: None, done: false, aborted, in_transaction, sql: sql.to_owned() }
    }
}

impl RowStream for PostgresStream<'_> {
    fn next_row(&mut self) -> Result<Option<&dyn Row>> {
        if self.done {
            return Ok(None);
        }
        match self.rows.next() {
            Ok(Some(row)) => {
                self.current = Some(row);
                Ok(self.current.as_ref().map(|r| r as &dyn Row))
            }
            Ok(None) => {
                self.done = true;
                self.current = None;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                self.current = None;
                if self.in_transaction && e.as_db_error().is_some() {
                    *self.aborted = true;
                }
                Err(map(e, Some(&self.sql)))
            }
        }
    }
}

/// The rows of a statement read in full (`Client::query`: one round trip), lent one at a time.
pub(crate) struct BufferedStream {
    rows: std::vec::IntoIter<postgres::Row>,
    current: Option<postgres::Row>,
}

impl BufferedStream {
    pub(crate) fn new(rows: Vec<postgres::Row>) -> Self {
        BufferedStream { rows: rows.into_iter(), current: None }
    }
}

impl RowStream for BufferedStream {
    fn next_row(&mut self) -> Result<Option<&dyn Row>> {
        self.current = self.rows.next();
        Ok(self.current.as_ref().map(|r| r as &dyn Row))
    }
}
