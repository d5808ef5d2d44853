//! Bulk writes and the atomic read-or-write helpers: `bulk_create`, `bulk_update`,
//! `get_or_create`, `update_or_create`.

use super::by_key::resolve_update_fields;
use super::QuerySet;
use crate::error::{Error, Result};
use crate::model::cache::{Shape, SqlCache};
use crate::model::Model;
use orm_backends::schema::column_type_sql;
use orm_backends::{Connection, Dialect, Executor, GeneratedKeys, InsertKeys, Param, Value};
use std::sync::Arc;

/// Rows per INSERT so that `columns` parameters per row stay within the backend's limit.
fn rows_per_batch(d: Dialect, columns: usize) -> usize {
    (d.features().max_query_params / columns.max(1)).max(1)
}

/// At most this many rows per INSERT, whatever the parameter limit allows (a model whose only
/// column is its key binds nothing).
const MAX_ROWS_PER_INSERT: usize = 10_000;

/// Rows per `bulk_update` statement: within the parameter limit, and under 1,000 rows, since
/// each row's `CASE` is searched linearly.
fn rows_per_update(d: Dialect, columns: usize) -> usize {
    rows_per_batch(d, columns).min(1000)
}

/// `INSERT INTO t (cols) VALUES (…), (…)` for `rows` rows of `M`, rendered once per shape.
fn bulk_insert_sql<M: Model>(d: Dialect, include_pk: bool, rows: usize) -> Arc<str> {
    let meta = M::meta();
    let shape = Shape::BulkInsert { include_pk, rows: rows as u32 };
    SqlCache::of(meta).get_or_render(d, shape, || {
        let pk = meta.pk;
        let mut cols: Vec<&'static str> =
            meta.fields.iter().enumerate().filter(|&(i, _)| i != pk || include_pk).map(|(_, f)| f.column).collect();
        // A model whose only column is a generated key: each row asks for it (Django's
        // `pk_default_value`: NULL on SQLite, which then picks the rowid, DEFAULT elsewhere).
        let generated_only = cols.is_empty();
        if generated_only {
            cols.push(meta.pk_field().column);
        }
        let mut sql = String::with_capacity(32 + cols.len() * 16 + rows * cols.len() * 4);
        sql.push_str("INSERT INTO ");
        d.write_ident(&mut sql, meta.table);
        sql.push_str(" (");
        for (n, c) in cols.iter().enumerate() {
            if n > 0 {
                sql.push_str(", ");
            }
            d.write_ident(&mut sql, c);
        }
        sql.push_str(") VALUES ");
        let mut p = 0;
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            if generated_only {
                sql.push_str(if d == Dialect::Sqlite { "NULL" } else { "DEFAULT" });
            }
            for n in 0..cols.len() - usize::from(generated_only) {
                if n > 0 {
                    sql.push_str(", ");
                }
                p += 1;
                d.write_placeholder(&mut sql, p);
            }
            sql.push(')');
        }
        sql
    })
}

/// Which instances of a `bulk_create` one INSERT group takes.
enum Group {
    /// The first `n`, in order.
    All(usize),
    /// These, in order.
    Listed(Vec<usize>),
}

impl Group {
    fn len(&self) -> usize {
        match self {
            Group::All(n) => *n,
            Group::Listed(v) => v.len(),
        }
    }

    /// The instance at `position` in the group.
    fn at(&self, position: usize) -> usize {
        match self {
            Group::All(_) => position,
            Group::Listed(v) => v[position],
        }
    }
}

