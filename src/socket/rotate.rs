//! Planned rotation (`max_age`): the worker replaces its connection before it
//! is `max_age` old, make-before-break, so the program sees no gap and no
//! `Disconnected`.
//!
//! 1. When the connection is `max_age - lead` old (`lead`: the dial deadline,
//!    at most half of `max_age`), a short-lived thread (`wsdial-rotate`)
//!    dials the replacement, so the worker keeps serving the current one
//!    meanwhile; it hands the new link over and wakes the worker.
//! 2. The worker greets the new link as every connection is greeted
//!    (`on_connect`, the payloads, the subscriptions), on the worker thread,
//!    and reads it, holding what it delivers. With `pace`, one message of the
//!    greeting goes each `pace` (the worker wakes for it), subscriptions made
//!    meanwhile included, and the switch waits until all have gone.
//! 3. The switch comes [`OVERLAP`] after the new link's first message (or
//!    when the current one reaches `max_age`, or is lost, or the held
//!    messages reach the buffer's capacity). Holding the slot, the worker
//!    delivers what the old socket has, sends the subscriptions made since
//!    the greeting on the new link, delivers the held messages, and puts the
//!    new link in the slot (hand-off state reset, as for a new connection; a
//!    thread waiting on the old socket is woken through the bell).
//! 4. The old link gets a close frame and lingers (read and discarded) until
//!    the peer answers or [`CLOSE_LINGER`] passes.
//!
//! What may be seen twice: both connections carry the feed during the
//! overlap, and the switch delivers the old one's messages first, then
//! every message the new one delivered since its first. The program can see
//! the messages of the last `OVERLAP` (and whatever the new connection's
//! server starts with, such as a snapshot) twice, each connection's in their
//! order; nothing is skipped unless the old connection's server runs more
//! than `OVERLAP` behind the new one's. Writes go to the old connection until
//! the switch: a reply to a request written just before it comes on the old
//! connection and is not delivered.
//!
//! A replacement that cannot be dialed or greeted is logged, and tried again
//! under the reconnect policy ([`backoff`](crate::backoff): `interval`, backing
//! off to `max_interval`, at least what a refusal's `Retry-After` asked, and
//! at least [`RETRY_MIN`]); the current connection goes on meanwhile, and a
//! refusal is not an event (the program's connection is not lost). The
//! backoff starts over at each switch. If the current connection is lost
//! before the new one delivered anything, that is an ordinary loss
//! (`Disconnected`, then reconnect as configured): the new one is dropped.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Token};

use super::greeting::send_all;
use super::handoff::{Watch, SOCK};
use super::worker::{Worker, CLOSE_LINGER};
use crate::backoff::Backoff;
use crate::error::{Error, ErrorKind};
use crate::link::{self, AnyLink, Incoming, Link, Outgoing};
use crate::message::Message;
use crate::options::Options;
use crate::seam::SubMark;

/// The poll token of the replacement link, before the switch.
pub(crate) const NEXT: Token = Token(2);
/// The poll token of the replaced link, while it lingers for the close answer.
pub(crate) const OLD: Token = Token(3);

/// How long both connections carry the feed before the switch, from the new
/// one's first message: what the old connection's server may run behind the
/// new one's without a gap.
pub(crate) const OVERLAP: Duration = Duration::from_millis(50);
/// The least wait before trying a failed replacement again.
const RETRY_MIN: Duration = Duration::from_millis(100);
/// Reads of the old socket at the switch (it may be flooding).
const DRAIN_LIMIT: usize = 4096;

/// The worker's rotation state; inert without `max_age`.
pub(crate) struct Rotation {
    max_age: Option<Duration>,
    /// The waits between failed replacements; starts over at each switch.
    backoff: Backoff,
    /// When the current connection came up.
    born: Instant,
    /// When to dial its replacement (again).
    due: Option<Instant>,
    phase: Phase,
    /// The replaced link, lingering for its close answer until the deadline.
    closing: Option<(Box<AnyLink>, Instant)>,
    /// The current link's socket, when a rotation replaced the first one.
    fd: Option<RawFd>,
}

