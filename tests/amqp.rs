#![cfg(feature = "amqp")]
//! `amqp://` against a real RabbitMQ (Debian's), with pika as the third-party
//! client. RabbitMQ takes about 11 s to start, so the suite shares one
//! (scripts/servers.d/rabbitmq.sh) and the cases that need it run in order
//! in one test; the server "restart" is `rabbitmqctl stop_app` / `start_app`
//! (every connection is closed by the server, the node stays up), last. The
//! same node listens with TLS (amqps), its certificate signed by a CA of the
//! script's own. A SIGKILL is tested on a RabbitMQ of the test's own.
#[path = "common/amqp.rs"]
mod amqp;
mod common;
use amqp::*;
use common::*;
use std::time::{Duration, Instant};
use wsdial::{Cause, ErrorKind, Event};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn next(c: &wsdial::Conn) -> (String, String) {
    match c.read_timeout(secs(10)) {
        Some(Event::Message(m)) => (
            m.topic().unwrap_or("").to_owned(),
            m.as_text().unwrap().to_owned(),
        ),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// A queue name of its own for each case (the server outlives the tests).
fn queue(case: &str) -> String {
    format!("wsdial-{case}-{}-{}", std::process::id(), free_port())
}

#[test]
fn against_rabbitmq() {
    within(secs(240), || {
        let r = Rabbit::get();
        round_trips_with_pika(&r);
        deliveries_read_are_acknowledged_while_the_connection_stays_open(&r);
        wrong_credentials_are_an_auth_error(&r);
        flood_drops_the_oldest(&r);
        inside_a_tokio_runtime(&r);
        amqps_with_the_ca_round_trips_with_pika_over_tls(&r);
        amqps_without_the_ca_is_a_tls_error(&r);
        amqps_insecure_connects_without_the_ca(&r);
        restart_is_one_disconnected_then_messages_flow(&r);
    })
}

/// A delivery read is acknowledged while the connection stays open (64 at
/// a time while more are waiting, else at once): the server holds nothing
/// unacknowledged for a reader that keeps up, not only after `close`.
fn deliveries_read_are_acknowledged_while_the_connection_stays_open(r: &Rabbit) {
    let q = queue("acks");
    let c = wsdial::dial(&format!("{}&durable=false", r.url(&q))).unwrap();
    // 100: more than one group of 64.
    assert!(Pika::run(r, &["pub", &q, "100", "py-"]).wait());
    for i in 0..100 {
        assert_eq!(next(&c), (q.clone(), format!("py-{i}")));
    }
    let counts = || {
        let out = r.ctl_output("list_queues name messages_ready messages_unacknowledged");
        out.lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.first() == Some(&q.as_str())).then(|| (f[1].to_owned(), f[2].to_owned()))
            })
            .unwrap_or_default()
    };
    eventually(secs(20), "every delivery acknowledged", || {
        counts() == ("0".to_owned(), "0".to_owned())
    });
    assert!(c.is_connected());
    c.close();
}

fn round_trips_with_pika(r: &Rabbit) {
    let q = queue("trip");
    let c = wsdial::dial(&format!("{}&durable=false", r.url(&q))).unwrap();
    assert!(Pika::run(r, &["pub", &q, "100", "py-"]).wait());
    for i in 0..100 {
        assert_eq!(next(&c), (q.clone(), format!("py-{i}")));
    }
    // wsdial publishes (a write-only connection: no consumer of its own to
    // take a share of the queue), pika reads.
    let q2 = queue("trip2");
    let mut sub = Pika::run(r, &["sub", &q2, "3"]);
    assert_eq!(sub.line(), "ready");
    let p = wsdial::dial(&format!(
        "amqp://{}:{}@127.0.0.1:{}/%2F?queue={q2}&consume=false",
        r.user, r.pass, r.port
    ))
    .unwrap();
    for body in ["one", "ünïcødé ✓", "three"] {
        assert_eq!(p.write(body), body.len());
    }
    for body in ["one", "ünïcødé ✓", "three"] {
        assert_eq!(sub.line(), body);
    }
    assert!(sub.wait());
    // What a third party publishes to the queue is not delivered to it
    // either (a consumer would have these at once).
    assert!(Pika::run(r, &["pub", &q2, "2", "py-"]).wait());
    assert!(p.read_timeout(secs(1)).is_none());
    let s = p.stats();
    assert_eq!((s.received, s.sent, s.dropped), (0, 3, 0));
    c.close();
}

