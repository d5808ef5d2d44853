//! PostgreSQL introspection through `pg_catalog`, limited to `current_schema()`.
//!
//! Every result column is cast to `text` or `int8` so the queries read the same through any
//! driver mapping; the table name is always the bound parameter `$1`.

use super::introspection::{decimal_type, opt_text, parse_default, split_type_args, strip_parens, text};
use super::{CheckDef, ColumnDef, ColumnType, ForeignKeyDef, IndexDef, ReferentialAction, TableDef, UniqueDef};
use crate::connection::Connection;
use crate::dialect::Dialect;
use crate::error::Result;
use crate::value::Value;

/// The oid of table `$1` in the current schema.
const REL: &str = "(SELECT c.oid FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = current_schema() AND c.relname::text = $1 AND c.relkind IN ('r', 'p'))";

pub(crate) fn table_names(conn: &mut dyn Connection) -> Result<Vec<String>> {
    let rows = conn.query(
        "SELECT c.relname::text FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
        &[],
    )?;
    rows.iter().map(|r| text(r, 0)).collect()
}

/// The neutral type of a PostgreSQL type name (`format_type` spelling or the short aliases).
pub(crate) fn column_type(name: &str) -> ColumnType {
    let (base, args) = split_type_args(name);
    match (base.as_str(), args.as_slice()) {
        ("boolean" | "bool", []) => ColumnType::Bool,
        ("smallint" | "int2", []) => ColumnType::SmallInt,
        ("integer" | "int" | "int4", []) => ColumnType::Integer,
        ("bigint" | "int8", []) => ColumnType::BigInt,
        ("real" | "float4", []) => ColumnType::Real,
        ("double precision" | "float8", []) => ColumnType::Double,
        ("numeric" | "decimal", a) if !a.is_empty() => decimal_type(a).unwrap_or_else(|| custom(name)),
        ("character varying" | "varchar", [n]) => ColumnType::Varchar(*n),
        ("text", []) => ColumnType::Text,
        ("bytea", []) => ColumnType::Bytes,
        ("date", []) => ColumnType::Date,
        ("time" | "time without time zone", _) => ColumnType::Time,
        ("timestamp" | "timestamp without time zone", _) => ColumnType::DateTime,
        ("timestamptz" | "timestamp with time zone", _) => ColumnType::DateTimeTz,
        ("uuid", []) => ColumnType::Uuid,
        ("jsonb" | "json", []) => ColumnType::Json,
        _ => custom(name),
    }
}

/// Built-in names are case-insensitive and reported in lower case; quoted names keep theirs.
fn custom(name: &str) -> ColumnType {
    let name = name.trim();
    ColumnType::Custom(if name.contains('"') { name.to_owned() } else { name.to_ascii_lowercase() })
}

