//! Runs workloads on every implementation, interleaved, and takes medians.
//!
//! For each case (workload and size) the harness first runs every implementation once
//! (warm-up, which also primes statement caches), picks an iteration count from the raw
//! driver's time so one measurement lasts about [`Config::target`], then takes
//! [`Config::runs`] measurements of each implementation, rotating the order every run so
//! machine drift hits all alike. A cell is the median over runs of the mean time per
//! iteration.
//!
//! A ratio between two implementations is the median of their per-run ratios, not the ratio
//! of their medians: within a run the two are measured within a few tens of milliseconds of
//! each other (the order rotates, so not always adjacent), so a change of the
//! machine's speed between runs (this project's 2-core machines have slow and fast periods of
//! a second or more, seen as a 1.8x swing of the raw driver's own time) cancels out of each
//! per-run ratio, where it would skew a ratio of medians whose middle runs fell in different
//! periods.
//!
//! Setup is untimed and goes through each implementation's own connection; the harness
//! tracks what data each database holds and refills only when a case needs other data.

use crate::rss::PeakRss;
use crate::schema::{
    self, ASSOC_USERS, CASCADE_COMMENTS_PER_POST, CASCADE_POSTS_PER_USER, CASCADE_USERS, COMMENTS_PER_POST,
    POSTS_PER_USER,
};
use crate::{NotAvailable, Result, Target, Workloads, IMPLEMENTATIONS};
use std::time::{Duration, Instant};

/// A workload of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Load all users.
    TrivialQuery,
    /// Users LEFT JOIN posts, filtered.
    MediumComplexQuery,
    /// Users, their posts, their comments.
    Associations,
    /// Insert `n` users.
    Insert,
    /// Insert `n` users in one transaction.
    BatchInsert,
    /// Update rows one by one by primary key.
    UpdateByPk,
    /// Update rows in bulk.
    BulkUpdate,
    /// Delete with a filter.
    Delete,
    /// Delete with a filter from tables whose foreign keys cascade in the database.
    DeleteDbCascade,
    /// Stream every row.
    Stream,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 10] = [
        Workload::TrivialQuery,
        Workload::MediumComplexQuery,
        Workload::Associations,
        Workload::Insert,
        Workload::BatchInsert,
        Workload::UpdateByPk,
        Workload::BulkUpdate,
        Workload::Delete,
        Workload::DeleteDbCascade,
        Workload::Stream,
    ];

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Workload::TrivialQuery => "trivial_query",
            Workload::MediumComplexQuery => "medium_complex_query",
            Workload::Associations => "loading_associations_sequentially",
            Workload::Insert => "insert",
            Workload::BatchInsert => "batch_insert",
            Workload::UpdateByPk => "update_by_pk",
            Workload::BulkUpdate => "bulk_update",
            Workload::Delete => "delete",
            Workload::DeleteDbCascade => "delete_db_cascade",
            Workload::Stream => "stream",
        }
    }

    /// The workload called `name` (or a unique prefix of it; `assoc…` for the associations).
    pub fn parse(name: &str) -> Option<Workload> {
        if name.starts_with("assoc") {
            return Some(Workload::Associations);
        }
        if let Some(w) = Workload::ALL.iter().find(|w| w.name() == name) {
            return Some(*w);
        }
        let mut it = Workload::ALL.iter().filter(|w| w.name().starts_with(name));
        match (it.next(), it.next()) {
            (Some(w), None) => Some(*w),
            _ => None,
        }
    }
}

/// One workload at one size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    /// The workload.
    pub workload: Workload,
    /// Its size: rows loaded, inserted, updated or streamed; users for the associations.
    pub size: usize,
}

impl Case {
    /// The report's `rows` cell.
    pub fn rows_label(&self) -> String {
        match self.workload {
            Workload::Associations => format!("{}x{POSTS_PER_USER}x{COMMENTS_PER_POST}", self.size),
            Workload::DeleteDbCascade => {
                format!("{}x{CASCADE_POSTS_PER_USER}x{CASCADE_COMMENTS_PER_POST}", self.size)
            }
            _ => self.size.to_string(),
        }
    }

