//! Signals: Django's `pre_init`/`post_init`, `pre_save`/`post_save`, `pre_delete`/`post_delete`
//! and `m2m_changed`, scoped to a [`Database`](crate::Database) handle.
//!
//! Every `Database` owns one [`Signals`] hub ([`Database::signals`](crate::Database::signals)).
//! Nothing is process-global: two handles (two embedded applications, two parallel tests) never
//! see each other's receivers, even on the same database; clones of one handle share its hub.
//!
//! ```
//! # include!("../doctest_setup.rs");
//! # fn main() -> orm::Result<()> {
//! # let db = setup()?;
//! use std::sync::{Arc, Mutex};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = seen.clone();
//! db.signals().post_save::<Note>().connect(move |e| {
//!     log.lock().unwrap().push(format!("{} created={}", e.instance.title, e.created));
//!     Ok(())
//! });
//! // A pre_save receiver that refuses: the save is aborted and nothing is written.
//! db.signals().pre_save::<Note>().connect_with_uid("no-shouting", |e| {
//!     if e.instance.title.chars().all(|c| !c.is_lowercase()) {
//!         return Err(orm::Error::signal("titles may not shout"));
//!     }
//!     Ok(())
//! });
//!
//! let mut note = Note { id: Auto::unset(), title: "Signals".into() };
//! note.save(&db)?;                                  // INSERT: created = true
//! note.title = "Signals, again".into();
//! note.save(&db)?;                                  // UPDATE: created = false
//! assert_eq!(*seen.lock().unwrap(), ["Signals created=true", "Signals, again created=false"]);
//!
//! let mut loud = Note { id: Auto::unset(), title: "LOUD".into() };
//! assert!(matches!(loud.save(&db), Err(orm::Error::Signal(_))));
//! assert!(!loud.id.is_set());
//! assert_eq!(Note::objects().filter(Note::title().eq("LOUD")).count(&db)?, 0);
//!
//! // Receivers for every model get the instance as `&dyn Any` and the sender's metadata.
//! use std::any::Any;
//! db.signals().post_delete::<dyn Any>().connect(|e| {
//!     assert_eq!(e.sender.label(), "demo.Note");
//!     assert!(e.instance.downcast_ref::<Note>().is_some());
//!     Ok(())
//! });
//! note.delete(&db)?;
//! # Ok(()) }
//! ```
//!
//! ## When each signal is sent
//!
//! | signal | sent by | event |
//! |---|---|---|
//! | `pre_init` / `post_init` | every instance the ORM builds from a row (`fetch`, `get`, `get_pk`, `first`…, `iter`, `refresh_from_db`, `fetch_annotated`, `raw`, prefetched objects), and [`Signals::construct`] | [`PreInit`] (the row), [`PostInit`] (the instance) |
//! | `pre_save` / `post_save` | [`Persist::save`](crate::Persist::save) and everything built on it (`save_with`, `create`, `get_or_create`…), and fixture loading ([`serializers::load`](crate::serializers::load)) with `raw = true` | [`PreSave`], [`PostSave`] (with `created`) |
//! | `pre_delete` / `post_delete` | [`Persist::delete`](crate::Persist::delete), [`QuerySet::delete`](crate::QuerySet::delete), and every object a deletion takes with it (cascades, a multi-table child's parent rows and a parent's child rows), in Django's order: all `pre_delete`s first (objects pointing at others before them, by key within a model), then each batch's `DELETE` followed by its `post_delete`s | [`Delete`] |
//! | `m2m_changed` | the many-to-many managers (`post.tags().add/remove/set/clear`, from either side), as Django: `pre_add`/`post_add` with the keys not yet related, `pre_remove`/`post_remove` with the keys given, `set` as a remove then an add, `pre_clear`/`post_clear` with no key set; or by hand through [`send_m2m_changed`] | [`M2mChanged`] |
//!
//! As in Django, `bulk_create`, `bulk_update` and `QuerySet::update` send no signals.
//!
//! ## Receivers
//!
//! A receiver is a closure `Fn(&Event) -> orm::Result<()> + Send + Sync`, connected for one
//! sender model (`signals().post_save::<Post>()`: the event's `instance` is a `&Post`) or for
//! all models (`signals().post_save::<dyn Any>()`: the `instance` is a `&dyn Any` and `sender`
//! the model's [`ModelMeta`]). Receivers run in the order they were connected. `connect`
//! returns a [`ReceiverId`] for [`Signal::disconnect`]. As in Django, a receiver is connected
//! once per sender: connecting the same function (a function item, or a closure capturing
//! nothing) again returns the first id; a capturing closure has no identity, so
//! [`Signal::connect_with_uid`] keeps one receiver per `dispatch_uid` and sender (connecting
//! it twice keeps the first), and [`Signal::disconnect_uid`] removes it. The sender of a proxy's events is the proxy; of a
//! multi-table child's, the child (its parent rows are saved internally, without save
//! signals; deleting a child deletes its parent rows, which send delete signals with the
//! parent as sender, as in Django). Objects the ORM reads only for receivers (cascaded
//! objects, fixture rows) are built as their model's type, found through the model registry
//! (every `#[derive(Model)]` type is in it), so receivers for every model can downcast them.
//!
//! ## Errors and transactions
//!
//! - An error returned by a `pre_save` or `pre_delete` receiver aborts the operation: nothing is
//!   written, and the error is returned by `save`/`delete`.
//! - An error returned by a `post_save` or `post_delete` receiver is returned too, and the
//!   operation is rolled back: whenever a receiver is connected for the model, `save` and
//!   `delete` run inside a transaction (a savepoint when the executor is already one), so the
//!   write and every receiver commit or roll back together. A failed save leaves a new
//!   instance's key unset again.
//! - Receivers run later receivers only if earlier ones succeed; the first error wins.
//!   [`Signals::send_robust`] (Django's `send_robust`) runs every receiver of an event built
//!   by hand and returns each one's result.
//! - Delete events carry their [`Origin`]: the instance or QuerySet whose `delete()` started
//!   them, for every object the deletion takes with it.
//! - `save_with(update_fields = [])` does nothing and sends nothing, as in Django.
//! - An error from a `pre_init`/`post_init` receiver fails the query that built the instance.
//! - `m2m_changed`: a `pre_*` receiver's error aborts the change, a `post_*` receiver's error
//!   rolls it back (a manager with receivers works in a transaction).
//! - A deletion with cascades reads the cascaded objects (for their receivers) before changing
//!   anything; an error from any `pre_delete` or `post_delete` receiver rolls back all of it.
//!
//! With no receiver connected for a model, saves and deletes take their usual path (no extra
//! transaction) and the cost of the signal layer is one atomic load per operation (per query
//! for reads, not per row).
//!
//! ## Reaching the hub from an executor
//!
//! `save(ex)` takes any [`Executor`]. A `Database` hands its hub to the backends layer as an
//! opaque [`Executor::extension`], which transactions opened by [`Database::atomic`](crate::Database::atomic)
//! (and their savepoints) carry along; this module downcasts it back. Executors that do not
//! come from a `Database` (a bare [`Pool`](crate::Pool), a transaction opened with
//! [`orm::atomic`](crate::atomic) on a raw connection) send no signals.
//!
//! Receivers run while the operation holds its connection (inside its transaction for saves
//! and deletes). A receiver that itself uses the same `Database` checks out another pooled
//! connection, outside that transaction: on a one-connection pool (`sqlite::memory:`) it waits
//! for the operation and times out, and on SQLite, whose writes are serialised, a write from it
//! waits for the operation's transaction. Receivers should record, or refuse, and leave further
//! writes to the code that called `save`/`delete` (or to [`Transaction::on_commit`]).

