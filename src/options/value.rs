//! The types of option values: how each is read from the address string, and
//! which values are in range, for the string and the [`Dialer`](crate::Dialer) alike.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{Compression, Mode};
use crate::proxy::Proxy;

/// A typed option value: what a string value becomes once read, or what a
/// [`Dialer`](crate::Dialer) setter was given. [`Type::admits`] decides
/// whether it is in range, for both.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Millis(Duration),
    Count(u64),
    Compression(Option<Compression>),
    Mode(Mode),
    Text(String),
    Header(String, String),
    Tokens(Vec<String>),
    Path(PathBuf),
    Proxy(Proxy),
    /// `proxy=env`: the proxy the environment names, read at dial time.
    ProxyEnv,
    Ip(IpAddr),
}

/// The type of an option's value, declared with the option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    /// `true`/`false` (`1`/`0`, `yes`/`no`, `on`/`off` too).
    Bool,
    /// Whole milliseconds; zero refused when `nonzero`. (A builder's
    /// `Duration` may be finer, up to `u64::MAX` ms.)
    Millis { nonzero: bool },
    /// A whole number from `min` to `max`.
    Count { min: u64, max: u64 },
    /// A [`Compression`] name, or `none`.
    Compression,
    /// A [`Mode`] name.
    Mode,
    /// Free text, kept as written; it may contain `&` and `=`.
    Text,
    /// `Name: Value`: an HTTP token, a colon, a value without control
    /// characters; the value is free text.
    Header,
    /// A comma-separated list of HTTP tokens.
    Tokens,
    /// A file path, not empty.
    Path,
    /// A proxy URL, as [`Proxy::parse`] reads it, or `env`.
    Proxy,
    /// An IPv4 or IPv6 address (IPv6 with or without brackets).
    Ip,
}

/// Why a text is not a value of its type.
pub(crate) enum Unreadable {
    /// Not of the type: the option's `accepts` says what is.
    Value,
    /// Not whole milliseconds.
    Millis,
    /// The type's own error (a proxy URL's), to be told which key it was.
    Said(crate::error::Error),
}

/// Headers the WebSocket handshake sets itself: a `header=` may not replace
/// them (an extension or key the client did not really offer would break the
/// connection after the handshake). Subprotocols go in `protocol=`.
const HANDSHAKE_HEADERS: &[&str] = &[
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Accept",
    "Upgrade",
    "Connection",
];

impl Type {
    /// True for free text (`Text`, `Header`): an `&` inside it ends the value
    /// only before a known key (the address grammar's rule 3). Every other
    /// value (a number, a word, a path, a proxy URL) never holds `&key=`, so
    /// any `&word=` ends it.
    pub(crate) fn is_free_text(self) -> bool {
        matches!(self, Type::Text | Type::Header)
    }

    /// Reads a value as written in an address (already percent-decoded).
    /// The range is [`Type::admits`]'s business, not this one's.
    pub(crate) fn read(self, text: &str) -> Result<Value, Unreadable> {
        Ok(match self {
            Type::Bool => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Value::Bool(true),
                "false" | "0" | "no" | "off" => Value::Bool(false),
                _ => return Err(Unreadable::Value),
            },
            Type::Millis { .. } => Value::Millis(Duration::from_millis(
                number(text).ok_or(Unreadable::Millis)?,
            )),
            Type::Count { .. } => Value::Count(number(text).ok_or(Unreadable::Value)?),
            Type::Compression => Value::Compression(match text.to_ascii_lowercase().as_str() {
                "gzip" => Some(Compression::Gzip),
                "gzip_raw" => Some(Compression::GzipRaw),
                "deflate" | "flate" => Some(Compression::Deflate),
                "zlib" => Some(Compression::Zlib),
                "auto" => Some(Compression::Auto),
                "none" | "" => None,
                _ => return Err(Unreadable::Value),
            }),
            Type::Mode => Value::Mode(match text.to_ascii_lowercase().as_str() {
                "recv" => Mode::Recv,
                "send" => Mode::Send,
                "dual" => Mode::Dual,
                _ => return Err(Unreadable::Value),
            }),
            Type::Text => Value::Text(text.to_owned()),
            Type::Header => {
                let (name, value) = text.split_once(':').ok_or(Unreadable::Value)?;
                Value::Header(name.trim().to_owned(), value.trim().to_owned())
            }
            Type::Tokens => Value::Tokens(text.split(',').map(|p| p.trim().to_owned()).collect()),
            Type::Path => Value::Path(PathBuf::from(text)),
            Type::Proxy if text.eq_ignore_ascii_case("env") => Value::ProxyEnv,
            Type::Proxy => Value::Proxy(Proxy::parse(text).map_err(Unreadable::Said)?),
            // An IPv6 address may be written in brackets, as in a URL.
            Type::Ip => {
                let bare = text
                    .strip_prefix('[')
                    .and_then(|t| t.strip_suffix(']'))
                    .filter(|t| t.contains(':'))
                    .unwrap_or(text);
                Value::Ip(bare.parse().map_err(|_| Unreadable::Value)?)
            }
        })
    }

    /// Whether `v` is a value of this type and in its range. The address
    /// parser asks this of what it read, and a dial asks it of what the
    /// [`Dialer`](crate::Dialer) setters were given, so both accept and refuse
    /// the same values.
    pub(crate) fn admits(self, v: &Value) -> bool {
        match (self, v) {
            (Type::Millis { nonzero }, Value::Millis(d)) => {
                !(nonzero && d.is_zero()) && *d <= Duration::from_millis(u64::MAX)
            }
            (Type::Count { min, max }, Value::Count(n)) => (min..=max).contains(n),
            (Type::Header, Value::Header(name, value)) => {
                is_token(name)
                    && !HANDSHAKE_HEADERS
                        .iter()
                        .any(|h| h.eq_ignore_ascii_case(name))
                    && !value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
            }
            // An empty list cannot be written in an address; from the builder it offers none.
            (Type::Tokens, Value::Tokens(list)) => list.iter().all(|p| is_token(p)),
            (Type::Path, Value::Path(p)) => !p.as_os_str().is_empty(),
            (Type::Bool, Value::Bool(_))
            | (Type::Compression, Value::Compression(_))
            | (Type::Mode, Value::Mode(_))
            | (Type::Text, Value::Text(_))
            | (Type::Proxy, Value::Proxy(_) | Value::ProxyEnv)
            | (Type::Ip, Value::Ip(_)) => true,
            _ => false,
        }
    }
}

/// As an address would write it (a proxy without its password), for messages.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Millis(d) if d.subsec_nanos() % 1_000_000 == 0 => write!(f, "{}", d.as_millis()),
            Value::Millis(d) => write!(f, "{d:?}"),
            Value::Count(n) => write!(f, "{n}"),
            Value::Compression(c) => f.write_str(c.map_or("none", Compression::as_str)),
            Value::Mode(m) => f.write_str(m.as_str()),
            Value::Text(t) => f.write_str(t),
            Value::Header(name, value) => write!(f, "{name}: {value}"),
            Value::Tokens(list) => f.write_str(&list.join(",")),
            Value::Path(p) => write!(f, "{}", p.display()),
            Value::Proxy(p) => write!(f, "{}://{}:{}", p.scheme(), p.host(), p.port()),
            Value::ProxyEnv => f.write_str("env"),
            Value::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// A whole number written with ASCII digits only (no sign, no exponent).
fn number(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// An HTTP token (RFC 9110 `tchar`s), as header names and subprotocols must be.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
