//! Compiling a query tree into one statement: SELECT (with `select_related` columns, a
//! `values()` list, COUNT or EXISTS forms, cached by shape), UPDATE and DELETE.

use super::*;

/// `["author__country", "editor"]` as a tree of names.
#[derive(Default)]
pub(super) struct PathTree(Vec<(String, PathTree)>);

impl PathTree {
    pub(super) fn from_paths(paths: &[String]) -> PathTree {
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
pub(super) fn select_related(
    w: &mut Writer,
    scope: &Scope<'_>,
    meta: &'static ModelMeta,
    qual: &str,
    tree: &PathTree,
    next: &mut usize,
) -> Result<Vec<crate::model::related::RelatedNode>> {
    let mut out = Vec::new();
    let child = meta;
    for (name, children) in &tree.0 {
        // A relation declared on a multi-table ancestor: followed from the ancestor's row
        // (already joined for its columns), the object cached on the ancestor.
        let (mut level, mut level_qual, mut inherited) = (child, qual.to_owned(), 0u8);
        while level.field(name).is_none() && hop(level, name).is_none() {
            match level.kind {
                crate::model::meta::ModelKind::MultiTable { parent } => {
                    level_qual = scope.parent_join(&level_qual, level, parent());
                    level = parent();
                    inherited += 1;
                }
                _ => break,
            }
        }
        // Not found on any level: the error below is about the model asked for.
        let found = level.field(name).is_some() || hop(level, name).is_some();
        let (meta, qual, inherited) = if found { (level, level_qual, inherited) } else { (child, qual.to_owned(), 0) };
        let qual = qual.as_str();
        // A forward relation field, or a reverse one-to-one (Django's choices).
        let idx = meta.field_index(name).filter(|&i| meta.fields[i].relation.is_some());
        let reverse = match (idx, hop(meta, name)) {
            (None, Some(Hop::Reverse { field, multi: false, .. }))
                if field.relation.is_some_and(|r| !r.parent_link) =>
            {
                Some(crate::model::related::leak_name(name))
            }
            _ => None,
        };
        if idx.is_none() && reverse.is_none() {
            let choices = select_related_choices(meta);
            let choices = if choices.is_empty() { "(none)".to_owned() } else { choices.join(", ") };
            let kind = if meta.field(name).is_some() { "Non-relational field" } else { "Invalid field name(s)" };
            // Django's message; for a many-valued relation, where to turn instead.
            let hint = if hop(meta, name).is_some() { " (use prefetch_related for many-valued relations)" } else { "" };
            return Err(Error::field_error(format!(
                "{kind} given in select_related: '{name}'. Choices are: {choices}{hint}"
            )));
        }
        let h = hop(meta, name).expect("a relation field is a hop");
        let alias = scope.apply_hop(qual, h);
        let target = h.target();
        for (q, f) in scope.model_columns(target, &alias) {
            w.push(", ");
            w.model_column(&q, f);
        }
        let offset = *next;
        *next += target.width();
        let nested = select_related(w, scope, target, &alias, children, next)?;
        out.push(crate::model::related::RelatedNode {
            field: idx.unwrap_or(0),
            reverse,
            inherited,
            offset,
            children: nested,
        });
    }
    Ok(out)
}

/// What `select_related` may follow from `meta`: its forward relation fields (its
/// ancestors' included), then the one-to-one relations pointing at it (Django's
/// `_get_field_choices`).
fn select_related_choices(meta: &'static ModelMeta) -> Vec<String> {
    let mut out = own_select_related_choices(meta);
    let mut at = meta.parent();
    while let Some(p) = at {
        out.extend(p.fields.iter().filter(|f| f.relation.is_some_and(|r| !r.parent_link)).map(|f| f.name.to_owned()));
        at = p.parent();
    }
    out
}

fn own_select_related_choices(meta: &'static ModelMeta) -> Vec<String> {
    let forward = meta.fields.iter().filter(|f| f.relation.is_some_and(|r| !r.parent_link)).map(|f| f.name.to_owned());
    let reverse = crate::model::registry::reverse_relations(meta).into_iter().filter_map(|r| match r {
        crate::model::registry::ReverseRelation::ForeignKey { field, .. }
            if field
                .relation
                .is_some_and(|r| r.kind == crate::model::meta::RelationKind::OneToOne && !r.parent_link) =>
        {
            Some(r.name())
        }
        _ => None,
    });
    forward.chain(reverse).collect()
}

/// The names and expressions a `values()` query selects.
pub(super) fn values_columns(meta: &'static ModelMeta, q: &Query) -> Vec<(String, Expr)> {
    match &q.values {
        Some(names) => {
            let mut out: Vec<(String, Expr)> = names
                .iter()
                .map(|n| match q.annotations.iter().find(|(a, _)| a == n) {
                    Some((_, e)) => (n.clone(), e.clone()),
                    None => (n.clone(), crate::expressions::F::col(n)),
                })
                .collect();
            // Annotations added after values() are selected too; those before it only when
            // named (Django's annotation mask), so they do not enter GROUP BY either.
            for (n, e) in q.annotations.iter().skip(q.values_from) {
                if !names.contains(n) && !q.hidden.contains(n) {
                    out.push((n.clone(), e.clone()));
                }
            }
            out
        }
        None => {
            // Django names a foreign key by its attname here (`author_id`).
            let mut out: Vec<(String, Expr)> = all_fields(meta)
                .into_iter()
                .map(|f| (ModelMeta::attname(f).into_owned(), crate::expressions::F::col(f.name)))
                .collect();
            out.extend(q.annotations.iter().filter(|(n, _)| !q.hidden.contains(n)).cloned());
            out
        }
    }
}

/// Every field of a model including its parents' (a multi-table child's parent link last).
pub(super) fn all_fields(meta: &'static ModelMeta) -> Vec<&'static FieldMeta> {
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
pub(super) fn cached_statement(
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
pub(super) fn render_select(
    w: &mut Writer,
    meta: &'static ModelMeta,
    q: &Query,
    select: Select,
    left_join: Option<&str>,
) -> Result<(Vec<crate::model::related::RelatedNode>, Option<usize>)> {
    let d = w.d;
    for (name, _) in &q.annotations {
        // An alias becomes a quoted identifier: a NUL would cut the statement on SQLite and
        // break the protocol on PostgreSQL, and control characters are no one's column name.
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(Error::field_error(format!(
                "the annotation alias {name:?} is not a valid name: it is empty or holds control characters"
            )));
        }
        if name == "pk" || meta.field(name).is_some() || meta.many_to_many.iter().any(|m| m.name == name) {
            return Err(Error::field_error(format!(
                "the annotation `{name}` conflicts with a field on {}",
                meta.label()
            )));
        }
    }
    if let Some(n) = q.values.iter().flatten().find(|n| q.hidden.contains(n)) {
        return Err(Error::field_error(format!("Cannot select the '{n}' alias. Use annotate() to promote it.")));
    }
    if q.filters.iter().any(|n| node_has_window(n, &q.annotations)) {
        return render_qualified(w, meta, q, select, left_join);
    }
    // Set for every SELECT rendered (the sides of a union share one writer).
    w.deferred = if q.defer.is_empty() && q.only.is_none() { Vec::new() } else { deferred_fields(meta, q)? };
    let scope = Scope::root(meta, &q.annotations);
    if !q.annotation_at.is_empty() {
        scope.annotation_at.replace(q.annotation_at.clone());
    }
    let (where_nodes, having_nodes) = split_having(&q.filters, &q.annotations);
    if !q.annotations.is_empty() && !where_nodes.is_empty() {
        // The filters' joins first (their text is written below), so that an annotation made
        // after a filter finds that filter's join to reuse (Django's join reuse).
        let mut joins_only = Writer::params_only(w.d);
        joins_only.conditions(&scope, " WHERE ", &where_nodes)?;
    }
    let has_agg = q.annotations.iter().any(|(_, e)| e.contains_aggregate());
    if let Some(o) = q.order.iter().flatten().find(|o| o.expr.as_ref().is_some_and(Expr::contains_aggregate)) {
        return Err(Error::field_error(format!(
            "Using an aggregate in order_by() without also including it in annotate() is not allowed: {}",
            describe(o.expr.as_ref().expect("found by its expression"))
        )));
    }
    let sliced = q.limit.is_some() || q.offset > 0;
    let wrap_count = select == Select::Count && (sliced || q.distinct || has_agg);
    // exists() of a distinct or sliced query asks whether the rows it would return exist:
    // `SELECT 1` with DISTINCT or OFFSET would ask about a single row of `1`s.
    let wrap_exists = select == Select::One && (sliced || q.distinct);
    let wrap_count = wrap_count || wrap_exists;
    if wrap_exists {
        w.push("SELECT 1 FROM (");
    } else if wrap_count {
        w.push("SELECT COUNT(*) FROM (");
    }
    w.push("SELECT ");
    if !q.distinct_on.is_empty() {
        if d != Dialect::Postgres {
            return Err(Error::NotSupportedError(
                "DISTINCT ON fields is not supported by this database backend.".into(),
            ));
        }
        w.push("DISTINCT ON (");
        for (i, p) in q.distinct_on.iter().enumerate() {
            if i > 0 {
                w.push(", ");
            }
            w.expr(&scope, &crate::expressions::F::col(p))?;
        }
        w.push(") ");
    } else if q.distinct {
        w.push("DISTINCT ");
    }
    let mut group_by: Vec<Expr> = Vec::new();
    // Selected columns grouped by their position in the select list (`GROUP BY 1`): an
    // expression with parameters would not be recognised as the selected one.
    let mut group_by_positions: Vec<usize> = Vec::new();
    let mut group_by_columns: Vec<(String, &'static FieldMeta)> = Vec::new();
    let mut related = Vec::new();
    let mut joined = None;
    // A wrapped count selects what the query would select, then counts it.
    let columns = match select {
        Select::Count | Select::One if wrap_count && q.values.is_some() => Select::Values,
        Select::One if wrap_count => Select::Count,
        other => other,
    };
    match columns {
        Select::Count if !wrap_count => w.push("COUNT(*)"),
        Select::Model | Select::Count => {
            w.select_list(&scope, meta, &scope.qual.clone());
            for (i, (name, e)) in q.annotations.iter().enumerate() {
                if q.hidden.contains(name) {
                    continue;
                }
                w.push(", ");
                scope.in_annotation(name, || w.expr(&scope, e))?;
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
                let alias = scope.apply_hop(&scope.qual.clone(), h);
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
                scope.in_annotation(name, || w.expr(&scope, e))?;
                w.push(" AS ");
                w.ident(name);
                if has_agg && !refs_aggregate(e, &q.annotations) {
                    group_by_positions.push(i + 1);
                    group_by.push(e.clone());
                }
            }
            // An aggregate annotated before values() was computed per object (Django keeps
            // that grouping): group by the model's columns as well.
            if q.annotations.iter().take(q.values_from).any(|(_, e)| e.contains_aggregate()) {
                group_by_columns = scope.model_columns(meta, &scope.qual.clone());
            }
            // DISTINCT with an ordering on columns not selected: PostgreSQL (and MySQL in
            // ONLY_FULL_GROUP_BY) refuse it, so the ordering's columns are selected too, after
            // the values (Django's extra select; they take part in DISTINCT, as in Django,
            // and the rows are read without them).
            // (A wrapped count or exists of an unsliced query orders nothing: Django clears
            // the ordering there.)
            if q.distinct && !has_agg && (select == Select::Values || (wrap_count && sliced)) {
                let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
                let mut extra = 0;
                let default: Vec<OrderBy>;
                let order = match &q.order {
                    Some(o) => o.as_slice(),
                    None => {
                        default = meta.ordering.iter().map(|s| OrderBy::from(*s)).collect();
                        &default
                    }
                };
                for o in order {
                    let plain = o.expr.is_none() && !o.is_random() && !o.path.is_empty();
                    if plain && !names.contains(&o.path.as_str()) && !q.annotations.iter().any(|(a, _)| *a == o.path) {
                        extra += 1;
                        w.push(", ");
                        w.expr(&scope, &crate::expressions::F::col(&o.path))?;
                        w.push(" AS ");
                        w.ident(&format!("__orderbycol{extra}"));
                    }
                }
            }
        }
        Select::One => w.push("1"),
    }
    w.push(" FROM ");
    w.ident(meta.table);
    let from_end = w.sql.len();
    w.conditions(&scope, " WHERE ", &where_nodes)?;
    let selected_groups = group_by.len();
    if !group_by.is_empty() || !group_by_columns.is_empty() {
        // Django adds the ordering's columns to GROUP BY (an ordering by a relation may
        // reach a joined column no group holds otherwise).
        // And the plain columns of a HAVING condition (`Q(n__gt=1) | Q(name="x")`): HAVING
        // may only name grouped columns.
        for (_, n) in &having_nodes {
            having_columns(n, &q.annotations, &mut |e| {
                if !group_by.contains(&e) {
                    group_by.push(e);
                }
            });
        }
        if matches!(select, Select::Model | Select::Values) {
            let default: Vec<OrderBy> = match (&q.order, select) {
                (None, Select::Model) => meta.ordering.iter().map(|s| OrderBy::from(*s)).collect(),
                _ => Vec::new(),
            };
            for o in q.order.iter().flatten().chain(&default) {
                if o.expr.is_some() || o.is_random() {
                    continue;
                }
                let mut expanded = Vec::new();
                expand_ordering(meta, "", &o.path, o.descending, &mut Vec::new(), &mut expanded)?;
                for (path, _) in expanded {
                    let e = crate::expressions::F::col(&path);
                    if !refs_aggregate(&e, &q.annotations) && !group_by.contains(&e) {
                        group_by.push(e);
                    }
                }
            }
        }
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
            if let Some(p) = group_by_positions.get(i).filter(|_| i < selected_groups) {
                w.push(&p.to_string());
                continue;
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
        Select::One if !wrap_exists => w.limit_offset(Some(1), q.offset),
        _ => w.limit_offset(q.limit, q.offset),
    }
    if let Some(fu) = &q.for_update {
        if d.features().has_select_for_update && select == Select::Model {
            if (fu.no_key || !fu.of.is_empty()) && d == Dialect::Mysql {
                return Err(Error::NotSupportedError(format!(
                    "{} is not supported on this database backend.",
                    if fu.no_key { "FOR NO KEY UPDATE" } else { "FOR UPDATE OF" }
                )));
            }
            w.push(if fu.no_key { " FOR NO KEY UPDATE" } else { " FOR UPDATE" });
            for (i, rel) in fu.of.iter().enumerate() {
                w.push(if i == 0 { " OF " } else { ", " });
                if rel == "self" {
                    w.ident(&scope.qual.clone());
                    continue;
                }
                // The table the relation joins (the join `select_related` made, reused).
                let (mut m, mut qual) = (meta, scope.qual.clone());
                for part in rel.split("__") {
                    let Some(h) = hop(m, part) else {
                        return Err(Error::field_error(format!(
                            "Invalid field name(s) given in select_for_update(of=(...)): {rel}. Only relational fields followed in the query are allowed."
                        )));
                    };
                    qual = scope.apply_hop(&qual, h);
                    m = h.target();
                }
                w.ident(&qual);
            }
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
    if wrap_exists {
        w.limit_offset(Some(1), 0);
    }
    Ok((related, joined))
}

/// Does `aggregate()` over `q` need the query as a subquery (Django's `get_aggregation`)? A
/// slice, `DISTINCT` or an aggregate annotation decides which rows (or groups) there are, so
/// the aggregates must run over those rows, not over the joined table (no double counting).
pub(crate) fn aggregate_needs_subquery(q: &Query) -> bool {
    q.limit.is_some() || q.offset > 0 || q.distinct || q.annotations.iter().any(|(_, e)| e.contains_aggregate())
}

/// `SELECT AGG(subquery.x) AS name, … FROM (<q>) subquery`: each aggregate's argument is
/// selected by the inner query (as an annotation `__aggN`) and aggregated outside.
pub(crate) fn compile_aggregate_over_subquery(
    meta: &'static ModelMeta,
    d: Dialect,
    q: &Query,
    aggregates: &[(String, crate::expressions::Aggregate)],
) -> Result<Statement> {
    let mut inner = q.clone();
    if inner.limit.is_none() && inner.offset == 0 {
        // The order of the rows does not change an aggregate.
        inner.order = Some(Vec::new());
    }
    let select = if inner.values.is_some() { Select::Values } else { Select::Model };
    let mut aliases = Vec::new();
    for (i, (name, agg)) in aggregates.iter().enumerate() {
        if agg.filter.is_some() {
            return Err(Error::field_error(format!(
                "the aggregate `{name}` has a filter: over a sliced, distinct or aggregated QuerySet, annotate \
                 the filtered value first and aggregate that"
            )));
        }
        aliases.push(agg.arg.as_ref().map(|arg| {
            let alias = format!("__agg{i}");
            inner.annotations.push((alias.clone(), arg.clone()));
            match select {
                Select::Values => alias,
                _ => format!("a{}_{alias}", inner.annotations.len() - 1),
            }
        }));
    }
    let mut w = Writer::new(d);
    w.push("SELECT ");
    for (i, ((name, agg), alias)) in aggregates.iter().zip(&aliases).enumerate() {
        if i > 0 {
            w.push(", ");
        }
        if agg.default.is_some() {
            w.push("COALESCE(");
        }
        w.push(agg_name(agg.func));
        w.push("(");
        if agg.distinct {
            w.push("DISTINCT ");
        }
        match alias {
            Some(a) => w.column("subquery", a),
            None => w.push("*"),
        }
        w.push(")");
        if let Some(v) = &agg.default {
            w.push(", ");
            w.param(v.clone());
            w.push(")");
        }
        w.push(" AS ");
        w.ident(name);
    }
    w.push(" FROM (");
    render_select(&mut w, meta, &inner, select, None)?;
    w.push(") subquery");
    Ok(Statement { sql: w.sql.into(), params: w.params, related: Default::default(), joined: None })
}

/// Do these filters need joins (so a DELETE/UPDATE must select its keys in a subquery)?
pub(super) fn filters_need_joins(meta: &'static ModelMeta, q: &Query) -> Result<bool> {
    let mut w = Writer::new(Dialect::Sqlite);
    let scope = Scope::root(meta, &q.annotations);
    let nodes: Vec<(usize, &Node)> = q.filters.iter().enumerate().collect();
    w.conditions(&scope, " WHERE ", &nodes)?;
    Ok(!scope.joins().is_empty())
}

/// `WHERE` for a DELETE/UPDATE: the filters directly, or `pk IN (SELECT … JOIN …)` when they
/// cross relations (the derived table keeps MySQL from refusing a subquery on the same table).
pub(super) fn write_key_filter(w: &mut Writer, meta: &'static ModelMeta, q: &Query) -> Result<()> {
    let nodes: Vec<(usize, &Node)> = q.filters.iter().enumerate().collect();
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

/// ` WHERE <filters>` (empty without filters) over the model's own table, its columns
/// qualified by the table's name, with its parameters: when the filters read nothing but that
/// table (no join, no subquery, no annotation); `None` otherwise. The deletion collector
/// selects the matched rows with it in the DELETEs of the rows that point at them, which run
/// before the matched rows' own DELETE ([`compile_delete`], the same conditions): filters
/// that read another table could match other rows once those DELETEs have run.
pub(crate) fn compile_own_filter(
    meta: &'static ModelMeta,
    d: Dialect,
    q: &Query,
) -> Result<Option<(String, Vec<Value>)>> {
    if !q.annotations.is_empty() || q.filters.iter().any(node_reads_subquery) {
        return Ok(None);
    }
    // Written once: a filter that needs a join is known by the joins its scope gathered.
    let mut w = Writer::new(d);
    let scope = Scope::root(meta, &q.annotations);
    let nodes: Vec<(usize, &Node)> = q.filters.iter().enumerate().collect();
    w.conditions(&scope, " WHERE ", &nodes)?;
    if !scope.joins().is_empty() {
        return Ok(None);
    }
    Ok(Some((w.sql, w.params)))
}

/// Does the condition hold a subquery (or an aggregate), anywhere?
fn node_reads_subquery(node: &Node) -> bool {
    match node {
        Node::And(v) | Node::Or(v) => v.iter().any(node_reads_subquery),
        Node::Not(n) => node_reads_subquery(n),
        Node::Leaf(l) => match &l.operand {
            Operand::Subquery(_) => true,
            Operand::Expr(e) => expr_reads_subquery(e),
            Operand::Value(_) | Operand::List(_) | Operand::Pair(..) => false,
        },
        Node::Expr(e) => expr_reads_subquery(e),
        Node::Const(_) => false,
    }
}

/// Does the expression hold a subquery (or an aggregate), anywhere?
fn expr_reads_subquery(e: &Expr) -> bool {
    match e {
        Expr::Subquery(_) | Expr::Exists(_) | Expr::Aggregate(_) => true,
        Expr::Binary(a, _, b) => expr_reads_subquery(a) || expr_reads_subquery(b),
        Expr::Func(_, args) => args.iter().any(expr_reads_subquery),
        Expr::Case(c) => {
            c.exprs().any(expr_reads_subquery) || c.whens.iter().any(|w| node_reads_subquery(&w.condition))
        }
        // A window reads the other rows of its partition.
        Expr::Window(_) => true,
        Expr::Field(_) | Expr::OuterRef(_) | Expr::Value(_) | Expr::Selected(_) => false,
    }
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
    if let Some((f, _)) = assignments.iter().find(|(_, e)| e.contains_window()) {
        return Err(Error::field_error(format!(
            "Window expressions are not allowed in this query ({}=<Window>).",
            f.name
        )));
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
        return Err(Error::field_error("Joined field references are not permitted in this query: an update() value cannot reach across relations; use a Subquery"));
    }
    write_key_filter(&mut w, meta, q)?;
    Ok(Statement { sql: w.sql.into(), params: w.params, related: Default::default(), joined: None })
}

/// The fields `defer()` and `only()` leave unloaded: each named one must be a
/// [`Deferred`](crate::Deferred) field (a path through `select_related` relations reaches a
/// related model's); `only()` leaves out every `Deferred` field of the model it does not name.
fn deferred_fields(meta: &'static ModelMeta, q: &Query) -> Result<Vec<&'static FieldMeta>> {
    let field_at = |path: &str| -> Result<&'static FieldMeta> {
        let parts: Vec<&str> = path.split("__").collect();
        let mut m = meta;
        for part in &parts[..parts.len() - 1] {
            m = relation_target(m, part).ok_or_else(|| {
                Error::field_error(format!("{} has no relation named '{part}' (in defer/only '{path}')", m.label()))
            })?;
        }
        let name = parts[parts.len() - 1];
        let scope = Scope::root(m, &[]);
        scope
            .model_columns(m, m.table)
            .into_iter()
            .map(|(_, f)| f)
            .find(|f| f.name == name)
            .ok_or_else(|| Error::field_error(format!("{} has no field named '{name}'", m.label())))
    };
    let mut out: Vec<&'static FieldMeta> = Vec::new();
    for path in &q.defer {
        let f = field_at(path)?;
        if !f.deferrable {
            return Err(Error::field_error(format!(
                "'{path}' cannot be deferred: only Deferred<T> fields can be left unloaded (declare `{}` as Deferred<…>)",
                f.name
            )));
        }
        out.push(f);
    }
    if let Some(only) = &q.only {
        let kept: Vec<&'static FieldMeta> = only.iter().map(|p| field_at(p)).collect::<Result<_>>()?;
        let scope = Scope::root(meta, &[]);
        for (_, f) in scope.model_columns(meta, meta.table) {
            if f.deferrable && !kept.iter().any(|k| std::ptr::eq(*k, f)) && !out.iter().any(|d| std::ptr::eq(*d, f)) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

/// Does a condition compare a window (directly or through an annotation)? Those are evaluated
/// after the window, in an outer query (see [`render_qualified`]).
fn node_has_window(node: &Node, annotations: &[(String, Expr)]) -> bool {
    match node {
        Node::And(v) | Node::Or(v) => v.iter().any(|n| node_has_window(n, annotations)),
        Node::Not(n) => node_has_window(n, annotations),
        Node::Expr(e) => e.refs_window(annotations),
        Node::Leaf(l) => {
            Expr::Field(l.path.clone()).refs_window(annotations)
                || matches!(&l.operand, Operand::Expr(e) if e.refs_window(annotations))
        }
        Node::Const(_) => false,
    }
}

/// A query filtering on a window annotation, as Django 4.2+ compiles it (its `QUALIFY`
/// emulation): the query without those filters, ordering and slice, as a derived table
/// `qualify`, then the window filters, the ordering and the slice outside it, reading the
/// annotations as the derived table's columns.
fn render_qualified(
    w: &mut Writer,
    meta: &'static ModelMeta,
    q: &Query,
    select: Select,
    left_join: Option<&str>,
) -> Result<(Vec<crate::model::related::RelatedNode>, Option<usize>)> {
    if left_join.is_some() || !q.select_related.is_empty() || q.for_update.is_some() {
        return Err(Error::NotSupportedError(
            "filtering on a window function together with select_related, a left join or select_for_update".into(),
        ));
    }
    let (outer_filters, inner_filters): (Numbered<'_>, Numbered<'_>) =
        q.filters.iter().enumerate().partition(|(_, n)| node_has_window(n, &q.annotations));
    let kept = |before: usize| inner_filters.iter().filter(|(i, _)| *i < before).count();
    let mut inner = Query {
        filters: inner_filters.iter().map(|(_, n)| (*n).clone()).collect(),
        order: Some(Vec::new()),
        limit: None,
        offset: 0,
        distinct: false,
        annotation_at: q.annotation_at.iter().map(|&at| kept(at)).collect(),
        ..q.clone()
    };
    let values = select == Select::Values || (q.values.is_some() && matches!(select, Select::Count | Select::One));
    let wanted = if values { values_names(meta, q) } else { Vec::new() };
    // values() ordered by fields it does not select: the derived table selects them too, and
    // the outer query selects the wanted columns only.
    let mut extra = false;
    if let (Select::Values, Some(list), Some(order)) = (select, &mut inner.values, &q.order) {
        for o in order {
            let plain = o.expr.is_none() && !o.is_random() && !o.path.contains("__");
            if plain && !wanted.contains(&o.path) && !q.annotations.iter().any(|(a, _)| *a == o.path) {
                list.push(o.path.clone());
                extra = true;
            }
        }
    }
    // The annotations, read off the derived table: `a{i}_{name}` after a model's columns, the
    // name itself after values() (only the selected ones are columns there).
    let names = if values { values_names(meta, &inner) } else { Vec::new() };
    let selected: Vec<(String, Expr)> = q
        .annotations
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| !values || names.contains(n))
        .map(|(i, (n, _))| (n.clone(), Expr::Selected(if values { n.clone() } else { format!("a{i}_{n}") })))
        .collect();
    match select {
        Select::Count => w.push("SELECT COUNT(*) FROM ("),
        Select::One => w.push("SELECT 1 FROM ("),
        _ => {
            w.push(if q.distinct { "SELECT DISTINCT " } else { "SELECT " });
            if extra {
                for (i, n) in wanted.iter().enumerate() {
                    if i > 0 {
                        w.push(", ");
                    }
                    w.column("qualify", n);
                }
                w.push(" FROM (");
            } else {
                w.push("* FROM (");
            }
        }
    }
    render_select(w, meta, &inner, if values { Select::Values } else { Select::Model }, None)?;
    w.push(") ");
    w.ident("qualify");
    let outer = Scope::new(meta, "qualify".to_owned(), None, &selected);
    w.conditions(&outer, " WHERE ", &outer_filters)?;
    match select {
        Select::Model | Select::Values => {
            let default: Vec<OrderBy>;
            let order = match &q.order {
                Some(o) => o.as_slice(),
                None => {
                    default = meta.ordering.iter().map(|s| OrderBy::from(*s)).collect();
                    &default
                }
            };
            w.order_by(&outer, order)?;
            w.limit_offset(q.limit, q.offset);
        }
        Select::One => w.limit_offset(Some(1), 0),
        Select::Count => {}
    }
    if !outer.joins().is_empty() {
        return Err(Error::NotSupportedError(
            "a filter or ordering on a window function cannot also reach across a relation".into(),
        ));
    }
    Ok((Vec::new(), None))
}

/// The plain (not aggregate) field paths a HAVING condition compares.
fn having_columns(node: &Node, annotations: &[(String, Expr)], add: &mut impl FnMut(Expr)) {
    match node {
        Node::And(v) | Node::Or(v) => v.iter().for_each(|n| having_columns(n, annotations, add)),
        Node::Not(n) => having_columns(n, annotations, add),
        Node::Leaf(l) => {
            let e = Expr::Field(l.path.clone());
            if !refs_aggregate(&e, annotations) {
                add(e);
            }
        }
        Node::Expr(_) | Node::Const(_) => {}
    }
}

/// An expression as Django prints one in messages (`Count(F(articles))`).
fn describe(e: &Expr) -> String {
    match e {
        Expr::Field(p) => format!("F({})", p.join("__")),
        Expr::Aggregate(a) => {
            let name = agg_name(a.func);
            let arg = a.arg.as_ref().map_or_else(|| "*".to_owned(), describe);
            format!("{name}({arg})")
        }
        Expr::Value(v) => format!("Value({v:?})"),
        Expr::Binary(a, op, b) => format!("{} {op:?} {}", describe(a), describe(b)),
        other => format!("{other:?}"),
    }
}

/// Which `values()` columns hold decimals (a decimal field, or `Abs`, `Sum`, `Min`, `Max`,
/// `Avg` or arithmetic over one): Django's `output_field`, for backends whose expressions lose
/// the decimal type (SQLite computes them as REAL).
pub(crate) fn decimal_columns(meta: &'static ModelMeta, q: &Query) -> Vec<bool> {
    let scope = Scope::root(meta, &q.annotations);
    fn decimal(scope: &Scope<'_>, e: &Expr, depth: usize) -> bool {
        if depth > 8 {
            return false;
        }
        match e {
            Expr::Field(p) => match scope.resolve(p) {
                Ok(Target::Column { field, transform: None, .. }) => matches!(field.kind, ColumnKind::Decimal { .. }),
                Ok(Target::Annotation(inner)) => decimal(scope, inner, depth + 1),
                _ => false,
            },
            Expr::Value(v) => matches!(v, Value::Decimal(_)),
            Expr::Func(Func::Cast(to), _) => matches!(to, crate::expressions::CastTo::Decimal { .. }),
            Expr::Func(
                Func::Abs
                | Func::Ceil
                | Func::Floor
                | Func::Round
                | Func::Mod
                | Func::Coalesce
                | Func::Greatest
                | Func::Least
                | Func::NullIf
                | Func::Lag(_)
                | Func::Lead(_)
                | Func::FirstValue
                | Func::LastValue
                | Func::NthValue(_),
                args,
            ) => args.first().is_some_and(|a| decimal(scope, a, depth + 1)),
            Expr::Case(c) => c.exprs().any(|e| decimal(scope, e, depth + 1)),
            Expr::Window(w) => decimal(scope, &w.expression, depth + 1),
            Expr::Aggregate(a) => {
                matches!(a.func, AggFunc::Sum | AggFunc::Min | AggFunc::Max | AggFunc::Avg)
                    && a.arg.as_ref().is_some_and(|x| decimal(scope, x, depth + 1))
            }
            Expr::Binary(a, _, b) => decimal(scope, a, depth + 1) || decimal(scope, b, depth + 1),
            _ => false,
        }
    }
    values_columns(meta, q).iter().map(|(_, e)| decimal(&scope, e, 0)).collect()
}
