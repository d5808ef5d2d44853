//! The internal query tree and its compiler to one parameterised statement per dialect.
//! Never public: users build [`QuerySet`](crate::QuerySet)s.
//!
//! Compilation resolves every field path against the model's metadata first, so an unknown
//! field or lookup is a `FieldError` before any SQL exists. Identifiers are quoted by the
//! dialect; values only ever become bound parameters.

mod shape;

use crate::error::{Error, Result};
use crate::expressions::q::{Leaf, Lookup, Node, Operand, Transform};
use crate::expressions::query::Query;
use crate::expressions::OrderBy;
use crate::expressions::{AggFunc, ArithOp, Expr, Func, SubqueryExpr};
use crate::fields::ColumnKind;
use crate::model::meta::{FieldMeta, ModelMeta};
use orm_backends::{Dialect, Value};
use std::cell::{Cell, RefCell};

/// SQL text plus its parameters, in order, and where `select_related` objects sit in a row.
#[derive(Debug)]
pub(crate) struct Statement {
    pub sql: std::sync::Arc<str>,
    pub params: Vec<Value>,
    /// Shared with the cached shape: a hit copies no tree.
    pub related: std::sync::Arc<[crate::model::related::RelatedNode]>,
    /// Where the columns of the `left_join` relation's objects start.
    pub joined: Option<usize>,
}

/// `["author__country", "editor"]` as a tree of names.
#[derive(Default)]
struct PathTree(Vec<(String, PathTree)>);

impl PathTree {
    fn from_paths(paths: &[String]) -> PathTree {
        let mut root = PathTree::default();
        for p in paths {
            let mut node = &mut root;
            for part in p.split("__") {
                let i = match node.0.iter().position(|(n, _)| n == part) {
                    Some(i) => i,
                    None => {
                        node.0.push((part.to_owned(), PathTree::default()));
                        node.0.len() - 1
                    }
                };
                node = &mut node.0[i].1;
            }
        }
        root
    }
}

/// Adds the joins and columns of `select_related` below `meta` at `qual`.
fn select_related(
    w: &mut Writer,
    scope: &Scope<'_>,
    meta: &'static ModelMeta,
    qual: &str,
    tree: &PathTree,
    next: &mut usize,
) -> Result<Vec<crate::model::related::RelatedNode>> {
    let mut out = Vec::new();
    for (name, children) in &tree.0 {
        let idx = meta.field_index(name).filter(|&i| meta.fields[i].relation.is_some()).ok_or_else(|| {
            Error::field_error(format!(
                "select_related follows ForeignKey and OneToOne fields; `{name}` of {} is not one (use \
                 prefetch_related for reverse and many-to-many relations)",
                meta.label()
            ))
        })?;
        let h = hop(meta, name).expect("a relation field is a hop");
        let alias = scope.apply_hop(qual, name, h);
        let target = h.target();
        for (q, f) in scope.model_columns(target, &alias) {
            w.push(", ");
            w.column(&q, f.column);
        }
        let offset = *next;
        *next += target.width();
        let nested = select_related(w, scope, target, &alias, children, next)?;
        out.push(crate::model::related::RelatedNode { field: idx, offset, children: nested });
    }
    Ok(out)
}

/// What to select.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Select {
    /// Every column of the model in field order, then the annotations.
    Model,
    /// The `values()` columns (or every field and annotation when none were named).
    Values,
    /// `COUNT(*)` of the rows the query would return.
    Count,
    /// `1` (for exists).
    One,
}

/// Where a query's names are resolved: its model, its table qualifier, its annotations, and
/// the enclosing query (for `OuterRef`).
pub(crate) struct Scope<'a> {
    pub meta: &'static ModelMeta,
    pub qual: String,
    pub parent: Option<&'a Scope<'a>>,
    pub annotations: &'a [(String, Expr)],
    joins: RefCell<Vec<Join>>,
    /// The top-level filter being rendered: joins over multi-valued relations are shared
    /// within one `filter()` call and separate between calls (Django's rule).
    group: Cell<Option<usize>>,
}

/// One JOIN: `{LEFT OUTER|INNER} JOIN table alias ON parent.parent_col = alias.col`.
#[derive(Clone, Debug)]
pub(crate) struct Join {
    parent: String,
    key: String,
    group: Option<usize>,
    pub alias: String,
    table: &'static str,
    left: bool,
    parent_col: &'static str,
    col: &'static str,
}

