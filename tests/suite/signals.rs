//! Signals: the exact sequence (name, sender, key, created, raw, update_fields) for saves,
//! deletes, QuerySet deletes, fixture loading and reads; receiver errors aborting or rolling
//! back; disconnect by id and dispatch_uid; hubs scoped to one `Database` handle.

use chrono::{TimeZone, Utc};
use orm::prelude::*;
use orm::serializers;
use orm::signals::{M2mAction, M2mChanged};
use orm::{OwnedRow, Value};
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;
use std::any::Any;
use std::sync::{Arc, Mutex};

fn schema() -> Schema {
    Schema::new()
        .model::<Item>()
        .model::<Tally>()
        .model::<Author>()
        .model::<Tag>()
        .model::<Post>()
        .model::<Place>()
        .model::<Restaurant>()
        .model::<Pizzeria>()
        .model::<PlaceByName>()
}

fn item(name: &str, qty: i64) -> Item {
    Item {
        id: Auto::unset(),
        name: name.into(),
        note: None,
        qty,
        price: None,
        kind: "k".into(),
        at: Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap(),
    }
}

/// What receivers saw, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }

    /// Everything so far, emptying the log.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn show(v: Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Null => "-".into(),
        other => format!("{other:?}"),
    }
}

fn extras(raw: bool, fields: Option<&[String]>) -> String {
    let mut s = String::new();
    if raw {
        s.push_str(" raw");
    }
    if let Some(f) = fields {
        s.push_str(&format!(" fields={}", f.join(",")));
    }
    s
}

/// Records the save and delete signals of `M`: `pre_save Item pk=1 fields=qty`.
fn record<M: Model>(db: &Database, log: &Log) {
    let s = db.signals();
    let l = log.clone();
    s.pre_save::<M>().connect(move |e| {
        l.push(format!(
            "pre_save {} pk={}{}",
            e.sender.name,
            show(e.instance.pk_value()),
            extras(e.raw, e.update_fields)
        ));
        Ok(())
    });
    let l = log.clone();
    s.post_save::<M>().connect(move |e| {
        l.push(format!(
            "post_save {} pk={} created={}{}",
            e.sender.name,
            show(e.instance.pk_value()),
            e.created,
            extras(e.raw, e.update_fields)
        ));
        Ok(())
    });
    let l = log.clone();
    s.pre_delete::<M>().connect(move |e| {
        l.push(format!("pre_delete {} pk={}", e.sender.name, show(e.instance.pk_value())));
        Ok(())
    });
    let l = log.clone();
    s.post_delete::<M>().connect(move |e| {
        l.push(format!("post_delete {} pk={}", e.sender.name, show(e.instance.pk_value())));
        Ok(())
    });
}

/// Records the init signals of `M`.
fn record_init<M: Model>(db: &Database, log: &Log) {
    let l = log.clone();
    db.signals().pre_init::<M>().connect(move |e| {
        l.push(format!("pre_init {}{}", e.sender.name, if e.row.is_some() { " row" } else { "" }));
        Ok(())
    });
    let l = log.clone();
    db.signals().post_init::<M>().connect(move |e| {
        l.push(format!("post_init {} pk={}", e.sender.name, show(e.instance.pk_value())));
        Ok(())
    });
}

/// Records the save and delete signals of every model: `any post_save shop.Item created=true`.
fn record_any(db: &Database, log: &Log) {
    let s = db.signals();
    let l = log.clone();
    s.pre_save::<dyn Any>().connect(move |e| {
        l.push(format!("any pre_save {}{}", e.sender.label(), extras(e.raw, e.update_fields)));
        Ok(())
    });
    let l = log.clone();
    s.post_save::<dyn Any>().connect(move |e| {
        l.push(format!("any post_save {} created={}{}", e.sender.label(), e.created, extras(e.raw, e.update_fields)));
        Ok(())
    });
    let l = log.clone();
    s.pre_delete::<dyn Any>().connect(move |e| {
        l.push(format!("any pre_delete {}", e.sender.label()));
        Ok(())
    });
    let l = log.clone();
    s.post_delete::<dyn Any>().connect(move |e| {
        l.push(format!("any post_delete {}", e.sender.label()));
        Ok(())
    });
}

fn count(db: &Database, name: &str) -> orm::Result<u64> {
    Item::objects().filter(Item::name().eq(name)).count(db)
}

