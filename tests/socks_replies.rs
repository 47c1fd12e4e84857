//! SOCKS5 refusals are told from the proxy's bytes: scripted proxies on
//! 127.0.0.1:0 answer the handshake by hand (no third-party proxy needed).
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Instant;
use wsdial::ErrorKind;

/// What the scripted proxy does after reading the greeting.
#[derive(Clone, Copy)]
enum Script {
    /// Chooses this method byte and stops there.
    Method(u8),
    /// Chooses user/password, answers this RFC 1929 status, stops there
    /// unless it is 0 (then replies `code` to the CONNECT).
    Auth(u8, u8),
    /// Chooses no authentication and replies `code` to the CONNECT; on 0,
    /// becomes the WebSocket server itself (the tunnel's far end).
    Connect(u8),
    /// Closes the connection after the greeting.
    Hangup,
}

/// Reads the SOCKS5 request (after the method choice): command and target.
fn read_connect(tcp: &mut TcpStream) -> Vec<u8> {
    let mut head = [0u8; 4];
    tcp.read_exact(&mut head).unwrap();
    let len = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut n = [0u8; 1];
            tcp.read_exact(&mut n).unwrap();
            n[0] as usize
        }
        t => panic!("address type {t}"),
    };
    let mut addr = vec![0u8; len + 2];
    tcp.read_exact(&mut addr).unwrap();
    addr
}

/// A scripted SOCKS5 proxy; it sends every CONNECT target it is asked for
/// (address bytes and port) to the receiver.
fn socks(script: Script) -> (Server, mpsc::Receiver<Vec<u8>>) {
    let (tx, rx) = mpsc::channel();
    let srv = Server::raw(move |mut tcp, _| {
        let mut greeting = [0u8; 2];
        if tcp.read_exact(&mut greeting).is_err() {
            return;
        }
        let mut methods = vec![0u8; greeting[1] as usize];
        tcp.read_exact(&mut methods).unwrap();
        let connect = |tcp: &mut TcpStream, code: u8| {
            let _ = tx.send(read_connect(tcp));
            // the bound address as a name, to read a reply of that type
            let mut reply = vec![5, code, 0, 3, 5];
            reply.extend_from_slice(b"proxy\x1f\x90");
            tcp.write_all(&reply).unwrap();
        };
        match script {
            Script::Method(m) => tcp.write_all(&[5, m]).unwrap(),
            Script::Hangup => return,
            Script::Auth(status, code) => {
                tcp.write_all(&[5, 2]).unwrap();
                let mut v = [0u8; 2];
                tcp.read_exact(&mut v).unwrap();
                let mut user = vec![0u8; v[1] as usize + 1];
                tcp.read_exact(&mut user).unwrap();
                let mut pass = vec![0u8; user[user.len() - 1] as usize];
                tcp.read_exact(&mut pass).unwrap();
                tcp.write_all(&[1, status]).unwrap();
                if status == 0 {
                    connect(&mut tcp, code);
                }
            }
            Script::Connect(code) => {
                tcp.write_all(&[5, 0]).unwrap();
                connect(&mut tcp, code);
                if code == 0 {
                    if let Ok(mut ws) = tungstenite::accept(tcp) {
                        command_loop(&mut ws);
                    }
                    return;
                }
            }
        }
        // hold the connection until the client drops it
        let _ = tcp.set_read_timeout(Some(ms(3000)));
        let _ = tcp.read(&mut [0u8; 16]);
    });
    (srv, rx)
}

fn dial_through(proxy: &Server, scheme: &str, creds: &str, target: &str) -> wsdial::Error {
    let t = Instant::now();
    let e = wsdial::dial(&format!(
        "ws://{target}/|proxy={scheme}://{creds}{}&timeout=3000",
        proxy.addr
    ))
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");
    assert!(!e.is_timeout(), "{e}");
    assert!(
        t.elapsed() < ms(2500),
        "refused at once, not at the deadline"
    );
    e
}

#[test]
fn a_tunnel_through_a_scripted_proxy_carries_the_websocket() {
    within(ms(10_000), || {
        // The proxy's reply is read exactly: the WebSocket handshake that
        // follows on the same socket is the target's.
        let (proxy, targets) = socks(Script::Connect(0));
        let c = wsdial::dial(&format!(
            "ws://target.invalid:8080/|proxy=socks5h://{}&timeout=3000",
            proxy.addr
        ))
        .unwrap();
        assert_eq!(c.write("through"), 7);
        assert_eq!(text(&c.read_timeout(ms(5000)).expect("echo")), "through");
        let mut want = b"target.invalid".to_vec();
        want.extend_from_slice(&8080u16.to_be_bytes());
        assert_eq!(
            targets.recv_timeout(ms(1000)).unwrap(),
            want,
            "socks5h sends the name"
        );
    });
}

