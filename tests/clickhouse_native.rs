//! ClickHouse's native protocol (`clickhouse://tcp://host:PORT?…`, through
//! klickhouse) against Debian's clickhouse-server 18.16, started per test on
//! free ports with both its HTTP and its native port on 127.0.0.1: every type
//! both ways against clickhouse-client, the same answers as the HTTP form,
//! parameters, errors, timeouts, threads, a program's tokio runtime and a
//! restart.
#![cfg(feature = "clickhouse")]

mod common;
#[path = "common/sqldb.rs"]
mod sqldb;
#[path = "common/sqlsuite.rs"]
mod sqlsuite;

use std::time::{Duration, Instant};

use common::within;
use sqldb::{Clickhouse, PASSWORD};
use sqlsuite::Case;
use wsdial::db::Value;
use wsdial::ErrorKind;

fn case(ch: &Clickhouse) -> Case {
    Case {
        url: ch.native_url(""),
        ph: |_| "?".into(),
        create: |t| format!("CREATE TABLE {t} (k Int64, v String) ENGINE = Memory"),
        session_id: None,
        // Endless, and sends nothing: only a kill on the server ends it.
        sleep: "SELECT sleep(0.2) FROM system.numbers WHERE number < 0",
    }
}

const LIMIT: Duration = Duration::from_secs(90);

const TABLE: &str = "CREATE TABLE t (i8 Int8, i64 Int64, u64 UInt64, f32 Float32, f64 Float64, \
     n Decimal(38, 10), d9 Decimal(9, 2), s String, fs FixedString(3), d Date, dt DateTime, \
     ns Nullable(String), ni Nullable(Int32), u UUID, e Enum8('a' = 1, 'b' = 2), b UInt8) ENGINE = Memory";

#[test]
fn every_type_both_ways_and_as_the_http_form_reads_it() {
    within(LIMIT, || {
        let ch = Clickhouse::start();
        let native = wsdial::dial(&ch.native_url("")).unwrap();
        let http = wsdial::dial(&ch.url("")).unwrap();
        native.exec(TABLE).unwrap();

        // Written through the native form, read by clickhouse-client.
        let row = vec![
            Value::Int(-128),
            Value::Int(i64::MIN),
            Value::UInt(u64::MAX),
            Value::Float(1.5),
            Value::Float(-2.25e300),
            Value::Decimal("1234567890123456789012345678.0123456789".into()),
            Value::Decimal("-0.5".into()),
            Value::Text("it's \"quoted\" ü \\ \t\n".into()),
            Value::Bytes(vec![b'a', 255, b'\'']),
            Value::Date("2026-11-30".into()),
            Value::DateTime("2026-11-30T12:34:56".into()),
            Value::Null,
            Value::Int(-7),
            Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
            Value::Text("b".into()),
            Value::Bool(true),
        ];
        native
            .exec_with(
                "INSERT INTO t VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                &row,
            )
            .unwrap();
        assert_eq!(
            ch.client(
                "SELECT i8, i64, u64, f32, f64, n, d9, s, hex(fs), d, dt, isNull(ns), ni, u, e, b FROM t"
            ),
            "-128\t-9223372036854775808\t18446744073709551615\t1.5\t-2.25e300\t\
             1234567890123456789012345678.0123456789\t-0.50\tit\\'s \"quoted\" ü \\\\ \\t\\n\t61FF27\t\
             2026-11-30\t2026-11-30 12:34:56\t1\t-7\ta0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\tb\t1"
        );

        // Written by clickhouse-client, read by both forms: the same answer.
        ch.client(
            "TRUNCATE TABLE t; INSERT INTO t VALUES (7, 9007199254740993, 5, 0.1, 1e-300, \
             -1234567890123456789012345678.0123456789, 3.10, 'x', 'abc', '1999-12-31', \
             '2000-01-01 00:00:00', 'y', NULL, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a', 0)",
        );
        let q = "SELECT *, [1, 2] AS arr, ('p', 3) AS tup, 'q' AS lit FROM t";
        let got = native.exec(q).unwrap();
        let want = http.exec(q).unwrap();
        assert_eq!(got.columns, want.columns);
        assert_eq!(got.values, want.values);
        assert_eq!(
            got.values,
            vec![vec![
                Value::Int(7),
                Value::Int(9007199254740993),
                Value::Int(5),
                Value::Float(0.1),
                Value::Float(1e-300),
                Value::Decimal("-1234567890123456789012345678.0123456789".into()),
                Value::Decimal("3.10".into()),
                Value::Text("x".into()),
                Value::Text("abc".into()),
                Value::Date("1999-12-31".into()),
                Value::DateTime("2000-01-01T00:00:00".into()),
                Value::Text("y".into()),
                Value::Null,
                Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
                Value::Text("a".into()),
                Value::Int(0),
                Value::Text("[1,2]".into()),
                Value::Text("('p',3)".into()),
                Value::Text("q".into()),
            ]]
        );
        assert_eq!(got.columns[0], "i8");

        // A literal row, several rows and a named column list in one INSERT.
        native
            .exec_with(
                "INSERT INTO t (i8, s, ns) VALUES (1, 'lit''s', NULL), (?, ?, ?)",
                &[
                    Value::Int(2),
                    Value::Text("param".into()),
                    Value::Text("z".into()),
                ],
            )
            .unwrap();
        assert_eq!(
            ch.client("SELECT i8, s, ns FROM t WHERE i8 IN (1, 2) ORDER BY i8"),
            "1\tlit\\'s\t\\N\n2\tparam\tz"
        );
        // More rows than one block of the server's (65 536): all of them.
        let many: Vec<String> = (0..70_000).map(|i| format!("({i})")).collect();
        native
            .exec(&format!("INSERT INTO t (i64) VALUES {}", many.join(",")))
            .unwrap();
        let n = native
            .exec("SELECT count(), sum(i64) FROM t WHERE i8 = 0 AND s = ''")
            .unwrap();
        assert_eq!(
            n.values,
            vec![vec![Value::Int(70_000), Value::Int(2_449_965_000)]]
        );
        assert_eq!(
            n.values,
            http.exec("SELECT count(), sum(i64) FROM t WHERE i8 = 0 AND s = ''")
                .unwrap()
                .values
        );
    });
}

