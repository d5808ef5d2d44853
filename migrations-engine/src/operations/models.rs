//! Model operations: CreateModel, DeleteModel, RenameModel, AlterModelTable, AlterModelOptions.

use super::{label, same_model, snake, Operation, OperationBehavior};
use crate::editor::TableChange;
use crate::error::{MigrationError, Result};
use crate::state::{ConstraintState, FieldState, IndexState, ModelKindState, ModelOptions, ModelState, ProjectState};
use serde::{Deserialize, Serialize};

/// Creates a model: its table and the join tables of its many-to-many fields (a proxy creates
/// no table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateModel {
    /// The model's name.
    pub name: String,
    /// Its table.
    pub table: String,
    /// Concrete, proxy or multi-table child.
    #[serde(default, skip_serializing_if = "is_concrete")]
    pub kind: ModelKindState,
    /// Its fields, in column order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldState>,
    /// Indexes over several fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<IndexState>,
    /// Unique and check constraints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<ConstraintState>,
    /// Options without a schema effect.
    #[serde(default, skip_serializing_if = "is_default_options")]
    pub options: ModelOptions,
}

fn is_concrete(k: &ModelKindState) -> bool {
    *k == ModelKindState::Concrete
}

fn is_default_options(o: &ModelOptions) -> bool {
    *o == ModelOptions::default()
}

impl CreateModel {
    /// The operation creating `m` as it is.
    pub fn of(m: &ModelState) -> Self {
        CreateModel {
            name: m.name.clone(),
            table: m.table.clone(),
            kind: m.kind.clone(),
            fields: m.fields.clone(),
            indexes: m.indexes.clone(),
            constraints: m.constraints.clone(),
            options: m.options.clone(),
        }
    }

    /// The model it creates, in `app`.
    pub fn model_state(&self, app: &str) -> ModelState {
        ModelState {
            app: app.to_owned(),
            name: self.name.clone(),
            table: self.table.clone(),
            kind: self.kind.clone(),
            fields: self.fields.clone(),
            indexes: self.indexes.clone(),
            constraints: self.constraints.clone(),
            options: self.options.clone(),
        }
    }
}

/// The tables of model `label` in `state` (its own, then its join tables), empty when it has
/// no table.
fn tables_of(state: &ProjectState, label: &str) -> Result<Vec<orm_backends::schema::TableDef>> {
    let m = state.get(label)?;
    if !m.has_table() {
        return Ok(Vec::new());
    }
    let mut out = vec![state.table_def(label)?];
    out.extend(state.join_table_defs(label)?.into_iter().map(|(_, t)| t));
    Ok(out)
}

impl OperationBehavior for CreateModel {
    fn describe(&self) -> String {
        match &self.kind {
            ModelKindState::Proxy { of } => format!("Create proxy model {} (of {of})", self.name),
            ModelKindState::MultiTable { parent } => format!("Create model {} (child of {parent})", self.name),
            ModelKindState::Concrete => format!("Create model {}", self.name),
        }
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        let l = label(app, &self.name);
        if state.model(&l).is_some() {
            return Err(MigrationError::bad(format!("CreateModel: model {l} already exists")));
        }
        state.add_model(self.model_state(app));
        Ok(())
    }

