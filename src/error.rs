//! The one error type of the crate.

use std::fmt;
use std::io;
use std::time::Duration;

/// Which step of dialing (or which input) an [`Error`] comes from.
///
/// Reading and writing on a live connection never produce an `Error`: a lost
/// connection is an [`Event::Disconnected`](crate::Event::Disconnected) and a read
/// that times out returns `None`. A database statement
/// ([`Conn::exec`](crate::Conn::exec)) does: its `Err` says which kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The address string (or a builder setting) is malformed: an unknown option,
    /// a bad value, an unsupported scheme. [`Error::key`] names the option.
    Address,
    /// The host name could not be resolved.
    Dns,
    /// The TCP (or Unix socket, or UDP) connection could not be made.
    Tcp,
    /// The proxy refused, asked for credentials, rejected them, or is down.
    Proxy,
    /// The TLS handshake failed (certificate, protocol, plain server).
    Tls,
    /// The WebSocket (HTTP upgrade) handshake failed; [`Error::http_status`] has
    /// the status when the server answered with one. Also a broker that
    /// answered but refused the subscription (a Kafka topic it does not have).
    Handshake,
    /// The option is understood but its feature is not available in this build.
    Unsupported,
    /// Any other I/O failure.
    Io,
    /// A broker or database refused the credentials (wrong user or password,
    /// not authorised). The message carries the server's words.
    Auth,
    /// A database statement is not valid SQL (the server's message says where).
    Syntax,
    /// A database statement broke a constraint (unique, foreign key, not null, check).
    Constraint,
    /// Any other error a database reported for a statement (unknown table,
    /// type mismatch, permission …), with the server's message.
    Database,
}

impl ErrorKind {
    /// A short lowercase name of the phase, as shown in messages (`"tcp"`, `"tls"` …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Address => "address",
            ErrorKind::Dns => "dns",
            ErrorKind::Tcp => "tcp",
            ErrorKind::Proxy => "proxy",
            ErrorKind::Tls => "tls",
            ErrorKind::Handshake => "handshake",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Io => "io",
            ErrorKind::Auth => "auth",
            ErrorKind::Syntax => "syntax",
            ErrorKind::Constraint => "constraint",
            ErrorKind::Database => "database",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a dial failed, or why an address was refused.
///
/// One pointer wide (the details are boxed), so `Result<Conn, Error>` stays small.
/// The message says what was wrong and, for bad input, what is accepted:
///
/// ```
/// let err = wsdial::Address::parse("wss://x/ws|compres=gzip").unwrap_err();
/// assert_eq!(err.kind(), wsdial::ErrorKind::Address);
/// assert_eq!(err.key(), Some("compres"));
/// assert!(err.to_string().contains("did you mean `compress`"));
/// ```
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    message: String,
    key: Option<String>,
    status: Option<u16>,
    retry_after: Option<Duration>,
    timeout: bool,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            key: None,
            status: None,
            retry_after: None,
            timeout: false,
            source: None,
        }))
    }

    pub(crate) fn address(key: Option<&str>, message: impl Into<String>) -> Error {
        let mut e = Error::new(ErrorKind::Address, message);
        e.0.key = key.map(str::to_owned);
        e
    }

    /// The same error, naming `key` (as written) as the option that was wrong.
    pub(crate) fn for_key(mut self, key: &str) -> Error {
        self.0.key = Some(key.to_owned());
        self
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Error {
        self.0.source = Some(source.into());
        self
    }

    pub(crate) fn with_status(mut self, status: u16) -> Error {
        self.0.status = Some(status);
        self
    }

    pub(crate) fn with_retry_after(mut self, wait: Option<Duration>) -> Error {
        self.0.retry_after = wait;
        self
    }

    /// The same error with its message rewritten (a password masked).
    pub(crate) fn map_message(mut self, f: impl FnOnce(&str) -> String) -> Error {
        self.0.message = f(&self.0.message);
        self
    }

    pub(crate) fn timed_out(mut self) -> Error {
        self.0.timeout = true;
        self
    }

    /// An error of `kind` from an I/O error, marked as a timeout when it is one.
    pub(crate) fn io(kind: ErrorKind, what: impl fmt::Display, err: io::Error) -> Error {
        let timeout = matches!(
            err.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        );
        let msg = if timeout {
            format!("{what}: timed out")
        } else {
            format!("{what}: {err}")
        };
        let mut e = Error::new(kind, msg).with_source(err);
        e.0.timeout = timeout;
        e
    }

    /// The message without the phase's prefix.
    pub(crate) fn message(&self) -> &str {
        &self.0.message
    }

    /// Which phase failed, or [`ErrorKind::Address`] for bad input.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// For [`ErrorKind::Address`]: the option key that was wrong, as written.
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// For [`ErrorKind::Handshake`] (and HTTP proxies): the HTTP status the server answered.
    pub fn http_status(&self) -> Option<u16> {
        self.0.status
    }

    /// For a refused handshake: how long the server asked the client to wait
    /// before trying again (its `Retry-After` header, in seconds or as an
    /// HTTP date; at most a day). A reconnect waits at least this long.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// True when the dial failed because its deadline passed.
    pub fn is_timeout(&self) -> bool {
        self.0.timeout
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.kind {
            ErrorKind::Address => write!(f, "invalid address: {}", self.0.message),
            kind => write!(f, "{kind} failed: {}", self.0.message),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind)
            .field("message", &self.0.message);
        if let Some(k) = &self.0.key {
            d.field("key", k);
        }
        if let Some(s) = self.0.status {
            d.field("status", &s);
        }
        if let Some(w) = self.0.retry_after {
            d.field("retry_after", &w);
        }
        if self.0.timeout {
            d.field("timeout", &true);
        }
        if let Some(s) = &self.0.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        Error::io(ErrorKind::Io, "i/o", err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer_wide() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Result<(), Error>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn error_is_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }

    #[test]
    fn io_timeout_is_flagged() {
        let e = Error::io(
            ErrorKind::Tcp,
            "connect 127.0.0.1:1",
            io::Error::from(io::ErrorKind::TimedOut),
        );
        assert!(e.is_timeout());
        assert_eq!(e.to_string(), "tcp failed: connect 127.0.0.1:1: timed out");
    }
}
