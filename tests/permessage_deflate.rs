//! permessage-deflate against servers that answer the handshake by hand: the
//! offer, every answer RFC 7692 says the client must fail, a server that says
//! 8 bits, renegotiation at every reconnect, and an inflate bomb.
#![cfg(feature = "permessage-deflate")]
mod common;
use common::*;
use flate2::{Compress, FlushCompress};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use wsdial::{Cause, ErrorKind, Event};

/// A server frame (unmasked) with FIN, RSV1 and the opcode in `b0`.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n <= 0xffff => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// A compressed text message, as one frame, from a deflater of `bits`.
fn compressed_text(z: &mut Compress, text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 64);
    z.compress_vec(text.as_bytes(), &mut out, FlushCompress::Sync)
        .unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    frame(0xc1, &out)
}

/// Answers the handshake with a `101` carrying `extensions` (if any), then
/// writes `after`; returns the request head. Holds the connection until the
/// client closes it (or 2 s pass) when `hold`.
fn answer(tcp: &mut TcpStream, extensions: Option<&str>, after: &[u8], hold: bool) -> String {
    let Some(head) = request_head(tcp) else {
        return String::new();
    };
    let key = header(&head, "sec-websocket-key").expect("a key");
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let ext = extensions
        .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
        .unwrap_or_default();
    let mut resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{ext}\r\n"
    )
    .into_bytes();
    resp.extend_from_slice(after);
    let _ = tcp.write_all(&resp);
    if hold {
        let _ = tcp.set_read_timeout(Some(ms(2000)));
        let mut buf = [0u8; 1024];
        while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
    }
    head
}

#[test]
fn the_offer_is_made_only_when_asked_for() {
    within(ms(10_000), || {
        let heads = Arc::new(Mutex::new(Vec::new()));
        let srv = {
            let heads = heads.clone();
            Server::raw(move |mut tcp, _| {
                let head = answer(&mut tcp, None, &frame(0x81, b"hi"), true);
                heads.lock().unwrap().push(head);
            })
        };
        for url in [srv.url("/"), srv.url("/|enableCompression=true")] {
            let c = wsdial::dial(&url).unwrap();
            assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), "hi");
            assert_eq!(c.extensions(), None);
            c.close();
        }
        eventually(ms(5000), "both heads", || heads.lock().unwrap().len() == 2);
        let heads = heads.lock().unwrap();
        let offers: Vec<Option<&str>> = heads
            .iter()
            .map(|h| header(h, "sec-websocket-extensions"))
            .collect();
        assert!(offers.contains(&None), "{heads:?}");
        assert!(
            offers.contains(&Some("permessage-deflate; client_max_window_bits")),
            "{heads:?}"
        );
    });
}

#[test]
fn every_must_fail_answer_ends_the_dial_naming_the_parameter() {
    within(ms(20_000), || {
        // After each answer the server sends a compressed message at once: a
        // client that accepted the answer would read it.
        let bait = compressed_text(
            &mut Compress::new(flate2::Compression::default(), false),
            "read from a server that broke the negotiation",
        );
        let cases: &[(&str, &str)] = &[
            (
                "permessage-deflate; foo=1",
                "`foo`, which permessage-deflate does not define",
            ),
            (
                "permessage-deflate; server_max_window_bits=16",
                "`server_max_window_bits` the value `16`",
            ),
            (
                "permessage-deflate; server_max_window_bits=7",
                "`server_max_window_bits` the value `7`",
            ),
            (
                "permessage-deflate; client_max_window_bits=08",
                "`client_max_window_bits` the value `08`",
            ),
            (
                "permessage-deflate; client_max_window_bits",
                "`client_max_window_bits` no value",
            ),
            (
                "permessage-deflate; server_max_window_bits",
                "`server_max_window_bits` no value",
            ),
            (
                "permessage-deflate; client_no_context_takeover=true",
                "`client_no_context_takeover` the value `true`; it takes no value",
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                "`server_no_context_takeover` twice",
            ),
            (
                "permessage-deflate, permessage-deflate",
                "accepts `permessage-deflate` twice",
            ),
            (
                "permessage-deflate, x-webkit-deflate-frame",
                "`x-webkit-deflate-frame`, which the client did not offer",
            ),
        ];
        for (ext, why) in cases {
            let (answered, bait) = (ext.to_string(), bait.clone());
            let srv = Server::raw(move |mut tcp, _| {
                answer(&mut tcp, Some(&answered), &bait, true);
            });
            let e = match wsdial::dial(&srv.url("/|enableCompression=true&timeout=3000")) {
                Ok(c) => panic!("{ext:?} accepted; read {:?}", c.read_timeout(ms(500))),
                Err(e) => e,
            };
            assert_eq!(e.kind(), ErrorKind::Handshake, "{e}");
            let m = e.to_string();
            assert!(m.contains(why), "{m}");
            assert!(
                m.contains("Sec-WebSocket-Extensions: permessage-deflate"),
                "{m}"
            );
        }
    });
}

