//! Fault injection: loopback servers that misbehave on purpose; each case counts
//! what the client saw against what the server sent.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;
use wsdial::{Cause, Dialer, Event};

fn rst(tcp: &TcpStream) {
    socket2::SockRef::from(tcp)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
}

#[test]
fn two_hundred_drops_in_a_row_lose_nothing() {
    within(ms(60_000), || {
        const DROPS: usize = 200;
        const N: usize = 5;
        let (tx, rx) = mpsc::channel::<(usize, Vec<String>)>();
        let tx = Mutex::new(tx);
        let srv = Server::ws(move |mut ws, i| {
            // The greeting: on_connect's login, then the two payloads, in order.
            let greeting: Vec<String> = (0..3)
                .map(|_| {
                    next_data(&mut ws)
                        .unwrap()
                        .into_text()
                        .unwrap()
                        .as_str()
                        .to_owned()
                })
                .collect();
            tx.lock().unwrap().send((i, greeting)).unwrap();
            for j in 0..N {
                ws.send(WsMsg::text(format!("c{i}-m{j}"))).unwrap();
            }
            if i >= DROPS {
                until_closed(&mut ws);
            }
            // otherwise: dropped (FIN, no close frame)
        });
        let logins = Arc::new(AtomicU64::new(0));
        let l = logins.clone();
        let c = Dialer::new()
            .on_connect(move || vec![format!("login-{}", l.fetch_add(1, Ordering::SeqCst))])
            .dial(&srv.url("/|reconnect=true&interval=0&payload=sub-a&payload=sub-b"))
            .unwrap();
        let mut disconnects = 0;
        let mut expect_conn = 0;
        let mut expect_msg = 0;
        while expect_conn < DROPS || expect_msg < N {
            match c.read_timeout(ms(10_000)).expect("the feed keeps coming") {
                Event::Message(m) => {
                    assert_eq!(
                        m.as_text().unwrap(),
                        format!("c{expect_conn}-m{expect_msg}"),
                        "nothing lost, in order"
                    );
                    expect_msg += 1;
                }
                Event::Disconnected(d) => {
                    assert_eq!(
                        expect_msg, N,
                        "the disconnect comes after every message of its connection"
                    );
                    assert_eq!(d.cause(), Cause::Eof, "{d}");
                    disconnects += 1;
                    expect_conn += 1;
                    expect_msg = 0;
                }
            }
        }
        assert_eq!(disconnects, DROPS);
        assert!(c.try_read().is_none(), "no extra events");
        assert_eq!(c.stats().reconnects, DROPS as u64);
        assert_eq!(c.stats().dropped, 0);
        for k in 0..=DROPS {
            let (i, greeting) = rx.recv_timeout(ms(5000)).unwrap();
            assert_eq!(i, k);
            assert_eq!(
                greeting,
                [format!("login-{k}"), "sub-a".into(), "sub-b".into()],
                "connection {k}"
            );
        }
    });
}

#[test]
fn drops_at_the_worst_moments() {
    within(ms(30_000), || {
        // Connection 0 is good and then dropped; 1..=5 fail in different ways; 6 is good.
        let srv = Server::raw(|mut tcp, i| {
            let mut buf = [0u8; 4096];
            match i {
                1 => {} // accepted, closed before the handshake answer
                2 => {
                    let _ = tcp.read(&mut buf);
                    let _ = tcp
                        .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n");
                    // half an answer
                }
                3 => {
                    let _ = tcp.read(&mut buf);
                    rst(&tcp); // RST instead of FIN, mid-handshake
                }
                _ => {
                    let mut ws = tungstenite::accept(tcp).unwrap();
                    match i {
                        0 => ws.send(WsMsg::text("first")).unwrap(),
                        4 => {} // dropped right after the upgrade
                        5 => {
                            // half a text frame (header says 100 bytes, 10 sent), then RST
                            ws.get_mut().write_all(&[0x81, 100]).unwrap();
                            ws.get_mut().write_all(b"0123456789").unwrap();
                            rst(ws.get_ref());
                        }
                        _ => {
                            ws.send(WsMsg::text("healed")).unwrap();
                            until_closed(&mut ws);
                        }
                    }
                }
            }
        });
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=0&timeout=2000")).unwrap();
        let mut events = Vec::new();
        loop {
            let ev = c.read_timeout(ms(15_000)).expect("heals");
            let done = ev.message().is_some_and(|m| m.as_text() == Some("healed"));
            events.push(match ev {
                Event::Message(m) => m.as_text().unwrap().to_owned(),
                Event::Disconnected(d) => format!("<{:?}>", d.cause()),
            });
            if done {
                break;
            }
        }
        // Connections 1-3 never came up (failed attempts, no events); 0, 4 and 5 came
        // up and were lost: three disconnects, the mid-frame one as an i/o error.
        assert_eq!(events, ["first", "<Eof>", "<Eof>", "<Io>", "healed"]);
        assert_eq!(c.stats().reconnects, 3);
        assert_eq!(srv.accepted.load(Ordering::SeqCst), 7);
    });
}

