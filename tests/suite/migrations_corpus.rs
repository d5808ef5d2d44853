//! The autodetector against a corpus of model changes (Django's `test_autodetector.py`
//! cases): for each, the plan from nothing to the "before" models and from "before" to
//! "after" is applied forwards (the database must hold what "after" renders) and backwards
//! (what "before" renders, then nothing), on every backend. A plan that cannot be applied,
//! or that leaves a schema other than the models', fails here.

use crate::migrations_operations::{assert_tables, author, expected, post, snapshot, tag};
use orm_backends::schema::ColumnType;
use orm_backends::testing::TestDb;
use orm_backends::{backend_test, Connection};
use orm_migrations::autodetector::{detect_changes, Dependency, Hints, PlannedMigration};
use orm_migrations::executor::apply_operations;
use orm_migrations::questioner::Scripted;
use orm_migrations::state::{
    ConstraintState, FieldState, IndexState, ManyToManyState, ModelState, OnDeleteState, ProjectState, TypeState,
};
use orm_migrations::Key;
use std::collections::BTreeMap;

type Edit = fn(&mut ProjectState);

/// One change: a name, how the "before" state differs from the base, and what changes.
struct Change {
    name: &'static str,
    before: Edit,
    after: Edit,
    hints: fn() -> Hints,
}

fn no_hints() -> Hints {
    Hints::default()
}

fn nothing(_: &mut ProjectState) {}

fn base() -> ProjectState {
    let mut s = ProjectState::new();
    for m in [author(), post(), tag()] {
        s.add_model(m);
    }
    s
}

fn model<'a>(s: &'a mut ProjectState, label: &str) -> &'a mut ModelState {
    s.get_mut(label).expect("the model is in the state")
}

fn field<'a>(s: &'a mut ProjectState, label: &str, name: &str) -> &'a mut FieldState {
    model(s, label).get_field_mut(name).expect("the field is in the model")
}

fn m2m(name: &str, from_table: &str, to: &str, to_table_col: &str) -> FieldState {
    let mut f = FieldState::new(name, ColumnType::BigInt);
    f.column.clear();
    f.ty = TypeState::ManyToMany;
    f.many_to_many = Some(ManyToManyState {
        to: to.into(),
        through: None,
        join_table: format!("{from_table}_{name}"),
        source_column: "post_id".into(),
        target_column: to_table_col.into(),
    });
    f
}

fn kind_model() -> ModelState {
    ModelState::new("m", "Kind", "m_kind")
        .field(FieldState::auto_pk("id"))
        .field(FieldState::new("label", ColumnType::Varchar(20)))
}

fn with_kind_text(s: &mut ProjectState) {
    model(s, "m.Post").fields.push(FieldState::new("kind", ColumnType::Varchar(20)).nullable());
}

fn a_b_cycle(s: &mut ProjectState) {
    s.add_model(
        ModelState::new("m", "A", "m_a")
            .field(FieldState::auto_pk("id"))
            .field(FieldState::foreign_key("b", "m.B", OnDeleteState::SetNull).nullable()),
    );
    s.add_model(ModelState::new("m", "B", "m_b").field(FieldState::auto_pk("id")).field(FieldState::foreign_key(
        "a",
        "m.A",
        OnDeleteState::Cascade,
    )));
}

