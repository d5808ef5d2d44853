//! `migrate`: apply or unapply migrations.

use super::{say, DatabaseChoice, Registry};
use crate::error::{Key, Result};
use crate::executor::{Executor, MigrateOptions, Outcome, Target};
use std::io::Write;

/// Arguments of `migrate`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Args {
    /// Only this app.
    pub app: Option<String>,
    /// Go to this migration of the app (a name or unique prefix), or `zero` to unapply all.
    pub target: Option<String>,
    /// Show the plan, change nothing.
    #[arg(long)]
    pub plan: bool,
    /// Record the migrations as applied (or unapplied) without running them.
    #[arg(long)]
    pub fake: bool,
    /// Record initial migrations whose tables already exist without running them.
    #[arg(long)]
    pub fake_initial: bool,
}

/// The target the arguments name.
pub fn target(registry: &Registry, args: &Args) -> Result<Target> {
    let loader = registry.loader()?;
    Ok(match (&args.app, &args.target) {
        (None, _) => Target::All,
        (Some(app), None) => Target::App(app.clone()),
        (Some(app), Some(t)) if t == "zero" => Target::Zero(app.clone()),
        (Some(app), Some(t)) => Target::To(Key::new(app.clone(), loader.by_prefix(app, t)?.name.clone())),
    })
}

/// Runs `migrate` on `db`: its own recorder, its routers' `allow_migrate` (see the
/// [`cli` doc](super#which-database-a-url-or-an-alias)).
pub fn run(registry: &Registry, db: &DatabaseChoice, args: &Args, out: &mut dyn Write) -> Result<i32> {
    let loader = registry.loader()?;
    let target = target(registry, args)?;
    let mut conn = db.connect()?;
    let mut exec = Executor::new(&mut **conn, &loader)
        .with_context(registry.context())
        .with_routing(db.routing())
        .with_progress(|line| println!("{line}"));
    if args.plan {
        let plan = exec.plan(&target)?;
        drop(exec);
        say(out, "Planned operations:")?;
        if plan.is_empty() {
            say(out, "  No planned migration operations.")?;
        }
        for step in plan {
            let m = loader.get(&step.key).expect("planned from the loader");
            let dir = if step.backwards { "Unapply" } else { "Apply" };
            say(out, format!("{dir} {}", step.key))?;
            for d in m.describe() {
                let warn = if step.backwards && !m.reversible() { " (IRREVERSIBLE)" } else { "" };
                say(out, format!("    {d}{warn}"))?;
            }
        }
        return Ok(0);
    }
    let options = MigrateOptions { fake: args.fake, fake_initial: args.fake_initial };
    let steps = exec.migrate(&target, options)?;
    drop(exec);
    if steps.is_empty() {
        say(out, "No migrations to apply.")?;
    } else {
        let done = steps.iter().filter(|(_, o)| *o != Outcome::Skipped).count();
        say(out, format!("{done} migration(s) run."))?;
    }
    Ok(0)
}
