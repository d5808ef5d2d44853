//! Conditions: [`Q`] trees combined with `&`, `|` and `!`, over lookups on field paths.

use orm_backends::Value;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{BitAnd, BitOr, Not};

/// A lookup: how a field is compared with a value (`exact`, `icontains`, `in`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lookup {
    /// `=` (`IS NULL` for a null value).
    Exact,
    /// Case-insensitive `=`.
    IExact,
    /// Contains the text (case-sensitive on every backend).
    Contains,
    /// Contains the text, ignoring case.
    IContains,
    /// Starts with.
    StartsWith,
    /// Starts with, ignoring case.
    IStartsWith,
    /// Ends with.
    EndsWith,
    /// Ends with, ignoring case.
    IEndsWith,
    /// One of a list.
    In,
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
    /// Between two values, inclusive.
    Range,
    /// `IS NULL` (value true) or `IS NOT NULL` (false).
    IsNull,
    /// Matches a regular expression (case-sensitive).
    Regex,
    /// Matches a regular expression, ignoring case.
    IRegex,
    /// A JSON document has the key (Django's `has_key`).
    HasKey,
    /// A JSON document has every key of a list (`has_keys`).
    HasKeys,
    /// A JSON document has one of the keys of a list (`has_any_keys`).
    HasAnyKeys,
    /// A JSON document is contained in the value (`contained_by`; `contains` on a JSON field is
    /// the other way round).
    ContainedBy,
    /// A registered custom lookup (see [`custom`](super::custom)).
    Custom(u16),
}

impl Lookup {
    /// Every lookup, with its name.
    pub const ALL: [(&'static str, Lookup); 21] = [
        ("exact", Lookup::Exact),
        ("iexact", Lookup::IExact),
        ("contains", Lookup::Contains),
        ("icontains", Lookup::IContains),
        ("startswith", Lookup::StartsWith),
        ("istartswith", Lookup::IStartsWith),
        ("endswith", Lookup::EndsWith),
        ("iendswith", Lookup::IEndsWith),
        ("in", Lookup::In),
        ("gt", Lookup::Gt),
        ("gte", Lookup::Gte),
        ("lt", Lookup::Lt),
        ("lte", Lookup::Lte),
        ("range", Lookup::Range),
        ("isnull", Lookup::IsNull),
        ("regex", Lookup::Regex),
        ("iregex", Lookup::IRegex),
        ("has_key", Lookup::HasKey),
        ("has_keys", Lookup::HasKeys),
        ("has_any_keys", Lookup::HasAnyKeys),
        ("contained_by", Lookup::ContainedBy),
    ];

    /// The lookup called `name` (a built-in one, or one registered with
    /// [`register_lookup`](super::custom::register_lookup)).
    pub fn from_name(name: &str) -> Option<Lookup> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, l)| *l).or_else(|| super::custom::lookup_named(name))
    }

    /// Its name, as in `title__icontains`.
    pub fn name(self) -> &'static str {
        if let Lookup::Custom(id) = self {
            return super::custom::name_of(id, true);
        }
        Self::ALL.iter().find(|(_, l)| *l == self).map(|(n, _)| *n).unwrap_or("exact")
    }

    /// The SQL operator of a comparison (`exact`, `gt`, `gte`, `lt`, `lte`), spaced; `None`
    /// for the others.
    pub fn comparison_sql(self) -> Option<&'static str> {
        Some(match self {
            Lookup::Exact => " = ",
            Lookup::Gt => " > ",
            Lookup::Gte => " >= ",
            Lookup::Lt => " < ",
            Lookup::Lte => " <= ",
            _ => return None,
        })
    }

    /// Does it only make sense on text?
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Lookup::IExact
                | Lookup::Contains
                | Lookup::IContains
                | Lookup::StartsWith
                | Lookup::IStartsWith
                | Lookup::EndsWith
                | Lookup::IEndsWith
                | Lookup::Regex
                | Lookup::IRegex
        )
    }
}

/// A transform applied to a field before the lookup (`published__year__gte`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transform {
    /// The year of a date or datetime.
    Year,
    /// The month, 1–12.
    Month,
    /// The day of the month, 1–31.
    Day,
    /// The day of the week, 1 (Sunday) to 7 (Saturday), as in Django.
    WeekDay,
    /// The hour, 0–23.
    Hour,
    /// The minute, 0–59.
    Minute,
    /// The date part of a datetime.
    Date,
    /// The ISO 8601 week-numbering year.
    IsoYear,
    /// The ISO 8601 week number, 1–53.
    Week,
    /// The ISO day of the week, 1 (Monday) to 7 (Sunday).
    IsoWeekDay,
    /// The quarter, 1–4.
    Quarter,
    /// The time part of a datetime.
    Time,
    /// The second, 0–59.
    Second,
    /// A registered custom transform (see [`custom`](super::custom)).
    Custom(u16),
}

