//! `Value` ↔ the `mysql` crate's values, and [`Row`] for `mysql::Row`.
//!
//! Parameters travel in the binary protocol: booleans as 0/1, dates and datetimes as MySQL
//! date values (instants as their UTC wall time: every session runs with `time_zone =
//! '+00:00'`), UUIDs as hyphenated text (`CHAR(36)`), JSON and decimals as their text.
//!
//! Cells are read through the column metadata the server sends with each result: the
//! column type separates `DECIMAL` from text, `DATE` from `DATETIME` and `JSON` from
//! `LONGTEXT`, and the character set separates binary strings (charset 63) from text.

use crate::cell::Cell;
use crate::error::{Error, ErrorKind, Result};
use crate::row::{out_of_range, Row};
use crate::value::ValueRef;
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use mysql::consts::ColumnType;
use mysql::Value as My;
use rust_decimal::Decimal;

/// The character-set number MySQL reports for binary strings (`BLOB`, `VARBINARY`, `BINARY`).
pub(crate) const BINARY_CHARSET: u16 = 63;

/// Converts the parameters of one statement, rejecting what MySQL cannot store before
/// anything is sent. Borrowed text and bytes are copied once, into the driver's values.
pub(crate) fn to_params<'a>(params: impl ExactSizeIterator<Item = ValueRef<'a>>) -> Result<mysql::Params> {
    if params.len() == 0 {
        return Ok(mysql::Params::Empty);
    }
    params.enumerate().map(|(i, v)| to_mysql(i + 1, v)).collect::<Result<Vec<_>>>().map(mysql::Params::Positional)
}

fn data_error(n: usize, what: String) -> Error {
    Error::new(ErrorKind::DataError, format!("parameter {n}: {what}"))
}

fn check_year(n: usize, year: i32) -> Result<u16> {
    match u16::try_from(year) {
        Ok(y) if y <= 9999 => Ok(y),
        _ => Err(data_error(n, format!("MySQL cannot store the year {year} (its dates span years 0 to 9999)"))),
    }
}

/// Microseconds of a time; a leap second (nanoseconds ≥ 10⁹) saturates to the last
/// microsecond of the second.
fn micros(t: &impl Timelike) -> u32 {
    (t.nanosecond() / 1_000).min(999_999)
}

fn datetime(n: usize, dt: &NaiveDateTime) -> Result<My> {
    Ok(My::Date(
        check_year(n, dt.year())?,
        dt.month() as u8,
        dt.day() as u8,
        dt.hour() as u8,
        dt.minute() as u8,
        dt.second() as u8,
        micros(dt),
    ))
}

/// One parameter (`n` is 1-based, for error messages).
pub(crate) fn to_mysql(n: usize, v: ValueRef<'_>) -> Result<My> {
    Ok(match v {
        ValueRef::Null => My::NULL,
        ValueRef::Bool(b) => My::Int(i64::from(b)),
        ValueRef::Int(i) => My::Int(i),
        ValueRef::Float(f) => {
            if f.is_nan() {
                return Err(data_error(n, "MySQL cannot store NaN in a float column".into()));
            }
            if f.is_infinite() {
                return Err(data_error(n, format!("MySQL cannot store {f} in a float column")));
            }
            My::Double(f)
        }
        ValueRef::Text(s) => My::Bytes(s.as_bytes().to_vec()),
        ValueRef::Bytes(b) => My::Bytes(b.to_vec()),
        ValueRef::Date(d) => My::Date(check_year(n, d.year())?, d.month() as u8, d.day() as u8, 0, 0, 0, 0),
        ValueRef::Time(t) => My::Time(false, 0, t.hour() as u8, t.minute() as u8, t.second() as u8, micros(&t)),
        ValueRef::DateTime(dt) => datetime(n, &dt)?,
        ValueRef::DateTimeTz(dt) => datetime(n, &dt.naive_utc())?,
        ValueRef::Uuid(u) => My::Bytes(u.hyphenated().to_string().into_bytes()),
        ValueRef::JsonValue(j) => My::Bytes(j.to_string().into_bytes()),
        // JSON text goes as the owned value would: parsed and written compactly.
        ValueRef::Json(_) => return to_mysql(n, v.to_owned_value().as_ref()),
        ValueRef::Decimal(d) => My::Bytes(d.to_string().into_bytes()),
    })
}

