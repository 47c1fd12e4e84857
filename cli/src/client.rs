//! `wsdial ADDRESS`: print every message as a line, send stdin lines.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use data_encoding::{BASE64, HEXLOWER};
use wsdial::{Cause, Dialer, Event, Message};

use crate::BinaryFormat;

/// Options of the client (the default command).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The Dial address: URL|key=value&key=value.
    #[arg(required = true)]
    address: Option<String>,
    /// Relay every message read from ADDRESS to TO (a writable address or a
    /// database; see above) instead of printing it; stdin is not read.
    #[arg(long, value_name = "TO")]
    to: Option<String>,
    /// Send this text after connecting (repeatable, in order).
    #[arg(long = "send", value_name = "TEXT")]
    send: Vec<String>,
    /// Exit 0 after N messages (printed, or relayed with --to).
    #[arg(short = 'n', long = "count", value_name = "N")]
    count: Option<u64>,
    /// Dial deadline in seconds (the address's timeout= wins).
    #[arg(long, value_name = "SECS", value_parser = crate::positive_seconds)]
    timeout: Option<Duration>,
    /// Exit with status 3 when nothing arrives for MS milliseconds.
    #[arg(long, value_name = "MS")]
    read_timeout: Option<u64>,
    /// How to print binary messages.
    #[arg(long, value_enum, default_value_t = BinaryFormat::Base64)]
    binary: BinaryFormat,
    /// A live line on stderr: messages/s, bytes/s, drops, reconnects.
    #[arg(long)]
    stats: bool,
    /// Start each line with the message's receive time: microseconds since
    /// the Unix epoch (wall clock), then a tab.
    #[arg(long)]
    timestamps: bool,
    /// Do not send stdin lines.
    #[arg(long)]
    no_stdin: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

pub(crate) const STATS_EVERY: Duration = Duration::from_secs(1);

pub fn run(a: Args) -> anyhow::Result<u8> {
    let address = a.address.expect("clap requires it");
    if let Some(to) = a.to {
        return crate::relay::run(crate::relay::Plan {
            from: address,
            to,
            send: a.send,
            count: a.count,
            timeout: a.timeout,
            read_timeout: a.read_timeout,
            stats: a.stats,
        });
    }
    let mut dialer = Dialer::new();
    if let Some(t) = a.timeout {
        dialer = dialer.timeout(t);
    }
    let conn = match dialer.dial(&address) {
        Ok(c) => std::sync::Arc::new(c),
        Err(e) => {
            eprintln!("wsdial: {e}");
            return Ok(1);
        }
    };
    // A database is not read or written: it runs SQL (`wsdial exec`).
    // (Named by its scheme: the address may hold a password.)
    if let Ok(t) = wsdial::Target::parse(conn.url()) {
        if t.scheme().is_database() {
            eprintln!(
                "wsdial: a {}:// address is a database: it is not read or written; run SQL with `wsdial exec ADDRESS SQL`",
                t.scheme()
            );
            return Ok(2);
        }
    }
    let reconnect = wsdial::Address::parse(&address)
        .map(|a| a.options().reconnect)
        .unwrap_or(false);
    for s in &a.send {
        conn.write(s);
    }
    if !a.no_stdin {
        let c = conn.clone();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if c.write(&line) == 0 {
                    eprintln!("wsdial: not connected; line not sent");
                }
            }
        });
    }

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let tty = std::io::stderr().is_terminal();
    let mut seen = 0u64;
    let mut last_rx = Instant::now();
    let (mut tick, mut tick_stats) = (Instant::now(), conn.stats());
    loop {
        let mut wait = Duration::from_secs(3600);
        if let Some(ms) = a.read_timeout {
            wait = wait.min(
                (last_rx + Duration::from_millis(ms)).saturating_duration_since(Instant::now()),
            );
        }
        if a.stats {
            wait = wait.min((tick + STATS_EVERY).saturating_duration_since(Instant::now()));
        }
        // Take what is there without waiting; flush stdout only when caught up.
        let ev = match conn.try_read() {
            Some(ev) => Some(ev),
            None => {
                out.flush()?;
                conn.read_timeout(wait)
            }
        };
        match ev {
            Some(Event::Message(m)) => {
                if a.timestamps {
                    let us = m
                        .received_at()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_micros());
                    write!(out, "{us}\t")?;
                }
                print_message(&mut out, &m, a.binary)?;
                seen += 1;
                last_rx = Instant::now();
                if a.count.is_some_and(|n| seen >= n) {
                    out.flush()?;
                    return Ok(0);
                }
            }
            Some(Event::Disconnected(d)) => {
                out.flush()?;
                eprintln!("wsdial: disconnected: {d}");
                if d.cause() == Cause::ClosedByUser || d.cause() == Cause::GaveUp || !reconnect {
                    return Ok(
                        if d.cause() == Cause::ClosedByPeer && d.close_code() == Some(1000) {
                            0
                        } else {
                            4
                        },
                    );
                }
            }
            None => {}
        }
        let now = Instant::now();
        if let Some(ms) = a.read_timeout {
            if now >= last_rx + Duration::from_millis(ms) {
                out.flush()?;
                eprintln!("wsdial: nothing received for {ms} ms");
                return Ok(3);
            }
        }
        if a.stats && now >= tick + STATS_EVERY {
            let s = conn.stats();
            let dt = (now - tick).as_secs_f64();
            let line = format!(
                "{:>9.0} msg/s {:>11} /s  received {}  dropped {}  reconnects {}",
                (s.received - tick_stats.received) as f64 / dt,
                human_bytes((s.received_bytes - tick_stats.received_bytes) as f64 / dt),
                s.received,
                s.dropped,
                s.reconnects
            );
            if tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            tick = now;
            tick_stats = s;
        }
    }
}

fn print_message(out: &mut impl Write, m: &Message, fmt: BinaryFormat) -> std::io::Result<()> {
    match (m.as_text(), fmt) {
        (Some(t), _) => out.write_all(t.as_bytes())?,
        (None, BinaryFormat::Base64) => out.write_all(BASE64.encode(m.as_bytes()).as_bytes())?,
        (None, BinaryFormat::Hex) => out.write_all(HEXLOWER.encode(m.as_bytes()).as_bytes())?,
        (None, BinaryFormat::Raw) => out.write_all(m.as_bytes())?,
    }
    out.write_all(b"\n")
}

fn human_bytes(b: f64) -> String {
    match b {
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.1} MB", b / 1e6),
        b if b >= 1e3 => format!("{:.1} kB", b / 1e3),
        b => format!("{b:.0} B"),
    }
}
