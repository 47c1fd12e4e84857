//! `stats()` reports the round trip of the protocol Ping/Pong when pings are
//! on: the last one, and a smoothed value.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A relay on 127.0.0.1 that forwards to `to`, holding what comes back
/// (server to client) for `delay`: a link with that much latency one way.
fn slow_relay(to: std::net::SocketAddr, delay: Duration) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for client in l.incoming().flatten() {
            let server = TcpStream::connect(to).unwrap();
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n @ 1..) = c_in.read(&mut buf) {
                    if s_out.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
            let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
            let mut s_in = server;
            thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n @ 1..) = s_in.read(&mut buf) {
                    if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
            });
            let mut c_out = client;
            thread::spawn(move || {
                for (at, bytes) in rx {
                    // The latency the relay stands for.
                    let due = at + delay;
                    while Instant::now() < due {
                        thread::park_timeout(due - Instant::now());
                    }
                    if c_out.write_all(&bytes).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn round_trip_of_protocol_pings() {
    within(ms(30_000), || {
        const DELAY: Duration = Duration::from_millis(100);
        // tungstenite's server answers every Ping as it reads.
        let srv = Server::ws(|mut ws, _| until_closed(&mut ws));
        let relay = slow_relay(srv.addr, DELAY);
        // Pings every 40 ms over a 100 ms link: several are out at once.
        let url = format!("ws://{relay}/|ping=40");
        for program_reads in [false, true] {
            let c = wsdial::dial(&url).unwrap();
            assert_eq!(c.stats().rtt, None, "none before a Pong");
            let deadline = Instant::now() + ms(10_000);
            while c.stats().rtt_smoothed.is_none() {
                assert!(Instant::now() < deadline, "a Pong comes back");
                if program_reads {
                    // Waiting in a read: this thread reads the socket itself.
                    assert!(c.read_timeout(ms(20)).is_none());
                } else {
                    thread::sleep(ms(1));
                }
            }
            let st = c.stats();
            let (rtt, smoothed) = (st.rtt.unwrap(), st.rtt_smoothed.unwrap());
            assert!(rtt >= DELAY && rtt < DELAY * 10, "{rtt:?}");
            assert!(smoothed >= DELAY && smoothed < DELAY * 10, "{smoothed:?}");
            assert_eq!(st.received, 0, "Pongs are not messages");
        }
    });
}

#[test]
fn no_round_trip_without_protocol_pings() {
    within(ms(30_000), || {
        let srv = Server::ws(|mut ws, _| {
            // Pongs the client never asked for, and text heartbeats answered.
            for _ in 0..3 {
                ws.send(WsMsg::Pong(8u64.to_be_bytes().to_vec().into()))
                    .unwrap();
            }
            ws.send(WsMsg::text("ready")).unwrap();
            while let Some(m) = next_data(&mut ws) {
                ws.send(m).unwrap();
            }
        });
        let c = wsdial::dial(&srv.url("/|ping=20&ping_msg=hb")).unwrap();
        assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), "ready");
        // Two text keepalives come back as messages.
        for _ in 0..2 {
            assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), "hb");
        }
        let st = c.stats();
        assert_eq!(
            (st.rtt, st.rtt_smoothed),
            (None, None),
            "unsolicited Pongs and text keepalives give none"
        );
    });
}
