//! Rendered SQL per model, dialect and statement shape: rendered once, then found by a small
//! key (never by re-rendering and hashing the SQL text).

use crate::model::meta::ModelMeta;
use orm_backends::Dialect;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The shape of a statement whose SQL depends only on the model and these parameters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    Insert { include_pk: bool },
    Update(Vec<u16>),
    SelectByPk,
    DeleteByPk,
}

/// The cache that lives in each model's metadata.
#[derive(Default)]
pub struct SqlCache {
    map: RwLock<HashMap<(Dialect, Shape), Arc<str>>>,
}

impl std::fmt::Debug for SqlCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.map.read().map(|m| m.len()).unwrap_or(0);
        write!(f, "SqlCache({n} statements)")
    }
}

impl SqlCache {
    pub(crate) fn of(meta: &ModelMeta) -> &SqlCache {
        &meta.sql_cache
    }

    pub(crate) fn get_or_render(&self, d: Dialect, shape: Shape, render: impl FnOnce() -> String) -> Arc<str> {
        let key = (d, shape);
        if let Ok(map) = self.map.read() {
            if let Some(s) = map.get(&key) {
                return s.clone();
            }
        }
        let sql: Arc<str> = render().into();
        if let Ok(mut map) = self.map.write() {
            if map.len() < 4096 {
                map.insert(key, sql.clone());
            }
        }
        sql
    }
}
