//! Signal dispatch for the ORM's writes: which signals a save and a delete send, in which
//! order, and the instances built for receivers of rows the caller never loaded (cascaded
//! objects, fixture rows). The registry itself ([`signals`](crate::signals)) knows none of
//! this; it only keeps receivers and calls them.

use super::deletion::{batch_size, delete_with_collector, DeleteCounts, DeleteOptions, DeleteSignals};
use super::SaveOptions;
use crate::error::Result;
use crate::model::key::{key_map, Key, KeyMap};
use crate::model::meta::{ModelKind, ModelMeta};
use crate::model::Model;
use crate::queryset::QuerySet;
use crate::signals::{atomic_on, Origin, PostSave, PostSaveSignal, PreSave, PreSaveSignal, Signals};
use orm_backends::{Connection, Executor, Transaction, Value};
use std::any::Any;
use std::sync::Arc;

/// Saves with signals: `pre_save`, the save (`inner`, which returns whether it inserted),
/// `post_save`, all in one transaction. On error, a new instance's key and state are
/// restored.
pub(crate) fn save<M, E>(
    hub: &Signals,
    obj: &mut M,
    ex: &E,
    options: &SaveOptions,
    inner: impl FnOnce(&mut M, &Transaction<'_>) -> Result<bool>,
) -> Result<()>
where
    M: Model,
    E: Executor + ?Sized,
{
    let meta = M::meta();
    let pk_before = obj.pk_value();
    let adding_before = obj.adding();
    let update_fields = options.update_fields.as_deref();
    let using = crate::signals::using(ex);
    let out = atomic_on(ex, |tx| {
        hub.dispatch::<PreSaveSignal>(&PreSave {
            sender: meta,
            instance: &*obj as &dyn Any,
            raw: false,
            update_fields,
            using,
        })?;
        let created = inner(obj, tx)?;
        hub.dispatch::<PostSaveSignal>(&PostSave {
            sender: meta,
            instance: &*obj as &dyn Any,
            created,
            raw: false,
            update_fields,
            using,
        })
    });
    if out.is_err() {
        if pk_before.is_null() && !obj.pk_value().is_null() {
            let _ = obj.set_field_value(meta.pk, &Value::Null);
        }
        if let Some(adding) = adding_before {
            obj.set_adding(adding);
        }
    }
    out
}

/// A QuerySet delete with signals (Django's order): in one transaction, fetch the objects,
/// then hand them to the deletion collector, which sends every `pre_delete` (cascaded
/// objects' too), deletes, and sends each batch's `post_delete`s after it.
pub(crate) fn delete_queryset<M, E>(hub: &Signals, qs: &QuerySet<M>, ex: &E) -> Result<DeleteCounts>
where
    M: Model,
    E: Executor + ?Sized,
{
    atomic_on(ex, |tx| {
        let objs = qs.fetch(tx)?;
        if objs.is_empty() {
            return Ok(Default::default());
        }
        let given = objs.iter().map(|o| (o.pk_value(), o as &dyn Any)).collect();
        let origin = Origin::QuerySet { model: M::meta(), queryset: qs as &dyn Any };
        delete_collected(hub, M::meta(), given, origin, tx, &DeleteOptions::default())
    })
}

/// Deletes the `given` objects of `sender` (key and instance) through the deletion collector,
/// sending the delete signals of them and of everything the deletion takes with it.
pub(crate) fn delete_collected<E: Executor + ?Sized>(
    hub: &Signals,
    sender: &'static ModelMeta,
    given: Vec<(Value, &dyn Any)>,
    origin: Origin<'_>,
    ex: &E,
    options: &DeleteOptions,
) -> Result<DeleteCounts> {
    let keys = given.iter().map(|(k, _)| k.clone()).collect();
    let signals = DeleteSignals { hub, sender, given, origin, using: crate::signals::using(ex) };
    ex.with_connection(|c| delete_with_collector(c, sender, keys, Some(&signals), options))
}

/// The tables a row of `meta` spans, root parent first (a proxy's are its concrete model's).
fn levels(meta: &'static ModelMeta, out: &mut Vec<&'static ModelMeta>) {
    match meta.kind {
        ModelKind::Proxy { of } => levels(of(), out),
        ModelKind::MultiTable { parent } => {
            levels(parent(), out);
            out.push(meta);
        }
        _ => out.push(meta),
    }
}

/// The stored rows of one table (`level`) of a model with these keys, by key: every column of
/// the table in field order, read in batches within the parameter limit.
fn level_rows(conn: &mut dyn Connection, level: &'static ModelMeta, keys: &[Value]) -> Result<KeyMap<Vec<Value>>> {
    let d = conn.dialect();
    let mut rows = key_map(keys.len());
    for chunk in keys.chunks(batch_size(d)) {
        let mut sql = String::from("SELECT ");
        for (i, f) in level.fields.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            d.write_ident(&mut sql, f.column);
        }
        sql.push_str(" FROM ");
        d.write_ident(&mut sql, level.table);
        sql.push_str(" WHERE ");
        d.write_ident(&mut sql, level.pk_field().column);
        sql.push_str(" IN (");
        d.write_placeholder_list(&mut sql, 1, chunk.len());
        sql.push(')');
        for row in conn.query(&sql, chunk)? {
            let values = row.into_values();
            rows.insert(Key::of(&values[level.pk]), values);
        }
    }
    Ok(rows)
}

