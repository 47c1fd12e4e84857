//! Ordering around a disconnect marker: the lost connection's messages, then
//! exactly one disconnect, then the new connection's messages.
mod common;
use common::*;
use wsdial::Event;

#[test]
fn marker_sits_between_old_and_new_messages() {
    within(ms(15_000), || {
        // Connection 0 sends a, b and drops; connection 1 sends c, d and stays.
        let srv = Server::ws(|mut ws, i| {
            if i == 0 {
                ws.send(WsMsg::text("a")).unwrap();
                ws.send(WsMsg::text("b")).unwrap();
            } else {
                ws.send(WsMsg::text("c")).unwrap();
                ws.send(WsMsg::text("d")).unwrap();
                until_closed(&mut ws);
            }
        });
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=0")).unwrap();
        // Let both connections happen before reading anything.
        eventually(ms(10_000), "4 messages", || c.stats().received == 4);
        let got: Vec<String> = (0..5).map(|_| text(&c.read())).collect();
        assert_eq!(got, ["a", "b", "<disconnected>", "c", "d"]);
        assert!(c.try_read().is_none(), "exactly one disconnect");
        assert_eq!(c.stats().reconnects, 1);
        assert!(c.is_connected());
    });
}

#[test]
fn marker_survives_a_full_buffer() {
    within(ms(15_000), || {
        let srv = Server::ws(|mut ws, i| {
            let n = if i == 0 { 10 } else { 3 };
            for k in 0..n {
                ws.send(WsMsg::text(format!("{i}-{k}"))).unwrap();
            }
            if i > 0 {
                until_closed(&mut ws);
            }
        });
        let c = wsdial::dial(&srv.url("/|reconnect=true&interval=0&qsize=4")).unwrap();
        eventually(ms(10_000), "13 messages", || c.stats().received == 13);
        // Capacity 4: the oldest messages went, the marker stayed in its place.
        let got: Vec<String> = std::iter::from_fn(|| c.try_read())
            .map(|e| text(&e))
            .collect();
        assert_eq!(got, ["0-9", "<disconnected>", "1-0", "1-1", "1-2"]);
        assert_eq!(c.stats().dropped, 9);
    });
}

#[test]
fn without_reconnect_the_disconnect_repeats() {
    within(ms(10_000), || {
        let srv = Server::ws(|mut ws, _| {
            ws.send(WsMsg::text("only")).unwrap();
        });
        let c = wsdial::dial(&srv.url("/")).unwrap();
        assert_eq!(text(&c.read()), "only");
        for _ in 0..5 {
            assert!(matches!(c.read(), Event::Disconnected(_)));
        }
        assert_eq!(
            srv.accepted.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "no reconnect"
        );
    });
}
