//! The PostgreSQL session: a `tokio_postgres` client and its connection,
//! driven by a current-thread tokio runtime of the session's own, in a
//! block_on on the thread that runs the statement: the caller's, or, when
//! the caller is inside a program's tokio runtime (where block_on would
//! panic), a thread of its own for the statement's time (`wsdial-postgres`).
//! The statement's deadline is kept in that block_on: past it, the
//! statement is cancelled with PostgreSQL's cancel request and the session
//! stays usable.
//!
//! Values are read in PostgreSQL's binary format and decoded here (numeric
//! digit by digit, so no digit is lost); parameters are sent in the text
//! format, so the server converts them to whatever type it inferred for
//! `$1`, `$2` …, except bytes, and numbers and booleans that the inferred
//! type takes as they are (an integer that fits, a float into `float8`),
//! which go in binary, with nothing for the server to parse.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::Stream as _;
use postgres_native_tls::MakeTlsConnector;
use tokio_postgres as postgres;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::types::{to_sql_checked, Format, FromSql, IsNull, ToSql, Type};
use tokio_postgres::{AsyncMessage, Client, Config, Socket, Statement};

use super::PgAddress;
use crate::db::threaded;
use crate::db::{Database, Opener, Rows, Value};
use crate::error::{Error, ErrorKind};

type BoxError = Box<dyn StdError + Sync + Send>;

/// Opens sessions to one PostgreSQL server.
pub(crate) struct PgOpener {
    config: Config,
    tls: MakeTlsConnector,
    address: String,
}

impl PgOpener {
    pub(crate) fn new(a: PgAddress) -> Result<PgOpener, Error> {
        let mut config = Config::new();
        config.host(&a.host).port(a.port);
        if let Some(u) = &a.user {
            config.user(u);
        }
        if let Some(p) = &a.password {
            config.password(p);
        }
        if let Some(d) = &a.dbname {
            config.dbname(d);
        }
        if let Some(n) = &a.application_name {
            config.application_name(n);
        }
        if let Some(o) = &a.options {
            config.options(o);
        }
        let mut tls = native_tls::TlsConnector::builder();
        // libpq's modes: only verify-ca and verify-full check the certificate.
        match a.sslmode.as_str() {
            "disable" => config.ssl_mode(SslMode::Disable),
            "allow" | "prefer" => config.ssl_mode(SslMode::Prefer),
            _ => config.ssl_mode(SslMode::Require),
        };
        match a.sslmode.as_str() {
            "verify-full" => {}
            "verify-ca" => {
                tls.danger_accept_invalid_hostnames(true);
            }
            _ => {
                tls.danger_accept_invalid_certs(true)
                    .danger_accept_invalid_hostnames(true);
            }
        }
        if let Some(path) = &a.sslrootcert {
            let pem = std::fs::read(path).map_err(|e| {
                Error::address(Some("sslrootcert"), format!("sslrootcert `{path}`: {e}"))
            })?;
            let cert = native_tls::Certificate::from_pem(&pem).map_err(|e| {
                Error::address(
                    Some("sslrootcert"),
                    format!("sslrootcert `{path}` is not a PEM certificate: {e}"),
                )
            })?;
            tls.add_root_certificate(cert);
        }
        let tls = tls
            .build()
            .map_err(|e| Error::new(ErrorKind::Tls, format!("postgres: TLS setup: {e}")))?;
        if let Some(s) = a.connect_timeout.filter(|s| *s > 0) {
            config.connect_timeout(Duration::from_secs(s));
        }
        Ok(PgOpener {
            config,
            tls: MakeTlsConnector::new(tls),
            address: format!("{}:{}", a.host, a.port),
        })
    }
}

impl Opener for PgOpener {
    fn open(&self, deadline: Instant) -> Result<Box<dyn Database>, Error> {
        let mut config = self.config.clone();
        let left = deadline.saturating_duration_since(Instant::now());
        let limit = config.get_connect_timeout().map_or(left, |t| left.min(*t));
        config.connect_timeout(limit.max(Duration::from_millis(1)));
        let tls = self.tls.clone();
        let address = self.address.clone();
        // On a thread of its own: inside a program's runtime, block_on
        // would panic, and the connect is bounded there by the deadline too.
        let session = threaded::connect_within("postgres", &self.address, deadline, move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
                .map_err(|e| Error::io(ErrorKind::Io, format_args!("postgres: its runtime"), e))?;
            let (client, connection) = rt
                .block_on(config.connect(tls.clone()))
                .map_err(|e| connect_error(&address, e))?;
            Ok(PgSession {
                rt: OwnRuntime(Some(rt)),
                connection: Box::pin(connection),
                client,
                tls,
                cache: StatementCache::default(),
                lost: false,
            })
        })?;
        Ok(Box::new(session))
    }
}

