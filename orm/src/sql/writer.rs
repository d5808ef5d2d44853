//! The SQL writer: text and parameters in one pass, identifiers quoted by the dialect, values
//! only ever as placeholders. The same walk can collect the parameters alone (for a cached
//! statement shape), so text and parameters never disagree on order.

use super::*;

pub(crate) struct Writer {
    pub d: Dialect,
    pub sql: String,
    pub params: Vec<Value>,
    pub(super) depth: usize,
    /// Writing SQL text? Off when only the parameters of an already rendered shape are
    /// wanted: the same walk then collects them in the same order, writing nothing.
    pub(super) emit: bool,
    /// The fields `defer()`/`only()` leave unloaded: their columns are selected as the
    /// deferred marker.
    pub(super) deferred: Vec<&'static FieldMeta>,
}

impl Writer {
    pub fn new(d: Dialect) -> Self {
        Writer { d, sql: String::with_capacity(160), params: Vec::new(), depth: 0, emit: true, deferred: Vec::new() }
    }

    /// A writer that only collects parameters.
    pub(super) fn params_only(d: Dialect) -> Self {
        Writer { d, sql: String::new(), params: Vec::new(), depth: 0, emit: false, deferred: Vec::new() }
    }

    pub fn ident(&mut self, name: &str) {
        if self.emit {
            self.d.write_ident(&mut self.sql, name);
        }
    }

    pub fn param(&mut self, v: Value) {
        // MySQL receives a bound decimal as text and turns text into a double in arithmetic
        // (`price + '0.1'`): cast it back so decimal arithmetic stays exact.
        let decimal = self.d == Dialect::Mysql && matches!(v, Value::Decimal(_));
        self.params.push(v);
        if self.emit {
            if decimal {
                self.sql.push_str("CAST(");
            }
            self.d.write_placeholder(&mut self.sql, self.params.len());
            if decimal {
                self.sql.push_str(" AS DECIMAL(65, 30))");
            }
        }
    }

    pub fn push(&mut self, s: &str) {
        if self.emit {
            self.sql.push_str(s);
        }
    }

    /// A model column of a SELECT list, or the deferred marker in its place.
    pub(crate) fn model_column(&mut self, qual: &str, f: &'static FieldMeta) {
        if self.emit && self.deferred.iter().any(|d| std::ptr::eq(*d, f)) {
            self.d.write_string_literal(&mut self.sql, crate::fields::deferred::MARK);
            return;
        }
        self.column(qual, f.column);
    }

    pub(crate) fn column(&mut self, qual: &str, column: &str) {
        if self.emit {
            self.ident(qual);
            self.sql.push('.');
            self.ident(column);
        }
    }

    /// A column with its transform applied.
    pub(super) fn target_column(&mut self, qual: &str, field: &FieldMeta, transform: Option<Transform>) -> Result<()> {
        let Some(t) = transform else {
            self.column(qual, field.column);
            return Ok(());
        };
        if let Transform::Custom(id) = t {
            let def = crate::expressions::custom::transform_def(id)
                .ok_or_else(|| Error::field_error("an unknown custom transform"))?;
            if def.sql(self.d).is_none() {
                return Err(Error::NotSupportedError(format!(
                    "the `{}` transform is not available on {}.",
                    def.name(),
                    self.d.name()
                )));
            }
        }
        let (open, close) = transform_sql(self.d, t);
        self.push(open);
        self.column(qual, field.column);
        self.push(close);
        Ok(())
    }

