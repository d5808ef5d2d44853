//! The deletion collector: deleting rows deletes, or updates, or refuses because of, every row
//! that points at them, as each relation's `on_delete` says, in dependency order, in one
//! transaction, in batches within the backend's parameter limit.
//!
//! - `Cascade`: the pointing rows are collected and deleted too (recursively);
//! - `Protect`: if any pointing row exists, nothing is deleted and `ProtectedError` lists them;
//! - `Restrict`: like `Protect`, unless every restricting row is itself being deleted by a
//!   cascade from the same operation (Django's rule); `RestrictedError` otherwise;
//! - `SetNull` / `SetDefault`: the pointing rows' key is set to NULL / the field's default;
//! - `DoNothing`: the ORM does nothing; the database constraint decides.
//!
//! Many-to-many join rows of deleted objects are removed, and a multi-table child's parent rows
//! go with it (and its children with a parent).
//!
//! Two fast paths, as in Django: a model nothing depends on (nothing points at it but
//! `DoNothing` relations, no join rows, no inheritance link, no delete receiver) is deleted by
//! one statement with no collecting; and rows a cascade reaches that nothing depends on either
//! (and that have no `Restrict` relation) are deleted by the key they point with, unread.
//!
//! With delete receivers connected, the collector sends the signals in Django's order: every
//! `pre_delete` first (children before what they point at, objects of one batch by key),
//! then, after the field updates and join rows, each batch is deleted and its `post_delete`s
//! are sent. Objects the caller holds (the instance, the QuerySet's objects) are sent as they
//! are; cascaded ones are read from the database before anything changes.

use crate::error::{Error, Result};
use crate::expressions::OrderBy;
use crate::model::key::{FastSet, Key};
use crate::model::meta::{FieldMeta, ModelKind, ModelMeta, OnDelete};
use crate::model::registry::{reverse_relations, ReverseRelation};
use crate::signals::Signals;
use crate::sql::compile_delete;
use orm_backends::{Connection, Dialect, Executor, Value};
use std::any::Any;
use std::collections::BTreeMap;

/// The delete signals of one operation: the hub, and the instances the caller already holds
/// (with the model they are sent as: a proxy's objects keep their proxy sender).
pub(crate) struct DeleteSignals<'a> {
    pub(crate) hub: &'a Signals,
    pub(crate) sender: &'static ModelMeta,
    pub(crate) given: Vec<(Value, &'a dyn Any)>,
}

/// An object to signal: given by the caller, or read from the database.
enum Instance<'a> {
    Given(&'a dyn Any),
    Stored(Box<dyn Any + Send + Sync>),
}

impl Instance<'_> {
    fn get(&self) -> &dyn Any {
        match self {
            Instance::Given(i) => *i,
            Instance::Stored(b) => &**b,
        }
    }
}

/// What one delete operation removed, per model label (`app.Model`).
pub type DeleteCounts = BTreeMap<String, u64>;

struct Batch {
    meta: &'static ModelMeta,
    keys: Vec<Value>,
}

/// Collects what deleting some rows entails, then does it.
pub(crate) struct Collector<'c> {
    conn: &'c mut dyn Connection,
    d: Dialect,
    /// Models in collection order (parents before the rows that point at them).
    batches: Vec<Batch>,
    seen: FastSet<(usize, Key)>,
    updates: Vec<(&'static ModelMeta, &'static FieldMeta, Value, Vec<Value>)>,
    join_rows: Vec<(&'static str, &'static str, Vec<Value>)>,
    restricted: Vec<(&'static ModelMeta, &'static ModelMeta, Vec<Value>)>,
    /// Rows deleted by the key they point with, without being read (Django's fast deletes):
    /// model, its pointing column, the keys pointed at.
    fast: Vec<(&'static ModelMeta, &'static str, Vec<Value>)>,
    /// The hub, when delete receivers are connected (their models' rows must be read).
    hub: Option<&'c Signals>,
}

/// How many keys one `IN (…)` list may hold on `d` (under its parameter limit, leaving room
/// for a statement's other parameters).
pub(crate) fn batch_size(d: Dialect) -> usize {
    d.features().max_query_params.saturating_sub(16).clamp(1, 10_000)
}

impl<'c> Collector<'c> {
    pub(crate) fn new(conn: &'c mut dyn Connection, hub: Option<&'c Signals>) -> Self {
        let d = conn.dialect();
        Collector {
            conn,
            d,
            batches: Vec::new(),
            seen: FastSet::default(),
            updates: Vec::new(),
            join_rows: Vec::new(),
            restricted: Vec::new(),
            fast: Vec::new(),
            hub,
        }
    }

