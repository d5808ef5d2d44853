//! The reliability suite's state machine (issue 18 item 3): random sequences of create,
//! bulk_create, update, F-update, instance and QuerySet deletes (CASCADE, SET_NULL, PROTECT,
//! RESTRICT and the database's own ON DELETE CASCADE below), multi-table children created
//! and deleted, many-to-many add/remove and child deletes, mirrored in an in-memory model.
//! After every step the tables equal the model, a delete returns the counts the model
//! predicts, a refused delete changes nothing, and the save and delete signals received equal
//! the ones Django sends for the step. Steps: `ORM_FUZZ_CASES` (default 120) per backend; the
//! seed is printed on failure.

use orm::expressions::F;
use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::db_of;
use orm_tests::fuzz::{cases, Rng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The root of every relation.
#[derive(Model, Debug, Clone)]
#[orm(app = "sm")]
pub struct SmParent {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
    pub score: i64,
    pub tags: ManyToMany<SmTag>,
}

/// Deleted with its parent.
#[derive(Model, Debug, Clone)]
#[orm(app = "sm")]
pub struct SmCascade {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade)]
    pub parent: ForeignKey<SmParent>,
    pub n: i64,
}

/// Loses its parent.
#[derive(Model, Debug, Clone)]
#[orm(app = "sm")]
pub struct SmNull {
    pub id: Auto<i64>,
    #[orm(on_delete = SetNull)]
    pub parent: Option<ForeignKey<SmParent>>,
    pub n: i64,
}

/// Keeps its parent from being deleted.
#[derive(Model, Debug, Clone)]
#[orm(app = "sm")]
pub struct SmProtect {
    pub id: Auto<i64>,
    #[orm(on_delete = Protect)]
    pub parent: ForeignKey<SmParent>,
}

/// Refuses its parent's deletion unless a cascade reaches it too (here, never).
#[derive(Model, Debug, Clone)]
#[orm(app = "sm")]
pub struct SmRestrict {
    pub id: Auto<i64>,
    #[orm(on_delete = Restrict)]
    pub parent: ForeignKey<SmParent>,
}

/// Deleted by the database itself (`ON DELETE CASCADE`): no signal, not in the counts.
#[derive(Model, Debug, Clone)]
#[orm(app = "sm")]
pub struct SmDb {
    pub id: Auto<i64>,
    #[orm(on_delete = DbCascade)]
    pub parent: ForeignKey<SmParent>,
}

/// A multi-table child: its row and its parent's.
#[derive(Model, Debug, Clone)]
#[orm(app = "sm")]
pub struct SmVip {
    #[orm(parent)]
    pub base: SmParent,
    pub level: i64,
}

/// The many-to-many's target.
#[derive(Model, Debug, Clone)]
#[orm(app = "sm")]
pub struct SmTag {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub label: String,
}

/// What the tables should hold.
#[derive(Default, Debug, PartialEq)]
struct Mirror {
    parents: BTreeMap<i64, (String, i64)>,
    cascades: BTreeMap<i64, (i64, i64)>,
    nulls: BTreeMap<i64, (Option<i64>, i64)>,
    protects: BTreeMap<i64, i64>,
    restricts: BTreeMap<i64, i64>,
    dbs: BTreeMap<i64, i64>,
    vips: BTreeMap<i64, i64>,
    tags: BTreeSet<i64>,
    links: BTreeSet<(i64, i64)>,
}

