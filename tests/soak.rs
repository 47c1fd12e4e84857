//! Leak soak: open file descriptors and threads of this process return to their
//! starting counts after 10,000 dial/close cycles, 1,000 connections dropped
//! without close(), and 1,200 dials that fail. The peer is an external process
//! (the Python `websockets` server) so that only wsdial's own resources count.
mod common;
#[path = "common/peers.rs"]
mod peers;
use common::*;
use peers::*;

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Waits (with a deadline) until the counts are back to `base`; returns them.
fn settle(base: (usize, usize), phase: &str) -> (usize, usize) {
    let mut now = (fds(), threads());
    let deadline = std::time::Instant::now() + ms(15_000);
    while now.0 > base.0 || now.1 > base.1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{phase}: fds/threads {now:?} did not return to {base:?}"
        );
        std::thread::sleep(ms(20));
        now = (fds(), threads());
    }
    now
}

#[test]
fn nothing_leaks() {
    within(ms(600_000), || {
        let peer = Peer::python_ws(&[]);
        let url = format!("ws://127.0.0.1:{}/", peer.port);
        let http404 = http_answer(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        let closed = free_port();
        // Warm up (lazy statics, the 404 server's accept thread), then take the baseline.
        for _ in 0..10 {
            let c = wsdial::dial(&url).unwrap();
            assert!(c.read_timeout(ms(5000)).is_some());
            c.close();
        }
        let base = settle((usize::MAX, usize::MAX), "warm-up");
        println!("baseline: {} fds, {} threads", base.0, base.1);

        let t = std::time::Instant::now();
        for i in 0..10_000 {
            let c = wsdial::dial(&url).unwrap_or_else(|e| panic!("cycle {i}: {e}"));
            if i % 100 == 0 {
                // now and then, a full exchange before closing
                assert!(
                    c.read_timeout(ms(5000)).is_some_and(|e| !e.is_disconnect()),
                    "hello"
                );
                c.write("x");
            }
            c.close();
        }
        let after_close = settle(base, "10,000 dial/close");
        println!(
            "after 10,000 dial/close cycles ({:.1} s): {after_close:?}",
            t.elapsed().as_secs_f64()
        );

        for _ in 0..10 {
            // 100 at a time, all open at once, then dropped without close()
            let conns: Vec<_> = (0..100).map(|_| wsdial::dial(&url).unwrap()).collect();
            assert!(threads() >= base.1 + 100, "a worker per connection");
            drop(conns);
        }
        let after_drop = settle(base, "1,000 dropped");
        println!("after 1,000 connections dropped without close(): {after_drop:?}");

        for i in 0..1000 {
            let e = wsdial::dial(&format!("ws://127.0.0.1:{closed}/")).unwrap_err();
            assert_eq!(e.kind(), wsdial::ErrorKind::Tcp, "{i}");
        }
        for _ in 0..200 {
            let e = wsdial::dial(&http404.url("/|timeout=2000")).unwrap_err();
            assert_eq!(e.http_status(), Some(404));
        }
        let after_fail = settle(base, "1,200 failed dials");
        println!("after 1,200 failed dials: {after_fail:?}");
    });
}
