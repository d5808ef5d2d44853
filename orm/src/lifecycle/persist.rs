//! INSERT / UPDATE / DELETE / reload of one instance. The SQL of each shape is rendered once
//! per model and dialect and cached in the model's metadata.

use super::deletion::{DeleteOptions, Deleted};
use super::SaveOptions;
use crate::error::{Error, Result};
use crate::model::cache::{Shape, SqlCache};
use crate::model::Model;
use crate::queryset::{get_by_pk, resolve_update_fields};
use orm_backends::{Dialect, Executor, Param, Value};
use std::sync::Arc;

pub(crate) fn write_list(out: &mut String, d: Dialect, cols: impl Iterator<Item = &'static str>) {
    for (i, c) in cols.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        d.write_ident(out, c);
    }
}

pub(crate) fn insert_sql<M: Model>(d: Dialect, include_pk: bool) -> Arc<str> {
    let meta = M::meta();
    SqlCache::of(meta).get_or_render(d, Shape::Insert { include_pk }, || {
        let pk = meta.pk;
        let cols: Vec<&'static str> = meta
            .fields
            .iter()
            .enumerate()
            .filter(|(i, f)| *i != pk || include_pk || !f.auto)
            .map(|(_, f)| f.column)
            .collect();
        let mut s = String::from("INSERT INTO ");
        d.write_ident(&mut s, meta.table);
        if cols.is_empty() {
            s.push_str(match d {
                Dialect::Mysql => " () VALUES ()",
                _ => " DEFAULT VALUES",
            });
            return s;
        }
        s.push_str(" (");
        write_list(&mut s, d, cols.iter().copied());
        s.push_str(") VALUES (");
        for i in 0..cols.len() {
            if i > 0 {
                s.push_str(", ");
            }
            d.write_placeholder(&mut s, i + 1);
        }
        s.push(')');
        s
    })
}

pub(crate) fn update_sql<M: Model>(d: Dialect, fields: &[usize]) -> Arc<str> {
    let meta = M::meta();
    SqlCache::of(meta).get_or_render(d, Shape::Update(fields.iter().map(|&i| i as u16).collect()), || {
        render_update(meta, d, fields.iter().copied())
    })
}

/// The UPDATE of every field but the key: what a plain `save()` sends, found in the cache
/// without building a key.
pub(crate) fn update_all_sql<M: Model>(d: Dialect) -> Arc<str> {
    let meta = M::meta();
    SqlCache::of(meta).get_or_render(d, Shape::UpdateAll, || render_update(meta, d, all_but_key::<M>()))
}

fn render_update(meta: &'static crate::ModelMeta, d: Dialect, fields: impl Iterator<Item = usize>) -> String {
    let mut s = String::from("UPDATE ");
    d.write_ident(&mut s, meta.table);
    s.push_str(" SET ");
    let mut n = 0;
    for i in fields {
        if n > 0 {
            s.push_str(", ");
        }
        n += 1;
        d.write_ident(&mut s, meta.fields[i].column);
        s.push_str(" = ");
        d.write_placeholder(&mut s, n);
    }
    s.push_str(" WHERE ");
    d.write_ident(&mut s, meta.pk_field().column);
    s.push_str(" = ");
    d.write_placeholder(&mut s, n + 1);
    s
}

pub(crate) fn delete_by_pk_sql<M: Model>(d: Dialect) -> Arc<str> {
    let meta = M::meta();
    SqlCache::of(meta).get_or_render(d, Shape::DeleteByPk, || {
        let mut s = String::from("DELETE FROM ");
        d.write_ident(&mut s, meta.table);
        s.push_str(" WHERE ");
        d.write_ident(&mut s, meta.pk_field().column);
        s.push_str(" = ");
        d.write_placeholder(&mut s, 1);
        s
    })
}

fn do_insert<M: Model>(obj: &mut M, ex: &(impl Executor + ?Sized)) -> Result<()> {
    let meta = M::meta();
    let pk = meta.pk;
    let pk_field = meta.pk_field();
    let pk_value = obj.field_value(pk);
    let include_pk = !(pk_field.auto && pk_value.is_null());
    let d = ex.dialect();
    let sql = insert_sql::<M>(d, include_pk);
    let columns: Vec<usize> = (0..meta.fields.len()).filter(|&i| i != pk || include_pk).collect();
    check_loaded(obj, &columns, "create")?;
    let params: Vec<Value> = columns.iter().map(|&i| obj.field_value(i)).collect();
    let returning = (!include_pk).then_some(pk_field.column);
    let generated = ex.with_connection(|c| c.insert(&sql, &params, returning))?;
    if !include_pk {
        let key = generated.ok_or_else(|| {
            Error::ImproperlyConfigured(format!(
                "the database returned no generated key for {} (is `{}` auto-increment?)",
                meta.label(),
                pk_field.column
            ))
        })?;
        obj.set_field_value(pk, &key)?;
    }
    obj.set_adding(false);
    Ok(())
}