use crate::error::{Error, Result};
use crate::model::meta::ModelMeta;
use crate::model::registry::{decode_boxed, Decoder};
use crate::model::Model;
use orm_backends::{Executor, OwnedRow, Row, Transaction, Value};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

// ---------------------------------------------------------------------------------------------
// Events

/// `pre_init`: an instance of `sender` is about to be built.
#[derive(Clone, Copy)]
pub struct PreInit<'a> {
    /// The model being instantiated.
    pub sender: &'static ModelMeta,
    /// The row it is decoded from (its columns start at 0, in the model's field order);
    /// `None` for [`Signals::construct`].
    pub row: Option<&'a dyn Row>,
}

impl fmt::Debug for PreInit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreInit").field("sender", &self.sender.label()).field("row", &self.row.is_some()).finish()
    }
}

/// `post_init`: an instance was built.
#[derive(Debug)]
pub struct PostInit<'a, M: ?Sized> {
    /// The instance's model.
    pub sender: &'static ModelMeta,
    /// The new instance.
    pub instance: &'a M,
}

/// `pre_save`: an instance is about to be written.
#[derive(Debug)]
pub struct PreSave<'a, M: ?Sized> {
    /// The instance's model.
    pub sender: &'static ModelMeta,
    /// The instance, as it will be saved (before `auto_now` fields are filled).
    pub instance: &'a M,
    /// True when a fixture is loaded: the row is written exactly as given, and receivers
    /// should not query or change other data.
    pub raw: bool,
    /// The fields named by [`SaveOptions::update_fields`](crate::SaveOptions::update_fields), if given.
    pub update_fields: Option<&'a [String]>,
    /// The alias of the database written to (Django's `using`; `"default"` for a handle
    /// made by [`Database::connect`](crate::Database::connect)).
    pub using: &'a str,
}

/// `post_save`: an instance was written.
#[derive(Debug)]
pub struct PostSave<'a, M: ?Sized> {
    /// The instance's model.
    pub sender: &'static ModelMeta,
    /// The saved instance (its generated key is set).
    pub instance: &'a M,
    /// Was a new row inserted (rather than an existing one updated)?
    pub created: bool,
    /// True when a fixture is loaded (see [`PreSave::raw`]).
    pub raw: bool,
    /// The fields named by [`SaveOptions::update_fields`](crate::SaveOptions::update_fields), if given.
    pub update_fields: Option<&'a [String]>,
    /// The alias of the database written to (see [`PreSave::using`]).
    pub using: &'a str,
}

/// `pre_delete` / `post_delete`: an instance is about to be, or was, deleted.
#[derive(Debug)]
pub struct Delete<'a, M: ?Sized> {
    /// The instance's model.
    pub sender: &'static ModelMeta,
    /// The instance (its key is still set in `post_delete`).
    pub instance: &'a M,
    /// What started the delete (Django's `origin`): the instance or the QuerySet whose
    /// `delete()` was called, the same for every object the deletion takes with it.
    pub origin: Origin<'a>,
    /// The alias of the database deleted from (see [`PreSave::using`]).
    pub using: &'a str,
}

/// What started a delete: [`Delete::origin`].
#[derive(Clone, Copy, Debug)]
pub enum Origin<'a> {
    /// `obj.delete()`: the instance (downcast it to its model).
    Instance {
        /// Its model.
        model: &'static ModelMeta,
        /// The instance.
        instance: &'a dyn Any,
    },
    /// `qs.delete()`: the QuerySet (downcast it to `QuerySet<M>`).
    QuerySet {
        /// Its model.
        model: &'static ModelMeta,
        /// The QuerySet.
        queryset: &'a dyn Any,
    },
}

