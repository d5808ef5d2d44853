//! The deletion collector as Django's `Collector` (tests/delete, tests/delete_regress):
//! batches in dependency order (diamonds of cascades, a Restrict referrer also reached by a
//! cascade, a cycle of nullable keys), every `pre_delete` first then per model the deletes
//! with their `post_delete`s, keys cleared after a delete, `keep_parents`; Protect and
//! Restrict refusals listing every relation and object with Django's messages; delete counts
//! per model including link-table rows.

use orm::prelude::*;
use orm::{DeleteOptions, Deleted};
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;
use std::sync::{Arc, Mutex};

// Django's tests/delete models, where the names matter for the messages.

/// `P` ← `R.p` (cascade, nullable) ← `A.protect` / `B.protect` (Protect),
/// `A.restrict` / `B3.restrict` (Restrict), `A.cascade` (Cascade).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct P {
    pub id: Auto<i64>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct R {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "rs")]
    pub p: Option<ForeignKey<P>>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct A {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
    #[orm(on_delete = Protect, related_name = "a_protect")]
    pub protect: Option<ForeignKey<R>>,
    #[orm(on_delete = Restrict, related_name = "a_restrict")]
    pub restrict: Option<ForeignKey<R>>,
    #[orm(on_delete = Cascade, related_name = "a_cascade")]
    pub cascade: Option<ForeignKey<R>>,
    #[orm(on_delete = Cascade, related_name = "a_cascade_p")]
    pub cascade_p: Option<ForeignKey<P>>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct B {
    pub id: Auto<i64>,
    #[orm(on_delete = Protect, related_name = "b_protect")]
    pub protect: ForeignKey<R>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct B3 {
    pub id: Auto<i64>,
    #[orm(on_delete = Restrict, related_name = "b3_restrict")]
    pub restrict: ForeignKey<R>,
}

/// The restrict diamond: `DeleteTop` ← `B1`, `B2` (cascade) ← `DeleteBottom` (b1 Restrict,
/// b2 Cascade), and its mirror `DeleteBottom2` (b1 Cascade, b2 Restrict), so that whichever
/// branch the collector walks first, one of them is found restricted before its cascade.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct DeleteTop {
    pub id: Auto<i64>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct B1 {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "b1s")]
    pub delete_top: ForeignKey<DeleteTop>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct B2 {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "b2s")]
    pub delete_top: ForeignKey<DeleteTop>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct DeleteBottom {
    pub id: Auto<i64>,
    #[orm(on_delete = Restrict, related_name = "bottoms")]
    pub b1: ForeignKey<B1>,
    #[orm(on_delete = Cascade, related_name = "bottoms")]
    pub b2: ForeignKey<B2>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct DeleteBottom2 {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "bottoms2")]
    pub b1: ForeignKey<B1>,
    #[orm(on_delete = Restrict, related_name = "bottoms2")]
    pub b2: ForeignKey<B2>,
}

/// A diamond of cascades: `Left` and `Right` point at `Top`; `Leaf` points at both (its row
/// is found under one branch and must still go before the other).
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct Left {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "lefts")]
    pub top: ForeignKey<DeleteTop>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct Right {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "rights")]
    pub top: ForeignKey<DeleteTop>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct Leaf {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "leaves")]
    pub left: ForeignKey<Left>,
    #[orm(on_delete = Cascade, related_name = "leaves")]
    pub right: ForeignKey<Right>,
}

/// A cycle: `Egg.hen` and `Hen.egg` cascade into each other, both nullable.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct Hen {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "hens")]
    pub egg: Option<ForeignKey<Egg>>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct Egg {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "eggs")]
    pub hen: Option<ForeignKey<Hen>>,
}

/// Multi-table inheritance over three levels, `Spot` ← `Cafe` ← `Kiosk`, with `Visit`
/// pointing at the root, for `keep_parents`.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct Spot {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct Cafe {
    #[orm(parent)]
    pub spot: Spot,
    pub seats: i32,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct Kiosk {
    #[orm(parent)]
    pub cafe: Cafe,
    pub small: bool,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "delord")]
