//! Relation field types: [`ForeignKey`], [`OneToOne`] and [`ManyToMany`], the caches they
//! keep ([`ForwardSlot`], [`ManySlot`]), and the plain data that says where related objects
//! sit in a row ([`RelatedNode`]) or which paths to prefetch ([`Prefetch`]).
//!
//! A `ForeignKey<T>` stores the target's key (the `<field>_id` column) and can cache the
//! target object once it has been loaded (on demand, or by `select_related`).

use super::Model;
use crate::error::{Error, Result};
use crate::fields::{ColumnKind, FieldType};
use orm_backends::{CellRef, ConversionError, FromValue, Row, ToValue, Value, ValueRef};
use std::any::Any;
use std::fmt;
use std::sync::Arc;

macro_rules! single_relation {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name<T: Model> {
            key: T::Key,
            cached: Option<Arc<T>>,
        }

        impl<T: Model> $name<T> {
            /// A relation to the row whose key is `key` (not loaded).
            pub fn new(key: impl Into<T::Key>) -> Self {
                $name { key: key.into(), cached: None }
            }

            /// A relation to `target`, which must have been saved (its key is known). The
            /// target is cached, so reading it back does no query.
            pub fn to(target: &T) -> Result<Self>
            where
                T: Clone,
            {
                let key = target.pk_value();
                if key.is_null() {
                    return Err(Error::field_error(format!(
                        "cannot point a {} at an unsaved {} (save it first)",
                        stringify!($name),
                        T::meta().label()
                    )));
                }
                let key = T::Key::from_value_ref(key.as_ref())?;
                Ok($name { key, cached: Some(Arc::new(target.clone())) })
            }

            /// The key stored in the column.
            pub fn key(&self) -> &T::Key {
                &self.key
            }

            /// Points at another row; drops the cached object, unless the key is the one
            /// already held (Django keeps the cache when the same key is assigned again).
            pub fn set_key(&mut self, key: impl Into<T::Key>) {
                let key = key.into();
                if key != self.key {
                    self.cached = None;
                }
                self.key = key;
            }

            /// The related object, if it has been loaded.
            pub fn cached(&self) -> Option<&T> {
                self.cached.as_deref()
            }

            /// Stores a loaded related object (used by `select_related`).
            pub fn set_cached(&mut self, target: T) {
                self.cached = Some(Arc::new(target));
            }

            /// Stores a shared loaded object (used by `prefetch_related`).
            pub fn set_cached_arc(&mut self, target: Arc<T>) {
                self.cached = Some(target);
            }
        }

        impl<T: Model> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { key: self.key.clone(), cached: self.cached.clone() }
            }
        }

        impl<T: Model> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}<{}>({:?})", stringify!($name), T::meta().name, self.key)
            }
        }

        impl<T: Model> PartialEq for $name<T> {
            fn eq(&self, other: &Self) -> bool {
                self.key == other.key
            }
        }

        impl<T: Model> ToValue for $name<T> {
            fn to_value(&self) -> Value {
                self.key.to_value()
            }
            fn to_param(&self) -> orm_backends::Param<'_> {
                self.key.to_param()
            }
        }

        impl<T: Model> FromValue for $name<T> {
            fn from_value_ref(v: ValueRef<'_>) -> std::result::Result<Self, ConversionError> {
                T::Key::from_value_ref(v).map(|key| $name { key, cached: None })
            }
            #[inline]
            fn from_cell(cell: CellRef<'_>) -> Option<std::result::Result<Self, ConversionError>> {
                T::Key::from_cell(cell).map(|r| r.map(|key| $name { key, cached: None }))
            }
        }

        impl<T: Model> FieldType for $name<T> {
            const KIND: ColumnKind = T::PK_KIND;
            type Lookup = <T::Key as FieldType>::Lookup;
        }

        impl<T: Model> ForwardSlot for $name<T> {
            type Target = T;
            fn key_value(&self) -> Value {
                self.key.to_value()
            }
            fn set(&mut self, target: Arc<T>) {
                self.cached = Some(target);
            }
            fn is_loaded(&self) -> bool {
                self.cached.is_some()
            }
            fn cached_db(&self) -> Option<&'static str> {
                self.cached.as_deref().and_then(Model::db)
            }
            fn fill_from_row(&mut self, row: &dyn orm_backends::Row, offset: usize, children: &[RelatedNode]) -> Result<()> {
                if row.value_ref(offset + T::meta().pk)?.to_owned_value().is_null() {
                    return Ok(());
                }
                let mut obj = T::from_row(row, offset)?;
                for c in children {
                    set_related_node(&mut obj, c, row)?;
                }
                self.cached = Some(Arc::new(obj));
                Ok(())
            }
        }

        impl<T: Model> serde::Serialize for $name<T> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                serde::Serialize::serialize(&crate::fields::json::value_to_json(&self.key.to_value()), s)
            }
        }

        impl<'de, T: Model> serde::Deserialize<'de> for $name<T> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let j = serde_json::Value::deserialize(d)?;
                let v = crate::fields::json::json_to_value(&j, T::PK_KIND).map_err(serde::de::Error::custom)?;
                T::Key::from_value_ref(v.as_ref()).map(|key| $name { key, cached: None }).map_err(serde::de::Error::custom)
            }
        }
    };
}

