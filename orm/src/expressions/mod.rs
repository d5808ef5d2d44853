//! Expressions: [`F`] references to fields, arithmetic, database functions, aggregates
//! ([`Count`], [`Sum`], [`Avg`], [`Min`], [`Max`]) and subqueries ([`Subquery`], [`Exists`],
//! [`OuterRef`]).
//!
//! ```
//! use orm::expressions::{Count, Sum, F};
//! let bumped = F::col("views") + 1;           // in update(), filter(), annotate(), order_by()
//! let total = Sum::of("views").filter(orm::Q::<()>::path("views__gt", 10).unwrap());
//! let n = Count::all();
//! # let _ = (bumped, total, n);
//! ```

mod conditional;
pub mod custom;
pub mod functions;
pub mod handle;
mod order;
pub mod q;
pub(crate) mod query;
mod window;

pub use query::{Combinator, ForUpdate};

pub use conditional::{Case, CaseExpr, When};
pub use functions::{CastTo, TruncTo};
pub use order::{Assignment, Nulls, OrderBy};
pub use q::Transform;
pub use window::{Frame, FrameBound, FrameKind, Window, WindowExpr};

use crate::model::meta::ModelMeta;
use orm_backends::Value;
use q::{Node, Path, Q};
use query::Query;
use std::borrow::Cow;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// An arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// A database function: what [`functions`] builds (Django's `django.db.models.functions`).
/// Each renders per dialect; where a backend lacks one, the SQLite connection registers it
/// (as Django's SQLite backend does) or the compiler emulates it with standard SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Func {
    /// `LOWER(x)`
    Lower,
    /// `UPPER(x)`
    Upper,
    /// Character length of text.
    Length,
    /// The first non-null argument.
    Coalesce,
    /// Absolute value.
    Abs,
    /// `CAST(x AS type)`.
    Cast(CastTo),
    /// The largest argument.
    Greatest,
    /// The smallest argument.
    Least,
    /// `NULLIF(a, b)`.
    NullIf,
    /// Text concatenation, NULLs as empty text (Django's `Concat`/`ConcatPair`).
    Concat,
    /// The first `n` characters.
    Left,
    /// The last `n` characters.
    Right,
    /// `SUBSTR(x, pos[, len])`, 1-based.
    Substr,
    /// The 1-based position of a substring, 0 when absent.
    StrIndex,
    /// Spaces removed at both ends.
    Trim,
    /// Spaces removed at the start.
    LTrim,
    /// Spaces removed at the end.
    RTrim,
    /// Every occurrence of a text replaced.
    Replace,
    /// The characters in reverse order.
    Reverse,
    /// The text repeated `n` times.
    Repeat,
    /// Padded on the left to a length.
    LPad,
    /// Padded on the right to a length.
    RPad,
    /// The MD5 digest of text, as 32 hexadecimal digits.
    Md5,
    /// The SHA-1 digest of text, as 40 hexadecimal digits.
    Sha1,
    /// The SHA-256 digest of text, as 64 hexadecimal digits.
    Sha256,
    /// The smallest integer not below.
    Ceil,
    /// The largest integer not above.
    Floor,
    /// Rounded half away from zero, to a number of decimal places (0 when one argument).
    Round,
    /// The remainder of a division.
    Mod,
    /// `a` to the power `b`.
    Power,
    /// The square root.
    Sqrt,
    /// -1, 0 or 1.
    Sign,
    /// The current date and time (the statement's, in UTC).
    Now,
    /// A part of a date or datetime (Django's `Extract`).
    Extract(Transform),
    /// A date or datetime truncated to a unit (Django's `Trunc`).
    Trunc(TruncTo),
    /// `ROW_NUMBER()` (windows only).
    RowNumber,
    /// `RANK()` (windows only).
    Rank,
    /// `DENSE_RANK()` (windows only).
    DenseRank,
    /// `PERCENT_RANK()` (windows only).
    PercentRank,
    /// `CUME_DIST()` (windows only).
    CumeDist,
    /// `NTILE(n)` (windows only).
    Ntile(u32),
    /// `LAG(x, offset[, default])` (windows only).
    Lag(u32),
    /// `LEAD(x, offset[, default])` (windows only).
    Lead(u32),
    /// `FIRST_VALUE(x)` (windows only).
    FirstValue,
    /// `LAST_VALUE(x)` (windows only).
    LastValue,
    /// `NTH_VALUE(x, n)` (windows only).
    NthValue(u32),
}

