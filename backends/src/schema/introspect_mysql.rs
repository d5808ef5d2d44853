//! MySQL / MariaDB introspection through `information_schema`, limited to `DATABASE()`.
//!
//! Written against MariaDB 10.11 and MySQL 8. The two differ in how they report defaults
//! (MariaDB: SQL text, with string literals quoted; MySQL: the raw value, with
//! `DEFAULT_GENERATED` marking expressions), in `json` (MariaDB: `longtext` plus a
//! `json_valid` check) and in `CHECK_CONSTRAINTS` (only MariaDB has `TABLE_NAME`).

use super::introspection::{decimal_type, int, opt_text, parse_default, split_type_args, text};
use super::{CheckDef, ColumnDef, ColumnType, ForeignKeyDef, IndexDef, ReferentialAction, TableDef, UniqueDef};
use crate::connection::Connection;
use crate::dialect::Dialect;
use crate::error::Result;
use crate::value::Value;

pub(crate) fn table_names(conn: &mut dyn Connection) -> Result<Vec<String>> {
    let rows = conn.query(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
        &[],
    )?;
    rows.iter().map(|r| text(r, 0)).collect()
}

/// The neutral type of a MySQL `COLUMN_TYPE` (display widths ignored).
pub(crate) fn column_type(name: &str) -> ColumnType {
    let (base, args) = split_type_args(name);
    match (base.as_str(), args.as_slice()) {
        ("tinyint", [1]) | ("bool" | "boolean", []) => ColumnType::Bool,
        ("smallint", _) => ColumnType::SmallInt,
        ("int" | "integer", _) => ColumnType::Integer,
        ("bigint", _) => ColumnType::BigInt,
        ("float", []) => ColumnType::Real,
        ("double" | "double precision", []) => ColumnType::Double,
        ("decimal" | "numeric", a) if !a.is_empty() => decimal_type(a).unwrap_or_else(|| custom(name)),
        ("varchar", [n]) => ColumnType::Varchar(*n),
        ("longtext", []) => ColumnType::Text,
        ("longblob", []) => ColumnType::Bytes,
        ("date", []) => ColumnType::Date,
        ("time", _) => ColumnType::Time,
        ("datetime", _) => ColumnType::DateTime,
        ("char", [36]) => ColumnType::Uuid,
        ("json", []) => ColumnType::Json,
        _ => custom(name),
    }
}

fn custom(name: &str) -> ColumnType {
    ColumnType::Custom(name.trim().to_ascii_lowercase())
}

/// `json_valid(`col`)` in any spacing or quoting.
fn is_json_valid_check(clause: &str, column: &str) -> bool {
    let compact: String = clause.chars().filter(|c| !c.is_whitespace() && *c != '`').collect();
    compact.eq_ignore_ascii_case(&format!("json_valid({column})"))
}

pub(crate) fn introspect_table(conn: &mut dyn Connection, table: &str) -> Result<Option<TableDef>> {
    let name = [Value::from(table)];
    let found = conn.query(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'",
        &name,
    )?;
    if found.is_empty() {
        return Ok(None);
    }
    let mariadb = conn.query("SELECT VERSION()", &[])?.first().map(|r| text(r, 0)).transpose()?.unwrap_or_default();
    let mariadb = mariadb.to_ascii_lowercase().contains("mariadb");
    let mut def = TableDef::new(table);

    // Checks first: MariaDB's json columns are recognised by theirs.
    let check_sql = if mariadb {
        "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ?"
    } else {
        "SELECT cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS cc \
         JOIN information_schema.TABLE_CONSTRAINTS tc ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA \
         AND tc.CONSTRAINT_NAME = cc.CONSTRAINT_NAME AND tc.CONSTRAINT_TYPE = 'CHECK' \
         WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.TABLE_NAME = ?"
    };
    let mut checks = Vec::new();
    for r in &conn.query(check_sql, &name)? {
        checks.push(CheckDef { name: text(r, 0)?, expr: text(r, 1)? });
    }

    let rows = conn.query(
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        &name,
    )?;
    for r in &rows {
        let column = text(r, 0)?;
        let mut ty = column_type(&text(r, 1)?);
        if ty == ColumnType::Text {
            if let Some(i) = checks.iter().position(|c| c.name == column && is_json_valid_check(&c.expr, &column)) {
                checks.remove(i);
                ty = ColumnType::Json;
            }
        }
        let extra = text(r, 4)?.to_ascii_lowercase();
        let auto_increment = extra.contains("auto_increment");
        let default = match opt_text(r, 3)? {
            None => None,
            Some(_) if auto_increment => None,
            Some(sql) if mariadb || extra.contains("default_generated") => parse_default(Dialect::Mysql, &ty, &sql),
            Some(raw) => {
                // MySQL reports constant defaults unquoted.
                let mut sql = String::new();
                Dialect::Mysql.write_string_literal(&mut sql, &raw);
                parse_default(Dialect::Mysql, &ty, &sql)
            }
        };
        def.columns.push(ColumnDef { name: column, ty, nullable: text(r, 2)? == "YES", default, auto_increment });
    }
    def.checks = checks;

    // Foreign keys.
    let rows = conn.query(
        "SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, \
         r.DELETE_RULE, r.UPDATE_RULE \
         FROM information_schema.KEY_COLUMN_USAGE k \
         JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA \
         AND r.TABLE_NAME = k.TABLE_NAME AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
         WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL \
         ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        &name,
    )?;
    for r in &rows {
        let cname = text(r, 0)?;
        if def.foreign_keys.last().map(|f| &f.name) != Some(&cname) {
            def.foreign_keys.push(ForeignKeyDef {
                name: cname,
                columns: Vec::new(),
                ref_table: text(r, 2)?,
                ref_columns: Vec::new(),
                on_delete: ReferentialAction::parse(&text(r, 4)?).unwrap_or_default(),
                on_update: ReferentialAction::parse(&text(r, 5)?).unwrap_or_default(),
            });
        }
        let fk = def.foreign_keys.last_mut().expect("pushed above");
        fk.columns.push(text(r, 1)?);
        fk.ref_columns.push(text(r, 3)?);
    }

    // Primary key, unique and plain indexes.
    let rows = conn.query(
        "SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
        &name,
    )?;
    let mut indexes: Vec<(String, bool, Option<Vec<String>>)> = Vec::new();
    for r in &rows {
        let index = text(r, 0)?;
        if indexes.last().map(|i| &i.0) != Some(&index) {
            indexes.push((index, int(r, 1)? == 0, Some(Vec::new())));
        }
        let entry = indexes.last_mut().expect("pushed above");
        match (opt_text(r, 2)?, &mut entry.2) {
            (Some(column), Some(columns)) => columns.push(column),
            _ => entry.2 = None, // a functional index part
        }
    }
    for (index, unique, columns) in indexes {
        let Some(columns) = columns else { continue };
        if index == "PRIMARY" {
            def.primary_key = columns;
        } else if unique {
            def.uniques.push(UniqueDef { name: index, columns });
        } else if !def.foreign_keys.iter().any(|f| f.name == index && f.columns == columns) {
            // (An index named after a foreign key on its columns is the one InnoDB made for it.)
            def.indexes.push(IndexDef { name: index, columns });
        }
    }
    Ok(Some(def))
}
