//! Several databases under one handle: [`Databases`] (Django's `DATABASES` and
//! `django.db.connections`), the [`Router`] that decides where each operation goes
//! (Django's `DATABASE_ROUTERS`), and a ready [`PrimaryReplicaRouter`].
//!
//! A `Databases` set is an [`Executor`] like a single [`Database`]: the same QuerySets and
//! instance methods take either, so an application grows from one SQLite file to a primary
//! with replicas without changing its queries. Handed a set, each evaluation asks the routers
//! where to go:
//!
//! - reads (`fetch`, `get`, `count`, `iter`, …) ask [`Router::db_for_read`], writes (`save`,
//!   `create`, `update`, `delete`, `bulk_create`, …) ask [`Router::db_for_write`]; the first
//!   router with an answer wins, then the instance's own database, then `"default"`, exactly
//!   Django's `ConnectionRouter`;
//! - [`QuerySet::using`](crate::QuerySet::using) and
//!   [`Persist::save_using`](crate::Persist::save_using) name the database outright;
//! - everything one operation runs (a save's parent rows, a delete's cascade, a fetch's
//!   prefetches) runs on the database chosen for it;
//! - a transaction is opened on one database ([`Databases::atomic`] on `"default"`,
//!   [`Database::atomic`] on a member) and everything handed the transaction runs in it.
//!
//! An instance remembers the database it was loaded from or saved to when its model declares a
//! [`ModelState`](crate::ModelState) field (Django's `_state.db`; a derive cannot add a hidden
//! field to a struct, so the model opts in). Without one, a router decides alone.
//!
//! ```
//! use orm::prelude::*;
//! use orm::databases::{Databases, Hints, Router};
//! use orm::ModelMeta;
//!
//! #[derive(Model, Debug, Clone)]
//! #[orm(app = "shop")]
//! pub struct Order { pub id: Auto<i64>, pub total: i64 }
//!
//! #[derive(Model, Debug, Clone)]
//! #[orm(app = "stats")]
//! pub struct Visit { pub id: Auto<i64>, #[orm(max_length = 100)] pub path: String }
//!
//! /// The `stats` app lives in its own database.
//! struct StatsRouter;
//! impl Router for StatsRouter {
//!     fn db_for_read(&self, model: &'static ModelMeta, _: &Hints<'_>) -> Option<&'static str> {
//!         (model.app == "stats").then_some("analytics")
//!     }
//!     fn db_for_write(&self, model: &'static ModelMeta, _: &Hints<'_>) -> Option<&'static str> {
//!         (model.app == "stats").then_some("analytics")
//!     }
//!     fn allow_migrate(&self, db: &str, app: &str, _model: Option<&str>) -> Option<bool> {
//!         Some((app == "stats") == (db == "analytics"))
//!     }
//! }
//!
//! # fn main() -> orm::Result<()> {
//! let dbs = Databases::builder()
//!     .database("default", "sqlite::memory:")?
//!     .database("analytics", "sqlite::memory:")?
//!     .router(StatsRouter)
//!     .build()?;
//! Schema::new().model::<Order>().create_all(dbs.get("default")?)?;
//! Schema::new().model::<Visit>().create_all(dbs.get("analytics")?)?;
//!
//! Order { id: Auto::unset(), total: 12 }.create(&dbs)?;            // → default
//! Visit { id: Auto::unset(), path: "/".into() }.create(&dbs)?;     // → analytics
//! assert_eq!(Visit::objects().count(&dbs)?, 1);                    // read from analytics
//! assert_eq!(Visit::objects().using("default").count(&dbs).is_err(), true); // no such table there
//! assert!(dbs.allow_migrate("analytics", Visit::meta()));
//! assert!(!dbs.allow_migrate("default", Visit::meta()));
//! # Ok(()) }
//! ```

mod replica;

pub use replica::{PrimaryReplicaRouter, ReadYourWrites};

use crate::db::Database;
use crate::error::{Error, Result};
use crate::model::meta::ModelMeta;
use crate::signals::{HandleScope, Signals, DEFAULT_DB_ALIAS};
use orm_backends::{AtomicOptions, Checkout, ConnectOptions, Connection, Dialect, Executor, Pool, Transaction};
use std::any::Any;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