single_relation! {
    /// A many-to-one relation: the `<field>_id` column holds the target's key.
    ///
    /// `Option<ForeignKey<T>>` is a nullable relation. Options: `on_delete` (default
    /// `Cascade`), `related_name` (the accessor, what `prefetch_related` names),
    /// `related_query_name` (what lookups from the target name; default `related_name`,
    /// else the model's name in lower case), `to_field`.
    ForeignKey
}

single_relation! {
    /// A one-to-one relation: a foreign key whose column is unique.
    OneToOne
}

/// A many-to-many relation: no column; a join table (auto-created, or a `through` model).
///
/// The value holds the related objects once they have been prefetched.
pub struct ManyToMany<T: Model> {
    /// One word per instance, as in [`Reverse`].
    cached: Option<Arc<Vec<Arc<T>>>>,
}

impl<T: Model> ManyToMany<T> {
    /// Nothing loaded.
    pub fn new() -> Self {
        ManyToMany { cached: None }
    }

    /// The prefetched objects, if loaded.
    pub fn cached(&self) -> Option<&[Arc<T>]> {
        self.cached.as_deref().map(Vec::as_slice)
    }

    /// Stores prefetched objects.
    pub fn set_cached(&mut self, objs: Vec<Arc<T>>) {
        self.cached = Some(Arc::new(objs));
    }
}

impl<T: Model> ManySlot for ManyToMany<T> {
    type Target = T;
    fn set(&mut self, objs: Vec<Arc<T>>) {
        self.cached = Some(Arc::new(objs));
    }
}

/// The cache of a reverse one-to-one relation, declared on the target under the accessor's
/// name (`pub restaurant: ReverseOne<Restaurant>` on `Place`), as Django caches
/// `place.restaurant` on the instance: the accessor (`place.restaurant(&db)`) queries once,
/// then answers from here, including "there is none". No column. Filled through `&self`
/// (the accessor borrows the instance), so it holds a lock; a clone shares nothing.
pub struct ReverseOne<T: Model> {
    cached: std::sync::Mutex<Option<Option<Arc<T>>>>,
}

