//! Models: CRUD for every field type, update_fields, get errors, schema from models,
//! validation, fixtures, user field types, hand-written models.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use orm::prelude::*;
use orm::{serializers, Value};
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;
use rust_decimal::Decimal;

fn schema() -> Schema {
    Schema::new()
        .model::<Everything>()
        .model::<Author>()
        .model::<Tag>()
        .model::<Post>()
        .model::<Account>()
        .model::<Comment>()
        .model::<HandNote>()
}

fn full() -> Everything {
    Everything {
        id: Auto::unset(),
        flag: true,
        small: -32768,
        medium: 2_147_483_647,
        big: i64::MIN,
        unsigned: u32::MAX,
        single: 1.5,
        double: -2.5e300,
        short_text: "short 'quoted' ✓".into(),
        long_text: "long ".repeat(5_000),
        blob: vec![0, 1, 2, 0, 255],
        day: NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
        clock: NaiveTime::from_hms_micro_opt(13, 14, 15, 161_718).unwrap(),
        stamp: NaiveDate::from_ymd_opt(1999, 12, 31).unwrap().and_hms_micro_opt(23, 59, 59, 999_999).unwrap(),
        instant: DateTime::parse_from_rfc3339("2024-03-10T12:34:56.123456+05:30").unwrap().with_timezone(&Utc),
        uid: uuid::Uuid::new_v4(),
        doc: serde_json::json!({"k": [1, "two", null], "emoji": "🦀"}),
        price: "123456789.125".parse().unwrap(),
        cents: Cents(-4_200),
        opt_flag: Some(false),
        opt_big: Some(42),
        opt_double: Some(0.25),
        opt_text: Some("maybe".into()),
        opt_blob: Some(vec![9; 3]),
        opt_day: Some(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()),
        opt_stamp: Some(NaiveDate::from_ymd_opt(2001, 2, 3).unwrap().and_hms_opt(4, 5, 6).unwrap()),
        opt_instant: Some(DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
        opt_uid: Some(uuid::Uuid::nil()),
        opt_doc: Some(serde_json::json!([])),
        opt_price: Some(Decimal::new(-1999, 2)),
        opt_cents: Some(Cents(1)),
    }
}

fn empty() -> Everything {
    Everything {
        opt_flag: None,
        opt_big: None,
        opt_double: None,
        opt_text: None,
        opt_blob: None,
        opt_day: None,
        opt_stamp: None,
        opt_instant: None,
        opt_uid: None,
        opt_doc: None,
        opt_price: None,
        opt_cents: None,
        ..full()
    }
}

backend_test! {
    fn crud_roundtrips_every_field_type(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        for mut obj in [full(), empty()] {
            assert_eq!(obj.adding(), Some(true));
            obj.save(&db)?;
            assert!(obj.id.is_set(), "the key is set after insert");
            assert_eq!(obj.adding(), Some(false));
            let back = Everything::objects().get_pk(obj.id.get().unwrap(), &db)?;
            assert_eq!(back, obj);
        }
        assert_eq!(Everything::objects().count(&db)?, 2);
        Ok(())
    }
}

backend_test! {
    fn keys_are_assigned_in_order_and_updates_touch_one_row(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut a = Author { id: Auto::unset(), name: "Ann".into(), email: None, status: "a".into() };
        let mut b = Author { id: Auto::unset(), name: "Bob".into(), email: None, status: "a".into() };
        a.save(&db)?;
        b.save(&db)?;
        assert!(b.id.get() > a.id.get());
        a.email = Some("ann@example.com".into());
        a.save(&db)?;
        let fresh_b = Author::objects().get_pk(b.id.get().unwrap(), &db)?;
        assert_eq!(fresh_b.email, None, "the other row is untouched");
        assert_eq!(Author::objects().get_pk(a.id.get().unwrap(), &db)?.email.as_deref(), Some("ann@example.com"));
        assert_eq!(Author::objects().count(&db)?, 2, "an update inserts nothing");
        Ok(())
    }
}

backend_test! {
    fn update_fields_writes_only_those_columns(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut obj = full();
        obj.save(&db)?;
        // Change another column behind the instance's back.
        let d = db.dialect();
        let mut sql = format!("UPDATE {} SET {} = ", d.quote("kitchen_everything"), d.quote("big"));
        d.write_placeholder(&mut sql, 1);
        db.pool().get()?.execute(&sql, &[Value::Int(99)])?;
        obj.short_text = "changed".into();
        obj.big = 1; // not listed: must not be written
        obj.save_with(&db, &SaveOptions::update_fields(["short_text"]))?;
        let back = Everything::objects().get_pk(obj.id.get().unwrap(), &db)?;
        assert_eq!(back.short_text, "changed");
        assert_eq!(back.big, 99, "the unlisted column kept the value written behind our back");
        let e = obj.save_with(&db, &SaveOptions::update_fields(["nope"])).unwrap_err();
        assert!(matches!(&e, orm::Error::FieldDoesNotExist { field, .. } if field == "nope"), "{e}");
        Ok(())
    }
}

backend_test! {
    fn delete_and_get_errors(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut a = Author { id: Auto::unset(), name: "Ann".into(), email: None, status: "a".into() };
        a.save(&db)?;
        let id = a.id.get().unwrap();
        Author { id: Auto::unset(), name: "Bob".into(), email: None, status: "a".into() }.create(&db)?;
        Author { id: Auto::unset(), name: "Cy".into(), email: None, status: "a".into() }.create(&db)?;
        let e = Author::objects().filter(Author::status().eq("a")).get(&db).unwrap_err();
        match &e {
            orm::Error::MultipleObjectsReturned { model, count } => {
                assert_eq!(model, "blog.Author");
                assert_eq!(*count, 3);
            }
            other => panic!("expected MultipleObjectsReturned, got {other}"),
        }
        assert_eq!(a.delete(&db)?, 1);
        let e = Author::objects().get_pk(id, &db).unwrap_err();
        assert!(e.is_does_not_exist(), "{e}");
        assert_eq!(e.to_string(), "blog.Author matching query does not exist");
        assert_eq!(Author::objects().count(&db)?, 2);
        Ok(())
    }
}

backend_test! {
    fn refresh_from_db_reloads(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut a = Author { id: Auto::unset(), name: "Ann".into(), email: None, status: "a".into() };
        a.save(&db)?;
        let mut other = a.clone();
        other.email = Some("x@y.z".into());
        other.save(&db)?;
        a.refresh_from_db(&db)?;
        assert_eq!(a.email.as_deref(), Some("x@y.z"));
        Ok(())
    }
}

backend_test! {
    fn a_hand_chosen_key_inserts_then_updates(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut acc = Account { code: "ACC-1".into(), balance: Cents(10), state: Default::default() };
        assert_eq!(acc.adding(), Some(true));
        acc.save(&db)?;
        assert_eq!(acc.adding(), Some(false));
        acc.balance = Cents(25);
        acc.save(&db)?;
        let back = Account::objects().get_pk("ACC-1", &db)?;
        assert_eq!(back.balance, Cents(25));
        assert!(!back.state.adding, "a loaded instance knows it is in the database");
        assert_eq!(Account::objects().count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn relations_store_and_return_keys(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let ann = Author { id: Auto::unset(), name: "Ann".into(), email: None, status: "a".into() }.create(&db)?;
        let mut post = Post {
            id: Auto::unset(),
            title: "Hello".into(),
            author: ForeignKey::to(&ann)?,
            editor: None,
            views: 0,
            tags: ManyToMany::new(),
            scratch: Some("not stored".into()),
        };
        post.save(&db)?;
        let back = Post::objects().get_pk(post.id.get().unwrap(), &db)?;
        assert_eq!(*back.author.key(), ann.id.get().unwrap());
        assert_eq!(back.editor, None);
        assert_eq!(back.scratch, None, "skipped fields are not stored");
        let mut author = back.author.clone();
        assert_eq!(author.get(&db)?.name, "Ann");
        let e = Post { author: ForeignKey::new(424242), ..post.clone() };
        let mut e = e;
        e.id = Auto::unset();
        let err = e.save(&db).unwrap_err();
        assert!(matches!(err, orm::Error::IntegrityError(_)), "a dangling key is an integrity error: {err}");
        Ok(())
    }
}

backend_test! {
    fn schema_from_models_introspects_back(t: &TestDb) {
        let db = db_of(t);
        let s = schema();
        s.create_all(&db)?;
        let d = db.dialect();
        let tables = s.tables()?;
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        assert!(!names.contains(&""), "the abstract base has no table");
        assert!(names.contains(&"blog_post_tags"), "the m2m join table is created: {names:?}");
        assert!(
            names.iter().position(|n| *n == "blog_author") < names.iter().position(|n| *n == "blog_post"),
            "parents come first: {names:?}"
        );
        let mut conn = db.pool().get()?;
        let live = orm_backends::schema::table_names(&mut *conn)?;
        for table in &tables {
            assert!(live.contains(&table.name), "{} exists", table.name);
            let got = orm_backends::schema::introspect_table(&mut *conn, &table.name)?.expect("the table exists");
            // Both sides normalised: check expressions come back reformatted by each server.
            let (got, want) = (orm_backends::schema::normalize_for(d, &got), orm_backends::schema::normalize_for(d, table));
            assert_eq!(got, want, "table {} on {}", table.name, d.name());
        }
        drop(conn);
        s.drop_all(&db)?;
        let mut conn = db.pool().get()?;
        assert!(orm_backends::schema::table_names(&mut *conn)?.is_empty());
        Ok(())
    }
}

backend_test! {
    fn full_clean_reports_every_field(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        Author { id: Auto::unset(), name: "Taken".into(), email: None, status: "a".into() }.create(&db)?;
        let bad = Author { id: Auto::unset(), name: "Taken".into(), email: Some("x".repeat(101)), status: "z".into() };
        let e = bad.full_clean(&db).unwrap_err();
        let orm::Error::ValidationError(errors) = e else { panic!("expected a ValidationError, got {e}") };
        assert_eq!(errors.get("name"), ["Author with this Name already exists."]);
        assert_eq!(errors.get("email"), ["Ensure this value has at most 100 characters (it has 101)."]);
        assert_eq!(errors.get("status"), ["Value 'z' is not a valid choice."]);
        let shouting = Author { id: Auto::unset(), name: "LOUD NAME".into(), email: None, status: "".into() };
        let orm::Error::ValidationError(errors) = shouting.full_clean(&db).unwrap_err() else { panic!() };
        assert_eq!(errors.get("name"), ["Do not shout."], "a user validator ran");
        // As Django: an empty value is not checked against the choices.
        assert_eq!(errors.get("status"), ["This field cannot be blank."]);
        // save does not validate; save_validated does, and writes nothing on failure.
        let mut invalid = Author { id: Auto::unset(), name: "Fine".into(), email: None, status: "z".into() };
        assert!(invalid.save_validated(&db).is_err());
        assert_eq!(Author::objects().count(&db)?, 1);
        invalid.save(&db)?;
        assert_eq!(Author::objects().count(&db)?, 2);
        // unique_together: same author and title.
        let ann = Author::objects().get_pk(invalid.id.get().unwrap(), &db)?;
        let p = Post { id: Auto::unset(), title: "T".into(), author: ForeignKey::to(&ann)?, editor: None, views: 0, tags: ManyToMany::new(), scratch: None };
        p.clone().create(&db)?;
        let orm::Error::ValidationError(errors) = p.full_clean(&db).unwrap_err() else { panic!() };
        assert_eq!(errors.get(orm::NON_FIELD_ERRORS), ["Post with this Author and Title already exists."]);
        Ok(())
    }
}

backend_test! {
    fn fixtures_roundtrip(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut originals = vec![full(), empty()];
        for o in &mut originals {
            o.save(&db)?;
        }
        let dumped = serializers::dump_queryset(&Everything::objects().order_by(["id"]), &db)?;
        assert_eq!(dumped[0]["model"], "kitchen.everything");
        assert_eq!(dumped[0]["pk"], serde_json::json!(originals[0].id.get().unwrap()));
        Everything::objects().delete(&db)?;
        assert_eq!(Everything::objects().count(&db)?, 0);
        let n = serializers::load(&db, &[Everything::meta()], &dumped)?;
        assert_eq!(n, 2);
        let back = Everything::objects().order_by(["id"]).fetch(&db)?;
        assert_eq!(back, originals);
        // Loading again updates in place; new rows still get fresh keys afterwards.
        serializers::load(&db, &[Everything::meta()], &dumped)?;
        assert_eq!(Everything::objects().count(&db)?, 2);
        let mut later = full();
        later.save(&db)?;
        assert!(later.id.get() > originals[1].id.get());
        let e = serializers::load(&db, &[Everything::meta()], &serde_json::json!([{"model": "kitchen.nope", "pk": 1, "fields": {}}]));
        assert!(e.unwrap_err().to_string().contains("unknown model `kitchen.nope`"));
        Ok(())
    }
}

backend_test! {
    fn abstract_bases_add_their_columns(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let meta = Comment::meta();
        let names: Vec<&str> = meta.fields.iter().map(|f| f.name).collect();
        assert_eq!(names, ["id", "created", "updated", "body"]);
        assert_eq!(meta.ordering, ["-created"], "the base's ordering is inherited");
        let mut c = Comment { id: Auto::unset(), stamps: Stamped { created: None, updated: None }, body: "hi".into() };
        c.save(&db)?;
        let created = c.stamps.created.expect("auto_now_add set on insert");
        c.body = "edited".into();
        c.save(&db)?;
        assert_eq!(c.stamps.created, Some(created), "auto_now_add is kept on update");
        assert!(c.stamps.updated.unwrap() >= created);
        let back = Comment::objects().get_pk(c.id.get().unwrap(), &db)?;
        assert_eq!(back, c);
        Ok(())
    }
}

backend_test! {
    fn a_hand_written_model_works_like_a_derived_one(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut n = HandNote { id: Auto::unset(), text: "by hand".into(), pinned: Some(true) };
        n.save(&db)?;
        let back = HandNote::objects().filter(HandNote::text().eq("by hand")).get(&db)?;
        assert_eq!(back, n);
        Ok(())
    }
}
