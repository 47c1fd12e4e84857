//! Polite reconnects: exponential backoff by default, refusals visible to the
//! program with their HTTP status, `Retry-After` obeyed, `pace` between the
//! messages of a greeting, and a first dial that retries when asked to.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wsdial::{Cause, Event};

/// Reads an HTTP request head off `tcp`.
fn read_head(tcp: &mut TcpStream) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A server that records when each connection came. Connection 0 is a
/// WebSocket that says `up` and drops; the next ones get `answers[i - 1]`
/// (raw HTTP) while there are answers, and after them a WebSocket saying
/// `back` that stays up.
fn scripted(answers: Vec<String>) -> (Server, Arc<Mutex<Vec<Instant>>>) {
    let times = Arc::new(Mutex::new(Vec::new()));
    let t = times.clone();
    let srv = Server::raw(move |mut tcp, i| {
        t.lock().unwrap().push(Instant::now());
        match i {
            0 => {
                let mut ws = tungstenite::accept(tcp).unwrap();
                ws.send(WsMsg::text("up")).unwrap();
            }
            i if i <= answers.len() => {
                read_head(&mut tcp);
                let _ = tcp.write_all(answers[i - 1].as_bytes());
                let _ = tcp.flush();
            }
            _ => {
                let mut ws = tungstenite::accept(tcp).unwrap();
                ws.send(WsMsg::text("back")).unwrap();
                until_closed(&mut ws);
            }
        }
    });
    (srv, times)
}

fn refusal(status: &str, extra: &str) -> String {
    format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n")
}

fn gaps_ms(t: &[Instant]) -> Vec<u64> {
    t.windows(2)
        .map(|w| w[1].duration_since(w[0]).as_millis() as u64)
        .collect()
}

#[test]
fn without_max_interval_the_wait_doubles_from_interval() {
    within(ms(30_000), || {
        // Every reconnect attempt is closed unanswered (no status: no refusal).
        let (srv, times) = scripted(vec![String::new(); 10]);
        let c =
            wsdial::dial(&srv.url("/|reconnect=true&interval=100&retry=5&timeout=1000")).unwrap();
        assert_eq!(text(&c.read()), "up");
        assert!(c.read().is_disconnect(), "the loss");
        match c.read() {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::GaveUp, "{d}"),
            e => panic!("{e:?}"),
        }
        let gaps = gaps_ms(&times.lock().unwrap());
        assert_eq!(gaps.len(), 5, "{gaps:?}");
        // From the loss to attempt 1: `interval`; then doubling, jitter
        // taking off at most a quarter, plus scheduling slack.
        for (gap, want) in gaps.iter().skip(1).zip([200, 400, 800, 1600]) {
            assert!(
                gap + 5 >= want * 3 / 4 && *gap <= want + 300,
                "gaps {gaps:?}: expected about {want} ms"
            );
        }
    });
}

#[test]
fn a_429_with_retry_after_2_is_not_retried_sooner_and_is_told_with_its_status() {
    within(ms(30_000), || {
        let (srv, times) = scripted(vec![
            refusal("429 Too Many Requests", "Retry-After: 2\r\n"),
            refusal("401 Unauthorized", ""),
            refusal("403 Forbidden", ""),
            refusal("503 Service Unavailable", ""),
        ]);
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=50&max_interval=50&timeout=2000"))
            .unwrap();
        assert_eq!(text(&c.read()), "up");
        match c.read() {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::Eof, "{d}"),
            e => panic!("{e:?}"),
        }
        let mut statuses = Vec::new();
        loop {
            match c.read() {
                Event::Disconnected(d) => {
                    assert_eq!(d.cause(), Cause::Refused, "{d}");
                    if d.http_status() == Some(429) {
                        assert_eq!(d.retry_after(), Some(Duration::from_secs(2)), "{d}");
                        assert!(d.to_string().contains("429"), "{d}");
                    } else {
                        assert_eq!(d.retry_after(), None, "{d}");
                    }
                    statuses.push(d.http_status().unwrap());
                }
                Event::Message(m) => {
                    assert_eq!(m.as_text(), Some("back"));
                    break;
                }
            }
        }
        // Read as they came, none merged (the program was waiting for each).
        assert_eq!(statuses, [429, 401, 403, 503]);
        let gaps = gaps_ms(&times.lock().unwrap());
        assert!(
            gaps[1] >= 2000 && gaps[1] < 2600,
            "the attempt after the 429 came {} ms later (Retry-After: 2); gaps {gaps:?}",
            gaps[1]
        );
        for g in &gaps[2..] {
            assert!(
                *g < 1000,
                "without Retry-After the interval holds: {gaps:?}"
            );
        }
    });
}

