//! What tests/common/nats.rs and tests/common/amqp.rs share (each includes
//! this file, so that a test can take either without the rest of `common`):
//! the repository root, the peers, a free port, and a third-party client
//! script run as a child whose stdout is read line by line.
use std::io::{BufRead, BufReader, Lines};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

/// The repository root (this file is included by the library's tests and the CLI's).
pub fn repo() -> PathBuf {
    let mut d = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !d.join("scripts/peers").exists() {
        assert!(
            d.pop(),
            "no repository root above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
    d
}

/// A path under `.peers/`; fails the test with the fix when the peers are missing.
pub fn peer(rel: &str) -> PathBuf {
    let p = repo().join(".peers").join(rel);
    assert!(
        p.exists(),
        "{} is missing: run scripts/peers (scripts/test does)",
        p.display()
    );
    p
}

/// A free loopback port (bound, then released for a server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Python client script under tests/peers/ running with the peers' venv;
/// killed when dropped.
pub struct Script {
    name: &'static str,
    child: Child,
    /// Its stdout, line by line.
    pub lines: Lines<BufReader<ChildStdout>>,
}

impl Script {
    /// Starts `tests/peers/NAME` with the arguments and environment `cmd`
    /// adds to the venv's python (stdin null, stdout read, stderr shown).
    pub fn start(name: &'static str, cmd: impl FnOnce(&mut Command) -> &mut Command) -> Script {
        let mut python = Command::new(peer("venv/bin/python"));
        python.arg(repo().join("tests/peers").join(name));
        let mut child = cmd(&mut python)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({e}): run scripts/peers"));
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Script { name, child, lines }
    }

    /// The next line it printed (panics at its end).
    pub fn line(&mut self) -> String {
        let name = self.name;
        self.lines
            .next()
            .unwrap_or_else(|| panic!("{name} ended"))
            .unwrap()
    }

    /// Waits for it to exit; true when it succeeded.
    pub fn wait(mut self) -> bool {
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
