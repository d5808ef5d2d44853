//! [`SchemaEditor`]: turns one table definition into another on a live database (or into the
//! SQL that would, for `sqlmigrate`), per dialect.
//!
//! Every schema operation is expressed as [`TableChange`]s: the table as the state before the
//! operation renders it, the table as the state after renders it, and the hints a diff cannot
//! guess (which columns were renamed, what to fill existing rows with). The editor diffs the
//! two definitions and emits the statements:
//!
//! - **PostgreSQL and MySQL/MariaDB** alter in place: drop the foreign keys, checks, uniques and
//!   indexes that go away (and foreign keys over columns whose type changes), rename, drop and
//!   add columns, alter changed columns (PostgreSQL `ALTER COLUMN … TYPE … USING`, `SET/DROP
//!   DEFAULT`, `SET/DROP NOT NULL`; MySQL `MODIFY COLUMN` with the whole definition), then add
//!   the new uniques, checks, indexes and foreign keys. `NULL`s are filled with `UPDATE` before
//!   a column becomes `NOT NULL`; a new `NOT NULL` column with a one-off default is added with
//!   that default, which is then dropped.
//! - **SQLite** adds columns, renames columns and tables, and creates or drops indexes in place
//!   when that is all there is; anything else rebuilds the table as Django's `_remake_table`
//!   does: `CREATE TABLE "new__t"` with the new definition, `INSERT … SELECT` the rows (renamed
//!   columns mapped, fills applied), `DROP TABLE "t"`, `ALTER TABLE "new__t" RENAME TO "t"`,
//!   re-create the indexes, then `PRAGMA foreign_key_check("t")`. Foreign-key enforcement must be
//!   off while that runs (a dropped parent table would otherwise cascade into its children);
//!   the executor turns it off around each migration, and the editor refuses to rebuild
//!   otherwise.
//!
//! The editor lives in this crate rather than in `orm-backends` because the migrations engine
//! is its only user and its inputs (state-rendered tables plus operation hints) belong here.
//! It writes no DDL text itself: every `CREATE`/`DROP`/`ALTER` statement comes from the
//! backend layer's sea-query renderer (`TableDef::create_sql`/`drop_sql`, `IndexDef`'s, and
//! [`AlterTable`] for the `ALTER TABLE` forms), which never reaches sea-query's panicking
//! SQLite ALTERs. What stays here is data movement (`UPDATE`, the rebuild's
//! `INSERT … SELECT`, PostgreSQL's `setval`) and SQLite's `PRAGMA`s.

use crate::error::{MigrationError, Result};
use crate::routing::Routing;
use orm_backends::schema::render::AlterTable;
use orm_backends::schema::{default_sql, ColumnDef, DefaultValue, TableDef};
use orm_backends::{Connection, Dialect, Value};

/// One table going from `before` to `after` (either may be absent: a creation or a drop).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableChange {
    /// The table before the operation.
    pub before: Option<TableDef>,
    /// The table after it.
    pub after: Option<TableDef>,
    /// Columns renamed by the operation, `(before, after)`.
    pub renamed_columns: Vec<(String, String)>,
    /// Values for existing rows: a column added `NOT NULL`, or `NULL`s of a column that becomes
    /// `NOT NULL` (by its name after the change).
    pub fill: Vec<(String, Value)>,
}

impl TableChange {
    /// The change that undoes this one (fills are dropped: going back never needs them, except
    /// to re-add a `NOT NULL` column, which takes the column's own default).
    pub fn inverted(&self) -> TableChange {
        TableChange {
            before: self.after.clone(),
            after: self.before.clone(),
            renamed_columns: self.renamed_columns.iter().map(|(a, b)| (b.clone(), a.clone())).collect(),
            fill: Vec::new(),
        }
    }
}

/// What long-running steps report (table rebuilds, data copies).
pub type Progress<'a> = Box<dyn FnMut(&str) + 'a>;

/// Applies [`TableChange`]s on a connection, or only collects their SQL.
pub struct SchemaEditor<'c> {
    conn: Option<&'c mut dyn Connection>,
    dialect: Dialect,
    collected: Vec<String>,
    progress: Option<Progress<'c>>,
    rebuilt: Vec<String>,
    routing: Routing,
}

impl std::fmt::Debug for SchemaEditor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaEditor")
            .field("dialect", &self.dialect)
            .field("executing", &self.conn.is_some())
            .field("routing", &self.routing)
            .finish()
    }
}

fn q(d: Dialect, name: &str) -> String {
    d.quote(name)
}

fn literal(v: &Value, d: Dialect) -> String {
    default_sql(&DefaultValue::Value(v.clone()), d)
}

