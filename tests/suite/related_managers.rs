//! Related managers and one-to-one accessors as Django's (tests/one_to_one,
//! tests/many_to_many, tests/m2m_through): the reverse one-to-one accessor of an unsaved
//! instance, its cache on the instance, and the forward cache kept when the same key is
//! assigned again.

use orm::prelude::*;
use orm::ReverseOne;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::db_of;

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

// Item 9: many-to-many managers.

use orm_tests::{Article, Club, Country, Label, Membership, Person, Remark, Writer};

/// A through model with a default and a nullable column: `Band` *─* `Musician` via `Gig`.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "o2o")]
pub struct Musician {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "o2o")]
pub struct Band {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
    #[orm(through = Gig, related_name = "bands")]
    pub members: ManyToMany<Musician>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "o2o", unique_together = [["band", "musician"]])]
pub struct Gig {
    pub id: Auto<i64>,
    #[orm(related_name = "gigs")]
    pub band: ForeignKey<Band>,
    #[orm(related_name = "gigs")]
    pub musician: ForeignKey<Musician>,
    #[orm(max_length = 20, default = "guest")]
    pub role: String,
    #[orm(max_length = 20)]
    pub note: Option<String>,
}

fn m2m_schema(db: &Database) -> orm::Result<()> {
    Schema::new()
        .model::<Country>()
        .model::<Writer>()
        .model::<Label>()
        .model::<Article>()
        .model::<Remark>()
        .model::<Person>()
        .model::<Club>()
        .model::<Membership>()
        .model::<Musician>()
        .model::<Band>()
        .model::<Gig>()
        .create_all(db)
}

fn article(db: &Database) -> orm::Result<(Article, Label, Label, Label)> {
    let wr = Writer { id: Auto::unset(), name: "w".into(), country: None, articles: Default::default() }.create(db)?;
    let art = Article {
        id: Auto::unset(),
        title: "t".into(),
        writer: ForeignKey::to(&wr)?,
        rating: 0,
        labels: Default::default(),
        remarks: Default::default(),
    }
    .create(db)?;
    let mk = |n: &str| Label { id: Auto::unset(), name: n.into(), articles: Default::default() }.create(db);
    Ok((art, mk("a")?, mk("b")?, mk("c")?))
}

