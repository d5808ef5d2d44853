//! `inspectdb`: model source for an existing database.

use super::{say, DatabaseChoice};
use crate::error::Result;
use crate::inspectdb::{inspect, source};
use std::io::Write;

/// Arguments of `inspectdb`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Args {
    /// Only these tables.
    pub tables: Vec<String>,
    /// The app label of the generated models.
    #[arg(long, default_value = "inspected")]
    pub app: String,
}

/// Prints the models of the tables of `db`.
pub fn run(db: &DatabaseChoice, args: &Args, out: &mut dyn Write) -> Result<i32> {
    let mut conn = db.connect()?;
    let models = inspect(&mut **conn, &args.app, &args.tables)?;
    say(out, source(&models).trim_end())?;
    Ok(0)
}