#[test]
fn a_silent_server_is_detected_by_idle_and_healed() {
    within(ms(15_000), || {
        let srv = Server::ws(|mut ws, i| {
            if i == 0 {
                ws.send(WsMsg::text("then silence")).unwrap();
                // Open, but silent (it does not even read, so no pongs).
                std::thread::park_timeout(ms(10_000));
            } else {
                ws.send(WsMsg::text("fresh")).unwrap();
                until_closed(&mut ws);
            }
        });
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=0&idle=300")).unwrap();
        assert_eq!(text(&c.read()), "then silence");
        let t = Instant::now();
        match c.read() {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::Idle, "{d}"),
            e => panic!("{e:?}"),
        }
        let took = t.elapsed();
        assert!(
            took >= ms(250) && took < ms(3000),
            "idle fired after {took:?}"
        );
        assert_eq!(text(&c.read()), "fresh");
    });
}

#[test]
fn slow_pong_survives_and_no_pong_is_detected() {
    within(ms(20_000), || {
        // Server A reads (and so answers pings) only every 150 ms; server B never reads.
        let slow = Server::ws(|mut ws, _| {
            ws.get_mut().set_read_timeout(Some(ms(1))).unwrap();
            loop {
                std::thread::park_timeout(ms(150));
                match ws.read() {
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e))
                        if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
                let _ = ws.flush();
            }
        });
        let c = wsdial::dial(&slow.url("/|ping=100&idle=600")).unwrap();
        assert!(
            c.read_timeout(ms(1500)).is_none(),
            "slow pongs keep it alive"
        );
        assert!(c.is_connected());

        let deaf = Server::ws(|_ws, _| std::thread::park_timeout(ms(10_000)));
        let c = wsdial::dial(&deaf.url("/|ping=100&idle=400")).unwrap();
        match c.read_timeout(ms(5000)).expect("detected") {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::Idle),
            e => panic!("{e:?}"),
        }
    });
}

#[test]
fn keepalive_text_goes_out_on_schedule() {
    within(ms(10_000), || {
        let (tx, rx) = mpsc::channel::<Instant>();
        let srv = Server::ws(move |mut ws, _| {
            while let Some(m) = next_data(&mut ws) {
                assert_eq!(m.into_text().unwrap().as_str(), "ping");
                tx.send(Instant::now()).unwrap();
            }
        });
        let t0 = Instant::now();
        let _c = wsdial::dial(&srv.url("/|ping=100&ping_msg=ping")).unwrap();
        let times: Vec<Instant> = (0..5).map(|_| rx.recv_timeout(ms(3000)).unwrap()).collect();
        assert!(times[0].duration_since(t0) >= ms(95), "never early");
        for w in times.windows(2) {
            let gap = w[1].duration_since(w[0]);
            assert!(gap >= ms(90) && gap < ms(600), "gap {gap:?}");
        }
    });
}

/// A server whose every connection is closed at once, recording when it came.
fn attempt_recorder() -> (Server, Arc<Mutex<Vec<Instant>>>) {
    let times = Arc::new(Mutex::new(Vec::new()));
    let t = times.clone();
    let srv = Server::raw(move |tcp, i| {
        t.lock().unwrap().push(Instant::now());
        if i == 0 {
            // The first connection works, then drops: the server goes "down".
            let mut ws = tungstenite::accept(tcp).unwrap();
            ws.send(WsMsg::text("up")).unwrap();
        }
    });
    (srv, times)
}

