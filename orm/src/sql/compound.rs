//! Set operations (Django's `compiler.get_combinator_sql`): `UNION [ALL]`, `INTERSECT` and
//! `EXCEPT` over SELECTs of one model, with the ordering, slice and columns of the whole.
//!
//! Each side keeps its own ordering only when it is sliced (Django clears it otherwise); a
//! sliced side is parenthesised on PostgreSQL and MySQL and wrapped in `SELECT * FROM (…)`
//! on SQLite, which allows no parentheses in a compound SELECT, so slicing a side works on
//! every backend (Django refuses it on SQLite). A nested set operation is always wrapped, so
//! the operators apply in the order they were called. The whole is ordered by the position
//! of the selected column each term names (`ORDER BY 2 DESC`), as Django does.

use super::*;
use crate::expressions::query::{Arm, Combinator, Compound};

/// The SQL of `c`, selecting model rows, `values()` rows, their count or whether one exists:
/// rendered once per shape and found again in the model's cache (as `compile_select`), the
/// parameters collected by the same walk without writing SQL.
pub(crate) fn compile_compound(
    meta: &'static ModelMeta,
    d: Dialect,
    c: &Compound,
    select: Select,
) -> Result<Statement> {
    let cache = crate::model::cache::SqlCache::of(meta);
    // A marker byte no SELECT key has in second place (those hold a `Select`).
    let mut key = vec![d as u8, 0xfc, select as u8];
    shape::encode_compound(c, &mut key);
    if let Some(hit) = cache.select(&key) {
        let mut w = Writer::params_only(d);
        render_compound_select(&mut w, meta, c, select)?;
        return Ok(Statement { sql: hit.sql.clone(), params: w.params, related: hit.related.clone(), joined: None });
    }
    let mut w = Writer::new(d);
    render_compound_select(&mut w, meta, c, select)?;
    let sql: std::sync::Arc<str> = w.sql.into();
    cache.insert_select(
        key,
        crate::model::cache::CachedSelect {
            sql: sql.clone(),
            related: Default::default(),
            joined: None,
            params: crate::model::cache::ParamSource::Replay,
        },
    );
    Ok(Statement { sql, params: w.params, related: Default::default(), joined: None })
}

fn render_compound_select(w: &mut Writer, meta: &'static ModelMeta, c: &Compound, select: Select) -> Result<()> {
    match select {
        Select::Count => w.push("SELECT COUNT(*) FROM ("),
        Select::One => w.push("SELECT 1 FROM ("),
        Select::Model | Select::Values => {}
    }
    let wrapped = needs_wrap(w.d, c);
    if wrapped {
        w.push("SELECT * FROM (");
    }
    render_compound(w, meta, c, &c.values, 0)?;
    if wrapped {
        w.push(") ");
        w.ident("combined");
    }
    order_and_slice(w, meta, c, wrapped.then_some("combined"))?;
    match select {
        Select::Count => w.push(") subquery"),
        Select::One => w.push(") subquery LIMIT 1"),
        Select::Model | Select::Values => {}
    }
    Ok(())
}

/// The query of one side as it is selected: `values` applied when the side has none (Django's
/// `values()` after `union()` sets them on every combined query), its ordering dropped
/// unless it is sliced.
fn side(q: &Query, values: &Option<Vec<String>>) -> Result<Query> {
    if !q.select_related.is_empty() {
        return Err(Error::NotSupportedError(
            "select_related() is not supported in a query combined with union(), intersection() or difference()."
                .into(),
        ));
    }
    if q.for_update.is_some() {
        return Err(Error::NotSupportedError(
            "select_for_update() cannot be used with union(), intersection() or difference().".into(),
        ));
    }
    let mut q = q.clone();
    if let (Some(v), None) = (values, &q.values) {
        q.values = Some(v.clone());
        q.values_from = q.annotations.len();
    }
    if q.limit.is_none() && q.offset == 0 {
        q.order = Some(Vec::new());
    }
    Ok(q)
}

fn render_compound(
    w: &mut Writer,
    meta: &'static ModelMeta,
    c: &Compound,
    values: &Option<Vec<String>>,
    depth: usize,
) -> Result<()> {
    for (i, arm) in c.arms.iter().enumerate() {
        if i > 0 {
            w.push(match c.op {
                Combinator::Union => " UNION ",
                Combinator::UnionAll => " UNION ALL ",
                Combinator::Intersection => " INTERSECT ",
                Combinator::Difference => " EXCEPT ",
            });
        }
        match arm {
            Arm::Query(q) => {
                let q = side(q, values)?;
                let select = if q.values.is_some() { Select::Values } else { Select::Model };
                let sliced = q.limit.is_some() || q.offset > 0;
                if sliced {
                    w.push(if w.d == Dialect::Sqlite { "SELECT * FROM (" } else { "(" });
                }
                render_select(w, meta, &q, select, None)?;
                if sliced {
                    w.push(")");
                    if w.d == Dialect::Sqlite {
                        w.push(" ");
                        w.ident(&format!("c{depth}_{i}"));
                    }
                }
            }
            Arm::Compound(inner) => {
                w.push("SELECT * FROM (");
                let v = if inner.values.is_some() { &inner.values } else { values };
                render_compound(w, meta, inner, v, depth + 1)?;
                order_and_slice(w, meta, inner, None)?;
                w.push(") ");
                w.ident(&format!("c{}_{i}", depth + 1));
            }
        }
    }
    Ok(())
}

