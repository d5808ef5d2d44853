//! Django's query semantics, exactly (issue #15): NULL under negation, empty results without
//! a query, slices, select_for_update, in_bulk and get, names, ordering, GROUP BY, aggregates
//! across multi-valued relations. Each behaviour is checked against the real database.

use chrono::NaiveDate;
use orm::prelude::*;
use orm::{Error, ForUpdate, OrderBy, OwnedRow, Value, F};
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::fixtures::{article, label, writer};
use orm_tests::*;
use std::collections::BTreeSet;

/// Ordered by title.
#[derive(Model, Debug, Clone)]
#[orm(app = "qsem", ordering = ["title"])]
pub struct Book {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub title: String,
    /// The reverse relation's cache.
    pub essays: orm::Reverse<Essay>,
    /// Where `Prefetch::new("essays").to_attr("picked")` puts its objects.
    pub picked: orm::Reverse<Essay>,
}

/// Ordered by its book (so by the book's title), then by its own title, descending.
#[derive(Model, Debug, Clone)]
#[orm(app = "qsem", ordering = ["book", "-title"])]
pub struct Essay {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub title: String,
    #[orm(related_name = "essays")]
    pub book: ForeignKey<Book>,
}

/// No ordering of its own; ordering it by `essay` goes two relations deep.
#[derive(Model, Debug, Clone)]
#[orm(app = "qsem")]
pub struct Review {
    pub id: Auto<i64>,
    #[orm(related_name = "reviews")]
    pub essay: ForeignKey<Essay>,
}

/// Ordered by `next`, which is a Ring ordered by `next`: an ordering cycle.
#[derive(Model, Debug, Clone)]
#[orm(app = "qsem", ordering = ["next"])]
pub struct Ring {
    pub id: Auto<i64>,
    #[orm(related_name = "prev")]
    pub next: Option<ForeignKey<Ring>>,
}

/// Referenced by `Txn` through its unique `number`, not its primary key.
#[derive(Model, Debug, Clone)]
#[orm(app = "qsem")]
pub struct Acct {
    pub id: Auto<i64>,
    #[orm(unique)]
    pub number: i64,
}

/// Points at an `Acct` by its `number` (`to_field`).
#[derive(Model, Debug, Clone)]
#[orm(app = "qsem")]
pub struct Txn {
    pub id: Auto<i64>,
    #[orm(to_field = "number", related_name = "txns")]
    pub account: ForeignKey<Acct>,
    pub amount: i64,
}

/// A town venues are in.
#[derive(Model, Debug, Clone)]
#[orm(app = "qsem")]
pub struct Town {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
}

/// A multi-table parent declaring a relation.
#[derive(Model, Debug, Clone)]
#[orm(app = "qsem")]
pub struct Venue {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
    #[orm(related_name = "venues")]
    pub town: ForeignKey<Town>,
}

/// A multi-table child of Venue: `town` is its parent's relation.
#[derive(Model, Debug, Clone)]
#[orm(app = "qsem")]
pub struct Bar {
    #[orm(parent)]
    pub venue: Venue,
    pub beers: i32,
}

