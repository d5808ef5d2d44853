//! MySQL / MariaDB error numbers → [`ErrorKind`].
//!
//! The server names constraints only inside its message text, so the constraint (and, where
//! given, the table) is read back out of the few message shapes that carry one:
//!
//! | number | message |
//! |---|---|
//! | 1062, 1586 | `Duplicate entry '…' for key 'name'` (MySQL 8: `'table.name'`) |
//! | 1451, 1452 | `… a foreign key constraint fails (`db`.`table`, CONSTRAINT `name` FOREIGN KEY …)` |
//! | 3819 (MySQL) | `Check constraint 'name' is violated.` |
//! | 4025 (MariaDB) | `CONSTRAINT `name` failed for `db`.`table`` |

use crate::error::{Error, ErrorKind, Violation};
use mysql::DriverError;

/// The kind of a server error number.
pub(crate) fn kind_of(code: u16) -> ErrorKind {
    match code {
        // ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME
        1062 | 1586 => ErrorKind::Integrity(Violation::Unique),
        // ER_ROW_IS_REFERENCED(_2), ER_NO_REFERENCED_ROW(_2)
        1451 | 1452 | 1216 | 1217 => ErrorKind::Integrity(Violation::ForeignKey),
        // ER_BAD_NULL_ERROR, ER_NO_DEFAULT_FOR_FIELD
        1048 | 1364 => ErrorKind::Integrity(Violation::NotNull),
        // ER_CHECK_CONSTRAINT_VIOLATED (MySQL), ER_CONSTRAINT_FAILED (MariaDB)
        3819 | 4025 => ErrorKind::Integrity(Violation::Check),
        // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
        1213 | 1205 => ErrorKind::SerializationFailure,
        // out of range, truncated, incorrect value, too long, bad datetime, division by zero
        1264 | 1265 | 1366 | 1406 | 1292 | 1365 => ErrorKind::DataError,
        // server gone away, lost connection, connection killed, server shutdown
        2006 | 2013 | 1927 | 1053 => ErrorKind::Connection,
        _ => ErrorKind::Query,
    }
}

/// The text between the first `open` after `start` and the next `close`.
fn between<'a>(s: &'a str, start: &str, open: char, close: char) -> Option<&'a str> {
    let rest = &s[s.find(start)? + start.len()..];
    let rest = &rest[rest.find(open)? + open.len_utf8()..];
    Some(&rest[..rest.find(close)?])
}

/// The table of a `` (`db`.`table`, `` or `` for `db`.`table` `` fragment.
fn qualified_table(s: &str) -> Option<String> {
    let first = s.find('`')?;
    let rest = &s[first..];
    // `db`.`table`: the second quoted name is the table.
    let after_db = rest.find("`.`")?;
    let table = &rest[after_db + 3..];
    Some(table[..table.find('`')?].to_owned())
}

/// The constraint and table a server message names, for the error numbers that name one.
pub(crate) fn constraint_and_table(code: u16, message: &str) -> (Option<String>, Option<String>) {
    match code {
        1062 | 1586 => {
            // The duplicated value is user data and may itself contain "for key '": the key
            // is the last quoted name.
            let Some(at) = message.rfind(" for key '") else { return (None, None) };
            let key = &message[at + " for key '".len()..];
            let key = key.strip_suffix('\'').unwrap_or(key);
            match key.rsplit_once('.') {
                Some((table, name)) if !name.is_empty() => (Some(name.to_owned()), Some(table.to_owned())),
                _ => (Some(key.to_owned()), None),
            }
        }
        1451 | 1452 => {
            let constraint = between(message, "CONSTRAINT ", '`', '`').map(str::to_owned);
            let table = message.find("fails (").and_then(|i| qualified_table(&message[i..]));
            (constraint, table)
        }
        3819 => (between(message, "constraint ", '\'', '\'').map(str::to_owned), None),
        4025 => {
            let constraint = between(message, "CONSTRAINT ", '`', '`').map(str::to_owned);
            let table = message.find(" failed for ").and_then(|i| qualified_table(&message[i..]));
            (constraint, table)
        }
        _ => (None, None),
    }
}

