//! Real replicas, started by the project's scripts (which `.ci/run` runs): a PostgreSQL
//! streaming replica (`scripts/start-replica.sh`, `ORM_TEST_POSTGRES_REPLICA`) and a MariaDB
//! GTID replica (`scripts/start-mariadb-replica.sh`, `ORM_TEST_MYSQL_REPLICA`). Reads routed
//! to them see the primary's writes once replayed, writes sent to them fail as the server
//! refuses them, reads inside `atomic` and within read-your-writes stay on the primary while
//! replay is paused (`pg_wal_replay_pause()`; `STOP SLAVE SQL_THREAD`), and a replica that goes
//! away mid-run (a TCP relay in front of it is shut) is skipped.
//!
//! The tests of one backend share its replica, and one of them pauses its replay, so they run
//! one at a time (a lock per backend). Each works in its own schema (PostgreSQL, created by
//! `TestDb`) or database (MariaDB: an `ormrepl_…` database, the only ones besides `test` the
//! replica applies), created on the primary and replicated.

use orm::prelude::*;
use orm::{ModelState, PrimaryReplicaRouter, ReadYourWrites};
use orm_backends::testing::{TestDb, TestResult};
use orm_backends::{Backend, ConnectOptions, Pool};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A row to route.
#[derive(Model, Debug, Clone)]
#[orm(app = "replica", ordering = ["name"])]
pub struct Crate {
    pub id: Auto<i64>,
    #[orm(max_length = 40)]
    pub name: String,
    pub state: ModelState,
}

fn krate(name: &str) -> Crate {
    Crate { id: Auto::unset(), name: name.into(), state: ModelState::default() }
}

static ONE_AT_A_TIME: [Mutex<()>; 2] = [Mutex::new(()), Mutex::new(())];

/// The primary's isolated schema or database, and the replica's options pointing at the
/// same one; `None` (with the reason printed) when no replica is configured.
struct Setup {
    _lock: MutexGuard<'static, ()>,
    backend: Backend,
    primary: Pool,
    replica: ConnectOptions,
    /// PostgreSQL: the schema, dropped with it.
    _schema: Option<TestDb>,
    /// MariaDB: the database to drop at the end (on the primary; the drop replicates).
    drop_database: Option<(ConnectOptions, String)>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.drop_database {
            if let Ok(mut c) = orm_backends::connect_with(admin) {
                let _ = c.execute_batch(&format!("DROP DATABASE IF EXISTS `{name}`"));
            }
        }
    }
}

