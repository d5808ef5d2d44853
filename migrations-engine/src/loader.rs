//! [`Loader`]: the migrations of a project, read from a directory at run time or embedded in
//! the binary at compile time ([`embed_migrations!`](crate::embed_migrations)), and the graph
//! and states they make.
//!
//! Files live in `<dir>/<app>/<name>.json`; `<dir>/embed.rs` is a manifest the writer keeps up
//! to date so the macro can `include_str!` every file without a build script.

use crate::error::{Key, MigrationError, Result};
use crate::graph::MigrationGraph;
use crate::migration::Migration;
use crate::state::ProjectState;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Migration files compiled into the binary: `(app, name, JSON text)`.
#[derive(Clone, Copy, Debug)]
pub struct Embedded(pub &'static [(&'static str, &'static str, &'static str)]);

/// Compiles the migration files of a directory (relative to the crate's `Cargo.toml`) into the
/// binary, through the `embed.rs` manifest `makemigrations` writes there.
///
/// Not run as a doctest: the macro reads a directory of migration files at compile time,
/// which a doctest does not have; `examples/blog` (run by `.ci/run`) embeds a real one.
///
/// ```ignore
/// static MIGRATIONS: orm_migrations::loader::Embedded = orm_migrations::embed_migrations!("migrations");
/// ```
#[macro_export]
macro_rules! embed_migrations {
    ($dir:literal) => {
        $crate::loader::Embedded(include!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $dir, "/embed.rs")))
    };
}

/// Every migration of a project.
#[derive(Clone, Debug, Default)]
pub struct Loader {
    migrations: BTreeMap<Key, Migration>,
}

impl Loader {
    /// A loader over the given migrations (two with one key are an error).
    pub fn new(migrations: Vec<Migration>) -> Result<Self> {
        let mut map = BTreeMap::new();
        for m in migrations {
            let key = m.key();
            if map.insert(key.clone(), m).is_some() {
                return Err(MigrationError::bad(format!("migration {key} is defined twice")));
            }
        }
        Ok(Loader { migrations: map })
    }

