//! [`Dialer`], the builder, and the one-line [`dial`] functions.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::address::{Address, Target};
use crate::conn::Conn;
use crate::error::{Error, ErrorKind};
use crate::hooks::{Hooks, Reply};
use crate::message::Message;
use crate::options::{self, Compression, Mode, Options, Setting, Spec, Value};
use crate::proxy::Proxy;
use crate::socket;
use crate::transport::Plan;

/// Dials `address` (`URL|key=value&…`) with the default 10 s deadline.
///
/// ```no_run
/// let conn = wsdial::dial("wss://stream.binance.com:9443/ws/btcusdt@trade|reconnect=true")?;
/// while let wsdial::Event::Message(m) = conn.read() {
///     println!("{}", m.as_text().unwrap_or("<binary>"));
/// }
/// # Ok::<(), wsdial::Error>(())
/// ```
pub fn dial(address: &str) -> Result<Conn, Error> {
    Dialer::new().dial(address)
}

/// Dials `address` with this dial deadline, unless the address sets `timeout=`.
pub fn dial_timeout(address: &str, timeout: Duration) -> Result<Conn, Error> {
    Dialer::new().timeout(timeout).dial(address)
}

/// A builder for what a string cannot carry well. Settings made here and
/// options in the address combine; the address wins on conflict (for `header`,
/// a header of the same name; `payload`s from both are sent, the builder's first).
///
/// A setter takes any value of its type, and the dial refuses the values the
/// address string refuses, with the same error: `Dialer::new().qsize(0)` fails
/// to dial just as `|qsize=0` does, naming `qsize` and what is accepted.
///
/// ```no_run
/// use std::time::Duration;
/// let conn = wsdial::Dialer::new()
///     .timeout(Duration::from_secs(5))
///     .header("x-api-key", "secret")
///     .on_connect(|| vec![format!(r#"{{"op":"login","ts":{}}}"#, 0)])
///     .dial("wss://example.org/ws|reconnect=true")?;
/// # Ok::<(), wsdial::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Dialer {
    settings: Vec<Setting>,
    hooks: Hooks,
}

impl Dialer {
    /// A dialer with the defaults of the option table.
    pub fn new() -> Dialer {
        Dialer::default()
    }

    fn with(mut self, spec: &'static Spec, value: Value) -> Dialer {
        self.settings.push(Setting::new(spec, value));
        self
    }

    /// The dial deadline: DNS, TCP, proxy, TLS and handshake together
    /// (`timeout=`, default 10 s; not zero).
    pub fn timeout(self, d: Duration) -> Dialer {
        self.with(&options::TIMEOUT, Value::Millis(d))
    }

    /// Adds a handshake header (`header=`): the name an HTTP token, the value
    /// without control characters.
    pub fn header(self, name: impl Into<String>, value: impl Into<String>) -> Dialer {
        self.with(&options::HEADER, Value::Header(name.into(), value.into()))
    }

    /// Adds a message sent after every connect (`payload=`).
    pub fn payload(self, text: impl Into<String>) -> Dialer {
        self.with(&options::PAYLOAD, Value::Text(text.into()))
    }

    /// Sends the messages of each connect (`on_connect`'s, then the payloads)
    /// at least this far apart (`pace=`), for exchanges that drop clients
    /// which subscribe too fast; `Duration::ZERO` sends them at once.
    pub fn pace(self, d: Duration) -> Dialer {
        self.with(&options::PACE, Value::Millis(d))
    }

    /// Reconnect by itself after a lost connection (`reconnect=`).
    pub fn reconnect(self, on: bool) -> Dialer {
        self.with(&options::RECONNECT, Value::Bool(on))
    }

    /// Wait before a reconnect attempt (`interval=`, default 1 s).
    pub fn interval(self, d: Duration) -> Dialer {
        self.with(&options::INTERVAL, Value::Millis(d))
    }

    /// Cap of the exponential backoff (`max_interval=`, default 30 s); equal
    /// to `interval`, the wait is fixed.
    pub fn max_interval(self, d: Duration) -> Dialer {
        self.with(&options::MAX_INTERVAL, Value::Millis(d))
    }

    /// Failed reconnect attempts in a row before giving up; 0 = never (`retry=`).
    pub fn retry(self, n: u32) -> Dialer {
        self.with(&options::RETRY, Value::Count(n.into()))
    }

