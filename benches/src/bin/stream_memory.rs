//! `stream_memory`: peak RSS growth while streaming a table through a QuerySet.
//!
//! ```text
//! cargo run --release -p orm-benches --bin stream_memory -- --backend <sqlite|postgres|mysql> --rows <N> [--impl orm|raw]
//! ```
//!
//! Fills the 3-column `users` table with N rows (untimed, in a child process, with the ORM's
//! `bulk_create`: multi-row INSERTs in one transaction), then streams them through
//! `User::objects().iter(&db)` in a fresh process, reading `VmRSS` every 10,000 rows. The
//! last line is `backend=<b> rows=<N> seen=<count> growth_kib=<peak RSS during streaming
//! minus RSS before it>`.
//!
//! SQLite uses a temporary file; PostgreSQL the schema `orm_bench_stream` of
//! `ORM_TEST_POSTGRES`; MySQL the database `orm_bench_stream` of `ORM_TEST_MYSQL`. Both are
//! created and dropped by the run.

use orm::DefaultManager;
use orm_benches::orm_impl::{OrmBench, User};
use orm_benches::rss::{rss_kib, PeakRss};
use orm_benches::{harness, schema, Result, Target, Workloads};
use std::time::Instant;

fn usage() -> ! {
    eprintln!("usage: stream_memory --backend <sqlite|postgres|mysql> --rows <N> [--impl orm|raw]");
    std::process::exit(2)
}

struct Args {
    backend: String,
    rows: usize,
    implementation: String,
    fill: bool,
    sqlite_path: Option<String>,
}

fn parse_args() -> Args {
    let mut a = Args { backend: String::new(), rows: 0, implementation: "orm".into(), fill: false, sqlite_path: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--backend" => a.backend = value(),
            "--rows" => a.rows = value().replace('_', "").parse().unwrap_or_else(|_| usage()),
            "--impl" => a.implementation = value(),
            "--fill" => a.fill = true,
            "--sqlite-path" => a.sqlite_path = Some(value()),
            _ => usage(),
        }
    }
    if a.backend.is_empty() || a.rows == 0 {
        usage()
    }
    a
}

fn target(a: &Args) -> Result<Target> {
    let env = |k: &str| {
        std::env::var(k).ok().filter(|s| !s.is_empty()).ok_or_else(|| format!("set {k} to run on this backend"))
    };
    Ok(match a.backend.as_str() {
        "sqlite" => Target::SqliteFile(match &a.sqlite_path {
            Some(p) => p.into(),
            None => std::env::temp_dir().join(format!("orm_bench_stream_{}.db", std::process::id())),
        }),
        "postgres" => Target::Postgres { url: env("ORM_TEST_POSTGRES")?, schema: "orm_bench_stream".into() },
        "mysql" => Target::Mysql { url: env("ORM_TEST_MYSQL")?, database: "orm_bench_stream".into() },
        _ => usage(),
    })
}

/// The child: creates the table and inserts the rows, 10,000 instances per `bulk_create`
/// (which splits them into multi-row INSERTs), all in one transaction.
fn fill(target: &Target, rows: usize) -> Result<()> {
    let mut bench = OrmBench::open(target)?;
    bench.exec(&schema::create_tables(target.dialect()))?;
    let db = bench.db().clone();
    db.atomic(|tx| {
        let mut done = 0;
        while done < rows {
            let n = (rows - done).min(10_000);
            let mut chunk: Vec<User> = (done..done + n)
                .map(|i| User {
                    id: orm::Auto::unset(),
                    name: orm_benches::user_name(i),
                    hair_color: schema::hair(i, true).map(str::to_owned),
                    posts: orm::Reverse::new(),
                })
                .collect();
            User::objects().bulk_create(&mut chunk, tx)?;
            done += n;
        }
        Ok(())
    })?;
    Ok(())
}

fn run(a: &Args) -> Result<()> {
    let target = target(a)?;
    if a.fill {
        return fill(&target, a.rows);
    }
    harness::prepare_target(&target)?;
    let result = (|| -> Result<()> {
        let t = Instant::now();
        let mut child = std::process::Command::new(std::env::current_exe()?);
        child.args(["--fill", "--backend", &a.backend, "--rows", &a.rows.to_string()]);
        if let Target::SqliteFile(p) = &target {
            child.args(["--sqlite-path", &p.display().to_string()]);
        }
        let status = child.status()?;
        if !status.success() {
            return Err(format!("filling the table failed ({status})").into());
        }
        eprintln!("filled {} rows in {:.1} s", a.rows, t.elapsed().as_secs_f64());

        let mut imp = orm_benches::open_impl(&a.implementation, &target)?;
        let before = rss_kib().unwrap_or(0);
        let mut peak = PeakRss::start(10_000);
        let t = Instant::now();
        let seen = imp.stream(&mut |n| peak.sample(n))?;
        let elapsed = t.elapsed().as_secs_f64();
        peak.sample_now();
        drop(imp);
        println!(
            "stream_memory: impl={} elapsed_s={elapsed:.2} rows_per_s={:.0} rss_before_kib={before}",
            a.implementation,
            seen as f64 / elapsed
        );
        println!("backend={} rows={} seen={seen} growth_kib={}", a.backend, a.rows, peak.growth_kib());
        Ok(())
    })();
    let cleanup = harness::cleanup_target(&target);
    result?;
    cleanup
}

fn main() {
    let a = parse_args();
    if let Err(e) = run(&a) {
        eprintln!("stream_memory: {e}");
        std::process::exit(1);
    }
}
