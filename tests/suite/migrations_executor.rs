//! Migrations: the whole pipeline on every backend. makemigrations writes files for a
//! multi-app project with every model kind (the fixture models: blog with an abstract base and
//! a many-to-many, rel with a `through` model and a self-reference, inh with multi-table
//! children and proxies); migrate applies them, `zero` empties the database; conflicts,
//! failures, concurrent runs, edited files, squashing and faking.

use orm::meta::ModelMeta;
use orm::{DefaultManager, Model, Persist};
use orm_backends::schema::table_names;
use orm_backends::testing::TestDb;
use orm_backends::{backend_test, Connection, Dialect};
use orm_migrations::cli::{self, check, makemigrations, Registry};
use orm_migrations::executor::{Executor, MigrateOptions, Outcome, Target};
use orm_migrations::loader::Loader;
use orm_migrations::migration::Migration;
use orm_migrations::operations::{AddField, Operation, RunSql, SqlSpec};
use orm_migrations::questioner::NonInteractive;
use orm_migrations::recorder::Recorder;
use orm_migrations::state::{FieldState, ProjectState};
use orm_migrations::{writer, Key, MigrationError};
use orm_tests::*;
use std::path::PathBuf;

pub(crate) fn project() -> Vec<&'static ModelMeta> {
    vec![
        Author::meta(),
        Tag::meta(),
        Post::meta(),
        Comment::meta(),
        Country::meta(),
        Writer::meta(),
        Article::meta(),
        Remark::meta(),
        Label::meta(),
        Person::meta(),
        Club::meta(),
        Membership::meta(),
        Category::meta(),
        Place::meta(),
        Restaurant::meta(),
        Pizzeria::meta(),
        PlaceByName::meta(),
        OpenPlace::meta(),
    ]
}

