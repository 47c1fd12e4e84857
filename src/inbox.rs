//! The receive buffer: bounded by messages and bytes, drop-oldest, drops counted.
//!
//! Items are messages and disconnect markers, so "the lost connection's last
//! messages, then its disconnect, then the new connection's messages" is a
//! property of the queue, not of timing. Markers are never dropped and do not
//! count against the capacity. A connection that will not come back sets the
//! `terminal` disconnect instead of a marker: once the queue is empty, every read
//! returns it.
//!
//! An optional high-priority lane (`Dialer::priority`) has its own capacity and is
//! drained first by every read, so a flood of ordinary messages can neither delay
//! nor evict it. Every item carries the number of the connection it came from, so
//! a priority message never jumps ahead of an earlier connection's disconnect.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::message::{Disconnect, Event, Message};
use crate::seam::Counters;

/// How long a pop may wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Until an event arrives.
    Forever,
    /// Until this instant.
    Until(Instant),
    /// Not at all.
    Never,
}

/// A wake-up shared by several inboxes (used by `select`).
#[derive(Default)]
pub(crate) struct Signal {
    ready: Mutex<bool>,
    cond: Condvar,
}

impl Signal {
    fn raise(&self) {
        *self.ready.lock() = true;
        self.cond.notify_all();
    }

    /// Waits until raised (then lowers it) or until the deadline; false on timeout.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut ready = self.ready.lock();
        while !*ready {
            match deadline {
                None => self.cond.wait(&mut ready),
                Some(d) => {
                    if self.cond.wait_until(&mut ready, d).timed_out() {
                        break;
                    }
                }
            }
        }
        std::mem::replace(&mut *ready, false)
    }
}

enum Item {
    Msg(Message, u64),
    Lost(Disconnect, u64),
}

impl Item {
    fn epoch(&self) -> u64 {
        match self {
            Item::Msg(_, e) | Item::Lost(_, e) => *e,
        }
    }
}

struct State {
    queue: VecDeque<Item>,
    /// Messages (not markers) in `queue`, and their bytes.
    messages: usize,
    bytes: usize,
    /// The high-priority lane: messages and the connection they came from.
    high: VecDeque<(Message, u64)>,
    high_bytes: usize,
    /// The current connection's number (bumped by every non-terminal loss).
    epoch: u64,
    terminal: Option<Disconnect>,
    watchers: Vec<Arc<Signal>>,
}

pub(crate) struct Inbox {
    state: Mutex<State>,
    /// The connection's counters: the inbox counts what it drops and discards.
    counters: Arc<Counters>,
    /// Whether a read would return at once, readable without the lock (kept in
    /// step with `state` under its lock).
    ready: AtomicBool,
    cond: Condvar,
    max_messages: usize,
    max_bytes: usize,
}

impl Inbox {
    pub(crate) fn new(max_messages: usize, max_bytes: usize, counters: Arc<Counters>) -> Inbox {
        Inbox {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(max_messages.min(1024)),
                messages: 0,
                bytes: 0,
                high: VecDeque::new(),
                high_bytes: 0,
                epoch: 0,
                terminal: None,
                watchers: Vec::new(),
            }),
            counters,
            ready: AtomicBool::new(false),
            cond: Condvar::new(),
            max_messages: max_messages.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    /// Appends messages, dropping the oldest messages to stay within capacity
    /// (counted); those marked `true` go to the high-priority lane. Whoever
    /// marks them does it before calling, so no program code runs under this
    /// lock, which every read takes.
    pub(crate) fn push_all(&self, batch: &mut Vec<(Message, bool)>) {
        if batch.is_empty() {
            return;
        }
        let mut dropped = 0u64;
        let mut st = self.state.lock();
        for (m, high) in batch.drain(..) {
            let len = m.len();
            if high {
                while !st.high.is_empty()
                    && (st.high.len() >= self.max_messages || st.high_bytes + len > self.max_bytes)
                {
                    if let Some((old, _)) = st.high.pop_front() {
                        st.high_bytes -= old.len();
                        dropped += 1;
                    }
                }
                st.high_bytes += len;
                let e = st.epoch;
                st.high.push_back((m, e));
                continue;
            }
            while st.messages > 0
                && (st.messages >= self.max_messages || st.bytes + len > self.max_bytes)
            {
                dropped += u64::from(st.drop_oldest());
            }
            st.messages += 1;
            st.bytes += len;
            let e = st.epoch;
            st.queue.push_back(Item::Msg(m, e));
        }
        self.wake(&st);
        drop(st);
        self.counters.add(&self.counters.dropped, dropped);
    }

