//! The socket driver: `ws`, `wss`, `tcp`, `tls`, `udp` and `unix`, each a
//! [`link`](crate::link) served by one background thread per connection
//! ([`worker`]), with reads on the program's thread when it keeps up
//! ([`handoff`]).
//!
//! Hooks run on whichever thread reads the socket: the worker thread, or the
//! program's thread during a direct read (`auto_reply`, `priority`); and on
//! the worker thread at each connect (`on_connect`), a rotation's replacement
//! included ([`rotate`]: it is dialed on a short-lived `wsdial-rotate` thread,
//! and greeted and read on the worker thread). None runs under a lock that
//! another thread's `read` or `write` needs.

mod greeting;
mod handoff;
mod keepalive;
mod rotate;
mod worker;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Waker};
use parking_lot::Mutex;

use crate::backoff::Backoff;
use crate::error::Error;
use crate::hooks::Hooks;
use crate::inbox::Wait;
use crate::link::{self, Link};
use crate::seam::{Direct, Driver, Outgoing, Seam};
use crate::transport::Plan;

pub(crate) use worker::CLOSE_LINGER;

use handoff::{Handoff, WAKE};
use rotate::Rotation;
use worker::Worker;

/// A connection's socket driver: the hand-off state and the worker's thread.
struct SocketDriver {
    shared: Arc<Handoff>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Dials the first connection in the caller's thread (so its error is the
/// dial's result), then starts the worker with it.
pub(crate) fn start(plan: Plan, hooks: Hooks) -> Result<(Arc<Seam>, Box<dyn Driver>), Error> {
    let (seam, driver) = spawn(plan, hooks)?;
    Ok((seam, Box::new(driver)))
}

/// `start`, with the driver's type known (the unit tests look at its state).
fn spawn(plan: Plan, hooks: Hooks) -> Result<(Arc<Seam>, SocketDriver), Error> {
    let deadline = Instant::now() + plan.options.timeout;
    let url = &plan.shown;
    let mut backoff = Backoff::new(&plan.options, plan.target.url());
    let (first, failed) = match link::dial(&plan, deadline) {
        Ok(l) => (Some(l), None),
        // The program asked for a first dial that keeps trying: the worker
        // dials again, as for a reconnect; the connection is not up meanwhile.
        Err(e) if plan.options.retry_first => {
            log::warn!("{url}: first dial failed: {e}; retrying (retry_first)");
            (None, Some(e))
        }
        Err(e) => return Err(e),
    };
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKE)?;
    let o = &plan.options;
    let protocol = first.as_ref().and_then(|l| l.protocol().map(str::to_owned));
    let seam = Arc::new(Seam::new(o.qsize, o.qbytes, protocol).with_send_limit(o.sendq));
    if let Some(l) = &first {
        seam.set_extensions(l.extensions());
    }
    if let Some(e) = failed {
        seam.down();
        crate::backoff::refused(&seam, &mut backoff, &e);
    }
    let shared = Arc::new(Handoff::new(
        seam.clone(),
        hooks,
        poll.registry().try_clone()?,
        waker,
        o.idle.is_some(),
    ));
    let worker = Worker {
        poll,
        events: Events::with_capacity(8),
        shared: shared.clone(),
        backoff,
        rotation: Rotation::new(o, plan.target.url()),
        plan: Arc::new(plan),
    };
    let thread = std::thread::Builder::new()
        .name("wsdial-worker".into())
        .stack_size(512 * 1024)
        .spawn(move || worker.run(first))?;
    let driver = SocketDriver {
        shared,
        thread: Mutex::new(Some(thread)),
    };
    Ok((seam, driver))
}

impl Driver for SocketDriver {
    #[inline]
    fn read_direct(&self, wait: Wait) -> Direct {
        self.shared.read_direct(wait)
    }

    fn read_latest_direct(&self) -> Direct {
        self.shared.read_latest_direct()
    }

    fn release_direct(&self) {
        self.shared.release_direct()
    }

    fn send(&self, m: Outgoing) -> usize {
        self.shared.send(m)
    }

    fn close(&self) {
        self.shared.ring();
        self.shared.wake_worker();
    }

    fn join(&self, timeout: Duration) {
        let handle = self.thread.lock().take();
        // A worker in the middle of a dial finishes it on its own and exits.
        if let Some(h) = handle {
            if self.shared.wait_done(timeout) {
                let _ = h.join();
            }
        }
    }
}

#[cfg(test)]
mod tests;
