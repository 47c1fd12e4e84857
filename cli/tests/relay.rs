//! `wsdial FROM --to TO` (the relay) and its help, end to end: the
//! binary against its own simulator and sinks made here, all on 127.0.0.1.
#[path = "../../tests/common/mod.rs"]
mod common;
mod support;
use common::{ms, next_data, Server, WsMsg};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Instant;
use support::{bin, run, seq, totals, Serve};

#[test]
fn relay_into_a_websocket_sink_hands_on_every_message_in_order() {
    let s = Serve::start(&["--rate", "5000", "--size", "2000"]);
    let (tx, rx) = mpsc::channel();
    let sink = Server::ws(move |mut ws, _| {
        while let Some(m) = next_data(&mut ws) {
            if let WsMsg::Text(t) = m {
                if tx.send(t.to_string()).is_err() {
                    break;
                }
            }
        }
    });
    let mut c = bin();
    c.args([
        &format!("{}/binance", s.base),
        "--to",
        &sink.url("/sink"),
        "-n",
        "5000",
        "--stats",
    ]);
    let o = run(c, None, ms(30_000));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // Every message the relay counted reached the sink before it exited.
    for i in 0..5000u64 {
        let line = rx.recv_timeout(ms(5_000)).expect("the sink got it");
        assert_eq!(seq(&line), i, "in order, none lost");
    }
    let t = totals(&o);
    assert!(
        t.starts_with("relayed 5000  dropped 0  unsent 0  reconnects from 0 to 0"),
        "{t}"
    );
}

#[test]
fn relay_into_a_tcp_sink_writes_one_line_per_message() {
    let s = Serve::start(&["--rate", "2000"]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        for line in BufReader::new(tcp).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut c = bin();
    c.args([
        &format!("{}/binance", s.base),
        "--to",
        &format!("tcp://127.0.0.1:{port}"),
        "-n",
        "300",
    ]);
    let o = run(c, None, ms(30_000));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    for i in 0..300u64 {
        let line = rx.recv_timeout(ms(5_000)).expect("the sink got it");
        assert_eq!(seq(&line), i, "one line per message, in order");
    }
    // The relay closed its end: nothing more, and no half line.
    assert!(rx.recv_timeout(ms(5_000)).is_err());
}

/// A tcp sink that is killed and started again: it reads `before` lines on
/// its first connection, then closes it and its listener, says so on
/// `closed`, waits for `go`, listens on the same port again and reads the
/// second connection to its end. Every line goes to `tx` with its connection.
fn restarting_sink(
    listener: TcpListener,
    before: usize,
    tx: mpsc::Sender<(u8, String)>,
    closed: mpsc::Sender<()>,
    go: mpsc::Receiver<()>,
) {
    std::thread::spawn(move || {
        let addr = listener.local_addr().unwrap();
        let (tcp, _) = listener.accept().unwrap();
        let mut lines = BufReader::new(tcp).lines();
        for _ in 0..before {
            let line = lines.next().unwrap().unwrap();
            tx.send((1, line)).unwrap();
        }
        drop(lines);
        drop(listener);
        closed.send(()).unwrap();
        go.recv().unwrap();
        let listener = TcpListener::bind(addr).unwrap();
        let (tcp, _) = listener.accept().unwrap();
        for line in BufReader::new(tcp).lines().map_while(Result::ok) {
            if tx.send((2, line)).is_err() {
                break;
            }
        }
    });
}

/// Asserts that `seqs` run on by one, or start again at 0 (the feed's new connection).
fn contiguous(seqs: &[u64], what: &str) {
    for w in seqs.windows(2) {
        assert!(
            w[1] == w[0] + 1 || w[1] == 0,
            "{what}: {} after {}: a message lost in the middle",
            w[1],
            w[0]
        );
    }
}

#[test]
fn relay_survives_its_sink_restarting_and_its_feed_dropping() {
    common::within(ms(60_000), || {
        // The feed drops every connection after 150 messages (FROM reconnects);
        // the sink dies and starts again on the same port (TO reconnects).
        let s = Serve::start(&["--rate", "400", "--drop-after", "150"]);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        let (closed_tx, closed) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        restarting_sink(listener, 100, tx, closed_tx, go_rx);
        let backoff = "reconnect=true&interval=50&max_interval=100";
        let mut relay = bin()
            .args([
                &format!("{}/binance|{backoff}", s.base),
                "--to",
                &format!("tcp://127.0.0.1:{port}|{backoff}"),
                "-n",
                "600",
                "--stats",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (etx, erx) = mpsc::channel();
        let stderr = relay.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = etx.send(line);
            }
        });
        closed
            .recv_timeout(ms(20_000))
            .expect("the sink's first life");
        // The sink stays down until the relay has seen it go and has held the
        // feed for a stats period (FROM's buffer takes it meanwhile).
        let mut err = Vec::new();
        let deadline = Instant::now() + ms(20_000);
        while !err.iter().any(|l: &String| l.contains("(waiting for TO)")) {
            let left = deadline.saturating_duration_since(Instant::now());
            err.push(erx.recv_timeout(left).expect("the relay sees TO go"));
        }
        go.send(()).unwrap();
        let status = {
            let (stx, srx) = mpsc::channel();
            std::thread::spawn(move || stx.send(relay.wait().unwrap()));
            srx.recv_timeout(ms(30_000)).expect("the relay finishes")
        };
        // The stderr pipe ends with the relay.
        while let Ok(l) = erx.recv_timeout(ms(5_000)) {
            err.push(l);
        }
        assert_eq!(status.code(), Some(0), "{err:#?}");
        let lines: Vec<(u8, String)> = rx.try_iter().collect();
        let first: Vec<u64> = lines
            .iter()
            .filter(|l| l.0 == 1)
            .map(|l| seq(&l.1))
            .collect();
        let second: Vec<u64> = lines
            .iter()
            .filter(|l| l.0 == 2)
            .map(|l| seq(&l.1))
            .collect();
        assert_eq!(first.len(), 100);
        assert!(
            !second.is_empty(),
            "messages flow again after the sink came back"
        );
        contiguous(&first, "the sink's first connection");
        contiguous(&second, "the sink's second connection");
        let t = err
            .iter()
            .rev()
            .find(|l| l.starts_with("relayed "))
            .unwrap();
        assert!(t.starts_with("relayed 600  dropped 0  unsent "), "{t}");
        let reconnects: Vec<u64> = t
            .rsplit("reconnects from ")
            .next()
            .unwrap()
            .split("  ")
            .next()
            .unwrap()
            .split(" to ")
            .map(|n| n.trim().parse().unwrap())
            .collect();
        assert!(reconnects[0] >= 3, "FROM reconnected after each drop: {t}");
        assert!(reconnects[1] >= 1, "TO reconnected: {t}");
        assert!(
            err.iter().any(|l| l.contains("FROM disconnected")),
            "{err:#?}"
        );
        // Only what was in flight to the dead sink can be missing.
        let missing = 600 - (first.len() + second.len()) as u64;
        assert!(missing <= 20, "{missing} lost at the sink's death: {t}");
    })
}

