//! The relay into MQTT, NATS and AMQP: the simulator's feed (`wsdial serve`,
//! each message's `seq` counting from 0) relayed with `--to` into a real
//! broker, read back by the protocol's third-party consumer (mosquitto_sub,
//! nats-py, pika), with sequence numbers showing every message arrived once
//! and in order while the relay's totals say nothing was dropped or unsent.
//! (Kafka: relay_kafka.rs.) The consumers subscribe before the relay starts:
//! MQTT and NATS core keep nothing for a subscriber that is not there yet.
#[path = "../../tests/common/amqp.rs"]
mod amqp;
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/common/mosquitto.rs"]
mod mosquitto;
#[path = "../../tests/common/nats.rs"]
mod nats;
mod support;
use common::{ms, within};
use support::{assert_every_seq_once_in_order, assert_to_received_nothing, relay_feed, seq};

/// Messages relayed in each test, and the simulator's rate (messages/s).
const N: u64 = 1000;
const RATE: u32 = 2000;

/// The `seq` of each of a consumer's first `n` lines: until it has `n` or
/// ends (it gives up after its own deadline), so what is missing is shown.
fn first_seqs(lines: &mut impl Iterator<Item = std::io::Result<String>>, n: u64) -> Vec<u64> {
    lines.take(n as usize).map(|l| seq(&l.unwrap())).collect()
}

/// The `seq` of each of mosquitto_sub's `-v` lines ("TOPIC PAYLOAD").
fn topic_seqs(lines: &[String], topic: &str) -> Vec<u64> {
    lines
        .iter()
        .map(|l| {
            let payload = l
                .strip_prefix(topic)
                .and_then(|p| p.strip_prefix(' '))
                .unwrap_or_else(|| panic!("not on {topic}: {l}"));
            seq(payload)
        })
        .collect()
}

#[test]
fn the_feed_into_mqtt_at_qos_1_that_three_mosquitto_subs_read() {
    within(ms(120_000), || {
        let b = mosquitto::Mosquitto::start();
        let topic = "relay/feed";
        // QoS 1 subscriptions, subscribed (SUBACK) before the relay starts.
        let subs: Vec<_> = (0..3)
            .map(|_| b.subscriber_qos(topic, N as usize, 1, 60))
            .collect();
        let o = relay_feed(&format!("{}&qos=1", b.url(topic)), RATE, N);
        // Dialed publish-only: none of the N came back to TO.
        assert_to_received_nothing(&o);
        for (i, sub) in subs.into_iter().enumerate() {
            let (lines, qos) = sub.received();
            let seqs = topic_seqs(&lines, topic);
            assert_every_seq_once_in_order(&format!("mosquitto_sub {i}"), &seqs, N);
            // Delivered at the lower of the publish's and the subscription's
            // QoS: 1 only if the relay published at the `qos=1` its TO says.
            assert_eq!(qos.len(), N as usize, "mosquitto_sub {i}: {qos:?}");
            assert!(
                qos.iter().all(|&q| q == 1),
                "mosquitto_sub {i}: the relay published below QoS 1: {qos:?}"
            );
        }
    })
}

#[test]
fn the_feed_into_a_nats_subject_that_three_nats_py_subscribers_read() {
    within(ms(120_000), || {
        let server = nats::Nats::start();
        let subject = "relay.feed";
        let mut subs: Vec<_> = (0..3)
            .map(|_| nats::PyNats::run(&server, &["sub", subject, &N.to_string()]))
            .collect();
        for s in &mut subs {
            assert_eq!(s.line(), "ready");
        }
        let o = relay_feed(&server.url(subject), RATE, N);
        // Dialed publish-only: none of the N came back to TO (NATS echoes).
        assert_to_received_nothing(&o);
        for (i, mut s) in subs.into_iter().enumerate() {
            let seqs = first_seqs(&mut s.lines, N);
            assert_every_seq_once_in_order(&format!("nats-py {i}"), &seqs, N);
            assert!(s.wait(), "nats-py {i} failed");
        }
    })
}

