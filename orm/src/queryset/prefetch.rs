//! `select_related` (joins in the same query) and `prefetch_related` (one extra query per
//! level, `IN` lists split at the backend's parameter limit).

use crate::error::{Error, Result};
use crate::expressions::q::{Leaf, Lookup, Node, Operand, Q};
use crate::model::key::{key_map, FastSet, Key, KeyMap};
use crate::model::registry::{reverse_relation_by_accessor, ReverseRelation};
use crate::model::related::{ForwardSlot, ManySlot};
use crate::model::{Model, Prefetch};
use crate::queryset::{DefaultManager, QuerySet};
use orm_backends::{Executor, Value};
use std::any::Any;
use std::sync::Arc;

impl Prefetch {
    /// Prefetch `path`, loading its last step with `queryset`.
    pub fn with<T: Model>(path: &str, queryset: QuerySet<T>) -> Self {
        Prefetch { path: path.to_owned(), queryset: Some(Arc::new(queryset)), to_attr: None }
    }
}

/// Runs the prefetches `specs` on `objs` (the model's part of `prefetch_related`).
pub fn prefetch_path<M: Model, E: Executor + ?Sized>(objs: &mut [M], specs: &[Prefetch], ex: &E) -> Result<()> {
    if objs.is_empty() {
        return Ok(());
    }
    // `to_attr` lookups at their last step: into the named field, apart from the others.
    for s in specs {
        if let (Some(attr), (first, None)) = (&s.to_attr, s.split()) {
            if !M::prefetch_field_as(objs, attr, first, s.queryset.as_deref(), ex)? {
                return Err(Error::field_error(format!(
                    "to_attr `{attr}` of prefetch_related(`{first}`) is not a ManyToMany or Reverse field of {}",
                    M::meta().label()
                )));
            }
        }
    }
    let mut firsts: Vec<&str> = Vec::new();
    for s in specs.iter().filter(|s| s.to_attr.is_none() || s.split().1.is_some()) {
        let (first, _) = s.split();
        if !firsts.contains(&first) {
            firsts.push(first);
        }
    }
    for first in firsts {
        let mut deeper = Vec::new();
        let mut own_qs = None;
        for s in specs.iter().filter(|s| s.to_attr.is_none() || s.split().1.is_some()) {
            let (f, rest) = s.split();
            if f != first {
                continue;
            }
            match rest {
                Some(r) => deeper.push(r),
                None => own_qs = own_qs.or_else(|| s.queryset.clone()),
            }
        }
        if !M::prefetch_field(objs, first, &deeper, own_qs.as_deref(), ex)? {
            // Django's words, with the choices (a reverse relation is prefetched into a
            // `Reverse<…>` field named after it).
            let choices = crate::model::registry::relation_names(M::meta(), false);
            return Err(Error::field_error(format!(
                "Cannot find '{first}' on {} object, '{first}' is an invalid parameter to prefetch_related(). \
                 Choices are: {}",
                M::meta().name,
                choices.join(", ")
            )));
        }
    }
    Ok(())
}

fn base_queryset<T: DefaultManager>(custom: Option<&(dyn Any + Send + Sync)>) -> Result<QuerySet<T>> {
    match custom {
        None => Ok(T::objects()),
        Some(any) => any.downcast_ref::<QuerySet<T>>().cloned().ok_or_else(|| {
            Error::field_error(format!("a Prefetch queryset must be a QuerySet of {}", T::meta().label()))
        }),
    }
}

fn in_leaf(path: &str, values: Vec<Value>) -> Node {
    Node::Leaf(Leaf { path: vec![path.to_owned().into()], lookup: Lookup::In, operand: Operand::List(values) })
}

/// Loads `T`s whose `field` is in `keys`, batched within the parameter limit.
fn load_in<T: Model, E: Executor + ?Sized>(
    base: &QuerySet<T>,
    field: &str,
    keys: Vec<Value>,
    ex: &E,
) -> Result<Vec<T>> {
    let batch = ex.dialect().features().max_query_params.saturating_sub(64).clamp(1, 10_000);
    if keys.len() <= batch {
        // One statement: its list is the result (no copy into another).
        return base.clone().filter(Q::from_node(in_leaf(field, keys))).fetch(ex);
    }
    let mut out = Vec::new();
    for chunk in keys.chunks(batch) {
        out.extend(base.clone().filter(Q::from_node(in_leaf(field, chunk.to_vec()))).fetch(ex)?);
    }
    Ok(out)
}

