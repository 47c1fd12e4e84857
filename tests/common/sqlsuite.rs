//! What every server database must do through `wsdial::dial(..).exec(..)`,
//! written once and run by tests/postgres.rs, tests/mysql.rs and
//! tests/clickhouse.rs against their own servers.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use wsdial::db::Value;
use wsdial::ErrorKind;

/// One database, as the shared tests need it.
pub struct Case {
    /// The address, without options.
    pub url: String,
    /// The SQL of bound parameter `n` (1-based): `$1` or `?`.
    pub ph: fn(usize) -> String,
    /// `CREATE TABLE {name} (k <integer>, v <text>)` for a name.
    pub create: fn(&str) -> String,
    /// A statement that returns the server's id for the session, if any.
    pub session_id: Option<&'static str>,
    /// A statement that runs for seconds (longer than the timeouts below).
    pub sleep: &'static str,
}

fn one(rows: &wsdial::db::Rows) -> Value {
    rows.values[0][0].clone()
}

/// A handle used from four threads at once: every statement lands, in the
/// same session.
pub fn four_threads(c: &Case, table: &str) {
    let conn = wsdial::dial(&c.url).unwrap();
    conn.exec(&(c.create)(table)).unwrap();
    let handle = conn
        .fd()
        .expect("a database connection has a handle")
        .to_string();
    let id = c.session_id.map(|q| one(&conn.exec(q).unwrap()));
    let insert = format!(
        "INSERT INTO {table} (k, v) VALUES ({}, {})",
        (c.ph)(1),
        (c.ph)(2)
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let handle = handle.clone();
            let insert = insert.clone();
            let q = c.session_id;
            std::thread::spawn(move || {
                let mine = wsdial::dial(&handle).unwrap();
                for i in 0..25 {
                    let v = format!("thread {t}'s row {i}");
                    mine.exec_with(&insert, &[Value::Int(t * 100 + i), Value::Text(v)])
                        .unwrap();
                }
                q.map(|q| one(&mine.exec(q).unwrap()))
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), id, "every thread used the same session");
    }
    let n = conn.exec(&format!("SELECT count(*) FROM {table}")).unwrap();
    assert_eq!(one(&n), Value::Int(100));
}

/// A handle dialed after the first `Conn` was closed reaches the same session.
pub fn handle_after_close(c: &Case) {
    let conn = wsdial::dial(&c.url).unwrap();
    let id = c.session_id.map(|q| one(&conn.exec(q).unwrap()));
    let handle = conn.fd().unwrap().to_string();
    conn.close();
    let again = std::thread::spawn(move || {
        let later = wsdial::dial(&handle).unwrap();
        let r = later.exec("SELECT 1").unwrap();
        assert_eq!(one(&r), Value::Int(1));
        later
    })
    .join()
    .unwrap();
    if let Some(q) = c.session_id {
        assert_eq!(Some(one(&again.exec(q).unwrap())), id, "the same session");
    }
}

