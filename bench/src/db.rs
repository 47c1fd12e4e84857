//! SQLite through wsdial against rusqlite used directly (scripts/bench's
//! database rows, driven by bench/db.py): `wsdial-db-bench MODE CLIENT DB`
//! prints the seconds one run took, wall-clock then CPU (the process's user
//! and system time, which other programs on a shared machine do not add to,
//! and which leaves out waiting for the disk's fsync at each COMMIT).
//!
//! - `select`: `SELECT *` of the 100,000-row table `t` of DB, every row
//!   materialised with owned values; the fastest of 5 on one connection (the
//!   machine is shared: the fastest is the least disturbed), after one
//!   untimed warm-up run.
//! - `insert`: 100,000 parameterised INSERTs into a fresh table `ins`, in
//!   transactions of 1,000 (SQLite's defaults on both sides: rollback
//!   journal, synchronous=FULL). `rusqlite` prepares the statement once per
//!   transaction and runs it 1,000 times; `rusqlite-per-row` takes it from
//!   rusqlite's statement cache for each row (`prepare_cached(sql)?.execute`),
//!   which is what wsdial's `exec_with(sql, …)` does: a statement is not
//!   kept between execs (rusqlite's `Statement` borrows the connection and
//!   is not `Send`, and wsdial forbids unsafe code). `wsdial` runs each
//!   transaction's 1,000 rows with one `exec_many` (prepared once, as
//!   `rusqlite` does); `wsdial-per-row` with one `exec_with` per row.
use std::time::Instant;

const ROWS: usize = 100_000;
const BATCH: usize = 1_000;
const INSERT: &str = "INSERT INTO ins VALUES (?, ?, ?, ?, ?)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, client, db] = &args[..] else {
        eprintln!("usage: wsdial-db-bench select|insert|prepare wsdial|rusqlite DB");
        std::process::exit(2);
    };
    if mode == "prepare" {
        prepare(db);
        return;
    }
    let (secs, cpu) = match (mode.as_str(), client.as_str()) {
        ("select", "wsdial") => select_wsdial(db),
        ("select", "rusqlite") => select_rusqlite(db),
        ("insert", "wsdial") => insert_wsdial(db),
        ("insert", "wsdial-per-row") => insert_wsdial_per_row(db),
        ("insert", "rusqlite") => insert_rusqlite(db),
        ("insert", "rusqlite-per-row") => insert_rusqlite_per_row(db),
        _ => panic!("unknown mode/client {mode} {client}"),
    };
    println!("{secs:.6} {cpu:.6}");
}

/// The CPU time this process has used, in seconds (every thread's).
fn cpu() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Wall-clock and CPU seconds of `f`.
fn timed(f: impl FnOnce()) -> (f64, f64) {
    let (t, c) = (Instant::now(), cpu());
    f();
    (t.elapsed().as_secs_f64(), cpu() - c)
}

/// The 100,000-row table the SELECT reads.
fn prepare(db: &str) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(
        "DROP TABLE IF EXISTS t; CREATE TABLE t (id INTEGER, sym TEXT, price REAL, qty REAL, ts INTEGER); BEGIN;",
    )
    .unwrap();
    {
        let mut s = c.prepare("INSERT INTO t VALUES (?, ?, ?, ?, ?)").unwrap();
        for i in 0..ROWS as i64 {
            s.execute(rusqlite::params![
                i,
                "BTCUSDT",
                97_000.0 + i as f64 * 0.01,
                0.001 * (i % 7) as f64,
                1_764_000_000_000i64 + i
            ])
            .unwrap();
        }
    }
    c.execute_batch("COMMIT").unwrap();
}

fn fresh(c: &rusqlite::Connection) {
    c.execute_batch("DROP TABLE IF EXISTS ins; CREATE TABLE ins (id INTEGER, sym TEXT, price REAL, qty REAL, ts INTEGER)")
        .unwrap();
}

fn select_wsdial(db: &str) -> (f64, f64) {
    let c = wsdial::dial(&format!("sqlite3://{db}")).unwrap();
    fastest(|| {
        let mut rows = None;
        let t = timed(|| rows = Some(c.exec("SELECT * FROM t").unwrap()));
        assert_eq!(rows.unwrap().values.len(), ROWS);
        t
    })
}

