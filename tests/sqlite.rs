//! sqlite3:// end to end: types both ways against SQLite's own shell
//! (`sqlite3`, installed by scripts/peers), typed errors, the statement
//! timeout, parameters that stay values, handles across threads and after
//! close, a program's tokio runtime, and reads and writes refused.
#![cfg(feature = "sqlite")]

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use wsdial::db::Value;
use wsdial::{Cause, ErrorKind, Event};

/// A fresh directory for this test's database files, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "wsdial-sqlite-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn db(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs SQLite's shell on `db` and returns what it printed (JSON mode).
fn shell(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .arg("-json")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3 (scripts/peers installs it)");
    assert!(
        out.status.success(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn shell_json(db: &Path, sql: &str) -> serde_json::Value {
    serde_json::from_str(&shell(db, sql)).unwrap()
}

/// `dec DECIMAL TEXT`: TEXT affinity, so SQLite keeps every digit (a plain
/// `DECIMAL` column has NUMERIC affinity and SQLite itself turns a long
/// decimal into a REAL), and DECIMAL in the name, so wsdial reads it as
/// `Value::Decimal`.
const TABLE: &str = "CREATE TABLE t (i INTEGER, f REAL, s TEXT, b BLOB, flag BOOLEAN, d DATE, tm TIME, dt DATETIME, dec DECIMAL TEXT, n TEXT)";

#[test]
fn every_type_written_by_wsdial_reads_back_in_sqlites_shell() {
    within(ms(30_000), || {
        let dir = TempDir::new("write");
        let path = dir.db("types.db");
        let conn = wsdial::dial(&format!("sqlite3://{}", path.display())).unwrap();
        assert_eq!(conn.exec(TABLE).unwrap().affected, Some(0));
        let r = conn
            .exec_with(
                "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                &[
                    i64::MIN.into(),
                    0.1.into(),
                    "naïve 'quoted' \"text\" ✓".into(),
                    vec![0u8, 1, 255, b'\''].into(),
                    true.into(),
                    Value::Date("2026-11-30".into()),
                    Value::Time("12:34:56.789".into()),
                    Value::DateTime("2026-11-30T12:34:56.789".into()),
                    Value::Decimal("12345678901234567890.1234567891".into()),
                    None::<&str>.into(),
                ],
            )
            .unwrap();
        assert_eq!(r.affected, Some(1));
        conn.exec_with(
            "INSERT INTO t (i, f, flag) VALUES (?, ?, ?)",
            &[i64::MAX.into(), (-2.5e300).into(), false.into()],
        )
        .unwrap();
        drop(conn);
        let got = shell_json(
            &path,
            "SELECT i, f, s, hex(b) AS b, flag, d, tm, dt, dec, typeof(dec) AS dec_type, n, typeof(n) AS n_type FROM t ORDER BY rowid",
        );
        let want = serde_json::json!([
            {"i": i64::MIN, "f": 0.1, "s": "naïve 'quoted' \"text\" ✓", "b": "0001FF27",
             "flag": 1, "d": "2026-11-30", "tm": "12:34:56.789", "dt": "2026-11-30T12:34:56.789",
             "dec": "12345678901234567890.1234567891", "dec_type": "text", "n": null, "n_type": "null"},
            {"i": i64::MAX, "f": -2.5e300, "s": null, "b": "", "flag": 0, "d": null, "tm": null,
             "dt": null, "dec": null, "dec_type": "null", "n": null, "n_type": "null"}
        ]);
        assert_eq!(got, want);
    });
}

#[test]
fn every_type_written_by_sqlites_shell_reads_back_in_wsdial() {
    within(ms(30_000), || {
        let dir = TempDir::new("read");
        let path = dir.db("types.db");
        shell(
            &path,
            &format!(
                "{TABLE}; INSERT INTO t VALUES (-9223372036854775808, 0.1, 'it''s ✓', x'0001ff27', TRUE, '2026-11-30', '12:34:56.789', '2026-11-30T12:34:56.789', '12345678901234567890.1234567891', NULL); \
                 INSERT INTO t (i, f, flag, dec) VALUES (9223372036854775807, -2.5e300, FALSE, 1.5);"
            ),
        );
        let conn = wsdial::dial(&format!("sqlite3://{}", path.display())).unwrap();
        let rows = conn.exec("SELECT * FROM t ORDER BY rowid").unwrap();
        assert_eq!(
            rows.columns,
            ["i", "f", "s", "b", "flag", "d", "tm", "dt", "dec", "n"]
        );
        assert_eq!(
            rows.values,
            vec![
                vec![
                    Value::Int(i64::MIN),
                    Value::Float(0.1),
                    Value::Text("it's ✓".into()),
                    Value::Bytes(vec![0, 1, 255, b'\'']),
                    Value::Bool(true),
                    Value::Date("2026-11-30".into()),
                    Value::Time("12:34:56.789".into()),
                    Value::DateTime("2026-11-30T12:34:56.789".into()),
                    Value::Decimal("12345678901234567890.1234567891".into()),
                    Value::Null,
                ],
                vec![
                    Value::Int(i64::MAX),
                    Value::Float(-2.5e300),
                    Value::Null,
                    Value::Null,
                    Value::Bool(false),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::Decimal("1.5".into()),
                    Value::Null,
                ],
            ]
        );
        assert_eq!(rows.affected, None);
        // Dial's JSON shape, no digit of the decimal lost.
        let json = serde_json::to_value(&rows).unwrap();
        assert_eq!(json["columns"][8], "dec");
        assert_eq!(json["values"][0][8], "12345678901234567890.1234567891");
        assert_eq!(json["values"][0][3], "AAH/Jw==");
        assert_eq!(json["values"][1][0], i64::MAX);
        // A NUMERIC-affinity column: what SQLite kept, as a decimal.
        shell(
            &path,
            "CREATE TABLE p (price NUMERIC(10,2)); INSERT INTO p VALUES (2.25), (3);",
        );
        assert_eq!(
            conn.exec("SELECT price FROM p").unwrap().values,
            [
                [Value::Decimal("2.25".into())],
                [Value::Decimal("3".into())]
            ]
        );
    });
}

#[test]
fn a_syntax_error_is_a_syntax_error_with_sqlites_message() {
    within(ms(10_000), || {
        let conn = wsdial::dial("sqlite3://:memory:").unwrap();
        let e = conn.exec("SELEC 1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax, "{e}");
        assert!(e.to_string().contains("syntax error"), "{e}");
        let e = conn.exec("SELECT 1; SELECT 2").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax, "{e}");
        assert!(e.to_string().contains("one statement"), "{e}");
        let e = conn.exec("SELECT * FROM missing").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Database, "{e}");
        assert!(e.to_string().contains("no such table: missing"), "{e}");
        let e = conn.exec_with("SELECT ?", &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Database, "{e}");
        assert!(e.to_string().contains("1 placeholder"), "{e}");
        // and the connection goes on
        assert_eq!(conn.exec("SELECT 1").unwrap().values, [[Value::Int(1)]]);
    });
}

#[test]
fn a_constraint_violation_is_a_constraint_error() {
    within(ms(10_000), || {
        let conn = wsdial::dial("sqlite3://:memory:").unwrap();
        conn.exec("CREATE TABLE u (k TEXT PRIMARY KEY, v INTEGER NOT NULL CHECK (v > 0))")
            .unwrap();
        conn.exec("INSERT INTO u VALUES ('a', 1)").unwrap();
        for (sql, words) in [
            (
                "INSERT INTO u VALUES ('a', 2)",
                "UNIQUE constraint failed: u.k",
            ),
            (
                "INSERT INTO u VALUES ('b', NULL)",
                "NOT NULL constraint failed: u.v",
            ),
            ("INSERT INTO u VALUES ('c', 0)", "CHECK constraint failed"),
        ] {
            let e = conn.exec(sql).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Constraint, "{sql}: {e}");
            assert!(e.to_string().contains(words), "{sql}: {e}");
        }
        assert_eq!(
            conn.exec("SELECT count(*) FROM u").unwrap().values,
            [[Value::Int(1)]]
        );
    });
}