#[test]
fn retry_after_as_an_http_date() {
    within(ms(30_000), || {
        // Three seconds from now, to the second: a wait of 2 to 3 s.
        let at = std::time::SystemTime::now() + Duration::from_secs(3);
        let date = httpdate::fmt_http_date(at);
        let (srv, times) = scripted(vec![refusal(
            "503 Service Unavailable",
            &format!("Retry-After: {date}\r\n"),
        )]);
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=50&max_interval=50")).unwrap();
        assert_eq!(text(&c.read()), "up");
        assert!(c.read().is_disconnect());
        match c.read() {
            Event::Disconnected(d) => {
                assert_eq!((d.cause(), d.http_status()), (Cause::Refused, Some(503)));
                let w = d.retry_after().expect("the date is read");
                assert!(
                    w > Duration::from_millis(1500) && w <= Duration::from_secs(3),
                    "{w:?}"
                );
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(text(&c.read()), "back");
        let gaps = gaps_ms(&times.lock().unwrap());
        assert!(gaps[1] >= 1900, "retried {} ms after the 503", gaps[1]);
    });
}

#[test]
fn pace_spaces_every_greeting_and_the_connection_is_served_meanwhile() {
    within(ms(30_000), || {
        // Per connection: the data messages as they arrived, and whether the
        // Pong for a Ping sent after the first one came before the second.
        type Seen = (usize, Vec<(String, Instant)>, bool);
        let (tx, rx) = std::sync::mpsc::channel::<Seen>();
        let tx = Mutex::new(tx);
        let srv = Server::ws(move |mut ws, i| {
            let want = if i == 0 { 5 } else { 4 };
            let mut got = Vec::new();
            let mut pong_between = false;
            while got.len() < want {
                match ws.read() {
                    Ok(WsMsg::Text(t)) => {
                        got.push((t.as_str().to_owned(), Instant::now()));
                        if got.len() == 1 {
                            ws.send(WsMsg::Ping(b"p".to_vec().into())).unwrap();
                            ws.send(WsMsg::text(format!("ack-{i}"))).unwrap();
                        }
                    }
                    Ok(WsMsg::Pong(_)) if got.len() == 1 => pong_between = true,
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
            tx.lock().unwrap().send((i, got, pong_between)).unwrap();
            if i > 0 {
                until_closed(&mut ws);
            } // the first connection drops
        });
        let c = wsdial::Dialer::new()
            .on_connect(|| vec!["login".to_owned()])
            .dial(&srv.url(
                "/|reconnect=true&interval=0&pace=150&payload=sub-a&payload=sub-b&payload=sub-c",
            ))
            .unwrap();
        // Written during the first greeting: it goes out after it.
        assert_eq!(c.write("mine"), 4);
        assert_eq!(text(&c.read()), "ack-0", "read while the greeting goes on");
        let acked = Instant::now();
        for conn in 0..2 {
            let (i, got, pong_between) = rx.recv_timeout(ms(10_000)).unwrap();
            assert_eq!(i, conn);
            let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
            let mut want = vec!["login", "sub-a", "sub-b", "sub-c"];
            if conn == 0 {
                want.push("mine");
                assert!(
                    acked < got[3].1,
                    "the program read before the greeting ended"
                );
            }
            assert_eq!(texts, want);
            assert!(
                pong_between,
                "the Ping was answered between two paced messages"
            );
            for w in got[..4].windows(2) {
                let gap = w[1].1.duration_since(w[0].1);
                // at least `pace` (less a little for the server thread's own
                // scheduling), and not much more
                assert!(gap >= ms(140) && gap < ms(1000), "{texts:?}: gap {gap:?}");
            }
        }
        assert!(c.read().is_disconnect());
        assert_eq!(text(&c.read()), "ack-1");
    });
}

#[test]
fn a_refused_first_dial_is_the_error_with_its_status_and_wait() {
    within(ms(10_000), || {
        let srv = http_answer(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
        );
        let e = wsdial::dial(&srv.url("/")).unwrap_err();
        assert_eq!(e.kind(), wsdial::ErrorKind::Handshake, "{e}");
        assert_eq!(e.http_status(), Some(503), "{e}");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)), "{e}");
        assert!(e.to_string().contains("Retry-After"), "{e}");
    });
}

#[test]
fn retry_first_dials_again_in_the_background() {
    within(ms(30_000), || {
        // The first dial (on the caller's thread) is refused with a 503 that
        // asks for a second; the next attempt gets the WebSocket.
        let times = Arc::new(Mutex::new(Vec::new()));
        let times2 = times.clone();
        let srv = Server::raw(move |mut tcp, i| {
            times2.lock().unwrap().push(Instant::now());
            if i == 0 {
                read_head(&mut tcp);
                let _ = tcp
                    .write_all(refusal("503 Service Unavailable", "Retry-After: 1\r\n").as_bytes());
            } else {
                let mut ws = tungstenite::accept(tcp).unwrap();
                ws.send(WsMsg::text("up")).unwrap();
                until_closed(&mut ws);
            }
        });
        let c = wsdial::dial(&srv.url("/|retry_first=true&interval=50")).unwrap();
        assert!(!c.is_connected(), "not up yet");
        assert_eq!(c.write("early"), 0, "nothing to write to yet");
        match c.read() {
            Event::Disconnected(d) => {
                assert_eq!(
                    (d.cause(), d.http_status()),
                    (Cause::Refused, Some(503)),
                    "{d}"
                );
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(text(&c.read()), "up");
        assert!(c.is_connected());
        assert_eq!(c.stats().reconnects, 1);
        let gaps = gaps_ms(&times.lock().unwrap());
        assert!(gaps[0] >= 1000, "Retry-After: 1 was obeyed: {gaps:?}");
    });
}

#[test]
fn retry_first_gives_up_after_retry_failures_and_without_it_the_dial_fails() {
    within(ms(30_000), || {
        // A port with nothing listening.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("ws://127.0.0.1:{port}/");
        let e = wsdial::dial(&url).unwrap_err();
        assert_eq!(e.kind(), wsdial::ErrorKind::Tcp, "{e}");
        let t = Instant::now();
        let c = wsdial::dial(&format!("{url}|retry_first=true&interval=50&retry=3")).unwrap();
        assert!(t.elapsed() < ms(2000), "the dial returned at once");
        match c.read() {
            Event::Disconnected(d) => {
                assert_eq!(d.cause(), Cause::GaveUp, "{d}");
                assert!(d.to_string().contains("3 failed"), "{d}");
            }
            e => panic!("{e:?}"),
        }
        assert!(!c.is_connected());
    });
}

#[test]
fn close_during_a_paced_greeting_returns_promptly() {
    within(ms(20_000), || {
        let srv = command_server();
        let c = wsdial::dial(&srv.url("/|pace=5000&payload=a&payload=b&payload=c")).unwrap();
        // The first payload goes out at once; the next would wait 5 s.
        assert_eq!(text(&c.read_timeout(ms(5000)).expect("the echo")), "a");
        let t = Instant::now();
        c.close();
        assert!(
            t.elapsed() < ms(1500),
            "close took {:?} in a paced greeting",
            t.elapsed()
        );
        assert!(c.read_timeout(ms(10)).is_some_and(|e| e.is_disconnect()));
    });
}
