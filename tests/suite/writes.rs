//! Save semantics as Django's `tests/basic` and `tests/update_only_fields` pin them down:
//! forced updates and inserts, `update_fields` that find no row, a model whose only column is
//! its key, and `select_on_save`.

use orm::prelude::*;
use orm::BulkCreate;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;

fn setup(db: &Database) -> orm::Result<()> {
    // Part refers to Careful: deleting Careful rows cascades through its table.
    Schema::new().model::<OnlyKey>().model::<Careful>().model::<Part>().model::<Tally>().create_all(db)
}

fn message(e: &orm::Error) -> String {
    match e {
        orm::Error::Database(d) => d.message().to_owned(),
        other => panic!("expected a database error, got {other:?}"),
    }
}

backend_test! {
    fn a_forced_update_that_changes_no_row_is_an_error(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let mut ghost = Tally { id: Auto::new(999), name: "ghost".into(), hits: 0 };
        let e = ghost.save_with(&db, &SaveOptions { force_update: true, ..Default::default() }).unwrap_err();
        assert_eq!(message(&e), "Forced update did not affect any rows.");
        assert_eq!(Tally::objects().count(&db)?, 0, "nothing was inserted instead");
        // The same on a model whose only column is its key: no UPDATE to run, existence decides.
        let mut lone = OnlyKey { id: Auto::new(7) };
        let e = lone.save_with(&db, &SaveOptions { force_update: true, ..Default::default() }).unwrap_err();
        assert_eq!(message(&e), "Forced update did not affect any rows.");
        let mut real = OnlyKey { id: Auto::unset() }.create(&db)?;
        real.save_with(&db, &SaveOptions { force_update: true, ..Default::default() })?;
        assert_eq!(OnlyKey::objects().count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn update_fields_that_find_no_row_is_an_error(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let mut ghost = Tally { id: Auto::new(5), name: "ghost".into(), hits: 1 };
        let e = ghost.save_with(&db, &SaveOptions::update_fields(["hits"])).unwrap_err();
        assert_eq!(message(&e), "Save with update_fields did not affect any rows.");
        let mut kept = Tally { id: Auto::unset(), name: "kept".into(), hits: 1 }.create(&db)?;
        kept.hits = 2;
        kept.name = "not written".into();
        kept.save_with(&db, &SaveOptions::update_fields(["hits"]))?;
        let back = Tally::objects().get_pk(kept.id.get().unwrap(), &db)?;
        assert_eq!((back.name.as_str(), back.hits), ("kept", 2), "only the named field was written");
        Ok(())
    }
}

backend_test! {
    fn a_forced_insert_of_an_existing_key_is_an_integrity_error(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let first = Tally { id: Auto::unset(), name: "one".into(), hits: 0 }.create(&db)?;
        let mut again = Tally { id: first.id, name: "two".into(), hits: 0 };
        let e = again.save_with(&db, &SaveOptions { force_insert: true, ..Default::default() }).unwrap_err();
        assert!(matches!(e, orm::Error::IntegrityError(_)), "{e:?}");
        assert_eq!(Tally::objects().get_pk(first.id.get().unwrap(), &db)?.name, "one");
        Ok(())
    }
}

backend_test! {
    fn a_saved_key_only_model_saves_by_existence(t: &TestDb) {
        // A hand-set key with no row: the save finds no row to update and inserts (Django's
        // `_do_update` asks `exists()` when there is nothing to set).
        let db = db_of(t);
        setup(&db)?;
        let mut by_hand = OnlyKey { id: Auto::new(42) };
        by_hand.save(&db)?;
        by_hand.save(&db)?; // exists now: nothing to write, no second row
        assert_eq!(OnlyKey::objects().values(["id"]).fetch_flat::<i64>(&db)?, [42]);
        Ok(())
    }
}

backend_test! {
    fn select_on_save_asks_before_it_updates(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let mut c = Careful { id: Auto::unset(), name: "a".into() }.create(&db)?;
        let capture = db.capture_queries();
        c.name = "b".into();
        c.save(&db)?;
        let sql: Vec<String> = capture.queries().iter().map(|q| q.sql.clone()).collect();
        assert_eq!(sql.len(), 2, "{sql:?}");
        assert!(sql[0].starts_with("SELECT 1 FROM"), "{sql:?}");
        assert!(sql[1].starts_with("UPDATE"), "{sql:?}");
        drop(capture);
        assert_eq!(Careful::objects().get_pk(c.id.get().unwrap(), &db)?.name, "b");
        // A row deleted behind the instance's back: the select finds nothing, and it inserts.
        Careful::objects().delete(&db)?;
        c.name = "c".into();
        c.save(&db)?;
        assert_eq!(Careful::objects().values(["name"]).fetch_flat::<String>(&db)?, ["c"]);
        // Tally has no select_on_save: one UPDATE, no SELECT.
        let mut t1 = Tally { id: Auto::unset(), name: "t".into(), hits: 0 }.create(&db)?;
        let capture = db.capture_queries();
        t1.hits = 3;
        t1.save(&db)?;
        assert_eq!(capture.queries().len(), 1);
        Ok(())
    }
}

backend_test! {
    fn update_or_create_writes_only_what_changed_and_auto_now(t: &TestDb) {
        // Django's get_or_create tests: test_update_only_defaults_and_pre_save_fields_when_local_fields.
        let db = db_of(t);
        setup(&db)?;
        Schema::new().model::<Comment>().create_all(&db)?;
        Tally { id: Auto::unset(), name: "x".into(), hits: 1 }.create(&db)?;
        let capture = db.capture_queries();
        let (t1, created) = Tally::objects().update_or_create(
            Tally::name().eq("x"),
            |t| t.hits = 9,
            || Tally { id: Auto::unset(), name: "x".into(), hits: 0 },
            &db,
        )?;
        assert!(!created);
        assert_eq!(t1.hits, 9);
        let updates: Vec<String> = capture.queries().into_iter().map(|q| q.sql).filter(|s| s.starts_with("UPDATE")).collect();
        assert_eq!(updates.len(), 1, "{updates:?}");
        assert!(updates[0].contains("hits") && !updates[0].contains("name"), "only the changed field: {}", updates[0]);
        drop(capture);
        // auto_now fields are written too; auto_now_add and untouched fields are not.
        let c = Comment { id: Auto::unset(), stamps: Stamped { created: None, updated: None }, body: "old".into() }.create(&db)?;
        let capture = db.capture_queries();
        let (c2, created) = Comment::objects().update_or_create(
            Comment::id().eq(c.id.get().unwrap()),
            |c| c.body = "new".into(),
            || unreachable!("the row exists"),
            &db,
        )?;
        assert!(!created);
        let updates: Vec<String> = capture.queries().into_iter().map(|q| q.sql).filter(|s| s.starts_with("UPDATE")).collect();
        assert_eq!(updates.len(), 1, "{updates:?}");
        assert!(updates[0].contains("body") && updates[0].contains("updated") && !updates[0].contains("created"), "{}", updates[0]);
        assert_eq!(Comment::objects().get_pk(c2.id.get().unwrap(), &db)?.body, "new");
        // Nothing changed and no auto_now field: no UPDATE at all.
        let capture = db.capture_queries();
        Tally::objects().update_or_create(Tally::name().eq("x"), |_| {}, || unreachable!(), &db)?;
        assert!(!capture.queries().iter().any(|q| q.sql.starts_with("UPDATE")));
        // Created: `create` builds the row (Django's create_defaults).
        let (made, created) = Tally::objects().update_or_create(
            Tally::name().eq("y"),
            |t| t.hits = 100,
            || Tally { id: Auto::unset(), name: "y".into(), hits: 5 },
            &db,
        )?;
        assert!(created);
        assert_eq!(made.hits, 5, "the update does not apply to a created row");
        Ok(())
    }
}

backend_test! {
    fn concurrent_get_or_create_on_one_key_leaves_one_row_and_no_error(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let db = db.clone();
                std::thread::spawn(move || {
                    Tally::objects().get_or_create(
                        Tally::name().eq("race"),
                        || Tally { id: Auto::unset(), name: "race".into(), hits: i },
                        &db,
                    )
                })
            })
            .collect();
        let mut created = 0;
        for h in handles {
            let (obj, made) = h.join().expect("no panic")?;
            assert_eq!(obj.name, "race");
            created += usize::from(made);
        }
        assert_eq!(created, 1, "exactly one caller created the row");
        assert_eq!(Tally::objects().filter(Tally::name().eq("race")).count(&db)?, 1);
        Ok(())
    }
}

