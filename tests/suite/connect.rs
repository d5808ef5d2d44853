//! Connecting: bad URLs and unreachable servers give clear errors within seconds, never a
//! panic or a hang.

use orm_backends::{connect, ErrorKind};
use std::time::{Duration, Instant};

fn fails_fast(url: &str, kinds: &[ErrorKind], needle: &str) {
    let started = Instant::now();
    let e = connect(url).expect_err(url);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "{url}: took {took:?}");
    assert!(kinds.contains(&e.kind()), "{url}: kind {:?}: {e}", e.kind());
    assert!(e.to_string().contains(needle), "{url}: `{e}` should mention `{needle}`");
}

#[test]
fn malformed_urls_say_what_is_wrong() {
    fails_fast("postgres://127.0.0.1:port/db", &[ErrorKind::InvalidUrl], "invalid port `port`");
    fails_fast("mysql://:3306/test", &[ErrorKind::InvalidUrl], "no host");
    fails_fast("no-scheme-here", &[ErrorKind::InvalidUrl], "no scheme");
    fails_fast("sqlite:", &[ErrorKind::InvalidUrl], "needs a path");
    fails_fast("postgres://h/db?frob=1", &[ErrorKind::InvalidUrl], "unknown URL parameter `frob`");
}

#[test]
fn unknown_schemes_are_named() {
    fails_fast("oracle://scott@127.0.0.1/orcl", &[ErrorKind::InvalidUrl], "unknown scheme `oracle`");
}

#[test]
fn a_port_where_nothing_listens_fails_within_seconds() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    if cfg!(feature = "postgres") {
        fails_fast("postgres://postgres@127.0.0.1:1/test", &[ErrorKind::Connection, ErrorKind::Timeout], "127.0.0.1:1");
    } else {
        eprintln!("skipped the PostgreSQL URL: built without the `postgres` feature");
    }
    if cfg!(feature = "mysql") {
        fails_fast("mysql://root@127.0.0.1:1/test", &[ErrorKind::Connection, ErrorKind::Timeout], "127.0.0.1:1");
    } else {
        eprintln!("skipped the MySQL URL: built without the `mysql` feature");
    }
}

#[test]
fn a_sqlite_file_in_a_missing_directory_is_a_connection_error() {
    fails_fast(
        "sqlite:///nonexistent-dir-for-orm-tests/x.db",
        &[ErrorKind::Connection],
        "nonexistent-dir-for-orm-tests",
    );
}

#[test]
fn an_unknown_database_on_a_configured_server_is_a_connection_error() {
    for var in ["ORM_TEST_POSTGRES", "ORM_TEST_MYSQL"] {
        let Ok(url) = std::env::var(var) else {
            eprintln!("skipped: {var} is not set");
            continue;
        };
        let mut o = orm_backends::ConnectOptions::parse(&url).expect("the configured URL parses");
        o.database = Some("orm_no_such_database_xyz".into());
        let started = Instant::now();
        let e = orm_backends::Pool::new(o).expect_err("the database does not exist");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(e.kind(), ErrorKind::Connection, "{var}: {e}");
        assert!(e.to_string().contains("orm_no_such_database_xyz"), "{var}: {e}");
    }
}

/// The threads of this process whose name starts with `prefix` (Linux: `/proc/self/task`).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(|t| t.ok())
                .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix)))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_server_that_accepts_and_never_answers_times_out_and_leaves_nothing_behind() {
    use std::io::Read;
    use std::net::TcpListener;
    // A "server" that accepts every connection and says nothing.
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2).flatten() {
            let _ = tx.send(stream);
        }
    });
    for (url, prefix) in [
        (format!("postgres://postgres@127.0.0.1:{port}/test?connect_timeout=1"), "orm-postgres"),
        (format!("mysql://root@127.0.0.1:{port}/test?connect_timeout=1"), "orm-mysql"),
    ] {
        let started = Instant::now();
        let e = connect(&url).expect_err("nobody answers");
        let took = started.elapsed();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{url}: {e}");
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{url}: {e}");
        assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(1500), "{url}: took {took:?}");
        // The accepted socket was closed by the client: the server reads end-of-file.
        let mut accepted = rx.recv_timeout(Duration::from_secs(1)).expect("the probe connected");
        accepted.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 64];
        let mut eof = false;
        for _ in 0..4 {
            match accepted.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(_) => continue, // the probe's hello
                Err(_) => break,
            }
        }
        assert!(eof, "{url}: the client's socket was left open");
        // Other tests' connects run their own short-lived threads of this name, so wait (up to
        // 3 s) for a moment with none: a thread left waiting on the silent server never goes.
        let deadline = Instant::now() + Duration::from_secs(3);
        while threads_named(prefix) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(threads_named(prefix), 0, "{url}: no connect thread left waiting");
    }
}

#[test]
fn wrong_credentials_are_a_connection_error_within_seconds() {
    // Issue 18 item 5: a wrong password (MariaDB) and an unknown role (PostgreSQL, whose
    // local clusters trust every password of a known role) on the configured servers.
    for var in ["ORM_TEST_POSTGRES", "ORM_TEST_MYSQL"] {
        let Ok(url) = std::env::var(var) else {
            eprintln!("skipped: {var} is not set");
            continue;
        };
        let mut o = orm_backends::ConnectOptions::parse(&url).expect("the configured URL parses");
        if var == "ORM_TEST_POSTGRES" {
            o.user = "orm_no_such_role".into();
        } else {
            o.password = Some("definitely-not-the-password".into());
        }
        let started = Instant::now();
        let e = orm_backends::Pool::new(o).expect_err("the credentials are wrong");
        assert!(started.elapsed() < Duration::from_secs(5), "{var}: took {:?}", started.elapsed());
        assert_eq!(e.kind(), ErrorKind::Connection, "{var}: {e}");
    }
}