/// The columns `c` selects, in order: each one's output name and the names an ordering may
/// call it by (its `values()` name, or a field's name and attname, `pk`, an annotation's name).
fn columns(meta: &'static ModelMeta, c: &Compound) -> Result<Vec<(String, Vec<String>)>> {
    let first = c.first_query();
    let q = side(first, &c.values)?;
    if q.values.is_some() {
        return Ok(values_names(meta, &q).into_iter().map(|n| (n.clone(), vec![n])).collect());
    }
    let scope = Scope::root(meta, &q.annotations);
    let mut cols: Vec<(String, Vec<String>)> = scope
        .model_columns(meta, &scope.qual.clone())
        .into_iter()
        .map(|(_, f)| {
            let mut n = vec![f.name.to_owned(), ModelMeta::attname(f).into_owned()];
            if std::ptr::eq(f, meta.pk_field()) {
                n.push("pk".into());
            }
            (f.column.to_owned(), n)
        })
        .collect();
    cols.extend(q.annotations.iter().enumerate().map(|(i, (n, _))| (format!("a{i}_{n}"), vec![n.clone()])));
    Ok(cols)
}

/// Does ordering `c` need it wrapped (MySQL has no `NULLS FIRST`/`LAST`: the emulation
/// `(x IS NULL)` names the column, which a compound's ORDER BY cannot)?
pub(super) fn needs_wrap(d: Dialect, c: &Compound) -> bool {
    !d.features().supports_order_by_nulls_modifier && c.order.iter().any(|o| o.nulls != Nulls::Smallest)
}

/// `ORDER BY` of the selected columns (their positions, or `wrapped.column` when the compound
/// was wrapped as the derived table `wrapped`), then the slice.
fn order_and_slice(w: &mut Writer, meta: &'static ModelMeta, c: &Compound, wrapped: Option<&str>) -> Result<()> {
    if !c.order.is_empty() {
        let cols = columns(meta, c)?;
        w.push(" ORDER BY ");
        for (i, o) in c.order.iter().enumerate() {
            if i > 0 {
                w.push(", ");
            }
            if o.is_random() {
                w.push(if w.d == Dialect::Mysql { "RAND()" } else { "RANDOM()" });
                continue;
            }
            let name = match &o.expr {
                None => Some(o.path.clone()),
                Some(Expr::Field(p)) => Some(p.join("__")),
                Some(_) => None,
            };
            let position = name.as_ref().and_then(|n| cols.iter().position(|(_, names)| names.contains(n)));
            let Some(position) = position else {
                let term = name.unwrap_or_else(|| format!("{:?}", o.expr));
                return Err(Error::NotSupportedError(format!(
                    "ORDER BY term does not match any column in the result set: {term}."
                )));
            };
            let term = |w: &mut Writer| match wrapped {
                Some(alias) => w.column(alias, &cols[position].0),
                None => w.push(&(position + 1).to_string()),
            };
            let emulate = o.nulls != Nulls::Smallest && !w.d.features().supports_order_by_nulls_modifier;
            if emulate {
                let alias = wrapped.ok_or_else(|| {
                    Error::NotSupportedError("nulls_first/nulls_last on a nested combined query on MySQL.".into())
                })?;
                w.push("(");
                w.column(alias, &cols[position].0);
                w.push(if o.nulls == Nulls::First { " IS NULL) DESC, " } else { " IS NULL) ASC, " });
            }
            term(w);
            w.push(match (o.descending, o.nulls, w.d, emulate) {
                (false, _, _, true) => " ASC",
                (true, _, _, true) => " DESC",
                (false, Nulls::Smallest, Dialect::Postgres, _) => " ASC NULLS FIRST",
                (true, Nulls::Smallest, Dialect::Postgres, _) => " DESC NULLS LAST",
                (false, Nulls::First, _, _) => " ASC NULLS FIRST",
                (false, Nulls::Last, _, _) => " ASC NULLS LAST",
                (true, Nulls::First, _, _) => " DESC NULLS FIRST",
                (true, Nulls::Last, _, _) => " DESC NULLS LAST",
                (false, Nulls::Smallest, _, _) => " ASC",
                (true, Nulls::Smallest, _, _) => " DESC",
            });
        }
    }
    w.limit_offset(c.limit, c.offset);
    Ok(())
}