enum Phase {
    Idle,
    Dialing(Receiver<Result<Box<AnyLink>, Error>>),
    Ready(Box<Next>),
}

/// A replacement link, greeted (or being greeted, with `pace`), and what it
/// delivered so far.
struct Next {
    link: Box<AnyLink>,
    mark: SubMark,
    /// With `pace`: the rest of its greeting, one sent each `pace`.
    pending: VecDeque<String>,
    /// When the next of `pending` may go.
    next_send: Instant,
    held: Vec<(Message, bool)>,
    held_bytes: usize,
    /// `OVERLAP` after its first message.
    switch_at: Option<Instant>,
}

impl Rotation {
    pub(crate) fn new(o: &Options, url: &str) -> Rotation {
        Rotation {
            max_age: o.max_age,
            backoff: Backoff::new(o, url),
            born: Instant::now(),
            due: None,
            phase: Phase::Idle,
            closing: None,
            fd: None,
        }
    }

    /// The socket in use now: `first`'s, unless a rotation replaced it.
    pub(crate) fn current_fd(&self, first: RawFd) -> RawFd {
        self.fd.unwrap_or(first)
    }

    /// A new connection is up: its replacement is due `max_age - lead` from now.
    fn start(&mut self, now: Instant, timeout: Duration) {
        self.born = now;
        self.due = self
            .max_age
            .map(|age| now + age.saturating_sub(timeout.min(age / 2)));
    }

    /// The next time the worker must look at the rotation, if any.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let phase = match &self.phase {
            Phase::Idle => self.due,
            // The dialing thread wakes the worker.
            Phase::Dialing(_) => None,
            Phase::Ready(n) => {
                let by_age = self.max_age.map(|a| self.born + a);
                let send = (!n.pending.is_empty()).then_some(n.next_send);
                [n.switch_at, by_age, send].into_iter().flatten().min()
            }
        };
        [phase, self.closing.as_ref().map(|c| c.1)]
            .into_iter()
            .flatten()
            .min()
    }

    /// True when a replacement has delivered: it can take over from a lost
    /// connection without a gap.
    pub(crate) fn can_take_over(&self) -> bool {
        matches!(&self.phase, Phase::Ready(n) if n.switch_at.is_some())
    }
}

impl Worker {
    /// A session begins: no replacement yet, the next one due after `max_age - lead`.
    pub(crate) fn rotation_begin(&mut self) {
        let timeout = self.plan.options.timeout;
        self.rotation.start(Instant::now(), timeout);
        self.rotation.fd = None;
    }

    /// A session ends: whatever the rotation holds goes (a dial under way
    /// finishes on its own thread, and its link is dropped there).
    pub(crate) fn rotation_end(&mut self) {
        let reg = self.poll.registry();
        if let Phase::Ready(n) = std::mem::replace(&mut self.rotation.phase, Phase::Idle) {
            let _ = reg.deregister(&mut SourceFd(&n.link.fd().as_raw_fd()));
        }
        if let Some((old, _)) = self.rotation.closing.take() {
            let _ = reg.deregister(&mut SourceFd(&old.fd().as_raw_fd()));
        }
    }

