//! Reading the neutral schema description back from a live database.
//!
//! [`table_names`] and [`introspect_table`] work on any `&mut dyn Connection` through plain
//! SQL queries with bound parameters (table names are never spliced into the SQL), so they do
//! not depend on the vendor connection types:
//!
//! - **SQLite**: `pragma_table_info`, `pragma_index_list`, `pragma_index_info` and
//!   `pragma_foreign_key_list` used as table-valued functions, plus the `CREATE TABLE` text in
//!   `sqlite_master`, which is the only place SQLite keeps `CHECK` constraints,
//!   `AUTOINCREMENT` and the names of unique constraints and foreign keys.
//! - **PostgreSQL**: `pg_catalog` (`pg_attribute`, `pg_attrdef`, `pg_constraint`,
//!   `pg_index`), limited to `current_schema()`.
//! - **MySQL / MariaDB**: `information_schema` (`COLUMNS`, `STATISTICS`, `KEY_COLUMN_USAGE`,
//!   `REFERENTIAL_CONSTRAINTS`, `CHECK_CONSTRAINTS`), limited to `DATABASE()`.
//!
//! Not read: partial and expression indexes (they have no neutral form and are skipped),
//! `INCLUDE` columns, index order (`ASC`/`DESC`), collations, comments, generated columns'
//! expressions, and the primary key's constraint name.
//!
//! # Round trip and normalisation
//!
//! A table created from a [`TableDef`] reads back as that definition after the per-backend
//! normalisations below. [`normalize_for`] applies them to any definition; it is idempotent,
//! so a drift check compares `normalize_for(d, &expected) == normalize_for(d, &found)`.
//! Introspection already returns the normal form except for check expressions, which keep
//! the server's text (useful for inspectdb), so `normalize_for(d, &created) == found` holds
//! whenever there are no checks, and on SQLite always.
//!
//! All backends:
//! - indexes, unique constraints, checks and foreign keys are sorted by name (then columns);
//! - primary-key and auto-increment columns are `NOT NULL`; auto-increment columns have no
//!   default;
//! - a default of `NULL` is no default; a constant default is read back as the value its
//!   literal denotes for the column's type (so `Int(1)` on a `Bool` column reads back as
//!   `Bool(true)`, `Int(5)` on a `Double` column as `Float(5.0)`);
//! - `CURRENT_TIMESTAMP`, `CURRENT_DATE` and `CURRENT_TIME` defaults are spelled in capitals
//!   without parentheses or precision (MariaDB reports `current_timestamp(6)`);
//! - a type is read back in the backend's spelling mapped to the neutral type, so a
//!   [`ColumnType::Custom`] that names a neutral type comes back as that type, and custom
//!   names are compared in the server's spelling (lower case on PostgreSQL and MySQL).
//!
//! SQLite:
//! - `auto_increment` holds only for the `integer PRIMARY KEY AUTOINCREMENT` column (a
//!   single-column integer key), whose type reads back as `BigInt` (SQLite's rowid is 64-bit);
//! - unnamed unique constraints, checks and foreign keys read back with an empty name.
//!
//! PostgreSQL:
//! - check expressions come back reformatted (`((qty >= 0) AND (qty < 100))`), so only check
//!   names are compared: [`normalize_for`] empties the expression;
//! - a `serial` column (a `nextval(…)` default) reads as auto-increment without a default.
//!
//! MySQL / MariaDB:
//! - `DateTimeTz` is `datetime(6)` and reads back as `DateTime` (values are stored as UTC);
//! - `Uuid` is `char(36)`, so every `char(36)` column reads back as `Uuid`;
//! - MariaDB's `json` is `longtext` with an automatic `json_valid` check named after the
//!   column: it reads back as `Json` and the check is hidden;
//! - the index InnoDB creates for a foreign key that has none (named after the constraint) is
//!   hidden;
//! - check expressions come back reformatted (`` `qty` >= 0 and … ``): names only, as on
//!   PostgreSQL.

use super::{render, CheckDef, ColumnType, DefaultValue, ForeignKeyDef, TableDef};
use crate::connection::Connection;
use crate::dialect::Dialect;
use crate::error::Result;
use crate::row::OwnedRow;
use crate::value::{parse_datetime_text, Value};
use chrono::{NaiveDate, NaiveTime};