/// The questions Django asks a database router. Each answer may be `None`: "no opinion", and
/// the next router is asked. Every method has that default, so a router answers only what it
/// cares about.
///
/// Two hooks go beyond Django's four, for routers that keep state:
/// [`after_write`](Self::after_write) and [`unavailable`](Self::unavailable).
pub trait Router: Send + Sync + 'static {
    /// The database to read `model` from.
    fn db_for_read(&self, model: &'static ModelMeta, hints: &Hints<'_>) -> Option<&'static str> {
        let _ = (model, hints);
        None
    }

    /// The database to write `model` to.
    fn db_for_write(&self, model: &'static ModelMeta, hints: &Hints<'_>) -> Option<&'static str> {
        let _ = (model, hints);
        None
    }

    /// May an object of `a` relate to one of `b` (a foreign key, a many-to-many link)?
    fn allow_relation(&self, a: &RelationEnd, b: &RelationEnd) -> Option<bool> {
        let _ = (a, b);
        None
    }

    /// May the migrations of `app_label` (model `model_name`, when the operation concerns
    /// one) run on database `db`?
    fn allow_migrate(&self, db: &str, app_label: &str, model_name: Option<&str>) -> Option<bool> {
        let _ = (db, app_label, model_name);
        None
    }

    /// A write on `db`, through the handle `hints` comes from, has just succeeded (a
    /// read-your-writes router pins that handle's reads).
    fn after_write(&self, db: &'static str, hints: &Hints<'_>) {
        let _ = (db, hints);
    }

    /// A read this router sent to `db` failed to reach it (connection refused, lost, timed
    /// out). The read is routed again, once per database at most; a router that balances
    /// replicas marks `db` down here.
    fn unavailable(&self, db: &'static str) {
        let _ = db;
    }
}

/// One side of a relation a router is asked about: the model and the database the object is
/// on (`None` when unknown: the model declares no [`ModelState`](crate::ModelState), or the
/// object was never loaded nor saved).
#[derive(Clone, Copy, Debug)]
pub struct RelationEnd {
    /// The object's model.
    pub model: &'static ModelMeta,
    /// The database it is on.
    pub db: Option<&'static str>,
}

/// What a router is told besides the model (Django's `**hints`), and what it may look at.
pub struct Hints<'a> {
    instance_db: Option<&'static str>,
    routing: &'a Routing,
}

impl Hints<'_> {
    /// The database the instance being saved or deleted was loaded from or last saved to
    /// (Django's `hints["instance"]._state.db`).
    pub fn instance_db(&self) -> Option<&'static str> {
        self.instance_db
    }

    /// Is a [`Databases::atomic`] block open on this thread? (Reads meant to see its writes
    /// go to its database; pass the transaction to see its uncommitted ones.)
    pub fn in_atomic(&self) -> bool {
        IN_ATOMIC.with(Cell::get) > 0
    }

    /// The member called `alias`.
    pub fn database(&self, alias: &str) -> Option<&Database> {
        self.routing.shared.member(alias)
    }

    /// The last write this handle ([`Databases::session`]) made on `alias`, if a router
    /// recorded one with [`record_write`](Self::record_write).
    pub fn last_write(&self, alias: &str) -> Option<WriteMark> {
        self.routing.session.marks.lock().unwrap_or_else(PoisonError::into_inner).get(alias).cloned()
    }

    /// Records a write on `alias` for this handle (see [`last_write`](Self::last_write)).
    pub fn record_write(&self, alias: &'static str, mark: WriteMark) {
        self.routing.session.marks.lock().unwrap_or_else(PoisonError::into_inner).insert(alias, mark);
    }

    /// Forgets the write recorded on `alias`.
    pub fn forget_write(&self, alias: &str) {
        self.routing.session.marks.lock().unwrap_or_else(PoisonError::into_inner).remove(alias);
    }
}

/// A write a handle made: when, and the primary's replication position just after it (a
/// PostgreSQL WAL LSN, a MariaDB GTID position), when one was asked for.
#[derive(Clone, Debug)]
pub struct WriteMark {
    /// When the write was made.
    pub at: Instant,
    /// The primary's position after it.
    pub position: Option<String>,
}

