//! Inheritance: table layout per kind, multi-table save/get/filter/order/delete over three
//! levels, downcasts, proxies (ordering, default filter, proxy of a proxy).

use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;

fn schema() -> Schema {
    Schema::new()
        .model::<Place>()
        .model::<Restaurant>()
        .model::<Pizzeria>()
        .model::<PlaceByName>()
        .model::<OpenPlace>()
        .model::<Comment>()
}

fn place(name: &str, open: bool) -> Place {
    Place { id: Auto::unset(), name: name.into(), open }
}

fn pizzeria(name: &str, seats: i32, oven: &str) -> Pizzeria {
    Pizzeria { restaurant: Restaurant { place: place(name, true), serves_pizza: true, seats }, oven: oven.into() }
}

backend_test! {
    fn one_table_per_concrete_model(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut conn = db.pool().get()?;
        let tables = orm_backends::schema::table_names(&mut *conn)?;
        for want in ["inh_place", "inh_restaurant", "inh_pizzeria", "blog_comment"] {
            assert!(tables.contains(&want.to_owned()), "{want} in {tables:?}");
        }
        assert!(!tables.iter().any(|t| t.contains("by_name") || t.contains("open_place") || t.contains("stamped")), "no table for proxies or abstract bases: {tables:?}");
        let r = orm_backends::schema::introspect_table(&mut *conn, "inh_restaurant")?.expect("exists");
        let cols: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(cols, ["place_ptr_id", "serves_pizza", "seats"]);
        assert_eq!(r.primary_key, ["place_ptr_id"]);
        assert_eq!(r.foreign_keys[0].ref_table, "inh_place");
        let p = orm_backends::schema::introspect_table(&mut *conn, "inh_pizzeria")?.expect("exists");
        assert_eq!(p.primary_key, ["restaurant_ptr_id"]);
        assert_eq!(p.foreign_keys[0].ref_table, "inh_restaurant");
        Ok(())
    }
}

backend_test! {
    fn multi_table_children_over_three_levels(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        place("Just a park", true).create(&db)?;
        let mut luigi = Restaurant { place: place("Luigi's", true), serves_pizza: true, seats: 40 };
        luigi.save(&db)?;
        assert!(luigi.place.id.is_set(), "the parent row was inserted first");
        let mut napoli = pizzeria("Napoli", 25, "wood");
        napoli.save(&db)?;
        let key = napoli.restaurant.place.id.get().unwrap();
        // Reading a child joins its parents in one query.
        let capture = db.capture_queries();
        let back = Pizzeria::objects().get_pk(key, &db)?;
        assert_eq!(capture.len(), 1);
        drop(capture);
        assert_eq!(back, napoli);
        assert_eq!(back.name, "Napoli", "parent fields through Deref");
        // Filters, ordering and values on parent fields.
        let named: Vec<String> = Restaurant::objects().filter(Q::path("name__startswith", "N")?).values(["name"]).fetch_flat(&db)?;
        assert_eq!(named, ["Napoli"]);
        let by_name: Vec<String> = Restaurant::objects().order_by(["-name"]).values(["name", "seats"]).fetch_lists(&db)?.into_iter().map(|r| r[0].get::<String>().unwrap()).collect();
        assert_eq!(by_name, ["Napoli", "Luigi's"]);
        assert_eq!(Pizzeria::objects().filter(Q::path("seats__lt", 30)? & Q::path("open", true)?).count(&db)?, 1);
        // The parent's typed handles on the child (and the grandparent's, one level at a time).
        let typed = Pizzeria::objects()
            .filter(Restaurant::seats().on::<Pizzeria>().lt(30) & Place::open().on::<Restaurant>().on::<Pizzeria>().eq(true))
            .order_by([Place::name().on::<Restaurant>().on::<Pizzeria>().desc()])
            .count(&db)?;
        assert_eq!(typed, 1);
        let total = Restaurant::objects().aggregate([("total_seats", orm::Sum::of("seats")), ("n", orm::Count::of("name"))], &db)?;
        assert_eq!(total.get::<i64>(0)?, 65);
        // Updating a child updates both rows.
        napoli.restaurant.place.name = "Napoli II".into();
        napoli.oven = "gas".into();
        napoli.save(&db)?;
        let again = Pizzeria::objects().get_pk(key, &db)?;
        assert_eq!((again.name.as_str(), again.oven.as_str()), ("Napoli II", "gas"));
        assert_eq!(Place::objects().count(&db)?, 3, "an update inserts no parent row");
        // Downcasts from the parent.
        let p = Place::objects().get_pk(key, &db)?;
        assert_eq!(p.restaurant(&db)?.map(|r| r.seats), Some(25));
        assert_eq!(p.restaurant(&db)?.unwrap().pizzeria(&db)?.map(|z| z.oven), Some("gas".to_owned()));
        let park = Place::objects().filter(Place::name().eq("Just a park")).get(&db)?;
        assert!(park.restaurant(&db)?.is_none());
        // Deleting a child deletes its parent rows; deleting a parent deletes its children.
        let mut gone = Pizzeria::objects().get_pk(key, &db)?;
        gone.delete(&db)?;
        assert_eq!(Place::objects().filter(Place::id().eq(key)).count(&db)?, 0);
        assert_eq!(Restaurant::objects().count(&db)?, 1);
        let mut luigi_place = Place::objects().get_pk(luigi.place.id.get().unwrap(), &db)?;
        luigi_place.delete(&db)?;
        assert_eq!(Restaurant::objects().count(&db)?, 0, "the child row went with its parent");
        // A QuerySet delete on a child takes the parent rows too.
        pizzeria("A", 1, "x").save(&db)?;
        pizzeria("B", 2, "y").save(&db)?;
        assert_eq!(Pizzeria::objects().filter(Q::path("name", "A")?).delete(&db)?, 3, "a row on each level");
        assert_eq!(Place::objects().filter(Place::name().eq("A")).count(&db)?, 0);
        assert_eq!(Restaurant::objects().count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn proxies_share_the_table_and_change_behaviour(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        for (n, open) in [("b", true), ("a", false), ("c", true)] {
            place(n, open).create(&db)?;
        }
        let by_name: Vec<String> = PlaceByName::objects().fetch(&db)?.into_iter().map(|p| p.place.name).collect();
        assert_eq!(by_name, ["c", "b", "a"], "the proxy's own ordering");
        let plain: Vec<String> = Place::objects().fetch(&db)?.into_iter().map(|p| p.name).collect();
        assert_eq!(plain, ["b", "a", "c"]);
        let loud = PlaceByName::objects().first(&db)?.unwrap();
        assert_eq!(loud.shout(), "C");
        let open: Vec<String> = OpenPlace::objects().fetch(&db)?.into_iter().map(|p| p.by_name.place.name).collect();
        assert_eq!(open, ["c", "b"], "a proxy of a proxy: its default filter, its parent's ordering");
        // Saving through a proxy writes the shared table.
        let mut p = PlaceByName { place: place("z", true) };
        p.save(&db)?;
        assert_eq!(Place::objects().filter(Place::name().eq("z")).count(&db)?, 1);
        assert_eq!(PlaceByName::meta().table, Place::meta().table);
        assert!(!PlaceByName::meta().has_table());
        Ok(())
    }
}
