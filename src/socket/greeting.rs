//! The greeting of each connection, paced: the messages sent at every
//! connect (`on_connect`'s, then the payloads), at least `pace` apart when
//! the address asks for it. Exchanges drop or ban clients that subscribe
//! faster than a few messages a second.

use std::io;
use std::time::{Duration, Instant};

use super::handoff::Slot;
use super::worker::{Drained, Worker};
use crate::link::{Link, Outgoing};
use crate::message::{Cause, Disconnect, Message};

impl Worker {
    /// Sends the greeting: all at once, or with `pace`, each message at least
    /// `pace` after the one before. It holds the slot throughout, so nothing
    /// the program writes goes first (it waits in the outbox); between two
    /// messages it keeps reading (Pings are answered, hooks run, the inbox
    /// fills). A close from the program ends it early: `serve` closes.
    pub(super) fn send_greeting(&mut self, greeting: Vec<String>) -> Result<(), Disconnect> {
        let pace = self.plan.options.pace;
        let shared = self.shared.clone();
        let mut slot = shared.slot.lock();
        let mut batch = Vec::new();
        for (i, m) in greeting.into_iter().enumerate() {
            if let (Some(pace), true) = (pace, i > 0) {
                if !self.read_for(&mut slot, &mut batch, pace)? {
                    return Ok(());
                }
            }
            let link = slot.link()?;
            link.send(Outgoing::Text(m))?;
            if pace.is_some() {
                link.flush()?;
            }
        }
        slot.link()?.flush().map(drop)
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
