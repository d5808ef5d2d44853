//! Several databases under one handle, after Django's `tests/multiple_database`: aliases and
//! `using()`, routers consulted in order for every evaluation and write method, instances
//! that remember their database (`_state.db`), signals that carry the alias, relations across
//! databases refused unless a router allows them, and `PrimaryReplicaRouter` over two
//! separate databases standing in for a primary and its replicas (round-robin, a replica
//! that is down skipped, reads inside `atomic` and within the read-your-writes window on the
//! primary). The real streaming replica is exercised in `replica.rs`.

use orm::databases::{Hints, RelationEnd, Router};
use orm::prelude::*;
use orm::signals::PostSaveSignal;
use orm::{ModelMeta, ModelState, PrimaryReplicaRouter, ReadYourWrites};
use orm_backends::testing::{TestDb, TestResult};
use orm_backends::{backend_test, Pool};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A shelf: keeps the database it came from.
#[derive(Model, Debug, Clone)]
#[orm(app = "multi", ordering = ["name"])]
pub struct Shelf {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
    pub state: ModelState,
}

/// A genre (many-to-many target).
#[derive(Model, Debug, Clone)]
#[orm(app = "multi")]
pub struct Genre {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
    pub state: ModelState,
}

/// A volume on a shelf.
#[derive(Model, Debug, Clone)]
#[orm(app = "multi", ordering = ["title"])]
pub struct Volume {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub title: String,
    pub pages: i64,
    #[orm(on_delete = Cascade, related_name = "volumes")]
    pub shelf: ForeignKey<Shelf>,
    #[orm(related_name = "volumes")]
    pub genres: ManyToMany<Genre>,
    pub state: ModelState,
}

fn schema() -> Schema {
    Schema::new().model::<Shelf>().model::<Genre>().model::<Volume>()
}

/// A second isolated database on the test's backend, and a set `default` + `other` (+ more
/// from `extra`) with `routers`.
fn two(t: &TestDb) -> orm_backends::Result<TestDb> {
    Ok(TestDb::open(t.backend(), &format!("{}::other", t.name()))?.expect("the backend under test is configured"))
}

fn set(pools: &[(&str, Pool)], routers: Vec<Arc<dyn Router>>) -> orm::Result<Databases> {
    let mut b = Databases::builder();
    for (alias, pool) in pools {
        b = b.pool(alias, pool.clone())?;
    }
    for r in routers {
        b = b.shared_router(r);
    }
    let dbs = b.build()?;
    for alias in dbs.aliases() {
        let db = dbs.get(alias)?;
        // (A second set over the same pools finds the tables made by the first.)
        if Shelf::objects().count(db).is_err() {
            schema().create_all(db)?;
        }
    }
    Ok(dbs)
}

fn shelf(name: &str) -> Shelf {
    Shelf { id: Auto::unset(), name: name.into(), state: ModelState::default() }
}

fn volume(title: &str, pages: i64, shelf: &Shelf) -> orm::Result<Volume> {
    Ok(Volume {
        id: Auto::unset(),
        title: title.into(),
        pages,
        shelf: ForeignKey::to(shelf)?,
        genres: ManyToMany::new(),
        state: ModelState::default(),
    })
}

