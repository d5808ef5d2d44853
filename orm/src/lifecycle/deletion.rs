//! The deletion collector (Django's `Collector`): deleting rows deletes, or updates, or
//! refuses because of, every row that points at them, as each relation's `on_delete` says,
//! in dependency order, in one transaction, in batches within the backend's parameter limit.
//!
//! - `Cascade`: the pointing rows are collected and deleted too (recursively);
//! - `Protect`: if any pointing row exists, nothing is deleted; every protecting relation is
//!   collected first, and `ProtectedError` names the model whose delete was asked for, the
//!   relations (`'A.protect'`, or the cascade that led to them) and the protecting objects;
//! - `Restrict`: like `Protect`, unless every restricting row is itself deleted by a cascade
//!   of the same delete (Django's rule); `RestrictedError` lists the rest;
//! - `SetNull` / `SetDefault`: the pointing rows' key is set to NULL / the field's default;
//! - `DoNothing`: the ORM does nothing; the database constraint decides.
//!
//! Many-to-many link rows of deleted objects are removed (counted as Django's auto-created
//! model, `app.Model_field`), and a multi-table child's parent rows go with it (unless
//! [`DeleteOptions::keep_parents`]), as do a parent's children.
//!
//! **Order.** The collected models are sorted as Django's `Collector.sort` does: a model is
//! deleted after every model whose rows point at it (by a cascade or a restricting key) and
//! before its multi-table parents, so a diamond of cascades, or a restricting row also
//! reached by a cascade, deletes cleanly. Then, as Django's `Collector.delete`: every
//! `pre_delete` (models in that order, objects by ascending key), the fast deletes and link
//! rows, the `SetNull` / `SetDefault` updates, then per model its DELETE and its
//! `post_delete`s (objects by descending key: Django reverses each model's list). A deleted
//! instance loses its key ([`Persist::delete`](crate::Persist::delete)); what was removed is
//! returned as [`Deleted`], Django's `(total, {label: count})`.
//!
//! **Fast paths.** Rows are read only when something needs them: a receiver, a refusal to
//! check, keys to update. Three cases, the first two Django's:
//! - a model nothing depends on (nothing points at it but `DoNothing` or database-level
//!   relations, no link rows, no inheritance link, no delete receiver) is deleted by one
//!   statement with no collecting;
//! - rows a cascade reaches are deleted unread when their whole subtree allows it
//!   (`plan_fast`): no delete receiver listens to any model in it, every relation into it is
//!   a `Cascade` (or left to the database), none of its models has a `Restrict` relation or
//!   is a multi-table child, no model repeats along a path, and it stays within `MAX_HOPS`
//!   nested subqueries and `MAX_FAST` statements. Each level is one statement selecting its
//!   rows by nesting the levels above: `DELETE FROM comment WHERE post_id IN (SELECT id FROM
//!   post WHERE author_id IN (…))`, deepest first, link-table rows before their model's.
//!   Django's `can_fast_delete` takes only rows nothing points at, and reads the rest;
//! - a QuerySet delete whose whole subtree is fast in that sense, and whose filters read only
//!   its own table (`sql::compile_own_filter`), selects no keys at all: the innermost level is
//!   the QuerySet's own selection (`… IN (SELECT id FROM author WHERE <filters>)`), and the
//!   last statement is the QuerySet's own DELETE, all in one transaction. Filters that read
//!   another table (a join, a subquery) are not nested, since the DELETEs before the last
//!   would change what they match. A row another connection makes match between the
//!   statements fails the last DELETE on its foreign keys (the transaction rolls back), as a
//!   row added between Django's SELECT and DELETE would. Where one statement can delete from
//!   several tables ([`can_delete_in_with`](orm_backends::Features::can_delete_in_with),
//!   PostgreSQL), they go as one, the QuerySet's DELETE first and each level deleting by the
//!   keys its parent's clause returned: `WITH "d0" AS (DELETE FROM author WHERE … RETURNING
//!   id), "d1" AS (DELETE FROM post WHERE author_id IN (SELECT id FROM "d0") RETURNING id), …
//!   SELECT (SELECT count(*) FROM "d0"), …`. The filter runs once; the statement is atomic by
//!   itself, reads one snapshot and checks its foreign keys once every clause has run; one
//!   round trip instead of one per table plus the transaction's two.
//!
//! **Empty tables.** Before fast deletes that are separate statements, the collector asks in
//! one statement which of the tables they read are empty (`SELECT EXISTS (SELECT 1 FROM
//! "post"), EXISTS (SELECT 1 FROM "comment")`), inside the delete's transaction, and skips
//! every statement that deletes from or reads through one: it could match nothing. Django
//! stops the same way where a level it read came back empty; here the question is about the
//! table, costs one statement, and reads no row. It is asked on SQLite whenever there is a
//! fast delete (a statement costs microseconds there), and on a server when two or more fast
//! deletes stand to be saved by it (otherwise it would be a round trip for at most one).
//! PostgreSQL's single `WITH` statement of a QuerySet delete needs no question. A wide model
//! (a user that twenty tables point at, most of them empty in a given deployment) is where
//! this pays; on a cascade whose tables all hold rows it is one statement more (0.29 µs on
//! SQLite in memory for two tables, where each level it can save costs 6 to 7 µs).
//!
//! Where the backend would test every row of the table against a subquery instead of using
//! the index on its column (MySQL and MariaDB:
//! [`delete_in_subquery_uses_index`](orm_backends::Features::delete_in_subquery_uses_index)),
//! the same statements are written as joins: `DELETE comment FROM comment JOIN post ON
//! comment.post_id = post.id WHERE post.author_id IN (…)`. Counts are the statements'
//! affected rows, per model label, so [`Deleted`] is what it was when the rows were read.
//! Objects the caller holds (the instance, the QuerySet's objects) are sent to receivers as
//! they are; cascaded ones are read from the database before anything changes.
//!
//! **Differences from Django, and why.**
//! - Our foreign keys are checked at once, not deferred to commit (Django's PostgreSQL and
//!   SQLite schemas defer them). So a nullable cascade also orders the deletes (Django
//!   ignores it there), and a cycle of cascades is broken Django's MySQL way: its nullable
//!   keys are set to NULL before the deletes. A cycle with no nullable key is left in
//!   collection order (the database decides, as in Django).
//! - Rows of one model that point at each other (a tree) are deleted level by level, the
//!   last found first, each level's `post_delete`s after its DELETE, instead of one DELETE
//!   for the model: MySQL checks a key row by row within a statement. `pre_delete` order is
//!   Django's.
//! - The relations a `ProtectedError` / `RestrictedError` lists are sorted by name: Django
//!   lists them in model registration order, which a link-time registry does not keep.
//! - The errors hold the objects as `app.Model(pk)` strings, not the instances.

