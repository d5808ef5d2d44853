//! [`Executor`]: plans and applies (or unapplies) migrations on one connection.
//!
//! - **Plans** go forwards to an app's leaves or to a named migration, and backwards to a
//!   named migration or to `zero` (every migration of the app and what depends on it).
//! - **Atomic** where the backend can roll DDL back (`Features::can_rollback_ddl`): each
//!   migration, with its recorder row, is one transaction; a failure leaves nothing of it.
//! - **Progress** is recorded per operation where it cannot (MySQL/MariaDB, or a migration
//!   marked `atomic: false`): a failure stops with a message listing what was applied, and the
//!   next run resumes after the last applied operation.
//! - **Serialised**: a PostgreSQL advisory lock or a MySQL `GET_LOCK` is held for the whole run;
//!   on SQLite each migration runs in a write transaction (`BEGIN IMMEDIATE`, which in WAL mode
//!   is the same as `EXCLUSIVE`) that first re-reads the recorder. A second concurrent run
//!   waits, then finds the migrations applied and skips them: each is applied exactly once.
//! - **Checked**: an applied migration whose content changed since (its checksum differs) is an
//!   error, not silently accepted.
//! - **SQLite** runs each migration with foreign-key enforcement off (table rebuilds need it)
//!   and a `PRAGMA foreign_key_check` before committing.
//! - **One database of several** ([`Executor::with_routing`]): the connection is the database
//!   the [`Routing`] names; every migration is recorded in that database's own recorder table
//!   and the project state advances through every operation, but an operation runs its DDL
//!   only where the routers allow it (see [`operations`](crate::operations#several-databases)),
//!   as Django's `migrate --database <alias>`. So the same plan applied to each database of a
//!   set puts each model's tables where the routers say, and records the history everywhere.
//!   `--fake-initial` looks only for the tables of models allowed here (Django's
//!   `detect_soft_applied`).

use crate::editor::SchemaEditor;
use crate::error::{Key, MigrationError, Result};
use crate::graph::MigrationGraph;
use crate::loader::Loader;
use crate::migration::Migration;
use crate::operations::{Context, Operation};
use crate::recorder::{Applied, Recorder};
use crate::routing::Routing;
use crate::state::ProjectState;
use orm_backends::{Connection, Dialect, ErrorKind};
use std::collections::{BTreeMap, BTreeSet};

/// Where `migrate` goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every app's latest migrations.
    All,
    /// One app's latest migrations.
    App(String),
    /// Exactly this migration: forwards if it is not applied, else back to it.
    To(Key),
    /// Unapply every migration of the app (and those depending on them).
    Zero(String),
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The migration.
    pub key: Key,
    /// Unapply (rather than apply)?
    pub backwards: bool,
}

/// What happened to a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied or unapplied.
    Done,
    /// Only recorded (`--fake`, or `--fake-initial` with the tables already there).
    Faked,
    /// Another run had already done it.
    Skipped,
}

/// Options of `migrate`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MigrateOptions {
    /// Record the migrations without running them.
    pub fake: bool,
    /// Record initial migrations whose tables all exist without running them.
    pub fake_initial: bool,
}

/// Applies migrations on one connection.
pub struct Executor<'a> {
    conn: &'a mut dyn Connection,
    loader: &'a Loader,
    ctx: Context,
    routing: Routing,
    progress: Box<dyn FnMut(&str) + 'a>,
}

impl std::fmt::Debug for Executor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("dialect", &self.conn.dialect()).field("routing", &self.routing).finish()
    }
}

impl<'a> Executor<'a> {
    /// An executor for `loader`'s migrations on `conn` (outside any transaction).
    pub fn new(conn: &'a mut dyn Connection, loader: &'a Loader) -> Self {
        Executor { conn, loader, ctx: Context::default(), routing: Routing::default(), progress: Box::new(|_| {}) }
    }

    /// Runs on the database `routing` names (`conn` must be a connection to it): operations
    /// its routers refuse there change nothing, and every migration is still recorded (see
    /// the [module doc](self)). Without it: the `"default"` database, everything allowed.
    pub fn with_routing(mut self, routing: Routing) -> Self {
        self.routing = routing;
        self
    }

    /// The database this executor runs on and what its routers allow.
    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    /// Uses `ctx` (the application's RunRust functions).
    pub fn with_context(mut self, ctx: Context) -> Self {
        self.ctx = ctx;
        self
    }

    /// Reports each step and long operations to `f`.
    pub fn with_progress(mut self, f: impl FnMut(&str) + 'a) -> Self {
        self.progress = Box::new(f);
        self
    }

