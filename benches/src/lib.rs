//! # orm-benches: the ORM side by side with the raw drivers and peer ORMs
//!
//! The workloads of Diesel's benchmark suite (diesel_bench), plus bulk writes and streaming,
//! each implemented by:
//!
//! - [`raw`]: the raw drivers (`rusqlite` with cached prepared statements and columns read by
//!   index, `postgres`, `mysql`): the physical limit;
//! - [`orm_impl`]: this ORM, through its public API only;
//! - `diesel_impl` and `seaorm_impl` (Diesel 2; SeaORM 2 in its async sqlx flavour on a
//!   current-thread tokio runtime), behind the cargo feature `peers`.
//!
//! All of them read and write the same three tables ([`schema`]):
//! `users(id, name not null, hair_color null)`, `posts(id, user_id, title, body null)` and
//! `comments(id, post_id, text)`; `delete_db_cascade` uses their twins `cascade_users`,
//! `cascade_posts` and `cascade_comments`, whose foreign keys carry `ON DELETE CASCADE`.
//!
//! [`harness`] runs a workload on every implementation, interleaved, and takes medians;
//! [`report`] renders the Markdown table and the SVG chart. The binaries are `report` (the
//! command users run) and `stream_memory` (peak RSS while streaming through a QuerySet); the
//! criterion bench (`cargo bench -p orm-benches`) reuses the same workload functions.
//!
//! ## Departures
//!
//! - SeaORM's sync (rusqlite) flavour, `sea-orm-sync` 2.0.x, needs `rusqlite` 0.38
//!   (`libsqlite3-sys` 0.36) through `sea-query-rusqlite` 0.8; the workspace is on `rusqlite`
//!   0.37 (`libsqlite3-sys` 0.35), and two `libsqlite3-sys` versions cannot link into one
//!   binary (`links = "sqlite3"`). The `sea-orm` column is therefore the async sqlx flavour.

pub mod harness;
pub mod orm_impl;
pub mod raw;
pub mod report;
pub mod rss;
pub mod schema;

#[cfg(feature = "peers")]
pub mod diesel_impl;
#[cfg(feature = "peers")]
pub mod seaorm_impl;

use std::collections::HashMap;
use std::fmt;

/// The error type of the benchmarks: anything, boxed.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The result type of the benchmarks.
pub type Result<T> = std::result::Result<T, Error>;

/// A workload an implementation cannot run faithfully: the reason is printed in the report
/// (`na`) and the harness moves on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAvailable(pub String);

impl fmt::Display for NotAvailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not available: {}", self.0)
    }
}

impl std::error::Error for NotAvailable {}

/// Returns a [`NotAvailable`] error with `reason`.
pub fn not_available<T>(reason: impl Into<String>) -> Result<T> {
    Err(Box::new(NotAvailable(reason.into())))
}

/// Where the benchmarks run: which database, and how each implementation reaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// SQLite in memory: each implementation has its own private database.
    SqliteMemory,
    /// One SQLite file shared by all implementations (WAL, `synchronous = NORMAL`).
    SqliteFile(std::path::PathBuf),
    /// A PostgreSQL schema.
    Postgres {
        /// The server URL as given (`postgres://user@host:port/db`, no query string).
        url: String,
        /// The schema every connection puts first on its `search_path`.
        schema: String,
    },
    /// A MySQL/MariaDB database.
    Mysql {
        /// The server URL as given (`mysql://user@host:port/db`).
        url: String,
        /// The database the benchmarks use instead of the URL's.
        database: String,
    },
}

