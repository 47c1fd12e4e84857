//! `Dial`, `Conn` and `select`: Dial's calls in Python.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString, PyTuple};

use crate::errors::{dial_error, unsupported};
use crate::event::{self, Event};
use crate::hooks;
use crate::wait::{self, deadline_in, is_main};

/// Writes at least this long are handed over without the GIL (a TLS
/// connection encrypts them on the writer's thread); shorter ones take
/// microseconds and keep it.
const WRITE_WITHOUT_GIL: usize = 64 * 1024;

/// Dials `address` (`URL|key=value&…`) and returns the connection.
///
/// `timeout` is the dial deadline in seconds (default 10; a `timeout=` in
/// the address wins). Raises `DialError` (an `OSError`) with wsdial's
/// message; `DialTimeoutError` (also a `TimeoutError`) when the deadline
/// passed; `UnsupportedError` for a feature this build does not have.
/// `on_connect` and `auto_reply` are the hooks described in the package docs.
/// The GIL is released while dialing; on the main thread Ctrl-C interrupts
/// the wait (the dial then finishes in the background within its deadline,
/// and the connection it makes, if any, is closed at once).
#[pyfunction]
#[pyo3(name = "Dial", signature = (address, timeout=None, *, on_connect=None, auto_reply=None))]
pub(crate) fn dial(
    py: Python<'_>,
    address: &Bound<'_, PyAny>,
    timeout: Option<f64>,
    on_connect: Option<Py<PyAny>>,
    auto_reply: Option<Py<PyAny>>,
) -> PyResult<Conn> {
    let address = crate::sql::address(address)?;
    let mut dialer = wsdial::Dialer::new();
    if let Some(t) = timeout {
        match Duration::try_from_secs_f64(t) {
            Ok(d) if !d.is_zero() => dialer = dialer.timeout(d),
            _ => {
                return Err(PyValueError::new_err(format!(
                    "timeout is the dial deadline in seconds, a number above 0; got {t}"
                )))
            }
        }
    }
    let dialer = hooks::install(py, dialer, on_connect, auto_reply)?;
    let dialed = if is_main(py) {
        dial_interruptibly(py, dialer, address)?
    } else {
        py.detach(|| dialer.dial(&address))
    };
    match dialed {
        Ok(inner) => Ok(Conn {
            database: wsdial::Target::parse(inner.url())
                .map(|t| t.scheme().is_database())
                .unwrap_or(false),
            inner,
        }),
        Err(e) => Err(dial_error(py, &e)),
    }
}

/// Dials on a helper thread while this (main) thread waits for it in slices,
/// so Ctrl-C ends the wait. An abandoned dial ends within its own deadline,
/// and the helper drops (closes) what it made.
fn dial_interruptibly(
    py: Python<'_>,
    dialer: wsdial::Dialer,
    address: String,
) -> PyResult<Result<wsdial::Conn, wsdial::Error>> {
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("wsdial-dial".into())
        .spawn(move || {
            let _ = tx.send(dialer.dial(&address));
        });
    if let Err(e) = spawned {
        return Err(pyo3::exceptions::PyOSError::new_err(format!(
            "cannot start a thread to dial: {e}"
        )));
    }
    let got = wait::wait(py, None, move |until| {
        let r = match until {
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
        };
        match r {
            Ok(dialed) => Some(Some(dialed)),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            // The helper ended without an answer (it cannot, short of a panic).
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(None),
        }
    })?;
    got.flatten().ok_or_else(|| {
        pyo3::exceptions::PyRuntimeError::new_err("the dialing thread ended without a result")
    })
}

/// A connection made by `Dial`.
///
/// Every method may be called from any thread: one thread may block in
/// `read()` while others `write()` or `close()`. Closing (or the end of a
/// `with` block, or the object's deletion) sends a close frame, stops
/// reconnecting and wakes blocked readers, which then get `""`.
#[pyclass(frozen, module = "wsdial", name = "Conn")]
pub(crate) struct Conn {
    inner: wsdial::Conn,
    /// A database connection: `exec` only, `read` and `write` raise.
    database: bool,
}

