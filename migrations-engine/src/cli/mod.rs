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
//! Subcommands (each takes `--database <url or alias>`, default: the registry's database):
//! `makemigrations [apps…] [--name] [--empty] [--check] [--dry-run] [--merge]`,
//! `migrate [app] [target] [--plan] [--fake] [--fake-initial]`, `showmigrations [apps…]`,
//! `sqlmigrate <app> <name> [--backwards]`, `squashmigrations <app> <from> <to>`,
//! `inspectdb [tables…] [--app]`, `check` (drift between models, history and database) and
//! `lint` (operations that lock or break a live database).
//!
//! ## Which database: a URL or an alias
//!
//! `--database` (and [`Registry::database`]) takes either a URL (anything containing `:`:
//! `sqlite://blog.db`, `postgres://…`, `mysql://…`), a database on its own with no routers, as
//! before; or a Django alias (`default`, `analytics`, …) naming a member of a set of databases
//! ([`DatabaseChoice`], resolved by [`Registry::choose`]):
//!
//! - the set given with [`Registry::databases`] (its routers apply; without `--database` the
//!   commands use its `default` database), or else
//! - the set the environment describes, one `ORM_DATABASE_<ALIAS>_URL` variable per database
//!   ([`orm::Databases::from_env`]; no routers: everything is allowed everywhere).
//!
//! An alias that names no database is an error naming it and listing the aliases there are.
//! On a member of a set, as Django's `--database`:
//!
//! - `migrate` applies (or unapplies) the plan of that database, recorded in that database's own
//!   `orm_migrations` table; each operation runs its DDL only where the set's routers'
//!   `allow_migrate` says its model (RunSql and RunRust: its app) belongs (see
//!   [`operations`](crate::operations#several-databases)), and every migration is recorded
//!   either way. Run it once per alias to bring every database up to date.
//! - `showmigrations` lists what that database has recorded;
//! - `sqlmigrate` writes that database's dialect and marks the operations its routers skip
//!   there;
//! - `check` compares the database with the tables of the models the routers allow there;
//! - `inspectdb` and `lint` use that database's connection (or dialect); `lint` looks at every
//!   operation, whether or not the routers let it run there;
//! - `makemigrations` and `squashmigrations` touch no database (Django's makemigrations also
//!   checks the history of every database for consistency; this one does not).
//!
//! ```no_run
//! # use orm::prelude::*;
//! # #[derive(Model, Debug, Clone)]
//! # #[orm(app = "stats")]
//! # pub struct Visit { pub id: Auto<i64> }
//! struct StatsRouter;
//! impl orm::databases::Router for StatsRouter {
//!     fn allow_migrate(&self, db: &str, app: &str, _model: Option<&str>) -> Option<bool> {
//!         Some((app == "stats") == (db == "analytics"))
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let dbs = orm::Databases::from_env()?.router(StatsRouter).build()?;
//!     // `manage migrate` (the default database), then `manage migrate --database analytics`.
//!     orm_migrations::cli::main(orm_migrations::registry![Visit].databases(dbs))
//! }
//! ```

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
use crate::routing::Routing;
use crate::state::ProjectState;
use clap::{Parser, Subcommand};
use orm::meta::ModelMeta;
use orm_backends::{Connection, Dialect};
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
    /// The database used when `--database` is not given: a URL, or an alias (see the
    /// [module doc](self#which-database-a-url-or-an-alias)).
    pub database: String,
    /// The set of databases aliases name (with its routers); without it, aliases are looked
    /// up in the environment (`ORM_DATABASE_<ALIAS>_URL`).
    pub databases: Option<orm::Databases>,
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
            databases: None,
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

    /// The database used without `--database`: a URL or an alias.
    pub fn database(mut self, url_or_alias: impl Into<String>) -> Self {
        self.database = url_or_alias.into();
        self
    }

    /// Works on the databases of `set`: `--database <alias>` picks one, and its routers'
    /// `allow_migrate` decides which operations run there. Makes `"default"` the database used
    /// without `--database` (call [`database`](Self::database) afterwards for another).
    pub fn databases(mut self, set: orm::Databases) -> Self {
        self.databases = Some(set);
        self.database = orm::DEFAULT_DB_ALIAS.to_owned();
        self
    }

    /// The database `url_or_alias` names: a URL when it contains `:`, else an alias of the
    /// registry's set or, without one, of the environment's (`ORM_DATABASE_<ALIAS>_URL`). An
    /// unknown alias is an error naming it and the aliases there are.
    pub fn choose(&self, url_or_alias: &str) -> Result<DatabaseChoice> {
        self.choose_with(url_or_alias, || orm::Databases::from_env()?.build())
    }

    fn choose_with(
        &self,
        name: &str,
        from_env: impl FnOnce() -> orm::Result<orm::Databases>,
    ) -> Result<DatabaseChoice> {
        if name.contains(':') {
            return Ok(DatabaseChoice::Url(name.to_owned()));
        }
        let set = match &self.databases {
            Some(set) => set.clone(),
            None => from_env().map_err(|e| orm::Error::ConnectionDoesNotExist {
                alias: name.to_owned(),
                hint: format!(
                    " No set of databases was given to the registry (Registry::databases), and the \
                     environment's ORM_DATABASE_<ALIAS>_URL variables make none ({e}). A URL \
                     (anything containing ':') names a database directly."
                ),
            })?,
        };
        set.get(name)?;
        Ok(DatabaseChoice::Member { alias: name.to_owned(), databases: set })
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

    /// The run-time context of operations (the database and its routers travel apart, as
    /// [`DatabaseChoice::routing`]).
    pub fn context(&self) -> Context {
        Context { functions: self.functions.clone() }
    }

    /// The apps of the models.
    pub fn apps(&self) -> Vec<String> {
        self.model_state().apps()
    }
}

