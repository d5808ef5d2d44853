//! `Value` → PostgreSQL parameters, and binary cells → `ValueRef`.
//!
//! Parameters are encoded for the type the server inferred when the statement was prepared
//! ([`Param`]). Cells are read raw ([`Raw`]) and decoded by the column's type, borrowing text
//! and bytes from the driver's row.

use crate::cell::Cell;
use crate::error::{Error, ErrorKind, Result};
use crate::row::{out_of_range, Row};
use crate::value::{parse_datetime_text, Value, ValueRef};
use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use postgres_types::{to_sql_checked, Format, FromSql, IsNull, Kind, ToSql, Type};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::borrow::Borrow;
use std::borrow::Cow;
use std::fmt;
use uuid::Uuid;

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// A parameter value that cannot be encoded for its target type. Kept as the driver error's
/// source, so the error mapping can classify it as a data error.
#[derive(Debug)]
pub(crate) struct ParamError(String);

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParamError {}

/// A domain's base type; any other type itself.
fn base(ty: &Type) -> &Type {
    match ty.kind() {
        Kind::Domain(inner) => base(inner),
        _ => ty,
    }
}

/// Types whose binary form is the UTF-8 text itself.
fn is_textual(ty: &Type) -> bool {
    matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN)
        || matches!(ty.kind(), Kind::Enum(_))
        || (matches!(ty.kind(), Kind::Simple) && ty.name() == "citext")
}

/// Types this module encodes in the binary format.
fn is_native(ty: &Type) -> bool {
    is_textual(ty)
        || matches!(
            *ty,
            Type::BOOL
                | Type::INT2
                | Type::INT4
                | Type::INT8
                | Type::OID
                | Type::FLOAT4
                | Type::FLOAT8
                | Type::NUMERIC
                | Type::BYTEA
                | Type::DATE
                | Type::TIME
                | Type::TIMESTAMP
                | Type::TIMESTAMPTZ
                | Type::UUID
                | Type::JSON
                | Type::JSONB
        )
}

/// The SQL name of a type, for messages.
fn type_label(ty: &Type) -> Cow<'static, str> {
    Cow::Borrowed(match *ty {
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::BOOL => "boolean",
        Type::VARCHAR => "character varying",
        Type::BPCHAR => "character",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        Type::TIMESTAMP => "timestamp without time zone",
        Type::TIME => "time without time zone",
        _ => return Cow::Owned(ty.name().to_owned()),
    })
}

/// How a value goes to a parameter of type `ty`: the binary format, or its text form for the
/// server to parse (types not encoded here, and floats into `numeric`, whose text form is
/// exact where a conversion through `Decimal` would not be).
fn format_for(value: ValueRef<'_>, ty: &Type) -> Format {
    let ty = base(ty);
    match value {
        ValueRef::Null => Format::Binary,
        ValueRef::Float(_) if *ty == Type::NUMERIC => Format::Text,
        _ if is_native(ty) => Format::Binary,
        _ => Format::Text,
    }
}

/// PostgreSQL's spelling of a float.
fn float_text(f: f64) -> Cow<'static, str> {
    if f.is_nan() {
        Cow::Borrowed("NaN")
    } else if f == f64::INFINITY {
        Cow::Borrowed("Infinity")
    } else if f == f64::NEG_INFINITY {
        Cow::Borrowed("-Infinity")
    } else {
        let s = f.to_string();
        Cow::Owned(if s.len() > 24 { format!("{f:e}") } else { s })
    }
}

