//! Who reads the socket when: the worker, or the program's own thread.
//!
//! The link (socket and protocol state) sits in a [`Slot`] behind a mutex;
//! whoever holds it may read or write. A hand-off through the inbox costs a
//! copy, two queue operations and a thread wake-up per message, so it is only
//! used when it buys something. Who reads is one explicit [`Reader`] state:
//!
//! - `Worker`: the worker watches the socket and fills the inbox.
//! - `Program`: a read found the inbox empty, took the slot and read the socket
//!   on the program's thread, like a plain blocking loop, and may have left data
//!   in it. The worker stops watching reads (arrivals do not wake it) and keeps
//!   a takeover timer: when the program makes no direct read for [`TAKEOVER`],
//!   the worker reads again, so heartbeats are answered and the buffer fills
//!   while the program is busy elsewhere.
//! - `Waiting`: the socket is drained and a program thread waits on it itself
//!   (without the slot), so an arrival wakes exactly the thread that wants it.
//!   At most one thread waits so; others wait on the inbox.
//!
//! No program thread waits on the slot for long: a read waits for it at most
//! [`SLOT_PATIENCE`] (`try_read` not at all), long enough for a worker's call
//! or batch, and when it stays busy it asks for the socket ([`Handoff::want`])
//! and waits on the inbox, which the holder fills. The worker hands reading
//! over at its next batch, or takes it back to serve the waiting reader. So a
//! hook (`auto_reply`, `priority`) that runs on whichever thread reads the
//! socket, holding the slot, never holds up another thread's `read` or `write`
//! for longer than that; and a write with nothing queued before it goes out on
//! the writer's thread when the slot is free, else through the outbox.
//!
//! Order is kept because the worker adds to the inbox only while it holds the
//! slot, and a direct read happens only with the slot held and the inbox empty:
//! whatever waits in the inbox is older than anything still in the socket.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token, Waker};
use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::hooks::{Hooks, Reply};
use crate::inbox::Wait;
use crate::link::{AnyLink, Incoming, Link};
use crate::message::{Cause, Disconnect, Message};
use crate::seam::{Direct, Outgoing, Pushed, Seam};

pub(crate) const SOCK: Token = Token(0);
pub(crate) const WAKE: Token = Token(1);

/// How long a program thread that reads the socket itself may pause before the
/// worker takes reading back (so heartbeats are answered and the buffer fills).
pub(crate) const TAKEOVER: Duration = Duration::from_millis(10);
/// Items one direct read may go through (pings, skipped heartbeats) before it
/// leaves the rest to the worker, so `try_read` stays prompt under any flood.
const DIRECT_LIMIT: usize = 256;
/// How long a read waits for the slot while the worker holds it: a call
/// (a write, a timer) takes microseconds, a batch of a flood about 20-200.
const SLOT_PATIENCE: Duration = Duration::from_micros(200);
/// Messages one `read_latest` may read from the socket to find the newest.
const LATEST_LIMIT: usize = 4096;

/// Who reads the socket (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Reader {
    Worker = 0,
    Program = 1,
    Waiting = 2,
}

/// The [`Reader`] state; every change is one of these methods.
pub(crate) struct ReaderState(AtomicU8);

impl ReaderState {
    fn new() -> ReaderState {
        ReaderState(AtomicU8::new(Reader::Worker as u8))
    }

    pub(crate) fn get(&self) -> Reader {
        match self.0.load(Ordering::SeqCst) {
            0 => Reader::Worker,
            1 => Reader::Program,
            _ => Reader::Waiting,
        }
    }

