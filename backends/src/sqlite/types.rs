//! `Value` ↔ rusqlite. SQLite has five storage classes; the rest is encoded:
//! booleans as 0/1, dates and times as fixed-width ISO text (so text order is time order),
//! instants as UTC text, UUIDs as hyphenated text, JSON as text, decimals as text bound into
//! a NUMERIC column (SQLite then keeps them as numbers).

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
    use rusqlite::types::Value as V;
    {
        match v {
            ValueRef::Null => ToSqlOutput::Borrowed(SqlRef::Null),
            ValueRef::Bool(b) => ToSqlOutput::Borrowed(SqlRef::Integer(i64::from(b))),
            ValueRef::Int(i) => ToSqlOutput::Borrowed(SqlRef::Integer(i)),
            ValueRef::Float(f) => ToSqlOutput::Borrowed(SqlRef::Real(f)),
            ValueRef::Text(s) | ValueRef::Json(s) => ToSqlOutput::Borrowed(SqlRef::Text(s.as_bytes())),
            ValueRef::Bytes(b) => ToSqlOutput::Borrowed(SqlRef::Blob(b)),
            ValueRef::Date(d) => ToSqlOutput::Owned(V::Text(d.format("%Y-%m-%d").to_string())),
            ValueRef::Time(t) => ToSqlOutput::Owned(V::Text(t.format("%H:%M:%S%.6f").to_string())),
            ValueRef::DateTime(d) => ToSqlOutput::Owned(V::Text(d.format(DATETIME_FORMAT).to_string())),
            ValueRef::DateTimeTz(d) => ToSqlOutput::Owned(V::Text(d.naive_utc().format(DATETIME_FORMAT).to_string())),
            ValueRef::Uuid(u) => ToSqlOutput::Owned(V::Text(u.hyphenated().to_string())),
            ValueRef::JsonValue(j) => ToSqlOutput::Owned(V::Text(j.to_string())),
            ValueRef::Decimal(d) => ToSqlOutput::Owned(V::Text(d.to_string())),
        }
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
