//! `mqtt://` and `mqtts://` against Debian's mosquitto, one private broker per
//! test on free 127.0.0.1 ports, with mosquitto_pub / mosquitto_sub as the
//! third-party clients.
#![cfg(feature = "mqtt")]
mod common;
#[path = "common/mosquitto.rs"]
mod mosquitto;

use common::*;
use mosquitto::{Mosquitto, PASS, USER};
use std::time::Instant;
use wsdial::{Cause, ErrorKind, Event};

fn texts(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

/// Reads `n` messages (each within `limit`), as text.
fn read_n(c: &wsdial::Conn, n: usize, limit: Duration) -> Vec<String> {
    (0..n)
        .map(|_| match c.read_timeout(limit) {
            Some(Event::Message(m)) => m.as_text().unwrap().to_owned(),
            other => panic!("expected a message, got {other:?}"),
        })
        .collect()
}

use std::time::Duration;

#[test]
fn round_trip_both_ways_with_mosquitto_clients() {
    within(ms(20_000), || {
        let b = Mosquitto::start();
        let c = wsdial::dial(&b.url("bots/a")).unwrap();
        assert!(c.is_connected());
        // mosquitto_pub -> wsdial
        b.publish("bots/a", &texts(0..3));
        assert_eq!(read_n(&c, 3, ms(5000)), texts(0..3));
        b.publish("bots/a", &["last".into()]);
        match c.read_timeout(ms(5000)) {
            Some(Event::Message(m)) => {
                assert_eq!(m.topic(), Some("bots/a"));
                assert_eq!(m.as_text(), Some("last"));
            }
            other => panic!("{other:?}"),
        }
        // wsdial -> mosquitto_sub
        let sub = b.subscriber("bots/a", 2);
        assert_eq!(c.write("hello"), 5);
        assert_eq!(c.write_binary(&[0xff, 0x00]), 2);
        let lines = sub.lines();
        assert_eq!(lines[0], "bots/a hello");
        assert_eq!(lines[1], "bots/a \u{fffd}\0", "{lines:?}");
        assert_eq!(c.stats().sent, 2);
        // Our own publishes come back (MQTT 3.1.1 has no no-local): text, then bytes.
        assert_eq!(read_n(&c, 1, ms(5000)), ["hello"]);
        match c.read_timeout(ms(5000)) {
            Some(Event::Message(m)) => assert_eq!(m.as_bytes(), [0xff, 0x00]),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn big_messages_both_ways() {
    within(ms(20_000), || {
        let b = Mosquitto::start();
        let c = wsdial::dial(&b.url("big")).unwrap();
        // Far above rumqttc's default packet limit (10 kB).
        let big = "x".repeat(300_000);
        b.publish("big", std::slice::from_ref(&big));
        assert_eq!(read_n(&c, 1, ms(5000)), std::slice::from_ref(&big));
        let sub = b.subscriber("big", 1);
        assert_eq!(c.write(&big), big.len());
        assert_eq!(sub.lines(), [format!("big {big}")]);
        assert_eq!(read_n(&c, 1, ms(5000)), [big]);
    });
}

#[test]
fn a_wildcard_topic_reads_every_match_and_refuses_writes() {
    within(ms(20_000), || {
        let b = Mosquitto::start();
        let c = wsdial::dial(&b.url("feed/+/trades")).unwrap();
        let all = wsdial::dial(&b.url("feed/#")).unwrap();
        b.publish("feed/btc/trades", &["t1".into()]);
        b.publish("feed/eth/book", &["b1".into()]);
        b.publish("feed/eth/trades", &["t2".into()]);
        let topics = |c: &wsdial::Conn, n| -> Vec<(String, String)> {
            (0..n)
                .map(|_| match c.read_timeout(ms(5000)) {
                    Some(Event::Message(m)) => (
                        m.topic().unwrap().to_owned(),
                        m.as_text().unwrap().to_owned(),
                    ),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let pair = |t: &str, p: &str| (t.to_owned(), p.to_owned());
        assert_eq!(
            topics(&c, 2),
            [pair("feed/btc/trades", "t1"), pair("feed/eth/trades", "t2")]
        );
        assert_eq!(topics(&all, 3).len(), 3);
        assert_eq!(c.write("x"), 0, "a wildcard names no topic to publish to");
        let s = c.stats();
        assert_eq!((s.sent, s.unsent), (0, 0), "not even tried");
        assert!(
            c.read_timeout(ms(200)).is_none(),
            "and nothing was published"
        );
    });
}

#[test]
fn wrong_credentials_are_an_auth_error_within_the_timeout() {
    within(ms(20_000), || {
        let b = Mosquitto::start();
        for creds in [format!("{USER}:wrong@"), String::new(), "mallory:x@".into()] {
            let t = Instant::now();
            let e = wsdial::dial(&format!(
                "mqtt://{creds}127.0.0.1:{}?topic=t|timeout=3000",
                b.port
            ))
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Auth, "{creds}: {e}");
            assert!(e.to_string().contains("not authorised"), "{e}");
            assert!(t.elapsed() < ms(3000), "{:?}", t.elapsed());
        }
    });
}

/// Records the `warn` lines logged in this test binary (one test installs it).
struct Recorder(std::sync::Mutex<Vec<String>>);

impl log::Log for Recorder {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

static RECORDER: Recorder = Recorder(std::sync::Mutex::new(Vec::new()));

#[test]
fn the_reconnect_log_lines_mask_the_password() {
    within(ms(20_000), || {
        log::set_logger(&RECORDER).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
        let mut b = Mosquitto::start();
        let c = wsdial::dial(&format!("{}|reconnect=true&interval=50", b.url("log"))).unwrap();
        b.kill();
        let mine = || -> Vec<String> {
            let port = format!(":{}", b.port);
            let lines = RECORDER.0.lock().unwrap();
            lines
                .iter()
                .filter(|l| l.contains(&port))
                .cloned()
                .collect()
        };
        eventually(ms(5000), "the reconnect's warning", || {
            mine().iter().any(|l| l.contains("reconnecting"))
        });
        drop(c);
        let lines = mine();
        assert!(
            lines.iter().all(|l| !l.contains(PASS)),
            "password shown: {lines:?}"
        );
        assert!(lines.iter().any(|l| l.contains("alice:***@")), "{lines:?}");
    });
}

#[test]
fn server_down_at_dial_is_a_tcp_error_and_retry_first_waits_for_it() {
    within(ms(20_000), || {
        let mut b = Mosquitto::start();
        b.kill();
        let t = Instant::now();
        let e = wsdial::dial(&b.url("t")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
        assert!(t.elapsed() < ms(3000));
        let c = wsdial::dial(&format!(
            "{}|retry_first=true&reconnect=true&interval=50",
            b.url("t")
        ))
        .unwrap();
        assert!(!c.is_connected());
        b.restart();
        eventually(ms(5000), "connected", || c.is_connected());
        b.publish("t", &["up".into()]);
        assert_eq!(read_n(&c, 1, ms(5000)), ["up"]);
    });
}

#[test]
fn killed_and_restarted_mid_stream_is_one_disconnected_then_messages_flow_again() {
    within(ms(30_000), || {
        let mut b = Mosquitto::start();
        let c = wsdial::dial(&format!(
            "{}|reconnect=true&interval=50&max_interval=200",
            b.url("s")
        ))
        .unwrap();
        b.publish("s", &texts(0..5));
        eventually(ms(5000), "5 received", || c.stats().received == 5);
        b.kill();
        eventually(ms(5000), "lost", || !c.is_connected());
        b.restart();
        eventually(ms(10_000), "reconnected", || c.is_connected());
        b.publish("s", &texts(5..10));
        let mut events = Vec::new();
        while events.len() < 11 {
            match c.read_timeout(ms(5000)) {
                Some(e) => events.push(e),
                None => panic!("stalled after {events:?}"),
            }
        }
        let lost: Vec<usize> = (0..events.len())
            .filter(|&i| events[i].is_disconnect())
            .collect();
        assert_eq!(
            lost,
            [5],
            "one Disconnected, after the 5 before it: {events:?}"
        );
        let msgs: Vec<String> = events
            .iter()
            .filter_map(|e| e.message().map(|m| m.as_text().unwrap().to_owned()))
            .collect();
        assert_eq!(msgs, texts(0..10));
        assert_eq!(c.stats().reconnects, 1);
        assert!(c.read_timeout(ms(300)).is_none(), "nothing more");
        // Writes publish again on the new connection.
        let sub = b.subscriber("s", 1);
        assert_eq!(c.write("back"), 4);
        assert_eq!(sub.lines(), ["s back"]);
    });
}

#[test]
fn credentials_refused_on_a_reconnect_are_a_refused_event_and_reconnecting_goes_on() {
    within(ms(40_000), || {
        let mut b = Mosquitto::start();
        let c = wsdial::dial(&format!(
            "{}|reconnect=true&interval=50&max_interval=200",
            b.url("r")
        ))
        .unwrap();
        b.publish("r", &texts(0..2));
        assert_eq!(read_n(&c, 2, ms(5000)), texts(0..2));
        // The broker comes back without accepting alice's password.
        b.kill();
        b.set_password(USER, "changed");
        b.restart();
        let lost = match c.read_timeout(ms(5000)) {
            Some(Event::Disconnected(d)) => d,
            other => panic!("expected the lost connection, got {other:?}"),
        };
        assert_ne!(lost.cause(), Cause::Refused, "{lost:?}");
        let refused = match c.read_timeout(ms(10_000)) {
            Some(Event::Disconnected(d)) => d,
            other => panic!("expected the refused reconnect, got {other:?}"),
        };
        assert_eq!(refused.cause(), Cause::Refused, "{refused:?}");
        assert!(refused.detail().contains("not authorised"), "{refused:?}");
        assert!(
            !refused.detail().contains(PASS),
            "password shown: {refused:?}"
        );
        assert_eq!(refused.http_status(), None);
        assert!(!c.is_connected());
        // Reconnecting goes on: the password accepted again, messages flow,
        // with nothing but refusals in between.
        b.kill();
        b.set_password(USER, PASS);
        b.restart();
        eventually(ms(10_000), "reconnected", || c.is_connected());
        b.publish("r", &texts(2..4));
        let mut got = Vec::new();
        while got.len() < 2 {
            match c.read_timeout(ms(5000)) {
                Some(Event::Message(m)) => got.push(m.as_text().unwrap().to_owned()),
                Some(Event::Disconnected(d)) => {
                    assert_eq!(d.cause(), Cause::Refused, "only refusals: {d:?}")
                }
                None => panic!("stalled after {got:?}"),
            }
        }
        assert_eq!(got, texts(2..4));
        assert_eq!(c.stats().reconnects, 1);
    });
}

#[test]
fn a_flood_while_the_program_does_not_read_drops_the_oldest_counted() {
    within(ms(30_000), || {
        let b = Mosquitto::start();
        // QoS 1 both ways: the broker may not drop any for a slow subscriber,
        // so every drop is the inbox's own.
        let url = format!("{}&qos=1|qsize=100&qbytes=1000000", b.url("flood"));
        let c = wsdial::dial(&url).unwrap();
        let n = 20_000;
        b.publish_qos("flood", &texts(0..n), 1);
        eventually(ms(20_000), "all received", || {
            c.stats().received == n as u64
        });
        let s = c.stats();
        assert_eq!((s.queued, s.dropped), (100, n as u64 - 100));
        assert!(s.queued_bytes <= 1 << 20);
        assert_eq!(
            read_n(&c, 100, ms(1000)),
            texts(n - 100..n),
            "the newest, in order"
        );
        assert!(c.try_read().is_none());
    });
}

#[test]
fn mqtts_with_the_ca_and_refused_without_it() {
    within(ms(20_000), || {
        let b = Mosquitto::start();
        let url = format!("mqtts://{USER}:{PASS}@localhost:{}?topic=tls/t", b.tls_port);
        let e = wsdial::dial(&format!("{url}|timeout=3000")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
        let ca = mosquitto::cert();
        let c = wsdial::dial(&format!("{url}|ca={}", ca.display())).unwrap();
        b.publish("tls/t", &["secret".into()]);
        assert_eq!(read_n(&c, 1, ms(5000)), ["secret"]);
        assert_eq!(c.write("over tls"), 8);
        assert_eq!(read_n(&c, 1, ms(5000)), ["over tls"]);
        let c = wsdial::dial(&format!("{url}|insecure=true")).unwrap();
        assert!(c.is_connected());
    });
}

#[test]
fn bad_addresses_and_options_say_what_is_accepted() {
    for (address, says) in [
        ("mqtt://127.0.0.1:1", "no topic: add `?topic=T`"),
        (
            "mqtt://127.0.0.1:1?topic=a/%23/b",
            "`#` must be a whole level",
        ),
        ("mqtt://127.0.0.1:1?topic=t&qos=5", "0, 1 or 2"),
        (
            "mqtt://127.0.0.1:1?topic=t&qso=1",
            "unknown query parameter `qso`",
        ),
        ("mqtt://127.0.0.1:1?topic=t|ping=5", "ping"),
        ("mqtt://127.0.0.1:1?topic=t|ca=/x.pem", "ca"),
    ] {
        let e = wsdial::dial(address).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Address, "{address}: {e}");
        assert!(e.to_string().contains(says), "{address}: {e}");
    }
}

#[test]
fn dial_and_read_from_inside_a_tokio_runtime() {
    within(ms(20_000), || {
        let b = Mosquitto::start();
        let url = b.url("rt");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let got = rt.block_on(async move {
            let c = wsdial::dial(&url).unwrap();
            b.publish("rt", &["inside".into()]);
            let ev = c.read_timeout(ms(5000));
            assert_eq!(c.write("from tokio"), 10);
            let ev2 = c.read_timeout(ms(5000));
            c.close();
            (ev, ev2)
        });
        let text = |e: Option<Event>| e.and_then(|e| e.into_message()?.into_text().ok());
        assert_eq!(text(got.0).as_deref(), Some("inside"));
        assert_eq!(text(got.1).as_deref(), Some("from tokio"));
    });
}

#[test]
fn select_across_a_broker_and_a_websocket() {
    within(ms(20_000), || {
        let b = Mosquitto::start();
        let srv = command_server();
        let ws = wsdial::dial(&srv.url("/")).unwrap();
        let mq = wsdial::dial(&b.url("sel")).unwrap();
        let both = [&ws, &mq];
        assert_eq!(wsdial::select(&both, Some(ms(50))), None);
        b.publish("sel", &["from mqtt".into()]);
        assert_eq!(wsdial::select(&both, Some(ms(5000))), Some(1));
        assert_eq!(read_n(&mq, 1, ms(10)), ["from mqtt"]);
        ws.write("cmd:send from_ws");
        assert_eq!(wsdial::select(&both, Some(ms(5000))), Some(0));
        assert_eq!(text(&ws.try_read().unwrap()), "from_ws");
    });
}

#[test]
fn close_is_prompt_and_reads_then_say_closed() {
    within(ms(20_000), || {
        let b = Mosquitto::start();
        let c = wsdial::dial(&b.url("c")).unwrap();
        let t = Instant::now();
        c.close();
        assert!(t.elapsed() < ms(1500), "close took {:?}", t.elapsed());
        match c.read() {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::ClosedByUser),
            e => panic!("{e:?}"),
        }
        assert_eq!(c.write("x"), 0);
    });
}

#[test]
fn what_is_written_just_before_close_reaches_the_broker_while_its_echoes_arrive() {
    within(ms(60_000), || {
        let b = Mosquitto::start();
        // More than the client's request queue holds (1024): it is full, and
        // writes are refused until it has room, right up to the close.
        let n = 3000;
        let sub = b.subscriber_qos("tail", n, 1, 30);
        // QoS 1 both ways: the connection's own subscription gets every
        // publication back, so data is arriving when it closes.
        let c = wsdial::dial(&format!("{}&qos=1", b.url("tail"))).unwrap();
        // Its first publication back: the session is serving.
        assert!(c.write("m0") > 0);
        assert_eq!(read_n(&c, 1, ms(10_000)), ["m0"]);
        for m in texts(1..n) {
            eventually(ms(10_000), "the write taken", || c.write(&m) > 0);
        }
        c.close();
        let want: Vec<String> = texts(0..n).iter().map(|m| format!("tail {m}")).collect();
        let (got, _) = sub.received();
        assert_eq!(got.len(), n, "the last published: {:?}", got.last());
        assert_eq!(got, want);
    });
}

#[test]
fn consume_false_publishes_and_receives_nothing_of_its_topic() {
    within(ms(20_000), || {
        let b = Mosquitto::start();
        let c = wsdial::dial(&format!("{}&consume=false", b.url("relay/out"))).unwrap();
        let sub = b.subscriber("relay/out", 3);
        for m in ["a", "b", "c"] {
            assert_eq!(c.write(m), 1);
        }
        assert_eq!(sub.lines(), ["relay/out a", "relay/out b", "relay/out c"]);
        // A third party's publication to the topic is not delivered either.
        b.publish("relay/out", &["d".into()]);
        // (A subscribed connection has its own three back within
        // milliseconds: see round_trip_both_ways_with_mosquitto_clients.)
        assert!(c.read_timeout(ms(1000)).is_none());
        let s = c.stats();
        assert_eq!((s.received, s.sent, s.dropped), (0, 3, 0));
        assert!(c.is_connected());
    });
}

/// `stats().sent` of a broker counts what the client crate took to send, not
/// what the broker has: here a broker that accepts the connection and then
/// reads nothing, nor acknowledges the QoS 1 publications, still leaves
/// `sent` at 3 as soon as the three writes return.
#[test]
fn sent_counts_what_the_client_took_not_what_the_broker_acknowledged() {
    use std::io::{Read, Write};
    within(ms(20_000), || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let broker = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // CONNECT: type byte, remaining length (variable-length), body.
            let mut byte = [0u8; 1];
            s.read_exact(&mut byte).unwrap();
            assert_eq!(byte[0], 0x10, "not a CONNECT");
            let (mut len, mut shift) = (0usize, 0);
            loop {
                s.read_exact(&mut byte).unwrap();
                len |= usize::from(byte[0] & 0x7f) << shift;
                shift += 7;
                if byte[0] & 0x80 == 0 {
                    break;
                }
            }
            let mut body = vec![0u8; len];
            s.read_exact(&mut body).unwrap();
            // CONNACK, session not present, accepted; then nothing is read.
            s.write_all(&[0x20, 0x02, 0x00, 0x00]).unwrap();
            let _ = done_rx.recv_timeout(ms(15_000));
        });
        let c = wsdial::dial(&format!(
            "mqtt://127.0.0.1:{port}?topic=t&qos=1&consume=false|timeout=5000"
        ))
        .unwrap();
        for m in ["a", "b", "c"] {
            assert_eq!(c.write(m), 1);
        }
        // Writes made while the session is still sending its greeting wait
        // in wsdial's outbox and are counted when handed to rumqttc: wait for
        // that, while the broker still has read nothing and acknowledged nothing.
        eventually(ms(5_000), "three writes taken by rumqttc", || {
            c.stats().sent == 3
        });
        let s = c.stats();
        assert_eq!((s.sent, s.unsent), (3, 0));
        done_tx.send(()).unwrap();
        broker.join().unwrap();
        c.close();
    });
}
