//! Every message carries when it was read from the socket, so a program that
//! stalled can tell how stale what it finds waiting is; `stats()` says when
//! the last message came and since when the connection is up.
mod common;
use common::*;
use std::sync::mpsc;
use std::time::{Instant, SystemTime};
use wsdial::Event;

#[test]
fn staleness_is_readable_after_a_stall() {
    within(ms(20_000), || {
        const BURST: usize = 2000;
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = std::sync::Mutex::new(go_rx);
        let srv = Server::ws(move |mut ws, _| {
            for i in 0..BURST {
                ws.write(WsMsg::text(format!("old-{i}"))).unwrap();
            }
            ws.flush().unwrap();
            go_rx.lock().unwrap().recv().unwrap();
            ws.send(WsMsg::text("fresh")).unwrap();
            until_closed(&mut ws);
        });
        let wall_before = SystemTime::now();
        let dialed = Instant::now();
        let c = wsdial::dial(&srv.url("/")).unwrap();
        let up = c.stats().connected_since.expect("up since the dial");
        assert!(up >= dialed && up <= Instant::now());
        assert_eq!(c.stats().last_message, None, "nothing yet");
        // The program is busy elsewhere while the burst arrives.
        eventually(ms(10_000), "the burst arrives", || {
            c.stats().received == BURST as u64
        });
        let arrived = Instant::now();
        let stall = ms(300);
        let busy_until = arrived + stall;
        while Instant::now() < busy_until {
            std::thread::park_timeout(busy_until - Instant::now());
        }
        let last = c.stats().last_message.expect("the burst's last message");
        assert!(last <= arrived, "the last message came before the stall");
        assert!(last.elapsed() >= stall, "stats() shows the feed is stale");
        let mut prev = dialed;
        for i in 0..BURST {
            let m = match c.try_read() {
                Some(Event::Message(m)) => m,
                other => panic!("message {i}: {other:?}"),
            };
            assert_eq!(m.as_text(), Some(format!("old-{i}").as_str()));
            let t = m.received();
            assert!(t >= prev, "receive times follow arrival order");
            assert!(t <= arrived, "read from the socket before the stall");
            assert!(
                t.elapsed() >= stall,
                "message {i} shows it waited through the stall"
            );
            let wall = m.received_at();
            assert!(wall >= wall_before && wall <= SystemTime::now(), "{wall:?}");
            prev = t;
        }
        assert_eq!(c.stats().last_message, Some(prev));
        // A message that arrives now is fresh, read on this thread or not.
        let asked = Instant::now();
        go_tx.send(()).unwrap();
        let m = c
            .read_timeout(ms(5000))
            .expect("fresh")
            .into_message()
            .unwrap();
        assert_eq!(m.as_text(), Some("fresh"));
        assert!(m.received() >= asked && m.received() <= Instant::now());
        assert_eq!(c.stats().last_message, Some(m.received()));
    });
}

#[test]
fn connected_since_follows_reconnects() {
    within(ms(20_000), || {
        let srv = Server::ws(|mut ws, i| {
            ws.send(WsMsg::text(format!("c{i}"))).unwrap();
            if i > 0 {
                until_closed(&mut ws);
            }
            // the first connection is dropped
        });
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=50")).unwrap();
        let first = c.stats().connected_since.unwrap();
        assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), "c0");
        assert!(c.read_timeout(ms(5000)).unwrap().is_disconnect());
        let m = c.read_timeout(ms(5000)).unwrap().into_message().unwrap();
        assert_eq!(m.as_text(), Some("c1"));
        let second = c.stats().connected_since.expect("up again");
        assert!(second > first, "a reconnect starts it again");
        assert!(second <= Instant::now() && m.received() > first);
        c.close();
        assert_eq!(c.stats().connected_since, None, "closed: not up");
    });
}