    /// The recorder's rows.
    pub fn recorded(&mut self) -> Result<BTreeMap<Key, Applied>> {
        Recorder::applied(self.conn)
    }

    /// Applied migrations whose content changed since: `(key, recorded, current)`.
    pub fn edited(&mut self) -> Result<Vec<(Key, String, String)>> {
        let recorded = self.recorded()?;
        Ok(edited(self.loader, &recorded))
    }

    /// The plan for `target` as things stand (no lock taken).
    pub fn plan(&mut self, target: &Target) -> Result<Vec<Step>> {
        let recorded = self.recorded()?;
        let (graph, applied) = self.graph(&recorded)?;
        plan(&graph, &applied, target)
    }

    fn graph(&self, recorded: &BTreeMap<Key, Applied>) -> Result<(MigrationGraph, BTreeSet<Key>)> {
        let complete: BTreeSet<Key> =
            recorded.iter().filter(|(_, a)| a.progress.is_none()).map(|(k, _)| k.clone()).collect();
        let graph = self.loader.graph(&complete)?;
        let applied = self.loader.effective_applied(&complete);
        for k in &applied {
            if !graph.contains(k) {
                continue;
            }
            for p in graph.parents(k) {
                if !applied.contains(p) {
                    return Err(MigrationError::InconsistentHistory { applied: k.clone(), dependency: p.clone() });
                }
            }
        }
        Ok((graph, applied))
    }

    /// Plans and runs `target` under the migration lock; returns every step with what
    /// happened to it.
    pub fn migrate(&mut self, target: &Target, options: MigrateOptions) -> Result<Vec<(Step, Outcome)>> {
        lock(self.conn)?;
        let out = self.migrate_locked(target, options);
        let unlocked = unlock(self.conn);
        let out = out?;
        unlocked?;
        Ok(out)
    }

    fn migrate_locked(&mut self, target: &Target, options: MigrateOptions) -> Result<Vec<(Step, Outcome)>> {
        Recorder::ensure_table(self.conn)?;
        let recorded = self.recorded()?;
        if let Some((key, recorded, current)) = edited(self.loader, &recorded).into_iter().next() {
            return Err(MigrationError::ChecksumMismatch { key, recorded, current });
        }
        let (graph, applied) = self.graph(&recorded)?;
        if let Some((app, leaves)) = graph.conflicts().into_iter().next() {
            return Err(MigrationError::Conflict { app, leaves: leaves.iter().map(|k| k.name.clone()).collect() });
        }
        let steps = plan(&graph, &applied, target)?;
        let mut out = Vec::new();
        for step in steps {
            let m = self.loader.get(&step.key).expect("planned from the loader");
            let before = self.loader.replay(ProjectState::new(), &ancestors(&graph, &step.key)?)?;
            let dir = if step.backwards { "Unapplying" } else { "Applying" };
            (self.progress)(&format!("{dir} {}...", step.key));
            let resume = recorded.get(&step.key).and_then(|a| a.progress).unwrap_or(0);
            let outcome = self.run(m, &before, step.backwards, options, resume as usize)?;
            let word = match outcome {
                Outcome::Done => "OK",
                Outcome::Faked => "FAKED",
                Outcome::Skipped => "already done by another run",
            };
            (self.progress)(&format!("  {} {word}", step.key));
            out.push((step, outcome));
        }
        Ok(out)
    }

    fn run(
        &mut self,
        m: &Migration,
        before: &ProjectState,
        backwards: bool,
        options: MigrateOptions,
        resume: usize,
    ) -> Result<Outcome> {
        if backwards && !options.fake {
            if let Some(op) = m.operations.iter().find(|o| !o.reversible()) {
                return Err(MigrationError::Irreversible { migration: m.key().to_string(), operation: op.describe() });
            }
        }
        let dialect = self.conn.dialect();
        let transactional = self.conn.features().can_rollback_ddl && m.atomic;
        let sqlite = dialect == Dialect::Sqlite;
        if sqlite {
            self.conn.execute_batch("PRAGMA foreign_keys = OFF")?;
        }
        let result = self.run_inner(m, before, backwards, options, resume, transactional);
        if result.is_err() && transactional && self.conn.transaction_depth() > 0 {
            let _ = self.conn.rollback();
        }
        if sqlite {
            let restored = self.conn.execute_batch("PRAGMA foreign_keys = ON");
            if result.is_ok() {
                restored?;
            }
        }
        result
    }