/// Django's `_do_update`: did the UPDATE of `fields` find the row? With no field to write
/// (a model whose only column is its key), the row's existence answers, unless
/// `update_fields` named them (then there was nothing to do). With `select_on_save` and no
/// forced update, existence is asked first and trusted over the UPDATE's row count.
///
/// The plain case (every field, no existence question) is kept short and the rest out of
/// line: a save in a loop then runs through less code, which leaves more of the instruction
/// cache to the database driver under it.
fn do_update<M: Model>(
    obj: &M,
    ex: &(impl Executor + ?Sized),
    fields: Option<&[usize]>,
    update_fields: bool,
    forced: bool,
) -> Result<bool> {
    let meta = M::meta();
    if fields.is_some() || (meta.select_on_save && !forced) || meta.fields.len() < 2 {
        return do_update_general(obj, ex, fields, update_fields, forced);
    }
    Ok(send_update(obj, ex, update_all_sql::<M>(ex.dialect()), all_but_key::<M>())? > 0)
}

/// [`do_update`] for chosen fields, `select_on_save`, or a model with no field but its key.
#[inline(never)]
fn do_update_general<M: Model>(
    obj: &M,
    ex: &(impl Executor + ?Sized),
    fields: Option<&[usize]>,
    update_fields: bool,
    forced: bool,
) -> Result<bool> {
    let meta = M::meta();
    // `None`: every field but the key.
    let count = fields.map_or(meta.fields.len().saturating_sub(1), <[usize]>::len);
    if count == 0 {
        return Ok(update_fields || row_exists(obj, ex)?);
    }
    let select_first = meta.select_on_save && !forced;
    if select_first && !row_exists(obj, ex)? {
        return Ok(false);
    }
    let n = match fields {
        Some(fields) => send_update(obj, ex, update_sql::<M>(ex.dialect(), fields), fields.iter().copied())?,
        None => send_update(obj, ex, update_all_sql::<M>(ex.dialect()), all_but_key::<M>())?,
    };
    Ok(n > 0 || (select_first && row_exists(obj, ex)?))
}

