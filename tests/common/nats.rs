#![allow(dead_code)] // each test file uses a different part
//! A private nats-server (Debian's, installed by scripts/peers) per test, on a
//! free 127.0.0.1 port, with user alice / s3cret; it can be killed and started
//! again on the same port. And the nats-py client of tests/peers/nats_client.py.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[allow(clippy::duplicate_mod)] // a test may take both nats.rs and amqp.rs
#[path = "script.rs"]
mod script;
#[allow(unused_imports)] // each test file uses a different part
pub use script::{free_port, peer, repo, Script};

pub const USER: &str = "alice";
pub const PASS: &str = "s3cret";

/// One nats-server; killed when dropped.
pub struct Nats {
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
    tls: bool,
}

impl Nats {
    /// A nats-server that wants alice / s3cret.
    pub fn start() -> Nats {
        Nats::with(false)
    }

    /// A nats-server that requires TLS, with a certificate for localhost and
    /// 127.0.0.1 signed by a CA of its own (`ca()`; webpki, which async-nats
    /// uses, refuses a self-signed CA certificate as a server's).
    pub fn start_tls() -> Nats {
        Nats::with(true)
    }

    fn with(tls: bool) -> Nats {
        let dir = std::env::temp_dir().join(format!(
            "wsdial-nats-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut n = Nats {
            port: free_port(),
            child: None,
            dir,
            tls,
        };
        n.restart();
        n
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut conf = format!(
            "listen: 127.0.0.1:{}\nauthorization {{ user: {USER}, password: {PASS} }}\nmax_payload: 8388608\n",
            self.port
        );
        if self.tls {
            self.make_certificates();
            conf += &format!(
                "tls {{ cert_file: \"{}\", key_file: \"{}\" }}\n",
                self.dir.join("cert.pem").display(),
                self.dir.join("key.pem").display()
            );
        }
        let path = self.dir.join("nats.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("nats-server is missing ({e}): run scripts/peers (scripts/test does)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not come up on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The CA that signed a TLS server's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn make_certificates(&self) {
        if self.dir.join("cert.pem").exists() {
            return;
        }
        std::fs::write(
            self.dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        for args in [
            "req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=wsdial-nats-test-ca",
            "req -newkey rsa:2048 -nodes -keyout key.pem -out req.csr -subj /CN=localhost",
            "x509 -req -in req.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 -extfile ext.cnf",
        ] {
            let ok = Command::new("openssl")
                .args(args.split(' '))
                .current_dir(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "openssl {args} failed");
        }
    }

    /// Kills the server (SIGKILL: no goodbye to the clients).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `nats://alice:s3cret@127.0.0.1:PORT?topic=SUBJECT`.
    pub fn url(&self, subject: &str) -> String {
        format!(
            "nats://{USER}:{PASS}@127.0.0.1:{}?topic={subject}",
            self.port
        )
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The nats-py client (tests/peers/nats_client.py) with `args`; its stdout lines.
pub type PyNats = Script;

impl PyNats {
    pub fn run(server: &Nats, args: &[&str]) -> PyNats {
        Script::start("nats_client.py", |c| {
            c.arg(format!("nats://{USER}:{PASS}@127.0.0.1:{}", server.port))
                .args(args)
        })
    }
}
