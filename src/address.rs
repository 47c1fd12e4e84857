//! The Dial address grammar: `URL | key=value & key=value …`. Pure: no I/O.
//!
//! Rules (the spec's section 2), in the order they are applied:
//!
//! 1. If the string contains `||`, the first `||` separates the URL from the
//!    options; otherwise the first `|` does. The URL is kept byte for byte.
//! 2. Options are `key=value` joined by `&`. Only the first `=` after a key
//!    separates; the value may contain `=`.
//! 3. An `&` ends a value when what follows is `word=` and either the value is
//!    not free text (numbers, booleans, names, paths, the proxy URL: none of
//!    them holds `&name=`, so a misspelled key after them is an error), or
//!    `word` is a known key. Inside free text (`payload`, `header`, `ping_msg`:
//!    the options whose type is `Text` or `Header` in the option table) any
//!    other `&` belongs to the value, so JSON and URLs with their own `&` arrive
//!    intact. One more case: free text that is complete JSON before an `&word=`
//!    and would not be JSON with it ends there, so a typo after a JSON payload
//!    is still reported instead of swallowed. When free text does take in an
//!    `&word=` and `word` is one or two edits from a known key, the address
//!    carries a [`Warning`] (a dial logs it): `payload=x&reconect=true` is one
//!    payload, and probably not what was meant.
//! 4. A value is percent-decoded when it is evidently percent-encoded: it has at
//!    least one `%XX`, every `%` starts a valid escape, it has none of `{ } "` or
//!    white space (which an encoder would have escaped), and it decodes to UTF-8.
//!    So `%7B%22op%22%7D` becomes `{"op"}` and raw JSON with `100%` is untouched.
//!    `+` is never turned into a space.

use std::fmt;

use percent_encoding::percent_decode_str;

use crate::error::Error;
use crate::options::{self, Options, Setting, Type};

mod mask;

/// The kind of connection an address asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `ws://`: WebSocket over TCP.
    Ws,
    /// `wss://`: WebSocket over TLS.
    Wss,
    /// `tcp://host:port`: a raw TCP stream.
    Tcp,
    /// `tls://host:port`: a raw TLS stream.
    Tls,
    /// `udp://host:port`: a connected UDP socket, one datagram per message.
    Udp,
    /// `unix:///path`: a Unix stream socket.
    Unix,
    /// `mqtt://host[:1883]?topic=T`: an MQTT broker (cargo feature `mqtt`).
    Mqtt,
    /// `mqtts://host[:8883]?topic=T`: MQTT over TLS (cargo feature `mqtt`).
    Mqtts,
    /// `nats://host[:4222]?topic=SUBJECT`: a NATS server (cargo feature `nats`).
    Nats,
    /// `amqp://user:pass@host[:5672]/[vhost]?queue=Q`: an AMQP 0-9-1 broker
    /// such as RabbitMQ (cargo feature `amqp`).
    Amqp,
    /// `amqps://`: AMQP over TLS (cargo feature `amqp`).
    Amqps,
    /// `kafka://host:9092[,host2:9092]/TOPIC`: a Kafka cluster (cargo feature `kafka`).
    Kafka,
    /// `sqlite3://path.db`: an SQLite database (cargo feature `sqlite`).
    Sqlite3,
    /// `postgres://…`: a PostgreSQL server (cargo feature `postgres`).
    Postgres,
    /// `mysql://…`: a MySQL or MariaDB server (cargo feature `mysql`).
    Mysql,
    /// `clickhouse://…`: a ClickHouse server (cargo feature `clickhouse`).
    Clickhouse,
}

