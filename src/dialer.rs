//! [`Dialer`], the builder, and the one-line [`dial`] functions.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::address::{Address, Scheme, Target};
use crate::conn::Conn;
use crate::error::{Error, ErrorKind};
use crate::hooks::{Hooks, Reply};
use crate::message::Message;
use crate::options::{Compression, Mode, Options, Setting};
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

    fn with(mut self, s: Setting) -> Dialer {
        self.settings.push(s);
        self
    }

    /// The dial deadline: DNS, TCP, proxy, TLS and handshake together (default 10 s).
    pub fn timeout(self, d: Duration) -> Dialer {
        self.with(Setting::Timeout(d))
    }

    /// Adds a handshake header (`header=`).
    pub fn header(self, name: impl Into<String>, value: impl Into<String>) -> Dialer {
        self.with(Setting::Header(name.into(), value.into()))
    }

    /// Adds a message sent after every connect (`payload=`).
    pub fn payload(self, text: impl Into<String>) -> Dialer {
        self.with(Setting::Payload(text.into()))
    }

    /// Reconnect by itself after a lost connection (`reconnect=`).
    pub fn reconnect(self, on: bool) -> Dialer {
        self.with(Setting::Reconnect(on))
    }

    /// Wait before a reconnect attempt (`interval=`, default 1 s).
    pub fn interval(self, d: Duration) -> Dialer {
        self.with(Setting::Interval(d))
    }

    /// Cap of the exponential backoff (`max_interval=`).
    pub fn max_interval(self, d: Duration) -> Dialer {
        self.with(Setting::MaxInterval(d))
    }

    /// Failed reconnect attempts in a row before giving up; 0 = never (`retry=`).
    pub fn retry(self, n: u32) -> Dialer {
        self.with(Setting::Retry(n))
    }

    /// Receive buffer capacity in messages (`qsize=`, default 2000).
    pub fn qsize(self, n: usize) -> Dialer {
        self.with(Setting::Qsize(n.max(1)))
    }

    /// Receive buffer capacity in bytes (`qbytes=`, default 16 MiB).
    pub fn qbytes(self, n: usize) -> Dialer {
        self.with(Setting::Qbytes(n.max(1)))
    }

    /// Largest inbound message accepted (`maxsize=`, default 64 MiB).
    pub fn maxsize(self, n: usize) -> Dialer {
        self.with(Setting::Maxsize(n.max(1)))
    }

    /// Keepalive period (`ping=`); `Duration::ZERO` turns it off.
    pub fn ping(self, d: Duration) -> Dialer {
        self.with(Setting::Ping((!d.is_zero()).then_some(d)))
    }

    /// Send this text as the keepalive instead of a protocol Ping (`ping_msg=`).
    pub fn ping_msg(self, text: impl Into<String>) -> Dialer {
        self.with(Setting::PingMsg(text.into()))
    }

    /// Silence that means the connection is dead (`idle=`); `Duration::ZERO` = off.
    pub fn idle(self, d: Duration) -> Dialer {
        self.with(Setting::Idle((!d.is_zero()).then_some(d)))
    }

    /// The subprotocols to offer (`protocol=`).
    pub fn protocols<I, S>(self, list: I) -> Dialer
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with(Setting::Protocol(
            list.into_iter().map(Into::into).collect(),
        ))
    }

    /// Skip TLS certificate checks (`insecure=`; tests only).
    pub fn insecure(self, on: bool) -> Dialer {
        self.with(Setting::Insecure(on))
    }

    /// Trust the certificates of this PEM file too (`ca=`).
    pub fn ca(self, path: impl Into<PathBuf>) -> Dialer {
        self.with(Setting::Ca(path.into()))
    }

    /// Connect through this proxy (`proxy=`).
    pub fn proxy(self, proxy: Proxy) -> Dialer {
        self.with(Setting::Proxy(proxy))
    }

    /// Bind the local end to this address (`local_ip=`).
    pub fn local_ip(self, ip: IpAddr) -> Dialer {
        self.with(Setting::LocalIp(ip))
    }

    /// Application-level compression (`compress=`).
    pub fn compress(self, c: Compression) -> Dialer {
        self.with(Setting::Compress(Some(c)))
    }

    /// Which direction compression applies to (`mode=`).
    pub fn mode(self, m: Mode) -> Dialer {
        self.with(Setting::Mode(m))
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

    /// The options a dial of `address` would use (builder, then address).
    pub fn options_for(&self, address: &Address) -> Options {
        let mut o = Options::default();
        for s in &self.settings {
            o.apply(s.clone());
        }
        address.apply_to(&mut o);
        o
    }

    /// Dials `address`: fails if the first connection cannot be made before the deadline.
    pub fn dial(&self, address: &str) -> Result<Conn, Error> {
        let addr = Address::parse(address)?;
        let options = self.options_for(&addr);
        check(addr.target(), &options)?;
        let url = addr.target().url().to_owned();
        let plan = Plan::new(addr.target().clone(), options)?;
        let (seam, driver) = socket::start(plan, self.hooks.clone())?;
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

/// Refuses what this build cannot do, and options that do not apply to the
/// scheme, instead of ignoring them.
fn check(target: &Target, o: &Options) -> Result<(), Error> {
    let scheme = target.scheme();
    if o.enable_compression {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "enableCompression=true (permessage-deflate) is not supported yet",
        ));
    }
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
    if !scheme.is_websocket() {
        let ws_only = [
            ("compress", o.compress.is_some()),
            ("mode", o.mode != Mode::Recv),
            ("protocol", !o.protocols.is_empty()),
            ("header", !o.headers.is_empty()),
            ("ping", o.ping.is_some() && o.ping_msg.is_none()),
        ];
        if let Some((key, _)) = ws_only.iter().find(|(_, set)| *set) {
            return not_for(key, "ws:// and wss://");
        }
    }
    if o.ping_msg.is_some() && o.ping.is_none() {
        return Err(Error::address(
            Some("ping_msg"),
            "option `ping_msg` needs `ping` (the period in ms) as well",
        ));
    }
    if !scheme.is_tls() {
        if o.insecure {
            return not_for("insecure", "wss:// and tls://");
        }
        if o.ca.is_some() {
            return not_for("ca", "wss:// and tls://");
        }
    }
    if o.proxy.is_some() && matches!(scheme, Scheme::Udp | Scheme::Unix) {
        return not_for("proxy", "ws://, wss://, tcp:// and tls://");
    }
    if o.local_ip.is_some() && o.proxy.is_some() {
        return Err(Error::address(
            Some("local_ip"),
            "option `local_ip` cannot be combined with `proxy` (the proxy makes the outbound connection)",
        ));
    }
    if o.local_ip.is_some() && scheme == Scheme::Unix {
        return not_for("local_ip", "network schemes");
    }
    Ok(())
}
