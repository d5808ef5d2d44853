//! The macro–runtime contract made visible: a model written without the derive, exactly as
//! `#[derive(Model)]` would write it for
//!
//! ```text
//! #[derive(Model)]
//! #[orm(app = "notes", table = "notes_handnote")]
//! pub struct HandNote { pub id: Auto<i64>, #[orm(max_length = 80)] pub text: String, pub pinned: Option<bool> }
//! ```

use orm::meta::{FieldMeta, ModelKind, ModelMeta};
use orm::{Auto, ColumnKind, Field, FieldType, Model, Row, Value};
use std::sync::OnceLock;

/// A note, with a hand-written `Model` impl.
#[derive(Debug, Clone, PartialEq)]
pub struct HandNote {
    /// The key.
    pub id: Auto<i64>,
    /// The text.
    pub text: String,
    /// Pinned?
    pub pinned: Option<bool>,
}

impl HandNote {
    /// The `text` field handle.
    pub fn text() -> Field<HandNote, String> {
        Field::new("text")
    }
}

impl Model for HandNote {
    type Key = i64;
    const PK_KIND: ColumnKind = ColumnKind::BigInt;

    fn meta() -> &'static ModelMeta {
        static META: OnceLock<ModelMeta> = OnceLock::new();
        META.get_or_init(|| ModelMeta {
            app: "notes",
            name: "HandNote",
            table: "notes_handnote",
            fields: Box::leak(
                vec![
                    FieldMeta { primary_key: true, auto: true, ..FieldMeta::new("id", "id", ColumnKind::BigInt) },
                    FieldMeta { max_length: Some(80), ..FieldMeta::new("text", "text", ColumnKind::Varchar(80)) },
                    FieldMeta { null: true, blank: true, ..FieldMeta::new("pinned", "pinned", ColumnKind::Bool) },
                ]
                .into_boxed_slice(),
            ),
            pk: 0,
            ordering: &["id"],
            indexes: &[],
            constraints: &[],
            many_to_many: &[],
            kind: ModelKind::Concrete,
            verbose_name: "hand note",
            renamed_from: None,
            select_on_save: false,
            natural_key: &[],
            sql_cache: Default::default(),
        })
    }

    fn from_row(row: &dyn Row, offset: usize) -> orm::Result<Self> {
        Ok(HandNote { id: row.get(offset)?, text: row.get(offset + 1)?, pinned: row.get(offset + 2)? })
    }

    fn field_value(&self, index: usize) -> Value {
        use orm::ToValue;
        match index {
            0 => self.id.to_value(),
            1 => self.text.to_value(),
            2 => self.pinned.to_value(),
            _ => Value::Null,
        }
    }

    fn set_field_value(&mut self, index: usize, value: &Value) -> orm::Result<()> {
        match index {
            0 => self.id = value.get()?,
            1 => self.text = value.get()?,
            2 => self.pinned = value.get()?,
            _ => return Err(orm::Error::field_error(format!("HandNote has no field number {index}"))),
        }
        Ok(())
    }

    fn adding(&self) -> Option<bool> {
        Some(!self.id.is_set())
    }

    fn set_adding(&mut self, _adding: bool) {}
}

/// Its default QuerySet: every row (the derive writes `fn objects()` here only for
/// `#[orm(manager = …)]`).
impl orm::DefaultManager for HandNote {}

const _: () = {
    // The hand-written key type must be a field type, as the derive asserts.
    const fn is_field<T: FieldType>() {}
    is_field::<Auto<i64>>();
};
