//! `get_or_create` and `update_or_create`: a read, then a save in a savepoint, with the
//! race Django handles (a concurrent insert of the same unique values) handled the same way.

use super::{Persist, SaveOptions};
use crate::error::{Error, Result};
use crate::expressions::q::Q;
use crate::model::Model;
use crate::queryset::QuerySet;
use crate::signals::atomic_on;
use orm_backends::Executor;

impl<M: Model> QuerySet<M> {
    /// Inserts `obj` (Django's `QuerySet.create()`) and returns it with its key set. Reached
    /// through a reverse relation (`author.posts().create(post, &db)`), the object gets the
    /// relation's key first, as Django's related manager sets it.
    pub fn create(&self, mut obj: M, ex: &(impl Executor + ?Sized)) -> Result<M> {
        if let Some(t) = crate::databases::write_target(ex, M::meta(), self.using, self.hint_db)? {
            return t.finish(self.create(obj, t.db));
        }
        self.link(&mut obj)?;
        obj.create(ex)
    }

    /// Sets the key of the relation this QuerySet was reached through on `obj`.
    fn link(&self, obj: &mut M) -> Result<()> {
        if let Some((field, key)) = &self.core {
            let meta = M::meta();
            let i = meta
                .field_index(field)
                .ok_or_else(|| Error::FieldDoesNotExist { model: meta.label(), field: (*field).to_owned() })?;
            obj.set_field_value(i, key)?;
        }
        Ok(())
    }

    /// The row matching `lookup`, or a new one made by `create` and inserted: `(object,
    /// created)`. Atomic: the insert runs in a savepoint, and when a concurrent insert of the
    /// same unique values wins the race, the resulting integrity error is caught and the
    /// winner's row returned.
    pub fn get_or_create(
        &self,
        lookup: Q<M>,
        create: impl FnOnce() -> M,
        ex: &(impl Executor + ?Sized),
    ) -> Result<(M, bool)> {
        // Django: the whole call is a write, on the database for writes (its read too).
        if let Some(t) = crate::databases::write_target(ex, M::meta(), self.using, self.hint_db)? {
            return t.finish(self.get_or_create(lookup, create, t.db));
        }
        let qs = self.clone().filter(lookup);
        match qs.get(ex) {
            Ok(o) => return Ok((o, false)),
            Err(Error::DoesNotExist { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut obj = create();
        self.link(&mut obj)?;
        // `atomic_on` keeps the database's signal hub on the transaction: the save sends signals.
        let inserted = atomic_on(ex, |tx| obj.save_with(tx, &SaveOptions { force_insert: true, ..Default::default() }));
        match inserted {
            Ok(()) => Ok((obj, true)),
            Err(Error::IntegrityError(e)) => match qs.get(ex) {
                Ok(o) => Ok((o, false)),
                Err(_) => Err(Error::IntegrityError(e)),
            },
            Err(e) => Err(e),
        }
    }

    /// Updates the row matching `lookup` with `update` (locking it first where the backend can),
    /// or inserts one made by `create`: `(object, created)`. Runs in one transaction.
    ///
    /// As in Django, the UPDATE writes only what `update` changed (Django's `defaults`) and the
    /// `auto_now` fields, never the lookup fields or the rest of the row, so a concurrent change
    /// to another column survives. `create` builds the whole new object, so it plays
    /// Django's `create_defaults` as well.
    pub fn update_or_create(
        &self,
        lookup: Q<M>,
        update: impl FnOnce(&mut M),
        create: impl FnOnce() -> M,
        ex: &(impl Executor + ?Sized),
    ) -> Result<(M, bool)> {
        if let Some(t) = crate::databases::write_target(ex, M::meta(), self.using, self.hint_db)? {
            return t.finish(self.update_or_create(lookup, update, create, t.db));
        }
        let qs = self.clone().filter(lookup.clone());
        let mut update = Some(update);
        let found = atomic_on(ex, |tx| -> Result<Option<M>> {
            match qs.clone().select_for_update(crate::ForUpdate::new()).get(tx) {
                Ok(mut o) => {
                    if let Some(u) = update.take() {
                        save_changes(&mut o, u, tx)?;
                    }
                    Ok(Some(o))
                }
                Err(Error::DoesNotExist { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        if let Some(o) = found {
            return Ok((o, false));
        }
        let (mut o, created) = self.get_or_create(lookup, create, ex)?;
        if !created {
            // A concurrent insert won the race: apply the update to its row.
            if let Some(u) = update.take() {
                save_changes(&mut o, u, ex)?;
            }
        }
        Ok((o, created))
    }
}

/// Applies `update` to `obj` and saves the fields it changed plus the `auto_now` ones
/// (Django's `update_fields = defaults + pre_save fields`); nothing changed and no `auto_now`
/// field: no UPDATE at all.
fn save_changes<M: Model>(obj: &mut M, update: impl FnOnce(&mut M), ex: &(impl Executor + ?Sized)) -> Result<()> {
    let meta = M::meta();
    if meta.parent().is_some() {
        // A multi-table child's ancestors' fields are not among its own: save every table.
        update(obj);
        return obj.save(ex);
    }
    let before: Vec<orm_backends::Value> = (0..meta.fields.len()).map(|i| obj.field_value(i)).collect();
    update(obj);
    let names: Vec<String> = meta
        .fields
        .iter()
        .enumerate()
        .filter(|&(i, f)| i != meta.pk && (f.auto_now || obj.field_value(i) != before[i]))
        .map(|(_, f)| f.name.to_owned())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    obj.save_with(ex, &SaveOptions::update_fields(names))
}
