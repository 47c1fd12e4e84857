//! What a read returns, in Python: the value of `read()` (`str`, `bytes`,
//! `None`, or `""` for a lost connection, as Dial does) and the `Event` of
//! `read_event()`, which tells an empty message from a lost connection.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use wsdial::{Cause, Message};

/// One read's result, told apart: a text or binary message, or a lost
/// connection with its cause.
///
/// `kind` is `"text"`, `"binary"` or `"disconnect"`. `data` is the message
/// (`str` for text, `bytes` for binary) and `None` for a disconnect. For a
/// disconnect, `cause` says why (`"closed_by_peer"`, `"eof"`, `"io"`,
/// `"protocol"`, `"idle"`, `"ping_timeout"`, `"closed_by_user"`, `"gave_up"`,
/// `"refused"`), `close_code` is
/// the peer's close code when it sent one, and `detail` describes it.
/// `decode_error` is set for a binary frame that `compress` could not inflate
/// (its bytes are then `data`, as received). For a message, `received_at`
/// is when it was read from the socket (seconds since the epoch), and a
/// broker's message has its `topic` (MQTT topic, NATS subject, AMQP routing
/// key, Kafka topic) and, from Kafka, its `partition` and `offset`.
#[pyclass(frozen, module = "wsdial", name = "Event")]
pub(crate) struct Event {
    /// `"text"`, `"binary"` or `"disconnect"`.
    #[pyo3(get)]
    kind: &'static str,
    /// The message: `str` for text, `bytes` for binary; `None` for a disconnect.
    #[pyo3(get)]
    data: Py<PyAny>,
    /// Why the connection was lost; `None` for a message.
    #[pyo3(get)]
    cause: Option<&'static str>,
    /// The close code the peer sent, for `cause == "closed_by_peer"`.
    #[pyo3(get)]
    close_code: Option<u16>,
    /// A description of the disconnect; `None` for a message.
    #[pyo3(get)]
    detail: Option<String>,
    /// Why a binary frame could not be inflated (`compress`); else `None`.
    #[pyo3(get)]
    decode_error: Option<String>,
    /// When the message was read from the socket, in seconds since the
    /// epoch (`time.time()`'s clock); `None` for a disconnect.
    #[pyo3(get)]
    received_at: Option<f64>,
    /// A broker's message: the topic (subject, routing key) it came from.
    #[pyo3(get)]
    topic: Option<String>,
    /// A Kafka record's partition.
    #[pyo3(get)]
    partition: Option<i32>,
    /// A Kafka record's offset in its partition.
    #[pyo3(get)]
    offset: Option<i64>,
}

#[pymethods]
impl Event {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(match self.cause {
            Some(cause) => format!(
                "Event(kind='disconnect', cause='{cause}', close_code={}, detail={})",
                self.close_code
                    .map_or_else(|| "None".to_owned(), |c| c.to_string()),
                self.detail
                    .as_deref()
                    .unwrap_or_default()
                    .into_pyobject(py)?
                    .repr()?,
            ),
            None => format!(
                "Event(kind='{}', data={})",
                self.kind,
                short_repr(self.data.bind(py))?
            ),
        })
    }
}

/// The repr of a message, cut after 64 characters.
fn short_repr(data: &Bound<'_, PyAny>) -> PyResult<String> {
    let r = data.repr()?.to_string();
    let cut = r.char_indices().nth(64).map(|(i, _)| i);
    Ok(match cut {
        Some(i) => format!("{}… ({} bytes)", &r[..i], data.len()?),
        None => r,
    })
}

/// A message as `read()` returns it: `str` for text, `bytes` for binary.
pub(crate) fn message_to_py<'py>(py: Python<'py>, m: &Message) -> Bound<'py, PyAny> {
    match m.as_text() {
        Some(t) => PyString::new(py, t).into_any(),
        None => PyBytes::new(py, m.as_bytes()).into_any(),
    }
}

/// `read()`'s value for an event: the message, or `""` for a lost connection.
pub(crate) fn value<'py>(py: Python<'py>, e: Option<wsdial::Event>) -> Bound<'py, PyAny> {
    match e {
        Some(wsdial::Event::Message(m)) => message_to_py(py, &m),
        Some(wsdial::Event::Disconnected(_)) => intern!(py, "").clone().into_any(),
        None => py.None().into_bound(py),
    }
}

/// `read_event()`'s value for an event.
pub(crate) fn event(py: Python<'_>, e: wsdial::Event) -> Event {
    match e {
        wsdial::Event::Message(m) => Event {
            kind: if m.is_text() { "text" } else { "binary" },
            data: message_to_py(py, &m).unbind(),
            cause: None,
            close_code: None,
            detail: None,
            decode_error: m.decode_error().map(str::to_owned),
            received_at: m
                .received_at()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs_f64()),
            topic: m.topic().map(str::to_owned),
            partition: m.partition(),
            offset: m.offset(),
        },
        wsdial::Event::Disconnected(d) => Event {
            kind: "disconnect",
            data: py.None(),
            cause: Some(cause_name(d.cause())),
            close_code: d.close_code(),
            detail: Some(d.detail().to_owned()),
            decode_error: None,
            received_at: None,
            topic: None,
            partition: None,
            offset: None,
        },
    }
}

/// The Python name of a cause.
pub(crate) fn cause_name(c: Cause) -> &'static str {
    match c {
        Cause::ClosedByPeer => "closed_by_peer",
        Cause::Eof => "eof",
        Cause::Io => "io",
        Cause::Protocol => "protocol",
        Cause::Idle => "idle",
        Cause::ClosedByUser => "closed_by_user",
        Cause::GaveUp => "gave_up",
        Cause::PingTimeout => "ping_timeout",
        Cause::Refused => "refused",
        Cause::NotReadable => "not_readable",
        _ => "other",
    }
}
