//! An OKX v5-style feed: text frames, and the client must send the text `ping`
//! every < 30 s (the server answers `pong`). `ping=…&ping_msg=ping` does it.
//!
//! `cargo run --release -- serve`, then `cargo run --example okx_ping [BASE_URL] [COUNT]`.
use wsdial::Event;

fn main() -> Result<(), wsdial::Error> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);

    // Real OKX: wss://ws.okx.com:8443/ws/v5/public
    let address = format!(
        r#"{base}/okx|reconnect=true&ping=20000&ping_msg=ping&idle=60000&payload={{"op":"subscribe","args":[{{"channel":"tickers","instId":"BTC-USDT"}}]}}"#
    );
    let feed = wsdial::dial(&address)?;
    let (mut seen, mut pongs) = (0, 0);
    while seen < count {
        match feed.read() {
            Event::Message(m) => match m.as_text() {
                Some("pong") => pongs += 1,
                Some(t) => {
                    let v: serde_json::Value = serde_json::from_str(t).unwrap_or_default();
                    if let Some(last) = v["data"][0]["last"].as_str() {
                        println!("BTC-USDT last {last}");
                        seen += 1;
                    } else {
                        println!("event: {t}");
                    }
                }
                None => {}
            },
            Event::Disconnected(why) => eprintln!("disconnected: {why}; reconnecting"),
        }
    }
    println!("pongs so far: {pongs}");
    Ok(())
}
