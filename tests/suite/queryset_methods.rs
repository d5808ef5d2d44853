//! The QuerySet methods issue 19 item 8 names, as Django's tests/queries, tests/dates,
//! tests/datetimes, tests/distinct_on_fields, tests/select_for_update, tests/basic
//! (get_next_by) and tests/explain: `alias`, `contains`, `dates`/`datetimes`,
//! `distinct_on`, `select_for_update(of, no_key)`, `get_next_by`/`get_previous_by`,
//! `iter_values`, `explain_with`, on three backends.

use chrono::{NaiveDate, NaiveDateTime};
use orm::expressions::functions::Length;
use orm::expressions::{Count, TruncTo, F};
use orm::prelude::*;
use orm::{Explain, ForUpdate};
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_backends::Dialect;
use orm_tests::db_of;

/// Django's `Reporter`.
#[derive(Model, Debug, Clone)]
#[orm(app = "qsmethods")]
pub struct QmReporter {
    pub id: Auto<i64>,
    #[orm(max_length = 30)]
    pub name: String,
}

/// Django's basic `Article`, with a date beside the datetime.
#[derive(Model, Debug, Clone)]
#[orm(app = "qsmethods")]
pub struct QmArticle {
    pub id: Auto<i64>,
    #[orm(max_length = 100)]
    pub headline: String,
    pub pub_date: NaiveDateTime,
    pub pub_day: NaiveDate,
    #[orm(on_delete = Cascade)]
    pub reporter: ForeignKey<QmReporter>,
}

fn at(y: i32, m: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, mi, 0).unwrap()
}

/// Django's tests/dates data plus a tie.
fn setup(db: &Database) -> orm::Result<Vec<QmArticle>> {
    Schema::new().model::<QmReporter>().model::<QmArticle>().create_all(db)?;
    let r1 = QmReporter { id: Auto::unset(), name: "r1".into() }.create(db)?;
    let r2 = QmReporter { id: Auto::unset(), name: "r2".into() }.create(db)?;
    let rows = [
        ("Article 1", at(2005, 7, 26, 10, 0), &r1),
        ("Article 2", at(2005, 7, 27, 9, 30), &r1),
        ("Article 3", at(2005, 7, 27, 9, 30), &r2),
        ("Article 4", at(2005, 7, 28, 23, 59), &r2),
        ("Article 5", at(2010, 1, 1, 0, 0), &r1),
    ];
    rows.into_iter()
        .map(|(h, d, r)| {
            QmArticle {
                id: Auto::unset(),
                headline: h.into(),
                pub_date: d,
                pub_day: d.date(),
                reporter: ForeignKey::to(r)?,
            }
            .create(db)
        })
        .collect()
}

fn heads(v: Vec<QmArticle>) -> Vec<String> {
    v.into_iter().map(|a| a.headline).collect()
}

backend_test! {
    fn alias_filters_and_orders_without_selecting(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let qs = QmArticle::objects().alias("n", Length::new(F::col("headline")) + F::col("id"));
        let got = heads(qs.clone().filter(Q::path("n__gte", 13)?).order_by(["-n"]).fetch(&db)?);
        assert_eq!(got, ["Article 5", "Article 4"]);
        // Not selected: fetch_annotated carries no column for it.
        let a = qs.clone().filter(Q::path("n", 10)?).fetch_annotated(&db)?;
        assert_eq!(a.len(), 1);
        assert!(a[0].get::<i64>("n").is_err());
        // Django: "Cannot select the 'n' alias. Use annotate() to promote it."
        let err = qs.clone().values(["n"]).fetch_values(&db).unwrap_err();
        assert!(matches!(&err, orm::Error::FieldError { message } if message.contains("Cannot select the 'n' alias")), "{err:?}");
        // An aggregate alias filters the groups.
        let busy: Vec<String> = QmReporter::objects()
            .alias("n", Count::of("qmarticle"))
            .filter(Q::path("n__gte", 3)?)
            .fetch(&db)?
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(busy, ["r1"]);
        Ok(())
    }
}

