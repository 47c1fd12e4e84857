//! What the tests of the relay and of `wsdial exec` share: the binary, a
//! watchdog run, the simulator, reading its output, and the library's examples.
#![allow(dead_code)]
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wsdial"))
}

/// Runs a command to completion (stdin written then closed); kills it and
/// fails the test after `limit`.
pub fn run(cmd: Command, stdin: Option<&str>, limit: Duration) -> Output {
    run_with(cmd, stdin, false, limit)
}

/// [`run`], with stdin (when given) left open after it is written, as a
/// terminal's is: the command does not see end of input.
pub fn run_stdin_open(cmd: Command, stdin: Option<&str>, limit: Duration) -> Output {
    run_with(cmd, stdin, true, limit)
}

fn run_with(mut cmd: Command, stdin: Option<&str>, keep_open: bool, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(if stdin.is_some() || !keep_open {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = child.stdin.take();
    if let (Some(w), Some(input)) = (w.as_mut(), stdin) {
        w.write_all(input.as_bytes()).unwrap();
    }
    if keep_open {
        std::mem::forget(w);
    } else {
        drop(w);
    }
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    match rx.recv_timeout(limit) {
        Ok(out) => out,
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("watchdog: {cmd:?} did not finish within {limit:?}");
        }
    }
}

/// `wsdial serve --port 0 …`; killed on drop.
pub struct Serve {
    child: Child,
    pub base: String,
}

impl Serve {
    pub fn start(args: &[&str]) -> Serve {
        let mut child = bin()
            .args(["serve", "--port", "0", "--tcp-port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line.trim().rsplit(' ').next().unwrap().to_owned();
        assert!(base.starts_with("ws://127.0.0.1:"), "{line}");
        Serve { child, base }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn seq(line: &str) -> u64 {
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    v["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seq: {line}"))
}

/// The last line of `--stats` output (the totals at the end).
pub fn totals(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .rfind(|l| l.contains("relayed "))
        .unwrap_or_else(|| panic!("no stats line: {o:?}"))
        .to_owned()
}

/// `wsdial SIM/binance --to TO -n N --stats` from a new simulator sending
/// `rate` messages a second; asserts what [`relay_n`] does.
pub fn relay_feed(to: &str, rate: u32, n: u64) -> Output {
    let s = Serve::start(&["--rate", &rate.to_string()]);
    relay_n(&[&format!("{}/binance", s.base), "--to", to, "--stats"], n)
}

/// `wsdial ARGS -n N` (ARGS a relay with `--stats`); asserts it ended with 0
/// and that its final totals say N relayed, 0 dropped, 0 unsent.
pub fn relay_n(args: &[&str], n: u64) -> Output {
    let mut c = bin();
    c.args(args).args(["-n", &n.to_string()]);
    let o = run(c, None, Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let total = totals(&o);
    assert!(
        total.starts_with(&format!("relayed {n}  dropped 0  unsent 0  ")),
        "{total}"
    );
    o
}

/// Fails unless the relay's totals say TO's own connection received nothing:
/// a broker TO dialed publish-only (`consume=false`) reads none of what it
/// published, nor anything else.
pub fn assert_to_received_nothing(o: &Output) {
    let total = totals(o);
    assert!(total.ends_with("  TO received 0"), "{total}");
}

/// Fails unless `seqs` is exactly 0, 1, …, n-1: every message once, in order.
pub fn assert_every_seq_once_in_order(who: &str, seqs: &[u64], n: u64) {
    if seqs != (0..n).collect::<Vec<u64>>() {
        let missing: Vec<u64> = (0..n).filter(|i| !seqs.contains(i)).collect();
        let first = |v: &[u64]| format!("{:?}", &v[..v.len().min(20)]);
        panic!(
            "{who}: got {} messages, wanted 0..{n} once each in order; {} missing, the first: {}; got, first: {}",
            seqs.len(),
            missing.len(),
            first(&missing),
            first(seqs)
        );
    }
}

/// The executable of the library's example NAME. The first call runs
/// `cargo build --workspace --examples` (this test's profile, the caller's target
/// directory) and takes the paths from its messages: a no-op after
/// `cargo test --workspace`, which has built them with the same features, and the
/// build that `cargo test -p wsdial-cli` alone would skip.
pub fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-q", "--workspace", "--examples"])
            .arg("--message-format=json-render-diagnostics")
            .arg("--manifest-path")
            .arg(manifest);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let o = cmd.stderr(Stdio::piped()).output().unwrap();
        assert!(
            o.status.success(),
            "building the examples failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut built = HashMap::new();
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            let Ok(m) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if m["reason"] == "compiler-artifact"
                && m["target"]["kind"] == serde_json::json!(["example"])
            {
                if let (Some(n), Some(exe)) =
                    (m["target"]["name"].as_str(), m["executable"].as_str())
                {
                    built.insert(n.to_owned(), PathBuf::from(exe));
                }
            }
        }
        built
    });
    match built.get(name) {
        Some(p) => p.clone(),
        None => panic!("cargo built no example {name} (built: {:?})", built.keys()),
    }
}
