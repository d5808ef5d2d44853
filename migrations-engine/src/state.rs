//! Project state: every model as plain, serialisable data.
//!
//! A [`ProjectState`] is built two ways: from the application's [`ModelMeta`]s
//! ([`ProjectState::from_models`], what the code says now) and by replaying the operations of
//! the migration history ([`crate::operations::Operation::state_forwards`], what the database
//! should hold). The autodetector diffs the two. Either renders to the backend layer's neutral
//! [`TableDef`]s with the rules of `orm::schema::table_def` / `join_tables` (one primary key,
//! unique and one-to-one columns get a `<table>_<column>_uniq` constraint, other indexed and
//! relation columns a `<table>_<column>_idx` index, every relation a `<table>_<column>_fk`
//! foreign key, many-to-many fields an auto-created join table); a test in the suite checks
//! that both renderings agree for every fixture model.
//!
//! Inheritance: an abstract model has no state (its fields are already in each child); a proxy
//! is a model with no fields and no table of its own ([`ModelKindState::Proxy`]); a multi-table
//! child is a concrete model whose primary key is the `<parent>_ptr` one-to-one link.

use crate::error::{MigrationError, Result};
use orm::meta::{ConstraintMeta, DefaultMeta, FieldMeta, ModelKind, ModelMeta, OnDelete, RelationKind};
use orm::schema::constraint_name;
use orm::{ColumnKind, Value};
use orm_backends::schema::{
    CheckDef, ColumnDef, ColumnType, DefaultValue, ForeignKeyDef, IndexDef, ReferentialAction, TableDef, UniqueDef,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

fn is_false(b: &bool) -> bool {
    !*b
}

/// A field's type in state: a neutral column type, or a many-to-many field (no column).
///
/// Serialised as a short string: `bigint`, `varchar(200)`, `decimal(10,2)`, `custom:inet`,
/// `many_to_many`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TypeState {
    /// A column of this neutral type.
    Column(ColumnType),
    /// A many-to-many field, stored in a join table.
    ManyToMany,
}

impl TypeState {
    /// The column type, `None` for a many-to-many field.
    pub fn column_type(&self) -> Option<&ColumnType> {
        match self {
            TypeState::Column(t) => Some(t),
            TypeState::ManyToMany => None,
        }
    }

    /// The state type of an ORM field kind.
    pub fn of_kind(kind: ColumnKind) -> Self {
        TypeState::Column(kind.to_column_type())
    }
}

impl fmt::Display for TypeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ColumnType as T;
        let t = match self {
            TypeState::ManyToMany => return f.write_str("many_to_many"),
            TypeState::Column(t) => t,
        };
        match t {
            T::Bool => f.write_str("bool"),
            T::SmallInt => f.write_str("smallint"),
            T::Integer => f.write_str("integer"),
            T::BigInt => f.write_str("bigint"),
            T::Real => f.write_str("real"),
            T::Double => f.write_str("double"),
            T::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            T::Varchar(n) => write!(f, "varchar({n})"),
            T::Text => f.write_str("text"),
            T::Bytes => f.write_str("bytes"),
            T::Date => f.write_str("date"),
            T::Time => f.write_str("time"),
            T::DateTime => f.write_str("datetime"),
            T::DateTimeTz => f.write_str("datetimetz"),
            T::Uuid => f.write_str("uuid"),
            T::Json => f.write_str("json"),
            T::Custom(s) => write!(f, "custom:{s}"),
        }
    }
}

impl FromStr for TypeState {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        use ColumnType as T;
        if let Some(custom) = s.strip_prefix("custom:") {
            return Ok(TypeState::Column(T::Custom(custom.to_owned())));
        }
        let (base, args) = match s.find('(') {
            Some(i) if s.ends_with(')') => {
                let args: std::result::Result<Vec<u32>, _> =
                    s[i + 1..s.len() - 1].split(',').map(|a| a.trim().parse::<u32>()).collect();
                (&s[..i], args.map_err(|_| format!("bad type arguments in `{s}`"))?)
            }
            _ => (s, Vec::new()),
        };
        let t = match (base, args.as_slice()) {
            ("many_to_many", []) => return Ok(TypeState::ManyToMany),
            ("bool", []) => T::Bool,
            ("smallint", []) => T::SmallInt,
            ("integer", []) => T::Integer,
            ("bigint", []) => T::BigInt,
            ("real", []) => T::Real,
            ("double", []) => T::Double,
            ("decimal", [p, s]) => T::Decimal {
                precision: u8::try_from(*p).map_err(|_| "decimal precision over 255".to_owned())?,
                scale: u8::try_from(*s).map_err(|_| "decimal scale over 255".to_owned())?,
            },
            ("varchar", [n]) => T::Varchar(*n),
            ("text", []) => T::Text,
            ("bytes", []) => T::Bytes,
            ("date", []) => T::Date,
            ("time", []) => T::Time,
            ("datetime", []) => T::DateTime,
            ("datetimetz", []) => T::DateTimeTz,
            ("uuid", []) => T::Uuid,
            ("json", []) => T::Json,
            _ => {
                return Err(format!("unknown field type `{s}` (expected e.g. `bigint`, `varchar(100)`, `custom:inet`)"))
            }
        };
        Ok(TypeState::Column(t))
    }
}

