//! Waiting on several connections at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conn::Conn;
use crate::inbox::Signal;

/// Waits until one of `conns` has an event ready (a message or a disconnect) and
/// returns its index; `None` when `timeout` passes first (`None` waits forever).
///
/// It does not poll: every connection's buffer wakes the caller when something
/// arrives. When several are ready, the scan starts at a different connection
/// each call, so a busy feed cannot starve a quiet one.
///
/// ```no_run
/// # fn main() -> Result<(), wsdial::Error> {
/// let a = wsdial::dial("ws://127.0.0.1:9001/a")?;
/// let b = wsdial::dial("ws://127.0.0.1:9001/b")?;
/// let feeds = [&a, &b];
/// while let Some(i) = wsdial::select(&feeds, None) {
///     if let Some(ev) = feeds[i].try_read() {
///         println!("feed {i}: {ev:?}");
///     }
/// }
/// # Ok(()) }
/// ```
pub fn select(conns: &[&Conn], timeout: Option<Duration>) -> Option<usize> {
    static ROTATE: AtomicUsize = AtomicUsize::new(0);
    if conns.is_empty() {
        return None;
    }
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let start = ROTATE.fetch_add(1, Ordering::Relaxed);
    let ready = || {
        (0..conns.len())
            .map(|k| (start + k) % conns.len())
            .find(|&i| conns[i].is_ready())
    };
    if let Some(i) = ready() {
        return Some(i);
    }
    let signal = Arc::new(Signal::default());
    for c in conns {
        c.watch(&signal);
    }
    let found = loop {
        // Checked after watching, so nothing that arrived in between is missed.
        if let Some(i) = ready() {
            break Some(i);
        }
        if !signal.wait(deadline) {
            break ready();
        }
    };
    for c in conns {
        c.unwatch(&signal);
    }
    found
}
