//! Transactions: commit persists, rollback discards, savepoints nest, panics roll back,
//! on_commit runs only after the outermost commit.

use orm_backends::testing::{TestDb, TestResult};
use orm_backends::{backend_test, AtomicOptions, Connection, Dialect, Error, ErrorKind, Executor, Pool, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn setup(db: &Pool) -> TestResult {
    let mut conn = db.get()?;
    let ddl = match conn.dialect() {
        Dialect::Mysql => "CREATE TABLE items (name varchar(50) NOT NULL UNIQUE) ENGINE=InnoDB",
        _ => "CREATE TABLE items (name varchar(50) NOT NULL UNIQUE)",
    };
    conn.execute_batch(ddl)?;
    Ok(())
}

fn add(ex: &impl Executor, name: &str) -> orm_backends::Result<u64> {
    let sql = match ex.dialect() {
        Dialect::Postgres => "INSERT INTO items (name) VALUES ($1)",
        _ => "INSERT INTO items (name) VALUES (?)",
    };
    ex.with_connection(|c| c.execute(sql, &[Value::from(name)]))
}

fn names(db: &Pool) -> orm_backends::Result<Vec<String>> {
    let mut conn = db.get()?;
    conn.query("SELECT name FROM items ORDER BY name", &[])?.iter().map(|r| r.get::<String>(0)).collect()
}

fn fail() -> Error {
    Error::new(ErrorKind::Usage, "deliberate")
}

backend_test! {
    fn commit_persists_and_rollback_discards(db: &TestDb) {
        setup(db)?;
        db.atomic(|tx| add(tx, "kept").map(drop))?;
        let r: Result<(), Error> = db.atomic(|tx| {
            add(tx, "discarded")?;
            Err(fail())
        });
        assert_eq!(r.unwrap_err().message(), "deliberate");
        assert_eq!(names(db)?, ["kept"]);
        Ok(())
    }
}

backend_test! {
    fn savepoints_nest_three_deep(db: &TestDb) {
        setup(db)?;
        db.atomic(|t1| {
            add(t1, "a1")?;
            t1.atomic(|t2| {
                add(t2, "b2")?;
                let r: Result<(), Error> = t2.atomic(|t3| {
                    assert_eq!(t3.level(), 3);
                    add(t3, "c3")?;
                    Err(fail())
                });
                assert!(r.is_err());
                t2.atomic(|t3| add(t3, "d3").map(drop))
            })?;
            let r: Result<(), Error> = t1.atomic(|t2| {
                add(t2, "e2")?;
                t2.atomic(|t3| add(t3, "f3").map(drop))?;
                Err(fail())
            });
            assert!(r.is_err(), "rolling back level 2 also discards its released level 3");
            add(t1, "g1").map(drop)
        })?;
        assert_eq!(names(db)?, ["a1", "b2", "d3", "g1"]);
        Ok(())
    }
}

backend_test! {
    fn an_integrity_error_in_a_savepoint_does_not_poison_the_transaction(db: &TestDb) {
        setup(db)?;
        db.atomic(|tx| {
            add(tx, "dup")?;
            let r = tx.atomic(|sp| add(sp, "dup"));
            let e = r.expect_err("a duplicate is rejected");
            assert!(e.is_integrity(), "{e}");
            add(tx, "after").map(drop)
        })?;
        assert_eq!(names(db)?, ["after", "dup"]);
        Ok(())
    }
}

backend_test! {
    fn a_panic_rolls_back_and_the_pool_stays_usable(db: &TestDb) {
        setup(db)?;
        let pool: Pool = (**db).clone();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: Result<(), Error> = pool.atomic(|tx| {
                add(tx, "before panic")?;
                panic!("deliberate panic inside atomic");
            });
        }));
        assert!(outcome.is_err());
        assert!(names(db)?.is_empty(), "nothing of the panicking transaction is left");
        db.atomic(|tx| add(tx, "later").map(drop))?;
        assert_eq!(names(db)?, ["later"]);
        Ok(())
    }
}

