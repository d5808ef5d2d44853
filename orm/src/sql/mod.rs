//! The internal query tree and its compiler to one parameterised statement per dialect.
//! Never public: users build [`QuerySet`](crate::QuerySet)s.

pub(crate) mod cache;

use crate::error::{Error, Result};
use crate::model::meta::{FieldMeta, ModelMeta};
use crate::q::{Leaf, Lookup, Node, Operand};
use crate::queryset::OrderBy;
use orm_backends::{Dialect, Value};

/// The parts of a SELECT that a QuerySet holds.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pub filters: Vec<Node>,
    pub order: Option<Vec<OrderBy>>,
    pub limit: Option<u64>,
    pub offset: u64,
    pub distinct: bool,
}

/// SQL text plus its parameters, in order.
pub(crate) struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
}

/// What to select.
pub(crate) enum Select {
    /// Every column of the model, in field order.
    Model,
    /// `COUNT(*)`.
    Count,
    /// `1` (for exists).
    One,
}

fn field_error_unknown(meta: &ModelMeta, name: &str) -> Error {
    let mut choices = meta.field_names();
    choices.insert(0, "pk");
    Error::field_error(format!(
        "Cannot resolve keyword `{name}` into field of {}. Choices are: {}",
        meta.label(),
        choices.join(", ")
    ))
}

/// Resolves a field path on `meta` to its field (relations across tables are not joined here).
pub(crate) fn resolve_field<'m>(meta: &'m ModelMeta, path: &[impl AsRef<str>]) -> Result<&'static FieldMeta> {
    let first = path.first().map(AsRef::as_ref).unwrap_or("");
    let field = if first == "pk" { Some(meta.pk_field()) } else { meta.field(first) };
    let field = match field {
        Some(f) => f,
        None => return Err(field_error_unknown(meta, first)),
    };
    if path.len() > 1 {
        let rest: Vec<&str> = path[1..].iter().map(AsRef::as_ref).collect();
        return Err(match field.relation {
            Some(_) => Error::field_error(format!(
                "`{}__{}` on {} crosses a relation; joins across relations are not supported by this query",
                first,
                rest.join("__"),
                meta.label()
            )),
            None => {
                let valid: Vec<&str> = Lookup::ALL.iter().map(|(n, _)| *n).collect();
                Error::field_error(format!(
                    "Unsupported lookup `{}` for field `{}` of {}; valid lookups are: {}",
                    rest.join("__"),
                    field.name,
                    meta.label(),
                    valid.join(", ")
                ))
            }
        });
    }
    Ok(field)
}

/// Checks every path of a condition tree against the model, without rendering.
pub(crate) fn check_node(meta: &ModelMeta, node: &Node) -> Result<()> {
    match node {
        Node::And(v) | Node::Or(v) => v.iter().try_for_each(|n| check_node(meta, n)),
        Node::Not(n) => check_node(meta, n),
        Node::Leaf(l) => check_leaf(meta, l).map(drop),
        Node::Const(_) => Ok(()),
    }
}

fn check_leaf(meta: &ModelMeta, leaf: &Leaf) -> Result<&'static FieldMeta> {
    let field = resolve_field(meta, &leaf.path)?;
    if leaf.lookup.is_text() && !field.kind.is_text() {
        return Err(Error::field_error(format!(
            "the `{}` lookup needs a text field; `{}` of {} is {:?}",
            leaf.lookup.name(),
            field.name,
            meta.label(),
            field.kind
        )));
    }
    Ok(field)
}

/// Escapes `%`, `_` and `\` so a user value matches literally inside LIKE.
pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(crate) struct Writer {
    pub d: Dialect,
    pub sql: String,
    pub params: Vec<Value>,
}

impl Writer {
    pub fn new(d: Dialect) -> Self {
        Writer { d, sql: String::with_capacity(128), params: Vec::new() }
    }

    pub fn ident(&mut self, name: &str) {
        self.d.write_ident(&mut self.sql, name);
    }

    pub fn param(&mut self, v: Value) {
        self.params.push(v);
        self.d.write_placeholder(&mut self.sql, self.params.len());
    }

    pub fn push(&mut self, s: &str) {
        self.sql.push_str(s);
    }

    fn column(&mut self, table: &str, column: &str) {
        self.ident(table);
        self.sql.push('.');
        self.ident(column);
    }

    pub fn node(&mut self, meta: &ModelMeta, node: &Node, negated: bool) -> Result<()> {
        match node {
            Node::Const(true) => self.push("1 = 1"),
            Node::Const(false) => self.push("1 = 0"),
            Node::Not(inner) => {
                self.push("NOT (");
                self.node(meta, inner, !negated)?;
                self.push(")");
            }
            Node::And(items) | Node::Or(items) => {
                if items.is_empty() {
                    self.push(if matches!(node, Node::And(_)) { "1 = 1" } else { "1 = 0" });
                    return Ok(());
                }
                let sep = if matches!(node, Node::And(_)) { " AND " } else { " OR " };
                self.push("(");
                for (i, n) in items.iter().enumerate() {
                    if i > 0 {
                        self.push(sep);
                    }
                    self.node(meta, n, negated)?;
                }
                self.push(")");
            }
            Node::Leaf(leaf) => self.leaf(meta, leaf, negated)?,
        }
        Ok(())
    }