    fn table_changes(&self, app: &str, _before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
        Ok(tables_of(after, &label(app, &self.name))?
            .into_iter()
            .map(|t| TableChange { after: Some(t), ..TableChange::default() })
            .collect())
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        same_model(app, &self.name, l)
            || self.fields.iter().any(|f| {
                f.relation.as_ref().is_some_and(|r| r.to.eq_ignore_ascii_case(l))
                    || f.many_to_many.as_ref().is_some_and(|m| {
                        m.to.eq_ignore_ascii_case(l) || m.through.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(l))
                    })
            })
            || match &self.kind {
                ModelKindState::Proxy { of } => of.eq_ignore_ascii_case(l),
                ModelKindState::MultiTable { parent } => parent.eq_ignore_ascii_case(l),
                ModelKindState::Concrete => false,
            }
    }

    fn reduce(&self, other: &Operation, app: &str) -> Option<Vec<Operation>> {
        let mine = |name: &str| name.eq_ignore_ascii_case(&self.name);
        let mut next = self.clone();
        match other {
            Operation::DeleteModel(d) if mine(&d.name) => return Some(Vec::new()),
            Operation::RenameModel(r) if mine(&r.old_name) => next.name = r.new_name.clone(),
            Operation::AlterModelTable(t) if mine(&t.name) => next.table = t.table.clone(),
            Operation::AlterModelOptions(o) if mine(&o.name) => next.options = o.options.clone(),
            Operation::AddField(a) if mine(&a.model) => {
                let mut f = a.field.clone();
                if !a.preserve_default {
                    f.default = None;
                }
                next.fields.push(f);
            }
            Operation::AlterField(a) if mine(&a.model) => {
                let slot = next.fields.iter_mut().find(|f| f.name == a.field.name)?;
                if slot.primary_key && slot.ty != a.field.ty {
                    // A retyped key also retypes the relations pointing at it, possibly in
                    // other apps' migrations: it stays an AlterField of its own.
                    return None;
                }
                let mut f = a.field.clone();
                if !a.preserve_default {
                    f.default = None;
                }
                *slot = f;
            }
            Operation::RemoveField(r) if mine(&r.model) => {
                let refs = next.indexes.iter().any(|i| i.fields.contains(&r.name))
                    || next
                        .constraints
                        .iter()
                        .any(|c| matches!(c, ConstraintState::Unique { fields, .. } if fields.contains(&r.name)));
                if refs {
                    return None;
                }
                next.fields.retain(|f| f.name != r.name);
            }
            Operation::RenameField(r) if mine(&r.model) => {
                let mut m = next.model_state(app);
                super::fields::rename_field_in(&mut m, &r.old_name, &r.new_name).ok()?;
                next = CreateModel::of(&m);
            }
            Operation::AddIndex(a) if mine(&a.model) => next.indexes.push(a.index.clone()),
            Operation::AddConstraint(a) if mine(&a.model) => next.constraints.push(a.constraint.clone()),
            _ => return None,
        }
        Some(vec![Operation::CreateModel(next)])
    }

    fn name_fragment(&self) -> Option<String> {
        Some(snake(&self.name))
    }
}

/// Deletes a model: its join tables, then its table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteModel {
    /// The model's name.
    pub name: String,
}

impl OperationBehavior for DeleteModel {
    fn describe(&self) -> String {
        format!("Delete model {}", self.name)
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        let key = state.get(&label(app, &self.name))?.label();
        state.models.remove(&key);
        Ok(())
    }

    fn table_changes(&self, app: &str, before: &ProjectState, _after: &ProjectState) -> Result<Vec<TableChange>> {
        let mut tables = tables_of(before, &label(app, &self.name))?;
        tables.reverse(); // join tables first
        Ok(tables.into_iter().map(|t| TableChange { before: Some(t), ..TableChange::default() }).collect())
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        same_model(app, &self.name, l)
    }

    fn name_fragment(&self) -> Option<String> {
        Some(format!("delete_{}", snake(&self.name)))
    }
}

/// Renames a model in state and every relation pointing at it. The table keeps its name (an
/// [`AlterModelTable`] renames it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenameModel {
    /// The old name.
    pub old_name: String,
    /// The new name.
    pub new_name: String,
}

impl OperationBehavior for RenameModel {
    fn describe(&self) -> String {
        format!("Rename model {} to {}", self.old_name, self.new_name)
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        let old = state.get(&label(app, &self.old_name))?.label();
        let new = label(app, &self.new_name);
        let mut m = state.models.remove(&old).expect("found above");
        m.name = self.new_name.clone();
        state.models.insert(new.clone(), m);
        let fix = |s: &mut String| {
            if s.eq_ignore_ascii_case(&old) {
                *s = new.clone();
            }
        };
        for m in state.models.values_mut() {
            match &mut m.kind {
                ModelKindState::Proxy { of } => fix(of),
                ModelKindState::MultiTable { parent } => fix(parent),
                ModelKindState::Concrete => {}
            }
            for f in &mut m.fields {
                if let Some(r) = &mut f.relation {
                    fix(&mut r.to);
                }
                if let Some(mm) = &mut f.many_to_many {
                    fix(&mut mm.to);
                    if let Some(t) = &mut mm.through {
                        fix(t);
                    }
                }
            }
        }
        Ok(())
    }

