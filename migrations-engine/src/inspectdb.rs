//! `inspectdb`: model source for the tables of an existing database.
//!
//! Introspection gives neutral [`TableDef`]s; each becomes a [`ModelState`] (the intermediate
//! form, which renders back to the same tables) and then `#[derive(Model)]` source with the
//! field types, `Option` for nullable columns, `max_length`, decimal digits, primary keys,
//! `unique`, `index`, foreign keys (`ForeignKey<T>`, `OneToOne<T>` for a unique one;
//! `index = false` for one whose column has no index of its own, such as the first column of
//! a join table, indexed by the unique pair it leads), the
//! remaining indexes and constraints as model options, and `table = "…"` so nothing depends
//! on naming rules.

use crate::error::Result;
use crate::state::{
    ConstraintState, DefaultState, FieldState, IndexState, ModelState, OnDeleteState, ProjectState, RelationState,
};
use orm::schema::constraint_name;
use orm_backends::schema::{introspect_table, table_names, ColumnType, DefaultValue, ReferentialAction, TableDef};
use orm_backends::{Connection, Value};
use std::fmt::Write;

/// One inspected table: its model state and the Rust source of its model.
#[derive(Clone, Debug)]
pub struct Inspected {
    /// The table as the database reports it.
    pub table: TableDef,
    /// The model that renders to it (see `notes` for what it cannot say).
    pub model: ModelState,
    /// Where the model's table would differ from the database's (written as comments).
    pub notes: Vec<String>,
}

/// Rust's reserved words, which cannot be field names.
const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for", "if", "impl", "in",
    "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait",
    "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do",
    "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen", "pk", "objects",
    "meta",
];

/// `blog_post` → `BlogPost`.
pub fn struct_name(table: &str) -> String {
    let mut out = String::new();
    for part in table.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()) {
        let mut cs = part.chars();
        if let Some(c) = cs.next() {
            out.extend(c.to_uppercase());
            out.push_str(&cs.as_str().to_ascii_lowercase());
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'T');
    }
    out
}

fn field_name(column: &str) -> String {
    let mut s: String =
        column.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'f');
    }
    if KEYWORDS.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// Inspects the tables of the database (all but the recorder's, or only `only`) into models
/// of `app`.
pub fn inspect(conn: &mut dyn Connection, app: &str, only: &[String]) -> Result<Vec<Inspected>> {
    let names: Vec<String> = table_names(conn)?
        .into_iter()
        .filter(|t| t != crate::recorder::TABLE && (only.is_empty() || only.contains(t)))
        .collect();
    let mut tables = Vec::new();
    for n in &names {
        if let Some(t) = introspect_table(conn, n)? {
            tables.push(t);
        }
    }
    Ok(models_of(app, &tables))
}

