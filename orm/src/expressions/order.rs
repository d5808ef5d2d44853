//! Ordering terms and `update()` assignments: a name or an expression, and which way.

use super::Expr;

/// One ordering term: a field path or an expression, ascending or descending, with where
/// NULLs go.
///
/// A path naming a relation (`"author"`) orders by the related model's own ordering (its
/// `ordering` option, recursively, with the direction applied), or by its key when it has
/// none; `"author_id"` orders by the key column. `"?"` orders at random.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderBy {
    /// The field path (`published`, an annotation's name), when ordering by a name.
    pub path: String,
    /// The expression, when ordering by one (`F::col("a") + F::col("b")`).
    pub expr: Option<Expr>,
    /// Descending?
    pub descending: bool,
    /// Where NULLs go.
    pub nulls: Nulls,
}

/// Where an ordering puts NULLs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Nulls {
    /// As the smallest value, on every backend (SQLite's and MySQL's own rule; PostgreSQL is
    /// told so).
    #[default]
    Smallest,
    /// Before every value, whichever the direction (`NULLS FIRST`; emulated on MySQL).
    First,
    /// After every value, whichever the direction (`NULLS LAST`; emulated on MySQL).
    Last,
}

impl OrderBy {
    /// Ascending on `path`.
    pub fn asc(path: impl Into<String>) -> Self {
        OrderBy { path: path.into(), expr: None, descending: false, nulls: Nulls::Smallest }
    }

    /// Descending on `path`.
    pub fn desc(path: impl Into<String>) -> Self {
        OrderBy { path: path.into(), expr: None, descending: true, nulls: Nulls::Smallest }
    }

    /// On an expression.
    pub fn expr(e: Expr, descending: bool) -> Self {
        OrderBy { path: String::new(), expr: Some(e), descending, nulls: Nulls::Smallest }
    }

    /// At random (Django's `order_by("?")`).
    pub fn random() -> Self {
        OrderBy::asc("?")
    }

    /// NULLs before every value (Django's `nulls_first=True`).
    ///
    /// ```
    /// use orm::OrderBy;
    /// let term = OrderBy::desc("published").nulls_first();
    /// assert_eq!(term.nulls, orm::expressions::Nulls::First);
    /// ```
    pub fn nulls_first(mut self) -> Self {
        self.nulls = Nulls::First;
        self
    }

    /// NULLs after every value (Django's `nulls_last=True`).
    pub fn nulls_last(mut self) -> Self {
        self.nulls = Nulls::Last;
        self
    }

    /// Is this `"?"`, the random ordering?
    pub fn is_random(&self) -> bool {
        self.expr.is_none() && self.path == "?"
    }

    pub(crate) fn reversed(&self) -> Self {
        // Django's reverse() flips the direction and keeps an explicit NULLs placement.
        OrderBy { descending: !self.descending, ..self.clone() }
    }
}

impl From<&str> for OrderBy {
    /// `"-published"` is descending, `"title"` ascending, `"?"` random.
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

/// An assignment of `update()`: a field and its new value or expression.
#[derive(Clone, Debug)]
pub struct Assignment {
    pub(crate) field: String,
    pub(crate) value: Expr,
}

impl Assignment {
    /// `field = value` (an expression such as `F::col("views") + 1`, or a value).
    pub fn new(field: impl Into<String>, value: impl Into<Expr>) -> Self {
        Assignment { field: field.into(), value: value.into() }
    }
}
