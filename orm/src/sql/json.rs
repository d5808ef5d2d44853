//! JSON fields (Django's `fields/json.py`): key and index transforms (`data__owner__name`,
//! `data__items__0`), `has_key`, `has_keys`, `has_any_keys`, `contains`, `contained_by`, and
//! `isnull` on a key (the key is absent), per dialect.
//!
//! Keys are bound parameters, never SQL text: PostgreSQL walks `data -> $1 -> $2` (an index
//! as an integer), SQLite and MySQL take a bound JSON path (`$."owner"[0]`, each key quoted as
//! JSON).
//!
//! | form | PostgreSQL | MySQL / MariaDB | SQLite |
//! |---|---|---|---|
//! | document (annotate, values) | `->` (jsonb) | `JSON_EXTRACT` (JSON text) | `->` (JSON text) |
//! | scalar (compare, order) | `->` (jsonb) | `JSON_EXTRACT` | `JSON_EXTRACT` |
//! | text (`icontains`, …) | `->>` | `JSON_UNQUOTE(JSON_EXTRACT(…))` | `JSON_EXTRACT` |
//!
//! `contains` and `contained_by` need a server's JSON containment: on SQLite they are
//! Django's `NotSupportedError`. `contains` is containment when given a document
//! (`serde_json::json!({"a": 1})`, a list); given text it searches the serialised document,
//! as `icontains` does (a departure: Django compares the text as a JSON string).

use super::*;

/// How a key's value is wanted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyForm {
    /// As a JSON document (read back as `serde_json::Value`).
    Document,
    /// As the backend compares and orders it.
    Scalar,
    /// As text (strings unquoted), for the text lookups.
    Text,
}

/// The JSON path of `keys` for MySQL's and SQLite's functions: `$."a"[0]` (an all-digit key
/// is an array index, as in Django's `compile_json_path`).
pub(super) fn json_path(keys: &[String]) -> String {
    let mut path = String::from("$");
    for k in keys {
        match k.parse::<u64>() {
            Ok(i) => {
                path.push('[');
                path.push_str(&i.to_string());
                path.push(']');
            }
            Err(_) => {
                path.push('.');
                path.push_str(&serde_json::Value::String(k.clone()).to_string());
            }
        }
    }
    path
}

impl Writer {
    /// PostgreSQL's `-> $n` (or `->> $n`) for one key: an index as an integer.
    fn pg_step(&mut self, key: &str, arrow: &str) {
        self.push(arrow);
        match key.parse::<i64>() {
            Ok(i) => {
                self.push("CAST(");
                self.param(Value::Int(i));
                self.push(" AS INTEGER)");
            }
            Err(_) => {
                self.push("CAST(");
                self.param(Value::Text(key.to_owned()));
                self.push(" AS TEXT)");
            }
        }
    }

    /// The value at `keys` in the JSON column `qual.field`.
    pub(super) fn json_key(&mut self, qual: &str, field: &FieldMeta, keys: &[String], form: KeyForm) {
        match self.d {
            Dialect::Postgres => {
                self.push("(");
                self.column(qual, field.column);
                for (i, k) in keys.iter().enumerate() {
                    let last = i + 1 == keys.len();
                    self.pg_step(k, if last && form == KeyForm::Text { " ->> " } else { " -> " });
                }
                self.push(")");
            }
            Dialect::Mysql => {
                if form == KeyForm::Text {
                    self.push("JSON_UNQUOTE(");
                }
                self.push("JSON_EXTRACT(");
                self.column(qual, field.column);
                self.push(", ");
                self.param(Value::Text(json_path(keys)));
                self.push(")");
                if form == KeyForm::Text {
                    self.push(")");
                }
            }
            Dialect::Sqlite if form == KeyForm::Document => {
                self.push("(");
                self.column(qual, field.column);
                self.push(" -> ");
                self.param(Value::Text(json_path(keys)));
                self.push(")");
            }
            Dialect::Sqlite => {
                self.push("JSON_EXTRACT(");
                self.column(qual, field.column);
                self.push(", ");
                self.param(Value::Text(json_path(keys)));
                self.push(")");
            }
        }
    }

    /// Does the document at `qual.field` (under `keys`) have `key`?
    fn has_key(&mut self, qual: &str, field: &FieldMeta, keys: &[String], key: &str) {
        let mut full = keys.to_vec();
        full.push(key.to_owned());
        match self.d {
            Dialect::Postgres => {
                // `?` on an object's keys; an index asks for an array element.
                if key.parse::<i64>().is_ok() {
                    self.json_key(qual, field, &full, KeyForm::Document);
                    self.push(" IS NOT NULL");
                    return;
                }
                if keys.is_empty() {
                    self.column(qual, field.column);
                } else {
                    self.json_key(qual, field, keys, KeyForm::Document);
                }
                self.push(" ? ");
                self.param(Value::Text(key.to_owned()));
            }
            Dialect::Mysql => {
                self.push("JSON_CONTAINS_PATH(");
                self.column(qual, field.column);
                self.push(", 'one', ");
                self.param(Value::Text(json_path(&full)));
                self.push(")");
            }
            Dialect::Sqlite => {
                self.push("JSON_TYPE(");
                self.column(qual, field.column);
                self.push(", ");
                self.param(Value::Text(json_path(&full)));
                self.push(") IS NOT NULL");
            }
        }
    }

