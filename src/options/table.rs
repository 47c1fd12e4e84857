//! The declaration of every option: one [`Spec`] per option, listed in [`SPECS`].
//!
//! A row holds the option's key and aliases, the type of its value (which
//! decides how the address string reads it, which values are in range, and
//! whether `&` may be part of it), the schemes it applies to, what an error
//! says is accepted, its row of the docs tables (values, default, meaning),
//! and how it is read from and written into [`Options`](super::Options).
//!
//! Adding an option is adding a field to `Options` (with its default), a row
//! here, a `Dialer` setter if a program needs one, and its line in the two
//! docs tables, which a test (`docs.rs`) holds to this row.

use std::time::Duration;

use super::spec::{Schemes, Spec};
use super::value::{Type, Value};
use super::OptionValue;

/// Every option, in the order of the docs tables.
pub(crate) const SPECS: &[&Spec] = &[
    &COMPRESS,
    &MODE,
    &RECONNECT,
    &INTERVAL,
    &MAX_INTERVAL,
    &RETRY,
    &RETRY_FIRST,
    &PAYLOAD,
    &PACE,
    &PROXY,
    &HEADER,
    &PROTOCOL,
    &INSECURE,
    &CA,
    &CERT,
    &KEY,
    &PING,
    &PING_MSG,
    &PING_TIMEOUT,
    &IDLE,
    &MAX_AGE,
    &QSIZE,
    &QBYTES,
    &SENDQ,
    &MAXSIZE,
    &TIMEOUT,
    &LOCAL_IP,
    &ENABLE_COMPRESSION,
    &DEFLATE_WRITES,
];

pub(crate) const COMPRESS: Spec = Spec {
    name: "compress",
    aliases: &[],
    ty: Type::Compression,
    schemes: Schemes::WebSocket,
    accepts: "gzip, gzip_raw, deflate (or flate), zlib, auto, none",
    values: "`gzip`, `gzip_raw`, `deflate` (`flate`), `zlib`, `auto`, `none`",
    default: "none",
    meaning: "application-level compression of binary frames",
    get: |o| o.compress.map_or(OptionValue::Unset, |c| text(c.as_str())),
    set: |o, v| {
        if let Value::Compression(c) = v {
            o.compress = c;
        }
    },
};

pub(crate) const MODE: Spec = Spec {
    name: "mode",
    aliases: &[],
    ty: Type::Mode,
    schemes: Schemes::WebSocket,
    accepts: "dual, send, recv",
    values: "`recv`, `send`, `dual`",
    default: "`recv`",
    meaning: "which direction `compress` applies to",
    get: |o| text(o.mode.as_str()),
    set: |o, v| {
        if let Value::Mode(m) = v {
            o.mode = m;
        }
    },
};

pub(crate) const RECONNECT: Spec = Spec {
    name: "reconnect",
    aliases: &[],
    ty: Type::Bool,
    schemes: Schemes::All,
    accepts: "true or false",
    values: "`true`/`false`",
    default: "`false`",
    meaning: "reconnect by itself after a lost connection",
    get: |o| OptionValue::Bool(o.reconnect),
    set: |o, v| {
        if let Value::Bool(b) = v {
            o.reconnect = b;
        }
    },
};

pub(crate) const INTERVAL: Spec = Spec {
    name: "interval",
    aliases: &[],
    ty: Type::Millis { nonzero: false },
    schemes: Schemes::Stream,
    accepts: "milliseconds, a whole number such as 1000",
    values: "ms",
    default: "`1000`",
    meaning: "wait before a reconnect attempt",
    get: |o| millis(o.interval),
    set: |o, v| {
        if let Value::Millis(d) = v {
            o.interval = d;
        }
    },
};

pub(crate) const MAX_INTERVAL: Spec = Spec {
    name: "max_interval",
    aliases: &["maxInterval"],
    ty: Type::Millis { nonzero: false },
    schemes: Schemes::Stream,
    accepts: "milliseconds, a whole number such as 30000",
    values: "ms",
    default: "`30000`",
    meaning: "back off exponentially from `interval` (doubling, jitter) up to this cap; equal to `interval`: a fixed wait",
    get: |o| millis(o.max_interval.unwrap_or(o.interval)),
    set: |o, v| {
        if let Value::Millis(d) = v {
            o.max_interval = Some(d);
        }
    },
};

