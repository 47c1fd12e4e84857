//! The `wsdial` binary against its own simulator (`wsdial serve`).
#[path = "../../tests/common/mod.rs"]
mod common;
mod support;
use common::ms;
// This file's runs leave stdin open after writing it, as a terminal does.
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::{bin, run_stdin_open as run, Serve};

fn stdout_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn count_prints_n_messages_as_lines() {
    let s = Serve::start(&["--rate", "500"]);
    let mut c = bin();
    c.args([&format!("{}/binance", s.base), "-n", "25", "--no-stdin"]);
    let o = run(c, None, ms(20_000));
    assert!(o.status.success(), "{o:?}");
    let lines = stdout_lines(&o);
    assert_eq!(lines.len(), 25);
    for (i, l) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["seq"], i as u64, "in order, none lost");
    }
}

#[test]
fn timestamps_prefix_each_line_with_the_receive_time_in_microseconds() {
    let s = Serve::start(&["--rate", "500"]);
    let mut c = bin();
    c.args([
        &format!("{}/binance", s.base),
        "-n",
        "25",
        "--no-stdin",
        "--timestamps",
    ]);
    let now_us = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64
    };
    let before = now_us();
    let o = run(c, None, ms(20_000));
    let after = now_us();
    assert!(o.status.success(), "{o:?}");
    let lines = stdout_lines(&o);
    assert_eq!(lines.len(), 25);
    let mut prev = before;
    for (i, l) in lines.iter().enumerate() {
        let (us, json) = l.split_once('\t').expect("a tab after the time");
        let us: u64 = us.parse().expect("microseconds");
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["seq"], i as u64, "the message follows, intact");
        let sent = v["t_us"].as_u64().unwrap();
        assert!(
            us >= sent,
            "received ({us}) after the server sent it ({sent})"
        );
        assert!(
            us >= prev && us <= after,
            "{before} <= {us} <= {after}, in order"
        );
        prev = us;
    }
}

#[test]
fn rotation_under_a_1000_msg_s_feed_leaves_no_gap_and_no_disconnect() {
    // `--global-seq`: every connection numbers the feed alike, so a message
    // lost in a switch shows as a gap, one seen twice as a step back.
    let s = Serve::start(&["--rate", "1000", "--global-seq"]);
    let url = format!("{}/binance|max_age=400", s.base);
    common::within(ms(90_000), move || {
        let _server = s;
        let c = wsdial::dial(&url).unwrap();
        let started = std::time::Instant::now();
        let mut seqs: Vec<u64> = Vec::new();
        while c.stats().rotations < 8 {
            assert!(started.elapsed() < ms(60_000), "8 rotations in 60 s");
            match c.read_timeout(ms(5000)).expect("the feed keeps coming") {
                wsdial::Event::Message(m) => {
                    let v: serde_json::Value = serde_json::from_slice(m.as_bytes()).unwrap();
                    seqs.push(v["seq"].as_u64().unwrap());
                }
                wsdial::Event::Disconnected(d) => panic!("a rotation is not a disconnect: {d}"),
            }
        }
        let (mut gaps, mut repeats, mut switches) = (0, 0, 0);
        for w in seqs.windows(2) {
            if w[1] > w[0] + 1 {
                gaps += w[1] - w[0] - 1;
                eprintln!("gap: {} then {}", w[0], w[1]);
            }
            if w[1] <= w[0] {
                repeats += w[0] - w[1] + 1;
                switches += 1;
            }
        }
        let st = c.stats();
        eprintln!(
            "rotation: {} messages, {} rotations, {switches} switches seen as a step back, {repeats} seen twice, {gaps} missing",
            seqs.len(),
            st.rotations
        );
        assert_eq!(
            gaps, 0,
            "no message missing across {} rotations",
            st.rotations
        );
        assert_eq!(st.reconnects, 0);
        assert_eq!(st.dropped, 0);
        assert!(
            seqs.len() as f64 >= started.elapsed().as_secs_f64() * 1000.0 * 0.9,
            "the feed kept its rate: {} in {:?}",
            seqs.len(),
            started.elapsed()
        );
    });
}