    /// When the first dial fails, return the connection anyway and dial again
    /// in the background under the reconnect policy (`retry_first=`; for a
    /// program that may start before its network does). Until it is up,
    /// writes return 0 and reads wait; a refusal with an HTTP status is an
    /// [`Event::Disconnected`](crate::Event::Disconnected) with
    /// [`Cause::Refused`](crate::Cause::Refused), and `retry` failures in a row
    /// end it with [`Cause::GaveUp`](crate::Cause::GaveUp). The connection it
    /// makes counts in [`Stats::reconnects`](crate::Stats::reconnects).
    pub fn retry_first(self, on: bool) -> Dialer {
        self.with(&options::RETRY_FIRST, Value::Bool(on))
    }

    /// Receive buffer capacity in messages (`qsize=`, default 2000; at least 1).
    pub fn qsize(self, n: usize) -> Dialer {
        self.with(&options::QSIZE, count(n))
    }

    /// Receive buffer capacity in bytes (`qbytes=`, default 16 MiB; at least 1).
    pub fn qbytes(self, n: usize) -> Dialer {
        self.with(&options::QBYTES, count(n))
    }

    /// Send queue capacity in bytes (`sendq=`, default 16 MiB; at least 1): what
    /// the program wrote and the socket has not taken yet. A write that does
    /// not fit returns 0 and is counted in [`Stats::rejected`](crate::Stats::rejected).
    pub fn sendq(self, n: usize) -> Dialer {
        self.with(&options::SENDQ, count(n))
    }

    /// Replace the connection before it is this old, make-before-break
    /// (`max_age=`); `Duration::ZERO` turns it off. No `Disconnected` for a
    /// rotation; around the switch the same data may be seen twice (see
    /// [the crate docs](crate#rotation)).
    pub fn max_age(self, d: Duration) -> Dialer {
        self.with(&options::MAX_AGE, Value::Millis(d))
    }

    /// Largest inbound message accepted (`maxsize=`, default 64 MiB; at least 1).
    pub fn maxsize(self, n: usize) -> Dialer {
        self.with(&options::MAXSIZE, count(n))
    }

    /// Keepalive period (`ping=`, default 20 s for WebSocket, off for raw
    /// sockets); `Duration::ZERO` turns it off.
    pub fn ping(self, d: Duration) -> Dialer {
        self.with(&options::PING, Value::Millis(d))
    }

    /// How long after a keepalive the connection may stay silent before it is
    /// declared dead (`ping_timeout=`, default 20 s for WebSocket, off for raw
    /// sockets); `Duration::ZERO` turns the check off.
    pub fn ping_timeout(self, d: Duration) -> Dialer {
        self.with(&options::PING_TIMEOUT, Value::Millis(d))
    }

    /// Send this text as the keepalive instead of a protocol Ping (`ping_msg=`).
    pub fn ping_msg(self, text: impl Into<String>) -> Dialer {
        self.with(&options::PING_MSG, Value::Text(text.into()))
    }

    /// Silence that means the connection is dead (`idle=`); `Duration::ZERO` = off.
    pub fn idle(self, d: Duration) -> Dialer {
        self.with(&options::IDLE, Value::Millis(d))
    }