    /// Reads `<dir>/<app>/*.json`. A missing directory holds no migrations.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut found = Vec::new();
        if !dir.exists() {
            return Ok(Loader::default());
        }
        let mut apps: Vec<_> = std::fs::read_dir(dir).map_err(|e| MigrationError::io(dir, e))?.flatten().collect();
        apps.sort_by_key(|e| e.file_name());
        for app in apps {
            let path = app.path();
            if !path.is_dir() {
                continue;
            }
            let app_name = app.file_name().to_string_lossy().into_owned();
            let mut files: Vec<_> =
                std::fs::read_dir(&path).map_err(|e| MigrationError::io(&path, e))?.flatten().collect();
            files.sort_by_key(|e| e.file_name());
            for f in files {
                let p = f.path();
                if p.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let text = std::fs::read_to_string(&p).map_err(|e| MigrationError::io(&p, e))?;
                let name = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
                found.push(parse(&app_name, &name, &text, &p.display().to_string())?);
            }
        }
        Loader::new(found)
    }

    /// The migrations compiled in with [`embed_migrations!`](crate::embed_migrations).
    pub fn from_embedded(files: &Embedded) -> Result<Self> {
        let mut found = Vec::new();
        for (app, name, text) in files.0 {
            found.push(parse(app, name, text, &format!("embedded {app}/{name}.json"))?);
        }
        Loader::new(found)
    }

    /// Every migration, by key.
    pub fn migrations(&self) -> impl Iterator<Item = &Migration> {
        self.migrations.values()
    }

    /// The migration `key`.
    pub fn get(&self, key: &Key) -> Option<&Migration> {
        self.migrations.get(key)
    }

    /// Adds (or replaces) a migration.
    pub fn insert(&mut self, m: Migration) {
        self.migrations.insert(m.key(), m);
    }

    /// The migration of `app` whose name is `prefix` or starts with it.
    pub fn by_prefix(&self, app: &str, prefix: &str) -> Result<&Migration> {
        if let Some(m) = self.migrations.get(&Key::new(app, prefix)) {
            return Ok(m);
        }
        let found: Vec<&Migration> =
            self.migrations.values().filter(|m| m.app == app && m.name.starts_with(prefix)).collect();
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(MigrationError::NodeNotFound { node: Key::new(app, prefix), origin: "the command line".into() }),
            many => Err(MigrationError::AmbiguousName {
                app: app.to_owned(),
                prefix: prefix.to_owned(),
                candidates: many.iter().map(|m| m.name.clone()).collect(),
            }),
        }
    }

    /// The apps with migrations.
    pub fn apps(&self) -> BTreeSet<String> {
        self.migrations.keys().map(|k| k.app.clone()).collect()
    }

    /// The applied set as the graph sees it: `recorded` plus every squashed migration whose
    /// replaced migrations are all recorded.
    pub fn effective_applied(&self, recorded: &BTreeSet<Key>) -> BTreeSet<Key> {
        let mut out = recorded.clone();
        for m in self.migrations.values().filter(|m| !m.replaces.is_empty()) {
            if m.replaces.iter().all(|r| recorded.contains(r)) {
                out.insert(m.key());
            }
        }
        out
    }

    /// The dependency graph. A squashed migration stands for the migrations it replaces when
    /// all or none of them are applied; when only some are, the originals are used.
    pub fn graph(&self, recorded: &BTreeSet<Key>) -> Result<MigrationGraph> {
        let mut replaced_by: BTreeMap<Key, Key> = BTreeMap::new();
        let mut skip: BTreeSet<Key> = BTreeSet::new();
        for m in self.migrations.values().filter(|m| !m.replaces.is_empty()) {
            let applied = m.replaces.iter().filter(|r| recorded.contains(*r)).count();
            if applied == 0 || applied == m.replaces.len() {
                for r in &m.replaces {
                    replaced_by.insert(r.clone(), m.key());
                    skip.insert(r.clone());
                }
            } else {
                skip.insert(m.key());
            }
        }
        let mut g = MigrationGraph::new();
        for k in self.migrations.keys().filter(|k| !skip.contains(*k)) {
            g.add_node(k.clone());
        }
        for (k, m) in self.migrations.iter().filter(|(k, _)| !skip.contains(*k)) {
            for d in &m.dependencies {
                let d = replaced_by.get(d).unwrap_or(d);
                if d == k || m.replaces.contains(d) {
                    continue;
                }
                if !g.contains(d) {
                    return Err(MigrationError::NodeNotFound {
                        node: d.clone(),
                        origin: format!("dependencies of {k}"),
                    });
                }
                g.add_dependency(k, d)?;
            }
        }
        g.ensure_acyclic()?;
        Ok(g)
    }

    /// The state after applying `nodes` in order, starting from `state`.
    pub fn replay(&self, mut state: ProjectState, nodes: &[Key]) -> Result<ProjectState> {
        for k in nodes {
            let m = self
                .get(k)
                .ok_or_else(|| MigrationError::NodeNotFound { node: k.clone(), origin: "the state replay".into() })?;
            m.apply_state(&mut state).map_err(|e| MigrationError::bad(format!("replaying {k}: {e}")))?;
        }
        Ok(state)
    }

    /// Every node of `graph` in an order that applies dependencies first (apps sorted, then
    /// each app's leaves).
    pub fn full_plan(&self, graph: &MigrationGraph) -> Result<Vec<Key>> {
        let mut out: Vec<Key> = Vec::new();
        let mut seen = BTreeSet::new();
        for app in graph.apps() {
            for leaf in graph.leaf_nodes(&app) {
                for k in graph.forwards_plan(&leaf)? {
                    if seen.insert(k.clone()) {
                        out.push(k);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The state after every migration of the history (what the database should hold when
    /// fully migrated).
    pub fn project_state(&self, graph: &MigrationGraph) -> Result<ProjectState> {
        self.replay(ProjectState::new(), &self.full_plan(graph)?)
    }
}

fn parse(app: &str, name: &str, text: &str, origin: &str) -> Result<Migration> {
    let mut m: Migration =
        serde_json::from_str(text).map_err(|e| MigrationError::bad(format!("{origin}: not a migration: {e}")))?;
    if m.app.is_empty() {
        m.app = app.to_owned();
    }
    if m.name.is_empty() {
        m.name = name.to_owned();
    }
    if m.app != app || m.name != name {
        return Err(MigrationError::bad(format!(
            "{origin}: the file says it is {}.{}, its path says {app}.{name}",
            m.app, m.name
        )));
    }
    Ok(m)
}