pub struct Visit {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "visits")]
    pub spot: ForeignKey<Spot>,
}

fn schema(db: &Database) -> orm::Result<()> {
    Schema::new()
        .model::<P>()
        .model::<R>()
        .model::<A>()
        .model::<B>()
        .model::<B3>()
        .model::<DeleteTop>()
        .model::<B1>()
        .model::<B2>()
        .model::<DeleteBottom>()
        .model::<DeleteBottom2>()
        .model::<Left>()
        .model::<Right>()
        .model::<Leaf>()
        .model::<Spot>()
        .model::<Cafe>()
        .model::<Kiosk>()
        .model::<Visit>()
        .model::<Writer>()
        .model::<Label>()
        .model::<Article>()
        .model::<Remark>()
        .model::<Country>()
        .create_all(db)
}

fn r(db: &Database, p: Option<&P>) -> orm::Result<R> {
    R { id: Auto::unset(), p: p.map(ForeignKey::to).transpose()? }.create(db)
}

fn a(db: &Database, name: &str) -> A {
    let _ = db;
    A { id: Auto::unset(), name: name.into(), protect: None, restrict: None, cascade: None, cascade_p: None }
}

fn counts(d: &Deleted) -> Vec<(&str, u64)> {
    d.per_model.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

backend_test! {
    fn a_diamond_of_cascades_deletes_in_dependency_order(t: &TestDb) {
        let db = db_of(t);
        schema(&db)?;
        let mut top = DeleteTop { id: Auto::unset() }.create(&db)?;
        let other = DeleteTop { id: Auto::unset() }.create(&db)?;
        for _ in 0..2 {
            let l = Left { id: Auto::unset(), top: ForeignKey::to(&top)? }.create(&db)?;
            let r = Right { id: Auto::unset(), top: ForeignKey::to(&top)? }.create(&db)?;
            Leaf { id: Auto::unset(), left: ForeignKey::to(&l)?, right: ForeignKey::to(&r)? }.create(&db)?;
        }
        let kept = Left { id: Auto::unset(), top: ForeignKey::to(&other)? }.create(&db)?;
        let deleted = top.delete(&db)?;
        assert_eq!(counts(&deleted), [("delord.DeleteTop", 1), ("delord.Leaf", 2), ("delord.Left", 2), ("delord.Right", 2)]);
        assert_eq!(deleted, 7);
        assert_eq!(Leaf::objects().count(&db)?, 0);
        assert_eq!(Right::objects().count(&db)?, 0);
        assert_eq!(Left::objects().values(["id"]).fetch_flat::<i64>(&db)?, [kept.id.get().unwrap()]);
        assert_eq!(DeleteTop::objects().count(&db)?, 1);
        // The same through a QuerySet, with a delete receiver connected (rows are then read).
        let top2 = DeleteTop { id: Auto::unset() }.create(&db)?;
        let l = Left { id: Auto::unset(), top: ForeignKey::to(&top2)? }.create(&db)?;
        let r = Right { id: Auto::unset(), top: ForeignKey::to(&top2)? }.create(&db)?;
        Leaf { id: Auto::unset(), left: ForeignKey::to(&l)?, right: ForeignKey::to(&r)? }.create(&db)?;
        db.signals().pre_delete::<Leaf>().connect(|_| Ok(()));
        let deleted = DeleteTop::objects().filter(DeleteTop::id().eq(top2.id.get().unwrap())).delete(&db)?;
        assert_eq!(deleted, 4);
        assert_eq!(Leaf::objects().count(&db)?, 0);
        Ok(())
    }
}

backend_test! {
    fn a_restrict_diamond_is_refused_alone_and_deleted_through_the_cascade(t: &TestDb) {
        // Django's test_restrict_path_cascade_indirect_diamond, in both orientations.
        let db = db_of(t);
        schema(&db)?;
        let mut top = DeleteTop { id: Auto::unset() }.create(&db)?;
        let mut b1 = B1 { id: Auto::unset(), delete_top: ForeignKey::to(&top)? }.create(&db)?;
        let mut b2 = B2 { id: Auto::unset(), delete_top: ForeignKey::to(&top)? }.create(&db)?;
        let bottom = DeleteBottom { id: Auto::unset(), b1: ForeignKey::to(&b1)?, b2: ForeignKey::to(&b2)? }.create(&db)?;
        let bottom2 = DeleteBottom2 { id: Auto::unset(), b1: ForeignKey::to(&b1)?, b2: ForeignKey::to(&b2)? }.create(&db)?;
        let e = b1.delete(&db).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot delete some instances of model 'B1' because they are referenced through restricted foreign keys: 'DeleteBottom.b1'."
        );
        match &e {
            orm::Error::RestrictedError { model, fields, restricted } => {
                assert_eq!(model, "delord.B1");
                assert_eq!(fields, &["DeleteBottom.b1"]);
                assert_eq!(restricted, &[format!("delord.DeleteBottom({})", bottom.id)]);
            }
            other => panic!("expected RestrictedError, got {other}"),
        }
        let e = b2.delete(&db).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot delete some instances of model 'B2' because they are referenced through restricted foreign keys: 'DeleteBottom2.b2'."
        );
        assert!(b1.id.is_set() && b2.id.is_set(), "a refused delete keeps the keys");
        assert_eq!(DeleteBottom::objects().count(&db)? + DeleteBottom2::objects().count(&db)?, 2);
        assert_eq!(B1::objects().count(&db)? + B2::objects().count(&db)?, 2);
        // Deleting the top reaches both bottoms through a cascade: allowed, whichever branch
        // was walked first, and ordered so that no key is left dangling.
        let deleted = top.delete(&db)?;
        assert_eq!(counts(&deleted), [
            ("delord.B1", 1), ("delord.B2", 1), ("delord.DeleteBottom", 1), ("delord.DeleteBottom2", 1), ("delord.DeleteTop", 1),
        ]);
        assert!(!DeleteBottom::objects().exists(&db)? && !DeleteBottom2::objects().exists(&db)?);
        assert!(!B1::objects().exists(&db)? && !B2::objects().exists(&db)? && !DeleteTop::objects().exists(&db)?);
        let _ = bottom2;
        Ok(())
    }
}