impl<'c> SchemaEditor<'c> {
    /// An editor that runs its statements on `conn` (and collects them).
    pub fn new(conn: &'c mut dyn Connection) -> Self {
        let dialect = conn.dialect();
        SchemaEditor {
            conn: Some(conn),
            dialect,
            collected: Vec::new(),
            progress: None,
            rebuilt: Vec::new(),
            routing: Routing::default(),
        }
    }

    /// An editor that only collects the statements for `dialect` (`sqlmigrate`).
    pub fn collect(dialect: Dialect) -> Self {
        SchemaEditor {
            conn: None,
            dialect,
            collected: Vec::new(),
            progress: None,
            rebuilt: Vec::new(),
            routing: Routing::default(),
        }
    }

    /// Works for the database `routing` names: operations the routers refuse there change
    /// nothing (Django's `schema_editor.connection.alias` and `router.allow_migrate`). Without
    /// it, the `"default"` database with everything allowed.
    pub fn with_routing(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
    }

    /// The database this editor works for and what its routers allow.
    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    /// Reports long steps to `f`.
    pub fn with_progress(mut self, f: impl FnMut(&str) + 'c) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// The dialect statements are written in.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Does this editor run statements (rather than only collect them)?
    pub fn is_executing(&self) -> bool {
        self.conn.is_some()
    }

    /// The statements so far.
    pub fn collected(&self) -> &[String] {
        &self.collected
    }

    /// The SQLite tables rebuilt so far (by their names after the change), in order.
    pub fn rebuilt_tables(&self) -> &[String] {
        &self.rebuilt
    }

    /// Takes the statements collected so far.
    pub fn take_collected(&mut self) -> Vec<String> {
        std::mem::take(&mut self.collected)
    }

    /// The connection, when executing (RunSql, RunRust and checks use it).
    pub fn connection(&mut self) -> Option<&mut (dyn Connection + 'c)> {
        match &mut self.conn {
            Some(c) => Some(&mut **c),
            None => None,
        }
    }

    /// Runs `f` with the connection and the progress reporter (RunRust). When only
    /// collecting, `f` is not called.
    pub fn run_with_connection<E>(
        &mut self,
        f: impl FnOnce(&mut dyn Connection, &mut dyn FnMut(&str)) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let Some(conn) = &mut self.conn else { return Ok(()) };
        let mut quiet = |_: &str| {};
        match &mut self.progress {
            Some(p) => f(&mut **conn, &mut **p),
            None => f(&mut **conn, &mut quiet),
        }
    }

    fn report(&mut self, msg: &str) {
        if let Some(p) = &mut self.progress {
            p(msg);
        }
    }

    /// Runs (or collects) one statement.
    pub fn execute(&mut self, sql: impl Into<String>) -> Result<()> {
        let sql = sql.into();
        if let Some(c) = &mut self.conn {
            c.execute_batch(&sql)?;
        }
        self.collected.push(sql);
        Ok(())
    }

    /// Creates a table with its indexes.
    pub fn create_table(&mut self, t: &TableDef) -> Result<()> {
        t.check_dialect(self.dialect)?;
        for s in t.create_sql(self.dialect) {
            self.execute(s)?;
        }
        Ok(())
    }

    /// Drops a table.
    pub fn drop_table(&mut self, t: &TableDef) -> Result<()> {
        self.execute(t.drop_sql(self.dialect))
    }

    /// Renames a table.
    pub fn rename_table(&mut self, old: &str, new: &str) -> Result<()> {
        self.execute(AlterTable::new(old, self.dialect).rename_to(new))
    }

    /// Applies one change.
    pub fn apply(&mut self, change: &TableChange) -> Result<()> {
        self.apply_all(std::slice::from_ref(change))
    }

    /// Applies several changes made by one operation, as one step. On PostgreSQL and MySQL the
    /// foreign keys the changes drop go first (all of them: also those of other tables that
    /// point at a column whose type changes, such as a primary key retyped under the foreign
    /// keys of other tables) and the foreign keys they add go last, so a referenced column
    /// and the columns referencing it change type together between the two; SQLite applies
    /// each change in turn (rebuilding a table re-creates its foreign keys, and enforcement
    /// is off meanwhile).
    pub fn apply_all(&mut self, changes: &[TableChange]) -> Result<()> {
        if self.dialect == Dialect::Sqlite {
            for c in changes {
                match (&c.before, &c.after) {
                    (None, None) => {}
                    (None, Some(t)) => self.create_table(t)?,
                    (Some(t), None) => self.drop_table(t)?,
                    (Some(a), Some(b)) => {
                        let diff = Diff::new(a, b, &c.renamed_columns, &c.fill);
                        if !(diff.is_empty() && a.name == b.name) {
                            self.sqlite_alter(a, b, &diff)?;
                        }
                    }
                }
            }
            return Ok(());
        }
        let mut diffs: Vec<Option<Diff>> = changes
            .iter()
            .map(|c| match (&c.before, &c.after) {
                (Some(a), Some(b)) => Some(Diff::new(a, b, &c.renamed_columns, &c.fill)),
                _ => None,
            })
            .collect();
        // Every (table, column) whose type changes, under its old and its new names.
        let mut retyped: Vec<(String, String)> = Vec::new();
        for (c, diff) in changes.iter().zip(&diffs) {
            let (Some(a), Some(b), Some(diff)) = (&c.before, &c.after, diff) else { continue };
            for (old, new) in diff.cols_altered.iter().filter(|(o, n)| o.ty != n.ty) {
                let before_name =
                    diff.renamed.iter().find(|(_, n)| *n == new.name).map_or(old.name.clone(), |(o, _)| o.clone());
                retyped.push((a.name.clone(), before_name));
                retyped.push((b.name.clone(), new.name.clone()));
            }
        }
        for d in diffs.iter_mut().flatten() {
            d.rekey_references_to(&retyped);
        }
        for (c, diff) in changes.iter().zip(&diffs) {
            if let (Some(a), Some(diff)) = (&c.before, diff) {
                self.common_drop_foreign_keys(&a.name, diff)?;
            }
        }
        for (c, diff) in changes.iter().zip(&diffs) {
            match (&c.before, &c.after, diff) {
                (None, Some(t), _) => self.create_table(t)?,
                (Some(t), None, _) => self.drop_table(t)?,
                (Some(a), Some(b), Some(diff)) => {
                    if a.name != b.name {
                        self.rename_table(&a.name, &b.name)?;
                    }
                    self.common_body(b, diff)?;
                }
                _ => {}
            }
        }
        for (c, diff) in changes.iter().zip(&diffs) {
            if let (Some(b), Some(diff)) = (&c.after, diff) {
                self.common_add_foreign_keys(b, diff)?;
            }
        }
        Ok(())
    }

    /// Turns table `a` into table `b`.
    pub fn alter_table(
        &mut self,
        a: &TableDef,
        b: &TableDef,
        renamed: &[(String, String)],
        fill: &[(String, Value)],
    ) -> Result<()> {
        self.apply(&TableChange {
            before: Some(a.clone()),
            after: Some(b.clone()),
            renamed_columns: renamed.to_vec(),
            fill: fill.to_vec(),
        })
    }

    fn common_drop_foreign_keys(&mut self, table: &str, diff: &Diff) -> Result<()> {
        let alter = AlterTable::new(table, self.dialect);
        for fk in &diff.fk_drop {
            self.execute(alter.drop_foreign_key(fk)?)?;
        }
        Ok(())
    }

    fn common_add_foreign_keys(&mut self, b: &TableDef, diff: &Diff) -> Result<()> {
        let alter = AlterTable::new(&b.name, self.dialect);
        for fk in &diff.fk_add {
            self.execute(alter.add_foreign_key(fk)?)?;
        }
        Ok(())
    }

    /// Everything of an in-place change but its foreign keys (dropped before, added after).
    fn common_body(&mut self, b: &TableDef, diff: &Diff) -> Result<()> {
        let d = self.dialect;
        let t = q(d, &b.name);
        let alter = AlterTable::new(&b.name, d);
        for c in &diff.check_drop {
            self.execute(alter.drop_check(c)?)?;
        }
        for u in &diff.unique_drop {
            self.execute(alter.drop_unique(u)?)?;
        }
        for i in &diff.index_drop {
            self.execute(i.drop_sql(&b.name, d))?;
        }
        if diff.pk_changed && !diff.a.primary_key.is_empty() {
            let name = if d == Dialect::Postgres { self.postgres_pk_name(&b.name)? } else { String::new() };
            self.execute(alter.drop_primary_key(&name)?)?;
        }
        for (old, new) in &diff.renamed {
            self.execute(alter.rename_column(old, new))?;
        }
        for c in &diff.cols_dropped {
            self.execute(alter.drop_column(&c.name))?;
        }
        for c in &diff.cols_added {
            let fill = diff.fill_for(&c.name);
            match fill {
                Some(v) if !c.nullable && c.default.is_none() => {
                    let with = ColumnDef { default: Some(DefaultValue::Value(v.clone())), ..c.clone() };
                    self.execute(alter.add_column(b, &with))?;
                    self.execute(alter.drop_default(&c.name)?)?;
                }
                _ => {
                    self.execute(alter.add_column(b, c))?;
                    if let (Some(v), true) = (fill, c.nullable) {
                        let lit = literal(v, d);
                        self.execute(format!("UPDATE {t} SET {} = {lit}", q(d, &c.name)))?;
                    }
                }
            }
        }
        for (old, new) in &diff.cols_altered {
            let col = q(d, &new.name);
            if let (Some(v), false, true) = (diff.fill_for(&new.name), new.nullable, old.nullable) {
                self.execute(format!("UPDATE {t} SET {col} = {} WHERE {col} IS NULL", literal(v, d)))?;
            }
            if d == Dialect::Mysql {
                self.execute(alter.modify_column(b, new)?)?;
                continue;
            }
            if old.default != new.default && old.default.is_some() {
                self.execute(alter.drop_default(&new.name)?)?;
            }
            if old.ty != new.ty {
                self.execute(alter.set_column_type(new)?)?;
            }
            if old.auto_increment != new.auto_increment {
                if new.auto_increment {
                    self.execute(alter.add_identity(&new.name)?)?;
                    self.execute(format!(
                        "SELECT setval(pg_get_serial_sequence('{}', '{}'), COALESCE((SELECT MAX({col}) FROM {t}), 0) + 1, false)",
                        b.name.replace('\'', "''"),
                        new.name.replace('\'', "''")
                    ))?;
                } else {
                    self.execute(alter.drop_identity(&new.name)?)?;
                }
            }
            if old.default != new.default && !new.auto_increment && new.default.is_some() {
                self.execute(alter.set_default(new)?)?;
            }
            let old_null = old.nullable && !diff.a.primary_key.contains(&old.name);
            let new_null = new.nullable && !b.primary_key.contains(&new.name) && !new.auto_increment;
            if old_null != new_null {
                self.execute(alter.set_nullable(&new.name, new_null)?)?;
            }
        }
        if diff.pk_changed && !b.primary_key.is_empty() {
            self.execute(alter.add_primary_key(&b.primary_key)?)?;
        }
        for u in &diff.unique_add {
            self.execute(alter.add_unique(u)?)?;
        }
        for c in &diff.check_add {
            self.execute(alter.add_check(c)?)?;
        }
        for i in &diff.index_add {
            self.execute(i.create_sql(&b.name, d))?;
        }
        Ok(())
    }

    fn postgres_pk_name(&mut self, table: &str) -> Result<String> {
        let fallback = format!("{table}_pkey");
        let Some(c) = &mut self.conn else { return Ok(fallback) };
        let row = c.query_opt(
            "SELECT conname::text FROM pg_catalog.pg_constraint WHERE contype = 'p' AND conrelid = \
             (SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname = current_schema() AND c.relname = $1)",
            &[Value::from(table)],
        )?;
        Ok(match row {
            Some(r) => r.get::<String>(0)?,
            None => fallback,
        })
    }

    fn sqlite_alter(&mut self, a: &TableDef, b: &TableDef, diff: &Diff) -> Result<()> {
        let d = self.dialect;
        // Rename first: SQLite rewrites the references of other tables' foreign keys only on a
        // rename, not when a rebuilt table takes the name.
        if a.name != b.name {
            self.rename_table(&a.name, &b.name)?;
        }
        let mut renamed = a.clone();
        renamed.name = b.name.clone();
        let a = &renamed;
        if diff.sqlite_native(b) {
            let t = q(d, &b.name);
            let alter = AlterTable::new(&b.name, d);
            for i in &diff.index_drop {
                self.execute(i.drop_sql(&b.name, d))?;
            }
            for (old, new) in &diff.renamed {
                self.execute(alter.rename_column(old, new))?;
            }
            for c in &diff.cols_added {
                self.execute(alter.add_column(b, c))?;
                if let (Some(v), true) = (diff.fill_for(&c.name), c.nullable) {
                    self.execute(format!("UPDATE {t} SET {} = {}", q(d, &c.name), literal(v, d)))?;
                }
            }
            for i in &diff.index_add {
                self.execute(i.create_sql(&b.name, d))?;
            }
            return Ok(());
        }
        self.sqlite_rebuild(a, b, diff)
    }

    /// Rebuilds SQLite table `a` as `b`, keeping the rows.
    fn sqlite_rebuild(&mut self, a: &TableDef, b: &TableDef, diff: &Diff) -> Result<()> {
        let d = self.dialect;
        if let Some(c) = &mut self.conn {
            let on = c.query_opt("PRAGMA foreign_keys", &[])?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0);
            if on != 0 {
                return Err(MigrationError::Unsupported(format!(
                    "rebuilding SQLite table `{}` needs foreign-key enforcement off (PRAGMA foreign_keys = OFF, \
                     set outside a transaction); run migrations through the executor",
                    a.name
                )));
            }
        }
        self.rebuilt.push(b.name.clone());
        let tmp = format!("new__{}", b.name);
        let mut nb = b.clone();
        nb.name = tmp.clone();
        nb.indexes.clear();
        self.create_table(&nb)?;
        let mut cols = Vec::new();
        let mut exprs = Vec::new();
        for c in &b.columns {
            let source = diff.source_of(&c.name);
            let fill = diff.fill_for(&c.name);
            let expr = match (source, fill) {
                (Some(src), Some(v)) if !c.nullable => format!("COALESCE({}, {})", q(d, &src), literal(v, d)),
                (Some(src), _) => q(d, &src),
                (None, Some(v)) => literal(v, d),
                (None, None) => continue,
            };
            cols.push(q(d, &c.name));
            exprs.push(expr);
        }
        let rows = match &mut self.conn {
            Some(c) if self.progress.is_some() => {
                let sql = format!("SELECT COUNT(*) FROM {}", q(d, &a.name));
                c.query_opt(&sql, &[])?.map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0)
            }
            _ => -1,
        };
        if rows >= 0 {
            self.report(&format!("rebuilding table {} ({rows} rows)", b.name));
        }
        let insert = format!(
            "INSERT INTO {} ({}) SELECT {} FROM {}",
            q(d, &tmp),
            cols.join(", "),
            exprs.join(", "),
            q(d, &a.name)
        );
        const CHUNK: i64 = 20_000;
        if rows > CHUNK && self.conn.is_some() {
            // Copy in rowid ranges so a terminal can show how far the copy is.
            let sql = format!("SELECT MIN(rowid), MAX(rowid) FROM {}", q(d, &a.name));
            let r = self.conn.as_mut().expect("checked").query_opt(&sql, &[])?;
            let (lo, hi) = match r {
                Some(r) => (r.get::<i64>(0)?, r.get::<i64>(1)?),
                None => (0, -1),
            };
            let mut from = lo;
            let mut copied = 0i64;
            while from <= hi {
                let to = from.saturating_add(CHUNK - 1);
                let n = self
                    .conn
                    .as_mut()
                    .expect("checked")
                    .execute(&format!("{insert} WHERE rowid BETWEEN {from} AND {to}"), &[])?;
                copied += n as i64;
                self.report(&format!("  copied {copied} of {rows} rows of {}", b.name));
                from = to.saturating_add(1);
            }
            self.collected.push(insert);
        } else {
            self.execute(insert)?;
        }
        self.drop_table(a)?;
        self.rename_table(&tmp, &b.name)?;
        for i in &b.indexes {
            self.execute(i.create_sql(&b.name, d))?;
        }
        self.sqlite_foreign_key_check(Some(&b.name))
    }

    /// `PRAGMA foreign_key_check` (on one table or all): an error naming the first offending
    /// row's table and parent when any row breaks a foreign key. SQLite only; a no-op
    /// elsewhere and when only collecting.
    pub fn sqlite_foreign_key_check(&mut self, table: Option<&str>) -> Result<()> {
        if self.dialect != Dialect::Sqlite {
            return Ok(());
        }
        let sql = match table {
            Some(t) => format!("PRAGMA foreign_key_check({})", q(self.dialect, t)),
            None => "PRAGMA foreign_key_check".to_owned(),
        };
        let Some(c) = &mut self.conn else { return Ok(()) };
        let rows = c.query(&sql, &[])?;
        if let Some(r) = rows.first() {
            let table: String = r.get(0).unwrap_or_default();
            let parent: String = r.get(2).unwrap_or_default();
            return Err(MigrationError::Database(orm_backends::Error::new(
                orm_backends::ErrorKind::Integrity(orm_backends::Violation::ForeignKey),
                format!(
                    "{} row(s) of `{table}` point at missing rows of `{parent}` (PRAGMA foreign_key_check)",
                    rows.len()
                ),
            )));
        }
        Ok(())
    }
}

