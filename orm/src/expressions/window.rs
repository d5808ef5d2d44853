//! Window functions (Django's `Window`): a ranking function, a value function or an aggregate
//! computed over a partition of the rows, in an order, optionally over a frame.
//!
//! ```
//! # include!("../../doctest_setup.rs");
//! # fn main() -> orm::Result<()> {
//! # let db = setup()?;
//! use orm::expressions::{functions::RowNumber, Window};
//! let numbered = Window::new(RowNumber::new()).order_by([OrderBy::desc("title")]);
//! let rows = Note::objects().annotate("n", numbered).order_by(["title"]).values(["title", "n"]).fetch_lists(&db)?;
//! assert_eq!(rows[0], vec!["Cooking".into(), 3i64.into()]);
//! # Ok(()) }
//! ```
//!
//! Every backend here has windows (SQLite 3.25+, MariaDB 10.2+, PostgreSQL). A window is not
//! an aggregate: it adds no GROUP BY, and an aggregate inside it (`Window::new(Sum::of("x"))`)
//! is computed per row. Filtering on a window annotation wraps the query in a subquery, as
//! Django 4.2+ does (see `QuerySet::filter`).

use super::{Expr, OrderBy};

/// Which rows a frame counts in: `ROWS` (physical rows) or `RANGE` (peers by the ordering's
/// value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// `ROWS BETWEEN …`
    Rows,
    /// `RANGE BETWEEN …`
    Range,
}

/// One end of a frame (Django's `start`/`end`: `None` is unbounded, 0 the current row, a
/// negative number preceding, a positive one following).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameBound {
    /// `UNBOUNDED PRECEDING`
    UnboundedPreceding,
    /// `n PRECEDING`
    Preceding(u32),
    /// `CURRENT ROW`
    CurrentRow,
    /// `n FOLLOWING`
    Following(u32),
    /// `UNBOUNDED FOLLOWING`
    UnboundedFollowing,
}

impl FrameBound {
    /// Django's integer form: `None` unbounded (preceding at the start, following at the
    /// end), 0 the current row, `-n` n preceding, `n` n following.
    pub fn from_offset(offset: Option<i64>, start: bool) -> FrameBound {
        match offset {
            None if start => FrameBound::UnboundedPreceding,
            None => FrameBound::UnboundedFollowing,
            Some(0) => FrameBound::CurrentRow,
            Some(n) if n < 0 => FrameBound::Preceding(u32::try_from(n.unsigned_abs()).unwrap_or(u32::MAX)),
            Some(n) => FrameBound::Following(u32::try_from(n).unwrap_or(u32::MAX)),
        }
    }
}

/// A window frame: `ROWS|RANGE BETWEEN start AND end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Rows or range.
    pub kind: FrameKind,
    /// Where the frame starts.
    pub start: FrameBound,
    /// Where it ends.
    pub end: FrameBound,
}

impl Frame {
    /// Django's `RowRange(start, end)`.
    pub fn rows(start: FrameBound, end: FrameBound) -> Frame {
        Frame { kind: FrameKind::Rows, start, end }
    }

    /// Django's `ValueRange(start, end)`.
    pub fn range(start: FrameBound, end: FrameBound) -> Frame {
        Frame { kind: FrameKind::Range, start, end }
    }
}

/// `expression OVER (PARTITION BY … ORDER BY … frame)`.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowExpr {
    /// The function: a window function from [`functions`](super::functions) or an aggregate.
    pub expression: Expr,
    /// `PARTITION BY` these.
    pub partition_by: Vec<Expr>,
    /// `ORDER BY` these, inside the window.
    pub order_by: Vec<OrderBy>,
    /// The frame, if any.
    pub frame: Option<Frame>,
}

impl WindowExpr {
    /// Partitioned by these expressions (fields: `F::col("dept")` or typed handles).
    pub fn partition_by<I: IntoIterator<Item = E>, E: Into<Expr>>(mut self, exprs: I) -> Self {
        self.partition_by = exprs.into_iter().map(Into::into).collect();
        self
    }

    /// Ordered inside the window (`OrderBy::desc("salary")`, `"-salary"`).
    pub fn order_by<I: IntoIterator<Item = O>, O: Into<OrderBy>>(mut self, terms: I) -> Self {
        self.order_by = terms.into_iter().map(Into::into).collect();
        self
    }

    /// Over this frame.
    pub fn frame(mut self, frame: Frame) -> Self {
        self.frame = Some(frame);
        self
    }
}

impl From<WindowExpr> for Expr {
    fn from(w: WindowExpr) -> Expr {
        Expr::Window(Box::new(w))
    }
}

/// Django's `Window`.
#[derive(Debug, Clone, Copy)]
pub struct Window;

impl Window {
    /// A window over every row of the result, unordered; narrow it with
    /// [`WindowExpr::partition_by`], [`WindowExpr::order_by`] and [`WindowExpr::frame`].
    #[allow(clippy::new_ret_no_self)]
    pub fn new(expression: impl Into<Expr>) -> WindowExpr {
        WindowExpr { expression: expression.into(), partition_by: Vec::new(), order_by: Vec::new(), frame: None }
    }
}
