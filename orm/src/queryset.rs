//! [`QuerySet`]: lazy, chainable queries. Building one touches no database; evaluation
//! methods take an executor (a [`Database`](crate::Database), a pool or a transaction) and
//! run exactly one statement.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::q::{parse_leaf, Node, Q};
use crate::sql::{check_node, compile_delete, compile_select, Query, Select};
use orm_backends::{Dialect, Executor, ToValue, Value};
use std::fmt;
use std::marker::PhantomData;

/// One ordering term: a field path, ascending or descending.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrderBy {
    /// The field path (`published`, `author__name`).
    pub path: String,
    /// Descending?
    pub descending: bool,
}

impl OrderBy {
    /// Ascending on `path`.
    pub fn asc(path: impl Into<String>) -> Self {
        OrderBy { path: path.into(), descending: false }
    }

    /// Descending on `path`.
    pub fn desc(path: impl Into<String>) -> Self {
        OrderBy { path: path.into(), descending: true }
    }
}

impl From<&str> for OrderBy {
    /// `"-published"` is descending, `"title"` ascending.
    fn from(s: &str) -> Self {
        match s.strip_prefix('-') {
            Some(rest) => OrderBy::desc(rest),
            None => OrderBy::asc(s),
        }
    }
}

impl From<String> for OrderBy {
    fn from(s: String) -> Self {
        OrderBy::from(s.as_str())
    }
}

/// A lazy query over model `M`.
///
/// ```
/// # include!("../doctest_setup.rs");
/// # fn main() -> orm::Result<()> {
/// # let db = setup()?;
/// let recent = Note::objects().filter(Note::title().icontains("RUST")).order_by(["-id"]).limit(10);
/// let notes = recent.fetch(&db)?;     // one query
/// assert_eq!(notes.len(), 2);
/// assert_eq!(Note::objects().filter_path("title__startswith", "Rust")?.count(&db)?, 2);
/// # Ok(()) }
/// ```
pub struct QuerySet<M> {
    query: Query,
    _m: PhantomData<fn() -> M>,
}

impl<M> Clone for QuerySet<M> {
    fn clone(&self) -> Self {
        QuerySet { query: self.query.clone(), _m: PhantomData }
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

impl<M: Model> QuerySet<M> {
    /// All rows of the model, in its default ordering.
    pub fn new() -> Self {
        QuerySet { query: Query::default(), _m: PhantomData }
    }

    /// A copy (Django's `all()`).
    pub fn all(&self) -> Self {
        self.clone()
    }

    /// Keeps rows matching `q`.
    pub fn filter(mut self, q: Q<M>) -> Self {
        self.query.filters.push(q.node);
        self
    }

    /// Drops rows matching `q` (NULL comparisons follow Django: rows where the field is NULL
    /// are kept).
    pub fn exclude(mut self, q: Q<M>) -> Self {
        self.query.filters.push(Node::Not(Box::new(q.node)));
        self
    }

    /// Keeps rows matching a Django-style path (`"title__icontains"`), checked against the
    /// model now: an unknown field or lookup is a `FieldError` naming it.
    pub fn filter_path(self, path: &str, value: impl Into<Value>) -> Result<Self> {
        let leaf = Node::Leaf(parse_leaf(path, value.into())?);
        check_node(M::meta(), &leaf)?;
        Ok(self.filter(Q::from_node(leaf)))
    }

    /// Drops rows matching a Django-style path, checked now.
    pub fn exclude_path(self, path: &str, value: impl Into<Value>) -> Result<Self> {
        let leaf = Node::Leaf(parse_leaf(path, value.into())?);
        check_node(M::meta(), &leaf)?;
        Ok(self.exclude(Q::from_node(leaf)))
    }

    /// Orders by these terms (`"-published"`, `Post::title().asc()`), replacing the model's
    /// default ordering. An empty list clears ordering.
    pub fn order_by<I, O>(mut self, terms: I) -> Self
    where
        I: IntoIterator<Item = O>,
        O: Into<OrderBy>,
    {
        self.query.order = Some(terms.into_iter().map(Into::into).collect());
        self
    }

    /// At most `n` rows.
    pub fn limit(mut self, n: u64) -> Self {
        self.query.limit = Some(n);
        self
    }

    /// Skips `n` rows.
    pub fn offset(mut self, n: u64) -> Self {
        self.query.offset = n;
        self
    }

    /// Rows `range.start..range.end` of the result (Python's `qs[a:b]`).
    pub fn slice(mut self, range: std::ops::Range<u64>) -> Self {
        self.query.offset = range.start;
        self.query.limit = Some(range.end.saturating_sub(range.start));
        self
    }

    /// `SELECT DISTINCT`.
    pub fn distinct(mut self) -> Self {
        self.query.distinct = true;
        self
    }

    /// A QuerySet that matches nothing (and sends no query when evaluated).
    pub fn none(mut self) -> Self {
        self.query.filters.push(Node::Const(false));
        self
    }

    fn is_none(&self) -> bool {
        self.query.filters.iter().any(|n| matches!(n, Node::Const(false)))
    }

    /// The SQL and parameters this QuerySet would run on `dialect`.
    pub fn to_sql(&self, dialect: Dialect) -> Result<(String, Vec<Value>)> {
        let s = compile_select(M::meta(), dialect, &self.query, Select::Model)?;
        Ok((s.sql, s.params))
    }

    /// Runs the query and decodes every row.
    pub fn fetch(&self, ex: &(impl Executor + ?Sized)) -> Result<Vec<M>> {
        if self.is_none() {
            return Ok(Vec::new());
        }
        let stmt = compile_select(M::meta(), ex.dialect(), &self.query, Select::Model)?;
        ex.with_connection(|c| {
            let mut out = Vec::new();
            let mut stream = c.stream(&stmt.sql, &stmt.params)?;
            while let Some(row) = stream.next_row()? {
                out.push(M::from_row(row, 0)?);
            }
            Ok(out)
        })
    }

    /// Streams the matching rows as model instances, decoded as they arrive (SQLite steps
    /// the statement, PostgreSQL reads the result as the server sends it, MySQL reads an
    /// unbuffered result). Nothing is cached. The iterator holds its connection until dropped.
    pub fn iter<'e, E: Executor + ?Sized>(&self, ex: &'e E) -> Result<crate::stream::ModelIter<'e, M>> {
        let stmt = compile_select(M::meta(), ex.dialect(), &self.query, Select::Model)?;
        let checkout = ex.checkout()?;
        crate::stream::ModelIter::new(checkout, &stmt.sql, &stmt.params)
    }

