//! The relay into a broker: the simulator's feed into a Kafka topic on tansu
//! (a Kafka-compatible broker on a free 127.0.0.1 port, installed by
//! scripts/peers.d/kafka.sh), read back by three third-party consumers
//! (confluent-kafka, Python) with sequence numbers showing nothing lost.
#[path = "../../tests/common/mod.rs"]
mod common;
mod support;
#[path = "../../tests/common/tansu.rs"]
mod tansu;
use common::{ms, within};
use support::{bin, run, seq, totals, Serve};
use tansu::{python_consume, Tansu};

#[test]
fn the_feed_into_a_kafka_topic_that_three_consumers_read() {
    within(ms(120_000), || {
        let t = Tansu::start();
        // One partition: the topic keeps the feed's order.
        t.create_topic("feed", 1);
        let s = Serve::start(&["--rate", "2000"]);
        let mut c = bin();
        c.args([
            &format!("{}/binance", s.base),
            "--to",
            &t.url("feed", ""),
            "-n",
            "600",
            "--stats",
        ]);
        let o = run(c, None, ms(60_000));
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let total = totals(&o);
        assert!(
            total.starts_with("relayed 600  dropped 0  unsent 0  "),
            "{total}"
        );
        let bootstrap = t.bootstrap();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let b = bootstrap.clone();
                std::thread::spawn(move || python_consume(&b, "feed", 600, 30))
            })
            .collect();
        for (i, r) in readers.into_iter().enumerate() {
            let got = r.join().unwrap();
            let seqs: Vec<u64> = got.iter().map(|l| seq(l)).collect();
            assert_eq!(
                seqs,
                (0..600).collect::<Vec<u64>>(),
                "consumer {i}: every message once, in order"
            );
        }
    })
}
