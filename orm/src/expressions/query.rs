//! The query tree a QuerySet holds: plain data (filters, ordering, slice, annotations …)
//! that the compiler (`sql`) reads. It lives with the expressions because a subquery is an
//! expression that holds one.

use super::q::Node;
use super::{Expr, OrderBy};

/// Row locking for `select_for_update`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ForUpdate {
    pub nowait: bool,
    pub skip_locked: bool,
}

/// The parts of a SELECT that a QuerySet holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Query {
    pub filters: Vec<Node>,
    pub order: Option<Vec<OrderBy>>,
    pub limit: Option<u64>,
    pub offset: u64,
    pub distinct: bool,
    pub annotations: Vec<(String, Expr)>,
    pub values: Option<Vec<String>>,
    pub for_update: Option<ForUpdate>,
    pub select_related: Vec<String>,
}