/// Sends `sql`, the UPDATE of `fields` by the instance's key, binding those fields and then
/// the key; returns the rows it changed. Generic over the fields, so that the plain save's
/// path (every field but the key) binds without a branch on which fields. Always inlined:
/// each save's path stays one function (callgrind: 7 instructions per save fewer than a
/// call).
#[inline(always)]
fn send_update<M: Model>(
    obj: &M,
    ex: &(impl Executor + ?Sized),
    sql: Arc<str>,
    fields: impl Iterator<Item = usize>,
) -> Result<u64> {
    // On the stack up to eight columns: the allocation and its free were a sixth of what
    // the ORM adds to an UPDATE by key on SQLite (callgrind). Filled where it lies: returned
    // from a `match` with the SQL, its inline storage (eight parameters) was copied.
    let mut params: smallvec::SmallVec<[Param<'_>; 8]> = smallvec::SmallVec::new();
    params.extend(fields.map(|i| obj.field_param(i)));
    params.push(obj.field_param(M::meta().pk));
    Ok(ex.with_connection(|c| c.execute_params(&sql, &params))?)
}

/// Every field of `M` but the key, in order.
fn all_but_key<M: Model>() -> impl Iterator<Item = usize> {
    let meta = M::meta();
    (0..meta.fields.len()).filter(move |&i| i != meta.pk)
}

/// Is there a row with the instance's key?
fn row_exists<M: Model>(obj: &M, ex: &(impl Executor + ?Sized)) -> Result<bool> {
    let meta = M::meta();
    crate::queryset::row_exists(ex, meta.table, meta.pk_field().column, &obj.pk_value())
}

/// Django's `DatabaseError` for a forced update or an `update_fields` save that found no row.
fn no_rows(message: &str) -> Error {
    Error::Database(orm_backends::Error::new(orm_backends::ErrorKind::Query, message))
}

pub(crate) fn save<M: Model>(obj: &mut M, ex: &(impl Executor + ?Sized), options: &SaveOptions) -> Result<()> {
    let meta = M::meta();
    if meta.is_abstract() {
        return Err(Error::ImproperlyConfigured(format!("{} is abstract and cannot be saved", meta.label())));
    }
    // Django: `save(update_fields=[])` does nothing at all, and sends no signal.
    if options.update_fields.as_ref().is_some_and(Vec::is_empty) {
        return Ok(());
    }
    let scope = crate::signals::scope_of(ex);
    if let Some(t) = crate::databases::write_target_in(scope, meta, options.using.as_deref(), obj.db())? {
        t.check_relations(obj)?;
        return t.finish(save(obj, t.db, options));
    }
    if let Some(hub) = crate::signals::save_hub::<M, _>(ex) {
        super::dispatch::save(hub, obj, ex, options, |obj, tx| save_unsignalled(obj, tx, options))?;
    } else {
        save_unsignalled(obj, ex, options)?;
    }
    // Django's `_state.db = using`.
    obj.set_db(scope.map_or(crate::signals::DEFAULT_DB_ALIAS, |s| s.alias));
    Ok(())
}

/// Saves without sending signals; returns whether a row was inserted.
fn save_unsignalled<M: Model>(obj: &mut M, ex: &(impl Executor + ?Sized), options: &SaveOptions) -> Result<bool> {
    let meta = M::meta();
    if meta.parent().is_some() {
        return save_multi_table(obj, ex, options);
    }
    if options.force_insert || options.force_update || options.update_fields.is_some() {
        return save_with_options(obj, ex, options);
    }
    // Asked of the borrowed parameter: an owned key `Value` would be made and dropped.
    let pk_null = matches!(obj.field_param(meta.pk).as_value_ref(), orm_backends::ValueRef::Null);
    let adding = obj.adding().map_or(pk_null, |a| a || pk_null);
    save_row(obj, ex, adding, false)
}

/// [`save_unsignalled`] with `force_insert`, `force_update` or `update_fields`, out of line
/// (see [`do_update`]).
#[inline(never)]
fn save_with_options<M: Model>(obj: &mut M, ex: &(impl Executor + ?Sized), options: &SaveOptions) -> Result<bool> {
    let meta = M::meta();
    if options.force_insert && (options.force_update || options.update_fields.is_some()) {
        return Err(Error::ImproperlyConfigured(
            "force_insert cannot be combined with force_update or update_fields".into(),
        ));
    }
    if let Some(names) = &options.update_fields {
        let fields = resolve_update_fields::<M>(names)?;
        check_loaded(obj, &fields, "save")?;
        if obj.pk_value().is_null() {
            return Err(Error::ImproperlyConfigured(format!(
                "cannot save {} with update_fields: it has no primary key yet",
                meta.label()
            )));
        }
        obj.pre_save(false);
        if !do_update(obj, ex, Some(&fields), true, true)? {
            return Err(no_rows("Save with update_fields did not affect any rows."));
        }
        obj.set_adding(false);
        return Ok(false);
    }
    // One of the two is set: an INSERT, or an UPDATE that must find its row.
    save_row(obj, ex, options.force_insert, options.force_update)
}

/// Inserts (`adding`) or updates the instance's row; an UPDATE that finds no row inserts it
/// (Django's behaviour for a hand-set key), unless `force_update`, which refuses.
fn save_row<M: Model>(obj: &mut M, ex: &(impl Executor + ?Sized), adding: bool, force_update: bool) -> Result<bool> {
    let meta = M::meta();
    obj.pre_save(adding);
    if adding {
        return do_insert(obj, ex).map(|()| true);
    }
    // Django: an instance with deferred fields saves the loaded ones only.
    let loaded: Vec<usize>;
    let fields = if meta.fields.iter().any(|f| f.deferrable)
        && (0..meta.fields.len()).any(|i| crate::model::is_unloaded(obj, i))
    {
        loaded = all_but_key::<M>().filter(|&i| !crate::model::is_unloaded(obj, i)).collect();
        Some(loaded.as_slice())
    } else {
        None
    };
    if !do_update(obj, ex, fields, false, force_update)? {
        if force_update {
            return Err(no_rows("Forced update did not affect any rows."));
        }
        obj.pre_save(true);
        return do_insert(obj, ex).map(|()| true);
    }
    obj.set_adding(false);
    Ok(false)
}

/// Saves a multi-table child: the parent row first (inserted or updated), then the child's
/// own row keyed by the parent's key, in one transaction. With `update_fields`, each name is
/// written on the table that owns it (this one or an ancestor), and no other table is
/// touched; with `skip_parents`, the parent rows are left alone.
fn save_multi_table<M: Model>(obj: &mut M, ex: &(impl Executor + ?Sized), options: &SaveOptions) -> Result<bool> {
    let meta = M::meta();
    // update_fields: own fields here, the rest on the ancestor owning each; unknown names
    // are refused before any SQL.
    let (own, inherited): (Vec<String>, Vec<String>) = match &options.update_fields {
        Some(names) => {
            for n in names {
                let mut at = Some(meta);
                let mut found = false;
                while let Some(m) = at {
                    if m.field(n).is_some() {
                        found = true;
                        break;
                    }
                    at = m.parent();
                }
                if !found {
                    return Err(Error::field_error(format!(
                        "The following fields do not exist in this model, or are non-concrete fields: {n} ({})",
                        meta.label()
                    )));
                }
            }
            names.iter().cloned().partition(|n| meta.field_index(n).is_some())
        }
        None => (Vec::new(), Vec::new()),
    };
    let adding = if options.force_insert {
        true
    } else if options.force_update || options.update_fields.is_some() {
        false
    } else {
        obj.adding().unwrap_or_else(|| obj.pk_value().is_null())
    };
    if options.skip_parents && obj.pk_value().is_null() {
        return Err(Error::ImproperlyConfigured(format!(
            "cannot save {} without its parents: its key (the parent row's) is not set",
            meta.label()
        )));
    }
    ex.with_connection(|c| {
        orm_backends::atomic(c, |tx| -> Result<bool> {
            if options.update_fields.is_some() {
                if !inherited.is_empty() {
                    obj.save_parent_fields(tx, &inherited)?;
                }
                if own.is_empty() {
                    obj.set_adding(false);
                    return Ok(false);
                }
                obj.pre_save(false);
                let fields = resolve_update_fields::<M>(&own)?;
                if !do_update(obj, tx, Some(&fields), true, true)? {
                    do_insert(obj, tx)?;
                    return Ok(true);
                }
                obj.set_adding(false);
                return Ok(false);
            }
            if !options.skip_parents {
                obj.save_parent(tx, adding)?;
            }
            obj.pre_save(adding);
            if adding {
                return do_insert(obj, tx).map(|()| true);
            }
            // With no field of its own to UPDATE, the row's existence answers (Django's
            // exists()).
            let missing = !do_update(obj, tx, None, false, options.force_update)?;
            if missing {
                if options.force_update {
                    return Err(no_rows("Forced update did not affect any rows."));
                }
                // The parent row exists but this child row does not yet: add it.
                do_insert(obj, tx)?;
                return Ok(true);
            }
            obj.set_adding(false);
            Ok(false)
        })
    })
}

pub(crate) fn delete<M: Model>(obj: &mut M, ex: &(impl Executor + ?Sized), options: &DeleteOptions) -> Result<Deleted> {
    let meta = M::meta();
    let pk = obj.pk_value();
    if pk.is_null() {
        return Err(Error::ImproperlyConfigured(format!(
            "{} object can't be deleted because its primary key is not set",
            meta.label()
        )));
    }
    if let Some(t) = crate::databases::write_target(ex, meta, options.using.as_deref(), obj.db())? {
        return t.finish(delete(obj, t.db, options));
    }
    // Receivers for this model, or for a model the deletion may reach, need the collector
    // (which sends every signal in Django's order); so do cascades and inheritance links.
    let collect = super::deletion::needs_collector(meta);
    let hub =
        crate::signals::delete_signals(ex).filter(|_| collect || crate::signals::delete_hub::<M, _>(ex).is_some());
    let counts = if let Some(hub) = hub {
        let instance = &*obj as &dyn std::any::Any;
        let origin = crate::signals::Origin::Instance { model: meta, instance };
        super::dispatch::delete_collected(hub, meta, vec![(pk, instance)], origin, ex, options)?
    } else if collect {
        ex.with_connection(|c| super::deletion::delete_with_collector(c, meta, vec![pk], None, options))?
    } else {
        // Django's single-object fast path: its count is reported even when 0.
        let sql = delete_by_pk_sql::<M>(ex.dialect());
        let n = ex.with_connection(|c| c.execute(&sql, std::slice::from_ref(&pk)))?;
        [(meta.concrete().label(), n)].into_iter().collect()
    };
    // As in Django, the deleted instance keeps its fields but loses its key.
    obj.set_field_value(meta.pk, &Value::Null)?;
    obj.set_adding(true);
    Ok(Deleted::from_counts(counts))
}

/// The names of the instance's unloaded [`Deferred`](crate::Deferred) fields.
pub(crate) fn unloaded<M: Model>(obj: &M) -> Vec<&'static str> {
    let meta = M::meta();
    (0..meta.fields.len()).filter(|&i| crate::model::is_unloaded(obj, i)).map(|i| meta.fields[i].name).collect()
}

