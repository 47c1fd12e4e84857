//! The background worker, and who reads the socket when.
//!
//! The worker owns the connection's life. It waits for readiness, not for data:
//! `mio` tells it when the socket is readable or writable, or when the program
//! has queued a write or asked to close (a [`Waker`]). The poll timeout is the
//! nearest timer (ping, idle, takeover), so an idle connection with no timers
//! never wakes up. After a lost connection it reconnects (when told to) with
//! backoff, and sends the on-connect messages and payloads again before any
//! queued write.
//!
//! ## Who reads the socket
//!
//! The link (socket and protocol state) sits in a [`Slot`] behind a mutex;
//! whoever holds it may read or write. A hand-off through the inbox costs a
//! copy, two queue operations and a thread wake-up per message, so it is only
//! used when it buys something:
//!
//! - When a read finds the inbox empty, the program's thread takes the slot and
//!   reads the socket itself ("direct"), like a plain blocking loop. If the
//!   socket is drained and the read may wait, that thread waits on the socket
//!   itself ("leads"), so an arrival wakes exactly the thread that wants it.
//!   The worker then stops watching reads (arrivals do not wake it) and keeps a
//!   takeover timer: when the program makes no direct read for [`TAKEOVER`],
//!   the worker reads again, so heartbeats are answered and the buffer fills,
//!   as promised, while the program is busy elsewhere.
//! - A worker that is draining a flood hands reading over at its next batch
//!   when a program thread waits for the slot with an empty inbox (`wanting`).
//! - A write with nothing queued before it goes out on the writer's thread when
//!   the slot is free.
//!
//! Order is kept because the worker adds to the inbox only while it holds the
//! slot, and a direct read happens only with the slot held and the inbox empty:
//! whatever waits in the inbox is older than anything still in the socket.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::fence;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use parking_lot::{Condvar, Mutex};

use crate::error::Error;
use crate::hooks::{Hooks, Reply};
use crate::inbox::{Inbox, Wait};
use crate::link::{self, AnyLink, Incoming, Link, Outgoing};
use crate::message::{Cause, Disconnect};
use crate::transport::Plan;

const SOCK: Token = Token(0);
const WAKE: Token = Token(1);
/// How long `close()` waits for the peer to answer our close frame.
pub(crate) const CLOSE_LINGER: Duration = Duration::from_millis(1000);

/// Messages read before the worker pushes them, serves queued writes, and looks
/// for a program thread that wants to read the socket itself.
const BATCH: usize = 64;
/// How long a program thread that reads the socket itself may pause before the
/// worker takes reading back (so heartbeats are answered and the buffer fills).
pub(crate) const TAKEOVER: Duration = Duration::from_millis(10);
/// Items one direct read may go through (pings, skipped heartbeats) before it
/// leaves the rest to the worker, so `try_read` stays prompt under any flood.
const DIRECT_LIMIT: usize = 256;
/// Messages one `read_latest` may read from the socket to find the newest.
const LATEST_LIMIT: usize = 4096;

/// The connection itself, behind a lock: whoever holds the slot may read or
/// write the socket. The worker holds it while it serves the connection; a
/// program thread holds it for a direct read.
struct Slot {
    link: Option<Box<AnyLink>>,
    /// A loss that a direct read ran into, for the worker to act on.
    failed: Option<Disconnect>,
    /// When anything last arrived (for `idle`; direct reads update it only
    /// when `idle` is set).
    last_rx: Instant,
    /// A duplicate of the socket for a reader that waits on it without holding
    /// the slot: the socket cannot close under it (made on the first such wait).
    sock: Option<Arc<OwnedFd>>,
    /// What the worker's poll watches the socket for. Nothing while a program
    /// thread reads it (so arrivals wake only that thread; writes only while
    /// output is pending), everything otherwise.
    watching: Watch,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Watch {
    All,
    Writes,
    Nothing,
}

impl Slot {
    fn link(&mut self) -> Result<&mut AnyLink, Disconnect> {
        match self.link.as_deref_mut() {
            Some(l) => Ok(l),
            None => Err(Disconnect::new(Cause::Io, "no connection")),
        }
    }
}

/// Counters that only the holder of the slot updates (a load and a store, no
/// read-modify-write), and anyone may read.
#[derive(Default)]
pub(crate) struct RxCounts {
    pub(crate) received: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) undecoded: AtomicU64,
}