    fn table_changes(&self, app: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
        let (b, a) = (tables_of(before, &label(app, &self.old_name))?, tables_of(after, &label(app, &self.new_name))?);
        Ok(b.into_iter()
            .zip(a)
            .map(|(b, a)| TableChange { before: Some(b), after: Some(a), ..TableChange::default() })
            .collect())
    }

    fn reduce(&self, other: &Operation, _app: &str) -> Option<Vec<Operation>> {
        match other {
            Operation::RenameModel(r) if r.old_name.eq_ignore_ascii_case(&self.new_name) => {
                if r.new_name.eq_ignore_ascii_case(&self.old_name) {
                    return Some(Vec::new());
                }
                Some(vec![Operation::RenameModel(RenameModel {
                    old_name: self.old_name.clone(),
                    new_name: r.new_name.clone(),
                })])
            }
            _ => None,
        }
    }

    fn name_fragment(&self) -> Option<String> {
        Some(format!("rename_{}_{}", snake(&self.old_name), snake(&self.new_name)))
    }
}

/// Renames a model's table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlterModelTable {
    /// The model's name.
    pub name: String,
    /// The new table name.
    pub table: String,
}

impl OperationBehavior for AlterModelTable {
    fn describe(&self) -> String {
        format!("Rename table of {} to {}", self.name, self.table)
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        let m = state.get_mut(&label(app, &self.name))?;
        let old = std::mem::replace(&mut m.table, self.table.clone());
        // Proxies share the table.
        for other in state.models.values_mut() {
            if matches!(other.kind, ModelKindState::Proxy { .. }) && other.table == old {
                other.table = self.table.clone();
            }
        }
        Ok(())
    }

    fn table_changes(&self, app: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
        let l = label(app, &self.name);
        let (b, a) = (tables_of(before, &l)?, tables_of(after, &l)?);
        Ok(b.into_iter()
            .zip(a)
            .map(|(b, a)| TableChange { before: Some(b), after: Some(a), ..TableChange::default() })
            .collect())
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        same_model(app, &self.name, l)
    }

    fn reduce(&self, other: &Operation, _app: &str) -> Option<Vec<Operation>> {
        match other {
            Operation::AlterModelTable(t) if t.name.eq_ignore_ascii_case(&self.name) => Some(vec![other.clone()]),
            Operation::DeleteModel(d) if d.name.eq_ignore_ascii_case(&self.name) => Some(vec![other.clone()]),
            _ => None,
        }
    }

    fn name_fragment(&self) -> Option<String> {
        Some(format!("alter_{}_table", snake(&self.name)))
    }
}

/// Changes options without a schema effect (ordering, verbose name).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlterModelOptions {
    /// The model's name.
    pub name: String,
    /// The new options.
    pub options: ModelOptions,
}

impl OperationBehavior for AlterModelOptions {
    fn describe(&self) -> String {
        format!("Change options of {}", self.name)
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        state.get_mut(&label(app, &self.name))?.options = self.options.clone();
        Ok(())
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        same_model(app, &self.name, l)
    }

    fn reduce(&self, other: &Operation, _app: &str) -> Option<Vec<Operation>> {
        match other {
            Operation::AlterModelOptions(o) if o.name.eq_ignore_ascii_case(&self.name) => Some(vec![other.clone()]),
            Operation::DeleteModel(d) if d.name.eq_ignore_ascii_case(&self.name) => Some(vec![other.clone()]),
            _ => None,
        }
    }

    fn name_fragment(&self) -> Option<String> {
        Some(format!("alter_{}_options", snake(&self.name)))
    }
}