/// The tables of the current schema (PostgreSQL `current_schema()`, MySQL `DATABASE()`, the
/// SQLite main database without its `sqlite_*` tables), sorted by name.
///
/// ```
/// use orm_backends::schema::table_names;
/// let pool = orm_backends::connect("sqlite::memory:")?;
/// let mut conn = pool.get()?;
/// conn.execute_batch("CREATE TABLE b (id integer); CREATE TABLE a (id integer)")?;
/// assert_eq!(table_names(&mut *conn)?, ["a", "b"]);
/// # Ok::<(), orm_backends::Error>(())
/// ```
pub fn table_names(conn: &mut dyn Connection) -> Result<Vec<String>> {
    let mut names = match conn.dialect() {
        Dialect::Sqlite => super::introspect_sqlite::table_names(conn)?,
        Dialect::Postgres => super::introspect_postgres::table_names(conn)?,
        Dialect::Mysql => super::introspect_mysql::table_names(conn)?,
    };
    names.sort();
    Ok(names)
}

/// The definition of `table` as the database holds it, or `None` when there is no such table
/// in the current schema. See the [module doc](self) for what is read and how it compares to
/// the definition the table was created from.
pub fn introspect_table(conn: &mut dyn Connection, table: &str) -> Result<Option<TableDef>> {
    let def = match conn.dialect() {
        Dialect::Sqlite => super::introspect_sqlite::introspect_table(conn, table)?,
        Dialect::Postgres => super::introspect_postgres::introspect_table(conn, table)?,
        Dialect::Mysql => super::introspect_mysql::introspect_table(conn, table)?,
    };
    Ok(def.map(|mut d| {
        sort_parts(&mut d);
        d
    }))
}

/// `def` as `dialect`'s database would report it after creating it: the normalisations of
/// the [module doc](self) applied. Idempotent.
///
/// ```
/// use orm_backends::schema::{normalize_for, ColumnDef, ColumnType, TableDef};
/// use orm_backends::{Dialect, Value};
/// let t = TableDef::new("t")
///     .column(ColumnDef::new("at", ColumnType::DateTimeTz))
///     .column(ColumnDef::new("on", ColumnType::Bool).default_value(1))
///     .check("t_on", "\"on\" IN (0, 1)");
/// let my = normalize_for(Dialect::Mysql, &t);
/// assert_eq!(my.columns[0].ty, ColumnType::DateTime);
/// assert_eq!(my.columns[1].default, Some(orm_backends::schema::DefaultValue::Value(Value::Bool(true))));
/// assert_eq!(my.checks[0].expr, "");
/// assert_eq!(normalize_for(Dialect::Mysql, &my), my);
/// ```
pub fn normalize_for(dialect: Dialect, def: &TableDef) -> TableDef {
    let mut out = def.clone();
    let single_pk = (def.primary_key.len() == 1).then(|| def.primary_key[0].as_str());
    for c in &mut out.columns {
        let in_pk = def.primary_key.contains(&c.name);
        if dialect == Dialect::Sqlite {
            c.auto_increment = c.auto_increment && c.ty.is_integer() && single_pk == Some(c.name.as_str());
        }
        c.ty = parse_column_type(dialect, &render::column_type_sql(&c.ty, dialect));
        if c.auto_increment {
            c.nullable = false;
            c.default = None;
            if dialect == Dialect::Sqlite {
                c.ty = ColumnType::BigInt;
            }
        }
        if in_pk {
            c.nullable = false;
        }
        c.default = c.default.take().and_then(|d| parse_default(dialect, &c.ty, &render::default_sql(&d, dialect)));
    }
    for check in &mut out.checks {
        check.expr = match dialect {
            Dialect::Sqlite => check.expr.trim().to_owned(),
            _ => String::new(),
        };
    }
    sort_parts(&mut out);
    out
}

fn sort_parts(def: &mut TableDef) {
    def.indexes.sort_by(|a, b| (&a.name, &a.columns).cmp(&(&b.name, &b.columns)));
    def.uniques.sort_by(|a, b| (&a.name, &a.columns).cmp(&(&b.name, &b.columns)));
    def.checks.sort_by(|a: &CheckDef, b: &CheckDef| (&a.name, &a.expr).cmp(&(&b.name, &b.expr)));
    def.foreign_keys.sort_by(|a: &ForeignKeyDef, b: &ForeignKeyDef| (&a.name, &a.columns).cmp(&(&b.name, &b.columns)));
}

/// The neutral type of a vendor type name as the backend reports it (or as
/// [`render::column_type_sql`] writes it).
pub(crate) fn parse_column_type(dialect: Dialect, name: &str) -> ColumnType {
    match dialect {
        Dialect::Sqlite => super::introspect_sqlite::column_type(name),
        Dialect::Postgres => super::introspect_postgres::column_type(name),
        Dialect::Mysql => super::introspect_mysql::column_type(name),
    }
}