/// Refuses writing an unloaded field: its value is not known.
fn check_loaded<M: Model>(obj: &M, fields: &[usize], what: &str) -> Result<()> {
    let meta = M::meta();
    if let Some(&i) = fields.iter().find(|&&i| crate::model::is_unloaded(obj, i)) {
        return Err(Error::ValueError(format!(
            "cannot {what} {}: `{}` is deferred and was not loaded (load it with refresh_from_db_fields or set it)",
            meta.label(),
            meta.fields[i].name
        )));
    }
    Ok(())
}

/// Django's `_get_next_or_previous_by_FIELD`: `(field = v AND pk > k) OR field > v`, ordered
/// by the field then the key, the first row.
pub(crate) fn next_or_previous<M: Model>(obj: &M, field: &str, next: bool, ex: &(impl Executor + ?Sized)) -> Result<M> {
    use crate::expressions::q::{parse_leaf, Node};
    let meta = M::meta();
    let pk = obj.pk_value();
    if pk.is_null() {
        return Err(Error::ValueError("get_next/get_previous cannot be used on unsaved objects.".into()));
    }
    let i = meta
        .field_index(field)
        .ok_or_else(|| Error::field_error(format!("{} has no field named '{field}'", meta.label())))?;
    let f = &meta.fields[i];
    use crate::expressions::OrderBy;
    use crate::fields::ColumnKind;
    let temporal = matches!(f.kind, ColumnKind::Date | ColumnKind::DateTime | ColumnKind::DateTimeTz);
    if !temporal || f.null {
        return Err(Error::field_error(format!(
            "get_next_by/get_previous_by need a non-null date or datetime field; `{field}` of {} is not one",
            meta.label()
        )));
    }
    let v = obj.field_value(i);
    let op = if next { "gt" } else { "lt" };
    let leaf = |path: String, value: Value| -> Result<Node> { Ok(Node::Leaf(parse_leaf(&path, value)?)) };
    let tie = Node::And(vec![leaf(field.to_owned(), v.clone())?, leaf(format!("pk__{op}"), pk)?]);
    let after = leaf(format!("{field}__{op}"), v)?;
    let (o1, o2) =
        if next { (OrderBy::asc(field), OrderBy::asc("pk")) } else { (OrderBy::desc(field), OrderBy::desc("pk")) };
    crate::QuerySet::<M>::new()
        .filter(crate::Q::from_node(Node::Or(vec![tie, after])))
        .order_by([o1, o2])
        .first(ex)?
        .ok_or_else(|| Error::DoesNotExist { model: meta.label() })
}

