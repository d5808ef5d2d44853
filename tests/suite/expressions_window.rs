//! Window functions as Django's tests/expressions_window: ranking, value and aggregate
//! functions over partitions, orderings and ROWS/RANGE frames, on the three backends.

use chrono::NaiveDate;
use orm::expressions::functions::{
    CumeDist, DenseRank, Extract, FirstValue, Lag, LastValue, Lead, NthValue, Ntile, PercentRank, Rank, RowNumber,
};
use orm::expressions::{Avg, Frame, FrameBound, Max, Sum, Window, F};
use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_backends::FromValue;
use orm_tests::db_of;

/// Django's `Employee`.
#[derive(Model, Debug, Clone)]
#[orm(app = "window")]
pub struct Employee {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
    pub salary: i64,
    #[orm(max_length = 40)]
    pub department: String,
    pub hire_date: NaiveDate,
    pub age: i64,
}

fn setup(db: &Database) -> orm::Result<()> {
    Schema::new().model::<Employee>().create_all(db)?;
    let rows = [
        ("Jones", 45000, "Accounting", (2005, 11, 1), 20),
        ("Williams", 37000, "Accounting", (2009, 6, 1), 20),
        ("Jenson", 45000, "Accounting", (2008, 4, 1), 20),
        ("Adams", 50000, "Accounting", (2013, 7, 1), 50),
        ("Smith", 55000, "Sales", (2007, 6, 1), 30),
        ("Brown", 53000, "Sales", (2009, 9, 1), 30),
        ("Johnson", 40000, "Marketing", (2012, 3, 1), 30),
        ("Smith", 38000, "Marketing", (2009, 10, 1), 20),
        ("Wilkinson", 60000, "IT", (2011, 3, 1), 40),
        ("Moore", 34000, "IT", (2013, 8, 1), 40),
        ("Miller", 100000, "Management", (2005, 6, 1), 40),
        ("Johnson", 80000, "Management", (2005, 7, 1), 50),
    ];
    let mut employees: Vec<Employee> = rows
        .into_iter()
        .map(|(name, salary, department, (y, m, d), age)| Employee {
            id: Auto::unset(),
            name: name.into(),
            salary,
            department: department.into(),
            hire_date: NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            age,
        })
        .collect();
    Employee::objects().bulk_create(&mut employees, db)?;
    Ok(())
}

/// `(name, annotation)` of every row of `qs`, in its order.
fn named<T: FromValue>(db: &Database, qs: orm::QuerySet<Employee>, name: &str) -> orm::Result<Vec<(String, T)>> {
    qs.fetch_annotated(db)?.into_iter().map(|a| Ok((a.object.name.clone(), a.get::<T>(name)?))).collect()
}

fn owned<T: Clone>(v: &[(&str, T)]) -> Vec<(String, T)> {
    v.iter().map(|(n, x)| ((*n).to_owned(), x.clone())).collect()
}

