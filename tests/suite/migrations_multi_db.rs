//! Migrations on several databases, after Django's `migrate --database <alias>` with routers
//! (`tests/multiple_database` and `migrations/test_multidb.py`): each database records every
//! migration in its own recorder table, while each operation runs its DDL only where the
//! routers' `allow_migrate` says its model (raw SQL and Rust: its app) belongs; unapplying on
//! one database leaves the other alone; `PrimaryReplicaRouter` keeps a replica's schema
//! untouched (every operation skipped there, every migration still recorded, as Django); and
//! the command line's `--database` takes an alias (of the registry's set) as well as a URL.
//!
//! Every body runs on each backend: the second database is another isolated database (SQLite
//! file, PostgreSQL schema, MySQL database) of the same backend.

use orm::databases::Router;
use orm::prelude::*;
use orm::{Databases, PrimaryReplicaRouter};
use orm_backends::schema::{introspect_table, table_names, ColumnType};
use orm_backends::testing::TestDb;
use orm_backends::{backend_test, Connection, Pool};
use orm_migrations::cli::{self, DatabaseChoice, Registry};
use orm_migrations::executor::{sql_for_routed, Executor, MigrateOptions, Outcome, Target};
use orm_migrations::loader::Loader;
use orm_migrations::migration::Migration;
use orm_migrations::operations::{
    AddConstraint, AddField, AddIndex, AlterField, AlterModelTable, CreateModel, Operation, RemoveConstraint,
    RenameField, RenameModel, RunRust, RunSql, RustFunctions, SqlSpec,
};
use orm_migrations::recorder::Recorder;
use orm_migrations::routing::Routing;
use orm_migrations::state::{ConstraintState, FieldState, IndexState, ProjectState};
use orm_migrations::Key;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// A sticker (a many-to-many target).
#[derive(Model, Debug, Clone)]
#[orm(app = "store")]
pub struct Sticker {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
}

/// A crate of the store, with stickers (a join table that goes where the crate goes).
#[derive(Model, Debug, Clone)]
#[orm(app = "store")]
pub struct Crate {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
    #[orm(related_name = "crates")]
    pub stickers: ManyToMany<Sticker>,
}

/// A page visit: the `stats` app, which lives in the `analytics` database.
#[derive(Model, Debug, Clone)]
#[orm(app = "stats")]
pub struct Visit {
    pub id: Auto<i64>,
    #[orm(max_length = 100)]
    pub path: String,
    pub hits: i64,
}

/// Every `allow_migrate` question a router was asked: `(db, app, model)`.
type Asked = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

/// Sends app `stats` to `analytics` and everything else to `default`, noting each question.
struct StatsRouter {
    asked: Asked,
}

impl Router for StatsRouter {
    fn allow_migrate(&self, db: &str, app_label: &str, model_name: Option<&str>) -> Option<bool> {
        self.asked.lock().expect("not poisoned").push((db.into(), app_label.into(), model_name.map(Into::into)));
        Some((app_label == "stats") == (db == "analytics"))
    }
}

/// A second isolated database of the test's backend.
fn second(t: &TestDb, name: &str) -> Result<TestDb, Box<dyn std::error::Error>> {
    Ok(TestDb::open(t.backend(), &format!("{}::{name}", t.name()))?.ok_or("the backend under test is configured")?)
}

/// `default` on `t`, `analytics` on `a`, routed by a [`StatsRouter`].
fn stats_set(t: &TestDb, a: &TestDb) -> Result<(Databases, Asked), orm::Error> {
    let asked = Asked::default();
    let dbs = Databases::builder()
        .pool("default", Pool::clone(t))?
        .pool("analytics", Pool::clone(a))?
        .router(StatsRouter { asked: asked.clone() })
        .build()?;
    Ok((dbs, asked))
}

/// Creates a table by hand in a RunRust data step (a visible trace of where it ran).
fn mark_rust(
    conn: &mut dyn Connection,
    _progress: &mut dyn FnMut(&str),
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    conn.execute_batch("CREATE TABLE stats_rust_mark (id INTEGER PRIMARY KEY)")?;
    Ok(())
}

fn unmark_rust(
    conn: &mut dyn Connection,
    _progress: &mut dyn FnMut(&str),
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    conn.execute_batch("DROP TABLE stats_rust_mark")?;
    Ok(())
}

