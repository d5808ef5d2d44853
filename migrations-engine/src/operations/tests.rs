//! Unit tests of operations: state effects, descriptions, file form, inverse changes.

use super::*;
use crate::routing::Routing;
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

/// The `allow_migrate` questions a routing was asked: `(db, app, model)`.
type Asked = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Option<String>)>>>;

/// Notes every question in `asked`; only `blog.Post` (and the app alone) may change the
/// database.
fn posts_only(asked: Asked) -> Routing {
    Routing::with_allow("reports", move |db, app, model| {
        asked.lock().unwrap().push((db.to_owned(), app.to_owned(), model.map(str::to_owned)));
        model.is_none_or(|m| m == "Post")
    })
}

#[test]
fn every_operation_asks_the_routers_about_its_model_or_its_app() {
    let ops = every_kind();
    let asked: Vec<RouterQuestion<'_>> = ops.iter().map(|o| o.router_question(false)).collect();
    use RouterQuestion::{App, Model, Parts};
    assert_eq!(
        asked,
        [
            Model("Tag"),
            Model("Post"),
            Model("Post"),
            Model("Post"),
            Model("Post"),
            Model("Post"),
            Model("Post"),
            Model("Post"),
            Model("Post"),
            Model("Post"),
            Model("Writer"),
            Model("Writer"),
            Model("Post"),
            App,
            App,
            Parts,
        ]
    );
    // A renamed model is asked about by the name it goes to (Django's RenameModel).
    let rename = Operation::RenameModel(RenameModel { old_name: "Author".into(), new_name: "Writer".into() });
    assert_eq!(rename.router_question(true), Model("Author"));
}

#[test]
fn a_refused_operation_changes_nothing_but_its_state() {
    let asked = Asked::default();
    let routing = posts_only(asked.clone());
    let before = blog();
    let run = |op: &Operation, backwards: bool| -> Vec<String> {
        let mut after = before.clone();
        op.state_forwards("blog", &mut after).unwrap();
        let mut editor = SchemaEditor::collect(orm_backends::Dialect::Postgres).with_routing(routing.clone());
        if backwards {
            op.database_backwards("blog", &mut editor, &before, &after, &Context::default()).unwrap();
        } else {
            op.database_forwards("blog", &mut editor, &before, &after, &Context::default()).unwrap();
        }
        editor.take_collected()
    };
    // The op spells the model in lower case; the routers hear the state's name.
    let on_post = Operation::AddField(AddField {
        model: "post".into(),
        field: FieldState::new("views", ColumnType::BigInt).nullable(),
        preserve_default: true,
    });
    let on_author = Operation::AddField(AddField {
        model: "Author".into(),
        field: FieldState::new("bio", ColumnType::Text).nullable(),
        preserve_default: true,
    });
    assert_eq!(run(&on_post, false).len(), 1);
    assert_eq!(run(&on_post, true).len(), 1);
    assert!(run(&on_author, false).is_empty());
    assert!(run(&on_author, true).is_empty());
    let raw = Operation::RunSql(RunSql {
        sql: SqlSpec::All(vec!["SELECT 1".into()]),
        reverse_sql: None,
        state_operations: vec![],
    });
    assert_eq!(run(&raw, false), ["SELECT 1"]);
    // Each database operation of a SeparateDatabaseAndState asks for itself.
    let separate = Operation::SeparateDatabaseAndState(SeparateDatabaseAndState {
        database_operations: vec![on_post.clone(), on_author.clone()],
        state_operations: vec![],
    });
    assert_eq!(run(&separate, false).len(), 1);
    let asked = asked.lock().unwrap().clone();
    let q = |model: Option<&str>| ("reports".to_owned(), "blog".to_owned(), model.map(str::to_owned));
    assert!(asked.contains(&q(Some("Post"))) && asked.contains(&q(Some("Author"))) && asked.contains(&q(None)));
    assert!(!asked.contains(&q(Some("post"))), "{asked:?}");
    // An irreversible operation is an error going back even where it would be skipped.
    let refuse_all = Routing::with_allow("reports", |_, _, _| false);
    let mut editor = SchemaEditor::collect(orm_backends::Dialect::Postgres).with_routing(refuse_all.clone());
    assert!(raw.database_backwards("blog", &mut editor, &before, &before, &Context::default()).is_err());
    assert!(raw.database_forwards("blog", &mut editor, &before, &before, &Context::default()).is_ok());
    assert!(editor.collected().is_empty());
    // Without routers, everything is allowed.
    assert!(on_author.allowed_on("blog", &Routing::default(), &before, &before, false));
    assert!(!on_author.allowed_on("blog", &refuse_all, &before, &before, false));
}
