//! Migrations: every operation forwards then backwards on every backend. Forwards, the
//! database must hold exactly what the state after the operation renders; backwards, the
//! introspected schema must be what it was. Data survives the changes that keep it.

use orm_backends::schema::{introspect_table, normalize_for, table_names, ColumnType, TableDef};
use orm_backends::testing::TestDb;
use orm_backends::{backend_test, Connection, Dialect, Value};
use orm_migrations::executor::apply_operations;
use orm_migrations::operations::*;
use orm_migrations::state::{
    ConstraintState, FieldState, IndexState, ManyToManyState, ModelOptions, ModelState, OnDeleteState, ProjectState,
    TypeState,
};

pub(crate) fn author() -> ModelState {
    ModelState::new("m", "Author", "m_author")
        .field(FieldState::auto_pk("id"))
        .field(FieldState::new("name", ColumnType::Varchar(50)).unique())
}

pub(crate) fn post() -> ModelState {
    ModelState::new("m", "Post", "m_post")
        .field(FieldState::auto_pk("id"))
        .field(FieldState::new("title", ColumnType::Varchar(200)))
        .field(FieldState::foreign_key("author", "m.Author", OnDeleteState::Cascade))
        .field(FieldState::new("views", ColumnType::BigInt).default_value(0i64))
        .field(FieldState::new("body", ColumnType::Text).nullable())
}

pub(crate) fn tag() -> ModelState {
    ModelState::new("m", "Tag", "m_tag")
        .field(FieldState::auto_pk("id"))
        .field(FieldState::new("name", ColumnType::Varchar(30)))
}

pub(crate) fn start() -> ProjectState {
    let mut s = ProjectState::new();
    for m in [author(), post(), tag()] {
        s.add_model(m);
    }
    s
}

/// Creates every table of `state` (through CreateModel operations, in dependency order).
pub(crate) fn create_all(conn: &mut dyn Connection, state: &ProjectState) -> Result<(), Box<dyn std::error::Error>> {
    let ops: Vec<Operation> = ["Author", "Tag", "Post"]
        .iter()
        .filter_map(|n| state.model(&format!("m.{n}")))
        .map(|m| Operation::CreateModel(CreateModel::of(m)))
        .collect();
    apply_operations(conn, "m", &ops, &ProjectState::new(), false)?;
    Ok(())
}

/// A table as compared across backends: normalised, columns in name order (PostgreSQL can
/// only add a column at the end, so a column dropped and re-added moves).
pub(crate) fn canonical(d: Dialect, t: &TableDef) -> TableDef {
    let mut t = normalize_for(d, t);
    t.columns.sort_by(|a, b| a.name.cmp(&b.name));
    t
}

/// Every table of the database, canonical.
pub(crate) fn snapshot(conn: &mut dyn Connection) -> Result<Vec<TableDef>, Box<dyn std::error::Error>> {
    let d = conn.dialect();
    let mut out = Vec::new();
    for n in table_names(conn)?.into_iter().filter(|n| n != "orm_migrations") {
        out.push(canonical(d, &introspect_table(conn, &n)?.ok_or("listed table vanished")?));
    }
    Ok(out)
}

/// What `state` renders, canonical for `d`.
pub(crate) fn expected(d: Dialect, state: &ProjectState) -> Result<Vec<TableDef>, Box<dyn std::error::Error>> {
    let mut v: Vec<TableDef> = state.tables()?.iter().map(|t| canonical(d, t)).collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

pub(crate) fn assert_tables(what: &str, d: Dialect, want: &[TableDef], got: &[TableDef]) {
    let names = |v: &[TableDef]| v.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(want), names(got), "{what}: tables on {d:?}");
    for (w, g) in want.iter().zip(got) {
        assert_eq!(w.columns, g.columns, "{what}: columns of {} on {d:?}", w.name);
        assert_eq!(w.primary_key, g.primary_key, "{what}: primary key of {} on {d:?}", w.name);
        assert_eq!(w.indexes, g.indexes, "{what}: indexes of {} on {d:?}", w.name);
        assert_eq!(w.uniques, g.uniques, "{what}: uniques of {} on {d:?}", w.name);
        assert_eq!(w.foreign_keys, g.foreign_keys, "{what}: foreign keys of {} on {d:?}", w.name);
        assert_eq!(w.checks, g.checks, "{what}: checks of {} on {d:?}", w.name);
    }
}