/// Maps a driver error; `sql` is the statement that failed, when there was one.
pub(crate) fn map(e: mysql::Error, sql: Option<&str>) -> Error {
    let out = match &e {
        mysql::Error::MySqlError(me) => {
            let (constraint, table) = constraint_and_table(me.code, &me.message);
            Error::new(kind_of(me.code), me.message.clone())
                .with_code(me.code.to_string())
                .with_constraint(constraint)
                .with_table(table)
        }
        mysql::Error::DriverError(d) => match d {
            DriverError::MismatchedStmtParams(want, got) => {
                Error::new(ErrorKind::Usage, format!("the statement takes {want} parameters but {got} were given"))
            }
            DriverError::MixedParams | DriverError::Params(_) => Error::new(
                ErrorKind::Usage,
                format!("{d}; the SQL must use `?` placeholders only (a `:name` outside quotes is a named parameter)"),
            ),
            DriverError::ConnectTimeout | DriverError::Timeout => Error::new(ErrorKind::Timeout, d.to_string()),
            DriverError::PacketTooLarge => Error::new(ErrorKind::DataError, d.to_string()),
            _ => Error::new(ErrorKind::Connection, d.to_string()),
        },
        mysql::Error::IoError(io) => Error::new(ErrorKind::Connection, format!("connection to the server lost: {io}")),
        mysql::Error::CodecError(c) => Error::new(ErrorKind::Connection, format!("connection to the server lost: {c}")),
        mysql::Error::UrlError(u) => Error::new(ErrorKind::InvalidUrl, u.to_string()),
        other => Error::new(ErrorKind::Conversion, other.to_string()),
    };
    let out = match sql {
        Some(s) => out.with_sql(s),
        None => out,
    };
    out.with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16, message: &str) -> Error {
        map(
            mysql::Error::MySqlError(mysql::MySqlError { state: "23000".into(), message: message.into(), code }),
            Some("INSERT …"),
        )
    }

    #[test]
    fn duplicate_keys_name_the_key_with_or_without_the_table() {
        let e = server(1062, "Duplicate entry 'ann' for key 'parent_name_uniq'");
        assert_eq!(e.violation(), Some(Violation::Unique));
        assert_eq!(e.constraint(), Some("parent_name_uniq"));
        assert_eq!(e.code(), Some("1062"));
        assert_eq!(e.sql(), Some("INSERT …"));
        let e = server(1062, "Duplicate entry '7' for key 'parent.PRIMARY'");
        assert_eq!((e.constraint(), e.table()), (Some("PRIMARY"), Some("parent")));
        let e = server(1062, "Duplicate entry 'x' for key 'y' for key 'real_key'");
        assert_eq!(e.constraint(), Some("real_key"));
    }

    #[test]
    fn foreign_keys_name_the_constraint_and_child_table() {
        let e = server(
            1452,
            "Cannot add or update a child row: a foreign key constraint fails (`t_1`.`child`, CONSTRAINT \
             `child_parent_fk` FOREIGN KEY (`parent_id`) REFERENCES `parent` (`id`))",
        );
        assert_eq!(e.violation(), Some(Violation::ForeignKey));
        assert_eq!((e.constraint(), e.table()), (Some("child_parent_fk"), Some("child")));
        let e = server(1217, "Cannot delete or update a parent row: a foreign key constraint fails");
        assert_eq!((e.violation(), e.constraint()), (Some(Violation::ForeignKey), None));
    }

    #[test]
    fn checks_and_not_nulls() {
        let e = server(4025, "CONSTRAINT `child_qty_check` failed for `t_1`.`child`");
        assert_eq!(e.violation(), Some(Violation::Check));
        assert_eq!((e.constraint(), e.table()), (Some("child_qty_check"), Some("child")));
        let e = server(3819, "Check constraint 'child_qty_check' is violated.");
        assert_eq!(e.constraint(), Some("child_qty_check"));
        assert_eq!(server(1048, "Column 'name' cannot be null").violation(), Some(Violation::NotNull));
        assert_eq!(server(1364, "Field 'name' doesn't have a default value").violation(), Some(Violation::NotNull));
    }

    #[test]
    fn other_numbers() {
        assert_eq!(server(1213, "Deadlock found").kind(), ErrorKind::SerializationFailure);
        assert_eq!(server(1406, "Data too long for column 'a' at row 1").kind(), ErrorKind::DataError);
        assert_eq!(server(1064, "You have an error in your SQL syntax").kind(), ErrorKind::Query);
        let e = server(1146, "Table 't.no_such_table' doesn't exist");
        assert_eq!((e.kind(), e.message()), (ErrorKind::Query, "Table 't.no_such_table' doesn't exist"));
        assert!(std::error::Error::source(&e).is_some(), "the driver error is kept");
    }

    #[test]
    fn driver_errors() {
        let e = map(mysql::Error::DriverError(DriverError::MismatchedStmtParams(2, 1)), None);
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert_eq!(e.message(), "the statement takes 2 parameters but 1 were given");
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "server disconnected");
        assert_eq!(map(mysql::Error::IoError(io), None).kind(), ErrorKind::Connection);
        assert_eq!(map(mysql::Error::DriverError(DriverError::ConnectTimeout), None).kind(), ErrorKind::Timeout);
    }
}