    /// A JSON operand as the dialect compares documents: `CAST($1 AS JSONB)`,
    /// `JSON_EXTRACT(?, '$')`.
    fn json_operand(&mut self, v: serde_json::Value) {
        match self.d {
            Dialect::Postgres => {
                self.push("CAST(");
                self.param(Value::Json(v));
                self.push(" AS JSONB)");
            }
            _ => {
                self.push("JSON_EXTRACT(");
                self.param(Value::Text(v.to_string()));
                self.push(", '$')");
            }
        }
    }

    /// The JSON lookups of a JSON field, or of a key of one (`keys` not empty): `has_key`,
    /// `has_keys`, `has_any_keys`, `contains`, `contained_by`.
    pub(super) fn json_lookup(
        &mut self,
        leaf: &Leaf,
        qual: &str,
        field: &FieldMeta,
        keys: &[String],
        name: &PathName<'_>,
    ) -> Result<()> {
        match leaf.lookup {
            Lookup::HasKey => {
                let key = match &leaf.operand {
                    Operand::Value(Value::Text(k)) => k.clone(),
                    Operand::Value(Value::Int(i)) => i.to_string(),
                    _ => return Err(Error::field_error(format!("`{name}__has_key` needs one key"))),
                };
                self.has_key(qual, field, keys, &key);
            }
            Lookup::HasKeys | Lookup::HasAnyKeys => {
                let Operand::List(list) = &leaf.operand else {
                    return Err(Error::field_error(format!("`{name}__{}` needs a list of keys", leaf.lookup.name())));
                };
                if list.is_empty() {
                    // Every key of none: true; one of none: false.
                    self.push(if leaf.lookup == Lookup::HasKeys { "1 = 1" } else { "1 = 0" });
                    return Ok(());
                }
                self.push("(");
                for (i, k) in list.iter().enumerate() {
                    if i > 0 {
                        self.push(if leaf.lookup == Lookup::HasKeys { " AND " } else { " OR " });
                    }
                    let key = match k {
                        Value::Text(t) => t.clone(),
                        other => format!("{other:?}"),
                    };
                    self.has_key(qual, field, keys, &key);
                }
                self.push(")");
            }
            Lookup::Contains | Lookup::ContainedBy => {
                let v = match &leaf.operand {
                    Operand::Value(Value::Json(j)) => j.clone(),
                    Operand::Value(Value::Null) => serde_json::Value::Null,
                    Operand::Value(other) => crate::fields::json::value_to_json(other),
                    _ => return Err(Error::field_error(format!("`{name}__{}` needs a value", leaf.lookup.name()))),
                };
                let outer = leaf.lookup == Lookup::Contains;
                match self.d {
                    Dialect::Sqlite => {
                        return Err(Error::NotSupportedError(format!(
                            "{} lookup is not supported on this database backend.",
                            leaf.lookup.name()
                        )))
                    }
                    Dialect::Postgres => {
                        self.doc(qual, field, keys);
                        self.push(if outer { " @> " } else { " <@ " });
                        self.json_operand(v);
                    }
                    Dialect::Mysql => {
                        self.push("JSON_CONTAINS(");
                        if outer {
                            self.doc(qual, field, keys);
                            self.push(", ");
                            self.param(Value::Text(v.to_string()));
                        } else {
                            self.param(Value::Text(v.to_string()));
                            self.push(", ");
                            self.doc(qual, field, keys);
                        }
                        self.push(")");
                    }
                }
            }
            other => return Err(Error::field_error(format!("`{}` is not a JSON lookup", other.name()))),
        }
        Ok(())
    }

    /// The value at `keys` equals the JSON value `v`. MariaDB compares a JSON_EXTRACT with
    /// text by its own rules (`'"b"'` is not the JSON string "b" there), so MySQL asks for
    /// containment both ways, which is equality for scalars and objects on MySQL and MariaDB.
    fn key_equals(&mut self, qual: &str, field: &FieldMeta, keys: &[String], v: serde_json::Value) -> Result<()> {
        if self.d == Dialect::Mysql {
            let text = v.to_string();
            return self.mysql_json_equal(qual, field, keys, |w| {
                w.param(Value::Text(text.clone()));
                Ok(())
            });
        }
        self.json_key(qual, field, keys, KeyForm::Scalar);
        self.push(" = ");
        self.json_operand(v);
        Ok(())
    }

    /// MariaDB's JSON equality of the value at `keys` and `rhs` (written twice): containment
    /// both ways, which is equality for scalars and objects.
    fn mysql_json_equal(
        &mut self,
        qual: &str,
        field: &FieldMeta,
        keys: &[String],
        mut rhs: impl FnMut(&mut Self) -> Result<()>,
    ) -> Result<()> {
        self.push("(JSON_CONTAINS(");
        self.json_key(qual, field, keys, KeyForm::Document);
        self.push(", ");
        rhs(self)?;
        self.push(") AND JSON_CONTAINS(");
        rhs(self)?;
        self.push(", ");
        self.json_key(qual, field, keys, KeyForm::Document);
        self.push("))");
        Ok(())
    }