/// A resolved name.
pub(crate) enum Target<'a> {
    Column { qual: String, field: &'static FieldMeta, transform: Option<Transform> },
    Annotation(&'a Expr),
}

/// A step across a relation, for building joins and correlated subqueries.
#[derive(Clone, Copy)]
enum Hop {
    /// A foreign key on the current model.
    Forward { field: &'static FieldMeta, target: &'static ModelMeta, target_col: &'static str },
    /// A foreign key on `model` pointing at the current model's `local_col`.
    Reverse { model: &'static ModelMeta, field: &'static FieldMeta, local_col: &'static str, multi: bool },
    /// A many-to-many, through `table(source_col → current pk, target_col → target pk)`.
    ManyToMany {
        table: &'static str,
        /// The current model's key column the join table points at.
        near_pk: &'static str,
        near_col: &'static str,
        far_col: &'static str,
        target: &'static ModelMeta,
        /// The name that leads back from `target` to the current model.
        back: &'static str,
    },
}

impl Hop {
    fn is_multi(&self) -> bool {
        match self {
            Hop::Forward { .. } => false,
            Hop::Reverse { multi, .. } => *multi,
            Hop::ManyToMany { .. } => true,
        }
    }

    fn target(&self) -> &'static ModelMeta {
        match self {
            Hop::Forward { target, .. } | Hop::ManyToMany { target, .. } => target,
            Hop::Reverse { model, .. } => model,
        }
    }
}

/// The join table and its two columns of a many-to-many field (auto-created or `through`).
pub(crate) fn m2m_columns(mm: &crate::model::meta::ManyToManyMeta) -> (&'static str, &'static str, &'static str) {
    match mm.through {
        None => (mm.join_table, mm.source_column, mm.target_column),
        Some(through) => {
            let t = through();
            let (source, target) = ((mm.source)(), (mm.target)());
            let to = |m: &ModelMeta, skip: Option<&'static str>| {
                t.fields
                    .iter()
                    .find(|f| f.relation.is_some_and(|r| std::ptr::eq((r.target)(), m)) && Some(f.column) != skip)
                    .map(|f| f.column)
                    .unwrap_or("")
            };
            let s = to(source, None);
            let d = to(target, Some(s));
            (t.table, s, d)
        }
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The relation step called `part` from `meta`, if it is one.
fn hop(meta: &'static ModelMeta, part: &str) -> Option<Hop> {
    if let Some(field) = meta.field(part) {
        let rel = field.relation?;
        let target = (rel.target)();
        let target_col = match rel.to_field.and_then(|n| target.field(n)) {
            Some(f) => f.column,
            None => target.pk_field().column,
        };
        return Some(Hop::Forward { field, target, target_col });
    }
    if let Some(mm) = meta.many_to_many.iter().find(|m| m.name == part) {
        let (table, near, far) = m2m_columns(mm);
        let target = (mm.target)();
        let back = match crate::model::registry::m2m_back_name(mm) {
            Some(n) => n,
            None => leak(crate::model::registry::ReverseRelation::ManyToMany { model: meta, field: mm }.name()),
        };
        return Some(Hop::ManyToMany {
            table,
            near_pk: meta.pk_field().column,
            near_col: near,
            far_col: far,
            target,
            back,
        });
    }
    match crate::model::registry::reverse_relation(meta, part)? {
        crate::model::registry::ReverseRelation::ForeignKey { model, field } => {
            let rel = field.relation?;
            let local_col = match rel.to_field.and_then(|n| meta.field(n)) {
                Some(f) => f.column,
                None => meta.pk_field().column,
            };
            let multi = rel.kind == crate::model::meta::RelationKind::ForeignKey;
            Some(Hop::Reverse { model, field, local_col, multi })
        }
        crate::model::registry::ReverseRelation::ManyToMany { model, field } => {
            let (table, source_col, target_col) = m2m_columns(field);
            Some(Hop::ManyToMany {
                table,
                near_pk: meta.pk_field().column,
                near_col: target_col,
                far_col: source_col,
                target: model,
                back: field.name,
            })
        }
    }
}

fn field_error_unknown(meta: &ModelMeta, name: &str, annotations: &[(String, Expr)]) -> Error {
    let mut choices = meta.field_names();
    choices.insert(0, "pk");
    choices.extend(annotations.iter().map(|(n, _)| n.as_str()));
    Error::field_error(format!(
        "Cannot resolve keyword `{name}` into field of {}. Choices are: {}",
        meta.label(),
        choices.join(", ")
    ))
}

fn unsupported_lookup(meta: &ModelMeta, field: &str, rest: &[&str]) -> Error {
    let valid: Vec<&str> = Lookup::ALL.iter().map(|(n, _)| *n).collect();
    let transforms: Vec<&str> = Transform::ALL.iter().map(|(n, _)| *n).collect();
    Error::field_error(format!(
        "Unsupported lookup `{}` for field `{field}` of {}; valid lookups are: {}; transforms of dates: {}",
        rest.join("__"),
        meta.label(),
        valid.join(", "),
        transforms.join(", ")
    ))
}

impl<'a> Scope<'a> {
    pub fn root(meta: &'static ModelMeta, annotations: &'a [(String, Expr)]) -> Scope<'a> {
        Scope::new(meta, meta.table.to_owned(), None, annotations)
    }

    pub fn new(
        meta: &'static ModelMeta,
        qual: String,
        parent: Option<&'a Scope<'a>>,
        annotations: &'a [(String, Expr)],
    ) -> Scope<'a> {
        Scope { meta, qual, parent, annotations, joins: RefCell::new(Vec::new()), group: Cell::new(None) }
    }

    /// The joins needed so far, in the order they were first needed.
    pub fn joins(&self) -> Vec<Join> {
        self.joins.borrow().clone()
    }

    #[allow(clippy::too_many_arguments)]
    fn join(
        &self,
        parent: &str,
        key: &str,
        multi: bool,
        table: &'static str,
        left: bool,
        parent_col: &'static str,
        col: &'static str,
    ) -> String {
        let group = if multi { self.group.get() } else { None };
        let mut joins = self.joins.borrow_mut();
        if let Some(j) = joins.iter_mut().find(|j| j.parent == parent && j.key == key && j.group == group) {
            j.left |= left;
            return j.alias.clone();
        }
        // A join hanging off a LEFT join must be LEFT too, or it would drop the NULL rows.
        let parent_left = joins.iter().any(|j| j.alias == parent && j.left);
        let alias = format!("{}_j{}", self.qual, joins.len() + 1);
        joins.push(Join {
            parent: parent.to_owned(),
            key: key.to_owned(),
            group,
            alias: alias.clone(),
            table,
            left: left || parent_left,
            parent_col,
            col,
        });
        alias
    }

    /// Adds the joins of one relation step from `qual`; returns the new qualifier.
    fn apply_hop(&self, qual: &str, part: &str, h: Hop) -> String {
        match h {
            Hop::Forward { field, target, target_col } => {
                self.join(qual, part, false, target.table, field.null, field.column, target_col)
            }
            Hop::Reverse { model, field, local_col, multi } => {
                self.join(qual, part, multi, model.table, true, local_col, field.column)
            }
            Hop::ManyToMany { table, near_pk, near_col, far_col, target, .. } => {
                let through = self.join(qual, &format!("{part}+"), true, table, true, near_pk, near_col);
                self.join(&through, part, true, target.table, true, far_col, target.pk_field().column)
            }
        }
    }

    /// Resolves a path (`["views"]`, `["author", "name"]`, `["published", "year"]`, `["pk"]`,
    /// an annotation name), adding the joins it needs.
    pub fn resolve(&self, path: &[impl AsRef<str>]) -> Result<Target<'_>> {
        let first = path.first().map(AsRef::as_ref).unwrap_or("");
        if path.len() == 1 {
            if let Some((_, e)) = self.annotations.iter().find(|(n, _)| n == first) {
                return Ok(Target::Annotation(e));
            }
        }
        let mut meta = self.meta;
        let mut qual = self.qual.clone();
        let mut i = 0;
        loop {
            let part = path[i].as_ref();
            let rest: Vec<&str> = path[i + 1..].iter().map(AsRef::as_ref).collect();
            let field = if part == "pk" { Some(meta.pk_field()) } else { meta.field(part) };
            if let Some(field) = field {
                match rest.as_slice() {
                    [] => return Ok(Target::Column { qual, field, transform: None }),
                    [t] if Transform::from_name(t).is_some() && field.relation.is_none() => {
                        if !is_temporal(field.kind) {
                            return Err(Error::field_error(format!(
                                "the `{t}` transform needs a date or datetime field; `{}` of {} is {:?}",
                                field.name,
                                meta.label(),
                                field.kind
                            )));
                        }
                        return Ok(Target::Column { qual, field, transform: Transform::from_name(t) });
                    }
                    [next]
                        if field.relation.is_some()
                            && field.relation.is_some_and(|r| r.to_field.is_none())
                            && (*next == "pk"
                                || Some(*next) == field.relation.map(|r| (r.target)().pk_field().name)) =>
                    {
                        // `author__id` compares the key column already here: no join.
                        return Ok(Target::Column { qual, field, transform: None });
                    }
                    _ if field.relation.is_some() => {
                        let h = hop(meta, part).expect("a relation field is a hop");
                        qual = self.apply_hop(&qual, part, h);
                        meta = h.target();
                        i += 1;
                        continue;
                    }
                    _ => return Err(unsupported_lookup(meta, field.name, &rest)),
                }
            }
            match hop(meta, part) {
                Some(h) => {
                    qual = self.apply_hop(&qual, part, h);
                    meta = h.target();
                    if rest.is_empty() {
                        return Ok(Target::Column { qual, field: meta.pk_field(), transform: None });
                    }
                    i += 1;
                }
                None => match meta.kind {
                    // A multi-table child reads its parent's fields through the parent link.
                    crate::model::meta::ModelKind::MultiTable { parent } => {
                        qual = self.parent_join(&qual, meta, parent());
                        meta = parent();
                    }
                    _ => return Err(field_error_unknown(meta, part, if i == 0 { self.annotations } else { &[] })),
                },
            }
        }
    }

    /// Joins a multi-table child at `qual` to its parent's row; returns the parent's qualifier.
    fn parent_join(&self, qual: &str, child: &'static ModelMeta, parent: &'static ModelMeta) -> String {
        let ptr = child.pk_field().column;
        self.join(qual, &format!("{}+parent", child.table), false, parent.table, false, ptr, parent.pk_field().column)
    }

    /// Every column a query for `meta` at `qual` selects, parents first (see `ModelMeta::width`).
    pub fn model_columns(&self, meta: &'static ModelMeta, qual: &str) -> Vec<(String, &'static FieldMeta)> {
        match meta.kind {
            crate::model::meta::ModelKind::Proxy { of } => self.model_columns(of(), qual),
            crate::model::meta::ModelKind::MultiTable { parent } => {
                let pq = self.parent_join(qual, meta, parent());
                let mut cols = self.model_columns(parent(), &pq);
                cols.extend(meta.fields.iter().map(|f| (qual.to_owned(), f)));
                cols
            }
            _ => meta.fields.iter().map(|f| (qual.to_owned(), f)).collect(),
        }
    }

    /// The first multi-valued relation step on `path`: (steps before it, the step, the name
    /// leading back from its target).
    fn first_multi_hop(&self, path: &[impl AsRef<str>]) -> Option<(usize, Hop, String)> {
        let mut meta = self.meta;
        for (i, part) in path.iter().enumerate() {
            let part = part.as_ref();
            if meta.field(part).is_some_and(|f| f.relation.is_none()) || part == "pk" {
                return None;
            }
            let h = hop(meta, part)?;
            if h.is_multi() {
                let back = match h {
                    Hop::Reverse { field, .. } => field.name.to_owned(),
                    Hop::ManyToMany { back, .. } => back.to_owned(),
                    Hop::Forward { .. } => unreachable!("forward hops are single-valued"),
                };
                return Some((i, h, back));
            }
            meta = h.target();
        }
        None
    }
}

