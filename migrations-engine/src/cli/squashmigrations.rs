//! `squashmigrations`: one migration replacing a range.

use super::{say, Registry};
use crate::error::{MigrationError, Result};
use crate::squash::squash;
use crate::writer;
use std::io::Write;

/// Arguments of `squashmigrations`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Args {
    /// The app.
    pub app: String,
    /// The first migration of the range (name or prefix).
    pub from: String,
    /// The last migration of the range (name or prefix).
    pub to: String,
    /// The squashed migration's name (without its number).
    #[arg(long)]
    pub squashed_name: Option<String>,
}

/// Writes the squashed migration next to the originals.
pub fn run(registry: &Registry, args: &Args, out: &mut dyn Write) -> Result<i32> {
    let loader = registry.loader()?;
    let mut m = squash(&loader, &args.app, &args.from, &args.to)?;
    if let Some(n) = &args.squashed_name {
        let number = m.name.split('_').next().unwrap_or("0001").to_owned();
        m.name = format!("{number}_{n}");
    }
    let dir = registry.migrations_dir.as_ref().ok_or_else(|| MigrationError::bad("no migrations directory"))?;
    let path = writer::write(dir, &m)?;
    say(
        out,
        format!(
            "Created {} replacing {} migrations ({} operations):",
            path.display(),
            m.replaces.len(),
            m.operations.len()
        ),
    )?;
    for d in m.describe() {
        say(out, format!("  - {d}"))?;
    }
    say(out, "Delete the replaced migrations once every database has applied them (or the squashed one).")?;
    Ok(0)
}