use crate::error::{Error, Result};
use crate::expressions::OrderBy;
use crate::model::key::{FastMap, FastSet, Key};
use crate::model::meta::{FieldMeta, ManyToManyMeta, ModelKind, ModelMeta, OnDelete};
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
    /// What started the delete (every event carries it).
    pub(crate) origin: crate::signals::Origin<'a>,
    /// The alias of the database deleted from.
    pub(crate) using: &'a str,
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

/// What one delete operation removed, per model label (`app.Model`; an automatic
/// many-to-many link table counts as Django's auto-created model, `app.Model_field`). Only
/// models with rows removed appear.
pub type DeleteCounts = BTreeMap<String, u64>;

/// What a delete removed: Django's `(total, {label: count})`. It compares equal to a plain
/// number when its [`total`](Deleted::total) is that number (`assert_eq!(obj.delete(&db)?, 1)`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Every row removed, cascades, parent rows and link-table rows included.
    pub total: u64,
    /// The rows removed per model label.
    pub per_model: DeleteCounts,
}

impl Deleted {
    /// From counts per model.
    pub fn from_counts(per_model: DeleteCounts) -> Self {
        Deleted { total: per_model.values().sum(), per_model }
    }

    /// The rows of the model labelled `label` (`app.Model`) removed, 0 if none.
    pub fn of(&self, label: &str) -> u64 {
        self.per_model.get(label).copied().unwrap_or(0)
    }
}

/// Django's `(total, {label: count})`: `(3, {'blog.Post': 1, 'blog.Post_tags': 2})`.
impl std::fmt::Display for Deleted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {{", self.total)?;
        for (i, (label, n)) in self.per_model.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "'{label}': {n}")?;
        }
        f.write_str("})")
    }
}

impl PartialEq<u64> for Deleted {
    fn eq(&self, other: &u64) -> bool {
        self.total == *other
    }
}

/// Options of [`Persist::delete_with`](crate::Persist::delete_with).
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// Delete only a multi-table child's own rows, keeping its parents' rows and whatever
    /// points at them (Django's `keep_parents=True`).
    pub keep_parents: bool,
    /// The database to delete from, by its alias in the [`Databases`](crate::Databases) set
    /// the delete is handed (Django's `delete(using=…)`); `None`: the routers decide.
    pub using: Option<String>,
}

fn id_of(meta: &'static ModelMeta) -> usize {
    meta as *const ModelMeta as usize
}

/// The rows of one model to delete: sub-batches in collection order (a model whose rows
/// point at rows of the same model deletes the last-found first).
struct ModelData {
    meta: &'static ModelMeta,
    batches: Vec<Vec<Value>>,
}

/// "Delete `after` after `before`": rows of `before` point at rows of `after` (a cascade or
/// a restricting key), or `before` is a multi-table child of `after`. `nullable` names the
/// pointing key when it may be set to NULL instead (which lifts the order).
struct Dependency {
    after: usize,
    before: usize,
    nullable: Option<(&'static ModelMeta, &'static FieldMeta)>,
}

/// A `Restrict` relation found while collecting: the rows pointing, by their model and key.
struct Restricted {
    field: String,
    model: &'static ModelMeta,
    keys: Vec<Value>,
}

