//! Bots talking through an MQTT broker with the same calls as a WebSocket:
//! one connection reads every bot's signals through a wildcard topic
//! (`bots/+/signals`: read only, a write to it returns 0), another publishes
//! this bot's signals to its own topic. Each message says which topic it
//! came from.
//!
//! With a broker on 127.0.0.1:1883 (`mosquitto`, say):
//! `cargo run --example mqtt --features mqtt [mqtt://[user:pass@]127.0.0.1:1883] [COUNT]`.
use std::time::Duration;
use wsdial::Event;

fn main() -> Result<(), wsdial::Error> {
    let mut args = std::env::args().skip(1);
    let broker = args
        .next()
        .unwrap_or_else(|| "mqtt://127.0.0.1:1883".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);

    // `+` is MQTT's one-level wildcard; it stays `+` in the address.
    let signals = wsdial::dial(&format!(
        "{broker}?topic=bots/+/signals&qos=1|reconnect=true"
    ))?;
    let me = wsdial::dial(&format!(
        "{broker}?topic=bots/alpha/signals&qos=1|reconnect=true"
    ))?;
    assert_eq!(
        signals.write("ignored"),
        0,
        "a wildcard names no topic to publish to"
    );

    for i in 0..count {
        me.write(&format!(r#"{{"bot":"alpha","seq":{i},"side":"buy"}}"#));
    }
    let mut seen = 0;
    while seen < count {
        match signals.read_timeout(Duration::from_secs(5)) {
            Some(Event::Message(m)) => {
                println!(
                    "{} {}",
                    m.topic().unwrap_or("?"),
                    m.as_text().unwrap_or("<binary>")
                );
                seen += 1;
            }
            Some(Event::Disconnected(why)) => eprintln!("lost: {why}; reconnecting"),
            None => {
                eprintln!("nothing in 5 s");
                break;
            }
        }
    }
    let s = signals.stats();
    eprintln!(
        "received {} dropped {} reconnects {}",
        s.received, s.dropped, s.reconnects
    );
    Ok(())
}
