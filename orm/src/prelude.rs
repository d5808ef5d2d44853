//! The one glob import users write: `use orm::prelude::*;`.

pub use crate::{
    Auto, Database, Dialect, Error, Executor, ForeignKey, ManyToMany, Model, OnDelete, OneToOne, OrderBy, Prefetch,
    QuerySet, Result, Reverse, SaveOptions, Schema, Q,
};
