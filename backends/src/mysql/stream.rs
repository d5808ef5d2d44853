//! Unbuffered result reading: rows are read off the socket one at a time as the caller asks
//! for them, so memory does not grow with the row count.

use super::error::map;
use crate::error::{ErrorKind, Result};
use crate::row::{Row, RowStream};

/// A row stream over a binary-protocol result that has not been read yet.
///
/// It holds the current row and lends it as `&dyn Row` until the next call. Dropped before
/// its end, it reads and discards the rest of the result, which the protocol requires
/// before the connection can run another statement.
pub(crate) struct MysqlStream<'a> {
    result: mysql::QueryResult<'a, 'a, 'a, mysql::Binary>,
    current: Option<mysql::Row>,
    done: bool,
    /// The connection's "lost" flag, raised when reading fails below the SQL level.
    lost: &'a mut bool,
    sql: String,
}

impl<'a> MysqlStream<'a> {
    pub(crate) fn new(result: mysql::QueryResult<'a, 'a, 'a, mysql::Binary>, sql: &str, lost: &'a mut bool) -> Self {
        MysqlStream { result, current: None, done: false, lost, sql: sql.to_owned() }
    }
}

impl RowStream for MysqlStream<'_> {
    fn next_row(&mut self) -> Result<Option<&dyn Row>> {
        if self.done {
            return Ok(None);
        }
        match self.result.next() {
            Some(Ok(row)) => {
                self.current = Some(row);
                Ok(self.current.as_ref().map(|r| r as &dyn Row))
            }
            Some(Err(e)) => {
                self.done = true;
                self.current = None;
                let e = map(e, Some(&self.sql));
                if e.kind() == ErrorKind::Connection {
                    *self.lost = true;
                }
                Err(e)
            }
            None => {
                self.done = true;
                self.current = None;
                Ok(None)
            }
        }
    }
}

impl Drop for MysqlStream<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // The rest of the result must be read before the connection can be used again.
        for row in self.result.by_ref() {
            if let Err(e) = row {
                if e.is_connectivity_error() {
                    *self.lost = true;
                }
                break;
            }
        }
    }
}
