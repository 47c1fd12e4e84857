//! Kafka clients for scripts/bench (bench/kafka.py runs them against tansu):
//!
//!   kafka-bench produce BOOTSTRAP TOPIC N SIZE   loads N messages of SIZE bytes (BaseProducer)
//!   kafka-bench wsdial BOOTSTRAP TOPIC N         wsdial's read loop: messages/s reading N
//!   kafka-bench rdkafka BOOTSTRAP TOPIC N        rdkafka's BaseConsumer used directly, the same N
//!
//! Both readers start at offset 0 of every partition and print messages/s
//! from the first message to the Nth (the dial and the assignment excluded).
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

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

fn wsdial_read(bootstrap: &str, topic: &str, n: usize) -> f64 {
    // A buffer as large as the load: the reading is measured, not drops (a
    // run with drops fails).
    let url = format!("kafka://{bootstrap}/{topic}?offset=earliest|qsize={n}&qbytes=1000000000");
    let conn = wsdial::dial(&url).unwrap();
    let first = conn.read_timeout(Duration::from_secs(30)).expect("first message");
    assert!(first.message().is_some());
    let start = Instant::now();
    let mut got = 1;
    while got < n {
        match conn.read_timeout(Duration::from_secs(30)) {
            Some(wsdial::Event::Message(m)) => {
                std::hint::black_box(m.as_bytes());
                got += 1;
            }
            other => panic!("after {got}: {other:?}"),
        }
    }
    assert_eq!(conn.stats().dropped, 0);
    (n - 1) as f64 / start.elapsed().as_secs_f64()
}

fn rdkafka_read(bootstrap: &str, topic: &str, n: usize) -> f64 {
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
    let mut start = Instant::now();
    while got < n {
        match c.poll(Duration::from_secs(30)) {
            Some(Ok(m)) => {
                std::hint::black_box(m.payload());
                if got == 0 {
                    start = Instant::now();
                }
                got += 1;
            }
            Some(Err(e)) => eprintln!("rdkafka: {e}"),
            None => panic!("nothing for 30 s after {got}"),
        }
    }
    (n - 1) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let n = |i: usize| a[i].parse::<usize>().unwrap();
    match a.first().map(String::as_str) {
        Some("produce") => produce(&a[1], &a[2], n(3), n(4)),
        Some("wsdial") => println!("{}", wsdial_read(&a[1], &a[2], n(3))),
        Some("rdkafka") => println!("{}", rdkafka_read(&a[1], &a[2], n(3))),
        _ => {
            eprintln!("usage: kafka-bench produce|wsdial|rdkafka BOOTSTRAP TOPIC N [SIZE]");
            std::process::exit(2);
        }
    }
}