impl Scheme {
    /// The scheme as written (`"ws"`, `"wss"` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
            Scheme::Tcp => "tcp",
            Scheme::Tls => "tls",
            Scheme::Udp => "udp",
            Scheme::Unix => "unix",
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
            Scheme::Nats => "nats",
            Scheme::Amqp => "amqp",
            Scheme::Amqps => "amqps",
            Scheme::Kafka => "kafka",
            Scheme::Sqlite3 => "sqlite3",
            Scheme::Postgres => "postgres",
            Scheme::Mysql => "mysql",
            Scheme::Clickhouse => "clickhouse",
        }
    }

    /// True for the schemes served by the socket driver: `ws`, `wss`, `tcp`,
    /// `tls`, `udp`, `unix`.
    pub fn is_socket(self) -> bool {
        matches!(
            self,
            Scheme::Ws | Scheme::Wss | Scheme::Tcp | Scheme::Tls | Scheme::Udp | Scheme::Unix
        )
    }

    /// True for the message brokers: `mqtt`, `mqtts`, `nats`, `amqp`, `amqps`, `kafka`.
    pub fn is_broker(self) -> bool {
        matches!(
            self,
            Scheme::Mqtt
                | Scheme::Mqtts
                | Scheme::Nats
                | Scheme::Amqp
                | Scheme::Amqps
                | Scheme::Kafka
        )
    }

    /// True for the databases: `sqlite3`, `postgres`, `mysql`, `clickhouse`.
    /// They are used through [`Conn::exec`](crate::Conn::exec), not read and write.
    pub fn is_database(self) -> bool {
        matches!(
            self,
            Scheme::Sqlite3 | Scheme::Postgres | Scheme::Mysql | Scheme::Clickhouse
        )
    }

    /// True for `ws` and `wss`.
    pub fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }

    /// True for the schemes that run TLS (`wss`, `tls`).
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Wss | Scheme::Tls)
    }

    fn from_str(s: &str) -> Option<Scheme> {
        Some(match s.to_ascii_lowercase().as_str() {
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            "tcp" => Scheme::Tcp,
            "tls" => Scheme::Tls,
            "udp" => Scheme::Udp,
            "unix" => Scheme::Unix,
            "mqtt" => Scheme::Mqtt,
            "mqtts" => Scheme::Mqtts,
            "nats" => Scheme::Nats,
            "amqp" => Scheme::Amqp,
            "amqps" => Scheme::Amqps,
            "kafka" => Scheme::Kafka,
            "sqlite3" | "sqlite" => Scheme::Sqlite3,
            "postgres" | "postgresql" => Scheme::Postgres,
            "mysql" => Scheme::Mysql,
            "clickhouse" => Scheme::Clickhouse,
            _ => return None,
        })
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where to connect: the URL part of an address, checked and kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    scheme: Scheme,
    url: String,
    host: String,
    port: u16,
    publish_only: bool,
}

impl Target {
    /// Parses the URL part of an address. An error shows the URL with its
    /// password masked, as [`Target::masked_url`] does.
    pub fn parse(url: &str) -> Result<Target, Error> {
        Target::parse_url(url).map_err(|e| {
            let scheme = url.split_once("://").and_then(|(s, _)| Scheme::from_str(s));
            match scheme {
                Some(scheme) => {
                    let shown = mask::masked(scheme, url);
                    e.map_message(|m| m.replace(url, &shown))
                }
                None => e,
            }
        })
    }

