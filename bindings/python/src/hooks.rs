//! Python callables as the library's hooks.
//!
//! - `on_connect()` runs on the connection's background thread, at every
//!   connect (the first one included), before the payloads. It returns the
//!   messages to send first: a `str`, a list (any iterable) of `str`, or `None`.
//! - `auto_reply(message)` runs for every inbound message, as it arrives, on
//!   whichever thread reads the socket: the background thread, or a thread
//!   blocked in `read()` (see the library's `Conn` docs). It gets the message
//!   (`str` or `bytes`) and returns the reply to send at once (a `str`; the
//!   message is then kept out of the buffer), or `None` to let the message
//!   through.
//!
//! Each call attaches its thread to the interpreter (takes the GIL). A hook
//! that raises, or returns something else, is reported through
//! `sys.unraisablehook` (printed to stderr by default) and counts as `None`;
//! the connection goes on. Once the interpreter is shutting down, the hooks
//! are no longer called and count as `None`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use wsdial::{Dialer, Message, Reply};

use crate::event::message_to_py;

/// Adds the hooks to `dialer`; a hook that is not callable is a `TypeError`.
pub(crate) fn install(
    py: Python<'_>,
    mut dialer: Dialer,
    on_connect: Option<Py<PyAny>>,
    auto_reply: Option<Py<PyAny>>,
) -> PyResult<Dialer> {
    for (name, f) in [("on_connect", &on_connect), ("auto_reply", &auto_reply)] {
        if let Some(f) = f {
            if !f.bind(py).is_callable() {
                return Err(PyTypeError::new_err(format!(
                    "{name} must be callable (a function), not {}",
                    f.bind(py).get_type().name()?
                )));
            }
        }
    }
    if let Some(f) = on_connect {
        dialer =
            dialer.on_connect(move || Python::try_attach(|py| greet(py, &f)).unwrap_or_default());
    }
    if let Some(f) = auto_reply {
        dialer = dialer
            .auto_reply(move |m| Python::try_attach(|py| reply(py, &f, m)).unwrap_or(Reply::Pass));
    }
    Ok(dialer)
}

/// Calls `on_connect`: the messages it returns, or none (reported) if it failed.
fn greet(py: Python<'_>, f: &Py<PyAny>) -> Vec<String> {
    let f = f.bind(py);
    let got = f.call0().and_then(|v| messages(&v));
    got.unwrap_or_else(|e| {
        e.write_unraisable(py, Some(f));
        Vec::new()
    })
}

/// `None`, one `str`, or an iterable of `str`, as a list of messages.
fn messages(v: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if v.is_none() {
        return Ok(Vec::new());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(vec![s.to_cow()?.into_owned()]);
    }
    let bad = |what: &Bound<'_, PyAny>| -> PyResult<PyErr> {
        Ok(PyTypeError::new_err(format!(
            "on_connect must return a str, a list of str or None, not {}",
            what.get_type().name()?
        )))
    };
    let Ok(items) = v.try_iter() else {
        return Err(bad(v)?);
    };
    let mut out = Vec::new();
    for item in items {
        let item = item?;
        match item.cast::<PyString>() {
            Ok(s) => out.push(s.to_cow()?.into_owned()),
            Err(_) => return Err(bad(&item)?),
        }
    }
    Ok(out)
}

/// Calls `auto_reply` on a message: the reply, or `Pass` (reported if it failed).
fn reply(py: Python<'_>, f: &Py<PyAny>, m: &Message) -> Reply {
    let f = f.bind(py);
    let got = f.call1((message_to_py(py, m),)).and_then(|v| {
        if v.is_none() {
            return Ok(Reply::Pass);
        }
        match v.cast::<PyString>() {
            Ok(s) => Ok(Reply::Send(s.to_cow()?.into_owned())),
            Err(_) => Err(PyTypeError::new_err(format!(
                "auto_reply must return a str (the reply) or None, not {}",
                v.get_type().name()?
            ))),
        }
    });
    got.unwrap_or_else(|e| {
        e.write_unraisable(py, Some(f));
        Reply::Pass
    })
}
