//! RFC 6455 section 4.1: a `101` response that names an extension or a
//! subprotocol the client did not offer fails the connection. The servers here
//! answer the handshake by hand, then send a text frame at once: a client that
//! accepted the answer would read it.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wsdial::{Cause, ErrorKind, Event};

/// What the hand-made servers send right after their `101`.
const BAIT: &str = "read from a server that broke the handshake";

/// Answers the handshake with a valid `101` plus `extra` header lines, then
/// sends `BAIT` as a text frame, and holds the connection until the client
/// closes it (or 2 s pass).
fn answer_101(tcp: &mut TcpStream, extra: &str) {
    let Some(head) = request_head(tcp) else {
        return;
    };
    let key = header(&head, "sec-websocket-key").expect("a key");
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
    )
    .into_bytes();
    resp.extend_from_slice(&[0x81, BAIT.len() as u8]);
    resp.extend_from_slice(BAIT.as_bytes());
    let _ = tcp.write_all(&resp);
    let _ = tcp.set_read_timeout(Some(ms(2000)));
    let mut buf = [0u8; 1024];
    while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
}

/// A server whose every answer carries `extra`.
fn answering(extra: &'static str) -> Server {
    Server::raw(move |mut tcp, _| answer_101(&mut tcp, extra))
}

fn handshake_error(url: &str) -> wsdial::Error {
    match wsdial::dial(url) {
        Ok(c) => panic!(
            "{url}: dial accepted the answer; first read: {:?}",
            c.read_timeout(ms(500))
        ),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Handshake, "{url}: {e}");
            assert!(!e.is_timeout(), "{url}: {e}");
            e
        }
    }
}

#[test]
fn an_extension_that_was_not_offered_fails_the_dial() {
    within(ms(10_000), || {
        for (extra, value) in [
            (
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                "permessage-deflate",
            ),
            (
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n",
                "permessage-deflate; client_max_window_bits=15",
            ),
            (
                "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n",
                "x-webkit-deflate-frame",
            ),
        ] {
            let srv = answering(extra);
            let e = handshake_error(&srv.url("/|timeout=3000"));
            let m = e.to_string();
            assert!(
                m.contains("Sec-WebSocket-Extensions"),
                "names the header: {m}"
            );
            assert!(m.contains(value), "names its value: {m}");
            assert!(m.contains("did not offer"), "says why: {m}");
        }
    });
}

#[test]
fn an_unoffered_extension_among_several_header_lines_is_found() {
    within(ms(10_000), || {
        // an empty list element is allowed by HTTP's list syntax and names nothing
        let srv = answering("Sec-WebSocket-Extensions: ,\r\nSec-WebSocket-Extensions: , foo\r\n");
        let m = handshake_error(&srv.url("/|timeout=3000")).to_string();
        assert!(m.contains("foo"), "{m}");
    });
}

#[test]
fn an_empty_extensions_header_names_no_extension_and_is_accepted() {
    within(ms(10_000), || {
        let srv = answering("Sec-WebSocket-Extensions: \r\n");
        let c = wsdial::dial(&srv.url("/|timeout=3000")).unwrap();
        assert_eq!(text(&c.read_timeout(ms(5000)).expect("the frame")), BAIT);
    });
}

#[test]
fn a_subprotocol_when_none_was_offered_fails_the_dial() {
    // tungstenite checks this case itself (ServerSentSubProtocolNoneRequested).
    within(ms(10_000), || {
        let srv = answering("Sec-WebSocket-Protocol: chat\r\n");
        let m = handshake_error(&srv.url("/|timeout=3000")).to_string();
        assert!(
            m.contains("Sec-WebSocket-Protocol"),
            "names the header: {m}"
        );
        assert!(m.contains("offered none"), "{m}");
    });
}

