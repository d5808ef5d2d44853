//! The neutral value type: what travels as a bound parameter and what a row cell decodes to.
//!
//! [`Value`] is owned and is what parameters are made of. [`ValueRef`] is the borrowed view a
//! [`Row`](crate::Row) lends for one cell without copying text or bytes; decoders read a
//! `ValueRef` straight into a struct field through [`FromValue`].
//!
//! Conversions are lenient where a backend stores a type in another shape (SQLite keeps
//! booleans as integers and datetimes as text; MySQL keeps JSON as text and UUIDs as
//! `CHAR(36)`), and strict everywhere else: a failed conversion is a [`ConversionError`] that
//! says what was expected and what came.

use crate::cell::{Cell, CellRef};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::fmt;
use uuid::Uuid;

/// An owned value: a bound parameter, or a cell read out of a row.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// Any integer that fits an `i64`.
    Int(i64),
    /// A double-precision float.
    Float(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A calendar date.
    Date(NaiveDate),
    /// A time of day.
    Time(NaiveTime),
    /// A date and time without a time zone.
    DateTime(NaiveDateTime),
    /// An instant, normalised to UTC.
    DateTimeTz(DateTime<Utc>),
    /// A UUID.
    Uuid(Uuid),
    /// A JSON document.
    Json(serde_json::Value),
    /// An exact decimal number.
    Decimal(Decimal),
}

/// A borrowed cell value, lent by a [`Row`](crate::Row) without copying.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum ValueRef<'a> {
    /// SQL `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Text(&'a str),
    /// Bytes.
    Bytes(&'a [u8]),
    /// A date.
    Date(NaiveDate),
    /// A time of day.
    Time(NaiveTime),
    /// A date and time without a zone.
    DateTime(NaiveDateTime),
    /// An instant in UTC.
    DateTimeTz(DateTime<Utc>),
    /// A UUID.
    Uuid(Uuid),
    /// A JSON document, as its text.
    Json(&'a str),
    /// A parsed JSON document.
    JsonValue(&'a serde_json::Value),
    /// A decimal.
    Decimal(Decimal),
}

impl Value {
    /// Borrows this value as a [`ValueRef`].
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Bytes(b) => ValueRef::Bytes(b),
            Value::Date(d) => ValueRef::Date(*d),
            Value::Time(t) => ValueRef::Time(*t),
            Value::DateTime(d) => ValueRef::DateTime(*d),
            Value::DateTimeTz(d) => ValueRef::DateTimeTz(*d),
            Value::Uuid(u) => ValueRef::Uuid(*u),
            Value::Json(j) => ValueRef::JsonValue(j),
            Value::Decimal(d) => ValueRef::Decimal(*d),
        }
    }

    /// Is this `NULL`?
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The name of this value's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::DateTime(_) => "datetime",
            Value::DateTimeTz(_) => "datetime with time zone",
            Value::Uuid(_) => "uuid",
            Value::Json(_) => "json",
            Value::Decimal(_) => "decimal",
        }
    }

    /// Decodes this value into `T`.
    pub fn get<T: FromValue>(&self) -> Result<T, ConversionError> {
        T::from_value_ref(self.as_ref())
    }
}

impl<'a> ValueRef<'a> {
    /// The name of this value's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ValueRef::Null => "null",
            ValueRef::Bool(_) => "bool",
            ValueRef::Int(_) => "integer",
            ValueRef::Float(_) => "float",
            ValueRef::Text(_) => "text",
            ValueRef::Bytes(_) => "bytes",
            ValueRef::Date(_) => "date",
            ValueRef::Time(_) => "time",
            ValueRef::DateTime(_) => "datetime",
            ValueRef::DateTimeTz(_) => "datetime with time zone",
            ValueRef::Uuid(_) => "uuid",
            ValueRef::Json(_) | ValueRef::JsonValue(_) => "json",
            ValueRef::Decimal(_) => "decimal",
        }
    }

    /// Copies this borrowed value into an owned [`Value`]. JSON text that does not parse stays
    /// text.
    pub fn to_owned_value(&self) -> Value {
        match *self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
            ValueRef::Date(d) => Value::Date(d),
            ValueRef::Time(t) => Value::Time(t),
            ValueRef::DateTime(d) => Value::DateTime(d),
            ValueRef::DateTimeTz(d) => Value::DateTimeTz(d),
            ValueRef::Uuid(u) => Value::Uuid(u),
            ValueRef::JsonValue(j) => Value::Json(j.clone()),
            ValueRef::Json(s) => match serde_json::from_str(s) {
                Ok(j) => Value::Json(j),
                Err(_) => Value::Text(s.to_owned()),
            },
            ValueRef::Decimal(d) => Value::Decimal(d),
        }
    }

    fn err(&self, expected: &'static str) -> ConversionError {
        ConversionError::new(expected, self.kind_name(), None)
    }

    fn text(&self) -> Option<&'a str> {
        match *self {
            ValueRef::Text(s) | ValueRef::Json(s) => Some(s),
            ValueRef::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

/// A cell could not be converted to the Rust type asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversionError {
    /// What the decoder expected (a Rust type or a shape).
    pub expected: &'static str,
    /// What the cell held.
    pub found: String,
    /// Detail, such as the parse error.
    pub detail: Option<String>,
    /// The column's index, when decoding from a row.
    pub column: Option<usize>,
    /// The column's name, when known.
    pub column_name: Option<String>,
}