pub(crate) const RETRY: Spec = Spec {
    name: "retry",
    aliases: &[],
    ty: Type::Count {
        min: 0,
        max: u32::MAX as u64,
    },
    schemes: Schemes::Stream,
    accepts: "a count of attempts, 0 = unlimited",
    values: "count",
    default: "`0` = unlimited",
    meaning: "failed reconnect attempts in a row before giving up",
    get: |o| OptionValue::Number(o.retry.into()),
    set: |o, v| {
        if let Value::Count(n) = v {
            o.retry = u32::try_from(n).unwrap_or(u32::MAX);
        }
    },
};

pub(crate) const RETRY_FIRST: Spec = Spec {
    name: "retry_first",
    aliases: &[],
    ty: Type::Bool,
    schemes: Schemes::Stream,
    accepts: "true or false",
    values: "`true`/`false`",
    default: "`false`",
    meaning: "a failed first dial is retried in the background as a reconnect is; the dial returns at once",
    get: |o| OptionValue::Bool(o.retry_first),
    set: |o, v| {
        if let Value::Bool(b) = v {
            o.retry_first = b;
        }
    },
};

pub(crate) const PAYLOAD: Spec = Spec {
    name: "payload",
    aliases: &[],
    ty: Type::Text,
    schemes: Schemes::Stream,
    accepts: "any text (raw JSON, or percent-encoded); may repeat",
    values: "text; may repeat",
    default: "none",
    meaning: "sent after every successful connect, in order",
    get: |o| OptionValue::List(o.payloads.clone()),
    set: |o, v| {
        if let Value::Text(t) = v {
            o.payloads.push(t);
        }
    },
};

pub(crate) const PACE: Spec = Spec {
    name: "pace",
    aliases: &[],
    ty: Type::Millis { nonzero: false },
    schemes: Schemes::Stream,
    accepts: "milliseconds between the messages sent at each connect, 0 = no wait",
    values: "ms",
    default: "`0` = off",
    meaning:
        "send the messages of each connect (`on_connect`'s, then the payloads, then the subscriptions) at least N ms apart",
    get: |o| millis(o.pace.unwrap_or_default()),
    set: |o, v| {
        if let Value::Millis(d) = v {
            o.pace = (!d.is_zero()).then_some(d);
        }
    },
};

pub(crate) const PROXY: Spec = Spec {
    name: "proxy",
    aliases: &[],
    ty: Type::Proxy,
    schemes: Schemes::Tcp,
    accepts: "socks5://[user:pwd@]host:port, socks5h://[user:pwd@]host:port, http://[user:pwd@]host:port, or env (the environment's, as curl reads it)",
    values: "`socks5://[u:p@]h:port`, `socks5h://…`, `http://…`, `env`",
    default: "none",
    meaning: "connect through a proxy (write an `&` in the password as `%26`); `env`: the one `HTTPS_PROXY`, `ALL_PROXY`… name, unless `NO_PROXY` lists the host, as curl does",
    get: |o| match (&o.proxy, o.proxy_from_env) {
        (_, true) => text("env"),
        (Some(p), false) => OptionValue::Proxy(p.clone()),
        (None, false) => OptionValue::Unset,
    },
    set: |o, v| match v {
        Value::Proxy(p) => {
            o.proxy = Some(p);
            o.proxy_from_env = false;
        }
        Value::ProxyEnv => {
            o.proxy = None;
            o.proxy_from_env = true;
        }
        _ => {}
    },
};

pub(crate) const HEADER: Spec = Spec {
    name: "header",
    aliases: &["headers"],
    ty: Type::Header,
    schemes: Schemes::WebSocket,
    accepts: "`Name: Value`, any header but those the handshake sets (Sec-WebSocket-Key, -Version, -Extensions, -Accept, Upgrade, Connection; subprotocols go in `protocol`); may repeat",
    values: "`Name: Value`; may repeat",
    default: "none",
    meaning: "extra handshake headers; a later one of the same name replaces an earlier one",
    get: |o| OptionValue::List(o.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect()),
    set: |o, v| {
        if let Value::Header(name, value) = v {
            match o
                .headers
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            {
                Some(slot) => slot.1 = value,
                None => o.headers.push((name, value)),
            }
        }
    },
};

