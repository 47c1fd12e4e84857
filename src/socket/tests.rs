//! Unit tests of the hand-off between the worker and the program's threads,
//! over loopback pairs: a tungstenite server thread on 127.0.0.1:0 and one
//! socket driver, looked at through its [`Handoff`] state.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::Message as WsMsg;

use super::handoff::Reader;
use super::*;
use crate::address::Address;
use crate::conn::Conn;
use crate::hooks::Reply;
use crate::message::{Cause, Event};

type Ws = tungstenite::WebSocket<TcpStream>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `f` on its own thread; fails the test if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => h.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("watchdog: not done within {limit:?}"),
    }
}

fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        thread::sleep(ms(1));
    }
}

/// A driver for a one-connection server running `serve`, and its hand-off state.
fn pair(
    options: &str,
    hooks: Hooks,
    serve: impl FnOnce(Ws) + Send + 'static,
) -> (Conn, Arc<Handoff>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        serve(tungstenite::accept(tcp).unwrap());
    });
    let address = Address::parse(&format!("ws://{addr}/|{options}")).unwrap();
    let mut o = crate::options::Options::default();
    address.apply_to(&mut o);
    let plan = Plan::new(address.target().clone(), o).unwrap();
    let (seam, driver) = spawn(plan, hooks).unwrap();
    let shared = driver.shared.clone();
    (Conn::new(seam, Box::new(driver), "test".into()), shared)
}

fn text(e: Option<Event>) -> String {
    match e {
        Some(Event::Message(m)) => m.as_text().unwrap().to_owned(),
        Some(Event::Disconnected(d)) => format!("<{:?}>", d.cause()),
        None => "-".into(),
    }
}

/// A thread that reads one event. It reads with a timeout, over and over:
/// a first try may find the worker holding the slot (it then waits on the
/// inbox), a later one waits on the socket itself.
fn reader(c: &Arc<Conn>) -> thread::JoinHandle<Event> {
    let c = c.clone();
    thread::spawn(move || loop {
        if let Some(e) = c.read_timeout(ms(1_000)) {
            return e;
        }
    })
}

/// Reads the server's "first" message on the socket itself: a reader thread
/// waits on the socket, then `go` lets the server send it. The program is then
/// the socket's reader (`Program`).
fn read_first_directly(c: Conn, h: &Handoff, go: &mpsc::Sender<()>) -> Arc<Conn> {
    let c = Arc::new(c);
    let first = reader(&c);
    eventually(ms(5_000), "the reader waits on the socket", || {
        h.reader.get() == Reader::Waiting
    });
    go.send(()).unwrap();
    assert_eq!(text(Some(first.join().unwrap())), "first");
    assert_eq!(h.reader.get(), Reader::Program);
    c
}

