//! Idle cost and idle write latency: `cargo bench --bench idle`.
//!
//! * write round trip on an idle connection (echo server on loopback), wsdial vs a
//!   plain blocking tungstenite client in the same run (the baseline);
//! * how long `Conn::write` itself takes to return;
//! * wake-ups over an idle period, with the keepalive off, every second, and
//!   at its default (20 s; `LIVENESS_SECS`, default 41, covers two periods):
//!   the voluntary context switches (from /proc/self/task/TID/status) of the
//!   worker and of the program thread that waits in `read_timeout`, and the
//!   worker's CPU time.
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn echo_server() -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut ws = tungstenite::accept(s).unwrap();
                while let Ok(m) = ws.read() {
                    if (m.is_text() || m.is_binary()) && ws.send(m).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// (voluntary switches, cpu ticks) of the first thread named `name`.
fn thread_stats(name: &str) -> Option<(u64, u64)> {
    for t in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let status = std::fs::read_to_string(t.path().join("status")).ok()?;
            let vol = status
                .lines()
                .find(|l| l.starts_with("voluntary_ctxt_switches"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
            let after = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = after.split_whitespace().collect();
            let ticks = f[11].parse::<u64>().ok()? + f[12].parse::<u64>().ok()?;
            return Some((vol, ticks));
        }
    }
    None
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let idle_secs: u64 = std::env::var("IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let addr = echo_server();
    let gap = Duration::from_millis(1); // the connection goes idle between writes

    // Baseline: plain blocking tungstenite, send then read the echo.
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/"), tcp).unwrap();
    let mut base = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let t = Instant::now();
        ws.send(tungstenite::Message::text(format!("order-{i}")))
            .unwrap();
        let _ = ws.read().unwrap();
        base.push(t.elapsed());
        std::thread::sleep(gap);
    }

    // wsdial: write from this thread, the echo is read back through the inbox.
    let conn = wsdial::dial(&format!("ws://{addr}/")).unwrap();
    let mut rt = Vec::with_capacity(rounds);
    let mut call = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let t = Instant::now();
        conn.write(&format!("order-{i}"));
        call.push(t.elapsed());
        let _ = conn.read();
        rt.push(t.elapsed());
        std::thread::sleep(gap);
    }
    let (b50, b99) = (pct(&mut base, 0.5), pct(&mut base, 0.99));
    let (w50, w99) = (pct(&mut rt, 0.5), pct(&mut rt, 0.99));
    let (c50, c99) = (pct(&mut call, 0.5), pct(&mut call, 0.99));
    println!("## idle write round trip (echo on loopback, {rounds} writes, 1 ms apart)\n");
    println!("| client | p50 µs | p99 µs | p99 / baseline p99 |");
    println!("|---|---:|---:|---:|");
    println!(
        "| baseline: tungstenite blocking send+read | {:.1} | {:.1} | 1.00 |",
        us(b50),
        us(b99)
    );
    println!(
        "| wsdial write + read | {:.1} | {:.1} | {:.2} |",
        us(w50),
        us(w99),
        us(w99) / us(b99)
    );
    println!(
        "| wsdial `write()` call returns | {:.2} | {:.2} | |",
        us(c50),
        us(c99)
    );

    drop(conn);

    // Idle: nothing sent, nothing received. Each case is a fresh connection
    // (so one worker thread is named `wsdial-worker`).
    println!("\n## idle connection: wake-ups (voluntary context switches) and CPU\n");
    println!("| keepalive | who waits | seconds | worker wake-ups | reader wake-ups | worker CPU ticks (1/100 s) |");
    println!("|---|---|---:|---:|---:|---:|");
    let liveness_secs: u64 = std::env::var("LIVENESS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(41);
    let cases = [
        ("`ping=0`", "|ping=0", true, idle_secs),
        (
            "every 1 s (`ping=1000&ping_timeout=1000`)",
            "|ping=1000&ping_timeout=1000",
            true,
            idle_secs,
        ),
        (
            "every 1 s (`ping=1000&ping_timeout=1000`)",
            "|ping=1000&ping_timeout=1000",
            false,
            idle_secs,
        ),
        ("default (20 s, 20 s)", "", true, liveness_secs),
    ];
    for (label, opts, reads, secs) in cases {
        let conn = wsdial::dial(&format!("ws://{addr}/{opts}")).unwrap();
        // Settle: the handshake's traffic is over.
        std::thread::sleep(Duration::from_millis(200));
        let before = thread_stats("wsdial-worker").expect("worker thread");
        let me = own_switches();
        let t = Instant::now();
        if reads {
            // The program waits in `read_timeout` (on the socket itself).
            assert!(conn.read_timeout(Duration::from_secs(secs)).is_none());
        } else {
            // Nobody reads: the worker watches the socket.
            std::thread::sleep(Duration::from_secs(secs));
        }
        let after = thread_stats("wsdial-worker").expect("worker thread");
        let mine = own_switches() - me;
        println!(
            "| {label} | {} | {:.1} | {} | {} | {} |",
            if reads {
                "program in `read_timeout`"
            } else {
                "nobody reads"
            },
            t.elapsed().as_secs_f64(),
            after.0 - before.0,
            if reads { mine.to_string() } else { "-".into() },
            after.1 - before.1
        );
        drop(conn);
    }
}

/// Voluntary context switches of the calling thread.
fn own_switches() -> u64 {
    std::fs::read_to_string("/proc/thread-self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("voluntary_ctxt_switches"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
