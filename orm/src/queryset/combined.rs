//! Set operations on QuerySets (Django's `union`, `intersection`, `difference`):
//! [`CombinedQuerySet`].
//!
//! Django allows only slicing, `count()`, `exists()`, `get()`, `order_by()`, `values()` and
//! `values_list()` after a set operation and raises `NotSupportedError` for the rest
//! (`filter()`, `annotate()`, `select_related()`, …). Here a combined query is its own type
//! with exactly those methods, so the rest does not compile. What can only be checked when
//! the SQL is built is refused with [`Error::NotSupportedError`]: an ordering term naming no
//! selected column, a side with `select_related` or `select_for_update`.
//!
//! ```
//! # include!("../../doctest_setup.rs");
//! # fn main() -> orm::Result<()> {
//! # let db = setup()?;
//! let rust = Note::objects().filter(Note::title().startswith("Rust"));
//! let cooking = Note::objects().filter(Note::title().eq("Cooking"));
//! let both = rust.clone().union(cooking).order_by(["-title"]);
//! let titles: Vec<String> = both.fetch(&db)?.into_iter().map(|n| n.title).collect();
//! assert_eq!(titles, ["Rust in production", "Rust ORMs", "Cooking"]);
//! assert_eq!(rust.clone().intersection(Note::objects().filter(Note::title().contains("ORM"))).count(&db)?, 1);
//! # Ok(()) }
//! ```

use super::{collect_rows, decode_selected, QuerySet};
use crate::error::{Error, Result};
use crate::expressions::query::{Arm, Combinator, Compound};
use crate::expressions::OrderBy;
use crate::model::Model;
use crate::sql::{compile_compound, values_names, Select};
use orm_backends::{Dialect, Executor, OwnedRow, Value};
use std::marker::PhantomData;
use std::sync::Arc;

/// The result of [`QuerySet::union`], [`QuerySet::intersection`] or
/// [`QuerySet::difference`]: lazy like a QuerySet, with the methods Django allows after a set
/// operation.
pub struct CombinedQuerySet<M> {
    pub(crate) compound: Compound,
    /// `none()` was called.
    none: bool,
    /// The database the first side names with `using()` (Django evaluates a combination on
    /// the first QuerySet's database).
    using: Option<&'static str>,
    _m: PhantomData<fn() -> M>,
}

impl<M> Clone for CombinedQuerySet<M> {
    fn clone(&self) -> Self {
        CombinedQuerySet { compound: self.compound.clone(), none: self.none, using: self.using, _m: PhantomData }
    }
}

/// Can this side give no row, without asking (`none()`, `pk__in=[]`, an empty slice)?
fn arm_is_empty(a: &Arm) -> bool {
    match a {
        Arm::Query(q) => q.limit == Some(0) || q.filters.iter().any(|n| n.constant() == Some(false)),
        Arm::Compound(c) => is_empty(c),
    }
}

/// Does the set operation give no row whatever the data (so it sends no query, as Django)?
fn is_empty(c: &Compound) -> bool {
    c.limit == Some(0)
        || match c.op {
            Combinator::Union | Combinator::UnionAll => c.arms.iter().all(arm_is_empty),
            Combinator::Intersection => c.arms.iter().any(arm_is_empty),
            Combinator::Difference => c.arms.first().is_some_and(arm_is_empty),
        }
}

impl<M: Model> std::fmt::Debug for CombinedQuerySet<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_sql(Dialect::Sqlite) {
            Ok((sql, params)) => write!(f, "<CombinedQuerySet {sql} {params:?}>"),
            Err(e) => write!(f, "<CombinedQuerySet (invalid: {e})>"),
        }
    }
}

fn arm<M>(qs: impl Combinable<M>) -> Arm {
    qs.into_side().0
}

/// One side of a set operation, opaque (see [`Combinable`]).
#[doc(hidden)]
pub struct Side(Arm);

/// What a set operation takes as its other side: a [`QuerySet`] or a [`CombinedQuerySet`] of
/// the same model (Django's `qs1.union(qs1.union(qs2))`).
pub trait Combinable<M> {
    /// The side, for the compiler.
    #[doc(hidden)]
    fn into_side(self) -> Side;
}

impl<M> Combinable<M> for QuerySet<M> {
    fn into_side(self) -> Side {
        Side(Arm::Query(Box::new(self.query)))
    }
}

impl<M> Combinable<M> for CombinedQuerySet<M> {
    fn into_side(self) -> Side {
        let mut c = self.compound;
        if self.none {
            c.limit = Some(0);
        }
        Side(Arm::Compound(Box::new(c)))
    }
}