    /// The document at `keys` (the column itself when there are none).
    fn doc(&mut self, qual: &str, field: &FieldMeta, keys: &[String]) {
        if keys.is_empty() {
            self.column(qual, field.column);
        } else {
            self.json_key(qual, field, keys, KeyForm::Document);
        }
    }

    /// A lookup on a key of a JSON field, Django's `KeyTransform` lookups: comparisons with
    /// JSON values, `isnull` (the key is absent), the JSON lookups under the key; `None` for
    /// the text lookups, which the caller writes over the key's text.
    pub(super) fn json_key_leaf(
        &mut self,
        scope: &Scope<'_>,
        leaf: &Leaf,
        qual: &str,
        field: &FieldMeta,
        keys: &[String],
        name: &PathName<'_>,
    ) -> Result<Option<()>> {
        let json_of = |v: &Value| match v {
            Value::Json(j) => j.clone(),
            Value::Null => serde_json::Value::Null,
            other => crate::fields::json::value_to_json(other),
        };
        match (leaf.lookup, &leaf.operand) {
            (Lookup::IsNull, Operand::Value(Value::Bool(yes))) => {
                // Django: `data__key__isnull=True` is "no such key" (or no document); a key
                // holding JSON null is there.
                if self.d == Dialect::Sqlite {
                    self.push("JSON_TYPE(");
                    self.column(qual, field.column);
                    self.push(", ");
                    self.param(Value::Text(json_path(keys)));
                    self.push(")");
                } else {
                    self.json_key(qual, field, keys, KeyForm::Document);
                }
                self.push(if *yes { " IS NULL" } else { " IS NOT NULL" });
            }
            (Lookup::Exact, Operand::Value(v)) => {
                let j = json_of(v);
                if self.d == Dialect::Sqlite && j.is_null() {
                    // SQLite's JSON_EXTRACT gives SQL NULL for a JSON null: ask its type.
                    self.push("JSON_TYPE(");
                    self.column(qual, field.column);
                    self.push(", ");
                    self.param(Value::Text(json_path(keys)));
                    self.push(") = 'null'");
                } else {
                    self.key_equals(qual, field, keys, j)?;
                }
            }
            (Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte, Operand::Value(v)) => {
                self.json_key(qual, field, keys, KeyForm::Scalar);
                self.push(match leaf.lookup {
                    Lookup::Gt => " > ",
                    Lookup::Gte => " >= ",
                    Lookup::Lt => " < ",
                    _ => " <= ",
                });
                match self.d {
                    Dialect::Postgres => self.json_operand(json_of(v)),
                    // SQLite's JSON_EXTRACT gives numbers, MariaDB's JSON text compares with a
                    // number as a number: the plain value.
                    _ => self.param(v.clone()),
                }
            }
            // Against an expression (another key: `F("data__b")`): both sides as documents.
            (Lookup::Exact, Operand::Expr(e)) if self.d == Dialect::Mysql => {
                self.mysql_json_equal(qual, field, keys, |w| w.expr(scope, e))?;
            }
            (Lookup::Exact | Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte, Operand::Expr(e)) => {
                self.json_key(qual, field, keys, KeyForm::Document);
                self.push(leaf.lookup.comparison_sql().unwrap_or(" = "));
                self.expr(scope, e)?;
            }
            (Lookup::In, Operand::List(values)) => {
                if values.is_empty() {
                    self.push("1 = 0");
                    return Ok(Some(()));
                }
                self.push("(");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        self.push(" OR ");
                    }
                    self.key_equals(qual, field, keys, json_of(v))?;
                }
                self.push(")");
            }
            (Lookup::HasKey | Lookup::HasKeys | Lookup::HasAnyKeys | Lookup::Contains | Lookup::ContainedBy, _)
                if leaf.lookup != Lookup::Contains || matches!(leaf.operand, Operand::Value(Value::Json(_))) =>
            {
                self.json_lookup(leaf, qual, field, keys, name)?;
            }
            (Lookup::Exact | Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte | Lookup::IsNull | Lookup::In, _)
            | (Lookup::Range, _) => {
                return Err(Error::field_error(format!(
                    "the `{}` lookup on the JSON key `{name}` needs a value",
                    leaf.lookup.name()
                )))
            }
            _ => return Ok(None),
        }
        Ok(Some(()))
    }
}

#[cfg(test)]
mod tests {
    use super::json_path;

    #[test]
    fn keys_are_quoted_and_digits_index() {
        let keys = |k: &[&str]| k.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(json_path(&keys(&["owner", "name"])), r#"$."owner"."name""#);
        assert_eq!(json_path(&keys(&["items", "0"])), r#"$."items"[0]"#);
        assert_eq!(json_path(&keys(&[r#"a"b.c"#])), r#"$."a\"b.c""#);
    }
}