    pub fn expr(&mut self, scope: &Scope<'_>, e: &Expr) -> Result<()> {
        match e {
            Expr::Value(v) => self.param(v.clone()),
            Expr::Field(path) => match scope.resolve(path)? {
                Target::Column { qual, field, transform } => {
                    let qual = qual.to_owned();
                    self.target_column(&qual, field, transform)?
                }
                Target::JsonKey { qual, field, keys } => self.json_key(&qual, field, &keys, KeyForm::Document),
                Target::Annotation(inner) => {
                    let inner = inner.clone();
                    scope.in_annotation(&path[0], || self.expr(scope, &inner))?;
                }
            },
            Expr::OuterRef(path) => {
                let parent =
                    scope.parent.ok_or_else(|| Error::field_error("OuterRef is only valid inside a subquery"))?;
                match parent.resolve(path)? {
                    Target::Column { qual, field, transform } => {
                        let qual = qual.to_owned();
                        self.target_column(&qual, field, transform)?
                    }
                    Target::JsonKey { qual, field, keys } => self.json_key(&qual, field, &keys, KeyForm::Scalar),
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
            Expr::Func(f, args) => self.func(scope, *f, args)?,
            Expr::Case(c) => self.case(scope, c)?,
            Expr::Window(w) => self.window(scope, w)?,
            Expr::Selected(name) => {
                let qual = scope.qual.clone();
                self.column(&qual, name);
            }
            Expr::Aggregate(agg) => {
                if agg.default.is_some() {
                    self.push("COALESCE(");
                }
                self.push(agg_name(agg.func));
                self.push("(");
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
                if let Some(v) = &agg.default {
                    self.push(", ");
                    self.param(v.clone());
                    self.push(")");
                }
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

    pub(super) fn subquery(&mut self, outer: &Scope<'_>, sub: &SubqueryExpr, exists: bool) -> Result<()> {
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
        let (where_nodes, having_nodes) = split_having(&sub.query.filters, &sub.query.annotations);
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
            self.model_column(&q, f);
        }
    }

    pub fn order_by(&mut self, scope: &Scope<'_>, order: &[OrderBy]) -> Result<()> {
        if order.is_empty() {
            return Ok(());
        }
        let terms = expand_terms(scope.meta, order)?;
        self.push(" ORDER BY ");
        self.order_terms(scope, &terms)
    }

    /// The terms of an ORDER BY, already expanded (relations into their model's ordering).
    pub(super) fn order_terms(&mut self, scope: &Scope<'_>, terms: &[std::borrow::Cow<'_, OrderBy>]) -> Result<()> {
        for (i, o) in terms.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            if o.is_random() {
                self.push(if self.d == Dialect::Mysql { "RAND()" } else { "RANDOM()" });
                continue;
            }
            let emulate = o.nulls != Nulls::Smallest && !self.d.features().supports_order_by_nulls_modifier;
            if emulate {
                // `(x IS NULL) DESC` puts NULLs first, `ASC` last, then the term itself.
                self.push("(");
                self.order_term(scope, o)?;
                self.push(if o.nulls == Nulls::First { " IS NULL) DESC, " } else { " IS NULL) ASC, " });
            }
            self.order_term(scope, o)?;
            match (o.descending, o.nulls, emulate || self.d != Dialect::Postgres) {
                (false, Nulls::Smallest, false) => self.push(" ASC NULLS FIRST"),
                (true, Nulls::Smallest, false) => self.push(" DESC NULLS LAST"),
                (false, Nulls::Smallest, true) => self.push(" ASC"),
                (true, Nulls::Smallest, true) => self.push(" DESC"),
                (d, nulls, _) => {
                    self.push(if d { " DESC" } else { " ASC" });
                    if !emulate {
                        self.push(if nulls == Nulls::First { " NULLS FIRST" } else { " NULLS LAST" });
                    }
                }
            }
        }
        Ok(())
    }

    fn order_term(&mut self, scope: &Scope<'_>, o: &OrderBy) -> Result<()> {
        match &o.expr {
            Some(e) => self.expr(scope, e)?,
            None => {
                let parts: Vec<&str> = o.path.split("__").collect();
                match scope.resolve(&parts)? {
                    Target::Column { qual, field, transform } => {
                        let qual = qual.to_owned();
                        self.target_column(&qual, field, transform)?;
                    }
                    Target::JsonKey { qual, field, keys } => self.json_key(&qual, field, &keys, KeyForm::Scalar),
                    Target::Annotation(e) => {
                        let e = e.clone();
                        self.expr(scope, &e)?;
                    }
                }
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

/// The SQL around a value for a transform (`published__year`, `Extract`): text before and
/// after it.
pub(super) fn transform_sql(d: Dialect, t: Transform) -> (&'static str, &'static str) {
    match (d, t) {
        (Dialect::Sqlite, Transform::Year) => ("CAST(strftime('%Y', ", ") AS INTEGER)"),
        (Dialect::Sqlite, Transform::Month) => ("CAST(strftime('%m', ", ") AS INTEGER)"),
        (Dialect::Sqlite, Transform::Day) => ("CAST(strftime('%d', ", ") AS INTEGER)"),
        (Dialect::Sqlite, Transform::WeekDay) => ("(CAST(strftime('%w', ", ") AS INTEGER) + 1)"),
        (Dialect::Sqlite, Transform::Hour) => ("CAST(strftime('%H', ", ") AS INTEGER)"),
        (Dialect::Sqlite, Transform::Minute) => ("CAST(strftime('%M', ", ") AS INTEGER)"),
        (Dialect::Sqlite, Transform::Date) => ("date(", ")"),
        (Dialect::Sqlite, Transform::IsoYear) => ("CAST(strftime('%G', ", ") AS INTEGER)"),
        (Dialect::Sqlite, Transform::Week) => ("CAST(strftime('%V', ", ") AS INTEGER)"),
        (Dialect::Sqlite, Transform::IsoWeekDay) => ("CAST(strftime('%u', ", ") AS INTEGER)"),
        (Dialect::Sqlite, Transform::Quarter) => ("((CAST(strftime('%m', ", ") AS INTEGER) + 2) / 3)"),
        // SQLite keeps datetimes as `YYYY-MM-DD HH:MM:SS.ffffff` and binds times as
        // `HH:MM:SS.ffffff`: the time is those characters.
        (Dialect::Sqlite, Transform::Time) => ("substr(", ", 12, 15)"),
        (Dialect::Sqlite, Transform::Second) => ("CAST(strftime('%S', ", ") AS INTEGER)"),
        (Dialect::Postgres, Transform::Year) => ("CAST(EXTRACT(YEAR FROM ", ") AS INTEGER)"),
        (Dialect::Postgres, Transform::Month) => ("CAST(EXTRACT(MONTH FROM ", ") AS INTEGER)"),
        (Dialect::Postgres, Transform::Day) => ("CAST(EXTRACT(DAY FROM ", ") AS INTEGER)"),
        (Dialect::Postgres, Transform::WeekDay) => ("(CAST(EXTRACT(DOW FROM ", ") AS INTEGER) + 1)"),
        (Dialect::Postgres, Transform::Hour) => ("CAST(EXTRACT(HOUR FROM ", ") AS INTEGER)"),
        (Dialect::Postgres, Transform::Minute) => ("CAST(EXTRACT(MINUTE FROM ", ") AS INTEGER)"),
        (Dialect::Postgres, Transform::Date) => ("CAST(", " AS DATE)"),
        (Dialect::Postgres, Transform::IsoYear) => ("CAST(EXTRACT(ISOYEAR FROM ", ") AS INTEGER)"),
        (Dialect::Postgres, Transform::Week) => ("CAST(EXTRACT(WEEK FROM ", ") AS INTEGER)"),
        (Dialect::Postgres, Transform::IsoWeekDay) => ("CAST(EXTRACT(ISODOW FROM ", ") AS INTEGER)"),
        (Dialect::Postgres, Transform::Quarter) => ("CAST(EXTRACT(QUARTER FROM ", ") AS INTEGER)"),
        (Dialect::Postgres, Transform::Time) => ("CAST(", " AS TIME)"),
        (Dialect::Postgres, Transform::Second) => ("CAST(FLOOR(EXTRACT(SECOND FROM ", ")) AS INTEGER)"),
        (Dialect::Mysql, Transform::Year) => ("YEAR(", ")"),
        (Dialect::Mysql, Transform::Month) => ("MONTH(", ")"),
        (Dialect::Mysql, Transform::Day) => ("DAYOFMONTH(", ")"),
        (Dialect::Mysql, Transform::WeekDay) => ("DAYOFWEEK(", ")"),
        (Dialect::Mysql, Transform::Hour) => ("HOUR(", ")"),
        (Dialect::Mysql, Transform::Minute) => ("MINUTE(", ")"),
        (Dialect::Mysql, Transform::Date) => ("DATE(", ")"),
        (Dialect::Mysql, Transform::IsoYear) => ("(YEARWEEK(", ", 3) DIV 100)"),
        (Dialect::Mysql, Transform::Week) => ("WEEK(", ", 3)"),
        (Dialect::Mysql, Transform::IsoWeekDay) => ("(WEEKDAY(", ") + 1)"),
        (Dialect::Mysql, Transform::Quarter) => ("QUARTER(", ")"),
        (Dialect::Mysql, Transform::Time) => ("TIME(", ")"),
        (Dialect::Mysql, Transform::Second) => ("SECOND(", ")"),
        // Checked to exist on `d` where the path is resolved (`custom_sql`).
        (d, Transform::Custom(id)) => crate::expressions::custom::transform_def(id)
            .and_then(|def| def.sql(d))
            .and_then(|sql| sql.split_once("{lhs}"))
            .unwrap_or(("", "")),
    }
}

/// The parameters of a slice, in the order they are bound: the limit, if any, then the offset,
/// if not zero (counts beyond `i64::MAX` are clamped to it).
pub(crate) fn limit_offset_params(limit: Option<u64>, offset: u64) -> [Option<Value>; 2] {
    let count = |n: u64| Value::Int(n.min(i64::MAX as u64) as i64);
    [limit.map(count), (offset > 0).then(|| count(offset))]
}

/// Ordering terms with those naming a relation expanded into the related model's ordering
/// (Django's `find_ordering_name`).
pub(super) fn expand_terms<'o>(
    meta: &'static ModelMeta,
    order: &'o [OrderBy],
) -> Result<Vec<std::borrow::Cow<'o, OrderBy>>> {
    let mut terms: Vec<std::borrow::Cow<'_, OrderBy>> = Vec::with_capacity(order.len());
    for o in order {
        if o.expr.is_some() || o.is_random() {
            terms.push(std::borrow::Cow::Borrowed(o));
        } else {
            let mut seen = Vec::new();
            let mut out = Vec::new();
            expand_ordering(meta, "", &o.path, o.descending, &mut seen, &mut out)?;
            match out.as_slice() {
                [(p, d)] if *p == o.path && *d == o.descending => terms.push(std::borrow::Cow::Borrowed(o)),
                _ => terms.extend(
                    out.into_iter()
                        .map(|(path, descending)| std::borrow::Cow::Owned(OrderBy { path, descending, ..o.clone() })),
                ),
            }
        }
    }
    Ok(terms)
}

/// Expands an ordering path that ends on a relation (by its name, not its attname) into the
/// related model's ordering, recursively and with the direction applied; other paths are
/// kept. A relation met twice on the way is Django's "Infinite loop caused by ordering.".
pub(super) fn expand_ordering(
    meta: &'static ModelMeta,
    prefix: &str,
    path: &str,
    descending: bool,
    seen: &mut Vec<(usize, &'static str)>,
    out: &mut Vec<(String, bool)>,
) -> Result<()> {
    let full = |p: &str| if prefix.is_empty() { p.to_owned() } else { format!("{prefix}__{p}") };
    let parts: Vec<&str> = path.split("__").collect();
    let mut m = meta;
    for (i, part) in parts.iter().enumerate() {
        if i + 1 < parts.len() {
            match hop(m, part) {
                Some(h) => m = h.target(),
                None => break,
            }
            continue;
        }
        let Some(f) = m.fields.iter().find(|f| f.name == *part && f.relation.is_some()) else { break };
        let target = (f.relation.expect("a relation field").target)();
        if target.ordering.is_empty() {
            break;
        }
        let key = (m as *const ModelMeta as usize, f.name);
        if seen.contains(&key) {
            return Err(Error::field_error("Infinite loop caused by ordering."));
        }
        seen.push(key);
        let here = full(path);
        for term in target.ordering {
            let t = OrderBy::from(*term);
            if t.is_random() {
                continue;
            }
            expand_ordering(target, &here, &t.path, descending != t.descending, seen, out)?;
        }
        seen.pop();
        return Ok(());
    }
    out.push((full(path), descending));
    Ok(())
}

/// The SQL name of an aggregate function (the same on every backend; SQLite's connection
/// registers the statistical ones).
pub(super) fn agg_name(f: AggFunc) -> &'static str {
    match f {
        AggFunc::Count => "COUNT",
        AggFunc::Sum => "SUM",
        AggFunc::Avg => "AVG",
        AggFunc::Min => "MIN",
        AggFunc::Max => "MAX",
        AggFunc::StdDevPop => "STDDEV_POP",
        AggFunc::StdDevSamp => "STDDEV_SAMP",
        AggFunc::VarPop => "VAR_POP",
        AggFunc::VarSamp => "VAR_SAMP",
    }
}
