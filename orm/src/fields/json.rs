//! Values in JSON form: how fixtures, serde on relation fields and JSON lookups spell a
//! [`Value`] (bytes in base64, instants in RFC 3339, decimals as strings, as Django does).

use super::ColumnKind;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use orm_backends::{FromValue, Value};
use serde_json::{json, Value as Json};

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = B64.iter().position(|x| *x == c).ok_or_else(|| format!("`{}` is not base64", c as char))? as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// A value as JSON: dates and times as ISO-8601 text, decimals and UUIDs as text, bytes as
/// base64.
pub fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => json!(i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number).unwrap_or(Json::Null),
        Value::Text(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(base64_encode(b)),
        Value::Date(d) => Json::String(d.format("%Y-%m-%d").to_string()),
        Value::Time(t) => Json::String(t.format("%H:%M:%S%.f").to_string()),
        Value::DateTime(d) => Json::String(d.format("%Y-%m-%dT%H:%M:%S%.f").to_string()),
        Value::DateTimeTz(d) => Json::String(d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        Value::Uuid(u) => Json::String(u.to_string()),
        Value::Json(j) => j.clone(),
        Value::Decimal(d) => Json::String(d.to_string()),
        #[allow(unreachable_patterns)]
        _ => Json::Null,
    }
}

/// JSON → a value for a column of `kind`.
pub fn json_to_value(j: &Json, kind: ColumnKind) -> std::result::Result<Value, String> {
    if j.is_null() {
        return Ok(Value::Null);
    }
    let text = || j.as_str().ok_or_else(|| format!("expected a string for {kind:?}, got {j}"));
    let conv = |v: orm_backends::ValueRef<'_>| -> std::result::Result<Value, String> {
        Ok(match kind {
            ColumnKind::Date => Value::Date(NaiveDate::from_value_ref(v).map_err(|e| e.to_string())?),
            ColumnKind::Time => Value::Time(NaiveTime::from_value_ref(v).map_err(|e| e.to_string())?),
            ColumnKind::DateTime => Value::DateTime(NaiveDateTime::from_value_ref(v).map_err(|e| e.to_string())?),
            ColumnKind::DateTimeTz => Value::DateTimeTz(DateTime::<Utc>::from_value_ref(v).map_err(|e| e.to_string())?),
            ColumnKind::Uuid => Value::Uuid(uuid::Uuid::from_value_ref(v).map_err(|e| e.to_string())?),
            ColumnKind::Decimal { .. } => {
                Value::Decimal(rust_decimal::Decimal::from_value_ref(v).map_err(|e| e.to_string())?)
            }
            _ => v.to_owned_value(),
        })
    };
    match kind {
        ColumnKind::Json => Ok(Value::Json(j.clone())),
        ColumnKind::Bytes => Ok(Value::Bytes(base64_decode(text()?)?)),
        ColumnKind::Bool => j.as_bool().map(Value::Bool).ok_or_else(|| format!("expected true or false, got {j}")),
        ColumnKind::SmallInt | ColumnKind::Integer | ColumnKind::BigInt => {
            j.as_i64().map(Value::Int).ok_or_else(|| format!("expected an integer, got {j}"))
        }
        ColumnKind::Real | ColumnKind::Double => {
            j.as_f64().map(Value::Float).ok_or_else(|| format!("expected a number, got {j}"))
        }
        ColumnKind::Varchar(_) | ColumnKind::Text | ColumnKind::Custom(_) => match j {
            Json::String(s) => Ok(Value::Text(s.clone())),
            other => Ok(json_scalar_to_value(other)),
        },
        ColumnKind::Decimal { .. } if j.is_number() => conv(orm_backends::ValueRef::Text(&j.to_string())),
        _ => conv(orm_backends::ValueRef::Text(text()?)),
    }
}

/// A JSON scalar as the obvious value (lists for `in` lookups).
pub fn json_scalar_to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::Text(s.clone()),
        other => Value::Json(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrips() {
        for b in [&b""[..], b"f", b"fo", b"foo", b"\x00\xff\x10binary"] {
            assert_eq!(base64_decode(&base64_encode(b)).unwrap(), b);
        }
        assert_eq!(base64_encode(b"foob"), "Zm9vYg==");
    }
}