    fn swap(&self, from: Reader, to: Reader) -> bool {
        self.0
            .compare_exchange(from as u8, to as u8, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// A program thread read directly (or the worker handed reading over).
    /// A waiting thread keeps its state.
    pub(crate) fn to_program(&self) {
        if self.0.load(Ordering::Relaxed) == Reader::Worker as u8 {
            self.swap(Reader::Worker, Reader::Program);
        }
    }

    /// The worker reads again; true if a program thread was reading. A waiting
    /// thread keeps its state (it will find out when it wakes).
    pub(crate) fn to_worker(&self) -> bool {
        self.swap(Reader::Program, Reader::Worker)
    }

    /// A program thread is to wait on the socket; false if another already does.
    fn start_wait(&self) -> bool {
        self.swap(Reader::Worker, Reader::Waiting) || self.swap(Reader::Program, Reader::Waiting)
    }

    /// The waiting thread woke: it reads next.
    fn end_wait(&self) {
        self.swap(Reader::Waiting, Reader::Program);
    }

    /// A new connection: the worker reads it.
    pub(crate) fn reset(&self) {
        self.0.store(Reader::Worker as u8, Ordering::SeqCst);
    }
}

/// The connection itself, behind a lock: whoever holds the slot may read or
/// write the socket. The worker holds it while it serves the connection; a
/// program thread holds it for a direct read or write.
pub(crate) struct Slot {
    pub(crate) link: Option<Box<AnyLink>>,
    /// A loss that a program thread ran into, for the worker to act on.
    pub(crate) failed: Option<Disconnect>,
    /// When anything last arrived (for `idle`; direct reads update it only
    /// when `idle` is set).
    pub(crate) last_rx: Instant,
    /// Something arrived since the keepalive last cleared this (for
    /// `ping_timeout`): a flag, so direct reads keep the clock off the hot path.
    pub(crate) heard: bool,
    /// A duplicate of the socket for a reader that waits on it without holding
    /// the slot: the socket cannot close under it (made on the first such wait).
    pub(crate) sock: Option<Arc<OwnedFd>>,
    /// What the worker's poll watches the socket for. Nothing while a program
    /// thread reads it (so arrivals wake only that thread; writes only while
    /// output is pending), everything otherwise.
    pub(crate) watching: Watch,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Watch {
    All,
    Writes,
    Nothing,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            link: None,
            failed: None,
            last_rx: Instant::now(),
            heard: true,
            sock: None,
            watching: Watch::All,
        }
    }

    pub(crate) fn link(&mut self) -> Result<&mut AnyLink, Disconnect> {
        match self.link.as_deref_mut() {
            Some(l) => Ok(l),
            None => Err(Disconnect::new(Cause::Io, "no connection")),
        }
    }
}

/// What the program's threads and the worker share about the socket.
pub(crate) struct Handoff {
    pub(crate) seam: Arc<Seam>,
    pub(crate) slot: Mutex<Slot>,
    pub(crate) hooks: Hooks,
    pub(crate) reader: ReaderState,
    /// Direct reads so far: the takeover timer's sign of life.
    pub(crate) direct_reads: AtomicU64,
    /// A program thread found the slot busy and waits on the inbox: the
    /// worker hands reading over at its next batch, or reads for it.
    pub(crate) wanting: AtomicBool,
    /// Wakes a waiting reader (an eventfd, made on first use): on `close()` and
    /// when the connection ends.
    bell: OnceLock<OwnedFd>,
    /// The worker's poll registry, to switch its read interest from any thread.
    registry: Registry,
    pub(crate) waker: Waker,
    /// The worker's takeover timer is off: a program thread that reads directly
    /// wakes the worker once, so it arms the timer.
    pub(crate) timer_off: AtomicBool,
    /// `idle` is set: direct reads note the time of every arrival.
    track_rx: bool,
    done: Mutex<bool>,
    done_cond: Condvar,
}

impl Handoff {
    pub(crate) fn new(
        seam: Arc<Seam>,
        hooks: Hooks,
        registry: Registry,
        waker: Waker,
        track_rx: bool,
    ) -> Handoff {
        Handoff {
            seam,
            slot: Mutex::new(Slot::new()),
            hooks,
            reader: ReaderState::new(),
            direct_reads: AtomicU64::new(0),
            wanting: AtomicBool::new(false),
            bell: OnceLock::new(),
            registry,
            waker,
            timer_off: AtomicBool::new(true),
            track_rx,
            done: Mutex::new(false),
            done_cond: Condvar::new(),
        }
    }