/// `exec_many` through a handle on another thread (the `Database` trait's
/// default loop for a server database): every row, in order, counted; a row
/// with a parameter missing stops the batch with an error naming its index,
/// the rows before it kept; no rows is 0.
pub fn exec_many(c: &Case, table: &str) {
    let conn = wsdial::dial(&c.url).unwrap();
    conn.exec(&(c.create)(table)).unwrap();
    let handle = conn.fd().unwrap();
    let insert = format!(
        "INSERT INTO {table} (k, v) VALUES ({}, {})",
        (c.ph)(1),
        (c.ph)(2)
    );
    let mut rows: Vec<Vec<Value>> = (0..20)
        .map(|k| vec![Value::Int(k), Value::Text(format!("row {k}"))])
        .collect();
    let sql = insert.clone();
    let all = rows.clone();
    let n = std::thread::spawn(move || {
        let other = wsdial::dial(&handle.to_string()).unwrap();
        other.exec_many(&sql, &all)
    })
    .join()
    .unwrap()
    .unwrap();
    // ClickHouse reports no count of rows affected (exec's `affected` is None).
    let counted = if c.url.starts_with("clickhouse") {
        0
    } else {
        20
    };
    assert_eq!(n, counted);
    let back = conn
        .exec(&format!("SELECT k, v FROM {table} ORDER BY k"))
        .unwrap();
    assert_eq!(back.values, rows);
    let none: &[Vec<Value>] = &[];
    assert_eq!(conn.exec_many(&insert, none).unwrap(), 0);
    conn.exec(&format!("TRUNCATE TABLE {table}")).unwrap();
    rows[3] = vec![Value::Int(3)];
    let e = conn.exec_many(&insert, &rows[..5]).unwrap_err();
    let m = e.to_string();
    let n = conn.exec(&format!("SELECT count(*) FROM {table}")).unwrap();
    if c.url.starts_with("clickhouse") {
        // One INSERT for the whole batch: the row is named before anything
        // is sent (see clickhouse_exec_many_is_one_insert).
        assert!(
            m.contains("parameter row 3 (0-based) has 1 value(s)"),
            "{m}"
        );
        assert!(m.contains("nothing was inserted"), "{m}");
        assert_eq!(one(&n), Value::Int(0), "nothing of the batch");
    } else {
        assert!(m.contains("parameter row 3 (0-based) failed"), "{m}");
        assert!(m.contains("the 3 row(s) before it ran"), "{m}");
        assert_eq!(one(&n), Value::Int(3), "the rows before it are kept");
    }
    handle.release();
}

/// ClickHouse, either protocol: `exec_many` of an `INSERT … VALUES` of one
/// tuple is one INSERT (one part of a MergeTree table, not one per row), and
/// all or nothing: a value the server (or, natively, wsdial) refuses in row
/// 500 leaves the table as it was.
#[allow(dead_code)]
pub fn clickhouse_exec_many_is_one_insert(c: &Case, table: &str) {
    let conn = wsdial::dial(&c.url).unwrap();
    conn.exec(&format!(
        "CREATE TABLE {table} (k Int64, v String) ENGINE = MergeTree ORDER BY k"
    ))
    .unwrap();
    let insert = format!("INSERT INTO {table} (k, v) VALUES (?, ?)");
    let rows: Vec<Vec<Value>> = (0..1000)
        .map(|k| vec![Value::Int(k), Value::Text(format!("row {k}"))])
        .collect();
    conn.exec_many(&insert, &rows).unwrap();
    let sums = conn
        .exec(&format!("SELECT count(*), sum(k) FROM {table}"))
        .unwrap();
    assert_eq!(sums.values, [[Value::Int(1000), Value::Int(499_500)]]);
    let parts = conn
        .exec(&format!(
            "SELECT count(*) FROM system.parts WHERE table = '{table}' AND active"
        ))
        .unwrap();
    assert_eq!(one(&parts), Value::Int(1), "one INSERT, one part");
    let mut bad = rows.clone();
    bad[500][0] = Value::Text("not a number".into());
    let e = conn.exec_many(&insert, &bad).unwrap_err();
    assert!(e.to_string().contains("one INSERT"), "{e}");
    let n = conn.exec(&format!("SELECT count(*) FROM {table}")).unwrap();
    assert_eq!(one(&n), Value::Int(1000), "nothing of the failed batch");
}

/// `timeout=` bounds a statement: a timeout error in about that time, and
/// the connection answers the next statement.
pub fn statement_timeout(c: &Case) {
    let conn = wsdial::dial(&format!("{}|timeout=1000", c.url)).unwrap();
    let started = Instant::now();
    let e = conn.exec(c.sleep).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(one(&conn.exec("SELECT 1").unwrap()), Value::Int(1));
}

