//! `wsdial ADDRESS` with a PostgreSQL, MySQL or ClickHouse address: the dial
//! works, reading and writing are refused with "use exec" (exit 4, as a
//! connection lost for good), for ClickHouse's HTTP and native forms alike,
//! and a server that is down is exit 1 naming TCP. (`wsdial exec` is tested
//! with the command.)

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../tests/common/sqldb.rs"]
mod sqldb;

fn wsdial(args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsdial"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("wsdial {args:?} did not exit within 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn database_addresses_on_the_command_line() {
    let ch = sqldb::Clickhouse::start();
    let url = ch.url("");
    // Refused as a usage error (2), pointing to `wsdial exec`, and the
    // address's password is not shown.
    let (code, err) = wsdial(&[&url, "-n", "1"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("wsdial exec"), "{err}");
    assert!(!err.contains("s3cret"), "the password is shown: {err}");
    // A line on stdin does not keep it waiting.
    let (code, err) = wsdial(&[&url], "a line\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("wsdial exec"), "{err}");

    // The native form dials too, and is refused the same way.
    let (code, err) = wsdial(&[&ch.native_url(""), "-n", "1"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("wsdial exec"), "{err}");
    assert!(!err.contains("s3cret"), "the password is shown: {err}");

    let port = sqldb::free_port().to_string();
    let pg = format!("postgres://host=127.0.0.1 port={port} user=x|timeout=2000");
    let (code, err) = wsdial(&[&pg], "");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tcp"), "{err}");
    let my = format!("mysql://u:p@tcp(127.0.0.1:{port})/d|timeout=2000");
    let (code, err) = wsdial(&[&my], "");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tcp"), "{err}");
}