impl<M: Model> QuerySet<M> {
    fn combine(self, op: Combinator, other: impl Combinable<M>) -> CombinedQuerySet<M> {
        let using = self.using;
        let mut c = CombinedQuerySet::new(op, vec![arm(self), arm(other)]);
        c.using = using;
        c
    }

    /// `UNION`: the rows of either, each once (Django's `union()`).
    pub fn union(self, other: impl Combinable<M>) -> CombinedQuerySet<M> {
        self.combine(Combinator::Union, other)
    }

    /// `UNION ALL`: the rows of both, duplicates kept (Django's `union(all=True)`).
    pub fn union_all(self, other: impl Combinable<M>) -> CombinedQuerySet<M> {
        self.combine(Combinator::UnionAll, other)
    }

    /// `INTERSECT`: the rows in both (Django's `intersection()`).
    pub fn intersection(self, other: impl Combinable<M>) -> CombinedQuerySet<M> {
        self.combine(Combinator::Intersection, other)
    }

    /// `EXCEPT`: the rows of this one not in `other` (Django's `difference()`).
    pub fn difference(self, other: impl Combinable<M>) -> CombinedQuerySet<M> {
        self.combine(Combinator::Difference, other)
    }
}

impl<M: Model> CombinedQuerySet<M> {
    fn new(op: Combinator, arms: Vec<Arm>) -> Self {
        CombinedQuerySet {
            compound: Compound { op, arms, order: Vec::new(), limit: None, offset: 0, values: None },
            none: false,
            using: None,
            _m: PhantomData,
        }
    }

    /// This set operation, then `op` with `other`: the same operator extends the list of
    /// sides; another one applies to the result so far (`(a ∪ b) ∩ c`).
    fn then(self, op: Combinator, other: impl Combinable<M>) -> Self {
        let none = self.none;
        let c = &self.compound;
        let plain = c.order.is_empty() && c.limit.is_none() && c.offset == 0 && c.values.is_none();
        if c.op == op && plain && !none {
            let mut next = self;
            next.compound.arms.push(arm(other));
            return next;
        }
        let using = self.using;
        let mut next = CombinedQuerySet::new(op, vec![Arm::Compound(Box::new(self.compound)), arm(other)]);
        next.using = using;
        if none {
            // `none()` empties this side of the next operation.
            if let Some(Arm::Compound(c)) = next.compound.arms.first_mut() {
                c.limit = Some(0);
            }
        }
        next
    }

    /// A combination that gives no row and sends no query (Django's `none()`).
    pub fn none(mut self) -> Self {
        self.none = true;
        self
    }

    /// Gives no row without asking the database?
    fn empty(&self) -> bool {
        self.none || is_empty(&self.compound)
    }

    /// `… UNION other`.
    pub fn union(self, other: impl Combinable<M>) -> Self {
        self.then(Combinator::Union, other)
    }

    /// `… UNION ALL other`.
    pub fn union_all(self, other: impl Combinable<M>) -> Self {
        self.then(Combinator::UnionAll, other)
    }

    /// `… INTERSECT other`.
    pub fn intersection(self, other: impl Combinable<M>) -> Self {
        self.then(Combinator::Intersection, other)
    }

    /// `… EXCEPT other`.
    pub fn difference(self, other: impl Combinable<M>) -> Self {
        self.then(Combinator::Difference, other)
    }

    /// Orders the combined rows by selected columns (field names, `pk`, annotation or
    /// `values()` names; `"-name"` descending). Replaces any earlier ordering.
    pub fn order_by<I, O>(mut self, terms: I) -> Self
    where
        I: IntoIterator<Item = O>,
        O: Into<OrderBy>,
    {
        self.compound.order = terms.into_iter().map(Into::into).collect();
        self
    }