    /// The data the case reads (its setup).
    fn data(&self) -> Data {
        match self.workload {
            Workload::TrivialQuery => Data::Users { n: self.size, colored: false },
            Workload::Associations => Data::Associations,
            Workload::DeleteDbCascade => Data::Cascade,
            Workload::Insert | Workload::BatchInsert => Data::Unknown,
            _ => Data::Users { n: self.size, colored: true },
        }
    }
}

/// The suite: every case of issues 7 and 21, streaming `stream_rows` rows.
pub fn cases(stream_rows: usize) -> Vec<Case> {
    let c = |workload, size| Case { workload, size };
    vec![
        c(Workload::TrivialQuery, 1),
        c(Workload::TrivialQuery, 100),
        c(Workload::TrivialQuery, 10_000),
        c(Workload::MediumComplexQuery, 1),
        c(Workload::MediumComplexQuery, 100),
        c(Workload::MediumComplexQuery, 10_000),
        c(Workload::Associations, ASSOC_USERS),
        c(Workload::Insert, 1),
        c(Workload::Insert, 100),
        c(Workload::Insert, 1_000),
        c(Workload::BatchInsert, 10_000),
        c(Workload::UpdateByPk, 100),
        c(Workload::BulkUpdate, 100),
        c(Workload::Delete, 100),
        c(Workload::DeleteDbCascade, CASCADE_USERS),
        c(Workload::Stream, stream_rows),
    ]
}

/// What a database holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Data {
    Unknown,
    Users {
        n: usize,
        colored: bool,
    },
    Associations,
    /// The `cascade_*` tables' users, posts and comments.
    Cascade,
}

/// How long and how often to measure.
#[derive(Clone, Debug)]
pub struct Config {
    /// Measurements per implementation and case (the median is reported).
    pub runs: usize,
    /// Measurements of the streaming case.
    pub stream_runs: usize,
    /// About how long one measurement of the raw driver lasts.
    pub target: Duration,
    /// Iteration cap for workloads with untimed setup per iteration (the deletes).
    pub max_setup_iters: u32,
    /// Print each measurement to stderr.
    pub verbose: bool,
    /// Iterations per measurement instead of calibrating (profiling runs).
    pub fixed_iters: Option<u32>,
}

impl Config {
    /// `--quick`: 11 runs of about 20 ms each (7 left single writes to a SQLite file, whose
    /// WAL checkpoints land in whichever run they land in, swinging by 0.3 either way).
    pub fn quick() -> Self {
        Config {
            runs: 11,
            stream_runs: 3,
            target: Duration::from_millis(20),
            max_setup_iters: 30,
            verbose: false,
            fixed_iters: None,
        }
    }

    /// The default: 11 runs of about 50 ms each.
    pub fn full() -> Self {
        Config {
            runs: 11,
            stream_runs: 5,
            target: Duration::from_millis(50),
            max_setup_iters: 100,
            verbose: false,
            fixed_iters: None,
        }
    }
}

/// One measurement.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Mean time of one iteration.
    pub per_iter: Duration,
    /// What the workload returned (rows).
    pub count: usize,
    /// RSS growth while streaming.
    pub growth_kib: Option<i64>,
}

/// One implementation's result for a case.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Measured.
    Time {
        /// Time per iteration of each run, µs, in run order (never empty).
        runs_us: Vec<f64>,
        /// Rows the workload returned.
        count: usize,
        /// Largest RSS growth seen while streaming, KiB.
        growth_kib: Option<i64>,
    },
    /// Not available, with the reason.
    Na(String),
}

impl Cell {
    /// The median time per iteration, µs, if measured.
    pub fn median_us(&self) -> Option<f64> {
        match self {
            Cell::Time { runs_us, .. } => Some(median(&mut runs_us.clone())),
            Cell::Na(_) => None,
        }
    }
}

/// The results of one case on one backend.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// The backend label (`sqlite-mem`, …).
    pub backend: &'static str,
    /// One cell per implementation, in [`IMPLEMENTATIONS`] order.
    pub cells: Vec<(&'static str, Cell)>,
    /// Count mismatches and errors.
    pub warnings: Vec<String>,
}

impl CaseResult {
    /// The median µs of implementation `name`, if measured.
    pub fn median_us(&self, name: &str) -> Option<f64> {
        self.cells.iter().find(|(n, _)| *n == name).and_then(|(_, c)| c.median_us())
    }