    /// Hands a message to the link; its length, or 0 when there is no live
    /// connection or the send queue is full (counted).
    pub(crate) fn send(&self, m: Outgoing) -> usize {
        if !self.seam.is_connected() {
            return 0;
        }
        let len = m.len();
        let c = &self.seam.counters;
        // With nothing queued before it and the slot free, the message goes out
        // on this thread: no hand-off, no wake-up of the worker.
        if self.seam.outbox.is_empty() {
            if let Some(mut slot) = self.slot.try_lock() {
                if self.seam.outbox.is_empty() && slot.failed.is_none() {
                    if let Some(link) = slot.link.as_deref_mut() {
                        if !self.seam.outbox.fits(len) {
                            c.add(&c.rejected, 1);
                            return 0;
                        }
                        let sent = link.send(m).and_then(|_| link.flush());
                        self.seam.outbox.set_in_link(link.unflushed());
                        match sent {
                            Ok(true) => {}
                            // The rest goes out when the socket is writable again.
                            Ok(false) => self.wake_worker(),
                            Err(d) => {
                                slot.failed = Some(d);
                                self.wake_worker();
                                c.add(&c.unsent, 1);
                                return len;
                            }
                        }
                        c.add(&c.sent, 1);
                        return len;
                    }
                }
            }
        }
        match self.seam.outbox.push(m) {
            Pushed::First => self.wake_worker(),
            Pushed::More => {}
            Pushed::Full => {
                c.add(&c.rejected, 1);
                return 0;
            }
            // Lost since the check above: as if it had been lost before.
            Pushed::Shut => return 0,
        }
        len
    }

    pub(crate) fn wake_worker(&self) {
        let _ = self.waker.wake();
    }

    /// Wakes a reader that waits on the socket itself, so it looks at the inbox.
    pub(crate) fn ring(&self) {
        // Pairs with the fence in `lead`: either this sees the bell, or the
        // waiting reader sees what was just put in the inbox.
        fence(Ordering::SeqCst);
        if let Some(bell) = self.bell.get() {
            let _ = rustix::io::write(bell, &1u64.to_ne_bytes());
        }
    }

    /// The worker has ended.
    pub(crate) fn set_done(&self) {
        *self.done.lock() = true;
        self.done_cond.notify_all();
    }

    /// Waits until the worker has ended, at most `timeout`; true if it has.
    pub(crate) fn wait_done(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut done = self.done.lock();
        while !*done {
            if self.done_cond.wait_until(&mut done, deadline).timed_out() {
                break;
            }
        }
        *done
    }

    /// The slot was busy: asks for the socket. The holder is the worker (it
    /// hands over at its next batch, or reads for this thread), or another
    /// program thread. Either way the caller waits on the inbox meanwhile.
    fn want(&self) {
        if !self.wanting.swap(true, Ordering::SeqCst) && self.reader.get() != Reader::Worker {
            // The worker is not watching reads: wake it to take them back.
            self.wake_worker();
        }
    }

    /// Takes the slot for a direct read; else what to return: `Buffered` when
    /// the inbox has events (they come first), `Nothing` when there is no
    /// connection to read or the slot stays busy (wait on the inbox).
    ///
    /// A worker that serves a call (a queued write, a timer) holds the slot
    /// for microseconds, and one draining a flood hands it over at its next
    /// batch when asked (`wanting`), so the caller waits for it up to
    /// `patience`. Past that the holder is busy with something longer (a
    /// hook): the caller asks for the socket and waits on the inbox instead.
    fn take_slot(&self, patience: Duration) -> Result<MutexGuard<'_, Slot>, Direct> {
        let ask = self.reader.get() == Reader::Worker;
        if ask {
            self.wanting.store(true, Ordering::SeqCst);
        }
        let slot = if patience.is_zero() {
            self.slot.try_lock()
        } else {
            self.slot.try_lock_for(patience)
        };
        let Some(slot) = slot else {
            self.want();
            return Err(if self.seam.inbox.has_events() {
                Direct::Buffered
            } else {
                Direct::Nothing
            });
        };
        if ask {
            // Asked for and got: nothing for the worker to hand over.
            self.wanting.store(false, Ordering::SeqCst);
        }
        // The worker adds to the inbox only while it holds the slot, so an empty
        // inbox now means nothing older than the socket's data is waiting.
        if self.seam.inbox.has_events() {
            return Err(Direct::Buffered);
        }
        if slot.link.is_none() || slot.failed.is_some() {
            return Err(Direct::Nothing);
        }
        Ok(slot)
    }

    /// Something arrived: note it for the keepalive, and the time for `idle`
    /// (only when set, to keep the clock off the hot path).
    fn note_rx(&self, last_rx: &mut Instant, heard: &mut bool) {
        *heard = true;
        if self.track_rx {
            *last_rx = Instant::now();
        }
    }