impl Origin<'_> {
    /// The model of the instance or QuerySet.
    pub fn model(&self) -> &'static ModelMeta {
        match self {
            Origin::Instance { model, .. } | Origin::QuerySet { model, .. } => model,
        }
    }

    /// Was the delete started by an instance's `delete()`?
    pub fn is_instance(&self) -> bool {
        matches!(self, Origin::Instance { .. })
    }
}

macro_rules! copy_event {
    ($($t:ident),*) => {$(
        impl<M: ?Sized> Clone for $t<'_, M> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<M: ?Sized> Copy for $t<'_, M> {}
    )*};
}
copy_event!(PostInit, PreSave, PostSave, Delete);

/// What an `m2m_changed` event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum M2mAction {
    /// Before relations are added.
    PreAdd,
    /// After relations were added.
    PostAdd,
    /// Before relations are removed.
    PreRemove,
    /// After relations were removed.
    PostRemove,
    /// Before every relation of the instance is removed.
    PreClear,
    /// After every relation of the instance was removed.
    PostClear,
}

impl M2mAction {
    /// Django's name: `pre_add`, `post_add`, `pre_remove`, `post_remove`, `pre_clear`,
    /// `post_clear`.
    pub fn name(self) -> &'static str {
        match self {
            M2mAction::PreAdd => "pre_add",
            M2mAction::PostAdd => "post_add",
            M2mAction::PreRemove => "pre_remove",
            M2mAction::PostRemove => "post_remove",
            M2mAction::PreClear => "pre_clear",
            M2mAction::PostClear => "post_clear",
        }
    }

    /// Is this a `pre_*` action (whose receiver errors abort the change)?
    pub fn is_pre(self) -> bool {
        matches!(self, M2mAction::PreAdd | M2mAction::PreRemove | M2mAction::PreClear)
    }
}

/// `m2m_changed`: the relations of a many-to-many field change.
///
/// The sender is the model that declares the field (Django's sender is the field's `through`
/// model; the declaring model and [`field`](Self::field) name it here), whichever side the
/// change was made from.
#[derive(Clone, Copy, Debug)]
pub struct M2mChanged<'a> {
    /// The model declaring the many-to-many field.
    pub sender: &'static ModelMeta,
    /// The field's name on `sender`.
    pub field: &'static str,
    /// What happens.
    pub action: M2mAction,
    /// False when the change is made from the declaring side (`post.tags().add(..)`), true from
    /// the other side (`tag.posts().add(..)`).
    pub reverse: bool,
    /// The model of the instance whose relations change.
    pub instance_model: &'static ModelMeta,
    /// The key of the instance whose relations change.
    pub instance_pk: &'a Value,
    /// The model of the objects added or removed.
    pub model: &'static ModelMeta,
    /// The keys of the objects added or removed; `None` for `pre_clear`/`post_clear`.
    pub pk_set: Option<&'a [Value]>,
    /// The alias of the database changed (see [`PreSave::using`]).
    pub using: &'a str,
}

// ---------------------------------------------------------------------------------------------
// Kinds and senders

mod sealed {
    pub trait Sealed {}
}

/// Whom a receiver listens to: one model (`Post`), or every model (`dyn Any`).
pub trait Sender: sealed::Sealed + 'static {
    #[doc(hidden)]
    fn sender_meta() -> Option<&'static ModelMeta>;
    #[doc(hidden)]
    fn cast_instance(instance: &dyn Any) -> Option<&Self>;
    #[doc(hidden)]
    fn decoder() -> Option<Decoder>;
}

impl<M: Model> sealed::Sealed for M {}
impl<M: Model> Sender for M {
    fn sender_meta() -> Option<&'static ModelMeta> {
        Some(M::meta())
    }
    fn cast_instance(instance: &dyn Any) -> Option<&Self> {
        instance.downcast_ref::<M>()
    }
    fn decoder() -> Option<Decoder> {
        Some(decode_boxed::<M>)
    }
}

impl sealed::Sealed for dyn Any {}
impl Sender for dyn Any {
    fn sender_meta() -> Option<&'static ModelMeta> {
        None
    }
    fn cast_instance(instance: &dyn Any) -> Option<&Self> {
        Some(instance)
    }
    fn decoder() -> Option<Decoder> {
        None
    }
}

/// One of the signals; names the event its receivers get ([`Signal`] is generic over it).
pub trait SignalKind: sealed::Sealed + Sized + 'static {
    /// The event, for receivers connected for sender `M` (a model, or `dyn Any`).
    type Event<'a, M: ?Sized + 'a>;
    /// Django's name of the signal (`post_save`).
    const NAME: &'static str;
    #[doc(hidden)]
    const BIT: u32;
    #[doc(hidden)]
    fn slot(hub: &Signals) -> &Slot<Self>;
    #[doc(hidden)]
    fn sender<'a>(event: &Self::Event<'a, dyn Any>) -> &'static ModelMeta;
    #[doc(hidden)]
    fn cast<'a, M: Sender + ?Sized>(event: &Self::Event<'a, dyn Any>) -> Option<Self::Event<'a, M>>;
}

macro_rules! kinds {
    ($( $(#[$doc:meta])* $kind:ident, $name:literal, $bit:literal, $field:ident, |$e:ident| $event:ty => $cast:expr; )*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $kind;
        impl sealed::Sealed for $kind {}
        impl SignalKind for $kind {
            type Event<'a, M: ?Sized + 'a> = $event;
            const NAME: &'static str = $name;
            const BIT: u32 = $bit;
            fn slot(hub: &Signals) -> &Slot<Self> {
                &hub.$field
            }
            fn sender<'a>(event: &Self::Event<'a, dyn Any>) -> &'static ModelMeta {
                event.sender
            }
            #[allow(clippy::needless_question_mark)]
            fn cast<'a, M: Sender + ?Sized>($e: &Self::Event<'a, dyn Any>) -> Option<Self::Event<'a, M>> {
                $cast
            }
        }
    )*};
}

