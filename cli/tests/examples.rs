//! Every example of the library runs against the simulator (`wsdial serve`) in a
//! short mode. The examples belong to the `wsdial` package and the binary to this
//! one, so the test asks cargo for the examples (see `example`).
mod support;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::example;

struct Serve {
    child: Child,
    ws: String,
    tcp: String,
    /// Kept open: `serve` writes more lines after the two read here.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Serve {
    fn start() -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsdial"))
            .args([
                "serve",
                "--port",
                "0",
                "--rate",
                "300",
                "--exit-every",
                "40",
                "--ping-every",
                "0.2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut r = BufReader::new(child.stdout.take().unwrap());
        let (mut a, mut b) = (String::new(), String::new());
        r.read_line(&mut a).unwrap();
        r.read_line(&mut b).unwrap();
        let last = |l: &str| l.trim().rsplit(' ').next().unwrap().to_owned();
        Serve {
            child,
            ws: last(&a),
            tcp: last(&b),
            _stdout: r,
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(name: &str, args: &[&str]) -> Output {
    let child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(o) => o,
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            // The output so far says where it stopped.
            let (out, err) = rx.recv_timeout(Duration::from_secs(5)).map_or(
                (String::new(), String::new()),
                |o| {
                    (
                        String::from_utf8_lossy(&o.stdout).into_owned(),
                        String::from_utf8_lossy(&o.stderr).into_owned(),
                    )
                },
            );
            panic!("watchdog: example {name} did not finish in 30 s\n--- stdout\n{out}\n--- stderr\n{err}");
        }
    }
}

fn check(name: &str, args: &[&str], lines_with: &str, at_least: usize) {
    let o = run(name, args);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{name}: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let n = out.lines().filter(|l| l.contains(lines_with)).count();
    assert!(
        n >= at_least,
        "{name}: {n} lines with `{lines_with}`, wanted {at_least}:\n{out}"
    );
}

#[test]
fn every_example_runs_against_the_simulator() {
    example("binance_ticker"); // builds them all, before the simulator starts
    let s = Serve::start();
    check("binance_ticker", &[&s.ws, "5"], "BTCUSDT last price", 5);
    check(
        "huobi_gzip",
        &[&s.ws, "5"],
        "market.btcusdt.ticker close",
        5,
    );
    check("okx_ping", &[&s.ws, "5"], "BTC-USDT last", 5);
    check("three_feeds", &[&s.ws, "30"], "messages per feed", 1);
    check("raw_tcp", &[&s.tcp, "3"], "< QUOTE BTCUSDT", 3);
    check("exit_stream", &[&s.ws, "2"], "EXIT position", 2);
    check("trading_platform", &[&s.ws, "4"], "event grid.", 2);
    let o = run("trading_platform", &[&s.ws, "2"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("response to c-1: success=true"), "{out}");
    assert!(
        out.contains("subprotocol agreed: Some(\"zigquant-v2\")"),
        "{out}"
    );
    assert!(
        !out.contains("event market."),
        "only subscribed channels: {out}"
    );
}

/// The database example (no simulator): a query in Dial's JSON shape, and the
/// same in-memory database counted from another thread through its handle.
#[test]
fn the_sqlite_example_runs() {
    let o = run("sqlite", &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains(r#"{"columns":["side","price","qty"],"values":[["buy","97123.45",0.01],["sell","97130.10",0.02],["buy","97101.99",0.03]]}"#),
        "{out}"
    );
    assert!(
        out.contains("fills counted from another thread: 3"),
        "{out}"
    );
}
