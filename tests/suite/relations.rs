//! Relations: forward access and caching, select_related, prefetch_related, reverse
//! accessors, many-to-many managers and through models, joins in lookups (nulls, single vs
//! chained filters), aggregates across relations, a self-referential tree. Queries are
//! counted with the query capture.

use orm::expressions::Count;
use orm::prelude::*;
use orm::{Value, F};
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::fixtures::{article, label, writer};
use orm_tests::*;
use std::collections::BTreeSet;

fn schema() -> Schema {
    Schema::new()
        .model::<Country>()
        .model::<Writer>()
        .model::<Label>()
        .model::<Article>()
        .model::<Remark>()
        .model::<Person>()
        .model::<Club>()
        .model::<Membership>()
        .model::<Category>()
}

fn titles(v: &[Article]) -> BTreeSet<String> {
    v.iter().map(|a| a.title.clone()).collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

backend_test! {
    fn forward_access_is_one_query_then_cached(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let fr = Country { id: Auto::unset(), name: "France".into() }.create(&db)?;
        let w = writer(&db, "Ann", Some(&fr))?;
        article(&db, "A", &w, 1)?;
        let mut a = Article::objects().get(&db)?;
        let capture = db.capture_queries();
        assert_eq!(a.writer.get(&db)?.name, "Ann");
        assert_eq!(capture.len(), 1, "loaded on demand with one query");
        assert_eq!(a.writer.get(&db)?.name, "Ann");
        assert_eq!(capture.len(), 1, "then cached");
        assert_eq!(*a.writer.key(), w.id.get().unwrap(), "the key is there without a query");
        Ok(())
    }
}

backend_test! {
    fn select_related_two_levels_for_50_posts_is_one_query(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let fr = Country { id: Auto::unset(), name: "France".into() }.create(&db)?;
        let with = writer(&db, "With country", Some(&fr))?;
        let without = writer(&db, "No country", None)?;
        for i in 0..50 {
            article(&db, &format!("post {i:02}"), if i % 2 == 0 { &with } else { &without }, i)?;
        }
        let capture = db.capture_queries();
        let posts = Article::objects().select_related(["writer__country"]).fetch(&db)?;
        assert_eq!(capture.len(), 1, "one query for posts, writers and countries");
        assert_eq!(posts.len(), 50);
        for p in &posts {
            let w = p.writer.cached().expect("writer cached");
            match &w.country {
                Some(c) => assert_eq!(c.cached().expect("country cached").name, "France"),
                None => assert_eq!(w.name, "No country", "a NULL relation stays empty (LEFT JOIN)"),
            }
        }
        assert_eq!(capture.len(), 1, "reading the relations ran no query");
        // The typed handle works too, and so does streaming with select_related.
        let streamed: Vec<Article> = Article::objects().select_related([Article::writer()]).iter(&db)?.collect::<orm::Result<_>>()?;
        assert!(streamed.iter().all(|a| a.writer.cached().is_some()));
        let e = Article::objects().select_related(["labels"]).fetch(&db).unwrap_err();
        assert!(e.to_string().contains("prefetch_related"), "{e}");
        Ok(())
    }
}

backend_test! {
    fn fetch_left_join_pairs_each_object_with_each_related_row_in_one_query(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let fr = Country { id: Auto::unset(), name: "France".into() }.create(&db)?;
        let ann = writer(&db, "Ann", Some(&fr))?;
        let bob = writer(&db, "Bob", None)?;
        writer(&db, "Cid", None)?;
        let a1 = article(&db, "a1", &ann, 5)?;
        article(&db, "a2", &ann, 1)?;
        article(&db, "b1", &bob, 3)?;
        let capture = db.capture_queries();
        // Reverse foreign key: one row per article, and one for the writer without any.
        let rows: Vec<(Writer, Option<Article>)> =
            Writer::objects().order_by(["name", "articles__title"]).fetch_left_join("articles", &db)?;
        assert_eq!(capture.len(), 1, "one query");
        let flat: Vec<(String, Option<String>)> =
            rows.iter().map(|(w, a)| (w.name.clone(), a.as_ref().map(|a| a.title.clone()))).collect();
        let want = [("Ann", Some("a1")), ("Ann", Some("a2")), ("Bob", Some("b1")), ("Cid", None)];
        assert_eq!(flat, want.map(|(w, a)| (w.to_owned(), a.map(str::to_owned))));
        let (_, first) = &rows[0];
        let first = first.as_ref().expect("joined");
        assert_eq!((first.id.get(), first.rating, *first.writer.key()), (a1.id.get(), 5, ann.id.get().unwrap()));
        // Filters restrict the outer rows; values are bound.
        let black: Vec<(Writer, Option<Article>)> =
            Writer::objects().filter(Writer::name().ne("Ann")).order_by(["name"]).fetch_left_join("articles", &db)?;
        assert_eq!(black.iter().map(|(w, a)| (w.name.as_str(), a.is_some())).collect::<Vec<_>>(), [("Bob", true), ("Cid", false)]);
        // A nullable forward key: the country when there is one.
        let with_country: Vec<(Writer, Option<Country>)> = Writer::objects().fetch_left_join("country", &db)?;
        assert_eq!(with_country.len(), 3);
        for (w, c) in &with_country {
            assert_eq!(c.as_ref().map(|c| c.name.as_str()), if w.name == "Ann" { Some("France") } else { None });
        }
        // Many-to-many.
        let rust = label(&db, "rust")?;
        let db_label = label(&db, "db")?;
        a1.labels().add([&rust, &db_label], &db)?;
        let labelled: Vec<(Article, Option<Label>)> =
            Article::objects().order_by(["title", "labels__name"]).fetch_left_join("labels", &db)?;
        let flat: Vec<(&str, Option<&str>)> =
            labelled.iter().map(|(a, l)| (a.title.as_str(), l.as_ref().map(|l| l.name.as_str()))).collect();
        assert_eq!(flat, [("a1", Some("db")), ("a1", Some("rust")), ("a2", None), ("b1", None)]);
        // The related model must be the one the relation leads to, and the name a relation.
        let e = Writer::objects().fetch_left_join::<Country>("articles", &db).unwrap_err();
        assert!(e.to_string().contains("leads to"), "{e}");
        let e = Writer::objects().fetch_left_join::<Article>("name", &db).unwrap_err();
        assert!(e.to_string().contains("not a relation"), "{e}");
        Ok(())
    }
}

backend_test! {
    fn prefetch_related_three_levels_is_three_queries(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        for wi in 0..20 {
            let w = writer(&db, &format!("writer {wi:02}"), None)?;
            for ai in 0..(wi % 4) {
                let a = article(&db, &format!("w{wi} a{ai}"), &w, ai)?;
                for ri in 0..(ai + 1) {
                    Remark { id: Auto::unset(), article: ForeignKey::to(&a)?, text: format!("w{wi} a{ai} r{ri}") }.create(&db)?;
                }
            }
        }
        let capture = db.capture_queries();
        let writers = Writer::objects().prefetch_related(["articles__remarks"]).fetch(&db)?;
        assert_eq!(capture.len(), 3, "writers, their articles, their remarks");
        assert_eq!(writers.len(), 20);
        let mut prefetched = Vec::new();
        for w in &writers {
            for a in w.articles.cached().expect("articles prefetched") {
                let remarks: Vec<String> = a.remarks.cached().expect("remarks prefetched").iter().map(|r| r.text.clone()).collect();
                prefetched.push((w.name.clone(), a.title.clone(), remarks));
            }
        }
        assert_eq!(capture.len(), 3, "no query while reading the caches");
        // The same objects as lazy access.
        let mut lazy = Vec::new();
        for w in Writer::objects().fetch(&db)? {
            for a in w.articles().fetch(&db)? {
                let remarks: Vec<String> = a.remarks().fetch(&db)?.into_iter().map(|r| r.text).collect();
                lazy.push((w.name.clone(), a.title.clone(), remarks));
            }
        }
        assert_eq!(prefetched, lazy);
        // A Prefetch with its own queryset filters and orders the prefetched set.
        let top = Writer::objects()
            .prefetch_related([Prefetch::with("articles", Article::objects().filter(Article::rating().gte(2)).order_by(["-rating"]))])
            .filter(Writer::name().eq("writer 03"))
            .get(&db)?;
        let got: Vec<i64> = top.articles.cached().unwrap().iter().map(|a| a.rating).collect();
        assert_eq!(got, [2]);
        // Forward keys prefetch too (one query for all distinct writers).
        capture.clear();
        let arts = Article::objects().prefetch_related(["writer"]).fetch(&db)?;
        assert_eq!(capture.len(), 2);
        assert!(arts.iter().all(|a| a.writer.cached().is_some()));
        let e = Writer::objects().prefetch_related(["nonsense"]).fetch(&db).unwrap_err();
        assert!(e.to_string().contains("nonsense"), "{e}");
        Ok(())
    }
}

fn join_rows(db: &Database, article: &Article) -> orm::Result<Vec<i64>> {
    let d = db.dialect();
    let mut sql = format!("SELECT label_id FROM {} WHERE article_id = ", d.quote("rel_article_labels"));
    d.write_placeholder(&mut sql, 1);
    sql.push_str(" ORDER BY label_id");
    let rows = db.pool().get()?.query(&sql, &[article.pk_value()])?;
    Ok(rows.iter().map(|r| r.get::<i64>(0)).collect::<orm_backends::Result<_>>()?)
}

backend_test! {
    fn many_to_many_add_remove_set_clear(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let w = writer(&db, "W", None)?;
        let a = article(&db, "A", &w, 0)?;
        let (x, y, z) = (label(&db, "x")?, label(&db, "y")?, label(&db, "z")?);
        let ids = |l: &Label| l.id.get().unwrap();
        assert_eq!(a.labels().add([&x, &y], &db)?, 2);
        assert_eq!(join_rows(&db, &a)?, [ids(&x), ids(&y)]);
        assert_eq!(a.labels().add([&x], &db)?, 0, "an existing pair is not an error");
        assert_eq!(join_rows(&db, &a)?, [ids(&x), ids(&y)], "and nothing is written twice");
        assert_eq!(a.labels().remove([&x], &db)?, 1);
        assert_eq!(join_rows(&db, &a)?, [ids(&y)]);
        a.labels().set([&y, &z], &db)?;
        assert_eq!(join_rows(&db, &a)?, [ids(&y), ids(&z)]);
        let names: Vec<String> = a.labels().all().values(["name"]).fetch_flat(&db)?;
        assert_eq!(names, ["y", "z"]);
        assert_eq!(z.articles().all().count(&db)?, 1, "the reverse side sees it");
        z.articles().remove([&a], &db)?;
        assert_eq!(join_rows(&db, &a)?, [ids(&y)]);
        assert_eq!(a.labels().clear(&db)?, 1);
        assert!(join_rows(&db, &a)?.is_empty());
        a.labels().add([ids(&x), ids(&z)], &db)?;
        assert_eq!(join_rows(&db, &a)?, [ids(&x), ids(&z)], "keys work as well as instances");
        let unsaved = Label { id: Auto::unset(), name: "u".into(), articles: Default::default() };
        assert!(a.labels().add([&unsaved], &db).is_err());
        // Prefetching many-to-many, from both sides.
        let arts = Article::objects().prefetch_related(["labels"]).fetch(&db)?;
        let got: Vec<String> = arts[0].labels.cached().unwrap().iter().map(|l| l.name.clone()).collect();
        assert_eq!(got, ["x", "z"]);
        let labels = Label::objects().prefetch_related(["articles"]).fetch(&db)?;
        let counts: Vec<usize> = labels.iter().map(|l| l.articles.cached().unwrap().len()).collect();
        assert_eq!(counts, [1, 0, 1]);
        Ok(())
    }
}

backend_test! {
    fn a_through_model_with_extra_fields(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let ann = Person { id: Auto::unset(), name: "Ann".into() }.create(&db)?;
        let bob = Person { id: Auto::unset(), name: "Bob".into() }.create(&db)?;
        let chess = Club { id: Auto::unset(), name: "Chess".into(), members: Default::default() }.create(&db)?;
        let go = Club { id: Auto::unset(), name: "Go".into(), members: Default::default() }.create(&db)?;
        for (p, c, role) in [(&ann, &chess, "chair"), (&bob, &chess, "member"), (&ann, &go, "member")] {
            Membership { id: Auto::unset(), person: ForeignKey::to(p)?, club: ForeignKey::to(c)?, role: role.into() }.create(&db)?;
        }
        let members: Vec<String> = chess.members().all().values(["name"]).fetch_flat(&db)?;
        assert_eq!(members, ["Ann", "Bob"]);
        let clubs: BTreeSet<String> = ann.clubs().all().fetch(&db)?.into_iter().map(|c| c.name).collect();
        assert_eq!(clubs, set(&["Chess", "Go"]));
        let chaired: Vec<String> = Club::objects().filter(Q::path("memberships__role", "chair")?).values(["name"]).fetch_flat(&db)?;
        assert_eq!(chaired, ["Chess"]);
        let by_member = Club::objects().filter(Q::path("members__name", "Bob")?).fetch(&db)?;
        assert_eq!(by_member.len(), 1);
        assert_eq!(ann.memberships().filter(Membership::role().eq("member")).count(&db)?, 1);
        let clubs = Club::objects().prefetch_related(["members"]).order_by(["name"]).fetch(&db)?;
        assert_eq!(clubs[0].members.cached().unwrap().len(), 2);
        Ok(())
    }
}

backend_test! {
    fn lookups_across_relations_keep_the_right_rows_with_nulls(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let fr = Country { id: Auto::unset(), name: "France".into() }.create(&db)?;
        let _empty = Country { id: Auto::unset(), name: "Nowhere".into() }.create(&db)?;
        let ann = writer(&db, "Ann", Some(&fr))?;
        let bob = writer(&db, "Bob", None)?;
        let _cy = writer(&db, "Cy", None)?;
        article(&db, "Ann one", &ann, 5)?;
        article(&db, "Ann two", &ann, 1)?;
        article(&db, "Bob one", &bob, 3)?;
        let names = |qs: QuerySet<Writer>| -> orm::Result<Vec<String>> { qs.values(["name"]).fetch_flat(&db) };
        // Forward, through a nullable key.
        assert_eq!(names(Writer::objects().filter(Q::path("country__name", "France")?))?, ["Ann"]);
        assert_eq!(names(Writer::objects().filter(Q::path("country__isnull", true)?))?, ["Bob", "Cy"]);
        assert_eq!(names(Writer::objects().exclude(Q::path("country__name", "France")?))?, ["Bob", "Cy"], "NULL keys are kept by exclude");
        // Reverse foreign key.
        assert_eq!(names(Writer::objects().filter(Q::path("articles__title__icontains", "one")?).distinct())?, ["Ann", "Bob"]);
        assert_eq!(names(Writer::objects().filter(Q::path("articles__isnull", true)?))?, ["Cy"], "writers without articles");
        assert_eq!(names(Writer::objects().exclude(Q::path("articles__rating__gte", 3)?))?, ["Cy"], "exclude across a multi-valued relation: any match excludes");
        let countries: Vec<String> = Country::objects().filter(Q::path("writers__isnull", true)?).values(["name"]).fetch_flat(&db)?;
        assert_eq!(countries, ["Nowhere"]);
        // Across two relations, and ordering by a related field.
        let arts: Vec<String> = Article::objects().filter(Q::path("writer__country__name", "France")?).order_by(["-rating"]).values(["title"]).fetch_flat(&db)?;
        assert_eq!(arts, ["Ann two", "Ann one"].iter().rev().map(|s| s.to_string()).collect::<Vec<_>>());
        let ordered: Vec<String> = Article::objects().order_by(["writer__name", "-rating"]).values(["title"]).fetch_flat(&db)?;
        assert_eq!(ordered, ["Ann one", "Ann two", "Bob one"]);
        let with_writer = Article::objects().values(["title", "writer__name"]).order_by(["title"]).fetch_values(&db)?;
        assert_eq!(with_writer[2].get::<String>(1)?, "Bob");
        // Typed paths through relations.
        let typed: Vec<String> = Article::objects()
            .filter(Article::writer().via(Writer::country()).via(Country::name()).eq("France"))
            .order_by([Article::writer().via(Writer::name()).asc(), Article::rating().desc()])
            .values(["title"])
            .fetch_flat(&db)?;
        assert_eq!(typed, ["Ann one", "Ann two"]);
        // Typed key comparison and deleting across a relation.
        assert_eq!(Article::objects().filter(Article::writer().eq(bob.id.get().unwrap())).count(&db)?, 1);
        assert_eq!(Article::objects().filter(Q::path("writer__name", "Bob")?).delete(&db)?, 1);
        assert_eq!(Article::objects().count(&db)?, 2);
        assert_eq!(Article::objects().filter(Q::path("writer__name", "Ann")?).update([Article::rating().set(F::col("rating") + 10)], &db)?, 2);
        Ok(())
    }
}

backend_test! {
    fn single_filter_versus_chained_filters_on_many_to_many(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let w = writer(&db, "W", None)?;
        let (red, blue) = (label(&db, "red")?, label(&db, "blue")?);
        let both = article(&db, "both", &w, 0)?;
        let only_red = article(&db, "only red", &w, 0)?;
        let only_blue = article(&db, "only blue", &w, 0)?;
        both.labels().add([&red, &blue], &db)?;
        only_red.labels().add([&red], &db)?;
        only_blue.labels().add([&blue], &db)?;
        // One filter call: the same related row must satisfy both conditions.
        let same_row = Article::objects().filter(Q::path("labels__name", "red")? & Q::path("labels__name", "blue")?).fetch(&db)?;
        assert!(same_row.is_empty());
        // Chained calls: each may match a different related row.
        let chained = Article::objects().filter(Q::path("labels__name", "red")?).filter(Q::path("labels__name", "blue")?).fetch(&db)?;
        assert_eq!(titles(&chained), set(&["both"]));
        let either = Article::objects().filter(Q::path("labels__name", "red")? | Q::path("labels__name", "blue")?).distinct().fetch(&db)?;
        assert_eq!(titles(&either), set(&["both", "only red", "only blue"]));
        let not_red = Article::objects().exclude(Q::path("labels__name", "red")?).fetch(&db)?;
        assert_eq!(titles(&not_red), set(&["only blue"]));
        // Reverse many-to-many lookups.
        let labels: Vec<String> = Label::objects().filter(Q::path("articles__title", "only red")?).values(["name"]).fetch_flat(&db)?;
        assert_eq!(labels, ["red"]);
        Ok(())
    }
}

backend_test! {
    fn count_across_a_relation_with_and_without_distinct(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let ann = writer(&db, "Ann", None)?;
        let bob = writer(&db, "Bob", None)?;
        writer(&db, "Cy", None)?;
        let (x, y) = (label(&db, "x")?, label(&db, "y")?);
        let a1 = article(&db, "a1", &ann, 4)?;
        let a2 = article(&db, "a2", &ann, 2)?;
        let b1 = article(&db, "b1", &bob, 6)?;
        a1.labels().add([&x, &y], &db)?;
        a2.labels().add([&x], &db)?;
        b1.labels().add([&y], &db)?;
        let rows = Writer::objects().annotate("n", Count::of("articles")).order_by(["name"]).fetch_annotated(&db)?;
        let got: Vec<(String, i64)> = rows.iter().map(|r| Ok((r.object.name.clone(), r.get::<i64>("n")?))).collect::<orm::Result<_>>()?;
        assert_eq!(got, [("Ann".to_owned(), 2), ("Bob".to_owned(), 1), ("Cy".to_owned(), 0)]);
        // Two multi-valued joins multiply rows; distinct counts each article once.
        let rows = Writer::objects()
            .annotate("raw", Count::of("articles"))
            .annotate("articles_n", Count::of("articles").distinct())
            .annotate("labels_n", Count::of("articles__labels"))
            .order_by(["name"])
            .values(["name", "raw", "articles_n", "labels_n"])
            .fetch_lists(&db)?;
        assert_eq!(rows[0], [Value::Text("Ann".into()), Value::Int(3), Value::Int(2), Value::Int(3)]);
        assert_eq!(rows[1], [Value::Text("Bob".into()), Value::Int(1), Value::Int(1), Value::Int(1)]);
        // Grouping by a related field, and an aggregate over a relation.
        let per_label = Label::objects().annotate("n", Count::of("articles")).filter(Q::path("n__gte", 2)?).order_by(["name"]).fetch_annotated(&db)?;
        assert_eq!(per_label.iter().map(|l| l.object.name.clone()).collect::<Vec<_>>(), ["x", "y"]);
        let total = Writer::objects().filter(Writer::name().eq("Ann")).aggregate([("r", orm::Sum::of("articles__rating"))], &db)?;
        assert_eq!(total.get::<i64>(0)?, 6);
        Ok(())
    }
}

backend_test! {
    fn a_self_referential_tree_of_categories(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mk = |name: &str, parent: Option<&Category>| -> orm::Result<Category> {
            Category { id: Auto::unset(), name: name.into(), parent: parent.map(ForeignKey::to).transpose()? }.create(&db)
        };
        let root = mk("root", None)?;
        let a = mk("a", Some(&root))?;
        let b = mk("b", Some(&root))?;
        mk("a1", Some(&a))?;
        mk("a2", Some(&a))?;
        mk("b1", Some(&b))?;
        let kids: Vec<String> = root.children().values(["name"]).fetch_flat(&db)?;
        assert_eq!(kids, ["a", "b"]);
        let grandchildren: Vec<String> = Category::objects().filter(Q::path("parent__parent__name", "root")?).values(["name"]).fetch_flat(&db)?;
        assert_eq!(grandchildren, ["a1", "a2", "b1"]);
        let with_kids: Vec<String> = Category::objects().filter(Q::path("children__name__startswith", "a")?).values(["name"]).distinct().fetch_flat(&db)?;
        assert_eq!(with_kids, ["a", "root"]);
        let leaves: Vec<String> = Category::objects().filter(Q::path("children__isnull", true)?).values(["name"]).fetch_flat(&db)?;
        assert_eq!(leaves, ["a1", "a2", "b1"]);
        let deep = Category::objects().filter(Category::name().eq("a2")).select_related(["parent__parent"]).get(&db)?;
        let parent = deep.parent.as_ref().unwrap().cached().unwrap();
        assert_eq!(parent.name, "a");
        assert_eq!(parent.parent.as_ref().unwrap().cached().unwrap().name, "root");
        let counts = Category::objects().annotate("kids", Count::of("children")).filter(Q::path("kids__gt", 0)?).order_by(["name"]).fetch_annotated(&db)?;
        assert_eq!(counts.iter().map(|c| (c.object.name.as_str(), c.get::<i64>("kids").unwrap())).collect::<Vec<_>>(), [("a", 2), ("b", 1), ("root", 2)]);
        Ok(())
    }
}
