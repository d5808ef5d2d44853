//! Injection (the reliability suite's item 4, a first cut): hostile strings through every
//! public string entry point of the ORM that reaches SQL. Each gives a typed error, or runs
//! with the payload only in bound parameters: no captured statement's text holds the
//! payload's marker, and a canary table is untouched. A second test keeps an inventory of
//! the public functions taking strings (`injection_inventory.txt`), so a new one must be
//! looked at and listed. Case count: `ORM_FUZZ_CASES` (default 200 random payloads).

use orm::expressions::Count;
use orm::prelude::*;
use orm::F;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::fuzz::Rng;
use orm_tests::*;

/// Every payload carries this marker: it must never appear in a statement's text.
const MARK: &str = "zq9x";

const PIECES: [&str; 28] = [
    "'",
    "\"",
    "`",
    "[",
    "]",
    ";",
    "--",
    "/*",
    "*/",
    "#",
    "%",
    "_",
    "?",
    "$1",
    "\\",
    "\0",
    "\n",
    "\r",
    "\t",
    "'; DROP TABLE canary; --",
    "\" OR 1=1 --",
    "` OR 1=1 #",
    "＇",
    "＂",
    "\u{202e}",
    " UNION SELECT 1 --",
    // Django's published ORM injection CVEs: column aliases (CVE-2022-28346, CVE-2022-34265,
    // CVE-2024-42005) and JSON key transforms (CVE-2019-14234, CVE-2024-53908).
    "a\" FROM \"x\"; --",
    "key') OR 1=1 OR ('",
];

fn payloads() -> Vec<String> {
    let n = orm_tests::fuzz::cases(200);
    let mut r = Rng(0x1A7E_C7ED_0BAD_F00D);
    let mut out: Vec<String> = PIECES.iter().map(|p| format!("{MARK}{p}")).collect();
    out.push(format!("{MARK}{}", "x".repeat(300))); // overlong identifier
    for _ in 0..n {
        let mut s = String::from(MARK);
        for _ in 0..(r.next_u64() % 5 + 1) {
            s.push_str(PIECES[(r.next_u64() % PIECES.len() as u64) as usize]);
            s.push_str(["a", "name", "__", " ", "pk", ""][(r.next_u64() % 6) as usize]);
        }
        out.push(s);
    }
    out
}

fn canary(db: &Database) -> orm::Result<i64> {
    let rows = db.with_connection(|c| c.query("SELECT COUNT(*) FROM canary", &[]))?;
    Ok((&rows[0] as &dyn orm::Row).get(0)?)
}