/// The text form of a value, as a SQL literal's content would be written; `None` for bytes.
fn text_form(value: ValueRef<'_>) -> Option<Cow<'_, str>> {
    Some(match value {
        ValueRef::Null | ValueRef::Bytes(_) => return None,
        ValueRef::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
        ValueRef::Int(i) => Cow::Owned(i.to_string()),
        ValueRef::Float(f) => float_text(f),
        ValueRef::Text(s) => Cow::Borrowed(s),
        ValueRef::Date(d) => Cow::Owned(d.format("%Y-%m-%d").to_string()),
        ValueRef::Time(t) => Cow::Owned(t.format("%H:%M:%S%.f").to_string()),
        ValueRef::DateTime(d) => Cow::Owned(d.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
        ValueRef::DateTimeTz(d) => Cow::Owned(d.format("%Y-%m-%d %H:%M:%S%.f+00:00").to_string()),
        ValueRef::Uuid(u) => Cow::Owned(u.hyphenated().to_string()),
        // JSON text is bound as what it parses to, as an owned value would be.
        ValueRef::Json(_) => match value.to_owned_value() {
            Value::Json(j) => Cow::Owned(j.to_string()),
            Value::Text(s) => Cow::Owned(s),
            _ => return None,
        },
        ValueRef::JsonValue(j) => Cow::Owned(j.to_string()),
        ValueRef::Decimal(d) => Cow::Owned(d.to_string()),
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// A bound parameter: a value, borrowed, and its position (1-based, for messages), encoded
/// for the parameter type the server inferred. Borrowed, so that text bound from a model's
/// field or from a [`crate::Param`] is encoded straight from where it lies, never copied
/// into an owned [`Value`] first.
#[derive(Debug)]
pub(crate) struct Param<'a> {
    pub(crate) value: ValueRef<'a>,
    pub(crate) index: usize,
}

impl<'a> Param<'a> {
    /// The parameters of a statement, numbered from `$1`.
    pub(crate) fn all(params: &'a [Value]) -> impl ExactSizeIterator<Item = Param<'a>> + 'a {
        params.iter().enumerate().map(|(i, value)| Param { value: value.as_ref(), index: i + 1 })
    }

    /// Runs `f` with the parameters as the slice of `ToSql` references the driver's calls
    /// take.
    pub(crate) fn with_refs<T>(params: &[Value], f: impl FnOnce(&[&(dyn ToSql + Sync)]) -> T) -> T {
        Param::with_value_refs(params.iter().map(Value::as_ref), f)
    }

    /// [`with_refs`](Param::with_refs) for borrowed values (a [`crate::Param`] slice's).
    pub(crate) fn with_value_refs<'v, T>(
        values: impl Iterator<Item = ValueRef<'v>>,
        f: impl FnOnce(&[&(dyn ToSql + Sync)]) -> T,
    ) -> T {
        let bound: Vec<Param<'v>> = values.enumerate().map(|(i, value)| Param { value, index: i + 1 }).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        f(&refs)
    }

    fn mismatch(&self, ty: &Type) -> BoxError {
        Box::new(ParamError(format!(
            "parameter ${}: cannot bind a {} value to a parameter of type {}",
            self.index,
            self.value.kind_name(),
            type_label(ty)
        )))
    }

    fn invalid(&self, ty: &Type, why: impl fmt::Display) -> BoxError {
        Box::new(ParamError(format!(
            "parameter ${}: cannot bind {} value to a parameter of type {}: {why}",
            self.index,
            self.value.kind_name(),
            type_label(ty)
        )))
    }

    fn int_to(&self, i: i64, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let range = |_| self.invalid(ty, format_args!("{i} is out of range"));
        match *ty {
            Type::INT2 => out.put_i16(i16::try_from(i).map_err(range)?),
            Type::INT4 => out.put_i32(i32::try_from(i).map_err(range)?),
            Type::INT8 => out.put_i64(i),
            Type::OID => out.put_u32(u32::try_from(i).map_err(range)?),
            Type::FLOAT4 => out.put_f32(i as f32),
            Type::FLOAT8 => out.put_f64(i as f64),
            Type::NUMERIC => return Decimal::from(i).to_sql(ty, out),
            Type::BOOL => match i {
                0 | 1 => out.put_u8(i as u8),
                _ => return Err(self.invalid(ty, format_args!("{i} is neither 0 nor 1"))),
            },
            _ => return Err(self.mismatch(ty)),
        }
        Ok(IsNull::No)
    }

    fn text_to(&self, s: &str, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let t = s.trim();
        let bad = |e: &dyn fmt::Display| self.invalid(ty, format_args!("{s:?} does not parse: {e}"));
        match *ty {
            Type::BYTEA => out.extend_from_slice(s.as_bytes()),
            Type::JSON | Type::JSONB => {
                serde_json::from_str::<serde_json::Value>(s).map_err(|e| bad(&e))?;
                if *ty == Type::JSONB {
                    out.put_u8(1);
                }
                out.extend_from_slice(s.as_bytes());
            }
            Type::UUID => return Uuid::parse_str(t).map_err(|e| bad(&e))?.to_sql(ty, out),
            Type::DATE => return NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|e| bad(&e))?.to_sql(ty, out),
            Type::TIME => {
                let time = NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
                    .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
                    .map_err(|e| bad(&e))?;
                return time.to_sql(ty, out);
            }
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                // Text with an offset is converted to UTC; text without one is taken as UTC.
                let naive = match parse_datetime_text(t) {
                    Some((n, _)) => n,
                    None => NaiveDate::parse_from_str(t, "%Y-%m-%d")
                        .map(|d| d.and_time(NaiveTime::MIN))
                        .map_err(|_| bad(&"not a date and time"))?,
                };
                return if *ty == Type::TIMESTAMP { naive.to_sql(ty, out) } else { naive.and_utc().to_sql(ty, out) };
            }
            Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => {
                return self.int_to(t.parse::<i64>().map_err(|e| bad(&e))?, ty, out)
            }
            Type::FLOAT4 => out.put_f32(t.parse::<f32>().map_err(|e| bad(&e))?),
            Type::FLOAT8 => out.put_f64(t.parse::<f64>().map_err(|e| bad(&e))?),
            Type::NUMERIC => {
                let d = t.parse::<Decimal>().or_else(|_| Decimal::from_scientific(t)).map_err(|e| bad(&e))?;
                return d.to_sql(ty, out);
            }
            Type::BOOL => {
                let b = match t.to_ascii_lowercase().as_str() {
                    "t" | "true" | "1" | "y" | "yes" | "on" => true,
                    "f" | "false" | "0" | "n" | "no" | "off" => false,
                    _ => return Err(bad(&"expected true or false")),
                };
                out.put_u8(u8::from(b));
            }
            _ => return Err(self.mismatch(ty)),
        }
        Ok(IsNull::No)
    }

    /// Encodes the value in the binary format of `ty` (a native, non-textual type).
    fn binary_to(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self.value {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Int(i) => self.int_to(i, ty, out),
            ValueRef::Text(s) => self.text_to(s, ty, out),
            ValueRef::Float(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => {
                    let narrow = f as f32;
                    if f.is_finite() && !narrow.is_finite() {
                        return Err(self.invalid(ty, format_args!("{f} is out of range")));
                    }
                    narrow.to_sql(ty, out)
                }
                _ => Err(self.mismatch(ty)),
            },
            ValueRef::Bool(b) => match *ty {
                Type::BOOL => b.to_sql(ty, out),
                Type::INT2 | Type::INT4 | Type::INT8 => self.int_to(i64::from(b), ty, out),
                _ => Err(self.mismatch(ty)),
            },
            ValueRef::Bytes(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(self.mismatch(ty)),
            },
            ValueRef::Date(d) => match *ty {
                Type::DATE => d.to_sql(ty, out),
                Type::TIMESTAMP => d.and_time(NaiveTime::MIN).to_sql(ty, out),
                Type::TIMESTAMPTZ => d.and_time(NaiveTime::MIN).and_utc().to_sql(ty, out),
                _ => Err(self.mismatch(ty)),
            },
            ValueRef::Time(t) => match *ty {
                Type::TIME => t.to_sql(ty, out),
                _ => Err(self.mismatch(ty)),
            },
            ValueRef::DateTime(d) => match *ty {
                Type::TIMESTAMP => d.to_sql(ty, out),
                Type::TIMESTAMPTZ => d.and_utc().to_sql(ty, out),
                _ => Err(self.mismatch(ty)),
            },
            ValueRef::DateTimeTz(d) => match *ty {
                Type::TIMESTAMPTZ => d.to_sql(ty, out),
                Type::TIMESTAMP => d.naive_utc().to_sql(ty, out),
                _ => Err(self.mismatch(ty)),
            },
            ValueRef::Uuid(u) => match *ty {
                Type::UUID => u.to_sql(ty, out),
                _ => Err(self.mismatch(ty)),
            },
            ValueRef::JsonValue(j) => match *ty {
                Type::JSON | Type::JSONB => j.to_sql(ty, out),
                _ => Err(self.mismatch(ty)),
            },
            // JSON text: bound as what it parses to, as an owned value would be.
            ValueRef::Json(_) => {
                let owned = self.value.to_owned_value();
                Param { value: owned.as_ref(), index: self.index }.binary_to(ty, out)
            }
            ValueRef::Decimal(d) => match *ty {
                Type::NUMERIC => d.to_sql(ty, out),
                Type::FLOAT8 => d.to_f64().ok_or_else(|| self.invalid(ty, "out of range"))?.to_sql(ty, out),
                Type::FLOAT4 => d.to_f32().ok_or_else(|| self.invalid(ty, "out of range"))?.to_sql(ty, out),
                Type::INT2 | Type::INT4 | Type::INT8 | Type::OID if d.fract().is_zero() => {
                    let i = d.to_i64().ok_or_else(|| self.invalid(ty, format_args!("{d} is out of range")))?;
                    self.int_to(i, ty, out)
                }
                _ => Err(self.mismatch(ty)),
            },
            #[allow(unreachable_patterns)]
            _ => Err(self.mismatch(ty)),
        }
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let ty = base(ty);
        if matches!(self.value, ValueRef::Null) {
            return Ok(IsNull::Yes);
        }
        if matches!(format_for(self.value, ty), Format::Text) || is_textual(ty) {
            let text = text_form(self.value).ok_or_else(|| self.mismatch(ty))?;
            out.extend_from_slice(text.as_bytes());
            return Ok(IsNull::No);
        }
        self.binary_to(ty, out)
    }

    /// Every type is accepted here; whether the value fits is decided by `to_sql`, which knows
    /// the value.
    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, ty: &Type) -> Format {
        format_for(self.value, ty)
    }

    to_sql_checked!();
}