impl Serialize for TypeState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TypeState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A default kept in state and rendered into DDL: a constant (as JSON, read according to the
/// field's type) or an SQL expression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultState {
    /// A constant: `{"value": 0}`, `{"value": "draft"}`, `{"value": "2024-01-01"}`.
    Value(serde_json::Value),
    /// Raw SQL: `{"expression": "CURRENT_TIMESTAMP"}`.
    Expression(String),
}

impl DefaultState {
    /// The state form of a value for a column of type `ty`.
    pub fn from_value(v: &Value, ty: Option<&ColumnType>) -> Self {
        use serde_json::Value as J;
        let j = match v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map(J::Number).unwrap_or_else(|| J::String(f.to_string()))
            }
            Value::Text(s) => J::String(s.clone()),
            Value::Bytes(b) => J::String(b.iter().map(|x| format!("{x:02x}")).collect()),
            Value::Date(d) => J::String(d.format("%Y-%m-%d").to_string()),
            Value::Time(t) => J::String(t.format("%H:%M:%S%.f").to_string()),
            Value::DateTime(d) => J::String(d.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
            Value::DateTimeTz(d) => J::String(d.to_rfc3339()),
            Value::Uuid(u) => J::String(u.hyphenated().to_string()),
            Value::Json(j) if matches!(ty, Some(ColumnType::Json)) => j.clone(),
            Value::Json(j) => J::String(j.to_string()),
            Value::Decimal(d) => J::String(d.to_string()),
            _ => J::Null,
        };
        DefaultState::Value(j)
    }

    /// The value for a column of type `ty`.
    pub fn to_value(&self, ty: Option<&ColumnType>) -> Option<DefaultValue> {
        let j = match self {
            DefaultState::Expression(e) => return Some(DefaultValue::Expression(e.clone())),
            DefaultState::Value(j) => j,
        };
        Some(DefaultValue::Value(json_to_value(j, ty)?))
    }
}

/// Reads a JSON constant as a value for a column of type `ty`.
pub fn json_to_value(j: &serde_json::Value, ty: Option<&ColumnType>) -> Option<Value> {
    use serde_json::Value as J;
    Some(match (j, ty) {
        (J::Null, _) => return None,
        (j, Some(ColumnType::Json)) => Value::Json(j.clone()),
        (J::Bool(b), _) => Value::Bool(*b),
        (J::Number(n), _) => match n.as_i64() {
            Some(i) if !n.is_f64() => Value::Int(i),
            _ => Value::Float(n.as_f64().unwrap_or_default()),
        },
        (J::String(s), Some(t)) => {
            let parsed = match t {
                ColumnType::Bytes => (0..s.len())
                    .step_by(2)
                    .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
                    .collect::<Option<Vec<u8>>>()
                    .map(Value::Bytes),
                ColumnType::Date => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(Value::Date),
                ColumnType::Time => chrono::NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok().map(Value::Time),
                ColumnType::DateTime => {
                    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok().map(Value::DateTime)
                }
                ColumnType::DateTimeTz => chrono::DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|d| Value::DateTimeTz(d.with_timezone(&chrono::Utc))),
                ColumnType::Uuid => uuid::Uuid::parse_str(s).ok().map(Value::Uuid),
                ColumnType::Decimal { .. } => s.parse::<rust_decimal::Decimal>().ok().map(Value::Decimal),
                ColumnType::Real | ColumnType::Double => s.parse::<f64>().ok().map(Value::Float),
                _ => None,
            };
            parsed.unwrap_or_else(|| Value::Text(s.clone()))
        }
        (J::String(s), None) => Value::Text(s.clone()),
        (other, _) => Value::Text(other.to_string()),
    })
}

/// What deleting the target of a relation does (the ORM's `OnDelete`, as data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnDeleteState {
    /// `Cascade`.
    Cascade,
    /// `Protect`.
    Protect,
    /// `Restrict`.
    Restrict,
    /// `SetNull`.
    SetNull,
    /// `SetDefault`.
    SetDefault,
    /// `DoNothing`.
    DoNothing,
    /// `DbCascade`: `ON DELETE CASCADE` in the database.
    DbCascade,
    /// `DbSetNull`: `ON DELETE SET NULL` in the database.
    DbSetNull,
    /// `DbSetDefault`: `ON DELETE SET DEFAULT` in the database.
    DbSetDefault,
}

