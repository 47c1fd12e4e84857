//! close(): wakes blocked readers, sends a close frame, is idempotent; Drop does the same.
mod common;
use common::*;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;
use wsdial::{Cause, Event};

fn close_code_server() -> (Server, mpsc::Receiver<Option<u16>>) {
    let (tx, rx) = mpsc::channel();
    let srv = Server::ws(move |mut ws, _| loop {
        match ws.read() {
            Ok(WsMsg::Close(f)) => {
                let _ = tx.send(f.map(|f| u16::from(f.code)));
                until_closed(&mut ws);
                return;
            }
            Ok(_) => continue,
            Err(_) => {
                let _ = tx.send(None);
                return;
            }
        }
    });
    (srv, rx)
}

#[test]
fn close_wakes_a_blocked_reader() {
    within(ms(10_000), || {
        let srv = command_server();
        let c = Arc::new(wsdial::dial(&srv.url("/")).unwrap());
        let (started_tx, started_rx) = mpsc::channel();
        let reader = {
            let c = c.clone();
            std::thread::spawn(move || {
                started_tx.send(()).unwrap();
                c.read()
            })
        };
        started_rx.recv().unwrap();
        let t = Instant::now();
        c.close();
        match reader.join().unwrap() {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::ClosedByUser),
            e => panic!("expected a disconnect, got {e:?}"),
        }
        assert!(
            t.elapsed() < ms(3000),
            "close returned in {:?}",
            t.elapsed()
        );
        assert!(!c.is_connected());
        assert_eq!(c.write("x"), 0);
    });
}

#[test]
fn close_sends_a_close_frame_and_is_idempotent() {
    within(ms(10_000), || {
        let (srv, rx) = close_code_server();
        let c = wsdial::dial(&srv.url("/")).unwrap();
        c.close();
        c.close();
        assert_eq!(rx.recv_timeout(ms(5000)).unwrap(), Some(1000));
        c.close();
        assert!(c.read().is_disconnect());
    });
}

#[test]
fn drop_closes() {
    within(ms(10_000), || {
        let (srv, rx) = close_code_server();
        let c = wsdial::dial(&srv.url("/")).unwrap();
        drop(c);
        assert_eq!(rx.recv_timeout(ms(5000)).unwrap(), Some(1000));
    });
}

#[test]
fn buffered_messages_survive_close() {
    within(ms(10_000), || {
        let srv = command_server();
        let c = wsdial::dial(&srv.url("/")).unwrap();
        c.write("cmd:send kept");
        eventually(ms(5000), "received", || c.stats().received == 1);
        c.close();
        assert_eq!(text(&c.read()), "kept");
        assert!(c.read().is_disconnect());
    });
}

#[test]
fn close_returns_promptly_when_the_peer_never_answers_the_close() {
    within(ms(10_000), || {
        // Upgrades, then never reads again: our close frame is never answered.
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let hold_rx = std::sync::Mutex::new(hold_rx);
        let srv = Server::ws(move |_ws, _| {
            let _ = hold_rx.lock().unwrap().recv_timeout(ms(8000));
        });
        let c = wsdial::dial(&srv.url("/")).unwrap();
        let t = Instant::now();
        c.close();
        assert!(t.elapsed() < ms(2500), "close took {:?}", t.elapsed());
        drop(hold_tx);
    });
}

/// Issue 19, defect 1: a connection dialed on one thread, read and closed on
/// another, must close as soon as the server answers the close frame, every
/// time (it used to wait the whole linger in about one cycle of five).
#[test]
fn close_is_prompt_whichever_thread_dialed() {
    within(ms(120_000), || {
        // Sends one message, then answers the client's close (tungstenite
        // replies to a Close frame when it reads it) and waits for the end.
        let srv = Server::ws(|mut ws, _| {
            ws.send(WsMsg::text("hello")).unwrap();
            until_closed(&mut ws);
        });
        let url = srv.url("/");
        let mut slowest = std::time::Duration::ZERO;
        for cycle in 0..300 {
            let u = url.clone();
            let c = std::thread::spawn(move || wsdial::dial(&u).unwrap())
                .join()
                .unwrap();
            assert_eq!(
                text(&c.read_timeout(ms(5_000)).expect("a message")),
                "hello"
            );
            let t = Instant::now();
            c.close();
            let took = t.elapsed();
            slowest = slowest.max(took);
            assert!(took < ms(100), "cycle {cycle}: close() took {took:?}");
        }
        eprintln!("slowest close of 300: {slowest:?}");
    });
}