backend_test! {
    fn hostile_strings_reach_sql_only_as_parameters(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Author>().model::<Tag>().model::<Post>().model::<Item>().create_all(&db)?;
        db.with_connection(|c| c.execute_batch("CREATE TABLE canary (x integer); INSERT INTO canary VALUES (1)"))?;
        let ann = Author { id: Auto::unset(), name: "ann".into(), email: None, status: "a".into() }.create(&db)?;
        let capture = db.capture_queries();
        let mut typed_errors = 0usize;
        let mut ran = 0usize;
        for p in payloads() {
            let p = p.as_str();
            // Outcomes that must be errors before any SQL: names.
            let refused: Vec<(&str, orm::Result<()>)> = vec![
                ("filter_path name", Author::objects().filter_path(p, 1).map(drop)),
                ("Q::path", Q::<Author>::path(p, 1).map(drop)),
                ("order_by_path", Author::objects().order_by_path([p]).map(drop)),
                ("values", Author::objects().values([p]).fetch_values(&db).map(drop)),
                ("order_by", Author::objects().order_by([p]).fetch(&db).map(drop)),
                ("select_related", Post::objects().select_related([p]).fetch(&db).map(drop)),
                ("prefetch_related", Author::objects().prefetch_related([p]).fetch(&db).map(drop)),
                ("F::col in filter", Author::objects().filter(Author::id().compare(orm::Lookup::Exact, F::col(p))).fetch(&db).map(drop)),
                ("F::col in update", Author::objects().update([Author::name().set(F::col(p))], &db).map(drop)),
                ("annotate F::col", Author::objects().annotate("n", F::col(p)).fetch_values(&db).map(drop)),
                ("earliest", Author::objects().earliest(p, &db).map(drop)),
                ("in_bulk_by", Author::objects().in_bulk_by::<i64>(p, Some(vec![orm::Value::Int(1)]), &db).map(drop)),
                ("fetch_left_join", Author::objects().fetch_left_join::<Post>(p, &db).map(drop)),
                ("serializers::load key", orm::serializers::load(&db, &[Author::meta()], &serde_json::json!([{"model": "blog.author", "pk": 99, "fields": {p: "x"}}])).map(drop)),
                ("serializers::load model", orm::serializers::load(&db, &[Author::meta()], &serde_json::json!([{"model": p, "pk": 99, "fields": {}}])).map(drop)),
            ];
            for (what, r) in refused {
                match r {
                    Err(orm::Error::FieldError { .. } | orm::Error::FieldDoesNotExist { .. } | orm::Error::Serialization(_) | orm::Error::TypeError(_) | orm::Error::ValueError(_)) => typed_errors += 1,
                    Ok(()) => {} // e.g. a name that happens to parse; its SQL is checked below
                    Err(e) => panic!("{what} with {p:?}: not a typed error: {e:?}"),
                }
            }
            // An alias is quoted, never spliced; control characters are refused.
            match Author::objects().annotate(p, Count::all()).values(["name"]).fetch_values(&db) {
                Ok(_) => ran += 1,
                Err(orm::Error::FieldError { .. }) => typed_errors += 1,
                Err(e) => panic!("annotate alias {p:?}: {e:?}"),
            }
            // Values: always parameters.
            let value_paths: Vec<(&str, orm::Result<u64>)> = vec![
                ("filter_path value", Author::objects().filter_path("name", p).and_then(|q| q.count(&db))),
                ("icontains", Author::objects().filter(Author::name().icontains(p)).count(&db)),
                ("startswith", Author::objects().filter(Author::name().startswith(p)).count(&db)),
                ("regex", Author::objects().filter(Author::name().regex(p)).count(&db).or(Ok(0))),
                ("update value", Author::objects().filter(Author::id().eq(-1)).update([Author::email().set(p)], &db)),
                ("in list", Author::objects().filter(Q::path("name__in", serde_json::json!([p, "x"]))?).count(&db)),
            ];
            for (what, r) in value_paths {
                match r {
                    Ok(n) => {
                        assert_eq!(n, 0, "{what} with {p:?} matched nothing");
                        ran += 1;
                    }
                    // PostgreSQL text cannot hold NUL: the server refuses the parameter.
                    Err(orm::Error::Database(e)) if e.kind() == orm_backends::ErrorKind::DataError && p.contains('\0') => {
                        typed_errors += 1
                    }
                    Err(e) => panic!("{what} with {p:?}: {e:?}"),
                }
            }
            let mut saved = Tag { id: Auto::unset(), name: p.chars().take(30).collect() };
            if saved.save(&db).is_ok() {
                let back = Tag::objects().get_pk(saved.id.get().unwrap(), &db)?;
                assert_eq!(back.name, saved.name, "a value round-trips byte for byte");
                saved.delete(&db)?;
            }
        }
        for q in capture.queries() {
            assert!(!q.sql.contains(MARK), "a payload reached SQL text: {}", q.sql);
        }
        drop(capture);
        assert_eq!(canary(&db)?, 1, "the canary table is untouched");
        assert!(typed_errors > 0 && ran > 0);
        assert_eq!(Author::objects().get_pk(ann.id.get().unwrap(), &db)?.name, "ann");
        Ok(())
    }
}

#[test]
fn connection_urls_with_hostile_parts_are_typed_errors() {
    for p in payloads().iter().take(60) {
        for url in [
            format!("postgres://{p}@127.0.0.1:1/db"),
            format!("mysql://root@127.0.0.1:1/{p}"),
            format!("sqlite://{p}/x.db"),
            format!("postgres://h/db?{p}=1"),
            p.clone(),
        ] {
            let started = std::time::Instant::now();
            let r = orm::Database::connect(&url);
            assert!(r.is_err() || url.starts_with("sqlite"), "{url:?} connected");
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "{url:?} took too long");
        }
    }
}

/// The public functions of `orm` (and `orm-backends`' URL parsing) that take a string, by
/// `file::function`: each must be listed in `injection_inventory.txt` with how it is covered.
#[test]
fn every_public_string_entry_point_is_in_the_inventory() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let listed: std::collections::BTreeSet<String> = include_str!("injection_inventory.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    let mut found = std::collections::BTreeSet::new();
    let mut stack = vec![root.join("orm/src"), root.join("backends/src/url.rs"), root.join("backends/src/connect.rs")];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let rel = p.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let mut rest = text.as_str();
        while let Some(at) = rest.find("pub fn ") {
            let sig_start = &rest[at + 7..];
            let end = sig_start.find(['{', ';']).unwrap_or(sig_start.len());
            let sig = &sig_start[..end];
            let name: String = sig.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if ["&str", "String", "str>", "&'s str"].iter().any(|t| sig.contains(t)) {
                found.insert(format!("{rel}::{name}"));
            }
            rest = &sig_start[end..];
        }
    }
    let missing: Vec<&String> = found.difference(&listed).collect();
    assert!(missing.is_empty(), "public string entry points missing from injection_inventory.txt (add each with how it is covered): {missing:#?}");
}