/// Dialed and used from inside a tokio runtime (the program's), without the
/// client's own runtime panicking; there too, `timeout=` bounds a statement
/// (a timeout error, the connection answers the next statement), and a
/// connection dialed outside the runtime works inside it.
pub fn inside_tokio(c: &Case) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{}|timeout=1000", c.url);
    let outside = wsdial::dial(&url).unwrap();
    let sleep = c.sleep;
    let (got, timed_out, took, after, from_outside) = rt.block_on(async move {
        let conn = wsdial::dial(&url).unwrap();
        let got = conn.exec_with(&format!("SELECT {}", "1"), &[]).unwrap();
        let started = Instant::now();
        let timed_out = conn.exec(sleep).unwrap_err();
        let took = started.elapsed();
        let after = conn.exec("SELECT 1").unwrap();
        (
            got,
            timed_out,
            took,
            after,
            outside.exec("SELECT 1").unwrap(),
        )
    });
    assert_eq!(one(&got), Value::Int(1));
    assert!(timed_out.is_timeout(), "{timed_out}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert_eq!(one(&after), Value::Int(1));
    assert_eq!(one(&from_outside), Value::Int(1));
}

/// With `reconnect=true`, the next `exec` after the server restarts opens a
/// new connection; without the server, `exec` fails instead of hanging.
pub fn reconnect_after_restart(c: &Case, stop: impl Fn(), resume: impl Fn()) {
    let conn = wsdial::dial(&format!("{}|reconnect=true&timeout=3000", c.url)).unwrap();
    assert_eq!(one(&conn.exec("SELECT 1").unwrap()), Value::Int(1));
    stop();
    let started = Instant::now();
    let e = conn.exec("SELECT 1").unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Io | ErrorKind::Tcp),
        "a lost server is a connection error: {e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    resume();
    crate::common::eventually(Duration::from_secs(20), "exec after the restart", || {
        conn.exec("SELECT 1")
            .is_ok_and(|r| one(&r) == Value::Int(1))
    });
    assert!(conn.is_connected());
}

/// Nothing listens: `Tcp`, within the timeout.
pub fn server_down(url_on_closed_port: &str) {
    let started = Instant::now();
    let e = wsdial::dial(&format!("{url_on_closed_port}|timeout=2000"))
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// A wrong password: `Auth`, with the server's words.
pub fn wrong_password(url: &str, says: &str) {
    let e = wsdial::dial(url).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.to_string().contains(says), "{e}");
}

/// examples/databases.rs against this database: its JSON line, exact.
pub fn example(c: &Case) {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join("databases");
    // `cargo test --test NAME` does not build the examples: build this one,
    // with this test's features (so the library is not built again).
    let features: Vec<&str> = [
        ("permessage-deflate", cfg!(feature = "permessage-deflate")),
        ("mqtt", cfg!(feature = "mqtt")),
        ("nats", cfg!(feature = "nats")),
        ("amqp", cfg!(feature = "amqp")),
        ("kafka", cfg!(feature = "kafka")),
        ("sqlite", cfg!(feature = "sqlite")),
        ("postgres", cfg!(feature = "postgres")),
        ("mysql", cfg!(feature = "mysql")),
        ("clickhouse", cfg!(feature = "clickhouse")),
    ]
    .into_iter()
    .filter_map(|(f, on)| on.then_some(f))
    .collect();
    let built = std::process::Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "wsdial", "--example", "databases"])
        .arg("--no-default-features")
        .arg(format!("--features={}", features.join(",")))
        .status()
        .unwrap();
    assert!(built.success());
    let out = std::process::Command::new(bin)
        .arg(&c.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = r#"{"columns":["symbol","price","qty","at"],"values":[["BTC'USDT","97123.45000000",0.01,"2026-11-30T12:00:00"],["BTC'USDT","97120.00000001",0.5,"2026-11-30T12:00:00"],["BTC'USDT","97130.00000000",2.0,"2026-11-30T12:00:00"]]}"#;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want);
}
