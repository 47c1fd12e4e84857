#![allow(dead_code)] // each test file uses a different part
//! A private mosquitto broker (Debian's, installed by scripts/peers.d/mqtt.sh)
//! for one test: its own temp dir, config and password file, a plain and a
//! TLS listener on free 127.0.0.1 ports; killed (by PID) on drop, and
//! restartable on the same ports. Users: `alice` / `s3cret`.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const USER: &str = "alice";
pub const PASS: &str = "s3cret";

pub struct Mosquitto {
    dir: PathBuf,
    pub port: u16,
    pub tls_port: u16,
    child: Option<Child>,
}

fn program(name: &str) -> String {
    for dir in ["/usr/sbin", "/usr/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p.display().to_string();
        }
    }
    panic!("{name} is missing: run scripts/peers (scripts/test does)");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The repository's self-signed certificate for localhost (made by scripts/peers).
pub fn cert() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".peers/cert.pem");
    let p = if p.exists() {
        p
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../.peers/cert.pem")
    };
    assert!(p.exists(), "{} is missing: run scripts/peers", p.display());
    p
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wsdial-mosquitto-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = cert();
        std::fs::copy(&cert, dir.join("cert.pem")).unwrap();
        std::fs::copy(cert.with_file_name("key.pem"), dir.join("key.pem")).unwrap();
        let passwd = dir.join("passwd");
        let ok = Command::new(program("mosquitto_passwd"))
            .args(["-b", "-c"])
            .arg(&passwd)
            .args([USER, PASS])
            .status()
            .unwrap()
            .success();
        assert!(ok, "mosquitto_passwd failed");
        // mosquitto drops root privileges to its own user: it must read these.
        for f in ["cert.pem", "key.pem", "passwd"] {
            let _ = Command::new("chmod").arg("644").arg(dir.join(f)).status();
        }
        let _ = Command::new("chmod").arg("755").arg(&dir).status();
        let (port, tls_port) = (free_port(), free_port());
        let d = dir.display();
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "per_listener_settings false\nallow_anonymous false\npassword_file {d}/passwd\n\
                 persistence false\nlog_dest none\nmax_queued_messages 100000\n\
                 listener {port} 127.0.0.1\n\
                 listener {tls_port} 127.0.0.1\ncertfile {d}/cert.pem\nkeyfile {d}/key.pem\n"
            ),
        )
        .unwrap();
        let mut m = Mosquitto {
            dir,
            port,
            tls_port,
            child: None,
        };
        m.restart();
        m
    }

    /// Starts the broker (again) on the same ports; waits until it listens.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(program("mosquitto"))
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(listening(self.port) && listening(self.tls_port)) {
            assert!(Instant::now() < deadline, "mosquitto did not come up");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sets `user`'s password in the broker's password file: read at the
    /// next [`restart`](Self::restart).
    pub fn set_password(&self, user: &str, pass: &str) {
        let passwd = self.dir.join("passwd");
        let ok = Command::new(program("mosquitto_passwd"))
            .arg("-b")
            .arg(&passwd)
            .args([user, pass])
            .status()
            .unwrap()
            .success();
        assert!(ok, "mosquitto_passwd failed");
        let _ = Command::new("chmod").arg("644").arg(&passwd).status();
    }

    /// Kills the broker (SIGKILL, by PID) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `mqtt://alice:s3cret@127.0.0.1:PORT?topic=TOPIC`.
    pub fn url(&self, topic: &str) -> String {
        format!(
            "mqtt://{USER}:{PASS}@127.0.0.1:{}?topic={}",
            self.port,
            topic.replace('#', "%23")
        )
    }

    /// mosquitto_pub's arguments for this broker (and `-t topic`).
    pub fn client_args(&self, topic: &str) -> Vec<String> {
        [
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-u",
            USER,
            "-P",
            PASS,
            "-t",
            topic,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Publishes each of `lines` to `topic` with mosquitto_pub (one process).
    pub fn publish(&self, topic: &str, lines: &[String]) {
        self.publish_qos(topic, lines, 0)
    }

    /// [`publish`](Self::publish) with this QoS.
    pub fn publish_qos(&self, topic: &str, lines: &[String], qos: u8) {
        use std::io::Write;
        let mut c = Command::new(program("mosquitto_pub"))
            .args(self.client_args(topic))
            .args(["-q", &qos.to_string(), "-l"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut stdin = c.stdin.take().unwrap();
            for l in lines {
                writeln!(stdin, "{l}").unwrap();
            }
        }
        assert!(c.wait().unwrap().success(), "mosquitto_pub failed");
    }

    /// Starts mosquitto_sub on `topic` for `count` messages; subscribed when
    /// this returns (it waits for the SUBACK line of its `-d` output).
    pub fn subscriber(&self, topic: &str, count: usize) -> Subscriber {
        self.subscriber_qos(topic, count, 0, 10)
    }

    /// [`subscriber`](Self::subscriber) subscribed with this QoS, giving up
    /// after `give_up_s` seconds.
    pub fn subscriber_qos(&self, topic: &str, count: usize, qos: u8, give_up_s: u32) -> Subscriber {
        use std::io::{BufRead, BufReader};
        // Line-buffered (stdbuf), else its lines wait in a pipe's buffer;
        // -W: it gives up rather than outlive a failed test.
        let mut c = Command::new("stdbuf")
            .arg("-oL")
            .arg(program("mosquitto_sub"))
            .args(self.client_args(topic))
            .args(["-q", &qos.to_string()])
            .args(["-C", &count.to_string(), "-W", &give_up_s.to_string()])
            .args(["-d", "-v"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(c.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "mosquitto_sub ended before subscribing"
            );
            if line.contains("SUBACK") {
                break;
            }
        }
        Subscriber { child: c, out }
    }
}

/// A running mosquitto_sub; `lines` waits for it to end (after its count).
pub struct Subscriber {
    child: Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Subscriber {
    /// The "topic payload" lines it printed (its debug lines left out;
    /// bytes that are not UTF-8 shown as U+FFFD).
    pub fn lines(self) -> Vec<String> {
        self.received().0
    }

    /// [`lines`](Self::lines), and the QoS each message was delivered with
    /// (from the `received PUBLISH (d0, q1, …)` lines of its `-d` output: the
    /// lower of the publisher's and the subscription's).
    pub fn received(mut self) -> (Vec<String>, Vec<u8>) {
        use std::io::BufRead;
        let (mut v, mut qos) = (Vec::new(), Vec::new());
        let mut line = Vec::new();
        while self.out.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            let l = String::from_utf8_lossy(&line).trim_end().to_owned();
            if let Some(q) = l
                .split_once("received PUBLISH (")
                .and_then(|(_, rest)| rest.split(", ").nth(1))
                .and_then(|q| q.strip_prefix('q'))
            {
                qos.push(q.parse().unwrap_or_else(|_| panic!("no QoS in {l:?}")));
            } else if !l.starts_with("Client ") && !l.starts_with("Subscribed ") {
                v.push(l);
            }
            line.clear();
        }
        let _ = self.child.wait();
        (v, qos)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
