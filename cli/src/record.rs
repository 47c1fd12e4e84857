//! Recording a feed into a database: `wsdial FROM --to 'sqlite3://ticks.db?table=ticks'`.
//!
//! One row per message in the table named by `?table=` (default `messages`),
//! created if missing with these columns:
//!
//! | column | type | what |
//! |---|---|---|
//! | `received_us` | 64-bit integer | when the relay read the message, microseconds since the Unix epoch |
//! | `source` | text | the message's topic (brokers), else FROM's URL |
//! | `payload` | text | the message; a binary one as base64 |
//! | `is_binary` | small integer | 1 when `payload` is base64 of a binary message |
//!
//! Rows are written in batches: one multi-row `INSERT` (one transaction) per
//! batch, of at most [`BATCH_ROWS`] rows or [`BATCH_BYTES`] bytes, written at
//! most [`BATCH_LATENCY`] after its first row. The `?table=` parameter is the
//! command line's, taken off before the database is dialed; the rest of the
//! address (its own query string, `|options`) goes to the database as it is.
//!
//! A batch that fails because the database could not be reached (and TO says
//! `reconnect=true`) is kept and tried again every [`RETRY_EVERY`], while the
//! relay stops reading FROM (whose buffer then drops its oldest, counted). A
//! batch whose statement timed out may have been written all the same: its
//! retry can then write those rows twice. Any other failure (a table with
//! other columns, a constraint) ends the relay with the database's message.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use data_encoding::BASE64;
use wsdial::db::Value;
use wsdial::{Conn, ErrorKind, Message, Scheme};

use crate::relay::Offer;

/// Most rows in one batch.
pub const BATCH_ROWS: usize = 500;
/// Most payload bytes in one batch (a batch holds at least one row).
pub const BATCH_BYTES: usize = 4 << 20;
/// Longest a row waits in a batch before the batch is written.
pub const BATCH_LATENCY: Duration = Duration::from_millis(200);
/// Wait between tries of a batch the database did not take.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);
/// The table when the address names none.
pub const DEFAULT_TABLE: &str = "messages";

/// Takes the command line's `table=` out of the URL's query string: the
/// address to dial, and the table if one was named.
pub fn without_table(address: &str) -> (String, Option<String>) {
    let (url, rest) = match address.find('|') {
        Some(i) => address.split_at(i),
        None => (address, ""),
    };
    let Some(q) = url.find('?') else {
        return (address.to_owned(), None);
    };
    let (base, query) = (&url[..q], &url[q + 1..]);
    let mut table = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("table=") {
            Some(t) => {
                table = Some(t.to_owned());
                false
            }
            None => true,
        })
        .collect();
    let url = if kept.iter().all(|k| k.is_empty()) {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (format!("{url}{rest}"), table)
}

