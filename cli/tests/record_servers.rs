//! Recording the simulator's feed into PostgreSQL, MariaDB and ClickHouse
//! (`wsdial FROM --to 'postgres://…?table=ticks'`), each server started on a
//! free 127.0.0.1 port by tests/common/sqldb.rs, what was written read back
//! with the database's own client (psql, mariadb, clickhouse-client); and
//! `wsdial exec` against PostgreSQL.
#[path = "../../tests/common/mod.rs"]
mod common;
// Its servers are waited for by their stop commands and reaper shells.
#[allow(clippy::zombie_processes)]
#[path = "../../tests/common/sqldb.rs"]
mod sqldb;
mod support;
use common::ms;
use sqldb::PASSWORD;
use support::{bin, run, totals, Serve};

/// More than one batch (500 rows), so at least two INSERTs.
const N: u64 = 1234;

/// Records N messages of the feed into `to` and checks the totals line.
fn record(to: &str) -> String {
    let s = Serve::start(&["--rate", "3000"]);
    let mut c = bin();
    c.args([
        &format!("{}/binance", s.base),
        "--to",
        to,
        "-n",
        &N.to_string(),
        "--stats",
    ]);
    let o = run(c, None, ms(60_000));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let t = totals(&o);
    assert!(
        t.starts_with(&format!("relayed {N}  dropped 0  rows {N}  ")),
        "{t}"
    );
    s.base.clone()
}

/// `count, distinct seqs, min seq, max seq, rows whose source is the feed` as
/// the database's client printed them (tab-separated).
fn expect_all(out: &str) {
    let f: Vec<u64> = out
        .split_whitespace()
        .map(|n| n.parse().unwrap_or_else(|_| panic!("{out}")))
        .collect();
    assert_eq!(
        f,
        [N, N, 0, N - 1, N],
        "one row per message, none lost or twice"
    );
}

#[test]
fn recording_into_postgres() {
    let pg = sqldb::Postgres::start();
    let to = format!(
        "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres?sslmode=disable&table=ticks",
        pg.port
    );
    let base = record(&to);
    let out = pg.psql(&format!(
        "SELECT count(*), count(DISTINCT (payload::json->>'seq')), min((payload::json->>'seq')::int), \
         max((payload::json->>'seq')::int), count(*) FILTER (WHERE source = '{base}/binance' AND is_binary = 0) \
         FROM ticks"
    ));
    expect_all(&out.replace('|', " "));
}

#[test]
fn recording_into_mariadb() {
    let db = sqldb::Mariadb::start();
    let base = record(&db.url("?table=ticks"));
    let seq = "CAST(JSON_EXTRACT(payload, '$.seq') AS UNSIGNED)";
    let out = db.mariadb(&format!(
        "SELECT count(*), count(DISTINCT {seq}), min({seq}), max({seq}), \
         sum(source = '{base}/binance' AND is_binary = 0) FROM ticks"
    ));
    expect_all(&out);
}

/// Records the feed into a fresh ClickHouse through the address `url` makes
/// (the HTTP or the native form) and checks every message landed once.
fn record_into_clickhouse(url: fn(&sqldb::Clickhouse, &str) -> String) {
    let ch = sqldb::Clickhouse::start();
    let base = record(&url(&ch, "&table=ticks"));
    let seq = "visitParamExtractUInt(payload, 'seq')";
    let out = ch.client(&format!(
        "SELECT count(), uniqExact({seq}), min({seq}), max({seq}), \
         countIf(source = '{base}/binance' AND is_binary = 0) FROM ticks"
    ));
    expect_all(&out);
}

#[test]
fn recording_into_clickhouse() {
    record_into_clickhouse(sqldb::Clickhouse::url);
}

#[test]
fn recording_into_clickhouse_native() {
    record_into_clickhouse(sqldb::Clickhouse::native_url);
}

#[test]
fn exec_against_clickhouse_native_prints_json_lines() {
    let ch = sqldb::Clickhouse::start();
    let url = ch.native_url("");
    let mut c = bin();
    c.args([
        "exec",
        &url,
        "SELECT 1 AS one, toDecimal64('1.50', 2) AS d, 'a;b' AS s",
    ]);
    let o = run(c, None, ms(30_000));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim_end(),
        r#"{"columns":["one","d","s"],"values":[[1,"1.50","a;b"]]}"#
    );
    let mut c = bin();
    c.args(["exec", &url, "SELEC 1"]);
    let o = run(c, None, ms(30_000));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Syntax error"),
        "{o:?}"
    );
}

#[test]
fn exec_against_postgres_prints_json_lines_and_fails_with_status_1() {
    let pg = sqldb::Postgres::start();
    let url = pg.url("");
    let mut c = bin();
    c.args(["exec", &url]);
    let script = "CREATE TABLE e (id int PRIMARY KEY, n numeric, s text);\n\
        INSERT INTO e VALUES (1, 12345678901234567890.123, 'a;b');\n\
        DO $$ BEGIN PERFORM 1; END $$;\n\
        SELECT id, n, s FROM e;";
    let o = run(c, Some(script), ms(30_000));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(
        lines[3],
        r#"{"columns":["id","n","s"],"values":[[1,"12345678901234567890.123","a;b"]]}"#
    );
    let mut c = bin();
    c.args(["exec", &url, "INSERT INTO e VALUES (1, 0, 'dup')"]);
    let o = run(c, None, ms(30_000));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(o.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("duplicate key"),
        "{o:?}"
    );
}
