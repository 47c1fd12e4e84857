//! Databases: `sqlite3`, `postgres`, `mysql` and `clickhouse`, used through
//! [`Conn::exec`](crate::Conn::exec) on the caller's thread (serialised), with
//! no inbox and no background reader.
//!
//! Each database's address is read by its own module (`endpoint`), compiled
//! whatever the features; only the client is behind the database's cargo
//! feature. Statements run on the caller's thread; `threaded` holds what the
//! server databases share to keep `timeout=` there (the connect on a thread
//! of its own, MySQL's watchdog), and PostgreSQL runs a statement called
//! from inside a program's tokio runtime on a thread of its own. ClickHouse's
//! native protocol (an async crate) keeps its session on a thread of its own
//! (`own_thread`).

use std::sync::Arc;
use std::time::Instant;

use crate::address::{Scheme, Target};
use crate::error::{Error, ErrorKind};
use crate::options::Options;
use crate::seam::{Driver, Seam};

mod clickhouse;
mod driver;
mod mysql;
#[cfg(feature = "clickhouse")]
mod own_thread;
mod postgres;
mod sqlite;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod threaded;
mod value;
// The test servers (PostgreSQL, MariaDB, ClickHouse) of the sessions' live tests.
#[cfg(all(
    test,
    any(feature = "postgres", feature = "mysql", feature = "clickhouse")
))]
#[path = "../../tests/common/sqldb.rs"]
mod sqldb;

pub(crate) use driver::dial_handle;
pub use driver::Handle;
pub use value::{Rows, Value};

/// One session with a database.
pub(crate) trait Database: Send + 'static {
    /// Runs one statement with `params` bound to its placeholders, finishing
    /// before `deadline` or failing with a timeout.
    fn exec(
        &mut self,
        sql: &str,
        params: &[Value],
        deadline: Option<Instant>,
    ) -> Result<Rows, Error>;

    /// Runs one statement once per parameter row, in order, all before
    /// `deadline`, and returns the rows affected in total (a statement that
    /// returns rows adds none; its rows are discarded). Stops at the first
    /// row that fails, with that row's error as [`batch_error`] words it.
    /// This default runs `exec` per row; a database that can prepare once
    /// overrides it.
    fn exec_many(
        &mut self,
        sql: &str,
        rows: &[&[Value]],
        deadline: Option<Instant>,
    ) -> Result<u64, Error> {
        let mut total = 0u64;
        for (i, params) in rows.iter().enumerate() {
            if i > 0 {
                check_deadline(deadline, i, total)?;
            }
            match self.exec(sql, params, deadline) {
                Ok(r) => total += r.affected.unwrap_or(0),
                Err(e) => return Err(batch_error(e, i, total)),
            }
        }
        Ok(total)
    }

    /// True once the connection to the server is known to be lost; with
    /// `reconnect=true` the next `exec` opens a new one.
    fn is_lost(&self) -> bool {
        false
    }
}

/// A timeout error, before parameter row `i` runs, once `deadline` passed.
pub(crate) fn check_deadline(deadline: Option<Instant>, i: usize, total: u64) -> Result<(), Error> {
    match deadline {
        Some(d) if Instant::now() >= d => Err(Error::new(
            ErrorKind::Database,
            format!(
                "exec_many ran past its timeout before parameter row {i} (0-based): the {i} row(s) before it ran, affecting {total} row(s), and were not undone (run the batch inside BEGIN/COMMIT to make it all or nothing)"
            ),
        )
        .timed_out()),
        _ => Ok(()),
    }
}

/// The error of parameter row `i` of an `exec_many` batch (0-based), after
/// `total` rows affected by the rows before it: `e` (its kind and timeout
/// kept) with the row named and what ran before it.
pub(crate) fn batch_error(e: Error, i: usize, total: u64) -> Error {
    e.map_message(|m| {
        format!(
            "exec_many: parameter row {i} (0-based) failed (the {i} row(s) before it ran, affecting {total} row(s), and were not undone; run the batch inside BEGIN/COMMIT to make it all or nothing): {m}"
        )
    })
}

/// Opens sessions for one address.
pub(crate) trait Opener: Send + Sync + 'static {
    /// Connects and authenticates before `deadline`.
    fn open(&self, deadline: Instant) -> Result<Box<dyn Database>, Error>;
}

/// The host and port of a database address (empty and 0 for a file), after
/// checking the address the way its database reads it.
pub(crate) fn endpoint(scheme: Scheme, url: &str) -> Result<(String, u16), Error> {
    hide_password(
        url,
        match scheme {
            Scheme::Sqlite3 => sqlite::endpoint(url),
            Scheme::Postgres => postgres::endpoint(url),
            Scheme::Mysql => mysql::endpoint(url),
            Scheme::Clickhouse => clickhouse::endpoint(url),
            _ => unreachable!("not a database scheme: {scheme}"),
        },
    )
}

/// The `Unsupported` error for a database whose cargo feature is off.
#[cfg_attr(
    all(feature = "sqlite", feature = "postgres", feature = "mysql", feature = "clickhouse"),
    allow(dead_code) // Every database's feature is on.
)]
pub(crate) fn feature_off(scheme: Scheme, feature: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("{scheme}:// needs wsdial's cargo feature `{feature}`, which this build was made without"),
    )
}