fn conversion(index: usize, name: Option<&str>, what: String) -> Error {
    let column = match name {
        Some(n) => format!("column {index} (`{n}`)"),
        None => format!("column {index}"),
    };
    Error::new(ErrorKind::Conversion, format!("cannot read {column}: {what}"))
}

/// Widens a `FLOAT` cell through its shortest decimal form, so `0.1` stored in a `FLOAT`
/// reads back as `0.1` rather than `0.10000000149011612`.
fn widen(f: f32) -> f64 {
    use std::io::Write;
    if !f.is_finite() {
        return f64::from(f);
    }
    let mut buf = [0u8; 32];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    if write!(cursor, "{f:e}").is_err() {
        return f64::from(f);
    }
    let len = cursor.position() as usize;
    std::str::from_utf8(&buf[..len]).ok().and_then(|s| s.parse().ok()).unwrap_or(f64::from(f))
}

/// Whether a bytes cell of `col` is text as [`value_ref`] reads it (not a decimal, JSON, BIT
/// or binary string).
#[inline]
fn is_text(col: &mysql::Column) -> bool {
    !matches!(
        col.column_type(),
        ColumnType::MYSQL_TYPE_DECIMAL
            | ColumnType::MYSQL_TYPE_NEWDECIMAL
            | ColumnType::MYSQL_TYPE_JSON
            | ColumnType::MYSQL_TYPE_BIT
    ) && col.character_set() != BINARY_CHARSET
}

/// The cell `v` of column `col` (at `index`), borrowed.
pub(crate) fn value_ref<'a>(v: &'a My, col: &mysql::Column, index: usize) -> Result<ValueRef<'a>> {
    let name = || std::str::from_utf8(col.name_ref()).ok();
    Ok(match v {
        My::NULL => ValueRef::Null,
        My::Int(i) => ValueRef::Int(*i),
        My::UInt(u) => ValueRef::Int(
            i64::try_from(*u)
                .map_err(|_| conversion(index, name(), format!("the unsigned integer {u} does not fit an i64")))?,
        ),
        My::Float(f) => ValueRef::Float(widen(*f)),
        My::Double(d) => ValueRef::Float(*d),
        My::Bytes(b) => match col.column_type() {
            ColumnType::MYSQL_TYPE_DECIMAL | ColumnType::MYSQL_TYPE_NEWDECIMAL => {
                let text = std::str::from_utf8(b)
                    .map_err(|e| conversion(index, name(), format!("the decimal is not ASCII: {e}")))?;
                // A DECIMAL(65, 30) can exceed rust_decimal's 28 digits: such a value stays
                // text, and decoding it as `Decimal` reports the overflow.
                match text.parse::<Decimal>() {
                    Ok(d) => ValueRef::Decimal(d),
                    Err(_) => ValueRef::Text(text),
                }
            }
            ColumnType::MYSQL_TYPE_JSON => ValueRef::Json(
                std::str::from_utf8(b).map_err(|e| conversion(index, name(), format!("the JSON is not UTF-8: {e}")))?,
            ),
            ColumnType::MYSQL_TYPE_BIT if b.len() <= 8 => {
                ValueRef::Int(b.iter().fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte)) as i64)
            }
            _ if col.character_set() == BINARY_CHARSET => ValueRef::Bytes(b),
            // Text that is not UTF-8 (a binary string compared as text, a latin1 column read
            // through a utf8mb4 session cannot produce it) is lent as bytes: decoding it as
            // `String` then reports the UTF-8 error, and `Vec<u8>` still works.
            _ => match std::str::from_utf8(b) {
                Ok(s) => ValueRef::Text(s),
                Err(_) => ValueRef::Bytes(b),
            },
        },
        &My::Date(y, m, d, h, mi, s, us) => {
            let date = NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d)).ok_or_else(|| {
                conversion(index, name(), format!("{y:04}-{m:02}-{d:02} is not a calendar date (a MySQL zero date?)"))
            })?;
            match col.column_type() {
                ColumnType::MYSQL_TYPE_DATE | ColumnType::MYSQL_TYPE_NEWDATE => ValueRef::Date(date),
                _ => {
                    let time = NaiveTime::from_hms_micro_opt(u32::from(h), u32::from(mi), u32::from(s), us)
                        .ok_or_else(|| {
                            conversion(index, name(), format!("{h:02}:{mi:02}:{s:02}.{us:06} is not a time of day"))
                        })?;
                    ValueRef::DateTime(date.and_time(time))
                }
            }
        }
        &My::Time(negative, days, h, m, s, us) => {
            if negative || days > 0 {
                let sign = if negative { "-" } else { "" };
                let hours = u64::from(days) * 24 + u64::from(h);
                return Err(conversion(
                    index,
                    name(),
                    format!("the TIME {sign}{hours}:{m:02}:{s:02} is a duration, not a time of day"),
                ));
            }
            ValueRef::Time(NaiveTime::from_hms_micro_opt(u32::from(h), u32::from(m), u32::from(s), us).ok_or_else(
                || conversion(index, name(), format!("{h:02}:{m:02}:{s:02}.{us:06} is not a time of day")),
            )?)
        }
    })
}

