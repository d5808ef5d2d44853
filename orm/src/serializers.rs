//! Serialization: values ↔ JSON, and fixtures in Django's format
//! (`[{"model": "app.model", "pk": 1, "fields": {…}}]`).
//!
//! Loading a fixture writes rows raw: no defaults, no `auto_now`, no validation; an existing
//! row (same primary key) is updated, a missing one inserted. On PostgreSQL the key sequence
//! is moved past the loaded keys afterwards.

use crate::error::{Error, Result};
use crate::fields::json::{json_to_value, value_to_json};
use crate::model::meta::ModelMeta;
use crate::model::Model;
use crate::queryset::QuerySet;
use orm_backends::{Dialect, Executor, Value};
use serde_json::{json, Map, Value as Json};

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
