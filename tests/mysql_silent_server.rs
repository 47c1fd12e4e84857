//! A MySQL address whose server accepts TCP and never answers (the handshake
//! never starts): `dial` fails with a timeout by its deadline, and the
//! session's thread (`wsdial-mysql`) does not stay blocked on the silent
//! socket. A test binary of its own, so no other test's `wsdial-mysql`
//! thread is counted.
#![cfg(feature = "mysql")]

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{eventually, within};

/// The threads of this process named `wsdial-mysql`.
fn mysql_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "wsdial-mysql")
        .count()
}

#[test]
fn a_server_that_never_answers_leaves_no_thread_behind() {
    within(Duration::from_secs(30), || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts (one connection: the dial) and keeps the socket open, silent,
        // until the test ends.
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if let Ok((s, _)) = listener.accept() {
                let _ = held_tx.send(s);
            }
        });
        assert_eq!(mysql_threads(), 0);
        let start = Instant::now();
        let e =
            wsdial::dial(&format!("mysql://u:pw@tcp(127.0.0.1:{port})/d|timeout=500")).unwrap_err();
        let took = start.elapsed();
        assert!(e.is_timeout(), "{e}");
        assert!(took < Duration::from_secs(3), "dial took {took:?}");
        let _socket = held_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the dial connected to the silent listener");
        // The socket is still open: only the client's own timeout can end the
        // thread (timeout= plus a second, see src/db/mysql/client.rs).
        eventually(
            Duration::from_secs(5),
            "the wsdial-mysql thread ended",
            || mysql_threads() == 0,
        );
    });
}
