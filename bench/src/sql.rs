//! PostgreSQL, MariaDB and ClickHouse through wsdial against the crate wsdial
//! uses, used directly (scripts/bench's server database rows, driven by
//! bench/sql.py): `wsdial-sql-bench MODE DB CLIENT PORT` prints the seconds
//! one run took.
//!
//! - `serve`: starts the three servers (tests/common/sqldb.rs: 127.0.0.1, a
//!   temporary folder each), prints their ports as one JSON line, and stops
//!   them when stdin closes.
//! - `prepare`: the 100,000-row table `t` the SELECT reads.
//! - `select`: `SELECT *` of `t`, every row materialised with owned values;
//!   the fastest of 5 on one connection (the machine is shared: the fastest
//!   is the least disturbed).
//! - `insert`: 100,000 parameterised INSERTs into a fresh table `ins`:
//!   PostgreSQL and MariaDB one statement per row in transactions of 1,000;
//!   ClickHouse (which wants few large inserts) 100 INSERTs of 1,000 rows.
//!
//! DB is `postgres`, `mysql`, `clickhouse` (its HTTP interface) or
//! `clickhouse_native` (its native protocol, PORT the server's TCP port);
//! CLIENT `wsdial` or `crate` (`postgres`, `mysql`, `ureq` speaking
//! ClickHouse's HTTP interface, or `klickhouse` on its native protocol).
use std::io::Read as _;
use std::time::Instant;

#[path = "../../tests/common/sqldb.rs"]
mod sqldb;

const ROWS: usize = 100_000;
const BATCH: usize = 1_000;
const PW: &str = sqldb::PASSWORD;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        serve();
        return;
    }
    let [mode, db, client, port] = &args[..] else {
        eprintln!("usage: wsdial-sql-bench serve | prepare|select|insert postgres|mysql|clickhouse wsdial|crate PORT");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("PORT");
    let secs = match (mode.as_str(), db.as_str(), client.as_str()) {
        ("prepare", _, _) => {
            prepare(db, port);
            return;
        }
        ("select", _, "wsdial") => select_wsdial(&url(db, port)),
        ("insert", _, "wsdial") => insert_wsdial(db, &url(db, port)),
        ("select", "postgres", "crate") => pg::select(port),
        ("insert", "postgres", "crate") => pg::insert(port),
        ("select", "mysql", "crate") => my::select(port),
        ("insert", "mysql", "crate") => my::insert(port),
        ("select", "clickhouse", "crate") => ch::select(port),
        ("insert", "clickhouse", "crate") => ch::insert(port),
        ("select", "clickhouse_native", "crate") => native::select(port),
        ("insert", "clickhouse_native", "crate") => native::insert(port),
        _ => panic!("unknown mode/db/client {mode} {db} {client}"),
    };
    println!("{secs:.6}");
}

fn serve() {
    let pg = sqldb::Postgres::start();
    let my = sqldb::Mariadb::start();
    let ch = sqldb::Clickhouse::start();
    println!(
        "{{\"postgres\": {}, \"mysql\": {}, \"clickhouse\": {}, \"clickhouse_tcp\": {}, \"password\": \"{PW}\"}}",
        pg.port, my.port, ch.http_port, ch.tcp_port
    );
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop((pg, my, ch));
}

fn url(db: &str, port: u16) -> String {
    match db {
        "postgres" => format!(
            "postgres://host=127.0.0.1 port={port} user=postgres password={PW} dbname=postgres sslmode=disable"
        ),
        "mysql" => format!("mysql://wsdial:{PW}@tcp(127.0.0.1:{port})/t"),
        "clickhouse" => format!("clickhouse://127.0.0.1:{port}?username=default&password={PW}"),
        "clickhouse_native" => {
            format!("clickhouse://tcp://127.0.0.1:{port}?username=default&password={PW}")
        }
        _ => panic!("unknown db {db}"),
    }
}

/// The columns of `t` and `ins`, in each database's types.
fn columns(db: &str) -> &'static str {
    match db {
        "postgres" => "(id BIGINT, sym TEXT, price DOUBLE PRECISION, qty DOUBLE PRECISION, ts BIGINT)",
        "mysql" => "(id BIGINT, sym TEXT, price DOUBLE, qty DOUBLE, ts BIGINT)",
        _ => "(id Int64, sym String, price Float64, qty Float64, ts Int64) ENGINE = MergeTree ORDER BY id",
    }
}

fn placeholders(db: &str) -> &'static str {
    if db == "postgres" {
        "($1, $2, $3, $4, $5)"
    } else {
        "(?, ?, ?, ?, ?)"
    }
}

