//! # orm: a Django-class ORM for Rust
//!
//! Models are plain structs with `#[derive(Model)]`; queries are lazy, chainable
//! [`QuerySet`]s that compile to one parameterised statement and run unchanged on SQLite,
//! PostgreSQL and MySQL/MariaDB; schemas are generated from the models.
//!
//! ```
//! use orm::prelude::*;
//!
//! #[derive(Model, Debug, Clone)]
//! #[orm(app = "blog", ordering = ["name"])]
//! pub struct Author {
//!     pub id: Auto<i64>,
//!     #[orm(max_length = 100, unique)]
//!     pub name: String,
//!     pub email: Option<String>,
//! }
//!
//! let db = Database::connect("sqlite::memory:")?;
//! Schema::new().model::<Author>().create_all(&db)?;
//!
//! let mut ann = Author { id: Auto::unset(), name: "Ann".into(), email: None };
//! ann.save(&db)?;                                   // INSERT; the id is now set
//! assert!(ann.id.is_set());
//!
//! ann.email = Some("ann@example.com".into());
//! ann.save(&db)?;                                   // UPDATE
//!
//! let found = Author::objects().filter(Author::name().iexact("ANN")).get(&db)?;
//! assert_eq!(found.email.as_deref(), Some("ann@example.com"));
//! let same = Author::objects().get_pk(ann.id.get().unwrap(), &db)?;
//! assert_eq!(same.name, "Ann");
//! # Ok::<(), orm::Error>(())
//! ```
//!
//! ## Layers
//!
//! The top-level modules depend one way, bottom to top (`../shared/tools/layers` checks it);
//! each can be read, tested and changed knowing only those below it:
//!
//! ```text
//! serializers · schema     fixtures in Django's format; DDL from models
//! lifecycle                save, delete and the deletion collector, which signals each sends,
//!                          related managers, get_or_create / update_or_create   (Persist)
//! validation               full_clean
//! queryset                 QuerySet, prefetch_related, streaming, bulk writes   (DefaultManager)
//! sql                      the compiler: joins, WHERE/HAVING, writer, shape cache (internal)
//! expressions              Q, F, lookups, aggregates, ordering, typed field handles, the query tree
//! databases                several databases: the Databases set, routers, PrimaryReplicaRouter
//! db · signals             the Database handle; the signal registry (receivers, events)
//! model                    Model, ModelMeta, the registry, relation field types
//! fields                   column kinds, field types, Auto, values in JSON form
//! error
//! ```
//!
//! - [`model`]: the [`Model`] trait and its static [`ModelMeta`], the single metadata source,
//!   and the relation field types ([`ForeignKey`], [`ManyToMany`], [`Reverse`]);
//! - [`fields`]: field types and [`Auto`] keys;
//! - [`expressions`]: [`Q`], [`F`], aggregates, subqueries, typed field handles ([`Field`]);
//! - [`queryset`]: lazy [`QuerySet`]s; [`DefaultManager::objects`] is `Model.objects`;
//! - [`lifecycle`]: [`Persist`] (`save`, `delete`, `refresh_from_db`, `full_clean`), the
//!   deletion collector, [`RelatedManager`];
//! - [`Schema`]: DDL from models;
//! - [`serializers`]: fixtures in Django's format;
//! - [`signals`]: receivers of init, save, delete and many-to-many changes, scoped to a
//!   [`Database`] handle;
//! - everything from `orm-backends` users need (connections, values, dialects) is re-exported.
//!
//! ## What is where
//!
//! | Django | here |
//! |---|---|
//! | `Model.objects.filter(...)` | `Model::objects().filter(Model::field().lookup(v))` or `.filter_path("a__b__icontains", v)?` |
//! | `Q`, `F`, `Exists`, `OuterRef`, `Subquery`, `Count`… | [`Q`], [`F`], [`Exists`], [`OuterRef`], [`Subquery`], [`Count`]… |
//! | `_state.adding` | an unset [`Auto`] key, or a [`ModelState`] field for hand-chosen keys |
//! | `select_related` / `prefetch_related` / `Prefetch` | the same names on [`QuerySet`]; reverse caches live in [`Reverse`] fields (reverse one-to-one: [`ReverseOne`]) |
//! | `place.restaurant` (reverse one-to-one) | generated `place.restaurant(&db)?`: `Ok(None)` where Django raises `RelatedObjectDoesNotExist` for a saved instance; `DoesNotExist` (no query) for an unsaved one |
//! | `obj.delete()` → `(total, {label: n})` | [`Persist::delete`] / [`QuerySet::delete`] → [`Deleted`] |
//! | `author.post_set` / `post.tags.add()` | generated `author.posts()` (a QuerySet) / `post.tags().add(...)` ([`RelatedManager`]) |
//! | `transaction.atomic`, `on_commit` | [`Database::atomic`], `tx.atomic`, `tx.on_commit` |
//! | `qs[2:5]`, `qs[2:]`, `qs[:5]` (composing) | [`QuerySet::slice`]`(2..5)`, `slice(2..)`, `slice(..5)`; [`QuerySet::is_sliced`] |
//! | `select_for_update(nowait=True)` / `skip_locked=True` | `.select_for_update(`[`ForUpdate`]`::new().nowait())` / `.skip_locked()` |
//! | `in_bulk()`, `in_bulk(ids)`, `in_bulk(values, field_name="slug")` | [`QuerySet::in_bulk_all`], [`QuerySet::in_bulk`], [`QuerySet::in_bulk_by`] |
//! | `F("x").asc(nulls_last=True)`, `order_by("?")` | `OrderBy::asc("x").nulls_last()` ([`OrderBy::nulls_first`], [`OrderBy::nulls_last`]), `order_by(["?"])` or [`OrderBy::random`] |
//! | `Sum("x", default=0)`, `StdDev("x", sample=True)`, `Variance("x")` | `Sum::of("x").default(0)` ([`expressions::Aggregate::default`]), [`StdDev::sample`], [`Variance::of`] |
//! | `select_related()`, `select_related(None)`, `prefetch_related(None)` | [`QuerySet::select_related_all`], [`QuerySet::select_related_none`], [`QuerySet::prefetch_related_none`] |
//! | `Prefetch("essays", queryset=qs, to_attr="picked")` | `Prefetch::with("essays", qs).to_attr("picked")` ([`Prefetch::to_attr`]; `picked` is a declared `Reverse<T>` field) |
//! | `values()` keys `author_id`; `TypeError` / `ValueError` refusals | the same names; [`Error::TypeError`], [`Error::ValueError`] |
//! | `CaptureQueriesContext` | [`Database::capture_queries`] |
//! | `atomic(durable=True)`, `atomic(savepoint=False)` | [`Database::atomic_with`]`(`[`AtomicOptions`]`::new().durable())`, `tx.atomic_with(AtomicOptions::new().without_savepoint(), …)` |
//! | `get_rollback()`, `set_rollback(True)`, `savepoint()`, `savepoint_rollback(sid)` | `tx.get_rollback()`, `tx.set_rollback(true)`, `tx.savepoint()`, `tx.savepoint_rollback(sid)` / `savepoint_commit(sid)` |
//! | a query in a block whose statement failed → `TransactionManagementError` | the same, on every backend ([`Error::TransactionManagementError`]); the block rolls back |
//! | retrying a serialization failure or deadlock | [`Database::atomic_with_retry`], [`Error::is_retryable`] |
//! | `bulk_create(objs, batch_size=…, ignore_conflicts=True)`, `update_conflicts=True, unique_fields=…, update_fields=…` | [`QuerySet::bulk_create_with`]`(objs, &`[`BulkCreate`]`::new().batch_size(n).ignore_conflicts(), db)`, `.update_conflicts(unique, update)` |
//! | `save(force_update=True)`, `Meta.select_on_save` | [`SaveOptions`]`{ force_update: true, .. }` ("Forced update did not affect any rows."), `#[orm(select_on_save)]` |
//! | `update_or_create(defaults=…, create_defaults=…)` | [`QuerySet::update_or_create`]`(lookup, update, create, db)`: the UPDATE writes what `update` changed plus `auto_now` fields |
//! | `author.post_set.create(...)`, `post.tags.get_or_create(...)` | `author.posts().create(post, db)`, `post.tags().get_or_create(q, make, db)` ([`QuerySet::create`], [`RelatedManager::get_or_create`]) |
//! | `full_clean(exclude=[…])`, `Model.clean()`, `EmailField`/`URLField`/`SlugField` | [`Persist::full_clean_excluding`], `#[orm(clean = my_fn)]`, `validators = [orm::validation::validate_email]` (`validate_url`, `validate_slug`) |
//! | `serializers.serialize("json", qs, fields=…, use_natural_foreign_keys=True)` | [`serializers::dump_queryset_with`]`(qs, db, &`[`serializers::DumpOptions`]`::new().fields([…]).natural_foreign_keys())`, `#[orm(natural_key = ["name"])]` |
//! | `serializers.deserialize(…)`, `obj.save()` | [`serializers::deserialize`], [`serializers::DeserializedObject::save`] |
//! | `Case(When(x=1, then=Value("a")), default=…)` | `Case::new([When::new(Q::path("x", 1)?, "a")]).default(…)` ([`expressions::Case`]; `then` text is a value, fields are `F::col`) |
//! | `Window(Rank(), partition_by=…, order_by=…, frame=RowRange(…))`, filtering on it | `Window::new(Rank::new()).partition_by([…]).order_by([…]).frame(Frame::rows(…))` ([`expressions::Window`]); filters on it wrap the query as Django 4.2+ |
//! | `Concat`, `Left`, `Extract`, `Trunc`, `Cast`, `Round`, … (`django.db.models.functions`) | the same names in [`expressions::functions`] (`Reverse` is `functions::Reverse`; the prelude's `Reverse` is the relation field) |
//! | `qs1.union(qs2, all=True)`, `intersection`, `difference` | [`QuerySet::union`], [`QuerySet::union_all`], [`QuerySet::intersection`], [`QuerySet::difference`] → [`CombinedQuerySet`], whose methods are the ones Django allows after them |
//! | `defer("body")`, `only("title")`, `refresh_from_db(fields=[…])` | [`QuerySet::defer`], [`QuerySet::only`] over [`Deferred`]`<T>` fields; [`Persist::refresh_from_db_fields`], [`Persist::load_deferred`] |
//! | `data__owner__name`, `data__items__0`, `has_key`, `has_keys`, `has_any_keys`, `contains`, `contained_by` | the same paths and lookup names on JSON fields (`contains`/`contained_by` are `NotSupportedError` on SQLite) |
//! | `Field.register_lookup(NotEqual)`, a `Transform` subclass | [`expressions::custom::register_lookup`], [`expressions::custom::register_transform`] with [`expressions::custom::CustomDef`]; [`Field::lookup`], [`Field::transform`] |
//! | `alias()`, `contains(obj)`, `dates()`, `datetimes()`, `distinct(*fields)` | [`QuerySet::alias`], [`QuerySet::contains`], [`QuerySet::dates`], [`QuerySet::datetimes`], [`QuerySet::distinct_on`] |
//! | `select_for_update(of=("self",), no_key=True)`, `explain(format="json", analyze=True)` | [`ForUpdate::of`], [`ForUpdate::no_key`]; [`QuerySet::explain_with`]`(&`[`Explain`]`::new().format("json").analyze(), db)` |
//! | `obj.get_next_by_pub_date()`, `values().iterator()`, `values_list(named=True)` | [`Persist::get_next_by`]`("pub_date", db)` / [`Persist::get_previous_by`]; [`QuerySet::iter_values`]; [`QuerySet::fetch_values`] (rows read by column name) |
//! | `Post(title=…, author=…)` (the other fields from their defaults) | the derive's `NewPost { title, author }.build()` / `.create(db)` |
//! | `post_save.connect(f, sender=Post, dispatch_uid=…)` | `db.signals().post_save::<Post>().connect_with_uid(…, f)` ([`signals`]; for every model: `::<dyn Any>`) |
//! | `DATABASES = {"default": …, "replica": …}`, `DATABASE_ROUTERS` | [`Databases::from_env`] (`ORM_DATABASE_<ALIAS>_URL`) or [`Databases::builder`]`().database(alias, url)?.router(r)`; [`Router`] has Django's four questions ([`databases`]) |
//! | `qs.using("other")`, `obj.save(using=…)`, `obj.delete(using=…)`, `obj._state.db` | [`QuerySet::using`], [`Persist::save_using`], [`Persist::delete_using`], [`Model::db`] (with a [`ModelState`] field) |
//! | `transaction.atomic(using="other")`, `connections["other"]` | [`Databases::atomic_using`], [`Databases::get`] |
//!
//! ## Departures from the design notes, and why
//!
//! - **SQL is written by this crate's own compiler** (`sql/`, per-dialect writer) rather than
//!   sea-query's builders. The compiler must resolve Django paths into joins with Django's reuse
//!   and promotion rules, insert joins discovered late, render `EXISTS` for exclusions across
//!   multi-valued relations, and keep placeholders in order; a thin writer over `Dialect` does
//!   that with less code and no intermediate allocation-heavy statement tree.
//! - **Relation traversal in typed handles** is `Post::author().via(Author::name())` rather
//!   than `Post::author().name()`: the latter would need a generated handle type per model and
//!   relation; `via` keeps the field's type checked at compile time and the relation checked
//!   against the metadata (like a string path).
//! - **Reverse-relation caches are declared** (`pub posts: Reverse<Post>`,
//!   `pub restaurant: ReverseOne<Restaurant>`): a derive cannot add hidden fields to a struct,
//!   and an explicit field keeps prefetched data typed. Without a `ReverseOne` field the
//!   reverse one-to-one accessor queries on every call (Django caches always), and
//!   `select_related` of that relation is a `FieldError` saying the field is needed. The
//!   accessor returns a clone of the cached object, so the pointing model must be `Clone`.
//! - **A parent's handles on a child** go through [`Inherits`]: `Place::name().on::<Restaurant>()`.
//! - **Signals** hang off the [`Database`] handle and reach transactions through
//!   [`Executor::extension`] (the backends layer carries an opaque value, never learning of
//!   models). Receivers get the instance by shared reference (`&Post`): a `pre_save` receiver
//!   can inspect or refuse a save, not rewrite the instance. The sender of `m2m_changed` is the
//!   model declaring the field (with the field's name), since automatic join tables have no model.
//! - **The model registry** is collected at link time (the `inventory` crate), so reverse
//!   relations are found without the user listing models.
//! - **Three traits where the design sketch has one.** [`Model`] is what the derive writes
//!   (metadata, decoding, field access) and lives at the bottom; `objects()` is
//!   [`DefaultManager`] (the derive implements it, with `#[orm(manager = …)]` as its body) and
//!   `save`/`delete`/… are [`Persist`] (implemented for every model). One trait would tie the
//!   metadata to QuerySets, the collector and signals, which is the cycle the layers above
//!   remove. All three are in the prelude, so `use orm::prelude::*` reads as before; code
//!   that imported only `orm::Model` adds `DefaultManager` or `Persist`.
//! - **Refused calls surface at evaluation.** Django raises at once when a sliced QuerySet is
//!   filtered or reordered (`TypeError`) or `nowait` meets `skip_locked` (`ValueError`); a
//!   chainable builder method here returns `Self`, so the refusal is recorded on the QuerySet
//!   and returned by whatever evaluates it, still before any SQL, with Django's message.
//! - **`select_for_update` outside a transaction fails on SQLite too.** Django skips the
//!   check where the backend has no row locks; here it is made everywhere, so code that
//!   forgot its transaction fails in SQLite tests as it would on a server.
//! - **The query tree is plain data beside the expressions** (`expressions::query`): a
//!   subquery is an expression that holds one, and the compiler reads it; neither needs the
//!   other's code.
//!
//! ## Inheritance, relations, deletion and signals: what still differs from Django
//!
//! Deletion follows Django's `Collector` (order, refusals, counts, `keep_parents`, signal
//! order, `origin`); its own differences are listed in [`deletion`]. Beyond those:
//!
//! - **`m2m_changed` from a multi-table child through a many-to-many declared on its
//!   parent** names the child when the manager is taken by name,
//!   `child.many_to_many::<Tag>("tags")?` ([`Persist::many_to_many`]), as Django names the
//!   instance it was called on; the parent's generated accessor, reached through `Deref`
//!   (`child.tags()`), names the parent, since a derive cannot add methods for fields
//!   another derive declares. A many-to-many declared on the child itself names the child.
//! - **Many-to-many fields on abstract bases** give each concrete child its own link table
//!   (`<child table>_<field>`) and relation, as in Django, but no generated accessor method:
//!   the child's derive cannot see a base's fields, so the accessor is by name,
//!   [`Persist::many_to_many`]`::<Tag>("tags")`, and `prefetch_related` of such a relation is
//!   not available (the base's `ManyToMany` field is not reachable from the child's decoder).
//!   No accessor method is generated for a placeholder `related_name` either; lookups
//!   through it and `related_query_name` (both with `%(class)s` / `%(app_label)s` expanded
//!   per concrete child) work as in Django.
//! - **A child redeclaring a field of a concrete ancestor** is refused when its table is
//!   built ([`schema::check_inherited_clash`]), not at compile time: a derive cannot see
//!   another model's fields, and const evaluation cannot walk an ancestor chain.
//! - **Managers are inherited by proxies only**; a multi-table child's `objects()` is its
//!   own (its parent's filters name the parent's fields, which a child QuerySet reaches
//!   through the parent link, so write the child's manager to say so).
//! - **A receiver's identity** is its type when it is a function item or a closure that
//!   captures nothing; a capturing closure or a `fn` pointer has none (each `connect` is a
//!   new receiver) unless given a `dispatch_uid`.
//! - **Symmetrical many-to-many** (the default for a relation to the same model, as in
//!   Django) is written both ways only through an auto-created table; with a `through`
//!   model, write both rows yourself.

