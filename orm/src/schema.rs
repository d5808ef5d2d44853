//! Schema from code: model metadata → neutral [`TableDef`]s → DDL for any dialect.
//!
//! ```
//! # include!("../doctest_setup.rs");
//! # fn main() -> orm::Result<()> {
//! use orm::{Dialect, Schema};
//! let schema = Schema::new().model::<Note>();
//! let sql = schema.sql(Dialect::Postgres);
//! assert!(sql[0].starts_with("CREATE TABLE \"demo_note\""));
//! let db = orm::Database::connect("sqlite::memory:")?;
//! schema.create_all(&db)?;                 // in foreign-key order
//! assert_eq!(Note::objects().count(&db)?, 0);
//! schema.drop_all(&db)?;                   // in reverse order
//! # Ok(()) }
//! ```

use crate::error::{Error, Result};
use crate::model::meta::{ConstraintMeta, ModelMeta, RelationKind};
use crate::model::Model;
use orm_backends::schema::{
    CheckDef, ColumnDef, ColumnType, DefaultValue, ForeignKeyDef, IndexDef, ReferentialAction, TableDef, UniqueDef,
};
use orm_backends::{Dialect, Executor};

/// Shortens a generated identifier to fit every backend (63 characters), keeping it unique
/// with a hash of the full name.
pub fn constraint_name(parts: &[&str], suffix: &str) -> String {
    let full = format!("{}_{suffix}", parts.join("_"));
    if full.len() <= 63 {
        return full;
    }
    let mut h: u32 = 0x811c9dc5;
    for b in full.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let keep = 63 - suffix.len() - 10;
    let head: String = full.chars().take(keep).collect();
    format!("{head}_{h:08x}_{suffix}")
}

fn resolve_columns(meta: &ModelMeta, names: &[&str], what: &str) -> Result<Vec<String>> {
    names
        .iter()
        .map(|n| {
            meta.field(n).map(|f| f.column.to_owned()).ok_or_else(|| {
                Error::ImproperlyConfigured(format!("{what} of {} names unknown field `{n}`", meta.label()))
            })
        })
        .collect()
}

/// Django's check: a multi-table child may not declare a field its concrete ancestors
/// already have ("Local field 'name' in class 'Restaurant' clashes with field of the same
/// name from base class 'Place'.").
pub fn check_inherited_clash(meta: &ModelMeta) -> Result<()> {
    let mut at = meta.parent();
    while let Some(base) = at {
        for f in meta.fields.iter().filter(|f| !f.primary_key) {
            if base.fields.iter().any(|b| b.name == f.name) {
                return Err(Error::FieldError {
                    message: format!(
                        "Local field '{}' in class '{}' clashes with field of the same name from base class '{}'.",
                        f.name, meta.name, base.name
                    ),
                });
            }
        }
        at = base.parent();
    }
    Ok(())
}

/// The table of a model with a table of its own (not abstract, not proxy). A child that
/// redeclares a field of a concrete ancestor is refused ([`check_inherited_clash`]).
pub fn table_def(meta: &ModelMeta) -> Result<TableDef> {
    check_inherited_clash(meta)?;
    if !meta.has_table() {
        return Err(Error::ImproperlyConfigured(format!("{} has no table of its own", meta.label())));
    }
    let mut t = TableDef::new(meta.table);
    for f in meta.fields {
        let ty = match f.db_type {
            Some(custom) => ColumnType::Custom(custom.to_owned()),
            None => f.kind.to_column_type(),
        };
        let default = match f.default {
            Some(crate::model::meta::DefaultMeta::Literal(v)) => Some(DefaultValue::Value(v())),
            _ => None,
        };
        t.columns.push(ColumnDef {
            name: f.column.to_owned(),
            ty,
            nullable: f.null,
            default,
            auto_increment: f.auto && f.primary_key,
        });
        if f.primary_key {
            t.primary_key.push(f.column.to_owned());
        } else if f.unique || f.relation.is_some_and(|r| r.kind == RelationKind::OneToOne) {
            t.uniques.push(UniqueDef::new(constraint_name(&[meta.table, f.column], "uniq"), [f.column]));
        } else if f.index || f.relation.is_some_and(|r| r.db_index) {
            t.indexes.push(IndexDef::new(constraint_name(&[meta.table, f.column], "idx"), [f.column]));
        }
        if let Some(rel) = f.relation {
            let target = (rel.target)();
            let ref_column = match rel.to_field {
                Some(name) => target.field(name).map(|tf| tf.column).ok_or_else(|| {
                    Error::ImproperlyConfigured(format!(
                        "`{}` of {} has to_field `{name}`, which {} does not have",
                        f.name,
                        meta.label(),
                        target.label()
                    ))
                })?,
                None => target.pk_field().column,
            };
            t.foreign_keys.push(
                ForeignKeyDef::new(
                    constraint_name(&[meta.table, f.column], "fk"),
                    [f.column],
                    target.table,
                    [ref_column],
                )
                .on_delete(rel.on_delete.referential_action()),
            );
        }
    }
    for idx in meta.indexes {
        let cols = resolve_columns(meta, idx.fields, "index")?;
        t.indexes.push(IndexDef::new(idx.name, cols));
    }
    for c in meta.constraints {
        match c {
            ConstraintMeta::Unique { name, fields } => {
                let cols = resolve_columns(meta, fields, "unique constraint")?;
                t.uniques.push(UniqueDef::new(*name, cols));
            }
            ConstraintMeta::Check { name, sql } => t.checks.push(CheckDef::new(*name, *sql)),
        }
    }
    Ok(t)
}

