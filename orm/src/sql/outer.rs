//! The SELECT behind [`QuerySet::left_join`](crate::QuerySet::left_join): the model's columns,
//! then the related model's through one `LEFT OUTER JOIN` (or the relation's own join), with
//! the QuerySet's filters, order and slice.

use super::{hop, Query, Scope, Writer};
use crate::error::{Error, Result};
use crate::model::meta::ModelMeta;
use crate::q::Node;
use crate::queryset::OrderBy;
use orm_backends::{Dialect, Value};

/// A compiled left join: the SQL, its parameters, and where the related object sits in a row.
#[derive(Debug)]
pub(crate) struct JoinStatement {
    pub sql: String,
    pub params: Vec<Value>,
    /// The first column of the related object.
    pub offset: usize,
    /// The related object's key column (NULL when the row has no related object).
    pub key: usize,
}

/// Renders `SELECT <meta>, <right> FROM <meta> LEFT OUTER JOIN <right> … WHERE … ORDER BY …`
/// for the relation step `part` of `meta`, whose target must be `right`.
pub(crate) fn compile_left_join(
    meta: &'static ModelMeta,
    d: Dialect,
    q: &Query,
    part: &str,
    right: &'static ModelMeta,
) -> Result<JoinStatement> {
    let unsupported = [
        (q.values.is_some(), "values()"),
        (!q.annotations.is_empty(), "annotate()"),
        (!q.select_related.is_empty(), "select_related()"),
        (q.distinct, "distinct()"),
        (q.for_update.is_some(), "select_for_update()"),
    ];
    if let Some((_, what)) = unsupported.iter().find(|(on, _)| *on) {
        return Err(Error::field_error(format!("left_join(\"{part}\") cannot be combined with {what}")));
    }
    let h = hop(meta, part).ok_or_else(|| {
        Error::field_error(format!(
            "left_join follows a relation; `{part}` is not a relation of {} (fields and relations: {})",
            meta.label(),
            meta.field_names().join(", ")
        ))
    })?;
    if !std::ptr::eq(h.target().concrete(), right.concrete()) {
        return Err(Error::field_error(format!(
            "`{part}` of {} leads to {}, not {}",
            meta.label(),
            h.target().label(),
            right.label()
        )));
    }
    let mut w = Writer::new(d);
    let scope = Scope::root(meta, &[]);
    let qual = scope.qual.clone();
    w.push("SELECT ");
    w.select_list(&scope, meta, &qual);
    let alias = scope.apply_hop(&qual, part, h);
    let columns = scope.model_columns(right, &alias);
    let key = columns
        .iter()
        .position(|(_, f)| std::ptr::eq(*f, right.concrete().pk_field()))
        .expect("a model's columns hold its key");
    for (q, f) in &columns {
        w.push(", ");
        w.column(q, f.column);
    }
    w.push(" FROM ");
    w.ident(meta.table);
    let from_end = w.sql.len();
    let nodes: Vec<&Node> = q.filters.iter().collect();
    w.conditions(&scope, " WHERE ", &nodes)?;
    let default: Vec<OrderBy>;
    let order = match &q.order {
        Some(o) => o.as_slice(),
        None => {
            default = meta.ordering.iter().map(|s| OrderBy::from(*s)).collect();
            &default
        }
    };
    w.order_by(&scope, order)?;
    w.limit_offset(q.limit, q.offset);
    w.insert_joins(from_end, &scope);
    let offset = meta.width();
    Ok(JoinStatement { sql: w.sql, params: w.params, offset, key: offset + key })
}
