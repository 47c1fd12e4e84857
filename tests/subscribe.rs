//! `Conn::subscribe`: sent now and on every later connection, after the
//! on-connect messages and the payloads, in the order subscribed, exactly
//! once per connection; `unsubscribe` stops the replay.
mod common;
use common::*;
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use wsdial::{Dialer, Event};

/// What each connection received, as the server saw it: (connection, text).
type Log = mpsc::Receiver<(usize, String)>;

/// A server that says `hello{i}` on connection `i`, reports every text it
/// receives, and drops the connection (no close frame) on `cmd:drop`.
fn reporting_server() -> (Server, Log) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let srv = Server::ws(move |mut ws, i| {
        let tx = tx.lock().unwrap().clone();
        ws.send(WsMsg::text(format!("hello{i}"))).unwrap();
        while let Some(m) = next_data(&mut ws) {
            let t = m.into_text().unwrap().as_str().to_owned();
            let drop = t == "cmd:drop";
            let _ = tx.send((i, t));
            if drop {
                return;
            }
        }
    });
    (srv, rx)
}

/// The texts connection `conn` received, up to and including `last`.
fn received(log: &Log, conn: usize, last: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let (i, t) = log.recv_timeout(ms(5000)).expect("the server hears more");
        assert_eq!(i, conn, "{t:?} came on connection {i}, wanted {conn}");
        let done = t == last;
        got.push(t);
        if done {
            return got;
        }
    }
}

fn hello(c: &wsdial::Conn, i: usize) {
    match c.read_timeout(ms(5000)) {
        Some(Event::Message(m)) => assert_eq!(m.as_text(), Some(format!("hello{i}").as_str())),
        other => panic!("hello{i}: {other:?}"),
    }
}

fn disconnected(c: &wsdial::Conn) {
    match c.read_timeout(ms(5000)) {
        Some(Event::Disconnected(_)) => {}
        other => panic!("wanted the disconnect: {other:?}"),
    }
}

#[test]
fn a_run_time_subscription_is_replayed_after_three_drops_in_order_after_the_payloads() {
    within(ms(30_000), || {
        let (srv, log) = reporting_server();
        let c = Dialer::new()
            .on_connect(|| vec!["login".to_owned()])
            .dial(&srv.url("/|reconnect=true&interval=0&payload=p1&payload=p2"))
            .unwrap();
        hello(&c, 0);
        assert_eq!(c.subscribe("s1"), 2, "sent now");
        assert_eq!(c.subscribe("s2"), 2);
        assert_eq!(c.subscribe("s1"), 2, "again: sent, recorded once");
        c.write("w0");
        c.write("cmd:drop");
        assert_eq!(
            received(&log, 0, "cmd:drop"),
            ["login", "p1", "p2", "s1", "s2", "s1", "w0", "cmd:drop"]
        );
        // Connection 2 unsubscribes s1 and subscribes s3 (sent at once).
        let greetings = [
            ["login", "p1", "p2", "s1", "s2", "cmd:drop"].as_slice(),
            &["login", "p1", "p2", "s1", "s2", "s3", "cmd:drop"],
            &["login", "p1", "p2", "s2", "s3", "cmd:drop"],
        ];
        for (i, want) in (1..=3).zip(greetings) {
            disconnected(&c);
            hello(&c, i);
            if i == 2 {
                assert!(c.unsubscribe("s1"));
                assert!(!c.unsubscribe("s1"), "no longer subscribed");
                assert_eq!(c.subscribe("s3"), 2);
            }
            c.write("cmd:drop");
            assert_eq!(received(&log, i, "cmd:drop"), want, "connection {i}");
        }
        disconnected(&c);
        hello(&c, 4);
        c.write("end");
        assert_eq!(
            received(&log, 4, "end"),
            ["login", "p1", "p2", "s2", "s3", "end"],
            "after three drops: the payloads, then what is still subscribed, in order"
        );
        assert_eq!(c.subscriptions(), ["s2", "s3"]);
    });
}

#[test]
fn subscribed_while_down_goes_out_with_the_next_connection() {
    within(ms(30_000), || {
        let (tx, log) = mpsc::channel();
        let tx = Mutex::new(tx);
        // Connection 1 completes its handshake only when the test says so: the
        // client is reconnecting (down) until then.
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = Mutex::new(go_rx);
        let srv = Server::raw(move |tcp, i| {
            if i > 0 {
                go_rx.lock().unwrap().recv().unwrap();
            }
            let mut ws = tungstenite::accept(tcp).unwrap();
            let tx = tx.lock().unwrap().clone();
            ws.send(WsMsg::text(format!("hello{i}"))).unwrap();
            while let Some(m) = next_data(&mut ws) {
                let t = m.into_text().unwrap().as_str().to_owned();
                let _ = tx.send((i, t.clone()));
                if t == "cmd:drop" {
                    return;
                }
            }
        });
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=0&payload=p")).unwrap();
        hello(&c, 0);
        c.write("cmd:drop");
        assert_eq!(received(&log, 0, "cmd:drop"), ["p", "cmd:drop"]);
        disconnected(&c);
        assert!(!c.is_connected());
        assert_eq!(c.subscribe("late"), 0, "no connection now");
        assert_eq!(c.subscriptions(), ["late"]);
        go_tx.send(()).unwrap();
        hello(&c, 1);
        c.write("end");
        assert_eq!(received(&log, 1, "end"), ["p", "late", "end"]);
    });
}