fn distinct_keys(values: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut seen = FastSet::with_capacity_and_hasher(values.size_hint().0, Default::default());
    values.filter(|v| !v.is_null()).filter(|v| seen.insert(Key::of(v))).collect()
}

/// Hands each owner its list from `lists` (by the owner's key; an empty list when it has none).
fn assign<M, T>(
    objs: &mut [M],
    owner_keys: Vec<Value>,
    mut lists: KeyMap<Vec<T>>,
    mut set: impl FnMut(&mut M, Vec<T>),
) {
    for (o, key) in objs.iter_mut().zip(owner_keys) {
        set(o, lists.remove(&Key::from_value(key)).unwrap_or_default());
    }
}

/// Prefetches a forward foreign key / one-to-one: one query for all distinct keys.
pub fn forward<M, S, E>(
    objs: &mut [M],
    slot: impl Fn(&mut M) -> &mut S,
    to_field: &str,
    deeper: &[Prefetch],
    custom: Option<&(dyn Any + Send + Sync)>,
    ex: &E,
) -> Result<()>
where
    M: Model,
    S: ForwardSlot,
    S::Target: DefaultManager,
    E: Executor + ?Sized,
{
    // Django reuses what select_related already loaded: with the default queryset and nothing
    // deeper to prefetch on them, only the objects not loaded yet are read (often none).
    let reuse = custom.is_none() && deeper.is_empty();
    let keys = distinct_keys(objs.iter_mut().filter_map(|o| {
        let s = slot(o);
        (!(reuse && s.is_loaded())).then(|| s.key_value())
    }));
    if keys.is_empty() {
        return Ok(());
    }
    let mut targets: Vec<S::Target> = load_in(&base_queryset(custom)?, to_field, keys, ex)?;
    prefetch_path(&mut targets, deeper, ex)?;
    let tmeta = S::Target::meta();
    let key_index = if to_field == "pk" { tmeta.pk } else { tmeta.field_index(to_field).unwrap_or(tmeta.pk) };
    let by_key: KeyMap<Arc<S::Target>> =
        targets.into_iter().map(|t| (Key::from_value(t.field_value(key_index)), Arc::new(t))).collect();
    for o in objs.iter_mut() {
        let s = slot(o);
        if let Some(t) = by_key.get(&Key::from_value(s.key_value())) {
            s.set(t.clone());
        }
    }
    Ok(())
}