/// The database a command works on: `--database` (or the registry's default) resolved by
/// [`Registry::choose`].
#[derive(Clone, Debug)]
pub enum DatabaseChoice {
    /// A database by URL, on its own: no routers, everything allowed.
    Url(String),
    /// The member `alias` of a set of databases, whose routers apply.
    Member {
        /// The alias.
        alias: String,
        /// The set it belongs to.
        databases: orm::Databases,
    },
}

/// A connection a command holds: opened from a URL, or checked out of a set's pool.
pub type CommandConnection = Box<dyn std::ops::DerefMut<Target = dyn Connection>>;

impl DatabaseChoice {
    /// The database's alias (`"default"` for a URL).
    pub fn alias(&self) -> &str {
        match self {
            DatabaseChoice::Url(_) => orm::DEFAULT_DB_ALIAS,
            DatabaseChoice::Member { alias, .. } => alias,
        }
    }

    /// The alias and what the routers allow there (everything, for a URL).
    pub fn routing(&self) -> Routing {
        match self {
            DatabaseChoice::Url(_) => Routing::default(),
            DatabaseChoice::Member { alias, databases } => Routing::databases(databases, alias.clone()),
        }
    }

    /// The database's dialect, without connecting.
    pub fn dialect(&self) -> Result<Dialect> {
        match self {
            DatabaseChoice::Url(url) => dialect_of(url),
            DatabaseChoice::Member { alias, databases } => Ok(databases.get(alias)?.dialect()),
        }
    }

    /// A connection to the database (a member's comes from its set's pool).
    pub fn connect(&self) -> Result<CommandConnection> {
        Ok(match self {
            DatabaseChoice::Url(url) => Box::new(connect(url)?),
            DatabaseChoice::Member { alias, databases } => Box::new(databases.get(alias)?.pool().get()?),
        })
    }
}

impl std::fmt::Display for DatabaseChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseChoice::Url(url) => f.write_str(url),
            DatabaseChoice::Member { alias, .. } => write!(f, "database '{alias}'"),
        }
    }
}

