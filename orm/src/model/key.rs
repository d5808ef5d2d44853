//! [`Key`]: a key value in a form that hashes and compares cheaply, for grouping rows by key
//! (prefetching, the deletion collector's "seen" set) without formatting a string per key.

use orm_backends::Value;

/// A hash map for the ORM's internal keys: row keys while grouping thousands of rows, query
/// shapes, model addresses. It hashes with foldhash (seeded per map) instead of the standard
/// SipHash, which costs several times as much per small key (about 140 instructions a lookup
/// on a one-row read's shape key) and guards against nothing a seeded foldhash does not: none
/// of these keys lets a client pile entries into one bucket.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A hash set hashed as [`FastMap`] is.
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// A map keyed by [`Key`]s.
pub(crate) type KeyMap<V> = FastMap<Key, V>;

/// An empty [`KeyMap`] with room for `n` keys.
pub(crate) fn key_map<V>(n: usize) -> KeyMap<V> {
    KeyMap::with_capacity_and_hasher(n, foldhash::fast::RandomState::default())
}

/// A key value as a hash-map key. Two keys are equal when the values are of the same kind
/// and equal (`Int(1)` and `Text("1")` differ, as they would in the database's own
/// comparison of a typed column). Integers, text and UUIDs, the kinds keys are made of, are
/// held as they are; any other kind by its debug form. Keys order as their values within a
/// kind (the deletion collector sends signals in key order).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Key {
    /// `NULL` (no key).
    Null,
    /// An integer key.
    Int(i64),
    /// A text key.
    Text(Box<str>),
    /// A UUID key.
    Uuid(orm_backends::uuid::Uuid),
    /// Any other kind, by its debug form.
    Other(String),
}

/// Hashes only the content: an integer key costs one `write_i64`. Keys of different kinds
/// with colliding hashes are still told apart by `Eq`.
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Key::Null => state.write_u8(0),
            Key::Int(i) => state.write_i64(*i),
            Key::Text(s) => state.write(s.as_bytes()),
            Key::Uuid(u) => state.write(u.as_bytes()),
            Key::Other(s) => state.write(s.as_bytes()),
        }
    }
}

impl Key {
    /// The key of `v`.
    #[inline]
    pub(crate) fn of(v: &Value) -> Key {
        match v {
            Value::Null => Key::Null,
            Value::Int(i) => Key::Int(*i),
            Value::Text(s) => Key::Text(s.as_str().into()),
            Value::Uuid(u) => Key::Uuid(*u),
            other => Key::other(other),
        }
    }

    /// The key of `v`, taking its text without copying it.
    #[inline]
    pub(crate) fn from_value(v: Value) -> Key {
        match v {
            Value::Null => Key::Null,
            Value::Int(i) => Key::Int(i),
            Value::Text(s) => Key::Text(s.into_boxed_str()),
            Value::Uuid(u) => Key::Uuid(u),
            other => Key::other(&other),
        }
    }

    /// Any other kind (rare for a key), by its debug form; out of line, so the common kinds
    /// of [`from_value`](Key::from_value) drop nothing.
    #[cold]
    #[inline(never)]
    fn other(v: &Value) -> Key {
        Key::Other(format!("{v:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::Key;
    use orm_backends::Value;

    #[test]
    fn keys_of_different_kinds_differ_and_equal_values_match() {
        assert_eq!(Key::of(&Value::Int(7)), Key::from_value(Value::Int(7)));
        assert_eq!(Key::of(&Value::Text("7".into())), Key::from_value(Value::Text("7".into())));
        assert_ne!(Key::of(&Value::Int(7)), Key::of(&Value::Text("7".into())));
        assert_ne!(Key::of(&Value::Int(1)), Key::of(&Value::Bool(true)));
        assert_eq!(Key::of(&Value::Bool(true)), Key::of(&Value::Bool(true)));
        assert_eq!(Key::of(&Value::Null), Key::Null);
    }
}