impl Mirror {
    /// Deletes `ids` as the collector would; returns the rows removed (links included) and
    /// the delete signals sent (one pre and one post per object), or `None` when a PROTECT
    /// child refuses it.
    fn delete_parents(&mut self, ids: &BTreeSet<i64>) -> Option<(u64, usize)> {
        if self.protects.values().chain(self.restricts.values()).any(|p| ids.contains(p)) {
            return None;
        }
        // The database removes its cascade itself: not counted, no signal.
        self.dbs.retain(|_, p| !ids.contains(p));
        let vips_before = self.vips.len();
        self.vips.retain(|id, _| !ids.contains(id));
        let vips = vips_before - self.vips.len();
        let before = self.cascades.len();
        self.cascades.retain(|_, (p, _)| !ids.contains(p));
        let cascaded = before - self.cascades.len();
        for (p, _) in self.nulls.values_mut() {
            if p.is_some_and(|x| ids.contains(&x)) {
                *p = None;
            }
        }
        let links_before = self.links.len();
        self.links.retain(|(p, _)| !ids.contains(p));
        let links = links_before - self.links.len();
        let parents = ids.iter().filter(|i| self.parents.remove(i).is_some()).count();
        Some(((parents + cascaded + links + vips) as u64, parents + cascaded + vips))
    }
}

/// Reads the tables back in the mirror's shape.
fn read(db: &Database) -> orm::Result<Mirror> {
    let mut m = Mirror::default();
    for p in SmParent::objects().fetch(db)? {
        let id = p.id.get().expect("saved");
        for t in p.tags().all().fetch(db)? {
            m.links.insert((id, t.id.get().expect("saved")));
        }
        m.parents.insert(id, (p.name, p.score));
    }
    for c in SmCascade::objects().fetch(db)? {
        m.cascades.insert(c.id.get().expect("saved"), (*c.parent.key(), c.n));
    }
    for c in SmNull::objects().fetch(db)? {
        m.nulls.insert(c.id.get().expect("saved"), (c.parent.as_ref().map(|p| *p.key()), c.n));
    }
    for c in SmProtect::objects().fetch(db)? {
        m.protects.insert(c.id.get().expect("saved"), *c.parent.key());
    }
    for c in SmRestrict::objects().fetch(db)? {
        m.restricts.insert(c.id.get().expect("saved"), *c.parent.key());
    }
    for c in SmDb::objects().fetch(db)? {
        m.dbs.insert(c.id.get().expect("saved"), *c.parent.key());
    }
    for v in SmVip::objects().fetch(db)? {
        m.vips.insert(v.base.id.get().expect("saved"), v.level);
    }
    m.tags = SmTag::objects().fetch(db)?.into_iter().map(|t| t.id.get().expect("saved")).collect();
    Ok(m)
}

/// Save and delete signals received, over every model.
#[derive(Default)]
struct Counters {
    saves: AtomicUsize,
    deletes: AtomicUsize,
}

