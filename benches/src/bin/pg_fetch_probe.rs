//! `pg_fetch_probe`: how fast the `postgres` crate reads a large result, per way of reading it.
//!
//! ```text
//! cargo run --release -p orm-benches --bin pg_fetch_probe -- [URL] [--rows N] [--rounds K]
//! ```
//!
//! Fills `orm_probe.users` (id, name, hair_color; N rows, default 1,000,000) on the server at
//! URL (default `ORM_TEST_POSTGRES`), then reads it K times (default 3) each way, decoding
//! every cell: `query_raw` (rows as the server sends them, the protocol task woken once per
//! row), a portal read 2000 … 16,384 rows per round trip (what
//! [`Connection::stream_fetching`](orm_backends::Connection::stream_fetching) does outside
//! a transaction), and `query` (the whole result at once, for reference). Each line gives the
//! wall time and this thread's CPU time (`/proc/thread-self/schedstat`): the client's CPU is
//! what a way of reading changes; the rest of the wall time is the server and the round trips.
//! The schema is dropped at the end.
//!
//! This is how the ORM's fetch sizes were chosen (2026-12-07, 1,000,000 rows, PostgreSQL 15 on
//! the same 2 cores): `query_raw` 350–365 ms CPU and as much wall; portal of 2048 rows 202 ms
//! CPU, 281–292 ms wall; 4096: 194 / 265–280; 8192: 192 / 256–283; 16,384: 190 / 250–268;
//! `query`: 237–248 / 240–250 (and the whole result in memory).

use postgres::fallible_iterator::FallibleIterator;
use std::time::{Duration, Instant};

/// CPU time of this thread in ns.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Decodes one row's cells as the benchmarks' `User` does, folding them into `acc`.
fn decode(r: &postgres::Row, acc: &mut usize) {
    let id: i64 = r.get(0);
    let name: &str = r.get(1);
    let hair_color: Option<&str> = r.get(2);
    *acc += (id as usize & 1) + name.len() + hair_color.map_or(0, str::len);
}

fn report(label: &str, wall: Duration, cpu: u64, rows: usize) {
    println!("{label:>14}: wall {:>4} ms  cpu {:>4} ms  rows {rows}", wall.as_millis(), cpu / 1_000_000);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut url =
        std::env::var("ORM_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (mut rows, mut rounds) = (1_000_000usize, 3usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rows" => rows = args.next().and_then(|v| v.parse().ok()).ok_or("--rows N")?,
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).ok_or("--rounds K")?,
            _ if !a.starts_with("--") => url = a,
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS orm_probe CASCADE; CREATE SCHEMA orm_probe;
         CREATE TABLE orm_probe.users (id bigserial PRIMARY KEY, name text NOT NULL, hair_color text);
         INSERT INTO orm_probe.users (name, hair_color)
           SELECT 'User ' || g, CASE WHEN g % 2 = 0 THEN 'black' END FROM generate_series(1, {rows}) g;
         ANALYZE orm_probe.users"
    ))?;
    let stmt = c.prepare("SELECT id, name, hair_color FROM orm_probe.users")?;
    for round in 0..rounds {
        println!("round {round}");
        let (t, c0) = (Instant::now(), cpu_ns());
        let (mut acc, mut n) = (0usize, 0usize);
        let mut it = c.query_raw(&stmt, std::iter::empty::<i32>())?;
        while let Some(r) = it.next()? {
            decode(&r, &mut acc);
            n += 1;
        }
        drop(it);
        report("query_raw", t.elapsed(), cpu_ns() - c0, n);
        for fetch in [2048, 4096, 8192, 16_384] {
            let (t, c0) = (Instant::now(), cpu_ns());
            let mut n = 0usize;
            let mut tx = c.transaction()?;
            let portal = tx.bind(&stmt, &[])?;
            loop {
                let batch = tx.query_portal(&portal, fetch)?;
                for r in &batch {
                    decode(r, &mut acc);
                }
                n += batch.len();
                if batch.len() < fetch as usize {
                    break;
                }
            }
            tx.commit()?;
            report(&format!("portal {fetch}"), t.elapsed(), cpu_ns() - c0, n);
        }
        let (t, c0) = (Instant::now(), cpu_ns());
        let all = c.query(&stmt, &[])?;
        for r in &all {
            decode(r, &mut acc);
        }
        report("query", t.elapsed(), cpu_ns() - c0, all.len());
        std::hint::black_box(acc);
    }
    c.batch_execute("DROP SCHEMA orm_probe CASCADE")?;
    Ok(())
}
