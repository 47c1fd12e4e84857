//! Recording a feed into SQLite (`wsdial FROM --to 'sqlite3://…?table=…'`)
//! and `wsdial exec`, end to end: the binary against its own simulator and
//! a database file in a temporary folder, read back through the library.
#[path = "../../tests/common/mod.rs"]
mod common;
mod support;
use common::ms;
use std::path::PathBuf;
use support::{bin, run, seq, totals, Serve};
use wsdial::db::Value;

/// A temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p =
            std::env::temp_dir().join(format!("wsdial-cli-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// `sqlite3://` of a file in this folder.
    fn db(&self, file: &str) -> String {
        format!("sqlite3://{}", self.0.join(file).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn query(db: &str, sql: &str) -> Vec<Vec<Value>> {
    wsdial::dial(db).unwrap().exec(sql).unwrap().values
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn text(v: &Value) -> &str {
    match v {
        Value::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn recording_into_sqlite_writes_one_row_per_message() {
    let dir = TempDir::new("record");
    let db = dir.db("ticks.db");
    let s = Serve::start(&["--rate", "3000"]);
    let from = format!("{}/binance", s.base);
    let mut c = bin();
    c.args([
        &from,
        "--to",
        &format!("{db}?table=ticks"),
        "-n",
        "1234",
        "--stats",
    ]);
    let o = run(c, None, ms(30_000));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let t = totals(&o);
    assert!(t.starts_with("relayed 1234  dropped 0  rows 1234  "), "{t}");
    // The table was created, every message is one row, in order, none twice.
    let rows = query(
        &db,
        "SELECT received_us, source, payload, is_binary FROM ticks ORDER BY rowid",
    );
    assert_eq!(rows.len(), 1234);
    let mut last_us = 0;
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(seq(text(&r[2])), i as u64, "row {i}");
        assert_eq!(text(&r[1]), from, "the source is FROM's URL");
        assert_eq!(int(&r[3]), 0, "text");
        assert!(int(&r[0]) >= last_us, "receive times in order");
        last_us = int(&r[0]);
    }
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    assert!(
        now_us - last_us < 60_000_000,
        "microseconds since the epoch"
    );

    // A second recording appends to the same table.
    let mut c = bin();
    c.args([&from, "--to", &format!("{db}?table=ticks"), "-n", "10"]);
    let o = run(c, None, ms(30_000));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(int(&query(&db, "SELECT count(*) FROM ticks")[0][0]), 1244);
}

#[test]
fn recording_binary_messages_as_base64_into_the_default_table() {
    let dir = TempDir::new("binary");
    let db = dir.db("feed.db");
    let s = Serve::start(&["--rate", "500"]);
    let mut c = bin();
    // Huobi's frames are gzip, binary without compress=.
    c.args([
        &format!("{}/huobi", s.base),
        "--send",
        r#"{"sub":"market.btcusdt.ticker","id":"t"}"#,
        "--to",
        &db,
        "-n",
        "5",
    ]);
    let o = run(c, None, ms(30_000));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let rows = query(
        &db,
        "SELECT payload, is_binary FROM messages ORDER BY rowid",
    );
    assert_eq!(rows.len(), 5);
    let binary: Vec<&Vec<Value>> = rows.iter().filter(|r| int(&r[1]) == 1).collect();
    assert!(!binary.is_empty(), "{rows:?}");
    for r in binary {
        let gz = data_encoding::BASE64
            .decode(text(&r[0]).as_bytes())
            .unwrap();
        assert_eq!(&gz[..2], [0x1f, 0x8b], "the frame's bytes, as base64");
    }
}

#[test]
fn recording_refuses_a_bad_table_and_a_table_of_other_columns() {
    let dir = TempDir::new("refuse");
    let db = dir.db("x.db");
    let s = Serve::start(&["--rate", "200"]);
    let from = format!("{}/binance", s.base);
    let mut c = bin();
    c.args([&from, "--to", &format!("{db}?table=t;drop")]);
    let o = run(c, None, ms(20_000));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is not a table name the recorder accepts"),
        "{err}"
    );

    // A database is not a feed: refused as FROM, with what to do instead.
    let mut c = bin();
    c.args([&db, "--to", &format!("{}/echo", s.base)]);
    let o = run(c, None, ms(20_000));
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is a database: it is not read"),
        "{o:?}"
    );

    query(&db, "CREATE TABLE other (a INTEGER)");
    let mut c = bin();
    c.args([&from, "--to", &format!("{db}?table=other"), "-n", "3"]);
    let o = run(c, None, ms(20_000));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("writing 3 row(s) into other"), "{err}");
    assert!(
        err.contains("received_us"),
        "the database's own message: {err}"
    );
}

#[test]
fn exec_prints_one_json_line_per_statement() {
    let dir = TempDir::new("exec");
    let db = dir.db("e.db");
    let mut c = bin();
    c.args([
        "exec",
        &db,
        "CREATE TABLE t (id INTEGER, name TEXT, price REAL, raw BLOB)",
        "INSERT INTO t VALUES (1, 'it''s; ok', 1.5, x'0001'), (2, NULL, -2.25, NULL)",
        "SELECT id, name, price, raw FROM t ORDER BY id",
    ]);
    let o = run(c, None, ms(20_000));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["affected"], 2);
    assert_eq!(
        lines[2],
        serde_json::json!({
            "columns": ["id", "name", "price", "raw"],
            "values": [[1, "it's; ok", 1.5, "AAE="], [2, null, -2.25, null]],
        })
    );
}

#[test]
fn exec_reads_statements_from_stdin_ended_by_semicolons() {
    let dir = TempDir::new("stdin");
    let db = dir.db("s.db");
    let script = "CREATE TABLE t (a TEXT);\n\
        INSERT INTO t VALUES ('a;b'); -- a comment; not a statement\n\
        INSERT INTO t VALUES (\"c;d\") /* ; */;\n\
        SELECT a FROM t ORDER BY a";
    let mut c = bin();
    c.args(["exec", &db]);
    let o = run(c, Some(script), ms(20_000));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[3], r#"{"columns":["a"],"values":[["a;b"],["c;d"]]}"#);
}

#[test]
fn exec_stops_at_the_first_failed_statement_with_status_1() {
    let dir = TempDir::new("fail");
    let db = dir.db("f.db");
    let mut c = bin();
    c.args([
        "exec",
        &db,
        "CREATE TABLE t (a INTEGER PRIMARY KEY)",
        "SELEC 1",
        "INSERT INTO t VALUES (1)",
    ]);
    let o = run(c, None, ms(20_000));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("syntax error") && err.contains("in: SELEC 1"),
        "{err}"
    );
    // The statement after the failure did not run.
    assert!(query(&db, "SELECT a FROM t").is_empty());
    // Through stdin as well, a constraint this time.
    let mut c = bin();
    c.args(["exec", &db]);
    let o = run(
        c,
        Some("INSERT INTO t VALUES (1); INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);"),
        ms(20_000),
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("UNIQUE"),
        "{o:?}"
    );
    assert_eq!(query(&db, "SELECT a FROM t").len(), 1);
}

#[test]
fn exec_refuses_an_address_that_is_not_a_database() {
    let mut c = bin();
    c.args(["exec", "ws://127.0.0.1:1/", "select 1"]);
    let o = run(c, None, ms(10_000));
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("sqlite3://, postgres://, mysql://, clickhouse://"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn a_signal_ends_a_recording_with_every_relayed_row_written() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    common::within(ms(60_000), || {
        let dir = TempDir::new("signal");
        let db = dir.db("sig.db");
        let s = Serve::start(&["--rate", "2000"]);
        let mut relay = bin()
            .args([&format!("{}/binance", s.base), "--to", &db, "--stats"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(relay.stderr.take().unwrap()).lines();
        // The first stats line: the feed is being recorded.
        let mut first = String::new();
        while !first.contains("relayed ") {
            first = lines.next().unwrap().unwrap();
        }
        let kill = std::process::Command::new("kill")
            .args(["-INT", &relay.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let status = relay.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{rest:#?}");
        assert!(
            rest.iter().any(|l| l.contains("stopped by a signal")),
            "{rest:#?}"
        );
        let t = rest
            .iter()
            .rev()
            .find(|l| l.starts_with("relayed "))
            .unwrap();
        let relayed: i64 = t.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(
            relayed > 0 && t.contains(&format!("rows {relayed} ")),
            "{t}"
        );
        let rows = int(&query(&db, "SELECT count(*) FROM messages")[0][0]);
        assert_eq!(rows, relayed, "every relayed message is a row: {t}");
    })
}