/// Collects what deleting some rows entails, then does it.
pub(crate) struct Collector<'c> {
    conn: &'c mut dyn Connection,
    d: Dialect,
    /// Models in the order first collected; sorted by [`Collector::sort`] before deleting.
    data: Vec<ModelData>,
    index: BTreeMap<usize, usize>,
    dependencies: Vec<Dependency>,
    /// Models with rows pointing at rows of the same model (deleted sub-batch by sub-batch).
    self_referencing: FastSet<usize>,
    seen: FastSet<(usize, Key)>,
    updates: Vec<(&'static ModelMeta, &'static FieldMeta, Value, Vec<Value>)>,
    /// Keys set to NULL before the deletes because a cycle of dependencies has to be broken
    /// (our foreign keys are checked at once, not at commit: Django's rule for databases
    /// that cannot defer constraint checks).
    nulled: Vec<(&'static ModelMeta, &'static FieldMeta, Vec<Value>)>,
    /// Automatic link-table rows: count label, table, column, keys.
    join_rows: Vec<(String, &'static str, &'static str, Vec<Value>)>,
    restricted: Vec<Restricted>,
    /// Rows deleted without being read (Django's fast deletes), by the keys the first hop
    /// (or the pointing column) is in: a cascade's rows, and the rows below them when the
    /// whole subtree is fast (see [`plan_fast`]).
    fast: Vec<(FastDelete, Vec<Value>)>,
    /// The hub, when delete receivers are connected (their models' rows must be read).
    hub: Option<&'c Signals>,
    /// Rows of models a receiver listens to, read whole when a cascade collected them (so
    /// they are not read again for the signals): by model and key, the model's own table's
    /// columns in field order.
    read: FastMap<(usize, Key), Vec<Value>>,
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
            data: Vec::new(),
            index: BTreeMap::new(),
            dependencies: Vec::new(),
            self_referencing: FastSet::default(),
            seen: FastSet::default(),
            updates: Vec::new(),
            nulled: Vec::new(),
            join_rows: Vec::new(),
            restricted: Vec::new(),
            fast: Vec::new(),
            hub,
            read: FastMap::default(),
        }
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

    /// The rows of `model`'s own table whose `column` is in `values`, every column, batched:
    /// kept in `read` for the signals; returns their keys.
    fn select_rows(&mut self, model: &'static ModelMeta, column: &str, values: &[Value]) -> Result<Vec<Value>> {
        let d = self.d;
        let id = id_of(model);
        let mut keys = Vec::new();
        for chunk in values.chunks(batch_size(d)) {
            let mut sql = String::from("SELECT ");
            for (i, f) in model.fields.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                d.write_ident(&mut sql, f.column);
            }
            sql.push_str(&format!(" FROM {} WHERE {} IN (", d.quote(model.table), d.quote(column)));
            d.write_placeholder_list(&mut sql, 1, chunk.len());
            sql.push(')');
            for row in self.conn.query(&sql, chunk)? {
                let values = row.into_values();
                let pk = values[model.pk].clone();
                self.read.entry((id, Key::of(&pk))).or_insert(values);
                keys.push(pk);
            }
        }
        Ok(keys)
    }

    /// Adds the rows of `meta` with these keys, and everything their deletion entails (the
    /// top-level call: `Protect` and `Restrict` are checked here, naming `meta`).
    pub(crate) fn collect(
        &mut self,
        meta: &'static ModelMeta,
        keys: Vec<Value>,
        options: &DeleteOptions,
    ) -> Result<()> {
        match self.collect_rows(meta.concrete(), keys, options.keep_parents) {
            Ok(()) => {}
            Err(Refused::Error(e)) => return Err(e),
            Err(Refused::Protected { mut fields, objects }) => {
                fields.sort();
                return Err(Error::ProtectedError { model: meta.label(), fields, protected: objects });
            }
        }
        // Restrict: refused unless every restricting row is itself collected.
        let (mut fields, mut objects) = (Vec::<String>::new(), Vec::<String>::new());
        for r in &self.restricted {
            let blocking: Vec<&Value> = r.keys.iter().filter(|k| !self.is_collected(r.model, k)).collect();
            if blocking.is_empty() {
                continue;
            }
            if !fields.contains(&r.field) {
                fields.push(r.field.clone());
            }
            for k in blocking {
                let o = format!("{}({})", r.model.label(), show(k));
                if !objects.contains(&o) {
                    objects.push(o);
                }
            }
        }
        if !fields.is_empty() {
            fields.sort();
            return Err(Error::RestrictedError { model: meta.label(), fields, restricted: objects });
        }
        Ok(())
    }

    fn add_dependency(
        &mut self,
        after: &'static ModelMeta,
        before: &'static ModelMeta,
        nullable: Option<&'static FieldMeta>,
    ) {
        if std::ptr::eq(after, before) {
            self.self_referencing.insert(id_of(after));
            return;
        }
        self.dependencies.push(Dependency {
            after: id_of(after),
            before: id_of(before),
            nullable: nullable.map(|f| (before, f)),
        });
    }

    fn collect_rows(&mut self, meta: &'static ModelMeta, keys: Vec<Value>, keep_parents: bool) -> Result<(), Refused> {
        let id = id_of(meta);
        let keys: Vec<Value> =
            keys.into_iter().filter(|k| !k.is_null() && self.seen.insert((id, Key::of(k)))).collect();
        if keys.is_empty() {
            return Ok(());
        }
        let at = match self.index.get(&id) {
            Some(&i) => i,
            None => {
                self.index.insert(id, self.data.len());
                self.data.push(ModelData { meta, batches: Vec::new() });
                self.data.len() - 1
            }
        };
        self.data[at].batches.push(keys.clone());
        // A multi-table child's parent rows (same keys) go too, deleted after the child.
        if let (ModelKind::MultiTable { parent }, false) = (meta.kind, keep_parents) {
            self.add_dependency(parent(), meta, None);
            self.collect_rows(parent(), keys.clone(), false)?;
        }
        let mut protected: Vec<(String, Vec<String>)> = Vec::new();
        for rel in reverse_relations(meta) {
            match rel {
                ReverseRelation::ForeignKey { model, field } => {
                    let Some(r) = field.relation else { continue };
                    if r.on_delete.left_to_database() {
                        continue;
                    }
                    // The referenced values: the keys, or the `to_field` column of those rows.
                    let referenced = match r.to_field.and_then(|n| meta.field(n)) {
                        Some(f) if !f.primary_key => {
                            self.select_in(meta.table, f.column, meta.pk_field().column, &keys)?
                        }
                        _ => keys.clone(),
                    };
                    if r.on_delete == OnDelete::Cascade {
                        let mut plan = Vec::new();
                        let mut path = vec![id];
                        let select = referenced_column(meta, field);
                        if plan_fast(self.hub, model, field.column, select, &[], &mut path, &mut plan) {
                            self.fast.extend(plan.into_iter().map(|f| (f, referenced.clone())));
                            continue;
                        }
                    }
                    // A cascade to rows a receiver listens to reads them whole, once (Django's
                    // collector fetches the objects); otherwise their keys are enough.
                    let whole = r.on_delete == OnDelete::Cascade && self.hub.is_some_and(|h| h.wants_delete(model));
                    let pointing = if whole {
                        self.select_rows(model, field.column, &referenced)?
                    } else {
                        self.select_in(model.table, model.pk_field().column, field.column, &referenced)?
                    };
                    if pointing.is_empty() {
                        continue;
                    }
                    let name = format!("{}.{}", model.name, field.name);
                    match r.on_delete {
                        OnDelete::Cascade => {
                            self.add_dependency(meta, model, field.null.then_some(field));
                            match self.collect_rows(model, pointing, false) {
                                Err(Refused::Protected { objects, .. }) => add_protected(&mut protected, name, objects),
                                other => other?,
                            }
                        }
                        OnDelete::Protect => {
                            let objects = pointing.iter().map(|k| format!("{}({})", model.label(), show(k))).collect();
                            add_protected(&mut protected, name, objects);
                        }
                        OnDelete::Restrict => {
                            self.add_dependency(meta, model, None);
                            self.restricted.push(Restricted { field: name, model, keys: pointing });
                        }
                        OnDelete::SetNull => self.updates.push((model, field, Value::Null, pointing)),
                        OnDelete::SetDefault => {
                            let v = field.default.map(|d| d.value()).unwrap_or(Value::Null);
                            self.updates.push((model, field, v, pointing));
                        }
                        OnDelete::DoNothing | OnDelete::DbCascade | OnDelete::DbSetNull | OnDelete::DbSetDefault => {}
                    }
                }
                ReverseRelation::ManyToMany { model, field } => {
                    if field.through.is_some() {
                        continue; // a through model is an ordinary model with foreign keys
                    }
                    let (table, source, target) = crate::sql::m2m_columns(field);
                    let column = if std::ptr::eq((field.target)(), meta) { target } else { source };
                    self.join_rows.push((link_label(model, field), table, column, keys.clone()));
                }
            }
        }
        // Join rows of this model's own many-to-many fields.
        for mm in meta.many_to_many.iter().filter(|m| m.through.is_none()) {
            let (table, source, _) = crate::sql::m2m_columns(mm);
            self.join_rows.push((link_label(meta, mm), table, source, keys.clone()));
        }
        if protected.is_empty() {
            return Ok(());
        }
        let mut objects: Vec<String> = Vec::new();
        for o in protected.iter().flat_map(|(_, o)| o) {
            if !objects.contains(o) {
                objects.push(o.clone());
            }
        }
        Err(Refused::Protected { fields: protected.into_iter().map(|(f, _)| f).collect(), objects })
    }

    fn is_collected(&self, meta: &'static ModelMeta, key: &Value) -> bool {
        self.seen.contains(&(id_of(meta.concrete()), Key::of(key)))
    }

    /// Brings the collected models into dependency order (Django's `Collector.sort`): a
    /// model is deleted once every model it depends on is. A cycle is broken by setting
    /// its nullable keys to NULL first; one with none is left in collection order (the
    /// database then decides).
    fn sort(&mut self) {
        let n = self.data.len();
        let mut sorted: Vec<usize> = Vec::with_capacity(n);
        let mut done: FastSet<usize> = FastSet::default();
        let present: FastSet<usize> = self.data.iter().map(|m| id_of(m.meta)).collect();
        let mut deps: Vec<&Dependency> =
            self.dependencies.iter().filter(|d| present.contains(&d.before) && present.contains(&d.after)).collect();
        let mut nulled: Vec<(&'static ModelMeta, &'static FieldMeta)> = Vec::new();
        while sorted.len() < n {
            let mut found = false;
            for (i, m) in self.data.iter().enumerate() {
                let id = id_of(m.meta);
                if done.contains(&id) {
                    continue;
                }
                if deps.iter().all(|d| d.after != id || done.contains(&d.before)) {
                    sorted.push(i);
                    done.insert(id);
                    found = true;
                }
            }
            if found {
                continue;
            }
            let before = deps.len();
            deps.retain(|d| match d.nullable {
                Some(f) if !done.contains(&d.after) => {
                    nulled.push(f);
                    false
                }
                _ => true,
            });
            if deps.len() == before {
                sorted.extend((0..n).filter(|&i| !done.contains(&id_of(self.data[i].meta))));
                break;
            }
        }
        for (model, field) in nulled {
            if let Some(&i) = self.index.get(&id_of(model)) {
                let keys = self.data[i].batches.concat();
                self.nulled.push((model, field, keys));
            }
        }
        let mut data: Vec<Option<ModelData>> = std::mem::take(&mut self.data).into_iter().map(Some).collect();
        self.data = sorted.into_iter().filter_map(|i| data[i].take()).collect();
        self.index = self.data.iter().enumerate().map(|(i, m)| (id_of(m.meta), i)).collect();
    }

    /// The delete statements' groups of one model, in deletion order, each in descending key
    /// order (Django deletes and sends `post_delete` in reverse key order): one group, or,
    /// for a model whose rows point at each other, its sub-batches last-found first.
    fn groups(&self, m: &ModelData) -> Vec<Vec<Value>> {
        let mut groups: Vec<Vec<Value>> = if self.self_referencing.contains(&id_of(m.meta)) {
            m.batches.iter().rev().cloned().collect()
        } else {
            vec![m.batches.concat()]
        };
        for g in &mut groups {
            g.sort_by_key(|v| std::cmp::Reverse(Key::of(v)));
        }
        groups
    }

    /// The objects to signal per model (in sorted order), by key, each with its sender: the
    /// caller's instances as given, the others read now (only for models a receiver
    /// listens to).
    fn instances<'s>(
        &mut self,
        signals: &DeleteSignals<'s>,
    ) -> Result<Vec<crate::model::key::KeyMap<(&'static ModelMeta, Instance<'s>)>>> {
        let given_meta = signals.sender.concrete();
        let given: crate::model::key::KeyMap<&'s dyn Any> =
            signals.given.iter().map(|(k, obj)| (Key::of(k), *obj)).collect();
        let mut out = Vec::with_capacity(self.data.len());
        for i in 0..self.data.len() {
            let meta = self.data[i].meta;
            let own = std::ptr::eq(meta, given_meta);
            let mut objs = crate::model::key::key_map(0);
            let (mut unread, mut values): (Vec<Key>, Vec<Value>) = (Vec::new(), Vec::new());
            for v in self.data[i].batches.iter().flatten() {
                let k = Key::of(v);
                match given.get(&k).filter(|_| own) {
                    Some(o) if signals.hub.wants_delete(signals.sender) => {
                        objs.insert(k, (signals.sender, Instance::Given(*o)));
                    }
                    Some(_) => {}
                    None if signals.hub.wants_delete(meta) => {
                        unread.push(k);
                        values.push(v.clone());
                    }
                    None => {}
                }
            }
            if !unread.is_empty() {
                let mut known = crate::model::key::key_map(0);
                for k in &unread {
                    if let Some(row) = self.read.remove(&(id_of(meta), k.clone())) {
                        known.insert(k.clone(), row);
                    }
                }
                let stored = signals.hub.stored_instances(self.conn, meta, &values, known)?;
                for (k, o) in unread.into_iter().zip(stored) {
                    if let Some(o) = o {
                        objs.insert(k, (meta, Instance::Stored(o)));
                    }
                }
            }
            out.push(objs);
        }
        Ok(out)
    }

    /// Sorts, then sends every `pre_delete`, deletes the rows nothing depends on (fast
    /// deletes and link-table rows), updates the keys `SetNull` / `SetDefault` change, and
    /// deletes the collected rows model by model, sending each group's `post_delete`s
    /// after it (Django's `Collector.delete`).
    pub(crate) fn execute(mut self, signals: Option<&DeleteSignals<'_>>) -> Result<DeleteCounts> {
        self.sort();
        let signalled = match signals {
            Some(s) => {
                let objects = self.instances(s)?;
                for (m, objs) in self.data.iter().zip(&objects) {
                    let mut keys: Vec<Key> = m.batches.iter().flatten().map(Key::of).collect();
                    keys.sort();
                    for k in keys {
                        if let Some((meta, obj)) = objs.get(&k) {
                            s.hub.send_delete(meta, obj.get(), s.origin, false, s.using)?;
                        }
                    }
                }
                Some((s.hub, objects))
            }
            None => None,
        };
        let d = self.d;
        let mut counts = DeleteCounts::new();
        let fast = std::mem::take(&mut self.fast);
        let empty = empty_tables(self.conn, d, fast.iter().map(|(f, _)| f))?;
        for (f, keys) in fast {
            if f.reads_any(&empty) {
                continue;
            }
            let mut n = 0;
            for chunk in keys.chunks(batch_size(d)) {
                let sql = f.sql(d, &FastOrigin::Keys(chunk.len()));
                n += self.conn.execute(&sql, chunk)?;
            }
            if n > 0 {
                *counts.entry(f.label).or_default() += n;
            }
        }
        for (label, table, column, keys) in std::mem::take(&mut self.join_rows) {
            let n = delete_in(self.conn, d, table, column, &keys)?;
            if n > 0 {
                *counts.entry(label).or_default() += n;
            }
        }
        let size = batch_size(d);
        let mut updates = std::mem::take(&mut self.updates);
        for u in &mut updates {
            let model = u.0;
            u.3.retain(|k| !self.is_collected(model, k));
        }
        updates.extend(std::mem::take(&mut self.nulled).into_iter().map(|(m, f, k)| (m, f, Value::Null, k)));
        for (model, field, value, keys) in updates {
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
        for (i, m) in self.data.iter().enumerate() {
            for group in self.groups(m) {
                let n = delete_in(self.conn, d, m.meta.table, m.meta.pk_field().column, &group)?;
                if n > 0 {
                    *counts.entry(m.meta.label()).or_default() += n;
                }
                if let (Some((hub, objects)), Some(s)) = (&signalled, signals) {
                    for k in &group {
                        if let Some((meta, obj)) = objects[i].get(&Key::of(k)) {
                            hub.send_delete(meta, obj.get(), s.origin, true, s.using)?;
                        }
                    }
                }
            }
        }
        Ok(counts)
    }
}

