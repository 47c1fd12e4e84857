//! A Huobi/HTX-style feed: gzip-compressed binary frames, and `{"ping": n}`
//! heartbeats that must be answered with `{"pong": n}` within seconds or the
//! server hangs up. `auto_reply` answers them on the background thread, so the
//! feed stays up even when this program is slow to read.
//!
//! `cargo run --release -- serve`, then `cargo run --example huobi_gzip [BASE_URL] [COUNT]`.
use wsdial::{Dialer, Event, Reply};

fn main() -> Result<(), wsdial::Error> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);

    // Real HTX: wss://api.huobi.pro/ws
    let address = format!(
        r#"{base}/huobi|compress=gzip&mode=recv&reconnect=true&payload={{"sub":"market.btcusdt.ticker","id":"ex1"}}"#
    );
    let feed = Dialer::new()
        .auto_reply(
            |m| match m.as_text().and_then(|t| t.strip_prefix(r#"{"ping":"#)) {
                Some(rest) => Reply::Send(format!(r#"{{"pong":{rest}"#)), // answered, kept out of the buffer
                None => Reply::Pass,
            },
        )
        .dial(&address)?;

    let mut seen = 0;
    while seen < count {
        match feed.read() {
            Event::Message(m) => {
                // Inflated already: gzip frames arrive as text.
                let v: serde_json::Value =
                    serde_json::from_str(m.as_text().unwrap_or("{}")).unwrap_or_default();
                if let Some(close) = v["tick"]["close"].as_f64() {
                    println!("{} close {close:.2}", v["ch"].as_str().unwrap_or("?"));
                    seen += 1;
                } else {
                    println!("control: {}", m.as_text().unwrap_or("<binary>"));
                }
            }
            Event::Disconnected(why) => eprintln!("disconnected: {why}; reconnecting"),
        }
    }
    Ok(())
}