    /// Traffic that is not a message arrived: noted for `idle` and the
    /// keepalive, and when it was a Pong that answered our Ping, its round
    /// trip goes to the counters.
    #[cold]
    #[inline(never)]
    fn note_control(&self, link: &mut AnyLink, last_rx: &mut Instant, heard: &mut bool) {
        if let Some(rtt) = link.take_rtt() {
            self.seam.counters.pong(rtt);
        }
        self.note_rx(last_rx, heard);
    }

    /// A direct read got a message: `note_rx`, then `screen`.
    #[inline]
    fn arrived(
        &self,
        last_rx: &mut Instant,
        heard: &mut bool,
        link: &mut AnyLink,
        m: &Message,
    ) -> Result<bool, Disconnect> {
        self.note_rx(last_rx, heard);
        self.screen(link, m)
    }

    /// Runs `auto_reply` on a message, on the thread that read it; whether it
    /// is kept for the program.
    pub(crate) fn screen(&self, link: &mut AnyLink, m: &Message) -> Result<bool, Disconnect> {
        let Some(f) = &self.hooks.auto_reply else {
            return Ok(true);
        };
        let (reply, keep) = match f(m) {
            Reply::Pass => (None, true),
            Reply::Send(r) => (Some(r), false),
            Reply::SendAndKeep(r) => (Some(r), true),
            Reply::Skip => (None, false),
        };
        if let Some(r) = reply {
            link.send(Outgoing::Text(r))?;
            link.flush()?;
        }
        Ok(keep)
    }

    /// Whether `priority` sends a message to the high-priority lane (run on
    /// the thread that read it, before the inbox's lock is taken).
    pub(crate) fn is_high(&self, m: &Message) -> bool {
        self.hooks.priority.as_deref().is_some_and(|f| f(m))
    }

    /// Notes that the caller has read directly and may have left data behind:
    /// the worker stops watching reads, and keeps its takeover timer running.
    fn mark_direct(&self, slot: &mut Slot) {
        self.reader.to_program();
        let n = self.direct_reads.load(Ordering::Relaxed);
        self.direct_reads.store(n + 1, Ordering::Relaxed);
        self.watch(slot, false);
        // The worker sets `timer_off` holding the slot, as the caller does here,
        // or (arming) lock-free to false: a wake is never missed, at worst spare.
        if self.timer_off.load(Ordering::Relaxed) && self.timer_off.swap(false, Ordering::Relaxed) {
            self.wake_worker();
        }
    }

    /// Switches the worker's watch on the socket: everything (`on`) or nothing.
    /// Turning it back on makes the poll report data that is already waiting,
    /// so nothing is stranded; if that fails, the connection is failed (and
    /// redialed) rather than left unread.
    pub(crate) fn watch(&self, slot: &mut Slot, on: bool) {
        let want = if on { Watch::All } else { Watch::Nothing };
        if slot.watching == want || (!on && slot.watching == Watch::Writes) {
            return;
        }
        let Some(link) = slot.link.as_deref() else {
            return;
        };
        let fd = link.fd().as_raw_fd();
        let mut src = SourceFd(&fd);
        let all = Interest::READABLE | Interest::WRITABLE;
        let done = match (slot.watching, want) {
            (Watch::Nothing, _) => self.registry.register(&mut src, SOCK, all),
            (_, Watch::All) => self.registry.reregister(&mut src, SOCK, all),
            _ => self.registry.deregister(&mut src),
        };
        match done {
            Ok(()) => slot.watching = want,
            Err(e) if on => self.fail(slot, e),
            Err(_) => {}
        }
    }

    /// Output is pending while the worker watches nothing: watch for writability.
    pub(crate) fn watch_writes(&self, slot: &mut Slot) {
        if slot.watching != Watch::Nothing {
            return;
        }
        let Some(link) = slot.link.as_deref() else {
            return;
        };
        let fd = link.fd().as_raw_fd();
        match self
            .registry
            .register(&mut SourceFd(&fd), SOCK, Interest::WRITABLE)
        {
            Ok(()) => slot.watching = Watch::Writes,
            Err(e) => self.fail(slot, e),
        }
    }

    fn fail(&self, slot: &mut Slot, e: io::Error) {
        slot.failed = Some(Disconnect::new(
            Cause::Io,
            format!("cannot watch the socket: {e}"),
        ));
        self.wake_worker();
    }

