//! `wsdial FROM --to TO`: every message read from FROM handed on to TO.
//!
//! FROM is any readable connection (a WebSocket feed, a raw socket, a
//! broker); TO is any writable one, or a database, into which the feed is
//! recorded (see `record.rs`). Each side reconnects by itself when its own
//! address says `reconnect=true`.
//!
//! Into a stream socket (`tcp`, `tls`, `unix`) from a feed made of messages
//! (WebSocket, `udp`, a broker), each message is written followed by `\n`
//! (unless it already ends with one), so the sink reads one line per
//! message; from one stream socket to another the bytes go as they are.
//!
//! ## Nothing lost without a count
//!
//! A message that TO cannot take (its connection is down, reconnecting) is
//! held, and the relay stops reading FROM until TO is back. Meanwhile FROM's
//! background thread keeps reading into FROM's buffer, which drops its oldest
//! messages when full (`qsize`/`qbytes` on FROM's address): those drops are
//! FROM's `dropped` counter, shown on the `--stats` line. A message handed to
//! TO whose connection is lost before it goes out is TO's `unsent` counter,
//! also shown. What a sink's kernel had accepted when the sink died is beyond
//! any client's knowledge over WebSocket or TCP (no acknowledgement).
//!
//! What TO's own connection reads is not relayed (it is drained and
//! dropped), so a broker TO is dialed with `consume=false` (see
//! [`to_address`]): it only publishes, and reads neither its own messages
//! back nor a share of messages meant for others; a TO that would share out
//! what it reads (AMQP `consume=true`, a NATS queue group, a Kafka consumer
//! group) is refused. The `--stats` line ends with what TO received.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wsdial::{Cause, Conn, Disconnect, Event, Message};

use crate::record::Recorder;

/// How often a relay waiting for TO looks again.
const TO_POLL: Duration = Duration::from_millis(10);
/// How often, in messages, TO's own events (its disconnects) are looked at
/// while the feed flows.
const TO_EVENTS_EVERY: u64 = 64;
/// How long the relay waits at its end for TO to send what it was handed.
const FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// Set by Ctrl-C (SIGINT), SIGTERM or SIGHUP: the relay ends as after `-n`.
static STOP: AtomicBool = AtomicBool::new(false);
/// Longest the relay waits before it looks at [`STOP`].
const STOP_POLL: Duration = Duration::from_millis(200);
/// The exit status after a stop signal (128 + SIGINT, as shells report it).
const STOPPED: u8 = 130;

/// What the relay was asked to do (the client's flags, with `--to`).
pub struct Plan {
    pub from: String,
    pub to: String,
    pub send: Vec<String>,
    pub count: Option<u64>,
    pub timeout: Option<Duration>,
    pub read_timeout: Option<u64>,
    pub stats: bool,
}

/// Where relayed messages go.
enum Sink {
    Conn(ConnSink),
    Record(Recorder),
}

/// A writable connection and what the relay knows of it.
struct ConnSink {
    conn: Conn,
    reconnect: bool,
    /// Each message is followed by `\n` (see the module docs).
    lines: bool,
    /// Messages handed to it.
    handed: u64,
    /// Its `sent` counter right after the dial (its greeting).
    sent_at_dial: u64,
    /// Disconnects it reported.
    disconnects: u64,
}

/// What TO said when asked to take a message.
pub(crate) enum Offer {
    /// Taken (handed to the connection, or in the batch).
    Taken,
    /// Not now (reconnecting, or a batch waiting for its database): try again.
    Later(Message),
}

impl ConnSink {
    fn offer(&mut self, m: Message) -> Offer {
        let line = self.lines && !m.as_bytes().ends_with(b"\n");
        let n = match (m.as_text(), line) {
            (Some(t), false) => self.conn.write(t),
            (Some(t), true) => self.conn.write(&format!("{t}\n")),
            (None, false) => self.conn.write_binary(m.as_bytes()),
            (None, true) => self.conn.write_binary(&[m.as_bytes(), b"\n"].concat()),
        };
        // An empty message has length 0 even when it is taken.
        if n > 0 || (m.is_empty() && self.conn.is_connected()) {
            self.handed += 1;
            Offer::Taken
        } else {
            Offer::Later(m)
        }
    }

