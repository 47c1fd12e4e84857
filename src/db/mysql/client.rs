//! The MySQL/MariaDB session: a `mysql::Conn` used on the caller's thread
//! (the `mysql` crate is synchronous and needs no runtime, so this works
//! inside a program's tokio runtime too). A statement past its deadline is
//! stopped with `KILL QUERY` from a second connection, sent by the database
//! watchdog (`db::threaded::Alarm`); the statement then fails as interrupted
//! and the session stays usable. The socket's read timeout (`timeout=` plus a
//! second) ends a statement whose server went silent.
//!
//! Without parameters a statement goes as text (several statements separated
//! by `;` work); with parameters it is prepared (`?` placeholders, the
//! statement cached by the connection) and the values are sent in binary.

use std::time::{Duration, Instant};

use mysql::consts::{ColumnFlags, ColumnType};
use mysql::prelude::{Protocol, Queryable};
use mysql::{Column, Conn, Opts, OptsBuilder, Params, QueryResult, SslOpts};

use super::MyAddress;
use crate::db::threaded::{self, Alarm};
use crate::db::{Database, Opener, Rows, Value};
use crate::error::{Error, ErrorKind};

/// Opens sessions to one MySQL or MariaDB server.
pub(crate) struct MyOpener {
    opts: OptsBuilder,
    address: String,
    /// `timeout=`: each statement's limit, and so the socket's read and
    /// write timeouts (see [`io_timeout`]).
    timeout: Duration,
}

/// How long one read or write on the socket may wait. The crate applies it
/// to the handshake too (a server that accepts and never answers), where it
/// is what ends the connect thread; it cannot be changed once connected,
/// so it must also outlast a statement cancelled at its deadline: `timeout=`
/// plus a second for `KILL QUERY`'s answer. A statement's own deadline is
/// still `timeout=` (the watchdog's alarm).
fn io_timeout(timeout: Duration) -> Duration {
    timeout.saturating_add(Duration::from_secs(1))
}

impl MyOpener {
    pub(crate) fn new(a: MyAddress, timeout: Duration) -> MyOpener {
        let mut opts = OptsBuilder::new()
            .ip_or_hostname(Some(a.host.clone()))
            .tcp_port(a.port)
            .user(a.user.clone())
            .pass(a.password.clone())
            .db_name(a.dbname.clone())
            .prefer_socket(false);
        match a.tls.as_str() {
            "true" => opts = opts.ssl_opts(SslOpts::default()),
            "skip-verify" => {
                opts = opts.ssl_opts(
                    SslOpts::default()
                        .with_danger_accept_invalid_certs(true)
                        .with_danger_skip_domain_validation(true),
                )
            }
            _ => {}
        }
        MyOpener {
            opts,
            address: format!("{}:{}", a.host, a.port),
            timeout,
        }
    }
}

impl Opener for MyOpener {
    fn open(&self, deadline: Instant) -> Result<Box<dyn Database>, Error> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        // The handshake's reads and writes are bounded too, so a server that
        // accepts and never answers does not keep the connect thread more
        // than `io_timeout` after connecting (the caller gets its timeout
        // error at the deadline).
        let io = io_timeout(self.timeout);
        let opts = self
            .opts
            .clone()
            .tcp_connect_timeout(Some(left))
            .read_timeout(Some(io))
            .write_timeout(Some(io));
        let address = self.address.clone();
        let connect = opts.clone();
        let conn = threaded::connect_within("mysql", &self.address, deadline, move || {
            Conn::new(connect).map_err(|e| connect_error(&address, e))
        })?;
        let id = conn.connection_id();
        // A second, short-lived connection sends `KILL QUERY`.
        let killer = opts.tcp_connect_timeout(Some(Duration::from_secs(2)));
        let alarm = Alarm::new(Box::new(move || {
            Conn::new(Opts::from(killer.clone()))
                .and_then(|mut c| c.query_drop(format!("KILL QUERY {id}")))
                .is_ok()
        }));
        Ok(Box::new(MySession {
            conn,
            closed: false,
            alarm,
        }))
    }
}

/// The connection, used on the caller's thread.
struct MySession {
    conn: Conn,
    closed: bool,
    alarm: Alarm,
}

