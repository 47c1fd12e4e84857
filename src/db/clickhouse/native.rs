//! ClickHouse's native protocol (`clickhouse://tcp://host:9000?…`) through
//! `klickhouse`, on a thread of its own (thread `wsdial-clickhouse`, see
//! `db::own_thread`) that owns a current-thread tokio runtime per connection:
//! `exec` works from any thread, also inside a program's own tokio runtime.
//!
//! - Opening first says hello on a plain socket of its own and reads the
//!   server's answer, so a wrong password (`Auth`), an unknown database or a
//!   port that does not speak the native protocol gets the server's own words
//!   (klickhouse only logs them); then klickhouse connects.
//! - Results are read as the HTTP form reads them (`convert.rs`); the same
//!   query gives the same column names and values, except a `FixedString`,
//!   which klickhouse cuts at its first zero byte (the HTTP form keeps the
//!   padding), and a result with two columns of one name, of which klickhouse
//!   keeps one. A column of a type klickhouse cannot read (`Nothing`, as in
//!   `SELECT NULL`) loses the connection: that `exec` fails and the session is
//!   counted as lost.
//! - Parameters are bound on the client as the HTTP form binds them (its
//!   `bind`), since ClickHouse 18 has no server-side parameters; except in
//!   `INSERT … VALUES`, whose rows the server does not read from the
//!   statement over this protocol: wsdial reads the tuples (`?`, `NULL`,
//!   numbers, quoted strings; an expression is refused with `Unsupported`),
//!   sends the statement, and sends the rows as one block of the columns'
//!   types the server answers with: one INSERT on the server, all or
//!   nothing (see `native/insert.rs`).
//! - Past a statement's deadline the connection is closed and `exec` fails
//!   with a timeout. ClickHouse 18 goes on running a statement whose
//!   connection closed, and klickhouse cannot send the protocol's Cancel, so
//!   the session opens its next connection at once and kills the statement
//!   there (`KILL QUERY WHERE port = <the closed connection's port> AND
//!   address = <its address> AND user = <the session's user>`).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use klickhouse::block::Block;
use klickhouse::{KlickhouseError, Type};
use tokio::sync::Notify;

use super::client::{bind, closing_quote};
use super::ChAddress;
use crate::db::own_thread::{self, Cancel, Worker};
use crate::db::{Database, Opener, Rows, Value};
use crate::error::{Error, ErrorKind};

pub(super) mod convert;
pub(super) mod insert;

use insert::{split_insert, Insert};

/// How long a connection opened again after a timeout may take.
const REOPEN: Duration = Duration::from_secs(10);

/// How long opening a connection and killing a statement past its deadline
/// may each take (within `db::own_thread`'s grace for a cancelled statement).
const KILL_WITHIN: Duration = Duration::from_secs(2);

/// Opens native-protocol sessions to one ClickHouse server.
pub(crate) struct NativeOpener {
    a: ChAddress,
    address: String,
}

impl NativeOpener {
    pub(crate) fn new(a: ChAddress) -> NativeOpener {
        let address = if a.host.contains(':') {
            format!("[{}]:{}", a.host, a.port)
        } else {
            format!("{}:{}", a.host, a.port)
        };
        NativeOpener { a, address }
    }
}

impl Opener for NativeOpener {
    fn open(&self, deadline: Instant) -> Result<Box<dyn Database>, Error> {
        let a = self.a.clone();
        let address = self.address.clone();
        let session = own_thread::open("clickhouse", &self.address, deadline, move || {
            let stop = Arc::new(Stop::default());
            let conn = Conn::open(&a, &address, deadline, &stop)?;
            let s = stop.clone();
            let cancel: Cancel = Box::new(move || {
                s.flag.store(true, Ordering::Release);
                s.notify.notify_waiters();
                true
            });
            let worker = NativeWorker {
                conn: Some(conn),
                a,
                address,
                stop,
            };
            Ok((worker, cancel))
        })?;
        Ok(Box::new(session))
    }
}

/// A request to give up the running statement (its deadline passed).
#[derive(Default)]
struct Stop {
    flag: AtomicBool,
    notify: Notify,
}

