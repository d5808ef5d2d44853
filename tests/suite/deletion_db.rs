//! Database-level `on_delete` (Django's `DB_CASCADE`, `DB_SET_NULL`, `DB_SET_DEFAULT`): the
//! foreign key carries the action, the collector does not visit those relations (no query
//! for them, no signals for the rows the database changes), and one DELETE does the work.

use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::db_of;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "dbdel")]
pub struct Holder {
    pub id: Auto<i64>,
    #[orm(max_length = 20)]
    pub name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "dbdel")]
pub struct Part {
    pub id: Auto<i64>,
    #[orm(on_delete = DbCascade, related_name = "parts")]
    pub holder: ForeignKey<Holder>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "dbdel")]
pub struct Sticker {
    pub id: Auto<i64>,
    #[orm(on_delete = DbSetNull, related_name = "stickers")]
    pub holder: Option<ForeignKey<Holder>>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(app = "dbdel")]
pub struct Seat {
    pub id: Auto<i64>,
    #[orm(on_delete = DbSetDefault, default = 1, related_name = "seats")]
    pub holder: ForeignKey<Holder>,
}

backend_test! {
    fn the_database_cascades_and_nulls_without_the_collector(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Holder>().model::<Part>().model::<Sticker>().create_all(&db)?;
        let keep = Holder { id: Auto::unset(), name: "keep".into() }.create(&db)?;
        let mut gone = Holder { id: Auto::unset(), name: "gone".into() }.create(&db)?;
        for h in [&keep, &gone, &gone] {
            Part { id: Auto::unset(), holder: ForeignKey::to(h)? }.create(&db)?;
            Sticker { id: Auto::unset(), holder: Some(ForeignKey::to(h)?) }.create(&db)?;
        }
        let signals = Arc::new(AtomicUsize::new(0));
        let s = signals.clone();
        db.signals().pre_delete::<Part>().connect(move |_| {
            s.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let capture = db.capture_queries();
        let deleted = gone.delete(&db)?;
        let statements: Vec<String> = capture.queries().into_iter().map(|q| q.sql).collect();
        drop(capture);
        assert!(
            statements.iter().all(|s| !s.contains("dbdel_part") && !s.contains("dbdel_sticker")),
            "the collector never visits relations the database handles: {statements:?}"
        );
        assert_eq!(signals.load(Ordering::SeqCst), 0, "no signal for rows the database removes");
        assert_eq!(deleted.total, 1, "the counts name what the ORM deleted: {deleted:?}");
        assert_eq!(Part::objects().count(&db)?, 1, "the database cascaded");
        assert_eq!(Part::objects().filter(Part::holder().eq(keep.id.get().unwrap())).count(&db)?, 1);
        let nulled = Sticker::objects().filter(Q::path("holder__isnull", true)?).count(&db)?;
        assert_eq!(nulled, 2, "the database set the references to NULL");
        assert_eq!(Sticker::objects().count(&db)?, 3);
        // A QuerySet delete does the same with one statement.
        let capture = db.capture_queries();
        Holder::objects().delete(&db)?;
        let deletes = capture.queries().iter().filter(|q| q.sql.starts_with("DELETE")).count();
        assert_eq!(deletes, 1, "{:?}", capture.queries());
        assert_eq!(Part::objects().count(&db)?, 0);
        Ok(())
    }
}

backend_test! {
    fn the_database_sets_the_default_where_it_can(t: &TestDb) {
        let db = db_of(t);
        Schema::new().model::<Holder>().create_all(&db)?;
        let made = Schema::new().model::<Seat>().create_all(&db);
        if db.dialect() == Dialect::Mysql {
            // InnoDB accepts ON DELETE SET DEFAULT and drops the action (a delete would then fail
            // on the constraint): refused before any SQL, naming what to use instead.
            let e = made.expect_err("refused on MySQL");
            assert!(e.to_string().contains("cannot set a foreign key to its default"), "{e}");
            assert!(!orm_backends::schema::table_names(&mut *t.get()?)?.contains(&"dbdel_seat".to_owned()));
            return Ok(());
        }
        made?;
        let first = Holder { id: Auto::unset(), name: "first".into() }.create(&db)?;
        assert_eq!(first.id.get(), Some(1), "the default the seats fall back to");
        let mut other = Holder { id: Auto::unset(), name: "other".into() }.create(&db)?;
        Seat { id: Auto::unset(), holder: ForeignKey::to(&other)? }.create(&db)?;
        other.delete(&db)?;
        let seat = Seat::objects().get(&db)?;
        assert_eq!(*seat.holder.key(), 1, "the database set the default");
        Ok(())
    }
}