    fn run_inner(
        &mut self,
        m: &Migration,
        before: &ProjectState,
        backwards: bool,
        options: MigrateOptions,
        resume: usize,
        transactional: bool,
    ) -> Result<Outcome> {
        let key = m.key();
        if transactional {
            begin(self.conn)?;
            // Another run may have got here first (SQLite: this write transaction is the lock).
            let now = Recorder::applied(self.conn)?;
            let done = now.get(&key).is_some_and(|a| a.progress.is_none());
            if done != backwards {
                self.conn.commit()?;
                return Ok(Outcome::Skipped);
            }
        }
        let checksum = m.checksum();
        let mut outcome = Outcome::Done;
        if options.fake || (options.fake_initial && !backwards && m.initial && self.initial_tables_exist(m, before)?) {
            outcome = Outcome::Faked;
        } else if backwards {
            self.unapply_operations(m, before)?;
        } else {
            self.apply_operations(m, before, resume, transactional, &checksum)?;
        }
        if backwards {
            Recorder::record_unapplied(self.conn, &key)?;
        } else {
            Recorder::record_applied(self.conn, &key, &checksum)?;
        }
        if outcome == Outcome::Done {
            SchemaEditor::new(self.conn).sqlite_foreign_key_check(None)?;
        }
        if transactional {
            self.conn.commit()?;
        }
        Ok(outcome)
    }

    /// Django's `detect_soft_applied` for CreateModel: every table the migration creates on
    /// this database exists (models the routers keep elsewhere are not looked for); with
    /// routers, at least one must have been looked for.
    fn initial_tables_exist(&mut self, m: &Migration, before: &ProjectState) -> Result<bool> {
        let existing = orm_backends::schema::table_names(self.conn)?;
        let mut after = before.clone();
        m.apply_state(&mut after)?;
        let mut found = false;
        for op in &m.operations {
            if let Operation::CreateModel(c) = op {
                let label = format!("{}.{}", m.app, c.name);
                let model = after.get(&label)?;
                if !model.has_table() || !self.routing.allows(&m.app, Some(&model.name)) {
                    continue;
                }
                if !existing.contains(&c.table) {
                    return Ok(false);
                }
                found = true;
            }
        }
        Ok(found || !self.routing.is_routed())
    }

    fn apply_operations(
        &mut self,
        m: &Migration,
        before: &ProjectState,
        resume: usize,
        transactional: bool,
        checksum: &str,
    ) -> Result<()> {
        let key = m.key();
        if resume > 0 {
            (self.progress)(&format!("  resuming {key} after {resume} of {} operations", m.operations.len()));
        }
        let mut state = before.clone();
        for (i, op) in m.operations.iter().enumerate() {
            let mut next = state.clone();
            op.state_forwards(&m.app, &mut next)?;
            if i >= resume {
                let progress = &mut self.progress;
                let mut editor = SchemaEditor::new(&mut *self.conn)
                    .with_progress(|s| progress(s))
                    .with_routing(self.routing.clone());
                let r = op.database_forwards(&m.app, &mut editor, &state, &next, &self.ctx);
                drop(editor);
                if let Err(e) = r {
                    if transactional {
                        return Err(e);
                    }
                    return Err(partial_error(m, i, &e));
                }
                if !transactional {
                    Recorder::record_progress(self.conn, &key, checksum, i as i64 + 1)?;
                }
            }
            state = next;
        }
        Ok(())
    }

    fn unapply_operations(&mut self, m: &Migration, before: &ProjectState) -> Result<()> {
        let mut states = vec![before.clone()];
        for op in &m.operations {
            let mut next = states.last().expect("one state").clone();
            op.state_forwards(&m.app, &mut next)?;
            states.push(next);
        }
        for (i, op) in m.operations.iter().enumerate().rev() {
            let progress = &mut self.progress;
            let mut editor =
                SchemaEditor::new(&mut *self.conn).with_progress(|s| progress(s)).with_routing(self.routing.clone());
            op.database_backwards(&m.app, &mut editor, &states[i], &states[i + 1], &self.ctx).map_err(|e| match e {
                MigrationError::Irreversible { operation, .. } => {
                    MigrationError::Irreversible { migration: m.key().to_string(), operation }
                }
                other => other,
            })?;
        }
        Ok(())
    }
}

fn partial_error(m: &Migration, failed: usize, e: &MigrationError) -> MigrationError {
    let ops = m.describe();
    let mut msg = format!("{} failed at operation {} of {} ({}): {e}\n", m.key(), failed + 1, ops.len(), ops[failed]);
    if failed == 0 {
        msg.push_str("Nothing of it was applied.\n");
    } else {
        msg.push_str("This backend cannot roll back DDL, so these operations stay applied (and are recorded):\n");
        for (i, d) in ops.iter().enumerate().take(failed) {
            msg.push_str(&format!("  {}. {d}\n", i + 1));
        }
    }
    msg.push_str(&format!(
        "Fix the cause and run migrate again to resume at operation {}, or undo the applied operations by hand \
         and delete the row of {} from the orm_migrations table.",
        failed + 1,
        m.key()
    ));
    MigrationError::PartiallyApplied(msg)
}

