//! Tests: schema DDL. A table with every neutral column type, defaults, indexes, unique,
//! check and foreign-key constraints is created from its `TableDef`, read back by
//! introspection and compared modulo the documented per-backend normalisation; then the
//! constraints are shown to work and the tables are dropped.

use orm_backends::schema::{
    introspect_table, normalize_for, table_names, ColumnDef, ColumnType, ForeignKeyDef, ReferentialAction, TableDef,
};
use orm_backends::schema::{CheckDef, ForeignKeyDef as Fk, IndexDef, UniqueDef};
use orm_backends::testing::TestDb;
use orm_backends::{backend_test, Backend, Connection, Dialect, Value};

fn parent() -> TableDef {
    TableDef::new("ddl_parent")
        .column(ColumnDef::new("id", ColumnType::BigInt).auto_increment())
        .column(ColumnDef::new("name", ColumnType::Varchar(50)))
        .primary_key(["id"])
        .unique("ddl_parent_name_uniq", ["name"])
}

/// Every neutral type, nullable and not, with int, text (with a quote), bool, float, decimal
/// and expression defaults; a composite index; a multi- and a single-column unique; a check;
/// a cascading and a nulling foreign key.
fn item(d: Dialect) -> TableDef {
    let custom = match d {
        Dialect::Sqlite => "point",
        Dialect::Postgres => "inet",
        Dialect::Mysql => "mediumtext",
    };
    TableDef::new("ddl_item")
        .column(ColumnDef::new("id", ColumnType::BigInt).auto_increment())
        .column(ColumnDef::new("flag", ColumnType::Bool).default_value(true))
        .column(ColumnDef::new("small", ColumnType::SmallInt).nullable())
        .column(ColumnDef::new("qty", ColumnType::Integer).default_value(7))
        .column(ColumnDef::new("delta", ColumnType::Integer).nullable().default_value(-5))
        .column(ColumnDef::new("big", ColumnType::BigInt).nullable())
        .column(ColumnDef::new("ratio", ColumnType::Real).nullable())
        .column(ColumnDef::new("score", ColumnType::Double).default_value(1.5))
        .column(
            ColumnDef::new("price", ColumnType::Decimal { precision: 10, scale: 2 })
                .nullable()
                .default_value("1.50".parse::<rust_decimal::Decimal>().expect("a decimal")),
        )
        .column(ColumnDef::new("code", ColumnType::Varchar(20)))
        .column(ColumnDef::new("label", ColumnType::Varchar(40)).nullable())
        .column(ColumnDef::new("note", ColumnType::Text).default_value("it's \"quoted\""))
        .column(ColumnDef::new("data", ColumnType::Bytes).nullable())
        .column(ColumnDef::new("day", ColumnType::Date).nullable())
        .column(ColumnDef::new("at_time", ColumnType::Time).nullable())
        .column(ColumnDef::new("created", ColumnType::DateTime).default_expr("CURRENT_TIMESTAMP"))
        .column(ColumnDef::new("stamped", ColumnType::DateTimeTz).nullable())
        .column(ColumnDef::new("uid", ColumnType::Uuid).nullable())
        .column(ColumnDef::new("doc", ColumnType::Json).nullable())
        .column(ColumnDef::new("extra", ColumnType::Custom(custom.into())).nullable())
        .column(ColumnDef::new("parent_id", ColumnType::BigInt))
        .column(ColumnDef::new("alt_parent_id", ColumnType::BigInt).nullable())
        .primary_key(["id"])
        .index("ddl_item_code_day_idx", ["code", "day"])
        .unique("ddl_item_code_label_uniq", ["code", "label"])
        .unique("ddl_item_uid_uniq", ["uid"])
        .check("ddl_item_qty_nonneg", "qty >= 0")
        .foreign_key(
            ForeignKeyDef::new("ddl_item_parent_fk", ["parent_id"], "ddl_parent", ["id"])
                .on_delete(ReferentialAction::Cascade),
        )
        .foreign_key(
            ForeignKeyDef::new("ddl_item_alt_parent_fk", ["alt_parent_id"], "ddl_parent", ["id"])
                .on_delete(ReferentialAction::SetNull),
        )
}

