//! Database functions as Django's tests/db_functions (comparison, text, math, datetime): the
//! same results on the three backends, in annotate, filter, order_by and update.

use chrono::{NaiveDate, NaiveDateTime};
use orm::expressions::functions::{
    Abs, Cast, Ceil, Coalesce, Concat, Extract, Floor, Greatest, LPad, LTrim, Least, Left, Length, Lower, Mod, Now,
    NullIf, Power, RPad, RTrim, Repeat, Replace, Right, Round, Sign, Sqrt, StrIndex, Substr, Trim, Trunc, Upper, MD5,
    SHA1, SHA256,
};
// Django's `Reverse`; the prelude's `Reverse` is the reverse-relation field.
use orm::expressions::functions::Reverse as ReverseText;
use orm::expressions::{CastTo, Expr, TruncTo, F};
use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_backends::{Dialect, FromValue};
use orm_tests::db_of;
use rust_decimal::Decimal;

/// Django's db_functions `Author`.
#[derive(Model, Debug, Clone)]
#[orm(app = "dbfn")]
pub struct FnAuthor {
    pub id: Auto<i64>,
    #[orm(max_length = 50)]
    pub name: String,
    #[orm(max_length = 50)]
    pub alias: Option<String>,
    #[orm(max_length = 50)]
    pub goes_by: Option<String>,
    pub age: i64,
}

/// Django's `DecimalModel`, `FloatModel` and `IntegerModel` in one.
#[derive(Model, Debug, Clone)]
#[orm(app = "dbfn")]
pub struct Numbers {
    pub id: Auto<i64>,
    #[orm(max_digits = 6, decimal_places = 2)]
    pub n1: Decimal,
    #[orm(max_digits = 6, decimal_places = 2)]
    pub n2: Decimal,
    pub f1: f64,
    pub small: i64,
    pub big: i64,
}

/// Django's `DTModel`.
#[derive(Model, Debug, Clone)]
#[orm(app = "dbfn")]
pub struct Stamped {
    pub id: Auto<i64>,
    #[orm(max_length = 32)]
    pub name: String,
    pub start_datetime: NaiveDateTime,
    pub start_date: NaiveDate,
}

fn authors(db: &Database) -> orm::Result<()> {
    Schema::new().model::<FnAuthor>().create_all(db)?;
    FnAuthor { id: Auto::unset(), name: "John Smith".into(), alias: Some("smithj".into()), goes_by: None, age: 40 }
        .create(db)?;
    FnAuthor { id: Auto::unset(), name: "Rhonda".into(), alias: None, goes_by: None, age: 30 }.create(db)?;
    Ok(())
}

