//! The MySQL session against a real MariaDB (Debian's, started in a temporary
//! folder on a free port): the session layer alone, below the database
//! driver. What goes through `wsdial::dial(..).exec(..)` is in tests/mysql.rs.

use std::time::{Duration, Instant};

use super::super::{Database, Opener, Value};
use super::client::MyOpener;
use super::parse;
use crate::ErrorKind;

use crate::db::sqldb::{self, Mariadb};

fn open(url: &str) -> Result<Box<dyn Database>, crate::Error> {
    MyOpener::new(parse(url)?, Duration::from_secs(10))
        .open(Instant::now() + Duration::from_secs(10))
}

fn soon() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(10))
}

#[test]
fn session_types_errors_timeout_and_injection() {
    let m = Mariadb::start();
    let mut db = open(&m.url("?charset=utf8mb4")).unwrap();

    db.exec(
        "CREATE TABLE t (b bool, i8 tinyint, i32 int, i64 bigint, u64 bigint unsigned, f float, \
         d double, n decimal(30,9), s varchar(50), tx text, bl blob, vb varbinary(10), dt date, \
         tm time(6), ts datetime(3), js json, z int)",
        &[],
        soon(),
    )
    .unwrap();
    let row = vec![
        Value::Bool(true),
        Value::Int(-128),
        Value::Int(2147483647),
        Value::Int(i64::MIN),
        Value::UInt(u64::MAX),
        Value::Float(1.5),
        Value::Float(-2.25e300),
        Value::Decimal("123456789012345678901.123456789".into()),
        Value::Text("it's \"quoted\" ü \\".into()),
        Value::Text("long text".into()),
        Value::Bytes(vec![0, 1, 255, b'\'']),
        Value::Bytes(vec![9, 8]),
        Value::Date("2026-11-30".into()),
        Value::Time("12:34:56.789".into()),
        Value::DateTime("2026-11-30T12:34:56.5".into()),
        Value::Text(r#"{"a": [1, 2]}"#.into()),
        Value::Null,
    ];
    let ins = db
        .exec(
            "INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            &row,
            soon(),
        )
        .unwrap();
    assert_eq!(ins.affected, Some(1));
    assert_eq!(
        m.mariadb("SELECT b, i8, i32, i64, u64, f, d, n, s, tx, hex(bl), hex(vb), dt, tm, ts, js, z IS NULL FROM t"),
        "1\t-128\t2147483647\t-9223372036854775808\t18446744073709551615\t1.5\t-2.25e300\t\
         123456789012345678901.123456789\tit's \"quoted\" ü \\\\\tlong text\t0001FF27\t0908\t2026-11-30\t\
         12:34:56.789000\t2026-11-30 12:34:56.500\t{\"a\": [1, 2]}\t1"
    );
    // What the mariadb client wrote, read back by wsdial: the text protocol
    // (no parameters) and the binary one (a parameter) give the same values.
    m.mariadb("DELETE FROM t; INSERT INTO t VALUES (0, 7, -7, 9007199254740993, 5, 0.25, 1e-300, \
               -123456789012345678901.123456789, 'x', 'y', x'00ff', x'', '1999-12-31', '-01:02:03', '2000-01-01 00:00:00', '[1]', NULL)");
    let want = vec![vec![
        Value::Int(0),
        Value::Int(7),
        Value::Int(-7),
        Value::Int(9007199254740993),
        Value::Int(5),
        Value::Float(0.25),
        Value::Float(1e-300),
        Value::Decimal("-123456789012345678901.123456789".into()),
        Value::Text("x".into()),
        Value::Text("y".into()),
        Value::Bytes(vec![0, 255]),
        Value::Bytes(vec![]),
        Value::Date("1999-12-31".into()),
        Value::Time("-01:02:03".into()),
        Value::DateTime("2000-01-01T00:00:00".into()),
        Value::Text("[1]".into()),
        Value::Null,
    ]];
    let text = db.exec("SELECT * FROM t", &[], soon()).unwrap();
    assert_eq!(text.columns[0], "b");
    assert_eq!(text.values, want, "text protocol");
    let binary = db
        .exec("SELECT * FROM t WHERE i8 = ?", &[Value::Int(7)], soon())
        .unwrap();
    assert_eq!(binary.values, want, "binary protocol");

    let e = db.exec("SELEC 1", &[], soon()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax, "{e}");
    assert!(
        e.to_string()
            .contains("You have an error in your SQL syntax"),
        "{e}"
    );

    db.exec("CREATE TABLE u (k int PRIMARY KEY)", &[], soon())
        .unwrap();
    db.exec("INSERT INTO u VALUES (1)", &[], soon()).unwrap();
    let e = db
        .exec("INSERT INTO u VALUES (?)", &[Value::Int(1)], soon())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Constraint, "{e}");
    assert!(e.to_string().contains("Duplicate entry"), "{e}");

    let evil = "x'); DROP TABLE u; --";
    db.exec(
        "INSERT INTO t (s) VALUES (?)",
        &[Value::Text(evil.into())],
        soon(),
    )
    .unwrap();
    assert_eq!(m.mariadb("SELECT count(*) FROM u"), "1");
    let got = db
        .exec(
            "SELECT s FROM t WHERE s = ?",
            &[Value::Text(evil.into())],
            soon(),
        )
        .unwrap();
    assert_eq!(got.values, vec![vec![Value::Text(evil.into())]]);

    db.exec(
        "CREATE TABLE w (a int); INSERT INTO w VALUES (1), (2)",
        &[],
        soon(),
    )
    .unwrap();
    assert_eq!(m.mariadb("SELECT count(*) FROM w"), "2");

    let started = Instant::now();
    let e = db
        .exec(
            "SELECT SLEEP(30)",
            &[],
            Some(Instant::now() + Duration::from_millis(300)),
        )
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!db.is_lost());
    let one = db.exec("SELECT 1 AS one", &[], soon()).unwrap();
    assert_eq!(one.values, vec![vec![Value::Int(1)]]);

    let e = open(&m.url("").replace(sqldb::PASSWORD, "wrong"))
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.to_string().contains("Access denied"), "{e}");

    let mut tls = open(&m.url("?tls=skip-verify")).unwrap();
    let ssl = tls
        .exec("SHOW STATUS LIKE 'Ssl_version'", &[], soon())
        .unwrap();
    assert!(
        matches!(&ssl.values[0][1], Value::Text(v) if v.starts_with("TLS")),
        "{ssl:?}"
    );

    m.stop();
    let e = db.exec("SELECT 1", &[], soon()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(db.is_lost());
    let started = Instant::now();
    let e = open(&m.url("")).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