    /// The subprotocols to offer (`protocol=`), each an HTTP token.
    pub fn protocols<I, S>(self, list: I) -> Dialer
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list = list.into_iter().map(Into::into).collect();
        self.with(&options::PROTOCOL, Value::Tokens(list))
    }

    /// Skip TLS certificate checks (`insecure=`; tests only).
    pub fn insecure(self, on: bool) -> Dialer {
        self.with(&options::INSECURE, Value::Bool(on))
    }

    /// Trust the certificates of this PEM file too (`ca=`; not empty).
    pub fn ca(self, path: impl Into<PathBuf>) -> Dialer {
        self.with(&options::CA, Value::Path(path.into()))
    }

    /// Present this client certificate, a PEM file with the certificate and
    /// its chain (`cert=`; with [`key`](Dialer::key); `wss://` and `tls://`).
    pub fn cert(self, path: impl Into<PathBuf>) -> Dialer {
        self.with(&options::CERT, Value::Path(path.into()))
    }

    /// The private key of the client certificate, a PEM PKCS#8 file
    /// (`key=`; with [`cert`](Dialer::cert)).
    pub fn key(self, path: impl Into<PathBuf>) -> Dialer {
        self.with(&options::KEY, Value::Path(path.into()))
    }

    /// Connect through this proxy (`proxy=`).
    pub fn proxy(self, proxy: Proxy) -> Dialer {
        self.with(&options::PROXY, Value::Proxy(proxy))
    }

    /// Connect through the proxy that the environment names, as curl reads
    /// it (`proxy=env`): `https_proxy`/`HTTPS_PROXY` for `wss://`,
    /// `http_proxy` for `ws://`, then `all_proxy`/`ALL_PROXY`, unless
    /// `no_proxy`/`NO_PROXY` lists the host. Read at each dial of this
    /// `Dialer`, not at every reconnect.
    pub fn proxy_from_env(self) -> Dialer {
        self.with(&options::PROXY, Value::ProxyEnv)
    }

    /// Bind the local end to this address (`local_ip=`).
    pub fn local_ip(self, ip: IpAddr) -> Dialer {
        self.with(&options::LOCAL_IP, Value::Ip(ip))
    }

    /// Application-level compression (`compress=`).
    pub fn compress(self, c: Compression) -> Dialer {
        self.with(&options::COMPRESS, Value::Compression(Some(c)))
    }

    /// Which direction compression applies to (`mode=`).
    pub fn mode(self, m: Mode) -> Dialer {
        self.with(&options::MODE, Value::Mode(m))
    }

    /// Offer permessage-deflate, RFC 7692 (`enableCompression=`). When the
    /// server agrees, compressed messages are inflated (each to at most
    /// `maxsize` bytes) and what is written is compressed.
    pub fn enable_compression(self, on: bool) -> Dialer {
        self.with(&options::ENABLE_COMPRESSION, Value::Bool(on))
    }

    /// With permessage-deflate agreed, compress what is written
    /// (`deflate_writes=`, default true); `false` sends it uncompressed.
    pub fn deflate_writes(self, on: bool) -> Dialer {
        self.with(&options::DEFLATE_WRITES, Value::Bool(on))
    }

    /// Builds messages to send on every successful connect, first one included,
    /// before the payloads and before anything the program queued. For logins
    /// whose timestamp and signature must be fresh each time.
    ///
    /// `f` runs on the connection's background thread, at each connect, with
    /// no lock of the connection held.
    pub fn on_connect<F>(mut self, f: F) -> Dialer
    where
        F: Fn() -> Vec<String> + Send + Sync + 'static,
    {
        self.hooks.on_connect = Some(Arc::new(f));
        self
    }

    /// Runs `f` for every inbound message, as it arrives, whether or not the
    /// program is reading: it may send a reply at once and keep the message out
    /// of the buffer. A Huobi feed stays up this way
    /// even when the reader is minutes behind and the buffer is dropping:
    ///
    /// ```no_run
    /// use wsdial::{Dialer, Reply};
    /// let feed = Dialer::new()
    ///     .auto_reply(|m| match m.as_text().and_then(|t| t.strip_prefix(r#"{"ping":"#)) {
    ///         Some(rest) => Reply::Send(format!(r#"{{"pong":{rest}"#)),
    ///         None => Reply::Pass,
    ///     })
    ///     .dial("wss://api.huobi.pro/ws|compress=gzip&reconnect=true")?;
    /// # Ok::<(), wsdial::Error>(())
    /// ```
    ///
    /// `f` runs on whichever thread reads the socket: the background thread,
    /// or, when the program keeps up and reads the socket itself, the thread
    /// that called `read` (see [`Conn`](crate::Conn)). Keep it quick: it runs
    /// between reads of the socket. No other thread's `read` or `write` waits
    /// for it (they use the buffer and the send queue meanwhile), and it may
    /// itself call [`Conn::write`](crate::Conn::write).
    pub fn auto_reply<F>(mut self, f: F) -> Dialer
    where
        F: Fn(&Message) -> Reply + Send + Sync + 'static,
    {
        self.hooks.auto_reply = Some(Arc::new(f));
        self
    }

    /// Sends inbound messages for which `f` returns true to a high-priority
    /// lane: every read takes from it first, and a flood of other messages never
    /// evicts it (it has its own `qsize`/`qbytes` capacity; the normal lane keeps
    /// dropping its oldest). For exit signals that must not wait behind, or be
    /// dropped by, thousands of pnl updates:
    ///
    /// ```no_run
    /// let conn = wsdial::Dialer::new()
    ///     .priority(|m| m.as_text().is_some_and(|t| t.contains(r#""type":"exit_signal""#)))
    ///     .dial("wss://stream.example/v1/ws|reconnect=true")?;
    /// # Ok::<(), wsdial::Error>(())
    /// ```
    ///
    /// A priority message never comes before the disconnect of an earlier connection.
    /// `f` runs on whichever thread reads the socket, as `auto_reply` does,
    /// before the message reaches the buffer and never under its lock.
    pub fn priority<F>(mut self, f: F) -> Dialer
    where
        F: Fn(&Message) -> bool + Send + Sync + 'static,
    {
        self.hooks.priority = Some(Arc::new(f));
        self
    }

    /// The options a dial of `address` would use (builder, then address), or
    /// the error for the first builder setting out of range, the same error
    /// the address string gives for that value.
    pub fn try_options_for(&self, address: &Address) -> Result<Options, Error> {
        let mut o = Options::for_scheme(address.target().scheme());
        for s in &self.settings {
            s.check()?;
            o.apply(s);
        }
        address.apply_to(&mut o);
        Ok(o)
    }

    /// The options a dial of `address` would use (builder, then address). A
    /// builder setting out of range, which [`Dialer::dial`] refuses and
    /// [`Dialer::try_options_for`] reports, is left out here.
    pub fn options_for(&self, address: &Address) -> Options {
        let mut o = Options::for_scheme(address.target().scheme());
        for s in self.settings.iter().filter(|s| s.check().is_ok()) {
            o.apply(s);
        }
        address.apply_to(&mut o);
        o
    }

    /// Dials `address`: fails if the first connection cannot be made before
    /// the deadline (unless `retry_first` is on: then it keeps dialing in the
    /// background), or if the address or a builder setting is refused. Each of
    /// the address's [`warnings`](Address::warnings) is logged (`log::warn!`).
    ///
    /// `address` may also be a database [`Handle`](crate::db::Handle) as it
    /// displays (`handle://N`, no options, no builder settings): the `Conn` is
    /// on that handle's session.
    pub fn dial(&self, address: &str) -> Result<Conn, Error> {
        if let Some(r) = crate::db::dial_handle(address, !self.settings.is_empty()) {
            let (seam, driver, url) = r?;
            return Ok(Conn::new(seam, driver, url));
        }
        let addr = Address::parse(address)?;
        let mut options = self.try_options_for(&addr)?;
        if options.proxy_from_env && options::PROXY.schemes.include(addr.target().scheme()) {
            options.proxy = from_env(addr.target())?;
        }
        check(addr.target(), &options)?;
        for w in addr.warnings() {
            log::warn!("{}: {w}", addr.target().masked_url());
        }
        let url = addr.target().url().to_owned();
        let scheme = addr.target().scheme();
        let (seam, driver) = if scheme.is_broker() {
            crate::broker::start(addr.target(), &options)?
        } else if scheme.is_database() {
            crate::db::start(addr.target(), &options)?
        } else {
            let plan = Plan::new(addr.target().clone(), options)?;
            socket::start(plan, self.hooks.clone())?
        };
        Ok(Conn::new(seam, driver, url))
    }
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("settings", &self.settings)
            .field("on_connect", &self.hooks.on_connect.is_some())
            .field("auto_reply", &self.hooks.auto_reply.is_some())
            .field("priority", &self.hooks.priority.is_some())
            .finish()
    }
}