impl Func {
    /// A compact code of the function and its parameters, for statement-shape keys (two
    /// functions with the same code render the same SQL).
    pub(crate) fn shape_code(self) -> (u8, u32) {
        let cast = |to: CastTo| match to {
            CastTo::Integer => 0,
            CastTo::Float => 1,
            CastTo::Text => 2,
            CastTo::Decimal { max_digits, decimal_places } => {
                3 | (u32::from(max_digits) << 8) | (u32::from(decimal_places) << 16)
            }
            CastTo::Date => 4,
            CastTo::DateTime => 5,
            CastTo::Time => 6,
        };
        let transform = |t: Transform| match t {
            Transform::Custom(id) => 0x1_0000 | u32::from(id),
            built_in => Transform::ALL.iter().position(|(_, x)| *x == built_in).unwrap_or(0xffff) as u32,
        };
        match self {
            Func::Lower => (0, 0),
            Func::Upper => (1, 0),
            Func::Length => (2, 0),
            Func::Coalesce => (3, 0),
            Func::Abs => (4, 0),
            Func::Cast(to) => (5, cast(to)),
            Func::Greatest => (6, 0),
            Func::Least => (7, 0),
            Func::NullIf => (8, 0),
            Func::Concat => (9, 0),
            Func::Left => (10, 0),
            Func::Right => (11, 0),
            Func::Substr => (12, 0),
            Func::StrIndex => (13, 0),
            Func::Trim => (14, 0),
            Func::LTrim => (15, 0),
            Func::RTrim => (16, 0),
            Func::Replace => (17, 0),
            Func::Reverse => (18, 0),
            Func::Repeat => (19, 0),
            Func::LPad => (20, 0),
            Func::RPad => (21, 0),
            Func::Md5 => (22, 0),
            Func::Sha1 => (23, 0),
            Func::Sha256 => (24, 0),
            Func::Ceil => (25, 0),
            Func::Floor => (26, 0),
            Func::Round => (27, 0),
            Func::Mod => (28, 0),
            Func::Power => (29, 0),
            Func::Sqrt => (30, 0),
            Func::Sign => (31, 0),
            Func::Now => (32, 0),
            Func::Extract(t) => (33, transform(t)),
            Func::Trunc(unit) => (34, unit as u32),
            Func::RowNumber => (35, 0),
            Func::Rank => (36, 0),
            Func::DenseRank => (37, 0),
            Func::PercentRank => (38, 0),
            Func::CumeDist => (39, 0),
            Func::Ntile(n) => (40, n),
            Func::Lag(n) => (41, n),
            Func::Lead(n) => (42, n),
            Func::FirstValue => (43, 0),
            Func::LastValue => (44, 0),
            Func::NthValue(n) => (45, n),
        }
    }

    /// Is this a window function (valid only inside [`Window`])?
    pub fn is_window_only(self) -> bool {
        matches!(
            self,
            Func::RowNumber
                | Func::Rank
                | Func::DenseRank
                | Func::PercentRank
                | Func::CumeDist
                | Func::Ntile(_)
                | Func::Lag(_)
                | Func::Lead(_)
                | Func::FirstValue
                | Func::LastValue
                | Func::NthValue(_)
        )
    }
}

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    /// `COUNT`
    Count,
    /// `SUM`
    Sum,
    /// `AVG`
    Avg,
    /// `MIN`
    Min,
    /// `MAX`
    Max,
    /// `STDDEV_POP`: standard deviation of the population.
    StdDevPop,
    /// `STDDEV_SAMP`: standard deviation of a sample.
    StdDevSamp,
    /// `VAR_POP`: variance of the population.
    VarPop,
    /// `VAR_SAMP`: variance of a sample.
    VarSamp,
}

/// An aggregate: function, argument (`None` = `*`), `DISTINCT`, and a `filter` condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// The function.
    pub func: AggFunc,
    /// The argument; `None` counts rows.
    pub arg: Option<Expr>,
    /// `DISTINCT` values only.
    pub distinct: bool,
    /// Only rows matching this condition are aggregated.
    pub filter: Option<Node>,
    /// What it gives over no rows instead of NULL (Django's `default=`; `COALESCE`).
    pub default: Option<Value>,
}

/// A subquery: a query over another (or the same) model selecting one expression.
#[derive(Clone, Debug)]
///
/// A [`QuerySet`](crate::QuerySet) converts into one (selecting nothing yet).
pub struct SubqueryExpr {
    pub(crate) meta: &'static ModelMeta,
    pub(crate) query: Query,
    pub(crate) select: Option<Expr>,
}