impl Stop {
    async fn requested(&self) {
        loop {
            let n = self.notify.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.flag.load(Ordering::Acquire) {
                return;
            }
            n.await;
        }
    }
}

/// One connection and the runtime that drives it (dropping both closes it).
struct Conn {
    rt: tokio::runtime::Runtime,
    client: klickhouse::Client,
    /// This end's address, as the server's `system.processes` shows it.
    local: std::net::SocketAddr,
}

impl Conn {
    fn open(a: &ChAddress, address: &str, deadline: Instant, stop: &Stop) -> Result<Conn, Error> {
        hello(a, address, deadline)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io(ErrorKind::Io, "clickhouse: starting its runtime", e))?;
        let options = klickhouse::ClientOptions {
            username: a.user.clone().unwrap_or_else(|| "default".into()),
            password: a.password.clone().unwrap_or_default(),
            default_database: a.database.clone().unwrap_or_default(),
            ..Default::default()
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let (client, local) = rt.block_on(async {
            let connect = async {
                let stream = tokio::net::TcpStream::connect((a.host.as_str(), a.port))
                    .await
                    .map_err(|e| ch_error(address, e.into()))?;
                let _ = stream.set_nodelay(true);
                let local = stream
                    .local_addr()
                    .map_err(|e| ch_error(address, e.into()))?;
                let (read, write) = stream.into_split();
                let client = klickhouse::Client::connect_stream(read, write, options)
                    .await
                    .map_err(|e| ch_error(address, e))?;
                Ok::<_, Error>((client, local))
            };
            tokio::select! {
                r = tokio::time::timeout(left, connect) => r.unwrap_or_else(|_| Err(connect_timeout(address))),
                _ = stop.requested() => Err(connect_timeout(address)),
            }
        })?;
        Ok(Conn { rt, client, local })
    }
}

fn connect_timeout(address: &str) -> Error {
    Error::new(
        ErrorKind::Tcp,
        format!("clickhouse {address}: connecting timed out"),
    )
    .timed_out()
}