/// The fastest of 5 runs (wall-clock and CPU each), after one warm-up run.
fn fastest(mut f: impl FnMut() -> (f64, f64)) -> (f64, f64) {
    f();
    (0..5)
        .map(|_| f())
        .fold((f64::INFINITY, f64::INFINITY), |(w, c), (w2, c2)| {
            (w.min(w2), c.min(c2))
        })
}

fn select_rusqlite(db: &str) -> (f64, f64) {
    let c = rusqlite::Connection::open(db).unwrap();
    fastest(|| {
        let mut out = Vec::new();
        let t = timed(|| out = select_once(&c));
        assert_eq!(out.len(), ROWS);
        t
    })
}

fn select_once(c: &rusqlite::Connection) -> Vec<Vec<rusqlite::types::Value>> {
    let mut s = c.prepare_cached("SELECT * FROM t").unwrap();
    let n = s.column_count();
    let _names: Vec<String> = s.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = s.query([]).unwrap();
    let mut out: Vec<Vec<rusqlite::types::Value>> = Vec::new();
    while let Some(r) = rows.next().unwrap() {
        out.push(
            (0..n)
                .map(|i| r.get::<_, rusqlite::types::Value>(i).unwrap())
                .collect(),
        );
    }
    out
}

/// One row of the INSERT, as wsdial takes it.
fn row(i: i64) -> [wsdial::db::Value; 5] {
    [
        i.into(),
        "BTCUSDT".into(),
        (97_000.0 + i as f64 * 0.01).into(),
        0.001.into(),
        (1_764_000_000_000i64 + i).into(),
    ]
}

fn insert_wsdial(db: &str) -> (f64, f64) {
    fresh(&rusqlite::Connection::open(db).unwrap());
    let c = wsdial::dial(&format!("sqlite3://{db}")).unwrap();
    timed(|| {
        for b in 0..ROWS / BATCH {
            let rows: Vec<_> = (0..BATCH).map(|j| row((b * BATCH + j) as i64)).collect();
            c.exec("BEGIN").unwrap();
            assert_eq!(c.exec_many(INSERT, &rows).unwrap(), BATCH as u64);
            c.exec("COMMIT").unwrap();
        }
    })
}

fn insert_wsdial_per_row(db: &str) -> (f64, f64) {
    fresh(&rusqlite::Connection::open(db).unwrap());
    let c = wsdial::dial(&format!("sqlite3://{db}")).unwrap();
    timed(|| {
        for b in 0..ROWS / BATCH {
            c.exec("BEGIN").unwrap();
            for j in 0..BATCH {
                let i = (b * BATCH + j) as i64;
                c.exec_with(
                    INSERT,
                    &[
                        i.into(),
                        "BTCUSDT".into(),
                        (97_000.0 + i as f64 * 0.01).into(),
                        0.001.into(),
                        (1_764_000_000_000i64 + i).into(),
                    ],
                )
                .unwrap();
            }
            c.exec("COMMIT").unwrap();
        }
    })
}

fn insert_rusqlite(db: &str) -> (f64, f64) {
    let mut c = rusqlite::Connection::open(db).unwrap();
    fresh(&c);
    timed(|| {
        for b in 0..ROWS / BATCH {
            let tx = c.transaction().unwrap();
            {
                let mut s = tx.prepare_cached(INSERT).unwrap();
                for j in 0..BATCH {
                    let i = (b * BATCH + j) as i64;
                    s.execute(rusqlite::params![
                        i,
                        "BTCUSDT",
                        97_000.0 + i as f64 * 0.01,
                        0.001,
                        1_764_000_000_000i64 + i
                    ])
                    .unwrap();
                }
            }
            tx.commit().unwrap();
        }
    })
}

fn insert_rusqlite_per_row(db: &str) -> (f64, f64) {
    let mut c = rusqlite::Connection::open(db).unwrap();
    fresh(&c);
    timed(|| {
        for b in 0..ROWS / BATCH {
            let tx = c.transaction().unwrap();
            for j in 0..BATCH {
                let i = (b * BATCH + j) as i64;
                tx.prepare_cached(INSERT)
                    .unwrap()
                    .execute(rusqlite::params![
                        i,
                        "BTCUSDT",
                        97_000.0 + i as f64 * 0.01,
                        0.001,
                        1_764_000_000_000i64 + i
                    ])
                    .unwrap();
            }
            tx.commit().unwrap();
        }
    })
}
