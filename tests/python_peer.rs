//! Against a real third-party server: Python `websockets`, plain and TLS.
mod common;
#[path = "common/peers.rs"]
mod peers;
use common::*;
use peers::*;
use std::time::Instant;

fn hello(c: &wsdial::Conn) -> serde_json::Value {
    let ev = c.read_timeout(ms(5000)).expect("hello");
    serde_json::from_str(&text(&ev)).unwrap()
}

fn echo_round_trips(c: &wsdial::Conn) {
    for body in ["plain", "{\"op\":\"subscribe\"}", "ünïcødé ✓"] {
        assert_eq!(c.write(body), body.len());
        assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), body);
    }
    let bin: Vec<u8> = (0..=255u8).rev().collect();
    c.write_binary(&bin);
    let m = c.read_timeout(ms(5000)).unwrap().into_message().unwrap();
    assert_eq!((m.is_binary(), m.as_bytes()), (true, &bin[..]));
    let big = "x".repeat(1 << 20);
    c.write(&big);
    assert_eq!(
        c.read_timeout(ms(5000)).unwrap().message().unwrap().len(),
        big.len()
    );
}

#[test]
fn plain_ws_echo_headers_and_subprotocol() {
    within(ms(20_000), || {
        let peer = Peer::python_ws(&[]);
        let c = wsdial::Dialer::new()
            .header("X-From-Builder", "b")
            .dial(&format!(
                "ws://127.0.0.1:{}/ws?token=jwt.abc|header=x-api-key: k3y=+/&protocol=zigquant-v2",
                peer.port
            ))
            .unwrap();
        let h = hello(&c);
        assert_eq!(h["path"], "/ws?token=jwt.abc", "URL kept byte for byte");
        assert_eq!(h["headers"]["x-api-key"], "k3y=+/");
        assert_eq!(h["headers"]["x-from-builder"], "b");
        assert_eq!(h["subprotocol"], "zigquant-v2");
        assert_eq!(c.protocol().as_deref(), Some("zigquant-v2"));
        echo_round_trips(&c);
    });
}

#[test]
fn tls_with_a_self_signed_certificate() {
    within(ms(20_000), || {
        let (peer, cert) = Peer::python_wss();
        let port = peer.port;

        // Refused by default: the certificate is not trusted.
        let e = wsdial::dial(&format!("wss://localhost:{port}/|timeout=5000")).unwrap_err();
        assert_eq!(e.kind(), wsdial::ErrorKind::Tls, "{e}");

        // Accepted with the certificate as an extra root (name checked against SNI).
        let c = wsdial::dial(&format!("wss://localhost:{port}/|ca={}", cert.display())).unwrap();
        assert_eq!(hello(&c)["type"], "hello");
        echo_round_trips(&c);

        // Accepted with insecure=true.
        let c = wsdial::dial(&format!("wss://127.0.0.1:{port}/|insecure=true")).unwrap();
        assert_eq!(hello(&c)["type"], "hello");
        echo_round_trips(&c);
    });
}

#[test]
fn server_pings_are_answered_while_the_program_does_not_read() {
    within(ms(20_000), || {
        // The server pings every 0.2 s and drops a client that does not pong within 0.2 s.
        let peer = Peer::python_ws(&["--ping", "0.2"]);
        let c = wsdial::dial(&format!("ws://127.0.0.1:{}/", peer.port)).unwrap();
        let t = Instant::now();
        // Not reading for ~1.5 s (7 ping rounds); waiting on the buffer, not sleeping.
        assert!(
            c.read_timeout(ms(1500)).is_some_and(|e| !e.is_disconnect()),
            "hello"
        );
        let stayed = c.read_timeout(ms(1500).saturating_sub(t.elapsed()));
        assert!(stayed.is_none(), "connection dropped: {stayed:?}");
        assert!(c.is_connected());
        c.write("still here");
        assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), "still here");
    });
}

/// Issue 19, defect 1, against the peer it was found with: dial on a helper
/// thread (as bindings do), read the hello and close on this one. Every close
/// must return as soon as the server answers the close frame.
#[test]
fn close_after_a_cross_thread_dial_is_prompt() {
    within(ms(60_000), || {
        let peer = Peer::python_ws(&[]);
        let url = format!("ws://127.0.0.1:{}/", peer.port);
        let mut slowest = std::time::Duration::ZERO;
        for cycle in 0..200 {
            let u = url.clone();
            let c = std::thread::spawn(move || wsdial::dial(&u).unwrap())
                .join()
                .unwrap();
            assert_eq!(hello(&c)["type"], "hello");
            let t = Instant::now();
            c.close();
            let took = t.elapsed();
            slowest = slowest.max(took);
            assert!(took < ms(100), "cycle {cycle}: close() took {took:?}");
        }
        eprintln!("slowest close of 200: {slowest:?}");
    });
}
