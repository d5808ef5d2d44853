//! Migrations: changes that reach beyond one column, on every backend.
//!
//! - AlterField retyping a primary key that other tables' foreign keys (a multi-table child's
//!   `<parent>_ptr` among them, and a many-to-many join table) reference: the foreign keys are
//!   dropped, the key and every referencing column retyped, the keys re-created; forwards and
//!   backwards the schema is exactly what the state renders, the rows stay, and the foreign
//!   keys are enforced again.
//! - RenameField of a column a check constraint and indexes name: the check is rewritten and
//!   still enforces (SQLite rebuilds the table for it).

use crate::migrations_operations::{assert_tables, canonical, expected, snapshot};
use orm_backends::schema::{introspect_table, ColumnType};
use orm_backends::testing::TestDb;
use orm_backends::{backend_test, Connection, Dialect};
use orm_migrations::executor::apply_operations;
use orm_migrations::operations::*;
use orm_migrations::state::{
    ConstraintState, FieldState, IndexState, ManyToManyState, ModelKindState, ModelState, OnDeleteState, ProjectState,
    TypeState,
};

type R<T> = Result<T, Box<dyn std::error::Error>>;

fn int_pk(name: &str) -> FieldState {
    FieldState { primary_key: true, auto: true, ..FieldState::new(name, ColumnType::Integer) }
}

fn fk(name: &str, to: &str, ty: ColumnType) -> FieldState {
    FieldState { ty: TypeState::Column(ty), ..FieldState::foreign_key(name, to, OnDeleteState::Cascade) }
}

/// Author (an `integer` key) with everything pointing at it: Book's two foreign keys, Club's
/// many-to-many join table, Poet (a multi-table child, keyed by `author_ptr`) and Poem's
/// foreign key to Poet; Country (a `varchar(2)` natural key) and City pointing at it.
fn keyed() -> ProjectState {
    let mut s = ProjectState::new();
    s.add_model(
        ModelState::new("k", "Author", "k_author")
            .field(int_pk("id"))
            .field(FieldState::new("name", ColumnType::Varchar(40))),
    );
    s.add_model(
        ModelState::new("k", "Book", "k_book")
            .field(FieldState::auto_pk("id"))
            .field(fk("author", "k.Author", ColumnType::Integer))
            .field(fk("editor", "k.Author", ColumnType::Integer).nullable()),
    );
    let mut members = FieldState::new("members", ColumnType::BigInt);
    members.column.clear();
    members.ty = TypeState::ManyToMany;
    members.many_to_many = Some(ManyToManyState {
        to: "k.Author".into(),
        through: None,
        join_table: "k_club_members".into(),
        source_column: "club_id".into(),
        target_column: "author_id".into(),
    });
    s.add_model(ModelState::new("k", "Club", "k_club").field(FieldState::auto_pk("id")).field(members));
    let mut ptr = fk("author_ptr", "k.Author", ColumnType::Integer);
    ptr.primary_key = true;
    let rel = ptr.relation.as_mut().expect("relation");
    rel.one_to_one = true;
    rel.parent_link = true;
    let mut poet = ModelState::new("k", "Poet", "k_poet").field(ptr).field(FieldState::new("style", ColumnType::Text));
    poet.kind = ModelKindState::MultiTable { parent: "k.Author".into() };
    s.add_model(poet);
    s.add_model(ModelState::new("k", "Poem", "k_poem").field(FieldState::auto_pk("id")).field(fk(
        "poet",
        "k.Poet",
        ColumnType::Integer,
    )));
    s.add_model(
        ModelState::new("k", "Country", "k_country")
            .field(FieldState { primary_key: true, ..FieldState::new("code", ColumnType::Varchar(2)) }),
    );
    s.add_model(ModelState::new("k", "City", "k_city").field(FieldState::auto_pk("id")).field(fk(
        "country",
        "k.Country",
        ColumnType::Varchar(2),
    )));
    s
}

fn sql(conn: &mut dyn Connection, s: &str) -> String {
    if conn.dialect() == Dialect::Mysql {
        s.replace('"', "`")
    } else {
        s.to_owned()
    }
}

fn exec(conn: &mut dyn Connection, s: &str) -> R<()> {
    let s = sql(conn, s);
    conn.execute_batch(&s)?;
    Ok(())
}

fn count(conn: &mut dyn Connection, s: &str) -> R<i64> {
    let s = sql(conn, s);
    Ok(conn.query(&s, &[])?[0].get::<i64>(0)?)
}

