//! `squashmigrations`: one migration standing for a range of an app's migrations.

use crate::error::{Key, MigrationError, Result};
use crate::loader::Loader;
use crate::migration::Migration;
use crate::optimizer::optimize;
use std::collections::BTreeSet;

/// Squashes the migrations of `app` from `from` to `to` (names or unique prefixes, in graph
/// order) into one that `replaces` them: their operations, optimized, with their outside
/// dependencies. The originals stay until every database has applied the squashed one.
pub fn squash(loader: &Loader, app: &str, from: &str, to: &str) -> Result<Migration> {
    let from = loader.by_prefix(app, from)?.key();
    let to = loader.by_prefix(app, to)?.key();
    let graph = loader.graph(&BTreeSet::new())?;
    let plan = graph.forwards_plan(&to)?;
    let start = plan
        .iter()
        .position(|k| *k == from)
        .ok_or_else(|| MigrationError::bad(format!("{from} does not come before {to}")))?;
    let range: Vec<Key> = plan[start..].iter().filter(|k| k.app == app).cloned().collect();
    let inside: BTreeSet<&Key> = range.iter().collect();
    let mut ops = Vec::new();
    let mut deps: Vec<Key> = Vec::new();
    let mut atomic = true;
    let first = loader.get(&range[0]).expect("planned from the loader");
    for k in &range {
        let m = loader.get(k).expect("planned from the loader");
        ops.extend(m.operations.iter().cloned());
        atomic &= m.atomic;
        for d in &m.dependencies {
            if !inside.contains(d) && !deps.contains(d) {
                deps.push(d.clone());
            }
        }
    }
    let number = to.name.split('_').next().unwrap_or("0000");
    let first_number = from.name.split('_').next().unwrap_or("0000");
    let mut m = Migration::new(app, format!("{first_number}_squashed_{number}"));
    m.initial = first.initial;
    m.atomic = atomic;
    m.dependencies = deps;
    m.replaces = range;
    m.operations = optimize(ops, app);
    Ok(m)
}
