//! Migrations: the state renders the tables the ORM's schema does, the command line's exit
//! codes, inspectdb on every backend, and lint.
//!
//! inspectdb's output is checked three ways: on every backend the inspected models render
//! exactly the introspected tables (an auto-created join table included: its first key column
//! has no index of its own, which its relation field says with `index = false`) and the source
//! parses (`syn`); on SQLite the source must
//! equal `migrations_inspected/models.rs`, a module of this test binary, so it is compiled with every
//! build of the suite and its models render the same tables again. A real compile of every
//! backend's output would need a crate build per backend (minutes on two cores), hence this
//! split. `ORM_BLESS=1` rewrites the golden file.

use crate::migrations_executor::{make, scenario_dir};
use orm::meta::ModelMeta;
use orm::Model;
use orm_backends::schema::normalize_for;
use orm_backends::testing::TestDb;
use orm_backends::{backend_test, Connection, Dialect};
use orm_migrations::cli::{self, lint, Registry};
use orm_migrations::inspectdb;
use orm_migrations::state::ProjectState;
use orm_tests::*;

fn every_fixture() -> Vec<&'static ModelMeta> {
    let mut v = crate::migrations_executor::project();
    v.extend([
        Everything::meta(),
        Account::meta(),
        Item::meta(),
        Gadget::meta(),
        Tally::meta(),
        Reading::meta(),
        Org::meta(),
        Team::meta(),
        Member::meta(),
        Badge::meta(),
        Task::meta(),
        Note::meta(),
        Log::meta(),
        HandNote::meta(),
    ]);
    v
}

#[test]
fn state_renders_the_tables_the_orm_schema_does() {
    let metas = every_fixture();
    let state = ProjectState::from_models(&metas);
    for m in metas.iter().filter(|m| m.has_table()) {
        let ours = state.table_def(&m.label()).expect("renders");
        let orm = orm::schema::table_def(m).expect("renders");
        for d in Dialect::ALL {
            assert_eq!(normalize_for(d, &ours), normalize_for(d, &orm), "{} on {d:?}", m.label());
        }
        let joins: Vec<_> = state.join_table_defs(&m.label()).expect("renders").into_iter().map(|(_, t)| t).collect();
        assert_eq!(joins, orm::schema::join_tables(m), "join tables of {}", m.label());
    }
    let proxy = state.get("inh.PlaceByName").expect("a proxy is in the state");
    assert!(!proxy.has_table() && proxy.fields.is_empty());
    assert!(state.model("blog.Stamped").is_none(), "an abstract base is not");
}

