//! The pool's clocks, as Django's `CONN_MAX_AGE` and `CONN_HEALTH_CHECKS` and a checkout
//! timeout: connections past their lifetime or idle too long are replaced, a server
//! connection the server killed while idle is replaced on checkout, and a checkout that finds
//! every connection busy fails at its deadline.

use orm_backends::testing::{TestDb, TestResult};
use orm_backends::{backend_test, Backend, Connection, Dialect, ErrorKind, Pool};
use std::time::{Duration, Instant};

/// A pool like the test's (same database or schema) with these clocks.
fn pool_with(db: &TestDb, tune: impl FnOnce(&mut orm_backends::ConnectOptions)) -> orm_backends::Result<Pool> {
    let mut options = db.options().clone();
    tune(&mut options);
    Pool::new(options)
}

/// Marks a connection with a temporary table only it can see.
fn mark(conn: &mut dyn Connection) -> TestResult {
    conn.execute_batch("CREATE TEMPORARY TABLE pool_marker (x integer)")?;
    Ok(())
}

fn is_marked(conn: &mut dyn Connection) -> bool {
    conn.query("SELECT x FROM pool_marker", &[]).is_ok()
}

/// The server's id of this connection.
fn backend_id(conn: &mut dyn Connection) -> orm_backends::Result<i64> {
    let sql = match conn.dialect() {
        Dialect::Postgres => "SELECT pg_backend_pid()",
        _ => "SELECT CONNECTION_ID()",
    };
    let row = conn.query_opt(sql, &[])?.expect("one row");
    (&row as &dyn orm_backends::Row).get::<i64>(0)
}

backend_test! {
    fn a_connection_past_its_lifetime_or_idle_timeout_is_replaced(db: &TestDb) {
        for (what, tune) in [
            ("max_lifetime", (|o: &mut orm_backends::ConnectOptions| o.max_lifetime = Some(Duration::from_millis(200))) as fn(&mut _)),
            ("idle_timeout", |o: &mut orm_backends::ConnectOptions| o.idle_timeout = Some(Duration::from_millis(200))),
        ] {
            let pool = pool_with(db, tune)?;
            {
                let mut c = pool.get()?;
                mark(&mut *c)?;
            }
            {
                let mut c = pool.get()?;
                assert!(is_marked(&mut *c), "{what}: a fresh return is reused");
            }
            std::thread::sleep(Duration::from_millis(300));
            let mut c = pool.get()?;
            assert!(!is_marked(&mut *c), "{what}: the old connection was closed, a new one opened");
        }
        Ok(())
    }
}

backend_test! {
    fn a_connection_killed_while_idle_is_replaced_on_checkout(db: &TestDb) {
        if db.backend() == Backend::Sqlite {
            eprintln!("skipped: SQLite has no server to kill a connection");
            return Ok(());
        }
        let pool = pool_with(db, |o| o.health_check_after = Some(Duration::from_millis(100)))?;
        let victim = {
            let mut c = pool.get()?;
            backend_id(&mut *c)?
        };
        let mut killer = pool_with(db, |_| {})?.get()?;
        let kill = match killer.dialect() {
            Dialect::Postgres => format!("SELECT pg_terminate_backend({victim})"),
            _ => format!("KILL {victim}"),
        };
        killer.query(&kill, &[])?;
        std::thread::sleep(Duration::from_millis(300));
        let mut c = pool.get()?;
        let id = backend_id(&mut *c)?;
        assert_ne!(id, victim, "the dead connection was replaced");
        Ok(())
    }
}

backend_test! {
    fn a_checkout_waits_at_most_its_timeout(db: &TestDb) {
        let pool = pool_with(db, |o| {
            o.pool_size = 1;
            o.checkout_timeout = Duration::from_millis(300);
        })?;
        let held = pool.get()?;
        let started = Instant::now();
        let e = pool.get().expect_err("the only connection is busy");
        let took = started.elapsed();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(took >= Duration::from_millis(280) && took < Duration::from_secs(3), "took {took:?}");
        drop(held);
        pool.get()?;
        Ok(())
    }
}