/// `proxy=env`: the proxy the process environment names for `target`, if any.
fn from_env(target: &Target) -> Result<Option<Proxy>, Error> {
    let url = target.masked_url();
    Ok(
        match crate::proxy_env::from_env(target, |n| std::env::var(n).ok())? {
            Some((var, p)) => {
                log::info!("{url}: proxy=env: {var} names {p}");
                Some(p)
            }
            None => {
                log::info!("{url}: proxy=env: no proxy for this host in the environment");
                None
            }
        },
    )
}

/// A count for a setter, as the option table reads it.
fn count(n: usize) -> Value {
    Value::Count(u64::try_from(n).unwrap_or(u64::MAX))
}

/// Refuses what this build cannot do, options that do not apply to the
/// scheme (each option's `schemes` in the option table), and combinations
/// that do not work, instead of ignoring them.
fn check(target: &Target, o: &Options) -> Result<(), Error> {
    let scheme = target.scheme();
    if o.compress == Some(Compression::Auto) && o.mode != Mode::Recv {
        return Err(Error::address(
            Some("compress"),
            format!(
                "compress=auto detects the format of received data; with mode={} pick gzip, gzip_raw, deflate or zlib",
                o.mode.as_str()
            ),
        ));
    }
    let not_for = |key: &str, applies: &str| {
        Err(Error::address(
            Some(key),
            format!("option `{key}` does not apply to {scheme}://; it applies to {applies}"),
        ))
    };
    // The scheme's own defaults: a scheme without WebSocket keepalives has
    // `ping` off by default, which is not setting it.
    let defaults = Options::for_scheme(scheme);
    for spec in options::SPECS {
        let set = (spec.get)(o) != (spec.get)(&defaults);
        if set && !spec.schemes.include(scheme) {
            return not_for(spec.name, spec.schemes.describe());
        }
    }
    if o.enable_compression && !cfg!(feature = "permessage-deflate") {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "enableCompression=true (permessage-deflate): this build of wsdial was made without its `permessage-deflate` feature",
        ));
    }
    // A raw socket has no protocol Ping: its keepalive is `ping_msg`.
    if o.ping.is_some() && o.ping_msg.is_none() && !scheme.is_websocket() {
        return not_for("ping", "ws:// and wss://");
    }
    if o.ping_msg.is_some() && o.ping.is_none() {
        return Err(Error::address(
            Some("ping_msg"),
            "option `ping_msg` needs `ping` (the period in ms) as well",
        ));
    }
    // A deadline for the answer to keepalives that are not sent: refused,
    // unless it is only the scheme's default.
    if o.ping.is_none()
        && o.ping_timeout.is_some()
        && o.ping_timeout != Options::for_scheme(scheme).ping_timeout
    {
        return Err(Error::address(
            Some("ping_timeout"),
            "option `ping_timeout` needs `ping` (keepalives to wait after); with `ping=0` there are none",
        ));
    }
    match (&o.cert, &o.key) {
        (Some(_), None) => {
            return Err(Error::address(
                Some("cert"),
                "option `cert` needs `key` (the path of the certificate's private key)",
            ))
        }
        (None, Some(_)) => {
            return Err(Error::address(
                Some("key"),
                "option `key` needs `cert` (the path of the client certificate)",
            ))
        }
        _ => {}
    }
    if !o.deflate_writes && !o.enable_compression {
        return Err(Error::address(
            Some("deflate_writes"),
            "option `deflate_writes` applies to permessage-deflate: it needs `enableCompression=true` as well",
        ));
    }
    if o.local_ip.is_some() && o.proxy.is_some() {
        return Err(Error::address(
            Some("local_ip"),
            "option `local_ip` cannot be combined with `proxy` (the proxy makes the outbound connection)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(address: &str) -> Result<(), Error> {
        let a = Address::parse(address).unwrap();
        check(a.target(), &Dialer::new().options_for(&a))
    }

    #[test]
    fn enable_compression_needs_its_feature() {
        let r = checked("ws://h/|enableCompression=true");
        if cfg!(feature = "permessage-deflate") {
            assert!(r.is_ok(), "{r:?}");
        } else {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported);
            assert!(
                e.to_string().contains("`permessage-deflate` feature"),
                "{e}"
            );
        }
        // the same from the builder
        let a = Address::parse("ws://h/").unwrap();
        let o = Dialer::new().enable_compression(true).options_for(&a);
        assert_eq!(
            check(a.target(), &o).is_ok(),
            cfg!(feature = "permessage-deflate")
        );
    }

    #[test]
    fn deflate_writes_needs_enable_compression() {
        let e = checked("ws://h/|deflate_writes=false").unwrap_err();
        assert_eq!(
            (e.kind(), e.key()),
            (ErrorKind::Address, Some("deflate_writes"))
        );
        assert!(
            e.to_string().contains("needs `enableCompression=true`"),
            "{e}"
        );
        let e = checked("tcp://h:1|enableCompression=true").unwrap_err();
        assert_eq!(e.key(), Some("enableCompression"));
        if cfg!(feature = "permessage-deflate") {
            assert!(checked("ws://h/|enableCompression=true&deflate_writes=false").is_ok());
        }
    }
}
