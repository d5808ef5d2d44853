//! [`QuerySet::left_join`]: each object with each related object of one relation, in one
//! query, as `(M, Option<R>)` rows (Diesel's `left_join(..).load::<(User, Option<Post>)>`).

use super::QuerySet;
use crate::error::{Error, Result};
use crate::model::Model;
use orm_backends::{Dialect, Executor, Value, ValueRef};
use std::marker::PhantomData;

impl<M: Model> QuerySet<M> {
    /// Pairs each object with each object of `R` related through `relation` (a foreign key,
    /// one-to-one, reverse foreign key or many-to-many of `M`), in one query with a
    /// `LEFT OUTER JOIN`: an object with no related object comes once, with `None`; an
    /// object with several comes once per related object. The rows follow this QuerySet's
    /// filters, order and slice (a slice counts joined rows).
    ///
    /// Django has no such call (it would be `values()` across the relation); it is what a
    /// report over a one-to-many relation needs without a second query, and what Diesel's
    /// `left_join` loads. `prefetch_related` stays the way to fill the relation caches.
    ///
    /// ```
    /// use orm::prelude::*;
    ///
    /// #[derive(Model, Debug, Clone)]
    /// #[orm(app = "shop")]
    /// pub struct Shelf {
    ///     pub id: Auto<i64>,
    ///     #[orm(max_length = 20)]
    ///     pub name: String,
    /// }
    ///
    /// #[derive(Model, Debug, Clone)]
    /// #[orm(app = "shop")]
    /// pub struct Book {
    ///     pub id: Auto<i64>,
    ///     #[orm(related_name = "books")]
    ///     pub shelf: ForeignKey<Shelf>,
    ///     #[orm(max_length = 20)]
    ///     pub title: String,
    /// }
    ///
    /// fn main() -> orm::Result<()> {
    ///     let db = Database::connect("sqlite::memory:")?;
    ///     Schema::new().model::<Shelf>().model::<Book>().create_all(&db)?;
    ///     let sf = Shelf { id: Auto::unset(), name: "sf".into() }.create(&db)?;
    ///     Shelf { id: Auto::unset(), name: "empty".into() }.create(&db)?;
    ///     for title in ["Dune", "Solaris"] {
    ///         Book { id: Auto::unset(), shelf: ForeignKey::to(&sf)?, title: title.into() }.create(&db)?;
    ///     }
    ///     let rows = Shelf::objects().order_by(["name", "books__title"]).left_join::<Book>("books").fetch(&db)?;
    ///     let seen: Vec<(&str, Option<&str>)> =
    ///         rows.iter().map(|(s, b)| (s.name.as_str(), b.as_ref().map(|b| b.title.as_str()))).collect();
    ///     assert_eq!(seen, [("empty", None), ("sf", Some("Dune")), ("sf", Some("Solaris"))]);
    ///     Ok(())
    /// }
    /// ```
    pub fn left_join<R: Model>(self, relation: &str) -> LeftJoin<M, R> {
        LeftJoin { qs: self, relation: relation.to_owned(), _r: PhantomData }
    }
}

/// A QuerySet joined to one relation: see [`QuerySet::left_join`].
pub struct LeftJoin<M, R> {
    qs: QuerySet<M>,
    relation: String,
    _r: PhantomData<fn() -> R>,
}

impl<M, R> Clone for LeftJoin<M, R> {
    fn clone(&self) -> Self {
        LeftJoin { qs: self.qs.clone(), relation: self.relation.clone(), _r: PhantomData }
    }
}

impl<M, R> std::fmt::Debug for LeftJoin<M, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeftJoin").field("relation", &self.relation).finish_non_exhaustive()
    }
}

impl<M: Model, R: Model> LeftJoin<M, R> {
    fn compile(&self, d: Dialect) -> Result<crate::sql::outer::JoinStatement> {
        if !self.qs.prefetch.is_empty() {
            return Err(Error::field_error(format!(
                "left_join(\"{}\") cannot be combined with prefetch_related()",
                self.relation
            )));
        }
        crate::sql::outer::compile_left_join(M::meta(), d, &self.qs.query, &self.relation, R::meta())
    }

    /// The SQL and parameters this join would run on `dialect`.
    pub fn to_sql(&self, dialect: Dialect) -> Result<(String, Vec<Value>)> {
        let s = self.compile(dialect)?;
        Ok((s.sql, s.params))
    }

    /// Runs the query: one `(object, related object or None)` per row.
    pub fn fetch(&self, ex: &(impl Executor + ?Sized)) -> Result<Vec<(M, Option<R>)>> {
        let stmt = self.compile(ex.dialect())?;
        if self.qs.is_none() {
            return Ok(Vec::new());
        }
        let init = crate::signals::init_hub::<M, _>(ex);
        ex.with_connection(|c| {
            let mut out = Vec::new();
            let mut stream = c.stream(&stmt.sql, &stmt.params)?;
            while let Some(row) = stream.next_row()? {
                let left = crate::signals::decode::<M>(init, row)?;
                let right = match row.value_ref(stmt.key)? {
                    ValueRef::Null => None,
                    _ => Some(R::from_row(row, stmt.offset)?),
                };
                out.push((left, right));
            }
            Ok(out)
        })
    }
}