/// Why collecting stopped: an error, or protecting rows (named by the caller's relation).
enum Refused {
    Error(Error),
    Protected { fields: Vec<String>, objects: Vec<String> },
}

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        Refused::Error(e)
    }
}

fn add_protected(protected: &mut Vec<(String, Vec<String>)>, field: String, objects: Vec<String>) {
    match protected.iter_mut().find(|(f, _)| *f == field) {
        Some((_, o)) => o.extend(objects),
        None => protected.push((field, objects)),
    }
}

/// The label Django gives an automatic link table's model: `app.Model_field`.
fn link_label(declaring: &'static ModelMeta, field: &ManyToManyMeta) -> String {
    let source = (field.source)();
    let owner = if source.name.is_empty() { declaring } else { source };
    format!("{}.{}_{}", owner.app, owner.name, field.name)
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

/// The tables the fast deletes `plan` read or delete from that hold no row, asked in one
/// statement (`SELECT EXISTS (SELECT 1 FROM "a"), EXISTS (SELECT 1 FROM "b")`), so that each
/// fast delete reading one of them can be skipped ([`FastDelete::reads_any`]). Each answer
/// reads at most the first entry of the table's smallest index.
///
/// Asked only where it is worth a statement: in process (SQLite) a statement costs
/// microseconds, so whenever there is a fast delete; on a server it is a round trip of its
/// own, so when two or more fast deletes stand to be saved by it. Otherwise no table is
/// reported empty.
///
/// Run in the delete's transaction, before anything is deleted: a table empty then stays
/// empty for the statements that follow (they only delete), and on SQLite the transaction's
/// snapshot keeps another connection's rows out (its commit in between fails this
/// transaction's first write instead). On a server, a row another connection adds in between
/// to a table found empty, pointing at a row this delete removes, fails the delete on its
/// foreign key and the transaction rolls back, as a row added between Django's SELECT and
/// DELETE would.
fn empty_tables<'a>(
    conn: &mut dyn Connection,
    d: Dialect,
    plan: impl ExactSizeIterator<Item = &'a FastDelete>,
) -> Result<Vec<&'static str>> {
    if plan.len() < 2 && !(plan.len() == 1 && d.features().in_process) {
        return Ok(Vec::new());
    }
    let mut tables: Vec<&'static str> = Vec::new();
    for t in plan.flat_map(FastDelete::tables) {
        if !tables.contains(&t) {
            tables.push(t);
        }
    }
    let mut sql = String::from("SELECT ");
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str("EXISTS (SELECT 1 FROM ");
        d.write_ident(&mut sql, t);
        sql.push(')');
    }
    let mut empty = Vec::new();
    crate::queryset::rows_of(conn, &sql, &[], |row| {
        for (i, t) in tables.iter().enumerate() {
            let holds_rows = match row.value(i)? {
                Value::Bool(b) => b,
                Value::Int(n) => n != 0,
                other => return Err(Error::TypeError(format!("EXISTS came back as {other:?}"))),
            };
            if !holds_rows {
                empty.push(*t);
            }
        }
        Ok(())
    })?;
    Ok(empty)
}

