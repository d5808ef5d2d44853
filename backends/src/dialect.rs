//! SQL dialects: identifier quoting, placeholders, and each vendor's capability flags.
//!
//! A [`Dialect`] is a plain value, so SQL can be rendered for a backend without a connection
//! (`schema.sql(Dialect::Postgres)`).

use crate::features::Features;
use crate::url::Backend;
use std::fmt::Write;

/// The SQL dialect of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite 3.35+ (the bundled library).
    Sqlite,
    /// PostgreSQL 12+.
    Postgres,
    /// MySQL 8 / MariaDB 10.5+.
    Mysql,
}

impl Dialect {
    /// All three, for rendering tests.
    pub const ALL: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql];

    /// The backend this dialect belongs to.
    pub fn backend(self) -> Backend {
        match self {
            Dialect::Sqlite => Backend::Sqlite,
            Dialect::Postgres => Backend::Postgres,
            Dialect::Mysql => Backend::Mysql,
        }
    }

    /// The dialect of a backend.
    pub fn of(backend: Backend) -> Dialect {
        match backend {
            Backend::Sqlite => Dialect::Sqlite,
            Backend::Postgres => Dialect::Postgres,
            Backend::Mysql => Dialect::Mysql,
        }
    }

    /// The capability flags of this backend.
    pub fn features(self) -> &'static Features {
        match self {
            Dialect::Sqlite => &SQLITE_FEATURES,
            Dialect::Postgres => &POSTGRES_FEATURES,
            Dialect::Mysql => &MYSQL_FEATURES,
        }
    }

    /// Appends `name` quoted as an identifier (`"name"` or `` `name` ``), doubling any quote
    /// character inside it.
    pub fn write_ident(self, out: &mut String, name: &str) {
        let q = match self {
            Dialect::Mysql => '`',
            _ => '"',
        };
        out.push(q);
        for c in name.chars() {
            if c == q {
                out.push(q);
            }
            out.push(c);
        }
        out.push(q);
    }

    /// `name` quoted as an identifier.
    ///
    /// ```
    /// use orm_backends::Dialect;
    /// assert_eq!(Dialect::Postgres.quote("order"), "\"order\"");
    /// assert_eq!(Dialect::Mysql.quote("a`b"), "`a``b`");
    /// ```
    pub fn quote(self, name: &str) -> String {
        let mut s = String::with_capacity(name.len() + 2);
        self.write_ident(&mut s, name);
        s
    }

    /// Appends the placeholder of the `n`-th parameter (1-based): `$n` on PostgreSQL, `?`
    /// elsewhere.
    pub fn write_placeholder(self, out: &mut String, n: usize) {
        match self {
            Dialect::Postgres => {
                let _ = write!(out, "${n}");
            }
            _ => out.push('?'),
        }
    }

    /// Appends `count` placeholders separated by commas, numbered from `first` (1-based): the
    /// inside of an `IN (…)` list.
    ///
    /// ```
    /// use orm_backends::Dialect;
    /// let mut sql = String::from("IN (");
    /// Dialect::Postgres.write_placeholder_list(&mut sql, 2, 3);
    /// assert_eq!(sql, "IN ($2, $3, $4");
    /// ```
    pub fn write_placeholder_list(self, out: &mut String, first: usize, count: usize) {
        for n in first..first + count {
            if n > first {
                out.push_str(", ");
            }
            self.write_placeholder(out, n);
        }
    }

    /// Appends a string literal, quoted and escaped for this dialect. Used only for DDL
    /// defaults and introspection queries built from metadata, never for user data.
    pub fn write_string_literal(self, out: &mut String, s: &str) {
        out.push('\'');
        for c in s.chars() {
            match c {
                '\'' => out.push_str("''"),
                '\\' if self == Dialect::Mysql => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('\'');
    }

    /// The vendor's name.
    pub fn name(self) -> &'static str {
        self.backend().name()
    }
}

static SQLITE_FEATURES: Features = Features {
    can_return_rows_from_insert: true,
    can_return_rows_from_bulk_insert: true,
    can_rollback_ddl: true,
    has_select_for_update: false,
    has_select_for_update_nowait: false,
    has_select_for_update_skip_locked: false,
    can_stream_results: true,
    max_query_params: 32766,
    supports_float_nan: false,
    supports_float_infinity: true,
    has_native_uuid: false,
    has_native_json: false,
    has_native_decimal: false,
    supports_timezones: false,
    supports_order_by_nulls_modifier: true,
    has_case_sensitive_like: false,
    has_ilike: false,
    supports_check_constraints: true,
    supports_index_on_text: true,
    max_name_length: 1024,
    supports_on_delete_set_default: true,
    delete_in_subquery_uses_index: true,
    can_delete_in_with: false,
    in_process: true,
};

static POSTGRES_FEATURES: Features = Features {
    can_return_rows_from_insert: true,
    can_return_rows_from_bulk_insert: true,
    can_rollback_ddl: true,
    has_select_for_update: true,
    has_select_for_update_nowait: true,
    has_select_for_update_skip_locked: true,
    can_stream_results: true,
    max_query_params: 65535,
    supports_float_nan: true,
    supports_float_infinity: true,
    has_native_uuid: true,
    has_native_json: true,
    has_native_decimal: true,
    supports_timezones: true,
    supports_order_by_nulls_modifier: true,
    has_case_sensitive_like: true,
    has_ilike: true,
    supports_check_constraints: true,
    supports_index_on_text: true,
    max_name_length: 63,
    supports_on_delete_set_default: true,
    delete_in_subquery_uses_index: true,
    can_delete_in_with: true,
    in_process: false,
};

static MYSQL_FEATURES: Features = MYSQL;

/// MariaDB 10.5 and later: MySQL's flags, and `INSERT … RETURNING` (one row or many).
#[cfg(feature = "mysql")]
pub(crate) static MARIADB_RETURNING_FEATURES: Features =
    Features { can_return_rows_from_insert: true, can_return_rows_from_bulk_insert: true, ..MYSQL };

const MYSQL: Features = Features {
    can_return_rows_from_insert: false,
    can_return_rows_from_bulk_insert: false,
    can_rollback_ddl: false,
    has_select_for_update: true,
    has_select_for_update_nowait: true,
    has_select_for_update_skip_locked: true,
    can_stream_results: true,
    max_query_params: 65535,
    supports_float_nan: false,
    supports_float_infinity: false,
    has_native_uuid: false,
    has_native_json: false,
    has_native_decimal: true,
    supports_timezones: false,
    supports_order_by_nulls_modifier: false,
    has_case_sensitive_like: false,
    has_ilike: false,
    supports_check_constraints: true,
    supports_index_on_text: false,
    max_name_length: 64,
    supports_on_delete_set_default: false,
    delete_in_subquery_uses_index: false,
    can_delete_in_with: false,
    in_process: false,
};
