//! The reconnect policy every streaming driver shares: how long to wait before
//! the next attempt (`interval`, exponential backoff with jitter up to
//! `max_interval`), how many failures in a row to accept (`retry`), and what to
//! log and count. A driver supplies how to dial and how to wait.

use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, ErrorKind};
use crate::message::{Cause, Disconnect};
use crate::options::Options;
use crate::seam::Seam;

/// The delay before each reconnect attempt.
pub(crate) struct Backoff {
    interval: Duration,
    cap: Duration,
    /// The next delay is `interval * 2^level`, capped.
    level: u32,
    /// xorshift state for the jitter.
    seed: u64,
    /// The least the next delay may be: the last refusal's `Retry-After`.
    asked: Option<Duration>,
}

impl Backoff {
    /// The policy of these options; `key` (the URL) and the clock seed the jitter,
    /// so that many connections lost together do not redial in step.
    pub(crate) fn new(o: &Options, key: &str) -> Backoff {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let h = key.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
        Backoff {
            interval: o.interval,
            cap: o.backoff_cap(),
            level: 0,
            seed: (t ^ h) | 1,
            asked: None,
        }
    }

    /// The next delay is at least `wait` (a refusal's `Retry-After`).
    pub(crate) fn obey(&mut self, wait: Option<Duration>) {
        self.asked = wait;
    }

    /// `interval * 2^level` capped at `max_interval`, with up to 25% jitter
    /// taken off when backing off (a fixed `interval` has no jitter); and at
    /// least what the last refusal asked for.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let asked = self.asked.take().unwrap_or_default();
        self.backoff_delay().max(asked)
    }

    fn backoff_delay(&mut self) -> Duration {
        let base = self
            .interval
            .saturating_mul(1u32 << self.level.min(20))
            .min(self.cap);
        if self.cap <= self.interval || base.is_zero() {
            return base;
        }
        self.level += 1;
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let frac = (self.seed % 1000) as f64 / 4000.0; // 0 .. 0.25
        base.mul_f64(1.0 - frac)
    }

    /// A connection that stayed up for `lived` starts the backoff over when it
    /// lasted at least the cap (a flapping server keeps backing off).
    pub(crate) fn connection_lasted(&mut self, lived: Duration) {
        if lived >= self.cap {
            self.level = 0;
        }
    }
}

/// Dials until it works, `retry` failures in a row, or the program closes
/// (`pause` returns false, or the seam is closed). Logs every attempt, counts a
/// success in `reconnects`, and on giving up records the terminal disconnect
/// (`Cause::GaveUp`). `dial` gets the attempt's deadline.
pub(crate) fn redial<L>(
    seam: &Seam,
    options: &Options,
    url: &str,
    backoff: &mut Backoff,
    mut pause: impl FnMut(Duration) -> bool,
    mut dial: impl FnMut(Instant) -> Result<L, Error>,
) -> Option<L> {
    let mut failures = 0u32;
    loop {
        let delay = backoff.next_delay();
        if !pause(delay) || seam.is_closed() {
            return None;
        }
        log::info!("{url}: reconnect attempt {} after {delay:?}", failures + 1);
        match dial(Instant::now() + options.timeout) {
            Ok(_) if seam.is_closed() => return None,
            Ok(l) => {
                let c = &seam.counters;
                c.add(&c.reconnects, 1);
                let n = c.reconnects.load(std::sync::atomic::Ordering::Relaxed);
                log::info!("{url}: reconnected (reconnect #{n})");
                return Some(l);
            }
            Err(e) => {
                failures += 1;
                log::warn!("{url}: reconnect attempt {failures} failed: {e}");
                if options.retry > 0 && failures >= options.retry {
                    log::error!("{url}: giving up after {failures} failed reconnect attempts");
                    seam.lost(
                        Disconnect::after_dial(
                            Cause::GaveUp,
                            format!(
                                "gave up after {failures} failed reconnect attempts; last: {e}"
                            ),
                            &e,
                        ),
                        true,
                    );
                    return None;
                }
                refused(seam, backoff, &e);
            }
        }
    }
}

