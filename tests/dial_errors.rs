//! A failed dial says which phase failed, and a silent peer fails at the deadline.
mod common;
use common::*;
use std::sync::atomic::Ordering;
use std::time::Instant;
use wsdial::ErrorKind;

#[test]
fn closed_port_fails_fast_in_the_tcp_phase() {
    within(ms(10_000), || {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = Instant::now();
        let e = wsdial::dial(&format!("ws://127.0.0.1:{port}/")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
        assert!(!e.is_timeout());
        assert!(
            e.to_string().starts_with("tcp failed: connect 127.0.0.1:"),
            "{e}"
        );
        assert!(
            t.elapsed() < ms(1000),
            "refused fast, took {:?}",
            t.elapsed()
        );
    });
}

#[test]
fn silent_listener_fails_at_the_deadline() {
    within(ms(10_000), || {
        let (_l, addr) = silent_listener(); // accepts (backlog) and never answers
        for (url, kind) in [
            (format!("ws://{addr}/|timeout=300"), ErrorKind::Handshake),
            (format!("wss://{addr}/|timeout=300"), ErrorKind::Tls),
        ] {
            let t = Instant::now();
            let e = wsdial::dial(&url).unwrap_err();
            let took = t.elapsed();
            assert_eq!(e.kind(), kind, "{url}: {e}");
            assert!(e.is_timeout(), "{url}: {e}");
            assert!(
                took >= ms(290),
                "{url}: failed before the deadline ({took:?})"
            );
            assert!(
                took < ms(1800),
                "{url}: failed long after the deadline ({took:?})"
            );
        }
    });
}

#[test]
fn dial_timeout_sets_the_deadline_and_the_string_wins() {
    within(ms(10_000), || {
        let (_l, addr) = silent_listener();
        let t = Instant::now();
        let e = wsdial::dial_timeout(&format!("ws://{addr}/"), ms(200)).unwrap_err();
        assert!(
            e.is_timeout() && t.elapsed() < ms(1500),
            "{e} after {:?}",
            t.elapsed()
        );
        let t = Instant::now();
        let e = wsdial::Dialer::new()
            .timeout(ms(5000))
            .dial(&format!("ws://{addr}/|timeout=200"))
            .unwrap_err();
        assert!(
            e.is_timeout() && t.elapsed() < ms(1500),
            "string's timeout=200 wins: {:?}",
            t.elapsed()
        );
    });
}

#[test]
fn http_answers_name_the_status() {
    within(ms(10_000), || {
        let cases = [
            (b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nno route!".as_slice(), 404),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi".as_slice(), 200),
            (b"HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n".as_slice(), 301),
        ];
        for (resp, status) in cases {
            let srv = http_answer(resp);
            let e = wsdial::dial(&srv.url("/|timeout=3000")).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Handshake, "{e}");
            assert_eq!(e.http_status(), Some(status), "{e}");
            assert!(e.to_string().contains(&format!("HTTP {status}")), "{e}");
        }
    });
}

/// A password in a WebSocket URL's user info is written `***` in the errors
/// and the `Debug` of a `Conn`, never shown.
#[test]
fn a_password_in_a_websocket_url_is_never_shown() {
    within(ms(10_000), || {
        let with_password = |url: String| url.replacen("ws://", "ws://alice:s3cret@", 1);
        let srv = http_answer(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        let e = wsdial::dial(&with_password(srv.url("/|timeout=3000"))).unwrap_err();
        assert_eq!(e.http_status(), Some(403), "{e}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(e.to_string().contains("alice:***@"), "{e}");

        let srv = Server::ws(|mut ws, _| {
            let _ = ws.read();
        });
        let c = wsdial::dial(&with_password(srv.url("/"))).unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("alice:***@"),
            "{shown}"
        );
        assert!(c.url().contains("s3cret"), "url() is what it dials");
    });
}

#[test]
fn tls_to_a_plain_server_is_a_tls_error() {
    within(ms(10_000), || {
        let srv = command_server();
        let e = wsdial::dial(&format!("wss://{}/|timeout=3000", srv.addr)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
        assert!(!e.is_timeout(), "{e}");
    });
}

#[test]
fn bad_input_is_refused_before_any_connection() {
    within(ms(10_000), || {
        let srv = command_server();
        let cases = [
            (srv.url("/|compres=gzip"), ErrorKind::Address),
            (srv.url("/|deflate_writes=false"), ErrorKind::Address),
            (
                format!("tcp://{}|compress=gzip", srv.addr),
                ErrorKind::Address,
            ),
            (format!("tcp://{}|protocol=x", srv.addr), ErrorKind::Address),
            (format!("tcp://{}|ping=1000", srv.addr), ErrorKind::Address),
            (
                format!("ws://{}/|insecure=true", srv.addr),
                ErrorKind::Address,
            ),
            (
                format!("ws://{}/|ping=0&ping_msg=ping", srv.addr),
                ErrorKind::Address,
            ),
            (
                "unix:///tmp/x.sock|proxy=socks5://127.0.0.1:1".to_string(),
                ErrorKind::Address,
            ),
            (format!("http://{}/", srv.addr), ErrorKind::Address),
        ];
        for (url, kind) in cases {
            let e = wsdial::dial(&url).unwrap_err();
            assert_eq!(e.kind(), kind, "{url}: {e}");
        }
        assert_eq!(srv.accepted.load(Ordering::SeqCst), 0, "nothing was dialed");
    });
}

#[test]
fn error_messages_do_not_leak_the_proxy_password() {
    let e = wsdial::Address::parse("ws://h/|proxy=socks5://u:hunter2@127.0.0.1:1").unwrap();
    let shown = format!("{:?}", e.options().proxy.unwrap());
    assert!(!shown.contains("hunter2"), "{shown}");
}
