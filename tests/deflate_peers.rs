//! permessage-deflate against real third-party servers: Python `websockets`
//! and Node's `ws`, under each parameter they can answer with. Messages of
//! 0 B, 1 B, 125 B, 64 KiB and 1 MiB, text and binary, go both ways and are
//! checked byte for byte; each server says which extension it agreed to, and
//! how many of the frames it received were compressed (Python) or how many
//! bytes it read for them (Node).
#![cfg(feature = "permessage-deflate")]
mod common;
#[path = "common/peers.rs"]
mod peers;
use common::*;
use peers::*;
use wsdial::{Conn, Event};

const SIZES: [usize; 5] = [0, 1, 125, 64 * 1024, 1 << 20];

/// Text of exactly `n` bytes, compressible, with multi-byte characters.
fn text_of(n: usize) -> String {
    let unit = r#"{"s":"BTCUSDT","p":"37123.45","q":"0.012","side":"ü→"}"#;
    let mut s = String::with_capacity(n);
    for c in unit.chars().cycle() {
        if s.len() + c.len_utf8() > n {
            break;
        }
        s.push(c);
    }
    while s.len() < n {
        s.push('x');
    }
    s
}

/// Binary of exactly `n` bytes, not UTF-8, somewhat compressible.
fn binary_of(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (0xff - (i % 97) as u8) ^ ((i / 1024) as u8))
        .collect()
}

