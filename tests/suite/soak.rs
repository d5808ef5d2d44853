//! The soak (issue 18 item 8): many mixed QuerySet evaluations (filters across relations,
//! `select_related`, `prefetch_related` over reverse and many-to-many relations, annotate
//! with aggregates, windows and `Case`, `values`, `count`, `exists`, `get_pk`, `update`,
//! saves with signals connected) on each backend, in a child process of its own so its
//! memory is its own: after a warm-up, resident memory grows by under 2 MiB and the process
//! opens no file descriptor (so no socket, so no server connection) it did not have.
//! Evaluations: `ORM_FUZZ_CASES` × 500 (default 100,000) per backend; the SQL shape cache
//! is bounded by construction (`model::cache`, 4096 statements per model).

use orm::expressions::functions::RowNumber;
use orm::expressions::{Case, Count, When, Window, F};
use orm::prelude::*;
use orm_backends::testing::TestDb;
use orm_backends::Backend;
use orm_tests::fixtures::{article, label, writer};
use orm_tests::{Article, Country, Label, Remark, Writer};
use std::process::Command;

/// The child's report line.
const TAG: &str = "soak-report:";

fn rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// One mixed evaluation, chosen by `i`.
fn evaluate(db: &Database, i: usize, writers: &[Writer], articles: &[Article]) -> orm::Result<()> {
    let w = &writers[i % writers.len()];
    let a = &articles[i % articles.len()];
    match i % 12 {
        0 => drop(Article::objects().filter(Q::path("writer__country__name", "fr")?).fetch(db)?),
        1 => drop(Article::objects().select_related(["writer"]).fetch(db)?),
        2 => drop(Writer::objects().prefetch_related(["articles"]).fetch(db)?),
        3 => drop(Article::objects().prefetch_related(["labels"]).fetch(db)?),
        4 => drop(
            Writer::objects().annotate("n", Count::of("articles")).filter(Q::path("n__gte", 1)?).fetch_annotated(db)?,
        ),
        5 => drop(
            Article::objects()
                .annotate("rn", Window::new(RowNumber::new()).partition_by([F::col("writer")]).order_by(["-rating"]))
                .annotate("band", Case::new([When::new(Article::rating().gte(3), "high")]).default("low"))
                .fetch_annotated(db)?,
        ),
        6 => drop(Article::objects().values(["title", "writer__name"]).fetch_values(db)?),
        7 => drop(Article::objects().filter(Article::rating().gt((i % 5) as i64)).count(db)?),
        8 => drop(Remark::objects().filter(Q::path("article__writer", w.id.get().unwrap_or(0))?).exists(db)?),
        9 => drop(Article::objects().get_pk(a.id.get().unwrap_or(0), db)?),
        10 => drop(
            Article::objects()
                .filter(Article::id().eq(a.id.get().unwrap_or(0)))
                .update([Article::rating().set(F::col("rating"))], db)?,
        ),
        _ => {
            let mut x = Article::objects().get_pk(a.id.get().unwrap_or(0), db)?;
            x.save(db)?;
        }
    }
    Ok(())
}

/// The child: runs the evaluations on one backend and prints its report line.
#[test]
#[ignore = "the child of `memory_and_handles_stay_flat`, which runs it alone in its own process so that its RSS is its own"]
fn soak_child() {
    let backend = match std::env::var("ORM_SOAK_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("mysql") => Backend::Mysql,
        _ => Backend::Sqlite,
    };
    let t = TestDb::open(backend, "soak").expect("open").expect("the parent checked the URL");
    let db = Database::from_pool((*t).clone());
    Schema::new()
        .model::<Country>()
        .model::<Writer>()
        .model::<Label>()
        .model::<Article>()
        .model::<Remark>()
        .create_all(&db)
        .expect("schema");
    let fr = Country { id: Auto::unset(), name: "fr".into() }.create(&db).expect("country");
    let writers: Vec<Writer> =
        (0..5).map(|k| writer(&db, &format!("w{k}"), (k % 2 == 0).then_some(&fr)).expect("writer")).collect();
    let labels: Vec<Label> = (0..3).map(|k| label(&db, &format!("l{k}")).expect("label")).collect();
    let mut articles = Vec::new();
    for k in 0..20 {
        let a = article(&db, &format!("a{k}"), &writers[k % 5], (k % 5) as i64).expect("article");
        a.labels().add([labels[k % 3].id.get().unwrap_or(0)], &db).expect("link");
        Remark { id: Auto::unset(), article: ForeignKey::to(&a).expect("saved"), text: format!("r{k}") }
            .create(&db)
            .expect("remark");
        articles.push(a);
    }
    let saves = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s = saves.clone();
    db.signals().post_save::<Article>().connect(move |_| {
        s.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    });
    let total = orm_tests::fuzz::cases(200) * 500;
    let warm = total / 10;
    for i in 0..warm {
        evaluate(&db, i, &writers, &articles).expect("evaluation");
    }
    let (rss0, fds0) = (rss_kib(), open_fds());
    for i in warm..total {
        evaluate(&db, i, &writers, &articles).expect("evaluation");
    }
    let (rss1, fds1) = (rss_kib(), open_fds());
    println!(
        "{TAG} backend={} evaluations={total} rss_growth_kib={} fd_growth={} saves={}",
        backend.name(),
        rss1 - rss0,
        fds1 as i64 - fds0 as i64,
        saves.load(std::sync::atomic::Ordering::Relaxed)
    );
}

#[test]
fn memory_and_handles_stay_flat() {
    if std::env::var("ORM_SOAK_BACKEND").is_ok() {
        return; // inside a child run
    }
    let exe = std::env::current_exe().expect("the test binary");
    for (name, var) in [("sqlite", None), ("postgres", Some("ORM_TEST_POSTGRES")), ("mysql", Some("ORM_TEST_MYSQL"))] {
        if let Some(var) = var {
            if std::env::var(var).is_err() {
                eprintln!("soak on {name} skipped: {var} is not set");
                continue;
            }
        }
        let out = Command::new(&exe)
            .args(["--exact", "soak::soak_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env("ORM_SOAK_BACKEND", name)
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name} child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let line = stdout
            .lines()
            .find_map(|l| l.find(TAG).map(|at| &l[at..]))
            .unwrap_or_else(|| panic!("{name}: no report in {stdout}"));
        eprintln!("{line}");
        let field = |k: &str| -> i64 {
            line.split_whitespace()
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{k} in {line}"))
        };
        assert!(field("rss_growth_kib") < 2048, "{name}: memory grew: {line}");
        assert!(field("fd_growth") <= 0, "{name}: descriptors grew: {line}");
        assert!(field("saves") > 0, "{name}: the save receiver ran: {line}");
    }
}
