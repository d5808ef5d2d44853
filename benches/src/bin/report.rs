//! `report`: every workload on every implementation, as a Markdown table.
//!
//! ```text
//! cargo run --release -p orm-benches [--features peers] --bin report -- \
//!     [--backend sqlite|postgres|mysql|all] [--quick] [--postgres-url URL] [--mysql-url URL] \
//!     [--only WORKLOAD[,WORKLOAD…]] [--size N[,N…]] [--impl raw,orm,…] [--stream-rows N] [--verbose]
//!     [--iters N]   # fixed iterations per measurement instead of calibrating (for profiling)
//! ```
//!
//! SQLite runs in memory and in a temporary file. PostgreSQL and MySQL run when a URL is given
//! (`--postgres-url`, `--mysql-url`, or `ORM_TEST_POSTGRES` / `ORM_TEST_MYSQL`), in a schema
//! or database `orm_bench` created and dropped by the run. The table and an SVG chart of the
//! ratios are written to `target/bench-report/`; the last line printed is
//! `summary: worst_orm_over_raw=<x> worst_orm_over_diesel=<y|na>`.

use orm_benches::harness::{self, Bench, CaseResult, Config, Workload};
use orm_benches::{report, Target};
use std::path::PathBuf;
use std::time::Instant;

struct Args {
    backends: Vec<String>,
    quick: bool,
    postgres_url: Option<String>,
    mysql_url: Option<String>,
    only: Vec<Workload>,
    impls: Vec<String>,
    stream_rows: usize,
    sizes: Vec<usize>,
    iters: Option<u32>,
    verbose: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: report [--backend sqlite|postgres|mysql|all] [--quick] [--postgres-url URL] [--mysql-url URL] \
         [--only WORKLOAD,...] [--size N,...] [--impl raw,orm,diesel,sea-orm] [--stream-rows N] [--iters N] [--verbose]\n\
         backends: sqlite (= sqlite-mem and sqlite-file), sqlite-mem, sqlite-file, postgres, mysql, all"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        backends: vec!["all".into()],
        quick: false,
        postgres_url: std::env::var("ORM_TEST_POSTGRES").ok().filter(|s| !s.is_empty()),
        mysql_url: std::env::var("ORM_TEST_MYSQL").ok().filter(|s| !s.is_empty()),
        only: Vec::new(),
        impls: Vec::new(),
        stream_rows: 1_000_000,
        sizes: Vec::new(),
        iters: None,
        verbose: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--backend" => a.backends = value().split(',').map(str::to_owned).collect(),
            "--quick" => a.quick = true,
            "--postgres-url" => a.postgres_url = Some(value()),
            "--mysql-url" => a.mysql_url = Some(value()),
            "--only" => {
                a.only = value()
                    .split(',')
                    .map(|w| {
                        Workload::parse(w).unwrap_or_else(|| {
                            eprintln!("unknown workload `{w}`");
                            usage()
                        })
                    })
                    .collect()
            }
            "--impl" => a.impls = value().split(',').map(str::to_owned).collect(),
            "--stream-rows" => a.stream_rows = value().parse().unwrap_or_else(|_| usage()),
            "--iters" => a.iters = Some(value().parse().unwrap_or_else(|_| usage())),
            "--size" => a.sizes = value().split(',').map(|n| n.parse().unwrap_or_else(|_| usage())).collect(),
            "--verbose" | "-v" => a.verbose = true,
            "--help" | "-h" => usage(),
            // `cargo bench` passes `--bench`; ignore it.
            "--bench" => {}
            other => {
                eprintln!("unknown argument `{other}`");
                usage()
            }
        }
    }
    a
}