pub(crate) const PROTOCOL: Spec = Spec {
    name: "protocol",
    aliases: &["protocols", "subprotocol"],
    ty: Type::Tokens,
    schemes: Schemes::WebSocket,
    accepts: "a comma-separated list of subprotocol names",
    values: "comma list",
    default: "none",
    meaning: "`Sec-WebSocket-Protocol`; the agreed one is `Conn::protocol()`",
    get: |o| OptionValue::List(o.protocols.clone()),
    set: |o, v| {
        if let Value::Tokens(list) = v {
            o.protocols = list;
        }
    },
};

pub(crate) const INSECURE: Spec = Spec {
    name: "insecure",
    aliases: &["insecureSkipVerify"],
    ty: Type::Bool,
    schemes: Schemes::Tls,
    accepts: "true or false",
    values: "`true`/`false`",
    default: "`false`",
    meaning: "skip TLS certificate checks (tests only)",
    get: |o| OptionValue::Bool(o.insecure),
    set: |o, v| {
        if let Value::Bool(b) = v {
            o.insecure = b;
        }
    },
};

pub(crate) const CA: Spec = Spec {
    name: "ca",
    aliases: &[],
    ty: Type::Path,
    schemes: Schemes::Tls,
    accepts: "the path of a PEM file",
    values: "path to a PEM file",
    default: "none",
    meaning: "trust these roots as well as the system's",
    get: |o| {
        o.ca.as_ref()
            .map_or(OptionValue::Unset, |p| text(&p.display().to_string()))
    },
    set: |o, v| {
        if let Value::Path(p) = v {
            o.ca = Some(p);
        }
    },
};

pub(crate) const CERT: Spec = Spec {
    name: "cert",
    aliases: &[],
    ty: Type::Path,
    schemes: Schemes::TlsSocket,
    accepts: "the path of a PEM file with the client certificate (and its chain)",
    values: "path to a PEM file",
    default: "none",
    meaning: "present this client certificate (with `key`)",
    get: |o| {
        o.cert
            .as_ref()
            .map_or(OptionValue::Unset, |p| text(&p.display().to_string()))
    },
    set: |o, v| {
        if let Value::Path(p) = v {
            o.cert = Some(p);
        }
    },
};

pub(crate) const KEY: Spec = Spec {
    name: "key",
    aliases: &[],
    ty: Type::Path,
    schemes: Schemes::TlsSocket,
    accepts: "the path of a PEM file with the private key of `cert` (PKCS#8: BEGIN PRIVATE KEY)",
    values: "path to a PEM file",
    default: "none",
    meaning: "the private key of `cert` (PKCS#8)",
    get: |o| {
        o.key
            .as_ref()
            .map_or(OptionValue::Unset, |p| text(&p.display().to_string()))
    },
    set: |o, v| {
        if let Value::Path(p) = v {
            o.key = Some(p);
        }
    },
};

pub(crate) const PING: Spec = Spec {
    name: "ping",
    aliases: &["pingInterval"],
    ty: Type::Millis { nonzero: false },
    // raw sockets too, with `ping_msg`: `check` in dialer.rs says so
    schemes: Schemes::Socket,
    accepts: "milliseconds between keepalives, 0 = off",
    values: "ms",
    default: "`20000`",
    meaning:
        "send a keepalive every N ms; `0` = off (the default on raw sockets, which need `ping_msg`)",
    get: |o| millis(o.ping.unwrap_or_default()),
    set: |o, v| {
        if let Value::Millis(d) = v {
            o.ping = (!d.is_zero()).then_some(d);
        }
    },
};