#[test]
fn send_flags_then_stdin_lines() {
    let s = Serve::start(&[]);
    let mut c = bin();
    c.args([
        &format!("{}/echo", s.base),
        "--send",
        "first",
        "--send",
        "{\"a\":\"b=c&d\"}",
        "-n",
        "4",
    ]);
    let o = run(c, Some("from stdin 1\nfrom stdin 2\n"), ms(20_000));
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        stdout_lines(&o),
        ["first", "{\"a\":\"b=c&d\"}", "from stdin 1", "from stdin 2"]
    );
}

#[test]
fn binary_messages_as_base64_hex_and_raw() {
    let s = Serve::start(&["--rate", "200"]);
    let sub = r#"{"sub":"market.btcusdt.ticker","id":"t"}"#;
    for fmt in ["base64", "hex", "raw"] {
        let mut c = bin();
        // no compress=: the gzip frames arrive as binary and are printed encoded
        c.args([
            &format!("{}/huobi", s.base),
            "--send",
            sub,
            "-n",
            "2",
            "--no-stdin",
            "--binary",
            fmt,
        ]);
        let o = run(c, None, ms(20_000));
        assert!(o.status.success(), "{fmt}: {o:?}");
        let out = o.stdout;
        let first_nl = out.iter().position(|&b| b == b'\n').unwrap();
        assert!(
            String::from_utf8_lossy(&out[..first_nl]).contains("\"subbed\""),
            "ack first"
        );
        let body = &out[first_nl + 1..out.len() - 1];
        let gz = match fmt {
            "base64" => data_encoding::BASE64.decode(body).unwrap(),
            "hex" => data_encoding::HEXLOWER.decode(body).unwrap(),
            _ => body.to_vec(),
        };
        let mut json = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut json)
            .unwrap();
        assert!(json.contains("market.btcusdt.ticker"), "{fmt}: {json}");
    }
    // with compress=gzip the same feed prints as text
    let mut c = bin();
    c.args([
        &format!("{}/huobi|compress=gzip&payload={sub}", s.base),
        "-n",
        "2",
        "--no-stdin",
    ]);
    let o = run(c, None, ms(20_000));
    assert!(stdout_lines(&o)[1].contains("\"tick\""), "{o:?}");
}

#[test]
fn stats_line_on_stderr() {
    let s = Serve::start(&["--rate", "400"]);
    let mut c = bin();
    c.args([
        &format!("{}/binance", s.base),
        "-n",
        "900",
        "--stats",
        "--no-stdin",
    ]);
    let o = run(c, None, ms(30_000));
    assert!(o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("msg/s")).collect();
    assert!(
        !lines.is_empty() && lines.len() <= 5,
        "one progress line a second: {err}"
    );
    assert!(
        lines[0].contains("dropped 0") && lines[0].contains("reconnects 0"),
        "{err}"
    );
}