    /// Reads what TO sent back (an echo, acknowledgements: not relayed) and
    /// its disconnects; `Some` when it is lost for good.
    fn events(&mut self) -> Option<Disconnect> {
        while let Some(ev) = self.conn.try_read() {
            if let Event::Disconnected(d) = ev {
                self.disconnects += 1;
                eprintln!("wsdial: TO disconnected: {d}");
                if !self.reconnect || matches!(d.cause(), Cause::ClosedByUser | Cause::GaveUp) {
                    return Some(d);
                }
            }
        }
        None
    }

    /// Waits (bounded) until TO has sent everything it was handed, then closes it.
    fn finish(&mut self) {
        let until = Instant::now() + FLUSH_LIMIT;
        while Instant::now() < until {
            let s = self.conn.stats();
            if s.sent + s.unsent >= self.sent_at_dial + self.handed || !self.conn.is_connected() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.conn.close();
    }
}

/// True for the schemes whose reads are chunks of a byte stream, not messages.
fn is_stream(address: &str) -> bool {
    wsdial::Address::parse(address).is_ok_and(|a| {
        matches!(
            a.target().scheme(),
            wsdial::Scheme::Tcp | wsdial::Scheme::Tls | wsdial::Scheme::Unix
        )
    })
}

fn address_reconnects(address: &str) -> bool {
    wsdial::Address::parse(address)
        .map(|a| a.options().reconnect)
        .unwrap_or(false)
}

fn dial(address: &str, timeout: Option<Duration>, side: &str) -> Result<Conn, u8> {
    let mut dialer = wsdial::Dialer::new();
    if let Some(t) = timeout {
        dialer = dialer.timeout(t);
    }
    dialer.dial(address).map_err(|e| {
        eprintln!("wsdial: {side}: {e}");
        1
    })
}

/// The address TO is dialed with, or why it is refused (bad usage).
///
/// A broker connection reads as well as writes, and what TO reads is dropped
/// by the relay: a reading TO would read back every message it publishes
/// (the broker sends a subscriber its own publications), and where readers
/// share a source's messages out among them it would take (and drop) a
/// share meant for the others: RabbitMQ hands each message of a queue to one
/// of its consumers, NATS each message of a queue group to one member, Kafka
/// each partition of a consumer group to one member. So a broker TO that
/// does not say `consume=` gets `consume=false` (it only publishes), and
/// `consume=true` on an AMQP TO, `queue=` on a NATS TO, `group=` on a Kafka
/// TO (and `offset=` there, which only says where to read) are refused. An
/// MQTT, NATS or Kafka TO that says `consume=true` is dialed as written, and
/// so is any other address (the dial reports what is wrong with it).
fn to_address(to: &str) -> Result<String, String> {
    let Ok(a) = wsdial::Address::parse(to) else {
        return Ok(to.to_owned());
    };
    let (url, rest) = to.split_at(to.find('|').unwrap_or(to.len()));
    let param = |name: &str| {
        let query = url.split_once('?').map_or("", |(_, q)| q);
        query
            .split('&')
            .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    };
    let shown = a.target().masked_url();
    let shared = |what: &str| {
        Err(format!(
            "{shown}: {what}; the relay drops what TO reads, so it would lose that share: leave it out of TO"
        ))
    };
    let publish_only = || {
        let sep = if url.contains('?') { '&' } else { '?' };
        Ok(format!("{url}{sep}consume=false{rest}"))
    };
    match a.target().scheme() {
        wsdial::Scheme::Amqp | wsdial::Scheme::Amqps => match param("consume").as_deref() {
            None => publish_only(),
            Some("true" | "1") => shared(
                "consume=true makes TO a consumer of the queue, and RabbitMQ hands each message to one consumer (the relay publishes with consume=false, the default for TO)",
            ),
            Some(_) => Ok(to.to_owned()),
        },
        wsdial::Scheme::Nats if param("queue").is_some() => shared(
            "queue= makes TO a member of that queue group, and NATS hands each message to one member",
        ),
        wsdial::Scheme::Kafka if param("group").is_some() => shared(
            "group= makes TO a member of that consumer group, and Kafka gives each partition to one member",
        ),
        wsdial::Scheme::Kafka if param("offset").is_some() && param("consume").is_none() => Err(format!(
            "{shown}: offset= says where TO would read from, but the relay dials a Kafka TO that only publishes (consume=false): leave it out of TO"
        )),
        wsdial::Scheme::Mqtt
        | wsdial::Scheme::Mqtts
        | wsdial::Scheme::Nats
        | wsdial::Scheme::Kafka
            if param("consume").is_none() =>
        {
            publish_only()
        }
        _ => Ok(to.to_owned()),
    }
}

/// Runs the relay; the exit status is the client's (see `main.rs`).
pub fn run(p: Plan) -> anyhow::Result<u8> {
    let is_db = wsdial::Address::parse(&crate::record::without_table(&p.to).0)
        .map(|a| a.target().scheme().is_database())
        .unwrap_or(false);
    // TO first: a relay into a sink that cannot be reached reads nothing.
    let mut sink = if is_db {
        match Recorder::open(&p.to, p.timeout) {
            Ok(r) => Sink::Record(r),
            Err(e) => {
                eprintln!("wsdial: TO: {e:#}");
                return Ok(1);
            }
        }
    } else {
        let to = match to_address(&p.to) {
            Ok(to) => to,
            Err(why) => {
                eprintln!("wsdial: TO {why}");
                return Ok(2);
            }
        };
        let conn = match dial(&to, p.timeout, "TO") {
            Ok(c) => c,
            Err(code) => return Ok(code),
        };
        Sink::Conn(ConnSink {
            sent_at_dial: conn.stats().sent,
            conn,
            reconnect: address_reconnects(&p.to),
            lines: is_stream(&p.to) && !is_stream(&p.from),
            handed: 0,
            disconnects: 0,
        })
    };
    let from = match dial(&p.from, p.timeout, "FROM") {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    // A database is not read: it can be TO (recorded into), not FROM.
    if from.fd().is_some() {
        eprintln!(
            "wsdial: FROM {} is a database: it is not read; record a feed into one with --to, run SQL with `wsdial exec`",
            crate::parse::shown(from.url())
        );
        return Ok(2);
    }
    let from_reconnect = address_reconnects(&p.from);
    // A signal ends the relay as -n does: TO is given what it holds (a
    // database its last batch) before the process exits.
    if let Err(e) = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst)) {
        log::warn!(
            "no Ctrl-C handler ({e}): a signal ends the relay without writing what it holds"
        );
    }
    for s in &p.send {
        from.write(s);
    }

