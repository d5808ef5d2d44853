//! Operations: the steps a migration is made of, as serialisable data.
//!
//! Every operation keeps Django's contract ([`Operation`] dispatches to [`OperationBehavior`]):
//!
//! - `state_forwards` changes the [`ProjectState`] as the operation would;
//! - `database_forwards` / `database_backwards` change the database, given the state before and
//!   after the operation; schema operations do this by naming the [`TableChange`]s they cause
//!   (the table as the state before renders it, as the state after renders it, and hints such
//!   as renamed columns), which the [`SchemaEditor`] applies per dialect; going back applies
//!   the inverted changes in reverse order;
//! - `describe` says what it does in one line;
//! - `reduce` merges it with a later operation (the optimizer and squash use it);
//! - `references_model` / `references_field` say what it touches (when in doubt: yes).
//!
//! Operations name models of their own migration's app by name (`"Post"`); relations to
//! other apps carry full labels (`"auth.User"`). In a file an operation is a JSON object whose
//! `op` key is its name: `{"op": "AddField", "model": "Post", "field": {...}}`.
//!
//! ## Several databases
//!
//! Before an operation changes a database, the routers of the editor's
//! [`Routing`] are asked whether it belongs there ([`Operation::allowed_on`], from
//! [`Operation::database_forwards`] and [`Operation::database_backwards`]), as Django's
//! operations do:
//!
//! - a model operation (CreateModel, DeleteModel, RenameModel, AlterModelTable, AddField,
//!   RemoveField, AlterField, RenameField, AddIndex, RemoveIndex, AddConstraint,
//!   RemoveConstraint, AlterUniqueTogether) asks `allow_migrate(db, app, Some(model))`
//!   (Django's `allow_migrate_model`) about its model, by the name the project state gives it
//!   (RenameModel: the new name forwards, the old one backwards, as Django); the join tables
//!   of a model's many-to-many fields and the relation columns an `AlterField` of a key
//!   retypes in other tables go with that one answer, as Django's `alter_field` on related
//!   models does;
//! - [`RunSql`] and [`RunRust`] ask `allow_migrate(db, app, None)` (Django's RunSQL and
//!   RunPython without hints); going backwards an irreversible one is still an error first;
//! - [`SeparateDatabaseAndState`] asks nothing itself: each of its database operations asks
//!   for itself.
//!
//! A refused operation changes nothing on that database, but its state change still happens
//! and the migration is still recorded there: the executor does not look at the answers.

mod fields;
mod indexes;
mod models;
mod special;

pub use fields::{AddField, AlterField, RemoveField, RenameField};
pub use indexes::{AddConstraint, AddIndex, AlterUniqueTogether, RemoveConstraint, RemoveIndex};
pub use models::{AlterModelOptions, AlterModelTable, CreateModel, DeleteModel, RenameModel};
pub use special::{RunRust, RunSql, RustFn, RustFunctions, SeparateDatabaseAndState, SqlSpec};

use crate::editor::{SchemaEditor, TableChange};
use crate::error::Result;
use crate::routing::Routing;
use crate::state::ProjectState;
use serde::{Deserialize, Serialize};

/// What operations need at run time besides the database: the application's registered
/// [`RunRust`] functions. (Which database, and what its routers allow, travels with the
/// [`SchemaEditor`] as its [`Routing`], as Django's operations read it from
/// `schema_editor.connection`.)
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Functions [`RunRust`] operations call, by name.
    pub functions: RustFunctions,
}

/// The contract every operation implements (see the [module doc](self)).
pub trait OperationBehavior {
    /// One line saying what the operation does (`Add field views to Post`).
    fn describe(&self) -> String;

    /// Applies the operation to `state` (models of `app`).
    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()>;

    /// The tables the operation changes, from `before` (the state before it) to `after`.
    fn table_changes(&self, _app: &str, _before: &ProjectState, _after: &ProjectState) -> Result<Vec<TableChange>> {
        Ok(Vec::new())
    }

