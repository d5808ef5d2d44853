//! `full_clean` as Django's `tests/validation` and `tests/model_inheritance` pin it down:
//! ancestors' fields cleaned against their own tables with no error on the parent link,
//! unique sets of one field keyed by that field, foreign keys that point nowhere, the
//! model's `clean` hook, check constraints evaluated by the database, `exclude`, and an
//! explicit key probed for uniqueness.

use orm::prelude::*;
use orm::ModelState;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;

fn errors_of(r: orm::Result<()>) -> orm::ValidationErrors {
    match r {
        Err(orm::Error::ValidationError(e)) => e,
        other => panic!("expected a ValidationError, got {other:?}"),
    }
}

backend_test! {
    fn a_multi_table_child_is_cleaned_with_its_parent(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Place>().model::<Restaurant>().create_all(&db)?;
        let fine = Restaurant { place: Place { id: Auto::unset(), name: "Joe's".into(), open: true }, serves_pizza: true, seats: 10 };
        fine.full_clean(&db)?; // no bogus "place_ptr cannot be null"
        let long = Restaurant { place: Place { id: Auto::unset(), name: "n".repeat(51), open: true }, serves_pizza: true, seats: 1 };
        let e = errors_of(long.full_clean(&db));
        assert_eq!(e.get("name"), ["Ensure this value has at most 50 characters (it has 51)."]);
        assert_eq!(e.fields.len(), 1, "{e:?}");
        Ok(())
    }
}

backend_test! {
    fn unique_checks_foreign_keys_clean_and_checks(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Careful>().model::<Part>().create_all(&db)?;
        let maker = Careful { id: Auto::unset(), name: "acme".into() }.create(&db)?;
        Part { id: Auto::unset(), code: "A1".into(), qty: 1, maker: Some(ForeignKey::to(&maker)?) }.create(&db)?;
        // A unique set of one field: keyed by the field, as Django keys it.
        let dup = Part { id: Auto::unset(), code: "A1".into(), qty: 0, maker: None };
        let e = errors_of(dup.full_clean(&db));
        assert_eq!(e.get("code"), ["Part with this Code already exists."]);
        assert!(e.get(orm::NON_FIELD_ERRORS).is_empty());
        // A foreign key to no row.
        let ghost = Part { id: Auto::unset(), code: "B".into(), qty: 1, maker: Some(ForeignKey::new(999)) };
        let e = errors_of(ghost.full_clean(&db));
        assert_eq!(e.get("maker"), ["careful instance with id 999 does not exist."]);
        // The model's clean hook, under __all__ and under a field.
        let reserved = Part { id: Auto::unset(), code: "X".into(), qty: 3, maker: None };
        let e = errors_of(reserved.full_clean(&db));
        assert_eq!(e.get(orm::NON_FIELD_ERRORS), ["The code X is reserved."]);
        assert_eq!(e.get("qty"), ["A part made by nobody has no stock."]);
        // A check constraint, evaluated by the database on the instance's values.
        let negative = Part { id: Auto::unset(), code: "N".into(), qty: -1, maker: Some(ForeignKey::to(&maker)?) };
        let e = errors_of(negative.full_clean(&db));
        assert_eq!(e.get(orm::NON_FIELD_ERRORS), ["Constraint “writes_part_qty_nonneg” is violated."]);
        // exclude: no message about the field, no set or check involving it.
        negative.full_clean_excluding(&db, &["qty"])?;
        dup.full_clean_excluding(&db, &["code"])?;
        // The saved instance itself is not a duplicate of itself.
        Part::objects().filter(Part::code().eq("A1")).get(&db)?.full_clean(&db)?;
        Ok(())
    }
}

backend_test! {
    fn an_explicit_key_is_probed_for_uniqueness(t: &TestDb) {
        // A new instance (ModelState.adding) whose hand-chosen key is taken: Django's
        // `Account with this Code already exists.`; the loaded row is no clash with itself.
        let db = db_of(t);
        Schema::new().model::<Account>().create_all(&db)?;
        Account { code: "acc-1".into(), balance: Cents(5), state: ModelState::default() }.create(&db)?;
        let fresh = Account { code: "acc-1".into(), balance: Cents(7), state: ModelState::default() };
        let e = errors_of(fresh.full_clean(&db));
        assert_eq!(e.get("code"), ["Account with this Code already exists."]);
        Account::objects().get_pk("acc-1", &db)?.full_clean(&db)?;
        Ok(())
    }
}

backend_test! {
    fn email_url_and_slug_fields_are_validated(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Contact>().create_all(&db)?;
        let good = Contact { id: Auto::unset(), email: "ann@example.com".into(), site: Some("https://example.com/".into()), slug: "ann-1".into() };
        good.full_clean(&db)?;
        Contact { site: None, ..good.clone() }.full_clean(&db)?;
        let bad = Contact { id: Auto::unset(), email: "ann@".into(), site: Some("example.com".into()), slug: "not a slug".into() };
        let e = errors_of(bad.full_clean(&db));
        assert_eq!(e.get("email"), ["Enter a valid email address."]);
        assert_eq!(e.get("site"), ["Enter a valid URL."]);
        assert_eq!(e.get("slug"), ["Enter a valid “slug” consisting of letters, numbers, underscores or hyphens."]);
        Ok(())
    }
}
