//! This ORM, through its public API only: `#[derive(Model)]` models on the shared tables and
//! QuerySets evaluated on a [`Database`] (its pool), as an application would write them.
//!
//! Where the ORM has no faithful equivalent of a workload yet, the workload reports
//! [`NotAvailable`](crate::NotAvailable) naming the missing API instead of falling back to raw
//! SQL.

use crate::{renamed, user_name, Result, Target, Workloads, INSERT_HAIR};
use orm::prelude::*;
use std::hint::black_box;

/// `users(id, name, hair_color)`.
#[derive(Model, Debug, Clone)]
#[orm(table = "users")]
pub struct User {
    /// Key.
    pub id: Auto<i64>,
    /// Name.
    pub name: String,
    /// Hair colour.
    pub hair_color: Option<String>,
    /// The user's posts, filled by `prefetch_related("posts__comments")` (not a column).
    pub posts: Reverse<Post>,
}

/// `posts(id, user_id, title, body)`.
#[derive(Model, Debug, Clone)]
#[orm(table = "posts")]
pub struct Post {
    /// Key.
    pub id: Auto<i64>,
    /// The author (column `user_id`).
    #[orm(related_name = "posts")]
    pub user: ForeignKey<User>,
    /// Title.
    pub title: String,
    /// Body.
    pub body: Option<String>,
    /// The post's comments, filled by `prefetch_related("posts__comments")` (not a column).
    pub comments: Reverse<Comment>,
}

/// `comments(id, post_id, text)`.
#[derive(Model, Debug, Clone)]
#[orm(table = "comments")]
pub struct Comment {
    /// Key.
    pub id: Auto<i64>,
    /// The post (column `post_id`).
    #[orm(related_name = "comments")]
    pub post: ForeignKey<Post>,
    /// Text.
    pub text: String,
}

/// `cascade_users(id, name, hair_color)`: what [`CascadePost`]s point at.
#[derive(Model, Debug, Clone)]
#[orm(table = "cascade_users")]
pub struct CascadeUser {
    /// Key.
    pub id: Auto<i64>,
    /// Name.
    pub name: String,
    /// Hair colour.
    pub hair_color: Option<String>,
}

/// `cascade_posts(id, user_id, title)`: the database deletes them with their user.
#[derive(Model, Debug, Clone)]
#[orm(table = "cascade_posts")]
pub struct CascadePost {
    /// Key.
    pub id: Auto<i64>,
    /// The author (column `user_id`; `ON DELETE CASCADE` in the database).
    #[orm(on_delete = DbCascade, related_name = "posts")]
    pub user: ForeignKey<CascadeUser>,
    /// Title.
    pub title: String,
}

/// `cascade_comments(id, post_id, text)`: the database deletes them with their post.
#[derive(Model, Debug, Clone)]
#[orm(table = "cascade_comments")]
pub struct CascadeComment {
    /// Key.
    pub id: Auto<i64>,
    /// The post (column `post_id`; `ON DELETE CASCADE` in the database).
    #[orm(on_delete = DbCascade, related_name = "comments")]
    pub post: ForeignKey<CascadePost>,
    /// Text.
    pub text: String,
}

/// The ORM's implementation of the workloads, holding a [`Database`].
pub struct OrmBench {
    db: Database,
    loaded: Vec<User>,
}

impl OrmBench {
    /// Connects with the URL an application would use for `target` (`sqlite::memory:`,
    /// `sqlite://file`, `postgres://…?search_path=…`, `mysql://…/db`).
    pub fn open(target: &Target) -> Result<Self> {
        Ok(OrmBench { db: Database::connect(&target.orm_url())?, loaded: Vec::new() })
    }

    /// The database handle.
    pub fn db(&self) -> &Database {
        &self.db
    }

    fn new_user(i: usize) -> User {
        User { id: Auto::unset(), name: user_name(i), hair_color: Some(INSERT_HAIR.to_owned()), posts: Reverse::new() }
    }
}