fn next(c: &Conn) -> wsdial::Message {
    match c.read_timeout(ms(10_000)) {
        Some(Event::Message(m)) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn json(c: &Conn) -> serde_json::Value {
    let m = next(c);
    serde_json::from_str(m.as_text().expect("JSON text")).unwrap()
}

/// Every size, text and binary, out and back, byte for byte; the number of
/// data messages sent.
fn round_trips(c: &Conn) -> u64 {
    let mut sent = 0;
    for n in SIZES {
        let t = text_of(n);
        assert_eq!(c.write(&t), n);
        let m = next(c);
        assert_eq!(m.as_text(), Some(t.as_str()), "text of {n} bytes");
        let b = binary_of(n);
        assert_eq!(c.write_binary(&b), n);
        let m = next(c);
        assert!(
            m.is_binary() || n == 0,
            "binary of {n} bytes came back as text"
        );
        assert_eq!(m.as_bytes(), &b[..], "binary of {n} bytes");
        sent += 2;
    }
    sent
}

/// Dials with compression and checks that the server's hello and
/// `Conn::extensions` agree on what was negotiated; returns the hello's value.
fn dial_agreed(url: &str) -> (Conn, String) {
    let c = wsdial::dial(url).unwrap();
    let hello = json(&c);
    let ext = hello["extensions"]
        .as_str()
        .unwrap_or_else(|| panic!("{url}: the server agreed to no extension: {hello}"))
        .to_owned();
    assert!(ext.starts_with("permessage-deflate"), "{ext}");
    assert_eq!(c.extensions().as_deref(), Some(ext.as_str()));
    (c, ext)
}

/// Python: the server counts the compressed frames it received.
fn python_stats(c: &Conn) -> (u64, u64) {
    c.write("?stats");
    let s = json(c);
    assert_eq!(s["type"], "stats", "{s}");
    (
        s["data_frames_in"].as_u64().unwrap(),
        s["compressed_in"].as_u64().unwrap(),
    )
}

#[test]
fn python_websockets_default_offer_smaller_windows() {
    within(ms(60_000), || {
        // websockets' own default: server_max_window_bits=12, client_max_window_bits=12
        let peer = Peer::python_ws(&[]);
        let (c, ext) = dial_agreed(&format!(
            "ws://127.0.0.1:{}/|enableCompression=true",
            peer.port
        ));
        assert!(ext.contains("server_max_window_bits=12"), "{ext}");
        assert!(ext.contains("client_max_window_bits=12"), "{ext}");
        let sent = round_trips(&c);
        assert_eq!(
            python_stats(&c),
            (sent + 1, sent + 1),
            "every frame compressed"
        );
    });
}

#[test]
fn python_websockets_each_parameter() {
    within(ms(120_000), || {
        for (params, want) in [
            ("server_no_context_takeover", "server_no_context_takeover"),
            ("client_no_context_takeover", "client_no_context_takeover"),
            ("server_max_window_bits=9", "server_max_window_bits=9"),
            ("client_max_window_bits=8", "client_max_window_bits=8"),
            (
                "server_no_context_takeover,client_no_context_takeover,server_max_window_bits=10,client_max_window_bits=9",
                "client_max_window_bits=9",
            ),
        ] {
            let peer = Peer::python_ws(&["--deflate", params]);
            let (c, ext) = dial_agreed(&format!(
                "ws://127.0.0.1:{}/|enableCompression=true",
                peer.port
            ));
            assert!(ext.contains(want), "{params}: {ext}");
            let sent = round_trips(&c);
            assert_eq!(python_stats(&c), (sent + 1, sent + 1), "{params}");
        }
    });
}

/// Random bytes: nothing to refer back to but a repeat.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn python_websockets_holds_the_client_to_its_window_and_context() {
    within(ms(60_000), || {
        // A block sent twice in a row: a deflater that kept more than the
        // agreed window (or kept the previous message at all, without context
        // takeover) would refer to the first copy, and Python's inflater, whose
        // window is what was agreed, would fail the connection.
        for (params, block) in [
            ("client_max_window_bits=8", 300),
            ("client_max_window_bits=10", 2000),
            ("client_no_context_takeover", 100),
        ] {
            let peer = Peer::python_ws(&["--deflate", params]);
            let (c, _) = dial_agreed(&format!(
                "ws://127.0.0.1:{}/|enableCompression=true",
                peer.port
            ));
            for seed in 1..=20 {
                let b = noise(block, seed);
                for _ in 0..2 {
                    c.write_binary(&b);
                    assert_eq!(next(&c).as_bytes(), &b[..], "{params}");
                }
            }
            assert_eq!(python_stats(&c), (41, 41), "{params}");
        }
        // and with context takeover, the repeat is what makes it small
        let peer = Peer::python_ws(&["--deflate", ""]);
        let (c, _) = dial_agreed(&format!(
            "ws://127.0.0.1:{}/|enableCompression=true",
            peer.port
        ));
        let b = noise(2000, 9);
        c.write_binary(&b);
        c.write_binary(&b);
        assert_eq!(next(&c).as_bytes(), &b[..]);
        assert_eq!(next(&c).as_bytes(), &b[..]);
    });
}

#[test]
fn python_websockets_uncompressed_writes_and_a_server_without_it() {
    within(ms(60_000), || {
        // deflate_writes=false: nothing sent is compressed, all received is inflated
        let peer = Peer::python_ws(&[]);
        let (c, _) = dial_agreed(&format!(
            "ws://127.0.0.1:{}/|enableCompression=true&deflate_writes=false",
            peer.port
        ));
        let sent = round_trips(&c);
        assert_eq!(python_stats(&c), (sent + 1, 0));

        // a server that does not accept the offer: plain messages, no extension
        let peer = Peer::python_ws(&["--deflate", "off"]);
        let c = wsdial::dial(&format!(
            "ws://127.0.0.1:{}/|enableCompression=true",
            peer.port
        ))
        .unwrap();
        let hello = json(&c);
        assert!(hello["extensions"].is_null(), "{hello}");
        assert_eq!(c.extensions(), None);
        round_trips(&c);
    });
}

#[test]
fn python_websockets_over_tls_with_application_gzip_inside() {
    within(ms(60_000), || {
        let (peer, cert) = Peer::python_wss_with(&[]);
        let (c, _) = dial_agreed(&format!(
            "wss://localhost:{}/|enableCompression=true&ca={}",
            peer.port,
            cert.display()
        ));
        let sent = round_trips(&c);
        assert_eq!(python_stats(&c), (sent + 1, sent + 1));

        // compress=gzip&mode=dual inside: written text is gzipped into a binary
        // message, which the extension compresses again; the echo comes back
        // the same way and is read as the text it was.
        let (c, _) = dial_agreed(&format!(
            "wss://localhost:{}/|enableCompression=true&compress=gzip&mode=dual&ca={}",
            peer.port,
            cert.display()
        ));
        for n in SIZES {
            let t = text_of(n);
            c.write(&t);
            let m = next(&c);
            assert_eq!(m.decode_error(), None);
            assert_eq!(m.as_text(), Some(t.as_str()), "{n} bytes");
        }
    });
}

/// Node: the server reports the bytes it read and the payload they carried.
fn node_stats(c: &Conn) -> (u64, u64) {
    c.write("?stats");
    let s = json(c);
    (
        s["bytes_in"].as_u64().unwrap(),
        s["payload_in"].as_u64().unwrap(),
    )
}

#[test]
fn node_ws_with_and_without_server_context_takeover() {
    within(ms(90_000), || {
        for (args, want) in [
            (&[][..], None),
            (
                &["--no-context-takeover"][..],
                Some("server_no_context_takeover"),
            ),
            (
                &[
                    "--client-no-context-takeover",
                    "--client-max-window-bits",
                    "9",
                ][..],
                Some("client_max_window_bits=9"),
            ),
        ] {
            let peer = Peer::node_ws(args);
            let (c, ext) = dial_agreed(&format!(
                "ws://127.0.0.1:{}/|enableCompression=true",
                peer.port
            ));
            if let Some(w) = want {
                assert!(ext.contains(w), "{args:?}: {ext}");
            }
            round_trips(&c);
            let (bytes_in, payload_in) = node_stats(&c);
            let expected: usize = SIZES.iter().map(|n| 2 * n).sum();
            assert_eq!(payload_in, expected as u64, "{args:?}");
            assert!(
                bytes_in * 5 < payload_in,
                "{args:?}: {bytes_in} bytes on the wire for {payload_in} of payload: not compressed"
            );
        }
    });
}
