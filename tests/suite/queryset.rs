//! QuerySet: laziness, lookups, Q/F, NULL semantics, ordering, slicing, values, aggregates,
//! subqueries, bulk writes, get_or_create races, atomic rollback, streaming, FieldErrors.

use chrono::{DateTime, TimeZone, Utc};
use orm::expressions::{Avg, Count, Max, Min, Sum};
use orm::prelude::*;
use orm::{Exists, OuterRef, Subquery, Value, F};
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;
use std::collections::BTreeSet;

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 30, 0).unwrap()
}

/// name, note, qty, price, kind, at
type Seed<'a> = (&'a str, Option<&'a str>, i64, Option<f64>, &'a str, DateTime<Utc>);

fn seed(db: &Database) -> orm::Result<Vec<Item>> {
    Schema::new()
        .model::<Item>()
        .model::<Tally>()
        .model::<Reading>()
        .model::<Gadget>()
        .model::<Author>()
        .model::<Tag>()
        .model::<Post>()
        .create_all(db)?;
    let rows: Vec<Seed<'_>> = vec![
        ("50% off", Some("sale"), 5, Some(9.5), "promo", at(2023, 1, 15, 9)),
        ("under_score", None, 3, None, "promo", at(2023, 6, 1, 18)),
        ("it's quoted", Some("x"), 8, Some(1.0), "basic", at(2024, 2, 29, 12)),
        ("Ünïcode ✓", Some("X"), 1, Some(100.0), "basic", at(2024, 7, 4, 0)),
        ("back\\slash", None, 0, Some(9.5), "basic", at(2024, 12, 31, 23)),
        ("Case", Some("sale"), 8, None, "other", at(2022, 3, 6, 6)),
        ("case", Some("y"), 2, Some(3.25), "other", at(2022, 3, 7, 7)),
    ];
    let mut items = Vec::new();
    for (name, note, qty, price, kind, t) in rows {
        let mut i = Item {
            id: Auto::unset(),
            name: name.into(),
            note: note.map(Into::into),
            qty,
            price,
            kind: kind.into(),
            at: t,
        };
        i.save(db)?;
        items.push(i);
    }
    Ok(items)
}