impl<T: Model> ReverseOne<T> {
    /// Nothing loaded.
    pub fn new() -> Self {
        ReverseOne { cached: std::sync::Mutex::new(None) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Option<Arc<T>>>> {
        self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What was loaded: `None` when nothing was, `Some(None)` when there is no related row.
    pub fn cached(&self) -> Option<Option<Arc<T>>> {
        self.lock().clone()
    }

    /// Is something (a row or "none") cached?
    pub fn is_cached(&self) -> bool {
        self.lock().is_some()
    }

    /// Caches `obj` (`None`: there is no related row).
    pub fn set_cached(&self, obj: Option<T>) {
        *self.lock() = Some(obj.map(Arc::new));
    }

    /// Forgets what was cached.
    pub fn clear(&self) {
        *self.lock() = None;
    }
}

/// A [`ReverseOne`] cache seen without its type: what [`Model::reverse_one`] returns.
pub trait ReverseOneSlot: Any + Send + Sync {
    /// The slot itself, to downcast to `ReverseOne<T>`.
    fn as_any(&self) -> &dyn Any;
    /// Decodes the related object from a joined row at `offset` (none when its key is NULL)
    /// and caches it (`select_related`).
    fn fill_from_row(&self, row: &dyn Row, offset: usize, children: &[RelatedNode]) -> Result<()>;
}

impl<T: Model> ReverseOneSlot for ReverseOne<T> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn fill_from_row(&self, row: &dyn Row, offset: usize, children: &[RelatedNode]) -> Result<()> {
        if row.value_ref(offset + T::meta().pk)?.to_owned_value().is_null() {
            self.set_cached(None);
            return Ok(());
        }
        let mut obj = T::from_row(row, offset)?;
        for c in children {
            set_related_node(&mut obj, c, row)?;
        }
        self.set_cached(Some(obj));
        Ok(())
    }
}

/// `name` as a `&'static str` (accessor names kept by `select_related` plans, expanded
/// related names): each distinct name is leaked once. Internal.
#[doc(hidden)]
pub fn leak_name(name: &str) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(n);
    n
}

/// Caches on `obj` the `select_related` object `node` describes: through its forward
/// relation field, or in its [`ReverseOne`] field for a reverse one-to-one.
pub fn set_related_node<M: Model>(obj: &mut M, node: &RelatedNode, row: &dyn Row) -> Result<()> {
    if node.inherited > 0 {
        let up = RelatedNode { inherited: node.inherited - 1, ..node.clone() };
        return obj.set_related_in_parent(&up, row);
    }
    match node.reverse {
        None => obj.set_related(node.field, row, node.offset, &node.children),
        Some(name) => match obj.reverse_one(name) {
            Some(slot) => slot.fill_from_row(row, node.offset, &node.children),
            None => Err(Error::field_error(format!(
                "select_related(\"{name}\") needs a `{name}: ReverseOne<…>` field on {} to hold the object",
                M::meta().label()
            ))),
        },
    }
}

impl<T: Model> Default for ReverseOne<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Model> Clone for ReverseOne<T> {
    /// The clone shares the cached object.
    fn clone(&self) -> Self {
        ReverseOne { cached: std::sync::Mutex::new(self.lock().clone()) }
    }
}

impl<T: Model> fmt::Debug for ReverseOne<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.lock() {
            None => "not loaded",
            Some(None) => "none",
            Some(Some(_)) => "loaded",
        };
        write!(f, "ReverseOne<{}>({state})", T::meta().name)
    }
}

impl<T: Model> PartialEq for ReverseOne<T> {
    /// A cache never makes two instances differ.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The other side of a foreign key or many-to-many, declared on the target to hold what
/// `prefetch_related` loads (`#[orm(...)]` is not needed: the field's name is the relation's
/// `related_name`). Not a column.
///
/// ```text
/// pub struct Author { pub id: Auto<i64>, pub name: String, pub posts: Reverse<Post> }
/// let authors = Author::objects().prefetch_related(["posts"]).fetch(&db)?;
/// let titles = authors[0].posts.cached().unwrap();   // no further query
/// ```
///
/// The objects of a reverse foreign key belong to one owner each, so they are held by value;
/// those of a reverse many-to-many can belong to several owners and are shared (`Arc`), as
/// Django shares one instance between the lists it appears in. [`cached`](Reverse::cached)
/// reads both the same way. Holding them by value is what lets a three-level prefetch allocate no more than the rows it reads:
/// one `Arc` per object was a tenth of its time.
pub struct Reverse<T: Model> {
    /// Behind one `Arc` per owner: the field is one word in every instance (loaded or not,
    /// which matters to a query that loads none), and cloning an owner copies no object.
    cached: Option<Arc<Loaded<T>>>,
}

enum Loaded<T> {
    Owned(Vec<T>),
    Shared(Vec<Arc<T>>),
}

impl<T: Model> Reverse<T> {
    /// Nothing loaded.
    pub fn new() -> Self {
        Reverse { cached: None }
    }