/// Inserts the instances `group` of `objs` (all with a key, or all without) in statements of
/// at most `per` rows; sets generated keys where the backend hands them back.
fn insert_group<M: Model>(
    conn: &mut dyn Connection,
    objs: &mut [M],
    group: &Group,
    include_pk: bool,
    per: usize,
    conflict: &Conflict,
) -> Result<u64> {
    let meta = M::meta();
    let pk = meta.pk;
    let d = conn.dialect();
    let ncols = meta.fields.len() - usize::from(!include_pk);
    // Keys come back for plain inserts, and for upserts where RETURNING lists every row; an
    // ignored conflict inserts fewer rows than it was given, so no key can be matched to its row.
    let keys_wanted = !include_pk
        && match conflict {
            Conflict::None => true,
            Conflict::Ignore => false,
            Conflict::Update(_) => d != Dialect::Mysql,
        };
    let keys = keys_wanted.then(|| InsertKeys { table: meta.table, column: meta.pk_field().column });
    let mut total = 0;
    let mut buffer = PARAMS.with(|b| b.take());
    for start in (0..group.len()).step_by(per.max(1)) {
        let chunk = start..(start + per).min(group.len());
        let rows = chunk.len();
        let base = bulk_insert_sql::<M>(d, include_pk, rows);
        let sql: Arc<str> = match conflict {
            Conflict::None => base,
            other => other.apply(d, &base).into(),
        };
        // Borrowed from the instances: text fields are bound without being copied.
        let mut params = recycle(std::mem::take(&mut buffer));
        params.reserve(rows * ncols);
        for p in chunk.clone() {
            let o = &objs[group.at(p)];
            params.extend((0..meta.fields.len()).filter(|&i| i != pk || include_pk).map(|i| o.field_param(i)));
        }
        let inserted = match (conflict, keys) {
            // An upsert's rows are not consecutive inserts (SQLite's rowid arithmetic does not
            // hold): every row's key is read back with RETURNING, updated rows' too.
            (Conflict::Update(_), Some(k)) => returning_keys(conn, &sql, &params, k.column),
            _ => conn.insert_rows(&sql, &params, rows, keys),
        };
        buffer = recycle(params);
        let inserted = inserted?;
        total += inserted.count;
        match inserted.keys {
            GeneratedKeys::Consecutive { first } => {
                let mut key = Value::Int(first);
                for p in chunk {
                    let o = &mut objs[group.at(p)];
                    o.set_field_value(pk, &key)?;
                    o.set_adding(false);
                    if let Value::Int(k) = &mut key {
                        *k += 1;
                    }
                }
            }
            GeneratedKeys::Listed(keys) => {
                if keys.len() != rows {
                    return Err(Error::ImproperlyConfigured(format!(
                        "bulk_create of {} returned {} keys for {} rows",
                        meta.label(),
                        keys.len(),
                        rows
                    )));
                }
                for (p, key) in chunk.zip(keys) {
                    let o = &mut objs[group.at(p)];
                    o.set_field_value(pk, &key)?;
                    o.set_adding(false);
                }
            }
            GeneratedKeys::Unknown if include_pk && matches!(conflict, Conflict::None) => {
                for p in chunk {
                    objs[group.at(p)].set_adding(false);
                }
            }
            GeneratedKeys::Unknown => {}
        }
    }
    if buffer.capacity() <= MAX_KEPT_PARAMS {
        PARAMS.with(|b| b.set(buffer));
    }
    Ok(total)
}

