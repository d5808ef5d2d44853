//! Custom lookups and transforms as Django's tests/custom_lookups: a `ne` lookup, an `abs`
//! and a `div3` transform (per dialect), a PostgreSQL-only transform, in string paths and
//! typed handles, chained with built-in lookups, on three backends.

use orm::expressions::custom::{register_lookup, register_transform, CustomDef};
use orm::expressions::F;
use orm::prelude::*;
use orm::ColumnKind;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_backends::Dialect;
use orm_tests::db_of;

/// Django's custom_lookups `Author`.
#[derive(Model, Debug, Clone)]
#[orm(app = "customlk")]
pub struct LkAuthor {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
    pub age: i64,
    pub delta: i64,
}

const INTS: &[ColumnKind] = &[ColumnKind::SmallInt, ColumnKind::Integer, ColumnKind::BigInt];

/// Registers the definitions (process-wide; registering the same again is allowed).
fn register() -> orm::Result<()> {
    register_lookup(CustomDef::new("ne", "{lhs} <> {rhs}"))?;
    // The value first: Django's lookups may put it anywhere.
    register_lookup(CustomDef::new("exceeds", "{rhs} < {lhs}").on(INTS))?;
    register_transform(CustomDef::new("abs", "ABS({lhs})").on(INTS))?;
    register_transform(CustomDef::new("div3", "({lhs} % 3)").sql_for(Dialect::Mysql, "MOD({lhs}, 3)").on(INTS))?;
    register_transform(CustomDef::new("initcap", "INITCAP({lhs})").only(&[Dialect::Postgres]))?;
    Ok(())
}

fn setup(db: &Database) -> orm::Result<()> {
    register()?;
    Schema::new().model::<LkAuthor>().create_all(db)?;
    for (name, age, delta) in [("a1", 1, -3), ("a2", 2, 7), ("a3", 3, 2), ("a4", 4, -8)] {
        LkAuthor { id: Auto::unset(), name: name.into(), age, delta }.create(db)?;
    }
    Ok(())
}

fn names(db: &Database, q: Q<LkAuthor>) -> orm::Result<Vec<String>> {
    Ok(LkAuthor::objects().filter(q).order_by(["name"]).fetch(db)?.into_iter().map(|a| a.name).collect())
}

fn p(path: &str, v: impl Into<orm_backends::Value>) -> Q<LkAuthor> {
    Q::path(path, v).expect("a valid path")
}

backend_test! {
    fn custom_lookups_in_paths_and_handles(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // Django's test_basic_lookup (NotEqual).
        assert_eq!(names(&db, p("age__ne", 2))?, ["a1", "a3", "a4"]);
        assert_eq!(names(&db, LkAuthor::age().lookup("ne", 2)?)?, ["a1", "a3", "a4"]);
        assert_eq!(names(&db, !p("age__ne", 2))?, ["a2"]);
        assert_eq!(names(&db, p("name__ne", "a1"))?, ["a2", "a3", "a4"]);
        // Against an expression.
        assert_eq!(names(&db, Q::path_expr("age__ne", F::col("delta") + 1)?)?, ["a1", "a2", "a4"]);
        // The value first in the template.
        assert_eq!(names(&db, p("age__exceeds", 2))?, ["a3", "a4"]);
        // Registered for integers only: Django's "Unsupported lookup" FieldError.
        let err = LkAuthor::objects().filter(p("name__exceeds", "a")).fetch(&db).unwrap_err();
        assert!(matches!(&err, orm::Error::FieldError { message } if message.contains("exceeds")), "{err:?}");
        // An unregistered name in a handle.
        assert!(matches!(LkAuthor::age().lookup("nope", 1), Err(orm::Error::FieldError { .. })));
        Ok(())
    }
}

backend_test! {
    fn custom_transforms_chain_with_lookups(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        // Django's test_basic_lookup for transforms (Abs), and chains with built-in lookups.
        assert_eq!(names(&db, p("delta__abs", 3))?, ["a1"]);
        assert_eq!(names(&db, p("delta__abs__gt", 2))?, ["a1", "a2", "a4"]);
        assert_eq!(names(&db, p("delta__abs__in", serde_json::json!([2, 8])))?, ["a3", "a4"]);
        assert_eq!(names(&db, p("delta__abs__ne", 3))?, ["a2", "a3", "a4"]);
        assert_eq!(names(&db, LkAuthor::delta().transform::<i64>("abs")?.lte(3))?, ["a1", "a3"]);
        // Per-dialect SQL (Div3 with MOD on MySQL): 7 % 3 = 1, 4 % 3 = 1, 1 % 3 = 1.
        assert_eq!(names(&db, p("age__div3", 1))?, ["a1", "a4"]);
        assert_eq!(names(&db, p("delta__div3", 1))?, ["a2"]);
        // In ordering and annotations (F through a transform).
        let got: Vec<String> = LkAuthor::objects()
            .order_by([OrderBy::desc("delta__abs")])
            .fetch(&db)?
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(got, ["a4", "a2", "a1", "a3"]);
        let got: Vec<i64> =
            LkAuthor::objects().annotate("d", F::col("delta__abs")).order_by(["name"]).values(["d"]).fetch_flat(&db)?;
        assert_eq!(got, [3, 7, 2, 8]);
        // Not for text fields.
        let err = LkAuthor::objects().filter(p("name__abs", 1)).fetch(&db).unwrap_err();
        assert!(matches!(&err, orm::Error::FieldError { message } if message.contains("'abs'")), "{err:?}");
        Ok(())
    }
}

backend_test! {
    fn a_transform_for_one_dialect(t: &TestDb) {
        let db = db_of(t);
        setup(&db)?;
        let q = p("name__initcap", "A1");
        if db.dialect() == Dialect::Postgres {
            assert_eq!(names(&db, q)?, ["a1"]);
        } else {
            let err = LkAuthor::objects().filter(q).fetch(&db).unwrap_err();
            assert!(matches!(&err, orm::Error::NotSupportedError(m) if m.contains("initcap")), "{err:?}");
        }
        Ok(())
    }
}

#[test]
fn definitions_are_checked_when_registered() {
    let refused = |def: CustomDef, lookup: bool| {
        let r = if lookup { register_lookup(def).map(|_| ()) } else { register_transform(def).map(|_| ()) };
        matches!(r, Err(orm::Error::ImproperlyConfigured(_)))
    };
    assert!(refused(CustomDef::new("bad", "{lhs} = 1"), true), "a lookup needs {{rhs}}");
    assert!(refused(CustomDef::new("bad2", "F({lhs}, {rhs})"), false), "a transform takes no {{rhs}}");
    assert!(refused(CustomDef::new("exact", "{lhs} = {rhs}"), true), "built-in names are taken");
    assert!(refused(CustomDef::new("sp ace", "{lhs} = {rhs}"), true), "names are identifiers");
    register_lookup(CustomDef::new("twice", "{lhs} = {rhs}")).unwrap();
    assert!(register_lookup(CustomDef::new("twice", "{lhs} = {rhs}")).is_ok(), "the same again is fine");
    assert!(refused(CustomDef::new("twice", "{lhs} <> {rhs}"), true), "another definition is refused");
}