#[test]
fn a_statement_over_timeout_is_interrupted_and_the_connection_goes_on() {
    within(ms(20_000), || {
        let conn = wsdial::dial("sqlite3://:memory:|timeout=300").unwrap();
        let start = Instant::now();
        let e = conn
            .exec("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
            .unwrap_err();
        let took = start.elapsed();
        assert!(e.is_timeout(), "{e}");
        assert!(e.to_string().contains("timeout"), "{e}");
        assert!(took >= ms(250) && took < ms(5_000), "{took:?}");
        assert_eq!(conn.exec("SELECT 2").unwrap().values, [[Value::Int(2)]]);
    });
}

#[test]
fn a_database_locked_past_timeout_is_a_timeout() {
    within(ms(20_000), || {
        let dir = TempDir::new("busy");
        let url = format!("sqlite3://{}", dir.db("busy.db").display());
        let holder = wsdial::dial(&url).unwrap();
        holder.exec("CREATE TABLE t (x)").unwrap();
        holder.exec("BEGIN EXCLUSIVE").unwrap();
        let waiter = wsdial::dial(&format!("{url}|timeout=300")).unwrap();
        let start = Instant::now();
        let e = waiter.exec("INSERT INTO t VALUES (1)").unwrap_err();
        assert!(e.is_timeout(), "{e}");
        assert!(e.to_string().contains("locked"), "{e}");
        // Waited for until timeout=300, not SQLite's (rusqlite's) default of 5 s.
        let took = start.elapsed();
        assert!(took >= ms(250) && took < ms(3_000), "{took:?}");
        holder.exec("COMMIT").unwrap();
        assert_eq!(
            waiter.exec("INSERT INTO t VALUES (1)").unwrap().affected,
            Some(1)
        );
    });
}

#[test]
fn quotes_and_drop_table_as_a_parameter_stay_a_value() {
    within(ms(10_000), || {
        let conn = wsdial::dial("sqlite3://:memory:").unwrap();
        conn.exec("CREATE TABLE fills (note TEXT)").unwrap();
        let evil = "x'); DROP TABLE fills; --\"";
        conn.exec_with("INSERT INTO fills VALUES (?)", &[evil.into()])
            .unwrap();
        let rows = conn
            .exec_with("SELECT note FROM fills WHERE note = ?", &[evil.into()])
            .unwrap();
        assert_eq!(rows.values, [[Value::Text(evil.into())]]);
        assert_eq!(
            conn.exec("SELECT count(*) FROM fills").unwrap().values,
            [[Value::Int(1)]]
        );
    });
}

#[test]
fn a_handle_is_used_from_four_threads_at_once() {
    within(ms(30_000), || {
        let conn = wsdial::dial("sqlite3://:memory:").unwrap();
        conn.exec("CREATE TABLE ticks (thread INTEGER, n INTEGER)")
            .unwrap();
        let handle = conn.fd().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    let c = wsdial::dial(&handle.to_string()).unwrap();
                    for n in 0..250 {
                        c.exec_with("INSERT INTO ticks VALUES (?, ?)", &[t.into(), n.into()])
                            .unwrap();
                    }
                    c.exec_with("SELECT count(*) FROM ticks WHERE thread = ?", &[t.into()])
                        .unwrap()
                        .values[0][0]
                        .as_i64()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), Some(250));
        }
        // The same in-memory database: the first Conn sees every row.
        assert_eq!(
            conn.exec("SELECT count(*), count(DISTINCT thread) FROM ticks")
                .unwrap()
                .values,
            [[Value::Int(1000), Value::Int(4)]]
        );
        handle.release();
    });
}

