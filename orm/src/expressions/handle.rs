//! Typed field handles: `Post::title()` is a `Field<Post, String>` whose lookup methods build
//! compile-checked conditions (`Post::title().icontains("rust")`).

use super::q::{Leaf, Lookup, Node, Operand, Path, Q};
use super::OrderBy;
use orm_backends::{ToValue, Value};
use std::borrow::Cow;
use std::marker::PhantomData;

/// A field of model `M` whose values compare as `T`.
pub struct Field<M, T> {
    path: Path,
    _m: PhantomData<fn() -> (M, T)>,
}

impl<M, T> Clone for Field<M, T> {
    fn clone(&self) -> Self {
        Field { path: self.path.clone(), _m: PhantomData }
    }
}

impl<M, T> std::fmt::Debug for Field<M, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Field({})", self.path.join("__"))
    }
}

impl<M, T: ToValue> Field<M, T> {
    /// The handle of the field called `name` (used by the derive).
    pub fn new(name: &'static str) -> Self {
        Field { path: vec![Cow::Borrowed(name)], _m: PhantomData }
    }

    /// A handle on a path through relations (`["author", "name"]`).
    pub fn from_path(path: Path) -> Self {
        Field { path, _m: PhantomData }
    }

    /// The path, joined with `__`.
    pub fn path_string(&self) -> String {
        self.path.join("__")
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn leaf(&self, lookup: Lookup, operand: Operand) -> Q<M> {
        Q::from_node(Node::Leaf(Leaf { path: self.path.clone(), lookup, operand }))
    }

    fn one(&self, lookup: Lookup, v: impl Into<T>) -> Q<M> {
        self.leaf(lookup, Operand::Value(v.into().into_value()))
    }

    /// `= value`.
    pub fn eq(&self, v: impl Into<T>) -> Q<M> {
        self.one(Lookup::Exact, v)
    }

    /// `!= value` (Django's `exclude(field=value)`: NULLs match).
    pub fn ne(&self, v: impl Into<T>) -> Q<M> {
        !self.eq(v)
    }

    /// `> value`.
    pub fn gt(&self, v: impl Into<T>) -> Q<M> {
        self.one(Lookup::Gt, v)
    }

    /// `>= value`.
    pub fn gte(&self, v: impl Into<T>) -> Q<M> {
        self.one(Lookup::Gte, v)
    }

    /// `< value`.
    pub fn lt(&self, v: impl Into<T>) -> Q<M> {
        self.one(Lookup::Lt, v)
    }

    /// `<= value`.
    pub fn lte(&self, v: impl Into<T>) -> Q<M> {
        self.one(Lookup::Lte, v)
    }

    /// Between `lo` and `hi`, inclusive.
    pub fn range(&self, lo: impl Into<T>, hi: impl Into<T>) -> Q<M> {
        self.leaf(Lookup::Range, Operand::Pair(lo.into().into_value(), hi.into().into_value()))
    }

    /// One of `values` (an empty list matches nothing).
    pub fn is_in<I: IntoIterator<Item = V>, V: Into<T>>(&self, values: I) -> Q<M> {
        self.leaf(Lookup::In, Operand::List(values.into_iter().map(|v| v.into().into_value()).collect()))
    }

    /// `IS NULL` when `yes`, else `IS NOT NULL`.
    pub fn is_null(&self, yes: bool) -> Q<M> {
        self.leaf(Lookup::IsNull, Operand::Value(Value::Bool(yes)))
    }

    /// Follows this relation to a field of the related model: `Post::author().via(Author::name())`
    /// is the path `author__name`, typed by the related field (the relation itself is checked
    /// against the metadata when the query is compiled, like a string path).
    pub fn via<R, U: ToValue>(&self, next: Field<R, U>) -> Field<M, U> {
        let mut path = self.path.clone();
        path.extend(next.path);
        Field { path, _m: PhantomData }
    }

    /// This handle of a parent model's field, used on a child (multi-table or proxy):
    /// `Restaurant::objects().filter(Place::name().on::<Restaurant>().eq("Luigi's"))`.
    pub fn on<C: crate::Inherits<M>>(&self) -> Field<C, T>
    where
        M: crate::Model,
    {
        Field { path: self.path.clone(), _m: PhantomData }
    }

    /// A registered custom lookup (see [`custom`](super::custom)): `Item::qty().lookup("ne", 3)?`.
    /// A name no lookup is registered under is a `FieldError`.
    pub fn lookup(&self, name: &str, v: impl Into<T>) -> crate::Result<Q<M>> {
        match super::custom::lookup_named(name) {
            Some(l) => Ok(self.one(l, v)),
            None => Err(crate::Error::field_error(format!("no custom lookup is registered as `{name}`"))),
        }
    }

    /// The field through a registered custom transform: `Item::qty().transform::<i64>("abs")?`
    /// (the result's type is given, as Django's `output_field`).
    pub fn transform<U: ToValue>(&self, name: &str) -> crate::Result<Field<M, U>> {
        match super::custom::transform_named(name) {
            Some(t) => {
                let mut path = self.path.clone();
                path.push(Cow::Borrowed(t.name()));
                Ok(Field { path, _m: PhantomData })
            }
            None => Err(crate::Error::field_error(format!("no custom transform is registered as `{name}`"))),
        }
    }

    /// Compares with an expression: `Post::views().compare(Lookup::Gt, F::col("likes"))`.
    pub fn compare(&self, lookup: Lookup, rhs: impl Into<crate::expressions::Expr>) -> Q<M> {
        self.leaf(lookup, Operand::Expr(rhs.into()))
    }

    /// Among the values a subquery selects.
    pub fn in_subquery(&self, sub: crate::expressions::SubqueryExpr) -> Q<M> {
        self.leaf(Lookup::In, Operand::Subquery(Box::new(sub)))
    }

    /// This field as an expression (`Post::views().expr() + 1`).
    pub fn expr(&self) -> crate::expressions::Expr {
        crate::expressions::Expr::Field(self.path.clone())
    }

    /// An `update()` assignment: `Post::views().set(F::col("views") + 1)` or `.set(0)`.
    pub fn set(&self, value: impl Into<crate::expressions::Expr>) -> super::Assignment {
        super::Assignment::new(self.path_string(), value)
    }

    /// An `update()` assignment of a typed value.
    pub fn set_value(&self, value: impl Into<T>) -> super::Assignment {
        super::Assignment::new(self.path_string(), crate::expressions::Expr::Value(value.into().into_value()))
    }

    fn transformed<U: ToValue>(&self, t: &'static str) -> Field<M, U> {
        let mut path = self.path.clone();
        path.push(Cow::Borrowed(t));
        Field { path, _m: PhantomData }
    }

    /// Ascending order on this field.
    pub fn asc(&self) -> OrderBy {
        OrderBy::asc(self.path_string())
    }

    /// Descending order on this field.
    pub fn desc(&self) -> OrderBy {
        OrderBy::desc(self.path_string())
    }
}

macro_rules! date_parts {
    ($($t:ty),*) => {$(
        impl<M> Field<M, $t> {
            /// The year.
            pub fn year(&self) -> Field<M, i64> { self.transformed("year") }
            /// The month, 1–12.
            pub fn month(&self) -> Field<M, i64> { self.transformed("month") }
            /// The day of the month.
            pub fn day(&self) -> Field<M, i64> { self.transformed("day") }
            /// The day of the week, 1 (Sunday) to 7 (Saturday).
            pub fn week_day(&self) -> Field<M, i64> { self.transformed("week_day") }
        }
    )*};
}
date_parts!(chrono::NaiveDate, chrono::NaiveDateTime, chrono::DateTime<chrono::Utc>);

macro_rules! time_parts {
    ($($t:ty),*) => {$(
        impl<M> Field<M, $t> {
            /// The hour, 0–23.
            pub fn hour(&self) -> Field<M, i64> { self.transformed("hour") }
            /// The minute, 0–59.
            pub fn minute(&self) -> Field<M, i64> { self.transformed("minute") }
            /// The date part.
            pub fn date(&self) -> Field<M, chrono::NaiveDate> { self.transformed("date") }
        }
    )*};
}
time_parts!(chrono::NaiveDateTime, chrono::DateTime<chrono::Utc>);

impl<M> Field<M, String> {
    /// Matches the regular expression `re`.
    pub fn regex(&self, re: impl Into<String>) -> Q<M> {
        self.one(Lookup::Regex, re)
    }
    /// Matches the regular expression `re`, ignoring case.
    pub fn iregex(&self, re: impl Into<String>) -> Q<M> {
        self.one(Lookup::IRegex, re)
    }
    /// Case-insensitive `=`.
    pub fn iexact(&self, v: impl Into<String>) -> Q<M> {
        self.one(Lookup::IExact, v)
    }
    /// Contains `v` (case-sensitive on every backend).
    pub fn contains(&self, v: impl Into<String>) -> Q<M> {
        self.one(Lookup::Contains, v)
    }
    /// Contains `v`, ignoring case.
    pub fn icontains(&self, v: impl Into<String>) -> Q<M> {
        self.one(Lookup::IContains, v)
    }
    /// Starts with `v`.
    pub fn startswith(&self, v: impl Into<String>) -> Q<M> {
        self.one(Lookup::StartsWith, v)
    }
    /// Starts with `v`, ignoring case.
    pub fn istartswith(&self, v: impl Into<String>) -> Q<M> {
        self.one(Lookup::IStartsWith, v)
    }
    /// Ends with `v`.
    pub fn endswith(&self, v: impl Into<String>) -> Q<M> {
        self.one(Lookup::EndsWith, v)
    }
    /// Ends with `v`, ignoring case.
    pub fn iendswith(&self, v: impl Into<String>) -> Q<M> {
        self.one(Lookup::IEndsWith, v)
    }
}

impl<M> Field<M, serde_json::Value> {
    /// The value under `key` (an all-digit key indexes an array): `Item::data().key("owner")
    /// .key("name").eq(json!("Ann"))`, as the path `data__owner__name`.
    pub fn key(&self, key: &str) -> Field<M, serde_json::Value> {
        let mut path = self.path.clone();
        path.push(Cow::Owned(key.to_owned()));
        Field { path, _m: PhantomData }
    }

