//! `related_query_name` as Django's (tests/model_fields, tests/foreign_object, the
//! `related_query_name` examples of the model reference): lookups from the target use the
//! query name, `prefetch_related` and `Reverse` fields use the accessor (`related_name`), and
//! the related name stops being a lookup once a query name is given. Placeholders expand per
//! concrete child of an abstract base.

use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::db_of;

/// The target of every relation here.
#[derive(Model, Debug, Clone)]
#[orm(app = "rqn", ordering = ["name"])]
pub struct Shelf {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
    /// Filled by `prefetch_related(["volumes"])`: the accessor is `related_name`.
    pub volumes: orm::Reverse<Volume>,
}

/// A foreign key with both names.
#[derive(Model, Debug, Clone)]
#[orm(app = "rqn", ordering = ["title"])]
pub struct Volume {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub title: String,
    #[orm(related_name = "volumes", related_query_name = "volume")]
    pub shelf: ForeignKey<Shelf>,
}

/// A many-to-many with a query name only: the accessor stays Django's default.
#[derive(Model, Debug, Clone)]
#[orm(app = "rqn", ordering = ["name"])]
pub struct Sign {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
    #[orm(related_query_name = "sign")]
    pub shelves: ManyToMany<Shelf>,
}

/// Django's abstract base with `related_query_name="%(app_label)s_%(class)ss"`.
#[derive(Model, Debug, Clone)]
#[orm(abstract)]
pub struct Marker {
    #[orm(on_delete = Cascade, related_name = "%(class)s_markers", related_query_name = "%(app_label)s_%(class)ss")]
    pub shelf: ForeignKey<Shelf>,
    #[orm(max_length = 20)]
    pub note: String,
}

/// One child of `Marker`.
#[derive(Model, Debug, Clone)]
#[orm(app = "rqn")]
pub struct Pin {
    pub id: Auto<i64>,
    #[orm(base)]
    pub marker: Marker,
}

/// Another child of `Marker`.
#[derive(Model, Debug, Clone)]
#[orm(app = "rqn")]
pub struct Flag {
    pub id: Auto<i64>,
    #[orm(base)]
    pub marker: Marker,
}

fn setup(db: &Database) -> orm::Result<(Shelf, Shelf)> {
    Schema::new().model::<Shelf>().model::<Volume>().model::<Sign>().model::<Pin>().model::<Flag>().create_all(db)?;
    let shelf = |name: &str| Shelf { id: Auto::unset(), name: name.into(), volumes: Default::default() }.create(db);
    let (a, b) = (shelf("a")?, shelf("b")?);
    for (title, s) in [("emma", &a), ("persuasion", &a), ("ulysses", &b)] {
        Volume { id: Auto::unset(), title: title.into(), shelf: ForeignKey::to(s)? }.create(db)?;
    }
    let sign = Sign { id: Auto::unset(), name: "fiction".into(), shelves: Default::default() }.create(db)?;
    sign.shelves().add([b.id.get().unwrap()], db)?;
    let marker =
        |s: &Shelf, note: &str| -> orm::Result<Marker> { Ok(Marker { shelf: ForeignKey::to(s)?, note: note.into() }) };
    Pin { id: Auto::unset(), marker: marker(&a, "pinned")? }.create(db)?;
    Flag { id: Auto::unset(), marker: marker(&b, "flagged")? }.create(db)?;
    Ok((a, b))
}

fn names(db: &Database, qs: orm::QuerySet<Shelf>) -> orm::Result<Vec<String>> {
    Ok(qs.fetch(db)?.into_iter().map(|s| s.name).collect())
}

backend_test! {
    fn lookups_use_the_query_name_and_prefetch_the_accessor(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        assert_eq!(names(&db, Shelf::objects().filter(Q::path("volume__title", "ulysses")?))?, ["b"]);
        assert_eq!(names(&db, Shelf::objects().filter(Q::path("volume__title__startswith", "p")?).distinct())?, ["a"]);
        assert_eq!(names(&db, Shelf::objects().filter(Q::path("sign__name", "fiction")?))?, ["b"]);
        // Once a query name is given, the related name is no lookup (Django: FieldError
        // "Cannot resolve keyword 'volumes' into field").
        let err = Shelf::objects().filter(Q::path("volumes__title", "emma")?).fetch(&db).unwrap_err();
        match &err {
            orm::Error::FieldError { message: m } => {
                assert!(m.contains("'volumes'") && m.contains("volume"), "{m}");
            }
            other => panic!("expected FieldError, got {other:?}"),
        }
        // The accessor: `prefetch_related` by the related name fills the `Reverse` field.
        let shelves = Shelf::objects().prefetch_related(["volumes"]).fetch(&db)?;
        let titles: Vec<Vec<String>> = shelves
            .iter()
            .map(|s| s.volumes.cached().expect("prefetched").iter().map(|v| v.title.clone()).collect())
            .collect();
        assert_eq!(titles, [vec!["emma", "persuasion"], vec!["ulysses"]]);
        Ok(())
    }
}

backend_test! {
    fn placeholders_in_the_query_name_expand_per_child(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        assert_eq!(names(&db, Shelf::objects().filter(Q::path("rqn_pins__note", "pinned")?))?, ["a"]);
        assert_eq!(names(&db, Shelf::objects().filter(Q::path("rqn_flags__note", "flagged")?))?, ["b"]);
        assert!(matches!(
            Shelf::objects().filter(Q::path("%(app_label)s_%(class)ss__note", "pinned")?).fetch(&db),
            Err(orm::Error::FieldError { .. })
        ));
        Ok(())
    }
}