backend_test! {
    fn using_names_the_database_and_instances_remember_theirs(t: &TestDb) {
        let o = two(t)?;
        let dbs = set(&[("default", (**t).clone()), ("other", (*o).clone())], vec![])?;
        // Django's test_default_creation / test_other_creation.
        let mut a = shelf("Alpha");
        a.save(&dbs)?;
        assert_eq!(a.state.db, Some("default"), "no router: saved to default");
        let mut b = shelf("Beta");
        b.save_using(&dbs, "other")?;
        assert_eq!(b.state.db, Some("other"));
        let names = |qs: QuerySet<Shelf>| -> orm::Result<Vec<String>> {
            Ok(qs.fetch(&dbs)?.into_iter().map(|s| s.name).collect())
        };
        assert_eq!(names(Shelf::objects())?, ["Alpha"]);
        assert_eq!(names(Shelf::objects().using("default"))?, ["Alpha"]);
        assert_eq!(names(Shelf::objects().using("other"))?, ["Beta"]);
        // Loaded instances remember the database; saving them goes back there.
        let mut loaded = Shelf::objects().using("other").get(&dbs)?;
        assert_eq!(loaded.state.db, Some("other"));
        loaded.name = "Beta 2".into();
        loaded.save(&dbs)?;
        assert_eq!(names(Shelf::objects().using("other"))?, ["Beta 2"]);
        assert_eq!(names(Shelf::objects())?, ["Alpha"], "default untouched");
        // refresh_from_db reads from the instance's database.
        let mut again = loaded.clone();
        again.name = "stale".into();
        again.refresh_from_db(&dbs)?;
        assert_eq!(again.name, "Beta 2");
        // Every evaluation honours using().
        let other = || Shelf::objects().using("other");
        assert_eq!(other().count(&dbs)?, 1);
        assert!(other().exists(&dbs)?);
        assert_eq!(other().first(&dbs)?.map(|s| s.name), Some("Beta 2".into()));
        assert_eq!(other().last(&dbs)?.map(|s| s.name), Some("Beta 2".into()));
        assert_eq!(other().get_pk(loaded.id.get().expect("saved"), &dbs)?.name, "Beta 2");
        assert_eq!(other().iter(&dbs)?.count(), 1);
        assert_eq!(other().values(["name"]).fetch_values(&dbs)?.len(), 1);
        assert_eq!(other().values(["name"]).iter_values(&dbs)?.count(), 1);
        assert_eq!(other().in_bulk_all(&dbs)?.len(), 1);
        let agg = other().aggregate([("n", orm::Count::of("id"))], &dbs)?;
        assert_eq!(agg.get::<i64>(0)?, 1);
        assert_eq!(other().update([Shelf::name().set("Beta 3")], &dbs)?, 1);
        assert_eq!(Shelf::objects().filter(Shelf::name().eq("Beta 3")).count(&dbs)?, 0);
        // An unknown alias: Django's ConnectionDoesNotExist, naming it and the aliases there are.
        let err = Shelf::objects().using("nope").count(&dbs).unwrap_err();
        assert!(matches!(err, orm::Error::ConnectionDoesNotExist { .. }), "{err}");
        assert!(err.to_string().contains("'nope'") && err.to_string().contains("'other'"), "{err}");
        assert!(shelf("X").save_using(&dbs, "nope").is_err());
        assert!(dbs.get("nope").is_err());
        // A single database handle answers to its own alias only.
        let single = dbs.get("other")?;
        assert_eq!(Shelf::objects().using("other").count(single)?, 1);
        let err = Shelf::objects().using("default").count(single).unwrap_err();
        assert!(err.to_string().contains("'default'") && err.to_string().contains("'other' alone"), "{err}");
        // delete_using, and a delete of a loaded instance goes to its database.
        let mut gone = Shelf::objects().using("other").get(&dbs)?;
        gone.delete(&dbs)?;
        assert_eq!(other().count(&dbs)?, 0);
        assert_eq!(Shelf::objects().count(&dbs)?, 1);
        let mut a2 = Shelf::objects().get(&dbs)?;
        let mut copy = a2.clone();
        copy.id = Auto::unset();
        copy.state = ModelState::default();
        copy.save_using(&dbs, "other")?;
        a2.delete_using(&dbs, "default")?;
        assert_eq!((Shelf::objects().count(&dbs)?, other().count(&dbs)?), (0, 1));
        Ok(())
    }
}