fn names(items: &[Item]) -> BTreeSet<String> {
    items.iter().map(|i| i.name.clone()).collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

backend_test! {
    fn building_is_lazy_and_evaluation_runs_one_statement(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let capture = db.capture_queries();
        let qs = Item::objects()
            .filter(Item::qty().gt(1))
            .exclude(Item::name().contains("x"))
            .order_by(["-qty", "name"])
            .annotate("double", F::col("qty") * 2)
            .limit(3);
        let again = qs.clone().offset(1);
        assert_eq!(capture.len(), 0, "building and chaining sent nothing");
        let rows = qs.fetch(&db)?;
        assert_eq!(capture.len(), 1, "one evaluation, one statement");
        assert_eq!(rows.len(), 3);
        again.count(&db)?;
        assert_eq!(capture.len(), 2);
        assert!(Item::objects().none().fetch(&db)?.is_empty());
        assert_eq!(capture.len(), 2, "none() sends nothing");
        Ok(())
    }
}

backend_test! {
    fn every_lookup_behaves_the_same(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let q = |q: Q<Item>| -> orm::Result<BTreeSet<String>> { Ok(names(&Item::objects().filter(q).fetch(&db)?)) };
        if db.dialect() == orm::Dialect::Mysql {
            // Documented: `exact` compares with the column's collation, case-insensitive on
            // MySQL/MariaDB's default utf8mb4_unicode_ci (as in Django).
            assert_eq!(q(Item::name().eq("Case"))?, set(&["Case", "case"]));
        } else {
            assert_eq!(q(Item::name().eq("Case"))?, set(&["Case"]));
        }
        assert_eq!(q(Item::name().iexact("CASE"))?, set(&["Case", "case"]));
        assert_eq!(q(Item::name().contains("%"))?, set(&["50% off"]), "% is literal");
        assert_eq!(q(Item::name().contains("_"))?, set(&["under_score"]), "_ is literal");
        assert_eq!(q(Item::name().contains("\\"))?, set(&["back\\slash"]), "backslash is literal");
        assert_eq!(q(Item::name().contains("'"))?, set(&["it's quoted"]));
        assert_eq!(q(Item::name().contains("ase"))?, set(&["Case", "case"]));
        assert_eq!(q(Item::name().contains("Cas"))?, set(&["Case"]), "contains is case-sensitive everywhere");
        assert_eq!(q(Item::name().icontains("CAS"))?, set(&["Case", "case"]));
        assert_eq!(q(Item::name().startswith("c"))?, set(&["case"]));
        assert_eq!(q(Item::name().istartswith("c"))?, set(&["Case", "case"]));
        assert_eq!(q(Item::name().endswith("✓"))?, set(&["Ünïcode ✓"]));
        assert_eq!(q(Item::name().iendswith("SCORE"))?, set(&["under_score"]));
        assert_eq!(q(Item::qty().is_in([8, 2]))?, set(&["it's quoted", "Case", "case"]));
        assert_eq!(q(Item::qty().is_in(Vec::<i64>::new()))?, set(&[]), "an empty list matches nothing");
        assert_eq!(q(Item::qty().gt(5))?, set(&["it's quoted", "Case"]));
        assert_eq!(q(Item::qty().gte(5))?, set(&["50% off", "it's quoted", "Case"]));
        assert_eq!(q(Item::qty().lt(2))?, set(&["Ünïcode ✓", "back\\slash"]));
        assert_eq!(q(Item::qty().lte(2))?, set(&["Ünïcode ✓", "back\\slash", "case"]));
        assert_eq!(q(Item::qty().range(2, 3))?, set(&["under_score", "case"]));
        assert_eq!(q(Item::note().is_null(true))?, set(&["under_score", "back\\slash"]));
        assert_eq!(q(Item::price().is_null(false))?.len(), 5);
        assert_eq!(q(Q::path("note", Value::Null)?)?, set(&["under_score", "back\\slash"]), "exact None is IS NULL");
        assert_eq!(q(Item::name().regex("^[a-z]+_"))?, set(&["under_score"]));
        assert_eq!(q(Item::name().regex("^C"))?, set(&["Case"]));
        assert_eq!(q(Item::name().iregex("^c"))?, set(&["Case", "case"]));
        // Date parts.
        assert_eq!(q(Item::at().year().eq(2024))?, set(&["it's quoted", "Ünïcode ✓", "back\\slash"]));
        assert_eq!(q(Item::at().month().eq(3))?, set(&["Case", "case"]));
        assert_eq!(q(Item::at().day().eq(29))?, set(&["it's quoted"]));
        assert_eq!(q(Item::at().week_day().eq(1))?, set(&["50% off", "Case"]), "2023-01-15 and 2022-03-06 were Sundays (1)");
        assert_eq!(q(Item::at().week_day().eq(5))?, set(&["under_score", "it's quoted", "Ünïcode ✓"]), "Thursdays (5)");
        assert_eq!(q(Item::at().hour().gte(18))?, set(&["under_score", "back\\slash"]));
        assert_eq!(q(Item::at().date().eq(chrono::NaiveDate::from_ymd_opt(2024, 7, 4).unwrap()))?, set(&["Ünïcode ✓"]));
        // String paths reach the same lookups.
        let by_path = Item::objects().filter_path("name__icontains", "CAS")?.filter_path("at__year__lt", 2023)?.fetch(&db)?;
        assert_eq!(names(&by_path), set(&["Case", "case"]));
        let in_path = Item::objects().filter_path("qty__in", serde_json::json!([1, 0]))?.fetch(&db)?;
        assert_eq!(names(&in_path), set(&["Ünïcode ✓", "back\\slash"]));
        Ok(())
    }
}

backend_test! {
    fn q_trees_and_exclude_follow_django_null_rules(t: &TestDb) {
        let db = db_of(t);
        let items = seed(&db)?;
        let all = names(&items);
        // exclude(note="sale") keeps rows whose note is NULL.
        let ex = names(&Item::objects().exclude(Item::note().eq("sale")).fetch(&db)?);
        let expected: BTreeSet<String> = items.iter().filter(|i| i.note.as_deref() != Some("sale")).map(|i| i.name.clone()).collect();
        assert_eq!(ex, expected);
        assert!(ex.contains("under_score"));
        // !(a | b) & c, to depth.
        let q = !(Item::kind().eq("promo") | Item::qty().gt(7)) & (Item::price().lt(50.0) | Item::note().is_null(true));
        let got = names(&Item::objects().filter(q).fetch(&db)?);
        let want: BTreeSet<String> = items
            .iter()
            .filter(|i| !(i.kind == "promo" || i.qty > 7) && (i.price.is_some_and(|p| p < 50.0) || i.note.is_none()))
            .map(|i| i.name.clone())
            .collect();
        assert_eq!(got, want);
        // A negated comparison on a nullable column counts NULL as "not equal".
        let not_cheap = names(&Item::objects().filter(!Item::price().lt(5.0)).fetch(&db)?);
        let want: BTreeSet<String> = items.iter().filter(|i| !i.price.is_some_and(|p| p < 5.0)).map(|i| i.name.clone()).collect();
        assert_eq!(not_cheap, want);
        // Double negation is the original.
        assert_eq!(names(&Item::objects().filter(!!Item::qty().gt(4)).fetch(&db)?), names(&Item::objects().filter(Item::qty().gt(4)).fetch(&db)?));
        assert_eq!(names(&Item::objects().filter(Q::all()).fetch(&db)?), all);
        Ok(())
    }
}

backend_test! {
    fn f_expressions_in_updates_filters_annotations_and_ordering(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let n = Item::objects().filter(Item::kind().eq("basic")).update([Item::qty().set(F::col("qty") + 10)], &db)?;
        assert_eq!(n, 3);
        let qtys: Vec<i64> = Item::objects().filter(Item::kind().eq("basic")).order_by(["name"]).values(["qty"]).fetch_flat(&db)?;
        assert_eq!(qtys, [10, 18, 11]);
        // Every row at once.
        Item::objects().update([Item::qty().set(F::col("qty") * 2 - 1)], &db)?;
        assert_eq!(Item::objects().filter(Item::name().startswith("case")).get(&db)?.qty, 3);
        // Comparing two columns.
        let cheap_many = Item::objects().filter(Item::price().compare(orm::Lookup::Lt, F::col("qty"))).fetch(&db)?;
        assert_eq!(names(&cheap_many), set(&["it's quoted", "back\\slash"]));
        // Annotation, readable, filterable and orderable.
        let annotated = Item::objects()
            .annotate("total", F::col("qty") * F::col("price"))
            .filter(Q::path("total__gt", 50)?)
            .order_by(["-total"])
            .fetch_annotated(&db)?;
        let got: Vec<(String, f64)> = annotated.iter().map(|a| Ok((a.object.name.clone(), a.get::<f64>("total")?))).collect::<orm::Result<_>>()?;
        // qty after the updates: 9, 5, 35, 21, 19, 15, 3; total = qty * price where priced.
        assert_eq!(got, [("Ünïcode ✓".to_owned(), 2100.0), ("back\\slash".to_owned(), 180.5), ("50% off".to_owned(), 85.5)]);
        let by_expr = Item::objects().order_by([(F::col("qty") * -1).asc(), OrderBy::asc("name")]).limit(2).fetch(&db)?;
        assert_eq!(by_expr[0].name, "it's quoted");
        Ok(())
    }
}

backend_test! {
    fn ordering_ties_descending_and_nulls(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let by_price: Vec<String> = Item::objects().order_by(["price", "name"]).fetch(&db)?.into_iter().map(|i| i.name).collect();
        assert_eq!(by_price, ["Case", "under_score", "it's quoted", "case", "50% off", "back\\slash", "Ünïcode ✓"], "NULLs first ascending, ties by name");
        let desc: Vec<String> = Item::objects().order_by(["-price", "-name"]).fetch(&db)?.into_iter().map(|i| i.name).collect();
        assert_eq!(desc, ["Ünïcode ✓", "back\\slash", "50% off", "case", "it's quoted", "under_score", "Case"], "NULLs last descending");
        // The model's default ordering is by name; reverse() flips it.
        // Ties broken by id: MySQL's case-insensitive collation ties "Case" with "case".
        let by_name = Item::objects().order_by(["name", "id"]);
        let first = by_name.first(&db)?.unwrap();
        let last = by_name.last(&db)?.unwrap();
        let mut sorted: Vec<String> = by_name.fetch(&db)?.into_iter().map(|i| i.name).collect();
        assert_eq!(first.name, sorted[0]);
        assert_eq!(last.name, *sorted.last().unwrap());
        let reversed: Vec<String> = by_name.clone().reverse().fetch(&db)?.into_iter().map(|i| i.name).collect();
        sorted.reverse();
        assert_eq!(reversed, sorted);
        assert_eq!(Item::objects().earliest("at", &db)?.name, "Case");
        assert_eq!(Item::objects().latest("at", &db)?.name, "back\\slash");
        Ok(())
    }
}

backend_test! {
    fn slicing_with_and_without_ordering(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let all: Vec<String> = Item::objects().order_by(["qty", "name"]).fetch(&db)?.into_iter().map(|i| i.name).collect();
        let page: Vec<String> = Item::objects().order_by(["qty", "name"]).slice(2..5).fetch(&db)?.into_iter().map(|i| i.name).collect();
        assert_eq!(page, all[2..5]);
        let tail: Vec<String> = Item::objects().order_by(["qty", "name"]).offset(5).fetch(&db)?.into_iter().map(|i| i.name).collect();
        assert_eq!(tail, all[5..]);
        assert_eq!(Item::objects().order_by(Vec::<&str>::new()).limit(4).fetch(&db)?.len(), 4, "unordered slices work too");
        assert_eq!(Item::objects().order_by(["qty"]).slice(2..5).count(&db)?, 3);
        assert_eq!(Item::objects().slice(6..100).count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn values_and_values_list_shapes(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let rows = Item::objects().filter(Item::kind().eq("other")).values(["name", "qty"]).order_by(["name"]).fetch_values(&db)?;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].columns(), ["name", "qty"]);
        assert_eq!(rows[0].get::<String>(0)?, "Case");
        assert_eq!(rows[1].get::<i64>(1)?, 2);
        let lists = Item::objects().filter(Item::kind().eq("other")).values(["qty", "name"]).order_by(["name"]).fetch_lists(&db)?;
        assert_eq!(lists, vec![vec![Value::Int(8), Value::Text("Case".into())], vec![Value::Int(2), Value::Text("case".into())]]);
        let flat: Vec<String> = Item::objects().filter(Item::kind().eq("promo")).values(["name"]).fetch_flat(&db)?;
        assert_eq!(flat, ["50% off", "under_score"]);
        let everything = Item::objects().filter(Item::name().eq("case")).fetch_values(&db)?;
        assert_eq!(everything[0].columns().len(), Item::meta().fields.len());
        Ok(())
    }
}

backend_test! {
    fn aggregates_group_by_and_having(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let row = Item::objects().aggregate(
            [
                ("n", Count::all()),
                ("priced", Count::of("price")),
                ("kinds", Count::of("kind").distinct()),
                ("total", Sum::of("qty")),
                ("low", Min::of("qty")),
                ("high", Max::of("qty")),
                ("avg_price", Avg::of("price")),
                ("big", Count::all().filter(Item::qty().gte(5))),
            ],
            &db,
        )?;
        assert_eq!(row.get::<i64>(0)?, 7);
        assert_eq!(row.get::<i64>(1)?, 5);
        assert_eq!(row.get::<i64>(2)?, 3);
        assert_eq!(row.get::<i64>(3)?, 27);
        assert_eq!(row.get::<i64>(4)?, 0);
        assert_eq!(row.get::<i64>(5)?, 8);
        assert!((row.get::<f64>(6)? - (9.5 + 1.0 + 100.0 + 9.5 + 3.25) / 5.0).abs() < 1e-9);
        assert_eq!(row.get::<i64>(7)?, 3);
        let groups = Item::objects()
            .values(["kind"])
            .annotate("n", Count::all())
            .annotate("qty_sum", Sum::of("qty"))
            .order_by(["kind"])
            .fetch_values(&db)?;
        let got: Vec<(String, i64, i64)> = groups.iter().map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).collect::<orm::Result<_>>()?;
        assert_eq!(got, [("basic".to_owned(), 3, 9), ("other".to_owned(), 2, 10), ("promo".to_owned(), 2, 8)]);
        // HAVING: filter on the aggregate annotation.
        let having = Item::objects().values(["kind"]).annotate("total", Sum::of("qty")).filter(Q::path("total__gt", 8)?).order_by(["kind"]).fetch_values(&db)?;
        let kinds: Vec<String> = having.iter().map(|r| r.get(0)).collect::<orm_backends::Result<_>>()?;
        assert_eq!(kinds, ["basic", "other"]);
        assert_eq!(Item::objects().values(["kind"]).annotate("n", Count::all()).count(&db)?, 3);
        let e = Item::objects().annotate("qty", Sum::of("qty")).fetch(&db).unwrap_err();
        assert!(e.to_string().contains("conflicts with a field"), "{e}");
        Ok(())
    }
}