/// A cell's raw binary bytes, whatever its type.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn utf8(raw: &[u8]) -> Result<&str, BoxError> {
    std::str::from_utf8(raw).map_err(|e| format!("text is not UTF-8: {e}").into())
}

/// Decodes a binary `numeric`. Its special values and numbers beyond 28 significant digits
/// have no `Decimal` form.
fn decode_numeric(raw: &[u8]) -> Result<Decimal, BoxError> {
    const HINT: &str = "cast it to float8 or text in SQL";
    let special = match raw.get(4..6) {
        Some([0xC0, 0]) => Some("NaN"),
        Some([0xD0, 0]) => Some("Infinity"),
        Some([0xF0, 0]) => Some("-Infinity"),
        _ => None,
    };
    if let Some(special) = special {
        return Err(format!("numeric {special} has no decimal value; {HINT}").into());
    }
    Decimal::from_sql(&Type::NUMERIC, raw)
        .map_err(|e| format!("{e}: a decimal holds at most 28 significant digits; {HINT}").into())
}

/// Decodes one binary cell of type `ty`.
fn decode<'a>(ty: &Type, raw: &'a [u8]) -> Result<ValueRef<'a>, BoxError> {
    let ty = base(ty);
    Ok(match *ty {
        Type::BOOL => ValueRef::Bool(bool::from_sql(ty, raw)?),
        Type::INT2 => ValueRef::Int(i64::from(i16::from_sql(ty, raw)?)),
        Type::INT4 => ValueRef::Int(i64::from(i32::from_sql(ty, raw)?)),
        Type::INT8 => ValueRef::Int(i64::from_sql(ty, raw)?),
        Type::OID => ValueRef::Int(i64::from(u32::from_sql(ty, raw)?)),
        Type::FLOAT4 => ValueRef::Float(f64::from(f32::from_sql(ty, raw)?)),
        Type::FLOAT8 => ValueRef::Float(f64::from_sql(ty, raw)?),
        Type::NUMERIC => ValueRef::Decimal(decode_numeric(raw)?),
        Type::BYTEA => ValueRef::Bytes(raw),
        Type::DATE => ValueRef::Date(NaiveDate::from_sql(ty, raw)?),
        Type::TIME => ValueRef::Time(NaiveTime::from_sql(ty, raw)?),
        Type::TIMESTAMP => ValueRef::DateTime(NaiveDateTime::from_sql(ty, raw)?),
        Type::TIMESTAMPTZ => ValueRef::DateTimeTz(DateTime::<Utc>::from_sql(ty, raw)?),
        Type::UUID => ValueRef::Uuid(Uuid::from_sql(ty, raw)?),
        Type::JSON => ValueRef::Json(utf8(raw)?),
        Type::JSONB => match raw.split_first() {
            Some((1, rest)) => ValueRef::Json(utf8(rest)?),
            Some((v, _)) => return Err(format!("unsupported jsonb version {v}").into()),
            None => return Err("empty jsonb cell".into()),
        },
        // The single-byte "char" of the system catalogs.
        Type::CHAR => ValueRef::Text(utf8(raw)?),
        _ if is_textual(ty) => ValueRef::Text(utf8(raw)?),
        _ => {
            return Err(format!(
                "orm-backends cannot read PostgreSQL type `{}`; cast it to text in SQL (`expr::text`)",
                ty.name()
            )
            .into())
        }
    })
}