fn row(i: usize) -> [wsdial::db::Value; 5] {
    let i = i as i64;
    [
        i.into(),
        "BTCUSDT".into(),
        (97_000.0 + i as f64 * 0.01).into(),
        (0.001 * (i % 7) as f64).into(),
        (1_764_000_000_000i64 + i).into(),
    ]
}

fn fresh(c: &wsdial::Conn, db: &str, table: &str) {
    c.exec(&format!("DROP TABLE IF EXISTS {table}")).unwrap();
    c.exec(&format!("CREATE TABLE {table} {}", columns(db)))
        .unwrap();
}

/// Fills `t` through wsdial, in batches of 1,000 rows per INSERT.
fn prepare(db: &str, port: u16) {
    let c = wsdial::dial(&url(db, port)).unwrap();
    fresh(&c, db, "t");
    let p = if db == "postgres" { "$" } else { "?" };
    for b in 0..ROWS / BATCH {
        let mut sql = String::from("INSERT INTO t VALUES ");
        let mut params = Vec::with_capacity(BATCH * 5);
        for j in 0..BATCH {
            let n = j * 5;
            if j > 0 {
                sql.push(',');
            }
            if p == "$" {
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5
                ));
            } else {
                sql.push_str("(?, ?, ?, ?, ?)");
            }
            params.extend(row(b * BATCH + j));
        }
        c.exec_with(&sql, &params).unwrap();
    }
    let n = c.exec("SELECT count(*) FROM t").unwrap();
    assert_eq!(n.values.len(), 1);
}

/// The fastest of 5 runs.
fn fastest(mut f: impl FnMut() -> f64) -> f64 {
    (0..5).map(|_| f()).fold(f64::INFINITY, f64::min)
}

fn select_wsdial(url: &str) -> f64 {
    let c = wsdial::dial(url).unwrap();
    fastest(|| {
        let t = Instant::now();
        let rows = c.exec("SELECT * FROM t").unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(rows.values.len(), ROWS);
        secs
    })
}

fn insert_wsdial(db: &str, url: &str) -> f64 {
    let c = wsdial::dial(url).unwrap();
    fresh(&c, db, "ins");
    let t = Instant::now();
    if db.starts_with("clickhouse") {
        let one = format!("{},", placeholders(db));
        let mut sql = String::from("INSERT INTO ins VALUES ");
        sql.push_str(&one.repeat(BATCH));
        sql.pop();
        for b in 0..ROWS / BATCH {
            let params: Vec<wsdial::db::Value> =
                (0..BATCH).flat_map(|j| row(b * BATCH + j)).collect();
            c.exec_with(&sql, &params).unwrap();
        }
    } else {
        let sql = format!("INSERT INTO ins VALUES {}", placeholders(db));
        for b in 0..ROWS / BATCH {
            c.exec("BEGIN").unwrap();
            for j in 0..BATCH {
                c.exec_with(&sql, &row(b * BATCH + j)).unwrap();
            }
            c.exec("COMMIT").unwrap();
        }
    }
    t.elapsed().as_secs_f64()
}

/// `postgres` directly: a prepared statement per SQL text, as its users write.
mod pg {
    use super::*;
    use postgres::{Client, NoTls};

    fn client(port: u16) -> Client {
        Client::connect(
            &format!("host=127.0.0.1 port={port} user=postgres password={PW} dbname=postgres sslmode=disable"),
            NoTls,
        )
        .unwrap()
    }

    pub fn select(port: u16) -> f64 {
        let mut c = client(port);
        let stmt = c.prepare("SELECT * FROM t").unwrap();
        fastest(|| {
            let t = Instant::now();
            let rows = c.query(&stmt, &[]).unwrap();
            let _names: Vec<String> = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
            let out: Vec<(i64, String, f64, f64, i64)> = rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                .collect();
            let secs = t.elapsed().as_secs_f64();
            assert_eq!(out.len(), ROWS);
            secs
        })
    }