impl OnDeleteState {
    /// The state form of the ORM's `OnDelete`.
    pub fn of(o: OnDelete) -> Self {
        match o {
            OnDelete::Cascade => OnDeleteState::Cascade,
            OnDelete::Protect => OnDeleteState::Protect,
            OnDelete::Restrict => OnDeleteState::Restrict,
            OnDelete::SetNull => OnDeleteState::SetNull,
            OnDelete::SetDefault => OnDeleteState::SetDefault,
            OnDelete::DoNothing => OnDeleteState::DoNothing,
            OnDelete::DbCascade => OnDeleteState::DbCascade,
            OnDelete::DbSetNull => OnDeleteState::DbSetNull,
            OnDelete::DbSetDefault => OnDeleteState::DbSetDefault,
        }
    }

    /// The ORM's `OnDelete`.
    pub fn to_orm(self) -> OnDelete {
        match self {
            OnDeleteState::Cascade => OnDelete::Cascade,
            OnDeleteState::Protect => OnDelete::Protect,
            OnDeleteState::Restrict => OnDelete::Restrict,
            OnDeleteState::SetNull => OnDelete::SetNull,
            OnDeleteState::SetDefault => OnDelete::SetDefault,
            OnDeleteState::DoNothing => OnDelete::DoNothing,
            OnDeleteState::DbCascade => OnDelete::DbCascade,
            OnDeleteState::DbSetNull => OnDelete::DbSetNull,
            OnDeleteState::DbSetDefault => OnDelete::DbSetDefault,
        }
    }

    /// The database action rendered into the foreign key (as `OnDelete::referential_action`).
    pub fn referential_action(self) -> ReferentialAction {
        self.to_orm().referential_action()
    }
}

/// A forward relation stored in a column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelationState {
    /// Is this a one-to-one link (a unique foreign key)?
    #[serde(default, skip_serializing_if = "is_false")]
    pub one_to_one: bool,
    /// The target model, `app.Model`.
    pub to: String,
    /// The target field (`None`: the primary key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_field: Option<String>,
    /// What deleting the target does.
    pub on_delete: OnDeleteState,
    /// Is this a multi-table child's link to its parent?
    #[serde(default, skip_serializing_if = "is_false")]
    pub parent_link: bool,
    /// Does the column get an index of its own (`<table>_<column>_idx`)? Written to files only
    /// when off (`"db_index": false`, the models' `#[orm(index = false)]`).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub db_index: bool,
}

/// The join table of a many-to-many field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManyToManyState {
    /// The target model, `app.Model`.
    pub to: String,
    /// A user `through` model (`app.Model`); `None`: an auto-created join table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through: Option<String>,
    /// The join table.
    pub join_table: String,
    /// Its column pointing at the declaring model.
    pub source_column: String,
    /// Its column pointing at the target.
    pub target_column: String,
}

/// One field of a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldState {
    /// The field name (`author`).
    pub name: String,
    /// The column (`author_id`); empty for a many-to-many field.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub column: String,
    /// The type.
    #[serde(rename = "type")]
    pub ty: TypeState,
    /// May it hold NULL?
    #[serde(default, skip_serializing_if = "is_false")]
    pub null: bool,
    /// Is it the primary key?
    #[serde(default, skip_serializing_if = "is_false")]
    pub primary_key: bool,
    /// Does the database generate it (an auto-increment primary key)?
    #[serde(default, skip_serializing_if = "is_false")]
    pub auto: bool,
    /// Must values be unique?
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    /// Is the column indexed?
    #[serde(default, skip_serializing_if = "is_false")]
    pub index: bool,
    /// The default rendered into DDL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<DefaultState>,
    /// The relation, for foreign keys and one-to-one links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<RelationState>,
    /// The join table, for many-to-many fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub many_to_many: Option<ManyToManyState>,
}