    let (code, relayed) = relay(&p, &from, from_reconnect, &mut sink)?;
    // What FROM receives from now on is not relayed: stop it first, so the
    // totals count no drop of a message that was never going to be read.
    from.close();
    let flushed = match &mut sink {
        Sink::Conn(c) => {
            c.finish();
            Ok(())
        }
        Sink::Record(r) => r.finish(),
    };
    if p.stats {
        // The totals, after TO has sent (or written) what it was given.
        eprintln!("{}", stats_line(&from, &sink, relayed, None, false));
    }
    match flushed {
        Ok(()) => Ok(code),
        Err(e) => {
            eprintln!("wsdial: TO: {e:#}");
            Ok(1)
        }
    }
}

/// The `--stats` line: the rate (when given), relayed, FROM's drops, TO's
/// unsent (or rows written), each side's reconnects, and what TO's own
/// connection received (not relayed: an echo, or a broker TO reading).
fn stats_line(from: &Conn, sink: &Sink, relayed: u64, rate: Option<f64>, held: bool) -> String {
    let f = from.stats();
    let to = match sink {
        Sink::Conn(c) => {
            let t = c.conn.stats();
            format!(
                "unsent {}  reconnects from {} to {}  TO received {}",
                t.unsent, f.reconnects, t.reconnects, t.received
            )
        }
        Sink::Record(r) => format!(
            "rows {}  reconnects from {} to {}",
            r.rows(),
            f.reconnects,
            r.reconnects()
        ),
    };
    format!(
        "{}relayed {}  dropped {}  {}{}",
        rate.map_or(String::new(), |r| format!("{r:>9.0} msg/s  ")),
        relayed,
        f.dropped,
        to,
        if held { "  (waiting for TO)" } else { "" },
    )
}