    /// The prefetched objects, if loaded.
    pub fn cached(&self) -> Option<Objects<'_, T>> {
        self.cached.as_deref().map(|l| match l {
            Loaded::Owned(v) => Objects { inner: ObjectsInner::Owned(v) },
            Loaded::Shared(v) => Objects { inner: ObjectsInner::Shared(v) },
        })
    }

    /// Stores loaded objects (what `prefetch_related` does).
    pub fn set_cached(&mut self, objs: Vec<T>) {
        self.cached = Some(Arc::new(Loaded::Owned(objs)));
    }
}

impl<T: Model> Default for Reverse<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Model> Clone for Reverse<T> {
    /// The clone shares the loaded objects.
    fn clone(&self) -> Self {
        Reverse { cached: self.cached.clone() }
    }
}

impl<T: Model> fmt::Debug for Reverse<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cached() {
            Some(v) => write!(f, "Reverse<{}>({} loaded)", T::meta().name, v.len()),
            None => write!(f, "Reverse<{}>", T::meta().name),
        }
    }
}

impl<T: Model> PartialEq for Reverse<T> {
    /// Caches are not part of the instance's value.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T: Model> ManySlot for Reverse<T> {
    type Target = T;
    fn set(&mut self, objs: Vec<Arc<T>>) {
        self.cached = Some(Arc::new(Loaded::Shared(objs)));
    }
    fn set_owned(&mut self, objs: Vec<T>) {
        self.cached = Some(Arc::new(Loaded::Owned(objs)));
    }
}

/// The objects a [`Reverse`] holds: a read-only list of `&T`, whether they are held by value
/// or shared.
///
/// ```
/// use orm::prelude::*;
/// #[derive(Model, Debug, Clone)]
/// #[orm(app = "objects_doc")]
/// pub struct Author { pub id: Auto<i64>, pub name: String, pub books: Reverse<Book> }
/// #[derive(Model, Debug, Clone)]
/// #[orm(app = "objects_doc")]
/// pub struct Book { pub id: Auto<i64>, #[orm(related_name = "books")] pub author: ForeignKey<Author>, pub title: String }
///
/// let mut books: Reverse<Book> = Reverse::new();
/// books.set_cached(vec![Book { id: Auto::unset(), author: ForeignKey::new(1), title: "Emma".into() }]);
/// let list = books.cached().unwrap();
/// assert_eq!(list.len(), 1);
/// assert_eq!(list[0].title, "Emma");
/// assert_eq!(list.iter().map(|b| b.title.as_str()).collect::<Vec<_>>(), ["Emma"]);
/// ```
pub struct Objects<'a, T> {
    inner: ObjectsInner<'a, T>,
}

enum ObjectsInner<'a, T> {
    Owned(&'a [T]),
    Shared(&'a [Arc<T>]),
}

impl<T> Clone for Objects<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Objects<'_, T> {}

impl<T> Clone for ObjectsInner<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ObjectsInner<'_, T> {}

impl<T> Default for Objects<'_, T> {
    /// No objects.
    fn default() -> Self {
        Objects { inner: ObjectsInner::Owned(&[]) }
    }
}

impl<'a, T> Objects<'a, T> {
    /// How many.
    pub fn len(&self) -> usize {
        match self.inner {
            ObjectsInner::Owned(v) => v.len(),
            ObjectsInner::Shared(v) => v.len(),
        }
    }