    /// Can rows of `model` reached by a cascade be deleted by one `DELETE … WHERE fk IN (…)`,
    /// unread? Yes when nothing else depends on them: nothing points at them, they have no
    /// join rows and no inheritance links, none of their relations is `Restrict` (whose rule
    /// needs their keys), and no delete receiver listens to them.
    fn can_fast_delete(&self, model: &'static ModelMeta) -> bool {
        !needs_collector(model)
            && !model.fields.iter().any(|f| f.relation.is_some_and(|r| r.on_delete == OnDelete::Restrict))
            && self.hub.is_none_or(|h| !h.wants_delete(model))
    }

    /// `SELECT select FROM table WHERE column IN (values)`, batched.
    fn select_in(&mut self, table: &str, select: &str, column: &str, values: &[Value]) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for chunk in values.chunks(batch_size(self.d)) {
            let d = self.d;
            let mut sql = format!("SELECT {} FROM {} WHERE {} IN (", d.quote(select), d.quote(table), d.quote(column));
            d.write_placeholder_list(&mut sql, 1, chunk.len());
            sql.push(')');
            crate::queryset::rows_of(self.conn, &sql, chunk, |row| {
                out.push(row.value(0)?);
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// Adds the rows of `meta` with these keys, and everything their deletion entails.
    pub(crate) fn collect(&mut self, meta: &'static ModelMeta, keys: Vec<Value>) -> Result<()> {
        let meta = meta.concrete();
        let id = meta as *const ModelMeta as usize;
        let keys: Vec<Value> =
            keys.into_iter().filter(|k| !k.is_null() && self.seen.insert((id, Key::of(k)))).collect();
        if keys.is_empty() {
            return Ok(());
        }
        // A multi-table child's parent rows (same keys) go too, deleted after the child.
        if let ModelKind::MultiTable { parent } = meta.kind {
            self.collect(parent(), keys.clone())?;
        }
        self.batches.push(Batch { meta, keys: keys.clone() });
        for rel in reverse_relations(meta) {
            match rel {
                ReverseRelation::ForeignKey { model, field } => {
                    let Some(r) = field.relation else { continue };
                    // The referenced values: the keys, or the `to_field` column of those rows.
                    let referenced = match r.to_field.and_then(|n| meta.field(n)) {
                        Some(f) if !f.primary_key => {
                            self.select_in(meta.table, f.column, meta.pk_field().column, &keys)?
                        }
                        _ => keys.clone(),
                    };
                    if r.on_delete == OnDelete::DoNothing {
                        continue;
                    }
                    if r.on_delete == OnDelete::Cascade && self.can_fast_delete(model) {
                        self.fast.push((model, field.column, referenced));
                        continue;
                    }
                    let pointing = self.select_in(model.table, model.pk_field().column, field.column, &referenced)?;
                    if pointing.is_empty() {
                        continue;
                    }
                    match r.on_delete {
                        OnDelete::Cascade => self.collect(model, pointing)?,
                        OnDelete::Protect => {
                            return Err(Error::ProtectedError {
                                model: meta.label(),
                                protected: pointing.iter().map(|k| format!("{}({})", model.label(), show(k))).collect(),
                            })
                        }
                        OnDelete::Restrict => self.restricted.push((meta, model, pointing)),
                        OnDelete::SetNull => self.updates.push((model, field, Value::Null, pointing)),
                        OnDelete::SetDefault => {
                            let v = field.default.map(|d| d.value()).unwrap_or(Value::Null);
                            self.updates.push((model, field, v, pointing));
                        }
                        OnDelete::DoNothing => {}
                    }
                }
                ReverseRelation::ManyToMany { field, .. } => {
                    if field.through.is_some() {
                        continue; // a through model is an ordinary model with foreign keys
                    }
                    let (table, source, target) = crate::sql::m2m_columns(field);
                    let column = if std::ptr::eq((field.target)(), meta) { target } else { source };
                    self.join_rows.push((table, column, keys.clone()));
                }
            }
        }
        // Join rows of this model's own many-to-many fields.
        for mm in meta.many_to_many.iter().filter(|m| m.through.is_none()) {
            let (table, source, _) = crate::sql::m2m_columns(mm);
            self.join_rows.push((table, source, keys.clone()));
        }
        Ok(())
    }

    fn is_collected(&self, meta: &'static ModelMeta, key: &Value) -> bool {
        self.seen.contains(&(meta.concrete() as *const ModelMeta as usize, Key::of(key)))
    }

    /// The objects to signal, per batch in deletion order, each with its sender: the caller's
    /// instances as given, the others read now (only for models a receiver listens to).
    fn instances<'s>(&mut self, signals: &DeleteSignals<'s>) -> Result<Vec<Vec<(&'static ModelMeta, Instance<'s>)>>> {
        let given_meta = signals.sender.concrete();
        let given: crate::model::key::KeyMap<&'s dyn Any> =
            signals.given.iter().map(|(k, obj)| (Key::of(k), *obj)).collect();
        let mut out = Vec::with_capacity(self.batches.len());
        for b in self.batches.iter().rev() {
            let mut keys: Vec<(Key, &Value)> = b.keys.iter().map(|k| (Key::of(k), k)).collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            // The caller's own objects as given (a self-referencing cascade may add others of
            // the same model to a batch); the rest read in one go, then all in key order.
            let own = std::ptr::eq(b.meta, given_meta);
            let mut objs: Vec<(&Key, &'static ModelMeta, Instance<'s>)> = Vec::new();
            let (mut unread, mut values): (Vec<&Key>, Vec<Value>) = (Vec::new(), Vec::new());
            for (k, v) in &keys {
                match given.get(k).filter(|_| own) {
                    Some(o) if signals.hub.wants_delete(signals.sender) => {
                        objs.push((k, signals.sender, Instance::Given(*o)))
                    }
                    Some(_) => {}
                    None if signals.hub.wants_delete(b.meta) => {
                        unread.push(k);
                        values.push((*v).clone());
                    }
                    None => {}
                }
            }
            if !unread.is_empty() {
                let stored = signals.hub.stored_instances(self.conn, b.meta, &values)?;
                for (k, o) in unread.into_iter().zip(stored) {
                    if let Some(o) = o {
                        objs.push((k, b.meta, Instance::Stored(o)));
                    }
                }
                objs.sort_by(|a, b| a.0.cmp(b.0));
            }
            let objs: Vec<(&'static ModelMeta, Instance<'s>)> = objs.into_iter().map(|(_, m, o)| (m, o)).collect();
            out.push(objs);
        }
        Ok(out)
    }

    /// Checks `Restrict`, then sends every `pre_delete`, updates, deletes join rows and deletes
    /// rows, children first, sending each batch's `post_delete`s after it.
    pub(crate) fn execute(mut self, signals: Option<&DeleteSignals<'_>>) -> Result<DeleteCounts> {
        for (meta, model, keys) in &self.restricted {
            let blocking: Vec<&Value> = keys.iter().filter(|k| !self.is_collected(model, k)).collect();
            if !blocking.is_empty() {
                return Err(Error::RestrictedError {
                    model: meta.label(),
                    restricted: blocking.iter().map(|k| format!("{}({})", model.label(), show(k))).collect(),
                });
            }
        }
        let signalled = match signals {
            Some(s) => {
                let batches = self.instances(s)?;
                for (meta, obj) in batches.iter().flatten() {
                    s.hub.send_delete(meta, obj.get(), false)?;
                }
                Some((s.hub, batches))
            }
            None => None,
        };
        let d = self.d;
        let size = batch_size(d);
        for (model, field, value, keys) in std::mem::take(&mut self.updates) {
            let keys: Vec<Value> = keys.into_iter().filter(|k| !self.is_collected(model, k)).collect();
            for chunk in keys.chunks(size) {
                let mut sql = format!("UPDATE {} SET {} = ", d.quote(model.table), d.quote(field.column));
                let mut params = vec![value.clone()];
                d.write_placeholder(&mut sql, 1);
                sql.push_str(&format!(" WHERE {} IN (", d.quote(model.pk_field().column)));
                d.write_placeholder_list(&mut sql, 2, chunk.len());
                sql.push(')');
                params.extend_from_slice(chunk);
                self.conn.execute(&sql, &params)?;
            }
        }
        for (table, column, keys) in std::mem::take(&mut self.join_rows) {
            delete_in(self.conn, d, table, column, &keys)?;
        }
        let mut counts = DeleteCounts::new();
        for (model, column, keys) in std::mem::take(&mut self.fast) {
            let n = delete_in(self.conn, d, model.table, column, &keys)?;
            if n > 0 {
                *counts.entry(model.label()).or_default() += n;
            }
        }
        for (i, b) in self.batches.iter().rev().enumerate() {
            let n = delete_in(self.conn, d, b.meta.table, b.meta.pk_field().column, &b.keys)?;
            *counts.entry(b.meta.label()).or_default() += n;
            if let Some((hub, batches)) = &signalled {
                for (meta, obj) in &batches[i] {
                    hub.send_delete(meta, obj.get(), true)?;
                }
            }
        }
        Ok(counts)
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Text(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn delete_in(conn: &mut dyn Connection, d: Dialect, table: &str, column: &str, keys: &[Value]) -> Result<u64> {
    let mut total = 0;
    for chunk in keys.chunks(batch_size(d)) {
        let mut sql = format!("DELETE FROM {} WHERE {} IN (", d.quote(table), d.quote(column));
        d.write_placeholder_list(&mut sql, 1, chunk.len());
        sql.push(')');
        total += conn.execute(&sql, chunk)?;
    }
    Ok(total)
}

/// Does deleting rows of `meta` need the collector (something points at it and the database
/// is not left to decide, it has many-to-many join rows, or it is a multi-table child)? If
/// not, one DELETE does.
pub(crate) fn needs_collector(meta: &'static ModelMeta) -> bool {
    let meta = meta.concrete();
    meta.parent().is_some()
        || meta.many_to_many.iter().any(|m| m.through.is_none())
        || reverse_relations(meta).iter().any(|r| match r {
            ReverseRelation::ForeignKey { field, .. } => {
                field.relation.is_some_and(|r| r.on_delete != OnDelete::DoNothing)
            }
            ReverseRelation::ManyToMany { field, .. } => field.through.is_none(),
        })
}

/// Deletes the rows of `meta` with `keys` and everything that entails, in one transaction,
/// sending the delete signals when `signals` is given.
pub(crate) fn delete_with_collector(
    conn: &mut dyn Connection,
    meta: &'static ModelMeta,
    keys: Vec<Value>,
    signals: Option<&DeleteSignals<'_>>,
) -> Result<DeleteCounts> {
    orm_backends::atomic(conn, |tx| {
        use orm_backends::Executor as _;
        tx.with_connection(|c| {
            let mut collector = Collector::new(c, signals.map(|s| s.hub));
            collector.collect(meta, keys)?;
            collector.execute(signals)
        })
    })
}

impl<M: crate::model::Model> crate::queryset::QuerySet<M> {
    /// Deletes the matching rows and everything that depends on them through the deletion
    /// collector (`on_delete` of every relation pointing here, many-to-many join rows, parent
    /// rows of a multi-table child), in one transaction; returns how many rows of this model
    /// were deleted. [`delete_counted`](Self::delete_counted) gives the count per model.
    ///
    /// Refused before any SQL, as in Django, on a sliced QuerySet (`limit`, `offset`,
    /// `slice`: which rows a slice holds depends on an ordering a DELETE cannot keep) and
    /// after `values()`: [`Error::TypeError`].
    pub fn delete(&self, ex: &(impl Executor + ?Sized)) -> Result<u64> {
        self.check_delete()?;
        if self.is_none() {
            return Ok(0);
        }
        let meta = M::meta();
        if needs_collector(meta) || crate::signals::delete_signals(ex).is_some() {
            let counts = self.delete_counted(ex)?;
            return Ok(counts.get(&meta.concrete().label()).copied().unwrap_or(0));
        }
        let stmt = compile_delete(M::meta(), ex.dialect(), &self.query)?;
        Ok(ex.with_connection(|c| c.execute(&stmt.sql, &stmt.params))?)
    }

    /// Deletes like [`delete`](Self::delete) and returns the number of rows deleted per
    /// model label (`app.Model`), cascades included.
    pub fn delete_counted(&self, ex: &(impl Executor + ?Sized)) -> Result<DeleteCounts> {
        self.check_delete()?;
        if self.is_none() {
            return Ok(Default::default());
        }
        let meta = M::meta();
        if let Some(hub) = crate::signals::delete_signals(ex) {
            if needs_collector(meta) || crate::signals::delete_hub::<M, _>(ex).is_some() {
                return super::dispatch::delete_queryset(hub, self, ex);
            }
        }
        if !needs_collector(meta) {
            let stmt = compile_delete(meta, ex.dialect(), &self.query)?;
            let n = ex.with_connection(|c| c.execute(&stmt.sql, &stmt.params))?;
            return Ok([(meta.concrete().label(), n)].into_iter().collect());
        }
        let keys: Vec<Value> = self.clone().order_by(Vec::<OrderBy>::new()).values(["pk"]).fetch_flat(ex)?;
        ex.with_connection(|c| delete_with_collector(c, meta, keys, None))
    }

    /// Django's checks before a delete: no slice, no `values()`.
    fn check_delete(&self) -> Result<()> {
        if self.query.limit.is_some() || self.query.offset > 0 {
            return Err(Error::TypeError("Cannot use 'limit' or 'offset' with delete().".into()));
        }
        if self.query.values.is_some() {
            return Err(Error::TypeError("Cannot call delete() after .values() or .values_list()".into()));
        }
        self.check()
    }
}
