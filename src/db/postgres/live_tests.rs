//! The PostgreSQL session against a real server (PostgreSQL 15, started in a
//! temporary folder on a free port): the session layer alone, below the
//! database driver. What goes through `wsdial::dial(..).exec(..)` is in
//! tests/postgres.rs.

use std::time::{Duration, Instant};

use super::super::{Database, Opener, Value};
use super::client::PgOpener;
use super::parse;
use crate::ErrorKind;

use crate::db::sqldb::{self, Postgres};

fn open(url: &str) -> Result<Box<dyn Database>, crate::Error> {
    PgOpener::new(parse(url)?)?.open(Instant::now() + Duration::from_secs(10))
}

fn soon() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(10))
}

#[test]
fn session_types_errors_timeout_and_injection() {
    let pg = Postgres::start();
    let mut db = open(&pg.url("")).unwrap();

    // Every type, written by wsdial with bound parameters, read back by psql.
    let r = db
        .exec(
            "CREATE TABLE t (b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric, \
             s text, v varchar(20), by bytea, d date, tm time, ts timestamp, tz timestamptz, \
             j json, jb jsonb, u uuid, z text)",
            &[],
            soon(),
        )
        .unwrap();
    assert_eq!(r.columns.len(), 0);
    let row = vec![
        Value::Bool(true),
        Value::Int(-32768),
        Value::Int(2147483647),
        Value::Int(-9223372036854775808),
        Value::Float(1.5),
        Value::Float(-2.25e300),
        Value::Decimal("12345678901234567890.123456789".into()),
        Value::Text("it's \"quoted\" ü".into()),
        Value::Text("short".into()),
        Value::Bytes(vec![0, 1, 255, b'\\']),
        Value::Date("2026-11-30".into()),
        Value::Time("12:34:56.789".into()),
        Value::DateTime("2026-11-30T12:34:56.5".into()),
        Value::DateTime("2026-11-30T12:34:56+02:00".into()),
        Value::Text(r#"{"a": [1, 2]}"#.into()),
        Value::Text(r#"{"a": [1, 2]}"#.into()),
        Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
        Value::Null,
    ];
    let ins = db
        .exec(
            "INSERT INTO t VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
            &row,
            soon(),
        )
        .unwrap();
    assert_eq!(ins.affected, Some(1));
    assert_eq!(
        pg.psql("SELECT b, i2, i4, i8, f4, f8, n, s, v, encode(by, 'hex'), d, tm, ts, tz AT TIME ZONE 'UTC', j, jb, u, z IS NULL FROM t"),
        "t|-32768|2147483647|-9223372036854775808|1.5|-2.25e+300|12345678901234567890.123456789|\
         it's \"quoted\" ü|short|0001ff5c|2026-11-30|12:34:56.789|2026-11-30 12:34:56.5|\
         2026-11-30 10:34:56|{\"a\": [1, 2]}|{\"a\": [1, 2]}|a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|t"
    );
    // And back: what psql wrote, read by wsdial.
    pg.psql("DELETE FROM t; INSERT INTO t VALUES (false, 7, -7, 9007199254740993, 0.25, 1e-300, \
             -0.000000000000000000000000000001, 'x', 'y', '\\x00ff', '1999-12-31', '23:59:59.999999', \
             '2000-01-01 00:00:00', '2026-11-30 12:00:00+05', '[1]', '{\"k\": null}', \
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', NULL)");
    let back = db.exec("SELECT * FROM t", &[], soon()).unwrap();
    assert_eq!(back.columns[0], "b");
    assert_eq!(back.columns[17], "z");
    assert_eq!(
        back.values,
        vec![vec![
            Value::Bool(false),
            Value::Int(7),
            Value::Int(-7),
            Value::Int(9007199254740993),
            Value::Float(0.25),
            Value::Float(1e-300),
            Value::Decimal("-0.000000000000000000000000000001".into()),
            Value::Text("x".into()),
            Value::Text("y".into()),
            Value::Bytes(vec![0, 255]),
            Value::Date("1999-12-31".into()),
            Value::Time("23:59:59.999999".into()),
            Value::DateTime("2000-01-01T00:00:00".into()),
            Value::DateTime("2026-11-30T07:00:00+00:00".into()),
            Value::Text("[1]".into()),
            Value::Text("{\"k\": null}".into()),
            Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
            Value::Null,
        ]]
    );

    // A syntax error, with the server's words.
    let e = db.exec("SELEC 1", &[], soon()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax, "{e}");
    assert!(
        e.to_string().contains("syntax error at or near \"SELEC\""),
        "{e}"
    );

    // A constraint.
    db.exec("CREATE TABLE u (k int PRIMARY KEY)", &[], soon())
        .unwrap();
    db.exec("INSERT INTO u VALUES (1)", &[], soon()).unwrap();
    let e = db
        .exec("INSERT INTO u VALUES ($1)", &[Value::Int(1)], soon())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Constraint, "{e}");
    assert!(e.to_string().contains("duplicate key"), "{e}");

    // A value with quotes and `'; DROP TABLE` stays a value.
    let evil = "x'); DROP TABLE u; --";
    db.exec(
        "INSERT INTO t (s) VALUES ($1)",
        &[Value::Text(evil.into())],
        soon(),
    )
    .unwrap();
    assert_eq!(pg.psql("SELECT count(*) FROM u"), "1");
    let got = db
        .exec(
            "SELECT s FROM t WHERE s = $1",
            &[Value::Text(evil.into())],
            soon(),
        )
        .unwrap();
    assert_eq!(got.values, vec![vec![Value::Text(evil.into())]]);

    // A script of several statements without parameters.
    db.exec(
        "CREATE TABLE w (a int); INSERT INTO w VALUES (1), (2)",
        &[],
        soon(),
    )
    .unwrap();
    assert_eq!(pg.psql("SELECT count(*) FROM w"), "2");

    // A statement past its deadline: a timeout, cancelled on the server, and
    // the session answers the next statement.
    let started = Instant::now();
    let e = db
        .exec(
            "SELECT pg_sleep(30)",
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

    // Wrong password: Auth, with the server's words.
    let e = open(&pg.url("").replace(sqldb::PASSWORD, "wrong"))
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(
        e.to_string().contains("password authentication failed"),
        "{e}"
    );

    // TLS when sslmode asks (the server's certificate is self-signed:
    // `require` encrypts without checking it, as libpq).
    let mut tls = open(&pg.url("").replace("sslmode=disable", "sslmode=require")).unwrap();
    let ssl = tls
        .exec(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
            soon(),
        )
        .unwrap();
    assert_eq!(ssl.values, vec![vec![Value::Bool(true)]]);
    let e = open(&pg.url("").replace("sslmode=disable", "sslmode=verify-full"))
        .err()
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");

    // The server goes down: the session is lost; a new one is refused as Tcp.
    pg.stop();
    let e = db.exec("SELECT 1", &[], soon()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(db.is_lost());
    let started = Instant::now();
    let e = open(&pg.url("")).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn statements_are_prepared_once_per_session_and_again_when_their_table_changes() {
    let pg = Postgres::start();
    let mut db = open(&pg.url("")).unwrap();
    let prepared = |db: &mut Box<dyn Database>, like: &str| {
        let r = db
            .exec(
                "SELECT count(*)::int8 FROM pg_prepared_statements WHERE statement LIKE $1",
                &[Value::Text(like.into())],
                soon(),
            )
            .unwrap();
        r.values[0][0].clone()
    };
    // Run five times, prepared once (and kept: the server still has it).
    for i in 0..5i64 {
        let r = db
            .exec("SELECT $1::int8 + 1", &[Value::Int(i)], soon())
            .unwrap();
        assert_eq!(r.values, [[Value::Int(i + 1)]]);
    }
    assert_eq!(prepared(&mut db, "SELECT $1::int8 + 1"), Value::Int(1));

    // The table a cached statement reads changes shape: prepared again.
    for sql in ["CREATE TABLE c (a int4)", "INSERT INTO c VALUES (1)"] {
        db.exec(sql, &[], soon()).unwrap();
    }
    let r = db.exec("SELECT * FROM c", &[], soon()).unwrap();
    assert_eq!(r.values, [[Value::Int(1)]]);
    for sql in [
        "DROP TABLE c",
        "CREATE TABLE c (a text, b int4)",
        "INSERT INTO c VALUES ('x', 2)",
    ] {
        db.exec(sql, &[], soon()).unwrap();
    }
    let r = db.exec("SELECT * FROM c", &[], soon()).unwrap();
    assert_eq!(r.columns, ["a", "b"]);
    assert_eq!(r.values, [[Value::Text("x".into()), Value::Int(2)]]);

    // Bounded: 100 distinct texts leave at most 64 prepared.
    for i in 0..100 {
        db.exec(&format!("SELECT {i} AS distinct_text"), &[], soon())
            .unwrap();
    }
    let Value::Int(n) = prepared(&mut db, "SELECT % AS distinct_text") else {
        panic!("count(*) is an integer");
    };
    assert!((1..=64).contains(&n), "{n} statements kept");
}