thread_local! {
    /// How many `Databases::atomic` blocks are open on this thread.
    static IN_ATOMIC: Cell<usize> = const { Cell::new(0) };
}

/// A set of named databases, each a pooled [`Database`], and the routers that choose among
/// them. Cheap to clone; clones share the pools, the routers and the recorded writes (see
/// [`session`](Self::session) for a handle with its own).
///
/// It is an [`Executor`]: hand it to any evaluation or instance method and the routers choose
/// the database (see the [module docs](self)). Used directly as a connection source (raw
/// `with_connection`), it is its `"default"` database.
#[derive(Clone)]
pub struct Databases {
    /// The default database's pool and capture hub, with a scope that carries the routing.
    handle: Database,
    routing: Arc<Routing>,
}

/// What a set's scope carries for the ORM's operations to find (see [`route_read`]).
pub(crate) struct Routing {
    shared: Arc<Shared>,
    session: Arc<Session>,
}

struct Shared {
    members: Vec<Database>,
    default: usize,
    routers: Vec<Arc<dyn Router>>,
    signals: Arc<Signals>,
}

#[derive(Default)]
struct Session {
    marks: Mutex<HashMap<&'static str, WriteMark>>,
}

impl Shared {
    fn member(&self, alias: &str) -> Option<&Database> {
        self.members.iter().find(|m| m.alias() == alias)
    }

    fn aliases(&self) -> String {
        let names: Vec<String> = self.members.iter().map(|m| format!("'{}'", m.alias())).collect();
        names.join(", ")
    }

    fn require(&self, alias: &str) -> Result<&Database> {
        self.member(alias).ok_or_else(|| Error::ConnectionDoesNotExist {
            alias: alias.to_owned(),
            hint: format!(" The databases are {}.", self.aliases()),
        })
    }
}

impl std::fmt::Debug for Databases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let aliases: Vec<&str> = self.routing.shared.members.iter().map(Database::alias).collect();
        f.debug_struct("Databases")
            .field("aliases", &aliases)
            .field("routers", &self.routing.shared.routers.len())
            .finish()
    }
}

/// Builds a [`Databases`] set: [`Databases::builder`].
#[derive(Default)]
pub struct DatabasesBuilder {
    members: Vec<(&'static str, Pool)>,
    routers: Vec<Arc<dyn Router>>,
}

impl std::fmt::Debug for DatabasesBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let aliases: Vec<&str> = self.members.iter().map(|(a, _)| *a).collect();
        f.debug_struct("DatabasesBuilder").field("aliases", &aliases).field("routers", &self.routers.len()).finish()
    }
}

impl DatabasesBuilder {
    /// Adds the database `alias` at `url`. Nothing connects yet: the first query does (as in
    /// Django), so a replica that is down does not keep the application from starting. A
    /// malformed URL is an error here.
    pub fn database(self, alias: &str, url: &str) -> Result<Self> {
        let pool = Pool::lazy(ConnectOptions::parse(url)?)?;
        self.pool(alias, pool)
    }

    /// Adds the database `alias` on an existing pool.
    pub fn pool(mut self, alias: &str, pool: Pool) -> Result<Self> {
        let alias = intern(alias)?;
        if self.members.iter().any(|(a, _)| *a == alias) {
            return Err(Error::ImproperlyConfigured(format!("the database alias '{alias}' is given twice")));
        }
        self.members.push((alias, pool));
        Ok(self)
    }

    /// The aliases added so far, in order (to build a router over them).
    pub fn aliases(&self) -> Vec<&'static str> {
        self.members.iter().map(|(a, _)| *a).collect()
    }

    /// Adds a router; routers are asked in the order they were added.
    pub fn router(mut self, router: impl Router) -> Self {
        self.routers.push(Arc::new(router));
        self
    }

    /// Adds a router shared with other code.
    pub fn shared_router(mut self, router: Arc<dyn Router>) -> Self {
        self.routers.push(router);
        self
    }

    /// The set. There must be a `"default"` database (Django's rule).
    pub fn build(self) -> Result<Databases> {
        let default = self.members.iter().position(|(a, _)| *a == DEFAULT_DB_ALIAS).ok_or_else(|| {
            Error::ImproperlyConfigured(format!(
                "no '{DEFAULT_DB_ALIAS}' database: every set of databases needs one (give it with \
                 .database(\"default\", url), or ORM_DATABASE_DEFAULT_URL)"
            ))
        })?;
        let signals = Arc::new(Signals::new());
        let members: Vec<Database> = self
            .members
            .into_iter()
            .map(|(alias, pool)| Database::with_scope(pool, alias, signals.clone(), None))
            .collect();
        let shared = Arc::new(Shared { members, default, routers: self.routers, signals });
        Ok(Databases::with_session(shared, Arc::new(Session::default())))
    }
}