/// The models of already-introspected tables.
pub fn models_of(app: &str, tables: &[TableDef]) -> Vec<Inspected> {
    let label_of = |table: &str| format!("{app}.{}", struct_name(table));
    let mut out = Vec::new();
    for t in tables {
        let mut m = ModelState::new(app, struct_name(&t.name), t.name.clone());
        let mut notes = Vec::new();
        let single_pk = (t.primary_key.len() == 1).then(|| t.primary_key[0].clone());
        if single_pk.is_none() {
            notes.push(format!(
                "the table has {} primary key; a model needs one single-column key",
                if t.primary_key.is_empty() { "no".to_owned() } else { format!("a {}-column", t.primary_key.len()) }
            ));
        }
        for fk in &t.foreign_keys {
            if fk.columns.len() != 1 {
                notes.push(format!(
                    "foreign key `{}` over ({}) spans several columns, which a relation field cannot say; \
                     the columns are plain fields",
                    fk.name,
                    fk.columns.join(", ")
                ));
            } else if !tables.iter().any(|o| o.name == fk.ref_table) {
                notes.push(format!(
                    "foreign key `{}` points at table `{}`, which is not inspected; `{}` is a plain field",
                    fk.name, fk.ref_table, fk.columns[0]
                ));
            }
        }
        for c in &t.columns {
            let fk = t.foreign_keys.iter().find(|f| f.columns.len() == 1 && f.columns[0] == c.name);
            let fk = fk.filter(|f| tables.iter().any(|o| o.name == f.ref_table));
            let mut name = field_name(&c.name);
            if fk.is_some() {
                name = name.strip_suffix("_id").filter(|n| !n.is_empty()).map(str::to_owned).unwrap_or(name);
            }
            let mut f = FieldState::new(name, c.ty.clone());
            f.column = c.name.clone();
            f.null = c.nullable;
            f.primary_key = single_pk.as_deref() == Some(c.name.as_str());
            f.auto = c.auto_increment && f.primary_key;
            f.default = match &c.default {
                Some(DefaultValue::Value(v)) => Some(DefaultState::from_value(v, Some(&c.ty))),
                Some(DefaultValue::Expression(e)) => Some(DefaultState::Expression(e.clone())),
                None => None,
            };
            let col = c.name.as_str();
            let gen_uniq = constraint_name(&[t.name.as_str(), col], "uniq");
            let gen_idx = constraint_name(&[t.name.as_str(), col], "idx");
            let unique = t.uniques.iter().any(|u| u.columns == [col] && u.name == gen_uniq);
            if let Some(fk) = fk {
                let target = tables.iter().find(|o| o.name == fk.ref_table).expect("filtered above");
                let to_pk = target.primary_key.len() == 1 && target.primary_key[0] == fk.ref_columns[0];
                f.relation = Some(RelationState {
                    one_to_one: unique,
                    to: label_of(&fk.ref_table),
                    to_field: (!to_pk).then(|| field_name(&fk.ref_columns[0])),
                    on_delete: match fk.on_delete {
                        ReferentialAction::Cascade => OnDeleteState::Cascade,
                        ReferentialAction::SetNull => OnDeleteState::SetNull,
                        _ => OnDeleteState::DoNothing,
                    },
                    parent_link: false,
                    // A column without an index of its own (say, one a composite unique
                    // constraint leads with): `index = false`; an index of its own under
                    // another name becomes a model index below.
                    db_index: f.primary_key
                        || unique
                        || t.indexes.iter().any(|i| i.columns == [col] && i.name == gen_idx),
                });
            } else if !f.primary_key {
                f.unique = unique;
                f.index = t.indexes.iter().any(|i| i.columns == [col] && i.name == gen_idx);
            }
            m.fields.push(f);
        }
        // What the field flags do not already render.
        let rendered = {
            let mut s = ProjectState::new();
            s.add_model(m.clone());
            for o in tables {
                if o.name != t.name {
                    s.add_model(pk_stub(app, o));
                }
            }
            s.table_def(&m.label()).ok()
        };
        let fname = |col: &str| m.fields.iter().find(|f| f.column == col).map_or(col.to_owned(), |f| f.name.clone());
        if let Some(r) = rendered {
            for i in t.indexes.iter().filter(|i| !r.indexes.contains(i)) {
                m.indexes
                    .push(IndexState { name: i.name.clone(), fields: i.columns.iter().map(|c| fname(c)).collect() });
            }
            for u in t.uniques.iter().filter(|u| !r.uniques.contains(u)) {
                m.constraints.push(ConstraintState::Unique {
                    name: u.name.clone(),
                    fields: u.columns.iter().map(|c| fname(c)).collect(),
                });
            }
        }
        for c in &t.checks {
            m.constraints.push(ConstraintState::Check { name: c.name.clone(), sql: c.expr.clone() });
        }
        out.push(Inspected { table: t.clone(), model: m, notes });
    }
    out
}

/// A model with only `table`'s primary key, so relations to it render.
fn pk_stub(app: &str, t: &TableDef) -> ModelState {
    let mut m = ModelState::new(app, struct_name(&t.name), t.name.clone());
    for c in t.columns.iter().filter(|c| t.primary_key.contains(&c.name)) {
        let mut f = FieldState::new(field_name(&c.name), c.ty.clone());
        f.column = c.name.clone();
        f.primary_key = true;
        f.auto = c.auto_increment;
        m.fields.push(f);
    }
    for c in t.columns.iter().filter(|c| !t.primary_key.contains(&c.name)) {
        let mut f = FieldState::new(field_name(&c.name), c.ty.clone());
        f.column = c.name.clone();
        m.fields.push(f);
    }
    m
}

fn rust_type(ty: &ColumnType, auto: bool) -> (String, Vec<String>) {
    let mut attrs = Vec::new();
    let t = match ty {
        ColumnType::BigInt if auto => "Auto<i64>".to_owned(),
        ColumnType::Integer if auto => "Auto<i32>".to_owned(),
        ColumnType::Bool => "bool".into(),
        ColumnType::SmallInt => "i16".into(),
        ColumnType::Integer => "i32".into(),
        ColumnType::BigInt => "i64".into(),
        ColumnType::Real => "f32".into(),
        ColumnType::Double => "f64".into(),
        ColumnType::Decimal { precision, scale } => {
            attrs.push(format!("max_digits = {precision}"));
            attrs.push(format!("decimal_places = {scale}"));
            "Decimal".into()
        }
        ColumnType::Varchar(n) => {
            attrs.push(format!("max_length = {n}"));
            "String".into()
        }
        ColumnType::Text => "String".into(),
        ColumnType::Bytes => "Vec<u8>".into(),
        ColumnType::Date => "NaiveDate".into(),
        ColumnType::Time => "NaiveTime".into(),
        ColumnType::DateTime => "NaiveDateTime".into(),
        ColumnType::DateTimeTz => "DateTime<Utc>".into(),
        ColumnType::Uuid => "Uuid".into(),
        ColumnType::Json => "serde_json::Value".into(),
        ColumnType::Custom(s) => {
            attrs.push(format!("db_type = {s:?}"));
            "String".into()
        }
    };
    (t, attrs)
}