    fn runs_us(&self, name: &str) -> Option<&[f64]> {
        self.cells.iter().find(|(n, _)| *n == name).and_then(|(_, c)| match c {
            Cell::Time { runs_us, .. } => Some(runs_us.as_slice()),
            Cell::Na(_) => None,
        })
    }

    /// `a / b`: the median of the two implementations' per-run ratios (see the module
    /// doc), or the ratio of their medians when their runs do not pair up.
    pub fn ratio(&self, a: &str, b: &str) -> Option<f64> {
        let (ra, rb) = (self.runs_us(a)?, self.runs_us(b)?);
        if !ra.is_empty() && ra.len() == rb.len() {
            let mut per_run: Vec<f64> = ra.iter().zip(rb).map(|(x, y)| x / y).collect();
            return Some(median(&mut per_run));
        }
        Some(self.median_us(a)? / self.median_us(b)?)
    }
}

struct Slot {
    name: &'static str,
    imp: std::result::Result<Box<dyn Workloads>, String>,
    ns: usize,
}

/// The implementations open on one target, and what each database holds.
pub struct Bench {
    target: Target,
    slots: Vec<Slot>,
    data: Vec<Data>,
    /// Timing configuration.
    pub config: Config,
}

fn describe(e: &crate::Error) -> String {
    match e.downcast_ref::<NotAvailable>() {
        Some(na) => na.0.clone(),
        None => format!("error: {e}"),
    }
}

fn ensure(imp: &mut dyn Workloads, data: &mut Data, want: Data, target: &Target) -> Result<()> {
    if *data == want || want == Data::Unknown {
        return Ok(());
    }
    *data = Data::Unknown;
    let d = target.dialect();
    let r = match want {
        // One call: a setup transaction must not span two checkouts of a pooled connection.
        Data::Users { n, colored } => imp.exec(&schema::fill_users(d, n, colored).flatten().collect::<Vec<_>>()),
        Data::Associations => imp.exec(&schema::fill_associations(d)),
        Data::Cascade => imp.exec(&schema::fill_cascade(d)),
        Data::Unknown => Ok(()),
    };
    if r.is_err() {
        let _ = imp.exec(&["ROLLBACK".to_owned()]);
    }
    r?;
    *data = want;
    Ok(())
}

/// Run on every connection to the shared SQLite file: no automatic WAL checkpoints, which the
/// harness takes itself, untimed, before each measurement. A checkpoint syncs the log and the
/// database file to disk; on this project's shared VM disk that took 1 to 5 ms at irregular
/// moments, landing in whichever implementation's commit crossed the 1,000-page mark, and
/// swung one-row file inserts between 0.6x and 2x of the driver from run to run. What is
/// compared is each implementation's own work, not the disk's.
const WAL_CHECKPOINTS: &str = "PRAGMA wal_autocheckpoint = 0";

fn timed(iters: u32, mut f: impl FnMut() -> Result<usize>) -> Result<Sample> {
    let mut count = 0;
    let t = Instant::now();
    for _ in 0..iters {
        count = f()?;
    }
    Ok(Sample { per_iter: t.elapsed() / iters.max(1), count, growth_kib: None })
}

