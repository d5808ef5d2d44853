//! The raw drivers: the physical limit each workload is measured against.
//!
//! - SQLite: `rusqlite` with `prepare_cached` statements and columns read by index;
//! - PostgreSQL: the `postgres` crate with statements prepared once per connection, results
//!   read whole (`query`; `query_raw` row by row only for streaming);
//! - MySQL/MariaDB: the `mysql` crate with statements prepared once per connection and the
//!   binary protocol (`exec_iter`), rows read as they arrive.
//!
//! Multi-row INSERTs are split at each backend's parameter limit; `bulk_update` is one
//! `UPDATE … SET name = CASE id WHEN … THEN … END WHERE id IN (…)` statement.

use crate::{group_by_key, renamed, user_name, Result, Target, Workloads, INSERT_HAIR};
use std::collections::HashMap;
use std::hint::black_box;

/// A user row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Key.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Hair colour.
    pub hair_color: Option<String>,
}

/// A post row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Post {
    /// Key.
    pub id: i64,
    /// The author's key.
    pub user_id: i64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: Option<String>,
}

/// A comment row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Key.
    pub id: i64,
    /// The post's key.
    pub post_id: i64,
    /// Text.
    pub text: String,
}

/// Groups users, posts and comments as `(User, Vec<(Post, Vec<Comment>)>)` in user order, and
/// returns users + posts + comments.
fn group(users: Vec<User>, posts: Vec<Post>, comments: Vec<Comment>) -> usize {
    let mut by_post = group_by_key(comments, |c| c.post_id);
    let posts: Vec<(Post, Vec<Comment>)> = posts
        .into_iter()
        .map(|p| {
            let cs = by_post.remove(&p.id).unwrap_or_default();
            (p, cs)
        })
        .collect();
    let mut by_user = group_by_key(posts, |(p, _)| p.user_id);
    let out: crate::Tree<User, Post, Comment> = users
        .into_iter()
        .map(|u| {
            let ps = by_user.remove(&u.id).unwrap_or_default();
            (u, ps)
        })
        .collect();
    let n = crate::tree_len(&out);
    black_box(out);
    n
}

/// `?, ?, …` (or `$a, $b, …`) lists.
fn placeholders(pg: bool, start: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 4);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        if pg {
            s.push_str(&format!("${}", start + i));
        } else {
            s.push('?');
        }
    }
    s
}

/// `INSERT INTO users (name, hair_color) VALUES (?, ?), …` for `rows` rows.
fn insert_sql(pg: bool, rows: usize) -> String {
    let mut s = String::from("INSERT INTO users (name, hair_color) VALUES ");
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        if pg {
            s.push_str(&format!("(${}, ${})", 2 * r + 1, 2 * r + 2));
        } else {
            s.push_str("(?, ?)");
        }
    }
    s
}

/// `UPDATE users SET name = CASE id WHEN ? THEN ? … ELSE name END WHERE id IN (…)`.
fn bulk_update_sql(pg: bool, rows: usize) -> String {
    let mut s = String::from("UPDATE users SET name = CASE id");
    for r in 0..rows {
        if pg {
            s.push_str(&format!(" WHEN ${} THEN ${}::text", 2 * r + 1, 2 * r + 2));
        } else {
            s.push_str(" WHEN ? THEN ?");
        }
    }
    s.push_str(" ELSE name END WHERE id IN (");
    s.push_str(&placeholders(pg, 2 * rows + 1, rows));
    s.push(')');
    s
}

/// Rows per multi-row INSERT of two columns within a parameter limit.
fn rows_per_statement(max_params: usize) -> usize {
    max_params / 2
}

const SELECT_USERS: &str = "SELECT id, name, hair_color FROM users";
const SELECT_JOIN: &str = "SELECT u.id, u.name, u.hair_color, p.id, p.user_id, p.title, p.body \
                           FROM users u LEFT JOIN posts p ON u.id = p.user_id WHERE u.hair_color = ";
const UPDATE_USER: &str = "UPDATE users SET name = ?, hair_color = ? WHERE id = ?";
const DELETE_BLACK: &str = "DELETE FROM users WHERE hair_color = ?";
const DELETE_BLACK_CASCADE: &str = "DELETE FROM cascade_users WHERE hair_color = ?";