/// How [`Row::cell`] reads a column: worked out from the column's type once per result
/// (see [`KindedRow`]) rather than once per cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum FastKind {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Text,
    Other,
}

fn fast_kind(ty: &Type) -> FastKind {
    let ty = base(ty);
    match *ty {
        Type::INT2 => FastKind::Int2,
        Type::INT4 => FastKind::Int4,
        Type::INT8 => FastKind::Int8,
        Type::FLOAT4 => FastKind::Float4,
        Type::FLOAT8 => FastKind::Float8,
        _ if is_textual(ty) => FastKind::Text,
        _ => FastKind::Other,
    }
}

/// Cell `index` of `row`, whose column reads as `kind`, as `decode` would read it.
#[inline]
fn fast_cell(row: &postgres::Row, index: usize, kind: FastKind) -> Cell<'_> {
    let raw = match row.try_get::<_, Option<Raw<'_>>>(index) {
        Ok(Some(Raw(raw))) => raw,
        Ok(None) => return Cell::NULL,
        Err(_) => return Cell::OTHER,
    };
    let cell = match kind {
        FastKind::Int2 => i16::from_sql(&Type::INT2, raw).map(|i| Cell::int(i64::from(i))),
        FastKind::Int4 => i32::from_sql(&Type::INT4, raw).map(|i| Cell::int(i64::from(i))),
        FastKind::Int8 => i64::from_sql(&Type::INT8, raw).map(Cell::int),
        FastKind::Float4 => f32::from_sql(&Type::FLOAT4, raw).map(|f| Cell::float(f64::from(f))),
        FastKind::Float8 => f64::from_sql(&Type::FLOAT8, raw).map(Cell::float),
        FastKind::Text => return std::str::from_utf8(raw).map_or(Cell::OTHER, Cell::text),
        FastKind::Other => return Cell::OTHER,
    };
    cell.unwrap_or(Cell::OTHER)
}

