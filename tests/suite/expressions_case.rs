//! `Case` / `When` as Django's tests/expressions_case: in annotate (values, expressions,
//! joins, annotations and aggregates in the value and the condition), filter, update,
//! order_by and inside aggregates; empty and full conditions; join promotion.

use orm::expressions::{Case, Count, Max, Min, Sum, When, F};
use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_backends::FromValue;
use orm_tests::db_of;

/// Django's `CaseTestModel`, with the fields these scenarios read.
#[derive(Model, Debug, Clone)]
#[orm(app = "case")]
pub struct CaseTest {
    pub id: Auto<i64>,
    pub integer: i64,
    pub integer2: i64,
    #[orm(max_length = 100)]
    pub string: String,
    #[orm(max_digits = 6, decimal_places = 2)]
    pub decimal: rust_decimal::Decimal,
}

/// Django's `FKCaseTestModel`.
#[derive(Model, Debug, Clone)]
#[orm(app = "case")]
pub struct FkCase {
    pub id: Auto<i64>,
    #[orm(on_delete = Cascade, related_name = "fk_rel")]
    pub fk: ForeignKey<CaseTest>,
    pub integer: i64,
}

/// Django's `setUpTestData`: seven rows and their `fk_rel` rows.
fn setup(db: &Database) -> orm::Result<()> {
    Schema::new().model::<CaseTest>().model::<FkCase>().create_all(db)?;
    let rows: [(i64, i64, &str, &[i64]); 7] = [
        (1, 1, "1", &[1]),
        (2, 3, "2", &[2, 3]),
        (3, 4, "3", &[3, 4]),
        (2, 2, "2", &[2, 3]),
        (3, 4, "3", &[3, 4]),
        (3, 3, "3", &[3, 4]),
        (4, 5, "4", &[5]),
    ];
    for (integer, integer2, string, fks) in rows {
        let o = CaseTest {
            id: Auto::unset(),
            integer,
            integer2,
            string: string.into(),
            decimal: rust_decimal::Decimal::new(integer * 110, 2),
        }
        .create(db)?;
        for &i in fks {
            FkCase { id: Auto::unset(), fk: ForeignKey::to(&o)?, integer: i }.create(db)?;
        }
    }
    Ok(())
}

/// `(integer, annotation)` per row of `qs`, in its order.
fn pairs<T: FromValue>(db: &Database, qs: orm::QuerySet<CaseTest>, name: &str) -> orm::Result<Vec<(i64, T)>> {
    qs.fetch_annotated(db)?.into_iter().map(|a| Ok((a.object.integer, a.get::<T>(name)?))).collect()
}

fn q(path: &str, v: impl Into<orm_backends::Value>) -> Q<CaseTest> {
    Q::path(path, v).expect("a valid path")
}

fn qe(path: &str, e: impl Into<orm::expressions::Expr>) -> Q<CaseTest> {
    Q::path_expr(path, e).expect("a valid path")
}

backend_test! {
    fn annotate_with_values_default_and_without(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let qs = CaseTest::objects()
            .annotate(
                "test",
                Case::new([When::new(q("integer", 1), "one"), When::new(q("integer", 2), "two")]).default("other"),
            )
            .order_by(["pk"]);
        let got: Vec<(i64, String)> = pairs(&db, qs, "test")?;
        let want = [(1, "one"), (2, "two"), (3, "other"), (2, "two"), (3, "other"), (3, "other"), (4, "other")];
        assert_eq!(got, want.map(|(i, s)| (i, s.to_owned())));
        // Without a default: NULL.
        let qs = CaseTest::objects()
            .annotate("test", Case::new([When::new(q("integer", 1), 1), When::new(q("integer", 2), 2)]))
            .order_by(["pk"]);
        let got: Vec<(i64, Option<i64>)> = pairs(&db, qs, "test")?;
        assert_eq!(got, [(1, Some(1)), (2, Some(2)), (3, None), (2, Some(2)), (3, None), (3, None), (4, None)]);
        Ok(())
    }
}

