//! Migrations: a many-to-many field renamed in the models with `renamed_from = "old"` becomes
//! a RenameField (its join table renamed, its rows kept), not a removal and an addition;
//! without the hint makemigrations refuses, naming the candidates. On every backend, through
//! makemigrations, migrate, the drift check and migrate back.

use crate::migrations_executor::{make, scenario_dir};
use orm::meta::ModelMeta;
use orm::{DefaultManager, Model};
use orm_backends::schema::table_names;
use orm_backends::testing::TestDb;
use orm_backends::{backend_test, Connection, Dialect};
use orm_migrations::cli::{check, Registry};
use orm_migrations::executor::{Executor, MigrateOptions, Target};
use orm_migrations::operations::{Operation, RenameField};
use orm_migrations::Key;

/// The models before: a shelf holding topics.
mod v1 {
    use orm::prelude::*;

    /// A topic.
    #[derive(Model, Debug, Clone)]
    #[orm(app = "mmr")]
    pub struct Topic {
        pub id: Auto<i64>,
        #[orm(max_length = 20)]
        pub name: String,
    }

    /// A shelf, version 1.
    #[derive(Model, Debug, Clone)]
    #[orm(app = "mmr")]
    pub struct Shelf {
        pub id: Auto<i64>,
        #[orm(related_name = "shelves_v1")]
        pub topics: ManyToMany<Topic>,
    }
}

/// The models after: the field is now `subjects`, renamed from `topics`.
mod v2 {
    use super::v1::Topic;
    use orm::prelude::*;

    /// A shelf, version 2.
    #[derive(Model, Debug, Clone)]
    #[orm(app = "mmr")]
    pub struct Shelf {
        pub id: Auto<i64>,
        #[orm(renamed_from = "topics", related_name = "shelves_v2")]
        pub subjects: ManyToMany<Topic>,
    }
}

/// The same change without the hint.
mod v3 {
    use super::v1::Topic;
    use orm::prelude::*;

    /// A shelf, version 3.
    #[derive(Model, Debug, Clone)]
    #[orm(app = "mmr")]
    pub struct Shelf {
        pub id: Auto<i64>,
        #[orm(related_name = "shelves_v3")]
        pub subjects: ManyToMany<Topic>,
    }
}

fn models(shelf: &'static ModelMeta) -> Vec<&'static ModelMeta> {
    vec![v1::Topic::meta(), shelf]
}

fn count(conn: &mut dyn Connection, table: &str) -> Result<i64, Box<dyn std::error::Error>> {
    let q = conn.dialect().quote(table);
    Ok(conn.query(&format!("SELECT COUNT(*) FROM {q}"), &[])?[0].get::<i64>(0)?)
}

backend_test! {
    fn a_many_to_many_renamed_from_an_old_name_renames_its_join_table(db: &TestDb) {
        let dir = scenario_dir(db, "m2m_rename");
        let before = Registry::new(models(v1::Shelf::meta())).migrations_dir(&dir);
        make(&before)?;
        let mut conn = db.get()?;
        let conn: &mut dyn Connection = &mut *conn;
        let loader = before.loader()?;
        Executor::new(conn, &loader).migrate(&Target::All, MigrateOptions::default())?;
        let mysql = conn.dialect() == Dialect::Mysql;
        let q = |s: &str| if mysql { s.replace('"', "`") } else { s.to_owned() };
        conn.execute_batch(&q("INSERT INTO \"mmr_topic\" (\"id\", \"name\") VALUES (1, 'maths'), (2, 'poetry'), (3, 'tea')"))?;
        conn.execute_batch(&q("INSERT INTO \"mmr_shelf\" (\"id\") VALUES (1), (2)"))?;
        conn.execute_batch(&q(
            "INSERT INTO \"mmr_shelf_topics\" (\"shelf_id\", \"topic_id\") VALUES (1, 1), (1, 2), (2, 3)",
        ))?;

        // Without the hint, and with no terminal to ask, makemigrations refuses and names both.
        let unhinted = Registry::new(models(v3::Shelf::meta())).migrations_dir(&dir);
        let e = make(&unhinted).expect_err("an unhinted rename is refused").to_string();
        assert!(e.contains("topics") && e.contains("subjects") && e.contains("renamed_from"), "{e}");

        let after = Registry::new(models(v2::Shelf::meta())).migrations_dir(&dir);
        let made = make(&after)?;
        assert_eq!(made.len(), 1);
        assert_eq!(
            made[0].operations,
            [Operation::RenameField(RenameField { model: "Shelf".into(), old_name: "topics".into(), new_name: "subjects".into() })],
            "a rename, not a removal and an addition"
        );
        let key = made[0].key();
        let loader = after.loader()?;
        Executor::new(conn, &loader).migrate(&Target::All, MigrateOptions::default())?;
        let names = table_names(conn)?;
        assert!(names.contains(&"mmr_shelf_subjects".to_owned()) && !names.contains(&"mmr_shelf_topics".to_owned()), "{names:?}");
        assert_eq!(count(conn, "mmr_shelf_subjects")?, 3, "the join rows are kept");
        let drift = check::drift(&after, conn)?;
        assert!(drift.is_empty(), "models, history and database agree after the rename: {drift:#?}");
        assert!(make(&after)?.is_empty(), "nothing more to do");
        // The ORM reads the renamed relation.
        let orm_db = orm::Database::from_pool((**db).clone());
        let shelf = v2::Shelf::objects().filter_path("id", 1)?.get(&orm_db)?;
        assert_eq!(shelf.subjects().all().count(&orm_db)?, 2);

        // And back: the old join table returns with its rows.
        Executor::new(conn, &loader).migrate(&Target::To(Key::new("mmr", "0001_initial")), MigrateOptions::default())?;
        let names = table_names(conn)?;
        assert!(names.contains(&"mmr_shelf_topics".to_owned()) && !names.contains(&"mmr_shelf_subjects".to_owned()), "{names:?}");
        assert_eq!(count(conn, "mmr_shelf_topics")?, 3);
        assert!(key.name.starts_with("0002_"), "{key}");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
