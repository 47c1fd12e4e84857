//! The inbound path: a fake server answers the handshake (correctly or not,
//! with permessage-deflate or not, chosen by the first byte) and then sends
//! arbitrary bytes; the client must end in messages and a disconnect, or a
//! typed dial error: never a panic or a hang.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn accept_key(req: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(req);
    let key = text.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case("sec-websocket-key").then(|| v.trim().to_owned())
    })?;
    Some(tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let body = body.to_vec();
    let server = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 2048];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        if mode % 2 == 0 {
            let key = accept_key(&req).unwrap_or_default();
            // mode bit 4: permessage-deflate agreed (offered by the client then)
            let ext = match mode >> 4 & 3 {
                1 => "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                3 => "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
                _ => "",
            };
            let head = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {key}\r\n{ext}\r\n");
            let _ = tcp.write_all(head.as_bytes());
        }
        let _ = tcp.write_all(&body);
        // then EOF (mode bit 1 clear) or a close after a pause
        if mode & 2 != 0 {
            let _ = tcp.read(&mut buf);
        }
    });
    let compress = ["", "&compress=gzip", "&compress=auto", "&compress=gzip_raw"][(mode as usize >> 2) % 4];
    let pmd = if mode & 16 != 0 { "&enableCompression=true" } else { "" };
    let address = format!("ws://{addr}/|timeout=300&maxsize=65536&qsize=64{compress}{pmd}");
    let start = Instant::now();
    if let Ok(conn) = wsdial::dial(&address) {
        loop {
            match conn.read_timeout(Duration::from_millis(600)) {
                Some(wsdial::Event::Disconnected(_)) => break,
                Some(wsdial::Event::Message(m)) => assert!(m.len() <= 65536),
                None => break, // the server is waiting for us to close
            }
            assert!(start.elapsed() < Duration::from_secs(5), "no end");
        }
        conn.close();
    }
    let _ = server.join();
});
