//! Serialization: values ↔ JSON, and fixtures in Django's format
//! (`[{"model": "app.model", "pk": 1, "fields": {…}}]`).
//!
//! Loading a fixture writes rows raw: no defaults, no `auto_now`, no validation; an existing
//! row (same primary key) is updated, a missing one inserted. On PostgreSQL the key sequence
//! is moved past the loaded keys afterwards.

use crate::error::{Error, Result};
use crate::fields::ColumnKind;
use crate::model::meta::ModelMeta;
use crate::model::Model;
use crate::queryset::QuerySet;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use orm_backends::{Dialect, Executor, FromValue, Value};
use serde_json::{json, Map, Value as Json};

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

/// Serializes instances to Django's fixture format.
pub fn dump<M: Model>(objects: &[M]) -> Json {
    let meta = M::meta();
    let label = meta.label_lower();
    Json::Array(
        objects
            .iter()
            .map(|o| {
                let mut fields = Map::new();
                for (i, f) in meta.fields.iter().enumerate() {
                    if i != meta.pk {
                        fields.insert(f.name.to_owned(), value_to_json(&o.field_value(i)));
                    }
                }
                json!({"model": label, "pk": value_to_json(&o.pk_value()), "fields": fields})
            })
            .collect(),
    )
}

/// Serializes the rows of a QuerySet to Django's fixture format.
pub fn dump_queryset<M: Model>(qs: &QuerySet<M>, ex: &(impl Executor + ?Sized)) -> Result<Json> {
    Ok(dump(&qs.fetch(ex)?))
}

fn bad(msg: String) -> Error {
    Error::Serialization(msg)
}

/// Loads a fixture: each object's `model` must be one of `models` (by `app.model` label).
/// Rows are written raw, in one transaction when `ex` is a pool or database. Returns how
/// many objects were loaded.
///
/// Each object sends `pre_save` and `post_save` with `raw = true` when a receiver listens to
/// its model (see [`signals`](crate::signals)); the instance is the stored row with that key
/// (or the defaults) overlaid with the fixture's values. A receiver error aborts the whole load.
pub fn load(ex: &(impl Executor + ?Sized), models: &[&'static ModelMeta], fixture: &Json) -> Result<usize> {
    let items = fixture.as_array().ok_or_else(|| bad("a fixture is a JSON list of objects".into()))?;
    let d = ex.dialect();
    let mut touched: Vec<&'static ModelMeta> = Vec::new();
    ex.with_connection(|c| -> Result<()> {
        orm_backends::atomic(c, |tx| -> Result<()> {
            for (n, item) in items.iter().enumerate() {
                let label = item.get("model").and_then(Json::as_str).ok_or_else(|| bad(format!("object {n} has no \"model\"")))?;
                let meta = models
                    .iter()
                    .copied()
                    .find(|m| m.label_lower() == label.to_ascii_lowercase())
                    .ok_or_else(|| bad(format!("object {n}: unknown model `{label}`")))?;
                let fields = item.get("fields").and_then(Json::as_object).ok_or_else(|| bad(format!("object {n} has no \"fields\"")))?;
                for key in fields.keys() {
                    if meta.field(key).is_none() {
                        return Err(Error::FieldDoesNotExist { model: meta.label(), field: key.clone() });
                    }
                }
                let pk_field = meta.pk_field();
                let pk = json_to_value(item.get("pk").unwrap_or(&Json::Null), pk_field.kind)
                    .map_err(|e| bad(format!("object {n} ({label}) pk: {e}")))?;
                let mut cols: Vec<(&'static str, Value)> = Vec::new();
                for f in meta.fields.iter().filter(|f| !f.primary_key) {
                    let j = fields.get(f.name).or_else(|| fields.get(f.column));
                    let Some(j) = j else { continue };
                    let v = json_to_value(j, f.kind).map_err(|e| bad(format!("object {n} ({label}) field `{}`: {e}", f.name)))?;
                    cols.push((f.column, v));
                }
                use orm_backends::Executor as _;
                let signals = crate::signals::raw_save_hub(ex, meta);
                tx.with_connection(|conn| -> Result<()> {
                    let raw = match signals {
                        Some(hub) => Some((hub, hub.raw_instance(conn, meta, &pk, &cols)?)),
                        None => None,
                    };
                    if let Some((hub, instance)) = &raw {
                        hub.send_raw_save(meta, &**instance, None)?;
                    }
                    let mut updated = 0;
                    if !pk.is_null() && !cols.is_empty() {
                        let mut sql = String::from("UPDATE ");
                        d.write_ident(&mut sql, meta.table);
                        sql.push_str(" SET ");
                        let mut params = Vec::new();
                        for (i, (c, v)) in cols.iter().enumerate() {
                            if i > 0 {
                                sql.push_str(", ");
                            }
                            d.write_ident(&mut sql, c);
                            sql.push_str(" = ");
                            params.push(v.clone());
                            d.write_placeholder(&mut sql, params.len());
                        }
                        sql.push_str(" WHERE ");
                        d.write_ident(&mut sql, pk_field.column);
                        sql.push_str(" = ");
                        params.push(pk.clone());
                        d.write_placeholder(&mut sql, params.len());
                        updated = conn.execute(&sql, &params)?;
                    }
                    if updated == 0 {
                        let mut all: Vec<(&str, Value)> = Vec::new();
                        if !pk.is_null() {
                            all.push((pk_field.column, pk.clone()));
                        }
                        all.extend(cols.iter().cloned());
                        let mut sql = String::from("INSERT INTO ");
                        d.write_ident(&mut sql, meta.table);
                        sql.push_str(" (");
                        for (i, (c, _)) in all.iter().enumerate() {
                            if i > 0 {
                                sql.push_str(", ");
                            }
                            d.write_ident(&mut sql, c);
                        }
                        sql.push_str(") VALUES (");
                        for i in 0..all.len() {
                            if i > 0 {
                                sql.push_str(", ");
                            }
                            d.write_placeholder(&mut sql, i + 1);
                        }
                        sql.push(')');
                        let params: Vec<Value> = all.into_iter().map(|(_, v)| v).collect();
                        conn.execute(&sql, &params)?;
                    }
                    if let Some((hub, instance)) = &raw {
                        hub.send_raw_save(meta, &**instance, Some(updated == 0))?;
                    }
                    Ok(())
                })?;
                if !touched.iter().any(|m| std::ptr::eq(*m, meta)) {
                    touched.push(meta);
                }
            }
            if d == Dialect::Postgres {
                for meta in &touched {
                    let pk = meta.pk_field();
                    if pk.auto {
                        let t = d.quote(meta.table);
                        let c = d.quote(pk.column);
                        let mut lit = String::new();
                        d.write_string_literal(&mut lit, meta.table);
                        let mut col = String::new();
                        d.write_string_literal(&mut col, pk.column);
                        let sql = format!(
                            "SELECT setval(pg_get_serial_sequence({lit}, {col}), COALESCE(MAX({c}), 1), MAX({c}) IS NOT NULL) FROM {t}"
                        );
                        tx.with_connection(|conn| conn.query(&sql, &[]))?;
                    }
                }
            }
            Ok(())
        })
    })?;
    Ok(items.len())
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
