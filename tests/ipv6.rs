//! IPv6 literals work wherever an address is accepted: the URL of every
//! scheme (`ws://[::1]:port/`), `proxy=` (SOCKS5 and HTTP, to an IPv6 target
//! too) and `local_ip=`. Everything here talks to ::1 only.
mod common;
#[path = "common/peers.rs"]
mod peers;
use common::*;
use peers::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use wsdial::{ErrorKind, Event};

/// A WebSocket server on [::1] that greets each client with the address it
/// came from, then echoes.
fn ws_v6() -> SocketAddr {
    let l = TcpListener::bind("[::1]:0").expect("IPv6 loopback (::1) is needed");
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let from = s.peer_addr().unwrap();
                let mut ws = tungstenite::accept(s).unwrap();
                ws.send(WsMsg::text(format!("from {from}"))).unwrap();
                command_loop(&mut ws);
            });
        }
    });
    addr
}

fn greeting(c: &wsdial::Conn) -> String {
    text(&c.read_timeout(ms(5000)).expect("the greeting"))
}

fn echo(c: &wsdial::Conn, what: &str) {
    assert_eq!(c.write(what), what.len());
    assert_eq!(text(&c.read_timeout(ms(5000)).expect("the echo")), what);
}

fn listening_v6(port: u16) -> bool {
    TcpStream::connect(("::1", port)).is_ok()
}

#[test]
fn a_websocket_url_with_an_ipv6_literal() {
    within(ms(20_000), || {
        let addr = ws_v6();
        assert!(addr.to_string().starts_with("[::1]:"));
        let c = wsdial::dial(&format!("ws://{addr}/path?q=1")).unwrap();
        assert!(greeting(&c).starts_with("from [::1]:"));
        echo(&c, "over ipv6");
    });
}

#[test]
fn wss_to_an_ipv6_literal_checks_the_certificate_against_it() {
    within(ms(20_000), || {
        let (cert, key) = (peer_path("cert.pem"), peer_path("key.pem"));
        let peer = Peer::python_ws(&[
            "--host",
            "::1",
            "--tls",
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
        ]);
        let url = format!("wss://[::1]:{}/v6", peer.port);
        // The certificate names ::1 (scripts/peers): trusted with `ca`.
        let c = wsdial::dial(&format!("{url}|ca={}", cert.display())).unwrap();
        let hello: serde_json::Value = serde_json::from_str(&greeting(&c)).unwrap();
        assert_eq!(hello["path"], "/v6");
        assert_eq!(
            hello["headers"]["host"],
            format!("[::1]:{}", peer.port),
            "the Host header brackets the address"
        );
        // Without it, the certificate is not trusted.
        let e = wsdial::dial(&format!("{url}|timeout=5000")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    });
}

#[test]
fn raw_tcp_and_udp_to_ipv6_literals() {
    within(ms(20_000), || {
        let l = TcpListener::bind("[::1]:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 256];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        });
        let c = wsdial::dial(&format!("tcp://[::1]:{port}")).unwrap();
        c.write("tcp6\n");
        let mut got = Vec::new();
        while got.len() < 5 {
            match c.read_timeout(ms(5000)).expect("the echo") {
                Event::Message(m) => got.extend_from_slice(m.as_bytes()),
                Event::Disconnected(d) => panic!("{d}"),
            }
        }
        assert_eq!(got, b"tcp6\n");

        let u = UdpSocket::bind("[::1]:0").unwrap();
        let port = u.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            if let Ok((n, from)) = u.recv_from(&mut buf) {
                let _ = u.send_to(&buf[..n], from);
            }
        });
        let c = wsdial::dial(&format!("udp://[::1]:{port}")).unwrap();
        c.write("udp6");
        match c.read_timeout(ms(5000)).expect("the echo") {
            Event::Message(m) => assert_eq!(m.as_bytes(), b"udp6"),
            Event::Disconnected(d) => panic!("{d}"),
        }
    });
}

#[test]
fn local_ip_takes_an_ipv6_address_with_or_without_brackets() {
    within(ms(20_000), || {
        let addr = ws_v6();
        for ip in ["::1", "[::1]"] {
            let o = wsdial::Address::parse(&format!("ws://{addr}/|local_ip={ip}"))
                .unwrap()
                .options();
            assert_eq!(o.local_ip, Some("::1".parse().unwrap()), "{ip}");
            let c = wsdial::dial(&format!("ws://{addr}/|local_ip={ip}")).unwrap();
            assert!(greeting(&c).starts_with("from [::1]:"), "{ip}");
        }
        // An IPv6 local address cannot reach an IPv4 target.
        let e = wsdial::dial("ws://127.0.0.1:1/|local_ip=[::1]").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
        assert!(e.to_string().contains("local_ip ::1"), "{e}");
        // Brackets around an IPv4 address, or an unclosed one, are refused.
        for bad in ["[127.0.0.1]", "[::1"] {
            let e = wsdial::Address::parse(&format!("ws://h/|local_ip={bad}")).unwrap_err();
            assert_eq!(e.key(), Some("local_ip"), "{bad}: {e}");
        }
    });
}

#[test]
fn a_socks5_proxy_at_an_ipv6_literal_to_an_ipv6_target() {
    within(ms(20_000), || {
        let target = ws_v6();
        let port = free_port();
        let _p = daemon(
            "microsocks",
            &["-i", "::1", "-p", &port.to_string()],
            || listening_v6(port),
        );
        for kind in ["socks5", "socks5h"] {
            let c = wsdial::dial(&format!("ws://{target}/|proxy={kind}://[::1]:{port}")).unwrap();
            assert!(greeting(&c).starts_with("from [::1]:"), "{kind}");
            echo(&c, kind);
        }
    });
}

#[test]
fn an_http_proxy_at_an_ipv6_literal_is_asked_for_a_bracketed_target() {
    within(ms(20_000), || {
        let target = ws_v6();
        // A one-shot HTTP CONNECT proxy on [::1] that reports the request line.
        let l = TcpListener::bind("[::1]:0").unwrap();
        let proxy = l.local_addr().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            tx.send(line.trim_end().to_owned()).unwrap();
            let up = TcpStream::connect(target).unwrap();
            let mut client = s;
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .unwrap();
            let (mut a, mut b) = (client.try_clone().unwrap(), up.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut a, &mut b));
            let (mut a, mut b) = (up, client);
            let _ = std::io::copy(&mut a, &mut b);
        });
        let c = wsdial::dial(&format!("ws://{target}/|proxy=http://{proxy}")).unwrap();
        assert_eq!(
            rx.recv_timeout(ms(5000)).unwrap(),
            format!("CONNECT {target} HTTP/1.1")
        );
        assert!(greeting(&c).starts_with("from [::1]:"));
        echo(&c, "through an ipv6 http proxy");
    });
}