#[test]
fn connect_reply_codes_name_the_target_and_the_reason() {
    within(ms(10_000), || {
        for (code, says) in [
            (1, "general SOCKS server failure"),
            (2, "connection not allowed by its rules"),
            (4, "host unreachable"),
            (5, "connection refused by the target"),
            (0x2a, "unknown reply code"),
        ] {
            let (proxy, _) = socks(Script::Connect(code));
            let e = dial_through(&proxy, "socks5", "", "127.0.0.1:9");
            let want = format!("could not connect to 127.0.0.1:9: {says} (reply {code})");
            assert!(e.to_string().contains(&want), "{e}");
        }
    });
}

#[test]
fn credentials_missing_rejected_or_not_wanted() {
    within(ms(10_000), || {
        let (proxy, _) = socks(Script::Method(0xff));
        let e = dial_through(&proxy, "socks5", "", "127.0.0.1:9");
        assert!(
            e.to_string()
                .contains("requires a user name and password, and the address has none"),
            "{e}"
        );
        let e = dial_through(&proxy, "socks5", "u:p@", "127.0.0.1:9");
        assert!(
            e.to_string()
                .contains("accepts none of the offered authentication methods"),
            "{e}"
        );

        let (proxy, _) = socks(Script::Auth(1, 0));
        let e = dial_through(&proxy, "socks5", "u:p@", "127.0.0.1:9");
        assert!(
            e.to_string().contains("rejected the user name or password"),
            "{e}"
        );
        // accepted credentials, then the target is unreachable
        let (proxy, _) = socks(Script::Auth(0, 3));
        let e = dial_through(&proxy, "socks5", "u:p@", "127.0.0.1:9");
        assert!(
            e.to_string().contains("network unreachable (reply 3)"),
            "{e}"
        );
    });
}

#[test]
fn a_reply_that_is_not_socks5_or_a_hangup_says_so() {
    within(ms(10_000), || {
        // an SSH server (it speaks first) taken for a SOCKS5 proxy
        let ssh = Server::raw(|mut tcp, _| {
            let _ = tcp.write_all(b"SSH-2.0-OpenSSH_9.6\r\n");
            let _ = tcp.set_read_timeout(Some(ms(3000)));
            let _ = tcp.read(&mut [0u8; 16]);
        });
        let e = dial_through(&ssh, "socks5", "", "127.0.0.1:9");
        assert!(
            e.to_string()
                .contains("sent a reply that is not SOCKS5 (method reply version 0x53)"),
            "{e}"
        );
        // a method it was not offered
        let (proxy, _) = socks(Script::Method(0x03));
        let e = dial_through(&proxy, "socks5", "", "127.0.0.1:9");
        assert!(
            e.to_string()
                .contains("not SOCKS5 (method not offered 0x03)"),
            "{e}"
        );

        let (proxy, _) = socks(Script::Hangup);
        let e = dial_through(&proxy, "socks5", "", "127.0.0.1:9");
        assert!(
            e.to_string()
                .contains("closed the connection before the tunnel was open"),
            "{e}"
        );
    });
}

#[test]
fn a_proxy_that_is_down_says_so_at_once() {
    within(ms(10_000), || {
        let down = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        for scheme in ["socks5", "socks5h", "http"] {
            let t = Instant::now();
            let e = wsdial::dial(&format!(
                "ws://127.0.0.1:9/|proxy={scheme}://{down}&timeout=3000"
            ))
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");
            assert!(!e.is_timeout(), "{e}");
            assert!(e.to_string().contains("is down"), "{e}");
            assert!(t.elapsed() < ms(1000), "{scheme}: took {:?}", t.elapsed());
        }
    });
}

#[test]
fn a_host_name_too_long_for_socks5h_is_refused_before_dialing() {
    within(ms(10_000), || {
        let (proxy, _) = socks(Script::Connect(0));
        let host = format!("{}test", format!("{}.", "a".repeat(60)).repeat(5));
        let e = wsdial::dial(&format!("ws://{host}/|proxy=socks5h://{}", proxy.addr)).unwrap_err();
        assert_eq!(
            (e.kind(), e.key()),
            (ErrorKind::Address, Some("proxy")),
            "{e}"
        );
        assert!(e.to_string().contains("at most 255"), "{e}");
        assert_eq!(proxy.accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
    });
}