fn connect(db: &Database) -> Arc<Counters> {
    let c = Arc::new(Counters::default());
    let (a, b, d, e) = (c.clone(), c.clone(), c.clone(), c.clone());
    db.signals().pre_save::<dyn std::any::Any>().connect(move |_| {
        a.saves.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    db.signals().post_save::<dyn std::any::Any>().connect(move |_| {
        b.saves.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    db.signals().pre_delete::<dyn std::any::Any>().connect(move |_| {
        d.deletes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    db.signals().post_delete::<dyn std::any::Any>().connect(move |_| {
        e.deletes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    c
}

fn pick(rng: &mut Rng, ids: impl Iterator<Item = i64>) -> Option<i64> {
    let v: Vec<i64> = ids.collect();
    (!v.is_empty()).then(|| *rng.pick(&v))
}

backend_test! {
    fn random_steps_keep_the_tables_equal_to_the_model(t: &TestDb) {
        let db = db_of(t);
        Schema::new()
            .model::<SmTag>()
            .model::<SmParent>()
            .model::<SmCascade>()
            .model::<SmNull>()
            .model::<SmProtect>()
            .model::<SmRestrict>()
            .model::<SmDb>()
            .model::<SmVip>()
            .create_all(&db)?;
        let counters = connect(&db);
        let seed = 0x5eed_0018_u64 ^ (db.dialect() as u64);
        let mut rng = Rng(seed);
        let mut m = Mirror::default();
        for label in ["red", "green", "blue"] {
            let t = SmTag { id: Auto::unset(), label: label.into() }.create(&db)?;
            m.tags.insert(t.id.get().expect("saved"));
        }
        let steps = cases(120);
        for step in 0..steps {
            let (saves0, deletes0) = (counters.saves.load(Ordering::SeqCst), counters.deletes.load(Ordering::SeqCst));
            let (mut saves, mut deletes) = (0usize, 0usize);
            let op = rng.below(13);
            let what = match op {
                0 | 1 => {
                    let (name, score) = (format!("p{step}"), rng.below(20) as i64);
                    let p = SmParent { id: Auto::unset(), name: name.clone(), score, tags: Default::default() }.create(&db)?;
                    m.parents.insert(p.id.get().expect("saved"), (name, score));
                    saves = 2;
                    "create"
                }
                2 => {
                    let k = 1 + rng.below(3);
                    let mut objs: Vec<SmParent> = (0..k)
                        .map(|i| SmParent { id: Auto::unset(), name: format!("b{step}_{i}"), score: rng.below(20) as i64, tags: Default::default() })
                        .collect();
                    SmParent::objects().bulk_create(&mut objs, &db)?;
                    for o in objs {
                        m.parents.insert(o.id.get().expect("bulk_create sets keys"), (o.name, o.score));
                    }
                    "bulk_create"
                }
                3 => {
                    // update(): no save signals (Django).
                    let (cut, v) = (rng.below(20) as i64, rng.below(20) as i64);
                    let n = SmParent::objects().filter(SmParent::score().gt(cut)).update([SmParent::score().set_value(v)], &db)?;
                    let mut expected = 0;
                    for (_, s) in m.parents.values_mut().filter(|(_, s)| *s > cut) {
                        *s = v;
                        expected += 1;
                    }
                    assert_eq!(n, expected, "step {step}: update count");
                    "update"
                }
                4 => {
                    let d = rng.below(5) as i64 - 2;
                    let cut = rng.below(20) as i64;
                    SmParent::objects().filter(SmParent::score().lte(cut)).update([SmParent::score().set(F::col("score") + d)], &db)?;
                    for (_, s) in m.parents.values_mut().filter(|(_, s)| *s <= cut) {
                        *s += d;
                    }
                    "F-update"
                }
                5 | 6 => match pick(&mut rng, m.parents.keys().copied()) {
                    None => "nothing to attach to",
                    Some(p) => {
                        let n = rng.below(100) as i64;
                        match rng.below(5) {
                            3 => {
                                let c = SmRestrict { id: Auto::unset(), parent: ForeignKey::new(p) }.create(&db)?;
                                m.restricts.insert(c.id.get().expect("saved"), p);
                            }
                            4 => {
                                let c = SmDb { id: Auto::unset(), parent: ForeignKey::new(p) }.create(&db)?;
                                m.dbs.insert(c.id.get().expect("saved"), p);
                            }
                            0 => {
                                let c = SmCascade { id: Auto::unset(), parent: ForeignKey::new(p), n }.create(&db)?;
                                m.cascades.insert(c.id.get().expect("saved"), (p, n));
                            }
                            1 => {
                                let c = SmNull { id: Auto::unset(), parent: Some(ForeignKey::new(p)), n }.create(&db)?;
                                m.nulls.insert(c.id.get().expect("saved"), (Some(p), n));
                            }
                            _ => {
                                let c = SmProtect { id: Auto::unset(), parent: ForeignKey::new(p) }.create(&db)?;
                                m.protects.insert(c.id.get().expect("saved"), p);
                            }
                        }
                        saves = 2;
                        "child"
                    }
                },
                7 => match pick(&mut rng, m.parents.keys().copied()) {
                    None => "nothing to delete",
                    Some(p) => {
                        let mut obj = SmParent::objects().get_pk(p, &db)?;
                        let ids: BTreeSet<i64> = [p].into();
                        match (m.delete_parents(&ids), obj.delete(&db)) {
                            (Some((total, signalled)), Ok(d)) => {
                                assert_eq!(d.total, total, "step {step}: delete counts {d:?}");
                                deletes = 2 * signalled;
                            }
                            (None, Err(orm::Error::ProtectedError { .. } | orm::Error::RestrictedError { .. })) => {}
                            (want, got) => panic!("step {step}: expected {want:?}, got {got:?}"),
                        }
                        "instance delete"
                    }
                },
                8 => {
                    let cut = rng.below(8) as i64;
                    let ids: BTreeSet<i64> = m.parents.iter().filter(|(_, (_, s))| *s < cut).map(|(i, _)| *i).collect();
                    match (m.delete_parents(&ids), SmParent::objects().filter(SmParent::score().lt(cut)).delete(&db)) {
                        (Some((total, signalled)), Ok(d)) => {
                            assert_eq!(d.total, total, "step {step}: QuerySet delete counts {d:?}");
                            deletes = 2 * signalled;
                        }
                        (None, Err(orm::Error::ProtectedError { .. } | orm::Error::RestrictedError { .. })) => {}
                        (want, got) => panic!("step {step}: expected {want:?}, got {got:?}"),
                    }
                    "QuerySet delete"
                }
                9 => match (pick(&mut rng, m.parents.keys().copied()), pick(&mut rng, m.tags.iter().copied())) {
                    (Some(p), Some(tag)) => {
                        let parent = SmParent::objects().get_pk(p, &db)?;
                        if rng.below(2) == 0 {
                            parent.tags().add([tag], &db)?;
                            m.links.insert((p, tag));
                        } else {
                            parent.tags().remove([tag], &db)?;
                            m.links.remove(&(p, tag));
                        }
                        "m2m"
                    }
                    _ => "no m2m",
                },
                11 => {
                    // A multi-table child: two rows, the child's save signals only (Django).
                    let (name, score, level) = (format!("v{step}"), rng.below(20) as i64, rng.below(5) as i64);
                    let v = SmVip {
                        base: SmParent { id: Auto::unset(), name: name.clone(), score, tags: Default::default() },
                        level,
                    }
                    .create(&db)?;
                    let id = v.base.id.get().expect("saved");
                    m.parents.insert(id, (name, score));
                    m.vips.insert(id, level);
                    saves = 2;
                    "multi-table create"
                }
                12 => match pick(&mut rng, m.vips.keys().copied()) {
                    None => "no child to delete",
                    Some(id) => {
                        // Deleting the child takes its parent row and what cascades from it.
                        let mut v = SmVip::objects().get_pk(id, &db)?;
                        let ids: BTreeSet<i64> = [id].into();
                        match (m.delete_parents(&ids), v.delete(&db)) {
                            (Some((total, signalled)), Ok(d)) => {
                                assert_eq!(d.total, total, "step {step}: child delete counts {d:?}");
                                deletes = 2 * signalled;
                            }
                            (None, Err(orm::Error::ProtectedError { .. } | orm::Error::RestrictedError { .. })) => {}
                            (want, got) => panic!("step {step}: expected {want:?}, got {got:?}"),
                        }
                        "multi-table delete"
                    }
                },
                _ => {
                    // A child deleted on its own: its signals only.
                    match pick(&mut rng, m.protects.keys().copied()) {
                        Some(c) => {
                            let n = SmProtect::objects().filter(SmProtect::id().eq(c)).delete(&db)?;
                            assert_eq!(n.total, 1, "step {step}");
                            m.protects.remove(&c);
                            deletes = 2;
                            "child delete"
                        }
                        None => "no child",
                    }
                }
            };
            let got = read(&db)?;
            assert_eq!(got, m, "seed {seed:#x}, step {step} ({what}): the tables differ from the model");
            assert_eq!(counters.saves.load(Ordering::SeqCst) - saves0, saves, "seed {seed:#x}, step {step} ({what}): save signals");
            assert_eq!(counters.deletes.load(Ordering::SeqCst) - deletes0, deletes, "seed {seed:#x}, step {step} ({what}): delete signals");
        }
        Ok(())
    }
}
