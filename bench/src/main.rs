//! Load source and Rust clients for `scripts/bench`.
//!
//! `wsdial-bench server` listens on 127.0.0.1:0 (prints the port) and serves:
//! - `/blast?size=S&count=N&gzip=0|1&book=0|1&pmd=0|1`: N copies of one pre-encoded
//!   message as fast as the socket takes them (big writes of ready-made frames: the
//!   source is never the bottleneck), then a close frame. `book=1`: the message is
//!   a cycle of 256 order books of varied numbers instead of one padded message;
//!   `pmd=1`: the server accepts permessage-deflate and sends them compressed
//!   (with context takeover, as exchanges do);
//! - `/rate?size=S&rate=R&count=N`: paced messages carrying `"t_us"` (send time);
//! - `/echo`, `/idle` (upgrade, then nothing), `/drop?after=N&rate=R` (N paced
//!   messages, then the TCP connection is dropped; again on every connection).
//!
//! `wsdial-bench client MODE URL ARGS…` runs one client and prints one JSON line.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tungstenite::Message as WsMsg;

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

fn query(path: &str, key: &str, default: u64) -> u64 {
    path.split(['?', '&'])
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A JSON message of about `size` bytes with `seq` and `t_us`.
fn message(size: usize, seq: u64) -> String {
    let base = format!(r#"{{"ch":"market.btcusdt.ticker","seq":{seq},"t_us":{},"tick":{{"close":37000.5,"vol":1234.5}}"#, now_us());
    let pad = size.saturating_sub(base.len() + 10);
    format!(r#"{base},"pad":"{}"}}"#, "x".repeat(pad))
}

/// An order book of about `size` bytes: numbers that vary, as a market-data
/// feed's do (padding would compress far better than a real feed).
/// How many different order books `book=1` cycles through.
const BOOKS: u64 = 256;

fn book(size: usize, seed: u64) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut s = format!(r#"{{"ch":"market.btcusdt.depth.step0","seq":0,"t_us":{},"tick":{{"bids":["#, now_us());
    let mut side = "bids";
    while s.len() + 40 < size {
        let price = 37000.0 + (next() % 200_000) as f64 / 100.0;
        let qty = (next() % 100_000) as f64 / 10_000.0;
        s.push_str(&format!("[{price:.2},{qty:.4}],"));
        if side == "bids" && s.len() > size / 2 {
            s.pop();
            s.push_str(r#"],"asks":["#);
            side = "asks";
        }
    }
    s.pop();
    s.push_str("]}}");
    s
}

/// permessage-deflate's payload for `b`: raw DEFLATE, sync-flushed, the
/// empty block's 4 bytes removed (RFC 7692 section 7.2.1).
fn pmd(z: &mut flate2::Compress, b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + 64);
    z.compress_vec(b, &mut out, flate2::FlushCompress::Sync).unwrap();
    out.truncate(out.len() - 4);
    out
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// An unmasked server frame.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n < 65536 => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

fn server() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("{}", l.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    for tcp in l.incoming().flatten() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || serve(tcp))
            .unwrap();
    }
}

fn serve(tcp: TcpStream) {
    tcp.set_nodelay(true).unwrap();
    let mut path = String::new();
    let cb = |req: &tungstenite::handshake::server::Request, mut resp: tungstenite::handshake::server::Response| {
        path = req.uri().to_string();
        let offered = req.headers().get("Sec-WebSocket-Extensions").and_then(|v| v.to_str().ok()).unwrap_or("");
        if path.contains("pmd=1") && offered.contains("permessage-deflate") {
            resp.headers_mut().insert("Sec-WebSocket-Extensions", "permessage-deflate".parse().unwrap());
        }
        Ok(resp)
    };
    let Ok(mut ws) = tungstenite::accept_hdr(tcp, cb) else { return };
    let p = path.clone();
    if p.starts_with("/blast") {
        let (size, count, gz) = (query(&p, "size", 200) as usize, query(&p, "count", 1000), query(&p, "gzip", 0) == 1);
        // One message, or with book=1 a cycle of BOOKS different ones. With
        // pmd=1 the cycle is compressed with context takeover, each message
        // referring back only to those before it in the cycle, so the cycle
        // can be sent again and again.
        let bodies: Vec<String> = if query(&p, "book", 0) == 1 {
            (0..BOOKS).map(|i| book(size, i)).collect()
        } else {
            vec![message(size, 0)]
        };
        let mut z = flate2::Compress::new(flate2::Compression::default(), false);
        let frames: Vec<Vec<u8>> = bodies
            .iter()
            .map(|b| {
                if gz {
                    frame(2, &gzip(b.as_bytes()))
                } else if query(&p, "pmd", 0) == 1 {
                    frame(0x41, &pmd(&mut z, b.as_bytes()))
                } else {
                    frame(1, b.as_bytes())
                }
            })
            .collect();
        let cycle: Vec<u8> = frames.concat();
        let cycles = (256 * 1024 / cycle.len()).max(1);
        let per_chunk = (cycles * frames.len()) as u64;
        let chunk = cycle.repeat(cycles);
        let mut sent = 0;
        let s = ws.get_mut();
        while sent + per_chunk <= count {
            if s.write_all(&chunk).is_err() {
                return;
            }
            sent += per_chunk;
        }
        for i in 0..(count - sent) as usize {
            if s.write_all(&frames[i % frames.len()]).is_err() {
                return;
            }
        }
        let _ = ws.close(None);
        while ws.read().is_ok() {}
    } else if p.starts_with("/rate") || p.starts_with("/drop") {
        let size = query(&p, "size", 200) as usize;
        let rate = query(&p, "rate", 1000) as f64;
        let count = query(&p, if p.starts_with("/drop") { "after" } else { "count" }, 1000);
        let start = Instant::now();
        for seq in 0..count {
            let due = start + Duration::from_secs_f64(seq as f64 / rate);
            loop {
                let now = Instant::now();
                if now >= due {
                    break;
                }
                let left = due - now;
                if left > Duration::from_micros(300) {
                    std::thread::sleep(left - Duration::from_micros(200));
                } else {
                    std::hint::spin_loop();
                }
            }
            if ws.send(WsMsg::text(message(size, seq))).is_err() {
                return;
            }
        }
        if p.starts_with("/rate") {
            let _ = ws.close(None);
            while ws.read().is_ok() {}
        } // /drop: the socket is dropped here, no close frame
    } else if p.starts_with("/echo") {
        while let Ok(m) = ws.read() {
            if (m.is_text() || m.is_binary()) && ws.send(m).is_err() {
                return;
            }
        }
    } else {
        // /idle
        while ws.read().is_ok() {}
    }
}

fn seq_and_t(text: &str) -> (u64, u64) {
    let num = |key: &str| {
        text.find(key)
            .map(|i| text[i + key.len()..].bytes().take_while(u8::is_ascii_digit).fold(0u64, |a, b| a * 10 + (b - b'0') as u64))
            .unwrap_or(0)
    };
    (num("\"seq\":"), num("\"t_us\":"))
}

fn percentiles(mut v: Vec<u64>) -> serde_json::Value {
    v.sort_unstable();
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    json!({"p50_us": p(0.5), "p99_us": p(0.99), "p999_us": p(0.999), "n": v.len()})
}

fn proc_status(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Voluntary context switches of every thread of this process but the calling
/// one (whose own wait, and its end, are the measurement, not the library's cost).
fn wakeups() -> u64 {
    let me = std::fs::read_link("/proc/thread-self").ok().and_then(|p| p.file_name().map(|n| n.to_owned()));
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|t| Some(t.file_name()) != me)
        .map(|t| {
            std::fs::read_to_string(t.path().join("status"))
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("voluntary_ctxt_switches"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

fn cpu_ticks() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s[s.rfind(')').unwrap() + 2..].split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn tungstenite_connect(url: &str) -> tungstenite::WebSocket<TcpStream> {
    let hostport = url.trim_start_matches("ws://").split('/').next().unwrap();
    let tcp = TcpStream::connect(hostport).unwrap();
    tcp.set_nodelay(true).unwrap();
    let cfg = tungstenite::protocol::WebSocketConfig::default().max_message_size(None);
    tungstenite::client::client_with_config(url, tcp, Some(cfg)).unwrap().0
}

fn inflate_gzip(b: &[u8], out: &mut Vec<u8>) {
    out.clear();
    flate2::read::GzDecoder::new(b).read_to_end(out).unwrap();
}

fn client(mode: &str, url: &str, args: &[String]) -> serde_json::Value {
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let gz = url.contains("gzip=1");
    match mode {
        "baseline" => {
            let mut ws = tungstenite_connect(url);
            let mut out = Vec::new();
            let (mut count, mut bytes) = (0u64, 0u64);
            let mut t0 = None;
            while count < n {
                match ws.read() {
                    Ok(WsMsg::Text(t)) => bytes += t.len() as u64,
                    Ok(WsMsg::Binary(b)) => {
                        if gz {
                            inflate_gzip(&b, &mut out);
                            bytes += out.len() as u64;
                        } else {
                            bytes += b.len() as u64;
                        }
                    }
                    Ok(_) => continue,
                    Err(_) => break,
                }
                t0.get_or_insert_with(Instant::now);
                count += 1;
            }
            json!({"messages": count, "bytes": bytes, "secs": t0.map_or(0.0, |t| t.elapsed().as_secs_f64())})
        }
        "read" | "try" | "latest" => {
            let addr = if gz {
                format!("{url}|compress=gzip&qsize=100000")
            } else if url.contains("pmd=1") {
                format!("{url}|enableCompression=true&qsize=100000")
            } else {
                format!("{url}|qsize=100000")
            };
            let c = wsdial::dial(&addr).unwrap();
            let (mut count, mut bytes, mut last_seq) = (0u64, 0u64, 0u64);
            let mut t0 = None;
            // One loop per mode, so the loop itself costs what the baseline's does.
            match mode {
                "read" => {
                    while let wsdial::Event::Message(m) = c.read() {
                        t0.get_or_insert_with(Instant::now);
                        count += 1;
                        bytes += m.len() as u64;
                        if count >= n {
                            break;
                        }
                    }
                }
                "try" => loop {
                    match c.try_read() {
                        Some(wsdial::Event::Message(m)) => {
                            t0.get_or_insert_with(Instant::now);
                            count += 1;
                            bytes += m.len() as u64;
                            if count >= n {
                                break;
                            }
                        }
                        Some(wsdial::Event::Disconnected(_)) => break,
                        None => std::thread::yield_now(),
                    }
                },
                _ => loop {
                    match c.read_latest() {
                        Some(wsdial::Event::Message(m)) => {
                            t0.get_or_insert_with(Instant::now);
                            count += 1;
                            bytes += m.len() as u64;
                            last_seq = seq_and_t(m.as_text().unwrap_or("")).0;
                        }
                        Some(wsdial::Event::Disconnected(_)) => break,
                        None => std::thread::yield_now(),
                    }
                },
            }
            let s = c.stats();
            json!({"messages": count, "bytes": bytes, "secs": t0.map_or(0.0, |t| t.elapsed().as_secs_f64()),
                   "received": s.received, "dropped": s.dropped, "discarded": s.discarded, "last_seq": last_seq})
        }
        "worker" => {
            // The worker alone: nothing reads; wait until everything was received.
            let c = wsdial::dial(&format!("{url}|qsize=10000000&qbytes=4000000000")).unwrap();
            let t = Instant::now();
            while c.stats().received < n && c.is_connected() {
                std::thread::sleep(Duration::from_millis(2));
            }
            json!({"messages": c.stats().received, "secs": t.elapsed().as_secs_f64()})
        }
        "latency-baseline" => {
            let mut ws = tungstenite_connect(url);
            let mut d = Vec::new();
            while let Ok(m) = ws.read() {
                if let WsMsg::Text(t) = m {
                    d.push(now_us().saturating_sub(seq_and_t(&t).1));
                }
            }
            percentiles(d)
        }
        "latency-wsdial" => {
            let c = wsdial::dial(url).unwrap();
            let mut d = Vec::new();
            while let wsdial::Event::Message(m) = c.read() {
                d.push(now_us().saturating_sub(seq_and_t(m.as_text().unwrap()).1));
            }
            percentiles(d)
        }
        "rtt-baseline" | "rtt-wsdial" => {
            let mut rtt = Vec::with_capacity(n as usize);
            if mode == "rtt-baseline" {
                let mut ws = tungstenite_connect(url);
                for i in 0..n {
                    std::thread::sleep(Duration::from_millis(1));
                    let t = Instant::now();
                    ws.send(WsMsg::text(format!("order-{i}"))).unwrap();
                    ws.read().unwrap();
                    rtt.push(t.elapsed().as_micros() as u64);
                }
            } else {
                let c = wsdial::dial(url).unwrap();
                for i in 0..n {
                    std::thread::sleep(Duration::from_millis(1));
                    let t = Instant::now();
                    c.write(&format!("order-{i}"));
                    c.read();
                    rtt.push(t.elapsed().as_micros() as u64);
                }
            }
            percentiles(rtt)
        }
        "idle-baseline" | "idle-wsdial" => {
            let secs = n;
            let (w0, c0) = (wakeups(), cpu_ticks());
            // Both clients settle for 200 ms after connecting before the idle window starts.
            if mode == "idle-baseline" {
                let mut ws = tungstenite_connect(url);
                std::thread::sleep(Duration::from_millis(200));
                ws.get_mut().set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
                let (w0, c0) = (wakeups(), cpu_ticks());
                let _ = ws.read();
                return json!({"wakeups": wakeups() - w0, "cpu_ticks": cpu_ticks() - c0, "secs": secs});
            }
            let c = wsdial::dial(url).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            let (w1, c1) = (wakeups(), cpu_ticks());
            assert!(c.read_timeout(Duration::from_secs(secs)).is_none());
            let _ = (w0, c0);
            json!({"wakeups": wakeups() - w1, "cpu_ticks": cpu_ticks() - c1, "secs": secs})
        }
        "stall" => {
            let qbytes: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16 << 20);
            let rss0 = proc_status("VmRSS:");
            let c = wsdial::dial(&format!("{url}|qbytes={qbytes}&qsize=10000000")).unwrap();
            let deadline = Instant::now() + Duration::from_secs(n);
            // Never read: wait until the flood is over (or the time is up).
            while c.is_connected() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let s = c.stats();
            json!({"hwm_kb": proc_status("VmHWM:"), "rss_before_kb": rss0, "qbytes": qbytes,
                   "received": s.received, "dropped": s.dropped, "queued_bytes": s.queued_bytes})
        }
        "many" => {
            let warm = wsdial::dial(url).unwrap();
            drop(warm);
            let rss0 = proc_status("VmRSS:");
            let conns: Vec<wsdial::Conn> = (0..n).map(|_| wsdial::dial(url).unwrap()).collect();
            let rss1 = proc_status("VmRSS:");
            let per = (rss1.saturating_sub(rss0)) as f64 / n as f64;
            drop(conns);
            json!({"connections": n, "rss_before_kb": rss0, "rss_after_kb": rss1, "per_conn_kb": per})
        }
        "reconnect" => {
            let drops = n;
            let interval: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0);
            // A fixed wait (`max_interval` = `interval`): the gap, not the backoff, is measured.
            let c = wsdial::dial(&format!("{url}|reconnect=true&interval={interval}&max_interval={interval}")).unwrap();
            let (mut last_t, mut lost, mut gaps) = (0u64, false, Vec::new());
            while (gaps.len() as u64) < drops {
                match c.read() {
                    wsdial::Event::Message(m) => {
                        let t = seq_and_t(m.as_text().unwrap()).1;
                        if lost {
                            gaps.push(now_us().saturating_sub(last_t));
                            lost = false;
                        }
                        last_t = t;
                    }
                    wsdial::Event::Disconnected(_) => lost = true,
                }
            }
            percentiles(gaps)
        }
        other => panic!("unknown mode {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => server(),
        Some("client") => {
            let v = client(&args[1], &args[2], &args[3..]);
            println!("{v}");
        }
        _ => {
            eprintln!("usage: wsdial-bench server | client MODE URL [ARGS]");
            std::process::exit(2);
        }
    }
}
