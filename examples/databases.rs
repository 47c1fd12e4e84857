//! A bot's fills in PostgreSQL, MySQL/MariaDB or ClickHouse (or SQLite), with
//! bound parameters, and the rows as Dial's JSON:
//!
//! ```sh
//! cargo run --features databases --example databases -- \
//!   'postgres://user=postgres password=pw dbname=postgres host=127.0.0.1 sslmode=disable'
//! cargo run --features databases --example databases -- 'mysql://u:pw@tcp(127.0.0.1:3306)/bot'
//! cargo run --features databases --example databases -- 'clickhouse://127.0.0.1:8123?username=default&password=pw'
//! ```
//!
//! It creates a table `example_fills` (dropped first if there), writes three
//! fills and prints them as one JSON line.

use wsdial::db::Value;

fn main() -> Result<(), wsdial::Error> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite3://:memory:".to_owned());
    let db = wsdial::dial(&format!("{address}|timeout=5000"))?;
    let (table, ph): (&str, fn(usize) -> String) = if address.starts_with("postgres") {
        (
            "(symbol text, price numeric(20, 8), qty float8, at timestamp)",
            |n| format!("${n}"),
        )
    } else if address.starts_with("clickhouse") {
        (
            "(symbol String, price Decimal(20, 8), qty Float64, at DateTime) ENGINE = Memory",
            |_| "?".to_owned(),
        )
    } else if address.starts_with("mysql") {
        (
            "(symbol text, price decimal(20, 8), qty double, at datetime)",
            |_| "?".to_owned(),
        )
    } else {
        (
            "(symbol TEXT, price DECIMAL TEXT, qty REAL, at TEXT)",
            |_| "?".to_owned(),
        )
    };
    db.exec("DROP TABLE IF EXISTS example_fills")?;
    db.exec(&format!("CREATE TABLE example_fills {table}"))?;
    let insert = format!(
        "INSERT INTO example_fills (symbol, price, qty, at) VALUES ({}, {}, {}, {})",
        ph(1),
        ph(2),
        ph(3),
        ph(4)
    );
    for (price, qty) in [("97123.45", 0.01), ("97120.00000001", 0.5), ("97130", 2.0)] {
        db.exec_with(
            &insert,
            &[
                // A quote in a value is a value: parameters are never spliced into SQL.
                Value::Text("BTC'USDT".into()),
                Value::Decimal(price.into()),
                Value::Float(qty),
                Value::DateTime("2026-11-30T12:00:00".into()),
            ],
        )?;
    }
    let rows = db.exec("SELECT symbol, price, qty, at FROM example_fills ORDER BY qty")?;
    println!("{}", serde_json::to_string(&rows).expect("rows serialise"));
    Ok(())
}
