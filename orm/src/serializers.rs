//! Serialization: values ↔ JSON, and fixtures in Django's format
//! (`[{"model": "app.model", "pk": 1, "fields": {…}}]`).
//!
//! Loading a fixture writes rows raw: no defaults, no `auto_now`, no validation; an existing
//! row (same primary key) is updated, a missing one inserted. On PostgreSQL the key sequence
//! is moved past the loaded keys afterwards.

use crate::error::{Error, Result};
use crate::fields::json::{json_to_value, value_to_json};
use crate::model::key::{FastMap, Key};
use crate::model::meta::{ManyToManyMeta, ModelMeta};
use crate::model::Model;
use crate::queryset::QuerySet;
use orm_backends::{Dialect, Executor, Value};
use serde_json::{json, Map, Value as Json};

/// Serializes instances to Django's fixture format: the key and every stored field. Without
/// a database at hand it has no many-to-many links to list; [`dump_queryset`] has.
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

/// Serializes the rows of a QuerySet to Django's fixture format, with their many-to-many
/// links (one query per field). See [`dump_queryset_with`] for Django's options.
pub fn dump_queryset<M: Model>(qs: &QuerySet<M>, ex: &(impl Executor + ?Sized)) -> Result<Json> {
    dump_queryset_with(qs, ex, &DumpOptions::new())
}

/// What [`dump_queryset_with`] writes: Django's `fields`, `use_natural_foreign_keys` and
/// `use_natural_primary_keys`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DumpOptions {
    fields: Option<Vec<String>>,
    natural_foreign_keys: bool,
    natural_primary_keys: bool,
}

impl DumpOptions {
    /// Every field, keys as keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only these fields (and many-to-many fields) of each object; the key is always written.
    pub fn fields<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.fields = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// A foreign key or many-to-many link to a model with a natural key is written as that
    /// key (`["ann"]`) instead of the row's primary key.
    pub fn natural_foreign_keys(mut self) -> Self {
        self.natural_foreign_keys = true;
        self
    }

    /// An object of a model with a natural key is written without its primary key: loading
    /// finds the row by its natural key, or inserts it with a new key.
    pub fn natural_primary_keys(mut self) -> Self {
        self.natural_primary_keys = true;
        self
    }
}