/// Django's `refresh_from_db(fields=…)`: one query for those fields of this row.
pub(crate) fn refresh_fields<M: Model>(obj: &mut M, fields: &[&str], ex: &(impl Executor + ?Sized)) -> Result<()> {
    let meta = M::meta();
    let pk = obj.pk_value();
    if pk.is_null() {
        return Err(Error::DoesNotExist { model: meta.label() });
    }
    let mut indexes = Vec::with_capacity(fields.len());
    for name in fields {
        let i = meta.field_index(name).ok_or_else(|| {
            Error::field_error(format!("{} has no field named '{name}' (refresh_from_db fields)", meta.label()))
        })?;
        indexes.push(i);
    }
    if indexes.is_empty() {
        return Ok(());
    }
    let qs = crate::QuerySet::<M>::new()
        .filter(crate::Q::from_node(crate::expressions::q::Node::Leaf(crate::expressions::q::parse_leaf("pk", pk)?)))
        .values(fields.iter().copied());
    let mut rows = qs.fetch_values(ex)?;
    let row = rows.pop().ok_or_else(|| Error::DoesNotExist { model: meta.label() })?;
    for (k, &i) in indexes.iter().enumerate() {
        obj.set_field_value(i, &row.values()[k])?;
    }
    Ok(())
}

pub(crate) fn refresh<M: Model>(obj: &mut M, ex: &(impl Executor + ?Sized)) -> Result<()> {
    let pk = obj.pk_value();
    if pk.is_null() {
        return Err(Error::DoesNotExist { model: M::meta().label() });
    }
    // Django reads from the instance's database unless a router says otherwise.
    let instance_db = obj.db();
    if let Some(r) = crate::databases::route_read_for(ex, M::meta(), None, instance_db, |db| get_by_pk::<M>(db, &pk)) {
        *obj = r?;
        return Ok(());
    }
    *obj = get_by_pk::<M>(ex, &pk)?;
    Ok(())
}
