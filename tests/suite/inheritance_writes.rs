//! Multi-table inheritance writes as Django's (tests/model_inheritance,
//! tests/model_inheritance_regress, tests/update): `update()` of ancestor fields, `save`
//! with ancestor `update_fields`, a child created over an existing parent row (also one
//! with no fields of its own), and walking from a child to its parent for free.

use orm::prelude::*;
use orm::Assignment;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::db_of;
use orm_tests::{Pizzeria, Place, Restaurant};

/// A parent and a child with no field of its own (Django's `ParkingLot4`-like models).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhw")]
pub struct Venue {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhw")]
pub struct Landmark {
    #[orm(parent)]
    pub venue: Venue,
}

/// A relation declared on a parent: `Outlet.brand`, read from `Stand` (a child) and
/// `MiniStand` (a grandchild).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhw")]
pub struct Brand {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhw")]
pub struct Outlet {
    pub id: Auto<i64>,
    #[orm(related_name = "outlets")]
    pub brand: ForeignKey<Brand>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhw")]
pub struct Stand {
    #[orm(parent)]
    pub outlet: Outlet,
    pub stools: i32,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhw")]
pub struct MiniStand {
    #[orm(parent)]
    pub stand: Stand,
    pub wheels: bool,
}

fn schema(db: &Database) -> orm::Result<()> {
    Schema::new()
        .model::<Place>()
        .model::<Restaurant>()
        .model::<Pizzeria>()
        .model::<Venue>()
        .model::<Landmark>()
        .model::<Brand>()
        .model::<Outlet>()
        .model::<Stand>()
        .model::<MiniStand>()
        .create_all(db)
}

fn pizzeria(name: &str, seats: i32) -> Pizzeria {
    Pizzeria {
        restaurant: Restaurant {
            place: Place { id: Auto::unset(), name: name.into(), open: true },
            serves_pizza: true,
            seats,
        },
        oven: "wood".into(),
    }
}

fn sql_of(capture: &orm::QueryCapture) -> Vec<String> {
    capture.queries().into_iter().map(|q| q.sql).collect()
}

backend_test! {
    fn update_sets_fields_of_every_ancestor_one_statement_per_table(t: &TestDb) {
        // Django's update tests: test_update_parent_fields / model_inheritance_regress
        // test_inherited_fields update.
        let db = db_of(t);
        schema(&db)?;
        let mut a = pizzeria("a", 10);
        a.save(&db)?;
        let mut b = pizzeria("b", 20);
        b.save(&db)?;
        let other = Place { id: Auto::unset(), name: "other".into(), open: true }.create(&db)?;
        let capture = db.capture_queries();
        let n = Pizzeria::objects()
            .filter(Q::path("seats__gte", 15)?)
            .update([Assignment::new("name", "B!"), Assignment::new("open", false), Assignment::new("seats", 21), Assignment::new("oven", "gas")], &db)?;
        assert_eq!(n, 1);
        let sql = sql_of(&capture);
        let updates: Vec<&String> = sql.iter().filter(|s| s.starts_with("UPDATE")).collect();
        assert_eq!(updates.len(), 3, "one UPDATE per table: {sql:?}");
        drop(capture);
        let b2 = Pizzeria::objects().get_pk(b.restaurant.place.id.get().unwrap(), &db)?;
        assert_eq!((b2.name.as_str(), b2.open, b2.seats, b2.oven.as_str()), ("B!", false, 21, "gas"));
        let a2 = Pizzeria::objects().get_pk(a.restaurant.place.id.get().unwrap(), &db)?;
        assert_eq!((a2.name.as_str(), a2.seats), ("a", 10), "the other child is untouched");
        assert_eq!(Place::objects().get_pk(other.id.get().unwrap(), &db)?.name, "other", "the unrelated parent row too");
        // Only ancestors' fields: the child's table is not written; the count is the parent's.
        let capture = db.capture_queries();
        assert_eq!(Restaurant::objects().update([Assignment::new("open", true)], &db)?, 2);
        let sql = sql_of(&capture);
        assert!(sql.iter().all(|s| !s.starts_with("UPDATE") || s.contains(Place::meta().table)), "{sql:?}");
        drop(capture);
        assert_eq!(Place::objects().filter(Place::open().eq(true)).count(&db)?, 3);
        // An unknown field is still refused.
        assert!(matches!(Pizzeria::objects().update([Assignment::new("nope", 1)], &db), Err(orm::Error::FieldDoesNotExist { .. })));
        Ok(())
    }
}

backend_test! {
    fn save_with_update_fields_of_ancestors_touches_only_their_tables(t: &TestDb) {
        let db = db_of(t);
        schema(&db)?;
        let mut p = pizzeria("p", 5);
        p.save(&db)?;
        p.name = "renamed".into();
        p.seats = 99;
        p.oven = "coal".into();
        let capture = db.capture_queries();
        p.save_with(&db, &SaveOptions::update_fields(["name"]))?;
        let writes: Vec<String> = sql_of(&capture).into_iter().filter(|s| s.starts_with("UPDATE") || s.starts_with("INSERT")).collect();
        assert_eq!(writes.len(), 1, "{writes:?}");
        assert!(writes[0].contains(Place::meta().table), "{writes:?}");
        drop(capture);
        let got = Pizzeria::objects().get_pk(p.restaurant.place.id.get().unwrap(), &db)?;
        assert_eq!((got.name.as_str(), got.seats, got.oven.as_str()), ("renamed", 5, "wood"));
        // Fields of two levels and its own: three tables, each with its own fields only.
        p.save_with(&db, &SaveOptions::update_fields(["seats", "oven", "open"]))?;
        let got = Pizzeria::objects().get_pk(p.restaurant.place.id.get().unwrap(), &db)?;
        assert_eq!((got.seats, got.oven.as_str()), (99, "coal"));
        match p.save_with(&db, &SaveOptions::update_fields(["nope"])) {
            Err(orm::Error::FieldError { message }) => assert!(message.contains("nope"), "{message}"),
            other => panic!("expected FieldError, got {other:?}"),
        }
        Ok(())
    }
}

backend_test! {
    fn a_child_is_created_over_an_existing_parent_row(t: &TestDb) {
        // Django's model_inheritance test_create_child_no_update /
        // model_inheritance_regress test_issue_7105 / ParkingLot4 (a child with no fields).
        let db = db_of(t);
        schema(&db)?;
        let place = Place { id: Auto::unset(), name: "spot".into(), open: false }.create(&db)?;
        // A child with no fields of its own, over the existing row: its row is inserted.
        let venue = Venue { id: Auto::unset(), name: "v".into() }.create(&db)?;
        let mut mark = Landmark { venue: Venue::objects().get_pk(venue.id.get().unwrap(), &db)? };
        mark.save(&db)?;
        assert_eq!(Landmark::objects().count(&db)?, 1);
        mark.save(&db)?;
        assert_eq!(Landmark::objects().count(&db)?, 1, "saving again adds nothing");
        // skip_parents: the parent row is not written (its stale copy here is not saved).
        let mut stale = Place::objects().get_pk(place.id.get().unwrap(), &db)?;
        stale.name = "stale".into();
        let mut r = Restaurant { place: stale, serves_pizza: false, seats: 3 };
        let capture = db.capture_queries();
        r.save_with(&db, &SaveOptions { skip_parents: true, ..Default::default() })?;
        let writes: Vec<String> = sql_of(&capture).into_iter().filter(|s| s.starts_with("UPDATE") || s.starts_with("INSERT")).collect();
        assert!(writes.iter().all(|s| !s.contains(&format!("{}\"", Place::meta().table)) && !s.contains(&format!("{}`", Place::meta().table))), "{writes:?}");
        drop(capture);
        assert_eq!(Place::objects().get_pk(place.id.get().unwrap(), &db)?.name, "spot");
        let got = Restaurant::objects().get_pk(place.id.get().unwrap(), &db)?;
        assert_eq!((got.name.as_str(), got.seats), ("spot", 3));
        assert_eq!(Place::objects().count(&db)?, 1, "no second parent row");
        Ok(())
    }
}

backend_test! {
    fn walking_from_a_child_to_its_parent_costs_no_query(t: &TestDb) {
        let db = db_of(t);
        schema(&db)?;
        pizzeria("p", 1).save(&db)?;
        let p = Pizzeria::objects().get(&db)?;
        let capture = db.capture_queries();
        let restaurant: &Restaurant = &p.restaurant;
        let place: &Place = &restaurant.place;
        assert_eq!((place.name.as_str(), restaurant.seats, p.name.as_str()), ("p", 1, "p"));
        assert!(capture.queries().is_empty());
        Ok(())
    }
}

backend_test! {
    fn select_related_follows_relations_declared_on_ancestors(t: &TestDb) {
        let db = db_of(t);
        schema(&db)?;
        let brand = Brand { id: Auto::unset(), name: "acme".into() }.create(&db)?;
        let mut s = Stand { outlet: Outlet { id: Auto::unset(), brand: ForeignKey::to(&brand)? }, stools: 3 };
        s.save(&db)?;
        let mut m = MiniStand { stand: Stand { outlet: Outlet { id: Auto::unset(), brand: ForeignKey::to(&brand)? }, stools: 1 }, wheels: true };
        m.save(&db)?;
        let capture = db.capture_queries();
        let stands = Stand::objects().select_related(["brand"]).fetch(&db)?;
        assert_eq!(stands.len(), 2);
        assert!(stands.iter().all(|s| s.outlet.brand.cached().is_some_and(|b| b.name == "acme")));
        let minis = MiniStand::objects().select_related(["brand"]).fetch(&db)?;
        assert_eq!(minis[0].stand.outlet.brand.cached().map(|b| b.name.as_str()), Some("acme"));
        assert_eq!(capture.queries().len(), 2, "one query each, the brand joined");
        drop(capture);
        match Stand::objects().select_related(["nope"]).fetch(&db) {
            Err(orm::Error::FieldError { message }) => assert!(message.ends_with("Choices are: brand"), "{message}"),
            other => panic!("expected FieldError, got {other:?}"),
        }
        Ok(())
    }
}
