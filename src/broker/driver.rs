//! The broker driver: one thread per connection ("wsdial-broker") around a
//! [`Protocol`], the same for every broker.
//!
//! The thread makes the first connection (the dial waits for its result, at
//! most `timeout` and a little grace), then loops on [`Session::recv_batch`] and
//! hands what arrives to the seam in batches (counted, drop-oldest). On a
//! lost connection it marks the seam (one `Disconnected` per lost connection,
//! after the messages that came before it) and, with `reconnect`, dials again
//! under the shared [`backoff`](crate::backoff) policy; the protocol's
//! `connect` subscribes again, and the `payload`s are published again (at
//! least `pace` apart) before anything the program writes.
//!
//! The program's writes are published on the program's thread through the
//! session's [`Publish`] handle; a write made while the payloads are still
//! going out waits in the outbox and follows them.
//!
//! When the session's [program readers](Session::program_readers) allow
//! (Kafka's, AMQP's), a program thread that finds the inbox empty reads the
//! session itself while it keeps up, and the thread stands aside: see
//! [`handoff`].
//!
//! `recv_batch` waits at most [`RECV_SLICE`] at a time: that slice is how long
//! `close()` may wait for the thread to notice (plus the session's own polite
//! close, bounded by [`CLOSE_LINGER`]), and an idle connection wakes
//! `1 / RECV_SLICE` times a second.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use self::handoff::Handoff;
use super::{Protocol, Publish, Session};
use crate::backoff::{self, Backoff};
use crate::error::{Error, ErrorKind};
use crate::inbox::Wait;
use crate::message::Disconnect;
use crate::options::Options;
use crate::seam::{Direct, Driver, Outgoing, Pushed, Seam};

mod handoff;

/// The longest one `recv_batch` waits: the close latency and the idle wake-up period.
pub(crate) const RECV_SLICE: Duration = Duration::from_millis(100);

/// How long a session may take to end politely at close.
pub(crate) const CLOSE_LINGER: Duration = Duration::from_millis(1000);

/// Messages taken from the session before they are handed to the seam together.
const BATCH: usize = 64;

/// Where writes go now.
enum Out {
    /// No session: a write returns 0.
    Down,
    /// A session is up and its payloads are going out: writes wait in the outbox.
    Greeting,
    /// Up: writes are published through this handle (`None`: nothing to publish to).
    Up(Option<Arc<dyn Publish>>),
}

/// What the driver's thread and the program's threads share.
struct Shared {
    seam: Arc<Seam>,
    out: Mutex<Out>,
    /// The session, and who reads it.
    handoff: Handoff,
    /// Set by `close`; wakes the thread's pauses.
    stop: Mutex<bool>,
    stop_cond: Condvar,
    done: Mutex<bool>,
    done_cond: Condvar,
}

impl Shared {
    fn set_done(&self) {
        *self.done.lock() = true;
        self.done_cond.notify_all();
    }

    /// Waits `d` unless closed meanwhile; false if closed.
    fn pause(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        let mut stop = self.stop.lock();
        while !*stop && !self.seam.is_closed() {
            if self.stop_cond.wait_until(&mut stop, until).timed_out() {
                break;
            }
        }
        !*stop && !self.seam.is_closed()
    }
}

/// A broker connection's driver: the shared state and the thread.
pub(crate) struct BrokerDriver {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// The first connection's outcome, as the thread tells the dial.
enum First {
    Up,
    /// It failed and `retry_first` is on: the thread keeps dialing.
    Retrying,
    Failed(Error),
}

/// Starts the driver's thread for `protocol` and waits for the first
/// connection: its error is the dial's, unless `retry_first`.
pub(crate) fn start(
    protocol: Box<dyn Protocol>,
    url: &str,
    options: &Options,
) -> Result<(Arc<Seam>, Box<dyn Driver>), Error> {
    let seam = Arc::new(Seam::new(options.qsize, options.qbytes, None));
    let shared = Arc::new(Shared {
        seam: seam.clone(),
        out: Mutex::new(Out::Down),
        handoff: Handoff::new(options.qsize),
        stop: Mutex::new(false),
        stop_cond: Condvar::new(),
        done: Mutex::new(false),
        done_cond: Condvar::new(),
    });
    let (tx, rx) = mpsc::sync_channel(1);
    let thread = Thread {
        shared: shared.clone(),
        protocol,
        options: options.clone(),
        url: url.to_owned(),
        backoff: Backoff::new(options, url),
    };
    let handle = std::thread::Builder::new()
        .name("wsdial-broker".into())
        .spawn(move || thread.run(tx))?;
    let driver = BrokerDriver {
        shared,
        thread: Mutex::new(Some(handle)),
    };
    // The protocol is given `timeout`; the grace covers a client that
    // overshoots it a little. Past that the dial gives up on it.
    let grace = Duration::from_secs(1);
    match rx.recv_timeout(options.timeout + grace) {
        Ok(First::Up) | Ok(First::Retrying) => Ok((seam, Box::new(driver))),
        Ok(First::Failed(e)) => {
            driver.join(grace);
            Err(e)
        }
        Err(_) => {
            // Still dialing (or the thread died): it stops at its next look at the seam.
            seam.close();
            driver.close();
            Err(Error::new(
                ErrorKind::Tcp,
                format!(
                    "{url}: no connection to the broker within the timeout ({:?})",
                    options.timeout
                ),
            )
            .timed_out())
        }
    }
}

impl Driver for BrokerDriver {
    fn read_direct(&self, wait: Wait) -> Direct {
        self.shared.read_direct(wait)
    }