impl FieldState {
    /// A plain `NOT NULL` column field called `name` of type `ty` (column = name).
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        let name = name.into();
        FieldState {
            column: name.clone(),
            name,
            ty: TypeState::Column(ty),
            null: false,
            primary_key: false,
            auto: false,
            unique: false,
            index: false,
            default: None,
            relation: None,
            many_to_many: None,
        }
    }

    /// An auto-increment `bigint` primary key called `name`.
    pub fn auto_pk(name: impl Into<String>) -> Self {
        FieldState { primary_key: true, auto: true, ..FieldState::new(name, ColumnType::BigInt) }
    }

    /// The same field, nullable.
    pub fn nullable(mut self) -> Self {
        self.null = true;
        self
    }

    /// The same field with a constant default.
    pub fn default_value(mut self, v: impl Into<Value>) -> Self {
        self.default = Some(DefaultState::from_value(&v.into(), self.ty.column_type()));
        self
    }

    /// The same field, unique.
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// The same field, indexed.
    pub fn indexed(mut self) -> Self {
        self.index = true;
        self
    }

    /// A foreign key called `name` (column `<name>_id`) to `to` (`app.Model`).
    pub fn foreign_key(name: impl Into<String>, to: impl Into<String>, on_delete: OnDeleteState) -> Self {
        let name = name.into();
        FieldState {
            column: format!("{name}_id"),
            relation: Some(RelationState {
                one_to_one: false,
                to: to.into(),
                to_field: None,
                on_delete,
                parent_link: false,
                db_index: true,
            }),
            ..FieldState::new(name, ColumnType::BigInt)
        }
    }

    /// Is this a many-to-many field (no column)?
    pub fn is_many_to_many(&self) -> bool {
        self.many_to_many.is_some()
    }

    /// The state of one field of the ORM's metadata.
    pub fn from_meta(f: &FieldMeta) -> Self {
        let ty = match f.db_type {
            Some(custom) => TypeState::Column(ColumnType::Custom(custom.to_owned())),
            None => TypeState::of_kind(f.kind),
        };
        let default = match f.default {
            Some(DefaultMeta::Literal(v)) => Some(DefaultState::from_value(&v(), ty.column_type())),
            _ => None,
        };
        FieldState {
            name: f.name.to_owned(),
            column: f.column.to_owned(),
            ty,
            null: f.null,
            primary_key: f.primary_key,
            auto: f.auto && f.primary_key,
            unique: f.unique,
            index: f.index,
            default,
            relation: f.relation.map(|r| RelationState {
                one_to_one: r.kind == RelationKind::OneToOne,
                to: (r.target)().label(),
                to_field: r.to_field.map(str::to_owned),
                on_delete: OnDeleteState::of(r.on_delete),
                parent_link: r.parent_link,
                db_index: r.db_index,
            }),
            many_to_many: None,
        }
    }

    /// Is this field's column the same in the database as `other`'s (type, NULL, default,
    /// keys, relation), ignoring the name?
    pub fn same_column(&self, other: &FieldState) -> bool {
        let strip = |f: &FieldState| FieldState { name: String::new(), ..f.clone() };
        strip(self) == strip(other)
    }
}

/// A (non-unique) index over fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexState {
    /// The index name.
    pub name: String,
    /// The field names, in order.
    pub fields: Vec<String>,
}

/// A table constraint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConstraintState {
    /// Values of these fields together are unique.
    Unique {
        /// The constraint name.
        name: String,
        /// The field names.
        fields: Vec<String>,
    },
    /// An SQL boolean expression every row satisfies.
    Check {
        /// The constraint name.
        name: String,
        /// The expression, over column names.
        sql: String,
    },
}

impl ConstraintState {
    /// The constraint's name.
    pub fn name(&self) -> &str {
        match self {
            ConstraintState::Unique { name, .. } | ConstraintState::Check { name, .. } => name,
        }
    }
}

