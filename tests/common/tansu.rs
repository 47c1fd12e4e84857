#![allow(dead_code)] // each test file uses a different part
//! tansu, the Kafka-compatible broker (installed by scripts/peers.d/kafka.sh),
//! one per test on a free 127.0.0.1 port, with the memory storage engine;
//! and the third-party client confluent-kafka (tests/peers/kafka_client.py).
//!
//! Self-contained (no other helper), so the command line's tests include it
//! too, with `#[path]`.
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root (this file serves the library's tests and the command line's).
fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if here.join(".peers").exists() || !here.join("../.peers").exists() {
        here
    } else {
        here.join("..")
    }
}

/// A path under `.peers/`; fails the test with the fix when the peers are missing.
fn peer_path(rel: &str) -> PathBuf {
    let p = root().join(".peers").join(rel);
    assert!(
        p.exists(),
        "{} is missing: run scripts/peers (scripts/test does)",
        p.display()
    );
    p
}

/// A tansu broker; killed when dropped.
pub struct Tansu {
    child: Option<Child>,
    pub port: u16,
}

impl Tansu {
    /// Starts a broker on a free port and waits (at most 10 s) until it accepts.
    pub fn start() -> Tansu {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Tansu::start_on(port)
    }

    /// Starts a broker on `port` (a restart after `kill`).
    pub fn start_on(port: u16) -> Tansu {
        Tansu::launch(port, &[])
    }

    /// Starts a broker that requires SASL (`--authentication`). tansu 0.6
    /// offers only SCRAM-SHA-256/512 and, with its memory storage, keeps no
    /// SCRAM credentials (creating a user succeeds but stores nothing), so
    /// every user is refused: it can test refusals, not an accepted login.
    pub fn start_with_auth() -> Tansu {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Tansu::launch(port, &["--authentication"])
    }

    fn launch(port: u16, more: &[&str]) -> Tansu {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(peer_path("bin/tansu"))
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/", "--silent"])
            .args(more)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let t = Tansu {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {port} in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        t
    }

    /// `host:port`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `kafka://127.0.0.1:PORT/TOPIC` followed by `rest` (query and options).
    pub fn url(&self, topic: &str, rest: &str) -> String {
        format!("kafka://127.0.0.1:{}/{topic}{rest}", self.port)
    }

    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(peer_path("bin/tansu"))
            .args([
                "topic",
                "create",
                topic,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .expect("tansu topic create");
        assert!(out.status.success(), "tansu topic create: {out:?}");
    }

    /// Kills the broker (its memory storage goes with it) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

/// tests/peers/kafka_client.py (confluent-kafka) with these arguments.
pub fn python_client(args: &[&str]) -> Command {
    let mut cmd = Command::new(peer_path("venv/bin/python"));
    cmd.arg(root().join("tests/peers/kafka_client.py"))
        .args(args);
    cmd
}

/// Publishes `lines` to `topic` with confluent-kafka (one message each, flushed).
pub fn python_produce(bootstrap: &str, topic: &str, lines: &[String]) {
    produce(bootstrap, topic, lines, "produce")
}

/// The same, each message in a batch of its own: tansu 0.6 reports a
/// partition's high watermark as its last batch's base offset + 1, which is
/// right only when that batch holds one message.
pub fn python_produce_each(bootstrap: &str, topic: &str, lines: &[String]) {
    produce(bootstrap, topic, lines, "produce1")
}

fn produce(bootstrap: &str, topic: &str, lines: &[String], mode: &str) {
    let mut child = python_client(&[mode, bootstrap, topic])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python producer");
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python producer: {out:?}");
}

/// Reads `n` messages of `topic` from its start with confluent-kafka (at
/// most `secs` seconds): their payloads, in partition then offset order.
pub fn python_consume(bootstrap: &str, topic: &str, n: usize, secs: u32) -> Vec<String> {
    let out = python_client(&[
        "consume",
        bootstrap,
        topic,
        &n.to_string(),
        &secs.to_string(),
    ])
    .stderr(Stdio::inherit())
    .output()
    .expect("python consumer");
    assert!(out.status.success(), "python consumer: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}
