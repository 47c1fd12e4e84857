//! The seeds' exit-stream session: an `x-api-key` header, `hello_ok` on open, a
//! `configure` message re-sent on every (re)connect with a 100 ms to 2 s backoff,
//! and a priority reader: exit signals are read before, and are never dropped
//! by, the flood of `pnl_update` messages.
//!
//! `cargo run --release -- serve`, then
//! `cargo run --example exit_stream [BASE_URL] [EXIT_SIGNALS]`.
use std::time::{Duration, Instant};
use wsdial::{Dialer, Event};

fn main() -> Result<(), wsdial::Error> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let wanted: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
    let api_key = std::env::var("EXIT_STREAM_API_KEY").unwrap_or_else(|_| "demo-key".into());

    let configure = r#"{"type":"configure","wallet_pubkeys":["WALLET_PUBKEY_1"],"strategy":{"target_profit_pct":5.0,"stop_loss_pct":1.5,"trailing_stop_pct":3.0},"send_mode":"helius_sender","tip_lamports":1000}"#;
    // Real endpoint: wss://stream.lasersell.io/v1/ws
    let address = format!(
        "{base}/exit-stream|reconnect=true&interval=100&max_interval=2000&ping=15000&idle=45000"
    );
    let conn = Dialer::new()
        .header("x-api-key", api_key)
        .payload(configure) // sent again after every reconnect
        .priority(|m| {
            m.as_text()
                .is_some_and(|t| t.contains(r#""type":"exit_signal""#))
        })
        .qsize(1024)
        .dial(&address)?;

    let (mut exits, mut pnl) = (0, 0u64);
    let start = Instant::now();
    while exits < wanted {
        let Some(ev) = conn.read_timeout(Duration::from_secs(30)) else {
            eprintln!("no message for 30 s");
            continue;
        };
        let m = match ev {
            Event::Message(m) => m,
            Event::Disconnected(why) => {
                eprintln!("disconnected: {why}; reconnecting (configure will be re-sent)");
                continue;
            }
        };
        let v: serde_json::Value =
            serde_json::from_str(m.as_text().unwrap_or("{}")).unwrap_or_default();
        match v["type"].as_str() {
            Some("hello_ok") => println!(
                "hello_ok: session {} limits {}",
                v["session_id"], v["limits"]
            ),
            Some("exit_signal") => {
                exits += 1;
                println!(
                    "EXIT position {} ({}) after {:.2} s; {pnl} pnl updates so far",
                    v["position_id"],
                    v["reason"].as_str().unwrap_or("?"),
                    start.elapsed().as_secs_f64()
                );
            }
            Some("pnl_update") => pnl += 1,
            Some(other) => println!("{other}"),
            None => {}
        }
    }
    let s = conn.stats();
    println!(
        "done: {exits} exit signals, {pnl} pnl updates read, {} dropped (never an exit signal)",
        s.dropped
    );
    Ok(())
}
