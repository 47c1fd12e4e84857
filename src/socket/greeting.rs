//! The greeting of each connection, paced: the messages sent at every
//! connect (`on_connect`'s, then the payloads, then the subscriptions), at
//! least `pace` apart when the address asks for it. Exchanges drop or ban
//! clients that subscribe faster than a few messages a second.

use std::io;
use std::time::{Duration, Instant};

use super::handoff::Slot;
use super::worker::{Drained, Worker};
use crate::link::{AnyLink, Link, Outgoing};
use crate::message::{Cause, Disconnect, Message};
use crate::seam::SubMark;

impl Worker {
    /// Marks the seam up and sends the greeting of the connection in the
    /// slot: `greeting` (`on_connect`'s messages and the payloads), then the
    /// subscriptions, then those made meanwhile (the catch-up, which ends the
    /// greeting: see [`Subscriptions`](crate::seam::Subscriptions)). All at
    /// once, or with `pace`, each message at least `pace` after the one
    /// before. It holds the slot throughout, so nothing the program writes
    /// goes first (it waits in the outbox); between two messages it keeps
    /// reading (Pings are answered, hooks run, the inbox fills). A close from
    /// the program ends it early: `serve` closes.
    pub(super) fn send_greeting(&mut self, mut greeting: Vec<String>) -> Result<(), Disconnect> {
        let pace = self.plan.options.pace;
        let shared = self.shared.clone();
        let seam = &shared.seam;
        let mut slot = shared.slot.lock();
        seam.up();
        let (subs, mut mark) = seam.subscriptions.snapshot();
        greeting.extend(subs);
        let mut batch = Vec::new();
        let mut first = true;
        loop {
            for m in greeting {
                if let (Some(pace), false) = (pace, first) {
                    if !self.read_for(&mut slot, &mut batch, pace)? {
                        return Ok(());
                    }
                }
                first = false;
                let link = slot.link()?;
                link.send(Outgoing::Text(m))?;
                if pace.is_some() {
                    link.flush()?;
                }
            }
            if pace.is_none() {
                break;
            }
            // Paced, subscriptions made during the greeting are paced too;
            // the catch-up below sends only one made in the last instant.
            let (more, next) = seam.subscriptions.since(mark);
            if more.is_empty() {
                break;
            }
            (greeting, mark) = (more, next);
        }
        let link = slot.link()?;
        seam.subscriptions.catch_up(
            mark,
            true,
            || {},
            |t| link.send(Outgoing::Text(t.to_owned())),
        )?;
        link.flush().map(drop)
    }

    /// The greeting of a rotation's replacement `link`, beside the current
    /// connection: `fresh` (from `on_connect`), the payloads, then the
    /// subscriptions, in order and unpaced (see [`rotate`](super::rotate) for
    /// how `pace` spaces them); the mark of the subscriptions sent, to catch
    /// up from at the switch.
    pub(super) fn replacement_greeting(&self) -> (Vec<String>, SubMark) {
        let fresh = self.shared.hooks.on_connect.as_ref().map(|f| f());
        let mut greeting: Vec<String> = fresh.into_iter().flatten().collect();
        greeting.extend(self.plan.options.payloads.iter().cloned());
        let (subs, mark) = self.shared.seam.subscriptions.snapshot();
        greeting.extend(subs);
        (greeting, mark)
    }

    /// Serves the link for `d` holding the slot: reads what arrives and
    /// flushes what is pending. False when the program closed meanwhile.
    fn read_for(
        &mut self,
        slot: &mut Slot,
        batch: &mut Vec<(Message, bool)>,
        d: Duration,
    ) -> Result<bool, Disconnect> {
        let until = Instant::now() + d;
        loop {
            if self.shared.seam.is_closed() {
                return Ok(false);
            }
            if !matches!(self.drain(slot, batch)?, Drained::Nothing) {
                slot.last_rx = Instant::now();
                slot.heard = true;
            }
            // This thread goes on reading: a program thread that asked for the
            // socket waits on the inbox, which it fills.
            self.shared.reader.to_worker();
            slot.link()?.flush()?;
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(true);
            }
            if let Err(e) = self.poll.poll(&mut self.events, Some(left)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(Disconnect::new(Cause::Io, format!("poll failed: {e}")));
                }
            }
        }
    }
}

/// Sends `greeting` on `link` (not flushed).
pub(super) fn send_all(link: &mut AnyLink, greeting: Vec<String>) -> Result<(), Disconnect> {
    greeting
        .into_iter()
        .try_for_each(|m| link.send(Outgoing::Text(m)))
}