backend_test! {
    fn on_commit_runs_after_the_outermost_commit_only(db: &TestDb) {
        setup(db)?;
        let ran = Arc::new(AtomicUsize::new(0));
        let (r1, r2, r3) = (ran.clone(), ran.clone(), ran.clone());
        db.atomic(|tx| {
            tx.on_commit(move || { r1.fetch_add(1, Ordering::SeqCst); });
            tx.atomic(|sp| {
                sp.on_commit(move || { r2.fetch_add(10, Ordering::SeqCst); });
                Ok::<_, Error>(())
            })?;
            let _: Result<(), Error> = tx.atomic(|sp| {
                sp.on_commit(move || { r3.fetch_add(100, Ordering::SeqCst); });
                Err(fail())
            });
            assert_eq!(ran.load(Ordering::SeqCst), 0, "nothing runs before the commit");
            add(tx, "x").map(drop)
        })?;
        assert_eq!(ran.load(Ordering::SeqCst), 11, "the rolled-back savepoint's callback was dropped");
        let r4 = ran.clone();
        let _: Result<(), Error> = db.atomic(|tx| {
            tx.on_commit(move || { r4.fetch_add(1000, Ordering::SeqCst); });
            Err(fail())
        });
        assert_eq!(ran.load(Ordering::SeqCst), 11, "a rollback drops callbacks");
        Ok(())
    }
}

backend_test! {
    fn raw_connection_transactions_track_depth(db: &TestDb) {
        setup(db)?;
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        assert_eq!(conn.transaction_depth(), 0);
        conn.begin()?;
        conn.begin()?;
        assert_eq!(conn.transaction_depth(), 2);
        conn.rollback()?;
        conn.commit()?;
        assert_eq!(conn.transaction_depth(), 0);
        let e = conn.commit().expect_err("nothing to commit");
        assert_eq!(e.kind(), ErrorKind::Usage);
        Ok(())
    }
}

backend_test! {
    fn a_connection_returned_mid_transaction_is_rolled_back_and_kept(db: &TestDb) {
        setup(db)?;
        add(&**db, "before")?;
        {
            let mut conn = db.get()?;
            conn.begin()?;
            conn.begin()?; // a savepoint inside it
            assert_eq!(conn.transaction_depth(), 2);
            let sql = if conn.dialect() == Dialect::Postgres { "INSERT INTO items (name) VALUES ($1)" } else { "INSERT INTO items (name) VALUES (?)" };
            conn.execute(sql, &[Value::from("abandoned")])?;
        } // returned to the pool inside both levels
        // The pool rolled it back: the insert is gone, the earlier row and the table remain
        // (on sqlite::memory: the one connection is the database, so it must be kept).
        assert_eq!(names(db)?, ["before"]);
        let mut conn = db.get()?;
        assert_eq!(conn.transaction_depth(), 0);
        if conn.dialect() == Dialect::Sqlite {
            // A raw BEGIN, which the connection does not count, is rolled back too.
            conn.execute_batch("BEGIN")?;
            conn.execute("INSERT INTO items (name) VALUES (?)", &[Value::from("raw")])?;
            drop(conn);
            assert_eq!(names(db)?, ["before"]);
        }
        Ok(())
    }
}

backend_test! {
    fn a_failed_statement_breaks_the_block_on_every_backend(db: &TestDb) {
        // Django's test_atomic_prevents_queries_in_broken_transaction: the caller swallows the
        // error without an inner savepoint block; every further statement of the block is
        // refused, and the block rolls back although its closure returns Ok.
        setup(db)?;
        add(&**db, "dup")?;
        let out: Result<&str, Error> = db.atomic(|tx| {
            add(tx, "first")?;
            let e = add(tx, "dup").expect_err("a duplicate is rejected");
            assert!(e.is_integrity(), "{e}");
            assert!(tx.get_rollback(), "the failure marks the block");
            let refused = add(tx, "after").expect_err("the broken block refuses statements");
            assert_eq!(refused.kind(), ErrorKind::TransactionManagement);
            assert_eq!(
                refused.message(),
                "An error occurred in the current transaction. You can't execute queries until the end of the 'atomic' block."
            );
            let reads = tx.with_connection(|c| c.query("SELECT name FROM items", &[])).expect_err("reads too");
            assert_eq!(reads.kind(), ErrorKind::TransactionManagement);
            let nested = tx.atomic(|sp| add(sp, "nested")).expect_err("no savepoint in a broken block");
            assert_eq!(nested.kind(), ErrorKind::TransactionManagement);
            Ok("closure result")
        });
        assert_eq!(out?, "closure result", "a clean exit returns the closure's value, as in Django");
        assert_eq!(names(db)?, ["dup"], "nothing of the broken block was committed");
        // The next block on the same pool starts clean.
        db.atomic(|tx| add(tx, "later").map(drop))?;
        assert_eq!(names(db)?, ["dup", "later"]);
        Ok(())
    }
}