/// The difference between two definitions of a table, with the before side's columns renamed.
struct Diff {
    /// `a` with renamed columns mapped to their new names (and `b`'s table name).
    a: TableDef,
    renamed: Vec<(String, String)>,
    fill: Vec<(String, Value)>,
    cols_added: Vec<ColumnDef>,
    cols_dropped: Vec<ColumnDef>,
    cols_altered: Vec<(ColumnDef, ColumnDef)>,
    pk_changed: bool,
    fk_drop: Vec<orm_backends::schema::ForeignKeyDef>,
    fk_add: Vec<orm_backends::schema::ForeignKeyDef>,
    unique_drop: Vec<orm_backends::schema::UniqueDef>,
    unique_add: Vec<orm_backends::schema::UniqueDef>,
    check_drop: Vec<orm_backends::schema::CheckDef>,
    check_add: Vec<orm_backends::schema::CheckDef>,
    index_drop: Vec<orm_backends::schema::IndexDef>,
    index_add: Vec<orm_backends::schema::IndexDef>,
    /// `b`'s foreign keys.
    b_foreign_keys: Vec<orm_backends::schema::ForeignKeyDef>,
}

fn minus<T: PartialEq + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter().filter(|x| !b.contains(x)).cloned().collect()
}

impl Diff {
    fn new(a0: &TableDef, b: &TableDef, renamed: &[(String, String)], fill: &[(String, Value)]) -> Self {
        let renamed: Vec<(String, String)> =
            renamed.iter().filter(|(o, n)| o != n && a0.column_named(o).is_some()).cloned().collect();
        let map = |c: &String| renamed.iter().find(|(o, _)| o == c).map_or_else(|| c.clone(), |(_, n)| n.clone());
        let mut a = a0.clone();
        a.name = b.name.clone();
        for c in &mut a.columns {
            c.name = map(&c.name);
        }
        a.primary_key = a.primary_key.iter().map(map).collect();
        for i in &mut a.indexes {
            i.columns = i.columns.iter().map(map).collect();
        }
        for u in &mut a.uniques {
            u.columns = u.columns.iter().map(map).collect();
        }
        for f in &mut a.foreign_keys {
            f.columns = f.columns.iter().map(map).collect();
        }
        let cols_added: Vec<ColumnDef> =
            b.columns.iter().filter(|c| a.column_named(&c.name).is_none()).cloned().collect();
        let cols_dropped: Vec<ColumnDef> =
            a.columns.iter().filter(|c| b.column_named(&c.name).is_none()).cloned().collect();
        let cols_altered: Vec<(ColumnDef, ColumnDef)> = a
            .columns
            .iter()
            .filter_map(|c| b.column_named(&c.name).filter(|n| *n != c).map(|n| (c.clone(), n.clone())))
            .collect();
        let retyped: Vec<&str> =
            cols_altered.iter().filter(|(o, n)| o.ty != n.ty).map(|(_, n)| n.name.as_str()).collect();
        let touches = |cols: &[String], set: &[&str]| cols.iter().any(|c| set.contains(&c.as_str()));
        let mut fk_drop = minus(&a.foreign_keys, &b.foreign_keys);
        let mut fk_add = minus(&b.foreign_keys, &a.foreign_keys);
        for fk in a.foreign_keys.iter().filter(|f| b.foreign_keys.contains(f) && touches(&f.columns, &retyped)) {
            fk_drop.push(fk.clone());
            fk_add.push(fk.clone());
        }
        Diff {
            pk_changed: a.primary_key != b.primary_key,
            unique_drop: minus(&a.uniques, &b.uniques),
            unique_add: minus(&b.uniques, &a.uniques),
            check_drop: minus(&a.checks, &b.checks),
            check_add: minus(&b.checks, &a.checks),
            index_drop: minus(&a.indexes, &b.indexes),
            index_add: minus(&b.indexes, &a.indexes),
            fk_drop,
            fk_add,
            b_foreign_keys: b.foreign_keys.clone(),
            cols_added,
            cols_dropped,
            cols_altered,
            renamed,
            fill: fill.to_vec(),
            a,
        }
    }