/// Runs `sql` with `RETURNING column` and reads every row's key (PostgreSQL, SQLite ≥ 3.35).
fn returning_keys(
    conn: &mut dyn Connection,
    sql: &str,
    params: &[Param<'_>],
    column: &str,
) -> orm_backends::Result<orm_backends::InsertedRows> {
    let d = conn.dialect();
    let mut full = String::with_capacity(sql.len() + column.len() + 16);
    full.push_str(sql);
    full.push_str(" RETURNING ");
    d.write_ident(&mut full, column);
    let owned: Vec<Value> = params.iter().map(|p| p.as_value_ref().to_owned_value()).collect();
    let mut keys = Vec::new();
    conn.for_each_row(&full, &owned, &mut |row| {
        keys.push(row.value(0));
        true
    })?;
    let keys = keys.into_iter().collect::<orm_backends::Result<Vec<Value>>>()?;
    Ok(orm_backends::InsertedRows { count: keys.len() as u64, keys: GeneratedKeys::Listed(keys) })
}

thread_local! {
    /// The parameter list of the last multi-row INSERT on this thread, emptied, kept for the
    /// next one. A fresh list per statement was the one allocation of a kilobyte or more in
    /// `bulk_create`, and with glibc's allocator such a request first merges every small free
    /// chunk (`malloc_consolidate`), which made the next hundred small allocations slow.
    static PARAMS: std::cell::Cell<Vec<Param<'static>>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The largest list kept between calls (a statement's parameters are at most the backend's
/// limit, 65,535 on PostgreSQL: about 2 MiB; kept lists stay well under that).
const MAX_KEPT_PARAMS: usize = 4096;

/// An empty list with `v`'s allocation, for parameters that borrow for another lifetime. The
/// in-place `collect` keeps the allocation (the element type differs only in its lifetime),
/// and `v` is empty, so no element is ever mapped.
fn recycle<'a, 'b>(mut v: Vec<Param<'a>>) -> Vec<Param<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!("the list is empty")).collect()
}

/// Options of [`QuerySet::bulk_create_with`]: Django's `batch_size`, `ignore_conflicts` and
/// `update_conflicts` / `unique_fields` / `update_fields`.
///
/// ```
/// use orm::BulkCreate;
/// let upsert = BulkCreate::new().batch_size(500).update_conflicts(["name"], ["hits"]);
/// let skip_dupes = BulkCreate::new().ignore_conflicts();
/// # let _ = (upsert, skip_dupes);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BulkCreate {
    batch_size: Option<usize>,
    on_conflict: OnConflict,
}

/// What a `bulk_create` does with a row that breaks a unique constraint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum OnConflict {
    /// Fail (an `IntegrityError`), as an INSERT does.
    #[default]
    Fail,
    /// Skip the row (`ON CONFLICT DO NOTHING`, MySQL's `INSERT IGNORE`).
    Ignore,
    /// Update the existing row's `update_fields` from the new one (an upsert).
    Update { unique_fields: Vec<String>, update_fields: Vec<String> },
}

impl BulkCreate {
    /// Django's defaults: batches as large as the backend's parameter limit allows, and a
    /// conflict is an error.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `n` rows per INSERT (still within the backend's parameter limit). `0` is
    /// refused when the call runs, as Django refuses it.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = Some(n);
        self
    }

    /// Rows that break a unique constraint are skipped (`ON CONFLICT DO NOTHING`; MySQL's
    /// `INSERT IGNORE`, which also turns other errors of the row into warnings, as in
    /// Django). Generated keys are not set on the instances.
    pub fn ignore_conflicts(mut self) -> Self {
        self.on_conflict = OnConflict::Ignore;
        self
    }

    /// An upsert: a row whose `unique_fields` match an existing row updates that row's
    /// `update_fields` instead (`ON CONFLICT (…) DO UPDATE SET f = EXCLUDED.f`; MySQL's
    /// `ON DUPLICATE KEY UPDATE f = VALUES(f)`). MySQL picks the conflicting unique key
    /// itself: there `unique_fields` are checked but not written into the statement (Django
    /// refuses them on MySQL; accepting them lets one call run on every backend).
    pub fn update_conflicts<U, F>(mut self, unique_fields: U, update_fields: F) -> Self
    where
        U: IntoIterator,
        U::Item: Into<String>,
        F: IntoIterator,
        F::Item: Into<String>,
    {
        self.on_conflict = OnConflict::Update {
            unique_fields: unique_fields.into_iter().map(Into::into).collect(),
            update_fields: update_fields.into_iter().map(Into::into).collect(),
        };
        self
    }
}