thread_local! {
    /// Set when the statement running on this (the session's) thread got an
    /// exception from the server, or stopped an insert half-way: the next
    /// statement gets a new connection.
    static SERVER_ERROR: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Has the next statement on this (the session's) thread open a new connection.
fn renew_connection() {
    SERVER_ERROR.with(|s| s.set(true));
}

/// The client, on the session's thread.
struct NativeWorker {
    conn: Option<Conn>,
    a: ChAddress,
    address: String,
    stop: Arc<Stop>,
}

impl Worker for NativeWorker {
    fn run(&mut self, sql: &str, params: Vec<Value>) -> Result<Rows, Error> {
        self.stop.flag.store(false, Ordering::Release);
        SERVER_ERROR.with(|s| s.set(false));
        if self.conn.is_none() {
            let deadline = Instant::now() + REOPEN;
            self.conn = Some(Conn::open(&self.a, &self.address, deadline, &self.stop)?);
        }
        let conn = self.conn.as_ref().expect("opened above");
        let address = self.address.clone();
        let result = conn.rt.block_on(async {
            tokio::select! {
                r = exec(&conn.client, &address, sql, params) => Some(r),
                _ = self.stop.requested() => None,
            }
        });
        match result {
            // After a server's exception, ClickHouse 18 may still hold part of
            // what klickhouse sent (a query it refused before reading its
            // empty data block), which it would read as the next statement's:
            // the next statement gets a new connection.
            Some(Err(e)) if SERVER_ERROR.with(|s| s.replace(false)) => {
                self.conn = None;
                Err(e)
            }
            Some(r) => r,
            None => {
                let local = self.conn.take().expect("ran on it").local;
                let killed = self.kill(local);
                Err(Error::new(
                    ErrorKind::Database,
                    format!(
                        "clickhouse {address}: the statement did not finish before its deadline (timeout=); \
                         its connection is closed{}",
                        if killed { " and the statement killed on the server" } else { "" }
                    ),
                )
                .timed_out())
            }
        }
    }

    fn is_closed(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.client.is_closed())
    }
}

impl NativeWorker {
    /// Opens the next statement's connection and kills, on the server, the
    /// statement of the connection that was at `local` (the server goes on
    /// running a statement whose connection closed). True if it was asked.
    fn kill(&mut self, local: std::net::SocketAddr) -> bool {
        self.stop.flag.store(false, Ordering::Release);
        let Ok(conn) = Conn::open(
            &self.a,
            &self.address,
            Instant::now() + KILL_WITHIN,
            &self.stop,
        ) else {
            return false;
        };
        let ip = local.ip().to_canonical().to_string();
        let user = self.a.user.clone().unwrap_or_else(|| "default".into());
        let Ok(sql) = bind(
            &format!(
                "KILL QUERY WHERE port = {} AND (address = ? OR endsWith(address, ?)) AND user = ? ASYNC",
                local.port()
            ),
            &[Value::Text(ip.clone()), Value::Text(format!(":{ip}")), Value::Text(user)],
        ) else {
            return false;
        };
        let done = conn.rt.block_on(async {
            tokio::time::timeout(KILL_WITHIN, conn.client.execute(sql.as_str())).await
        });
        self.conn = Some(conn);
        matches!(done, Ok(Ok(())))
    }
}

async fn exec(
    client: &klickhouse::Client,
    address: &str,
    sql: &str,
    params: Vec<Value>,
) -> Result<Rows, Error> {
    let sql = sql.trim().trim_end_matches(';').trim_end();
    match split_insert(sql) {
        Insert::Values(head, tail) => {
            return insert::insert(client, address, head, tail, params).await
        }
        Insert::Data => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "clickhouse://tcp://: `{sql}` sends its rows in a FORMAT, which wsdial's native form \
                     does not send; write INSERT … VALUES (?, …) with parameters, or INSERT … SELECT"
                ),
            ))
        }
        Insert::Not => {}
    }
    let sql = bind(sql, &params)?;
    let stream = client
        .query_raw(sql.as_str(), None)
        .await
        .map_err(|e| ch_error(address, e))?;
    let mut rows = Rows::default();
    let mut types: Vec<Type> = Vec::new();
    futures_util::pin_mut!(stream);
    while let Some(block) = stream.next().await {
        let block = block.map_err(|e| ch_error(address, e))?;
        if types.is_empty() && !block.column_types.is_empty() {
            rows.columns = block.column_types.keys().cloned().collect();
            types = block.column_types.values().cloned().collect();
        }
        append(&mut rows, block, &types);
    }
    if client.is_closed() {
        return Err(lost(address));
    }
    Ok(rows)
}

fn lost(address: &str) -> Error {
    Error::new(
        ErrorKind::Io,
        format!(
            "clickhouse {address}: the connection was lost during the statement (the server went away, \
             or sent a column type klickhouse cannot read, such as Nothing from a bare NULL)"
        ),
    )
}

/// Appends a block's rows (its columns, taken apart into rows).
fn append(rows: &mut Rows, block: Block, types: &[Type]) {
    let n = block.rows as usize;
    if n == 0 {
        return;
    }
    let mut columns: Vec<std::vec::IntoIter<klickhouse::Value>> = block
        .column_data
        .into_values()
        .map(Vec::into_iter)
        .collect();
    for _ in 0..n {
        let row = columns
            .iter_mut()
            .zip(types)
            .map(|(c, t)| c.next().map_or(Value::Null, |v| convert::from_ch(v, t)))
            .collect();
        rows.values.push(row);
    }
}

/// A server's exception code as the HTTP form reads it.
fn kind_of(code: i32) -> ErrorKind {
    match code {
        62 => ErrorKind::Syntax,
        192..=195 | 516 => ErrorKind::Auth,
        469 => ErrorKind::Constraint,
        _ => ErrorKind::Database,
    }
}

fn ch_error(address: &str, e: KlickhouseError) -> Error {
    match e {
        KlickhouseError::ServerException { code, message, .. } => {
            renew_connection();
            let err = Error::new(
                kind_of(code),
                format!("clickhouse: Code: {code}, {}", message.trim()),
            );
            if code == 159 {
                err.timed_out()
            } else {
                err
            }
        }
        KlickhouseError::Io(io) => {
            let kind = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => ErrorKind::Tcp,
                _ => ErrorKind::Io,
            };
            Error::io(kind, format_args!("clickhouse {address}"), io)
        }
        KlickhouseError::ProtocolError(m) if m.contains("channel closed") => lost(address),
        other => Error::new(
            ErrorKind::Database,
            format!("clickhouse {address}: {other}"),
        ),
    }
}

