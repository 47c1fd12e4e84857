//! SQLite through wsdial against rusqlite used directly (scripts/bench's
//! database rows, driven by bench/db.py): `wsdial-db-bench MODE CLIENT DB`
//! prints the seconds one run took.
//!
//! - `select`: `SELECT *` of the 100,000-row table `t` of DB, every row
//!   materialised with owned values; the fastest of 5 on one connection (the
//!   machine is shared: the fastest is the least disturbed).
//! - `insert`: 100,000 parameterised INSERTs into a fresh table `ins`, in
//!   transactions of 1,000.
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
    let secs = match (mode.as_str(), client.as_str()) {
        ("select", "wsdial") => select_wsdial(db),
        ("select", "rusqlite") => select_rusqlite(db),
        ("insert", "wsdial") => insert_wsdial(db),
        ("insert", "rusqlite") => insert_rusqlite(db),
        _ => panic!("unknown mode/client {mode} {client}"),
    };
    println!("{secs:.6}");
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

fn select_wsdial(db: &str) -> f64 {
    let c = wsdial::dial(&format!("sqlite3://{db}")).unwrap();
    fastest(|| {
        let t = Instant::now();
        let rows = c.exec("SELECT * FROM t").unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(rows.values.len(), ROWS);
        secs
    })
}

/// The fastest of 5 runs.
fn fastest(mut f: impl FnMut() -> f64) -> f64 {
    (0..5).map(|_| f()).fold(f64::INFINITY, f64::min)
}

fn select_rusqlite(db: &str) -> f64 {
    let c = rusqlite::Connection::open(db).unwrap();
    fastest(|| select_once(&c))
}

fn select_once(c: &rusqlite::Connection) -> f64 {
    let t = Instant::now();
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
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(out.len(), ROWS);
    secs
}

fn insert_wsdial(db: &str) -> f64 {
    fresh(&rusqlite::Connection::open(db).unwrap());
    let c = wsdial::dial(&format!("sqlite3://{db}")).unwrap();
    let t = Instant::now();
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
    t.elapsed().as_secs_f64()
}

fn insert_rusqlite(db: &str) -> f64 {
    let mut c = rusqlite::Connection::open(db).unwrap();
    fresh(&c);
    let t = Instant::now();
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
    t.elapsed().as_secs_f64()
}