backend_test! {
    fn ranking_functions(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // test_dense_rank and test_rank, ordered by the hire year (a transform path and an
        // Extract give the same).
        for order in [OrderBy::asc("hire_date__year"), Extract::year(F::col("hire_date")).asc()] {
            let qs = Employee::objects()
                .annotate("rank", Window::new(DenseRank::new()).order_by([order.clone()]))
                .annotate("gaps", Window::new(Rank::new()).order_by([order]))
                .order_by(["hire_date", "name"]);
            let got: Vec<(String, i64, i64)> = qs
                .fetch_annotated(&db)?
                .into_iter()
                .map(|a| Ok((a.object.name.clone(), a.get("rank")?, a.get("gaps")?)))
                .collect::<orm::Result<_>>()?;
            let want = [
                ("Miller", 1, 1),
                ("Johnson", 1, 1),
                ("Jones", 1, 1),
                ("Smith", 2, 4),
                ("Jenson", 3, 5),
                ("Williams", 4, 6),
                ("Brown", 4, 6),
                ("Smith", 4, 6),
                ("Wilkinson", 5, 9),
                ("Johnson", 6, 10),
                ("Adams", 7, 11),
                ("Moore", 7, 11),
            ];
            assert_eq!(got, want.map(|(n, a, b)| (n.to_owned(), a, b)));
        }
        // test_row_number, with and without an ordering inside the window.
        let qs = Employee::objects()
            .annotate("row_number", Window::new(RowNumber::new()).order_by([OrderBy::asc("pk")]))
            .order_by(["pk"]);
        let got: Vec<i64> = named::<i64>(&db, qs, "row_number")?.into_iter().map(|(_, n)| n).collect();
        assert_eq!(got, (1..=12).collect::<Vec<_>>());
        // test_ntile: twelve employees in four buckets by salary.
        let qs = Employee::objects()
            .annotate("ntile", Window::new(Ntile::new(4)).order_by(["-salary"]))
            .order_by(["ntile", "-salary", "name"]);
        let got: Vec<i64> = named::<i64>(&db, qs, "ntile")?.into_iter().map(|(_, n)| n).collect();
        assert_eq!(got, [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
        // test_percent_rank and test_cume_dist.
        let qs = Employee::objects()
            .annotate("pr", Window::new(PercentRank::new()).order_by(["salary", "name"]))
            .annotate("cd", Window::new(CumeDist::new()).order_by(["salary"]))
            .order_by(["salary", "name"]);
        let got: Vec<(String, f64, f64)> = qs
            .fetch_annotated(&db)?
            .into_iter()
            .map(|a| {
                let r = |x: f64| (x * 1e10).round() / 1e10;
                Ok((a.object.name.clone(), r(a.get("pr")?), r(a.get("cd")?)))
            })
            .collect::<orm::Result<_>>()?;
        assert_eq!(got[0], ("Moore".to_owned(), 0.0, 0.0833333333));
        assert_eq!(got[4], ("Jenson".to_owned(), 0.3636363636, 0.5));
        assert_eq!(got[5], ("Jones".to_owned(), 0.4545454545, 0.5));
        assert_eq!(got[11], ("Miller".to_owned(), 1.0, 1.0));
        Ok(())
    }
}

backend_test! {
    fn aggregates_over_partitions(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // test_department_salary: a running sum per department.
        let qs = Employee::objects()
            .annotate(
                "department_sum",
                Window::new(Sum::of("salary")).partition_by([F::col("department")]).order_by(["hire_date"]),
            )
            .order_by(["department", "department_sum"]);
        let want = [
            ("Jones", 45000),
            ("Jenson", 90000),
            ("Williams", 127000),
            ("Adams", 177000),
            ("Wilkinson", 60000),
            ("Moore", 94000),
            ("Miller", 100000),
            ("Johnson", 180000),
            ("Smith", 38000),
            ("Johnson", 78000),
            ("Smith", 55000),
            ("Brown", 108000),
        ];
        assert_eq!(named::<i64>(&db, qs, "department_sum")?, owned(&want));
        // test_avg_salary_department.
        let qs = Employee::objects()
            .annotate("avg_salary", Window::new(Avg::of("salary")).partition_by([Employee::department()]))
            .order_by(["department", "-salary", "name"]);
        let got: Vec<f64> = named::<f64>(&db, qs, "avg_salary")?.into_iter().map(|(_, x)| x).collect();
        assert_eq!(got, [44250.0, 44250.0, 44250.0, 44250.0, 47000.0, 47000.0, 90000.0, 90000.0, 39000.0, 39000.0, 54000.0, 54000.0]);
        // test_max_per_year with two partitions (test_multiple_partitioning).
        let qs = Employee::objects()
            .annotate(
                "max",
                Window::new(Max::of("salary")).partition_by([F::col("department"), Extract::year(F::col("hire_date"))]),
            )
            .order_by(["department", "hire_date", "name"]);
        let got: Vec<i64> = named::<i64>(&db, qs, "max")?.into_iter().map(|(_, x)| x).collect();
        assert_eq!(got, [45000, 45000, 37000, 50000, 60000, 34000, 100000, 100000, 38000, 40000, 55000, 53000]);
        // An aggregate's default wraps the window.
        let qs = Employee::objects()
            .annotate(
                "before",
                Window::new(Sum::of("salary").default(0))
                    .partition_by([F::col("department")])
                    .order_by(["hire_date"])
                    .frame(Frame::rows(FrameBound::UnboundedPreceding, FrameBound::Preceding(1))),
            )
            .filter(Employee::department().eq("IT"))
            .order_by(["hire_date"]);
        assert_eq!(named::<i64>(&db, qs, "before")?, owned(&[("Wilkinson", 0), ("Moore", 60000)]));
        Ok(())
    }
}

backend_test! {
    fn value_functions(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // test_lag.
        let qs = Employee::objects()
            .annotate(
                "lag",
                Window::new(Lag::new(F::col("salary"), 1)).partition_by([F::col("department")]).order_by(["salary", "name"]),
            )
            .order_by(["department", "salary", "name"]);
        let want = [
            ("Williams", None),
            ("Jenson", Some(37000)),
            ("Jones", Some(45000)),
            ("Adams", Some(45000)),
            ("Moore", None),
            ("Wilkinson", Some(34000)),
            ("Johnson", None),
            ("Miller", Some(80000)),
            ("Smith", None),
            ("Johnson", Some(38000)),
            ("Brown", None),
            ("Smith", Some(53000)),
        ];
        assert_eq!(named::<Option<i64>>(&db, qs, "lag")?, owned(&want));
        // test_lead_default.
        let qs = Employee::objects()
            .annotate(
                "lead",
                Window::new(Lead::with_default(F::col("salary"), 1, 1)).partition_by([F::col("department")]).order_by(["salary", "name"]),
            )
            .filter(Employee::department().eq("IT"))
            .order_by(["salary"]);
        assert_eq!(named::<i64>(&db, qs, "lead")?, owned(&[("Moore", 60000), ("Wilkinson", 1)]));
        // test_first_value and test_nthvalue.
        let qs = Employee::objects()
            .annotate(
                "first_value",
                Window::new(FirstValue::new(F::col("salary"))).partition_by([F::col("department")]).order_by(["hire_date"]),
            )
            .annotate(
                "nth",
                Window::new(NthValue::new(F::col("salary"), 2))
                    .partition_by([F::col("department")])
                    .order_by([OrderBy::asc("hire_date"), OrderBy::desc("name")]),
            )
            .order_by(["department", "hire_date", "name"]);
        let got: Vec<(String, i64, Option<i64>)> = qs
            .fetch_annotated(&db)?
            .into_iter()
            .map(|a| Ok((a.object.name.clone(), a.get("first_value")?, a.get("nth")?)))
            .collect::<orm::Result<_>>()?;
        let want = [
            ("Jones", 45000, None),
            ("Jenson", 45000, Some(45000)),
            ("Williams", 45000, Some(45000)),
            ("Adams", 45000, Some(45000)),
            ("Wilkinson", 60000, None),
            ("Moore", 60000, Some(34000)),
            ("Miller", 100000, None),
            ("Johnson", 100000, Some(80000)),
            ("Smith", 38000, None),
            ("Johnson", 38000, Some(40000)),
            ("Smith", 55000, None),
            ("Brown", 55000, Some(53000)),
        ];
        assert_eq!(got, want.map(|(n, a, b)| (n.to_owned(), a, b)));
        // test_last_value: the default frame ends at the current row.
        let qs = Employee::objects()
            .annotate(
                "last",
                Window::new(LastValue::new(F::col("hire_date"))).partition_by([F::col("department")]).order_by(["hire_date"]),
            )
            .filter(Employee::department().eq("Accounting"))
            .order_by(["hire_date"]);
        for (name, last) in named::<NaiveDate>(&db, qs, "last")? {
            let own = Employee::objects().filter(Employee::name().eq(name.as_str())).get(&db)?.hire_date;
            assert_eq!(last, own, "{name}");
        }
        // test_nth_returns_null: fewer than 20 rows.
        let got: Vec<Option<i64>> = Employee::objects()
            .annotate("nth", Window::new(NthValue::new(F::col("salary"), 20)).order_by(["salary"]))
            .values(["nth"])
            .distinct()
            .fetch_flat(&db)?;
        assert_eq!(got, [None]);
        Ok(())
    }
}

backend_test! {
    fn frames(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // test_row_range_rank: ROWS BETWEEN UNBOUNDED PRECEDING AND 3 FOLLOWING.
        let qs = Employee::objects()
            .annotate(
                "sum",
                Window::new(Sum::of("salary"))
                    .order_by([OrderBy::asc("hire_date"), OrderBy::desc("name")])
                    .frame(Frame::rows(FrameBound::from_offset(None, true), FrameBound::from_offset(Some(3), false))),
            )
            .order_by(["sum", "hire_date"]);
        let sql = qs.to_sql(db.dialect())?.0;
        assert!(sql.contains("ROWS BETWEEN UNBOUNDED PRECEDING AND 3 FOLLOWING"), "{sql}");
        let got: Vec<i64> = named::<i64>(&db, qs, "sum")?.into_iter().map(|(_, x)| x).collect();
        assert_eq!(got, [280000, 325000, 362000, 415000, 453000, 513000, 553000, 603000, 637000, 637000, 637000, 637000]);
        // test_row_range_both_preceding: the two rows before.
        let qs = Employee::objects()
            .annotate(
                "sum",
                Window::new(Sum::of("salary"))
                    .order_by([OrderBy::asc("hire_date"), OrderBy::desc("name")])
                    .frame(Frame::rows(FrameBound::Preceding(2), FrameBound::Preceding(1))),
            )
            .order_by(["hire_date", "-name"]);
        let got: Vec<Option<i64>> = named::<Option<i64>>(&db, qs, "sum")?.into_iter().map(|(_, x)| x).collect();
        assert_eq!(got[..4], [None, Some(100000), Some(180000), Some(125000)]);
        // test_range_n_preceding_and_following: RANGE over salary values within 2 of each.
        let qs = Employee::objects()
            .annotate(
                "sum",
                Window::new(Sum::of("salary"))
                    .partition_by([F::col("department")])
                    .order_by(["salary"])
                    .frame(Frame::range(FrameBound::Preceding(2), FrameBound::Following(2))),
            )
            .order_by(["department", "salary", "name"]);
        let got: Vec<i64> = named::<i64>(&db, qs, "sum")?.into_iter().map(|(_, x)| x).collect();
        assert_eq!(got, [37000, 90000, 90000, 50000, 34000, 60000, 80000, 100000, 38000, 40000, 53000, 55000]);
        Ok(())
    }
}

backend_test! {
    fn window_functions_are_refused_outside_a_window(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let err = Employee::objects().annotate("n", RowNumber::new()).fetch_annotated(&db).unwrap_err();
        assert!(matches!(&err, orm::Error::ValueError(m) if m.contains("window function")), "{err:?}");
        // Only a window function or an aggregate goes in OVER (Django's ValueError).
        let err = Employee::objects().annotate("n", Window::new(F::col("salary"))).fetch_annotated(&db).unwrap_err();
        assert!(matches!(&err, orm::Error::ValueError(m) if m.contains("OVER")), "{err:?}");
        // A window in update() is Django's FieldError.
        let err = Employee::objects()
            .update([Employee::salary().set(Window::new(Max::of("salary")).partition_by([F::col("department")]))], &db)
            .unwrap_err();
        assert!(matches!(&err, orm::Error::FieldError { message } if message.contains("Window expressions are not allowed")), "{err:?}");
        assert_eq!(Employee::objects().filter(Employee::salary().eq(100000)).count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn filtering_on_windows_wraps_the_query(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // Django's test_filter.
        let qs = || {
            Employee::objects()
                .annotate(
                    "department_salary_rank",
                    Window::new(Rank::new()).partition_by([F::col("department")]).order_by(["-salary"]),
                )
                .annotate(
                    "department_avg_age_diff",
                    Window::new(Avg::of("age")).partition_by([F::col("department")]) - F::col("age"),
                )
                .order_by(["department", "name"])
        };
        let names = |qs: orm::QuerySet<Employee>| -> orm::Result<Vec<String>> {
            Ok(qs.fetch(&db)?.into_iter().map(|e| e.name).collect())
        };
        let rank1 = || Q::<Employee>::path("department_salary_rank", 1).unwrap();
        let older = || Q::<Employee>::path("department_avg_age_diff__gt", 0).unwrap();
        assert_eq!(names(qs().filter(rank1()))?, ["Adams", "Wilkinson", "Miller", "Johnson", "Smith"]);
        assert_eq!(names(qs().filter(older()))?, ["Jenson", "Jones", "Williams", "Miller", "Smith"]);
        assert_eq!(names(qs().filter(rank1()).filter(older()))?, ["Miller"]);
        assert_eq!(
            names(qs().filter(rank1() | older()))?,
            ["Adams", "Jenson", "Jones", "Williams", "Wilkinson", "Miller", "Johnson", "Smith", "Smith"]
        );
        // The window sees the rows the plain filters leave (WHERE before the window), the
        // window filter applies after it, then the slice.
        let got = names(qs().filter(Employee::age().lt(50)).filter(rank1()))?;
        assert_eq!(got, ["Jenson", "Jones", "Wilkinson", "Miller", "Johnson", "Smith"]);
        assert_eq!(names(qs().filter(rank1()).slice(1..3))?, ["Wilkinson", "Miller"]);
        // count(), exists(), values() and the annotation's value.
        assert_eq!(qs().filter(rank1()).count(&db)?, 5);
        assert!(qs().filter(rank1()).exists(&db)?);
        assert!(!qs().filter(Q::path("department_salary_rank__gt", 4)?).exists(&db)?);
        let rows = qs().filter(rank1()).values(["name", "department_salary_rank"]).fetch_values(&db)?;
        let got: Vec<(String, i64)> = rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect::<orm::Result<_>>()?;
        assert_eq!(got[0], ("Adams".to_owned(), 1));
        assert_eq!(got.len(), 5);
        let got: Vec<f64> = qs()
            .filter(rank1())
            .fetch_annotated(&db)?
            .iter()
            .map(|a| a.get::<f64>("department_avg_age_diff"))
            .collect::<Result<_, _>>()?;
        assert_eq!(got, [-22.5, 0.0, 5.0, -5.0, 0.0]);
        // Across a relation too: Django's NotSupportedError, not a wrong answer.
        let err = qs().filter(rank1()).select_related(["nothing"]).fetch(&db).unwrap_err();
        assert!(matches!(err, orm::Error::NotSupportedError(_) | orm::Error::FieldError { .. }), "{err:?}");
        Ok(())
    }
}