backend_test! {
    fn restrict_is_lifted_only_for_rows_the_same_delete_cascades_to(t: &TestDb) {
        // Django's test_restrict_path_cascade_indirect / _direct.
        let db = db_of(t);
        schema(&db)?;
        let mut p = P { id: Auto::unset() }.create(&db)?;
        let rr = r(&db, Some(&p))?;
        let mut obj = a(&db, "restrict");
        obj.restrict = Some(ForeignKey::to(&rr)?);
        let obj = obj.create(&db)?;
        let e = p.clone().delete(&db).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot delete some instances of model 'P' because they are referenced through restricted foreign keys: 'A.restrict'."
        );
        match &e {
            orm::Error::RestrictedError { restricted, .. } => assert_eq!(restricted, &[format!("delord.A({})", obj.id)]),
            other => panic!("expected RestrictedError, got {other}"),
        }
        // Indirect: the A row is also reached by a cascade (A.cascade -> R, R.p -> P).
        let mut obj2 = obj.clone();
        obj2.cascade = Some(ForeignKey::to(&rr)?);
        obj2.save(&db)?;
        // Another A restricting the same R but not reached by any cascade still refuses.
        let mut blocker = a(&db, "blocker");
        blocker.restrict = Some(ForeignKey::to(&rr)?);
        let mut blocker = blocker.create(&db)?;
        let e = p.clone().delete(&db).unwrap_err();
        match &e {
            orm::Error::RestrictedError { restricted, fields, .. } => {
                assert_eq!(fields, &["A.restrict"]);
                assert_eq!(restricted, &[format!("delord.A({})", blocker.id)], "only the row no cascade reaches");
            }
            other => panic!("expected RestrictedError, got {other}"),
        }
        blocker.delete(&db)?;
        let deleted = p.delete(&db)?;
        assert_eq!(counts(&deleted), [("delord.A", 1), ("delord.P", 1), ("delord.R", 1)]);
        assert!(!A::objects().filter(A::name().eq("restrict")).exists(&db)?);
        assert!(!R::objects().exists(&db)?);
        // Direct: A.cascade_p points at P itself.
        let p = P { id: Auto::unset() }.create(&db)?;
        let rr = r(&db, Some(&p))?;
        let mut obj = a(&db, "direct");
        obj.restrict = Some(ForeignKey::to(&rr)?);
        obj.cascade_p = Some(ForeignKey::to(&p)?);
        obj.create(&db)?;
        assert_eq!(P::objects().delete(&db)?, 3);
        assert!(!A::objects().exists(&db)? && !R::objects().exists(&db)?);
        Ok(())
    }
}