impl ConversionError {
    /// A conversion error: `expected` wanted, `found` came.
    pub fn new(expected: &'static str, found: impl Into<String>, detail: Option<String>) -> Self {
        ConversionError { expected, found: found.into(), detail, column: None, column_name: None }
    }

    /// Attaches the column this error came from.
    pub fn at_column(mut self, index: usize, name: Option<&str>) -> Self {
        self.column = Some(index);
        self.column_name = name.map(str::to_owned);
        self
    }
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot convert ")?;
        match (&self.column, &self.column_name) {
            (Some(i), Some(n)) => write!(f, "column {i} (`{n}`) ")?,
            (Some(i), None) => write!(f, "column {i} ")?,
            _ => {}
        }
        write!(f, "to {}: found {}", self.expected, self.found)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConversionError {}

/// A bound parameter that borrows from the Rust value it came from where it can (text,
/// bytes, JSON), so binding a field does not copy it: see [`ToValue::to_param`].
#[derive(Clone, Debug, PartialEq)]
pub enum Param<'a> {
    /// Borrowed from the value.
    Borrowed(ValueRef<'a>),
    /// Made for the occasion (numbers, and types that only know [`ToValue::to_value`]).
    Owned(Value),
}

impl Param<'_> {
    /// The parameter as a borrowed value.
    pub fn as_value_ref(&self) -> ValueRef<'_> {
        match self {
            Param::Borrowed(v) => *v,
            Param::Owned(v) => v.as_ref(),
        }
    }
}

/// Converts a Rust value into a bound parameter.
pub trait ToValue {
    /// The parameter value.
    fn to_value(&self) -> Value;

    /// The parameter, borrowed from `self` where it can be (text, bytes, JSON), so binding
    /// costs no copy. The default owns [`to_value`](ToValue::to_value)'s result, which is
    /// right for every type that does not hold text or bytes.
    fn to_param(&self) -> Param<'_> {
        Param::Owned(self.to_value())
    }

    /// The parameter value, taking `self` (a `String` moves into the value instead of being
    /// copied). The default is [`to_value`](ToValue::to_value).
    fn into_value(self) -> Value
    where
        Self: Sized,
    {
        self.to_value()
    }
}

/// Decodes a borrowed cell into a Rust value.
pub trait FromValue: Sized {
    /// Decodes `v`, or says what was wrong.
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError>;

    /// Decodes a cell of the common kinds ([`CellRef`]), or `None` when this type wants the
    /// cell as a [`ValueRef`] instead (then [`from_value_ref`](FromValue::from_value_ref)
    /// decides). Decoders try this first: a [`Cell`](crate::Cell) comes back from the row in
    /// registers. The default is `None`; an override must agree with `from_value_ref` on
    /// every cell it accepts.
    #[inline]
    fn from_cell(cell: CellRef<'_>) -> Option<Result<Self, ConversionError>> {
        let _ = cell;
        None
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
    fn to_param(&self) -> Param<'_> {
        Param::Borrowed(self.as_ref())
    }
    fn into_value(self) -> Value {
        self
    }
}