impl Row for mysql::Row {
    fn column_count(&self) -> usize {
        self.len()
    }

    fn column_name(&self, index: usize) -> Option<&str> {
        self.columns_ref().get(index).and_then(|c| std::str::from_utf8(c.name_ref()).ok())
    }

    /// The common kinds straight off the driver's cell, as `value_ref` reads them; the
    /// rest (decimals, JSON, BIT, binary strings, dates, unsigned integers) is `OTHER`.
    #[inline]
    fn cell(&self, index: usize) -> Cell<'_> {
        let (Some(col), Some(v)) = (self.columns_ref().get(index), self.as_ref(index)) else {
            return Cell::OTHER;
        };
        match v {
            My::NULL => Cell::NULL,
            My::Int(i) => Cell::int(*i),
            My::Double(d) => Cell::float(*d),
            My::Bytes(b) if is_text(col) => std::str::from_utf8(b).map_or(Cell::OTHER, Cell::text),
            _ => Cell::OTHER,
        }
    }

    fn value_ref(&self, index: usize) -> Result<ValueRef<'_>> {
        let columns = self.columns_ref();
        match (columns.get(index), self.as_ref(index)) {
            (Some(col), Some(v)) => value_ref(v, col, index),
            _ => Err(out_of_range(index, self.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;
    use mysql::consts::{ColumnFlags, ColumnType as T};

    fn col(t: T, charset: u16) -> mysql::Column {
        mysql::Column::new(t).with_character_set(charset).with_name(b"c")
    }

    /// The cell fast path takes a bytes cell as text exactly where `value_ref` lends text.
    #[test]
    fn the_cell_path_reads_text_where_value_ref_does() {
        let utf8 = 45;
        let hello = My::Bytes(b"12.5".to_vec());
        for (t, charset) in [
            (T::MYSQL_TYPE_VAR_STRING, utf8),
            (T::MYSQL_TYPE_BLOB, utf8),
            (T::MYSQL_TYPE_VAR_STRING, BINARY_CHARSET),
            (T::MYSQL_TYPE_NEWDECIMAL, BINARY_CHARSET),
            (T::MYSQL_TYPE_JSON, utf8),
            (T::MYSQL_TYPE_BIT, BINARY_CHARSET),
        ] {
            let c = col(t, charset);
            let lent_as_text = matches!(value_ref(&hello, &c, 0).unwrap(), ValueRef::Text(_));
            assert_eq!(is_text(&c), lent_as_text, "{t:?} in charset {charset}");
        }
    }

    #[test]
    fn parameters_take_mysql_shapes() {
        let dt = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap().and_hms_micro_opt(1, 2, 3, 456_789).unwrap();
        assert_eq!(to_mysql(1, Value::Bool(true).as_ref()).unwrap(), My::Int(1));
        assert_eq!(to_mysql(1, Value::DateTime(dt).as_ref()).unwrap(), My::Date(2024, 2, 29, 1, 2, 3, 456_789));
        assert_eq!(to_mysql(1, Value::Date(dt.date()).as_ref()).unwrap(), My::Date(2024, 2, 29, 0, 0, 0, 0));
        assert_eq!(to_mysql(1, Value::Time(dt.time()).as_ref()).unwrap(), My::Time(false, 0, 1, 2, 3, 456_789));
        let tz = chrono::DateTime::parse_from_rfc3339("2024-03-10T12:34:56+05:30").unwrap();
        assert_eq!(to_mysql(1, Value::from(tz).as_ref()).unwrap(), My::Date(2024, 3, 10, 7, 4, 56, 0));
        let u = uuid::Uuid::nil();
        assert_eq!(to_mysql(1, Value::Uuid(u).as_ref()).unwrap(), My::Bytes(u.hyphenated().to_string().into_bytes()));
        assert_eq!(
            to_mysql(1, Value::Decimal("-0.5000".parse().unwrap()).as_ref()).unwrap(),
            My::Bytes(b"-0.5000".to_vec())
        );
        assert!(matches!(to_params(std::iter::empty()).unwrap(), mysql::Params::Empty));
    }

    #[test]
    fn floats_mysql_cannot_store_are_data_errors() {
        for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let e = to_params([Value::Int(1), Value::Float(f)].iter().map(Value::as_ref)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::DataError);
            assert!(e.message().starts_with("parameter 2: MySQL cannot store"), "{e}");
        }
        let far = NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap();
        assert_eq!(to_mysql(1, Value::Date(far).as_ref()).unwrap_err().kind(), ErrorKind::DataError);
    }

    #[test]
    fn cells_are_read_by_column_type_and_charset() {
        let dec = My::Bytes(b"12.3400".to_vec());
        let d = value_ref(&dec, &col(T::MYSQL_TYPE_NEWDECIMAL, 63), 0).unwrap();
        assert_eq!(d, ValueRef::Decimal("12.3400".parse().unwrap()));
        let blob = My::Bytes(vec![0, 255]);
        assert_eq!(value_ref(&blob, &col(T::MYSQL_TYPE_BLOB, 63), 0).unwrap(), ValueRef::Bytes(&[0, 255]));
        let text = My::Bytes("ünï".as_bytes().to_vec());
        assert_eq!(value_ref(&text, &col(T::MYSQL_TYPE_VAR_STRING, 224), 0).unwrap(), ValueRef::Text("ünï"));
        let json = My::Bytes(b"{\"a\":1}".to_vec());
        assert_eq!(value_ref(&json, &col(T::MYSQL_TYPE_JSON, 63), 0).unwrap(), ValueRef::Json("{\"a\":1}"));
        let bit = My::Bytes(vec![1, 0]);
        assert_eq!(value_ref(&bit, &col(T::MYSQL_TYPE_BIT, 63), 0).unwrap(), ValueRef::Int(256));
        let date = My::Date(2024, 2, 29, 0, 0, 0, 0);
        assert_eq!(
            value_ref(&date, &col(T::MYSQL_TYPE_DATE, 63), 0).unwrap(),
            ValueRef::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap())
        );
        assert!(matches!(value_ref(&date, &col(T::MYSQL_TYPE_DATETIME, 63), 0).unwrap(), ValueRef::DateTime(_)));
        let float = My::Float(0.1);
        assert_eq!(value_ref(&float, &col(T::MYSQL_TYPE_FLOAT, 63), 0).unwrap(), ValueRef::Float(0.1));
    }

    #[test]
    fn cells_outside_the_value_model_are_conversion_errors() {
        let big = My::UInt(u64::MAX);
        let c = col(T::MYSQL_TYPE_LONGLONG, 63).with_flags(ColumnFlags::UNSIGNED_FLAG);
        let e = value_ref(&big, &c, 3).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conversion);
        assert!(e.message().contains("column 3 (`c`)"), "{e}");
        let long = My::Time(false, 1, 2, 0, 0, 0);
        assert!(value_ref(&long, &col(T::MYSQL_TYPE_TIME, 63), 0).unwrap_err().message().contains("26:00:00"));
        let negative = My::Time(true, 0, 1, 0, 0, 0);
        assert_eq!(value_ref(&negative, &col(T::MYSQL_TYPE_TIME, 63), 0).unwrap_err().kind(), ErrorKind::Conversion);
        let zero = My::Date(0, 0, 0, 0, 0, 0, 0);
        assert!(value_ref(&zero, &col(T::MYSQL_TYPE_DATETIME, 63), 0).unwrap_err().message().contains("zero date"));
    }
}