/// Rows in every table of [`keyed`], all joined up.
fn fill(conn: &mut dyn Connection) -> R<()> {
    exec(conn, "INSERT INTO \"k_author\" (\"id\", \"name\") VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')")?;
    exec(conn, "INSERT INTO \"k_book\" (\"id\", \"author_id\", \"editor_id\") VALUES (1, 1, 2), (2, 2, NULL)")?;
    exec(conn, "INSERT INTO \"k_club\" (\"id\") VALUES (1)")?;
    exec(conn, "INSERT INTO \"k_club_members\" (\"id\", \"club_id\", \"author_id\") VALUES (1, 1, 1), (2, 1, 3)")?;
    exec(conn, "INSERT INTO \"k_poet\" (\"author_ptr_id\", \"style\") VALUES (3, 'haiku')")?;
    exec(conn, "INSERT INTO \"k_poem\" (\"id\", \"poet_id\") VALUES (1, 3)")?;
    exec(conn, "INSERT INTO \"k_country\" (\"code\") VALUES ('fr'), ('de')")?;
    exec(conn, "INSERT INTO \"k_city\" (\"id\", \"country_id\") VALUES (1, 'fr'), (2, 'de')")?;
    Ok(())
}

/// The rows of [`fill`] are all there and still join.
fn rows_kept(conn: &mut dyn Connection, what: &str) -> R<()> {
    let joined = "SELECT COUNT(*) FROM \"k_book\" b JOIN \"k_author\" a ON a.\"id\" = b.\"author_id\" \
                  LEFT JOIN \"k_author\" e ON e.\"id\" = b.\"editor_id\" WHERE e.\"id\" IS NOT NULL OR b.\"editor_id\" IS NULL";
    assert_eq!(count(conn, joined)?, 2, "books with their authors {what}");
    let members = "SELECT COUNT(*) FROM \"k_club_members\" m JOIN \"k_author\" a ON a.\"id\" = m.\"author_id\"";
    assert_eq!(count(conn, members)?, 2, "club members {what}");
    let poems = "SELECT COUNT(*) FROM \"k_poem\" p JOIN \"k_poet\" t ON t.\"author_ptr_id\" = p.\"poet_id\" \
                 JOIN \"k_author\" a ON a.\"id\" = t.\"author_ptr_id\" WHERE a.\"name\" = 'cy'";
    assert_eq!(count(conn, poems)?, 1, "poems of a poet who is an author {what}");
    let cities = "SELECT COUNT(*) FROM \"k_city\" c JOIN \"k_country\" k ON k.\"code\" = c.\"country_id\"";
    assert_eq!(count(conn, cities)?, 2, "cities {what}");
    Ok(())
}

/// Every foreign key of [`keyed`] refuses a row pointing nowhere.
fn keys_enforced(conn: &mut dyn Connection, what: &str) -> R<()> {
    for bad in [
        "INSERT INTO \"k_book\" (\"id\", \"author_id\") VALUES (90, 99)",
        "INSERT INTO \"k_book\" (\"id\", \"author_id\", \"editor_id\") VALUES (91, 1, 99)",
        "INSERT INTO \"k_club_members\" (\"id\", \"club_id\", \"author_id\") VALUES (90, 1, 99)",
        "INSERT INTO \"k_poet\" (\"author_ptr_id\", \"style\") VALUES (99, 'x')",
        "INSERT INTO \"k_poem\" (\"id\", \"poet_id\") VALUES (90, 1)",
        "INSERT INTO \"k_city\" (\"id\", \"country_id\") VALUES (90, 'zz')",
    ] {
        assert!(exec(conn, bad).is_err(), "the foreign key refuses `{bad}` {what}");
    }
    Ok(())
}

fn create(conn: &mut dyn Connection, state: &ProjectState) -> R<()> {
    let ops: Vec<Operation> = ["Author", "Book", "Club", "Poet", "Poem", "Country", "City"]
        .iter()
        .map(|n| Ok(Operation::CreateModel(CreateModel::of(state.get(&format!("k.{n}"))?))))
        .collect::<R<_>>()?;
    apply_operations(conn, "k", &ops, &ProjectState::new(), false)?;
    Ok(())
}

backend_test! {
    fn retyping_a_referenced_primary_key_retypes_its_references(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let d = conn.dialect();
        let start = keyed();
        create(conn, &start)?;
        fill(conn)?;
        let before = snapshot(conn)?;
        assert_tables("the start", d, &expected(d, &start)?, &before);
        let steps = [
            Operation::AlterField(AlterField {
                model: "Author".into(),
                field: FieldState { primary_key: true, auto: true, ..FieldState::new("id", ColumnType::BigInt) },
                preserve_default: true,
            }),
            Operation::AlterField(AlterField {
                model: "Country".into(),
                field: FieldState { primary_key: true, ..FieldState::new("code", ColumnType::Varchar(3)) },
                preserve_default: true,
            }),
        ];
        for op in steps {
            let what = op.describe();
            let after = apply_operations(conn, "k", std::slice::from_ref(&op), &start, false)?;
            // The state follows: every reference has the key's new type.
            let key_ty = match &op {
                Operation::AlterField(a) => a.field.ty.clone(),
                _ => unreachable!(),
            };
            let refs: &[(&str, &str)] = if what.contains("Author") {
                &[("k.Book", "author"), ("k.Book", "editor"), ("k.Poet", "author_ptr"), ("k.Poem", "poet")]
            } else {
                &[("k.City", "country")]
            };
            for (m, f) in refs {
                assert_eq!(after.get(m)?.get_field(f).map(|f| f.ty.clone()), Some(key_ty.clone()), "{m}.{f} after {what}");
            }
            assert_tables(&format!("after {what}"), d, &expected(d, &after)?, &snapshot(conn)?);
            if what.contains("Author") {
                let join = introspect_table(conn, "k_club_members")?.ok_or("join table")?;
                assert_eq!(canonical(d, &join).column_named("author_id").map(|c| c.ty.clone()), canonical(d, &after.join_table_def("k.Club", "members")?.ok_or("m2m")?).column_named("author_id").map(|c| c.ty.clone()));
            }
            rows_kept(conn, &format!("after {what}"))?;
            keys_enforced(conn, &format!("after {what}"))?;
            apply_operations(conn, "k", std::slice::from_ref(&op), &start, true)?;
            assert_tables(&format!("after undoing {what}"), d, &before, &snapshot(conn)?);
            rows_kept(conn, &format!("after undoing {what}"))?;
            keys_enforced(conn, &format!("after undoing {what}"))?;
        }
        Ok(())
    }
}

