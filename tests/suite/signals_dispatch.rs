//! Signal dispatch as Django's (tests/dispatch, tests/signals): a receiver connected twice is
//! connected once, `send_robust` runs every receiver, `save(update_fields=[])` sends nothing,
//! and delete signals carry their `origin`.

use orm::prelude::*;
use orm::signals::{Delete, M2mAction, M2mChanged, M2mChangedSignal, Origin, PreDeleteSignal};
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

thread_local! {
    /// Per test thread (the three backends run in parallel; receivers run on the caller's).
    static CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn count_calls(_: &orm::signals::PostSave<'_, Tag>) -> orm::Result<()> {
    CALLS.set(CALLS.get() + 1);
    Ok(())
}

backend_test! {
    fn a_receiver_connected_twice_is_connected_once(t: &TestDb) {
        // Django's DispatcherTests.test_multiple_registration / test_uid_registration.
        let db = db_of(t);
        Schema::new().model::<Tag>().model::<Author>().create_all(&db)?;
        let signal = db.signals().post_save::<Tag>();
        let first = signal.connect(count_calls);
        let second = signal.connect(count_calls);
        assert_eq!(first, second, "the same function: the same receiver");
        assert_eq!(signal.receiver_count(), 1);
        // A closure that captures nothing is a function too: connected once, from a loop.
        let hits = Arc::new(AtomicUsize::new(0));
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(db.signals().pre_save::<Tag>().connect(|_| Ok(())));
        }
        assert!(ids.iter().all(|i| *i == ids[0]));
        assert_eq!(db.signals().pre_save::<Tag>().receiver_count(), 1);
        // Closures that capture have no identity: each connection is a receiver...
        for _ in 0..2 {
            let h = hits.clone();
            db.signals().post_save::<Tag>().connect(move |_| {
                h.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        }
        assert_eq!(signal.receiver_count(), 3);
        // ... unless they share a dispatch_uid (the first one stays).
        for _ in 0..2 {
            let h = hits.clone();
            db.signals().post_save::<Tag>().connect_with_uid("audit", move |_| {
                h.fetch_add(100, Ordering::SeqCst);
                Ok(())
            });
        }
        assert_eq!(signal.receiver_count(), 4);
        // The same function for another sender is another receiver.
        db.signals().post_save::<dyn std::any::Any>().connect(|_| Ok(()));
        db.signals().post_save::<dyn std::any::Any>().connect(|_| Ok(()));
        assert_eq!(db.signals().post_save::<dyn std::any::Any>().receiver_count(), 2, "two closures, two functions");
        let before = CALLS.get();
        Tag { id: Auto::unset(), name: "t".into() }.create(&db)?;
        assert_eq!(CALLS.get() - before, 1, "the twice-connected function ran once");
        assert_eq!(hits.load(Ordering::SeqCst), 102);
        // Disconnecting it once removes it.
        assert!(signal.disconnect(first));
        assert!(!signal.disconnect(second));
        Ok(())
    }
}

backend_test! {
    fn send_robust_runs_every_receiver_and_collects_the_errors(t: &TestDb) {
        // Django's DispatcherTests.test_send_robust_fail / test_send_robust_success.
        let db = db_of(t);
        let ran = Arc::new(Mutex::new(Vec::new()));
        let r = ran.clone();
        let a = db.signals().m2m_changed::<Post>().connect(move |_| {
            r.lock().unwrap().push("a");
            Err(orm::Error::signal("I die"))
        });
        let r = ran.clone();
        let b = db.signals().m2m_changed::<dyn std::any::Any>().connect(move |_| {
            r.lock().unwrap().push("b");
            Ok(())
        });
        db.signals().m2m_changed::<Tag>().connect(|_| panic!("another sender's receiver"));
        let pk = orm::Value::Int(1);
        let event = M2mChanged {
            sender: Post::meta(),
            field: "tags",
            action: M2mAction::PreAdd,
            reverse: false,
            instance_model: Post::meta(),
            instance_pk: &pk,
            model: Tag::meta(),
            pk_set: Some(&[]),
            using: "default",
        };
        let results = db.signals().send_robust::<M2mChangedSignal>(&event);
        assert_eq!(*ran.lock().unwrap(), ["a", "b"], "the error did not stop the second receiver");
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].0, a);
        assert_eq!(results[0].1.as_ref().unwrap_err().to_string(), "I die");
        assert_eq!(results[1].0, b);
        assert!(results[1].1.is_ok());
        // The plain send stops at the first error.
        ran.lock().unwrap().clear();
        assert!(db.signals().send_m2m_changed(&event).is_err());
        assert_eq!(*ran.lock().unwrap(), ["a"]);
        // Any signal kind: a delete event built by hand.
        let item = Item { id: Auto::unset(), name: "x".into(), note: None, qty: 0, price: None, kind: "k".into(), at: chrono::Utc::now() };
        db.signals().pre_delete::<Item>().connect(|e| Err(orm::Error::signal(format!("keep {}", e.instance.name))));
        let event = Delete { sender: Item::meta(), instance: &item as &dyn std::any::Any, origin: Origin::Instance { model: Item::meta(), instance: &item }, using: "default" };
        let results = db.signals().send_robust::<PreDeleteSignal>(&event);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].1.as_ref().unwrap_err().to_string(), "keep x");
        Ok(())
    }
}