backend_test! {
    fn exists_outerref_and_subqueries(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        // Items for which a cheaper item of the same kind exists.
        let has_cheaper = Item::objects().filter(Exists::new(
            Item::objects().filter(Q::path_expr("kind", OuterRef::col("kind"))? & Q::path_expr("qty__lt", OuterRef::col("qty"))?),
        ));
        assert_eq!(names(&has_cheaper.fetch(&db)?), set(&["50% off", "it's quoted", "Ünïcode ✓", "Case"]));
        let none_cheaper = Item::objects().exclude(Exists::new(
            Item::objects().filter(Q::path_expr("kind", OuterRef::col("kind"))? & Q::path_expr("qty__lt", OuterRef::col("qty"))?),
        ));
        assert_eq!(names(&none_cheaper.fetch(&db)?), set(&["under_score", "back\\slash", "case"]));
        // A scalar subquery as an annotation: the most items of the same kind.
        let top = Subquery::new(
            Item::objects().filter(Q::path_expr("kind", OuterRef::col("kind"))?).order_by(["-qty"]).limit(1),
            "qty",
        );
        let rows = Item::objects().annotate("top", top).filter(Q::path_expr("qty", F::col("top"))?).fetch(&db)?;
        assert_eq!(names(&rows), set(&["50% off", "it's quoted", "Case"]));
        // IN (subquery).
        let promo_ids = Item::objects().filter(Item::kind().eq("promo")).subquery("id");
        assert_eq!(names(&Item::objects().filter(Item::id().in_subquery(promo_ids)).fetch(&db)?), set(&["50% off", "under_score"]));
        Ok(())
    }
}