    /// The rotation's work at a wake-up (cheap when there is none): dial,
    /// greet, read the replacement, switch. True when it switched: the serve
    /// loop starts its timers over.
    pub(crate) fn rotate(&mut self) -> bool {
        self.linger();
        let Some(max_age) = self.rotation.max_age else {
            return false;
        };
        let now = Instant::now();
        match std::mem::replace(&mut self.rotation.phase, Phase::Idle) {
            Phase::Idle => {
                if self.rotation.due.is_some_and(|d| now >= d) {
                    self.rotation.due = None;
                    self.rotation.phase = self.dial_next();
                }
                false
            }
            Phase::Dialing(rx) => match rx.try_recv() {
                Err(TryRecvError::Empty) => {
                    self.rotation.phase = Phase::Dialing(rx);
                    false
                }
                Err(TryRecvError::Disconnected) => self.retry("the dialing thread ended".into()),
                Ok(Err(e)) => {
                    // A refusal's `Retry-After` is obeyed.
                    if e.kind() == ErrorKind::Handshake && e.http_status().is_some() {
                        self.rotation.backoff.obey(e.retry_after());
                    }
                    self.retry(e.to_string())
                }
                Ok(Ok(link)) => match self.greet_next(link) {
                    Ok(next) => {
                        self.rotation.phase = Phase::Ready(next);
                        // It may have delivered already.
                        self.rotate()
                    }
                    Err(why) => self.retry(why),
                },
            },
            Phase::Ready(mut next) => {
                if let Err(why) = self
                    .read_next(&mut next)
                    .and_then(|_| self.pace_next(&mut next))
                {
                    let _ = self
                        .poll
                        .registry()
                        .deregister(&mut SourceFd(&next.link.fd().as_raw_fd()));
                    return self.retry(why);
                }
                let full = next.held.len() >= self.plan.options.qsize
                    || next.held_bytes >= self.plan.options.qbytes;
                let due = (next.switch_at.is_some_and(|t| now >= t) && next.pending.is_empty())
                    || now >= self.rotation.born + max_age
                    || full;
                if due {
                    self.switch(next)
                } else {
                    self.rotation.phase = Phase::Ready(next);
                    false
                }
            }
        }
    }

    /// The current connection was lost while a replacement had delivered:
    /// switch to it (no gap, no `Disconnected`). False when there is none.
    pub(crate) fn rotate_on_loss(&mut self) -> bool {
        if !self.rotation.can_take_over() {
            return false;
        }
        match std::mem::replace(&mut self.rotation.phase, Phase::Idle) {
            Phase::Ready(mut next) => self.read_next(&mut next).is_ok() && self.switch(next),
            _ => false,
        }
    }

    /// Starts the replacement's dial on its own thread.
    fn dial_next(&mut self) -> Phase {
        let (tx, rx) = mpsc::sync_channel(1);
        let plan = self.plan.clone();
        let shared = self.shared.clone();
        log::info!("{}: rotating the connection (max_age)", plan.shown);
        let spawned = std::thread::Builder::new()
            .name("wsdial-rotate".into())
            .stack_size(512 * 1024)
            .spawn(move || {
                let _ = tx.send(link::dial(&plan, Instant::now() + plan.options.timeout));
                shared.wake_worker();
            });
        match spawned {
            Ok(_) => Phase::Dialing(rx),
            Err(e) => {
                self.retry(format!("cannot start a thread: {e}"));
                Phase::Idle
            }
        }
    }

    /// The replacement failed: logged; the current connection goes on, and
    /// the replacement is tried again after the reconnect policy's next wait.
    fn retry(&mut self, why: String) -> bool {
        let wait = self.rotation.backoff.next_delay().max(RETRY_MIN);
        log::warn!(
            "{}: the connection's replacement (max_age) failed: {why}; the connection goes on, another try in {wait:?}",
            self.plan.shown
        );
        self.rotation.phase = Phase::Idle;
        self.rotation.due = Some(Instant::now() + wait);
        false
    }

    /// Greets a new link as every connection is greeted, and watches it.
    /// With `pace`, only its first message goes now, the rest one each
    /// `pace` (see [`Worker::pace_next`]), so the switch waits for them.
    fn greet_next(&mut self, mut link: Box<AnyLink>) -> Result<Box<Next>, String> {
        let (greeting, mark) = self.replacement_greeting();
        let mut pending = VecDeque::from(greeting);
        if self.plan.options.pace.is_some() {
            let first: Vec<String> = pending.pop_front().into_iter().collect();
            send_all(&mut link, first)
        } else {
            send_all(&mut link, pending.drain(..).collect())
        }
        .and_then(|_| link.flush().map(drop))
        .map_err(|d| format!("greeting the new connection: {d}"))?;
        let fd = link.fd().as_raw_fd();
        self.poll
            .registry()
            .register(
                &mut SourceFd(&fd),
                NEXT,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| format!("cannot watch the new socket: {e}"))?;
        let pace = self.plan.options.pace.unwrap_or_default();
        Ok(Box::new(Next {
            link,
            mark,
            pending,
            next_send: Instant::now() + pace,
            held: Vec::new(),
            held_bytes: 0,
            switch_at: None,
        }))
    }

