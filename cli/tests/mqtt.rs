//! `wsdial mqtt://…` against a private mosquitto, exactly as for a WebSocket:
//! each message a line, `-n`, `--send`, stdin lines published, `--stats`,
//! the exit codes.
#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/common/mosquitto.rs"]
mod mosquitto;
use common::ms;
use mosquitto::Mosquitto;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wsdial"))
}

/// Runs `cmd` (stdin fed with `input` and kept open) to completion, calling
/// `meanwhile` every 50 ms until it ends; kills it after `limit`.
fn run(
    mut cmd: Command,
    input: Option<&str>,
    limit: Duration,
    mut meanwhile: impl FnMut(),
) -> Output {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = input {
        let mut w = child.stdin.take().unwrap();
        w.write_all(input.as_bytes()).unwrap();
        std::mem::forget(w); // closing stdin must not end the client
    }
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    let deadline = Instant::now() + limit;
    loop {
        match rx.recv_timeout(ms(50)) {
            Ok(o) => return o,
            Err(_) if Instant::now() < deadline => meanwhile(),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("watchdog: {cmd:?} did not finish within {limit:?}");
            }
        }
    }
}

fn lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn prints_each_message_as_a_line_and_stops_after_n() {
    let b = Mosquitto::start();
    let mut c = bin();
    c.args([&b.url("cli/feed"), "-n", "3", "--stats", "--no-stdin"]);
    // Published until the client has its three (it subscribes at its own pace).
    let mut i = 0;
    let o = run(c, None, ms(20_000), || {
        b.publish("cli/feed", &[format!("m{i}")]);
        i += 1;
    });
    assert!(o.status.success(), "{o:?}");
    let got = lines(&o);
    assert_eq!(got.len(), 3, "{got:?}");
    let first: usize = got[0][1..].parse().unwrap();
    assert_eq!(
        got,
        [0, 1, 2].map(|k| format!("m{}", first + k)),
        "in order"
    );
}

#[test]
fn send_flags_and_stdin_lines_are_published() {
    let b = Mosquitto::start();
    let sub = b.subscriber("cli/out", 4);
    let mut c = bin();
    c.args([
        &b.url("cli/out"),
        "--send",
        "first",
        "--send",
        "second",
        "-n",
        "4",
    ]);
    let o = run(c, Some("from stdin 1\nfrom stdin 2\n"), ms(20_000), || {});
    assert!(o.status.success(), "{o:?}");
    let want = ["first", "second", "from stdin 1", "from stdin 2"];
    // A third-party subscriber got them, in order…
    let got = sub.lines();
    assert_eq!(got, want.map(|w| format!("cli/out {w}")));
    // …and so did the client itself (MQTT 3.1.1 delivers one's own publishes).
    assert_eq!(lines(&o), want);
}

#[test]
fn exit_codes_as_for_a_websocket() {
    let mut b = Mosquitto::start();
    // A bad address: 1, with what is accepted.
    let mut c = bin();
    c.arg("mqtt://127.0.0.1:1?topic=a/%23/b");
    let o = run(c, None, ms(10_000), || {});
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`#` must be a whole level"), "{err}");
    // Wrong credentials: 1, saying so.
    let mut c = bin();
    c.arg(format!("mqtt://alice:nope@127.0.0.1:{}?topic=t", b.port));
    let o = run(c, None, ms(10_000), || {});
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not authorised"),
        "{o:?}"
    );
    // Nothing received in time: 3.
    let mut c = bin();
    c.args([&b.url("quiet"), "--read-timeout", "300", "--no-stdin"]);
    let o = run(c, None, ms(10_000), || {});
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    // The broker goes away (no reconnect): 4.
    let mut c = bin();
    c.args([&b.url("gone"), "--no-stdin"]);
    let mut killed = false;
    let mut polls = 0;
    let o = run(c, None, ms(10_000), || {
        polls += 1;
        if polls == 20 && !killed {
            b.kill();
            killed = true;
        }
    });
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("disconnected"),
        "{o:?}"
    );
}

/// Builds the library's `mqtt` example (feature `mqtt`) with cargo and returns its path.
fn mqtt_example() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "-q",
        "-p",
        "wsdial",
        "--features",
        "mqtt",
        "--example",
        "mqtt",
    ])
    .arg("--message-format=json-render-diagnostics")
    .arg("--manifest-path")
    .arg(manifest);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let o = cmd.stderr(Stdio::inherit()).output().unwrap();
    assert!(o.status.success(), "building examples/mqtt.rs failed");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "mqtt")
        .and_then(|m| m["executable"].as_str().map(std::path::PathBuf::from))
        .expect("cargo built no mqtt example")
}

#[test]
fn the_mqtt_example_runs_against_mosquitto() {
    let b = Mosquitto::start();
    let mut c = Command::new(mqtt_example());
    c.args([
        &format!(
            "mqtt://{}:{}@127.0.0.1:{}",
            mosquitto::USER,
            mosquitto::PASS,
            b.port
        ),
        "4",
    ]);
    let o = run(c, None, ms(60_000), || {});
    assert!(o.status.success(), "{o:?}");
    let want: Vec<String> = (0..4)
        .map(|i| format!(r#"bots/alpha/signals {{"bot":"alpha","seq":{i},"side":"buy"}}"#))
        .collect();
    assert_eq!(lines(&o), want);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("received 4 dropped 0 reconnects 0"), "{err}");
}
