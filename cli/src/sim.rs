#![allow(clippy::result_large_err)] // tungstenite's handshake callback returns a large error type
//! `wsdial serve`: a local exchange simulator on 127.0.0.1.
//!
//! | path | behaves like |
//! |---|---|
//! | `/binance` | text tickers at once (streams are in the URL); protocol Pings every `ping_every` |
//! | `/huobi` | after `{"sub":…}`: gzip binary tickers; `{"ping": n}` every `ping_every`; a client that does not answer `{"pong": n}` within `pong_deadline` is dropped |
//! | `/okx` | after `{"op":"subscribe",…}`: text tickers; answers text `ping` with `pong`; a client silent for `okx_idle` is dropped |
//! | `/exit-stream` | the seeds' exit-stream server: `x-api-key` header, `hello_ok`, `configure`, a flood of `pnl_update` with occasional `exit_signal`, `{"type":"ping"}` answered |
//! | `/zigquant` | the seeds' trading-platform protocol: `?token=` in the query, subprotocol `zigquant-v2`, `auth`, wildcard `subscribe`, `command` answered by `response` with the same `id` |
//! | `/echo` | echoes every message |
//!
//! Every data message carries `"seq"` (per connection, from 0) and `"t_us"` (the
//! server's send time, microseconds since the Unix epoch) so a client can count
//! losses and measure latency. With `global_seq`, `seq` counts instead from the
//! simulator's start at `rate`, the same for every connection, as an
//! exchange's update ids do: message `n` is due `n / rate` seconds after the
//! start, and a connection gets every message that falls due after it starts
//! streaming, so two connections overlap exactly (a rotation's gap shows). `rate` (messages/s, 0 = as fast as the socket
//! takes them), `size` (pads each data message to this many bytes), `drop_after`
//! and `drop_every` make it a load source and a fault source.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use serde_json::{json, Value};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message as WsMsg, WebSocket};

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Data messages per second per connection; 0 = as fast as possible.
    pub rate: f64,
    /// Pad each data message to at least this many bytes.
    pub size: usize,
    /// Drop each connection after this many data messages.
    pub drop_after: Option<u64>,
    /// Drop each connection after it has been up this long.
    pub drop_every: Option<Duration>,
    /// Heartbeat period (Binance protocol Ping, Huobi `{"ping": n}`).
    pub ping_every: Duration,
    /// Huobi: a pong must come within this time.
    pub pong_deadline: Duration,
    /// OKX: a client silent for this long is dropped.
    pub okx_idle: Duration,
    /// Exit stream: the accepted `x-api-key`.
    pub api_key: String,
    /// Trading platform: the accepted token.
    pub token: String,
    /// Exit stream: one `exit_signal` every this many `pnl_update`s.
    pub exit_every: u64,
    /// `seq` counts from `epoch` at `rate` for every connection (needs a rate).
    pub global_seq: bool,
    /// When the simulator started (`Sim::start` sets it).
    pub epoch: Instant,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            rate: 20.0,
            size: 0,
            drop_after: None,
            drop_every: None,
            ping_every: Duration::from_secs(5),
            pong_deadline: Duration::from_secs(10),
            okx_idle: Duration::from_secs(30),
            api_key: "demo-key".into(),
            token: "demo-token".into(),
            exit_every: 100,
            global_seq: false,
            epoch: Instant::now(),
        }
    }
}

/// Counters of a running simulator.
#[derive(Debug, Default)]
pub struct SimStats {
    pub connections: AtomicU64,
    pub sent: AtomicU64,
    pub drops: AtomicU64,
}

/// A running simulator; stops accepting when dropped.
pub struct Sim {
    pub addr: SocketAddr,
    pub stats: Arc<SimStats>,
    stop: Arc<AtomicBool>,
}