    /// Puts back, at the head, a message `read_latest` took but did not return
    /// (a priority message came first); it is not counted again.
    pub(crate) fn push_front(&self, m: Message) {
        let mut st = self.state.lock();
        st.messages += 1;
        st.bytes += m.len();
        let e = st.epoch;
        st.queue.push_front(Item::Msg(m, e));
        self.wake(&st);
    }

    /// Records a lost connection: a marker if another connection may follow,
    /// else the terminal disconnect.
    pub(crate) fn lost(&self, d: Disconnect, terminal: bool) {
        let mut st = self.state.lock();
        if st.terminal.is_some() {
            return;
        }
        if terminal {
            st.terminal = Some(d);
        } else {
            let e = st.epoch;
            st.queue.push_back(Item::Lost(d, e));
            st.epoch += 1;
        }
        self.wake(&st);
    }

    /// A marker, as a non-terminal `lost`, except that it replaces the newest
    /// item when that is a marker for which `same` holds: a run of like
    /// markers that nobody has read yet takes the room of one.
    pub(crate) fn lost_merged(&self, d: Disconnect, same: impl Fn(&Disconnect) -> bool) {
        let mut st = self.state.lock();
        if st.terminal.is_some() {
            return;
        }
        match st.queue.back_mut() {
            Some(Item::Lost(prev, _)) if same(prev) => *prev = d,
            _ => {
                let e = st.epoch;
                st.queue.push_back(Item::Lost(d, e));
                st.epoch += 1;
            }
        }
        self.wake(&st);
    }

    fn wake(&self, st: &State) {
        self.ready.store(true, Ordering::Release);
        self.cond.notify_all();
        for w in &st.watchers {
            w.raise();
        }
    }

    /// The oldest event, waiting as told; `None` when the wait ran out.
    pub(crate) fn pop(&self, wait: Wait) -> Option<Event> {
        let mut st = self.state.lock();
        loop {
            if let Some(ev) = st.take_next() {
                self.ready.store(st.is_ready(), Ordering::Release);
                return Some(ev);
            }
            if let Some(t) = &st.terminal {
                return Some(Event::Disconnected(t.clone()));
            }
            match wait {
                Wait::Never => return None,
                Wait::Forever => self.cond.wait(&mut st),
                Wait::Until(d) => {
                    if self.cond.wait_until(&mut st, d).timed_out() {
                        // One last look: an event may have come with the timeout.
                        if !st.is_ready() {
                            return None;
                        }
                    }
                }
            }
        }
    }

    /// The oldest event if there is one, at once. An empty inbox costs one
    /// atomic load, not a lock: the hot path of a reader that keeps up.
    pub(crate) fn pop_now(&self) -> Option<Event> {
        if !self.has_events() {
            return None;
        }
        self.pop(Wait::Never)
    }

    /// The newest event, discarding every older one (discarded messages are
    /// counted). A disconnect marker among the older items is discarded too: a
    /// newer message proves the connection came back. If the newest item is a
    /// marker, it is returned. The high-priority lane is never discarded: while
    /// it holds messages, this returns its oldest, like every read.
    #[cfg(test)]
    pub(crate) fn pop_latest(&self) -> Option<Event> {
        self.pop_latest_lane().map(|(e, _)| e)
    }

