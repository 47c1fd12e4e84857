//! True full duplex: writes from any thread go out promptly while another thread
//! is blocked in read(), and never wait for inbound traffic.
mod common;
use common::*;
use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

#[test]
fn four_writers_while_a_fifth_thread_is_blocked_in_read() {
    within(ms(20_000), || {
        const PER: usize = 500;
        let (tx, rx) = mpsc::channel::<WsMsg>();
        // The server only receives, until it has all the frames; then it says "done".
        let srv = Server::ws(move |mut ws, _| {
            for _ in 0..4 * PER {
                let m = next_data(&mut ws).expect("frame");
                tx.send(m).unwrap();
            }
            ws.send(WsMsg::text("done")).unwrap();
            until_closed(&mut ws);
        });
        let c = Arc::new(wsdial::dial(&srv.url("/")).unwrap());
        let reader = {
            let c = c.clone();
            std::thread::spawn(move || text(&c.read()))
        };
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..PER {
                        let body = format!("w{w}-{i}-{}", "x".repeat(i % 97));
                        let n = if i % 2 == 0 {
                            c.write(&body)
                        } else {
                            c.write_binary(body.as_bytes())
                        };
                        assert_eq!(n, body.len());
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let mut seen = HashSet::new();
        let mut last = [None::<usize>; 4];
        for _ in 0..4 * PER {
            let m = rx.recv_timeout(ms(10_000)).expect("server got every frame");
            let (body, binary) = match &m {
                WsMsg::Text(t) => (t.as_str().to_owned(), false),
                WsMsg::Binary(b) => (String::from_utf8(b.to_vec()).unwrap(), true),
                _ => unreachable!(),
            };
            let mut parts = body.splitn(3, '-');
            let w: usize = parts.next().unwrap()[1..].parse().unwrap();
            let i: usize = parts.next().unwrap().parse().unwrap();
            assert_eq!(parts.next().unwrap(), "x".repeat(i % 97), "frame intact");
            assert_eq!(binary, i % 2 == 1, "frame type kept");
            assert!(
                last[w].is_none_or(|l| l < i),
                "one writer's frames stay in order"
            );
            last[w] = Some(i);
            assert!(seen.insert(body));
        }
        assert_eq!(seen.len(), 4 * PER);
        assert_eq!(
            reader.join().unwrap(),
            "done",
            "the blocked reader got the reply"
        );
        assert_eq!(c.stats().sent, (4 * PER) as u64);
    });
}

#[test]
fn write_on_an_idle_connection_needs_no_inbound_traffic() {
    within(ms(10_000), || {
        let (tx, rx) = mpsc::channel::<(String, Instant)>();
        // This server never sends anything.
        let srv = Server::ws(move |mut ws, _| {
            while let Some(m) = next_data(&mut ws) {
                tx.send((m.into_text().unwrap().as_str().to_owned(), Instant::now()))
                    .unwrap();
            }
        });
        let c = Arc::new(wsdial::dial(&srv.url("/")).unwrap());
        let blocked = {
            let c = c.clone();
            std::thread::spawn(move || c.read())
        };
        for i in 0..20 {
            let body = format!("order-{i}");
            let sent = Instant::now();
            assert_eq!(c.write(&body), body.len());
            let (got, at) = rx
                .recv_timeout(ms(5000))
                .expect("server received the write");
            assert_eq!(got, format!("order-{i}"));
            // Generous bound for a loaded CI box; the point is it does not wait for traffic.
            assert!(
                at.duration_since(sent) < ms(1000),
                "write {i} took {:?}",
                at.duration_since(sent)
            );
        }
        c.close();
        assert!(blocked.join().unwrap().is_disconnect());
    });
}
