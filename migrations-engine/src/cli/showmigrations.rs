//! `showmigrations`: every migration and whether it is applied.

use super::{say, DatabaseChoice, Registry};
use crate::error::Result;
use crate::executor::edited;
use crate::recorder::Recorder;
use orm_backends::Connection;
use std::collections::BTreeSet;
use std::io::Write;

/// Arguments of `showmigrations`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Args {
    /// Only these apps.
    pub apps: Vec<String>,
}

/// Runs `showmigrations` on `db` (what its own recorder holds): `[X]` applied, `[ ]` not,
/// `[~]` partly (with how far), and a note on applied migrations edited since.
pub fn run(registry: &Registry, db: &DatabaseChoice, args: &Args, out: &mut dyn Write) -> Result<i32> {
    let mut conn = db.connect()?;
    show(registry, &mut **conn, args, out)?;
    Ok(0)
}

/// Writes the listing for the database behind `conn`.
pub fn show(registry: &Registry, conn: &mut dyn Connection, args: &Args, out: &mut dyn Write) -> Result<()> {
    let loader = registry.loader()?;
    let recorded = Recorder::applied(conn)?;
    let complete: BTreeSet<_> = recorded.iter().filter(|(_, a)| a.progress.is_none()).map(|(k, _)| k.clone()).collect();
    let applied = loader.effective_applied(&complete);
    let graph = loader.graph(&complete)?;
    let edits = edited(&loader, &recorded);
    let plan = loader.full_plan(&graph)?;
    let mut apps: BTreeSet<String> = registry.apps().into_iter().collect();
    apps.extend(loader.apps());
    for app in apps.iter().filter(|a| args.apps.is_empty() || args.apps.contains(a)) {
        say(out, app)?;
        let mine: Vec<_> = plan.iter().filter(|k| k.app == *app).collect();
        if mine.is_empty() {
            say(out, " (no migrations)")?;
        }
        for k in mine {
            let m = loader.get(k).expect("planned from the loader");
            let (mark, note) = match recorded.get(k).and_then(|a| a.progress) {
                Some(n) => ("[~]", format!(" ({n} of {} operations applied)", m.operations.len())),
                None if applied.contains(k) => ("[X]", String::new()),
                None => ("[ ]", String::new()),
            };
            let edit = if edits.iter().any(|(e, _, _)| e == k) { " (edited after it was applied)" } else { "" };
            let squashed = if m.replaces.is_empty() {
                String::new()
            } else {
                format!(" ({} squashed migrations)", m.replaces.len())
            };
            say(out, format!(" {mark} {}{squashed}{note}{edit}", k.name))?;
        }
    }
    Ok(())
}
