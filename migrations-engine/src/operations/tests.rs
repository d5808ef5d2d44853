//! Unit tests of operations: state effects, descriptions, file form, inverse changes.

use super::*;
use crate::state::{ConstraintState, FieldState, IndexState, ModelState, OnDeleteState, ProjectState};
use orm_backends::schema::ColumnType;

fn blog() -> ProjectState {
    let mut s = ProjectState::new();
    s.add_model(
        ModelState::new("blog", "Author", "blog_author")
            .field(FieldState::auto_pk("id"))
            .field(FieldState::new("name", ColumnType::Varchar(50))),
    );
    s.add_model(
        ModelState::new("blog", "Post", "blog_post")
            .field(FieldState::auto_pk("id"))
            .field(FieldState::new("title", ColumnType::Varchar(200)))
            .field(FieldState::foreign_key("author", "blog.Author", OnDeleteState::Cascade)),
    );
    s
}

fn every_kind() -> Vec<Operation> {
    let tag = ModelState::new("blog", "Tag", "blog_tag").field(FieldState::auto_pk("id"));
    vec![
        Operation::CreateModel(CreateModel::of(&tag)),
        Operation::AddField(AddField {
            model: "Post".into(),
            field: FieldState::new("views", ColumnType::BigInt).default_value(0i64),
            preserve_default: false,
        }),
        Operation::AlterField(AlterField {
            model: "Post".into(),
            field: FieldState::new("title", ColumnType::Text),
            preserve_default: true,
        }),
        Operation::RenameField(RenameField {
            model: "Post".into(),
            old_name: "title".into(),
            new_name: "headline".into(),
        }),
        Operation::AddIndex(AddIndex {
            model: "Post".into(),
            index: IndexState { name: "blog_post_views_idx".into(), fields: vec!["views".into()] },
        }),
        Operation::AddConstraint(AddConstraint {
            model: "Post".into(),
            constraint: ConstraintState::Check { name: "blog_post_views_check".into(), sql: "views >= 0".into() },
        }),
        Operation::AlterUniqueTogether(AlterUniqueTogether {
            model: "Post".into(),
            unique_together: vec![vec!["headline".into(), "author".into()]],
        }),
        Operation::RemoveConstraint(RemoveConstraint { model: "Post".into(), name: "blog_post_views_check".into() }),
        Operation::RemoveIndex(RemoveIndex { model: "Post".into(), name: "blog_post_views_idx".into() }),
        Operation::AlterModelOptions(AlterModelOptions {
            name: "Post".into(),
            options: crate::state::ModelOptions { ordering: vec!["-views".into()], verbose_name: String::new() },
        }),
        Operation::RenameModel(RenameModel { old_name: "Author".into(), new_name: "Writer".into() }),
        Operation::AlterModelTable(AlterModelTable { name: "Writer".into(), table: "blog_writer".into() }),
        Operation::RemoveField(RemoveField { model: "Post".into(), name: "views".into() }),
        Operation::RunSql(RunSql {
            sql: SqlSpec::All(vec!["SELECT 1".into()]),
            reverse_sql: Some(SqlSpec::All(vec![])),
            state_operations: vec![],
        }),
        Operation::RunRust(RunRust { forward: "fill".into(), backward: None }),
        Operation::SeparateDatabaseAndState(SeparateDatabaseAndState {
            database_operations: vec![],
            state_operations: vec![Operation::DeleteModel(DeleteModel { name: "Tag".into() })],
        }),
    ]
}

#[test]
fn replaying_every_kind_of_operation_builds_the_state() {
    let mut s = blog();
    for op in every_kind() {
        op.state_forwards("blog", &mut s).unwrap_or_else(|e| panic!("{}: {e}", op.describe()));
    }
    let post = s.get("blog.Post").unwrap();
    let names: Vec<&str> = post.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["id", "headline", "author"]);
    assert_eq!(post.get_field("headline").unwrap().column, "headline");
    assert_eq!(post.get_field("author").unwrap().relation.as_ref().unwrap().to, "blog.Writer");
    assert_eq!(post.options.ordering, ["-views"]);
    assert_eq!(
        post.constraints,
        [ConstraintState::Unique {
            name: "blog_post_headline_author_uniq".into(),
            fields: vec!["headline".into(), "author".into()]
        }]
    );
    assert_eq!(s.get("blog.Writer").unwrap().table, "blog_writer");
    assert!(s.model("blog.Tag").is_none());
    let t = s.table_def("blog.Post").unwrap();
    assert_eq!(t.foreign_keys[0].ref_table, "blog_writer");
    assert_eq!(t.uniques[0].columns, ["headline", "author_id"]);
}

