//! Databases: `sqlite3`, `postgres`, `mysql` and `clickhouse`, used through
//! [`Conn::exec`](crate::Conn::exec) on the caller's thread (serialised), with
//! no inbox and no background reader.
//!
//! Each database's address is read by its own module (`endpoint`), compiled
//! whatever the features; only the client is behind the database's cargo
//! feature. A client crate that needs an async runtime (`postgres` owns a
//! current-thread one) runs on a thread of its own, so `exec` also works
//! inside a program's tokio runtime.

use std::sync::Arc;
use std::time::Instant;

use crate::address::{Scheme, Target};
use crate::error::{Error, ErrorKind};
use crate::options::Options;
use crate::seam::{Driver, Seam};

mod clickhouse;
mod driver;
mod mysql;
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

    /// True once the connection to the server is known to be lost; with
    /// `reconnect=true` the next `exec` opens a new one.
    fn is_lost(&self) -> bool {
        false
    }
}

/// Opens sessions for one address.
pub(crate) trait Opener: Send + Sync + 'static {
    /// Connects and authenticates before `deadline`.
    fn open(&self, deadline: Instant) -> Result<Box<dyn Database>, Error>;
}

/// The host and port of a database address (empty and 0 for a file), after
/// checking the address the way its database reads it.
pub(crate) fn endpoint(scheme: Scheme, url: &str) -> Result<(String, u16), Error> {
    match scheme {
        Scheme::Sqlite3 => sqlite::endpoint(url),
        Scheme::Postgres => postgres::endpoint(url),
        Scheme::Mysql => mysql::endpoint(url),
        Scheme::Clickhouse => clickhouse::endpoint(url),
        _ => unreachable!("not a database scheme: {scheme}"),
    }
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
    match target.scheme() {
        Scheme::Sqlite3 => sqlite::opener(target, options),
        Scheme::Postgres => postgres::opener(target, options),
        Scheme::Mysql => mysql::opener(target, options),
        Scheme::Clickhouse => clickhouse::opener(target, options),
        s => unreachable!("not a database scheme: {s}"),
    }
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