    /// Leaves the socket to the worker: it is drained (`WouldBlock`), or a loss
    /// or a long run of heartbeats needs the worker.
    fn end_direct(&self, slot: &mut Slot, failed: Option<Disconnect>) {
        self.reader.to_worker();
        self.watch(slot, true);
        let wake = failed.is_some() || slot.failed.is_some();
        if failed.is_some() {
            slot.failed = failed;
        }
        if wake {
            self.wake_worker();
        }
    }

    /// Reads the next message from the socket on the caller's thread, when the
    /// inbox is empty: the plain blocking loop's cost, no hand-off. When the
    /// socket has nothing and `wait` allows, the caller waits on the socket
    /// itself, so a message wakes exactly the thread that wants it.
    pub(crate) fn read_direct(&self, wait: Wait) -> Direct {
        // `try_read` returns at once; the others may wait a moment for the slot.
        let patience = match wait {
            Wait::Never => Duration::ZERO,
            _ => SLOT_PATIENCE,
        };
        loop {
            let mut slot = match self.take_slot(patience) {
                Ok(g) => g,
                Err(d) => return d,
            };
            if let Some(d) = self.read_one(&mut slot) {
                return d;
            }
            if let Err(d) = self.lead(slot, wait) {
                return d;
            }
            // Read again: data, or (after a timeout) one last look.
        }
    }

    /// The socket is drained: waits on it as `wait` allows, without the slot.
    /// `Ok` to read again; else what to return.
    fn lead(&self, mut slot: MutexGuard<'_, Slot>, wait: Wait) -> Result<(), Direct> {
        let timeout = match wait {
            Wait::Never => None,
            Wait::Forever => Some(None),
            Wait::Until(d) => Some(Some(d.saturating_duration_since(Instant::now())))
                .filter(|t| !matches!(t, Some(t) if t.is_zero())),
        };
        let Some(timeout) = timeout else {
            // `try_read` while reading directly: the takeover timer runs and
            // covers a pause. Otherwise (a wait that ran out, perhaps after
            // waiting on the socket) the worker watches the socket again.
            if matches!(wait, Wait::Until(_)) || self.reader.get() != Reader::Program {
                self.end_direct(&mut slot, None);
            }
            return Err(Direct::Nothing);
        };
        let Some((sock, bell)) = self.lead_fds(&mut slot) else {
            self.end_direct(&mut slot, None);
            return Err(Direct::Nothing);
        };
        if !self.reader.start_wait() {
            // Another thread waits on the socket; this one waits on the inbox.
            return Err(Direct::Nothing);
        }
        // Pairs with `ring`: a close or loss from now on rings the bell.
        fence(Ordering::SeqCst);
        if self.seam.inbox.has_events() {
            self.reader.end_wait();
            return Err(Direct::Buffered);
        }
        // Arrivals wake only this thread.
        self.watch(&mut slot, false);
        drop(slot);
        let waited = wait_readable(&sock, bell, timeout);
        drop(sock);
        self.reader.end_wait();
        if waited.is_err() {
            // Cannot wait here: the worker reads for this thread.
            self.want();
            return Err(Direct::Nothing);
        }
        // The next `take_slot` sees a close or a loss (the inbox, the link).
        Ok(())
    }

    /// Reads until a message for the program; `None` when the socket is drained
    /// (the reader state unchanged), else what to return.
    #[inline]
    fn read_one(&self, slot: &mut Slot) -> Option<Direct> {
        let Some(link) = slot.link.as_deref_mut() else {
            return Some(Direct::Nothing);
        };
        for _ in 0..DIRECT_LIMIT {
            match link.read(true) {
                Ok(Incoming::Message(m)) => {
                    match self.arrived(&mut slot.last_rx, &mut slot.heard, link, &m) {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(d) => {
                            self.end_direct(slot, Some(d));
                            return Some(Direct::Nothing);
                        }
                    }
                    self.seam.counters.received(&m);
                    self.mark_direct(slot);
                    return Some(Direct::Message(m));
                }
                Ok(Incoming::Control) => {
                    self.note_control(link, &mut slot.last_rx, &mut slot.heard)
                }
                Ok(Incoming::WouldBlock) => return None,
                Err(d) => {
                    self.end_direct(slot, Some(d));
                    return Some(Direct::Nothing);
                }
            }
        }
        // A long run of heartbeats or skipped messages: the worker goes on.
        self.end_direct(slot, None);
        self.wake_worker();
        Some(Direct::Nothing)
    }

