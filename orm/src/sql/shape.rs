//! The shape of a query: everything its SQL text depends on, and none of the values that only
//! become bound parameters. Two queries with the same shape (on the same model, dialect and
//! kind of SELECT) render the same SQL, so the text is rendered once and found again by this
//! key; only the parameters are collected again (see `compile_select`).
//!
//! The encoding is exhaustive by construction: every enum is matched without a wildcard, so a
//! new variant of `Node`, `Operand` or `Expr` does not compile until it is encoded. What a
//! value contributes is exactly what the compiler reads off it besides binding it: whether it
//! is NULL (`= NULL` renders `IS NULL`), its kind (text lookups need text), the truth of an
//! `isnull` operand, and how many non-NULL items an `in` list has.

use super::Query;
use crate::expressions::q::{Leaf, Lookup, Node, Operand};
use crate::expressions::OrderBy;
use crate::expressions::{Aggregate, CaseExpr, Expr, SubqueryExpr, When, WindowExpr};
use orm_backends::Value;
use std::io::Write;

/// Appends the shape of `q` to `out`.
pub(crate) fn encode_query(q: &Query, out: &mut Vec<u8>) {
    let Query {
        filters,
        order,
        limit,
        offset,
        distinct,
        annotations,
        annotation_at,
        values,
        values_from,
        for_update,
        select_related,
        defer,
        only,
        hidden,
        distinct_on,
    } = q;
    len(out, filters.len());
    for n in filters {
        node(n, out);
    }
    match order {
        None => out.push(0),
        Some(terms) => {
            out.push(1);
            len(out, terms.len());
            for t in terms {
                order_by(t, out);
            }
        }
    }
    out.push(u8::from(limit.is_some()) | (u8::from(*offset > 0) << 1) | (u8::from(*distinct) << 2));
    len(out, annotation_at.len());
    for &at in annotation_at {
        len(out, at);
    }
    len(out, annotations.len());
    for (name, e) in annotations {
        text(out, name);
        expr(e, out);
    }
    match values {
        None => out.push(0),
        Some(names) => {
            out.push(1);
            len(out, *values_from);
            len(out, names.len());
            for n in names {
                text(out, n);
            }
        }
    }
    match for_update {
        None => out.push(0),
        Some(f) => {
            out.push(1 | (u8::from(f.nowait) << 1) | (u8::from(f.skip_locked) << 2) | (u8::from(f.no_key) << 3));
            len(out, f.of.len());
            for o in &f.of {
                text(out, o);
            }
        }
    }
    len(out, select_related.len());
    for p in select_related {
        text(out, p);
    }
    len(out, defer.len());
    for p in defer {
        text(out, p);
    }
    match only {
        None => out.push(0),
        Some(names) => {
            out.push(1);
            len(out, names.len());
            for n in names {
                text(out, n);
            }
        }
    }
    len(out, hidden.len());
    for n in hidden {
        text(out, n);
    }
    len(out, distinct_on.len());
    for n in distinct_on {
        text(out, n);
    }
}

/// Appends the shape of a set operation: its operator, each side's shape, its ordering, the
/// presence of a slice and the selected names.
pub(crate) fn encode_compound(c: &crate::expressions::query::Compound, out: &mut Vec<u8>) {
    use crate::expressions::query::{Arm, Compound};
    let Compound { op, arms, order, limit, offset, values } = c;
    out.push(*op as u8);
    len(out, arms.len());
    for arm in arms {
        match arm {
            Arm::Query(q) => {
                out.push(0);
                encode_query(q, out);
            }
            Arm::Compound(inner) => {
                out.push(1);
                encode_compound(inner, out);
            }
        }
    }
    len(out, order.len());
    for t in order {
        order_by(t, out);
    }
    out.push(u8::from(limit.is_some()) | (u8::from(*offset > 0) << 1));
    match values {
        None => out.push(0),
        Some(names) => {
            out.push(1);
            len(out, names.len());
            for n in names {
                text(out, n);
            }
        }
    }
}