/// The annotation `name` of every author, by pk.
fn by_author<T: FromValue>(db: &Database, e: impl Into<Expr>) -> orm::Result<Vec<T>> {
    FnAuthor::objects().annotate("v", e).order_by(["pk"]).fetch_annotated(db)?.iter().map(|a| a.get::<T>("v")).collect()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

backend_test! {
    fn text_functions(t: &TestDb) {
        let db = db_of(t);
        authors(&db)?;
        let name = || F::col("name");
        assert_eq!(by_author::<String>(&db, Upper::new(name()))?, s(&["JOHN SMITH", "RHONDA"]));
        assert_eq!(by_author::<String>(&db, Lower::new(FnAuthor::name()))?, s(&["john smith", "rhonda"]));
        assert_eq!(by_author::<i64>(&db, Length::new(name()))?, [10, 6]);
        assert_eq!(by_author::<String>(&db, Left::new(name(), 5))?, s(&["John ", "Rhond"]));
        assert_eq!(by_author::<String>(&db, Right::new(name(), 5))?, s(&["Smith", "honda"]));
        assert_eq!(by_author::<String>(&db, Right::new(name(), 0))?, s(&["", ""]));
        assert_eq!(by_author::<String>(&db, Substr::with_length(name(), 1, 5))?, s(&["John ", "Rhond"]));
        assert_eq!(by_author::<String>(&db, Substr::new(name(), 2))?, s(&["ohn Smith", "honda"]));
        assert_eq!(by_author::<i64>(&db, StrIndex::new(name(), "R"))?, [0, 1]);
        assert_eq!(by_author::<i64>(&db, StrIndex::new(name(), "mi"))?, [7, 0]);
        assert_eq!(by_author::<String>(&db, Replace::with(name(), "Smith", "Jones"))?, s(&["John Jones", "Rhonda"]));
        assert_eq!(by_author::<String>(&db, Replace::new(name(), "o"))?, s(&["Jhn Smith", "Rhnda"]));
        assert_eq!(by_author::<String>(&db, ReverseText::new(name()))?, s(&["htimS nhoJ", "adnohR"]));
        assert_eq!(by_author::<String>(&db, Repeat::new(Left::new(name(), 2), 3))?, s(&["JoJoJo", "RhRhRh"]));
        assert_eq!(by_author::<String>(&db, LPad::with(name(), 8, "xy"))?, s(&["John Smi", "xyRhonda"]));
        assert_eq!(by_author::<String>(&db, RPad::with(name(), 8, "xy"))?, s(&["John Smi", "Rhondaxy"]));
        assert_eq!(by_author::<String>(&db, LPad::new(name(), 7))?, s(&["John Sm", " Rhonda"]));
        // Concat: NULL is empty text (Django's ConcatPair); a NULL column alone gives ''.
        assert_eq!(
            by_author::<String>(&db, Concat::new([F::col("alias"), " / ".into(), name()]))?,
            s(&["smithj / John Smith", " / Rhonda"])
        );
        // Trims.
        FnAuthor::objects().update([FnAuthor::name().set(Concat::new(["  ".into(), name(), " ".into()]))], &db)?;
        assert_eq!(by_author::<String>(&db, LTrim::new(name()))?, s(&["John Smith ", "Rhonda "]));
        assert_eq!(by_author::<String>(&db, RTrim::new(name()))?, s(&["  John Smith", "  Rhonda"]));
        assert_eq!(by_author::<String>(&db, Trim::new(name()))?, s(&["John Smith", "Rhonda"]));
        // A function in filter and order_by, and in update.
        FnAuthor::objects().update([FnAuthor::name().set(Trim::new(name()))], &db)?;
        let got: Vec<String> = FnAuthor::objects()
            .filter(Q::path_expr("alias", Concat::new([Lower::new(Substr::with_length(name(), 6, 5)), "j".into()]))?)
            .fetch(&db)?
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(got, s(&["John Smith"]));
        let got: Vec<String> =
            FnAuthor::objects().order_by([Length::new(name()).asc()]).fetch(&db)?.into_iter().map(|a| a.name).collect();
        assert_eq!(got, s(&["Rhonda", "John Smith"]));
        Ok(())
    }
}

backend_test! {
    fn digests(t: &TestDb) {
        let db = db_of(t);
        authors(&db)?;
        assert_eq!(
            by_author::<String>(&db, MD5::new(F::col("name")))?,
            s(&["6117323d2cabbc17d44c2b44587f682c", "75e066bda6af9685d43a83c7aeeac06a"])
        );
        assert_eq!(
            by_author::<String>(&db, SHA256::new(F::col("name")))?,
            s(&[
                "ef61a579c907bbed674c0dbcbcf7f7af8f851538eef7b8e58c5bee0b8cfdac4a",
                "18861c9019a6968e49a5df34c49ac40aff456494a53142cd4b3286a8ff47d35d"
            ])
        );
        // NULL in, NULL out.
        assert_eq!(by_author::<Option<String>>(&db, MD5::new(F::col("goes_by")))?, [None, None]);
        if db.dialect() == Dialect::Postgres {
            // SHA1 needs pgcrypto's DIGEST on PostgreSQL, as in Django.
            let created = db.pool().get().and_then(|mut c| c.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto", &[]));
            if let Err(e) = created {
                eprintln!("skipped SHA1 on postgres: pgcrypto cannot be created here ({e})");
                return Ok(());
            }
        }
        assert_eq!(
            by_author::<String>(&db, SHA1::new(F::col("name")))?,
            s(&["e61a3587b3f7a142b8c7b9263c82f8119398ecb7", "bcc4ad25dc7b9a28fa26420b692ddc17c2008465"])
        );
        Ok(())
    }
}

backend_test! {
    fn comparison_functions(t: &TestDb) {
        let db = db_of(t);
        authors(&db)?;
        // Coalesce (Django's test_basic): the first non-NULL.
        assert_eq!(
            by_author::<String>(&db, Coalesce::new([F::col("alias"), F::col("goes_by"), F::col("name")]))?,
            s(&["smithj", "Rhonda"])
        );
        // NullIf.
        assert_eq!(by_author::<Option<i64>>(&db, NullIf::new(F::col("age"), 30))?, [Some(40), None]);
        // Greatest / Least over non-NULL values.
        assert_eq!(by_author::<i64>(&db, Greatest::new([F::col("age"), Expr::value(35)]))?, [40, 35]);
        assert_eq!(by_author::<i64>(&db, Least::new([F::col("age"), Expr::value(35)]))?, [35, 30]);
        // With a NULL: PostgreSQL skips it, SQLite and MySQL give NULL (Django documents it).
        let got = by_author::<Option<String>>(&db, Greatest::new([F::col("alias"), F::col("name")]))?;
        match db.dialect() {
            Dialect::Postgres => assert_eq!(got, [Some("smithj".to_owned()), Some("Rhonda".to_owned())]),
            _ => assert_eq!(got, [Some("smithj".to_owned()), None]),
        }
        // Too few expressions is Django's ValueError, before any SQL.
        let err = FnAuthor::objects().annotate("g", Greatest::new([F::col("age")])).fetch_annotated(&db).unwrap_err();
        assert!(matches!(&err, orm::Error::ValueError(m) if m.contains("at least two")), "{err:?}");
        // Cast.
        assert_eq!(by_author::<String>(&db, Cast::new(F::col("age"), CastTo::Text))?, s(&["40", "30"]));
        assert_eq!(by_author::<i64>(&db, Cast::new(Expr::value("42"), CastTo::Integer))?, [42, 42]);
        assert_eq!(by_author::<f64>(&db, Cast::new(F::col("age"), CastTo::Float) / 8)?, [5.0, 3.75]);
        let got = by_author::<Decimal>(&db, Cast::new(F::col("age"), CastTo::Decimal { max_digits: 6, decimal_places: 2 }))?;
        assert_eq!(got, [Decimal::new(40, 0), Decimal::new(30, 0)]);
        Ok(())
    }
}

backend_test! {
    fn math_functions(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Numbers>().create_all(&db)?;
        Numbers { id: Auto::unset(), n1: Decimal::new(-1290, 2), n2: Decimal::new(60, 2), f1: -27.5, small: -20, big: 7 }
            .create(&db)?;
        let one = |e: Expr| -> orm::Result<orm_backends::OwnedRow> { Numbers::objects().annotate("v", e).values(["v"]).fetch_values(&db).map(|mut v| v.remove(0)) };
        let dec = |e: Expr| -> orm::Result<Decimal> { Ok(one(e)?.get::<Decimal>(0)?.normalize()) };
        let float = |e: Expr| -> orm::Result<f64> { Ok(one(e)?.get::<f64>(0)?) };
        let int = |e: Expr| -> orm::Result<i64> { Ok(one(e)?.get::<i64>(0)?) };
        assert_eq!(dec(Abs::new(F::col("n1")))?, Decimal::new(129, 1));
        assert_eq!(int(Abs::new(F::col("small")))?, 20);
        assert_eq!(dec(Ceil::new(F::col("n1")))?, Decimal::new(-12, 0));
        assert_eq!(dec(Floor::new(F::col("n1")))?, Decimal::new(-13, 0));
        assert_eq!(float(Ceil::new(F::col("f1")))?, -27.0);
        assert_eq!(float(Floor::new(F::col("f1")))?, -28.0);
        assert_eq!(dec(Round::new(F::col("n1")))?, Decimal::new(-13, 0));
        assert_eq!(dec(Round::places(F::col("n2") + F::col("n1"), 0))?, Decimal::new(-12, 0));
        assert_eq!(float(Round::places(F::col("f1") / 7, 2))?, -3.93);
        assert_eq!(int(Sign::new(F::col("small")))?, -1);
        assert_eq!(int(Sign::new(F::col("big")))?, 1);
        assert_eq!(int(Mod::new(F::col("small"), F::col("big")))?, -6);
        assert_eq!(dec(Mod::new(F::col("n1"), F::col("n2")))?, Decimal::new(-3, 1));
        assert_eq!(float(Power::new(F::col("big"), 2))?, 49.0);
        assert_eq!(float(Sqrt::new(F::col("big") * 7))?, 7.0);
        // In filter and update.
        assert_eq!(Numbers::objects().filter(Q::path_expr("big", Abs::new(F::col("small")) - 13)?).count(&db)?, 1);
        Numbers::objects().update([Numbers::f1().set(Abs::new(F::col("f1")) * 2)], &db)?;
        assert_eq!(Numbers::objects().get(&db)?.f1, 55.0);
        Ok(())
    }
}

fn stamped(db: &Database) -> orm::Result<()> {
    Schema::new().model::<Stamped>().create_all(db)?;
    let start = NaiveDate::from_ymd_opt(2015, 6, 18).unwrap().and_hms_micro_opt(23, 30, 50, 321).unwrap();
    Stamped { id: Auto::unset(), name: "a".into(), start_datetime: start, start_date: start.date() }.create(db)?;
    let later = NaiveDate::from_ymd_opt(2016, 1, 3).unwrap().and_hms_opt(4, 5, 6).unwrap();
    Stamped { id: Auto::unset(), name: "b".into(), start_datetime: later, start_date: later.date() }.create(db)?;
    Ok(())
}

fn first<T: FromValue>(db: &Database, e: Expr) -> orm::Result<T> {
    let rows = Stamped::objects().filter(Stamped::name().eq("a")).annotate("v", e).fetch_annotated(db)?;
    rows[0].get::<T>("v")
}

backend_test! {
    fn extract_every_part(t: &TestDb) {
        let db = db_of(t);
        stamped(&db)?;
        let dt = || F::col("start_datetime");
        let d = || F::col("start_date");
        // 2015-06-18 23:30:50.000321, a Thursday in ISO week 25.
        for (e, want) in [
            (Extract::year(dt()), 2015),
            (Extract::iso_year(dt()), 2015),
            (Extract::quarter(dt()), 2),
            (Extract::month(dt()), 6),
            (Extract::week(dt()), 25),
            (Extract::day(dt()), 18),
            (Extract::week_day(dt()), 5),
            (Extract::iso_week_day(dt()), 4),
            (Extract::hour(dt()), 23),
            (Extract::minute(dt()), 30),
            (Extract::second(dt()), 50),
            (Extract::year(d()), 2015),
            (Extract::week_day(d()), 5),
            (Extract::quarter(d()), 2),
        ] {
            let label = format!("{e:?}");
            assert_eq!(first::<i64>(&db, e)?, want, "{label}");
        }
        // 2016-01-03 belongs to ISO year 2015, week 53.
        let got: Vec<(i64, i64)> = Stamped::objects()
            .annotate("y", Extract::iso_year(dt()))
            .annotate("w", Extract::week(dt()))
            .order_by(["pk"])
            .fetch_annotated(&db)?
            .iter()
            .map(|a| Ok((a.get("y")?, a.get("w")?)))
            .collect::<orm::Result<_>>()?;
        assert_eq!(got, [(2015, 25), (2015, 53)]);
        // In a filter and an ordering.
        assert_eq!(Stamped::objects().filter(Q::path_expr("id", Extract::month(dt()) - 5)?).count(&db)?, 1);
        let got: Vec<String> =
            Stamped::objects().order_by([Extract::month(d()).asc()]).fetch(&db)?.into_iter().map(|s| s.name).collect();
        assert_eq!(got, ["b", "a"]);
        Ok(())
    }
}

backend_test! {
    fn trunc_every_unit(t: &TestDb) {
        let db = db_of(t);
        stamped(&db)?;
        let at = |y, m, d, h, mi, s| NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, mi, s).unwrap();
        for (unit, want) in [
            (TruncTo::Year, at(2015, 1, 1, 0, 0, 0)),
            (TruncTo::Quarter, at(2015, 4, 1, 0, 0, 0)),
            (TruncTo::Month, at(2015, 6, 1, 0, 0, 0)),
            (TruncTo::Week, at(2015, 6, 15, 0, 0, 0)),
            (TruncTo::Day, at(2015, 6, 18, 0, 0, 0)),
            (TruncTo::Hour, at(2015, 6, 18, 23, 0, 0)),
            (TruncTo::Minute, at(2015, 6, 18, 23, 30, 0)),
            (TruncTo::Second, at(2015, 6, 18, 23, 30, 50)),
        ] {
            assert_eq!(first::<NaiveDateTime>(&db, Trunc::new(F::col("start_datetime"), unit))?, want, "{unit:?}");
        }
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        for (unit, want) in [
            (TruncTo::Year, day(2015, 1, 1)),
            (TruncTo::Quarter, day(2015, 4, 1)),
            (TruncTo::Month, day(2015, 6, 1)),
            (TruncTo::Week, day(2015, 6, 15)),
            (TruncTo::Day, day(2015, 6, 18)),
        ] {
            assert_eq!(first::<NaiveDate>(&db, Trunc::new(F::col("start_date"), unit))?, want, "{unit:?}");
        }
        // A date has no hour (Django's ValueError), refused before any SQL.
        let err = Stamped::objects().annotate("h", Trunc::hour(F::col("start_date"))).fetch_annotated(&db).unwrap_err();
        assert!(matches!(err, orm::Error::ValueError(_)), "{err:?}");
        // Grouping by a truncated date: one row per year.
        let rows = Stamped::objects()
            .annotate("year", Trunc::year(F::col("start_date")))
            .values(["year"])
            .annotate("n", orm::expressions::Count::all())
            .order_by(["year"])
            .fetch_values(&db)?;
        let got: Vec<(NaiveDate, i64)> = rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect::<orm::Result<_>>()?;
        assert_eq!(got, [(day(2015, 1, 1), 1), (day(2016, 1, 1), 1)]);
        Ok(())
    }
}

backend_test! {
    fn now_is_the_statement_time_in_utc(t: &TestDb) {
        let db = db_of(t);
        stamped(&db)?;
        let before = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(5);
        let now: NaiveDateTime = first(&db, Now::new())?;
        let after = chrono::Utc::now().naive_utc() + chrono::Duration::seconds(5);
        assert!(before <= now && now <= after, "{before} <= {now} <= {after}");
        // Both rows started in the past (Django's test_basic of Now).
        assert_eq!(Stamped::objects().filter(Q::path_expr("start_datetime__lte", Now::new())?).count(&db)?, 2);
        assert_eq!(Stamped::objects().filter(Q::path_expr("start_datetime__gt", Now::new())?).count(&db)?, 0);
        Ok(())
    }
}