/// Reads to `other`, writes to `default` (Django's test routers), counting what it was asked.
#[derive(Default)]
struct ReadOtherWriteDefault {
    asked: Mutex<Vec<(&'static str, &'static str, Option<&'static str>)>>,
}

impl Router for ReadOtherWriteDefault {
    fn db_for_read(&self, model: &'static ModelMeta, hints: &Hints<'_>) -> Option<&'static str> {
        self.asked.lock().unwrap().push(("read", model.name, hints.instance_db()));
        Some("other")
    }
    fn db_for_write(&self, model: &'static ModelMeta, hints: &Hints<'_>) -> Option<&'static str> {
        self.asked.lock().unwrap().push(("write", model.name, hints.instance_db()));
        Some("default")
    }
    fn allow_relation(&self, _: &RelationEnd, _: &RelationEnd) -> Option<bool> {
        Some(true)
    }
}

/// A router with no opinion (the next one decides).
struct Silent;
impl Router for Silent {}

backend_test! {
    fn every_evaluation_and_write_method_is_routed(t: &TestDb) {
        let o = two(t)?;
        let router = Arc::new(ReadOtherWriteDefault::default());
        let dbs = set(&[("default", (**t).clone()), ("other", (*o).clone())], vec![Arc::new(Silent), router.clone()])?;
        let (d, r) = (dbs.get("default")?, dbs.get("other")?);
        // Where did each call go? (statements seen by each database).
        let check = |what: &str, expect_default: bool, expect_other: bool, f: &dyn Fn() -> orm::Result<()>| -> TestResult {
            let (cd, co) = (d.capture_queries(), r.capture_queries());
            f()?;
            assert_eq!((!cd.is_empty(), !co.is_empty()), (expect_default, expect_other), "{what}: default {:?} other {:?}", cd.queries(), co.queries());
            Ok(())
        };
        // The same rows on both, so each read finds something wherever it goes.
        for alias in ["default", "other"] {
            let s = shelf("S").save_using_ret(&dbs, alias)?;
            volume("Dune", 400, &s)?.save_using(&dbs, alias)?;
            Genre { id: Auto::unset(), name: "SF".into(), state: ModelState::default() }.save_using(&dbs, alias)?;
        }
        let qs = Volume::objects;
        check("fetch", false, true, &|| qs().fetch(&dbs).map(drop))?;
        check("iter", false, true, &|| qs().iter(&dbs)?.try_for_each(|v| v.map(drop)))?;
        check("fetch_values", false, true, &|| qs().values(["title"]).fetch_values(&dbs).map(drop))?;
        check("iter_values", false, true, &|| qs().values(["title"]).iter_values(&dbs).map(|i| { i.count(); }))?;
        check("fetch_flat", false, true, &|| qs().values(["title"]).fetch_flat::<String>(&dbs).map(drop))?;
        check("count", false, true, &|| qs().count(&dbs).map(drop))?;
        check("exists", false, true, &|| qs().exists(&dbs).map(drop))?;
        check("get", false, true, &|| qs().get(&dbs).map(drop))?;
        check("first", false, true, &|| qs().first(&dbs).map(drop))?;
        check("last", false, true, &|| qs().last(&dbs).map(drop))?;
        check("earliest", false, true, &|| qs().earliest("pages", &dbs).map(drop))?;
        check("in_bulk", false, true, &|| qs().in_bulk_all(&dbs).map(drop))?;
        check("aggregate", false, true, &|| qs().aggregate([("m", orm::Max::of("pages"))], &dbs).map(drop))?;
        check("explain", false, true, &|| qs().explain(&dbs).map(drop))?;
        check("fetch_annotated", false, true, &|| qs().annotate("p2", orm::F::col("pages") * 2).fetch_annotated(&dbs).map(drop))?;
        check("select_related", false, true, &|| qs().select_related(["shelf"]).fetch(&dbs).map(drop))?;
        check("prefetch (both queries)", false, true, &|| qs().prefetch_related(["genres"]).fetch(&dbs).map(drop))?;
        check("union", false, true, &|| qs().union(qs()).fetch(&dbs).map(drop))?;
        check("union count", false, true, &|| qs().union(qs()).count(&dbs).map(drop))?;
        check("raw", false, true, &|| QuerySet::<Volume>::raw("SELECT * FROM multi_volume", &[], &dbs).map(drop))?;
        // A capture on the set sees every member, each statement naming its database.
        let cap = dbs.capture_queries();
        qs().count(&dbs)?;
        qs().update([Volume::pages().set(400)], &dbs)?;
        let aliases: Vec<&str> = cap.queries().iter().map(|q| q.alias).collect();
        assert_eq!(aliases, ["other", "default"]);
        drop(cap);
        let v = Volume::objects().get(&dbs)?;
        assert_eq!(v.state.db, Some("other"), "read from other");
        check("ForeignKey.fetch", false, true, &|| v.shelf.fetch(&dbs).map(drop))?;
        check("refresh_from_db", false, true, &|| v.clone().refresh_from_db(&dbs))?;
        check("contains", false, true, &|| qs().contains(&v, &dbs).map(drop))?;
        // Writes go to default.
        check("update", true, false, &|| qs().update([Volume::pages().set(401)], &dbs).map(drop))?;
        let s_default = Shelf::objects().using("default").get(&dbs)?;
        check("create", true, false, &|| volume("Emma", 300, &s_default)?.create(&dbs).map(drop))?;
        check("QuerySet.create", true, false, &|| qs().create(volume("Heidi", 200, &s_default)?, &dbs).map(drop))?;
        check("bulk_create", true, false, &|| {
            let mut made = [volume("Ivanhoe", 500, &s_default)?, volume("Jane Eyre", 450, &s_default)?];
            qs().bulk_create(&mut made, &dbs)?;
            assert!(made.iter().all(|v| v.state.db == Some("default")), "bulk_create sets the database");
            Ok(())
        })?;
        check("get_or_create (its read too)", true, false, &|| {
            qs().get_or_create(Volume::title().eq("Kim"), || volume("Kim", 350, &s_default).expect("saved shelf"), &dbs).map(drop)
        })?;
        check("update_or_create", true, false, &|| {
            qs().update_or_create(Volume::title().eq("Kim"), |v| v.pages = 351, || unreachable!("exists"), &dbs).map(drop)
        })?;
        let mut from_default = Volume::objects().using("default").filter(Volume::title().eq("Emma")).get(&dbs)?;
        check("bulk_update", true, false, &|| qs().bulk_update(&[from_default.clone()], &["pages"], &dbs).map(drop))?;
        from_default.pages = 301;
        check("save (update)", true, false, &|| from_default.clone().save(&dbs))?;
        let genre = Genre::objects().using("default").get(&dbs)?;
        check("m2m add", true, false, &|| from_default.genres().add([&genre], &dbs).map(drop))?;
        check("m2m count (read)", false, true, &|| from_default.genres().count(&dbs).map(drop))?;
        check("m2m set", true, false, &|| from_default.genres().set([&genre], &dbs))?;
        check("m2m remove", true, false, &|| from_default.genres().remove([&genre], &dbs).map(drop))?;
        check("m2m clear", true, false, &|| from_default.genres().clear(&dbs).map(drop))?;
        check("reverse accessor (read)", false, true, &|| s_default.volumes().count(&dbs).map(drop))?;
        check("instance delete", true, false, &|| from_default.clone().delete(&dbs).map(drop))?;
        check("QuerySet.delete", true, false, &|| qs().filter(Volume::title().eq("Kim")).delete(&dbs).map(drop))?;
        // The routers were asked in order, with the instance's database as a hint for its own
        // writes; the silent router first had no opinion.
        let asked = router.asked.lock().unwrap().clone();
        assert!(asked.contains(&("write", "Volume", Some("default"))), "{asked:?}");
        assert!(asked.iter().any(|(k, m, _)| *k == "read" && *m == "Volume"));
        // A router naming a database that does not exist is a clear error.
        struct Bad;
        impl Router for Bad {
            fn db_for_read(&self, _: &'static ModelMeta, _: &Hints<'_>) -> Option<&'static str> { Some("ghost") }
        }
        let bad = set(&[("default", (**t).clone())], vec![Arc::new(Bad)])?;
        let err = Shelf::objects().count(&bad).unwrap_err();
        assert!(err.to_string().contains("'ghost'"), "{err}");
        Ok(())
    }
}