/// Applies `ops` forwards (the database must match the new state) and backwards (it must be
/// what it was).
fn round_trip(conn: &mut dyn Connection, ops: Vec<Operation>) -> Result<ProjectState, Box<dyn std::error::Error>> {
    let d = conn.dialect();
    let before = snapshot(conn)?;
    assert_tables("the start state", d, &expected(d, &start())?, &before);
    let what = ops.iter().map(Operation::describe).collect::<Vec<_>>().join("; ");
    let after = apply_operations(conn, "m", &ops, &start(), false)?;
    assert_tables(&format!("after {what}"), d, &expected(d, &after)?, &snapshot(conn)?);
    apply_operations(conn, "m", &ops, &start(), true)?;
    assert_tables(&format!("after undoing {what}"), d, &before, &snapshot(conn)?);
    Ok(after)
}

fn field(model: &str, f: FieldState) -> Operation {
    Operation::AddField(AddField { model: model.into(), field: f, preserve_default: true })
}

fn alter(model: &str, f: FieldState) -> Operation {
    Operation::AlterField(AlterField { model: model.into(), field: f, preserve_default: true })
}

fn tags_field() -> FieldState {
    let mut f = FieldState::new("tags", ColumnType::BigInt);
    f.column.clear();
    f.ty = TypeState::ManyToMany;
    f.many_to_many = Some(ManyToManyState {
        to: "m.Tag".into(),
        through: None,
        join_table: "m_post_tags".into(),
        source_column: "post_id".into(),
        target_column: "tag_id".into(),
    });
    f
}

backend_test! {
    fn model_operations_round_trip(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        create_all(conn, &start())?;
        let comment = ModelState::new("m", "Comment", "m_comment")
            .field(FieldState::auto_pk("id"))
            .field(FieldState::foreign_key("post", "m.Post", OnDeleteState::Cascade))
            .field(FieldState::new("body", ColumnType::Text))
            .field(tags_field());
        let mut comment = comment;
        comment.fields[3].many_to_many.as_mut().expect("m2m").join_table = "m_comment_tags".into();
        comment.fields[3].many_to_many.as_mut().expect("m2m").source_column = "comment_id".into();
        comment.constraints.push(ConstraintState::Check { name: "m_comment_body_nonempty".into(), sql: "body <> ''".into() });
        round_trip(conn, vec![Operation::CreateModel(CreateModel::of(&comment))])?;
        let after = round_trip(conn, vec![Operation::DeleteModel(DeleteModel { name: "Tag".into() })])?;
        assert!(after.model("m.Tag").is_none());
        let after = round_trip(conn, vec![Operation::RenameModel(RenameModel { old_name: "Author".into(), new_name: "Writer".into() })])?;
        assert_eq!(after.get("m.Post")?.get_field("author").and_then(|f| f.relation.as_ref()).map(|r| r.to.as_str()), Some("m.Writer"));
        round_trip(conn, vec![Operation::AlterModelTable(AlterModelTable { name: "Author".into(), table: "m_writer".into() })])?;
        round_trip(conn, vec![Operation::AlterModelTable(AlterModelTable { name: "Post".into(), table: "m_article".into() })])?;
        round_trip(conn, vec![Operation::AlterModelOptions(AlterModelOptions { name: "Post".into(), options: ModelOptions { ordering: vec!["-views".into()], verbose_name: "article".into() } })])?;
        let mut proxy = ModelState::new("m", "PopularPost", "m_post");
        proxy.kind = orm_migrations::state::ModelKindState::Proxy { of: "m.Post".into() };
        round_trip(conn, vec![Operation::CreateModel(CreateModel::of(&proxy))])?;
        Ok(())
    }
}