    /// The socket's duplicate and the bell, made on first use.
    fn lead_fds(&self, slot: &mut Slot) -> Option<(Arc<OwnedFd>, &OwnedFd)> {
        if slot.sock.is_none() {
            let dup = slot.link.as_deref()?.fd().try_clone_to_owned().ok()?;
            slot.sock = Some(Arc::new(dup));
        }
        if self.bell.get().is_none() {
            use rustix::event::{eventfd, EventfdFlags};
            let fd = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC).ok()?;
            let _ = self.bell.set(fd);
        }
        Some((slot.sock.clone()?, self.bell.get()?))
    }

    /// `read_latest` with an empty inbox: reads what the socket has (up to
    /// `LATEST_LIMIT` messages) and returns the newest; the others are counted as
    /// received and discarded. A priority message is returned as soon as it is
    /// read, and the newest ordinary one before it goes to the inbox.
    pub(crate) fn read_latest_direct(&self) -> Direct {
        let mut guard = match self.take_slot(SLOT_PATIENCE) {
            Ok(g) => g,
            Err(d) => return d,
        };
        let slot = &mut *guard;
        let Some(link) = slot.link.as_deref_mut() else {
            return Direct::Nothing;
        };
        let counters = &*self.seam.counters;
        let mut newest: Option<Message> = None;
        let mut older = 0u64;
        let mut outcome = None;
        for _ in 0..LATEST_LIMIT {
            // Each candidate is copied out: holding a slice of the read buffer across
            // the next refill would make tungstenite allocate a new buffer each
            // time (measured: 2 KB frames twice as fast copied).
            match link.read(false) {
                Ok(Incoming::Message(m)) => {
                    match self.arrived(&mut slot.last_rx, &mut slot.heard, link, &m) {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(d) => {
                            outcome = Some(Some(d));
                            break;
                        }
                    }
                    if self.is_high(&m) {
                        if let Some(n) = newest.take() {
                            // Counted as received by `deliver`, not discarded.
                            self.seam.deliver(&mut vec![(n, false)]);
                            self.ring();
                        }
                        counters.add(&counters.discarded, older);
                        counters.received(&m);
                        self.mark_direct(slot);
                        return Direct::Message(m);
                    }
                    if let Some(old) = newest.replace(m) {
                        counters.received(&old);
                        older += 1;
                    }
                }
                Ok(Incoming::Control) => {
                    self.note_control(link, &mut slot.last_rx, &mut slot.heard)
                }
                Ok(Incoming::WouldBlock) => {
                    outcome = Some(None);
                    break;
                }
                Err(d) => {
                    outcome = Some(Some(d));
                    break;
                }
            }
        }
        counters.add(&counters.discarded, older);
        match outcome {
            Some(Some(failed)) => self.end_direct(slot, Some(failed)),
            // Drained: as with `try_read`, a caller reading directly keeps the
            // socket (its takeover timer covers a pause); else the worker has it.
            Some(None) => {}
            // The limit: there may be more; the caller is reading.
            None => self.mark_direct(slot),
        }
        match newest {
            Some(m) => {
                counters.received(&m);
                Direct::Message(m)
            }
            None => Direct::Nothing,
        }
    }

    /// Gives reading back to the worker at once (before waiting elsewhere, as
    /// `select` does), instead of after the takeover pause.
    pub(crate) fn release_direct(&self) {
        if self.reader.to_worker() {
            self.wake_worker();
        }
    }
}

/// Waits until `sock` is readable, the bell rings, or the timeout passes.
fn wait_readable(sock: &OwnedFd, bell: &OwnedFd, timeout: Option<Duration>) -> io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let ts = match timeout.map(Timespec::try_from) {
        Some(Ok(ts)) => Some(ts),
        // Too far away to say: wait without a limit.
        Some(Err(_)) | None => None,
    };
    let mut fds = [
        PollFd::new(sock, PollFlags::IN),
        PollFd::new(bell, PollFlags::IN),
    ];
    match poll(&mut fds, ts.as_ref()) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(e) => return Err(e.into()),
    }
    if !fds[1].revents().is_empty() {
        let _ = rustix::io::read(bell, &mut [0u8; 8]);
    }
    Ok(())
}
