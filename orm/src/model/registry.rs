//! Every model in the program, collected at link time: `#[derive(Model)]` submits each
//! concrete model here. Reverse relations (`author.posts`, `"posts__title"` lookups) are found
//! by scanning it, so a model never has to name the models that point at it.

use super::key::FastMap as HashMap;
use super::meta::{FieldMeta, ManyToManyMeta, ModelMeta, RelationKind};
use std::sync::{OnceLock, PoisonError, RwLock};

/// One registered model (submitted by the derive).
pub struct ModelEntry {
    /// The model's metadata.
    pub meta: fn() -> &'static ModelMeta,
    /// Builds a boxed instance from a row in the model's `from_row` layout (signal receivers
    /// for every model get typed instances of rows the ORM reads for them: fixtures, cascades).
    pub decode: Decoder,
}

inventory::collect!(ModelEntry);

/// The instance builder of the registered model `meta` (by address).
pub fn decoder(meta: &'static ModelMeta) -> Option<Decoder> {
    static BY_META: OnceLock<HashMap<usize, Decoder>> = OnceLock::new();
    BY_META
        .get_or_init(|| {
            inventory::iter::<ModelEntry>
                .into_iter()
                .map(|e| ((e.meta)() as *const ModelMeta as usize, e.decode))
                .collect()
        })
        .get(&(meta as *const ModelMeta as usize))
        .copied()
}

/// Every registered model.
pub fn all() -> &'static [&'static ModelMeta] {
    static ALL: OnceLock<Vec<&'static ModelMeta>> = OnceLock::new();
    ALL.get_or_init(|| inventory::iter::<ModelEntry>.into_iter().map(|e| (e.meta)()).collect())
}

/// The model registered as `app.Model` (case-insensitive).
pub fn by_label(label: &str) -> Option<&'static ModelMeta> {
    all().iter().copied().find(|m| m.label().eq_ignore_ascii_case(label))
}

/// A relation seen from its target's side.
#[derive(Clone, Copy, Debug)]
pub enum ReverseRelation {
    /// A foreign key or one-to-one on `model` pointing here.
    ForeignKey {
        /// The model holding the key.
        model: &'static ModelMeta,
        /// The key field.
        field: &'static FieldMeta,
    },
    /// A many-to-many field on `model` pointing here.
    ManyToMany {
        /// The model declaring the field.
        model: &'static ModelMeta,
        /// The field.
        field: &'static ManyToManyMeta,
    },
}

impl ReverseRelation {
    /// The name used in lookups (Django's query name): `related_query_name`, else
    /// `related_name`, else the model's name in lower case.
    pub fn name(&self) -> String {
        let (model, related) = match self {
            ReverseRelation::ForeignKey { model, field } => {
                (model, field.relation.and_then(|r| r.related_query_name.or(r.related_name)))
            }
            ReverseRelation::ManyToMany { model, field } => (model, field.related_query_name.or(field.related_name)),
        };
        match related {
            Some(n) => n.to_owned(),
            None => model.name.to_ascii_lowercase(),
        }
    }

    /// The accessor's name (what `prefetch_related` and a `Reverse` field are called):
    /// `related_name`, else the model's name in lower case followed by `_set` (a reverse
    /// one-to-one's accessor has no `_set`, as in Django).
    pub fn accessor_name(&self) -> String {
        let (model, related) = match self {
            ReverseRelation::ForeignKey { model, field } => (model, field.relation.and_then(|r| r.related_name)),
            ReverseRelation::ManyToMany { model, field } => (model, field.related_name),
        };
        match related {
            Some(n) => n.to_owned(),
            None if self.is_multi() => format!("{}_set", model.name.to_ascii_lowercase()),
            None => model.name.to_ascii_lowercase(),
        }
    }

    /// Does each row here have many related rows (reverse foreign key, many-to-many)?
    pub fn is_multi(&self) -> bool {
        match self {
            ReverseRelation::ForeignKey { field, .. } => {
                field.relation.is_none_or(|r| r.kind == RelationKind::ForeignKey)
            }
            ReverseRelation::ManyToMany { .. } => true,
        }
    }
}

/// Every name a query on `meta` can start a path with, sorted as Django lists them in "Choices
/// are: …": fields (a relation also by its attname, `author_id`), many-to-many fields,
/// reverse relations, and a multi-table child's inherited fields.
pub fn query_names(meta: &'static ModelMeta) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut m = Some(meta.concrete());
    let mut own = true;
    while let Some(meta) = m {
        for f in meta.fields {
            out.push(f.name.to_owned());
            if f.relation.is_some() {
                out.push(ModelMeta::attname(f).into_owned());
            }
        }
        out.extend(meta.many_to_many.iter().map(|mm| mm.name.to_owned()));
        out.extend(reverse_relations(meta).iter().filter(|r| own || !is_parent_link(r)).map(ReverseRelation::name));
        m = meta.parent();
        own = false;
    }
    out.sort();
    out.dedup();
    out
}

