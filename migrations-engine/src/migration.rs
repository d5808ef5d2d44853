//! [`Migration`]: a named list of operations with dependencies.

use crate::error::{Key, Result};
use crate::operations::Operation;
use crate::state::{default_true, is_true, ProjectState};
use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}

/// One migration: what it depends on and the operations it applies, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    /// The application label.
    pub app: String,
    /// The name (`0002_post_views`).
    pub name: String,
    /// Migrations that must be applied first (this app's and other apps').
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Key>,
    /// Apply it in one transaction where the backend can roll back DDL?
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub atomic: bool,
    /// Is this an app's first migration (for `--fake-initial`)?
    #[serde(default, skip_serializing_if = "is_false")]
    pub initial: bool,
    /// The migrations a squashed migration stands for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaces: Vec<Key>,
    /// The operations, in order.
    pub operations: Vec<Operation>,
}

impl Migration {
    /// An empty, atomic migration.
    pub fn new(app: impl Into<String>, name: impl Into<String>) -> Self {
        Migration {
            app: app.into(),
            name: name.into(),
            dependencies: Vec::new(),
            atomic: true,
            initial: false,
            replaces: Vec::new(),
            operations: Vec::new(),
        }
    }

    /// Adds a dependency.
    pub fn depends_on(mut self, app: &str, name: &str) -> Self {
        self.dependencies.push(Key::new(app, name));
        self
    }

    /// Appends an operation.
    pub fn operation(mut self, op: Operation) -> Self {
        self.operations.push(op);
        self
    }

    /// `app.name`.
    pub fn key(&self) -> Key {
        Key::new(&self.app, &self.name)
    }

    /// Applies every operation to `state`.
    pub fn apply_state(&self, state: &mut ProjectState) -> Result<()> {
        for op in &self.operations {
            op.state_forwards(&self.app, state)?;
        }
        Ok(())
    }

    /// Can every operation be undone?
    pub fn reversible(&self) -> bool {
        self.operations.iter().all(Operation::reversible)
    }

    /// A checksum of the content (FNV-1a, 64 bits, over the canonical JSON, so re-formatting a
    /// file does not change it). It detects edits, not tampering.
    pub fn checksum(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }

    /// The descriptions of the operations.
    pub fn describe(&self) -> Vec<String> {
        self.operations.iter().map(|o| o.behavior().describe()).collect()
    }
}