    fn read_latest_direct(&self) -> Direct {
        self.shared.read_latest_direct()
    }

    fn release_direct(&self) {
        self.shared.release_direct();
    }

    fn send(&self, m: Outgoing) -> usize {
        let seam = &self.shared.seam;
        if !seam.is_connected() {
            return 0;
        }
        let c = &seam.counters;
        let publisher = match &*self.shared.out.lock() {
            Out::Down | Out::Up(None) => return 0,
            Out::Greeting => {
                let len = m.len();
                return match seam.outbox.push(m) {
                    Pushed::First | Pushed::More => len,
                    Pushed::Full => {
                        c.add(&c.rejected, 1);
                        0
                    }
                    Pushed::Shut => 0,
                };
            }
            Out::Up(Some(p)) => p.clone(),
        };
        if publisher.publish(&m) {
            c.add(&c.sent, 1);
            m.len()
        } else {
            c.add(&c.unsent, 1);
            0
        }
    }

    fn close(&self) {
        *self.shared.stop.lock() = true;
        self.shared.stop_cond.notify_all();
        self.shared.handoff.ring();
    }

    fn join(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut done = self.shared.done.lock();
        while !*done {
            if self
                .shared
                .done_cond
                .wait_until(&mut done, deadline)
                .timed_out()
            {
                break;
            }
        }
        let finished = *done;
        drop(done);
        // A thread still in a connect finishes it on its own and exits.
        if finished {
            if let Some(h) = self.thread.lock().take() {
                let _ = h.join();
            }
        }
    }
}

/// The driver's thread.
struct Thread {
    shared: Arc<Shared>,
    protocol: Box<dyn Protocol>,
    options: Options,
    url: String,
    backoff: Backoff,
}

impl Thread {
    fn run(mut self, first: mpsc::SyncSender<First>) {
        let seam = self.shared.seam.clone();
        let url = self.url.clone();
        let connected = self.protocol.connect(Instant::now() + self.options.timeout);
        let session = match connected {
            Ok(s) => {
                // Writes made as soon as the dial returns wait for the payloads.
                *self.shared.out.lock() = Out::Greeting;
                let _ = first.send(First::Up);
                Some(s)
            }
            Err(e) if self.options.retry_first => {
                log::warn!("{url}: first connect failed: {e}; retrying (retry_first)");
                seam.down();
                backoff::refused(&seam, &mut self.backoff, &e);
                let _ = first.send(First::Retrying);
                None
            }
            Err(e) => {
                seam.down();
                let _ = first.send(First::Failed(e));
                self.shared.set_done();
                return;
            }
        };
        drop(first);
        let Some(mut session) = session.or_else(|| self.redial()) else {
            self.shared.set_done();
            return;
        };
        loop {
            let started = Instant::now();
            self.shared.handoff.slot.lock().session = Some(session);
            let lost = self.serve();
            // No program thread reads it from now on.
            let ended = self.shared.handoff.take_session();
            *self.shared.out.lock() = Out::Down;
            seam.down();
            self.count_unsent();
            if let Some(mut ended) = ended {
                if seam.is_closed() {
                    ended.close(Instant::now() + CLOSE_LINGER);
                }
                self.shared.count_undelivered(&mut *ended, true);
            }
            if seam.is_closed() {
                log::debug!("{url}: closed");
                break;
            }
            let reconnect = self.options.reconnect;
            log::warn!(
                "{url}: disconnected: {lost}{}",
                if reconnect { "; reconnecting" } else { "" }
            );
            seam.lost(lost, !reconnect);
            if !reconnect {
                break;
            }
            self.backoff.connection_lasted(started.elapsed());
            match self.redial() {
                Some(s) => session = s,
                None => break,
            }
        }
        self.shared.set_done();
    }

