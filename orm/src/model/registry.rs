//! Every model in the program, collected at link time: `#[derive(Model)]` submits each
//! concrete model here. Reverse relations (`author.posts`, `"posts__title"` lookups) are found
//! by scanning it, so a model never has to name the models that point at it.

use super::meta::{FieldMeta, ManyToManyMeta, ModelMeta, RelationKind};
use std::sync::OnceLock;

/// One registered model (submitted by the derive).
pub struct ModelEntry {
    /// The model's metadata.
    pub meta: fn() -> &'static ModelMeta,
}

inventory::collect!(ModelEntry);

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
    /// The name used in lookups and accessors: `related_name`, else the model's name in
    /// lower case (Django's default query name; its default accessor adds `_set`).
    pub fn name(&self) -> String {
        let (model, related) = match self {
            ReverseRelation::ForeignKey { model, field } => (model, field.relation.and_then(|r| r.related_name)),
            ReverseRelation::ManyToMany { model, field } => (model, field.related_name),
        };
        match related {
            Some(n) => n.to_owned(),
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

/// Every relation pointing at `target` from the registered models.
pub fn reverse_relations(target: &'static ModelMeta) -> Vec<ReverseRelation> {
    let target = target.concrete();
    let mut out = Vec::new();
    for m in all().iter().filter(|m| m.has_table()) {
        for f in m.fields {
            if let Some(rel) = f.relation {
                if std::ptr::eq((rel.target)(), target)
                    || (rel.target)().table == target.table && (rel.target)().name == target.name
                {
                    out.push(ReverseRelation::ForeignKey { model: m, field: f });
                }
            }
        }
        for mm in m.many_to_many {
            if std::ptr::eq((mm.target)(), target) {
                out.push(ReverseRelation::ManyToMany { model: m, field: mm });
            }
        }
    }
    out
}

/// The reverse relation of `target` called `name`.
pub fn reverse_relation(target: &'static ModelMeta, name: &str) -> Option<ReverseRelation> {
    reverse_relations(target).into_iter().find(|r| {
        r.name() == name
            || r.name().strip_suffix("_set").is_some_and(|n| n == name)
            || format!("{}_set", r.name()) == name
    })
}
