//! A first look at a server before a driver connects to it: does anything answer on
//! `host:port` within the connect timeout?
//!
//! The drivers bound only the TCP connect. A server that accepts the connection and never
//! answers would block their handshake without limit; run on a helper thread, that left a
//! thread and a socket behind per attempt. The probe opens its own socket with a read
//! timeout, sends the protocol's first bytes and waits for one byte of answer: silence is
//! [`ErrorKind::Timeout`] at the deadline, and the probe's socket is closed on return. Any
//! other failure (refused, unknown host) is left to the driver, whose message is more
//! precise.

use crate::error::{Error, ErrorKind, Result};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Waits up to `timeout` for the server at `host:port` to answer `hello` (empty: to speak
/// first, as MySQL does) with at least one byte. `what` names the server in the error.
pub(crate) fn probe(host: &str, port: u16, timeout: Duration, hello: &[u8], what: &str) -> Result<()> {
    let started = Instant::now();
    let Ok(mut addrs) = (host, port).to_socket_addrs() else { return Ok(()) };
    let Some(addr) = addrs.next() else { return Ok(()) };
    let silent = || {
        Error::new(
            ErrorKind::Timeout,
            format!("connecting to {what} at {host}:{port} timed out after {:.1} s: no answer", timeout.as_secs_f64()),
        )
    };
    let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(silent()),
        Err(_) => return Ok(()),
    };
    let left = timeout.saturating_sub(started.elapsed()).max(Duration::from_millis(1));
    if stream.set_read_timeout(Some(left)).is_err() || stream.set_write_timeout(Some(left)).is_err() {
        return Ok(());
    }
    if !hello.is_empty() && stream.write_all(hello).is_err() {
        return Ok(());
    }
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Err(silent()),
        Err(_) => Ok(()),
    }
}

/// PostgreSQL's `SSLRequest`: a server answers it with one byte (`N` or `S`) at once, before
/// any authentication.
pub(crate) const POSTGRES_SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