fn wrong_credentials_are_an_auth_error(r: &Rabbit) {
    let t = Instant::now();
    let e = wsdial::dial(&format!(
        "amqp://{}:wrong@127.0.0.1:{}/?queue=x|timeout=5000",
        r.user, r.port
    ))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(t.elapsed() < secs(5), "took {:?}", t.elapsed());
}

fn flood_drops_the_oldest(r: &Rabbit) {
    let q = queue("flood");
    let c = wsdial::dial(&format!("{}|qsize=50", r.url(&q))).unwrap();
    assert!(Pika::run(r, &["pub", &q, "3000", "m"]).wait());
    eventually(secs(30), "all 3000 received", || c.stats().received == 3000);
    let s = c.stats();
    assert_eq!(s.dropped, 3000 - 50, "{s:?}");
    for i in 2950..3000 {
        assert_eq!(next(&c).1, format!("m{i}"));
    }
    assert!(c.try_read().is_none());
}

fn inside_a_tokio_runtime(r: &Rabbit) {
    let url = r.url(&queue("tokio"));
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
}

/// `amqps://USER:PASS@localhost:TLS_PORT/?queue=Q` (the certificate is for
/// localhost and 127.0.0.1).
fn amqps(r: &Rabbit, q: &str) -> String {
    format!(
        "amqps://{}:{}@localhost:{}/?queue={q}",
        r.user, r.pass, r.tls_port
    )
}

fn amqps_with_the_ca_round_trips_with_pika_over_tls(r: &Rabbit) {
    let q = queue("tls");
    let c = wsdial::dial(&format!("{}|ca={}", amqps(r, &q), r.ca)).unwrap();
    assert!(Pika::run_tls(r, &["pub", &q, "20", "tls-"]).wait());
    for i in 0..20 {
        assert_eq!(next(&c), (q.clone(), format!("tls-{i}")));
    }
    // And back: wsdial publishes over TLS, pika reads over TLS.
    let q2 = queue("tls2");
    let mut sub = Pika::run_tls(r, &["sub", &q2, "2"]);
    assert_eq!(sub.line(), "ready");
    let p = wsdial::dial(&format!(
        "amqps://{}:{}@127.0.0.1:{}/?queue={q2}&consume=false|ca={}",
        r.user, r.pass, r.tls_port, r.ca
    ))
    .unwrap();
    for body in ["sealed", "delivered"] {
        assert_eq!(p.write(body), body.len());
    }
    assert_eq!([sub.line(), sub.line()], ["sealed", "delivered"]);
    assert!(sub.wait());
    c.close();
    p.close();
}

