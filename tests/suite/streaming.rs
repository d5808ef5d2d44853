//! Streaming: 200,000 rows arrive in order through a lending stream; a stream dropped early
//! leaves the connection usable.

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
        conn.execute_batch("CREATE TABLE few (n integer NOT NULL)")?;
        for n in 0..50 {
            let mut sql = String::from("INSERT INTO few (n) VALUES (");
            conn.dialect().write_placeholder(&mut sql, 1);
            sql.push(')');
            conn.execute(&sql, &[Value::Int(n)])?;
        }
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