backend_test! {
    fn a_repeated_query_shape_binds_each_calls_values(t: &TestDb) {
        // The SQL of a query shape is rendered once and reused: each call must still bind its
        // own values, and values that change the SQL (NULL, isnull, list lengths) must not
        // reuse another shape's text.
        let db = db_of(t);
        seed(&db)?;
        for _ in 0..2 {
            for (kind, want) in [("promo", &["50% off", "under_score"][..]), ("other", &["Case", "case"][..]), ("none", &[][..])] {
                assert_eq!(names(&Item::objects().filter(Item::kind().eq(kind)).fetch(&db)?), set(want), "kind = {kind}");
            }
            let null_notes = Item::objects().filter_path("note__isnull", true)?.fetch(&db)?;
            let set_notes = Item::objects().filter_path("note__isnull", false)?.fetch(&db)?;
            assert_eq!(names(&null_notes), set(&["under_score", "back\\slash"]));
            assert_eq!(set_notes.len(), 5);
            // `= NULL` renders IS NULL; a value renders `= ?`.
            assert_eq!(Item::objects().filter_path("note", Value::Null)?.count(&db)?, 2);
            assert_eq!(Item::objects().filter_path("note", "y")?.count(&db)?, 1);
            // Lists of different lengths.
            assert_eq!(Item::objects().filter(Item::qty().is_in([8])).count(&db)?, 2);
            assert_eq!(Item::objects().filter(Item::qty().is_in([8, 1, 0])).count(&db)?, 4);
            assert_eq!(Item::objects().filter(Item::qty().is_in([1, 2])).count(&db)?, 2);
            // Exclusions and text lookups with changing values, limits with changing sizes.
            assert_eq!(Item::objects().exclude(Item::qty().gt(4)).count(&db)?, 4);
            assert_eq!(Item::objects().exclude(Item::qty().gt(7)).count(&db)?, 5);
            assert_eq!(names(&Item::objects().filter(Item::name().icontains("CASE")).fetch(&db)?), set(&["Case", "case"]));
            assert_eq!(names(&Item::objects().filter(Item::name().icontains("_")).fetch(&db)?), set(&["under_score"]));
            assert_eq!(Item::objects().order_by(["qty"]).limit(2).fetch(&db)?.len(), 2);
            assert_eq!(Item::objects().order_by(["qty"]).limit(5).fetch(&db)?.len(), 5);
            // An annotation whose expression binds a value, filtered on (qty + add > 8).
            for (add, want) in [(0, 0), (5, 3), (10, 7)] {
                let qs = Item::objects().annotate("more", F::col("qty") + add).filter_path("more__gt", 8)?;
                assert_eq!(qs.count(&db)?, want, "qty + {add} > 8");
            }
        }
        Ok(())
    }
}