/// Splits `name(args)` into the lower-cased base name and the numeric arguments:
/// `"decimal(10, 2)"` → `("decimal", [10, 2])`. Words after the parentheses are kept in the
/// base name (`"time(6) without time zone"` → `("time without time zone", [6])`).
pub(crate) fn split_type_args(name: &str) -> (String, Vec<u32>) {
    let lower = name.trim().to_ascii_lowercase();
    match (lower.find('('), lower.find(')')) {
        (Some(open), Some(close)) if open < close => {
            let args = lower[open + 1..close].split(',').filter_map(|a| a.trim().parse().ok()).collect();
            let base = format!("{} {}", lower[..open].trim(), lower[close + 1..].trim());
            (base.trim().to_owned(), args)
        }
        _ => (lower, Vec::new()),
    }
}

/// `Decimal { precision, scale }` from type arguments, when they fit.
pub(crate) fn decimal_type(args: &[u32]) -> Option<ColumnType> {
    match args {
        [p, s] => Some(ColumnType::Decimal { precision: u8::try_from(*p).ok()?, scale: u8::try_from(*s).ok()? }),
        [p] => Some(ColumnType::Decimal { precision: u8::try_from(*p).ok()?, scale: 0 }),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Defaults: SQL text → DefaultValue

/// A literal found in default SQL.
#[derive(Debug, PartialEq)]
enum Literal {
    /// A quoted string, unescaped.
    Str(String),
    /// A bare token: a number, `TRUE`, `FALSE`.
    Bare(String),
    /// `X'…'`.
    Hex(Vec<u8>),
}

/// Reads the default SQL a backend reports (or [`render::default_sql`] writes) for a column of
/// type `ty`: `None` for no default or `NULL`, [`DefaultValue::Value`] for a literal the type
/// understands, else [`DefaultValue::Expression`] with the text.
pub(crate) fn parse_default(dialect: Dialect, ty: &ColumnType, sql: &str) -> Option<DefaultValue> {
    let expr = strip_parens(sql.trim());
    if expr.is_empty() {
        return None;
    }
    let mut lit = expr;
    if dialect == Dialect::Postgres {
        while let Some(pos) = cast_position(lit) {
            lit = strip_parens(lit[..pos].trim());
        }
    }
    if lit.eq_ignore_ascii_case("null") {
        return None;
    }
    if let Some(v) = literal(dialect, lit).and_then(|l| literal_value(dialect, ty, l)) {
        return Some(DefaultValue::Value(v));
    }
    Some(DefaultValue::Expression(canonical_expression(expr)))
}

/// Removes balanced parentheses around the whole of `s`.
pub(crate) fn strip_parens(mut s: &str) -> &str {
    loop {
        let t = s.trim();
        if !(t.starts_with('(') && t.ends_with(')')) {
            return t;
        }
        // The opening parenthesis must close at the very end.
        let mut depth = 0i32;
        let mut in_str = false;
        let mut closes_at_end = true;
        for (i, c) in t.char_indices() {
            match c {
                '\'' => in_str = !in_str,
                '(' if !in_str => depth += 1,
                ')' if !in_str => {
                    depth -= 1;
                    if depth == 0 && i != t.len() - 1 {
                        closes_at_end = false;
                        break;
                    }
                }
                _ => {}
            }
        }
        if !closes_at_end {
            return t;
        }
        s = &t[1..t.len() - 1];
    }
}

/// Where a trailing PostgreSQL cast (`::type`, outside quotes and parentheses) starts.
fn cast_position(s: &str) -> Option<usize> {
    let mut in_str = false;
    let mut depth = 0i32;
    let mut last = None;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' => in_str = !in_str,
            b'(' if !in_str => depth += 1,
            b')' if !in_str => depth -= 1,
            b':' if !in_str && depth == 0 && bytes.get(i + 1) == Some(&b':') && (i == 0 || bytes[i - 1] != b':') => {
                last = Some(i);
            }
            _ => {}
        }
    }
    let pos = last?;
    // Only a type name may follow: words, spaces, digits, parentheses, brackets.
    let rest = &s[pos + 2..];
    rest.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '(' | ')' | ',' | '[' | ']' | '"' | '.'))
        .then_some(pos)
}

