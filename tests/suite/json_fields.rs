//! JSON fields as Django's tests/model_fields/test_jsonfield.py (TestQuerying): key and index
//! transforms, `has_key`/`has_keys`/`has_any_keys`, containment, `isnull` on keys, text
//! lookups on keys, ordering and annotating by keys, on three backends.

use orm::expressions::F;
use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_backends::Dialect;
use orm_tests::db_of;
use serde_json::json;

/// Django's `NullableJSONModel`.
#[derive(Model, Debug, Clone)]
#[orm(app = "jsonq")]
pub struct NullableJson {
    pub id: Auto<i64>,
    pub value: Option<serde_json::Value>,
}

/// Django's `setUpTestData` values; returns the ids in order.
fn setup(db: &Database) -> orm::Result<Vec<i64>> {
    Schema::new().model::<NullableJson>().create_all(db)?;
    let values = [
        None,
        Some(json!([])),
        Some(json!({})),
        Some(json!({"a": "b", "c": 14})),
        Some(json!({
            "a": "b", "c": 14, "d": ["e", {"f": "g"}], "h": true, "i": false, "j": null,
            "k": {"l": "m"}, "n": [null, true, false], "o": "\"quoted\"", "p": 4.2, "r": {"s": true, "t": false}
        })),
        Some(json!([1, [2]])),
        Some(json!({"k": true, "l": false, "foo": "bax"})),
        Some(json!({"foo": "bar", "baz": {"a": "b", "c": "d"}, "bar": ["foo", "bar"], "bax": {"foo": "bar"}})),
    ];
    let mut ids = Vec::new();
    for v in values {
        ids.push(NullableJson { id: Auto::unset(), value: v }.create(db)?.id.get().expect("saved"));
    }
    Ok(ids)
}

/// Which of the setup rows (by index) `q` matches.
fn which(db: &Database, ids: &[i64], q: Q<NullableJson>) -> orm::Result<Vec<usize>> {
    let got = NullableJson::objects().filter(q).order_by(["id"]).fetch(db)?;
    Ok(got.iter().map(|o| ids.iter().position(|i| Some(*i) == o.id.get()).expect("a setup row")).collect())
}

fn p(path: &str, v: impl Into<orm_backends::Value>) -> Q<NullableJson> {
    Q::path(path, v).expect("a valid path")
}

backend_test! {
    fn key_and_index_transforms(t: &TestDb) {
        let db = db_of(t);
        let ids = setup(&db)?;
        assert_eq!(which(&db, &ids, p("value__a", "b"))?, [3, 4]);
        assert_eq!(which(&db, &ids, p("value__c", 14))?, [3, 4]);
        assert_eq!(which(&db, &ids, p("value__h", true))?, [4]);
        assert_eq!(which(&db, &ids, p("value__p", 4.2))?, [4]);
        // A key holding JSON null, not a missing key (Django's test_key_exact_null…).
        assert_eq!(which(&db, &ids, Q::path("value__j", json!(null))?)?, [4]);
        // Nested keys and array indexes (test_deep_lookup_objs, test_shallow_list_lookup).
        assert_eq!(which(&db, &ids, p("value__k__l", "m"))?, [4]);
        assert_eq!(which(&db, &ids, p("value__d__0", "e"))?, [4]);
        assert_eq!(which(&db, &ids, p("value__d__1__f", "g"))?, [4]);
        assert_eq!(which(&db, &ids, p("value__1__0", 2))?, [5]);
        assert_eq!(which(&db, &ids, p("value__0", 1))?, [5]);
        assert_eq!(which(&db, &ids, Q::path("value__baz", json!({"a": "b", "c": "d"}))?)?, [7]);
        // Comparisons on a key.
        assert_eq!(which(&db, &ids, p("value__c__gt", 2))?, [3, 4]);
        assert_eq!(which(&db, &ids, p("value__c__lt", 5))?, Vec::<usize>::new());
        assert_eq!(which(&db, &ids, p("value__p__gte", 4))?, [4]);
        assert_eq!(which(&db, &ids, Q::path("value__foo__in", json!(["bar", "bax"]))?)?, [6, 7]);
        // Text lookups on a key's text (test_key_icontains, test_key_startswith…).
        assert_eq!(which(&db, &ids, p("value__foo__icontains", "BA"))?, [6, 7]);
        assert_eq!(which(&db, &ids, p("value__foo__startswith", "b"))?, [6, 7]);
        assert_eq!(which(&db, &ids, p("value__foo__endswith", "r"))?, [7]);
        assert_eq!(which(&db, &ids, p("value__foo__iexact", "BaR"))?, [7]);
        assert_eq!(which(&db, &ids, p("value__foo__regex", "^ba[xy]$"))?, [6]);
        // A key is NULL when it is absent (test_isnull_key), SQL NULL rows included.
        assert_eq!(which(&db, &ids, p("value__a__isnull", true))?, [0, 1, 2, 5, 6, 7]);
        assert_eq!(which(&db, &ids, p("value__a__isnull", false))?, [3, 4]);
        assert_eq!(which(&db, &ids, p("value__j__isnull", false))?, [4]);
        // Keys are bound values: a key that looks like SQL is just a key.
        assert_eq!(which(&db, &ids, p("value__a') OR 1=1 --", "b"))?, Vec::<usize>::new());
        Ok(())
    }
}

