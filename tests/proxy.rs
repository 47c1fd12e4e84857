//! Through real proxies from Debian: microsocks (SOCKS5 with user/password) and
//! tinyproxy (HTTP CONNECT with Basic auth), to plain and TLS WebSocket servers.
mod common;
#[path = "common/peers.rs"]
mod peers;
use common::*;
use peers::*;
use std::time::Instant;
use wsdial::ErrorKind;

const USER: &str = "alice";
/// microsocks' password has an `@`, written percent-encoded in addresses (`s3cr%40t`).
const PASS: &str = "s3cr@t";
/// tinyproxy's config grammar does not allow `@` in a password.
const HTTP_PASS: &str = "pa-ss.w_rd";

fn microsocks() -> (Proc, u16) {
    let port = free_port();
    let args = [
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-u",
        USER,
        "-P",
        PASS,
    ]
    .map(str::to_owned);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (daemon("microsocks", &args, || listening(port)), port)
}

fn tinyproxy() -> (Proc, u16, std::path::PathBuf) {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("wsdial-tinyproxy-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("tinyproxy.log");
    let conf = dir.join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 600\nLogFile \"{}\"\nLogLevel Info\nMaxClients 100\nAllow 127.0.0.1\nBasicAuth {USER} {HTTP_PASS}\nDisableViaHeader Yes\n",
            log.display()
        ),
    )
    .unwrap();
    let p = daemon("tinyproxy", &["-d", "-c", conf.to_str().unwrap()], || {
        listening(port)
    });
    (p, port, log)
}

fn creds() -> String {
    format!("{USER}:s3cr%40t")
}

/// Dials a plain and a TLS WebSocket server through `proxy` (an option string)
/// and echoes a message over each.
fn plain_and_tls_through(proxy: &str, ws: &Server, wss: &Peer, cert: &std::path::Path) {
    let c = wsdial::dial(&format!("ws://{}/|{proxy}", ws.addr)).unwrap();
    echo_through(&c);
    // TLS through the tunnel; for socks5 `localhost` is resolved here, for socks5h by the proxy.
    let c = wsdial::dial(&format!(
        "wss://localhost:{}/|{proxy}&ca={}",
        wss.port,
        cert.display()
    ))
    .unwrap();
    echo_through(&c);
}

fn echo_through(c: &wsdial::Conn) {
    assert_eq!(c.write("through the proxy"), 17);
    loop {
        let t = text(&c.read_timeout(ms(5000)).expect("echo"));
        if t == "through the proxy" {
            return;
        }
        // the Python server greets with a hello first
        assert!(t.contains("hello"), "{t}");
    }
}

#[test]
fn socks5_and_socks5h_with_password_to_plain_and_tls() {
    within(ms(30_000), || {
        let (_proxy, pport) = microsocks();
        let ws = command_server();
        let (wss, cert) = Peer::python_wss();
        for scheme in ["socks5", "socks5h"] {
            let proxy = format!("proxy={scheme}://{}@127.0.0.1:{pport}", creds());
            plain_and_tls_through(&proxy, &ws, &wss, &cert);
        }
    });
}