/// The row a result lends, held with the [`FastKind`] of each of its columns: worked out from
/// the first row it holds and kept for the rest of the result, whose rows all share them. `R`
/// is the row itself (a stream that owns its rows) or a reference to it (a result read in
/// full and lent in place).
pub(crate) struct KindedRow<R> {
    row: Option<R>,
    kinds: Vec<FastKind>,
}

impl<R> Default for KindedRow<R> {
    fn default() -> Self {
        KindedRow { row: None, kinds: Vec::new() }
    }
}

impl<R: Borrow<postgres::Row>> KindedRow<R> {
    /// Holds `row` (dropping the one held before) and lends it.
    #[inline]
    pub(crate) fn hold(&mut self, row: R) -> &Self {
        if self.kinds.is_empty() {
            self.kinds = row.borrow().columns().iter().map(|c| fast_kind(c.type_())).collect();
        }
        self.row = Some(row);
        self
    }

    /// Drops the row held.
    pub(crate) fn release(&mut self) {
        self.row = None;
    }

    fn row(&self) -> Option<&postgres::Row> {
        self.row.as_ref().map(Borrow::borrow)
    }
}

impl<R: Borrow<postgres::Row> + Send> Row for KindedRow<R> {
    fn column_count(&self) -> usize {
        self.row().map_or(0, postgres::Row::len)
    }