backend_test! {
    fn has_key_lookups(t: &TestDb) {
        let db = db_of(t);
        let ids = setup(&db)?;
        assert_eq!(which(&db, &ids, p("value__has_key", "a"))?, [3, 4]);
        // The typed handle's forms.
        let v = NullableJson::value();
        assert_eq!(which(&db, &ids, v.has_key("a"))?, [3, 4]);
        assert_eq!(which(&db, &ids, v.has_keys(["a", "c", "h"]))?, [4]);
        assert_eq!(which(&db, &ids, v.has_any_keys(["c", "l"]))?, [3, 4, 6]);
        assert_eq!(which(&db, &ids, v.key("baz").has_key("a"))?, [7]);
        assert_eq!(which(&db, &ids, v.key("k").key("l").eq(json!("m")))?, [4]);
        assert_eq!(which(&db, &ids, v.key("d").key("0").eq(json!("e")))?, [4]);
        assert_eq!(which(&db, &ids, Q::path("value__has_keys", json!(["a", "c", "h"]))?)?, [4]);
        assert_eq!(which(&db, &ids, Q::path("value__has_any_keys", json!(["c", "l"]))?)?, [3, 4, 6]);
        // Under a key (test_has_key_deep), and an index (test_has_key_list).
        assert_eq!(which(&db, &ids, p("value__baz__has_key", "a"))?, [7]);
        assert_eq!(which(&db, &ids, p("value__d__1__has_key", "f"))?, [4]);
        assert_eq!(which(&db, &ids, p("value__d__has_key", 1))?, [4]);
        // On a field that is not JSON: a FieldError naming the lookup.
        let err = NullableJson::objects().filter(p("id__has_key", "a")).fetch(&db).unwrap_err();
        assert!(matches!(&err, orm::Error::FieldError { message } if message.contains("has_key")), "{err:?}");
        Ok(())
    }
}

backend_test! {
    fn containment(t: &TestDb) {
        let db = db_of(t);
        let ids = setup(&db)?;
        let contains = Q::path("value__contains", json!({"baz": {"a": "b"}}))?;
        let contained = Q::path("value__contained_by", json!({"a": "b", "c": 14, "h": true}))?;
        if db.dialect() == Dialect::Sqlite {
            // Django: "contains lookup is not supported on this database backend."
            let err = NullableJson::objects().filter(contains).fetch(&db).unwrap_err();
            assert!(matches!(&err, orm::Error::NotSupportedError(m) if m.contains("contains lookup is not supported")), "{err:?}");
            let err = NullableJson::objects().filter(contained).fetch(&db).unwrap_err();
            assert!(matches!(err, orm::Error::NotSupportedError(_)), "{err:?}");
            return Ok(());
        }
        assert_eq!(which(&db, &ids, contains)?, [7]);
        assert_eq!(which(&db, &ids, Q::path("value__contains", json!({"k": true, "l": false}))?)?, [6]);
        assert_eq!(which(&db, &ids, contained)?, [2, 3]);
        // Under a key.
        assert_eq!(which(&db, &ids, Q::path("value__baz__contains", json!({"c": "d"}))?)?, [7]);
        Ok(())
    }
}

backend_test! {
    fn ordering_and_annotating_by_keys(t: &TestDb) {
        let db = db_of(t);
        let ids = setup(&db)?;
        // Ordering by a key's value (test_ordering_by_transform).
        let got = NullableJson::objects()
            .filter(p("value__p__isnull", false) | p("value__c__isnull", false))
            .order_by(["-value__c", "id"])
            .fetch(&db)?;
        assert_eq!(got.iter().map(|o| o.id.get().unwrap()).collect::<Vec<_>>(), [ids[3], ids[4]]);
        let got: Vec<i64> = NullableJson::objects()
            .filter(p("value__foo__isnull", false))
            .order_by([OrderBy::desc("value__foo")])
            .fetch(&db)?
            .into_iter()
            .map(|o| o.id.get().unwrap())
            .collect();
        assert_eq!(got, [ids[6], ids[7]]);
        // Annotating by a key gives the JSON value (test_key_transform_annotation_expression).
        let rows = NullableJson::objects()
            .filter(p("value__has_key", "foo"))
            .annotate("foo", F::col("value__foo"))
            .annotate("inner", F::col("value__baz__c"))
            .order_by(["id"])
            .values(["foo", "inner"])
            .fetch_values(&db)?;
        let got: Vec<(serde_json::Value, serde_json::Value)> =
            rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect::<orm::Result<_>>()?;
        assert_eq!(got, [(json!("bax"), json!(null)), (json!("bar"), json!("d"))]);
        // A key's value in a filter against another key (F on both sides).
        assert_eq!(which(&db, &ids, Q::path_expr("value__a", F::col("value__baz__a"))?)?, Vec::<usize>::new());
        assert_eq!(which(&db, &ids, Q::path_expr("value__baz__a", F::col("value__bax__foo"))?)?, Vec::<usize>::new());
        assert_eq!(which(&db, &ids, Q::path_expr("value__bax__foo", F::col("value__foo"))?)?, [7]);
        Ok(())
    }
}
