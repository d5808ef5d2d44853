//! Set operations as Django's tests/queries/test_qs_combinators.py: union (distinct and
//! all), intersection and difference, with empty sides, nesting, ordering by selected
//! columns (NULLs first or last), slicing, values, count, exists and get, on three backends.

use orm::prelude::*;
use orm::CombinedQuerySet;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::db_of;

/// Django's `Number`.
#[derive(Model, Debug, Clone)]
#[orm(app = "combinators")]
pub struct Number {
    pub id: Auto<i64>,
    pub num: i64,
    pub other_num: Option<i64>,
}

/// Django's `setUpTestData`: `num` 0–9, `other_num` 10 − num.
fn setup(db: &Database) -> orm::Result<()> {
    Schema::new().model::<Number>().create_all(db)?;
    let mut rows: Vec<Number> =
        (0..10).map(|i| Number { id: Auto::unset(), num: i, other_num: Some(10 - i) }).collect();
    Number::objects().bulk_create(&mut rows, db)?;
    Ok(())
}

fn q(path: &str, v: i64) -> Q<Number> {
    Q::path(path, v).expect("a valid path")
}

fn nums(db: &Database, qs: &CombinedQuerySet<Number>) -> orm::Result<Vec<i64>> {
    Ok(qs.fetch(db)?.into_iter().map(|n| n.num).collect())
}

fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v
}

backend_test! {
    fn union_intersection_difference(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let all = || Number::objects();
        // test_simple_union (three sides).
        let u = all().filter(q("num__lte", 1)).union(all().filter(q("num__gte", 8))).union(all().filter(q("num", 5)));
        assert_eq!(sorted(nums(&db, &u)?), [0, 1, 5, 8, 9]);
        // test_simple_intersection and test_simple_difference.
        let i = all()
            .filter(q("num__lte", 5))
            .intersection(all().filter(q("num__gte", 5)))
            .intersection(all().filter(q("num__gte", 4) & q("num__lte", 6)));
        assert_eq!(nums(&db, &i)?, [5]);
        assert_eq!(nums(&db, &all().filter(q("num__lte", 5)).difference(all().filter(q("num__lte", 4))))?, [5]);
        // test_union_distinct.
        assert_eq!(all().union_all(all()).fetch(&db)?.len(), 20);
        assert_eq!(all().union(all()).fetch(&db)?.len(), 10);
        assert_eq!(all().union_all(all()).count(&db)?, 20);
        assert_eq!(all().union(all()).count(&db)?, 10);
        // test_union_nested, and operators applied in the order they were called:
        // (0..=5 ∪ 8..) ∩ 4..=8 = {4, 5, 8}, where SQL precedence would give 0..=5 ∪ {8}.
        assert_eq!(sorted(nums(&db, &all().union(all().union(all())))?), (0..10).collect::<Vec<_>>());
        let mixed = all()
            .filter(q("num__lte", 5))
            .union(all().filter(q("num__gte", 8)))
            .intersection(all().filter(q("num__gte", 4) & q("num__lte", 8)));
        assert_eq!(sorted(nums(&db, &mixed)?), [4, 5, 8]);
        Ok(())
    }
}

backend_test! {
    fn empty_sides(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let all = || Number::objects();
        let none = || Number::objects().none();
        let empty_in = || Number::objects().filter(Number::id().is_in(Vec::<i64>::new()));
        // test_union_with_empty_qs.
        assert_eq!(all().union(none()).fetch(&db)?.len(), 10);
        assert_eq!(none().union(all()).fetch(&db)?.len(), 10);
        assert_eq!(all().union(empty_in()).fetch(&db)?.len(), 10);
        assert_eq!(none().union(all()).union(all()).union(all()).fetch(&db)?.len(), 10);
        assert_eq!(none().union_all(all()).union_all(all()).fetch(&db)?.len(), 20);
        // test_intersection_with_empty_qs / test_difference_with_empty_qs.
        assert_eq!(all().intersection(none()).fetch(&db)?.len(), 0);
        assert_eq!(empty_in().intersection(all()).fetch(&db)?.len(), 0);
        assert_eq!(all().difference(none()).fetch(&db)?.len(), 10);
        assert_eq!(all().difference(empty_in()).fetch(&db)?.len(), 10);
        assert_eq!(none().difference(all()).fetch(&db)?.len(), 0);
        // All sides empty, or none() after the operation: no query at all
        // (test_union_all_none_slice, test_union_none).
        let capture = db.capture_queries();
        assert!(empty_in().union(empty_in()).fetch(&db)?.is_empty());
        assert!(empty_in().union(empty_in()).slice(0..0).fetch(&db)?.is_empty());
        assert!(all().union(all()).none().fetch(&db)?.is_empty());
        assert_eq!(all().intersection(none()).count(&db)?, 0);
        assert_eq!(capture.len(), 0);
        drop(capture);
        // test_union_none_slice / test_empty_qs_union_with_ordered_qs.
        assert_eq!(nums(&db, &all().filter(q("num__lte", 0)).union(none()).slice(..1))?, [0]);
        let ordered: Vec<i64> = all().order_by(["num"]).fetch(&db)?.into_iter().map(|n| n.num).collect();
        assert_eq!(nums(&db, &none().union(all().order_by(["num"])).order_by(["num"]))?, ordered);
        Ok(())
    }
}

