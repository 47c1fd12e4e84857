//! `sqlite3://`: the address (always compiled) and the client (cargo feature
//! `sqlite`: `rusqlite` with its bundled SQLite, nothing to install).
//!
//! Addresses: `sqlite3://test1.db` (relative to the working directory),
//! `sqlite3:///abs/path.db`, `sqlite3://:memory:` (a database of this
//! connection's own, shared through its handle), and an SQLite URI,
//! `sqlite3://file:test.db?cache=shared&mode=memory`, passed to SQLite as
//! written.
//!
//! Types: SQLite stores dates, times and decimals as text and booleans as
//! integers, so a value is read by its column's declared type: `BOOL…` as
//! [`Value::Bool`](crate::db::Value::Bool), `DATETIME`/`TIMESTAMP`, `DATE`
//! and `TIME` as those, `DECIMAL`/`NUMERIC` as
//! [`Value::Decimal`](crate::db::Value::Decimal); the rest by what SQLite
//! holds (integer, real, text, blob; text that is not UTF-8 as bytes).
//! SQLite has no exact decimal: a column declared `DECIMAL` has NUMERIC
//! affinity, and SQLite itself turns a decimal text of more than 15
//! significant digits into a REAL. To keep every digit, declare the column
//! `DECIMAL TEXT` (TEXT affinity, still read as a decimal). An unsigned
//! integer beyond `i64::MAX` is refused as a parameter (SQLite's integers are
//! 64-bit signed).

use crate::address::Target;
use crate::error::Error;
use crate::options::Options;

use super::Opener;

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    /// `:memory:`.
    Memory,
    /// `file:…`, an SQLite URI.
    Uri(String),
    /// A path, relative or absolute.
    Path(String),
}

const ACCEPTED: &str = "accepted: sqlite3://path.db (relative), sqlite3:///abs/path.db, sqlite3://:memory:, sqlite3://file:name.db?mode=memory&cache=shared (an SQLite URI)";

/// Reads a `sqlite3://` (or `sqlite://`) address.
fn location(url: &str) -> Result<Location, Error> {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    if rest.is_empty() {
        return Err(Error::address(
            None,
            format!("`{url}` names no database; {ACCEPTED}"),
        ));
    }
    if rest == ":memory:" {
        return Ok(Location::Memory);
    }
    if rest.starts_with("file:") {
        return Ok(Location::Uri(rest.to_owned()));
    }
    if rest.contains('?') {
        return Err(Error::address(
            None,
            format!("`{url}`: a query (`?…`) is read only in the URI form, sqlite3://file:{rest}; {ACCEPTED}"),
        ));
    }
    Ok(Location::Path(rest.to_owned()))
}

/// Checks a `sqlite3://` address; its host and port (none: a file).
pub(super) fn endpoint(url: &str) -> Result<(String, u16), Error> {
    location(url)?;
    Ok((String::new(), 0))
}

/// The opener for `target`, or `Unsupported` naming the feature.
#[cfg(not(feature = "sqlite"))]
pub(super) fn opener(target: &Target, _options: &Options) -> Result<Box<dyn Opener>, Error> {
    Err(super::feature_off(target.scheme(), "sqlite"))
}

/// The opener for `target`.
#[cfg(feature = "sqlite")]
pub(super) fn opener(target: &Target, _options: &Options) -> Result<Box<dyn Opener>, Error> {
    Ok(Box::new(client::SqliteOpener {
        location: location(target.url())?,
        url: target.url().to_owned(),
    }))
}

#[cfg(feature = "sqlite")]
mod client {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    use rusqlite::types::{ToSqlOutput, ValueRef};
    use rusqlite::{ffi, Connection, OpenFlags, ToSql};

    use super::Location;
    use crate::db::{Database, Opener, Rows, Value};
    use crate::error::{Error, ErrorKind};

    pub(super) struct SqliteOpener {
        pub(super) location: Location,
        pub(super) url: String,
    }

