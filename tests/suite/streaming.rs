//! Streaming: 200,000 rows arrive in order through a lending stream; a stream dropped early
//! leaves the connection usable; fetching streams (PostgreSQL's portals) read every row at
//! any fetch size, end their own transaction however they end, and surface an error in a
//! later fetch; cached statements survive more distinct statements than the caches hold.

use orm_backends::testing::{TestDb, TestResult};
use orm_backends::{backend_test, Connection, Dialect, Value};

const ROWS: i64 = 200_000;
const BATCH: i64 = 500;

fn fill(conn: &mut dyn Connection) -> TestResult {
    let d = conn.dialect();
    let engine = if d == Dialect::Mysql { " ENGINE=InnoDB" } else { "" };
    conn.execute_batch(&format!("CREATE TABLE big (id bigint PRIMARY KEY, label varchar(40) NOT NULL){engine}"))?;
    let mut sql = String::from("INSERT INTO big (id, label) VALUES ");
    for i in 0..BATCH as usize {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        d.write_placeholder(&mut sql, 2 * i + 1);
        sql.push_str(", ");
        d.write_placeholder(&mut sql, 2 * i + 2);
        sql.push(')');
    }
    conn.begin()?;
    let mut params = Vec::with_capacity(2 * BATCH as usize);
    for start in (0..ROWS).step_by(BATCH as usize) {
        params.clear();
        for i in start..start + BATCH {
            params.push(Value::Int(i));
            params.push(Value::Text(format!("row {i}")));
        }
        conn.execute(&sql, &params)?;
    }
    conn.commit()?;
    Ok(())
}

backend_test! {
    fn streams_200k_rows_in_order(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        fill(conn)?;
        let mut stream = conn.stream("SELECT id, label FROM big ORDER BY id", &[])?;
        let mut expected = 0i64;
        let mut label = String::new();
        while let Some(row) = stream.next_row()? {
            let id: i64 = row.get(0)?;
            assert_eq!(id, expected, "rows arrive in order");
            label.clear();
            label.push_str(match row.value_ref(1)? {
                orm_backends::ValueRef::Text(s) => s,
                other => panic!("label should be text, got {other:?}"),
            });
            assert_eq!(label, format!("row {id}"));
            expected += 1;
        }
        assert_eq!(expected, ROWS, "every row was seen");
        drop(stream);
        let rows = conn.query("SELECT COUNT(*) FROM big", &[])?;
        assert_eq!(rows[0].get::<i64>(0)?, ROWS);
        Ok(())
    }
}

backend_test! {
    fn a_stream_dropped_early_leaves_the_connection_usable(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        few(conn, 50)?;
        for _ in 0..3 {
            let mut stream = conn.stream("SELECT n FROM few ORDER BY n", &[])?;
            let first = stream.next_row()?.expect("one row at least");
            assert_eq!(first.get::<i64>(0)?, 0);
        }
        let rows = conn.query("SELECT SUM(n) FROM few", &[])?;
        assert_eq!(rows[0].get::<i64>(0)?, (0..50).sum::<i64>());
        Ok(())
    }
}

/// `INSERT INTO few (n) VALUES (?)` in the dialect's placeholders.
fn insert_few(d: Dialect) -> String {
    let mut sql = String::from("INSERT INTO few (n) VALUES (");
    d.write_placeholder(&mut sql, 1);
    sql.push(')');
    sql
}

/// A `few` table holding 0..n.
fn few(conn: &mut dyn Connection, n: i64) -> TestResult {
    conn.execute_batch("CREATE TABLE few (n integer NOT NULL)")?;
    let sql = insert_few(conn.dialect());
    conn.begin()?;
    for i in 0..n {
        conn.execute(&sql, &[Value::Int(i)])?;
    }
    conn.commit()?;
    Ok(())
}

/// Is the connection outside any transaction, as the database sees it? PostgreSQL: a
/// savepoint is refused; MySQL: `@@in_transaction`; SQLite: the engine is in autocommit mode
/// (`is_broken` reads `sqlite3_get_autocommit`, besides the depth the crate tracks).
fn outside_a_transaction(conn: &mut dyn Connection) -> orm_backends::Result<bool> {
    Ok(match conn.dialect() {
        // SAVEPOINT is refused outside a transaction block (25P01).
        Dialect::Postgres => match conn.execute_batch("SAVEPOINT orm_probe") {
            Err(e) if e.code() == Some("25P01") => true,
            Err(e) => return Err(e),
            Ok(()) => {
                conn.execute_batch("RELEASE SAVEPOINT orm_probe")?;
                false
            }
        },
        Dialect::Mysql => conn.query("SELECT @@in_transaction", &[])?[0].get::<i64>(0)? == 0,
        Dialect::Sqlite => !conn.is_broken(),
    })
}