fn default_literal(d: &DefaultState, ty: &ColumnType) -> Option<String> {
    let DefaultState::Value(j) = d else { return None };
    match (crate::state::json_to_value(j, Some(ty))?, ty) {
        (Value::Int(i), ColumnType::SmallInt | ColumnType::Integer | ColumnType::BigInt) => Some(i.to_string()),
        (Value::Bool(b), ColumnType::Bool) => Some(b.to_string()),
        (Value::Float(f), ColumnType::Real | ColumnType::Double) if f.is_finite() => Some(format!("{f:?}")),
        (Value::Text(s), ColumnType::Varchar(_) | ColumnType::Text) => Some(format!("{s:?}")),
        _ => None,
    }
}

/// The Rust source of the inspected models (one `use` line, then one struct per table).
pub fn source(models: &[Inspected]) -> String {
    let mut body = String::new();
    for i in models {
        let m = &i.model;
        let _ = writeln!(body, "/// Inspected from table `{}`.", m.table);
        for n in &i.notes {
            let _ = writeln!(body, "// Note: {n}.");
        }
        let _ = writeln!(body, "#[derive(Model, Debug, Clone)]");
        let mut opts = vec![format!("app = {:?}", m.app), format!("table = {:?}", m.table)];
        for ix in &m.indexes {
            opts.push(format!("index(name = {:?}, fields = [{}])", ix.name, quoted(&ix.fields)));
        }
        for c in &m.constraints {
            match c {
                ConstraintState::Unique { name, fields } => {
                    opts.push(format!("unique(name = {name:?}, fields = [{}])", quoted(fields)));
                }
                ConstraintState::Check { name, sql } => opts.push(format!("check(name = {name:?}, sql = {sql:?})")),
            }
        }
        let _ = writeln!(body, "#[orm({})]", opts.join(", "));
        let _ = writeln!(body, "pub struct {} {{", m.name);
        if m.pk().is_none() {
            let _ = writeln!(body, "    // The table has no single-column primary key; add one to use it as a model.");
        }
        for f in &m.fields {
            let ty = f.ty.column_type().cloned().unwrap_or(ColumnType::BigInt);
            let (mut rust, mut attrs) = rust_type(&ty, f.auto);
            if let Some(r) = &f.relation {
                let target = r.to.rsplit('.').next().unwrap_or_default();
                rust = if r.one_to_one { format!("OneToOne<{target}>") } else { format!("ForeignKey<{target}>") };
                attrs.clear();
                attrs.push(format!("on_delete = {:?}", r.on_delete).replace('"', ""));
                if let Some(tf) = &r.to_field {
                    attrs.push(format!("to_field = {tf:?}"));
                }
                if !r.db_index {
                    attrs.push("index = false".into());
                }
                let twins = m.fields.iter().filter(|o| o.relation.as_ref().is_some_and(|o| o.to == r.to)).count();
                if twins > 1 || r.to.eq_ignore_ascii_case(&m.label()) {
                    attrs.push(format!("related_name = \"{}_{}\"", m.table, f.name));
                }
                if f.column != format!("{}_id", f.name) {
                    attrs.push(format!("column = {:?}", f.column));
                }
            } else if f.column != f.name {
                attrs.push(format!("column = {:?}", f.column));
            }
            if f.primary_key && !f.auto {
                attrs.insert(0, "primary_key".into());
            }
            if f.unique {
                attrs.push("unique".into());
            }
            if f.index {
                attrs.push("index".into());
            }
            if let Some(d) = &f.default {
                match default_literal(d, &ty) {
                    Some(lit) => attrs.push(format!("default = {lit}")),
                    None => {
                        let _ =
                            writeln!(body, "    // database default: {}", serde_json::to_string(d).unwrap_or_default());
                    }
                }
            }
            if f.null && !f.primary_key {
                rust = format!("Option<{rust}>");
            }
            if !attrs.is_empty() {
                let _ = writeln!(body, "    #[orm({})]", attrs.join(", "));
            }
            let _ = writeln!(body, "    pub {}: {rust},", f.name);
        }
        let _ = writeln!(body, "}}\n");
    }
    let mut head = String::from("// Generated by inspectdb: review names, relations and defaults before use.\n");
    head.push_str("#![allow(missing_docs)]\n\nuse orm::prelude::*;\n");
    head.push_str(
        "#[allow(unused_imports)]\nuse orm::chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};\n\
         #[allow(unused_imports)]\nuse orm::rust_decimal::Decimal;\n\
         #[allow(unused_imports)]\nuse orm::serde_json;\n\
         #[allow(unused_imports)]\nuse orm::uuid::Uuid;\n",
    );
    head.push('\n');
    head + body.trim_end() + "\n"
}

fn quoted(v: &[String]) -> String {
    v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
}