/// A SQL expression.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Expr {
    /// A field of the query's model (or an annotation's name).
    Field(Path),
    /// A field of the enclosing query's model, inside a subquery.
    OuterRef(Path),
    /// A bound value.
    Value(Value),
    /// Arithmetic.
    Binary(Box<Expr>, ArithOp, Box<Expr>),
    /// A function call.
    Func(Func, Vec<Expr>),
    /// An aggregate.
    Aggregate(Box<Aggregate>),
    /// A scalar subquery.
    Subquery(Box<SubqueryExpr>),
    /// `EXISTS (subquery)`.
    Exists(Box<SubqueryExpr>),
    /// `CASE WHEN … THEN … ELSE … END` (Django's `Case`).
    Case(Box<CaseExpr>),
    /// `f(…) OVER (PARTITION BY … ORDER BY … frame)` (Django's `Window`).
    Window(Box<WindowExpr>),
    /// A column of the derived table the compiler wraps a query in (to filter on a window);
    /// made by the compiler only.
    #[doc(hidden)]
    Selected(String),
}

/// Does a condition compare with an aggregate (`When(n__gt=Count(…))`)?
fn node_has_aggregate(n: &Node) -> bool {
    match n {
        Node::And(v) | Node::Or(v) => v.iter().any(node_has_aggregate),
        Node::Not(inner) => node_has_aggregate(inner),
        Node::Expr(e) => e.contains_aggregate(),
        Node::Leaf(l) => matches!(&l.operand, q::Operand::Expr(e) if e.contains_aggregate()),
        Node::Const(_) => false,
    }
}

fn path_of(path: &str) -> Path {
    path.split("__").map(|s| Cow::Owned(s.to_owned())).collect()
}

/// A reference to a field (Django's `F()`).
#[derive(Debug, Clone, Copy)]
pub struct F;

impl F {
    /// The field at `path` (`"views"`, or an annotation's name).
    pub fn col(path: &str) -> Expr {
        Expr::Field(path_of(path))
    }
}

/// A reference to the enclosing query's field, inside a [`Subquery`] or [`Exists`].
#[derive(Debug, Clone, Copy)]
pub struct OuterRef;

impl OuterRef {
    /// The outer query's field at `path`.
    pub fn col(path: &str) -> Expr {
        Expr::OuterRef(path_of(path))
    }
}

impl PartialEq for SubqueryExpr {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.meta, other.meta) && self.query == other.query && self.select == other.select
    }
}

impl Expr {
    /// A bound value.
    pub fn value(v: impl Into<Value>) -> Expr {
        Expr::Value(v.into())
    }

    /// `LOWER(self)`.
    pub fn lower(self) -> Expr {
        Expr::Func(Func::Lower, vec![self])
    }

    /// `UPPER(self)`.
    pub fn upper(self) -> Expr {
        Expr::Func(Func::Upper, vec![self])
    }

    /// The length of text.
    pub fn length(self) -> Expr {
        Expr::Func(Func::Length, vec![self])
    }

    /// `COALESCE(self, other)`.
    pub fn coalesce(self, other: impl Into<Expr>) -> Expr {
        Expr::Func(Func::Coalesce, vec![self, other.into()])
    }

    /// `ABS(self)`.
    pub fn abs(self) -> Expr {
        Expr::Func(Func::Abs, vec![self])
    }

    /// What this aggregate gives over no rows, without asking the database: 0 for a count,
    /// NULL for the others (Django's `empty_result_set_value`).
    pub fn empty_result(&self) -> orm_backends::Value {
        match self {
            Expr::Aggregate(a) if a.default.is_some() => a.default.clone().unwrap_or(orm_backends::Value::Null),
            Expr::Aggregate(a) if a.func == AggFunc::Count => orm_backends::Value::Int(0),
            _ => orm_backends::Value::Null,
        }
    }

    /// Does this expression contain an aggregate (so it belongs in HAVING)?
    pub fn contains_aggregate(&self) -> bool {
        match self {
            Expr::Aggregate(_) => true,
            Expr::Binary(a, _, b) => a.contains_aggregate() || b.contains_aggregate(),
            Expr::Func(_, args) => args.iter().any(Expr::contains_aggregate),
            Expr::Case(c) => {
                c.exprs().any(Expr::contains_aggregate) || c.whens.iter().any(|w| node_has_aggregate(&w.condition))
            }
            // A window's aggregate is computed per row, after grouping: no GROUP BY.
            _ => false,
        }
    }