/// Is `r` a multi-table child's link to its parent? Seen from a child, the parent's links to
/// its children (the child's own and its siblings') are no names of the child (Django).
fn is_parent_link(r: &ReverseRelation) -> bool {
    matches!(r, ReverseRelation::ForeignKey { field, .. } if field.relation.is_some_and(|rel| rel.parent_link))
}

/// The relation names of `meta` (forward keys, one-to-ones, many-to-many fields, reverse
/// relations, inherited ones too), sorted: the choices of `select_related` (`forward_only`)
/// and `prefetch_related`.
pub fn relation_names(meta: &'static ModelMeta, forward_only: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut m = Some(meta.concrete());
    let mut own = true;
    while let Some(meta) = m {
        out.extend(
            meta.fields.iter().filter(|f| f.relation.is_some_and(|r| !r.parent_link)).map(|f| f.name.to_owned()),
        );
        if !forward_only {
            out.extend(meta.many_to_many.iter().map(|mm| mm.name.to_owned()));
            out.extend(reverse_relations(meta).iter().filter(|r| own || !is_parent_link(r)).map(ReverseRelation::name));
        }
        m = meta.parent();
        own = false;
    }
    out.sort();
    out.dedup();
    out
}

/// Every relation pointing at `target` from the registered models.
pub fn reverse_relations(target: &'static ModelMeta) -> Vec<ReverseRelation> {
    reverse_index(target).iter().map(|(_, r)| *r).collect()
}

/// The reverse relation of `target` called `name`.
pub fn reverse_relation(target: &'static ModelMeta, name: &str) -> Option<ReverseRelation> {
    reverse_index(target)
        .iter()
        .find(|(n, _)| {
            n.as_str() == name
                || n.strip_suffix("_set").is_some_and(|n| n == name)
                || name.strip_suffix("_set").is_some_and(|base| base == n.as_str())
        })
        .map(|(_, r)| *r)
}

/// The reverse relation of `target` whose accessor is called `name` (what `prefetch_related`
/// names), else the one whose query name it is.
pub fn reverse_relation_by_accessor(target: &'static ModelMeta, name: &str) -> Option<ReverseRelation> {
    reverse_index(target)
        .iter()
        .find(|(_, r)| r.accessor_name() == name)
        .map(|(_, r)| *r)
        .or_else(|| reverse_relation(target, name))
}

/// The relations pointing at `target`, with their names, found once per model: the set of
/// registered models is fixed when [`all`] first runs, so queries that cross a reverse
/// relation do not scan every model each time.
fn reverse_index(target: &'static ModelMeta) -> &'static [(String, ReverseRelation)] {
    type Index = HashMap<usize, &'static [(String, ReverseRelation)]>;
    static INDEX: OnceLock<RwLock<Index>> = OnceLock::new();
    let target = target.concrete();
    let key = target as *const ModelMeta as usize;
    let index = INDEX.get_or_init(Default::default);
    if let Some(found) = index.read().unwrap_or_else(PoisonError::into_inner).get(&key) {
        return found;
    }
    let found: &'static [(String, ReverseRelation)] = Box::leak(
        scan_reverse_relations(target).into_iter().map(|r| (r.name(), r)).collect::<Vec<_>>().into_boxed_slice(),
    );
    index.write().unwrap_or_else(PoisonError::into_inner).entry(key).or_insert(found)
}

fn scan_reverse_relations(target: &'static ModelMeta) -> Vec<ReverseRelation> {
    let mut out = Vec::new();
    for m in all().iter().filter(|m| m.has_table()) {
        for f in m.fields {
            if let Some(rel) = f.relation {
                // A key to a proxy is a key to its concrete model (Django registers the
                // reverse relation there), so it is found from either.
                let to = (rel.target)().concrete();
                if std::ptr::eq(to, target) || to.table == target.table && to.name == target.name {
                    out.push(ReverseRelation::ForeignKey { model: m, field: f });
                }
            }
        }
        for mm in m.many_to_many {
            if std::ptr::eq((mm.target)().concrete(), target) {
                out.push(ReverseRelation::ManyToMany { model: m, field: mm });
            }
        }
    }
    out
}

/// The name leading back from the target of many-to-many field `mm` to its model, when the
/// model is registered.
pub(crate) fn m2m_back_name(mm: &'static ManyToManyMeta) -> Option<&'static str> {
    reverse_index((mm.target)())
        .iter()
        .find(|(_, r)| matches!(r, ReverseRelation::ManyToMany { field, .. } if std::ptr::eq(*field, mm)))
        .map(|(n, _)| n.as_str())
}

/// Builds an instance of a model from a row in its `from_row` layout (fixture loading builds
/// the instances of raw saves with it). Internal.
#[doc(hidden)]
pub type Decoder = fn(&dyn orm_backends::Row) -> crate::error::Result<Box<dyn std::any::Any + Send + Sync>>;

/// [`Decoder`] of `M` (the derive registers it with the model). Internal.
#[doc(hidden)]
pub fn decode_boxed<M: super::Model>(
    row: &dyn orm_backends::Row,
) -> crate::error::Result<Box<dyn std::any::Any + Send + Sync>> {
    Ok(Box::new(M::from_row(row, 0)?))
}
