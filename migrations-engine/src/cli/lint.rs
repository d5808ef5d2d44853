//! `lint`: operations that lock or break a live database, per backend.
//!
//! Rules (each finding names the migration, the operation and the backend's reason):
//! - a `NOT NULL` column added without a kept default fails on a non-empty table, and the
//!   running code does not write it;
//! - dropping or renaming a column or table breaks the running version of the application
//!   until the new one is deployed (deploy the code first, then migrate; or add, backfill,
//!   switch, then drop);
//! - PostgreSQL: `CREATE INDEX` (an added index, unique, one-to-one or relation field on an
//!   existing table) blocks writes while it builds (`CONCURRENTLY` does not, in a non-atomic
//!   migration); changing a column's type rewrites the table under an exclusive lock;
//!   `SET NOT NULL` and new unique/check constraints scan it under that lock;
//! - MySQL/MariaDB: no transactional DDL (a failure leaves the migration half applied); a
//!   column type change or `MODIFY` may copy the table;
//! - SQLite: operations that rebuild a table copy every row under the database write lock;
//! - raw SQL and Rust operations cannot be checked and are listed for review.

use super::{say, DatabaseChoice, Registry};
use crate::editor::SchemaEditor;
use crate::error::{Key, Result};
use crate::executor::Executor;
use crate::executor::Target;
use crate::loader::Loader;
use crate::operations::{Context, Operation};
use crate::state::ProjectState;
use orm_backends::Dialect;
use std::collections::BTreeSet;
use std::io::Write;

const NOT_NULL: &str = "adds a NOT NULL column without a kept default: the running code does not write it, \
     so its inserts fail until the new version is deployed";
const INDEX_BUILD: &str = "builds an index with CREATE INDEX, which blocks writes to the table while it runs \
     (use CONCURRENTLY in a non-atomic migration)";
const DROP_COLUMN: &str = "drops a column the running version of the application still reads: deploy code \
     that no longer uses it first";
const DROP_TABLE: &str = "drops a table the running version of the application may still use";
const RENAME: &str = "renames a column or table the running version of the application still uses: add the new \
     one, copy, switch the code, then drop the old one";

/// Arguments of `lint`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Args {
    /// Only this app.
    pub app: Option<String>,
    /// Only this migration of the app (a name or prefix); default: every unapplied one.
    pub name: Option<String>,
    /// Lint every migration, applied or not.
    #[arg(long)]
    pub all: bool,
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The migration.
    pub migration: Key,
    /// The operation's description.
    pub operation: String,
    /// Why it is risky.
    pub message: String,
}

fn is_existing(before: &ProjectState, app: &str, model: &str) -> bool {
    before.model(&format!("{app}.{model}")).is_some()
}