    fn is_empty(&self) -> bool {
        self.renamed.is_empty()
            && self.cols_added.is_empty()
            && self.cols_dropped.is_empty()
            && self.cols_altered.is_empty()
            && !self.pk_changed
            && self.fk_drop.is_empty()
            && self.fk_add.is_empty()
            && self.unique_drop.is_empty()
            && self.unique_add.is_empty()
            && self.check_drop.is_empty()
            && self.check_add.is_empty()
            && self.index_drop.is_empty()
            && self.index_add.is_empty()
    }

    /// Drops and re-adds the kept foreign keys that point at a column whose type changes
    /// (`(table, column)` pairs), as a retyped referenced column requires.
    fn rekey_references_to(&mut self, retyped: &[(String, String)]) {
        let hit = |fk: &orm_backends::schema::ForeignKeyDef| {
            fk.ref_columns.iter().any(|c| retyped.iter().any(|(t, rc)| *t == fk.ref_table && rc == c))
        };
        let kept: Vec<_> = self
            .b_foreign_keys
            .iter()
            .filter(|f| self.a.foreign_keys.contains(f) && !self.fk_drop.contains(f) && hit(f))
            .cloned()
            .collect();
        for fk in kept {
            self.fk_drop.push(fk.clone());
            self.fk_add.push(fk);
        }
    }