/// `save_using` that hands the saved instance back (for building fixtures).
trait SaveUsingRet: Sized {
    fn save_using_ret(self, dbs: &Databases, alias: &str) -> orm::Result<Self>;
}
impl<M: Persist> SaveUsingRet for M {
    fn save_using_ret(mut self, dbs: &Databases, alias: &str) -> orm::Result<Self> {
        self.save_using(dbs, alias)?;
        Ok(self)
    }
}

backend_test! {
    fn signals_are_shared_and_carry_the_alias(t: &TestDb) {
        let o = two(t)?;
        let dbs = set(&[("default", (**t).clone()), ("other", (*o).clone())], vec![])?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        dbs.signals().post_save::<Shelf>().connect(move |e| {
            s2.lock().unwrap().push((e.instance.name.clone(), e.using.to_owned()));
            Ok(())
        });
        let s3 = seen.clone();
        dbs.signals().pre_delete::<Shelf>().connect(move |e| {
            s3.lock().unwrap().push((format!("-{}", e.instance.name), e.using.to_owned()));
            Ok(())
        });
        let mut a = shelf("A");
        a.save(&dbs)?;
        let mut b = shelf("B");
        b.save_using(&dbs, "other")?;
        // m2m_changed names the database of the change.
        let m2m = Arc::new(Mutex::new(Vec::new()));
        let m2 = m2m.clone();
        dbs.signals().m2m_changed::<Volume>().connect(move |e| {
            m2.lock().unwrap().push(e.using.to_owned());
            Ok(())
        });
        let mut v = volume("V", 1, &b)?;
        v.save_using(&dbs, "other")?;
        let g = Genre { id: Auto::unset(), name: "G".into(), state: ModelState::default() }.save_using_ret(&dbs, "other")?;
        v.genres().add([&g], &dbs)?;
        assert_eq!(*m2m.lock().unwrap(), ["other", "other"], "pre_add and post_add on other");
        seen.lock().unwrap().clear();
        // A member handle shares the receivers too.
        shelf("C").save(dbs.get("other")?)?;
        b.delete(&dbs)?; // the cascade takes V with it
        assert_eq!(
            *seen.lock().unwrap(),
            [("C".to_owned(), "other".to_owned()), ("-B".to_owned(), "other".to_owned())]
        );
        assert!(dbs.signals().post_save::<Shelf>().has_receivers());
        let _ = PostSaveSignal;
        Ok(())
    }
}

