//! Client certificates (`cert=` and `key=`): accepted by a server that
//! requires them (the Python `websockets` server with `ssl.CERT_REQUIRED`, and
//! socat for `tls://`), a missing or untrusted one refused, and a bad or
//! unreadable file a dial error that names it.
mod common;
#[path = "common/peers.rs"]
mod peers;
use common::*;
use peers::*;
use std::path::PathBuf;
use wsdial::{ErrorKind, Event};

/// The Python server over TLS, requiring a client certificate signed by the
/// test client CA; and the server certificate to trust.
fn python_requiring_a_client_cert() -> (Peer, PathBuf) {
    let (cert, key) = (peer_path("cert.pem"), peer_path("key.pem"));
    let ca = peer_path("client-ca.pem");
    let peer = Peer::python_ws(&[
        "--tls",
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        "--client-ca",
        ca.to_str().unwrap(),
    ]);
    (peer, cert)
}

fn identity(cert: &str, key: &str) -> String {
    format!(
        "cert={}&key={}",
        peer_path(cert).display(),
        peer_path(key).display()
    )
}

fn hello(c: &wsdial::Conn) -> serde_json::Value {
    match c.read_timeout(ms(5000)).expect("the hello") {
        Event::Message(m) => serde_json::from_str(m.as_text().unwrap()).unwrap(),
        Event::Disconnected(d) => panic!("lost before the hello: {d}"),
    }
}

#[test]
fn a_server_that_requires_a_client_certificate_accepts_it() {
    within(ms(20_000), || {
        let (peer, server_cert) = python_requiring_a_client_cert();
        let url = format!(
            "wss://localhost:{}/|ca={}&{}",
            peer.port,
            server_cert.display(),
            identity("client.pem", "client-key.pem")
        );
        let c = wsdial::dial(&url).unwrap();
        let h = hello(&c);
        assert_eq!(h["client_cn"], "wsdial-test-client", "{h}");
        c.write("signed");
        match c.read_timeout(ms(5000)) {
            Some(Event::Message(m)) => assert_eq!(m.as_text(), Some("signed")),
            e => panic!("{e:?}"),
        }
        // The builder says the same.
        let c = wsdial::Dialer::new()
            .ca(&server_cert)
            .cert(peer_path("client.pem"))
            .key(peer_path("client-key.pem"))
            .dial(&format!("wss://localhost:{}/", peer.port))
            .unwrap();
        assert_eq!(hello(&c)["client_cn"], "wsdial-test-client");
    });
}

/// The dial fails: in the TLS handshake, or (TLS 1.3 checks the client's
/// certificate after the client's part of it) when the server closes the
/// connection instead of answering the upgrade, which the error explains.
fn refused(url: &str) {
    match wsdial::dial(url) {
        Err(e) if e.kind() == ErrorKind::Tls => {}
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Handshake, "{url}: {e}");
            assert!(e.to_string().contains("client certificate"), "{url}: {e}");
        }
        Ok(c) => panic!(
            "{url}: the server let the client in: {:?}",
            c.read_timeout(ms(2000))
        ),
    }
}

#[test]
fn a_missing_or_untrusted_client_certificate_is_refused() {
    within(ms(20_000), || {
        let (peer, server_cert) = python_requiring_a_client_cert();
        let base = format!(
            "wss://localhost:{}/|ca={}",
            peer.port,
            server_cert.display()
        );
        refused(&base);
        refused(&format!(
            "{base}&{}",
            identity("client-other.pem", "client-other-key.pem")
        ));
    });
}

#[test]
fn raw_tls_presents_the_certificate_too() {
    within(ms(20_000), || {
        let (cert, key) = (peer_path("cert.pem"), peer_path("key.pem"));
        let ca = peer_path("client-ca.pem");
        let port = free_port();
        let _p = socat(
            &[
                &format!(
                    "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},key={},cafile={},verify=1",
                    cert.display(),
                    key.display(),
                    ca.display()
                ),
                "EXEC:cat",
            ],
            || listening(port),
        );
        let base = format!("tls://localhost:{port}|ca={}", cert.display());
        let c = wsdial::dial(&format!(
            "{base}&{}",
            identity("client.pem", "client-key.pem")
        ))
        .unwrap();
        c.write("with a client certificate\n");
        let mut got = Vec::new();
        while got.len() < 26 {
            match c.read_timeout(ms(5000)).expect("the echo") {
                Event::Message(m) => got.extend_from_slice(m.as_bytes()),
                Event::Disconnected(d) => panic!("{d}"),
            }
        }
        assert_eq!(got, b"with a client certificate\n");
        // Without one, socat ends the connection: a dial error, or (TLS 1.3)
        // a loss before anything is echoed.
        match wsdial::dial(&base) {
            Err(e) => assert_eq!(e.kind(), ErrorKind::Tls, "{e}"),
            Ok(c) => {
                c.write("x\n");
                match c.read_timeout(ms(5000)) {
                    Some(Event::Disconnected(_)) => {}
                    e => panic!("socat talked to a client without a certificate: {e:?}"),
                }
            }
        }
    });
}

#[test]
fn bad_files_are_dial_errors_that_name_them() {
    let dir = std::env::temp_dir().join(format!("wsdial-client-cert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let missing = dir.join("missing.pem");
    let cert = peer_path("client.pem");
    let key = peer_path("client-key.pem");
    let cases = [
        (
            missing.clone(),
            key.clone(),
            "read cert file",
            missing.clone(),
        ),
        (
            cert.clone(),
            missing.clone(),
            "read key file",
            missing.clone(),
        ),
        (
            not_pem.clone(),
            key.clone(),
            "no certificate found",
            not_pem.clone(),
        ),
        (cert.clone(), not_pem.clone(), "PKCS#8", not_pem.clone()),
        (
            cert.clone(),
            peer_path("client-key-rsa.pem"),
            "an RSA key in the traditional form",
            peer_path("client-key-rsa.pem"),
        ),
        // a key that is not the certificate's
        (
            cert.clone(),
            peer_path("client-other-key.pem"),
            "set up TLS with cert",
            peer_path("client-other-key.pem"),
        ),
    ];
    for (c, k, says, named) in cases {
        // Nothing listens on port 1: the files are read before any dial.
        let url = format!(
            "wss://127.0.0.1:1/|cert={}&key={}",
            c.display(),
            k.display()
        );
        let e = wsdial::dial(&url).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls, "{url}: {e}");
        let m = e.to_string();
        assert!(m.contains(says), "{url}: `{m}` lacks `{says}`");
        assert!(
            m.contains(&named.display().to_string()),
            "{url}: `{m}` does not name the file"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cert_and_key_go_together_and_only_with_tls() {
    let e = wsdial::dial("wss://127.0.0.1:1/|cert=/tmp/c.pem").unwrap_err();
    assert_eq!(
        (e.kind(), e.key()),
        (ErrorKind::Address, Some("cert")),
        "{e}"
    );
    let e = wsdial::dial("tls://127.0.0.1:1|key=/tmp/k.pem").unwrap_err();
    assert_eq!(e.key(), Some("key"), "{e}");
    for url in [
        "ws://127.0.0.1:1/|cert=/tmp/c.pem&key=/tmp/k.pem",
        "tcp://127.0.0.1:1|cert=/tmp/c.pem&key=/tmp/k.pem",
    ] {
        let e = wsdial::dial(url).unwrap_err();
        assert_eq!(e.key(), Some("cert"), "{url}: {e}");
        assert!(
            e.to_string().contains("applies to wss:// and tls://"),
            "{e}"
        );
    }
}
