//! Database functions (Django's `django.db.models.functions`): each is a unit struct whose
//! constructor returns an [`Expr`], usable in `annotate`, `filter` (`Q::path_expr`),
//! `order_by`, `update`, aggregates and windows.
//!
//! ```
//! # include!("../../doctest_setup.rs");
//! # fn main() -> orm::Result<()> {
//! # let db = setup()?;
//! use orm::expressions::functions::{Concat, Left, Upper};
//! let short = Concat::new([Upper::new(Left::new(Note::title(), 4)), "…".into()]);
//! let rows = Note::objects().annotate("short", short).order_by(["id"]).values(["short"]).fetch_flat::<String>(&db)?;
//! assert_eq!(rows, ["RUST…", "RUST…", "COOK…"]);
//! # Ok(()) }
//! ```
//!
//! Arguments are expressions: a field is `F::col("name")` or a typed handle
//! (`Note::title()`), and text is a value (Django reads a bare string as a field name; Rust
//! has the handles for that).
//!
//! ## Per backend
//!
//! - SQLite lacks `REVERSE`, `REPEAT`, `LPAD`, `RPAD`, `MD5`, `SHA1` and `SHA256`: its
//!   connection registers them (Django's SQLite backend does the same).
//! - `SHA1` on PostgreSQL needs the `pgcrypto` extension (`digest`), as in Django.
//! - [`Greatest`] and [`Least`] follow each server: PostgreSQL ignores NULL arguments, SQLite
//!   and MySQL give NULL when any argument is NULL (Django documents the same difference).
//! - [`Concat`] treats NULL as empty text on every backend (Django's `ConcatPair`).
//! - [`Now`] is the statement's time in UTC; [`Extract`] and [`Trunc`] work on the stored
//!   value, which this crate keeps in UTC: there is no `tzinfo` argument (Django with
//!   `USE_TZ = True` and `TIME_ZONE = "UTC"`).
//! - [`Round`] with places on PostgreSQL rounds through `numeric` (PostgreSQL has no
//!   `ROUND(double precision, integer)`), giving a decimal, which reads as `f64` too.

use super::q::Transform;
use super::{Expr, Func};
use orm_backends::Value;

/// The type [`Cast`] converts to (Django's `output_field` of `Cast`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CastTo {
    /// A 64-bit integer (`BIGINT`; `SIGNED` on MySQL).
    Integer,
    /// A double-precision float.
    Float,
    /// Text (`TEXT`; `CHAR` on MySQL).
    Text,
    /// A decimal with `max_digits` and `decimal_places`.
    Decimal {
        /// Total digits.
        max_digits: u8,
        /// Digits after the point.
        decimal_places: u8,
    },
    /// A date.
    Date,
    /// A datetime without time zone.
    DateTime,
    /// A time of day.
    Time,
}

/// The unit [`Trunc`] truncates to (Django's `kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TruncTo {
    /// January 1st, midnight.
    Year,
    /// The first day of the quarter.
    Quarter,
    /// The first day of the month.
    Month,
    /// The Monday of the ISO week.
    Week,
    /// Midnight.
    Day,
    /// The start of the hour.
    Hour,
    /// The start of the minute.
    Minute,
    /// Whole seconds.
    Second,
}

impl TruncTo {
    /// Is the unit shorter than a day (so a date has nothing to truncate to it)?
    pub fn is_time_unit(self) -> bool {
        matches!(self, TruncTo::Hour | TruncTo::Minute | TruncTo::Second)
    }
}

fn call(f: Func, args: Vec<Expr>) -> Expr {
    Expr::Func(f, args)
}

macro_rules! unary {
    ($($(#[$doc:meta])* $name:ident => $func:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $name {
            /// Over an expression (a field handle, `F::col(…)`, a value).
            #[allow(clippy::new_ret_no_self)]
            pub fn new(e: impl Into<Expr>) -> Expr {
                call(Func::$func, vec![e.into()])
            }
        }
    )*};
}

unary! {
    /// `LOWER(x)`.
    Lower => Lower;
    /// `UPPER(x)`.
    Upper => Upper;
    /// The number of characters (not bytes).
    Length => Length;
    /// Spaces removed at both ends.
    Trim => Trim;
    /// Spaces removed at the start.
    LTrim => LTrim;
    /// Spaces removed at the end.
    RTrim => RTrim;
    /// The characters in reverse order.
    Reverse => Reverse;
    /// The MD5 digest of text, in lowercase hexadecimal.
    MD5 => Md5;
    /// The SHA-1 digest of text, in lowercase hexadecimal (PostgreSQL: needs `pgcrypto`).
    SHA1 => Sha1;
    /// The SHA-256 digest of text, in lowercase hexadecimal.
    SHA256 => Sha256;
    /// Absolute value.
    Abs => Abs;
    /// The smallest integer not below.
    Ceil => Ceil;
    /// The largest integer not above.
    Floor => Floor;
    /// The square root.
    Sqrt => Sqrt;
    /// -1, 0 or 1.
    Sign => Sign;
}