#[test]
fn makemigrations_check_exits_non_zero_when_models_changed() {
    let dir = std::env::temp_dir().join(format!("orm_migrations_cli_check_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let one = Registry::new(vec![Author::meta()]).migrations_dir(&dir);
    let two = Registry::new(vec![Author::meta(), Tag::meta()]).migrations_dir(&dir);
    let run = |r: &Registry, args: &[&str]| {
        let mut out = Vec::new();
        let mut argv = vec!["manage"];
        argv.extend(args);
        let code = cli::run(r, argv, &mut out);
        (code, String::from_utf8(out).unwrap_or_default())
    };
    assert_eq!(run(&one, &["makemigrations", "--check"]).0, 1, "no migrations yet");
    assert!(!dir.join("blog").exists(), "--check writes nothing");
    let (code, text) = run(&one, &["makemigrations"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("blog.0001_initial") && text.contains("Create model Author"), "{text}");
    let (code, text) = run(&one, &["makemigrations", "--check"]);
    assert_eq!((code, text.trim()), (0, "No changes detected"));
    let (code, text) = run(&two, &["makemigrations", "--check", "--dry-run"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("Would write blog.0002_tag"), "{text}");
    let (code, text) = run(&two, &["makemigrations", "--name", "tags"]);
    assert_eq!(code, 0, "{text}");
    assert!(dir.join("blog/0002_tags.json").exists());
    let (code, text) = run(&two, &["sqlmigrate", "blog", "0002", "--database", "postgres://u@h/db"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("CREATE TABLE \"blog_tag\""), "{text}");
    let (code, text) = run(&two, &["sqlmigrate", "blog", "0002", "--backwards", "--database", "mysql://u@h/db"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("DROP TABLE `blog_tag`"), "{text}");
    assert_eq!(run(&two, &["migrate", "blog", "0009"]).0, 1, "an unknown target is an error");
    assert_eq!(run(&two, &["frobnicate"]).0, 2, "a usage error");
    let _ = std::fs::remove_dir_all(&dir);
}

backend_test! {
    fn inspectdb_output_compiles_and_yields_the_same_schema(db: &TestDb) {
        let models = [Author::meta(), Tag::meta(), Post::meta(), Comment::meta(), Everything::meta(), Category::meta()];
        let mut schema = orm::Schema::new();
        for m in models {
            schema = schema.add_meta(m);
        }
        let orm_db = orm::Database::from_pool((**db).clone());
        schema.create_all(&orm_db)?;
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let d = conn.dialect();
        let inspected = inspectdb::inspect(conn, "inspected", &[])?;
        let mut state = ProjectState::new();
        for i in &inspected {
            state.add_model(i.model.clone());
        }
        for i in &inspected {
            let rendered = state.table_def(&i.model.label())?;
            assert!(i.notes.is_empty(), "{}: {:?}", i.table.name, i.notes);
            assert_eq!(normalize_for(d, &rendered), normalize_for(d, &i.table), "{} on {d:?}", i.table.name);
        }
        // An auto-created join table's first key column has no index of its own (the unique
        // pair it leads serves): its relation field says `index = false`.
        let join = inspected.iter().find(|i| i.table.name == "blog_post_tags").ok_or("the join table is inspected")?;
        let post = join.model.get_field("post").and_then(|f| f.relation.as_ref()).ok_or("post is a relation")?;
        assert!(!post.db_index && join.table.indexes.iter().all(|i| i.columns != ["post_id"]), "{:?}", join.table.indexes);
        let tag = join.model.get_field("tag").and_then(|f| f.relation.as_ref()).ok_or("tag is a relation")?;
        assert!(tag.db_index);
        let source = inspectdb::source(&inspected);
        syn::parse_file(&source).map_err(|e| format!("inspectdb output does not parse on {d:?}: {e}\n{source}"))?;
        if d == Dialect::Sqlite {
            let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("suite/migrations_inspected/models.rs");
            if std::env::var_os("ORM_BLESS").is_some() {
                std::fs::write(&golden, &source)?;
            }
            assert_eq!(std::fs::read_to_string(&golden)?, source, "inspectdb output changed (ORM_BLESS=1 to accept)");
            // The compiled twin renders the same tables.
            let compiled = ProjectState::from_models(&crate::migrations_inspected::all());
            for i in &inspected {
                let t = compiled.table_def(&i.model.label())?;
                assert_eq!(normalize_for(d, &t), normalize_for(d, &i.table), "compiled {}", i.table.name);
                // The ORM's own schema rules agree with the compiled models too.
                let meta = crate::migrations_inspected::all().into_iter().find(|m| m.table == i.table.name).ok_or("compiled model")?;
                assert_eq!(normalize_for(d, &orm::schema::table_def(meta)?), normalize_for(d, &i.table), "ORM schema of compiled {}", i.table.name);
            }
        }
        Ok(())
    }
}

backend_test! {
    fn lint_flags_risky_operations_per_backend(db: &TestDb) {
        let dir = scenario_dir(db, "lint");
        let registry = Registry::new(vec![Author::meta(), Tag::meta()]).migrations_dir(&dir);
        make(&registry)?;
        let loader = registry.loader()?;
        let d = db.get()?.dialect();
        let initial = lint::lint(&loader, &[orm_migrations::Key::new("blog", "0001_initial")], d)?;
        assert!(initial.iter().all(|f| !f.message.contains("NOT NULL")), "creating tables is safe: {initial:?}");
        let risky = orm_migrations::migration::Migration::new("blog", "0002_risky")
            .depends_on("blog", "0001_initial")
            .operation(orm_migrations::operations::Operation::AddField(orm_migrations::operations::AddField {
                model: "Tag".into(),
                field: orm_migrations::state::FieldState::new("rank", orm_backends::schema::ColumnType::Integer).default_value(0i64),
                preserve_default: false,
            }))
            .operation(orm_migrations::operations::Operation::RemoveField(orm_migrations::operations::RemoveField {
                model: "Author".into(),
                name: "email".into(),
            }));
        orm_migrations::writer::write(&dir, &risky)?;
        let loader = registry.loader()?;
        let found = lint::lint(&loader, &[risky.key()], d)?;
        let text: Vec<String> = found.iter().map(|f| f.message.clone()).collect();
        assert!(text.iter().any(|m| m.contains("NOT NULL column without a kept default")), "{text:?}");
        assert!(text.iter().any(|m| m.contains("drops a column")), "{text:?}");
        if d == Dialect::Sqlite {
            assert!(text.iter().any(|m| m.contains("rebuilds the table")), "{text:?}");
        }
        if d == Dialect::Mysql {
            assert!(text.iter().any(|m| m.contains("cannot roll back DDL")), "{text:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

#[test]
fn the_command_line_plans_fakes_shows_and_unapplies() {
    let dir = std::env::temp_dir().join(format!("orm_migrations_cli_flags_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = format!("sqlite://{}", dir.join("db.sqlite3").display());
    let registry =
        Registry::new(vec![Author::meta(), Tag::meta()]).migrations_dir(dir.join("migrations")).database(&db);
    let run = |args: &[&str]| {
        let mut out = Vec::new();
        let mut argv = vec!["manage"];
        argv.extend(args);
        let code = cli::run(&registry, argv, &mut out);
        (code, String::from_utf8(out).unwrap_or_default())
    };
    assert_eq!(run(&["makemigrations"]).0, 0);
    let (code, text) = run(&["makemigrations", "--empty", "blog", "--name", "data"]);
    assert_eq!(code, 0, "{text}");
    assert!(dir.join("migrations/blog/0002_data.json").exists(), "{text}");
    // --plan says what would run and runs nothing.
    let (code, text) = run(&["migrate", "--plan"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("blog.0001_initial") && text.contains("Create model Author"), "{text}");
    let (_, shown) = run(&["showmigrations"]);
    assert!(shown.contains("[ ] 0001_initial") && shown.contains("[ ] 0002_data"), "{shown}");
    // --fake records without running.
    let (code, text) = run(&["migrate", "blog", "0001", "--fake"]);
    assert_eq!(code, 0, "{text}");
    let (_, shown) = run(&["showmigrations"]);
    assert!(shown.contains("[X] 0001_initial") && shown.contains("[ ] 0002_data"), "{shown}");
    let (code, text) = run(&["check"]);
    assert_eq!(code, 1, "a faked migration leaves the tables missing: {text}");
    assert!(text.contains("table blog_author is in the applied migrations but not in the database"), "{text}");
    // Unfake, then apply for real, then zero.
    assert_eq!(run(&["migrate", "blog", "zero", "--fake"]).0, 0);
    let (code, text) = run(&["migrate"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(run(&["check"]), (0, "No drift: models, migrations and database agree.\n".to_owned()));
    let (code, text) = run(&["migrate", "blog", "zero"]);
    assert_eq!(code, 0, "{text}");
    let (_, shown) = run(&["showmigrations"]);
    assert!(shown.contains("[ ] 0001_initial") && shown.contains("[ ] 0002_data"), "{shown}");
    let _ = std::fs::remove_dir_all(&dir);
}