backend_test! {
    fn contains_asks_for_one_row(t: &TestDb) {
        let db = db_of(t);
        let arts = setup(&db)?;
        let qs = QmArticle::objects().filter(Q::path("headline__in", serde_json::json!(["Article 1", "Article 2"]))?);
        let capture = db.capture_queries();
        assert!(qs.contains(&arts[0], &db)?);
        assert!(!qs.contains(&arts[3], &db)?);
        assert_eq!(capture.len(), 2);
        drop(capture);
        let mut unsaved = arts[0].clone();
        unsaved.id = Auto::unset();
        assert!(matches!(qs.contains(&unsaved, &db), Err(orm::Error::ValueError(_))));
        assert!(matches!(qs.clone().values(["id"]).contains(&arts[0], &db), Err(orm::Error::TypeError(_))));
        Ok(())
    }
}

backend_test! {
    fn dates_and_datetimes(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        let qs = QmArticle::objects();
        // Django's tests/dates test_dates_fails_when_given_invalid_* and the kinds.
        assert_eq!(qs.dates("pub_date", TruncTo::Year, false, &db)?, [d(2005, 1, 1), d(2010, 1, 1)]);
        assert_eq!(qs.dates("pub_date", TruncTo::Month, false, &db)?, [d(2005, 7, 1), d(2010, 1, 1)]);
        assert_eq!(qs.dates("pub_day", TruncTo::Week, false, &db)?, [d(2005, 7, 25), d(2009, 12, 28)]);
        assert_eq!(
            qs.dates("pub_date", TruncTo::Day, true, &db)?,
            [d(2010, 1, 1), d(2005, 7, 28), d(2005, 7, 27), d(2005, 7, 26)]
        );
        assert!(matches!(qs.dates("pub_date", TruncTo::Hour, false, &db), Err(orm::Error::ValueError(_))));
        assert_eq!(
            qs.clone().filter(QmArticle::reporter().eq(1)).datetimes("pub_date", TruncTo::Hour, false, &db)?,
            [at(2005, 7, 26, 10, 0), at(2005, 7, 27, 9, 0), at(2010, 1, 1, 0, 0)]
        );
        assert_eq!(qs.datetimes("pub_date", TruncTo::Minute, false, &db)?.len(), 4);
        Ok(())
    }
}

backend_test! {
    fn distinct_on_fields(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // The latest article of each reporter.
        let qs = QmArticle::objects().distinct_on(["reporter"]).order_by(["reporter", "-pub_date"]);
        if db.dialect() != Dialect::Postgres {
            let err = qs.fetch(&db).unwrap_err();
            assert!(matches!(&err, orm::Error::NotSupportedError(m) if m.contains("DISTINCT ON")), "{err:?}");
            return Ok(());
        }
        assert_eq!(heads(qs.fetch(&db)?), ["Article 5", "Article 4"]);
        Ok(())
    }
}

