//! Static model metadata: the single source that queries, validation, schema generation,
//! serializers and the migration autodetector all read.
//!
//! The derive emits one `static` [`ModelMeta`] per model. Everything in it is `'static` and
//! const-constructible: defaults are function pointers, related models are reached through
//! `fn() -> &'static ModelMeta` (so a model may point at itself or at one declared later).

use crate::fields::ColumnKind;
use orm_backends::schema::ReferentialAction;
use orm_backends::Value;

/// What a model is, in Django's inheritance terms.
#[derive(Clone, Copy, Debug)]
pub enum ModelKind {
    /// A model with its own table.
    Concrete,
    /// An abstract base: no table, no manager; its fields are copied into each child.
    Abstract,
    /// A proxy: the table of `of`, with its own behaviour.
    Proxy {
        /// The concrete model whose table this proxy uses.
        of: fn() -> &'static ModelMeta,
    },
    /// A multi-table child: its own table, whose primary key links to the parent's row.
    MultiTable {
        /// The concrete parent.
        parent: fn() -> &'static ModelMeta,
    },
}

/// What `on_delete` does when the referenced row is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OnDelete {
    /// Delete the referencing rows too.
    Cascade,
    /// Refuse while referencing rows exist (`ProtectedError`).
    Protect,
    /// Refuse unless the referencing rows are deleted by the same cascade (`RestrictedError`).
    Restrict,
    /// Set the reference to NULL (the field must be nullable).
    SetNull,
    /// Set the reference to the field's default.
    SetDefault,
    /// Do nothing in the ORM; the database's own constraint decides.
    DoNothing,
    /// The database deletes the referencing rows itself (`ON DELETE CASCADE`; Django's
    /// `DB_CASCADE`): the collector does not visit them, so no signal is sent for them and
    /// the delete counts leave them out, and one DELETE of the target does all the work.
    DbCascade,
    /// The database sets the reference to NULL (`ON DELETE SET NULL`; Django's
    /// `DB_SET_NULL`), without the collector.
    DbSetNull,
    /// The database sets the reference to the column's default (`ON DELETE SET DEFAULT`;
    /// Django's `DB_SET_DEFAULT`), without the collector. MySQL and MariaDB's InnoDB refuse
    /// this action: creating such a table there is an error.
    DbSetDefault,
}

impl OnDelete {
    /// The database-level action rendered into the foreign key. The ORM's collector does the
    /// real work, as in Django, so the constraint itself only needs to match where the database
    /// can do the same thing cheaply.
    pub fn referential_action(self) -> ReferentialAction {
        match self {
            OnDelete::Cascade | OnDelete::DbCascade => ReferentialAction::Cascade,
            OnDelete::SetNull | OnDelete::DbSetNull => ReferentialAction::SetNull,
            OnDelete::DbSetDefault => ReferentialAction::SetDefault,
            _ => ReferentialAction::NoAction,
        }
    }

    /// Is what happens to the referencing rows left to the database (`DoNothing` and the
    /// `Db*` modes), so the deletion collector does not visit them?
    pub fn left_to_database(self) -> bool {
        matches!(self, OnDelete::DoNothing | OnDelete::DbCascade | OnDelete::DbSetNull | OnDelete::DbSetDefault)
    }

    /// The name, as written in the attribute.
    pub fn name(self) -> &'static str {
        match self {
            OnDelete::Cascade => "Cascade",
            OnDelete::Protect => "Protect",
            OnDelete::Restrict => "Restrict",
            OnDelete::SetNull => "SetNull",
            OnDelete::SetDefault => "SetDefault",
            OnDelete::DoNothing => "DoNothing",
            OnDelete::DbCascade => "DbCascade",
            OnDelete::DbSetNull => "DbSetNull",
            OnDelete::DbSetDefault => "DbSetDefault",
        }
    }
}

/// Whether a relation field is a foreign key or a one-to-one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelationKind {
    /// Many rows may point at one target row.
    ForeignKey,
    /// At most one row points at each target row (a unique foreign key).
    OneToOne,
}