    fn parse_url(url: &str) -> Result<Target, Error> {
        let accepted = "accepted: ws://, wss://, tcp://host:port, tls://host:port, udp://host:port, unix:///path, mqtt://, mqtts://, nats://, amqp://, amqps://, kafka://, sqlite3://, postgres://, mysql://, clickhouse://";
        let (scheme_str, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::address(None, format!("`{url}` has no scheme; {accepted}")))?;
        let scheme = Scheme::from_str(scheme_str).ok_or_else(|| {
            Error::address(
                None,
                format!("scheme `{scheme_str}` is not supported; {accepted}"),
            )
        })?;
        // Brokers and databases each have their own URL forms (libpq keywords,
        // `tcp(host:port)`, lists of hosts …): each protocol reads its own.
        if scheme.is_broker() {
            let (host, port) = crate::broker::endpoint(scheme, url)?;
            return Ok(Target {
                scheme,
                url: url.to_owned(),
                host,
                port,
                publish_only: !crate::broker::consumes(scheme, url)?,
            });
        }
        if scheme.is_database() {
            let (host, port) = crate::db::endpoint(scheme, url)?;
            return Ok(Target {
                scheme,
                url: url.to_owned(),
                host,
                port,
                publish_only: false,
            });
        }
        if scheme == Scheme::Unix {
            if rest.is_empty() {
                return Err(Error::address(
                    None,
                    format!("`{url}` has no socket path; write unix:///path/to.sock"),
                ));
            }
            return Ok(Target {
                scheme,
                url: url.to_owned(),
                host: rest.to_owned(),
                port: 0,
                publish_only: false,
            });
        }
        // `ws:///path` would be normalised into host `path`; an empty authority is no host.
        if rest.starts_with('/') || rest.starts_with('?') || rest.is_empty() {
            return Err(Error::address(None, format!("`{url}` has no host")));
        }
        let parsed = url::Url::parse(url)
            .map_err(|e| Error::address(None, format!("`{url}` is not a valid URL: {e}")))?;
        let host = match parsed.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(h) => h.to_string(),
            None => return Err(Error::address(None, format!("`{url}` has no host"))),
        };
        let port = match (parsed.port(), scheme) {
            (Some(p), _) => p,
            (None, Scheme::Ws) => 80,
            (None, Scheme::Wss) => 443,
            (None, _) => {
                return Err(Error::address(
                    None,
                    format!(
                        "`{url}` has no port; {scheme}:// needs one, as in {scheme}://host:port"
                    ),
                ))
            }
        };
        Ok(Target {
            scheme,
            url: url.to_owned(),
            host,
            port,
            publish_only: false,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The URL exactly as written (query string included), password and all:
    /// show [`Target::masked_url`] instead.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL as it may be printed or logged: as written, but with every
    /// password in it written `***`, wherever the scheme's form puts one: the
    /// user info of any URL (`mqtt://alice:***@host?topic=t`,
    /// `kafka://u:***@h1,h2/t`, `mysql://u:***@tcp(host)/db`), libpq's
    /// keyword (`postgres://user=u password=*** host=h`) and a `password=`
    /// query parameter of a database (`clickhouse://h:8123?password=***`).
    /// A password written in a way the scheme's rules do not read clearly
    /// hides more of the URL rather than show any of it.
    ///
    /// ```
    /// let t = wsdial::Target::parse("nats://bob:s3cret@127.0.0.1:4222?topic=orders").unwrap();
    /// assert_eq!(t.masked_url(), "nats://bob:***@127.0.0.1:4222?topic=orders");
    /// ```
    pub fn masked_url(&self) -> String {
        mask::masked(self.scheme, &self.url)
    }

    /// True for a broker address with `consume=false`: the connection only
    /// publishes (nothing is subscribed, so a read never returns a message,
    /// only a `Disconnected`). False for every other address.
    pub fn publish_only(&self) -> bool {
        self.publish_only
    }

    /// The host name or IP address (IPv6 without brackets); for `unix`, the
    /// socket path; for a broker or database, its first host (empty for a
    /// file such as an SQLite database).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (the scheme's default when not written); 0 for `unix` and
    /// for a database file.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// A parsed Dial address: the target and the options written after the `|`.
///
/// ```
/// let a = wsdial::Address::parse(
///     r#"wss://ws.okx.com:8443/ws/v5/public|compress=gzip_raw&reconnect=true&payload={"op":"subscribe"}"#,
/// ).unwrap();
/// assert_eq!(a.target().port(), 8443);
/// let o = a.options();
/// assert!(o.reconnect);
/// assert_eq!(o.payloads, [r#"{"op":"subscribe"}"#]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    target: Target,
    settings: Vec<Setting>,
    warnings: Vec<Warning>,
}

impl Address {
    /// Parses an address; every rule is in this module's docs.
    pub fn parse(address: &str) -> Result<Address, Error> {
        let (url, opts) = split_url(address);
        let target = Target::parse(url.trim())?;
        let mut warnings = Vec::new();
        let settings = parse_options(opts, &mut warnings)?;
        Ok(Address {
            target,
            settings,
            warnings,
        })
    }

    /// The URL part.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// What in the address parsed but is probably not what was meant, in the
    /// order written; empty for most addresses. A dial logs each with
    /// `log::warn!`, and `wsdial parse` prints them.
    ///
    /// ```
    /// let a = wsdial::Address::parse("wss://x/ws|payload=hello&reconect=true").unwrap();
    /// assert_eq!(a.options().payloads, ["hello&reconect=true"]);
    /// assert!(!a.options().reconnect);
    /// match &a.warnings()[0] {
    ///     wsdial::Warning::NearMissInText { option, word, suggestion, .. } => {
    ///         assert_eq!((*option, word.as_str(), *suggestion), ("payload", "reconect", "reconnect"));
    ///     }
    ///     other => panic!("{other}"),
    /// }
    /// ```
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The effective options: the defaults of its scheme
    /// ([`Options::for_scheme`]) with this address's options applied.
    pub fn options(&self) -> Options {
        let mut o = Options::for_scheme(self.target.scheme());
        self.apply_to(&mut o);
        o
    }

    pub(crate) fn apply_to(&self, o: &mut Options) {
        for s in &self.settings {
            o.apply(s);
        }
    }
}

/// Something an address says that parsed, but probably not as meant; see
/// [`Address::warnings`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The free-text value of `option` (`payload`, `header` or `ping_msg`) took
    /// in `&word=…` as part of its text, and `word` is one or two edits from the
    /// option `suggestion`: probably a misspelled option, which was not applied.
    /// (Free text ends only before a known key; see the grammar's rule 3.)
    #[non_exhaustive]
    NearMissInText {
        /// The option whose value took the text in (its canonical key).
        option: &'static str,
        /// The word after the `&`, as written.
        word: String,
        /// The option it nearly spells (its canonical key).
        suggestion: &'static str,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::NearMissInText {
                option,
                word,
                suggestion,
            } => write!(
                f,
                "the value of `{option}` takes in `&{word}=` as text; did you mean `{suggestion}`? \
                 (only a known key after an `&` ends a {option})"
            ),
        }
    }
}

