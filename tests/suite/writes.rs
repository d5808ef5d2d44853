//! Save semantics as Django's `tests/basic` and `tests/update_only_fields` pin them down:
//! forced updates and inserts, `update_fields` that find no row, a model whose only column is
//! its key, and `select_on_save`.

use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;

fn db_of(t: &TestDb) -> Database {
    Database::from_pool((**t).clone())
}

fn setup(db: &Database) -> orm::Result<()> {
    Schema::new().model::<OnlyKey>().model::<Careful>().model::<Tally>().create_all(db)
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
