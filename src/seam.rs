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
//! | `counters` | the received ones (and the round trip): whoever reads the connection's source, one thread at a time; the rest: anyone, adding | [`Seam::stats`] |
//! | `state` | the driver (up, reconnecting, lost); `Conn::close` (closed) | anyone |
//! | `since` | the driver, when a connection is up ([`Seam::up`], [`Seam::rotated`]) | [`Seam::stats`] |
//! | `protocol`, `extensions` | the driver, at each connect | `Conn::protocol`, `Conn::extensions` |
//! | `subscriptions` | `Conn::subscribe`/`unsubscribe` ([`Seam::subscribe`], [`Seam::unsubscribe`]); the driver marks a greeting | the driver, at each connect |
//!
//! No program code (a hook) runs under the inbox's lock, the outbox's or the
//! subscriptions': a driver calls hooks before it hands messages to the seam.
//!
//! ## Subscriptions
//!
//! What `Conn::subscribe` records is sent on every connection after the
//! payloads, in the order subscribed, by the driver: at each connect it marks
//! the seam up, then greets the connection ([`Subscriptions::snapshot`], then
//! [`Subscriptions::catch_up`] under the lock, which ends the greeting). While
//! a greeting runs, `subscribe` leaves a new subscription to it instead of
//! sending it too; otherwise it sends it at once, as a write, under the same
//! lock, so every connection gets each subscription exactly once: a write
//! that found the connection up but reaches the outbox after the driver
//! marked it down is refused ([`Seam::down`] shuts the outbox until the next
//! [`Seam::up`]), so it cannot wait there for the next connection, whose
//! greeting carries the subscription already. A driver
//! that prepares a second connection beside the current one (a rotation)
//! snapshots without marking a greeting, and catches up at the switch; an
//! unsubscribe meanwhile makes that connection stale ([`Subscriptions::catch_up`]
//! says so), since it may carry a subscription the program dropped.
//!
//! Lock order: the driver may take the subscriptions' lock while it holds its
//! own connection (the socket driver's slot); `subscribe` holds it while it
//! writes, and a write never waits for the slot (it queues instead).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock;
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
    /// Runs one database statement once per parameter row; only a database
    /// driver has them.
    fn exec_many(
        &self,
        _sql: &str,
        _rows: &[&[crate::db::Value]],
    ) -> Result<u64, crate::error::Error> {
        Err(crate::error::Error::new(
            crate::error::ErrorKind::Unsupported,
            "exec_many runs SQL on a database connection (sqlite3://, postgres://, mysql://, clickhouse://); this connection is not one",
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
    /// When the newest message was read from the source (`clock::mono_now`; 0 = none).
    pub(crate) last_rx: AtomicU64,
    /// The round trip of the last protocol Ping, and its smoothed value (ns; 0 = none).
    pub(crate) rtt: AtomicU64,
    pub(crate) rtt_smoothed: AtomicU64,
    /// Added to by anyone.
    pub(crate) dropped: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) rotations: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) unsent: AtomicU64,
    pub(crate) rejected: AtomicU64,
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
        self.last_rx.store(m.stamp().mono, Ordering::Relaxed);
        if m.decode_error().is_some() {
            bump(&self.undecoded, 1);
        }
    }

    /// Notes a protocol Ping's round trip: the last, and the smoothed value
    /// (7/8 of the old plus 1/8 of the new, as TCP's SRTT). Only the thread
    /// that reads the source calls this.
    pub(crate) fn pong(&self, rtt: Duration) {
        let ns = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX).max(1);
        let old = self.rtt_smoothed.load(Ordering::Relaxed);
        let smoothed = if old == 0 { ns } else { old - old / 8 + ns / 8 };
        self.rtt.store(ns, Ordering::Relaxed);
        self.rtt_smoothed.store(smoothed.max(1), Ordering::Relaxed);
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
    pub(crate) subscriptions: Subscriptions,
    state: AtomicU8,
    /// When the current connection came up (`clock::mono_now`).
    since: AtomicU64,
    protocol: Mutex<Option<String>>,
    extensions: Mutex<Option<String>>,
}