#[test]
fn a_server_window_of_8_bits_is_accepted() {
    within(ms(10_000), || {
        // zlib cannot deflate with 8 bits; a 9-bit deflater keeps its matches
        // within 250 bytes, which is what an 8-bit stream looks like.
        let mut z = Compress::new_with_window_bits(flate2::Compression::best(), false, 9);
        let msgs = ["first", "first and more", "first and more and more"];
        let mut wire = Vec::new();
        for m in msgs {
            wire.extend(compressed_text(&mut z, m));
        }
        let srv = Server::raw(move |mut tcp, _| {
            answer(
                &mut tcp,
                Some("permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"),
                &wire,
                true,
            );
        });
        let c = wsdial::dial(&srv.url("/|enableCompression=true")).unwrap();
        for m in msgs {
            assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), m);
        }
        assert_eq!(
            c.extensions().as_deref(),
            Some("permessage-deflate; server_max_window_bits=8; client_max_window_bits=8")
        );
    });
}

#[test]
fn every_reconnect_negotiates_again() {
    within(ms(20_000), || {
        // Three connections: compression agreed, then a server that stops
        // offering it, then agreed again without context takeover. Each sends
        // its messages and holds until the client answers, then drops.
        let srv = Server::raw(move |mut tcp, i| {
            let (ext, wire) = match i {
                0 => {
                    let mut z = Compress::new(flate2::Compression::default(), false);
                    let w = [
                        compressed_text(&mut z, "one"),
                        compressed_text(&mut z, "one"),
                    ]
                    .concat();
                    (Some("permessage-deflate"), w)
                }
                1 => (None, frame(0x81, b"two")),
                2 => {
                    let mut w = Vec::new();
                    for _ in 0..2 {
                        let mut z = Compress::new(flate2::Compression::default(), false);
                        w.extend(compressed_text(&mut z, "three"));
                    }
                    (Some("permessage-deflate; server_no_context_takeover"), w)
                }
                _ => return,
            };
            answer(&mut tcp, ext, &wire, false);
            // the client's answer, then the drop
            let _ = tcp.set_read_timeout(Some(ms(5000)));
            let _ = tcp.read(&mut [0u8; 1024]);
        });
        let c =
            wsdial::dial(&srv.url("/|enableCompression=true&reconnect=true&interval=10")).unwrap();
        let expect: [(&str, usize, Option<&str>); 3] = [
            ("one", 2, Some("permessage-deflate")),
            ("two", 1, None),
            (
                "three",
                2,
                Some("permessage-deflate; server_no_context_takeover"),
            ),
        ];
        for (word, n, ext) in expect {
            for _ in 0..n {
                match c.read_timeout(ms(5000)).expect("an event") {
                    Event::Message(m) => assert_eq!(m.as_text(), Some(word)),
                    Event::Disconnected(d) => {
                        assert_eq!(d.cause(), Cause::Eof, "{d}");
                        assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), word);
                    }
                }
            }
            assert_eq!(c.extensions().as_deref(), ext, "{word}");
            assert!(c.write("ok") > 0);
        }
    });
}

#[test]
fn an_inflate_bomb_ends_the_connection_with_a_protocol_cause() {
    within(ms(20_000), || {
        // 64 MiB of zeros in about 64 KB, against maxsize=1 MiB
        let mut z = Compress::new(flate2::Compression::default(), false);
        let zeros = vec![0u8; 1 << 20];
        let mut bomb = Vec::with_capacity(1 << 20);
        for _ in 0..64 {
            z.compress_vec(&zeros, &mut bomb, FlushCompress::None)
                .unwrap();
        }
        z.compress_vec(&[], &mut bomb, FlushCompress::Sync).unwrap();
        bomb.truncate(bomb.len() - 4);
        assert!(bomb.len() < 100_000, "{}", bomb.len());
        let wire = [frame(0x81, b"before"), frame(0xc2, &bomb)].concat();
        let srv = Server::raw(move |mut tcp, _| {
            answer(&mut tcp, Some("permessage-deflate"), &wire, true);
        });
        let c = wsdial::dial(&srv.url("/|enableCompression=true&maxsize=1048576")).unwrap();
        assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), "before");
        match c.read_timeout(ms(5000)).expect("the disconnect") {
            Event::Disconnected(d) => {
                assert_eq!(d.cause(), Cause::Protocol, "{d}");
                assert_eq!(
                    d.detail(),
                    "permessage-deflate: a compressed message inflates to more than maxsize (1048576 bytes); inflating stopped there"
                );
            }
            other => panic!("{other:?}"),
        }
    });
}