fn tally(name: &str, hits: i64) -> Tally {
    Tally { id: Auto::unset(), name: name.into(), hits }
}

backend_test! {
    fn bulk_create_refuses_bad_options_before_any_sql(t: &TestDb) {
        // Django's bulk_create tests: multi-table children, batch_size, upsert options.
        let db = db_of(t);
        setup(&db)?;
        Schema::new().model::<Place>().model::<Restaurant>().create_all(&db)?;
        let value_error = |e: orm::Error| match e {
            orm::Error::ValueError(m) => m,
            other => panic!("expected ValueError, got {other:?}"),
        };
        let capture = db.capture_queries();
        let mut r = [Restaurant { place: Place { id: Auto::unset(), name: "p".into(), open: true }, serves_pizza: true, seats: 3 }];
        assert_eq!(value_error(Restaurant::objects().bulk_create(&mut r, &db).unwrap_err()), "Can't bulk create a multi-table inherited model");
        let mut rows = [tally("a", 1)];
        assert_eq!(
            value_error(Tally::objects().bulk_create_with(&mut rows, &BulkCreate::new().batch_size(0), &db).unwrap_err()),
            "Batch size must be a positive integer."
        );
        assert_eq!(
            value_error(Tally::objects().bulk_create_with(&mut rows, &BulkCreate::new().update_conflicts(["name"], Vec::<String>::new()), &db).unwrap_err()),
            "Fields that will be updated when a row insertion fails on conflicts must be provided."
        );
        assert_eq!(
            value_error(Tally::objects().bulk_create_with(&mut rows, &BulkCreate::new().update_conflicts(Vec::<String>::new(), ["hits"]), &db).unwrap_err()),
            "Unique fields that can trigger the upsert must be provided."
        );
        assert_eq!(
            value_error(Tally::objects().bulk_create_with(&mut rows, &BulkCreate::new().update_conflicts(["name"], ["id"]), &db).unwrap_err()),
            "bulk_create() cannot be used with primary keys in update_fields."
        );
        let unknown = Tally::objects().bulk_create_with(&mut rows, &BulkCreate::new().update_conflicts(["name"], ["nope"]), &db).unwrap_err();
        assert!(matches!(unknown, orm::Error::FieldDoesNotExist { .. }), "{unknown:?}");
        assert!(capture.queries().is_empty(), "{:?}", capture.queries());
        Ok(())
    }
}

