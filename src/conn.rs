//! [`Conn`]: one live, self-healing connection, read through its inbox.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::inbox::{Signal, Wait};
use crate::message::{Event, Message};
use crate::seam::{Direct, Driver, Outgoing, Seam};
use crate::socket::CLOSE_LINGER;

/// A connection made by [`dial`](crate::dial) or a [`Dialer`](crate::Dialer).
///
/// A background thread reads the socket all the time into a bounded buffer
/// (the inbox); the read calls take from it. `Conn` is `Send + Sync` and every
/// method takes `&self`: one thread may block in [`read`](Conn::read) while
/// others [`write`](Conn::write) or [`close`](Conn::close).
///
/// When the program keeps up (its buffer is empty when it reads), the read
/// calls read the socket on the program's thread instead, at the cost of a
/// plain blocking loop, and the background thread stands aside; if the program
/// stops reading for 10 ms, the background thread takes over again (heartbeats
/// are answered, the buffer fills). Either way the order of events and the
/// counters are the same. When a read waits, at most one thread waits on the
/// socket itself; a second thread reading the same `Conn` at the same time gets
/// what the background thread buffers.
///
/// | buffer state | `read()` | `read_timeout(d)` | `try_read()` | `read_latest()` |
/// |---|---|---|---|---|
/// | has messages | oldest, at once | oldest, at once | oldest, at once | newest, at once; older ones discarded |
/// | empty | blocks until a message or a disconnect | waits up to `d`, else `None` | `None`, at once | `None`, at once |
/// | connection lost | `Disconnected`, once per lost connection, after the messages that came before it |||
///
/// Without `reconnect`, once the buffer is empty every read returns
/// `Event::Disconnected` again, at once.
///
/// ## Databases
///
/// A database connection (`sqlite3://`, `postgres://`, `mysql://`,
/// `clickhouse://`) has no background thread and no inbox: statements go
/// through [`exec`](Conn::exec), [`exec_with`](Conn::exec_with) and
/// [`exec_many`](Conn::exec_many), each run on
/// the caller's thread, one at a time when several threads call at once. It
/// is not read or written: every read returns, at once,
/// `Event::Disconnected` whose [`cause`](crate::Disconnect::cause) is
/// [`Cause::NotReadable`](crate::Cause::NotReadable) and whose detail says to
/// use `exec`; [`write`](Conn::write) and [`write_binary`](Conn::write_binary)
/// return 0 (and log a warning, once per `Conn`). `timeout=` bounds the dial
/// and each statement (waiting for the statements before it included); with
/// `reconnect=true`, a statement that finds the server connection lost opens a
/// new one first (counted in [`Stats::reconnects`]; the other counters stay 0).
/// [`is_connected`](Conn::is_connected) is false once the server connection
/// is known lost (until a reopen) and after `close`. [`fd`](Conn::fd) gives a
/// [`Handle`](crate::db::Handle) another thread dials to use the same session.
pub struct Conn {
    seam: Arc<Seam>,
    driver: Box<dyn Driver>,
    url: String,
}

/// Counters of a connection, all since it was dialed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages that arrived, including those later dropped or discarded.
    pub received: u64,
    /// Bytes of the messages that arrived.
    pub received_bytes: u64,
    /// Messages dropped because the buffer was full (oldest first).
    pub dropped: u64,
    /// Messages discarded by [`Conn::read_latest`].
    pub discarded: u64,
    /// Binary frames that `compress` could not inflate (delivered raw, see
    /// [`Message::decode_error`](crate::Message::decode_error)).
    pub undecoded: u64,
    /// Successful reconnects.
    pub reconnects: u64,
    /// Planned replacements of the connection without a gap (`max_age`); not
    /// counted in `reconnects`, and no `Disconnected` is delivered for them.
    pub rotations: u64,
    /// Messages written by the program and handed to the socket. For a
    /// broker (`mqtt`, `nats`, `amqp`, `kafka`): handed to the client crate
    /// to send (its request queue or producer queue), not acknowledged by the
    /// broker; see the crate docs' "Message brokers".
    pub sent: u64,
    /// Messages the program wrote that were not sent because the connection
    /// was lost first. For Kafka, also the records librdkafka took but could
    /// not deliver: a failed delivery report, or still held when the session
    /// ended (lost or closed).
    pub unsent: u64,
    /// Writes refused (they returned 0) because the send queue was full (`sendq`).
    pub rejected: u64,
    /// Messages in the buffer now.
    pub queued: usize,
    /// Bytes in the buffer now.
    pub queued_bytes: usize,
    /// Bytes written by the program and not yet written to the socket: the
    /// send queue, bounded by `sendq`.
    pub send_queued_bytes: usize,
    /// When the newest message was read from the socket (see
    /// [`Message::received`](crate::Message::received)); `None` before the
    /// first. `last_message.map(|t| t.elapsed())` is how stale the feed is.
    pub last_message: Option<std::time::Instant>,
    /// When the current connection came up (a reconnect or a rotation starts
    /// it again); `None` while there is none.
    pub connected_since: Option<std::time::Instant>,
    /// The round trip of the last protocol Ping the connection sent (`ping`
    /// without `ping_msg`, WebSocket only): from its sending to its Pong's
    /// arrival. `None` until a Pong answered one.
    pub rtt: Option<Duration>,
    /// The round trip smoothed over the Pongs so far (each new one weighs
    /// 1/8, as TCP's smoothed RTT).
    pub rtt_smoothed: Option<Duration>,
}