impl Transform {
    /// Every transform with its name.
    pub const ALL: [(&'static str, Transform); 13] = [
        ("year", Transform::Year),
        ("iso_year", Transform::IsoYear),
        ("quarter", Transform::Quarter),
        ("month", Transform::Month),
        ("week", Transform::Week),
        ("day", Transform::Day),
        ("week_day", Transform::WeekDay),
        ("iso_week_day", Transform::IsoWeekDay),
        ("date", Transform::Date),
        ("time", Transform::Time),
        ("hour", Transform::Hour),
        ("minute", Transform::Minute),
        ("second", Transform::Second),
    ];

    /// Does it extract a part of the time of day (so a date has none)?
    pub fn is_time_part(self) -> bool {
        matches!(self, Transform::Time | Transform::Hour | Transform::Minute | Transform::Second)
    }

    /// Its name, as in `published__iso_year`.
    pub fn name(self) -> &'static str {
        if let Transform::Custom(id) = self {
            return super::custom::name_of(id, false);
        }
        Self::ALL.iter().find(|(_, t)| *t == self).map(|(n, _)| *n).unwrap_or("year")
    }

    /// The transform called `name` (a built-in one, or one registered with
    /// [`register_transform`](super::custom::register_transform)).
    pub fn from_name(name: &str) -> Option<Transform> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).or_else(|| super::custom::transform_named(name))
    }
}

/// The right-hand side of a lookup.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// One value.
    Value(Value),
    /// A list (`in`).
    List(Vec<Value>),
    /// Two values (`range`).
    Pair(Value, Value),
    /// An expression (`F("other") + 1`, a subquery …).
    Expr(crate::expressions::Expr),
    /// A subquery's values (`in`).
    Subquery(Box<crate::expressions::SubqueryExpr>),
}

/// A path of field names (`["author", "name"]`).
pub type Path = Vec<Cow<'static, str>>;

/// One comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Leaf {
    /// The field path.
    pub path: Path,
    /// The lookup.
    pub lookup: Lookup,
    /// The value(s).
    pub operand: Operand,
}

/// An untyped condition tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// All of these.
    And(Vec<Node>),
    /// Any of these.
    Or(Vec<Node>),
    /// Not this.
    Not(Box<Node>),
    /// A comparison.
    Leaf(Leaf),
    /// A boolean expression (`EXISTS (…)`).
    Expr(crate::expressions::Expr),
    /// Always true or always false.
    Const(bool),
}

impl Node {
    /// The condition's truth when it does not depend on any row: `Some(false)` for a
    /// [`Const(false)`](Node::Const), an `in` list that holds no non-NULL value (Django's
    /// `EmptyResultSet`), and what AND, OR and NOT make of them; `None` when rows decide.
    pub fn constant(&self) -> Option<bool> {
        match self {
            Node::Const(b) => Some(*b),
            Node::Leaf(Leaf { lookup: Lookup::In, operand: Operand::List(items), .. })
                if items.iter().all(Value::is_null) =>
            {
                Some(false)
            }
            Node::Leaf(_) | Node::Expr(_) => None,
            Node::Not(inner) => inner.constant().map(|b| !b),
            Node::And(items) => {
                let mut all = Some(true);
                for i in items {
                    match i.constant() {
                        Some(false) => return Some(false),
                        Some(true) => {}
                        None => all = None,
                    }
                }
                all
            }
            Node::Or(items) => {
                let mut any = Some(false);
                for i in items {
                    match i.constant() {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => any = None,
                    }
                }
                any
            }
        }
    }
}

/// A condition on model `M`, combined with `&`, `|` and `!`.
///
/// ```
/// use orm::Q;
/// # #[derive(Debug)] struct Post;
/// let q: Q<Post> = Q::path("title__icontains", "rust").unwrap() & !Q::path("views__lt", 10).unwrap();
/// assert!(format!("{q:?}").contains("IContains"));
/// ```
pub struct Q<M> {
    pub(crate) node: Node,
    _m: PhantomData<fn() -> M>,
}

impl<M> Clone for Q<M> {
    fn clone(&self) -> Self {
        Q { node: self.node.clone(), _m: PhantomData }
    }
}

impl<M> fmt::Debug for Q<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.node.fmt(f)
    }
}

impl<M> Q<M> {
    /// Wraps an untyped node.
    pub fn from_node(node: Node) -> Self {
        Q { node, _m: PhantomData }
    }

    /// The untyped tree.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// A condition that matches every row.
    pub fn all() -> Self {
        Q::from_node(Node::Const(true))
    }

    /// A condition that matches no row.
    pub fn none() -> Self {
        Q::from_node(Node::Const(false))
    }

