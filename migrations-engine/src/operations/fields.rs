//! Field operations: AddField, RemoveField, AlterField, RenameField.

use super::{label, snake, Operation, OperationBehavior};
use crate::editor::TableChange;
use crate::error::{MigrationError, Result};
use crate::state::{
    default_true, is_true, json_to_value, rename_column_in_sql, ConstraintState, DefaultState, FieldState, ModelState,
    ProjectState,
};
use orm::Value;
use orm_backends::schema::ColumnType;
use serde::{Deserialize, Serialize};

/// The changes to model `l`'s table and join tables between two states. `renamed_field` maps
/// a many-to-many field's old name to its new one, so its join table is renamed, not
/// re-created.
pub(crate) fn model_changes(
    l: &str,
    before: &ProjectState,
    after: &ProjectState,
    renamed_columns: Vec<(String, String)>,
    fill: Vec<(String, Value)>,
    renamed_field: Option<(&str, &str)>,
) -> Result<Vec<TableChange>> {
    let (mb, ma) = (before.get(l)?, after.get(l)?);
    if !mb.has_table() || !ma.has_table() {
        return Ok(Vec::new());
    }
    let mut out = vec![TableChange {
        before: Some(before.table_def(l)?),
        after: Some(after.table_def(l)?),
        renamed_columns,
        fill,
    }];
    let jb = before.join_table_defs(l)?;
    let ja = after.join_table_defs(l)?;
    let new_name = |n: &str| match renamed_field {
        Some((o, nn)) if o == n => nn.to_owned(),
        _ => n.to_owned(),
    };
    for (name, tb) in &jb {
        match ja.iter().find(|(n, _)| *n == new_name(name)) {
            Some((_, ta)) => {
                let renamed = tb
                    .columns
                    .iter()
                    .zip(&ta.columns)
                    .filter(|(x, y)| x.name != y.name)
                    .map(|(x, y)| (x.name.clone(), y.name.clone()))
                    .collect();
                out.push(TableChange {
                    before: Some(tb.clone()),
                    after: Some(ta.clone()),
                    renamed_columns: renamed,
                    fill: Vec::new(),
                });
            }
            None => out.push(TableChange { before: Some(tb.clone()), ..TableChange::default() }),
        }
    }
    for (name, ta) in &ja {
        let existed = jb.iter().any(|(n, _)| new_name(n) == *name);
        if !existed {
            out.push(TableChange { after: Some(ta.clone()), ..TableChange::default() });
        }
    }
    Ok(out)
}

/// Renames field `old` of `m` to `new` in place: the column follows when it was derived from
/// the name (`old` or `old_id`), an auto-created join table named `<table>_<old>` follows, and
/// indexes and unique constraints naming the field are updated.
pub(crate) fn rename_field_in(m: &mut ModelState, old: &str, new: &str) -> Result<()> {
    if m.get_field(new).is_some() {
        return Err(MigrationError::bad(format!("{} already has a field `{new}`", m.label())));
    }
    let table = m.table.clone();
    let f =
        m.get_field_mut(old).ok_or_else(|| MigrationError::bad(format!("{} has no field `{old}` to rename", table)))?;
    f.name = new.to_owned();
    let old_column = f.column.clone();
    if f.column == old {
        f.column = new.to_owned();
    } else if f.column == format!("{old}_id") {
        f.column = format!("{new}_id");
    }
    let new_column = f.column.clone();
    if let Some(mm) = &mut f.many_to_many {
        if mm.through.is_none() && mm.join_table == format!("{table}_{old}") {
            mm.join_table = format!("{table}_{new}");
        }
    }
    let fix = |v: &mut Vec<String>| {
        for x in v.iter_mut().filter(|x| *x == old) {
            *x = new.to_owned();
        }
    };
    for i in &mut m.indexes {
        fix(&mut i.fields);
    }
    for c in &mut m.constraints {
        if let ConstraintState::Unique { fields, .. } = c {
            fix(fields);
        }
    }
    rename_column_in_checks(m, &old_column, &new_column);
    Ok(())
}