/// A forward relation stored in a column (`ForeignKey`, `OneToOne`).
#[derive(Clone, Copy, Debug)]
pub struct RelationMeta {
    /// Foreign key or one-to-one.
    pub kind: RelationKind,
    /// The target model.
    pub target: fn() -> &'static ModelMeta,
    /// The target field the column refers to (`to_field`); `None` means the primary key.
    pub to_field: Option<&'static str>,
    /// What deleting the target does.
    pub on_delete: OnDelete,
    /// The name of the reverse accessor on the target; `None` means `<model>_set`.
    pub related_name: Option<&'static str>,
    /// The name lookups use from the target (Django's `related_query_name`); `None` means
    /// `related_name`, else the model's name in lower case.
    pub related_query_name: Option<&'static str>,
    /// Is this the link of a multi-table child to its parent (`<parent>_ptr`)?
    pub parent_link: bool,
    /// Does the column get an index of its own (`<table>_<column>_idx`)? Django's `db_index`;
    /// `#[orm(index = false)]` turns it off (for a column another index already leads with).
    /// A one-to-one link's unique constraint is its index either way.
    pub db_index: bool,
}

/// A choice for a field with `choices`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Choice {
    /// The stored value.
    pub value: ChoiceValue,
    /// The human-readable label.
    pub label: &'static str,
}

/// The stored value of a [`Choice`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChoiceValue {
    /// A text value.
    Str(&'static str),
    /// An integer value.
    Int(i64),
}

impl ChoiceValue {
    /// Does `v` equal this choice?
    pub fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (ChoiceValue::Str(s), Value::Text(t)) => s == t,
            (ChoiceValue::Int(i), Value::Int(j)) => i == j,
            _ => false,
        }
    }

    /// As a [`Value`].
    pub fn to_value(&self) -> Value {
        match *self {
            ChoiceValue::Str(s) => Value::Text(s.to_owned()),
            ChoiceValue::Int(i) => Value::Int(i),
        }
    }
}

/// A field's default.
#[derive(Clone, Copy, Debug)]
pub enum DefaultMeta {
    /// A literal written in the attribute (`default = 0`); also rendered into DDL.
    Literal(fn() -> Value),
    /// A function called for each new instance (`default = path::to::fn`); not in the DDL.
    Callable(fn() -> Value),
}

impl DefaultMeta {
    /// The default's value now.
    pub fn value(&self) -> Value {
        match self {
            DefaultMeta::Literal(f) | DefaultMeta::Callable(f) => f(),
        }
    }
}

/// One stored field (one column) of a model.
#[derive(Clone, Copy, Debug)]
pub struct FieldMeta {
    /// The Rust field name (`author`).
    pub name: &'static str,
    /// The column (`author_id`).
    pub column: &'static str,
    /// The column's type.
    pub kind: ColumnKind,
    /// May the column hold NULL?
    pub null: bool,
    /// May the field be blank in validation (Django's `blank`)? `Option` fields are.
    pub blank: bool,
    /// Is this the primary key?
    pub primary_key: bool,
    /// Is the value generated by the database (auto-increment)?
    pub auto: bool,
    /// Must values be unique?
    pub unique: bool,
    /// Should the column be indexed (`index`, Django's `db_index`)?
    pub index: bool,
    /// Maximum length of a string field.
    pub max_length: Option<u32>,
    /// The default.
    pub default: Option<DefaultMeta>,
    /// Allowed values.
    pub choices: &'static [Choice],
    /// A column type override (`db_type = "…"`), used verbatim in DDL.
    pub db_type: Option<&'static str>,
    /// Help text, kept for forms and documentation.
    pub help_text: &'static str,
    /// The human-readable name.
    pub verbose_name: &'static str,
    /// Set to "now" on every save.
    pub auto_now: bool,
    /// Set to "now" when first inserted.
    pub auto_now_add: bool,
    /// The relation, for `ForeignKey` and `OneToOne` fields.
    pub relation: Option<RelationMeta>,
    /// The abstract base this field came from, if any.
    pub inherited_from: Option<&'static str>,
    /// The previous name, for the migration autodetector (`renamed_from = "…"`).
    pub renamed_from: Option<&'static str>,
    /// A [`Deferred`](crate::Deferred) field: `defer()` and `only()` may leave it unloaded.
    pub deferrable: bool,
}

