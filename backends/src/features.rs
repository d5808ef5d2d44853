//! What each backend can do, as documented capability flags.
//!
//! Higher layers ask a flag ("can this backend …?"), never the vendor name, in the manner of
//! Django's `DatabaseFeatures`.

/// Capability flags and limits of one backend.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Features {
    /// Can `INSERT … RETURNING` hand back generated columns?
    pub can_return_rows_from_insert: bool,
    /// Can a multi-row `INSERT … RETURNING` hand back every generated key, in order?
    pub can_return_rows_from_bulk_insert: bool,
    /// Are DDL statements transactional (rolled back with the transaction)?
    pub can_rollback_ddl: bool,
    /// Does `SELECT … FOR UPDATE` exist?
    pub has_select_for_update: bool,
    /// Does `FOR UPDATE NOWAIT` exist?
    pub has_select_for_update_nowait: bool,
    /// Does `FOR UPDATE SKIP LOCKED` exist?
    pub has_select_for_update_skip_locked: bool,
    /// Are results streamed from the server as the client reads (cursor, portal or unbuffered
    /// result) rather than materialised?
    pub can_stream_results: bool,
    /// The most bound parameters one statement may carry.
    pub max_query_params: usize,
    /// Can a float column store NaN?
    pub supports_float_nan: bool,
    /// Can a float column store ±infinity?
    pub supports_float_infinity: bool,
    /// Is there a native UUID column type?
    pub has_native_uuid: bool,
    /// Is there a native JSON column type (rather than JSON kept as text)?
    pub has_native_json: bool,
    /// Is there an exact DECIMAL type (SQLite stores decimals as REAL)?
    pub has_native_decimal: bool,
    /// Does a datetime column keep the time zone (as an instant)?
    pub supports_timezones: bool,
    /// Does `ORDER BY` take `NULLS FIRST` / `NULLS LAST` (Django's
    /// `supports_order_by_nulls_modifier`)? Without it they are emulated with `x IS NULL`.
    pub supports_order_by_nulls_modifier: bool,
    /// Does the backend compare text case-sensitively by default (`=` and `LIKE`)?
    pub has_case_sensitive_like: bool,
    /// Is there `ILIKE`?
    pub has_ilike: bool,
    /// Does the server enforce `CHECK` constraints?
    pub supports_check_constraints: bool,
    /// Can indexes be created on `TEXT`/`BLOB` without a prefix length?
    pub supports_index_on_text: bool,
    /// Maximum length of an identifier (table, column, constraint name).
    pub max_name_length: usize,
    /// Can a foreign key set the referencing column to its default when the referenced row
    /// goes (`ON DELETE SET DEFAULT`)? MySQL and MariaDB's InnoDB accept the words and drop
    /// the action, so the ORM refuses it there.
    pub supports_on_delete_set_default: bool,
    /// Does `DELETE FROM t WHERE c IN (SELECT …)` find the rows of `t` through `c`'s index
    /// (a semi-join)? MariaDB (before 11.1) and MySQL before 8.0.21 test every row of `t`
    /// against the subquery instead, so the deletion collector writes the multi-table form
    /// there (`DELETE t FROM t JOIN …`).
    pub delete_in_subquery_uses_index: bool,
    /// Can one statement delete from several tables through data-modifying `WITH` clauses
    /// (`WITH a AS (DELETE … RETURNING 1) DELETE …`), its foreign keys checked once all of
    /// them have run? PostgreSQL: the deletion collector then sends a cascade's statements as
    /// one, one round trip instead of one per table and two for the transaction.
    pub can_delete_in_with: bool,
    /// Does the database run inside this process (SQLite), so that a statement costs
    /// microseconds and no round trip? The deletion collector then asks which tables of a
    /// cascade are empty before deleting through them even for a cascade of one level,
    /// where on a server that question is a round trip of its own.
    pub in_process: bool,
}