#[test]
fn a_handle_is_used_after_the_first_conn_was_closed() {
    within(ms(10_000), || {
        let conn = wsdial::dial("sqlite3://:memory:").unwrap();
        conn.exec("CREATE TABLE state (k TEXT, v TEXT)").unwrap();
        conn.exec("INSERT INTO state VALUES ('pos', '1.5')")
            .unwrap();
        let handle = conn.fd().unwrap();
        conn.close();
        drop(conn);
        let later = std::thread::spawn(move || {
            let c = wsdial::dial(&handle.to_string()).unwrap();
            c.exec("SELECT v FROM state WHERE k = 'pos'")
                .unwrap()
                .values
        })
        .join()
        .unwrap();
        assert_eq!(later, [[Value::Text("1.5".into())]]);
        // Released, with no Conn left on it: the session is gone.
        handle.release();
        let e = wsdial::dial(&handle.to_string()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Address);
        assert!(e.to_string().contains("no open database session"), "{e}");
    });
}

#[test]
fn exec_works_inside_a_programs_tokio_runtime() {
    within(ms(10_000), || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let rows = rt.block_on(async {
            let conn = wsdial::dial("sqlite3://:memory:").unwrap();
            conn.exec("CREATE TABLE t (x)").unwrap();
            conn.exec_with("INSERT INTO t VALUES (?)", &[7.into()])
                .unwrap();
            conn.exec("SELECT x FROM t").unwrap()
        });
        assert_eq!(rows.values, [[Value::Int(7)]]);
    });
}

