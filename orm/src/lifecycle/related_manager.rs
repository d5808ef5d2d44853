//! Related managers: the many-to-many side of an instance (`post.tags()`, `tag.posts()`) with
//! `all`, `add`, `remove`, `set` and `clear`, and the reverse foreign-key accessor's QuerySet.

use crate::error::{Error, Result};
use crate::expressions::q::{Leaf, Lookup, Node, Operand, Q};
use crate::model::meta::ManyToManyMeta;
use crate::model::registry::ReverseRelation;
use crate::model::Model;
use crate::queryset::{DefaultManager, QuerySet};
use crate::signals::{M2mAction, M2mChanged};
use orm_backends::{Connection, Dialect, Executor, ToValue, Transaction, Value};
use std::marker::PhantomData;

/// The rows of `S` whose `field` equals `key` (the reverse foreign-key accessor).
pub fn related_queryset<S: DefaultManager>(field: &'static str, key: Value) -> QuerySet<S> {
    S::objects().filter(Q::from_node(Node::Leaf(Leaf {
        path: vec![field.into()],
        lookup: Lookup::Exact,
        operand: Operand::Value(key),
    })))
}

/// One side of a many-to-many relation seen from an instance of `S`; `T` is the other side.
pub struct RelatedManager<S, T> {
    owner: Value,
    mm: &'static ManyToManyMeta,
    /// Seen from the target's side (`tag.posts()`)?
    reverse: bool,
    _m: PhantomData<fn() -> (S, T)>,
}

impl<S, T> std::fmt::Debug for RelatedManager<S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RelatedManager({}.{} of {:?})",
            self.mm.join_table,
            if self.reverse { "reverse" } else { "forward" },
            self.owner
        )
    }
}

/// Something that names a `T` row: an instance or its key.
pub trait RelatedKey<T> {
    /// The key value.
    fn related_key(&self) -> Value;
}

impl<T: Model> RelatedKey<T> for &T {
    fn related_key(&self) -> Value {
        self.pk_value()
    }
}

macro_rules! key_types {
    ($($t:ty),*) => {$(
        impl<T: Model> RelatedKey<T> for $t {
            fn related_key(&self) -> Value {
                self.to_value()
            }
        }
    )*};
}
key_types!(i32, i64, String, &str, uuid::Uuid, Value);

impl<S: Model, T: DefaultManager> RelatedManager<S, T> {
    /// The manager of `owner`'s many-to-many field `field` (declared on `S` when not
    /// `reverse`, on `T` when `reverse`). Used by the derive's generated accessors.
    pub fn new(owner: Value, field: &'static str, reverse: bool) -> Self {
        let decl = if reverse { T::meta() } else { S::meta() };
        let mm =
            decl.many_to_many.iter().find(|m| m.name == field).expect("the derive names a declared many-to-many field");
        RelatedManager { owner, mm, reverse, _m: PhantomData }
    }

    fn cols(&self) -> (&'static str, &'static str, &'static str) {
        let (table, source, target) = crate::sql::m2m_columns(self.mm);
        if self.reverse {
            (table, target, source)
        } else {
            (table, source, target)
        }
    }

    fn check_owner(&self) -> Result<()> {
        if self.owner.is_null() {
            return Err(Error::field_error(format!(
                "{} must be saved before its many-to-many relations can be used",
                S::meta().label()
            )));
        }
        Ok(())
    }

    /// The related objects, as a QuerySet.
    pub fn all(&self) -> QuerySet<T> {
        let back = if self.reverse {
            self.mm.name.to_owned()
        } else {
            ReverseRelation::ManyToMany { model: S::meta(), field: self.mm }.name()
        };
        T::objects().filter(Q::from_node(Node::Leaf(Leaf {
            path: vec![back.into()],
            lookup: Lookup::Exact,
            operand: Operand::Value(self.owner.clone()),
        })))
    }

