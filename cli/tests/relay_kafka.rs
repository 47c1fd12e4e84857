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
use support::{assert_every_seq_once_in_order, assert_to_received_nothing, relay_feed, seq};
use tansu::{python_consume, Tansu};

#[test]
fn the_feed_into_a_kafka_topic_that_three_consumers_read() {
    within(ms(120_000), || {
        let t = Tansu::start();
        // One partition: the topic keeps the feed's order.
        t.create_topic("feed", 1);
        let o = relay_feed(&t.url("feed", ""), 2000, 600);
        // Dialed publish-only: none of the 600 was read back by TO.
        assert_to_received_nothing(&o);
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
            assert_every_seq_once_in_order(&format!("consumer {i}"), &seqs, 600);
        }
    })
}