fn corpus() -> Vec<Change> {
    vec![
        Change {
            name: "add a nullable field",
            before: nothing,
            after: |s| model(s, "m.Author").fields.push(FieldState::new("bio", ColumnType::Text).nullable()),
            hints: no_hints,
        },
        Change {
            name: "add a field with a default",
            before: nothing,
            after: |s| {
                model(s, "m.Author").fields.push(FieldState::new("rank", ColumnType::Integer).default_value(3i64))
            },
            hints: no_hints,
        },
        Change {
            name: "add a NOT NULL field with a one-off default",
            before: nothing,
            after: |s| model(s, "m.Author").fields.push(FieldState::new("score", ColumnType::Integer)),
            hints: no_hints,
        },
        Change {
            name: "remove a field",
            before: nothing,
            after: |s| model(s, "m.Post").fields.retain(|f| f.name != "body"),
            hints: no_hints,
        },
        Change {
            name: "widen a varchar",
            before: nothing,
            after: |s| field(s, "m.Author", "name").ty = TypeState::Column(ColumnType::Varchar(80)),
            hints: no_hints,
        },
        Change {
            name: "varchar to text",
            before: nothing,
            after: |s| {
                let f = field(s, "m.Post", "title");
                f.ty = TypeState::Column(ColumnType::Text);
            },
            hints: no_hints,
        },
        Change {
            name: "integer to bigint",
            before: |s| {
                model(s, "m.Tag").fields.push(FieldState::new("weight", ColumnType::Integer).default_value(1i64))
            },
            after: |s| field(s, "m.Tag", "weight").ty = TypeState::Column(ColumnType::BigInt),
            hints: no_hints,
        },
        Change {
            name: "NULL to NOT NULL without a default",
            before: nothing,
            after: |s| field(s, "m.Post", "body").null = false,
            hints: no_hints,
        },
        Change {
            name: "NOT NULL to NULL",
            before: nothing,
            after: |s| field(s, "m.Post", "title").null = true,
            hints: no_hints,
        },
        Change {
            name: "add unique",
            before: nothing,
            after: |s| field(s, "m.Tag", "name").unique = true,
            hints: no_hints,
        },
        Change {
            name: "drop unique",
            before: nothing,
            after: |s| field(s, "m.Author", "name").unique = false,
            hints: no_hints,
        },
        Change {
            name: "add an index to a field",
            before: nothing,
            after: |s| field(s, "m.Post", "views").index = true,
            hints: no_hints,
        },
        Change {
            name: "drop a default",
            before: nothing,
            after: |s| field(s, "m.Post", "views").default = None,
            hints: no_hints,
        },
        Change {
            name: "add a default",
            before: nothing,
            after: |s| {
                let f = field(s, "m.Tag", "name");
                *f = f.clone().default_value("x");
            },
            hints: no_hints,
        },
        Change {
            name: "foreign key becomes nullable with SET NULL",
            before: nothing,
            after: |s| {
                let f = field(s, "m.Post", "author");
                f.null = true;
                f.relation.as_mut().unwrap().on_delete = OnDeleteState::SetNull;
            },
            hints: no_hints,
        },
        Change {
            name: "add a foreign key",
            before: nothing,
            after: |s| {
                model(s, "m.Post")
                    .fields
                    .push(FieldState::foreign_key("tag", "m.Tag", OnDeleteState::Cascade).nullable())
            },
            hints: no_hints,
        },
        Change {
            name: "remove a foreign key",
            before: nothing,
            after: |s| model(s, "m.Post").fields.retain(|f| f.name != "author"),
            hints: no_hints,
        },
        Change {
            name: "retarget a foreign key",
            before: nothing,
            after: |s| field(s, "m.Post", "author").relation.as_mut().unwrap().to = "m.Tag".into(),
            hints: no_hints,
        },
        Change {
            name: "add a self-referencing foreign key",
            before: nothing,
            after: |s| {
                model(s, "m.Author")
                    .fields
                    .push(FieldState::foreign_key("mentor", "m.Author", OnDeleteState::SetNull).nullable())
            },
            hints: no_hints,
        },
        Change {
            name: "add a one-to-one",
            before: nothing,
            after: |s| {
                let mut f = FieldState::foreign_key("profile", "m.Tag", OnDeleteState::Cascade).nullable();
                f.relation.as_mut().unwrap().one_to_one = true;
                f.unique = true;
                model(s, "m.Author").fields.push(f);
            },
            hints: no_hints,
        },
        Change {
            name: "char to foreign key to a new model",
            before: with_kind_text,
            after: |s| {
                s.add_model(kind_model());
                let f = field(s, "m.Post", "kind");
                *f = FieldState::foreign_key("kind", "m.Kind", OnDeleteState::SetNull).nullable();
            },
            hints: no_hints,
        },
        Change {
            name: "char to many-to-many to a new model",
            before: with_kind_text,
            after: |s| {
                s.add_model(kind_model());
                model(s, "m.Post").fields.retain(|f| f.name != "kind");
                model(s, "m.Post").fields.push(m2m("kind", "m_post", "m.Kind", "kind_id"));
            },
            hints: no_hints,
        },
        Change {
            name: "add a many-to-many",
            before: nothing,
            after: |s| model(s, "m.Post").fields.push(m2m("tags", "m_post", "m.Tag", "tag_id")),
            hints: no_hints,
        },
        Change {
            name: "remove a many-to-many",
            before: |s| model(s, "m.Post").fields.push(m2m("tags", "m_post", "m.Tag", "tag_id")),
            after: |s| model(s, "m.Post").fields.retain(|f| f.name != "tags"),
            hints: no_hints,
        },
        Change { name: "create a model", before: nothing, after: |s| s.add_model(kind_model()), hints: no_hints },
        Change {
            name: "create a model pointing at an old one",
            before: nothing,
            after: |s| {
                s.add_model(
                    ModelState::new("m", "Review", "m_review")
                        .field(FieldState::auto_pk("id"))
                        .field(FieldState::foreign_key("post", "m.Post", OnDeleteState::Cascade)),
                )
            },
            hints: no_hints,
        },
        Change { name: "create two models pointing at each other", before: nothing, after: a_b_cycle, hints: no_hints },
        Change {
            name: "delete a model",
            before: nothing,
            after: |s| {
                s.models.retain(|k, _| k != "m.Tag");
            },
            hints: no_hints,
        },
        Change {
            name: "delete a model and the one pointing at it",
            before: nothing,
            after: |s| {
                s.models.retain(|k, _| k != "m.Author" && k != "m.Post");
            },
            hints: no_hints,
        },
        Change {
            name: "delete two models pointing at each other",
            before: a_b_cycle,
            after: |s| {
                s.models.retain(|k, _| k != "m.A" && k != "m.B");
            },
            hints: no_hints,
        },
        Change {
            name: "rename a model",
            before: nothing,
            after: |s| {
                let mut t = s.models.remove("m.Tag").unwrap();
                t.name = "Label".into();
                s.add_model(t);
            },
            hints: || {
                let mut h = Hints::default();
                h.renamed_models.insert("m.Label".into(), "Tag".into());
                h
            },
        },
        Change {
            name: "rename a field",
            before: nothing,
            after: |s| field(s, "m.Post", "views").name = "hits".into(),
            hints: || {
                let mut h = Hints::default();
                h.renamed_fields.insert(("m.Post".into(), "hits".into()), "views".into());
                h
            },
        },
        Change {
            name: "rename a column only",
            before: nothing,
            after: |s| field(s, "m.Post", "views").column = "view_count".into(),
            hints: no_hints,
        },
        Change {
            name: "add a multi-column index",
            before: nothing,
            after: |s| {
                model(s, "m.Post").indexes.push(IndexState {
                    name: "m_post_title_views_idx".into(),
                    fields: vec!["title".into(), "views".into()],
                })
            },
            hints: no_hints,
        },
        Change {
            name: "remove a multi-column index",
            before: |s| {
                model(s, "m.Post").indexes.push(IndexState {
                    name: "m_post_title_views_idx".into(),
                    fields: vec!["title".into(), "views".into()],
                })
            },
            after: |s| model(s, "m.Post").indexes.clear(),
            hints: no_hints,
        },
        Change {
            name: "add a unique set",
            before: nothing,
            after: |s| {
                model(s, "m.Post").constraints.push(ConstraintState::Unique {
                    name: "m_post_author_title_uniq".into(),
                    fields: vec!["author".into(), "title".into()],
                })
            },
            hints: no_hints,
        },
        Change {
            name: "remove a unique set",
            before: |s| {
                model(s, "m.Post").constraints.push(ConstraintState::Unique {
                    name: "m_post_author_title_uniq".into(),
                    fields: vec!["author".into(), "title".into()],
                })
            },
            after: |s| model(s, "m.Post").constraints.clear(),
            hints: no_hints,
        },
        Change {
            name: "add a check constraint",
            before: nothing,
            after: |s| {
                model(s, "m.Post")
                    .constraints
                    .push(ConstraintState::Check { name: "m_post_views_check".into(), sql: "views >= 0".into() })
            },
            hints: no_hints,
        },
        Change {
            name: "rename a table",
            before: nothing,
            after: |s| model(s, "m.Tag").table = "m_labels".into(),
            hints: no_hints,
        },
        Change {
            name: "a new app pointing at an old model",
            before: nothing,
            after: |s| {
                s.add_model(
                    ModelState::new("x", "Note", "x_note")
                        .field(FieldState::auto_pk("id"))
                        .field(FieldState::foreign_key("author", "m.Author", OnDeleteState::Cascade)),
                )
            },
            hints: no_hints,
        },
        Change {
            name: "two new apps pointing at each other",
            before: nothing,
            after: |s| {
                s.add_model(
                    ModelState::new("x", "Left", "x_left")
                        .field(FieldState::auto_pk("id"))
                        .field(FieldState::foreign_key("right", "y.Right", OnDeleteState::SetNull).nullable()),
                );
                s.add_model(
                    ModelState::new("y", "Right", "y_right")
                        .field(FieldState::auto_pk("id"))
                        .field(FieldState::foreign_key("left", "x.Left", OnDeleteState::Cascade)),
                );
            },
            hints: no_hints,
        },
        Change {
            name: "decimal precision",
            before: |s| {
                model(s, "m.Tag")
                    .fields
                    .push(FieldState::new("price", ColumnType::Decimal { precision: 8, scale: 2 }).nullable())
            },
            after: |s| {
                field(s, "m.Tag", "price").ty = TypeState::Column(ColumnType::Decimal { precision: 12, scale: 3 })
            },
            hints: no_hints,
        },
        Change {
            name: "several changes at once",
            before: nothing,
            after: |s| {
                model(s, "m.Author").fields.push(FieldState::new("bio", ColumnType::Text).nullable());
                model(s, "m.Post").fields.retain(|f| f.name != "body");
                field(s, "m.Tag", "name").unique = true;
                s.add_model(kind_model());
            },
            hints: no_hints,
        },
    ]
}

