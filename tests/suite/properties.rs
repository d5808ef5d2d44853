//! Property tests with shrinking (issue 18 items 1 and 4, proptest): a failure is reduced to
//! its smallest case before it is reported.
//!
//! - Differential: generated condition trees (lookups over NULL-able columns and unicode
//!   text, F arithmetic, expressions from `functions`, `Case`, AND/OR/NOT) give the same rows
//!   on every configured backend.
//! - The lookup-path parser: any string as a path gives a typed error or SQL whose text holds
//!   none of the string's non-identifier characters; it never panics.
//! - The fixture loader: generated fixtures (right and wrong models, keys, fields and values)
//!   give objects or a typed error; it never panics.
//!
//! Cases: `ORM_FUZZ_CASES` (default 64 differential trees, 256 paths and fixtures).

use orm::expressions::functions::{Abs, Coalesce, Length, Lower};
use orm::expressions::{Case, Expr, When, F};
use orm::prelude::*;
use orm_backends::testing::TestDb;
use orm_backends::{Backend, Dialect};
use orm_tests::fuzz::{cases, Rng};
use orm_tests::Item;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const NAMES: [&str; 6] = ["apple", "banana", "cherry", "日本", "x%_y", "o'brien"];
const KINDS: [&str; 3] = ["a", "b", "c"];

