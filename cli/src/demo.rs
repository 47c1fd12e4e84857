//! `wsdial demo`: the simulator in-process, three feeds dialed the way a bot
//! would, a short live view while the simulator drops every connection, then a
//! summary. Offline: everything is on 127.0.0.1.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use wsdial::{Conn, Dialer, Event, Reply};

use crate::sim::{Sim, SimConfig};

struct Feed {
    name: &'static str,
    conn: Conn,
    last_price: String,
    received: u64,
    /// The next `seq` expected on the current connection (it restarts at 0).
    next_seq: u64,
    gaps: u64,
    disconnects: u64,
}

impl Feed {
    fn on_message(&mut self, text: &str) {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let Some(seq) = v["seq"].as_u64() else { return }; // acks, pongs
        self.received += 1;
        if seq != self.next_seq {
            self.gaps += 1;
        }
        self.next_seq = seq + 1;
        let price = match self.name {
            "binance" => v["c"].as_str().map(str::to_owned),
            "huobi" => v["tick"]["close"].as_f64().map(|p| format!("{p:.2}")),
            _ => v["data"][0]["last"].as_str().map(str::to_owned),
        };
        if let Some(p) = price {
            self.last_price = p;
        }
    }
}

pub fn run(seconds: Duration, drop_every: Duration) -> anyhow::Result<u8> {
    let cfg = SimConfig {
        rate: 50.0,
        drop_every: Some(drop_every),
        ping_every: Duration::from_secs(2),
        pong_deadline: Duration::from_secs(3),
        ..SimConfig::default()
    };
    let sim = Sim::start(SocketAddr::from(([127, 0, 0, 1], 0)), cfg)?;
    let base = format!("ws://{}", sim.addr);
    outln!(
        "wsdial demo: exchange simulator on {base} (drops every connection every {:.0} s)\n",
        drop_every.as_secs_f64()
    );

    let addresses = [
        (
            "binance",
            format!("{base}/binance|reconnect=true&interval=300"),
        ),
        (
            "huobi",
            format!(
                r#"{base}/huobi|compress=gzip&mode=recv&reconnect=true&interval=300&payload={{"sub":"market.btcusdt.ticker","id":"demo"}}"#
            ),
        ),
        (
            "okx",
            format!(
                r#"{base}/okx|reconnect=true&interval=300&ping=20000&ping_msg=ping&payload={{"op":"subscribe","args":[{{"channel":"tickers","instId":"BTC-USDT"}}]}}"#
            ),
        ),
    ];
    let mut feeds = Vec::new();
    for (name, addr) in &addresses {
        outln!("  {name:<8} {addr}");
        // Huobi's `{"ping": n}` heartbeat is answered on the background thread.
        let dialer = Dialer::new().auto_reply(|m| {
            match m.as_text().and_then(|t| t.strip_prefix(r#"{"ping":"#)) {
                Some(rest) => Reply::Send(format!(r#"{{"pong":{rest}"#)),
                None => Reply::Pass,
            }
        });
        feeds.push(Feed {
            name,
            conn: dialer.dial(addr)?,
            last_price: "-".into(),
            received: 0,
            next_seq: 0,
            gaps: 0,
            disconnects: 0,
        });
    }
    outln!();

    let tty = std::io::stdout().is_terminal();
    let start = Instant::now();
    let mut last_view = start;
    let mut last_counts: Vec<u64> = vec![0; feeds.len()];
    while start.elapsed() < seconds {
        let refs: Vec<&Conn> = feeds.iter().map(|f| &f.conn).collect();
        let left = seconds
            .saturating_sub(start.elapsed())
            .min(Duration::from_millis(250));
        if let Some(i) = wsdial::select(&refs, Some(left)) {
            while let Some(ev) = feeds[i].conn.try_read() {
                match ev {
                    Event::Message(m) => feeds[i].on_message(m.as_text().unwrap_or("")),
                    Event::Disconnected(why) => {
                        feeds[i].disconnects += 1;
                        feeds[i].next_seq = 0;
                        if !tty {
                            outln!("  {:<8} disconnected: {why}; reconnecting", feeds[i].name);
                        }
                    }
                }
            }
        }
        let every = if tty {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(2)
        };
        if last_view.elapsed() >= every {
            let dt = last_view.elapsed().as_secs_f64();
            let mut line = format!("{:>4.0}s ", start.elapsed().as_secs_f64());
            for (f, last) in feeds.iter().zip(last_counts.iter_mut()) {
                let rate = (f.received - *last) as f64 / dt;
                *last = f.received;
                line += &format!(
                    " | {} {:>9} {:>4.0} msg/s  reconnects {}",
                    f.name,
                    f.last_price,
                    rate,
                    f.conn.stats().reconnects
                );
            }
            if tty {
                out!("\r\x1b[2K{line}");
            } else {
                outln!("{line}");
            }
            if std::io::stdout().flush().is_err() {
                std::process::exit(0);
            }
            last_view = Instant::now();
        }
    }
    if tty {
        outln!();
    }

    outln!("\nsummary after {:.1} s", start.elapsed().as_secs_f64());
    outln!(
        "  {:<8} {:>9} {:>11} {:>11} {:>8} {:>8}",
        "feed",
        "received",
        "disconnects",
        "reconnects",
        "gaps",
        "dropped"
    );
    let (mut reconnects, mut gaps) = (0, 0);
    for f in &feeds {
        let s = f.conn.stats();
        outln!(
            "  {:<8} {:>9} {:>11} {:>11} {:>8} {:>8}",
            f.name,
            f.received,
            f.disconnects,
            s.reconnects,
            f.gaps,
            s.dropped
        );
        reconnects += s.reconnects;
        gaps += f.gaps;
    }
    outln!(
        "\n  The simulator dropped {} connections; every feed came back by itself, re-sent its\n  subscription, kept its heartbeats answered, and lost no message it was sent ({gaps} gaps).",
        sim.stats.drops.load(std::sync::atomic::Ordering::Relaxed)
    );
    if reconnects == 0 || gaps > 0 {
        eprintln!("wsdial demo: expected reconnects > 0 and no gaps");
        return Ok(1);
    }
    Ok(0)
}
