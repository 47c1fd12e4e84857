#![cfg(feature = "kafka")]
//! `kafka://` against tansu (a Kafka-compatible broker, one per test on a free
//! 127.0.0.1 port) and the third-party client confluent-kafka (Python).
//! Run: `cargo test -p wsdial --features kafka --test kafka` (after scripts/peers).
mod common;
#[path = "common/tansu.rs"]
mod tansu;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{eventually, within};
use tansu::{python_consume, python_produce, python_produce_each, Tansu};
use wsdial::{Cause, ErrorKind, Event, Message};

const WATCHDOG: Duration = Duration::from_secs(60);

/// The next message within `limit`; panics on a disconnect or nothing.
fn next(conn: &wsdial::Conn, limit: Duration) -> Message {
    match conn.read_timeout(limit) {
        Some(Event::Message(m)) => m,
        other => panic!("expected a message within {limit:?}, got {other:?}"),
    }
}

fn lines(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn round_trip_both_ways_with_confluent_kafka() {
    within(WATCHDOG, || {
        let t = Tansu::start();
        t.create_topic("rt", 3);
        let conn = wsdial::dial(&t.url("rt", "")).unwrap();
        // confluent-kafka -> wsdial: all of it, each with its topic, partition and offset.
        let sent = lines("py", 30);
        python_produce(&t.bootstrap(), "rt", &sent);
        let mut got = BTreeSet::new();
        for _ in 0..sent.len() {
            let m = next(&conn, Duration::from_secs(10));
            assert_eq!(m.topic(), Some("rt"));
            assert!((0..3).contains(&m.partition().unwrap()), "{m:?}");
            assert!(m.offset().unwrap() >= 0);
            got.insert(m.as_text().unwrap().to_owned());
        }
        assert_eq!(got, sent.iter().cloned().collect());
        // wsdial -> confluent-kafka.
        let mine = lines("rs", 30);
        for l in &mine {
            assert_eq!(conn.write(l), l.len());
        }
        // The connection reads its own topic, so it sees them too.
        for _ in 0..mine.len() {
            next(&conn, Duration::from_secs(10));
        }
        let read: BTreeSet<String> = python_consume(&t.bootstrap(), "rt", 60, 20)
            .into_iter()
            .collect();
        let want: BTreeSet<String> = sent.iter().chain(&mine).cloned().collect();
        assert_eq!(read, want);
        let st = conn.stats();
        assert_eq!((st.received, st.sent, st.dropped), (60, 30, 0));
        conn.close();
    });
}

#[test]
fn partitions_and_offsets_are_exposed() {
    within(WATCHDOG, || {
        let t = Tansu::start();
        t.create_topic("po", 3);
        let sent = lines("m", 40);
        python_produce(&t.bootstrap(), "po", &sent);
        // earliest: what the topic held before the dial.
        let conn = wsdial::dial(&t.url("po", "?offset=earliest")).unwrap();
        let mut per: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for _ in 0..sent.len() {
            let m = next(&conn, Duration::from_secs(10));
            per.entry(m.partition().unwrap())
                .or_default()
                .push(m.offset().unwrap());
            assert_eq!(m.key(), None, "confluent-kafka published without keys");
        }
        assert!(per.len() > 1, "spread over partitions: {per:?}");
        for (p, offsets) in &per {
            let want: Vec<i64> = (0..offsets.len() as i64).collect();
            assert_eq!(
                offsets, &want,
                "partition {p}: in order, from 0, none missing"
            );
        }
        assert!(conn.read_timeout(Duration::from_millis(300)).is_none());
    });
}

#[test]
fn latest_reads_only_what_comes_after_the_dial() {
    within(WATCHDOG, || {
        let t = Tansu::start();
        t.create_topic("late", 2);
        // One batch each: see python_produce_each (tansu's high watermark).
        python_produce_each(&t.bootstrap(), "late", &lines("before", 5));
        let conn = wsdial::dial(&t.url("late", "?offset=latest")).unwrap();
        python_produce(&t.bootstrap(), "late", &lines("after", 5));
        let mut got = BTreeSet::new();
        for _ in 0..5 {
            got.insert(
                next(&conn, Duration::from_secs(10))
                    .as_text()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert_eq!(got, lines("after", 5).into_iter().collect());
        assert!(conn.read_timeout(Duration::from_millis(300)).is_none());
    });
}

#[test]
fn a_consumer_group_reads_and_publishes() {
    within(WATCHDOG, || {
        let t = Tansu::start();
        t.create_topic("grp", 2);
        python_produce(&t.bootstrap(), "grp", &lines("g", 10));
        let conn =
            wsdial::dial(&t.url("grp", "?group=bots&offset=earliest|timeout=20000")).unwrap();
        let mut got = BTreeSet::new();
        for _ in 0..10 {
            got.insert(
                next(&conn, Duration::from_secs(10))
                    .as_text()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert_eq!(got, lines("g", 10).into_iter().collect());
        assert_eq!(conn.write("back"), 4);
        assert_eq!(next(&conn, Duration::from_secs(10)).as_text(), Some("back"));
    });
}

#[test]
fn server_down_at_dial_fails_within_the_timeout() {
    within(WATCHDOG, || {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let e = wsdial::dial(&format!("kafka://127.0.0.1:{port}/t|timeout=3000")).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    });
}

#[test]
fn wrong_credentials_are_an_auth_error_within_the_timeout() {
    within(Duration::from_secs(60), || {
        let t = Tansu::start_with_auth();
        for mechanism in ["scram-sha-512", "scram-sha-256"] {
            let started = Instant::now();
            let e = wsdial::dial(&format!(
                "kafka://alice:n0t-her-pa55@127.0.0.1:{}/t?mechanism={mechanism}|timeout=5000",
                t.port
            ))
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Auth, "{mechanism}: {e}");
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{mechanism}: {:?}",
                started.elapsed()
            );
            let text = e.to_string();
            assert!(text.contains("SASL"), "{text}");
            assert!(!text.contains("n0t-her-pa55"), "password shown: {text}");
        }
        // The default mechanism is SCRAM-SHA-512, and it is refused the same way.
        let e = wsdial::dial(&format!(
            "kafka://alice:n0t-her-pa55@127.0.0.1:{}/t|timeout=5000",
            t.port
        ))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
        // confluent-kafka with the same SASL settings is refused as well: the
        // broker, not wsdial's settings, is what says no.
        let out = tansu::python_client(&["consume", &t.bootstrap(), "t", "1", "3"])
            .env("KAFKA_SASL_USER", "alice")
            .env("KAFKA_SASL_PASS", "n0t-her-pa55")
            .env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
            .output()
            .expect("python consumer");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("SASL authentication error"), "{err}");
    });
}

#[test]
fn a_broker_name_that_does_not_resolve_is_a_dns_error() {
    // A 64-character label is longer than DNS allows (63): glibc's resolver
    // refuses it before building a query, so nothing leaves the machine
    // (checked with strace: no socket but the local nscd one is opened).
    within(Duration::from_secs(30), || {
        let host = format!("{}.invalid", "x".repeat(64));
        let started = Instant::now();
        let e = wsdial::dial(&format!("kafka://{host}:9092/t|timeout=5000")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Dns, "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn a_topic_the_cluster_does_not_have_is_refused_by_name() {
    within(WATCHDOG, || {
        let t = Tansu::start();
        let e = wsdial::dial(&t.url("nosuch", "|timeout=5000")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Handshake, "{e}");
        assert!(e.to_string().contains("no topic `nosuch`"), "{e}");
    });
}

#[test]
fn bad_addresses_say_what_is_accepted() {
    for (url, says) in [
        ("kafka://127.0.0.1:9092", "no topic"),
        ("kafka://127.0.0.1:9092/a b", "has ` `"),
        ("kafka://127.0.0.1:99999/t", "port `99999`"),
        ("kafka://127.0.0.1/t?offset=newest", "earliest, latest"),
        (
            "kafka://127.0.0.1/t?partition=1",
            "unknown query parameter `partition`",
        ),
        ("kafka://user@127.0.0.1/t", "SASL needs both"),
        (
            "kafka://user:pw@127.0.0.1/t?mechanism=oauthbearer",
            "scram-sha-512 (the default), scram-sha-256, plain",
        ),
    ] {
        let e = wsdial::dial(url).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Address, "{url}: {e}");
        let s = e.to_string();
        assert!(
            s.contains(says) && s.contains("accepted: kafka://"),
            "{url}: {s}"
        );
    }
    // Options that mean nothing for a broker are refused by name.
    let e = wsdial::dial("kafka://127.0.0.1/t|ping=1000").unwrap_err();
    assert_eq!(
        (e.kind(), e.key()),
        (ErrorKind::Address, Some("ping")),
        "{e}"
    );
}

#[test]
fn broker_killed_and_restarted_one_disconnect_then_messages_flow() {
    within(WATCHDOG, || {
        let mut t = Tansu::start();
        t.create_topic("rs", 1);
        let conn =
            wsdial::dial(&t.url("rs", "|reconnect=true&interval=100&max_interval=500")).unwrap();
        python_produce(&t.bootstrap(), "rs", &lines("a", 3));
        for i in 0..3 {
            assert_eq!(
                next(&conn, Duration::from_secs(10)).as_text(),
                Some(&*format!("a-{i}"))
            );
        }
        t.kill();
        match conn.read_timeout(Duration::from_secs(10)) {
            Some(Event::Disconnected(d)) => assert_ne!(d.cause(), Cause::ClosedByUser, "{d:?}"),
            other => panic!("expected one Disconnected, got {other:?}"),
        }
        let port = t.port;
        let t = Tansu::start_on(port);
        // The memory storage lost the topic; a producer creates it again by
        // publishing (tansu makes 4 partitions). Whichever comes first, the
        // reconnect or the producer, is left to the race on purpose: either
        // way the new topic is read from its start, though the old one's
        // next offset was 3. (A reconnect before: refused by name until the
        // topic exists. After: partition 0's saved position is past the new
        // one's end, so it is read from 0; the loss fixed here, which made
        // this test fail 1 run in 4. The lib test
        // a_topic_recreated_between_two_connects_is_read_from_its_start
        // pins that order.)
        python_produce(&t.bootstrap(), "rs", &lines("b", 3));
        let mut got = BTreeSet::new();
        for _ in 0..3 {
            match conn.read_timeout(Duration::from_secs(15)) {
                Some(Event::Message(m)) => {
                    assert!(m.offset().unwrap() < 3, "from the start: {m:?}");
                    got.insert(m.as_text().unwrap().to_owned());
                }
                other => panic!("expected a message, got {other:?}"),
            }
        }
        assert_eq!(got, lines("b", 3).into_iter().collect());
        assert_eq!(conn.stats().reconnects, 1);
        assert!(conn.read_timeout(Duration::from_millis(300)).is_none());
    });
}

#[test]
fn a_flood_while_not_reading_drops_the_oldest_counted() {
    within(WATCHDOG, || {
        let t = Tansu::start();
        t.create_topic("flood", 1);
        let conn = wsdial::dial(&t.url("flood", "|qsize=50")).unwrap();
        let n = 3000;
        python_produce(&t.bootstrap(), "flood", &lines("f", n));
        eventually(Duration::from_secs(20), "every message received", || {
            conn.stats().received == n as u64
        });
        let st = conn.stats();
        assert_eq!((st.queued, st.dropped), (50, n as u64 - 50), "{st:?}");
        // What is left is the newest, in order.
        for i in n - 50..n {
            assert_eq!(
                next(&conn, Duration::from_secs(1)).as_text(),
                Some(&*format!("f-{i}"))
            );
        }
    });
}

#[test]
fn dials_and_reads_inside_a_tokio_runtime() {
    within(WATCHDOG, || {
        let t = Tansu::start();
        t.create_topic("tok", 1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bootstrap = t.bootstrap();
        let url = t.url("tok", "");
        rt.block_on(async move {
            let conn = wsdial::dial(&url).unwrap();
            python_produce(&bootstrap, "tok", &lines("t", 2));
            assert_eq!(next(&conn, Duration::from_secs(10)).as_text(), Some("t-0"));
            assert_eq!(next(&conn, Duration::from_secs(10)).as_text(), Some("t-1"));
            conn.close();
        });
    });
}

#[test]
fn consume_false_publishes_and_receives_nothing_of_its_topic() {
    within(WATCHDOG, || {
        let t = Tansu::start();
        t.create_topic("po", 2);
        let conn = wsdial::dial(&t.url("po", "?consume=false")).unwrap();
        let mine = lines("rs", 10);
        for l in &mine {
            assert_eq!(conn.write(l), l.len());
        }
        let read: BTreeSet<String> = python_consume(&t.bootstrap(), "po", 10, 20)
            .into_iter()
            .collect();
        assert_eq!(read, mine.iter().cloned().collect());
        // A third party's records are not read either.
        python_produce(&t.bootstrap(), "po", &lines("py", 3));
        // (A reading connection has its own ten back: see
        // round_trip_both_ways_with_confluent_kafka.)
        assert!(conn.read_timeout(Duration::from_secs(2)).is_none());
        let st = conn.stats();
        assert_eq!((st.received, st.sent, st.dropped), (0, 10, 0));
        assert!(conn.is_connected());
        conn.close();
    });
}
