//! Every option of the address string, its aliases, its accepted values and its
//! default, in one table; and [`Options`], the effective values of one dial.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::proxy::Proxy;

/// Application-level compression of binary frames (`compress=`); see the crate docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// RFC 1952 gzip (Huobi/HTX, CoinEx).
    Gzip,
    /// Raw DEFLATE as OKEx v1/v3 send it; a gzip or zlib header is accepted too.
    GzipRaw,
    /// Raw DEFLATE, RFC 1951 (`deflate` or `flate`).
    Deflate,
    /// RFC 1950 zlib.
    Zlib,
    /// Detect per message: gzip magic, zlib header, raw deflate, else pass through.
    Auto,
}

impl Compression {
    /// The canonical option value (`"gzip"`, `"gzip_raw"` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::GzipRaw => "gzip_raw",
            Compression::Deflate => "deflate",
            Compression::Zlib => "zlib",
            Compression::Auto => "auto",
        }
    }
}

/// Which direction `compress` applies to (`mode=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Inflate inbound binary frames (the default).
    #[default]
    Recv,
    /// Compress outbound messages and send them as binary frames.
    Send,
    /// Both directions.
    Dual,
}

impl Mode {
    /// The option value (`"recv"`, `"send"`, `"dual"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Recv => "recv",
            Mode::Send => "send",
            Mode::Dual => "dual",
        }
    }
}

/// The effective settings of one connection: defaults, then what a
/// [`Dialer`](crate::Dialer) set, then what the address string says.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// `compress`: application-level compression, if any.
    pub compress: Option<Compression>,
    /// `mode`: which direction `compress` applies to.
    pub mode: Mode,
    /// `reconnect`: dial again by itself after a lost connection.
    pub reconnect: bool,
    /// `interval`: wait before a reconnect attempt.
    pub interval: Duration,
    /// `max_interval`: cap of the exponential backoff; `None` means the same as `interval`.
    pub max_interval: Option<Duration>,
    /// `retry`: failed reconnect attempts in a row before giving up; 0 = never give up.
    pub retry: u32,
    /// `payload`: messages sent after every successful connect, in order.
    pub payloads: Vec<String>,
    /// `proxy`: connect through this proxy.
    pub proxy: Option<Proxy>,
    /// `header`: extra handshake headers, in order.
    pub headers: Vec<(String, String)>,
    /// `protocol`: the subprotocols offered in `Sec-WebSocket-Protocol`.
    pub protocols: Vec<String>,
    /// `insecure`: skip TLS certificate and host name checks (tests only).
    pub insecure: bool,
    /// `ca`: a PEM file whose certificates are trusted besides the system's roots.
    pub ca: Option<PathBuf>,
    /// `ping`: keepalive period; `None` = off.
    pub ping: Option<Duration>,
    /// `ping_msg`: send this text message as the keepalive instead of a protocol Ping.
    pub ping_msg: Option<String>,
    /// `idle`: nothing received for this long means the connection is dead; `None` = off.
    pub idle: Option<Duration>,
    /// `qsize`: receive buffer capacity in messages.
    pub qsize: usize,
    /// `qbytes`: receive buffer capacity in bytes.
    pub qbytes: usize,
    /// `maxsize`: largest inbound message accepted, bytes.
    pub maxsize: usize,
    /// `timeout`: the dial deadline (DNS, TCP, proxy, TLS and handshake together).
    pub timeout: Duration,
    /// `local_ip`: bind the local end of the connection to this address.
    pub local_ip: Option<IpAddr>,
    /// `enableCompression`: negotiate permessage-deflate (not available yet).
    pub enable_compression: bool,
}

/// Default receive buffer capacity, messages (`qsize`).
pub const DEFAULT_QSIZE: usize = 2000;
/// Default receive buffer capacity, bytes (`qbytes`).
pub const DEFAULT_QBYTES: usize = 16 * 1024 * 1024;
/// Default largest inbound message, bytes (`maxsize`).
pub const DEFAULT_MAXSIZE: usize = 64 * 1024 * 1024;
/// Default dial deadline (`timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default wait before a reconnect attempt (`interval`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(1000);

