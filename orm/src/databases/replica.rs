//! [`PrimaryReplicaRouter`]: writes to a primary, reads spread over replicas the servers'
//! own replication keeps (PostgreSQL streaming replication, MariaDB GTID replication).

use super::{intern, Hints, RelationEnd, Router, WriteMark};
use crate::error::Result;
use crate::model::meta::ModelMeta;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long reads stay on the primary after a write through the same handle (see
/// [`PrimaryReplicaRouter::read_your_writes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadYourWrites {
    /// For this long after the write.
    For(Duration),
    /// Until the replica chosen for a read has replayed the primary's position as it stood
    /// just after the write (PostgreSQL: `pg_last_wal_replay_lsn()` against
    /// `pg_current_wal_lsn()`; MariaDB: `MASTER_GTID_WAIT` against `@@gtid_binlog_pos`),
    /// and at most this long: past it the replica is trusted again. A replica that is
    /// behind is passed over for one that is not, or for the primary. On SQLite, which
    /// has no replication position, this is [`For`](Self::For).
    UntilReplayed {
        /// The longest a write pins reads.
        at_most: Duration,
    },
}

/// Writes, and every read inside [`Databases::atomic`](super::Databases::atomic), go to the
/// primary; other reads go to the replicas in turn (round-robin), skipping one that failed a
/// health check or a read until it answers again, and falling back to the primary when no
/// replica is available. Relations among the primary and its replicas are allowed (they hold
/// the same data); migrations run on the primary only (replicas receive the schema through
/// replication).
///
/// ```
/// use orm::prelude::*;
/// use orm::{Databases, PrimaryReplicaRouter, ReadYourWrites};
/// use std::time::Duration;
///
/// #[derive(Model, Debug, Clone)]
/// #[orm(app = "lib")]
/// pub struct Book { pub id: Auto<i64>, #[orm(max_length = 50)] pub title: String }
///
/// # fn main() -> orm::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("orm-doc-replica-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let (a, b) = (dir.join("primary.db"), dir.join("replica.db"));
/// # let _ = (std::fs::remove_file(&a), std::fs::remove_file(&b));
/// // Two SQLite files stand in for a primary and its replica here; with servers, the URLs
/// // would be `postgres://…primary…` and `postgres://…replica…`.
/// let dbs = Databases::builder()
///     .database("default", &format!("sqlite://{}", a.display()))?
///     .database("replica", &format!("sqlite://{}", b.display()))?
///     .router(
///         PrimaryReplicaRouter::new("default", ["replica"])?
///             .read_your_writes(ReadYourWrites::For(Duration::from_secs(60))),
///     )
///     .build()?;
/// for alias in dbs.aliases() {
///     Schema::new().model::<Book>().create_all(dbs.get(alias)?)?;
/// }
/// assert_eq!(dbs.db_for_read(Book::meta())?.alias(), "replica");
///
/// Book { id: Auto::unset(), title: "Dune".into() }.create(&dbs)?;   // to the primary
/// // Within the window, this handle reads its own write from the primary…
/// assert_eq!(Book::objects().count(&dbs)?, 1);
/// // …while a new session reads from the replica (which nothing replicates to here).
/// assert_eq!(Book::objects().count(&dbs.session())?, 0);
/// # Ok(()) }
/// ```
pub struct PrimaryReplicaRouter {
    primary: &'static str,
    replicas: Vec<&'static str>,
    next: AtomicUsize,
    health: Vec<Mutex<Health>>,
    check_every: Duration,
    read_your_writes: Option<ReadYourWrites>,
}

#[derive(Clone, Copy, Default)]
struct Health {
    /// Since when it has been failing.
    down_since: Option<Instant>,
    /// When it was last seen answering.
    checked: Option<Instant>,
}

impl std::fmt::Debug for PrimaryReplicaRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrimaryReplicaRouter")
            .field("primary", &self.primary)
            .field("replicas", &self.replicas)
            .field("read_your_writes", &self.read_your_writes)
            .finish()
    }
}