backend_test! {
    fn ordering_slicing_and_columns(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let all = || Number::objects();
        let low_high = || all().filter(q("num__lte", 1)).union(all().filter(q("num__gte", 2) & q("num__lte", 3)));
        // test_ordering / test_ordering_by_f_expression.
        assert_eq!(nums(&db, &low_high().order_by(["-num"]))?, [3, 2, 1, 0]);
        assert_eq!(nums(&db, &low_high().order_by([orm::F::col("num").desc()]))?, [3, 2, 1, 0]);
        assert_eq!(nums(&db, &low_high().order_by(["-pk"]))?, [3, 2, 1, 0]);
        // test_limits, and a slice of the ordered whole.
        assert_eq!(all().union(all()).slice(..2).fetch(&db)?.len(), 2);
        assert_eq!(nums(&db, &low_high().order_by(["num"]).slice(1..3))?, [1, 2]);
        assert_eq!(low_high().order_by(["num"]).first(&db)?.map(|n| n.num), Some(0));
        // Sliced sides keep their own ordering and slice (parenthesised, or wrapped on SQLite):
        // the two largest and the two smallest.
        let ends = all().order_by(["-num"]).slice(..2).union(all().order_by(["num"]).slice(..2)).order_by(["num"]);
        assert_eq!(nums(&db, &ends)?, [0, 1, 8, 9]);
        // Not a selected column: Django's "ORDER BY term does not match any column".
        let err = low_high().order_by([(orm::F::col("num") + 1).asc()]).fetch(&db).unwrap_err();
        assert!(matches!(&err, orm::Error::NotSupportedError(m) if m.contains("ORDER BY term")), "{err:?}");
        // test_union_order_with_null_first_last.
        Number::objects().filter(q("other_num", 5)).update([Number::other_num().set(orm_backends::Value::Null)], &db)?;
        let u = || all().filter(q("num__lte", 1)).union(all().filter(q("num__gte", 2)));
        let got: Vec<Option<i64>> =
            u().order_by([OrderBy::asc("other_num").nulls_first()]).values(["other_num"]).fetch_flat(&db)?;
        assert_eq!(got, [None, Some(1), Some(2), Some(3), Some(4), Some(6), Some(7), Some(8), Some(9), Some(10)]);
        let got: Vec<Option<i64>> =
            u().order_by([OrderBy::asc("other_num").nulls_last()]).values(["other_num"]).fetch_flat(&db)?;
        assert_eq!(got, [Some(1), Some(2), Some(3), Some(4), Some(6), Some(7), Some(8), Some(9), Some(10), None]);
        // values() on the combination (test_union_with_values), count() and get().
        let rows = all().filter(q("num", 4)).union(all().filter(q("num", 4))).values(["num", "other_num"]).fetch_values(&db)?;
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].get::<i64>(0)?, rows[0].get::<Option<i64>>(1)?), (4, Some(6)));
        let one = all().filter(q("num", 4)).intersection(all().filter(q("num__gte", 4))).get(&db)?;
        assert_eq!(one.num, 4);
        let err = low_high().get(&db).unwrap_err();
        assert!(matches!(err, orm::Error::MultipleObjectsReturned { count: 4, .. }), "{err:?}");
        let err = all().filter(q("num", 1)).intersection(all().filter(q("num", 2))).get(&db).unwrap_err();
        assert!(matches!(err, orm::Error::DoesNotExist { .. }), "{err:?}");
        assert!(low_high().exists(&db)?);
        assert!(!all().filter(q("num", 1)).intersection(all().filter(q("num", 2))).exists(&db)?);
        // Hostile names: a FieldError or NotSupportedError, never SQL text.
        let hostile = "num\"; DROP TABLE combinators_number; --";
        assert!(matches!(low_high().values([hostile]).fetch_values(&db), Err(orm::Error::FieldError { .. })));
        assert!(matches!(low_high().order_by([hostile]).fetch(&db), Err(orm::Error::NotSupportedError(_))));
        assert_eq!(Number::objects().count(&db)?, 10);
        // Sides selecting their own columns (values on each side, annotated alike).
        let a = all().filter(q("num", 1)).annotate("double", orm::F::col("num") * 2).values(["num", "double"]);
        let b = all().filter(q("num", 2)).annotate("double", orm::F::col("num") * 2).values(["num", "double"]);
        let mut got: Vec<(i64, i64)> =
            a.union(b).fetch_values(&db)?.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect::<orm::Result<_>>()?;
        got.sort_unstable();
        assert_eq!(got, [(1, 2), (2, 4)]);
        Ok(())
    }
}

backend_test! {
    fn a_combination_of_one_shape_binds_each_calls_values(t: &TestDb) {
        // The SQL of a shape is rendered once and cached; the parameters are each call's.
        let db = db_of(t);
        setup(&db)?;
        let u = |lo: i64, hi: i64| {
            Number::objects().filter(q("num__lte", lo)).union(Number::objects().filter(q("num__gte", hi))).order_by(["num"])
        };
        assert_eq!(nums(&db, &u(1, 8))?, [0, 1, 8, 9]);
        assert_eq!(nums(&db, &u(0, 9))?, [0, 9]);
        assert_eq!(nums(&db, &u(2, 7).slice(1..3))?, [1, 2]);
        assert_eq!(u(3, 6).count(&db)?, 8);
        assert_eq!(nums(&db, &u(1, 8))?, [0, 1, 8, 9]);
        Ok(())
    }
}