backend_test! {
    fn relations_across_databases_are_refused_unless_a_router_allows_them(t: &TestDb) {
        let o = two(t)?;
        let dbs = set(&[("default", (**t).clone()), ("other", (*o).clone())], vec![])?;
        // Django's test_foreign_key_cross_database_protection: a shelf on other, a volume
        // saved to default pointing at it.
        let far = shelf("Far").save_using_ret(&dbs, "other")?;
        let err = volume("Lost", 1, &far)?.save(&dbs).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"other\"") && msg.contains("\"default\"") && msg.contains("router prevents"), "{msg}");
        assert_eq!(Volume::objects().using("default").count(&dbs)?, 0, "nothing written");
        // On the shelf's own database, fine.
        let mut v = volume("Found", 1, &far)?;
        v.save_using(&dbs, "other")?;
        // m2m: a genre from default added to a volume on other (test_m2m_cross_database_protection).
        let g = Genre { id: Auto::unset(), name: "Poetry".into(), state: ModelState::default() }.save_using_ret(&dbs, "default")?;
        let err = v.genres().add([&g], &dbs).unwrap_err();
        assert!(err.to_string().contains("instance is on database \"other\", value is on database \"default\""), "{err}");
        assert_eq!(v.genres().count(&dbs)?, 0);
        // A router that allows every relation (Django's AuthRouter-like test router).
        struct Allow;
        impl Router for Allow {
            fn allow_relation(&self, _: &RelationEnd, _: &RelationEnd) -> Option<bool> { Some(true) }
        }
        let allowing = set(&[("default", (**t).clone()), ("other", (*o).clone())], vec![Arc::new(Allow)])?;
        assert!(allowing.allow_relation(
            &RelationEnd { model: Shelf::meta(), db: Some("default") },
            &RelationEnd { model: Volume::meta(), db: Some("other") }
        ));
        assert!(!dbs.allow_relation(
            &RelationEnd { model: Shelf::meta(), db: Some("default") },
            &RelationEnd { model: Volume::meta(), db: Some("other") }
        ));
        // The reverse accessor follows the instance's database (Django's related managers
        // pass `instance=` as a hint): Far is on other, and so are its volumes.
        assert_eq!(far.volumes().count(&dbs)?, 1);
        assert_eq!(far.volumes().using("default").count(&dbs)?, 0);
        // Keys alone (no instance) carry no database: nothing to check, as in Django.
        let v2 = Volume::objects().using("other").get(&dbs)?;
        let g2 = Genre { id: Auto::unset(), name: "Drama".into(), state: ModelState::default() }.save_using_ret(&dbs, "other")?;
        v2.genres().add([g2.id.get().expect("saved")], &dbs)?;
        assert_eq!(v2.genres().count(&dbs)?, 1, "the volume's database (its instance hint)");
        Ok(())
    }
}