#[test]
fn attempts_follow_the_backoff_and_retry_gives_up() {
    within(ms(30_000), || {
        let (srv, times) = attempt_recorder();
        let c = wsdial::dial(
            &srv.url("/|reconnect=true&interval=100&max_interval=800&retry=6&timeout=1000"),
        )
        .unwrap();
        assert_eq!(text(&c.read()), "up");
        assert!(c.read().is_disconnect(), "the loss");
        let gave_up = c.read();
        match &gave_up {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::GaveUp, "{d}"),
            e => panic!("{e:?}"),
        }
        assert!(
            c.read_timeout(ms(10)).unwrap().is_disconnect(),
            "giving up is final"
        );
        let t = times.lock().unwrap().clone();
        assert_eq!(
            t.len(),
            1 + 6,
            "the first connection and exactly 6 attempts"
        );
        let expected = [100, 200, 400, 800, 800, 800];
        for (k, w) in t.windows(2).skip(1).enumerate() {
            let gap = w[1].duration_since(w[0]).as_millis() as u64;
            let want = expected[k + 1];
            // jitter takes off at most 25%; allow scheduling slack on top
            assert!(
                gap + 5 >= want * 3 / 4 && gap <= want + 300,
                "attempt gap {k}: {gap} ms, expected ~{want}"
            );
        }
        let first_gap = t[1].duration_since(t[0]).as_millis() as u64;
        assert!(
            first_gap + 5 >= 75 && first_gap <= 500,
            "first attempt after ~interval: {first_gap}"
        );
    });
}

#[test]
fn a_fixed_interval_has_no_jitter() {
    within(ms(20_000), || {
        let (srv, times) = attempt_recorder();
        let c =
            // `max_interval` equal to `interval`: a fixed wait (without it, it backs off).
            wsdial::dial(&srv.url(
                "/|reconnect=true&interval=150&max_interval=150&retry=4&timeout=1000",
            ))
            .unwrap();
        while !matches!(c.read(), Event::Disconnected(d) if d.cause() == Cause::GaveUp) {}
        let t = times.lock().unwrap().clone();
        assert_eq!(t.len(), 5);
        for w in t.windows(2).skip(1) {
            let gap = w[1].duration_since(w[0]).as_millis() as u64;
            assert!((145..=450).contains(&gap), "gap {gap} ms for interval 150");
        }
    });
}

#[test]
fn close_during_backoff_and_during_a_slow_dial_returns_promptly() {
    within(ms(20_000), || {
        // During a 5 s backoff wait.
        let (srv, _) = attempt_recorder();
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=5000")).unwrap();
        assert_eq!(text(&c.read()), "up");
        assert!(c.read().is_disconnect());
        let t = Instant::now();
        c.close();
        assert!(
            t.elapsed() < ms(1500),
            "close during backoff took {:?}",
            t.elapsed()
        );
        assert_eq!(
            c.read_timeout(ms(10)).map(|e| e.is_disconnect()),
            Some(true)
        );

        // During a dial whose handshake is never answered (deadline 8 s).
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let hold_rx = Mutex::new(hold_rx);
        let srv = Server::raw(move |tcp, i| {
            if i == 0 {
                let mut ws = tungstenite::accept(tcp).unwrap();
                ws.send(WsMsg::text("up")).unwrap();
            } else {
                let _ = hold_rx.lock().unwrap().recv_timeout(ms(10_000));
                drop(tcp);
            }
        });
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=0&timeout=8000")).unwrap();
        assert_eq!(text(&c.read()), "up");
        assert!(c.read().is_disconnect());
        eventually(ms(5000), "the reconnect dial started", || {
            srv.accepted.load(Ordering::SeqCst) >= 2
        });
        let t = Instant::now();
        c.close();
        assert!(
            t.elapsed() < ms(2500),
            "close during a slow dial took {:?}",
            t.elapsed()
        );
        assert!(!c.is_connected());
        drop(hold_tx);
    });
}

#[test]
fn heartbeats_answered_by_auto_reply_while_the_reader_stalls() {
    within(ms(20_000), || {
        // Huobi-like: a {"ping": n} every 50 ms, dropped unless {"pong": n} comes
        // within 200 ms; meanwhile a flood of data the program does not read.
        let (tx, rx) = mpsc::channel::<(u64, bool)>();
        let srv = Server::ws(move |mut ws, _| {
            let (answered, all) =
                huobi_rounds(&mut ws, 30, ms(50), |k| format!("{{\"tick\":{k}}}"));
            tx.send((answered, all)).unwrap();
            if !all {
                return; // drop the client
            }
            until_closed(&mut ws);
        });
        let c = huobi_pong_dialer().dial(&srv.url("/|qsize=50")).unwrap();
        // The reader stalls for the whole session (~1.5 s, far past the 200 ms deadline).
        let (answered, survived) = rx.recv_timeout(ms(15_000)).unwrap();
        assert!(survived, "dropped after {answered} pongs");
        assert_eq!(answered, 30);
        assert!(c.is_connected());
        let s = c.stats();
        assert_eq!(s.received, 3000, "heartbeats kept out of the buffer");
        assert_eq!(
            (s.queued, s.dropped),
            (50, 2950),
            "the stalled buffer dropped its oldest"
        );
    });
}

