//! The options of a dial: [`Options`], the effective values, and the one
//! table that declares every option (`table.rs`; what a row is and does:
//! `spec.rs`).
//!
//! Everything that knows an option's key comes from its row of that table:
//! the address parser (`address.rs`), the range checks of the
//! [`Dialer`](crate::Dialer) setters, which schemes a dial accepts it with,
//! [`Options::entries`] (what `wsdial parse` prints), and the test (`docs.rs`)
//! that holds the option tables of the crate docs and README.md to it.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::address::Scheme;
use crate::proxy::Proxy;

#[cfg(test)]
mod docs;
mod spec;
mod table;
mod value;

pub(crate) use spec::{lookup, near_miss, suggest, Setting, Spec};
pub(crate) use table::*;
pub(crate) use value::{Type, Value};

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
    /// `max_interval`: cap of the exponential backoff (30 s by default);
    /// `None`, or a cap not above `interval`, keeps the wait fixed at `interval`.
    pub max_interval: Option<Duration>,
    /// `retry`: failed reconnect attempts in a row before giving up; 0 = never give up.
    pub retry: u32,
    /// `retry_first`: a failed first dial is retried in the background under
    /// the reconnect policy, instead of being the dial's error.
    pub retry_first: bool,
    /// `payload`: messages sent after every successful connect, in order.
    pub payloads: Vec<String>,
    /// `pace`: the least time between two messages sent at a connect
    /// (`on_connect`'s, then the payloads); `None` = all at once.
    pub pace: Option<Duration>,
    /// `proxy`: connect through this proxy.
    pub proxy: Option<Proxy>,
    /// `proxy=env`: connect through the proxy the environment names
    /// (`HTTPS_PROXY`, `ALL_PROXY` …, unless `NO_PROXY` lists the host), read
    /// when dialing, as curl reads them.
    pub proxy_from_env: bool,
    /// `header`: extra handshake headers, in order.
    pub headers: Vec<(String, String)>,
    /// `protocol`: the subprotocols offered in `Sec-WebSocket-Protocol`.
    pub protocols: Vec<String>,
    /// `insecure`: skip TLS certificate and host name checks (tests only).
    pub insecure: bool,
    /// `ca`: a PEM file whose certificates are trusted besides the system's roots.
    pub ca: Option<PathBuf>,
    /// `cert`: a PEM file with the client certificate (and its chain) to present.
    pub cert: Option<PathBuf>,
    /// `key`: a PEM file with the private key of `cert` (PKCS#8).
    pub key: Option<PathBuf>,
    /// `ping`: keepalive period; `None` = off. On by default for WebSocket
    /// (20 s), off for raw sockets (see [`Options::for_scheme`]).
    pub ping: Option<Duration>,
    /// `ping_msg`: send this text message as the keepalive instead of a protocol Ping.
    pub ping_msg: Option<String>,
    /// `ping_timeout`: nothing received within this long of a keepalive means
    /// the connection is dead; `None` = off. Applies only while `ping` is on.
    pub ping_timeout: Option<Duration>,
    /// `idle`: nothing received for this long means the connection is dead; `None` = off.
    pub idle: Option<Duration>,
    /// `max_age`: replace the connection, without a gap, before it is this old; `None` = off.
    pub max_age: Option<Duration>,
    /// `qsize`: receive buffer capacity in messages.
    pub qsize: usize,
    /// `qbytes`: receive buffer capacity in bytes.
    pub qbytes: usize,
    /// `sendq`: send queue capacity in bytes; a write that does not fit returns 0.
    pub sendq: usize,
    /// `maxsize`: largest inbound message accepted, bytes.
    pub maxsize: usize,
    /// `timeout`: the dial deadline (DNS, TCP, proxy, TLS and handshake together).
    pub timeout: Duration,
    /// `local_ip`: bind the local end of the connection to this address.
    pub local_ip: Option<IpAddr>,
    /// `enableCompression`: offer permessage-deflate (RFC 7692).
    pub enable_compression: bool,
    /// `deflate_writes`: with permessage-deflate agreed, compress what is sent.
    pub deflate_writes: bool,
}

/// Default receive buffer capacity, messages (`qsize`).
pub const DEFAULT_QSIZE: usize = 2000;
/// Default receive buffer capacity, bytes (`qbytes`).
pub const DEFAULT_QBYTES: usize = 16 * 1024 * 1024;
/// Default send queue capacity, bytes (`sendq`).
pub const DEFAULT_SENDQ: usize = 16 * 1024 * 1024;
/// Default largest inbound message, bytes (`maxsize`).
pub const DEFAULT_MAXSIZE: usize = 64 * 1024 * 1024;
/// Default dial deadline (`timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default wait before a reconnect attempt (`interval`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(1000);
/// Default cap of the reconnect backoff (`max_interval`).
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(30);
/// Default keepalive period of a WebSocket (`ping`), as Python `websockets`.
pub const DEFAULT_PING: Duration = Duration::from_secs(20);
/// Default time a WebSocket keepalive waits for anything to arrive (`ping_timeout`).
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(20);

impl Default for Options {
    fn default() -> Options {
        Options {
            compress: None,
            mode: Mode::Recv,
            reconnect: false,
            interval: DEFAULT_INTERVAL,
            max_interval: Some(DEFAULT_MAX_INTERVAL),
            retry: 0,
            retry_first: false,
            payloads: Vec::new(),
            pace: None,
            proxy: None,
            proxy_from_env: false,
            headers: Vec::new(),
            protocols: Vec::new(),
            insecure: false,
            ca: None,
            cert: None,
            key: None,
            ping: Some(DEFAULT_PING),
            ping_msg: None,
            ping_timeout: Some(DEFAULT_PING_TIMEOUT),
            idle: None,
            max_age: None,
            qsize: DEFAULT_QSIZE,
            qbytes: DEFAULT_QBYTES,
            sendq: DEFAULT_SENDQ,
            maxsize: DEFAULT_MAXSIZE,
            timeout: DEFAULT_TIMEOUT,
            local_ip: None,
            enable_compression: false,
            deflate_writes: true,
        }
    }
}

