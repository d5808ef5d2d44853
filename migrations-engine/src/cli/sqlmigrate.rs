//! `sqlmigrate`: the SQL a migration runs, for the dialect of `--database` (and, for an alias,
//! with its routers: operations they refuse there are marked skipped).

use super::{say, DatabaseChoice, Registry};
use crate::error::Result;
use crate::executor::sql_for_routed;
use orm_backends::Dialect;
use std::io::Write;

/// Arguments of `sqlmigrate`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Args {
    /// The app.
    pub app: String,
    /// The migration (a name or unique prefix).
    pub name: String,
    /// The SQL that unapplies it.
    #[arg(long)]
    pub backwards: bool,
}

/// Prints the statements (no database is touched; only its dialect and routers matter).
pub fn run(registry: &Registry, db: &DatabaseChoice, args: &Args, out: &mut dyn Write) -> Result<i32> {
    let loader = registry.loader()?;
    let key = loader.by_prefix(&args.app, &args.name)?.key();
    let dialect = db.dialect()?;
    if dialect == Dialect::Sqlite {
        say(out, "-- SQLite: run with PRAGMA foreign_keys = OFF (the executor does), inside one transaction")?;
    }
    say(out, if dialect.features().can_rollback_ddl { "BEGIN;" } else { "-- (no transactional DDL)" })?;
    for line in sql_for_routed(&loader, &key, dialect, args.backwards, &db.routing())? {
        say(out, line)?;
    }
    if dialect.features().can_rollback_ddl {
        say(out, "COMMIT;")?;
    }
    Ok(0)
}
