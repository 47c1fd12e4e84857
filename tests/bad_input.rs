//! The bad-input table: every named case asserts its exact outcome (a typed
//! error naming the problem, or a disconnect with its cause), never a panic or
//! a hang. Each case runs under the watchdog.
mod common;
use common::*;
use std::io::{Read, Write};
use std::time::Instant;
use wsdial::{Cause, ErrorKind, Event};

/// What a case must produce.
enum Want {
    /// The dial fails with this kind, and the message contains the text.
    DialError(ErrorKind, &'static str),
    /// The dial succeeds; the first event is a disconnect with this cause and text.
    Lost(Cause, &'static str),
}

fn check(name: &str, address: &str, want: Want) {
    let t = Instant::now();
    match (wsdial::dial(address), want) {
        (Err(e), Want::DialError(kind, text)) => {
            assert_eq!(e.kind(), kind, "{name}: {e}");
            assert!(e.to_string().contains(text), "{name}: `{e}` lacks `{text}`");
        }
        (Ok(c), Want::Lost(cause, text)) => match c.read_timeout(ms(5000)) {
            Some(Event::Disconnected(d)) => {
                assert_eq!(d.cause(), cause, "{name}: {d}");
                assert!(d.detail().contains(text), "{name}: `{d}` lacks `{text}`");
            }
            other => panic!("{name}: expected a disconnect, got {other:?}"),
        },
        (Ok(_), Want::DialError(..)) => panic!("{name}: the dial succeeded"),
        (Err(e), Want::Lost(..)) => panic!("{name}: the dial failed: {e}"),
    }
    assert!(t.elapsed() < ms(4000), "{name}: took {:?}", t.elapsed());
}

/// A server that upgrades properly, then writes raw frame bytes and closes (FIN).
fn frames(raw: &'static [u8]) -> Server {
    frames_owned(raw.to_vec())
}

fn frames_owned(raw: Vec<u8>) -> Server {
    Server::raw(move |tcp, _| {
        let mut ws = tungstenite::accept(tcp).unwrap();
        let _ = ws.get_mut().write_all(&raw);
        let _ = ws.get_mut().flush();
        // keep the socket open briefly so the client sees the frame, not just EOF
        let _ = ws.get_mut().set_read_timeout(Some(ms(300)));
        let mut b = [0u8; 64];
        let _ = ws.get_mut().read(&mut b);
    })
}

#[test]
fn malformed_addresses() {
    within(ms(10_000), || {
        let cases: &[(&str, &str, &str)] = &[
            ("empty", "", "has no scheme"),
            ("no scheme", "127.0.0.1:9001", "has no scheme"),
            (
                "http scheme",
                "http://127.0.0.1/",
                "scheme `http` is not supported",
            ),
            ("no host", "ws:///path", "has no host"),
            ("port out of range", "ws://h:70000/", "not a valid URL"),
            ("tcp without port", "tcp://127.0.0.1", "has no port"),
            (
                "unknown key",
                "ws://127.0.0.1:1/|reconect=true",
                "did you mean `reconnect`",
            ),
            (
                "key without value",
                "ws://127.0.0.1:1/|reconnect",
                "has no value",
            ),
            (
                "bad bool",
                "ws://127.0.0.1:1/|reconnect=yes please",
                "true or false",
            ),
            (
                "bad number",
                "ws://127.0.0.1:1/|qsize=lots",
                "count of messages",
            ),
            ("zero qsize", "ws://127.0.0.1:1/|qsize=0", "at least 1"),
            (
                "bad mode",
                "ws://127.0.0.1:1/|mode=both",
                "dual, send, recv",
            ),
            (
                "bad compress",
                "ws://127.0.0.1:1/|compress=br",
                "gzip, gzip_raw",
            ),
            (
                "bad header",
                "ws://127.0.0.1:1/|header=no colon",
                "Name: Value",
            ),
            (
                "header with CR LF (decoded)",
                "ws://127.0.0.1:1/|header=X-A:%20a%0D%0AInjected:%201",
                "Name: Value",
            ),
            (
                "a header the handshake sets itself",
                "ws://127.0.0.1:1/|header=Sec-WebSocket-Extensions: permessage-deflate",
                "any header but those the handshake sets",
            ),
            (
                "bad proxy scheme",
                "ws://127.0.0.1:1/|proxy=ftp://p:21",
                "proxy scheme `ftp`",
            ),
            (
                "proxy password without a user",
                "ws://127.0.0.1:1/|proxy=socks5://:pw@127.0.0.1:1080",
                "has a password but no user name",
            ),
            (
                "proxy with a path",
                "ws://127.0.0.1:1/|proxy=http://127.0.0.1:3128/x",
                "has a path, query or fragment",
            ),
            (
                "bad local ip",
                "ws://127.0.0.1:1/|local_ip=myhost",
                "IPv4 or IPv6",
            ),
            (
                "ping_msg without ping",
                "ws://127.0.0.1:1/|ping=0&ping_msg=ping",
                "needs `ping`",
            ),
        ];
        for (name, addr, text) in cases {
            // Every address here is refused before any lookup or connection.
            assert!(
                wsdial::Address::parse(addr).is_err() || addr.contains("127.0.0.1:1/"),
                "{name}"
            );
            let e = wsdial::dial(addr).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Address, "{name}: {e}");
            assert!(e.to_string().contains(text), "{name}: `{e}` lacks `{text}`");
        }
    });
}

#[test]
fn a_bad_proxy_url_names_proxy_and_hides_its_password() {
    for addr in [
        "ws://127.0.0.1:1/|proxy=socks5://u:hunter2@127.0.0.1:99999",
        "ws://127.0.0.1:1/|proxy=socks5://u:hun/ter2@127.0.0.1:1080",
    ] {
        let e = wsdial::Address::parse(addr).unwrap_err();
        assert_eq!(
            (e.kind(), e.key()),
            (ErrorKind::Address, Some("proxy")),
            "{e}"
        );
        assert!(e.to_string().contains("socks5://u:***@"), "{e}");
        assert!(e.to_string().contains("accepted: socks5://"), "{e}");
        assert!(!format!("{e} {e:?}").contains("ter2"), "{e:?}");
    }
}

#[test]
fn bad_handshake_answers() {
    within(ms(30_000), || {
        let cases: Vec<(&str, &'static [u8], &str)> = vec![
            ("200 instead of 101", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", "HTTP 200"),
            ("301 redirect", b"HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", "HTTP 301"),
            ("404", b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "HTTP 404"),
            (
                "wrong Sec-WebSocket-Accept",
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
                "Sec-WebSocket-Accept",
            ),
            (
                "missing upgrade header",
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n",
                "Upgrade",
            ),
            ("garbage", b"\x00\x01\x02garbage that is not HTTP\r\n\r\n", "handshake"),
            ("closed before answering", b"", "handshake"),
        ];
        for (name, raw, text) in cases {
            let srv = http_answer(raw);
            check(
                name,
                &srv.url("/|timeout=3000"),
                Want::DialError(ErrorKind::Handshake, text),
            );
        }
        // An endless header: the client gives up instead of buffering forever.
        let srv = Server::raw(|mut tcp, _| {
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf);
            let _ = tcp.write_all(b"HTTP/1.1 101 Switching Protocols\r\nX-Endless: ");
            let chunk = vec![b'a'; 64 * 1024];
            for _ in 0..2048 {
                if tcp.write_all(&chunk).is_err() {
                    return;
                }
            }
        });
        check(
            "endless header",
            &srv.url("/|timeout=3000"),
            Want::DialError(ErrorKind::Handshake, "handshake"),
        );
    });
}

#[test]
fn bad_frames_after_the_upgrade() {
    within(ms(30_000), || {
        let cases: Vec<(&str, &'static [u8], Cause, &str)> = vec![
            ("reserved opcode", b"\x83\x00", Cause::Protocol, "opcode"),
            (
                "masked server frame",
                b"\x81\x85\x01\x02\x03\x04iggmn",
                Cause::Protocol,
                "mask",
            ),
            (
                "invalid UTF-8 text",
                b"\x81\x04\xff\xfe\xfd\xfc",
                Cause::Protocol,
                "UTF-8",
            ),
            (
                "continuation without a start",
                b"\x80\x02hi",
                Cause::Protocol,
                "continue",
            ),
            (
                "reserved bits set",
                b"\xc1\x02hi",
                Cause::Protocol,
                "Reserved bits",
            ),
            (
                "close with an invalid code (999)",
                b"\x88\x02\x03\xe7",
                Cause::ClosedByPeer,
                "invalid close code",
            ),
            (
                "fragmented ping",
                b"\x09\x02hi",
                Cause::Protocol,
                "ragmented",
            ),
            (
                "half a frame then EOF",
                b"\x81\x7e\x01\x00only-part",
                Cause::Eof,
                "closed",
            ),
        ];
        for (name, raw, cause, text) in cases {
            let srv = frames(raw);
            check(name, &srv.url("/"), Want::Lost(cause, text));
        }
        // a ping of 128 bytes (control frames may carry at most 125)
        let mut big_ping = b"\x89\x7e\x00\x80".to_vec();
        big_ping.extend_from_slice(&[b'p'; 128]);
        check(
            "control frame over 125 bytes",
            &frames_owned(big_ping).url("/"),
            Want::Lost(Cause::Protocol, "ontrol frame"),
        );
        // over maxsize, announced by the frame header
        let srv = frames(b"\x82\x7f\x00\x00\x00\x00\x10\x00\x00\x00");
        check(
            "message over maxsize",
            &srv.url("/|maxsize=65536"),
            Want::Lost(Cause::Protocol, "maxsize"),
        );
    });
}

#[test]
fn transport_mismatches_and_silence() {
    within(ms(30_000), || {
        let plain = command_server();
        check(
            "TLS to a plain server",
            &format!("wss://{}/|timeout=3000", plain.addr),
            Want::DialError(ErrorKind::Tls, "tls"),
        );

        // Plain to a TLS server: a real TLS listener (socat needs no extra setup here).
        let tls_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            std::thread::spawn(move || {
                // answers every client with a TLS alert record (what a TLS server says to HTTP)
                for mut s in l.incoming().flatten() {
                    let mut b = [0u8; 1024];
                    let _ = s.read(&mut b);
                    let _ = s.write_all(b"\x15\x03\x01\x00\x02\x02\x46");
                }
            });
            port
        };
        check(
            "plain to a TLS server",
            &format!("ws://127.0.0.1:{tls_port}/|timeout=3000"),
            Want::DialError(ErrorKind::Handshake, "handshake"),
        );

        let (_l, addr) = silent_listener();
        check(
            "a peer that never sends anything",
            &format!("ws://{addr}/|timeout=300"),
            Want::DialError(ErrorKind::Handshake, "timed out"),
        );
        check(
            "TLS to a peer that never sends anything",
            &format!("wss://{addr}/|timeout=300"),
            Want::DialError(ErrorKind::Tls, "timed out"),
        );
    });
}
