//! `defer()` / `only()` as Django's tests/defer and tests/defer_regress, with `Deferred<T>`
//! fields: unloaded fields are not selected, loading them is one query
//! (`refresh_from_db_fields`, `load_deferred`), saving writes the loaded fields only, and
//! deferral reaches across `select_related`, on three backends.

use orm::prelude::*;
use orm::Deferred;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::db_of;

/// Django's defer `Secondary`.
#[derive(Model, Debug, Clone)]
#[orm(app = "deferq")]
pub struct Secondary {
    pub id: Auto<i64>,
    #[orm(max_length = 50)]
    pub first: Deferred<String>,
    #[orm(max_length = 50)]
    pub second: Deferred<Option<String>>,
}

/// Django's defer `Primary`.
#[derive(Model, Debug, Clone)]
#[orm(app = "deferq")]
pub struct Primary {
    pub id: Auto<i64>,
    #[orm(max_length = 50)]
    pub name: String,
    #[orm(max_length = 50)]
    pub value: Deferred<String>,
    pub score: Deferred<i64>,
    #[orm(on_delete = Cascade)]
    pub related: ForeignKey<Secondary>,
}

fn setup(db: &Database) -> orm::Result<Primary> {
    Schema::new().model::<Secondary>().model::<Primary>().create_all(db)?;
    let s = Secondary { id: Auto::unset(), first: "x1".to_owned().into(), second: Some("y1".to_owned()).into() }
        .create(db)?;
    Primary {
        id: Auto::unset(),
        name: "p1".into(),
        value: "xx".to_owned().into(),
        score: 7.into(),
        related: ForeignKey::to(&s)?,
    }
    .create(db)
}