impl Seam {
    /// A seam for a connection that is up, with a buffer of this capacity and
    /// the default send queue (see [`Seam::with_send_limit`]).
    pub(crate) fn new(qsize: usize, qbytes: usize, protocol: Option<String>) -> Seam {
        let counters = Arc::new(Counters::default());
        Seam {
            inbox: Inbox::new(qsize, qbytes, counters.clone()),
            outbox: Outbox::new(crate::options::DEFAULT_SENDQ),
            counters,
            subscriptions: Subscriptions::default(),
            state: AtomicU8::new(State::Connected as u8),
            since: AtomicU64::new(clock::mono_now()),
            protocol: Mutex::new(protocol),
            extensions: Mutex::new(None),
        }
    }

    /// The send queue holds at most `limit` bytes (`sendq`).
    pub(crate) fn with_send_limit(mut self, limit: usize) -> Seam {
        self.outbox = Outbox::new(limit);
        self
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

    /// The connection is down for now (before `lost` says more). The outbox
    /// takes no more writes until the next [`Seam::up`]: a write that found
    /// the connection up either lands before this, and the driver takes it
    /// with the rest (counted unsent), or is refused (it returns 0). None
    /// waits to go out on the next connection, whose greeting may already
    /// carry it (a subscription).
    pub(crate) fn down(&self) {
        self.leave(State::Connected, State::Reconnecting);
        self.outbox.shut();
    }

    /// A new connection is up (before its greeting: writes made meanwhile
    /// queue behind it); false if closed meanwhile. Its greeting begins: see
    /// [`Subscriptions`].
    pub(crate) fn up(&self) -> bool {
        self.subscriptions.0.lock().greeting = true;
        self.outbox.open();
        let up = self.leave(State::Reconnecting, State::Connected) || self.is_connected();
        if up {
            self.since.store(clock::mono_now(), Ordering::Relaxed);
        }
        up
    }

    /// The connection was replaced by a new one without a gap (a rotation).
    pub(crate) fn rotated(&self) {
        self.since.store(clock::mono_now(), Ordering::Relaxed);
        self.counters.add(&self.counters.rotations, 1);
    }

    /// `Conn::subscribe`: records `text` (once) to be sent on every later
    /// connection, and sends it now with `send` (a write), unless the current
    /// connection's greeting is still to send it. The length when it is sent
    /// or about to be, 0 when there is no connection now.
    pub(crate) fn subscribe(&self, text: &str, send: impl FnOnce() -> usize) -> usize {
        let mut st = self.subscriptions.0.lock();
        if !st.list.iter().any(|(_, t)| t == text) {
            let n = st.next;
            st.next += 1;
            st.list.push((n, text.to_owned()));
        }
        if st.greeting {
            return if self.is_connected() { text.len() } else { 0 };
        }
        send()
    }

    /// `Conn::unsubscribe`: stops sending `text` on later connections; false
    /// if it was not subscribed.
    pub(crate) fn unsubscribe(&self, text: &str) -> bool {
        let mut st = self.subscriptions.0.lock();
        let before = st.list.len();
        st.list.retain(|(_, t)| t != text);
        let gone = st.list.len() < before;
        if gone {
            st.removed += 1;
        }
        gone
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
        let time = |ns: u64| (ns > 0).then(|| clock::instant(ns));
        let span = |ns: u64| (ns > 0).then(|| Duration::from_nanos(ns));
        Stats {
            received: get(&c.received),
            received_bytes: get(&c.received_bytes),
            dropped: get(&c.dropped),
            discarded: get(&c.discarded),
            undecoded: get(&c.undecoded),
            reconnects: get(&c.reconnects),
            rotations: get(&c.rotations),
            sent: get(&c.sent),
            unsent: get(&c.unsent),
            rejected: get(&c.rejected),
            queued,
            queued_bytes,
            send_queued_bytes: self.outbox.bytes(),
            last_message: time(get(&c.last_rx)),
            connected_since: if self.is_connected() {
                time(get(&self.since))
            } else {
                None
            },
            rtt: span(get(&c.rtt)),
            rtt_smoothed: span(get(&c.rtt_smoothed)),
        }
    }
}

/// The subscriptions of a connection (`Conn::subscribe`), and whether the
/// current connection's greeting has sent them yet; see the module docs.
pub(crate) struct Subscriptions(Mutex<SubState>);

struct SubState {
    /// Each with its number, in the order subscribed.
    list: Vec<(u64, String)>,
    next: u64,
    /// Unsubscribes so far.
    removed: u64,
    /// The current connection's greeting is still to send them.
    greeting: bool,
}

impl Default for Subscriptions {
    /// The first connection's greeting is still to come.
    fn default() -> Subscriptions {
        Subscriptions(Mutex::new(SubState {
            list: Vec::new(),
            next: 0,
            removed: 0,
            greeting: true,
        }))
    }
}

/// How far a connection got through the subscriptions: every one numbered
/// below `upto` was sent on it, and `removed` unsubscribes had been made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubMark {
    upto: u64,
    removed: u64,
}