backend_test! {
    fn save_with_no_update_fields_does_nothing_and_sends_nothing(t: &TestDb) {
        // Django's test_save_signals / UpdateOnlyFieldsTests.test_empty_update_fields.
        let db = db_of(t);
        Schema::new().model::<Tag>().create_all(&db)?;
        let mut tag = Tag { id: Auto::unset(), name: "before".into() }.create(&db)?;
        let sent = Arc::new(AtomicUsize::new(0));
        let s = sent.clone();
        db.signals().pre_save::<Tag>().connect(move |_| {
            s.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let s = sent.clone();
        db.signals().post_save::<Tag>().connect(move |_| {
            s.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        tag.name = "after".into();
        let capture = db.capture_queries();
        tag.save_with(&db, &SaveOptions::update_fields(Vec::<String>::new()))?;
        assert!(capture.queries().is_empty(), "no query: {:?}", capture.queries());
        assert_eq!(sent.load(Ordering::SeqCst), 0, "no signal");
        assert_eq!(Tag::objects().get_pk(tag.id.get().unwrap(), &db)?.name, "before");
        // Even an unsaved instance: nothing to do is nothing to refuse.
        Tag { id: Auto::unset(), name: "new".into() }.save_with(&db, &SaveOptions::update_fields(Vec::<String>::new()))?;
        assert_eq!(Tag::objects().count(&db)?, 1);
        // A field named: one UPDATE, both signals.
        tag.save_with(&db, &SaveOptions::update_fields(["name"]))?;
        assert_eq!(sent.load(Ordering::SeqCst), 2);
        Ok(())
    }
}

backend_test! {
    fn delete_signals_carry_the_origin_of_the_delete(t: &TestDb) {
        // Django's test_delete_signals_origin_model / _queryset.
        let db = db_of(t);
        Schema::new().model::<Author>().model::<Tag>().model::<Post>().create_all(&db)?;
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let s = seen.clone();
        db.signals().pre_delete::<dyn std::any::Any>().connect(move |e| {
            let origin = match e.origin {
                Origin::Instance { model, instance } => {
                    let name = instance.downcast_ref::<Author>().map(|a| a.name.clone()).unwrap_or_default();
                    format!("instance {} {name}", model.name)
                }
                Origin::QuerySet { model, queryset } => {
                    let typed = queryset.downcast_ref::<orm::QuerySet<Author>>().is_some();
                    format!("queryset {} typed={typed}", model.name)
                }
            };
            s.lock().unwrap().push(format!("{} from {origin}", e.sender.name));
            Ok(())
        });
        let mk = |name: &str| Author { id: Auto::unset(), name: name.into(), email: None, status: "a".into() }.create(&db);
        let mut ann = mk("ann")?;
        Post { id: Auto::unset(), title: "p".into(), author: ForeignKey::to(&ann)?, editor: None, views: 0, tags: Default::default(), scratch: None }.create(&db)?;
        ann.delete(&db)?;
        assert_eq!(*seen.lock().unwrap(), ["Post from instance Author ann", "Author from instance Author ann"]);
        seen.lock().unwrap().clear();
        let bob = mk("bob")?;
        Post { id: Auto::unset(), title: "q".into(), author: ForeignKey::to(&bob)?, editor: None, views: 0, tags: Default::default(), scratch: None }.create(&db)?;
        Author::objects().filter(Author::name().eq("bob")).delete(&db)?;
        assert_eq!(*seen.lock().unwrap(), ["Post from queryset Author typed=true", "Author from queryset Author typed=true"]);
        Ok(())
    }
}

/// Django's m2m_signals `Person.friends = ManyToManyField('self')`: symmetrical by default.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "sigd")]
pub struct Human {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
    pub friends: ManyToMany<Human>,
    #[orm(symmetrical = false, related_name = "followers")]
    pub follows: ManyToMany<Human>,
}

fn names(qs: orm::QuerySet<Human>, db: &Database) -> orm::Result<Vec<String>> {
    let mut v: Vec<String> = qs.fetch(db)?.into_iter().map(|h| h.name).collect();
    v.sort();
    Ok(v)
}

backend_test! {
    fn a_symmetrical_self_many_to_many_writes_both_ways_with_one_signal_pair(t: &TestDb) {
        // Django's m2m_signals test_m2m_relations_with_self_add_friends / _add_idols.
        let db = db_of(t);
        Schema::new().model::<Human>().create_all(&db)?;
        let mk = |n: &str| Human { id: Auto::unset(), name: n.into(), friends: Default::default(), follows: Default::default() }.create(&db);
        let (alice, bob, chuck) = (mk("alice")?, mk("bob")?, mk("chuck")?);
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let l = log.clone();
        db.signals().m2m_changed::<Human>().connect(move |e| {
            let mut pks: Vec<String> = e.pk_set.unwrap_or_default().iter().map(|v| format!("{v:?}")).collect();
            pks.sort();
            l.lock().unwrap().push(format!("{} {} {}", e.field, e.action.name(), pks.join(",")));
            Ok(())
        });
        assert_eq!(alice.friends().add([&bob, &chuck], &db)?, 2);
        assert_eq!(log.lock().unwrap().len(), 2, "one pre_add/post_add pair: {:?}", log.lock().unwrap());
        assert_eq!(names(alice.friends().all(), &db)?, ["bob", "chuck"]);
        assert_eq!(names(bob.friends().all(), &db)?, ["alice"], "the mirror row");
        assert_eq!(names(chuck.friends().all(), &db)?, ["alice"]);
        // Adding from the other side what is already there writes nothing.
        assert_eq!(bob.friends().add([&alice], &db)?, 0);
        // Removing from one side removes both rows, one signal pair.
        log.lock().unwrap().clear();
        bob.friends().remove([&alice], &db)?;
        assert_eq!(log.lock().unwrap().len(), 2);
        assert_eq!(names(alice.friends().all(), &db)?, ["chuck"]);
        assert!(names(bob.friends().all(), &db)?.is_empty());
        // clear() takes the mirror rows too.
        chuck.friends().clear(&db)?;
        assert!(names(alice.friends().all(), &db)?.is_empty());
        // Deleting a human removes both directions of its links.
        alice.friends().add([&bob], &db)?;
        let mut bob2 = bob.clone();
        bob2.delete(&db)?;
        assert!(names(alice.friends().all(), &db)?.is_empty());
        // symmetrical = false: one way only, with its reverse accessor.
        alice.follows().add([&chuck], &db)?;
        assert_eq!(names(alice.follows().all(), &db)?, ["chuck"]);
        assert!(names(chuck.follows().all(), &db)?.is_empty());
        assert_eq!(names(chuck.followers().all(), &db)?, ["alice"]);
        Ok(())
    }
}
