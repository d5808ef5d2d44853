//! Custom lookups and transforms (Django's `Field.register_lookup` with a `Lookup` or
//! `Transform` subclass): registered once, by name, for some column kinds, then usable in
//! string paths (`"age__ne"`, `"delta__abs__gt"`) and typed handles
//! ([`Field::lookup`](crate::Field::lookup), [`Field::transform`](crate::Field::transform)).
//!
//! A definition is SQL with placeholders: `{lhs}` (the column, or what the transforms before
//! it made of it) and, for a lookup, `{rhs}` (the bound value or the expression). The text
//! is the program's own, like a Django `as_sql`; values only ever travel as parameters. A
//! definition can differ per dialect ([`CustomDef::sql_for`]) or exist on some only
//! ([`CustomDef::only`]); elsewhere it is Django's `NotSupportedError`.
//!
//! ```
//! use orm::expressions::custom::{register_lookup, register_transform, CustomDef};
//! use orm::ColumnKind;
//! register_lookup(CustomDef::new("ne", "{lhs} <> {rhs}")).unwrap();
//! register_transform(CustomDef::new("abs", "ABS({lhs})").on(&[ColumnKind::Integer, ColumnKind::BigInt])).unwrap();
//! let q = orm::Q::<()>::path("delta__abs__ne", 3).unwrap();
//! assert!(format!("{q:?}").contains("Custom"));
//! ```
//!
//! Registration is process-wide, as Django's is class-wide, and cannot be undone: a
//! statement shape once cached keeps its SQL. Registering a name again with the same
//! definition is allowed (idempotent); with another one it is refused.

use super::q::{Lookup, Transform};
use crate::fields::ColumnKind;
use orm_backends::Dialect;
use std::sync::RwLock;

/// A custom lookup's or transform's definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomDef {
    name: &'static str,
    default: Option<&'static str>,
    per_dialect: Vec<(Dialect, &'static str)>,
    only: Option<Vec<Dialect>>,
    kinds: Option<Vec<ColumnKind>>,
}

impl CustomDef {
    /// `name` rendered as `sql` on every dialect (`"{lhs} <> {rhs}"`, `"ABS({lhs})"`).
    pub fn new(name: &'static str, sql: &'static str) -> Self {
        CustomDef { name, default: Some(sql), per_dialect: Vec::new(), only: None, kinds: None }
    }

    /// Rendered as `sql` on `dialect` (Django's `as_postgresql`, `as_mysql`, `as_sqlite`).
    pub fn sql_for(mut self, dialect: Dialect, sql: &'static str) -> Self {
        self.per_dialect.retain(|(d, _)| *d != dialect);
        self.per_dialect.push((dialect, sql));
        self
    }

    /// Available on these dialects only (`unaccent` needs PostgreSQL's extension).
    pub fn only(mut self, dialects: &[Dialect]) -> Self {
        self.only = Some(dialects.to_vec());
        self
    }

    /// For fields of these column kinds only (Django registers on a field class); every
    /// kind when not called.
    pub fn on(mut self, kinds: &[ColumnKind]) -> Self {
        self.kinds = Some(kinds.to_vec());
        self
    }

    /// The name, as it appears in paths.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Does it apply to a field of `kind`?
    pub fn applies_to(&self, kind: ColumnKind) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&kind))
    }

    /// Its SQL on `d`, or `None` where it does not exist.
    pub fn sql(&self, d: Dialect) -> Option<&'static str> {
        if self.only.as_ref().is_some_and(|o| !o.contains(&d)) {
            return None;
        }
        self.per_dialect.iter().find(|(x, _)| *x == d).map(|(_, s)| *s).or(self.default)
    }

    fn check(&self, lookup: bool) -> crate::Result<()> {
        let bad = |m: String| Err(crate::Error::ImproperlyConfigured(m));
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return bad(format!("a custom lookup or transform name must be letters, digits and `_`: {:?}", self.name));
        }
        if Lookup::ALL.iter().any(|(n, _)| *n == self.name) || Transform::ALL.iter().any(|(n, _)| *n == self.name) {
            return bad(format!("`{}` is a built-in lookup or transform", self.name));
        }
        let sqls = self.default.into_iter().chain(self.per_dialect.iter().map(|(_, s)| *s));
        for s in sqls {
            let count = |p: &str| s.matches(p).count();
            if count("{lhs}") != 1 || (lookup && count("{rhs}") != 1) || (!lookup && count("{rhs}") != 0) {
                return bad(format!(
                    "the SQL of `{}` must hold {{lhs}} once{}: {s:?}",
                    self.name,
                    if lookup { " and {rhs} once" } else { " and no {rhs}" }
                ));
            }
        }
        Ok(())
    }
}

struct Registry {
    lookups: Vec<CustomDef>,
    transforms: Vec<CustomDef>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry { lookups: Vec::new(), transforms: Vec::new() });

fn register(def: CustomDef, lookup: bool) -> crate::Result<u16> {
    def.check(lookup)?;
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    let (mine, other) = if lookup { (&reg.lookups, &reg.transforms) } else { (&reg.transforms, &reg.lookups) };
    if other.iter().any(|d| d.name == def.name) {
        return Err(crate::Error::ImproperlyConfigured(format!(
            "`{}` is already registered as a {}",
            def.name,
            if lookup { "transform" } else { "lookup" }
        )));
    }
    if let Some(i) = mine.iter().position(|d| d.name == def.name) {
        if mine[i] == def {
            return Ok(i as u16);
        }
        return Err(crate::Error::ImproperlyConfigured(format!(
            "`{}` is already registered with another definition",
            def.name
        )));
    }
    let list = if lookup { &mut reg.lookups } else { &mut reg.transforms };
    let id = u16::try_from(list.len())
        .map_err(|_| crate::Error::ImproperlyConfigured("too many custom lookups or transforms".into()))?;
    list.push(def);
    Ok(id)
}

/// Registers a lookup (`{lhs}` and `{rhs}`): `"age__ne"` then renders `age <> ?`.
pub fn register_lookup(def: CustomDef) -> crate::Result<Lookup> {
    register(def, true).map(Lookup::Custom)
}

/// Registers a transform (`{lhs}` only): `"delta__abs__gt"` then renders `ABS(delta) > ?`.
pub fn register_transform(def: CustomDef) -> crate::Result<Transform> {
    register(def, false).map(Transform::Custom)
}

/// The custom lookup called `name`.
pub(crate) fn lookup_named(name: &str) -> Option<Lookup> {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    reg.lookups.iter().position(|d| d.name == name).map(|i| Lookup::Custom(i as u16))
}

/// The custom transform called `name`.
pub(crate) fn transform_named(name: &str) -> Option<Transform> {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    reg.transforms.iter().position(|d| d.name == name).map(|i| Transform::Custom(i as u16))
}

/// The definition of custom lookup `id`.
pub(crate) fn lookup_def(id: u16) -> Option<CustomDef> {
    REGISTRY.read().unwrap_or_else(|e| e.into_inner()).lookups.get(usize::from(id)).cloned()
}

/// The definition of custom transform `id`.
pub(crate) fn transform_def(id: u16) -> Option<CustomDef> {
    REGISTRY.read().unwrap_or_else(|e| e.into_inner()).transforms.get(usize::from(id)).cloned()
}

/// The name of custom lookup or transform `id`.
pub(crate) fn name_of(id: u16, lookup: bool) -> &'static str {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    let list = if lookup { &reg.lookups } else { &reg.transforms };
    list.get(usize::from(id)).map_or("custom", |d| d.name)
}