    fn fill_for(&self, column: &str) -> Option<&Value> {
        self.fill.iter().find(|(c, _)| c == column).map(|(_, v)| v)
    }

    /// The column of the old table that new column `column` is copied from.
    fn source_of(&self, column: &str) -> Option<String> {
        if let Some((old, _)) = self.renamed.iter().find(|(_, n)| n == column) {
            return Some(old.clone());
        }
        let renamed_away = self.renamed.iter().any(|(o, _)| o == column);
        (self.a.column_named(column).is_some() && !renamed_away && !self.cols_added.iter().any(|c| c.name == column))
            .then(|| column.to_owned())
    }

    /// Can SQLite do this without a rebuild (only simple added columns, column renames and
    /// index changes)?
    fn sqlite_native(&self, b: &TableDef) -> bool {
        let simple_add = |c: &ColumnDef| {
            !b.primary_key.contains(&c.name)
                && !c.auto_increment
                && match &c.default {
                    Some(DefaultValue::Value(v)) => !v.is_null() || c.nullable,
                    Some(DefaultValue::Expression(_)) => false,
                    None => c.nullable,
                }
        };
        !self.pk_changed
            && self.cols_dropped.is_empty()
            && self.cols_altered.is_empty()
            && self.fk_drop.is_empty()
            && self.fk_add.is_empty()
            && self.unique_drop.is_empty()
            && self.unique_add.is_empty()
            && self.check_drop.is_empty()
            && self.check_add.is_empty()
            && self.cols_added.iter().all(simple_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orm_backends::schema::{ColumnType, ForeignKeyDef};

    fn t() -> TableDef {
        TableDef::new("t")
            .column(ColumnDef::new("id", ColumnType::BigInt).auto_increment())
            .column(ColumnDef::new("a", ColumnType::Integer))
            .column(ColumnDef::new("p_id", ColumnType::BigInt))
            .primary_key(["id"])
            .index("t_p_id_idx", ["p_id"])
            .foreign_key(ForeignKeyDef::new("t_p_id_fk", ["p_id"], "p", ["id"]))
    }

    fn sql(d: Dialect, a: &TableDef, b: &TableDef, renamed: &[(&str, &str)], fill: &[(&str, Value)]) -> Vec<String> {
        let mut e = SchemaEditor::collect(d);
        let renamed: Vec<(String, String)> = renamed.iter().map(|(a, b)| ((*a).into(), (*b).into())).collect();
        let fill: Vec<(String, Value)> = fill.iter().map(|(a, b)| ((*a).into(), b.clone())).collect();
        e.alter_table(a, b, &renamed, &fill).unwrap();
        e.take_collected()
    }

    #[test]
    fn adding_a_nullable_column_is_in_place_everywhere() {
        let b = t().column(ColumnDef::new("n", ColumnType::Text).nullable());
        assert_eq!(sql(Dialect::Sqlite, &t(), &b, &[], &[]), ["ALTER TABLE \"t\" ADD COLUMN \"n\" text"]);
        assert_eq!(sql(Dialect::Postgres, &t(), &b, &[], &[]), ["ALTER TABLE \"t\" ADD COLUMN \"n\" text"]);
        assert_eq!(sql(Dialect::Mysql, &t(), &b, &[], &[]), ["ALTER TABLE `t` ADD COLUMN `n` longtext"]);
    }

    #[test]
    fn a_one_off_default_is_added_then_dropped() {
        let b = t().column(ColumnDef::new("n", ColumnType::Integer));
        assert_eq!(
            sql(Dialect::Postgres, &t(), &b, &[], &[("n", Value::Int(3))]),
            [
                "ALTER TABLE \"t\" ADD COLUMN \"n\" integer NOT NULL DEFAULT 3",
                "ALTER TABLE \"t\" ALTER COLUMN \"n\" DROP DEFAULT"
            ]
        );
        let s = sql(Dialect::Sqlite, &t(), &b, &[], &[("n", Value::Int(3))]);
        assert!(s[0].starts_with("CREATE TABLE \"new__t\""), "{s:?}");
        assert_eq!(
            s[1],
            "INSERT INTO \"new__t\" (\"id\", \"a\", \"p_id\", \"n\") SELECT \"id\", \"a\", \"p_id\", 3 FROM \"t\""
        );
        assert_eq!(
            &s[2..],
            [
                "DROP TABLE \"t\"",
                "ALTER TABLE \"new__t\" RENAME TO \"t\"",
                "CREATE INDEX \"t_p_id_idx\" ON \"t\" (\"p_id\")"
            ]
        );
    }

    #[test]
    fn rebuilt_sqlite_tables_are_recorded() {
        let b = t().column(ColumnDef::new("n", ColumnType::Integer));
        let mut e = SchemaEditor::collect(Dialect::Sqlite);
        e.alter_table(&t(), &b, &[], &[("n".into(), Value::Int(3))]).unwrap();
        assert_eq!(e.rebuilt_tables(), ["t"]);
        let in_place = t().column(ColumnDef::new("m", ColumnType::Text).nullable());
        let mut e = SchemaEditor::collect(Dialect::Sqlite);
        e.alter_table(&t(), &in_place, &[], &[]).unwrap();
        assert!(e.rebuilt_tables().is_empty());
    }

    #[test]
    fn altering_a_column_per_dialect() {
        let mut b = t();
        b.columns[1] = ColumnDef::new("a", ColumnType::BigInt).nullable();
        assert_eq!(
            sql(Dialect::Postgres, &t(), &b, &[], &[]),
            [
                "ALTER TABLE \"t\" ALTER COLUMN \"a\" TYPE bigint USING CAST(\"a\" AS bigint)",
                "ALTER TABLE \"t\" ALTER COLUMN \"a\" DROP NOT NULL"
            ]
        );
        assert_eq!(sql(Dialect::Mysql, &t(), &b, &[], &[]), ["ALTER TABLE `t` MODIFY COLUMN `a` bigint"]);
        assert!(sql(Dialect::Sqlite, &t(), &b, &[], &[])[0].starts_with("CREATE TABLE \"new__t\""));
    }

    #[test]
    fn a_retyped_key_and_its_references_change_between_dropping_and_adding_the_foreign_keys() {
        let p =
            |ty: ColumnType| TableDef::new("p").column(ColumnDef::new("id", ty).auto_increment()).primary_key(["id"]);
        let mut t2 = t();
        t2.columns[2].ty = ColumnType::Integer;
        let changes = [
            TableChange {
                before: Some(p(ColumnType::Integer)),
                after: Some(p(ColumnType::BigInt)),
                ..TableChange::default()
            },
            TableChange { before: Some(t2), after: Some(t()), ..TableChange::default() },
        ];
        let mut e = SchemaEditor::collect(Dialect::Mysql);
        e.apply_all(&changes).unwrap();
        assert_eq!(
            e.take_collected(),
            [
                "ALTER TABLE `t` DROP FOREIGN KEY `t_p_id_fk`",
                "ALTER TABLE `p` MODIFY COLUMN `id` bigint NOT NULL AUTO_INCREMENT",
                "ALTER TABLE `t` MODIFY COLUMN `p_id` bigint NOT NULL",
                "ALTER TABLE `t` ADD CONSTRAINT `t_p_id_fk` FOREIGN KEY (`p_id`) REFERENCES `p` (`id`) ON DELETE NO ACTION ON UPDATE NO ACTION",
            ]
        );
        // A reference whose own type stays (a custom type) is dropped and re-added all the same.
        let mut same = t();
        same.columns[2].ty = ColumnType::Custom("bigint".into());
        let changes = [
            changes[0].clone(),
            TableChange { before: Some(same.clone()), after: Some(same), ..TableChange::default() },
        ];
        let mut e = SchemaEditor::collect(Dialect::Postgres);
        e.apply_all(&changes).unwrap();
        let s = e.take_collected();
        assert_eq!(s[0], "ALTER TABLE \"t\" DROP CONSTRAINT \"t_p_id_fk\"");
        assert!(s.last().unwrap().starts_with("ALTER TABLE \"t\" ADD CONSTRAINT \"t_p_id_fk\""), "{s:?}");
    }

    #[test]
    fn renaming_a_related_column_renames_its_index_and_key() {
        let mut b = t();
        b.columns[2].name = "q_id".into();
        b.indexes[0] = orm_backends::schema::IndexDef::new("t_q_id_idx", ["q_id"]);
        b.foreign_keys[0] = ForeignKeyDef::new("t_q_id_fk", ["q_id"], "p", ["id"]);
        assert_eq!(
            sql(Dialect::Mysql, &t(), &b, &[("p_id", "q_id")], &[]),
            [
                "ALTER TABLE `t` DROP FOREIGN KEY `t_p_id_fk`",
                "DROP INDEX `t_p_id_idx` ON `t`",
                "ALTER TABLE `t` RENAME COLUMN `p_id` TO `q_id`",
                "CREATE INDEX `t_q_id_idx` ON `t` (`q_id`)",
                "ALTER TABLE `t` ADD CONSTRAINT `t_q_id_fk` FOREIGN KEY (`q_id`) REFERENCES `p` (`id`) ON DELETE NO ACTION ON UPDATE NO ACTION",
            ]
        );
        let s = sql(Dialect::Sqlite, &t(), &b, &[("p_id", "q_id")], &[]);
        assert!(s[1].contains("SELECT \"id\", \"a\", \"p_id\" FROM \"t\""), "{s:?}");
    }
}