macro_rules! variadic {
    ($($(#[$doc:meta])* $name:ident => $func:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $name {
            /// Over these expressions (Django requires two or more).
            #[allow(clippy::new_ret_no_self)]
            pub fn new<I: IntoIterator<Item = E>, E: Into<Expr>>(exprs: I) -> Expr {
                call(Func::$func, exprs.into_iter().map(Into::into).collect())
            }
        }
    )*};
}

variadic! {
    /// The first non-NULL argument.
    Coalesce => Coalesce;
    /// The largest argument (see the module docs for NULLs).
    Greatest => Greatest;
    /// The smallest argument (see the module docs for NULLs).
    Least => Least;
    /// The arguments' text joined, NULL as empty text.
    Concat => Concat;
}

/// `CAST(x AS type)`.
#[derive(Debug, Clone, Copy)]
pub struct Cast;

impl Cast {
    /// `x` converted to `to`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(e: impl Into<Expr>, to: CastTo) -> Expr {
        call(Func::Cast(to), vec![e.into()])
    }
}

/// `NULLIF(a, b)`: NULL when equal, else `a`.
#[derive(Debug, Clone, Copy)]
pub struct NullIf;

impl NullIf {
    /// `NULLIF(a, b)`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(a: impl Into<Expr>, b: impl Into<Expr>) -> Expr {
        call(Func::NullIf, vec![a.into(), b.into()])
    }
}

macro_rules! binary {
    ($($(#[$doc:meta])* $name:ident => $func:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $name {
            /// Over two expressions.
            #[allow(clippy::new_ret_no_self)]
            pub fn new(a: impl Into<Expr>, b: impl Into<Expr>) -> Expr {
                call(Func::$func, vec![a.into(), b.into()])
            }
        }
    )*};
}

binary! {
    /// The first `n` characters.
    Left => Left;
    /// The last `n` characters.
    Right => Right;
    /// The text repeated `n` times.
    Repeat => Repeat;
}

/// `SUBSTR(x, pos[, length])`, positions from 1.
#[derive(Debug, Clone, Copy)]
pub struct Substr;

impl Substr {
    /// From `pos` to the end.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(e: impl Into<Expr>, pos: impl Into<Expr>) -> Expr {
        call(Func::Substr, vec![e.into(), pos.into()])
    }

    /// `length` characters from `pos`.
    pub fn with_length(e: impl Into<Expr>, pos: impl Into<Expr>, length: impl Into<Expr>) -> Expr {
        call(Func::Substr, vec![e.into(), pos.into(), length.into()])
    }
}

/// The 1-based position of `substring` in the text, 0 when it is absent.
#[derive(Debug, Clone, Copy)]
pub struct StrIndex;

impl StrIndex {
    /// Where `substring` starts in `e`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(e: impl Into<Expr>, substring: impl Into<Expr>) -> Expr {
        call(Func::StrIndex, vec![e.into(), substring.into()])
    }
}

/// Every occurrence of `text` replaced by `replacement` (empty when not given).
#[derive(Debug, Clone, Copy)]
pub struct Replace;

impl Replace {
    /// `text` removed.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(e: impl Into<Expr>, text: impl Into<Expr>) -> Expr {
        Replace::with(e, text, "")
    }

    /// `text` replaced by `replacement`.
    pub fn with(e: impl Into<Expr>, text: impl Into<Expr>, replacement: impl Into<Expr>) -> Expr {
        call(Func::Replace, vec![e.into(), text.into(), replacement.into()])
    }
}

macro_rules! pad {
    ($($(#[$doc:meta])* $name:ident => $func:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $name {
            /// To `length` characters with spaces (longer text is cut to `length`).
            #[allow(clippy::new_ret_no_self)]
            pub fn new(e: impl Into<Expr>, length: impl Into<Expr>) -> Expr {
                Self::with(e, length, " ")
            }

            /// To `length` characters with `fill`, repeated as needed.
            pub fn with(e: impl Into<Expr>, length: impl Into<Expr>, fill: impl Into<Expr>) -> Expr {
                call(Func::$func, vec![e.into(), length.into(), fill.into()])
            }
        }
    )*};
}

pad! {
    /// Padded on the left.
    LPad => LPad;
    /// Padded on the right.
    RPad => RPad;
}

/// Rounded half away from zero.
#[derive(Debug, Clone, Copy)]
pub struct Round;

impl Round {
    /// To an integer value.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(e: impl Into<Expr>) -> Expr {
        call(Func::Round, vec![e.into()])
    }

    /// To `places` decimal places (negative: tens, hundreds…).
    pub fn places(e: impl Into<Expr>, places: i32) -> Expr {
        call(Func::Round, vec![e.into(), Expr::Value(Value::Int(i64::from(places)))])
    }
}

binary! {
    /// The remainder of `a / b`, with the sign of `a`.
    Mod => Mod;
    /// `a` to the power `b`.
    Power => Power;
}

