//! The keepalive of one connection: a ping every `ping`, and the connection is
//! dead when nothing at all arrives within `ping_timeout` of one (what Python
//! `websockets` does, and wsdial's default for WebSocket: 20 s and 20 s).
//!
//! It asks for one wake-up per period and no more: the check of a ping's
//! answer falls due when the next ping does (with the default equal times), so
//! one timer serves both. Whatever arrives counts as the answer, a Pong or a
//! message: the worker's reads and the program's direct reads flag it in the
//! slot ([`Slot::heard`]), without reading the clock.

use std::time::{Duration, Instant};

use super::handoff::Slot;
use crate::link::Link;
use crate::message::{Cause, Disconnect};
use crate::options::Options;

pub(super) struct Keepalive {
    every: Option<Duration>,
    text: Option<String>,
    timeout: Option<Duration>,
    next_ping: Option<Instant>,
    /// When the oldest ping that nothing has answered yet was sent.
    unanswered: Option<Instant>,
}

impl Keepalive {
    /// The keepalive of a connection that is up from `now`.
    pub(super) fn new(o: &Options, now: Instant) -> Keepalive {
        Keepalive {
            every: o.ping,
            text: o.ping_msg.clone(),
            timeout: o.ping.and(o.ping_timeout),
            next_ping: o.ping.map(|p| now + p),
            unanswered: None,
        }
    }

    /// When the worker must next wake for it: the next ping, or the end of the
    /// wait for an answer, whichever is first.
    pub(super) fn next(&self) -> Option<Instant> {
        let deadline = self.unanswered.zip(self.timeout).map(|(at, t)| at + t);
        match (self.next_ping, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// At a wake-up, holding the slot, after reading what arrived: ends the
    /// connection when a ping went unanswered for `ping_timeout`, and sends the
    /// next ping when it is due.
    pub(super) fn tick(&mut self, slot: &mut Slot, now: Instant) -> Result<(), Disconnect> {
        if slot.heard {
            self.unanswered = None;
        }
        if let (Some(at), Some(t)) = (self.unanswered, self.timeout) {
            if now >= at + t {
                return Err(Disconnect::new(
                    Cause::PingTimeout,
                    format!(
                        "nothing received within {} ms of a keepalive (ping_timeout)",
                        t.as_millis()
                    ),
                ));
            }
        }
        if let (Some(every), Some(at)) = (self.every, self.next_ping) {
            if now >= at {
                let link = slot.link()?;
                link.ping(self.text.as_deref())?;
                link.flush()?;
                self.next_ping = Some(now + every);
                if self.timeout.is_some() && self.unanswered.is_none() {
                    self.unanswered = Some(now);
                    slot.heard = false;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(ping: u64, timeout: u64) -> Options {
        let ms = |n: u64| (n > 0).then(|| Duration::from_millis(n));
        Options {
            ping: ms(ping),
            ping_timeout: ms(timeout),
            ..Options::default()
        }
    }

    #[test]
    fn one_timer_per_period_with_equal_times() {
        let t0 = Instant::now();
        let k = Keepalive::new(&opts(20_000, 20_000), t0);
        assert_eq!(k.next(), Some(t0 + Duration::from_secs(20)));
        let mut k = k;
        // a ping outstanding: its deadline is the next ping's time
        k.next_ping = Some(t0 + Duration::from_secs(40));
        k.unanswered = Some(t0 + Duration::from_secs(20));
        assert_eq!(k.next(), Some(t0 + Duration::from_secs(40)));
    }

    #[test]
    fn off_without_ping_and_no_deadline_without_timeout() {
        let t0 = Instant::now();
        assert_eq!(Keepalive::new(&opts(0, 20_000), t0).next(), None);
        let k = Keepalive::new(&opts(5_000, 0), t0);
        assert_eq!(k.timeout, None);
        assert_eq!(k.next(), Some(t0 + Duration::from_secs(5)));
    }
}
