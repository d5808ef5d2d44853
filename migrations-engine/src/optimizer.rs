//! The optimizer: shortens a list of operations by merging each with a later one it can
//! absorb (CreateModel + AddField → CreateModel, AddField + RemoveField → nothing, …), as long
//! as no operation in between touches the same model.

use crate::operations::Operation;

/// The shortest equivalent list the reductions find (repeated until nothing changes).
pub fn optimize(mut ops: Vec<Operation>, app: &str) -> Vec<Operation> {
    loop {
        let next = optimize_once(&ops, app);
        if next.len() == ops.len() && next == ops {
            return next;
        }
        ops = next;
    }
}

fn models_of(op: &Operation, app: &str, all: &[Operation]) -> Vec<String> {
    // The models an operation touches, among those any operation of the list names.
    let mut labels: Vec<String> = Vec::new();
    for other in all {
        for l in names(other, app) {
            if op.references_model(app, &l) && !labels.contains(&l) {
                labels.push(l);
            }
        }
    }
    labels
}

fn names(op: &Operation, app: &str) -> Vec<String> {
    let own = match op {
        Operation::CreateModel(c) => Some(&c.name),
        Operation::DeleteModel(d) => Some(&d.name),
        Operation::RenameModel(r) => Some(&r.old_name),
        Operation::AlterModelTable(t) => Some(&t.name),
        Operation::AlterModelOptions(o) => Some(&o.name),
        Operation::AddField(a) => Some(&a.model),
        Operation::RemoveField(r) => Some(&r.model),
        Operation::AlterField(a) => Some(&a.model),
        Operation::RenameField(r) => Some(&r.model),
        Operation::AddIndex(a) => Some(&a.model),
        Operation::RemoveIndex(r) => Some(&r.model),
        Operation::AddConstraint(a) => Some(&a.model),
        Operation::RemoveConstraint(r) => Some(&r.model),
        Operation::AlterUniqueTogether(a) => Some(&a.model),
        _ => None,
    };
    let mut v: Vec<String> = own.map(|n| format!("{app}.{n}")).into_iter().collect();
    if let Operation::RenameModel(r) = op {
        v.push(format!("{app}.{}", r.new_name));
    }
    v.extend(op.foreign_labels(app));
    if let Operation::AddField(a) = op {
        v.extend(a.field.relation.as_ref().map(|r| r.to.clone()));
    }
    if let Operation::CreateModel(c) = op {
        for f in &c.fields {
            v.extend(f.relation.as_ref().map(|r| r.to.clone()));
        }
    }
    v
}

fn optimize_once(ops: &[Operation], app: &str) -> Vec<Operation> {
    for (i, a) in ops.iter().enumerate() {
        let touched = models_of(a, app, ops);
        for (j, b) in ops.iter().enumerate().skip(i + 1) {
            if let Some(merged) = a.reduce(b, app) {
                let between_ok = ops[i + 1..j].iter().all(|x| !touched.iter().any(|l| x.references_model(app, l)));
                if between_ok {
                    let mut out: Vec<Operation> = ops[..i].to_vec();
                    out.extend(merged);
                    out.extend(ops[i + 1..j].iter().cloned());
                    out.extend(ops[j + 1..].iter().cloned());
                    return out;
                }
            }
            // `b` cannot move before `a` when it touches what `a` touches.
            if touched.iter().any(|l| b.references_model(app, l)) {
                break;
            }
        }
    }
    ops.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operations::{AddField, AlterField, CreateModel, DeleteModel, RemoveField, RenameField};
    use crate::state::{FieldState, ModelState};
    use orm_backends::schema::ColumnType;

    fn create(name: &str) -> Operation {
        Operation::CreateModel(CreateModel::of(
            &ModelState::new("a", name, format!("a_{}", name.to_lowercase())).field(FieldState::auto_pk("id")),
        ))
    }

    fn add(model: &str, f: &str) -> Operation {
        Operation::AddField(AddField {
            model: model.into(),
            field: FieldState::new(f, ColumnType::Integer),
            preserve_default: true,
        })
    }

    #[test]
    fn create_then_add_field_is_one_create() {
        let out = optimize(vec![create("A"), add("A", "x")], "a");
        assert_eq!(out.len(), 1);
        match &out[0] {
            Operation::CreateModel(c) => assert_eq!(c.fields.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_then_delete_is_nothing() {
        let out =
            optimize(vec![create("A"), add("A", "x"), Operation::DeleteModel(DeleteModel { name: "A".into() })], "a");
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn field_chains_collapse() {
        let alter = Operation::AlterField(AlterField {
            model: "B".into(),
            field: FieldState::new("x", ColumnType::BigInt),
            preserve_default: true,
        });
        let rename =
            Operation::RenameField(RenameField { model: "B".into(), old_name: "x".into(), new_name: "y".into() });
        let out = optimize(vec![add("B", "x"), alter, rename], "a");
        assert_eq!(out.len(), 1);
        match &out[0] {
            Operation::AddField(a) => {
                assert_eq!(a.field.name, "y");
                assert_eq!(a.field.ty.to_string(), "bigint");
            }
            other => panic!("{other:?}"),
        }
        let rm = Operation::RemoveField(RemoveField { model: "B".into(), name: "x".into() });
        assert!(optimize(vec![add("B", "x"), rm], "a").is_empty());
    }

    #[test]
    fn an_operation_in_between_on_the_same_model_blocks_the_merge() {
        let ops = vec![
            add("B", "x"),
            Operation::RenameField(RenameField { model: "B".into(), old_name: "y".into(), new_name: "z".into() }),
            Operation::RemoveField(RemoveField { model: "B".into(), name: "x".into() }),
        ];
        assert_eq!(optimize(ops.clone(), "a"), ops);
        let independent = vec![
            add("B", "x"),
            create("C"),
            Operation::RemoveField(RemoveField { model: "B".into(), name: "x".into() }),
        ];
        assert_eq!(optimize(independent, "a").len(), 1);
    }
}