/// Is the table at `qual` reached through a LEFT join (so its columns can be NULL)?
fn via_left_join(scope: &Scope<'_>, qual: &str) -> bool {
    scope.joins.borrow().iter().any(|j| j.alias == qual && j.left)
}

fn is_temporal(k: ColumnKind) -> bool {
    matches!(k, ColumnKind::Date | ColumnKind::DateTime | ColumnKind::DateTimeTz | ColumnKind::Time)
}

/// Checks every path of a condition tree against the model, without rendering.
pub(crate) fn check_node(meta: &'static ModelMeta, annotations: &[(String, Expr)], node: &Node) -> Result<()> {
    let mut w = Writer::new(Dialect::Sqlite);
    let scope = Scope::root(meta, annotations);
    w.node(&scope, node, false)
}

/// A field path shown as `a__b` in error messages (joined only when one is written).
struct PathName<'a>(&'a [std::borrow::Cow<'static, str>]);

impl std::fmt::Display for PathName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("__")?;
            }
            f.write_str(part)?;
        }
        Ok(())
    }
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

/// Does this condition mention an aggregate (directly or through an annotation)?
fn node_has_aggregate(node: &Node, annotations: &[(String, Expr)]) -> bool {
    match node {
        Node::And(v) | Node::Or(v) => v.iter().any(|n| node_has_aggregate(n, annotations)),
        Node::Not(n) => node_has_aggregate(n, annotations),
        Node::Leaf(l) => {
            (l.path.len() == 1
                && annotations.iter().any(|(n, e)| n.as_str() == l.path[0].as_ref() && e.contains_aggregate()))
                || matches!(&l.operand, Operand::Expr(e) if e.contains_aggregate())
        }
        Node::Expr(e) => e.contains_aggregate(),
        Node::Const(_) => false,
    }
}

pub(crate) struct Writer {
    pub d: Dialect,
    pub sql: String,
    pub params: Vec<Value>,
    depth: usize,
    /// Writing SQL text? Off when only the parameters of an already rendered shape are
    /// wanted: the same walk then collects them in the same order, writing nothing.
    emit: bool,
}

impl Writer {
    pub fn new(d: Dialect) -> Self {
        Writer { d, sql: String::with_capacity(160), params: Vec::new(), depth: 0, emit: true }
    }

    /// A writer that only collects parameters.
    fn params_only(d: Dialect) -> Self {
        Writer { d, sql: String::new(), params: Vec::new(), depth: 0, emit: false }
    }

    pub fn ident(&mut self, name: &str) {
        if self.emit {
            self.d.write_ident(&mut self.sql, name);
        }
    }

    pub fn param(&mut self, v: Value) {
        self.params.push(v);
        if self.emit {
            self.d.write_placeholder(&mut self.sql, self.params.len());
        }
    }

    pub fn push(&mut self, s: &str) {
        if self.emit {
            self.sql.push_str(s);
        }
    }

    pub(crate) fn column(&mut self, qual: &str, column: &str) {
        if self.emit {
            self.ident(qual);
            self.sql.push('.');
            self.ident(column);
        }
    }

    /// A column with its transform applied.
    fn target_column(&mut self, qual: &str, field: &FieldMeta, transform: Option<Transform>) {
        let Some(t) = transform else {
            self.column(qual, field.column);
            return;
        };
        let (open, close): (&str, &str) = match (self.d, t) {
            (Dialect::Sqlite, Transform::Year) => ("CAST(strftime('%Y', ", ") AS INTEGER)"),
            (Dialect::Sqlite, Transform::Month) => ("CAST(strftime('%m', ", ") AS INTEGER)"),
            (Dialect::Sqlite, Transform::Day) => ("CAST(strftime('%d', ", ") AS INTEGER)"),
            (Dialect::Sqlite, Transform::WeekDay) => ("(CAST(strftime('%w', ", ") AS INTEGER) + 1)"),
            (Dialect::Sqlite, Transform::Hour) => ("CAST(strftime('%H', ", ") AS INTEGER)"),
            (Dialect::Sqlite, Transform::Minute) => ("CAST(strftime('%M', ", ") AS INTEGER)"),
            (Dialect::Sqlite, Transform::Date) => ("date(", ")"),
            (Dialect::Postgres, Transform::Year) => ("CAST(EXTRACT(YEAR FROM ", ") AS INTEGER)"),
            (Dialect::Postgres, Transform::Month) => ("CAST(EXTRACT(MONTH FROM ", ") AS INTEGER)"),
            (Dialect::Postgres, Transform::Day) => ("CAST(EXTRACT(DAY FROM ", ") AS INTEGER)"),
            (Dialect::Postgres, Transform::WeekDay) => ("(CAST(EXTRACT(DOW FROM ", ") AS INTEGER) + 1)"),
            (Dialect::Postgres, Transform::Hour) => ("CAST(EXTRACT(HOUR FROM ", ") AS INTEGER)"),
            (Dialect::Postgres, Transform::Minute) => ("CAST(EXTRACT(MINUTE FROM ", ") AS INTEGER)"),
            (Dialect::Postgres, Transform::Date) => ("CAST(", " AS DATE)"),
            (Dialect::Mysql, Transform::Year) => ("YEAR(", ")"),
            (Dialect::Mysql, Transform::Month) => ("MONTH(", ")"),
            (Dialect::Mysql, Transform::Day) => ("DAYOFMONTH(", ")"),
            (Dialect::Mysql, Transform::WeekDay) => ("DAYOFWEEK(", ")"),
            (Dialect::Mysql, Transform::Hour) => ("HOUR(", ")"),
            (Dialect::Mysql, Transform::Minute) => ("MINUTE(", ")"),
            (Dialect::Mysql, Transform::Date) => ("DATE(", ")"),
        };
        self.push(open);
        self.column(qual, field.column);
        self.push(close);
    }

