//! Path resolution and joins: a [`Scope`] resolves `author__country__name` against the
//! metadata, one hop at a time, and records the join each hop needs (INNER, or LEFT OUTER
//! where a nullable or multi-valued hop could lose rows), reusing the join of an earlier
//! filter in the same `filter()` call as Django does.

use super::*;

/// Where a query's names are resolved: its model, its table qualifier, its annotations, and
/// the enclosing query (for `OuterRef`).
pub(crate) struct Scope<'a> {
    pub meta: &'static ModelMeta,
    pub qual: String,
    pub parent: Option<&'a Scope<'a>>,
    pub annotations: &'a [(String, Expr)],
    pub(super) joins: RefCell<Vec<Join>>,
    /// The top-level filter being rendered: joins over multi-valued relations are shared
    /// within one `filter()` call and separate between calls (Django's rule).
    pub(super) group: Cell<Option<usize>>,
    /// How many filters preceded each annotation (`Query::annotation_at`).
    pub(super) annotation_at: RefCell<Vec<usize>>,
    /// While an annotation renders: it may reuse the multi-valued joins of the filters
    /// numbered below this (and its own, ungrouped ones).
    pub(super) reuse_below: Cell<Option<usize>>,
}

/// One JOIN: `{LEFT OUTER|INNER} JOIN table alias ON parent.parent_col = alias.col`.
#[derive(Clone, Debug)]
pub(crate) struct Join {
    pub(super) parent: String,
    pub(super) group: Option<usize>,
    pub alias: String,
    pub(super) table: &'static str,
    pub(super) left: bool,
    pub(super) parent_col: &'static str,
    pub(super) col: &'static str,
}

/// A resolved name.
pub(crate) enum Target<'a> {
    Column {
        qual: String,
        field: &'static FieldMeta,
        transform: Option<Transform>,
    },
    Annotation(&'a Expr),
    /// A key (or index) path into a JSON field (`data__owner__name`, `data__items__0`).
    JsonKey {
        qual: String,
        field: &'static FieldMeta,
        keys: Vec<String>,
    },
}

/// A step across a relation, for building joins and correlated subqueries.
#[derive(Clone, Copy)]
pub(super) enum Hop {
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
    pub(super) fn is_multi(&self) -> bool {
        match self {
            Hop::Forward { .. } => false,
            Hop::Reverse { multi, .. } => *multi,
            Hop::ManyToMany { .. } => true,
        }
    }