    /// Does this expression hold a window, directly or through the annotations it names?
    pub(crate) fn refs_window(&self, annotations: &[(String, Expr)]) -> bool {
        fn walk(e: &Expr, annotations: &[(String, Expr)], depth: usize) -> bool {
            match e {
                Expr::Window(_) => true,
                Expr::Binary(a, _, b) => walk(a, annotations, depth) || walk(b, annotations, depth),
                Expr::Func(_, args) => args.iter().any(|a| walk(a, annotations, depth)),
                Expr::Case(c) => c.exprs().any(|x| walk(x, annotations, depth)),
                Expr::Field(path) if path.len() == 1 && depth < 8 => annotations
                    .iter()
                    .find(|(n, _)| n.as_str() == path[0].as_ref())
                    .is_some_and(|(_, inner)| walk(inner, annotations, depth + 1)),
                _ => false,
            }
        }
        walk(self, annotations, 0)
    }

    /// Does this expression hold a window (which only a SELECT list may)?
    pub fn contains_window(&self) -> bool {
        match self {
            Expr::Window(_) => true,
            Expr::Binary(a, _, b) => a.contains_window() || b.contains_window(),
            Expr::Func(_, args) => args.iter().any(Expr::contains_window),
            Expr::Case(c) => c.exprs().any(Expr::contains_window),
            Expr::Aggregate(a) => a.arg.as_ref().is_some_and(Expr::contains_window),
            _ => false,
        }
    }

    /// Ascending order on this expression.
    pub fn asc(self) -> OrderBy {
        OrderBy::expr(self, false)
    }

    /// Descending order on this expression.
    pub fn desc(self) -> OrderBy {
        OrderBy::expr(self, true)
    }
}

macro_rules! into_expr {
    ($($t:ty),*) => {$(
        impl From<$t> for Expr {
            fn from(v: $t) -> Expr {
                Expr::Value(Value::from(v))
            }
        }
    )*};
}
into_expr!(
    i32,
    i64,
    f64,
    bool,
    &str,
    String,
    rust_decimal::Decimal,
    chrono::NaiveDate,
    chrono::NaiveDateTime,
    chrono::NaiveTime
);

impl<M, T: orm_backends::ToValue> From<handle::Field<M, T>> for Expr {
    /// A typed field handle as an expression (`Lower::new(Item::name())`).
    fn from(f: handle::Field<M, T>) -> Expr {
        f.expr()
    }
}

impl<M, T: orm_backends::ToValue> From<&handle::Field<M, T>> for Expr {
    fn from(f: &handle::Field<M, T>) -> Expr {
        f.expr()
    }
}

impl From<Value> for Expr {
    fn from(v: Value) -> Expr {
        Expr::Value(v)
    }
}

macro_rules! arith {
    ($trait:ident, $method:ident, $op:ident) => {
        impl<T: Into<Expr>> $trait<T> for Expr {
            type Output = Expr;
            fn $method(self, rhs: T) -> Expr {
                Expr::Binary(Box::new(self), ArithOp::$op, Box::new(rhs.into()))
            }
        }
    };
}
arith!(Add, add, Add);
arith!(Sub, sub, Sub);
arith!(Mul, mul, Mul);
arith!(Div, div, Div);

/// Arithmetic on the expression builders that are not yet an [`Expr`] (an aggregate, a
/// window, a `Case`): `Window::new(Avg::of("age")).partition_by(…) - F::col("age")`.
macro_rules! builder_arith {
    ($($ty:ty),*) => {$(
        impl<T: Into<Expr>> Add<T> for $ty {
            type Output = Expr;
            fn add(self, rhs: T) -> Expr {
                Expr::from(self) + rhs
            }
        }
        impl<T: Into<Expr>> Sub<T> for $ty {
            type Output = Expr;
            fn sub(self, rhs: T) -> Expr {
                Expr::from(self) - rhs
            }
        }
        impl<T: Into<Expr>> Mul<T> for $ty {
            type Output = Expr;
            fn mul(self, rhs: T) -> Expr {
                Expr::from(self) * rhs
            }
        }
        impl<T: Into<Expr>> Div<T> for $ty {
            type Output = Expr;
            fn div(self, rhs: T) -> Expr {
                Expr::from(self) / rhs
            }
        }
    )*};
}
builder_arith!(Aggregate, WindowExpr, CaseExpr);

impl Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        Expr::Binary(Box::new(Expr::Value(Value::Int(0))), ArithOp::Sub, Box::new(self))
    }
}

impl Aggregate {
    fn new(func: AggFunc, arg: Option<Expr>) -> Self {
        Aggregate { func, arg, distinct: false, filter: None, default: None }
    }
}

impl From<Aggregate> for Expr {
    fn from(a: Aggregate) -> Expr {
        Expr::Aggregate(Box::new(a))
    }
}

