//! A Binance-style ticker: text frames; the server's protocol Pings are answered
//! by wsdial's background thread, whatever the program is doing.
//!
//! Run `cargo run --release -- serve` in one terminal, then
//! `cargo run --example binance_ticker [BASE_URL] [COUNT]`.
use wsdial::Event;

fn main() -> Result<(), wsdial::Error> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);

    // Real Binance: wss://stream.binance.com:9443/ws/btcusdt@ticker|reconnect=true
    let feed = wsdial::dial(&format!("{base}/binance|reconnect=true&idle=60000"))?;
    let mut seen = 0;
    while seen < count {
        match feed.read() {
            Event::Message(m) => {
                let v: serde_json::Value =
                    serde_json::from_str(m.as_text().unwrap_or("{}")).unwrap_or_default();
                println!(
                    "{} last price {}",
                    v["s"].as_str().unwrap_or("?"),
                    v["c"].as_str().unwrap_or("?")
                );
                seen += 1;
            }
            Event::Disconnected(why) => eprintln!("disconnected: {why}; reconnecting"),
        }
    }
    println!("stats: {:?}", feed.stats());
    Ok(())
}