    /// With `pace`: sends the next message of the replacement's greeting when
    /// it is due, and when none is left, takes the subscriptions made since
    /// as more of it (the greeting of a connection does the same).
    fn pace_next(&self, next: &mut Next) -> Result<(), String> {
        let Some(pace) = self.plan.options.pace else {
            return Ok(());
        };
        if next.pending.is_empty() {
            let (more, mark) = self.shared.seam.subscriptions.since(next.mark);
            next.mark = mark;
            next.pending.extend(more);
        }
        let now = Instant::now();
        if now < next.next_send {
            return Ok(());
        }
        if let Some(m) = next.pending.pop_front() {
            next.link
                .send(Outgoing::Text(m))
                .and_then(|_| next.link.flush().map(drop))
                .map_err(|d| format!("greeting the new connection: {d}"))?;
            next.next_send = now + pace;
        }
        Ok(())
    }

    /// Reads what the replacement has (holding its messages) and flushes it.
    fn read_next(&self, next: &mut Next) -> Result<(), String> {
        let shared = &self.shared;
        loop {
            match next.link.read(false) {
                Ok(Incoming::Message(m)) => {
                    if !shared
                        .screen(&mut next.link, &m)
                        .map_err(|d| d.to_string())?
                    {
                        continue;
                    }
                    if next.switch_at.is_none() {
                        next.switch_at = Some(Instant::now() + OVERLAP);
                    }
                    let high = shared.is_high(&m);
                    next.held_bytes += m.len();
                    next.held.push((m, high));
                }
                Ok(Incoming::Control) => {}
                Ok(Incoming::WouldBlock) => break,
                Err(d) => return Err(format!("the new connection was lost: {d}")),
            }
        }
        next.link.flush().map(drop).map_err(|d| d.to_string())
    }