backend_test! {
    fn annotate_with_expressions_as_value_and_condition(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let qs = CaseTest::objects()
            .annotate(
                "f_test",
                Case::new([
                    When::new(q("integer", 1), F::col("integer") + 1),
                    When::new(q("integer", 2), F::col("integer") + 3),
                ])
                .default(F::col("integer")),
            )
            .order_by(["pk"]);
        let got: Vec<(i64, i64)> = pairs(&db, qs, "f_test")?;
        assert_eq!(got, [(1, 2), (2, 5), (3, 3), (2, 5), (3, 3), (3, 3), (4, 4)]);
        let qs = CaseTest::objects()
            .annotate(
                "f_test",
                Case::new([
                    When::new(qe("integer2", F::col("integer")), "equal"),
                    When::new(qe("integer2", F::col("integer") + 1), "+1"),
                ]),
            )
            .order_by(["pk"]);
        let got: Vec<(i64, Option<String>)> = pairs(&db, qs, "f_test")?;
        let want = [(1, "equal"), (2, "+1"), (3, "+1"), (2, "equal"), (3, "+1"), (3, "equal"), (4, "+1")];
        assert_eq!(got, want.map(|(i, s)| (i, Some(s.to_owned()))));
        // A Case inside arithmetic (test_combined_expression).
        let qs = CaseTest::objects()
            .annotate(
                "test",
                Case::new([When::new(q("integer", 1), 2), When::new(q("integer", 2), 1)]).default(3) + 1,
            )
            .order_by(["pk"]);
        let got: Vec<(i64, i64)> = pairs(&db, qs, "test")?;
        assert_eq!(got, [(1, 3), (2, 2), (3, 4), (2, 2), (3, 4), (3, 4), (4, 4)]);
        Ok(())
    }
}

backend_test! {
    fn annotate_with_joins_and_aggregations(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // An aggregate over a join, then a Case reading the aggregates by name (value) and
        // comparing with them (condition).
        let base = || {
            CaseTest::objects().annotate("min", Min::of("fk_rel__integer")).annotate("max", Max::of("fk_rel__integer"))
        };
        let qs = base()
            .annotate(
                "test",
                Case::new([When::new(q("integer", 2), F::col("min")), When::new(q("integer", 3), F::col("max"))]),
            )
            .order_by(["pk"]);
        let got: Vec<(i64, Option<i64>)> = pairs(&db, qs, "test")?;
        assert_eq!(got, [(1, None), (2, Some(2)), (3, Some(4)), (2, Some(2)), (3, Some(4)), (3, Some(4)), (4, None)]);
        let qs = base()
            .annotate(
                "test",
                Case::new([
                    When::new(qe("integer2", F::col("min")), "min"),
                    When::new(qe("integer2", F::col("max")), "max"),
                ]),
            )
            .order_by(["pk"]);
        let got: Vec<(i64, Option<String>)> = pairs(&db, qs, "test")?;
        let want = [(1, "min"), (2, "max"), (3, "max"), (2, "min"), (3, "max"), (3, "min"), (4, "min")];
        assert_eq!(got, want.map(|(i, s)| (i, Some(s.to_owned()))));
        // The join in the condition (test_annotate_with_join_in_condition).
        let qs = CaseTest::objects()
            .annotate(
                "join_test",
                Case::new([
                    When::new(qe("integer2", F::col("fk_rel__integer")), "equal"),
                    When::new(qe("integer2", F::col("fk_rel__integer") + 1), "+1"),
                ])
                .default("other"),
            )
            .order_by(["pk", "fk_rel__integer"]);
        let got: Vec<(i64, String)> = pairs(&db, qs, "join_test")?;
        let want = [
            (1, "equal"),
            (2, "+1"),
            (2, "equal"),
            (3, "+1"),
            (3, "equal"),
            (2, "equal"),
            (2, "other"),
            (3, "+1"),
            (3, "equal"),
            (3, "equal"),
            (3, "other"),
            (4, "equal"),
        ];
        assert_eq!(got, want.map(|(i, s)| (i, s.to_owned())));
        Ok(())
    }
}

