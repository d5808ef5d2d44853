//! [`QuerySet`]: lazy, chainable queries. Building one touches no database; evaluation
//! methods take an executor (a [`Database`](crate::Database), a pool or a transaction) and
//! run exactly one statement (`get_or_create` and friends say when they run more).

mod bulk;
mod combined;

pub use bulk::BulkCreate;
pub use combined::{Combinable, CombinedQuerySet};
pub(crate) mod by_key;
pub mod prefetch;
pub mod stream;

pub(crate) use by_key::{get_by_pk, resolve_update_fields, row_exists};

use crate::error::{Error, Result};
use crate::expressions::q::{parse_leaf, Node, Q};
use crate::expressions::query::{ForUpdate, Query};
use crate::expressions::{Aggregate, Expr, SubqueryExpr};
use crate::expressions::{Assignment, OrderBy};
use crate::model::{ForeignKey, Model, OneToOne};
use crate::sql::{check_node, compile_select, compile_update, values_names, Select};
use orm_backends::{CellRef, Dialect, Executor, OwnedRow, ToValue, Value};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

impl<M: Model> From<QuerySet<M>> for SubqueryExpr {
    /// The QuerySet as a subquery that selects nothing yet (`Exists`, or `Subquery::values`
    /// names the column).
    fn from(qs: QuerySet<M>) -> Self {
        SubqueryExpr { meta: M::meta(), query: qs.into_query(), select: None }
    }
}

/// Options of [`QuerySet::explain_with`] (Django's `explain()` keyword arguments).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Explain {
    format: Option<String>,
    analyze: bool,
    verbose: bool,
}

impl Explain {
    /// No options: the backend's default plan.
    pub fn new() -> Self {
        Explain::default()
    }

    /// The output format: `TEXT`, `JSON`, `YAML` or `XML` on PostgreSQL, `JSON` or
    /// `TRADITIONAL` on MySQL/MariaDB.
    pub fn format(mut self, format: &str) -> Self {
        self.format = Some(format.to_ascii_uppercase());
        self
    }

    /// Runs the query and reports actual times (PostgreSQL `ANALYZE`; MariaDB's
    /// `ANALYZE <query>`).
    pub fn analyze(mut self) -> Self {
        self.analyze = true;
        self
    }

    /// More detail (PostgreSQL `VERBOSE`).
    pub fn verbose(mut self) -> Self {
        self.verbose = true;
        self
    }

    /// The statement prefix on `d`, or Django's `ValueError` for what `d` lacks.
    fn prefix(&self, d: Dialect) -> Result<String> {
        let unknown = |what: &str| Err(Error::ValueError(format!("Unknown options: {what}")));
        match d {
            Dialect::Sqlite => {
                if let Some(f) = &self.format {
                    return Err(Error::ValueError(format!("{f} is not a recognized format.")));
                }
                if self.analyze || self.verbose {
                    return unknown(if self.analyze { "analyze" } else { "verbose" });
                }
                Ok("EXPLAIN QUERY PLAN ".into())
            }
            Dialect::Postgres => {
                let mut opts = Vec::new();
                if self.analyze {
                    opts.push("ANALYZE true".to_owned());
                }
                if self.verbose {
                    opts.push("VERBOSE true".to_owned());
                }
                if let Some(f) = &self.format {
                    if !["TEXT", "JSON", "YAML", "XML"].contains(&f.as_str()) {
                        return Err(Error::ValueError(format!("{f} is not a recognized format.")));
                    }
                    opts.push(format!("FORMAT {f}"));
                }
                Ok(if opts.is_empty() { "EXPLAIN ".into() } else { format!("EXPLAIN ({}) ", opts.join(", ")) })
            }
            Dialect::Mysql => {
                if self.verbose {
                    return unknown("verbose");
                }
                match (&self.format, self.analyze) {
                    (Some(f), false) if ["JSON", "TRADITIONAL"].contains(&f.as_str()) => {
                        Ok(format!("EXPLAIN FORMAT={f} "))
                    }
                    (Some(f), _) if !["JSON", "TRADITIONAL"].contains(&f.as_str()) => {
                        Err(Error::ValueError(format!("{f} is not a recognized format.")))
                    }
                    (Some(_), true) => Ok("ANALYZE FORMAT=JSON ".into()),
                    (None, true) => Ok("ANALYZE ".into()),
                    (None, false) => Ok("EXPLAIN ".into()),
                    (Some(f), false) => Ok(format!("EXPLAIN FORMAT={f} ")),
                }
            }
        }
    }
}

/// A model instance with the annotations computed for it.
#[derive(Clone, Debug)]
pub struct Annotated<M> {
    /// The instance.
    pub object: M,
    /// The annotations, by name.
    pub annotations: OwnedRow,
}

impl<M> Annotated<M> {
    /// The annotation `name`, decoded.
    pub fn get<T: orm_backends::FromValue>(&self, name: &str) -> Result<T> {
        let i = (&self.annotations as &dyn orm_backends::Row).column_index(name)?;
        Ok(self.annotations.get(i)?)
    }
}

/// Runs `sql` on a connection of `ex` and calls `each` on every row, in order; the first error
/// `each` returns stops the rows and is returned (see [`Connection::for_each_row`]).
///
/// [`Connection::for_each_row`]: orm_backends::Connection::for_each_row
pub(crate) fn for_each_row<E: Executor + ?Sized>(
    ex: &E,
    sql: &str,
    params: &[Value],
    each: impl FnMut(&dyn orm_backends::Row) -> Result<()>,
) -> Result<()> {
    ex.with_connection(|c| rows_of(c, sql, params, each))
}

/// [`for_each_row`] on a connection already in hand (the deletion collector's).
pub(crate) fn rows_of(
    conn: &mut dyn orm_backends::Connection,
    sql: &str,
    params: &[Value],
    mut each: impl FnMut(&dyn orm_backends::Row) -> Result<()>,
) -> Result<()> {
    let mut failed = None;
    conn.for_each_row(sql, params, &mut |row| match each(row) {
        Ok(()) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    })?;
    failed.map_or(Ok(()), Err)
}

/// Runs `sql` on a connection of `ex` and decodes every row with `decode` into a list; the
/// first error stops the rows and is returned. The hot loop of every `fetch`.
pub(crate) fn collect_rows<T, E: Executor + ?Sized>(
    ex: &E,
    sql: &str,
    params: &[Value],
    mut decode: impl FnMut(&dyn orm_backends::Row) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for_each_row(ex, sql, params, |row| {
        out.push(decode(row)?);
        Ok(())
    })?;
    Ok(out)
}

/// Decodes an instance from the row's first columns (sending the init signals when `init` is
/// given) with its `select_related` objects, which sit in the row where `related` says.
#[inline(always)]
pub(crate) fn decode_selected<M: Model>(
    init: crate::signals::Loader<'_>,
    row: &dyn orm_backends::Row,
    related: &[crate::model::RelatedNode],
) -> Result<M> {
    let mut obj = crate::signals::decode::<M>(init, row)?;
    for node in related {
        crate::model::related::set_related_node(&mut obj, node, row)?;
    }
    Ok(obj)
}