backend_test! {
    fn related_managers_refuse_values_of_the_wrong_type_before_any_sql(t: &TestDb) {
        let db = db_of(t);
        m2m_schema(&db)?;
        let (art, a, _, _) = article(&db)?;
        let capture = db.capture_queries();
        let check = |e: orm::Error| match e {
            orm::Error::TypeError(m) => assert_eq!(m, "Field 'id' expected a number but got 'x'."),
            other => panic!("expected TypeError, got {other:?}"),
        };
        check(art.labels().add(["x"], &db).unwrap_err());
        check(art.labels().remove(["x"], &db).unwrap_err());
        check(art.labels().set(["x"], &db).unwrap_err());
        check(a.articles().add(["x"], &db).unwrap_err());
        assert!(capture.queries().is_empty(), "no SQL: {:?}", capture.queries());
        drop(capture);
        // A number written as text is the key it spells (Django's get_prep_value).
        let id = a.id.get().unwrap().to_string();
        assert_eq!(art.labels().add([id.as_str()], &db)?, 1);
        assert_eq!(art.labels().count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn add_of_partly_linked_objects_is_one_query_and_set_compares_by_value(t: &TestDb) {
        let db = db_of(t);
        m2m_schema(&db)?;
        let (art, a, b, c) = article(&db)?;
        art.labels().add([&a], &db)?;
        // Django's test_add_existing_different_type / one INSERT ... ignoring conflicts.
        let capture = db.capture_queries();
        assert_eq!(art.labels().add([&a, &b], &db)?, 1, "only b is new");
        let sql: Vec<String> = capture.queries().into_iter().map(|q| q.sql).collect();
        assert_eq!(sql.len(), 1, "{sql:?}");
        assert!(sql[0].starts_with("INSERT"), "{sql:?}");
        capture.clear();
        // set() with the same keys in other forms changes nothing.
        let (ia, ib) = (a.id.get().unwrap(), b.id.get().unwrap());
        art.labels().set([orm::Value::Int(ia), orm::Value::Text(ib.to_string())], &db)?;
        let writes: Vec<String> = capture.queries().into_iter().map(|q| q.sql).filter(|s| s.starts_with("INSERT") || s.starts_with("DELETE")).collect();
        assert!(writes.is_empty(), "{writes:?}");
        art.labels().set([ib, c.id.get().unwrap()], &db)?;
        let mut names: Vec<String> = art.labels().all().fetch(&db)?.into_iter().map(|l| l.name).collect();
        names.sort();
        assert_eq!(names, ["b", "c"]);
        // With an m2m_changed receiver, Django reads the existing pairs first (to send the
        // keys really added): still exact.
        db.signals().m2m_changed::<Article>().connect(|_| Ok(()));
        assert_eq!(art.labels().add([&a, &b], &db)?, 1);
        assert_eq!(art.labels().count(&db)?, 3);
        Ok(())
    }
}

backend_test! {
    fn count_and_exists_read_only_the_link_table(t: &TestDb) {
        let db = db_of(t);
        m2m_schema(&db)?;
        let (art, a, b, _) = article(&db)?;
        assert!(!art.labels().exists(&db)?);
        art.labels().add([&a, &b], &db)?;
        let capture = db.capture_queries();
        assert_eq!(art.labels().count(&db)?, 2);
        assert!(art.labels().exists(&db)?);
        assert_eq!(a.articles().count(&db)?, 1, "from the other side");
        for q in capture.queries() {
            assert!(!q.sql.contains(&format!("\"{}\"", Label::meta().table)) && !q.sql.contains(&format!("`{}`", Label::meta().table)), "{}", q.sql);
            assert!(!q.sql.contains("JOIN"), "{}", q.sql);
        }
        assert_eq!(capture.queries().len(), 3);
        Ok(())
    }
}

backend_test! {
    fn through_models_are_filled_from_defaults_and_through_defaults(t: &TestDb) {
        // Django's m2m_through tests: test_add_on_m2m_with_intermediate_model_value_required,
        // test_create_on_m2m_with_intermediate_model, test_set_on_m2m_with_intermediate_model.
        let db = db_of(t);
        m2m_schema(&db)?;
        let club = Club { id: Auto::unset(), name: "c".into(), members: Default::default() }.create(&db)?;
        let ann = Person { id: Auto::unset(), name: "ann".into() }.create(&db)?;
        // Membership.role has no default: refused before any SQL.
        let capture = db.capture_queries();
        match club.members().add([&ann], &db) {
            Err(orm::Error::FieldError { message }) => {
                assert_eq!(message, "rel.Membership.role has no default: give it in through_defaults")
            }
            other => panic!("expected FieldError, got {other:?}"),
        }
        assert!(capture.queries().is_empty());
        drop(capture);
        club.members().add_with([&ann], &[("role", "chair".into())], &db)?;
        let m = Membership::objects().get(&db)?;
        assert_eq!(m.role, "chair");
        let bob = club.members().create(Person { id: Auto::unset(), name: "bob".into() }, &[("role", "treasurer".into())], &db)?;
        assert!(bob.id.is_set());
        assert_eq!(Membership::objects().filter(Membership::person().eq(bob.id.get().unwrap())).get(&db)?.role, "treasurer");
        assert!(matches!(club.members().add_with([&ann], &[("nope", 1.into())], &db), Err(orm::Error::FieldError { .. })));
        // Defaults and NULLs fill what is not given.
        let band = Band { id: Auto::unset(), name: "b".into(), members: Default::default() }.create(&db)?;
        let (m1, m2) = (
            Musician { id: Auto::unset(), name: "m1".into() }.create(&db)?,
            Musician { id: Auto::unset(), name: "m2".into() }.create(&db)?,
        );
        band.members().add([&m1], &db)?;
        band.members().set_with([&m1, &m2], &[("note", "new".into())], &db)?;
        let mut gigs: Vec<(String, String, Option<String>)> = Gig::objects().fetch(&db)?.into_iter().map(|g| {
            let who = if *g.musician.key() == m1.id.get().unwrap() { "m1" } else { "m2" };
            (who.to_owned(), g.role, g.note)
        }).collect();
        gigs.sort();
        assert_eq!(gigs, [("m1".into(), "guest".into(), None), ("m2".into(), "guest".into(), Some("new".into()))]);
        assert_eq!(band.members().count(&db)?, 2);
        Ok(())
    }
}

backend_test! {
    fn ordering_a_manager_by_a_through_field_reuses_its_join(t: &TestDb) {
        // Django's m2m_through test_order_by_relational_field_through_model: the manager's
        // join through Membership serves the ordering too (one join, one row per member).
        let db = db_of(t);
        m2m_schema(&db)?;
        let club = Club { id: Auto::unset(), name: "c".into(), members: Default::default() }.create(&db)?;
        let other = Club { id: Auto::unset(), name: "o".into(), members: Default::default() }.create(&db)?;
        let ann = Person { id: Auto::unset(), name: "ann".into() }.create(&db)?;
        let bob = Person { id: Auto::unset(), name: "bob".into() }.create(&db)?;
        club.members().add_with([&ann], &[("role", "z-treasurer".into())], &db)?;
        club.members().add_with([&bob], &[("role", "a-chair".into())], &db)?;
        other.members().add_with([&ann], &[("role", "a-first".into())], &db)?;
        let qs = club.members().all().order_by(["memberships__role"]);
        let (sql, _) = qs.to_sql(db.dialect())?;
        assert_eq!(sql.matches("JOIN").count(), 2, "the through table joined once: {sql}");
        let names: Vec<String> = qs.fetch(&db)?.into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["bob", "ann"], "ordered by this club's roles, one row each");
        Ok(())
    }
}
