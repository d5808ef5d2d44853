//! The deletion collector: every on_delete mode, counts per model, Protect blocking a cascade
//! from further away, Restrict's rule, join rows, one transaction.

use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;
use std::sync::{Arc, Mutex};

struct World {
    org: Org,
    team_a: Team,
    team_b: Team,
    ann: Member,
    bob: Member,
}

fn world(db: &Database) -> orm::Result<World> {
    Schema::new()
        .model::<Org>()
        .model::<Team>()
        .model::<Member>()
        .model::<Badge>()
        .model::<Task>()
        .model::<Note>()
        .model::<Log>()
        .model::<Writer>()
        .model::<Label>()
        .model::<Article>()
        .model::<Remark>()
        .model::<Country>()
        .create_all(db)?;
    // Member 1 is the SetDefault target.
    Member { id: Auto::unset(), team: None, mentor: None, name: "nobody".into() }.create(db)?;
    let org = Org { id: Auto::unset(), name: "acme".into() }.create(db)?;
    let team_a = Team { id: Auto::unset(), org: ForeignKey::to(&org)?, name: "a".into() }.create(db)?;
    let team_b = Team { id: Auto::unset(), org: ForeignKey::to(&org)?, name: "b".into() }.create(db)?;
    let ann = Member { id: Auto::unset(), team: Some(ForeignKey::to(&team_a)?), mentor: None, name: "ann".into() }
        .create(db)?;
    let bob = Member {
        id: Auto::unset(),
        team: Some(ForeignKey::to(&team_b)?),
        mentor: Some(ForeignKey::to(&ann)?),
        name: "bob".into(),
    }
    .create(db)?;
    Ok(World { org, team_a, team_b, ann, bob })
}

backend_test! {
    fn cascade_deletes_dependents_and_counts_per_model(t: &TestDb) {
        let db = db_of(t);
        let mut w = world(&db)?;
        Task { id: Auto::unset(), team: ForeignKey::to(&w.team_a)?, member: ForeignKey::to(&w.ann)? }.create(&db)?;
        let counts = Org::objects().filter(Org::id().eq(w.org.id.get().unwrap())).delete_counted(&db)?;
        let got: Vec<(String, u64)> = counts.into_iter().collect();
        assert_eq!(got, [("del.Member".into(), 2), ("del.Org".into(), 1), ("del.Task".into(), 1), ("del.Team".into(), 2)]);
        assert_eq!(Member::objects().count(&db)?, 1, "only the unrelated member is left");
        assert!(w.org.delete(&db).is_ok(), "deleting a row that is already gone is not an error");
        Ok(())
    }
}

backend_test! {
    fn protect_blocks_even_a_cascade_from_further_away(t: &TestDb) {
        let db = db_of(t);
        let mut w = world(&db)?;
        let badge = Badge { id: Auto::unset(), member: ForeignKey::to(&w.bob)? }.create(&db)?;
        let e = w.org.delete(&db).unwrap_err();
        match &e {
            orm::Error::ProtectedError { model, fields, protected } => {
                // Django names the model whose delete was asked for and the relation that
                // led to the protecting rows.
                assert_eq!(model, "del.Org");
                assert_eq!(fields, &["Team.org"]);
                assert_eq!(protected, &[format!("del.Badge({})", badge.id)]);
            }
            other => panic!("expected ProtectedError, got {other}"),
        }
        assert_eq!(Org::objects().count(&db)?, 1, "nothing was deleted");
        assert_eq!(Member::objects().count(&db)?, 3);
        assert_eq!(Team::objects().count(&db)?, 2);
        Ok(())
    }
}

backend_test! {
    fn restrict_allows_only_a_cascade_that_takes_the_restricting_rows(t: &TestDb) {
        let db = db_of(t);
        let mut w = world(&db)?;
        // A task of team a done by Bob, who is in team b.
        Task { id: Auto::unset(), team: ForeignKey::to(&w.team_a)?, member: ForeignKey::to(&w.bob)? }.create(&db)?;
        // Deleting team a alone: the task (which points at it with Restrict) blocks it, since
        // nothing in this delete cascades to the task.
        let e = w.team_a.delete(&db).unwrap_err();
        assert!(matches!(&e, orm::Error::RestrictedError { model, .. } if model == "del.Team"), "{e}");
        assert_eq!(Team::objects().count(&db)?, 2);
        // Deleting the org cascades to the team AND (through Bob) to the task: allowed.
        w.org.delete(&db)?;
        assert_eq!(Task::objects().count(&db)?, 0);
        assert_eq!(Team::objects().count(&db)?, 0);
        Ok(())
    }
}

