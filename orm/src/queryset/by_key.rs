//! Reading one row by its key: the cached `SELECT … WHERE pk = ?` that `refresh_from_db`,
//! `get_pk` and forward relations share.

use super::for_each_row;
use crate::error::{Error, Result};
use crate::expressions::q::{parse_leaf, Node};
use crate::model::cache::{Shape, SqlCache};
use crate::model::Model;
use crate::QuerySet;
use orm_backends::{Dialect, Executor, Value};
use std::sync::Arc;

pub(crate) fn select_by_pk_sql<M: Model>(d: Dialect) -> Arc<str> {
    let meta = M::meta();
    SqlCache::of(meta).get_or_render(d, Shape::SelectByPk, || {
        let mut s = String::from("SELECT ");
        for (i, f) in meta.fields.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            d.write_ident(&mut s, f.column);
        }
        s.push_str(" FROM ");
        d.write_ident(&mut s, meta.table);
        s.push_str(" WHERE ");
        d.write_ident(&mut s, meta.pk_field().column);
        s.push_str(" = ");
        d.write_placeholder(&mut s, 1);
        s
    })
}

pub(crate) fn get_by_pk<M: Model>(ex: &(impl Executor + ?Sized), pk: &Value) -> Result<M> {
    if M::meta().parent().is_some() || !M::meta().has_table() {
        // Children read joined to their parents; proxies through their concrete model's shape.
        let leaf = Node::Leaf(parse_leaf("pk", pk.clone())?);
        return QuerySet::<M>::new().filter(crate::Q::from_node(leaf)).get(ex);
    }
    let sql = select_by_pk_sql::<M>(ex.dialect());
    let init = crate::signals::init_hub::<M, _>(ex);
    let mut first = None;
    for_each_row(ex, &sql, std::slice::from_ref(pk), |row| {
        if first.is_some() {
            return Err(Error::MultipleObjectsReturned { model: M::meta().label(), count: 2 });
        }
        first = Some(crate::signals::decode::<M>(init, row)?);
        Ok(())
    })?;
    first.ok_or_else(|| Error::DoesNotExist { model: M::meta().label() })
}

pub(crate) fn resolve_update_fields<M: Model>(names: &[String]) -> Result<Vec<usize>> {
    let meta = M::meta();
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let i =
            meta.field_index(n).ok_or_else(|| Error::FieldDoesNotExist { model: meta.label(), field: n.clone() })?;
        if i == meta.pk {
            return Err(Error::field_error(format!(
                "update_fields cannot contain the primary key `{n}` of {}",
                meta.label()
            )));
        }
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Ok(out)
}

/// Is there a row of `table` whose `column` is `value`?
pub(crate) fn row_exists(ex: &(impl Executor + ?Sized), table: &str, column: &str, value: &Value) -> Result<bool> {
    let d = ex.dialect();
    let mut sql = String::from("SELECT 1 FROM ");
    d.write_ident(&mut sql, table);
    sql.push_str(" WHERE ");
    d.write_ident(&mut sql, column);
    sql.push_str(" = ");
    d.write_placeholder(&mut sql, 1);
    Ok(ex.with_connection(|c| c.query_opt(&sql, std::slice::from_ref(value)))?.is_some())
}