kinds! {
    /// `pre_init`: event [`PreInit`].
    PreInitSignal, "pre_init", 1, pre_init, |e| PreInit<'a> => Some(*e);
    /// `post_init`: event [`PostInit`].
    PostInitSignal, "post_init", 2, post_init, |e| PostInit<'a, M> =>
        Some(PostInit { sender: e.sender, instance: M::cast_instance(e.instance)? });
    /// `pre_save`: event [`PreSave`].
    PreSaveSignal, "pre_save", 4, pre_save, |e| PreSave<'a, M> => Some(PreSave {
        sender: e.sender,
        instance: M::cast_instance(e.instance)?,
        raw: e.raw,
        update_fields: e.update_fields,
        using: e.using,
    });
    /// `post_save`: event [`PostSave`].
    PostSaveSignal, "post_save", 8, post_save, |e| PostSave<'a, M> => Some(PostSave {
        sender: e.sender,
        instance: M::cast_instance(e.instance)?,
        created: e.created,
        raw: e.raw,
        update_fields: e.update_fields,
        using: e.using,
    });
    /// `pre_delete`: event [`Delete`].
    PreDeleteSignal, "pre_delete", 16, pre_delete, |e| Delete<'a, M> =>
        Some(Delete { sender: e.sender, instance: M::cast_instance(e.instance)?, origin: e.origin, using: e.using });
    /// `post_delete`: event [`Delete`].
    PostDeleteSignal, "post_delete", 32, post_delete, |e| Delete<'a, M> =>
        Some(Delete { sender: e.sender, instance: M::cast_instance(e.instance)?, origin: e.origin, using: e.using });
    /// `m2m_changed`: event [`M2mChanged`].
    M2mChangedSignal, "m2m_changed", 64, m2m_changed, |e| M2mChanged<'a> => Some(*e);
}

// ---------------------------------------------------------------------------------------------
// The hub

type Receiver<K> = dyn for<'a> Fn(&<K as SignalKind>::Event<'a, dyn Any>) -> Result<()> + Send + Sync;

struct Entry<K: SignalKind> {
    id: u64,
    /// The sender's metadata address; `None` for every model.
    sender: Option<usize>,
    uid: Option<Box<str>>,
    /// The receiver's identity when it has one: the type of a function item or of a closure
    /// that captures nothing (zero-sized, so its type is the function).
    ident: Option<TypeId>,
    f: Arc<Receiver<K>>,
}

impl<K: SignalKind> Clone for Entry<K> {
    fn clone(&self) -> Self {
        Entry { id: self.id, sender: self.sender, uid: self.uid.clone(), ident: self.ident, f: self.f.clone() }
    }
}

/// The receivers of one signal (internal). Copied on write, so sending never holds a lock
/// while receivers run (they may connect, disconnect or send themselves).
#[doc(hidden)]
pub struct Slot<K: SignalKind> {
    entries: RwLock<Arc<[Entry<K>]>>,
}

impl<K: SignalKind> Default for Slot<K> {
    fn default() -> Self {
        Slot { entries: RwLock::new(Arc::from(Vec::new())) }
    }
}

impl<K: SignalKind> Slot<K> {
    fn snapshot(&self) -> Arc<[Entry<K>]> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Changes the list (a copy, swapped in). Receivers removed are dropped after the lock is
    /// released, so a receiver whose captures touch the hub when dropped cannot deadlock.
    fn update<R>(&self, active: &AtomicU32, f: impl FnOnce(&mut Vec<Entry<K>>) -> R) -> R {
        let (out, old) = {
            let mut guard = self.entries.write().unwrap_or_else(PoisonError::into_inner);
            let mut list = guard.to_vec();
            let out = f(&mut list);
            if list.is_empty() {
                active.fetch_and(!K::BIT, Ordering::AcqRel);
            } else {
                active.fetch_or(K::BIT, Ordering::AcqRel);
            }
            (out, std::mem::replace(&mut *guard, list.into()))
        };
        drop(old);
        out
    }

    fn matches(&self, key: usize) -> bool {
        self.entries.read().unwrap_or_else(PoisonError::into_inner).iter().any(|e| e.sender.is_none_or(|s| s == key))
    }
}

fn key_of(meta: &'static ModelMeta) -> usize {
    meta as *const ModelMeta as usize
}

/// The signal receivers of one [`Database`](crate::Database) handle. See the [module
/// docs](self).
#[derive(Default)]
pub struct Signals {
    /// One bit per signal with at least one receiver: the whole cost when none is connected.
    active: AtomicU32,
    next_id: AtomicU64,
    decoders: RwLock<HashMap<usize, Decoder>>,
    pre_init: Slot<PreInitSignal>,
    post_init: Slot<PostInitSignal>,
    pre_save: Slot<PreSaveSignal>,
    post_save: Slot<PostSaveSignal>,
    pre_delete: Slot<PreDeleteSignal>,
    post_delete: Slot<PostDeleteSignal>,
    m2m_changed: Slot<M2mChangedSignal>,
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn n<K: SignalKind>(s: &Slot<K>) -> usize {
            s.snapshot().len()
        }
        f.debug_struct("Signals")
            .field("pre_init", &n(&self.pre_init))
            .field("post_init", &n(&self.post_init))
            .field("pre_save", &n(&self.pre_save))
            .field("post_save", &n(&self.post_save))
            .field("pre_delete", &n(&self.pre_delete))
            .field("post_delete", &n(&self.post_delete))
            .field("m2m_changed", &n(&self.m2m_changed))
            .finish()
    }
}

