//! Abstract bases and inheritance checks as Django's (tests/model_inheritance): related
//! names with `%(class)s` / `%(app_label)s` expanded per concrete child, and a child that
//! redeclares a field of a concrete ancestor refused.

use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::db_of;

/// Django's `Attachment` (abstract, `related_name="attached_%(class)s_set"`) with `Comment`
/// and `Link` children, pointing at `Post`.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "absb")]
pub struct Paper {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub title: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(abstract)]
pub struct Attachment {
    #[orm(on_delete = Cascade, related_name = "attached_%(class)s_set")]
    pub paper: ForeignKey<Paper>,
    #[orm(on_delete = Cascade, related_name = "%(app_label)s_%(class)s_related")]
    pub cited: Option<ForeignKey<Paper>>,
    #[orm(max_length = 40)]
    pub content: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "absb")]
pub struct Remark {
    pub id: Auto<i64>,
    #[orm(base)]
    pub attachment: Attachment,
    pub is_spam: bool,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "absb")]
pub struct Link {
    pub id: Auto<i64>,
    #[orm(base)]
    pub attachment: Attachment,
    #[orm(max_length = 40)]
    pub url: String,
}

/// A concrete parent and a child redeclaring its `name`.
#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "absb")]
pub struct Building {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "absb")]
pub struct Tower {
    #[orm(parent)]
    pub building: Building,
    #[orm(max_length = 20)]
    pub name: String,
}

backend_test! {
    fn related_name_placeholders_are_expanded_per_concrete_child(t: &TestDb) {
        // Django's test_model_with_distinct_accessors / _related_query_name.
        let db = db_of(t);
        Schema::new().model::<Paper>().model::<Remark>().model::<Link>().create_all(&db)?;
        let p = Paper { id: Auto::unset(), title: "p".into() }.create(&db)?;
        let q = Paper { id: Auto::unset(), title: "q".into() }.create(&db)?;
        let att = |content: &str, cited: Option<&Paper>| -> orm::Result<Attachment> {
            Ok(Attachment { paper: ForeignKey::to(&p)?, cited: cited.map(ForeignKey::to).transpose()?, content: content.into() })
        };
        Remark { id: Auto::unset(), attachment: att("spam", Some(&q))?, is_spam: true }.create(&db)?;
        Link { id: Auto::unset(), attachment: att("docs", None)?, url: "u".into() }.create(&db)?;
        let titles = |qs: orm::QuerySet<Paper>| -> orm::Result<Vec<String>> {
            Ok(qs.fetch(&db)?.into_iter().map(|p| p.title).collect())
        };
        assert_eq!(titles(Paper::objects().filter(Q::path("attached_remark_set__is_spam", true)?))?, ["p"]);
        assert_eq!(titles(Paper::objects().filter(Q::path("attached_link_set__url", "u")?))?, ["p"]);
        assert_eq!(titles(Paper::objects().filter(Q::path("absb_remark_related__content", "spam")?))?, ["q"]);
        assert!(Paper::objects().filter(Q::path("absb_link_related__content", "spam")?).fetch(&db)?.is_empty());
        // The placeholder itself is not a relation.
        assert!(matches!(
            Paper::objects().filter(Q::path("attached_%(class)s_set__is_spam", true)?).fetch(&db),
            Err(orm::Error::FieldError { .. })
        ));
        // The collector follows both children's keys.
        let deleted = Paper::objects().filter(Paper::title().eq("p")).delete(&db)?;
        assert_eq!((deleted.of("absb.Remark"), deleted.of("absb.Link"), deleted.of("absb.Paper")), (1, 1, 1));
        Ok(())
    }
}

backend_test! {
    fn a_child_redeclaring_a_field_of_its_concrete_parent_is_refused(t: &TestDb) {
        // Django's FieldError for a local field clashing with a base class's.
        let db = db_of(t);
        match Schema::new().model::<Building>().model::<Tower>().create_all(&db) {
            Err(orm::Error::FieldError { message }) => assert_eq!(
                message,
                "Local field 'name' in class 'Tower' clashes with field of the same name from base class 'Building'."
            ),
            other => panic!("expected FieldError, got {other:?}"),
        }
        Ok(())
    }
}
