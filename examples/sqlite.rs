//! A bot's fills in SQLite: `exec` with bound parameters, a transaction, a
//! query printed in Dial's JSON shape, and the same database used from
//! another thread through its handle.
//!
//! `cargo run --example sqlite [sqlite3://fills.db]` (default: an in-memory
//! database). Needs the cargo feature `sqlite` (the command line's build has it).
use wsdial::db::Value;

fn main() -> Result<(), wsdial::Error> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite3://:memory:|timeout=5000".into());
    let db = wsdial::dial(&address)?;
    db.exec(
        "CREATE TABLE IF NOT EXISTS fills (
            id INTEGER PRIMARY KEY, symbol TEXT NOT NULL, side TEXT,
            price DECIMAL TEXT, qty REAL, at DATETIME)",
    )?;

    // Values are bound, never spliced into the SQL.
    db.exec("BEGIN")?;
    let fills = [
        ("buy", "97123.45", 0.01),
        ("sell", "97130.10", 0.02),
        ("buy", "97101.99", 0.03),
    ];
    for (i, (side, price, qty)) in fills.into_iter().enumerate() {
        db.exec_with(
            "INSERT INTO fills (symbol, side, price, qty, at) VALUES (?, ?, ?, ?, ?)",
            &[
                "BTCUSDT".into(),
                side.into(),
                Value::Decimal(price.into()),
                qty.into(),
                Value::DateTime(format!("2026-11-30T12:00:0{i}")),
            ],
        )?;
    }
    db.exec("COMMIT")?;

    let rows = db.exec_with(
        "SELECT side, price, qty FROM fills WHERE symbol = ? ORDER BY id",
        &["BTCUSDT".into()],
    )?;
    println!("{}", serde_json::to_string(&rows).expect("rows serialise"));

    // Another thread, the same database (an in-memory one included).
    let handle = db.fd().expect("a database connection has a handle");
    let counted = std::thread::spawn(move || -> Result<Option<i64>, wsdial::Error> {
        let same = wsdial::dial(&handle.to_string())?;
        Ok(same.exec("SELECT count(*) FROM fills")?.values[0][0].as_i64())
    })
    .join()
    .expect("the thread ran")?;
    println!(
        "fills counted from another thread: {}",
        counted.unwrap_or(0)
    );
    handle.release();
    Ok(())
}