/// The relay's loop: the exit status once it ends.
fn relay(
    p: &Plan,
    from: &Conn,
    from_reconnect: bool,
    sink: &mut Sink,
) -> anyhow::Result<(u8, u64)> {
    let tty = std::io::stderr().is_terminal();
    // A recorded row's source, when the message has no topic: FROM's URL
    // with its password masked.
    let source = crate::parse::shown(from.url());
    let mut relayed = 0u64;
    let mut held: Option<Message> = None;
    let mut last_rx = Instant::now();
    let (mut tick, mut tick_relayed) = (Instant::now(), 0u64);
    loop {
        // Hand on what is held; while TO cannot take it, FROM is not read.
        if let Some(m) = held.take() {
            let taken = match sink {
                Sink::Conn(c) => c.offer(m),
                Sink::Record(r) => r.offer(m, &source)?,
            };
            match taken {
                Offer::Taken => relayed += 1,
                Offer::Later(m) => held = Some(m),
            }
        }
        let to_lost = match sink {
            Sink::Conn(c) if held.is_some() || relayed.is_multiple_of(TO_EVENTS_EVERY) => {
                c.events()
            }
            Sink::Conn(_) => None,
            Sink::Record(r) => {
                r.tick()?;
                None
            }
        };
        if to_lost.is_some() {
            return Ok((4, relayed));
        }
        if p.count.is_some_and(|n| relayed >= n) {
            return Ok((0, relayed));
        }
        if STOP.load(Ordering::SeqCst) {
            eprintln!("wsdial: stopped by a signal");
            return Ok((STOPPED, relayed));
        }

        let mut wait = STOP_POLL;
        if let Some(ms) = p.read_timeout {
            wait = wait.min(
                (last_rx + Duration::from_millis(ms)).saturating_duration_since(Instant::now()),
            );
        }
        if p.stats {
            wait = wait
                .min((tick + crate::client::STATS_EVERY).saturating_duration_since(Instant::now()));
        }
        if let Sink::Record(r) = sink {
            if let Some(due) = r.due() {
                wait = wait.min(due.saturating_duration_since(Instant::now()));
            }
        }
        if held.is_some() {
            // Waiting for TO: FROM's buffer takes the feed meanwhile.
            std::thread::sleep(wait.min(TO_POLL));
            last_rx = Instant::now();
        } else {
            let ev = match from.try_read() {
                Some(ev) => Some(ev),
                None => from.read_timeout(wait),
            };
            match ev {
                Some(Event::Message(m)) => {
                    last_rx = Instant::now();
                    held = Some(m);
                    continue;
                }
                Some(Event::Disconnected(d)) => {
                    eprintln!("wsdial: FROM disconnected: {d}");
                    if d.cause() == Cause::ClosedByUser
                        || d.cause() == Cause::GaveUp
                        || !from_reconnect
                    {
                        let normal =
                            d.cause() == Cause::ClosedByPeer && d.close_code() == Some(1000);
                        return Ok((if normal { 0 } else { 4 }, relayed));
                    }
                }
                None => {}
            }
        }
        let now = Instant::now();
        if let Some(ms) = p.read_timeout {
            if now >= last_rx + Duration::from_millis(ms) {
                eprintln!("wsdial: nothing received for {ms} ms");
                return Ok((3, relayed));
            }
        }
        if p.stats && now >= tick + crate::client::STATS_EVERY {
            let rate = (relayed - tick_relayed) as f64 / (now - tick).as_secs_f64();
            let line = stats_line(from, sink, relayed, Some(rate), held.is_some());
            if tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            tick = now;
            tick_relayed = relayed;
        }
    }
}