/// Compares part by part first, so a failure names what differs.
fn assert_round_trip(d: Dialect, created: &TableDef, found: &TableDef) {
    let expected = normalize_for(d, created);
    assert_eq!(expected.columns.len(), found.columns.len(), "{}: column count on {d:?}", created.name);
    for (e, f) in expected.columns.iter().zip(&found.columns) {
        assert_eq!(e, f, "{}.{}: column on {d:?}", created.name, e.name);
    }
    assert_eq!(expected.primary_key, found.primary_key, "{}: primary key on {d:?}", created.name);
    assert_eq!(expected.indexes, found.indexes, "{}: indexes on {d:?}", created.name);
    assert_eq!(expected.uniques, found.uniques, "{}: uniques on {d:?}", created.name);
    assert_eq!(expected.foreign_keys, found.foreign_keys, "{}: foreign keys on {d:?}", created.name);
    // Check expressions keep the server's text; SQLite's is the text as written.
    for (e, f) in created.checks.iter().zip(&found.checks) {
        assert_eq!(e.name, f.name, "{}: checks on {d:?}", created.name);
        assert!(f.expr.contains("qty") && f.expr.contains(">="), "check read back as {:?} on {d:?}", f.expr);
    }
    if d == Dialect::Sqlite {
        assert_eq!(expected, *found);
    }
    assert_eq!(expected, normalize_for(d, found), "{}: the whole table on {d:?}", created.name);
}

fn ph(d: Dialect, n: usize) -> String {
    let mut s = String::new();
    d.write_placeholder(&mut s, n);
    s
}

backend_test! {
    fn created_tables_introspect_as_defined(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let d = conn.dialect();
        let (parent, item) = (parent(), item(d));
        for t in [&parent, &item] {
            for sql in t.create_sql(d) {
                conn.execute(&sql, &[])?;
            }
        }
        for t in [&parent, &item] {
            let found = introspect_table(conn, &t.name)?.ok_or_else(|| format!("{} was not found", t.name))?;
            assert_round_trip(d, t, &found);
        }
        assert_eq!(table_names(conn)?, ["ddl_item", "ddl_parent"]);
        assert_eq!(introspect_table(conn, "ddl_missing")?, None);
        Ok(())
    }
}

backend_test! {
    fn created_constraints_and_defaults_take_effect(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let d = conn.dialect();
        let (parent, item) = (parent(), item(d));
        for t in [&parent, &item] {
            for sql in t.create_sql(d) {
                conn.execute(&sql, &[])?;
            }
        }
        // The statements are written with `"`; MySQL quotes with backticks.
        let q = |s: &str| if d == Dialect::Mysql { s.replace('"', "`") } else { s.to_owned() };
        conn.execute(
            &q(&format!("INSERT INTO \"ddl_parent\" (\"id\", \"name\") VALUES (1, {}), (2, {})", ph(d, 1), ph(d, 2))),
            &[Value::from("a"), Value::from("b")],
        )?;
        conn.execute(
            &q(&format!(
                "INSERT INTO \"ddl_item\" (\"id\", \"code\", \"parent_id\", \"alt_parent_id\") VALUES (10, {}, 1, 2)",
                ph(d, 1)
            )),
            &[Value::from("x")],
        )?;
        let row = conn
            .query_opt(&q("SELECT \"note\", \"flag\", \"qty\", \"delta\", \"score\", \"created\" FROM \"ddl_item\""), &[])?
            .ok_or("the row is there")?;
        assert_eq!(row.get::<String>(0)?, "it's \"quoted\"");
        assert!(row.get::<bool>(1)?);
        assert_eq!(row.get::<i64>(2)?, 7);
        assert_eq!(row.get::<i64>(3)?, -5);
        assert_eq!(row.get::<f64>(4)?, 1.5);
        assert!(!row.values()[5].is_null(), "CURRENT_TIMESTAMP filled `created`");

        // The check and the unique constraints hold.
        let bad_qty = q("UPDATE \"ddl_item\" SET \"qty\" = -1");
        assert!(conn.execute(&bad_qty, &[]).is_err(), "the check rejects a negative qty");
        let dup = q("INSERT INTO \"ddl_item\" (\"id\", \"code\", \"label\", \"parent_id\") \
                     VALUES (11, 'y', 'l', 1), (12, 'y', 'l', 1)");
        assert!(conn.execute(&dup, &[]).is_err(), "the unique constraint rejects a duplicate");

        // SET NULL, then CASCADE.
        conn.execute(&q("DELETE FROM \"ddl_parent\" WHERE \"id\" = 2"), &[])?;
        let alt = conn.query_opt(&q("SELECT \"alt_parent_id\" FROM \"ddl_item\""), &[])?.ok_or("still there")?;
        assert!(alt.values()[0].is_null(), "ON DELETE SET NULL");
        conn.execute(&q("DELETE FROM \"ddl_parent\" WHERE \"id\" = 1"), &[])?;
        assert_eq!(conn.query(&q("SELECT \"id\" FROM \"ddl_item\""), &[])?.len(), 0, "ON DELETE CASCADE");

        // Drop, children first.
        conn.execute(&item.drop_sql(d), &[])?;
        conn.execute(&parent.drop_sql(d), &[])?;
        assert!(table_names(conn)?.is_empty());
        Ok(())
    }
}