type PgConnection =
    tokio_postgres::Connection<Socket, <MakeTlsConnector as MakeTlsConnect<Socket>>::Stream>;

/// The session: the client, its connection and the current-thread runtime
/// that drives both, on the thread of whoever runs a statement.
struct PgSession {
    rt: OwnRuntime,
    connection: Pin<Box<PgConnection>>,
    client: Client,
    tls: MakeTlsConnector,
    cache: StatementCache,
    lost: bool,
}

impl Database for PgSession {
    fn exec(
        &mut self,
        sql: &str,
        params: &[Value],
        deadline: Option<Instant>,
    ) -> Result<Rows, Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.exec_here(sql, params, deadline);
        }
        // Inside a program's tokio runtime this thread may not block_on
        // another runtime: the statement runs on a thread of its own
        // (`wsdial-postgres`), for the statement's time.
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("wsdial-postgres".into())
                .spawn_scoped(scope, || self.exec_here(sql, params, deadline))
                .map_err(|e| {
                    Error::io(
                        ErrorKind::Io,
                        format_args!("postgres: starting its thread"),
                        e,
                    )
                })?
                .join()
                .unwrap_or_else(|_| {
                    Err(Error::new(
                        ErrorKind::Database,
                        "postgres: the statement's thread panicked",
                    ))
                })
        })
    }

    fn is_lost(&self) -> bool {
        self.lost || self.client.is_closed()
    }
}