#[test]
fn priority_lane_under_a_flood() {
    within(ms(15_000), || {
        let srv = Server::ws(|mut ws, _| {
            for k in 0..5000 {
                let m = if k % 1000 == 999 {
                    format!("EXIT {k}")
                } else {
                    format!("pnl {k}")
                };
                ws.write(WsMsg::text(m)).unwrap();
            }
            ws.flush().unwrap();
            until_closed(&mut ws);
        });
        let c = Dialer::new()
            .priority(|m| m.as_text().is_some_and(|t| t.starts_with("EXIT")))
            .dial(&srv.url("/|qsize=100"))
            .unwrap();
        eventually(ms(10_000), "all received", || c.stats().received == 5000);
        let exits: Vec<String> = (0..5).map(|_| text(&c.read())).collect();
        assert_eq!(
            exits,
            [
                "EXIT 999",
                "EXIT 1999",
                "EXIT 2999",
                "EXIT 3999",
                "EXIT 4999"
            ],
            "first, none evicted"
        );
        assert_eq!(
            text(&c.read()),
            "pnl 4899",
            "then the normal lane's newest 100 (4899..=4998)"
        );
        assert_eq!(c.stats().dropped, 4995 - 100);
    });
}

#[test]
fn writes_return_zero_while_reconnecting_and_messages_in_the_buffer_survive() {
    within(ms(15_000), || {
        let (srv, _) = attempt_recorder();
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=5000")).unwrap();
        eventually(ms(5000), "lost", || !c.is_connected());
        assert_eq!(c.write("order"), 0);
        assert_eq!(c.write_binary(b"order"), 0);
        assert_eq!(
            text(&c.read()),
            "up",
            "buffered before the loss, still there"
        );
        assert!(c.read().is_disconnect());
    });
}

#[test]
fn backoff_resets_after_a_connection_that_stayed_up() {
    within(ms(30_000), || {
        // 0: up then dropped; 1-3: refused (backoff grows 100, 200, 400, then 800);
        // 4: up for longer than the 1600 ms cap, then dropped; 5: must come ~100 ms later.
        let times = Arc::new(Mutex::new(Vec::new()));
        let t = times.clone();
        let srv = Server::raw(move |tcp, i| {
            match i {
                1..=3 => {
                    t.lock().unwrap().push(Instant::now());
                }
                _ => {
                    let mut ws = tungstenite::accept(tcp).unwrap();
                    ws.send(WsMsg::text(format!("up{i}"))).unwrap();
                    if i == 4 {
                        std::thread::park_timeout(ms(1700));
                    }
                    if i == 5 {
                        until_closed(&mut ws);
                    }
                    t.lock().unwrap().push(Instant::now()); // 0 and 4: the drop; 5: after the close
                }
            }
        });
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=100&max_interval=1600")).unwrap();
        let mut seen = Vec::new();
        while seen.last().map(String::as_str) != Some("up5") {
            if let Event::Message(m) = c.read_timeout(ms(10_000)).expect("keeps reconnecting") {
                seen.push(m.as_text().unwrap().to_owned());
            }
        }
        assert_eq!(seen, ["up0", "up4", "up5"]);
        let accepted_5 = Instant::now();
        let t = times.lock().unwrap().clone();
        // [end of 0, attempt 1, attempt 2, attempt 3, drop of 4]
        assert_eq!(t.len(), 5);
        let gaps: Vec<u128> = t
            .windows(2)
            .take(3)
            .map(|w| w[1].duration_since(w[0]).as_millis())
            .collect();
        for (g, want) in gaps.iter().zip([100u128, 200, 400]) {
            assert!(
                *g + 5 >= want * 3 / 4 && *g <= want + 300,
                "backoff grew: {gaps:?}"
            );
        }
        let gap = accepted_5.duration_since(t[4]);
        assert!(
            gap < ms(600),
            "after a connection that stayed up the backoff starts over (~100 ms), took {gap:?}"
        );
        c.close();
    });
}