#[test]
fn a_subprotocol_other_than_the_offered_ones_fails_the_dial() {
    // tungstenite checks this case itself (InvalidSubProtocol).
    within(ms(10_000), || {
        let srv = answering("Sec-WebSocket-Protocol: chat\r\n");
        let m = handshake_error(&srv.url("/|protocol=json,mine&timeout=3000")).to_string();
        assert!(
            m.contains("Sec-WebSocket-Protocol"),
            "names the header: {m}"
        );
        assert!(m.contains("json, mine"), "names the offer: {m}");
    });
}

#[test]
fn no_subprotocol_when_some_were_offered_fails_the_dial() {
    // RFC 6455 lets a server decline every offered subprotocol by sending no
    // `Sec-WebSocket-Protocol`; tungstenite (NoSubProtocol) fails the dial
    // then, and so does wsdial. This pins that choice.
    within(ms(10_000), || {
        let srv = answering("");
        let m = handshake_error(&srv.url("/|protocol=json&timeout=3000")).to_string();
        assert!(
            m.contains("Sec-WebSocket-Protocol"),
            "names the header: {m}"
        );
        assert!(m.contains("json"), "names the offer: {m}");
    });
}

#[test]
fn an_offered_subprotocol_is_accepted_by_the_same_server() {
    // The control for the cases above: the hand-made answer itself is valid.
    within(ms(10_000), || {
        let srv = answering("Sec-WebSocket-Protocol: mine\r\n");
        let c = wsdial::dial(&srv.url("/|protocol=json,mine&timeout=3000")).unwrap();
        assert_eq!(c.protocol().as_deref(), Some("mine"));
        assert_eq!(text(&c.read_timeout(ms(5000)).expect("the frame")), BAIT);
    });
}

#[test]
fn reconnecting_to_a_server_that_names_an_unoffered_extension_waits_the_interval() {
    within(ms(15_000), || {
        // The first connection is a good one that the server drops at once;
        // every later answer names an extension that was not offered.
        let attempts = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let srv = {
            let attempts = attempts.clone();
            Server::raw(move |mut tcp, i| {
                attempts.lock().unwrap().push(Instant::now());
                if i == 0 {
                    if let Ok(mut ws) = tungstenite::accept(tcp) {
                        let _ = ws.send(WsMsg::text("hello"));
                    }
                } else {
                    answer_101(&mut tcp, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
                }
            })
        };
        let c =
            wsdial::dial(&srv.url("/|reconnect=true&interval=100&retry=4&timeout=3000")).unwrap();
        assert_eq!(text(&c.read_timeout(ms(5000)).expect("hello")), "hello");
        // the drop, then the give-up after 4 failed attempts, and nothing between
        let mut causes = Vec::new();
        while causes.last() != Some(&Cause::GaveUp) {
            match c
                .read_timeout(ms(5000))
                .expect("an event before the watchdog")
            {
                Event::Disconnected(d) => {
                    if d.cause() == Cause::GaveUp {
                        assert!(
                            d.detail()
                                .contains("Sec-WebSocket-Extensions: permessage-deflate"),
                            "the last failure is named: {d}"
                        );
                    }
                    causes.push(d.cause());
                }
                Event::Message(m) => panic!("read from a server that broke the handshake: {m:?}"),
            }
        }
        assert_eq!(causes.len(), 2, "{causes:?}");
        let t = attempts.lock().unwrap().clone();
        assert_eq!(t.len(), 5, "the first connection and exactly 4 attempts");
        for w in t[1..].windows(2) {
            let gap = w[1].duration_since(w[0]);
            assert!(
                gap >= ms(95),
                "attempts {gap:?} apart: the interval is kept"
            );
        }
    });
}

#[test]
fn a_malformed_extensions_header_fails_the_dial() {
    within(ms(10_000), || {
        let srv = answering("Sec-WebSocket-Extensions: ; p=1\r\n");
        let m = handshake_error(&srv.url("/|timeout=3000")).to_string();
        assert!(m.contains("not a valid extension list"), "{m}");
    });
}