fn setup(backend: Backend, test: &str) -> orm::Result<Option<Setup>> {
    let (replica_var, primary_var) = match backend {
        Backend::Postgres => ("ORM_TEST_POSTGRES_REPLICA", "ORM_TEST_POSTGRES"),
        _ => ("ORM_TEST_MYSQL_REPLICA", "ORM_TEST_MYSQL"),
    };
    let var = |name: &str| std::env::var(name).ok().filter(|u| !u.trim().is_empty());
    let (Some(url), Some(primary_url)) = (var(replica_var), var(primary_var)) else {
        eprintln!(
            "skipped: {test} on {}: {replica_var} and {primary_var} must be set (scripts/start-replica.sh, \
             scripts/start-mariadb-replica.sh start the replicas)",
            backend.name()
        );
        return Ok(None);
    };
    let lock = ONE_AT_A_TIME[usize::from(backend == Backend::Mysql)].lock().unwrap_or_else(|p| p.into_inner());
    let mut replica = ConnectOptions::parse(&url)?;
    replica.pool_size = 4;
    let s = match backend {
        Backend::Postgres => {
            let t = TestDb::open(Backend::Postgres, &format!("replica::{test}"))?.expect("configured");
            replica.search_path = Some(t.name().to_owned());
            Setup { _lock: lock, backend, primary: (*t).clone(), replica, _schema: Some(t), drop_database: None }
        }
        _ => {
            let name = format!("ormrepl_{}_{}", std::process::id(), &test[..test.len().min(30)]);
            let admin = ConnectOptions::parse(&primary_url)?;
            let mut c = orm_backends::connect_with(&admin)?;
            c.execute_batch(&format!(
                "DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            ))?;
            let mut options = admin.clone();
            options.database = Some(name.clone());
            options.pool_size = 4;
            replica.database = Some(name.clone());
            let primary = Pool::new(options)?;
            Setup { _lock: lock, backend, primary, replica, _schema: None, drop_database: Some((admin, name)) }
        }
    };
    Schema::new().model::<Crate>().create_all(&Database::from_pool(s.primary.clone()))?;
    // The schema reaches the replica through replication.
    let r = Database::from_pool(Pool::lazy(s.replica.clone())?);
    wait_for(Duration::from_secs(10), || Crate::objects().count(&r).is_ok())?;
    Ok(Some(s))
}

impl Setup {
    /// Stops applying the primary's changes on the replica.
    fn pause(&self, replica: &Database) -> orm::Result<()> {
        let sql = match self.backend {
            Backend::Postgres => "SELECT pg_wal_replay_pause()",
            _ => "STOP SLAVE SQL_THREAD",
        };
        Ok(replica.with_connection(|c| c.execute_batch(sql))?)
    }

    /// Applies them again.
    fn resume(&self, replica: &Database) -> orm::Result<()> {
        let sql = match self.backend {
            Backend::Postgres => "SELECT pg_wal_replay_resume()",
            _ => "START SLAVE SQL_THREAD",
        };
        Ok(replica.with_connection(|c| c.execute_batch(sql))?)
    }

    /// Is the server a standby that refuses writes?
    fn is_standby(&self, replica: &Database) -> orm::Result<bool> {
        let sql = match self.backend {
            Backend::Postgres => "SELECT pg_is_in_recovery()",
            _ => "SELECT @@read_only = 1",
        };
        Ok(replica.with_connection(|c| c.query(sql, &[]))?[0].get(0)?)
    }
}

fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> orm::Result<()> {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > limit {
            return Err(orm::Error::ImproperlyConfigured(format!("the replica did not catch up within {limit:?}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn set(s: &Setup, replica: Pool, router: PrimaryReplicaRouter) -> orm::Result<Databases> {
    Databases::builder().pool("default", s.primary.clone())?.pool("replica", replica)?.router(router).build()
}

/// Resumes replay when dropped, so a failing test leaves the replica replaying.
struct Resume<'a>(&'a Setup, &'a Database);
impl Drop for Resume<'_> {
    fn drop(&mut self) {
        let _ = self.0.resume(self.1);
    }
}

/// The two test functions of `body`, one per backend with a replica.
macro_rules! replica_test {
    (fn $name:ident($s:ident) $body:block) => {
        mod $name {
            use super::*;
            fn body($s: &Setup) -> TestResult $body
            #[test]
            fn postgres() -> TestResult {
                match setup(Backend::Postgres, stringify!($name))? {
                    Some(s) => body(&s),
                    None => Ok(()),
                }
            }
            #[test]
            fn mysql() -> TestResult {
                match setup(Backend::Mysql, stringify!($name))? {
                    Some(s) => body(&s),
                    None => Ok(()),
                }
            }
        }
    };
}

replica_test! {
fn the_replica_serves_reads_and_refuses_writes(s) {
    let dbs = set(s, Pool::new(s.replica.clone())?, PrimaryReplicaRouter::new("default", ["replica"])?)?;
    let replica = dbs.get("replica")?;
    assert!(s.is_standby(replica)?, "the replica is a standby");
    // A write goes to the primary; the routed read sees it once the replica has replayed it.
    let mut a = krate("serde");
    a.save(&dbs)?;
    assert_eq!(a.state.db, Some("default"));
    let started = Instant::now();
    wait_for(Duration::from_secs(5), || Crate::objects().count(&dbs).is_ok_and(|n| n == 1))?;
    eprintln!("replica caught up in {:?}", started.elapsed());
    // Reads went to the replica: each evaluation method, seen by its capture.
    let cap = replica.capture_queries();
    let primary_cap = dbs.get("default")?.capture_queries();
    let got = Crate::objects().get(&dbs)?;
    assert_eq!(got.state.db, Some("replica"));
    assert_eq!(Crate::objects().fetch(&dbs)?.len(), 1);
    assert!(Crate::objects().exists(&dbs)?);
    assert_eq!(Crate::objects().iter(&dbs)?.count(), 1);
    assert_eq!(Crate::objects().values(["name"]).fetch_flat::<String>(&dbs)?, ["serde"]);
    assert_eq!(cap.len(), 5, "{:?}", cap.queries());
    assert_eq!(primary_cap.len(), 0);
    // Writes sent to the replica are refused by the server, as a clear error; nothing lands.
    // (PostgreSQL: "cannot execute INSERT in a read-only transaction"; MariaDB: "running
    // with the --read-only option".)
    let err = krate("tokio").save_using(&dbs, "replica").unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    let err = Crate::objects().using("replica").update([Crate::name().set("x")], &dbs).unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    let mut loaded = Crate::objects().get(&dbs)?;
    loaded.name = "serde 2".into();
    loaded.save(&dbs)?; // loaded from the replica, saved to the primary (the router's choice)
    assert_eq!(Crate::objects().using("default").values(["name"]).fetch_flat::<String>(&dbs)?, ["serde 2"]);
    assert_eq!(Crate::objects().using("default").values(["name"]).count(&dbs)?, 1);
    Ok(())
}
}

replica_test! {
fn paused_replay_shows_lag_and_read_your_writes_hides_it(s) {
    let router = PrimaryReplicaRouter::new("default", ["replica"])?
        .read_your_writes(ReadYourWrites::UntilReplayed { at_most: Duration::from_secs(30) });
    let dbs = set(s, Pool::new(s.replica.clone())?, router)?;
    let replica = dbs.get("replica")?;
    s.pause(replica)?;
    let _resume = Resume(s, replica);
    // A write through one handle while the replica is frozen.
    let mine = dbs.session();
    krate("rayon").save(&mine)?;
    let position = dbs.get("default")?.replication_position()?.expect("a primary has a position (WAL LSN, GTID)");
    assert!(!replica.has_replayed(&position)?, "replay is paused");
    // The writing handle reads its write (from the primary); another handle reads the
    // replica, which lags.
    assert_eq!(Crate::objects().count(&mine)?, 1);
    assert_eq!(Crate::objects().count(&dbs.session())?, 0, "lag shows to a handle that did not write");
    // Reads inside atomic go to the primary too.
    let inside = dbs.atomic(|_tx| Crate::objects().count(&dbs))?;
    assert_eq!(inside, 1);
    // Replay resumes: the replica catches up, and the writer's reads go back to it.
    s.resume(replica)?;
    wait_for(Duration::from_secs(5), || replica.has_replayed(&position).unwrap_or(false))?;
    let cap = replica.capture_queries();
    assert_eq!(Crate::objects().count(&mine)?, 1);
    assert!(cap.queries().iter().any(|q| q.sql.contains("COUNT")), "read from the replica: {:?}", cap.queries());
    // The time window alone, for comparison: pinned however far the replica is.
    let windowed = set(
        s,
        Pool::new(s.replica.clone())?,
        PrimaryReplicaRouter::new("default", ["replica"])?
            .read_your_writes(ReadYourWrites::For(Duration::from_secs(30))),
    )?;
    s.pause(replica)?;
    krate("tokio").save(&windowed)?;
    assert_eq!(Crate::objects().count(&windowed)?, 2);
    assert_eq!(Crate::objects().count(&windowed.session())?, 1);
    Ok(())
}
}

/// A TCP relay to the replica that can be shut, as if the replica went down.
struct Relay {
    port: u16,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(to: (String, u16)) -> std::io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (stop2, streams2) = (stop.clone(), streams.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect((to.0.as_str(), to.1)) else { continue };
                        let mut all = streams2.lock().unwrap();
                        all.push(client.try_clone().expect("clone"));
                        all.push(server.try_clone().expect("clone"));
                        for (mut from, mut to) in
                            [(client.try_clone().expect("clone"), server.try_clone().expect("clone")), (server, client)]
                        {
                            std::thread::spawn(move || {
                                let mut buf = [0u8; 16384];
                                while let Ok(n) = from.read(&mut buf) {
                                    if n == 0 || to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                                let _ = to.shutdown(Shutdown::Both);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Relay { port, stop, streams })
    }

    /// Refuses new connections and cuts the open ones.
    fn shut(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        // The accept loop sees the flag within a few milliseconds and drops the listener.
        std::thread::sleep(Duration::from_millis(50));
    }
}

replica_test! {
fn a_replica_that_goes_down_mid_run_is_skipped(s) {
    let relay = Relay::start((s.replica.host.clone(), s.replica.port))?;
    let mut via_relay = s.replica.clone();
    via_relay.port = relay.port;
    let router = PrimaryReplicaRouter::new("default", ["replica"])?.check_every(Duration::from_millis(200));
    let dbs = set(s, Pool::new(via_relay)?, router)?;
    krate("hyper").save(&dbs)?;
    wait_for(Duration::from_secs(5), || Crate::objects().count(&dbs).is_ok_and(|n| n == 1))?;
    let got = Crate::objects().get(&dbs)?;
    assert_eq!(got.state.db, Some("replica"), "read through the relay");
    // The replica goes away between two reads: the next read fails on it, the router marks
    // it down, and the read is answered by the primary, with no error to the caller.
    relay.shut();
    let primary_cap = dbs.get("default")?.capture_queries();
    let started = Instant::now();
    for _ in 0..5 {
        let got = Crate::objects().get(&dbs)?;
        assert_eq!((got.name.as_str(), got.state.db), ("hyper", Some("default")));
    }
    assert!(started.elapsed() < Duration::from_secs(5), "no hang: {:?}", started.elapsed());
    assert!(primary_cap.len() >= 5, "{:?}", primary_cap.queries());
    Ok(())
}
}