backend_test! {
    fn field_operations_round_trip(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        create_all(conn, &start())?;
        round_trip(conn, vec![field("Post", FieldState::new("subtitle", ColumnType::Varchar(100)).nullable())])?;
        round_trip(conn, vec![field("Post", FieldState::new("score", ColumnType::Integer).default_value(5i64))])?;
        round_trip(conn, vec![Operation::AddField(AddField {
            model: "Post".into(),
            field: FieldState::new("slug", ColumnType::Varchar(20)).default_value("x"),
            preserve_default: false,
        })])?;
        round_trip(conn, vec![field("Post", FieldState::foreign_key("editor", "m.Author", OnDeleteState::SetNull).nullable())])?;
        round_trip(conn, vec![field("Post", FieldState::new("code", ColumnType::Varchar(10)).nullable().unique())])?;
        round_trip(conn, vec![field("Post", tags_field())])?;
        round_trip(conn, vec![Operation::RemoveField(RemoveField { model: "Post".into(), name: "body".into() })])?;
        round_trip(conn, vec![Operation::RemoveField(RemoveField { model: "Post".into(), name: "author".into() })])?;
        round_trip(conn, vec![Operation::RenameField(RenameField { model: "Post".into(), old_name: "title".into(), new_name: "headline".into() })])?;
        round_trip(conn, vec![Operation::RenameField(RenameField { model: "Post".into(), old_name: "author".into(), new_name: "writer".into() })])?;
        round_trip(conn, vec![field("Post", tags_field()), Operation::RenameField(RenameField { model: "Post".into(), old_name: "tags".into(), new_name: "labels".into() })])?;
        Ok(())
    }
}

backend_test! {
    fn alter_field_round_trips(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        create_all(conn, &start())?;
        round_trip(conn, vec![alter("Post", FieldState::new("title", ColumnType::Varchar(300)))])?;
        round_trip(conn, vec![alter("Post", FieldState::new("title", ColumnType::Text))])?;
        round_trip(conn, vec![alter("Post", FieldState::new("title", ColumnType::Varchar(200)).nullable())])?;
        round_trip(conn, vec![alter("Post", FieldState::new("title", ColumnType::Varchar(200)).unique())])?;
        round_trip(conn, vec![alter("Post", FieldState::new("title", ColumnType::Varchar(200)).indexed())])?;
        round_trip(conn, vec![alter("Post", FieldState::new("title", ColumnType::Varchar(200)).default_value("untitled"))])?;
        round_trip(conn, vec![alter("Post", FieldState::new("views", ColumnType::Integer).default_value(0i64))])?;
        round_trip(conn, vec![alter("Post", FieldState::new("views", ColumnType::BigInt).default_value(1i64))])?;
        round_trip(conn, vec![alter("Post", FieldState::new("views", ColumnType::BigInt))])?;
        round_trip(conn, vec![alter("Post", FieldState::new("body", ColumnType::Text).default_value("-"))])?;
        round_trip(conn, vec![alter("Post", FieldState::foreign_key("author", "m.Author", OnDeleteState::SetNull).nullable())])?;
        Ok(())
    }
}

backend_test! {
    fn index_and_constraint_operations_round_trip(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        create_all(conn, &start())?;
        let idx = IndexState { name: "m_post_title_views_idx".into(), fields: vec!["title".into(), "views".into()] };
        round_trip(conn, vec![Operation::AddIndex(AddIndex { model: "Post".into(), index: idx.clone() })])?;
        round_trip(conn, vec![
            Operation::AddIndex(AddIndex { model: "Post".into(), index: idx }),
            Operation::RemoveIndex(RemoveIndex { model: "Post".into(), name: "m_post_title_views_idx".into() }),
        ])?;
        let uniq = ConstraintState::Unique { name: "m_post_author_title_uniq".into(), fields: vec!["author".into(), "title".into()] };
        round_trip(conn, vec![Operation::AddConstraint(AddConstraint { model: "Post".into(), constraint: uniq })])?;
        let check = ConstraintState::Check { name: "m_post_views_nonneg".into(), sql: "views >= 0".into() };
        round_trip(conn, vec![Operation::AddConstraint(AddConstraint { model: "Post".into(), constraint: check.clone() })])?;
        round_trip(conn, vec![
            Operation::AddConstraint(AddConstraint { model: "Post".into(), constraint: check }),
            Operation::RemoveConstraint(RemoveConstraint { model: "Post".into(), name: "m_post_views_nonneg".into() }),
        ])?;
        round_trip(conn, vec![Operation::AlterUniqueTogether(AlterUniqueTogether {
            model: "Post".into(),
            unique_together: vec![vec!["title".into(), "views".into()]],
        })])?;
        Ok(())
    }
}

