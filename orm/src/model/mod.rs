//! The [`Model`] trait (what `#[derive(Model)]` implements) and instance persistence:
//! `save`, `delete`, `refresh_from_db`, `full_clean`.

pub mod meta;
pub(crate) mod persist;
pub mod registry;

pub(crate) use persist::get_by_pk;
pub use persist::SaveOptions;

use crate::error::{Result, ValidationErrors};
use crate::fields::{ColumnKind, FieldType};
use crate::queryset::QuerySet;
use meta::{FieldMeta, ModelMeta};
use orm_backends::{Executor, Row, Value};
use std::fmt;

/// Per-instance state for models whose primary key is not an [`Auto`](crate::fields::Auto)
/// (whose "adding" state cannot be read off the key): declare a field of this type and the
/// derive keeps it up to date. It is not a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelState {
    /// True until the instance has been saved or loaded (Django's `_state.adding`).
    pub adding: bool,
}

impl Default for ModelState {
    fn default() -> Self {
        ModelState { adding: true }
    }
}

/// A database model. Implemented by `#[derive(Model)]`; may be written by hand (see the
/// `hand_written` fixture in the test suite), the derive being sugar over this contract:
///
/// - [`meta`](Model::meta) describes every stored field in column order;
/// - [`from_row`](Model::from_row) decodes columns `offset..offset + fields.len()` of a row,
///   in that order, and marks the instance as loaded;
/// - [`field_value`](Model::field_value) / [`set_field_value`](Model::set_field_value) read
///   and write a field by its index in `meta().fields`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a model",
    label = "not a model",
    note = "derive it: `#[derive(Model)]`"
)]
pub trait Model: Sized + Send + Sync + 'static {
    /// The type of the primary key's value (`i64` for `id: Auto<i64>`).
    type Key: FieldType + Clone + PartialEq + fmt::Debug + Send + Sync + 'static;

    /// The column kind of the primary key, for foreign keys pointing here.
    const PK_KIND: ColumnKind;

    /// The model's metadata.
    fn meta() -> &'static ModelMeta;

    /// Decodes an instance from the row's columns starting at `offset`.
    fn from_row(row: &dyn Row, offset: usize) -> Result<Self>;

    /// The value of field `index` (an index into `meta().fields`).
    fn field_value(&self, index: usize) -> Value;

    /// Sets field `index` from `value`.
    fn set_field_value(&mut self, index: usize, value: &Value) -> Result<()>;

    /// Is this a new instance not yet in the database? `None` when the model cannot tell
    /// (a hand-chosen primary key and no [`ModelState`] field): `save` then tries an UPDATE
    /// and INSERTs when no row matched.
    fn adding(&self) -> Option<bool>;

    /// Records that the instance was saved or loaded (`false`) or is new (`true`).
    fn set_adding(&mut self, adding: bool);

    /// Fills `auto_now` / `auto_now_add` fields before a save.
    fn pre_save(&mut self, adding: bool) {
        let _ = adding;
    }

    /// Runs the field validators given in attributes, adding messages to `errors`.
    fn validate_fields(&self, errors: &mut ValidationErrors) {
        let _ = errors;
    }

    /// The model's default QuerySet (its manager, in Django terms).
    fn objects() -> QuerySet<Self> {
        QuerySet::new()
    }

    /// The primary key's value (`Value::Null` while unset).
    fn pk_value(&self) -> Value {
        self.field_value(Self::meta().pk)
    }

    /// Saves the instance: INSERT when it is new (the generated key is then set on it),
    /// UPDATE otherwise. Does not validate (as in Django); see [`save_validated`](Model::save_validated).
    fn save(&mut self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        persist::save(self, ex, &SaveOptions::default())
    }

    /// Saves with options: `update_fields`, `force_insert`, `force_update`.
    fn save_with(&mut self, ex: &(impl Executor + ?Sized), options: &SaveOptions) -> Result<()> {
        persist::save(self, ex, options)
    }

    /// Runs [`full_clean`](Model::full_clean), then saves.
    fn save_validated(&mut self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        self.full_clean(ex)?;
        self.save(ex)
    }

    /// Inserts `self` and returns it with its key set.
    fn create(mut self, ex: &(impl Executor + ?Sized)) -> Result<Self> {
        persist::save(self.by_ref(), ex, &SaveOptions { force_insert: true, ..SaveOptions::default() })?;
        Ok(self)
    }

    /// Deletes the instance's row; returns the number of rows deleted. The instance is marked
    /// as new again.
    fn delete(&mut self, ex: &(impl Executor + ?Sized)) -> Result<u64> {
        persist::delete(self, ex)
    }

    /// Reloads every field from the database.
    fn refresh_from_db(&mut self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        persist::refresh(self, ex)
    }

    /// Validates every field (max_length, null, choices, unique against the database, and
    /// the validators given in attributes), collecting all messages per field.
    fn full_clean(&self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        crate::validation::full_clean(self, ex)
    }

    /// `&mut self`, for chaining in generic code.
    #[doc(hidden)]
    fn by_ref(&mut self) -> &mut Self {
        self
    }
}

/// An abstract base model: its fields are copied into each model that embeds it with
/// `#[orm(base)]`. Implemented by `#[derive(Model)]` with `#[orm(abstract)]`.
pub trait AbstractModel: Sized + Send + Sync + 'static {
    /// How many columns it contributes (its own and its bases').
    const COLUMN_COUNT: usize;

    /// Appends its fields' metadata, in column order.
    fn push_fields(out: &mut Vec<FieldMeta>);

    /// Its ordering, indexes and constraints, inherited unless the child overrides them.
    fn abstract_meta() -> &'static ModelMeta;

    /// Decodes its columns starting at `offset`.
    fn from_row(row: &dyn Row, offset: usize) -> Result<Self>;

    /// The value of its field `index`.
    fn field_value(&self, index: usize) -> Value;

    /// Sets its field `index`.
    fn set_field_value(&mut self, index: usize, value: &Value) -> Result<()>;

    /// Fills `auto_now` / `auto_now_add` fields.
    fn pre_save(&mut self, adding: bool);

    /// Runs attribute validators.
    fn validate_fields(&self, errors: &mut ValidationErrors);
}
