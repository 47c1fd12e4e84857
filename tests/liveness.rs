//! Liveness by default: a WebSocket sends a protocol Ping every `ping` (20 s)
//! and is dead when nothing at all arrives within `ping_timeout` (20 s) of one.
//! The connection here dies without closing: a loopback relay that the test
//! controls stops forwarding, and nothing (no FIN, no RST) reaches the client.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wsdial::{Address, Cause, Dialer, ErrorKind, Event};

/// A TCP relay on 127.0.0.1: each accepted connection is forwarded to
/// `upstream`, both ways, until `silence` is called: from then on, what the
/// connections made so far carry is read and thrown away (they stay open: no
/// FIN, no RST). Connections accepted later are forwarded again.
struct Relay {
    addr: std::net::SocketAddr,
    /// The `silent` flag of every pair so far.
    pairs: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
}

impl Relay {
    fn new(upstream: std::net::SocketAddr) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let pairs: Arc<Mutex<Vec<Arc<AtomicBool>>>> = Arc::default();
        let list = pairs.clone();
        std::thread::spawn(move || {
            for client in l.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(upstream) else {
                    return;
                };
                let silent = Arc::new(AtomicBool::new(false));
                list.lock().unwrap().push(silent.clone());
                pump(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    &silent,
                );
                pump(server, client, &silent);
            }
        });
        Relay { addr, pairs }
    }

    /// Every connection relayed so far goes silent, both ways.
    fn silence(&self) {
        for s in self.pairs.lock().unwrap().iter() {
            s.store(true, Ordering::SeqCst);
        }
    }
}

/// Copies `from` to `to` on a thread until either side ends; once `silent`,
/// reads and drops.
fn pump(mut from: TcpStream, mut to: TcpStream, silent: &Arc<AtomicBool>) {
    let silent = silent.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !silent.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        if !silent.load(Ordering::SeqCst) {
            let _ = to.shutdown(Shutdown::Both);
        }
    });
}

/// A server that greets each connection with `hello-N` and answers pings
/// (tungstenite answers them as it reads).
fn greeter() -> Server {
    Server::ws(|mut ws, i| {
        ws.send(WsMsg::text(format!("hello-{i}"))).unwrap();
        until_closed(&mut ws);
    })
}

#[test]
fn the_defaults_are_20_s_and_20_s_for_websocket_and_off_for_raw_sockets() {
    let twenty = Some(Duration::from_secs(20));
    for url in ["ws://127.0.0.1:1/", "wss://[::1]:1/x"] {
        let o = Address::parse(url).unwrap().options();
        assert_eq!((o.ping, o.ping_timeout), (twenty, twenty), "{url}");
        let o = Dialer::new().options_for(&Address::parse(url).unwrap());
        assert_eq!((o.ping, o.ping_timeout), (twenty, twenty), "{url}");
    }
    for url in [
        "tcp://127.0.0.1:1",
        "tls://127.0.0.1:1",
        "udp://127.0.0.1:1",
        "unix:///tmp/x",
    ] {
        let o = Address::parse(url).unwrap().options();
        assert_eq!((o.ping, o.ping_timeout), (None, None), "{url}");
    }
    // `ping=0` turns both off; `ping`/`ping_timeout` keep what is written.
    let o = Address::parse("ws://h/|ping=0").unwrap().options();
    assert_eq!(o.ping, None);
    let o = Address::parse("ws://h/|ping=5000&ping_timeout=700")
        .unwrap()
        .options();
    assert_eq!(o.ping, Some(ms(5000)));
    assert_eq!(o.ping_timeout, Some(ms(700)));
}

