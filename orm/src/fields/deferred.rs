//! [`Deferred<T>`]: a field that `defer()` and `only()` may leave unloaded.
//!
//! Django can defer any field because a Python attribute can be missing until touched. A Rust
//! struct field always holds a value, so deferring one needs a representation. The choices were
//! a `Deferred<T>` field type, or every instance carrying a set of unloaded names with the
//! struct fields holding placeholder values. The second keeps `String` fields `String`, but a
//! placeholder is a lie the type system cannot see: `post.body.len()` would read an empty
//! string that is not the body. `Deferred<T>` says in the type which fields may be missing and
//! makes reading one a decision (`get()` is an `Option`), while every other field stays plain:
//! only the fields declared `Deferred<T>` can be deferred, and `defer()` of another field is a
//! `FieldError` naming it.
//!
//! Loading is explicit, one query for the fields asked
//! ([`Persist::refresh_from_db_fields`](crate::Persist::refresh_from_db_fields), Django's
//! `refresh_from_db(fields=[…])`), or every unloaded field at once
//! ([`Persist::load_deferred`](crate::Persist::load_deferred)): no hidden query runs when a
//! field is read. Saving an instance with unloaded fields writes the loaded ones only, as
//! Django; creating one with unloaded fields is refused.
//!
//! ```
//! use orm::prelude::*;
//! use orm::Deferred;
//!
//! #[derive(Model, Debug, Clone)]
//! #[orm(app = "docs")]
//! pub struct Page {
//!     pub id: Auto<i64>,
//!     #[orm(max_length = 50)]
//!     pub title: String,
//!     pub body: Deferred<String>,
//! }
//!
//! # fn main() -> orm::Result<()> {
//! let db = Database::connect("sqlite::memory:")?;
//! Schema::new().model::<Page>().create_all(&db)?;
//! Page { id: Auto::unset(), title: "Home".into(), body: "a long body".to_owned().into() }.create(&db)?;
//! let mut page = Page::objects().defer(["body"]).get(&db)?;
//! assert!(page.body.get().is_none());
//! page.refresh_from_db_fields(&["body"], &db)?;
//! assert_eq!(page.body.get().map(String::as_str), Some("a long body"));
//! # Ok(()) }
//! ```

use super::{ColumnKind, DecimalField, FieldType, TextField};
use orm_backends::{ConversionError, FromValue, ToValue, Value, ValueRef};

/// What an unloaded field reads as in a row and gives as its value: the compiler selects this
/// text in the column's place, so every decoding path sees it, and a write of it is refused.
/// Control characters keep it apart from any text a column could hold.
pub(crate) const MARK: &str = "\u{1}orm-deferred\u{1}";

/// Is `v` the value of an unloaded [`Deferred`] field?
pub(crate) fn is_unloaded(v: &Value) -> bool {
    matches!(v, Value::Text(s) if s == MARK)
}

/// A field `defer()`/`only()` can leave unloaded (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Deferred<T> {
    /// The value.
    Loaded(T),
    /// Not loaded: the query deferred it.
    NotLoaded,
}

impl<T> Deferred<T> {
    /// The value, if loaded.
    pub fn get(&self) -> Option<&T> {
        match self {
            Deferred::Loaded(v) => Some(v),
            Deferred::NotLoaded => None,
        }
    }

    /// The value, mutably, if loaded.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        match self {
            Deferred::Loaded(v) => Some(v),
            Deferred::NotLoaded => None,
        }
    }

    /// Is it loaded?
    pub fn is_loaded(&self) -> bool {
        matches!(self, Deferred::Loaded(_))
    }

    /// Sets the value (it is loaded from then on, and saved).
    pub fn set(&mut self, v: T) {
        *self = Deferred::Loaded(v);
    }

    /// The value, if loaded.
    pub fn into_inner(self) -> Option<T> {
        match self {
            Deferred::Loaded(v) => Some(v),
            Deferred::NotLoaded => None,
        }
    }
}

impl<T> From<T> for Deferred<T> {
    fn from(v: T) -> Self {
        Deferred::Loaded(v)
    }
}

impl<T: Default> Default for Deferred<T> {
    /// A loaded default value (a new instance has every field).
    fn default() -> Self {
        Deferred::Loaded(T::default())
    }
}

impl<T: ToValue> ToValue for Deferred<T> {
    fn to_value(&self) -> Value {
        match self {
            Deferred::Loaded(v) => v.to_value(),
            Deferred::NotLoaded => Value::Text(MARK.to_owned()),
        }
    }

    fn to_param(&self) -> orm_backends::Param<'_> {
        match self {
            Deferred::Loaded(v) => v.to_param(),
            Deferred::NotLoaded => orm_backends::Param::Owned(Value::Text(MARK.to_owned())),
        }
    }
}

impl<T: FromValue> FromValue for Deferred<T> {
    fn from_value_ref(v: ValueRef<'_>) -> Result<Self, ConversionError> {
        match v {
            ValueRef::Text(s) if s == MARK => Ok(Deferred::NotLoaded),
            other => T::from_value_ref(other).map(Deferred::Loaded),
        }
    }
}

impl<T: FieldType> FieldType for Deferred<T> {
    const KIND: ColumnKind = T::KIND;
    const NULLABLE: bool = T::NULLABLE;
    const DEFERRABLE: bool = true;
    type Lookup = T::Lookup;
}

impl<T: TextField> TextField for Deferred<T> {}
impl<T: DecimalField> DecimalField for Deferred<T> {}
