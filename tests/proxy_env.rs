//! `proxy=env`: the proxy the environment names, as curl reads it, and only
//! when asked. One test function: the environment is the process's.
mod common;
#[path = "common/peers.rs"]
mod peers;
use common::*;
use peers::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use wsdial::ErrorKind;

/// An HTTP CONNECT proxy on 127.0.0.1 that records each request line.
fn connect_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                log.lock().unwrap().push(line.trim_end().to_owned());
                let target = line.split(' ').nth(1).unwrap_or("").to_owned();
                let Ok(up) = TcpStream::connect(target) else {
                    return;
                };
                let mut client = s;
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .is_err()
                {
                    return;
                }
                let (mut a, mut b) = (client.try_clone().unwrap(), up.try_clone().unwrap());
                std::thread::spawn(move || std::io::copy(&mut a, &mut b));
                let (mut a, mut b) = (up, client);
                let _ = std::io::copy(&mut a, &mut b);
            });
        }
    });
    (port, seen)
}

fn echo(c: &wsdial::Conn, what: &str) {
    assert_eq!(c.write(what), what.len());
    loop {
        // The Python server says hello first.
        if text(&c.read_timeout(ms(5000)).expect("the echo")) == what {
            return;
        }
    }
}

const VARS: [&str; 12] = [
    "ws_proxy",
    "WS_PROXY",
    "wss_proxy",
    "WSS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

#[test]
fn the_environments_proxy_is_used_when_asked_and_only_then() {
    within(ms(30_000), || {
        for v in VARS {
            std::env::remove_var(v);
        }
        let (port, seen) = connect_proxy();
        let srv = command_server();
        let count = || seen.lock().unwrap().len();

        // ws:// reads http_proxy.
        std::env::set_var("http_proxy", format!("http://127.0.0.1:{port}"));
        let c = wsdial::dial(&srv.url("/|proxy=env")).unwrap();
        echo(&c, "via env");
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            [format!("CONNECT {} HTTP/1.1", srv.addr)]
        );
        // `wsdial parse` shows what was written.
        let o = wsdial::Address::parse(&srv.url("/|proxy=env"))
            .unwrap()
            .options();
        assert!(o.proxy_from_env && o.proxy.is_none());

        // Without the option, the environment routes nothing.
        let c = wsdial::dial(&srv.url("/")).unwrap();
        echo(&c, "direct");
        assert_eq!(count(), 1, "the proxy saw no new connection");

        // NO_PROXY lists the host (as a network): direct.
        std::env::set_var("NO_PROXY", "localhost, 127.0.0.0/8");
        let c = wsdial::dial(&srv.url("/|proxy=env")).unwrap();
        echo(&c, "bypassed");
        assert_eq!(count(), 1, "no_proxy was obeyed");
        std::env::remove_var("NO_PROXY");

        // wss:// reads HTTPS_PROXY; a value without a scheme is an HTTP proxy.
        let (wss, cert) = Peer::python_wss();
        std::env::set_var("HTTPS_PROXY", format!("127.0.0.1:{port}"));
        let c = wsdial::dial(&format!(
            "wss://localhost:{}/|proxy=env&ca={}",
            wss.port,
            cert.display()
        ))
        .unwrap();
        echo(&c, "wss via env");
        assert_eq!(
            seen.lock().unwrap().last().unwrap(),
            &format!("CONNECT localhost:{} HTTP/1.1", wss.port)
        );

        // A proxy wsdial does not speak is an error naming the variable.
        std::env::set_var("ALL_PROXY", "socks4://127.0.0.1:1");
        let e = wsdial::dial("tcp://127.0.0.1:1|proxy=env").unwrap_err();
        assert_eq!(
            (e.kind(), e.key()),
            (ErrorKind::Address, Some("proxy")),
            "{e}"
        );
        assert!(e.to_string().contains("ALL_PROXY"), "{e}");
        // With the Dialer, the same.
        let e = wsdial::Dialer::new()
            .proxy_from_env()
            .dial("tcp://127.0.0.1:1")
            .unwrap_err();
        assert!(e.to_string().contains("ALL_PROXY"), "{e}");

        // Never for schemes a proxy does not apply to.
        let e = wsdial::dial("udp://127.0.0.1:1|proxy=env").unwrap_err();
        assert_eq!(e.key(), Some("proxy"), "{e}");
        for v in VARS {
            std::env::remove_var(v);
        }
    });
}