/// Identifies a connected receiver, for [`Signal::disconnect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReceiverId(u64);

type Marker<K, M> = (fn() -> K, fn() -> *const M);

/// One signal of a hub, for receivers of sender `M` (a model, or `dyn Any` for every model):
/// returned by [`Signals::post_save`] and its siblings.
pub struct Signal<'s, K: SignalKind, M: Sender + ?Sized> {
    hub: &'s Signals,
    _p: PhantomData<Marker<K, M>>,
}

impl<K: SignalKind, M: Sender + ?Sized> fmt::Debug for Signal<'_, K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sender = M::sender_meta().map_or_else(|| "*".to_owned(), |m| m.label());
        write!(f, "Signal({} from {sender})", K::NAME)
    }
}

impl<'s, K: SignalKind, M: Sender + ?Sized> Signal<'s, K, M> {
    fn sender_key() -> Option<usize> {
        M::sender_meta().map(key_of)
    }

    fn insert<F>(&self, uid: Option<&str>, f: F) -> ReceiverId
    where
        F: for<'a> Fn(&K::Event<'a, M>) -> Result<()> + Send + Sync + 'static,
    {
        if let (Some(meta), Some(decoder)) = (M::sender_meta(), M::decoder()) {
            self.hub.decoders.write().unwrap_or_else(PoisonError::into_inner).insert(key_of(meta), decoder);
        }
        let sender = Self::sender_key();
        let ident = (std::mem::size_of::<F>() == 0).then(TypeId::of::<F>);
        let hub = self.hub;
        let erased: Arc<Receiver<K>> = Arc::new(move |e: &K::Event<'_, dyn Any>| match K::cast::<M>(e) {
            Some(typed) => f(&typed),
            None => Ok(()),
        });
        // Kept out here so that a receiver not connected (its uid is taken) drops unlocked.
        let mut erased = Some(erased);
        K::slot(hub).update(&hub.active, |list| {
            // Django's lookup key: the dispatch_uid, else the receiver itself, with the sender.
            let same = |e: &&Entry<K>| {
                e.sender == sender
                    && match uid {
                        Some(uid) => e.uid.as_deref() == Some(uid),
                        None => e.uid.is_none() && ident.is_some() && e.ident == ident,
                    }
            };
            if let Some(e) = list.iter().find(same) {
                return ReceiverId(e.id);
            }
            let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
            if let Some(f) = erased.take() {
                list.push(Entry { id, sender, uid: uid.map(Into::into), ident, f });
            }
            ReceiverId(id)
        })
    }

    /// Connects `receiver`; it runs after the receivers connected before it. Returns its id,
    /// for [`disconnect`](Self::disconnect).
    ///
    /// Connecting the same receiver twice for the same sender connects it once (Django's
    /// identity rule), and returns the first id: "the same" is the same function item or
    /// closure that captures nothing. A closure that captures values has no identity
    /// (each connection is new): give it a [`dispatch_uid`](Self::connect_with_uid).
    pub fn connect<F>(&self, receiver: F) -> ReceiverId
    where
        F: for<'a> Fn(&K::Event<'a, M>) -> Result<()> + Send + Sync + 'static,
    {
        self.insert(None, receiver)
    }

    /// Connects `receiver` under `dispatch_uid`, unless a receiver with that uid is already
    /// connected for this sender: then that one is kept, `receiver` is dropped, and the id of
    /// the kept one is returned (Django's `dispatch_uid`).
    pub fn connect_with_uid<F>(&self, dispatch_uid: &str, receiver: F) -> ReceiverId
    where
        F: for<'a> Fn(&K::Event<'a, M>) -> Result<()> + Send + Sync + 'static,
    {
        self.insert(Some(dispatch_uid), receiver)
    }

    /// Disconnects the receiver `id`; false if it was not connected to this signal.
    pub fn disconnect(&self, id: ReceiverId) -> bool {
        K::slot(self.hub).update(&self.hub.active, |list| {
            let before = list.len();
            list.retain(|e| e.id != id.0);
            list.len() != before
        })
    }

    /// Disconnects the receiver connected for this sender under `dispatch_uid`; false if none
    /// was.
    pub fn disconnect_uid(&self, dispatch_uid: &str) -> bool {
        let sender = Self::sender_key();
        K::slot(self.hub).update(&self.hub.active, |list| {
            let before = list.len();
            list.retain(|e| !(e.sender == sender && e.uid.as_deref() == Some(dispatch_uid)));
            list.len() != before
        })
    }

    /// How many receivers are connected for exactly this sender (for `dyn Any`: for every
    /// model).
    pub fn receiver_count(&self) -> usize {
        let sender = Self::sender_key();
        K::slot(self.hub).snapshot().iter().filter(|e| e.sender == sender).count()
    }

    /// Would an event from this sender reach any receiver (one connected for it or for every
    /// model)? For `dyn Any`: is any receiver connected at all?
    pub fn has_receivers(&self) -> bool {
        match Self::sender_key() {
            Some(key) => self.hub.wants::<K>(key),
            None => self.hub.active.load(Ordering::Acquire) & K::BIT != 0,
        }
    }
}

impl Signals {
    /// An empty hub ([`Database`](crate::Database) makes its own; one is only needed by hand
    /// when sending without a database).
    pub fn new() -> Self {
        Self::default()
    }