impl RxCounts {
    fn count(&self, m: &crate::Message) {
        let bump =
            |a: &AtomicU64, n: u64| a.store(a.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        bump(&self.received, 1);
        bump(&self.bytes, m.len() as u64);
        if m.decode_error().is_some() {
            bump(&self.undecoded, 1);
        }
    }
}

/// What a direct read found.
pub(crate) enum Direct {
    /// A message, read from the socket on the caller's thread.
    Message(crate::Message),
    /// The inbox has events: take them first.
    Buffered,
    /// Nothing to read now; the worker watches the socket (wait on the inbox).
    Nothing,
}

/// What the program's side (`Conn`) and the worker share.
pub(crate) struct Shared {
    pub(crate) inbox: Inbox,
    slot: Mutex<Slot>,
    hooks: Hooks,
    /// A program thread read the socket directly and may have left data in it:
    /// the worker leaves reading to it (see [`TAKEOVER`]).
    direct: AtomicBool,
    /// Direct reads so far: the takeover timer's sign of life.
    direct_reads: AtomicU64,
    /// Program threads waiting for the slot with an empty inbox: the worker
    /// hands reading over at its next batch.
    wanting: AtomicUsize,
    /// A program thread is blocked waiting on the socket itself (it "leads"):
    /// the worker leaves reading to it.
    leader: AtomicBool,
    /// Wakes a leading reader (an eventfd, made on first use): on `close()` and
    /// when the connection ends.
    bell: OnceLock<OwnedFd>,
    /// The worker's poll registry, to switch its read interest from any thread.
    registry: Registry,
    /// The worker's takeover timer is off: a program thread that reads directly
    /// wakes the worker once, so it arms the timer.
    timer_off: AtomicBool,
    /// `idle` is set: direct reads note the time of every arrival.
    track_rx: bool,
    /// Messages that direct reads delivered (the inbox counts the rest).
    pub(crate) direct_rx: RxCounts,
    outbox: Mutex<VecDeque<Outgoing>>,
    queued: AtomicUsize,
    waker: Waker,
    live: AtomicBool,
    closing: AtomicBool,
    pub(crate) reconnects: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) unsent: AtomicU64,
    pub(crate) protocol: Mutex<Option<String>>,
    done: Mutex<bool>,
    done_cond: Condvar,
}

impl Shared {
    /// Queues a message for the worker; its length, or 0 when there is no live connection.
    pub(crate) fn send(&self, m: Outgoing) -> usize {
        if !self.live.load(Ordering::Acquire) {
            return 0;
        }
        let len = m.len();
        // With nothing queued before it and the slot free, the message goes out
        // on this thread: no hand-off, no wake-up of the worker.
        if self.queued.load(Ordering::Acquire) == 0 {
            if let Some(mut slot) = self.slot.try_lock() {
                if self.queued.load(Ordering::Acquire) == 0 && slot.failed.is_none() {
                    if let Some(link) = slot.link.as_deref_mut() {
                        match link.send(m).and_then(|_| link.flush()) {
                            Ok(true) => {}
                            // The rest goes out when the socket is writable again.
                            Ok(false) => {
                                let _ = self.waker.wake();
                            }
                            Err(d) => {
                                slot.failed = Some(d);
                                let _ = self.waker.wake();
                                self.unsent.fetch_add(1, Ordering::Relaxed);
                                return len;
                            }
                        }
                        self.sent.fetch_add(1, Ordering::Relaxed);
                        return len;
                    }
                }
            }
        }
        let was_empty = {
            let mut q = self.outbox.lock();
            q.push_back(m);
            self.queued.fetch_add(1, Ordering::Release) == 0
        };
        if was_empty {
            let _ = self.waker.wake();
        }
        len
    }

    pub(crate) fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Asks the worker to close; wakes blocked readers at once.
    pub(crate) fn close(&self) {
        if self.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        self.live.store(false, Ordering::Release);
        self.inbox.lost(
            Disconnect::new(Cause::ClosedByUser, "closed by the program"),
            true,
        );
        self.ring();
        let _ = self.waker.wake();
    }

