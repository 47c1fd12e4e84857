//! Waiting without the GIL, and with Ctrl-C on the main thread.
//!
//! Python runs signal handlers only on its main thread, and only between
//! bytecodes or when native code asks (`PyErr_CheckSignals`). The C-level
//! handler merely sets a flag, and the signal may be delivered to any thread
//! (the library's own background threads included), so a wait cannot count
//! on being interrupted by it. A wait on the main thread is therefore cut in
//! slices of [`SLICE`]: each slice waits without the GIL, then the GIL is
//! taken back and the handlers run (`KeyboardInterrupt` propagates from
//! there). Ctrl-C thus ends a wait within one slice plus the handler.
//!
//! The cost is [`SLICE`]'s wake-ups of a main thread that waits with nothing
//! arriving (20 per second), and none of any other thread: a thread that is
//! not the main thread cannot receive `KeyboardInterrupt`, so it waits in one
//! piece and wakes only for what it waits for. After its first slice, a
//! main-thread `read` waits on the connection's buffer (as `select` does), not
//! on the socket itself: a read that waited on the socket would hand it back
//! to the background thread at the end of every slice, and wake that thread
//! as often (see `Conn::next`).
//!
//! The alternative, a wake-up when the signal arrives, needs Python's only
//! hook for that, `signal.set_wakeup_fd`: one process-wide file descriptor that
//! asyncio and other libraries set for themselves. A library that took it would
//! break them; one that shared it would have to read bytes meant for them.

use std::cell::Cell;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyAnyMethods;

/// How long a main-thread wait runs without looking at signals.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

thread_local! {
    /// Whether this thread is Python's main thread (where signal handlers
    /// run): asked once per thread.
    static MAIN: Cell<Option<bool>> = const { Cell::new(None) };
}

/// True on Python's main thread (the thread of its signal handlers).
pub(crate) fn is_main(py: Python<'_>) -> bool {
    if let Some(known) = MAIN.with(Cell::get) {
        return known;
    }
    let asked = || -> PyResult<bool> {
        let threading = py.import("threading")?;
        let main = threading.call_method0("main_thread")?;
        let current = threading.call_method0("current_thread")?;
        Ok(main.is(&current))
    };
    // If `threading` cannot say, wait in slices: a spare wake-up is cheaper
    // than a Ctrl-C that does not work.
    let main = asked().unwrap_or(true);
    MAIN.with(|m| m.set(Some(main)));
    main
}

/// After `os.fork()`, the forking thread is the child's main thread: forget
/// what this thread was (registered by the package with `os.register_at_fork`).
#[pyfunction]
pub(crate) fn after_fork_in_child() {
    MAIN.with(|m| m.set(None));
}

/// Runs `step` without the GIL until it returns something or `deadline`
/// passes (`None`: no deadline). `step(until)` waits at most until `until`
/// (`None`: as long as it takes) and returns `None` when that passed first.
///
/// On the main thread it waits in slices of [`SLICE`] and runs the signal
/// handlers between them: an exception they raise (`KeyboardInterrupt`) is
/// returned. Elsewhere it is one call to `step(deadline)`.
pub(crate) fn wait<T, F>(
    py: Python<'_>,
    deadline: Option<Instant>,
    mut step: F,
) -> PyResult<Option<T>>
where
    T: Send,
    F: FnMut(Option<Instant>) -> Option<T> + Send,
{
    if !is_main(py) {
        return Ok(py.detach(|| step(deadline)));
    }
    in_slices(py, deadline, |until| step(Some(until)))
}

/// The main thread's wait: `step(until)` without the GIL, in slices of
/// [`SLICE`] (`until` is the end of the slice, or `deadline` if sooner), with
/// the signal handlers run between them, until `step` returns something or
/// `deadline` passes.
pub(crate) fn in_slices<T, F>(
    py: Python<'_>,
    deadline: Option<Instant>,
    mut step: F,
) -> PyResult<Option<T>>
where
    T: Send,
    F: FnMut(Instant) -> Option<T> + Send,
{
    loop {
        let slice_end = Instant::now() + SLICE;
        let until = deadline.map_or(slice_end, |d| d.min(slice_end));
        if let Some(v) = py.detach(|| step(until)) {
            return Ok(Some(v));
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
    }
}

/// A read timeout in Dial's milliseconds, as a deadline from now (`None` for
/// one too far away to say, which waits as long as it takes).
pub(crate) fn deadline_in(ms: u64) -> Option<Instant> {
    Instant::now().checked_add(Duration::from_millis(ms))
}