impl Conn {
    /// `UnsupportedError` for `read`/`write` on a database connection.
    fn not_a_stream(&self, py: Python<'_>, call: &str) -> PyResult<()> {
        if !self.database {
            return Ok(());
        }
        Err(unsupported(
            py,
            &format!(
                "{call}() reads or writes messages; a {}:// connection is a database: use exec(sql, params)",
                self.scheme()
            ),
        ))
    }

    /// The next event by Dial's numbers (see `read`).
    fn next(&self, py: Python<'_>, ms: i64) -> PyResult<Option<wsdial::Event>> {
        self.not_a_stream(py, "read")?;
        let c = &self.inner;
        match ms {
            -1 => Ok(c.try_read()),
            // It may read many queued messages to find the newest.
            ms if ms <= -2 => Ok(py.detach(|| c.read_latest())),
            ms => {
                // What is there already is taken with the GIL held: no wait.
                if let Some(e) = c.try_read() {
                    return Ok(Some(e));
                }
                let deadline = if ms == 0 {
                    None
                } else {
                    deadline_in(ms.unsigned_abs())
                };
                if !is_main(py) {
                    // One wait, on the socket itself when it can: no wake-up
                    // but the message's.
                    return Ok(py.detach(|| match deadline {
                        None => Some(c.read()),
                        Some(d) => c.read_deadline(d),
                    }));
                }
                // The main thread waits in slices. The first waits on the
                // socket itself, as a plain read does, so a flood goes on
                // being read on this thread (the socket's own flow control,
                // no hand-off through the buffer). Later ones, after a whole
                // slice of nothing, wait on the buffer as `select` does and
                // take what came (the `try_read` after each, ready or not,
                // also gives the socket a look when another thread waits on
                // it): a read that waited on the socket would hand it back to
                // the background thread at the end of every slice, and wake
                // that thread as often as this one.
                let mut first = true;
                wait::in_slices(py, deadline, |until| {
                    if std::mem::take(&mut first) {
                        return c.read_deadline(until);
                    }
                    let left = until.saturating_duration_since(Instant::now());
                    wsdial::select(&[c], Some(left));
                    c.try_read()
                })
            }
        }
    }

    /// The scheme of the URL, for messages.
    fn scheme(&self) -> &str {
        self.inner.url().split("://").next().unwrap_or_default()
    }
}