/// A resolved conflict clause, ready to be written after the VALUES lists.
enum Conflict {
    None,
    Ignore,
    /// (unique columns, update columns)
    Update((Vec<&'static str>, Vec<&'static str>)),
}

impl Conflict {
    /// `base` (a plain multi-row INSERT) with this conflict handling.
    fn apply(&self, d: Dialect, base: &str) -> String {
        let mut sql = String::with_capacity(base.len() + 64);
        match self {
            Conflict::None => sql.push_str(base),
            Conflict::Ignore if d == Dialect::Mysql => {
                sql.push_str("INSERT IGNORE INTO ");
                sql.push_str(base.strip_prefix("INSERT INTO ").unwrap_or(base));
            }
            Conflict::Ignore => {
                sql.push_str(base);
                sql.push_str(" ON CONFLICT DO NOTHING");
            }
            Conflict::Update((unique, update)) => {
                sql.push_str(base);
                if d == Dialect::Mysql {
                    sql.push_str(" ON DUPLICATE KEY UPDATE ");
                    for (i, c) in update.iter().enumerate() {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        d.write_ident(&mut sql, c);
                        sql.push_str(" = VALUES(");
                        d.write_ident(&mut sql, c);
                        sql.push(')');
                    }
                } else {
                    sql.push_str(" ON CONFLICT (");
                    for (i, c) in unique.iter().enumerate() {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        d.write_ident(&mut sql, c);
                    }
                    sql.push_str(") DO UPDATE SET ");
                    for (i, c) in update.iter().enumerate() {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        d.write_ident(&mut sql, c);
                        sql.push_str(" = EXCLUDED.");
                        d.write_ident(&mut sql, c);
                    }
                }
            }
        }
        sql
    }
}

/// Django's `_check_bulk_create_options`, with its messages.
fn check_options<M: Model>(options: &BulkCreate) -> Result<Conflict> {
    let meta = M::meta();
    if meta.parent().is_some() {
        return Err(Error::ValueError("Can't bulk create a multi-table inherited model".into()));
    }
    if options.batch_size == Some(0) {
        return Err(Error::ValueError("Batch size must be a positive integer.".into()));
    }
    let (unique, update) = match &options.on_conflict {
        OnConflict::Fail => return Ok(Conflict::None),
        OnConflict::Ignore => return Ok(Conflict::Ignore),
        OnConflict::Update { unique_fields, update_fields } => (unique_fields, update_fields),
    };
    if update.is_empty() {
        return Err(Error::ValueError(
            "Fields that will be updated when a row insertion fails on conflicts must be provided.".into(),
        ));
    }
    if unique.is_empty() {
        return Err(Error::ValueError("Unique fields that can trigger the upsert must be provided.".into()));
    }
    let column = |name: &str, what: &str| -> Result<(usize, &'static str)> {
        let name = if name == "pk" { meta.pk_field().name } else { name };
        match meta.field_index(name) {
            Some(i) => Ok((i, meta.fields[i].column)),
            None if meta.many_to_many.iter().any(|m| m.name == name) => {
                Err(Error::ValueError(format!("bulk_create() can only be used with concrete fields in {what}.")))
            }
            None => Err(Error::FieldDoesNotExist { model: meta.label(), field: name.to_owned() }),
        }
    };
    let mut update_cols = Vec::with_capacity(update.len());
    for f in update {
        let (i, c) = column(f, "update_fields")?;
        if i == meta.pk {
            return Err(Error::ValueError("bulk_create() cannot be used with primary keys in update_fields.".into()));
        }
        update_cols.push(c);
    }
    let unique_cols = unique.iter().map(|f| column(f, "unique_fields").map(|(_, c)| c)).collect::<Result<_>>()?;
    Ok(Conflict::Update((unique_cols, update_cols)))
}

