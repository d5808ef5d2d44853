//! Migrations: data migrations and the drift check, on every backend.
//!
//! - RunRust calls the application's registered functions forwards and backwards through the
//!   executor, reporting progress (as table rebuilds do on SQLite); an irreversible one stops
//!   an unapply with an error naming it and leaves the recorder as it was; an unregistered name
//!   is a clear error.
//! - `check` reports each pair that disagrees: models against history (an unmade migration),
//!   history against database (an unapplied migration, a column added by hand), models against
//!   database.

use crate::migrations_executor::{make, scenario_dir};
use orm::Model;
use orm_backends::schema::ColumnType;
use orm_backends::testing::TestDb;
use orm_backends::{backend_test, Connection, Dialect};
use orm_migrations::cli::{check, Registry};
use orm_migrations::executor::{Executor, MigrateOptions, Target};
use orm_migrations::loader::Loader;
use orm_migrations::migration::Migration;
use orm_migrations::operations::{AlterField, Context, CreateModel, Operation, RunRust, RustFunctions};
use orm_migrations::recorder::Recorder;
use orm_migrations::state::{FieldState, ModelState};
use orm_migrations::Key;
use orm_tests::*;

type FnResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Labels every item `item-<qty>`, one row at a time, reporting how far it got.
fn label_items(conn: &mut dyn Connection, progress: &mut dyn FnMut(&str)) -> FnResult {
    let d = conn.dialect();
    let (t, id, qty, label) = (d.quote("d_item"), d.quote("id"), d.quote("qty"), d.quote("label"));
    let rows = conn.query(&format!("SELECT {id}, {qty} FROM {t} ORDER BY {id}"), &[])?;
    for (n, r) in rows.iter().enumerate() {
        let (i, q) = (r.get::<i64>(0)?, r.get::<i64>(1)?);
        conn.execute(&format!("UPDATE {t} SET {label} = 'item-{q}' WHERE {id} = {i}"), &[])?;
        progress(&format!("labelled {} of {} items", n + 1, rows.len()));
    }
    Ok(())
}

/// Undoes [`label_items`].
fn unlabel_items(conn: &mut dyn Connection, _progress: &mut dyn FnMut(&str)) -> FnResult {
    let d = conn.dialect();
    conn.execute(&format!("UPDATE {} SET {} = NULL", d.quote("d_item"), d.quote("label")), &[])?;
    Ok(())
}

/// Reads the items (a one-way step: it names no backward function).
fn count_items(conn: &mut dyn Connection, progress: &mut dyn FnMut(&str)) -> FnResult {
    let d = conn.dialect();
    let n = conn.query(&format!("SELECT COUNT(*) FROM {}", d.quote("d_item")), &[])?[0].get::<i64>(0)?;
    progress(&format!("{n} items"));
    Ok(())
}

fn migrations() -> Vec<Migration> {
    let item = ModelState::new("d", "Item", "d_item")
        .field(FieldState::auto_pk("id"))
        .field(FieldState::new("qty", ColumnType::Integer))
        .field(FieldState::new("label", ColumnType::Varchar(20)).nullable());
    vec![
        Migration::new("d", "0001_initial").operation(Operation::CreateModel(CreateModel::of(&item))),
        Migration::new("d", "0002_label").depends_on("d", "0001_initial").operation(Operation::RunRust(RunRust {
            forward: "label_items".into(),
            backward: Some("unlabel_items".into()),
        })),
        // NULL → NOT NULL: a table rebuild on SQLite.
        Migration::new("d", "0003_label_required").depends_on("d", "0002_label").operation(Operation::AlterField(
            AlterField {
                model: "Item".into(),
                field: FieldState::new("label", ColumnType::Varchar(20)),
                preserve_default: true,
            },
        )),
        Migration::new("d", "0004_one_way")
            .depends_on("d", "0003_label_required")
            .operation(Operation::RunRust(RunRust { forward: "count_items".into(), backward: None })),
    ]
}

fn labels(conn: &mut dyn Connection) -> Result<Vec<Option<String>>, Box<dyn std::error::Error>> {
    let d = conn.dialect();
    let sql = format!("SELECT {} FROM {} ORDER BY {}", d.quote("label"), d.quote("d_item"), d.quote("id"));
    Ok(conn.query(&sql, &[])?.iter().map(|r| r.get::<Option<String>>(0)).collect::<Result<_, _>>()?)
}