/// Prefetches a many-to-many field declared on `M`, or a reverse relation called `name`
/// (foreign key or many-to-many pointing at `M`): one query (a many-to-many joins through its
/// link table; two queries only for a custom queryset with filters of its own).
pub fn many<M, S, E>(
    objs: &mut [M],
    slot: impl Fn(&mut M) -> &mut S,
    name: &str,
    deeper: &[Prefetch],
    custom: Option<&(dyn Any + Send + Sync)>,
    ex: &E,
) -> Result<()>
where
    M: Model,
    S: ManySlot,
    S::Target: DefaultManager,
    E: Executor + ?Sized,
{
    let meta = M::meta();
    let owner_keys: Vec<Value> = objs.iter().map(|o| o.pk_value()).collect();
    let keys = distinct_keys(owner_keys.iter().cloned());
    let base = base_queryset::<S::Target>(custom)?;
    let forward_m2m = meta.many_to_many.iter().find(|m| m.name == name);
    let reverse = if forward_m2m.is_none() { reverse_relation_by_accessor(meta, name) } else { None };
    match (forward_m2m, reverse) {
        (None, Some(ReverseRelation::ForeignKey { field, .. })) => {
            // Reverse foreign key: the related rows carry the owner's key, and each belongs
            // to that owner alone, so they move into its list.
            let mut related: Vec<S::Target> = load_in(&base, field.name, keys, ex)?;
            prefetch_path(&mut related, deeper, ex)?;
            let fk_index = S::Target::meta().field_index(field.name).expect("the reverse relation's field exists");
            let mut owned: KeyMap<Vec<S::Target>> = key_map(owner_keys.len());
            for r in related {
                owned.entry(Key::from_value(r.field_value(fk_index))).or_default().push(r);
            }
            assign(objs, owner_keys, owned, |o, list| slot(o).set_owned(list));
        }
        (Some(mm), _) | (None, Some(ReverseRelation::ManyToMany { field: mm, .. })) => {
            // One query per level, as Django: the targets joined through the link table, each
            // row carrying its owner's key (`filter(back__in=keys).annotate(owner=F(back))`,
            // the annotation reusing the filter's join). A custom queryset with filters,
            // slices or prefetches of its own keeps the two-query form below.
            let back: String = match forward_m2m {
                Some(mm) => crate::model::registry::m2m_back_name(mm)
                    .map(str::to_owned)
                    .unwrap_or_else(|| ReverseRelation::ManyToMany { model: meta, field: mm }.name()),
                None => mm.name.to_owned(),
            };
            if base.query.filters.is_empty() && !base.is_sliced() && base.prefetch.is_empty() {
                let batch = ex.dialect().features().max_query_params.saturating_sub(64).clamp(1, 10_000);
                let mut owners: Vec<Value> = Vec::new();
                let mut targets: Vec<S::Target> = Vec::new();
                for chunk in keys.chunks(batch) {
                    let qs = base
                        .clone()
                        .filter(Q::from_node(in_leaf(&back, chunk.to_vec())))
                        .annotate("__prefetch_owner", crate::expressions::F::col(&back));
                    for r in qs.fetch_annotated(ex)? {
                        owners.push(r.annotations.values().last().cloned().unwrap_or(Value::Null));
                        targets.push(r.object);
                    }
                }
                prefetch_path(&mut targets, deeper, ex)?;
                let mut grouped: KeyMap<Vec<Arc<S::Target>>> = key_map(owner_keys.len());
                for (owner, t) in owners.into_iter().zip(targets) {
                    grouped.entry(Key::from_value(owner)).or_default().push(Arc::new(t));
                }
                assign(objs, owner_keys, grouped, |o, list| slot(o).set(list));
                return Ok(());
            }
            let (table, source_col, target_col) = crate::sql::m2m_columns(mm);
            let (near, far) = if forward_m2m.is_some() { (source_col, target_col) } else { (target_col, source_col) };
            let d = ex.dialect();
            let batch = d.features().max_query_params.saturating_sub(64).clamp(1, 10_000);
            let mut pairs: Vec<(Value, Value)> = Vec::new();
            for chunk in keys.chunks(batch) {
                let mut sql = String::from("SELECT ");
                d.write_ident(&mut sql, near);
                sql.push_str(", ");
                d.write_ident(&mut sql, far);
                sql.push_str(" FROM ");
                d.write_ident(&mut sql, table);
                sql.push_str(" WHERE ");
                d.write_ident(&mut sql, near);
                sql.push_str(" IN (");
                d.write_placeholder_list(&mut sql, 1, chunk.len());
                sql.push(')');
                let rows = ex.with_connection(|c| c.query(&sql, chunk))?;
                pairs.extend(rows.into_iter().map(|r| {
                    let mut v = r.into_values();
                    let far = v.pop().unwrap_or(Value::Null);
                    let near = v.pop().unwrap_or(Value::Null);
                    (near, far)
                }));
            }
            let target_keys = distinct_keys(pairs.iter().map(|(_, f)| f.clone()));
            let mut targets: Vec<S::Target> = load_in(&base, "pk", target_keys, ex)?;
            prefetch_path(&mut targets, deeper, ex)?;
            let tpk = S::Target::meta().pk;
            // Each target with its rank in the target QuerySet's order, which each owner's
            // list keeps.
            let by_key: KeyMap<(usize, Arc<S::Target>)> = targets
                .into_iter()
                .enumerate()
                .map(|(rank, t)| (Key::from_value(t.field_value(tpk)), (rank, Arc::new(t))))
                .collect();
            type Ranked<T> = Vec<(usize, Arc<T>)>;
            let mut per_owner: KeyMap<Ranked<S::Target>> = key_map(owner_keys.len());
            for (near, far) in pairs {
                if let Some((rank, t)) = by_key.get(&Key::from_value(far)) {
                    per_owner.entry(Key::from_value(near)).or_default().push((*rank, t.clone()));
                }
            }
            let grouped: KeyMap<Vec<Arc<S::Target>>> = per_owner
                .into_iter()
                .map(|(k, mut v)| {
                    v.sort_by_key(|(rank, _)| *rank);
                    (k, v.into_iter().map(|(_, t)| t).collect())
                })
                .collect();
            assign(objs, owner_keys, grouped, |o, list| slot(o).set(list));
        }
        _ => {
            return Err(Error::field_error(format!(
                "`{name}` is not a many-to-many or reverse relation of {}",
                meta.label()
            )))
        }
    }
    Ok(())
}