#[test]
fn operations_round_trip_through_json_and_describe_themselves() {
    for op in every_kind() {
        let j = serde_json::to_string(&op).unwrap();
        assert!(j.starts_with(&format!("{{\"op\":\"{}\"", op.name())), "{j}");
        let back: Operation = serde_json::from_str(&j).unwrap();
        assert_eq!(back, op);
        assert!(!op.describe().is_empty());
    }
}

#[test]
fn irreversible_operations_say_so() {
    let ops = every_kind();
    let irreversible: Vec<&str> = ops.iter().filter(|o| !o.reversible()).map(Operation::name).collect();
    assert_eq!(irreversible, ["RunRust"]);
}

#[test]
fn bad_operations_name_the_culprit() {
    let mut s = blog();
    let e = Operation::RemoveField(RemoveField { model: "Post".into(), name: "nope".into() })
        .state_forwards("blog", &mut s)
        .unwrap_err();
    assert_eq!(e.to_string(), "RemoveField: blog.Post has no field `nope`");
    let e =
        Operation::AddField(AddField { model: "Nope".into(), field: FieldState::auto_pk("x"), preserve_default: true })
            .state_forwards("blog", &mut s)
            .unwrap_err();
    assert!(e.to_string().contains("blog.Nope"), "{e}");
}

#[test]
fn a_field_rename_is_a_column_rename_both_ways() {
    let before = blog();
    let op = Operation::RenameField(RenameField {
        model: "Post".into(),
        old_name: "author".into(),
        new_name: "writer".into(),
    });
    let mut after = before.clone();
    op.state_forwards("blog", &mut after).unwrap();
    let changes = op.behavior().table_changes("blog", &before, &after).unwrap();
    assert_eq!(changes[0].renamed_columns, [("author_id".to_owned(), "writer_id".to_owned())]);
    assert_eq!(changes[0].inverted().renamed_columns, [("writer_id".to_owned(), "author_id".to_owned())]);
    let labels = Operation::AddField(AddField {
        model: "Post".into(),
        field: FieldState::foreign_key("owner", "auth.User", OnDeleteState::Cascade),
        preserve_default: true,
    })
    .foreign_labels("blog");
    assert_eq!(labels, ["auth.User"]);
}

#[test]
fn renaming_a_field_renames_its_column_in_checks_indexes_and_uniques() {
    let mut s = blog();
    let post = s.get_mut("blog.Post").unwrap();
    post.constraints.push(ConstraintState::Check {
        name: "blog_post_title_nonempty".into(),
        sql: "title <> '' AND \"title\" <> 'title' AND subtitle IS NULL".into(),
    });
    post.constraints.push(ConstraintState::Unique { name: "u".into(), fields: vec!["title".into(), "author".into()] });
    post.indexes.push(IndexState { name: "i".into(), fields: vec!["author".into(), "title".into()] });
    let op = Operation::RenameField(RenameField {
        model: "Post".into(),
        old_name: "title".into(),
        new_name: "headline".into(),
    });
    op.state_forwards("blog", &mut s).unwrap();
    let post = s.get("blog.Post").unwrap();
    assert_eq!(
        post.constraints[0],
        ConstraintState::Check {
            name: "blog_post_title_nonempty".into(),
            sql: "headline <> '' AND \"headline\" <> 'title' AND subtitle IS NULL".into()
        }
    );
    assert_eq!(
        post.constraints[1],
        ConstraintState::Unique { name: "u".into(), fields: vec!["headline".into(), "author".into()] }
    );
    assert_eq!(post.indexes[0].fields, ["author", "headline"]);
    // A foreign key's column follows its name, and so do checks on it.
    let mut s = blog();
    s.get_mut("blog.Post")
        .unwrap()
        .constraints
        .push(ConstraintState::Check { name: "c".into(), sql: "author_id > 0".into() });
    let op = Operation::RenameField(RenameField {
        model: "Post".into(),
        old_name: "author".into(),
        new_name: "writer".into(),
    });
    op.state_forwards("blog", &mut s).unwrap();
    assert_eq!(
        s.get("blog.Post").unwrap().constraints[0],
        ConstraintState::Check { name: "c".into(), sql: "writer_id > 0".into() }
    );
}