impl Default for Options {
    fn default() -> Options {
        Options {
            compress: None,
            mode: Mode::Recv,
            reconnect: false,
            interval: DEFAULT_INTERVAL,
            max_interval: None,
            retry: 0,
            payloads: Vec::new(),
            proxy: None,
            headers: Vec::new(),
            protocols: Vec::new(),
            insecure: false,
            ca: None,
            ping: None,
            ping_msg: None,
            idle: None,
            qsize: DEFAULT_QSIZE,
            qbytes: DEFAULT_QBYTES,
            maxsize: DEFAULT_MAXSIZE,
            timeout: DEFAULT_TIMEOUT,
            local_ip: None,
            enable_compression: false,
        }
    }
}

/// One option as written: its key and its typed value. An address is a list of
/// these; applying them in order over the defaults gives the [`Options`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Setting {
    Compress(Option<Compression>),
    Mode(Mode),
    Reconnect(bool),
    Interval(Duration),
    MaxInterval(Duration),
    Retry(u32),
    Payload(String),
    Proxy(Proxy),
    Header(String, String),
    Protocol(Vec<String>),
    Insecure(bool),
    Ca(PathBuf),
    Ping(Option<Duration>),
    PingMsg(String),
    Idle(Option<Duration>),
    Qsize(usize),
    Qbytes(usize),
    Maxsize(usize),
    Timeout(Duration),
    LocalIp(IpAddr),
    EnableCompression(bool),
}

impl Options {
    /// Applies one setting: scalars are replaced, `payload` appends, `header`
    /// replaces a header of the same name (case-insensitive) or appends.
    pub(crate) fn apply(&mut self, s: Setting) {
        match s {
            Setting::Compress(v) => self.compress = v,
            Setting::Mode(v) => self.mode = v,
            Setting::Reconnect(v) => self.reconnect = v,
            Setting::Interval(v) => self.interval = v,
            Setting::MaxInterval(v) => self.max_interval = Some(v),
            Setting::Retry(v) => self.retry = v,
            Setting::Payload(v) => self.payloads.push(v),
            Setting::Proxy(v) => self.proxy = Some(v),
            Setting::Header(name, value) => {
                match self
                    .headers
                    .iter_mut()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&name))
                {
                    Some(slot) => slot.1 = value,
                    None => self.headers.push((name, value)),
                }
            }
            Setting::Protocol(v) => self.protocols = v,
            Setting::Insecure(v) => self.insecure = v,
            Setting::Ca(v) => self.ca = Some(v),
            Setting::Ping(v) => self.ping = v,
            Setting::PingMsg(v) => self.ping_msg = Some(v),
            Setting::Idle(v) => self.idle = v,
            Setting::Qsize(v) => self.qsize = v,
            Setting::Qbytes(v) => self.qbytes = v,
            Setting::Maxsize(v) => self.maxsize = v,
            Setting::Timeout(v) => self.timeout = v,
            Setting::LocalIp(v) => self.local_ip = Some(v),
            Setting::EnableCompression(v) => self.enable_compression = v,
        }
    }

    /// The backoff cap: `max_interval` when above `interval`, else `interval`.
    pub(crate) fn backoff_cap(&self) -> Duration {
        self.max_interval
            .map_or(self.interval, |m| m.max(self.interval))
    }
}

/// How a value is shaped; decides how `&` inside it is read (see `address.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Free text that may contain `&` and `=` (payload, header, ping_msg, proxy, ca).
    Text,
    /// A word or number: never contains `&`.
    Word,
}

/// One row of the option table.
pub(crate) struct Spec {
    /// The canonical key.
    pub name: &'static str,
    /// Other spellings accepted.
    pub aliases: &'static [&'static str],
    pub shape: Shape,
    /// What is accepted, for error messages.
    pub accepts: &'static str,
    parse: fn(&str, &str) -> Result<Setting, Error>,
}

