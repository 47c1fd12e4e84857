#![cfg(feature = "nats")]
//! `nats://` against a real nats-server (Debian's), with nats-py as the
//! third-party client: round trips both ways, wildcards, queue groups, wrong
//! credentials, server down, server killed and restarted, a flood while the
//! program does not read, TLS, bad addresses, and a program's own tokio runtime.
mod common;
#[path = "common/nats.rs"]
mod nats;
use common::*;
use nats::*;
use std::time::{Duration, Instant};
use wsdial::{Cause, ErrorKind, Event};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[track_caller]
/// The next message's text and topic.
fn next(c: &wsdial::Conn) -> (String, String) {
    match c.read_timeout(secs(10)) {
        Some(Event::Message(m)) => (
            m.topic().unwrap_or("").to_owned(),
            m.as_text().unwrap().to_owned(),
        ),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn reads_what_nats_py_publishes_and_nats_py_reads_what_it_writes() {
    within(secs(60), || {
        let server = Nats::start();
        let c = wsdial::dial(&server.url("orders.eu")).unwrap();
        let publisher = PyNats::run(&server, &["pub", "orders.eu", "100", "py-"]);
        for i in 0..100 {
            assert_eq!(next(&c), ("orders.eu".into(), format!("py-{i}")));
        }
        assert!(publisher.wait());

        let mut sub = PyNats::run(&server, &["sub", "orders.eu", "3"]);
        assert_eq!(sub.line(), "ready");
        // Our own messages come back to our subscription too (NATS echoes).
        for body in ["one", "ünïcødé ✓", "three"] {
            assert_eq!(c.write(body), body.len());
        }
        for body in ["one", "ünïcødé ✓", "three"] {
            assert_eq!(sub.line(), body);
            assert_eq!(next(&c).1, body);
        }
        assert!(sub.wait());
        let bin: Vec<u8> = (0..=255u8).rev().collect();
        assert_eq!(c.write_binary(&bin), 256);
        let m = c.read_timeout(secs(10)).unwrap().into_message().unwrap();
        assert_eq!((m.is_binary(), m.as_bytes()), (true, &bin[..]));
        assert_eq!(c.stats().sent, 4);
        c.close();
    })
}

#[test]
fn a_wildcard_subject_reads_every_match_with_its_subject_and_has_nothing_to_write_to() {
    within(secs(60), || {
        let server = Nats::start();
        let c = wsdial::dial(&server.url("orders.*")).unwrap();
        let all = wsdial::dial(&server.url("orders.>")).unwrap();
        assert!(PyNats::run(&server, &["pub", "orders.eu", "1", "eu-"]).wait());
        assert!(PyNats::run(&server, &["pub", "orders.us.east", "1", "us-"]).wait());
        assert_eq!(next(&c), ("orders.eu".into(), "eu-0".into()));
        assert_eq!(next(&all), ("orders.eu".into(), "eu-0".into()));
        assert_eq!(next(&all), ("orders.us.east".into(), "us-0".into()));
        // `orders.*` does not match orders.us.east.
        assert!(c.read_timeout(ms(300)).is_none());
        assert_eq!(c.write("nowhere"), 0);
        assert_eq!(all.write("nowhere"), 0);
    })
}

#[test]
fn a_queue_group_shares_the_messages_between_its_members() {
    within(secs(60), || {
        let server = Nats::start();
        let a = wsdial::dial(&format!("{}&queue=workers", server.url("jobs"))).unwrap();
        let b = wsdial::dial(&format!("{}&queue=workers", server.url("jobs"))).unwrap();
        assert!(PyNats::run(&server, &["pub", "jobs", "200", "j"]).wait());
        let mut seen = std::collections::BTreeSet::new();
        let (mut from_a, mut from_b) = (0, 0);
        let deadline = Instant::now() + secs(20);
        while seen.len() < 200 {
            assert!(
                Instant::now() < deadline,
                "only {} of 200 jobs arrived",
                seen.len()
            );
            for (c, n) in [(&a, &mut from_a), (&b, &mut from_b)] {
                while let Some(Event::Message(m)) = c.read_timeout(ms(20)) {
                    assert!(
                        seen.insert(m.as_text().unwrap().to_owned()),
                        "a job came twice"
                    );
                    *n += 1;
                }
            }
        }
        assert_eq!(from_a + from_b, 200);
        assert!(
            from_a > 0 && from_b > 0,
            "one member got them all: {from_a} / {from_b}"
        );
    })
}

#[test]
fn wrong_credentials_are_an_auth_error_within_the_deadline() {
    within(secs(30), || {
        let server = Nats::start();
        let t = Instant::now();
        let e = wsdial::dial(&format!(
            "nats://{USER}:wrong@127.0.0.1:{}?topic=x|timeout=5000",
            server.port
        ))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
        assert!(t.elapsed() < secs(5), "took {:?}", t.elapsed());
        let e = wsdial::dial(&format!(
            "nats://127.0.0.1:{}?topic=x|timeout=5000",
            server.port
        ))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "no credentials: {e}");
    })
}

#[test]
fn a_server_that_is_down_at_dial_time_is_a_tcp_error() {
    within(secs(30), || {
        let port = free_port();
        let t = Instant::now();
        let e = wsdial::dial(&format!("nats://127.0.0.1:{port}?topic=x|timeout=5000")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
        assert!(t.elapsed() < secs(5), "took {:?}", t.elapsed());
    })
}

#[test]
fn a_server_killed_and_restarted_is_one_disconnected_then_messages_flow_again() {
    within(secs(90), || {
        let mut server = Nats::start();
        let c = wsdial::dial(&format!(
            "{}|reconnect=true&interval=100",
            server.url("ticks")
        ))
        .unwrap();
        assert!(PyNats::run(&server, &["pub", "ticks", "3", "before-"]).wait());
        for i in 0..3 {
            assert_eq!(next(&c).1, format!("before-{i}"));
        }
        server.kill();
        match c.read_timeout(secs(10)) {
            Some(Event::Disconnected(d)) => assert_ne!(d.cause(), Cause::ClosedByUser),
            other => panic!("expected Disconnected, got {other:?}"),
        }
        server.restart();
        // Publish until the resubscribed connection gets one (the reconnect
        // happens in the background, on its own schedule).
        let deadline = Instant::now() + secs(30);
        let mut n = 0;
        let first = loop {
            assert!(Instant::now() < deadline, "no message after the restart");
            assert!(PyNats::run(&server, &["pub", "ticks", "1", &format!("after{n}-")]).wait());
            n += 1;
            match c.read_timeout(ms(300)) {
                Some(Event::Message(m)) => break m.as_text().unwrap().to_owned(),
                Some(Event::Disconnected(d)) => panic!("a second Disconnected: {d:?}"),
                None => continue,
            }
        };
        assert!(first.starts_with("after"), "{first}");
        assert!(PyNats::run(&server, &["pub", "ticks", "5", "later-"]).wait());
        for i in 0..5 {
            match c.read_timeout(secs(10)) {
                Some(Event::Message(m)) => {
                    let t = m.as_text().unwrap().to_owned();
                    if t.starts_with("after") {
                        continue;
                    }
                    assert_eq!(t, format!("later-{i}"));
                }
                other => panic!("expected a message, got {other:?}"),
            }
        }
        assert_eq!(c.stats().reconnects, 1);
        assert_eq!(c.write("back"), 4);
        assert_eq!(next(&c).1, "back");
    })
}

#[test]
fn a_flood_while_the_program_does_not_read_drops_the_oldest_and_counts_them() {
    within(secs(60), || {
        let server = Nats::start();
        let c = wsdial::dial(&format!("{}|qsize=50", server.url("flood"))).unwrap();
        assert!(PyNats::run(&server, &["pub", "flood", "5000", "m"]).wait());
        eventually(secs(20), "all 5000 received", || c.stats().received == 5000);
        let s = c.stats();
        assert_eq!(s.dropped, 5000 - 50, "{s:?}");
        assert_eq!(s.queued, 50);
        // The newest 50 are kept, in order.
        for i in 4950..5000 {
            assert_eq!(next(&c).1, format!("m{i}"));
        }
        assert!(c.try_read().is_none());
    })
}

#[test]
fn tls_with_the_servers_ca_or_insecure() {
    within(secs(60), || {
        let server = Nats::start_tls();
        let cert = server.ca();
        let url = server.url("secure").replace("127.0.0.1", "localhost");
        let c = wsdial::dial(&format!("{url}|ca={}", cert.display())).unwrap();
        assert!(publish_over_tls(&server, &cert));
        assert_eq!(next(&c).1, "tls-0");
        let i = wsdial::dial(&format!("{}|insecure=true", server.url("secure"))).unwrap();
        assert_eq!(i.write("hi"), 2);
        assert_eq!(next(&i).1, "hi");
        // Without the certificate, the self-signed server is refused.
        let e = wsdial::dial(&format!("{url}|timeout=5000")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    })
}

/// Publishes `tls-0` to `secure` through a second wsdial connection over
/// TLS (so both ends verify the server's certificate).
fn publish_over_tls(server: &Nats, cert: &std::path::Path) -> bool {
    let url = server.url("secure").replace("127.0.0.1", "localhost");
    let p = wsdial::dial(&format!("{url}|ca={}", cert.display())).unwrap();
    let n = p.write("tls-0");
    // A write made while the driver is still greeting waits in the outbox;
    // closing before it moved on would count it unsent (the driver's rule).
    eventually(secs(10), "tls-0 handed to the client", || {
        p.stats().sent == 1
    });
    p.close();
    n == 5
}

#[test]
fn bad_addresses_say_what_is_accepted() {
    for (addr, says) in [
        ("nats://127.0.0.1:4222", "names no subject"),
        ("nats://127.0.0.1:4222?topic=a..b", "empty token"),
        (
            "nats://127.0.0.1:4222?topic=a&group=g",
            "accepted: topic=SUBJECT, queue=GROUP",
        ),
        ("nats://127.0.0.1:4222/orders?topic=a", "no path"),
        ("nats://127.0.0.1:4222?topic=a|ping=5s", "ping"),
    ] {
        let e = wsdial::dial(addr).expect_err(addr);
        assert_eq!(e.kind(), ErrorKind::Address, "{addr}: {e}");
        assert!(e.to_string().contains(says), "{addr}: {e}");
    }
}

#[test]
fn dials_and_reads_from_inside_a_programs_tokio_runtime() {
    within(secs(60), || {
        let server = Nats::start();
        let url = server.url("inside");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let c = wsdial::dial(&url).unwrap();
            assert_eq!(c.write("from a task"), 11);
            assert_eq!(next(&c).1, "from a task");
            c.close();
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let url = server.url("inside");
        rt.block_on(async move {
            tokio::spawn(async move {
                let c = wsdial::dial(&url).unwrap();
                assert_eq!(c.write("again"), 5);
                assert_eq!(next(&c).1, "again");
            })
            .await
            .unwrap();
        });
    })
}

#[test]
fn a_burst_of_many_batches_is_read_whole_in_order_with_its_subject() {
    within(secs(60), || {
        // The connection's thread takes what async-nats has buffered in
        // batches; none may be lost or reordered at a batch's edge.
        let server = Nats::start();
        let c = wsdial::dial(&format!("{}|qsize=10000", server.url("burst"))).unwrap();
        assert!(PyNats::run(&server, &["pub", "burst", "5000", "b"]).wait());
        let mut stamps = Vec::with_capacity(5000);
        for i in 0..5000 {
            let m = match c.read_timeout(secs(10)) {
                Some(Event::Message(m)) => m,
                other => panic!("expected b{i}, got {other:?}"),
            };
            assert_eq!(
                (m.topic(), m.as_text()),
                (Some("burst"), Some(&*format!("b{i}")))
            );
            assert!(m.received() <= Instant::now());
            stamps.push(m.received());
        }
        // What the thread takes in one go shares one receive time (one
        // clock read per batch): in order, and far fewer than the messages.
        assert!(stamps.windows(2).all(|w| w[0] <= w[1]));
        stamps.dedup();
        assert!(stamps.len() <= 5000 / 4, "{} receive times", stamps.len());
        let s = c.stats();
        assert_eq!((s.received, s.dropped), (5000, 0), "{s:?}");
        assert!(c.try_read().is_none());
    })
}

#[test]
fn consume_false_publishes_and_receives_nothing_of_its_subject() {
    within(secs(60), || {
        let server = Nats::start();
        let c = wsdial::dial(&format!("{}&consume=false", server.url("relay.out"))).unwrap();
        let mut sub = PyNats::run(&server, &["sub", "relay.out", "3"]);
        assert_eq!(sub.line(), "ready");
        for body in ["a", "b", "c"] {
            assert_eq!(c.write(body), 1);
        }
        for body in ["a", "b", "c"] {
            assert_eq!(sub.line(), body);
        }
        assert!(sub.wait());
        // A third party's message on the subject is not delivered either.
        let publisher = PyNats::run(&server, &["pub", "relay.out", "2", "py-"]);
        assert!(publisher.wait());
        // (A subscribed connection has its own three back at once: NATS
        // echoes, see reads_what_nats_py_publishes_and_nats_py_reads_what_it_writes.)
        assert!(c.read_timeout(secs(1)).is_none());
        let s = c.stats();
        assert_eq!((s.received, s.sent, s.dropped), (0, 3, 0));
        assert!(c.is_connected());
        c.close();
    })
}
