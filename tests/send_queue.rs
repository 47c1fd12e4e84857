//! The send queue is bounded in bytes (`sendq`): a program writing into a
//! connection that does not take its data (a dead or stalled peer) gets 0
//! back, counted, instead of growing memory; what was accepted is sent.
mod common;
use common::*;
use std::sync::mpsc;
use std::sync::Mutex;
use wsdial::{Dialer, Event};

#[test]
fn the_limit_is_reached_and_counted_and_what_was_accepted_arrives() {
    within(ms(60_000), || {
        const LIMIT: usize = 64 * 1024;
        const CHUNK: usize = 4096;
        // The peer stops reading until told: the socket's buffers fill, then
        // the send queue.
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let go_rx = Mutex::new(go_rx);
        let (count_tx, count_rx) = mpsc::channel::<u64>();
        let count_tx = Mutex::new(count_tx);
        let srv = Server::ws(move |mut ws, _| {
            go_rx.lock().unwrap().recv().unwrap();
            let mut n = 0u64;
            while let Some(m) = next_data(&mut ws) {
                if m.is_text() {
                    break; // "end"
                }
                assert_eq!(m.len(), CHUNK);
                n += 1;
            }
            count_tx.lock().unwrap().send(n).unwrap();
            until_closed(&mut ws);
        });
        let c = wsdial::dial(&srv.url(&format!("/|sendq={LIMIT}"))).unwrap();
        let chunk = vec![7u8; CHUNK];
        let (mut accepted, mut refused) = (0u64, 0u64);
        // Write until the queue is full and stays full: a refusal while the
        // socket still takes data (a burst ahead of the worker) is followed by
        // the queue draining; with the peer stalled, it stops draining.
        let stalled = 'fill: loop {
            assert!(
                accepted < 20_000,
                "the queue fills before 80 MB were written"
            );
            if c.write_binary(&chunk) == CHUNK {
                accepted += 1;
                continue;
            }
            refused += 1;
            let deadline = std::time::Instant::now() + ms(500);
            while std::time::Instant::now() < deadline {
                if c.stats().send_queued_bytes + CHUNK <= LIMIT {
                    continue 'fill;
                }
                std::thread::sleep(ms(1));
            }
            break c.stats();
        };
        eprintln!(
            "sendq={LIMIT}: {} KiB accepted (socket buffers and the queue) before the peer's stall filled the queue",
            accepted * CHUNK as u64 / 1024
        );
        assert_eq!(stalled.rejected, refused, "every refusal is counted");
        assert!(
            stalled.send_queued_bytes <= LIMIT,
            "at most the limit is held: {} bytes",
            stalled.send_queued_bytes
        );
        assert!(
            stalled.send_queued_bytes + CHUNK > LIMIT,
            "refused because it did not fit: {} bytes held",
            stalled.send_queued_bytes
        );
        // Still full while the peer does not read: each refusal counted.
        for _ in 0..10 {
            assert_eq!(c.write_binary(&chunk), 0);
        }
        refused += 10;
        assert_eq!(c.stats().rejected, refused);
        // The peer reads again: the queue drains and takes writes again.
        go_tx.send(()).unwrap();
        eventually(ms(20_000), "the queue drains", || {
            c.stats().send_queued_bytes == 0
        });
        assert_eq!(c.write("end"), 3);
        let got = count_rx.recv_timeout(ms(20_000)).unwrap();
        assert_eq!(got, accepted, "every accepted write arrived");
        let st = c.stats();
        assert_eq!(
            (st.sent, st.unsent, st.rejected),
            (accepted + 1, 0, refused)
        );
        assert!(c.is_connected());
        assert!(matches!(c.try_read(), None | Some(Event::Message(_))));
    });
}

#[test]
fn the_limit_is_an_option_with_a_setter() {
    let o = wsdial::Address::parse("ws://x/|sendq=1000")
        .unwrap()
        .options();
    assert_eq!(o.sendq, 1000);
    assert_eq!(
        wsdial::Dialer::new()
            .options_for(&wsdial::Address::parse("ws://x/").unwrap())
            .sendq,
        16 * 1024 * 1024,
        "a generous default"
    );
    let e = Dialer::new()
        .sendq(0)
        .dial("ws://127.0.0.1:9/")
        .unwrap_err();
    assert_eq!(e.key(), Some("sendq"), "{e}");
    let e = wsdial::dial("ws://127.0.0.1:9/|sendq=0").unwrap_err();
    assert!(e.to_string().contains("at least 1"), "{e}");
}