backend_test! {
    fn select_for_update_of_and_no_key(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let d = db.dialect();
        db.atomic(|tx| {
            let capture = db.capture_queries();
            let of = QmArticle::objects()
                .select_related(["reporter"])
                .select_for_update(ForUpdate::new().of(["self"]))
                .filter(Q::path("headline", "Article 1")?)
                .fetch(tx);
            let no_key = QmArticle::objects().select_for_update(ForUpdate::new().no_key()).fetch(tx);
            match d {
                Dialect::Mysql => {
                    assert!(matches!(of, Err(orm::Error::NotSupportedError(_))), "{of:?}");
                    assert!(matches!(no_key, Err(orm::Error::NotSupportedError(_))), "{no_key:?}");
                }
                _ => {
                    assert_eq!(of?.len(), 1);
                    assert_eq!(no_key?.len(), 5);
                }
            }
            if d == Dialect::Postgres {
                let sqls: Vec<String> = capture.queries().into_iter().map(|q| q.sql).collect();
                assert!(sqls.iter().any(|s| s.contains(r#"FOR UPDATE OF "qsmethods_qm_article""#)), "{sqls:?}");
                assert!(sqls.iter().any(|s| s.contains("FOR NO KEY UPDATE")), "{sqls:?}");
                // `of` a relation the query joins locks that table.
                let both = QmArticle::objects()
                    .select_related(["reporter"])
                    .select_for_update(ForUpdate::new().of(["self", "reporter"]))
                    .fetch(tx)?;
                assert_eq!(both.len(), 5);
                let bad = QmArticle::objects().select_for_update(ForUpdate::new().of(["nope"])).fetch(tx);
                assert!(matches!(bad, Err(orm::Error::FieldError { .. })), "{bad:?}");
            }
            Ok(())
        })?;
        Ok(())
    }
}

backend_test! {
    fn get_next_and_previous_by_a_date(t: &TestDb) {
        let db = db_of(t);
        let arts = setup(&db)?;
        // Django's basic test_get_next_prev_by_field: ties (articles 2 and 3) by primary key.
        assert_eq!(arts[0].get_next_by("pub_date", &db)?.headline, "Article 2");
        assert_eq!(arts[1].get_next_by("pub_date", &db)?.headline, "Article 3");
        assert_eq!(arts[2].get_next_by("pub_date", &db)?.headline, "Article 4");
        assert_eq!(arts[2].get_previous_by("pub_date", &db)?.headline, "Article 2");
        assert_eq!(arts[4].get_previous_by("pub_day", &db)?.headline, "Article 4");
        assert!(matches!(arts[4].get_next_by("pub_date", &db), Err(orm::Error::DoesNotExist { .. })));
        assert!(matches!(arts[0].get_previous_by("pub_date", &db), Err(orm::Error::DoesNotExist { .. })));
        assert!(matches!(arts[0].get_next_by("headline", &db), Err(orm::Error::FieldError { .. })));
        // The derive's per-field names, as Django's.
        assert_eq!(arts[1].get_next_by_pub_date(&db)?.headline, "Article 3");
        assert_eq!(arts[3].get_previous_by_pub_day(&db)?.headline, "Article 3");
        Ok(())
    }
}

backend_test! {
    fn iterating_values_streams_rows(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let qs = QmArticle::objects().order_by(["id"]).values(["headline", "pub_day"]);
        let streamed: Vec<(String, NaiveDate)> = qs
            .iter_values(&db)?
            .map(|r| {
                let r = r?;
                Ok((r.get(0)?, r.get(1)?))
            })
            .collect::<orm::Result<_>>()?;
        let fetched: Vec<(String, NaiveDate)> =
            qs.fetch_values(&db)?.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect::<orm::Result<_>>()?;
        assert_eq!(streamed.len(), 5);
        assert_eq!(streamed, fetched);
        assert_eq!(QmArticle::objects().none().iter_values(&db)?.count(), 0);
        Ok(())
    }
}

backend_test! {
    fn explain_options_per_backend(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let qs = QmArticle::objects().filter(Q::path("headline", "Article 1")?);
        assert!(!qs.explain(&db)?.is_empty());
        match db.dialect() {
            Dialect::Postgres => {
                let plan = qs.explain_with(&Explain::new().analyze().verbose().format("json"), &db)?;
                assert!(plan.contains("Plan") && plan.contains("Actual"), "{plan}");
                assert!(matches!(qs.explain_with(&Explain::new().format("nope"), &db), Err(orm::Error::ValueError(_))));
            }
            Dialect::Mysql => {
                let plan = qs.explain_with(&Explain::new().format("json"), &db)?;
                assert!(plan.contains("query_block"), "{plan}");
                assert!(matches!(qs.explain_with(&Explain::new().verbose(), &db), Err(orm::Error::ValueError(_))));
            }
            Dialect::Sqlite => {
                assert!(matches!(qs.explain_with(&Explain::new().format("json"), &db), Err(orm::Error::ValueError(_))));
                assert!(matches!(qs.explain_with(&Explain::new().analyze(), &db), Err(orm::Error::ValueError(_))));
            }
        }
        Ok(())
    }
}