#[test]
fn a_relay_that_stops_forwarding_is_found_dead_and_the_connection_healed() {
    within(ms(20_000), || {
        let srv = greeter();
        let relay = Relay::new(srv.addr);
        let url = format!(
            "ws://{}/|reconnect=true&interval=0&ping=200&ping_timeout=300",
            relay.addr
        );
        let c = wsdial::dial(&url).unwrap();
        assert_eq!(text(&c.read()), "hello-0");
        // Answered pings keep it up: several periods pass without a loss.
        assert!(
            c.read_timeout(ms(1200)).is_none(),
            "answered keepalives keep the connection"
        );
        relay.silence();
        let t = Instant::now();
        // The program blocks in `read()`: the connection died without closing.
        match c.read() {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::PingTimeout, "{d}"),
            e => panic!("expected the loss, got {e:?}"),
        }
        let took = t.elapsed();
        // The next ping goes out within 200 ms, and 300 ms later it is dead.
        assert!(
            took >= ms(250) && took < ms(2000),
            "declared dead after {took:?}"
        );
        assert_eq!(text(&c.read()), "hello-1", "reconnected");
        assert_eq!(c.stats().reconnects, 1);
    });
}

#[test]
fn the_worker_finds_it_dead_while_nobody_reads() {
    within(ms(20_000), || {
        let srv = greeter();
        let relay = Relay::new(srv.addr);
        let url = format!("ws://{}/|ping=100&ping_timeout=200", relay.addr);
        let c = wsdial::dial(&url).unwrap();
        eventually(ms(5000), "the greeting is buffered", || {
            c.stats().queued == 1
        });
        relay.silence();
        eventually(ms(5000), "the connection is declared dead", || {
            !c.is_connected()
        });
        assert_eq!(text(&c.read()), "hello-0", "what came before the loss");
        match c.read() {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::PingTimeout, "{d}"),
            e => panic!("{e:?}"),
        }
    });
}

#[test]
fn ping_0_turns_liveness_off() {
    within(ms(20_000), || {
        let srv = greeter();
        let relay = Relay::new(srv.addr);
        let c = wsdial::dial(&format!("ws://{}/|ping=0", relay.addr)).unwrap();
        assert_eq!(text(&c.read()), "hello-0");
        relay.silence();
        // With keepalives off nothing can tell: the connection stays "up".
        assert!(c.read_timeout(ms(1000)).is_none());
        assert!(c.is_connected());
    });
}

#[test]
fn a_deadline_without_keepalives_is_refused_by_name() {
    for url in [
        "ws://127.0.0.1:1/|ping=0&ping_timeout=500",
        "tcp://127.0.0.1:1|ping_timeout=500",
    ] {
        let e = wsdial::dial(url).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Address, "{url}: {e}");
        assert_eq!(e.key(), Some("ping_timeout"), "{url}: {e}");
        assert!(e.to_string().contains("needs `ping`"), "{url}: {e}");
    }
    // A raw socket has no protocol Ping: `ping` there needs `ping_msg`.
    let e = wsdial::dial("tcp://127.0.0.1:1|ping=500").unwrap_err();
    assert_eq!(e.key(), Some("ping"), "{e}");
}

#[test]
fn a_raw_socket_may_ask_for_it_with_a_text_keepalive() {
    within(ms(20_000), || {
        // A line service that answers `ping` with `pong` until told to go quiet.
        let quiet = Arc::new(AtomicBool::new(false));
        let q = quiet.clone();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 256];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    return;
                }
                if !q.load(Ordering::SeqCst) {
                    let _ = s.write_all(b"pong\n");
                }
            }
        });
        let c = wsdial::dial(&format!(
            "tcp://127.0.0.1:{port}|ping=100&ping_msg=ping%0A&ping_timeout=250"
        ))
        .unwrap();
        match c.read() {
            Event::Message(m) => assert_eq!(m.as_bytes(), b"pong\n", "the keepalive goes out"),
            e => panic!("{e:?}"),
        }
        quiet.store(true, Ordering::SeqCst);
        let dead = loop {
            match c.read_timeout(ms(5000)).expect("declared dead") {
                Event::Message(_) => continue,
                Event::Disconnected(d) => break d,
            }
        };
        assert_eq!(dead.cause(), Cause::PingTimeout, "{dead}");
    });
}
