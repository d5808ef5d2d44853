//! `full_clean`: every field checked, every message collected per field.

use crate::error::{Error, Result, ValidationErrors, NON_FIELD_ERRORS};
use crate::expressions::q::{Leaf, Lookup, Node, Operand};
use crate::model::meta::ConstraintMeta;
use crate::model::Model;
use crate::queryset::QuerySet;
use crate::Q;
use orm_backends::{Executor, Value};
use std::borrow::Cow;

fn eq_leaf(name: &'static str, v: Value) -> Node {
    Node::Leaf(Leaf { path: vec![Cow::Borrowed(name)], lookup: Lookup::Exact, operand: Operand::Value(v) })
}

/// Is there another row (not `obj`) with these field values?
fn taken<M: Model>(obj: &M, ex: &(impl Executor + ?Sized), fields: &[(&'static str, Value)]) -> Result<bool> {
    let mut qs = QuerySet::<M>::new();
    for (name, v) in fields {
        qs = qs.filter(Q::from_node(eq_leaf(name, v.clone())));
    }
    let pk = obj.pk_value();
    if !pk.is_null() {
        qs = qs.exclude(Q::from_node(eq_leaf("pk", pk)));
    }
    qs.exists(ex)
}

pub(crate) fn full_clean<M: Model>(obj: &M, ex: &(impl Executor + ?Sized)) -> Result<()> {
    let meta = M::meta();
    let mut errors = ValidationErrors::new();
    for (i, f) in meta.fields.iter().enumerate() {
        let v = obj.field_value(i);
        if v.is_null() {
            if !f.null && !f.auto {
                errors.add(f.name, "This field cannot be null.");
            }
            continue;
        }
        if let Value::Text(s) = &v {
            if s.is_empty() && !f.blank {
                errors.add(f.name, "This field cannot be blank.");
            }
            if let Some(max) = f.max_length {
                let n = s.chars().count();
                if n > max as usize {
                    errors.add(f.name, format!("Ensure this value has at most {max} characters (it has {n})."));
                }
            }
        }
        if !f.choices.is_empty() && !f.choices.iter().any(|c| c.value.matches(&v)) {
            let shown = match &v {
                Value::Text(s) => format!("'{s}'"),
                Value::Int(i) => i.to_string(),
                other => format!("{other:?}"),
            };
            errors.add(f.name, format!("Value {shown} is not a valid choice."));
        }
        if (f.unique || (f.primary_key && !f.auto)) && errors.get(f.name).is_empty() && taken(obj, ex, &[(f.name, v)])?
        {
            let verbose = if f.verbose_name.is_empty() { f.name } else { f.verbose_name };
            errors.add(f.name, format!("{} with this {verbose} already exists.", meta.name));
        }
    }
    for c in meta.constraints {
        if let ConstraintMeta::Unique { fields, .. } = c {
            let mut values = Vec::with_capacity(fields.len());
            let mut skip = false;
            for name in *fields {
                let Some(i) = meta.field_index(name) else {
                    return Err(Error::ImproperlyConfigured(format!(
                        "unique constraint `{}` of {} names unknown field `{name}`",
                        c.name(),
                        meta.label()
                    )));
                };
                let v = obj.field_value(i);
                // NULLs never collide in a unique constraint.
                skip |= v.is_null();
                values.push((meta.fields[i].name, v));
            }
            if !skip && taken(obj, ex, &values)? {
                errors
                    .add(NON_FIELD_ERRORS, format!("{} with this {} already exists.", meta.name, fields.join(" and ")));
            }
        }
    }
    obj.validate_fields(&mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::ValidationError(errors))
    }
}