/// SQLite keeps check constraints, `AUTOINCREMENT` and constraint names only in the `CREATE
/// TABLE` text; hand-written DDL with column-level and unnamed constraints reads back too.
#[test]
fn hand_written_sqlite_tables_introspect_with_their_column_level_constraints() {
    let db = TestDb::open(Backend::Sqlite, concat!(module_path!(), "::hand_written"))
        .expect("a SQLite file")
        .expect("SQLite always runs");
    let mut conn = db.get().expect("a connection");
    conn.execute_batch(
        "CREATE TABLE hw_parent (id integer NOT NULL PRIMARY KEY, code varchar(10) NOT NULL UNIQUE);
         CREATE TABLE hw_child (
             id INTEGER PRIMARY KEY,
             parent_id integer REFERENCES hw_parent (id) ON DELETE CASCADE,
             other_id integer CONSTRAINT hw_child_other_fk REFERENCES hw_parent ON UPDATE SET DEFAULT,
             qty integer NOT NULL DEFAULT (0) CHECK (qty >= 0), -- unnamed check
             CONSTRAINT hw_child_pair UNIQUE (parent_id, qty)
         );
         CREATE INDEX hw_child_qty ON hw_child (qty);
         CREATE UNIQUE INDEX hw_child_other ON hw_child (other_id);",
    )
    .expect("the DDL runs");
    let found = introspect_table(&mut *conn, "hw_child").expect("introspection").expect("the table");
    let expected = TableDef {
        name: "hw_child".into(),
        columns: vec![
            ColumnDef::new("id", ColumnType::Integer), // the rowid: never NULL
            ColumnDef::new("parent_id", ColumnType::Integer).nullable(),
            ColumnDef::new("other_id", ColumnType::Integer).nullable(),
            ColumnDef::new("qty", ColumnType::Integer).default_value(0),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![IndexDef::new("hw_child_qty", ["qty"])],
        uniques: vec![
            UniqueDef::new("hw_child_other", ["other_id"]),
            UniqueDef::new("hw_child_pair", ["parent_id", "qty"]),
        ],
        checks: vec![CheckDef::new("", "qty >= 0")],
        foreign_keys: vec![
            Fk::new("", ["parent_id"], "hw_parent", ["id"]).on_delete(ReferentialAction::Cascade),
            Fk::new("hw_child_other_fk", ["other_id"], "hw_parent", ["id"]).on_update(ReferentialAction::SetDefault),
        ],
    };
    assert_eq!(found, expected);
    let parent = introspect_table(&mut *conn, "hw_parent").expect("introspection").expect("the table");
    assert_eq!(parent.uniques, [UniqueDef::new("", ["code"])]);
    assert_eq!(parent.columns[0], ColumnDef::new("id", ColumnType::Integer));
}