/// The environment variables a set is read from: `ORM_DATABASE_<ALIAS>_URL`.
const ENV_PREFIX: &str = "ORM_DATABASE_";
const ENV_SUFFIX: &str = "_URL";

impl Databases {
    /// Starts a set: add databases and routers, then [`build`](DatabasesBuilder::build).
    pub fn builder() -> DatabasesBuilder {
        DatabasesBuilder::default()
    }

    /// The databases the environment names: one per `ORM_DATABASE_<ALIAS>_URL` variable, its
    /// alias the lower-cased `<ALIAS>` (`ORM_DATABASE_DEFAULT_URL`,
    /// `ORM_DATABASE_REPLICA_URL`, …). Add routers to the returned builder.
    ///
    /// ```
    /// std::env::set_var("ORM_DATABASE_DEFAULT_URL", "sqlite::memory:");
    /// std::env::set_var("ORM_DATABASE_REPORTS_URL", "sqlite::memory:");
    /// let dbs = orm::Databases::from_env()?.build()?;
    /// assert!(dbs.aliases().contains(&"reports"));
    /// # Ok::<(), orm::Error>(())
    /// ```
    pub fn from_env() -> Result<DatabasesBuilder> {
        Self::from_vars(std::env::vars())
    }

    /// [`from_env`](Self::from_env) over the given variables (sorted by alias, `default`
    /// first).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<DatabasesBuilder> {
        let mut found: Vec<(String, String)> = vars
            .into_iter()
            .filter_map(|(k, v)| {
                let alias = k.strip_prefix(ENV_PREFIX)?.strip_suffix(ENV_SUFFIX)?;
                Some((alias.to_ascii_lowercase(), v))
            })
            .collect();
        found.sort_by(|a, b| (a.0 != DEFAULT_DB_ALIAS, &a.0).cmp(&(b.0 != DEFAULT_DB_ALIAS, &b.0)));
        let mut builder = Self::builder();
        for (alias, url) in found {
            builder = builder.database(&alias, &url).map_err(|e| {
                Error::ImproperlyConfigured(format!("{ENV_PREFIX}{}{ENV_SUFFIX}: {e}", alias.to_ascii_uppercase()))
            })?;
        }
        Ok(builder)
    }

    /// One database as a set (alias `"default"`, no routers).
    pub fn single(db: Database) -> Result<Self> {
        Self::builder().pool(DEFAULT_DB_ALIAS, db.pool().clone())?.build()
    }

    fn with_session(shared: Arc<Shared>, session: Arc<Session>) -> Self {
        let routing = Arc::new(Routing { shared: shared.clone(), session });
        let erased: Arc<dyn Any + Send + Sync> = routing.clone();
        let default = &shared.members[shared.default];
        let handle = default.rescoped(HandleScope::new(shared.signals.clone(), default.alias(), Some(erased)));
        Databases { handle, routing }
    }

    /// A handle on the same databases and routers whose recorded writes are its own: a
    /// read-your-writes window opened by a write through it pins only its reads (one per
    /// request, or per user session, in a server).
    pub fn session(&self) -> Databases {
        Self::with_session(self.routing.shared.clone(), Arc::new(Session::default()))
    }

    /// The database called `alias` (`ConnectionDoesNotExist` naming the aliases there are,
    /// otherwise).
    pub fn get(&self, alias: &str) -> Result<&Database> {
        self.routing.shared.require(alias)
    }

    /// The `"default"` database.
    pub fn default_database(&self) -> &Database {
        &self.routing.shared.members[self.routing.shared.default]
    }

    /// The aliases, in the order they were added.
    pub fn aliases(&self) -> Vec<&'static str> {
        self.routing.shared.members.iter().map(Database::alias).collect()
    }

    /// Starts recording every statement run on any database of the set until the returned
    /// capture is dropped; each [`CapturedQuery`](crate::CapturedQuery) names its database.
    pub fn capture_queries(&self) -> crate::QueryCapture {
        let members: Vec<&Database> = self.routing.shared.members.iter().collect();
        crate::QueryCapture::across(&members)
    }

    /// The signal receivers, shared by every database of the set; each event's `using`
    /// names the database it happened on.
    pub fn signals(&self) -> &Signals {
        &self.routing.shared.signals
    }

    /// Runs `f` in a transaction on the `"default"` database (Django's `atomic()` without
    /// `using`). While it runs, reads handed the set (not the transaction) are routed with
    /// [`Hints::in_atomic`] true, which sends them to the primary with
    /// [`PrimaryReplicaRouter`]; after it commits, the write is recorded as any other.
    pub fn atomic<R>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<R>) -> Result<R> {
        self.atomic_using(DEFAULT_DB_ALIAS, AtomicOptions::new(), f)
    }

    /// [`atomic`](Self::atomic) on the database `alias`, with options.
    pub fn atomic_using<R>(
        &self,
        alias: &str,
        options: AtomicOptions,
        f: impl FnOnce(&Transaction<'_>) -> Result<R>,
    ) -> Result<R> {
        let db = self.get(alias)?;
        struct Depth;
        impl Drop for Depth {
            fn drop(&mut self) {
                IN_ATOMIC.with(|d| d.set(d.get() - 1));
            }
        }
        IN_ATOMIC.with(|d| d.set(d.get() + 1));
        let _depth = Depth;
        let out = db.atomic_with(options, f)?;
        self.routing.note_write(db.alias(), None);
        Ok(out)
    }

    /// Django's `router.allow_migrate_model(db, model)`: may `model`'s table live on database
    /// `db`? The first router with an answer decides; with none, yes. Unmanaged and proxy
    /// models are never migrated.
    pub fn allow_migrate(&self, db: &str, model: &'static ModelMeta) -> bool {
        if !matches!(model.kind, crate::model::meta::ModelKind::Concrete) {
            return false;
        }
        self.allow_migrate_app(db, model.app, Some(model.name))
    }

    /// Django's `router.allow_migrate(db, app_label, model_name=…)`.
    pub fn allow_migrate_app(&self, db: &str, app_label: &str, model_name: Option<&str>) -> bool {
        self.routing.shared.routers.iter().find_map(|r| r.allow_migrate(db, app_label, model_name)).unwrap_or(true)
    }

    /// Django's `router.allow_relation(obj1, obj2)`: the first router with an answer decides;
    /// with none, the two must be on the same database (or one on an unknown one).
    pub fn allow_relation(&self, a: &RelationEnd, b: &RelationEnd) -> bool {
        self.routing.allow_relation(a, b)
    }

    /// Where a read of `model` would go now (for logging and tests; evaluation asks the same
    /// question).
    pub fn db_for_read(&self, model: &'static ModelMeta) -> Result<&Database> {
        self.routing.pick(Intent::Read, model, None, None)
    }

    /// Where a write of `model` would go.
    pub fn db_for_write(&self, model: &'static ModelMeta) -> Result<&Database> {
        self.routing.pick(Intent::Write, model, None, None)
    }
}