backend_test! {
    fn empty_and_full_conditions(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let none: [i64; 0] = [];
        let pk_in_none = CaseTest::id().is_in(none);
        let objects = CaseTest::objects()
            .annotate("selected", Case::new([When::new(pk_in_none.clone(), "selected")]).default("not selected"))
            .fetch_annotated(&db)?;
        assert_eq!(objects.len() as u64, CaseTest::objects().count(&db)?);
        assert!(objects.iter().all(|o| o.get::<String>("selected").unwrap() == "not selected"));
        let objects = CaseTest::objects()
            .annotate("selected", Case::new([When::new(!pk_in_none, "selected")]).default("not selected"))
            .fetch_annotated(&db)?;
        assert_eq!(objects.len(), 7);
        assert!(objects.iter().all(|o| o.get::<String>("selected").unwrap() == "selected"));
        // No branch at all: the default, or NULL (test_aggregation_empty_cases), beside an
        // aggregate grouped by `string`.
        let rows = CaseTest::objects()
            .values(["string"])
            .annotate("case", Case::new([]).default("empty"))
            .annotate("integer_sum", Sum::of("integer"))
            .order_by(["string"])
            .fetch_values(&db)?;
        let got: Vec<(String, String, i64)> =
            rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).collect::<orm::Result<_>>()?;
        let want = [("1", 1), ("2", 4), ("3", 9), ("4", 4)].map(|(s, n)| (s.to_owned(), "empty".to_owned(), n));
        assert_eq!(got, want);
        let rows = CaseTest::objects()
            .values(["string"])
            .annotate("case", Case::new([]))
            .annotate("integer_sum", Sum::of("integer"))
            .order_by(["string"])
            .fetch_values(&db)?;
        assert!(rows.iter().all(|r| r.get::<Option<i64>>(1).unwrap().is_none()));
        Ok(())
    }
}

backend_test! {
    fn filter_with_case_as_value_and_as_condition(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // integer2 = CASE WHEN integer = 2 THEN 3 WHEN integer = 3 THEN 4 ELSE 1 END
        let case = Case::new([When::new(q("integer", 2), 3), When::new(q("integer", 3), 4)]).default(1);
        let got: Vec<(i64, i64)> = CaseTest::objects()
            .filter(qe("integer2", case))
            .order_by(["pk"])
            .fetch(&db)?
            .into_iter()
            .map(|o| (o.integer, o.integer2))
            .collect();
        assert_eq!(got, [(1, 1), (2, 3), (3, 4), (3, 4)]);
        // Without a default, unmatched rows compare with NULL and drop out.
        let case = Case::new([When::new(q("integer", 2), 3), When::new(q("integer", 3), 4)]);
        let n = CaseTest::objects().filter(qe("integer2", case)).count(&db)?;
        assert_eq!(n, 3);
        // A boolean Case as the whole condition (Django's conditional expressions).
        let flag = Case::new([When::new(q("integer2", 4), true), When::new(q("integer", 1), true)]).default(false);
        let got: Vec<i64> =
            CaseTest::objects().filter(Q::expr(flag)).order_by(["pk"]).fetch(&db)?.into_iter().map(|o| o.integer).collect();
        assert_eq!(got, [1, 3, 3]);
        // An aggregate in the Case: HAVING.
        let got: Vec<i64> = CaseTest::objects()
            .annotate("n", Count::of("fk_rel"))
            .filter(qe("integer", Case::new([When::new(qe("n", 2), F::col("integer"))]).default(0)))
            .order_by(["pk"])
            .fetch(&db)?
            .into_iter()
            .map(|o| o.integer)
            .collect();
        assert_eq!(got, [2, 3, 2, 3, 3]);
        Ok(())
    }
}