#[test]
fn relay_exit_codes_and_errors_name_the_side() {
    let s = Serve::start(&["--rate", "200"]);
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // TO cannot be dialed: exit 1, nothing read.
    let mut c = bin();
    c.args([
        &format!("{}/binance", s.base),
        "--to",
        &format!("ws://127.0.0.1:{dead}/"),
    ]);
    let o = run(c, None, ms(20_000));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("wsdial: TO: tcp failed: connect 127.0.0.1:"),
        "{err}"
    );
    // FROM cannot be dialed: exit 1.
    let mut c = bin();
    c.args([
        &format!("ws://127.0.0.1:{dead}/"),
        "--to",
        &format!("{}/echo", s.base),
    ]);
    let o = run(c, None, ms(20_000));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("wsdial: FROM: tcp failed"),
        "{o:?}"
    );
    // A bad option on TO is refused by name.
    let mut c = bin();
    c.args([
        &format!("{}/binance", s.base),
        "--to",
        &format!("{}/echo|compres=gzip", s.base),
    ]);
    let o = run(c, None, ms(20_000));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("did you mean `compress`?"),
        "{o:?}"
    );
    // TO lost for good (no reconnect): exit 4, and it says which side.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut lines = BufReader::new(tcp).lines();
        for _ in 0..10 {
            lines.next();
        }
    });
    let mut c = bin();
    c.args([
        &format!("{}/binance", s.base),
        "--to",
        &format!("tcp://127.0.0.1:{port}"),
    ]);
    let o = run(c, None, ms(20_000));
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("TO disconnected"),
        "{o:?}"
    );
    // FROM lost for good: exit 4.
    let s2 = Serve::start(&["--rate", "500", "--drop-after", "20"]);
    let mut c = bin();
    c.args([
        &format!("{}/binance", s2.base),
        "--to",
        &format!("{}/echo", s.base),
    ]);
    let o = run(c, None, ms(20_000));
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("FROM disconnected"),
        "{o:?}"
    );
    // Nothing arrives on FROM: --read-timeout exits 3.
    let mut c = bin();
    c.args([
        &format!("{}/okx", s.base),
        "--to",
        &format!("{}/echo", s.base),
        "--read-timeout",
        "300",
    ]);
    let o = run(c, None, ms(20_000));
    assert_eq!(o.status.code(), Some(3), "{o:?}");
}

#[test]
fn help_shows_the_relay_and_exec() {
    let o = run(
        {
            let mut c = bin();
            c.arg("--help");
            c
        },
        None,
        ms(10_000),
    );
    assert!(o.status.success(), "{o:?}");
    let help = String::from_utf8_lossy(&o.stdout);
    for want in [
        "--to <TO>",
        "relays every message read from FROM to TO",
        "exec",
        "records one row per message",
        "dropped",
    ] {
        assert!(help.contains(want), "{want:?} missing from:\n{help}");
    }
    let o = run(
        {
            let mut c = bin();
            c.args(["exec", "--help"]);
            c
        },
        None,
        ms(10_000),
    );
    assert!(o.status.success(), "{o:?}");
    let help = String::from_utf8_lossy(&o.stdout);
    for want in [
        "[SQL]...",
        "\"columns\"",
        "from stdin, each ended by `;`",
        "exits 1",
    ] {
        assert!(help.contains(want), "{want:?} missing from:\n{help}");
    }
}
