//! Three feeds at once with `select`: a blocking wait on all of them, so a quiet
//! feed is never starved behind a busy one, and no polling loop burns CPU.
//!
//! `cargo run --release -- serve`, then `cargo run --example three_feeds [BASE_URL] [COUNT]`.
use std::time::Duration;
use wsdial::{Dialer, Event, Reply};

fn main() -> Result<(), wsdial::Error> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(30);

    let binance = wsdial::dial(&format!("{base}/binance|reconnect=true"))?;
    let huobi = Dialer::new()
        .auto_reply(
            |m| match m.as_text().and_then(|t| t.strip_prefix(r#"{"ping":"#)) {
                Some(rest) => Reply::Send(format!(r#"{{"pong":{rest}"#)),
                None => Reply::Pass,
            },
        )
        .dial(&format!(
            r#"{base}/huobi|compress=gzip&reconnect=true&payload={{"sub":"market.btcusdt.ticker"}}"#
        ))?;
    let okx = wsdial::dial(&format!(
        r#"{base}/okx|reconnect=true&ping=20000&ping_msg=ping&payload={{"op":"subscribe","args":[{{"channel":"tickers","instId":"BTC-USDT"}}]}}"#
    ))?;
    let feeds = [("binance", &binance), ("huobi", &huobi), ("okx", &okx)];
    let conns: Vec<&wsdial::Conn> = feeds.iter().map(|(_, c)| *c).collect();

    let mut per_feed = [0usize; 3];
    while per_feed.iter().sum::<usize>() < count {
        let Some(i) = wsdial::select(&conns, Some(Duration::from_secs(10))) else {
            eprintln!("nothing from any feed for 10 s");
            continue;
        };
        // Take everything that feed has now, then wait on all three again.
        while let Some(ev) = conns[i].try_read() {
            match ev {
                Event::Message(m) => {
                    per_feed[i] += 1;
                    let t = m.as_text().unwrap_or("<binary>");
                    println!("{:<8} {}", feeds[i].0, &t[..t.len().min(90)]);
                }
                Event::Disconnected(why) => eprintln!("{}: {why}", feeds[i].0),
            }
        }
    }
    println!(
        "messages per feed: binance {} huobi {} okx {}",
        per_feed[0], per_feed[1], per_feed[2]
    );
    Ok(())
}
