//! Metamorphic checks (the reliability suite's item 2): for random base QuerySets `q` and
//! predicates `p` over rows with NULLs and unicode, `q.filter(p)` and `q.exclude(p)` split
//! `q` exactly (Django's exclude keeps the rows where `p` is unknown, so nothing falls
//! between them): their counts add up, their rows are disjoint, and `Sum`, `Min` and `Max`
//! recombine. Case count: `ORM_FUZZ_CASES` (default 200 per backend); the seed is printed on
//! failure.

use orm::expressions::{Max, Min, Sum};
use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::fuzz::Rng;
use orm_tests::*;
use std::collections::BTreeSet;

const NAMES: [&str; 6] = ["apple", "Äpfel", "banana", "日本", "x%_y", "O'Brien"];
const KINDS: [&str; 3] = ["a", "b", "c"];

/// A random predicate over Item's columns, NULL-able ones included.
fn predicate(r: &mut Rng) -> orm::Result<(String, Q<Item>)> {
    let n = *r.pick(&[0i64, 1, 2, 3, 5, 8]);
    let text = *r.pick(&NAMES);
    let (path, q) = match r.below(12) {
        0 => ("qty__gt", Q::path("qty__gt", n)?),
        1 => ("qty__lte", Q::path("qty__lte", n)?),
        2 => ("qty__in", Q::path("qty__in", serde_json::json!([n, n + 1]))?),
        3 => ("price__gt", Q::path("price__gt", n as f64 / 2.0)?),
        4 => ("price__isnull", Q::path("price__isnull", r.below(2) == 0)?),
        5 => ("note__isnull", Q::path("note__isnull", r.below(2) == 0)?),
        6 => (
            "note__icontains",
            Q::path("note__icontains", &text[..text.char_indices().nth(2).map_or(text.len(), |(i, _)| i)])?,
        ),
        7 => (
            "name__startswith",
            Q::path("name__startswith", &text[..text.char_indices().nth(1).map_or(text.len(), |(i, _)| i)])?,
        ),
        8 => ("name__exact", Q::path("name", text)?),
        9 => ("kind", Q::path("kind", *r.pick(&KINDS))?),
        10 => ("note__exact", Q::path("note", text)?),
        _ => ("price__lt|qty__gte", Q::path("price__lt", n as f64)? | Q::path("qty__gte", n)?),
    };
    Ok((path.to_owned(), if r.below(4) == 0 { !q } else { q }))
}

fn ids(qs: &QuerySet<Item>, db: &Database) -> orm::Result<BTreeSet<i64>> {
    Ok(qs.clone().values(["id"]).fetch_flat::<i64>(db)?.into_iter().collect())
}

fn agg(qs: &QuerySet<Item>, db: &Database) -> orm::Result<(Option<i64>, Option<i64>, Option<i64>)> {
    let row = qs.aggregate([("s", Sum::of("qty")), ("lo", Min::of("qty")), ("hi", Max::of("qty"))], db)?;
    let r: &dyn orm::Row = &row;
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

backend_test! {
    fn filter_and_exclude_split_every_queryset_exactly(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Item>().create_all(&db)?;
        let mut rows = orm_tests::fuzz::items(&mut Rng(0x5EED_1234_ABCD_0001), 60, &NAMES, &KINDS)?;
        Item::objects().bulk_create(&mut rows, &db)?;
        let mut r = Rng(0xC0FF_EE00_1234_5678);
        for case in 0..orm_tests::fuzz::cases(200) {
            let (bp, base) = predicate(&mut r)?;
            let q = if r.below(3) == 0 { Item::objects() } else { Item::objects().filter(base) };
            let (pp, p) = predicate(&mut r)?;
            let what = format!("case {case}: q = {bp}, p = {pp}");
            let (all, yes, no) = (ids(&q, &db)?, ids(&q.clone().filter(p.clone()), &db)?, ids(&q.clone().exclude(p.clone()), &db)?);
            assert!(yes.is_disjoint(&no), "{what}: filter and exclude overlap");
            assert_eq!(yes.union(&no).copied().collect::<BTreeSet<_>>(), all, "{what}: filter and exclude cover q");
            assert_eq!(q.clone().filter(p.clone()).count(&db)? + q.clone().exclude(p.clone()).count(&db)?, q.count(&db)?, "{what}: counts");
            let (s, lo, hi) = agg(&q, &db)?;
            let (s1, lo1, hi1) = agg(&q.clone().filter(p.clone()), &db)?;
            let (s2, lo2, hi2) = agg(&q.clone().exclude(p), &db)?;
            assert_eq!(s.unwrap_or(0), s1.unwrap_or(0) + s2.unwrap_or(0), "{what}: Sum recombines");
            assert_eq!(lo, [lo1, lo2].into_iter().flatten().min(), "{what}: Min recombines");
            assert_eq!(hi, [hi1, hi2].into_iter().flatten().max(), "{what}: Max recombines");
        }
        Ok(())
    }
}