/// A whole-string literal, or `None` for anything else (an expression).
fn literal(dialect: Dialect, s: &str) -> Option<Literal> {
    if let Some(body) = s.strip_prefix(['X', 'x']).filter(|b| b.starts_with('\'')) {
        let text = quoted(dialect, body)?;
        return decode_hex(&text).map(Literal::Hex);
    }
    if s.starts_with('\'') {
        return quoted(dialect, s).map(Literal::Str);
    }
    let bare = s.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'))
        && s.chars().any(|c| c.is_ascii_digit());
    if bare || s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
        return Some(Literal::Bare(s.to_owned()));
    }
    None
}

/// The content of a single-quoted string that spans all of `s`.
fn quoted(dialect: Dialect, s: &str) -> Option<String> {
    let mut chars = s.chars();
    if chars.next() != Some('\'') {
        return None;
    }
    let mut out = String::new();
    let mut closed = false;
    while let Some(c) = chars.next() {
        if closed {
            return None; // text after the closing quote
        }
        match c {
            '\'' => {
                if chars.clone().next() == Some('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    closed = true;
                }
            }
            '\\' if dialect == Dialect::Mysql => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                '0' => out.push('\0'),
                'Z' => out.push('\u{1a}'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    closed.then_some(out)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// The value a literal denotes in a column of type `ty`, or `None` when it does not fit.
fn literal_value(dialect: Dialect, ty: &ColumnType, lit: Literal) -> Option<Value> {
    use ColumnType as T;
    let text = match &lit {
        Literal::Str(s) | Literal::Bare(s) => s.as_str(),
        Literal::Hex(_) => "",
    };
    Some(match ty {
        T::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "1" | "t" | "true" | "y" | "yes" | "on" => Value::Bool(true),
            "0" | "f" | "false" | "n" | "no" | "off" => Value::Bool(false),
            _ => return None,
        },
        T::SmallInt | T::Integer | T::BigInt => Value::Int(text.trim().parse().ok()?),
        T::Real | T::Double => Value::Float(text.trim().parse().ok()?),
        T::Decimal { .. } => {
            let t = text.trim();
            let d = t.parse::<rust_decimal::Decimal>().or_else(|_| rust_decimal::Decimal::from_scientific(t)).ok()?;
            Value::Decimal(d)
        }
        T::Varchar(_) | T::Text => Value::Text(text.to_owned()),
        T::Bytes => match lit {
            Literal::Hex(b) => Value::Bytes(b),
            Literal::Str(s) if dialect == Dialect::Postgres => match s.strip_prefix("\\x") {
                Some(hex) => Value::Bytes(decode_hex(hex)?),
                None => Value::Bytes(s.into_bytes()),
            },
            Literal::Str(s) => Value::Bytes(s.into_bytes()),
            Literal::Bare(_) => return None,
        },
        T::Date => Value::Date(NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?),
        T::Time => Value::Time(NaiveTime::parse_from_str(text.trim(), "%H:%M:%S%.f").ok()?),
        T::DateTime => Value::DateTime(parse_datetime_text(text)?.0),
        T::DateTimeTz => Value::DateTimeTz(parse_datetime_text(text)?.0.and_utc()),
        T::Uuid => Value::Uuid(uuid::Uuid::parse_str(text.trim()).ok()?),
        T::Json => match lit {
            Literal::Str(s) => Value::Json(serde_json::from_str(&s).ok()?),
            _ => return None,
        },
        T::Custom(_) => match lit {
            Literal::Str(s) => Value::Text(s),
            Literal::Hex(b) => Value::Bytes(b),
            Literal::Bare(s) => {
                if s.eq_ignore_ascii_case("true") {
                    Value::Bool(true)
                } else if s.eq_ignore_ascii_case("false") {
                    Value::Bool(false)
                } else if let Ok(i) = s.parse::<i64>() {
                    Value::Int(i)
                } else {
                    Value::Float(s.parse().ok()?)
                }
            }
        },
    })
}

/// `current_timestamp()`, `CURRENT_TIMESTAMP(6)` … → `CURRENT_TIMESTAMP`; other expressions
/// unchanged.
fn canonical_expression(expr: &str) -> String {
    let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    for word in ["CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME"] {
        if let Some(rest) = compact.strip_prefix(word) {
            let args_only = rest.is_empty()
                || (rest.starts_with('(')
                    && rest.ends_with(')')
                    && rest[1..rest.len() - 1].chars().all(|c| c.is_ascii_digit()));
            if args_only {
                return word.to_owned();
            }
        }
    }
    expr.trim().to_owned()
}

// ---------------------------------------------------------------------------------------
// Row helpers shared by the vendor files

/// Column `i` as text (text, bytes or a number).
pub(crate) fn text(row: &OwnedRow, i: usize) -> Result<String> {
    Ok(opt_text(row, i)?.unwrap_or_default())
}

/// Column `i` as text, `None` for `NULL`.
pub(crate) fn opt_text(row: &OwnedRow, i: usize) -> Result<Option<String>> {
    Ok(match &row.values()[i] {
        Value::Null => None,
        Value::Int(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => Some(row.get::<String>(i)?),
    })
}

/// Column `i` as an integer.
pub(crate) fn int(row: &OwnedRow, i: usize) -> Result<i64> {
    row.get::<i64>(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(dialect: Dialect, ty: ColumnType, sql: &str) -> Option<DefaultValue> {
        parse_default(dialect, &ty, sql)
    }

    fn v(v: impl Into<Value>) -> Option<DefaultValue> {
        Some(DefaultValue::Value(v.into()))
    }

    #[test]
    fn postgres_defaults_lose_their_casts() {
        use Dialect::Postgres as P;
        assert_eq!(d(P, ColumnType::Text, "'it''s'::text"), v("it's"));
        assert_eq!(d(P, ColumnType::Varchar(9), "'x\\y'::character varying"), v("x\\y"));
        assert_eq!(d(P, ColumnType::Integer, "'-5'::integer"), v(-5));
        assert_eq!(d(P, ColumnType::Double, "'-2.5'::numeric"), v(-2.5));
        assert_eq!(d(P, ColumnType::Bool, "true"), v(true));
        assert_eq!(d(P, ColumnType::Bytes, "'\\x0102'::bytea"), v(vec![1u8, 2]));
        assert_eq!(d(P, ColumnType::Json, "'{\"a\": 1}'::jsonb"), v(serde_json::json!({"a": 1})));
        assert_eq!(d(P, ColumnType::Text, "NULL::text"), None);
        let at = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap().and_hms_opt(3, 4, 5).unwrap();
        assert_eq!(
            d(P, ColumnType::DateTimeTz, "'2024-01-02 05:04:05+02'::timestamp with time zone"),
            v(Value::DateTimeTz(at.and_utc()))
        );
        assert_eq!(
            d(P, ColumnType::DateTime, "CURRENT_TIMESTAMP"),
            Some(DefaultValue::Expression("CURRENT_TIMESTAMP".into()))
        );
        assert_eq!(
            d(P, ColumnType::BigInt, "nextval('t_id_seq'::regclass)"),
            Some(DefaultValue::Expression("nextval('t_id_seq'::regclass)".into()))
        );
    }

    #[test]
    fn mysql_defaults_unescape_backslashes() {
        use Dialect::Mysql as M;
        assert_eq!(d(M, ColumnType::Text, "'it\\'s'"), v("it's"));
        assert_eq!(d(M, ColumnType::Text, "'x\\\\y''z'"), v("x\\y'z"));
        assert_eq!(d(M, ColumnType::Bool, "1"), v(true));
        assert_eq!(d(M, ColumnType::Bytes, "X'0102'"), v(vec![1u8, 2]));
        assert_eq!(d(M, ColumnType::Text, "NULL"), None);
        assert_eq!(
            d(M, ColumnType::DateTime, "current_timestamp(6)"),
            Some(DefaultValue::Expression("CURRENT_TIMESTAMP".into()))
        );
        let dec = "1.50".parse::<rust_decimal::Decimal>().unwrap();
        assert_eq!(d(M, ColumnType::Decimal { precision: 5, scale: 2 }, "1.50"), v(dec));
    }

    #[test]
    fn unparsable_literals_stay_expressions() {
        assert_eq!(d(Dialect::Sqlite, ColumnType::Integer, "'abc'"), Some(DefaultValue::Expression("'abc'".into())));
        assert_eq!(
            d(Dialect::Sqlite, ColumnType::Text, "(lower('A') || 'b')"),
            Some(DefaultValue::Expression("lower('A') || 'b'".into()))
        );
        assert_eq!(strip_parens("(a) + (b)"), "(a) + (b)");
    }

    #[test]
    fn type_arguments_split() {
        assert_eq!(split_type_args("Decimal(10, 2)"), ("decimal".into(), vec![10, 2]));
        assert_eq!(split_type_args("time(6) without time zone"), ("time without time zone".into(), vec![6]));
        assert_eq!(split_type_args("text"), ("text".into(), vec![]));
    }
}
