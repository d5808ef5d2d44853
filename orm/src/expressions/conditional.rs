//! Conditional expressions: [`Case`] and [`When`] (Django's `Case(When(…, then=…),
//! default=…)`), usable wherever an expression is: `annotate`, `filter` (as a boolean
//! condition or a lookup's right-hand side), `order_by`, `update` and inside aggregates.
//!
//! ```
//! # include!("../../doctest_setup.rs");
//! # fn main() -> orm::Result<()> {
//! # let db = setup()?;
//! use orm::expressions::{Case, When};
//! // Three notes: "Rust ORMs", "Rust in production", "Cooking".
//! let topic = Case::new([When::new(Note::title().startswith("Rust"), "rust")]).default("other");
//! let rows = Note::objects().annotate("topic", topic).order_by(["id"]).values(["topic"]).fetch_flat::<String>(&db)?;
//! assert_eq!(rows, ["rust", "rust", "other"]);
//! # Ok(()) }
//! ```
//!
//! ## Departures from Django
//!
//! - A `then` or `default` given as text is a value, not a field name: Django reads
//!   `When(…, then="integer")` as `F("integer")`; here `then` takes any [`Expr`], so a field is
//!   `F::col("integer")` or a typed handle, and `"integer"` is the text.
//! - The output type is what the row is read as (`get::<T>`); on PostgreSQL, where a
//!   parameter's type must be known, values in `then` and `default` are bound with their own
//!   type (`CAST($1 AS BIGINT)`), as Django's `output_field` would have them.

use super::q::{Node, Q};
use super::Expr;

/// One branch of a [`Case`]: a condition and the value it gives.
#[derive(Clone, Debug, PartialEq)]
pub struct When {
    pub(crate) condition: Node,
    pub(crate) then: Expr,
}

impl When {
    /// `WHEN condition THEN then`: the condition is a [`Q`] (lookups, `&`, `|`, `!`, typed
    /// handles), `then` a value or an expression.
    pub fn new<M>(condition: Q<M>, then: impl Into<Expr>) -> Self {
        When { condition: condition.node, then: then.into() }
    }
}

/// `CASE WHEN … THEN … [ELSE …] END`, as built by [`Case::new`].
#[derive(Clone, Debug, PartialEq)]
pub struct CaseExpr {
    /// The branches, tried in order.
    pub whens: Vec<When>,
    /// What no branch matched gives (NULL when `None`).
    pub default: Option<Expr>,
}

impl CaseExpr {
    /// The expression: `CASE` with these branches.
    pub fn default(mut self, value: impl Into<Expr>) -> Expr {
        self.default = Some(value.into());
        Expr::Case(Box::new(self))
    }

    /// Every `then` and the default, for walks over the expression tree.
    pub(crate) fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.whens.iter().map(|w| &w.then).chain(self.default.as_ref())
    }
}

impl From<CaseExpr> for Expr {
    fn from(c: CaseExpr) -> Expr {
        Expr::Case(Box::new(c))
    }
}

/// Django's `Case`: the first [`When`] whose condition holds gives the value.
#[derive(Debug, Clone, Copy)]
pub struct Case;

impl Case {
    /// The branches; finish with [`CaseExpr::default`], or use it as it is (no default: NULL).
    /// With no branch at all, the `CASE` is its default (Django renders the default alone).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(whens: impl IntoIterator<Item = When>) -> CaseExpr {
        CaseExpr { whens: whens.into_iter().collect(), default: None }
    }
}

impl<M> Q<M> {
    /// A condition from a boolean expression: a [`Case`] giving `true`/`false`, an
    /// [`Exists`](super::Exists), or a boolean field (`filter(Q::expr(case))`, Django's
    /// conditional expressions in `filter()`).
    pub fn expr(e: impl Into<Expr>) -> Self {
        Q::from_node(Node::Expr(e.into()))
    }
}
