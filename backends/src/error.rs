//! One error type for the database layer: a vendor-neutral [`ErrorKind`] plus the server's own
//! detail (message, SQLSTATE or error code, constraint, table) and the driver error as `source`.
//!
//! Each vendor module classifies its driver's codes into a kind; higher layers match on the
//! kind and never on vendor codes.

use std::fmt;

/// Which integrity rule a statement broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Violation {
    /// A unique or primary-key constraint.
    Unique,
    /// A foreign key.
    ForeignKey,
    /// A `NOT NULL` column got `NULL`.
    NotNull,
    /// A `CHECK` constraint.
    Check,
    /// The server says integrity, but not which rule.
    Other,
}

/// What went wrong, in terms a caller can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An integrity constraint was violated (Django's `IntegrityError`).
    Integrity(Violation),
    /// Could not connect, or the connection was lost (operational error).
    Connection,
    /// Connecting, or waiting for a pooled connection, took too long.
    Timeout,
    /// The database URL is malformed or names an unknown backend.
    InvalidUrl,
    /// The server rejected the statement (syntax, unknown table or column, bad type …).
    Query,
    /// A serialization failure or deadlock: the transaction may be retried.
    SerializationFailure,
    /// A value does not fit what the backend can store (NaN on MySQL, an out-of-range number …).
    DataError,
    /// A cell could not be converted to the Rust type asked for.
    Conversion,
    /// The backend was built without support for this, or cannot do it.
    Unsupported,
    /// The connection is in use by an open row stream or transaction.
    Busy,
    /// Misuse of the API, such as committing a transaction twice.
    Usage,
    /// A statement was refused because the `atomic` block it runs in must roll back (an
    /// earlier statement of the block failed, or the block was marked with `set_rollback`):
    /// Django's `TransactionManagementError`.
    TransactionManagement,
}

/// A database-layer error: a kind, a message, the server's detail and the driver error.
///
/// The detail lives behind one box, so `Result<T, Error>` stays one pointer wide on the
/// success path.
#[derive(Debug)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    message: String,
    code: Option<String>,
    constraint: Option<String>,
    table: Option<String>,
    sql: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                code: None,
                constraint: None,
                table: None,
                sql: None,
                source: None,
            }),
        }
    }

    /// Attaches the server's code (SQLSTATE, MySQL error number, SQLite extended code).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.inner.code = Some(code.into());
        self
    }

    /// Attaches the constraint the server named.
    pub fn with_constraint(mut self, constraint: Option<String>) -> Self {
        self.inner.constraint = constraint;
        self
    }

    /// Attaches the table the server named.
    pub fn with_table(mut self, table: Option<String>) -> Self {
        self.inner.table = table;
        self
    }

    /// Attaches the statement that failed (its text only; parameters are never included).
    pub fn with_sql(mut self, sql: &str) -> Self {
        self.inner.sql = Some(sql.to_owned());
        self
    }

    /// Attaches the underlying driver error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message: the server's own where there is one.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The server's error code (SQLSTATE on PostgreSQL, the error number on MySQL, the
    /// extended result code on SQLite).
    pub fn code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }

    /// The constraint the server named, where it names one.
    pub fn constraint(&self) -> Option<&str> {
        self.inner.constraint.as_deref()
    }

    /// The table the server named, where it names one.
    pub fn table(&self) -> Option<&str> {
        self.inner.table.as_deref()
    }

    /// The SQL text of the failed statement, if known.
    pub fn sql(&self) -> Option<&str> {
        self.inner.sql.as_deref()
    }

    /// Is this an integrity violation (Django's `IntegrityError`)?
    pub fn is_integrity(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Integrity(_))
    }

    /// Which integrity rule was broken, if this is an integrity violation.
    pub fn violation(&self) -> Option<Violation> {
        match self.inner.kind {
            ErrorKind::Integrity(v) => Some(v),
            _ => None,
        }
    }

    /// May the transaction that failed with this error simply be run again (a serialization
    /// failure, a deadlock, a lock wait that timed out, SQLite's busy database)?
    pub fn is_retryable(&self) -> bool {
        self.inner.kind == ErrorKind::SerializationFailure
    }

    /// Did the database refuse or fail the statement, so that the `atomic` block it ran in
    /// must roll back (as PostgreSQL itself demands)? Errors raised before anything reached
    /// the server (misuse, conversions, a busy connection) leave the block usable.
    pub fn breaks_transaction(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::Integrity(_)
                | ErrorKind::Query
                | ErrorKind::SerializationFailure
                | ErrorKind::DataError
                | ErrorKind::Connection
                | ErrorKind::Timeout
        )
    }

    /// Is this about the connection rather than the statement (could not connect, lost,
    /// timed out)?
    pub fn is_connection(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Connection | ErrorKind::Timeout)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.inner.kind {
            ErrorKind::Integrity(Violation::Unique) => "unique constraint violated",
            ErrorKind::Integrity(Violation::ForeignKey) => "foreign key constraint violated",
            ErrorKind::Integrity(Violation::NotNull) => "not-null constraint violated",
            ErrorKind::Integrity(Violation::Check) => "check constraint violated",
            ErrorKind::Integrity(Violation::Other) => "integrity error",
            ErrorKind::Connection => "connection error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::InvalidUrl => "invalid database URL",
            ErrorKind::Query => "query failed",
            ErrorKind::SerializationFailure => "serialization failure",
            ErrorKind::DataError => "data error",
            ErrorKind::Conversion => "conversion error",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Busy => "connection busy",
            ErrorKind::Usage => "misuse",
            ErrorKind::TransactionManagement => "transaction management error",
        };
        write!(f, "{what}: {}", self.inner.message)?;
        if let Some(c) = &self.inner.constraint {
            write!(f, " (constraint `{c}`)")?;
        }
        if let Some(c) = &self.inner.code {
            write!(f, " [{c}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}