impl FromValue for Value {
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        Ok(v.to_owned_value())
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
    fn to_param(&self) -> Param<'_> {
        (**self).to_param()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
    fn to_param(&self) -> Param<'_> {
        match self {
            Some(v) => v.to_param(),
            None => Param::Borrowed(ValueRef::Null),
        }
    }
    fn into_value(self) -> Value {
        match self {
            Some(v) => v.into_value(),
            None => Value::Null,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    #[inline]
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_value_ref(v).map(Some),
        }
    }
    #[inline]
    fn from_cell(cell: CellRef<'_>) -> Option<Result<Self, ConversionError>> {
        match cell {
            CellRef::Null => Some(Ok(None)),
            c => T::from_cell(c).map(|r| r.map(Some)),
        }
    }
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(i64::from(*self))
            }
            /// A number needs no owner: [`Param::Borrowed`] holds it by value, so dropping
            /// the parameter is free (an owned [`Value`] goes through its drop glue).
            #[inline]
            fn to_param(&self) -> Param<'_> {
                Param::Borrowed(ValueRef::Int(i64::from(*self)))
            }
        }
        impl FromValue for $t {
            #[inline]
            fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
                let wide = match v {
                    ValueRef::Int(i) => i,
                    other => int_from_other(other, stringify!($t))?,
                };
                <$t>::try_from(wide).map_err(|_| int_out_of_range(stringify!($t), wide))
            }
            #[inline]
            fn from_cell(cell: CellRef<'_>) -> Option<Result<Self, ConversionError>> {
                match cell {
                    CellRef::Int(i) => Some(<$t>::try_from(i).map_err(|_| int_out_of_range(stringify!($t), i))),
                    _ => None,
                }
            }
        }
    )*};
}
int_value!(i8, i16, i32, i64, u8, u16, u32);

/// An integer from a cell that is not `Int` (the rare cases, kept out of the inlined decoders).
#[inline(never)]
fn int_from_other(v: ValueRef<'_>, expected: &'static str) -> Result<i64, ConversionError> {
    match v {
        ValueRef::Int(i) => Ok(i),
        ValueRef::Bool(b) => Ok(i64::from(b)),
        ValueRef::Decimal(d) if d.fract().is_zero() => {
            i64::try_from(d).map_err(|e| ConversionError::new(expected, "decimal", Some(e.to_string())))
        }
        // A whole float, as a function over integers gives on some servers (PostgreSQL's
        // `SIGN(bigint)` is `SIGN(double precision)`); Django's integer output converts it too.
        ValueRef::Float(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
        ValueRef::Text(s) => {
            s.trim().parse::<i64>().map_err(|e| ConversionError::new(expected, "text", Some(e.to_string())))
        }
        other => Err(other.err(expected)),
    }
}

#[cold]
fn int_out_of_range(expected: &'static str, wide: i64) -> ConversionError {
    ConversionError::new(expected, format!("integer {wide}"), Some("out of range".into()))
}

impl ToValue for u64 {
    /// Values above `i64::MAX` cannot be stored portably; they saturate to text so the server
    /// rejects them with its own message instead of wrapping around.
    fn to_value(&self) -> Value {
        match i64::try_from(*self) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Text(self.to_string()),
        }
    }
}

impl FromValue for u64 {
    #[inline]
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        let i = i64::from_value_ref(v).map_err(|mut e| {
            e.expected = "u64";
            e
        })?;
        u64::try_from(i).map_err(|_| ConversionError::new("u64", format!("integer {i}"), Some("negative".into())))
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
    #[inline]
    fn to_param(&self) -> Param<'_> {
        Param::Borrowed(ValueRef::Bool(*self))
    }
}

impl FromValue for bool {
    #[inline]
    fn from_cell(cell: CellRef<'_>) -> Option<Result<Self, ConversionError>> {
        match cell {
            CellRef::Int(0) => Some(Ok(false)),
            CellRef::Int(1) => Some(Ok(true)),
            _ => None,
        }
    }
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::Bool(b) => Ok(b),
            ValueRef::Int(0) => Ok(false),
            ValueRef::Int(1) => Ok(true),
            ValueRef::Text("0" | "f" | "false") => Ok(false),
            ValueRef::Text("1" | "t" | "true") => Ok(true),
            other => Err(other.err("bool")),
        }
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Float(*self)
    }
    #[inline]
    fn to_param(&self) -> Param<'_> {
        Param::Borrowed(ValueRef::Float(*self))
    }
}

impl ToValue for f32 {
    fn to_value(&self) -> Value {
        Value::Float(f64::from(*self))
    }
    #[inline]
    fn to_param(&self) -> Param<'_> {
        Param::Borrowed(ValueRef::Float(f64::from(*self)))
    }
}