backend_test! {
    fn bulk_create_of_a_key_only_model_and_in_batches(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let mut lone: Vec<OnlyKey> = (0..5).map(|_| OnlyKey { id: Auto::unset() }).collect();
        assert_eq!(OnlyKey::objects().bulk_create(&mut lone, &db)?, 5);
        assert_eq!(OnlyKey::objects().count(&db)?, 5);
        let returns_keys = db.with_connection(|c| Ok::<_, orm::Error>(c.features().can_return_rows_from_bulk_insert))?;
        if returns_keys || db.dialect() == Dialect::Sqlite {
            let mut keys: Vec<i64> = lone.iter().map(|o| o.id.get().expect("key set")).collect();
            keys.sort();
            let mut stored: Vec<i64> = OnlyKey::objects().values(["id"]).fetch_flat(&db)?;
            stored.sort();
            assert_eq!(keys, stored);
        }
        let mut rows: Vec<Tally> = (0..7).map(|i| tally(&format!("t{i}"), i)).collect();
        let capture = db.capture_queries();
        assert_eq!(Tally::objects().bulk_create_with(&mut rows, &BulkCreate::new().batch_size(3), &db)?, 7);
        let inserts = capture.queries().iter().filter(|q| q.sql.starts_with("INSERT")).count();
        assert_eq!(inserts, 3, "7 rows in batches of 3");
        assert_eq!(Tally::objects().count(&db)?, 7);
        // Keys come back with no statement beyond the INSERTs (SQLite: the rowids of an
        // AUTOINCREMENT key, read once per table whether it is one; PostgreSQL, MariaDB:
        // RETURNING).
        let mut more: Vec<Tally> = (0..4).map(|i| tally(&format!("m{i}"), i)).collect();
        let capture = db.capture_queries();
        Tally::objects().bulk_create_with(&mut more, &BulkCreate::new().batch_size(2), &db)?;
        let control = |s: &str| ["BEGIN", "COMMIT", "START TRANSACTION"].iter().any(|c| s.starts_with(c));
        let sql: Vec<String> = capture.queries().into_iter().map(|q| q.sql).filter(|s| !control(s)).collect();
        assert_eq!(sql.len(), 2, "one statement per batch, in one transaction: {sql:?}");
        if returns_keys || db.dialect() == Dialect::Sqlite {
            for m in &more {
                let id = m.id.get().expect("key set");
                assert_eq!(Tally::objects().get_pk(id, &db)?.name, m.name, "each key names its row");
            }
        }
        Ok(())
    }
}

backend_test! {
    fn bulk_create_ignores_conflicts(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        Tally::objects().bulk_create(&mut [tally("a", 1), tally("b", 2)], &db)?;
        let mut rows = [tally("a", 10), tally("c", 3), tally("b", 20)];
        let n = Tally::objects().bulk_create_with(&mut rows, &BulkCreate::new().ignore_conflicts(), &db)?;
        assert_eq!(n, 1, "only the new row was inserted");
        assert!(rows.iter().all(|r| r.id.get().is_none()), "no key is set when conflicts are ignored");
        let got: Vec<(String, i64)> = Tally::objects().order_by(["name"]).fetch(&db)?.into_iter().map(|t| (t.name, t.hits)).collect();
        assert_eq!(got, [("a".into(), 1), ("b".into(), 2), ("c".into(), 3)]);
        Ok(())
    }
}

