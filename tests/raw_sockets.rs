//! tcp://, tls://, udp:// and unix:// with the same calls, against real peers:
//! socat (TCP, TLS, Unix) and a Python UDP echo server.
mod common;
#[path = "common/peers.rs"]
mod peers;
use common::*;
use peers::*;
use std::process::Command;
use std::time::Instant;
use wsdial::{Cause, ErrorKind, Event};

/// Reads until `want` bytes arrived (raw reads return whatever came, in chunks).
fn read_bytes(c: &wsdial::Conn, want: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(want);
    while got.len() < want {
        match c.read_timeout(ms(10_000)).expect("data keeps coming") {
            Event::Message(m) => {
                assert!(m.is_binary(), "raw data comes back as bytes");
                got.extend_from_slice(m.as_bytes());
            }
            Event::Disconnected(d) => panic!("lost after {} of {want} bytes: {d}", got.len()),
        }
    }
    got
}

fn tcp_echo() -> (Proc, u16) {
    let port = free_port();
    let p = socat(
        &[
            &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"),
            "EXEC:cat",
        ],
        || listening(port),
    );
    (p, port)
}

#[test]
fn tcp_echo_text_binary_and_a_mebibyte_in_order() {
    within(ms(30_000), || {
        let (_p, port) = tcp_echo();
        let c = wsdial::dial(&format!("tcp://127.0.0.1:{port}")).unwrap();
        assert_eq!(c.write("hello\n"), 6);
        assert_eq!(read_bytes(&c, 6), b"hello\n");
        let bin: Vec<u8> = (0..=255u8).collect();
        assert_eq!(c.write_binary(&bin), 256);
        assert_eq!(read_bytes(&c, 256), bin);
        // 1 MiB in 64 writes, back complete and in order.
        let big: Vec<u8> = (0..(1u32 << 20))
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        for chunk in big.chunks(16 * 1024) {
            assert_eq!(c.write_binary(chunk), chunk.len());
        }
        assert_eq!(read_bytes(&c, big.len()), big);
        assert_eq!(c.stats().dropped, 0);
    });
}