/// The most hops (subqueries nested in one another) a fast delete may take below the rows
/// whose deletion it follows: deeper subtrees are collected.
const MAX_HOPS: usize = 4;

/// The most statements one subtree of fast deletes may take: wider subtrees are collected.
const MAX_FAST: usize = 32;

/// One level of a fast delete's nested subqueries: `SELECT select FROM table WHERE column IN
/// (…)`, the rows of `table` whose `column` points at the rows of the level above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hop {
    table: &'static str,
    select: &'static str,
    column: &'static str,
}

/// Rows deleted by one statement, unread: `DELETE FROM table WHERE column IN (SELECT … FROM
/// hop WHERE … IN (… the origin …))`, the hops innermost first; the origin is a list of keys
/// (the collector's) or the deleted QuerySet's own rows, selected by `origin_select` (the key,
/// or the column a `to_field` relation points at).
#[derive(Clone, Debug)]
struct FastDelete {
    /// The model label the rows count as (a link table's: Django's `app.Model_field`).
    label: String,
    table: &'static str,
    column: &'static str,
    hops: Vec<Hop>,
    origin_select: &'static str,
}

/// What the innermost level of a [`FastDelete`] points at.
enum FastOrigin<'a> {
    /// `n` keys, bound from the first parameter on.
    Keys(usize),
    /// The rows of `table` its ` WHERE …` (or empty) `filter` matches, columns qualified by
    /// the table's name.
    Rows { table: &'static str, filter: &'a str },
}

impl FastDelete {
    /// The tables the statement deletes from or reads through: its own, then each hop's. If
    /// one of them is empty, the statement matches no row.
    fn tables(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.table).chain(self.hops.iter().map(|h| h.table))
    }

    /// Does the statement delete from or read through one of `tables` (then, those being
    /// empty, it matches no row)?
    fn reads_any(&self, tables: &[&'static str]) -> bool {
        !tables.is_empty() && self.tables().any(|t| tables.contains(&t))
    }

    /// The statement: nested `IN (SELECT …)` subqueries, or, where the backend would test
    /// every row of the table against them ([`delete_in_subquery_uses_index`]), the
    /// multi-table form `DELETE t FROM t JOIN hop ON … WHERE …`.
    ///
    /// [`delete_in_subquery_uses_index`]: orm_backends::Features::delete_in_subquery_uses_index
    fn sql(&self, d: Dialect, origin: &FastOrigin<'_>) -> String {
        let mut sql = String::with_capacity(96 + 64 * self.hops.len());
        let keys_only = self.hops.is_empty() && matches!(origin, FastOrigin::Keys(_));
        if d.features().delete_in_subquery_uses_index || keys_only {
            sql.push_str("DELETE FROM ");
            d.write_ident(&mut sql, self.table);
            sql.push_str(" WHERE ");
            d.write_ident(&mut sql, self.column);
            sql.push_str(" IN (");
            for hop in &self.hops {
                sql.push_str("SELECT ");
                d.write_ident(&mut sql, hop.select);
                sql.push_str(" FROM ");
                d.write_ident(&mut sql, hop.table);
                sql.push_str(" WHERE ");
                d.write_ident(&mut sql, hop.column);
                sql.push_str(" IN (");
            }
            match origin {
                FastOrigin::Keys(n) => d.write_placeholder_list(&mut sql, 1, *n),
                FastOrigin::Rows { table, filter } => {
                    sql.push_str("SELECT ");
                    d.write_ident(&mut sql, self.origin_select);
                    sql.push_str(" FROM ");
                    d.write_ident(&mut sql, table);
                    sql.push_str(filter);
                }
            }
            for _ in 0..=self.hops.len() {
                sql.push(')');
            }
            return sql;
        }
        let column = |sql: &mut String, table: &str, column: &str| {
            d.write_ident(sql, table);
            sql.push('.');
            d.write_ident(sql, column);
        };
        sql.push_str("DELETE ");
        d.write_ident(&mut sql, self.table);
        sql.push_str(" FROM ");
        d.write_ident(&mut sql, self.table);
        let mut prev = (self.table, self.column);
        for hop in &self.hops {
            sql.push_str(" INNER JOIN ");
            d.write_ident(&mut sql, hop.table);
            sql.push_str(" ON ");
            column(&mut sql, prev.0, prev.1);
            sql.push_str(" = ");
            column(&mut sql, hop.table, hop.select);
            prev = (hop.table, hop.column);
        }
        match origin {
            FastOrigin::Keys(n) => {
                sql.push_str(" WHERE ");
                column(&mut sql, prev.0, prev.1);
                sql.push_str(" IN (");
                d.write_placeholder_list(&mut sql, 1, *n);
                sql.push(')');
            }
            FastOrigin::Rows { table, filter } => {
                sql.push_str(" INNER JOIN ");
                d.write_ident(&mut sql, table);
                sql.push_str(" ON ");
                column(&mut sql, prev.0, prev.1);
                sql.push_str(" = ");
                column(&mut sql, table, self.origin_select);
                sql.push_str(filter);
            }
        }
        sql
    }
}