backend_test! {
    fn save_and_delete_send_in_order(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let log = Log::default();
        record::<Item>(&db, &log);
        record::<Tag>(&db, &log); // another sender: must stay silent
        record_any(&db, &log);

        let mut a = item("a", 1);
        a.save(&db)?;
        let pk = a.id.get().unwrap();
        assert_eq!(log.take(), [
            "pre_save Item pk=-".to_owned(),
            "any pre_save shop.Item".into(),
            format!("post_save Item pk={pk} created=true"),
            "any post_save shop.Item created=true".into(),
        ]);

        a.qty = 2;
        a.save(&db)?;
        assert_eq!(log.take(), [
            format!("pre_save Item pk={pk}"),
            "any pre_save shop.Item".into(),
            format!("post_save Item pk={pk} created=false"),
            "any post_save shop.Item created=false".into(),
        ]);

        a.qty = 3;
        a.save_with(&db, &SaveOptions::update_fields(["qty"]))?;
        assert_eq!(log.take(), [
            format!("pre_save Item pk={pk} fields=qty"),
            "any pre_save shop.Item fields=qty".into(),
            format!("post_save Item pk={pk} created=false fields=qty"),
            "any post_save shop.Item created=false fields=qty".into(),
        ]);

        let b = item("b", 1).create(&db)?;
        let pk_b = b.id.get().unwrap();
        assert_eq!(log.take(), [
            "pre_save Item pk=-".to_owned(),
            "any pre_save shop.Item".into(),
            format!("post_save Item pk={pk_b} created=true"),
            "any post_save shop.Item created=true".into(),
        ]);

        assert_eq!(a.delete(&db)?, 1);
        assert_eq!(log.take(), [
            format!("pre_delete Item pk={pk}"),
            "any pre_delete shop.Item".into(),
            format!("post_delete Item pk={pk}"),
            "any post_delete shop.Item".into(),
        ]);
        assert_eq!(Item::objects().count(&db)?, 1);
        assert!(log.take().is_empty(), "counting builds no instance");
        Ok(())
    }
}

backend_test! {
    fn queryset_delete_sends_all_pre_then_delete_then_all_post(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let keep = item("a", 1).create(&db)?;
        let b = item("b", 2).create(&db)?;
        let c = item("c", 3).create(&db)?;
        let (pb, pc) = (b.id.get().unwrap(), c.id.get().unwrap());

        // Each receiver notes how many DELETE statements had run when it was called.
        let capture = Arc::new(db.capture_queries());
        let log = Log::default();
        let deletes = {
            let capture = capture.clone();
            move || capture.queries().iter().filter(|q| q.sql.starts_with("DELETE")).count()
        };
        let (l, d) = (log.clone(), deletes.clone());
        db.signals().pre_delete::<Item>().connect(move |e| {
            l.push(format!("pre_delete {} {} after {} DELETE", e.sender.name, e.instance.name, d()));
            Ok(())
        });
        let (l, d) = (log.clone(), deletes.clone());
        db.signals().post_delete::<Item>().connect(move |e| {
            l.push(format!("post_delete {} {} pk={} after {} DELETE", e.sender.name, e.instance.name, show(e.instance.pk_value()), d()));
            Ok(())
        });
        let n = Item::objects().filter(Item::qty().gte(2)).delete(&db)?;
        assert_eq!(n, 2);
        assert_eq!(log.take(), [
            "pre_delete Item b after 0 DELETE".to_owned(),
            "pre_delete Item c after 0 DELETE".into(),
            // Django reverses each model's objects before deleting them.
            format!("post_delete Item c pk={pc} after 1 DELETE"),
            format!("post_delete Item b pk={pb} after 1 DELETE"),
        ]);
        assert_eq!(Item::objects().fetch(&db)?, [keep]);

        // Nothing matching: no signal, nothing deleted.
        assert_eq!(Item::objects().filter(Item::qty().gt(100)).delete(&db)?, 0);
        assert!(log.take().is_empty());

        // Without receivers a QuerySet delete is one statement again.
        db.signals().disconnect_all();
        capture.clear();
        assert_eq!(Item::objects().delete(&db)?, 1);
        let sql: Vec<String> = capture.queries().into_iter().map(|q| q.sql).collect();
        assert_eq!(sql.len(), 1, "{sql:?}");
        assert!(sql[0].starts_with("DELETE"));
        Ok(())
    }
}

