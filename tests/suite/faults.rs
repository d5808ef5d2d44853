//! Faults (the reliability suite's item 5): the server kills the connection before each
//! statement of a multi-statement `atomic` block (a multi-table child's two rows, a post, its
//! many-to-many link, with signal receivers connected) and before its COMMIT. Each time the
//! block fails within seconds, none of its rows is visible, and the pool hands out a working
//! connection next.

use orm::prelude::*;
use orm_backends::testing::TestDb;
use orm_backends::{backend_test, Pool, StatementObserver, Value};
use orm_tests::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counts the statements it sees and, at statement `at`, has the server kill the connection
/// through another one (PostgreSQL `pg_terminate_backend`, MySQL `KILL`).
struct Killer {
    at: usize,
    seen: AtomicUsize,
    kill: String,
    via: Mutex<orm_backends::PooledConnection>,
    statements: Mutex<Vec<String>>,
}

impl StatementObserver for Killer {
    fn statement(&self, sql: &str, _params: &[Value]) {
        let n = self.seen.fetch_add(1, Ordering::SeqCst);
        self.statements.lock().unwrap().push(sql.to_owned());
        if n == self.at {
            let mut via = self.via.lock().unwrap();
            via.query(&self.kill, &[]).expect("the kill runs");
        }
    }
}

/// The block under attack: a multi-table child (two rows), a post and its link, with a
/// post_save receiver connected. Returns after COMMIT.
fn block(db: &Database, killer: &Arc<dyn StatementObserver>, tag: &Tag, author: &Author) -> orm::Result<()> {
    db.atomic(|tx| {
        tx.with_connection(|c| {
            c.set_observer(Some(killer));
            Ok::<_, orm::Error>(())
        })?;
        Restaurant {
            place: Place { id: Auto::unset(), name: "cafe".into(), open: true },
            serves_pizza: true,
            seats: 4,
        }
        .create(tx)?;
        let post = Post {
            id: Auto::unset(),
            title: "p".into(),
            author: ForeignKey::to(author)?,
            editor: None,
            views: 0,
            tags: ManyToMany::new(),
            scratch: None,
        }
        .create(tx)?;
        post.tags().add([tag], tx)?;
        Ok(())
    })
}

backend_test! {
    fn a_connection_killed_before_any_statement_of_a_block_loses_the_whole_block(t: &TestDb) {
        let db = db_of(t);
        let d = db.dialect();
        if d == Dialect::Sqlite {
            eprintln!("skipped: an in-process SQLite connection has no server to kill it");
            return Ok(());
        }
        Schema::new().model::<Place>().model::<Restaurant>().model::<Pizzeria>().model::<Author>().model::<Tag>().model::<Post>().create_all(&db)?;
        let author = Author { id: Auto::unset(), name: "ann".into(), email: None, status: "a".into() }.create(&db)?;
        let tag = Tag { id: Auto::unset(), name: "t".into() }.create(&db)?;
        let saves = Arc::new(AtomicUsize::new(0));
        let s = saves.clone();
        db.signals().post_save::<Post>().connect(move |_| {
            s.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let side = Pool::new(t.options().clone())?;
        // A dry run counts the block's statements (the last is COMMIT), then is undone.
        let counter: Arc<Killer> = Arc::new(Killer { at: usize::MAX, seen: AtomicUsize::new(0), kill: String::new(), via: Mutex::new(side.get()?), statements: Mutex::new(Vec::new()) });
        let as_observer: Arc<dyn StatementObserver> = counter.clone();
        block(&db, &as_observer, &tag, &author)?;
        let statements = counter.statements.lock().unwrap().clone();
        assert!(statements.last().is_some_and(|s| s.starts_with("COMMIT")), "{statements:?}");
        assert!(statements.len() >= 5, "{statements:?}");
        eprintln!("{} statements in the block: {statements:?}", statements.len());
        Post::objects().delete(&db)?;
        Restaurant::objects().delete(&db)?;
        Place::objects().delete(&db)?;
        saves.store(0, Ordering::SeqCst);
        for (at, statement) in statements.iter().enumerate() {
            let victim: i64 = {
                let sql = if d == Dialect::Postgres { "SELECT pg_backend_pid()" } else { "SELECT CONNECTION_ID()" };
                // The pool's next checkout is the connection the block will use (the most
                // recently returned one is reused first).
                let mut c = t.get()?;
                let row = c.query_opt(sql, &[])?.expect("a row");
                (&row as &dyn orm_backends::Row).get(0)?
            };
            let kill = if d == Dialect::Postgres { format!("SELECT pg_terminate_backend({victim})") } else { format!("KILL {victim}") };
            let killer: Arc<dyn StatementObserver> = Arc::new(Killer { at, seen: AtomicUsize::new(0), kill, via: Mutex::new(side.get()?), statements: Mutex::new(Vec::new()) });
            let started = Instant::now();
            let r = block(&db, &killer, &tag, &author);
            let took = started.elapsed();
            assert!(r.is_err(), "killed before statement {at} ({statement}): the block fails");
            assert!(took < Duration::from_secs(5), "killed before statement {at}: failed after {took:?}");
            assert_eq!(Place::objects().count(&db)?, 0, "killed before statement {at}: no place row");
            assert_eq!(Restaurant::objects().count(&db)?, 0, "killed before statement {at}: no restaurant row");
            assert_eq!(Post::objects().count(&db)?, 0, "killed before statement {at}: no post row");
            // The pool hands out working connections (the count queries above ran).
        }
        Ok(())
    }
}
