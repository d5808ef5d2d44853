//! Special operations: RunSql, RunRust, SeparateDatabaseAndState.

use super::{Context, Operation, OperationBehavior};
use crate::editor::SchemaEditor;
use crate::error::{MigrationError, Result};
use crate::state::ProjectState;
use orm_backends::{Connection, Dialect};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// SQL for [`RunSql`]: the same statements everywhere, or statements per dialect (a dialect
/// without an entry runs nothing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SqlSpec {
    /// Statements for every dialect.
    All(Vec<String>),
    /// Statements per dialect (`sqlite`, `postgres`, `mysql`).
    PerDialect(BTreeMap<String, Vec<String>>),
}

impl SqlSpec {
    /// The statements for `dialect`.
    pub fn for_dialect(&self, dialect: Dialect) -> Vec<String> {
        match self {
            SqlSpec::All(v) => v.clone(),
            SqlSpec::PerDialect(m) => m.get(dialect.name()).cloned().unwrap_or_default(),
        }
    }
}

/// Runs raw SQL forwards and, if given, other SQL backwards (`reverse_sql: []` is a no-op
/// backwards; no `reverse_sql` makes the operation irreversible).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSql {
    /// The SQL run forwards.
    pub sql: SqlSpec,
    /// The SQL run backwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_sql: Option<SqlSpec>,
    /// State changes the SQL makes, for the project state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_operations: Vec<Operation>,
}

impl OperationBehavior for RunSql {
    fn describe(&self) -> String {
        "Raw SQL operation".to_owned()
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        for op in &self.state_operations {
            op.state_forwards(app, state)?;
        }
        Ok(())
    }

    fn database_forwards(
        &self,
        _app: &str,
        editor: &mut SchemaEditor<'_>,
        _before: &ProjectState,
        _after: &ProjectState,
        _ctx: &Context,
    ) -> Result<()> {
        for s in self.sql.for_dialect(editor.dialect()) {
            editor.execute(s)?;
        }
        Ok(())
    }

    fn database_backwards(
        &self,
        _app: &str,
        editor: &mut SchemaEditor<'_>,
        _before: &ProjectState,
        _after: &ProjectState,
        _ctx: &Context,
    ) -> Result<()> {
        let Some(rev) = &self.reverse_sql else {
            return Err(MigrationError::Irreversible { migration: String::new(), operation: self.describe() });
        };
        for s in rev.for_dialect(editor.dialect()) {
            editor.execute(s)?;
        }
        Ok(())
    }

    fn reversible(&self) -> bool {
        self.reverse_sql.is_some()
    }
}

/// The signature of a function [`RunRust`] calls: the migration's connection, and a progress
/// reporter for long data changes.
pub type RustFn =
    fn(&mut dyn Connection, &mut dyn FnMut(&str)) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The functions an application registers for [`RunRust`] operations, by name.
#[derive(Clone, Default)]
pub struct RustFunctions {
    map: Arc<BTreeMap<String, RustFn>>,
}

impl std::fmt::Debug for RustFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

impl RustFunctions {
    /// No functions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `f` as `name`.
    pub fn register(mut self, name: impl Into<String>, f: RustFn) -> Self {
        Arc::make_mut(&mut self.map).insert(name.into(), f);
        self
    }

    /// The function registered as `name`.
    pub fn get(&self, name: &str) -> Option<RustFn> {
        self.map.get(name).copied()
    }
}

/// Calls a Rust function the application registered by name, forwards and (if named)
/// backwards. Data migrations go here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRust {
    /// The function run forwards.
    pub forward: String,
    /// The function run backwards; `None` makes the operation irreversible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backward: Option<String>,
}

fn call(name: &str, editor: &mut SchemaEditor<'_>, ctx: &Context) -> Result<()> {
    let f = ctx.functions.get(name).ok_or_else(|| {
        MigrationError::bad(format!(
            "RunRust: no function registered as `{name}` (register it with RustFunctions::register)"
        ))
    })?;
    editor.execute(format!("-- RunRust: {name}"))?;
    editor
        .run_with_connection(|conn, progress| f(conn, progress))
        .map_err(|e| MigrationError::bad(format!("RunRust `{name}` failed: {e}")))
}

impl OperationBehavior for RunRust {
    fn describe(&self) -> String {
        format!("Run Rust function {}", self.forward)
    }

    fn state_forwards(&self, _app: &str, _state: &mut ProjectState) -> Result<()> {
        Ok(())
    }

    fn database_forwards(
        &self,
        _app: &str,
        editor: &mut SchemaEditor<'_>,
        _before: &ProjectState,
        _after: &ProjectState,
        ctx: &Context,
    ) -> Result<()> {
        call(&self.forward, editor, ctx)
    }

    fn database_backwards(
        &self,
        _app: &str,
        editor: &mut SchemaEditor<'_>,
        _before: &ProjectState,
        _after: &ProjectState,
        ctx: &Context,
    ) -> Result<()> {
        match &self.backward {
            Some(b) => call(b, editor, ctx),
            None => Err(MigrationError::Irreversible { migration: String::new(), operation: self.describe() }),
        }
    }

    fn reversible(&self) -> bool {
        self.backward.is_some()
    }
}

/// Database operations and state operations kept apart: the database gets the first, the
/// state the second (for a change already made by hand, or a table taken over).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeparateDatabaseAndState {
    /// Operations run on the database (their state effects only guide them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub database_operations: Vec<Operation>,
    /// Operations applied to the project state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_operations: Vec<Operation>,
}

impl OperationBehavior for SeparateDatabaseAndState {
    fn describe(&self) -> String {
        "Custom state/database change combination".to_owned()
    }

    fn state_forwards(&self, app: &str, state: &mut ProjectState) -> Result<()> {
        for op in &self.state_operations {
            op.state_forwards(app, state)?;
        }
        Ok(())
    }

    fn database_forwards(
        &self,
        app: &str,
        editor: &mut SchemaEditor<'_>,
        before: &ProjectState,
        _after: &ProjectState,
        ctx: &Context,
    ) -> Result<()> {
        let mut from = before.clone();
        for op in &self.database_operations {
            let mut to = from.clone();
            op.state_forwards(app, &mut to)?;
            op.database_forwards(app, editor, &from, &to, ctx)?;
            from = to;
        }
        Ok(())
    }

    fn database_backwards(
        &self,
        app: &str,
        editor: &mut SchemaEditor<'_>,
        before: &ProjectState,
        _after: &ProjectState,
        ctx: &Context,
    ) -> Result<()> {
        let mut states = vec![before.clone()];
        for op in &self.database_operations {
            let mut next = states.last().expect("one state").clone();
            op.state_forwards(app, &mut next)?;
            states.push(next);
        }
        for (i, op) in self.database_operations.iter().enumerate().rev() {
            op.database_backwards(app, editor, &states[i], &states[i + 1], ctx)?;
        }
        Ok(())
    }

    fn reversible(&self) -> bool {
        self.database_operations.iter().all(Operation::reversible)
    }
}