pub(crate) fn introspect_table(conn: &mut dyn Connection, table: &str) -> Result<Option<TableDef>> {
    let name = [Value::from(table)];
    let exists = conn.query(&format!("SELECT {REL}::int8"), &name)?;
    if exists.first().is_none_or(|r| r.values()[0].is_null()) {
        return Ok(None);
    }
    let mut def = TableDef::new(table);

    let rows = conn.query(
        &format!(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)::text, a.attnotnull::text, \
             pg_get_expr(d.adbin, d.adrelid)::text, a.attidentity::text \
             FROM pg_catalog.pg_attribute a \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = {REL} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        ),
        &name,
    )?;
    for r in &rows {
        let ty = column_type(&text(r, 1)?);
        let default_sql = opt_text(r, 3)?;
        let serial = default_sql.as_deref().is_some_and(|d| d.starts_with("nextval("));
        let auto_increment = !text(r, 4)?.trim().is_empty() || serial;
        let default = match default_sql {
            Some(sql) if !auto_increment => parse_default(Dialect::Postgres, &ty, &sql),
            _ => None,
        };
        def.columns.push(ColumnDef { name: text(r, 0)?, ty, nullable: text(r, 2)? != "true", default, auto_increment });
    }

    // Primary key, unique constraints and foreign keys: one row per constraint column.
    let rows = conn.query(
        &format!(
            "SELECT con.conname::text, con.contype::text, k.ord::int8, a.attname::text, \
             fr.relname::text, fa.attname::text, con.confdeltype::text, con.confupdtype::text \
             FROM pg_catalog.pg_constraint con \
             CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
             LEFT JOIN pg_catalog.pg_class fr ON fr.oid = con.confrelid \
             LEFT JOIN pg_catalog.pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[k.ord] \
             WHERE con.conrelid = {REL} AND con.contype IN ('p', 'u', 'f') \
             ORDER BY con.conname, k.ord"
        ),
        &name,
    )?;
    let mut last: Option<(String, String)> = None;
    for r in &rows {
        let (cname, kind, column) = (text(r, 0)?, text(r, 1)?, text(r, 3)?);
        let first = last.as_ref() != Some(&(cname.clone(), kind.clone()));
        match kind.as_str() {
            "p" => def.primary_key.push(column),
            "u" => {
                if first {
                    def.uniques.push(UniqueDef { name: cname.clone(), columns: Vec::new() });
                }
                def.uniques.last_mut().expect("pushed for the first column").columns.push(column);
            }
            _ => {
                if first {
                    def.foreign_keys.push(ForeignKeyDef {
                        name: cname.clone(),
                        columns: Vec::new(),
                        ref_table: text(r, 4)?,
                        ref_columns: Vec::new(),
                        on_delete: action(&text(r, 6)?),
                        on_update: action(&text(r, 7)?),
                    });
                }
                let fk = def.foreign_keys.last_mut().expect("pushed for the first column");
                fk.columns.push(column);
                fk.ref_columns.push(text(r, 5)?);
            }
        }
        last = Some((cname, kind));
    }

    let rows = conn.query(
        &format!(
            "SELECT conname::text, pg_get_expr(conbin, conrelid)::text FROM pg_catalog.pg_constraint \
             WHERE conrelid = {REL} AND contype = 'c'"
        ),
        &name,
    )?;
    for r in &rows {
        let expr = strip_parens(&text(r, 1)?).to_owned();
        def.checks.push(CheckDef { name: text(r, 0)?, expr });
    }

    // Indexes not backing a constraint; partial and expression indexes are skipped.
    let rows = conn.query(
        &format!(
            "SELECT i.relname::text, x.indisunique::text, a.attname::text, \
             (x.indpred IS NOT NULL OR x.indexprs IS NOT NULL)::text \
             FROM pg_catalog.pg_index x \
             JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid \
             CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum \
             WHERE x.indrelid = {REL} AND k.ord <= x.indnkeyatts \
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c \
                             WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u', 'x')) \
             ORDER BY i.relname, k.ord"
        ),
        &name,
    )?;
    let mut indexes: Vec<(String, bool, Option<Vec<String>>)> = Vec::new();
    for r in &rows {
        let index = text(r, 0)?;
        if indexes.last().map(|i| &i.0) != Some(&index) {
            let skip = text(r, 3)? == "true";
            indexes.push((index, text(r, 1)? == "true", (!skip).then(Vec::new)));
        }
        let entry = indexes.last_mut().expect("pushed above");
        match (opt_text(r, 2)?, &mut entry.2) {
            (Some(column), Some(columns)) => columns.push(column),
            _ => entry.2 = None, // an expression column
        }
    }
    for (index, unique, columns) in indexes {
        match (columns, unique) {
            (Some(columns), true) => def.uniques.push(UniqueDef { name: index, columns }),
            (Some(columns), false) => def.indexes.push(IndexDef { name: index, columns }),
            (None, _) => {}
        }
    }
    Ok(Some(def))
}

fn action(code: &str) -> ReferentialAction {
    match code.trim() {
        "r" => ReferentialAction::Restrict,
        "c" => ReferentialAction::Cascade,
        "n" => ReferentialAction::SetNull,
        "d" => ReferentialAction::SetDefault,
        _ => ReferentialAction::NoAction,
    }
}