    fn current(&self, c: &mut dyn Connection, d: Dialect) -> Result<Vec<Value>> {
        let (table, near, far) = self.cols();
        let mut sql = format!("SELECT {} FROM {} WHERE {} = ", d.quote(far), d.quote(table), d.quote(near));
        d.write_placeholder(&mut sql, 1);
        Ok(c.query(&sql, std::slice::from_ref(&self.owner))?
            .into_iter()
            .map(|r| r.into_values().swap_remove(0))
            .collect())
    }

    fn insert(&self, c: &mut dyn Connection, d: Dialect, keys: &[Value]) -> Result<()> {
        let (table, near, far) = self.cols();
        let per = (d.features().max_query_params / 2).clamp(1, 1000);
        for chunk in keys.chunks(per) {
            let mut sql = format!("INSERT INTO {} ({}, {}) VALUES ", d.quote(table), d.quote(near), d.quote(far));
            let mut params = Vec::with_capacity(chunk.len() * 2);
            for (i, k) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                params.push(self.owner.clone());
                d.write_placeholder(&mut sql, params.len());
                sql.push_str(", ");
                params.push(k.clone());
                d.write_placeholder(&mut sql, params.len());
                sql.push(')');
            }
            c.execute(&sql, &params)?;
        }
        Ok(())
    }

    fn delete(&self, c: &mut dyn Connection, d: Dialect, keys: Option<&[Value]>) -> Result<u64> {
        let (table, near, far) = self.cols();
        let mut sql = format!("DELETE FROM {} WHERE {} = ", d.quote(table), d.quote(near));
        let mut params = vec![self.owner.clone()];
        d.write_placeholder(&mut sql, 1);
        if let Some(keys) = keys {
            if keys.is_empty() {
                return Ok(0);
            }
            sql.push_str(&format!(" AND {} IN (", d.quote(far)));
            d.write_placeholder_list(&mut sql, 2, keys.len());
            sql.push(')');
            params.extend_from_slice(keys);
        }
        Ok(c.execute(&sql, &params)?)
    }

    fn keys<K: RelatedKey<T>>(objs: impl IntoIterator<Item = K>) -> Result<Vec<Value>> {
        let mut out: Vec<Value> = Vec::new();
        for o in objs {
            let k = o.related_key();
            if k.is_null() {
                return Err(Error::field_error(format!("cannot relate an unsaved {}", T::meta().label())));
            }
            if !out.contains(&k) {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// The model declaring the field: the sender of its `m2m_changed`.
    fn declaring(&self) -> &'static crate::model::meta::ModelMeta {
        if self.reverse {
            T::meta()
        } else {
            S::meta()
        }
    }

    /// Sends `m2m_changed` for `action` with `pk_set` (None for the clear actions).
    fn send(&self, ex: &(impl Executor + ?Sized), action: M2mAction, pk_set: Option<&[Value]>) -> Result<()> {
        crate::signals::send_m2m_changed(
            ex,
            &M2mChanged {
                sender: self.declaring(),
                field: self.mm.name,
                action,
                reverse: self.reverse,
                instance_model: S::meta(),
                instance_pk: &self.owner,
                model: T::meta(),
                pk_set,
            },
        )
    }

    /// Adds the relations to `objs` (instances or keys); pairs already present are left as
    /// they are (nothing is written twice). Returns how many were added.
    ///
    /// Sends `m2m_changed` `pre_add` and `post_add` with the keys not yet related (as Django
    /// does, also when that set is empty), in the change's transaction: a receiver's error
    /// aborts or rolls back the change. Nothing is sent when `objs` is empty.
    pub fn add<K: RelatedKey<T>>(
        &self,
        objs: impl IntoIterator<Item = K>,
        ex: &(impl Executor + ?Sized),
    ) -> Result<usize> {
        self.check_owner()?;
        let keys = Self::keys(objs)?;
        if keys.is_empty() {
            return Ok(0);
        }
        crate::signals::atomic_on(ex, |tx| self.add_in(tx, keys))
    }

    /// [`add`](Self::add) inside an open transaction.
    fn add_in(&self, tx: &Transaction<'_>, keys: Vec<Value>) -> Result<usize> {
        let d = tx.dialect();
        let signalled = crate::signals::has_m2m_receivers(tx, self.declaring());
        let existing = tx.with_connection(|c| self.current(c, d))?;
        let missing: Vec<Value> = keys.into_iter().filter(|k| !existing.contains(k)).collect();
        if signalled {
            self.send(tx, M2mAction::PreAdd, Some(&missing))?;
        }
        tx.with_connection(|c| self.insert(c, d, &missing))?;
        if signalled {
            self.send(tx, M2mAction::PostAdd, Some(&missing))?;
        }
        Ok(missing.len())
    }

    /// Removes the relations to `objs`; returns how many join rows were deleted.
    ///
    /// Sends `m2m_changed` `pre_remove` and `post_remove` with the given keys (as Django does,
    /// whether related or not), in one transaction with the change. Nothing is sent when
    /// `objs` is empty.
    pub fn remove<K: RelatedKey<T>>(
        &self,
        objs: impl IntoIterator<Item = K>,
        ex: &(impl Executor + ?Sized),
    ) -> Result<u64> {
        self.check_owner()?;
        let keys = Self::keys(objs)?;
        if keys.is_empty() {
            return Ok(0);
        }
        if !crate::signals::has_m2m_receivers(ex, self.declaring()) {
            let d = ex.dialect();
            return ex.with_connection(|c| self.delete(c, d, Some(&keys)));
        }
        crate::signals::atomic_on(ex, |tx| self.remove_in(tx, &keys))
    }

    /// [`remove`](Self::remove) inside an open transaction, with signals.
    fn remove_in(&self, tx: &Transaction<'_>, keys: &[Value]) -> Result<u64> {
        let d = tx.dialect();
        self.send(tx, M2mAction::PreRemove, Some(keys))?;
        let n = tx.with_connection(|c| self.delete(c, d, Some(keys)))?;
        self.send(tx, M2mAction::PostRemove, Some(keys))?;
        Ok(n)
    }

    /// Makes the relations exactly `objs`: removes the others, adds the missing.
    ///
    /// As Django's `set`, this is a `remove` of the others (its `m2m_changed` pair, when there
    /// are any) then an `add` of the missing (its pair, when any), in one transaction.
    pub fn set<K: RelatedKey<T>>(
        &self,
        objs: impl IntoIterator<Item = K>,
        ex: &(impl Executor + ?Sized),
    ) -> Result<()> {
        self.check_owner()?;
        let keys = Self::keys(objs)?;
        crate::signals::atomic_on(ex, |tx| {
            let d = tx.dialect();
            let existing = tx.with_connection(|c| self.current(c, d))?;
            let gone: Vec<Value> = existing.iter().filter(|k| !keys.contains(k)).cloned().collect();
            let new: Vec<Value> = keys.iter().filter(|k| !existing.contains(k)).cloned().collect();
            if !gone.is_empty() {
                if crate::signals::has_m2m_receivers(tx, self.declaring()) {
                    self.remove_in(tx, &gone)?;
                } else {
                    tx.with_connection(|c| self.delete(c, d, Some(&gone)))?;
                }
            }
            if !new.is_empty() {
                self.add_in(tx, new)?;
            }
            Ok(())
        })
    }

    /// Removes every relation of this instance; returns how many join rows were deleted.
    ///
    /// Sends `m2m_changed` `pre_clear` and `post_clear` (no key set), in one transaction with
    /// the change.
    pub fn clear(&self, ex: &(impl Executor + ?Sized)) -> Result<u64> {
        self.check_owner()?;
        if !crate::signals::has_m2m_receivers(ex, self.declaring()) {
            let d = ex.dialect();
            return ex.with_connection(|c| self.delete(c, d, None));
        }
        crate::signals::atomic_on(ex, |tx| {
            let d = tx.dialect();
            self.send(tx, M2mAction::PreClear, None)?;
            let n = tx.with_connection(|c| self.delete(c, d, None))?;
            self.send(tx, M2mAction::PostClear, None)?;
            Ok(n)
        })
    }
}