impl PgSession {
    /// Runs one statement on this thread, in the session's runtime, until
    /// `deadline`; past it, cancels it on the server (PostgreSQL's cancel
    /// request) and waits up to `CANCEL_GRACE` for its answer: a statement
    /// that finished meanwhile returns its rows, a cancelled one a timeout
    /// (the session stays usable), and one that never answers a timeout
    /// that drops the connection.
    fn exec_here(
        &mut self,
        sql: &str,
        params: &[Value],
        deadline: Option<Instant>,
    ) -> Result<Rows, Error> {
        if self.is_lost() {
            return Err(Error::new(
                ErrorKind::Io,
                "postgres: the connection to the server is lost",
            ));
        }
        let PgSession {
            rt,
            connection,
            client,
            tls,
            cache,
            lost,
        } = self;
        let work = run_fresh(client, cache, sql, params);
        let rt = rt.0.as_ref().expect("taken only when dropped");
        let outcome = block_on(rt, connection, async {
            let mut work = pin!(work);
            let Some(deadline) = deadline else {
                return Ok(work.await);
            };
            tokio::select! {
                r = &mut work => return Ok(r),
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
            let cancel = client.cancel_token();
            let sent = tokio::time::timeout(CANCEL_GRACE, cancel.cancel_query(tls.clone()))
                .await
                .is_ok_and(|r| r.is_ok());
            match tokio::time::timeout(CANCEL_GRACE, &mut work).await {
                Ok(r) => Err((sent, Some(r))),
                Err(_) => Err((sent, None)),
            }
        });
        let timeout = |more: &str| {
            Error::new(
                ErrorKind::Database,
                format!(
                    "postgres: the statement did not finish before its deadline (timeout=); {more}"
                ),
            )
            .timed_out()
        };
        match outcome {
            Ok(Ok(r)) => r,
            // The connection failed while the statement ran.
            Err(e) => {
                *lost = true;
                Err(statement_error(e))
            }
            Ok(Err((_, Some(Ok(rows))))) => Ok(rows),
            Ok(Err((sent, Some(Err(e))))) => {
                if e.is_timeout() && sent {
                    Err(timeout(
                        "it was cancelled on the server and the connection stays usable",
                    ))
                } else {
                    Err(e)
                }
            }
            Ok(Err((_, None))) => {
                *lost = true;
                Err(timeout("the connection is dropped"))
            }
        }
    }
}

/// The session's runtime, shut down without waiting when dropped: a
/// session may be closed inside a program's runtime, where waiting (a
/// runtime's plain drop) panics.
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// How long a cancelled statement may take to give up before the session is
/// counted as lost.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// Runs `future` in `rt` on this thread, driving the connection meanwhile:
/// the future's output, or the connection's failure.
fn block_on<F: Future>(
    rt: &tokio::runtime::Runtime,
    connection: &mut Pin<Box<PgConnection>>,
    future: F,
) -> Result<F::Output, postgres::Error> {
    let mut future = pin!(future);
    rt.block_on(std::future::poll_fn(|cx| {
        loop {
            match connection.as_mut().poll_message(cx) {
                Poll::Ready(Some(Ok(AsyncMessage::Notice(n)))) => {
                    log::info!("postgres: {}: {}", n.severity(), n.message())
                }
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        future.as_mut().poll(cx).map(Ok)
    }))
}

/// Runs one statement; a statement prepared before the table it reads
/// changed shape is refused by the server before it runs, so it is prepared
/// again and run once more.
async fn run_fresh(
    client: &Client,
    cache: &mut StatementCache,
    sql: &str,
    params: &[Value],
) -> Result<Rows, Error> {
    let cached = cache.contains(sql);
    match run(client, cache, sql, params).await {
        Err(e) if cached && is_stale(&e) => run(client, cache, sql, params)
            .await
            .map_err(statement_error),
        r => r.map_err(statement_error),
    }
}

/// How many prepared statements a session keeps (the least recently used
/// one is closed past that).
const CACHED_STATEMENTS: usize = 64;

/// The session's prepared statements, by SQL text, least recently used first:
/// a statement run again is sent once (bind and execute), not prepared again.
#[derive(Default)]
struct StatementCache(std::collections::VecDeque<(String, Statement)>);

impl StatementCache {
    fn contains(&self, sql: &str) -> bool {
        self.0.iter().any(|(s, _)| s == sql)
    }

    /// The statement for `sql`, prepared on first use.
    async fn get(&mut self, client: &Client, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(i) = self.0.iter().rposition(|(s, _)| s == sql) {
            if i + 1 != self.0.len() {
                let entry = self.0.remove(i).expect("found above");
                self.0.push_back(entry);
            }
            return Ok(self.0.back().expect("pushed above").1.clone());
        }
        let stmt = client.prepare(sql).await?;
        if self.0.len() == CACHED_STATEMENTS {
            self.0.pop_front();
        }
        self.0.push_back((sql.to_owned(), stmt.clone()));
        Ok(stmt)
    }

    fn forget(&mut self, sql: &str) {
        self.0.retain(|(s, _)| s != sql);
    }
}

/// The server refused a prepared statement because what it reads changed
/// (`cached plan must not change result type`) or no longer knows it.
fn is_stale(e: &postgres::Error) -> bool {
    matches!(e.code().map(SqlState::code), Some("0A000") | Some("26000"))
        && e.as_db_error()
            .is_some_and(|d| d.code().code() == "26000" || d.message().contains("cached plan"))
}

/// Runs one statement, its statement prepared once per session (and
/// forgotten when running it fails).
async fn run(
    client: &Client,
    cache: &mut StatementCache,
    sql: &str,
    params: &[Value],
) -> Result<Rows, postgres::Error> {
    let stmt = match cache.get(client, sql).await {
        Ok(s) => s,
        // Several statements in one string (a script) without parameters.
        Err(e)
            if params.is_empty()
                && e.code() == Some(&SqlState::SYNTAX_ERROR)
                && e.as_db_error()
                    .is_some_and(|d| d.message().contains("multiple commands")) =>
        {
            client.batch_execute(sql).await?;
            return Ok(Rows::default());
        }
        Err(e) => return Err(e),
    };
    let bound: Vec<Param<'_>> = params.iter().map(Param).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|p| p as _).collect();
    if stmt.columns().is_empty() {
        let n = client.execute(&stmt, &refs).await;
        return match n {
            Ok(n) => Ok(Rows {
                affected: Some(n),
                ..Rows::default()
            }),
            Err(e) => {
                cache.forget(sql);
                Err(e)
            }
        };
    }
    // Each row decoded as it arrives, and its buffer freed at once (no
    // second copy of the whole result).
    let stream = match client.query_raw(&stmt, refs.iter().copied()).await {
        Ok(s) => s,
        Err(e) => {
            cache.forget(sql);
            return Err(e);
        }
    };
    let mut stream = pin!(stream);
    let columns = stmt.columns().iter().map(|c| c.name().to_owned()).collect();
    let width = stmt.columns().len();
    let mut values = Vec::new();
    while let Some(row) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        let row = row.inspect_err(|_| cache.forget(sql))?;
        let mut out = Vec::with_capacity(width);
        for i in 0..width {
            out.push(row.try_get::<_, Cell>(i)?.0);
        }
        values.push(out);
    }
    Ok(Rows {
        columns,
        values,
        affected: None,
    })
}

/// A connect failure, by kind: refused credentials are `Auth`, the rest `Tcp`
/// (or `Tls`), with the server's or the system's words.
fn connect_error(address: &str, e: postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let kind = if code.starts_with("28") {
            ErrorKind::Auth
        } else {
            ErrorKind::Database
        };
        return Error::new(
            kind,
            format!("postgres {address}: {} ({code})", db.message()),
        );
    }
    let text = chain(&e);
    let kind = if text.contains("tls") || text.contains("TLS") || text.contains("certificate") {
        ErrorKind::Tls
    } else {
        ErrorKind::Tcp
    };
    let err = Error::new(kind, format!("postgres {address}: {text}"));
    if text.contains("timed out") || text.contains("timeout") {
        err.timed_out()
    } else {
        err
    }
}

/// A statement's failure, by SQLSTATE class.
fn statement_error(e: postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let kind = match code {
            "42601" | "42000" => ErrorKind::Syntax,
            c if c.starts_with("23") => ErrorKind::Constraint,
            c if c.starts_with("28") => ErrorKind::Auth,
            _ => ErrorKind::Database,
        };
        let mut msg = format!("postgres: {} ({code})", db.message());
        if let Some(d) = db.detail() {
            let _ = write!(msg, ": {d}");
        }
        let err = Error::new(kind, msg);
        return if code == "57014" {
            err.timed_out()
        } else {
            err
        };
    }
    let mut io = false;
    let mut src = e.source();
    while let Some(s) = src {
        io |= s.is::<std::io::Error>();
        src = s.source();
    }
    if e.is_closed() || io {
        return Error::new(
            ErrorKind::Io,
            format!("postgres: the connection is lost: {}", chain(&e)),
        );
    }
    Error::new(ErrorKind::Database, format!("postgres: {}", chain(&e)))
}