fn functions() -> RustFunctions {
    RustFunctions::new().register("mark_rust", mark_rust).register("unmark_rust", unmark_rust)
}

fn sql(forwards: &str, backwards: &str) -> Operation {
    Operation::RunSql(RunSql {
        sql: SqlSpec::All(vec![forwards.into()]),
        reverse_sql: Some(SqlSpec::All(vec![backwards.into()])),
        state_operations: vec![],
    })
}

/// Two apps' histories with every kind of model operation, raw SQL that would fail on the
/// wrong database (its table is not there), and a Rust step.
fn migrations() -> Vec<Migration> {
    let models = ProjectState::from_models(&[Sticker::meta(), Crate::meta(), Visit::meta()]);
    let create = |label: &str| Operation::CreateModel(CreateModel::of(models.get(label).expect("a model")));
    let mut store1 =
        Migration::new("store", "0001_initial").operation(create("store.Sticker")).operation(create("store.Crate"));
    store1.initial = true;
    let store2 = Migration::new("store", "0002_more")
        .depends_on("store", "0001_initial")
        .operation(Operation::AddField(AddField {
            model: "Crate".into(),
            field: FieldState::new("weight", ColumnType::BigInt).default_value(0i64),
            preserve_default: true,
        }))
        .operation(Operation::AddIndex(AddIndex {
            model: "Crate".into(),
            index: IndexState { name: "store_crate_name_idx".into(), fields: vec!["name".into()] },
        }))
        .operation(Operation::RenameField(RenameField {
            model: "Crate".into(),
            old_name: "weight".into(),
            new_name: "mass".into(),
        }))
        .operation(Operation::AlterField(AlterField {
            model: "Crate".into(),
            field: FieldState::new("mass", ColumnType::BigInt).nullable(),
            preserve_default: true,
        }))
        .operation(sql(
            "INSERT INTO store_sticker (name) VALUES ('seed')",
            "DELETE FROM store_sticker WHERE name = 'seed'",
        ));
    let mut stats1 =
        Migration::new("stats", "0001_initial").depends_on("store", "0001_initial").operation(create("stats.Visit"));
    stats1.initial = true;
    let stats2 = Migration::new("stats", "0002_more")
        .depends_on("stats", "0001_initial")
        .depends_on("store", "0002_more")
        .operation(Operation::AddField(AddField {
            model: "Visit".into(),
            field: FieldState::new("referrer", ColumnType::Varchar(100)).nullable(),
            preserve_default: true,
        }))
        .operation(Operation::AddConstraint(AddConstraint {
            model: "Visit".into(),
            constraint: ConstraintState::Check { name: "stats_visit_hits_gte_0".into(), sql: "hits >= 0".into() },
        }))
        .operation(sql("INSERT INTO stats_visit (path, hits) VALUES ('/', 1)", "DELETE FROM stats_visit"))
        .operation(sql("CREATE TABLE stats_raw (id INTEGER PRIMARY KEY)", "DROP TABLE stats_raw"))
        .operation(Operation::RunRust(RunRust { forward: "mark_rust".into(), backward: Some("unmark_rust".into()) }));
    let stats3 = Migration::new("stats", "0003_rename")
        .depends_on("stats", "0002_more")
        .operation(Operation::RemoveConstraint(RemoveConstraint {
            model: "Visit".into(),
            name: "stats_visit_hits_gte_0".into(),
        }))
        .operation(Operation::RenameModel(RenameModel { old_name: "Visit".into(), new_name: "Hit".into() }))
        .operation(Operation::AlterModelTable(AlterModelTable { name: "Hit".into(), table: "stats_hit".into() }));
    vec![store1, store2, stats1, stats2, stats3]
}

const STORE_TABLES: [&str; 3] = ["store_crate", "store_crate_stickers", "store_sticker"];

/// The tables of `alias` (without the recorder's).
fn tables(dbs: &Databases, alias: &str) -> Result<BTreeSet<String>, Box<dyn std::error::Error>> {
    let mut conn = dbs.get(alias)?.pool().get()?;
    Ok(table_names(&mut *conn)?.into_iter().filter(|t| t != "orm_migrations").collect())
}

/// The migrations `alias` records as applied.
fn recorded(dbs: &Databases, alias: &str) -> Result<BTreeSet<String>, Box<dyn std::error::Error>> {
    let mut conn = dbs.get(alias)?.pool().get()?;
    Ok(Recorder::applied(&mut *conn)?.into_keys().map(|k| k.to_string()).collect())
}