pub(crate) const PING_MSG: Spec = Spec {
    name: "ping_msg",
    aliases: &["pingMessage"],
    ty: Type::Text,
    schemes: Schemes::Socket,
    accepts: "the text sent as keepalive (for example `ping`)",
    values: "text",
    default: "none",
    meaning: "send this text as the keepalive instead of a protocol Ping (OKX: `ping`)",
    get: |o| o.ping_msg.as_deref().map_or(OptionValue::Unset, text),
    set: |o, v| {
        if let Value::Text(t) = v {
            o.ping_msg = Some(t);
        }
    },
};

pub(crate) const PING_TIMEOUT: Spec = Spec {
    name: "ping_timeout",
    aliases: &["pingTimeout"],
    ty: Type::Millis { nonzero: false },
    schemes: Schemes::Socket,
    accepts: "milliseconds to wait for anything after a keepalive, 0 = off",
    values: "ms",
    default: "`20000`",
    meaning: "nothing received within N ms of a keepalive means the connection is dead; `0` = off (the default on raw sockets)",
    get: |o| millis(o.ping_timeout.unwrap_or_default()),
    set: |o, v| {
        if let Value::Millis(d) = v {
            o.ping_timeout = (!d.is_zero()).then_some(d);
        }
    },
};

pub(crate) const IDLE: Spec = Spec {
    name: "idle",
    aliases: &[],
    ty: Type::Millis { nonzero: false },
    schemes: Schemes::Socket,
    accepts: "milliseconds of silence that mean the connection is dead, 0 = off",
    values: "ms",
    default: "`0` = off",
    meaning: "nothing received for N ms means the connection is dead",
    get: |o| millis(o.idle.unwrap_or_default()),
    set: |o, v| {
        if let Value::Millis(d) = v {
            o.idle = (!d.is_zero()).then_some(d);
        }
    },
};

pub(crate) const MAX_AGE: Spec = Spec {
    name: "max_age",
    aliases: &["maxAge"],
    ty: Type::Millis { nonzero: false },
    schemes: Schemes::Socket,
    accepts: "milliseconds a connection may live before it is replaced, 0 = off",
    values: "ms",
    default: "`0` = off",
    meaning: "replace the connection before it is N ms old, without a gap: dial the new one, switch when it delivers, close the old",
    get: |o| millis(o.max_age.unwrap_or_default()),
    set: |o, v| {
        if let Value::Millis(d) = v {
            o.max_age = (!d.is_zero()).then_some(d);
        }
    },
};

/// The largest `usize`, as a count's `max`.
const USIZE_MAX: u64 = usize::MAX as u64;

pub(crate) const QSIZE: Spec = Spec {
    name: "qsize",
    aliases: &[],
    ty: Type::Count {
        min: 1,
        max: USIZE_MAX,
    },
    schemes: Schemes::Stream,
    accepts: "a count of messages, at least 1",
    values: "count, at least 1",
    default: "`2000`",
    meaning: "receive buffer capacity, messages",
    get: |o| size(o.qsize),
    set: |o, v| {
        if let Value::Count(n) = v {
            o.qsize = usize::try_from(n).unwrap_or(usize::MAX);
        }
    },
};

pub(crate) const QBYTES: Spec = Spec {
    name: "qbytes",
    aliases: &[],
    ty: Type::Count {
        min: 1,
        max: USIZE_MAX,
    },
    schemes: Schemes::Stream,
    accepts: "a count of bytes, at least 1",
    values: "bytes, at least 1",
    default: "`16777216`",
    meaning: "receive buffer capacity, bytes",
    get: |o| size(o.qbytes),
    set: |o, v| {
        if let Value::Count(n) = v {
            o.qbytes = usize::try_from(n).unwrap_or(usize::MAX);
        }
    },
};

pub(crate) const SENDQ: Spec = Spec {
    name: "sendq",
    aliases: &["send_queue"],
    ty: Type::Count {
        min: 1,
        max: USIZE_MAX,
    },
    schemes: Schemes::Socket,
    accepts: "a count of bytes, at least 1",
    values: "bytes, at least 1",
    default: "`16777216`",
    meaning: "send queue capacity, bytes: a write that does not fit returns 0 (counted)",
    get: |o| size(o.sendq),
    set: |o, v| {
        if let Value::Count(n) = v {
            o.sendq = usize::try_from(n).unwrap_or(usize::MAX);
        }
    },
};