/// A condition tree over `Item`, printable (what proptest shows after shrinking).
#[derive(Clone, Debug)]
enum Cond {
    QtyGt(i64),
    QtyIn(Vec<i64>),
    PriceLt(i64),
    PriceNull(bool),
    NoteStarts(usize),
    NoteIContains(usize),
    KindIs(usize),
    /// `qty + k > price` (NULL prices drop out).
    QtyPlusGtPrice(i64),
    /// `price >= ABS(qty - k)` (NULL prices drop out).
    AbsNear(i64),
    /// `LENGTH(LOWER(COALESCE(note, name))) > k`.
    TextLen(i64),
    /// `CASE WHEN qty > k THEN 1 ELSE 0 END = 1`.
    CaseFlag(i64),
    /// One of the other text lookups on `note`: iexact, contains, endswith, istartswith,
    /// iendswith, regex, iregex (by `which`), with the `i`th name's text.
    NoteText(usize, usize),
    /// `qty BETWEEN a AND a + w`.
    QtyRange(i64, i64),
    /// `kind__in` a list.
    KindIn(Vec<usize>),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

fn leaf() -> impl Strategy<Value = Cond> {
    prop_oneof![
        (0i64..10).prop_map(Cond::QtyGt),
        prop::collection::vec(0i64..10, 0..4).prop_map(Cond::QtyIn),
        (0i64..6).prop_map(Cond::PriceLt),
        any::<bool>().prop_map(Cond::PriceNull),
        (0usize..NAMES.len()).prop_map(Cond::NoteStarts),
        (0usize..NAMES.len()).prop_map(Cond::NoteIContains),
        (0usize..KINDS.len()).prop_map(Cond::KindIs),
        (-3i64..4).prop_map(Cond::QtyPlusGtPrice),
        (0i64..10).prop_map(Cond::AbsNear),
        (0i64..9).prop_map(Cond::TextLen),
        (0i64..10).prop_map(Cond::CaseFlag),
        (0usize..7, 0usize..NAMES.len()).prop_map(|(w, i)| Cond::NoteText(w, i)),
        (0i64..10, 0i64..4).prop_map(|(a, w)| Cond::QtyRange(a, w)),
        prop::collection::vec(0usize..KINDS.len(), 0..3).prop_map(Cond::KindIn),
    ]
}

fn tree() -> impl Strategy<Value = Cond> {
    leaf().prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn q(c: &Cond) -> orm::Result<Q<Item>> {
    let prefix = |i: usize| NAMES[i].chars().take(2).collect::<String>();
    Ok(match c {
        Cond::QtyGt(n) => Item::qty().gt(*n),
        Cond::QtyIn(v) => Item::qty().is_in(v.clone()),
        Cond::PriceLt(n) => Q::path("price__lt", *n as f64)?,
        Cond::PriceNull(b) => Item::price().is_null(*b),
        Cond::NoteStarts(i) => Q::path("note__startswith", prefix(*i).as_str())?,
        Cond::NoteIContains(i) => Q::path("note__icontains", prefix(*i).as_str())?,
        Cond::KindIs(i) => Item::kind().eq(KINDS[*i]),
        Cond::QtyPlusGtPrice(k) => Q::path_expr("price__lt", F::col("qty") + *k)?,
        Cond::AbsNear(k) => Q::path_expr("price__gte", Abs::new(F::col("qty") - *k))?,
        Cond::TextLen(k) => {
            Q::path_expr("id__lt", Expr::value(0))?
                | Q::path_expr(
                    "qty__lt",
                    Length::new(Lower::new(Coalesce::new([F::col("note"), F::col("name")]))) + F::col("qty") - *k,
                )?
        }
        Cond::CaseFlag(k) => Q::expr(Case::new([When::new(Item::qty().gt(*k), true)]).default(false)),
        Cond::NoteText(w, i) => {
            // Short ASCII-safe pieces: collations fold case and accents their own way, which
            // RELIABILITY.md lists; the lookups themselves must agree.
            let text: String = NAMES[*i].chars().skip(1).take(2).collect();
            let lookup = ["iexact", "contains", "endswith", "istartswith", "iendswith", "regex", "iregex"][*w];
            let value = match lookup {
                "iexact" => NAMES[*i].to_uppercase(),
                "regex" | "iregex" => format!("^.{}", regex_escape(&text)),
                _ => text,
            };
            Q::path(&format!("note__{lookup}"), value.as_str())?
        }
        Cond::QtyRange(a, w) => Item::qty().range(*a, *a + *w),
        Cond::KindIn(v) => Item::kind().is_in(v.iter().map(|i| KINDS[*i]).collect::<Vec<_>>()),
        Cond::Not(c) => !q(c)?,
        Cond::And(a, b) => q(a)? & q(b)?,
        Cond::Or(a, b) => q(a)? | q(b)?,
    })
}

/// `s` with the regex metacharacters escaped.
fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

#[test]
fn generated_conditions_select_the_same_rows_everywhere() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(module_path!(), "::generated_conditions_select_the_same_rows_everywhere");
    let Some((handles, _owners)) = orm_tests::every_backend(path)? else { return Ok(()) };
    let rows = orm_tests::fuzz::items(&mut Rng(0x9E0F_0000_5EED_0002), 60, &NAMES, &KINDS)?;
    for (_, db) in &handles {
        Schema::new().model::<Item>().create_all(db)?;
        let mut mine = rows.clone();
        Item::objects().bulk_create(&mut mine, db)?;
    }
    let mut runner =
        TestRunner::new(Config { cases: cases(64) as u32, failure_persistence: None, ..Config::default() });
    runner
        .run(&tree(), |c| {
            let cond = q(&c).map_err(|e| TestCaseError::fail(format!("building {c:?}: {e}")))?;
            let mut first: Option<(Backend, Vec<i64>)> = None;
            for (b, db) in &handles {
                let ids: Vec<i64> = Item::objects()
                    .filter(cond.clone())
                    .order_by(["id"])
                    .values(["id"])
                    .fetch_flat(db)
                    .map_err(|e| TestCaseError::fail(format!("{c:?} on {}: {e}", b.name())))?;
                match &first {
                    None => first = Some((*b, ids)),
                    Some((fb, want)) => prop_assert_eq!(&ids, want, "{:?}: {} and {} differ", c, b.name(), fb.name()),
                }
            }
            Ok(())
        })
        .map_err(|e| format!("{e}"))?;
    Ok(())
}

#[test]
fn any_lookup_path_is_a_typed_error_or_sql_from_metadata() {
    let mut runner =
        TestRunner::new(Config { cases: cases(256) as u32, failure_persistence: None, ..Config::default() });
    let piece = "[a-z_]{0,6}|[a-z]{1,4}['\";`#%?$\\\\ -]{1,3}[a-z]{0,3}|qty|note|price|name|kind|pk|id";
    let path =
        prop::collection::vec(prop::string::string_regex(piece).expect("a regex"), 1..5).prop_map(|p| p.join("__"));
    runner
        .run(&path, |p| {
            let hostile: Vec<&str> =
                p.split("__").filter(|s| s.chars().any(|c| !c.is_ascii_alphanumeric() && c != '_')).collect();
            match Q::<Item>::path(&p, 1) {
                Err(orm::Error::FieldError { .. }) => {}
                Err(e) => return Err(TestCaseError::fail(format!("{p:?}: an untyped error: {e:?}"))),
                Ok(q) => {
                    for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
                        match Item::objects().filter(q.clone()).to_sql(d) {
                            Ok((sql, _)) => {
                                for h in &hostile {
                                    prop_assert!(!sql.contains(h), "{:?} reached the SQL text: {}", p, sql);
                                }
                            }
                            Err(
                                orm::Error::FieldError { .. } | orm::Error::ValueError(_) | orm::Error::TypeError(_),
                            ) => {}
                            Err(e) => return Err(TestCaseError::fail(format!("{p:?}: {e:?}"))),
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

fn json_scalar() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        (-1e6f64..1e6).prop_map(serde_json::Value::from),
        "[a-z'\"%日本]{0,8}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("2024-01-01T00:00:00Z")),
    ]
}

fn fixture() -> impl Strategy<Value = serde_json::Value> {
    let field = prop_oneof![
        Just("name".to_owned()),
        Just("note".to_owned()),
        Just("qty".to_owned()),
        Just("price".to_owned()),
        Just("kind".to_owned()),
        Just("at".to_owned()),
        "[a-z_'\"]{1,6}",
    ];
    let fields = prop::collection::btree_map(field, json_scalar(), 0..7)
        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()));
    let model = prop_oneof![Just("shop.item"), Just("shop.Item"), Just("blog.post"), Just("x"), Just("")];
    let object = (model, json_scalar(), fields, any::<bool>()).prop_map(|(m, pk, f, with_pk)| {
        let mut o = serde_json::Map::new();
        o.insert("model".into(), m.into());
        if with_pk {
            o.insert("pk".into(), pk);
        }
        o.insert("fields".into(), f);
        serde_json::Value::Object(o)
    });
    prop_oneof![prop::collection::vec(object, 0..4).prop_map(serde_json::Value::Array), json_scalar(),]
}

#[test]
fn any_fixture_loads_or_is_a_typed_error() {
    let db = Database::connect("sqlite::memory:").expect("memory");
    Schema::new().model::<Item>().create_all(&db).expect("schema");
    let mut runner =
        TestRunner::new(Config { cases: cases(256) as u32, failure_persistence: None, ..Config::default() });
    runner
        .run(&fixture(), |f| {
            match orm::serializers::deserialize::<Item>(&db, &f) {
                Ok(objects) => {
                    // Whatever loads saves or fails with a typed error, never a panic.
                    for mut o in objects {
                        let _ = o.save(&db);
                    }
                }
                Err(
                    orm::Error::Serialization(_)
                    | orm::Error::FieldError { .. }
                    | orm::Error::ValueError(_)
                    | orm::Error::FieldDoesNotExist { .. }
                    | orm::Error::TypeError(_),
                ) => {}
                Err(e) => return Err(TestCaseError::fail(format!("{f}: {e:?}"))),
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_fixture_missing_fields_gets_djangos_defaults_or_a_typed_error() {
    // Found by `any_fixture_loads_or_is_a_typed_error`: a missing NOT NULL field reached the
    // model's decoder and came back as a database conversion error.
    let db = Database::connect("sqlite::memory:").expect("memory");
    Schema::new().model::<Item>().create_all(&db).expect("schema");
    let Err(err) =
        orm::serializers::deserialize::<Item>(&db, &serde_json::json!([{"model": "shop.item", "fields": {}}]))
    else {
        panic!("qty has no default")
    };
    assert!(matches!(&err, orm::Error::Serialization(m) if m.contains("`qty` is missing")), "{err:?}");
    let fixture = serde_json::json!([{"model": "shop.item", "fields": {"qty": 2, "at": "2024-01-01T00:00:00Z"}}]);
    let objs = orm::serializers::deserialize::<Item>(&db, &fixture).expect("loads");
    // Text fields default to empty text, nullable ones to NULL (Django's get_default()).
    assert_eq!((objs[0].object.name.as_str(), objs[0].object.note.as_deref(), objs[0].object.qty), ("", None, 2));
}

/// A condition on `Article` across its relations: forward (writer, its nullable country),
/// reverse (remarks) and many-to-many (labels).
#[derive(Clone, Debug)]
enum RelCond {
    WriterName(usize),
    CountryName(usize),
    CountryNull(bool),
    LabelName(usize),
    RemarkHas(usize),
    RatingGt(i64),
    Not(Box<RelCond>),
    And(Box<RelCond>, Box<RelCond>),
    Or(Box<RelCond>, Box<RelCond>),
}

const WRITERS: [&str; 4] = ["ann", "bob", "zoë", "o'neil"];
const COUNTRIES: [&str; 3] = ["fr", "de", "日本"];
const LABELS: [&str; 4] = ["red", "green", "blue", "x%"];
const WORDS: [&str; 4] = ["good", "bad", "ünï", "50%"];

fn rel_tree() -> impl Strategy<Value = RelCond> {
    let leaf = prop_oneof![
        (0usize..WRITERS.len()).prop_map(RelCond::WriterName),
        (0usize..COUNTRIES.len()).prop_map(RelCond::CountryName),
        any::<bool>().prop_map(RelCond::CountryNull),
        (0usize..LABELS.len()).prop_map(RelCond::LabelName),
        (0usize..WORDS.len()).prop_map(RelCond::RemarkHas),
        (0i64..5).prop_map(RelCond::RatingGt),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| RelCond::Not(Box::new(c))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| RelCond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| RelCond::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn rel_q(c: &RelCond) -> orm::Result<Q<orm_tests::Article>> {
    Ok(match c {
        RelCond::WriterName(i) => Q::path("writer__name", WRITERS[*i])?,
        RelCond::CountryName(i) => Q::path("writer__country__name", COUNTRIES[*i])?,
        RelCond::CountryNull(b) => Q::path("writer__country__isnull", *b)?,
        RelCond::LabelName(i) => Q::path("labels__name", LABELS[*i])?,
        RelCond::RemarkHas(i) => Q::path("remarks__text__icontains", WORDS[*i])?,
        RelCond::RatingGt(n) => Q::path("rating__gt", *n)?,
        RelCond::Not(c) => !rel_q(c)?,
        RelCond::And(a, b) => rel_q(a)? & rel_q(b)?,
        RelCond::Or(a, b) => rel_q(a)? | rel_q(b)?,
    })
}

/// The same articles, writers, countries, labels and remarks on one backend.
fn seed_relations(db: &Database) -> orm::Result<()> {
    use orm_tests::fixtures::{article, label, writer};
    use orm_tests::{Article, Country, Label, Remark, Writer};
    Schema::new()
        .model::<Country>()
        .model::<Writer>()
        .model::<Label>()
        .model::<Article>()
        .model::<Remark>()
        .create_all(db)?;
    let countries: Vec<Country> = COUNTRIES
        .iter()
        .map(|n| Country { id: Auto::unset(), name: (*n).into() }.create(db))
        .collect::<orm::Result<_>>()?;
    let writers: Vec<Writer> = WRITERS
        .iter()
        .enumerate()
        .map(|(i, n)| writer(db, n, (i < 3).then(|| &countries[i % countries.len()])))
        .collect::<orm::Result<_>>()?;
    let labels: Vec<Label> = LABELS.iter().map(|n| label(db, n)).collect::<orm::Result<_>>()?;
    let mut r = Rng(0x9E0F_0000_5EED_0003);
    for k in 0..16 {
        let a = article(db, &format!("a{k}"), &writers[r.below(writers.len())], r.below(5) as i64)?;
        let picked: Vec<i64> = labels.iter().filter(|_| r.below(3) == 0).map(|l| l.id.get().unwrap_or(0)).collect();
        if !picked.is_empty() {
            a.labels().add(picked, db)?;
        }
        for _ in 0..r.below(3) {
            Remark {
                id: Auto::unset(),
                article: ForeignKey::to(&a)?,
                text: format!("{} {k}", WORDS[r.below(WORDS.len())]),
            }
            .create(db)?;
        }
    }
    Ok(())
}

#[test]
fn generated_conditions_across_relations_select_the_same_rows_everywhere() -> Result<(), Box<dyn std::error::Error>> {
    // Issue 18 item 1's relations: filter and exclude across forward, nullable, reverse and
    // many-to-many relations, AND/OR/NOT, on every configured backend.
    use orm_tests::Article;
    let path = concat!(module_path!(), "::generated_conditions_across_relations_select_the_same_rows_everywhere");
    let Some((handles, _owners)) = orm_tests::every_backend(path)? else { return Ok(()) };
    for (_, db) in &handles {
        seed_relations(db)?;
    }
    let mut runner =
        TestRunner::new(Config { cases: cases(64) as u32, failure_persistence: None, ..Config::default() });
    runner
        .run(&(rel_tree(), any::<bool>()), |(c, exclude)| {
            let cond = rel_q(&c).map_err(|e| TestCaseError::fail(format!("building {c:?}: {e}")))?;
            let mut first: Option<(Backend, Vec<String>)> = None;
            for (b, db) in &handles {
                let qs = if exclude {
                    Article::objects().exclude(cond.clone())
                } else {
                    Article::objects().filter(cond.clone())
                };
                let mut titles: Vec<String> = qs
                    .distinct()
                    .values(["title"])
                    .fetch_flat(db)
                    .map_err(|e| TestCaseError::fail(format!("{c:?} on {}: {e}", b.name())))?;
                titles.sort();
                match &first {
                    None => first = Some((*b, titles)),
                    Some((fb, want)) => {
                        prop_assert_eq!(
                            &titles,
                            want,
                            "{:?} (exclude: {}): {} and {} differ",
                            c,
                            exclude,
                            b.name(),
                            fb.name()
                        )
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| format!("{e}"))?;
    Ok(())
}

orm_backends::backend_test! {
    fn a_regex_dot_matches_one_character_and_case_counts(t: &TestDb) {
        // Found by `generated_conditions_select_the_same_rows_everywhere`: MySQL's
        // `REGEXP BINARY` (Django's form) matched bytes, so `.` did not match `日`.
        let db = Database::from_pool((**t).clone());
        Schema::new().model::<Item>().create_all(&db)?;
        let mut rows = orm_tests::fuzz::items(&mut Rng(7), 1, &["x"], &["a"])?;
        rows[0].note = Some("日本 Rust".into());
        Item::objects().bulk_create(&mut rows, &db)?;
        assert_eq!(Item::objects().filter(Q::path("note__regex", "^.本")?).count(&db)?, 1);
        assert_eq!(Item::objects().filter(Q::path("note__regex", "rust")?).count(&db)?, 0, "regex is case-sensitive");
        assert_eq!(Item::objects().filter(Q::path("note__iregex", "RUST$")?).count(&db)?, 1);
        Ok(())
    }
}