/// A model whose `views` column a check constraint, an index and a unique constraint name.
fn checked() -> ProjectState {
    let mut m = ModelState::new("c", "Entry", "c_entry")
        .field(FieldState::auto_pk("id"))
        .field(FieldState::new("views", ColumnType::Integer).indexed())
        .field(FieldState::new("slug", ColumnType::Varchar(20)));
    m.constraints.push(ConstraintState::Check {
        name: "c_entry_views_nonneg".into(),
        sql: "views >= 0 AND views < 1000".into(),
    });
    m.constraints.push(ConstraintState::Unique {
        name: "c_entry_slug_views_uniq".into(),
        fields: vec!["slug".into(), "views".into()],
    });
    m.indexes.push(IndexState { name: "c_entry_views_slug_idx".into(), fields: vec!["views".into(), "slug".into()] });
    let mut s = ProjectState::new();
    s.add_model(m);
    s
}

backend_test! {
    fn renaming_a_checked_column_rewrites_the_check(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let d = conn.dialect();
        let start = checked();
        apply_operations(conn, "c", &[Operation::CreateModel(CreateModel::of(start.get("c.Entry")?))], &ProjectState::new(), false)?;
        exec(conn, "INSERT INTO \"c_entry\" (\"id\", \"views\", \"slug\") VALUES (1, 5, 'a'), (2, 7, 'b')")?;
        let before = snapshot(conn)?;
        let rename = [Operation::RenameField(RenameField { model: "Entry".into(), old_name: "views".into(), new_name: "hits".into() })];
        let after = apply_operations(conn, "c", &rename, &start, false)?;
        let entry = after.get("c.Entry")?;
        assert_eq!(
            entry.constraints[0],
            ConstraintState::Check { name: "c_entry_views_nonneg".into(), sql: "hits >= 0 AND hits < 1000".into() },
            "the state's check names the new column"
        );
        assert_eq!(entry.indexes[0].fields, ["hits", "slug"]);
        // The introspected schema is what the models' state renders: the column, its own
        // index, the two-column index and unique, and the check all name `hits`.
        assert_tables("after the rename", d, &expected(d, &after)?, &snapshot(conn)?);
        let t = introspect_table(conn, "c_entry")?.ok_or("c_entry")?;
        assert!(t.indexes.iter().any(|i| i.name == "c_entry_hits_idx" && i.columns == ["hits"]), "{:?}", t.indexes);
        assert!(t.uniques.iter().any(|u| u.columns == ["slug", "hits"]), "{:?}", t.uniques);
        assert_eq!(count(conn, "SELECT SUM(\"hits\") FROM \"c_entry\"")?, 12, "the rows stay");
        // The check still enforces, on the new column.
        assert!(exec(conn, "INSERT INTO \"c_entry\" (\"id\", \"hits\", \"slug\") VALUES (3, -1, 'c')").is_err(), "hits >= 0");
        assert!(exec(conn, "INSERT INTO \"c_entry\" (\"id\", \"hits\", \"slug\") VALUES (3, 1000, 'c')").is_err(), "hits < 1000");
        assert!(exec(conn, "INSERT INTO \"c_entry\" (\"id\", \"hits\", \"slug\") VALUES (3, 1, 'a')").is_ok());
        assert!(exec(conn, "INSERT INTO \"c_entry\" (\"id\", \"hits\", \"slug\") VALUES (4, 1, 'a')").is_err(), "unique (slug, hits)");
        exec(conn, "DELETE FROM \"c_entry\" WHERE \"id\" = 3")?;
        // And back.
        apply_operations(conn, "c", &rename, &start, true)?;
        assert_tables("after undoing the rename", d, &before, &snapshot(conn)?);
        assert!(exec(conn, "INSERT INTO \"c_entry\" (\"id\", \"views\", \"slug\") VALUES (3, -1, 'c')").is_err(), "views >= 0 again");
        assert_eq!(count(conn, "SELECT SUM(\"views\") FROM \"c_entry\"")?, 12);
        Ok(())
    }
}
