//! SQLite result codes → [`ErrorKind`].

use crate::error::{Error, ErrorKind, Violation};
use rusqlite::ffi;

pub(crate) fn map(e: rusqlite::Error, sql: Option<&str>) -> Error {
    let out = match &e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let message = msg.clone().unwrap_or_else(|| f.to_string());
            let kind = match f.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    ErrorKind::Integrity(Violation::Unique)
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::Integrity(Violation::ForeignKey),
                ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::Integrity(Violation::NotNull),
                ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::Integrity(Violation::Check),
                _ => match f.code {
                    ffi::ErrorCode::ConstraintViolation => ErrorKind::Integrity(Violation::Other),
                    ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked => ErrorKind::SerializationFailure,
                    ffi::ErrorCode::CannotOpen | ffi::ErrorCode::NotADatabase | ffi::ErrorCode::PermissionDenied => {
                        ErrorKind::Connection
                    }
                    ffi::ErrorCode::TooBig => ErrorKind::DataError,
                    _ => ErrorKind::Query,
                },
            };
            // "UNIQUE constraint failed: t.a, t.b" / "CHECK constraint failed: name"
            let (constraint, table) = match message.split_once("constraint failed: ") {
                Some((_, rest)) => {
                    let table = rest.split_once('.').map(|(t, _)| t.to_owned());
                    (Some(rest.to_owned()), table)
                }
                None => (None, None),
            };
            Error::new(kind, message)
                .with_code(f.extended_code.to_string())
                .with_constraint(constraint)
                .with_table(table)
        }
        rusqlite::Error::InvalidParameterCount(got, want) => {
            Error::new(ErrorKind::Usage, format!("the statement takes {want} parameters but {got} were given"))
        }
        other => Error::new(ErrorKind::Query, other.to_string()),
    };
    let out = match sql {
        Some(s) => out.with_sql(s),
        None => out,
    };
    out.with_source(e)
}