impl Sim {
    pub fn start(bind: SocketAddr, mut cfg: SimConfig) -> io::Result<Sim> {
        cfg.epoch = Instant::now();
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(SimStats::default());
        let cfg = Arc::new(cfg);
        {
            let (stop, stats) = (stop.clone(), stats.clone());
            thread::Builder::new()
                .name("sim-accept".into())
                .spawn(move || {
                    for tcp in listener.incoming() {
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        let Ok(tcp) = tcp else { continue };
                        let (cfg, stats, stop) = (cfg.clone(), stats.clone(), stop.clone());
                        stats.connections.fetch_add(1, Ordering::Relaxed);
                        let _ = thread::Builder::new()
                            .name("sim-conn".into())
                            .stack_size(256 * 1024)
                            .spawn(move || {
                                if let Err(e) = serve_one(tcp, &cfg, &stats, &stop) {
                                    log::debug!("sim: connection ended: {e}");
                                }
                            });
                    }
                })?;
        }
        Ok(Sim { addr, stats, stop })
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Binance,
    Huobi,
    Okx,
    ExitStream,
    Zigquant,
    Echo,
}

impl Kind {
    fn from_path(path: &str) -> Option<Kind> {
        let p = path.split('?').next().unwrap_or("");
        Some(match p.trim_end_matches('/') {
            "/okx" | "/ws/v5/public" => Kind::Okx,
            x if x.starts_with("/binance") || x.starts_with("/ws/") || x == "/stream" => {
                Kind::Binance
            }
            "/huobi" => Kind::Huobi,
            "/exit-stream" | "/v1/ws" => Kind::ExitStream,
            "/zigquant" => Kind::Zigquant,
            "/echo" | "" => Kind::Echo,
            _ => return None,
        })
    }
}

/// What one connection's feed has to say next.
struct Feed {
    kind: Kind,
    cfg: Arc<SimConfig>,
    started: Instant,
    /// Streaming has begun (after the subscribe/configure/auth it waits for).
    streaming: bool,
    stream_start: Instant,
    seq: u64,
    price: f64,
    next_ping: Instant,
    ping_sent: Option<(u64, Instant)>,
    last_rx: Instant,
    channels: Vec<String>,
    authed: bool,
}

/// Why the server ends a connection.
type End = String;

impl Feed {
    fn new(kind: Kind, cfg: Arc<SimConfig>) -> Feed {
        let now = Instant::now();
        let mut feed = Feed {
            kind,
            started: now,
            streaming: kind == Kind::Binance,
            stream_start: now,
            seq: 0,
            price: match kind {
                Kind::Huobi => 36_990.0,
                Kind::Okx => 37_010.0,
                _ => 37_000.0,
            },
            next_ping: now + cfg.ping_every,
            ping_sent: None,
            last_rx: now,
            channels: Vec::new(),
            authed: false,
            cfg,
        };
        if feed.streaming {
            feed.streaming = false;
            feed.start_streaming();
        }
        feed
    }

    fn greeting(&self) -> Vec<WsMsg> {
        match self.kind {
            Kind::ExitStream => vec![text(json!({
                "type": "hello_ok", "session_id": 42, "server_time_ms": now_us() / 1000,
                "limits": {"hi_capacity": 1024, "pnl_flush_ms": 1000, "max_positions_per_session": 100,
                           "max_wallets_per_session": 10, "max_positions_per_wallet": 20, "max_sessions_per_api_key": 5}
            }))],
            _ => vec![],
        }
    }

    fn start_streaming(&mut self) {
        if !self.streaming {
            self.streaming = true;
            let now = Instant::now();
            if self.cfg.global_seq && self.cfg.rate > 0.0 {
                // The next message to fall due, counted from the simulator's start.
                self.stream_start = self.cfg.epoch;
                self.seq = ((now - self.cfg.epoch).as_secs_f64() * self.cfg.rate) as u64 + 1;
            } else {
                self.stream_start = now;
                self.seq = 0;
            }
        }
    }