fn next_data(ws: &mut Ws) -> Option<WsMsg> {
    loop {
        match ws.read() {
            Ok(m @ WsMsg::Text(_)) => return Some(m),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

fn until_closed(ws: &mut Ws) {
    while ws.read().is_ok() {}
}

#[test]
fn a_flood_is_read_directly_in_order() {
    within(ms(20_000), || {
        // 200 bursts of 100 messages; the next burst once the program asks
        // for it, so each burst finds the program keeping up.
        let (c, h) = pair("qsize=100000", Hooks::default(), |mut ws| {
            for burst in 0..200 {
                for k in 0..100 {
                    ws.write(WsMsg::text(format!("m{}", burst * 100 + k)))
                        .unwrap();
                }
                ws.flush().unwrap();
                if next_data(&mut ws).is_none() {
                    return;
                }
            }
            until_closed(&mut ws);
        });
        for k in 0..20_000 {
            assert_eq!(text(Some(c.read())), format!("m{k}"));
            if k % 100 == 99 {
                assert!(c.write("next") > 0);
            }
        }
        let direct = h.direct_reads.load(Ordering::Relaxed);
        // Alone on a machine, 19,500-19,800 are read directly; the rest went
        // through the worker when this thread was off the CPU for longer than
        // the takeover pause, which a loaded test machine does often. Without
        // direct reads, none would be.
        assert!(direct > 2_000, "only {direct} of 20000 read directly");
        assert_eq!(c.stats().received, 20_000);
    });
}

#[test]
fn the_worker_takes_over_when_the_program_stalls() {
    within(ms(20_000), || {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (c, h) = pair("", Hooks::default(), move |mut ws| {
            go_rx.recv().unwrap();
            ws.send(WsMsg::text("first")).unwrap();
            go_rx.recv().unwrap();
            for k in 0..50 {
                ws.write(WsMsg::text(format!("m{k}"))).unwrap();
            }
            ws.flush().unwrap();
            until_closed(&mut ws);
        });
        let c = read_first_directly(c, &h, &go_tx);
        // The program stops reading; what comes next must be buffered anyway.
        go_tx.send(()).unwrap();
        eventually(ms(5_000), "the worker buffers the next 50", || {
            c.stats().queued == 50
        });
        assert_eq!(h.reader.get(), Reader::Worker);
        for k in 0..50 {
            assert_eq!(text(c.try_read()), format!("m{k}"));
        }
    });
}

#[test]
fn heartbeats_are_answered_while_the_program_stalls() {
    within(ms(20_000), || {
        let hooks = Hooks {
            auto_reply: Some(Arc::new(|m: &crate::Message| match m.as_text() {
                Some("ping") => Reply::Send("pong".into()),
                _ => Reply::Pass,
            })),
            ..Hooks::default()
        };
        let (res_tx, res_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (c, h) = pair("", hooks, move |mut ws| {
            go_rx.recv().unwrap();
            ws.send(WsMsg::text("first")).unwrap();
            // The program reads "first" directly, then reads nothing more.
            ws.get_mut().set_read_timeout(Some(ms(2_000))).unwrap();
            let mut answered = 0;
            for _ in 0..5 {
                ws.send(WsMsg::text("ping")).unwrap();
                let t = Instant::now();
                match ws.read() {
                    Ok(WsMsg::Text(p)) if p.as_str() == "pong" => {
                        if t.elapsed() < ms(500) {
                            answered += 1;
                        }
                    }
                    _ => break,
                }
            }
            res_tx.send(answered).unwrap();
            until_closed(&mut ws);
        });
        let c = read_first_directly(c, &h, &go_tx);
        let answered = res_rx.recv_timeout(ms(15_000)).unwrap();
        assert_eq!(answered, 5, "pings answered in time while nobody read");
        assert_eq!(c.stats().queued, 0, "the pings stay out of the buffer");
    });
}

#[test]
fn close_wakes_a_reader_waiting_on_the_socket() {
    within(ms(20_000), || {
        // The server never reads, so it never answers the close frame: the
        // worker lingers, and only `close()` itself can wake the reader soon.
        let (end_tx, end_rx) = mpsc::channel::<()>();
        let (c, h) = pair("", Hooks::default(), move |ws| {
            let _ = end_rx.recv_timeout(ms(15_000));
            drop(ws);
        });
        let c = Arc::new(c);
        let reader = reader(&c);
        eventually(ms(5_000), "the reader waits on the socket", || {
            h.reader.get() == Reader::Waiting
        });
        let t = Instant::now();
        let closer = {
            let c = c.clone();
            thread::spawn(move || c.close())
        };
        match reader.join().unwrap() {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::ClosedByUser),
            e => panic!("expected a disconnect, got {e:?}"),
        }
        assert!(
            t.elapsed() < ms(500),
            "the reader woke after {:?}",
            t.elapsed()
        );
        closer.join().unwrap();
        drop(end_tx);
    });
}

#[test]
fn a_write_goes_out_while_another_thread_waits_to_read() {
    within(ms(20_000), || {
        let (got_tx, got_rx) = mpsc::channel();
        let (c, h) = pair("", Hooks::default(), move |mut ws| loop {
            match ws.read() {
                Ok(WsMsg::Text(t)) => got_tx.send(t.to_string()).unwrap(),
                Ok(_) => {}
                Err(_) => return,
            }
        });
        let c = Arc::new(c);
        let reader = reader(&c);
        eventually(ms(5_000), "the reader waits on the socket", || {
            h.reader.get() == Reader::Waiting
        });
        for k in 0..20 {
            let t = Instant::now();
            assert_eq!(c.write(&format!("w{k}")), 1 + k.to_string().len());
            // The slot was free: sent on this thread, counted before `write` returned.
            assert_eq!(c.stats().sent, k as u64 + 1);
            assert_eq!(got_rx.recv_timeout(ms(2_000)).unwrap(), format!("w{k}"));
            assert!(t.elapsed() < ms(500), "write {k} took {:?}", t.elapsed());
        }
        c.close();
        assert!(matches!(reader.join().unwrap(), Event::Disconnected(_)));
    });
}

/// A hook that blocks holds the slot on the worker thread; another thread's
/// `try_read`, `read_timeout` and `write` must not wait for it.
#[test]
fn a_slow_hook_blocks_no_read_and_no_write() {
    within(ms(20_000), || {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = parking_lot::Mutex::new(release_rx);
        let threads = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let seen = threads.clone();
        let hooks = Hooks {
            priority: Some(Arc::new(move |m: &crate::Message| {
                seen.lock()
                    .push(thread::current().name().unwrap_or("?").to_owned());
                if m.as_text() == Some("slow") {
                    entered_tx.send(()).unwrap();
                    let _ = release_rx.lock().recv_timeout(ms(10_000));
                }
                false
            })),
            ..Hooks::default()
        };
        let (c, _h) = pair("", hooks, |mut ws| {
            ws.send(WsMsg::text("slow")).unwrap();
            until_closed(&mut ws);
        });
        // Nobody reads: the worker reads "slow" and runs the hook.
        entered_rx.recv_timeout(ms(5_000)).unwrap();
        let t = Instant::now();
        assert_eq!(text(c.try_read()), "-");
        assert_eq!(text(c.read_timeout(ms(50))), "-");
        assert_eq!(c.write("meanwhile"), 9);
        assert!(t.elapsed() < ms(1_000), "blocked for {:?}", t.elapsed());
        release_tx.send(()).unwrap();
        assert_eq!(text(c.read_timeout(ms(5_000))), "slow");
        assert_eq!(*threads.lock(), ["wsdial-worker"]);
    });
}
