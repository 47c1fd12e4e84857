//! The seam every scheme plugs into: what a connection is, whatever drives it.
//!
//! A connection is an inbox (the drop-oldest buffer with its disconnect
//! markers), an outbox (what the program wrote and the driver has not sent
//! yet), one set of counters and a state, all in a [`Seam`]; and a [`Driver`]
//! that fills the first and drains the second. [`Conn`](crate::Conn) is written
//! against this module only: it does not know whether a mio worker, a broker
//! client's thread or a database handle sits behind it. The calls run one way:
//! `dialer -> conn -> driver`, and a driver knows the seam and its own protocol.
//!
//! ## Who may touch what
//!
//! | part | written by | read by |
//! |---|---|---|
//! | `inbox` | the driver ([`Seam::deliver`], [`Seam::lost`]); `Conn::close` (its terminal disconnect) | `Conn`'s reads, `select` |
//! | `outbox` | `Conn::write`, through [`Driver::send`] | the driver |
//! | `counters` | the received ones: whoever reads the connection's source, one thread at a time; the rest: anyone, adding | [`Seam::stats`] |
//! | `state` | the driver (up, reconnecting, lost); `Conn::close` (closed) | anyone |
//! | `protocol`, `extensions` | the driver, at each connect | `Conn::protocol`, `Conn::extensions` |
//!
//! No program code (a hook) runs under the inbox's lock or the outbox's: a
//! driver calls hooks before it hands messages to the seam.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::conn::Stats;
use crate::inbox::{Inbox, Wait};
use crate::message::{Cause, Disconnect, Message};

/// A message queued by the program.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Text(String),
    Binary(Vec<u8>),
}

impl Outgoing {
    pub(crate) fn len(&self) -> usize {
        match self {
            Outgoing::Text(s) => s.len(),
            Outgoing::Binary(b) => b.len(),
        }
    }
}

/// What a read on the program's thread found (see [`Driver::read_direct`]).
pub(crate) enum Direct {
    /// A message, read from the source on the caller's thread.
    Message(Message),
    /// The inbox has events: take them first.
    Buffered,
    /// Nothing to read now: wait on the inbox, which the driver fills.
    Nothing,
}

/// What fills a connection's inbox and drains its outbox.
pub(crate) trait Driver: Send + Sync {
    /// Reads the next message on the caller's thread when the inbox is empty,
    /// waiting as `wait` allows; a driver that cannot (the default) says
    /// `Nothing`, and the caller waits on the inbox.
    fn read_direct(&self, _wait: Wait) -> Direct {
        Direct::Nothing
    }
    /// Reads what the source has on the caller's thread and returns the newest
    /// message; the older ones are counted as discarded.
    fn read_latest_direct(&self) -> Direct {
        Direct::Nothing
    }
    /// Gives reading back to the driver's own thread at once, so that what
    /// arrives next wakes the inbox's watchers (before `select` waits on them).
    fn release_direct(&self) {}
    /// Runs one database statement; only a database driver has them.
    fn exec(
        &self,
        _sql: &str,
        _params: &[crate::db::Value],
    ) -> Result<crate::db::Rows, crate::error::Error> {
        Err(crate::error::Error::new(
            crate::error::ErrorKind::Unsupported,
            "exec runs SQL on a database connection (sqlite3://, postgres://, mysql://, clickhouse://); this connection is not one",
        ))
    }
    /// A handle to this connection's database session ([`Conn::fd`](crate::Conn::fd));
    /// only a database driver has one.
    fn handle(&self) -> Option<crate::db::Handle> {
        None
    }
    /// Hands a message to the connection: its length, or 0 when it is not up.
    fn send(&self, m: Outgoing) -> usize;
    /// Asks the driver to stop (the seam is already marked closed) and wakes
    /// whatever of its own it has waiting.
    fn close(&self);
    /// Waits until the driver's thread has ended, at most `timeout`.
    fn join(&self, timeout: Duration);
}

