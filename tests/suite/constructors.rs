//! The derive's constructor (Django's `Post(title=…, author=…)`): `NewPost { required }`
//! fills every other field from its declaration and `create()` saves it, on three backends.
//! A missing required field is a compile error (orm-macros/tests/ui).

use chrono::{DateTime, Utc};
use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::db_of;

fn tagline() -> String {
    "fresh".into()
}

/// Django's `Author`.
#[derive(Model, Debug, Clone)]
#[orm(app = "ctor")]
pub struct CtorAuthor {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
    pub posts: Reverse<CtorPost>,
}

/// Every kind of field a constructor fills.
#[derive(Model, Debug, Clone)]
#[orm(app = "ctor")]
pub struct CtorPost {
    pub id: Auto<i64>,
    #[orm(max_length = 100)]
    pub title: String,
    #[orm(on_delete = Cascade, related_name = "posts")]
    pub author: ForeignKey<CtorAuthor>,
    #[orm(default = 3)]
    pub views: i64,
    #[orm(max_length = 20, default = tagline)]
    pub tagline: String,
    #[orm(max_length = 20)]
    pub subtitle: Option<String>,
    #[orm(auto_now_add)]
    pub created: DateTime<Utc>,
    pub tags: ManyToMany<CtorTag>,
}

/// A target for the many-to-many.
#[derive(Model, Debug, Clone)]
#[orm(app = "ctor")]
pub struct CtorTag {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
}

backend_test! {
    fn required_fields_only_the_rest_from_declarations(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<CtorAuthor>().model::<CtorTag>().model::<CtorPost>().create_all(&db)?;
        let ann = NewCtorAuthor { name: "Ann".into() }.create(&db)?;
        assert!(ann.id.get().is_some());
        let before = Utc::now() - chrono::Duration::seconds(5);
        let post = NewCtorPost { title: "Hello".into(), author: ForeignKey::to(&ann)? }.build();
        assert!(post.id.get().is_none());
        assert_eq!((post.views, post.tagline.as_str(), post.subtitle.as_deref()), (3, "fresh", None));
        assert!(post.created >= before);
        let saved = NewCtorPost { title: "Hello".into(), author: ForeignKey::to(&ann)? }.create(&db)?;
        let read = CtorPost::objects().get_pk(saved.id.get().unwrap(), &db)?;
        assert_eq!((read.title.as_str(), read.views, read.tagline.as_str()), ("Hello", 3, "fresh"));
        // Through a QuerySet, as Django's `objects.create(...)`.
        let via_qs = CtorPost::objects().create(NewCtorPost { title: "Again".into(), author: ForeignKey::to(&ann)? }.into(), &db)?;
        assert_eq!(via_qs.views, 3);
        assert_eq!(CtorPost::objects().count(&db)?, 2);
        Ok(())
    }
}