/// An error and its sources, joined by `: `.
fn chain(e: &dyn StdError) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            let _ = write!(s, ": {t}");
        }
        src = c.source();
    }
    s
}

/// A parameter: text format (the server parses it as the type it inferred),
/// bytes, and numbers and booleans that the inferred type takes as is, in
/// binary (see [`Binary`]).
#[derive(Debug)]
struct Param<'a>(&'a Value);

/// A parameter the server takes in its binary form as is (no text to parse
/// on the server): an integer into an integer type it fits, a float into
/// `float8`, a boolean into `bool`.
enum Binary {
    I2(i16),
    I4(i32),
    I8(i64),
    F8(f64),
    Bool(bool),
}

impl Param<'_> {
    fn binary(&self, ty: &Type) -> Option<Binary> {
        let int = || match *self.0 {
            Value::Int(i) => Some(i),
            Value::UInt(u) => i64::try_from(u).ok(),
            _ => None,
        };
        match (self.0, ty) {
            (_, &Type::INT8) => int().map(Binary::I8),
            (_, &Type::INT4) => int().and_then(|i| i32::try_from(i).ok()).map(Binary::I4),
            (_, &Type::INT2) => int().and_then(|i| i16::try_from(i).ok()).map(Binary::I2),
            (Value::Float(f), &Type::FLOAT8) => Some(Binary::F8(*f)),
            (Value::Bool(b), &Type::BOOL) => Some(Binary::Bool(*b)),
            _ => None,
        }
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if let Some(b) = self.binary(ty) {
            match b {
                Binary::I2(i) => out.extend_from_slice(&i.to_be_bytes()),
                Binary::I4(i) => out.extend_from_slice(&i.to_be_bytes()),
                Binary::I8(i) => out.extend_from_slice(&i.to_be_bytes()),
                Binary::F8(f) => out.extend_from_slice(&f.to_be_bytes()),
                Binary::Bool(b) => out.extend_from_slice(&[u8::from(b)]),
            }
            return Ok(IsNull::No);
        }
        match self.0 {
            Value::Null => return Ok(IsNull::Yes),
            Value::Bool(b) => out.extend_from_slice(if *b { b"t" } else { b"f" }),
            Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Value::UInt(u) => out.extend_from_slice(u.to_string().as_bytes()),
            Value::Float(f) if f.is_nan() => out.extend_from_slice(b"NaN"),
            Value::Float(f) if f.is_infinite() => {
                out.extend_from_slice(if *f > 0.0 { b"Infinity" } else { b"-Infinity" })
            }
            Value::Float(f) => out.extend_from_slice(f.to_string().as_bytes()),
            Value::Bytes(b) => out.extend_from_slice(b),
            Value::Decimal(s)
            | Value::Text(s)
            | Value::Date(s)
            | Value::Time(s)
            | Value::DateTime(s) => out.extend_from_slice(s.as_bytes()),
        }
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, ty: &Type) -> Format {
        match self.0 {
            Value::Bytes(_) => Format::Binary,
            _ if self.binary(ty).is_some() => Format::Binary,
            _ => Format::Text,
        }
    }

    to_sql_checked!();
}