    impl Opener for SqliteOpener {
        fn open(&self, _deadline: Instant) -> Result<Box<dyn Database>, Error> {
            // Statements are serialised by the driver: SQLite's own mutex is not needed.
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = match &self.location {
                Location::Memory => Connection::open_in_memory_with_flags(flags),
                Location::Uri(u) => Connection::open_with_flags(u, flags),
                Location::Path(p) => Connection::open_with_flags(p, flags),
            }
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("{}: cannot open the database: {e}", self.url),
                )
            })?;
            let clock = Arc::new(Clock {
                base: Instant::now(),
                deadline: AtomicU64::new(u64::MAX),
            });
            let c = clock.clone();
            // Checked every 10,000 virtual-machine steps (tens of
            // microseconds): a statement past its deadline is interrupted
            // (SQLITE_INTERRUPT).
            conn.progress_handler(10_000, Some(move || c.passed()));
            conn.set_prepared_statement_cache_capacity(64);
            Ok(Box::new(Sqlite {
                conn,
                clock,
                busy: None,
            }))
        }
    }

    /// A statement's deadline, read by the progress handler.
    struct Clock {
        base: Instant,
        /// Nanoseconds after `base`; `u64::MAX` for none.
        deadline: AtomicU64,
    }

    impl Clock {
        fn set(&self, deadline: Option<Instant>) {
            let n = deadline.map_or(u64::MAX, |d| {
                u64::try_from(d.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
            });
            self.deadline.store(n, Ordering::Relaxed);
        }

        fn passed(&self) -> bool {
            let d = self.deadline.load(Ordering::Relaxed);
            d != u64::MAX && self.base.elapsed().as_nanos() >= u128::from(d)
        }
    }

    struct Sqlite {
        conn: Connection,
        clock: Arc<Clock>,
        /// The busy timeout last set, in milliseconds: set again only when
        /// it changes (in a loop of statements it seldom does).
        busy: Option<u128>,
    }

    impl Sqlite {
        /// Waits for a locked database for `wait` (SQLite counts milliseconds).
        fn busy_timeout(&mut self, wait: std::time::Duration) -> rusqlite::Result<()> {
            let ms = wait.as_millis();
            if self.busy != Some(ms) {
                self.busy = None;
                self.conn.busy_timeout(wait)?;
                self.busy = Some(ms);
            }
            Ok(())
        }
    }

    impl Database for Sqlite {
        fn exec(
            &mut self,
            sql: &str,
            params: &[Value],
            deadline: Option<Instant>,
        ) -> Result<Rows, Error> {
            self.clock.set(deadline);
            // A locked database is waited for, at most until the deadline.
            let wait = deadline.map_or(std::time::Duration::ZERO, |d| {
                d.saturating_duration_since(Instant::now())
            });
            let result = self
                .busy_timeout(wait)
                .and_then(|()| run(&self.conn, sql, params));
            self.clock.set(None);
            result.map_err(|e| error(e, sql))
        }

        /// Prepares `sql` once (from the statement cache) and runs it for
        /// each row, checking the deadline between rows (the progress
        /// handler interrupts a row that runs past it).
        fn exec_many(
            &mut self,
            sql: &str,
            rows: &[&[Value]],
            deadline: Option<Instant>,
        ) -> Result<u64, Error> {
            self.clock.set(deadline);
            let wait = deadline.map_or(std::time::Duration::ZERO, |d| {
                d.saturating_duration_since(Instant::now())
            });
            let result = match self.busy_timeout(wait) {
                Ok(()) => run_many(&self.conn, sql, rows, deadline),
                Err(e) => Err(crate::db::batch_error(error(e, sql), 0, 0)),
            };
            self.clock.set(None);
            result
        }
    }

    fn run_many(
        conn: &Connection,
        sql: &str,
        rows: &[&[Value]],
        deadline: Option<Instant>,
    ) -> Result<u64, Error> {
        let mut stmt = conn
            .prepare_cached(sql)
            .map_err(|e| crate::db::batch_error(error(e, sql), 0, 0))?;
        let returns_rows = stmt.column_count() != 0;
        let mut total = 0u64;
        for (i, params) in rows.iter().enumerate() {
            if i > 0 {
                crate::db::check_deadline(deadline, i, total)?;
            }
            let params = rusqlite::params_from_iter(params.iter().map(Param));
            let ran = if returns_rows {
                // Its rows are discarded: stepped through, not read.
                stmt.query(params)
                    .and_then(|mut r| while_some(&mut r))
                    .map(|()| 0)
            } else {
                let before = conn.total_changes();
                stmt.execute(params).map(|n| {
                    // As in `run`: a statement that changed nothing affected 0.
                    if conn.total_changes() == before {
                        0
                    } else {
                        n as u64
                    }
                })
            };
            match ran {
                Ok(n) => total += n,
                Err(e) => return Err(crate::db::batch_error(error(e, sql), i, total)),
            }
        }
        Ok(total)
    }

    /// Steps through every row of a query.
    fn while_some(rows: &mut rusqlite::Rows<'_>) -> rusqlite::Result<()> {
        while rows.next()?.is_some() {}
        Ok(())
    }

    fn run(conn: &Connection, sql: &str, params: &[Value]) -> rusqlite::Result<Rows> {
        let mut stmt = conn.prepare_cached(sql)?;
        let params = rusqlite::params_from_iter(params.iter().map(Param));
        if stmt.column_count() == 0 {
            let before = conn.total_changes();
            stmt.execute(params)?;
            // `changes()` keeps the count of the last INSERT/UPDATE/DELETE
            // across DDL: a statement that changed nothing affected 0.
            let affected = if conn.total_changes() == before {
                0
            } else {
                conn.changes()
            };
            return Ok(Rows {
                columns: Vec::new(),
                values: Vec::new(),
                affected: Some(affected),
            });
        }
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let kinds: Vec<Kind> = stmt
            .columns()
            .iter()
            .map(|c| Kind::of(c.decl_type()))
            .collect();
        let mut rows = stmt.query(params)?;
        let mut values = Vec::new();
        while let Some(row) = rows.next()? {
            let mut out = Vec::with_capacity(kinds.len());
            for (i, k) in kinds.iter().enumerate() {
                // `i` is below the column count.
                out.push(k.read(row.get_ref_unwrap(i)));
            }
            values.push(out);
        }
        Ok(Rows {
            columns,
            values,
            affected: None,
        })
    }

    /// What a column's declared type says about its values (SQLite stores
    /// dates, times and decimals as text, booleans as integers).
    #[derive(Clone, Copy)]
    enum Kind {
        Plain,
        Bool,
        Date,
        Time,
        DateTime,
        Decimal,
    }

    impl Kind {
        fn of(decl: Option<&str>) -> Kind {
            let d = decl.unwrap_or("").to_ascii_uppercase();
            if d.contains("BOOL") {
                Kind::Bool
            } else if d.contains("DATETIME") || d.contains("TIMESTAMP") {
                Kind::DateTime
            } else if d.contains("DATE") {
                Kind::Date
            } else if d.contains("TIME") {
                Kind::Time
            } else if d.contains("DECIMAL") || d.contains("NUMERIC") {
                Kind::Decimal
            } else {
                Kind::Plain
            }
        }

        fn read(self, v: ValueRef<'_>) -> Value {
            match (v, self) {
                (ValueRef::Null, _) => Value::Null,
                (ValueRef::Integer(i), Kind::Bool) => Value::Bool(i != 0),
                (ValueRef::Integer(i), Kind::Decimal) => Value::Decimal(i.to_string()),
                (ValueRef::Integer(i), _) => Value::Int(i),
                // SQLite keeps a decimal as REAL only when that loses nothing.
                (ValueRef::Real(f), Kind::Decimal) => Value::Decimal(f.to_string()),
                (ValueRef::Real(f), _) => Value::Float(f),
                (ValueRef::Text(t), k) => match std::str::from_utf8(t) {
                    Ok(s) => {
                        let s = s.to_owned();
                        match k {
                            Kind::Date => Value::Date(s),
                            Kind::Time => Value::Time(s),
                            Kind::DateTime => Value::DateTime(s),
                            Kind::Decimal => Value::Decimal(s),
                            Kind::Plain | Kind::Bool => Value::Text(s),
                        }
                    }
                    // Text that is not UTF-8 is kept whole, as bytes.
                    Err(_) => Value::Bytes(t.to_vec()),
                },
                (ValueRef::Blob(b), _) => Value::Bytes(b.to_vec()),
            }
        }
    }

    /// A parameter as SQLite takes it: booleans as 0/1, decimals, dates and
    /// times as their text.
    struct Param<'a>(&'a Value);

    impl ToSql for Param<'_> {
        fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
            Ok(ToSqlOutput::Borrowed(match self.0 {
                Value::Null => ValueRef::Null,
                Value::Bool(b) => ValueRef::Integer(i64::from(*b)),
                Value::Int(i) => ValueRef::Integer(*i),
                Value::UInt(u) => match i64::try_from(*u) {
                    Ok(i) => ValueRef::Integer(i),
                    Err(_) => {
                        return Err(rusqlite::Error::ToSqlConversionFailure(
                            format!("{u} does not fit SQLite's 64-bit signed integer; pass it as Value::Decimal (text) or Value::Float").into(),
                        ))
                    }
                },
                Value::Float(f) => ValueRef::Real(*f),
                Value::Decimal(s)
                | Value::Text(s)
                | Value::Date(s)
                | Value::Time(s)
                | Value::DateTime(s) => ValueRef::Text(s.as_bytes()),
                Value::Bytes(b) => ValueRef::Blob(b),
                #[allow(unreachable_patterns)]
                _ => ValueRef::Null,
            }))
        }
    }

    /// SQLite's error as wsdial's: syntax, constraint, a timeout (busy or
    /// interrupted at the deadline), or another database error.
    fn error(e: rusqlite::Error, sql: &str) -> Error {
        use rusqlite::Error as E;
        let msg = e.to_string();
        match &e {
            E::SqliteFailure(f, _) => match f.code {
                ffi::ErrorCode::ConstraintViolation => Error::new(ErrorKind::Constraint, msg),
                ffi::ErrorCode::OperationInterrupted => Error::new(
                    ErrorKind::Database,
                    format!("the statement ran past its timeout and was interrupted ({msg})"),
                )
                .timed_out(),
                ffi::ErrorCode::DatabaseBusy | ffi::ErrorCode::DatabaseLocked => Error::new(
                    ErrorKind::Database,
                    format!("the database stayed locked by another connection until the timeout ({msg})"),
                )
                .timed_out(),
                _ if is_syntax(&msg) => Error::new(ErrorKind::Syntax, format!("{msg} in `{sql}`")),
                _ => Error::new(ErrorKind::Database, msg),
            },
            E::SqlInputError { .. } => Error::new(ErrorKind::Syntax, msg),
            E::MultipleStatement => Error::new(
                ErrorKind::Syntax,
                format!("exec runs one statement; `{sql}` has more than one (run each with its own exec)"),
            ),
            E::InvalidParameterCount(given, wanted) => Error::new(
                ErrorKind::Database,
                format!("the statement has {wanted} placeholder(s) and {given} parameter(s) were given"),
            ),
            _ => Error::new(ErrorKind::Database, msg),
        }
    }

    fn is_syntax(msg: &str) -> bool {
        msg.contains("syntax error")
            || msg.contains("incomplete input")
            || msg.contains("unrecognized token")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            location("sqlite3://test1.db").unwrap(),
            Location::Path("test1.db".into())
        );
        assert_eq!(
            location("sqlite3:///var/lib/bot/state.db").unwrap(),
            Location::Path("/var/lib/bot/state.db".into())
        );
        assert_eq!(location("sqlite3://:memory:").unwrap(), Location::Memory);
        assert_eq!(
            location("sqlite3://file:test.db?cache=shared&mode=memory").unwrap(),
            Location::Uri("file:test.db?cache=shared&mode=memory".into())
        );
        let e = location("sqlite3://").unwrap_err();
        assert!(e.to_string().contains("names no database"), "{e}");
        let e = location("sqlite3://ticks.db?table=ticks").unwrap_err();
        assert!(
            e.to_string()
                .contains("sqlite3://file:ticks.db?table=ticks"),
            "{e}"
        );
    }
}