/// A fresh directory for one scenario of one test run.
pub(crate) fn scenario_dir(db: &TestDb, scenario: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("orm_migrations_{}_{scenario}", db.name()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

pub(crate) fn make(registry: &Registry) -> Result<Vec<Migration>, MigrationError> {
    makemigrations::make(registry, &makemigrations::Args::default(), &mut NonInteractive)
}

fn migrate(conn: &mut dyn Connection, registry: &Registry, target: Target) -> Result<Vec<Outcome>, MigrationError> {
    let loader = registry.loader()?;
    let steps = Executor::new(conn, &loader).migrate(&target, MigrateOptions::default())?;
    Ok(steps.into_iter().map(|(_, o)| o).collect())
}

fn tables(conn: &mut dyn Connection) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    Ok(table_names(conn)?.into_iter().filter(|t| t != "orm_migrations").collect())
}

backend_test! {
    fn multi_app_project_migrates_then_zero_empties_the_database(db: &TestDb) {
        let dir = scenario_dir(db, "multi_app");
        let registry = Registry::new(project()).migrations_dir(&dir);
        let made = make(&registry)?;
        let names: Vec<String> = made.iter().map(|m| m.key().to_string()).collect();
        assert_eq!(names, ["blog.0001_initial", "inh.0001_initial", "rel.0001_initial"]);
        assert!(dir.join("blog/0001_initial.json").exists() && dir.join("embed.rs").exists());
        assert!(make(&registry)?.is_empty(), "nothing more to do once written");

        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let done = migrate(conn, &registry, Target::All)?;
        assert_eq!(done, [Outcome::Done, Outcome::Done, Outcome::Done]);
        let drift = check::drift(&registry, conn)?;
        assert!(drift.is_empty(), "models, history and database agree: {drift:#?}");
        // The models work on the migrated schema.
        let orm_db = orm::Database::from_pool((**db).clone());
        let mut r = Restaurant { place: Place { id: orm::Auto::unset(), name: "Luigi's".into(), open: true }, serves_pizza: true, seats: 4 };
        r.save(&orm_db)?;
        assert_eq!(Place::objects().count(&orm_db)?, 1);

        assert!(migrate(conn, &registry, Target::All)?.is_empty(), "a second run has nothing to do");
        for app in ["inh", "rel", "blog"] {
            migrate(conn, &registry, Target::Zero(app.into()))?;
        }
        assert_eq!(tables(conn)?, Vec::<String>::new(), "zero leaves no table but the recorder's");
        assert!(Recorder::applied(conn)?.is_empty());
        // And back up again, to a named migration.
        migrate(conn, &registry, Target::To(Key::new("blog", "0001_initial")))?;
        assert!(tables(conn)?.contains(&"blog_post".to_owned()));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

/// A one-app project: blog's Author and Tag, then two branches adding a field each.
fn branched(dir: &std::path::Path) -> Result<Registry, Box<dyn std::error::Error>> {
    let registry = Registry::new(vec![Author::meta(), Tag::meta()]).migrations_dir(dir);
    make(&registry)?;
    for (name, field) in [("0002_tag_a", "a"), ("0002_tag_b", "b")] {
        let m =
            Migration::new("blog", name).depends_on("blog", "0001_initial").operation(Operation::AddField(AddField {
                model: "Tag".into(),
                field: FieldState::new(field, orm_backends::schema::ColumnType::Integer).nullable(),
                preserve_default: true,
            }));
        writer::write(dir, &m)?;
    }
    Ok(registry)
}

backend_test! {
    fn two_leaves_are_a_conflict_that_merge_resolves(db: &TestDb) {
        let dir = scenario_dir(db, "conflict");
        let registry = branched(&dir)?;
        let e = make(&registry).unwrap_err();
        assert!(matches!(&e, MigrationError::Conflict { app, leaves } if app == "blog" && leaves.len() == 2), "{e}");
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let e = migrate(conn, &registry, Target::All).unwrap_err();
        assert!(e.to_string().contains("makemigrations --merge"), "{e}");
        let merged = makemigrations::make(&registry, &makemigrations::Args { merge: true, ..Default::default() }, &mut NonInteractive)?;
        assert_eq!(merged[0].name, "0003_merge_0002_0002");
        assert_eq!(migrate(conn, &registry, Target::All)?.len(), 4);
        let tag = orm_backends::schema::introspect_table(conn, "blog_tag")?.ok_or("blog_tag")?;
        assert!(tag.column_named("a").is_some() && tag.column_named("b").is_some());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

backend_test! {
    fn a_failing_migration_leaves_recorder_and_schema_consistent(db: &TestDb) {
        let dir = scenario_dir(db, "failing");
        let registry = Registry::new(vec![Author::meta(), Tag::meta()]).migrations_dir(&dir);
        make(&registry)?;
        let add = Operation::AddField(AddField {
            model: "Tag".into(),
            field: FieldState::new("weight", orm_backends::schema::ColumnType::Integer).nullable(),
            preserve_default: true,
        });
        let failing = Operation::RunSql(RunSql { sql: SqlSpec::All(vec!["SELECT * FROM no_such_table".into()]), reverse_sql: Some(SqlSpec::All(vec![])), state_operations: vec![] });
        let bad = Migration::new("blog", "0002_weight").depends_on("blog", "0001_initial").operation(add.clone()).operation(failing);
        writer::write(&dir, &bad)?;
        writer::write(&dir, &Migration::new("blog", "0003_later").depends_on("blog", "0002_weight"))?;

        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let e = migrate(conn, &registry, Target::All).unwrap_err();
        let recorded = Recorder::applied(conn)?;
        let tag = orm_backends::schema::introspect_table(conn, "blog_tag")?.ok_or("blog_tag")?;
        assert!(recorded.contains_key(&Key::new("blog", "0001_initial")));
        assert!(!recorded.contains_key(&Key::new("blog", "0003_later")));
        if conn.features().can_rollback_ddl {
            assert!(!recorded.contains_key(&Key::new("blog", "0002_weight")), "nothing of it is recorded");
            assert!(tag.column_named("weight").is_none(), "nothing of it is applied");
        } else {
            let msg = e.to_string();
            assert!(msg.contains("failed at operation 2 of 2") && msg.contains("1. Add field weight to Tag"), "{msg}");
            assert_eq!(recorded[&Key::new("blog", "0002_weight")].progress, Some(1));
            assert!(tag.column_named("weight").is_some(), "what was applied is recorded as applied");
            // Fix the file and run again: it resumes after the applied operation.
            let fixed = Migration::new("blog", "0002_weight").depends_on("blog", "0001_initial").operation(add).operation(
                Operation::RunSql(RunSql { sql: SqlSpec::All(vec!["SELECT 1".into()]), reverse_sql: Some(SqlSpec::All(vec![])), state_operations: vec![] }),
            );
            writer::write(&dir, &fixed)?;
            assert_eq!(migrate(conn, &registry, Target::All)?.len(), 2);
            assert_eq!(Recorder::applied(conn)?[&Key::new("blog", "0002_weight")].progress, None);
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

backend_test! {
    fn concurrent_runs_apply_each_migration_once(db: &TestDb) {
        let dir = scenario_dir(db, "concurrent");
        let registry = Registry::new(project()).migrations_dir(&dir);
        make(&registry)?;
        let loader = registry.loader()?;
        let outcomes: Vec<Result<Vec<Outcome>, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let loader = &loader;
                    s.spawn(move || -> Result<Vec<Outcome>, String> {
                        let mut conn = db.get().map_err(|e| e.to_string())?;
                        let steps = Executor::new(&mut *conn, loader)
                            .migrate(&Target::All, MigrateOptions::default())
                            .map_err(|e| e.to_string())?;
                        Ok(steps.into_iter().map(|(_, o)| o).collect())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("panicked".into()))).collect()
        });
        let mut done = 0;
        for o in outcomes {
            done += o?.iter().filter(|o| **o == Outcome::Done).count();
        }
        assert_eq!(done, 3, "each of the three migrations was applied by exactly one run");
        let mut conn = db.get()?;
        assert_eq!(Recorder::applied(&mut *conn)?.len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

backend_test! {
    fn an_edited_applied_migration_is_reported(db: &TestDb) {
        let dir = scenario_dir(db, "edited");
        let registry = Registry::new(vec![Author::meta(), Tag::meta()]).migrations_dir(&dir);
        let made = make(&registry)?;
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        migrate(conn, &registry, Target::All)?;
        let mut edited = made[0].clone();
        edited.operations.push(Operation::RunSql(RunSql { sql: SqlSpec::All(vec!["SELECT 1".into()]), reverse_sql: None, state_operations: vec![] }));
        writer::write(&dir, &edited)?;
        let e = migrate(conn, &registry, Target::All).unwrap_err();
        assert!(matches!(&e, MigrationError::ChecksumMismatch { key, .. } if key.name == "0001_initial"), "{e}");
        let drift = check::drift(&registry, conn)?;
        assert!(drift.iter().any(|d| d.detail.contains("was edited")), "{drift:?}");
        let mut out = Vec::new();
        cli::showmigrations::show(&registry, conn, &cli::showmigrations::Args::default(), &mut out)?;
        let text = String::from_utf8(out)?;
        assert!(text.contains("[X] 0001_initial (edited after it was applied)"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

backend_test! {
    fn squash_gives_the_same_final_state(db: &TestDb) {
        let dir = scenario_dir(db, "squash");
        let registry = Registry::new(vec![Author::meta(), Tag::meta(), Post::meta(), Comment::meta()]).migrations_dir(&dir);
        // History: Author; then Tag; then Post and Comment (three migrations), as an app grows.
        make(&Registry::new(vec![Author::meta()]).migrations_dir(&dir))?;
        make(&Registry::new(vec![Author::meta(), Tag::meta()]).migrations_dir(&dir))?;
        make(&registry)?;
        let loader = registry.loader()?;
        let before = loader.project_state(&loader.graph(&Default::default())?)?;
        let squashed = orm_migrations::squash::squash(&loader, "blog", "0001", "0003")?;
        assert_eq!(squashed.replaces.len(), 3);
        assert!(squashed.operations.len() <= 5, "optimized: {:?}", squashed.describe());
        let mut only = Loader::new(vec![squashed.clone()])?;
        let alone = only.project_state(&only.graph(&Default::default())?)?;
        assert_eq!(alone, before, "the squashed migration builds the same state");
        writer::write(&dir, &squashed)?;
        only = registry.loader()?;
        assert_eq!(only.project_state(&only.graph(&Default::default())?)?, before);

        // A fresh database runs the squashed migration; its schema is the models'.
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        assert_eq!(migrate(conn, &registry, Target::All)?.len(), 1);
        let d = conn.dialect();
        let want = crate::migrations_operations::expected(d, &ProjectState::from_models(&registry.models))?;
        assert_eq!(crate::migrations_operations::snapshot(conn)?, want);
        assert!(check::drift(&registry, conn)?.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

backend_test! {
    fn fake_and_fake_initial_only_record(db: &TestDb) {
        let dir = scenario_dir(db, "fake");
        let registry = Registry::new(vec![Author::meta(), Tag::meta()]).migrations_dir(&dir);
        make(&registry)?;
        let orm_db = orm::Database::from_pool((**db).clone());
        orm::Schema::new().model::<Author>().model::<Tag>().create_all(&orm_db)?;
        let loader = registry.loader()?;
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let steps = Executor::new(conn, &loader).migrate(&Target::All, MigrateOptions { fake_initial: true, ..Default::default() })?;
        assert_eq!(steps[0].1, Outcome::Faked);
        let steps = Executor::new(conn, &loader).migrate(&Target::Zero("blog".into()), MigrateOptions { fake: true, ..Default::default() })?;
        assert_eq!(steps[0].1, Outcome::Faked);
        assert!(tables(conn)?.contains(&"blog_author".to_owned()), "a fake unapply drops nothing");
        assert!(Recorder::applied(conn)?.is_empty());
        let _ = Dialect::Sqlite;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

backend_test! {
    fn a_run_stopped_after_any_operation_ends_like_a_clean_run(db: &TestDb) {
        // Issue 18 item 7: a four-operation migration stopped after each of its operations
        // (a failing statement stands for the kill), then run again from the fixed file, ends
        // in the schema a clean run gives; where DDL is not transactional (MySQL) the second
        // run resumes at the next operation.
        use orm_migrations::operations::{AddIndex, AlterField};
        use orm_migrations::state::IndexState;
        let ty = orm_backends::schema::ColumnType::Integer;
        let ops = [
            Operation::AddField(AddField { model: "Tag".into(), field: FieldState::new("weight", ty.clone()).nullable(), preserve_default: true }),
            Operation::AddField(AddField {
                model: "Tag".into(),
                field: FieldState::new("rank", ty.clone()).default_value(0i64),
                preserve_default: true,
            }),
            Operation::AddIndex(AddIndex {
                model: "Tag".into(),
                index: IndexState { name: "blog_tag_weight_rank_idx".into(), fields: vec!["weight".into(), "rank".into()] },
            }),
            Operation::AlterField(AlterField {
                model: "Tag".into(),
                field: FieldState::new("weight", ty).default_value(1i64),
                preserve_default: false,
            }),
        ];
        let migration = |stop_after: Option<usize>| {
            let mut m = Migration::new("blog", "0002_more").depends_on("blog", "0001_initial");
            for (i, op) in ops.iter().enumerate() {
                if stop_after == Some(i) {
                    m = m.operation(Operation::RunSql(RunSql {
                        sql: SqlSpec::All(vec!["SELECT * FROM killed_here".into()]),
                        reverse_sql: Some(SqlSpec::All(vec![])),
                        state_operations: vec![],
                    }));
                }
                m = m.operation(op.clone());
            }
            m
        };
        let canonical = |conn: &mut dyn Connection| -> Result<orm_backends::schema::TableDef, Box<dyn std::error::Error>> {
            let t = orm_backends::schema::introspect_table(conn, "blog_tag")?.ok_or("blog_tag")?;
            let mut t = orm_backends::schema::normalize_for(conn.dialect(), &t);
            t.columns.sort_by(|a, b| a.name.cmp(&b.name));
            t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(t)
        };
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        // The clean run.
        let dir = scenario_dir(db, "stopped_clean");
        let registry = Registry::new(vec![Author::meta(), Tag::meta()]).migrations_dir(&dir);
        make(&registry)?;
        writer::write(&dir, &migration(None))?;
        migrate(conn, &registry, Target::All)?;
        let clean = canonical(conn)?;
        migrate(conn, &registry, Target::Zero("blog".into()))?;
        let _ = std::fs::remove_dir_all(&dir);
        for k in 1..ops.len() {
            let dir = scenario_dir(db, &format!("stopped_{k}"));
            let registry = Registry::new(vec![Author::meta(), Tag::meta()]).migrations_dir(&dir);
            make(&registry)?;
            writer::write(&dir, &migration(Some(k)))?;
            assert!(migrate(conn, &registry, Target::All).is_err(), "stopped after operation {k}");
            if !conn.features().can_rollback_ddl {
                let recorded = Recorder::applied(conn)?;
                assert_eq!(recorded[&Key::new("blog", "0002_more")].progress, Some(k as i64), "resumes at {k}");
            }
            writer::write(&dir, &migration(None))?;
            migrate(conn, &registry, Target::All)?;
            assert_eq!(canonical(conn)?, clean, "after a stop after operation {k}");
            migrate(conn, &registry, Target::Zero("blog".into()))?;
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(())
    }
}