/// The auto-created join tables of a model's many-to-many fields.
pub fn join_tables(meta: &ModelMeta) -> Vec<TableDef> {
    let mut out = Vec::new();
    for m in meta.many_to_many {
        if m.through.is_some() {
            continue;
        }
        let target = (m.target)();
        let (src, dst) = (m.source_column, m.target_column);
        let src_ty = meta.pk_field().kind.to_column_type();
        let dst_ty = target.pk_field().kind.to_column_type();
        let t = TableDef::new(m.join_table)
            .column(ColumnDef::new("id", ColumnType::BigInt).auto_increment())
            .column(ColumnDef::new(src, src_ty))
            .column(ColumnDef::new(dst, dst_ty))
            .primary_key(["id"])
            .unique(constraint_name(&[m.join_table, src, dst], "uniq"), [src, dst])
            .index(constraint_name(&[m.join_table, dst], "idx"), [dst])
            .foreign_key(
                ForeignKeyDef::new(
                    constraint_name(&[m.join_table, src], "fk"),
                    [src],
                    meta.table,
                    [meta.pk_field().column],
                )
                .on_delete(ReferentialAction::Cascade),
            )
            .foreign_key(
                ForeignKeyDef::new(
                    constraint_name(&[m.join_table, dst], "fk"),
                    [dst],
                    target.table,
                    [target.pk_field().column],
                )
                .on_delete(ReferentialAction::Cascade),
            );
        out.push(t);
    }
    out
}

/// A set of models whose tables can be rendered or created together.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    models: Vec<&'static ModelMeta>,
}

impl Schema {
    /// An empty schema.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds model `M` (abstract models and proxies add no table).
    pub fn model<M: Model>(mut self) -> Self {
        self.models.push(M::meta());
        self
    }

    /// Adds a model by its metadata.
    pub fn add_meta(mut self, meta: &'static ModelMeta) -> Self {
        self.models.push(meta);
        self
    }

    /// Every table, parents before the tables whose foreign keys point at them.
    pub fn tables(&self) -> Result<Vec<TableDef>> {
        let mut tables = Vec::new();
        for m in &self.models {
            if m.has_table() && !tables.iter().any(|t: &TableDef| t.name == m.table) {
                tables.push(table_def(m)?);
            }
        }
        for m in &self.models {
            if m.has_table() {
                for jt in join_tables(m) {
                    if !tables.iter().any(|t| t.name == jt.name) {
                        tables.push(jt);
                    }
                }
            }
        }
        Ok(order_by_dependencies(tables))
    }

    /// The DDL statements for `dialect`, in creation order.
    pub fn sql(&self, dialect: Dialect) -> Vec<String> {
        match self.tables() {
            Ok(ts) => ts.iter().flat_map(|t| t.create_sql(dialect)).collect(),
            Err(e) => vec![format!("-- {e}")],
        }
    }

    /// Creates every table and index, in foreign-key order.
    pub fn create_all(&self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        let d = ex.dialect();
        let tables = self.tables()?;
        for t in &tables {
            t.check_dialect(d)?;
        }
        ex.with_connection(|c| {
            for t in &tables {
                for stmt in t.create_sql(d) {
                    c.execute_batch(&stmt)?;
                }
            }
            Ok(())
        })
    }

    /// Drops every table, in reverse creation order; tables that do not exist are skipped.
    pub fn drop_all(&self, ex: &(impl Executor + ?Sized)) -> Result<()> {
        let d = ex.dialect();
        let tables = self.tables()?;
        ex.with_connection(|c| {
            let existing = orm_backends::schema::table_names(c)?;
            for t in tables.iter().rev() {
                if existing.iter().any(|e| e == &t.name) {
                    c.execute_batch(&t.drop_sql(d))?;
                }
            }
            Ok(())
        })
    }
}

/// Orders tables so each comes after the tables it references (self-references and cycles
/// keep declaration order).
fn order_by_dependencies(mut pending: Vec<TableDef>) -> Vec<TableDef> {
    let mut out: Vec<TableDef> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let names: Vec<String> = pending.iter().map(|t| t.name.clone()).collect();
        let ready = pending
            .iter()
            .position(|t| t.foreign_keys.iter().all(|fk| fk.ref_table == t.name || !names.contains(&fk.ref_table)));
        let i = ready.unwrap_or(0);
        out.push(pending.remove(i));
    }
    out
}