impl PrimaryReplicaRouter {
    /// Writes to `primary`, reads from `replicas`. A replica is health-checked
    /// (`SELECT 1`) at most once a second by default ([`check_every`](Self::check_every)).
    pub fn new<'a>(primary: &str, replicas: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let replicas = replicas.into_iter().map(intern).collect::<Result<Vec<_>>>()?;
        Ok(PrimaryReplicaRouter {
            primary: intern(primary)?,
            health: replicas.iter().map(|_| Mutex::new(Health::default())).collect(),
            replicas,
            next: AtomicUsize::new(0),
            check_every: Duration::from_secs(1),
            read_your_writes: None,
        })
    }

    /// How often a replica is checked (`SELECT 1`): one that answered is trusted this long;
    /// one that failed is skipped this long before it is tried again.
    pub fn check_every(mut self, every: Duration) -> Self {
        self.check_every = every;
        self
    }

    /// Pins the reads of a handle to the primary after it writes (see [`ReadYourWrites`];
    /// off by default, as in Django, where reads after a write may see a replica that is
    /// behind).
    pub fn read_your_writes(mut self, rule: ReadYourWrites) -> Self {
        self.read_your_writes = Some(rule);
        self
    }

    /// The primary's alias.
    pub fn primary(&self) -> &'static str {
        self.primary
    }

    /// The replicas' aliases.
    pub fn replicas(&self) -> &[&'static str] {
        &self.replicas
    }

    fn members(&self, alias: &str) -> bool {
        alias == self.primary || self.replicas.contains(&alias)
    }

    /// Is replica `i` to be used, checking it when its last check is older than
    /// `check_every`? The check runs without the lock held.
    fn healthy(&self, i: usize, hints: &Hints<'_>) -> bool {
        let now = Instant::now();
        let state = *self.health[i].lock().unwrap_or_else(PoisonError::into_inner);
        match state.down_since {
            Some(since) if now.duration_since(since) < self.check_every => return false,
            None if state.checked.is_some_and(|at| now.duration_since(at) < self.check_every) => return true,
            _ => {}
        }
        let ok = hints.database(self.replicas[i]).is_some_and(|db| db.ping().is_ok());
        let mut h = self.health[i].lock().unwrap_or_else(PoisonError::into_inner);
        if ok {
            *h = Health { down_since: None, checked: Some(now) };
        } else {
            h.down_since = Some(now);
        }
        ok
    }

    /// The position reads must have reached, or `Err(())` when reads are pinned to the
    /// primary outright.
    fn pinned(&self, hints: &Hints<'_>) -> std::result::Result<Option<String>, ()> {
        let Some(rule) = self.read_your_writes else { return Ok(None) };
        let Some(mark) = hints.last_write(self.primary) else { return Ok(None) };
        let age = mark.at.elapsed();
        match rule {
            ReadYourWrites::For(window) if age < window => Err(()),
            ReadYourWrites::UntilReplayed { at_most } if age < at_most => match mark.position {
                Some(position) => Ok(Some(position)),
                None => Err(()),
            },
            _ => {
                hints.forget_write(self.primary);
                Ok(None)
            }
        }
    }
}

impl Router for PrimaryReplicaRouter {
    fn db_for_read(&self, _model: &'static ModelMeta, hints: &Hints<'_>) -> Option<&'static str> {
        if hints.in_atomic() || self.replicas.is_empty() {
            return Some(self.primary);
        }
        let Ok(position) = self.pinned(hints) else { return Some(self.primary) };
        let n = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for k in 0..n {
            let i = (start + k) % n;
            if !self.healthy(i, hints) {
                continue;
            }
            if let Some(position) = &position {
                let caught_up =
                    hints.database(self.replicas[i]).is_some_and(|db| db.has_replayed(position).unwrap_or(false));
                if !caught_up {
                    continue;
                }
            }
            return Some(self.replicas[i]);
        }
        Some(self.primary)
    }

    fn db_for_write(&self, _model: &'static ModelMeta, _hints: &Hints<'_>) -> Option<&'static str> {
        Some(self.primary)
    }

    fn allow_relation(&self, a: &RelationEnd, b: &RelationEnd) -> Option<bool> {
        match (a.db, b.db) {
            (Some(x), Some(y)) if self.members(x) && self.members(y) => Some(true),
            _ => None,
        }
    }

    fn allow_migrate(&self, db: &str, _app_label: &str, _model_name: Option<&str>) -> Option<bool> {
        self.members(db).then_some(db == self.primary)
    }

    fn after_write(&self, db: &'static str, hints: &Hints<'_>) {
        let Some(rule) = self.read_your_writes else { return };
        if db != self.primary {
            return;
        }
        let position = match rule {
            ReadYourWrites::For(_) => None,
            ReadYourWrites::UntilReplayed { .. } => {
                hints.database(self.primary).and_then(|p| p.replication_position().ok().flatten())
            }
        };
        hints.record_write(self.primary, WriteMark { at: Instant::now(), position });
    }

    fn unavailable(&self, db: &'static str) {
        if let Some(i) = self.replicas.iter().position(|r| *r == db) {
            let mut h = self.health[i].lock().unwrap_or_else(PoisonError::into_inner);
            h.down_since = Some(Instant::now());
        }
    }
}
