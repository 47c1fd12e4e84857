//! The socket driver's background thread.
//!
//! It owns the connection's life. It waits for readiness, not for data: `mio`
//! tells it when the socket is readable or writable, or when the program has
//! queued a write or asked to close (a [`Waker`](mio::Waker)). The poll timeout
//! is the nearest timer (the [`keepalive`](super::keepalive), idle, takeover,
//! rotation), so an idle connection wakes once per keepalive period, and never
//! without one. After a lost connection it reconnects (when told to)
//! through the shared policy in [`backoff`](crate::backoff), and sends the
//! on-connect messages, payloads and subscriptions again before any queued
//! write. With `max_age` it replaces the connection before it gets that old
//! (see [`rotate`](super::rotate)). When a program thread reads the socket
//! itself, it stands aside (see [`handoff`](super::handoff)).

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll};

use super::handoff::{Handoff, Reader, Slot, Watch, SOCK, TAKEOVER, WAKE};
use super::keepalive::Keepalive;
use super::rotate::Rotation;
use crate::backoff::{self, Backoff};
use crate::link::{self, AnyLink, Incoming, Link};
use crate::message::{Cause, Disconnect, Message};
use crate::transport::Plan;

/// How long `close()` waits for the peer to answer our close frame.
pub(crate) const CLOSE_LINGER: Duration = Duration::from_millis(1000);

/// Messages read before the worker pushes them, serves queued writes, and looks
/// for a program thread that wants to read the socket itself.
const BATCH: usize = 64;

pub(crate) struct Worker {
    pub(crate) poll: Poll,
    pub(crate) events: Events,
    pub(crate) shared: Arc<Handoff>,
    pub(crate) plan: Arc<Plan>,
    pub(crate) backoff: Backoff,
    pub(crate) rotation: Rotation,
}

/// The takeover timer: when, and the direct reads seen when it was set.
#[derive(Clone, Copy)]
struct Takeover {
    at: Instant,
    reads: u64,
}

/// What one drain of the socket did.
pub(super) enum Drained {
    /// Nothing arrived.
    Nothing,
    /// Something arrived; the socket is empty now.
    Read,
    /// A program thread is waiting to read: reading is handed to it.
    HandedOver,
}

impl Worker {
    /// Serves the connection until it is closed or lost for good. Without a
    /// first link (`retry_first` after a failed first dial) it dials first,
    /// as a reconnect does.
    pub(crate) fn run(mut self, first: Option<Box<AnyLink>>) {
        let url = self.plan.shown.clone();
        let seam = self.shared.seam.clone();
        let Some(mut link) = first.or_else(|| self.redial(&url)) else {
            self.shared.set_done();
            return;
        };
        loop {
            let started = Instant::now();
            let lost = self.session(link);
            seam.down();
            let unsent = seam.outbox.take().len() as u64;
            seam.outbox.set_in_link(0);
            if unsent > 0 {
                seam.counters.add(&seam.counters.unsent, unsent);
                log::warn!(
                    "{url}: {unsent} queued message(s) not sent before the connection was lost"
                );
            }
            if seam.is_closed() {
                log::debug!("{url}: closed");
                break;
            }
            let reconnect = self.plan.options.reconnect;
            log::warn!(
                "{url}: disconnected: {lost}{}",
                if reconnect { "; reconnecting" } else { "" }
            );
            seam.lost(lost, !reconnect);
            if !reconnect {
                break;
            }
            self.backoff.connection_lasted(started.elapsed());
            match self.redial(&url) {
                Some(l) => link = l,
                None => break,
            }
        }
        self.shared.set_done();
    }