backend_test! {
    fn special_operations_round_trip(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        create_all(conn, &start())?;
        let d = conn.dialect();
        let q = |s: &str| if d == Dialect::Mysql { s.replace('"', "`") } else { s.to_owned() };
        let run_sql = vec![Operation::RunSql(RunSql {
            sql: SqlSpec::All(vec![q("CREATE TABLE \"m_extra\" (\"id\" integer PRIMARY KEY)")]),
            reverse_sql: Some(SqlSpec::PerDialect(
                [(d.name().to_owned(), vec![q("DROP TABLE \"m_extra\"")])].into_iter().collect(),
            )),
            state_operations: Vec::new(),
        })];
        apply_operations(conn, "m", &run_sql, &start(), false)?;
        assert!(table_names(conn)?.contains(&"m_extra".to_owned()));
        apply_operations(conn, "m", &run_sql, &start(), true)?;
        assert!(!table_names(conn)?.contains(&"m_extra".to_owned()));
        // A table made by raw SQL and told to the state: the state and the database agree.
        let extra = ModelState::new("m", "Extra", "m_extra").field(FieldState::new("id", ColumnType::Integer).nullable());
        let mut extra = extra;
        extra.fields[0].primary_key = true;
        extra.fields[0].null = false;
        let sep = Operation::SeparateDatabaseAndState(SeparateDatabaseAndState {
            database_operations: vec![Operation::CreateModel(CreateModel::of(&extra))],
            state_operations: vec![Operation::CreateModel(CreateModel::of(&extra))],
        });
        round_trip(conn, vec![sep])?;
        let irreversible = Operation::RunSql(RunSql { sql: SqlSpec::All(vec!["SELECT 1".into()]), reverse_sql: None, state_operations: Vec::new() });
        assert!(!irreversible.reversible());
        let e = apply_operations(conn, "m", &[irreversible], &start(), true).unwrap_err();
        assert!(e.to_string().contains("cannot be reversed"), "{e}");
        Ok(())
    }
}

fn count(conn: &mut dyn Connection, sql: &str) -> Result<i64, Box<dyn std::error::Error>> {
    let d = conn.dialect();
    let sql = if d == Dialect::Mysql { sql.replace('"', "`") } else { sql.to_owned() };
    Ok(conn.query(&sql, &[])?[0].get::<i64>(0)?)
}

fn exec(conn: &mut dyn Connection, sql: &str) -> Result<(), Box<dyn std::error::Error>> {
    let sql = if conn.dialect() == Dialect::Mysql { sql.replace('"', "`") } else { sql.to_owned() };
    conn.execute_batch(&sql)?;
    Ok(())
}

backend_test! {
    fn data_survives_conversions_renames_and_rebuilds(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let d = conn.dialect();
        create_all(conn, &start())?;
        exec(conn, "INSERT INTO \"m_author\" (\"id\", \"name\") VALUES (1, 'ann'), (2, 'bob')")?;
        exec(conn, "INSERT INTO \"m_post\" (\"id\", \"title\", \"author_id\", \"views\", \"body\") VALUES (1, '12', 1, 3, NULL), (2, '34', 2, 4, 'x')")?;
        let mut state = start();
        let steps: Vec<Vec<Operation>> = vec![
            vec![alter("Post", FieldState::new("title", ColumnType::Text))],
            vec![alter("Post", FieldState::new("views", ColumnType::Integer).default_value(0i64))],
            vec![alter("Post", FieldState::new("views", ColumnType::BigInt).default_value(0i64))],
            vec![Operation::RenameField(RenameField { model: "Post".into(), old_name: "title".into(), new_name: "headline".into() })],
            vec![Operation::RenameField(RenameField { model: "Post".into(), old_name: "author".into(), new_name: "writer".into() })],
            vec![
                Operation::RenameModel(RenameModel { old_name: "Author".into(), new_name: "Person".into() }),
                Operation::AlterModelTable(AlterModelTable { name: "Person".into(), table: "m_person".into() }),
            ],
            // NULL → NOT NULL with a one-off default (SQLite: a rebuild).
            vec![Operation::AlterField(AlterField { model: "Post".into(), field: FieldState::new("body", ColumnType::Text).default_value("none"), preserve_default: false })],
        ];
        for ops in steps {
            state = apply_operations(conn, "m", &ops, &state, false)?;
            assert_eq!(count(conn, "SELECT COUNT(*) FROM \"m_post\"")?, 2, "rows after {ops:?}");
        }
        assert_eq!(count(conn, "SELECT COUNT(*) FROM \"m_person\"")?, 2);
        assert_eq!(count(conn, "SELECT SUM(\"views\") FROM \"m_post\"")?, 7);
        assert_eq!(count(conn, "SELECT COUNT(*) FROM \"m_post\" WHERE \"body\" = 'none'")?, 1);
        let rows = conn.query(&if d == Dialect::Mysql { "SELECT `headline`, `writer_id` FROM `m_post` ORDER BY `id`".to_owned() } else { "SELECT \"headline\", \"writer_id\" FROM \"m_post\" ORDER BY \"id\"".to_owned() }, &[])?;
        assert_eq!(rows[0].get::<String>(0)?, "12");
        assert_eq!(rows[1].get::<i64>(1)?, 2);
        // Indexes and foreign keys are still there, and the key is still enforced.
        let post = introspect_table(conn, "m_post")?.ok_or("m_post")?;
        assert_eq!(canonical(d, &post), canonical(d, &state.table_def("m.Post")?));
        assert!(post.foreign_keys.iter().any(|f| f.ref_table == "m_person" && f.columns == ["writer_id"]), "{:?}", post.foreign_keys);
        assert!(post.indexes.iter().any(|i| i.columns == ["writer_id"]), "{:?}", post.indexes);
        let bad = exec(conn, "INSERT INTO \"m_post\" (\"id\", \"headline\", \"writer_id\", \"views\", \"body\") VALUES (3, 'z', 99, 0, 'b')");
        assert!(bad.is_err(), "the foreign key is enforced after the changes");
        Ok(())
    }
}