/// The column of `target` a relation points at: its `to_field`, or the key.
fn referenced_column(target: &'static ModelMeta, field: &'static FieldMeta) -> &'static str {
    match field.relation.and_then(|r| r.to_field).and_then(|n| target.field(n)) {
        Some(f) => f.column,
        None => target.pk_field().column,
    }
}

/// Plans deleting, unread, the rows of `model` whose `column` points at the rows `hops` lead
/// to (the collector's keys, or a QuerySet's rows), and everything their deletion takes with
/// it, as statements in `out` in the order they must run (rows pointing at rows before the
/// rows they point at; link-table rows before their model's). `false` (and `out` to be
/// dropped) when any model of the subtree needs its rows read: a delete receiver listens to
/// it, something points at it other than by `Cascade` or a database-level mode (`Protect`,
/// `Restrict`, `SetNull` and `SetDefault` read the keys), it has a `Restrict` relation (whose
/// rule needs its keys), it is a multi-table child, it points at itself or at a model above it
/// (`path`), or the subtree is deeper than [`MAX_HOPS`] or wider than [`MAX_FAST`].
///
/// For a model nothing points at, this is Django's `can_fast_delete`; below it, Django reads
/// the rows of every model something cascades to, and this nests their selection instead.
fn plan_fast(
    hub: Option<&Signals>,
    model: &'static ModelMeta,
    column: &'static str,
    origin_select: &'static str,
    hops: &[Hop],
    path: &mut Vec<usize>,
    out: &mut Vec<FastDelete>,
) -> bool {
    let id = id_of(model);
    if model.parent().is_some()
        || path.contains(&id)
        || hops.len() > MAX_HOPS
        || out.len() >= MAX_FAST
        || hub.is_some_and(|h| h.wants_delete(model))
        || model.fields.iter().any(|f| f.relation.is_some_and(|r| r.on_delete == OnDelete::Restrict))
    {
        return false;
    }
    path.push(id);
    let below = |select: &'static str| {
        let mut inner = Vec::with_capacity(hops.len() + 1);
        inner.push(Hop { table: model.table, select, column });
        inner.extend_from_slice(hops);
        inner
    };
    let pk = model.pk_field().column;
    for rel in reverse_relations(model) {
        match rel {
            ReverseRelation::ForeignKey { model: child, field } => {
                let Some(r) = field.relation else { continue };
                if r.on_delete.left_to_database() {
                    continue;
                }
                if r.on_delete != OnDelete::Cascade {
                    return false;
                }
                let inner = below(referenced_column(model, field));
                if !plan_fast(hub, child, field.column, origin_select, &inner, path, out) {
                    return false;
                }
            }
            ReverseRelation::ManyToMany { model: declaring, field } => {
                if field.through.is_some() {
                    continue; // a through model is an ordinary model with foreign keys
                }
                let (table, source, target) = crate::sql::m2m_columns(field);
                let column = if std::ptr::eq((field.target)(), model) { target } else { source };
                out.push(FastDelete {
                    label: link_label(declaring, field),
                    table,
                    column,
                    hops: below(pk),
                    origin_select,
                });
            }
        }
    }
    for mm in model.many_to_many.iter().filter(|m| m.through.is_none()) {
        let (table, source, _) = crate::sql::m2m_columns(mm);
        out.push(FastDelete { label: link_label(model, mm), table, column: source, hops: below(pk), origin_select });
    }
    out.push(FastDelete { label: model.label(), table: model.table, column, hops: hops.to_vec(), origin_select });
    path.pop();
    true
}

/// The statements that delete, unread, everything that deleting rows of `meta` (a concrete
/// model) takes with it, each nesting the selection of those rows by their `origin_select`
/// column; `None` when some of it needs reading (see [`plan_fast`]), or `meta`'s own rows do:
/// a delete receiver listens to it, or it is a multi-table child.
fn plan_below(meta: &'static ModelMeta, hub: Option<&Signals>) -> Option<Vec<FastDelete>> {
    if meta.parent().is_some() || hub.is_some_and(|h| h.wants_delete(meta)) {
        return None;
    }
    let mut out = Vec::new();
    let mut path = vec![id_of(meta)];
    let pk = meta.pk_field().column;
    for rel in reverse_relations(meta) {
        match rel {
            ReverseRelation::ForeignKey { model, field } => {
                let Some(r) = field.relation else { continue };
                if r.on_delete.left_to_database() {
                    continue;
                }
                if r.on_delete != OnDelete::Cascade {
                    return None;
                }
                let select = referenced_column(meta, field);
                if !plan_fast(hub, model, field.column, select, &[], &mut path, &mut out) {
                    return None;
                }
            }
            ReverseRelation::ManyToMany { model, field } => {
                if field.through.is_some() {
                    continue;
                }
                let (table, source, target) = crate::sql::m2m_columns(field);
                let column = if std::ptr::eq((field.target)(), meta) { target } else { source };
                out.push(FastDelete {
                    label: link_label(model, field),
                    table,
                    column,
                    hops: Vec::new(),
                    origin_select: pk,
                });
            }
        }
    }
    for mm in meta.many_to_many.iter().filter(|m| m.through.is_none()) {
        let (table, source, _) = crate::sql::m2m_columns(mm);
        out.push(FastDelete {
            label: link_label(meta, mm),
            table,
            column: source,
            hops: Vec::new(),
            origin_select: pk,
        });
    }
    Some(out)
}

/// [`plan_below`], kept per model when no delete receiver is connected anywhere (`hub` is
/// `None`): the plan then depends only on the models' relations, which are fixed at link
/// time. With receivers connected (which come and go), it is planned each time.
fn plan_below_cached(meta: &'static ModelMeta, hub: Option<&Signals>) -> Option<std::sync::Arc<[FastDelete]>> {
    use std::sync::{Arc, OnceLock, RwLock};
    type Plans = RwLock<crate::model::key::FastMap<usize, Option<Arc<[FastDelete]>>>>;
    static PLANS: OnceLock<Plans> = OnceLock::new();
    if hub.is_some() {
        return plan_below(meta, hub).map(Arc::from);
    }
    let plans = PLANS.get_or_init(Plans::default);
    if let Some(p) = plans.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id_of(meta)) {
        return p.clone();
    }
    let plan = plan_below(meta, None).map(Arc::<[FastDelete]>::from);
    plans.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id_of(meta), plan.clone());
    plan
}