backend_test! {
    fn update_with_case(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let n = CaseTest::objects().update(
            [CaseTest::string().set(Case::new([When::new(q("integer", 1), "one"), When::new(q("integer", 2), "two")]).default("other"))],
            &db,
        )?;
        assert_eq!(n, 7);
        let got: Vec<(i64, String)> =
            CaseTest::objects().order_by(["pk"]).fetch(&db)?.into_iter().map(|o| (o.integer, o.string)).collect();
        let want = [(1, "one"), (2, "two"), (3, "other"), (2, "two"), (3, "other"), (3, "other"), (4, "other")];
        assert_eq!(got, want.map(|(i, s)| (i, s.to_owned())));
        // An expression in the branch, and a decimal target.
        CaseTest::objects().update(
            [
                CaseTest::integer2().set(
                    Case::new([When::new(q("integer", 1), F::col("integer") + 1), When::new(q("integer", 2), F::col("integer") + 3)])
                        .default(F::col("integer")),
                ),
                CaseTest::decimal()
                    .set(Case::new([When::new(q("integer", 1), rust_decimal::Decimal::new(11, 1))]).default(rust_decimal::Decimal::new(225, 2))),
            ],
            &db,
        )?;
        let got: Vec<(i64, i64, String)> = CaseTest::objects()
            .order_by(["pk"])
            .fetch(&db)?
            .into_iter()
            .map(|o| (o.integer, o.integer2, o.decimal.normalize().to_string()))
            .collect();
        let want = [(1, 2, "1.1"), (2, 5, "2.25"), (3, 3, "2.25"), (2, 5, "2.25"), (3, 3, "2.25"), (3, 3, "2.25"), (4, 4, "2.25")];
        assert_eq!(got, want.map(|(a, b, c)| (a, b, c.to_owned())));
        // A join in the condition of an update is Django's FieldError ("Joined field
        // references are not permitted in this query").
        let err = CaseTest::objects()
            .update([CaseTest::integer().set(Case::new([When::new(q("fk_rel__integer", 1), 9)]).default(0))], &db)
            .unwrap_err();
        assert!(matches!(err, orm::Error::FieldError { .. }), "{err:?}");
        assert_eq!(CaseTest::objects().filter(q("integer", 9)).count(&db)?, 0);
        Ok(())
    }
}

backend_test! {
    fn order_by_and_aggregate_over_case(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // test_annotate_values_not_in_order_by / test_order_by_conditional_explicit.
        let order = Case::new([
            When::new(q("integer", 1), "one"),
            When::new(q("integer", 2), "two"),
            When::new(q("integer", 3), "three"),
        ])
        .default("other");
        let got: Vec<i64> = CaseTest::objects()
            .annotate("test", order)
            .order_by(["test", "pk"])
            .fetch(&db)?
            .into_iter()
            .map(|o| o.integer)
            .collect();
        assert_eq!(got, [1, 4, 3, 3, 3, 2, 2]);
        let by_expr = Case::new([When::new(q("integer", 2), 1), When::new(q("integer", 3), 2)]).default(3);
        let got: Vec<i64> = CaseTest::objects()
            .order_by([by_expr.desc(), OrderBy::asc("pk")])
            .fetch(&db)?
            .into_iter()
            .map(|o| o.integer)
            .collect();
        assert_eq!(got, [1, 4, 3, 3, 3, 2, 2]);
        // Aggregates over Case (test_aggregate, Django's conditional aggregation).
        let row = CaseTest::objects().aggregate(
            [
                ("one", Sum::expr(Case::new([When::new(q("integer", 1), 1)]).default(0))),
                ("two", Sum::expr(Case::new([When::new(q("integer", 2), 1)]).default(0))),
                ("three", Sum::expr(Case::new([When::new(q("integer", 3), 1)]).default(0))),
                ("four", Sum::expr(Case::new([When::new(q("integer", 4), 1)]).default(0))),
            ],
            &db,
        )?;
        let got: Vec<i64> = (0..4).map(|i| row.get::<i64>(i)).collect::<Result<_, _>>()?;
        assert_eq!(got, [1, 2, 3, 1]);
        // With an expression as the value (test_aggregate_with_expression_as_value).
        let row = CaseTest::objects().aggregate(
            [
                ("one", Sum::expr(Case::new([When::new(q("integer", 1), F::col("integer"))]))),
                ("two", Sum::expr(Case::new([When::new(q("integer", 2), F::col("integer") - 1)]))),
                ("three", Sum::expr(Case::new([When::new(q("integer", 3), F::col("integer") + 1)]))),
            ],
            &db,
        )?;
        let got: Vec<i64> = (0..3).map(|i| row.get::<i64>(i)).collect::<Result<_, _>>()?;
        assert_eq!(got, [1, 2, 12]);
        Ok(())
    }
}