backend_test! {
    fn bulk_create_splits_at_the_parameter_limit(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        // 6 columns (the key is generated) × 12,000 rows = 72,000 parameters: more than any
        // backend takes at once.
        let mut many: Vec<Item> = (0..12_000)
            .map(|i| Item { id: Auto::unset(), name: format!("bulk {i}"), note: None, qty: i, price: Some(i as f64 / 2.0), kind: "bulk".into(), at: at(2020, 1, 1, 0) })
            .collect();
        let capture = db.capture_queries();
        let n = Item::objects().bulk_create(&mut many, &db)?;
        assert_eq!(n, 12_000);
        let inserts = capture.queries().iter().filter(|q| q.sql.starts_with("INSERT")).count();
        assert!(inserts >= 2, "split into several statements, got {inserts}");
        assert!(capture.queries().iter().all(|q| q.params.len() <= db.dialect().features().max_query_params));
        assert_eq!(Item::objects().filter(Item::kind().eq("bulk")).count(&db)?, 12_000);
        // The connection's flags: MariaDB 10.5+ returns inserted rows where MySQL does not.
        let returns_keys = db.with_connection(|c| Ok::<_, orm::Error>(c.features().can_return_rows_from_bulk_insert))?;
        if returns_keys {
            let keys: BTreeSet<i64> = many.iter().map(|i| i.id.get().expect("keys are set")).collect();
            assert_eq!(keys.len(), 12_000);
            let back = Item::objects().get_pk(many[11_999].id.get().unwrap(), &db)?;
            assert_eq!(back.name, "bulk 11999", "keys match their rows");
            let stored: std::collections::HashMap<i64, String> = Item::objects()
                .filter(Item::kind().eq("bulk"))
                .fetch(&db)?
                .into_iter()
                .map(|i| (i.id.get().unwrap(), i.name))
                .collect();
            assert!(many.iter().all(|i| stored.get(&i.id.get().unwrap()) == Some(&i.name)), "every key names its own row");
        } else {
            assert!(many.iter().all(|i| !i.id.is_set()), "documented: no keys from a multi-row insert on MySQL");
        }
        // bulk_update.
        let mut fetched = Item::objects().filter(Item::kind().eq("bulk")).filter(Item::qty().lt(300)).fetch(&db)?;
        for i in &mut fetched {
            i.qty += 1_000;
            i.note = Some(format!("n{}", i.qty));
        }
        let updated = Item::objects().bulk_update(&fetched, &["qty", "note"], &db)?;
        assert_eq!(updated, 300);
        assert_eq!(Item::objects().filter(Item::note().startswith("n")).count(&db)?, 300);
        assert_eq!(Item::objects().filter(Item::note().eq("n1005")).get(&db)?.qty, 1_005);
        Ok(())
    }
}

