//! SeaORM 2 in its async sqlx flavour, driven by a current-thread tokio runtime (one
//! `block_on` per workload iteration), written as diesel_bench writes it: `DeriveEntityModel`
//! entities, `find().all`, `find_also_related`, the loader (`load_many`) for associations,
//! `insert_many`, `ActiveModel::update`, `delete_many`, `stream`.
//!
//! The pool has one connection (the benchmark is single-threaded; SQLite in memory needs it)
//! and sqlx statement logging is off.

use crate::{group_by_key, renamed, user_name, Result, Target, Workloads, INSERT_HAIR};
use futures_util::StreamExt;
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectOptions, ConnectionTrait, DatabaseConnection, LoaderTrait, TransactionTrait};
use std::hint::black_box;
use std::time::Duration;

/// `users`.
pub mod users {
    use sea_orm::entity::prelude::*;

    /// A user.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        /// Key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Name.
        pub name: String,
        /// Hair colour.
        pub hair_color: Option<String>,
    }

    /// Relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// A user's posts.
        #[sea_orm(has_many = "super::posts::Entity")]
        Posts,
    }

    impl Related<super::posts::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Posts.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// `cascade_users`: users whose posts and comments the database deletes with them
/// (`delete_db_cascade`; sqlx turns SQLite's foreign keys on by default).
pub mod cascade_users {
    use sea_orm::entity::prelude::*;

    /// A user.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cascade_users")]
    pub struct Model {
        /// Key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Name.
        pub name: String,
        /// Hair colour.
        pub hair_color: Option<String>,
    }

    /// Relations (none declared: the database cascades).
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `posts`.
pub mod posts {
    use sea_orm::entity::prelude::*;

    /// A post.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "posts")]
    pub struct Model {
        /// Key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Author.
        pub user_id: i64,
        /// Title.
        pub title: String,
        /// Body.
        pub body: Option<String>,
    }

    /// Relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The author.
        #[sea_orm(belongs_to = "super::users::Entity", from = "Column::UserId", to = "super::users::Column::Id")]
        User,
        /// The comments.
        #[sea_orm(has_many = "super::comments::Entity")]
        Comments,
    }

    impl Related<super::users::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::User.def()
        }
    }

    impl Related<super::comments::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Comments.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// `comments`.
pub mod comments {
    use sea_orm::entity::prelude::*;

    /// A comment.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "comments")]
    pub struct Model {
        /// Key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Post.
        pub post_id: i64,
        /// Text.
        pub text: String,
    }

    /// Relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The post.
        #[sea_orm(belongs_to = "super::posts::Entity", from = "Column::PostId", to = "super::posts::Column::Id")]
        Post,
    }

    impl Related<super::posts::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Post.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// SeaORM's implementation: a runtime and a one-connection pool.
pub struct SeaOrmBench {
    rt: tokio::runtime::Runtime,
    db: DatabaseConnection,
    loaded: Vec<users::Model>,
    max_params: usize,
}

fn new_users(n: usize) -> Vec<users::ActiveModel> {
    (0..n)
        .map(|i| users::ActiveModel {
            name: Set(user_name(i)),
            hair_color: Set(Some(INSERT_HAIR.to_owned())),
            ..Default::default()
        })
        .collect()
}

impl SeaOrmBench {
    /// Starts the runtime and connects.
    pub fn open(target: &Target) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let url = match target {
            Target::SqliteMemory => "sqlite::memory:".to_owned(),
            Target::SqliteFile(p) => format!("sqlite://{}?mode=rwc", p.display()),
            Target::Postgres { url, .. } => crate::without_query(url).to_owned(),
            Target::Mysql { url, database } => crate::with_database(url, database),
        };
        let mut opt = ConnectOptions::new(url);
        opt.max_connections(1)
            .min_connections(1)
            .idle_timeout(Duration::from_secs(86_400))
            .max_lifetime(Duration::from_secs(86_400))
            .sqlx_logging(false);
        if let Target::Postgres { schema, .. } = target {
            opt.set_schema_search_path(schema.clone());
        }
        let db = rt.block_on(sea_orm::Database::connect(opt))?;
        if let Target::SqliteFile(_) = target {
            rt.block_on(db.execute_unprepared(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
            ))?;
        }
        let max_params = if target.dialect() == orm::Dialect::Sqlite { 32766 } else { 65535 };
        Ok(SeaOrmBench { rt, db, loaded: Vec::new(), max_params })
    }
}

