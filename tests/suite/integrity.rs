//! Unique, foreign-key, NOT NULL and CHECK violations come back as integrity errors on every
//! backend, with the server's message kept.

use orm_backends::testing::{TestDb, TestResult};
use orm_backends::{backend_test, Connection, Dialect, Value, Violation};

fn setup(conn: &mut dyn Connection) -> TestResult {
    let engine = if conn.dialect() == Dialect::Mysql { " ENGINE=InnoDB" } else { "" };
    conn.execute_batch(&format!(
        "CREATE TABLE parent (id integer PRIMARY KEY, name varchar(50) NOT NULL, \
         CONSTRAINT parent_name_uniq UNIQUE (name)){engine};
         CREATE TABLE child (id integer PRIMARY KEY, parent_id integer NOT NULL, qty integer NOT NULL, \
         CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id), \
         CONSTRAINT child_qty_check CHECK (qty >= 0)){engine}"
    ))?;
    Ok(())
}

fn sql(d: Dialect, s: &str) -> String {
    // The statements below use `?`; PostgreSQL numbers its placeholders.
    let mut out = String::new();
    let mut n = 0;
    for c in s.chars() {
        if c == '?' {
            n += 1;
            d.write_placeholder(&mut out, n);
        } else {
            out.push(c);
        }
    }
    out
}

backend_test! {
    fn integrity_violations_are_classified(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        setup(conn)?;
        let d = conn.dialect();
        let ins_parent = sql(d, "INSERT INTO parent (id, name) VALUES (?, ?)");
        let ins_child = sql(d, "INSERT INTO child (id, parent_id, qty) VALUES (?, ?, ?)");
        conn.execute(&ins_parent, &[Value::Int(1), Value::from("ann")])?;

        let e = conn.execute(&ins_parent, &[Value::Int(2), Value::from("ann")]).expect_err("duplicate name");
        assert!(e.is_integrity(), "{e}");
        assert_eq!(e.violation(), Some(Violation::Unique), "{e}");
        if d != Dialect::Sqlite {
            // SQLite names the columns, not the constraint.
            assert!(e.constraint().is_some_and(|c| c.contains("parent_name_uniq")), "{e:?}");
        }
        let e = conn.execute(&ins_parent, &[Value::Int(1), Value::from("bob")]).expect_err("duplicate pk");
        assert_eq!(e.violation(), Some(Violation::Unique), "{e}");

        let e = conn.execute(&ins_child, &[Value::Int(1), Value::Int(99), Value::Int(1)]).expect_err("no parent 99");
        assert_eq!(e.violation(), Some(Violation::ForeignKey), "{e}");
        if d != Dialect::Sqlite {
            assert!(e.constraint().is_some_and(|c| c.contains("child_parent_fk")), "{e:?}");
        }

        let e = conn.execute(&ins_parent, &[Value::Int(3), Value::Null]).expect_err("null name");
        assert_eq!(e.violation(), Some(Violation::NotNull), "{e}");

        let e = conn.execute(&ins_child, &[Value::Int(2), Value::Int(1), Value::Int(-5)]).expect_err("negative qty");
        assert_eq!(e.violation(), Some(Violation::Check), "{e}");
        assert!(e.to_string().contains("child_qty_check") || e.constraint().is_some_and(|c| c.contains("child_qty_check")), "{e:?}");

        // Nothing of the failed statements was written, and the connection still works.
        let rows = conn.query("SELECT COUNT(*) FROM parent", &[])?;
        assert_eq!(rows[0].get::<i64>(0)?, 1);
        let rows = conn.query("SELECT COUNT(*) FROM child", &[])?;
        assert_eq!(rows[0].get::<i64>(0)?, 0);
        assert!(!e.message().is_empty(), "the server's message is kept");
        Ok(())
    }
}

backend_test! {
    fn a_syntax_error_is_a_query_error_with_the_servers_message(db: &TestDb) {
        let mut conn = db.get()?;
        let e = conn.execute("SELEC 1", &[]).expect_err("not SQL");
        assert_eq!(e.kind(), orm_backends::ErrorKind::Query, "{e}");
        assert!(!e.is_integrity() && !e.is_connection());
        assert_eq!(e.sql(), Some("SELEC 1"));
        let e = conn.query("SELECT * FROM no_such_table", &[]).expect_err("missing table");
        assert!(e.message().contains("no_such_table"), "{e}");
        Ok(())
    }
}
