//! MQTT, NATS and AMQP clients for scripts/bench (bench/brokers.py runs them
//! against mosquitto, nats-server and RabbitMQ on 127.0.0.1):
//!
//!   broker-bench publish SCHEME TARGET N SIZE   the load: markers until a line on stdin, then N messages of SIZE bytes
//!   broker-bench wsdial SCHEME TARGET N SIZE    wsdial's read loop (`dial`, `read_timeout`)
//!   broker-bench direct SCHEME TARGET N SIZE    the client crate wsdial uses, directly
//!   broker-bench fill amqp TARGET N SIZE        a backlog: N messages of SIZE bytes put in the queue
//!                                               (publisher confirms), exits once the queue holds them all
//!
//! `BENCH_RATE=MSGS_PER_S` paces the NATS publisher (bursts of 100) instead
//! of flooding: a load every reader keeps up with.
//!
//! SCHEME is mqtt, nats or amqp; TARGET is `host:port` (mqtt, nats) or
//! `host:port/QUEUE` (amqp). The topic / subject is `bench`; MQTT is QoS 0
//! both ways. Until it reads a line on stdin, the publisher sends a 1-byte
//! marker every 20 ms; a reader prints `ready` at its first marker (it is
//! subscribed), then counts messages of SIZE bytes (markers are skipped) and
//! prints `GOT SECONDS CPU_SECONDS`: how many of the N it got, the time from
//! the first message of the load to the last it got, and the process's CPU
//! time (all threads, user + system) from the first message on. A reader that sees nothing for 10 s stops and
//! prints what it got (the driver reports the loss).
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

const TOPIC: &str = "bench";
const MARKER: &[u8] = b"m";
const SILENCE: Duration = Duration::from_secs(10);

/// This process's CPU time so far, all threads, user + system.
fn cpu() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let u = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr());
        u.assume_init()
    };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Counts the load's messages as a reader sees them; prints `ready` at the
/// first marker and the result at the end.
struct Count {
    n: usize,
    size: usize,
    ready: bool,
    got: usize,
    start: Option<(Instant, f64)>,
    /// When the last message of the load came (the span ends there, not
    /// after the silence of a reader that lost some).
    last: Option<Instant>,
}

impl Count {
    fn new(n: usize, size: usize) -> Count {
        Count {
            n,
            size,
            ready: false,
            got: 0,
            start: None,
            last: None,
        }
    }
    /// One payload; true once the N messages are in.
    fn see(&mut self, payload: &[u8]) -> bool {
        std::hint::black_box(payload);
        if payload.len() == self.size {
            if self.got == 0 {
                self.start = Some((Instant::now(), cpu()));
            }
            self.got += 1;
            self.last = Some(Instant::now());
        } else if !self.ready && payload == MARKER {
            self.ready = true;
            println!("ready");
            std::io::stdout().flush().unwrap();
        }
        self.got >= self.n
    }
    fn report(&self) {
        // The CPU up to now: a reader waiting out the silence is blocked.
        let (secs, cpu_s) = match (self.start, self.last) {
            (Some((t, c)), Some(last)) => ((last - t).as_secs_f64(), cpu() - c),
            _ => (0.0, 0.0),
        };
        println!("{} {secs} {cpu_s}", self.got);
    }
}

fn amqp_target(target: &str) -> (&str, &str) {
    target
        .split_once('/')
        .expect("amqp target: host:port/QUEUE")
}

fn wsdial_read(scheme: &str, target: &str, n: usize, size: usize) {
    // A buffer as large as the load: the reading is measured, not drops.
    let buffer = format!("qsize={}&qbytes=1000000000", n + 1000);
    let url = match scheme {
        "mqtt" => format!("mqtt://{target}?topic={TOPIC}&qos=0|{buffer}"),
        "nats" => format!("nats://{target}?topic={TOPIC}|{buffer}"),
        "amqp" => {
            let (host, queue) = amqp_target(target);
            format!("amqp://alice:s3cret@{host}/?queue={queue}|{buffer}")
        }
        _ => panic!("scheme {scheme}"),
    };
    let conn = wsdial::dial(&url).unwrap();
    let mut count = Count::new(n, size);
    loop {
        match conn.read_timeout(SILENCE) {
            Some(wsdial::Event::Message(m)) => {
                if count.see(m.as_bytes()) {
                    break;
                }
            }
            None => break,
            other => panic!("after {}: {other:?}", count.got),
        }
    }
    count.report();
    // The bench's "lost" column counts what did not arrive; what wsdial (or
    // the client crate under it) dropped is also counted by wsdial itself.
    let dropped = conn.stats().dropped;
    if dropped > 0 {
        eprintln!("broker-bench: wsdial counted {dropped} dropped messages");
    }
}

