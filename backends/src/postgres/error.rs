//! SQLSTATE → [`ErrorKind`], and connection failures → `Connection` / `Timeout` errors.

use super::types::ParamError;
use crate::error::{Error, ErrorKind, Violation};
use crate::url::ConnectOptions;
use std::error::Error as _;

/// Classifies a SQLSTATE code.
pub(crate) fn kind_of(code: &str) -> ErrorKind {
    match code {
        "23505" => ErrorKind::Integrity(Violation::Unique),
        "23503" => ErrorKind::Integrity(Violation::ForeignKey),
        "23502" => ErrorKind::Integrity(Violation::NotNull),
        "23514" => ErrorKind::Integrity(Violation::Check),
        c if c.starts_with("23") => ErrorKind::Integrity(Violation::Other),
        "40001" | "40P01" => ErrorKind::SerializationFailure,
        "57014" => ErrorKind::Timeout,
        // admin_shutdown, crash_shutdown, cannot_connect_now: the server ended the session.
        "57P01" | "57P02" | "57P03" => ErrorKind::Connection,
        c if c.starts_with("08") => ErrorKind::Connection,
        c if c.starts_with("22") => ErrorKind::DataError,
        _ => ErrorKind::Query,
    }
}

/// Maps a driver error from a statement; `sql` is attached when known.
pub(crate) fn map(e: postgres::Error, sql: Option<&str>) -> Error {
    let out = if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let message = match db.detail() {
            Some(detail) => format!("{} (DETAIL: {detail})", db.message()),
            None => db.message().to_owned(),
        };
        Error::new(kind_of(code), message)
            .with_code(code)
            .with_constraint(db.constraint().map(str::to_owned))
            .with_table(db.table().map(str::to_owned))
    } else if let Some(p) = e.source().and_then(|s| s.downcast_ref::<ParamError>()) {
        Error::new(ErrorKind::DataError, p.to_string())
    } else if e.is_closed() {
        Error::new(ErrorKind::Connection, "the connection to the PostgreSQL server is closed")
    } else if e.source().is_some_and(|s| s.is::<std::io::Error>()) {
        Error::new(ErrorKind::Connection, format!("lost the connection to the PostgreSQL server: {e}"))
    } else {
        Error::new(ErrorKind::Query, e.to_string())
    };
    let out = match sql {
        Some(s) => out.with_sql(s),
        None => out,
    };
    out.with_source(e)
}

/// `host:port`, with IPv6 hosts in brackets.
pub(crate) fn target(options: &ConnectOptions) -> String {
    if options.host.contains(':') && !options.host.starts_with('/') {
        format!("[{}]:{}", options.host, options.port)
    } else {
        format!("{}:{}", options.host, options.port)
    }
}

/// The error of a connection attempt: `Timeout` when the connect timed out, `Connection`
/// otherwise, always naming `host:port`; the server's message and SQLSTATE when it refused us
/// (credentials, unknown database).
pub(crate) fn connect_error(options: &ConnectOptions, e: postgres::Error) -> Error {
    let at = target(options);
    let out = if let Some(db) = e.as_db_error() {
        Error::new(
            ErrorKind::Connection,
            format!("cannot connect to PostgreSQL at {at} as `{}`: {}", options.user, db.message()),
        )
        .with_code(db.code().code())
    } else {
        match e.source().and_then(|s| s.downcast_ref::<std::io::Error>()) {
            Some(io) if io.kind() == std::io::ErrorKind::TimedOut => Error::new(
                ErrorKind::Timeout,
                format!(
                    "connecting to PostgreSQL at {at} timed out after {:.1} s",
                    options.connect_timeout.as_secs_f64()
                ),
            ),
            Some(io) => Error::new(ErrorKind::Connection, format!("cannot connect to PostgreSQL at {at}: {io}")),
            None => Error::new(ErrorKind::Connection, format!("cannot connect to PostgreSQL at {at}: {e}")),
        }
    };
    out.with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_classified() {
        assert_eq!(kind_of("23505"), ErrorKind::Integrity(Violation::Unique));
        assert_eq!(kind_of("23503"), ErrorKind::Integrity(Violation::ForeignKey));
        assert_eq!(kind_of("23502"), ErrorKind::Integrity(Violation::NotNull));
        assert_eq!(kind_of("23514"), ErrorKind::Integrity(Violation::Check));
        assert_eq!(kind_of("23P01"), ErrorKind::Integrity(Violation::Other));
        assert_eq!(kind_of("40001"), ErrorKind::SerializationFailure);
        assert_eq!(kind_of("40P01"), ErrorKind::SerializationFailure);
        assert_eq!(kind_of("08006"), ErrorKind::Connection);
        assert_eq!(kind_of("57P01"), ErrorKind::Connection);
        assert_eq!(kind_of("22003"), ErrorKind::DataError);
        assert_eq!(kind_of("57014"), ErrorKind::Timeout);
        assert_eq!(kind_of("42601"), ErrorKind::Query);
        assert_eq!(kind_of("42P01"), ErrorKind::Query);
    }

    #[test]
    fn targets_bracket_ipv6_hosts() {
        let mut o = ConnectOptions::parse("postgres://u@127.0.0.1:5433/db").unwrap();
        assert_eq!(target(&o), "127.0.0.1:5433");
        o.host = "::1".into();
        assert_eq!(target(&o), "[::1]:5433");
    }
}