impl<M: Model> QuerySet<M> {
    /// Inserts `objs` with multi-row INSERTs, split so each statement stays within the
    /// backend's parameter limit, all in one transaction (a single statement needs none: it is
    /// atomic by itself). Generated keys are set on the instances where the backend reports
    /// them for a multi-row insert (SQLite, from `last_insert_rowid()`; PostgreSQL, through
    /// `RETURNING`); on MySQL they stay unset (as in Django), since `LAST_INSERT_ID()` only
    /// names the first row. `auto_now`/`auto_now_add` fields are filled. Returns how many rows
    /// were inserted.
    ///
    /// A multi-table child is refused before any SQL (its parent rows would need their keys
    /// first), as in Django. [`bulk_create_with`](Self::bulk_create_with) takes a batch size
    /// and conflict handling.
    pub fn bulk_create(&self, objs: &mut [M], ex: &(impl Executor + ?Sized)) -> Result<u64> {
        self.bulk_create_with(objs, &BulkCreate::new(), ex)
    }

    /// [`bulk_create`](Self::bulk_create) with [`BulkCreate`] options: `batch_size`,
    /// `ignore_conflicts`, `update_conflicts`. Returns how many rows the database reports
    /// written (with an upsert, MySQL counts an updated row twice, as it does for
    /// `ON DUPLICATE KEY UPDATE`).
    pub fn bulk_create_with(&self, objs: &mut [M], options: &BulkCreate, ex: &(impl Executor + ?Sized)) -> Result<u64> {
        let conflict = check_options::<M>(options)?;
        if objs.is_empty() {
            return Ok(0);
        }
        if let Some(t) = crate::databases::write_target(ex, M::meta(), self.using, self.hint_db)? {
            for o in objs.iter() {
                t.check_relations(o)?;
            }
            let n = t.finish(self.bulk_create_with(objs, options, t.db))?;
            for o in objs.iter_mut() {
                o.set_db(t.db.alias()); // Django's bulk_create sets `_state.db`
            }
            return Ok(n);
        }
        // An unloaded `Deferred` field has no value to insert.
        let meta = M::meta();
        for (i, f) in meta.fields.iter().enumerate().filter(|(_, f)| f.deferrable) {
            if objs.iter().any(|o| crate::model::is_unloaded(o, i)) {
                return Err(Error::ValueError(format!(
                    "cannot bulk_create {}: `{}` is deferred and was not loaded",
                    meta.label(),
                    f.name
                )));
            }
        }
        let pk = meta.pk;
        let pk_field = meta.pk_field();
        let d = ex.dialect();
        for o in objs.iter_mut() {
            o.pre_save(true);
        }
        // Instances with a key go in one group, those without in another (the column lists
        // differ). Usually all are alike, and the group is every instance: no list is built.
        let has_key = |o: &M| !(pk_field.auto && o.field_value(pk).is_null());
        let first_has_key = has_key(&objs[0]);
        let groups: [(Group, bool); 2] = if objs[1..].iter().all(|o| has_key(o) == first_has_key) {
            [(Group::All(objs.len()), first_has_key), (Group::Listed(Vec::new()), !first_has_key)]
        } else {
            let (with_key, without_key): (Vec<usize>, Vec<usize>) = (0..objs.len()).partition(|&i| has_key(&objs[i]));
            [(Group::Listed(with_key), true), (Group::Listed(without_key), false)]
        };
        let per = |include_pk: bool| {
            let limit = rows_per_batch(d, meta.fields.len() - usize::from(!include_pk)).min(MAX_ROWS_PER_INSERT);
            options.batch_size.map_or(limit, |n| n.min(limit))
        };
        let statements: usize = groups.iter().map(|(g, inc)| g.len().div_ceil(per(*inc))).sum();
        let run = |conn: &mut dyn Connection| -> Result<u64> {
            let mut total = 0;
            for (group, include_pk) in &groups {
                if group.len() > 0 {
                    total += insert_group(conn, objs, group, *include_pk, per(*include_pk), &conflict)?;
                }
            }
            Ok(total)
        };
        if statements == 1 {
            return ex.with_connection(run);
        }
        ex.with_connection(|c| orm_backends::atomic(c, |tx| tx.with_connection(run)))
    }

