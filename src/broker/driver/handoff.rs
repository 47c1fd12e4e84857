//! Who reads a broker session when: the driver's thread, or the program's
//! own thread, for a session that [reads on any
//! thread](crate::broker::Session::program_readers) (Kafka's, AMQP's).
//!
//! A hand-off through the inbox costs two queue operations, a copy of the
//! batch between threads and a thread wake-up, and it puts a second thread
//! beside the client's own on a machine that may have two cores. So, as the
//! socket driver does (`crate::socket::handoff`, which this follows in a
//! simpler form), a program that keeps up reads the session itself:
//!
//! - The session sits in a [`Slot`] behind a mutex; whoever holds it may read
//!   it. The driver's thread reads it and fills the inbox until a program
//!   read finds the inbox empty and takes the slot.
//! - From then on (`program` set) the program's thread reads the session, a
//!   batch at a time into the inbox, and the read returns the batch's first
//!   message from there. The driver's thread stands aside with a takeover
//!   timer: when the program makes no direct read for [`TAKEOVER`] and does
//!   not wait in the session, the driver's thread reads again, so the inbox
//!   fills while the program is busy elsewhere, and the client is polled as
//!   it needs to be (Kafka's `max.poll.interval.ms`).
//! - A read that finds the slot held (the driver's thread is inside a
//!   `recv_batch`) waits on the inbox and asks for the session (`wanting`);
//!   the driver's thread hands it over after its next batch that brought
//!   something. A thread the session's `program_readers` refuse (AMQP's,
//!   inside a program's tokio runtime) does not ask: it only waits on the
//!   inbox, and the driver's thread reads on.
//! - A loss that a program thread's read runs into is left in the slot
//!   (`failed`) for the driver's thread, which ends the session and dials
//!   again as for any loss: its `Disconnected` follows the messages read
//!   before it.
//!
//! Order is kept: only the slot's holder adds to the inbox, and a program
//! thread reads the session only with the slot held and the inbox empty, so
//! whatever waits in the inbox is older than anything the session still has.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::{Shared, BATCH, RECV_SLICE};
use crate::broker::Session;
use crate::inbox::Wait;
use crate::message::{Disconnect, Message};
use crate::seam::Direct;

/// How long a program thread that reads the session itself may pause before
/// the driver's thread reads again.
pub(super) const TAKEOVER: Duration = Duration::from_millis(10);
/// How long a read waits for the slot while the driver's thread holds it (a
/// batch takes microseconds; a `recv_batch` with nothing to read, up to
/// [`RECV_SLICE`]: then the read waits on the inbox instead).
const SLOT_PATIENCE: Duration = Duration::from_micros(200);
/// Messages one `read_latest` may take from the session to find the newest.
const LATEST_LIMIT: usize = 4096;

/// The session and what goes with reading it; held by whoever reads.
#[derive(Default)]
pub(super) struct Slot {
    /// The live session (`None` between sessions).
    pub(super) session: Option<Box<dyn Session>>,
    /// A loss a program thread ran into, for the driver's thread.
    pub(super) failed: Option<Disconnect>,
    /// What one `recv_batch` appends to, reused.
    pub(super) batch: Vec<(Message, bool)>,
}

/// The hand-off's state (see the module docs).
pub(super) struct Handoff {
    pub(super) slot: Mutex<Slot>,
    /// A program thread may take the slot: the session reads on any thread
    /// and its greeting is over. Changed only with the slot held.
    open: AtomicBool,
    /// Which program threads may read it (`Session::program_readers`).
    may_read: OnceLock<fn() -> bool>,
    /// A program thread reads the session; the driver's thread stands aside.
    program: AtomicBool,
    /// A program thread waits inside the session for a message (the
    /// takeover timer does not take the session from a waiting reader).
    waiting: AtomicBool,
    /// A read found the slot held: hand the session over after a batch.
    wanting: AtomicBool,
    /// Direct reads so far: the takeover timer's sign of life.
    reads: AtomicU64,
    /// Wakes the driver's thread while it stands aside.
    bell: Mutex<bool>,
    bell_cond: Condvar,
    /// The most messages one direct read takes: the batch, at most the
    /// inbox's size (so a read does not push out what it has not returned).
    max: usize,
}

impl Handoff {
    pub(super) fn new(qsize: usize) -> Handoff {
        Handoff {
            slot: Mutex::default(),
            open: AtomicBool::new(false),
            may_read: OnceLock::new(),
            program: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            wanting: AtomicBool::new(false),
            reads: AtomicU64::new(0),
            bell: Mutex::new(false),
            bell_cond: Condvar::new(),
            max: BATCH.min(qsize).max(1),
        }
    }