backend_test! {
    fn join_promotion_keeps_rows_without_related(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let o = CaseTest { id: Auto::unset(), integer: 1, integer2: 1, string: "1".into(), decimal: Default::default() }
            .create(&db)?;
        let pk = o.id.get().unwrap();
        let first = Case::new([When::new(q("fk_rel__pk", 1), 2)]).default(3);
        let got: Vec<i64> = CaseTest::objects()
            .filter(CaseTest::id().eq(pk))
            .annotate("foo", first)
            .fetch_annotated(&db)?
            .iter()
            .map(|a| a.get::<i64>("foo"))
            .collect::<Result<_, _>>()?;
        assert_eq!(got, [3]);
        let first = Case::new([When::new(q("fk_rel__isnull", true), 2)]).default(3);
        let bar = Case::new([When::new(q("fk_rel__isnull", true), 4)]).default(5);
        let got: Vec<(i64, i64)> = CaseTest::objects()
            .filter(CaseTest::id().eq(pk))
            .annotate("foo", first)
            .annotate("bar", bar)
            .fetch_annotated(&db)?
            .iter()
            .map(|a| Ok((a.get::<i64>("foo")?, a.get::<i64>("bar")?)))
            .collect::<orm::Result<_>>()?;
        assert_eq!(got, [(2, 4)]);
        Ok(())
    }
}

backend_test! {
    fn combined_q_and_lookups_in_conditions(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // test_condition_with_lookups: several lookups in one When are ANDed.
        let test = Case::new([
            When::new(q("integer2", 1) & q("string", "2"), false),
            When::new(q("integer2", 1) & q("string", "1"), true),
        ])
        .default(false);
        let got = CaseTest::objects().annotate("test", test).filter(q("integer", 1)).fetch_annotated(&db)?;
        assert!(got[0].get::<bool>("test")?);
        // test_combined_q_object: OR of lookups with a typed handle.
        let test = Case::new([When::new(CaseTest::integer().lte(1) | CaseTest::integer().gte(4), "edge")]).default("mid");
        let got: Vec<(i64, String)> = pairs(&db, CaseTest::objects().annotate("test", test).order_by(["pk"]), "test")?;
        let want = [(1, "edge"), (2, "mid"), (3, "mid"), (2, "mid"), (3, "mid"), (3, "mid"), (4, "edge")];
        assert_eq!(got, want.map(|(i, s)| (i, s.to_owned())));
        // A Case in a subquery's values (test_in_subquery).
        let inner = CaseTest::objects()
            .annotate(
                "test",
                Case::new([When::new(qe("integer", F::col("integer2")), F::col("pk")), When::new(q("integer", 4), F::col("pk"))]),
            )
            .subquery("test");
        let got: Vec<(i64, i64)> = CaseTest::objects()
            .filter(Q::path_in("pk__in", inner)?)
            .order_by(["pk"])
            .fetch(&db)?
            .into_iter()
            .map(|o| (o.integer, o.integer2))
            .collect();
        assert_eq!(got, [(1, 1), (2, 2), (3, 3), (4, 5)]);
        Ok(())
    }
}