    /// Updates `fields` of each of `objs` (which must have keys) with `UPDATE … SET f = CASE pk
    /// WHEN … THEN … END WHERE pk IN (…)`, batched within the parameter limit, in one
    /// transaction. Returns how many rows matched.
    pub fn bulk_update(&self, objs: &[M], fields: &[&str], ex: &(impl Executor + ?Sized)) -> Result<u64> {
        if objs.is_empty() {
            return Ok(0);
        }
        if let Some(t) = crate::databases::write_target(ex, M::meta(), self.using, self.hint_db)? {
            return t.finish(self.bulk_update(objs, fields, t.db));
        }
        let meta = M::meta();
        let names: Vec<String> = fields.iter().map(|s| (*s).to_owned()).collect();
        let idx = resolve_update_fields::<M>(&names)?;
        if idx.is_empty() {
            return Err(Error::field_error("bulk_update needs at least one field"));
        }
        let pk = meta.pk;
        if objs.iter().any(|o| o.field_value(pk).is_null()) {
            return Err(Error::field_error(format!(
                "bulk_update of {}: every object needs a primary key",
                meta.label()
            )));
        }
        let d = ex.dialect();
        // Per row: (key, value) per field, plus the key in the IN list.
        let per = rows_per_update(d, idx.len() * 2 + 1);
        let pk_col = meta.pk_field().column;
        ex.with_connection(|c| {
            orm_backends::atomic(c, |tx| -> Result<u64> {
                let mut total = 0;
                for chunk in objs.chunks(per) {
                    let mut sql = String::from("UPDATE ");
                    d.write_ident(&mut sql, meta.table);
                    sql.push_str(" SET ");
                    let mut params = Vec::new();
                    for (n, &fi) in idx.iter().enumerate() {
                        let f = &meta.fields[fi];
                        if n > 0 {
                            sql.push_str(", ");
                        }
                        d.write_ident(&mut sql, f.column);
                        sql.push_str(" = CASE ");
                        d.write_ident(&mut sql, pk_col);
                        for o in chunk {
                            sql.push_str(" WHEN ");
                            params.push(o.field_value(pk));
                            d.write_placeholder(&mut sql, params.len());
                            sql.push_str(" THEN ");
                            params.push(o.field_value(fi));
                            if d == Dialect::Postgres {
                                // PostgreSQL infers CASE branch types as text; say the column's.
                                sql.push_str("CAST(");
                                d.write_placeholder(&mut sql, params.len());
                                sql.push_str(" AS ");
                                let ty = match f.db_type {
                                    Some(t) => t.to_owned(),
                                    None => column_type_sql(&f.kind.to_column_type(), d),
                                };
                                sql.push_str(&ty);
                                sql.push(')');
                            } else {
                                d.write_placeholder(&mut sql, params.len());
                            }
                        }
                        sql.push_str(" ELSE ");
                        d.write_ident(&mut sql, f.column);
                        sql.push_str(" END");
                    }
                    sql.push_str(" WHERE ");
                    d.write_ident(&mut sql, pk_col);
                    sql.push_str(" IN (");
                    for (n, o) in chunk.iter().enumerate() {
                        if n > 0 {
                            sql.push_str(", ");
                        }
                        params.push(o.field_value(pk));
                        d.write_placeholder(&mut sql, params.len());
                    }
                    sql.push(')');
                    total += orm_backends::Executor::with_connection(tx, |conn| conn.execute(&sql, &params))?;
                }
                Ok(total)
            })
        })
    }
}

