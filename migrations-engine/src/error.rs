//! [`MigrationError`]: what can go wrong while detecting, loading, planning or applying
//! migrations. Each variant names the culprit (the migration, model or field).

use std::fmt;

/// A migration identified by app label and name (`blog.0001_initial`).
///
/// In files a key is the string `"app.name"`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// The application label.
    pub app: String,
    /// The migration's name (`0001_initial`).
    pub name: String,
}

impl Key {
    /// The key `app.name`.
    pub fn new(app: impl Into<String>, name: impl Into<String>) -> Self {
        Key { app: app.into(), name: name.into() }
    }
}

impl std::str::FromStr for Key {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.split_once('.') {
            Some((a, n)) if !a.is_empty() && !n.is_empty() => Ok(Key::new(a, n)),
            _ => Err(format!("`{s}` is not a migration key (expected `app.name`)")),
        }
    }
}

impl serde::Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.app, self.name)
    }
}

/// Everything the engine reports as a failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// A migration names a dependency (or a target) that does not exist.
    #[error("migration {node} is not known (named by {origin})")]
    NodeNotFound {
        /// The missing migration.
        node: Key,
        /// Who named it.
        origin: String,
    },
    /// The dependencies form a cycle.
    #[error("circular dependency between migrations: {}", .0.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(" -> "))]
    CircularDependency(Vec<Key>),
    /// A migration is recorded as applied while one of its dependencies is not.
    #[error("inconsistent history: {applied} is applied before its dependency {dependency}")]
    InconsistentHistory {
        /// The applied migration.
        applied: Key,
        /// Its unapplied dependency.
        dependency: Key,
    },
    /// An operation cannot be reversed.
    #[error("operation `{operation}` in {migration} cannot be reversed")]
    Irreversible {
        /// The migration holding it.
        migration: String,
        /// The operation's description.
        operation: String,
    },
    /// A name prefix matches several migrations.
    #[error("more than one migration matches `{prefix}` in app `{app}`: {}", .candidates.join(", "))]
    AmbiguousName {
        /// The app.
        app: String,
        /// What was asked for.
        prefix: String,
        /// What matched.
        candidates: Vec<String>,
    },
    /// A migration file or an operation is malformed, or refers to what is not there.
    #[error("{0}")]
    BadMigration(String),
    /// Two or more leaf migrations in one app.
    #[error("conflicting migrations in app `{app}`: {} (run makemigrations --merge)", .leaves.join(", "))]
    Conflict {
        /// The app.
        app: String,
        /// Its leaf migrations.
        leaves: Vec<String>,
    },
    /// The autodetector needs an answer it cannot get (no terminal, no hint).
    #[error("{0}")]
    Question(String),
    /// An applied migration's content differs from what was applied.
    #[error("applied migration {key} was edited after it was applied (recorded checksum {recorded}, now {current})")]
    ChecksumMismatch {
        /// The migration.
        key: Key,
        /// The checksum recorded when it was applied.
        recorded: String,
        /// The checksum of the file now.
        current: String,
    },
    /// A migration was left half applied on a backend without transactional DDL.
    #[error("{0}")]
    PartiallyApplied(String),
    /// The schema change is not supported on this backend.
    #[error("{0}")]
    Unsupported(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An error of the ORM layer.
    #[error(transparent)]
    Orm(#[from] orm::Error),
    /// A database error.
    #[error(transparent)]
    Database(#[from] orm_backends::Error),
}

/// The engine's result type.
pub type Result<T, E = MigrationError> = std::result::Result<T, E>;

impl MigrationError {
    /// A [`MigrationError::BadMigration`] with `msg`.
    pub fn bad(msg: impl Into<String>) -> Self {
        MigrationError::BadMigration(msg.into())
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        MigrationError::Io { path: path.display().to_string(), source }
    }
}