    /// None?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The object at `index`.
    pub fn get(&self, index: usize) -> Option<&'a T> {
        match self.inner {
            ObjectsInner::Owned(v) => v.get(index),
            ObjectsInner::Shared(v) => v.get(index).map(|a| &**a),
        }
    }

    /// The first object.
    pub fn first(&self) -> Option<&'a T> {
        self.get(0)
    }

    /// The objects, in order.
    pub fn iter(&self) -> ObjectsIter<'a, T> {
        ObjectsIter { objects: *self, next: 0 }
    }
}

impl<T> std::ops::Index<usize> for Objects<'_, T> {
    type Output = T;
    fn index(&self, index: usize) -> &T {
        match self.get(index) {
            Some(t) => t,
            None => panic!("index {index} is out of range for {} objects", self.len()),
        }
    }
}

impl<'a, T> IntoIterator for Objects<'a, T> {
    type Item = &'a T;
    type IntoIter = ObjectsIter<'a, T>;
    fn into_iter(self) -> ObjectsIter<'a, T> {
        self.iter()
    }
}

impl<'a, T> IntoIterator for &Objects<'a, T> {
    type Item = &'a T;
    type IntoIter = ObjectsIter<'a, T>;
    fn into_iter(self) -> ObjectsIter<'a, T> {
        self.iter()
    }
}

impl<T: fmt::Debug> fmt::Debug for Objects<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The iterator of [`Objects`].
pub struct ObjectsIter<'a, T> {
    objects: Objects<'a, T>,
    next: usize,
}

impl<'a, T> Iterator for ObjectsIter<'a, T> {
    type Item = &'a T;
    fn next(&mut self) -> Option<&'a T> {
        let item = self.objects.get(self.next)?;
        self.next += 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.objects.len() - self.next;
        (left, Some(left))
    }
}

impl<T> ExactSizeIterator for ObjectsIter<'_, T> {}

impl<T: Model> Default for ManyToMany<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Model> Clone for ManyToMany<T> {
    fn clone(&self) -> Self {
        ManyToMany { cached: self.cached.clone() }
    }
}

impl<T: Model> fmt::Debug for ManyToMany<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cached {
            Some(v) => write!(f, "ManyToMany<{}>({} loaded)", T::meta().name, v.len()),
            None => write!(f, "ManyToMany<{}>", T::meta().name),
        }
    }
}

impl<T: Model> PartialEq for ManyToMany<T> {
    /// Relations compare equal: the join rows are not part of the instance's own value.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Where a `select_related` object's columns start in the row, and its own nested ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelatedNode {
    /// The relation field's index in the parent's `meta().fields` (unused for a reverse
    /// one-to-one).
    pub field: usize,
    /// For a reverse one-to-one relation, its accessor's name: the object goes to the
    /// parent's [`ReverseOne`] field of that name ([`Model::reverse_one`]).
    pub reverse: Option<&'static str>,
    /// How many parent links up the relation is declared (0: on the model itself; 1: on its
    /// multi-table parent …): the object is cached on that ancestor.
    pub inherited: u8,
    /// The first column of the related object.
    pub offset: usize,
    /// Relations selected through this one.
    pub children: Vec<RelatedNode>,
}

/// A forward relation value (`ForeignKey<T>`, `OneToOne<T>`, or an `Option` of one) that can
/// hold a loaded object.
pub trait ForwardSlot {
    /// The related model.
    type Target: Model;
    /// The key stored in the column (`Null` for an empty optional relation).
    fn key_value(&self) -> Value;
    /// Caches a loaded object.
    fn set(&mut self, target: Arc<Self::Target>);
    /// Decodes the related object from a joined row and caches it (`select_related`).
    fn fill_from_row(&mut self, row: &dyn Row, offset: usize, children: &[RelatedNode]) -> Result<()>;
    /// Is the related object already cached (by `select_related`, or an earlier load)? A
    /// prefetch of the relation then reuses it. The default says no.
    fn is_loaded(&self) -> bool {
        false
    }
    /// The database the cached object was loaded from or saved to, if one is cached and its
    /// model keeps it ([`Model::db`]). Saving through a set of databases checks the
    /// relation against the routers with it.
    fn cached_db(&self) -> Option<&'static str> {
        None
    }
}