/// The command line.
#[derive(Debug, Parser)]
#[command(about = "Migrations: detect, apply, inspect", disable_help_subcommand = true)]
pub struct Cli {
    /// The database: a URL (sqlite://file.db, postgres://…, mysql://…) or an alias
    /// (default, analytics, …) of the registry's databases or of `ORM_DATABASE_<ALIAS>_URL`.
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
    let name = cli.database.clone().unwrap_or_else(|| registry.database.clone());
    let db = || registry.choose(&name);
    match cli.command {
        Command::Makemigrations(a) => makemigrations::run(registry, &a, out),
        Command::Migrate(a) => migrate::run(registry, &db()?, &a, out),
        Command::Showmigrations(a) => showmigrations::run(registry, &db()?, &a, out),
        Command::Sqlmigrate(a) => sqlmigrate::run(registry, &db()?, &a, out),
        Command::Squashmigrations(a) => squashmigrations::run(registry, &a, out),
        Command::Inspectdb(a) => inspectdb::run(&db()?, &a, out),
        Command::Check(a) => check::run(registry, &db()?, &a, out),
        Command::Lint(a) => lint::run(registry, &db()?, &a, out),
    }
}

/// Opens one connection to `url`.
pub(crate) fn connect(url: &str) -> Result<Box<dyn Connection>> {
    Ok(orm_backends::connect_one(url)?)
}

/// Writes a line to `out`, turning an I/O failure into an error.
pub(crate) fn say(out: &mut dyn Write, line: impl AsRef<str>) -> Result<()> {
    writeln!(out, "{}", line.as_ref()).map_err(|e| MigrationError::io(std::path::Path::new("<stdout>"), e))
}

/// The dialect of `url`, from its scheme.
pub(crate) fn dialect_of(url: &str) -> Result<Dialect> {
    let options = orm_backends::ConnectOptions::parse(url)?;
    Ok(Dialect::of(options.backend))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> orm::Result<orm::Databases> {
        orm::Databases::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))?.build()
    }

    #[test]
    fn a_name_with_a_colon_is_a_url_and_others_are_aliases() {
        let r = Registry::new(vec![]);
        let never = || -> orm::Result<orm::Databases> { panic!("a URL does not read the environment") };
        let url = r.choose_with("sqlite://x.db", never).unwrap();
        assert!(matches!(&url, DatabaseChoice::Url(u) if u == "sqlite://x.db"));
        assert_eq!(
            (url.alias(), url.routing().is_routed(), url.dialect().unwrap()),
            ("default", false, Dialect::Sqlite)
        );

        let vars =
            [("ORM_DATABASE_DEFAULT_URL", "sqlite::memory:"), ("ORM_DATABASE_ANALYTICS_URL", "postgres://u@h/db")];
        let analytics = r.choose_with("analytics", || env(&vars)).unwrap();
        assert_eq!(analytics.alias(), "analytics");
        assert_eq!(analytics.dialect().unwrap(), Dialect::Postgres, "no connection needed");
        assert_eq!(analytics.to_string(), "database 'analytics'");

        let e = r.choose_with("nope", || env(&vars)).unwrap_err().to_string();
        assert_eq!(e, "The connection 'nope' doesn't exist. The databases are 'default', 'analytics'.");
        let e = r.choose_with("analytics", || env(&[])).unwrap_err().to_string();
        assert!(
            e.starts_with("The connection 'analytics' doesn't exist.") && e.contains("ORM_DATABASE_<ALIAS>_URL"),
            "{e}"
        );
    }

    #[test]
    fn a_registry_set_is_used_before_the_environment_and_is_the_default() {
        let set = orm::Databases::builder()
            .database("default", "sqlite::memory:")
            .and_then(|b| b.database("replica", "sqlite::memory:"))
            .and_then(|b| b.build())
            .unwrap();
        let r = Registry::new(vec![]).databases(set);
        assert_eq!(r.database, "default");
        let never = || -> orm::Result<orm::Databases> { panic!("the registry's set answers") };
        let replica = r.choose_with("replica", never).unwrap();
        assert!(replica.routing().is_routed());
        assert_eq!(replica.routing().alias(), "replica");
        let e = r.choose_with("analytics", never).unwrap_err().to_string();
        assert!(e.contains("'analytics'") && e.contains("'default', 'replica'"), "{e}");
    }
}