impl Bench {
    /// Takes the implementations opened on `target` (see [`crate::open_all`]) and creates the
    /// tables in each database.
    pub fn new(target: Target, config: Config, opened: Vec<(&'static str, Result<Box<dyn Workloads>>)>) -> Self {
        let shared = target.shared();
        let mut slots: Vec<Slot> = opened
            .into_iter()
            .enumerate()
            .map(|(i, (name, imp))| Slot {
                name,
                imp: imp.map_err(|e| format!("cannot connect: {}", describe(&e))),
                ns: if shared { 0 } else { i },
            })
            .collect();
        let n_ns = if shared { 1 } else { slots.len() };
        let mut created = vec![false; n_ns];
        for slot in &mut slots {
            // On every connection to the shared file, before the tables are (once) created.
            if let (Ok(imp), Target::SqliteFile(_)) = (&mut slot.imp, &target) {
                if let Err(e) = imp.exec(&[WAL_CHECKPOINTS.to_owned()]) {
                    slot.imp = Err(format!("cannot turn off automatic checkpoints: {}", describe(&e)));
                }
            }
            if created[slot.ns] {
                continue;
            }
            if let Ok(imp) = &mut slot.imp {
                match imp.exec(&schema::create_tables(target.dialect())) {
                    Ok(()) => created[slot.ns] = true,
                    Err(e) => slot.imp = Err(format!("cannot create the tables: {}", describe(&e))),
                }
            }
        }
        Bench { target, slots, data: vec![Data::Unknown; n_ns], config }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The names of the implementations that are open.
    pub fn open_names(&self) -> Vec<&'static str> {
        self.slots.iter().filter(|s| s.imp.is_ok()).map(|s| s.name).collect()
    }

    /// Why implementation `name` is not open, if it is not.
    pub fn open_error(&self, name: &str) -> Option<&str> {
        self.slots.iter().find(|s| s.name == name).and_then(|s| s.imp.as_ref().err().map(String::as_str))
    }

    /// Drops the tables (best effort) and closes every connection.
    pub fn finish(mut self) {
        let mut dropped = vec![false; self.data.len()];
        for slot in &mut self.slots {
            if let (Ok(imp), false) = (&mut slot.imp, dropped[slot.ns]) {
                dropped[slot.ns] = imp.exec(&schema::drop_tables()).is_ok();
            }
        }
    }

    /// Measures implementation `name` on `case` for `iters` iterations (setup untimed).
    pub fn measure(&mut self, name: &str, case: Case, iters: u32) -> Result<Sample> {
        let i = self
            .slots
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| NotAvailable(format!("{name} is not built")))?;
        let target = &self.target;
        let slot = &mut self.slots[i];
        let imp = match &mut slot.imp {
            Ok(imp) => imp.as_mut(),
            Err(e) => return Err(Box::new(NotAvailable(e.clone()))),
        };
        let data = &mut self.data[slot.ns];
        let r = Self::measure_on(imp, data, target, case, iters);
        if r.is_err() {
            *data = Data::Unknown;
        }
        r
    }

    fn measure_on(imp: &mut dyn Workloads, data: &mut Data, target: &Target, case: Case, iters: u32) -> Result<Sample> {
        ensure(imp, data, case.data(), target)?;
        if let Target::SqliteFile(_) = target {
            // Empty the write-ahead log untimed (see `WAL_CHECKPOINTS`).
            imp.exec(&["PRAGMA wal_checkpoint(TRUNCATE)".to_owned()])?;
        }
        let n = case.size;
        match case.workload {
            Workload::TrivialQuery => timed(iters, || imp.trivial_query()),
            Workload::MediumComplexQuery => timed(iters, || imp.medium_complex_query()),
            Workload::Associations => timed(iters, || imp.associations()),
            Workload::Insert | Workload::BatchInsert => {
                *data = Data::Unknown;
                imp.exec(&schema::truncate(target.dialect()))?;
                if case.workload == Workload::Insert {
                    timed(iters, || imp.insert(n))
                } else {
                    timed(iters, || imp.batch_insert(n))
                }
            }
            Workload::UpdateByPk | Workload::BulkUpdate => {
                imp.load_for_update()?;
                *data = Data::Unknown;
                if case.workload == Workload::UpdateByPk {
                    timed(iters, || imp.update_by_pk())
                } else {
                    timed(iters, || imp.bulk_update())
                }
            }
            Workload::Delete | Workload::DeleteDbCascade => {
                let mut total = Duration::ZERO;
                let mut count = 0;
                for _ in 0..iters.max(1) {
                    ensure(imp, data, case.data(), target)?;
                    *data = Data::Unknown;
                    let t = Instant::now();
                    count = if case.workload == Workload::Delete { imp.delete()? } else { imp.delete_db_cascade()? };
                    total += t.elapsed();
                }
                Ok(Sample { per_iter: total / iters.max(1), count, growth_kib: None })
            }
            Workload::Stream => {
                let mut peak = PeakRss::start(10_000);
                let t = Instant::now();
                let count = imp.stream(&mut |rows| peak.sample(rows))?;
                let per_iter = t.elapsed();
                peak.sample_now();
                Ok(Sample { per_iter, count, growth_kib: Some(peak.growth_kib()) })
            }
        }
    }