impl Target {
    /// The label in the report's `backend` column.
    pub fn label(&self) -> &'static str {
        match self {
            Target::SqliteMemory => "sqlite-mem",
            Target::SqliteFile(_) => "sqlite-file",
            Target::Postgres { .. } => "postgres",
            Target::Mysql { .. } => "mysql",
        }
    }

    /// The SQL dialect.
    pub fn dialect(&self) -> orm::Dialect {
        match self {
            Target::SqliteMemory | Target::SqliteFile(_) => orm::Dialect::Sqlite,
            Target::Postgres { .. } => orm::Dialect::Postgres,
            Target::Mysql { .. } => orm::Dialect::Mysql,
        }
    }

    /// Do all implementations see the same data (one file, schema or database)? In memory,
    /// each implementation has its own database.
    pub fn shared(&self) -> bool {
        !matches!(self, Target::SqliteMemory)
    }

    /// The URL with the database path replaced by `database` (MySQL), or with `search_path`
    /// added (PostgreSQL, as the ORM's URL parameter); SQLite URLs for the ORM.
    pub fn orm_url(&self) -> String {
        match self {
            Target::SqliteMemory => "sqlite::memory:".to_owned(),
            Target::SqliteFile(p) => format!("sqlite://{}", p.display()),
            Target::Postgres { url, schema } => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}search_path={schema}")
            }
            Target::Mysql { url, database } => with_database(url, database),
        }
    }
}

/// `url` with its path (the database name) replaced by `database`; the query string is kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..].find('/').map(|i| scheme_end + i).unwrap_or(base.len());
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// `url` without its query string (drivers that do not know the ORM's parameters).
pub fn without_query(url: &str) -> &str {
    url.split_once('?').map(|(b, _)| b).unwrap_or(url)
}

/// One implementation of every workload, holding its own connection to a [`Target`].
///
/// Each method runs one iteration of a workload against data the harness has put in place
/// (see [`schema`]) and returns a count (rows loaded, inserted, updated or deleted), which
/// the harness compares across implementations so that all of them do the same work. A
/// workload an implementation cannot do faithfully returns [`NotAvailable`].
pub trait Workloads {
    /// The implementation's column in the report (`raw`, `orm`, `diesel`, `sea-orm`).
    fn name(&self) -> &'static str;

    /// Runs setup statements (untimed), each without parameters, on this implementation's
    /// connection.
    fn exec(&mut self, statements: &[String]) -> Result<()>;

    /// `trivial_query`: loads every user into structs.
    fn trivial_query(&mut self) -> Result<usize>;

    /// `medium_complex_query`: users LEFT JOIN posts where `hair_color = 'black'` (bound),
    /// into `(User, Option<Post>)`.
    fn medium_complex_query(&mut self) -> Result<usize>;

    /// `loading_associations_sequentially`: users, their posts, their comments, grouped
    /// into `(User, Vec<(Post, Vec<Comment>)>)`. Returns users + posts + comments.
    fn associations(&mut self) -> Result<usize>;

    /// `insert`: inserts `n` users (`name = "User {i}"`, `hair_color = "hair_color"`) the way
    /// the library does it idiomatically.
    fn insert(&mut self, n: usize) -> Result<usize>;

    /// `batch_insert`: inserts `n` users in one transaction, with multi-row statements split
    /// at the parameter limit.
    fn batch_insert(&mut self, n: usize) -> Result<usize>;

    /// Loads every user into structs kept for [`update_by_pk`](Self::update_by_pk) and
    /// [`bulk_update`](Self::bulk_update) (untimed).
    fn load_for_update(&mut self) -> Result<usize>;

    /// `update_by_pk`: renames each loaded user and writes it back by primary key, one
    /// statement per row, in one transaction.
    fn update_by_pk(&mut self) -> Result<usize>;

    /// `bulk_update`: renames each loaded user and writes the names back in as few
    /// statements as the library allows.
    fn bulk_update(&mut self) -> Result<usize>;

    /// `delete`: deletes the users whose `hair_color = 'black'` (bound); returns how many.
    fn delete(&mut self) -> Result<usize>;

    /// `delete_db_cascade`: deletes the `cascade_users` whose `hair_color = 'black'` (bound);
    /// the database's `ON DELETE CASCADE` takes their posts and comments (see
    /// [`schema::fill_cascade`]). Returns how many users.
    fn delete_db_cascade(&mut self) -> Result<usize>;