impl Workloads for OrmBench {
    fn name(&self) -> &'static str {
        "orm"
    }

    fn exec(&mut self, statements: &[String]) -> Result<()> {
        let mut conn = self.db.pool().get()?;
        for s in statements {
            conn.execute_batch(s)?;
        }
        Ok(())
    }

    fn trivial_query(&mut self) -> Result<usize> {
        let users = User::objects().fetch(&self.db)?;
        Ok(black_box(users).len())
    }

    fn medium_complex_query(&mut self) -> Result<usize> {
        // Users LEFT JOIN posts into (User, Option<Post>) rows: one query, as the others run it.
        let rows: Vec<(User, Option<Post>)> =
            User::objects().filter(User::hair_color().eq("black")).fetch_left_join("posts", &self.db)?;
        Ok(black_box(rows).len())
    }

    fn associations(&mut self) -> Result<usize> {
        // Users, their posts, their comments: three queries, grouped by the ORM.
        let users = User::objects().prefetch_related(["posts__comments"]).fetch(&self.db)?;
        let mut n = users.len();
        for u in &users {
            for p in u.posts.cached().unwrap_or_default() {
                n += 1 + p.comments.cached().map_or(0, |c| c.len());
            }
        }
        black_box(users);
        Ok(n)
    }

    fn insert(&mut self, n: usize) -> Result<usize> {
        if n == 1 {
            black_box(Self::new_user(0).create(&self.db)?);
            return Ok(1);
        }
        let mut users: Vec<User> = (0..n).map(Self::new_user).collect();
        let inserted = User::objects().bulk_create(&mut users, &self.db)?;
        black_box(users);
        Ok(inserted as usize)
    }

    fn batch_insert(&mut self, n: usize) -> Result<usize> {
        let mut users: Vec<User> = (0..n).map(Self::new_user).collect();
        let inserted = User::objects().bulk_create(&mut users, &self.db)?;
        black_box(users);
        Ok(inserted as usize)
    }

    fn load_for_update(&mut self) -> Result<usize> {
        self.loaded = User::objects().fetch(&self.db)?;
        Ok(self.loaded.len())
    }

    fn update_by_pk(&mut self) -> Result<usize> {
        let loaded = &mut self.loaded;
        let n = self.db.atomic(|tx| {
            for u in loaded.iter_mut() {
                u.name = renamed(u.id.get().unwrap_or_default(), &u.name);
                u.save(tx)?;
            }
            Ok(loaded.len())
        })?;
        Ok(n)
    }

    fn bulk_update(&mut self) -> Result<usize> {
        for u in &mut self.loaded {
            u.name = renamed(u.id.get().unwrap_or_default(), &u.name);
        }
        Ok(User::objects().bulk_update(&self.loaded, &["name"], &self.db)? as usize)
    }

    fn delete(&mut self) -> Result<usize> {
        Ok(User::objects().filter(User::hair_color().eq("black")).delete(&self.db)?.total as usize)
    }

    fn delete_db_cascade(&mut self) -> Result<usize> {
        // Every relation below is left to the database: one DELETE, as the driver sends.
        Ok(CascadeUser::objects().filter(CascadeUser::hair_color().eq("black")).delete(&self.db)?.total as usize)
    }

    fn stream(&mut self, on_row: &mut dyn FnMut(usize)) -> Result<usize> {
        let mut n = 0;
        for u in User::objects().iter(&self.db)? {
            black_box(u?);
            n += 1;
            on_row(n);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{cases, Bench, Config, Workload};

    /// Prints the statements the ORM sends for one iteration of each workload (SQLite in
    /// memory): `cargo test -p orm-benches orm_statements -- --ignored --nocapture`.
    #[test]
    #[ignore = "a diagnostic that prints statements; it asserts nothing"]
    fn orm_statements() {
        let target = Target::SqliteMemory;
        let orm = OrmBench::open(&target).unwrap();
        let db = orm.db().clone();
        let mut bench = Bench::new(target, Config::quick(), vec![("orm", Ok(Box::new(orm) as Box<dyn Workloads>))]);
        for mut case in cases(10) {
            if case.workload == Workload::Stream {
                case.size = 10;
            }
            case.size = case.size.min(3);
            bench.measure("orm", case, 1).unwrap();
            let capture = db.capture_queries();
            bench.measure("orm", case, 1).unwrap();
            let qs: Vec<String> = capture.queries().into_iter().map(|q| q.sql).collect();
            println!("{} {}: {} statements", case.workload.name(), case.size, qs.len());
            for q in qs {
                println!("    {}", if q.len() > 160 { format!("{}…", &q[..160]) } else { q });
            }
        }
    }
}
