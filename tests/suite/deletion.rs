//! The deletion collector: every on_delete mode, counts per model, Protect blocking a cascade
//! from further away, Restrict's rule, join rows, one transaction.

use orm::prelude::*;
use orm_backends::backend_test;
use orm_backends::testing::TestDb;
use orm_tests::*;

fn db_of(t: &TestDb) -> Database {
    Database::from_pool((**t).clone())
}

struct World {
    org: Org,
    team_a: Team,
    team_b: Team,
    ann: Member,
    bob: Member,
}

fn world(db: &Database) -> orm::Result<World> {
    Schema::new()
        .model::<Org>()
        .model::<Team>()
        .model::<Member>()
        .model::<Badge>()
        .model::<Task>()
        .model::<Note>()
        .model::<Log>()
        .model::<Writer>()
        .model::<Label>()
        .model::<Article>()
        .model::<Remark>()
        .model::<Country>()
        .create_all(db)?;
    // Member 1 is the SetDefault target.
    Member { id: Auto::unset(), team: None, mentor: None, name: "nobody".into() }.create(db)?;
    let org = Org { id: Auto::unset(), name: "acme".into() }.create(db)?;
    let team_a = Team { id: Auto::unset(), org: ForeignKey::to(&org)?, name: "a".into() }.create(db)?;
    let team_b = Team { id: Auto::unset(), org: ForeignKey::to(&org)?, name: "b".into() }.create(db)?;
    let ann = Member { id: Auto::unset(), team: Some(ForeignKey::to(&team_a)?), mentor: None, name: "ann".into() }
        .create(db)?;
    let bob = Member {
        id: Auto::unset(),
        team: Some(ForeignKey::to(&team_b)?),
        mentor: Some(ForeignKey::to(&ann)?),
        name: "bob".into(),
    }
    .create(db)?;
    Ok(World { org, team_a, team_b, ann, bob })
}

backend_test! {
    fn cascade_deletes_dependents_and_counts_per_model(t: &TestDb) {
        let db = db_of(t);
        let mut w = world(&db)?;
        Task { id: Auto::unset(), team: ForeignKey::to(&w.team_a)?, member: ForeignKey::to(&w.ann)? }.create(&db)?;
        let counts = Org::objects().filter(Org::id().eq(w.org.id.get().unwrap())).delete_counted(&db)?;
        let got: Vec<(String, u64)> = counts.into_iter().collect();
        assert_eq!(got, [("del.Member".into(), 2), ("del.Org".into(), 1), ("del.Task".into(), 1), ("del.Team".into(), 2)]);
        assert_eq!(Member::objects().count(&db)?, 1, "only the unrelated member is left");
        assert!(w.org.delete(&db).is_ok(), "deleting a row that is already gone is not an error");
        Ok(())
    }
}

backend_test! {
    fn protect_blocks_even_a_cascade_from_further_away(t: &TestDb) {
        let db = db_of(t);
        let mut w = world(&db)?;
        let badge = Badge { id: Auto::unset(), member: ForeignKey::to(&w.bob)? }.create(&db)?;
        let e = w.org.delete(&db).unwrap_err();
        match &e {
            orm::Error::ProtectedError { model, protected } => {
                assert_eq!(model, "del.Member");
                assert_eq!(protected, &[format!("del.Badge({})", badge.id)]);
            }
            other => panic!("expected ProtectedError, got {other}"),
        }
        assert_eq!(Org::objects().count(&db)?, 1, "nothing was deleted");
        assert_eq!(Member::objects().count(&db)?, 3);
        assert_eq!(Team::objects().count(&db)?, 2);
        Ok(())
    }
}

backend_test! {
    fn restrict_allows_only_a_cascade_that_takes_the_restricting_rows(t: &TestDb) {
        let db = db_of(t);
        let mut w = world(&db)?;
        // A task of team a done by Bob, who is in team b.
        Task { id: Auto::unset(), team: ForeignKey::to(&w.team_a)?, member: ForeignKey::to(&w.bob)? }.create(&db)?;
        // Deleting team a alone: the task (which points at it with Restrict) blocks it, since
        // nothing in this delete cascades to the task.
        let e = w.team_a.delete(&db).unwrap_err();
        assert!(matches!(&e, orm::Error::RestrictedError { model, .. } if model == "del.Team"), "{e}");
        assert_eq!(Team::objects().count(&db)?, 2);
        // Deleting the org cascades to the team AND (through Bob) to the task: allowed.
        w.org.delete(&db)?;
        assert_eq!(Task::objects().count(&db)?, 0);
        assert_eq!(Team::objects().count(&db)?, 0);
        Ok(())
    }
}

backend_test! {
    fn set_null_set_default_and_do_nothing(t: &TestDb) {
        let db = db_of(t);
        let mut w = world(&db)?;
        let note = Note { id: Auto::unset(), member: ForeignKey::to(&w.bob)? }.create(&db)?;
        // SetNull: Bob's mentor is deleted, Bob stays with no mentor.
        w.ann.delete(&db)?;
        let bob = Member::objects().get_pk(w.bob.id.get().unwrap(), &db)?;
        assert_eq!(bob.mentor, None);
        // SetDefault: Bob's note moves to member 1.
        w.bob.delete(&db)?;
        assert_eq!(*Note::objects().get_pk(note.id.get().unwrap(), &db)?.member.key(), 1);
        // DoNothing: the database's constraint refuses, and nothing is deleted.
        let carl = Member { id: Auto::unset(), team: Some(ForeignKey::to(&w.team_b)?), mentor: None, name: "carl".into() }.create(&db)?;
        Log { id: Auto::unset(), member: ForeignKey::to(&carl)? }.create(&db)?;
        let e = Team::objects().filter(Team::id().eq(w.team_b.id.get().unwrap())).delete(&db).unwrap_err();
        assert!(matches!(e, orm::Error::IntegrityError(_)), "{e}");
        assert_eq!(Team::objects().count(&db)?, 2, "the failed delete left everything in place");
        assert_eq!(Member::objects().filter(Member::name().eq("carl")).count(&db)?, 1);
        Ok(())
    }
}

backend_test! {
    fn join_rows_and_reverse_keys_go_with_their_objects(t: &TestDb) {
        let db = db_of(t);
        world(&db)?;
        let wr = Writer { id: Auto::unset(), name: "w".into(), country: None, articles: Default::default() }.create(&db)?;
        let mut art = Article { id: Auto::unset(), title: "t".into(), writer: ForeignKey::to(&wr)?, rating: 0, labels: Default::default(), remarks: Default::default() }.create(&db)?;
        let l = Label { id: Auto::unset(), name: "l".into(), articles: Default::default() }.create(&db)?;
        art.labels().add([&l], &db)?;
        Remark { id: Auto::unset(), article: ForeignKey::to(&art)?, text: "r".into() }.create(&db)?;
        assert_eq!(art.delete(&db)?, 1);
        assert_eq!(Remark::objects().count(&db)?, 0, "cascaded");
        assert_eq!(l.articles().all().count(&db)?, 0);
        assert_eq!(Label::objects().count(&db)?, 1, "the label itself stays");
        Ok(())
    }
}