#[test]
fn racing_reconnects_send_each_subscription_once_per_connection_in_order() {
    within(ms(60_000), || {
        const SUBS: usize = 2000;
        const FLAKY: usize = 25;
        // Connection i < FLAKY is dropped after 20 + 80 i messages; the next
        // one stays. Each connection's messages are reported in order. The
        // subscriptions come one every few microseconds meanwhile, so some
        // land while a connection is being greeted.
        let (tx, log) = mpsc::channel::<(usize, Vec<String>)>();
        let tx = Mutex::new(tx);
        let srv = Server::ws(move |mut ws, i| {
            let tx = tx.lock().unwrap().clone();
            let limit = if i < FLAKY { 20 + 80 * i } else { usize::MAX };
            let mut got = Vec::new();
            while got.len() < limit {
                match next_data(&mut ws) {
                    Some(m) => {
                        let t = m.into_text().unwrap().as_str().to_owned();
                        let end = t == "end";
                        got.push(t);
                        if end {
                            break;
                        }
                    }
                    None => break,
                }
            }
            let _ = tx.send((i, got));
        });
        let c = Arc::new(wsdial::dial(&srv.url("/|reconnect=true&interval=0&payload=p")).unwrap());
        for k in 0..SUBS {
            c.subscribe(&format!("s{k}"));
            let t = std::time::Instant::now();
            while t.elapsed() < std::time::Duration::from_micros(50) {
                std::hint::spin_loop();
            }
        }
        let mut seen = BTreeMap::new();
        let mut last = None;
        while last.is_none() {
            // Until a stable connection has everything: then `end`.
            if c.stats().reconnects >= FLAKY as u64 && c.write("end") > 0 {
                last = Some(());
            }
            while let Ok((i, got)) = log.try_recv() {
                seen.insert(i, got);
            }
            std::thread::sleep(ms(1));
        }
        while !seen.values().any(|g| g.last().is_some_and(|t| t == "end")) {
            let (i, got) = log
                .recv_timeout(ms(10_000))
                .expect("the last connection reports");
            seen.insert(i, got);
        }
        for (i, got) in &seen {
            assert_eq!(got[0], "p", "connection {i}: the payload first");
            let subs: Vec<&String> = got[1..].iter().filter(|t| *t != "end").collect();
            for (k, s) in subs.iter().enumerate() {
                assert_eq!(
                    **s,
                    format!("s{k}"),
                    "connection {i}: every subscription once, in order: {subs:?}"
                );
            }
            if got.last().is_some_and(|t| t == "end") {
                assert_eq!(subs.len(), SUBS, "connection {i} has them all");
            }
        }
        assert!(seen.len() > FLAKY, "{} connections", seen.len());
    });
}

#[test]
fn pace_spaces_the_subscriptions_after_the_payloads() {
    within(ms(30_000), || {
        let (tx, log) = mpsc::channel();
        let tx = Mutex::new(tx);
        let srv = Server::ws(move |mut ws, i| {
            let tx = tx.lock().unwrap().clone();
            ws.send(WsMsg::text(format!("hello{i}"))).unwrap();
            while let Some(m) = next_data(&mut ws) {
                let t = m.into_text().unwrap().as_str().to_owned();
                let drop = t == "cmd:drop";
                let _ = tx.send((i, t, std::time::Instant::now()));
                if drop {
                    return;
                }
            }
        });
        let c = Dialer::new()
            .dial(&srv.url("/|reconnect=true&interval=0&pace=300&payload=p1"))
            .unwrap();
        hello(&c, 0);
        c.subscribe("s1");
        c.subscribe("s2");
        c.write("cmd:drop");
        disconnected(&c);
        // Made while the next connection's greeting goes on (or before it):
        // paced as well.
        c.subscribe("s3");
        hello(&c, 1);
        let mut got: Vec<(String, std::time::Instant)> = Vec::new();
        while got.len() < 4 {
            let (i, t, at) = log.recv_timeout(ms(5000)).expect("the greeting");
            if i == 1 {
                got.push((t, at));
            }
        }
        let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["p1", "s1", "s2", "s3"]);
        for w in got.windows(2) {
            let gap = w[1].1.duration_since(w[0].1);
            assert!(gap >= ms(280), "{texts:?}: gap {gap:?} under pace");
        }
    });
}
