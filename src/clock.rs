//! Receive times: when a message was read from the socket, on the monotonic
//! clock and on the wall clock.
//!
//! A [`Stamp`] is two `u64`s (nanoseconds since a process-wide monotonic
//! anchor, and since the Unix epoch), so a message carries it for 16 bytes and
//! a counter can hold the newest in one atomic. The time is taken once per
//! read from the socket that returns data (see `link::stamp`), not once per
//! message: the messages parsed out of one read share it, which is when they
//! were read. The wall clock is derived from the monotonic one and a pair of
//! readings taken when the connection was made ([`Clock`]), so a read costs one
//! clock call; a step of the system clock shows from the next connection on.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The monotonic anchor of every [`Stamp`] in the process, set on first use.
fn anchor() -> Instant {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    *ANCHOR.get_or_init(Instant::now)
}

/// Nanoseconds since the anchor, at least 1 (0 stands for "never" in counters).
#[inline]
pub(crate) fn mono_now() -> u64 {
    let d = Instant::now().saturating_duration_since(anchor());
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

/// The `Instant` of a value of [`mono_now`].
pub(crate) fn instant(mono: u64) -> Instant {
    anchor() + Duration::from_nanos(mono)
}

fn wall_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// When something was received: monotonic and wall-clock nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// Since the process-wide anchor ([`instant`] turns it into an `Instant`).
    pub(crate) mono: u64,
    /// Since the Unix epoch.
    pub(crate) wall: u64,
}

impl Stamp {
    /// Now, both clocks read (for messages the program makes itself).
    pub(crate) fn now() -> Stamp {
        Stamp {
            mono: mono_now(),
            wall: wall_now(),
        }
    }

    pub(crate) fn instant(self) -> Instant {
        instant(self.mono)
    }

    pub(crate) fn system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.wall)
    }
}

/// One connection's clock: both clocks read once, when it was made; every
/// stamp after that reads the monotonic clock only.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    at: Stamp,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock { at: Stamp::now() }
    }

    /// Now: the monotonic clock read, the wall clock derived.
    #[inline]
    pub(crate) fn now(&self) -> Stamp {
        let mono = mono_now();
        Stamp {
            mono,
            wall: self
                .at
                .wall
                .saturating_add(mono.saturating_sub(self.at.mono)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_wall_clock_follows_the_monotonic_one() {
        let c = Clock::new();
        let a = c.now();
        std::thread::sleep(Duration::from_millis(20));
        let b = c.now();
        let mono = b.instant() - a.instant();
        let wall = b.system_time().duration_since(a.system_time()).unwrap();
        assert_eq!(mono, wall, "the wall clock moves with the monotonic one");
        assert!(mono >= Duration::from_millis(20));
        let drift = SystemTime::now()
            .duration_since(b.system_time())
            .unwrap_or_default();
        assert!(drift < Duration::from_secs(1), "{drift:?}");
        assert!(b.instant() <= Instant::now());
    }
}