    fn signal<K: SignalKind, M: Sender + ?Sized>(&self) -> Signal<'_, K, M> {
        Signal { hub: self, _p: PhantomData }
    }

    /// `pre_init` of `M` (or of every model, with `dyn Any`).
    pub fn pre_init<M: Sender + ?Sized>(&self) -> Signal<'_, PreInitSignal, M> {
        self.signal()
    }

    /// `post_init` of `M` (or of every model, with `dyn Any`).
    pub fn post_init<M: Sender + ?Sized>(&self) -> Signal<'_, PostInitSignal, M> {
        self.signal()
    }

    /// `pre_save` of `M` (or of every model, with `dyn Any`).
    pub fn pre_save<M: Sender + ?Sized>(&self) -> Signal<'_, PreSaveSignal, M> {
        self.signal()
    }

    /// `post_save` of `M` (or of every model, with `dyn Any`).
    pub fn post_save<M: Sender + ?Sized>(&self) -> Signal<'_, PostSaveSignal, M> {
        self.signal()
    }

    /// `pre_delete` of `M` (or of every model, with `dyn Any`).
    pub fn pre_delete<M: Sender + ?Sized>(&self) -> Signal<'_, PreDeleteSignal, M> {
        self.signal()
    }

    /// `post_delete` of `M` (or of every model, with `dyn Any`).
    pub fn post_delete<M: Sender + ?Sized>(&self) -> Signal<'_, PostDeleteSignal, M> {
        self.signal()
    }

    /// `m2m_changed` of the many-to-many fields declared by `M` (or of every model, with
    /// `dyn Any`).
    pub fn m2m_changed<M: Sender + ?Sized>(&self) -> Signal<'_, M2mChangedSignal, M> {
        self.signal()
    }

    /// Makes `M`'s instance type known to the hub for the instances it builds for receivers
    /// (fixture rows, cascaded objects). Every derived model is already known through the model
    /// registry, so this is only needed for a model whose registration is not linked in (the
    /// instance is then the row itself, an [`OwnedRow`]).
    pub fn register<M: Model>(&self) {
        self.decoders.write().unwrap_or_else(PoisonError::into_inner).insert(key_of(M::meta()), decode_boxed::<M>);
    }

    /// Disconnects every receiver of every signal.
    pub fn disconnect_all(&self) {
        fn clear<K: SignalKind>(s: &Slot<K>, active: &AtomicU32) {
            s.update(active, Vec::clear);
        }
        clear(&self.pre_init, &self.active);
        clear(&self.post_init, &self.active);
        clear(&self.pre_save, &self.active);
        clear(&self.post_save, &self.active);
        clear(&self.pre_delete, &self.active);
        clear(&self.post_delete, &self.active);
        clear(&self.m2m_changed, &self.active);
    }

    /// Builds an instance with `build`, sending `pre_init` (with no row) before and
    /// `post_init` after: the explicit constructor for code that wants init signals for
    /// instances it makes itself.
    ///
    /// ```
    /// # include!("../doctest_setup.rs");
    /// # fn main() -> orm::Result<()> {
    /// # let db = setup()?;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let made = Arc::new(AtomicUsize::new(0));
    /// let n = made.clone();
    /// db.signals().post_init::<Note>().connect(move |_| {
    ///     n.fetch_add(1, Ordering::Relaxed);
    ///     Ok(())
    /// });
    /// let note = db.signals().construct(|| Note { id: Auto::unset(), title: "new".into() })?;
    /// assert_eq!(made.load(Ordering::Relaxed), 1);
    /// Note::objects().fetch(&db)?;                   // three rows: three more post_init
    /// assert_eq!(made.load(Ordering::Relaxed), 4);
    /// # let _ = note; Ok(()) }
    /// ```
    pub fn construct<M: Model>(&self, build: impl FnOnce() -> M) -> Result<M> {
        let meta = M::meta();
        self.dispatch::<PreInitSignal>(&PreInit { sender: meta, row: None })?;
        let obj = build();
        self.dispatch::<PostInitSignal>(&PostInit { sender: meta, instance: &obj as &dyn Any })?;
        Ok(obj)
    }

    /// Sends `m2m_changed` to the receivers of `event.sender` and of every model. The first
    /// receiver error is returned: for a `pre_*` action the caller must then abort the change,
    /// for a `post_*` action roll it back.
    pub fn send_m2m_changed(&self, event: &M2mChanged<'_>) -> Result<()> {
        self.dispatch::<M2mChangedSignal>(event)
    }

    /// Sends `event` to every receiver of `K` for its sender (and of every model), in order,
    /// running all of them whatever they return (Django's `send_robust`): returns each
    /// receiver's id with its result. Unlike the ORM's own sends, an error does not stop
    /// the later receivers.
    ///
    /// ```
    /// # include!("../doctest_setup.rs");
    /// # fn main() -> orm::Result<()> {
    /// # let db = setup()?;
    /// use orm::signals::{M2mAction, M2mChanged, M2mChangedSignal};
    /// let first = db.signals().m2m_changed::<Note>().connect(|_| Err(orm::Error::signal("no")));
    /// let second = db.signals().m2m_changed::<Note>().connect(|_| Ok(()));
    /// let pk = orm::Value::Int(1);
    /// let event = M2mChanged {
    ///     sender: Note::meta(), field: "tags", action: M2mAction::PreAdd, reverse: false,
    ///     instance_model: Note::meta(), instance_pk: &pk, model: Note::meta(), pk_set: None,
    ///     using: "default",
    /// };
    /// let results = db.signals().send_robust::<M2mChangedSignal>(&event);
    /// assert_eq!(results.len(), 2);
    /// assert!(results[0].0 == first && results[0].1.is_err());
    /// assert!(results[1].0 == second && results[1].1.is_ok());
    /// # Ok(()) }
    /// ```
    pub fn send_robust<K: SignalKind>(&self, event: &K::Event<'_, dyn Any>) -> Vec<(ReceiverId, Result<()>)> {
        if self.active.load(Ordering::Acquire) & K::BIT == 0 {
            return Vec::new();
        }
        let key = key_of(K::sender(event));
        K::slot(self)
            .snapshot()
            .iter()
            .filter(|entry| entry.sender.is_none_or(|s| s == key))
            .map(|entry| (ReceiverId(entry.id), (entry.f)(event)))
            .collect()
    }

    /// Does any receiver of `K` listen to `key`'s model?
    fn wants<K: SignalKind>(&self, key: usize) -> bool {
        self.active.load(Ordering::Acquire) & K::BIT != 0 && K::slot(self).matches(key)
    }

    /// Runs the receivers of `K` for the event's sender, in order; stops at the first error.
    pub(crate) fn dispatch<K: SignalKind>(&self, event: &K::Event<'_, dyn Any>) -> Result<()> {
        if self.active.load(Ordering::Acquire) & K::BIT == 0 {
            return Ok(());
        }
        let key = key_of(K::sender(event));
        for entry in K::slot(self).snapshot().iter() {
            if entry.sender.is_none_or(|s| s == key) {
                (entry.f)(event)?;
            }
        }
        Ok(())
    }

    fn decode_slow<M: Model>(&self, row: &dyn Row) -> Result<M> {
        let meta = M::meta();
        self.dispatch::<PreInitSignal>(&PreInit { sender: meta, row: Some(row) })?;
        let obj = M::from_row(row, 0)?;
        self.dispatch::<PostInitSignal>(&PostInit { sender: meta, instance: &obj as &dyn Any })?;
        Ok(obj)
    }
}

