//! Ordering terms and `update()` assignments: a name or an expression, and which way.

use super::Expr;

/// One ordering term: a field path or an expression, ascending or descending.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderBy {
    /// The field path (`published`, an annotation's name), when ordering by a name.
    pub path: String,
    /// The expression, when ordering by one (`F::col("a") + F::col("b")`).
    pub expr: Option<Expr>,
    /// Descending?
    pub descending: bool,
}

impl OrderBy {
    /// Ascending on `path`.
    pub fn asc(path: impl Into<String>) -> Self {
        OrderBy { path: path.into(), expr: None, descending: false }
    }

    /// Descending on `path`.
    pub fn desc(path: impl Into<String>) -> Self {
        OrderBy { path: path.into(), expr: None, descending: true }
    }

    /// On an expression.
    pub fn expr(e: Expr, descending: bool) -> Self {
        OrderBy { path: String::new(), expr: Some(e), descending }
    }

    pub(crate) fn reversed(&self) -> Self {
        OrderBy { descending: !self.descending, ..self.clone() }
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