impl Executor for Databases {
    fn with_connection<R, E: From<orm_backends::Error>>(
        &self,
        f: impl FnOnce(&mut dyn Connection) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        self.handle.with_connection(f)
    }

    fn checkout(&self) -> std::result::Result<Checkout<'_>, orm_backends::Error> {
        self.handle.checkout()
    }

    fn dialect(&self) -> Dialect {
        self.handle.dialect()
    }

    /// The scope of the `"default"` database, carrying the routing.
    fn extension(&self) -> Option<&(dyn Any + Send + Sync)> {
        self.handle.extension()
    }
}

/// Read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Intent {
    Read,
    Write,
}

impl Routing {
    fn hints(&self, instance_db: Option<&'static str>) -> Hints<'_> {
        Hints { instance_db, routing: self }
    }

    /// Django's `ConnectionRouter._router_func`: the named database, else the first router's
    /// answer, else the instance's database, else `"default"`.
    fn pick(
        &self,
        intent: Intent,
        model: &'static ModelMeta,
        using: Option<&str>,
        instance_db: Option<&'static str>,
    ) -> Result<&Database> {
        if let Some(alias) = using {
            return self.shared.require(alias);
        }
        let hints = self.hints(instance_db);
        for r in &self.shared.routers {
            let chosen = match intent {
                Intent::Read => r.db_for_read(model, &hints),
                Intent::Write => r.db_for_write(model, &hints),
            };
            if let Some(alias) = chosen {
                return self.shared.require(alias);
            }
        }
        match instance_db.and_then(|a| self.shared.member(a)) {
            Some(db) => Ok(db),
            None => Ok(&self.shared.members[self.shared.default]),
        }
    }

    fn note_write(&self, alias: &'static str, instance_db: Option<&'static str>) {
        let hints = self.hints(instance_db);
        for r in &self.shared.routers {
            r.after_write(alias, &hints);
        }
    }

    fn allow_relation(&self, a: &RelationEnd, b: &RelationEnd) -> bool {
        self.shared.routers.iter().find_map(|r| r.allow_relation(a, b)).unwrap_or(match (a.db, b.db) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        })
    }
}

