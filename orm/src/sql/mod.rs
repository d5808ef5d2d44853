//! The query compiler: a query tree ([`Query`](crate::expressions::query::Query)) into one
//! parameterised statement per dialect. Never public: users build
//! [`QuerySet`](crate::QuerySet)s. It knows the metadata and the expressions, never
//! QuerySets, prefetching or signals.
//!
//! Compilation resolves every field path against the model's metadata first, so an unknown
//! field or lookup is a `FieldError` before any SQL exists. Identifiers are quoted by the
//! dialect; values only ever become bound parameters.
//!
//! | file | Django's counterpart | what it does |
//! |---|---|---|
//! | `joins.rs` | `sql/query.py` (`setup_joins`), `datastructures.py` | resolves paths, records and promotes joins |
//! | `where_clause.rs` | `sql/where.py`, `lookups.py` | condition trees, lookups, NULL rules, EXISTS |
//! | `functions.rs` | `functions/*.py`, `expressions.py` (`Case`, `Window`) | database functions, `CASE` and windows per dialect |
//! | `compound.rs` | `compiler.py` (`get_combinator_sql`) | `UNION`, `INTERSECT`, `EXCEPT` |
//! | `json.rs` | `fields/json.py` | JSON key transforms and lookups |
//! | `writer.rs` | `compiler.py` (`compile`, `as_sql`) | SQL text and parameters, expressions, ORDER BY, LIMIT |
//! | `compiler.rs` | `compiler.py` (`as_sql`, `SQLUpdateCompiler`, `SQLDeleteCompiler`) | SELECT, UPDATE, DELETE |
//! | `shape.rs` | — | the cache key of a query's shape, and its parameters on a hit |

mod compiler;
mod compound;
mod functions;
mod joins;
mod json;
mod shape;
mod where_clause;
mod writer;

use crate::error::{Error, Result};
use crate::expressions::q::{Leaf, Lookup, Node, Operand, Transform};
use crate::expressions::query::Query;
use crate::expressions::{AggFunc, ArithOp, Expr, Func, SubqueryExpr};
use crate::expressions::{Nulls, OrderBy};
use crate::fields::ColumnKind;
use crate::model::meta::{FieldMeta, ModelMeta};
use orm_backends::{Dialect, Value};
use std::cell::{Cell, RefCell};

pub(crate) use compiler::*;
pub(crate) use compound::compile_compound;
pub(crate) use joins::*;
use json::KeyForm;
pub(crate) use where_clause::*;
pub(crate) use writer::*;

/// SQL text plus its parameters, in order, and where `select_related` objects sit in a row.
#[derive(Debug)]
pub(crate) struct Statement {
    pub sql: std::sync::Arc<str>,
    pub params: Vec<Value>,
    /// Shared with the cached shape: a hit copies no tree.
    pub related: std::sync::Arc<[crate::model::related::RelatedNode]>,
    /// Where the columns of the `left_join` relation's objects start.
    pub joined: Option<usize>,
}

/// What to select.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Select {
    /// Every column of the model in field order, then the annotations.
    Model,
    /// The `values()` columns (or every field and annotation when none were named).
    Values,
    /// `COUNT(*)` of the rows the query would return.
    Count,
    /// `1` (for exists).
    One,
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_in_user_values_are_escaped() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
    }
}