/// A lazy query over model `M`.
///
/// ```
/// # include!("../../doctest_setup.rs");
/// # fn main() -> orm::Result<()> {
/// # let db = setup()?;
/// let recent = Note::objects().filter(Note::title().icontains("RUST")).order_by(["-id"]).limit(10);
/// let notes = recent.fetch(&db)?;     // one query
/// assert_eq!(notes.len(), 2);
/// assert_eq!(Note::objects().filter_path("title__startswith", "Rust")?.count(&db)?, 2);
/// # Ok(()) }
/// ```
pub struct QuerySet<M> {
    pub(crate) query: Query,
    pub(crate) prefetch: Vec<crate::model::Prefetch>,
    pub(crate) chunk_size: usize,
    /// A call refused on this QuerySet (Django raises at once; a builder method cannot return
    /// an error, so evaluation returns it, before any SQL): the message of the `TypeError`.
    pub(crate) refused: Option<Refusal>,
    /// The relation this QuerySet was reached through (`author.posts()`: Post's `author`
    /// field and Ann's key). Objects made through it get that key (Django's related
    /// manager `create`, `get_or_create`, `update_or_create`).
    pub(crate) core: Option<(&'static str, Value)>,
    /// The database named by [`using`](QuerySet::using), when one was.
    pub(crate) using: Option<&'static str>,
    /// The database of the instance it was reached from (see `hinted`).
    pub(crate) hint_db: Option<&'static str>,
    _m: PhantomData<fn() -> M>,
}

/// A refused call's error (see [`QuerySet::filter`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Refusal {
    /// Django's `TypeError`.
    Type(&'static str),
    /// Django's `ValueError`.
    Value(&'static str),
}

impl<M> Clone for QuerySet<M> {
    fn clone(&self) -> Self {
        QuerySet {
            query: self.query.clone(),
            prefetch: self.prefetch.clone(),
            chunk_size: self.chunk_size,
            refused: self.refused,
            core: self.core.clone(),
            using: self.using,
            hint_db: self.hint_db,
            _m: PhantomData,
        }
    }
}

/// A relation path for `select_related`/`prefetch_related`: a string (`"author__country"`)
/// or a typed handle (`Post::author()`).
pub trait RelationPath {
    /// The path, joined with `__`.
    fn relation_path(&self) -> String;
}

impl RelationPath for &str {
    fn relation_path(&self) -> String {
        (*self).to_owned()
    }
}

impl RelationPath for String {
    fn relation_path(&self) -> String {
        self.clone()
    }
}

impl<M, T: ToValue> RelationPath for crate::Field<M, T> {
    fn relation_path(&self) -> String {
        self.path_string()
    }
}

impl<M: Model> fmt::Debug for QuerySet<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_sql(Dialect::Sqlite) {
            Ok((sql, params)) => write!(f, "<QuerySet {sql} {params:?}>"),
            Err(e) => write!(f, "<QuerySet (invalid: {e})>"),
        }
    }
}

impl<M: Model> Default for QuerySet<M> {
    fn default() -> Self {
        Self::new()
    }
}

fn check_name(meta: &'static crate::ModelMeta, annotations: &[(String, Expr)], name: &str) -> Result<()> {
    let node = Node::Leaf(parse_leaf(&format!("{name}__isnull"), Value::Bool(false))?);
    check_node(meta, annotations, &node)
}

impl<M: Model> QuerySet<M> {
    /// All rows of the model, in its default ordering.
    pub fn new() -> Self {
        QuerySet {
            query: Query::default(),
            prefetch: Vec::new(),
            chunk_size: 0,
            refused: None,
            core: None,
            using: None,
            hint_db: None,
            _m: PhantomData,
        }
    }

    /// Evaluates on the database called `alias` of the [`Databases`](crate::Databases) set
    /// it is handed, instead of the one the routers would choose (Django's `using()`).
    /// Handed a single [`Database`](crate::Database), the alias must be that database's
    /// (`ConnectionDoesNotExist` otherwise, at evaluation). Lazy, like every builder method.
    ///
    /// ```
    /// use orm::prelude::*;
    /// # #[derive(Model, Debug, Clone)]
    /// # #[orm(app = "lib")]
    /// # pub struct Book { pub id: Auto<i64>, #[orm(max_length = 50)] pub title: String }
    /// # fn main() -> orm::Result<()> {
    /// let dbs = Databases::builder()
    ///     .database("default", "sqlite::memory:")?
    ///     .database("archive", "sqlite::memory:")?
    ///     .build()?;
    /// for alias in dbs.aliases() {
    ///     Schema::new().model::<Book>().create_all(dbs.get(alias)?)?;
    /// }
    /// Book { id: Auto::unset(), title: "Old".into() }.save_using(&dbs, "archive")?;
    /// assert_eq!(Book::objects().using("archive").count(&dbs)?, 1);
    /// assert_eq!(Book::objects().count(&dbs)?, 0);   // no router: "default"
    /// let err = Book::objects().using("nope").count(&dbs).unwrap_err();
    /// assert!(err.to_string().starts_with("The connection 'nope' doesn't exist."));
    /// # Ok(()) }
    /// ```
    pub fn using(mut self, alias: &str) -> Self {
        self.using = Some(crate::databases::intern_lenient(alias));
        self
    }

