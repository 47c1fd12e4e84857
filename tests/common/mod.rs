//! Test helpers: loopback servers bound to 127.0.0.1:0, a watchdog, waiting with deadlines.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use tungstenite::Message as WsMsg;
pub type Ws = tungstenite::WebSocket<TcpStream>;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `f` on its own thread and fails the test if it does not finish in `limit`
/// (a hang fails instead of blocking CI). Panics inside `f` fail the test too.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let h = thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let r = f();
            let _ = tx.send(());
            r
        })
        .unwrap();
    match rx.recv_timeout(limit) {
        Ok(()) => h.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
            Ok(_) => unreachable!(),
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("watchdog: test did not finish within {limit:?}")
        }
    }
}

/// Polls `cond` until it holds; panics with `what` at the deadline.
pub fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        thread::yield_now();
        thread::sleep(ms(1));
    }
}

/// A WebSocket server on 127.0.0.1:0; every accepted connection runs `handler`
/// on its own thread with its index (0 for the first connection).
pub struct Server {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn ws<F>(handler: F) -> Server
    where
        F: Fn(Ws, usize) + Send + Sync + 'static,
    {
        Server::raw(move |tcp, i| {
            let ws = tungstenite::accept(tcp).expect("server handshake");
            handler(ws, i)
        })
    }

    /// Like `ws`, but the handler gets the TCP stream before any handshake.
    pub fn raw<F>(handler: F) -> Server
    where
        F: Fn(TcpStream, usize) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let handler = Arc::new(handler);
        {
            let (stop, accepted) = (stop.clone(), accepted.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(tcp) = conn else { continue };
                    let i = accepted.fetch_add(1, Ordering::AcqRel);
                    let h = handler.clone();
                    thread::spawn(move || h(tcp, i));
                }
            });
        }
        Server {
            addr,
            accepted,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect_timeout(&self.addr, ms(200));
    }
}

/// Reads messages until a data message arrives (skipping control frames).
pub fn next_data(ws: &mut Ws) -> Option<WsMsg> {
    loop {
        match ws.read() {
            Ok(m @ (WsMsg::Text(_) | WsMsg::Binary(_))) => return Some(m),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

/// Blocks until the peer goes away (reads and discards everything).
pub fn until_closed(ws: &mut Ws) {
    while ws.read().is_ok() {}
}

/// A raw server that reads the request and never answers.
pub fn silent_listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// Reads the request head; `None` when the client went away first.
pub fn request_head(tcp: &mut TcpStream) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    Some(String::from_utf8_lossy(&got).into_owned())
}

/// The value of a header in a request head (case-insensitive name).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads the request head, answers with these raw bytes (any answer, valid or
/// not), and closes when the client does, or after 300 ms.
pub fn http_answer(response: &'static [u8]) -> Server {
    Server::raw(move |mut tcp, _| {
        if request_head(&mut tcp).is_none() {
            return;
        }
        let mut buf = [0u8; 64];
        let _ = tcp.write_all(response);
        let _ = tcp.flush();
        let _ = tcp.set_read_timeout(Some(ms(300)));
        let _ = tcp.read(&mut buf);
    })
}

pub fn text(ev: &wsdial::Event) -> String {
    match ev {
        wsdial::Event::Message(m) => m.as_text().expect("text message").to_owned(),
        wsdial::Event::Disconnected(_) => "<disconnected>".into(),
    }
}

/// A scripted server: echoes every message, except text commands:
/// `cmd:send a b c` sends each word as a text message; `cmd:count N prefix`
/// sends `prefix0` … `prefix{N-1}`; `cmd:close CODE` closes with a close frame;
/// `cmd:drop` drops the TCP connection without one; `cmd:ping DATA` sends a Ping.
pub fn command_server() -> Server {
    Server::ws(|mut ws, _| command_loop(&mut ws))
}

pub fn command_loop(ws: &mut Ws) {
    loop {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(_) => return,
        };
        let cmd = match &msg {
            WsMsg::Text(t) if t.starts_with("cmd:") => t[4..].to_owned(),
            WsMsg::Text(_) | WsMsg::Binary(_) => {
                if ws.send(msg).is_err() {
                    return;
                }
                continue;
            }
            _ => continue,
        };
        let mut words = cmd.split(' ');
        match words.next().unwrap_or("") {
            "send" => {
                for w in words {
                    ws.write(WsMsg::text(w)).unwrap();
                }
                ws.flush().unwrap();
            }
            "count" => {
                let n: usize = words.next().unwrap().parse().unwrap();
                let prefix = words.next().unwrap_or("");
                for i in 0..n {
                    ws.write(WsMsg::text(format!("{prefix}{i}"))).unwrap();
                }
                ws.flush().unwrap();
            }
            "close" => {
                let code: u16 = words.next().unwrap_or("1000").parse().unwrap();
                let _ = ws.close(Some(tungstenite::protocol::CloseFrame {
                    code: code.into(),
                    reason: "bye".into(),
                }));
                until_closed(ws);
                return;
            }
            "drop" => return,
            "ping" => {
                ws.send(WsMsg::Ping(
                    words.next().unwrap_or("").as_bytes().to_vec().into(),
                ))
                .unwrap();
            }
            other => panic!("unknown command {other}"),
        }
    }
}

/// Huobi-style heartbeats: `rounds` times, 100 data messages (`data(k)`), then
/// `{"ping":n}`, which must be answered with `{"pong":n}` within 200 ms; then
/// a pause of `pause` minus the time the answer took. Returns the answers and
/// whether every ping was answered in time.
pub fn huobi_rounds(
    ws: &mut Ws,
    rounds: u64,
    pause: Duration,
    data: impl Fn(u64) -> String,
) -> (u64, bool) {
    ws.get_mut().set_read_timeout(Some(ms(1))).unwrap();
    let mut answered = 0;
    for n in 0..rounds {
        for k in 0..100 {
            ws.write(WsMsg::text(data(n * 100 + k))).unwrap();
        }
        ws.send(WsMsg::text(format!("{{\"ping\":{n}}}"))).unwrap();
        let sent = std::time::Instant::now();
        let mut ok = false;
        while sent.elapsed() < ms(200) {
            match ws.read() {
                Ok(WsMsg::Text(t)) if t.as_str() == format!("{{\"pong\":{n}}}") => {
                    ok = true;
                    break;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !ok {
            return (answered, false);
        }
        answered += 1;
        std::thread::park_timeout(pause.saturating_sub(sent.elapsed()));
    }
    (answered, true)
}

/// A dialer that answers the `{"ping":n}` of `huobi_rounds` with `{"pong":n}`
/// and keeps the pings out of the buffer.
pub fn huobi_pong_dialer() -> wsdial::Dialer {
    wsdial::Dialer::new().auto_reply(|m| {
        match m.as_text().and_then(|t| t.strip_prefix("{\"ping\":")) {
            Some(rest) => wsdial::Reply::Send(format!("{{\"pong\":{rest}")),
            None => wsdial::Reply::Pass,
        }
    })
}