fn mqtt_options(target: &str, id: &str) -> rumqttc::MqttOptions {
    let (host, port) = target.rsplit_once(':').unwrap();
    let mut o = rumqttc::MqttOptions::new(id, host, port.parse().unwrap());
    o.set_keep_alive(Duration::from_secs(30));
    o
}

fn mqtt_direct(target: &str, n: usize, size: usize) {
    use rumqttc::{Client, Event, Packet, QoS};
    let (client, mut connection) = Client::new(mqtt_options(target, "bench-direct"), 1024);
    client.subscribe(TOPIC, QoS::AtMostOnce).unwrap();
    let mut count = Count::new(n, size);
    loop {
        match connection.recv_timeout(SILENCE) {
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                if count.see(&p.payload) {
                    break;
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("rumqttc: {e}"),
            Err(_) => break,
        }
    }
    count.report();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The subscription capacity of both NATS readers: wsdial's nats:// gives
/// async-nats's subscription the larger of its `qsize` and 65,536 (the
/// client's default), and its reader here has `qsize` = N + 1000; the direct
/// reader is given the same, so neither has more room than the other.
fn nats_capacity(n: usize) -> usize {
    (n + 1000).max(65_536)
}

async fn nats_direct(target: &str, n: usize, size: usize) {
    let client = async_nats::ConnectOptions::new()
        .subscription_capacity(nats_capacity(n))
        .connect(format!("nats://{target}"))
        .await
        .unwrap();
    let mut sub = client.subscribe(TOPIC).await.unwrap();
    let mut count = Count::new(n, size);
    while let Ok(Some(m)) = tokio::time::timeout(SILENCE, sub.next()).await {
        if count.see(&m.payload) {
            break;
        }
    }
    count.report();
}

async fn amqp_connect(host: &str) -> lapin::Channel {
    let uri = format!("amqp://alice:s3cret@{host}/%2f");
    let conn = lapin::Connection::connect(&uri, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    // Leaked: the connection lives as long as the process.
    let ch = conn.create_channel().await.unwrap();
    std::mem::forget(conn);
    ch
}

/// As wsdial's amqp:// reads: the queue declared, prefetch 1000, deliveries
/// acknowledged 64 at a time (`multiple`).
async fn amqp_direct(target: &str, n: usize, size: usize) {
    use lapin::options::{
        BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions,
    };
    use lapin::types::FieldTable;
    let (host, queue) = amqp_target(target);
    let ch = amqp_connect(host).await;
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.basic_qos(1000, BasicQosOptions::default())
        .await
        .unwrap();
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut count = Count::new(n, size);
    let mut pending = 0;
    while let Ok(Some(d)) = tokio::time::timeout(SILENCE, consumer.next()).await {
        let d = d.unwrap();
        let done = count.see(&d.data);
        pending += 1;
        if pending == 64 || done {
            ch.basic_ack(d.delivery_tag, BasicAckOptions { multiple: true })
                .await
                .unwrap();
            pending = 0;
        }
        if done {
            break;
        }
    }
    count.report();
}

/// Messages per burst of a paced load.
const BURST: usize = 100;

/// `BENCH_RATE=MSGS_PER_S` in the environment: the publisher paces the load
/// (NATS only), in bursts of [`BURST`]; unset, it floods.
fn pace() -> Option<f64> {
    let rate: f64 = std::env::var("BENCH_RATE").ok()?.parse().ok()?;
    (rate > 0.0).then_some(rate)
}

fn publish(scheme: &str, target: &str, n: usize, size: usize) {
    // Markers every 20 ms until the driver writes a line (every reader is subscribed).
    let go = Arc::new(AtomicBool::new(false));
    let g = go.clone();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        g.store(true, Ordering::Release);
    });
    let payload = vec![b'x'; size];
    let tick = Duration::from_millis(20);
    match scheme {
        "mqtt" => {
            use rumqttc::{Client, QoS};
            let (client, mut connection) =
                Client::new(mqtt_options(target, "bench-publisher"), 1024);
            let events = std::thread::spawn(move || {
                for e in connection.iter() {
                    if e.is_err() {
                        break;
                    }
                }
            });
            while !go.load(Ordering::Acquire) {
                client
                    .publish(TOPIC, QoS::AtMostOnce, false, MARKER)
                    .unwrap();
                std::thread::sleep(tick);
            }
            for _ in 0..n {
                client
                    .publish(TOPIC, QoS::AtMostOnce, false, payload.clone())
                    .unwrap();
            }
            // After every publish in the queue: the disconnect ends the event loop.
            client.disconnect().unwrap();
            events.join().unwrap();
        }
        "nats" => runtime().block_on(async {
            let client = async_nats::connect(format!("nats://{target}"))
                .await
                .unwrap();
            while !go.load(Ordering::Acquire) {
                client
                    .publish(TOPIC, bytes::Bytes::from_static(MARKER))
                    .await
                    .unwrap();
                client.flush().await.unwrap();
                tokio::time::sleep(tick).await;
            }
            let payload = bytes::Bytes::from(payload);
            match pace() {
                None => {
                    for _ in 0..n {
                        client.publish(TOPIC, payload.clone()).await.unwrap();
                    }
                }
                Some(rate) => {
                    // Bursts of BURST, each flushed, the k-th not before
                    // k * BURST / rate seconds from the start.
                    let start = tokio::time::Instant::now();
                    let mut sent = 0;
                    while sent < n {
                        let burst = BURST.min(n - sent);
                        for _ in 0..burst {
                            client.publish(TOPIC, payload.clone()).await.unwrap();
                        }
                        client.flush().await.unwrap();
                        sent += burst;
                        let due = Duration::from_secs_f64(sent as f64 / rate);
                        tokio::time::sleep_until(start + due).await;
                    }
                }
            }
            client.flush().await.unwrap();
        }),
        "amqp" => runtime().block_on(async {
            use lapin::options::BasicPublishOptions;
            let (host, queue) = amqp_target(target);
            let ch = amqp_connect(host).await;
            let p = |m: Vec<u8>| {
                let ch = ch.clone();
                async move {
                    ch.basic_publish(
                        "".into(),
                        queue.into(),
                        BasicPublishOptions::default(),
                        &m,
                        lapin::BasicProperties::default(),
                    )
                    .await
                    .unwrap();
                }
            };
            while !go.load(Ordering::Acquire) {
                p(MARKER.to_vec()).await;
                tokio::time::sleep(tick).await;
            }
            for _ in 0..n {
                p(payload.clone()).await;
            }
            ch.close(200, "bye".into()).await.unwrap();
        }),
        _ => panic!("scheme {scheme}"),
    }
}

/// `fill`: the queue (declared as the readers declare it) holds N messages
/// of SIZE bytes, every one confirmed by RabbitMQ, when this returns; a
/// reader started afterwards drains a backlog, as fast as it can.
async fn amqp_fill(target: &str, n: usize, size: usize) {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    let (host, queue) = amqp_target(target);
    let ch = amqp_connect(host).await;
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(q.message_count(), 0, "queue {queue} is not empty");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let payload = vec![b'x'; size];
    for _ in 0..n {
        // The confirm is awaited below, all at once.
        let _ = ch
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &payload,
                lapin::BasicProperties::default(),
            )
            .await
            .unwrap();
    }
    let returned = ch.wait_for_confirms().await.unwrap();
    assert!(returned.is_empty(), "{} messages returned", returned.len());
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        q.message_count() as usize,
        n,
        "queue {queue} after the fill"
    );
    ch.close(200, "bye".into()).await.unwrap();
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 5 {
        eprintln!("usage: broker-bench publish|wsdial|direct mqtt|nats|amqp TARGET N SIZE, or fill amqp TARGET N SIZE");
        std::process::exit(2);
    }
    let (scheme, target) = (a[1].as_str(), a[2].as_str());
    let (n, size) = (a[3].parse().unwrap(), a[4].parse().unwrap());
    match (a[0].as_str(), scheme) {
        ("publish", _) => publish(scheme, target, n, size),
        ("fill", "amqp") => runtime().block_on(amqp_fill(target, n, size)),
        ("wsdial", _) => wsdial_read(scheme, target, n, size),
        ("direct", "mqtt") => mqtt_direct(target, n, size),
        ("direct", "nats") => runtime().block_on(nats_direct(target, n, size)),
        ("direct", "amqp") => runtime().block_on(amqp_direct(target, n, size)),
        _ => {
            eprintln!("usage: broker-bench publish|wsdial|direct mqtt|nats|amqp TARGET N SIZE, or fill amqp TARGET N SIZE");
            std::process::exit(2);
        }
    }
}
