//! # orm-migrations: keeping a database in step with the models
//!
//! placeholder crate doc (rewritten at the end)

pub mod autodetector;
pub mod cli;
pub mod editor;
pub mod error;
pub mod executor;
pub mod graph;
pub mod inspectdb;
pub mod loader;
pub mod migration;
pub mod operations;
pub mod optimizer;
pub mod questioner;
pub mod recorder;
pub mod squash;
pub mod state;
pub mod writer;

pub use error::{Key, MigrationError, Result};