backend_test! {
    fn set_null_set_default_and_do_nothing(t: &TestDb) {
        let db = db_of(t);
        let mut w = world(&db)?;
        let note = Note { id: Auto::unset(), member: ForeignKey::to(&w.bob)? }.create(&db)?;
        // SetNull: Bob's mentor is deleted, Bob stays with no mentor.
        w.ann.delete(&db)?;
        let bob = Member::objects().get_pk(w.bob.id.get().unwrap(), &db)?;
        assert_eq!(bob.mentor, None);
        // SetDefault: Bob's note moves to member 1.
        w.bob.delete(&db)?;
        assert_eq!(*Note::objects().get_pk(note.id.get().unwrap(), &db)?.member.key(), 1);
        // DoNothing: the database's constraint refuses, and nothing is deleted.
        let carl = Member { id: Auto::unset(), team: Some(ForeignKey::to(&w.team_b)?), mentor: None, name: "carl".into() }.create(&db)?;
        Log { id: Auto::unset(), member: ForeignKey::to(&carl)? }.create(&db)?;
        let e = Team::objects().filter(Team::id().eq(w.team_b.id.get().unwrap())).delete(&db).unwrap_err();
        assert!(matches!(e, orm::Error::IntegrityError(_)), "{e}");
        assert_eq!(Team::objects().count(&db)?, 2, "the failed delete left everything in place");
        assert_eq!(Member::objects().filter(Member::name().eq("carl")).count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn join_rows_and_reverse_keys_go_with_their_objects(t: &TestDb) {
        let db = db_of(t);
        world(&db)?;
        let wr = Writer { id: Auto::unset(), name: "w".into(), country: None, articles: Default::default() }.create(&db)?;
        let mut art = Article { id: Auto::unset(), title: "t".into(), writer: ForeignKey::to(&wr)?, rating: 0, labels: Default::default(), remarks: Default::default() }.create(&db)?;
        let l = Label { id: Auto::unset(), name: "l".into(), articles: Default::default() }.create(&db)?;
        art.labels().add([&l], &db)?;
        Remark { id: Auto::unset(), article: ForeignKey::to(&art)?, text: "r".into() }.create(&db)?;
        let capture = db.capture_queries();
        assert_eq!(art.delete(&db)?, 3, "the article, its remark and its link row");
        // Remarks depend on nothing and nobody listens: deleted by the key they point with,
        // never read (a fast delete). On SQLite the collector first asks whether the tables
        // below hold any row at all (`SELECT EXISTS (SELECT 1 FROM …)`), which reads no row.
        let remark_sql: Vec<String> = capture
            .queries()
            .into_iter()
            .map(|q| q.sql)
            .filter(|s| s.contains(Remark::meta().table) && !s.starts_with("SELECT EXISTS (SELECT 1 FROM "))
            .collect();
        assert_eq!(remark_sql.len(), 1, "{remark_sql:?}");
        assert!(remark_sql[0].starts_with("DELETE"), "{remark_sql:?}");
        drop(capture);
        assert_eq!(Remark::objects().count(&db)?, 0, "cascaded");
        assert_eq!(l.articles().all().count(&db)?, 0);
        assert_eq!(Label::objects().count(&db)?, 1, "the label itself stays");
        Ok(())
    }
}

backend_test! {
    fn cascades_send_delete_signals_in_django_order(t: &TestDb) {
        let db = db_of(t);
        let w = world(&db)?;
        Task { id: Auto::unset(), team: ForeignKey::to(&w.team_a)?, member: ForeignKey::to(&w.ann)? }.create(&db)?;
        let task = Task::objects().filter(Task::member().eq(w.ann.id.get().unwrap())).get(&db)?;

        // Each receiver notes the object and how many DELETE statements had run before it.
        let capture = Arc::new(db.capture_queries());
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        fn watch<M: Model>(db: &Database, log: &Arc<Mutex<Vec<String>>>, capture: &Arc<orm::QueryCapture>, name: fn(&M) -> String) {
            for post in [false, true] {
                let (l, c) = (log.clone(), capture.clone());
                let f = move |e: &orm::signals::Delete<'_, M>| {
                    let deletes = c.queries().iter().filter(|q| q.sql.starts_with("DELETE")).count();
                    let what = if post { "post" } else { "pre" };
                    l.lock().unwrap().push(format!("{what} {} {} after {deletes}", e.sender.name, name(e.instance)));
                    Ok(())
                };
                if post {
                    db.signals().post_delete::<M>().connect(f);
                } else {
                    db.signals().pre_delete::<M>().connect(f);
                }
            }
        }
        watch::<Org>(&db, &log, &capture, |o| o.name.clone());
        watch::<Team>(&db, &log, &capture, |t| t.name.clone());
        watch::<Member>(&db, &log, &capture, |m| m.name.clone());
        watch::<Task>(&db, &log, &capture, |t| format!("#{}", t.id));

        // A QuerySet delete cascading two levels (org -> teams -> members -> task): every
        // pre_delete first, children before what they point at (objects by ascending key),
        // each model's post_deletes right after its DELETE, in descending key order (Django
        // reverses each model's instances before deleting).
        let counts = Org::objects().filter(Org::name().eq("acme")).delete_counted(&db)?;
        assert_eq!(counts.values().sum::<u64>(), 6);
        let tid = format!("#{}", task.id);
        assert_eq!(*log.lock().unwrap(), [
            format!("pre Task {tid} after 0"),
            "pre Member ann after 0".into(),
            "pre Member bob after 0".into(),
            "pre Team a after 0".into(),
            "pre Team b after 0".into(),
            "pre Org acme after 0".into(),
            format!("post Task {tid} after 1"),
            "post Member bob after 2".into(),
            "post Member ann after 2".into(),
            "post Team b after 3".into(),
            "post Team a after 3".into(),
            "post Org acme after 4".into(),
        ]);
        log.lock().unwrap().clear();

        // An instance delete with a cascade: the instance itself is sent as the caller holds
        // it; the SetNull'd mentee gets no signal (it is updated, not deleted).
        let team = Team { id: Auto::unset(), org: ForeignKey::to(&Org { id: Auto::unset(), name: "o2".into() }.create(&db)?)?, name: "c".into() }.create(&db)?;
        let mut cid = Member { id: Auto::unset(), team: Some(ForeignKey::to(&team)?), mentor: None, name: "cid".into() }.create(&db)?;
        let dan = Member { id: Auto::unset(), team: None, mentor: Some(ForeignKey::to(&cid)?), name: "dan".into() }.create(&db)?;
        cid.name = "cid (as held)".into();
        capture.clear();
        assert_eq!(cid.delete(&db)?, 1);
        assert_eq!(*log.lock().unwrap(), ["pre Member cid (as held) after 0", "post Member cid (as held) after 1"]);
        assert_eq!(Member::objects().get_pk(dan.id.get().unwrap(), &db)?.mentor, None);
        log.lock().unwrap().clear();

        // A pre_delete receiver of a cascaded model that fails aborts the whole delete.
        let mut eve = Member { id: Auto::unset(), team: Some(ForeignKey::to(&team)?), mentor: None, name: "eve".into() }.create(&db)?;
        db.signals().pre_delete::<Member>().connect(|e| {
            if e.instance.name == "eve" {
                return Err(orm::Error::signal("eve stays"));
            }
            Ok(())
        });
        let e = Team::objects().filter(Team::name().eq("c")).delete(&db).unwrap_err();
        assert!(matches!(e, orm::Error::Signal(_)), "{e}");
        assert_eq!(Team::objects().filter(Team::name().eq("c")).count(&db)?, 1, "nothing was deleted");
        assert!(Member::objects().get_pk(eve.id.get().unwrap(), &db).is_ok());
        // A failing post_delete of a cascaded model rolls the delete back too.
        db.signals().disconnect_all();
        db.signals().post_delete::<Member>().connect(|_| Err(orm::Error::signal("too late")));
        assert!(matches!(team.clone().delete(&db), Err(orm::Error::Signal(_))));
        assert_eq!(Team::objects().filter(Team::name().eq("c")).count(&db)?, 1);
        assert!(Member::objects().get_pk(eve.id.get().unwrap(), &db).is_ok());
        db.signals().disconnect_all();
        assert_eq!(eve.delete(&db)?, 1);

        // A receiver for every model gets cascaded objects typed (the model registry knows
        // their type) without any receiver connected for their model.
        let mut t3 = Team { id: Auto::unset(), org: team.org.clone(), name: "t3".into() }.create(&db)?;
        Member { id: Auto::unset(), team: Some(ForeignKey::to(&t3)?), mentor: None, name: "fay".into() }.create(&db)?;
        let l = log.clone();
        db.signals().pre_delete::<dyn std::any::Any>().connect(move |e| {
            let name = match (e.instance.downcast_ref::<Member>(), e.instance.downcast_ref::<Team>()) {
                (Some(m), _) => m.name.clone(),
                (_, Some(t)) => t.name.clone(),
                _ => "untyped".into(),
            };
            l.lock().unwrap().push(format!("{} {name}", e.sender.name));
            Ok(())
        });
        log.lock().unwrap().clear();
        t3.delete(&db)?;
        assert_eq!(*log.lock().unwrap(), ["Member fay", "Team t3"]);
        Ok(())
    }
}

backend_test! {
    fn a_self_referencing_cascade_signals_the_held_instance_and_reads_the_rest(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Category>().create_all(&db)?;
        let mk = |name: &str, parent: Option<&Category>| -> orm::Result<Category> {
            Category { id: Auto::unset(), name: name.into(), parent: parent.map(ForeignKey::to).transpose()? }.create(&db)
        };
        let mut root = mk("root", None)?;
        let child = mk("child", Some(&root))?;
        mk("grandchild", Some(&child))?;
        mk("other", None)?;
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        for post in [false, true] {
            let l = log.clone();
            let f = move |e: &orm::signals::Delete<'_, Category>| {
                l.lock().unwrap().push(format!("{} {}", if post { "post" } else { "pre" }, e.instance.name));
                Ok(())
            };
            if post {
                db.signals().post_delete::<Category>().connect(f);
            } else {
                db.signals().pre_delete::<Category>().connect(f);
            }
        }
        root.name = "root (as held)".into();
        assert_eq!(root.delete(&db)?, 3, "three rows of the model, over three batches");
        assert_eq!(*log.lock().unwrap(), [
            "pre root (as held)", "pre child", "pre grandchild",
            "post grandchild", "post child", "post root (as held)",
        ]);
        let left: Vec<String> = Category::objects().fetch(&db)?.into_iter().map(|c| c.name).collect();
        assert_eq!(left, ["other"]);
        Ok(())
    }
}