/// Splits at the first `||` if there is one, else at the first `|`.
fn split_url(s: &str) -> (&str, &str) {
    if let Some(i) = s.find("||") {
        (&s[..i], &s[i + 2..])
    } else if let Some(i) = s.find('|') {
        (&s[..i], &s[i + 1..])
    } else {
        (s, "")
    }
}

/// The `word` of an `&word=` at the start of `s`, if `s` starts that way.
fn key_at(s: &str) -> Option<&str> {
    let end = s.find('=')?;
    let word = &s[..end];
    let ok = !word.is_empty()
        && word
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then_some(word)
}

fn is_json(s: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(s).is_ok()
}

fn parse_options(opts: &str, warnings: &mut Vec<Warning>) -> Result<Vec<Setting>, Error> {
    let mut settings = Vec::new();
    let mut rest = opts;
    while !rest.is_empty() {
        // Empty segments (`&&`, a trailing `&`) are skipped.
        if let Some(r) = rest.strip_prefix('&') {
            rest = r;
            continue;
        }
        let (key, after_key) = match rest.find(['=', '&']) {
            Some(i) if rest.as_bytes()[i] == b'=' => (&rest[..i], &rest[i + 1..]),
            _ => {
                let word = rest.split('&').next().unwrap_or(rest);
                return Err(Error::address(
                    Some(word.trim()),
                    format!("option `{}` has no value; write key=value", word.trim()),
                ));
            }
        };
        let key = key.trim();
        let spec = options::lookup(key).ok_or_else(|| unknown_key(key))?;
        let free_text = spec.ty.is_free_text();
        let end = value_end(after_key, free_text);
        let raw = &after_key[..end];
        rest = &after_key[end..];
        if free_text {
            warnings.extend(
                near_misses(raw).map(|(word, suggestion)| Warning::NearMissInText {
                    option: spec.name,
                    word: word.to_owned(),
                    suggestion,
                }),
            );
        }
        // A proxy URL percent-decodes its own user and password.
        let value = if spec.ty == Type::Proxy && raw.contains("://") {
            raw.to_owned()
        } else {
            decode(raw)
        };
        settings.push(spec.read(key, &value)?);
    }
    Ok(settings)
}

