//! Rendered SQL per model, dialect and statement shape: rendered once, then found by a small
//! key (never by re-rendering and hashing the SQL text).

use super::key::FastMap as HashMap;
use super::meta::ModelMeta;
use orm_backends::Dialect;
use std::sync::{Arc, RwLock};

/// The shape of a statement whose SQL depends only on the model and these parameters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    Insert {
        include_pk: bool,
    },
    /// A multi-row INSERT of `rows` rows.
    BulkInsert {
        include_pk: bool,
        rows: u32,
    },
    Update(Vec<u16>),
    /// An UPDATE of every field but the key (a plain `save()`): no key to build.
    UpdateAll,
    SelectByPk,
    DeleteByPk,
}

impl Shape {
    /// The fixed slot of a shape that takes no parameter (one statement per model and
    /// dialect, the ones every save, insert, refresh and delete by key sends); `None` for the
    /// shapes that vary, which go to the map.
    fn fixed_slot(&self) -> Option<usize> {
        match self {
            Shape::Insert { include_pk: false } => Some(0),
            Shape::Insert { include_pk: true } => Some(1),
            Shape::UpdateAll => Some(2),
            Shape::SelectByPk => Some(3),
            Shape::DeleteByPk => Some(4),
            Shape::BulkInsert { .. } | Shape::Update(_) => None,
        }
    }
}

/// How many shapes have a fixed slot.
const FIXED_SHAPES: usize = 5;

/// A rendered SELECT: its text, where `select_related` objects sit in its rows, and how a hit
/// finds its parameters.
#[derive(Debug)]
pub(crate) struct CachedSelect {
    pub sql: Arc<str>,
    pub related: Arc<[super::RelatedNode]>,
    pub joined: Option<usize>,
    pub params: ParamSource,
}

/// Where a cached SELECT's parameters come from on a hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParamSource {
    /// The shape binds none: a hit needs no walk of the query at all.
    None,
    /// Read straight off the filters and limits (`shape::direct_params`).
    Direct,
    /// Collected by walking the query through the compiler again without writing SQL.
    Replay,
}

/// The cache that lives in each model's metadata.
#[derive(Default)]
pub struct SqlCache {
    map: RwLock<HashMap<(Dialect, Shape), Arc<str>>>,
    /// SELECTs by the key `compile_select` builds: dialect, kind of SELECT and the query's
    /// shape (see `sql::shape`).
    selects: RwLock<HashMap<Box<[u8]>, Arc<CachedSelect>>>,
    /// Bytes held by `map` and by `selects` (keys and SQL), kept as entries go in, so that
    /// checking the limit costs nothing however full the cache is.
    map_bytes: std::sync::atomic::AtomicUsize,
    select_bytes: std::sync::atomic::AtomicUsize,
    /// The shapes without parameters ([`Shape::fixed_slot`]) per dialect, outside the map:
    /// found without a lock or a hash (callgrind: the map's read lock and hash were about 60 of
    /// the 890 instructions the ORM added to an UPDATE by key on SQLite).
    fixed: [[std::sync::OnceLock<Arc<str>>; FIXED_SHAPES]; 3],
}

/// At most this many statements per model…
const MAX_ENTRIES: usize = 4096;
/// …and this much SQL text (long multi-row statements are rendered each time beyond it).
const MAX_BYTES: usize = 4 << 20;

impl std::fmt::Debug for SqlCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.map.read().map(|m| m.len()).unwrap_or(0) + self.selects.read().map(|m| m.len()).unwrap_or(0);
        write!(f, "SqlCache({n} statements)")
    }
}

impl SqlCache {
    pub(crate) fn of(meta: &ModelMeta) -> &SqlCache {
        &meta.sql_cache
    }

    /// The SELECT rendered for `key`, if any.
    pub(crate) fn select(&self, key: &[u8]) -> Option<Arc<CachedSelect>> {
        self.selects.read().ok()?.get(key).cloned()
    }

    /// Keeps a rendered SELECT (within the cache's limits).
    pub(crate) fn insert_select(&self, key: Vec<u8>, entry: CachedSelect) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Ok(mut map) = self.selects.write() {
            let size = key.len() + entry.sql.len();
            let bytes = self.select_bytes.load(Relaxed);
            if map.len() < MAX_ENTRIES && bytes + size <= MAX_BYTES && !map.contains_key(key.as_slice()) {
                map.insert(key.into_boxed_slice(), Arc::new(entry));
                self.select_bytes.store(bytes + size, Relaxed);
            }
        }
    }

    /// The SQL of `shape` for `d`, rendered by `render` the first time: from its fixed slot
    /// for a shape without parameters, else from the map (within the cache's limits).
    #[inline]
    pub(crate) fn get_or_render(&self, d: Dialect, shape: Shape, render: impl FnOnce() -> String) -> Arc<str> {
        if let Some(slot) = shape.fixed_slot() {
            let dialect = match d {
                Dialect::Sqlite => 0,
                Dialect::Postgres => 1,
                Dialect::Mysql => 2,
            };
            return self.fixed[dialect][slot].get_or_init(|| render().into()).clone();
        }
        self.render_into_map(d, shape, render)
    }

    /// [`get_or_render`](Self::get_or_render) for the shapes that vary.
    fn render_into_map(&self, d: Dialect, shape: Shape, render: impl FnOnce() -> String) -> Arc<str> {
        let key = (d, shape);
        if let Ok(map) = self.map.read() {
            if let Some(s) = map.get(&key) {
                return s.clone();
            }
        }
        let sql: Arc<str> = render().into();
        if let Ok(mut map) = self.map.write() {
            use std::sync::atomic::Ordering::Relaxed;
            let bytes = self.map_bytes.load(Relaxed);
            if map.len() < MAX_ENTRIES && bytes + sql.len() <= MAX_BYTES && !map.contains_key(&key) {
                map.insert(key, sql.clone());
                self.map_bytes.store(bytes + sql.len(), Relaxed);
            }
        }
        sql
    }
}