    fn text_operand(leaf: &Leaf, field: &FieldMeta) -> Result<String> {
        match &leaf.operand {
            Operand::Value(Value::Text(s)) => Ok(s.clone()),
            Operand::Value(other) => Err(Error::field_error(format!(
                "the `{}` lookup on `{}` needs a text value, got {}",
                leaf.lookup.name(),
                field.name,
                other.kind_name()
            ))),
            _ => Err(Error::field_error(format!(
                "the `{}` lookup on `{}` needs one value",
                leaf.lookup.name(),
                field.name
            ))),
        }
    }

    fn leaf(&mut self, meta: &ModelMeta, leaf: &Leaf, negated: bool) -> Result<()> {
        let field = check_leaf(meta, leaf)?;
        // Django's exclude() keeps NULL rows: under negation, a comparison on a nullable column
        // also requires the column to be non-null, so NOT(...) is true for NULLs.
        let guard_null = negated && field.null && leaf.lookup != Lookup::IsNull;
        if guard_null {
            self.push("(");
        }
        let table = meta.table;
        match leaf.lookup {
            Lookup::Exact | Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte => {
                let v = match &leaf.operand {
                    Operand::Value(v) => v.clone(),
                    _ => return Err(Error::field_error(format!("`{}` needs one value", leaf.lookup.name()))),
                };
                if v.is_null() {
                    if leaf.lookup != Lookup::Exact {
                        return Err(Error::field_error(format!(
                            "cannot compare `{}` with NULL using `{}`",
                            field.name,
                            leaf.lookup.name()
                        )));
                    }
                    self.column(table, field.column);
                    self.push(" IS NULL");
                } else {
                    self.column(table, field.column);
                    self.push(match leaf.lookup {
                        Lookup::Exact => " = ",
                        Lookup::Gt => " > ",
                        Lookup::Gte => " >= ",
                        Lookup::Lt => " < ",
                        _ => " <= ",
                    });
                    self.param(v);
                }
            }
            Lookup::IsNull => {
                let yes = match &leaf.operand {
                    Operand::Value(Value::Bool(b)) => *b,
                    Operand::Value(Value::Int(i)) => *i != 0,
                    _ => return Err(Error::field_error(format!("`{}__isnull` needs true or false", field.name))),
                };
                self.column(table, field.column);
                self.push(if yes { " IS NULL" } else { " IS NOT NULL" });
            }
            Lookup::In => {
                let values = match &leaf.operand {
                    Operand::List(v) => v,
                    _ => return Err(Error::field_error(format!("`{}__in` needs a list", field.name))),
                };
                let non_null: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
                if non_null.is_empty() {
                    // An empty list matches nothing, without sending `IN ()`.
                    self.push("1 = 0");
                } else {
                    self.column(table, field.column);
                    self.push(" IN (");
                    for (i, v) in non_null.into_iter().enumerate() {
                        if i > 0 {
                            self.push(", ");
                        }
                        self.param(v.clone());
                    }
                    self.push(")");
                }
            }
            Lookup::Range => {
                let (lo, hi) = match &leaf.operand {
                    Operand::Pair(a, b) => (a.clone(), b.clone()),
                    _ => return Err(Error::field_error(format!("`{}__range` needs two values", field.name))),
                };
                self.column(table, field.column);
                self.push(" BETWEEN ");
                self.param(lo);
                self.push(" AND ");
                self.param(hi);
            }
            Lookup::IExact => {
                let s = Self::text_operand(leaf, field)?;
                self.push("UPPER(");
                self.column(table, field.column);
                self.push(") = UPPER(");
                self.param(Value::Text(s));
                self.push(")");
            }
            Lookup::Contains | Lookup::StartsWith | Lookup::EndsWith => {
                let s = escape_like(&Self::text_operand(leaf, field)?);
                let pattern = match leaf.lookup {
                    Lookup::Contains => format!("%{s}%"),
                    Lookup::StartsWith => format!("{s}%"),
                    _ => format!("%{s}"),
                };
                self.column(table, field.column);
                match self.d {
                    // MariaDB/MySQL compare with the column's (case-insensitive) collation.
                    Dialect::Mysql => self.push(" LIKE BINARY "),
                    _ => self.push(" LIKE "),
                }
                self.param(Value::Text(pattern));
                self.like_escape();
            }
            Lookup::IContains | Lookup::IStartsWith | Lookup::IEndsWith => {
                let s = escape_like(&Self::text_operand(leaf, field)?);
                let pattern = match leaf.lookup {
                    Lookup::IContains => format!("%{s}%"),
                    Lookup::IStartsWith => format!("{s}%"),
                    _ => format!("%{s}"),
                };
                self.push("UPPER(");
                self.column(table, field.column);
                self.push(") LIKE UPPER(");
                self.param(Value::Text(pattern));
                self.push(")");
                self.like_escape();
            }
        }
        if guard_null {
            self.push(" AND ");
            self.column(table, field.column);
            self.push(" IS NOT NULL)");
        }
        Ok(())
    }