/// Applied migrations whose file no longer matches the checksum recorded when they were applied
/// (a partly applied one may be fixed before it is resumed, so it is not checked).
pub fn edited(loader: &Loader, recorded: &BTreeMap<Key, Applied>) -> Vec<(Key, String, String)> {
    recorded
        .iter()
        .filter(|(_, a)| a.progress.is_none())
        .filter_map(|(k, a)| {
            let m = loader.get(k)?;
            let now = m.checksum();
            (now != a.checksum).then(|| (k.clone(), a.checksum.clone(), now))
        })
        .collect()
}

/// The ancestors of `key` (its forwards plan without itself).
fn ancestors(graph: &MigrationGraph, key: &Key) -> Result<Vec<Key>> {
    let mut p = graph.forwards_plan(key)?;
    p.pop();
    Ok(p)
}

/// The steps that take a database with `applied` migrations to `target`.
pub fn plan(graph: &MigrationGraph, applied: &BTreeSet<Key>, target: &Target) -> Result<Vec<Step>> {
    let mut out: Vec<Step> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut forwards = |leaf: &Key, out: &mut Vec<Step>| -> Result<()> {
        for k in graph.forwards_plan(leaf)? {
            if !applied.contains(&k) && seen.insert(k.clone()) {
                out.push(Step { key: k, backwards: false });
            }
        }
        Ok(())
    };
    let check_app = |app: &str| -> Result<()> {
        if graph.apps().contains(app) {
            Ok(())
        } else {
            Err(MigrationError::bad(format!("app `{app}` has no migrations")))
        }
    };
    match target {
        Target::All => {
            for app in graph.apps() {
                for leaf in graph.leaf_nodes(&app) {
                    forwards(&leaf, &mut out)?;
                }
            }
        }
        Target::App(app) => {
            check_app(app)?;
            for leaf in graph.leaf_nodes(app) {
                forwards(&leaf, &mut out)?;
            }
        }
        Target::To(key) if !applied.contains(key) => forwards(key, &mut out)?,
        Target::To(key) => {
            let mut back = BTreeSet::new();
            for child in graph.children(key).filter(|c| c.app == key.app) {
                for k in graph.backwards_plan(child)? {
                    if applied.contains(&k) && back.insert(k.clone()) {
                        out.push(Step { key: k, backwards: true });
                    }
                }
            }
        }
        Target::Zero(app) => {
            check_app(app)?;
            let mut back = BTreeSet::new();
            for root in graph.root_nodes(app) {
                for k in graph.backwards_plan(&root)? {
                    if applied.contains(&k) && back.insert(k.clone()) {
                        out.push(Step { key: k, backwards: true });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Opens the migration's transaction; on SQLite retries while another run holds the write
/// lock (the busy timeout alone is 5 s).
fn begin(conn: &mut dyn Connection) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        match conn.begin() {
            Ok(()) => return Ok(()),
            Err(e)
                if matches!(e.kind(), ErrorKind::Busy | ErrorKind::Timeout)
                    && conn.dialect() == Dialect::Sqlite
                    && std::time::Instant::now() < deadline => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Takes the run-wide migration lock (PostgreSQL advisory lock per schema, MySQL `GET_LOCK`
/// per database). SQLite serialises per migration instead (see the module doc).
fn lock(conn: &mut dyn Connection) -> Result<()> {
    match conn.dialect() {
        Dialect::Postgres => {
            conn.execute_batch("SELECT pg_advisory_lock(hashtext(current_schema() || '.orm_migrations'))")?;
        }
        Dialect::Mysql => {
            let got = conn
                .query_opt("SELECT GET_LOCK(LEFT(CONCAT('orm_migrations:', DATABASE()), 64), 600)", &[])?
                .map(|r| r.get::<Option<i64>>(0))
                .transpose()?
                .flatten();
            if got != Some(1) {
                return Err(MigrationError::Database(orm_backends::Error::new(
                    ErrorKind::Timeout,
                    "another migrate run held the migration lock (GET_LOCK) for 600 s",
                )));
            }
        }
        Dialect::Sqlite => {}
    }
    Ok(())
}

fn unlock(conn: &mut dyn Connection) -> Result<()> {
    match conn.dialect() {
        Dialect::Postgres => {
            conn.execute_batch("SELECT pg_advisory_unlock(hashtext(current_schema() || '.orm_migrations'))")?
        }
        Dialect::Mysql => {
            conn.query("SELECT RELEASE_LOCK(LEFT(CONCAT('orm_migrations:', DATABASE()), 64))", &[])?;
        }
        Dialect::Sqlite => {}
    }
    Ok(())
}

/// The SQL `migrate` would run for migration `key` on `dialect` (`sqlmigrate`), without a
/// database: statements are collected, not executed.
pub fn sql_for(loader: &Loader, key: &Key, dialect: Dialect, backwards: bool) -> Result<Vec<String>> {
    sql_for_routed(loader, key, dialect, backwards, &Routing::default())
}

/// [`sql_for`] on the database `routing` names: an operation its routers refuse there is
/// listed with `-- (skipped on database '<alias>': not allowed by the routers)` instead of
/// its statements (Django's `sqlmigrate --database`).
pub fn sql_for_routed(
    loader: &Loader,
    key: &Key,
    dialect: Dialect,
    backwards: bool,
    routing: &Routing,
) -> Result<Vec<String>> {
    let graph = loader.graph(&BTreeSet::new())?;
    let m = loader
        .get(key)
        .ok_or_else(|| MigrationError::NodeNotFound { node: key.clone(), origin: "sqlmigrate".into() })?;
    let before = loader.replay(ProjectState::new(), &ancestors(&graph, key)?)?;
    let ctx = Context::default();
    let mut out = Vec::new();
    let mut states = vec![before];
    for op in &m.operations {
        let mut next = states.last().expect("one state").clone();
        op.state_forwards(&m.app, &mut next)?;
        states.push(next);
    }
    let order: Vec<usize> =
        if backwards { (0..m.operations.len()).rev().collect() } else { (0..m.operations.len()).collect() };
    for i in order {
        let op = &m.operations[i];
        out.push(format!("-- {}", op.describe()));
        let mut editor = SchemaEditor::collect(dialect).with_routing(routing.clone());
        if (!backwards || op.reversible()) && !op.allowed_on(&m.app, routing, &states[i], &states[i + 1], backwards) {
            out.push(format!("-- (skipped on database '{}': not allowed by the routers)", routing.alias()));
            continue;
        }
        if backwards {
            if !op.reversible() {
                return Err(MigrationError::Irreversible { migration: key.to_string(), operation: op.describe() });
            }
            op.database_backwards(&m.app, &mut editor, &states[i], &states[i + 1], &ctx)?;
        } else {
            op.database_forwards(&m.app, &mut editor, &states[i], &states[i + 1], &ctx)?;
        }
        out.extend(editor.take_collected().into_iter().map(|s| format!("{s};")));
    }
    Ok(out)
}

/// Applies `ops` of `app` directly (no recorder, no history) from `state` on `conn`, the way
/// the executor applies a migration (one transaction where DDL rolls back; SQLite with
/// foreign keys off and checked afterwards); returns the state after. For tests and tools.
pub fn apply_operations(
    conn: &mut dyn Connection,
    app: &str,
    ops: &[Operation],
    state: &ProjectState,
    backwards: bool,
) -> Result<ProjectState> {
    let sqlite = conn.dialect() == Dialect::Sqlite;
    let transactional = conn.features().can_rollback_ddl;
    if sqlite {
        conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    }
    let r = (|| -> Result<ProjectState> {
        if transactional {
            conn.begin()?;
        }
        let ctx = Context::default();
        let mut states = vec![state.clone()];
        for op in ops {
            let mut next = states.last().expect("one state").clone();
            op.state_forwards(app, &mut next)?;
            states.push(next);
        }
        if backwards {
            for (i, op) in ops.iter().enumerate().rev() {
                let mut e = SchemaEditor::new(&mut *conn);
                op.database_backwards(app, &mut e, &states[i], &states[i + 1], &ctx)?;
            }
        } else {
            for (i, op) in ops.iter().enumerate() {
                let mut e = SchemaEditor::new(&mut *conn);
                op.database_forwards(app, &mut e, &states[i], &states[i + 1], &ctx)?;
            }
        }
        SchemaEditor::new(&mut *conn).sqlite_foreign_key_check(None)?;
        if transactional {
            conn.commit()?;
        }
        Ok(if backwards { states.swap_remove(0) } else { states.pop().expect("one state") })
    })();
    if r.is_err() && transactional && conn.transaction_depth() > 0 {
        let _ = conn.rollback();
    }
    if sqlite {
        conn.execute_batch("PRAGMA foreign_keys = ON")?;
    }
    r
}