backend_test! {
    fn protect_collects_every_relation_and_names_the_model_asked_for(t: &TestDb) {
        let db = db_of(t);
        schema(&db)?;
        // Django's test_protect.
        let rr = r(&db, None)?;
        let mut pa = a(&db, "protect");
        pa.protect = Some(ForeignKey::to(&rr)?);
        let pa = pa.create(&db)?;
        let e = rr.clone().delete(&db).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot delete some instances of model 'R' because they are referenced through protected foreign keys: 'A.protect'."
        );
        // test_protect_multiple: every protecting relation is listed, with every object.
        let pb = B { id: Auto::unset(), protect: ForeignKey::to(&rr)? }.create(&db)?;
        let capture = db.capture_queries();
        let e = R::objects().delete(&db).unwrap_err();
        assert!(capture.queries().iter().all(|q| !q.sql.starts_with("DELETE")), "nothing was deleted");
        drop(capture);
        assert_eq!(
            e.to_string(),
            "Cannot delete some instances of model 'R' because they are referenced through protected foreign keys: 'A.protect', 'B.protect'."
        );
        match &e {
            orm::Error::ProtectedError { model, fields, protected } => {
                assert_eq!(model, "delord.R");
                assert_eq!(fields, &["A.protect", "B.protect"]);
                let mut got = protected.clone();
                got.sort();
                assert_eq!(got, [format!("delord.A({})", pa.id), format!("delord.B({})", pb.id)]);
            }
            other => panic!("expected ProtectedError, got {other}"),
        }
        // test_protect_path: reached through a cascade, the error names the model asked for
        // and the relation that led to the protecting rows.
        let mut p = P { id: Auto::unset() }.create(&db)?;
        let mut rr2 = rr.clone();
        rr2.p = Some(ForeignKey::to(&p)?);
        rr2.save(&db)?;
        B::objects().delete(&db)?;
        let e = p.delete(&db).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot delete some instances of model 'P' because they are referenced through protected foreign keys: 'R.p'."
        );
        match &e {
            orm::Error::ProtectedError { protected, .. } => assert_eq!(protected, &[format!("delord.A({})", pa.id)]),
            other => panic!("expected ProtectedError, got {other}"),
        }
        assert!(p.id.is_set());
        assert_eq!((P::objects().count(&db)?, R::objects().count(&db)?, A::objects().count(&db)?), (1, 1, 1));
        // The fixture's own chain: Org -> Team -> Member <- Badge (Protect).
        Schema::new().model::<Org>().model::<Team>().model::<Member>().model::<Badge>().model::<Task>().model::<Note>().model::<Log>().create_all(&db)?;
        let mut org = Org { id: Auto::unset(), name: "o".into() }.create(&db)?;
        let team = Team { id: Auto::unset(), org: ForeignKey::to(&org)?, name: "t".into() }.create(&db)?;
        let m = Member { id: Auto::unset(), team: Some(ForeignKey::to(&team)?), mentor: None, name: "m".into() }.create(&db)?;
        Badge { id: Auto::unset(), member: ForeignKey::to(&m)? }.create(&db)?;
        let e = org.delete(&db).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot delete some instances of model 'Org' because they are referenced through protected foreign keys: 'Team.org'."
        );
        Ok(())
    }
}

