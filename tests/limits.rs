//! maxsize= and local_ip= on the wire.
mod common;
use common::*;
use std::sync::mpsc;
use wsdial::{Cause, Event};

#[test]
fn a_message_over_maxsize_is_a_clear_disconnect_not_a_crash() {
    within(ms(10_000), || {
        let srv = Server::ws(|mut ws, _| {
            ws.send(WsMsg::text("small")).unwrap();
            ws.send(WsMsg::text("x".repeat(2000))).unwrap();
            until_closed(&mut ws);
        });
        let c = wsdial::dial(&srv.url("/|maxsize=1000")).unwrap();
        assert_eq!(text(&c.read()), "small");
        match c.read() {
            Event::Disconnected(d) => {
                assert_eq!(d.cause(), Cause::Protocol, "{d}");
                assert!(d.detail().contains("maxsize"), "{d}");
            }
            e => panic!("{e:?}"),
        }
    });
}

#[test]
fn local_ip_binds_the_local_end() {
    within(ms(10_000), || {
        let (tx, rx) = mpsc::channel();
        let srv = Server::raw(move |tcp, _| {
            tx.send(tcp.peer_addr().unwrap().ip()).unwrap();
            let mut ws = tungstenite::accept(tcp).unwrap();
            until_closed(&mut ws);
        });
        // 127.0.0.2 is loopback too (all of 127/8 is on lo).
        let _c = wsdial::dial(&srv.url("/|local_ip=127.0.0.2")).unwrap();
        assert_eq!(rx.recv_timeout(ms(5000)).unwrap().to_string(), "127.0.0.2");
    });
}