backend_test! {
    fn adding_a_not_null_field_with_a_default_fills_existing_rows(db: &TestDb) {
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        create_all(conn, &start())?;
        exec(conn, "INSERT INTO \"m_tag\" (\"id\", \"name\") VALUES (1, 'a'), (2, 'b')")?;
        let kept = field("Tag", FieldState::new("weight", ColumnType::Integer).default_value(7i64));
        let one_off = Operation::AddField(AddField {
            model: "Tag".into(),
            field: FieldState::new("slug", ColumnType::Varchar(20)).default_value("none"),
            preserve_default: false,
        });
        let state = apply_operations(conn, "m", &[kept, one_off], &start(), false)?;
        assert_eq!(count(conn, "SELECT COUNT(*) FROM \"m_tag\" WHERE \"weight\" = 7 AND \"slug\" = 'none'")?, 2);
        let t = introspect_table(conn, "m_tag")?.ok_or("m_tag")?;
        assert!(t.column_named("weight").and_then(|c| c.default.clone()).is_some(), "a kept default stays");
        assert_eq!(t.column_named("slug").and_then(|c| c.default.clone()), None, "a one-off default does not");
        assert_eq!(canonical(conn.dialect(), &t), canonical(conn.dialect(), &state.table_def("m.Tag")?));
        let _ = Value::Null;
        Ok(())
    }
}

/// The rows of the rebuild test, summed so any lost, duplicated or altered row shows.
fn node_checksum(conn: &mut dyn Connection) -> Result<[i64; 5], Box<dyn std::error::Error>> {
    Ok([
        count(conn, "SELECT COUNT(*) FROM \"m_node\"")?,
        count(conn, "SELECT SUM(\"id\" * 7 + \"weight\") FROM \"m_node\"")?,
        count(conn, "SELECT SUM(LENGTH(\"name\")) FROM \"m_node\"")?,
        count(conn, "SELECT SUM(COALESCE(\"parent_id\", 0)) FROM \"m_node\"")?,
        count(conn, "SELECT SUM(\"node_id\") FROM \"m_leaf\"")?,
    ])
}