backend_test! {
    fn a_cycle_of_nullable_cascades_is_broken_by_nulling_the_keys_first(t: &TestDb) {
        let db = db_of(t);
        // Two tables referencing each other: on servers, Hen's key is added once Egg exists
        // (SQLite accepts a reference to a table created later).
        let d = db.dialect();
        let mut tables = Schema::new().model::<Hen>().model::<Egg>().tables()?;
        let hen = tables.iter_mut().find(|t| t.name == Hen::meta().table).expect("Hen's table");
        let hen_fk = if d == orm::Dialect::Sqlite { Vec::new() } else { std::mem::take(&mut hen.foreign_keys) };
        let mut conn = db.pool().get()?;
        for t in &tables {
            for stmt in t.create_sql(d) {
                conn.execute(&stmt, &[])?;
            }
        }
        for fk in &hen_fk {
            conn.execute(&format!(
                "ALTER TABLE {} ADD CONSTRAINT hen_egg_fk FOREIGN KEY ({}) REFERENCES {} ({})",
                d.quote(Hen::meta().table), d.quote(&fk.columns[0]), d.quote(Egg::meta().table), d.quote("id")
            ), &[])?;
        }
        drop(conn);
        let mut hen = Hen { id: Auto::unset(), egg: None }.create(&db)?;
        let egg = Egg { id: Auto::unset(), hen: Some(ForeignKey::to(&hen)?) }.create(&db)?;
        hen.egg = Some(ForeignKey::to(&egg)?);
        hen.save(&db)?;
        let deleted = hen.delete(&db)?;
        assert_eq!(counts(&deleted), [("delord.Egg", 1), ("delord.Hen", 1)]);
        assert!(!Hen::objects().exists(&db)? && !Egg::objects().exists(&db)?);
        Ok(())
    }
}

backend_test! {
    fn signals_follow_djangos_collector_order(t: &TestDb) {
        let db = db_of(t);
        schema(&db)?;
        let mut top = DeleteTop { id: Auto::unset() }.create(&db)?;
        let mut names = Vec::new();
        for _ in 0..2 {
            let l = Left { id: Auto::unset(), top: ForeignKey::to(&top)? }.create(&db)?;
            let r = Right { id: Auto::unset(), top: ForeignKey::to(&top)? }.create(&db)?;
            let leaf = Leaf { id: Auto::unset(), left: ForeignKey::to(&l)?, right: ForeignKey::to(&r)? }.create(&db)?;
            names.push((l.id.to_string(), r.id.to_string(), leaf.id.to_string()));
        }
        let capture = Arc::new(db.capture_queries());
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        fn watch<M: Model>(db: &Database, log: &Arc<Mutex<Vec<String>>>, capture: &Arc<orm::QueryCapture>) {
            for post in [false, true] {
                let (l, c) = (log.clone(), capture.clone());
                let f = move |e: &orm::signals::Delete<'_, M>| {
                    let deletes = c.queries().iter().filter(|q| q.sql.starts_with("DELETE")).count();
                    let what = if post { "post" } else { "pre" };
                    l.lock().unwrap().push(format!("{what} {} {} after {deletes}", e.sender.name, match e.instance.pk_value() { orm::Value::Int(i) => i, _ => -1 }));
                    Ok(())
                };
                if post {
                    db.signals().post_delete::<M>().connect(f);
                } else {
                    db.signals().pre_delete::<M>().connect(f);
                }
            }
        }
        watch::<DeleteTop>(&db, &log, &capture);
        watch::<Left>(&db, &log, &capture);
        watch::<Right>(&db, &log, &capture);
        watch::<Leaf>(&db, &log, &capture);
        let top_id = top.id.to_string();
        top.delete(&db)?;
        let log = log.lock().unwrap().clone();
        // Every pre_delete first, models in dependency order (leaves first), objects by
        // ascending key; then per model one DELETE, its post_deletes in descending key order.
        let pre: Vec<String> = log.iter().filter(|s| s.starts_with("pre")).cloned().collect();
        let post: Vec<String> = log.iter().filter(|s| s.starts_with("post")).cloned().collect();
        assert_eq!(log[..6], pre[..6], "{log:?}");
        assert_eq!(pre[0], format!("pre Leaf {} after 0", names[0].2));
        assert_eq!(pre[1], format!("pre Leaf {} after 0", names[1].2));
        assert_eq!(pre[6], format!("pre DeleteTop {top_id} after 0"));
        assert_eq!(post[0], format!("post Leaf {} after 1", names[1].2));
        assert_eq!(post[1], format!("post Leaf {} after 1", names[0].2));
        // Left and Right come in between, in collection order, each right after its DELETE.
        let mid: Vec<&String> = post[2..6].iter().collect();
        let left_first = mid[0].contains("Left");
        let (first, second) = if left_first { ("Left", "Right") } else { ("Right", "Left") };
        let key = |n: &(String, String, String), which: &str| if which == "Left" { n.0.clone() } else { n.1.clone() };
        assert_eq!(*mid[0], format!("post {first} {} after 2", key(&names[1], first)));
        assert_eq!(*mid[1], format!("post {first} {} after 2", key(&names[0], first)));
        assert_eq!(*mid[2], format!("post {second} {} after 3", key(&names[1], second)));
        assert_eq!(*mid[3], format!("post {second} {} after 3", key(&names[0], second)));
        assert_eq!(post[6], format!("post DeleteTop {top_id} after 4"));
        Ok(())
    }
}