backend_test! {
    fn fetching_streams_read_every_row_in_order_at_any_fetch_size(db: &TestDb) {
        // PostgreSQL reads a portal `fetch` rows per round trip outside a transaction (growing
        // from 2000 with FETCH_GROWING: 2000 + 4000 + 8000 + … crosses several fetches here),
        // and the socket as it comes inside one; the others stream as `stream` does.
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        few(conn, 9_000)?;
        for in_tx in [false, true] {
            for fetch in [orm_backends::FETCH_GROWING, 1, 7, 1000, 9_000, 20_000] {
                if in_tx {
                    conn.begin()?;
                }
                let mut stream = conn.stream_fetching("SELECT n FROM few ORDER BY n", &[], fetch)?;
                let mut expected = 0i64;
                while let Some(row) = stream.next_row()? {
                    assert_eq!(row.get::<i64>(0)?, expected, "fetch {fetch}, in a transaction: {in_tx}");
                    expected += 1;
                }
                // Asked again after the end: still the end.
                assert!(stream.next_row()?.is_none());
                drop(stream);
                assert_eq!(expected, 9_000, "fetch {fetch}: every row");
                if in_tx {
                    assert_eq!(conn.transaction_depth(), 1, "the caller's transaction is still open");
                    conn.commit()?;
                }
                assert!(outside_a_transaction(conn)?, "fetch {fetch}: the stream's own transaction has ended");
            }
        }
        Ok(())
    }
}

backend_test! {
    fn a_fetching_stream_dropped_early_ends_its_transaction(db: &TestDb) {
        let mut conn = db.get()?;
        few(&mut *conn, 100)?;
        {
            let conn: &mut dyn Connection = &mut *conn;
            let mut stream = conn.stream_fetching("SELECT n FROM few ORDER BY n", &[], 10)?;
            assert_eq!(stream.next_row()?.expect("a row").get::<i64>(0)?, 0);
        }
        assert!(outside_a_transaction(&mut *conn)?, "dropped mid-stream: no transaction left open");
        // A write after it commits at once: another connection sees it.
        let insert = insert_few(conn.dialect());
        conn.execute(&insert, &[Value::Int(1000)])?;
        let mut other = db.get()?;
        let seen = other.query("SELECT COUNT(*) FROM few WHERE n = 1000", &[])?;
        assert_eq!(seen[0].get::<i64>(0)?, 1, "the write was committed, not held in the stream's transaction");
        Ok(())
    }
}

backend_test! {
    fn an_error_in_a_later_fetch_surfaces_and_leaves_the_connection_usable(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        few(conn, 100)?;
        // Row 30 divides by zero: PostgreSQL fails the fetch that reaches it; SQLite and
        // MySQL answer NULL there.
        let mut stream = conn.stream_fetching("SELECT 1 / (n - 30) FROM few ORDER BY n", &[], 10)?;
        let mut seen = 0;
        let outcome = loop {
            match stream.next_row() {
                Ok(Some(_)) => seen += 1,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        drop(stream);
        match conn.dialect() {
            Dialect::Postgres => {
                let e = outcome.expect_err("division by zero");
                assert_eq!(e.code(), Some("22012"), "{e}");
                // Whole fetches before the failing one were lent (the server may compute the
                // column before sorting, and then fails on the first).
                assert!(seen <= 30 && seen % 10 == 0, "{seen} rows lent");
            }
            _ => {
                outcome?;
                assert_eq!(seen, 100);
            }
        }
        assert!(outside_a_transaction(conn)?);
        assert_eq!(conn.query("SELECT COUNT(*) FROM few", &[])?[0].get::<i64>(0)?, 100);
        Ok(())
    }
}

backend_test! {
    fn statements_stay_usable_after_more_distinct_ones_than_the_caches_hold(db: &TestDb) {
        // Each backend caches prepared statements (SQLite 256, PostgreSQL 256, MySQL 240 in
        // front of the driver's 256, which closes on the server what it pushes out). After 600
        // other statements, the first is run and streamed again: a cached handle that had been
        // closed under the cache would fail here.
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        few(conn, 10)?;
        let d = conn.dialect();
        let mut update = String::from("UPDATE few SET n = n + 0 WHERE n < ");
        d.write_placeholder(&mut update, 1);
        let mut select = String::from("SELECT n FROM few WHERE n < ");
        d.write_placeholder(&mut select, 1);
        select.push_str(" ORDER BY n");
        let sum = |conn: &mut dyn Connection| -> orm_backends::Result<i64> {
            let mut stream = conn.stream(&select, &[Value::Int(5)])?;
            let mut total = 0;
            while let Some(row) = stream.next_row()? {
                total += row.get::<i64>(0)?;
            }
            Ok(total)
        };
        assert_eq!(conn.execute(&update, &[Value::Int(5)])?, 5);
        assert_eq!(sum(conn)?, 10);
        for round in 0..3 {
            for i in 0..600 {
                let mut other = format!("SELECT n + {i} FROM few WHERE n = ");
                d.write_placeholder(&mut other, 1);
                assert_eq!(conn.query(&other, &[Value::Int(3)])?[0].get::<i64>(0)?, 3 + i);
            }
            assert_eq!(conn.execute(&update, &[Value::Int(5)])?, 5, "round {round}");
            assert_eq!(sum(conn)?, 10, "round {round}");
        }
        Ok(())
    }
}