#[pymethods]
impl Conn {
    /// Reads by Dial's numbers: `None` or `0` blocks; `n > 0` waits up to `n`
    /// milliseconds; `-1` returns at once; `-2` (or below) returns the newest
    /// and discards the older ones. Returns a `str` (text), `bytes` (binary),
    /// `None` (nothing yet), or `""` for a lost connection; `read_event` tells
    /// `""` apart from an empty text message.
    #[pyo3(signature = (timeout=None))]
    fn read<'py>(&self, py: Python<'py>, timeout: Option<i64>) -> PyResult<Bound<'py, PyAny>> {
        let e = self.next(py, timeout.unwrap_or(0))?;
        Ok(event::value(py, e))
    }

    /// Like `read`, but returns an `Event` (`kind`, `data`, `cause`, …), or
    /// `None` when nothing came.
    #[pyo3(signature = (timeout=None))]
    fn read_event(&self, py: Python<'_>, timeout: Option<i64>) -> PyResult<Option<Event>> {
        Ok(self
            .next(py, timeout.unwrap_or(0))?
            .map(|e| event::event(py, e)))
    }

    /// Sends a `str` as a text message, or `bytes`/`bytearray` as a binary
    /// one. Returns the number of bytes handed to the connection, or `0` when
    /// there is no live connection (lost, reconnecting, closed). Never waits
    /// for inbound traffic.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.not_a_stream(py, "write")?;
        let c = &self.inner;
        if let Ok(s) = data.cast::<PyString>() {
            let s = s.to_cow()?;
            let s: &str = &s;
            return Ok(if s.len() >= WRITE_WITHOUT_GIL {
                py.detach(|| c.write(s))
            } else {
                c.write(s)
            });
        }
        let owned;
        let bytes: &[u8] = if let Ok(b) = data.cast::<PyBytes>() {
            b.as_bytes()
        } else if let Ok(b) = data.cast::<PyByteArray>() {
            owned = b.to_vec();
            &owned
        } else {
            return Err(PyTypeError::new_err(format!(
                "write takes a str (a text message) or bytes (a binary message), not {}",
                data.get_type().name()?
            )));
        };
        Ok(if bytes.len() >= WRITE_WITHOUT_GIL {
            py.detach(|| c.write_binary(bytes))
        } else {
            c.write_binary(bytes)
        })
    }

    /// Sends a close frame, stops reconnecting, wakes blocked readers (they
    /// get `""`) and ends the background thread (waiting for it about a
    /// second at most). Messages still buffered can be read afterwards.
    /// Idempotent.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.close());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    /// The connection's counters, as a dict: `received`, `received_bytes`,
    /// `dropped` (buffer full, oldest first), `discarded` (by `read(-2)`),
    /// `undecoded`, `reconnects`, `sent`, `unsent`, `queued`, `queued_bytes`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        d.set_item("received", s.received)?;
        d.set_item("received_bytes", s.received_bytes)?;
        d.set_item("dropped", s.dropped)?;
        d.set_item("discarded", s.discarded)?;
        d.set_item("undecoded", s.undecoded)?;
        d.set_item("reconnects", s.reconnects)?;
        d.set_item("sent", s.sent)?;
        d.set_item("unsent", s.unsent)?;
        d.set_item("queued", s.queued)?;
        d.set_item("queued_bytes", s.queued_bytes)?;
        Ok(d)
    }

    /// True while a connection is up (false while lost, reconnecting, or closed).
    #[getter]
    fn connected(&self) -> bool {
        self.inner.is_connected()
    }

    /// The subprotocol the server agreed to (`protocol=`), or `None`.
    #[getter]
    fn protocol(&self) -> Option<String> {
        self.inner.protocol()
    }

    /// The URL this connection dials (the address before `|`).
    #[getter]
    fn url(&self) -> &str {
        self.inner.url()
    }

    /// Runs one SQL statement on a database connection (`sqlite3://`,
    /// `postgres://`, `mysql://`, `clickhouse://`) and returns Dial's
    /// `{"columns": [...], "values": [[...]]}` (with `"affected"`, the rows a
    /// statement changed, when the database reports it). `params` is a list
    /// or tuple bound to the statement's placeholders (`?`, or `$1` … for
    /// PostgreSQL): values are never spliced into the SQL. The GIL is
    /// released while the statement runs; the address's `timeout=` bounds it.
    /// Raises `ExecError` (with `kind`: `"syntax"`, `"constraint"`, `"auth"`,
    /// `"database"`, `"tcp"` …), `ExecTimeoutError` when the statement ran
    /// out of time, and `UnsupportedError` on a connection that is not a
    /// database.
    #[pyo3(signature = (sql, params=None))]
    fn exec<'py>(
        &self,
        py: Python<'py>,
        sql: &str,
        params: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let params = crate::sql::params(params)?;
        let c = &self.inner;
        match py.detach(|| c.exec_with(sql, &params)) {
            Ok(rows) => crate::sql::rows(py, rows),
            Err(e) if e.kind() == wsdial::ErrorKind::Unsupported => {
                Err(unsupported(py, &e.to_string()))
            }
            Err(e) => Err(crate::errors::exec_error(py, &e)),
        }
    }

    /// Runs one SQL statement once per parameter row of `rows` (a sequence
    /// of lists or tuples, each converted as `exec`'s `params`), in order,
    /// and returns the rows affected in total (0 on ClickHouse, which
    /// reports none), like DB-API's `executemany`.
    /// SQLite prepares the statement once. The session is held, and the
    /// address's `timeout=` counted, once for the whole batch; the GIL is
    /// released while it runs. No implicit transaction: run it between
    /// `exec("BEGIN")` and `exec("COMMIT")` to make it all or nothing. The
    /// first row that fails stops the batch with `ExecError` (or
    /// `ExecTimeoutError`) whose message names the row's index (0-based)
    /// and says the rows before it ran. A statement that returns rows runs
    /// for each; its rows are discarded. An empty `rows` returns 0 without
    /// touching the database.
    fn exec_many(&self, py: Python<'_>, sql: &str, rows: &Bound<'_, PyAny>) -> PyResult<u64> {
        let rows = crate::sql::param_rows(rows)?;
        let c = &self.inner;
        match py.detach(|| c.exec_many(sql, &rows)) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == wsdial::ErrorKind::Unsupported => {
                Err(unsupported(py, &e.to_string()))
            }
            Err(e) => Err(crate::errors::exec_error(py, &e)),
        }
    }

    /// Dial's `fd()`: on a database connection, a number that `Dial(n)`
    /// accepts from any thread to get another connection on the same
    /// session (for SQLite the same connection, so `:memory:` is shared),
    /// even after this one is closed. Taking it keeps the session open until
    /// `wsdial.release(n)`; after that the session closes with its last
    /// connection. Raises `UnsupportedError` on other connections (share the
    /// `Conn` object between threads instead) and on a closed one.
    fn fd(&self, py: Python<'_>) -> PyResult<u64> {
        match self.inner.fd() {
            Some(h) => Ok(crate::sql::handle_number(h)),
            None => Err(unsupported(
                py,
                &format!(
                    "fd() gives a handle to a database connection's session; a {}:// connection has none \
                     (share the Conn object between threads instead), nor has a closed one",
                    self.scheme()
                ),
            )),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<wsdial.Conn {} {}>",
            self.inner.url(),
            if self.inner.is_connected() {
                "connected"
            } else {
                "not connected"
            }
        )
    }
}

