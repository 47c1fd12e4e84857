//! A raw TCP line protocol with the same calls: `tcp://host:port`. A read
//! returns the bytes that arrived (not lines), so this keeps a line buffer.
//!
//! `cargo run --release -- serve` (its raw TCP service is on port 9002), then
//! `cargo run --example raw_tcp [tcp://127.0.0.1:9002] [COUNT]`.
use std::time::Duration;
use wsdial::Event;

fn main() -> Result<(), wsdial::Error> {
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_else(|| "tcp://127.0.0.1:9002".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(5);

    let conn = wsdial::dial(&format!("{target}|reconnect=true&idle=30000"))?;
    let mut buf: Vec<u8> = Vec::new();
    let mut answers = 0;
    conn.write("QUOTE BTCUSDT\n");
    while answers < count {
        match conn.read_timeout(Duration::from_secs(5)) {
            Some(Event::Message(m)) => buf.extend_from_slice(m.as_bytes()),
            Some(Event::Disconnected(why)) => {
                eprintln!("disconnected: {why}");
                buf.clear();
                continue;
            }
            None => {
                eprintln!("no answer in 5 s");
                continue;
            }
        }
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line[..nl]).into_owned();
            println!("< {line}");
            if line.starts_with("QUOTE") {
                answers += 1;
                if answers < count {
                    conn.write("QUOTE BTCUSDT\n");
                }
            }
        }
    }
    Ok(())
}