/// Rewrites column `old` to `new` in an SQL expression (a check constraint's): bare,
/// `"double-quoted"` and `` `backquoted` `` identifiers equal to `old` are replaced (keeping
/// their quoting), string literals and other words are left alone.
///
/// ```
/// use orm_migrations::state::rename_column_in_sql;
/// assert_eq!(rename_column_in_sql("views >= 0 AND \"views\" <> 'views'", "views", "hits"),
///            "hits >= 0 AND \"hits\" <> 'views'");
/// assert_eq!(rename_column_in_sql("old_views > views", "views", "hits"), "old_views > hits");
/// ```
pub fn rename_column_in_sql(sql: &str, old: &str, new: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' | '`' => {
                // A quoted run up to the matching quote (a doubled quote escapes itself).
                let mut j = i + 1;
                let mut body = String::new();
                while j < chars.len() {
                    if chars[j] == c {
                        if chars.get(j + 1) == Some(&c) {
                            body.push(c);
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    body.push(chars[j]);
                    j += 1;
                }
                let closed = j < chars.len();
                if c != '\'' && closed && body == old {
                    out.push(c);
                    out.push_str(&new.replace(c, &format!("{c}{c}")));
                    out.push(c);
                } else {
                    out.extend(&chars[i..(j + 1).min(chars.len())]);
                }
                i = j + 1;
            }
            c if is_ident(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if word == old {
                    out.push_str(new);
                } else {
                    out.push_str(&word);
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Options that do not change the schema.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelOptions {
    /// Default ordering (`-published`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ordering: Vec<String>,
    /// The human-readable name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verbose_name: String,
}

/// What kind of model it is (abstract models have no state).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKindState {
    /// A model with its own table.
    #[default]
    Concrete,
    /// A proxy of `of` (`app.Model`): no table, no fields of its own.
    Proxy {
        /// The proxied model.
        of: String,
    },
    /// A multi-table child of `parent` (`app.Model`): its own table, keyed by the parent link.
    MultiTable {
        /// The parent model.
        parent: String,
    },
}

/// One model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelState {
    /// The application label.
    pub app: String,
    /// The model's name (`Post`).
    pub name: String,
    /// The table (a proxy's is its concrete model's).
    pub table: String,
    /// Concrete, proxy or multi-table child.
    #[serde(default, skip_serializing_if = "is_concrete")]
    pub kind: ModelKindState,
    /// The fields, in column order; many-to-many fields last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldState>,
    /// Indexes over several fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<IndexState>,
    /// Unique and check constraints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<ConstraintState>,
    /// Options without a schema effect.
    #[serde(default, skip_serializing_if = "is_default_options")]
    pub options: ModelOptions,
}

fn is_concrete(k: &ModelKindState) -> bool {
    *k == ModelKindState::Concrete
}

fn is_default_options(o: &ModelOptions) -> bool {
    *o == ModelOptions::default()
}

impl ModelState {
    /// A concrete model with no fields yet.
    pub fn new(app: impl Into<String>, name: impl Into<String>, table: impl Into<String>) -> Self {
        ModelState {
            app: app.into(),
            name: name.into(),
            table: table.into(),
            kind: ModelKindState::Concrete,
            fields: Vec::new(),
            indexes: Vec::new(),
            constraints: Vec::new(),
            options: ModelOptions::default(),
        }
    }

    /// Appends a field.
    pub fn field(mut self, f: FieldState) -> Self {
        self.fields.push(f);
        self
    }

    /// `app.Model`.
    pub fn label(&self) -> String {
        format!("{}.{}", self.app, self.name)
    }

    /// Does this model have a table of its own?
    pub fn has_table(&self) -> bool {
        !matches!(self.kind, ModelKindState::Proxy { .. })
    }

    /// The field called `name`.
    pub fn get_field(&self, name: &str) -> Option<&FieldState> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The field called `name`, for changing it.
    pub fn get_field_mut(&mut self, name: &str) -> Option<&mut FieldState> {
        self.fields.iter_mut().find(|f| f.name == name)
    }

    /// The field called `name`, or the one whose column is `name`.
    pub fn field_or_column(&self, name: &str) -> Option<&FieldState> {
        self.get_field(name).or_else(|| self.fields.iter().find(|f| f.column == name && !f.column.is_empty()))
    }

    /// The primary-key field.
    pub fn pk(&self) -> Option<&FieldState> {
        self.fields.iter().find(|f| f.primary_key)
    }

    /// The state of one model of the ORM's metadata; `None` for an abstract model.
    pub fn from_meta(meta: &'static ModelMeta) -> Option<Self> {
        let kind = match meta.kind {
            ModelKind::Abstract => return None,
            ModelKind::Concrete => ModelKindState::Concrete,
            ModelKind::Proxy { of } => ModelKindState::Proxy { of: of().label() },
            ModelKind::MultiTable { parent } => ModelKindState::MultiTable { parent: parent().label() },
        };
        let mut m = ModelState::new(meta.app, meta.name, meta.table);
        m.kind = kind;
        m.options = ModelOptions {
            ordering: meta.ordering.iter().map(|s| (*s).to_owned()).collect(),
            verbose_name: meta.verbose_name.to_owned(),
        };
        if !m.has_table() {
            return Some(m);
        }
        m.fields = meta.fields.iter().map(FieldState::from_meta).collect();
        for mm in meta.many_to_many {
            let mut f = FieldState::new(mm.name, ColumnType::BigInt);
            f.column = String::new();
            f.ty = TypeState::ManyToMany;
            f.many_to_many = Some(ManyToManyState {
                to: (mm.target)().label(),
                through: mm.through.map(|t| t().label()),
                join_table: mm.join_table.to_owned(),
                source_column: mm.source_column.to_owned(),
                target_column: mm.target_column.to_owned(),
            });
            m.fields.push(f);
        }
        m.indexes = meta
            .indexes
            .iter()
            .map(|i| IndexState { name: i.name.to_owned(), fields: i.fields.iter().map(|s| (*s).to_owned()).collect() })
            .collect();
        m.constraints = meta
            .constraints
            .iter()
            .map(|c| match c {
                ConstraintMeta::Unique { name, fields } => ConstraintState::Unique {
                    name: (*name).to_owned(),
                    fields: fields.iter().map(|s| (*s).to_owned()).collect(),
                },
                ConstraintMeta::Check { name, sql } => {
                    ConstraintState::Check { name: (*name).to_owned(), sql: (*sql).to_owned() }
                }
            })
            .collect();
        Some(m)
    }
}

/// Every model of every app, keyed by `app.Model`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectState {
    /// The models, by label.
    pub models: BTreeMap<String, ModelState>,
}

impl ProjectState {
    /// An empty project.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of the given models (abstract ones are skipped; their fields are already in
    /// their children).
    pub fn from_models(metas: &[&'static ModelMeta]) -> Self {
        let mut s = ProjectState::new();
        for m in metas {
            if let Some(ms) = ModelState::from_meta(m) {
                s.models.insert(ms.label(), ms);
            }
        }
        s
    }

    /// Adds (or replaces) a model.
    pub fn add_model(&mut self, m: ModelState) {
        self.models.insert(m.label(), m);
    }

    /// The model labelled `label` (`app.Model`; the model name is matched case-insensitively
    /// when there is no exact match).
    pub fn model(&self, label: &str) -> Option<&ModelState> {
        self.models.get(label).or_else(|| self.models.iter().find(|(k, _)| k.eq_ignore_ascii_case(label)).map(|x| x.1))
    }

    /// The model labelled `label`, or a [`MigrationError::BadMigration`] naming it.
    pub fn get(&self, label: &str) -> Result<&ModelState> {
        self.model(label).ok_or_else(|| MigrationError::bad(format!("no model `{label}` in the project state")))
    }

    /// The model labelled `label`, for changing it.
    pub fn get_mut(&mut self, label: &str) -> Result<&mut ModelState> {
        let key = self.get(label)?.label();
        Ok(self.models.get_mut(&key).expect("found above"))
    }

    /// The app labels with at least one model.
    pub fn apps(&self) -> Vec<String> {
        let mut v: Vec<String> = self.models.values().map(|m| m.app.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The model rows of `label` live in: itself, or the concrete model a proxy stands for.
    pub fn concrete(&self, label: &str) -> Result<&ModelState> {
        let mut m = self.get(label)?;
        for _ in 0..32 {
            match &m.kind {
                ModelKindState::Proxy { of } => m = self.get(of)?,
                _ => return Ok(m),
            }
        }
        Err(MigrationError::bad(format!("proxy chain of `{label}` does not end")))
    }

    /// The table of model `label` (with a table of its own), by the rules of
    /// `orm::schema::table_def`.
    pub fn table_def(&self, label: &str) -> Result<TableDef> {
        let m = self.get(label)?;
        if !m.has_table() {
            return Err(MigrationError::bad(format!("{} has no table of its own", m.label())));
        }
        let table = m.table.as_str();
        let mut t = TableDef::new(table);
        for f in m.fields.iter().filter(|f| !f.is_many_to_many()) {
            let ty = f.ty.column_type().cloned().unwrap_or(ColumnType::BigInt);
            let default = f.default.as_ref().and_then(|d| d.to_value(Some(&ty)));
            t.columns.push(ColumnDef {
                name: f.column.clone(),
                ty,
                nullable: f.null,
                default,
                auto_increment: f.auto && f.primary_key,
            });
            let col = f.column.as_str();
            if f.primary_key {
                t.primary_key.push(f.column.clone());
            } else if f.unique || f.relation.as_ref().is_some_and(|r| r.one_to_one) {
                t.uniques.push(UniqueDef::new(constraint_name(&[table, col], "uniq"), [col]));
            } else if f.index || f.relation.as_ref().is_some_and(|r| r.db_index) {
                t.indexes.push(IndexDef::new(constraint_name(&[table, col], "idx"), [col]));
            }
            if let Some(rel) = &f.relation {
                let target = self.concrete(&rel.to).map_err(|_| {
                    MigrationError::bad(format!("`{}` of {} points at unknown model `{}`", f.name, m.label(), rel.to))
                })?;
                let ref_column = match &rel.to_field {
                    Some(name) => target.field_or_column(name).map(|tf| tf.column.clone()).ok_or_else(|| {
                        MigrationError::bad(format!(
                            "`{}` of {} has to_field `{name}`, which {} does not have",
                            f.name,
                            m.label(),
                            target.label()
                        ))
                    })?,
                    None => self.pk_column(target)?,
                };
                t.foreign_keys.push(
                    ForeignKeyDef::new(
                        constraint_name(&[table, col], "fk"),
                        [col],
                        target.table.as_str(),
                        [ref_column],
                    )
                    .on_delete(rel.on_delete.referential_action()),
                );
            }
        }
        for idx in &m.indexes {
            t.indexes.push(IndexDef::new(idx.name.clone(), self.columns_of(m, &idx.fields, "index")?));
        }
        for c in &m.constraints {
            match c {
                ConstraintState::Unique { name, fields } => {
                    t.uniques.push(UniqueDef::new(name.clone(), self.columns_of(m, fields, "unique constraint")?));
                }
                ConstraintState::Check { name, sql } => t.checks.push(CheckDef::new(name.clone(), sql.clone())),
            }
        }
        Ok(t)
    }

    fn pk_column(&self, m: &ModelState) -> Result<String> {
        m.pk().map(|p| p.column.clone()).ok_or_else(|| MigrationError::bad(format!("{} has no primary key", m.label())))
    }

    fn columns_of(&self, m: &ModelState, fields: &[String], what: &str) -> Result<Vec<String>> {
        fields
            .iter()
            .map(|n| {
                m.field_or_column(n)
                    .map(|f| f.column.clone())
                    .ok_or_else(|| MigrationError::bad(format!("{what} of {} names unknown field `{n}`", m.label())))
            })
            .collect()
    }

    /// The auto-created join table of many-to-many field `field` of model `label` (`None` for
    /// a field with a `through` model, or a field that is not many-to-many).
    pub fn join_table_def(&self, label: &str, field: &str) -> Result<Option<TableDef>> {
        let m = self.get(label)?;
        let Some(f) = m.get_field(field) else { return Ok(None) };
        let Some(mm) = &f.many_to_many else { return Ok(None) };
        if mm.through.is_some() {
            return Ok(None);
        }
        let target = self.concrete(&mm.to)?;
        let src_pk = m.pk().ok_or_else(|| MigrationError::bad(format!("{} has no primary key", m.label())))?;
        let dst_pk =
            target.pk().ok_or_else(|| MigrationError::bad(format!("{} has no primary key", target.label())))?;
        let (src, dst, jt) = (mm.source_column.as_str(), mm.target_column.as_str(), mm.join_table.as_str());
        // As `orm::schema::join_tables`: the key's kind, not a `db_type` override.
        let ty_of = |f: &FieldState| match f.ty.column_type() {
            Some(ColumnType::Custom(_)) | None => ColumnType::BigInt,
            Some(t) => t.clone(),
        };
        let t = TableDef::new(jt)
            .column(ColumnDef::new("id", ColumnType::BigInt).auto_increment())
            .column(ColumnDef::new(src, ty_of(src_pk)))
            .column(ColumnDef::new(dst, ty_of(dst_pk)))
            .primary_key(["id"])
            .unique(constraint_name(&[jt, src, dst], "uniq"), [src, dst])
            .index(constraint_name(&[jt, dst], "idx"), [dst])
            .foreign_key(
                ForeignKeyDef::new(
                    constraint_name(&[jt, src], "fk"),
                    [src],
                    m.table.as_str(),
                    [src_pk.column.as_str()],
                )
                .on_delete(ReferentialAction::Cascade),
            )
            .foreign_key(
                ForeignKeyDef::new(
                    constraint_name(&[jt, dst], "fk"),
                    [dst],
                    target.table.as_str(),
                    [dst_pk.column.as_str()],
                )
                .on_delete(ReferentialAction::Cascade),
            );
        Ok(Some(t))
    }

    /// The auto-created join tables of model `label`, by field name.
    pub fn join_table_defs(&self, label: &str) -> Result<Vec<(String, TableDef)>> {
        let m = self.get(label)?;
        let mut out = Vec::new();
        for f in m.fields.iter().filter(|f| f.is_many_to_many()) {
            if let Some(t) = self.join_table_def(label, &f.name)? {
                out.push((f.name.clone(), t));
            }
        }
        Ok(out)
    }

    /// Every table of the project (models' and join tables), each after the tables it
    /// references where possible.
    pub fn tables(&self) -> Result<Vec<TableDef>> {
        let mut tables: Vec<TableDef> = Vec::new();
        for (label, m) in &self.models {
            if m.has_table() && !tables.iter().any(|t| t.name == m.table) {
                tables.push(self.table_def(label)?);
            }
        }
        for (label, m) in &self.models {
            if m.has_table() {
                for (_, jt) in self.join_table_defs(label)? {
                    if !tables.iter().any(|t| t.name == jt.name) {
                        tables.push(jt);
                    }
                }
            }
        }
        Ok(order_by_dependencies(tables))
    }

    /// The relation fields (`(model label, field name)`) whose column references field
    /// `field` of model `label`: foreign keys and one-to-one links to it by `to_field`, or to
    /// its model's primary key when it is the primary key. Proxies stand for their concrete
    /// model on either side.
    pub fn referencing_fields(&self, label: &str, field: &str) -> Result<Vec<(String, String)>> {
        let target = self.concrete(label)?;
        let Some(tf) = target.field_or_column(field) else { return Ok(Vec::new()) };
        let target_label = target.label();
        let mut out = Vec::new();
        for (ml, m) in &self.models {
            for f in &m.fields {
                let Some(rel) = &f.relation else { continue };
                let Ok(to) = self.concrete(&rel.to) else { continue };
                if to.label() != target_label {
                    continue;
                }
                let hits = match &rel.to_field {
                    Some(name) => to.field_or_column(name).is_some_and(|x| x.name == tf.name),
                    None => tf.primary_key,
                };
                if hits {
                    out.push((ml.clone(), f.name.clone()));
                }
            }
        }
        Ok(out)
    }

    /// The models of `app`.
    pub fn app_models(&self, app: &str) -> impl Iterator<Item = &ModelState> {
        let app = app.to_owned();
        self.models.values().filter(move |m| m.app == app)
    }
}

/// Orders tables so each comes after those it references (cycles keep their order).
pub fn order_by_dependencies(mut pending: Vec<TableDef>) -> Vec<TableDef> {
    let mut out: Vec<TableDef> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let names: Vec<String> = pending.iter().map(|t| t.name.clone()).collect();
        let ready = pending
            .iter()
            .position(|t| t.foreign_keys.iter().all(|fk| fk.ref_table == t.name || !names.contains(&fk.ref_table)));
        out.push(pending.remove(ready.unwrap_or(0)));
    }
    out
}

/// `true`, for serde defaults of flags that are usually on.
pub(crate) fn default_true() -> bool {
    true
}

/// For `skip_serializing_if` on flags that default to `true`.
pub(crate) fn is_true(b: &bool) -> bool {
    *b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blog() -> ProjectState {
        let mut s = ProjectState::new();
        s.add_model(
            ModelState::new("blog", "Author", "blog_author")
                .field(FieldState::auto_pk("id"))
                .field(FieldState::new("name", ColumnType::Varchar(50)).unique()),
        );
        s.add_model(
            ModelState::new("blog", "Post", "blog_post")
                .field(FieldState::auto_pk("id"))
                .field(FieldState::foreign_key("author", "blog.Author", OnDeleteState::Cascade))
                .field(FieldState::new("views", ColumnType::BigInt).default_value(0i64)),
        );
        s
    }

    #[test]
    fn types_round_trip_through_their_text() {
        for t in ["bool", "varchar(20)", "decimal(10,2)", "custom:inet", "many_to_many", "datetimetz"] {
            assert_eq!(t.parse::<TypeState>().unwrap().to_string(), t);
        }
        assert!("varchar".parse::<TypeState>().is_err());
    }

    #[test]
    fn tables_render_with_the_orm_rules() {
        let s = blog();
        let post = s.table_def("blog.Post").unwrap();
        assert_eq!(post.primary_key, ["id"]);
        assert_eq!(post.indexes[0].name, "blog_post_author_id_idx");
        assert_eq!(post.foreign_keys[0].ref_table, "blog_author");
        assert_eq!(post.foreign_keys[0].on_delete, ReferentialAction::Cascade);
        assert_eq!(post.columns[2].default, Some(DefaultValue::Value(Value::Int(0))));
        let author = s.table_def("blog.author").unwrap();
        assert_eq!(author.uniques[0].name, "blog_author_name_uniq");
        let names: Vec<String> = s.tables().unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["blog_author", "blog_post"]);
    }

    #[test]
    fn defaults_keep_their_type() {
        let d = DefaultState::from_value(&Value::Bytes(vec![1, 255]), Some(&ColumnType::Bytes));
        assert_eq!(d, DefaultState::Value(serde_json::json!("01ff")));
        assert_eq!(d.to_value(Some(&ColumnType::Bytes)), Some(DefaultValue::Value(Value::Bytes(vec![1, 255]))));
        let f = DefaultState::from_value(&Value::Float(1.0), None);
        assert_eq!(f.to_value(None), Some(DefaultValue::Value(Value::Float(1.0))));
        let j = serde_json::to_string(&DefaultState::Expression("CURRENT_TIMESTAMP".into())).unwrap();
        assert_eq!(j, r#"{"expression":"CURRENT_TIMESTAMP"}"#);
    }

    #[test]
    fn model_state_serialises_readably() {
        let s = blog();
        let j = serde_json::to_string(s.get("blog.Post").unwrap()).unwrap();
        assert!(j.contains(r#""type":"bigint","primary_key":true,"auto":true"#), "{j}");
        let back: ModelState = serde_json::from_str(&j).unwrap();
        assert_eq!(&back, s.get("blog.Post").unwrap());
    }
}
