//! A NATS subject through the same calls as a WebSocket: `nats://`.
//! Publishes COUNT numbered lines to the subject and reads them back (NATS
//! hands a publisher's messages to its own subscription too), printing each
//! with its subject; reconnects by itself if the server goes away.
//!
//! Needs a nats-server (`nats-server -a 127.0.0.1`), then
//! `cargo run --features nats --example nats [nats://127.0.0.1:4222?topic=demo.ticks] [COUNT]`.
use std::time::Duration;
use wsdial::Event;

fn main() -> Result<(), wsdial::Error> {
    let mut args = std::env::args().skip(1);
    let target = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222?topic=demo.ticks".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);

    let conn = wsdial::dial(&format!("{target}|reconnect=true"))?;
    for i in 0..count {
        conn.write(&format!("tick {i}"));
    }
    let mut got = 0;
    while got < count {
        match conn.read_timeout(Duration::from_secs(5)) {
            Some(Event::Message(m)) => {
                got += 1;
                println!(
                    "{} {}",
                    m.topic().unwrap_or("?"),
                    m.as_text().unwrap_or("<binary>")
                );
            }
            Some(Event::Disconnected(why)) => eprintln!("disconnected: {why}"),
            None => {
                eprintln!("nothing in 5 s");
                break;
            }
        }
    }
    let s = conn.stats();
    println!(
        "received {} sent {} dropped {}",
        s.received, s.sent, s.dropped
    );
    conn.close();
    Ok(())
}