/// The option table: every key the address string accepts.
pub(crate) const SPECS: &[Spec] = &[
    Spec {
        name: "compress",
        aliases: &[],
        shape: Shape::Word,
        accepts: "gzip, gzip_raw, deflate (or flate), zlib, auto, none",
        parse: |k, v| {
            let c = match v.to_ascii_lowercase().as_str() {
                "gzip" => Some(Compression::Gzip),
                "gzip_raw" => Some(Compression::GzipRaw),
                "deflate" | "flate" => Some(Compression::Deflate),
                "zlib" => Some(Compression::Zlib),
                "auto" => Some(Compression::Auto),
                "none" | "" => None,
                _ => return Err(bad(k, v)),
            };
            Ok(Setting::Compress(c))
        },
    },
    Spec {
        name: "mode",
        aliases: &[],
        shape: Shape::Word,
        accepts: "dual, send, recv",
        parse: |k, v| {
            Ok(Setting::Mode(match v.to_ascii_lowercase().as_str() {
                "recv" => Mode::Recv,
                "send" => Mode::Send,
                "dual" => Mode::Dual,
                _ => return Err(bad(k, v)),
            }))
        },
    },
    Spec {
        name: "reconnect",
        aliases: &[],
        shape: Shape::Word,
        accepts: "true or false",
        parse: |k, v| Ok(Setting::Reconnect(boolean(k, v)?)),
    },
    Spec {
        name: "interval",
        aliases: &[],
        shape: Shape::Word,
        accepts: "milliseconds, a whole number such as 1000",
        parse: |k, v| Ok(Setting::Interval(millis(k, v)?)),
    },
    Spec {
        name: "max_interval",
        aliases: &["maxInterval"],
        shape: Shape::Word,
        accepts: "milliseconds, a whole number such as 30000",
        parse: |k, v| Ok(Setting::MaxInterval(millis(k, v)?)),
    },
    Spec {
        name: "retry",
        aliases: &[],
        shape: Shape::Word,
        accepts: "a count of attempts, 0 = unlimited",
        parse: |k, v| Ok(Setting::Retry(number(k, v)?)),
    },
    Spec {
        name: "payload",
        aliases: &[],
        shape: Shape::Text,
        accepts: "any text (raw JSON, or percent-encoded); may repeat",
        parse: |_, v| Ok(Setting::Payload(v.to_owned())),
    },
    Spec {
        name: "proxy",
        aliases: &[],
        shape: Shape::Text,
        accepts: "socks5://[user:pwd@]host:port, socks5h://[user:pwd@]host:port or http://[user:pwd@]host:port",
        parse: |k, v| Ok(Setting::Proxy(Proxy::parse(v).map_err(|e| e.for_key(k))?)),
    },
    Spec {
        name: "header",
        aliases: &["headers"],
        shape: Shape::Text,
        accepts: "`Name: Value`; may repeat",
        parse: |k, v| {
            let (name, value) = header(v).ok_or_else(|| bad(k, v))?;
            Ok(Setting::Header(name, value))
        },
    },
    Spec {
        name: "protocol",
        aliases: &["protocols", "subprotocol"],
        shape: Shape::Word,
        accepts: "a comma-separated list of subprotocol names",
        parse: |k, v| {
            let list: Vec<String> = v.split(',').map(|p| p.trim().to_owned()).collect();
            if list.iter().any(|p| !is_token(p)) {
                return Err(bad(k, v));
            }
            Ok(Setting::Protocol(list))
        },
    },
    Spec {
        name: "insecure",
        aliases: &["insecureSkipVerify"],
        shape: Shape::Word,
        accepts: "true or false",
        parse: |k, v| Ok(Setting::Insecure(boolean(k, v)?)),
    },
    Spec {
        name: "ca",
        aliases: &[],
        shape: Shape::Text,
        accepts: "the path of a PEM file",
        parse: |k, v| {
            if v.is_empty() {
                return Err(bad(k, v));
            }
            Ok(Setting::Ca(PathBuf::from(v)))
        },
    },
    Spec {
        name: "ping",
        aliases: &["pingInterval"],
        shape: Shape::Word,
        accepts: "milliseconds between keepalives, 0 = off",
        parse: |k, v| Ok(Setting::Ping(nonzero(millis(k, v)?))),
    },
    Spec {
        name: "ping_msg",
        aliases: &["pingMessage"],
        shape: Shape::Text,
        accepts: "the text sent as keepalive (for example `ping`)",
        parse: |_, v| Ok(Setting::PingMsg(v.to_owned())),
    },
    Spec {
        name: "idle",
        aliases: &[],
        shape: Shape::Word,
        accepts: "milliseconds of silence that mean the connection is dead, 0 = off",
        parse: |k, v| Ok(Setting::Idle(nonzero(millis(k, v)?))),
    },
    Spec {
        name: "qsize",
        aliases: &[],
        shape: Shape::Word,
        accepts: "a count of messages, at least 1",
        parse: |k, v| Ok(Setting::Qsize(positive(k, v)?)),
    },
    Spec {
        name: "qbytes",
        aliases: &[],
        shape: Shape::Word,
        accepts: "a count of bytes, at least 1",
        parse: |k, v| Ok(Setting::Qbytes(positive(k, v)?)),
    },
    Spec {
        name: "maxsize",
        aliases: &["max_size"],
        shape: Shape::Word,
        accepts: "a count of bytes, at least 1",
        parse: |k, v| Ok(Setting::Maxsize(positive(k, v)?)),
    },
    Spec {
        name: "timeout",
        aliases: &[],
        shape: Shape::Word,
        accepts: "milliseconds, at least 1",
        parse: |k, v| {
            let d = millis(k, v)?;
            if d.is_zero() {
                return Err(bad(k, v));
            }
            Ok(Setting::Timeout(d))
        },
    },
    Spec {
        name: "local_ip",
        aliases: &["localIp"],
        shape: Shape::Word,
        accepts: "an IPv4 or IPv6 address",
        parse: |k, v| Ok(Setting::LocalIp(v.parse().map_err(|_| bad(k, v))?)),
    },
    Spec {
        name: "enableCompression",
        aliases: &["enable_compression"],
        shape: Shape::Word,
        accepts: "true or false",
        parse: |k, v| Ok(Setting::EnableCompression(boolean(k, v)?)),
    },
];

