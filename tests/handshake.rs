//! Handshake options reach the server: headers (string and builder), subprotocols.
#![allow(clippy::result_large_err)] // tungstenite's callback signature
mod common;
use common::*;
use std::sync::mpsc;
use tungstenite::handshake::server::{Request, Response};

type Seen = (Vec<(String, String)>, Option<String>);

fn inspecting_server(agree: Option<&'static str>) -> (Server, mpsc::Receiver<Seen>) {
    let (tx, rx) = mpsc::channel();
    let srv = Server::raw(move |tcp, _| {
        let tx = tx.clone();
        let cb = move |req: &Request, mut resp: Response| {
            let headers = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let proto = req
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_owned());
            tx.send((headers, proto)).unwrap();
            if let Some(p) = agree {
                resp.headers_mut()
                    .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
            }
            Ok(resp)
        };
        if let Ok(mut ws) = tungstenite::accept_hdr(tcp, cb) {
            until_closed(&mut ws);
        }
    });
    (srv, rx)
}

#[test]
fn headers_from_string_and_builder_combine_string_wins() {
    within(ms(10_000), || {
        let (srv, rx) = inspecting_server(None);
        let c = wsdial::Dialer::new()
            .header("X-Api-Key", "from-builder")
            .header("X-Builder-Only", "yes")
            .dial(&srv.url("/path?token=abc|header=x-api-key: from-string&header=X-Sig: a=b+c/d"))
            .unwrap();
        let (headers, _) = rx.recv_timeout(ms(5000)).unwrap();
        let get = |n: &str| {
            headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("x-api-key"), ["from-string"]);
        assert_eq!(get("x-builder-only"), ["yes"]);
        assert_eq!(get("x-sig"), ["a=b+c/d"]);
        drop(c);
    });
}

#[test]
fn subprotocol_offered_and_agreed() {
    within(ms(10_000), || {
        let (srv, rx) = inspecting_server(Some("zigquant-v2"));
        let c = wsdial::dial(&srv.url("/ws?token=jwt|protocol=zigquant-v2,json")).unwrap();
        let (_, proto) = rx.recv_timeout(ms(5000)).unwrap();
        assert_eq!(proto.as_deref(), Some("zigquant-v2, json"));
        assert_eq!(c.protocol().as_deref(), Some("zigquant-v2"));
    });
}

#[test]
fn server_that_refuses_every_offered_subprotocol_fails_the_dial() {
    within(ms(10_000), || {
        let (srv, _rx) = inspecting_server(Some("other"));
        let e = wsdial::dial(&srv.url("/|protocol=mine")).unwrap_err();
        assert_eq!(e.kind(), wsdial::ErrorKind::Handshake, "{e}");
    });
}