/// A table name the recorder accepts: letters, digits and `_`, not starting
/// with a digit, optionally `schema.table`; at most 63 characters each.
fn check_table(t: &str) -> anyhow::Result<()> {
    let ok = |part: &str| {
        !part.is_empty()
            && part.len() <= 63
            && !part.starts_with(|c: char| c.is_ascii_digit())
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() <= 2 && parts.iter().all(|p| ok(p)) {
        Ok(())
    } else {
        bail!(
            "table={t:?} is not a table name the recorder accepts: letters, digits and _, \
             not starting with a digit, optionally schema.table, at most 63 characters each"
        )
    }
}

/// One row waiting in the batch.
struct Row {
    received_us: i64,
    source: String,
    payload: String,
    binary: bool,
}

/// A database connection that a feed is recorded into.
pub struct Recorder {
    conn: Conn,
    scheme: Scheme,
    table: String,
    reconnect: bool,
    batch: Vec<Row>,
    batch_bytes: usize,
    /// When the batch's first row came.
    first_at: Option<Instant>,
    /// After a failed write: not before then.
    retry_at: Option<Instant>,
    rows: u64,
}

impl Recorder {
    /// Dials the database and creates the table if missing.
    pub fn open(address: &str, timeout: Option<Duration>) -> anyhow::Result<Recorder> {
        let (address, table) = without_table(address);
        let table = table.unwrap_or_else(|| DEFAULT_TABLE.to_owned());
        check_table(&table)?;
        let parsed = wsdial::Address::parse(&address)?;
        let scheme = parsed.target().scheme();
        let reconnect = parsed.options().reconnect;
        let mut dialer = wsdial::Dialer::new();
        if let Some(t) = timeout {
            dialer = dialer.timeout(t);
        }
        let conn = dialer.dial(&address)?;
        conn.exec(&create_table(scheme, &table))
            .with_context(|| format!("creating table {table}"))?;
        Ok(Recorder {
            conn,
            scheme,
            table,
            reconnect,
            batch: Vec::with_capacity(BATCH_ROWS),
            batch_bytes: 0,
            first_at: None,
            retry_at: None,
            rows: 0,
        })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The database connection's reconnects.
    pub fn reconnects(&self) -> u64 {
        self.conn.stats().reconnects
    }

    /// When the batch is next due to be written, if one waits.
    pub fn due(&self) -> Option<Instant> {
        self.retry_at
            .or_else(|| self.first_at.map(|t| t + BATCH_LATENCY))
    }

    /// Adds a message to the batch; `Later` while a full batch waits for
    /// the database.
    pub fn offer(&mut self, m: Message, url: &str) -> anyhow::Result<Offer> {
        let full = self.batch.len() >= BATCH_ROWS || self.batch_bytes >= BATCH_BYTES;
        if full && !self.write()? {
            return Ok(Offer::Later(m));
        }
        let received_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let (payload, binary) = match m.as_text() {
            Some(t) => (t.to_owned(), false),
            None => (BASE64.encode(m.as_bytes()), true),
        };
        self.batch_bytes += payload.len();
        self.batch.push(Row {
            received_us,
            source: m.topic().unwrap_or(url).to_owned(),
            payload,
            binary,
        });
        self.first_at.get_or_insert_with(Instant::now);
        Ok(Offer::Taken)
    }

    /// Writes the batch when it is due.
    pub fn tick(&mut self) -> anyhow::Result<()> {
        let full = self.batch.len() >= BATCH_ROWS || self.batch_bytes >= BATCH_BYTES;
        if full || self.due().is_some_and(|t| Instant::now() >= t) {
            self.write()?;
        }
        Ok(())
    }

    /// Writes what is left; at the end of the relay.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.retry_at = None;
        if self.write()? {
            Ok(())
        } else {
            bail!(
                "{} row(s) not written: the database could not be reached",
                self.batch.len()
            )
        }
    }

    /// Writes the batch in one statement: true when written (or empty),
    /// false when the database could not be reached and it will be tried
    /// again; an error for any other failure.
    fn write(&mut self) -> anyhow::Result<bool> {
        if self.batch.is_empty() {
            return Ok(true);
        }
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return Ok(false);
        }
        let (sql, params) = insert(self.scheme, &self.table, &self.batch);
        match self.conn.exec_with(&sql, &params) {
            Ok(_) => {
                self.rows += self.batch.len() as u64;
                self.batch.clear();
                self.batch_bytes = 0;
                self.first_at = None;
                self.retry_at = None;
                Ok(true)
            }
            Err(e) if self.reconnect && unreachable(&e) => {
                log::warn!(
                    "recording: {} row(s) not written yet: {e}; trying again",
                    self.batch.len()
                );
                self.retry_at = Some(Instant::now() + RETRY_EVERY);
                Ok(false)
            }
            Err(e) => Err(e).with_context(|| {
                format!("writing {} row(s) into {}", self.batch.len(), self.table)
            }),
        }
    }
}

/// True for the failures that a reconnect may cure.
fn unreachable(e: &wsdial::Error) -> bool {
    e.is_timeout()
        || matches!(
            e.kind(),
            ErrorKind::Dns | ErrorKind::Tcp | ErrorKind::Tls | ErrorKind::Io
        )
}

/// The table's `CREATE TABLE IF NOT EXISTS` in the database's own types.
pub fn create_table(scheme: Scheme, table: &str) -> String {
    let columns = match scheme {
        Scheme::Postgres => {
            "received_us BIGINT NOT NULL, source TEXT NOT NULL, payload TEXT NOT NULL, is_binary SMALLINT NOT NULL"
        }
        Scheme::Mysql => {
            "received_us BIGINT NOT NULL, source TEXT NOT NULL, payload LONGTEXT NOT NULL, is_binary TINYINT NOT NULL"
        }
        Scheme::Clickhouse => {
            "received_us Int64, source String, payload String, is_binary UInt8"
        }
        _ => {
            "received_us INTEGER NOT NULL, source TEXT NOT NULL, payload TEXT NOT NULL, is_binary INTEGER NOT NULL"
        }
    };
    let engine = if scheme == Scheme::Clickhouse {
        " ENGINE = MergeTree ORDER BY received_us"
    } else {
        ""
    };
    format!("CREATE TABLE IF NOT EXISTS {table} ({columns}){engine}")
}

