//! Database servers for the database tests: each started on 127.0.0.1 on a
//! free port in a temporary folder of its own, as its own user, and stopped
//! (and the folder removed) when dropped. A reaper shell waits for the test
//! process to end and stops the server too, so a test that panics, or a
//! server kept in a `static`, leaves nothing running.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The password of every test server's user.
pub const PASSWORD: &str = "s3cret";

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A temporary folder owned by `user`.
fn temp_dir(what: &str, user: &str) -> PathBuf {
    let dir = sh(&format!("mktemp -d /tmp/wsdial-{what}-XXXXXX"))
        .trim()
        .to_owned();
    sh(&format!("chown {user}: {dir} && chmod 755 {dir}"));
    PathBuf::from(dir)
}

/// Runs `stop` (a shell command) and removes `dir` once this test process has
/// ended. The reaper outlives this process on purpose (it is never waited for).
#[allow(clippy::zombie_processes)]
fn reaper(stop: &str, dir: &Path) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("setsid")
        .arg("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("reaper");
}

/// Waits until something listens on 127.0.0.1:`port`.
pub fn wait_port(port: u16, limit: Duration) {
    let end = Instant::now() + limit;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < end,
            "nothing listens on 127.0.0.1:{port} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const PGBIN: &str = "/usr/lib/postgresql/15/bin";

/// PostgreSQL 15: user `postgres` with password [`PASSWORD`] over TCP
/// (scram-sha-256), TLS on (a self-signed certificate), database `postgres`.
pub struct Postgres {
    pub port: u16,
    pub dir: PathBuf,
}

impl Postgres {
    pub fn start() -> Postgres {
        let dir = temp_dir("pg", "postgres");
        let d = dir.display();
        sh(&format!(
            "cd {d} && echo {PASSWORD} > pwfile && \
             openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 \
               -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null && \
             chown postgres: pwfile key.pem cert.pem && chmod 600 key.pem && \
             su postgres -c '{PGBIN}/initdb -D {d}/data -U postgres --auth-host=scram-sha-256 \
               --auth-local=trust --pwfile={d}/pwfile -E UTF8 --locale=C.UTF-8' >/dev/null"
        ));
        let pg = Postgres {
            port: free_port(),
            dir,
        };
        reaper(&pg.stop_command(), &pg.dir);
        pg.resume();
        pg
    }

    fn stop_command(&self) -> String {
        format!(
            "su postgres -c '{PGBIN}/pg_ctl -D {}/data -m immediate -w stop'",
            self.dir.display()
        )
    }

    /// Starts the server again after [`Postgres::stop`], on the same port.
    pub fn resume(&self) {
        let d = self.dir.display();
        sh(&format!(
            "su postgres -c \"{PGBIN}/pg_ctl -D {d}/data -l {d}/pg.log -w -o '-c listen_addresses=127.0.0.1 \
               -p {port} -k {d} -c ssl=on -c ssl_cert_file={d}/cert.pem -c ssl_key_file={d}/key.pem' start\" >/dev/null",
            port = self.port
        ));
    }

    /// Stops the server at once (connections are cut).
    pub fn stop(&self) {
        sh(&self.stop_command());
    }

    /// `postgres://` in libpq's keyword form, plus `extra` keywords.
    pub fn url(&self, extra: &str) -> String {
        format!(
            "postgres://host=127.0.0.1 port={} user=postgres password={PASSWORD} dbname=postgres sslmode=disable {extra}",
            self.port
        )
    }

    /// Runs `sql` with `psql` (unaligned, tuples only) and returns its output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .arg("-c")
            .arg(self.stop_command())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// MariaDB (Debian's): user `wsdial` with password [`PASSWORD`] from
/// 127.0.0.1, database `t`; TLS on (a self-signed certificate).
pub struct Mariadb {
    pub port: u16,
    pub dir: PathBuf,
    server: std::sync::Mutex<Option<std::process::Child>>,
}

impl Mariadb {
    pub fn start() -> Mariadb {
        let dir = temp_dir("mariadb", "mysql");
        let d = dir.display();
        // Each server has its own tmpdir: two bootstraps at once sharing /tmp
        // collide on their temporary tables ("Unknown table 'mysql.tmp_user_sys'").
        sh(&format!(
            "cd {d} && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 \
               -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null && \
             mkdir -p tmp && chown mysql: key.pem cert.pem tmp && \
             {{ mariadb-install-db --user=mysql --datadir={d}/data --tmpdir={d}/tmp \
                 --auth-root-authentication-method=normal --skip-test-db >install.log 2>&1 \
               || {{ cat install.log >&2; false; }}; }}"
        ));
        let m = Mariadb {
            port: free_port(),
            dir,
            server: std::sync::Mutex::new(None),
        };
        reaper(&m.stop_command(), &m.dir);
        m.resume();
        m.root(&format!(
            "CREATE USER 'wsdial'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; CREATE DATABASE t; \
             GRANT ALL ON t.* TO 'wsdial'@'127.0.0.1'; GRANT PROCESS ON *.* TO 'wsdial'@'127.0.0.1';"
        ));
        m
    }

    fn stop_command(&self) -> String {
        format!(
            "kill -9 $(cat {}/mysqld.pid) 2>/dev/null; true",
            self.dir.display()
        )
    }

    /// Starts the server again after [`Mariadb::stop`], on the same port.
    pub fn resume(&self) {
        let d = self.dir.display();
        let child = Command::new("mariadbd")
            .args(["--no-defaults", "--user=mysql"])
            .arg(format!("--datadir={d}/data"))
            .args(["--bind-address=127.0.0.1", &format!("--port={}", self.port)])
            .arg(format!("--socket={d}/mysqld.sock"))
            .arg(format!("--pid-file={d}/mysqld.pid"))
            .arg(format!("--log-error={d}/error.log"))
            .arg(format!("--tmpdir={d}/tmp"))
            .arg("--skip-name-resolve")
            .arg(format!("--ssl-cert={d}/cert.pem"))
            .arg(format!("--ssl-key={d}/key.pem"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        *self.server.lock().unwrap() = Some(child);
        wait_port(self.port, Duration::from_secs(20));
        let end = Instant::now() + Duration::from_secs(20);
        while !Path::new(&format!("{d}/mysqld.pid")).exists() {
            assert!(Instant::now() < end, "mariadbd wrote no pid file");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server at once (connections are cut).
    pub fn stop(&self) {
        if let Some(mut c) = self.server.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let end = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < end, "mariadbd still listens");
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_file(self.dir.join("mysqld.pid"));
    }

    /// `mysql://` in Go's form, plus `extra` (`?tls=skip-verify` …).
    pub fn url(&self, extra: &str) -> String {
        format!(
            "mysql://wsdial:{PASSWORD}@tcp(127.0.0.1:{})/t{extra}",
            self.port
        )
    }

    fn client(&self, user: &[&str], sql: &str) -> String {
        let out = Command::new("mariadb")
            .arg(format!("--socket={}/mysqld.sock", self.dir.display()))
            .args(user)
            .args(["--batch", "--skip-column-names", "-e", sql])
            .output()
            .expect("mariadb");
        assert!(
            out.status.success(),
            "mariadb {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    fn root(&self, sql: &str) -> String {
        self.client(&["-uroot"], sql)
    }

    /// Runs `sql` with the `mariadb` client in database `t` (tab-separated, no header).
    pub fn mariadb(&self, sql: &str) -> String {
        self.client(&["-uroot", "-Dt"], sql)
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .arg("-c")
            .arg(self.stop_command())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// ClickHouse (Debian's 18.16): user `default` with password [`PASSWORD`],
/// its HTTP interface and its native port, both on 127.0.0.1.
pub struct Clickhouse {
    pub http_port: u16,
    pub tcp_port: u16,
    pub dir: PathBuf,
    server: std::sync::Mutex<Option<std::process::Child>>,
}

impl Clickhouse {
    pub fn start() -> Clickhouse {
        let dir = temp_dir("clickhouse", "clickhouse");
        // Both ports asked for while the first is still bound, so they differ.
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let http_port = first.local_addr().unwrap().port();
        let tcp_port = free_port();
        drop(first);
        let c = Clickhouse {
            http_port,
            tcp_port,
            dir,
            server: std::sync::Mutex::new(None),
        };
        let d = c.dir.display();
        std::fs::write(
            c.dir.join("config.xml"),
            format!(
                "<?xml version=\"1.0\"?><yandex>\
                 <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog></logger>\
                 <http_port>{}</http_port><tcp_port>{}</tcp_port><listen_host>127.0.0.1</listen_host>\
                 <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/files/</user_files_path>\
                 <users_config>{d}/users.xml</users_config><default_profile>default</default_profile>\
                 <default_database>default</default_database><timezone>UTC</timezone>\
                 <mark_cache_size>536870912</mark_cache_size></yandex>",
                c.http_port, c.tcp_port
            ),
        )
        .unwrap();
        std::fs::write(
            c.dir.join("users.xml"),
            format!(
                "<?xml version=\"1.0\"?><yandex><profiles><default/></profiles>\
                 <users><default><password>{PASSWORD}</password><networks><ip>127.0.0.1</ip></networks>\
                 <profile>default</profile><quota>default</quota></default></users>\
                 <quotas><default/></quotas></yandex>"
            ),
        )
        .unwrap();
        sh(&format!("chown -R clickhouse: {d}"));
        reaper(&c.stop_command(), &c.dir);
        c.resume();
        c
    }

    fn stop_command(&self) -> String {
        format!(
            "kill -9 $(cat {}/server.pid) 2>/dev/null; true",
            self.dir.display()
        )
    }

    /// Starts the server again after [`Clickhouse::stop`], on the same ports.
    pub fn resume(&self) {
        // setpriv execs the server as user clickhouse: the child is the server.
        let child = Command::new("setpriv")
            .args([
                "--reuid=clickhouse",
                "--regid=clickhouse",
                "--init-groups",
                "--",
            ])
            .arg("/usr/sbin/clickhouse-server")
            .arg(format!("--config-file={}/config.xml", self.dir.display()))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clickhouse-server");
        std::fs::write(self.dir.join("server.pid"), child.id().to_string()).unwrap();
        *self.server.lock().unwrap() = Some(child);
        wait_port(self.http_port, Duration::from_secs(30));
        wait_port(self.tcp_port, Duration::from_secs(30));
    }

    /// Kills the server at once.
    pub fn stop(&self) {
        if let Some(mut c) = self.server.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let end = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.http_port)).is_ok() {
            assert!(Instant::now() < end, "clickhouse-server still listens");
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_file(self.dir.join("server.pid"));
    }

    /// `clickhouse://` over HTTP, plus `extra` parameters (`&database=…`).
    pub fn url(&self, extra: &str) -> String {
        format!(
            "clickhouse://127.0.0.1:{}?username=default&password={PASSWORD}{extra}",
            self.http_port
        )
    }

    /// `clickhouse://tcp://` (the native protocol), plus `extra` parameters.
    pub fn native_url(&self, extra: &str) -> String {
        format!(
            "clickhouse://tcp://127.0.0.1:{}?username=default&password={PASSWORD}{extra}",
            self.tcp_port
        )
    }

    /// Runs `sql` with `clickhouse-client` over the native port (TSV, no header).
    pub fn client(&self, sql: &str) -> String {
        let out = Command::new("clickhouse-client")
            .args(["--host", "127.0.0.1", "--port", &self.tcp_port.to_string()])
            .args(["--password", PASSWORD, "--multiquery", "--query", sql])
            .output()
            .expect("clickhouse-client");
        assert!(
            out.status.success(),
            "clickhouse-client {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }
}

impl Drop for Clickhouse {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .arg("-c")
            .arg(self.stop_command())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