/// The current date and time: the statement's, in UTC.
#[derive(Debug, Clone, Copy)]
pub struct Now;

impl Now {
    /// `NOW()`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Expr {
        call(Func::Now, Vec::new())
    }
}

/// A part of a date or datetime as an integer (Django's `Extract` and `ExtractYear` …).
#[derive(Debug, Clone, Copy)]
pub struct Extract;

/// `new(e, kind)` and one constructor per kind (`Extract::year`, `Trunc::month`, …).
macro_rules! by_kind {
    ($ty:ident, $kind:ident, $func:ident, $new_doc:literal; $($(#[$doc:meta])* $fn:ident => $variant:ident;)*) => {
        impl $ty {
            #[doc = $new_doc]
            #[allow(clippy::new_ret_no_self)]
            pub fn new(e: impl Into<Expr>, kind: $kind) -> Expr {
                call(Func::$func(kind), vec![e.into()])
            }
            $(
                $(#[$doc])*
                pub fn $fn(e: impl Into<Expr>) -> Expr {
                    $ty::new(e, $kind::$variant)
                }
            )*
        }
    };
}

by_kind! {
    Extract, Transform, Extract,
    "The part `kind` (every [`Transform`] but `Date` and `Time`, which are conversions: use [`Cast`]).";
    /// The year.
    year => Year;
    /// The ISO 8601 week-numbering year.
    iso_year => IsoYear;
    /// The quarter, 1–4.
    quarter => Quarter;
    /// The month, 1–12.
    month => Month;
    /// The ISO 8601 week, 1–53.
    week => Week;
    /// The day of the month.
    day => Day;
    /// The day of the week, 1 (Sunday) to 7 (Saturday).
    week_day => WeekDay;
    /// The ISO day of the week, 1 (Monday) to 7 (Sunday).
    iso_week_day => IsoWeekDay;
    /// The hour.
    hour => Hour;
    /// The minute.
    minute => Minute;
    /// The second.
    second => Second;
}

/// A date or datetime truncated to a unit (Django's `Trunc` and `TruncYear` …): a date stays
/// a date, a datetime a datetime.
#[derive(Debug, Clone, Copy)]
pub struct Trunc;

by_kind! {
    Trunc, TruncTo, Trunc, "Truncated to `kind`.";
    /// To the year.
    year => Year;
    /// To the quarter.
    quarter => Quarter;
    /// To the month.
    month => Month;
    /// To the ISO week (its Monday).
    week => Week;
    /// To the day.
    day => Day;
    /// To the hour.
    hour => Hour;
    /// To the minute.
    minute => Minute;
    /// To the second.
    second => Second;
}

macro_rules! nullary_window {
    ($($(#[$doc:meta])* $name:ident => $func:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $name {
            /// The function, to use inside [`Window`](super::Window).
            #[allow(clippy::new_ret_no_self)]
            pub fn new() -> Expr {
                call(Func::$func, Vec::new())
            }
        }
    )*};
}

nullary_window! {
    /// The row's number in its partition, from 1.
    RowNumber => RowNumber;
    /// The rank with gaps.
    Rank => Rank;
    /// The rank without gaps.
    DenseRank => DenseRank;
    /// `(rank - 1) / (rows - 1)`.
    PercentRank => PercentRank;
    /// The fraction of rows up to and including the row's peers.
    CumeDist => CumeDist;
}

/// The bucket, 1 to `n`, of `n` as even as possible.
#[derive(Debug, Clone, Copy)]
pub struct Ntile;

impl Ntile {
    /// `NTILE(n)`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(n: u32) -> Expr {
        call(Func::Ntile(n.max(1)), Vec::new())
    }
}

macro_rules! offset_window {
    ($($(#[$doc:meta])* $name:ident => $func:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $name {
            /// `offset` rows away (Django's default is 1), NULL past the partition's end.
            #[allow(clippy::new_ret_no_self)]
            pub fn new(e: impl Into<Expr>, offset: u32) -> Expr {
                call(Func::$func(offset), vec![e.into()])
            }

            /// With `default` past the partition's end.
            pub fn with_default(e: impl Into<Expr>, offset: u32, default: impl Into<Expr>) -> Expr {
                call(Func::$func(offset), vec![e.into(), default.into()])
            }
        }
    )*};
}

offset_window! {
    /// The value `offset` rows before.
    Lag => Lag;
    /// The value `offset` rows after.
    Lead => Lead;
}

unary! {
    /// The value at the frame's first row.
    FirstValue => FirstValue;
    /// The value at the frame's last row (mind the default frame, which ends at the current
    /// row's last peer).
    LastValue => LastValue;
}

/// The value at the frame's `n`th row (from 1), NULL when the frame is shorter.
#[derive(Debug, Clone, Copy)]
pub struct NthValue;

impl NthValue {
    /// `NTH_VALUE(x, n)`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(e: impl Into<Expr>, n: u32) -> Expr {
        call(Func::NthValue(n.max(1)), vec![e.into()])
    }
}