impl Aggregate {
    /// The value over no rows (or only NULLs) instead of NULL: Django's `default=`,
    /// rendered `COALESCE(SUM(x), default)`.
    ///
    /// ```
    /// # include!("../../doctest_setup.rs");
    /// # fn main() -> orm::Result<()> {
    /// # let db = setup()?;
    /// use orm::expressions::Sum;
    /// let row = Note::objects().none().aggregate([("s", Sum::of("id").default(0))], &db)?;
    /// assert_eq!(row.get::<i64>(0)?, 0);
    /// # Ok(()) }
    /// ```
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
    }

    /// Aggregates distinct values only.
    pub fn distinct(mut self) -> Self {
        self.distinct = true;
        self
    }

    /// Aggregates only rows matching `q` (rendered as `CASE WHEN … THEN x END`, which every
    /// backend understands).
    pub fn filter<M>(mut self, q: Q<M>) -> Self {
        self.filter = Some(q.node);
        self
    }
}

macro_rules! aggregate_fn {
    ($(#[$doc:meta])* $name:ident, $func:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $name {
            /// Over the field or annotation at `path`.
            pub fn of(path: &str) -> Aggregate {
                Aggregate::new(AggFunc::$func, Some(F::col(path)))
            }

            /// Over an expression.
            pub fn expr(e: impl Into<Expr>) -> Aggregate {
                Aggregate::new(AggFunc::$func, Some(e.into()))
            }
        }
    };
}

aggregate_fn!(
    /// `COUNT(field)`: non-null values; [`Count::all`] counts rows.
    Count, Count
);
aggregate_fn!(
    /// `SUM(field)`.
    Sum, Sum
);
aggregate_fn!(
    /// `AVG(field)`.
    Avg, Avg
);
aggregate_fn!(
    /// `MIN(field)`.
    Min, Min
);
aggregate_fn!(
    /// `MAX(field)`.
    Max, Max
);

/// Standard deviation (Django's `StdDev`): [`StdDev::of`] of the population,
/// [`StdDev::sample`] of a sample.
#[derive(Debug, Clone, Copy)]
pub struct StdDev;

impl StdDev {
    /// `STDDEV_POP(field)` (Django's default, `sample=False`).
    pub fn of(path: &str) -> Aggregate {
        Aggregate::new(AggFunc::StdDevPop, Some(F::col(path)))
    }

    /// `STDDEV_SAMP(field)` (Django's `sample=True`).
    pub fn sample(path: &str) -> Aggregate {
        Aggregate::new(AggFunc::StdDevSamp, Some(F::col(path)))
    }
}

/// Variance (Django's `Variance`): [`Variance::of`] of the population, [`Variance::sample`]
/// of a sample.
#[derive(Debug, Clone, Copy)]
pub struct Variance;

impl Variance {
    /// `VAR_POP(field)` (Django's default, `sample=False`).
    pub fn of(path: &str) -> Aggregate {
        Aggregate::new(AggFunc::VarPop, Some(F::col(path)))
    }

    /// `VAR_SAMP(field)` (Django's `sample=True`).
    pub fn sample(path: &str) -> Aggregate {
        Aggregate::new(AggFunc::VarSamp, Some(F::col(path)))
    }
}

impl Count {
    /// `COUNT(*)`.
    pub fn all() -> Aggregate {
        Aggregate::new(AggFunc::Count, None)
    }
}

/// A scalar subquery: `Subquery::new(qs, "field")` selects one field of the first row of
/// `qs` (order and slice it so that is the row you mean).
#[derive(Debug, Clone, Copy)]
pub struct Subquery;

impl Subquery {
    /// The subquery selecting `field` from `qs`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(qs: impl Into<SubqueryExpr>, field: &str) -> Expr {
        Expr::Subquery(Box::new(Subquery::values(qs, field)))
    }

    /// `field IN (SELECT …)`: rows whose `field` is among the subquery's `select` values.
    pub fn values(qs: impl Into<SubqueryExpr>, select: &str) -> SubqueryExpr {
        SubqueryExpr { select: Some(F::col(select)), ..qs.into() }
    }
}

/// `EXISTS (subquery)`, as a condition.
#[derive(Debug, Clone, Copy)]
pub struct Exists;

impl Exists {
    /// True where `qs` (usually correlated through [`OuterRef`]) has a row.
    #[allow(clippy::new_ret_no_self)]
    pub fn new<Outer>(qs: impl Into<SubqueryExpr>) -> Q<Outer> {
        Q::from_node(Node::Expr(Expr::Exists(Box::new(SubqueryExpr { select: None, ..qs.into() }))))
    }
}