//! ## Several databases: what differs from Django
//!
//! - **An instance keeps its database only with a [`ModelState`] field** (a derive cannot add
//!   a hidden field); without one, routers decide every write alone.
//! - **Relations across databases are checked when the object is saved** through a set (and
//!   in a many-to-many `add`/`set`), not on assignment: a Rust field assignment cannot be
//!   intercepted. The error names both databases.
//! - **Reads inside [`Databases::atomic`]** go to the primary with [`PrimaryReplicaRouter`]
//!   ([`databases::Hints::in_atomic`]); to see the block's own uncommitted writes, pass the
//!   transaction, as everywhere in this crate.
//! - **Routers gain two hooks** ([`Router::after_write`], [`Router::unavailable`]) for
//!   read-your-writes and for skipping a replica that cannot be reached; a read that fails to
//!   reach a router-chosen database is routed again.
//! - **A subquery from another database** is not refused (Django's `ValueError`); it runs on
//!   the outer query's database.

pub mod databases;
pub mod db;
pub mod error;
pub mod expressions;
pub mod fields;
pub mod lifecycle;
pub mod model;
pub mod prelude;
pub mod queryset;
pub mod schema;
pub mod serializers;
pub mod signals;
mod sql;
pub mod validation;

/// The paths of the earlier flat layout, kept for users: conditions, prefetching, streaming
/// and the deletion collector now live in the layers that own them.
pub use expressions::q;
pub use lifecycle::deletion;
pub use queryset::{prefetch, stream};