    /// [`pop_latest`](Inbox::pop_latest), and whether the event came from the
    /// high-priority lane.
    pub(crate) fn pop_latest_lane(&self) -> Option<(Event, bool)> {
        let mut st = self.state.lock();
        if let Some((m, _)) = st.high.pop_front() {
            st.high_bytes -= m.len();
            self.ready.store(st.is_ready(), Ordering::Release);
            return Some((Event::Message(m), true));
        }
        match st.queue.pop_back() {
            Some(item) => {
                let older = st.messages - usize::from(matches!(item, Item::Msg(..)));
                self.counters.add(&self.counters.discarded, older as u64);
                st.queue.clear();
                let ev = match item {
                    Item::Msg(m, _) => Event::Message(m),
                    Item::Lost(d, _) => Event::Disconnected(d),
                };
                st.messages = 0;
                st.bytes = 0;
                self.ready.store(st.is_ready(), Ordering::Release);
                Some((ev, false))
            }
            None => st.terminal.clone().map(|d| (Event::Disconnected(d), false)),
        }
    }

    /// True when a read would return at once.
    pub(crate) fn is_ready(&self) -> bool {
        self.state.lock().is_ready()
    }

    /// Like [`is_ready`](Inbox::is_ready), without taking the lock. Exact for a
    /// thread that holds the connection's slot, since the worker only adds items
    /// while it holds the slot (a `close()` adds its terminal disconnect at any
    /// time, which a reader sees on its next pop).
    pub(crate) fn has_events(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub(crate) fn watch(&self, s: &Arc<Signal>) {
        self.state.lock().watchers.push(s.clone());
    }

    pub(crate) fn unwatch(&self, s: &Arc<Signal>) {
        self.state.lock().watchers.retain(|w| !Arc::ptr_eq(w, s));
    }

    /// Messages in the buffer now, and their bytes.
    pub(crate) fn queued(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.messages + st.high.len(), st.bytes + st.high_bytes)
    }
}

impl State {
    fn is_ready(&self) -> bool {
        !self.queue.is_empty() || !self.high.is_empty() || self.terminal.is_some()
    }

    /// The next event: the high lane first, unless an earlier connection's
    /// items (its disconnect above all) are still ahead in the normal lane.
    fn take_next(&mut self) -> Option<Event> {
        let high_first = match (self.high.front(), self.queue.front()) {
            (Some((_, eh)), Some(item)) => *eh <= item.epoch(),
            (Some(_), None) => true,
            _ => false,
        };
        if high_first {
            let (m, _) = self.high.pop_front()?;
            self.high_bytes -= m.len();
            return Some(Event::Message(m));
        }
        let item = self.queue.pop_front()?;
        Some(match item {
            Item::Msg(m, _) => {
                self.messages -= 1;
                self.bytes -= m.len();
                Event::Message(m)
            }
            Item::Lost(d, _) => Event::Disconnected(d),
        })
    }