/// One connection's counters, all since it was dialed. Read through [`Seam::stats`].
#[derive(Default)]
pub(crate) struct Counters {
    /// Written only by whoever reads the connection's source (one thread at a
    /// time: a load and a store, no read-modify-write on the hot path).
    pub(crate) received: AtomicU64,
    pub(crate) received_bytes: AtomicU64,
    pub(crate) undecoded: AtomicU64,
    /// Added to by anyone.
    pub(crate) dropped: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) unsent: AtomicU64,
}

impl Counters {
    /// Counts a message that arrived. Only the thread that reads the source
    /// calls this (see the field docs).
    #[inline]
    pub(crate) fn received(&self, m: &Message) {
        let bump =
            |a: &AtomicU64, n: u64| a.store(a.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        bump(&self.received, 1);
        bump(&self.received_bytes, m.len() as u64);
        if m.decode_error().is_some() {
            bump(&self.undecoded, 1);
        }
    }

    /// Adds `n` to one of the shared counters.
    pub(crate) fn add(&self, counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    /// Up: writes are accepted.
    Connected = 0,
    /// Lost; the driver is dialing again (or greeting a new connection).
    Reconnecting = 1,
    /// Lost for good: no reconnect, or it gave up.
    Lost = 2,
    /// Closed by the program.
    Closed = 3,
}

/// What a driver and the program share about one connection.
pub(crate) struct Seam {
    pub(crate) inbox: Inbox,
    pub(crate) outbox: Outbox,
    pub(crate) counters: Arc<Counters>,
    state: AtomicU8,
    protocol: Mutex<Option<String>>,
    extensions: Mutex<Option<String>>,
}

impl Seam {
    /// A seam for a connection that is up, with a buffer of this capacity.
    pub(crate) fn new(qsize: usize, qbytes: usize, protocol: Option<String>) -> Seam {
        let counters = Arc::new(Counters::default());
        Seam {
            inbox: Inbox::new(qsize, qbytes, counters.clone()),
            outbox: Outbox::default(),
            counters,
            state: AtomicU8::new(State::Connected as u8),
            protocol: Mutex::new(protocol),
            extensions: Mutex::new(None),
        }
    }

    /// Hands messages that arrived to the inbox, counted; those marked `true`
    /// go to the high-priority lane. Called by the thread that reads the source.
    pub(crate) fn deliver(&self, batch: &mut Vec<(Message, bool)>) {
        for (m, _) in batch.iter() {
            self.counters.received(m);
        }
        self.inbox.push_all(batch);
    }

    /// Records a lost connection: a marker when another may follow, else the
    /// terminal disconnect (the state becomes `Lost`, unless closed).
    pub(crate) fn lost(&self, d: Disconnect, terminal: bool) {
        let next = if terminal {
            State::Lost
        } else {
            State::Reconnecting
        };
        self.leave(State::Connected, next);
        self.leave(State::Reconnecting, next);
        self.inbox.lost(d, terminal);
    }

    /// A reconnect attempt was refused ([`Cause::Refused`]): a marker for
    /// the program, which replaces a refusal it has not read yet.
    pub(crate) fn refused(&self, d: Disconnect) {
        self.inbox
            .lost_merged(d, |prev| prev.cause() == Cause::Refused);
    }

    /// The connection is down for now (before `lost` says more).
    pub(crate) fn down(&self) {
        self.leave(State::Connected, State::Reconnecting);
    }

    /// A new connection is up (after its greeting); false if closed meanwhile.
    pub(crate) fn up(&self) -> bool {
        self.leave(State::Reconnecting, State::Connected) || self.state() == State::Connected
    }

    /// Marks the connection closed by the program and wakes blocked readers;
    /// false if it already was.
    pub(crate) fn close(&self) -> bool {
        if self.state.swap(State::Closed as u8, Ordering::AcqRel) == State::Closed as u8 {
            return false;
        }
        self.inbox.lost(
            Disconnect::new(Cause::ClosedByUser, "closed by the program"),
            true,
        );
        true
    }

    fn leave(&self, from: State, to: State) -> bool {
        self.state
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn state(&self) -> State {
        match self.state.load(Ordering::Acquire) {
            0 => State::Connected,
            1 => State::Reconnecting,
            2 => State::Lost,
            _ => State::Closed,
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.state() == State::Connected
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state() == State::Closed
    }

    pub(crate) fn protocol(&self) -> Option<String> {
        self.protocol.lock().clone()
    }

    pub(crate) fn set_protocol(&self, p: Option<&str>) {
        *self.protocol.lock() = p.map(str::to_owned);
    }

    pub(crate) fn extensions(&self) -> Option<String> {
        self.extensions.lock().clone()
    }

    pub(crate) fn set_extensions(&self, e: Option<&str>) {
        *self.extensions.lock() = e.map(str::to_owned);
    }

    /// The counters, and what the buffer holds now: the one place `Stats` is made.
    pub(crate) fn stats(&self) -> Stats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let c = &*self.counters;
        let (queued, queued_bytes) = self.inbox.queued();
        Stats {
            received: get(&c.received),
            received_bytes: get(&c.received_bytes),
            dropped: get(&c.dropped),
            discarded: get(&c.discarded),
            undecoded: get(&c.undecoded),
            reconnects: get(&c.reconnects),
            sent: get(&c.sent),
            unsent: get(&c.unsent),
            queued,
            queued_bytes,
        }
    }
}

/// What the program wrote and the driver has not taken yet, with a lock-free
/// look at whether it is empty.
#[derive(Default)]
pub(crate) struct Outbox {
    queue: Mutex<VecDeque<Outgoing>>,
    len: AtomicUsize,
}

impl Outbox {
    /// Queues a message; true if the outbox was empty (the driver needs a wake-up).
    pub(crate) fn push(&self, m: Outgoing) -> bool {
        let mut q = self.queue.lock();
        q.push_back(m);
        self.len.fetch_add(1, Ordering::Release) == 0
    }

    /// Takes everything queued, oldest first.
    pub(crate) fn take(&self) -> VecDeque<Outgoing> {
        let mut q = self.queue.lock();
        self.len.store(0, Ordering::Release);
        std::mem::take(&mut *q)
    }

    /// True when nothing is queued (no lock).
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changes() {
        let s = Seam::new(10, 1000, None);
        assert!(s.is_connected());
        s.lost(Disconnect::new(Cause::Eof, "eof"), false);
        assert_eq!(s.state(), State::Reconnecting);
        assert!(s.up());
        s.lost(Disconnect::new(Cause::Eof, "eof"), true);
        assert_eq!(s.state(), State::Lost);
        assert!(!s.up());
        assert!(s.close());
        assert!(!s.close());
        s.lost(Disconnect::new(Cause::Eof, "eof"), false);
        assert!(s.is_closed(), "a loss after close leaves it closed");
        assert!(!s.up());
    }

    #[test]
    fn stats_count_in_one_place() {
        let s = Seam::new(2, 1000, None);
        let mut batch = vec![
            (Message::text("a"), false),
            (Message::text("bb"), false),
            (Message::text("ccc"), false),
        ];
        s.deliver(&mut batch);
        let st = s.stats();
        assert_eq!(
            (
                st.received,
                st.received_bytes,
                st.dropped,
                st.queued,
                st.queued_bytes
            ),
            (3, 6, 1, 2, 5)
        );
        assert!(s.inbox.pop_latest_lane().is_some());
        assert_eq!(s.stats().discarded, 1);
    }

    #[test]
    fn outbox_says_when_it_was_empty() {
        let o = Outbox::default();
        assert!(o.is_empty());
        assert!(o.push(Outgoing::Text("a".into())));
        assert!(!o.push(Outgoing::Binary(vec![1])));
        assert!(!o.is_empty());
        assert_eq!(o.take().len(), 2);
        assert!(o.is_empty());
    }
}