backend_test! {
    fn primary_replica_router_over_stand_in_databases(t: &TestDb) {
        // Three separate databases stand in for a primary and two replicas (no replication
        // between them: what a read returns shows where it went).
        let r1 = two(t)?;
        let r2 = TestDb::open(t.backend(), &format!("{}::r2", t.name()))?.expect("configured");
        let router: Arc<dyn Router> = Arc::new(PrimaryReplicaRouter::new("default", ["r1", "r2"])?);
        let dbs = set(&[("default", (**t).clone()), ("r1", (*r1).clone()), ("r2", (*r2).clone())], vec![router])?;
        for (alias, name) in [("r1", "one"), ("r2", "two")] {
            shelf(name).save_using(&dbs, alias)?;
        }
        shelf("primary").save(&dbs)?; // writes go to the primary
        assert_eq!(Shelf::objects().using("default").count(&dbs)?, 1);
        // Reads go round-robin over the replicas.
        let mut seen: Vec<String> = (0..4).map(|_| Ok(Shelf::objects().get(&dbs)?.name)).collect::<orm::Result<_>>()?;
        seen.sort();
        assert_eq!(seen, ["one", "one", "two", "two"]);
        // Inside atomic, reads go to the primary.
        let inside = dbs.atomic(|_tx| Ok(Shelf::objects().get(&dbs)?.name))?;
        assert_eq!(inside, "primary");
        // Migrations run on the primary only; relations among them are allowed.
        assert!(dbs.allow_migrate("default", Shelf::meta()));
        assert!(!dbs.allow_migrate("r1", Shelf::meta()));
        assert!(dbs.allow_relation(
            &RelationEnd { model: Shelf::meta(), db: Some("r1") },
            &RelationEnd { model: Volume::meta(), db: Some("default") }
        ));
        // A loaded instance from a replica saves to the primary (the router decides writes).
        let mut from_replica = Shelf::objects().get(&dbs)?;
        assert!(matches!(from_replica.state.db, Some("r1" | "r2")));
        from_replica.id = Auto::unset();
        from_replica.state = ModelState::default();
        from_replica.save(&dbs)?;
        assert_eq!(from_replica.state.db, Some("default"));
        Ok(())
    }
}