/// Rewrites column `old` to `new` in the SQL of `m`'s check constraints (a renamed column).
pub(crate) fn rename_column_in_checks(m: &mut ModelState, old: &str, new: &str) {
    if old == new || old.is_empty() || new.is_empty() {
        return;
    }
    for c in &mut m.constraints {
        if let ConstraintState::Check { sql, .. } = c {
            *sql = rename_column_in_sql(sql, old, new);
        }
    }
}

/// After field `field` of model `label` changed its column type from `from` to `to`: the
/// relation fields of the project that reference it (foreign keys and one-to-one links to
/// the primary key, or to it by `to_field`) and still have its old type take the new one, as
/// the models do (a relation's column has its target's type). A reference that is itself a
/// primary key (a multi-table child's `<parent>_ptr`) passes the change on to its own
/// references. Many-to-many join tables follow by themselves (they render with the keys'
/// types). Custom (`db_type`) types are not passed on: a relation has its target's kind.
pub(crate) fn retype_references(
    state: &mut ProjectState,
    label: &str,
    field: &str,
    from: &ColumnType,
    to: &ColumnType,
) -> Result<()> {
    if matches!(from, ColumnType::Custom(_)) || matches!(to, ColumnType::Custom(_)) {
        return Ok(());
    }
    let mut work = vec![(label.to_owned(), field.to_owned())];
    let mut seen = std::collections::BTreeSet::new();
    while let Some((l, f)) = work.pop() {
        if !seen.insert((l.clone(), f.clone())) {
            continue;
        }
        for (ml, fname) in state.referencing_fields(&l, &f)? {
            let m = state.get_mut(&ml)?;
            let Some(rf) = m.get_field_mut(&fname) else { continue };
            if rf.ty.column_type() != Some(from) {
                continue;
            }
            rf.ty = crate::state::TypeState::Column(to.clone());
            if rf.primary_key {
                work.push((ml, fname));
            }
        }
    }
    Ok(())
}

/// The changes of the tables (and join tables) of every model but `l` whose rendering differs
/// between the two states: the tables whose relation columns follow a retyped key.
pub(crate) fn other_tables_changed(l: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
    let own = after.get(l)?.label();
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (label, ma) in &after.models {
        if *label == own || !ma.has_table() || seen.contains(&ma.table) {
            continue;
        }
        let Some(mb) = before.model(label).filter(|m| m.has_table()) else { continue };
        seen.push(ma.table.clone());
        // A table that does not render (a relation to a model the state lacks) cannot follow
        // this change either: it is left alone, as before this operation looked at others.
        let (Ok(tb), Ok(ta)) = (before.table_def(&mb.label()), after.table_def(label)) else { continue };
        if tb != ta {
            out.push(TableChange { before: Some(tb), after: Some(ta), ..TableChange::default() });
        }
        let (Ok(jb), Ok(ja)) = (before.join_table_defs(&mb.label()), after.join_table_defs(label)) else { continue };
        for (name, ta) in ja {
            if let Some((_, tb)) = jb.iter().find(|(n, _)| *n == name) {
                if *tb != ta {
                    out.push(TableChange { before: Some(tb.clone()), after: Some(ta), ..TableChange::default() });
                }
            }
        }
    }
    Ok(out)
}

fn one_off(field: &FieldState, preserve_default: bool) -> Option<Value> {
    if preserve_default {
        return None;
    }
    match &field.default {
        Some(DefaultState::Value(j)) => json_to_value(j, field.ty.column_type()),
        _ => None,
    }
}

/// Adds a field: a column (filled from the field's default, or a one-off default when
/// `preserve_default` is false), or a join table for a many-to-many field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddField {
    /// The model's name.
    pub model: String,
    /// The new field.
    pub field: FieldState,
    /// Keep `field.default` as the column's default? When false, the default only fills the
    /// existing rows (Django's one-off default).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub preserve_default: bool,
}

impl OperationBehavior for AddField {
    fn describe(&self) -> String {
        format!("Add field {} to {}", self.field.name, self.model)
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        let m = state.get_mut(&label(app, &self.model))?;
        if m.get_field(&self.field.name).is_some() {
            return Err(MigrationError::bad(format!(
                "AddField: {} already has field `{}`",
                m.label(),
                self.field.name
            )));
        }
        let mut f = self.field.clone();
        if !self.preserve_default {
            f.default = None;
        }
        m.fields.push(f);
        Ok(())
    }