pub(crate) const MAXSIZE: Spec = Spec {
    name: "maxsize",
    aliases: &["max_size"],
    ty: Type::Count {
        min: 1,
        max: USIZE_MAX,
    },
    schemes: Schemes::Socket,
    accepts: "a count of bytes, at least 1",
    values: "bytes, at least 1",
    default: "`67108864`",
    meaning: "largest inbound message accepted",
    get: |o| size(o.maxsize),
    set: |o, v| {
        if let Value::Count(n) = v {
            o.maxsize = usize::try_from(n).unwrap_or(usize::MAX);
        }
    },
};

pub(crate) const TIMEOUT: Spec = Spec {
    name: "timeout",
    aliases: &[],
    ty: Type::Millis { nonzero: true },
    schemes: Schemes::All,
    accepts: "milliseconds, at least 1",
    values: "ms, at least 1",
    default: "`10000`",
    meaning: "dial deadline: DNS, TCP, proxy, TLS and handshake together",
    get: |o| millis(o.timeout),
    set: |o, v| {
        if let Value::Millis(d) = v {
            o.timeout = d;
        }
    },
};

pub(crate) const LOCAL_IP: Spec = Spec {
    name: "local_ip",
    aliases: &["localIp"],
    ty: Type::Ip,
    schemes: Schemes::Network,
    accepts: "an IPv4 or IPv6 address (IPv6 with or without brackets: ::1 or [::1])",
    values: "IP",
    default: "none",
    meaning: "bind the local end (not with `proxy`)",
    get: |o| {
        o.local_ip
            .map_or(OptionValue::Unset, |ip| text(&ip.to_string()))
    },
    set: |o, v| {
        if let Value::Ip(ip) = v {
            o.local_ip = Some(ip);
        }
    },
};

pub(crate) const ENABLE_COMPRESSION: Spec = Spec {
    name: "enableCompression",
    aliases: &["enable_compression"],
    ty: Type::Bool,
    schemes: Schemes::WebSocket,
    accepts: "true or false",
    values: "`true`/`false`",
    default: "`false`",
    meaning: "offer permessage-deflate (RFC 7692); when the server agrees, compressed messages are inflated (each up to `maxsize`) and writes are compressed",
    get: |o| OptionValue::Bool(o.enable_compression),
    set: |o, v| {
        if let Value::Bool(b) = v {
            o.enable_compression = b;
        }
    },
};

pub(crate) const DEFLATE_WRITES: Spec = Spec {
    name: "deflate_writes",
    aliases: &["deflateWrites"],
    ty: Type::Bool,
    // with `enableCompression` only: `check` in dialer.rs says so
    schemes: Schemes::WebSocket,
    accepts: "true or false",
    values: "`true`/`false`",
    default: "`true`",
    meaning: "with `enableCompression`: `false` sends messages uncompressed (received ones are still inflated)",
    get: |o| OptionValue::Bool(o.deflate_writes),
    set: |o, v| {
        if let Value::Bool(b) = v {
            o.deflate_writes = b;
        }
    },
};

fn text(s: &str) -> OptionValue {
    OptionValue::Text(s.to_owned())
}

fn millis(d: Duration) -> OptionValue {
    OptionValue::Number(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn size(n: usize) -> OptionValue {
    OptionValue::Number(u64::try_from(n).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Scheme;

    #[test]
    fn sendq_and_max_age_apply_to_the_socket_schemes_only() {
        // Only the socket driver honours them: a broker publishes through its
        // own client, and a database connection has no stream to rotate.
        for spec in [&SENDQ, &MAX_AGE] {
            for s in [Scheme::Ws, Scheme::Wss, Scheme::Tcp, Scheme::Unix] {
                assert!(spec.schemes.include(s), "{} on {s:?}", spec.name);
            }
            for s in [
                Scheme::Mqtt,
                Scheme::Kafka,
                Scheme::Sqlite3,
                Scheme::Postgres,
            ] {
                assert!(!spec.schemes.include(s), "{} on {s:?}", spec.name);
            }
        }
    }
}
