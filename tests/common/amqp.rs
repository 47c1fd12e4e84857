#![allow(dead_code)] // each test file uses a different part
//! The RabbitMQ that scripts/servers.d/rabbitmq.sh started for the whole
//! suite (WSDIAL_AMQP_PORT, _USER, _PASS, _DIR), or, when those are unset, one
//! started here through the same script and stopped when the `Rabbit` is
//! dropped. And the pika client of tests/peers/amqp_client.py.
use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};

use std::path::PathBuf;

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

pub struct Rabbit {
    pub port: u16,
    pub user: String,
    pub pass: String,
    dir: String,
    own: bool,
}

impl Rabbit {
    /// The suite's RabbitMQ, or a new one (about 11 s).
    pub fn get() -> Rabbit {
        if let (Ok(port), Ok(user), Ok(pass), Ok(dir)) = (
            std::env::var("WSDIAL_AMQP_PORT"),
            std::env::var("WSDIAL_AMQP_USER"),
            std::env::var("WSDIAL_AMQP_PASS"),
            std::env::var("WSDIAL_AMQP_DIR"),
        ) {
            return Rabbit {
                port: port.parse().unwrap(),
                user,
                pass,
                dir,
                own: false,
            };
        }
        let out = Command::new("bash")
            .arg(repo().join("scripts/servers.d/rabbitmq.sh"))
            .arg("start")
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/servers.d/rabbitmq.sh");
        assert!(
            out.status.success(),
            "RabbitMQ did not start (run scripts/peers first)"
        );
        let line = String::from_utf8(out.stdout).unwrap();
        let var = |name: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("rabbitmq.sh printed no {name}: {line}"))
                .to_owned()
        };
        Rabbit {
            port: var("WSDIAL_AMQP_PORT").parse().unwrap(),
            user: var("WSDIAL_AMQP_USER"),
            pass: var("WSDIAL_AMQP_PASS"),
            dir: var("WSDIAL_AMQP_DIR"),
            own: true,
        }
    }

    /// `amqp://USER:PASS@127.0.0.1:PORT/?queue=QUEUE`.
    pub fn url(&self, queue: &str) -> String {
        format!(
            "amqp://{}:{}@127.0.0.1:{}/?queue={queue}",
            self.user, self.pass, self.port
        )
    }

    /// `rabbitmqctl ARGS` on this node (as the rabbitmq user); true when it succeeded.
    pub fn ctl(&self, args: &str) -> bool {
        Command::new("su")
            .args(["rabbitmq", "-s", "/bin/bash", "-c"])
            .arg(format!(". '{}/env.sh'; rabbitmqctl -q {args}", self.dir))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        if self.own {
            let _ = Command::new("bash")
                .arg(repo().join("scripts/servers.d/rabbitmq.sh"))
                .args(["stop", &self.dir])
                .status();
        }
    }
}

/// The pika client (tests/peers/amqp_client.py) with `args`; its stdout lines.
pub struct Pika {
    child: Child,
    pub lines: Lines<BufReader<ChildStdout>>,
}

impl Pika {
    pub fn run(r: &Rabbit, args: &[&str]) -> Pika {
        Pika::start(r, args, false)
    }

    /// `run`, declaring the queue durable.
    pub fn run_durable(r: &Rabbit, args: &[&str]) -> Pika {
        Pika::start(r, args, true)
    }

    fn start(r: &Rabbit, args: &[&str], durable: bool) -> Pika {
        let mut child = Command::new(peer("venv/bin/python"))
            .arg(repo().join("tests/peers/amqp_client.py"))
            .args([&r.port.to_string(), &r.user, &r.pass])
            .args(args)
            .env("DURABLE", if durable { "1" } else { "0" })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start amqp_client.py (run scripts/peers)");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Pika { child, lines }
    }

    pub fn line(&mut self) -> String {
        self.lines.next().expect("amqp_client.py ended").unwrap()
    }

    pub fn wait(mut self) -> bool {
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for Pika {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