/// Opens the raw driver for `target`.
pub fn open(target: &Target) -> Result<Box<dyn Workloads>> {
    Ok(match target {
        Target::SqliteMemory | Target::SqliteFile(_) => Box::new(RawSqlite::open(target)?),
        Target::Postgres { .. } => Box::new(RawPostgres::open(target)?),
        Target::Mysql { .. } => Box::new(RawMysql::open(target)?),
    })
}

/// `rusqlite`, prepared statements cached, columns by index.
pub struct RawSqlite {
    conn: rusqlite::Connection,
    loaded: Vec<User>,
    insert_sql: HashMap<usize, String>,
}

/// Opens a rusqlite connection the way the benchmarks use SQLite: no per-call mutex
/// (rusqlite's default), a 5 s busy timeout, foreign keys enforced (as the ORM's connections
/// do: `delete_db_cascade` relies on them; the other tables have none), WAL and
/// `synchronous = NORMAL` for files.
pub fn open_rusqlite(target: &Target) -> Result<rusqlite::Connection> {
    let conn = match target {
        Target::SqliteFile(p) => {
            let c = rusqlite::Connection::open(p)?;
            c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
            c
        }
        _ => rusqlite::Connection::open_in_memory()?,
    };
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl RawSqlite {
    /// Opens the connection.
    pub fn open(target: &Target) -> Result<Self> {
        Ok(RawSqlite { conn: open_rusqlite(target)?, loaded: Vec::new(), insert_sql: HashMap::new() })
    }

    fn user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
        Ok(User { id: r.get(0)?, name: r.get(1)?, hair_color: r.get(2)? })
    }

    fn load_users(&self) -> Result<Vec<User>> {
        let mut stmt = self.conn.prepare_cached(SELECT_USERS)?;
        let rows = stmt.query_map([], Self::user)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn insert_rows(&mut self, n: usize) -> Result<usize> {
        let per = rows_per_statement(32766);
        let mut done = 0;
        while done < n {
            let rows = per.min(n - done);
            let sql = self.insert_sql.entry(rows).or_insert_with(|| insert_sql(false, rows));
            let mut stmt = self.conn.prepare_cached(sql)?;
            for r in 0..rows {
                stmt.raw_bind_parameter(2 * r + 1, user_name(done + r))?;
                stmt.raw_bind_parameter(2 * r + 2, INSERT_HAIR)?;
            }
            stmt.raw_execute()?;
            done += rows;
        }
        Ok(n)
    }
}

impl Workloads for RawSqlite {
    fn name(&self) -> &'static str {
        "raw"
    }

    fn exec(&mut self, statements: &[String]) -> Result<()> {
        for s in statements {
            self.conn.execute_batch(s)?;
        }
        Ok(())
    }

    fn trivial_query(&mut self) -> Result<usize> {
        let users = self.load_users()?;
        Ok(black_box(users).len())
    }

    fn medium_complex_query(&mut self) -> Result<usize> {
        let mut stmt = self.conn.prepare_cached(&format!("{SELECT_JOIN}?"))?;
        let rows = stmt
            .query_map(["black"], |r| {
                let user = Self::user(r)?;
                let post = match r.get::<_, Option<i64>>(3)? {
                    Some(id) => Some(Post { id, user_id: r.get(4)?, title: r.get(5)?, body: r.get(6)? }),
                    None => None,
                };
                Ok((user, post))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(black_box(rows).len())
    }

    fn associations(&mut self) -> Result<usize> {
        let users = self.load_users()?;
        let sql = format!(
            "SELECT id, user_id, title, body FROM posts WHERE user_id IN ({})",
            placeholders(false, 1, users.len())
        );
        let posts = {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            for (i, u) in users.iter().enumerate() {
                stmt.raw_bind_parameter(i + 1, u.id)?;
            }
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(Post { id: r.get(0)?, user_id: r.get(1)?, title: r.get(2)?, body: r.get(3)? });
            }
            out
        };
        let sql = format!(
            "SELECT id, post_id, text FROM comments WHERE post_id IN ({})",
            placeholders(false, 1, posts.len())
        );
        let comments = {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            for (i, p) in posts.iter().enumerate() {
                stmt.raw_bind_parameter(i + 1, p.id)?;
            }
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(Comment { id: r.get(0)?, post_id: r.get(1)?, text: r.get(2)? });
            }
            out
        };
        Ok(group(users, posts, comments))
    }

    fn insert(&mut self, n: usize) -> Result<usize> {
        self.insert_rows(n)
    }

    fn batch_insert(&mut self, n: usize) -> Result<usize> {
        self.conn.execute_batch("BEGIN")?;
        let r = self.insert_rows(n);
        self.conn.execute_batch(if r.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
        r
    }

    fn load_for_update(&mut self) -> Result<usize> {
        self.loaded = self.load_users()?;
        Ok(self.loaded.len())
    }

    fn update_by_pk(&mut self) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare_cached(UPDATE_USER)?;
            for u in &mut self.loaded {
                u.name = renamed(u.id, &u.name);
                n += stmt.execute(rusqlite::params![u.name, u.hair_color, u.id])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    fn bulk_update(&mut self) -> Result<usize> {
        for u in &mut self.loaded {
            u.name = renamed(u.id, &u.name);
        }
        let rows = self.loaded.len();
        let mut stmt = self.conn.prepare_cached(&bulk_update_sql(false, rows))?;
        for (r, u) in self.loaded.iter().enumerate() {
            stmt.raw_bind_parameter(2 * r + 1, u.id)?;
            stmt.raw_bind_parameter(2 * r + 2, &u.name)?;
            stmt.raw_bind_parameter(2 * rows + r + 1, u.id)?;
        }
        Ok(stmt.raw_execute()?)
    }

    fn delete(&mut self) -> Result<usize> {
        let mut stmt = self.conn.prepare_cached(DELETE_BLACK)?;
        Ok(stmt.execute(["black"])?)
    }

    fn delete_db_cascade(&mut self) -> Result<usize> {
        let mut stmt = self.conn.prepare_cached(DELETE_BLACK_CASCADE)?;
        Ok(stmt.execute(["black"])?)
    }

    fn stream(&mut self, on_row: &mut dyn FnMut(usize)) -> Result<usize> {
        let mut stmt = self.conn.prepare_cached(SELECT_USERS)?;
        let mut rows = stmt.query([])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            black_box(Self::user(r)?);
            n += 1;
            on_row(n);
        }
        Ok(n)
    }
}

/// The `postgres` crate: statements prepared once per connection.
pub struct RawPostgres {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
    loaded: Vec<User>,
}

type PgParam<'a> = &'a (dyn postgres::types::ToSql + Sync);

impl RawPostgres {
    /// Connects (no TLS) and puts the target's schema on the search path.
    pub fn open(target: &Target) -> Result<Self> {
        let Target::Postgres { url, schema } = target else { return crate::not_available("not a PostgreSQL target") };
        let mut client = postgres::Client::connect(crate::without_query(url), postgres::NoTls)?;
        client.batch_execute(&format!("SET search_path TO {schema}"))?;
        Ok(RawPostgres { client, statements: HashMap::new(), loaded: Vec::new() })
    }

    fn stmt(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    fn user(r: &postgres::Row) -> Result<User> {
        Ok(User { id: r.try_get(0)?, name: r.try_get(1)?, hair_color: r.try_get(2)? })
    }

    /// Runs a query and decodes its rows. `client.query` reads the whole result in one trip
    /// through the driver's runtime, which is much cheaper per row than `query_raw`'s
    /// row-at-a-time iterator; only `stream` needs the latter.
    fn for_each(
        &mut self,
        sql: &str,
        params: &[PgParam<'_>],
        mut f: impl FnMut(&postgres::Row) -> Result<()>,
    ) -> Result<()> {
        let stmt = self.stmt(sql)?;
        for r in &self.client.query(&stmt, params)? {
            f(r)?;
        }
        Ok(())
    }

    fn load_users(&mut self) -> Result<Vec<User>> {
        let mut out = Vec::new();
        self.for_each(SELECT_USERS, &[], |r| {
            out.push(Self::user(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    fn insert_rows(&mut self, n: usize, tx: bool) -> Result<usize> {
        let per = rows_per_statement(65535);
        let names: Vec<String> = (0..n).map(user_name).collect();
        let mut plan = Vec::new();
        let mut done = 0;
        while done < n {
            let rows = per.min(n - done);
            plan.push((done, rows, self.stmt(&insert_sql(true, rows))?));
            done += rows;
        }
        fn run(
            c: &mut impl postgres::GenericClient,
            names: &[String],
            plan: &[(usize, usize, postgres::Statement)],
        ) -> Result<()> {
            for (start, rows, stmt) in plan {
                let mut params: Vec<PgParam<'_>> = Vec::with_capacity(rows * 2);
                for name in &names[*start..start + rows] {
                    params.push(name);
                    params.push(&INSERT_HAIR);
                }
                c.execute(stmt, &params)?;
            }
            Ok(())
        }
        if tx {
            let mut t = self.client.transaction()?;
            run(&mut t, &names, &plan)?;
            t.commit()?;
        } else {
            run(&mut self.client, &names, &plan)?;
        }
        Ok(n)
    }
}

impl Workloads for RawPostgres {
    fn name(&self) -> &'static str {
        "raw"
    }

    fn exec(&mut self, statements: &[String]) -> Result<()> {
        for s in statements {
            self.client.batch_execute(s)?;
        }
        Ok(())
    }

    fn trivial_query(&mut self) -> Result<usize> {
        let users = self.load_users()?;
        Ok(black_box(users).len())
    }

    fn medium_complex_query(&mut self) -> Result<usize> {
        let mut out = Vec::new();
        self.for_each(&format!("{SELECT_JOIN}$1"), &[&"black"], |r| {
            let user = Self::user(r)?;
            let post = match r.try_get::<_, Option<i64>>(3)? {
                Some(id) => Some(Post { id, user_id: r.try_get(4)?, title: r.try_get(5)?, body: r.try_get(6)? }),
                None => None,
            };
            out.push((user, post));
            Ok(())
        })?;
        Ok(black_box(out).len())
    }

    fn associations(&mut self) -> Result<usize> {
        let users = self.load_users()?;
        let sql = format!(
            "SELECT id, user_id, title, body FROM posts WHERE user_id IN ({})",
            placeholders(true, 1, users.len())
        );
        let ids: Vec<PgParam<'_>> = users.iter().map(|u| &u.id as PgParam<'_>).collect();
        let mut posts = Vec::new();
        self.for_each(&sql, &ids, |r| {
            posts.push(Post { id: r.try_get(0)?, user_id: r.try_get(1)?, title: r.try_get(2)?, body: r.try_get(3)? });
            Ok(())
        })?;
        drop(ids);
        let sql =
            format!("SELECT id, post_id, text FROM comments WHERE post_id IN ({})", placeholders(true, 1, posts.len()));
        let ids: Vec<PgParam<'_>> = posts.iter().map(|p| &p.id as PgParam<'_>).collect();
        let mut comments = Vec::new();
        self.for_each(&sql, &ids, |r| {
            comments.push(Comment { id: r.try_get(0)?, post_id: r.try_get(1)?, text: r.try_get(2)? });
            Ok(())
        })?;
        drop(ids);
        Ok(group(users, posts, comments))
    }

    fn insert(&mut self, n: usize) -> Result<usize> {
        self.insert_rows(n, false)
    }

    fn batch_insert(&mut self, n: usize) -> Result<usize> {
        self.insert_rows(n, true)
    }

    fn load_for_update(&mut self) -> Result<usize> {
        self.loaded = self.load_users()?;
        Ok(self.loaded.len())
    }

    fn update_by_pk(&mut self) -> Result<usize> {
        let stmt = self.stmt("UPDATE users SET name = $1, hair_color = $2 WHERE id = $3")?;
        let mut tx = self.client.transaction()?;
        let mut n = 0;
        for u in &mut self.loaded {
            u.name = renamed(u.id, &u.name);
            n += tx.execute(&stmt, &[&u.name, &u.hair_color, &u.id])? as usize;
        }
        tx.commit()?;
        Ok(n)
    }

    fn bulk_update(&mut self) -> Result<usize> {
        for u in &mut self.loaded {
            u.name = renamed(u.id, &u.name);
        }
        let rows = self.loaded.len();
        let stmt = self.stmt(&bulk_update_sql(true, rows))?;
        let mut params: Vec<PgParam<'_>> = Vec::with_capacity(rows * 3);
        for u in &self.loaded {
            params.push(&u.id);
            params.push(&u.name);
        }
        for u in &self.loaded {
            params.push(&u.id);
        }
        Ok(self.client.execute(&stmt, &params)? as usize)
    }

    fn delete(&mut self) -> Result<usize> {
        let stmt = self.stmt("DELETE FROM users WHERE hair_color = $1")?;
        Ok(self.client.execute(&stmt, &[&"black"])? as usize)
    }

    fn delete_db_cascade(&mut self) -> Result<usize> {
        let stmt = self.stmt("DELETE FROM cascade_users WHERE hair_color = $1")?;
        Ok(self.client.execute(&stmt, &[&"black"])? as usize)
    }

    fn stream(&mut self, on_row: &mut dyn FnMut(usize)) -> Result<usize> {
        use postgres::fallible_iterator::FallibleIterator;
        let stmt = self.stmt(SELECT_USERS)?;
        let mut rows = self.client.query_raw(&stmt, std::iter::empty::<PgParam<'_>>())?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            black_box(Self::user(&r)?);
            n += 1;
            on_row(n);
        }
        Ok(n)
    }
}

/// The `mysql` crate: statements prepared once per connection, binary protocol, rows read as
/// they arrive.
pub struct RawMysql {
    conn: mysql::Conn,
    statements: HashMap<String, mysql::Statement>,
    loaded: Vec<User>,
}

fn take<T: mysql::prelude::FromValue>(row: &mut mysql::Row, i: usize) -> Result<T> {
    match row.take_opt::<T, usize>(i) {
        Some(r) => Ok(r?),
        None => Err(format!("no column {i}").into()),
    }
}

impl RawMysql {
    /// Connects to the target's database.
    pub fn open(target: &Target) -> Result<Self> {
        let Target::Mysql { url, database } = target else { return crate::not_available("not a MySQL target") };
        let opts = mysql::Opts::from_url(&crate::with_database(url, database))?;
        // Affected rows = rows matched (as the ORM's MySQL backend asks), so counts compare.
        // TCP as the URL says (the driver would otherwise switch to the Unix socket), like the
        // ORM and the peers.
        let opts = mysql::OptsBuilder::from_opts(opts)
            .prefer_socket(false)
            .additional_capabilities(mysql::consts::CapabilityFlags::CLIENT_FOUND_ROWS);
        let mut conn = mysql::Conn::new(opts)?;
        // Results in the tables' character set, as the ORM, Diesel and sqlx ask for (else the
        // server converts every text cell).
        mysql::prelude::Queryable::query_drop(&mut conn, "SET NAMES utf8mb4")?;
        Ok(RawMysql { conn, statements: HashMap::new(), loaded: Vec::new() })
    }

    fn stmt(&mut self, sql: &str) -> Result<mysql::Statement> {
        use mysql::prelude::Queryable;
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.conn.prep(sql)?;
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    fn user(r: &mut mysql::Row) -> Result<User> {
        Ok(User { id: take(r, 0)?, name: take(r, 1)?, hair_color: take(r, 2)? })
    }

    fn for_each(
        &mut self,
        sql: &str,
        params: Vec<mysql::Value>,
        mut f: impl FnMut(mysql::Row) -> Result<()>,
    ) -> Result<()> {
        use mysql::prelude::Queryable;
        let stmt = self.stmt(sql)?;
        let params = if params.is_empty() { mysql::Params::Empty } else { mysql::Params::Positional(params) };
        for row in self.conn.exec_iter(&stmt, params)? {
            f(row?)?;
        }
        Ok(())
    }

    fn load_users(&mut self) -> Result<Vec<User>> {
        let mut out = Vec::new();
        self.for_each(SELECT_USERS, Vec::new(), |mut r| {
            out.push(Self::user(&mut r)?);
            Ok(())
        })?;
        Ok(out)
    }

    fn exec_stmt(&mut self, sql: &str, params: Vec<mysql::Value>) -> Result<usize> {
        use mysql::prelude::Queryable;
        let stmt = self.stmt(sql)?;
        self.conn.exec_drop(&stmt, mysql::Params::Positional(params))?;
        Ok(self.conn.affected_rows() as usize)
    }

    fn insert_rows(&mut self, n: usize) -> Result<usize> {
        let per = rows_per_statement(65535);
        let mut done = 0;
        while done < n {
            let rows = per.min(n - done);
            let mut params = Vec::with_capacity(rows * 2);
            for r in 0..rows {
                params.push(mysql::Value::from(user_name(done + r)));
                params.push(mysql::Value::from(INSERT_HAIR));
            }
            self.exec_stmt(&insert_sql(false, rows), params)?;
            done += rows;
        }
        Ok(n)
    }

    fn query(&mut self, sql: &str) -> Result<()> {
        use mysql::prelude::Queryable;
        Ok(self.conn.query_drop(sql)?)
    }
}

impl Workloads for RawMysql {
    fn name(&self) -> &'static str {
        "raw"
    }

    fn exec(&mut self, statements: &[String]) -> Result<()> {
        for s in statements {
            self.query(s)?;
        }
        Ok(())
    }

    fn trivial_query(&mut self) -> Result<usize> {
        let users = self.load_users()?;
        Ok(black_box(users).len())
    }

    fn medium_complex_query(&mut self) -> Result<usize> {
        let mut out = Vec::new();
        self.for_each(&format!("{SELECT_JOIN}?"), vec!["black".into()], |mut r| {
            let user = Self::user(&mut r)?;
            let post = match take::<Option<i64>>(&mut r, 3)? {
                Some(id) => {
                    Some(Post { id, user_id: take(&mut r, 4)?, title: take(&mut r, 5)?, body: take(&mut r, 6)? })
                }
                None => None,
            };
            out.push((user, post));
            Ok(())
        })?;
        Ok(black_box(out).len())
    }

    fn associations(&mut self) -> Result<usize> {
        let users = self.load_users()?;
        let sql = format!(
            "SELECT id, user_id, title, body FROM posts WHERE user_id IN ({})",
            placeholders(false, 1, users.len())
        );
        let mut posts = Vec::new();
        self.for_each(&sql, users.iter().map(|u| u.id.into()).collect(), |mut r| {
            posts.push(Post {
                id: take(&mut r, 0)?,
                user_id: take(&mut r, 1)?,
                title: take(&mut r, 2)?,
                body: take(&mut r, 3)?,
            });
            Ok(())
        })?;
        let sql = format!(
            "SELECT id, post_id, text FROM comments WHERE post_id IN ({})",
            placeholders(false, 1, posts.len())
        );
        let mut comments = Vec::new();
        self.for_each(&sql, posts.iter().map(|p| p.id.into()).collect(), |mut r| {
            comments.push(Comment { id: take(&mut r, 0)?, post_id: take(&mut r, 1)?, text: take(&mut r, 2)? });
            Ok(())
        })?;
        Ok(group(users, posts, comments))
    }

    fn insert(&mut self, n: usize) -> Result<usize> {
        self.insert_rows(n)
    }

    fn batch_insert(&mut self, n: usize) -> Result<usize> {
        self.query("START TRANSACTION")?;
        let r = self.insert_rows(n);
        self.query(if r.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
        r
    }

    fn load_for_update(&mut self) -> Result<usize> {
        self.loaded = self.load_users()?;
        Ok(self.loaded.len())
    }

    fn update_by_pk(&mut self) -> Result<usize> {
        self.query("START TRANSACTION")?;
        let mut n = 0;
        let mut loaded = std::mem::take(&mut self.loaded);
        for u in &mut loaded {
            u.name = renamed(u.id, &u.name);
            let params = vec![u.name.clone().into(), u.hair_color.clone().into(), u.id.into()];
            n += self.exec_stmt(UPDATE_USER, params)?;
        }
        self.loaded = loaded;
        self.query("COMMIT")?;
        Ok(n)
    }

    fn bulk_update(&mut self) -> Result<usize> {
        for u in &mut self.loaded {
            u.name = renamed(u.id, &u.name);
        }
        let rows = self.loaded.len();
        let mut params: Vec<mysql::Value> = Vec::with_capacity(rows * 3);
        for u in &self.loaded {
            params.push(u.id.into());
            params.push(u.name.clone().into());
        }
        for u in &self.loaded {
            params.push(u.id.into());
        }
        self.exec_stmt(&bulk_update_sql(false, rows), params)
    }

    fn delete(&mut self) -> Result<usize> {
        self.exec_stmt(DELETE_BLACK, vec!["black".into()])
    }

    fn delete_db_cascade(&mut self) -> Result<usize> {
        self.exec_stmt(DELETE_BLACK_CASCADE, vec!["black".into()])
    }

    fn stream(&mut self, on_row: &mut dyn FnMut(usize)) -> Result<usize> {
        let mut n = 0;
        self.for_each(SELECT_USERS, Vec::new(), |mut r| {
            black_box(Self::user(&mut r)?);
            n += 1;
            on_row(n);
            Ok(())
        })?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_shapes() {
        assert_eq!(insert_sql(true, 2), "INSERT INTO users (name, hair_color) VALUES ($1, $2), ($3, $4)");
        assert_eq!(
            bulk_update_sql(false, 2),
            "UPDATE users SET name = CASE id WHEN ? THEN ? WHEN ? THEN ? ELSE name END WHERE id IN (?, ?)"
        );
        assert_eq!(
            bulk_update_sql(true, 1),
            "UPDATE users SET name = CASE id WHEN $1 THEN $2::text ELSE name END WHERE id IN ($3)"
        );
    }
}