backend_test! {
    fn deleted_instances_lose_their_key_and_counts_include_link_rows(t: &TestDb) {
        let db = db_of(t);
        schema(&db)?;
        let wr = Writer { id: Auto::unset(), name: "w".into(), country: None, articles: Default::default() }.create(&db)?;
        let mut art = Article { id: Auto::unset(), title: "t".into(), writer: ForeignKey::to(&wr)?, rating: 0, labels: Default::default(), remarks: Default::default() }.create(&db)?;
        let l1 = Label { id: Auto::unset(), name: "l1".into(), articles: Default::default() }.create(&db)?;
        let l2 = Label { id: Auto::unset(), name: "l2".into(), articles: Default::default() }.create(&db)?;
        art.labels().add([&l1, &l2], &db)?;
        Remark { id: Auto::unset(), article: ForeignKey::to(&art)?, text: "r".into() }.create(&db)?;
        // Django's test_model_delete_returns_num_rows: (total, {label: count}), the automatic
        // link table counted as its auto-created model `app.Model_field`.
        let deleted = art.delete(&db)?;
        assert_eq!(counts(&deleted), [("rel.Article", 1), ("rel.Article_labels", 2), ("rel.Remark", 1)]);
        assert_eq!(deleted.total, 4);
        assert_eq!(deleted.of("rel.Article_labels"), 2);
        assert!(!art.id.is_set(), "the deleted instance's key is cleared");
        assert_eq!(art.title, "t", "its other fields stay");
        assert!(art.delete(&db).is_err(), "an instance with no key cannot be deleted");
        // A QuerySet delete reports the same, and nothing matched is (0, {}).
        let again = Article { id: Auto::unset(), title: "u".into(), writer: ForeignKey::to(&wr)?, rating: 0, labels: Default::default(), remarks: Default::default() }.create(&db)?;
        again.labels().add([&l1], &db)?;
        let deleted = Writer::objects().delete(&db)?;
        assert_eq!(counts(&deleted), [("rel.Article", 1), ("rel.Article_labels", 1), ("rel.Writer", 1)]);
        assert_eq!(deleted, 3);
        assert_eq!(Writer::objects().delete(&db)?, Deleted::default());
        assert_eq!(Label::objects().filter(Label::name().eq("none")).delete(&db)?, Deleted::default());
        // Deleting from the other side of the link.
        let a3 = Article { id: Auto::unset(), title: "v".into(), writer: ForeignKey::to(&Writer { id: Auto::unset(), name: "x".into(), country: None, articles: Default::default() }.create(&db)?)?, rating: 0, labels: Default::default(), remarks: Default::default() }.create(&db)?;
        a3.labels().add([&l1, &l2], &db)?;
        let deleted = Label::objects().delete(&db)?;
        assert_eq!(counts(&deleted), [("rel.Article_labels", 2), ("rel.Label", 2)]);
        Ok(())
    }
}