backend_test! {
    fn a_sliced_delete_is_refused_before_any_sql(t: &TestDb) {
        // Django's queries tests: `qs[:2].delete()` raises TypeError whatever the model. Here
        // on a model the collector handles (Member: cascades, SET NULL, SET DEFAULT point at
        // it), on one it does not (Log), and with a delete receiver connected.
        let db = db_of(t);
        world(&db)?;
        let before = Member::objects().count(&db)?;
        let check = |e: orm::Error| match e {
            orm::Error::TypeError(m) => assert_eq!(m, "Cannot use 'limit' or 'offset' with delete()."),
            other => panic!("expected TypeError, got {other}"),
        };
        let capture = db.capture_queries();
        check(Member::objects().order_by(["-id"]).limit(2).delete(&db).unwrap_err());
        check(Member::objects().offset(1).delete(&db).unwrap_err());
        check(Member::objects().slice(0..1).delete_counted(&db).unwrap_err());
        check(Log::objects().limit(1).delete(&db).unwrap_err());
        check(Member::objects().none().limit(1).delete(&db).unwrap_err());
        db.signals().pre_delete::<Member>().connect(|_| Ok(()));
        check(Member::objects().order_by(["-id"]).limit(2).delete(&db).unwrap_err());
        assert!(capture.queries().is_empty(), "no SQL ran: {:?}", capture.queries());
        drop(capture);
        match Member::objects().values(["id"]).delete(&db).unwrap_err() {
            orm::Error::TypeError(m) => assert_eq!(m, "Cannot call delete() after .values() or .values_list()"),
            other => panic!("expected TypeError, got {other}"),
        }
        match Member::objects().limit(1).update([Member::name().set("x")], &db).unwrap_err() {
            orm::Error::TypeError(m) => assert_eq!(m, "Cannot update a query once a slice has been taken."),
            other => panic!("expected TypeError, got {other}"),
        }
        assert_eq!(Member::objects().count(&db)?, before, "nothing was deleted");
        Ok(())
    }
}