/// The `&word=` inside a value that are near misses of a known key, with the key.
fn near_misses(value: &str) -> impl Iterator<Item = (&str, &'static str)> {
    value
        .match_indices('&')
        .filter_map(|(i, _)| key_at(&value[i + 1..]))
        .filter_map(|word| Some((word, options::near_miss(word)?)))
}

/// Where the value that starts `s` ends (the index of the separating `&`, or `s.len()`).
fn value_end(s: &str, free_text: bool) -> usize {
    let amps = || s.match_indices('&').map(|(i, _)| i);
    let before_word = |i: usize| key_at(&s[i + 1..]).is_some();
    if !free_text {
        return amps().find(|&i| before_word(i)).unwrap_or(s.len());
    }
    let known = |i: usize| key_at(&s[i + 1..]).and_then(options::lookup).is_some();
    let end = amps().find(|&i| known(i)).unwrap_or(s.len());
    if !is_json(&s[..end]) {
        // A complete JSON value followed by `&typo=…`: the `&` separates.
        if let Some(i) = amps()
            .take_while(|&i| i < end)
            .find(|&i| before_word(i) && is_json(&s[..i]))
        {
            return i;
        }
    }
    end
}

fn unknown_key(key: &str) -> Error {
    let hint = match options::suggest(key) {
        Some(s) => format!("; did you mean `{s}`?"),
        None => {
            let names: Vec<&str> = options::SPECS.iter().map(|s| s.name).collect();
            format!("; known options: {}", names.join(", "))
        }
    };
    Error::address(Some(key), format!("unknown option `{key}`{hint}"))
}

