//! Transactions: commit persists, rollback discards, savepoints nest, panics roll back,
//! on_commit runs only after the outermost commit.

use orm_backends::testing::{TestDb, TestResult};
use orm_backends::{backend_test, Connection, Dialect, Error, ErrorKind, Executor, Pool, Value};
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