/// The routing of the set `ex` comes from, if it is one; checks, otherwise, that `using`
/// (when given) names the database `ex` is.
#[inline]
fn routing_of<'e, E: Executor + ?Sized>(ex: &'e E, using: Option<&str>) -> Result<Option<&'e Routing>> {
    routing_in(crate::signals::scope_of(ex), using)
}

/// [`routing_of`] for a scope already looked up.
#[inline]
fn routing_in<'e>(scope: Option<&'e HandleScope>, using: Option<&str>) -> Result<Option<&'e Routing>> {
    let Some(scope) = scope else {
        return Ok(None);
    };
    if scope.routing.is_none() && using.is_none() {
        return Ok(None);
    }
    if let Some(routing) = scope.routing.as_ref().and_then(|r| r.downcast_ref::<Routing>()) {
        return Ok(Some(routing));
    }
    match using {
        Some(alias) if alias != scope.alias => Err(Error::ConnectionDoesNotExist {
            alias: alias.to_owned(),
            hint: format!(
                " This executor is the database '{}' alone: hand a `Databases` set to choose among aliases.",
                scope.alias
            ),
        }),
        _ => Ok(None),
    }
}

/// For a read entry point: when `ex` is a [`Databases`] set, picks the database (`using`,
/// the routers, then `instance_db`, the database of the instance the read is for) and runs `f`
/// on it, routing again (once per database at most) when the chosen one cannot be reached
/// and a router chose it; `None` when `ex` is one database (the caller goes on with `ex`).
pub(crate) fn route_read_for<'e, E, R>(
    ex: &'e E,
    model: &'static ModelMeta,
    using: Option<&str>,
    instance_db: Option<&'static str>,
    mut f: impl FnMut(&'e Database) -> Result<R>,
) -> Option<Result<R>>
where
    E: Executor + ?Sized,
{
    let routing = match routing_of(ex, using) {
        Ok(Some(r)) => r,
        Ok(None) => return None,
        Err(e) => return Some(Err(e)),
    };
    let mut tried: Vec<&'static str> = Vec::new();
    loop {
        let db = match routing.pick(Intent::Read, model, using, instance_db) {
            Ok(db) => db,
            Err(e) => return Some(Err(e)),
        };
        match f(db) {
            Err(e) if e.is_connection() && using.is_none() && !tried.contains(&db.alias()) => {
                tried.push(db.alias());
                for r in &routing.shared.routers {
                    r.unavailable(db.alias());
                }
                if tried.len() > routing.shared.members.len() {
                    return Some(Err(e));
                }
            }
            other => return Some(other),
        }
    }
}

/// Where a write goes: the database chosen, and what to tell when it is done.
pub(crate) struct WriteTarget<'e> {
    /// The database chosen.
    pub(crate) db: &'e Database,
    routing: &'e Routing,
    instance_db: Option<&'static str>,
}