#[test]
fn unix_socket_echo() {
    within(ms(20_000), || {
        let dir = std::env::temp_dir().join(format!("wsdial-unix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("echo.sock");
        let _ = std::fs::remove_file(&path);
        let p2 = path.clone();
        let _p = socat(
            &[&format!("UNIX-LISTEN:{},fork", path.display()), "EXEC:cat"],
            || p2.exists(),
        );
        let c = wsdial::dial(&format!("unix://{}", path.display())).unwrap();
        c.write_binary(&[0, 1, 2, 255]);
        assert_eq!(read_bytes(&c, 4), [0, 1, 2, 255]);
        c.write("line over unix\n");
        assert_eq!(read_bytes(&c, 15), b"line over unix\n");
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn udp_keeps_datagram_boundaries() {
    within(ms(20_000), || {
        let mut cmd = Command::new(peer_path("venv/bin/python"));
        cmd.arg(root().join("tests/peers/udp_echo.py"));
        let peer = Peer::start(cmd);
        let c = wsdial::dial(&format!("udp://127.0.0.1:{}", peer.port)).unwrap();
        let grams: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            vec![7u8; 1400],
            b"three".to_vec(),
            Vec::new(),
            vec![0xff; 9000],
        ];
        for g in &grams {
            assert_eq!(c.write_binary(g), g.len());
            // one datagram out, one datagram back, as one message
            let m = c
                .read_timeout(ms(5000))
                .expect("echo")
                .into_message()
                .unwrap();
            assert_eq!(m.as_bytes(), &g[..], "datagram of {} bytes", g.len());
        }
        // several in flight: each is its own message
        for g in &grams[..3] {
            c.write_binary(g);
        }
        for g in &grams[..3] {
            assert_eq!(
                c.read_timeout(ms(5000))
                    .unwrap()
                    .into_message()
                    .unwrap()
                    .as_bytes(),
                &g[..]
            );
        }
    });
}

#[test]
fn tls_self_signed_refused_then_accepted_with_ca_or_insecure() {
    within(ms(20_000), || {
        let (cert, key) = (peer_path("cert.pem"), peer_path("key.pem"));
        let port = free_port();
        let _p = socat(
            &[
                &format!(
                    "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
                    cert.display(),
                    key.display()
                ),
                "EXEC:cat",
            ],
            || listening(port),
        );
        let e = wsdial::dial(&format!("tls://localhost:{port}|timeout=5000")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
        for opt in [
            format!("ca={}", cert.display()),
            "insecure=true".to_string(),
        ] {
            let c = wsdial::dial(&format!("tls://localhost:{port}|{opt}")).unwrap();
            c.write("over tls\n");
            assert_eq!(read_bytes(&c, 9), b"over tls\n", "{opt}");
        }
    });
}

#[test]
fn peer_close_is_a_disconnect() {
    within(ms(20_000), || {
        let port = free_port();
        let _p = socat(
            &[
                &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"),
                "SYSTEM:echo bye",
            ],
            || listening(port),
        );
        let c = wsdial::dial(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let mut got = Vec::new();
        loop {
            match c.read_timeout(ms(5000)).unwrap() {
                Event::Message(m) => got.extend_from_slice(m.as_bytes()),
                Event::Disconnected(d) => {
                    assert_eq!(d.cause(), Cause::Eof, "{d}");
                    break;
                }
            }
        }
        assert_eq!(got, b"bye\n", "data before the end is delivered first");
        assert!(c.read().is_disconnect(), "and repeats without reconnect");
        assert_eq!(c.write("x"), 0);
    });
}

#[test]
fn tcp_reconnect_resends_the_payload() {
    within(ms(30_000), || {
        let dir = std::env::temp_dir().join(format!("wsdial-raw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("received");
        let _ = std::fs::remove_file(&log);
        let port = free_port();
        // Each connection: read the 6-byte payload into the log, answer, hang up.
        let cmd = format!("SYSTEM:head -c 6 >> {} && echo ok", log.display());
        let _p = socat(
            &[
                &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"),
                &cmd,
            ],
            || listening(port),
        );
        let started = Instant::now();
        let c = wsdial::dial(&format!(
            "tcp://127.0.0.1:{port}|reconnect=true&interval=50&payload=LOGIN\n"
        ))
        .unwrap();
        let mut disconnects = 0;
        let mut oks = 0;
        while disconnects < 3 {
            match c.read_timeout(ms(5000)).expect("reconnects") {
                Event::Message(m) => oks += m.as_bytes().iter().filter(|&&b| b == b'\n').count(),
                Event::Disconnected(_) => disconnects += 1,
            }
        }
        assert!(oks >= 3, "an answer per connection");
        assert!(
            c.stats().reconnects >= 2,
            "the 2nd and 3rd connections were reconnects"
        );
        eventually(ms(5000), "the payload logged per connection", || {
            std::fs::read(&log)
                .map(|b| b.len() >= 6 * 3)
                .unwrap_or(false)
        });
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(logged.starts_with("LOGIN\nLOGIN\nLOGIN\n"), "{logged:?}");
        assert!(started.elapsed() < ms(20_000));
        c.close();
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn options_that_do_not_apply_are_refused() {
    let cases = [
        ("tcp://127.0.0.1:1|compress=gzip", "compress"),
        ("udp://127.0.0.1:1|protocol=a", "protocol"),
        ("tls://127.0.0.1:1|ping=1000", "ping"),
        ("unix:///tmp/none.sock|header=a: b", "header"),
        ("udp://127.0.0.1:1|proxy=socks5://127.0.0.1:1080", "proxy"),
        ("tcp://127.0.0.1:1|ca=/tmp/ca.pem", "ca"),
        ("unix:///tmp/none.sock|local_ip=127.0.0.1", "local_ip"),
    ];
    for (addr, key) in cases {
        let e = wsdial::dial(addr).unwrap_err();
        assert_eq!(
            (e.kind(), e.key()),
            (ErrorKind::Address, Some(key)),
            "{addr}: {e}"
        );
        assert!(e.to_string().contains("does not apply"), "{e}");
    }
    // and the ones that do apply are accepted
    assert!(wsdial::Address::parse(
        "tcp://127.0.0.1:1|reconnect=true&interval=10&idle=100&qsize=5&payload=x"
    )
    .is_ok());
}