    /// Dials again under the reconnect policy; `None` when closed or given up.
    fn redial(&mut self) -> Option<Box<dyn Session>> {
        let Thread {
            shared,
            protocol,
            options,
            url,
            backoff,
        } = self;
        backoff::redial(
            &shared.seam,
            options,
            url,
            backoff,
            |d| shared.pause(d),
            |deadline| protocol.connect(deadline),
        )
    }

    /// Writes queued while the connection was going down are not sent: counted.
    fn count_unsent(&self) {
        let seam = &self.shared.seam;
        let n = seam.outbox.take().len() as u64;
        if n > 0 {
            seam.counters.add(&seam.counters.unsent, n);
            log::warn!(
                "{}: {n} queued message(s) not published before the connection was lost",
                self.url
            );
        }
    }

    /// Serves the session in the slot: the payloads, then what the program
    /// queued meanwhile, then reads until it is lost or the program closes
    /// (`Err` either way).
    fn serve(&mut self) -> Disconnect {
        let seam = self.shared.seam.clone();
        let publisher = {
            let slot = self.shared.handoff.slot.lock();
            slot.session.as_ref().and_then(|s| s.publisher())
        };
        *self.shared.out.lock() = Out::Greeting;
        if !seam.up() {
            return closed();
        }
        let payloads = self.options.payloads.clone();
        for (i, p) in payloads.into_iter().enumerate() {
            if let (Some(pace), true) = (self.options.pace, i > 0) {
                if let Err(d) = self.read_for(pace) {
                    return d;
                }
            }
            match &publisher {
                Some(pb) if pb.publish(&Outgoing::Text(p)) => {}
                Some(_) => return Disconnect::new(crate::message::Cause::Io, "publish failed"),
                None => log::warn!("{}: a payload has no topic to be published to", self.url),
            }
        }
        {
            // What the program wrote meanwhile follows, in order; from now on
            // it publishes on its own thread.
            let mut out = self.shared.out.lock();
            for m in seam.outbox.take() {
                let c = &seam.counters;
                match &publisher {
                    Some(pb) if pb.publish(&m) => c.add(&c.sent, 1),
                    _ => c.add(&c.unsent, 1),
                }
            }
            *out = Out::Up(publisher);
        }
        self.shared.handoff.open();
        loop {
            if let Err(d) = self.read_for(RECV_SLICE) {
                return d;
            }
        }
    }

    /// Reads for about `d` (one `recv_batch` wait, then what is ready), handing
    /// what arrives to the seam, or stands aside while a program thread
    /// reads. `Err` when lost (here or on a program thread) or closed.
    fn read_for(&mut self, d: Duration) -> Result<(), Disconnect> {
        let shared = &*self.shared;
        let h = &shared.handoff;
        let until = Instant::now() + d;
        let mut timer = None;
        loop {
            if shared.seam.is_closed() {
                return Err(closed());
            }
            if h.stands_aside(&mut timer, until) {
                if Instant::now() >= until {
                    return Ok(());
                }
                continue;
            }
            let mut guard = h.slot.lock();
            if h.program_reads() {
                // A program thread took the slot first.
                continue;
            }
            let slot = &mut *guard;
            if let Some(d) = slot.failed.take() {
                return Err(d);
            }
            let Some(session) = slot.session.as_deref_mut() else {
                return Err(closed());
            };
            let left = until.saturating_duration_since(Instant::now());
            let lost = session.recv_batch(left, &mut slot.batch, BATCH).err();
            let got = shared.take_in(session, &mut slot.batch);
            if let Some(d) = lost {
                return Err(d);
            }
            if got {
                h.hand_over_if_wanted();
            }
            drop(guard);
            if Instant::now() >= until {
                return Ok(());
            }
        }
    }
}

fn closed() -> Disconnect {
    Disconnect::new(crate::message::Cause::ClosedByUser, "closed by the program")
}

#[cfg(test)]
mod tests;