    /// The database named by [`using`](Self::using), if one was (Django's `QuerySet.db`
    /// before routing).
    pub fn db(&self) -> Option<&'static str> {
        self.using
    }

    /// Loads these forward relations (`ForeignKey`/`OneToOne`, nested with `__`) in the same
    /// query with joins, filling each relation's cache so reading it costs no query.
    ///
    /// Refused after `values()` (Django's TypeError); an unknown or non-relational name is a
    /// `FieldError` listing the choices.
    pub fn select_related<I: IntoIterator<Item = P>, P: RelationPath>(mut self, paths: I) -> Self {
        self.refuse_after_values();
        for p in paths {
            let p = p.relation_path();
            if !self.query.select_related.contains(&p) {
                self.query.select_related.push(p);
            }
        }
        self
    }

    /// Follows every non-null forward `ForeignKey`/`OneToOne`, recursively, five levels deep:
    /// Django's `select_related()` with no arguments (nullable relations are left out, as
    /// there), those declared on multi-table parents included.
    ///
    /// ```
    /// # include!("../../doctest_setup.rs");
    /// # fn main() -> orm::Result<()> {
    /// # let db = setup()?;
    /// let notes = Note::objects().select_related_all().fetch(&db)?;
    /// assert_eq!(notes.len(), 3);
    /// # Ok(()) }
    /// ```
    pub fn select_related_all(self) -> Self {
        fn walk(meta: &'static crate::ModelMeta, prefix: &str, depth: usize, out: &mut Vec<String>) {
            // The model's own fields, then those its multi-table parents declare.
            let mut metas = vec![meta.concrete()];
            while let Some(p) = metas.last().and_then(|m| m.parent()) {
                metas.push(p);
            }
            for f in metas.iter().flat_map(|m| m.fields.iter()) {
                let Some(rel) = f.relation.filter(|r| !r.parent_link && !f.null) else { continue };
                let path = if prefix.is_empty() { f.name.to_owned() } else { format!("{prefix}__{}", f.name) };
                out.push(path.clone());
                if depth < 5 {
                    walk((rel.target)(), &path, depth + 1, out);
                }
            }
        }
        let mut paths = Vec::new();
        walk(M::meta(), "", 1, &mut paths);
        // Only the leaves: a nested path selects the relations on its way.
        let leaves: Vec<String> =
            paths.iter().filter(|p| !paths.iter().any(|q| q.starts_with(&format!("{p}__")))).cloned().collect();
        self.select_related(leaves)
    }

    /// Forgets every `select_related` path (Django's `select_related(None)`).
    pub fn select_related_none(mut self) -> Self {
        self.query.select_related.clear();
        self
    }

    /// Forgets every `prefetch_related` lookup (Django's `prefetch_related(None)`).
    pub fn prefetch_related_none(mut self) -> Self {
        self.prefetch.clear();
        self
    }

    fn refuse_after_values(&mut self) {
        if self.query.values.is_some() && self.refused.is_none() {
            self.refused = Some(Refusal::Type("Cannot call select_related() after .values() or .values_list()"));
        }
    }

    /// How many rows [`iter`](Self::iter) decodes at a time (default 1), and how many
    /// PostgreSQL fetches per round trip. Rows always arrive as a stream (SQLite steps the
    /// statement, MySQL reads the socket with backpressure, PostgreSQL reads a portal
    /// `chunk_size` rows at a time (default 2000, as Django's server-side cursors do for
    /// `iterator()`) outside a transaction, and the socket with backpressure inside one), so
    /// memory is bounded by about this many rows either way; a larger chunk only batches the
    /// decoding. With `prefetch_related`, each chunk's relations are prefetched before it is
    /// handed out (Django 4.1+), and a chunk size must be given.
    ///
    /// A size of 0 is refused (Django's "Chunk size must be strictly positive.", a
    /// `ValueError`, returned when the QuerySet is evaluated).
    pub fn chunk_size(mut self, n: usize) -> Self {
        if n == 0 && self.refused.is_none() {
            self.refused = Some(Refusal::Value("Chunk size must be strictly positive."));
        }
        self.chunk_size = n.max(1);
        self
    }

    /// After the main query, loads these relations (reverse foreign keys, many-to-many, forward
    /// keys; nested with `__`) with one extra query per level, filling the instances' caches.
    /// Reverse relations are cached in a `Reverse<T>` field named after the relation.
    pub fn prefetch_related<I: IntoIterator<Item = P>, P: Into<crate::model::Prefetch>>(mut self, paths: I) -> Self {
        self.prefetch.extend(paths.into_iter().map(Into::into));
        self
    }

    pub(crate) fn into_query(self) -> Query {
        self.query
    }

    /// A copy (Django's `all()`).
    pub fn all(&self) -> Self {
        self.clone()
    }

    /// Keeps rows matching `q`.
    ///
    /// After a slice this is refused (evaluation returns [`Error::TypeError`], "Cannot filter a
    /// query once a slice has been taken.", before any SQL), as in Django.
    pub fn filter(mut self, q: Q<M>) -> Self {
        self.refuse_if_sliced("Cannot filter a query once a slice has been taken.");
        self.query.filters.push(q.node);
        self
    }

    /// Drops rows matching `q` (NULL comparisons follow Django: rows where the field is NULL
    /// are kept).
    /// Refused after a slice, as [`filter`](Self::filter) is.
    pub fn exclude(mut self, q: Q<M>) -> Self {
        self.refuse_if_sliced("Cannot filter a query once a slice has been taken.");
        self.query.filters.push(Node::Not(Box::new(q.node)));
        self
    }

    /// Keeps rows matching a Django-style path (`"title__icontains"`), checked against the
    /// model now: an unknown field or lookup is a `FieldError` naming it.
    pub fn filter_path(self, path: &str, value: impl Into<Value>) -> Result<Self> {
        let leaf = Node::Leaf(parse_leaf(path, value.into())?);
        check_node(M::meta(), &self.query.annotations, &leaf)?;
        Ok(self.filter(Q::from_node(leaf)))
    }

    /// Drops rows matching a Django-style path, checked now.
    pub fn exclude_path(self, path: &str, value: impl Into<Value>) -> Result<Self> {
        let leaf = Node::Leaf(parse_leaf(path, value.into())?);
        check_node(M::meta(), &self.query.annotations, &leaf)?;
        Ok(self.exclude(Q::from_node(leaf)))
    }

    /// Orders by these terms (`"-published"`, `Post::title().asc()`), replacing the model's
    /// default ordering. An empty list clears ordering. Refused after a slice ("Cannot
    /// reorder a query once a slice has been taken.").
    pub fn order_by<I, O>(mut self, terms: I) -> Self
    where
        I: IntoIterator<Item = O>,
        O: Into<OrderBy>,
    {
        self.refuse_if_sliced("Cannot reorder a query once a slice has been taken.");
        self.query.order = Some(terms.into_iter().map(Into::into).collect());
        self
    }

    /// Orders by string terms, checked against the model now.
    pub fn order_by_path<'s, I: IntoIterator<Item = &'s str>>(self, terms: I) -> Result<Self> {
        let terms: Vec<OrderBy> = terms.into_iter().map(OrderBy::from).collect();
        for t in &terms {
            check_name(M::meta(), &self.query.annotations, &t.path)?;
        }
        Ok(self.order_by(terms))
    }

    /// Reverses the ordering (the explicit one, else the model's; by primary key when the model
    /// has none). Refused after a slice.
    pub fn reverse(mut self) -> Self {
        self.refuse_if_sliced("Cannot reverse a query once a slice has been taken.");
        let current: Vec<OrderBy> = match &self.query.order {
            Some(o) => o.clone(),
            None if !M::meta().ordering.is_empty() => M::meta().ordering.iter().map(|s| OrderBy::from(*s)).collect(),
            None => vec![OrderBy::asc("pk")],
        };
        self.query.order = Some(current.iter().map(OrderBy::reversed).collect());
        self
    }

    /// At most `n` rows (SQL `LIMIT`; the QuerySet is sliced from then on).
    pub fn limit(mut self, n: u64) -> Self {
        self.query.limit = Some(n);
        self
    }

    /// Skips `n` rows (SQL `OFFSET`; the QuerySet is sliced from then on).
    pub fn offset(mut self, n: u64) -> Self {
        self.query.offset = n;
        self
    }

    /// Rows `range` of the result, as Python's `qs[a:b]`, `qs[a:]` and `qs[:b]`; slices
    /// compose as Django's do (`slice(2..).slice(0..2)` is rows 3–4, and a slice never
    /// reaches past the one it is taken from). An empty slice runs no query.
    ///
    /// ```
    /// # include!("../../doctest_setup.rs");
    /// # fn main() -> orm::Result<()> {
    /// # let db = setup()?;
    /// let all = Note::objects().order_by(["id"]).values(["id"]).fetch_flat::<i64>(&db)?;
    /// let some = Note::objects().order_by(["id"]).slice(1..).slice(0..1).values(["id"]).fetch_flat::<i64>(&db)?;
    /// assert_eq!(some, &all[1..2]);
    /// # Ok(()) }
    /// ```
    pub fn slice(mut self, range: impl std::ops::RangeBounds<u64>) -> Self {
        use std::ops::Bound;
        let low = self.query.offset;
        let high = self.query.limit.map(|n| low.saturating_add(n));
        let start = match range.start_bound() {
            Bound::Included(&a) => a,
            Bound::Excluded(&a) => a.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&b) => Some(b.saturating_add(1)),
            Bound::Excluded(&b) => Some(b),
            Bound::Unbounded => None,
        };
        // Django's `set_limits`: both marks relative to the current low mark, clamped to the
        // current high mark.
        let new_high = match (end, high) {
            (Some(e), Some(h)) => Some(h.min(low.saturating_add(e))),
            (Some(e), None) => Some(low.saturating_add(e)),
            (None, h) => h,
        };
        let new_low = match new_high {
            Some(h) => h.min(low.saturating_add(start)),
            None => low.saturating_add(start),
        };
        self.query.offset = new_low;
        self.query.limit = new_high.map(|h| h.saturating_sub(new_low));
        self
    }

    /// Has a slice (`slice`, `limit`, `offset`) been taken?
    pub fn is_sliced(&self) -> bool {
        self.query.limit.is_some() || self.query.offset > 0
    }

    /// `SELECT DISTINCT`. Refused after a slice, as in Django.
    pub fn distinct(mut self) -> Self {
        self.refuse_if_sliced("Cannot create distinct fields once a slice has been taken.");
        self.query.distinct = true;
        self
    }

    fn refuse_if_sliced(&mut self, message: &'static str) {
        if self.is_sliced() && self.refused.is_none() {
            self.refused = Some(Refusal::Type(message));
        }
    }

    /// The error of a call refused on this QuerySet, if one was (see [`filter`](Self::filter)).
    pub(crate) fn check(&self) -> Result<()> {
        match self.refused {
            Some(Refusal::Type(message)) => Err(Error::TypeError(message.into())),
            Some(Refusal::Value(message)) => Err(Error::ValueError(message.into())),
            None => Ok(()),
        }
    }

    /// Leaves these [`Deferred`](crate::Deferred) fields unloaded (Django's `defer()`); a path
    /// through a `select_related` relation (`"author__bio"`) defers the related model's field.
    /// Naming a field that is not `Deferred<T>` is a `FieldError` when the query runs.
    pub fn defer<'s, I: IntoIterator<Item = &'s str>>(mut self, fields: I) -> Self {
        self.query.defer.extend(fields.into_iter().map(str::to_owned));
        self
    }

    /// Loads only these fields of the model's [`Deferred`](crate::Deferred) ones, and every
    /// plain field (Django's `only()`; it replaces earlier `only()` and `defer()` calls, a
    /// later `defer()` leaves more out).
    pub fn only<'s, I: IntoIterator<Item = &'s str>>(mut self, fields: I) -> Self {
        self.query.only = Some(fields.into_iter().map(str::to_owned).collect());
        self.query.defer.clear();
        self
    }

    /// A QuerySet that matches nothing (and sends no query when evaluated).
    pub fn none(mut self) -> Self {
        self.query.filters.push(Node::Const(false));
        self
    }

    /// Adds a computed column `name` (readable through [`fetch_annotated`](Self::fetch_annotated)
    /// and `values()`, usable in filters and ordering; an aggregate groups the rows).
    ///
    /// Across a multi-valued relation, an aggregate counts the related rows that the filters
    /// before it kept, while a filter after it filters the groups without changing what was
    /// counted (each gets its own join), as in Django.
    pub fn annotate(mut self, name: &str, expr: impl Into<Expr>) -> Self {
        self.query.annotation_at.resize(self.query.annotations.len(), usize::MAX);
        self.query.annotation_at.push(self.query.filters.len());
        self.query.annotations.push((name.to_owned(), expr.into()));
        self
    }

    /// An expression usable in filters, ordering and `update()` under `name`, but not selected
    /// (Django's `alias()`: cheaper than `annotate()` when the value itself is not wanted;
    /// `values()` of it is a `FieldError`, as in Django).
    ///
    /// ```
    /// # include!("../../doctest_setup.rs");
    /// # fn main() -> orm::Result<()> {
    /// # let db = setup()?;
    /// use orm::expressions::functions::Length;
    /// let long = Note::objects().alias("len", Length::new(Note::title())).filter(Q::path("len__gt", 9)?).count(&db)?;
    /// assert_eq!(long, 1);
    /// # Ok(()) }
    /// ```
    pub fn alias(self, name: &str, expr: impl Into<Expr>) -> Self {
        let mut qs = self.annotate(name, expr);
        qs.query.hidden.push(name.to_owned());
        qs
    }

    /// `SELECT DISTINCT ON (fields)` (PostgreSQL; Django's `distinct(*fields)`): one row per
    /// distinct value of the fields, the first in the ordering, which must start with them.
    /// Elsewhere it is Django's `NotSupportedError`.
    pub fn distinct_on<'s, I: IntoIterator<Item = &'s str>>(mut self, fields: I) -> Self {
        self.refuse_if_sliced("Cannot create distinct fields once a slice has been taken.");
        self.query.distinct_on = fields.into_iter().map(str::to_owned).collect();
        self
    }

    /// Selects only these fields or annotations; evaluate with
    /// [`fetch_values`](Self::fetch_values), [`fetch_lists`](Self::fetch_lists) or
    /// [`fetch_flat`](Self::fetch_flat). Followed by `annotate` with an aggregate, it groups by
    /// these fields (Django's `values(...).annotate(...)`).
    pub fn values<'s, I: IntoIterator<Item = &'s str>>(mut self, fields: I) -> Self {
        self.query.values = Some(fields.into_iter().map(str::to_owned).collect());
        self.query.values_from = self.query.annotations.len();
        self
    }

    /// Locks the selected rows until the transaction ends (`SELECT … FOR UPDATE`, with
    /// `NOWAIT` or `SKIP LOCKED` as `options` name them) on PostgreSQL and MySQL. SQLite has
    /// no row locks: there the clause is left out, and a transaction's writes are serialised
    /// by the database lock (transactions begin `IMMEDIATE`).
    ///
    /// As in Django, evaluating it outside a transaction is a
    /// [`TransactionManagementError`](Error::TransactionManagementError) before any SQL, on
    /// every backend (SQLite included, so code that forgot its transaction fails in tests
    /// too); `nowait` with `skip_locked` is an [`Error::ValueError`].
    ///
    /// ```
    /// # include!("../../doctest_setup.rs");
    /// # fn main() -> orm::Result<()> {
    /// # let db = setup()?;
    /// use orm::ForUpdate;
    /// let locked = Note::objects().select_for_update(ForUpdate::new().skip_locked());
    /// assert!(locked.fetch(&db).is_err(), "not in a transaction");
    /// let n = db.atomic(|tx| Ok(locked.fetch(tx)?.len()))?;
    /// assert_eq!(n, 3);
    /// # Ok(()) }
    /// ```
    pub fn select_for_update(mut self, options: ForUpdate) -> Self {
        if options.nowait && options.skip_locked && self.refused.is_none() {
            self.refused = Some(Refusal::Value("The nowait option cannot be used with skip_locked."));
        }
        self.query.for_update = Some(options);
        self
    }

    /// Django refuses to run a locking query outside a transaction: checked without SQL.
    fn check_lock(&self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        if self.query.for_update.is_none() || self.is_none() {
            return Ok(());
        }
        let depth = ex.with_connection(|c| Ok::<_, Error>(c.transaction_depth()))?;
        if depth == 0 {
            return Err(Error::TransactionManagementError(orm_backends::Error::new(
                orm_backends::ErrorKind::TransactionManagement,
                "select_for_update cannot be used outside of a transaction.",
            )));
        }
        Ok(())
    }

    /// Can this QuerySet match no row whatever the data (`none()`, `pk__in=[]`, an `in` list of
    /// NULLs)? Then every evaluation answers without a query, as Django's `EmptyResultSet`.
    pub(crate) fn is_none(&self) -> bool {
        self.query.limit == Some(0) || self.query.filters.iter().any(|n| n.constant() == Some(false))
    }

    /// The SQL and parameters this QuerySet would run on `dialect`.
    pub fn to_sql(&self, dialect: Dialect) -> Result<(String, Vec<Value>)> {
        self.check()?;
        let select = if self.query.values.is_some() { Select::Values } else { Select::Model };
        let s = compile_select(M::meta(), dialect, &self.query, select)?;
        Ok((s.sql.to_string(), s.params))
    }

    /// Runs the query and decodes every row.
    pub fn fetch(&self, ex: &(impl Executor + ?Sized)) -> Result<Vec<M>> {
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), self.using, self.hint_db, |db| self.fetch(db))
        {
            return r;
        }
        self.check()?;
        self.check_lock(ex)?;
        if self.is_none() {
            return Ok(Vec::new());
        }
        let stmt = compile_select(M::meta(), ex.dialect(), &self.query, Select::Model)?;
        let init = crate::signals::init_hub::<M, _>(ex);
        let mut out = collect_rows(ex, &stmt.sql, &stmt.params, |row| decode_selected::<M>(init, row, &stmt.related))?;
        if !self.prefetch.is_empty() {
            prefetch::prefetch_path(&mut out, &self.prefetch, ex)?;
        }
        Ok(out)
    }

    /// Runs the query LEFT JOINed with the objects `relation` leads to (a reverse foreign
    /// key such as `"posts"`, a forward foreign key or one-to-one, or a many-to-many): one
    /// query, one `(object, related)` pair per row of the join, and `(object, None)` for an
    /// object with no related row. The join's rows come in this QuerySet's order; an object
    /// with several related rows appears once per row.
    ///
    /// Unlike [`prefetch_related`](Self::prefetch_related), which groups the related objects
    /// under each object with a second query, this keeps SQL's flat shape (Diesel's
    /// `left_join` into `(User, Option<Post>)`). `R` must be the model the relation leads to;
    /// init signals are sent for the objects of this QuerySet, not for the joined ones (as
    /// with `select_related`).
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Clone)]
    /// #[orm(app = "lib")]
    /// pub struct Author { pub id: Auto<i64>, #[orm(max_length = 50)] pub name: String }
    ///
    /// #[derive(Model, Debug, Clone)]
    /// #[orm(app = "lib")]
    /// pub struct Book {
    ///     pub id: Auto<i64>,
    ///     #[orm(related_name = "books")] pub author: ForeignKey<Author>,
    ///     #[orm(max_length = 50)] pub title: String,
    /// }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::connect("sqlite::memory:")?;
    /// Schema::new().model::<Author>().model::<Book>().create_all(&db)?;
    /// let ann = Author { id: Auto::unset(), name: "Ann".into() }.create(&db)?;
    /// Author { id: Auto::unset(), name: "Bob".into() }.create(&db)?;
    /// for title in ["A", "B"] {
    ///     Book { id: Auto::unset(), author: ForeignKey::to(&ann)?, title: title.into() }.create(&db)?;
    /// }
    /// // SELECT author.…, book.… FROM author LEFT OUTER JOIN book ON … ORDER BY name, title
    /// let rows: Vec<(Author, Option<Book>)> =
    ///     Author::objects().order_by(["name", "books__title"]).fetch_left_join("books", &db)?;
    /// let flat: Vec<(&str, Option<&str>)> =
    ///     rows.iter().map(|(a, b)| (a.name.as_str(), b.as_ref().map(|b| b.title.as_str()))).collect();
    /// assert_eq!(flat, [("Ann", Some("A")), ("Ann", Some("B")), ("Bob", None)]);
    /// # Ok(()) }
    /// ```
    pub fn fetch_left_join<R: Model>(
        &self,
        relation: &str,
        ex: &(impl Executor + ?Sized),
    ) -> Result<Vec<(M, Option<R>)>> {
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), self.using, self.hint_db, |db| {
            self.fetch_left_join::<R>(relation, db)
        }) {
            return r;
        }
        let meta = M::meta();
        match crate::sql::relation_target(meta, relation) {
            Some(t) if std::ptr::eq(t, R::meta()) => {}
            Some(t) => {
                return Err(Error::field_error(format!(
                    "`{relation}` of {} leads to {}, not {}",
                    meta.label(),
                    t.label(),
                    R::meta().label()
                )))
            }
            None => {
                return Err(Error::field_error(format!(
                    "`{relation}` is not a relation of {}: it cannot be left-joined",
                    meta.label()
                )))
            }
        }
        self.check()?;
        self.check_lock(ex)?;
        if self.is_none() {
            return Ok(Vec::new());
        }
        let stmt = crate::sql::compile_select_joined(meta, ex.dialect(), &self.query, Select::Model, Some(relation))?;
        let offset = stmt.joined.expect("a left join selects the related columns");
        let rmeta = R::meta();
        let init = crate::signals::init_hub::<M, _>(ex);
        collect_rows(ex, &stmt.sql, &stmt.params, |row| {
            let obj = decode_selected::<M>(init, row, &stmt.related)?;
            // No related row: the outer join filled its columns with NULLs. (A cell that
            // cannot be read is not NULL: decoding the related object then says why.)
            let null = |i: usize| matches!(row.cell(offset + i).get(), CellRef::Null);
            let absent = match rmeta.kind {
                crate::model::meta::ModelKind::Concrete => null(rmeta.pk),
                _ => (0..rmeta.width()).all(null),
            };
            let related = if absent { None } else { Some(R::from_row(row, offset)?) };
            Ok((obj, related))
        })
    }

    /// Runs the query and returns each instance with its annotations.
    pub fn fetch_annotated(&self, ex: &(impl Executor + ?Sized)) -> Result<Vec<Annotated<M>>> {
        if let Some(r) =
            crate::databases::route_read_for(ex, M::meta(), self.using, self.hint_db, |db| self.fetch_annotated(db))
        {
            return r;
        }
        self.check()?;
        self.check_lock(ex)?;
        if self.is_none() {
            return Ok(Vec::new());
        }
        let stmt = compile_select(M::meta(), ex.dialect(), &self.query, Select::Model)?;
        let n_fields = M::meta().width();
        let names: Arc<[String]> = self
            .query
            .annotations
            .iter()
            .filter(|(n, _)| !self.query.hidden.contains(n))
            .map(|(n, _)| n.clone())
            .collect();
        let init = crate::signals::init_hub::<M, _>(ex);
        collect_rows(ex, &stmt.sql, &stmt.params, |row| {
            let object = crate::signals::decode::<M>(init, row)?;
            let values = (0..names.len()).map(|i| row.value(n_fields + i)).collect::<orm_backends::Result<_>>()?;
            Ok(Annotated { object, annotations: OwnedRow::new(names.clone(), values) })
        })
    }

    /// Rows PostgreSQL fetches per round trip when streaming: the chunk size given, else
    /// [`orm_backends::FETCH_GROWING`] (2000 first, as Django's default `chunk_size`, then
    /// twice as many each round trip up to 8192).
    fn fetch_rows(&self) -> usize {
        if self.chunk_size == 0 {
            orm_backends::FETCH_GROWING
        } else {
            self.chunk_size
        }
    }

    /// Streams the matching rows as model instances, decoded as they arrive (SQLite steps
    /// the statement, PostgreSQL reads a portal [`chunk_size`](Self::chunk_size) rows per
    /// round trip outside a transaction and the result as the server sends it inside one,
    /// MySQL reads an unbuffered result). Nothing is cached. The iterator holds its
    /// connection until dropped.
    pub fn iter<'e, E: Executor + ?Sized>(&self, ex: &'e E) -> Result<stream::ModelIter<'e, M>> {
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), self.using, self.hint_db, |db| self.iter(db)) {
            return r;
        }
        self.check()?;
        self.check_lock(ex)?;
        if !self.prefetch.is_empty() && self.chunk_size == 0 {
            return Err(Error::ValueError(
                "chunk_size must be provided when using QuerySet.iterator() after prefetch_related().".into(),
            ));
        }
        if self.is_none() {
            return Ok(stream::ModelIter::empty(ex.checkout()?));
        }
        // The dialect is read before the checkout borrows the connection.
        let stmt = compile_select(M::meta(), ex.dialect(), &self.query, Select::Model)?;
        let checkout = ex.checkout()?;
        let it = stream::ModelIter::new(
            checkout,
            &stmt.sql,
            &stmt.params,
            stmt.related,
            self.chunk_size.max(1),
            self.fetch_rows(),
        )?
        .with_init_signals(crate::signals::init_hub::<M, _>(ex));
        if self.prefetch.is_empty() {
            return Ok(it);
        }
        // Each chunk's prefetch queries run on another connection of the pool while the
        // stream holds this one (inside a transaction, whose one connection the stream holds,
        // they are a Busy error: fetch() there).
        let specs = self.prefetch.clone();
        Ok(it.with_prefetch(Box::new(move |objs: &mut [M]| prefetch::prefetch_path(objs, &specs, ex))))
    }

    /// The rows of a `values()` query (every field and annotation when `values` was not
    /// called), as rows whose columns are named after the fields.
    pub fn fetch_values(&self, ex: &(impl Executor + ?Sized)) -> Result<Vec<OwnedRow>> {
        if let Some(r) =
            crate::databases::route_read_for(ex, M::meta(), self.using, self.hint_db, |db| self.fetch_values(db))
        {
            return r;
        }
        self.check()?;
        self.check_lock(ex)?;
        if self.is_none() {
            return Ok(Vec::new());
        }
        let stmt = compile_select(M::meta(), ex.dialect(), &self.query, Select::Values)?;
        let names: Arc<[String]> = values_names(M::meta(), &self.query).into();
        // SQLite computes decimal expressions as REAL: give them back as decimals, as the
        // other backends do (Django's output_field).
        let decimals = if ex.dialect().features().has_native_decimal {
            Vec::new()
        } else {
            crate::sql::decimal_columns(M::meta(), &self.query)
        };
        collect_rows(ex, &stmt.sql, &stmt.params, |row| {
            let mut values: Vec<Value> = (0..names.len()).map(|i| row.value(i)).collect::<orm_backends::Result<_>>()?;
            for (v, _) in values
                .iter_mut()
                .zip(&decimals)
                .filter(|(v, d)| **d && matches!(v, Value::Float(_) | Value::Int(_) | Value::Text(_)))
            {
                *v = Value::Decimal(<rust_decimal::Decimal as orm_backends::FromValue>::from_value_ref(v.as_ref())?);
            }
            Ok(OwnedRow::new(names.clone(), values))
        })
    }

    /// Streams the rows of a `values()` query (every field and annotation when `values` was
    /// not called) as they arrive, holding the connection until dropped (Django's
    /// `values().iterator()`).
    pub fn iter_values<'e, E: Executor + ?Sized>(&self, ex: &'e E) -> Result<stream::ValuesIter<'e>> {
        if let Some(r) =
            crate::databases::route_read_for(ex, M::meta(), self.using, self.hint_db, |db| self.iter_values(db))
        {
            return r;
        }
        self.check()?;
        self.check_lock(ex)?;
        if self.is_none() {
            return Ok(stream::ValuesIter::empty(ex.checkout()?));
        }
        let stmt = compile_select(M::meta(), ex.dialect(), &self.query, Select::Values)?;
        let names: Arc<[String]> = values_names(M::meta(), &self.query).into();
        stream::ValuesIter::new(ex.checkout()?, &stmt.sql, &stmt.params, names, self.fetch_rows())
    }

    /// Is `obj` among the rows (one `EXISTS` query; Django's `contains()`)? An unsaved
    /// instance is a `ValueError`, a `values()` query a `TypeError`, as in Django.
    pub fn contains(&self, obj: &M, ex: &(impl Executor + ?Sized)) -> Result<bool> {
        if self.query.values.is_some() {
            return Err(Error::TypeError("Cannot call QuerySet.contains() after .values() or .values_list().".into()));
        }
        let pk = obj.pk_value();
        if pk.is_null() {
            return Err(Error::ValueError("QuerySet.contains() cannot be used on unsaved objects.".into()));
        }
        self.clone().filter(Q::from_node(Node::Leaf(parse_leaf("pk", pk)?))).exists(ex)
    }

    /// The distinct dates `field` (a date or datetime) takes, truncated to `kind` (year,
    /// month, week or day), ascending or descending (Django's `dates()`).
    pub fn dates(
        &self,
        field: &str,
        kind: crate::expressions::TruncTo,
        descending: bool,
        ex: &(impl Executor + ?Sized),
    ) -> Result<Vec<chrono::NaiveDate>> {
        use crate::expressions::TruncTo;
        if !matches!(kind, TruncTo::Year | TruncTo::Month | TruncTo::Week | TruncTo::Day) {
            return Err(Error::ValueError("'kind' must be one of 'year', 'month', 'week', or 'day'.".into()));
        }
        let e = crate::expressions::functions::Cast::new(
            crate::expressions::functions::Trunc::new(crate::expressions::F::col(field), kind),
            crate::expressions::CastTo::Date,
        );
        self.distinct_truncated(field, e, descending, ex)
    }

    /// The distinct datetimes `field` takes, truncated to `kind` (year … second), ascending
    /// or descending (Django's `datetimes()`, in UTC).
    pub fn datetimes(
        &self,
        field: &str,
        kind: crate::expressions::TruncTo,
        descending: bool,
        ex: &(impl Executor + ?Sized),
    ) -> Result<Vec<chrono::NaiveDateTime>> {
        let e = crate::expressions::functions::Trunc::new(crate::expressions::F::col(field), kind);
        self.distinct_truncated(field, e, descending, ex)
    }

    fn distinct_truncated<T: orm_backends::FromValue>(
        &self,
        field: &str,
        e: Expr,
        descending: bool,
        ex: &(impl Executor + ?Sized),
    ) -> Result<Vec<T>> {
        let order = if descending { OrderBy::desc("datefield") } else { OrderBy::asc("datefield") };
        self.clone()
            .filter(Q::from_node(Node::Leaf(parse_leaf(&format!("{field}__isnull"), Value::Bool(false))?)))
            .annotate("datefield", e)
            .values(["datefield"])
            .distinct()
            .order_by([order])
            .fetch_flat(ex)
    }

    /// The rows of a `values()` query as lists (Django's `values_list`).
    pub fn fetch_lists(&self, ex: &(impl Executor + ?Sized)) -> Result<Vec<Vec<Value>>> {
        Ok(self.fetch_values(ex)?.into_iter().map(OwnedRow::into_values).collect())
    }

    /// The one column of a `values([field])` query, decoded (Django's `values_list(flat=True)`).
    pub fn fetch_flat<T: orm_backends::FromValue>(&self, ex: &(impl Executor + ?Sized)) -> Result<Vec<T>> {
        let names = values_names(M::meta(), &self.query);
        if names.len() != 1 {
            return Err(Error::field_error(format!(
                "fetch_flat needs exactly one column; this query selects {}",
                names.join(", ")
            )));
        }
        self.fetch_values(ex)?.into_iter().map(|r| Ok(r.get::<T>(0)?)).collect()
    }

    /// Aggregates over the whole QuerySet: one row whose columns are named as given.
    ///
    /// ```
    /// # include!("../../doctest_setup.rs");
    /// # fn main() -> orm::Result<()> {
    /// # let db = setup()?;
    /// use orm::expressions::{Count, Max};
    /// let row = Note::objects().aggregate([("n", Count::all()), ("last", Max::of("id"))], &db)?;
    /// assert_eq!(row.get::<i64>(0)?, 3);
    /// # Ok(()) }
    /// ```
    pub fn aggregate<I, S>(&self, aggregates: I, ex: &(impl Executor + ?Sized)) -> Result<OwnedRow>
    where
        I: IntoIterator<Item = (S, Aggregate)>,
        S: Into<String>,
    {
        self.check()?;
        let mut q = self.query.clone();
        let raw: Vec<(String, Aggregate)> = aggregates.into_iter().map(|(n, a)| (n.into(), a)).collect();
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), self.using, self.hint_db, |db| {
            self.aggregate(raw.clone(), db)
        }) {
            return r;
        }
        let aggs: Vec<(String, Expr)> = raw.iter().map(|(n, a)| (n.clone(), Expr::from(a.clone()))).collect();
        let names: Arc<[String]> = aggs.iter().map(|(n, _)| n.clone()).collect();
        if aggs.is_empty() {
            // Django: `aggregate()` with nothing to compute is `{}`, without a query.
            return Ok(OwnedRow::new(names, Vec::new()));
        }
        if self.is_none() {
            // Over no rows: NULL for each aggregate, 0 for a count, without a query.
            let values = aggs.iter().map(|(_, e)| e.empty_result()).collect();
            return Ok(OwnedRow::new(names, values));
        }
        if crate::sql::aggregate_needs_subquery(&q) {
            let stmt = crate::sql::compile_aggregate_over_subquery(M::meta(), ex.dialect(), &q, &raw)?;
            let row = ex.with_connection(|c| c.query_opt(&stmt.sql, &stmt.params))?;
            let row = row.ok_or_else(|| Error::field_error("an aggregate query returned no row"))?;
            return Ok(OwnedRow::new(names, row.into_values()));
        }
        q.values = Some(aggs.iter().map(|(n, _)| n.clone()).collect());
        q.values_from = q.annotations.len();
        q.annotations.extend(aggs);
        q.order = Some(Vec::new());
        let sub = QuerySet::<M> { query: q, ..QuerySet::new() };
        let mut rows = sub.fetch_values(ex)?;
        rows.pop().ok_or_else(|| Error::field_error("an aggregate query returned no row"))
    }

    /// The one row matching: `DoesNotExist` for none, `MultipleObjectsReturned` (with the
    /// count) for several.
    pub fn get(&self, ex: &(impl Executor + ?Sized)) -> Result<M> {
        // One query of at most 21 rows, as Django: the ordering does not matter then (a
        // sliced QuerySet keeps its own, which decides what the slice holds).
        let mut qs = self.clone();
        if !qs.is_sliced() && qs.refused.is_none() {
            qs = qs.order_by(Vec::<OrderBy>::new());
        }
        let mut rows = qs.slice(..21).fetch(ex)?;
        match rows.len() {
            0 => Err(Error::DoesNotExist { model: M::meta().label() }),
            1 => Ok(rows.pop().expect("one row")),
            n => Err(Error::MultipleObjectsReturned { model: M::meta().label(), count: n as u64 }),
        }
    }

    /// The row whose primary key is `pk` (one cached statement).
    pub fn get_pk(&self, pk: impl Into<M::Key>, ex: &(impl Executor + ?Sized)) -> Result<M> {
        let pk = pk.into();
        if let Some(r) =
            crate::databases::route_read_for(ex, M::meta(), self.using, self.hint_db, |db| self.get_pk(pk.clone(), db))
        {
            return r;
        }
        let pk = pk.to_value();
        if self.query == Query::default() {
            return by_key::get_by_pk(ex, &pk);
        }
        self.clone().filter(Q::from_node(Node::Leaf(parse_leaf("pk", pk)?))).get(ex)
    }

    fn ordered(&self) -> Self {
        let mut qs = self.clone();
        if qs.query.order.is_none() && M::meta().ordering.is_empty() {
            qs.query.order = Some(vec![OrderBy::asc("pk")]);
        }
        qs
    }

    /// The first row in order (by primary key when unordered), or `None`. Refused on a
    /// sliced QuerySet.
    pub fn first(&self, ex: &(impl Executor + ?Sized)) -> Result<Option<M>> {
        if self.is_sliced() {
            return Err(Error::TypeError("Cannot reorder a query once a slice has been taken.".into()));
        }
        Ok(self.ordered().limit(1).fetch(ex)?.pop())
    }

    /// The last row in order (by primary key when unordered), or `None`. Refused on a
    /// sliced QuerySet ("Cannot reverse a query once a slice has been taken.").
    pub fn last(&self, ex: &(impl Executor + ?Sized)) -> Result<Option<M>> {
        if self.is_sliced() {
            return Err(Error::TypeError("Cannot reverse a query once a slice has been taken.".into()));
        }
        Ok(self.ordered().reverse().limit(1).fetch(ex)?.pop())
    }

    fn check_change(&self) -> Result<()> {
        if self.is_sliced() {
            return Err(Error::TypeError("Cannot change a query once a slice has been taken.".into()));
        }
        Ok(())
    }

    /// The row with the smallest `field` (`DoesNotExist` when empty).
    pub fn earliest(&self, field: &str, ex: &(impl Executor + ?Sized)) -> Result<M> {
        self.first_by(field, OrderBy::asc(field), ex)
    }

    /// The row with the largest `field` (`DoesNotExist` when empty).
    pub fn latest(&self, field: &str, ex: &(impl Executor + ?Sized)) -> Result<M> {
        self.first_by(field, OrderBy::desc(field), ex)
    }

    /// The first row in `order` (over `field`, checked first): `earliest` and `latest`.
    fn first_by(&self, field: &str, order: OrderBy, ex: &(impl Executor + ?Sized)) -> Result<M> {
        self.check_change()?;
        check_name(M::meta(), &self.query.annotations, field)?;
        self.clone()
            .order_by([order])
            .limit(1)
            .fetch(ex)?
            .pop()
            .ok_or_else(|| Error::DoesNotExist { model: M::meta().label() })
    }

    /// The rows whose keys are in `keys`, by key (one query per batch of keys that fits the
    /// backend's parameter limit; none for no keys). Django's `in_bulk(id_list)`; see
    /// [`in_bulk_all`](Self::in_bulk_all) for every row and [`in_bulk_by`](Self::in_bulk_by)
    /// for another unique field. Refused on a sliced QuerySet and after `values()`.
    pub fn in_bulk<K>(
        &self,
        keys: impl IntoIterator<Item = K>,
        ex: &(impl Executor + ?Sized),
    ) -> Result<HashMap<M::Key, M>>
    where
        K: Into<M::Key>,
        M::Key: Eq + Hash,
    {
        let keys: Vec<Value> = keys.into_iter().map(|k| k.into().to_value()).collect();
        self.bulk_by("pk", Some(keys), ex)
    }

    /// Every row, by primary key (Django's `in_bulk()` with no ids).
    pub fn in_bulk_all(&self, ex: &(impl Executor + ?Sized)) -> Result<HashMap<M::Key, M>>
    where
        M::Key: Eq + Hash,
    {
        self.bulk_by("pk", None, ex)
    }

    /// The rows whose unique field `field_name` holds one of `values`, by that field's value
    /// (Django's `in_bulk(values, field_name=...)`); every row when `values` is `None`.
    /// `field_name` must be the primary key or a unique field: anything else is an
    /// [`Error::ValueError`], as in Django, before any SQL.
    ///
    /// ```
    /// # include!("../../doctest_setup.rs");
    /// # fn main() -> orm::Result<()> {
    /// # let db = setup()?;
    /// let by_id = Note::objects().in_bulk_by::<i64>("id", Some(vec![1.into(), 2.into()]), &db)?;
    /// assert_eq!(by_id.len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn in_bulk_by<K>(
        &self,
        field_name: &str,
        values: Option<Vec<Value>>,
        ex: &(impl Executor + ?Sized),
    ) -> Result<HashMap<K, M>>
    where
        K: orm_backends::FromValue + Eq + Hash,
    {
        self.bulk_by(field_name, values, ex)
    }

    fn bulk_by<K>(
        &self,
        field_name: &str,
        values: Option<Vec<Value>>,
        ex: &(impl Executor + ?Sized),
    ) -> Result<HashMap<K, M>>
    where
        K: orm_backends::FromValue + Eq + Hash,
    {
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), self.using, self.hint_db, |db| {
            self.bulk_by::<K>(field_name, values.clone(), db)
        }) {
            return r;
        }
        if self.is_sliced() {
            return Err(Error::TypeError("Cannot use 'limit' or 'offset' with in_bulk().".into()));
        }
        if self.query.values.is_some() {
            return Err(Error::TypeError("in_bulk() cannot be used with values() or values_list().".into()));
        }
        self.check()?;
        let meta = M::meta();
        let index = if field_name == "pk" {
            meta.pk
        } else {
            match meta.field_index(field_name) {
                Some(i) if meta.fields[i].primary_key || meta.fields[i].unique => i,
                Some(_) => {
                    return Err(Error::ValueError(format!(
                        "in_bulk()'s field_name must be a unique field but '{field_name}' isn't."
                    )))
                }
                None => {
                    let node = Node::Leaf(parse_leaf(&format!("{field_name}__isnull"), Value::Bool(false))?);
                    check_node(meta, &self.query.annotations, &node)?;
                    return Err(Error::ValueError(format!(
                        "in_bulk()'s field_name must be a unique field but '{field_name}' isn't."
                    )));
                }
            }
        };
        let name = meta.fields[index].name;
        let mut out = HashMap::new();
        let mut add = |objs: Vec<M>| -> Result<()> {
            for obj in objs {
                let key = K::from_value_ref(obj.field_value(index).as_ref())?;
                out.insert(key, obj);
            }
            Ok(())
        };
        let Some(values) = values else {
            add(self.fetch(ex)?)?;
            return Ok(out);
        };
        let batch = ex.dialect().features().max_query_params.saturating_sub(100).max(1);
        for chunk in values.chunks(batch) {
            let leaf = Node::Leaf(crate::expressions::q::Leaf {
                path: vec![name.into()],
                lookup: crate::expressions::q::Lookup::In,
                operand: crate::expressions::q::Operand::List(chunk.to_vec()),
            });
            add(self.clone().filter(Q::from_node(leaf)).fetch(ex)?)?;
        }
        Ok(out)
    }

    /// How many rows match (`SELECT COUNT(*)`).
    pub fn count(&self, ex: &(impl Executor + ?Sized)) -> Result<u64> {
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), self.using, self.hint_db, |db| self.count(db))
        {
            return r;
        }
        self.check()?;
        if self.is_none() {
            return Ok(0);
        }
        let stmt = compile_select(M::meta(), ex.dialect(), &self.query, Select::Count)?;
        let n: i64 = ex.with_connection(|c| {
            let rows = c.query(&stmt.sql, &stmt.params)?;
            rows[0].get::<i64>(0)
        })?;
        Ok(n.max(0) as u64)
    }

    /// Does any row match?
    pub fn exists(&self, ex: &(impl Executor + ?Sized)) -> Result<bool> {
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), self.using, self.hint_db, |db| self.exists(db))
        {
            return r;
        }
        self.check()?;
        if self.is_none() {
            return Ok(false);
        }
        let stmt = compile_select(M::meta(), ex.dialect(), &self.query, Select::One)?;
        Ok(ex.with_connection(|c| c.query_opt(&stmt.sql, &stmt.params))?.is_some())
    }

    /// `EXPLAIN` (SQLite: `EXPLAIN QUERY PLAN`) of this query, as text.
    pub fn explain(&self, ex: &(impl Executor + ?Sized)) -> Result<String> {
        self.explain_with(&Explain::default(), ex)
    }

    /// The plan with options (Django's `explain(format=…, **options)`): `ANALYZE`, `VERBOSE`
    /// and a format on PostgreSQL, `FORMAT=JSON` on MySQL/MariaDB; SQLite takes none, and an
    /// option a backend lacks is Django's `ValueError` naming it.
    pub fn explain_with(&self, options: &Explain, ex: &(impl Executor + ?Sized)) -> Result<String> {
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), self.using, self.hint_db, |db| {
            self.explain_with(options, db)
        }) {
            return r;
        }
        self.check()?;
        let d = ex.dialect();
        let stmt = compile_select(M::meta(), d, &self.query, Select::Model)?;
        let prefix = options.prefix(d)?;
        let rows = ex.with_connection(|c| c.query(&format!("{prefix}{}", stmt.sql), &stmt.params))?;
        let mut out = Vec::new();
        for r in rows {
            let cells: Vec<String> = r
                .values()
                .iter()
                .map(|v| match v {
                    Value::Text(s) => s.clone(),
                    Value::Null => String::new(),
                    other => format!("{other:?}"),
                })
                .collect();
            out.push(cells.join(" | "));
        }
        Ok(out.join("\n"))
    }

    /// Updates the matching rows in one statement (`UPDATE … SET views = views + 1 WHERE …`);
    /// returns how many rows matched.
    ///
    /// Refused before any SQL on a sliced QuerySet, as in Django: [`Error::TypeError`].
    pub fn update<I>(&self, assignments: I, ex: &(impl Executor + ?Sized)) -> Result<u64>
    where
        I: IntoIterator<Item = Assignment>,
    {
        if self.is_sliced() {
            return Err(Error::TypeError("Cannot update a query once a slice has been taken.".into()));
        }
        self.check()?;
        if self.is_none() {
            return Ok(0);
        }
        let meta = M::meta();
        let assignments: Vec<Assignment> = assignments.into_iter().collect();
        if let Some(t) = crate::databases::write_target(ex, meta, self.using, self.hint_db)? {
            return t.finish(self.update(assignments, t.db));
        }
        if meta.parent().is_some() && assignments.iter().any(|a| meta.field(&a.field).is_none()) {
            return bulk::update_ancestors(self, assignments, ex);
        }
        let mut resolved = Vec::new();
        for a in assignments {
            let f = meta
                .field(&a.field)
                .ok_or_else(|| Error::FieldDoesNotExist { model: meta.label(), field: a.field.clone() })?;
            resolved.push((f, a.value));
        }
        let stmt = compile_update(meta, ex.dialect(), &self.query, &resolved)?;
        Ok(ex.with_connection(|c| c.execute(&stmt.sql, &stmt.params))?)
    }

    /// Runs raw SQL (with `params` bound, never interpolated) and maps each row into a model
    /// by column name: every field's column must be selected, in any order.
    pub fn raw(sql: &str, params: &[Value], ex: &(impl Executor + ?Sized)) -> Result<Vec<M>> {
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), None, None, |db| Self::raw(sql, params, db)) {
            return r;
        }
        let meta = M::meta();
        let init = crate::signals::init_hub::<M, _>(ex);
        ex.with_connection(|c| {
            let rows = c.query(sql, params)?;
            let Some(first) = rows.first() else { return Ok(Vec::new()) };
            let positions: Vec<usize> = meta
                .fields
                .iter()
                .map(|f| {
                    first.columns().iter().position(|c| c == f.column).ok_or_else(|| {
                        Error::field_error(format!(
                            "raw query for {} does not select column `{}` (field `{}`)",
                            meta.label(),
                            f.column,
                            f.name
                        ))
                    })
                })
                .collect::<Result<_>>()?;
            let names: Arc<[String]> = meta.fields.iter().map(|f| f.column.to_owned()).collect();
            rows.into_iter()
                .map(|r| {
                    let values = r.into_values();
                    let ordered = positions.iter().map(|&p| values[p].clone()).collect();
                    crate::signals::decode::<M>(init, &OwnedRow::new(names.clone(), ordered))
                })
                .collect()
        })
    }

    /// This QuerySet as a subquery selecting `field` (for `Q::path_in`).
    pub fn subquery(self, field: &str) -> SubqueryExpr {
        crate::expressions::Subquery::values(self, field)
    }
}