    /// Wakes a reader that waits on the socket itself, so it looks at the inbox.
    fn ring(&self) {
        // Pairs with the fence in `lead`: either this sees the bell, or the
        // leader sees what was just put in the inbox.
        fence(Ordering::SeqCst);
        if let Some(bell) = self.bell.get() {
            let _ = rustix::io::write(bell, &1u64.to_ne_bytes());
        }
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

    fn take_outbox(&self) -> VecDeque<Outgoing> {
        let mut q = self.outbox.lock();
        self.queued.store(0, Ordering::Release);
        std::mem::take(&mut *q)
    }

    /// Takes the slot for a direct read; else what to return: `Buffered` when
    /// the inbox has events (they come first), `Nothing` when there is no
    /// connection to read.
    fn take_slot(&self) -> Result<parking_lot::MutexGuard<'_, Slot>, Direct> {
        // A worker draining a flood hands over at its next batch if asked.
        let ask = !self.direct.load(Ordering::Relaxed);
        if ask {
            self.wanting.fetch_add(1, Ordering::Relaxed);
        }
        let slot = self.slot.lock();
        if ask {
            self.wanting.fetch_sub(1, Ordering::Relaxed);
        }
        // The worker adds to the inbox only while it holds the slot, so an empty
        // inbox now means nothing older than the socket's data is waiting.
        if self.inbox.has_events() {
            return Err(Direct::Buffered);
        }
        if slot.link.is_none() || slot.failed.is_some() {
            return Err(Direct::Nothing);
        }
        Ok(slot)
    }

    /// A direct read got something: note the time for `idle` (only when set,
    /// to keep the clock off the hot path).
    fn note_rx(&self, last_rx: &mut Instant) {
        if self.track_rx {
            *last_rx = Instant::now();
        }
    }

    /// A direct read got a message: `note_rx`, then `screen`.
    #[inline]
    fn arrived(
        &self,
        last_rx: &mut Instant,
        link: &mut AnyLink,
        m: &crate::Message,
    ) -> Result<bool, Disconnect> {
        self.note_rx(last_rx);
        self.screen(link, m)
    }

    /// Runs `auto_reply` on a message; whether it is kept for the program.
    fn screen(&self, link: &mut AnyLink, m: &crate::Message) -> Result<bool, Disconnect> {
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

    /// Notes that the caller has read directly and may have left data behind:
    /// the worker stops watching reads, and keeps its takeover timer running.
    fn mark_direct(&self, slot: &mut Slot) {
        if !self.direct.load(Ordering::Relaxed) {
            self.direct.store(true, Ordering::Relaxed);
        }
        let n = self.direct_reads.load(Ordering::Relaxed);
        self.direct_reads.store(n + 1, Ordering::Relaxed);
        self.watch(slot, false);
        // The worker sets `timer_off` holding the slot, as the caller does here,
        // or (arming) lock-free to false: a wake is never missed, at worst spare.
        if self.timer_off.load(Ordering::Relaxed) && self.timer_off.swap(false, Ordering::Relaxed) {
            let _ = self.waker.wake();
        }
    }

    /// Switches the worker's watch on the socket: everything (`on`) or nothing.
    /// Turning it back on makes the poll report data that is already waiting,
    /// so nothing is stranded; if that fails, the connection is failed (and
    /// redialed) rather than left unread.
    fn watch(&self, slot: &mut Slot, on: bool) {
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
            Err(e) if on => {
                slot.failed = Some(Disconnect::new(
                    Cause::Io,
                    format!("cannot watch the socket: {e}"),
                ));
                let _ = self.waker.wake();
            }
            Err(_) => {}
        }
    }

