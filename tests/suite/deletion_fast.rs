//! The collector's fast deletes by subquery: when nothing below the deleted rows needs
//! reading (no delete receiver, only `Cascade` and database-level relations, no `Restrict`,
//! no multi-table link), the rows below are deleted by `DELETE … WHERE fk IN (SELECT …)`
//! statements, deepest first (multi-table DELETEs on MySQL, one statement of chained `WITH`
//! clauses on PostgreSQL), and a QuerySet's own keys are never selected; as soon as any of
//! that does not hold, the collector reads what it must, as before. Counts, signals and
//! refusals are Django's either way.

use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::db_of;
use std::sync::{Arc, Mutex};

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "fastdel")]
pub struct Shelf {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub color: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "fastdel")]
pub struct Book {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "books")]
    pub shelf: ForeignKey<Shelf>,
    #[orm(related_name = "books")]
    pub topics: ManyToMany<Topic>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "fastdel")]
pub struct Page {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "pages")]
    pub book: ForeignKey<Book>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "fastdel")]
pub struct Topic {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
}

/// A second tree, whose cascade meets a `Protect`: a locker's drawers cascade, a loan protects
/// its drawer.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "fastdel")]
pub struct Locker {
    pub id: Auto<i64>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "fastdel")]
pub struct Drawer {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "drawers")]
    pub locker: ForeignKey<Locker>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "fastdel")]
pub struct Loan {
    pub id: Auto<i64>,
    #[orm(on_delete = Protect, related_name = "loans")]
    pub drawer: ForeignKey<Drawer>,
}

/// A diamond with a `to_field` relation: a spoke points at its hub by the hub's unique `code`;
/// a rim points at a hub and at a spoke, so deleting a hub reaches its rims by two paths.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "fastdel")]
pub struct Hub {
    pub id: Auto<i64>,
    #[orm(unique)]
    pub code: i64,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "fastdel")]
pub struct Spoke {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, to_field = "code", related_name = "spokes")]
    pub hub: ForeignKey<Hub>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "fastdel")]
pub struct Rim {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "rims")]
    pub hub: ForeignKey<Hub>,
    #[orm(on_delete = Cascade, related_name = "rims")]
    pub spoke: ForeignKey<Spoke>,
}

/// Two shelves of each colour, two books per shelf (each with both topics), two pages per book.
fn library(db: &Database) -> orm::Result<Vec<Shelf>> {
    Schema::new().model::<Shelf>().model::<Topic>().model::<Book>().model::<Page>().create_all(db)?;
    let topics = [
        Topic { id: Auto::unset(), name: "sea".into() }.create(db)?,
        Topic { id: Auto::unset(), name: "sky".into() }.create(db)?,
    ];
    let mut shelves = Vec::new();
    for color in ["black", "brown", "black", "brown"] {
        let shelf = Shelf { id: Auto::unset(), color: color.into() }.create(db)?;
        for _ in 0..2 {
            let book =
                Book { id: Auto::unset(), shelf: ForeignKey::to(&shelf)?, topics: ManyToMany::new() }.create(db)?;
            book.topics().add([&topics[0], &topics[1]], db)?;
            for _ in 0..2 {
                Page { id: Auto::unset(), book: ForeignKey::to(&book)? }.create(db)?;
            }
        }
        shelves.push(shelf);
    }
    Ok(shelves)
}

fn statements(capture: &orm::QueryCapture) -> Vec<String> {
    capture.queries().into_iter().map(|q| q.sql).collect()
}

fn starting(statements: &[String], verb: &str) -> usize {
    statements.iter().filter(|s| s.trim_start().to_uppercase().starts_with(verb)).count()
}

/// The statements that ask which tables of a cascade are empty (`SELECT EXISTS (SELECT 1 FROM
/// …), …`): they read no row's key.
fn probes(statements: &[String]) -> usize {
    statements.iter().filter(|s| s.starts_with("SELECT EXISTS (SELECT 1 FROM ")).count()
}