backend_test! {
    fn a_failure_inside_a_savepoint_breaks_only_the_savepoint(db: &TestDb) {
        setup(db)?;
        db.atomic(|tx| {
            add(tx, "a")?;
            let inner: Result<u64, Error> = tx.atomic(|sp| {
                let _ = add(sp, "a"); // swallowed: the savepoint is broken, not the transaction
                assert!(sp.get_rollback());
                let e = add(sp, "b").expect_err("refused in the broken savepoint");
                assert_eq!(e.kind(), ErrorKind::TransactionManagement);
                Ok(7)
            });
            assert_eq!(inner?, 7, "the savepoint rolled back on its clean exit");
            assert!(!tx.get_rollback(), "the outer block is intact");
            add(tx, "c").map(drop)
        })?;
        assert_eq!(names(db)?, ["a", "c"]);
        Ok(())
    }
}

backend_test! {
    fn set_rollback_rolls_the_block_back_and_can_be_lifted(db: &TestDb) {
        setup(db)?;
        db.atomic(|tx| {
            add(tx, "discarded")?;
            assert!(!tx.get_rollback());
            tx.set_rollback(true)?;
            assert!(tx.get_rollback());
            assert_eq!(add(tx, "x").expect_err("marked").kind(), ErrorKind::TransactionManagement);
            Ok::<_, Error>(())
        })?;
        assert!(names(db)?.is_empty());
        db.atomic(|tx| {
            tx.set_rollback(true)?;
            tx.set_rollback(false)?;
            add(tx, "kept").map(drop)
        })?;
        assert_eq!(names(db)?, ["kept"]);
        let mut conn = db.get()?;
        let e = conn.set_rollback(true).expect_err("outside atomic");
        assert_eq!(e.kind(), ErrorKind::Usage);
        Ok(())
    }
}

backend_test! {
    fn a_block_without_savepoint_merges_into_its_parent(db: &TestDb) {
        // Django's AtomicTests.test_merged_* and AtomicMergeTests.
        setup(db)?;
        let no_sp = AtomicOptions::new().without_savepoint();
        // commit/commit: both rows.
        db.atomic(|tx| {
            add(tx, "tintin")?;
            tx.atomic_with(no_sp, |t| add(t, "haddock").map(drop))
        })?;
        assert_eq!(names(db)?, ["haddock", "tintin"]);
        // commit/rollback: the error leaving the merged block rolls the outer block back too.
        let out: Result<(), Error> = db.atomic(|tx| {
            add(tx, "a")?;
            let inner: Result<(), Error> = tx.atomic_with(no_sp, |t| {
                add(t, "b")?;
                Err(fail())
            });
            assert!(inner.is_err());
            assert!(tx.get_rollback(), "the merged block's error marks its parent");
            Ok(())
        });
        assert!(out.is_ok());
        assert_eq!(names(db)?, ["haddock", "tintin"], "nothing of the outer block was kept");
        // A merged error inside a savepoint block rolls back only that savepoint.
        db.atomic(|tx| {
            add(tx, "kept")?;
            tx.atomic(|sp| {
                add(sp, "gone1")?;
                let _ = sp.atomic_with(no_sp, |t| {
                    add(t, "gone2")?;
                    Err::<(), _>(fail())
                });
                assert!(sp.get_rollback());
                Ok::<_, Error>(())
            })?;
            assert!(!tx.get_rollback());
            Ok::<_, Error>(())
        })?;
        assert_eq!(names(db)?, ["haddock", "kept", "tintin"]);
        Ok(())
    }
}