impl Workloads for SeaOrmBench {
    fn name(&self) -> &'static str {
        "sea-orm"
    }

    fn exec(&mut self, statements: &[String]) -> Result<()> {
        for s in statements {
            self.rt.block_on(self.db.execute_unprepared(s))?;
        }
        Ok(())
    }

    fn trivial_query(&mut self) -> Result<usize> {
        let rows = self.rt.block_on(users::Entity::find().all(&self.db))?;
        Ok(black_box(rows).len())
    }

    fn medium_complex_query(&mut self) -> Result<usize> {
        let rows: Vec<(users::Model, Option<posts::Model>)> = self.rt.block_on(
            users::Entity::find()
                .find_also_related(posts::Entity)
                .filter(users::Column::HairColor.eq("black"))
                .all(&self.db),
        )?;
        Ok(black_box(rows).len())
    }

    fn associations(&mut self) -> Result<usize> {
        let db = &self.db;
        let out = self.rt.block_on(async {
            let users = users::Entity::find().all(db).await?;
            let posts: Vec<Vec<posts::Model>> = users.load_many(posts::Entity, db).await?;
            let all_posts: Vec<posts::Model> = posts.into_iter().flatten().collect();
            let comments: Vec<Vec<comments::Model>> = all_posts.load_many(comments::Entity, db).await?;
            let with_comments: Vec<(posts::Model, Vec<comments::Model>)> =
                all_posts.into_iter().zip(comments).collect();
            let mut by_user = group_by_key(with_comments, |(p, _)| p.user_id);
            let out: crate::Tree<users::Model, posts::Model, comments::Model> = users
                .into_iter()
                .map(|u| {
                    let ps = by_user.remove(&u.id).unwrap_or_default();
                    (u, ps)
                })
                .collect();
            Ok::<_, DbErr>(out)
        })?;
        let n = crate::tree_len(&out);
        black_box(out);
        Ok(n)
    }

    fn insert(&mut self, n: usize) -> Result<usize> {
        self.rt.block_on(users::Entity::insert_many(new_users(n)).exec(&self.db))?;
        Ok(n)
    }

    fn batch_insert(&mut self, n: usize) -> Result<usize> {
        let per = self.max_params / 2;
        let db = &self.db;
        self.rt.block_on(async {
            let txn = db.begin().await?;
            let mut rows = new_users(n);
            while !rows.is_empty() {
                let rest = rows.split_off(per.min(rows.len()));
                users::Entity::insert_many(rows).exec(&txn).await?;
                rows = rest;
            }
            txn.commit().await
        })?;
        Ok(n)
    }

    fn load_for_update(&mut self) -> Result<usize> {
        self.loaded = self.rt.block_on(users::Entity::find().all(&self.db))?;
        Ok(self.loaded.len())
    }

    fn update_by_pk(&mut self) -> Result<usize> {
        let db = &self.db;
        let loaded = &mut self.loaded;
        self.rt.block_on(async {
            let txn = db.begin().await?;
            for u in loaded.iter_mut() {
                let mut am: users::ActiveModel = u.clone().into();
                am.name = Set(renamed(u.id, &u.name));
                *u = am.update(&txn).await?;
            }
            txn.commit().await
        })?;
        Ok(self.loaded.len())
    }

    fn bulk_update(&mut self) -> Result<usize> {
        // SeaORM's `update_many` sets the same values on every row; per-row values are one
        // UPDATE per row, in a transaction.
        let db = &self.db;
        let loaded = &mut self.loaded;
        let n = self.rt.block_on(async {
            let txn = db.begin().await?;
            let mut n = 0;
            for u in loaded.iter_mut() {
                u.name = renamed(u.id, &u.name);
                n += users::Entity::update_many()
                    .col_expr(users::Column::Name, Expr::value(u.name.clone()))
                    .filter(users::Column::Id.eq(u.id))
                    .exec(&txn)
                    .await?
                    .rows_affected;
            }
            txn.commit().await?;
            Ok::<_, DbErr>(n)
        })?;
        Ok(n as usize)
    }

    fn delete(&mut self) -> Result<usize> {
        let r = self
            .rt
            .block_on(users::Entity::delete_many().filter(users::Column::HairColor.eq("black")).exec(&self.db))?;
        Ok(r.rows_affected as usize)
    }

    fn delete_db_cascade(&mut self) -> Result<usize> {
        let r = self.rt.block_on(
            cascade_users::Entity::delete_many().filter(cascade_users::Column::HairColor.eq("black")).exec(&self.db),
        )?;
        Ok(r.rows_affected as usize)
    }

    fn stream(&mut self, on_row: &mut dyn FnMut(usize)) -> Result<usize> {
        let db = &self.db;
        let n = self.rt.block_on(async {
            let mut s = users::Entity::find().stream(db).await?;
            let mut n = 0;
            while let Some(u) = s.next().await {
                black_box(u?);
                n += 1;
                on_row(n);
            }
            Ok::<_, DbErr>(n)
        })?;
        Ok(n)
    }
}