    /// The rows in `range` of the combined result (`LIMIT`/`OFFSET`), as
    /// [`QuerySet::slice`].
    pub fn slice(mut self, range: impl std::ops::RangeBounds<u64>) -> Self {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => Some(e + 1),
            Bound::Excluded(&e) => Some(e),
            Bound::Unbounded => None,
        };
        let (old_start, old_limit) = (self.compound.offset, self.compound.limit);
        let new_start = old_start + start;
        let mut limit = end.map(|e| e.saturating_sub(start));
        if let Some(l) = old_limit {
            let left = l.saturating_sub(start);
            limit = Some(limit.map_or(left, |x| x.min(left)));
        }
        self.compound.offset = new_start;
        self.compound.limit = limit;
        self
    }

    /// Selects these columns from every side (Django's `values()` / `values_list()` after a
    /// set operation; a side that already selected its columns keeps them).
    pub fn values<'s, I: IntoIterator<Item = &'s str>>(mut self, fields: I) -> Self {
        self.compound.values = Some(fields.into_iter().map(str::to_owned).collect());
        self
    }

    /// The SQL and parameters this would run on `dialect`.
    pub fn to_sql(&self, dialect: Dialect) -> Result<(String, Vec<Value>)> {
        let select = if self.compound.values.is_some() { Select::Values } else { Select::Model };
        let s = compile_compound(M::meta(), dialect, &self.compound, select)?;
        Ok((s.sql.to_string(), s.params))
    }

    /// Runs it and decodes every row as a model instance.
    pub fn fetch(&self, ex: &(impl Executor + ?Sized)) -> Result<Vec<M>> {
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), self.using, None, |db| self.fetch(db)) {
            return r;
        }
        if self.compound.values.is_some() {
            return Err(Error::TypeError("fetch() reads model rows: use fetch_values() after values()".into()));
        }
        if self.empty() {
            return Ok(Vec::new());
        }
        let stmt = compile_compound(M::meta(), ex.dialect(), &self.compound, Select::Model)?;
        let init = crate::signals::init_hub::<M, _>(ex);
        collect_rows(ex, &stmt.sql, &stmt.params, |row| decode_selected::<M>(init, row, &[]))
    }

    /// Runs it and returns the rows by column name (every field when `values` was not called).
    pub fn fetch_values(&self, ex: &(impl Executor + ?Sized)) -> Result<Vec<OwnedRow>> {
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), self.using, None, |db| self.fetch_values(db)) {
            return r;
        }
        if self.empty() {
            return Ok(Vec::new());
        }
        let mut c = self.compound.clone();
        if c.values.is_none() {
            let first = c.first_query();
            c.values = Some(values_names(M::meta(), first));
        }
        let names: Arc<[String]> = c.values.clone().unwrap_or_default().into();
        let stmt = compile_compound(M::meta(), ex.dialect(), &c, Select::Values)?;
        collect_rows(ex, &stmt.sql, &stmt.params, |row| {
            let values = (0..names.len()).map(|i| row.value(i)).collect::<orm_backends::Result<_>>()?;
            Ok(OwnedRow::new(names.clone(), values))
        })
    }

    /// The one column of a `values([field])` combination, decoded (`values_list(flat=True)`).
    pub fn fetch_flat<T: orm_backends::FromValue>(&self, ex: &(impl Executor + ?Sized)) -> Result<Vec<T>> {
        match &self.compound.values {
            Some(v) if v.len() == 1 => {}
            _ => return Err(Error::field_error("fetch_flat needs values() with exactly one column")),
        }
        self.fetch_values(ex)?.into_iter().map(|r| Ok(r.get::<T>(0)?)).collect()
    }

    /// How many rows the combination gives (`SELECT COUNT(*) FROM (…)`).
    pub fn count(&self, ex: &(impl Executor + ?Sized)) -> Result<u64> {
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), self.using, None, |db| self.count(db)) {
            return r;
        }
        if self.empty() {
            return Ok(0);
        }
        let stmt = compile_compound(M::meta(), ex.dialect(), &self.compound, Select::Count)?;
        let mut n = collect_rows(ex, &stmt.sql, &stmt.params, |row| Ok(row.get::<i64>(0)?))?;
        Ok(n.pop().unwrap_or(0).max(0) as u64)
    }

    /// Does the combination give any row?
    pub fn exists(&self, ex: &(impl Executor + ?Sized)) -> Result<bool> {
        if let Some(r) = crate::databases::route_read_for(ex, M::meta(), self.using, None, |db| self.exists(db)) {
            return r;
        }
        if self.empty() {
            return Ok(false);
        }
        let stmt = compile_compound(M::meta(), ex.dialect(), &self.compound, Select::One)?;
        Ok(!collect_rows(ex, &stmt.sql, &stmt.params, |_| Ok(()))?.is_empty())
    }

    /// The one row: `DoesNotExist` for none, `MultipleObjectsReturned` for several (reads
    /// at most 21, as [`QuerySet::get`]).
    pub fn get(&self, ex: &(impl Executor + ?Sized)) -> Result<M> {
        let mut rows = self.clone().slice(..21).fetch(ex)?;
        match rows.len() {
            0 => Err(Error::DoesNotExist { model: M::meta().label() }),
            1 => Ok(rows.pop().expect("one row")),
            n => Err(Error::MultipleObjectsReturned { model: M::meta().label(), count: n as u64 }),
        }
    }

    /// The first row in the combination's order (by primary key when unordered, as
    /// Django's `first()`), or `None`.
    pub fn first(&self, ex: &(impl Executor + ?Sized)) -> Result<Option<M>> {
        let mut qs = self.clone();
        if qs.compound.order.is_empty() {
            qs.compound.order = vec![OrderBy::asc("pk")];
        }
        Ok(qs.slice(..1).fetch(ex)?.pop())
    }
}
