//! `cargo bench -p orm-benches [--features peers]`: the SQLite (in memory) workloads with
//! criterion, one benchmark per workload, size and implementation (`trivial_query/100/orm`).
//!
//! Each benchmark uses the same workload functions and untimed setup as the `report` command
//! (`iter_custom` around [`Bench::measure`]). The 1,000,000-row stream is left to
//! `stream_memory` and `report`; here it streams 100,000 rows.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use orm_benches::harness::{self, Bench, Config, Workload};
use orm_benches::Target;
use std::time::Duration;

fn workloads(c: &mut Criterion) {
    let target = Target::SqliteMemory;
    let mut bench = Bench::new(target.clone(), Config::quick(), orm_benches::open_all(&target));
    let names = bench.open_names();
    for case in harness::cases(100_000) {
        let mut group = c.benchmark_group(case.workload.name());
        if case.workload == Workload::Stream || case.workload == Workload::Delete {
            group.sample_size(10);
        }
        for name in &names {
            // Skip what this implementation cannot do (the report says why).
            if bench.measure(name, case, 1).is_err() {
                continue;
            }
            group.bench_function(BenchmarkId::new(case.rows_label(), name), |b| {
                b.iter_custom(|iters| {
                    let iters = u32::try_from(iters).unwrap_or(u32::MAX);
                    match bench.measure(name, case, iters) {
                        Ok(s) => s.per_iter * iters,
                        Err(e) => panic!("{name} {:?}: {e}", case),
                    }
                })
            });
        }
        group.finish();
    }
    bench.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = workloads
}
criterion_main!(benches);
