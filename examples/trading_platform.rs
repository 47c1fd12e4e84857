//! The seeds' trading-platform protocol: a JWT `token` in the query, the
//! `zigquant-v2` subprotocol, `auth` then a wildcard `subscribe` (sent fresh on
//! every connect by `on_connect`), events on the subscribed channels, and a
//! `command` answered by the `response` with the same `id` within a timeout.
//!
//! `cargo run --release -- serve`, then
//! `cargo run --example trading_platform [BASE_URL] [EVENTS]`.
use std::time::{Duration, Instant};
use wsdial::{Conn, Dialer, Event};

/// Sends a command and waits for the response with the same id, handing every
/// other message to `other` meanwhile.
fn command(
    conn: &Conn,
    id: &str,
    cmd: &str,
    timeout: Duration,
    other: &mut dyn FnMut(&serde_json::Value),
) -> Option<serde_json::Value> {
    conn.write(
        &serde_json::json!({"type": "command", "id": id, "command": cmd, "params": {"grid_id": 1}})
            .to_string(),
    );
    let deadline = Instant::now() + timeout;
    while let Some(ev) = conn.read_deadline(deadline) {
        let Event::Message(m) = ev else { return None };
        let v: serde_json::Value =
            serde_json::from_str(m.as_text().unwrap_or("{}")).unwrap_or_default();
        if v["type"] == "response" && v["id"] == id {
            return Some(v);
        }
        other(&v);
    }
    None
}

fn main() -> Result<(), wsdial::Error> {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let wanted: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
    let token = std::env::var("ZIGQUANT_TOKEN").unwrap_or_else(|_| "demo-token".into());

    let conn = Dialer::new()
        .on_connect(move || {
            vec![
                serde_json::json!({"type": "auth", "token": "demo-token"}).to_string(),
                serde_json::json!({"type": "subscribe", "channels": ["grid.*.status", "order.filled"]}).to_string(),
            ]
        })
        .dial(&format!("{base}/zigquant?token={token}|protocol=zigquant-v2&reconnect=true&ping=15000&ping_msg={{\"type\":\"ping\"}}"))?;
    println!("subprotocol agreed: {:?}", conn.protocol());

    let events = std::cell::Cell::new(0usize);
    let mut show = |v: &serde_json::Value| match v["type"].as_str() {
        Some("event") => {
            events.set(events.get() + 1);
            println!(
                "event {} {}",
                v["channel"].as_str().unwrap_or("?"),
                v["data"]
            );
        }
        Some(t) => println!("{t}"),
        None => {}
    };
    match command(
        &conn,
        "c-1",
        "pause_grid",
        Duration::from_secs(30),
        &mut show,
    ) {
        Some(r) => println!(
            "response to c-1: success={} data={}",
            r["success"], r["data"]
        ),
        None => eprintln!("no response to c-1 within 30 s"),
    }
    while events.get() < wanted {
        match conn.read_timeout(Duration::from_secs(30)) {
            Some(Event::Message(m)) => {
                show(&serde_json::from_str(m.as_text().unwrap_or("{}")).unwrap_or_default())
            }
            Some(Event::Disconnected(why)) => eprintln!("disconnected: {why}"),
            None => eprintln!("quiet for 30 s"),
        }
    }
    Ok(())
}