backend_test! {
    fn bulk_create_updates_conflicts(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        Tally::objects().bulk_create(&mut [tally("a", 1), tally("b", 2)], &db)?;
        let mut rows = [tally("a", 10), tally("c", 3), tally("b", 20)];
        Tally::objects().bulk_create_with(&mut rows, &BulkCreate::new().update_conflicts(["name"], ["hits"]), &db)?;
        let got: Vec<(String, i64)> = Tally::objects().order_by(["name"]).fetch(&db)?.into_iter().map(|t| (t.name, t.hits)).collect();
        assert_eq!(got, [("a".into(), 10), ("b".into(), 20), ("c".into(), 3)]);
        if db.dialect() != Dialect::Mysql {
            for r in &rows {
                let stored = Tally::objects().filter(Tally::name().eq(r.name.as_str())).get(&db)?;
                assert_eq!(r.id, stored.id, "RETURNING gives every row's key, updated or inserted");
            }
        }
        Ok(())
    }
}

backend_test! {
    fn a_many_to_many_manager_creates_and_links(t: &TestDb) {
        // Django's many_to_many tests: create / get_or_create / update_or_create on a related
        // manager relate what they make; the lookup searches the related objects only.
        let db = db_of(t);
        Schema::new().model::<Author>().model::<Tag>().model::<Post>().create_all(&db)?;
        let ann = Author { id: Auto::unset(), name: "ann".into(), email: None, status: "a".into() }.create(&db)?;
        let post = Post { id: Auto::unset(), title: "p".into(), author: ForeignKey::to(&ann)?, editor: None, views: 0, tags: ManyToMany::new(), scratch: None }.create(&db)?;
        let made = post.tags().create(Tag { id: Auto::unset(), name: "made".into() }, &[], &db)?;
        assert!(made.id.is_set());
        let (got, created) = post.tags().get_or_create(Tag::name().eq("made"), || unreachable!("related already"), &db)?;
        assert!(!created);
        assert_eq!(got.id, made.id);
        let (fresh, created) = post.tags().get_or_create(Tag::name().eq("fresh"), || Tag { id: Auto::unset(), name: "fresh".into() }, &db)?;
        assert!(created && fresh.id.is_set());
        let (renamed, created) = post.tags().update_or_create(Tag::name().eq("fresh"), |t| t.name = "renamed".into(), || unreachable!(), &db)?;
        assert!(!created);
        assert_eq!(renamed.id, fresh.id);
        let (other, created) = post.tags().update_or_create(Tag::name().eq("third"), |_| {}, || Tag { id: Auto::unset(), name: "third".into() }, &db)?;
        assert!(created && other.id.is_set());
        let mut names: Vec<String> = post.tags().all().fetch(&db)?.into_iter().map(|t| t.name).collect();
        names.sort();
        assert_eq!(names, ["made", "renamed", "third"], "everything created through the manager is related");
        Ok(())
    }
}

backend_test! {
    fn a_reverse_relation_creates_with_its_key_set(t: &TestDb) {
        // Django's related manager on the one side: author.post_set.create(...) sets author.
        let db = db_of(t);
        Schema::new().model::<Author>().model::<Tag>().model::<Post>().create_all(&db)?;
        let ann = Author { id: Auto::unset(), name: "ann".into(), email: None, status: "a".into() }.create(&db)?;
        let bob = Author { id: Auto::unset(), name: "bob".into(), email: None, status: "a".into() }.create(&db)?;
        let draft = |title: &str| Post { id: Auto::unset(), title: title.into(), author: ForeignKey::to(&bob).unwrap(), editor: None, views: 0, tags: ManyToMany::new(), scratch: None };
        let made = ann.posts().create(draft("one"), &db)?;
        assert_eq!(made.author.key(), ann.id.get().as_ref().unwrap(), "the relation's key replaced the one given");
        let (got, created) = ann.posts().get_or_create(Post::title().eq("two"), || draft("two"), &db)?;
        assert!(created);
        assert_eq!(got.author.key(), ann.id.get().as_ref().unwrap());
        let (again, created) = ann.posts().get_or_create(Post::title().eq("two"), || unreachable!(), &db)?;
        assert!(!created && again.id == got.id);
        let (_, created) = ann.posts().update_or_create(Post::title().eq("three"), |p| p.views = 9, || draft("three"), &db)?;
        assert!(created);
        assert_eq!(ann.posts().count(&db)?, 3);
        assert_eq!(bob.posts().count(&db)?, 0);
        Ok(())
    }
}