/// [`dump_queryset`] with [`DumpOptions`].
///
/// ```
/// # include!("../doctest_setup.rs");
/// # fn main() -> orm::Result<()> {
/// # let db = setup()?;
/// use orm::serializers::{dump_queryset_with, DumpOptions};
/// let json = dump_queryset_with(&Note::objects().order_by(["id"]), &db, &DumpOptions::new().fields(["title"]))?;
/// assert_eq!(json[0], serde_json::json!({"model": "demo.note", "pk": 1, "fields": {"title": "Rust ORMs"}}));
/// # Ok(())
/// # }
/// ```
pub fn dump_queryset_with<M: Model>(
    qs: &QuerySet<M>,
    ex: &(impl Executor + ?Sized),
    options: &DumpOptions,
) -> Result<Json> {
    let meta = M::meta();
    let objects = qs.fetch(ex)?;
    let wanted = |name: &str| options.fields.as_ref().is_none_or(|f| f.iter().any(|n| n == name));
    for name in options.fields.iter().flatten() {
        if meta.field(name).is_none() && !meta.many_to_many.iter().any(|m| m.name == name) {
            return Err(Error::FieldDoesNotExist { model: meta.label(), field: name.clone() });
        }
    }
    let keys: Vec<Value> = objects.iter().map(Model::pk_value).collect();
    // Foreign keys as natural keys: one query per relation field.
    let mut natural_fk: Vec<Option<FastMap<Key, Json>>> = vec![None; meta.fields.len()];
    if options.natural_foreign_keys {
        for (i, f) in meta.fields.iter().enumerate() {
            let Some(rel) = f.relation else { continue };
            let target = (rel.target)().concrete();
            if rel.parent_link || target.natural_key.is_empty() || !wanted(f.name) {
                continue;
            }
            let column = rel.to_field.and_then(|n| target.field(n)).unwrap_or(target.pk_field()).column;
            let values: Vec<Value> = objects.iter().map(|o| o.field_value(i)).filter(|v| !v.is_null()).collect();
            natural_fk[i] = Some(natural_keys_of(ex, target, column, &values)?);
        }
    }
    // Many-to-many links of auto-created join tables (Django skips user `through` models).
    let mut links: Vec<(&'static str, FastMap<Key, Vec<Json>>)> = Vec::new();
    for mm in meta.many_to_many.iter().filter(|m| m.through.is_none() && wanted(m.name)) {
        let pairs = link_pairs(ex, mm, &keys)?;
        let target = (mm.target)().concrete();
        let natural = if options.natural_foreign_keys && !target.natural_key.is_empty() {
            let targets: Vec<Value> = pairs.iter().map(|(_, t)| t.clone()).collect();
            Some(natural_keys_of(ex, target, target.pk_field().column, &targets)?)
        } else {
            None
        };
        let mut by_source: FastMap<Key, Vec<Json>> = FastMap::default();
        for (source, target_key) in pairs {
            let shown = match &natural {
                Some(map) => map.get(&Key::of(&target_key)).cloned().unwrap_or(Json::Null),
                None => value_to_json(&target_key),
            };
            by_source.entry(Key::of(&source)).or_default().push(shown);
        }
        links.push((mm.name, by_source));
    }
    let label = meta.label_lower();
    let omit_pk = options.natural_primary_keys && !meta.natural_key.is_empty();
    let out = objects
        .iter()
        .zip(&keys)
        .map(|(o, key)| {
            let mut fields = Map::new();
            for (i, f) in meta.fields.iter().enumerate() {
                if i == meta.pk || !wanted(f.name) {
                    continue;
                }
                let v = o.field_value(i);
                let shown = match (&natural_fk[i], v.is_null()) {
                    (Some(map), false) => map.get(&Key::of(&v)).cloned().unwrap_or_else(|| value_to_json(&v)),
                    _ => value_to_json(&v),
                };
                fields.insert(f.name.to_owned(), shown);
            }
            for (name, by_source) in &links {
                let list = by_source.get(&Key::of(key)).cloned().unwrap_or_default();
                fields.insert((*name).to_owned(), Json::Array(list));
            }
            let mut obj = Map::new();
            obj.insert("model".into(), Json::String(label.clone()));
            if !omit_pk {
                obj.insert("pk".into(), value_to_json(key));
            }
            obj.insert("fields".into(), Json::Object(fields));
            Json::Object(obj)
        })
        .collect();
    Ok(Json::Array(out))
}

/// The natural keys (as JSON lists) of the rows of `target` whose `column` holds `values`.
fn natural_keys_of(
    ex: &(impl Executor + ?Sized),
    target: &'static ModelMeta,
    column: &str,
    values: &[Value],
) -> Result<FastMap<Key, Json>> {
    let d = ex.dialect();
    let nk = natural_key_fields(target)?;
    let mut out = FastMap::default();
    for chunk in values.chunks(crate::lifecycle::deletion::batch_size(d)) {
        let mut sql = String::from("SELECT ");
        d.write_ident(&mut sql, column);
        for f in &nk {
            sql.push_str(", ");
            d.write_ident(&mut sql, f.column);
        }
        sql.push_str(" FROM ");
        d.write_ident(&mut sql, target.table);
        sql.push_str(" WHERE ");
        d.write_ident(&mut sql, column);
        sql.push_str(" IN (");
        d.write_placeholder_list(&mut sql, 1, chunk.len());
        sql.push(')');
        for row in ex.with_connection(|c| c.query(&sql, chunk))? {
            let values = row.into_values();
            let key = Key::of(&values[0]);
            out.insert(key, Json::Array(values[1..].iter().map(value_to_json).collect()));
        }
    }
    Ok(out)
}

/// The fields of `meta`'s natural key.
fn natural_key_fields(meta: &'static ModelMeta) -> Result<Vec<&'static crate::model::meta::FieldMeta>> {
    meta.natural_key
        .iter()
        .map(|n| {
            meta.field(n).ok_or_else(|| {
                Error::ImproperlyConfigured(format!("the natural key of {} names unknown field `{n}`", meta.label()))
            })
        })
        .collect()
}

/// The (source, target) key pairs of `mm`'s join table for these source keys, ordered by
/// target key.
fn link_pairs(
    ex: &(impl Executor + ?Sized),
    mm: &'static ManyToManyMeta,
    sources: &[Value],
) -> Result<Vec<(Value, Value)>> {
    let d = ex.dialect();
    let mut out = Vec::new();
    for chunk in sources.chunks(crate::lifecycle::deletion::batch_size(d)) {
        let mut sql = String::from("SELECT ");
        d.write_ident(&mut sql, mm.source_column);
        sql.push_str(", ");
        d.write_ident(&mut sql, mm.target_column);
        sql.push_str(" FROM ");
        d.write_ident(&mut sql, mm.join_table);
        sql.push_str(" WHERE ");
        d.write_ident(&mut sql, mm.source_column);
        sql.push_str(" IN (");
        d.write_placeholder_list(&mut sql, 1, chunk.len());
        sql.push_str(") ORDER BY ");
        d.write_ident(&mut sql, mm.target_column);
        for row in ex.with_connection(|c| c.query(&sql, chunk))? {
            let mut values = row.into_values().into_iter();
            let (Some(s), Some(t)) = (values.next(), values.next()) else { continue };
            out.push((s, t));
        }
    }
    Ok(out)
}

fn bad(msg: String) -> Error {
    Error::Serialization(msg)
}

/// One fixture object, read and resolved: its model, its key (found through the natural
/// key when the fixture gave none), its columns' values, and its many-to-many links.
#[derive(Debug)]
struct Parsed {
    meta: &'static ModelMeta,
    pk: Value,
    cols: Vec<(&'static str, Value)>,
    links: Vec<(&'static ManyToManyMeta, Vec<Value>)>,
}

/// Reads fixture object `n` against `models`, resolving natural keys through `ex`.
fn parse_object(ex: &(impl Executor + ?Sized), models: &[&'static ModelMeta], item: &Json, n: usize) -> Result<Parsed> {
    let label = item.get("model").and_then(Json::as_str).ok_or_else(|| bad(format!("object {n} has no \"model\"")))?;
    let meta = models
        .iter()
        .copied()
        .find(|m| m.label_lower() == label.to_ascii_lowercase())
        .ok_or_else(|| bad(format!("object {n}: unknown model `{label}`")))?;
    let fields =
        item.get("fields").and_then(Json::as_object).ok_or_else(|| bad(format!("object {n} has no \"fields\"")))?;
    for key in fields.keys() {
        if meta.field(key).is_none() && !meta.many_to_many.iter().any(|m| m.name == key) {
            return Err(Error::FieldDoesNotExist { model: meta.label(), field: key.clone() });
        }
    }
    let pk_field = meta.pk_field();
    let mut cols: Vec<(&'static str, Value)> = Vec::new();
    for f in meta.fields.iter().filter(|f| !f.primary_key) {
        let Some(j) = fields.get(f.name).or_else(|| fields.get(f.column)) else { continue };
        let v = match (f.relation, j) {
            // A natural key of the target (`["ann"]`).
            (Some(rel), Json::Array(parts)) => {
                let target = (rel.target)().concrete();
                let column = rel.to_field.and_then(|n| target.field(n)).unwrap_or(target.pk_field()).column;
                by_natural_key(ex, target, column, parts)?.ok_or_else(|| {
                    bad(format!(
                        "object {n} ({label}) field `{}`: no {} has the natural key {j}",
                        f.name,
                        target.label()
                    ))
                })?
            }
            _ => json_to_value(j, f.kind).map_err(|e| bad(format!("object {n} ({label}) field `{}`: {e}", f.name)))?,
        };
        cols.push((f.column, v));
    }
    let mut pk = json_to_value(item.get("pk").unwrap_or(&Json::Null), pk_field.kind)
        .map_err(|e| bad(format!("object {n} ({label}) pk: {e}")))?;
    if pk.is_null() && !meta.natural_key.is_empty() {
        // Django's natural primary key: the row that has this natural key, if any.
        let parts: Vec<Json> =
            meta.natural_key.iter().map(|name| fields.get(*name).cloned().unwrap_or(Json::Null)).collect();
        if let Some(found) = by_natural_key(ex, meta, pk_field.column, &parts)? {
            pk = found;
        }
    }
    let mut links = Vec::new();
    for mm in meta.many_to_many.iter().filter(|m| m.through.is_none()) {
        let Some(j) = fields.get(mm.name) else { continue };
        let items =
            j.as_array().ok_or_else(|| bad(format!("object {n} ({label}) field `{}`: a list of keys", mm.name)))?;
        let target = (mm.target)().concrete();
        let mut keys = Vec::with_capacity(items.len());
        for t in items {
            let key = match t {
                Json::Array(parts) => {
                    by_natural_key(ex, target, target.pk_field().column, parts)?.ok_or_else(|| {
                        bad(format!(
                            "object {n} ({label}) field `{}`: no {} has the natural key {t}",
                            mm.name,
                            target.label()
                        ))
                    })?
                }
                other => json_to_value(other, target.pk_field().kind)
                    .map_err(|e| bad(format!("object {n} ({label}) field `{}`: {e}", mm.name)))?,
            };
            keys.push(key);
        }
        links.push((mm, keys));
    }
    Ok(Parsed { meta, pk, cols, links })
}

/// The `column` of the row of `meta` whose natural key is `parts`, if there is one.
fn by_natural_key(
    ex: &(impl Executor + ?Sized),
    meta: &'static ModelMeta,
    column: &str,
    parts: &[Json],
) -> Result<Option<Value>> {
    let nk = natural_key_fields(meta)?;
    if nk.is_empty() {
        return Err(bad(format!("{} has no natural key (#[orm(natural_key = [...])])", meta.label())));
    }
    if parts.len() != nk.len() {
        return Err(bad(format!("the natural key of {} has {} parts, not {}", meta.label(), nk.len(), parts.len())));
    }
    let d = ex.dialect();
    let mut sql = String::from("SELECT ");
    d.write_ident(&mut sql, column);
    sql.push_str(" FROM ");
    d.write_ident(&mut sql, meta.table);
    let mut params = Vec::with_capacity(nk.len());
    for (i, (f, j)) in nk.iter().zip(parts).enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        d.write_ident(&mut sql, f.column);
        sql.push_str(" = ");
        params.push(json_to_value(j, f.kind).map_err(|e| bad(format!("natural key of {}: {e}", meta.label())))?);
        d.write_placeholder(&mut sql, params.len());
    }
    let row = ex.with_connection(|c| c.query_opt(&sql, &params))?;
    Ok(row.and_then(|r| r.into_values().into_iter().next()))
}

/// The alias of the database `tx` runs on.
fn tx_alias(tx: &orm_backends::Transaction<'_>) -> &'static str {
    crate::signals::using(tx)
}

/// Writes one parsed object raw: UPDATE by key, else INSERT; then its links. Sends the raw
/// save signals when a receiver listens. Returns the row's key.
fn save_parsed(
    tx: &orm_backends::Transaction<'_>,
    ex_signals: Option<&crate::signals::Signals>,
    p: &Parsed,
) -> Result<Value> {
    use orm_backends::Executor as _;
    let d = tx.dialect();
    let meta = p.meta;
    let pk_field = meta.pk_field();
    let (pk, cols) = (&p.pk, &p.cols);
    let key = tx.with_connection(|conn| -> Result<Value> {
        let raw = match ex_signals {
            Some(hub) => Some((hub, hub.raw_instance(conn, meta, pk, cols)?)),
            None => None,
        };
        if let Some((hub, instance)) = &raw {
            hub.send_raw_save(meta, &**instance, None, tx_alias(tx))?;
        }
        let mut updated = 0;
        if !pk.is_null() {
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
            if cols.is_empty() {
                // Nothing to set: the row's existence decides.
                sql = String::from("SELECT 1 FROM ");
                d.write_ident(&mut sql, meta.table);
            }
            sql.push_str(" WHERE ");
            d.write_ident(&mut sql, pk_field.column);
            sql.push_str(" = ");
            params.push(pk.clone());
            d.write_placeholder(&mut sql, params.len());
            updated = if cols.is_empty() {
                u64::from(conn.query_opt(&sql, &params)?.is_some())
            } else {
                conn.execute(&sql, &params)?
            };
        }
        let mut key = pk.clone();
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
            let returning = pk.is_null().then_some(pk_field.column);
            if let Some(generated) = conn.insert(&sql, &params, returning)? {
                if pk.is_null() {
                    key = generated;
                }
            }
        }
        if let Some((hub, instance)) = &raw {
            hub.send_raw_save(meta, &**instance, Some(updated == 0), tx_alias(tx))?;
        }
        Ok(key)
    })?;
    for (mm, targets) in &p.links {
        // The link set is replaced, as Django's deserializer sets it.
        tx.with_connection(|conn| -> Result<()> {
            let mut del = String::from("DELETE FROM ");
            d.write_ident(&mut del, mm.join_table);
            del.push_str(" WHERE ");
            d.write_ident(&mut del, mm.source_column);
            del.push_str(" = ");
            d.write_placeholder(&mut del, 1);
            conn.execute(&del, std::slice::from_ref(&key))?;
            let mut ins = String::from("INSERT INTO ");
            d.write_ident(&mut ins, mm.join_table);
            ins.push_str(" (");
            d.write_ident(&mut ins, mm.source_column);
            ins.push_str(", ");
            d.write_ident(&mut ins, mm.target_column);
            ins.push_str(") VALUES (");
            d.write_placeholder(&mut ins, 1);
            ins.push_str(", ");
            d.write_placeholder(&mut ins, 2);
            ins.push(')');
            for t in targets {
                conn.execute(&ins, &[key.clone(), t.clone()])?;
            }
            Ok(())
        })?;
    }
    Ok(key)
}

/// Moves PostgreSQL's key sequences of `touched` models past the loaded keys.
fn reset_sequences(tx: &orm_backends::Transaction<'_>, touched: &[&'static ModelMeta]) -> Result<()> {
    use orm_backends::Executor as _;
    let d = tx.dialect();
    if d != Dialect::Postgres {
        return Ok(());
    }
    for meta in touched {
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
    Ok(())
}

/// Loads a fixture: each object's `model` must be one of `models` (by `app.model` label).
/// Rows are written raw, in one transaction when `ex` is a pool or database. Returns how
/// many objects were loaded.
///
/// A foreign key or many-to-many entry given as a list is a natural key of the target
/// (`#[orm(natural_key = [...])]`); an object without `pk` whose model has a natural key
/// updates the row with that natural key, or is inserted. Many-to-many lists replace the
/// object's links.
///
/// Each object sends `pre_save` and `post_save` with `raw = true` when a receiver listens to
/// its model (see [`signals`](crate::signals)); the instance is the stored row with that key
/// (or the defaults) overlaid with the fixture's values. A receiver error aborts the whole load.
pub fn load(ex: &(impl Executor + ?Sized), models: &[&'static ModelMeta], fixture: &Json) -> Result<usize> {
    let items = fixture.as_array().ok_or_else(|| bad("a fixture is a JSON list of objects".into()))?;
    let extension = ex.extension();
    ex.with_connection(|c| -> Result<()> {
        orm_backends::atomic_with_extension(c, extension, |tx| -> Result<()> {
            let mut touched: Vec<&'static ModelMeta> = Vec::new();
            for (n, item) in items.iter().enumerate() {
                let parsed = parse_object(tx, models, item, n)?;
                let hub = crate::signals::raw_save_hub(ex, parsed.meta);
                save_parsed(tx, hub, &parsed)?;
                if !touched.iter().any(|m| std::ptr::eq(*m, parsed.meta)) {
                    touched.push(parsed.meta);
                }
            }
            reset_sequences(tx, &touched)
        })
    })?;
    Ok(items.len())
}

/// One object of a fixture, read but not saved (Django's `DeserializedObject`): inspect or
/// change [`object`](Self::object), then [`save`](Self::save) it, raw.
#[derive(Debug)]
pub struct DeserializedObject<M> {
    /// The instance the fixture describes (fields the fixture leaves out hold their defaults).
    pub object: M,
    links: Vec<(&'static ManyToManyMeta, Vec<Value>)>,
}

impl<M: Model> DeserializedObject<M> {
    /// The many-to-many links the fixture gives for field `name`, as target keys.
    pub fn links(&self, name: &str) -> Option<&[Value]> {
        self.links.iter().find(|(m, _)| m.name == name).map(|(_, v)| v.as_slice())
    }

    /// Writes the object raw (every stored field as [`object`](Self::object) holds it: no
    /// defaults, no `auto_now`, no validation; an existing row updated, a missing one
    /// inserted) and its many-to-many links, sending the raw save signals; the object's key
    /// is set.
    pub fn save(&mut self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        let meta = M::meta();
        let cols: Vec<(&'static str, Value)> = meta
            .fields
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != meta.pk)
            .map(|(i, f)| (f.column, self.object.field_value(i)))
            .collect();
        let parsed = Parsed { meta, pk: self.object.pk_value(), cols, links: self.links.clone() };
        let hub = crate::signals::raw_save_hub(ex, meta);
        let extension = ex.extension();
        let key = ex.with_connection(|c| {
            orm_backends::atomic_with_extension(c, extension, |tx| -> Result<Value> {
                let key = save_parsed(tx, hub, &parsed)?;
                reset_sequences(tx, &[meta])?;
                Ok(key)
            })
        })?;
        self.object.set_field_value(meta.pk, &key)?;
        self.object.set_adding(false);
        Ok(())
    }
}

/// Reads a fixture of `M`'s objects without saving them (Django's
/// `serializers.deserialize`): natural keys are resolved through `ex`, which is only read.
///
/// ```
/// # include!("../doctest_setup.rs");
/// # fn main() -> orm::Result<()> {
/// # let db = setup()?;
/// use orm::serializers::deserialize;
/// let fixture = serde_json::json!([{"model": "demo.note", "pk": 7, "fields": {"title": "t"}}]);
/// let mut objects = deserialize::<Note>(&db, &fixture)?;
/// assert_eq!(objects[0].object.title, "t");
/// assert_eq!(Note::objects().count(&db)?, 3); // nothing written yet
/// objects[0].object.title = "changed".into();
/// objects[0].save(&db)?;
/// assert_eq!(Note::objects().get_pk(7, &db)?.title, "changed");
/// # Ok(())
/// # }
/// ```
pub fn deserialize<M: Model>(ex: &(impl Executor + ?Sized), fixture: &Json) -> Result<Vec<DeserializedObject<M>>> {
    let items = fixture.as_array().ok_or_else(|| bad("a fixture is a JSON list of objects".into()))?;
    let meta = M::meta();
    let mut out = Vec::with_capacity(items.len());
    for (n, item) in items.iter().enumerate() {
        let p = parse_object(ex, &[meta], item, n)?;
        let names: std::sync::Arc<[String]> = meta.fields.iter().map(|f| f.column.to_owned()).collect();
        let row: Vec<Value> = meta
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == meta.pk {
                    return Ok(p.pk.clone());
                }
                match p.cols.iter().find(|(c, _)| *c == f.column) {
                    Some((_, v)) => Ok(v.clone()),
                    // Django's `field.get_default()`: the declared default, else empty text
                    // for a text field, else NULL, which a NOT NULL field here refuses
                    // by name (Django would fail on save with an IntegrityError).
                    None => match f.default {
                        Some(d) => Ok(d.value()),
                        None if f.null => Ok(Value::Null),
                        None if f.kind.is_text() => Ok(Value::Text(String::new())),
                        None => Err(bad(format!(
                            "object {n} ({}): `{}` is missing and has no default",
                            meta.label(),
                            f.name
                        ))),
                    },
                }
            })
            .collect::<Result<_>>()?;
        let mut object = M::from_row(&orm_backends::OwnedRow::new(names, row), 0)
            .map_err(|e| bad(format!("object {n} ({}): {e}", meta.label())))?;
        object.set_adding(p.pk.is_null());
        out.push(DeserializedObject { object, links: p.links });
    }
    Ok(out)
}