/// A QuerySet delete that selects no keys: when nothing below the matched rows needs reading
/// ([`plan_below`]) and the filters read only the model's own table
/// ([`compile_own_filter`](crate::sql::compile_own_filter)), the rows below are deleted by
/// statements nesting the QuerySet's selection (`DELETE FROM post WHERE author_id IN (SELECT id
/// FROM author WHERE …)`, deepest first), then the matched rows by the QuerySet's own DELETE,
/// in one transaction. `None` when this does not apply (the caller collects).
fn delete_by_subqueries<M: crate::model::Model>(
    qs: &crate::queryset::QuerySet<M>,
    ex: &(impl Executor + ?Sized),
    hub: Option<&Signals>,
) -> Result<Option<DeleteCounts>> {
    let meta = M::meta();
    let concrete = meta.concrete();
    if qs.query.limit.is_some() || qs.query.offset > 0 {
        return Ok(None); // refused by the caller before any SQL; never deleted by subqueries
    }
    let Some(plan) = plan_below_cached(concrete, hub) else { return Ok(None) };
    let d = ex.dialect();
    let Some((filter, params)) = crate::sql::compile_own_filter(meta, d, &qs.query)? else {
        return Ok(None);
    };
    // The QuerySet's own DELETE: what `compile_delete` writes for filters that need no join
    // (the same conditions over the same table), without writing them a second time.
    let mut own = String::with_capacity(16 + meta.table.len() + filter.len());
    own.push_str("DELETE FROM ");
    d.write_ident(&mut own, meta.table);
    own.push_str(&filter);
    if !plan.is_empty() && d.features().can_delete_in_with {
        let sql = chained_delete(d, &own, &plan);
        let mut labels = vec![concrete.label()];
        labels.extend(plan.iter().rev().map(|f| f.label.clone()));
        return delete_in_with(ex, &sql, &params, &labels).map(Some);
    }
    let origin = FastOrigin::Rows { table: meta.table, filter: &filter };
    let counts = ex.with_connection(|conn| {
        orm_backends::atomic(conn, |tx| {
            use orm_backends::Executor as _;
            tx.with_connection(|c| {
                let empty = empty_tables(c, d, plan.iter())?;
                let mut counts = DeleteCounts::new();
                let mut count = |label: &str, n: u64| {
                    if n > 0 {
                        *counts.entry(label.to_owned()).or_default() += n;
                    }
                };
                // Written only for the levels that are sent.
                for f in plan.iter().filter(|f| !f.reads_any(&empty)) {
                    count(&f.label, c.execute(&f.sql(d, &origin), &params)?);
                }
                count(&concrete.label(), c.execute(&own, &params)?);
                Ok::<_, Error>(counts)
            })
        })
    })?;
    Ok(Some(counts))
}

/// One statement of data-modifying `WITH` clauses ([`Features::can_delete_in_with`]) for a
/// QuerySet delete and its `plan`: the QuerySet's own DELETE (`own`) first,
/// returning the columns the levels below select, then each level, parents before children,
/// deleting the rows that point at the rows its parent's clause deleted:
///
/// ```sql
/// WITH "d0" AS (DELETE FROM "author" WHERE … RETURNING "id"),
///      "d1" AS (DELETE FROM "post" WHERE "author_id" IN (SELECT "id" FROM "d0") RETURNING "id"),
///      "d2" AS (DELETE FROM "comment" WHERE "post_id" IN (SELECT "id" FROM "d1") RETURNING 1)
/// SELECT (SELECT count(*) FROM "d0"), (SELECT count(*) FROM "d1"), (SELECT count(*) FROM "d2")
/// ```
///
/// The QuerySet's filter runs once, and each level finds its rows through the index on its
/// key. One statement is atomic and reads one snapshot; its foreign keys are checked once
/// every clause has run, so the order of the clauses does not matter to them. The counts come
/// in the order of the clauses: the QuerySet's, then `plan` reversed.
///
/// [`Features::can_delete_in_with`]: orm_backends::Features::can_delete_in_with
fn chained_delete(d: Dialect, own: &str, plan: &[FastDelete]) -> String {
    // Clause 0 is the QuerySet's; clause k + 1 is plan[plan.len() - 1 - k].
    let order: Vec<&FastDelete> = plan.iter().rev().collect();
    let parent_of = |f: &FastDelete| -> (usize, &'static str) {
        match f.hops.split_first() {
            None => (0, f.origin_select),
            Some((hop, above)) => {
                let at = order
                    .iter()
                    .position(|p| p.table == hop.table && p.column == hop.column && p.hops == above)
                    .expect("a fast delete's parent level is planned with it, before it in this order");
                (at + 1, hop.select)
            }
        }
    };
    let mut returning: Vec<Vec<&'static str>> = vec![Vec::new(); order.len() + 1];
    let parents: Vec<(usize, &'static str)> = order.iter().map(|f| parent_of(f)).collect();
    for &(p, column) in &parents {
        if !returning[p].contains(&column) {
            returning[p].push(column);
        }
    }
    let write_returning = |sql: &mut String, columns: &[&'static str]| {
        sql.push_str(" RETURNING ");
        if columns.is_empty() {
            sql.push('1');
        }
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            d.write_ident(sql, c);
        }
    };
    let name = |i: usize| format!("d{i}");
    let mut sql = String::from("WITH ");
    d.write_ident(&mut sql, &name(0));
    sql.push_str(" AS (");
    sql.push_str(own);
    write_returning(&mut sql, &returning[0]);
    sql.push(')');
    for (k, f) in order.iter().enumerate() {
        let (p, select) = parents[k];
        sql.push_str(", ");
        d.write_ident(&mut sql, &name(k + 1));
        sql.push_str(" AS (DELETE FROM ");
        d.write_ident(&mut sql, f.table);
        sql.push_str(" WHERE ");
        d.write_ident(&mut sql, f.column);
        sql.push_str(" IN (SELECT ");
        d.write_ident(&mut sql, select);
        sql.push_str(" FROM ");
        d.write_ident(&mut sql, &name(p));
        sql.push(')');
        write_returning(&mut sql, &returning[k + 1]);
        sql.push(')');
    }
    sql.push_str(" SELECT ");
    for i in 0..=order.len() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str("(SELECT count(*) FROM ");
        d.write_ident(&mut sql, &name(i));
        sql.push(')');
    }
    sql
}

