//! `makemigrations`: detect model changes and write migrations (or only report them).

use super::{say, Registry};
use crate::autodetector::{detect_changes, Dependency, Hints};
use crate::error::{Key, MigrationError, Result};
use crate::loader::Loader;
use crate::migration::Migration;
use crate::questioner::{default_questioner, Questioner};
use crate::writer;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// Arguments of `makemigrations`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Args {
    /// Only these apps.
    pub apps: Vec<String>,
    /// The migration's name (without its number).
    #[arg(long)]
    pub name: Option<String>,
    /// Write an empty migration (for RunSql / RunRust) in the given app.
    #[arg(long)]
    pub empty: bool,
    /// Write nothing; exit non-zero when the models have changes without migrations.
    #[arg(long)]
    pub check: bool,
    /// Show what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Merge conflicting leaf migrations (two leaves in one app).
    #[arg(long)]
    pub merge: bool,
}

/// Runs `makemigrations` with the terminal's questioner (or none without a terminal).
pub fn run(registry: &Registry, args: &Args, out: &mut dyn Write) -> Result<i32> {
    let mut q = default_questioner();
    let made = make(registry, args, q.as_mut())?;
    if made.is_empty() {
        say(out, "No changes detected")?;
        return Ok(0);
    }
    for m in &made {
        let verb = if args.check || args.dry_run { "Would write" } else { "Wrote" };
        say(out, format!("{verb} {}:", m.key()))?;
        for d in m.describe() {
            say(out, format!("  - {d}"))?;
        }
    }
    if args.dry_run && !args.check {
        for m in &made {
            say(out, writer::to_json(m))?;
        }
    }
    Ok(if args.check { 1 } else { 0 })
}

/// Plans the migrations the models need and (unless `check` or `dry_run`) writes them;
/// returns them.
pub fn make(registry: &Registry, args: &Args, q: &mut dyn Questioner) -> Result<Vec<Migration>> {
    let loader = registry.loader()?;
    let graph = loader.graph(&BTreeSet::new())?;
    let conflicts = graph.conflicts();
    let mut made = Vec::new();
    if args.merge {
        for (app, leaves) in conflicts {
            made.push(merge_migration(&loader, &app, &leaves, args.name.as_deref()));
        }
        if made.is_empty() {
            return Ok(made);
        }
        return finish(registry, args, made);
    }
    if let Some((app, leaves)) = conflicts.into_iter().next() {
        return Err(MigrationError::Conflict { app, leaves: leaves.into_iter().map(|k| k.name).collect() });
    }
    let leaves: BTreeMap<String, Key> =
        graph.apps().into_iter().filter_map(|a| graph.leaf_nodes(&a).into_iter().next().map(|k| (a, k))).collect();
    if args.empty {
        let app = args
            .apps
            .first()
            .ok_or_else(|| MigrationError::bad("makemigrations --empty needs an app: makemigrations --empty <app>"))?;
        let number = writer::next_number(&loader, app);
        let name = format!("{number:04}_{}", args.name.clone().unwrap_or_else(|| "custom".to_owned()));
        let mut m = Migration::new(app.clone(), name);
        m.dependencies.extend(leaves.get(app).cloned());
        return finish(registry, args, vec![m]);
    }
    let history = loader.project_state(&graph)?;
    let models = registry.model_state();
    let hints = Hints::from_models(&registry.models);
    let mut planned = detect_changes(&history, &models, &hints, q, &leaves)?;
    if !args.apps.is_empty() {
        planned.retain(|p| args.apps.contains(&p.app));
    }
    // Name them: numbers follow each app's history.
    let mut numbers: BTreeMap<String, u32> = BTreeMap::new();
    let mut names: BTreeMap<(String, usize), String> = BTreeMap::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let single = planned.len() == 1;
    for p in &planned {
        let n = numbers.entry(p.app.clone()).or_insert_with(|| writer::next_number(&loader, &p.app));
        let name = match (&args.name, single) {
            (Some(custom), true) => format!("{n:04}_{custom}"),
            _ => writer::suggest_name(*n, p.initial, &p.operations),
        };
        let i = index.entry(p.app.clone()).or_insert(0);
        names.insert((p.app.clone(), *i), name);
        *i += 1;
        *n += 1;
    }
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for p in planned {
        let i = index.entry(p.app.clone()).or_insert(0);
        let name = names[&(p.app.clone(), *i)].clone();
        *i += 1;
        let mut m = Migration::new(p.app.clone(), name);
        m.initial = p.initial;
        for d in p.dependencies {
            let key = match d {
                Dependency::Existing(k) => k,
                Dependency::Planned { app, index } => match names.get(&(app.clone(), index)) {
                    Some(n) => Key::new(app, n.clone()),
                    // Filtered out by the app list: depend on that app's latest instead.
                    None => match leaves.get(&app) {
                        Some(k) => k.clone(),
                        None => continue,
                    },
                },
            };
            if !m.dependencies.contains(&key) {
                m.dependencies.push(key);
            }
        }
        m.operations = p.operations;
        made.push(m);
    }
    finish(registry, args, made)
}

fn finish(registry: &Registry, args: &Args, made: Vec<Migration>) -> Result<Vec<Migration>> {
    if args.check || args.dry_run {
        return Ok(made);
    }
    let dir = registry
        .migrations_dir
        .as_ref()
        .ok_or_else(|| MigrationError::bad("no migrations directory: set Registry::migrations_dir"))?;
    for m in &made {
        writer::write(dir, m)?;
    }
    Ok(made)
}

/// A migration joining `leaves` of `app`.
fn merge_migration(loader: &Loader, app: &str, leaves: &[Key], name: Option<&str>) -> Migration {
    let number = writer::next_number(loader, app);
    let name = match name {
        Some(n) => format!("{number:04}_{n}"),
        None => {
            let parts: Vec<String> =
                leaves.iter().map(|k| k.name.split('_').next().unwrap_or_default().to_owned()).collect();
            format!("{number:04}_merge_{}", parts.join("_"))
        }
    };
    let mut m = Migration::new(app, name);
    m.dependencies = leaves.to_vec();
    m
}
