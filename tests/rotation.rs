//! Planned rotation (`max_age`): make-before-break, no `Disconnected`, the
//! greeting (on_connect, payloads, subscriptions) on every new connection,
//! each connection's messages in order, the old one closed politely.
//! (The 1,000 msg/s sequenced feed without a gap: `cli/tests/cli.rs`,
//! against `wsdial serve --global-seq`.)
mod common;
use common::*;
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Instant;
use wsdial::{Dialer, Event};

/// What a server connection saw: a text it received, or the close code.
#[derive(Debug, PartialEq)]
enum Seen {
    Text(String),
    Closed(u16),
}

/// A server whose connection `i` sends `c{i}-{k}` every `every_ms` (never
/// with 0) and reports what it receives, and when.
fn streaming_server(every_ms: u64) -> (Server, mpsc::Receiver<(usize, Seen, Instant)>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let srv = Server::ws(move |mut ws, i| {
        let tx = tx.lock().unwrap().clone();
        ws.get_mut().set_read_timeout(Some(ms(1))).unwrap();
        let mut k = 0;
        let mut next = Instant::now();
        loop {
            if every_ms > 0 && Instant::now() >= next {
                if ws.send(WsMsg::text(format!("c{i}-{k}"))).is_err() {
                    return;
                }
                k += 1;
                next += ms(every_ms);
            }
            match ws.read() {
                Ok(WsMsg::Text(t)) => {
                    let _ = tx.send((i, Seen::Text(t.as_str().to_owned()), Instant::now()));
                }
                Ok(WsMsg::Close(f)) => {
                    let code = f.map_or(1005, |f| u16::from(f.code));
                    let _ = tx.send((i, Seen::Closed(code), Instant::now()));
                    until_closed(&mut ws);
                    return;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    });
    (srv, rx)
}

/// What each connection saw, once every one has seen its close (or 5 s
/// passed): a server thread may read the close frame after `close()` returns.
fn by_connection(rx: &mpsc::Receiver<(usize, Seen, Instant)>) -> BTreeMap<usize, Vec<Seen>> {
    let mut m: BTreeMap<usize, Vec<Seen>> = BTreeMap::new();
    let deadline = Instant::now() + ms(5000);
    loop {
        while let Ok((i, s, _)) = rx.try_recv() {
            m.entry(i).or_default().push(s);
        }
        let all_closed = m
            .values()
            .all(|v| matches!(v.last(), Some(Seen::Closed(_))));
        if all_closed || Instant::now() >= deadline {
            return m;
        }
        if let Ok((i, s, _)) = rx.recv_timeout(ms(50)) {
            m.entry(i).or_default().push(s);
        }
    }
}

#[test]
fn rotation_greets_each_connection_and_keeps_order_without_a_disconnect() {
    within(ms(60_000), || {
        let (srv, seen) = streaming_server(1);
        let c = Dialer::new()
            .on_connect(|| vec!["login".to_owned()])
            .dial(&srv.url("/|max_age=300&payload=p"))
            .unwrap();
        c.subscribe("s1");
        let mut subscribed_s2 = false;
        let mut last: Option<(usize, u64)> = None;
        let deadline = Instant::now() + ms(30_000);
        while c.stats().rotations < 4 {
            assert!(Instant::now() < deadline, "4 rotations");
            let m = match c.read_timeout(ms(5000)).expect("the feed goes on") {
                Event::Message(m) => m,
                Event::Disconnected(d) => panic!("a rotation is not a disconnect: {d}"),
            };
            let t = m.as_text().unwrap();
            let (conn, k) = t[1..].split_once('-').unwrap();
            let (conn, k): (usize, u64) = (conn.parse().unwrap(), k.parse().unwrap());
            match last {
                Some((lc, lk)) if lc == conn => assert!(k == lk + 1, "{t} after c{lc}-{lk}"),
                Some((lc, _)) => assert_eq!(conn, lc + 1, "{t}: the next connection"),
                None => assert_eq!(conn, 0),
            }
            last = Some((conn, k));
            if !subscribed_s2 && c.stats().rotations >= 1 {
                assert_eq!(c.subscribe("s2"), 2);
                subscribed_s2 = true;
            }
        }
        let st = c.stats();
        assert_eq!((st.reconnects, st.dropped), (0, 0));
        c.close();
        drop(srv);
        let log = by_connection(&seen);
        let text = |s: &str| Seen::Text(s.to_owned());
        for (i, got) in &log {
            let greeting: Vec<Seen> = if *i == 0 {
                vec![text("login"), text("p"), text("s1")]
            } else {
                vec![text("login"), text("p"), text("s1"), text("s2")]
            };
            assert_eq!(&got[..greeting.len()], &greeting[..], "connection {i}");
            assert_eq!(
                got.iter().filter(|s| **s == text("s2")).count(),
                usize::from(*i > 0),
                "connection {i}: s2 once, on the connections after it"
            );
            assert_eq!(
                got.last(),
                Some(&Seen::Closed(1000)),
                "connection {i} closed with 1000"
            );
        }
        assert!(log.len() >= 5, "{} connections", log.len());
    });
}

#[test]
fn a_quiet_feed_is_rotated_at_max_age() {
    within(ms(30_000), || {
        let (srv, seen) = streaming_server(0);
        let born = Instant::now();
        let c = wsdial::dial(&srv.url("/|max_age=200")).unwrap();
        eventually(ms(10_000), "three rotations", || c.stats().rotations >= 3);
        assert!(
            born.elapsed() >= ms(3 * 200),
            "a replacement that delivers nothing takes over at max_age"
        );
        assert!(c.try_read().is_none(), "nothing to read: no Disconnected");
        let up = c.stats().connected_since.unwrap();
        assert!(
            up.elapsed() < ms(200 + 300),
            "replaced by max_age (with slack for a loaded machine)"
        );
        c.close();
        drop(srv);
        let log = by_connection(&seen);
        assert!(log.len() >= 4);
        for (i, got) in &log {
            assert_eq!(got, &[Seen::Closed(1000)], "connection {i}");
        }
    });
}

#[test]
fn a_replacement_that_fails_leaves_the_connection_up() {
    within(ms(30_000), || {
        let srv = Server::raw(|tcp, i| {
            if i > 0 {
                // The replacement is refused at its handshake.
                use std::io::{Read, Write};
                let mut tcp = tcp;
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf);
                let _ =
                    tcp.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
                return;
            }
            let mut ws = tungstenite::accept(tcp).unwrap();
            for k in 0.. {
                if ws.send(WsMsg::text(format!("m{k}"))).is_err() {
                    return;
                }
                std::thread::park_timeout(ms(5));
            }
        });
        let c = wsdial::dial(&srv.url("/|max_age=200&interval=50")).unwrap();
        let mut k = 0;
        while srv.accepted.load(std::sync::atomic::Ordering::Acquire) < 4 {
            match c.read_timeout(ms(5000)).expect("the feed goes on") {
                Event::Message(m) => assert_eq!(m.as_text(), Some(format!("m{k}").as_str())),
                Event::Disconnected(d) => panic!("the connection stays up: {d}"),
            }
            k += 1;
        }
        let st = c.stats();
        assert_eq!((st.rotations, st.reconnects), (0, 0));
        assert!(c.is_connected());
    });
}

#[test]
fn the_overlap_covers_an_old_connection_that_runs_behind() {
    within(ms(60_000), || {
        // Every connection carries the same numbered feed, message n due n ms
        // after the start; the first connection's path runs 20 ms behind
        // the others (two connections to an exchange rarely run level).
        let epoch = Instant::now();
        let srv = Server::ws(move |mut ws, i| {
            let lag = if i == 0 { ms(20) } else { ms(0) };
            let mut n = epoch.elapsed().as_millis() as u64 + 1;
            loop {
                let due = epoch + ms(n) + lag;
                while Instant::now() < due {
                    std::thread::park_timeout(due - Instant::now());
                }
                if ws.send(WsMsg::text(n.to_string())).is_err() {
                    return;
                }
                n += 1;
            }
        });
        let c = wsdial::dial(&srv.url("/|max_age=400")).unwrap();
        let mut seqs: Vec<u64> = Vec::new();
        let deadline = Instant::now() + ms(30_000);
        while c.stats().rotations < 1 || seqs.len() < 600 {
            assert!(Instant::now() < deadline, "a rotation, then more");
            match c.read_timeout(ms(5000)).expect("the feed goes on") {
                Event::Message(m) => seqs.push(m.as_text().unwrap().parse().unwrap()),
                Event::Disconnected(d) => panic!("a rotation is not a disconnect: {d}"),
            }
        }
        let missing: Vec<(u64, u64)> = seqs
            .windows(2)
            .filter(|w| w[1] > w[0] + 1)
            .map(|w| (w[0], w[1]))
            .collect();
        assert!(missing.is_empty(), "gaps across the switch: {missing:?}");
        let repeats: u64 = seqs
            .windows(2)
            .filter(|w| w[1] <= w[0])
            .map(|w| w[0] - w[1] + 1)
            .sum();
        assert!(repeats > 0, "the overlap shows as messages seen twice");
    });
}

#[test]
fn pace_spaces_the_greeting_of_the_replacement_too() {
    within(ms(60_000), || {
        let (srv, seen) = streaming_server(2);
        let c = Dialer::new()
            .on_connect(|| vec!["login".to_owned()])
            .dial(&srv.url("/|max_age=1500&pace=150&payload=p"))
            .unwrap();
        c.subscribe("s1");
        let deadline = Instant::now() + ms(30_000);
        while c.stats().rotations < 1 {
            assert!(Instant::now() < deadline, "a rotation");
            if let Some(Event::Disconnected(d)) = c.read_timeout(ms(5000)) {
                panic!("a rotation is not a disconnect: {d}");
            }
        }
        c.close();
        drop(srv);
        let mut greeting: Vec<(String, Instant)> = Vec::new();
        while let Ok((i, s, at)) = seen.try_recv() {
            if let (1, Seen::Text(t)) = (i, s) {
                greeting.push((t, at));
            }
        }
        let texts: Vec<&str> = greeting.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["login", "p", "s1"], "the replacement's greeting");
        for w in greeting.windows(2) {
            let gap = w[1].1.duration_since(w[0].1);
            assert!(gap >= ms(140), "{texts:?}: gap {gap:?} under pace");
        }
    });
}

#[test]
fn a_refused_replacement_waits_what_retry_after_asks() {
    within(ms(30_000), || {
        // Connection 1 (the first replacement) is refused with 429 and
        // `Retry-After: 2`; the next one is a WebSocket again.
        let times = std::sync::Arc::new(Mutex::new(Vec::new()));
        let t = times.clone();
        let srv = Server::raw(move |tcp, i| {
            t.lock().unwrap().push(Instant::now());
            if i == 1 {
                let mut tcp = tcp;
                let _ = request_head(&mut tcp);
                use std::io::Write;
                let _ = tcp.write_all(
                    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n",
                );
                return;
            }
            let mut ws = tungstenite::accept(tcp).unwrap();
            for k in 0.. {
                if ws.send(WsMsg::text(format!("m{k}"))).is_err() {
                    return;
                }
                std::thread::park_timeout(ms(5));
            }
        });
        let c = wsdial::dial(&srv.url("/|max_age=200&interval=50")).unwrap();
        let deadline = Instant::now() + ms(20_000);
        while c.stats().rotations < 1 {
            assert!(Instant::now() < deadline, "the rotation after the refusal");
            if let Some(Event::Disconnected(d)) = c.read_timeout(ms(5000)) {
                panic!("a refused replacement is no disconnect: {d}");
            }
        }
        let times = times.lock().unwrap().clone();
        let waited = times[2].duration_since(times[1]);
        assert!(waited >= ms(1900), "retried after {waited:?}, asked 2 s");
        assert_eq!(c.stats().reconnects, 0);
    });
}

#[test]
fn failed_replacements_back_off() {
    within(ms(30_000), || {
        // Every replacement is refused (503, no Retry-After): the tries come
        // at `interval`, then twice that, and so on (less up to a quarter).
        let times = std::sync::Arc::new(Mutex::new(Vec::new()));
        let t = times.clone();
        let srv = Server::raw(move |tcp, i| {
            t.lock().unwrap().push(Instant::now());
            if i > 0 {
                let mut tcp = tcp;
                let _ = request_head(&mut tcp);
                use std::io::Write;
                let _ =
                    tcp.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
                return;
            }
            let mut ws = tungstenite::accept(tcp).unwrap();
            until_closed(&mut ws);
        });
        let c = wsdial::dial(&srv.url("/|max_age=200&interval=200&max_interval=5000")).unwrap();
        eventually(ms(20_000), "five replacements tried", || {
            times.lock().unwrap().len() >= 6
        });
        let times = times.lock().unwrap().clone();
        let gaps: Vec<_> = times[1..].windows(2).map(|w| w[1] - w[0]).collect();
        // 200, 400, 800, 1600 ms, each less up to 25%.
        assert!(gaps[0] >= ms(140) && gaps[0] < ms(1000), "{gaps:?}");
        assert!(gaps[3] >= ms(1150), "backing off: {gaps:?}");
        assert!(gaps[3] > gaps[0] * 4, "backing off: {gaps:?}");
        assert!(c.is_connected());
        assert_eq!(c.stats().rotations, 0);
    });
}