/// The SELECTs that read rows (every SELECT but the emptiness probe).
fn reads(statements: &[String]) -> usize {
    starting(statements, "SELECT") - probes(statements)
}

/// Every DELETE in `statements`, each from its `DELETE` to the next (a `WITH` statement holds
/// several).
fn delete_parts(statements: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for s in statements {
        let starts: Vec<usize> = s.match_indices("DELETE ").map(|(i, _)| i).collect();
        for (k, &i) in starts.iter().enumerate() {
            out.push(s[i..starts.get(k + 1).copied().unwrap_or(s.len())].to_owned());
        }
    }
    out
}

/// Is `sql` a DELETE from `table` (`DELETE FROM t …`, or MySQL's `DELETE t FROM t …`)?
fn deletes_from(sql: &str, table: &str) -> bool {
    ['"', '`'].iter().any(|q| {
        sql.starts_with(&format!("DELETE FROM {q}{table}{q} "))
            || sql.starts_with(&format!("DELETE {q}{table}{q} FROM "))
    })
}

fn black(db: &Database) -> orm::Result<Vec<i64>> {
    Shelf::objects().filter(Shelf::color().eq("black")).values(["id"]).fetch_flat(db)
}

backend_test! {
    fn queryset_delete_of_a_cascade_tree_selects_nothing(t: &TestDb) {
        let db = db_of(t);
        library(&db)?;
        let capture = db.capture_queries();
        let deleted = Shelf::objects().filter(Shelf::color().eq("black")).delete(&db)?;
        let sql = statements(&capture);
        drop(capture);
        if std::env::var_os("SHOW_SQL").is_some() {
            eprintln!("{sql:#?}");
        }
        assert_eq!(reads(&sql), 0, "no key is read: {sql:?}");
        // Which of the tables below are empty is asked once, where the deletes are separate
        // statements; PostgreSQL's one statement needs no question.
        let with = db.dialect().features().can_delete_in_with;
        assert_eq!(probes(&sql), usize::from(!with), "{sql:?}");
        // Pages (nesting books nesting shelves), the books' topic links, books, shelves: four
        // statements in a transaction, or one of four `WITH` clauses (`can_delete_in_with`).
        let parts = delete_parts(&sql);
        assert_eq!(parts.len(), 4, "{sql:?}");
        if db.dialect().features().can_delete_in_with {
            assert_eq!(sql.len(), 1, "one statement, no transaction around it: {sql:?}");
            assert!(sql[0].starts_with("WITH "), "{sql:?}");
        } else {
            assert_eq!(starting(&sql, "DELETE"), 4, "{sql:?}");
        }
        let sql = parts;
        let pages = sql.iter().position(|s| deletes_from(s, "fastdel_page")).expect("a DELETE of pages");
        let books = sql.iter().position(|s| deletes_from(s, "fastdel_book")).expect("a DELETE of books");
        let features = db.dialect().features();
        if features.can_delete_in_with {
            // The shelves' clause comes first, returning their keys; the books' clause deletes
            // by them and returns its own, which the pages' clause deletes by.
            assert!(books < pages, "{sql:?}");
            assert!(sql[0].contains("fastdel_shelf") && sql[0].contains("RETURNING \"id\""), "{}", sql[0]);
            let clause = sql[pages].split(" RETURNING").next().unwrap_or_default();
            assert!(
                clause.contains(" FROM \"d") && !clause.contains("\"fastdel_book\""),
                "pages select from the books' clause, not from the books: {clause}"
            );
        } else {
            assert!(pages < books, "pages go before the books they point at: {sql:?}");
            // Pages select books selecting shelves: nested subqueries, or joins where a
            // subquery would test every page (`delete_in_subquery_uses_index`, MySQL).
            let levels = if features.delete_in_subquery_uses_index {
                sql[pages].matches("SELECT").count()
            } else {
                sql[pages].matches(" JOIN ").count()
            };
            assert_eq!(levels, 2, "pages reach the shelves through the books: {}", sql[pages]);
        }
        assert_eq!(deleted.of("fastdel.Shelf"), 2, "{deleted}");
        assert_eq!(deleted.of("fastdel.Book"), 4, "{deleted}");
        assert_eq!(deleted.of("fastdel.Page"), 8, "{deleted}");
        assert_eq!(deleted.of("fastdel.Book_topics"), 8, "{deleted}");
        assert_eq!(deleted.total, 22);
        assert!(black(&db)?.is_empty());
        assert_eq!(Shelf::objects().count(&db)?, 2);
        assert_eq!(Book::objects().count(&db)?, 4, "the brown shelves keep their books");
        assert_eq!(Page::objects().count(&db)?, 8);
        assert_eq!(Topic::objects().count(&db)?, 2, "the topics stay");
        // Nothing matched: the same statements, nothing removed, no label.
        let again = Shelf::objects().filter(Shelf::color().eq("black")).delete(&db)?;
        assert_eq!(again.total, 0);
        assert!(again.per_model.is_empty(), "{again}");
        Ok(())
    }
}

