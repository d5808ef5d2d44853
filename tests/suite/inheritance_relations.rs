//! Relations across inheritance as Django's (tests/model_inheritance, tests/proxy_models):
//! a sibling branch's relation is a FieldError, a foreign key to a proxy is a reverse
//! relation of the concrete model, and a proxy inherits its parent's default manager and
//! ordering unless it declares its own.

use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::db_of;

/// `Site` ← `Shop`, `Depot` (siblings, multi-table).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhr")]
pub struct Site {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhr")]
pub struct Shop {
    #[orm(parent)]
    pub site: Site,
    pub tills: i32,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhr")]
pub struct Depot {
    #[orm(parent)]
    pub site: Site,
    pub capacity: i32,
}

fn active_owners() -> orm::QuerySet<Owner> {
    orm::QuerySet::new().filter(Owner::active().eq(true))
}

/// `Owner` (a manager showing active owners, ordered by name) ← proxies `OwnerProxy`
/// (nothing of its own) and `OwnerByNewest` (its own ordering); `Car.owner` points at
/// the proxy.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhr", ordering = ["name"], manager = active_owners)]
pub struct Owner {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
    pub active: bool,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhr", proxy)]
pub struct OwnerProxy {
    #[orm(parent)]
    pub owner: Owner,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhr", proxy, ordering = ["-id"])]
pub struct OwnerByNewest {
    #[orm(parent)]
    pub owner: Owner,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "inhr")]
pub struct Car {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub model: String,
    #[orm(on_delete = Cascade, related_name = "cars")]
    pub owner: ForeignKey<OwnerProxy>,
}

fn schema(db: &Database) -> orm::Result<()> {
    Schema::new()
        .model::<Site>()
        .model::<Shop>()
        .model::<Depot>()
        .model::<Owner>()
        .model::<OwnerProxy>()
        .model::<OwnerByNewest>()
        .model::<Car>()
        .create_all(db)
}

backend_test! {
    fn a_relation_of_a_sibling_branch_is_a_field_error(t: &TestDb) {
        // Django's test_reverse_relation_for_different_hierarchy_tree.
        let db = db_of(t);
        schema(&db)?;
        Shop { site: Site { id: Auto::unset(), name: "s".into() }, tills: 2 }.save(&db)?;
        Depot { site: Site { id: Auto::unset(), name: "d".into() }, capacity: 9 }.save(&db)?;
        // From the parent, the child's link is a relation.
        assert_eq!(Site::objects().filter(Q::path("depot__capacity", 9)?).count(&db)?, 1);
        assert_eq!(Site::objects().filter(Q::path("shop__tills", 9)?).count(&db)?, 0);
        // From a child, its sibling is not.
        match Shop::objects().filter(Q::path("depot__capacity", 9)?).count(&db) {
            Err(orm::Error::FieldError { message }) => {
                assert_eq!(message, "Cannot resolve keyword 'depot' into field. Choices are: id, name, site_ptr, site_ptr_id, tills")
            }
            other => panic!("expected FieldError, got {other:?}"),
        }
        assert!(matches!(Depot::objects().filter(Q::path("shop", 1)?).fetch(&db), Err(orm::Error::FieldError { .. })));
        // The parent's own fields still resolve from the child.
        assert_eq!(Shop::objects().filter(Q::path("name", "s")?).count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn a_foreign_key_to_a_proxy_is_a_reverse_relation_of_the_concrete_model(t: &TestDb) {
        // Django's proxy_models test_proxy_for_model / ProxyRelatedModelTest.
        let db = db_of(t);
        schema(&db)?;
        let mut ann = Owner { id: Auto::unset(), name: "ann".into(), active: true }.create(&db)?;
        let proxy = OwnerProxy::objects().get_pk(ann.id.get().unwrap(), &db)?;
        Car { id: Auto::unset(), model: "beetle".into(), owner: ForeignKey::to(&proxy)? }.create(&db)?;
        Owner { id: Auto::unset(), name: "bob".into(), active: true }.create(&db)?;
        let from_concrete: Vec<String> = Owner::objects().filter(Q::path("cars__model", "beetle")?).fetch(&db)?.into_iter().map(|o| o.name).collect();
        assert_eq!(from_concrete, ["ann"]);
        let from_proxy: Vec<String> = OwnerProxy::objects().filter(Q::path("cars__model", "beetle")?).fetch(&db)?.into_iter().map(|o| o.name.clone()).collect();
        assert_eq!(from_proxy, ["ann"]);
        assert_eq!(proxy.cars().count(&db)?, 1);
        // The deletion collector sees it too: deleting the owner cascades to the car.
        let deleted = ann.delete(&db)?;
        assert_eq!(deleted.of("inhr.Car"), 1);
        assert_eq!(Car::objects().count(&db)?, 0);
        Ok(())
    }
}

backend_test! {
    fn a_proxy_inherits_its_parents_default_manager_and_ordering(t: &TestDb) {
        // Django's proxy_models test_proxy_model_manager / test_inheritance_new_table and
        // the ordering tests (a proxy's own Meta.ordering wins).
        let db = db_of(t);
        schema(&db)?;
        for (name, active) in [("al", true), ("cy", true), ("bo", false)] {
            Owner { id: Auto::unset(), name: name.into(), active }.create(&db)?;
        }
        let names = |v: Vec<String>| v;
        assert_eq!(names(OwnerProxy::objects().fetch(&db)?.into_iter().map(|o| o.name.clone()).collect()), ["al", "cy"], "the parent's manager (active only) and ordering (name)");
        assert_eq!(names(OwnerByNewest::objects().fetch(&db)?.into_iter().map(|o| o.name.clone()).collect()), ["cy", "al"], "its own ordering (-id), the parent's manager");
        assert_eq!(OwnerProxy::meta().ordering, ["name"]);
        assert_eq!(OwnerByNewest::meta().ordering, ["-id"]);
        Ok(())
    }
}