    /// Reacts to one client message; returns replies.
    fn on_message(&mut self, m: WsMsg, out: &mut Vec<WsMsg>) -> Result<(), End> {
        self.last_rx = Instant::now();
        let body = match &m {
            WsMsg::Text(t) => t.as_str().to_owned(),
            WsMsg::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => return Ok(()),
        };
        if self.kind == Kind::Echo {
            out.push(m);
            return Ok(());
        }
        if self.kind == Kind::Okx && body == "ping" {
            out.push(WsMsg::text("pong"));
            return Ok(());
        }
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        match self.kind {
            Kind::Huobi => {
                if let Some(n) = v.get("pong").and_then(Value::as_u64) {
                    if self.ping_sent.is_some_and(|(p, _)| p == n) {
                        self.ping_sent = None;
                    }
                } else if let Some(ch) = v.get("sub").and_then(Value::as_str) {
                    out.push(text(json!({"id": v["id"], "status": "ok", "subbed": ch, "ts": now_us() / 1000})));
                    self.start_streaming();
                }
            }
            Kind::Okx => {
                if v["op"] == "subscribe" {
                    for a in v["args"].as_array().into_iter().flatten() {
                        out.push(text(json!({"event": "subscribe", "arg": a})));
                    }
                    self.start_streaming();
                }
            }
            Kind::ExitStream => match v["type"].as_str() {
                Some("configure") => {
                    out.push(text(json!({"type": "balance_update", "wallet": v["wallet_pubkeys"][0], "tokens": []})));
                    self.start_streaming();
                }
                Some("ping") => out.push(text(json!({
                    "type": "pong", "client_time_ms": v["client_time_ms"], "server_time_ms": now_us() / 1000
                }))),
                _ => {}
            },
            Kind::Zigquant => match v["type"].as_str() {
                Some("auth") => {
                    if v["token"].as_str() == Some(&self.cfg.token) {
                        self.authed = true;
                        out.push(text(json!({"type": "auth_ok"})));
                    } else {
                        out.push(text(json!({"type": "auth_error", "message": "invalid token"})));
                        return Err("bad token".into());
                    }
                }
                Some("subscribe") if self.authed => {
                    let chans: Vec<String> = v["channels"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect();
                    out.push(text(json!({"type": "subscribed", "channels": chans})));
                    self.channels.extend(chans);
                    self.start_streaming();
                }
                Some("command") if self.authed => out.push(text(json!({
                    "type": "response", "id": v["id"], "success": true,
                    "data": {"command": v["command"], "accepted_at": now_us() / 1000}
                }))),
                Some("ping") => out.push(text(json!({"type": "pong", "timestamp": now_us() / 1000}))),
                _ if !self.authed => out.push(text(json!({"type": "error", "message": "authenticate first"}))),
                _ => {}
            },
            Kind::Binance | Kind::Echo => {}
        }
        Ok(())
    }

    /// Heartbeats and liveness checks due at `now`.
    fn heartbeat(&mut self, now: Instant, out: &mut Vec<WsMsg>) -> Result<(), End> {
        if let Some((n, at)) = self.ping_sent {
            if now >= at + self.cfg.pong_deadline {
                return Err(format!("no pong for ping {n}"));
            }
        }
        if self.kind == Kind::Okx && now >= self.last_rx + self.cfg.okx_idle {
            return Err("okx client silent".into());
        }
        if now >= self.next_ping {
            self.next_ping = now + self.cfg.ping_every;
            match self.kind {
                Kind::Binance => out.push(WsMsg::Ping(Vec::new().into())),
                Kind::Huobi if self.streaming && self.ping_sent.is_none() => {
                    let n = now_us() / 1000;
                    self.ping_sent = Some((n, now));
                    out.push(gzip(&json!({"ping": n}).to_string()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The next data message.
    fn data(&mut self) -> WsMsg {
        let seq = self.seq;
        self.seq += 1;
        // A deterministic random walk.
        let step = ((seq.wrapping_mul(2654435761) >> 7) % 21) as f64 - 10.0;
        self.price = (self.price + step * 0.5).max(1.0);
        let t_us = now_us();
        let p = format!("{:.2}", self.price);
        let mut v = match self.kind {
            Kind::Binance => {
                json!({"e": "24hrTicker", "E": t_us / 1000, "s": "BTCUSDT", "c": p, "seq": seq, "t_us": t_us})
            }
            Kind::Huobi => {
                json!({"ch": "market.btcusdt.ticker", "ts": t_us / 1000, "tick": {"close": self.price, "seq": seq}, "seq": seq, "t_us": t_us})
            }
            Kind::Okx => {
                json!({"arg": {"channel": "tickers", "instId": "BTC-USDT"}, "data": [{"instId": "BTC-USDT", "last": p, "ts": (t_us / 1000).to_string()}], "seq": seq, "t_us": t_us})
            }
            Kind::ExitStream => {
                if self.cfg.exit_every > 0 && seq % self.cfg.exit_every == self.cfg.exit_every - 1 {
                    json!({"type": "exit_signal", "position_id": seq / self.cfg.exit_every, "reason": "take_profit", "seq": seq, "t_us": t_us})
                } else {
                    json!({"type": "pnl_update", "position_id": seq % 7, "pnl_pct": (self.price - 37000.0) / 370.0, "seq": seq, "t_us": t_us})
                }
            }
            Kind::Zigquant => {
                let chans = [
                    "grid.1.status",
                    "grid.2.status",
                    "market.btcusdt.ticker",
                    "order.filled",
                ];
                let ch = chans[(seq % chans.len() as u64) as usize];
                json!({"type": "event", "channel": ch, "data": {"price": self.price}, "seq": seq, "t_us": t_us})
            }
            Kind::Echo => json!({"seq": seq, "t_us": t_us}),
        };
        let base = v.to_string().len();
        // `,"pad":""` adds 9 bytes around the padding itself.
        if self.cfg.size > base + 9 {
            v["pad"] = Value::String("x".repeat(self.cfg.size - base - 9));
        }
        let s = v.to_string();
        match self.kind {
            Kind::Huobi => gzip(&s),
            _ => WsMsg::text(s),
        }
    }

    /// Whether this data message is for the client (zigquant: subscribed channels only).
    fn wanted(&self, m: &WsMsg) -> bool {
        if self.kind != Kind::Zigquant {
            return true;
        }
        let WsMsg::Text(t) = m else { return true };
        let ch = serde_json::from_str::<Value>(t.as_str())
            .ok()
            .and_then(|v| v["channel"].as_str().map(str::to_owned));
        ch.is_some_and(|ch| self.channels.iter().any(|pat| channel_matches(pat, &ch)))
    }
}

/// `grid.*.status` matches `grid.1.status`; `*` alone matches everything.
pub fn channel_matches(pattern: &str, channel: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let (p, c): (Vec<&str>, Vec<&str>) =
        (pattern.split('.').collect(), channel.split('.').collect());
    p.len() == c.len() && p.iter().zip(&c).all(|(a, b)| *a == "*" || a == b)
}

fn text(v: Value) -> WsMsg {
    WsMsg::text(v.to_string())
}

fn gzip(s: &str) -> WsMsg {
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(s.len() / 2 + 32),
        flate2::Compression::fast(),
    );
    e.write_all(s.as_bytes()).expect("in-memory");
    WsMsg::Binary(e.finish().expect("in-memory").into())
}

fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

fn serve_one(
    tcp: TcpStream,
    cfg: &Arc<SimConfig>,
    stats: &SimStats,
    stop: &AtomicBool,
) -> Result<(), String> {
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut kind = None;
    let ws_cfg = WebSocketConfig::default().write_buffer_size(0);
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let deny = |code: u16, why: &str| {
            let mut r = ErrorResponse::new(Some(why.to_owned()));
            *r.status_mut() = tungstenite::http::StatusCode::from_u16(code).expect("valid status");
            r
        };
        let k = Kind::from_path(&path).ok_or_else(|| deny(404, "unknown path"))?;
        match k {
            Kind::ExitStream => {
                let key = req.headers().get("x-api-key").and_then(|v| v.to_str().ok());
                if key != Some(cfg.api_key.as_str()) {
                    return Err(deny(401, "missing or wrong x-api-key"));
                }
            }
            Kind::Zigquant => {
                let token = path
                    .split_once("token=")
                    .map(|(_, t)| t.split('&').next().unwrap_or(""));
                if token != Some(cfg.token.as_str()) {
                    return Err(deny(401, "missing or wrong token"));
                }
                let offered = req
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if offered.split(',').any(|p| p.trim() == "zigquant-v2") {
                    resp.headers_mut().insert(
                        "Sec-WebSocket-Protocol",
                        "zigquant-v2".parse().expect("valid header"),
                    );
                }
            }
            _ => {}
        }
        kind = Some(k);
        Ok(resp)
    };
    let mut ws = tungstenite::accept_hdr_with_config(tcp, callback, Some(ws_cfg))
        .map_err(|e| e.to_string())?;
    let kind = kind.expect("set by the callback");
    ws.get_mut()
        .set_read_timeout(None)
        .map_err(|e| e.to_string())?;
    ws.get_mut()
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    run_feed(&mut ws, Feed::new(kind, cfg.clone()), stats, stop)
}

fn run_feed(
    ws: &mut WebSocket<TcpStream>,
    mut feed: Feed,
    stats: &SimStats,
    stop: &AtomicBool,
) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let fd = ws.get_ref().as_raw_fd();
    poll.registry()
        .register(
            &mut SourceFd(&fd),
            Token(0),
            Interest::READABLE | Interest::WRITABLE,
        )
        .map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(4);
    let cfg = feed.cfg.clone();
    let mut out = feed.greeting();
    let mut blocked = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err("simulator stopped".into());
        }
        // Read everything that is there.
        loop {
            match ws.read() {
                Ok(m) => feed.on_message(m, &mut out)?,
                Err(e) if would_block(&e) => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        let now = Instant::now();
        feed.heartbeat(now, &mut out)?;
        if let Some(every) = cfg.drop_every {
            if now >= feed.started + every {
                stats.drops.fetch_add(1, Ordering::Relaxed);
                return Err("drop_every".into());
            }
        }
        // Data that is due.
        let mut next_due = None;
        if feed.streaming && !blocked {
            let due = if cfg.rate > 0.0 {
                let should = ((now - feed.stream_start).as_secs_f64() * cfg.rate) as u64 + 1;
                next_due =
                    Some(feed.stream_start + Duration::from_secs_f64(should as f64 / cfg.rate));
                should.saturating_sub(feed.seq).min(1000)
            } else {
                256
            };
            for _ in 0..due {
                if cfg.drop_after.is_some_and(|n| feed.seq >= n) {
                    // What was due before the drop goes out first.
                    for m in out.drain(..) {
                        let _ = ws.write(m);
                    }
                    let _ = ws.flush();
                    stats.drops.fetch_add(1, Ordering::Relaxed);
                    return Err("drop_after".into());
                }
                let m = feed.data();
                if feed.wanted(&m) {
                    out.push(m);
                }
            }
        }
        for m in out.drain(..) {
            match ws.write(m) {
                Ok(()) => {
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if would_block(&e) => {
                    // Buffered by tungstenite; it goes out with the next flush.
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        blocked = match ws.flush() {
            Ok(()) => false,
            Err(e) if would_block(&e) => true,
            Err(e) => return Err(e.to_string()),
        };
        let mut timeout = feed.next_ping.saturating_duration_since(Instant::now());
        if let Some((_, at)) = feed.ping_sent {
            timeout =
                timeout.min((at + cfg.pong_deadline).saturating_duration_since(Instant::now()));
        }
        if let Some(every) = cfg.drop_every {
            timeout = timeout.min((feed.started + every).saturating_duration_since(Instant::now()));
        }
        if feed.streaming && !blocked {
            match next_due {
                Some(d) => timeout = timeout.min(d.saturating_duration_since(Instant::now())),
                None => timeout = Duration::ZERO,
            }
        }
        // Wake at least every 200 ms to notice a stop.
        timeout = timeout.min(Duration::from_millis(200));
        if !timeout.is_zero() {
            poll.poll(&mut events, Some(timeout))
                .map_err(|e| e.to_string())?;
        }
    }
}

/// A raw TCP line service for `tcp://` clients: says `HELLO wsdial-sim`, answers
/// `QUOTE SYM` with `QUOTE SYM PRICE`, and echoes other lines as `ECHO line`.
pub fn start_tcp_service(bind: SocketAddr) -> io::Result<SocketAddr> {
    use std::io::BufRead;
    let listener = TcpListener::bind(bind)?;
    let addr = listener.local_addr()?;
    thread::Builder::new()
        .name("sim-tcp".into())
        .spawn(move || {
            for tcp in listener.incoming().flatten() {
                let _ = thread::Builder::new()
                    .stack_size(128 * 1024)
                    .spawn(move || {
                        let mut w = match tcp.try_clone() {
                            Ok(w) => w,
                            Err(_) => return,
                        };
                        let _ = w.write_all(b"HELLO wsdial-sim\n");
                        let mut price = 37_000.0f64;
                        for line in io::BufReader::new(tcp).lines() {
                            let Ok(line) = line else { return };
                            let reply = match line.strip_prefix("QUOTE ") {
                                Some(sym) => {
                                    price += 0.25;
                                    format!("QUOTE {} {price:.2}\n", sym.trim())
                                }
                                None => format!("ECHO {line}\n"),
                            };
                            if w.write_all(reply.as_bytes()).is_err() {
                                return;
                            }
                        }
                    });
            }
        })?;
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(channel_matches("grid.*.status", "grid.1.status"));
        assert!(!channel_matches("grid.*.status", "grid.1.orders"));
        assert!(!channel_matches("grid.*", "grid.1.status"));
        assert!(channel_matches("*", "order.filled"));
        assert!(channel_matches("order.filled", "order.filled"));
    }

    #[test]
    fn paths() {
        assert_eq!(Kind::from_path("/binance"), Some(Kind::Binance));
        assert_eq!(Kind::from_path("/ws/btcusdt@trade"), Some(Kind::Binance));
        assert_eq!(Kind::from_path("/huobi"), Some(Kind::Huobi));
        assert_eq!(Kind::from_path("/okx"), Some(Kind::Okx));
        assert_eq!(Kind::from_path("/ws/v5/public"), Some(Kind::Okx));
        assert_eq!(Kind::from_path("/v1/ws"), Some(Kind::ExitStream));
        assert_eq!(Kind::from_path("/zigquant?token=x"), Some(Kind::Zigquant));
        assert_eq!(Kind::from_path("/nope"), None);
    }

    #[test]
    fn data_is_padded_to_size() {
        let cfg = Arc::new(SimConfig {
            size: 2000,
            ..SimConfig::default()
        });
        let mut f = Feed::new(Kind::Binance, cfg);
        let WsMsg::Text(t) = f.data() else { panic!() };
        assert_eq!(t.len(), 2000);
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        assert_eq!(v["seq"], 0);
    }

    #[test]
    fn global_seq_counts_from_the_start_for_every_connection() {
        let cfg = Arc::new(SimConfig {
            rate: 1000.0,
            global_seq: true,
            epoch: Instant::now() - Duration::from_secs(2),
            ..SimConfig::default()
        });
        let f = Feed::new(Kind::Binance, cfg.clone());
        assert!(
            (2001..2100).contains(&f.seq),
            "a connection made 2 s after the start begins near 2000: {}",
            f.seq
        );
        assert_eq!(f.stream_start, cfg.epoch);
        let per_connection = Feed::new(Kind::Binance, Arc::new(SimConfig::default()));
        assert_eq!(per_connection.seq, 0);
    }
}
