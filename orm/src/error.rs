//! The one error type users match on, with the kinds Django users know.

use std::collections::BTreeMap;
use std::fmt;

/// Per-field validation messages (Django's `ValidationError.message_dict`), plus messages
/// about the whole instance under [`NON_FIELD_ERRORS`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    /// Field name → messages, in field order of insertion.
    pub fields: BTreeMap<String, Vec<String>>,
}

/// The key of messages that concern the instance rather than one field.
pub const NON_FIELD_ERRORS: &str = "__all__";

impl ValidationErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a message for `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.fields.entry(field.to_owned()).or_default().push(message.into());
    }

    /// Are there none?
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The messages for `field`.
    pub fn get(&self, field: &str) -> &[String] {
        self.fields.get(field).map(Vec::as_slice).unwrap_or(&[])
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, msgs) in &self.fields {
            for m in msgs {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field}: {m}")?;
            }
        }
        Ok(())
    }
}

/// Everything that can go wrong in the ORM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `get` found no row.
    #[error("{model} matching query does not exist")]
    DoesNotExist {
        /// The model's label (`blog.Post`).
        model: String,
    },
    /// `get` found more than one row.
    #[error("get() returned more than one {model} -- it returned {}!", more_than(*.count))]
    MultipleObjectsReturned {
        /// The model's label.
        model: String,
        /// How many rows matched, up to 21: `get` reads at most 21 rows (one query, as
        /// Django), so 21 means "more than 20".
        count: u64,
    },
    /// A model has no field of that name.
    #[error("{model} has no field named `{field}`")]
    FieldDoesNotExist {
        /// The model's label.
        model: String,
        /// The name asked for.
        field: String,
    },
    /// A lookup path or expression is invalid (unknown field or lookup, wrong type …).
    #[error("{message}")]
    FieldError {
        /// What is wrong, naming the field and model, and the valid choices.
        message: String,
    },
    /// `full_clean` failed.
    #[error("validation failed: {0}")]
    ValidationError(ValidationErrors),
    /// An integrity constraint was violated; the database error carries the constraint.
    #[error("integrity error: {0}")]
    IntegrityError(#[source] orm_backends::Error),
    /// A delete was refused by `on_delete = Protect` (Django's message: "Cannot delete some
    /// instances of model 'A' because they are referenced through protected foreign keys:
    /// 'B.a'."). Every protecting relation is collected before the delete fails.
    #[error(
        "Cannot delete some instances of model '{}' because they are referenced through protected foreign keys: {}.",
        model_name(model),
        quoted(fields)
    )]
    ProtectedError {
        /// The label (`app.Model`) of the model whose deletion was asked for.
        model: String,
        /// The relations, seen from that model, through which protecting rows were reached,
        /// as Django names them: `Model.field` (the protecting key itself when it points
        /// at the model, else the cascading relation that led to it), sorted (Django lists
        /// them in model registration order, which a link-time registry does not keep).
        fields: Vec<String>,
        /// The protecting objects, as `app.Model(pk)`, each once.
        protected: Vec<String>,
    },
    /// A delete was refused by `on_delete = Restrict`: some restricting rows are not
    /// themselves deleted by a cascade of the same delete (Django's message names the model
    /// whose delete was asked for and every restricting key, `'B.a'`).
    #[error(
        "Cannot delete some instances of model '{}' because they are referenced through restricted foreign keys: {}.",
        model_name(model),
        quoted(fields)
    )]
    RestrictedError {
        /// The label (`app.Model`) of the model whose deletion was asked for.
        model: String,
        /// The restricting keys, as `Model.field`, sorted.
        fields: Vec<String>,
        /// The restricting objects, as `app.Model(pk)`, each once.
        restricted: Vec<String>,
    },
    /// The models or the configuration are inconsistent.
    #[error("improperly configured: {0}")]
    ImproperlyConfigured(String),
    /// No database goes by this alias (Django's `ConnectionDoesNotExist`): a
    /// [`QuerySet::using`](crate::QuerySet::using), a `save_using`, or a router named it.
    #[error("The connection '{alias}' doesn't exist.{hint}")]
    ConnectionDoesNotExist {
        /// The alias asked for.
        alias: String,
        /// Why, when more can be said (the aliases there are).
        hint: String,
    },
    /// A value could not be serialized or deserialized.
    #[error("serialization: {0}")]
    Serialization(String),
    /// A signal receiver refused the operation (see [`signals`](crate::signals)): returned by a
    /// receiver, it aborts a save or delete and rolls its transaction back.
    #[error("{0}")]
    Signal(String),
    /// A statement was refused because the `atomic` block it runs in must roll back: an
    /// earlier statement of the block failed (and the error was caught without a savepoint
    /// block around it), or the block was marked with `set_rollback(true)`. Also a misuse of
    /// blocks, such as a durable block inside another one.
    #[error("{}", .0.message())]
    TransactionManagementError(#[source] orm_backends::Error),
    /// A call that is not valid for this QuerySet or instance, refused before any SQL runs
    /// (Django's `TypeError`s: `delete()` on a sliced QuerySet, …).
    #[error("{0}")]
    TypeError(String),
    /// An argument that cannot be used, refused before any SQL runs (Django's `ValueError`s:
    /// `isnull` given something other than true or false, a `batch_size` of 0, `bulk_create`
    /// of a multi-table child, …).
    #[error("{0}")]
    ValueError(String),
    /// A feature this query cannot have, refused before any SQL runs (Django's
    /// `NotSupportedError`: `filter()` after `union()`, a window filter reaching across a
    /// relation, …).
    #[error("{0}")]
    NotSupportedError(String),
    /// Any other database error (the server's message is kept).
    #[error(transparent)]
    Database(orm_backends::Error),
}

/// Django's wording of a `get()` count: "more than 20" past 20.
fn more_than(count: u64) -> String {
    if count > 20 {
        "more than 20".to_owned()
    } else {
        count.to_string()
    }
}

impl From<orm_backends::Error> for Error {
    fn from(e: orm_backends::Error) -> Self {
        if e.is_integrity() {
            Error::IntegrityError(e)
        } else if e.kind() == orm_backends::ErrorKind::TransactionManagement {
            Error::TransactionManagementError(e)
        } else {
            Error::Database(e)
        }
    }
}

impl From<orm_backends::ConversionError> for Error {
    fn from(e: orm_backends::ConversionError) -> Self {
        Error::Database(e.into())
    }
}

impl Error {
    /// A field error with `message`.
    pub fn field_error(message: impl Into<String>) -> Self {
        Error::FieldError { message: message.into() }
    }

    /// A [`Signal`](Error::Signal) error with `message`, for receivers to return.
    pub fn signal(message: impl Into<String>) -> Self {
        Error::Signal(message.into())
    }

    /// Is this `DoesNotExist`?
    pub fn is_does_not_exist(&self) -> bool {
        matches!(self, Error::DoesNotExist { .. })
    }

    /// May the transaction that failed with this error simply be run again (a serialization
    /// failure or deadlock the database reported)? [`Database::atomic_with_retry`](crate::Database::atomic_with_retry)
    /// retries those.
    pub fn is_retryable(&self) -> bool {
        self.database_error().is_some_and(orm_backends::Error::is_retryable)
    }

    /// Is this about reaching the database (it could not be connected to, the connection
    /// was lost or timed out) rather than about the statement? A router skips a replica
    /// that fails so.
    pub fn is_connection(&self) -> bool {
        self.database_error().is_some_and(orm_backends::Error::is_connection)
    }

    /// The database error underneath, if any.
    pub fn database_error(&self) -> Option<&orm_backends::Error> {
        match self {
            Error::IntegrityError(e) | Error::TransactionManagementError(e) | Error::Database(e) => Some(e),
            _ => None,
        }
    }
}

/// `app.Model` → `Model` (Django's messages name the class).
fn model_name(label: &str) -> &str {
    label.rsplit('.').next().unwrap_or(label)
}

/// `['A.b', 'C.d']` → `'A.b', 'C.d'`.
fn quoted(fields: &[String]) -> String {
    fields.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>().join(", ")
}

/// `Result` with the ORM's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