backend_test! {
    fn instance_delete_nests_what_its_children_take(t: &TestDb) {
        let db = db_of(t);
        let mut shelves = library(&db)?;
        let capture = db.capture_queries();
        let deleted = shelves[0].delete(&db)?;
        let sql = statements(&capture);
        drop(capture);
        if std::env::var_os("SHOW_SQL").is_some() {
            eprintln!("{sql:#?}");
        }
        assert_eq!(reads(&sql), 0, "{sql:?}");
        assert_eq!(probes(&sql), 1, "three fast deletes: worth one question on every backend: {sql:?}");
        assert_eq!(starting(&sql, "DELETE"), 4, "{sql:?}");
        assert_eq!(deleted.total, 1 + 2 + 4 + 4, "{deleted}");
        assert!(shelves[0].id.get().is_none(), "the instance loses its key");
        assert_eq!(Book::objects().count(&db)?, 6);
        assert_eq!(Page::objects().count(&db)?, 12);
        Ok(())
    }
}

backend_test! {
    fn a_receiver_below_reads_and_signals_every_object(t: &TestDb) {
        let db = db_of(t);
        library(&db)?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        db.signals().pre_delete::<Page>().connect(move |e| {
            s.lock().unwrap().push(format!("pre {}", e.instance.id.get().unwrap_or(-1)));
            Ok(())
        });
        let s = seen.clone();
        db.signals().post_delete::<Page>().connect(move |e| {
            s.lock().unwrap().push(format!("post {}", e.instance.id.get().unwrap_or(-1)));
            Ok(())
        });
        let pages: Vec<i64> = Page::objects()
            .filter(Q::path("book__shelf__color", "black")?)
            .order_by(["id"])
            .values(["id"])
            .fetch_flat(&db)?;
        let capture = db.capture_queries();
        let deleted = Shelf::objects().filter(Shelf::color().eq("black")).delete(&db)?;
        let sql = statements(&capture);
        drop(capture);
        assert!(reads(&sql) > 0, "the pages are read for their receivers: {sql:?}");
        let mut want: Vec<String> = pages.iter().map(|p| format!("pre {p}")).collect();
        want.extend(pages.iter().rev().map(|p| format!("post {p}")));
        assert_eq!(*seen.lock().unwrap(), want, "Django's order: every pre_delete, then post_delete by descending key");
        assert_eq!(deleted.total, 22, "{deleted}");
        assert_eq!(Page::objects().count(&db)?, 8);
        Ok(())
    }
}

