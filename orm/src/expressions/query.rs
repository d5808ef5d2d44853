//! The query tree a QuerySet holds: plain data (filters, ordering, slice, annotations …)
//! that the compiler (`sql`) reads. It lives with the expressions because a subquery is an
//! expression that holds one.

use super::q::Node;
use super::{Expr, OrderBy};

/// The options of [`QuerySet::select_for_update`](crate::QuerySet::select_for_update),
/// named (Django's keyword arguments): `ForUpdate::new()` waits for locked rows,
/// `.nowait()` fails at once instead, `.skip_locked()` leaves them out. The two together are
/// refused (Django's "The nowait option cannot be used with skip_locked.").
///
/// ```
/// use orm::ForUpdate;
/// let opts = ForUpdate::new().skip_locked();
/// assert!(opts.is_skip_locked() && !opts.is_nowait());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForUpdate {
    pub(crate) nowait: bool,
    pub(crate) skip_locked: bool,
    pub(crate) of: Vec<String>,
    pub(crate) no_key: bool,
}

impl ForUpdate {
    /// Lock the rows, waiting for rows another transaction holds (`FOR UPDATE`).
    pub fn new() -> Self {
        ForUpdate::default()
    }

    /// Fail at once on a row another transaction holds (`FOR UPDATE NOWAIT`).
    pub fn nowait(mut self) -> Self {
        self.nowait = true;
        self
    }

    /// Leave out the rows another transaction holds (`FOR UPDATE SKIP LOCKED`).
    pub fn skip_locked(mut self) -> Self {
        self.skip_locked = true;
        self
    }

    /// Lock only the rows of these tables: `"self"` for the model's own, or a relation path
    /// the query joins (`"author"`), as Django's `of=("self", "author")`. PostgreSQL only
    /// (MariaDB has no `FOR UPDATE OF`: `NotSupportedError`); SQLite, which locks the whole
    /// database, ignores it as it ignores the lock.
    pub fn of<'s, I: IntoIterator<Item = &'s str>>(mut self, relations: I) -> Self {
        self.of = relations.into_iter().map(str::to_owned).collect();
        self
    }

    /// `FOR NO KEY UPDATE` (PostgreSQL's weaker lock that lets inserts referencing the rows
    /// through a foreign key proceed; Django's `no_key=True`); `NotSupportedError` on MariaDB.
    pub fn no_key(mut self) -> Self {
        self.no_key = true;
        self
    }

    /// Is `nowait` set?
    pub fn is_nowait(&self) -> bool {
        self.nowait
    }

    /// Is `skip_locked` set?
    pub fn is_skip_locked(&self) -> bool {
        self.skip_locked
    }
}

/// The parts of a SELECT that a QuerySet holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Query {
    pub filters: Vec<Node>,
    pub order: Option<Vec<OrderBy>>,
    pub limit: Option<u64>,
    pub offset: u64,
    pub distinct: bool,
    pub annotations: Vec<(String, Expr)>,
    /// How many filters there were when each annotation was added (missing: after every
    /// filter). An annotation reuses the joins of the filters before it (so a filter on a
    /// multi-valued relation before `annotate(Count(…))` restricts what is counted), never
    /// those of later ones (Django's join reuse).
    pub annotation_at: Vec<usize>,
    pub values: Option<Vec<String>>,
    /// How many annotations there were when `values()` was called: those after it are
    /// selected (and grouped by, when not aggregates); those before only if `values()` named
    /// them (Django's annotation mask).
    pub values_from: usize,
    pub for_update: Option<ForUpdate>,
    pub select_related: Vec<String>,
    /// Fields `defer()` named (paths through `select_related` relations allowed).
    pub defer: Vec<String>,
    /// Fields `only()` named: every other `Deferred` field is left unloaded.
    pub only: Option<Vec<String>>,
    /// Annotations made by `alias()`: usable in filters and ordering, never selected.
    pub hidden: Vec<String>,
    /// `DISTINCT ON` these fields (PostgreSQL).
    pub distinct_on: Vec<String>,
}

/// A set operation (Django's `union`, `intersection`, `difference`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Combinator {
    /// `UNION`: rows of either, duplicates removed.
    Union,
    /// `UNION ALL`: rows of either, duplicates kept.
    UnionAll,
    /// `INTERSECT`: rows of both.
    Intersection,
    /// `EXCEPT`: rows of the first not in the others.
    Difference,
}

/// One side of a set operation: a query, or another set operation (kept apart, so
/// `a.union(b).intersection(c)` means `(a ∪ b) ∩ c` on every backend, whatever its operator
/// precedence).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arm {
    Query(Box<Query>),
    Compound(Box<Compound>),
}

/// A set operation over queries of one model, with what may follow it: ordering by selected
/// columns, a slice and the selected columns (Django's rule: nothing else).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Compound {
    pub op: Combinator,
    pub arms: Vec<Arm>,
    pub order: Vec<OrderBy>,
    pub limit: Option<u64>,
    pub offset: u64,
    pub values: Option<Vec<String>>,
}

impl Compound {
    /// The first plain query of the set operation: its columns are the result's.
    pub(crate) fn first_query(&self) -> &Query {
        match self.arms.first() {
            Some(Arm::Query(q)) => q,
            Some(Arm::Compound(inner)) => inner.first_query(),
            None => unreachable!("a compound has at least two sides"),
        }
    }
}
