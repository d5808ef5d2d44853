//! A many-to-many declared on an abstract base (Django's tests/model_inheritance
//! `test_abstract_base_class_m2m_relation_inheritance`): each concrete child gets its own
//! link table and accessor, related names expanded per child, on three backends.

use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::db_of;

/// The target.
#[derive(Model, Debug, Clone)]
#[orm(app = "absm", ordering = ["name"])]
pub struct Topic {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
}

/// The abstract base with the many-to-many.
#[derive(Model, Debug, Clone)]
#[orm(abstract)]
pub struct Taggable {
    #[orm(max_length = 20)]
    pub title: String,
    #[orm(related_name = "%(class)s_items")]
    pub topics: ManyToMany<Topic>,
}

/// One child.
#[derive(Model, Debug, Clone)]
#[orm(app = "absm")]
pub struct Essay {
    pub id: Auto<i64>,
    #[orm(base)]
    pub tag: Taggable,
}

/// Another child.
#[derive(Model, Debug, Clone)]
#[orm(app = "absm")]
pub struct Poem {
    pub id: Auto<i64>,
    #[orm(base)]
    pub tag: Taggable,
    pub lines: i64,
}

fn taggable(title: &str) -> Taggable {
    Taggable { title: title.into(), topics: ManyToMany::new() }
}

backend_test! {
    fn each_child_has_its_own_link_table_and_accessor(t: &TestDb) {
        let db = db_of(t);
        // Each child's metadata holds the relation, with its own link table and columns.
        let (e, p) = (Essay::meta().many_to_many, Poem::meta().many_to_many);
        assert_eq!((e.len(), p.len()), (1, 1));
        assert_eq!((e[0].join_table, e[0].source_column), ("absm_essay_topics", "essay_id"));
        assert_eq!((p[0].join_table, p[0].source_column), ("absm_poem_topics", "poem_id"));
        assert_eq!((e[0].related_name, p[0].related_name), (Some("essay_items"), Some("poem_items")));
        Schema::new().model::<Topic>().model::<Essay>().model::<Poem>().create_all(&db)?;
        let topic = |name: &str| Topic { id: Auto::unset(), name: name.into() }.create(&db);
        let (rust, orm) = (topic("rust")?, topic("orm")?);
        let essay = NewEssay { tag: taggable("e1") }.create(&db)?;
        // The base's field is the cache `prefetch_related` would fill on a model's own field;
        // for a base's relation the accessor is by name.
        assert!(essay.tag.topics.cached().is_none());
        let poem = NewPoem { tag: taggable("p1"), lines: 14 }.create(&db)?;
        essay.many_to_many::<Topic>("topics")?.add([rust.id.get().unwrap(), orm.id.get().unwrap()], &db)?;
        poem.many_to_many::<Topic>("topics")?.add([orm.id.get().unwrap()], &db)?;
        let names = |qs: orm::QuerySet<Topic>| -> orm::Result<Vec<String>> { Ok(qs.fetch(&db)?.into_iter().map(|t| t.name).collect()) };
        assert_eq!(names(essay.many_to_many::<Topic>("topics")?.all())?, ["orm", "rust"]);
        assert_eq!(names(poem.many_to_many::<Topic>("topics")?.all())?, ["orm"]);
        assert_eq!(poem.many_to_many::<Topic>("topics")?.count(&db)?, 1);
        // Forward lookups from each child, reverse ones by the expanded names.
        assert_eq!(Essay::objects().filter(Q::path("topics__name", "rust")?).count(&db)?, 1);
        assert_eq!(Poem::objects().filter(Q::path("topics__name", "rust")?).count(&db)?, 0);
        assert_eq!(names(Topic::objects().filter(Q::path("poem_items__lines", 14)?))?, ["orm"]);
        assert_eq!(names(Topic::objects().filter(Q::path("essay_items__title", "e1")?))?, ["orm", "rust"]);
        // Removing from one child's table leaves the other's.
        essay.many_to_many::<Topic>("topics")?.remove([orm.id.get().unwrap()], &db)?;
        assert_eq!(names(essay.many_to_many::<Topic>("topics")?.all())?, ["rust"]);
        assert_eq!(names(poem.many_to_many::<Topic>("topics")?.all())?, ["orm"]);
        // Deleting a child removes its link rows (counted under its link table).
        let mut essay = essay;
        let deleted = essay.delete(&db)?;
        assert_eq!(deleted.total, 2, "{deleted:?}");
        assert_eq!(names(Topic::objects().filter(Q::path("poem_items__lines", 14)?))?, ["orm"]);
        Ok(())
    }
}

/// A concrete parent with a many-to-many, for the multi-table case.
#[derive(Model, Debug, Clone)]
#[orm(app = "absm")]
pub struct Venue {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
    pub topics: ManyToMany<Topic>,
}

/// A multi-table child of `Venue`.
#[derive(Model, Debug, Clone)]
#[orm(app = "absm")]
pub struct Theater {
    #[orm(parent)]
    pub venue: Venue,
    pub seats: i64,
}

backend_test! {
    fn the_by_name_accessor_of_a_childs_inherited_relation_names_the_child(t: &TestDb) {
        // Issue 16 item 8: m2m_changed from a multi-table child names the child as its
        // instance (Django's instance is the object the manager was called on).
        let db = db_of(t);
        Schema::new().model::<Topic>().model::<Venue>().model::<Theater>().create_all(&db)?;
        let topic = Topic { id: Auto::unset(), name: "drama".into() }.create(&db)?;
        let theater = Theater { venue: Venue { id: Auto::unset(), name: "globe".into(), topics: ManyToMany::new() }, seats: 500 }
            .create(&db)?;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        db.signals().m2m_changed::<Venue>().connect(move |e| {
            s.lock().unwrap().push(format!("{} {} on {}", e.action.name(), e.field, e.instance_model.name));
            Ok(())
        });
        theater.many_to_many::<Topic>("topics")?.add([topic.id.get().unwrap()], &db)?;
        assert_eq!(*seen.lock().unwrap(), ["pre_add topics on Theater", "post_add topics on Theater"]);
        assert_eq!(theater.many_to_many::<Topic>("topics")?.count(&db)?, 1);
        // Through the parent's generated accessor (reached through Deref) it is the parent.
        theater.topics().remove([topic.id.get().unwrap()], &db)?;
        assert_eq!(seen.lock().unwrap()[2], "pre_remove topics on Venue");
        // An unknown name, or the wrong target model, is a FieldError naming the choices.
        let Err(err) = theater.many_to_many::<Topic>("nope") else { panic!("an unknown name is refused") };
        assert!(matches!(&err, orm::Error::FieldError { message } if message.contains("Choices are: topics")), "{err:?}");
        assert!(matches!(theater.many_to_many::<Venue>("topics"), Err(orm::Error::FieldError { .. })));
        Ok(())
    }
}
