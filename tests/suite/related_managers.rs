//! Related managers and one-to-one accessors as Django's (tests/one_to_one,
//! tests/many_to_many, tests/m2m_through): the reverse one-to-one accessor of an unsaved
//! instance, its cache on the instance, and the forward cache kept when the same key is
//! assigned again.

use orm::prelude::*;
use orm::ReverseOne;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;

fn db_of(t: &TestDb) -> Database {
    Database::from_pool((**t).clone())
}

/// Django's one_to_one models: `Place` ← `Restaurant.place` (one-to-one) and
/// `UndergroundBar.place` (nullable one-to-one); `Place` caches both reverse sides.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "o2o")]
pub struct Place {
    pub id: Auto<i64>,
    #[orm(max_length = 50)]
    pub name: String,
    pub restaurant: ReverseOne<Restaurant>,
    pub bar: ReverseOne<UndergroundBar>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "o2o")]
pub struct Restaurant {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "restaurant")]
    pub place: OneToOne<Place>,
    pub serves_pizza: bool,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "o2o")]
pub struct UndergroundBar {
    pub id: Auto<i64>,
    #[orm(on_delete = SetNull, related_name = "bar")]
    pub place: Option<OneToOne<Place>>,
    pub serves_cocktails: bool,
}

fn schema(db: &Database) -> orm::Result<()> {
    Schema::new().model::<Place>().model::<Restaurant>().model::<UndergroundBar>().create_all(db)
}

fn place(name: &str) -> Place {
    Place { id: Auto::unset(), name: name.into(), restaurant: ReverseOne::new(), bar: ReverseOne::new() }
}

backend_test! {
    fn reverse_one_to_one_of_an_unsaved_instance_is_does_not_exist_without_a_query(t: &TestDb) {
        // Django's test_get_reverse_on_unsaved_object: a bar with no place exists, so a
        // `place_id IS NULL` query would find it; the accessor must not run one.
        let db = db_of(t);
        schema(&db)?;
        UndergroundBar { id: Auto::unset(), place: None, serves_cocktails: true }.create(&db)?;
        let unsaved = place("nowhere");
        let capture = db.capture_queries();
        match unsaved.bar(&db) {
            Err(orm::Error::DoesNotExist { model }) => assert_eq!(model, "o2o.UndergroundBar"),
            other => panic!("expected DoesNotExist, got {other:?}"),
        }
        assert!(matches!(unsaved.restaurant(&db), Err(orm::Error::DoesNotExist { .. })));
        assert!(capture.queries().is_empty(), "no query: {:?}", capture.queries());
        Ok(())
    }
}

backend_test! {
    fn reverse_one_to_one_is_cached_on_the_instance(t: &TestDb) {
        // Django's test_reverse_object_cache / test_reverse_object_does_not_exist_cache.
        let db = db_of(t);
        schema(&db)?;
        let p1 = place("Demon Dogs").create(&db)?;
        let r1 = Restaurant { id: Auto::unset(), place: OneToOne::to(&p1)?, serves_pizza: true }.create(&db)?;
        let p = Place::objects().get_pk(p1.id.get().unwrap(), &db)?;
        assert!(!p.restaurant.is_cached());
        let capture = db.capture_queries();
        assert_eq!(p.restaurant(&db)?.map(|r| r.id), Some(r1.id));
        assert_eq!(capture.queries().len(), 1);
        assert_eq!(p.restaurant(&db)?.map(|r| r.id), Some(r1.id));
        assert_eq!(capture.queries().len(), 1, "the second read is served from the instance");
        // "There is none" is cached too.
        assert_eq!(p.bar(&db)?, None);
        assert_eq!(p.bar(&db)?, None);
        assert_eq!(capture.queries().len(), 2);
        // A fresh instance asks again; clearing the cache asks again.
        p.restaurant.clear();
        assert!(p.restaurant(&db)?.is_some());
        assert_eq!(capture.queries().len(), 3);
        Ok(())
    }
}

backend_test! {
    fn assigning_the_same_key_keeps_the_forward_cache(t: &TestDb) {
        // Django's test_assign_o2o_id_value.
        let db = db_of(t);
        schema(&db)?;
        let p1 = place("p1").create(&db)?;
        let p2 = place("p2").create(&db)?;
        let mut b = UndergroundBar { id: Auto::unset(), place: Some(OneToOne::to(&p1)?), serves_cocktails: false }.create(&db)?;
        let rel = b.place.as_mut().expect("set");
        assert!(rel.cached().is_some());
        rel.set_key(p2.id.get().unwrap());
        assert!(rel.cached().is_none(), "another key drops the cached object");
        rel.set_cached(p2.clone());
        rel.set_key(p2.id.get().unwrap());
        assert_eq!(rel.cached().map(|p| p.name.as_str()), Some("p2"), "the same key keeps it");
        b.save(&db)?;
        assert_eq!(*UndergroundBar::objects().get_pk(b.id.get().unwrap(), &db)?.place.expect("set").key(), p2.id.get().unwrap());
        Ok(())
    }
}

backend_test! {
    fn select_related_follows_reverse_one_to_one_and_lists_it_among_the_choices(t: &TestDb) {
        let db = db_of(t);
        schema(&db)?;
        let p1 = place("with").create(&db)?;
        place("without").create(&db)?;
        Restaurant { id: Auto::unset(), place: OneToOne::to(&p1)?, serves_pizza: true }.create(&db)?;
        let capture = db.capture_queries();
        let places = Place::objects().select_related(["restaurant", "bar"]).order_by(["name"]).fetch(&db)?;
        assert_eq!(capture.queries().len(), 1, "one query with the joins");
        assert_eq!(places.len(), 2, "a LEFT JOIN keeps places without a restaurant");
        assert!(places[0].restaurant(&db)?.is_some_and(|r| r.serves_pizza));
        assert_eq!(places[0].bar(&db)?, None);
        assert_eq!(places[1].restaurant(&db)?, None, "none is cached too");
        assert_eq!(capture.queries().len(), 1, "every accessor answered from the instance");
        // Forward and reverse, nested: restaurant -> place -> bar.
        let r = Restaurant::objects().select_related(["place__bar"]).get(&db)?;
        let p = r.place.cached().expect("selected");
        assert_eq!(p.name, "with");
        assert!(p.bar.is_cached());
        assert_eq!(capture.queries().len(), 2);
        // Django's messages, the reverse one-to-one relations among the choices.
        match Place::objects().select_related(["nope"]).fetch(&db) {
            Err(orm::Error::FieldError { message }) => assert_eq!(
                message,
                "Invalid field name(s) given in select_related: 'nope'. Choices are: restaurant, bar"
                    .replace("restaurant, bar", &choices(&message)),
            ),
            other => panic!("expected FieldError, got {other:?}"),
        }
        match Restaurant::objects().select_related(["serves_pizza"]).fetch(&db) {
            Err(orm::Error::FieldError { message }) => assert_eq!(
                message,
                "Non-relational field given in select_related: 'serves_pizza'. Choices are: place"
            ),
            other => panic!("expected FieldError, got {other:?}"),
        }
        Ok(())
    }
}

/// The choices of a select_related message, checked to be Place's two reverse one-to-ones
/// in whichever order the registry lists them.
fn choices(message: &str) -> String {
    let list = message.rsplit("Choices are: ").next().unwrap_or_default().to_owned();
    let mut got: Vec<&str> = list.split(", ").collect();
    got.sort();
    assert_eq!(got, ["bar", "restaurant"], "{message}");
    list
}
