//! Related managers: the many-to-many side of an instance (`post.tags()`, `tag.posts()`) with
//! `all`, `add`, `remove`, `set` and `clear`, and the reverse foreign-key accessor's QuerySet.

use crate::error::{Error, Result};
use crate::model::meta::ManyToManyMeta;
use crate::model::registry::ReverseRelation;
use crate::model::Model;
use crate::q::{Leaf, Lookup, Node, Operand, Q};
use crate::queryset::QuerySet;
use orm_backends::{Connection, Dialect, Executor, ToValue, Value};
use std::marker::PhantomData;

/// The rows of `S` whose `field` equals `key` (the reverse foreign-key accessor).
pub fn related_queryset<S: Model>(field: &'static str, key: Value) -> QuerySet<S> {
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

impl<S: Model, T: Model> RelatedManager<S, T> {
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
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                params.push(k.clone());
                d.write_placeholder(&mut sql, params.len());
            }
            sql.push(')');
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

    /// Adds the relations to `objs` (instances or keys); pairs already present are left as
    /// they are (nothing is written twice). Returns how many were added.
    pub fn add<K: RelatedKey<T>>(
        &self,
        objs: impl IntoIterator<Item = K>,
        ex: &(impl Executor + ?Sized),
    ) -> Result<usize> {
        self.check_owner()?;
        let keys = Self::keys(objs)?;
        let d = ex.dialect();
        ex.with_connection(|c| {
            orm_backends::atomic(c, |tx| {
                tx.with_connection(|c| {
                    let existing = self.current(c, d)?;
                    let missing: Vec<Value> = keys.into_iter().filter(|k| !existing.contains(k)).collect();
                    self.insert(c, d, &missing)?;
                    Ok(missing.len())
                })
            })
        })
    }

    /// Removes the relations to `objs`; returns how many join rows were deleted.
    pub fn remove<K: RelatedKey<T>>(
        &self,
        objs: impl IntoIterator<Item = K>,
        ex: &(impl Executor + ?Sized),
    ) -> Result<u64> {
        self.check_owner()?;
        let keys = Self::keys(objs)?;
        let d = ex.dialect();
        ex.with_connection(|c| self.delete(c, d, Some(&keys)))
    }

    /// Makes the relations exactly `objs`: removes the others, adds the missing.
    pub fn set<K: RelatedKey<T>>(
        &self,
        objs: impl IntoIterator<Item = K>,
        ex: &(impl Executor + ?Sized),
    ) -> Result<()> {
        self.check_owner()?;
        let keys = Self::keys(objs)?;
        let d = ex.dialect();
        ex.with_connection(|c| {
            orm_backends::atomic(c, |tx| {
                tx.with_connection(|c| {
                    let existing = self.current(c, d)?;
                    let gone: Vec<Value> = existing.iter().filter(|k| !keys.contains(k)).cloned().collect();
                    let new: Vec<Value> = keys.iter().filter(|k| !existing.contains(k)).cloned().collect();
                    self.delete(c, d, Some(&gone))?;
                    self.insert(c, d, &new)?;
                    Ok(())
                })
            })
        })
    }

    /// Removes every relation of this instance; returns how many join rows were deleted.
    pub fn clear(&self, ex: &(impl Executor + ?Sized)) -> Result<u64> {
        self.check_owner()?;
        let d = ex.dialect();
        ex.with_connection(|c| self.delete(c, d, None))
    }
}