    /// Changes the database forwards.
    fn database_forwards(
        &self,
        app: &str,
        editor: &mut SchemaEditor<'_>,
        before: &ProjectState,
        after: &ProjectState,
        _ctx: &Context,
    ) -> Result<()> {
        editor.apply_all(&self.table_changes(app, before, after)?)
    }

    /// Changes the database back: from the state `after` the operation to the state `before`.
    fn database_backwards(
        &self,
        app: &str,
        editor: &mut SchemaEditor<'_>,
        before: &ProjectState,
        after: &ProjectState,
        _ctx: &Context,
    ) -> Result<()> {
        let undo: Vec<TableChange> =
            self.table_changes(app, before, after)?.iter().rev().map(TableChange::inverted).collect();
        editor.apply_all(&undo)
    }

    /// Can the operation be undone?
    fn reversible(&self) -> bool {
        true
    }

    /// Does the operation touch model `label` (`app.Model`)?
    fn references_model(&self, _app: &str, _label: &str) -> bool {
        true
    }

    /// Does the operation touch field `field` of model `label`?
    fn references_field(&self, app: &str, label: &str, _field: &str) -> bool {
        self.references_model(app, label)
    }

    /// Merges this operation with a later one: `Some(ops)` replaces both (an empty list
    /// cancels them), `None` leaves them.
    fn reduce(&self, _other: &Operation, _app: &str) -> Option<Vec<Operation>> {
        None
    }

    /// A short snake_case fragment for generated migration names (`add_views`).
    fn name_fragment(&self) -> Option<String> {
        None
    }
}

/// One operation of a migration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum Operation {
    /// Creates a model and its tables.
    CreateModel(CreateModel),
    /// Deletes a model and its tables.
    DeleteModel(DeleteModel),
    /// Renames a model (not its table).
    RenameModel(RenameModel),
    /// Renames a model's table.
    AlterModelTable(AlterModelTable),
    /// Changes options without a schema effect.
    AlterModelOptions(AlterModelOptions),
    /// Adds a field.
    AddField(AddField),
    /// Removes a field.
    RemoveField(RemoveField),
    /// Changes a field.
    AlterField(AlterField),
    /// Renames a field and its column.
    RenameField(RenameField),
    /// Adds an index.
    AddIndex(AddIndex),
    /// Removes an index.
    RemoveIndex(RemoveIndex),
    /// Adds a unique or check constraint.
    AddConstraint(AddConstraint),
    /// Removes a constraint.
    RemoveConstraint(RemoveConstraint),
    /// Sets the `unique_together` sets.
    AlterUniqueTogether(AlterUniqueTogether),
    /// Runs raw SQL.
    RunSql(RunSql),
    /// Calls a registered Rust function.
    RunRust(RunRust),
    /// Database and state operations kept apart.
    SeparateDatabaseAndState(SeparateDatabaseAndState),
}

/// What the routers are asked before an operation changes a database (see
/// [`Operation::router_question`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouterQuestion<'a> {
    /// `allow_migrate(db, app, Some(model))` about this model of the migration's app (Django's
    /// `allow_migrate_model`).
    Model(&'a str),
    /// `allow_migrate(db, app, None)`: no model (RunSql, RunRust).
    App,
    /// Nothing: each part asks for itself (SeparateDatabaseAndState).
    Parts,
}

macro_rules! dispatch {
    ($self:ident, $op:ident => $e:expr) => {
        match $self {
            Operation::CreateModel($op) => $e,
            Operation::DeleteModel($op) => $e,
            Operation::RenameModel($op) => $e,
            Operation::AlterModelTable($op) => $e,
            Operation::AlterModelOptions($op) => $e,
            Operation::AddField($op) => $e,
            Operation::RemoveField($op) => $e,
            Operation::AlterField($op) => $e,
            Operation::RenameField($op) => $e,
            Operation::AddIndex($op) => $e,
            Operation::RemoveIndex($op) => $e,
            Operation::AddConstraint($op) => $e,
            Operation::RemoveConstraint($op) => $e,
            Operation::AlterUniqueTogether($op) => $e,
            Operation::RunSql($op) => $e,
            Operation::RunRust($op) => $e,
            Operation::SeparateDatabaseAndState($op) => $e,
        }
    };
}

