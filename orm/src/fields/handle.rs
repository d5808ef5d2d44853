//! Typed field handles: `Post::title()` is a `Field<Post, String>` whose lookup methods build
//! compile-checked conditions (`Post::title().icontains("rust")`).

use crate::q::{Leaf, Lookup, Node, Operand, Path, Q};
use crate::queryset::OrderBy;
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
        self.leaf(lookup, Operand::Value(v.into().to_value()))
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
        self.leaf(Lookup::Range, Operand::Pair(lo.into().to_value(), hi.into().to_value()))
    }

    /// One of `values` (an empty list matches nothing).
    pub fn is_in<I: IntoIterator<Item = V>, V: Into<T>>(&self, values: I) -> Q<M> {
        self.leaf(Lookup::In, Operand::List(values.into_iter().map(|v| v.into().to_value()).collect()))
    }

    /// `IS NULL` when `yes`, else `IS NOT NULL`.
    pub fn is_null(&self, yes: bool) -> Q<M> {
        self.leaf(Lookup::IsNull, Operand::Value(Value::Bool(yes)))
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

impl<M> Field<M, String> {
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
