//! A Kafka topic with the same calls (cargo feature `kafka`): a read is the
//! next record of the topic, with its partition and offset beside the
//! payload; a write publishes to the topic.
//!
//! Against a Kafka-compatible broker on 127.0.0.1:9092 with a topic `ticks`:
//! `cargo run --example kafka --features kafka [kafka://127.0.0.1:9092/ticks] [COUNT]`.
//! It publishes COUNT ticks and reads them back (with `reconnect=true`, a
//! broker restart is one `Disconnected` and the reading goes on).
use std::time::Duration;
use wsdial::Event;

fn main() -> Result<(), wsdial::Error> {
    let mut args = std::env::args().skip(1);
    let target = args
        .next()
        .unwrap_or_else(|| "kafka://127.0.0.1:9092/ticks".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);

    let conn = wsdial::dial(&format!("{target}|reconnect=true"))?;
    for i in 0..count {
        conn.write(&format!(r#"{{"seq":{i},"px":"{}.5"}}"#, 100 + i));
    }
    let mut read = 0;
    while read < count {
        match conn.read_timeout(Duration::from_secs(10)) {
            Some(Event::Message(m)) => {
                read += 1;
                println!(
                    "{} partition {} offset {}: {}",
                    m.topic().unwrap_or("?"),
                    m.partition().unwrap_or(-1),
                    m.offset().unwrap_or(-1),
                    String::from_utf8_lossy(m.as_bytes())
                );
            }
            Some(Event::Disconnected(why)) => eprintln!("disconnected: {why}"),
            None => {
                eprintln!("nothing in 10 s");
                break;
            }
        }
    }
    let st = conn.stats();
    eprintln!(
        "received {} sent {} dropped {}",
        st.received, st.sent, st.dropped
    );
    Ok(())
}
