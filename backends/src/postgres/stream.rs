//! The three ways this backend lends rows: [`PostgresStream`] reads them off the socket one
//! at a time as the caller asks, [`PortalStream`] fetches a portal a batch at a time, and
//! [`BufferedStream`] lends a result read in full. The last two lend a [`KindedRow`].
//!
//! `query_raw` hands back the driver's `RowIter`, which polls the protocol task only when the
//! next row is asked for. That task forwards server messages through a channel of capacity
//! one and stops reading the socket while the channel is full, so however many rows the
//! statement yields, only the current row and one socket buffer are held.

use super::error::map;
use super::types::KindedRow;
use crate::connection::{FETCH_FIRST, FETCH_GROWING, FETCH_MAX};
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

/// The rows of a portal fetched `fetch` at a time in the stream's own transaction
/// ([`Connection::stream_fetching`](crate::Connection::stream_fetching)), lent one at a time.
/// Only one batch is held. The transaction is committed after the last row; dropped earlier,
/// the driver rolls it back.
pub(crate) struct PortalStream<'a> {
    tx: Option<postgres::Transaction<'a>>,
    portal: postgres::Portal,
    fetch: i32,
    /// Doubles `fetch` after each round trip, up to [`FETCH_MAX`](crate::connection::FETCH_MAX).
    growing: bool,
    batch: std::vec::IntoIter<postgres::Row>,
    current: KindedRow<postgres::Row>,
    /// The last batch came back short: the portal has no more rows.
    drained: bool,
    sql: String,
}

impl<'a> PortalStream<'a> {
    pub(crate) fn new(tx: postgres::Transaction<'a>, portal: postgres::Portal, fetch: usize, sql: &str) -> Self {
        let growing = fetch == FETCH_GROWING;
        PortalStream {
            tx: Some(tx),
            portal,
            fetch: i32::try_from(if growing { FETCH_FIRST } else { fetch }).unwrap_or(i32::MAX),
            growing,
            batch: Vec::new().into_iter(),
            current: KindedRow::default(),
            drained: false,
            sql: sql.to_owned(),
        }
    }
}

impl RowStream for PortalStream<'_> {
    fn next_row(&mut self) -> Result<Option<&dyn Row>> {
        loop {
            if let Some(row) = self.batch.next() {
                return Ok(Some(self.current.hold(row)));
            }
            self.current.release();
            let Some(tx) = self.tx.as_mut() else { return Ok(None) };
            if self.drained {
                let tx = self.tx.take().expect("checked above");
                tx.commit().map_err(|e| map(e, Some(&self.sql)))?;
                return Ok(None);
            }
            match tx.query_portal(&self.portal, self.fetch) {
                Ok(rows) => {
                    self.drained = rows.len() < self.fetch as usize;
                    self.batch = rows.into_iter();
                    if self.growing {
                        self.fetch = (self.fetch.saturating_mul(2)).min(FETCH_MAX as i32);
                    }
                }
                Err(e) => {
                    // The transaction is rolled back as it drops.
                    self.tx = None;
                    return Err(map(e, Some(&self.sql)));
                }
            }
        }
    }
}

/// The rows of a statement read in full (`Client::query`: one round trip), lent one at a time.
pub(crate) struct BufferedStream {
    rows: std::vec::IntoIter<postgres::Row>,
    current: KindedRow<postgres::Row>,
}

impl BufferedStream {
    pub(crate) fn new(rows: Vec<postgres::Row>) -> Self {
        BufferedStream { rows: rows.into_iter(), current: KindedRow::default() }
    }
}

impl RowStream for BufferedStream {
    fn next_row(&mut self) -> Result<Option<&dyn Row>> {
        match self.rows.next() {
            Some(row) => Ok(Some(self.current.hold(row))),
            None => {
                self.current.release();
                Ok(None)
            }
        }
    }
}