fn schema() -> Schema {
    Schema::new()
        .model::<Country>()
        .model::<Writer>()
        .model::<Label>()
        .model::<Article>()
        .model::<Remark>()
        .model::<Everything>()
        .model::<Book>()
        .model::<Essay>()
        .model::<Review>()
        .model::<Ring>()
        .model::<Acct>()
        .model::<Txn>()
        .model::<Town>()
        .model::<Venue>()
        .model::<Bar>()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn names(qs: QuerySet<Writer>, db: &Database) -> orm::Result<BTreeSet<String>> {
    Ok(qs.values(["name"]).fetch_flat::<String>(db)?.into_iter().collect())
}

fn titles(qs: QuerySet<Article>, db: &Database) -> orm::Result<Vec<String>> {
    qs.values(["title"]).fetch_flat::<String>(db)
}

/// France ← Ann (a1 rating 5, a2 rating 1); Bob (no country; b1 rating 3); Cy (no country,
/// no article).
fn seed(db: &Database) -> orm::Result<(Country, Writer, Writer, Writer)> {
    schema().create_all(db)?;
    let fr = Country { id: Auto::unset(), name: "France".into() }.create(db)?;
    let ann = writer(db, "Ann", Some(&fr))?;
    let bob = writer(db, "Bob", None)?;
    let cy = writer(db, "Cy", None)?;
    article(db, "a1", &ann, 5)?;
    article(db, "a2", &ann, 1)?;
    article(db, "b1", &bob, 3)?;
    Ok((fr, ann, bob, cy))
}

fn doc(id_day: u32, opt_doc: Option<serde_json::Value>) -> Everything {
    let day = NaiveDate::from_ymd_opt(2024, 1, id_day).unwrap();
    Everything {
        id: Auto::unset(),
        flag: true,
        small: 1,
        medium: 2,
        big: 3,
        unsigned: 4,
        single: 1.5,
        double: 2.5,
        short_text: format!("doc {id_day}"),
        long_text: String::new(),
        blob: vec![],
        day,
        clock: chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
        stamp: day.and_hms_opt(10, 0, 0).unwrap(),
        instant: day.and_hms_opt(10, 0, 0).unwrap().and_utc(),
        uid: uuid::Uuid::new_v4(),
        doc: serde_json::json!({}),
        price: "1.5".parse().unwrap(),
        cents: Cents(1),
        opt_flag: None,
        opt_big: None,
        opt_double: None,
        opt_text: None,
        opt_blob: None,
        opt_day: None,
        opt_stamp: None,
        opt_instant: None,
        opt_uid: None,
        opt_doc,
        opt_price: None,
        opt_cents: None,
    }
}

// ---------------------------------------------------------------------------------------------
// 10. NULL in negations and comparisons.

backend_test! {
    fn exclude_none_keeps_exactly_the_non_null_rows(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        assert_eq!(names(Writer::objects().exclude(Q::path("country", Value::Null)?), &db)?, set(&["Ann"]));
        assert_eq!(names(Writer::objects().filter(Q::path("country", Value::Null)?), &db)?, set(&["Bob", "Cy"]));
        assert_eq!(names(Writer::objects().exclude(Q::path("country_id", Value::Null)?), &db)?, set(&["Ann"]));
        // Across a nullable forward relation.
        assert_eq!(names(Writer::objects().exclude(Q::path("country__name", Value::Null)?), &db)?, set(&["Ann"]));
        assert_eq!(names(Writer::objects().filter(Q::path("country__name", Value::Null)?), &db)?, set(&["Bob", "Cy"]));
        // Across a non-null forward relation, and to the related row's nullable column.
        let arts = titles(Article::objects().exclude(Q::path("writer__country", Value::Null)?).order_by(["title"]), &db)?;
        assert_eq!(arts, ["a1", "a2"]);
        // Negated twice is the filter again.
        assert_eq!(names(Writer::objects().exclude(!Q::path("country", Value::Null)?), &db)?, set(&["Bob", "Cy"]));
        Ok(())
    }
}

backend_test! {
    fn isnull_takes_only_a_boolean(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let capture = db.capture_queries();
        for bad in [Value::Int(1), Value::Int(0), Value::Text("true".into())] {
            let err = Writer::objects().filter(Q::path("country__isnull", bad.clone())?).count(&db).unwrap_err();
            assert!(matches!(&err, Error::ValueError(m) if m.contains("must be True or False")), "{err}");
            let err = Writer::objects().exclude(Q::path("articles__isnull", bad)?).count(&db).unwrap_err();
            assert!(matches!(err, Error::ValueError(_)), "{err}");
        }
        assert!(capture.is_empty(), "refused before any SQL");
        assert_eq!(names(Writer::objects().filter(Q::path("country__isnull", false)?), &db)?, set(&["Ann"]));
        Ok(())
    }
}

backend_test! {
    fn json_none_is_json_null_and_isnull_is_sql_null(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        doc(1, Some(serde_json::Value::Null)).create(&db)?;
        doc(2, None).create(&db)?;
        doc(3, Some(serde_json::json!({"a": 1}))).create(&db)?;
        let texts = |qs: QuerySet<Everything>| -> orm::Result<Vec<String>> { qs.order_by(["id"]).values(["short_text"]).fetch_flat(&db) };
        assert_eq!(texts(Everything::objects().filter(Q::path("opt_doc", Value::Null)?))?, ["doc 1"], "None is JSON null");
        assert_eq!(texts(Everything::objects().filter(Q::path("opt_doc__isnull", true)?))?, ["doc 2"], "isnull is SQL NULL");
        assert_eq!(texts(Everything::objects().filter(Q::path("opt_doc__isnull", false)?))?, ["doc 1", "doc 3"]);
        assert_eq!(texts(Everything::objects().filter(Q::path("opt_doc", serde_json::json!({"a": 1}))?))?, ["doc 3"]);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Empty results run no query.

backend_test! {
    fn empty_querysets_answer_without_a_query(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let empties: Vec<(&str, QuerySet<Writer>)> = vec![
            ("none()", Writer::objects().none()),
            ("pk__in=[]", Writer::objects().filter(Q::path("pk__in", serde_json::json!([]))?)),
            ("typed is_in([])", Writer::objects().filter(Writer::id().is_in(Vec::<i64>::new()))),
            ("in [NULL]", Writer::objects().filter(Q::path("country__in", serde_json::json!([null]))?)),
            ("AND with an empty in", Writer::objects().filter(Writer::name().eq("Ann") & Q::path("id__in", serde_json::json!([]))?)),
            ("OR of two empty ins", Writer::objects().filter(Q::path("id__in", serde_json::json!([]))? | Q::none())),
        ];
        for (what, qs) in empties {
            let capture = db.capture_queries();
            assert!(qs.fetch(&db)?.is_empty(), "{what}");
            assert!(qs.fetch_values(&db)?.is_empty(), "{what}");
            assert!(qs.clone().values(["name"]).fetch_flat::<String>(&db)?.is_empty(), "{what}");
            assert!(qs.iter(&db)?.next().is_none(), "{what}");
            assert_eq!(qs.count(&db)?, 0, "{what}");
            assert!(!qs.exists(&db)?, "{what}");
            assert_eq!(qs.first(&db)?.map(|w| w.name), None, "{what}");
            assert!(qs.get(&db).unwrap_err().is_does_not_exist(), "{what}");
            let agg = qs.aggregate([("n", orm::Count::all()), ("top", orm::Max::of("id")), ("s", orm::Sum::of("id"))], &db)?;
            assert_eq!(agg.values(), &[Value::Int(0), Value::Null, Value::Null], "{what}");
            assert_eq!(qs.update([Writer::name().set("Zed")], &db)?, 0, "{what}");
            assert_eq!(qs.delete(&db)?, 0, "{what}");
            assert!(capture.is_empty(), "{what} ran {:?}", capture.queries());
        }
        assert_eq!(Writer::objects().count(&db)?, 3, "nothing was deleted");
        // aggregate() with no arguments is an empty result, without a query.
        let capture = db.capture_queries();
        let row = Writer::objects().aggregate(Vec::<(String, orm::expressions::Aggregate)>::new(), &db)?;
        assert!(row.values().is_empty());
        assert!(capture.is_empty());
        Ok(())
    }
}

backend_test! {
    fn in_lists_drop_null_and_negated_empty_ins_match_everything(t: &TestDb) {
        let db = db_of(t);
        let (_, ann, _, cy) = seed(&db)?;
        let ids = serde_json::json!([ann.id.get().unwrap(), null, cy.id.get().unwrap()]);
        assert_eq!(names(Writer::objects().filter(Q::path("id__in", ids)?), &db)?, set(&["Ann", "Cy"]));
        assert_eq!(names(Writer::objects().exclude(Q::path("id__in", serde_json::json!([]))?), &db)?, set(&["Ann", "Bob", "Cy"]));
        assert_eq!(Writer::objects().exclude(Q::none()).count(&db)?, 3);
        // An empty `in` inside an OR drops only its own branch.
        let either = Writer::objects().filter(Q::path("id__in", serde_json::json!([]))? | Writer::name().eq("Bob"));
        assert_eq!(names(either, &db)?, set(&["Bob"]));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Slices.

/// The seed plus Dee and Eve: five writers, ordered by name.
fn five(db: &Database) -> orm::Result<()> {
    seed(db)?;
    writer(db, "Dee", None)?;
    writer(db, "Eve", None)?;
    Ok(())
}

fn ordered_names(qs: QuerySet<Writer>, db: &Database) -> orm::Result<Vec<String>> {
    qs.values(["name"]).fetch_flat(db)
}

backend_test! {
    fn slices_compose_as_python_slices_do(t: &TestDb) {
        let db = db_of(t);
        five(&db)?;
        let w = || Writer::objects().order_by(["name"]);
        assert_eq!(ordered_names(w().slice(2..).slice(0..2), &db)?, ["Cy", "Dee"], "qs[2:][0:2] is rows 3-4");
        assert_eq!(ordered_names(w().slice(1..4).slice(1..10), &db)?, ["Cy", "Dee"], "a slice stays inside the one it is taken from");
        assert_eq!(ordered_names(w().slice(..3).slice(1..), &db)?, ["Bob", "Cy"]);
        assert_eq!(ordered_names(w().slice(1..).slice(1..).slice(1..), &db)?, ["Dee", "Eve"]);
        assert_eq!(ordered_names(w().slice(3..).slice(..=0), &db)?, ["Dee"]);
        assert_eq!(ordered_names(w().offset(1).limit(2), &db)?, ["Bob", "Cy"]);
        assert_eq!(ordered_names(w().slice(1..3).slice(5..), &db)?, Vec::<String>::new(), "past the end of the outer slice");
        assert!(w().slice(1..2).is_sliced() && !w().is_sliced());
        // count() and exists() on sliced and distinct QuerySets.
        assert_eq!(w().slice(1..3).count(&db)?, 2);
        assert_eq!(w().slice(3..).count(&db)?, 2);
        assert_eq!(w().slice(4..9).count(&db)?, 1);
        assert!(w().slice(4..).exists(&db)?);
        assert!(!w().slice(5..).exists(&db)?);
        let with_articles = Writer::objects().filter(Q::path("articles__rating__gte", 0)?);
        assert_eq!(with_articles.count(&db)?, 3, "one row per article");
        assert_eq!(with_articles.clone().distinct().count(&db)?, 2);
        assert_eq!(with_articles.clone().distinct().slice(1..).count(&db)?, 1);
        assert!(!with_articles.clone().distinct().slice(2..).exists(&db)?);
        let writers_of_articles = Article::objects().values(["writer"]).distinct();
        assert_eq!(writers_of_articles.count(&db)?, 2);
        assert_eq!(writers_of_articles.clone().order_by(["writer_id"]).slice(1..).count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn an_empty_slice_runs_no_query(t: &TestDb) {
        let db = db_of(t);
        five(&db)?;
        let capture = db.capture_queries();
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 3..1;
        for qs in [Writer::objects().slice(2..2), Writer::objects().slice(backwards), Writer::objects().limit(0), Writer::objects().slice(1..3).slice(4..)] {
            assert!(qs.fetch(&db)?.is_empty());
            assert_eq!(qs.count(&db)?, 0);
            assert!(!qs.exists(&db)?);
            assert!(qs.fetch_values(&db)?.is_empty());
        }
        assert!(capture.is_empty(), "{:?}", capture.queries());
        Ok(())
    }
}

backend_test! {
    fn changing_a_sliced_queryset_is_refused_before_any_sql(t: &TestDb) {
        let db = db_of(t);
        five(&db)?;
        let sliced = || Writer::objects().order_by(["name"]).slice(1..3);
        let capture = db.capture_queries();
        let type_error = |r: orm::Result<()>, message: &str| match r {
            Err(Error::TypeError(m)) => assert_eq!(m, message),
            other => panic!("expected TypeError({message}), got {other:?}"),
        };
        let filter = "Cannot filter a query once a slice has been taken.";
        type_error(sliced().filter(Writer::name().eq("Bob")).fetch(&db).map(drop), filter);
        type_error(sliced().exclude(Writer::name().eq("Bob")).count(&db).map(drop), filter);
        type_error(sliced().filter_path("name", "Bob").and_then(|q| q.exists(&db)).map(drop), filter);
        type_error(sliced().order_by(["-name"]).fetch(&db).map(drop), "Cannot reorder a query once a slice has been taken.");
        type_error(sliced().reverse().fetch_values(&db).map(drop), "Cannot reverse a query once a slice has been taken.");
        type_error(sliced().distinct().fetch(&db).map(drop), "Cannot create distinct fields once a slice has been taken.");
        type_error(sliced().delete(&db).map(drop), "Cannot use 'limit' or 'offset' with delete().");
        type_error(sliced().update([Writer::name().set("x")], &db).map(drop), "Cannot update a query once a slice has been taken.");
        type_error(sliced().last(&db).map(drop), "Cannot reverse a query once a slice has been taken.");
        type_error(sliced().first(&db).map(drop), "Cannot reorder a query once a slice has been taken.");
        type_error(sliced().latest("name", &db).map(drop), "Cannot change a query once a slice has been taken.");
        type_error(sliced().earliest("name", &db).map(drop), "Cannot change a query once a slice has been taken.");
        type_error(sliced().filter(Writer::name().eq("Bob")).iter(&db).map(drop), filter);
        type_error(sliced().filter(Writer::name().eq("Bob")).to_sql(orm::Dialect::Sqlite).map(drop), filter);
        assert!(capture.is_empty(), "{:?}", capture.queries());
        // Filtering before the slice is fine, and so is slicing again.
        assert_eq!(ordered_names(Writer::objects().order_by(["name"]).exclude(Writer::name().eq("Ann")).slice(1..3), &db)?, ["Cy", "Dee"]);
        assert_eq!(Writer::objects().count(&db)?, 5, "nothing was deleted");
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 13. in_bulk and get.

backend_test! {
    fn get_reads_at_most_21_rows_in_one_query(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let w = writer(&db, "W", None)?;
        for i in 0..25 {
            article(&db, &format!("t{i:02}"), &w, i % 2)?;
        }
        let capture = db.capture_queries();
        let err = Article::objects().get(&db).unwrap_err();
        assert_eq!(capture.len(), 1, "one query");
        let q = &capture.queries()[0];
        assert!(q.sql.contains("21") || q.params.contains(&Value::Int(21)), "LIMIT 21: {q:?}");
        assert!(matches!(err, Error::MultipleObjectsReturned { count: 21, .. }));
        assert_eq!(err.to_string(), "get() returned more than one rel.Article -- it returned more than 20!");
        let err = Article::objects().filter(Q::path("title__in", serde_json::json!(["t01", "t02", "t03"]))?).get(&db).unwrap_err();
        assert_eq!(err.to_string(), "get() returned more than one rel.Article -- it returned 3!");
        // get() on a slice looks inside the slice.
        let one = Article::objects().order_by(["title"]).slice(3..4).get(&db)?;
        assert_eq!(one.title, "t03");
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 12. select_for_update.

backend_test! {
    fn select_for_update_outside_a_transaction_is_refused_before_any_sql(t: &TestDb) {
        let db = db_of(t);
        five(&db)?;
        let locked = Writer::objects().filter(Writer::name().startswith("A")).select_for_update(ForUpdate::new());
        let capture = db.capture_queries();
        for r in [locked.fetch(&db).map(drop), locked.fetch_values(&db).map(drop), locked.get(&db).map(drop), locked.first(&db).map(drop), locked.iter(&db).map(drop)] {
            match r {
                Err(Error::TransactionManagementError(e)) => assert_eq!(e.message(), "select_for_update cannot be used outside of a transaction."),
                other => panic!("expected TransactionManagementError, got {other:?}"),
            }
        }
        assert!(capture.is_empty(), "{:?}", capture.queries());
        // Inside a transaction it locks (where the backend can) and returns the rows.
        let got = db.atomic(|tx| {
            let rows = locked.fetch(tx)?;
            let skip = Writer::objects().order_by(["name"]).select_for_update(ForUpdate::new().skip_locked()).values(["name"]).fetch_flat::<String>(tx)?;
            let nowait = Writer::objects().select_for_update(ForUpdate::new().nowait()).count(tx)?;
            Ok((rows.len(), skip.len(), nowait))
        })?;
        assert_eq!(got, (1, 5, 5));
        // nowait with skip_locked is refused, in or out of a transaction.
        let both = Writer::objects().select_for_update(ForUpdate::new().nowait().skip_locked());
        let err = db.atomic(|tx| both.fetch(tx).map(drop)).unwrap_err();
        assert!(matches!(&err, Error::ValueError(m) if m == "The nowait option cannot be used with skip_locked."), "{err}");
        let (sql, _) = Writer::objects().select_for_update(ForUpdate::new().skip_locked()).to_sql(orm::Dialect::Postgres)?;
        assert!(sql.ends_with("FOR UPDATE SKIP LOCKED"), "{sql}");
        Ok(())
    }
}

backend_test! {
    fn in_bulk_by_unique_fields_all_rows_and_its_refusals(t: &TestDb) {
        let db = db_of(t);
        five(&db)?;
        for name in ["red", "green", "blue"] {
            label(&db, name)?;
        }
        let by_name = Label::objects().in_bulk_by::<String>("name", Some(vec!["red".into(), "blue".into(), "nope".into()]), &db)?;
        assert_eq!(by_name.keys().cloned().collect::<BTreeSet<_>>(), set(&["blue", "red"]));
        assert_eq!(by_name["red"].name, "red");
        let every = Label::objects().in_bulk_by::<String>("name", None, &db)?;
        assert_eq!(every.len(), 3);
        let all = Writer::objects().in_bulk_all(&db)?;
        assert_eq!(all.len(), 5);
        assert!(all.values().any(|w| w.name == "Eve"));
        let filtered = Writer::objects().filter(Writer::name().lt("C")).in_bulk_all(&db)?;
        assert_eq!(filtered.values().map(|w| w.name.clone()).collect::<BTreeSet<_>>(), set(&["Ann", "Bob"]));
        let ids: Vec<i64> = Writer::objects().order_by(["name"]).values(["id"]).fetch_flat(&db)?;
        let two = Writer::objects().in_bulk(ids[..2].to_vec(), &db)?;
        assert_eq!(two[&ids[0]].name, "Ann");
        let by_pk = Writer::objects().in_bulk_by::<i64>("pk", Some(vec![ids[4].into()]), &db)?;
        assert_eq!(by_pk[&ids[4]].name, "Eve");
        let capture = db.capture_queries();
        assert!(Writer::objects().in_bulk(Vec::<i64>::new(), &db)?.is_empty(), "no ids: no rows, no query");
        let err = Writer::objects().in_bulk_by::<String>("name", Some(vec!["Ann".into()]), &db).unwrap_err();
        assert!(matches!(&err, Error::ValueError(m) if m == "in_bulk()'s field_name must be a unique field but 'name' isn't."), "{err}");
        let err = Writer::objects().in_bulk_by::<String>("nmae", None, &db).unwrap_err();
        assert!(matches!(err, Error::FieldError { .. }), "{err}");
        let err = Writer::objects().order_by(["name"]).slice(..2).in_bulk_all(&db).unwrap_err();
        assert!(matches!(&err, Error::TypeError(m) if m == "Cannot use 'limit' or 'offset' with in_bulk()."), "{err}");
        let err = Writer::objects().values(["name"]).in_bulk(ids.clone(), &db).unwrap_err();
        assert!(matches!(&err, Error::TypeError(m) if m == "in_bulk() cannot be used with values() or values_list()."), "{err}");
        assert!(capture.is_empty(), "{:?}", capture.queries());
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Names as Django spells them.

backend_test! {
    fn values_name_foreign_keys_by_attname(t: &TestDb) {
        let db = db_of(t);
        let (fr, ann, _, _) = seed(&db)?;
        let rows = Writer::objects().filter(Writer::name().eq("Ann")).fetch_values(&db)?;
        assert_eq!(rows[0].columns().to_vec(), ["id", "name", "country_id"]);
        assert_eq!(rows[0].get::<i64>(2)?, fr.id.get().unwrap());
        let lists = Writer::objects().filter(Writer::name().eq("Ann")).fetch_lists(&db)?;
        assert_eq!(lists[0], [Value::Int(ann.id.get().unwrap()), Value::Text("Ann".into()), Value::Int(fr.id.get().unwrap())]);
        // values("country") gives the key under `country`, values("country_id") under its attname.
        let named = Writer::objects().filter(Writer::name().eq("Ann")).values(["name", "country"]).fetch_values(&db)?;
        assert_eq!(named[0].columns().to_vec(), ["name", "country"]);
        assert_eq!(named[0].get::<i64>(1)?, fr.id.get().unwrap());
        let by_attname = Writer::objects().filter_path("country_id", fr.id.get().unwrap())?.values(["country_id"]).fetch_flat::<i64>(&db)?;
        assert_eq!(by_attname, [fr.id.get().unwrap()]);
        let titles = titles(Article::objects().filter_path("writer_id", ann.id.get().unwrap())?.order_by(["writer_id", "title"]), &db)?;
        assert_eq!(titles, ["a1", "a2"]);
        Ok(())
    }
}

backend_test! {
    fn unknown_names_are_field_errors_listing_the_sorted_choices(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let writer_choices = "articles, country, country_id, id, name";
        let expect = |r: orm::Result<()>, message: &str| match r {
            Err(Error::FieldError { message: m }) => assert_eq!(m, message),
            other => panic!("expected FieldError({message}), got {other:?}"),
        };
        let unknown = format!("Cannot resolve keyword 'nmae' into field. Choices are: {writer_choices}");
        let capture = db.capture_queries();
        expect(Writer::objects().filter_path("nmae", "x").map(drop), &unknown);
        expect(Writer::objects().exclude(Q::path("nmae", "x")?).fetch(&db).map(drop), &unknown);
        expect(Writer::objects().order_by_path(["-nmae"]).map(drop), &unknown);
        expect(Writer::objects().order_by(["nmae"]).fetch(&db).map(drop), &unknown);
        expect(Writer::objects().values(["nmae"]).fetch_values(&db).map(drop), &unknown);
        expect(Writer::objects().annotate("x", F::col("nmae")).fetch_annotated(&db).map(drop), &format!("{unknown}, x"));
        // Annotations are choices too, and a deeper path lists the related model's names.
        expect(
            Writer::objects().annotate("n", orm::Count::of("articles")).filter(Q::path("nmae", 1)?).fetch(&db).map(drop),
            "Cannot resolve keyword 'nmae' into field. Choices are: articles, country, country_id, id, n, name",
        );
        expect(
            Article::objects().filter(Q::path("writer__nmae", "x")?).fetch(&db).map(drop),
            &unknown,
        );
        expect(
            Writer::objects().filter(Q::path("articles__nmae", "x")?).fetch(&db).map(drop),
            "Cannot resolve keyword 'nmae' into field. Choices are: id, labels, rating, remarks, title, writer, writer_id",
        );
        expect(
            Article::objects().select_related(["nmae"]).fetch(&db).map(drop),
            "Invalid field name(s) given in select_related: 'nmae'. Choices are: writer",
        );
        expect(
            Article::objects().select_related(["title"]).fetch(&db).map(drop),
            "Non-relational field given in select_related: 'title'. Choices are: writer",
        );
        assert!(capture.is_empty(), "{:?}", capture.queries());
        expect(
            Writer::objects().prefetch_related(["nmae"]).fetch(&db).map(drop),
            "Cannot find 'nmae' on Writer object, 'nmae' is an invalid parameter to prefetch_related(). Choices are: articles, country",
        );
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Ordering.

backend_test! {
    fn ordering_by_a_relation_uses_the_related_model_s_ordering(t: &TestDb) {
        let db = db_of(t);
        let (_, ann, bob, _) = seed(&db)?;
        // Bob's article "b1" and Ann's "a1", "a2": by writer means by writer name.
        let zed = writer(&db, "Zed", None)?;
        article(&db, "a0", &zed, 0)?;
        let by_writer = titles(Article::objects().order_by(["writer", "title"]), &db)?;
        assert_eq!(by_writer, ["a1", "a2", "b1", "a0"]);
        let by_writer_desc = titles(Article::objects().order_by(["-writer", "title"]), &db)?;
        assert_eq!(by_writer_desc, ["a0", "b1", "a1", "a2"]);
        // The attname orders by the key column.
        let by_key = titles(Article::objects().order_by(["writer_id", "title"]), &db)?;
        let mut expect = [(ann.id.get().unwrap(), "a1"), (ann.id.get().unwrap(), "a2"), (bob.id.get().unwrap(), "b1"), (zed.id.get().unwrap(), "a0")];
        expect.sort();
        assert_eq!(by_key, expect.iter().map(|(_, t)| t.to_string()).collect::<Vec<_>>());
        // Recursively: an Essay is ordered by its book (by title), then -title; a Review by
        // its essay.
        let mut books = Vec::new();
        for title in ["b", "a", "c"] {
            books.push(Book { id: Auto::unset(), title: title.into(), essays: Default::default(), picked: Default::default() }.create(&db)?);
        }
        let (a, b, c) = (&books[1], &books[0], &books[2]);
        let mut essays = Vec::new();
        for (title, book) in [("x", c), ("y", a), ("z", a), ("w", b)] {
            essays.push(Essay { id: Auto::unset(), title: title.into(), book: ForeignKey::to(book)? }.create(&db)?);
        }
        let essay_titles = |qs: QuerySet<Essay>| -> orm::Result<Vec<String>> { qs.values(["title"]).fetch_flat(&db) };
        assert_eq!(essay_titles(Essay::objects())?, ["z", "y", "w", "x"], "default ordering through a relation");
        assert_eq!(essay_titles(Essay::objects().reverse())?, ["x", "w", "y", "z"]);
        for e in &essays {
            Review { id: Auto::unset(), essay: ForeignKey::to(e)? }.create(&db)?;
        }
        let review_essays = |qs: QuerySet<Review>| -> orm::Result<Vec<String>> { qs.values(["essay__title"]).fetch_flat(&db) };
        assert_eq!(review_essays(Review::objects().order_by(["essay"]))?, ["z", "y", "w", "x"]);
        assert_eq!(review_essays(Review::objects().order_by(["-essay"]))?, ["x", "w", "y", "z"]);
        assert_eq!(review_essays(Review::objects().order_by([Review::essay().desc()]))?, ["x", "w", "y", "z"]);
        Ok(())
    }
}

backend_test! {
    fn an_ordering_cycle_is_a_field_error_before_any_sql(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let capture = db.capture_queries();
        for r in [Ring::objects().fetch(&db).map(drop), Ring::objects().order_by(["-next"]).fetch(&db).map(drop)] {
            match r {
                Err(Error::FieldError { message }) => assert_eq!(message, "Infinite loop caused by ordering."),
                other => panic!("expected the ordering loop error, got {other:?}"),
            }
        }
        assert!(capture.is_empty());
        // Ordering by the key column is no loop.
        assert!(Ring::objects().order_by(["next_id"]).fetch(&db)?.is_empty());
        Ok(())
    }
}

backend_test! {
    fn nulls_first_and_last_on_every_backend(t: &TestDb) {
        let db = db_of(t);
        five(&db)?;
        let w = |o: OrderBy| ordered_names(Writer::objects().order_by([o, OrderBy::asc("name")]), &db);
        // Only Ann has a country.
        assert_eq!(w(OrderBy::asc("country__name").nulls_last())?, ["Ann", "Bob", "Cy", "Dee", "Eve"]);
        assert_eq!(w(OrderBy::asc("country__name").nulls_first())?, ["Bob", "Cy", "Dee", "Eve", "Ann"]);
        assert_eq!(w(OrderBy::desc("country__name").nulls_last())?, ["Ann", "Bob", "Cy", "Dee", "Eve"]);
        assert_eq!(w(OrderBy::desc("country").nulls_first())?, ["Bob", "Cy", "Dee", "Eve", "Ann"]);
        assert_eq!(w(Writer::country().asc().nulls_first())?, ["Bob", "Cy", "Dee", "Eve", "Ann"]);
        // Without either, NULLs are the smallest value everywhere.
        assert_eq!(w(OrderBy::asc("country_id"))?, ["Bob", "Cy", "Dee", "Eve", "Ann"]);
        assert_eq!(w(OrderBy::desc("country_id"))?, ["Ann", "Bob", "Cy", "Dee", "Eve"]);
        // reverse() keeps the NULLs placement and flips the direction.
        let rev = ordered_names(Writer::objects().order_by([OrderBy::asc("country_id").nulls_last(), OrderBy::asc("name")]).reverse(), &db)?;
        assert_eq!(rev, ["Ann", "Eve", "Dee", "Cy", "Bob"]);
        Ok(())
    }
}

backend_test! {
    fn random_ordering_and_first_last_by_pk(t: &TestDb) {
        let db = db_of(t);
        five(&db)?;
        let shuffled: BTreeSet<String> = Writer::objects().order_by(["?"]).values(["name"]).fetch_flat::<String>(&db)?.into_iter().collect();
        assert_eq!(shuffled, set(&["Ann", "Bob", "Cy", "Dee", "Eve"]));
        assert_eq!(Writer::objects().order_by([OrderBy::random()]).slice(..2).fetch(&db)?.len(), 2);
        let (sql, _) = Writer::objects().order_by(["?"]).to_sql(db.dialect())?;
        assert!(sql.contains("RAND"), "{sql}");
        // Country has no ordering: first() and last() order by the primary key.
        let fr = Country::objects().get(&db)?;
        let de = Country { id: Auto::unset(), name: "Deutschland".into() }.create(&db)?;
        let be = Country { id: Auto::unset(), name: "Belgique".into() }.create(&db)?;
        assert_eq!(Country::objects().first(&db)?.map(|c| c.id), Some(fr.id));
        assert_eq!(Country::objects().last(&db)?.map(|c| c.id), Some(be.id));
        assert_eq!(Country::objects().order_by(["name"]).first(&db)?.map(|c| c.id), Some(be.id));
        assert_eq!(Country::objects().order_by(["name"]).last(&db)?.map(|c| c.id), Some(fr.id));
        assert_eq!(Country::objects().filter(Country::name().startswith("D")).last(&db)?.map(|c| c.id), Some(de.id));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 2. GROUP BY as Django computes it; aggregate() over subqueries; default, StdDev, Variance.

fn f64_of(row: &OwnedRow, i: usize) -> f64 {
    match &row.values()[i] {
        Value::Float(f) => *f,
        Value::Int(n) => *n as f64,
        Value::Decimal(d) => d.to_string().parse().unwrap(),
        Value::Text(t) => t.parse().unwrap(),
        other => panic!("not a number: {other:?}"),
    }
}

backend_test! {
    fn values_annotate_groups_by_the_values_fields_only(t: &TestDb) {
        let db = db_of(t);
        let (_, ann, bob, _) = seed(&db)?;
        let (a, b) = (ann.id.get().unwrap(), bob.id.get().unwrap());
        let per_writer = Article::objects().values(["writer"]).annotate("n", orm::Count::all()).order_by(["writer"]).fetch_lists(&db)?;
        let mut expect = vec![vec![Value::Int(a), Value::Int(2)], vec![Value::Int(b), Value::Int(1)]];
        expect.sort_by_key(|r| match r[0] { Value::Int(i) => i, _ => 0 });
        assert_eq!(per_writer, expect);
        // An annotation made before values() and not named there is neither selected nor
        // grouped by.
        let masked = Article::objects()
            .annotate("double", F::col("rating") * 2)
            .values(["writer"])
            .annotate("n", orm::Count::all())
            .order_by(["writer"])
            .fetch_values(&db)?;
        assert_eq!(masked.len(), 2);
        assert_eq!(masked[0].columns().to_vec(), ["writer", "n"]);
        // Named in values(), it is selected and grouped by.
        let named = Article::objects().annotate("double", F::col("rating") * 2).values(["double"]).annotate("n", orm::Count::all()).fetch_values(&db)?;
        assert_eq!(named.len(), 3);
        // aggregate() after an annotation that is not an aggregate does not group by it.
        let total = Article::objects().annotate("double", F::col("rating") * 2).aggregate([("s", orm::Sum::of("double"))], &db)?;
        assert_eq!(total.get::<i64>(0)?, 18);
        Ok(())
    }
}

backend_test! {
    fn aggregate_over_distinct_sliced_and_annotated_querysets_uses_a_subquery(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        // Joining articles gives one row per article; distinct() makes it one per writer.
        let joined = Writer::objects().filter(Q::path("articles__rating__gte", 0)?);
        assert_eq!(joined.aggregate([("n", orm::Count::all())], &db)?.get::<i64>(0)?, 3);
        assert_eq!(joined.clone().distinct().aggregate([("n", orm::Count::all()), ("ids", orm::Count::of("id"))], &db)?.values(), &[Value::Int(2), Value::Int(2)]);
        // A slice: the aggregate covers the slice's rows only.
        let first_two = Article::objects().order_by(["title"]).slice(..2);
        assert_eq!(first_two.aggregate([("s", orm::Sum::of("rating"))], &db)?.get::<i64>(0)?, 6);
        assert_eq!(Article::objects().order_by(["title"]).slice(1..).aggregate([("n", orm::Count::all()), ("m", orm::Max::of("rating"))], &db)?.values(), &[Value::Int(2), Value::Int(3)]);
        // Over an aggregate annotation: one value per group.
        let per_writer = Writer::objects().annotate("n", orm::Count::of("articles"));
        let row = per_writer.aggregate([("total", orm::Sum::of("n")), ("most", orm::Max::of("n")), ("writers", orm::Count::all())], &db)?;
        assert_eq!(f64_of(&row, 0), 3.0);
        assert_eq!(row.values()[1..], [Value::Int(2), Value::Int(3)]);
        let avg = per_writer.aggregate([("avg", orm::Avg::of("n"))], &db)?;
        assert!((f64_of(&avg, 0) - 1.0).abs() < 1e-9);
        let grouped = Article::objects().values(["writer"]).annotate("n", orm::Count::all());
        assert_eq!(grouped.aggregate([("most", orm::Max::of("n"))], &db)?.values(), &[Value::Int(2)]);
        // A distinct values() query counts the distinct values.
        assert_eq!(Article::objects().values(["writer"]).distinct().aggregate([("n", orm::Count::all())], &db)?.values(), &[Value::Int(2)]);
        Ok(())
    }
}

backend_test! {
    fn aggregate_default_stddev_and_variance(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        // Ratings 5, 1, 3: mean 3, squared deviations 4 + 4 + 0.
        let row = Article::objects().aggregate(
            [
                ("sd", orm::StdDev::of("rating")),
                ("sd_s", orm::StdDev::sample("rating")),
                ("var", orm::Variance::of("rating")),
                ("var_s", orm::Variance::sample("rating")),
            ],
            &db,
        )?;
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} != {b}");
        close(f64_of(&row, 0), (8.0f64 / 3.0).sqrt());
        close(f64_of(&row, 1), 2.0);
        close(f64_of(&row, 2), 8.0 / 3.0);
        close(f64_of(&row, 3), 4.0);
        // Per group, and a sample of one row has no spread (NULL).
        let per = Writer::objects().annotate("v", orm::Variance::sample("articles__rating")).order_by(["name"]).values(["name", "v"]).fetch_lists(&db)?;
        assert_eq!(per.len(), 3);
        assert_eq!(per[1][1], Value::Null, "Bob has one article");
        assert_eq!(per[2][1], Value::Null, "Cy has none");
        // default= replaces NULL, in SQL and without a query.
        let nothing = Article::objects().filter(Article::rating().gt(100));
        let row = nothing.aggregate([("s", orm::Sum::of("rating").default(0)), ("m", orm::Max::of("rating").default(-1)), ("plain", orm::Sum::of("rating"))], &db)?;
        assert_eq!((row.get::<i64>(0)?, row.get::<i64>(1)?, &row.values()[2]), (0, -1, &Value::Null));
        let capture = db.capture_queries();
        let row = Article::objects().none().aggregate([("s", orm::Sum::of("rating").default(7)), ("n", orm::Count::all())], &db)?;
        assert_eq!(row.values(), &[Value::Int(7), Value::Int(0)]);
        assert!(capture.is_empty());
        let with = Writer::objects().annotate("s", orm::Sum::of("articles__rating").default(0)).order_by(["name"]).values(["s"]).fetch_flat::<i64>(&db)?;
        assert_eq!(with, [6, 3, 0]);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Filters and aggregates across multi-valued relations.

fn counts(rows: Vec<orm::Annotated<Writer>>) -> orm::Result<Vec<(String, i64)>> {
    rows.into_iter().map(|r| Ok((r.object.name.clone(), r.get::<i64>("n")?))).collect()
}

fn pairs(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
}

backend_test! {
    fn a_filter_before_annotate_restricts_the_count_and_after_it_filters_groups(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let high = || Q::path("articles__rating__gte", 3);
        let before = Writer::objects().filter(high()?).annotate("n", orm::Count::of("articles")).order_by(["name"]).fetch_annotated(&db)?;
        assert_eq!(counts(before)?, pairs(&[("Ann", 1), ("Bob", 1)]), "only the kept articles are counted");
        let after = Writer::objects().annotate("n", orm::Count::of("articles")).filter(high()?).order_by(["name"]).fetch_annotated(&db)?;
        assert_eq!(counts(after)?, pairs(&[("Ann", 2), ("Bob", 1)]), "the groups are filtered, the counts are not");
        // Both: counted within the first filter, groups kept by the second.
        let both = Writer::objects()
            .filter(Q::path("articles__rating__lte", 3)?)
            .annotate("n", orm::Count::of("articles"))
            .filter(Q::path("articles__rating__gte", 5)?)
            .fetch_annotated(&db)?;
        assert_eq!(counts(both)?, pairs(&[("Ann", 1)]));
        // aggregate() reuses the filter's join as well.
        let agg = Writer::objects().filter(high()?).aggregate([("n", orm::Count::of("articles")), ("s", orm::Sum::of("articles__rating"))], &db)?;
        assert_eq!((agg.get::<i64>(0)?, agg.get::<i64>(1)?), (2, 8));
        // Many-to-many: the same rules.
        let (a1, a2) = (Article::objects().filter(Article::title().eq("a1")).get(&db)?, Article::objects().filter(Article::title().eq("a2")).get(&db)?);
        let (red, blue) = (label(&db, "red")?, label(&db, "blue")?);
        a1.labels().add([&red, &blue], &db)?;
        a2.labels().add([&red], &db)?;
        let per_article = |qs: QuerySet<Article>| -> orm::Result<Vec<(String, i64)>> {
            qs.order_by(["title"]).fetch_annotated(&db)?.into_iter().map(|r| Ok((r.object.title.clone(), r.get::<i64>("n")?))).collect()
        };
        let before = per_article(Article::objects().filter(Q::path("labels__name", "blue")?).annotate("n", orm::Count::of("labels")))?;
        assert_eq!(before, pairs(&[("a1", 1)]));
        let after = per_article(Article::objects().annotate("n", orm::Count::of("labels")).filter(Q::path("labels__name", "blue")?))?;
        assert_eq!(after, pairs(&[("a1", 2)]));
        Ok(())
    }
}

backend_test! {
    fn a_condition_mixing_an_aggregate_and_a_column_runs_everywhere(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let rows = Writer::objects()
            .annotate("n", orm::Count::of("articles"))
            .filter(Q::path("n__gt", 1)? | Q::path("name", "Cy")?)
            .order_by(["name"])
            .fetch_annotated(&db)?;
        assert_eq!(counts(rows)?, pairs(&[("Ann", 2), ("Cy", 0)]));
        let excluded = Writer::objects().annotate("n", orm::Count::of("articles")).exclude(Q::path("n", 0)? | Q::path("name", "Ann")?).fetch_annotated(&db)?;
        assert_eq!(counts(excluded)?, pairs(&[("Bob", 1)]));
        let grouped = Article::objects()
            .values(["writer"])
            .annotate("n", orm::Count::all())
            .filter(Q::path("n__gt", 1)? | Q::path("writer__name", "Bob")?)
            .fetch_values(&db)?;
        assert_eq!(grouped.len(), 2);
        let grouped = Article::objects()
            .values(["writer"])
            .annotate("n", orm::Count::all())
            .filter(Q::path("n__gt", 1)? & Q::path("writer__name", "Bob")?)
            .fetch_values(&db)?;
        assert!(grouped.is_empty());
        Ok(())
    }
}

backend_test! {
    fn ordering_or_filtering_by_an_aggregate_not_annotated_is_a_field_error(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let capture = db.capture_queries();
        let err = Writer::objects().order_by([orm::Expr::from(orm::Count::of("articles")).desc()]).fetch(&db).unwrap_err();
        assert!(matches!(&err, Error::FieldError { message } if message.starts_with("Using an aggregate in order_by() without also including it in annotate() is not allowed: COUNT(F(articles))")), "{err}");
        let err = Writer::objects().filter(Q::path_expr("id__lt", orm::Count::of("articles"))?).fetch(&db).unwrap_err();
        assert!(matches!(err, Error::FieldError { .. }), "{err}");
        let err = Writer::objects().filter(Q::path("n__gt", 1)?).count(&db).unwrap_err();
        assert!(matches!(&err, Error::FieldError { message } if message.starts_with("Cannot resolve keyword 'n'")), "{err}");
        assert!(capture.is_empty(), "{:?}", capture.queries());
        // Annotated, both work.
        let top = Writer::objects().annotate("n", orm::Count::of("articles")).order_by([OrderBy::desc("n"), OrderBy::asc("name")]).values(["name"]).fetch_flat::<String>(&db)?;
        assert_eq!(top, ["Ann", "Bob", "Cy"]);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Lookups Django accepts.

fn stamped(db: &Database, n: u32, stamp: chrono::NaiveDateTime) -> orm::Result<Everything> {
    let mut e = doc(n, None);
    e.stamp = stamp;
    e.day = stamp.date();
    e.create(db)
}

backend_test! {
    fn text_lookups_on_other_fields_cast_as_django_does(t: &TestDb) {
        let db = db_of(t);
        let (_, ann, bob, _) = seed(&db)?;
        let id = ann.id.get().unwrap();
        assert_eq!(names(Writer::objects().filter_path("id__iexact", id.to_string())?, &db)?, set(&["Ann"]));
        assert_eq!(names(Writer::objects().filter_path("id__exact", id)?, &db)?, set(&["Ann"]));
        assert_eq!(names(Writer::objects().filter_path("id__startswith", id)?.filter_path("id__endswith", id.to_string())?, &db)?, set(&["Ann"]));
        assert_eq!(names(Writer::objects().filter(Q::path("id__in", serde_json::json!([id, bob.id.get().unwrap()]))?).filter_path("id__regex", format!("^{}$", bob.id.get().unwrap()))?, &db)?, set(&["Bob"]));
        assert_eq!(names(Writer::objects().exclude_path("id__contains", id)?.filter_path("id__lte", id + 1)?, &db)?, set(&["Bob"]));
        let e = stamped(&db, 1, NaiveDate::from_ymd_opt(2021, 1, 3).unwrap().and_hms_opt(12, 34, 56).unwrap())?;
        let texts = |qs: QuerySet<Everything>| -> orm::Result<Vec<String>> { qs.values(["short_text"]).fetch_flat(&db) };
        let only = vec![e.short_text];
        assert_eq!(texts(Everything::objects().filter_path("day__startswith", "2021-01")?)?, only);
        assert_eq!(texts(Everything::objects().filter_path("price__contains", "1.5")?)?, only);
        assert_eq!(texts(Everything::objects().filter_path("big__icontains", 3)?)?, only);
        assert!(texts(Everything::objects().filter_path("medium__contains", 9)?)?.is_empty());
        Ok(())
    }
}

backend_test! {
    fn exact_against_a_subquery_of_several_rows_is_refused_everywhere(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let capture = db.capture_queries();
        let many = orm::Subquery::new(Writer::objects().filter(Writer::name().lt("C")), "id");
        let err = Writer::objects().filter(Q::path_expr("id", many)?).fetch(&db).unwrap_err();
        assert!(matches!(&err, Error::ValueError(m) if m == "The QuerySet value for an exact lookup must be limited to one result using slicing."), "{err}");
        assert!(capture.is_empty());
        let one = orm::Subquery::new(Writer::objects().filter(Writer::name().lt("C")).order_by(["-name"]).slice(..1), "id");
        assert_eq!(names(Writer::objects().filter(Q::path_expr("id", one)?), &db)?, set(&["Bob"]));
        Ok(())
    }
}

backend_test! {
    fn the_iso_week_quarter_time_and_second_transforms(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        // A Sunday in ISO week 53 of 2020; a Wednesday in week 20 of 2024.
        let sunday = stamped(&db, 1, NaiveDate::from_ymd_opt(2021, 1, 3).unwrap().and_hms_opt(12, 34, 56).unwrap())?;
        let wednesday = stamped(&db, 2, NaiveDate::from_ymd_opt(2024, 5, 15).unwrap().and_hms_opt(8, 0, 7).unwrap())?;
        let (s, w) = (vec![sunday.short_text.clone()], vec![wednesday.short_text.clone()]);
        let texts = |path: &str, v: Value| -> orm::Result<Vec<String>> { Everything::objects().filter_path(path, v)?.order_by(["id"]).values(["short_text"]).fetch_flat(&db) };
        for field in ["stamp", "day"] {
            assert_eq!(texts(&format!("{field}__iso_year"), Value::Int(2020))?, s, "{field}");
            assert_eq!(texts(&format!("{field}__year"), Value::Int(2021))?, s, "{field}");
            assert_eq!(texts(&format!("{field}__week"), Value::Int(53))?, s, "{field}");
            assert_eq!(texts(&format!("{field}__week"), Value::Int(20))?, w, "{field}");
            assert_eq!(texts(&format!("{field}__iso_week_day"), Value::Int(7))?, s, "{field}");
            assert_eq!(texts(&format!("{field}__iso_week_day"), Value::Int(3))?, w, "{field}");
            assert_eq!(texts(&format!("{field}__week_day"), Value::Int(1))?, s, "{field}: Django's week_day has Sunday = 1");
            assert_eq!(texts(&format!("{field}__quarter"), Value::Int(2))?, w, "{field}");
            assert_eq!(texts(&format!("{field}__quarter__lt"), Value::Int(2))?, s, "{field}");
        }
        assert_eq!(texts("stamp__second", Value::Int(56))?, s);
        assert_eq!(texts("stamp__second__lt", Value::Int(10))?, w);
        assert_eq!(texts("stamp__time", Value::Time(chrono::NaiveTime::from_hms_opt(12, 34, 56).unwrap()))?, s);
        assert_eq!(texts("stamp__time__lt", Value::Time(chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap()))?, w);
        assert_eq!(texts("clock__hour", Value::Int(10))?, [s[0].clone(), w[0].clone()]);
        // A time part of a date is refused before any SQL.
        let capture = db.capture_queries();
        for t in ["hour", "minute", "second", "time"] {
            let err = texts(&format!("day__{t}"), Value::Int(1)).unwrap_err();
            assert!(matches!(&err, Error::ValueError(m) if *m == format!("Cannot extract time component '{t}' from DateField 'day'.")), "{err}");
        }
        assert!(capture.is_empty());
        Ok(())
    }
}

backend_test! {
    fn exclude_across_a_to_field_relation_compares_that_column(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        for number in [100, 200, 300] {
            Acct { id: Auto::unset(), number }.create(&db)?;
        }
        for (number, amount) in [(100, 5), (100, 7), (200, 1)] {
            Txn { id: Auto::unset(), account: ForeignKey::new(number), amount }.create(&db)?;
        }
        let numbers = |qs: QuerySet<Acct>| -> orm::Result<Vec<i64>> { qs.order_by(["number"]).values(["number"]).fetch_flat(&db) };
        assert_eq!(numbers(Acct::objects().exclude(Q::path("txns__amount", 5)?))?, [200, 300]);
        assert_eq!(numbers(Acct::objects().filter(Q::path("txns__amount", 5)?))?, [100]);
        assert_eq!(numbers(Acct::objects().exclude(Q::path("txns__amount__gte", 1)?))?, [300]);
        assert_eq!(numbers(Acct::objects().exclude(Q::path("txns__isnull", true)?))?, [100, 100, 200].iter().copied().collect::<BTreeSet<i64>>().into_iter().collect::<Vec<_>>());
        let txns: Vec<i64> = Txn::objects().exclude(Q::path("account__number", 100)?).values(["amount"]).fetch_flat(&db)?;
        assert_eq!(txns, [1]);
        Ok(())
    }
}

backend_test! {
    fn decimal_arithmetic_in_update_is_exact(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut e = doc(1, None);
        e.price = "123456789.125".parse().unwrap();
        let e = e.create(&db)?;
        let step: rust_decimal::Decimal = "0.001".parse().unwrap();
        for _ in 0..3 {
            Everything::objects().filter(Everything::id().eq(e.id.get().unwrap())).update([Everything::price().set(F::col("price") + Value::Decimal(step))], &db)?;
        }
        Everything::objects().update([Everything::price().set(F::col("price") - Value::Decimal("0.002".parse().unwrap()))], &db)?;
        let back = Everything::objects().get(&db)?;
        assert_eq!(back.price, "123456789.126".parse::<rust_decimal::Decimal>().unwrap());
        if db.dialect().features().has_native_decimal {
            let sum: rust_decimal::Decimal = Everything::objects().annotate("p", F::col("price") + Value::Decimal("0.0001".parse().unwrap())).values(["p"]).fetch_flat(&db)?.remove(0);
            assert_eq!(sum, "123456789.1261".parse::<rust_decimal::Decimal>().unwrap());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 8. select_related.

backend_test! {
    fn select_related_with_no_names_follows_the_non_null_forward_relations(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let a1 = Article::objects().filter(Article::title().eq("a1")).get(&db)?;
        Remark { id: Auto::unset(), article: ForeignKey::to(&a1)?, text: "nice".into() }.create(&db)?;
        let capture = db.capture_queries();
        let remarks = Remark::objects().select_related_all().fetch(&db)?;
        assert_eq!(capture.len(), 1, "one query");
        let article = remarks[0].article.cached().expect("the article is selected");
        assert_eq!(article.title, "a1");
        let writer = article.writer.cached().expect("two levels: the writer too");
        assert_eq!(writer.name, "Ann");
        assert!(writer.country.as_ref().is_none_or(|c| c.cached().is_none()), "a nullable relation is not followed");
        assert_eq!(capture.len(), 1);
        // select_related_none() forgets the paths.
        let plain = Article::objects().select_related(["writer"]).select_related_none().fetch(&db)?;
        assert!(plain.iter().all(|a| a.writer.cached().is_none()));
        let again = Article::objects().select_related_all().order_by(["title"]).fetch(&db)?;
        assert!(again.iter().all(|a| a.writer.cached().is_some()));
        Ok(())
    }
}

backend_test! {
    fn select_related_after_values_is_refused(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let capture = db.capture_queries();
        let err = Article::objects().values(["title"]).select_related(["writer"]).fetch_values(&db).unwrap_err();
        assert!(matches!(&err, Error::TypeError(m) if m == "Cannot call select_related() after .values() or .values_list()"), "{err}");
        assert!(capture.is_empty());
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 9. prefetch_related.

backend_test! {
    fn prefetching_is_honoured_by_get_and_cleared_by_prefetch_related_none(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let capture = db.capture_queries();
        let ann = Writer::objects().prefetch_related(["articles"]).filter(Writer::name().eq("Ann")).get(&db)?;
        assert_eq!(capture.len(), 2, "the writer, then its articles");
        let mut titles: Vec<String> = ann.articles.cached().expect("prefetched by get()").iter().map(|a| a.title.clone()).collect();
        titles.sort();
        assert_eq!(titles, ["a1", "a2"]);
        let plain = Writer::objects().prefetch_related(["articles"]).prefetch_related_none().filter(Writer::name().eq("Ann")).get(&db)?;
        assert!(plain.articles.cached().is_none());
        assert_eq!(capture.len(), 3);
        let err = Writer::objects().chunk_size(0).iter(&db).map(drop).unwrap_err();
        assert!(matches!(&err, Error::ValueError(m) if m == "Chunk size must be strictly positive."), "{err}");
        assert_eq!(capture.len(), 3, "refused before any SQL");
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// 11. Lookups and transforms by field kind.

backend_test! {
    fn year_against_a_constant_is_a_range_on_the_raw_column(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let old = stamped(&db, 1, NaiveDate::from_ymd_opt(2021, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap())?;
        let new = stamped(&db, 2, NaiveDate::from_ymd_opt(2021, 12, 31).unwrap().and_hms_micro_opt(23, 59, 59, 999_999).unwrap())?;
        let later = stamped(&db, 3, NaiveDate::from_ymd_opt(2022, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap())?;
        let mut tz = later.clone();
        tz.id = Auto::unset();
        tz.short_text = "tz".into();
        tz.instant = NaiveDate::from_ymd_opt(2020, 12, 31).unwrap().and_hms_opt(23, 0, 0).unwrap().and_utc();
        tz.create(&db)?;
        let texts = |path: &str, y: i64| -> orm::Result<Vec<String>> { Everything::objects().filter_path(path, y)?.order_by(["id"]).values(["short_text"]).fetch_flat(&db) };
        let (o, n, l) = (old.short_text.as_str(), new.short_text.as_str(), later.short_text.as_str());
        for field in ["stamp", "day"] {
            assert_eq!(texts(&format!("{field}__year"), 2021)?, [o, n], "{field}: both ends of the year");
            assert_eq!(texts(&format!("{field}__year__gt"), 2021)?, [l, "tz"], "{field}");
            assert_eq!(texts(&format!("{field}__year__gte"), 2022)?, [l, "tz"], "{field}");
            assert_eq!(texts(&format!("{field}__year__lt"), 2022)?, [o, n], "{field}");
            assert_eq!(texts(&format!("{field}__year__lte"), 2021)?, [o, n], "{field}");
        }
        assert_eq!(texts("instant__year", 2020)?, ["tz"]);
        assert_eq!(texts("instant__year__gte", 2021)?, [o, n, l]);
        // The SQL compares the column itself, with a range.
        for d in [orm::Dialect::Sqlite, orm::Dialect::Postgres, orm::Dialect::Mysql] {
            let (sql, params) = Everything::objects().filter_path("stamp__year", 2021)?.to_sql(d)?;
            assert!(sql.contains("\"stamp\" BETWEEN") || sql.contains("`stamp` BETWEEN"), "{sql}");
            assert_eq!(params.len(), 2);
        }
        // Excluding keeps the other years; other lookups on a year still extract it.
        assert_eq!(Everything::objects().exclude_path("stamp__year", 2021)?.count(&db)?, 2);
        assert!(texts("stamp__year__in", 0).is_err(), "in needs a list");
        Ok(())
    }
}

backend_test! {
    fn text_lookups_on_datetimes_and_json_search_their_text(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut e = stamped(&db, 1, NaiveDate::from_ymd_opt(2021, 1, 3).unwrap().and_hms_opt(12, 34, 56).unwrap())?;
        e.opt_doc = Some(serde_json::json!({"Color": "Deep Blue", "n": 5}));
        e.save(&db)?;
        stamped(&db, 2, NaiveDate::from_ymd_opt(2024, 5, 15).unwrap().and_hms_opt(8, 0, 7).unwrap())?;
        let texts = |qs: QuerySet<Everything>| -> orm::Result<Vec<String>> { qs.order_by(["id"]).values(["short_text"]).fetch_flat(&db) };
        let only = vec![e.short_text.clone()];
        assert_eq!(texts(Everything::objects().filter_path("stamp__startswith", "2021-01-03")?)?, only);
        assert_eq!(texts(Everything::objects().filter_path("day__regex", "^2021-")?)?, only);
        assert_eq!(texts(Everything::objects().filter_path("opt_doc__icontains", "deep blue")?)?, only, "searches the serialised document");
        assert_eq!(texts(Everything::objects().filter_path("opt_doc__contains", "Color")?)?, only);
        assert!(texts(Everything::objects().filter_path("opt_doc__contains", "color")?)?.is_empty(), "contains is case-sensitive");
        assert_eq!(texts(Everything::objects().filter_path("big__regex", "^3$")?)?.len(), 2);
        Ok(())
    }
}

backend_test! {
    fn abs_and_sums_of_decimals_are_decimals_on_every_backend(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut e = doc(1, None);
        e.price = "-1.250".parse().unwrap();
        e.create(&db)?;
        let mut f = doc(2, None);
        f.price = "2.5".parse().unwrap();
        f.create(&db)?;
        let rows = Everything::objects().annotate("a", F::col("price").abs()).order_by(["id"]).values(["price", "a"]).fetch_lists(&db)?;
        let dec = |s: &str| Value::Decimal(s.parse().unwrap());
        let normal = |v: &Value| match v {
            Value::Decimal(d) => Value::Decimal(d.normalize()),
            other => other.clone(),
        };
        assert_eq!(normal(&rows[0][1]), dec("1.25"), "{rows:?}");
        assert_eq!(normal(&rows[1][1]), dec("2.5"));
        let total = Everything::objects().values(["flag"]).annotate("s", orm::Sum::of("price")).fetch_lists(&db)?;
        assert_eq!(normal(&total[0][1]), dec("1.25"), "{total:?}");
        Ok(())
    }
}

backend_test! {
    fn a_many_to_many_prefetch_is_one_query_per_level(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let arts: Vec<Article> = Article::objects().order_by(["title"]).fetch(&db)?;
        let (red, blue, green) = (label(&db, "red")?, label(&db, "blue")?, label(&db, "green")?);
        arts[0].labels().add([&red, &blue], &db)?;
        arts[1].labels().add([&red], &db)?;
        let capture = db.capture_queries();
        let got = Article::objects().order_by(["title"]).prefetch_related(["labels"]).fetch(&db)?;
        assert_eq!(capture.len(), 2, "the articles, then their labels joined through the link table: {:?}", capture.queries());
        let names_of = |a: &Article| -> Vec<String> { a.labels.cached().expect("prefetched").iter().map(|l| l.name.clone()).collect() };
        assert_eq!(names_of(&got[0]), ["blue", "red"], "in the labels' own ordering");
        assert_eq!(names_of(&got[1]), ["red"]);
        assert!(names_of(&got[2]).is_empty());
        // The reverse side, and two levels.
        let labels = Label::objects().prefetch_related(["articles__writer"]).fetch(&db)?;
        assert_eq!(capture.len(), 5, "labels, their articles, the articles' writers");
        let by_name: std::collections::HashMap<String, Vec<String>> = labels
            .iter()
            .map(|l| (l.name.clone(), l.articles.cached().expect("prefetched").iter().map(|a| format!("{} by {}", a.title, a.writer.cached().expect("writer prefetched").name)).collect()))
            .collect();
        assert_eq!(by_name["red"], ["a1 by Ann", "a2 by Ann"]);
        assert_eq!(by_name["blue"], ["a1 by Ann"]);
        assert!(by_name["green"].is_empty());
        let _ = green;
        Ok(())
    }
}

backend_test! {
    fn a_prefetch_through_a_select_related_relation_reuses_its_objects(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let capture = db.capture_queries();
        let arts = Article::objects().select_related(["writer"]).prefetch_related(["writer"]).order_by(["title"]).fetch(&db)?;
        assert_eq!(capture.len(), 1, "no query for the writers: {:?}", capture.queries());
        assert_eq!(arts.iter().map(|a| a.writer.cached().expect("loaded").name.clone()).collect::<Vec<_>>(), ["Ann", "Ann", "Bob"]);
        // Without select_related the prefetch reads them, once.
        let arts = Article::objects().prefetch_related(["writer"]).fetch(&db)?;
        assert_eq!(capture.len(), 3);
        assert!(arts.iter().all(|a| a.writer.cached().is_some()));
        Ok(())
    }
}

backend_test! {
    fn prefetch_to_attr_fills_another_field(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let book = Book { id: Auto::unset(), title: "b".into(), essays: Default::default(), picked: Default::default() }.create(&db)?;
        for title in ["x", "y", "z"] {
            Essay { id: Auto::unset(), title: title.into(), book: ForeignKey::to(&book)? }.create(&db)?;
        }
        let capture = db.capture_queries();
        let books = Book::objects()
            .prefetch_related([orm::Prefetch::with("essays", Essay::objects().filter(Essay::title().gt("x"))).to_attr("picked"), orm::Prefetch::new("essays")])
            .fetch(&db)?;
        assert_eq!(capture.len(), 3, "the books, the picked essays, all essays");
        let titles = |r: &orm::Reverse<Essay>| -> Vec<String> { r.cached().expect("prefetched").iter().map(|e| e.title.clone()).collect() };
        assert_eq!(titles(&books[0].picked), ["z", "y"], "the custom queryset, in Essay's ordering");
        assert_eq!(titles(&books[0].essays), ["z", "y", "x"], "the relation's own cache is the full set");
        let only = Book::objects().prefetch_related([orm::Prefetch::new("essays").to_attr("picked")]).fetch(&db)?;
        assert!(only[0].essays.cached().is_none(), "to_attr leaves the relation's cache alone");
        assert_eq!(titles(&only[0].picked).len(), 3);
        let err = Book::objects().prefetch_related([orm::Prefetch::new("essays").to_attr("title")]).fetch(&db).unwrap_err();
        assert!(matches!(err, Error::FieldError { .. }), "{err}");
        Ok(())
    }
}

backend_test! {
    fn iter_with_a_chunk_size_prefetches_each_chunk(t: &TestDb) {
        let db = db_of(t);
        five(&db)?;
        let capture = db.capture_queries();
        let err = Writer::objects().prefetch_related(["articles"]).iter(&db).map(drop).unwrap_err();
        assert!(matches!(&err, Error::ValueError(m) if m == "chunk_size must be provided when using QuerySet.iterator() after prefetch_related()."), "{err}");
        assert!(capture.is_empty());
        let mut seen = Vec::new();
        for w in Writer::objects().order_by(["name"]).prefetch_related(["articles"]).chunk_size(2).iter(&db)? {
            let w = w?;
            let n = w.articles.cached().expect("prefetched with its chunk").len();
            seen.push((w.name.clone(), n as i64));
        }
        assert_eq!(seen, pairs(&[("Ann", 2), ("Bob", 1), ("Cy", 0), ("Dee", 0), ("Eve", 0)]));
        assert_eq!(capture.len(), 4, "the writers, then one prefetch per chunk of two: {:?}", capture.queries());
        Ok(())
    }
}

backend_test! {
    fn select_related_follows_relations_declared_on_a_multi_table_parent(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let town = Town { id: Auto::unset(), name: "Lyon".into() }.create(&db)?;
        for (name, beers) in [("Ours", 12), ("Theirs", 3)] {
            Bar { venue: Venue { id: Auto::unset(), name: name.into(), town: ForeignKey::to(&town)? }, beers }.create(&db)?;
        }
        let capture = db.capture_queries();
        let bars = Bar::objects().select_related(["town"]).order_by(["name"]).fetch(&db)?;
        assert_eq!(capture.len(), 1);
        assert_eq!(bars.iter().map(|b| (b.name.clone(), b.town.cached().map(|t| t.name.clone()))).collect::<Vec<_>>(), [("Ours".to_owned(), Some("Lyon".to_owned())), ("Theirs".to_owned(), Some("Lyon".to_owned()))]);
        let all = Bar::objects().select_related_all().fetch(&db)?;
        assert!(all.iter().all(|b| b.town.cached().is_some()));
        assert_eq!(capture.len(), 2);
        let err = Bar::objects().select_related(["nmae"]).fetch(&db).unwrap_err();
        assert!(matches!(&err, Error::FieldError { message } if message.ends_with("Choices are: town")), "{err}");
        Ok(())
    }
}