    /// `stream`: iterates every user as rows arrive, calling `on_row` with the running count
    /// after each one (for RSS sampling); returns the count.
    fn stream(&mut self, on_row: &mut dyn FnMut(usize)) -> Result<usize>;
}

/// Groups `items` by an `i64` key (the grouping step of the association workloads).
pub fn group_by_key<T>(items: Vec<T>, key: impl Fn(&T) -> i64) -> HashMap<i64, Vec<T>> {
    let mut out: HashMap<i64, Vec<T>> = HashMap::new();
    for item in items {
        out.entry(key(&item)).or_default().push(item);
    }
    out
}

/// Users with their posts with their comments: what the association workload builds.
pub type Tree<U, P, C> = Vec<(U, Vec<(P, Vec<C>)>)>;

/// Users + posts + comments in a [`Tree`].
pub fn tree_len<U, P, C>(t: &Tree<U, P, C>) -> usize {
    t.len() + t.iter().map(|(_, ps)| ps.len() + ps.iter().map(|(_, cs)| cs.len()).sum::<usize>()).sum::<usize>()
}

/// The name a renamed user gets in `update_by_pk` and `bulk_update`, given its `current` one:
/// `User {id} renamed A`, or `… B` when it already is the `A` one. Every iteration changes
/// every row: with one fixed name, MySQL and MariaDB (which skip the write of a row whose
/// values do not change) did real writes only in the first iteration after the data was
/// filled and no-ops after it, so a measurement's time depended on how many of its
/// iterations came after the first, and on the server's background work left by the
/// refill, swinging `update_by_pk`'s orm/raw between 0.4 and 3.0 from run to run.
pub fn renamed(id: i64, current: &str) -> String {
    let next = if current.ends_with(" renamed A") { 'B' } else { 'A' };
    format!("User {id} renamed {next}")
}

/// The name of the `i`-th inserted user.
pub fn user_name(i: usize) -> String {
    format!("User {i}")
}

/// The hair colour the insert workloads give every user.
pub const INSERT_HAIR: &str = "hair_color";

/// Opens every implementation this build has for `target`, in report order (raw, orm, then
/// the peers).
pub fn open_all(target: &Target) -> Vec<(&'static str, Result<Box<dyn Workloads>>)> {
    IMPLEMENTATIONS
        .iter()
        .filter(|n| cfg!(feature = "peers") || matches!(**n, "raw" | "orm"))
        .map(|n| (*n, open_impl(n, target)))
        .collect()
}

/// Opens the implementation called `name` (`raw`, `orm`, and with `peers` `diesel`, `sea-orm`).
pub fn open_impl(name: &str, target: &Target) -> Result<Box<dyn Workloads>> {
    match name {
        "raw" => raw::open(target),
        "orm" => Ok(Box::new(orm_impl::OrmBench::open(target)?)),
        #[cfg(feature = "peers")]
        "diesel" => diesel_impl::open(target),
        #[cfg(feature = "peers")]
        "sea-orm" => Ok(Box::new(seaorm_impl::SeaOrmBench::open(target)?)),
        other => not_available(format!("no implementation `{other}` in this build")),
    }
}

/// The implementation names of the report's columns, in order.
pub const IMPLEMENTATIONS: [&str; 4] = ["raw", "orm", "diesel", "sea-orm"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(with_database("mysql://root@127.0.0.1:3306/test", "b"), "mysql://root@127.0.0.1:3306/b");
        assert_eq!(with_database("mysql://root@h/test?x=1", "b"), "mysql://root@h/b?x=1");
        assert_eq!(with_database("mysql://root@h", "b"), "mysql://root@h/b");
        let t = Target::Postgres { url: "postgres://p@h/test".into(), schema: "s".into() };
        assert_eq!(t.orm_url(), "postgres://p@h/test?search_path=s");
        assert_eq!(without_query("postgres://p@h/t?a=b"), "postgres://p@h/t");
    }
}