/// Says hello in the native protocol on a socket of its own and reads the
/// answer: the server's exception (wrong password, unknown database) with its
/// own words, or an error naming what answered instead.
fn hello(a: &ChAddress, address: &str, deadline: Instant) -> Result<(), Error> {
    let left = || {
        let l = deadline.saturating_duration_since(Instant::now());
        (!l.is_zero())
            .then_some(l)
            .ok_or_else(|| connect_timeout(address))
    };
    let addrs: Vec<_> = (a.host.as_str(), a.port)
        .to_socket_addrs()
        .map_err(|e| {
            Error::io(
                ErrorKind::Dns,
                format_args!("clickhouse {address}: resolving the host"),
                e,
            )
        })?
        .collect();
    let mut last = None;
    let mut sock = None;
    for sa in addrs {
        match TcpStream::connect_timeout(&sa, left()?) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut sock = match (sock, last) {
        (Some(s), _) => s,
        (None, Some(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            return Err(connect_timeout(address))
        }
        (None, Some(e)) => {
            return Err(Error::io(
                ErrorKind::Tcp,
                format_args!("clickhouse {address}"),
                e,
            ))
        }
        (None, None) => {
            return Err(Error::new(
                ErrorKind::Dns,
                format!("clickhouse {address}: host not found"),
            ))
        }
    };
    let io = |e: std::io::Error| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            Error::new(
                ErrorKind::Tcp,
                format!("clickhouse {address}: no native-protocol hello before the deadline (is this the native port, the server's tcp_port?)"),
            )
            .timed_out()
        } else {
            Error::io(
                ErrorKind::Io,
                format_args!("clickhouse {address}: the native hello"),
                e,
            )
        }
    };
    let mut out = Vec::new();
    out.push(0); // Hello
    put_str(&mut out, b"wsdial");
    out.extend([1, 1]); // version 1.1
    put_var(&mut out, 54213); // a revision every server since 2018 answers
    put_str(&mut out, a.database.as_deref().unwrap_or("").as_bytes());
    put_str(&mut out, a.user.as_deref().unwrap_or("default").as_bytes());
    put_str(&mut out, a.password.as_deref().unwrap_or("").as_bytes());
    sock.set_write_timeout(Some(left()?)).map_err(io)?;
    sock.write_all(&out).map_err(io)?;
    sock.set_read_timeout(Some(left()?)).map_err(io)?;
    let mut r = std::io::BufReader::new(sock);
    match get_var(&mut r).map_err(io)? {
        0 => Ok(()),
        2 => {
            let mut code = [0; 4];
            r.read_exact(&mut code).map_err(io)?;
            let code = i32::from_le_bytes(code);
            let _name = get_str(&mut r).map_err(io)?;
            let message = get_str(&mut r).map_err(io)?;
            Err(Error::new(
                kind_of(code),
                format!("clickhouse {address}: Code: {code}, {}", message.trim()),
            ))
        }
        _ => Err(Error::new(
            ErrorKind::Tcp,
            format!("clickhouse {address}: the answer is not ClickHouse's native protocol (is this the HTTP port? clickhouse://tcp:// wants the server's tcp_port, 9000 on a stock server)"),
        )),
    }
}

fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_var(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn get_var(r: &mut impl Read) -> std::io::Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let mut b = [0];
        r.read_exact(&mut b)?;
        v |= u64::from(b[0] & 0x7f) << shift;
        if b[0] < 0x80 {
            return Ok(v);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "a varint longer than 64 bits",
    ))
}

fn get_str(r: &mut impl Read) -> std::io::Result<String> {
    let n = get_var(r)?;
    if n > 1 << 20 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a string over 1 MiB in the hello",
        ));
    }
    let mut b = vec![0; n as usize];
    r.read_exact(&mut b)?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}