backend_test! {
    fn run_rust_migrates_data_forwards_and_backwards_with_progress(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let d = conn.dialect();
        let loader = Loader::new(migrations())?;
        let functions = RustFunctions::new()
            .register("label_items", label_items)
            .register("unlabel_items", unlabel_items)
            .register("count_items", count_items);
        let ctx = Context { functions };
        let to = |name: &str| Target::To(Key::new("d", name));
        Executor::new(conn, &loader).with_context(ctx.clone()).migrate(&to("0001_initial"), MigrateOptions::default())?;
        let t = d.quote("d_item");
        conn.execute_batch(&format!("INSERT INTO {t} ({}, {}) VALUES (1, 3), (2, 5), (3, 8)", d.quote("id"), d.quote("qty")))?;

        // Without its function registered, the data migration fails clearly and is not recorded.
        let e = Executor::new(conn, &loader).migrate(&to("0002_label"), MigrateOptions::default()).expect_err("no function");
        assert!(e.to_string().contains("no function registered as `label_items`"), "{e}");
        assert!(!Recorder::applied(conn)?.contains_key(&Key::new("d", "0002_label")));

        let mut said = Vec::new();
        Executor::new(conn, &loader)
            .with_context(ctx.clone())
            .with_progress(|l| said.push(l.to_owned()))
            .migrate(&to("0003_label_required"), MigrateOptions::default())?;
        assert_eq!(labels(conn)?, [Some("item-3".into()), Some("item-5".into()), Some("item-8".into())]);
        assert!(said.iter().any(|l| l.contains("labelled 3 of 3 items")), "RunRust progress: {said:?}");
        if d == Dialect::Sqlite {
            assert!(said.iter().any(|l| l.contains("rebuilding table d_item (3 rows)")), "rebuild progress: {said:?}");
        }

        // Backwards: the backward function runs.
        Executor::new(conn, &loader).with_context(ctx.clone()).migrate(&to("0001_initial"), MigrateOptions::default())?;
        assert_eq!(labels(conn)?, [None, None, None]);

        // An irreversible operation stops the unapply, naming itself; nothing is undone.
        Executor::new(conn, &loader).with_context(ctx.clone()).migrate(&Target::All, MigrateOptions::default())?;
        let e = Executor::new(conn, &loader)
            .with_context(ctx.clone())
            .migrate(&to("0002_label"), MigrateOptions::default())
            .expect_err("0004 cannot be undone");
        assert!(e.to_string().contains("cannot be reversed") && e.to_string().contains("Run Rust function count_items"), "{e}");
        assert!(e.to_string().contains("0004_one_way"), "{e}");
        let applied = Recorder::applied(conn)?;
        assert!(
            applied.contains_key(&Key::new("d", "0004_one_way")) && applied.contains_key(&Key::new("d", "0003_label_required")),
            "nothing undone: {applied:?}"
        );
        assert_eq!(labels(conn)?, [Some("item-3".into()), Some("item-5".into()), Some("item-8".into())]);
        Ok(())
    }
}

backend_test! {
    fn check_reports_drift_between_each_pair(db: &TestDb) {
        let dir = scenario_dir(db, "drift");
        let registry = Registry::new(vec![Author::meta(), Tag::meta()]).migrations_dir(&dir);
        make(&registry)?;
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let d = conn.dialect();
        let between = |found: &[check::Drift], pair: &str, needle: &str| {
            found.iter().any(|x| x.between == pair && x.detail.contains(needle))
        };
        // Nothing applied: history and database disagree.
        let found = check::drift(&registry, conn)?;
        assert!(between(&found, "history/database", "migration blog.0001_initial is not applied"), "{found:#?}");
        assert!(between(&found, "models/database", "table blog_tag is in the models but not in the database"), "{found:#?}");
        assert!(!found.iter().any(|x| x.between == "models/history"), "{found:#?}");
        let loader = registry.loader()?;
        Executor::new(conn, &loader).migrate(&Target::All, MigrateOptions::default())?;
        assert!(check::drift(&registry, conn)?.is_empty());
        // A column added by hand: the database disagrees with both.
        conn.execute_batch(&format!("ALTER TABLE {} ADD COLUMN {} integer", d.quote("blog_tag"), d.quote("extra")))?;
        let found = check::drift(&registry, conn)?;
        assert!(between(&found, "history/database", "column blog_tag.extra is in the database but not in the applied migrations"), "{found:#?}");
        assert!(between(&found, "models/database", "column blog_tag.extra is in the database but not in the models"), "{found:#?}");
        assert_eq!(found.len(), 2, "{found:#?}");
        conn.execute_batch(&format!("ALTER TABLE {} DROP COLUMN {}", d.quote("blog_tag"), d.quote("extra")))?;
        // A model with no migration: the models disagree with both.
        let more = Registry::new(vec![Author::meta(), Tag::meta(), Country::meta()]).migrations_dir(&dir);
        let found = check::drift(&more, conn)?;
        assert!(between(&found, "models/history", "model rel.Country has no migration"), "{found:#?}");
        assert!(between(&found, "models/database", "in the models but not in the database"), "{found:#?}");
        assert!(!found.iter().any(|x| x.between == "history/database"), "{found:#?}");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