/// An option's effective value, as [`Options::entries`] lists it and
/// `wsdial parse` prints it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OptionValue {
    /// Not set, and without a default (`compress`, `proxy`, `ca` …).
    Unset,
    /// `true` or `false`.
    Bool(bool),
    /// A count, a size in bytes, or milliseconds (`0` is "off" where the
    /// option table says so).
    Number(u64),
    /// A word (`gzip`, `recv`), a path, an IP address or a text.
    Text(String),
    /// A repeatable option's values in order: payloads, headers as
    /// `Name: Value`, subprotocols.
    List(Vec<String>),
    /// The proxy. It may hold a password: show it with care.
    Proxy(Proxy),
}

impl Options {
    /// The defaults for a scheme: [`Options::default`] for `ws` and `wss`; for
    /// the raw schemes (`tcp`, `tls`, `udp`, `unix`) the same without the
    /// keepalive (`ping` and `ping_timeout` off), since a raw socket has no
    /// protocol Ping that every peer answers. A program may still set both
    /// there, with `ping_msg`.
    ///
    /// ```
    /// use wsdial::{Options, Scheme};
    /// use std::time::Duration;
    /// assert_eq!(Options::for_scheme(Scheme::Wss).ping, Some(Duration::from_secs(20)));
    /// assert_eq!(Options::for_scheme(Scheme::Tcp).ping, None);
    /// ```
    pub fn for_scheme(scheme: Scheme) -> Options {
        let mut o = Options::default();
        if !scheme.is_websocket() {
            o.ping = None;
            o.ping_timeout = None;
        }
        o
    }

    /// Every option's canonical key and effective value, in the order of the
    /// option table.
    ///
    /// ```
    /// use wsdial::OptionValue;
    /// let o = wsdial::Address::parse("wss://x/ws|qsize=10").unwrap().options();
    /// let qsize = o.entries().find(|(key, _)| *key == "qsize").map(|(_, v)| v);
    /// assert_eq!(qsize, Some(OptionValue::Number(10)));
    /// ```
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, OptionValue)> + '_ {
        SPECS.iter().map(move |s| (s.name, (s.get)(self)))
    }

    /// Applies one setting: scalars are replaced, `payload` appends, `header`
    /// replaces a header of the same name (case-insensitive) or appends.
    pub(crate) fn apply(&mut self, s: &Setting) {
        s.apply_to(self);
    }

    /// The backoff cap: `max_interval` when above `interval`, else `interval`.
    pub(crate) fn backoff_cap(&self) -> Duration {
        self.max_interval
            .map_or(self.interval, |m| m.max(self.interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_and_alias_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for s in SPECS {
            for n in s.keys() {
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
    fn near_misses() {
        assert_eq!(near_miss("reconect"), Some("reconnect"));
        assert_eq!(near_miss("compres"), Some("compress"));
        assert_eq!(near_miss("qsze"), Some("qsize"));
        assert_eq!(near_miss("pingIntervl"), Some("ping"));
        // a known key is not a near miss of itself, in any case
        assert_eq!(near_miss("reconnect"), None);
        assert_eq!(near_miss("RECONNECT"), None);
        // short words need to be one edit away: URL parameters such as `y`,
        // `id` or `page` are not taken for `ca` or `ping`
        assert_eq!(near_miss("cb"), Some("ca"));
        // nor are the words next to `pace`
        for word in [
            "y", "id", "page", "type", "limit", "zzzzzzzz", "price", "place", "space",
        ] {
            assert_eq!(near_miss(word), None, "{word}");
        }
    }

    #[test]
    fn builder_values_are_checked_like_written_ones() {
        let refused = |spec: &'static Spec, v: Value| Setting::new(spec, v).check().unwrap_err();
        let e = refused(&QSIZE, Value::Count(0));
        assert_eq!(e.key(), Some("qsize"));
        assert!(e.to_string().contains("at least 1"), "{e}");
        let e = refused(&TIMEOUT, Value::Millis(Duration::ZERO));
        assert!(e.to_string().contains("has the value `0`"), "{e}");
        // finer than the string can write, and not zero: accepted
        assert!(
            Setting::new(&TIMEOUT, Value::Millis(Duration::from_micros(500)))
                .check()
                .is_ok()
        );
        // a value of another type is refused, never applied
        let e = refused(&RETRY, Value::Bool(true));
        assert_eq!(e.key(), Some("retry"));
        assert!(refused(&TIMEOUT, Value::Millis(Duration::MAX))
            .to_string()
            .contains("milliseconds"));
        assert!(Setting::new(&QSIZE, Value::Count(1)).check().is_ok());
    }

    #[test]
    fn header_apply_replaces_same_name() {
        let mut o = Options::default();
        let header = |n: &str, v: &str| Setting::new(&HEADER, Value::Header(n.into(), v.into()));
        o.apply(&header("X-Key", "a"));
        o.apply(&header("x-key", "b"));
        o.apply(&header("Other", "c"));
        assert_eq!(
            o.headers,
            vec![("X-Key".into(), "b".into()), ("Other".into(), "c".into())]
        );
    }
}