impl Subscriptions {
    /// The subscriptions to send on a new connection, in order, and the mark
    /// to catch up from.
    pub(crate) fn snapshot(&self) -> (Vec<String>, SubMark) {
        let st = self.0.lock();
        let list = st.list.iter().map(|(_, t)| t.clone()).collect();
        let mark = SubMark {
            upto: st.next,
            removed: st.removed,
        };
        (list, mark)
    }

    /// What was subscribed since `mark`, in order, and the mark past them (a
    /// paced greeting sends them before it catches up; `mark`'s unsubscribe
    /// count is kept).
    pub(crate) fn since(&self, mark: SubMark) -> (Vec<String>, SubMark) {
        let st = self.0.lock();
        let list = st
            .list
            .iter()
            .filter(|(n, _)| *n >= mark.upto)
            .map(|(_, t)| t.clone())
            .collect();
        let mark = SubMark {
            upto: st.next,
            removed: mark.removed,
        };
        (list, mark)
    }

    /// Under the lock: runs `first`, then sends what was subscribed since
    /// `mark`; for the current connection's greeting (`ends_greeting`), ends
    /// it. False when an unsubscribe came since `mark`: the connection may
    /// carry a subscription the program has dropped (its own unsubscribe
    /// message went elsewhere). A rotation's switch hands the old connection
    /// the program's queued writes in `first`, so a subscription written
    /// before the catch-up goes there, not to the new connection a second time.
    pub(crate) fn catch_up<E>(
        &self,
        mark: SubMark,
        ends_greeting: bool,
        first: impl FnOnce(),
        mut send: impl FnMut(&str) -> Result<(), E>,
    ) -> Result<bool, E> {
        let mut st = self.0.lock();
        first();
        for (_, t) in st.list.iter().filter(|(n, _)| *n >= mark.upto) {
            send(t)?;
        }
        if ends_greeting {
            st.greeting = false;
        }
        Ok(st.removed == mark.removed)
    }

    /// What is subscribed now, in order.
    pub(crate) fn list(&self) -> Vec<String> {
        self.0.lock().list.iter().map(|(_, t)| t.clone()).collect()
    }
}

/// What the program wrote and the driver has not taken yet, with a lock-free
/// look at whether it is empty; bounded in bytes (`sendq`) together with what
/// the driver took and has not written to the socket yet.
pub(crate) struct Outbox {
    queue: Mutex<Queue>,
    len: AtomicUsize,
    /// Bytes in `queue` (changed under its lock).
    bytes: AtomicUsize,
    /// Bytes the driver holds unwritten (its link's buffer), as it last said.
    in_link: AtomicUsize,
    limit: usize,
}