fn targets(a: &Args) -> Vec<Target> {
    let all = a.backends.iter().any(|b| b == "all");
    let want = |b: &str| all || a.backends.iter().any(|x| x == b);
    let mut out = Vec::new();
    if want("sqlite") || want("sqlite-mem") {
        out.push(Target::SqliteMemory);
    }
    if want("sqlite") || want("sqlite-file") {
        let path = std::env::temp_dir().join(format!("orm_bench_{}.db", std::process::id()));
        out.push(Target::SqliteFile(path));
    }
    if want("postgres") {
        match &a.postgres_url {
            Some(url) => out.push(Target::Postgres { url: url.clone(), schema: "orm_bench".into() }),
            None => eprintln!("postgres: skipped (set ORM_TEST_POSTGRES or pass --postgres-url)"),
        }
    }
    if want("mysql") {
        match &a.mysql_url {
            Some(url) => out.push(Target::Mysql { url: url.clone(), database: "orm_bench".into() }),
            None => eprintln!("mysql: skipped (set ORM_TEST_MYSQL or pass --mysql-url)"),
        }
    }
    out
}

fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    target.join("bench-report")
}

fn run_target(target: Target, a: &Args, results: &mut Vec<CaseResult>) {
    let label = target.label();
    if let Err(e) = harness::prepare_target(&target) {
        eprintln!("{label}: skipped: cannot prepare the database: {e}");
        return;
    }
    let mut config = if a.quick { Config::quick() } else { Config::full() };
    config.verbose = a.verbose;
    config.fixed_iters = a.iters;
    let mut bench = Bench::new(target.clone(), config, orm_benches::open_all(&target));
    eprintln!("{label}: implementations {}", bench.open_names().join(", "));
    for name in orm_benches::IMPLEMENTATIONS {
        if let Some(e) = bench.open_error(name) {
            eprintln!("{label}: {name}: {e}");
        }
    }
    for case in harness::cases(a.stream_rows) {
        if (!a.only.is_empty() && !a.only.contains(&case.workload))
            || (!a.sizes.is_empty() && !a.sizes.contains(&case.size))
        {
            continue;
        }
        let t = Instant::now();
        let r = bench.run_case(case, &a.impls);
        let cells: Vec<String> = r
            .cells
            .iter()
            .map(|(n, _)| format!("{n}={}", r.median_us(n).map(report::fmt_us).unwrap_or_else(|| "na".into())))
            .collect();
        eprintln!(
            "{label}: {} {}: {} ({:.1} s)",
            case.workload.name(),
            case.rows_label(),
            cells.join(" "),
            t.elapsed().as_secs_f64()
        );
        for w in &r.warnings {
            eprintln!("{label}:   warning: {w}");
        }
        results.push(r);
    }
    bench.finish();
    if let Err(e) = harness::cleanup_target(&target) {
        eprintln!("{label}: cleanup failed: {e}");
    }
}

fn main() {
    let a = parse_args();
    let started = Instant::now();
    let mut results = Vec::new();
    for target in targets(&a) {
        run_target(target, &a, &mut results);
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let date = orm::chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let peers = if cfg!(feature = "peers") { "with peers" } else { "without peers (build with --features peers)" };
    let mode = if a.quick { "--quick" } else { "full" };
    let header = format!(
        "Benchmarks {date}, {cores} cores, {mode}, {peers}; median µs per iteration; orm/raw and orm/diesel are \
         medians of per-run ratios"
    );
    let table = report::markdown_table(&results);
    let notes = report::notes(&results);
    let streams = report::stream_lines(&results);
    let goals = report::goal_lines(&results);
    let summary = report::summary_line(&results);

    let mut md = format!("{header}\n\n{table}\n");
    for l in notes.iter().chain(streams.iter()).chain(goals.iter()) {
        md.push_str(&format!("- {l}\n"));
    }
    md.push_str(&format!("\n{summary}\n"));
    let dir = out_dir();
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("report.md"), &md))
        .and_then(|()| std::fs::write(dir.join("report.svg"), report::svg_chart(&results, &header)));
    match written {
        Ok(()) => eprintln!(
            "wrote {} and report.svg ({:.0} s)",
            dir.join("report.md").display(),
            started.elapsed().as_secs_f64()
        ),
        Err(e) => eprintln!("cannot write {}: {e}", dir.display()),
    }

    println!("{header}\n");
    print!("{table}");
    println!();
    for l in notes.iter().chain(streams.iter()).chain(goals.iter()) {
        println!("{l}");
    }
    println!("{summary}");
}