    /// Wakes the driver's thread if it stands aside.
    pub(super) fn ring(&self) {
        *self.bell.lock() = true;
        self.bell_cond.notify_all();
    }

    /// Waits for the bell until `until`.
    fn wait_bell(&self, until: Instant) {
        let mut rung = self.bell.lock();
        if !*rung {
            self.bell_cond.wait_until(&mut rung, until);
        }
        *rung = false;
    }

    /// The greeting is over: a program thread may read the session from
    /// now on, if its [`program_readers`](Session::program_readers) allow.
    pub(super) fn open(&self) {
        let slot = self.slot.lock();
        let may = slot.session.as_ref().and_then(|s| s.program_readers());
        if let Some(may) = may {
            // One protocol per connection: the same test for every session.
            let _ = self.may_read.set(may);
        }
        self.open.store(may.is_some(), Ordering::Release);
    }

    /// Takes the session back for the driver's thread to end it (after a
    /// loss or a close): no program thread reads it from now on.
    pub(super) fn take_session(&self) -> Option<Box<dyn Session>> {
        let mut slot = self.slot.lock();
        self.open.store(false, Ordering::Release);
        self.program.store(false, Ordering::Release);
        self.wanting.store(false, Ordering::Relaxed);
        slot.failed = None;
        slot.batch.clear();
        slot.session.take()
    }

    /// The driver's thread, after a batch that brought something: a program
    /// read asked for the session, so it reads from now on.
    pub(super) fn hand_over_if_wanted(&self) {
        if self.open.load(Ordering::Acquire) && self.wanting.swap(false, Ordering::AcqRel) {
            self.program.store(true, Ordering::Release);
        }
    }

    /// Whether the driver's thread stands aside now: while a program thread
    /// reads, waits (at most until `until`) for the bell or the takeover
    /// timer and says true; false when the driver's thread is to read,
    /// because no program thread does or because the one that did paused for
    /// a whole [`TAKEOVER`] (the timer's state is in `timer`: when it runs
    /// out, and the direct reads seen when it was set).
    pub(super) fn stands_aside(&self, timer: &mut Option<(Instant, u64)>, until: Instant) -> bool {
        if !self.program_reads() {
            *timer = None;
            return false;
        }
        let now = Instant::now();
        let reads = self.reads.load(Ordering::Relaxed);
        let at = match *timer {
            Some((at, seen)) if now >= at => {
                if seen == reads && !self.waiting.load(Ordering::Acquire) {
                    // The program paused: read for it again.
                    self.program.store(false, Ordering::Release);
                    *timer = None;
                    return false;
                }
                now + TAKEOVER
            }
            Some((at, _)) => at,
            None => now + TAKEOVER,
        };
        if timer.is_none_or(|(old, _)| old != at) {
            *timer = Some((at, reads));
        }
        self.wait_bell(at.min(until));
        true
    }

    /// Whether a program thread reads the session (the driver's thread
    /// stands aside).
    pub(super) fn program_reads(&self) -> bool {
        self.program.load(Ordering::Acquire)
    }

    /// A program thread reads the session (it holds the slot).
    fn mark_direct(&self) {
        self.program.store(true, Ordering::Release);
        let n = self.reads.load(Ordering::Relaxed);
        self.reads.store(n + 1, Ordering::Relaxed);
    }

    /// A program thread gives reading back at once, waking the driver's thread.
    fn to_thread(&self) {
        self.program.store(false, Ordering::Release);
        self.ring();
    }
}

impl Shared {
    /// Hands what a `recv_batch` appended to the inbox (counted, drop-oldest)
    /// and counts what the client crate dropped or could not deliver;
    /// whether anything came.
    pub(super) fn take_in(
        &self,
        session: &mut dyn Session,
        batch: &mut Vec<(Message, bool)>,
    ) -> bool {
        let got = !batch.is_empty();
        if got {
            self.seam.deliver(batch);
        }
        let dropped = session.dropped();
        if dropped > 0 {
            let c = &self.seam.counters;
            c.add(&c.dropped, dropped);
            log::warn!("{dropped} message(s) dropped by the broker client: the connection's thread fell behind");
        }
        self.count_undelivered(session, false);
        got
    }

    /// Counts as `unsent` what the session could not deliver (see
    /// [`Session::undelivered`]).
    pub(super) fn count_undelivered(&self, session: &mut dyn Session, ending: bool) {
        let n = session.undelivered(ending);
        if n > 0 {
            let c = &self.seam.counters;
            c.add(&c.unsent, n);
            log::warn!("{n} published message(s) not delivered by the broker client");
        }
    }