    /// The one row matching: `DoesNotExist` for none, `MultipleObjectsReturned` (with the
    /// count) for several.
    pub fn get(&self, ex: &(impl Executor + ?Sized)) -> Result<M> {
        let mut rows = self.clone().limit(21).fetch(ex)?;
        match rows.len() {
            0 => Err(Error::DoesNotExist { model: M::meta().label() }),
            1 => Ok(rows.pop().expect("one row")),
            n => {
                let count = if n < 21 { n as u64 } else { self.count(ex)? };
                Err(Error::MultipleObjectsReturned { model: M::meta().label(), count })
            }
        }
    }

    /// The row whose primary key is `pk` (one cached statement).
    pub fn get_pk(&self, pk: impl Into<M::Key>, ex: &(impl Executor + ?Sized)) -> Result<M> {
        let pk = pk.into().to_value();
        if self.query.filters.is_empty() {
            return crate::model::get_by_pk(ex, &pk);
        }
        self.clone().filter(Q::from_node(Node::Leaf(parse_leaf("pk", pk)?))).get(ex)
    }

    /// The first row in order (by primary key when unordered), or `None`.
    pub fn first(&self, ex: &(impl Executor + ?Sized)) -> Result<Option<M>> {
        let mut qs = self.clone();
        if qs.query.order.is_none() && M::meta().ordering.is_empty() {
            qs.query.order = Some(vec![OrderBy::asc("pk")]);
        }
        Ok(qs.limit(1).fetch(ex)?.pop())
    }

    /// How many rows match (`SELECT COUNT(*)`).
    pub fn count(&self, ex: &(impl Executor + ?Sized)) -> Result<u64> {
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
        if self.is_none() {
            return Ok(false);
        }
        let stmt = compile_select(M::meta(), ex.dialect(), &self.query, Select::One)?;
        Ok(ex.with_connection(|c| c.query_opt(&stmt.sql, &stmt.params))?.is_some())
    }

    /// Deletes the matching rows; returns how many.
    pub fn delete(&self, ex: &(impl Executor + ?Sized)) -> Result<u64> {
        if self.is_none() {
            return Ok(0);
        }
        let stmt = compile_delete(M::meta(), ex.dialect(), &self.query)?;
        Ok(ex.with_connection(|c| c.execute(&stmt.sql, &stmt.params))?)
    }
}