#[test]
fn reads_and_writes_are_refused_with_the_exec_message() {
    within(ms(10_000), || {
        let conn = wsdial::dial("sqlite3://:memory:").unwrap();
        let refused = |e: Event| match e {
            Event::Disconnected(d) => {
                assert_eq!(d.cause(), Cause::NotReadable);
                assert!(d.detail().contains("use exec"), "{}", d.detail());
            }
            other => panic!("{other:?}"),
        };
        // at once, every time, whichever read
        let start = Instant::now();
        refused(conn.read());
        refused(conn.read());
        refused(conn.read_timeout(ms(5_000)).unwrap());
        refused(conn.try_read().unwrap());
        refused(conn.read_latest().unwrap());
        assert!(start.elapsed() < ms(1_000));
        assert_eq!(conn.write("SELECT 1"), 0);
        assert_eq!(conn.write_binary(b"x"), 0);
        assert!(
            conn.is_connected(),
            "a refused read does not lose the database"
        );
        assert_eq!(conn.exec("SELECT 1").unwrap().values, [[Value::Int(1)]]);
        conn.close();
        assert!(!conn.is_connected());
        let e = conn.exec("SELECT 1").unwrap_err();
        assert!(e.to_string().contains("closed"), "{e}");
        assert_eq!(conn.fd(), None);
    });
}

#[test]
fn the_address_forms() {
    within(ms(10_000), || {
        let dir = TempDir::new("forms");
        // Absolute, as sqlite3:///abs/path.db.
        let abs = dir.db("abs.db");
        assert!(abs.is_absolute());
        let c = wsdial::dial(&format!("sqlite3://{}", abs.display())).unwrap();
        c.exec("CREATE TABLE a (x)").unwrap();
        drop(c);
        assert!(shell(&abs, "SELECT name FROM sqlite_master").contains("\"a\""));
        // Relative to the working directory.
        let cwd = std::env::current_dir().unwrap();
        let rel_dir = format!("target/wsdial-sqlite-{}", std::process::id());
        std::fs::create_dir_all(cwd.join(&rel_dir)).unwrap();
        let c = wsdial::dial(&format!("sqlite3://{rel_dir}/test1.db")).unwrap();
        c.exec("CREATE TABLE r (x)").unwrap();
        drop(c);
        assert!(cwd.join(&rel_dir).join("test1.db").is_file());
        std::fs::remove_dir_all(cwd.join(&rel_dir)).unwrap();
        // An SQLite URI: two dials share one in-memory database by name.
        let uri = format!(
            "sqlite3://file:wsdial{}?mode=memory&cache=shared",
            std::process::id()
        );
        let one = wsdial::dial(&uri).unwrap();
        one.exec("CREATE TABLE m (x)").unwrap();
        let two = wsdial::dial(&uri).unwrap();
        assert_eq!(
            two.exec("SELECT count(*) FROM m").unwrap().values,
            [[Value::Int(0)]]
        );
        // ... and two plain :memory: dials do not.
        let a = wsdial::dial("sqlite3://:memory:").unwrap();
        a.exec("CREATE TABLE m (x)").unwrap();
        let b = wsdial::dial("sqlite3://:memory:").unwrap();
        assert!(b.exec("SELECT count(*) FROM m").is_err());
        // Options that do not apply to a database are refused by name.
        let e = wsdial::dial("sqlite3://:memory:|qsize=5").unwrap_err();
        assert_eq!(e.key(), Some("qsize"));
        let e = wsdial::dial("sqlite3://").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Address);
        let e =
            wsdial::dial(&format!("sqlite3://{}/no/such/dir/x.db", dir.0.display())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io, "{e}");
        assert!(e.to_string().contains("cannot open"), "{e}");
    });
}

