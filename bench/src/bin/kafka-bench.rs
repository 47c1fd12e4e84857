//! Kafka clients for scripts/bench (bench/kafka.py runs them against tansu):
//!
//!   kafka-bench produce BOOTSTRAP TOPIC N SIZE   loads N messages of SIZE bytes (BaseProducer)
//!   kafka-bench wsdial BOOTSTRAP TOPIC N         wsdial's read loop: messages/s reading N
//!   kafka-bench rdkafka BOOTSTRAP TOPIC N        rdkafka's BaseConsumer used directly, the same N
//!
//! Both readers start at offset 0 of every partition and print `RATE CPU`:
//! messages/s from the first message to the Nth (the dial and the assignment
//! excluded), and the process's CPU seconds (user + system, every thread,
//! librdkafka's included) over the same span. Each reader looks at what a
//! program reading Kafka wants of every message: its payload, topic,
//! partition and offset.
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// The process's CPU seconds so far (user + system, every thread).
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

fn produce(bootstrap: &str, topic: &str, n: usize, size: usize) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .create()
        .unwrap();
    let payload = vec![b'x'; size];
    for _ in 0..n {
        loop {
            match p.send(BaseRecord::<(), [u8]>::to(topic).payload(&payload)) {
                Ok(()) => break,
                Err(_) => p.poll(Duration::from_millis(10)),
            }
        }
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(60)).unwrap();
}

fn wsdial_read(bootstrap: &str, topic: &str, n: usize) -> (f64, f64) {
    // A buffer as large as the load: the reading is measured, not drops (a
    // run with drops fails).
    let url = format!("kafka://{bootstrap}/{topic}?offset=earliest|qsize={n}&qbytes=1000000000");
    let conn = wsdial::dial(&url).unwrap();
    let first = conn.read_timeout(Duration::from_secs(30)).expect("first message");
    assert!(first.message().is_some());
    let (start, cpu0) = (Instant::now(), cpu());
    let mut got = 1;
    while got < n {
        match conn.read_timeout(Duration::from_secs(30)) {
            Some(wsdial::Event::Message(m)) => {
                std::hint::black_box((m.as_bytes(), m.topic(), m.partition(), m.offset()));
                got += 1;
            }
            other => panic!("after {got}: {other:?}"),
        }
    }
    let (secs, cpu) = (start.elapsed().as_secs_f64(), cpu() - cpu0);
    assert_eq!(conn.stats().dropped, 0);
    ((n - 1) as f64 / secs, cpu)
}

fn rdkafka_read(bootstrap: &str, topic: &str, n: usize) -> (f64, f64) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning).unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut got = 0;
    let (mut start, mut cpu0) = (Instant::now(), 0.0);
    while got < n {
        match c.poll(Duration::from_secs(30)) {
            Some(Ok(m)) => {
                std::hint::black_box((m.payload(), m.topic(), m.partition(), m.offset()));
                if got == 0 {
                    (start, cpu0) = (Instant::now(), cpu());
                }
                got += 1;
            }
            Some(Err(e)) => eprintln!("rdkafka: {e}"),
            None => panic!("nothing for 30 s after {got}"),
        }
    }
    ((n - 1) as f64 / start.elapsed().as_secs_f64(), cpu() - cpu0)
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let n = |i: usize| a[i].parse::<usize>().unwrap();
    match a.first().map(String::as_str) {
        Some("produce") => produce(&a[1], &a[2], n(3), n(4)),
        Some("wsdial") => {
            let (rate, cpu) = wsdial_read(&a[1], &a[2], n(3));
            println!("{rate} {cpu}");
        }
        Some("rdkafka") => {
            let (rate, cpu) = rdkafka_read(&a[1], &a[2], n(3));
            println!("{rate} {cpu}");
        }
        _ => {
            eprintln!("usage: kafka-bench produce|wsdial|rdkafka BOOTSTRAP TOPIC N [SIZE]");
            std::process::exit(2);
        }
    }
}