/// The findings for migrations `keys` on `dialect`.
pub fn lint(loader: &Loader, keys: &[Key], dialect: Dialect) -> Result<Vec<Finding>> {
    let graph = loader.graph(&BTreeSet::new())?;
    let mut out = Vec::new();
    for key in keys {
        let m = loader.get(key).expect("from the loader");
        let mut plan = graph.forwards_plan(key)?;
        plan.pop();
        let mut state = loader.replay(ProjectState::new(), &plan)?;
        let mut push = |op: &Operation, message: String| {
            out.push(Finding { migration: key.clone(), operation: op.describe(), message });
        };
        if !dialect.features().can_rollback_ddl && m.operations.len() > 1 {
            push(
                &m.operations[0],
                format!(
                    "{} cannot roll back DDL: if a later operation fails, the earlier ones stay applied",
                    dialect.name()
                ),
            );
        }
        for op in &m.operations {
            let mut next = state.clone();
            op.state_forwards(&m.app, &mut next)?;
            let mut editor = SchemaEditor::collect(dialect);
            op.database_forwards(&m.app, &mut editor, &state, &next, &Context::default())?;
            let sql = editor.take_collected();
            let rebuild = !editor.rebuilt_tables().is_empty();
            match op {
                Operation::AddField(a) if is_existing(&state, &m.app, &a.model) => {
                    let f = &a.field;
                    if !f.null && !f.is_many_to_many() && (f.default.is_none() || !a.preserve_default) {
                        push(op, NOT_NULL.into());
                    }
                    if dialect == Dialect::Postgres
                        && (f.unique || f.index || f.relation.as_ref().is_some_and(|r| r.db_index))
                    {
                        push(op, INDEX_BUILD.into());
                    }
                }
                Operation::AddIndex(a) if dialect == Dialect::Postgres && is_existing(&state, &m.app, &a.model) => {
                    push(op, "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds".into());
                }
                Operation::AddConstraint(a)
                    if dialect == Dialect::Postgres && is_existing(&state, &m.app, &a.model) =>
                {
                    push(op, "adding a constraint scans the table under an ACCESS EXCLUSIVE lock".into());
                }
                Operation::RemoveField(_) => push(op, DROP_COLUMN.into()),
                Operation::DeleteModel(_) => push(op, DROP_TABLE.into()),
                Operation::RenameField(_) | Operation::RenameModel(_) | Operation::AlterModelTable(_)
                    if !sql.is_empty() =>
                {
                    push(op, RENAME.into());
                }
                Operation::AlterField(a) => {
                    let old = state.model(&format!("{}.{}", m.app, a.model)).and_then(|x| x.get_field(&a.field.name));
                    if let Some(old) = old {
                        if old.ty != a.field.ty {
                            let why = match dialect {
                                Dialect::Postgres => {
                                    "changing the type rewrites the table under an ACCESS EXCLUSIVE lock"
                                }
                                Dialect::Mysql => "changing the type copies the table (MODIFY COLUMN)",
                                Dialect::Sqlite => "changing the type rebuilds the table",
                            };
                            push(op, why.into());
                        }
                        if old.null && !a.field.null {
                            push(op, "SET NOT NULL fails while NULLs remain and scans the table under lock".into());
                        }
                        if dialect == Dialect::Postgres
                            && (a.field.unique && !old.unique || a.field.index && !old.index)
                        {
                            push(
                                op,
                                "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds".into(),
                            );
                        }
                    }
                }
                Operation::RunSql(_) => push(op, "raw SQL: review its locking by hand".into()),
                Operation::RunRust(_) => push(op, "Rust code: review what it locks and how long it runs".into()),
                _ => {}
            }
            if rebuild {
                push(op, "SQLite rebuilds the table: every row is copied under the database write lock".into());
            }
            state = next;
        }
    }
    Ok(out)
}

/// Runs `lint` for the backend of `db`: the migrations unapplied there (or the named one);
/// exit status 1 when anything is found.
pub fn run(registry: &Registry, db: &DatabaseChoice, args: &Args, out: &mut dyn Write) -> Result<i32> {
    let loader = registry.loader()?;
    let (keys, dialect) = match (&args.app, &args.name) {
        (Some(app), Some(n)) => (vec![loader.by_prefix(app, n)?.key()], db.dialect()?),
        _ if args.all => {
            let g = loader.graph(&BTreeSet::new())?;
            let mut keys = loader.full_plan(&g)?;
            if let Some(app) = &args.app {
                keys.retain(|k| k.app == *app);
            }
            (keys, db.dialect()?)
        }
        _ => {
            let mut conn = db.connect()?;
            let dialect = conn.dialect();
            let target = match &args.app {
                Some(a) => Target::App(a.clone()),
                None => Target::All,
            };
            let plan = Executor::new(&mut **conn, &loader).plan(&target)?;
            (plan.into_iter().filter(|s| !s.backwards).map(|s| s.key).collect(), dialect)
        }
    };
    let found = lint(&loader, &keys, dialect)?;
    if found.is_empty() {
        say(out, format!("No findings for {} migration(s) on {}.", keys.len(), dialect.name()))?;
        return Ok(0);
    }
    for f in &found {
        say(out, format!("{}: {}: {}", f.migration, f.operation, f.message))?;
    }
    Ok(1)
}
