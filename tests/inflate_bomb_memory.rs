//! The memory an inflate bomb costs, measured: one test alone in its process,
//! so the process's peak resident size (VmHWM) is this test's. A 1 GiB
//! message compressed into about 1 MB arrives with permessage-deflate against
//! maxsize=16 MiB; the peak may grow by what maxsize allows (the message as far
//! as it got, in tungstenite's buffer), never by the bomb's size.
#![cfg(feature = "permessage-deflate")]
mod common;
use common::*;
use flate2::{Compress, FlushCompress};
use std::io::{Read, Write};
use wsdial::{Cause, Event};

/// The process's peak resident set, bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb * 1024
}

#[test]
fn an_inflate_bomb_costs_maxsize_not_its_size() {
    within(ms(60_000), || {
        const GIB: usize = 1 << 30;
        const MAX: usize = 16 << 20;
        let mut z = Compress::new(flate2::Compression::default(), false);
        let zeros = vec![0u8; 1 << 20];
        let mut bomb = Vec::with_capacity(2 << 20);
        for _ in 0..GIB / zeros.len() {
            z.compress_vec(&zeros, &mut bomb, FlushCompress::None)
                .unwrap();
        }
        z.compress_vec(&[], &mut bomb, FlushCompress::Sync).unwrap();
        bomb.truncate(bomb.len() - 4);
        drop(zeros);
        let compressed = bomb.len();
        let mut wire = vec![0xc2, 127];
        wire.extend_from_slice(&(bomb.len() as u64).to_be_bytes());
        wire.extend_from_slice(&bomb);
        drop(bomb);

        let srv = Server::raw(move |mut tcp, _| {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match tcp.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let key = head
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .expect("a key")
                .trim();
            let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
            );
            let _ = tcp.write_all(resp.as_bytes());
            let _ = tcp.write_all(&wire);
            let _ = tcp.set_read_timeout(Some(ms(5000)));
            while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
        });

        let before = peak_rss();
        let c = wsdial::dial(&srv.url(&format!("/|enableCompression=true&maxsize={MAX}"))).unwrap();
        match c.read_timeout(ms(30_000)).expect("the disconnect") {
            Event::Disconnected(d) => {
                assert_eq!(d.cause(), Cause::Protocol, "{d}");
                assert!(d.detail().contains("maxsize (16777216 bytes)"), "{d}");
            }
            other => panic!("{other:?}"),
        }
        let grew = peak_rss().saturating_sub(before);
        println!(
            "a {compressed}-byte frame that inflates to {GIB} bytes, maxsize {MAX}: peak RSS grew by {:.1} MiB",
            grew as f64 / (1 << 20) as f64
        );
        assert!(
            grew < 4 * MAX as u64,
            "peak RSS grew by {grew} bytes for maxsize {MAX}"
        );
    });
}