    /// Output is pending while the worker watches nothing: watch for writability.
    fn watch_writes(&self, slot: &mut Slot) {
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
            Err(e) => {
                slot.failed = Some(Disconnect::new(
                    Cause::Io,
                    format!("cannot watch the socket: {e}"),
                ));
                let _ = self.waker.wake();
            }
        }
    }

    /// Leaves the socket to the worker: it is drained (`WouldBlock`), or a loss
    /// or a long run of heartbeats needs the worker.
    fn end_direct(&self, slot: &mut Slot, failed: Option<Disconnect>) {
        self.direct.store(false, Ordering::Relaxed);
        self.watch(slot, true);
        let wake = failed.is_some() || slot.failed.is_some();
        if failed.is_some() {
            slot.failed = failed;
        }
        if wake {
            let _ = self.waker.wake();
        }
    }

    /// Reads the next message from the socket on the caller's thread, when the
    /// inbox is empty: the plain blocking loop's cost, no hand-off. When the
    /// socket has nothing and `wait` allows, the caller waits on the socket
    /// itself (it "leads"; the worker stands aside), so a message wakes exactly
    /// the thread that wants it.
    pub(crate) fn read_direct(&self, wait: Wait) -> Direct {
        let mut guard = match self.take_slot() {
            Ok(g) => g,
            Err(d) => return d,
        };
        loop {
            if let Some(d) = self.read_one(&mut guard) {
                return d;
            }
            if let Err(d) = self.lead(&mut guard, wait) {
                return d;
            }
            // Read again: data, or (after a timeout) one last look.
        }
    }

    /// The socket is drained: waits on it (leads) as `wait` allows, with the
    /// slot unlocked meanwhile. `Ok` to read again; else what to return.
    fn lead(
        &self,
        guard: &mut parking_lot::MutexGuard<'_, Slot>,
        wait: Wait,
    ) -> Result<(), Direct> {
        let timeout = match wait {
            Wait::Never => None,
            Wait::Forever => Some(None),
            Wait::Until(d) => Some(Some(d.saturating_duration_since(Instant::now())))
                .filter(|t| !matches!(t, Some(t) if t.is_zero())),
        };
        let Some(timeout) = timeout else {
            // `try_read` while reading directly: the takeover timer runs and
            // covers a pause. Otherwise (a wait that ran out, perhaps after
            // leading) the worker watches the socket again.
            if matches!(wait, Wait::Until(_)) || !self.direct.load(Ordering::Relaxed) {
                self.end_direct(guard, None);
            }
            return Err(Direct::Nothing);
        };
        let Some((sock, bell)) = self.lead_fds(guard) else {
            self.end_direct(guard, None);
            return Err(Direct::Nothing);
        };
        if self.leader.swap(true, Ordering::SeqCst) {
            // Another thread waits on the socket; this one waits on the inbox.
            return Err(Direct::Nothing);
        }
        // Pairs with `ring`: a close or loss from now on rings the bell.
        fence(Ordering::SeqCst);
        if self.inbox.has_events() {
            self.leader.store(false, Ordering::SeqCst);
            return Err(Direct::Buffered);
        }
        // Arrivals wake only this thread.
        self.watch(guard, false);
        let waited =
            parking_lot::MutexGuard::unlocked(guard, || wait_readable(&sock, bell, timeout));
        drop(sock);
        self.leader.store(false, Ordering::SeqCst);
        if self.inbox.has_events() || guard.link.is_none() || guard.failed.is_some() {
            // The connection ended or closed meanwhile; whatever is left in the
            // socket is the worker's again.
            self.end_direct(guard, None);
            let _ = self.waker.wake();
            return Err(if self.inbox.has_events() {
                Direct::Buffered
            } else {
                Direct::Nothing
            });
        }
        if waited.is_err() {
            self.end_direct(guard, None);
            let _ = self.waker.wake();
            return Err(Direct::Nothing);
        }
        Ok(())
    }

    /// Reads until a message for the program; `None` when the socket is drained
    /// (`direct` unchanged), else what to return.
    #[inline]
    fn read_one(&self, slot: &mut Slot) -> Option<Direct> {
        let Some(link) = slot.link.as_deref_mut() else {
            return Some(Direct::Nothing);
        };
        for _ in 0..DIRECT_LIMIT {
            match link.read(true) {
                Ok(Incoming::Message(m)) => {
                    match self.arrived(&mut slot.last_rx, link, &m) {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(d) => {
                            self.end_direct(slot, Some(d));
                            return Some(Direct::Nothing);
                        }
                    }
                    self.direct_rx.count(&m);
                    self.mark_direct(slot);
                    return Some(Direct::Message(m));
                }
                Ok(Incoming::Control) => self.note_rx(&mut slot.last_rx),
                Ok(Incoming::WouldBlock) => return None,
                Err(d) => {
                    self.end_direct(slot, Some(d));
                    return Some(Direct::Nothing);
                }
            }
        }
        // A long run of heartbeats or skipped messages: the worker goes on.
        self.end_direct(slot, None);
        let _ = self.waker.wake();
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
        let mut guard = match self.take_slot() {
            Ok(g) => g,
            Err(d) => return d,
        };
        let slot = &mut *guard;
        let Some(link) = slot.link.as_deref_mut() else {
            return Direct::Nothing;
        };
        let priority = self.hooks.priority.as_deref();
        let mut newest: Option<crate::Message> = None;
        let mut older = 0u64;
        let mut outcome = None;
        for _ in 0..LATEST_LIMIT {
            // Each candidate is copied out: holding a slice of the read buffer across
            // the next refill would make tungstenite allocate a new buffer each
            // time (measured: 2 KB frames twice as fast copied).
            match link.read(false) {
                Ok(Incoming::Message(m)) => {
                    match self.arrived(&mut slot.last_rx, link, &m) {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(d) => {
                            outcome = Some(Some(d));
                            break;
                        }
                    }
                    if priority.is_some_and(|f| f(&m)) {
                        if let Some(n) = newest.take() {
                            self.inbox.push_all(&mut vec![n], None);
                            self.ring();
                        }
                        self.inbox.add_discarded(older);
                        self.direct_rx.count(&m);
                        self.mark_direct(slot);
                        return Direct::Message(m);
                    }
                    if let Some(old) = newest.replace(m) {
                        self.direct_rx.count(&old);
                        older += 1;
                    }
                }
                Ok(Incoming::Control) => self.note_rx(&mut slot.last_rx),
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
        self.inbox.add_discarded(older);
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
                self.direct_rx.count(&m);
                Direct::Message(m)
            }
            None => Direct::Nothing,
        }
    }

    /// Gives reading back to the worker at once (before waiting elsewhere, as
    /// `select` does), instead of after the takeover pause.
    pub(crate) fn release_direct(&self) {
        if self.direct.swap(false, Ordering::Relaxed) {
            let _ = self.waker.wake();
        }
    }
}