impl Spec {
    /// Parses a value written for this key (`written` is the key as the user spelled it).
    pub(crate) fn parse(&self, written: &str, value: &str) -> Result<Setting, Error> {
        (self.parse)(written, value)
    }

    fn matches(&self, key: &str) -> bool {
        self.name.eq_ignore_ascii_case(key)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(key))
    }
}

/// The table row for a key or alias (case-insensitive).
pub(crate) fn lookup(key: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.matches(key))
}

/// The known key nearest to an unknown one, if any is close enough to be a typo.
pub(crate) fn suggest(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    SPECS
        .iter()
        .flat_map(|s| {
            std::iter::once(s.name)
                .chain(s.aliases.iter().copied())
                .map(move |n| (s.name, n))
        })
        .map(|(canon, n)| (canon, edit_distance(&lower, &n.to_ascii_lowercase())))
        .filter(|&(_, d)| d <= 2.max(lower.len() / 4))
        .min_by_key(|&(_, d)| d)
        .map(|(canon, _)| canon)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn bad(key: &str, value: &str) -> Error {
    let accepts = lookup(key).map_or("", |s| s.accepts);
    Error::address(
        Some(key),
        format!("option `{key}` has the value `{value}`; accepted: {accepts}"),
    )
}

fn boolean(k: &str, v: &str) -> Result<bool, Error> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(bad(k, v)),
    }
}

fn number<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, Error> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(k, v));
    }
    v.parse().map_err(|_| bad(k, v))
}

fn millis(k: &str, v: &str) -> Result<Duration, Error> {
    let ms: u64 = number(k, v).map_err(|_| {
        Error::address(
            Some(k),
            format!("option `{k}` has the value `{v}`; it must be milliseconds, a whole number such as 1000"),
        )
    })?;
    Ok(Duration::from_millis(ms))
}

fn positive(k: &str, v: &str) -> Result<usize, Error> {
    match number::<usize>(k, v)? {
        0 => Err(bad(k, v)),
        n => Ok(n),
    }
}

fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// `Name: Value` with an HTTP token as name and a value without control characters.
fn header(v: &str) -> Option<(String, String)> {
    let (name, value) = v.split_once(':')?;
    let name = name.trim();
    let value = value.trim();
    if !is_token(name) || value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return None;
    }
    Some((name.to_owned(), value.to_owned()))
}

/// An HTTP token (RFC 9110 `tchar`s), as header names and subprotocols must be.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_and_alias_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for s in SPECS {
            for n in std::iter::once(s.name).chain(s.aliases.iter().copied()) {
                assert!(seen.insert(n.to_ascii_lowercase()), "duplicate key {n}");
            }
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("compres"), Some("compress"));
        assert_eq!(suggest("reconect"), Some("reconnect"));
        assert_eq!(suggest("pingintervall"), Some("ping"));
        assert_eq!(suggest("payloads"), Some("payload"));
        assert_eq!(suggest("zzzzzzzz"), None);
    }

    #[test]
    fn header_apply_replaces_same_name() {
        let mut o = Options::default();
        o.apply(Setting::Header("X-Key".into(), "a".into()));
        o.apply(Setting::Header("x-key".into(), "b".into()));
        o.apply(Setting::Header("Other".into(), "c".into()));
        assert_eq!(
            o.headers,
            vec![("X-Key".into(), "b".into()), ("Other".into(), "c".into())]
        );
    }
}
