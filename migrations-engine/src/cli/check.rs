//! `check`: drift between the models, the migration history and the live database, reported
//! pairwise (beyond Django, which only compares models and history).
//!
//! On one database of several, the database is compared with the tables of the models its
//! routers allow there ([`drift_routed`]); the models and the history are compared whole, and
//! every migration must be recorded on every database (as `migrate` records them all).

use super::{say, DatabaseChoice, Registry};
use crate::error::Result;
use crate::executor::edited;
use crate::recorder::{Recorder, TABLE};
use crate::routing::Routing;
use crate::state::ProjectState;
use orm_backends::schema::{introspect_table, normalize_for, table_names, TableDef};
use orm_backends::{Connection, Dialect};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// Arguments of `check`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Args {}

/// One difference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// Which two sources differ: `models/history`, `history/database`, `models/database`.
    pub between: &'static str,
    /// What differs.
    pub detail: String,
}

/// Every difference between the tables two sources describe, after `dialect`'s
/// normalisation.
pub fn diff_tables(dialect: Dialect, left: &[TableDef], right: &[TableDef], names: (&str, &str)) -> Vec<String> {
    let l: BTreeMap<&str, TableDef> = left.iter().map(|t| (t.name.as_str(), normalize_for(dialect, t))).collect();
    let r: BTreeMap<&str, TableDef> = right.iter().map(|t| (t.name.as_str(), normalize_for(dialect, t))).collect();
    let mut out = Vec::new();
    for (name, a) in &l {
        let Some(b) = r.get(name) else {
            out.push(format!("table {name} is in the {} but not in the {}", names.0, names.1));
            continue;
        };
        for c in &a.columns {
            match b.column_named(&c.name) {
                None => out.push(format!("column {name}.{} is in the {} but not in the {}", c.name, names.0, names.1)),
                Some(d) if d != c => out.push(format!(
                    "column {name}.{} differs: {:?} in the {} vs {:?} in the {}",
                    c.name, c, names.0, d, names.1
                )),
                _ => {}
            }
        }
        for c in b.columns.iter().filter(|c| a.column_named(&c.name).is_none()) {
            out.push(format!("column {name}.{} is in the {} but not in the {}", c.name, names.1, names.0));
        }
        if a.primary_key != b.primary_key {
            out.push(format!("primary key of {name} differs: {:?} vs {:?}", a.primary_key, b.primary_key));
        }
        let parts = [
            ("index", fmt_all(&a.indexes), fmt_all(&b.indexes)),
            ("unique constraint", fmt_all(&a.uniques), fmt_all(&b.uniques)),
            ("check constraint", fmt_all(&a.checks), fmt_all(&b.checks)),
            ("foreign key", fmt_all(&a.foreign_keys), fmt_all(&b.foreign_keys)),
        ];
        for (what, x, y) in parts {
            for i in x.iter().filter(|i| !y.contains(i)) {
                out.push(format!("{what} {i} on {name} is in the {} but not in the {}", names.0, names.1));
            }
            for i in y.iter().filter(|i| !x.contains(i)) {
                out.push(format!("{what} {i} on {name} is in the {} but not in the {}", names.1, names.0));
            }
        }
    }
    for name in r.keys().filter(|n| !l.contains_key(*n)) {
        out.push(format!("table {name} is in the {} but not in the {}", names.1, names.0));
    }
    out
}

fn fmt_all<T: std::fmt::Debug>(v: &[T]) -> Vec<String> {
    v.iter().map(|x| format!("{x:?}")).collect()
}

/// The tables of the current database (without the recorder's).
pub fn database_tables(conn: &mut dyn Connection) -> Result<Vec<TableDef>> {
    let mut out = Vec::new();
    for n in table_names(conn)?.into_iter().filter(|n| n != TABLE) {
        out.extend(introspect_table(conn, &n)?);
    }
    Ok(out)
}

