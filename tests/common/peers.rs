#![allow(dead_code)] // each test file uses a different part
//! Third-party peers installed by `scripts/peers` under `.peers/`.
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `.peers/`; fails the test with the fix when the peers are missing.
pub fn peer_path(rel: &str) -> PathBuf {
    let p = root().join(".peers").join(rel);
    assert!(
        p.exists(),
        "{} is missing: run scripts/peers (scripts/test does)",
        p.display()
    );
    p
}

/// A peer process; killed when dropped.
pub struct Peer {
    child: Child,
    pub port: u16,
}

impl Peer {
    /// Starts a program that prints its port on its first stdout line.
    pub fn start(mut cmd: Command) -> Peer {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start peer");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("peer printed {line:?}, not a port"));
        Peer { child, port }
    }

    /// The Python `websockets` server of tests/peers/ws_server.py.
    pub fn python_ws(args: &[&str]) -> Peer {
        let mut cmd = Command::new(peer_path("venv/bin/python"));
        cmd.arg(root().join("tests/peers/ws_server.py")).args(args);
        Peer::start(cmd)
    }

    /// The Node `ws` server of tests/peers/ws_server.js (permessage-deflate on).
    pub fn node_ws(args: &[&str]) -> Peer {
        let mut cmd = Command::new("node");
        cmd.env("NODE_PATH", peer_path("node/node_modules"))
            .arg(root().join("tests/peers/ws_server.js"))
            .args(args);
        Peer::start(cmd)
    }

    /// The Python `websockets` server over TLS, with the self-signed certificate
    /// from `scripts/peers`; returns the peer and the certificate's path.
    pub fn python_wss() -> (Peer, PathBuf) {
        Peer::python_wss_with(&[])
    }

    /// `python_wss` with more arguments for the server.
    pub fn python_wss_with(extra: &[&str]) -> (Peer, PathBuf) {
        let (cert, key) = (peer_path("cert.pem"), peer_path("key.pem"));
        let mut args = vec!["--tls", cert.to_str().unwrap(), key.to_str().unwrap()];
        args.extend_from_slice(extra);
        let peer = Peer::python_ws(&args);
        (peer, cert)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound, then released for a peer to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed on drop (for peers that do not print a port).
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a peer daemon from Debian and waits (with a deadline) until `ready` holds.
pub fn daemon(program: &str, args: &[&str], mut ready: impl FnMut() -> bool) -> Proc {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{program} is missing ({e}): run scripts/peers (scripts/test does)")
        });
    let p = Proc(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "{program} {args:?} did not come up"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    p
}

/// Starts `socat ARGS…` and waits until `ready` holds.
pub fn socat(args: &[&str], ready: impl FnMut() -> bool) -> Proc {
    daemon("socat", args, ready)
}

/// True once something accepts TCP connections on 127.0.0.1:port.
pub fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}