    fn table_changes(&self, app: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
        let fill = one_off(&self.field, self.preserve_default).map(|v| (self.field.column.clone(), v));
        model_changes(&label(app, &self.model), before, after, Vec::new(), fill.into_iter().collect(), None)
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        l.eq_ignore_ascii_case(&label(app, &self.model))
            || self.field.relation.as_ref().is_some_and(|r| r.to.eq_ignore_ascii_case(l))
            || self.field.many_to_many.as_ref().is_some_and(|m| m.to.eq_ignore_ascii_case(l))
    }

    fn references_field(&self, app: &str, l: &str, field: &str) -> bool {
        (l.eq_ignore_ascii_case(&label(app, &self.model)) && field == self.field.name)
            || self.field.relation.as_ref().is_some_and(|r| r.to.eq_ignore_ascii_case(l))
            || self.field.many_to_many.as_ref().is_some_and(|m| m.to.eq_ignore_ascii_case(l))
    }

    fn reduce(&self, other: &Operation, _app: &str) -> Option<Vec<Operation>> {
        let same = |m: &str, f: &str| m.eq_ignore_ascii_case(&self.model) && f == self.field.name;
        match other {
            Operation::AlterField(a) if same(&a.model, &a.field.name) => Some(vec![Operation::AddField(AddField {
                model: self.model.clone(),
                field: a.field.clone(),
                preserve_default: a.preserve_default,
            })]),
            Operation::RemoveField(r) if same(&r.model, &r.name) => Some(Vec::new()),
            Operation::RenameField(r) if same(&r.model, &r.old_name) => {
                let mut m = ModelState::new("x", "X", "");
                m.fields.push(self.field.clone());
                rename_field_in(&mut m, &r.old_name, &r.new_name).ok()?;
                Some(vec![Operation::AddField(AddField {
                    model: self.model.clone(),
                    field: m.fields.remove(0),
                    preserve_default: self.preserve_default,
                })])
            }
            _ => None,
        }
    }

    fn name_fragment(&self) -> Option<String> {
        Some(format!("{}_{}", snake(&self.model), self.field.name))
    }
}

/// Removes a field (its column, or its join table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoveField {
    /// The model's name.
    pub model: String,
    /// The field's name.
    pub name: String,
}

impl OperationBehavior for RemoveField {
    fn describe(&self) -> String {
        format!("Remove field {} from {}", self.name, self.model)
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        let m = state.get_mut(&label(app, &self.model))?;
        let before = m.fields.len();
        m.fields.retain(|f| f.name != self.name);
        if m.fields.len() == before {
            return Err(MigrationError::bad(format!("RemoveField: {} has no field `{}`", m.label(), self.name)));
        }
        Ok(())
    }

    fn table_changes(&self, app: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
        model_changes(&label(app, &self.model), before, after, Vec::new(), Vec::new(), None)
    }

    fn references_field(&self, app: &str, l: &str, field: &str) -> bool {
        l.eq_ignore_ascii_case(&label(app, &self.model)) && field == self.name
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        l.eq_ignore_ascii_case(&label(app, &self.model))
    }

    fn name_fragment(&self) -> Option<String> {
        Some(format!("remove_{}_{}", snake(&self.model), self.name))
    }
}

/// Changes a field: type, NULL, default, unique, index, relation, or its column's name. A
/// column that becomes `NOT NULL` has its `NULL`s filled from the default first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlterField {
    /// The model's name.
    pub model: String,
    /// The field as it becomes (its `name` names the field changed).
    pub field: FieldState,
    /// Keep `field.default` as the column's default? When false it only fills `NULL`s.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub preserve_default: bool,
}

impl OperationBehavior for AlterField {
    fn describe(&self) -> String {
        format!("Alter field {} on {}", self.field.name, self.model)
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        let m = state.get_mut(&label(app, &self.model))?;
        let label = m.label();
        let slot = m
            .get_field_mut(&self.field.name)
            .ok_or_else(|| MigrationError::bad(format!("AlterField: {label} has no field `{}`", self.field.name)))?;
        let mut f = self.field.clone();
        if !self.preserve_default {
            f.default = None;
        }
        let old = std::mem::replace(slot, f);
        rename_column_in_checks(m, &old.column, &self.field.column);
        if let (Some(from), Some(to)) = (old.ty.column_type(), self.field.ty.column_type()) {
            if from != to {
                retype_references(state, &label, &self.field.name, from, to)?;
            }
        }
        Ok(())
    }