fn amqps_without_the_ca_is_a_tls_error(r: &Rabbit) {
    let t = Instant::now();
    let e = wsdial::dial(&format!("{}|timeout=5000", amqps(r, &queue("untrusted")))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(t.elapsed() < secs(5), "took {:?}", t.elapsed());
    assert!(!e.to_string().contains(&r.pass), "password shown: {e}");
}

fn amqps_insecure_connects_without_the_ca(r: &Rabbit) {
    let q = queue("insecure");
    let c = wsdial::dial(&format!("{}|insecure=true", amqps(r, &q))).unwrap();
    assert_eq!(c.write("unchecked"), 9);
    assert_eq!(next(&c), (q, "unchecked".to_owned()));
    c.close();
}

fn restart_is_one_disconnected_then_messages_flow(r: &Rabbit) {
    let q = queue("restart");
    let c = wsdial::dial(&format!(
        "{}&durable=true|reconnect=true&interval=200",
        r.url(&q)
    ))
    .unwrap();
    assert_eq!(c.write("before"), 6);
    assert_eq!(next(&c).1, "before");
    assert!(r.ctl("stop_app"));
    match c.read_timeout(secs(15)) {
        Some(Event::Disconnected(d)) => assert_ne!(d.cause(), Cause::ClosedByUser),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(r.ctl("start_app"));
    assert!(r.ctl("await_startup"));
    let deadline = Instant::now() + secs(30);
    loop {
        assert!(Instant::now() < deadline, "no message after the restart");
        assert!(Pika::run_durable(r, &["pub", &q, "1", "after-"]).wait());
        match c.read_timeout(ms(500)) {
            Some(Event::Message(m)) => {
                assert_eq!(m.as_text(), Some("after-0"));
                break;
            }
            Some(Event::Disconnected(d)) => panic!("a second Disconnected: {d:?}"),
            None => continue,
        }
    }
    assert_eq!(c.stats().reconnects, 1);
    assert_eq!(c.write("back"), 4);
    eventually(
        secs(10),
        "our own message back",
        || matches!(c.read_timeout(ms(100)), Some(Event::Message(m)) if m.as_text() == Some("back")),
    );
}

#[test]
fn sigkill_mid_stream_is_one_disconnected_then_messages_flow() {
    // A RabbitMQ of this test's own: the suite's shared one is not killed.
    within(secs(300), || {
        let r = Rabbit::own();
        let q = queue("sigkill");
        let c = wsdial::dial(&format!(
            "{}|reconnect=true&interval=200&max_interval=1000",
            r.url(&q)
        ))
        .unwrap();
        assert!(Pika::run(&r, &["pub", &q, "5", "before-"]).wait());
        for i in 0..5 {
            assert_eq!(next(&c).1, format!("before-{i}"));
        }
        r.kill();
        match c.read_timeout(secs(15)) {
            Some(Event::Disconnected(d)) => {
                assert!(
                    !matches!(d.cause(), Cause::ClosedByUser | Cause::Refused),
                    "{d:?}"
                )
            }
            other => panic!("expected Disconnected, got {other:?}"),
        }
        r.restart();
        // The program does nothing: the connection comes back by itself,
        // declares the queue again (it died with the node) and consumes.
        eventually(secs(30), "reconnected", || c.is_connected());
        assert!(Pika::run(&r, &["pub", &q, "5", "after-"]).wait());
        for i in 0..5 {
            match c.read_timeout(secs(10)) {
                Some(Event::Message(m)) => assert_eq!(m.as_text(), Some(&*format!("after-{i}"))),
                other => panic!("expected after-{i}, got {other:?} (a second Disconnected?)"),
            }
        }
        assert!(c.read_timeout(ms(300)).is_none(), "nothing more");
        assert_eq!(c.stats().reconnects, 1);
        assert_eq!(c.write("back"), 4);
        assert_eq!(next(&c).1, "back");
    })
}

#[test]
fn a_server_that_is_down_at_dial_time_is_a_tcp_error() {
    within(secs(30), || {
        let port = free_port();
        let t = Instant::now();
        let e =
            wsdial::dial(&format!("amqp://127.0.0.1:{port}/?queue=x|timeout=5000")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
        assert!(t.elapsed() < secs(5), "took {:?}", t.elapsed());
    })
}

#[test]
fn bad_addresses_say_what_is_accepted() {
    for (addr, says) in [
        ("amqp://127.0.0.1/", "names no queue"),
        (
            "amqp://127.0.0.1/?queue=q&durable=yes",
            "durable=true or durable=false",
        ),
        (
            "amqp://127.0.0.1/?queue=q&exchange=x",
            "accepted: queue=Q, durable=true|false",
        ),
        ("amqp://127.0.0.1/a/b?queue=q", "the path is the vhost"),
        ("amqp://127.0.0.1/?queue=q|ping=5s", "ping"),
    ] {
        let e = wsdial::dial(addr).expect_err(addr);
        assert_eq!(e.kind(), ErrorKind::Address, "{addr}: {e}");
        assert!(e.to_string().contains(says), "{addr}: {e}");
    }
}