impl Drop for Conn {
    /// Deleting the object closes the connection, without the GIL (the
    /// background thread may need it for a hook while it ends).
    fn drop(&mut self) {
        let inner = &self.inner;
        if Python::try_attach(|py| py.detach(|| inner.close())).is_none() {
            inner.close();
        }
    }
}

/// Waits until one of `conns` has something to read (a message or a lost
/// connection) and returns its index, or `None` when the timeout passed.
/// `timeout` takes Dial's numbers in milliseconds: `None` or `0` waits as long
/// as it takes, `n > 0` up to `n` ms, a negative number looks once and returns.
#[pyfunction]
#[pyo3(signature = (conns, timeout=None))]
pub(crate) fn select(
    py: Python<'_>,
    conns: Vec<Bound<'_, Conn>>,
    timeout: Option<i64>,
) -> PyResult<Option<usize>> {
    if conns.is_empty() {
        return Err(PyValueError::new_err(
            "select needs at least one connection",
        ));
    }
    let refs: Vec<&wsdial::Conn> = conns.iter().map(|c| &c.get().inner).collect();
    let ms = timeout.unwrap_or(0);
    if let Some(i) = wsdial::select(&refs, Some(Duration::ZERO)) {
        return Ok(Some(i));
    }
    if ms < 0 {
        return Ok(None);
    }
    let deadline = if ms == 0 {
        None
    } else {
        deadline_in(ms.unsigned_abs())
    };
    wait::wait(py, deadline, |until| {
        wsdial::select(
            &refs,
            until.map(|d| d.saturating_duration_since(Instant::now())),
        )
    })
}