fn migrate_on(
    dbs: &Databases,
    alias: &str,
    loader: &Loader,
    target: Target,
) -> Result<Vec<Outcome>, Box<dyn std::error::Error>> {
    let mut conn = dbs.get(alias)?.pool().get()?;
    let ctx = orm_migrations::operations::Context { functions: functions() };
    let steps = Executor::new(&mut *conn, loader)
        .with_context(ctx)
        .with_routing(Routing::databases(dbs, alias))
        .migrate(&target, MigrateOptions::default())?;
    Ok(steps.into_iter().map(|(_, o)| o).collect())
}

fn count(dbs: &Databases, alias: &str, table: &str) -> Result<i64, Box<dyn std::error::Error>> {
    let mut conn = dbs.get(alias)?.pool().get()?;
    let row = conn.query_opt(&format!("SELECT COUNT(*) FROM {table}"), &[])?.ok_or("one row")?;
    Ok(row.get::<i64>(0)?)
}

fn set_of(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const EVERY_MIGRATION: [&str; 5] =
    ["stats.0001_initial", "stats.0002_more", "stats.0003_rename", "store.0001_initial", "store.0002_more"];

backend_test! {
    fn each_database_gets_the_tables_its_routers_allow_and_records_every_migration(t: &TestDb) {
        let a = second(t, "analytics")?;
        let (dbs, asked) = stats_set(t, &a)?;
        let loader = Loader::new(migrations())?;
        for alias in ["default", "analytics"] {
            let done = migrate_on(&dbs, alias, &loader, Target::All)?;
            assert_eq!(done, vec![Outcome::Done; 5], "on {alias}: every migration runs (and is recorded)");
        }
        assert_eq!(tables(&dbs, "default")?, set_of(&STORE_TABLES), "the store's tables, its join table included");
        assert_eq!(tables(&dbs, "analytics")?, set_of(&["stats_hit", "stats_raw", "stats_rust_mark"]));
        for alias in ["default", "analytics"] {
            assert_eq!(recorded(&dbs, alias)?, set_of(&EVERY_MIGRATION), "{alias} records every migration");
        }
        // Raw SQL ran only where its app belongs (it would have failed elsewhere: no table).
        assert_eq!(count(&dbs, "default", "store_sticker")?, 1);
        assert_eq!(count(&dbs, "analytics", "stats_hit")?, 1);
        // The schema changes went through: renamed, re-typed, added.
        let mut conn = dbs.get("default")?.pool().get()?;
        let crate_table = introspect_table(&mut *conn, "store_crate")?.ok_or("store_crate is there")?;
        assert!(crate_table.column_named("mass").is_some_and(|c| c.nullable), "{crate_table:?}");
        assert!(crate_table.indexes.iter().any(|i| i.name == "store_crate_name_idx"), "{crate_table:?}");
        drop(conn);
        let mut conn = dbs.get("analytics")?.pool().get()?;
        let hit = introspect_table(&mut *conn, "stats_hit")?.ok_or("stats_hit is there")?;
        assert!(hit.column_named("referrer").is_some() && hit.checks.is_empty(), "{hit:?}");
        drop(conn);

        // What the routers were asked: the model by its state name, the app alone for raw SQL
        // and Rust.
        let asked = asked.lock().expect("not poisoned").clone();
        let q = |db: &str, app: &str, model: Option<&str>| (db.to_owned(), app.to_owned(), model.map(str::to_owned));
        for question in [
            q("default", "store", Some("Crate")),
            q("default", "store", Some("Sticker")),
            q("default", "store", None),
            q("default", "stats", Some("Visit")),
            q("default", "stats", None),
            q("analytics", "stats", Some("Visit")),
            q("analytics", "stats", Some("Hit")),
            q("analytics", "store", None),
        ] {
            assert!(asked.contains(&question), "{question:?} not in {asked:?}");
        }

        // Nothing left to do on either.
        for alias in ["default", "analytics"] {
            assert!(migrate_on(&dbs, alias, &loader, Target::All)?.is_empty());
        }
        Ok(())
    }
}

backend_test! {
    fn unapplying_on_one_database_leaves_the_other_untouched(t: &TestDb) {
        let a = second(t, "analytics")?;
        let (dbs, _) = stats_set(t, &a)?;
        let loader = Loader::new(migrations())?;
        for alias in ["default", "analytics"] {
            migrate_on(&dbs, alias, &loader, Target::All)?;
        }
        let undone = migrate_on(&dbs, "analytics", &loader, Target::Zero("stats".into()))?;
        assert_eq!(undone.len(), 3);
        assert!(tables(&dbs, "analytics")?.is_empty(), "stats' tables are gone from analytics");
        assert_eq!(recorded(&dbs, "analytics")?, set_of(&["store.0001_initial", "store.0002_more"]));
        assert_eq!(recorded(&dbs, "default")?, set_of(&EVERY_MIGRATION), "default's recorder is untouched");
        assert_eq!(tables(&dbs, "default")?, set_of(&STORE_TABLES));

        // Unapplying stats on default runs none of its SQL (its reverse would fail there: no
        // stats table) and only forgets the records.
        let undone = migrate_on(&dbs, "default", &loader, Target::Zero("stats".into()))?;
        assert_eq!(undone, vec![Outcome::Done; 3]);
        assert_eq!(recorded(&dbs, "default")?, set_of(&["store.0001_initial", "store.0002_more"]));
        assert_eq!(tables(&dbs, "default")?, set_of(&STORE_TABLES));
        assert_eq!(count(&dbs, "default", "store_sticker")?, 1, "the store's seed row stays");

        // And the store's history goes from analytics without its SQL touching anything there.
        migrate_on(&dbs, "analytics", &loader, Target::Zero("store".into()))?;
        assert!(recorded(&dbs, "analytics")?.is_empty());
        assert_eq!(tables(&dbs, "default")?, set_of(&STORE_TABLES));
        assert_eq!(recorded(&dbs, "default")?.len(), 2);

        // Forwards again, on analytics only.
        migrate_on(&dbs, "analytics", &loader, Target::All)?;
        assert_eq!(tables(&dbs, "analytics")?, set_of(&["stats_hit", "stats_raw", "stats_rust_mark"]));
        assert_eq!(recorded(&dbs, "analytics")?, set_of(&EVERY_MIGRATION));
        Ok(())
    }
}

backend_test! {
    fn raw_sql_and_rust_run_only_where_their_app_is_allowed(t: &TestDb) {
        let a = second(t, "analytics")?;
        let (dbs, asked) = stats_set(t, &a)?;
        let loader = Loader::new(migrations())?;
        migrate_on(&dbs, "default", &loader, Target::All)?;
        for table in ["stats_raw", "stats_rust_mark"] {
            assert!(!tables(&dbs, "default")?.contains(table), "{table} not on default");
        }
        let asked = asked.lock().expect("not poisoned").clone();
        assert!(asked.contains(&("default".into(), "stats".into(), None)), "{asked:?}");
        // sqlmigrate's view of the same: the statements per database.
        let key = Key::new("stats", "0002_more");
        let d = dbs.default_database().dialect();
        let on_default = sql_for_routed(&loader, &key, d, false, &Routing::databases(&dbs, "default"))?;
        assert!(on_default.iter().all(|l| l.starts_with("--")), "{on_default:#?}");
        assert!(on_default.contains(&"-- (skipped on database 'default': not allowed by the routers)".to_owned()));
        // (sqlmigrate cannot show a RunRust step that runs: its function is not registered there.)
        let mut without_rust = migrations();
        without_rust[3].operations.retain(|o| !matches!(o, Operation::RunRust(_)));
        let without_rust = Loader::new(without_rust)?;
        let on_analytics = sql_for_routed(&without_rust, &key, d, false, &Routing::databases(&dbs, "analytics"))?;
        assert!(on_analytics.iter().any(|l| l.contains("INSERT INTO stats_visit")), "{on_analytics:#?}");
        assert!(!on_analytics.iter().any(|l| l.contains("skipped")), "{on_analytics:#?}");
        // An irreversible operation is still an error going back, wherever it would be skipped.
        let mut irreversible = Migration::new("stats", "0001_initial");
        irreversible.operations.push(Operation::RunSql(RunSql {
            sql: SqlSpec::All(vec!["SELECT 1".into()]),
            reverse_sql: None,
            state_operations: vec![],
        }));
        let only = Loader::new(vec![irreversible])?;
        let key = Key::new("stats", "0001_initial");
        assert!(sql_for_routed(&only, &key, d, true, &Routing::databases(&dbs, "default")).is_err());
        Ok(())
    }
}

backend_test! {
    fn a_replica_gets_no_schema_but_records_the_history(t: &TestDb) {
        let r = second(t, "replica")?;
        let dbs = Databases::builder()
            .pool("default", Pool::clone(t))?
            .pool("replica", Pool::clone(&r))?
            .router(PrimaryReplicaRouter::new("default", ["replica"])?)
            .build()?;
        let loader = Loader::new(migrations())?;
        // Django: `migrate --database replica` with a router refusing it creates nothing and
        // records every migration.
        let done = migrate_on(&dbs, "replica", &loader, Target::All)?;
        assert_eq!(done, vec![Outcome::Done; 5]);
        assert!(tables(&dbs, "replica")?.is_empty(), "{:?}", tables(&dbs, "replica")?);
        assert_eq!(recorded(&dbs, "replica")?, set_of(&EVERY_MIGRATION));
        migrate_on(&dbs, "default", &loader, Target::All)?;
        let mut expected = set_of(&STORE_TABLES);
        expected.extend(set_of(&["stats_hit", "stats_raw", "stats_rust_mark"]));
        assert_eq!(tables(&dbs, "default")?, expected, "the primary gets everything");
        assert!(!dbs.allow_migrate_app("replica", "store", Some("Crate")));
        Ok(())
    }
}

backend_test! {
    fn fake_initial_looks_only_for_the_tables_allowed_here(t: &TestDb) {
        let a = second(t, "analytics")?;
        let (dbs, _) = stats_set(t, &a)?;
        let loader = Loader::new(migrations())?;
        migrate_on(&dbs, "default", &loader, Target::To(Key::new("store", "0001_initial")))?;
        // Forget the record: the store's tables are there, the stats' are (rightly) not.
        let mut conn = dbs.get("default")?.pool().get()?;
        Recorder::record_unapplied(&mut *conn, &Key::new("store", "0001_initial"))?;
        let options = MigrateOptions { fake_initial: true, ..Default::default() };
        let steps = Executor::new(&mut *conn, &loader)
            .with_routing(Routing::databases(&dbs, "default"))
            .migrate(&Target::To(Key::new("stats", "0001_initial")), options)?;
        let outcomes: Vec<(String, Outcome)> = steps.into_iter().map(|(s, o)| (s.key.to_string(), o)).collect();
        assert_eq!(
            outcomes,
            [
                ("store.0001_initial".to_owned(), Outcome::Faked),
                // Nothing of stats' initial migration is looked for on default, so it is not
                // "already there": it is applied (as a no-op), as Django's detect_soft_applied.
                ("stats.0001_initial".to_owned(), Outcome::Done),
            ]
        );
        Ok(())
    }
}

/// A fresh directory for one CLI scenario.
fn cli_dir(t: &TestDb, scenario: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("orm_migrations_multi_db_{}_{scenario}", t.name()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn run(registry: &Registry, args: &[&str]) -> (i32, String) {
    let mut out = Vec::new();
    let mut argv = vec!["manage"];
    argv.extend(args);
    let code = cli::run(registry, argv, &mut out);
    (code, String::from_utf8(out).unwrap_or_default())
}

backend_test! {
    fn cli_database_takes_an_alias_of_the_registry_set(t: &TestDb) {
        let a = second(t, "analytics")?;
        let (dbs, _) = stats_set(t, &a)?;
        let dir = cli_dir(t, "alias");
        let registry =
            Registry::new(vec![Sticker::meta(), Crate::meta(), Visit::meta()]).migrations_dir(&dir).databases(dbs.clone());
        let (code, text) = run(&registry, &["makemigrations"]);
        assert_eq!(code, 0, "{text}");

        let (code, text) = run(&registry, &["migrate", "--database", "analytics"]);
        assert_eq!(code, 0, "{text}");
        assert_eq!(tables(&dbs, "analytics")?, set_of(&["stats_visit"]));
        assert!(tables(&dbs, "default")?.is_empty(), "nothing on default yet");
        let (code, text) = run(&registry, &["migrate"]);
        assert_eq!(code, 0, "without --database: the set's default: {text}");
        assert_eq!(tables(&dbs, "default")?, set_of(&STORE_TABLES));
        for alias in ["default", "analytics"] {
            assert_eq!(recorded(&dbs, alias)?, set_of(&["stats.0001_initial", "store.0001_initial"]));
        }

        let (code, text) = run(&registry, &["showmigrations", "stats", "--database", "analytics"]);
        assert_eq!((code, text.as_str()), (0, "stats\n [X] 0001_initial\n"));
        for alias in ["default", "analytics"] {
            let (code, text) = run(&registry, &["check", "--database", alias]);
            assert_eq!((code, text.trim()), (0, "No drift: models, migrations and database agree."), "on {alias}");
        }
        let (code, text) = run(&registry, &["sqlmigrate", "stats", "0001", "--database", "default"]);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("-- (skipped on database 'default': not allowed by the routers)"), "{text}");
        assert!(!text.contains("CREATE TABLE"), "{text}");
        let (code, text) = run(&registry, &["sqlmigrate", "stats", "0001", "--database", "analytics"]);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("CREATE TABLE") && text.contains("stats_visit"), "{text}");

        // Unknown alias: an error naming it and the aliases there are.
        assert_eq!(run(&registry, &["migrate", "--database", "nope"]).0, 1);
        let e = registry.choose("nope").expect_err("no such database");
        let msg = e.to_string();
        assert!(msg.contains("'nope'") && msg.contains("'default', 'analytics'"), "{msg}");

        // Unapplying on analytics leaves default alone.
        let (code, text) = run(&registry, &["migrate", "stats", "zero", "--database", "analytics"]);
        assert_eq!(code, 0, "{text}");
        assert!(tables(&dbs, "analytics")?.is_empty());
        assert_eq!(recorded(&dbs, "analytics")?, set_of(&["store.0001_initial"]));
        assert_eq!(recorded(&dbs, "default")?, set_of(&["stats.0001_initial", "store.0001_initial"]));
        let (code, text) = run(&registry, &["showmigrations", "stats", "--database", "analytics"]);
        assert_eq!((code, text.as_str()), (0, "stats\n [ ] 0001_initial\n"));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

#[test]
fn cli_database_url_still_works_and_has_no_routers() {
    let dir = std::env::temp_dir().join(format!("orm_migrations_multi_db_url_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let file = dir.join("db.sqlite3");
    let url = format!("sqlite://{}", file.display());
    let analytics = dir.join("analytics.sqlite3");
    let dbs = Databases::builder()
        .database("default", &format!("sqlite://{}", dir.join("default.sqlite3").display()))
        .and_then(|b| b.database("analytics", &format!("sqlite://{}", analytics.display())))
        .map(|b| b.router(StatsRouter { asked: Asked::default() }))
        .and_then(|b| b.build())
        .expect("a set");
    let registry = Registry::new(vec![Sticker::meta(), Crate::meta(), Visit::meta()])
        .migrations_dir(dir.join("migrations"))
        .databases(dbs);
    assert_eq!(run(&registry, &["makemigrations"]).0, 0);
    let choice = registry.choose(&url).expect("a URL");
    assert!(matches!(&choice, DatabaseChoice::Url(u) if *u == url));
    assert_eq!((choice.alias(), choice.routing().is_routed()), ("default", false));
    // A URL is a database on its own: every table goes there, whatever the set's routers say.
    let (code, text) = run(&registry, &["migrate", "--database", &url]);
    assert_eq!(code, 0, "{text}");
    let mut conn = orm_backends::connect_one(&url).expect("opens");
    let mut names: Vec<String> = table_names(&mut *conn).expect("lists");
    names.retain(|n| n != "orm_migrations");
    names.sort();
    assert_eq!(names, ["stats_visit", "store_crate", "store_crate_stickers", "store_sticker"]);
    let (code, text) = run(&registry, &["check", "--database", &url]);
    assert_eq!((code, text.trim()), (0, "No drift: models, migrations and database agree."));
    // The alias on the same registry still routes.
    let (code, text) = run(&registry, &["migrate", "--database", "analytics"]);
    assert_eq!(code, 0, "{text}");
    let mut conn = orm_backends::connect_one(&format!("sqlite://{}", analytics.display())).expect("opens");
    let mut names: Vec<String> = table_names(&mut *conn).expect("lists");
    names.retain(|n| n != "orm_migrations");
    assert_eq!(names, ["stats_visit"]);
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
}