/// Applies `plans` forwards from `state`, returning the state after each.
fn forwards(
    conn: &mut dyn Connection,
    plans: &[PlannedMigration],
    state: &ProjectState,
) -> Result<Vec<ProjectState>, Box<dyn std::error::Error>> {
    let mut states = vec![state.clone()];
    for p in plans {
        let next = apply_operations(conn, &p.app, &p.operations, states.last().unwrap(), false)?;
        states.push(next);
    }
    Ok(states)
}

/// Undoes `plans`, given the states `forwards` returned.
fn backwards(
    conn: &mut dyn Connection,
    plans: &[PlannedMigration],
    states: &[ProjectState],
) -> Result<(), Box<dyn std::error::Error>> {
    for (i, p) in plans.iter().enumerate().rev() {
        apply_operations(conn, &p.app, &p.operations, &states[i], true)?;
    }
    Ok(())
}

/// The plan from `from` to `to`, in an order its dependencies allow (as the migration graph
/// would run it).
fn plan(
    from: &ProjectState,
    to: &ProjectState,
    hints: &Hints,
) -> Result<Vec<PlannedMigration>, Box<dyn std::error::Error>> {
    let leaves: BTreeMap<String, Key> = from
        .models
        .values()
        .map(|m| (m.app.clone(), Key { app: m.app.clone(), name: "0001_initial".into() }))
        .collect();
    let mut q = Scripted::default();
    q.defaults.insert("m.Author.score".into(), orm_backends::Value::Int(0));
    let mut pending: Vec<(String, usize, PlannedMigration)> = Vec::new();
    for p in detect_changes(from, to, hints, &mut q, &leaves)? {
        let index = pending.iter().filter(|(a, _, _)| *a == p.app).count();
        pending.push((p.app.clone(), index, p));
    }
    let mut done: Vec<(String, usize)> = Vec::new();
    let mut out = Vec::new();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|(_, _, p)| {
                p.dependencies.iter().all(|d| match d {
                    Dependency::Planned { app, index } => done.contains(&(app.clone(), *index)),
                    Dependency::Existing(_) => true,
                })
            })
            .ok_or_else(|| format!("the plan's dependencies form a cycle: {pending:?}"))?;
        let (app, index, p) = pending.remove(ready);
        done.push((app, index));
        out.push(p);
    }
    Ok(out)
}