impl FromValue for f64 {
    #[inline]
    fn from_cell(cell: CellRef<'_>) -> Option<Result<Self, ConversionError>> {
        match cell {
            CellRef::Float(f) => Some(Ok(f)),
            CellRef::Int(i) => Some(Ok(i as f64)),
            _ => None,
        }
    }
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::Float(f) => Ok(f),
            ValueRef::Int(i) => Ok(i as f64),
            ValueRef::Decimal(d) => {
                use rust_decimal::prelude::ToPrimitive;
                d.to_f64().ok_or_else(|| v.err("f64"))
            }
            ValueRef::Text(s) => {
                s.trim().parse::<f64>().map_err(|e| ConversionError::new("f64", "text", Some(e.to_string())))
            }
            other => Err(other.err("f64")),
        }
    }
}

impl FromValue for f32 {
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        f64::from_value_ref(v).map(|f| f as f32).map_err(|mut e| {
            e.expected = "f32";
            e
        })
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
    fn to_param(&self) -> Param<'_> {
        Param::Borrowed(ValueRef::Text(self))
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
    fn to_param(&self) -> Param<'_> {
        Param::Borrowed(ValueRef::Text(self))
    }
    fn into_value(self) -> Value {
        Value::Text(self)
    }
}

impl ToValue for Cow<'_, str> {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
    fn to_param(&self) -> Param<'_> {
        Param::Borrowed(ValueRef::Text(self))
    }
}

impl FromValue for String {
    #[inline]
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::Text(s) => Ok(s.to_owned()),
            other => string_from_other(other),
        }
    }
    #[inline]
    fn from_cell(cell: CellRef<'_>) -> Option<Result<Self, ConversionError>> {
        match cell {
            CellRef::Text(s) => Some(Ok(s.to_owned())),
            _ => None,
        }
    }
}

/// A `String` from a cell that is not `Text` (kept out of the inlined decoder).
#[inline(never)]
fn string_from_other(v: ValueRef<'_>) -> Result<String, ConversionError> {
    match v {
        ValueRef::Text(s) | ValueRef::Json(s) => Ok(s.to_owned()),
        ValueRef::JsonValue(j) => Ok(j.to_string()),
        ValueRef::Bytes(b) => {
            String::from_utf8(b.to_vec()).map_err(|e| ConversionError::new("String", "bytes", Some(e.to_string())))
        }
        ValueRef::Uuid(u) => Ok(u.to_string()),
        ValueRef::Decimal(d) => Ok(d.to_string()),
        other => Err(other.err("String")),
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Bytes(self.to_vec())
    }
    fn to_param(&self) -> Param<'_> {
        Param::Borrowed(ValueRef::Bytes(self))
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Bytes(self.clone())
    }
    fn to_param(&self) -> Param<'_> {
        Param::Borrowed(ValueRef::Bytes(self))
    }
    fn into_value(self) -> Value {
        Value::Bytes(self)
    }
}

impl FromValue for Vec<u8> {
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::Bytes(b) => Ok(b.to_vec()),
            ValueRef::Text(s) => Ok(s.as_bytes().to_vec()),
            other => Err(other.err("Vec<u8>")),
        }
    }
}

impl ToValue for NaiveDate {
    fn to_value(&self) -> Value {
        Value::Date(*self)
    }
}

impl FromValue for NaiveDate {
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::Date(d) => Ok(d),
            ValueRef::DateTime(d) => Ok(d.date()),
            other => match other.text() {
                Some(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                    .map_err(|e| ConversionError::new("NaiveDate", "text", Some(format!("{s:?}: {e}")))),
                None => Err(other.err("NaiveDate")),
            },
        }
    }
}

impl ToValue for NaiveTime {
    fn to_value(&self) -> Value {
        Value::Time(*self)
    }
}

impl FromValue for NaiveTime {
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::Time(t) => Ok(t),
            other => match other.text() {
                Some(s) => NaiveTime::parse_from_str(s.trim(), "%H:%M:%S%.f")
                    .map_err(|e| ConversionError::new("NaiveTime", "text", Some(format!("{s:?}: {e}")))),
                None => Err(other.err("NaiveTime")),
            },
        }
    }
}

