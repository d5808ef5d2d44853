//! The recorder table `orm_migrations`: which migrations are applied, when, with which
//! checksum, and (on backends without transactional DDL) how far a migration got.

use crate::error::{Key, Result};
use orm_backends::schema::{ColumnDef, ColumnType, TableDef};
use orm_backends::{Connection, Dialect, Value};
use std::collections::BTreeMap;

/// The recorder table's name.
pub const TABLE: &str = "orm_migrations";

/// One row of the recorder table.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// When it was recorded (UTC, ISO 8601).
    pub applied_at: String,
    /// The migration's checksum when it was applied.
    pub checksum: String,
    /// `Some(n)`: only the first `n` operations were applied (a run stopped on a backend
    /// without transactional DDL); `None`: complete.
    pub progress: Option<i64>,
}

/// The recorder table's definition.
pub fn table() -> TableDef {
    TableDef::new(TABLE)
        .column(ColumnDef::new("id", ColumnType::BigInt).auto_increment())
        .column(ColumnDef::new("app", ColumnType::Varchar(191)))
        .column(ColumnDef::new("name", ColumnType::Varchar(191)))
        .column(ColumnDef::new("applied", ColumnType::Varchar(40)))
        .column(ColumnDef::new("checksum", ColumnType::Varchar(64)))
        .column(ColumnDef::new("progress", ColumnType::BigInt).nullable())
        .primary_key(["id"])
        .unique("orm_migrations_app_name_uniq", ["app", "name"])
}

fn ph(d: Dialect, i: usize) -> String {
    match d {
        Dialect::Postgres => format!("${i}"),
        _ => "?".to_owned(),
    }
}

/// Reads and writes the recorder table on one connection.
pub struct Recorder;

impl Recorder {
    /// Does the table exist?
    pub fn has_table(conn: &mut dyn Connection) -> Result<bool> {
        Ok(orm_backends::schema::table_names(conn)?.iter().any(|t| t == TABLE))
    }

    /// Creates the table if it is missing.
    pub fn ensure_table(conn: &mut dyn Connection) -> Result<()> {
        if Self::has_table(conn)? {
            return Ok(());
        }
        for s in table().create_sql_if_not_exists(conn.dialect()) {
            conn.execute_batch(&s)?;
        }
        Ok(())
    }

    /// Every recorded migration (none when the table is missing).
    pub fn applied(conn: &mut dyn Connection) -> Result<BTreeMap<Key, Applied>> {
        if !Self::has_table(conn)? {
            return Ok(BTreeMap::new());
        }
        let d = conn.dialect();
        let sql = format!(
            "SELECT {}, {}, {}, {}, {} FROM {} ORDER BY {}",
            d.quote("app"),
            d.quote("name"),
            d.quote("applied"),
            d.quote("checksum"),
            d.quote("progress"),
            d.quote(TABLE),
            d.quote("id")
        );
        let mut out = BTreeMap::new();
        for r in conn.query(&sql, &[])? {
            out.insert(
                Key::new(r.get::<String>(0)?, r.get::<String>(1)?),
                Applied { applied_at: r.get(2)?, checksum: r.get(3)?, progress: r.get::<Option<i64>>(4)? },
            );
        }
        Ok(out)
    }

    /// Records `key` as applied (complete) with `checksum`, replacing a progress row.
    pub fn record_applied(conn: &mut dyn Connection, key: &Key, checksum: &str) -> Result<()> {
        Self::record(conn, key, checksum, None)
    }

    /// Records that the first `done` operations of `key` are applied.
    pub fn record_progress(conn: &mut dyn Connection, key: &Key, checksum: &str, done: i64) -> Result<()> {
        Self::record(conn, key, checksum, Some(done))
    }

    fn record(conn: &mut dyn Connection, key: &Key, checksum: &str, progress: Option<i64>) -> Result<()> {
        Self::record_unapplied(conn, key)?;
        let d = conn.dialect();
        let sql = format!(
            "INSERT INTO {} ({}, {}, {}, {}, {}) VALUES ({}, {}, {}, {}, {})",
            d.quote(TABLE),
            d.quote("app"),
            d.quote("name"),
            d.quote("applied"),
            d.quote("checksum"),
            d.quote("progress"),
            ph(d, 1),
            ph(d, 2),
            ph(d, 3),
            ph(d, 4),
            ph(d, 5)
        );
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let progress = progress.map_or(Value::Null, Value::Int);
        conn.execute(
            &sql,
            &[
                Value::from(key.app.as_str()),
                Value::from(key.name.as_str()),
                Value::from(now),
                Value::from(checksum),
                progress,
            ],
        )?;
        Ok(())
    }

    /// Forgets `key`.
    pub fn record_unapplied(conn: &mut dyn Connection, key: &Key) -> Result<()> {
        let d = conn.dialect();
        let sql = format!(
            "DELETE FROM {} WHERE {} = {} AND {} = {}",
            d.quote(TABLE),
            d.quote("app"),
            ph(d, 1),
            d.quote("name"),
            ph(d, 2)
        );
        conn.execute(&sql, &[Value::from(key.app.as_str()), Value::from(key.name.as_str())])?;
        Ok(())
    }
}
