//! `wsdial._wsdial`, the native part of the Python package `wsdial`.
//!
//! It wraps the Rust library's public API and nothing else:
//!
//! | Python | Rust |
//! |---|---|
//! | `Dial(address, timeout=None, *, on_connect=None, auto_reply=None)` | [`wsdial::Dialer`] |
//! | `Conn.read(timeout=None)`, `Conn.read_event(...)` | `Conn::{try_read, read, read_deadline, read_latest}` |
//! | `Conn.write(str \| bytes)` | `Conn::{write, write_binary}` |
//! | `select(conns, timeout=None)` | [`wsdial::select`] |
//! | `Conn.exec(sql, params=None)` | `Conn::exec_with` ([`sql`] converts the values) |
//! | `Conn.exec_many(sql, rows)` | `Conn::exec_many` (each row converted as `exec`'s params) |
//!
//! ## Waiting, the GIL and signals
//!
//! Every call that can wait releases the GIL first ([`wait`]). On the main
//! thread, where Python runs its signal handlers, it waits in slices of
//! [`wait::SLICE`] and runs the handlers between them, so Ctrl-C
//! (`KeyboardInterrupt`) ends a blocked `read()`, `select()` or `Dial()`
//! within a slice. Any other thread waits in one piece: it cannot receive a
//! `KeyboardInterrupt`, so it wakes only for what it waits for.
//!
//! ## Threads of the hooks
//!
//! `on_connect` runs on the connection's background thread, `auto_reply` on
//! whichever thread reads the socket (see [`hooks`]); both attach to the
//! interpreter for the call, and neither is called once it is shutting down.

use pyo3::prelude::*;

mod conn;
mod errors;
mod event;
mod hooks;
mod sql;
mod wait;

/// The module: its classes, `Dial`, `select`, and the slice of a main-thread wait.
#[pymodule]
fn _wsdial(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<conn::Conn>()?;
    m.add_class::<event::Event>()?;
    m.add_function(wrap_pyfunction!(conn::dial, m)?)?;
    m.add_function(wrap_pyfunction!(sql::release, m)?)?;
    m.add_function(wrap_pyfunction!(conn::select, m)?)?;
    m.add_function(wrap_pyfunction!(wait::after_fork_in_child, m)?)?;
    m.add("WAIT_SLICE_MS", wait::SLICE.as_millis() as u64)?;
    Ok(())
}