/// The opener for `target`'s database.
pub(crate) fn opener(target: &Target, options: &Options) -> Result<Box<dyn Opener>, Error> {
    hide_password(
        target.url(),
        match target.scheme() {
            Scheme::Sqlite3 => sqlite::opener(target, options),
            Scheme::Postgres => postgres::opener(target, options),
            Scheme::Mysql => mysql::opener(target, options),
            Scheme::Clickhouse => clickhouse::opener(target, options),
            s => unreachable!("not a database scheme: {s}"),
        },
    )
}

/// `result`, with `url` written with its password masked in its error.
fn hide_password<T>(url: &str, result: Result<T, Error>) -> Result<T, Error> {
    result.map_err(|e| e.map_message(|m| m.replace(url, &masked(url))))
}

/// A database address as it may be logged or put in an error: every
/// password shown as `***`, in each place a database address holds one:
/// the user info (`user:pw@host`, `user:pw@tcp(host)`; up to the last `@`,
/// so a raw `@` in the password stays hidden, even at the cost of hiding more),
/// libpq's keyword (`password=pw`, `password='p w'`) and a query parameter
/// (`?password=pw`, `&password=pw`).
pub(crate) fn masked(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, after)) => match after.rfind('@') {
            Some(at) if after[..at].contains(':') => {
                let user = after[..at].split_once(':').map_or("", |(u, _)| u);
                format!("{scheme}://{user}:***{}", &after[at..])
            }
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    };
    let mut from = 0;
    while let Some(i) = find_key(&out[from..], "password=") {
        let start = from + i + "password=".len();
        let rest = &out[start..];
        let len = if let Some(q) = rest.strip_prefix('\'') {
            // libpq's quoted value: up to the closing quote, `\x` escapes.
            let mut chars = q.char_indices();
            loop {
                match chars.next() {
                    Some((_, '\\')) => {
                        chars.next();
                    }
                    Some((j, '\'')) => break j + 2,
                    Some(_) => {}
                    None => break rest.len(),
                }
            }
        } else {
            rest.find([' ', '&', '|', '\t']).unwrap_or(rest.len())
        };
        out.replace_range(start..start + len, "***");
        from = start + 3;
    }
    out
}

/// Where `key` starts in `s` as a key: at the start or after a space, `?`,
/// `&` or `|`, any case.
fn find_key(s: &str, key: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(key) {
        let at = from + i;
        if at == 0 || matches!(lower.as_bytes()[at - 1], b' ' | b'?' | b'&' | b'|' | b'\t') {
            return Some(at);
        }
        from = at + key.len();
    }
    None
}

/// Opens a database connection before `timeout=`: a session of its own,
/// served on the callers' threads (see the `driver` module).
pub(crate) fn start(
    target: &Target,
    options: &Options,
) -> Result<(Arc<Seam>, Box<dyn Driver>), Error> {
    let opener = opener(target, options)?;
    let session = driver::Session::open(
        target.url(),
        target.scheme(),
        opener,
        options.timeout,
        options.reconnect,
    )?;
    let (seam, driver, _url) = driver::attach(session);
    Ok((seam, driver))
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn address_errors_mask_the_password() {
        let url = "postgres://user=bot password=hunter2 port=x";
        let e = super::endpoint(crate::address::Scheme::Postgres, url).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("password=***"), "{m}");
        assert!(!m.contains("hunter2"), "{m}");
    }

    #[test]
    fn passwords_are_masked_in_every_form() {
        for (url, shown) in [
            (
                "postgres://u:pw@h:5432/d?sslmode=require",
                "postgres://u:***@h:5432/d?sslmode=require",
            ),
            (
                "postgres://user=u password=pw host=h",
                "postgres://user=u password=*** host=h",
            ),
            (
                "postgres://user=u password='p w\\'x' host=h",
                "postgres://user=u password=*** host=h",
            ),
            (
                "postgres://user=u PASSWORD=pw",
                "postgres://user=u PASSWORD=***",
            ),
            (
                "postgres://h/d?user=u&password=pw&sslmode=disable",
                "postgres://h/d?user=u&password=***&sslmode=disable",
            ),
            (
                "mysql://u:p@ss@tcp(h:3306)/d?charset=utf8mb4",
                "mysql://u:***@tcp(h:3306)/d?charset=utf8mb4",
            ),
            ("mysql://u:pw@h:3306/d", "mysql://u:***@h:3306/d"),
            (
                "clickhouse://h:8123?username=u&password=pw&database=d",
                "clickhouse://h:8123?username=u&password=***&database=d",
            ),
            (
                "clickhouse://tcp://h:9000?password=pw",
                "clickhouse://tcp://h:9000?password=***",
            ),
            ("sqlite3://state.db", "sqlite3://state.db"),
            ("mysql://u@tcp(h)/d", "mysql://u@tcp(h)/d"),
            (
                "postgres://user=u mypassword=x",
                "postgres://user=u mypassword=x",
            ),
        ] {
            assert_eq!(masked(url), shown, "{url}");
        }
    }
}