    pub(super) fn target(&self) -> &'static ModelMeta {
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

/// The relation step called `part` from `meta`, if it is one.
pub(super) fn hop(meta: &'static ModelMeta, part: &str) -> Option<Hop> {
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
            // Interned: a name the reverse-relation index does not list (a many-to-many to a
            // proxy) is leaked once, not once per query as it was.
            None => crate::model::related::leak_name(
                &crate::model::registry::ReverseRelation::ManyToMany { model: meta, field: mm }.name(),
            ),
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

/// Django's "Cannot resolve keyword 'x' into field. Choices are: …", the choices sorted:
/// fields and attnames, many-to-many and reverse relations, inherited fields, annotations.
pub(crate) fn field_error_unknown(meta: &'static ModelMeta, name: &str, annotations: &[(String, Expr)]) -> Error {
    let mut choices = crate::model::registry::query_names(meta);
    choices.extend(annotations.iter().map(|(n, _)| n.clone()));
    choices.sort();
    choices.dedup();
    Error::field_error(format!("Cannot resolve keyword '{name}' into field. Choices are: {}", choices.join(", ")))
}

pub(super) fn unsupported_lookup(meta: &ModelMeta, field: &str, rest: &[&str]) -> Error {
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
        Scope {
            meta,
            qual,
            parent,
            annotations,
            joins: RefCell::new(Vec::new()),
            group: Cell::new(None),
            annotation_at: RefCell::new(Vec::new()),
            reuse_below: Cell::new(None),
        }
    }

    /// Runs `f` rendering the annotation `name`: outside any filter's join group, reusing
    /// the joins of the filters made before the annotation.
    pub(super) fn in_annotation<R>(&self, name: &str, f: impl FnOnce() -> R) -> R {
        let index = self.annotations.iter().position(|(n, _)| n == name);
        let limit = index.and_then(|i| self.annotation_at.borrow().get(i).copied()).unwrap_or(usize::MAX);
        let group = self.group.replace(None);
        let reuse = self.reuse_below.replace(Some(limit));
        let r = f();
        self.group.set(group);
        self.reuse_below.set(reuse);
        r
    }

    /// The joins needed so far, in the order they were first needed.
    pub fn joins(&self) -> Vec<Join> {
        self.joins.borrow().clone()
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn join(
        &self,
        parent: &str,
        multi: bool,
        table: &'static str,
        left: bool,
        parent_col: &'static str,
        col: &'static str,
    ) -> String {
        let group = if multi { self.group.get() } else { None };
        let mut joins = self.joins.borrow_mut();
        // A join is the same join when it joins the same table on the same columns to the
        // same alias (Django's Join equality), whatever relation name reached it: a
        // many-to-many's hop through its `through` table and the reverse key to that table
        // share one join.
        let same = |j: &Join| j.parent == parent && j.table == table && j.parent_col == parent_col && j.col == col;
        match (multi, group, self.reuse_below.get()) {
            (true, None, Some(limit)) => {
                // An annotation: the join of an earlier filter on the same relation, if any.
                if let Some(j) = joins.iter_mut().find(|j| same(j) && j.group.is_some_and(|g| g < limit)) {
                    j.left |= left;
                    return j.alias.clone();
                }
            }
            (true, None, None) => {
                // Ordering and selected columns reuse any join of the relation, a filter's
                // included (Django's setup_joins with can_reuse=None).
                if let Some(j) = joins.iter_mut().find(|j| same(j)) {
                    j.left |= left;
                    return j.alias.clone();
                }
            }
            _ => {}
        }
        if let Some(j) = joins.iter_mut().find(|j| same(j) && j.group == group) {
            j.left |= left;
            return j.alias.clone();
        }
        // A join hanging off a LEFT join must be LEFT too, or it would drop the NULL rows.
        let parent_left = joins.iter().any(|j| j.alias == parent && j.left);
        let alias = format!("{}_j{}", self.qual, joins.len() + 1);
        joins.push(Join {
            parent: parent.to_owned(),
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
    pub(super) fn apply_hop(&self, qual: &str, h: Hop) -> String {
        match h {
            Hop::Forward { field, target, target_col } => {
                self.join(qual, false, target.table, field.null, field.column, target_col)
            }
            Hop::Reverse { model, field, local_col, multi } => {
                self.join(qual, multi, model.table, true, local_col, field.column)
            }
            Hop::ManyToMany { table, near_pk, near_col, far_col, target, .. } => {
                let through = self.join(qual, true, table, true, near_pk, near_col);
                self.join(&through, true, target.table, true, far_col, target.pk_field().column)
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
        // The model the current part is looked up on (before climbing to multi-table parents).
        let mut named = meta;
        let mut qual = self.qual.clone();
        let mut i = 0;
        // The model a part was first looked up on, once the lookup climbs to its parents.
        let mut climbed_from: Option<&'static ModelMeta> = None;
        loop {
            let part = path[i].as_ref();
            let rest: Vec<&str> = path[i + 1..].iter().map(AsRef::as_ref).collect();
            let field = if part == "pk" { Some(meta.pk_field()) } else { meta.field(part) };
            if let Some(field) = field {
                match rest.as_slice() {
                    [] => return Ok(Target::Column { qual, field, transform: None }),
                    [t] if field.relation.is_none()
                        && matches!(Transform::from_name(t), Some(Transform::Custom(_))) =>
                    {
                        let Some(tr @ Transform::Custom(id)) = Transform::from_name(t) else { unreachable!("matched") };
                        let def = crate::expressions::custom::transform_def(id).expect("a registered transform");
                        if !def.applies_to(field.kind) {
                            return Err(Error::field_error(format!(
                                "Unsupported lookup '{t}' for {:?} field `{}` of {}.",
                                field.kind,
                                field.name,
                                meta.label()
                            )));
                        }
                        return Ok(Target::Column { qual, field, transform: Some(tr) });
                    }
                    [t] if Transform::from_name(t).is_some() && field.relation.is_none() => {
                        if !is_temporal(field.kind) {
                            return Err(Error::field_error(format!(
                                "the `{t}` transform needs a date or datetime field; `{}` of {} is {:?}",
                                field.name,
                                meta.label(),
                                field.kind
                            )));
                        }
                        let tr = Transform::from_name(t).expect("checked above");
                        if field.kind == ColumnKind::Date && tr.is_time_part() {
                            // Django's words (a ValueError there).
                            return Err(Error::ValueError(format!(
                                "Cannot extract time component '{t}' from DateField '{}'.",
                                field.name
                            )));
                        }
                        if field.kind == ColumnKind::Time && !tr.is_time_part() {
                            return Err(Error::ValueError(format!(
                                "Cannot extract component '{t}' from TimeField '{}'.",
                                field.name
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
                    keys if field.kind == ColumnKind::Json && field.relation.is_none() => {
                        return Ok(Target::JsonKey {
                            qual,
                            field,
                            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
                        });
                    }
                    _ if field.relation.is_some() => {
                        let h = hop(meta, part).expect("a relation field is a hop");
                        climbed_from = None;
                        qual = self.apply_hop(&qual, h);
                        meta = h.target();
                        named = meta;
                        i += 1;
                        continue;
                    }
                    _ => return Err(unsupported_lookup(meta, field.name, &rest)),
                }
            }
            match hop(meta, part) {
                // Django: a parent's reverse parent links (its other children) are not
                // relations of a child; naming a sibling branch is an unknown field.
                Some(Hop::Reverse { field, .. })
                    if climbed_from.is_some() && field.relation.is_some_and(|r| r.parent_link) =>
                {
                    let origin = climbed_from.expect("checked");
                    return Err(field_error_unknown(origin, part, if i == 0 { self.annotations } else { &[] }));
                }
                Some(h) => {
                    climbed_from = None;
                    qual = self.apply_hop(&qual, h);
                    meta = h.target();
                    if rest.is_empty() {
                        return Ok(Target::Column { qual, field: meta.pk_field(), transform: None });
                    }
                    named = meta;
                    i += 1;
                }
                None => match meta.kind {
                    // A multi-table child reads its parent's fields through the parent link.
                    crate::model::meta::ModelKind::MultiTable { parent } => {
                        climbed_from.get_or_insert(meta);
                        qual = self.parent_join(&qual, meta, parent());
                        meta = parent();
                    }
                    _ => return Err(field_error_unknown(named, part, if i == 0 { self.annotations } else { &[] })),
                },
            }
        }
    }

    /// Joins a multi-table child at `qual` to its parent's row; returns the parent's qualifier.
    pub(super) fn parent_join(&self, qual: &str, child: &'static ModelMeta, parent: &'static ModelMeta) -> String {
        let ptr = child.pk_field().column;
        self.join(qual, false, parent.table, false, ptr, parent.pk_field().column)
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
    pub(super) fn first_multi_hop(&self, path: &[impl AsRef<str>]) -> Option<(usize, Hop, String)> {
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
pub(super) fn via_left_join(scope: &Scope<'_>, qual: &str) -> bool {
    scope.joins.borrow().iter().any(|j| j.alias == qual && j.left)
}

pub(super) fn is_temporal(k: ColumnKind) -> bool {
    matches!(k, ColumnKind::Date | ColumnKind::DateTime | ColumnKind::DateTimeTz | ColumnKind::Time)
}