pub use databases::{Databases, PrimaryReplicaRouter, ReadYourWrites, Router};
pub use db::{CapturedQuery, Database, QueryCapture};
pub use error::{Error, Result, ValidationErrors, NON_FIELD_ERRORS};
pub use expressions::handle::Field;
pub use expressions::q::{Lookup, Q};
pub use expressions::{
    Assignment, Avg, Count, Exists, Expr, ForUpdate, Max, Min, OrderBy, OuterRef, StdDev, Subquery, Sum, Variance, F,
};
pub use fields::{Auto, ColumnKind, Deferred, FieldType};
pub use lifecycle::related_manager::RelatedManager;
pub use lifecycle::{DeleteOptions, Deleted, Persist, SaveOptions};
pub use model::meta::{self as meta, ModelMeta, OnDelete};
pub use model::{
    AbstractModel, ForeignKey, Inherits, ManyToMany, Model, ModelState, Objects, ObjectsIter, OneToOne, Prefetch,
    Reverse, ReverseOne,
};
pub use queryset::stream::{ModelIter, ValuesIter};
pub use queryset::{Annotated, BulkCreate, Combinable, CombinedQuerySet, DefaultManager, Explain, QuerySet};
pub use schema::Schema;
pub use signals::Signals;
pub use signals::DEFAULT_DB_ALIAS;