fn len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn text(out: &mut Vec<u8>, s: &str) {
    len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn path(out: &mut Vec<u8>, p: &[std::borrow::Cow<'static, str>]) {
    len(out, p.len());
    for part in p {
        text(out, part);
    }
}

fn order_by(t: &OrderBy, out: &mut Vec<u8>) {
    let OrderBy { path, expr: e, descending, nulls } = t;
    text(out, path);
    out.push(u8::from(*descending));
    out.push(*nulls as u8);
    match e {
        None => out.push(0),
        Some(e) => {
            out.push(1);
            expr(e, out);
        }
    }
}

fn node(n: &Node, out: &mut Vec<u8>) {
    match n {
        Node::And(items) | Node::Or(items) => {
            out.push(if matches!(n, Node::And(_)) { 1 } else { 2 });
            len(out, items.len());
            for i in items {
                node(i, out);
            }
        }
        Node::Not(inner) => {
            out.push(3);
            node(inner, out);
        }
        Node::Leaf(l) => {
            out.push(4);
            leaf(l, out);
        }
        Node::Expr(e) => {
            out.push(5);
            expr(e, out);
        }
        Node::Const(b) => out.push(6 + u8::from(*b)),
    }
}

fn leaf(l: &Leaf, out: &mut Vec<u8>) {
    let Leaf { path: p, lookup, operand } = l;
    path(out, p);
    match lookup {
        Lookup::Custom(id) => {
            out.push(0xfe);
            out.extend_from_slice(&id.to_le_bytes());
        }
        built_in => out.push(Lookup::ALL.iter().position(|(_, l)| l == built_in).unwrap_or(0xff) as u8),
    }
    match operand {
        Operand::Value(v) => {
            out.push(1);
            value(v, out);
            if *lookup == Lookup::IsNull {
                // `isnull` renders `IS NULL` or `IS NOT NULL` from the value itself (anything
                // but a boolean is refused).
                out.push(match v {
                    Value::Bool(b) => u8::from(*b),
                    _ => 2,
                });
            }
        }
        Operand::List(items) => {
            out.push(2);
            len(out, items.iter().filter(|v| !v.is_null()).count());
        }
        Operand::Pair(a, b) => {
            out.push(3);
            value(a, out);
            value(b, out);
        }
        Operand::Expr(e) => {
            out.push(4);
            expr(e, out);
        }
        Operand::Subquery(s) => {
            out.push(5);
            subquery(s, out);
        }
    }
}

/// A value's kind (which the compiler checks) without its content (which is bound).
fn value(v: &Value, out: &mut Vec<u8>) {
    out.push(match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Int(_) => 2,
        Value::Float(_) => 3,
        Value::Text(_) => 4,
        Value::Bytes(_) => 5,
        Value::Date(_) => 6,
        Value::Time(_) => 7,
        Value::DateTime(_) => 8,
        Value::DateTimeTz(_) => 9,
        Value::Uuid(_) => 10,
        Value::Json(_) => 11,
        Value::Decimal(_) => 12,
        _ => 13,
    });
}

fn subquery(s: &SubqueryExpr, out: &mut Vec<u8>) {
    let SubqueryExpr { meta, query, select } = s;
    out.extend_from_slice(&(*meta as *const crate::ModelMeta as usize).to_le_bytes());
    encode_query(query, out);
    match select {
        None => out.push(0),
        Some(e) => {
            out.push(1);
            expr(e, out);
        }
    }
}

fn expr(e: &Expr, out: &mut Vec<u8>) {
    match e {
        Expr::Field(p) => {
            out.push(1);
            path(out, p);
        }
        Expr::OuterRef(p) => {
            out.push(2);
            path(out, p);
        }
        Expr::Value(v) => {
            out.push(3);
            value(v, out);
        }
        Expr::Binary(a, op, b) => {
            out.push(4);
            out.push(*op as u8);
            expr(a, out);
            expr(b, out);
        }
        Expr::Func(f, args) => {
            out.push(5);
            // The function with its parameters (a cast's type, `NTILE`'s count): all of it
            // shapes the text.
            let (tag, payload) = f.shape_code();
            out.push(tag);
            out.extend_from_slice(&payload.to_le_bytes());
            len(out, args.len());
            for a in args {
                expr(a, out);
            }
        }
        Expr::Aggregate(agg) => {
            out.push(6);
            let Aggregate { func, arg, distinct, filter, default } = &**agg;
            out.push(*func as u8);
            out.push(u8::from(*distinct));
            match arg {
                None => out.push(0),
                Some(a) => {
                    out.push(1);
                    expr(a, out);
                }
            }
            match filter {
                None => out.push(0),
                Some(f) => {
                    out.push(1);
                    node(f, out);
                }
            }
            match default {
                None => out.push(0),
                Some(v) => {
                    out.push(1);
                    value(v, out);
                }
            }
        }
        Expr::Subquery(s) => {
            out.push(7);
            subquery(s, out);
        }
        Expr::Exists(s) => {
            out.push(8);
            subquery(s, out);
        }
        Expr::Case(c) => {
            out.push(9);
            let CaseExpr { whens, default } = &**c;
            len(out, whens.len());
            for When { condition, then } in whens {
                node(condition, out);
                expr(then, out);
            }
            match default {
                None => out.push(0),
                Some(d) => {
                    out.push(1);
                    expr(d, out);
                }
            }
        }
        Expr::Window(w) => {
            out.push(10);
            let WindowExpr { expression, partition_by, order_by: terms, frame } = &**w;
            expr(expression, out);
            len(out, partition_by.len());
            for e in partition_by {
                expr(e, out);
            }
            len(out, terms.len());
            for t in terms {
                order_by(t, out);
            }
            let _ = write!(out, "{frame:?};");
        }
        Expr::Selected(name) => {
            out.push(11);
            text(out, name);
        }
    }
}

/// The parameters of `q` read straight off its filters and limits, in the order the compiler
/// binds them, for the shapes where that is all they are; `None` for anything else (an
/// annotation, an ordering or filter expression, a subquery, a lookup whose value the compiler
/// rewrites, such as `contains` into a `LIKE` pattern).
///
/// A cache hit uses this instead of walking the query through the compiler again to collect
/// its parameters (which cost a filtered one-row read about 2,000 instructions, as much as
/// rendering it). It is trusted for a shape only if, when the shape was first rendered, it gave
/// exactly the parameters the compiler bound (`compile_select_joined` checks); the lookups
/// allowed here bind their values unchanged, so what held for the first query of a shape holds
/// for every query of it.
pub(crate) fn direct_params(q: &Query) -> Option<Vec<Value>> {
    let Query {
        filters,
        order,
        limit,
        offset,
        distinct: _,
        annotations,
        annotation_at: _,
        values: _,
        values_from: _,
        for_update: _,
        select_related: _,
        defer: _,
        only: _,
        hidden: _,
        distinct_on: _,
    } = q;
    if !annotations.is_empty() || order.as_ref().is_some_and(|o| o.iter().any(|t| t.expr.is_some())) {
        return None;
    }
    let mut out = Vec::new();
    for n in filters {
        node_params(n, &mut out)?;
    }
    out.extend(super::limit_offset_params(*limit, *offset).into_iter().flatten());
    Some(out)
}

fn node_params(n: &Node, out: &mut Vec<Value>) -> Option<()> {
    match n {
        Node::And(items) | Node::Or(items) => {
            for i in items {
                node_params(i, out)?;
            }
        }
        Node::Not(inner) => node_params(inner, out)?,
        Node::Const(_) => {}
        Node::Expr(_) => return None,
        Node::Leaf(Leaf { lookup, operand, .. }) => match (lookup, operand) {
            (Lookup::IsNull, Operand::Value(_)) => {}
            (Lookup::Exact | Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte, Operand::Value(v)) => {
                if !v.is_null() {
                    out.push(v.clone());
                }
            }
            (Lookup::In, Operand::List(items)) => out.extend(items.iter().filter(|v| !v.is_null()).cloned()),
            (Lookup::Range, Operand::Pair(a, b)) => {
                out.push(a.clone());
                out.push(b.clone());
            }
            _ => return None,
        },
    }
    Some(())
}