backend_test! {
    fn a_replica_that_is_down_is_skipped(t: &TestDb) {
        let r1 = two(t)?;
        // `r2` can never be reached: a server URL on a port nothing listens on, or an SQLite
        // file in a directory that does not exist.
        let dead = match t.backend() {
            orm::Backend::Sqlite => "sqlite:///nonexistent-dir-orm-test/x.db?mode=ro".to_owned(),
            orm::Backend::Postgres => "postgres://postgres@127.0.0.1:1/test".to_owned(),
            orm::Backend::Mysql => "mysql://root@127.0.0.1:1/test".to_owned(),
        };
        let dbs = Databases::builder()
            .pool("default", (**t).clone())?
            .pool("r1", (*r1).clone())?
            .database("r2", &dead)?
            .router(PrimaryReplicaRouter::new("default", ["r2", "r1"])?.check_every(Duration::from_secs(60)))
            .build()?;
        for alias in ["default", "r1"] {
            schema().create_all(dbs.get(alias)?)?;
        }
        shelf("replica one").save_using(&dbs, "r1")?;
        // Every read succeeds, from r1: r2 fails its health check and is skipped.
        for _ in 0..4 {
            assert_eq!(Shelf::objects().get(&dbs)?.name, "replica one");
        }
        // With every replica down, reads fall back to the primary.
        let only_dead = Databases::builder()
            .pool("default", (**t).clone())?
            .database("r2", &dead)?
            .router(PrimaryReplicaRouter::new("default", ["r2"])?)
            .build()?;
        shelf("on primary").save(&only_dead)?;
        assert_eq!(Shelf::objects().get(&only_dead)?.name, "on primary");
        // Naming the dead replica outright is an error that says it could not connect.
        let err = Shelf::objects().using("r2").count(&dbs).unwrap_err();
        assert!(err.is_connection() || err.to_string().contains("unable to open"), "{err}");
        Ok(())
    }
}

backend_test! {
    fn read_your_writes_window_pins_this_handle_to_the_primary(t: &TestDb) {
        let r1 = two(t)?;
        let router = PrimaryReplicaRouter::new("default", ["r1"])?.read_your_writes(ReadYourWrites::For(Duration::from_millis(400)));
        let dbs = set(&[("default", (**t).clone()), ("r1", (*r1).clone())], vec![Arc::new(router)])?;
        shelf("replica copy").save_using(&dbs, "r1")?;
        assert_eq!(Shelf::objects().get(&dbs)?.name, "replica copy", "no write yet: the replica");
        let session = dbs.session();
        shelf("mine").save(&session)?;
        // The writing handle reads the primary within the window; another handle does not.
        assert_eq!(Shelf::objects().get(&session)?.name, "mine");
        assert_eq!(Shelf::objects().get(&dbs)?.name, "replica copy");
        std::thread::sleep(Duration::from_millis(450));
        assert_eq!(Shelf::objects().get(&session)?.name, "replica copy", "window over: the replica again");
        // An atomic block counts as a write when it commits.
        session.atomic(|tx| shelf("in tx").save(tx))?;
        assert_eq!(Shelf::objects().count(&session)?, 2, "primary: mine + in tx");
        // UntilReplayed on stand-ins: SQLite has no position (the window applies); servers
        // report one, and a stand-in that is not replaying counts as caught up.
        let replayed = PrimaryReplicaRouter::new("default", ["r1"])?
            .read_your_writes(ReadYourWrites::UntilReplayed { at_most: Duration::from_secs(30) });
        let dbs2 = set(&[("default", (**t).clone()), ("r1", (*r1).clone())], vec![Arc::new(replayed)])?;
        shelf("again").save(&dbs2)?;
        let got = Shelf::objects().filter(Shelf::name().eq("again")).count(&dbs2)?;
        match t.backend() {
            orm::Backend::Sqlite => assert_eq!(got, 1, "no position on SQLite: pinned for at_most"),
            orm::Backend::Postgres => assert_eq!(got, 0, "a stand-in not in recovery has replayed everything"),
            orm::Backend::Mysql => {
                // MariaDB without GTIDs in use reports an empty position: pinned like SQLite;
                // with one, MASTER_GTID_WAIT on a non-replica times out: pinned as well.
                assert_eq!(got, 1);
            }
        }
        // The replication position helpers.
        let pos = dbs.get("default")?.replication_position()?;
        match t.backend() {
            orm::Backend::Sqlite => assert!(pos.is_none(), "SQLite has no replication position"),
            orm::Backend::Postgres => assert!(pos.as_deref().is_some_and(|p| p.contains('/')), "an LSN: {pos:?}"),
            // A GTID position (`domain-server-sequence`) when the binary log is on, else none.
            orm::Backend::Mysql => assert!(pos.as_deref().is_none_or(|p| p.split('-').count() >= 3), "{pos:?}"),
        }
        if let Some(p) = pos {
            assert!(dbs.get("default")?.has_replayed(&p).is_ok());
        }
        Ok(())
    }
}

