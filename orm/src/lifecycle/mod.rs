//! The instance lifecycle: what saving and deleting do to the database and which signals
//! they send. [`Persist`] gives every model `save`, `delete`, `refresh_from_db` and
//! `full_clean`; the deletion collector ([`deletion`]) walks `on_delete` rules; the signal
//! senders (`dispatch`) decide what each write sends; related managers
//! ([`RelatedManager`](related_manager::RelatedManager)) add and remove links.

pub mod deletion;
pub(crate) mod dispatch;
pub(crate) mod persist;
pub mod related_manager;
mod upsert;

use crate::error::Result;
use crate::model::Model;
pub use deletion::{DeleteOptions, Deleted};
use orm_backends::Executor;

/// Options of [`Persist::save_with`].
#[derive(Clone, Debug, Default)]
pub struct SaveOptions {
    /// Write only these fields (an UPDATE; Django's `update_fields`).
    pub update_fields: Option<Vec<String>>,
    /// Always INSERT.
    pub force_insert: bool,
    /// Always UPDATE, and fail if no row matched.
    pub force_update: bool,
    /// For a multi-table child: write only its own table, leaving the parent rows as they
    /// are (they must exist). Creates a child over an existing parent row without touching
    /// it (Django: a child saved with its `_ptr` set to an existing parent, `save_base(raw=True)`).
    pub skip_parents: bool,
    /// The database to save to, by its alias in the [`Databases`](crate::Databases) set the
    /// save is handed (Django's `save(using=…)`); `None`: the routers decide, then the
    /// database the instance came from, then `"default"`.
    pub using: Option<String>,
}

impl SaveOptions {
    /// `update_fields = [...]`.
    pub fn update_fields<I: IntoIterator<Item = S>, S: Into<String>>(fields: I) -> Self {
        SaveOptions { update_fields: Some(fields.into_iter().map(Into::into).collect()), ..Default::default() }
    }
}

/// What an instance does with the database: Django's `save()`, `delete()`,
/// `refresh_from_db()` and `full_clean()`. Implemented for every [`Model`]; it is in the
/// prelude, so `post.save(&db)?` needs no other import.
pub trait Persist: Model {
    /// Saves the instance: INSERT when it is new (the generated key is then set on it),
    /// UPDATE otherwise. Does not validate (as in Django); see [`save_validated`](Persist::save_validated).
    fn save(&mut self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        persist::save(self, ex, &SaveOptions::default())
    }

    /// Saves with options: `update_fields`, `force_insert`, `force_update`.
    fn save_with(&mut self, ex: &(impl Executor + ?Sized), options: &SaveOptions) -> Result<()> {
        persist::save(self, ex, options)
    }

    /// Runs [`full_clean`](Persist::full_clean), then saves.
    fn save_validated(&mut self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        self.full_clean(ex)?;
        self.save(ex)
    }

    /// Inserts `self` and returns it with its key set.
    fn create(mut self, ex: &(impl Executor + ?Sized)) -> Result<Self> {
        persist::save(&mut self, ex, &SaveOptions { force_insert: true, ..SaveOptions::default() })?;
        Ok(self)
    }

    /// Saves to the database called `alias` of the set `ex` (Django's `save(using=alias)`);
    /// the instance then remembers it (with a [`ModelState`](crate::ModelState) field).
    fn save_using(&mut self, ex: &(impl Executor + ?Sized), alias: &str) -> Result<()> {
        persist::save(self, ex, &SaveOptions { using: Some(alias.to_owned()), ..SaveOptions::default() })
    }

    /// Deletes from the database called `alias` of the set `ex` (Django's
    /// `delete(using=alias)`).
    fn delete_using(&mut self, ex: &(impl Executor + ?Sized), alias: &str) -> Result<Deleted> {
        persist::delete(self, ex, &DeleteOptions { using: Some(alias.to_owned()), ..DeleteOptions::default() })
    }