/// `n` rows of `(k, v)` for `INSERT INTO t VALUES (?, ?)`.
fn kv_rows(n: i64) -> Vec<Vec<Value>> {
    (0..n)
        .map(|k| vec![Value::Int(k), Value::Text(format!("row {k}"))])
        .collect()
}

#[test]
fn exec_many_runs_every_row_in_order_and_counts_them() {
    within(ms(10_000), || {
        let conn = wsdial::dial("sqlite3://:memory:").unwrap();
        conn.exec("CREATE TABLE t (k INTEGER, v TEXT)").unwrap();
        let rows = kv_rows(1_000);
        assert_eq!(
            conn.exec_many("INSERT INTO t VALUES (?, ?)", &rows)
                .unwrap(),
            1_000
        );
        let back = conn.exec("SELECT k, v FROM t ORDER BY rowid").unwrap();
        assert_eq!(back.values, rows, "every row, in the order given");
        // An UPDATE per row counts what each changed.
        let n = conn
            .exec_many(
                "UPDATE t SET v = 'x' WHERE k < ?",
                &[[Value::Int(3)], [Value::Int(5)]],
            )
            .unwrap();
        assert_eq!(n, 3 + 5);
        // A statement that returns rows runs for each; its rows are discarded.
        let n = conn
            .exec_many(
                "INSERT INTO t VALUES (?, 'r') RETURNING k",
                &[[Value::Int(-1)], [Value::Int(-2)]],
            )
            .unwrap();
        assert_eq!(n, 0, "a statement returning rows adds nothing");
        let neg = conn.exec("SELECT count(*) FROM t WHERE k < 0").unwrap();
        assert_eq!(neg.values, [[Value::Int(2)]], "but it ran for each row");
    });
}

#[test]
fn exec_many_without_rows_touches_nothing() {
    within(ms(10_000), || {
        let conn = wsdial::dial("sqlite3://:memory:").unwrap();
        let none: &[Vec<Value>] = &[];
        // Not even prepared: a statement that would not compile is not seen.
        assert_eq!(
            conn.exec_many("INSERT INTO nowhere VALUES (?)", none)
                .unwrap(),
            0
        );
        let e = conn
            .exec_many("INSERT INTO nowhere VALUES (?)", &[[Value::Int(1)]])
            .unwrap_err();
        assert!(e.to_string().contains("no such table: nowhere"), "{e}");
        assert!(e.to_string().contains("parameter row 0"), "{e}");
    });
}

#[test]
fn exec_many_stops_at_a_failing_row_and_names_it() {
    within(ms(10_000), || {
        let conn = wsdial::dial("sqlite3://:memory:").unwrap();
        conn.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
            .unwrap();
        let mut rows = kv_rows(10);
        rows[6][0] = Value::Int(2); // a duplicate key
        let e = conn
            .exec_many("INSERT INTO t VALUES (?, ?)", &rows)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Constraint, "{e}");
        let m = e.to_string();
        assert!(m.contains("parameter row 6 (0-based) failed"), "{m}");
        assert!(m.contains("the 6 row(s) before it ran, affecting 6"), "{m}");
        assert!(m.contains("UNIQUE constraint failed: t.k"), "{m}");
        let count = "SELECT count(*) FROM t";
        assert_eq!(
            conn.exec(count).unwrap().values,
            [[Value::Int(6)]],
            "no implicit transaction: the rows before it stay, none after"
        );
        // Inside the caller's transaction, a ROLLBACK undoes them all.
        conn.exec("DELETE FROM t").unwrap();
        conn.exec("BEGIN").unwrap();
        assert!(conn
            .exec_many("INSERT INTO t VALUES (?, ?)", &rows)
            .is_err());
        conn.exec("ROLLBACK").unwrap();
        assert_eq!(conn.exec(count).unwrap().values, [[Value::Int(0)]]);
    });
}

