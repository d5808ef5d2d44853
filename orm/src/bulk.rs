//! Bulk writes and the atomic read-or-write helpers: `bulk_create`, `bulk_update`,
//! `get_or_create`, `update_or_create`.

use crate::error::{Error, Result};
use crate::model::persist::resolve_update_fields;
use crate::model::{Model, SaveOptions};
use crate::q::Q;
use crate::queryset::QuerySet;
use orm_backends::schema::column_type_sql;
use orm_backends::{Dialect, Executor, Value};

/// Rows per statement so that `columns` parameters per row stay within the backend's limit
/// (and under 1,000 rows, which keeps statements a sane size).
fn rows_per_batch(d: Dialect, columns: usize) -> usize {
    (d.features().max_query_params / columns.max(1)).clamp(1, 1000)
}

impl<M: Model> QuerySet<M> {
    /// Inserts `objs` with multi-row INSERTs, split so each statement stays within the
    /// backend's parameter limit, all in one transaction. Generated keys are set on the
    /// instances where the backend returns them from a multi-row insert (SQLite, PostgreSQL:
    /// `RETURNING`); on MySQL they stay unset (as in Django), since `LAST_INSERT_ID()` only
    /// names the first row. `auto_now`/`auto_now_add` fields are filled. Returns how many rows
    /// were inserted.
    pub fn bulk_create(&self, objs: &mut [M], ex: &(impl Executor + ?Sized)) -> Result<u64> {
        if objs.is_empty() {
            return Ok(0);
        }
        let meta = M::meta();
        let pk = meta.pk;
        let pk_field = meta.pk_field();
        let d = ex.dialect();
        for o in objs.iter_mut() {
            o.pre_save(true);
        }
        // Instances with a key go in one group, those without in another (the column lists differ).
        let (with_key, without_key): (Vec<usize>, Vec<usize>) =
            (0..objs.len()).partition(|&i| !(pk_field.auto && objs[i].field_value(pk).is_null()));
        let returning = d.features().can_return_rows_from_bulk_insert;
        ex.with_connection(|c| {
            orm_backends::atomic(c, |tx| -> Result<u64> {
                let mut total = 0;
                for (group, include_pk) in [(&with_key, true), (&without_key, false)] {
                    if group.is_empty() {
                        continue;
                    }
                    let cols: Vec<usize> = (0..meta.fields.len()).filter(|&i| i != pk || include_pk).collect();
                    let per = rows_per_batch(d, cols.len());
                    for chunk in group.chunks(per) {
                        let mut sql = String::from("INSERT INTO ");
                        d.write_ident(&mut sql, meta.table);
                        sql.push_str(" (");
                        for (n, &i) in cols.iter().enumerate() {
                            if n > 0 {
                                sql.push_str(", ");
                            }
                            d.write_ident(&mut sql, meta.fields[i].column);
                        }
                        sql.push_str(") VALUES ");
                        let mut params = Vec::with_capacity(chunk.len() * cols.len());
                        for (r, &oi) in chunk.iter().enumerate() {
                            if r > 0 {
                                sql.push_str(", ");
                            }
                            sql.push('(');
                            for (n, &i) in cols.iter().enumerate() {
                                if n > 0 {
                                    sql.push_str(", ");
                                }
                                params.push(objs[oi].field_value(i));
                                d.write_placeholder(&mut sql, params.len());
                            }
                            sql.push(')');
                        }
                        let want_keys = !include_pk && returning;
                        if want_keys {
                            sql.push_str(" RETURNING ");
                            d.write_ident(&mut sql, pk_field.column);
                            let keys: Vec<Value> = orm_backends::Executor::with_connection(tx, |conn| {
                                let rows = conn.query(&sql, &params)?;
                                rows.into_iter().map(|r| Ok(r.into_values().swap_remove(0))).collect::<Result<_>>()
                            })?;
                            if keys.len() != chunk.len() {
                                return Err(Error::ImproperlyConfigured(format!(
                                    "bulk_create of {} returned {} keys for {} rows",
                                    meta.label(),
                                    keys.len(),
                                    chunk.len()
                                )));
                            }
                            for (&oi, key) in chunk.iter().zip(keys) {
                                objs[oi].set_field_value(pk, &key)?;
                                objs[oi].set_adding(false);
                            }
                            total += chunk.len() as u64;
                        } else {
                            total += orm_backends::Executor::with_connection(tx, |conn| conn.execute(&sql, &params))?;
                            if include_pk {
                                for &oi in chunk {
                                    objs[oi].set_adding(false);
                                }
                            }
                        }
                    }
                }
                Ok(total)
            })
        })
    }

    /// Updates `fields` of each of `objs` (which must have keys) with `UPDATE … SET f = CASE pk
    /// WHEN … THEN … END WHERE pk IN (…)`, batched within the parameter limit, in one
    /// transaction. Returns how many rows matched.
    pub fn bulk_update(&self, objs: &[M], fields: &[&str], ex: &(impl Executor + ?Sized)) -> Result<u64> {
        if objs.is_empty() {
            return Ok(0);
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
        let per = rows_per_batch(d, idx.len() * 2 + 1);
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

    /// The row matching `lookup`, or a new one made by `create` and inserted: `(object,
    /// created)`. Atomic: the insert runs in a savepoint, and when a concurrent insert of the
    /// same unique values wins the race, the resulting integrity error is caught and the
    /// winner's row returned.
    pub fn get_or_create(
        &self,
        lookup: Q<M>,
        create: impl FnOnce() -> M,
        ex: &(impl Executor + ?Sized),
    ) -> Result<(M, bool)> {
        let qs = self.clone().filter(lookup);
        match qs.get(ex) {
            Ok(o) => return Ok((o, false)),
            Err(Error::DoesNotExist { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut obj = create();
        // `atomic_on` keeps the database's signal hub on the transaction: the save sends signals.
        let inserted = crate::signals::atomic_on(ex, |tx| {
            obj.save_with(tx, &SaveOptions { force_insert: true, ..Default::default() })
        });
        match inserted {
            Ok(()) => Ok((obj, true)),
            Err(Error::IntegrityError(e)) => match qs.get(ex) {
                Ok(o) => Ok((o, false)),
                Err(_) => Err(Error::IntegrityError(e)),
            },
            Err(e) => Err(e),
        }
    }

    /// Updates the row matching `lookup` with `update` (locking it first where the backend can),
    /// or inserts one made by `create`: `(object, created)`. Runs in one transaction.
    pub fn update_or_create(
        &self,
        lookup: Q<M>,
        update: impl FnOnce(&mut M),
        create: impl FnOnce() -> M,
        ex: &(impl Executor + ?Sized),
    ) -> Result<(M, bool)> {
        let qs = self.clone().filter(lookup.clone());
        let mut update = Some(update);
        let found = crate::signals::atomic_on(ex, |tx| -> Result<Option<M>> {
            match qs.clone().select_for_update(false, false).get(tx) {
                Ok(mut o) => {
                    if let Some(u) = update.take() {
                        u(&mut o);
                    }
                    o.save(tx)?;
                    Ok(Some(o))
                }
                Err(Error::DoesNotExist { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        if let Some(o) = found {
            return Ok((o, false));
        }
        let (mut o, created) = self.get_or_create(lookup, create, ex)?;
        if !created {
            // A concurrent insert won the race: apply the update to its row.
            if let Some(u) = update.take() {
                u(&mut o);
            }
            o.save(ex)?;
        }
        Ok((o, created))
    }
}
