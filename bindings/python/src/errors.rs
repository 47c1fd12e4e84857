//! wsdial's errors as Python exceptions.
//!
//! The exception classes are Python classes (`wsdial/_errors.py`), so that
//! they can have two bases (`UnsupportedError` is a `DialError` and a
//! `NotImplementedError`, `DialTimeoutError` a `DialError` and a
//! `TimeoutError`); this module looks them up once and fills them in.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

static DIAL_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TIMEOUT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UNSUPPORTED_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

const MODULE: &str = "wsdial._errors";

/// Builds an exception of class `cell` (`wsdial._errors.NAME`) with `message`.
fn make<'py>(
    py: Python<'py>,
    cell: &PyOnceLock<Py<PyType>>,
    name: &str,
    message: &str,
) -> PyResult<Bound<'py, PyAny>> {
    cell.import(py, MODULE, name)?.call1((message,))
}

/// A failed dial as `DialError` (or `DialTimeoutError`, `UnsupportedError`),
/// its message wsdial's, with `kind`, `key`, `http_status` and `timed_out` set.
pub(crate) fn dial_error(py: Python<'_>, e: &wsdial::Error) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let message = e.to_string();
        let err = match e.kind() {
            wsdial::ErrorKind::Unsupported => {
                make(py, &UNSUPPORTED_ERROR, "UnsupportedError", &message)?
            }
            _ if e.is_timeout() => make(py, &TIMEOUT_ERROR, "DialTimeoutError", &message)?,
            _ => make(py, &DIAL_ERROR, "DialError", &message)?,
        };
        err.setattr("kind", e.kind().as_str())?;
        err.setattr("key", e.key())?;
        err.setattr("http_status", e.http_status())?;
        err.setattr("timed_out", e.is_timeout())?;
        Ok(PyErr::from_value(err))
    };
    build().unwrap_or_else(|failed| failed)
}

/// `UnsupportedError(message)`: a call that this connection's scheme does not have.
pub(crate) fn unsupported(py: Python<'_>, message: &str) -> PyErr {
    match make(py, &UNSUPPORTED_ERROR, "UnsupportedError", message) {
        Ok(err) => {
            let _ = err.setattr("kind", "unsupported");
            PyErr::from_value(err)
        }
        Err(failed) => failed,
    }
}
