//! # orm-migrations: keeping a database in step with the models
//!
//! placeholder crate doc (rewritten at the end)

pub mod editor;
pub mod error;
pub mod operations;
pub mod state;

pub use error::{Key, MigrationError, Result};