impl FieldMeta {
    /// A plain field with every option at its default; a starting point for hand-written
    /// metadata (`FieldMeta { unique: true, ..FieldMeta::new("slug", "slug", ColumnKind::Varchar(50)) }`).
    pub const fn new(name: &'static str, column: &'static str, kind: ColumnKind) -> Self {
        FieldMeta {
            name,
            column,
            kind,
            null: false,
            blank: false,
            primary_key: false,
            auto: false,
            unique: false,
            index: false,
            max_length: None,
            default: None,
            choices: &[],
            db_type: None,
            help_text: "",
            verbose_name: "",
            auto_now: false,
            auto_now_add: false,
            relation: None,
            inherited_from: None,
            renamed_from: None,
            deferrable: false,
        }
    }
}

/// A many-to-many field: no column, a join table.
#[derive(Clone, Copy, Debug)]
pub struct ManyToManyMeta {
    /// The Rust field name (`tags`).
    pub name: &'static str,
    /// The model declaring the field.
    pub source: fn() -> &'static ModelMeta,
    /// The target model.
    pub target: fn() -> &'static ModelMeta,
    /// A user `through` model with extra fields; `None` means an auto-created join table.
    pub through: Option<fn() -> &'static ModelMeta>,
    /// The auto-created join table's name (`<table>_<field>`), or the through model's.
    pub join_table: &'static str,
    /// The join table's column pointing at this model (`<model>_id`).
    pub source_column: &'static str,
    /// The join table's column pointing at the target (`<target>_id`).
    pub target_column: &'static str,
    /// The name of the reverse accessor on the target.
    pub related_name: Option<&'static str>,
    /// The name lookups use from the target (Django's `related_query_name`); `None` means
    /// `related_name`, else the model's name in lower case.
    pub related_query_name: Option<&'static str>,
    /// The previous name, for the migration autodetector (`renamed_from = "…"`): the join
    /// table is renamed, not dropped and re-created.
    pub renamed_from: Option<&'static str>,
    /// A relation to the same model that goes both ways (Django's `symmetrical`, the default
    /// for a many-to-many to `self`): `a.friends().add([b])` also relates `b` to `a`.
    pub symmetrical: bool,
}

/// A (non-unique, unless `unique`) index over fields.
#[derive(Clone, Copy, Debug)]
pub struct IndexMeta {
    /// The index name.
    pub name: &'static str,
    /// The field names, in order.
    pub fields: &'static [&'static str],
}

/// A table constraint.
#[derive(Clone, Copy, Debug)]
pub enum ConstraintMeta {
    /// Values of these fields together are unique.
    Unique {
        /// The constraint name.
        name: &'static str,
        /// The field names.
        fields: &'static [&'static str],
    },
    /// A SQL boolean expression every row satisfies.
    Check {
        /// The constraint name.
        name: &'static str,
        /// The SQL expression, over column names.
        sql: &'static str,
    },
}

impl ConstraintMeta {
    /// The constraint's name.
    pub fn name(&self) -> &'static str {
        match self {
            ConstraintMeta::Unique { name, .. } | ConstraintMeta::Check { name, .. } => name,
        }
    }
}