/// SQLite only, and run as such rather than passing empty on the others: SQLite alone reads
/// multi-row keys off `last_insert_rowid()`, which a trigger inserting into the same table
/// disturbs. PostgreSQL lists them with RETURNING and MySQL reports none (and refuses a
/// trigger writing to its own table), whatever triggers do.
#[test]
fn bulk_create_keys_stay_unset_when_a_trigger_inserts_alongside() {
    orm_backends::testing::run(
        orm_backends::Backend::Sqlite,
        concat!(module_path!(), "::bulk_create_keys_stay_unset_when_a_trigger_inserts_alongside"),
        bulk_create_keys_with_a_trigger,
    );
}

fn bulk_create_keys_with_a_trigger(t: &TestDb) -> orm_backends::testing::TestResult {
    let db = db_of(t);
    seed(&db)?;
    db.pool().get()?.execute_batch(
        "CREATE TRIGGER item_shadow AFTER INSERT ON shop_item WHEN NEW.kind = 'shadowed' \
         BEGIN INSERT INTO shop_item (name, qty, kind, at) VALUES ('shadow', 0, 'shadow', NEW.at); END",
    )?;
    let three = |prefix: &str, kind: &str| -> Vec<Item> {
        (0..3)
            .map(|i| Item {
                id: Auto::unset(),
                name: format!("{prefix}{i}"),
                note: None,
                qty: i,
                price: None,
                kind: kind.into(),
                at: at(2020, 1, 1, 0),
            })
            .collect()
    };
    let mut rows = three("s", "shadowed");
    assert_eq!(Item::objects().bulk_create(&mut rows, &db)?, 3);
    // The trigger's rows took rowids between ours: computed keys would be wrong, so none.
    assert!(rows.iter().all(|i| !i.id.is_set()), "no guessed keys");
    assert_eq!(Item::objects().filter(Item::kind().eq("shadow")).count(&db)?, 3);
    // Without the trigger firing, keys are set and name their rows.
    let mut plain = three("p", "plain");
    Item::objects().bulk_create(&mut plain, &db)?;
    for p in &plain {
        assert_eq!(Item::objects().get_pk(p.id.get().expect("key set"), &db)?.name, p.name);
    }
    Ok(())
}

backend_test! {
    fn get_or_create_under_a_race_makes_one_row(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let (first, created) = Tally::objects().get_or_create(Tally::name().eq("solo"), || Tally { id: Auto::unset(), name: "solo".into(), hits: 1 }, &db)?;
        assert!(created);
        let (again, created) = Tally::objects().get_or_create(Tally::name().eq("solo"), || Tally { id: Auto::unset(), name: "solo".into(), hits: 99 }, &db)?;
        assert!(!created);
        assert_eq!(again.id, first.id);
        for round in 0..5 {
            let name = format!("race {round}");
            let barrier = std::sync::Barrier::new(2);
            let results: Vec<orm::Result<(Tally, bool)>> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..2)
                    .map(|_| {
                        let (db, name, barrier) = (db.clone(), name.clone(), &barrier);
                        s.spawn(move || {
                            barrier.wait();
                            Tally::objects().get_or_create(Tally::name().eq(name.as_str()), || Tally { id: Auto::unset(), name: name.clone(), hits: 0 }, &db)
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().expect("no panic")).collect()
            });
            let ok: Vec<(Tally, bool)> = results.into_iter().collect::<orm::Result<_>>()?;
            assert_eq!(ok.iter().filter(|(_, c)| *c).count(), 1, "exactly one created");
            assert_eq!(ok[0].0.id, ok[1].0.id, "both see the same row");
            assert_eq!(Tally::objects().filter(Tally::name().eq(name.as_str())).count(&db)?, 1);
        }
        let (updated, created) = Tally::objects().update_or_create(Tally::name().eq("solo"), |t| t.hits += 10, || unreachable!("exists"), &db)?;
        assert!(!created);
        assert_eq!(updated.hits, 11);
        let (made, created) = Tally::objects().update_or_create(Tally::name().eq("new"), |t| t.hits += 10, || Tally { id: Auto::unset(), name: "new".into(), hits: 5 }, &db)?;
        assert!(created);
        assert_eq!(made.hits, 5);
        Ok(())
    }
}

backend_test! {
    fn atomic_rolls_back_on_error_and_on_panic(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let before = Tally::objects().count(&db)?;
        let r: orm::Result<()> = db.atomic(|tx| {
            Tally { id: Auto::unset(), name: "a".into(), hits: 0 }.create(tx)?;
            Tally { id: Auto::unset(), name: "a".into(), hits: 0 }.create(tx)?; // duplicate: fails
            Ok(())
        });
        assert!(matches!(r, Err(orm::Error::IntegrityError(_))));
        assert_eq!(Tally::objects().count(&db)?, before, "no partial rows");
        let db2 = db.clone();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _ = db2.atomic(|tx| -> orm::Result<()> {
                Tally { id: Auto::unset(), name: "b".into(), hits: 0 }.create(tx)?;
                panic!("boom");
            });
        }));
        assert!(panicked.is_err());
        assert_eq!(Tally::objects().count(&db)?, before);
        // Nested: the inner failure rolls back only the savepoint.
        db.atomic(|tx| {
            Tally { id: Auto::unset(), name: "outer".into(), hits: 0 }.create(tx)?;
            let inner: orm::Result<()> = tx.atomic(|sp| {
                Tally { id: Auto::unset(), name: "inner".into(), hits: 0 }.create(sp)?;
                Err(orm::Error::field_error("nope"))
            });
            assert!(inner.is_err());
            Ok(())
        })?;
        let left: Vec<String> = Tally::objects().order_by(["name"]).values(["name"]).fetch_flat(&db)?;
        assert_eq!(left, ["outer"]);
        Ok(())
    }
}

