//! The cross-backend test harness (feature `testing`).
//!
//! [`backend_test!`](crate::backend_test) turns one body into three tests named
//! `<name>::sqlite`, `<name>::postgres` and `<name>::mysql`, so `cargo test postgres` selects
//! a backend. Each run gets its own database:
//!
//! - SQLite: a fresh file in the temporary directory (so a pool of several connections works),
//!   removed afterwards;
//! - PostgreSQL: a fresh schema, put first on every pooled connection's `search_path`, dropped
//!   with `CASCADE` afterwards;
//! - MySQL: a fresh database, dropped afterwards.
//!
//! Names come from the test's path, hashed to fit the 63/64-character limits. PostgreSQL and
//! MySQL run only when `ORM_TEST_POSTGRES` / `ORM_TEST_MYSQL` hold a URL; otherwise the test
//! prints that it was skipped and passes. A configured server that cannot be reached fails the
//! test with the connection error, within the connect timeout.

use crate::connect::connect_with;
use crate::connection::Connection;
use crate::error::Result;
use crate::pool::Pool;
use crate::url::{Backend, ConnectOptions, SqliteTarget};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

/// What a test body returns: `?` works on any error.
pub type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// The environment variable holding the URL of `backend`'s test server.
pub fn env_var(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some("ORM_TEST_POSTGRES"),
        Backend::Mysql => Some("ORM_TEST_MYSQL"),
    }
}

/// An isolated database for one test; dereferences to its [`Pool`] and is removed on drop.
pub struct TestDb {
    pool: Option<Pool>,
    backend: Backend,
    name: String,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Server(Box<ConnectOptions>),
}

impl std::ops::Deref for TestDb {
    type Target = Pool;
    fn deref(&self) -> &Pool {
        self.pool.as_ref().expect("the pool lives until drop")
    }
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("backend", &self.backend).field("name", &self.name).finish()
    }
}

fn isolated_name(test: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    test.hash(&mut h);
    std::process::id().hash(&mut h);
    let mut parts = test.rsplit("::");
    let last = parts.next().unwrap_or("t");
    let tail_src = match parts.next() {
        Some(name) => format!("{name}_{last}"),
        None => last.to_owned(),
    };
    let tail: String = tail_src
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(30)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("t_{:016x}_{tail}", h.finish())
}

impl TestDb {
    /// Opens an isolated database for the test at `path` on `backend`. `Ok(None)` means the
    /// backend is not configured (the reason is printed). A configured server that cannot be
    /// reached is an error.
    pub fn open(backend: Backend, path: &str) -> Result<Option<TestDb>> {
        let name = isolated_name(path);
        match backend {
            Backend::Sqlite => {
                let file = std::env::temp_dir().join(format!("orm_{name}.db"));
                remove_sqlite_files(&file);
                let mut options = ConnectOptions::parse("sqlite::memory:")?;
                options.sqlite = Some(SqliteTarget::File(file.to_string_lossy().into_owned()));
                options.pool_size = 4;
                let pool = Pool::new(options)?;
                Ok(Some(TestDb { pool: Some(pool), backend, name, cleanup: Cleanup::File(file) }))
            }
            Backend::Postgres | Backend::Mysql => {
                let var = env_var(backend).expect("servers have a variable");
                let url = match std::env::var(var) {
                    Ok(u) if !u.trim().is_empty() => u,
                    _ => {
                        eprintln!("skipped: {path} on {}: {var} is not set", backend.name());
                        return Ok(None);
                    }
                };
                let admin_options = ConnectOptions::parse(&url)?;
                let mut admin = connect_with(&admin_options)?;
                let mut options = admin_options.clone();
                options.pool_size = 4;
                if backend == Backend::Postgres {
                    admin.execute_batch(&format!(
                        "DROP SCHEMA IF EXISTS \"{name}\" CASCADE; CREATE SCHEMA \"{name}\""
                    ))?;
                    options.search_path = Some(name.clone());
                } else {
                    admin.execute_batch(&format!(
                        "DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    ))?;
                    options.database = Some(name.clone());
                }
                let pool = Pool::new(options)?;
                Ok(Some(TestDb { pool: Some(pool), backend, name, cleanup: Cleanup::Server(Box::new(admin_options)) }))
            }
        }
    }

    /// The backend under test.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The isolated schema, database or file stem.
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn remove_sqlite_files(file: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = file.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        drop(self.pool.take());
        match &self.cleanup {
            Cleanup::File(f) => remove_sqlite_files(f),
            Cleanup::Server(options) => {
                if let Ok(mut admin) = connect_with(options) {
                    let sql = match self.backend {
                        Backend::Postgres => format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name),
                        _ => format!("DROP DATABASE IF EXISTS `{}`", self.name),
                    };
                    let _ = admin.execute_batch(&sql);
                }
            }
        }
    }
}

/// Runs `body` against an isolated database on `backend`; used by [`backend_test!`](crate::backend_test).
///
/// # Panics
///
/// When the body fails, or the configured server cannot be reached: that is the test failing.
pub fn run(backend: Backend, path: &str, body: fn(&TestDb) -> TestResult) {
    let db = match TestDb::open(backend, path) {
        Ok(Some(db)) => db,
        Ok(None) => return,
        Err(e) => {
            let var = env_var(backend).unwrap_or("sqlite");
            panic!("{path} on {}: cannot set up the test database ({var}): {e}", backend.name())
        }
    };
    if let Err(e) = body(&db) {
        panic!("{path} on {} failed: {e}", backend.name());
    }
}

/// Defines one test body run on every backend, as a module with tests `sqlite`, `postgres`
/// and `mysql`.
///
/// Not run as a doctest: the macro expands to `#[test]` functions, which a doctest compiles
/// but never calls; the integration suite under `tests/suite` is its real test.
///
/// ```ignore
/// backend_test! {
///     fn counts_rows(db: &TestDb) {
///         let mut conn = db.get()?;
///         // ...
///         Ok(())
///     }
/// }
/// ```
#[macro_export]
macro_rules! backend_test {
    ($(#[$meta:meta])* fn $name:ident($db:ident : &$ty:ty) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($db: &$ty) -> $crate::testing::TestResult $body
            #[test]
            fn sqlite() {
                $crate::testing::run($crate::Backend::Sqlite, concat!(module_path!(), "::sqlite"), body)
            }
            #[test]
            fn postgres() {
                $crate::testing::run($crate::Backend::Postgres, concat!(module_path!(), "::postgres"), body)
            }
            #[test]
            fn mysql() {
                $crate::testing::run($crate::Backend::Mysql, concat!(module_path!(), "::mysql"), body)
            }
        }
    };
}
