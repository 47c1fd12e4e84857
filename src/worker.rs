//! The background worker: the only place that owns a connection's socket.
//!
//! It waits for readiness, not for data: `mio` tells it when the socket is
//! readable or writable, or when the program has queued a write or asked to
//! close (a [`Waker`]). Each wake-up it sends what was queued, reads everything
//! that has arrived (until the socket says `WouldBlock`, so TLS-buffered bytes are
//! never stranded), and flushes, pongs included. The poll timeout is the nearest
//! timer (ping, idle), so an idle connection with no timers never wakes up.
//! After a lost connection it reconnects (when told to) with backoff, and sends
//! the on-connect messages and payloads again before any queued write.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::{Condvar, Mutex};

use crate::error::Error;
use crate::hooks::{Hooks, Reply};
use crate::inbox::Inbox;
use crate::link::{self, Incoming, Link, Outgoing};
use crate::message::{Cause, Disconnect};
use crate::transport::Plan;

const SOCK: Token = Token(0);
const WAKE: Token = Token(1);
/// How long `close()` waits for the peer to answer our close frame.
pub(crate) const CLOSE_LINGER: Duration = Duration::from_millis(1000);
/// Messages read before the worker looks at the program's queued writes again.
const BATCH: usize = 64;

/// What the program's side (`Conn`) and the worker share.
pub(crate) struct Shared {
    pub(crate) inbox: Inbox,
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
        let _ = self.waker.wake();
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
        hooks,
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
    hooks: Hooks,
    /// Backoff step: the next delay is `interval * 2^level`, capped.
    level: u32,
    seed: u64,
}

impl Worker {
    fn run(mut self, mut link: Box<dyn Link>) {
        let url = self.plan.target.url().to_owned();
        loop {
            let started = Instant::now();
            let lost = self.session(&mut *link);
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
            drop(link);
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
    fn reconnect(&mut self) -> Option<Box<dyn Link>> {
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
    fn session(&mut self, link: &mut dyn Link) -> Disconnect {
        let fd = link.fd();
        let reg = self.poll.registry().register(
            &mut SourceFd(&fd),
            SOCK,
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = reg {
            return Disconnect::new(Cause::Io, format!("cannot watch the socket: {e}"));
        }
        let lost = match self.greet(link) {
            Ok(()) => {
                self.shared.live.store(!self.closing(), Ordering::Release);
                self.serve(link).unwrap_err()
            }
            Err(d) => d,
        };
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        lost
    }

    /// Sends the on-connect messages, then the payloads, before anything the program queued.
    fn greet(&mut self, link: &mut dyn Link) -> Result<(), Disconnect> {
        if let Some(f) = &self.hooks.on_connect {
            for m in f() {
                link.send(Outgoing::Text(m))?;
            }
        }
        for p in &self.plan.options.payloads {
            link.send(Outgoing::Text(p.clone()))?;
        }
        link.flush().map(drop)
    }

    fn serve(&mut self, link: &mut dyn Link) -> Result<(), Disconnect> {
        let opts = &self.plan.options;
        let (ping, ping_msg, idle) = (opts.ping, opts.ping_msg.clone(), opts.idle);
        let mut last_rx = Instant::now();
        let mut next_ping = ping.map(|p| last_rx + p);
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            if self.closing() {
                return Err(self.close_link(link, &mut batch));
            }
            self.send_queued(link)?;
            if self.drain(link, &mut batch)? {
                last_rx = Instant::now();
            }
            link.flush()?;

            let now = Instant::now();
            if let Some(idle) = idle {
                if now >= last_rx + idle {
                    return Err(Disconnect::new(
                        Cause::Idle,
                        format!("nothing received for {} ms (idle)", idle.as_millis()),
                    ));
                }
            }
            if let (Some(p), Some(at)) = (ping, next_ping) {
                if now >= at {
                    link.ping(ping_msg.as_deref())?;
                    link.flush()?;
                    next_ping = Some(now + p);
                }
            }
            let timeout = [idle.map(|i| last_rx + i), next_ping]
                .into_iter()
                .flatten()
                .min()
                .map(|t| t.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut self.events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(Disconnect::new(Cause::Io, format!("poll failed: {e}")));
                }
            }
        }
    }

    /// Hands the program's queued writes to the link.
    fn send_queued(&self, link: &mut dyn Link) -> Result<(), Disconnect> {
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

    /// Reads until the socket has nothing more; true if anything arrived.
    /// Every `BATCH` messages it pushes them and serves queued writes, so a flood
    /// cannot hold a write back.
    fn drain(
        &self,
        link: &mut dyn Link,
        batch: &mut Vec<crate::Message>,
    ) -> Result<bool, Disconnect> {
        let mut any = false;
        let result = loop {
            match link.read() {
                Ok(Incoming::Message(m)) => {
                    any = true;
                    if let Some(f) = &self.hooks.auto_reply {
                        let (reply, keep) = match f(&m) {
                            Reply::Pass => (None, true),
                            Reply::Send(r) => (Some(r), false),
                            Reply::SendAndKeep(r) => (Some(r), true),
                            Reply::Skip => (None, false),
                        };
                        if let Some(r) = reply {
                            if let Err(d) = link.send(Outgoing::Text(r)).and_then(|_| link.flush())
                            {
                                break Err(d);
                            }
                        }
                        if !keep {
                            continue;
                        }
                    }
                    batch.push(m);
                    if batch.len() >= BATCH {
                        self.shared
                            .inbox
                            .push_all(batch, self.hooks.priority.as_deref());
                        if let Err(d) = self.send_queued(link) {
                            break Err(d);
                        }
                    }
                }
                Ok(Incoming::Control) => any = true,
                Ok(Incoming::WouldBlock) => break Ok(any),
                Err(d) => break Err(d),
            }
        };
        // Whatever arrived before a loss is delivered before its marker.
        self.shared
            .inbox
            .push_all(batch, self.hooks.priority.as_deref());
        result
    }

    /// Sends a close frame and waits a little for the peer's answer.
    fn close_link(&mut self, link: &mut dyn Link, batch: &mut Vec<crate::Message>) -> Disconnect {
        let bye = Disconnect::new(Cause::ClosedByUser, "closed by the program");
        if link.close().and_then(|_| link.flush()).is_err() {
            return bye;
        }
        let until = Instant::now() + CLOSE_LINGER;
        loop {
            match self.drain(link, batch) {
                Err(_) => return bye,
                Ok(_) => {
                    let _ = link.flush();
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
