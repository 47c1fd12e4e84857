//! The inbox drops the oldest messages at exactly `qsize` messages and at
//! `qbytes` bytes, and counts the drops.
mod common;
use common::*;

#[test]
fn drop_oldest_at_qsize() {
    within(ms(10_000), || {
        let srv = command_server();
        let c = wsdial::dial(&srv.url("/|qsize=5")).unwrap();
        c.write("cmd:count 12 m");
        eventually(ms(5000), "12 received", || c.stats().received == 12);
        let s = c.stats();
        assert_eq!((s.dropped, s.queued), (7, 5));
        let got: Vec<String> = std::iter::from_fn(|| c.try_read())
            .map(|e| text(&e))
            .collect();
        assert_eq!(got, ["m7", "m8", "m9", "m10", "m11"]);
    });
}

#[test]
fn exactly_qsize_drops_nothing() {
    within(ms(10_000), || {
        let srv = command_server();
        let c = wsdial::dial(&srv.url("/|qsize=5")).unwrap();
        c.write("cmd:count 5 m");
        eventually(ms(5000), "5 received", || c.stats().received == 5);
        assert_eq!((c.stats().dropped, c.stats().queued), (0, 5));
        c.write("cmd:count 1 n");
        eventually(ms(5000), "6 received", || c.stats().received == 6);
        assert_eq!(c.stats().dropped, 1);
        assert_eq!(text(&c.try_read().unwrap()), "m1");
    });
}

#[test]
fn drop_oldest_at_qbytes() {
    within(ms(10_000), || {
        let srv = command_server();
        // 10 messages of 10 bytes ("b000000000" …), room for 35 bytes: 3 fit.
        let c = wsdial::dial(&srv.url("/|qbytes=35")).unwrap();
        let words: Vec<String> = (0..10).map(|i| format!("b{i:09}")).collect();
        c.write(&format!("cmd:send {}", words.join(" ")));
        eventually(ms(5000), "10 received", || c.stats().received == 10);
        let s = c.stats();
        assert_eq!(
            (s.dropped, s.queued, s.queued_bytes, s.received_bytes),
            (7, 3, 30, 100)
        );
        let got: Vec<String> = std::iter::from_fn(|| c.try_read())
            .map(|e| text(&e))
            .collect();
        assert_eq!(got, words[7..]);
    });
}

#[test]
fn default_capacity_is_2000() {
    within(ms(20_000), || {
        let srv = command_server();
        let c = wsdial::dial(&srv.url("/")).unwrap();
        c.write("cmd:count 2500 m");
        eventually(ms(15_000), "2500 received", || c.stats().received == 2500);
        assert_eq!((c.stats().dropped, c.stats().queued), (500, 2000));
        assert_eq!(text(&c.try_read().unwrap()), "m500");
    });
}