/// Dials the first connection in the caller's thread (so its error is the
/// dial's result), then starts the worker with it.
pub(crate) fn start(plan: Plan, hooks: Hooks) -> Result<(Arc<Shared>, JoinHandle<()>), Error> {
    let deadline = Instant::now() + plan.options.timeout;
    let first = link::dial(&plan, deadline)?;
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKE)?;
    let shared = Arc::new(Shared {
        inbox: Inbox::new(plan.options.qsize, plan.options.qbytes),
        slot: Mutex::new(Slot {
            link: None,
            failed: None,
            last_rx: Instant::now(),
            sock: None,
            watching: Watch::All,
        }),
        hooks,
        direct: AtomicBool::new(false),
        direct_reads: AtomicU64::new(0),
        wanting: AtomicUsize::new(0),
        leader: AtomicBool::new(false),
        bell: OnceLock::new(),
        registry: poll.registry().try_clone()?,
        timer_off: AtomicBool::new(true),
        track_rx: plan.options.idle.is_some(),
        direct_rx: RxCounts::default(),
        outbox: Mutex::new(VecDeque::new()),
        queued: AtomicUsize::new(0),
        waker,
        live: AtomicBool::new(true),
        closing: AtomicBool::new(false),
        reconnects: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        unsent: AtomicU64::new(0),
        protocol: Mutex::new(first.protocol().map(str::to_owned)),
        done: Mutex::new(false),
        done_cond: Condvar::new(),
    });
    let worker = Worker {
        poll,
        events: Events::with_capacity(8),
        shared: shared.clone(),
        seed: seed(&plan),
        plan,
        level: 0,
    };
    let handle = std::thread::Builder::new()
        .name("wsdial-worker".into())
        .stack_size(512 * 1024)
        .spawn(move || worker.run(first))?;
    Ok((shared, handle))
}

struct Worker {
    poll: Poll,
    events: Events,
    shared: Arc<Shared>,
    plan: Plan,
    /// Backoff step: the next delay is `interval * 2^level`, capped.
    level: u32,
    seed: u64,
}

/// The takeover timer: when, and the direct reads seen when it was set.
#[derive(Clone, Copy)]
struct Takeover {
    at: Instant,
    reads: u64,
}

/// What one drain of the socket did.
enum Drained {
    /// Nothing arrived.
    Nothing,
    /// Something arrived; the socket is empty now.
    Read,
    /// A program thread is waiting to read: reading is handed to it.
    HandedOver,
}

impl Worker {
    fn run(mut self, first: Box<AnyLink>) {
        let url = self.plan.target.url().to_owned();
        let mut link = first;
        loop {
            let started = Instant::now();
            let lost = self.session(link);
            self.shared.live.store(false, Ordering::Release);
            let unsent = self.shared.take_outbox().len();
            if unsent > 0 {
                self.shared
                    .unsent
                    .fetch_add(unsent as u64, Ordering::Relaxed);
                log::warn!(
                    "{url}: {unsent} queued message(s) not sent before the connection was lost"
                );
            }
            if self.closing() {
                log::debug!("{url}: closed");
                break;
            }
            let reconnect = self.plan.options.reconnect;
            log::warn!(
                "{url}: disconnected: {lost}{}",
                if reconnect { "; reconnecting" } else { "" }
            );
            self.shared.inbox.lost(lost, !reconnect);
            if !reconnect {
                break;
            }
            if started.elapsed() >= self.plan.options.backoff_cap() {
                self.level = 0;
            }
            match self.reconnect() {
                Some(l) => link = l,
                None => break,
            }
        }
        *self.shared.done.lock() = true;
        self.shared.done_cond.notify_all();
    }

    fn closing(&self) -> bool {
        self.shared.closing.load(Ordering::Acquire)
    }

