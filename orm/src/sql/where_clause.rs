//! WHERE and HAVING: condition trees (`Q` with AND, OR, NOT), lookups on the left-hand
//! column, NULL rules under negation, `EXISTS` for exclusions across multi-valued relations,
//! and LIKE escaping of user values.

use super::*;

/// Checks every path of a condition tree against the model, without rendering.
pub(crate) fn check_node(meta: &'static ModelMeta, annotations: &[(String, Expr)], node: &Node) -> Result<()> {
    let mut w = Writer::new(Dialect::Sqlite);
    let scope = Scope::root(meta, annotations);
    w.node(&scope, node, false)
}

/// A field path shown as `a__b` in error messages (joined only when one is written).
pub(super) struct PathName<'a>(&'a [std::borrow::Cow<'static, str>]);

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

/// Does this expression hold an aggregate, directly or through the annotations it names
/// (`F::col("n")` where `n` is `Count(…)`)?
pub(super) fn refs_aggregate(e: &Expr, annotations: &[(String, Expr)]) -> bool {
    fn walk(e: &Expr, annotations: &[(String, Expr)], depth: usize) -> bool {
        match e {
            Expr::Aggregate(_) => true,
            Expr::Binary(a, _, b) => walk(a, annotations, depth) || walk(b, annotations, depth),
            Expr::Func(_, args) => args.iter().any(|a| walk(a, annotations, depth)),
            Expr::Case(c) => {
                c.exprs().any(|e| walk(e, annotations, depth))
                    || c.whens.iter().any(|w| node_has_aggregate(&w.condition, annotations))
            }
            Expr::Field(path) if path.len() == 1 && depth < 8 => annotations
                .iter()
                .find(|(n, _)| n.as_str() == path[0].as_ref())
                .is_some_and(|(_, inner)| walk(inner, annotations, depth + 1)),
            _ => false,
        }
    }
    walk(e, annotations, 0)
}

/// Top-level filters, each with its number (its join group).
pub(super) type Numbered<'q> = Vec<(usize, &'q Node)>;

/// Splits top-level filters into WHERE and HAVING (those that mention an aggregate).
pub(super) fn split_having<'q>(filters: &'q [Node], annotations: &[(String, Expr)]) -> (Numbered<'q>, Numbered<'q>) {
    filters.iter().enumerate().partition(|(_, n)| !node_has_aggregate(n, annotations))
}

/// Does this condition mention an aggregate (directly or through an annotation)?
pub(super) fn node_has_aggregate(node: &Node, annotations: &[(String, Expr)]) -> bool {
    match node {
        Node::And(v) | Node::Or(v) => v.iter().any(|n| node_has_aggregate(n, annotations)),
        Node::Not(n) => node_has_aggregate(n, annotations),
        Node::Leaf(l) => {
            (l.path.len() == 1
                && annotations.iter().any(|(n, e)| n.as_str() == l.path[0].as_ref() && refs_aggregate(e, annotations)))
                || matches!(&l.operand, Operand::Expr(e) if refs_aggregate(e, annotations))
        }
        Node::Expr(e) => refs_aggregate(e, annotations),
        Node::Const(_) => false,
    }
}

