//! Index and constraint operations: AddIndex, RemoveIndex, AddConstraint, RemoveConstraint,
//! AlterUniqueTogether.

use super::fields::model_changes;
use super::{label, snake, Operation, OperationBehavior};
use crate::editor::TableChange;
use crate::error::{MigrationError, Result};
use crate::state::{ConstraintState, IndexState, ProjectState};
use serde::{Deserialize, Serialize};

fn changes(app: &str, model: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
    model_changes(&label(app, model), before, after, Vec::new(), Vec::new(), None)
}

/// Adds an index over fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddIndex {
    /// The model's name.
    pub model: String,
    /// The index.
    pub index: IndexState,
}

impl OperationBehavior for AddIndex {
    fn describe(&self) -> String {
        format!("Create index {} on {} of {}", self.index.name, self.index.fields.join(", "), self.model)
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        let m = state.get_mut(&label(app, &self.model))?;
        if m.indexes.iter().any(|i| i.name == self.index.name) {
            return Err(MigrationError::bad(format!(
                "AddIndex: {} already has index `{}`",
                m.label(),
                self.index.name
            )));
        }
        m.indexes.push(self.index.clone());
        Ok(())
    }

    fn table_changes(&self, app: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
        changes(app, &self.model, before, after)
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        l.eq_ignore_ascii_case(&label(app, &self.model))
    }

    fn references_field(&self, app: &str, l: &str, field: &str) -> bool {
        self.references_model(app, l) && self.index.fields.iter().any(|f| f == field)
    }

    fn reduce(&self, other: &Operation, _app: &str) -> Option<Vec<Operation>> {
        match other {
            Operation::RemoveIndex(r) if r.model.eq_ignore_ascii_case(&self.model) && r.name == self.index.name => {
                Some(Vec::new())
            }
            _ => None,
        }
    }

    fn name_fragment(&self) -> Option<String> {
        Some(self.index.name.to_ascii_lowercase())
    }
}

/// Removes an index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoveIndex {
    /// The model's name.
    pub model: String,
    /// The index name.
    pub name: String,
}

impl OperationBehavior for RemoveIndex {
    fn describe(&self) -> String {
        format!("Remove index {} from {}", self.name, self.model)
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        let m = state.get_mut(&label(app, &self.model))?;
        let n = m.indexes.len();
        m.indexes.retain(|i| i.name != self.name);
        if n == m.indexes.len() {
            return Err(MigrationError::bad(format!("RemoveIndex: {} has no index `{}`", m.label(), self.name)));
        }
        Ok(())
    }

    fn table_changes(&self, app: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
        changes(app, &self.model, before, after)
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        l.eq_ignore_ascii_case(&label(app, &self.model))
    }

    fn name_fragment(&self) -> Option<String> {
        Some(format!("remove_{}", self.name.to_ascii_lowercase()))
    }
}

/// Adds a unique or check constraint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddConstraint {
    /// The model's name.
    pub model: String,
    /// The constraint.
    pub constraint: ConstraintState,
}

impl OperationBehavior for AddConstraint {
    fn describe(&self) -> String {
        format!("Create constraint {} on model {}", self.constraint.name(), self.model)
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        let m = state.get_mut(&label(app, &self.model))?;
        if m.constraints.iter().any(|c| c.name() == self.constraint.name()) {
            return Err(MigrationError::bad(format!(
                "AddConstraint: {} already has constraint `{}`",
                m.label(),
                self.constraint.name()
            )));
        }
        m.constraints.push(self.constraint.clone());
        Ok(())
    }

    fn table_changes(&self, app: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
        changes(app, &self.model, before, after)
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        l.eq_ignore_ascii_case(&label(app, &self.model))
    }

    fn reduce(&self, other: &Operation, _app: &str) -> Option<Vec<Operation>> {
        match other {
            Operation::RemoveConstraint(r)
                if r.model.eq_ignore_ascii_case(&self.model) && r.name == self.constraint.name() =>
            {
                Some(Vec::new())
            }
            _ => None,
        }
    }

    fn name_fragment(&self) -> Option<String> {
        Some(self.constraint.name().to_ascii_lowercase())
    }
}

/// Removes a constraint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoveConstraint {
    /// The model's name.
    pub model: String,
    /// The constraint name.
    pub name: String,
}

impl OperationBehavior for RemoveConstraint {
    fn describe(&self) -> String {
        format!("Remove constraint {} from model {}", self.name, self.model)
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        let m = state.get_mut(&label(app, &self.model))?;
        let n = m.constraints.len();
        m.constraints.retain(|c| c.name() != self.name);
        if n == m.constraints.len() {
            return Err(MigrationError::bad(format!(
                "RemoveConstraint: {} has no constraint `{}`",
                m.label(),
                self.name
            )));
        }
        Ok(())
    }

    fn table_changes(&self, app: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
        changes(app, &self.model, before, after)
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        l.eq_ignore_ascii_case(&label(app, &self.model))
    }

    fn name_fragment(&self) -> Option<String> {
        Some(format!("remove_{}", self.name.to_ascii_lowercase()))
    }
}

/// Sets the model's `unique_together` sets: unique constraints with generated names
/// (`<table>_<fields…>_uniq`, as the derive names them). Constraints with other names are left
/// alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlterUniqueTogether {
    /// The model's name.
    pub model: String,
    /// The field sets that must be unique together.
    pub unique_together: Vec<Vec<String>>,
}

impl AlterUniqueTogether {
    fn generated_name(table: &str, fields: &[String]) -> String {
        let mut parts: Vec<&str> = vec![table];
        parts.extend(fields.iter().map(String::as_str));
        orm::schema::constraint_name(&parts, "uniq")
    }
}

impl OperationBehavior for AlterUniqueTogether {
    fn describe(&self) -> String {
        let sets: Vec<String> = self.unique_together.iter().map(|s| format!("({})", s.join(", "))).collect();
        format!("Alter unique_together for {} ({} constraint(s): {})", self.model, sets.len(), sets.join(", "))
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        let m = state.get_mut(&label(app, &self.model))?;
        let table = m.table.clone();
        m.constraints.retain(|c| match c {
            ConstraintState::Unique { name, fields } => *name != Self::generated_name(&table, fields),
            ConstraintState::Check { .. } => true,
        });
        for set in &self.unique_together {
            m.constraints
                .push(ConstraintState::Unique { name: Self::generated_name(&table, set), fields: set.clone() });
        }
        Ok(())
    }

    fn table_changes(&self, app: &str, before: &ProjectState, after: &ProjectState) -> Result<Vec<TableChange>> {
        changes(app, &self.model, before, after)
    }

    fn references_model(&self, app: &str, l: &str) -> bool {
        l.eq_ignore_ascii_case(&label(app, &self.model))
    }

    fn reduce(&self, other: &Operation, _app: &str) -> Option<Vec<Operation>> {
        match other {
            Operation::AlterUniqueTogether(o) if o.model.eq_ignore_ascii_case(&self.model) => Some(vec![other.clone()]),
            _ => None,
        }
    }

    fn name_fragment(&self) -> Option<String> {
        Some(format!("alter_{}_unique_together", snake(&self.model)))
    }
}