/// Sends `m2m_changed` through the hub of the [`Database`](crate::Database) that `ex` comes
/// from (nothing happens for other executors, or when no receiver listens). Called by the
/// many-to-many managers: with a `pre_*` action before changing the join rows (an error
/// aborts the change), with a `post_*` action after, inside the change's transaction (an
/// error rolls it back); see [`atomic_on`] for opening that transaction so it keeps the hub.
pub fn send_m2m_changed<E: Executor + ?Sized>(ex: &E, event: &M2mChanged<'_>) -> Result<()> {
    match of(ex) {
        Some(hub) => hub.send_m2m_changed(event),
        None => Ok(()),
    }
}

/// Would an `m2m_changed` event from `sender` (the model declaring the field) reach a
/// receiver through `ex`? Lets callers skip computing key sets nobody reads.
pub fn has_m2m_receivers<E: Executor + ?Sized>(ex: &E, sender: &'static ModelMeta) -> bool {
    of(ex).is_some_and(|hub| hub.wants::<M2mChangedSignal>(key_of(sender)))
}

/// Runs `f` in a transaction on `ex` (a savepoint when `ex` is a transaction) that keeps
/// `ex`'s hub: ORM operations handed the transaction still send signals. Use it instead of
/// `ex.with_connection(|c| orm::atomic(c, f))`, whose transaction carries no hub.
pub fn atomic_on<E, R>(ex: &E, f: impl FnOnce(&Transaction<'_>) -> Result<R>) -> Result<R>
where
    E: Executor + ?Sized,
{
    let extension = ex.extension();
    ex.with_connection(|c| orm_backends::atomic_with_extension(c, extension, f))
}

// ---------------------------------------------------------------------------------------------
// Hooks for the ORM's operations

/// The alias of the database a handle made by [`Database::connect`](crate::Database::connect)
/// stands for, and of the one a [`Databases`](crate::Databases) set falls back to (Django's
/// `DEFAULT_DB_ALIAS`).
pub const DEFAULT_DB_ALIAS: &str = "default";

/// What a database handle hands to every executor it opens, transactions included (it travels
/// as the executor's [`extension`](Executor::extension)): its signal receivers, its alias, and,
/// for a handle over several databases, what routes operations among them.
pub struct HandleScope {
    pub(crate) signals: Arc<Signals>,
    pub(crate) alias: &'static str,
    /// The router's state of a [`Databases`](crate::Databases) handle (type-erased: the
    /// `db` module above this one downcasts it).
    pub(crate) routing: Option<Arc<dyn Any + Send + Sync>>,
}

impl HandleScope {
    /// A scope for the database called `alias`.
    pub(crate) fn new(signals: Arc<Signals>, alias: &'static str, routing: Option<Arc<dyn Any + Send + Sync>>) -> Self {
        HandleScope { signals, alias, routing }
    }
}

impl fmt::Debug for HandleScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandleScope").field("alias", &self.alias).field("routing", &self.routing.is_some()).finish()
    }
}

/// The scope of the handle `ex` comes from.
#[inline]
pub(crate) fn scope_of<E: Executor + ?Sized>(ex: &E) -> Option<&HandleScope> {
    ex.extension()?.downcast_ref::<HandleScope>()
}

/// The alias of the database `ex` runs on (`"default"` for an executor no handle made).
#[inline]
pub fn using<E: Executor + ?Sized>(ex: &E) -> &'static str {
    scope_of(ex).map_or(DEFAULT_DB_ALIAS, |s| s.alias)
}

/// The hub of the `Database` that `ex` comes from.
#[inline]
pub(crate) fn of<E: Executor + ?Sized>(ex: &E) -> Option<&Signals> {
    scope_of(ex).map(|s| &*s.signals)
}

/// The hub, when a receiver of `P` or `Q` listens to `meta`; one atomic load when none at all
/// is connected to either.
#[inline]
fn hub_for<'e, P: SignalKind, Q: SignalKind, E: Executor + ?Sized>(
    ex: &'e E,
    meta: &'static ModelMeta,
) -> Option<&'e Signals> {
    let hub = of(ex)?;
    if hub.active.load(Ordering::Acquire) & (P::BIT | Q::BIT) == 0 {
        return None;
    }
    let key = key_of(meta);
    (hub.wants::<P>(key) || hub.wants::<Q>(key)).then_some(hub)
}