#[test]
fn socks5_failures_say_what_happened() {
    within(ms(30_000), || {
        let (_proxy, pport) = microsocks();
        let ws = command_server();
        let target = format!("ws://{}/", ws.addr);

        let e = wsdial::dial(&format!(
            "{target}|proxy=socks5://{USER}:wrong@127.0.0.1:{pport}"
        ))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");
        assert!(
            e.to_string().contains("rejected the user name or password"),
            "{e}"
        );

        let e = wsdial::dial(&format!("{target}|proxy=socks5://127.0.0.1:{pport}")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");
        assert!(
            e.to_string().contains("requires a user name and password"),
            "{e}"
        );

        let down = free_port();
        let t = Instant::now();
        let e = wsdial::dial(&format!(
            "{target}|proxy=socks5://{}@127.0.0.1:{down}",
            creds()
        ))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");
        assert!(e.to_string().contains("is down"), "{e}");
        assert!(t.elapsed() < ms(2000));
        assert_eq!(
            ws.accepted.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "never connected directly"
        );
    });
}

#[test]
fn http_connect_with_basic_auth_to_plain_and_tls() {
    within(ms(30_000), || {
        let (_proxy, pport, log) = tinyproxy();
        let ws = command_server();
        let (wss, cert) = Peer::python_wss();
        let proxy = format!("proxy=http://{USER}:{HTTP_PASS}@127.0.0.1:{pport}");
        plain_and_tls_through(&proxy, &ws, &wss, &cert);
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            logged.contains("CONNECT"),
            "the proxy saw the tunnels: {logged}"
        );

        // tinyproxy answers 401 where the standard says 407; both mean the same here.
        let auth_status = |e: &wsdial::Error| matches!(e.http_status(), Some(401 | 407));
        let e =
            wsdial::dial(&format!("ws://{}/|proxy=http://127.0.0.1:{pport}", ws.addr)).unwrap_err();
        assert!(e.kind() == ErrorKind::Proxy && auth_status(&e), "{e}");
        assert!(
            e.to_string().contains("requires a user name and password"),
            "{e}"
        );
        let e = wsdial::dial(&format!(
            "ws://{}/|proxy=http://{USER}:nope@127.0.0.1:{pport}",
            ws.addr
        ))
        .unwrap_err();
        assert!(e.kind() == ErrorKind::Proxy && auth_status(&e), "{e}");
        assert!(
            e.to_string().contains("rejected the user name or password"),
            "{e}"
        );
        let down = free_port();
        let e =
            wsdial::dial(&format!("ws://{}/|proxy=http://127.0.0.1:{down}", ws.addr)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");
        assert!(e.to_string().contains("is down"), "{e}");
    });
}

#[test]
fn a_proxy_that_never_answers_fails_at_the_deadline() {
    within(ms(15_000), || {
        let (_silent, addr) = silent_listener();
        for scheme in ["socks5", "socks5h", "http"] {
            let t = Instant::now();
            let e = wsdial::dial(&format!(
                "ws://127.0.0.1:9/|proxy={scheme}://{}@{addr}&timeout=300",
                creds()
            ))
            .unwrap_err();
            let took = t.elapsed();
            assert_eq!(e.kind(), ErrorKind::Proxy, "{scheme}: {e}");
            assert!(e.is_timeout(), "{scheme}: {e}");
            assert!(
                took >= ms(290) && took < ms(1800),
                "{scheme}: failed after {took:?}"
            );
        }
    });
}

#[test]
fn local_ip_with_a_proxy_is_refused() {
    let e = wsdial::dial("ws://127.0.0.1:9/|proxy=socks5://127.0.0.1:1080&local_ip=127.0.0.1")
        .unwrap_err();
    assert_eq!((e.kind(), e.key()), (ErrorKind::Address, Some("local_ip")));
}

/// permessage-deflate through both proxies, to the Python server over TLS:
/// agreed (the server says so), and a large message compressed both ways.
#[cfg(feature = "permessage-deflate")]
#[test]
fn permessage_deflate_through_socks5_and_http_proxies() {
    within(ms(30_000), || {
        let (_socks, socks_port) = microsocks();
        let (_http, http_port, _log) = tinyproxy();
        let (wss, cert) = Peer::python_wss();
        let body = r#"{"ch":"market.btcusdt.depth","bids":[[37000.5,1.25]]}"#.repeat(20_000);
        for proxy in [
            format!("proxy=socks5h://{}@127.0.0.1:{socks_port}", creds()),
            format!("proxy=http://{USER}:{HTTP_PASS}@127.0.0.1:{http_port}"),
        ] {
            let c = wsdial::dial(&format!(
                "wss://localhost:{}/|{proxy}&ca={}&enableCompression=true",
                wss.port,
                cert.display()
            ))
            .unwrap();
            let hello: serde_json::Value =
                serde_json::from_str(&text(&c.read_timeout(ms(5000)).unwrap())).unwrap();
            let agreed = hello["extensions"].as_str().unwrap_or_default();
            assert!(agreed.starts_with("permessage-deflate"), "{proxy}: {hello}");
            c.write(&body);
            assert_eq!(text(&c.read_timeout(ms(10_000)).unwrap()), body, "{proxy}");
            c.write("?stats");
            let stats: serde_json::Value =
                serde_json::from_str(&text(&c.read_timeout(ms(5000)).unwrap())).unwrap();
            assert_eq!(stats["compressed_in"], 2, "{proxy}: {stats}");
        }
    });
}