backend_test! {
    fn filters_across_relations_and_protect_still_collect(t: &TestDb) {
        let db = db_of(t);
        let shelves = library(&db)?;
        // A filter reading the books: deleting the books first would change what it matches,
        // so the keys are selected first, as before.
        let first = shelves[0].id.get().unwrap();
        let first_book: i64 =
            Book::objects().filter(Book::shelf().eq(first)).order_by(["id"]).values(["id"]).fetch_flat(&db)?[0];
        let capture = db.capture_queries();
        let deleted = Shelf::objects().filter(Q::path("books__id", first_book)?).delete(&db)?;
        let sql = statements(&capture);
        drop(capture);
        assert!(reads(&sql) > 0, "{sql:?}");
        assert_eq!(deleted.total, 11, "{deleted}");
        assert_eq!(Shelf::objects().count(&db)?, 3);
        // Protect below: the cascade subtree is not fast, and the refusal names the model
        // asked for, the relation that led to the protecting rows and those rows.
        Schema::new().model::<Locker>().model::<Drawer>().model::<Loan>().create_all(&db)?;
        let locker = Locker { id: Auto::unset() }.create(&db)?;
        let drawer = Drawer { id: Auto::unset(), locker: ForeignKey::to(&locker)? }.create(&db)?;
        Drawer { id: Auto::unset(), locker: ForeignKey::to(&locker)? }.create(&db)?;
        let loan = Loan { id: Auto::unset(), drawer: ForeignKey::to(&drawer)? }.create(&db)?;
        let e = Locker::objects().delete(&db).unwrap_err();
        match &e {
            orm::Error::ProtectedError { model, fields, protected } => {
                assert_eq!(model, "fastdel.Locker");
                assert_eq!(fields, &["Drawer.locker"]);
                assert_eq!(protected, &[format!("fastdel.Loan({})", loan.id)]);
            }
            other => panic!("expected ProtectedError, got {other}"),
        }
        assert_eq!(Drawer::objects().count(&db)?, 2, "nothing was deleted");
        Loan::objects().delete(&db)?;
        let capture = db.capture_queries();
        assert_eq!(Locker::objects().delete(&db)?, 3);
        assert!(reads(&statements(&capture)) > 0, "the drawers are still read: Loan may point at them");
        drop(capture);
        assert_eq!(Shelf::objects().count(&db)?, 3, "the protected locker took nothing with it");
        assert_eq!(Page::objects().count(&db)?, 12);
        Ok(())
    }
}

backend_test! {
    fn a_diamond_through_a_to_field_counts_each_row_once(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Hub>().model::<Spoke>().model::<Rim>().create_all(&db)?;
        let mut hubs = Vec::new();
        for code in [10, 20] {
            let hub = Hub { id: Auto::unset(), code }.create(&db)?;
            for _ in 0..2 {
                let spoke = Spoke { id: Auto::unset(), hub: ForeignKey::new(code) }.create(&db)?;
                // Each rim hangs off its spoke's hub: both paths reach it.
                Rim { id: Auto::unset(), hub: ForeignKey::to(&hub)?, spoke: ForeignKey::to(&spoke)? }.create(&db)?;
            }
            hubs.push(hub);
        }
        let capture = db.capture_queries();
        let deleted = Hub::objects().filter(Hub::code().eq(10)).delete(&db)?;
        let sql = statements(&capture);
        drop(capture);
        assert_eq!(reads(&sql), 0, "{sql:?}");
        assert_eq!(deleted.of("fastdel.Hub"), 1, "{deleted}");
        assert_eq!(deleted.of("fastdel.Spoke"), 2, "{deleted}");
        assert_eq!(deleted.of("fastdel.Rim"), 2, "each rim once, whichever path took it: {deleted}");
        assert_eq!(deleted.total, 5);
        assert_eq!(Spoke::objects().count(&db)?, 2);
        assert_eq!(Rim::objects().count(&db)?, 2);
        // The same through the collector's keys (an instance delete).
        let deleted = hubs[1].delete(&db)?;
        assert_eq!((deleted.of("fastdel.Spoke"), deleted.of("fastdel.Rim"), deleted.total), (2, 2, 5), "{deleted}");
        assert_eq!(Rim::objects().count(&db)?, 0);
        Ok(())
    }
}