/// How a query's rows become instances: the hub when an init receiver listens to the model,
/// and the alias of the database they come from (checked once per query).
#[derive(Clone, Copy)]
pub(crate) struct Loader<'a> {
    hub: Option<&'a Signals>,
    db: &'static str,
}

impl Loader<'_> {
    /// No init signals; instances from the default database.
    pub(crate) const NONE: Loader<'static> = Loader { hub: None, db: DEFAULT_DB_ALIAS };
}

/// The loader for `M` rows read through `ex` (checked once per query).
#[inline]
pub(crate) fn init_hub<M: Model, E: Executor + ?Sized>(ex: &E) -> Loader<'_> {
    Loader { hub: hub_for::<PreInitSignal, PostInitSignal, E>(ex, M::meta()), db: using(ex) }
}

/// The hub, when a save receiver listens to `M`.
#[inline]
pub(crate) fn save_hub<M: Model, E: Executor + ?Sized>(ex: &E) -> Option<&Signals> {
    hub_for::<PreSaveSignal, PostSaveSignal, E>(ex, M::meta())
}

/// The hub, when a delete receiver listens to `M`.
#[inline]
pub(crate) fn delete_hub<M: Model, E: Executor + ?Sized>(ex: &E) -> Option<&Signals> {
    hub_for::<PreDeleteSignal, PostDeleteSignal, E>(ex, M::meta())
}

/// The hub, when any delete receiver is connected (a deletion's cascades may reach its
/// models).
#[inline]
pub(crate) fn delete_signals<E: Executor + ?Sized>(ex: &E) -> Option<&Signals> {
    let hub = of(ex)?;
    (hub.active.load(Ordering::Acquire) & (PreDeleteSignal::BIT | PostDeleteSignal::BIT) != 0).then_some(hub)
}

/// Decodes an instance from the row's first columns, sending the init signals when `hub` is
/// given (see [`init_hub`]).
#[inline]
pub(crate) fn decode<M: Model>(loader: Loader<'_>, row: &dyn Row) -> Result<M> {
    let mut obj: M = match loader.hub {
        None => M::from_row(row, 0)?,
        Some(hub) => hub.decode_slow(row)?,
    };
    obj.set_db(loader.db);
    Ok(obj)
}

// ---------------------------------------------------------------------------------------------
// Raw saves (fixture loading)

/// The hub, when a save receiver listens to `meta` (fixture loading knows models by metadata).
pub(crate) fn raw_save_hub<'e, E: Executor + ?Sized>(ex: &'e E, meta: &'static ModelMeta) -> Option<&'e Signals> {
    hub_for::<PreSaveSignal, PostSaveSignal, E>(ex, meta)
}

impl Signals {
    /// An instance of `meta` from a row in its `from_row` layout: typed when the model's type
    /// is known to the hub or the model registry, else the row itself.
    pub(crate) fn build_instance(
        &self,
        meta: &'static ModelMeta,
        names: Arc<[String]>,
        row: Vec<Value>,
    ) -> Result<Box<dyn Any + Send + Sync>> {
        let row = OwnedRow::new(names, row);
        let decoder = self
            .decoders
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key_of(meta))
            .copied()
            .or_else(|| crate::model::registry::decoder(meta));
        match decoder {
            Some(decode) => decode(&row).map_err(|e| {
                Error::Serialization(format!("cannot build a {} instance for its signal receivers: {e}", meta.label()))
            }),
            None => Ok(Box::new(row)),
        }
    }

    /// For the deletion collector (cascades): does a delete receiver listen to `meta`?
    pub(crate) fn wants_delete(&self, meta: &'static ModelMeta) -> bool {
        let key = key_of(meta);
        self.wants::<PreDeleteSignal>(key) || self.wants::<PostDeleteSignal>(key)
    }

    /// For the deletion collector: sends `pre_delete` (`post` false) or `post_delete` for
    /// `instance` (the caller's, or from [`stored_instance`](Self::stored_instance)).
    pub(crate) fn send_delete(
        &self,
        meta: &'static ModelMeta,
        instance: &dyn Any,
        origin: Origin<'_>,
        post: bool,
        using: &str,
    ) -> Result<()> {
        let event = Delete { sender: meta, instance, origin, using };
        if post {
            self.dispatch::<PostDeleteSignal>(&event)
        } else {
            self.dispatch::<PreDeleteSignal>(&event)
        }
    }

    /// Sends `pre_save` (`created` is `None`) or `post_save` for a raw save of `instance`.
    pub(crate) fn send_raw_save(
        &self,
        meta: &'static ModelMeta,
        instance: &(dyn Any + Send + Sync),
        created: Option<bool>,
        using: &str,
    ) -> Result<()> {
        let instance: &dyn Any = instance;
        match created {
            None => self.dispatch::<PreSaveSignal>(&PreSave {
                sender: meta,
                instance,
                raw: true,
                update_fields: None,
                using,
            }),
            Some(created) => self.dispatch::<PostSaveSignal>(&PostSave {
                sender: meta,
                instance,
                created,
                raw: true,
                update_fields: None,
                using,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_distinct() {
        let bits = [
            PreInitSignal::BIT,
            PostInitSignal::BIT,
            PreSaveSignal::BIT,
            PostSaveSignal::BIT,
            PreDeleteSignal::BIT,
            PostDeleteSignal::BIT,
            M2mChangedSignal::BIT,
        ];
        let all = bits.iter().fold(0, |acc, b| {
            assert_eq!(acc & b, 0);
            acc | b
        });
        assert_eq!(all.count_ones(), 7);
    }
}