/// One column's value, decoded from PostgreSQL's binary format.
struct Cell(Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, BoxError> {
        decode(ty, raw).map(Cell)
    }

    fn from_sql_null(_ty: &Type) -> Result<Cell, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

fn be<const N: usize>(raw: &[u8], at: usize) -> Result<[u8; N], BoxError> {
    raw.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| "postgres sent a value shorter than its type".into())
}

fn text(raw: &[u8]) -> Result<String, BoxError> {
    Ok(std::str::from_utf8(raw)?.to_owned())
}

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i64 = 10_957;
const DAY_US: i64 = 86_400_000_000;

fn decode(ty: &Type, raw: &[u8]) -> Result<Value, BoxError> {
    Ok(match *ty {
        Type::BOOL => Value::Bool(be::<1>(raw, 0)?[0] != 0),
        Type::INT2 => Value::Int(i16::from_be_bytes(be(raw, 0)?).into()),
        Type::INT4 => Value::Int(i32::from_be_bytes(be(raw, 0)?).into()),
        Type::INT8 => Value::Int(i64::from_be_bytes(be(raw, 0)?)),
        Type::OID => Value::Int(u32::from_be_bytes(be(raw, 0)?).into()),
        Type::FLOAT4 => Value::Float(f32::from_be_bytes(be(raw, 0)?).into()),
        Type::FLOAT8 => Value::Float(f64::from_be_bytes(be(raw, 0)?)),
        Type::NUMERIC => Value::Decimal(numeric(raw)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
            Value::Text(text(raw)?)
        }
        // jsonb: a version byte (1), then the text.
        Type::JSONB => Value::Text(text(raw.get(1..).unwrap_or_default())?),
        Type::BYTEA => Value::Bytes(raw.to_vec()),
        Type::UUID => {
            let b: [u8; 16] = be(raw, 0)?;
            let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
            Value::Text(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
        }
        Type::DATE => match i32::from_be_bytes(be(raw, 0)?) {
            i32::MAX => Value::Date("infinity".into()),
            i32::MIN => Value::Date("-infinity".into()),
            d => Value::Date(date(i64::from(d))),
        },
        Type::TIME => Value::Time(time(i64::from_be_bytes(be(raw, 0)?))),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let zone = if *ty == Type::TIMESTAMPTZ { "+00:00" } else { "" };
            match i64::from_be_bytes(be(raw, 0)?) {
                i64::MAX => Value::DateTime("infinity".into()),
                i64::MIN => Value::DateTime("-infinity".into()),
                us => Value::DateTime(format!(
                    "{}T{}{zone}",
                    date(us.div_euclid(DAY_US)),
                    time(us.rem_euclid(DAY_US))
                )),
            }
        }
        _ => {
            return Err(format!(
                "wsdial does not read PostgreSQL's type `{ty}`; cast the column to text in the query (`col::text`)"
            )
            .into())
        }
    })
}

