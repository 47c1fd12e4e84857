//! `wsdial 'kafka://…'` against tansu (a Kafka-compatible broker started per
//! test on a free 127.0.0.1 port): messages printed as lines, `-n`, `--send`,
//! stdin lines published, `--stats`, the exit codes; and the library's
//! `kafka` example. The command line enables every broker feature.
mod support;
#[path = "../../tests/common/tansu.rs"]
mod tansu;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tansu::{python_consume, python_produce, Tansu};

/// Runs `cmd` with `stdin` written (and kept open); kills it after `limit`.
fn run(mut cmd: Command, stdin: &str, limit: Duration, during: impl FnOnce()) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = child.stdin.take().unwrap();
    w.write_all(stdin.as_bytes()).unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    during();
    let out = rx.recv_timeout(limit);
    drop(w);
    match out {
        Ok(o) => o,
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("watchdog: {cmd:?} did not finish within {limit:?}");
        }
    }
}

fn wsdial(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wsdial"));
    c.args(args);
    c
}

fn stdout_lines(o: &Output) -> BTreeSet<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn prints_what_confluent_kafka_publishes_and_exits_after_n() {
    let t = Tansu::start();
    t.create_topic("cli", 2);
    let url = t.url("cli", "?offset=earliest");
    python_produce(&t.bootstrap(), "cli", &["one".into(), "two".into()]);
    let o = run(
        wsdial(&[&url, "-n", "3", "--stats"]),
        "",
        Duration::from_secs(30),
        || {
            python_produce(&t.bootstrap(), "cli", &["three".into()]);
        },
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        stdout_lines(&o),
        ["one", "two", "three"].map(String::from).into()
    );
}

#[test]
fn send_and_stdin_lines_are_published() {
    let t = Tansu::start();
    t.create_topic("pub", 1);
    let url = t.url("pub", "");
    // It reads its own topic: the two it published come back, then -n ends it.
    let o = run(
        wsdial(&[&url, "--send", "sent-1", "-n", "3"]),
        "stdin-1\nstdin-2\n",
        Duration::from_secs(30),
        || {},
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let want: BTreeSet<String> = ["sent-1", "stdin-1", "stdin-2"].map(String::from).into();
    assert_eq!(stdout_lines(&o), want);
    let read: BTreeSet<String> = python_consume(&t.bootstrap(), "pub", 3, 20)
        .into_iter()
        .collect();
    assert_eq!(read, want);
}

#[test]
fn exit_codes_dial_failure_and_read_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("kafka://127.0.0.1:{port}/t|timeout=2000");
    let o = run(wsdial(&[&down]), "", Duration::from_secs(20), || {});
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("tcp"), "{o:?}");

    let t = Tansu::start();
    t.create_topic("quiet", 1);
    // Quiet for 1.5 s: exit 3, after one live --stats line (printed each second).
    let o = run(
        wsdial(&[&t.url("quiet", ""), "--read-timeout", "1500", "--stats"]),
        "",
        Duration::from_secs(20),
        || {},
    );
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("received 0") && err.contains("reconnects 0"),
        "{err}"
    );
}

#[test]
fn the_kafka_example_publishes_and_reads_back() {
    let t = Tansu::start();
    t.create_topic("ticks", 2);
    let mut cmd = Command::new(support::example("kafka"));
    cmd.args([&t.url("ticks", ""), "4"]);
    let o = run(cmd, "", Duration::from_secs(120), || {});
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().count(), 4, "{out}");
    for i in 0..4 {
        assert!(out.contains(&format!(r#"{{"seq":{i},"#)), "{out}");
    }
    assert!(
        out.lines().all(|l| l.starts_with("ticks partition ")),
        "{out}"
    );
}