backend_test! {
    fn defer_and_only_leave_fields_unloaded(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let capture = db.capture_queries();
        let p = Primary::objects().defer(["value"]).get(&db)?;
        assert!(!p.value.is_loaded());
        assert_eq!(p.score.get(), Some(&7));
        assert_eq!(p.name, "p1");
        // The deferred column is not read.
        let sql = capture.queries().last().expect("one query").sql.clone();
        assert!(!sql.contains("\"value\"") && !sql.contains("`value`"), "{sql}");
        drop(capture);
        // defer() accumulates; only() names what to load (plain fields always are).
        let p = Primary::objects().defer(["value"]).defer(["score"]).get(&db)?;
        assert!(!p.value.is_loaded() && !p.score.is_loaded());
        let p = Primary::objects().only(["value"]).get(&db)?;
        assert!(p.value.is_loaded() && !p.score.is_loaded());
        assert_eq!(p.name, "p1");
        let p = Primary::objects().only(["value"]).defer(["value"]).get(&db)?;
        assert!(!p.value.is_loaded() && !p.score.is_loaded());
        // only() replaces earlier only() and defer() calls.
        let p = Primary::objects().defer(["value"]).only(["value", "score"]).get(&db)?;
        assert!(p.value.is_loaded() && p.score.is_loaded());
        // A NULL in a loaded Deferred<Option<_>> is loaded NULL, not unloaded.
        Secondary::objects().update([Secondary::second().set(orm_backends::Value::Null)], &db)?;
        let s = Secondary::objects().defer(["first"]).get(&db)?;
        assert_eq!(s.second, Deferred::Loaded(None));
        assert!(!s.first.is_loaded());
        // Values and counts are unaffected.
        assert_eq!(Primary::objects().defer(["value"]).count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn deferring_what_cannot_be_deferred_is_a_field_error(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // A plain field has no unloaded state: Django defers anything, a Rust struct cannot.
        let err = Primary::objects().defer(["name"]).fetch(&db).unwrap_err();
        assert!(matches!(&err, orm::Error::FieldError { message } if message.contains("'name'") && message.contains("Deferred")), "{err:?}");
        let err = Primary::objects().defer(["nope"]).fetch(&db).unwrap_err();
        assert!(matches!(&err, orm::Error::FieldError { message } if message.contains("nope")), "{err:?}");
        let err = Primary::objects().only(["nope"]).fetch(&db).unwrap_err();
        assert!(matches!(err, orm::Error::FieldError { .. }), "{err:?}");
        Ok(())
    }
}

backend_test! {
    fn loading_deferred_fields_is_one_query(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let mut p = Primary::objects().defer(["value", "score"]).get(&db)?;
        let capture = db.capture_queries();
        p.refresh_from_db_fields(&["value"], &db)?;
        assert_eq!(capture.len(), 1);
        assert_eq!(p.value.get().map(String::as_str), Some("xx"));
        assert!(!p.score.is_loaded());
        p.load_deferred(&db)?;
        assert_eq!(capture.len(), 2);
        assert_eq!(p.score.get(), Some(&7));
        // Nothing left to load: no query.
        p.load_deferred(&db)?;
        assert_eq!(capture.len(), 2);
        drop(capture);
        let err = p.refresh_from_db_fields(&["nope"], &db).unwrap_err();
        assert!(matches!(err, orm::Error::FieldError { .. }), "{err:?}");
        Ok(())
    }
}

backend_test! {
    fn saving_writes_loaded_fields_only(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // Django's test_defer_save (saving a deferred instance keeps the deferred values).
        let mut p = Primary::objects().defer(["value"]).get(&db)?;
        p.name = "renamed".into();
        p.score.set(8);
        let capture = db.capture_queries();
        p.save(&db)?;
        let sql = capture.queries().last().expect("the update").sql.clone();
        assert!(!sql.contains("value"), "{sql}");
        drop(capture);
        let fresh = Primary::objects().get(&db)?;
        assert_eq!((fresh.name.as_str(), fresh.value.get().map(String::as_str), fresh.score.get()), ("renamed", Some("xx"), Some(&8)));
        // Setting a deferred field makes it saved.
        p.value.set("new".into());
        p.save(&db)?;
        assert_eq!(Primary::objects().get(&db)?.value.get().map(String::as_str), Some("new"));
        // update_fields naming an unloaded field, and creating with one, are refused.
        let mut q = Primary::objects().defer(["value"]).get(&db)?;
        let err = q.save_with(&db, &SaveOptions { update_fields: Some(vec!["value".into()]), ..SaveOptions::default() }).unwrap_err();
        assert!(matches!(&err, orm::Error::ValueError(m) if m.contains("value")), "{err:?}");
        q.id = Auto::unset();
        let err = q.clone().create(&db).unwrap_err();
        assert!(matches!(&err, orm::Error::ValueError(m) if m.contains("value")), "{err:?}");
        let err = Primary::objects().bulk_create(&mut [q], &db).unwrap_err();
        assert!(matches!(err, orm::Error::ValueError(_)), "{err:?}");
        assert_eq!(Primary::objects().count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn defer_across_select_related(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // Django's test_defer_select_related / test_only_select_related.
        let p = Primary::objects().select_related(["related"]).defer(["related__first"]).get(&db)?;
        let s = p.related.cached().expect("selected");
        assert!(!s.first.is_loaded());
        assert_eq!(s.second.get(), Some(&Some("y1".to_owned())));
        assert!(p.value.is_loaded());
        let p = Primary::objects().select_related(["related"]).defer(["value", "related__second"]).get(&db)?;
        let s = p.related.cached().expect("selected");
        assert!(!p.value.is_loaded() && s.first.is_loaded() && !s.second.is_loaded());
        Ok(())
    }
}

backend_test! {
    fn each_side_of_a_union_defers_its_own_fields(t: &TestDb) {
        let db = db_of(t);
        let p1 = setup(&db)?;
        let mut p2 = p1.clone();
        p2.id = Auto::unset();
        p2.name = "p2".into();
        let p2 = p2.create(&db)?;
        let rows = Primary::objects()
            .filter(Primary::name().eq("p1"))
            .defer(["value"])
            .union(Primary::objects().filter(Primary::name().eq("p2")))
            .order_by(["name"])
            .fetch(&db)?;
        assert_eq!(rows.len(), 2);
        assert!(!rows[0].value.is_loaded(), "the first side deferred it");
        assert_eq!(rows[1].value.get().map(String::as_str), Some("xx"), "the second side did not");
        assert_eq!(rows[1].id.get(), p2.id.get());
        Ok(())
    }
}