struct Queue {
    items: VecDeque<Outgoing>,
    /// Between a loss and the next connection: writes are refused.
    shut: bool,
}

/// What [`Outbox::push`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued; the outbox was empty (the driver needs a wake-up).
    First,
    /// Queued behind others.
    More,
    /// Not queued: it does not fit in the limit.
    Full,
    /// Not queued: the connection went down ([`Seam::down`]).
    Shut,
}

impl Outbox {
    pub(crate) fn new(limit: usize) -> Outbox {
        Outbox {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                shut: false,
            }),
            len: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            in_link: AtomicUsize::new(0),
            limit,
        }
    }

    /// Whether `len` more bytes fit: everything pending plus `len` is within
    /// the limit, or nothing is pending (a message bigger than the whole
    /// limit goes alone).
    pub(crate) fn fits(&self, len: usize) -> bool {
        let pending = self.bytes();
        pending == 0 || pending.saturating_add(len) <= self.limit
    }

    /// Bytes pending: queued here, and unwritten in the driver's link.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed) + self.in_link.load(Ordering::Relaxed)
    }

    /// The driver says how many bytes its link holds unwritten.
    pub(crate) fn set_in_link(&self, n: usize) {
        self.in_link.store(n, Ordering::Relaxed);
    }

    /// Queues a message if it fits.
    pub(crate) fn push(&self, m: Outgoing) -> Pushed {
        let mut q = self.queue.lock();
        if q.shut {
            return Pushed::Shut;
        }
        if !self.fits(m.len()) {
            return Pushed::Full;
        }
        self.bytes.fetch_add(m.len(), Ordering::Relaxed);
        q.items.push_back(m);
        if self.len.fetch_add(1, Ordering::Release) == 0 {
            Pushed::First
        } else {
            Pushed::More
        }
    }

    /// Takes everything queued, oldest first. Its bytes count as the
    /// driver's until it says how many its link still holds.
    pub(crate) fn take(&self) -> VecDeque<Outgoing> {
        let mut q = self.queue.lock();
        self.len.store(0, Ordering::Release);
        let moved = self.bytes.swap(0, Ordering::Relaxed);
        self.in_link.fetch_add(moved, Ordering::Relaxed);
        std::mem::take(&mut q.items)
    }

    /// Refuses writes from now on (what is queued stays, for `take`).
    fn shut(&self) {
        self.queue.lock().shut = true;
    }

    /// Takes writes again.
    fn open(&self) {
        self.queue.lock().shut = false;
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
        let o = Outbox::new(1000);
        assert!(o.is_empty());
        assert_eq!(o.push(Outgoing::Text("a".into())), Pushed::First);
        assert_eq!(o.push(Outgoing::Binary(vec![1])), Pushed::More);
        assert!(!o.is_empty());
        assert_eq!(o.take().len(), 2);
        assert!(o.is_empty());
    }

    /// The race behind a subscription sent twice: `Conn::subscribe` finds
    /// the connection up, the driver then marks it down and takes the
    /// outbox, and only then does the write arrive. It must be refused, not
    /// left to go out on the next connection, whose greeting sends every
    /// subscription already.
    #[test]
    fn a_write_that_arrives_after_the_loss_waits_for_no_connection() {
        let s = Seam::new(10, 1000, None);
        let greeted = |s: &Seam| {
            let (_, mark) = s.subscriptions.snapshot();
            s.subscriptions
                .catch_up(mark, true, || {}, |_| Ok::<_, ()>(()))
                .unwrap();
        };
        greeted(&s);
        let mut pushed = None;
        let n = s.subscribe("sub", || {
            assert!(s.is_connected(), "the write finds the connection up");
            s.down();
            assert!(s.outbox.take().is_empty());
            pushed = Some(s.outbox.push(Outgoing::Text("sub".into())));
            0
        });
        assert_eq!((n, pushed), (0, Some(Pushed::Shut)));
        assert!(s.outbox.is_empty(), "nothing waits for the next connection");
        // Queued before the loss: taken with the rest (the driver counts it).
        assert!(s.up());
        assert_eq!(s.outbox.push(Outgoing::Text("a".into())), Pushed::First);
        s.down();
        assert_eq!(s.outbox.take().len(), 1);
        // The next connection takes writes again, and greets with "sub" once.
        assert!(s.up());
        assert_eq!(s.outbox.push(Outgoing::Text("b".into())), Pushed::First);
        assert_eq!(s.subscriptions.snapshot().0, ["sub"]);
    }

    #[test]
    fn outbox_is_bounded_in_bytes_with_the_link() {
        let o = Outbox::new(10);
        let text = |n: usize| Outgoing::Text("x".repeat(n));
        assert_eq!(o.push(text(6)), Pushed::First);
        assert_eq!(o.push(text(5)), Pushed::Full, "6 + 5 > 10");
        assert_eq!(o.push(text(4)), Pushed::More, "6 + 4 fits");
        assert_eq!(o.bytes(), 10);
        o.take();
        o.set_in_link(8);
        assert!(o.fits(2) && !o.fits(3), "the link's unwritten bytes count");
        o.set_in_link(0);
        assert_eq!(
            o.push(text(50)),
            Pushed::First,
            "a message bigger than the limit goes alone"
        );
        assert_eq!(o.push(text(1)), Pushed::Full);
    }

    #[test]
    fn subscriptions_are_sent_once_per_connection() {
        let s = Seam::new(10, 1000, None);
        let sent = std::cell::Cell::new(0);
        let send = || {
            sent.set(sent.get() + 1);
            1
        };
        // The first connection's greeting is still to come: left to it.
        assert_eq!(s.subscribe("a", send), 1);
        assert_eq!(sent.get(), 0);
        let (list, mark) = s.subscriptions.snapshot();
        assert_eq!(list, ["a"]);
        // Subscribed during the greeting: the catch-up sends it, once.
        assert_eq!(s.subscribe("b", send), 1);
        let mut caught = vec![];
        let exact = s.subscriptions.catch_up(
            mark,
            true,
            || {},
            |t| {
                caught.push(t.to_owned());
                Ok::<(), ()>(())
            },
        );
        assert_eq!((caught, exact), (vec!["b".to_owned()], Ok(true)));
        // After the greeting: sent at once, recorded once.
        assert_eq!(s.subscribe("a", send), 1);
        assert_eq!(sent.get(), 1);
        assert_eq!(s.subscriptions.list(), ["a", "b"]);
        // A second connection prepared beside this one goes stale on an unsubscribe.
        let (_, mark) = s.subscriptions.snapshot();
        assert!(s.unsubscribe("a"));
        assert!(!s.unsubscribe("a"));
        assert_eq!(
            s.subscriptions
                .catch_up(mark, false, || {}, |_| Ok::<(), ()>(())),
            Ok(false)
        );
        assert_eq!(s.subscriptions.list(), ["b"]);
        // Not connected: recorded, nothing sent now.
        s.lost(Disconnect::new(Cause::Eof, "eof"), false);
        assert!(s.stats().connected_since.is_none());
        assert_eq!(s.subscribe("c", || 0), 0);
        assert_eq!(s.subscriptions.list(), ["b", "c"]);
    }

    #[test]
    fn round_trip_is_smoothed() {
        let s = Seam::new(1, 1, None);
        s.counters.pong(Duration::from_millis(8));
        s.counters.pong(Duration::from_millis(16));
        let st = s.stats();
        assert_eq!(st.rtt, Some(Duration::from_millis(16)));
        assert_eq!(st.rtt_smoothed, Some(Duration::from_millis(9)));
    }
}