pub use orm_backends::{
    atomic, schema as ddl, AtomicOptions, Backend, ConversionError, Dialect, Executor, FromValue, OwnedRow, Param,
    Pool, Row, Savepoint, ToValue, Transaction, Value, ValueRef,
};
pub use orm_macros::Model;

/// The crates whose types appear in field types, re-exported so users name one version.
pub use orm_backends::{chrono, rust_decimal, serde_json, uuid};

/// Dependencies the derive's generated code names; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::model::registry::decode_boxed;
    pub use inventory;
    pub use orm_backends::{Error as BackendError, Row, Value};
    pub use std::sync::OnceLock;

    /// Leaks a vector into a `'static` slice (metadata lives for the whole program).
    pub fn leak<T>(v: Vec<T>) -> &'static [T] {
        Box::leak(v.into_boxed_slice())
    }

    /// `T::KIND` (one bound, so a bad field type gives one error).
    pub const fn kind_of<T: crate::FieldType>() -> crate::ColumnKind {
        T::KIND
    }
    /// `T::NULLABLE`.
    pub const fn nullable_of<T: crate::FieldType>() -> bool {
        T::NULLABLE
    }
    /// `T::AUTO`.
    pub const fn auto_of<T: crate::FieldType>() -> bool {
        T::AUTO
    }
    /// A field's value from its declared default (the derive's constructor): the default is
    /// of the field's own lookup type, so it converts; a custom `FromValue` that refuses its
    /// own values is a bug, reported with the field's type.
    pub fn default_value<T: crate::FieldType>(v: Value) -> T {
        match T::from_value_ref(v.as_ref()) {
            Ok(x) => x,
            Err(e) => panic!("the declared default of a `{}` field does not convert: {e}", std::any::type_name::<T>()),
        }
    }
    /// `T::DEFERRABLE`.
    pub const fn deferrable_of<T: crate::FieldType>() -> bool {
        T::DEFERRABLE
    }
    /// The parameter value of a field.
    #[inline]
    pub fn value_of<T: crate::FieldType>(v: &T) -> Value {
        v.to_value()
    }

    /// A field's value as a parameter, borrowed where it can be.
    pub fn param_of<T: crate::FieldType>(v: &T) -> crate::Param<'_> {
        v.to_param()
    }

    /// Decodes column `index` of `row` into `T`, naming the model and field on failure.
    #[inline]
    pub fn decode<T: crate::FieldType>(row: &dyn Row, index: usize, model: &str, field: &str) -> crate::Result<T> {
        match T::from_cell(row.cell(index).get()) {
            Some(Ok(x)) => Ok(x),
            Some(Err(e)) => Err(decode_error(e, index, model, field)),
            None => decode_value(row, index, model, field),
        }
    }

    /// [`decode`] of a cell that is not one of [`Cell`](orm_backends::Cell)'s kinds (or
    /// that `T` wants as a `ValueRef`).
    #[inline(never)]
    fn decode_value<T: crate::FieldType>(row: &dyn Row, index: usize, model: &str, field: &str) -> crate::Result<T> {
        match row.value_ref(index) {
            Ok(v) => match T::from_value_ref(v) {
                Ok(x) => Ok(x),
                Err(e) => Err(decode_error(e, index, model, field)),
            },
            Err(e) => Err(e.into()),
        }
    }

    #[cold]
    #[inline(never)]
    fn decode_error(e: crate::ConversionError, index: usize, model: &str, field: &str) -> crate::Error {
        let e = e.at_column(index, Some(field));
        crate::Error::Database(orm_backends::Error::from(e).with_table(Some(model.to_owned())))
    }

    /// Converts an owned value into field type `T`.
    #[inline]
    pub fn convert<T: crate::FieldType>(v: &Value, model: &str, field: &str) -> crate::Result<T> {
        match T::from_value_ref(v.as_ref()) {
            Ok(x) => Ok(x),
            Err(e) => Err(convert_error(e, model, field)),
        }
    }

    #[cold]
    #[inline(never)]
    fn convert_error(e: crate::ConversionError, model: &str, field: &str) -> crate::Error {
        crate::Error::field_error(format!("{model}.{field}: {e}"))
    }

    /// Asserts at compile time that `T` is a field type (the error points at the field).
    pub const fn assert_field_type<T: crate::FieldType>() {}
    /// Asserts at compile time that `max_length` applies to `T`.
    pub const fn assert_text<T: crate::fields::TextField>() {}
    /// Asserts at compile time that `max_digits`/`decimal_places` apply to `T`.
    pub const fn assert_decimal<T: crate::fields::DecimalField>() {}
    /// Asserts at compile time that `T` is a model.
    pub const fn assert_model<T: crate::Model>() {}
    /// Asserts at compile time that `T` is an abstract model.
    pub const fn assert_abstract<T: crate::AbstractModel>() {}
    pub use crate::fields::NowField;

    const fn str_eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    /// `%(class)s` and `%(app_label)s` of a related name expanded for `model` of `app`
    /// (lower case, as Django), leaked once per distinct result.
    pub fn expand_placeholders(name: &str, app: &str, model: &str) -> &'static str {
        let expanded = name.replace("%(class)s", &model.to_lowercase()).replace("%(app_label)s", &app.to_lowercase());
        crate::model::related::leak_name(&expanded)
    }

    /// Expands Django's placeholders in the related (query) names of `fields` (relations declared on
    /// an abstract base): `%(class)s` is the concrete model's name in lower case,
    /// `%(app_label)s` its app label in lower case. Each distinct result is leaked once.
    pub fn expand_related_names(fields: &mut [crate::meta::FieldMeta], app: &str, model: &str) {
        let expand = |name: &str| {
            let expanded =
                name.replace("%(class)s", &model.to_lowercase()).replace("%(app_label)s", &app.to_lowercase());
            crate::model::related::leak_name(&expanded)
        };
        for f in fields.iter_mut() {
            let Some(rel) = f.relation.as_mut() else { continue };
            if let Some(name) = rel.related_name.filter(|n| n.contains("%(")) {
                rel.related_name = Some(expand(name));
            }
            if let Some(name) = rel.related_query_name.filter(|n| n.contains("%(")) {
                rel.related_query_name = Some(expand(name));
            }
        }
    }

    /// Fails compilation when two field lists share a name (a field clash between a model
    /// and its abstract bases, or between two bases).
    pub const fn assert_no_clash(a: &[&str], b: &[&str]) {
        let mut i = 0;
        while i < a.len() {
            let mut j = 0;
            while j < b.len() {
                if str_eq(a[i], b[j]) {
                    panic!("field clash: a model and its abstract bases declare the same field");
                }
                j += 1;
            }
            i += 1;
        }
    }
}