    fn column_name(&self, index: usize) -> Option<&str> {
        self.row().and_then(|r| Row::column_name(r, index))
    }

    #[inline]
    fn cell(&self, index: usize) -> Cell<'_> {
        match (self.row(), self.kinds.get(index)) {
            (Some(row), Some(&kind)) => fast_cell(row, index, kind),
            _ => Cell::OTHER,
        }
    }

    fn value_ref(&self, index: usize) -> Result<ValueRef<'_>> {
        match self.row() {
            Some(row) => row.value_ref(index),
            None => Err(out_of_range(index, 0)),
        }
    }
}

impl Row for postgres::Row {
    fn column_count(&self) -> usize {
        self.len()
    }

    fn column_name(&self, index: usize) -> Option<&str> {
        self.columns().get(index).map(|c| c.name())
    }

    /// Integers, floats, NULL and text straight off the binary cell, as `decode` reads them;
    /// the rest is `OTHER`, for `value_ref`.
    #[inline]
    fn cell(&self, index: usize) -> Cell<'_> {
        match self.columns().get(index) {
            Some(column) => fast_cell(self, index, fast_kind(column.type_())),
            None => Cell::OTHER,
        }
    }

    fn value_ref(&self, index: usize) -> Result<ValueRef<'_>> {
        let columns = self.columns();
        let column = columns.get(index).ok_or_else(|| out_of_range(index, columns.len()))?;
        let cell = self.try_get::<_, Option<Raw<'_>>>(index).map_err(|e| {
            Error::new(ErrorKind::Conversion, format!("cannot read column {index} (`{}`): {e}", column.name()))
                .with_source(e)
        })?;
        match cell {
            None => Ok(ValueRef::Null),
            Some(Raw(raw)) => decode(column.type_(), raw).map_err(|e| {
                Error::new(
                    ErrorKind::Conversion,
                    format!(
                        "cannot read column {index} (`{}`) of type {}: {e}",
                        column.name(),
                        type_label(column.type_())
                    ),
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &Value, ty: &Type) -> std::result::Result<(&'static str, Vec<u8>), String> {
        let p = Param { value: value.as_ref(), index: 1 };
        let mut out = BytesMut::new();
        match p.to_sql_checked(ty, &mut out) {
            Ok(IsNull::Yes) => Ok((format_name(&p, ty), b"NULL".to_vec())),
            Ok(IsNull::No) => Ok((format_name(&p, ty), out.to_vec())),
            Err(e) => Err(e.to_string()),
        }
    }

    fn format_name(p: &Param<'_>, ty: &Type) -> &'static str {
        match p.encode_format(ty) {
            Format::Text => "text",
            Format::Binary => "binary",
        }
    }

    fn roundtrip(value: &Value, ty: &Type) -> Value {
        let (format, bytes) = encode(value, ty).unwrap();
        assert_eq!(format, "binary", "{value:?} as {ty}");
        decode(ty, &bytes).unwrap().to_owned_value()
    }

    #[test]
    fn integers_are_range_checked_for_the_inferred_type() {
        assert_eq!(encode(&Value::Int(300), &Type::INT2).unwrap().1, 300i16.to_be_bytes());
        assert_eq!(encode(&Value::Int(7), &Type::INT8).unwrap().1, 7i64.to_be_bytes());
        let e = encode(&Value::Int(70_000), &Type::INT2).unwrap_err();
        assert_eq!(e, "parameter $1: cannot bind integer value to a parameter of type smallint: 70000 is out of range");
        let e = encode(&Value::Int(i64::MAX), &Type::INT4).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        assert_eq!(roundtrip(&Value::Int(1), &Type::BOOL), Value::Bool(true));
        assert!(encode(&Value::Int(2), &Type::BOOL).unwrap_err().contains("neither 0 nor 1"));
        assert_eq!(roundtrip(&Value::Int(-3), &Type::FLOAT8), Value::Float(-3.0));
        assert_eq!(roundtrip(&Value::Int(12), &Type::NUMERIC), Value::Decimal(Decimal::from(12)));
        assert_eq!(encode(&Value::Int(12), &Type::TEXT).unwrap(), ("binary", b"12".to_vec()));
    }

    #[test]
    fn text_is_parsed_for_typed_parameters() {
        let u = Uuid::new_v4();
        assert_eq!(roundtrip(&Value::Text(u.to_string()), &Type::UUID), Value::Uuid(u));
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(roundtrip(&Value::from("2024-02-29"), &Type::DATE), Value::Date(d));
        assert_eq!(
            roundtrip(&Value::from("2024-02-29 10:00:00+02:00"), &Type::TIMESTAMPTZ),
            Value::DateTimeTz(d.and_hms_opt(8, 0, 0).unwrap().and_utc())
        );
        assert_eq!(
            roundtrip(&Value::from("2024-02-29T10:00:00"), &Type::TIMESTAMP),
            Value::DateTime(d.and_hms_opt(10, 0, 0).unwrap())
        );
        let (_, jsonb) = encode(&Value::from(r#"{"a": 1}"#), &Type::JSONB).unwrap();
        assert_eq!(jsonb[0], 1, "jsonb starts with its version byte");
        assert_eq!(roundtrip(&Value::from(r#"{"a": 1}"#), &Type::JSONB), Value::Json(serde_json::json!({"a": 1})));
        assert!(encode(&Value::from("{nope"), &Type::JSON).unwrap_err().contains("does not parse"));
        assert!(encode(&Value::from("not-a-uuid"), &Type::UUID).unwrap_err().contains("type uuid"));
        assert_eq!(roundtrip(&Value::from(" 42 "), &Type::INT4), Value::Int(42));
        assert_eq!(roundtrip(&Value::from("off"), &Type::BOOL), Value::Bool(false));
    }

    #[test]
    fn datetimes_follow_the_utc_rule() {
        let naive = NaiveDate::from_ymd_opt(2030, 1, 1).unwrap().and_hms_micro_opt(12, 0, 0, 5).unwrap();
        assert_eq!(roundtrip(&Value::DateTime(naive), &Type::TIMESTAMPTZ), Value::DateTimeTz(naive.and_utc()));
        assert_eq!(roundtrip(&Value::DateTimeTz(naive.and_utc()), &Type::TIMESTAMP), Value::DateTime(naive));
        let t = NaiveTime::from_hms_micro_opt(23, 59, 58, 999_999).unwrap();
        assert_eq!(roundtrip(&Value::Time(t), &Type::TIME), Value::Time(t));
    }

    #[test]
    fn json_uuid_and_decimal_go_to_their_types_or_text() {
        let j = serde_json::json!({"k": [1, "two", null]});
        assert_eq!(roundtrip(&Value::Json(j.clone()), &Type::JSONB), Value::Json(j.clone()));
        assert_eq!(roundtrip(&Value::Json(j.clone()), &Type::JSON), Value::Json(j.clone()));
        assert_eq!(encode(&Value::Json(j.clone()), &Type::TEXT).unwrap().1, j.to_string().into_bytes());
        let u = Uuid::new_v4();
        assert_eq!(encode(&Value::Uuid(u), &Type::VARCHAR).unwrap().1, u.hyphenated().to_string().into_bytes());
        let d: Decimal = "-12.3400".parse().unwrap();
        let back = roundtrip(&Value::Decimal(d), &Type::NUMERIC);
        assert_eq!(back, Value::Decimal(d));
        assert_eq!(encode(&Value::Decimal(d), &Type::TEXT).unwrap().1, b"-12.3400");
    }

    #[test]
    fn floats_into_numeric_and_unknown_types_travel_as_text() {
        assert_eq!(encode(&Value::Float(0.1), &Type::NUMERIC).unwrap(), ("text", b"0.1".to_vec()));
        assert_eq!(encode(&Value::Float(f64::NAN), &Type::NUMERIC).unwrap(), ("text", b"NaN".to_vec()));
        assert_eq!(encode(&Value::Float(1e308), &Type::NUMERIC).unwrap(), ("text", b"1e308".to_vec()));
        assert_eq!(encode(&Value::from("1 day"), &Type::INTERVAL).unwrap(), ("text", b"1 day".to_vec()));
        assert_eq!(encode(&Value::from("{1,2}"), &Type::INT4_ARRAY).unwrap(), ("text", b"{1,2}".to_vec()));
        assert!(encode(&Value::Bytes(vec![1]), &Type::INET).is_err());
        let nan = roundtrip(&Value::Float(f64::NAN), &Type::FLOAT8);
        assert!(matches!(nan, Value::Float(f) if f.is_nan()));
        assert!(encode(&Value::Float(1e300), &Type::FLOAT4).unwrap_err().contains("out of range"));
    }

    #[test]
    fn mismatches_name_the_value_and_the_type() {
        let e = encode(&Value::Bytes(vec![1, 2]), &Type::INT4).unwrap_err();
        assert_eq!(e, "parameter $1: cannot bind a bytes value to a parameter of type integer");
        let e = encode(&Value::Uuid(Uuid::nil()), &Type::TIMESTAMPTZ).unwrap_err();
        assert!(e.contains("uuid") && e.contains("timestamp with time zone"), "{e}");
        assert_eq!(encode(&Value::Null, &Type::INT4).unwrap().1, b"NULL");
    }

    #[test]
    fn cells_decode_by_type() {
        assert_eq!(decode(&Type::TEXT, b"hi").unwrap(), ValueRef::Text("hi"));
        assert_eq!(decode(&Type::JSONB, b"\x01[1]").unwrap(), ValueRef::Json("[1]"));
        assert_eq!(decode(&Type::INT2, &5i16.to_be_bytes()).unwrap(), ValueRef::Int(5));
        assert_eq!(decode(&Type::OID, &7u32.to_be_bytes()).unwrap(), ValueRef::Int(7));
        // numeric NaN: ndigits 0, weight 0, sign 0xC000, dscale 0
        let e = decode(&Type::NUMERIC, &[0, 0, 0, 0, 0xC0, 0, 0, 0]).unwrap_err();
        assert_eq!(e.to_string(), "numeric NaN has no decimal value; cast it to float8 or text in SQL");
        let e = decode(&Type::INTERVAL, &[0; 16]).unwrap_err();
        assert!(e.to_string().contains("cast it to text"), "{e}");
        assert!(decode(&Type::TEXT, &[0xff]).unwrap_err().to_string().contains("UTF-8"));
    }
}