/// Parses the datetime text forms the backends produce: `YYYY-MM-DD HH:MM:SS[.f]`, with `T`
/// as the separator, with or without a trailing offset.
pub(crate) fn parse_datetime_text(s: &str) -> Option<(NaiveDateTime, Option<FixedOffset>)> {
    let s = s.trim();
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some((dt.naive_utc(), Some(*dt.offset())));
        }
    }
    if let Some(stripped) = s.strip_suffix('Z') {
        return parse_datetime_text(stripped)
            .map(|(n, _)| (n, Some(FixedOffset::east_opt(0).expect("zero offset is valid"))));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some((dt, None));
        }
    }
    None
}

impl ToValue for NaiveDateTime {
    fn to_value(&self) -> Value {
        Value::DateTime(*self)
    }
}

impl FromValue for NaiveDateTime {
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::DateTime(d) => Ok(d),
            ValueRef::DateTimeTz(d) => Ok(d.naive_utc()),
            ValueRef::Date(d) => Ok(d.and_time(NaiveTime::MIN)),
            other => match other.text() {
                Some(s) => parse_datetime_text(s).map(|(n, _)| n).ok_or_else(|| {
                    ConversionError::new("NaiveDateTime", "text", Some(format!("{s:?} is not a datetime")))
                }),
                None => Err(other.err("NaiveDateTime")),
            },
        }
    }
}

impl ToValue for DateTime<Utc> {
    fn to_value(&self) -> Value {
        Value::DateTimeTz(*self)
    }
}

impl ToValue for DateTime<FixedOffset> {
    fn to_value(&self) -> Value {
        Value::DateTimeTz(self.with_timezone(&Utc))
    }
}

impl FromValue for DateTime<Utc> {
    /// A datetime without a zone (MySQL `DATETIME`, SQLite text without offset) is read as UTC,
    /// which is how this crate writes them.
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::DateTimeTz(d) => Ok(d),
            ValueRef::DateTime(d) => Ok(d.and_utc()),
            other => match other.text() {
                Some(s) => parse_datetime_text(s).map(|(n, _)| n.and_utc()).ok_or_else(|| {
                    ConversionError::new("DateTime<Utc>", "text", Some(format!("{s:?} is not a datetime")))
                }),
                None => Err(other.err("DateTime<Utc>")),
            },
        }
    }
}

impl FromValue for DateTime<FixedOffset> {
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        DateTime::<Utc>::from_value_ref(v).map(|d| d.fixed_offset())
    }
}

impl ToValue for Uuid {
    fn to_value(&self) -> Value {
        Value::Uuid(*self)
    }
}

impl FromValue for Uuid {
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::Uuid(u) => Ok(u),
            ValueRef::Bytes(b) if b.len() == 16 => Ok(Uuid::from_slice(b).expect("16 bytes make a uuid")),
            other => match other.text() {
                Some(s) => Uuid::parse_str(s.trim())
                    .map_err(|e| ConversionError::new("Uuid", "text", Some(format!("{s:?}: {e}")))),
                None => Err(other.err("Uuid")),
            },
        }
    }
}

impl ToValue for serde_json::Value {
    fn to_value(&self) -> Value {
        Value::Json(self.clone())
    }
    fn to_param(&self) -> Param<'_> {
        Param::Borrowed(ValueRef::JsonValue(self))
    }
    fn into_value(self) -> Value {
        Value::Json(self)
    }
}

impl FromValue for serde_json::Value {
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::Null => Ok(serde_json::Value::Null),
            ValueRef::JsonValue(j) => Ok(j.clone()),
            ValueRef::Bool(b) => Ok(serde_json::Value::Bool(b)),
            ValueRef::Int(i) => Ok(serde_json::Value::from(i)),
            ValueRef::Float(f) => Ok(serde_json::Value::from(f)),
            other => match other.text() {
                Some(s) => serde_json::from_str(s)
                    .map_err(|e| ConversionError::new("JSON", other.kind_name(), Some(e.to_string()))),
                None => Err(other.err("JSON")),
            },
        }
    }
}

impl ToValue for Decimal {
    fn to_value(&self) -> Value {
        Value::Decimal(*self)
    }
}

