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
//! | `since` | the driver, when a connection is up ([`Seam::up`]) | [`Seam::stats`] |
//! | `protocol` | the driver, at each connect | `Conn::protocol` |
//!
//! No program code (a hook) runs under the inbox's lock or the outbox's: a
//! driver calls hooks before it hands messages to the seam.

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
    state: AtomicU8,
    /// When the current connection came up (`clock::mono_now`).
    since: AtomicU64,
    protocol: Mutex<Option<String>>,
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
            state: AtomicU8::new(State::Connected as u8),
            since: AtomicU64::new(clock::mono_now()),
            protocol: Mutex::new(protocol),
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

    /// The connection is down for now (before `lost` says more).
    pub(crate) fn down(&self) {
        self.leave(State::Connected, State::Reconnecting);
    }

    /// A new connection is up (after its greeting); false if closed meanwhile.
    pub(crate) fn up(&self) -> bool {
        let up = self.leave(State::Reconnecting, State::Connected) || self.is_connected();
        if up {
            self.since.store(clock::mono_now(), Ordering::Relaxed);
        }
        up
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

/// What the program wrote and the driver has not taken yet, with a lock-free
/// look at whether it is empty; bounded in bytes (`sendq`) together with what
/// the driver took and has not written to the socket yet.
pub(crate) struct Outbox {
    queue: Mutex<VecDeque<Outgoing>>,
    len: AtomicUsize,
    /// Bytes in `queue` (changed under its lock).
    bytes: AtomicUsize,
    /// Bytes the driver holds unwritten (its link's buffer), as it last said.
    in_link: AtomicUsize,
    limit: usize,
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
}

impl Outbox {
    pub(crate) fn new(limit: usize) -> Outbox {
        Outbox {
            queue: Mutex::new(VecDeque::new()),
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
        if !self.fits(m.len()) {
            return Pushed::Full;
        }
        self.bytes.fetch_add(m.len(), Ordering::Relaxed);
        q.push_back(m);
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
        let o = Outbox::new(1000);
        assert!(o.is_empty());
        assert_eq!(o.push(Outgoing::Text("a".into())), Pushed::First);
        assert_eq!(o.push(Outgoing::Binary(vec![1])), Pushed::More);
        assert!(!o.is_empty());
        assert_eq!(o.take().len(), 2);
        assert!(o.is_empty());
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
    fn round_trip_is_smoothed() {
        let s = Seam::new(1, 1, None);
        s.counters.pong(Duration::from_millis(8));
        s.counters.pong(Duration::from_millis(16));
        let st = s.stats();
        assert_eq!(st.rtt, Some(Duration::from_millis(16)));
        assert_eq!(st.rtt_smoothed, Some(Duration::from_millis(9)));
    }
}