impl Writer {
    /// `keyword` and the conditions `nodes`, ANDed; each is the filter numbered as given (its
    /// join group).
    pub(super) fn conditions(&mut self, scope: &Scope<'_>, keyword: &str, nodes: &[(usize, &Node)]) -> Result<()> {
        if nodes.is_empty() {
            return Ok(());
        }
        self.push(keyword);
        for (k, &(i, n)) in nodes.iter().enumerate() {
            if k > 0 {
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

    pub(super) fn lhs(
        &mut self,
        scope: &Scope<'_>,
        leaf: &Leaf,
    ) -> Result<(Option<&'static FieldMeta>, Option<Transform>)> {
        if !self.emit {
            // Only collecting parameters: a column has none (and `leaf` already resolved the
            // path, adding its joins); an annotation's expression may have some.
            let annotation = match leaf.path.as_slice() {
                [one] => scope.annotations.iter().find(|(n, _)| n == one.as_ref()),
                _ => None,
            };
            if let Some((n, e)) = annotation {
                scope.in_annotation(n, || self.expr(scope, e))?;
            }
            return Ok((None, None));
        }
        match scope.resolve(&leaf.path)? {
            Target::Column { qual, field, transform } => {
                let qual = qual.to_owned();
                self.target_column(&qual, field, transform)?;
                Ok((Some(field), transform))
            }
            Target::Annotation(e) => {
                let e = e.clone();
                scope.in_annotation(&leaf.path[0], || self.expr(scope, &e))?;
                Ok((None, None))
            }
            // A key under a text lookup (the others never reach here): its text.
            Target::JsonKey { qual, field, keys } => {
                self.json_key(&qual, field, &keys, KeyForm::Text);
                Ok((None, None))
            }
        }
    }

    /// The left-hand side, cast to text when `cast` (Django's `Cast(lhs, CharField())` for the
    /// text lookups on other fields).
    pub(super) fn lhs_text(&mut self, scope: &Scope<'_>, leaf: &Leaf, cast: bool) -> Result<()> {
        if !cast {
            self.lhs(scope, leaf)?;
            return Ok(());
        }
        self.push("CAST(");
        self.lhs(scope, leaf)?;
        self.push(match self.d {
            Dialect::Mysql => " AS CHAR)",
            _ => " AS TEXT)",
        });
        Ok(())
    }

    pub(super) fn text_value(leaf: &Leaf, name: &PathName<'_>) -> Result<String> {
        match &leaf.operand {
            Operand::Value(Value::Text(s)) => Ok(s.clone()),
            // Django compares the value's text with the cast column (`id__contains=5`).
            Operand::Value(Value::Int(i)) => Ok(i.to_string()),
            Operand::Value(Value::Float(f)) => Ok(f.to_string()),
            Operand::Value(Value::Decimal(d)) => Ok(d.to_string()),
            Operand::Value(Value::Uuid(u)) => Ok(u.to_string()),
            Operand::Value(Value::Date(d)) => Ok(d.to_string()),
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

    pub(super) fn rhs_one(&mut self, scope: &Scope<'_>, leaf: &Leaf, name: &PathName<'_>) -> Result<()> {
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

    pub(super) fn leaf(&mut self, scope: &Scope<'_>, leaf: &Leaf, negated: bool) -> Result<()> {
        if negated && !(leaf.path.len() == 1 && scope.annotations.iter().any(|(n, _)| n == leaf.path[0].as_ref())) {
            if let Some((k, h, back)) = scope.first_multi_hop(&leaf.path) {
                // Django: excluding across a multi-valued relation excludes the rows where ANY
                // related row matches, so the condition becomes a correlated EXISTS.
                let mut outer_path: Vec<std::borrow::Cow<'static, str>> = leaf.path[..k].to_vec();
                // The related rows point at the key their foreign key names (`to_field`).
                let target = match h {
                    Hop::Reverse { field, .. } => field.relation.and_then(|r| r.to_field).unwrap_or("pk"),
                    _ => "pk",
                };
                outer_path.push(target.into());
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
                    let Operand::Value(Value::Bool(yes)) = leaf.operand else {
                        return Err(Error::ValueError(format!(
                            "The QuerySet value for an isnull lookup must be True or False (`{}__isnull`).",
                            PathName(&leaf.path)
                        )));
                    };
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
            Target::JsonKey { qual, field, keys } => {
                if self.json_key_leaf(scope, leaf, &qual, field, &keys, &name)?.is_some() {
                    return Ok(());
                }
                (None, None, qual)
            }
        };
        // Django casts a non-text left-hand side to text for the text lookups (`id__iexact="5"`,
        // `published__startswith="2024"`, `doc__icontains` on the serialised JSON).
        let cast = leaf.lookup.is_text() && field.is_some_and(|f| !f.kind.is_text() || transform.is_some());
        // Django's YearLookup: `__year` against a constant is a range on the raw column, so an
        // index on it serves.
        let year_range = match (field, transform, &leaf.operand) {
            (Some(f), Some(Transform::Year), Operand::Value(Value::Int(y)))
                if matches!(leaf.lookup, Lookup::Exact | Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte) =>
            {
                year_bounds(f.kind, *y)
            }
            _ => None,
        };
        if let (Lookup::Exact, Operand::Expr(Expr::Subquery(sub))) = (leaf.lookup, &leaf.operand) {
            if sub.query.limit != Some(1) {
                return Err(Error::ValueError(
                    "The QuerySet value for an exact lookup must be limited to one result using slicing.".into(),
                ));
            }
        }
        // Django's exclude() keeps NULL rows: under negation, a comparison on a nullable
        // column also requires it to be non-null, so NOT(...) is true for NULLs.
        let through_left_join = via_left_join(scope, &qual_of);
        // `x = NULL` already renders as `x IS NULL`: its negation needs no guard (with one it
        // became `NOT (x IS NULL AND x IS NOT NULL)`, true for every row). A JSON field's
        // `None` is JSON `null`, compared like any other value.
        let is_json = field.is_some_and(|f| f.kind == ColumnKind::Json);
        let null_operand = matches!(leaf.operand, Operand::Value(Value::Null)) && !is_json;
        let guard_null = negated
            && (field.is_some_and(|f| f.null) || through_left_join)
            && leaf.lookup != Lookup::IsNull
            && !(leaf.lookup == Lookup::Exact && null_operand);
        if guard_null {
            self.push("(");
        }
        match leaf.lookup {
            _ if year_range.is_some() => {
                let (start, end) = year_range.expect("matched");
                let f = field.expect("a year range is on a column");
                self.column(&qual_of, f.column);
                match leaf.lookup {
                    Lookup::Exact => {
                        self.push(" BETWEEN ");
                        self.param(start);
                        self.push(" AND ");
                        self.param(end);
                    }
                    Lookup::Gt => {
                        self.push(" > ");
                        self.param(end);
                    }
                    Lookup::Gte => {
                        self.push(" >= ");
                        self.param(start);
                    }
                    Lookup::Lt => {
                        self.push(" < ");
                        self.param(start);
                    }
                    _ => {
                        self.push(" <= ");
                        self.param(end);
                    }
                }
            }
            Lookup::Exact if is_json && matches!(leaf.operand, Operand::Value(_)) => {
                // Django: on a JSON field, `value=None` is the JSON `null` document (SQL NULL
                // is `value__isnull=True`), and every value compares as a document.
                let v = match &leaf.operand {
                    Operand::Value(Value::Null) => Value::Json(serde_json::Value::Null),
                    Operand::Value(Value::Json(j)) => Value::Json(j.clone()),
                    Operand::Value(other) => Value::Json(crate::fields::json::value_to_json(other)),
                    _ => unreachable!("matched a value operand"),
                };
                if self.d == Dialect::Mysql {
                    // MariaDB has no JSON type to cast to: both sides as documents (Django).
                    self.push("JSON_EXTRACT(");
                    self.lhs(scope, leaf)?;
                    self.push(", '$')");
                } else {
                    self.lhs(scope, leaf)?;
                }
                self.push(" = ");
                match self.d {
                    Dialect::Mysql => {
                        self.push("JSON_EXTRACT(");
                        self.param(v);
                        self.push(", '$')");
                    }
                    Dialect::Postgres => {
                        self.param(v);
                        self.push("::jsonb");
                    }
                    Dialect::Sqlite => {
                        self.push("json(");
                        self.param(v);
                        self.push(")");
                    }
                }
            }
            Lookup::Custom(id) => {
                let def = crate::expressions::custom::lookup_def(id)
                    .ok_or_else(|| Error::field_error(format!("`{name}`: unknown custom lookup")))?;
                if let Some(f) = field.filter(|f| transform.is_none() && !def.applies_to(f.kind)) {
                    return Err(Error::field_error(format!(
                        "Unsupported lookup '{}' for {:?} field `{name}`.",
                        def.name(),
                        f.kind
                    )));
                }
                let sql = def.sql(self.d).ok_or_else(|| {
                    Error::NotSupportedError(format!(
                        "the `{}` lookup is not available on {}.",
                        def.name(),
                        self.d.name()
                    ))
                })?;
                // `{lhs}` and `{rhs}` in the order the template has them.
                let (before, after) = sql.split_once("{lhs}").expect("checked at registration");
                let rhs_first = before.contains("{rhs}");
                let rhs = |w: &mut Self| -> Result<()> {
                    match &leaf.operand {
                        Operand::Value(v) => {
                            w.param(v.clone());
                            Ok(())
                        }
                        Operand::Expr(e) => w.expr(scope, e),
                        _ => {
                            Err(Error::field_error(format!("the `{}` lookup on `{name}` needs one value", def.name())))
                        }
                    }
                };
                if rhs_first {
                    let (a, b) = before.split_once("{rhs}").expect("found");
                    self.push(a);
                    rhs(self)?;
                    self.push(b);
                    self.lhs(scope, leaf)?;
                    self.push(after);
                } else {
                    let (a, b) = after.split_once("{rhs}").expect("checked at registration");
                    self.push(before);
                    self.lhs(scope, leaf)?;
                    self.push(a);
                    rhs(self)?;
                    self.push(b);
                }
            }
            Lookup::HasKey | Lookup::HasKeys | Lookup::HasAnyKeys | Lookup::ContainedBy => {
                let Some(f) = field.filter(|_| is_json) else {
                    return Err(Error::field_error(format!(
                        "Unsupported lookup '{}' for `{name}`: it needs a JSON field.",
                        leaf.lookup.name()
                    )));
                };
                self.json_lookup(leaf, &qual_of, f, &[], &name)?;
            }
            // Containment takes a document; `contains` with text searches the serialised
            // document (this crate's earlier rule, kept).
            Lookup::Contains if is_json && matches!(leaf.operand, Operand::Value(Value::Json(_))) => {
                let f = field.expect("a JSON field");
                self.json_lookup(leaf, &qual_of, f, &[], &name)?;
            }
            Lookup::Exact | Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte => {
                if null_operand {
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
                    self.push(leaf.lookup.comparison_sql().unwrap_or(" = "));
                    self.rhs_one(scope, leaf, &name)?;
                }
            }
            Lookup::IsNull => {
                let Operand::Value(Value::Bool(yes)) = &leaf.operand else {
                    return Err(Error::ValueError(format!(
                        "The QuerySet value for an isnull lookup must be True or False (`{name}__isnull`)."
                    )));
                };
                let yes = *yes;
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
                self.lhs_text(scope, leaf, cast)?;
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
                self.lhs_text(scope, leaf, cast)?;
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
                self.lhs_text(scope, leaf, cast)?;
                self.push(") LIKE UPPER(");
                self.param(Value::Text(pattern));
                self.push(")");
                self.like_escape();
            }
            Lookup::Regex | Lookup::IRegex => {
                let s = Self::text_value(leaf, &name)?;
                let ci = leaf.lookup == Lookup::IRegex;
                self.lhs_text(scope, leaf, cast)?;
                match (self.d, ci) {
                    (Dialect::Postgres, false) => self.push(" ~ "),
                    (Dialect::Postgres, true) => self.push(" ~* "),
                    // Case-sensitive by PCRE's own flag rather than `REGEXP BINARY` (Django's),
                    // which matches bytes: `.` would not match one non-ASCII character.
                    (Dialect::Mysql, false) => self.push(" REGEXP CONCAT('(?-i)', "),
                    (Dialect::Mysql, true) => self.push(" REGEXP "),
                    (Dialect::Sqlite, _) => self.push(" REGEXP "),
                }
                let pattern = if ci && self.d == Dialect::Sqlite { format!("(?i){s}") } else { s };
                self.param(Value::Text(pattern));
                if self.d == Dialect::Mysql && !ci {
                    self.push(")");
                }
            }
        }
        if guard_null {
            self.push(" AND ");
            self.lhs(scope, leaf)?;
            self.push(" IS NOT NULL)");
        }
        Ok(())
    }

    pub(super) fn like_escape(&mut self) {
        // Backslash is the default LIKE escape on PostgreSQL and MySQL; SQLite needs it named.
        if self.d == Dialect::Sqlite {
            self.push(" ESCAPE '\\'");
        }
    }
}

/// The first and the last value of year `y` in a date or datetime column's kind (`None` for
/// other kinds, or a year chrono cannot hold): Django's `year_lookup_bounds`.
fn year_bounds(kind: ColumnKind, y: i64) -> Option<(Value, Value)> {
    let y = i32::try_from(y).ok()?;
    let first = chrono::NaiveDate::from_ymd_opt(y, 1, 1)?;
    let last = chrono::NaiveDate::from_ymd_opt(y, 12, 31)?;
    let start = first.and_hms_opt(0, 0, 0)?;
    let end = last.and_hms_micro_opt(23, 59, 59, 999_999)?;
    match kind {
        ColumnKind::Date => Some((Value::Date(first), Value::Date(last))),
        ColumnKind::DateTime => Some((Value::DateTime(start), Value::DateTime(end))),
        ColumnKind::DateTimeTz => Some((Value::DateTimeTz(start.and_utc()), Value::DateTimeTz(end.and_utc()))),
        _ => None,
    }
}