backend_test! {
    fn levels_through_an_empty_table_are_not_sent(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Shelf>().model::<Topic>().model::<Book>().model::<Page>().create_all(&db)?;
        // Shelves with books, but no page and no topic link: the pages' and the links'
        // statements could match nothing.
        let mut shelves = Vec::new();
        for color in ["black", "brown", "black"] {
            let shelf = Shelf { id: Auto::unset(), color: color.into() }.create(&db)?;
            for _ in 0..2 {
                Book { id: Auto::unset(), shelf: ForeignKey::to(&shelf)?, topics: ManyToMany::new() }.create(&db)?;
            }
            shelves.push(shelf);
        }
        let with = db.dialect().features().can_delete_in_with;
        let capture = db.capture_queries();
        let deleted = Shelf::objects().filter(Shelf::color().eq("black")).delete(&db)?;
        let sql = statements(&capture);
        drop(capture);
        assert_eq!(reads(&sql), 0, "{sql:?}");
        assert_eq!((deleted.of("fastdel.Shelf"), deleted.of("fastdel.Book"), deleted.total), (2, 4, 6), "{deleted}");
        assert_eq!(Book::objects().count(&db)?, 2, "the brown shelf keeps its books");
        let parts = delete_parts(&sql);
        if with {
            assert_eq!((probes(&sql), parts.len()), (0, 4), "one statement of four clauses, unchanged: {sql:?}");
        } else {
            assert_eq!(probes(&sql), 1, "{sql:?}");
            assert_eq!(parts.len(), 2, "the books and the shelves only: {sql:?}");
            assert!(!parts.iter().any(|p| deletes_from(p, "fastdel_page")), "{sql:?}");
            assert!(deletes_from(&parts[0], "fastdel_book") && deletes_from(&parts[1], "fastdel_shelf"), "{sql:?}");
        }
        // Through the collector's keys (an instance delete): the same question, the same skip.
        let mut brown = shelves.remove(1);
        let capture = db.capture_queries();
        let deleted = brown.delete(&db)?;
        let sql = statements(&capture);
        drop(capture);
        assert_eq!(probes(&sql), 1, "{sql:?}");
        assert_eq!(starting(&sql, "DELETE"), 2, "the books, then the shelf: {sql:?}");
        assert_eq!((deleted.of("fastdel.Book"), deleted.total), (2, 3), "{deleted}");
        // Every table below empty: the QuerySet's own DELETE is all that is sent.
        let _ = Shelf { id: Auto::unset(), color: "black".into() }.create(&db)?;
        let capture = db.capture_queries();
        let deleted = Shelf::objects().filter(Shelf::color().eq("black")).delete(&db)?;
        let sql = statements(&capture);
        drop(capture);
        assert_eq!(deleted.total, 1, "{deleted}");
        if !with {
            assert_eq!((probes(&sql), starting(&sql, "DELETE")), (1, 1), "{sql:?}");
        }
        // A row that arrives in a table the question found empty is deleted by the next delete.
        let shelf = Shelf { id: Auto::unset(), color: "black".into() }.create(&db)?;
        let book = Book { id: Auto::unset(), shelf: ForeignKey::to(&shelf)?, topics: ManyToMany::new() }.create(&db)?;
        Page { id: Auto::unset(), book: ForeignKey::to(&book)? }.create(&db)?;
        let deleted = Shelf::objects().filter(Shelf::color().eq("black")).delete(&db)?;
        assert_eq!((deleted.of("fastdel.Page"), deleted.of("fastdel.Book"), deleted.total), (1, 1, 3), "{deleted}");
        assert_eq!(Page::objects().count(&db)?, 0);
        Ok(())
    }
}