    /// Dials until it works, the retries run out, or the program closes.
    fn reconnect(&mut self) -> Option<Box<AnyLink>> {
        let url = self.plan.target.url().to_owned();
        let opts = &self.plan.options;
        let (retry, timeout) = (opts.retry, opts.timeout);
        let mut failures = 0u32;
        loop {
            let delay = self.next_delay();
            if !self.pause(delay) {
                return None;
            }
            log::info!("{url}: reconnect attempt {} after {delay:?}", failures + 1);
            match link::dial(&self.plan, Instant::now() + timeout) {
                Ok(l) if !self.closing() => {
                    let n = self.shared.reconnects.fetch_add(1, Ordering::Relaxed) + 1;
                    *self.shared.protocol.lock() = l.protocol().map(str::to_owned);
                    log::info!("{url}: reconnected (reconnect #{n})");
                    return Some(l);
                }
                Ok(_) => return None,
                Err(e) => {
                    failures += 1;
                    log::warn!("{url}: reconnect attempt {failures} failed: {e}");
                    if retry > 0 && failures >= retry {
                        log::error!("{url}: giving up after {failures} failed reconnect attempts");
                        let d = Disconnect::new(
                            Cause::GaveUp,
                            format!(
                                "gave up after {failures} failed reconnect attempts; last: {e}"
                            ),
                        );
                        self.shared.inbox.lost(d, true);
                        return None;
                    }
                }
            }
            if self.closing() {
                return None;
            }
        }
    }

    /// `interval * 2^level` capped at `max_interval`, with up to 25% jitter
    /// taken off when backing off; a fixed `interval` has no jitter.
    fn next_delay(&mut self) -> Duration {
        let o = &self.plan.options;
        let cap = o.backoff_cap();
        let base = o
            .interval
            .saturating_mul(1u32 << self.level.min(20))
            .min(cap);
        if cap <= o.interval || base.is_zero() {
            return base;
        }
        self.level += 1;
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let frac = (self.seed % 1000) as f64 / 4000.0; // 0 .. 0.25
        base.mul_f64(1.0 - frac)
    }