impl Conn {
    pub(crate) fn new(seam: Arc<Seam>, driver: Box<dyn Driver>, url: String) -> Conn {
        Conn { seam, driver, url }
    }

    /// Blocks until a message arrives or the connection is lost (FMZ `read()`).
    pub fn read(&self) -> Event {
        loop {
            if let Some(e) = self.seam.inbox.pop_now() {
                return e;
            }
            match self.driver.read_direct(Wait::Forever) {
                Direct::Message(m) => return Event::Message(m),
                Direct::Buffered => continue,
                Direct::Nothing => {
                    if let Some(e) = self.seam.inbox.pop(Wait::Forever) {
                        return e;
                    }
                }
            }
        }
    }

    /// Waits up to `timeout` for an event; `None` if none came (FMZ `read(ms)`).
    pub fn read_timeout(&self, timeout: Duration) -> Option<Event> {
        // An event already waiting is returned without reading the clock
        // (as `read_deadline` would, first thing).
        if let Some(e) = self.seam.inbox.pop_now() {
            return Some(e);
        }
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.read_deadline(deadline),
            None => Some(self.read()),
        }
    }

    /// Waits until `deadline` for an event; `None` if none came.
    pub fn read_deadline(&self, deadline: Instant) -> Option<Event> {
        loop {
            if let Some(e) = self.seam.inbox.pop_now() {
                return Some(e);
            }
            match self.driver.read_direct(Wait::Until(deadline)) {
                Direct::Message(m) => return Some(Event::Message(m)),
                Direct::Buffered => continue,
                Direct::Nothing => return self.seam.inbox.pop(Wait::Until(deadline)),
            }
        }
    }

    /// The oldest event if there is one, at once (FMZ `read(-1)`).
    pub fn try_read(&self) -> Option<Event> {
        if let Some(e) = self.seam.inbox.pop_now() {
            return Some(e);
        }
        match self.driver.read_direct(Wait::Never) {
            Direct::Message(m) => Some(Event::Message(m)),
            Direct::Buffered => self.seam.inbox.pop_now(),
            Direct::Nothing => None,
        }
    }

    /// The newest event, at once, discarding every older one (FMZ `read(-2)`).
    ///
    /// Discarded messages are counted in [`Stats::discarded`]. A disconnect that
    /// is older than the newest message is discarded with the messages (the newer
    /// message shows the connection came back); if the newest event is itself a
    /// disconnect, it is returned. Without `reconnect`, a lost connection with an
    /// empty buffer returns `Disconnected`, as every read does.
    pub fn read_latest(&self) -> Option<Event> {
        let inbox = &self.seam.inbox;
        let c = &self.seam.counters;
        // The newest message so far; anything newer replaces (discards) it.
        let mut newest: Option<Message> = None;
        let discard = |older: Option<Message>| c.add(&c.discarded, older.map_or(0, |_| 1));
        // The socket holds newer messages than the buffer, so it is read too
        // (on this thread). A worker busy with a flood hands over within a
        // batch; a few rounds at most.
        for _ in 0..8 {
            let buffered = if inbox.has_events() {
                inbox.pop_latest_lane()
            } else {
                None
            };
            match buffered {
                Some((e, true)) => {
                    // The high-priority lane is never discarded.
                    if let Some(m) = newest {
                        inbox.push_front(m);
                    }
                    return Some(e);
                }
                Some((Event::Disconnected(d), false)) => {
                    discard(newest);
                    return Some(Event::Disconnected(d));
                }
                Some((Event::Message(m), false)) => discard(newest.replace(m)),
                None => {}
            }
            match self.driver.read_latest_direct() {
                Direct::Message(m) => {
                    discard(newest);
                    return Some(Event::Message(m));
                }
                Direct::Buffered => continue,
                Direct::Nothing => break,
            }
        }
        newest.map(Event::Message)
    }

    /// The FMZ numeric convention in one place: `0` blocks ([`read`](Conn::read)),
    /// `ms > 0` waits that many milliseconds ([`read_timeout`](Conn::read_timeout)),
    /// `-1` returns at once ([`try_read`](Conn::try_read)), and `-2` or below
    /// returns the newest ([`read_latest`](Conn::read_latest)).
    pub fn read_ms(&self, ms: i64) -> Option<Event> {
        match ms {
            0 => Some(self.read()),
            -1 => self.try_read(),
            ms if ms <= -2 => self.read_latest(),
            ms => self.read_timeout(Duration::from_millis(ms as u64)),
        }
    }

    /// Sends `text` as one text message. Returns its length in bytes once it is
    /// handed to the connection, or 0 when there is no live connection (lost,
    /// reconnecting, closed). Never waits for inbound traffic.
    pub fn write(&self, text: &str) -> usize {
        self.driver.send(Outgoing::Text(text.to_owned()))
    }

    /// Sends `data` as one binary message; like [`write`](Conn::write).
    pub fn write_binary(&self, data: &[u8]) -> usize {
        self.driver.send(Outgoing::Binary(data.to_vec()))
    }

    /// Sends `text` now, as [`write`](Conn::write) does, and again on every
    /// later connection (after a reconnect or a rotation), after the
    /// `payload`s and the `on_connect` messages, in the order subscribed. A
    /// text already subscribed keeps its place and is sent again now.
    ///
    /// Returns its length when it is sent now (or goes out with the greeting
    /// of a connection that just came up), 0 when there is no connection now
    /// or the send queue is full: it is still recorded, and the next
    /// connection sends it.
    ///
    /// ```no_run
    /// let conn = wsdial::dial("wss://ws.okx.com:8443/ws/v5/public|reconnect=true")?;
    /// conn.subscribe(r#"{"op":"subscribe","args":[{"channel":"tickers","instId":"ETH-USDT"}]}"#);
    /// # Ok::<(), wsdial::Error>(())
    /// ```
    pub fn subscribe(&self, text: &str) -> usize {
        self.seam
            .subscribe(text, || self.driver.send(Outgoing::Text(text.to_owned())))
    }

    /// Stops sending `text` on later connections; false if it was not
    /// subscribed. Sends nothing by itself: write your exchange's
    /// unsubscribe message with [`write`](Conn::write).
    pub fn unsubscribe(&self, text: &str) -> bool {
        self.seam.unsubscribe(text)
    }

    /// What [`subscribe`](Conn::subscribe) recorded, in order.
    pub fn subscriptions(&self) -> Vec<String> {
        self.seam.subscriptions.list()
    }

    /// Runs one SQL statement on a database connection (`sqlite3://`,
    /// `postgres://`, `mysql://`, `clickhouse://`) and returns its columns and
    /// rows (or the rows it affected). Statements from several threads are
    /// run one at a time, each bounded by `timeout=` (its wait for the ones
    /// before it included). A statement that finishes right at its deadline
    /// may still be reported as timed out (`is_timeout()`) although it ran
    /// and its changes were kept: check before running again a statement that
    /// must not run twice. On any other connection: `ErrorKind::Unsupported`.
    pub fn exec(&self, sql: &str) -> Result<crate::db::Rows, crate::Error> {
        self.driver.exec(sql, &[])
    }

    /// [`exec`](Conn::exec) with `params` bound to the statement's
    /// placeholders (`?` for SQLite, MySQL and ClickHouse, `$1` … for
    /// PostgreSQL), so values are never spliced into the SQL.
    pub fn exec_with(
        &self,
        sql: &str,
        params: &[crate::db::Value],
    ) -> Result<crate::db::Rows, crate::Error> {
        self.driver.exec(sql, params)
    }

    /// Runs one statement once per parameter row of `rows`, in order, and
    /// returns the rows affected in total (the sum of what
    /// [`exec_with`](Conn::exec_with) reports as `affected` for each row;
    /// ClickHouse reports none, so 0 there): `exec_with` for a batch. The session is held once for the whole batch (no
    /// statement from another thread runs between its rows) and `timeout=`
    /// bounds the whole batch (its wait for the statements before it
    /// included), not each row. SQLite prepares the statement once and runs
    /// it per row; PostgreSQL and MySQL run it as `exec_with` would, row
    /// after row. ClickHouse, which wants few large inserts (each INSERT is
    /// a part on disk), runs an `INSERT … VALUES (…)` of one tuple as one
    /// INSERT of every row, all or nothing: a row with the wrong number of
    /// values is named before anything is sent, and a value the server
    /// refuses fails the whole batch (an INSERT of up to ClickHouse's
    /// `max_insert_block_size`, 1,048,576 rows, is written as one block);
    /// its other statements run row after row.
    ///
    /// No implicit transaction: each row's changes are kept as it runs,
    /// unless the caller wrapped the batch in `BEGIN` … `COMMIT` (then a
    /// failed batch is undone by a `ROLLBACK`). The batch stops at the first
    /// row that fails; its error keeps that row's kind (`Constraint`,
    /// `Syntax`, a timeout …) and says the row's index (0-based), that the
    /// rows before it ran, and how many rows they affected. Running out of
    /// `timeout=` between rows or inside one is a timeout
    /// ([`is_timeout`](crate::Error::is_timeout)) saying the same. A
    /// statement that returns rows (a `SELECT`, an `INSERT … RETURNING`) is
    /// run for each row; its rows are discarded and add nothing to the total.
    /// Empty `rows`: `Ok(0)` without touching the database. On any other
    /// connection: `ErrorKind::Unsupported`.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")] {
    /// use wsdial::db::Value;
    /// let conn = wsdial::dial("sqlite3://:memory:")?;
    /// conn.exec("CREATE TABLE ticks (sym TEXT, px REAL)")?;
    /// let rows = vec![
    ///     vec![Value::Text("BTC".into()), Value::Float(97000.5)],
    ///     vec![Value::Text("ETH".into()), Value::Float(3100.25)],
    /// ];
    /// conn.exec("BEGIN")?;
    /// assert_eq!(conn.exec_many("INSERT INTO ticks VALUES (?, ?)", &rows)?, 2);
    /// conn.exec("COMMIT")?;
    /// # }
    /// # Ok::<(), wsdial::Error>(())
    /// ```
    pub fn exec_many<R: AsRef<[crate::db::Value]>>(
        &self,
        sql: &str,
        rows: &[R],
    ) -> Result<u64, crate::Error> {
        let rows: Vec<&[crate::db::Value]> = rows.iter().map(AsRef::as_ref).collect();
        self.driver.exec_many(sql, &rows)
    }

    /// A handle to this database connection's session, which
    /// [`dial`](crate::dial) accepts (`handle.to_string()`, `handle://N`) from
    /// any thread to get another `Conn` on the same session, even after this
    /// one is closed: taking it keeps the session open until
    /// [`Handle::release`](crate::db::Handle::release) (see
    /// [`Handle`](crate::db::Handle)). `None` for a connection that is not a
    /// database, and once this one is closed.
    pub fn fd(&self) -> Option<crate::db::Handle> {
        self.driver.handle()
    }

    /// True while a connection is up (false while lost, reconnecting, or closed).
    pub fn is_connected(&self) -> bool {
        self.seam.is_connected()
    }

    /// The subprotocol the server agreed to (`protocol=` option), if any.
    pub fn protocol(&self) -> Option<String> {
        self.seam.protocol()
    }

    /// The extensions the server agreed to on the latest connection, as its
    /// `Sec-WebSocket-Extensions` header said (every line joined with `, `),
    /// if it sent one: with `enableCompression=true`, `permessage-deflate`
    /// and its parameters when compression is on.
    pub fn extensions(&self) -> Option<String> {
        self.seam.extensions()
    }

    /// The URL this connection dials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The connection's counters.
    pub fn stats(&self) -> Stats {
        self.seam.stats()
    }

    /// Sends a close frame, stops reconnecting, wakes blocked readers (they get
    /// `Event::Disconnected`), and ends the background thread, waiting for it a
    /// bounded time (about a second for the peer's close answer). Messages still
    /// in the buffer can be read afterwards. Idempotent; dropping does the same.
    ///
    /// On a database connection: no more statements through this `Conn`; the
    /// database connection itself closes with the last `Conn` on its session,
    /// unless a [`Handle`](crate::db::Handle) to it is held.
    pub fn close(&self) {
        if self.seam.close() {
            self.driver.close();
        }
        self.driver.join(CLOSE_LINGER + Duration::from_millis(500));
    }

    /// True when a read would return at once (used by `select`).
    pub(crate) fn is_ready(&self) -> bool {
        self.seam.inbox.is_ready()
    }

    /// Makes `signal` raised by whatever arrives next (until `unwatch`). A
    /// program thread that was reading the source itself gives it back to the
    /// driver first, so arrivals go through the inbox and raise it.
    pub(crate) fn watch(&self, signal: &Arc<Signal>) {
        self.driver.release_direct();
        self.seam.inbox.watch(signal);
    }

    /// Stops raising `signal`.
    pub(crate) fn unwatch(&self, signal: &Arc<Signal>) {
        self.seam.inbox.unwatch(signal);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A password in the URL is shown as `***` (a handle's URL has none).
        let url =
            crate::Target::parse(&self.url).map_or_else(|_| self.url.clone(), |t| t.masked_url());
        f.debug_struct("Conn")
            .field("url", &url)
            .field("connected", &self.is_connected())
            .finish()
    }
}