/// The tables of `state` that belong on the database `routing` names: those of the models its
/// routers allow there, with their join tables.
pub fn routed_tables(state: &ProjectState, routing: &Routing) -> Result<Vec<TableDef>> {
    let all = state.tables()?;
    if !routing.is_routed() {
        return Ok(all);
    }
    let mut keep = BTreeSet::new();
    for (label, m) in &state.models {
        if m.has_table() && routing.allows(&m.app, Some(&m.name)) {
            keep.insert(m.table.clone());
            keep.extend(state.join_table_defs(label)?.into_iter().map(|(_, t)| t.name));
        }
    }
    Ok(all.into_iter().filter(|t| keep.contains(&t.name)).collect())
}

/// Every difference between models, history and database.
pub fn drift(registry: &Registry, conn: &mut dyn Connection) -> Result<Vec<Drift>> {
    drift_routed(registry, conn, &Routing::default())
}

/// [`drift`] on the database `routing` names (`conn` is a connection to it): its tables are
/// compared with those of the models its routers allow there ([`routed_tables`]).
pub fn drift_routed(registry: &Registry, conn: &mut dyn Connection, routing: &Routing) -> Result<Vec<Drift>> {
    let dialect = conn.dialect();
    let loader = registry.loader()?;
    let recorded = Recorder::applied(conn)?;
    let complete: BTreeSet<_> = recorded.iter().filter(|(_, a)| a.progress.is_none()).map(|(k, _)| k.clone()).collect();
    let graph = loader.graph(&complete)?;
    let applied = loader.effective_applied(&complete);
    let plan = loader.full_plan(&graph)?;
    let history = loader.replay(ProjectState::new(), &plan)?;
    let applied_plan: Vec<_> = plan.iter().filter(|k| applied.contains(*k)).cloned().collect();
    let applied_state = loader.replay(ProjectState::new(), &applied_plan)?;
    let models = registry.model_state();
    let mut out = Vec::new();
    let mh = "models/history";
    for (label, m) in &models.models {
        match history.model(label) {
            None => out.push(Drift { between: mh, detail: format!("model {label} has no migration") }),
            Some(h) if h != m => out.push(Drift {
                between: mh,
                detail: format!("model {label} differs from its migrations (run makemigrations)"),
            }),
            _ => {}
        }
    }
    for label in history.models.keys().filter(|l| models.model(l).is_none()) {
        out.push(Drift { between: mh, detail: format!("model {label} is in the migrations but not in the models") });
    }
    let hd = "history/database";
    for k in plan.iter().filter(|k| !applied.contains(*k)) {
        out.push(Drift { between: hd, detail: format!("migration {k} is not applied") });
    }
    for (k, a) in &recorded {
        if let Some(n) = a.progress {
            out.push(Drift { between: hd, detail: format!("migration {k} is partly applied ({n} operations)") });
        }
        if loader.get(k).is_none() && !loader.migrations().any(|m| m.replaces.contains(k)) {
            out.push(Drift { between: hd, detail: format!("migration {k} is recorded but has no file") });
        }
    }
    for (k, rec, now) in edited(&loader, &recorded) {
        out.push(Drift { between: hd, detail: format!("applied migration {k} was edited (checksum {rec} → {now})") });
    }
    let db = database_tables(conn)?;
    let applied_tables = routed_tables(&applied_state, routing)?;
    for d in diff_tables(dialect, &applied_tables, &db, ("applied migrations", "database")) {
        out.push(Drift { between: hd, detail: d });
    }
    for d in diff_tables(dialect, &routed_tables(&models, routing)?, &db, ("models", "database")) {
        out.push(Drift { between: "models/database", detail: d });
    }
    Ok(out)
}

/// Runs `check` on `db` (with its routers): exit status 1 when anything differs.
pub fn run(registry: &Registry, db: &DatabaseChoice, _args: &Args, out: &mut dyn Write) -> Result<i32> {
    let mut conn = db.connect()?;
    let found = drift_routed(registry, &mut **conn, &db.routing())?;
    if found.is_empty() {
        say(out, "No drift: models, migrations and database agree.")?;
        return Ok(0);
    }
    for d in &found {
        say(out, format!("[{}] {}", d.between, d.detail))?;
    }
    Ok(1)
}