backend_test! {
    fn a_table_rebuild_keeps_ten_thousand_rows_and_every_constraint(db: &TestDb) {
        // Issue 18 item 7: 10,000 rows with an index, a check, a self foreign key and an
        // inbound foreign key, through the changes SQLite can only make by rebuilding the
        // table (type changes, NULL to NOT NULL); the other backends ALTER in place.
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let d = conn.dialect();
        let mut node = ModelState::new("m", "Node", "m_node")
            .field(FieldState::auto_pk("id"))
            .field(FieldState::new("name", ColumnType::Varchar(50)).indexed())
            .field(FieldState::new("weight", ColumnType::BigInt).default_value(0i64))
            .field(FieldState::foreign_key("parent", "m.Node", OnDeleteState::SetNull).nullable())
            .field(FieldState::new("note", ColumnType::Text).nullable());
        node.constraints.push(ConstraintState::Check { name: "m_node_weight_nonneg".into(), sql: "weight >= 0".into() });
        node.indexes.push(IndexState { name: "m_node_name_weight_idx".into(), fields: vec!["name".into(), "weight".into()] });
        let leaf = ModelState::new("m", "Leaf", "m_leaf")
            .field(FieldState::auto_pk("id"))
            .field(FieldState::foreign_key("node", "m.Node", OnDeleteState::Cascade))
            .field(FieldState::new("label", ColumnType::Varchar(20)));
        let mut state = ProjectState::new();
        state = apply_operations(conn, "m", &[Operation::CreateModel(CreateModel::of(&node))], &state, false)?;
        state.add_model(node.clone());
        state = apply_operations(conn, "m", &[Operation::CreateModel(CreateModel::of(&leaf))], &state, false)?;
        state.add_model(leaf.clone());
        // 10,000 nodes, each pointing at the one before; 2,000 leaves.
        for chunk in (1..=10_000i64).collect::<Vec<_>>().chunks(500) {
            let rows: Vec<String> = chunk
                .iter()
                .map(|i| {
                    let parent = if *i == 1 { "NULL".to_owned() } else { (i - 1).to_string() };
                    let note = if i % 3 == 0 { "NULL".to_owned() } else { format!("'note {i}'") };
                    format!("({i}, 'n{i}', {}, {parent}, {note})", i % 97)
                })
                .collect();
            exec(conn, &format!("INSERT INTO \"m_node\" (\"id\", \"name\", \"weight\", \"parent_id\", \"note\") VALUES {}", rows.join(", ")))?;
        }
        for chunk in (1..=2_000i64).collect::<Vec<_>>().chunks(500) {
            let rows: Vec<String> = chunk.iter().map(|i| format!("({i}, {}, 'l{i}')", i * 5)).collect();
            exec(conn, &format!("INSERT INTO \"m_leaf\" (\"id\", \"node_id\", \"label\") VALUES {}", rows.join(", ")))?;
        }
        let before = node_checksum(conn)?;
        assert_eq!(before[0], 10_000);
        let steps = vec![
            alter("Node", FieldState::new("name", ColumnType::Varchar(80)).indexed()),
            alter("Node", FieldState::new("weight", ColumnType::Integer).default_value(0i64)),
            Operation::AlterField(AlterField {
                model: "Node".into(),
                field: FieldState::new("note", ColumnType::Text).default_value("-"),
                preserve_default: false,
            }),
            Operation::RenameField(RenameField { model: "Node".into(), old_name: "note".into(), new_name: "remark".into() }),
        ];
        for op in steps {
            let label = format!("{op:?}");
            state = apply_operations(conn, "m", &[op], &state, false)?;
            assert_eq!(node_checksum(conn)?, before, "rows after {label}");
        }
        assert_eq!(count(conn, "SELECT COUNT(*) FROM \"m_node\" WHERE \"remark\" = '-'")?, 3_333);
        if d == Dialect::Sqlite {
            let problems = conn.query("PRAGMA foreign_key_check", &[])?;
            assert!(problems.is_empty(), "foreign_key_check: {} problems", problems.len());
            let integrity = conn.query("PRAGMA integrity_check", &[])?;
            assert_eq!(integrity[0].get::<String>(0)?, "ok");
        }
        // The schema is the state's, and every constraint still holds.
        let t = introspect_table(conn, "m_node")?.ok_or("m_node")?;
        assert_eq!(canonical(d, &t), canonical(d, &state.table_def("m.Node")?));
        assert!(t.indexes.iter().any(|i| i.columns == ["name", "weight"]), "{:?}", t.indexes);
        assert!(exec(conn, "UPDATE \"m_node\" SET \"weight\" = -1 WHERE \"id\" = 5").is_err(), "the check holds");
        assert!(exec(conn, "INSERT INTO \"m_leaf\" (\"id\", \"node_id\", \"label\") VALUES (9999, 123456, 'x')").is_err(), "the inbound key holds");
        assert!(exec(conn, "UPDATE \"m_node\" SET \"parent_id\" = 123456 WHERE \"id\" = 5").is_err(), "the self key holds");
        Ok(())
    }
}
