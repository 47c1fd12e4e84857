#![allow(dead_code)] // each test file uses a different part
//! The RabbitMQ that scripts/servers.d/rabbitmq.sh started for the whole
//! suite (WSDIAL_AMQP_PORT, _USER, _PASS, _DIR, and its TLS listener's
//! _TLS_PORT and _CA), or, when those are unset, one started here through the
//! same script and stopped when the `Rabbit` is dropped; or one of a test's
//! own ([`Rabbit::own`]), which it may kill. And the pika client of
//! tests/peers/amqp_client.py.
use std::process::{Command, Stdio};

#[allow(clippy::duplicate_mod)] // a test may take both nats.rs and amqp.rs
#[path = "script.rs"]
mod script;
#[allow(unused_imports)] // each test file uses a different part
pub use script::{free_port, peer, repo, Script};

pub struct Rabbit {
    pub port: u16,
    pub user: String,
    pub pass: String,
    /// The TLS (amqps) listener's port, and the PEM file of the CA that
    /// signed its certificate (which no system trusts).
    pub tls_port: u16,
    pub ca: String,
    dir: String,
    own: bool,
}

impl Rabbit {
    /// The suite's RabbitMQ, or a new one (about 11 s).
    pub fn get() -> Rabbit {
        if let (Ok(port), Ok(user), Ok(pass), Ok(dir), Ok(tls_port), Ok(ca)) = (
            std::env::var("WSDIAL_AMQP_PORT"),
            std::env::var("WSDIAL_AMQP_USER"),
            std::env::var("WSDIAL_AMQP_PASS"),
            std::env::var("WSDIAL_AMQP_DIR"),
            std::env::var("WSDIAL_AMQP_TLS_PORT"),
            std::env::var("WSDIAL_AMQP_CA"),
        ) {
            return Rabbit {
                port: port.parse().unwrap(),
                user,
                pass,
                tls_port: tls_port.parse().unwrap(),
                ca,
                dir,
                own: false,
            };
        }
        Rabbit::own()
    }

    /// A RabbitMQ of the caller's own (about 11 s), on its own ports, node
    /// name and directory: one it may kill. Stopped when dropped.
    pub fn own() -> Rabbit {
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
            tls_port: var("WSDIAL_AMQP_TLS_PORT").parse().unwrap(),
            ca: var("WSDIAL_AMQP_CA"),
            dir: var("WSDIAL_AMQP_DIR"),
            own: true,
        }
    }

    /// Kills the node with SIGKILL (no goodbye to any client) and waits, at
    /// most 10 s, until its process is gone. Only for a [`Rabbit::own`].
    pub fn kill(&self) {
        assert!(self.own, "the suite's shared RabbitMQ is not to be killed");
        let node = format!("wsdial{}@localhost", self.port);
        let pidfile = format!("{}/mnesia/{node}.pid", self.dir);
        let pid = std::fs::read_to_string(&pidfile)
            .unwrap_or_else(|e| panic!("{pidfile}: {e}"))
            .trim()
            .to_owned();
        assert!(
            Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .unwrap()
                .success(),
            "kill -KILL {pid}"
        );
        let proc_dir = format!("/proc/{pid}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::path::Path::new(&proc_dir).exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "RabbitMQ {pid} outlived SIGKILL"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Starts the node again after [`kill`](Self::kill), on the same ports;
    /// returns once it is up (rabbitmq.sh waits, 90 s at most).
    pub fn restart(&self) {
        let ok = Command::new("bash")
            .arg(repo().join("scripts/servers.d/rabbitmq.sh"))
            .args(["restart", &self.dir])
            .stderr(Stdio::inherit())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "RabbitMQ did not start again");
    }

    /// `amqp://USER:PASS@127.0.0.1:PORT/?queue=QUEUE`.
    pub fn url(&self, queue: &str) -> String {
        format!(
            "amqp://{}:{}@127.0.0.1:{}/?queue={queue}",
            self.user, self.pass, self.port
        )
    }

    /// `rabbitmqctl ARGS` on this node (as the rabbitmq user).
    fn ctl_command(&self, args: &str) -> Command {
        let mut c = Command::new("su");
        c.args(["rabbitmq", "-s", "/bin/bash", "-c"])
            .arg(format!(". '{}/env.sh'; rabbitmqctl -q {args}", self.dir))
            .stderr(Stdio::inherit());
        c
    }

    /// `rabbitmqctl ARGS` on this node; true when it succeeded.
    pub fn ctl(&self, args: &str) -> bool {
        self.ctl_command(args)
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// `rabbitmqctl ARGS` on this node; what it printed (empty if it failed).
    pub fn ctl_output(&self, args: &str) -> String {
        self.ctl_command(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
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
pub type Pika = Script;

impl Pika {
    pub fn run(r: &Rabbit, args: &[&str]) -> Pika {
        Pika::spawn(r, args, false, false)
    }

    /// `run`, declaring the queue durable.
    pub fn run_durable(r: &Rabbit, args: &[&str]) -> Pika {
        Pika::spawn(r, args, true, false)
    }

    /// `run` over TLS (the TLS listener, the certificate checked with the CA).
    pub fn run_tls(r: &Rabbit, args: &[&str]) -> Pika {
        Pika::spawn(r, args, false, true)
    }

    fn spawn(r: &Rabbit, args: &[&str], durable: bool, tls: bool) -> Pika {
        let port = if tls { r.tls_port } else { r.port };
        Script::start("amqp_client.py", |c| {
            c.args([&port.to_string(), &r.user, &r.pass])
                .args(args)
                .env("DURABLE", if durable { "1" } else { "0" })
                .env("AMQP_CA", if tls { r.ca.as_str() } else { "" })
        })
    }
}