/// `YYYY-MM-DD` from days since 2000-01-01 (Howard Hinnant's civil_from_days).
fn date(days: i64) -> String {
    let z = days + PG_EPOCH_DAYS + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM:SS[.ffffff]` (trailing zeros of the fraction dropped) from microseconds.
fn time(us: i64) -> String {
    let s = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let mut out = format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    if frac != 0 {
        let f = format!("{frac:06}");
        let _ = write!(out, ".{}", f.trim_end_matches('0'));
    }
    out
}

/// PostgreSQL's binary numeric (base-10000 digits) as exact decimal text.
fn numeric(raw: &[u8]) -> Result<String, BoxError> {
    let ndigits = usize::try_from(i16::from_be_bytes(be(raw, 0)?)).map_err(|_| "bad numeric")?;
    let weight = i32::from(i16::from_be_bytes(be(raw, 2)?));
    let sign = u16::from_be_bytes(be(raw, 4)?);
    let dscale = usize::from(u16::from_be_bytes(be(raw, 6)?));
    if raw.len() < 8 + 2 * ndigits {
        return Err("postgres sent a numeric shorter than its digits".into());
    }
    let digit = |i: i32| -> u16 {
        usize::try_from(i)
            .ok()
            .filter(|i| *i < ndigits)
            .map_or(0, |i| u16::from_be_bytes([raw[8 + 2 * i], raw[9 + 2 * i]]))
    };
    let mut s = String::new();
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        0x4000 => s.push('-'),
        0 => {}
        _ => return Err("postgres sent a numeric with an unknown sign".into()),
    }
    if weight < 0 {
        s.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                let _ = write!(s, "{}", digit(0));
            } else {
                let _ = write!(s, "{:04}", digit(i));
            }
        }
    }
    if dscale > 0 {
        let mut frac = String::with_capacity(dscale + 4);
        let mut i = weight + 1;
        while frac.len() < dscale {
            let _ = write!(frac, "{:04}", digit(i));
            i += 1;
        }
        frac.truncate(dscale);
        s.push('.');
        s.push_str(&frac);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_from_postgres_epoch() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(-1), "1999-12-31");
        assert_eq!(date(9830), "2026-11-30");
        assert_eq!(date(60), "2000-03-01");
        assert_eq!(time(0), "00:00:00");
        assert_eq!(time(45_296_789_000), "12:34:56.789");
        assert_eq!(time(DAY_US - 1), "23:59:59.999999");
    }

    #[test]
    fn parameters_go_in_binary_only_where_the_type_takes_them_as_they_are() {
        let fmt = |v: Value, ty: Type| {
            let p = Param(&v);
            let mut out = BytesMut::new();
            p.to_sql(&ty, &mut out).unwrap();
            (p.encode_format(&ty), out.to_vec())
        };
        assert!(matches!(
            fmt(Value::Int(-2), Type::INT8),
            (Format::Binary, b) if b == (-2i64).to_be_bytes()
        ));
        assert!(matches!(
            fmt(Value::UInt(7), Type::INT4),
            (Format::Binary, b) if b == 7i32.to_be_bytes()
        ));
        assert!(matches!(
            fmt(Value::Float(1.5), Type::FLOAT8),
            (Format::Binary, b) if b == 1.5f64.to_be_bytes()
        ));
        assert!(matches!(fmt(Value::Bool(true), Type::BOOL), (Format::Binary, b) if b == [1]));
        // Out of the type's range, another type, or a float4: text, for the
        // server to convert (or refuse) as it reads it.
        assert!(matches!(fmt(Value::Int(70_000), Type::INT2), (Format::Text, b) if b == b"70000"));
        assert!(matches!(fmt(Value::Int(5), Type::NUMERIC), (Format::Text, b) if b == b"5"));
        assert!(matches!(fmt(Value::Float(0.1), Type::FLOAT4), (Format::Text, b) if b == b"0.1"));
        assert!(matches!(fmt(Value::Text("1".into()), Type::INT8), (Format::Text, b) if b == b"1"));
    }

    #[test]
    fn numerics_keep_every_digit() {
        fn enc(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
            let mut v = Vec::new();
            v.extend((digits.len() as i16).to_be_bytes());
            v.extend(weight.to_be_bytes());
            v.extend(sign.to_be_bytes());
            v.extend(dscale.to_be_bytes());
            for d in digits {
                v.extend(d.to_be_bytes());
            }
            v
        }
        // 12345678901234567890.123
        let n = enc(4, 0, 3, &[1234, 5678, 9012, 3456, 7890, 1230]);
        assert_eq!(numeric(&n).unwrap(), "12345678901234567890.123");
        assert_eq!(numeric(&enc(-1, 0x4000, 5, &[50])).unwrap(), "-0.00500");
        assert_eq!(numeric(&enc(0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(numeric(&enc(1, 0, 2, &[1])).unwrap(), "10000.00");
        assert_eq!(numeric(&enc(0, 0xC000, 0, &[])).unwrap(), "NaN");
        assert!(numeric(&[0, 5, 0, 0]).is_err());
    }
}