backend_test! {
    fn every_change_of_the_corpus_applies_forwards_and_backwards(db: &TestDb) {
        let corpus = corpus();
        assert!(corpus.len() >= 40, "the corpus holds {} changes", corpus.len());
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let d = conn.dialect();
        for change in corpus {
            let mut before = base();
            (change.before)(&mut before);
            let mut after = before.clone();
            (change.after)(&mut after);
            let what = change.name;
            // From nothing to "before".
            let create = plan(&ProjectState::new(), &before, &Hints::default())?;
            let created = forwards(conn, &create, &ProjectState::new()).map_err(|e| format!("{what}: creating the start: {e}"))?;
            assert_tables(&format!("{what}: the start"), d, &expected(d, &before)?, &snapshot(conn)?);
            // "before" → "after" and back.
            let plans = plan(&before, &after, &(change.hints)()).map_err(|e| format!("{what}: planning: {e}"))?;
            assert!(!plans.is_empty(), "{what}: a change must plan something");
            let states = forwards(conn, &plans, &before).map_err(|e| format!("{what}: applying {plans:?}: {e}"))?;
            assert_tables(&format!("{what}: forwards"), d, &expected(d, &after)?, &snapshot(conn)?);
            assert_eq!(expected(d, states.last().unwrap())?, expected(d, &after)?, "{what}: the plan's state is the models'");
            backwards(conn, &plans, &states).map_err(|e| format!("{what}: undoing: {e}"))?;
            assert_tables(&format!("{what}: backwards"), d, &expected(d, &before)?, &snapshot(conn)?);
            backwards(conn, &create, &created).map_err(|e| format!("{what}: dropping the start: {e}"))?;
            assert!(snapshot(conn)?.is_empty(), "{what}: nothing left");
        }
        Ok(())
    }
}