    pub fn insert(port: u16) -> f64 {
        let mut c = client(port);
        c.batch_execute(&format!(
            "DROP TABLE IF EXISTS ins; CREATE TABLE ins {}",
            columns("postgres")
        ))
        .unwrap();
        let t = Instant::now();
        for b in 0..ROWS / BATCH {
            let mut tx = c.transaction().unwrap();
            let stmt = tx
                .prepare("INSERT INTO ins VALUES ($1, $2, $3, $4, $5)")
                .unwrap();
            for j in 0..BATCH {
                let i = (b * BATCH + j) as i64;
                tx.execute(
                    &stmt,
                    &[
                        &i,
                        &"BTCUSDT",
                        &(97_000.0 + i as f64 * 0.01),
                        &(0.001 * (i % 7) as f64),
                        &(1_764_000_000_000i64 + i),
                    ],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        t.elapsed().as_secs_f64()
    }
}

/// `mysql` directly: text protocol for SELECT, its statement cache for INSERT.
mod my {
    use super::*;
    use mysql::prelude::Queryable;
    use mysql::{Conn, OptsBuilder};

    fn conn(port: u16) -> Conn {
        Conn::new(
            OptsBuilder::new()
                .ip_or_hostname(Some("127.0.0.1"))
                .tcp_port(port)
                .user(Some("wsdial"))
                .pass(Some(PW))
                .db_name(Some("t")),
        )
        .unwrap()
    }

    pub fn select(port: u16) -> f64 {
        let mut c = conn(port);
        fastest(|| {
            let t = Instant::now();
            let rows: Vec<mysql::Row> = c.query("SELECT * FROM t").unwrap();
            let out: Vec<Vec<mysql::Value>> = rows.into_iter().map(|r| r.unwrap()).collect();
            let secs = t.elapsed().as_secs_f64();
            assert_eq!(out.len(), ROWS);
            secs
        })
    }

    pub fn insert(port: u16) -> f64 {
        let mut c = conn(port);
        c.query_drop("DROP TABLE IF EXISTS ins").unwrap();
        c.query_drop(format!("CREATE TABLE ins {}", columns("mysql")))
            .unwrap();
        let t = Instant::now();
        for b in 0..ROWS / BATCH {
            c.query_drop("BEGIN").unwrap();
            for j in 0..BATCH {
                let i = (b * BATCH + j) as i64;
                c.exec_drop(
                    "INSERT INTO ins VALUES (?, ?, ?, ?, ?)",
                    (
                        i,
                        "BTCUSDT",
                        97_000.0 + i as f64 * 0.01,
                        0.001 * (i % 7) as f64,
                        1_764_000_000_000i64 + i,
                    ),
                )
                .unwrap();
            }
            c.query_drop("COMMIT").unwrap();
        }
        t.elapsed().as_secs_f64()
    }
}

/// `ureq` directly on ClickHouse's HTTP interface: TabSeparated both ways.
mod ch {
    use super::*;

    fn post(agent: &ureq::Agent, port: u16, query: &str, body: &[u8]) -> Vec<u8> {
        let url = format!("http://127.0.0.1:{port}/?query={}", url_escape(query));
        let mut resp = agent
            .post(&url)
            .header("X-ClickHouse-User", "default")
            .header("X-ClickHouse-Key", PW)
            .send(body)
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .unwrap()
    }

    fn url_escape(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    pub fn select(port: u16) -> f64 {
        let agent = ureq::Agent::new_with_defaults();
        fastest(|| {
            let t = Instant::now();
            let body = post(
                &agent,
                port,
                "SELECT * FROM t FORMAT TabSeparatedWithNames",
                b"",
            );
            let text = std::str::from_utf8(&body).unwrap();
            let mut lines = text.lines();
            let _names: Vec<String> = lines
                .next()
                .unwrap()
                .split('\t')
                .map(str::to_owned)
                .collect();
            let out: Vec<(i64, String, f64, f64, i64)> = lines
                .map(|l| {
                    let mut f = l.split('\t');
                    let mut n = || f.next().unwrap();
                    (
                        n().parse().unwrap(),
                        n().to_owned(),
                        n().parse().unwrap(),
                        n().parse().unwrap(),
                        n().parse().unwrap(),
                    )
                })
                .collect();
            let secs = t.elapsed().as_secs_f64();
            assert_eq!(out.len(), ROWS);
            secs
        })
    }

    pub fn insert(port: u16) -> f64 {
        let agent = ureq::Agent::new_with_defaults();
        post(&agent, port, "DROP TABLE IF EXISTS ins", b"");
        post(
            &agent,
            port,
            &format!("CREATE TABLE ins {}", columns("clickhouse")),
            b"",
        );
        let t = Instant::now();
        for b in 0..ROWS / BATCH {
            let mut body = String::with_capacity(BATCH * 64);
            for j in 0..BATCH {
                let i = (b * BATCH + j) as i64;
                body.push_str(&format!(
                    "{i}\tBTCUSDT\t{}\t{}\t{}\n",
                    97_000.0 + i as f64 * 0.01,
                    0.001 * (i % 7) as f64,
                    1_764_000_000_000i64 + i
                ));
            }
            post(
                &agent,
                port,
                "INSERT INTO ins FORMAT TabSeparated",
                body.as_bytes(),
            );
        }
        t.elapsed().as_secs_f64()
    }
}

/// `klickhouse` directly on ClickHouse's native protocol, as its users write
/// it: a typed row (the `Row` impl its derive would write), `query_collect`
/// for SELECT, `insert_native_block` for each batch; a current-thread tokio
/// runtime on the calling thread.
mod native {
    use super::*;
    use klickhouse::{Client, ClientOptions, FromSql, KlickhouseError, Row, ToSql, Type, Value};
    use std::borrow::Cow;

    struct Tick {
        id: i64,
        sym: String,
        price: f64,
        qty: f64,
        ts: i64,
    }

    impl Row for Tick {
        const COLUMN_COUNT: Option<usize> = Some(5);

        fn column_names() -> Option<Vec<Cow<'static, str>>> {
            Some(
                ["id", "sym", "price", "qty", "ts"]
                    .map(Cow::Borrowed)
                    .to_vec(),
            )
        }

        fn deserialize_row(map: Vec<(&str, &Type, Value)>) -> klickhouse::Result<Self> {
            let mut t = Tick {
                id: 0,
                sym: String::new(),
                price: 0.0,
                qty: 0.0,
                ts: 0,
            };
            for (name, ty, v) in map {
                match name {
                    "id" => t.id = i64::from_sql(ty, v)?,
                    "sym" => t.sym = String::from_sql(ty, v)?,
                    "price" => t.price = f64::from_sql(ty, v)?,
                    "qty" => t.qty = f64::from_sql(ty, v)?,
                    "ts" => t.ts = i64::from_sql(ty, v)?,
                    other => {
                        return Err(KlickhouseError::DeserializeError(format!(
                            "unexpected column {other}"
                        )))
                    }
                }
            }
            Ok(t)
        }

        fn serialize_row(
            self,
            hints: &klickhouse::IndexMap<String, Type>,
        ) -> klickhouse::Result<Vec<(Cow<'static, str>, Value)>> {
            Ok(vec![
                (Cow::Borrowed("id"), self.id.to_sql(hints.get("id"))?),
                (Cow::Borrowed("sym"), self.sym.to_sql(hints.get("sym"))?),
                (
                    Cow::Borrowed("price"),
                    self.price.to_sql(hints.get("price"))?,
                ),
                (Cow::Borrowed("qty"), self.qty.to_sql(hints.get("qty"))?),
                (Cow::Borrowed("ts"), self.ts.to_sql(hints.get("ts"))?),
            ])
        }
    }

    fn client(port: u16) -> (tokio::runtime::Runtime, Client) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let options = ClientOptions {
            username: "default".into(),
            password: PW.into(),
            ..Default::default()
        };
        let c = rt
            .block_on(Client::connect(("127.0.0.1", port), options))
            .unwrap();
        (rt, c)
    }

    pub fn select(port: u16) -> f64 {
        let (rt, c) = client(port);
        fastest(|| {
            let t = Instant::now();
            let _names: Vec<String> = Tick::column_names()
                .unwrap()
                .into_iter()
                .map(Cow::into_owned)
                .collect();
            let out: Vec<Tick> = rt.block_on(c.query_collect("SELECT * FROM t")).unwrap();
            let secs = t.elapsed().as_secs_f64();
            assert_eq!(out.len(), ROWS);
            secs
        })
    }

    pub fn insert(port: u16) -> f64 {
        let (rt, c) = client(port);
        rt.block_on(async {
            c.execute("DROP TABLE IF EXISTS ins").await.unwrap();
            c.execute(format!("CREATE TABLE ins {}", columns("clickhouse")))
                .await
                .unwrap();
        });
        let t = Instant::now();
        for b in 0..ROWS / BATCH {
            let rows: Vec<Tick> = (0..BATCH)
                .map(|j| {
                    let i = (b * BATCH + j) as i64;
                    Tick {
                        id: i,
                        sym: "BTCUSDT".into(),
                        price: 97_000.0 + i as f64 * 0.01,
                        qty: 0.001 * (i % 7) as f64,
                        ts: 1_764_000_000_000i64 + i,
                    }
                })
                .collect();
            rt.block_on(c.insert_native_block("INSERT INTO ins FORMAT native", rows))
                .unwrap();
        }
        t.elapsed().as_secs_f64()
    }
}