#[test]
fn exec_many_with_a_row_of_the_wrong_length_says_so() {
    within(ms(10_000), || {
        let conn = wsdial::dial("sqlite3://:memory:").unwrap();
        conn.exec("CREATE TABLE t (k INTEGER, v TEXT)").unwrap();
        for (bad, given) in [(vec![Value::Int(9)], 1), (vec![Value::Int(9); 3], 3)] {
            let mut rows = kv_rows(4);
            rows[2] = bad;
            let e = conn
                .exec_many("INSERT INTO t VALUES (?, ?)", &rows)
                .unwrap_err();
            let m = e.to_string();
            assert!(m.contains("parameter row 2 (0-based) failed"), "{m}");
            assert!(
                m.contains(&format!("2 placeholder(s) and {given} parameter(s)")),
                "{m}"
            );
        }
    });
}

#[test]
fn exec_many_past_timeout_is_a_timeout_naming_the_rows_that_ran() {
    within(ms(30_000), || {
        let conn = wsdial::dial("sqlite3://:memory:|timeout=200").unwrap();
        conn.exec("CREATE TABLE t (k INTEGER)").unwrap();
        // Each row inserts 2,000 rows (a millisecond or so); 100,000 rows
        // would take minutes, so the batch runs out of its 200 ms.
        let sql = "INSERT INTO t SELECT ? FROM (WITH RECURSIVE c(x) AS \
                   (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 2000) SELECT x FROM c)";
        let rows: Vec<[Value; 1]> = (0..100_000).map(|k| [Value::Int(k)]).collect();
        let start = Instant::now();
        let e = conn.exec_many(sql, &rows).unwrap_err();
        let took = start.elapsed();
        assert!(e.is_timeout(), "{e}");
        assert!(took >= ms(150) && took < ms(5_000), "{took:?}");
        let ran = conn.exec("SELECT count(DISTINCT k) FROM t").unwrap().values[0][0]
            .as_i64()
            .unwrap();
        assert!(ran > 0, "the first rows ran within 200 ms");
        let m = e.to_string();
        assert!(
            m.contains(&format!("parameter row {ran}"))
                && m.contains(&format!(
                    "the {ran} row(s) before it ran, affecting {}",
                    ran * 2000
                )),
            "{ran} rows ran: {m}"
        );
        // The connection goes on.
        assert_eq!(conn.exec("SELECT 2").unwrap().values, [[Value::Int(2)]]);
    });
}

#[test]
fn exec_many_interrupts_a_row_that_runs_past_timeout() {
    within(ms(20_000), || {
        let conn = wsdial::dial("sqlite3://:memory:|timeout=300").unwrap();
        conn.exec("CREATE TABLE t (k INTEGER)").unwrap();
        // Row 0 is quick; row 1 counts for ever unless interrupted.
        let sql = "INSERT INTO t SELECT ?1 FROM (SELECT count(*) FROM (WITH RECURSIVE c(x) AS \
                   (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE ?2) SELECT x FROM c))";
        let rows = [
            [Value::Int(0), Value::Int(0)],
            [Value::Int(1), Value::Int(1)],
        ];
        let e = conn.exec_many(sql, &rows).unwrap_err();
        assert!(e.is_timeout(), "{e}");
        let m = e.to_string();
        assert!(m.contains("parameter row 1 (0-based) failed"), "{m}");
        assert!(m.contains("interrupted"), "{m}");
        let back = conn.exec("SELECT k FROM t").unwrap();
        assert_eq!(back.values, [[Value::Int(0)]], "row 0 kept, row 1 undone");
    });
}

#[test]
fn exec_many_through_a_handle_on_another_thread() {
    within(ms(10_000), || {
        let conn = wsdial::dial("sqlite3://:memory:").unwrap();
        conn.exec("CREATE TABLE t (k INTEGER, v TEXT)").unwrap();
        let handle = conn.fd().unwrap();
        let n = std::thread::spawn(move || {
            let other = wsdial::dial(&handle.to_string()).unwrap();
            other.exec_many("INSERT INTO t VALUES (?, ?)", &kv_rows(50))
        })
        .join()
        .unwrap()
        .unwrap();
        assert_eq!(n, 50);
        let back = conn.exec("SELECT count(*) FROM t").unwrap();
        assert_eq!(back.values, [[Value::Int(50)]]);
        conn.close();
        let e = conn
            .exec_many("INSERT INTO t VALUES (?, ?)", &kv_rows(1))
            .unwrap_err();
        assert!(e.to_string().contains("closed connection"), "{e}");
        handle.release();
    });
}