backend_test! {
    fn fixture_loading_sends_raw_saves(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut original = item("from fixture", 7);
        original.note = Some("n".into());
        original.save(&db)?;
        let pk = original.id.get().unwrap();
        let fixture = serializers::dump(std::slice::from_ref(&original));
        Item::objects().delete(&db)?;

        let log = Log::default();
        record::<Item>(&db, &log);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        db.signals().post_save::<Item>().connect(move |e| {
            s.lock().unwrap().push(e.instance.clone());
            Ok(())
        });

        assert_eq!(serializers::load(&db, &[Item::meta()], &fixture)?, 1);
        assert_eq!(log.take(), [format!("pre_save Item pk={pk} raw"), format!("post_save Item pk={pk} created=true raw")]);
        assert_eq!(*seen.lock().unwrap(), [original.clone()], "the receiver gets the fixture's object");

        serializers::load(&db, &[Item::meta()], &fixture)?;
        assert_eq!(log.take(), [format!("pre_save Item pk={pk} raw"), format!("post_save Item pk={pk} created=false raw")]);
        assert_eq!(Item::objects().fetch(&db)?, [original]);

        // A fixture naming only some fields: the instance is the stored row overlaid with them.
        let partial = serde_json::json!([{"model": "shop.item", "pk": pk, "fields": {"qty": 9}}]);
        seen.lock().unwrap().clear();
        serializers::load(&db, &[Item::meta()], &partial)?;
        let got = seen.lock().unwrap().clone();
        assert_eq!((got[0].name.as_str(), got[0].qty, got[0].note.as_deref()), ("from fixture", 9, Some("n")));
        log.take();

        // Receivers for every model get the typed instance (the model registry knows every
        // derived model's type), with or without `register`.
        let kinds = Log::default();
        let k = kinds.clone();
        db.signals().post_save::<dyn Any>().connect(move |e| {
            let what = if e.instance.is::<Tag>() { "Tag" } else if e.instance.is::<OwnedRow>() { "row" } else { "other" };
            k.push(format!("{} {what} raw={}", e.sender.name, e.raw));
            Ok(())
        });
        let tags = serde_json::json!([{"model": "blog.tag", "pk": 5, "fields": {"name": "rust"}}]);
        serializers::load(&db, &[Tag::meta()], &tags)?;
        db.signals().register::<Tag>();
        serializers::load(&db, &[Tag::meta()], &tags)?;
        assert_eq!(kinds.take(), ["Tag Tag raw=true", "Tag Tag raw=true"]);
        assert!(log.take().is_empty(), "Item receivers stay silent for tags");

        // A pre_save error aborts the whole load.
        db.signals().pre_save::<Tag>().connect(|_| Err(orm::Error::signal("no tags today")));
        let more = serde_json::json!([{"model": "blog.tag", "pk": 6, "fields": {"name": "orm"}}]);
        assert!(matches!(serializers::load(&db, &[Tag::meta()], &more), Err(orm::Error::Signal(_))));
        assert_eq!(Tag::objects().count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn instances_built_from_rows_send_init(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let mut a = item("a", 1).create(&db)?;
        let b = item("b", 2).create(&db)?;
        let (pa, pb) = (a.id.get().unwrap(), b.id.get().unwrap());
        let log = Log::default();
        record_init::<Item>(&db, &log);
        record_init::<Tag>(&db, &log);
        let pair = |pk: i64| vec!["pre_init Item row".to_owned(), format!("post_init Item pk={pk}")];

        Item::objects().fetch(&db)?;
        assert_eq!(log.take(), [pair(pa), pair(pb)].concat());
        Item::objects().filter(Item::name().eq("b")).get(&db)?;
        assert_eq!(log.take(), pair(pb));
        Item::objects().get_pk(pa, &db)?;
        assert_eq!(log.take(), pair(pa));
        a.refresh_from_db(&db)?;
        assert_eq!(log.take(), pair(pa));
        Item::objects().first(&db)?;
        assert_eq!(log.take(), pair(pa));
        for i in Item::objects().iter(&db)? {
            i?;
        }
        assert_eq!(log.take(), [pair(pa), pair(pb)].concat());
        db.atomic(|tx| Item::objects().filter(Item::qty().eq(2)).fetch(tx))?;
        assert_eq!(log.take(), pair(pb), "through a transaction of the handle");

        Item::objects().count(&db)?;
        Item::objects().values(["name"]).fetch_values(&db)?;
        assert!(log.take().is_empty(), "no instance, no init");

        let made = db.signals().construct(|| item("c", 3))?;
        assert_eq!(log.take(), ["pre_init Item", "post_init Item pk=-"]);
        assert_eq!(made.name, "c");

        // An init receiver's error fails the read.
        db.signals().post_init::<Item>().connect_with_uid("fail", |_| Err(orm::Error::signal("no reads")));
        assert!(matches!(Item::objects().fetch(&db), Err(orm::Error::Signal(_))));
        assert!(db.signals().post_init::<Item>().disconnect_uid("fail"));
        assert_eq!(Item::objects().fetch(&db)?.len(), 2);
        Ok(())
    }
}

backend_test! {
    fn pre_receiver_errors_abort(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let log = Log::default();
        db.signals().pre_save::<Item>().connect(|e| {
            if e.instance.name == "bad" {
                return Err(orm::Error::signal("bad names are refused"));
            }
            Ok(())
        });
        record::<Item>(&db, &log);

        let mut bad = item("bad", 1);
        let err = bad.save(&db).unwrap_err();
        assert!(matches!(&err, orm::Error::Signal(m) if m == "bad names are refused"), "{err}");
        assert!(!bad.id.is_set());
        assert_eq!(Item::objects().count(&db)?, 0, "nothing written");
        assert!(log.take().is_empty(), "later receivers did not run");

        let mut good = item("good", 1);
        good.save(&db)?;
        log.take();
        good.name = "bad".into();
        assert!(good.save(&db).is_err());
        assert_eq!(count(&db, "good")?, 1, "the row is unchanged");
        assert!(good.save_with(&db, &SaveOptions::update_fields(["name"])).is_err());
        assert_eq!(count(&db, "good")?, 1);
        assert!(log.take().is_empty());

        // pre_delete refusing: nothing deleted, by instance or by QuerySet.
        let guard = db.signals().pre_delete::<Item>().connect(|_| Err(orm::Error::signal("keep it")));
        assert!(matches!(good.delete(&db), Err(orm::Error::Signal(_))));
        assert!(Item::objects().delete(&db).is_err());
        assert_eq!(Item::objects().count(&db)?, 1);
        assert!(db.signals().pre_delete::<Item>().disconnect(guard));
        assert_eq!(Item::objects().delete(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn post_receiver_errors_roll_back(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        db.signals().post_save::<Item>().connect(|e| {
            if e.instance.name == "boom" {
                return Err(orm::Error::signal("post_save failed"));
            }
            Ok(())
        });
        let mut boom = item("boom", 1);
        assert!(matches!(boom.save(&db), Err(orm::Error::Signal(_))));
        assert_eq!(count(&db, "boom")?, 0, "the insert was rolled back");
        assert!(!boom.id.is_set(), "the key is unset again");
        boom.name = "fine".into();
        boom.save(&db)?;
        assert!(boom.id.is_set());

        // Inside a transaction of the handle: a savepoint, so the transaction goes on.
        db.atomic(|tx| {
            item("kept", 1).create(tx)?;
            assert!(item("boom", 2).create(tx).is_err());
            tx.atomic(|inner| item("nested", 3).create(inner).map(drop))?;
            Ok(())
        })?;
        assert_eq!((count(&db, "kept")?, count(&db, "boom")?, count(&db, "nested")?), (1, 0, 1));

        // An update rolled back.
        let mut kept = Item::objects().filter(Item::name().eq("kept")).get(&db)?;
        kept.name = "boom".into();
        assert!(kept.save(&db).is_err());
        assert_eq!(count(&db, "kept")?, 1);

        // post_delete errors roll deletes back.
        db.signals().post_delete::<Item>().connect(|_| Err(orm::Error::signal("post_delete failed")));
        let mut fine = Item::objects().filter(Item::name().eq("fine")).get(&db)?;
        assert!(matches!(fine.delete(&db), Err(orm::Error::Signal(_))));
        assert!(matches!(Item::objects().delete(&db), Err(orm::Error::Signal(_))));
        assert_eq!(Item::objects().count(&db)?, 3);
        Ok(())
    }
}

backend_test! {
    fn disconnect_by_id_and_dispatch_uid(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let log = Log::default();
        let signal = db.signals().post_save::<Item>();
        assert!(!signal.has_receivers());

        let l = log.clone();
        let id = signal.connect(move |_| {
            l.push("by id".into());
            Ok(())
        });
        assert!(signal.has_receivers());
        item("a", 1).create(&db)?;
        assert_eq!(log.take(), ["by id"]);
        assert!(signal.disconnect(id));
        assert!(!signal.disconnect(id), "already gone");
        item("b", 1).create(&db)?;
        assert!(log.take().is_empty());

        let (l1, l2) = (log.clone(), log.clone());
        let first = signal.connect_with_uid("audit", move |_| {
            l1.push("first".into());
            Ok(())
        });
        let second = signal.connect_with_uid("audit", move |_| {
            l2.push("second".into());
            Ok(())
        });
        assert_eq!(first, second, "the same dispatch_uid keeps the first receiver");
        assert_eq!(signal.receiver_count(), 1);
        // The uid is per sender: Tag's "audit" is another receiver.
        let l3 = log.clone();
        db.signals().post_save::<Tag>().connect_with_uid("audit", move |_| {
            l3.push("tag".into());
            Ok(())
        });
        item("c", 1).create(&db)?;
        Tag { id: Auto::unset(), name: "t".into() }.create(&db)?;
        assert_eq!(log.take(), ["first", "tag"]);

        assert!(signal.disconnect_uid("audit"));
        assert!(!signal.disconnect_uid("audit"));
        item("d", 1).create(&db)?;
        assert!(log.take().is_empty());
        assert!(!signal.has_receivers());
        assert_eq!(db.signals().post_save::<Tag>().receiver_count(), 1);

        // A receiver may disconnect itself while running (sending holds no lock).
        let hub = db.clone();
        let l = log.clone();
        db.signals().pre_save::<Item>().connect_with_uid("once", move |_| {
            l.push("once".into());
            hub.signals().pre_save::<Item>().disconnect_uid("once");
            Ok(())
        });
        item("e", 1).create(&db)?;
        item("f", 1).create(&db)?;
        assert_eq!(log.take(), ["once"]);
        Ok(())
    }
}

backend_test! {
    fn receivers_are_scoped_to_their_database_handle(t: &TestDb) {
        let db = db_of(t);
        let other = db_of(t); // the same pool and database, another handle
        schema().create_all(&db)?;
        let log = Log::default();
        record::<Item>(&db, &log);

        item("other", 1).create(&other)?;
        other.atomic(|tx| item("other tx", 1).create(tx).map(drop))?;
        Item::objects().fetch(&other)?;
        Item::objects().delete(&other)?;
        assert!(log.take().is_empty(), "another handle's operations reach none of these receivers");
        assert!(!other.signals().post_save::<Item>().has_receivers());

        // A bare pool, or a transaction opened on a raw connection, has no hub either.
        item("pool", 1).create(&**t)?;
        let mut conn = t.get()?;
        orm::atomic(&mut *conn, |tx| item("raw tx", 1).create(tx).map(drop))?;
        drop(conn);
        assert!(log.take().is_empty());

        // This handle, its clones, and transactions and savepoints it opens all reach them.
        let clone = db.clone();
        item("clone", 1).create(&clone)?;
        assert_eq!(log.take().len(), 2);
        db.atomic(|tx| {
            item("tx", 1).create(tx)?;
            tx.atomic(|sp| item("savepoint", 1).create(sp).map(drop))
        })?;
        assert_eq!(log.take().len(), 4);
        Ok(())
    }
}

backend_test! {
    fn senders_of_children_and_proxies(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let log = Log::default();
        record_any(&db, &log);

        let mut luigi = Restaurant { place: Place { id: Auto::unset(), name: "Luigi's".into(), open: true }, serves_pizza: true, seats: 4 };
        luigi.save(&db)?;
        assert_eq!(log.take(), ["any pre_save inh.Restaurant", "any post_save inh.Restaurant created=true"], "the parent's save is internal");
        luigi.seats = 5;
        luigi.save(&db)?;
        assert_eq!(log.take(), ["any pre_save inh.Restaurant", "any post_save inh.Restaurant created=false"]);

        let mut proxy = PlaceByName::objects().get_pk(luigi.place.id.get().unwrap(), &db)?;
        proxy.place.open = false;
        proxy.save(&db)?;
        assert_eq!(log.take(), ["any pre_save inh.PlaceByName", "any post_save inh.PlaceByName created=false"]);

        // A receiver for the concrete model does not hear its proxy.
        let l = log.clone();
        db.signals().post_save::<Place>().connect(move |_| {
            l.push("Place".into());
            Ok(())
        });
        proxy.save(&db)?;
        assert_eq!(log.take(), ["any pre_save inh.PlaceByName", "any post_save inh.PlaceByName created=false"]);
        Ok(())
    }
}

backend_test! {
    fn helpers_built_on_save_send_signals(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let log = Log::default();
        record::<Tally>(&db, &log);
        let (t1, created) = Tally::objects().get_or_create(Tally::name().eq("x"), || Tally { id: Auto::unset(), name: "x".into(), hits: 0 }, &db)?;
        assert!(created);
        let pk = t1.id.get().unwrap();
        assert_eq!(log.take(), ["pre_save Tally pk=-".to_owned(), format!("post_save Tally pk={pk} created=true")]);
        let (_, created) = Tally::objects().update_or_create(Tally::name().eq("x"), |t| t.hits += 1, || unreachable!(), &db)?;
        assert!(!created);
        // As Django's update_or_create, a save of the changed fields (update_fields = defaults).
        assert_eq!(
            log.take(),
            [format!("pre_save Tally pk={pk} fields=hits"), format!("post_save Tally pk={pk} created=false fields=hits")]
        );
        // bulk writes and QuerySet.update send no signals, as in Django.
        Tally::objects().bulk_create(&mut [Tally { id: Auto::unset(), name: "y".into(), hits: 0 }], &db)?;
        Tally::objects().update([orm::Assignment::new("hits", 5)], &db)?;
        assert!(log.take().is_empty());
        Ok(())
    }
}

backend_test! {
    fn m2m_changed_reaches_receivers_of_the_declaring_model(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let log = Log::default();
        let l = log.clone();
        db.signals().m2m_changed::<Post>().connect(move |e| {
            l.push(format!(
                "{} {}.{} reverse={} {}={} model={} pks={:?}",
                e.action.name(),
                e.sender.name,
                e.field,
                e.reverse,
                e.instance_model.name,
                show(e.instance_pk.clone()),
                e.model.name,
                e.pk_set.map(|p| p.iter().cloned().map(show).collect::<Vec<_>>())
            ));
            if e.action == M2mAction::PreClear {
                return Err(orm::Error::signal("no clearing"));
            }
            Ok(())
        });
        assert!(orm::signals::has_m2m_receivers(&db, Post::meta()));
        assert!(!orm::signals::has_m2m_receivers(&db, Tag::meta()));
        assert!(!orm::signals::has_m2m_receivers(&**t, Post::meta()), "a bare pool has no hub");

        let pks = [Value::Int(3), Value::Int(4)];
        let mut event = M2mChanged {
            sender: Post::meta(),
            field: "tags",
            action: M2mAction::PreAdd,
            reverse: false,
            instance_model: Post::meta(),
            instance_pk: &Value::Int(1),
            model: Tag::meta(),
            pk_set: Some(&pks),
            using: "default",
        };
        orm::signals::send_m2m_changed(&db, &event)?;
        event.action = M2mAction::PostRemove;
        event.reverse = true;
        event.instance_model = Tag::meta();
        event.model = Post::meta();
        db.atomic(|tx| orm::signals::send_m2m_changed(tx, &event))?;
        event.action = M2mAction::PreClear;
        event.pk_set = None;
        assert!(matches!(orm::signals::send_m2m_changed(&db, &event), Err(orm::Error::Signal(_))));
        assert_eq!(log.take(), [
            "pre_add Post.tags reverse=false Post=1 model=Tag pks=Some([\"3\", \"4\"])",
            "post_remove Post.tags reverse=true Tag=1 model=Post pks=Some([\"3\", \"4\"])",
            "pre_clear Post.tags reverse=true Tag=1 model=Post pks=None",
        ]);
        // Another sender's events do not reach Post's receivers; nor does another handle's hub.
        event.sender = Tag::meta();
        orm::signals::send_m2m_changed(&db, &event)?;
        event.sender = Post::meta();
        orm::signals::send_m2m_changed(&db_of(t), &event)?;
        assert!(log.take().is_empty());
        Ok(())
    }
}

backend_test! {
    fn deleting_children_parents_and_proxies_sends_each_object(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let log = Log::default();
        record::<Place>(&db, &log);
        record::<Restaurant>(&db, &log);
        record::<PlaceByName>(&db, &log);
        let new = |name: &str| Restaurant { place: Place { id: Auto::unset(), name: name.into(), open: true }, serves_pizza: true, seats: 4 };

        // A multi-table child: its own signals, then its parent row's (Django collects the
        // parent too), all pre before the deletes.
        let mut luigi = new("Luigi's");
        luigi.save(&db)?;
        let pk = luigi.place.id.get().unwrap();
        log.take();
        assert_eq!(luigi.delete(&db)?, 2, "the child's row and its parent's");
        assert_eq!(log.take(), [
            format!("pre_delete Restaurant pk={pk}"),
            format!("pre_delete Place pk={pk}"),
            format!("post_delete Restaurant pk={pk}"),
            format!("post_delete Place pk={pk}"),
        ]);
        assert_eq!(Place::objects().count(&db)?, 0);

        // A parent with a child row: the child goes first.
        let mut mario = new("Mario's");
        mario.save(&db)?;
        let pk = mario.place.id.get().unwrap();
        let mut place = Place::objects().get_pk(pk, &db)?;
        log.take();
        place.delete(&db)?;
        assert_eq!(log.take(), [
            format!("pre_delete Restaurant pk={pk}"),
            format!("pre_delete Place pk={pk}"),
            format!("post_delete Restaurant pk={pk}"),
            format!("post_delete Place pk={pk}"),
        ]);
        assert_eq!(Restaurant::objects().count(&db)?, 0);

        // A proxy: the sender is the proxy; the concrete model's receivers do not hear it.
        let mut plain = Place { id: Auto::unset(), name: "plain".into(), open: true }.create(&db)?;
        let pk = plain.id.get().unwrap();
        let mut proxy = PlaceByName::objects().get_pk(pk, &db)?;
        log.take();
        proxy.delete(&db)?;
        assert_eq!(log.take(), [format!("pre_delete PlaceByName pk={pk}"), format!("post_delete PlaceByName pk={pk}")]);
        assert_eq!(plain.delete(&db)?, 0, "already gone");
        log.take();

        // A QuerySet delete through the proxy, where one row has a child.
        let mut a = new("a");
        a.save(&db)?;
        let b = Place { id: Auto::unset(), name: "b".into(), open: true }.create(&db)?;
        let (pa, pb) = (a.place.id.get().unwrap(), b.id.get().unwrap());
        log.take();
        assert_eq!(PlaceByName::objects().delete(&db)?, 3, "two places and a restaurant");
        assert_eq!(log.take(), [
            format!("pre_delete Restaurant pk={pa}"),
            format!("pre_delete PlaceByName pk={pa}"),
            format!("pre_delete PlaceByName pk={pb}"),
            format!("post_delete Restaurant pk={pa}"),
            format!("post_delete PlaceByName pk={pb}"),
            format!("post_delete PlaceByName pk={pa}"),
        ]);
        Ok(())
    }
}

backend_test! {
    fn related_managers_send_m2m_changed(t: &TestDb) {
        let db = db_of(t);
        schema().create_all(&db)?;
        let author = Author { id: Auto::unset(), name: "ann".into(), email: None, status: "a".into() }.create(&db)?;
        let post = Post {
            id: Auto::unset(),
            title: "p".into(),
            author: ForeignKey::to(&author)?,
            editor: None,
            views: 0,
            tags: Default::default(),
            scratch: None,
        }
        .create(&db)?;
        let tag = |n: &str| Tag { id: Auto::unset(), name: n.into() }.create(&db);
        let (x, y, z) = (tag("x")?, tag("y")?, tag("z")?);
        let (px, py, pz) = (x.id.get().unwrap(), y.id.get().unwrap(), z.id.get().unwrap());
        let pp = post.id.get().unwrap();

        let log = Log::default();
        let l = log.clone();
        db.signals().m2m_changed::<Post>().connect(move |e| {
            l.push(format!(
                "{} {} reverse={} {}={} model={} pks={:?}",
                e.action.name(),
                e.field,
                e.reverse,
                e.instance_model.name,
                show(e.instance_pk.clone()),
                e.model.name,
                e.pk_set.map(|p| p.iter().cloned().map(show).collect::<Vec<_>>().join(","))
            ));
            Ok(())
        });

        // add: the keys not yet related (Django's pk_set), also when none is new.
        post.tags().add([&x], &db)?;
        assert_eq!(post.tags().add([&x, &y], &db)?, 1);
        post.tags().add([&y], &db)?;
        assert_eq!(log.take(), [
            format!("pre_add tags reverse=false Post={pp} model=Tag pks=Some(\"{px}\")"),
            format!("post_add tags reverse=false Post={pp} model=Tag pks=Some(\"{px}\")"),
            format!("pre_add tags reverse=false Post={pp} model=Tag pks=Some(\"{py}\")"),
            format!("post_add tags reverse=false Post={pp} model=Tag pks=Some(\"{py}\")"),
            format!("pre_add tags reverse=false Post={pp} model=Tag pks=Some(\"\")"),
            format!("post_add tags reverse=false Post={pp} model=Tag pks=Some(\"\")"),
        ]);
        // remove: the keys given.
        assert_eq!(post.tags().remove([&x], &db)?, 1);
        // set: a remove of the others, then an add of the missing.
        post.tags().set([&z], &db)?;
        // From the other side: reverse, the instance is the tag, the model Post.
        z.posts().remove([&post], &db)?;
        x.posts().add([pp], &db)?;
        post.tags().clear(&db)?;
        assert_eq!(log.take(), [
            format!("pre_remove tags reverse=false Post={pp} model=Tag pks=Some(\"{px}\")"),
            format!("post_remove tags reverse=false Post={pp} model=Tag pks=Some(\"{px}\")"),
            format!("pre_remove tags reverse=false Post={pp} model=Tag pks=Some(\"{py}\")"),
            format!("post_remove tags reverse=false Post={pp} model=Tag pks=Some(\"{py}\")"),
            format!("pre_add tags reverse=false Post={pp} model=Tag pks=Some(\"{pz}\")"),
            format!("post_add tags reverse=false Post={pp} model=Tag pks=Some(\"{pz}\")"),
            format!("pre_remove tags reverse=true Tag={pz} model=Post pks=Some(\"{pp}\")"),
            format!("post_remove tags reverse=true Tag={pz} model=Post pks=Some(\"{pp}\")"),
            format!("pre_add tags reverse=true Tag={px} model=Post pks=Some(\"{pp}\")"),
            format!("post_add tags reverse=true Tag={px} model=Post pks=Some(\"{pp}\")"),
            format!("pre_clear tags reverse=false Post={pp} model=Tag pks=None"),
            format!("post_clear tags reverse=false Post={pp} model=Tag pks=None"),
        ]);
        assert_eq!(post.tags().all().count(&db)?, 0);
        // Nothing to add or remove: no signal.
        post.tags().add(Vec::<&Tag>::new(), &db)?;
        post.tags().remove(Vec::<&Tag>::new(), &db)?;
        post.tags().set(Vec::<&Tag>::new(), &db)?;
        assert_eq!(log.take(), Vec::<String>::new());

        // A pre_add receiver's error aborts the add; a post_remove receiver's error rolls the
        // remove back; a pre_clear error leaves every row.
        post.tags().add([&x, &y], &db)?;
        db.signals().m2m_changed::<Post>().connect(|e| match e.action {
            M2mAction::PreAdd | M2mAction::PostRemove | M2mAction::PreClear => Err(orm::Error::signal("no")),
            _ => Ok(()),
        });
        assert!(matches!(post.tags().add([&z], &db), Err(orm::Error::Signal(_))));
        assert!(matches!(post.tags().remove([&x], &db), Err(orm::Error::Signal(_))));
        assert!(matches!(post.tags().set([&x], &db), Err(orm::Error::Signal(_))), "set's remove of y is rolled back");
        assert!(matches!(post.tags().clear(&db), Err(orm::Error::Signal(_))));
        assert!(matches!(z.posts().add([&post], &db), Err(orm::Error::Signal(_))), "the reverse side too");
        let mut names: Vec<String> = post.tags().all().fetch(&db)?.into_iter().map(|t| t.name).collect();
        names.sort();
        assert_eq!(names, ["x", "y"], "every failed change left the join rows as they were");
        // Receivers of the other model do not hear Post's field.
        db.signals().disconnect_all();
        log.take();
        let l = log.clone();
        db.signals().m2m_changed::<Tag>().connect(move |e| {
            l.push(e.action.name().into());
            Ok(())
        });
        x.posts().clear(&db)?;
        assert!(log.take().is_empty());
        Ok(())
    }
}
