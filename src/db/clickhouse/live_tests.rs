//! The ClickHouse session against a real server (Debian's 18.16, started in a
//! temporary folder on free ports): the session layer alone, below the
//! database driver. What goes through `wsdial::dial(..).exec(..)` is in
//! tests/clickhouse.rs.

use std::time::{Duration, Instant};

use super::super::{Database, Opener, Value};
use super::client::ChOpener;
use super::parse;
use crate::ErrorKind;

use crate::db::sqldb::{self, Clickhouse};

fn open(url: &str) -> Result<Box<dyn Database>, crate::Error> {
    ChOpener::new(parse(url)?).open(Instant::now() + Duration::from_secs(10))
}

fn soon() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(10))
}

#[test]
fn session_types_errors_timeout_and_injection() {
    let ch = Clickhouse::start();
    let mut db = open(&ch.url("")).unwrap();

    db.exec(
        "CREATE TABLE t (i8 Int8, i64 Int64, u64 UInt64, f32 Float32, f64 Float64, \
         n Decimal(38, 10), s String, fs FixedString(3), d Date, dt DateTime, \
         ns Nullable(String), u UUID) ENGINE = Memory",
        &[],
        soon(),
    )
    .unwrap();
    let row = vec![
        Value::Int(-128),
        Value::Int(i64::MIN),
        Value::UInt(u64::MAX),
        Value::Float(1.5),
        Value::Float(-2.25e300),
        Value::Decimal("1234567890123456789012345678.0123456789".into()),
        Value::Text("it's \"quoted\" ü \\ \t\n".into()),
        Value::Bytes(vec![0, 255, b'\'']),
        Value::Date("2026-11-30".into()),
        Value::DateTime("2026-11-30T12:34:56".into()),
        Value::Null,
        Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
    ];
    db.exec(
        "INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        &row,
        soon(),
    )
    .unwrap();
    assert_eq!(
        ch.client("SELECT i8, i64, u64, f32, f64, n, s, hex(fs), d, dt, isNull(ns), u FROM t"),
        "-128\t-9223372036854775808\t18446744073709551615\t1.5\t-2.25e300\t\
         1234567890123456789012345678.0123456789\tit\\'s \"quoted\" ü \\\\ \\t\\n\t00FF27\t2026-11-30\t\
         2026-11-30 12:34:56\t1\ta0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    ch.client(
        "TRUNCATE TABLE t; INSERT INTO t VALUES (7, 9007199254740993, 5, 0.25, 1e-300, \
               -1234567890123456789012345678.0123456789, 'x', 'abc', '1999-12-31', '2000-01-01 00:00:00', 'y', \
               'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
    );
    let back = db.exec("SELECT * FROM t", &[], soon()).unwrap();
    assert_eq!(back.columns[0], "i8");
    assert_eq!(
        back.values,
        vec![vec![
            Value::Int(7),
            Value::Int(9007199254740993),
            Value::Int(5),
            Value::Float(0.25),
            Value::Float(1e-300),
            Value::Decimal("-1234567890123456789012345678.0123456789".into()),
            Value::Text("x".into()),
            Value::Text("abc".into()),
            Value::Date("1999-12-31".into()),
            Value::DateTime("2000-01-01T00:00:00".into()),
            Value::Text("y".into()),
            Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
        ]]
    );

    let e = db.exec("SELEC 1", &[], soon()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax, "{e}");
    assert!(e.to_string().contains("Syntax error"), "{e}");

    db.exec("CREATE TABLE u (k Int32) ENGINE = Memory", &[], soon())
        .unwrap();
    db.exec("INSERT INTO u VALUES (1)", &[], soon()).unwrap();
    let evil = "x'); DROP TABLE u; --";
    db.exec(
        "INSERT INTO t (s) VALUES (?)",
        &[Value::Text(evil.into())],
        soon(),
    )
    .unwrap();
    assert_eq!(ch.client("SELECT count(*) FROM u"), "1");
    let got = db
        .exec(
            "SELECT s FROM t WHERE s = ?",
            &[Value::Text(evil.into())],
            soon(),
        )
        .unwrap();
    assert_eq!(got.values, vec![vec![Value::Text(evil.into())]]);

    let started = Instant::now();
    let e = db
        .exec(
            "SELECT sleep(3)",
            &[],
            Some(Instant::now() + Duration::from_millis(300)),
        )
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let one = db.exec("SELECT 1 AS one", &[], soon()).unwrap();
    assert_eq!(one.values, vec![vec![Value::Int(1)]]);

    let e = open(&ch.url("").replace(sqldb::PASSWORD, "wrong"))
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.to_string().contains("password"), "{e}");

    ch.stop();
    let e = db.exec("SELECT 1", &[], soon()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Tcp | ErrorKind::Io), "{e}");
    let started = Instant::now();
    let e = open(&ch.url("")).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