    fn table_changes(&self, app: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
        let l = label(app, &self.model);
        let old = before.get(&l)?.get_field(&self.field.name).cloned();
        let renamed = match &old {
            Some(o) if !o.column.is_empty() && !self.field.column.is_empty() && o.column != self.field.column => {
                vec![(o.column.clone(), self.field.column.clone())]
            }
            _ => Vec::new(),
        };
        let fill = one_off(&self.field, self.preserve_default)
            .or_else(|| match &self.field.default {
                Some(DefaultState::Value(j)) if old.as_ref().is_some_and(|o| o.null) && !self.field.null => {
                    json_to_value(j, self.field.ty.column_type())
                }
                _ => None,
            })
            .map(|v| (self.field.column.clone(), v));
        let mut out = model_changes(&l, before, after, renamed, fill.into_iter().collect(), None)?;
        out.extend(other_tables_changed(&l, before, after)?);
        Ok(out)
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        l.eq_ignore_ascii_case(&label(app, &self.model))
            || self.field.relation.as_ref().is_some_and(|r| r.to.eq_ignore_ascii_case(l))
    }

    fn references_field(&self, app: &str, l: &str, field: &str) -> bool {
        (l.eq_ignore_ascii_case(&label(app, &self.model)) && field == self.field.name)
            || self.field.relation.as_ref().is_some_and(|r| r.to.eq_ignore_ascii_case(l))
    }

    fn reduce(&self, other: &Operation, _app: &str) -> Option<Vec<Operation>> {
        let same = |m: &str, f: &str| m.eq_ignore_ascii_case(&self.model) && f == self.field.name;
        match other {
            Operation::AlterField(a) if same(&a.model, &a.field.name) => Some(vec![other.clone()]),
            Operation::RemoveField(r) if same(&r.model, &r.name) => Some(vec![other.clone()]),
            _ => None,
        }
    }

    fn name_fragment(&self) -> Option<String> {
        Some(format!("alter_{}_{}", snake(&self.model), self.field.name))
    }
}

/// Renames a field; its column follows when it was derived from the name, and the data stays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenameField {
    /// The model's name.
    pub model: String,
    /// The old field name.
    pub old_name: String,
    /// The new field name.
    pub new_name: String,
}

impl OperationBehavior for RenameField {
    fn describe(&self) -> String {
        format!("Rename field {} on {} to {}", self.old_name, self.model, self.new_name)
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        rename_field_in(state.get_mut(&label(app, &self.model))?, &self.old_name, &self.new_name)
    }

    fn table_changes(&self, app: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
        let l = label(app, &self.model);
        let old = before.get(&l)?.get_field(&self.old_name).map(|f| f.column.clone()).unwrap_or_default();
        let new = after.get(&l)?.get_field(&self.new_name).map(|f| f.column.clone()).unwrap_or_default();
        let renamed = if old != new && !old.is_empty() { vec![(old, new)] } else { Vec::new() };
        model_changes(&l, before, after, renamed, Vec::new(), Some((&self.old_name, &self.new_name)))
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        l.eq_ignore_ascii_case(&label(app, &self.model))
    }

    fn references_field(&self, app: &str, l: &str, field: &str) -> bool {
        l.eq_ignore_ascii_case(&label(app, &self.model)) && (field == self.old_name || field == self.new_name)
    }

    fn reduce(&self, other: &Operation, _app: &str) -> Option<Vec<Operation>> {
        match other {
            Operation::RenameField(r) if r.model.eq_ignore_ascii_case(&self.model) && r.old_name == self.new_name => {
                if r.new_name == self.old_name {
                    return Some(Vec::new());
                }
                Some(vec![Operation::RenameField(RenameField {
                    model: self.model.clone(),
                    old_name: self.old_name.clone(),
                    new_name: r.new_name.clone(),
                })])
            }
            _ => None,
        }
    }

    fn name_fragment(&self) -> Option<String> {
        Some(format!("rename_{}_{}", self.old_name, self.new_name))
    }
}