#[test]
fn the_feed_into_an_amqp_queue_that_pika_consumes() {
    within(ms(120_000), || {
        let r = amqp::Rabbit::get();
        let q = format!("wsdial-relay-{}-{}", std::process::id(), amqp::free_port());
        // pika declares the queue and consumes it before the relay starts.
        let mut consumer = amqp::Pika::run(&r, &["sub", &q, &N.to_string()]);
        assert_eq!(consumer.line(), "ready");
        // The address as a user writes it: the relay's own connection to the
        // queue must not consume (and so take a share of) what it publishes.
        let o = relay_feed(&r.url(&q), RATE, N);
        assert_to_received_nothing(&o);
        let seqs = first_seqs(&mut consumer.lines, N);
        assert_every_seq_once_in_order("pika", &seqs, N);
        assert!(consumer.wait(), "pika failed");
    })
}

/// The words of a shell command line of the README (`'…'` quoting only).
fn words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => (quoted, any) = (!quoted, true),
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    assert!(!quoted, "unbalanced quote in {line:?}");
    if any {
        words.push(word);
    }
    words
}

#[test]
fn the_readme_relay_into_mqtt_runs_as_written() {
    within(ms(120_000), || {
        let readme = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
        )
        .unwrap();
        let line = readme
            .lines()
            .find(|l| l.starts_with("wsdial ") && l.contains("--to 'mqtt://"))
            .expect("the README's relay section has a relay into MQTT");
        // Its comment line says how to read it back.
        let comment = readme.lines().take_while(|l| *l != line).last().unwrap();
        assert!(
            comment.contains("mosquitto_sub -t feed/binance -q 1"),
            "{comment}"
        );
        let b = mosquitto::Mosquitto::start();
        let s = support::Serve::start(&["--rate", "1000"]);
        let n = 200;
        let sub = b.subscriber_qos("feed/binance", n, 1, 60);
        // The README's addresses, with this test's ports (and the broker's user).
        let args: Vec<String> = words(line)[1..]
            .iter()
            .map(|w| {
                w.replace("ws://127.0.0.1:9001", &s.base).replace(
                    "mqtt://127.0.0.1:1883",
                    &format!(
                        "mqtt://{}:{}@127.0.0.1:{}",
                        mosquitto::USER,
                        mosquitto::PASS,
                        b.port
                    ),
                )
            })
            .collect();
        assert!(args.iter().any(|a| a == "--stats"), "{line}");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        support::relay_n(&args, n as u64);
        let (lines, qos) = sub.received();
        let seqs = topic_seqs(&lines, "feed/binance");
        assert_every_seq_once_in_order("mosquitto_sub", &seqs, n as u64);
        assert!(qos.iter().all(|&q| q == 1), "{qos:?}");
    })
}

#[test]
fn a_to_that_would_take_a_share_of_what_others_read_is_refused() {
    within(ms(60_000), || {
        // Refused before anything is dialed (nothing listens on port 1).
        for (to, says) in [
            ("amqp://127.0.0.1:1/?queue=q&consume=true", "consume=true"),
            ("nats://127.0.0.1:1?topic=s&queue=g", "queue="),
            ("kafka://127.0.0.1:1/t?group=g", "group="),
            ("kafka://127.0.0.1:1/t?offset=earliest", "offset="),
        ] {
            let mut c = support::bin();
            c.args(["ws://127.0.0.1:1/", "--to", to]);
            let o = support::run(c, None, ms(20_000));
            assert_eq!(o.status.code(), Some(2), "{to}: {o:?}");
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains(&format!("TO {to}: {says}")) && err.contains("leave it out of TO"),
                "{to}: {err}"
            );
        }
        // The refusal names TO with its password masked.
        let mut c = support::bin();
        c.args([
            "ws://127.0.0.1:1/",
            "--to",
            "nats://bob:s3cret@127.0.0.1:1?topic=s&queue=g",
        ]);
        let o = support::run(c, None, ms(20_000));
        assert_eq!(o.status.code(), Some(2), "{o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("TO nats://bob:***@127.0.0.1:1?topic=s&queue=g: queue="),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    })
}