    /// Drops the oldest message (markers stay); whether there was one.
    fn drop_oldest(&mut self) -> bool {
        let pos = self.queue.iter().position(|i| matches!(i, Item::Msg(..)));
        if let Some(Item::Msg(m, _)) = pos.and_then(|p| self.queue.remove(p)) {
            self.messages -= 1;
            self.bytes -= m.len();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Cause;
    use std::time::Duration;

    fn text(e: Option<Event>) -> String {
        match e {
            Some(Event::Message(m)) => m.as_text().unwrap().to_owned(),
            Some(Event::Disconnected(d)) => format!("<{:?}>", d.cause()),
            None => "-".into(),
        }
    }

    /// Pushes text messages; those starting with `!` go to the high lane.
    fn push(ib: &Inbox, items: &[&str]) {
        let mut v: Vec<(Message, bool)> = items
            .iter()
            .map(|s| (Message::text(*s), s.starts_with('!')))
            .collect();
        ib.push_all(&mut v);
    }

    fn inbox(max_messages: usize, max_bytes: usize) -> Inbox {
        Inbox::new(max_messages, max_bytes, Arc::default())
    }

    fn dropped(ib: &Inbox) -> u64 {
        ib.counters.dropped.load(Ordering::Relaxed)
    }

    fn discarded(ib: &Inbox) -> u64 {
        ib.counters.discarded.load(Ordering::Relaxed)
    }

    #[test]
    fn drop_oldest_by_count() {
        let ib = inbox(3, 1 << 20);
        push(&ib, &["1", "2", "3", "4", "5"]);
        assert_eq!((dropped(&ib), ib.queued().0), (2, 3));
        let got: Vec<String> = (0..4).map(|_| text(ib.pop(Wait::Never))).collect();
        assert_eq!(got, ["3", "4", "5", "-"]);
    }

    #[test]
    fn drop_oldest_by_bytes() {
        let ib = inbox(100, 10);
        push(&ib, &["aaaa", "bbbb", "cccc"]); // 12 bytes > 10: "aaaa" goes
        assert_eq!((dropped(&ib), ib.queued()), (1, (2, 8)));
        // a message bigger than the whole capacity is kept alone
        push(&ib, &["0123456789abc"]);
        assert_eq!(dropped(&ib), 3);
        assert_eq!(text(ib.pop(Wait::Never)), "0123456789abc");
    }

    #[test]
    fn markers_are_ordered_and_never_dropped() {
        let ib = inbox(2, 1 << 20);
        push(&ib, &["a", "b"]);
        ib.lost(Disconnect::new(Cause::Eof, "eof"), false);
        push(&ib, &["c", "d", "e"]);
        // a, b, c dropped (oldest messages); the marker stays in place
        let got: Vec<String> = (0..4).map(|_| text(ib.pop(Wait::Never))).collect();
        assert_eq!(got, ["<Eof>", "d", "e", "-"]);
        assert_eq!(dropped(&ib), 3);
    }

    #[test]
    fn terminal_repeats_after_messages() {
        let ib = inbox(10, 1 << 20);
        push(&ib, &["a"]);
        ib.lost(Disconnect::new(Cause::Io, "reset"), true);
        assert_eq!(text(ib.pop(Wait::Forever)), "a");
        for _ in 0..3 {
            assert_eq!(text(ib.pop(Wait::Forever)), "<Io>");
            assert_eq!(text(ib.pop(Wait::Never)), "<Io>");
            assert_eq!(text(ib.pop_latest()), "<Io>");
        }
    }

    #[test]
    fn latest_discards_and_counts() {
        let ib = inbox(10, 1 << 20);
        assert_eq!(text(ib.pop_latest()), "-");
        push(&ib, &["a", "b"]);
        ib.lost(Disconnect::new(Cause::Eof, "eof"), false);
        push(&ib, &["c"]);
        assert_eq!(text(ib.pop_latest()), "c");
        assert_eq!(discarded(&ib), 2);
        assert_eq!(text(ib.pop(Wait::Never)), "-");
        push(&ib, &["x"]);
        ib.lost(Disconnect::new(Cause::Eof, "eof"), false);
        assert_eq!(text(ib.pop_latest()), "<Eof>");
        assert_eq!(ib.queued().0, 0);
    }

    #[test]
    fn high_lane_first_and_never_evicted() {
        let ib = inbox(3, 1 << 20);
        push(&ib, &["a", "!exit1", "b", "c", "d", "e", "!exit2"]);
        // normal lane: capacity 3 keeps c, d, e; the high lane keeps both exits
        assert_eq!(dropped(&ib), 2);
        let got: Vec<String> = (0..6).map(|_| text(ib.pop(Wait::Never))).collect();
        assert_eq!(got, ["!exit1", "!exit2", "c", "d", "e", "-"]);
    }

    #[test]
    fn high_lane_does_not_jump_an_earlier_disconnect() {
        let ib = inbox(10, 1 << 20);
        push(&ib, &["a", "!old"]);
        ib.lost(Disconnect::new(Cause::Eof, "eof"), false);
        push(&ib, &["b", "!new"]);
        let got: Vec<String> = (0..5).map(|_| text(ib.pop(Wait::Never))).collect();
        assert_eq!(got, ["!old", "a", "<Eof>", "!new", "b"]);
    }

    #[test]
    fn latest_never_discards_the_high_lane() {
        let ib = inbox(10, 1 << 20);
        push(&ib, &["a", "!x", "b", "c"]);
        assert_eq!(text(ib.pop_latest()), "!x");
        assert_eq!(text(ib.pop_latest()), "c");
        assert_eq!(discarded(&ib), 2);
    }

    #[test]
    fn wait_until_times_out() {
        let ib = inbox(10, 100);
        let t = Instant::now();
        assert!(ib.pop(Wait::Until(t + Duration::from_millis(30))).is_none());
        assert!(t.elapsed() >= Duration::from_millis(30));
    }
}
