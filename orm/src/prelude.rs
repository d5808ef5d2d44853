//! The one glob import users write: `use orm::prelude::*;`.

pub use crate::{
    Auto, Database, Databases, DefaultManager, Dialect, Error, Executor, ForeignKey, ManyToMany, Model, OnDelete,
    OneToOne, OrderBy, Persist, Prefetch, QuerySet, Result, Reverse, SaveOptions, Schema, Q,
};