impl Database for MySession {
    fn exec(
        &mut self,
        sql: &str,
        params: &[Value],
        deadline: Option<Instant>,
    ) -> Result<Rows, Error> {
        if self.closed {
            return Err(Error::new(
                ErrorKind::Io,
                "mysql: the connection to the server is lost",
            ));
        }
        let armed = deadline.map(|d| self.alarm.arm(d));
        let result = run(&mut self.conn, sql, params);
        let fired = armed.and_then(|a| a.disarm());
        match result {
            // Finished, even if just as its deadline passed: its answer (the
            // KILL QUERY that may have crossed it is done, and MariaDB
            // clears it when the next statement starts).
            Ok(rows) => Ok(rows),
            Err(e) => {
                if matches!(e, mysql::Error::IoError(_) | mysql::Error::CodecError(_))
                    || matches!(&e, mysql::Error::DriverError(d) if d.to_string().contains("closed"))
                {
                    self.closed = true;
                }
                match fired {
                    Some(sent) => Err(Error::new(
                        ErrorKind::Database,
                        format!(
                            "mysql: the statement did not finish before its deadline (timeout=); {}",
                            if self.closed {
                                "the connection is dropped"
                            } else if sent {
                                "it was stopped on the server (KILL QUERY) and the connection stays usable"
                            } else {
                                "it stopped"
                            }
                        ),
                    )
                    .timed_out()),
                    None => Err(statement_error(e)),
                }
            }
        }
    }

    fn is_lost(&self) -> bool {
        self.closed
    }
}

/// Runs one statement: as text without parameters, prepared with them.
fn run(conn: &mut Conn, sql: &str, params: &[Value]) -> mysql::Result<Rows> {
    if params.is_empty() {
        conn.query_iter(sql).and_then(collect)
    } else {
        let bound: Vec<mysql::Value> = params.iter().map(param).collect();
        conn.exec_iter(sql, Params::Positional(bound))
            .and_then(collect)
    }
}

/// Every result set of a statement: the rows of the last one that has
/// columns, or the rows affected by all of them.
fn collect<T: Protocol>(mut result: QueryResult<'_, '_, '_, T>) -> mysql::Result<Rows> {
    let mut out = Rows::default();
    let mut affected = 0;
    let mut with_rows = false;
    while let Some(set) = result.iter() {
        let columns: Vec<Column> = set.columns().as_ref().to_vec();
        if columns.is_empty() {
            affected += set.affected_rows();
            continue;
        }
        with_rows = true;
        out.columns = columns.iter().map(|c| c.name_str().into_owned()).collect();
        out.values.clear();
        for row in set {
            let row = row?;
            out.values.push(
                row.unwrap()
                    .into_iter()
                    .zip(&columns)
                    .map(|(v, c)| value(v, c))
                    .collect(),
            );
        }
    }
    if !with_rows {
        out.affected = Some(affected);
    }
    Ok(out)
}

/// wsdial's value for one of MySQL's, by the column's type.
fn value(v: mysql::Value, col: &Column) -> Value {
    use mysql::Value as M;
    let unsigned = col.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    match v {
        M::NULL => Value::Null,
        M::Int(i) => Value::Int(i),
        M::UInt(u) => i64::try_from(u).map_or(Value::UInt(u), Value::Int),
        M::Float(f) => Value::Float(f.into()),
        M::Double(f) => Value::Float(f),
        M::Date(y, mo, d, h, mi, s, us) => {
            if col.column_type() == ColumnType::MYSQL_TYPE_DATE {
                Value::Date(format!("{y:04}-{mo:02}-{d:02}"))
            } else {
                Value::DateTime(format!(
                    "{y:04}-{mo:02}-{d:02}T{}",
                    hms(h.into(), mi, s, us)
                ))
            }
        }
        M::Time(neg, days, h, mi, s, us) => {
            let sign = if neg { "-" } else { "" };
            Value::Time(format!(
                "{sign}{}",
                hms(days * 24 + u32::from(h), mi, s, us)
            ))
        }
        M::Bytes(b) => text_value(b, col, unsigned),
    }
}

