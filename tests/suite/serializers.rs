//! Fixtures as Django's `tests/serializers` pin them down: many-to-many links dumped and
//! loaded, natural keys both ways (foreign keys, links, and objects without a primary key),
//! a subset of fields, and deserializing without saving.

use orm::prelude::*;
use orm::serializers::{self, deserialize, dump_queryset_with, DumpOptions};
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;
use serde_json::json;

fn author(name: &str) -> Author {
    Author { id: Auto::unset(), name: name.into(), email: None, status: "a".into() }
}

fn post(title: &str, a: &Author) -> orm::Result<Post> {
    Ok(Post {
        id: Auto::unset(),
        title: title.into(),
        author: ForeignKey::to(a)?,
        editor: None,
        views: 1,
        tags: ManyToMany::new(),
        scratch: None,
    })
}

struct World {
    ann: Author,
    p1: Post,
    t1: Tag,
    t2: Tag,
}

fn world(db: &Database) -> orm::Result<World> {
    Schema::new().model::<Author>().model::<Tag>().model::<Post>().create_all(db)?;
    let ann = author("ann").create(db)?;
    let t1 = Tag { id: Auto::unset(), name: "rust".into() }.create(db)?;
    let t2 = Tag { id: Auto::unset(), name: "orm".into() }.create(db)?;
    let p1 = post("hello", &ann)?.create(db)?;
    p1.tags().add([&t1, &t2], db)?;
    Ok(World { ann, p1, t1, t2 })
}

backend_test! {
    fn many_to_many_links_are_dumped_and_loaded(t: &TestDb) {
        let db = db_of(t);
        let w = world(&db)?;
        let dumped = serializers::dump_queryset(&Post::objects(), &db)?;
        let mut expected = vec![w.t1.id.get().unwrap(), w.t2.id.get().unwrap()];
        expected.sort();
        assert_eq!(dumped[0]["fields"]["tags"], json!(expected));
        assert_eq!(dumped[0]["fields"]["author"], json!(w.ann.id.get().unwrap()));
        // Loading replaces the links.
        w.p1.tags().remove([&w.t1], &db)?;
        serializers::load(&db, &[Post::meta()], &dumped)?;
        let mut names: Vec<String> = w.p1.tags().all().fetch(&db)?.into_iter().map(|t| t.name).collect();
        names.sort();
        assert_eq!(names, ["orm", "rust"]);
        Ok(())
    }
}

backend_test! {
    fn natural_keys_both_ways(t: &TestDb) {
        let db = db_of(t);
        let w = world(&db)?;
        let options = DumpOptions::new().natural_foreign_keys().natural_primary_keys();
        let posts = dump_queryset_with(&Post::objects(), &db, &options)?;
        assert_eq!(posts[0]["fields"]["author"], json!(["ann"]));
        assert_eq!(posts[0]["fields"]["tags"], json!([["rust"], ["orm"]]), "targets named by their natural keys, in key order");
        assert!(posts[0].get("pk").is_some(), "Post has no natural key: its pk stays");
        let tags = dump_queryset_with(&Tag::objects().order_by(["name"]), &db, &options)?;
        assert_eq!(tags[0], json!({"model": "blog.tag", "fields": {"name": "orm"}}), "no pk for a model with a natural key");
        // Load into an emptied database: the tags come back with new keys, found again by
        // their natural keys for the post's links; the author by name.
        Post::objects().delete(&db)?;
        Tag::objects().delete(&db)?;
        let ann2 = Author::objects().get_pk(w.ann.id.get().unwrap(), &db)?;
        serializers::load(&db, &[Tag::meta(), Post::meta(), Author::meta()], &tags)?;
        serializers::load(&db, &[Tag::meta(), Post::meta(), Author::meta()], &posts)?;
        let back = Post::objects().get_pk(w.p1.id.get().unwrap(), &db)?;
        assert_eq!(back.author.key(), ann2.id.get().as_ref().unwrap());
        let mut names: Vec<String> = back.tags().all().fetch(&db)?.into_iter().map(|t| t.name).collect();
        names.sort();
        assert_eq!(names, ["orm", "rust"]);
        // A fixture object without pk updates the row with that natural key.
        serializers::load(&db, &[Author::meta()], &json!([{"model": "blog.author", "fields": {"name": "ann", "email": "a@b.c", "status": "r"}}]))?;
        assert_eq!(Author::objects().count(&db)?, 1);
        assert_eq!(Author::objects().get_pk(ann2.id.get().unwrap(), &db)?.status, "r");
        // A natural key that names no row is a clear error.
        let e = serializers::load(&db, &[Post::meta()], &json!([{"model": "blog.post", "pk": 99, "fields": {"title": "x", "author": ["nobody"], "views": 0}}]))
            .unwrap_err();
        assert!(e.to_string().contains("no blog.Author has the natural key [\"nobody\"]"), "{e}");
        Ok(())
    }
}

backend_test! {
    fn a_subset_of_fields_and_deserializing_without_saving(t: &TestDb) {
        let db = db_of(t);
        let w = world(&db)?;
        let only = dump_queryset_with(&Post::objects(), &db, &DumpOptions::new().fields(["title", "tags"]))?;
        let fields = only[0]["fields"].as_object().unwrap();
        let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["tags", "title"]);
        let e = dump_queryset_with(&Post::objects(), &db, &DumpOptions::new().fields(["nope"])).unwrap_err();
        assert!(matches!(e, orm::Error::FieldDoesNotExist { .. }), "{e:?}");
        // deserialize reads, saves nothing; save() writes later, links too.
        let fixture = json!([{"model": "blog.post", "pk": 500, "fields": {"title": "later", "author": w.ann.id.get().unwrap(), "views": 3, "tags": [w.t2.id.get().unwrap()]}}]);
        let before = Post::objects().count(&db)?;
        let mut objects = deserialize::<Post>(&db, &fixture)?;
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].object.title, "later");
        assert_eq!(objects[0].links("tags").map(<[_]>::len), Some(1));
        assert_eq!(Post::objects().count(&db)?, before, "nothing written yet");
        objects[0].object.views = 4;
        objects[0].save(&db)?;
        let saved = Post::objects().get_pk(500, &db)?;
        assert_eq!((saved.title.as_str(), saved.views), ("later", 4));
        assert_eq!(saved.tags().all().fetch(&db)?.into_iter().map(|t| t.name).collect::<Vec<_>>(), ["orm"]);
        let _ = w.p1;
        Ok(())
    }
}