backend_test! {
    fn a_multi_table_child_deletes_its_parents_unless_asked_to_keep_them(t: &TestDb) {
        // Django's test_delete_with_keeping_parents(_relationships).
        let db = db_of(t);
        schema(&db)?;
        let mk = |name: &str| Kiosk { cafe: Cafe { spot: Spot { id: Auto::unset(), name: name.into() }, seats: 1 }, small: true };
        let mut k1 = mk("one");
        k1.save(&db)?;
        let id1 = k1.cafe.spot.id.get().unwrap();
        Visit { id: Auto::unset(), spot: ForeignKey::to(&k1.cafe.spot)? }.create(&db)?;
        let deleted = k1.delete_with(&db, &DeleteOptions { keep_parents: true, ..Default::default() })?;
        assert_eq!(counts(&deleted), [("delord.Kiosk", 1)]);
        assert!(!Kiosk::objects().exists(&db)?);
        assert_eq!(Cafe::objects().values(["pk"]).fetch_flat::<i64>(&db)?, [id1]);
        assert_eq!(Spot::objects().count(&db)?, 1);
        assert_eq!(Visit::objects().count(&db)?, 1, "what points at a kept parent stays");
        // Without the option: every level goes, and what points at the parents.
        let mut k2 = mk("two");
        k2.save(&db)?;
        Visit { id: Auto::unset(), spot: ForeignKey::to(&k2.cafe.spot)? }.create(&db)?;
        let deleted = k2.delete(&db)?;
        assert_eq!(counts(&deleted), [("delord.Cafe", 1), ("delord.Kiosk", 1), ("delord.Spot", 1), ("delord.Visit", 1)]);
        assert_eq!(Spot::objects().values(["pk"]).fetch_flat::<i64>(&db)?, [id1]);
        // Deleting the root of a chain takes its children (through their parent links).
        let mut cafe = Cafe::objects().get(&db)?;
        let deleted = cafe.spot.delete(&db)?;
        assert_eq!(counts(&deleted), [("delord.Cafe", 1), ("delord.Spot", 1), ("delord.Visit", 1)]);
        Ok(())
    }
}

backend_test! {
    fn cascaded_rows_a_receiver_listens_to_are_read_once(t: &TestDb) {
        // Django's collector fetches the cascaded objects with the query that finds them;
        // the signals reuse them.
        let db = db_of(t);
        schema(&db)?;
        let mut p = P { id: Auto::unset() }.create(&db)?;
        for _ in 0..3 {
            r(&db, Some(&p))?;
        }
        let seen: Arc<Mutex<Vec<i64>>> = Arc::default();
        let s = seen.clone();
        db.signals().pre_delete::<R>().connect(move |e| {
            s.lock().unwrap().push(e.instance.id.get().unwrap_or(-1));
            Ok(())
        });
        let capture = db.capture_queries();
        let deleted = p.delete(&db)?;
        assert_eq!(deleted.of("delord.R"), 3);
        assert_eq!(seen.lock().unwrap().len(), 3, "every cascaded object was signalled");
        let table = R::meta().table;
        let reads: Vec<String> = capture
            .queries()
            .into_iter()
            .map(|q| q.sql)
            .filter(|s| s.starts_with("SELECT") && (s.contains(&format!("\"{table}\"")) || s.contains(&format!("`{table}`"))))
            .collect();
        assert_eq!(reads.len(), 1, "the R rows are read once: {reads:?}");
        Ok(())
    }
}