    pub fn expr(&mut self, scope: &Scope<'_>, e: &Expr) -> Result<()> {
        match e {
            Expr::Value(v) => self.param(v.clone()),
            Expr::Field(path) => match scope.resolve(path)? {
                Target::Column { qual, field, transform } => {
                    let qual = qual.to_owned();
                    self.target_column(&qual, field, transform)
                }
                Target::Annotation(inner) => {
                    let inner = inner.clone();
                    let previous = scope.group.replace(None);
                    let r = self.expr(scope, &inner);
                    scope.group.set(previous);
                    r?;
                }
            },
            Expr::OuterRef(path) => {
                let parent =
                    scope.parent.ok_or_else(|| Error::field_error("OuterRef is only valid inside a subquery"))?;
                match parent.resolve(path)? {
                    Target::Column { qual, field, transform } => {
                        let qual = qual.to_owned();
                        self.target_column(&qual, field, transform)
                    }
                    Target::Annotation(inner) => {
                        let inner = inner.clone();
                        self.expr(parent, &inner)?;
                    }
                }
            }
            Expr::Binary(a, op, b) => {
                self.push("(");
                self.expr(scope, a)?;
                self.push(match op {
                    ArithOp::Add => " + ",
                    ArithOp::Sub => " - ",
                    ArithOp::Mul => " * ",
                    ArithOp::Div => " / ",
                });
                self.expr(scope, b)?;
                self.push(")");
            }
            Expr::Func(f, args) => {
                let name = match (f, self.d) {
                    (Func::Lower, _) => "LOWER",
                    (Func::Upper, _) => "UPPER",
                    (Func::Length, Dialect::Mysql) => "CHAR_LENGTH",
                    (Func::Length, _) => "LENGTH",
                    (Func::Coalesce, _) => "COALESCE",
                    (Func::Abs, _) => "ABS",
                };
                self.push(name);
                self.push("(");
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.expr(scope, a)?;
                }
                self.push(")");
            }
            Expr::Aggregate(agg) => {
                self.push(match agg.func {
                    AggFunc::Count => "COUNT(",
                    AggFunc::Sum => "SUM(",
                    AggFunc::Avg => "AVG(",
                    AggFunc::Min => "MIN(",
                    AggFunc::Max => "MAX(",
                });
                if agg.distinct {
                    self.push("DISTINCT ");
                }
                match (&agg.arg, &agg.filter) {
                    (None, None) => self.push("*"),
                    (arg, Some(filter)) => {
                        self.push("CASE WHEN ");
                        self.node(scope, filter, false)?;
                        self.push(" THEN ");
                        match arg {
                            Some(a) => self.expr(scope, a)?,
                            None => self.push("1"),
                        }
                        self.push(" ELSE NULL END");
                    }
                    (Some(a), None) => self.expr(scope, a)?,
                }
                self.push(")");
            }
            Expr::Subquery(sub) => {
                self.push("(");
                self.subquery(scope, sub, false)?;
                self.push(")");
            }
            Expr::Exists(sub) => {
                self.push("EXISTS(");
                self.subquery(scope, sub, true)?;
                self.push(")");
            }
        }
        Ok(())
    }

    fn subquery(&mut self, outer: &Scope<'_>, sub: &SubqueryExpr, exists: bool) -> Result<()> {
        self.depth += 1;
        let alias = format!("u{}", self.depth);
        let scope = Scope::new(sub.meta, alias.clone(), Some(outer), &sub.query.annotations);
        self.push("SELECT ");
        match (&sub.select, exists) {
            (Some(e), false) => self.expr(&scope, e)?,
            _ => self.push("1"),
        }
        self.push(" FROM ");
        self.ident(sub.meta.table);
        self.push(" ");
        self.ident(&alias);
        let from_end = self.sql.len();
        let (where_nodes, having_nodes): (Vec<&Node>, Vec<&Node>) =
            sub.query.filters.iter().partition(|n| !node_has_aggregate(n, &sub.query.annotations));
        self.conditions(&scope, " WHERE ", &where_nodes)?;
        if !having_nodes.is_empty() {
            return Err(Error::field_error("a subquery cannot filter on aggregates"));
        }
        if !exists {
            if let Some(order) = &sub.query.order {
                self.order_by(&scope, order)?;
            }
        }
        self.insert_joins(from_end, &scope);
        if !exists {
            self.limit_offset(sub.query.limit, sub.query.offset);
        }
        self.depth -= 1;
        Ok(())
    }

    /// Writes the joins `scope` needed at `at` (just after its FROM table). Joins carry no
    /// parameters, so inserting them later keeps the placeholders in order.
    pub fn insert_joins(&mut self, at: usize, scope: &Scope<'_>) {
        if !self.emit {
            return;
        }
        let joins = scope.joins();
        if joins.is_empty() {
            return;
        }
        let mut text = String::new();
        for j in &joins {
            text.push_str(if j.left { " LEFT OUTER JOIN " } else { " INNER JOIN " });
            self.d.write_ident(&mut text, j.table);
            text.push(' ');
            self.d.write_ident(&mut text, &j.alias);
            text.push_str(" ON ");
            self.d.write_ident(&mut text, &j.parent);
            text.push('.');
            self.d.write_ident(&mut text, j.parent_col);
            text.push_str(" = ");
            self.d.write_ident(&mut text, &j.alias);
            text.push('.');
            self.d.write_ident(&mut text, j.col);
        }
        self.sql.insert_str(at, &text);
    }

    fn conditions(&mut self, scope: &Scope<'_>, keyword: &str, nodes: &[&Node]) -> Result<()> {
        if nodes.is_empty() {
            return Ok(());
        }
        self.push(keyword);
        for (i, n) in nodes.iter().enumerate() {
            if i > 0 {
                self.push(" AND ");
            }
            let previous = scope.group.replace(Some(i));
            let r = self.node(scope, n, false);
            scope.group.set(previous);
            r?;
        }
        Ok(())
    }

    pub fn node(&mut self, scope: &Scope<'_>, node: &Node, negated: bool) -> Result<()> {
        match node {
            Node::Const(true) => self.push("1 = 1"),
            Node::Const(false) => self.push("1 = 0"),
            Node::Not(inner) => {
                self.push("NOT (");
                self.node(scope, inner, !negated)?;
                self.push(")");
            }
            Node::And(items) | Node::Or(items) => {
                let is_and = matches!(node, Node::And(_));
                if items.is_empty() {
                    self.push(if is_and { "1 = 1" } else { "1 = 0" });
                    return Ok(());
                }
                self.push("(");
                for (i, n) in items.iter().enumerate() {
                    if i > 0 {
                        self.push(if is_and { " AND " } else { " OR " });
                    }
                    self.node(scope, n, negated)?;
                }
                self.push(")");
            }
            Node::Expr(e) => self.expr(scope, e)?,
            Node::Leaf(leaf) => self.leaf(scope, leaf, negated)?,
        }
        Ok(())
    }

    fn lhs(&mut self, scope: &Scope<'_>, leaf: &Leaf) -> Result<(Option<&'static FieldMeta>, Option<Transform>)> {
        if !self.emit {
            // Only collecting parameters: a column has none (and `leaf` already resolved the
            // path, adding its joins); an annotation's expression may have some.
            let annotation = match leaf.path.as_slice() {
                [one] => scope.annotations.iter().find(|(n, _)| n == one.as_ref()),
                _ => None,
            };
            if let Some((_, e)) = annotation {
                let previous = scope.group.replace(None);
                let r = self.expr(scope, e);
                scope.group.set(previous);
                r?;
            }
            return Ok((None, None));
        }
        match scope.resolve(&leaf.path)? {
            Target::Column { qual, field, transform } => {
                let qual = qual.to_owned();
                self.target_column(&qual, field, transform);
                Ok((Some(field), transform))
            }
            Target::Annotation(e) => {
                let e = e.clone();
                let previous = scope.group.replace(None);
                let r = self.expr(scope, &e);
                scope.group.set(previous);
                r?;
                Ok((None, None))
            }
        }
    }

    fn text_value(leaf: &Leaf, name: &PathName<'_>) -> Result<String> {
        match &leaf.operand {
            Operand::Value(Value::Text(s)) => Ok(s.clone()),
            Operand::Value(other) => Err(Error::field_error(format!(
                "the `{}` lookup on `{name}` needs a text value, got {}",
                leaf.lookup.name(),
                other.kind_name()
            ))),
            _ => {
                Err(Error::field_error(format!("the `{}` lookup on `{name}` needs one text value", leaf.lookup.name())))
            }
        }
    }

    fn rhs_one(&mut self, scope: &Scope<'_>, leaf: &Leaf, name: &PathName<'_>) -> Result<()> {
        match &leaf.operand {
            Operand::Value(v) => self.param(v.clone()),
            Operand::Expr(e) => self.expr(scope, e)?,
            _ => {
                return Err(Error::field_error(format!(
                    "the `{}` lookup on `{name}` needs one value",
                    leaf.lookup.name()
                )))
            }
        }
        Ok(())
    }

    fn leaf(&mut self, scope: &Scope<'_>, leaf: &Leaf, negated: bool) -> Result<()> {
        if negated && !(leaf.path.len() == 1 && scope.annotations.iter().any(|(n, _)| n == leaf.path[0].as_ref())) {
            if let Some((k, h, back)) = scope.first_multi_hop(&leaf.path) {
                // Django: excluding across a multi-valued relation excludes the rows where ANY
                // related row matches, so the condition becomes a correlated EXISTS.
                let mut outer_path: Vec<std::borrow::Cow<'static, str>> = leaf.path[..k].to_vec();
                outer_path.push("pk".into());
                let correlate = Node::Leaf(Leaf {
                    path: vec![back.into()],
                    lookup: Lookup::Exact,
                    operand: Operand::Expr(Expr::OuterRef(outer_path)),
                });
                let inner = Node::Leaf(Leaf {
                    path: leaf.path[k + 1..].to_vec(),
                    lookup: leaf.lookup,
                    operand: leaf.operand.clone(),
                });
                let inner = if leaf.path.len() == k + 1 {
                    // The lookup is on the relation itself (`posts=5`, `tags__isnull`): compare its key.
                    Node::Leaf(Leaf { path: vec!["pk".into()], lookup: leaf.lookup, operand: leaf.operand.clone() })
                } else {
                    inner
                };
                let query = Query { filters: vec![correlate, inner], ..Query::default() };
                let sub = SubqueryExpr { meta: h.target(), query, select: None };
                if leaf.lookup == Lookup::IsNull {
                    // `isnull` across a multi-valued relation asks whether any related row exists.
                    let yes =
                        matches!(&leaf.operand, Operand::Value(Value::Bool(true)) | Operand::Value(Value::Int(1)));
                    let sub = SubqueryExpr {
                        meta: h.target(),
                        query: Query { filters: vec![sub.query.filters[0].clone()], ..Query::default() },
                        select: None,
                    };
                    if yes {
                        self.push("NOT ");
                    }
                    return self.expr(scope, &Expr::Exists(Box::new(sub)));
                }
                return self.expr(scope, &Expr::Exists(Box::new(sub)));
            }
        }
        let name = PathName(&leaf.path);
        // Validate before writing anything.
        let (field, transform, qual_of) = match scope.resolve(&leaf.path)? {
            Target::Column { field, transform, qual } => (Some(field), transform, qual),
            Target::Annotation(_) => (None, None, String::new()),
        };
        if leaf.lookup.is_text() {
            if let Some(f) = field {
                if !f.kind.is_text() || transform.is_some() {
                    return Err(Error::field_error(format!(
                        "the `{}` lookup needs a text field; `{}` of {} is {:?}",
                        leaf.lookup.name(),
                        f.name,
                        scope.meta.label(),
                        f.kind
                    )));
                }
            }
        }
        // Django's exclude() keeps NULL rows: under negation, a comparison on a nullable
        // column also requires it to be non-null, so NOT(...) is true for NULLs.
        let through_left_join = via_left_join(scope, &qual_of);
        let guard_null =
            negated && (field.is_some_and(|f| f.null) || through_left_join) && leaf.lookup != Lookup::IsNull;
        if guard_null {
            self.push("(");
        }
        match leaf.lookup {
            Lookup::Exact | Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte => {
                if matches!(leaf.operand, Operand::Value(Value::Null)) {
                    if leaf.lookup != Lookup::Exact {
                        return Err(Error::field_error(format!(
                            "cannot compare `{name}` with NULL using `{}`",
                            leaf.lookup.name()
                        )));
                    }
                    self.lhs(scope, leaf)?;
                    self.push(" IS NULL");
                } else {
                    self.lhs(scope, leaf)?;
                    self.push(match leaf.lookup {
                        Lookup::Exact => " = ",
                        Lookup::Gt => " > ",
                        Lookup::Gte => " >= ",
                        Lookup::Lt => " < ",
                        _ => " <= ",
                    });
                    self.rhs_one(scope, leaf, &name)?;
                }
            }
            Lookup::IsNull => {
                let yes = match &leaf.operand {
                    Operand::Value(Value::Bool(b)) => *b,
                    Operand::Value(Value::Int(i)) => *i != 0,
                    _ => return Err(Error::field_error(format!("`{name}__isnull` needs true or false"))),
                };
                self.lhs(scope, leaf)?;
                self.push(if yes { " IS NULL" } else { " IS NOT NULL" });
            }
            Lookup::In => match &leaf.operand {
                Operand::List(values) => {
                    let non_null: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
                    if non_null.is_empty() {
                        // An empty list matches nothing, without sending `IN ()`.
                        self.push("1 = 0");
                    } else {
                        self.lhs(scope, leaf)?;
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
                Operand::Subquery(sub) => {
                    self.lhs(scope, leaf)?;
                    self.push(" IN (");
                    self.subquery(scope, sub, false)?;
                    self.push(")");
                }
                _ => return Err(Error::field_error(format!("`{name}__in` needs a list or a subquery"))),
            },
            Lookup::Range => {
                let Operand::Pair(lo, hi) = &leaf.operand else {
                    return Err(Error::field_error(format!("`{name}__range` needs two values")));
                };
                let (lo, hi) = (lo.clone(), hi.clone());
                self.lhs(scope, leaf)?;
                self.push(" BETWEEN ");
                self.param(lo);
                self.push(" AND ");
                self.param(hi);
            }
            Lookup::IExact => {
                let s = Self::text_value(leaf, &name)?;
                self.push("UPPER(");
                self.lhs(scope, leaf)?;
                self.push(") = UPPER(");
                self.param(Value::Text(s));
                self.push(")");
            }
            Lookup::Contains | Lookup::StartsWith | Lookup::EndsWith => {
                let s = escape_like(&Self::text_value(leaf, &name)?);
                let pattern = match leaf.lookup {
                    Lookup::Contains => format!("%{s}%"),
                    Lookup::StartsWith => format!("{s}%"),
                    _ => format!("%{s}"),
                };
                self.lhs(scope, leaf)?;
                match self.d {
                    // MySQL compares with the column's case-insensitive collation unless told.
                    Dialect::Mysql => self.push(" LIKE BINARY "),
                    // SQLite's LIKE ignores ASCII case; GLOB is case-sensitive but has other
                    // wildcards, so compare exactly with instr-free LIKE on both sides' bytes.
                    _ => self.push(" LIKE "),
                }
                self.param(Value::Text(pattern));
                self.like_escape();
            }
            Lookup::IContains | Lookup::IStartsWith | Lookup::IEndsWith => {
                let s = escape_like(&Self::text_value(leaf, &name)?);
                let pattern = match leaf.lookup {
                    Lookup::IContains => format!("%{s}%"),
                    Lookup::IStartsWith => format!("{s}%"),
                    _ => format!("%{s}"),
                };
                self.push("UPPER(");
                self.lhs(scope, leaf)?;
                self.push(") LIKE UPPER(");
                self.param(Value::Text(pattern));
                self.push(")");
                self.like_escape();
            }
            Lookup::Regex | Lookup::IRegex => {
                let s = Self::text_value(leaf, &name)?;
                let ci = leaf.lookup == Lookup::IRegex;
                self.lhs(scope, leaf)?;
                match (self.d, ci) {
                    (Dialect::Postgres, false) => self.push(" ~ "),
                    (Dialect::Postgres, true) => self.push(" ~* "),
                    (Dialect::Mysql, false) => self.push(" REGEXP BINARY "),
                    (Dialect::Mysql, true) => self.push(" REGEXP "),
                    (Dialect::Sqlite, _) => self.push(" REGEXP "),
                }
                let pattern = if ci && self.d == Dialect::Sqlite { format!("(?i){s}") } else { s };
                self.param(Value::Text(pattern));
            }
        }
        if guard_null {
            self.push(" AND ");
            self.lhs(scope, leaf)?;
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

    pub fn select_list(&mut self, scope: &Scope<'_>, meta: &'static ModelMeta, qual: &str) {
        if !self.emit {
            // Columns carry no parameters; a multi-table child's parent joins are still
            // recorded, so the rest of the walk sees the joins it saw when rendering.
            if matches!(meta.kind, crate::model::meta::ModelKind::MultiTable { .. }) {
                let _ = scope.model_columns(meta, qual);
            }
            return;
        }
        for (i, (q, f)) in scope.model_columns(meta, qual).into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.column(&q, f.column);
        }
    }

    pub fn order_by(&mut self, scope: &Scope<'_>, order: &[OrderBy]) -> Result<()> {
        if order.is_empty() {
            return Ok(());
        }
        self.push(" ORDER BY ");
        for (i, o) in order.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            match &o.expr {
                Some(e) => self.expr(scope, e)?,
                None => {
                    let parts: Vec<&str> = o.path.split("__").collect();
                    match scope.resolve(&parts)? {
                        Target::Column { qual, field, transform } => {
                            let qual = qual.to_owned();
                            self.target_column(&qual, field, transform);
                        }
                        Target::Annotation(e) => {
                            let e = e.clone();
                            self.expr(scope, &e)?;
                        }
                    }
                }
            }
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

    /// ` LIMIT ? OFFSET ?`, binding what [`limit_offset_params`] lists.
    pub fn limit_offset(&mut self, limit: Option<u64>, offset: u64) {
        let [limit_param, offset_param] = limit_offset_params(limit, offset);
        match (limit_param, self.d) {
            (Some(n), _) => {
                self.push(" LIMIT ");
                self.param(n);
            }
            // An offset without a limit: the dialect's "no limit" (PostgreSQL needs none).
            (None, Dialect::Sqlite) if offset_param.is_some() => self.push(" LIMIT -1"),
            (None, Dialect::Mysql) if offset_param.is_some() => self.push(" LIMIT 18446744073709551615"),
            (None, _) => {}
        }
        if let Some(off) = offset_param {
            self.push(" OFFSET ");
            self.param(off);
        }
    }
}

/// The parameters of a slice, in the order they are bound: the limit, if any, then the offset,
/// if not zero (counts beyond `i64::MAX` are clamped to it).
pub(crate) fn limit_offset_params(limit: Option<u64>, offset: u64) -> [Option<Value>; 2] {
    let count = |n: u64| Value::Int(n.min(i64::MAX as u64) as i64);
    [limit.map(count), (offset > 0).then(|| count(offset))]
}

/// The names and expressions a `values()` query selects.
fn values_columns(meta: &'static ModelMeta, q: &Query) -> Vec<(String, Expr)> {
    match &q.values {
        Some(names) => {
            let mut out: Vec<(String, Expr)> = names
                .iter()
                .map(|n| match q.annotations.iter().find(|(a, _)| a == n) {
                    Some((_, e)) => (n.clone(), e.clone()),
                    None => (n.clone(), crate::expressions::F::col(n)),
                })
                .collect();
            // Annotations added after values() are selected too.
            for (n, e) in &q.annotations {
                if !names.contains(n) {
                    out.push((n.clone(), e.clone()));
                }
            }
            out
        }
        None => {
            let mut out: Vec<(String, Expr)> =
                all_fields(meta).into_iter().map(|f| (f.name.to_owned(), crate::expressions::F::col(f.name))).collect();
            out.extend(q.annotations.iter().cloned());
            out
        }
    }
}

/// Every field of a model including its parents' (a multi-table child's parent link last).
fn all_fields(meta: &'static ModelMeta) -> Vec<&'static FieldMeta> {
    match meta.kind {
        crate::model::meta::ModelKind::Proxy { of } => all_fields(of()),
        crate::model::meta::ModelKind::MultiTable { parent } => {
            let mut v = all_fields(parent());
            v.extend(meta.fields.iter().filter(|f| !f.relation.is_some_and(|r| r.parent_link)));
            v
        }
        _ => meta.fields.iter().collect(),
    }
}

/// The column names of a `values()` result.
pub(crate) fn values_names(meta: &'static ModelMeta, q: &Query) -> Vec<String> {
    values_columns(meta, q).into_iter().map(|(n, _)| n).collect()
}

/// Renders a SELECT over `meta`'s table: the SQL of the query's shape (see [`shape`]) comes
/// from the model's cache after the first time, and only the parameters are collected again
/// (not even that when the shape has none).
pub(crate) fn compile_select(meta: &'static ModelMeta, d: Dialect, q: &Query, select: Select) -> Result<Statement> {
    compile_select_joined(meta, d, q, select, None)
}

/// [`compile_select`], with the objects of relation `left_join` LEFT JOINed and selected
/// after the model's columns (`QuerySet::fetch_left_join`).
pub(crate) fn compile_select_joined(
    meta: &'static ModelMeta,
    d: Dialect,
    q: &Query,
    select: Select,
    left_join: Option<&str>,
) -> Result<Statement> {
    thread_local! {
        /// The key buffer, reused so a lookup allocates nothing.
        static KEY: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(128));
    }
    let cache = crate::model::cache::SqlCache::of(meta);
    let encode = |key: &mut Vec<u8>| {
        key.clear();
        key.push(d as u8);
        key.push(select as u8);
        shape::encode_query(q, key);
        if let Some(name) = left_join {
            // After the (self-delimiting) shape: a marker, then the relation's name.
            key.push(0xff);
            key.extend_from_slice(name.as_bytes());
        }
    };
    let found = KEY.with(|buf| match buf.try_borrow_mut() {
        Ok(mut key) => {
            encode(&mut key);
            cache.select(&key).ok_or_else(|| key.clone())
        }
        Err(_) => {
            let mut key = Vec::new();
            encode(&mut key);
            cache.select(&key).ok_or(key)
        }
    });
    let key = match found {
        Ok(hit) => return cached_statement(&hit, meta, d, q, select, left_join),
        Err(key) => key,
    };
    let mut w = Writer::new(d);
    let (related, joined) = render_select(&mut w, meta, q, select, left_join)?;
    let sql: std::sync::Arc<str> = w.sql.into();
    let related: std::sync::Arc<[crate::model::related::RelatedNode]> = related.into();
    let params = if w.params.is_empty() {
        crate::model::cache::ParamSource::None
    } else if shape::direct_params(q).is_some_and(|p| p == w.params) {
        crate::model::cache::ParamSource::Direct
    } else {
        crate::model::cache::ParamSource::Replay
    };
    cache.insert_select(
        key,
        crate::model::cache::CachedSelect { sql: sql.clone(), related: related.clone(), joined, params },
    );
    Ok(Statement { sql, params: w.params, related, joined })
}

/// The statement of a cached shape: its SQL, and the parameters collected again.
fn cached_statement(
    hit: &crate::model::cache::CachedSelect,
    meta: &'static ModelMeta,
    d: Dialect,
    q: &Query,
    select: Select,
    left_join: Option<&str>,
) -> Result<Statement> {
    let replay = || -> Result<Vec<Value>> {
        let mut w = Writer::params_only(d);
        render_select(&mut w, meta, q, select, left_join)?;
        Ok(w.params)
    };
    let params = match hit.params {
        crate::model::cache::ParamSource::None => Vec::new(),
        crate::model::cache::ParamSource::Direct => {
            let params = shape::direct_params(q).expect("a shape with direct parameters yields them");
            debug_assert_eq!(params, replay()?, "direct parameters must be the ones the compiler binds");
            params
        }
        crate::model::cache::ParamSource::Replay => replay()?,
    };
    Ok(Statement { sql: hit.sql.clone(), params, related: hit.related.clone(), joined: hit.joined })
}

/// The model a relation step `name` of `meta` leads to (a forward or reverse foreign key or
/// one-to-one, or a many-to-many), if it is one.
pub(crate) fn relation_target(meta: &'static ModelMeta, name: &str) -> Option<&'static ModelMeta> {
    hop(meta, name).map(|h| h.target())
}

/// Writes a SELECT over `meta`'s table into `w`; returns where `select_related` objects and
/// the `left_join` relation's objects sit.
fn render_select(
    w: &mut Writer,
    meta: &'static ModelMeta,
    q: &Query,
    select: Select,
    left_join: Option<&str>,
) -> Result<(Vec<crate::model::related::RelatedNode>, Option<usize>)> {
    let d = w.d;
    for (name, _) in &q.annotations {
        if name == "pk" || meta.field(name).is_some() || meta.many_to_many.iter().any(|m| m.name == name) {
            return Err(Error::field_error(format!(
                "the annotation `{name}` conflicts with a field on {}",
                meta.label()
            )));
        }
    }
    let scope = Scope::root(meta, &q.annotations);
    let has_agg = q.annotations.iter().any(|(_, e)| e.contains_aggregate());
    let sliced = q.limit.is_some() || q.offset > 0;
    let wrap_count = select == Select::Count && (sliced || q.distinct || has_agg);
    if wrap_count {
        w.push("SELECT COUNT(*) FROM (");
    }
    w.push("SELECT ");
    if q.distinct {
        w.push("DISTINCT ");
    }
    let mut group_by: Vec<Expr> = Vec::new();
    let mut group_by_columns: Vec<(String, &'static FieldMeta)> = Vec::new();
    let mut related = Vec::new();
    let mut joined = None;
    // A wrapped count selects what the query would select, then counts it.
    let columns = match select {
        Select::Count if wrap_count && q.values.is_some() => Select::Values,
        other => other,
    };
    match columns {
        Select::Count if !wrap_count => w.push("COUNT(*)"),
        Select::Model | Select::Count => {
            w.select_list(&scope, meta, &scope.qual.clone());
            for (i, (name, e)) in q.annotations.iter().enumerate() {
                w.push(", ");
                w.expr(&scope, e)?;
                w.push(" AS ");
                w.ident(&format!("a{i}_{name}"));
            }
            if has_agg {
                group_by_columns = scope.model_columns(meta, &scope.qual.clone());
            }
            let mut next = meta.width() + q.annotations.len();
            if columns == Select::Model && !q.select_related.is_empty() {
                let tree = PathTree::from_paths(&q.select_related);
                related = select_related(w, &scope, meta, &scope.qual.clone(), &tree, &mut next)?;
            }
            // The joined columns carry no parameters, and joins none: a filter that reuses this
            // join only renders differently, so there is nothing to collect here.
            if let (Select::Model, Some(name), true) = (columns, left_join, w.emit) {
                let h = hop(meta, name).ok_or_else(|| {
                    Error::field_error(format!(
                        "`{name}` is not a relation of {}: it cannot be left-joined",
                        meta.label()
                    ))
                })?;
                // Forward keys join as the field's nullability says (a NOT NULL key always has
                // its row); reverse and many-to-many steps join LEFT.
                let alias = scope.apply_hop(&scope.qual.clone(), name, h);
                for (q, f) in scope.model_columns(h.target(), &alias) {
                    w.push(", ");
                    w.column(&q, f.column);
                }
                joined = Some(next);
            }
        }
        Select::Values => {
            let cols = values_columns(meta, q);
            for (i, (name, e)) in cols.iter().enumerate() {
                if i > 0 {
                    w.push(", ");
                }
                w.expr(&scope, e)?;
                w.push(" AS ");
                w.ident(name);
                if has_agg && !e.contains_aggregate() {
                    group_by.push(e.clone());
                }
            }
        }
        Select::One => w.push("1"),
    }
    w.push(" FROM ");
    w.ident(meta.table);
    let from_end = w.sql.len();
    let (where_nodes, having_nodes): (Vec<&Node>, Vec<&Node>) =
        q.filters.iter().partition(|n| !node_has_aggregate(n, &q.annotations));
    w.conditions(&scope, " WHERE ", &where_nodes)?;
    if !group_by.is_empty() || !group_by_columns.is_empty() {
        w.push(" GROUP BY ");
        for (i, (q, f)) in group_by_columns.iter().enumerate() {
            if i > 0 {
                w.push(", ");
            }
            w.column(q, f.column);
        }
        for (i, e) in group_by.iter().enumerate() {
            if i > 0 || !group_by_columns.is_empty() {
                w.push(", ");
            }
            w.expr(&scope, e)?;
        }
    }
    if !having_nodes.is_empty() && !has_agg && select != Select::One {
        return Err(Error::field_error("cannot filter on an aggregate without annotating it"));
    }
    w.conditions(&scope, " HAVING ", &having_nodes)?;
    if matches!(select, Select::Model | Select::Values) || (wrap_count && sliced) {
        let default: Vec<OrderBy>;
        let order = match &q.order {
            Some(o) => o.as_slice(),
            None if select == Select::Values && has_agg => &[],
            None => {
                default = meta.ordering.iter().map(|s| OrderBy::from(*s)).collect();
                &default
            }
        };
        w.order_by(&scope, order)?;
    }
    match select {
        Select::One => w.limit_offset(Some(1), q.offset),
        _ => w.limit_offset(q.limit, q.offset),
    }
    if let Some(fu) = q.for_update {
        if d.features().has_select_for_update && select == Select::Model {
            w.push(" FOR UPDATE");
            if fu.nowait {
                w.push(" NOWAIT");
            } else if fu.skip_locked {
                w.push(" SKIP LOCKED");
            }
        }
    }
    w.insert_joins(from_end, &scope);
    if wrap_count {
        w.push(") subquery");
    }
    Ok((related, joined))
}

/// Do these filters need joins (so a DELETE/UPDATE must select its keys in a subquery)?
fn filters_need_joins(meta: &'static ModelMeta, q: &Query) -> Result<bool> {
    let mut w = Writer::new(Dialect::Sqlite);
    let scope = Scope::root(meta, &q.annotations);
    let nodes: Vec<&Node> = q.filters.iter().collect();
    w.conditions(&scope, " WHERE ", &nodes)?;
    Ok(!scope.joins().is_empty())
}

/// `WHERE` for a DELETE/UPDATE: the filters directly, or `pk IN (SELECT … JOIN …)` when they
/// cross relations (the derived table keeps MySQL from refusing a subquery on the same table).
fn write_key_filter(w: &mut Writer, meta: &'static ModelMeta, q: &Query) -> Result<()> {
    let nodes: Vec<&Node> = q.filters.iter().collect();
    if !filters_need_joins(meta, q)? {
        let scope = Scope::root(meta, &q.annotations);
        return w.conditions(&scope, " WHERE ", &nodes);
    }
    let pk = meta.pk_field().column;
    w.push(" WHERE ");
    w.ident(pk);
    w.push(" IN (SELECT ");
    w.ident(pk);
    w.push(" FROM (SELECT DISTINCT ");
    let scope = Scope::new(meta, "k0".to_owned(), None, &q.annotations);
    w.column("k0", pk);
    w.push(" AS ");
    w.ident(pk);
    w.push(" FROM ");
    w.ident(meta.table);
    w.push(" ");
    w.ident("k0");
    let from_end = w.sql.len();
    w.conditions(&scope, " WHERE ", &nodes)?;
    w.insert_joins(from_end, &scope);
    w.push(") ");
    w.ident("keys");
    w.push(")");
    Ok(())
}

/// Renders a DELETE of the rows the filters match.
pub(crate) fn compile_delete(meta: &'static ModelMeta, d: Dialect, q: &Query) -> Result<Statement> {
    if q.limit.is_some() || q.offset > 0 {
        return Err(Error::TypeError("Cannot use 'limit' or 'offset' with delete().".into()));
    }
    let mut w = Writer::new(d);
    w.push("DELETE FROM ");
    w.ident(meta.table);
    write_key_filter(&mut w, meta, q)?;
    Ok(Statement { sql: w.sql.into(), params: w.params, related: Default::default(), joined: None })
}

/// Renders an UPDATE of the rows the filters match.
pub(crate) fn compile_update(
    meta: &'static ModelMeta,
    d: Dialect,
    q: &Query,
    assignments: &[(&'static FieldMeta, Expr)],
) -> Result<Statement> {
    if q.limit.is_some() || q.offset > 0 {
        return Err(Error::TypeError("Cannot update a query once a slice has been taken.".into()));
    }
    if assignments.is_empty() {
        return Err(Error::field_error("update() needs at least one assignment"));
    }
    let mut w = Writer::new(d);
    let scope = Scope::root(meta, &q.annotations);
    w.push("UPDATE ");
    w.ident(meta.table);
    w.push(" SET ");
    for (i, (f, e)) in assignments.iter().enumerate() {
        if i > 0 {
            w.push(", ");
        }
        w.ident(f.column);
        w.push(" = ");
        w.expr(&scope, e)?;
    }
    if !scope.joins().is_empty() {
        return Err(Error::field_error("an update() value cannot reach across relations; use a Subquery"));
    }
    write_key_filter(&mut w, meta, q)?;
    Ok(Statement { sql: w.sql.into(), params: w.params, related: Default::default(), joined: None })
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_in_user_values_are_escaped() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
    }
}