/// Names planned migrations as makemigrations does (numbers per app after `existing`) and
/// turns their dependencies into keys.
fn materialize(
    plans: Vec<PlannedMigration>,
    existing: &BTreeMap<String, u32>,
) -> Vec<orm_migrations::migration::Migration> {
    let mut numbers = existing.clone();
    let mut names: BTreeMap<(String, usize), String> = BTreeMap::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for p in &plans {
        let n = numbers.entry(p.app.clone()).or_insert(0);
        *n += 1;
        let i = index.entry(p.app.clone()).or_insert(0);
        names.insert((p.app.clone(), *i), orm_migrations::writer::suggest_name(*n, p.initial, &p.operations));
        *i += 1;
    }
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    plans
        .into_iter()
        .map(|p| {
            let i = index.entry(p.app.clone()).or_insert(0);
            let mut m = orm_migrations::migration::Migration::new(p.app.clone(), names[&(p.app.clone(), *i)].clone());
            *i += 1;
            m.initial = p.initial;
            for d in p.dependencies {
                let key = match d {
                    Dependency::Existing(k) => k,
                    Dependency::Planned { app, index } => Key { name: names[&(app.clone(), index)].clone(), app },
                };
                if !m.dependencies.contains(&key) {
                    m.dependencies.push(key);
                }
            }
            m.operations = p.operations;
            m
        })
        .collect()
}

backend_test! {
    fn every_change_goes_through_files_migrate_and_migrate_zero(db: &TestDb) {
        // makemigrations → files → migrate → migrate zero, for every change of the corpus:
        // the plans are written as migration files, loaded back, and run by the executor
        // (with its recorder and graph) forwards to the latest and back to zero.
        use orm_migrations::executor::{Executor, MigrateOptions, Target};
        use orm_migrations::loader::Loader;
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let d = conn.dialect();
        for (n, change) in corpus().into_iter().enumerate() {
            let what = change.name;
            let mut before = base();
            (change.before)(&mut before);
            let mut after = before.clone();
            (change.after)(&mut after);
            let dir = std::env::temp_dir().join(format!("orm_corpus_{}_{}_{n}", std::process::id(), d.name()));
            let _ = std::fs::remove_dir_all(&dir);
            let first = materialize(plan(&ProjectState::new(), &before, &Hints::default())?, &BTreeMap::new());
            let existing: BTreeMap<String, u32> = first.iter().fold(BTreeMap::new(), |mut acc, m| {
                *acc.entry(m.app.clone()).or_insert(0) += 1;
                acc
            });
            let leaves: BTreeMap<String, Key> = first.iter().map(|m| (m.app.clone(), m.key())).collect();
            let mut q = Scripted::default();
            q.defaults.insert("m.Author.score".into(), orm_backends::Value::Int(0));
            let second = materialize(detect_changes(&before, &after, &(change.hints)(), &mut q, &leaves)?, &existing);
            for m in first.iter().chain(&second) {
                orm_migrations::writer::write(&dir, m)?;
            }
            let loader = Loader::from_dir(&dir)?;
            Executor::new(&mut *conn, &loader).migrate(&Target::All, MigrateOptions::default()).map_err(|e| format!("{what}: migrate: {e}"))?;
            assert_tables(&format!("{what}: migrated"), d, &expected(d, &after)?, &snapshot(conn)?);
            let mut apps: Vec<String> = loader.apps().into_iter().collect();
            apps.sort();
            for app in apps.iter().rev() {
                Executor::new(&mut *conn, &loader).migrate(&Target::Zero(app.clone()), MigrateOptions::default()).map_err(|e| format!("{what}: migrate {app} zero: {e}"))?;
            }
            assert!(snapshot(conn)?.is_empty(), "{what}: migrate zero leaves no table");
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(())
    }
}
