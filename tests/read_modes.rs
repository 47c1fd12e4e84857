//! Each row of the spec's read table: buffer has messages / empty / connection lost,
//! for read, read_timeout, try_read, read_latest and read_ms.
mod common;
use common::*;
use std::time::Instant;
use wsdial::{Cause, Event};

#[test]
fn buffer_has_messages() {
    within(ms(10_000), || {
        let srv = command_server();
        let c = wsdial::dial(&srv.url("/")).unwrap();
        c.write("cmd:send 1 2 3 4");
        eventually(ms(5000), "4 messages buffered", || c.stats().received == 4);
        let t = Instant::now();
        assert_eq!(text(&c.read()), "1");
        assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), "2");
        assert_eq!(text(&c.try_read().unwrap()), "3");
        assert_eq!(text(&c.read_ms(-1).unwrap()), "4");
        assert!(
            t.elapsed() < ms(1000),
            "reads of buffered messages return at once"
        );

        c.write("cmd:send a b c");
        eventually(ms(5000), "3 more", || c.stats().received == 7);
        assert_eq!(text(&c.read_latest().unwrap()), "c");
        assert_eq!(
            c.stats().discarded,
            2,
            "older messages discarded and counted"
        );
        assert!(c.try_read().is_none(), "read_latest emptied the buffer");

        c.write("cmd:send x y");
        eventually(ms(5000), "2 more", || c.stats().received == 9);
        assert_eq!(
            text(&c.read_ms(-2).unwrap()),
            "y",
            "read(-2) is read_latest"
        );
        assert!(
            c.read_ms(-7).is_none(),
            "below -2 is read_latest, now empty"
        );
    });
}

#[test]
fn buffer_empty() {
    within(ms(10_000), || {
        let srv = command_server();
        let c = wsdial::dial(&srv.url("/")).unwrap();
        let t = Instant::now();
        assert!(c.try_read().is_none());
        assert!(c.read_latest().is_none());
        assert!(c.read_ms(-1).is_none());
        assert!(c.read_ms(-2).is_none());
        assert!(t.elapsed() < ms(500), "now-or-nothing reads do not wait");

        let t = Instant::now();
        assert!(c.read_timeout(ms(80)).is_none());
        assert!(t.elapsed() >= ms(80), "read_timeout waits the full time");
        let t = Instant::now();
        assert!(c.read_ms(60).is_none());
        assert!(t.elapsed() >= ms(60), "read(ms) waits the full time");

        // read_timeout returns the message as soon as it arrives.
        c.write("cmd:send late");
        let t = Instant::now();
        assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), "late");
        assert!(t.elapsed() < ms(4000));

        // read() and read(0) block until a message arrives.
        c.write("cmd:send blocked");
        assert_eq!(text(&c.read()), "blocked");
        c.write("cmd:send zero");
        assert_eq!(text(&c.read_ms(0).unwrap()), "zero");
    });
}

#[test]
fn connection_lost() {
    within(ms(10_000), || {
        let srv = command_server();
        let c = wsdial::dial(&srv.url("/")).unwrap();
        c.write("cmd:send last1 last2");
        c.write("cmd:close 4001");
        // Messages that arrived before the loss come first, then the disconnect.
        assert_eq!(text(&c.read()), "last1");
        assert_eq!(text(&c.read()), "last2");
        match c.read() {
            Event::Disconnected(d) => {
                assert_eq!(d.cause(), Cause::ClosedByPeer);
                assert_eq!(d.close_code(), Some(4001));
            }
            e => panic!("expected a disconnect, got {e:?}"),
        }
        // Without reconnect every later read returns it again, at once.
        let t = Instant::now();
        for _ in 0..3 {
            assert!(c.read().is_disconnect());
            assert!(c.read_timeout(ms(5000)).unwrap().is_disconnect());
            assert!(c.try_read().unwrap().is_disconnect());
            assert!(c.read_latest().unwrap().is_disconnect());
            for n in [0, 5000, -1, -2] {
                assert!(c.read_ms(n).unwrap().is_disconnect());
            }
        }
        assert!(t.elapsed() < ms(1000), "reads after a loss return at once");
        assert_eq!(c.write("anything"), 0);
        assert_eq!(c.write_binary(b"x"), 0);
        assert!(!c.is_connected());
    });
}

#[test]
fn loss_without_close_frame_is_eof() {
    within(ms(10_000), || {
        let srv = command_server();
        let c = wsdial::dial(&srv.url("/")).unwrap();
        c.write("cmd:drop");
        match c.read() {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::Eof, "{d}"),
            e => panic!("expected a disconnect, got {e:?}"),
        }
    });
}