/// When `e` is a handshake refused with an HTTP status, or a broker that
/// refused the credentials (`ErrorKind::Auth`): tells the program (a
/// [`Cause::Refused`] event) and makes the next wait at least what the server
/// asked for. A refusal is the program's business: its key may be revoked
/// (401, 403, a broker's password changed), or it is told to slow down (429,
/// 503). Either way reconnecting goes on, under `retry`.
pub(crate) fn refused(seam: &Seam, backoff: &mut Backoff, e: &Error) {
    if is_refusal(e) {
        seam.refused(Disconnect::after_dial(Cause::Refused, e.to_string(), e));
        backoff.obey(e.retry_after());
    }
}

/// A failed attempt the program is told about: an HTTP refusal of the
/// handshake, or credentials a broker refused.
fn is_refusal(e: &Error) -> bool {
    (e.kind() == ErrorKind::Handshake && e.http_status().is_some()) || e.kind() == ErrorKind::Auth
}

/// The longest `Retry-After` obeyed: a longer one is taken as this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The wait a `Retry-After` header value asks for (RFC 9110 section 10.2.3):
/// delay-seconds, or an HTTP-date (any of the three formats RFC 9110 accepts,
/// read by `httpdate`) measured from `now`, a date in the past being no wait;
/// at most [`MAX_RETRY_AFTER`]. `None` when the value is neither.
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still "a very long time".
        Duration::from_secs(
            value
                .parse()
                .unwrap_or(u64::MAX)
                .min(MAX_RETRY_AFTER.as_secs()),
        )
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or_default()
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::options::DEFAULT_INTERVAL;

    fn opts(interval: u64, max: Option<u64>, retry: u32) -> Options {
        Options {
            interval: Duration::from_millis(interval),
            max_interval: max.map(Duration::from_millis),
            retry,
            ..Options::default()
        }
    }

    #[test]
    fn fixed_interval_has_no_jitter() {
        let mut b = Backoff::new(&opts(100, None, 0), "x");
        for _ in 0..5 {
            assert_eq!(b.next_delay(), Duration::from_millis(100));
        }
    }

    #[test]
    fn doubles_with_jitter_up_to_the_cap_and_starts_over() {
        let mut b = Backoff::new(&opts(100, Some(1000), 0), "x");
        let ds: Vec<u64> = (0..7).map(|_| b.next_delay().as_millis() as u64).collect();
        for (d, base) in ds.iter().zip([100, 200, 400, 800, 1000, 1000, 1000]) {
            assert!(*d <= base && *d >= base * 3 / 4, "{ds:?}");
        }
        b.connection_lasted(Duration::from_millis(999));
        assert!(
            b.next_delay() >= Duration::from_millis(750),
            "a short life keeps backing off"
        );
        b.connection_lasted(Duration::from_millis(1000));
        assert!(
            b.next_delay() <= Duration::from_millis(100),
            "a long life starts over"
        );
    }

    #[test]
    fn by_default_it_backs_off_from_interval_to_30_s() {
        let mut b = Backoff::new(&Options::default(), "x");
        let ds: Vec<u64> = (0..8).map(|_| b.next_delay().as_millis() as u64).collect();
        let want = [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
        for (d, base) in ds.iter().zip(want) {
            assert!(*d <= base && *d >= base * 3 / 4, "{ds:?}");
        }
        assert!(
            ds[5..].iter().any(|&d| d < 30000),
            "jitter at the cap: {ds:?}"
        );
        // `max_interval` equal to `interval`: fixed, without jitter
        let fixed = Options {
            max_interval: Some(DEFAULT_INTERVAL),
            ..Options::default()
        };
        let mut b = Backoff::new(&fixed, "x");
        for _ in 0..5 {
            assert_eq!(b.next_delay(), DEFAULT_INTERVAL);
        }
    }

    #[test]
    fn retry_after_in_seconds_or_as_an_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let secs = |n: u64| Some(Duration::from_secs(n));
        assert_eq!(retry_after("2", now), secs(2));
        assert_eq!(retry_after(" 120 ", now), secs(120));
        assert_eq!(retry_after("0", now), secs(0));
        assert_eq!(
            retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        // the three date formats of RFC 9110
        for date in [
            "Wed, 21 Oct 2015 07:28:05 GMT",
            "Wednesday, 21-Oct-15 07:28:05 GMT",
            "Wed Oct 21 07:28:05 2015",
        ] {
            assert_eq!(retry_after(date, now), secs(5), "{date}");
        }
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            secs(0),
            "past"
        );
        assert_eq!(
            retry_after("Fri, 21 Oct 2016 07:28:00 GMT", now),
            Some(MAX_RETRY_AFTER)
        );
        for bad in ["", "-1", "1.5", "soon", "2 s"] {
            assert_eq!(retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn a_refused_attempt_is_told_and_its_retry_after_obeyed() {
        let seam = Seam::new(10, 1000, None);
        let o = opts(10, None, 0);
        let mut b = Backoff::new(&o, "x");
        let mut pauses = Vec::new();
        let mut n = 0;
        let got = redial(
            &seam,
            &o,
            "x",
            &mut b,
            |d| {
                pauses.push(d);
                true
            },
            |_| {
                n += 1;
                match n {
                    1 => Err(Error::new(ErrorKind::Handshake, "429")
                        .with_status(429)
                        .with_retry_after(Some(Duration::from_secs(2)))),
                    2 => Err(Error::new(ErrorKind::Handshake, "503").with_status(503)),
                    3 => Err(Error::new(ErrorKind::Tcp, "refused")),
                    _ => Ok(()),
                }
            },
        );
        assert_eq!(got, Some(()));
        let ms = |n| Duration::from_millis(n);
        assert_eq!(pauses, [ms(10), ms(2000), ms(10), ms(10)]);
        // The program has read nothing: the two refusals are kept as the newest.
        match seam.inbox.pop(crate::inbox::Wait::Never) {
            Some(crate::Event::Disconnected(d)) => {
                assert_eq!(d.cause(), Cause::Refused);
                assert_eq!((d.http_status(), d.retry_after()), (Some(503), None));
            }
            e => panic!("expected the refusal, got {e:?}"),
        }
        assert!(
            seam.inbox.pop(crate::inbox::Wait::Never).is_none(),
            "a TCP failure is no refusal"
        );
    }

    #[test]
    fn gives_up_after_retry_failures_and_says_so() {
        let seam = Seam::new(10, 1000, None);
        let o = opts(0, None, 3);
        let mut b = Backoff::new(&o, "x");
        let mut attempts = 0;
        let got: Option<()> = redial(
            &seam,
            &o,
            "x",
            &mut b,
            |_| true,
            |_| {
                attempts += 1;
                Err(Error::new(ErrorKind::Io, "refused"))
            },
        );
        assert!(got.is_none());
        assert_eq!(attempts, 3);
        match seam.inbox.pop(crate::inbox::Wait::Never) {
            Some(crate::Event::Disconnected(d)) => {
                assert_eq!(d.cause(), Cause::GaveUp);
                assert!(d.to_string().contains("refused"), "{d}");
            }
            e => panic!("expected the terminal disconnect, got {e:?}"),
        }
    }

    #[test]
    fn counts_a_success_and_stops_when_closed() {
        let seam = Seam::new(10, 1000, None);
        let o = opts(0, None, 0);
        let mut b = Backoff::new(&o, "x");
        let mut n = 0;
        let got = redial(
            &seam,
            &o,
            "x",
            &mut b,
            |_| true,
            |_| {
                n += 1;
                if n < 3 {
                    Err(Error::new(ErrorKind::Io, "refused"))
                } else {
                    Ok(n)
                }
            },
        );
        assert_eq!(got, Some(3));
        assert_eq!(seam.stats().reconnects, 1);
        seam.close();
        let got: Option<u32> = redial(&seam, &o, "x", &mut b, |_| true, |_| Ok(1));
        assert!(got.is_none());
    }
}