backend_test! {
    fn a_durable_block_must_be_outermost(db: &TestDb) {
        // Django's DurableTests.
        setup(db)?;
        let durable = AtomicOptions::new().durable();
        db.atomic_with(durable, |tx| add(tx, "one").map(drop))?;
        db.atomic_with(durable, |tx| add(tx, "two").map(drop))?; // a sequence of durables
        let out: Result<(), Error> = db.atomic(|tx| {
            let e = tx.atomic_with(durable, |t| add(t, "nested").map(drop)).expect_err("nested durable");
            assert_eq!(e.message(), "A durable atomic block cannot be nested within another atomic block.");
            add(tx, "outer").map(drop)
        });
        out?;
        // On a connection already inside a transaction, too.
        let mut conn = db.get()?;
        conn.begin()?;
        let e = orm_backends::atomic_with_options(&mut *conn, None, durable, |_| Ok::<_, Error>(())).expect_err("inside a transaction");
        assert_eq!(e.kind(), ErrorKind::Usage);
        conn.rollback()?;
        drop(conn);
        assert_eq!(names(db)?, ["one", "outer", "two"]);
        Ok(())
    }
}

backend_test! {
    fn savepoints_by_hand_commit_and_roll_back(db: &TestDb) {
        setup(db)?;
        let ran = Arc::new(AtomicUsize::new(0));
        let (r1, r2) = (ran.clone(), ran.clone());
        db.atomic(|tx| {
            add(tx, "a")?;
            let sid = tx.savepoint()?;
            add(tx, "b")?;
            tx.on_commit(move || { r1.fetch_add(1, Ordering::SeqCst); });
            tx.savepoint_rollback(sid)?;
            let e = tx.savepoint_rollback(sid).expect_err("already rolled back");
            assert_eq!(e.kind(), ErrorKind::Usage);
            let sid = tx.savepoint()?;
            add(tx, "c")?;
            tx.on_commit(move || { r2.fetch_add(10, Ordering::SeqCst); });
            tx.savepoint_commit(sid)?;
            let left_open = tx.savepoint()?; // released with the block
            let _ = left_open;
            add(tx, "d").map(drop)
        })?;
        assert_eq!(names(db)?, ["a", "c", "d"]);
        assert_eq!(ran.load(Ordering::SeqCst), 10, "the rolled-back savepoint's callback was dropped");
        Ok(())
    }
}

backend_test! {
    fn a_manual_savepoint_recovers_a_broken_block(db: &TestDb) {
        // Django's test_prevent_rollback: mark lifted, rolled back to the savepoint.
        setup(db)?;
        add(&**db, "dup")?;
        db.atomic(|tx| {
            add(tx, "kept")?;
            let sid = tx.savepoint()?;
            let e = tx.atomic_with(AtomicOptions::new().without_savepoint(), |t| add(t, "dup")).expect_err("duplicate");
            assert!(e.is_integrity());
            assert!(tx.get_rollback());
            tx.set_rollback(false)?;
            tx.savepoint_rollback(sid)?;
            add(tx, "after").map(drop)
        })?;
        assert_eq!(names(db)?, ["after", "dup", "kept"]);
        // The same failure without a savepoint: rolling back to one taken before it mends it.
        db.atomic(|tx| {
            let sid = tx.savepoint()?;
            let _ = add(tx, "dup");
            assert!(tx.get_rollback());
            tx.savepoint_rollback(sid)?;
            assert!(!tx.get_rollback(), "rolled back past the failure");
            add(tx, "mended").map(drop)
        })?;
        assert_eq!(names(db)?, ["after", "dup", "kept", "mended"]);
        Ok(())
    }
}

backend_test! {
    fn a_transaction_names_its_dialect_while_its_connection_is_checked_out(db: &TestDb) {
        // A streaming read holds the connection; code that asks the dialect meanwhile (to
        // quote a name, pick a placeholder) must get the server's, not a guess.
        let expected = db.dialect();
        db.atomic(|tx| {
            let held = tx.checkout()?;
            assert_eq!(tx.dialect(), expected, "while checked out");
            drop(held);
            tx.atomic(|inner| {
                let held = inner.checkout()?;
                assert_eq!(inner.dialect(), expected, "in a savepoint while checked out");
                assert_eq!(tx.dialect(), expected, "the outer block while the savepoint's is out");
                drop(held);
                Ok::<_, Error>(())
            })?;
            assert_eq!(tx.dialect(), expected);
            Ok::<_, Error>(())
        })?;
        Ok(())
    }
}