/// Percent-decodes a value that is evidently percent-encoded (rule 4), else returns it as is.
fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut escapes = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'%' {
            let valid =
                b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !valid {
                return v.to_owned();
            }
            escapes += 1;
        }
    }
    if escapes == 0
        || v.bytes()
            .any(|c| matches!(c, b'{' | b'}' | b'"') || c.is_ascii_whitespace())
    {
        return v.to_owned();
    }
    match percent_decode_str(v).decode_utf8() {
        Ok(s) => s.into_owned(),
        Err(_) => v.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Compression, Mode};
    use crate::ErrorKind;
    use std::time::Duration;

    fn opts(s: &str) -> Options {
        Address::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .options()
    }

    fn err(s: &str) -> Error {
        match Address::parse(s) {
            Ok(a) => panic!("{s} parsed: {a:?}"),
            Err(e) => e,
        }
    }

    /// The spec's test vectors, section 2, each as stated.
    #[test]
    fn spec_vectors_parse_as_stated() {
        let o = opts(
            r#"wss://ws.okx.com:8443/ws/v5/public|compress=gzip_raw&mode=recv&reconnect=true&payload={"op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"}]}"#,
        );
        assert_eq!(
            o.payloads,
            [r#"{"op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"}]}"#]
        );
        assert_eq!(
            (o.compress, o.mode, o.reconnect),
            (Some(Compression::GzipRaw), Mode::Recv, true)
        );

        let o = opts(
            r#"wss://ws.backpack.exchange|payload={"method":"SUBSCRIBE","params":["account.orderUpdate"],"signature":["S2V5=","c2ln+bmF0/w==","1700000000000","5000"]}"#,
        );
        assert_eq!(
            o.payloads,
            [
                r#"{"method":"SUBSCRIBE","params":["account.orderUpdate"],"signature":["S2V5=","c2ln+bmF0/w==","1700000000000","5000"]}"#
            ]
        );

        let o = opts("wss://real.okex.com:8443/ws/v3|compress=gzip_raw&mode=recv&reconnect=true&payload=%7B%22op%22%3A%22subscribe%22%7D");
        assert_eq!(o.payloads, [r#"{"op":"subscribe"}"#]);

        let o = opts(r#"wss://x/ws||payload={"a":"b|c"}&reconnect=true"#);
        assert_eq!(
            (o.payloads.as_slice(), o.reconnect),
            (&[r#"{"a":"b|c"}"#.to_string()][..], true)
        );

        let o = opts(r#"wss://x/ws|payload={"u":"https://a/b?x=1&y=2"}&reconnect=true"#);
        assert_eq!(
            (o.payloads.as_slice(), o.reconnect),
            (&[r#"{"u":"https://a/b?x=1&y=2"}"#.to_string()][..], true)
        );

        let o = opts(r#"wss://x/ws|reconnect=true&payload={"p":"100%"}"#);
        assert_eq!(o.payloads, [r#"{"p":"100%"}"#]);

        let o = opts("wss://x/ws|proxy=socks5://user:p%40ss@127.0.0.1:1080");
        let p = o.proxy.unwrap();
        assert_eq!(
            (p.user(), p.password(), p.host(), p.port()),
            (Some("user"), Some("p@ss"), "127.0.0.1", 1080)
        );

        let e = err("wss://x/ws|compres=gzip");
        assert_eq!((e.kind(), e.key()), (ErrorKind::Address, Some("compres")));
        assert!(e.to_string().contains("did you mean `compress`"), "{e}");

        let e = err("wss://x/ws|mode=both");
        assert_eq!(e.key(), Some("mode"));
        let m = e.to_string();
        assert!(
            m.contains("both") && m.contains("dual") && m.contains("send") && m.contains("recv"),
            "{m}"
        );

        let e = err("wss://x/ws|interval=abc");
        assert_eq!(e.key(), Some("interval"));
        assert!(e.to_string().contains("must be milliseconds"), "{e}");
    }

    #[test]
    fn url_is_kept_byte_for_byte() {
        let s = "wss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade|reconnect=true";
        let a = Address::parse(s).unwrap();
        assert_eq!(
            a.target().url(),
            "wss://stream.binance.com:9443/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade"
        );
        assert_eq!(
            (a.target().host(), a.target().port()),
            ("stream.binance.com", 9443)
        );
        assert!(a.options().reconnect);
    }

    /// Every key and alias of the spec's table, with the typed value it becomes.
    #[test]
    fn every_option_and_alias() {
        let o = opts("ws://h/|compress=flate&mode=dual&reconnect=1&interval=250&max_interval=8000&retry=7\
            &payload=a&payload=b&header=X-Api-Key: k=1&headers=X-Other:2&protocol=a, b\
            &insecureSkipVerify=true&ca=/tmp/ca.pem&pingInterval=5000&pingMessage=ping&idle=30000\
            &qsize=10&qbytes=1000&maxsize=2000&timeout=1500&local_ip=127.0.0.1&enableCompression=false");
        assert_eq!(o.compress, Some(Compression::Deflate));
        assert_eq!(o.mode, Mode::Dual);
        assert!(o.reconnect);
        assert_eq!(o.interval, Duration::from_millis(250));
        assert_eq!(o.max_interval, Some(Duration::from_millis(8000)));
        assert_eq!(o.retry, 7);
        assert_eq!(o.payloads, ["a", "b"]);
        assert_eq!(
            o.headers,
            [
                ("X-Api-Key".into(), "k=1".into()),
                ("X-Other".into(), "2".into())
            ]
        );
        assert_eq!(o.protocols, ["a", "b"]);
        assert!(o.insecure);
        assert_eq!(o.ca.as_deref(), Some(std::path::Path::new("/tmp/ca.pem")));
        assert_eq!(o.ping, Some(Duration::from_secs(5)));
        assert_eq!(o.ping_msg.as_deref(), Some("ping"));
        assert_eq!(o.idle, Some(Duration::from_secs(30)));
        assert_eq!((o.qsize, o.qbytes, o.maxsize), (10, 1000, 2000));
        assert_eq!(o.timeout, Duration::from_millis(1500));
        assert_eq!(o.local_ip, Some("127.0.0.1".parse().unwrap()));
        assert!(!o.enable_compression);

        let o =
            opts("ws://h/|compress=gzip&insecure=false&ping=0&idle=0&ping_msg=hi&pingInterval=10");
        assert_eq!(
            (o.compress, o.insecure, o.idle),
            (Some(Compression::Gzip), false, None)
        );
        assert_eq!(o.ping, Some(Duration::from_millis(10)));
        for (v, c) in [
            ("zlib", Compression::Zlib),
            ("auto", Compression::Auto),
            ("deflate", Compression::Deflate),
        ] {
            assert_eq!(opts(&format!("ws://h/|compress={v}")).compress, Some(c));
        }
    }

    #[test]
    fn defaults() {
        let o = opts("ws://h:1/");
        assert_eq!(o, Options::default());
        assert_eq!((o.qsize, o.qbytes, o.maxsize), (2000, 16 << 20, 64 << 20));
        assert_eq!(
            (o.timeout, o.interval, o.mode),
            (Duration::from_secs(10), Duration::from_secs(1), Mode::Recv)
        );
    }

    #[test]
    fn free_text_rules() {
        // base64 with `+`, `/` and `=` is never touched.
        assert_eq!(
            opts("ws://h/|payload=c2ln+bmF0/w==").payloads,
            ["c2ln+bmF0/w=="]
        );
        // `=` inside a value after the first one.
        assert_eq!(opts("ws://h/|payload=a=b=c&retry=2").payloads, ["a=b=c"]);
        // an `&` not followed by key= belongs to the value.
        assert_eq!(
            opts("ws://h/|payload=x & y&reconnect=true").payloads,
            ["x & y"]
        );
        // %26 inside an encoded payload is an `&` of the value.
        assert_eq!(
            opts("ws://h/|payload=a%26b%3D1&retry=1").payloads,
            ["a&b=1"]
        );
        // `+` is not a space, even when the value is decoded.
        assert_eq!(opts("ws://h/|payload=a+b%21").payloads, ["a+b!"]);
        // invalid escapes leave the value alone
        assert_eq!(opts("ws://h/|payload=50%zz%41").payloads, ["50%zz%41"]);
        // payloads repeat, in order
        assert_eq!(
            opts("ws://h/|payload=1&payload=2&payload=3").payloads,
            ["1", "2", "3"]
        );
        // ping_msg and headers keep `&` too
        assert_eq!(
            opts("ws://h/|ping_msg=a&b").ping_msg.as_deref(),
            Some("a&b")
        );
        // `|` inside a value with the `||` separator, several of them
        assert_eq!(opts("ws://h/||payload=a|b||c").payloads, ["a|b||c"]);
    }

    #[test]
    fn typo_after_json_payload_is_reported() {
        let e = err(r#"ws://h/|payload={"op":"sub","args":["a&b=1"]}&reconect=true"#);
        assert_eq!(e.key(), Some("reconect"));
        assert!(e.to_string().contains("did you mean `reconnect`"), "{e}");
    }

    #[test]
    fn error_cases() {
        // (address, key named, text the message must contain)
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                "wss://x/ws|compres=gzip",
                Some("compres"),
                "did you mean `compress`",
            ),
            (
                "wss://x/ws|compress=brotli",
                Some("compress"),
                "gzip, gzip_raw, deflate",
            ),
            ("wss://x/ws|mode=both", Some("mode"), "dual, send, recv"),
            (
                "wss://x/ws|reconnect=maybe",
                Some("reconnect"),
                "true or false",
            ),
            (
                "wss://x/ws|interval=abc",
                Some("interval"),
                "must be milliseconds",
            ),
            (
                "wss://x/ws|interval=-5",
                Some("interval"),
                "must be milliseconds",
            ),
            (
                "wss://x/ws|max_interval=1.5",
                Some("max_interval"),
                "must be milliseconds",
            ),
            ("wss://x/ws|retry=many", Some("retry"), "count of attempts"),
            ("wss://x/ws|qsize=0", Some("qsize"), "at least 1"),
            ("wss://x/ws|qbytes=", Some("qbytes"), "at least 1"),
            ("wss://x/ws|maxsize=1e6", Some("maxsize"), "count of bytes"),
            ("wss://x/ws|timeout=0", Some("timeout"), "at least 1"),
            (
                "wss://x/ws|local_ip=localhost",
                Some("local_ip"),
                "IPv4 or IPv6",
            ),
            ("wss://x/ws|header=NoColon", Some("header"), "Name: Value"),
            (
                "wss://x/ws|header=Bad Name: v",
                Some("header"),
                "Name: Value",
            ),
            (
                "wss://x/ws|protocol=a,,b",
                Some("protocol"),
                "comma-separated",
            ),
            ("wss://x/ws|proxy=socks4://h:1", Some("proxy"), "socks5h://"),
            ("wss://x/ws|proxy=nonsense", Some("proxy"), "not a URL"),
            (
                "wss://x/ws|insecure=yes please",
                Some("insecure"),
                "true or false",
            ),
            ("wss://x/ws|reconnect", Some("reconnect"), "has no value"),
            (
                "wss://x/ws|reconnect&retry=1",
                Some("reconnect"),
                "has no value",
            ),
            (
                "wss://x/ws|reconnect=true&bogus=1",
                Some("bogus"),
                "known options: compress",
            ),
            ("wss://x/ws|=1", Some(""), "unknown option"),
            (
                "wss://x/ws|enableCompression=perhaps",
                Some("enableCompression"),
                "true or false",
            ),
        ];
        for &(addr, key, text) in cases {
            let e = err(addr);
            assert_eq!(e.kind(), ErrorKind::Address, "{addr}");
            assert_eq!(e.key(), key, "{addr}: {e}");
            assert!(e.to_string().contains(text), "{addr}: `{e}` lacks `{text}`");
        }
    }

    #[test]
    fn url_errors() {
        let cases: &[(&str, &str)] = &[
            ("stream.binance.com:9443", "has no scheme"),
            ("http://x/", "scheme `http` is not supported"),
            ("ws://", "has no host"),
            ("ws:///path", "has no host"),
            ("tcp://127.0.0.1", "has no port"),
            ("udp://host", "has no port"),
            ("unix://", "has no socket path"),
            ("ws://h:99999/", "not a valid URL"),
        ];
        for &(addr, text) in cases {
            let e = err(addr);
            assert_eq!((e.kind(), e.key()), (ErrorKind::Address, None), "{addr}");
            assert!(e.to_string().contains(text), "{addr}: `{e}` lacks `{text}`");
        }
        // A broker or database address is read by its protocol; whether the
        // build can dial it is decided at dial time (its cargo feature).
        let a = Address::parse("mqtt://h:1883?topic=t").unwrap();
        assert_eq!(a.target().scheme(), Scheme::Mqtt);
        assert_eq!(a.target().host(), "h");
    }

    #[test]
    fn targets() {
        let t = Target::parse("ws://[::1]:9001/p?q=1").unwrap();
        assert_eq!((t.scheme(), t.host(), t.port()), (Scheme::Ws, "::1", 9001));
        let t = Target::parse("wss://example.org/x").unwrap();
        assert_eq!((t.scheme(), t.port()), (Scheme::Wss, 443));
        let t = Target::parse("unix:///run/feed.sock").unwrap();
        assert_eq!((t.scheme(), t.host()), (Scheme::Unix, "/run/feed.sock"));
        let t = Target::parse("udp://127.0.0.1:123").unwrap();
        assert_eq!((t.scheme(), t.port()), (Scheme::Udp, 123));
    }
}
