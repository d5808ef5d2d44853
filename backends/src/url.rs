//! Database URLs → [`ConnectOptions`].
//!
//! Accepted forms:
//!
//! | URL | meaning |
//! |---|---|
//! | `sqlite::memory:` | a private in-memory database |
//! | `sqlite://path/to/file.db`, `sqlite:path.db`, `sqlite:///abs/path.db` | a file (created if missing) |
//! | `postgres://user:pass@host:port/db` (or `postgresql://`) | PostgreSQL |
//! | `mysql://user:pass@host:port/db` (or `mariadb://`) | MySQL / MariaDB |
//!
//! Query parameters: `connect_timeout=<seconds>` (all servers; default 5), `search_path=<schema>`
//! (PostgreSQL), `pool_size=<n>` (all), and the pool's clocks in seconds: `checkout_timeout`
//! (default 30), `max_lifetime`, `idle_timeout` (none by default), `health_check` (ping a
//! server connection idle longer than this before handing it out; default 1, `0` for never).
//! Errors name the part of the URL that is wrong.

use crate::error::{Error, ErrorKind, Result};
use std::time::Duration;

/// Which database engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite (embedded).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl Backend {
    /// The lower-case name used in URLs and test names.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        }
    }
}

/// Where a SQLite database lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SqliteTarget {
    /// `sqlite::memory:`: private to one connection (the pool keeps exactly one).
    Memory,
    /// A named shared-cache memory database, visible to every connection of this process that
    /// opens the same name.
    SharedMemory(String),
    /// A file path.
    File(String),
}

/// Parsed connection options for one database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The engine.
    pub backend: Backend,
    /// For SQLite: where the database is.
    pub sqlite: Option<SqliteTarget>,
    /// Server host (PostgreSQL, MySQL).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password.
    pub password: Option<String>,
    /// Database name.
    pub database: Option<String>,
    /// PostgreSQL schema to put first on `search_path`.
    pub search_path: Option<String>,
    /// How long connecting may take before it fails.
    pub connect_timeout: Duration,
    /// Maximum pooled connections.
    pub pool_size: u32,
    /// How long a checkout waits for a connection when all are in use (default 30 s, or the
    /// connect timeout if longer).
    pub checkout_timeout: Duration,
    /// A pooled connection older than this is closed instead of handed out (none by
    /// default: Django's `CONN_MAX_AGE = None`).
    pub max_lifetime: Option<Duration>,
    /// A connection idle in the pool for longer than this is closed instead of handed out
    /// (none by default).
    pub idle_timeout: Option<Duration>,
    /// A server connection idle for longer than this is pinged (`SELECT 1`) before it is
    /// handed out, and replaced if the server has closed it (Django's `CONN_HEALTH_CHECKS`);
    /// default 1 s; `health_check=0` turns it off. SQLite has no server to lose and is never
    /// pinged.
    pub health_check_after: Option<Duration>,
}

fn bad(msg: String) -> Error {
    Error::new(ErrorKind::InvalidUrl, msg)
}

/// A URL parameter holding a positive number of seconds.
fn seconds(name: &str, v: &str) -> Result<Duration> {
    v.parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| bad(format!("{name} `{v}` is not a positive number of seconds")))
}

fn percent_decode(s: &str, part: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("bad percent-escape in the {part} of the URL")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad(format!("the {part} of the URL is not UTF-8 after percent-decoding")))
}