/// A value in the text protocol (or a string/blob in the binary one).
fn text_value(b: Vec<u8>, col: &Column, unsigned: bool) -> Value {
    use ColumnType::*;
    let s = || String::from_utf8_lossy(&b).into_owned();
    match col.column_type() {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR => {
            let t = s();
            if unsigned {
                match t.parse::<u64>() {
                    Ok(u) => i64::try_from(u).map_or(Value::UInt(u), Value::Int),
                    Err(_) => Value::Text(t),
                }
            } else {
                t.parse().map_or(Value::Text(t), Value::Int)
            }
        }
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => {
            let t = s();
            t.parse().map_or(Value::Text(t), Value::Float)
        }
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => Value::Decimal(s()),
        MYSQL_TYPE_DATE => Value::Date(s()),
        MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP2 => Value::DateTime(trim_fraction(s().replacen(' ', "T", 1))),
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => Value::Time(trim_fraction(s())),
        MYSQL_TYPE_BIT => Value::Bytes(b),
        // Character set 63 is `binary`: BLOB, BINARY, VARBINARY.
        _ if col.character_set() == 63 => Value::Bytes(b),
        _ => match String::from_utf8(b) {
            Ok(t) => Value::Text(t),
            Err(e) => Value::Bytes(e.into_bytes()),
        },
    }
}

/// `12:00:00.500000` as `12:00:00.5`, `12:00:00.000` as `12:00:00`, as the
/// binary protocol's values are written.
fn trim_fraction(mut t: String) -> String {
    if let Some(dot) = t.rfind('.') {
        let kept = t.trim_end_matches('0').len();
        t.truncate(if kept == dot + 1 { dot } else { kept });
    }
    t
}

fn hms(h: u32, m: u8, s: u8, us: u32) -> String {
    if us == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        let f = format!("{us:06}");
        format!("{h:02}:{m:02}:{s:02}.{}", f.trim_end_matches('0'))
    }
}

/// A bound parameter.
fn param(v: &Value) -> mysql::Value {
    use mysql::Value as M;
    match v {
        Value::Null => M::NULL,
        Value::Bool(b) => M::Int((*b).into()),
        Value::Int(i) => M::Int(*i),
        Value::UInt(u) => M::UInt(*u),
        Value::Float(f) => M::Double(*f),
        Value::Bytes(b) => M::Bytes(b.clone()),
        Value::Decimal(s)
        | Value::Text(s)
        | Value::Date(s)
        | Value::Time(s)
        | Value::DateTime(s) => M::Bytes(s.clone().into_bytes()),
    }
}

/// A connect failure: refused credentials are `Auth`, TLS failures `Tls`,
/// the rest `Tcp`.
fn connect_error(address: &str, e: mysql::Error) -> Error {
    let text = e.to_string();
    match &e {
        mysql::Error::MySqlError(m) => {
            let kind = match m.code {
                1044 | 1045 | 1698 | 1251 => ErrorKind::Auth,
                _ => ErrorKind::Database,
            };
            Error::new(kind, format!("mysql {address}: {} ({})", m.message, m.code))
        }
        mysql::Error::TlsError(_) => Error::new(ErrorKind::Tls, format!("mysql {address}: {text}")),
        mysql::Error::DriverError(mysql::DriverError::ConnectTimeout) => Error::new(
            ErrorKind::Tcp,
            format!("mysql {address}: connecting timed out"),
        )
        .timed_out(),
        _ => Error::new(ErrorKind::Tcp, format!("mysql {address}: {text}")),
    }
}

/// A statement's failure, by the server's error code.
fn statement_error(e: mysql::Error) -> Error {
    match &e {
        mysql::Error::MySqlError(m) => {
            let kind = match m.code {
                1064 | 1149 => ErrorKind::Syntax,
                // Duplicate key, foreign keys, NOT NULL, CHECK.
                1062 | 1048 | 1216 | 1217 | 1451 | 1452 | 1557 | 1586 | 3819 | 4025 => {
                    ErrorKind::Constraint
                }
                1044 | 1045 | 1142 | 1143 => ErrorKind::Auth,
                _ => ErrorKind::Database,
            };
            let err = Error::new(
                kind,
                format!("mysql: {} ({}, {})", m.message, m.code, m.state),
            );
            // Interrupted by KILL QUERY, or past max_statement_time.
            if matches!(m.code, 1317 | 1969 | 3024) {
                err.timed_out()
            } else {
                err
            }
        }
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) => {
            Error::new(ErrorKind::Io, format!("mysql: the connection is lost: {e}"))
        }
        _ => Error::new(ErrorKind::Database, format!("mysql: {e}")),
    }
}