    /// The slot for a program thread's read, when it may read the session
    /// now; else what the read is to do (take the inbox's events first, or
    /// wait on the inbox).
    fn take_slot(&self, patience: Duration) -> Result<MutexGuard<'_, Slot>, Direct> {
        let h = &self.handoff;
        // Before asking for the slot: a thread that may not read the session
        // must not have the driver's thread stand aside for it.
        if !h.open.load(Ordering::Acquire) || !h.may_read.get().is_some_and(|may| may()) {
            return Err(Direct::Nothing);
        }
        let slot = if patience.is_zero() {
            h.slot.try_lock()
        } else {
            h.slot.try_lock_for(patience)
        };
        let Some(slot) = slot else {
            h.wanting.store(true, Ordering::Release);
            return Err(if self.seam.inbox.has_events() {
                Direct::Buffered
            } else {
                Direct::Nothing
            });
        };
        // Only the slot's holder adds to the inbox: empty now, it holds
        // nothing older than what the session has.
        if self.seam.inbox.has_events() {
            return Err(Direct::Buffered);
        }
        if !h.open.load(Ordering::Acquire) || slot.session.is_none() || slot.failed.is_some() {
            return Err(Direct::Nothing);
        }
        Ok(slot)
    }

    /// A program thread's read with an empty inbox: reads a batch from the
    /// session on this thread into the inbox (`Buffered`: take it from
    /// there), waiting as `wait` allows, in slices of at most [`RECV_SLICE`]
    /// so that a close or a takeover is seen between them.
    pub(super) fn read_direct(&self, wait: Wait) -> Direct {
        let h = &self.handoff;
        let patience = match wait {
            Wait::Never => Duration::ZERO,
            _ => SLOT_PATIENCE,
        };
        loop {
            let mut guard = match self.take_slot(patience) {
                Ok(g) => g,
                Err(d) => return d,
            };
            let slot = &mut *guard;
            let Some(session) = slot.session.as_deref_mut() else {
                return Direct::Nothing;
            };
            let timeout = match wait {
                Wait::Never => Duration::ZERO,
                Wait::Forever => RECV_SLICE,
                Wait::Until(d) => d.saturating_duration_since(Instant::now()).min(RECV_SLICE),
            };
            h.mark_direct();
            h.waiting.store(!timeout.is_zero(), Ordering::Release);
            let lost = session.recv_batch(timeout, &mut slot.batch, h.max).err();
            h.waiting.store(false, Ordering::Release);
            let got = self.take_in(session, &mut slot.batch);
            if let Some(d) = lost {
                slot.failed = Some(d);
                drop(guard);
                h.to_thread();
                return if got {
                    Direct::Buffered
                } else {
                    Direct::Nothing
                };
            }
            if got {
                return Direct::Buffered;
            }
            match wait {
                // The takeover timer covers a pause after a `try_read`.
                Wait::Never => return Direct::Nothing,
                Wait::Until(d) if Instant::now() >= d => {
                    // The wait ran out: the driver's thread fills the inbox
                    // while the program is elsewhere.
                    drop(guard);
                    h.to_thread();
                    return Direct::Nothing;
                }
                _ => {}
            }
            drop(guard);
            if self.seam.is_closed() {
                return Direct::Nothing;
            }
        }
    }

    /// `read_latest` with an empty inbox: takes what the session has (up to
    /// [`LATEST_LIMIT`] messages) and returns the newest; the older ones are
    /// counted as received and discarded.
    pub(super) fn read_latest_direct(&self) -> Direct {
        let h = &self.handoff;
        let mut guard = match self.take_slot(SLOT_PATIENCE) {
            Ok(g) => g,
            Err(d) => return d,
        };
        let slot = &mut *guard;
        let Some(session) = slot.session.as_deref_mut() else {
            return Direct::Nothing;
        };
        h.mark_direct();
        let lost = session
            .recv_batch(Duration::ZERO, &mut slot.batch, LATEST_LIMIT)
            .err();
        let c = &self.seam.counters;
        let newest = slot.batch.pop().map(|(m, _)| m);
        let older = slot.batch.len() as u64;
        for (m, _) in slot.batch.drain(..) {
            c.received(&m);
        }
        c.add(&c.discarded, older);
        if let Some(m) = &newest {
            c.received(m);
        }
        // Counted with the inbox's drops, as after any batch.
        self.take_in(session, &mut slot.batch);
        if let Some(d) = lost {
            slot.failed = Some(d);
            drop(guard);
            h.to_thread();
        }
        newest.map_or(Direct::Nothing, Direct::Message)
    }

    /// Gives reading back to the driver's thread at once (before `select`
    /// waits on the inbox), instead of after the takeover pause.
    pub(super) fn release_direct(&self) {
        let h = &self.handoff;
        if h.program.swap(false, Ordering::AcqRel) {
            h.ring();
        }
    }
}
