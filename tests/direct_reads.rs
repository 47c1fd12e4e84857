//! A program that reads as fast as data comes reads the socket on its own
//! thread (no hand-off through the buffer). These tests pin down what must not
//! change when it does: the worker takes reading back when the program stops,
//! and a reader waiting on the socket itself is woken by `close()`.

mod common;

use std::sync::{mpsc, Arc, Barrier};
use std::time::Instant;

use common::*;
use tungstenite::Message as WsMsg;
use wsdial::{Cause, Event};

#[test]
fn the_worker_takes_reading_back_when_the_program_stops() {
    within(ms(20_000), || {
        // The program reads a burst as fast as it comes (so it ends up reading
        // the socket itself, its buffer empty) and answers it, then stops
        // reading for good. Then comes a flood with Huobi-style heartbeats that
        // must be answered within 200 ms each.
        let (tx, rx) = mpsc::channel::<(u64, bool)>();
        let srv = Server::ws(move |mut ws, _| {
            for k in 0..2000 {
                ws.write(WsMsg::text(format!("burst {k}"))).unwrap();
            }
            ws.flush().unwrap();
            loop {
                match ws.read() {
                    Ok(WsMsg::Text(t)) if t.as_str() == "go" => break,
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
            let (answered, all) = huobi_rounds(&mut ws, 10, ms(0), |k| format!("tick {k}"));
            tx.send((answered, all)).unwrap();
            if !all {
                return;
            }
            until_closed(&mut ws);
        });
        let c = huobi_pong_dialer().dial(&srv.url("/|qsize=5000")).unwrap();
        for k in 0..2000 {
            assert_eq!(text(&c.read()), format!("burst {k}"));
        }
        assert!(c.write("go") > 0);
        // From here on the program reads nothing.
        let (answered, survived) = rx.recv_timeout(ms(15_000)).unwrap();
        assert!(survived, "dropped after {answered} pongs");
        assert_eq!(answered, 10);
        eventually(ms(5_000), "the flood is buffered", || {
            c.stats().received == 3000
        });
        let s = c.stats();
        assert_eq!((s.queued, s.dropped), (1000, 0));
        // And the program gets all of it, in order, when it comes back.
        for k in 0..1000 {
            assert_eq!(text(&c.read()), format!("tick {k}"));
        }
    });
}

#[test]
fn a_reader_waiting_on_the_socket_is_woken_by_close() {
    within(ms(30_000), || {
        // A silent server: the reader drains the socket and waits on it itself.
        // Closing from another thread must wake it at once, whichever moment
        // the close lands in (before, during or after it starts waiting).
        // It never answers the close frame either (it reads raw bytes), so only
        // `close()` itself can wake the reader in time.
        let srv = Server::ws(|mut ws, _| {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while matches!(ws.get_mut().read(&mut buf), Ok(n) if n > 0) {}
        });
        for round in 0..6 {
            let c = Arc::new(wsdial::dial(&srv.url("/")).unwrap());
            let start = Arc::new(Barrier::new(2));
            let reader = {
                let (c, start) = (c.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let t = Instant::now();
                    let ev = c.read();
                    (ev, t.elapsed())
                })
            };
            start.wait();
            if round % 2 == 1 {
                std::thread::yield_now();
            }
            c.close();
            let (ev, took) = reader.join().unwrap();
            match ev {
                Event::Disconnected(d) => assert_eq!(d.cause(), Cause::ClosedByUser),
                other => panic!("round {round}: {other:?}"),
            }
            assert!(
                took < ms(500),
                "round {round}: read returned after {took:?}"
            );
        }
    });
}

#[test]
fn a_reader_waiting_on_the_socket_sees_a_loss_and_the_reconnect() {
    within(ms(20_000), || {
        // The server sends one message per connection, then drops it; the
        // program waits in read() on the socket each time.
        let srv = Server::ws(|mut ws, n| {
            ws.send(WsMsg::text(format!("conn {n}"))).unwrap();
            let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
        });
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=0")).unwrap();
        for n in 0..5 {
            assert_eq!(text(&c.read()), format!("conn {n}"));
            assert!(matches!(c.read(), Event::Disconnected(_)));
        }
    });
}