backend_test! {
    fn streams_100k_rows(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Reading>().create_all(&db)?;
        let mut rows: Vec<Reading> = (0..100_000).map(|i| Reading { id: Auto::unset(), sensor: i % 7, value: f64::from(i) }).collect();
        Reading::objects().bulk_create(&mut rows, &db)?;
        drop(rows);
        let mut seen = 0u64;
        let mut sum = 0.0;
        for r in Reading::objects().order_by(["value"]).chunk_size(2_000).iter(&db)? {
            let r = r?;
            assert_eq!(r.value, seen as f64, "in order");
            sum += r.value;
            seen += 1;
        }
        assert_eq!(seen, 100_000);
        assert_eq!(sum, (0..100_000u64).sum::<u64>() as f64);
        // Inside a transaction the iterator borrows the transaction's connection; using it for
        // something else meanwhile is a clean Busy error.
        db.atomic(|tx| {
            let mut it = Reading::objects().iter(tx)?;
            assert!(it.next().is_some());
            let e = Reading::objects().count(tx).unwrap_err();
            assert!(e.to_string().contains("in use"), "{e}");
            drop(it);
            assert_eq!(Reading::objects().count(tx)?, 100_000);
            Ok(())
        })?;
        Ok(())
    }
}

backend_test! {
    fn bad_names_are_field_errors_before_any_sql(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        let capture = db.capture_queries();
        let e = Item::objects().filter_path("nmae", "x").unwrap_err();
        assert!(matches!(&e, orm::Error::FieldError { message } if message.contains("'nmae'") && message.contains("name, note")), "{e}");
        let e = Item::objects().filter_path("name__contians", "x").unwrap_err();
        assert!(e.to_string().contains("Unsupported lookup `contians`") && e.to_string().contains("icontains"), "{e}");
        // Django casts a number for `icontains`; a boolean has no text to search for.
        let e = Item::objects().exclude_path("qty__icontains", true).unwrap_err();
        assert!(e.to_string().contains("needs a text value"), "{e}");
        let e = Item::objects().order_by_path(["-nope"]).unwrap_err();
        assert!(e.to_string().contains("'nope'"), "{e}");
        let e = Item::objects().values(["bogus"]).fetch_values(&db).unwrap_err();
        assert!(e.to_string().contains("'bogus'"), "{e}");
        let e = Item::objects().annotate("x", F::col("missing") + 1).fetch(&db).unwrap_err();
        assert!(e.to_string().contains("'missing'"), "{e}");
        let e = Item::objects().filter(Q::path("qty__year", 3)?).fetch(&db).unwrap_err();
        assert!(e.to_string().contains("needs a date"), "{e}");
        assert_eq!(capture.len(), 0, "no SQL was sent for any of them");
        Ok(())
    }
}

backend_test! {
    fn custom_managers_raw_sql_in_bulk_and_explain(t: &TestDb) {
        let db = db_of(t);
        seed(&db)?;
        for (name, active) in [("on", true), ("off", false)] {
            Gadget { id: Auto::unset(), name: name.into(), active }.create(&db)?;
        }
        let visible: Vec<String> = Gadget::objects().values(["name"]).fetch_flat(&db)?;
        assert_eq!(visible, ["on"], "the custom manager's filter applies");
        let d = db.dialect();
        let mut sql = format!("SELECT kind, at, id, qty, price, name, note FROM {} WHERE qty > ", d.quote("shop_item"));
        d.write_placeholder(&mut sql, 1);
        sql.push_str(" ORDER BY name");
        let raw = QuerySet::<Item>::raw(&sql, &[Value::Int(5)], &db)?;
        assert_eq!(raw.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["Case", "it's quoted"]);
        let ids: Vec<i64> = Item::objects().values(["id"]).fetch_flat(&db)?;
        let bulk = Item::objects().in_bulk(ids.iter().copied().take(3), &db)?;
        assert_eq!(bulk.len(), 3);
        assert!(bulk.values().all(|i| ids.contains(&i.id.get().unwrap())));
        let plan = Item::objects().filter(Item::qty().gt(1)).explain(&db)?;
        assert!(!plan.is_empty());
        let (sql, params) = Item::objects().filter(Item::name().eq("x")).to_sql(d)?;
        assert!(sql.contains("WHERE") && params == [Value::Text("x".into())]);
        // select_for_update inside a transaction.
        db.atomic(|tx| {
            let locked = Item::objects().filter(Item::qty().gt(5)).select_for_update(orm::ForUpdate::new()).fetch(tx)?;
            assert_eq!(locked.len(), 2);
            Ok(())
        })?;
        let (sql, _) = Item::objects().select_for_update(orm::ForUpdate::new().nowait()).to_sql(orm::Dialect::Postgres)?;
        assert!(sql.ends_with("FOR UPDATE NOWAIT"), "{sql}");
        Ok(())
    }
}