    /// Deletes the instance's row and everything its deletion entails (the deletion
    /// collector); returns what was removed, as Django's `(total, {label: count})`
    /// ([`Deleted`], which compares equal to its total). As in Django, the instance keeps
    /// its fields but its key is cleared (and it is marked as new again).
    fn delete(&mut self, ex: &(impl Executor + ?Sized)) -> Result<Deleted> {
        persist::delete(self, ex, &DeleteOptions::default())
    }

    /// Deletes with options: [`DeleteOptions::keep_parents`] deletes a multi-table child's
    /// own row only, keeping its parents' rows.
    fn delete_with(&mut self, ex: &(impl Executor + ?Sized), options: &DeleteOptions) -> Result<Deleted> {
        persist::delete(self, ex, options)
    }

    /// Reloads every field from the database.
    fn refresh_from_db(&mut self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        persist::refresh(self, ex)
    }

    /// Reloads only these fields from the database, in one query (Django's
    /// `refresh_from_db(fields=[…])`); the way to load [`Deferred`](crate::Deferred) fields.
    fn refresh_from_db_fields(&mut self, fields: &[&str], ex: &(impl Executor + ?Sized)) -> Result<()> {
        persist::refresh_fields(self, fields, ex)
    }

    /// The next instance by the date or datetime `field` (ties broken by primary key):
    /// Django's generated `get_next_by_<field>()`. `DoesNotExist` past the last one; an
    /// unsaved instance is a `ValueError`, a field that is not a non-null date or datetime a
    /// `FieldError`.
    fn get_next_by(&self, field: &str, ex: &(impl Executor + ?Sized)) -> Result<Self> {
        persist::next_or_previous(self, field, true, ex)
    }

    /// The previous instance by `field`: Django's `get_previous_by_<field>()`.
    fn get_previous_by(&self, field: &str, ex: &(impl Executor + ?Sized)) -> Result<Self> {
        persist::next_or_previous(self, field, false, ex)
    }

    /// The related manager of the many-to-many field `field`, by name: the accessor of a
    /// many-to-many declared on an abstract base (`post.many_to_many::<Tag>("tags")?`), and
    /// of one declared on a multi-table parent when `m2m_changed` should name this child as
    /// its instance (the parent's accessor, reached through `Deref`, names the parent). The
    /// model's own many-to-many fields have generated accessors, `post.tags()`. An unknown
    /// name, or a relation to another model than `T`, is a `FieldError`.
    fn many_to_many<T: crate::DefaultManager>(&self, field: &str) -> Result<related_manager::RelatedManager<Self, T>> {
        Ok(related_manager::RelatedManager::by_name(self.pk_value(), field)?.hinted(self.db()))
    }

    /// Loads every [`Deferred`](crate::Deferred) field left unloaded, in one query (none
    /// when every field is loaded).
    fn load_deferred(&mut self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        let names = persist::unloaded(self);
        if names.is_empty() {
            return Ok(());
        }
        persist::refresh_fields(self, &names, ex)
    }

    /// Validates the instance as Django's `full_clean` does (see [`validation`](crate::validation)):
    /// every field (null, blank, max_length, choices, declared validators), foreign keys that
    /// point at no row, the model's `clean` hook, unique fields and sets, check constraints;
    /// all messages collected per field in a [`ValidationError`](crate::Error::ValidationError).
    fn full_clean(&self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        crate::validation::full_clean(self, ex, &[])
    }

    /// [`full_clean`](Persist::full_clean) leaving out the fields named in `exclude` (Django's
    /// `full_clean(exclude=…)`): no message about them, and no unique set or check that
    /// involves them is probed.
    fn full_clean_excluding(&self, ex: &(impl Executor + ?Sized), exclude: &[&str]) -> Result<()> {
        crate::validation::full_clean(self, ex, exclude)
    }
}

impl<M: Model> Persist for M {}
