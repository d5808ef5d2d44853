//! `Value` ↔ rusqlite. SQLite has five storage classes; the rest is encoded:
//! booleans as 0/1, dates and times as fixed-width ISO text (so text order is time order),
//! instants as UTC text, UUIDs as hyphenated text, JSON as text, decimals as text bound into
//! a NUMERIC column (SQLite then keeps them as numbers).

use crate::cell::Cell;
use crate::error::{Error, ErrorKind, Result};
use crate::value::{Value, ValueRef};
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef as SqlRef};

pub(crate) const DATETIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

pub(crate) struct Param<'a>(pub &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(to_sql_output(self.0.as_ref()))
    }
}

/// A borrowed value bound as a SQLite parameter (text and bytes are not copied on the Rust
/// side).
pub(crate) struct RefParam<'a>(pub ValueRef<'a>);

impl ToSql for RefParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(to_sql_output(self.0))
    }
}

#[inline]
fn to_sql_output(v: ValueRef<'_>) -> ToSqlOutput<'_> {
    match v {
        ValueRef::Null => ToSqlOutput::Borrowed(SqlRef::Null),
        ValueRef::Bool(b) => ToSqlOutput::Borrowed(SqlRef::Integer(i64::from(b))),
        ValueRef::Int(i) => ToSqlOutput::Borrowed(SqlRef::Integer(i)),
        ValueRef::Float(f) => ToSqlOutput::Borrowed(SqlRef::Real(f)),
        ValueRef::Text(s) | ValueRef::Json(s) => ToSqlOutput::Borrowed(SqlRef::Text(s.as_bytes())),
        ValueRef::Bytes(b) => ToSqlOutput::Borrowed(SqlRef::Blob(b)),
        other => ToSqlOutput::Owned(rusqlite::types::Value::Text(text_form(other).unwrap_or_default())),
    }
}

/// The text SQLite stores for a value it has no storage class of its own for (dates, times,
/// instants, UUIDs, JSON documents, decimals); `None` for the others.
pub(crate) fn text_form(v: ValueRef<'_>) -> Option<String> {
    Some(match v {
        ValueRef::Date(d) => d.format("%Y-%m-%d").to_string(),
        ValueRef::Time(t) => t.format("%H:%M:%S%.6f").to_string(),
        ValueRef::DateTime(d) => d.format(DATETIME_FORMAT).to_string(),
        ValueRef::DateTimeTz(d) => d.naive_utc().format(DATETIME_FORMAT).to_string(),
        ValueRef::Uuid(u) => u.hyphenated().to_string(),
        ValueRef::JsonValue(j) => j.to_string(),
        ValueRef::Decimal(d) => d.to_string(),
        _ => return None,
    })
}

/// A statement given the wrong number of parameters.
pub(crate) fn wrong_count(expected: usize, given: usize, sql: &str) -> Error {
    Error::new(ErrorKind::Usage, format!("the statement takes {expected} parameters but {given} were given"))
        .with_sql(sql)
}

/// The [`Cell`] of a SQLite cell, as [`value_ref`] reads it (text that is not UTF-8 is
/// `OTHER`, and `value_ref` reports it).
#[inline]
pub(crate) fn cell(v: SqlRef<'_>) -> Cell<'_> {
    match v {
        SqlRef::Null => Cell::NULL,
        SqlRef::Integer(i) => Cell::int(i),
        SqlRef::Real(f) => Cell::float(f),
        SqlRef::Text(t) => std::str::from_utf8(t).map_or(Cell::OTHER, Cell::text),
        SqlRef::Blob(_) => Cell::OTHER,
    }
}

/// Checks values SQLite would silently change.
pub(crate) fn check_params(params: &[Value]) -> Result<()> {
    for (i, p) in params.iter().enumerate() {
        check_param(i, p.as_ref())?;
    }
    Ok(())
}

/// Checks the parameter at `index` (from 0), as [`check_params`] does each.
#[inline]
pub(crate) fn check_param(index: usize, p: ValueRef<'_>) -> Result<()> {
    match p {
        ValueRef::Float(f) if f.is_nan() => Err(Error::new(
            ErrorKind::DataError,
            format!("parameter {}: SQLite cannot store NaN (it would be stored as NULL)", index + 1),
        )),
        _ => Ok(()),
    }
}

#[inline]
pub(crate) fn value_ref<'a>(v: SqlRef<'a>) -> Result<ValueRef<'a>> {
    Ok(match v {
        SqlRef::Null => ValueRef::Null,
        SqlRef::Integer(i) => ValueRef::Int(i),
        SqlRef::Real(f) => ValueRef::Float(f),
        SqlRef::Text(t) => ValueRef::Text(
            std::str::from_utf8(t).map_err(|e| Error::new(ErrorKind::Conversion, format!("text is not UTF-8: {e}")))?,
        ),
        SqlRef::Blob(b) => ValueRef::Bytes(b),
    })
}
