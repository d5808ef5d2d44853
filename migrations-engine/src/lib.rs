//! # orm-migrations: keeping a database in step with the models
//!
//! Migrations are data: a [`Migration`](migration::Migration) is a named list of
//! [`Operation`](operations::Operation)s with dependencies, written as readable JSON files and
//! compiled into the application with [`embed_migrations!`]. The pipeline:
//!
//! **state → autodetect → write → load → graph → plan → execute → record**
//!
//! - [`state`]: [`ProjectState`](state::ProjectState), every model as plain serde data, built
//!   from the models' static metadata or by replaying operations, rendered to the backend
//!   layer's neutral `TableDef`s with the ORM's schema rules;
//! - [`autodetector`]: diffs the history's state against the models' and plans operations in
//!   dependency order, asking a [`questioner`] about renames and one-off defaults;
//!   [`optimizer`] shortens the lists;
//! - [`operations`]: Django's operations with their contract (state forwards, database
//!   forwards and backwards, describe, reduce, references), applied through the
//!   [`editor::SchemaEditor`], which alters tables per dialect and rebuilds SQLite tables;
//! - [`writer`] and [`loader`]: files in `migrations/<app>/<name>.json`, read at run time or
//!   embedded; [`graph`]: dependencies across apps, plans, cycles and conflicts;
//! - [`executor`] and [`recorder`]: apply and unapply under a lock, atomically where the
//!   backend has transactional DDL, with checksums and per-operation progress elsewhere;
//! - [`squash`], [`inspectdb`], and the drift `check` and `lint` of [`cli`], the command line
//!   an application embeds: `fn main() { orm_migrations::cli::main(registry![A, B]) }`.
//! - [`routing`]: several databases, as Django's `migrate --database`: each database keeps its
//!   own recorder table and gets every migration recorded, while each operation runs its DDL
//!   only where the routers' `allow_migrate` says its model (or, for raw SQL and Rust, its
//!   app) belongs ([`routing::Routing`], from an [`orm::Databases`] set; the command line's
//!   `--database <alias>`).
//!
//! ```
//! use orm_migrations::operations::{AddField, CreateModel, Operation};
//! use orm_migrations::state::{FieldState, ModelState, ProjectState};
//! use orm_migrations::executor::sql_for;
//! use orm_migrations::{loader::Loader, migration::Migration, Key};
//! use orm_backends::{schema::ColumnType, Dialect};
//!
//! let post = ModelState::new("blog", "Post", "blog_post")
//!     .field(FieldState::auto_pk("id"))
//!     .field(FieldState::new("title", ColumnType::Varchar(200)));
//! let first = Migration::new("blog", "0001_initial").operation(Operation::CreateModel(CreateModel::of(&post)));
//! let second = Migration::new("blog", "0002_post_views").depends_on("blog", "0001_initial").operation(
//!     Operation::AddField(AddField {
//!         model: "Post".into(),
//!         field: FieldState::new("views", ColumnType::BigInt).default_value(0i64),
//!         preserve_default: true,
//!     }),
//! );
//! let loader = Loader::new(vec![first, second])?;
//! let state = loader.project_state(&loader.graph(&Default::default())?)?;
//! assert!(state.get("blog.Post")?.get_field("views").is_some());
//!
//! let key = Key::new("blog", "0002_post_views");
//! assert_eq!(sql_for(&loader, &key, Dialect::Postgres, false)?[1],
//!            "ALTER TABLE \"blog_post\" ADD COLUMN \"views\" bigint NOT NULL DEFAULT 0;");
//! assert_eq!(sql_for(&loader, &key, Dialect::Mysql, true)?[1], "ALTER TABLE `blog_post` DROP COLUMN `views`;");
//! // SQLite cannot drop that column in place: the table is rebuilt.
//! assert!(sql_for(&loader, &key, Dialect::Sqlite, true)?[1].starts_with("CREATE TABLE \"new__blog_post\""));
//! # Ok::<(), orm_migrations::MigrationError>(())
//! ```
//!
//! ## Departures from the design notes, and why
//!
//! - **The schema editor lives here** ([`editor`]), not in `orm-backends`: it is driven by
//!   state-rendered tables and operation hints (renamed columns, one-off fills) that belong to
//!   this crate, and it is its only user. It writes no DDL text of its own: its `CREATE`,
//!   `DROP` and `ALTER TABLE` statements come from the backend layer's renderer
//!   (`orm_backends::schema::render`), which builds them with sea-query's schema statements
//!   (a few forms sea-query lacks are hand-written there, each marked). On SQLite the editor
//!   asks only for the forms SQLite has in place (add and rename columns, rename tables,
//!   indexes) and rebuilds the table for the rest, so no path reaches sea-query's SQLite
//!   ALTER panics (the renderer answers those forms with an error, not a panic).
//! - **Operations name tables through a diff.** Each schema operation names the tables it
//!   changes as (before, after) definitions plus hints, and the editor turns the difference
//!   into statements; backwards is the same change inverted. This keeps every operation
//!   reversible by construction and makes the database match exactly what the state renders
//!   (which `check` relies on).
//! - **`RenameModel` keeps the table**; the autodetector adds an `AlterModelTable` when the
//!   model's table name changes too. Each stays a simple, separately reversible step.
//! - **Files are JSON** (see [`writer`] for why), and `embed_migrations!` includes them through
//!   a manifest (`migrations/embed.rs`) that makemigrations keeps, so no build script is needed.
//! - **Checksums are FNV-1a over the canonical JSON**: they detect edits, not tampering, and
//!   reformatting a file does not change them.
//! - **SQLite serialises per migration** with `BEGIN IMMEDIATE` (the write lock; in WAL mode
//!   the same as `EXCLUSIVE`) and re-reads the recorder inside it, rather than one lock for the
//!   whole run, so readers are not blocked between migrations.
//! - **The model list is explicit** ([`registry!`]), as the design asks; the ORM's link-time
//!   registry is not used, so an application decides which models its migrations cover.
//! - **A relation field carries its column type in state** (Django derives it from the target
//!   when rendering). So an `AlterField` retyping a primary key (or a field others reach by
//!   `to_field`) also retypes, in state and in the database, every relation column pointing at
//!   it, in any app, a multi-table child's `<parent>_ptr` and what points at that included
//!   (join tables follow by themselves): on PostgreSQL and MySQL every affected foreign key is
//!   dropped first and re-created last ([`editor::SchemaEditor::apply_all`]); SQLite rebuilds
//!   each table. The autodetector writes one `AlterField` for the key, depending on the latest
//!   migration of each app whose relations follow it, and the optimizer never folds such an
//!   `AlterField` into a `CreateModel`.
//! - **Check constraints are SQL text**: `RenameField` (and an `AlterField` changing a
//!   column's name) rewrites the column in it token by token
//!   ([`state::rename_column_in_sql`]: bare and quoted identifiers, never string literals), not
//!   by parsing it; the database gets the check dropped and re-created around the rename
//!   (SQLite: the table rebuilt), so it enforces on the new column.
//! - **`index = false` on a relation** (Django's `db_index=False`, stored as
//!   `"db_index": false`) leaves its column without an index of its own; inspectdb writes it
//!   for a foreign-key column another index leads with (a join table's first column).
//! - **Several databases follow Django's `migrate --database`** ([`routing`]), with three
//!   differences: routers hear the model's name as the project state spells it (`"Visit"`,
//!   the name `orm::Databases::allow_migrate` passes too), not Django's lower-cased
//!   `model_name`; `RunSql` and `RunRust` pass no hints (Django's `hints=`), only the app; and
//!   `makemigrations` does not check every database's history for consistency. The routing
//!   travels with the [`editor::SchemaEditor`] (Django's `schema_editor.connection.alias`),
//!   not in [`operations::Context`], which stays the application's RunRust functions.
//!
//! ## Known limits
//!
//! - A key retyped to or from a custom (`db_type`) type is not passed on to the relations
//!   pointing at it (a relation's column has its target's kind, not its `db_type`); the
//!   autodetector then writes their own `AlterField`s.
//! - Renaming a many-to-many field renames its join table (`<table>_<field>`); its columns are
//!   named after the models, not the field, so they stay.
//! - Progress is reported as text lines (`Executor::with_progress`, RunRust's reporter),
//!   not drawn as a bar.
//! - On MySQL an operation of several statements that fails half-way leaves its earlier
//!   statements applied (no transactional DDL); the recorder's per-operation progress says
//!   which operations completed, not which statements.

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
pub mod routing;
pub mod squash;
pub mod state;
pub mod writer;

pub use error::{Key, MigrationError, Result};