    /// Has the key (Django's `has_key`).
    pub fn has_key(&self, key: &str) -> Q<M> {
        self.leaf(Lookup::HasKey, Operand::Value(Value::Text(key.to_owned())))
    }

    /// Has every key (Django's `has_keys`).
    pub fn has_keys<'s, I: IntoIterator<Item = &'s str>>(&self, keys: I) -> Q<M> {
        self.leaf(Lookup::HasKeys, Operand::List(keys.into_iter().map(|k| Value::Text(k.to_owned())).collect()))
    }

    /// Has one of the keys (Django's `has_any_keys`).
    pub fn has_any_keys<'s, I: IntoIterator<Item = &'s str>>(&self, keys: I) -> Q<M> {
        self.leaf(Lookup::HasAnyKeys, Operand::List(keys.into_iter().map(|k| Value::Text(k.to_owned())).collect()))
    }

    /// Contains the document (PostgreSQL's `@>`, MySQL's `JSON_CONTAINS`; Django's `contains`).
    pub fn contains(&self, doc: serde_json::Value) -> Q<M> {
        self.leaf(Lookup::Contains, Operand::Value(Value::Json(doc)))
    }

    /// Is contained in the document (Django's `contained_by`).
    pub fn contained_by(&self, doc: serde_json::Value) -> Q<M> {
        self.leaf(Lookup::ContainedBy, Operand::Value(Value::Json(doc)))
    }
}