    /// Waits `d`, or less if the program closes; false when closing.
    fn pause(&mut self, d: Duration) -> bool {
        let until = Instant::now() + d;
        while !self.closing() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            if let Err(e) = self.poll.poll(&mut self.events, Some(left)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return true;
                }
            }
        }
        false
    }

    /// Serves one live connection until it is lost or the program closes.
    fn session(&mut self, link: Box<AnyLink>) -> Disconnect {
        let fd = link.fd().as_raw_fd();
        let reg = self.poll.registry().register(
            &mut SourceFd(&fd),
            SOCK,
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = reg {
            return Disconnect::new(Cause::Io, format!("cannot watch the socket: {e}"));
        }
        {
            let mut slot = self.shared.slot.lock();
            slot.link = Some(link);
            slot.failed = None;
            slot.last_rx = Instant::now();
            slot.sock = None;
            slot.watching = Watch::All;
            self.shared.direct.store(false, Ordering::Relaxed);
        }
        let lost = match self.greet() {
            Ok(()) => {
                self.shared.live.store(!self.closing(), Ordering::Release);
                self.serve().unwrap_err()
            }
            Err(d) => d,
        };
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        // The socket closes here, outside the lock.
        let link = self.shared.slot.lock().link.take();
        drop(link);
        self.shared.ring();
        lost
    }

    /// Sends the on-connect messages, then the payloads, before anything the program queued.
    fn greet(&mut self) -> Result<(), Disconnect> {
        let mut slot = self.shared.slot.lock();
        let link = slot.link()?;
        if let Some(f) = &self.shared.hooks.on_connect {
            for m in f() {
                link.send(Outgoing::Text(m))?;
            }
        }
        for p in &self.plan.options.payloads {
            link.send(Outgoing::Text(p.clone()))?;
        }
        link.flush().map(drop)
    }

    fn serve(&mut self) -> Result<(), Disconnect> {
        let opts = &self.plan.options;
        let (ping, ping_msg, idle) = (opts.ping, opts.ping_msg.clone(), opts.idle);
        let mut next_ping = ping.map(|p| Instant::now() + p);
        let mut takeover: Option<Takeover> = None;
        let mut batch = Vec::with_capacity(BATCH);
        let mut last_rx = Instant::now();
        let mut called = true;
        loop {
            if self.closing() {
                return Err(self.close_link(&mut batch));
            }
            let now = Instant::now();
            if !called && self.stand_aside(now, &mut takeover, next_ping, idle.map(|i| last_rx + i))
            {
                self.wait(idle.map(|i| last_rx + i), next_ping, takeover)?;
                called = false;
                continue;
            }
            let shared = self.shared.clone();
            let mut slot = shared.slot.lock();
            let step = self.step(
                &mut slot,
                &mut batch,
                &mut takeover,
                &mut next_ping,
                ping_msg.as_deref(),
                ping,
                idle,
            );
            last_rx = slot.last_rx;
            if let Err(d) = step {
                // Nobody reads a failed link: it leaves the slot under the same lock.
                let dead = slot.link.take();
                drop(slot);
                drop(dead);
                return Err(d);
            }
            drop(slot);
            called = self.wait(idle.map(|i| last_rx + i), next_ping, takeover)?;
        }
    }

    /// True when this wake-up needs nothing from the worker: a program thread
    /// reads the socket (or waits on it), nobody called, and no timer is due.
    /// It then stays off the slot, so the reader never waits for it. Arms the
    /// takeover timer if it is not armed, and starts a new period when it is
    /// due and the program has read since (all without the slot).
    fn stand_aside(
        &self,
        now: Instant,
        takeover: &mut Option<Takeover>,
        next_ping: Option<Instant>,
        idle_at: Option<Instant>,
    ) -> bool {
        let shared = &self.shared;
        let aside = (shared.leader.load(Ordering::SeqCst) || shared.direct.load(Ordering::Relaxed))
            && next_ping.is_none_or(|p| now < p)
            && idle_at.is_none_or(|i| now < i);
        if !aside {
            return false;
        }
        match takeover {
            // A waiting leader strands nothing: no timer until it reads.
            None if shared.leader.load(Ordering::SeqCst) => true,
            None => {
                shared.timer_off.store(false, Ordering::Relaxed);
                *takeover = Some(Takeover {
                    at: now + TAKEOVER,
                    reads: shared.direct_reads.load(Ordering::Relaxed),
                });
                true
            }
            Some(t) if now < t.at => true,
            // The program read meanwhile: a new period, without the slot (which
            // it is likely to be holding).
            Some(t) => {
                let reads = shared.direct_reads.load(Ordering::Relaxed);
                if reads == t.reads {
                    return false;
                }
                *takeover = Some(Takeover {
                    at: now + TAKEOVER,
                    reads,
                });
                true
            }
        }
    }

    /// Waits for the socket, a call from the program (the waker), or the
    /// nearest timer; true when the program called.
    fn wait(
        &mut self,
        idle_at: Option<Instant>,
        next_ping: Option<Instant>,
        takeover: Option<Takeover>,
    ) -> Result<bool, Disconnect> {
        let timeout = [idle_at, next_ping, takeover.map(|t| t.at)]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.saturating_duration_since(Instant::now()));
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(Disconnect::new(Cause::Io, format!("poll failed: {e}")));
            }
        }
        // A writable socket matters only with output pending (see `watch_writes`).
        Ok(self
            .events
            .iter()
            .any(|e| e.token() == WAKE || (e.token() == SOCK && e.is_writable())))
    }

    /// One wake-up's work, holding the slot: queued writes, reading (unless a
    /// program thread is reading), flushing, and the timers.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        slot: &mut Slot,
        batch: &mut Vec<crate::Message>,
        takeover: &mut Option<Takeover>,
        next_ping: &mut Option<Instant>,
        ping_msg: Option<&str>,
        ping: Option<Duration>,
        idle: Option<Duration>,
    ) -> Result<(), Disconnect> {
        if let Some(d) = slot.failed.take() {
            return Err(d);
        }
        let shared = &self.shared;
        let now = Instant::now();
        self.send_queued(slot.link()?)?;
        // A program thread reads the socket itself (`direct`), or waits on it
        // (`leader`): the worker stands aside, with a timer to take reading back
        // if the program stops. A waiting leader strands nothing, so with no
        // reads for a whole period the timer goes off (an idle connection stays
        // asleep) until the next direct read turns it on again.
        let leading = shared.leader.load(Ordering::SeqCst);
        let direct = shared.direct.load(Ordering::Relaxed);
        let reads = shared.direct_reads.load(Ordering::Relaxed);
        let arm = Takeover {
            at: now + TAKEOVER,
            reads,
        };
        let mut take_back = false;
        if leading || direct {
            // Direct reads update `direct_reads` holding the slot, as this does:
            // no read can slip between the look and `timer_off`.
            *takeover = match *takeover {
                None if leading => None,
                None => Some(arm),
                Some(t) if now < t.at => Some(t),
                Some(t) if reads != t.reads => Some(arm),
                Some(_) if leading => None,
                Some(_) => {
                    // The program paused: read for it again.
                    take_back = true;
                    None
                }
            };
        }
        if take_back {
            shared.direct.store(false, Ordering::Relaxed);
        }
        if (!leading && !direct) || take_back {
            *takeover = None;
            shared.watch(slot, true);
            shared.timer_off.store(true, Ordering::Relaxed);
            match self.drain(slot, batch)? {
                Drained::Nothing => {}
                Drained::Read => slot.last_rx = now,
                Drained::HandedOver => {
                    slot.last_rx = now;
                    shared.watch(slot, false);
                    *takeover = Some(Takeover {
                        at: Instant::now() + TAKEOVER,
                        reads: shared.direct_reads.load(Ordering::Relaxed),
                    });
                }
            }
        }
        shared
            .timer_off
            .store(takeover.is_none(), Ordering::Relaxed);
        if !slot.link()?.flush()? {
            shared.watch_writes(slot);
        }
        let now = Instant::now();
        if let Some(idle) = idle {
            if now >= slot.last_rx + idle {
                return Err(Disconnect::new(
                    Cause::Idle,
                    format!("nothing received for {} ms (idle)", idle.as_millis()),
                ));
            }
        }
        if let (Some(p), Some(at)) = (ping, *next_ping) {
            if now >= at {
                let link = slot.link()?;
                link.ping(ping_msg)?;
                link.flush()?;
                *next_ping = Some(now + p);
            }
        }
        Ok(())
    }

    /// Hands the program's queued writes to the link.
    fn send_queued(&self, link: &mut AnyLink) -> Result<(), Disconnect> {
        if self.shared.queued.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        let q = self.shared.take_outbox();
        let n = q.len() as u64;
        for m in q {
            link.send(m)?;
        }
        self.shared.sent.fetch_add(n, Ordering::Relaxed);
        link.flush().map(drop)
    }

    /// Reads until the socket has nothing more. Every `BATCH` messages it pushes
    /// them and serves queued writes, so a flood cannot hold a write back; and if
    /// a program thread is waiting to read with an empty inbox, it hands reading
    /// over to it (the program then reads at the speed of a plain loop).
    fn drain(
        &self,
        slot: &mut Slot,
        batch: &mut Vec<crate::Message>,
    ) -> Result<Drained, Disconnect> {
        let shared = &self.shared;
        let priority = shared.hooks.priority.as_deref();
        let link = slot.link()?;
        let mut any = false;
        let result = loop {
            match link.read(false) {
                Ok(Incoming::Message(m)) => {
                    any = true;
                    match shared.screen(link, &m) {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(d) => break Err(d),
                    }
                    batch.push(m);
                    if batch.len() >= BATCH {
                        shared.inbox.push_all(batch, priority);
                        if let Err(d) = self.send_queued(link) {
                            break Err(d);
                        }
                        if shared.wanting.load(Ordering::Relaxed) > 0 {
                            shared.direct.store(true, Ordering::Relaxed);
                            break Ok(Drained::HandedOver);
                        }
                    }
                }
                Ok(Incoming::Control) => any = true,
                Ok(Incoming::WouldBlock) => {
                    break Ok(if any { Drained::Read } else { Drained::Nothing })
                }
                Err(d) => break Err(d),
            }
        };
        // Whatever arrived before a loss is delivered before its marker.
        shared.inbox.push_all(batch, priority);
        result
    }

    /// Sends a close frame and waits a little for the peer's answer.
    fn close_link(&mut self, batch: &mut Vec<crate::Message>) -> Disconnect {
        let bye = Disconnect::new(Cause::ClosedByUser, "closed by the program");
        let shared = self.shared.clone();
        {
            let mut slot = shared.slot.lock();
            let Ok(link) = slot.link() else {
                return bye;
            };
            if link.close().and_then(|_| link.flush()).is_err() {
                return bye;
            }
        }
        let until = Instant::now() + CLOSE_LINGER;
        loop {
            {
                let mut slot = shared.slot.lock();
                shared.direct.store(false, Ordering::Relaxed);
                match self.drain(&mut slot, batch) {
                    Err(_) => return bye,
                    Ok(_) => {
                        if let Ok(link) = slot.link() {
                            let _ = link.flush();
                        }
                    }
                }
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return bye;
            }
            let _ = self.poll.poll(&mut self.events, Some(left));
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

/// A per-connection seed for the backoff jitter.
fn seed(plan: &Plan) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let h = plan
        .target
        .url()
        .bytes()
        .fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
    (t ^ h) | 1
}