/// Everything there is to know about one model.
#[derive(Debug)]
pub struct ModelMeta {
    /// The application label (`blog`).
    pub app: &'static str,
    /// The model's name (`Post`).
    pub name: &'static str,
    /// The table (`blog_post`). A proxy's is its concrete model's.
    pub table: &'static str,
    /// The stored fields, in column order (inherited abstract fields included).
    pub fields: &'static [FieldMeta],
    /// The index of the primary key in `fields`.
    pub pk: usize,
    /// Default ordering (`"-published"`, `"title"`).
    pub ordering: &'static [&'static str],
    /// Indexes over several fields (single-field ones are `FieldMeta::index`).
    pub indexes: &'static [IndexMeta],
    /// Unique and check constraints.
    pub constraints: &'static [ConstraintMeta],
    /// Many-to-many fields.
    pub many_to_many: &'static [ManyToManyMeta],
    /// Concrete, abstract, proxy or multi-table child.
    pub kind: ModelKind,
    /// The human-readable name.
    pub verbose_name: &'static str,
    /// The previous name, for the migration autodetector (`renamed_from = "…"`).
    pub renamed_from: Option<&'static str>,
    /// Django's `select_on_save` (`#[orm(select_on_save)]`): an update of a saved instance
    /// first asks whether the row exists, instead of trusting the UPDATE's row count (for
    /// databases whose triggers or drivers report 0 rows for an UPDATE that matched).
    pub select_on_save: bool,
    /// The fields whose values name a row across databases (Django's `natural_key()` /
    /// `get_by_natural_key`), from `#[orm(natural_key = ["name"])]`; empty when the model has
    /// none. Fixtures use them for foreign keys and, on request, instead of primary keys.
    pub natural_key: &'static [&'static str],
    /// Rendered statements of this model (internal; `Default::default()` when written by hand).
    #[doc(hidden)]
    pub sql_cache: super::cache::SqlCache,
}

impl ModelMeta {
    /// `app.Model`, as in fixtures and error messages.
    pub fn label(&self) -> String {
        format!("{}.{}", self.app, self.name)
    }

    /// The lower-case label used in fixtures (`blog.post`).
    pub fn label_lower(&self) -> String {
        format!("{}.{}", self.app, self.name.to_ascii_lowercase())
    }

    /// The primary-key field.
    pub fn pk_field(&self) -> &'static FieldMeta {
        &self.fields[self.pk]
    }

    /// The field called `name` (the Rust name, the column name, or a relation's attname
    /// such as `author_id`).
    pub fn field(&self, name: &str) -> Option<&'static FieldMeta> {
        self.field_index(name).map(|i| &self.fields[i])
    }

    /// The position of the field called `name` in `fields`.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .or_else(|| self.fields.iter().position(|f| f.column == name))
            .or_else(|| {
                let base = name.strip_suffix("_id")?;
                self.fields.iter().position(|f| f.name == base && f.relation.is_some())
            })
    }

    /// What a relation field is called in `values()` and on the row: Django's attname,
    /// `{name}_id`; a plain field's name.
    pub fn attname(field: &FieldMeta) -> std::borrow::Cow<'static, str> {
        match field.relation {
            Some(_) => format!("{}_id", field.name).into(),
            None => field.name.into(),
        }
    }

    /// The names of every field, for "choices are …" messages.
    pub fn field_names(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.fields.iter().map(|f| f.name).collect();
        v.extend(self.many_to_many.iter().map(|m| m.name));
        v
    }

    /// Does this model have a table of its own?
    pub fn has_table(&self) -> bool {
        matches!(self.kind, ModelKind::Concrete | ModelKind::MultiTable { .. })
    }

    /// Is this model abstract?
    pub fn is_abstract(&self) -> bool {
        matches!(self.kind, ModelKind::Abstract)
    }

    /// The model whose table rows of this one live in: itself, or for a proxy the concrete
    /// model it proxies (through proxies of proxies).
    pub fn concrete(&'static self) -> &'static ModelMeta {
        match self.kind {
            ModelKind::Proxy { of } => of().concrete(),
            _ => self,
        }
    }

    /// The concrete parent of a multi-table child.
    pub fn parent(&self) -> Option<&'static ModelMeta> {
        match self.kind {
            ModelKind::MultiTable { parent } => Some(parent()),
            _ => None,
        }
    }

    /// How many columns a query for this model selects: its own fields, after its parents'
    /// for a multi-table child (rows are read joined to the parent rows).
    pub fn width(&'static self) -> usize {
        match self.kind {
            ModelKind::Proxy { of } => of().width(),
            ModelKind::MultiTable { parent } => parent().width() + self.fields.len(),
            _ => self.fields.len(),
        }
    }
}
