//! Rows addressed by column index.
//!
//! A [`Row`] is a borrowed view over the driver's own row: it lends each cell as a
//! [`ValueRef`] without copying, so a decoder reads straight into struct fields. Rows that
//! must outlive the statement are copied into an [`OwnedRow`].

use crate::cell::Cell;
use crate::error::{Error, ErrorKind, Result};
use crate::value::{FromValue, Value, ValueRef};
use std::sync::Arc;

/// One result row, read by column index.
///
/// Implementations exist for each driver's row type; the trait is object-safe so a stream can
/// lend `&dyn Row`.
pub trait Row {
    /// How many columns the row has.
    fn column_count(&self) -> usize;

    /// The name of column `index`, if it exists.
    fn column_name(&self, index: usize) -> Option<&str>;

    /// The cell at `index`, borrowed. An index out of range is an error, not a panic.
    fn value_ref(&self, index: usize) -> Result<ValueRef<'_>>;

    /// The cell at `index` as a [`Cell`], the fast path a decoder tries before
    /// [`value_ref`](Row::value_ref). The default converts what `value_ref` lends; a backend
    /// whose cells come as the common kinds overrides it to read them directly.
    ///
    /// The contract: NULL, `Int`, `Float` or `Text` only where `value_ref` lends that same
    /// value; anything else (another kind, an error) is [`Cell::OTHER`], which always
    /// sends the decoder to `value_ref`.
    #[inline]
    fn cell(&self, index: usize) -> Cell<'_> {
        match self.value_ref(index) {
            Ok(v) => Cell::from_value_ref(v),
            Err(_) => Cell::OTHER,
        }
    }
}

impl dyn Row + '_ {
    /// Decodes column `index` into `T`; a failure names the column, what was expected and
    /// what came.
    #[inline]
    pub fn get<T: FromValue>(&self, index: usize) -> Result<T> {
        if let Some(r) = T::from_cell(self.cell(index).get()) {
            return r.map_err(|e| Error::from(e.at_column(index, self.column_name(index))));
        }
        let v = self.value_ref(index)?;
        T::from_value_ref(v).map_err(|e| Error::from(e.at_column(index, self.column_name(index))))
    }

    /// Copies column `index` into an owned [`Value`].
    pub fn value(&self, index: usize) -> Result<Value> {
        Ok(self.value_ref(index)?.to_owned_value())
    }

    /// The index of the column called `name`.
    pub fn column_index(&self, name: &str) -> Result<usize> {
        (0..self.column_count())
            .find(|&i| self.column_name(i) == Some(name))
            .ok_or_else(|| Error::new(ErrorKind::Usage, format!("the row has no column `{name}`")))
    }

    /// Copies the whole row.
    pub fn to_owned_row(&self) -> Result<OwnedRow> {
        let n = self.column_count();
        let columns: Arc<[String]> = (0..n).map(|i| self.column_name(i).unwrap_or_default().to_owned()).collect();
        let values = (0..n).map(|i| self.value(i)).collect::<Result<_>>()?;
        Ok(OwnedRow { columns, values })
    }
}

pub(crate) fn out_of_range(index: usize, len: usize) -> Error {
    Error::new(ErrorKind::Usage, format!("column index {index} is out of range: the row has {len} columns"))
}

/// A row copied out of the driver: column names (shared between the rows of one result)
/// and owned values.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedRow {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl OwnedRow {
    /// A row from shared column names and its values.
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        OwnedRow { columns, values }
    }

    /// The values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The values, taken.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Decodes column `index` into `T` (see [`Row::value_ref`]).
    pub fn get<T: FromValue>(&self, index: usize) -> Result<T> {
        (self as &dyn Row).get(index)
    }
}

impl Row for OwnedRow {
    fn column_count(&self) -> usize {
        self.values.len()
    }

    fn column_name(&self, index: usize) -> Option<&str> {
        self.columns.get(index).map(String::as_str)
    }

    fn value_ref(&self, index: usize) -> Result<ValueRef<'_>> {
        self.values.get(index).map(Value::as_ref).ok_or_else(|| out_of_range(index, self.values.len()))
    }
}

/// Rows lent one at a time as they arrive from the server.
///
/// This is a lending iterator: the row returned by [`next_row`](RowStream::next_row) is valid
/// until the next call. Memory stays flat however many rows the statement yields.
pub trait RowStream {
    /// The next row, `None` at the end.
    fn next_row(&mut self) -> Result<Option<&dyn Row>>;
}