    /// Runs `case` on the open implementations named in `only` (all when empty): warm-up,
    /// calibration, then interleaved runs.
    pub fn run_case(&mut self, case: Case, only: &[String]) -> CaseResult {
        let wanted = |n: &str| only.is_empty() || only.iter().any(|o| o == n);
        let mut names: Vec<&'static str> =
            self.slots.iter().filter(|s| s.imp.is_ok() && wanted(s.name)).map(|s| s.name).collect();
        let mut na: Vec<(&'static str, String)> = Vec::new();
        let mut warnings = Vec::new();
        let stream = case.workload == Workload::Stream;
        let (runs, iters) = if stream {
            (self.config.stream_runs.max(1), 1)
        } else {
            let mut warm: Vec<(&'static str, Duration)> = Vec::new();
            for &n in &names {
                match self.measure(n, case, 1) {
                    Ok(s) => warm.push((n, s.per_iter)),
                    Err(e) => na.push((n, describe(&e))),
                }
            }
            let reference = warm
                .iter()
                .find(|(n, _)| *n == "raw")
                .or_else(|| warm.iter().min_by_key(|(_, d)| *d))
                .map(|(_, d)| *d)
                .unwrap_or(Duration::from_millis(1));
            let cap = if matches!(case.workload, Workload::Delete | Workload::DeleteDbCascade) {
                self.config.max_setup_iters
            } else {
                100_000
            };
            let iters = (self.config.target.as_secs_f64() / reference.as_secs_f64().max(1e-9)).ceil() as u32;
            (self.config.runs.max(1), self.config.fixed_iters.unwrap_or(iters.clamp(1, cap.max(1))))
        };
        names.retain(|n| !na.iter().any(|(m, _)| m == n));
        let mut samples: Vec<(&'static str, Vec<Sample>)> = names.iter().map(|n| (*n, Vec::new())).collect();
        for run in 0..runs {
            let k = names.len().max(1);
            for j in 0..names.len() {
                let n = names[(j + run) % k];
                if na.iter().any(|(m, _)| *m == n) {
                    continue;
                }
                match self.measure(n, case, iters) {
                    Ok(s) => {
                        if self.config.verbose {
                            eprintln!(
                                "    {} {} {} run {run}: {:.1} µs x{iters} ({} rows)",
                                case.workload.name(),
                                case.size,
                                n,
                                s.per_iter.as_secs_f64() * 1e6,
                                s.count
                            );
                        }
                        if let Some((_, v)) = samples.iter_mut().find(|(m, _)| *m == n) {
                            v.push(s);
                        }
                    }
                    Err(e) => na.push((n, describe(&e))),
                }
            }
        }
        let mut cells = Vec::new();
        for name in IMPLEMENTATIONS {
            let cell = if let Some((_, reason)) = na.iter().find(|(m, _)| *m == name) {
                Cell::Na(reason.clone())
            } else if let Some((_, v)) = samples.iter().find(|(m, _)| *m == name).filter(|(_, v)| !v.is_empty()) {
                Cell::Time {
                    runs_us: v.iter().map(|s| s.per_iter.as_secs_f64() * 1e6).collect(),
                    count: v.last().map(|s| s.count).unwrap_or(0),
                    growth_kib: v.iter().filter_map(|s| s.growth_kib).max(),
                }
            } else if let Some(e) = self.open_error(name) {
                Cell::Na(e.to_owned())
            } else if !self.slots.iter().any(|s| s.name == name) {
                Cell::Na("not built (build with --features peers)".to_owned())
            } else {
                Cell::Na("not run".to_owned())
            };
            cells.push((name, cell));
        }
        for (n, reason) in &na {
            if reason.starts_with("error:") {
                warnings.push(format!("{n}: {reason}"));
            }
        }
        let counts: Vec<(&str, usize)> = cells
            .iter()
            .filter_map(|(n, c)| match c {
                Cell::Time { count, .. } => Some((*n, *count)),
                Cell::Na(_) => None,
            })
            .collect();
        if counts.windows(2).any(|w| w[0].1 != w[1].1) {
            let list: Vec<String> = counts.iter().map(|(n, c)| format!("{n}={c}")).collect();
            warnings.push(format!("row counts differ: {}", list.join(" ")));
        }
        CaseResult { case, backend: self.target.label(), cells, warnings }
    }
}

/// The median of `v` (sorted in place); the mean of the middle two for an even length.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Creates what `target` needs on the server before the implementations connect: the
/// PostgreSQL schema or the MySQL database (dropped first if left over).
pub fn prepare_target(target: &Target) -> Result<()> {
    match target {
        Target::Postgres { url, schema } => {
            let mut c = postgres::Client::connect(crate::without_query(url), postgres::NoTls)?;
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))?;
        }
        Target::Mysql { url, database } => {
            use mysql::prelude::Queryable;
            let mut c = mysql::Conn::new(mysql::Opts::from_url(url)?)?;
            c.query_drop(format!("DROP DATABASE IF EXISTS {database}"))?;
            c.query_drop(format!("CREATE DATABASE {database}"))?;
        }
        Target::SqliteFile(p) => remove_sqlite_files(p),
        Target::SqliteMemory => {}
    }
    Ok(())
}

/// Drops what [`prepare_target`] created (after every connection is closed).
pub fn cleanup_target(target: &Target) -> Result<()> {
    match target {
        Target::Postgres { url, schema } => {
            let mut c = postgres::Client::connect(crate::without_query(url), postgres::NoTls)?;
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
        }
        Target::Mysql { url, database } => {
            use mysql::prelude::Queryable;
            let mut c = mysql::Conn::new(mysql::Opts::from_url(url)?)?;
            c.query_drop(format!("DROP DATABASE IF EXISTS {database}"))?;
        }
        Target::SqliteFile(p) => remove_sqlite_files(p),
        Target::SqliteMemory => {}
    }
    Ok(())
}

fn remove_sqlite_files(p: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut s = p.as_os_str().to_owned();
        s.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs measured back to back pair up: a slow period that hit the raw driver's middle
    /// runs and the ORM's fast ones does not make the ORM look twice as fast.
    #[test]
    fn ratios_pair_runs_up() {
        let time = |runs: &[f64]| Cell::Time { runs_us: runs.to_vec(), count: 1, growth_kib: None };
        let r = CaseResult {
            case: Case { workload: Workload::TrivialQuery, size: 1 },
            backend: "sqlite-mem",
            cells: vec![("raw", time(&[1.0, 2.0, 2.0])), ("orm", time(&[1.1, 2.2, 1.1])), ("diesel", time(&[1.0]))],
            warnings: vec![],
        };
        assert!((r.ratio("orm", "raw").unwrap() - 1.1).abs() < 1e-9);
        // Runs that do not pair up fall back to the ratio of the medians.
        assert!((r.ratio("orm", "diesel").unwrap() - 1.1).abs() < 1e-9);
        assert_eq!(r.ratio("orm", "sea-orm"), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn workload_names() {
        assert_eq!(Workload::parse("trivial"), Some(Workload::TrivialQuery));
        assert_eq!(Workload::parse("loading_associations_sequentially"), Some(Workload::Associations));
        assert_eq!(Workload::parse("b"), None);
        assert_eq!(Workload::parse("bu"), Some(Workload::BulkUpdate));
        assert_eq!(Workload::parse("delete"), Some(Workload::Delete));
        assert_eq!(Workload::parse("delete_db"), Some(Workload::DeleteDbCascade));
    }

    /// Every workload once on SQLite in memory, small sizes: raw and the ORM agree on counts.
    #[test]
    fn sqlite_smoke() {
        let target = Target::SqliteMemory;
        let mut bench = Bench::new(target.clone(), Config::quick(), crate::open_all(&target));
        for mut case in cases(1000) {
            case.size = case.size.min(100);
            for name in ["raw", "orm"] {
                match bench.measure(name, case, 1) {
                    Ok(s) => assert!(s.count > 0 || case.size == 0, "{name} {case:?} returned 0 rows"),
                    Err(e) => assert!(e.downcast_ref::<NotAvailable>().is_some(), "{name} {case:?}: {e}"),
                }
            }
        }
        // More rows than one setup statement holds (the fill's transaction spans statements).
        let r = bench.run_case(Case { workload: Workload::TrivialQuery, size: 2500 }, &["raw".into(), "orm".into()]);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert!(r.median_us("raw").is_some() && r.median_us("orm").is_some());
    }
}