impl<S: ForwardSlot> ForwardSlot for Option<S> {
    type Target = S::Target;
    fn key_value(&self) -> Value {
        self.as_ref().map(S::key_value).unwrap_or(Value::Null)
    }
    fn set(&mut self, target: Arc<Self::Target>) {
        if let Some(s) = self {
            s.set(target);
        }
    }
    fn cached_db(&self) -> Option<&'static str> {
        self.as_ref().and_then(S::cached_db)
    }
    fn fill_from_row(&mut self, row: &dyn Row, offset: usize, children: &[RelatedNode]) -> Result<()> {
        match self {
            Some(s) => s.fill_from_row(row, offset, children),
            None => Ok(()),
        }
    }
    fn is_loaded(&self) -> bool {
        self.as_ref().is_some_and(S::is_loaded)
    }
}

/// A multi-valued relation value (`ManyToMany<T>`, `Reverse<T>`) that can hold loaded objects.
pub trait ManySlot {
    /// The related model.
    type Target: Model;
    /// Caches the loaded objects, which other owners may share (many-to-many).
    fn set(&mut self, objs: Vec<Arc<Self::Target>>);
    /// Caches loaded objects that belong to this owner alone (a reverse foreign key). The
    /// default shares them.
    fn set_owned(&mut self, objs: Vec<Self::Target>) {
        self.set(objs.into_iter().map(Arc::new).collect());
    }
}

/// One `prefetch_related` path, optionally with the QuerySet to load its last step with
/// (Django's `Prefetch(path, queryset)`): filter or order the prefetched set.
#[derive(Clone)]
pub struct Prefetch {
    pub(crate) path: String,
    /// The `QuerySet<T>` of the last step, type-erased (see `Prefetch::with`).
    pub(crate) queryset: Option<Arc<dyn Any + Send + Sync>>,
    /// The field the last step's objects go into instead of the relation's own.
    pub(crate) to_attr: Option<String>,
}

impl std::fmt::Debug for Prefetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prefetch({:?}{})", self.path, if self.queryset.is_some() { ", queryset" } else { "" })?;
        match &self.to_attr {
            Some(a) => write!(f, " to_attr={a:?}"),
            None => Ok(()),
        }
    }
}

impl Prefetch {
    /// Prefetch `path` (`"posts"`, `"posts__comments"`).
    pub fn new(path: &str) -> Self {
        Prefetch { path: path.to_owned(), queryset: None, to_attr: None }
    }

    /// Puts the last step's objects into the `ManyToMany`/`Reverse` field `attr` of the
    /// objects one step before it, leaving the relation's own cache alone (Django's
    /// `to_attr`): a filtered set beside the full one. `attr` must be declared on the model
    /// (a `Reverse<T>` field named as you like).
    pub fn to_attr(mut self, attr: &str) -> Self {
        self.to_attr = Some(attr.to_owned());
        self
    }

    pub(crate) fn split(&self) -> (&str, Option<Prefetch>) {
        match self.path.split_once("__") {
            Some((first, rest)) => (
                first,
                Some(Prefetch {
                    path: rest.to_owned(),
                    queryset: self.queryset.clone(),
                    to_attr: self.to_attr.clone(),
                }),
            ),
            None => (&self.path, None),
        }
    }
}

impl From<&str> for Prefetch {
    fn from(s: &str) -> Self {
        Prefetch::new(s)
    }
}

impl From<String> for Prefetch {
    fn from(s: String) -> Self {
        Prefetch::new(&s)
    }
}