impl FromValue for Decimal {
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::Decimal(d) => Ok(d),
            ValueRef::Int(i) => Ok(Decimal::from(i)),
            ValueRef::Float(f) => Decimal::try_from(f)
                .map(|d| d.normalize())
                .map_err(|e| ConversionError::new("Decimal", "float", Some(e.to_string()))),
            other => match other.text() {
                Some(s) => s
                    .trim()
                    .parse::<Decimal>()
                    .or_else(|_| Decimal::from_scientific(s.trim()))
                    .map_err(|e| ConversionError::new("Decimal", "text", Some(format!("{s:?}: {e}")))),
                None => Err(other.err("Decimal")),
            },
        }
    }
}

macro_rules! value_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                v.to_value()
            }
        }
    )*};
}
value_from!(
    bool,
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    u64,
    f32,
    f64,
    String,
    &str,
    Vec<u8>,
    &[u8],
    NaiveDate,
    NaiveTime,
    NaiveDateTime,
    DateTime<Utc>,
    DateTime<FixedOffset>,
    Uuid,
    serde_json::Value,
    Decimal
);

impl<T: ToValue> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.to_value()
    }
}

impl<'a> Cell<'a> {
    /// The cell of a borrowed value.
    #[inline]
    pub fn from_value_ref(v: ValueRef<'a>) -> Self {
        match v {
            ValueRef::Null => Cell::NULL,
            ValueRef::Int(i) => Cell::int(i),
            ValueRef::Float(f) => Cell::float(f),
            ValueRef::Text(s) => Cell::text(s),
            _ => Cell::OTHER,
        }
    }
}

impl From<ConversionError> for crate::error::Error {
    fn from(e: ConversionError) -> Self {
        crate::error::Error::new(crate::error::ErrorKind::Conversion, e.to_string()).with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_check_their_range() {
        assert_eq!(i16::from_value_ref(ValueRef::Int(300)).unwrap(), 300);
        let e = i8::from_value_ref(ValueRef::Int(300)).unwrap_err();
        assert_eq!(e.expected, "i8");
        assert!(e.to_string().contains("out of range"), "{e}");
    }

    #[test]
    fn text_forms_of_datetimes_parse() {
        let d = NaiveDateTime::from_value_ref(ValueRef::Text("2024-02-29 13:14:15.123456")).unwrap();
        assert_eq!(d.to_string(), "2024-02-29 13:14:15.123456");
        let z = DateTime::<Utc>::from_value_ref(ValueRef::Text("2024-02-29T13:14:15+02:00")).unwrap();
        assert_eq!(z.to_rfc3339(), "2024-02-29T11:14:15+00:00");
    }

    #[test]
    fn a_failed_conversion_says_what_came() {
        let e = Uuid::from_value_ref(ValueRef::Int(4)).unwrap_err().at_column(2, Some("id"));
        assert_eq!(e.to_string(), "cannot convert column 2 (`id`) to Uuid: found integer");
    }

    /// Every `from_cell` override agrees with `from_value_ref` wherever it answers.
    #[test]
    fn the_cell_fast_path_agrees_with_the_value_path() {
        fn agree<T: FromValue + PartialEq + fmt::Debug>(name: &str) -> usize {
            let text = String::from("12");
            let cells = [
                ValueRef::Null,
                ValueRef::Int(0),
                ValueRef::Int(1),
                ValueRef::Int(-3),
                ValueRef::Int(70_000),
                ValueRef::Int(i64::MIN),
                ValueRef::Float(2.5),
                ValueRef::Text(&text),
                ValueRef::Bool(true),
                ValueRef::Bytes(b"x"),
            ];
            let mut answered = 0;
            for v in cells {
                let Some(fast) = T::from_cell(Cell::from_value_ref(v).get()) else { continue };
                answered += 1;
                let slow = T::from_value_ref(v);
                match (fast, slow) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{name} from {v:?}"),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{name} from {v:?}"),
                    (a, b) => panic!("{name} from {v:?}: the cell path gave {a:?}, the value path {b:?}"),
                }
            }
            answered
        }
        assert_eq!(agree::<i64>("i64"), 5);
        assert_eq!(agree::<i16>("i16"), 5);
        assert_eq!(agree::<u32>("u32"), 5);
        assert_eq!(agree::<Option<i32>>("Option<i32>"), 6);
        assert_eq!(agree::<f64>("f64"), 6);
        assert_eq!(agree::<bool>("bool"), 2);
        assert_eq!(agree::<String>("String"), 1);
        assert_eq!(agree::<Option<String>>("Option<String>"), 2);
        // Types without an override always take the value path.
        assert_eq!(agree::<Uuid>("Uuid"), 0);
    }
}