    fn like_escape(&mut self) {
        // Backslash is the default LIKE escape on PostgreSQL and MySQL; SQLite needs it named.
        if self.d == Dialect::Sqlite {
            self.push(" ESCAPE '\\'");
        }
    }

    pub fn select_list(&mut self, meta: &ModelMeta) {
        for (i, f) in meta.fields.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.column(meta.table, f.column);
        }
    }

    pub fn where_clause(&mut self, meta: &ModelMeta, filters: &[Node]) -> Result<()> {
        if filters.is_empty() {
            return Ok(());
        }
        self.push(" WHERE ");
        for (i, n) in filters.iter().enumerate() {
            if i > 0 {
                self.push(" AND ");
            }
            self.node(meta, n, false)?;
        }
        Ok(())
    }

    pub fn order_by(&mut self, meta: &ModelMeta, order: &[OrderBy]) -> Result<()> {
        if order.is_empty() {
            return Ok(());
        }
        self.push(" ORDER BY ");
        for (i, o) in order.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            let parts: Vec<&str> = o.path.split("__").collect();
            let field = resolve_field(meta, &parts)?;
            self.column(meta.table, field.column);
            // NULLs sort as the smallest value on every backend (SQLite's and MySQL's rule).
            match (o.descending, self.d) {
                (false, Dialect::Postgres) => self.push(" ASC NULLS FIRST"),
                (true, Dialect::Postgres) => self.push(" DESC NULLS LAST"),
                (false, _) => self.push(" ASC"),
                (true, _) => self.push(" DESC"),
            }
        }
        Ok(())
    }

    pub fn limit_offset(&mut self, limit: Option<u64>, offset: u64) {
        match (limit, offset) {
            (None, 0) => {}
            (Some(n), 0) => {
                self.push(" LIMIT ");
                self.param(Value::Int(n.min(i64::MAX as u64) as i64));
            }
            (limit, off) => {
                match (limit, self.d) {
                    (Some(n), _) => {
                        self.push(" LIMIT ");
                        self.param(Value::Int(n.min(i64::MAX as u64) as i64));
                    }
                    (None, Dialect::Sqlite) => self.push(" LIMIT -1"),
                    (None, Dialect::Mysql) => self.push(" LIMIT 18446744073709551615"),
                    (None, Dialect::Postgres) => {}
                }
                self.push(" OFFSET ");
                self.param(Value::Int(off.min(i64::MAX as u64) as i64));
            }
        }
    }
}

/// Renders a SELECT over `meta`'s table.
pub(crate) fn compile_select(meta: &ModelMeta, d: Dialect, q: &Query, select: Select) -> Result<Statement> {
    let mut w = Writer::new(d);
    let wrap_count = matches!(select, Select::Count) && (q.limit.is_some() || q.offset > 0 || q.distinct);
    if wrap_count {
        w.push("SELECT COUNT(*) FROM (");
    }
    w.push("SELECT ");
    if q.distinct {
        w.push("DISTINCT ");
    }
    match select {
        Select::Model => w.select_list(meta),
        Select::Count if wrap_count => w.select_list(meta),
        Select::Count => w.push("COUNT(*)"),
        Select::One => w.push("1"),
    }
    w.push(" FROM ");
    w.ident(meta.table);
    w.where_clause(meta, &q.filters)?;
    if matches!(select, Select::Model) || wrap_count {
        let default: Vec<OrderBy>;
        let order = match &q.order {
            Some(o) => o.as_slice(),
            None => {
                default = meta.ordering.iter().map(|s| OrderBy::from(*s)).collect();
                &default
            }
        };
        w.order_by(meta, order)?;
    }
    match select {
        Select::One => w.limit_offset(Some(q.limit.unwrap_or(1).min(1)), q.offset),
        _ => w.limit_offset(q.limit, q.offset),
    }
    if wrap_count {
        w.push(") subquery");
    }
    Ok(Statement { sql: w.sql, params: w.params })
}

/// Renders a DELETE of the rows the filters match.
pub(crate) fn compile_delete(meta: &ModelMeta, d: Dialect, q: &Query) -> Result<Statement> {
    if q.limit.is_some() || q.offset > 0 {
        return Err(Error::field_error("cannot delete a sliced QuerySet (limit/offset)"));
    }
    let mut w = Writer::new(d);
    w.push("DELETE FROM ");
    w.ident(meta.table);
    w.where_clause(meta, &q.filters)?;
    Ok(Statement { sql: w.sql, params: w.params })
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_in_user_values_are_escaped() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
    }
}
