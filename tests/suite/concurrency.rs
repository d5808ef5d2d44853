//! Concurrency invariants (the reliability suite's item 6): money moved between accounts by
//! many threads under row locks keeps its total; a naive read-modify-write counter loses
//! updates (so the test can fail) while `F("n") + 1` and `select_for_update` stay exact;
//! retryable failures are retried by `atomic_with_retry`; many threads' `get_or_create` on one
//! key leave one row. Sizes scale with `ORM_FUZZ_CASES` (default 500 transfers per thread).

use orm::prelude::*;
use orm::F;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// `qs` with its rows locked until the transaction ends.
fn locked(qs: QuerySet<Tally>) -> QuerySet<Tally> {
    qs.select_for_update(orm::ForUpdate::new())
}

/// A tiny deterministic generator, per thread.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

backend_test! {
    fn transfers_under_row_locks_keep_the_total(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Tally>().create_all(&db)?;
        let accounts = 100;
        let mut rows: Vec<Tally> = (0..accounts).map(|i| Tally { id: Auto::unset(), name: format!("acct{i}"), hits: 1_000 }).collect();
        Tally::objects().bulk_create(&mut rows, &db)?;
        let ids: Arc<Vec<i64>> = Arc::new(Tally::objects().order_by(["id"]).values(["id"]).fetch_flat(&db)?);
        let (threads, per_thread) = (8, orm_tests::fuzz::cases(500));
        let tries = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (db, ids, tries) = (db.clone(), ids.clone(), tries.clone());
                std::thread::spawn(move || -> orm::Result<()> {
                    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                    for _ in 0..per_thread {
                        let a = ids[(next(&mut seed) % ids.len() as u64) as usize];
                        let b = ids[(next(&mut seed) % ids.len() as u64) as usize];
                        if a == b {
                            continue;
                        }
                        let amount = (next(&mut seed) % 50) as i64 + 1;
                        db.atomic_with_retry(10, |tx| {
                            tries.fetch_add(1, Ordering::Relaxed);
                            // Both rows locked in key order, so two transfers never wait on
                            // each other in a circle.
                            let mut pair = locked(Tally::objects().filter(Tally::id().is_in([a, b])).order_by(["id"])).fetch(tx)?;
                            for acct in &mut pair {
                                acct.hits += if acct.id.get() == Some(a) { -amount } else { amount };
                            }
                            Tally::objects().bulk_update(&pair, &["hits"], tx)?;
                            Ok(())
                        })?;
                    }
                    Ok(())
                })
            })
            .collect();
        let mut done = 0;
        for h in handles {
            h.join().expect("no panic")?;
            done += 1;
        }
        assert_eq!(done, threads);
        let total: Vec<i64> = Tally::objects().values(["hits"]).fetch_flat(&db)?;
        assert_eq!(total.iter().sum::<i64>(), 1_000 * accounts as i64, "money is neither made nor lost");
        let attempts = tries.load(Ordering::Relaxed);
        let transfers = threads * per_thread;
        assert!(attempts * 100 < transfers * 105 + 100, "retries stay under 5%: {attempts} tries for at most {transfers} transfers");
        Ok(())
    }
}

backend_test! {
    fn a_naive_counter_loses_updates_and_the_safe_ones_do_not(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Tally>().create_all(&db)?;
        let (threads, per_thread) = (8, orm_tests::fuzz::cases(500).min(60));
        for name in ["naive", "f", "locked"] {
            Tally { id: Auto::unset(), name: name.into(), hits: 0 }.create(&db)?;
        }
        let run = |how: &'static str| -> orm::Result<i64> {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let db = db.clone();
                    std::thread::spawn(move || -> orm::Result<()> {
                        let qs = || Tally::objects().filter(Tally::name().eq(how));
                        for _ in 0..per_thread {
                            match how {
                                "naive" => {
                                    let mut c = qs().get(&db)?;
                                    std::thread::sleep(std::time::Duration::from_micros(300));
                                    c.hits += 1;
                                    c.save(&db)?;
                                }
                                "f" => {
                                    qs().update([Tally::hits().set(F::col("hits") + 1)], &db)?;
                                }
                                _ => {
                                    db.atomic_with_retry(10, |tx| {
                                        let mut c = locked(qs()).get(tx)?;
                                        c.hits += 1;
                                        c.save(tx)
                                    })?;
                                }
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("no panic")?;
            }
            Ok(Tally::objects().filter(Tally::name().eq(how)).get(&db)?.hits)
        };
        let expected = (threads * per_thread) as i64;
        let naive = run("naive")?;
        assert!(naive < expected, "a naive read-modify-write loses updates ({naive} of {expected}): the test can fail");
        assert_eq!(run("f")?, expected, "F(\"hits\") + 1 is exact");
        assert_eq!(run("locked")?, expected, "select_for_update is exact");
        Ok(())
    }
}

backend_test! {
    fn sixteen_threads_get_or_create_one_key(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Tally>().create_all(&db)?;
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let db = db.clone();
                std::thread::spawn(move || {
                    Tally::objects().get_or_create(Tally::name().eq("one"), || Tally { id: Auto::unset(), name: "one".into(), hits: i }, &db)
                })
            })
            .collect();
        let mut created = 0;
        for h in handles {
            created += usize::from(h.join().expect("no panic")?.1);
        }
        assert_eq!(created, 1);
        assert_eq!(Tally::objects().count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn a_deadlock_is_retryable_and_atomic_with_retry_completes_it(t: &TestDb) {
        let db = db_of(t);
        if db.dialect() == Dialect::Sqlite {
            eprintln!("skipped: SQLite serialises writers (BEGIN IMMEDIATE), so two transactions cannot deadlock");
            return Ok(());
        }
        Schema::new().model::<Tally>().create_all(&db)?;
        let a = Tally { id: Auto::unset(), name: "a".into(), hits: 0 }.create(&db)?.id.get().unwrap();
        let b = Tally { id: Auto::unset(), name: "b".into(), hits: 0 }.create(&db)?.id.get().unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let first_try_failures = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = [(a, b), (b, a)]
            .into_iter()
            .map(|(x, y)| {
                let (db, barrier, failures) = (db.clone(), barrier.clone(), first_try_failures.clone());
                std::thread::spawn(move || -> orm::Result<()> {
                    let mut first = true;
                    db.atomic_with_retry(5, |tx| {
                        let one = |id| Tally::objects().filter(Tally::id().eq(id));
                        one(x).update([Tally::hits().set(F::col("hits") + 1)], tx)?;
                        if std::mem::take(&mut first) {
                            // Both hold their first row now; each then waits for the other's.
                            barrier.wait();
                        }
                        let r = one(y).update([Tally::hits().set(F::col("hits") + 1)], tx);
                        if let Err(e) = &r {
                            assert!(e.is_retryable(), "a deadlock is classified retryable: {e}");
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                        r.map(drop)
                    })
                })
            })
            .collect();
        for h in handles {
            h.join().expect("no panic")?;
        }
        assert!(first_try_failures.load(Ordering::Relaxed) >= 1, "the server picked a deadlock victim");
        let hits: Vec<i64> = Tally::objects().order_by(["name"]).values(["hits"]).fetch_flat(&db)?;
        assert_eq!(hits, [2, 2], "both transactions completed, each exactly once");
        Ok(())
    }
}