impl Signals {
    /// The instance a fixture object stands for, for the receivers of a raw save: the stored
    /// row with that key (defaults where there is none), overlaid with the fixture's values.
    /// Typed through the model registry (or [`Signals::register`]), else the row itself (an
    /// [`OwnedRow`]).
    pub(crate) fn raw_instance(
        &self,
        conn: &mut dyn Connection,
        meta: &'static ModelMeta,
        pk: &Value,
        values: &[(&'static str, Value)],
    ) -> Result<Box<dyn Any + Send + Sync>> {
        let mut chain = Vec::new();
        levels(meta, &mut chain);
        let own = meta.concrete();
        let mut names: Vec<String> = Vec::new();
        let mut row: Vec<Value> = Vec::new();
        for level in chain {
            let stored = if pk.is_null() {
                None
            } else {
                level_rows(conn, level, std::slice::from_ref(pk))?.into_values().next()
            };
            for (i, f) in level.fields.iter().enumerate() {
                let mut v = match &stored {
                    Some(vals) => vals[i].clone(),
                    None => f.default.map(|d| d.value()).unwrap_or(Value::Null),
                };
                if std::ptr::eq(level, own) {
                    if i == level.pk {
                        v = pk.clone();
                    } else if let Some((_, given)) = values.iter().find(|(c, _)| *c == f.column) {
                        v = given.clone();
                    }
                } else if i == level.pk && stored.is_none() {
                    v = pk.clone();
                }
                names.push(f.column.to_owned());
                row.push(v);
            }
        }
        self.build_instance(meta, names.into(), row)
    }

    /// For the deletion collector: the stored instances of `meta` with these keys, in their
    /// order, read through `conn` a level (table) at a time in batches within the parameter
    /// limit (typed when the model's type is known to the hub, as for raw saves); `None` for
    /// a key with no row. `known` holds rows of `meta`'s own table the collector has already
    /// read: those are not read again.
    pub(crate) fn stored_instances(
        &self,
        conn: &mut dyn Connection,
        meta: &'static ModelMeta,
        keys: &[Value],
        mut known: KeyMap<Vec<Value>>,
    ) -> Result<Vec<Option<Box<dyn Any + Send + Sync>>>> {
        let mut chain = Vec::new();
        levels(meta, &mut chain);
        let own = meta.concrete();
        let mut found = Vec::with_capacity(chain.len());
        for level in &chain {
            if std::ptr::eq(*level, own) && !known.is_empty() {
                let missing: Vec<Value> = keys.iter().filter(|k| !known.contains_key(&Key::of(k))).cloned().collect();
                let mut rows = level_rows(conn, level, &missing)?;
                rows.extend(known.drain());
                found.push(rows);
            } else {
                found.push(level_rows(conn, level, keys)?);
            }
        }
        let names: Arc<[String]> = chain.iter().flat_map(|l| l.fields.iter().map(|f| f.column.to_owned())).collect();
        let mut out = Vec::with_capacity(keys.len());
        'keys: for k in keys {
            let key = Key::of(k);
            let mut row = Vec::with_capacity(names.len());
            for rows in &mut found {
                match rows.remove(&key) {
                    Some(values) => row.extend(values),
                    None => {
                        out.push(None);
                        continue 'keys;
                    }
                }
            }
            out.push(Some(self.build_instance(meta, names.clone(), row)?));
        }
        Ok(out)
    }
}