    /// The switch (see the module docs). False when the replacement turned
    /// out unusable (it is dropped, and tried again).
    fn switch(&mut self, mut next: Box<Next>) -> bool {
        let shared = self.shared.clone();
        let seam = &shared.seam;
        let reg = self.poll.registry();
        let new_fd = next.link.fd().as_raw_fd();
        let mut slot = shared.slot.lock();
        if slot.failed.is_some() && next.switch_at.is_none() {
            // The old connection is lost and the new one has delivered
            // nothing: a gap is possible, so that is an ordinary loss.
            drop(slot);
            self.rotation.phase = Phase::Ready(next);
            return false;
        }
        // What the old connection has, first.
        let mut batch = Vec::new();
        if slot.failed.is_none() {
            if let Ok(old) = slot.link() {
                for _ in 0..DRAIN_LIMIT {
                    match old.read(false) {
                        Ok(Incoming::Message(m)) => match shared.screen(old, &m) {
                            Ok(true) => {
                                let high = shared.is_high(&m);
                                batch.push((m, high));
                            }
                            Ok(false) => {}
                            Err(_) => break,
                        },
                        Ok(Incoming::Control) => {}
                        Ok(Incoming::WouldBlock) | Err(_) => break,
                    }
                }
            }
        }
        // A switch forced before a paced greeting ended (`max_age` reached,
        // the buffer full, the old connection lost) sends the rest at once.
        // Then the subscriptions made since the greeting; writes queued until
        // now go to the old connection first (a subscription among them is
        // then not sent twice on the new one).
        let rest: Vec<String> = next.pending.drain(..).collect();
        let link = &mut next.link;
        let old_alive = slot.failed.is_none();
        let old = slot.link.as_deref_mut().filter(|_| old_alive);
        let caught = send_all(link, rest)
            .and_then(|_| {
                seam.subscriptions.catch_up(
                    next.mark,
                    false,
                    || hand_queued(seam, old),
                    |t| link.send(Outgoing::Text(t.to_owned())),
                )
            })
            .and_then(|exact| link.flush().map(|_| exact));
        let why = match caught {
            Ok(true) => None,
            Ok(false) => Some("an unsubscribe came while it was being prepared".to_owned()),
            Err(d) => Some(format!("the new connection was lost: {d}")),
        };
        seam.deliver(&mut batch);
        if let Some(why) = why {
            drop(slot);
            shared.ring();
            let _ = reg.deregister(&mut SourceFd(&new_fd));
            self.retry(why);
            // An unsubscribe: try again at once.
            self.rotation.due = Some(Instant::now());
            return false;
        }
        seam.deliver(&mut next.held);
        if slot.watching != Watch::Nothing {
            if let Some(old) = slot.link.as_deref() {
                let _ = reg.deregister(&mut SourceFd(&old.fd().as_raw_fd()));
            }
        }
        let all = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = reg.reregister(&mut SourceFd(&new_fd), SOCK, all) {
            slot.failed = Some(crate::message::Disconnect::new(
                crate::message::Cause::Io,
                format!("cannot watch the socket: {e}"),
            ));
        }
        seam.set_protocol(next.link.protocol());
        seam.set_extensions(next.link.extensions());
        seam.outbox.set_in_link(next.link.unflushed());
        let old = slot.link.replace(next.link);
        let old_failed = slot.failed.take().is_some();
        slot.last_rx = Instant::now();
        slot.sock = None;
        slot.watching = Watch::All;
        shared.reader.reset();
        seam.rotated();
        drop(slot);
        // A reader waiting on the old socket looks at the inbox now.
        shared.ring();
        self.rotation.fd = Some(new_fd);
        self.rotation
            .start(Instant::now(), self.plan.options.timeout);
        self.rotation.backoff = Backoff::new(&self.plan.options, self.plan.target.url());
        log::info!("{}: rotated to a new connection (max_age)", self.plan.shown);
        if let Some(mut old) = old.filter(|_| !old_failed) {
            let fd = old.fd().as_raw_fd();
            let bye = old.close().and_then(|_| old.flush());
            if bye.is_ok()
                && reg
                    .register(&mut SourceFd(&fd), OLD, Interest::READABLE)
                    .is_ok()
            {
                self.rotation.closing = Some((old, Instant::now() + CLOSE_LINGER));
            }
        }
        true
    }

    /// Serves the replaced link while it lingers: reads and discards until
    /// the peer's close answer, an error, or the deadline.
    fn linger(&mut self) {
        let Some((old, until)) = &mut self.rotation.closing else {
            return;
        };
        let done = Instant::now() >= *until
            || loop {
                match old.read(false) {
                    Ok(Incoming::WouldBlock) => break old.flush().is_err(),
                    Ok(_) => {}
                    Err(_) => break true,
                }
            };
        if done {
            if let Some((old, _)) = self.rotation.closing.take() {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&old.fd().as_raw_fd()));
            }
        }
    }
}

/// Hands the program's queued writes to the old connection at a switch
/// (they were written while it was the connection); lost ones are counted.
fn hand_queued(seam: &crate::seam::Seam, old: Option<&mut AnyLink>) {
    let Some(old) = old else { return };
    if seam.outbox.is_empty() {
        return;
    }
    let q = seam.outbox.take();
    let n = q.len() as u64;
    let c = &seam.counters;
    let sent = q.into_iter().try_for_each(|m| old.send(m));
    match sent.and_then(|_| old.flush()) {
        Ok(_) => c.add(&c.sent, n),
        Err(_) => c.add(&c.unsent, n),
    }
}