impl ConnectOptions {
    /// Parses a database URL.
    ///
    /// ```
    /// use orm_backends::{Backend, ConnectOptions};
    /// let o = ConnectOptions::parse("postgres://postgres@127.0.0.1:5432/test").unwrap();
    /// assert_eq!((o.backend, o.port, o.database.as_deref()), (Backend::Postgres, 5432, Some("test")));
    /// let e = ConnectOptions::parse("postgres://h:notaport/db").unwrap_err();
    /// assert!(e.to_string().contains("port"), "{e}");
    /// ```
    pub fn parse(url: &str) -> Result<Self> {
        let url = url.trim();
        let (scheme, rest) = url
            .split_once(':')
            .ok_or_else(|| bad(format!("`{url}` has no scheme; expected sqlite:, postgres:// or mysql://")))?;
        let backend = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite3" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            "mysql" | "mariadb" => Backend::Mysql,
            other => {
                return Err(bad(format!(
                    "unknown scheme `{other}`; expected one of sqlite, postgres, postgresql, mysql, mariadb"
                )))
            }
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let mut o = ConnectOptions {
            backend,
            sqlite: None,
            host: "127.0.0.1".into(),
            port: match backend {
                Backend::Postgres => 5432,
                Backend::Mysql => 3306,
                Backend::Sqlite => 0,
            },
            user: match backend {
                Backend::Postgres => "postgres".into(),
                _ => "root".into(),
            },
            password: None,
            database: None,
            search_path: None,
            connect_timeout: Duration::from_secs(5),
            pool_size: 8,
            checkout_timeout: Duration::from_secs(30),
            max_lifetime: None,
            idle_timeout: None,
            health_check_after: Some(Duration::from_secs(1)),
        };
        if backend == Backend::Sqlite {
            if rest.is_empty() || rest == "//" {
                return Err(bad("a sqlite URL needs a path (sqlite://file.db) or :memory: (sqlite::memory:)".into()));
            }
            let target = if rest == ":memory:" || rest == "//:memory:" {
                SqliteTarget::Memory
            } else if let Some(name) = rest.strip_prefix(":memory:").or_else(|| rest.strip_prefix("//:memory:")) {
                let name = name.trim_start_matches('/');
                if name.is_empty() {
                    SqliteTarget::Memory
                } else {
                    SqliteTarget::SharedMemory(name.to_owned())
                }
            } else {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                SqliteTarget::File(percent_decode(path, "path")?)
            };
            o.sqlite = Some(target);
        } else {
            let rest =
                rest.strip_prefix("//").ok_or_else(|| bad(format!("a {scheme} URL must start with {scheme}://")))?;
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, ""),
            };
            let (userinfo, hostport) = match authority.rfind('@') {
                Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
                None => (None, authority),
            };
            if let Some(ui) = userinfo {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                if !u.is_empty() {
                    o.user = percent_decode(u, "user name")?;
                }
                o.password = p.map(|p| percent_decode(p, "password")).transpose()?;
            }
            let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
                let (h, after) =
                    h.split_once(']').ok_or_else(|| bad("unterminated `[` in the host part of the URL".into()))?;
                (h, after.strip_prefix(':'))
            } else {
                match hostport.rsplit_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (hostport, None),
                }
            };
            if host.is_empty() {
                return Err(bad(format!("the URL `{url}` has no host")));
            }
            o.host = host.to_owned();
            if let Some(p) = port {
                o.port =
                    p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                        bad(format!("invalid port `{p}` in the URL; expected a number from 1 to 65535"))
                    })?;
            }
            if !path.is_empty() {
                o.database = Some(percent_decode(path, "database name")?);
            }
        }
        for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| bad(format!("URL parameter `{pair}` has no `=`")))?;
            let v = percent_decode(v, "query")?;
            match k {
                "connect_timeout" => {
                    let secs: f64 = v
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s > 0.0)
                        .ok_or_else(|| bad(format!("connect_timeout `{v}` is not a positive number of seconds")))?;
                    o.connect_timeout = Duration::from_secs_f64(secs);
                }
                "checkout_timeout" => o.checkout_timeout = seconds(k, &v)?,
                "max_lifetime" => o.max_lifetime = Some(seconds(k, &v)?),
                "idle_timeout" => o.idle_timeout = Some(seconds(k, &v)?),
                "health_check" => {
                    o.health_check_after = match v.as_str() {
                        "0" | "false" | "off" => None,
                        _ => Some(seconds(k, &v)?),
                    }
                }
                "search_path" | "schema" => o.search_path = Some(v),
                "pool_size" => {
                    o.pool_size = v
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| bad(format!("pool_size `{v}` is not a positive integer")))?
                }
                "mode" | "cache" | "sslmode" => {}
                other => {
                    return Err(bad(format!(
                        "unknown URL parameter `{other}`; known: connect_timeout, search_path, pool_size, \
                         checkout_timeout, max_lifetime, idle_timeout, health_check"
                    )))
                }
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pools_clocks_are_url_parameters() {
        let o = ConnectOptions::parse(
            "postgres://h/db?checkout_timeout=2&max_lifetime=600&idle_timeout=0.5&health_check=0",
        )
        .unwrap();
        assert_eq!(o.checkout_timeout, Duration::from_secs(2));
        assert_eq!(o.max_lifetime, Some(Duration::from_secs(600)));
        assert_eq!(o.idle_timeout, Some(Duration::from_millis(500)));
        assert_eq!(o.health_check_after, None);
        let d = ConnectOptions::parse("mysql://h/db").unwrap();
        assert_eq!((d.max_lifetime, d.idle_timeout, d.health_check_after), (None, None, Some(Duration::from_secs(1))));
        let e = ConnectOptions::parse("mysql://h/db?idle_timeout=-1").unwrap_err();
        assert!(e.message().contains("idle_timeout `-1` is not a positive number of seconds"), "{e}");
    }

    #[test]
    fn sqlite_forms() {
        assert_eq!(ConnectOptions::parse("sqlite::memory:").unwrap().sqlite, Some(SqliteTarget::Memory));
        assert_eq!(
            ConnectOptions::parse("sqlite://data/x.db").unwrap().sqlite,
            Some(SqliteTarget::File("data/x.db".into()))
        );
        assert_eq!(
            ConnectOptions::parse("sqlite:///tmp/x.db").unwrap().sqlite,
            Some(SqliteTarget::File("/tmp/x.db".into()))
        );
        assert_eq!(
            ConnectOptions::parse("sqlite::memory:/shared1").unwrap().sqlite,
            Some(SqliteTarget::SharedMemory("shared1".into()))
        );
    }

    #[test]
    fn server_parts_and_errors() {
        let o = ConnectOptions::parse("mysql://bob:p%40ss@db.local:3307/app?connect_timeout=2").unwrap();
        assert_eq!(o.user, "bob");
        assert_eq!(o.password.as_deref(), Some("p@ss"));
        assert_eq!(o.host, "db.local");
        assert_eq!(o.port, 3307);
        assert_eq!(o.connect_timeout, Duration::from_secs(2));
        for (url, needle) in [
            ("oracle://x/y", "unknown scheme `oracle`"),
            ("postgres:x", "must start with postgres://"),
            ("mysql://h:99999/db", "invalid port `99999`"),
            ("postgres://:5432/db", "no host"),
            ("nourl", "no scheme"),
            ("postgres://h/db?frobnicate=1", "unknown URL parameter `frobnicate`"),
        ] {
            let e = ConnectOptions::parse(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidUrl);
            assert!(e.to_string().contains(needle), "{url}: {e}");
        }
    }
}