impl Operation {
    /// The operation as its behaviour.
    pub fn behavior(&self) -> &dyn OperationBehavior {
        dispatch!(self, op => op)
    }

    /// The operation's name (`AddField`).
    pub fn name(&self) -> &'static str {
        match self {
            Operation::CreateModel(_) => "CreateModel",
            Operation::DeleteModel(_) => "DeleteModel",
            Operation::RenameModel(_) => "RenameModel",
            Operation::AlterModelTable(_) => "AlterModelTable",
            Operation::AlterModelOptions(_) => "AlterModelOptions",
            Operation::AddField(_) => "AddField",
            Operation::RemoveField(_) => "RemoveField",
            Operation::AlterField(_) => "AlterField",
            Operation::RenameField(_) => "RenameField",
            Operation::AddIndex(_) => "AddIndex",
            Operation::RemoveIndex(_) => "RemoveIndex",
            Operation::AddConstraint(_) => "AddConstraint",
            Operation::RemoveConstraint(_) => "RemoveConstraint",
            Operation::AlterUniqueTogether(_) => "AlterUniqueTogether",
            Operation::RunSql(_) => "RunSql",
            Operation::RunRust(_) => "RunRust",
            Operation::SeparateDatabaseAndState(_) => "SeparateDatabaseAndState",
        }
    }

    /// See [`OperationBehavior::describe`].
    pub fn describe(&self) -> String {
        self.behavior().describe()
    }

    /// See [`OperationBehavior::state_forwards`].
    pub fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        self.behavior().state_forwards(app, state)
    }

    /// See [`OperationBehavior::database_forwards`]; nothing happens when the editor's
    /// routers refuse the operation on its database ([`allowed_on`](Self::allowed_on)).
    pub fn database_forwards(
        &self,
        app: &str,
        editor: &mut SchemaEditor<'_>,
        before: &ProjectState,
        after: &ProjectState,
        ctx: &Context,
    ) -> Result<()> {
        if !self.allowed_on(app, editor.routing(), before, after, false) {
            return Ok(());
        }
        self.behavior().database_forwards(app, editor, before, after, ctx)
    }

    /// See [`OperationBehavior::database_backwards`]; nothing happens when the editor's
    /// routers refuse the operation on its database, except that an irreversible operation is
    /// an error first (as Django's RunSQL and RunPython).
    pub fn database_backwards(
        &self,
        app: &str,
        editor: &mut SchemaEditor<'_>,
        before: &ProjectState,
        after: &ProjectState,
        ctx: &Context,
    ) -> Result<()> {
        if self.reversible() && !self.allowed_on(app, editor.routing(), before, after, true) {
            return Ok(());
        }
        self.behavior().database_backwards(app, editor, before, after, ctx)
    }

    /// What the routers are asked before this operation changes a database, going forwards or
    /// `backwards` (see the [module doc](self#several-databases)).
    pub fn router_question(&self, backwards: bool) -> RouterQuestion<'_> {
        use RouterQuestion::{App, Model, Parts};
        match self {
            Operation::CreateModel(o) => Model(&o.name),
            Operation::DeleteModel(o) => Model(&o.name),
            Operation::RenameModel(o) if backwards => Model(&o.old_name),
            Operation::RenameModel(o) => Model(&o.new_name),
            Operation::AlterModelTable(o) => Model(&o.name),
            Operation::AlterModelOptions(o) => Model(&o.name),
            Operation::AddField(o) => Model(&o.model),
            Operation::RemoveField(o) => Model(&o.model),
            Operation::AlterField(o) => Model(&o.model),
            Operation::RenameField(o) => Model(&o.model),
            Operation::AddIndex(o) => Model(&o.model),
            Operation::RemoveIndex(o) => Model(&o.model),
            Operation::AddConstraint(o) => Model(&o.model),
            Operation::RemoveConstraint(o) => Model(&o.model),
            Operation::AlterUniqueTogether(o) => Model(&o.model),
            Operation::RunSql(_) | Operation::RunRust(_) => App,
            Operation::SeparateDatabaseAndState(_) => Parts,
        }
    }

    /// May this operation of `app` change the database `routing` names, going from `before`
    /// to `after` (or back)? The model is named to the routers as the state spells it (the
    /// state after the operation, else before it). Always yes without routers.
    pub fn allowed_on(
        &self,
        app: &str,
        routing: &Routing,
        before: &ProjectState,
        after: &ProjectState,
        backwards: bool,
    ) -> bool {
        if !routing.is_routed() {
            return true;
        }
        match self.router_question(backwards) {
            RouterQuestion::Parts => true,
            RouterQuestion::App => routing.allows(app, None),
            RouterQuestion::Model(name) => {
                let l = label(app, name);
                let model = after.model(&l).or_else(|| before.model(&l)).map_or(name, |m| m.name.as_str());
                routing.allows(app, Some(model))
            }
        }
    }

    /// See [`OperationBehavior::reversible`].
    pub fn reversible(&self) -> bool {
        self.behavior().reversible()
    }

    /// See [`OperationBehavior::references_model`].
    pub fn references_model(&self, app: &str, label: &str) -> bool {
        self.behavior().references_model(app, label)
    }

    /// See [`OperationBehavior::references_field`].
    pub fn references_field(&self, app: &str, label: &str, field: &str) -> bool {
        self.behavior().references_field(app, label, field)
    }

    /// See [`OperationBehavior::reduce`].
    pub fn reduce(&self, other: &Operation, app: &str) -> Option<Vec<Operation>> {
        self.behavior().reduce(other, app)
    }

    /// See [`OperationBehavior::name_fragment`].
    pub fn name_fragment(&self) -> Option<String> {
        self.behavior().name_fragment()
    }

    /// The labels (`app.Model`) of other apps' models this operation depends on (relation
    /// targets, parents, proxied models), for migration dependencies.
    pub fn foreign_labels(&self, app: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut fields: Vec<&crate::state::FieldState> = Vec::new();
        match self {
            Operation::CreateModel(c) => {
                fields.extend(&c.fields);
                match &c.kind {
                    crate::state::ModelKindState::Proxy { of } => out.push(of.clone()),
                    crate::state::ModelKindState::MultiTable { parent } => out.push(parent.clone()),
                    _ => {}
                }
            }
            Operation::AddField(a) => fields.push(&a.field),
            Operation::AlterField(a) => fields.push(&a.field),
            _ => {}
        }
        for f in fields {
            if let Some(r) = &f.relation {
                out.push(r.to.clone());
            }
            if let Some(m) = &f.many_to_many {
                out.push(m.to.clone());
                out.extend(m.through.clone());
            }
        }
        out.retain(|l| !l.starts_with(&format!("{app}.")));
        out.sort();
        out.dedup();
        out
    }
}

/// `app.Model` for a model of `app` named `name`.
pub(crate) fn label(app: &str, name: &str) -> String {
    format!("{app}.{name}")
}

/// Does `label` name the model `name` of `app` (model names match case-insensitively)?
pub(crate) fn same_model(app: &str, name: &str, label: &str) -> bool {
    label.eq_ignore_ascii_case(&crate::operations::label(app, name))
}

/// The snake_case form of a model name, for migration names.
pub(crate) fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests;
