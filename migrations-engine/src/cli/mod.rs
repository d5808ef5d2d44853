//! The command line an application embeds: Django's `manage.py` migration commands.
//!
//! Only the application knows its models, so it builds a [`Registry`] of them (with
//! [`registry!`](crate::registry)) and hands it to [`main`] from a small binary of its own:
//!
//! ```no_run
//! # use orm::prelude::*;
//! # #[derive(Model, Debug, Clone)]
//! # #[orm(app = "blog")]
//! # pub struct Author { pub id: Auto<i64> }
//! fn main() {
//!     orm_migrations::cli::main(orm_migrations::registry![Author].database("sqlite://blog.db"))
//! }
//! ```
//!
//! Subcommands (each takes `--database <url>`, default: the registry's database):
//! `makemigrations [apps…] [--name] [--empty] [--check] [--dry-run] [--merge]`,
//! `migrate [app] [target] [--plan] [--fake] [--fake-initial]`, `showmigrations [apps…]`,
//! `sqlmigrate <app> <name> [--backwards]`, `squashmigrations <app> <from> <to>`,
//! `inspectdb [tables…] [--app]`, `check` (drift between models, history and database) and
//! `lint` (operations that lock or break a live database).

pub mod check;
pub mod inspectdb;
pub mod lint;
pub mod makemigrations;
pub mod migrate;
pub mod showmigrations;
pub mod sqlmigrate;
pub mod squashmigrations;

use crate::error::{MigrationError, Result};
use crate::loader::{Embedded, Loader};
use crate::operations::{Context, RustFunctions};
use crate::state::ProjectState;
use clap::{Parser, Subcommand};
use orm::meta::ModelMeta;
use std::io::Write;
use std::path::PathBuf;

/// The application's models and where its migrations live: what the command line works on.
#[derive(Clone, Debug)]
pub struct Registry {
    /// The models (abstract ones are skipped).
    pub models: Vec<&'static ModelMeta>,
    /// The migrations directory in the source tree (written by makemigrations, read at run
    /// time when it exists).
    pub migrations_dir: Option<PathBuf>,
    /// Migrations compiled into the binary, used when the directory is not there.
    pub embedded: Option<Embedded>,
    /// The database used when `--database` is not given.
    pub database: String,
    /// Functions RunRust operations call.
    pub functions: RustFunctions,
}

/// A [`Registry`] of the listed models (`registry![Author, Post]`), with migrations in the
/// calling crate's `migrations/` directory.
#[macro_export]
macro_rules! registry {
    ($($model:ty),* $(,)?) => {
        $crate::cli::Registry::new(::std::vec![$(<$model as ::orm::Model>::meta()),*])
            .migrations_dir(::std::concat!(::std::env!("CARGO_MANIFEST_DIR"), "/migrations"))
    };
}

impl Registry {
    /// A registry of `models`, with no migrations directory and `sqlite://db.sqlite3` as the
    /// database.
    pub fn new(models: Vec<&'static ModelMeta>) -> Self {
        Registry {
            models,
            migrations_dir: None,
            embedded: None,
            database: "sqlite://db.sqlite3".to_owned(),
            functions: RustFunctions::new(),
        }
    }

    /// Reads and writes migrations in `dir`.
    pub fn migrations_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.migrations_dir = Some(dir.into());
        self
    }

    /// Uses migrations compiled in with [`embed_migrations!`](crate::embed_migrations) when the
    /// directory is not there.
    pub fn embedded(mut self, files: Embedded) -> Self {
        self.embedded = Some(files);
        self
    }

    /// The database used without `--database`.
    pub fn database(mut self, url: impl Into<String>) -> Self {
        self.database = url.into();
        self
    }

    /// Registers the functions RunRust operations call.
    pub fn functions(mut self, functions: RustFunctions) -> Self {
        self.functions = functions;
        self
    }

    /// The migrations: from the directory when it exists, else the embedded ones.
    pub fn loader(&self) -> Result<Loader> {
        match (&self.migrations_dir, &self.embedded) {
            (Some(dir), _) if dir.exists() => Loader::from_dir(dir),
            (_, Some(e)) => Loader::from_embedded(e),
            _ => Ok(Loader::default()),
        }
    }

    /// The state the models describe.
    pub fn model_state(&self) -> ProjectState {
        ProjectState::from_models(&self.models)
    }

    /// The run-time context of operations.
    pub fn context(&self) -> Context {
        Context { functions: self.functions.clone() }
    }

    /// The apps of the models.
    pub fn apps(&self) -> Vec<String> {
        self.model_state().apps()
    }
}

/// The command line.
#[derive(Debug, Parser)]
#[command(about = "Migrations: detect, apply, inspect", disable_help_subcommand = true)]
pub struct Cli {
    /// The database URL (sqlite://file.db, postgres://…, mysql://…).
    #[arg(long, global = true)]
    pub database: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Detect model changes and write new migrations.
    Makemigrations(makemigrations::Args),
    /// Apply or unapply migrations.
    Migrate(migrate::Args),
    /// List migrations and whether they are applied.
    Showmigrations(showmigrations::Args),
    /// Print the SQL of a migration.
    Sqlmigrate(sqlmigrate::Args),
    /// Squash a range of an app's migrations into one.
    Squashmigrations(squashmigrations::Args),
    /// Write model source for the tables of an existing database.
    Inspectdb(inspectdb::Args),
    /// Compare models, migration history and the live database.
    Check(check::Args),
    /// Flag operations that lock or break a live database.
    Lint(lint::Args),
}

/// Runs the command line with the process arguments and exits with its status.
pub fn main(registry: Registry) -> ! {
    let code = run(&registry, std::env::args_os(), &mut std::io::stdout());
    std::process::exit(code)
}

/// Runs the command line with `args` (the first is the program name), writing to `out`;
/// errors go to stderr. Returns the exit status.
pub fn run<I, T>(registry: &Registry, args: I, out: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match dispatch(registry, cli, out) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn dispatch(registry: &Registry, cli: Cli, out: &mut dyn Write) -> Result<i32> {
    let url = cli.database.clone().unwrap_or_else(|| registry.database.clone());
    match cli.command {
        Command::Makemigrations(a) => makemigrations::run(registry, &a, out),
        Command::Migrate(a) => migrate::run(registry, &url, &a, out),
        Command::Showmigrations(a) => showmigrations::run(registry, &url, &a, out),
        Command::Sqlmigrate(a) => sqlmigrate::run(registry, &url, &a, out),
        Command::Squashmigrations(a) => squashmigrations::run(registry, &a, out),
        Command::Inspectdb(a) => inspectdb::run(&url, &a, out),
        Command::Check(a) => check::run(registry, &url, &a, out),
        Command::Lint(a) => lint::run(registry, &url, &a, out),
    }
}

/// Opens one connection to `url`.
pub(crate) fn connect(url: &str) -> Result<Box<dyn orm_backends::Connection>> {
    Ok(orm_backends::connect_one(url)?)
}

/// Writes a line to `out`, turning an I/O failure into an error.
pub(crate) fn say(out: &mut dyn Write, line: impl AsRef<str>) -> Result<()> {
    writeln!(out, "{}", line.as_ref()).map_err(|e| MigrationError::io(std::path::Path::new("<stdout>"), e))
}

/// The dialect of `url`, from its scheme.
pub(crate) fn dialect_of(url: &str) -> Result<orm_backends::Dialect> {
    let options = orm_backends::ConnectOptions::parse(url)?;
    Ok(orm_backends::Dialect::of(options.backend))
}