#[test]
fn bad_statements_are_typed_errors_and_the_session_goes_on() {
    within(LIMIT, || {
        let ch = Clickhouse::start();
        let conn = wsdial::dial(&ch.native_url("")).unwrap();
        let e = conn.exec("SELEC 1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax, "{e}");
        assert!(e.to_string().contains("Syntax error"), "{e}");

        conn.exec("CREATE TABLE u (k Int32) ENGINE = Memory")
            .unwrap();
        conn.exec("CREATE TABLE t (s String, i UInt8) ENGINE = Memory")
            .unwrap();
        conn.exec("INSERT INTO u VALUES (1)").unwrap();
        let evil = "x'); DROP TABLE u; --";
        conn.exec_with("INSERT INTO t (s) VALUES (?)", &[Value::Text(evil.into())])
            .unwrap();
        let got = conn
            .exec_with("SELECT s FROM t WHERE s = ?", &[Value::Text(evil.into())])
            .unwrap();
        assert_eq!(got.values, vec![vec![Value::Text(evil.into())]]);
        assert_eq!(ch.client("SELECT count(*) FROM u"), "1");

        // What the native form cannot send is refused before anything is sent.
        for (sql, kind, says) in [
            (
                "INSERT INTO t VALUES (now(), 1)",
                ErrorKind::Unsupported,
                "INSERT … SELECT",
            ),
            ("INSERT INTO t FORMAT TSV", ErrorKind::Unsupported, "FORMAT"),
            ("INSERT INTO t (i) VALUES (300)", ErrorKind::Syntax, "range"),
            (
                "INSERT INTO t VALUES ('only one')",
                ErrorKind::Syntax,
                "1 values for 2 columns",
            ),
            (
                "INSERT INTO t (s) VALUES (?)",
                ErrorKind::Syntax,
                "placeholder",
            ),
        ] {
            let e = conn.exec(sql).unwrap_err();
            assert_eq!(e.kind(), kind, "{sql}: {e}");
            assert!(e.to_string().contains(says), "{sql}: {e}");
        }
        assert_eq!(ch.client("SELECT count(*) FROM t"), "1");
        // INSERT … SELECT runs on the server.
        conn.exec("INSERT INTO t SELECT 'sel', 2").unwrap();
        assert_eq!(ch.client("SELECT count(*) FROM t WHERE s = 'sel'"), "1");
        let one = conn.exec("SELECT 1 AS one").unwrap();
        assert_eq!(
            (one.columns.clone(), one.values),
            (vec!["one".to_string()], vec![vec![Value::Int(1)]])
        );
    });
}

#[test]
fn handle_from_four_threads_and_after_close() {
    within(LIMIT, || {
        let ch = Clickhouse::start();
        let c = case(&ch);
        sqlsuite::four_threads(&c, "shared");
        assert_eq!(
            ch.client("SELECT count(*) FROM shared WHERE v LIKE '%\\'s row%'"),
            "100"
        );
        sqlsuite::handle_after_close(&c);
        sqlsuite::exec_many(&c, "many");
        sqlsuite::clickhouse_exec_many_is_one_insert(&c, "batch");
    });
}

#[test]
fn timeout_tokio_and_connection_errors() {
    within(LIMIT, || {
        let ch = Clickhouse::start();
        let c = case(&ch);
        sqlsuite::statement_timeout(&c);
        common::eventually(
            Duration::from_secs(20),
            "the server stops the statement",
            || {
                ch.client("SELECT count() FROM system.processes WHERE query LIKE 'SELECT sleep(0.2) FROM system.numbers%'") == "0"
            },
        );
        sqlsuite::inside_tokio(&c);
        sqlsuite::wrong_password(&ch.native_url("").replace(PASSWORD, "wrong"), "password");
        let e = wsdial::dial(&ch.native_url("&database=nope"))
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::Database, "{e}");
        assert!(e.to_string().contains("nope"), "{e}");
        sqlsuite::server_down(&format!(
            "clickhouse://tcp://127.0.0.1:{}?username=default",
            sqldb::free_port()
        ));
        // The HTTP port named as the native one: an error that says so, in time.
        let started = Instant::now();
        let e = wsdial::dial(&format!(
            "clickhouse://tcp://127.0.0.1:{}?username=default&password={PASSWORD}|timeout=2000",
            ch.http_port
        ))
        .err()
        .unwrap();
        assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
        assert!(e.to_string().contains("tcp_port"), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn reconnect_after_server_restart() {
    within(LIMIT, || {
        let ch = Clickhouse::start();
        sqlsuite::reconnect_after_restart(&case(&ch), || ch.stop(), || ch.resume());
    });
}

#[test]
fn an_insert_is_one_statement_on_the_server_and_all_or_nothing() {
    within(LIMIT, || {
        let ch = Clickhouse::start();
        let conn = wsdial::dial(&ch.native_url("")).unwrap();
        conn.exec("CREATE TABLE t (k Int64, v String) ENGINE = Memory")
            .unwrap();
        let inserts = || -> i64 {
            ch.client("SELECT sum(value) FROM system.events WHERE event = 'InsertQuery'")
                .parse()
                .unwrap()
        };
        let before = inserts();
        conn.exec_with(
            "INSERT INTO t VALUES (?, ?), (?, 'two')",
            &[Value::Int(1), Value::Text("one".into()), Value::Int(2)],
        )
        .unwrap();
        // One INSERT on the server (its answer gives the columns' types), not
        // an insert of no rows first to ask for them.
        assert_eq!(inserts() - before, 1);
        assert_eq!(ch.client("SELECT count(*) FROM t"), "2");

        // A value that does not fit its column, in the last row: no row is
        // inserted, the error names the column and the row, and the session
        // goes on (on a new connection: the server was waiting for rows).
        let e = conn
            .exec_with(
                "INSERT INTO t VALUES (?, ?), (?, ?), (?, ?)",
                &[
                    Value::Int(3),
                    Value::Text("three".into()),
                    Value::Int(4),
                    Value::Text("four".into()),
                    Value::Text("five".into()),
                    Value::Text("5".into()),
                ],
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax, "{e}");
        assert!(e.to_string().contains("(column `k`, row 3)"), "{e}");
        assert_eq!(ch.client("SELECT count(*) FROM t"), "2");
        conn.exec_with("INSERT INTO t VALUES (?, 'six')", &[Value::Int(6)])
            .unwrap();
        let got = conn.exec("SELECT k FROM t ORDER BY k").unwrap();
        assert_eq!(
            got.values,
            vec![
                vec![Value::Int(1)],
                vec![Value::Int(2)],
                vec![Value::Int(6)]
            ]
        );
    });
}