/// One multi-row `INSERT` for the batch, its values bound as parameters
/// (`$n` for PostgreSQL, `?` elsewhere); `is_binary` is a literal 0 or 1.
fn insert(scheme: Scheme, table: &str, rows: &[Row]) -> (String, Vec<Value>) {
    let mut sql = format!("INSERT INTO {table} (received_us, source, payload, is_binary) VALUES ");
    let mut params = Vec::with_capacity(rows.len() * 3);
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let flag = u8::from(r.binary);
        if scheme == Scheme::Postgres {
            let n = i * 3;
            sql.push_str(&format!("(${}, ${}, ${}, {flag})", n + 1, n + 2, n + 3));
        } else {
            sql.push_str(&format!("(?, ?, ?, {flag})"));
        }
        params.push(Value::Int(r.received_us));
        params.push(Value::Text(r.source.clone()));
        params.push(Value::Text(r.payload.clone()));
    }
    (sql, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_taken_out_of_the_query() {
        let cases = [
            (
                "sqlite3://ticks.db?table=ticks",
                "sqlite3://ticks.db",
                Some("ticks"),
            ),
            ("sqlite3://ticks.db", "sqlite3://ticks.db", None),
            (
                "sqlite3://file:t.db?cache=shared&table=x&mode=memory|reconnect=true",
                "sqlite3://file:t.db?cache=shared&mode=memory|reconnect=true",
                Some("x"),
            ),
            (
                "postgres://u:p@127.0.0.1:5432/db?table=ticks|timeout=500",
                "postgres://u:p@127.0.0.1:5432/db|timeout=500",
                Some("ticks"),
            ),
        ];
        for (given, address, table) in cases {
            let (a, t) = without_table(given);
            assert_eq!((a.as_str(), t.as_deref()), (address, table), "{given}");
        }
    }

    #[test]
    fn table_names_are_checked() {
        for ok in ["ticks", "_t1", "feed.ticks"] {
            assert!(check_table(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1t", "t;drop", "a b", "a.b.c", "t\"", &"x".repeat(64)] {
            let e = check_table(bad).unwrap_err().to_string();
            assert!(e.contains("letters, digits and _"), "{bad}: {e}");
        }
    }

    #[test]
    fn insert_binds_every_value() {
        let row = |p: &str, binary| Row {
            received_us: 7,
            source: "s".into(),
            payload: p.into(),
            binary,
        };
        let rows = [row("a'); DROP TABLE t; --", false), row("AAE=", true)];
        let (sql, params) = insert(Scheme::Postgres, "t", &rows);
        assert_eq!(
            sql,
            "INSERT INTO t (received_us, source, payload, is_binary) VALUES ($1, $2, $3, 0), ($4, $5, $6, 1)"
        );
        assert_eq!(params.len(), 6);
        assert_eq!(params[2], Value::Text("a'); DROP TABLE t; --".into()));
        let (sql, _) = insert(Scheme::Sqlite3, "t", &rows);
        assert!(sql.ends_with("VALUES (?, ?, ?, 0), (?, ?, ?, 1)"), "{sql}");
    }

    fn count(r: &Recorder) -> i64 {
        let rows = r
            .conn
            .exec(&format!("SELECT count(*) FROM {}", r.table))
            .unwrap();
        match rows.values[0][0] {
            Value::Int(n) => n,
            ref v => panic!("{v:?}"),
        }
    }

    #[test]
    fn rows_go_in_batches_of_at_most_batch_rows() {
        let mut r = Recorder::open("sqlite3://:memory:?table=ticks", None).unwrap();
        for i in 0..BATCH_ROWS {
            assert!(matches!(
                r.offer(Message::text(format!("{i}")), "ws://x").unwrap(),
                Offer::Taken
            ));
        }
        // Nothing is written before the batch is full or due.
        assert_eq!((r.rows(), count(&r)), (0, 0));
        // A full batch is written at the next tick, whatever its age.
        r.tick().unwrap();
        assert_eq!(
            (r.rows(), count(&r)),
            (BATCH_ROWS as u64, BATCH_ROWS as i64)
        );
        // The next message starts a batch due within BATCH_LATENCY.
        r.offer(Message::binary(vec![0u8, 1]), "ws://x").unwrap();
        let due = r.due().expect("a batch waits");
        assert!(due <= Instant::now() + BATCH_LATENCY);
        r.finish().unwrap();
        assert_eq!(count(&r), BATCH_ROWS as i64 + 1);
        let last = r
            .conn
            .exec("SELECT source, payload, is_binary FROM ticks WHERE is_binary = 1")
            .unwrap();
        assert_eq!(
            last.values,
            [[
                Value::Text("ws://x".into()),
                Value::Text("AAE=".into()),
                Value::Int(1)
            ]]
        );
    }

    #[test]
    fn a_batch_is_bounded_in_bytes_too() {
        let mut r = Recorder::open("sqlite3://:memory:", None).unwrap();
        let big = "x".repeat(BATCH_BYTES / 2 + 1);
        r.offer(Message::text(big.clone()), "u").unwrap();
        r.offer(Message::text(big.clone()), "u").unwrap();
        // Two rows make the batch full by bytes: the third offer writes it first.
        r.offer(Message::text(big), "u").unwrap();
        assert_eq!(r.rows(), 2);
        assert_eq!(r.table, DEFAULT_TABLE);
    }
}