backend_test! {
    fn parameters_read_off_a_cached_shape_follow_the_compiler_s_order(t: &TestDb) {
        // The second and later queries of a shape reuse its SQL and read their parameters
        // straight off the filters (or replay the compiler when a lookup rewrites its value):
        // each call must still match with its own values, in the compiler's order.
        let db = db_of(t);
        seed(&db)?;
        let by_qty = |lo: i64, hi: i64, not: i64, within: [i64; 2], skip: u64| -> orm::Result<Vec<String>> {
            let rows = Item::objects()
                .filter(Item::qty().range(lo, hi))
                .exclude(Item::qty().eq(not))
                .filter(Item::qty().is_in(within) | Item::qty().gte(hi))
                .order_by(["qty", "name"])
                .offset(skip)
                .limit(2)
                .fetch(&db)?;
            Ok(rows.into_iter().map(|i| i.name).collect())
        };
        // qty: 50% off 5, under_score 3, it's quoted 8, Ünïcode 1, back\slash 0, Case 8, case 2.
        assert_eq!(by_qty(0, 8, 5, [0, 3], 0)?, ["back\\slash", "under_score"]);
        assert_eq!(by_qty(1, 5, 3, [1, 2], 0)?, ["Ünïcode ✓", "case"]);
        assert_eq!(by_qty(0, 8, 0, [2, 3], 1)?, ["under_score", "Case"]);
        assert_eq!(by_qty(2, 9, 8, [5, 2], 1)?, ["50% off"]);
        // A shape whose values the compiler rewrites (a LIKE pattern) is replayed each time.
        let like = |s: &str| -> orm::Result<BTreeSet<String>> {
            Ok(names(&Item::objects().filter(Item::name().icontains(s)).filter(Item::qty().lt(9)).fetch(&db)?))
        };
        assert_eq!(like("CAS")?, set(&["Case", "case"]));
        assert_eq!(like("_")?, set(&["under_score"]));
        assert_eq!(like("%")?, set(&["50% off"]));
        Ok(())
    }
}

backend_test! {
    fn a_save_error_caught_inside_atomic_rolls_the_whole_block_back(t: &TestDb) {
        // Django's transactions tests (test_atomic_prevents_queries_in_broken_transaction): an
        // IntegrityError caught without a savepoint block leaves the block unusable on every
        // backend, and nothing of it is committed.
        let db = db_of(t);
        seed(&db)?;
        let before: Vec<String> = Tally::objects().order_by(["name"]).values(["name"]).fetch_flat(&db)?;
        let out = db.atomic(|tx| {
            Tally { id: Auto::unset(), name: "kept?".into(), hits: 0 }.create(tx)?;
            let dup = Tally { id: Auto::unset(), name: "kept?".into(), hits: 0 }.create(tx);
            assert!(matches!(dup, Err(orm::Error::IntegrityError(_))), "{dup:?}");
            assert!(tx.get_rollback());
            match (Tally { id: Auto::unset(), name: "after".into(), hits: 0 }).create(tx) {
                Err(orm::Error::TransactionManagementError(e)) => assert!(
                    e.message().contains("You can't execute queries until the end of the 'atomic' block"),
                    "{e}"
                ),
                other => panic!("expected TransactionManagementError, got {other:?}"),
            }
            assert!(matches!(Tally::objects().count(tx), Err(orm::Error::TransactionManagementError(_))));
            Ok(())
        });
        assert!(out.is_ok(), "a clean exit of a broken block rolls back silently, as in Django: {out:?}");
        let after: Vec<String> = Tally::objects().order_by(["name"]).values(["name"]).fetch_flat(&db)?;
        assert_eq!(after, before, "nothing of the broken block was committed");
        // get_or_create runs its insert in a savepoint: a lost race does not break the block.
        db.atomic(|tx| {
            let first = Tally::objects().get_or_create(Tally::name().eq("once"), || Tally { id: Auto::unset(), name: "once".into(), hits: 1 }, tx)?;
            assert!(first.1);
            assert!(!tx.get_rollback());
            Tally { id: Auto::unset(), name: "twice".into(), hits: 0 }.create(tx).map(drop)
        })?;
        assert_eq!(Tally::objects().filter(Tally::name().is_in(["once", "twice"])).count(&db)?, 2);
        Ok(())
    }
}