impl WriteTarget<'_> {
    /// Refuses to save `obj` here when it holds a related object from a database the
    /// routers do not allow it to relate to (Django checks on assignment; a Rust field
    /// assignment cannot be intercepted, so the check runs when the object is saved through
    /// a set): the error names both databases.
    pub(crate) fn check_relations<M: crate::model::Model>(&self, obj: &M) -> Result<()> {
        let source = RelationEnd { model: M::meta(), db: Some(self.db.alias()) };
        let mut refused = None;
        obj.relation_dbs(&mut |field, model, db| {
            let target = RelationEnd { model, db: Some(db) };
            if refused.is_none() && !self.routing.allow_relation(&source, &target) {
                refused = Some((field, model, db));
            }
        });
        match refused {
            None => Ok(()),
            Some((field, model, db)) => Err(Error::ValueError(format!(
                "Cannot save {} with {field} = a {} from database \"{db}\" to database \"{}\": the current \
                 database router prevents this relation.",
                M::meta().label(),
                model.label(),
                self.db.alias(),
            ))),
        }
    }

    /// Refuses to link an instance of `source` here to a `target` object on database `db`
    /// unless the routers allow it (Django's check in a many-to-many `add()`).
    pub(crate) fn check_relation(
        &self,
        source: &'static ModelMeta,
        target: &'static ModelMeta,
        db: &'static str,
    ) -> Result<()> {
        let a = RelationEnd { model: source, db: Some(self.db.alias()) };
        let b = RelationEnd { model: target, db: Some(db) };
        if self.routing.allow_relation(&a, &b) {
            return Ok(());
        }
        Err(Error::ValueError(format!(
            "Cannot add \"{}\": instance is on database \"{}\", value is on database \"{db}\"",
            target.label(),
            self.db.alias(),
        )))
    }

    /// Tells the routers the write succeeded, if it did; passes `out` on.
    pub(crate) fn finish<R>(&self, out: Result<R>) -> Result<R> {
        if out.is_ok() {
            self.routing.note_write(self.db.alias(), self.instance_db);
        }
        out
    }
}

/// For a write entry point: when `ex` is a set, the database to write to (`using`, the
/// routers, the instance's database); `None` when `ex` is one database.
#[inline]
pub(crate) fn write_target<'e, E: Executor + ?Sized>(
    ex: &'e E,
    model: &'static ModelMeta,
    using: Option<&str>,
    instance_db: Option<&'static str>,
) -> Result<Option<WriteTarget<'e>>> {
    write_target_in(crate::signals::scope_of(ex), model, using, instance_db)
}

/// [`write_target`] for a scope already looked up.
#[inline]
pub(crate) fn write_target_in<'e>(
    scope: Option<&'e HandleScope>,
    model: &'static ModelMeta,
    using: Option<&str>,
    instance_db: Option<&'static str>,
) -> Result<Option<WriteTarget<'e>>> {
    let Some(routing) = routing_in(scope, using)? else { return Ok(None) };
    let db = routing.pick(Intent::Write, model, using, instance_db)?;
    Ok(Some(WriteTarget { db, routing, instance_db }))
}

/// [`intern`] for a name that may be wrong: a name no set can hold is kept as it is, for the
/// lookup to report (`ConnectionDoesNotExist`) when the QuerySet is evaluated.
pub(crate) fn intern_lenient(alias: &str) -> &'static str {
    intern(alias).unwrap_or_else(|_| {
        static BAD: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
        let mut bad = BAD.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
        match bad.get(alias) {
            Some(found) => found,
            None => {
                let leaked: &'static str = Box::leak(alias.to_owned().into_boxed_str());
                bad.insert(leaked);
                leaked
            }
        }
    })
}

/// Aliases live as long as the program (an instance's [`ModelState`](crate::ModelState)
/// holds one as `&'static str`, which keeps it `Copy`); each distinct name is stored once.
fn intern(alias: &str) -> Result<&'static str> {
    if alias.is_empty() || !alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::ImproperlyConfigured(format!(
            "'{alias}' is not a database alias: use letters, digits and underscores"
        )));
    }
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = names.get(alias) {
        return Ok(found);
    }
    let leaked: &'static str = Box::leak(alias.to_owned().into_boxed_str());
    names.insert(leaked);
    Ok(leaked)
}