/// A model's default QuerySet: Django's `Model.objects`. Implemented by `#[derive(Model)]`,
/// which makes `objects()` call the function named by `#[orm(manager = …)]` when there is one
/// (a custom default manager: default filters, ordering); otherwise every row. In the prelude.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a model",
    label = "not a model",
    note = "derive it: `#[derive(Model)]`"
)]
pub trait DefaultManager: Model {
    /// The model's default QuerySet (its manager, in Django terms).
    fn objects() -> QuerySet<Self> {
        QuerySet::new()
    }
}

macro_rules! loads_target {
    ($name:ident) => {
        impl<T: DefaultManager> $name<T> {
            /// The related object: from the cache, or loaded with one query and cached.
            pub fn get(&mut self, ex: &(impl Executor + ?Sized)) -> Result<&T> {
                if self.cached().is_none() {
                    let obj = T::objects().get_pk(self.key().clone(), ex)?;
                    self.set_cached(obj);
                }
                Ok(self.cached().expect("just cached"))
            }

            /// Loads the related object without caching it (for `&self` access).
            pub fn fetch(&self, ex: &(impl Executor + ?Sized)) -> Result<T>
            where
                T: Clone,
            {
                match self.cached() {
                    Some(c) => Ok(c.clone()),
                    None => T::objects().get_pk(self.key().clone(), ex),
                }
            }
        }
    };
}

loads_target!(ForeignKey);
loads_target!(OneToOne);