    /// Dials again under the reconnect policy (see [`backoff::redial`]); the
    /// new link, or `None` when closed or given up.
    fn redial(&mut self, url: &str) -> Option<Box<AnyLink>> {
        let Worker {
            poll,
            events,
            plan,
            backoff,
            shared,
            ..
        } = self;
        let seam = &shared.seam;
        let next = backoff::redial(
            seam,
            &plan.options,
            url,
            backoff,
            |d| pause(poll, events, seam, d),
            |deadline| link::dial(plan, deadline),
        );
        if let Some(l) = &next {
            seam.set_protocol(l.protocol());
            seam.set_extensions(l.extensions());
        }
        next
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
            slot.heard = true;
            slot.sock = None;
            slot.watching = Watch::All;
            self.shared.reader.reset();
        }
        self.rotation_begin();
        let lost = match self.greet() {
            Ok(()) => self.serve().unwrap_err(),
            Err(d) => d,
        };
        self.rotation_end();
        let fd = self.rotation.current_fd(fd);
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        // The socket closes here, outside the lock.
        let link = self.shared.slot.lock().link.take();
        drop(link);
        self.shared.ring();
        lost
    }

    /// Marks the seam up, then sends the on-connect messages, the payloads
    /// and the subscriptions, holding the slot, so anything the program
    /// writes meanwhile queues behind them. `on_connect` runs here, on the
    /// worker thread, before the slot is taken.
    fn greet(&mut self) -> Result<(), Disconnect> {
        let fresh = self.shared.hooks.on_connect.as_ref().map(|f| f());
        let mut greeting: Vec<String> = fresh.into_iter().flatten().collect();
        greeting.extend(self.plan.options.payloads.iter().cloned());
        self.send_greeting(greeting)
    }

    fn serve(&mut self) -> Result<(), Disconnect> {
        let opts = &self.plan.options;
        let idle = opts.idle;
        let mut keepalive = Keepalive::new(opts, Instant::now());
        let mut takeover: Option<Takeover> = None;
        let mut batch = Vec::with_capacity(BATCH);
        let mut last_rx = Instant::now();
        let mut called = true;
        loop {
            if self.shared.seam.is_closed() {
                return Err(self.close_link(&mut batch));
            }
            if self.rotate() {
                // A new connection: its timers start over.
                keepalive = Keepalive::new(&self.plan.options, Instant::now());
                takeover = None;
                called = true;
            }
            let now = Instant::now();
            let idle_at = idle.map(|i| last_rx + i);
            if !called && self.stand_aside(now, &mut takeover, keepalive.next(), idle_at) {
                self.wait(idle_at, keepalive.next(), takeover)?;
                called = false;
                continue;
            }
            let shared = self.shared.clone();
            let mut slot = shared.slot.lock();
            let step = self.step(&mut slot, &mut batch, &mut takeover, &mut keepalive, idle);
            last_rx = slot.last_rx;
            if let Err(d) = step {
                // Nobody reads a failed link: it leaves the slot under the same lock.
                let dead = slot.link.take();
                drop(slot);
                drop(dead);
                if self.rotate_on_loss() {
                    log::info!(
                        "{}: connection lost during its rotation: {d}",
                        self.plan.shown
                    );
                    keepalive = Keepalive::new(&self.plan.options, Instant::now());
                    takeover = None;
                    called = true;
                    continue;
                }
                return Err(d);
            }
            drop(slot);
            called = self.wait(idle.map(|i| last_rx + i), keepalive.next(), takeover)?;
        }
    }

    /// True when this wake-up needs nothing from the worker: a program thread
    /// reads the socket (or waits on it), nobody called, and no timer is due
    /// (`next_ping`: the keepalive's next time, a ping or the end of its wait).
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
        let reader = shared.reader.get();
        let aside = reader != Reader::Worker
            && next_ping.is_none_or(|p| now < p)
            && idle_at.is_none_or(|i| now < i);
        if !aside {
            return false;
        }
        match takeover {
            // A waiting reader strands nothing: no timer until it reads.
            None if reader == Reader::Waiting => true,
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
            .chain([self.rotation.deadline()])
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
    fn step(
        &self,
        slot: &mut Slot,
        batch: &mut Vec<(Message, bool)>,
        takeover: &mut Option<Takeover>,
        keepalive: &mut Keepalive,
        idle: Option<Duration>,
    ) -> Result<(), Disconnect> {
        if let Some(d) = slot.failed.take() {
            return Err(d);
        }
        let shared = &self.shared;
        let now = Instant::now();
        self.send_queued(slot.link()?)?;
        // A program thread reads the socket itself (`Program`), or waits on it
        // (`Waiting`): the worker stands aside, with a timer to take reading
        // back if the program stops. A waiting reader strands nothing, so with
        // no reads for a whole period the timer goes off (an idle connection
        // stays asleep) until the next direct read turns it on again. A program
        // thread that found the slot busy (`wanting`) waits on the inbox: the
        // worker reads for it at once.
        let reader = shared.reader.get();
        let wanting = shared.wanting.swap(false, Ordering::SeqCst);
        let reads = shared.direct_reads.load(Ordering::Relaxed);
        let arm = Takeover {
            at: now + TAKEOVER,
            reads,
        };
        let mut take_back = false;
        if reader != Reader::Worker {
            *takeover = match *takeover {
                _ if wanting && reader == Reader::Program => {
                    take_back = true;
                    None
                }
                None if reader == Reader::Waiting => None,
                None => Some(arm),
                Some(t) if now < t.at => Some(t),
                Some(t) if reads != t.reads => Some(arm),
                Some(_) if reader == Reader::Waiting => None,
                Some(_) => {
                    // The program paused: read for it again.
                    take_back = true;
                    None
                }
            };
        }
        if take_back && !shared.reader.to_worker() {
            // A program thread started waiting on the socket meanwhile.
            take_back = false;
        }
        if reader == Reader::Worker || take_back {
            *takeover = None;
            shared.watch(slot, true);
            shared.timer_off.store(true, Ordering::Relaxed);
            match self.drain(slot, batch)? {
                Drained::Nothing => {}
                Drained::Read => {
                    slot.last_rx = now;
                    slot.heard = true;
                }
                Drained::HandedOver => {
                    slot.last_rx = now;
                    slot.heard = true;
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
        shared.seam.outbox.set_in_link(slot.link()?.unflushed());
        let now = Instant::now();
        if let Some(idle) = idle {
            if now >= slot.last_rx + idle {
                return Err(Disconnect::new(
                    Cause::Idle,
                    format!("nothing received for {} ms (idle)", idle.as_millis()),
                ));
            }
        }
        keepalive.tick(slot, now)
    }

    /// Hands the program's queued writes to the link.
    fn send_queued(&self, link: &mut AnyLink) -> Result<(), Disconnect> {
        let seam = &self.shared.seam;
        if seam.outbox.is_empty() {
            return Ok(());
        }
        let q = seam.outbox.take();
        let n = q.len() as u64;
        for m in q {
            link.send(m)?;
        }
        seam.counters.add(&seam.counters.sent, n);
        link.flush().map(drop)
    }

    /// Reads until the socket has nothing more. Every `BATCH` messages it
    /// delivers them and serves queued writes, so a flood cannot hold a write
    /// back; and if a program thread is waiting to read with an empty inbox, it
    /// hands reading over to it (the program then reads at the speed of a
    /// plain loop). Hooks run here, on the worker thread.
    pub(super) fn drain(
        &self,
        slot: &mut Slot,
        batch: &mut Vec<(Message, bool)>,
    ) -> Result<Drained, Disconnect> {
        let shared = &self.shared;
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
                    let high = shared.is_high(&m);
                    batch.push((m, high));
                    if batch.len() >= BATCH {
                        shared.seam.deliver(batch);
                        if let Err(d) = self.send_queued(link) {
                            break Err(d);
                        }
                        if shared.wanting.swap(false, Ordering::SeqCst) {
                            shared.reader.to_program();
                            break Ok(Drained::HandedOver);
                        }
                    }
                }
                Ok(Incoming::Control) => {
                    any = true;
                    if let Some(rtt) = link.take_rtt() {
                        shared.seam.counters.pong(rtt);
                    }
                }
                Ok(Incoming::WouldBlock) => {
                    break Ok(if any { Drained::Read } else { Drained::Nothing })
                }
                Err(d) => break Err(d),
            }
        };
        // Whatever arrived before a loss is delivered before its marker.
        shared.seam.deliver(batch);
        result
    }

    /// Sends a close frame and waits a little for the peer's answer, watching
    /// the socket itself whoever was reading it.
    fn close_link(&mut self, batch: &mut Vec<(Message, bool)>) -> Disconnect {
        let bye = Disconnect::new(Cause::ClosedByUser, "closed by the program");
        let shared = self.shared.clone();
        {
            let mut slot = shared.slot.lock();
            shared.reader.reset();
            shared.watch(&mut slot, true);
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

/// Waits `d`, or less if the program closes (the waker wakes the poll); false
/// when closing.
fn pause(poll: &mut Poll, events: &mut Events, seam: &crate::seam::Seam, d: Duration) -> bool {
    let until = Instant::now() + d;
    while !seam.is_closed() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        if let Err(e) = poll.poll(events, Some(left)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return true;
            }
        }
    }
    false
}