backend_test! {
    fn a_transaction_is_on_one_database(t: &TestDb) {
        // Django's test_transaction… : atomic(using="other") rolls back only other.
        let o = two(t)?;
        let dbs = set(&[("default", (**t).clone()), ("other", (*o).clone())], vec![])?;
        let out: orm::Result<()> = dbs.atomic_using("other", orm::AtomicOptions::new(), |tx| {
            shelf("in other tx").save(tx)?;
            shelf("outside").save_using(&dbs, "default")?; // autocommit on default
            Err(orm::Error::ValueError("roll back".into()))
        });
        assert!(out.is_err());
        assert_eq!(Shelf::objects().using("other").count(&dbs)?, 0, "rolled back on other");
        assert_eq!(Shelf::objects().using("default").count(&dbs)?, 1, "default committed on its own");
        // The transaction's alias travels with it.
        dbs.atomic_using("other", orm::AtomicOptions::new(), |tx| {
            assert_eq!(orm::signals::using(tx), "other");
            let mut s = shelf("kept");
            s.save(tx)?;
            assert_eq!(s.state.db, Some("other"));
            Ok(())
        })?;
        assert_eq!(Shelf::objects().using("other").count(&dbs)?, 1);
        assert!(dbs.atomic_using("nope", orm::AtomicOptions::new(), |_| Ok(())).is_err());
        Ok(())
    }
}

#[test]
fn databases_from_environment_variables() -> TestResult {
    let vars = [
        ("ORM_DATABASE_DEFAULT_URL", "sqlite::memory:"),
        ("ORM_DATABASE_REPORTS_URL", "sqlite::memory:"),
        ("UNRELATED", "x"),
        ("ORM_DATABASE_REPLICA_URL", "postgres://postgres@127.0.0.1:1/test"),
    ];
    let dbs = Databases::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))?.build()?;
    assert_eq!(dbs.aliases(), ["default", "replica", "reports"], "default first, then by name; nothing connects yet");
    // An invalid URL names the variable.
    let err = Databases::from_vars([("ORM_DATABASE_BAD_URL".to_string(), "nosuch://x".to_string())]).unwrap_err();
    assert!(err.to_string().contains("ORM_DATABASE_BAD_URL"), "{err}");
    // No default: Django's ImproperlyConfigured.
    let err = Databases::from_vars([("ORM_DATABASE_OTHER_URL".to_string(), "sqlite::memory:".to_string())])?
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("'default'"), "{err}");
    // Bad alias names and duplicates.
    assert!(Databases::builder().database("has space", "sqlite::memory:").is_err());
    assert!(Databases::builder().database("a", "sqlite::memory:")?.database("a", "sqlite::memory:").is_err());
    Ok(())
}