#[test]
fn serve_survives_its_stdout_closing_and_the_client_ends_quietly_on_a_closed_pipe() {
    // The reader of `serve`'s stdout is gone before it writes a line: the server must keep serving.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = bin()
        .args(["serve", "--port", &port.to_string(), "--tcp-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // closed before serve prints anything
    let deadline = std::time::Instant::now() + ms(10_000);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not come up"
        );
        std::thread::sleep(ms(5));
    }
    let mut c = bin();
    c.args([
        &format!("ws://127.0.0.1:{port}/binance"),
        "-n",
        "3",
        "--no-stdin",
    ]);
    let o = run(c, None, ms(20_000));
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(alive, "serve died when its stdout closed");
    assert!(o.status.success(), "the server kept serving: {o:?}");
    assert_eq!(stdout_lines(&o).len(), 3);

    // `wsdial … | head -1`: stdout closes under the client; it ends without an error.
    let s = Serve::start(&["--rate", "1000"]);
    let mut c = bin()
        .args([&format!("{}/binance", s.base), "--no-stdin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(c.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("BTCUSDT"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(c.wait_with_output().unwrap()));
    let o = rx
        .recv_timeout(ms(10_000))
        .expect("the client notices the closed pipe");
    assert!(o.status.success(), "{o:?}");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
}

#[test]
fn bad_address_and_failed_dial_exit_1_with_the_message() {
    let mut c = bin();
    c.arg("ws://127.0.0.1:1/|compres=gzip");
    let o = run(c, None, ms(10_000));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unknown option `compres`; did you mean `compress`?"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = bin();
    c.arg(format!("ws://127.0.0.1:{port}/"));
    let o = run(c, None, ms(10_000));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("tcp failed: connect 127.0.0.1:"),
        "{o:?}"
    );
}

#[test]
fn read_timeout_exits_3_and_a_lost_connection_exits_4() {
    let s = Serve::start(&["--drop-after", "3"]);
    let mut c = bin();
    c.args([
        &format!("{}/okx", s.base),
        "--read-timeout",
        "300",
        "--no-stdin",
    ]); // okx waits for a subscribe
    let o = run(c, None, ms(10_000));
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing received for 300 ms"));

    let mut c = bin();
    c.args([&format!("{}/binance", s.base), "--no-stdin"]);
    let o = run(c, None, ms(10_000));
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    assert_eq!(stdout_lines(&o).len(), 3);
    assert!(String::from_utf8_lossy(&o.stderr).contains("disconnected"));
}

#[test]
fn parse_prints_the_spec_vectors_as_json() {
    let cases: &[(&str, &str, serde_json::Value)] = &[
        (
            r#"wss://ws.backpack.exchange|payload={"method":"SUBSCRIBE","signature":["S2V5=","c2ln+bmF0/w=="]}"#,
            "/options/payload/0",
            serde_json::json!(r#"{"method":"SUBSCRIBE","signature":["S2V5=","c2ln+bmF0/w=="]}"#),
        ),
        ("wss://real.okex.com:8443/ws/v3|compress=gzip_raw&payload=%7B%22op%22%3A%22subscribe%22%7D", "/options/payload/0", serde_json::json!(r#"{"op":"subscribe"}"#)),
        (r#"wss://x/ws||payload={"a":"b|c"}&reconnect=true"#, "/options/reconnect", serde_json::json!(true)),
        (r#"wss://x/ws|payload={"u":"https://a/b?x=1&y=2"}&reconnect=true"#, "/options/payload/0", serde_json::json!(r#"{"u":"https://a/b?x=1&y=2"}"#)),
        (r#"wss://x/ws|reconnect=true&payload={"p":"100%"}"#, "/options/payload/0", serde_json::json!(r#"{"p":"100%"}"#)),
        ("wss://x/ws|proxy=socks5://user:p%40ss@127.0.0.1:1080", "/options/proxy/user", serde_json::json!("user")),
        ("wss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade|reconnect=true", "/target/url", serde_json::json!("wss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade")),
        ("wss://x/ws", "/options/qsize", serde_json::json!(2000)),
    ];
    for (addr, pointer, want) in cases {
        let mut c = bin();
        c.args(["parse", addr]);
        let o = run(c, None, ms(10_000));
        assert!(o.status.success(), "{addr}: {o:?}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v.pointer(pointer), Some(want), "{addr}");
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("p@ss"),
            "password hidden"
        );
    }
    for (addr, text) in [
        ("wss://x/ws|compres=gzip", "did you mean `compress`"),
        ("wss://x/ws|mode=both", "dual, send, recv"),
        ("wss://x/ws|interval=abc", "must be milliseconds"),
    ] {
        let mut c = bin();
        c.args(["parse", addr]);
        let o = run(c, None, ms(10_000));
        assert_eq!(o.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(text),
            "{addr}: {o:?}"
        );
    }
}

#[test]
fn demo_short_mode_reconnects_and_exits_0() {
    let mut c = bin();
    c.args(["demo", "--seconds", "4", "--drop-every", "1.5"]);
    let o = run(c, None, ms(30_000));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("summary"), "{out}");
    for feed in ["binance", "huobi", "okx"] {
        let row = out
            .lines()
            .find(|l| l.trim_start().starts_with(feed) && l.split_whitespace().count() == 6)
            .unwrap();
        let cols: Vec<u64> = row
            .split_whitespace()
            .skip(1)
            .map(|c| c.parse().unwrap())
            .collect();
        assert!(cols[0] > 0, "{feed} received: {row}");
        assert!(cols[2] >= 1, "{feed} reconnected: {row}");
        assert_eq!(cols[3], 0, "{feed} gaps: {row}");
    }
}

#[test]
fn parse_warns_of_a_near_miss_inside_a_payload() {
    let mut c = bin();
    c.args(["parse", "wss://x/ws|payload=x&reconect=true"]);
    let o = run(c, None, ms(10_000));
    assert!(o.status.success(), "{o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v.pointer("/options/payload/0"),
        Some(&serde_json::json!("x&reconect=true"))
    );
    assert_eq!(
        v.pointer("/options/reconnect"),
        Some(&serde_json::json!(false))
    );
    let warning = v
        .pointer("/warnings/0")
        .and_then(|w| w.as_str())
        .unwrap_or_default();
    assert!(
        warning.contains("reconect") && warning.contains("did you mean `reconnect`"),
        "{v}"
    );
    // a payload without a near miss has no warning
    let mut c = bin();
    c.args(["parse", r#"wss://x/ws|payload={"u":"https://a/b?x=1&y=2"}"#]);
    let o = run(c, None, ms(10_000));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.pointer("/warnings"), Some(&serde_json::json!([])), "{v}");
}

/// Times and rates on the command line are checked where they are parsed: a
/// value that is not a finite, non-negative number (or is 0 where a positive
/// one is needed) is a usage error (exit 2) that names it, never a panic.
#[test]
fn bad_times_and_rates_are_usage_errors() {
    let cases: &[&[&str]] = &[
        &["ws://127.0.0.1:1/", "--timeout", "inf"],
        &["ws://127.0.0.1:1/", "--timeout", "nan"],
        &["ws://127.0.0.1:1/", "--timeout", "1e30"],
        &["ws://127.0.0.1:1/", "--timeout", "0"],
        &["ws://127.0.0.1:1/", "--timeout=-1"],
        &["serve", "--port", "0", "--rate=-5"],
        &["serve", "--port", "0", "--rate", "inf"],
        &["serve", "--port", "0", "--ping-every", "nan"],
        &["serve", "--port", "0", "--drop-every=-1"],
        &["demo", "--drop-every", "inf"],
    ];
    for args in cases {
        let mut cmd = bin();
        cmd.args(*args);
        let out = run(cmd, None, ms(10_000));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("invalid value"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// `wsdial DATABASE` does not spin on the refused reads (even with
/// reconnect=true): it says to use `wsdial exec` and exits 2 (bad usage).
#[test]
fn a_database_address_is_not_read_and_says_use_exec() {
    let mut cmd = bin();
    cmd.args(["sqlite3://:memory:|reconnect=true", "--send", "SELECT 1"]);
    // No stdin: the client exits before it would read any (a write to its
    // closed pipe would race with that exit).
    let out = run(cmd, None, ms(20_000));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is a database") && err.contains("wsdial exec"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// `wsdial parse … | head -c0` or `wsdial demo | head`: when whoever reads
/// stdout has gone, the command ends quietly (status 0, no panic on stderr)
/// instead of panicking as `println!` does on a closed pipe.
#[test]
fn a_closed_stdout_ends_parse_and_demo_quietly() {
    let cases: [&[&str]; 2] = [
        &["parse", "wss://stream.example/ws|reconnect=true"],
        &["demo", "--seconds", "5"],
    ];
    for args in cases {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let child = bin()
            .args(args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
        let out = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("watchdog: wsdial {args:?} did not end within 30 s with stdout closed");
            });
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "wsdial {args:?} panicked: {err}");
        assert_eq!(out.status.code(), Some(0), "wsdial {args:?}: {err}");
    }
}

/// `wsdial parse` prints a broker's or database's URL with its password
/// written `***`, in every form a password takes (issue 15/16), and says
/// whether a broker address only publishes; an address it refuses is named
/// in the error with the password masked too.
#[test]
fn parse_never_prints_a_password() {
    for (addr, url) in [
        (
            "mqtt://alice:s3cret@127.0.0.1:1883?topic=a/b|reconnect=true",
            "mqtt://alice:***@127.0.0.1:1883?topic=a/b",
        ),
        (
            "mqtts://alice:s3cret@127.0.0.1?topic=t&consume=false",
            "mqtts://alice:***@127.0.0.1?topic=t&consume=false",
        ),
        (
            "nats://bob:s3cret@127.0.0.1:4222?topic=orders.eu",
            "nats://bob:***@127.0.0.1:4222?topic=orders.eu",
        ),
        (
            "amqp://u:s3cret@127.0.0.1:5672/%2F?queue=q",
            "amqp://u:***@127.0.0.1:5672/%2F?queue=q",
        ),
        (
            "amqps://u:s3cret@127.0.0.1/?queue=q",
            "amqps://u:***@127.0.0.1/?queue=q",
        ),
        (
            "kafka://u:s3cret@127.0.0.1:9092,[::1]:9093/ticks?mechanism=plain",
            "kafka://u:***@127.0.0.1:9092,[::1]:9093/ticks?mechanism=plain",
        ),
        (
            "postgres://u:s3cret@127.0.0.1:5432/d",
            "postgres://u:***@127.0.0.1:5432/d",
        ),
        (
            "postgres://host=127.0.0.1 user=u password=s3cret dbname=d",
            "postgres://host=127.0.0.1 user=u password=*** dbname=d",
        ),
        (
            "mysql://u:s3cret@tcp(127.0.0.1:3306)/d",
            "mysql://u:***@tcp(127.0.0.1:3306)/d",
        ),
        (
            "clickhouse://127.0.0.1:8123?user=u&password=s3cret",
            "clickhouse://127.0.0.1:8123?user=u&password=***",
        ),
        (
            "clickhouse://tcp://127.0.0.1:9000?password=s3cret",
            "clickhouse://tcp://127.0.0.1:9000?password=***",
        ),
    ] {
        let mut c = bin();
        c.args(["parse", addr]);
        let o = run(c, None, ms(10_000));
        assert!(o.status.success(), "{addr}: {o:?}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!all.contains("s3cret"), "{addr}: {all}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            v.pointer("/target/url"),
            Some(&serde_json::json!(url)),
            "{addr}"
        );
        let publish_only = addr.contains("consume=false");
        assert_eq!(
            v.pointer("/target/publish_only"),
            Some(&serde_json::json!(publish_only)),
            "{addr}"
        );
    }
    // Refused addresses: the error names the address, masked.
    for addr in [
        "mqtt://alice:s3cret@127.0.0.1?topic=a&qos=7",
        "nats://bob:s3cret@127.0.0.1?topic=a..b",
        "amqp://u:s3cret@127.0.0.1/?queue=q&consume=maybe",
        "kafka://u:s3cret@127.0.0.1/t?consume=false&group=g",
        "postgres://host=127.0.0.1 password=s3cret port=x",
    ] {
        let mut c = bin();
        c.args(["parse", addr]);
        let o = run(c, None, ms(10_000));
        assert_eq!(o.status.code(), Some(2), "{addr}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("***"), "{addr}: {err}");
        assert!(!err.contains("s3cret"), "{addr}: {err}");
    }
}