/// Runs a [`chained_delete`] statement and counts its clauses' rows under `labels`.
fn delete_in_with(
    ex: &(impl Executor + ?Sized),
    sql: &str,
    params: &[Value],
    labels: &[String],
) -> Result<DeleteCounts> {
    let mut counts = DeleteCounts::new();
    ex.with_connection(|c| {
        crate::queryset::rows_of(c, sql, params, |row| {
            for (i, label) in labels.iter().enumerate() {
                let n = match row.value(i)? {
                    Value::Int(n) => n.max(0) as u64,
                    other => {
                        return Err(Error::TypeError(format!("a row count came back as {other:?}")));
                    }
                };
                if n > 0 {
                    *counts.entry(label.clone()).or_default() += n;
                }
            }
            Ok(())
        })
    })?;
    Ok(counts)
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
                field.relation.is_some_and(|r| !r.on_delete.left_to_database())
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
    options: &DeleteOptions,
) -> Result<DeleteCounts> {
    orm_backends::atomic(conn, |tx| {
        use orm_backends::Executor as _;
        tx.with_connection(|c| {
            let mut collector = Collector::new(c, signals.map(|s| s.hub));
            collector.collect(meta, keys, options)?;
            collector.execute(signals)
        })
    })
}

impl<M: crate::model::Model> crate::queryset::QuerySet<M> {
    /// Deletes the matching rows and everything that depends on them through the deletion
    /// collector (`on_delete` of every relation pointing here, many-to-many link rows, parent
    /// rows of a multi-table child), in one transaction. Returns what was removed, as
    /// Django's `(total, {label: count})`: [`Deleted`] (which compares equal to its total).
    ///
    /// Refused before any SQL, as in Django, on a sliced QuerySet (`limit`, `offset`,
    /// `slice`: which rows a slice holds depends on an ordering a DELETE cannot keep) and
    /// after `values()`: [`Error::TypeError`]. `Protect` and `Restrict` refusals list every
    /// refusing relation and object ([`Error::ProtectedError`], [`Error::RestrictedError`]).
    pub fn delete(&self, ex: &(impl Executor + ?Sized)) -> Result<Deleted> {
        self.delete_counted(ex).map(Deleted::from_counts)
    }

    /// Deletes like [`delete`](Self::delete) and returns only the number of rows deleted per
    /// model label (`app.Model`), cascades and link-table rows included.
    pub fn delete_counted(&self, ex: &(impl Executor + ?Sized)) -> Result<DeleteCounts> {
        self.check_delete()?;
        if let Some(t) = crate::databases::write_target(ex, M::meta(), self.using, self.hint_db)? {
            return t.finish(self.delete_counted(t.db));
        }
        if self.is_none() {
            return Ok(Default::default());
        }
        let meta = M::meta();
        let hub = crate::signals::delete_signals(ex);
        if let Some(hub) = hub {
            if crate::signals::delete_hub::<M, _>(ex).is_some() {
                return super::dispatch::delete_queryset(hub, self, ex);
            }
        }
        if !needs_collector(meta) {
            let stmt = compile_delete(meta, ex.dialect(), &self.query)?;
            let n = ex.with_connection(|c| c.execute(&stmt.sql, &stmt.params))?;
            return Ok(if n > 0 { [(meta.concrete().label(), n)].into_iter().collect() } else { DeleteCounts::new() });
        }
        // Nothing below needs reading: no keys are selected.
        if let Some(counts) = delete_by_subqueries(self, ex, hub)? {
            return Ok(counts);
        }
        if let Some(hub) = hub {
            return super::dispatch::delete_queryset(hub, self, ex);
        }
        let keys: Vec<Value> = self.clone().order_by(Vec::<OrderBy>::new()).values(["pk"]).fetch_flat(ex)?;
        ex.with_connection(|c| delete_with_collector(c, meta, keys, None, &DeleteOptions::default()))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Comments whose post's author is in the origin: one hop above the comments.
    fn comments() -> FastDelete {
        FastDelete {
            label: "blog.Comment".into(),
            table: "comment",
            column: "post_id",
            hops: vec![Hop { table: "post", select: "id", column: "author_id" }],
            origin_select: "id",
        }
    }

    #[test]
    fn fast_deletes_nest_subqueries_or_join_per_dialect() {
        let f = comments();
        let keys = FastOrigin::Keys(2);
        assert_eq!(
            f.sql(Dialect::Sqlite, &keys),
            r#"DELETE FROM "comment" WHERE "post_id" IN (SELECT "id" FROM "post" WHERE "author_id" IN (?, ?))"#
        );
        assert_eq!(
            f.sql(Dialect::Postgres, &keys),
            r#"DELETE FROM "comment" WHERE "post_id" IN (SELECT "id" FROM "post" WHERE "author_id" IN ($1, $2))"#
        );
        assert_eq!(
            f.sql(Dialect::Mysql, &keys),
            "DELETE `comment` FROM `comment` INNER JOIN `post` ON `comment`.`post_id` = `post`.`id` \
             WHERE `post`.`author_id` IN (?, ?)"
        );
        let rows = FastOrigin::Rows { table: "author", filter: " WHERE `author`.`name` = ?" };
        assert_eq!(
            f.sql(Dialect::Mysql, &rows),
            "DELETE `comment` FROM `comment` INNER JOIN `post` ON `comment`.`post_id` = `post`.`id` \
             INNER JOIN `author` ON `post`.`author_id` = `author`.`id` WHERE `author`.`name` = ?"
        );
        let rows = FastOrigin::Rows { table: "author", filter: r#" WHERE "author"."name" = ?"# };
        assert_eq!(
            f.sql(Dialect::Sqlite, &rows),
            r#"DELETE FROM "comment" WHERE "post_id" IN (SELECT "id" FROM "post" WHERE "author_id" IN (SELECT "id" FROM "author" WHERE "author"."name" = ?))"#
        );
        // Rows pointing straight at the keys: one plain statement everywhere.
        let posts = FastDelete { hops: Vec::new(), table: "post", column: "author_id", ..comments() };
        assert_eq!(posts.sql(Dialect::Mysql, &FastOrigin::Keys(1)), "DELETE FROM `post` WHERE `author_id` IN (?)");
    }

    #[test]
    fn postgres_chains_each_level_to_the_keys_its_parent_returned() {
        let posts = FastDelete {
            label: "blog.Post".into(),
            table: "post",
            column: "author_id",
            hops: Vec::new(),
            origin_select: "id",
        };
        // The plan's order: children before parents.
        let sql = chained_delete(
            Dialect::Postgres,
            r#"DELETE FROM "author" WHERE "author"."name" = $1"#,
            &[comments(), posts],
        );
        assert_eq!(
            sql,
            r#"WITH "d0" AS (DELETE FROM "author" WHERE "author"."name" = $1 RETURNING "id"), "d1" AS (DELETE FROM "post" WHERE "author_id" IN (SELECT "id" FROM "d0") RETURNING "id"), "d2" AS (DELETE FROM "comment" WHERE "post_id" IN (SELECT "id" FROM "d1") RETURNING 1) SELECT (SELECT count(*) FROM "d0"), (SELECT count(*) FROM "d1"), (SELECT count(*) FROM "d2")"#
        );
    }
}