impl<M: Model> QuerySet<M> {
    /// The default QuerySet of a proxy without a manager of its own: its parent's default
    /// QuerySet (filters, ordering, prefetches) over the proxy (Django: a proxy inherits its
    /// concrete model's default manager). Called by the derive; the two models share their
    /// table and fields, so every path stays valid.
    #[doc(hidden)]
    pub fn from_parent_manager<P: Model>(parent: QuerySet<P>) -> Self {
        QuerySet {
            query: parent.query,
            prefetch: parent.prefetch,
            chunk_size: parent.chunk_size,
            refused: parent.refused,
            core: parent.core,
            using: parent.using,
            hint_db: parent.hint_db,
            _m: std::marker::PhantomData,
        }
    }
}

/// `QuerySet::update` of a multi-table child that sets fields of its ancestors (Django's
/// related updates): the child's keys are read once, then one UPDATE per table owning a
/// field, the ancestors' keyed by those keys (a child shares its key with every ancestor),
/// all in one transaction. Returns the child table's count, or, when only ancestors' fields
/// are set, the first ancestor table's (as Django).
pub(crate) fn update_ancestors<M: Model>(
    qs: &QuerySet<M>,
    assignments: Vec<crate::expressions::Assignment>,
    ex: &(impl Executor + ?Sized),
) -> Result<u64> {
    use crate::expressions::q::{Leaf, Lookup, Node, Operand};
    use crate::model::meta::{FieldMeta, ModelMeta};
    use crate::sql::compile_update;
    type Level = (&'static ModelMeta, Vec<(&'static FieldMeta, crate::expressions::Expr)>);
    let meta = M::meta();
    let mut levels: Vec<Level> = Vec::new();
    let mut at = Some(meta);
    while let Some(m) = at {
        levels.push((m, Vec::new()));
        at = m.parent();
    }
    for a in assignments {
        let owner = levels
            .iter_mut()
            .find(|(m, _)| m.field(&a.field).is_some_and(|f| !f.primary_key || std::ptr::eq(*m, meta)));
        let Some((m, list)) = owner else {
            return Err(Error::FieldDoesNotExist { model: meta.label(), field: a.field.clone() });
        };
        let f = m.field(&a.field).expect("found above");
        list.push((f, a.value));
    }
    let keys: Vec<Value> =
        qs.clone().order_by(Vec::<crate::expressions::OrderBy>::new()).values(["pk"]).fetch_flat(ex)?;
    let d = ex.dialect();
    ex.with_connection(|c| {
        orm_backends::atomic(c, |tx| {
            let mut count: Option<u64> = None;
            for (i, (level, list)) in levels.iter().enumerate() {
                if list.is_empty() {
                    continue;
                }
                let n = if i == 0 {
                    let stmt = compile_update(level, d, &qs.query, list)?;
                    tx.with_connection(|c| c.execute(&stmt.sql, &stmt.params))?
                } else {
                    let mut n = 0;
                    for chunk in keys.chunks(d.features().max_query_params.saturating_sub(16).clamp(1, 10_000)) {
                        let mut q = crate::expressions::query::Query::default();
                        q.filters.push(Node::Leaf(Leaf {
                            path: vec!["pk".into()],
                            lookup: Lookup::In,
                            operand: Operand::List(chunk.to_vec()),
                        }));
                        let stmt = compile_update(level, d, &q, list)?;
                        n += tx.with_connection(|c| c.execute(&stmt.sql, &stmt.params))?;
                    }
                    n
                };
                count.get_or_insert(n);
            }
            Ok(count.unwrap_or(0))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_parameter_list_keeps_its_allocation() {
        let v: Vec<Param<'static>> = Vec::with_capacity(100);
        let text = String::from("borrowed");
        let mut r: Vec<Param<'_>> = recycle(v);
        assert!(r.capacity() >= 100, "capacity {}", r.capacity());
        r.push(Param::Borrowed(orm_backends::ValueRef::Text(&text)));
        let back: Vec<Param<'static>> = recycle(r);
        assert!(back.is_empty() && back.capacity() >= 100);
    }
}
