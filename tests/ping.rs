//! Server Pings are answered (and flushed) at once, while the program never reads.
mod common;
use common::*;
use std::sync::mpsc;

#[test]
fn ping_answered_without_reading() {
    within(ms(10_000), || {
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let srv = Server::ws(move |mut ws, _| {
            for i in 0..5u8 {
                // Data the program never reads piles up ahead of each ping.
                ws.send(WsMsg::text(format!("unread-{i}"))).unwrap();
                ws.send(WsMsg::Ping(vec![i, 42].into())).unwrap();
                match ws.read().expect("pong before anything else") {
                    WsMsg::Pong(p) => tx.send(p.to_vec()).unwrap(),
                    other => panic!("unexpected {other:?}"),
                }
            }
            until_closed(&mut ws);
        });
        let c = wsdial::dial(&srv.url("/")).unwrap();
        for i in 0..5u8 {
            let pong = rx
                .recv_timeout(ms(5000))
                .expect("pong arrives without a read");
            assert_eq!(pong, vec![i, 42], "pong echoes the ping's data");
        }
        assert_eq!(c.stats().received, 5, "pings are not messages");
        assert_eq!(c.stats().queued, 5);
    });
}