    /// A comparison from a Django-style path: `"author__name__iexact"`. The last part is the
    /// lookup if it names one, else `exact` is meant. Checking the field names against the
    /// model happens when the query is compiled (or at once through
    /// [`QuerySet::filter_path`](crate::QuerySet::filter_path)).
    pub fn path(path: &str, value: impl Into<Value>) -> crate::Result<Self> {
        Ok(Q::from_node(Node::Leaf(parse_leaf(path, value.into())?)))
    }

    /// A comparison of a path with an expression: `Q::path_expr("views__gt", F::col("likes"))`.
    pub fn path_expr(path: &str, expr: impl Into<crate::expressions::Expr>) -> crate::Result<Self> {
        let mut leaf = parse_leaf(path, Value::Null)?;
        leaf.operand = Operand::Expr(expr.into());
        Ok(Q::from_node(Node::Leaf(leaf)))
    }

    /// `path IN (subquery)`.
    pub fn path_in(path: &str, sub: crate::expressions::SubqueryExpr) -> crate::Result<Self> {
        let mut leaf = parse_leaf(path, Value::Null)?;
        leaf.lookup = Lookup::In;
        leaf.operand = Operand::Subquery(Box::new(sub));
        Ok(Q::from_node(Node::Leaf(leaf)))
    }
}

/// Splits `a__b__lookup` into a path and a lookup, and shapes the operand for the lookup.
pub(crate) fn parse_leaf(path: &str, value: Value) -> crate::Result<Leaf> {
    if path.is_empty() || path.split("__").any(str::is_empty) {
        return Err(crate::Error::field_error(format!("`{path}` is not a valid lookup path")));
    }
    let mut parts: Vec<Cow<'static, str>> = path.split("__").map(|s| Cow::Owned(s.to_owned())).collect();
    let lookup = match parts.last().and_then(|l| Lookup::from_name(l)) {
        Some(l) if parts.len() > 1 => {
            parts.pop();
            l
        }
        _ => Lookup::Exact,
    };
    let operand = match (lookup, &value) {
        // Shaped later by `path_in` / `path_expr`.
        (Lookup::In | Lookup::Range, Value::Null) => Operand::Value(Value::Null),
        _ => shape_operand(lookup, value, path)?,
    };
    Ok(Leaf { path: parts, lookup, operand })
}

pub(crate) fn shape_operand(lookup: Lookup, value: Value, path: &str) -> crate::Result<Operand> {
    Ok(match lookup {
        Lookup::HasKeys | Lookup::HasAnyKeys => match value {
            Value::Json(serde_json::Value::Array(items)) => Operand::List(
                items
                    .iter()
                    .map(|k| match k {
                        serde_json::Value::String(s) => Value::Text(s.clone()),
                        other => Value::Text(other.to_string()),
                    })
                    .collect(),
            ),
            other => {
                return Err(crate::Error::field_error(format!(
                    "the `{}` lookup of `{path}` needs a list of keys, got {}",
                    lookup.name(),
                    other.kind_name()
                )))
            }
        },
        Lookup::In => match value {
            Value::Json(serde_json::Value::Array(items)) => {
                Operand::List(items.iter().map(crate::fields::json::json_scalar_to_value).collect())
            }
            other => {
                return Err(crate::Error::field_error(format!(
                    "the `in` lookup of `{path}` needs a list, got {}",
                    other.kind_name()
                )))
            }
        },
        Lookup::Range => match value {
            Value::Json(serde_json::Value::Array(items)) if items.len() == 2 => Operand::Pair(
                crate::fields::json::json_scalar_to_value(&items[0]),
                crate::fields::json::json_scalar_to_value(&items[1]),
            ),
            _ => {
                return Err(crate::Error::field_error(format!(
                    "the `range` lookup of `{path}` needs a list of two values"
                )))
            }
        },
        _ => Operand::Value(value),
    })
}

impl<M> BitAnd for Q<M> {
    type Output = Q<M>;
    fn bitand(self, rhs: Q<M>) -> Q<M> {
        Q::from_node(match (self.node, rhs.node) {
            (Node::And(mut a), Node::And(b)) => {
                a.extend(b);
                Node::And(a)
            }
            (Node::And(mut a), b) => {
                a.push(b);
                Node::And(a)
            }
            (a, b) => Node::And(vec![a, b]),
        })
    }
}

impl<M> BitOr for Q<M> {
    type Output = Q<M>;
    fn bitor(self, rhs: Q<M>) -> Q<M> {
        Q::from_node(match (self.node, rhs.node) {
            (Node::Or(mut a), Node::Or(b)) => {
                a.extend(b);
                Node::Or(a)
            }
            (Node::Or(mut a), b) => {
                a.push(b);
                Node::Or(a)
            }
            (a, b) => Node::Or(vec![a, b]),
        })
    }
}

impl<M> Not for Q<M> {
    type Output = Q<M>;
    fn not(self) -> Q<M> {
        Q::from_node(match self.node {
            Node::Not(inner) => *inner,
            n => Node::Not(Box::new(n)),
        })
    }
}
