//! What a read returns: a [`Message`], or the news that the connection was lost.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tungstenite::{Bytes, Utf8Bytes};

use crate::clock::Stamp;
use crate::error::Error;

/// One received message. Text and binary are kept apart; binary data is never
/// altered (no lossy UTF-8 conversion), whatever it contains.
///
/// A message read straight from the socket (see [`Conn`](crate::Conn)) may share
/// its allocation with the messages read around it (up to 64 KiB, as in a
/// plain tungstenite loop), and so may a `kafka://` message with the messages
/// its connection took from librdkafka with it (up to 64 KiB of payloads
/// together); a program that keeps a few messages out of many for
/// a long time can keep its own copy ([`into_bytes`](Message::into_bytes),
/// [`into_text`](Message::into_text)).
///
/// Every message carries the moment it was read from the socket
/// ([`received`](Message::received), [`received_at`](Message::received_at)),
/// so a program that finds many messages waiting can tell how stale each is.
/// Two messages are equal when their kind and bytes are; the receive time is
/// not compared.
#[derive(Clone)]
pub struct Message(Repr, Stamp);

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.0 == other.0
    }
}

impl Eq for Message {}

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Text(Utf8Bytes),
    Binary(Bytes),
    /// A frame that `compress` could not inflate: its bytes as received, and
    /// why. Boxed: it is rare, and a smaller message moves faster on the hot
    /// path (with the receive time, a message stays at 56 bytes).
    Undecoded(Box<(Bytes, String)>),
    /// A broker's message: its payload (text or binary) and where it came from.
    /// Boxed, so the WebSocket hot path keeps its small message.
    #[cfg_attr(
        not(any(
            feature = "mqtt",
            feature = "nats",
            feature = "amqp",
            feature = "kafka"
        )),
        allow(dead_code)
    )]
    Routed(Box<(Repr, Route)>),
}

/// Where a broker's message came from: its topic (MQTT topic, NATS subject,
/// AMQP routing key, Kafka topic) and, for Kafka, its partition, offset and key.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct Route {
    pub(crate) topic: Topic,
    pub(crate) partition: Option<i32>,
    pub(crate) offset: Option<i64>,
    pub(crate) key: Option<Vec<u8>>,
}

/// A route's topic: a string of the message's own (what the client crate
/// handed over, moved), or one shared by many messages (a Kafka session
/// reads one topic: no allocation per record).
#[derive(Clone)]
pub(crate) enum Topic {
    Own(String),
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    Shared(std::sync::Arc<str>),
}

impl Topic {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Topic::Own(s) => s,
            Topic::Shared(s) => s,
        }
    }
}

impl Default for Topic {
    fn default() -> Topic {
        Topic::Own(String::new())
    }
}

impl From<String> for Topic {
    fn from(s: String) -> Topic {
        Topic::Own(s)
    }
}

impl PartialEq for Topic {
    fn eq(&self, other: &Topic) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Topic {}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Message {
    /// A text message, received now (as far as [`received`](Message::received) says).
    pub fn text(s: impl Into<String>) -> Message {
        Message(Repr::Text(Utf8Bytes::from(s.into())), Stamp::now())
    }

    /// A binary message, received now.
    pub fn binary(b: impl Into<Vec<u8>>) -> Message {
        Message(Repr::Binary(Bytes::from(b.into())), Stamp::now())
    }

    #[inline]
    pub(crate) fn from_text(t: Utf8Bytes, rx: Stamp) -> Message {
        Message(Repr::Text(t), rx)
    }

    #[inline]
    pub(crate) fn from_bytes(b: Bytes, rx: Stamp) -> Message {
        Message(Repr::Binary(b), rx)
    }

    /// Inflated data: text when it is UTF-8, else binary.
    pub(crate) fn from_inflated(v: Vec<u8>, rx: Stamp) -> Message {
        match String::from_utf8(v) {
            Ok(s) => Message(Repr::Text(Utf8Bytes::from(s)), rx),
            Err(e) => Message(Repr::Binary(Bytes::from(e.into_bytes())), rx),
        }
    }

    pub(crate) fn undecoded(raw: Bytes, error: String, rx: Stamp) -> Message {
        Message(Repr::Undecoded(Box::new((raw, error))), rx)
    }

    /// A broker's message: text when the payload is UTF-8, else binary;
    /// received now.
    #[cfg_attr(not(any(feature = "mqtt", feature = "amqp")), allow(dead_code))]
    pub(crate) fn routed(payload: Vec<u8>, route: Route) -> Message {
        let body = match String::from_utf8(payload) {
            Ok(s) => Repr::Text(Utf8Bytes::from(s)),
            Err(e) => Repr::Binary(Bytes::from(e.into_bytes())),
        };
        Message(Repr::Routed(Box::new((body, route))), Stamp::now())
    }

    /// As [`routed`](Message::routed), for a client crate that hands the
    /// payload over as `Bytes`: kept as it is, not copied. It was received
    /// at `rx`: the messages a driver takes from its client in one go may
    /// share one.
    #[cfg_attr(not(any(feature = "nats", feature = "kafka")), allow(dead_code))]
    pub(crate) fn routed_bytes(payload: Bytes, route: Route, rx: Stamp) -> Message {
        let body = match Utf8Bytes::try_from(payload.clone()) {
            Ok(t) => Repr::Text(t),
            Err(_) => Repr::Binary(payload),
        };
        Message(Repr::Routed(Box::new((body, route))), rx)
    }

    fn body(&self) -> &Repr {
        match &self.0 {
            Repr::Routed(r) => &r.0,
            other => other,
        }
    }

    fn route(&self) -> Option<&Route> {
        match &self.0 {
            Repr::Routed(r) => Some(&r.1),
            _ => None,
        }
    }

    /// For a broker's message: the topic it was published to (the MQTT
    /// topic, NATS subject, AMQP routing key or Kafka topic), which with a
    /// wildcard subscription tells which one matched. `None` for other schemes.
    pub fn topic(&self) -> Option<&str> {
        self.route().map(|r| r.topic.as_str())
    }

    /// For a Kafka record: its partition.
    pub fn partition(&self) -> Option<i32> {
        self.route().and_then(|r| r.partition)
    }

    /// For a Kafka record: its offset in the partition.
    pub fn offset(&self) -> Option<i64> {
        self.route().and_then(|r| r.offset)
    }

    /// For a Kafka record: its key, when it has one.
    pub fn key(&self) -> Option<&[u8]> {
        self.route().and_then(|r| r.key.as_deref())
    }

    /// When the message was read from the socket, on the monotonic clock:
    /// `m.received().elapsed()` is how long it has waited since. Messages
    /// that arrived together in one read of the socket share it. For a
    /// message made with [`Message::text`] or [`Message::binary`]: when it was
    /// made; for a broker's message: when its driver received it.
    pub fn received(&self) -> Instant {
        self.1.instant()
    }

    /// When the message was read from the socket, on the wall clock (what
    /// cryptofeed calls `receipt_timestamp`): the system time read when the
    /// connection was made, plus the monotonic time since, so a step of the
    /// system clock during a connection shows from the next one on.
    pub fn received_at(&self) -> SystemTime {
        self.1.system_time()
    }

    pub(crate) fn stamp(&self) -> Stamp {
        self.1
    }

    /// For a binary frame that `compress` could not inflate (corrupt, truncated,
    /// over `maxsize`): why. The message then holds the bytes exactly as
    /// received, as binary; the connection goes on. Counted in
    /// [`Stats::undecoded`](crate::Stats::undecoded).
    pub fn decode_error(&self) -> Option<&str> {
        match &self.0 {
            Repr::Undecoded(u) => Some(&u.1),
            _ => None,
        }
    }

    /// True for a text message (a WebSocket text frame, or inflated data that is UTF-8).
    pub fn is_text(&self) -> bool {
        matches!(self.body(), Repr::Text(_))
    }

    /// True for a binary message.
    pub fn is_binary(&self) -> bool {
        !self.is_text()
    }

    /// The text, for a text message; `None` for binary data.
    pub fn as_text(&self) -> Option<&str> {
        match self.body() {
            Repr::Text(t) => Some(t.as_str()),
            _ => None,
        }
    }

    /// The bytes of the message, text or binary.
    pub fn as_bytes(&self) -> &[u8] {
        match self.body() {
            Repr::Text(t) => t.as_bytes(),
            Repr::Binary(b) => b,
            Repr::Undecoded(u) => &u.0,
            Repr::Routed(_) => &[],
        }
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True when the message has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        let body = match self.0 {
            Repr::Routed(r) => r.0,
            other => other,
        };
        match body {
            Repr::Text(t) => Bytes::from(t).into(),
            Repr::Binary(b) => b.into(),
            Repr::Undecoded(u) => u.0.into(),
            Repr::Routed(_) => Vec::new(),
        }
    }

    /// The text for a text message; the message back for binary data.
    pub fn into_text(self) -> Result<String, Message> {
        match self.body() {
            Repr::Text(t) => Ok(t.as_str().to_owned()),
            _ => Err(self),
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 64;
        if let Some(r) = self.route() {
            write!(f, "[{}] ", r.topic.as_str())?;
        }
        match self.body() {
            Repr::Text(t) => {
                let s = t.as_str();
                let cut = s.char_indices().nth(MAX).map_or(s.len(), |(i, _)| i);
                if cut < s.len() {
                    write!(f, "Text({:?}… {} bytes)", &s[..cut], s.len())
                } else {
                    write!(f, "Text({s:?})")
                }
            }
            Repr::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
            Repr::Undecoded(u) => write!(f, "Undecoded({} bytes: {})", u.0.len(), u.1),
            Repr::Routed(_) => Ok(()),
        }
    }
}

/// Why a connection was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// The peer sent a WebSocket close frame (see [`Disconnect::close_code`]).
    ClosedByPeer,
    /// The peer closed the stream without a close frame.
    Eof,
    /// An I/O error: reset, broken pipe, …
    Io,
    /// The peer broke the protocol (bad frame, bad UTF-8, message over `maxsize` …).
    Protocol,
    /// Nothing was received for the `idle` time.
    Idle,
    /// Nothing at all arrived within `ping_timeout` of a keepalive (the
    /// default liveness check of a WebSocket: a connection that died without
    /// closing, or a peer that stopped answering).
    PingTimeout,
    /// The program called [`Conn::close`](crate::Conn::close) (or dropped the connection).
    ClosedByUser,
    /// Reconnecting gave up after `retry` failed attempts (with the last
    /// attempt's HTTP status, when the server refused it with one).
    GaveUp,
    /// The server refused a reconnect attempt's handshake with an HTTP status
    /// instead of `101` (401, 403, 429, 503 …): [`Disconnect::http_status`]
    /// has it, and [`Disconnect::retry_after`] the wait it asked for, which the
    /// next attempt obeys. Or a broker (`mqtt`, `nats`, `amqp`, `kafka`)
    /// refused a reconnect attempt's credentials: the detail carries its
    /// words, and there is no HTTP status. Reconnecting goes on (under
    /// `retry`), in case the credentials are restored. One such event per refused
    /// attempt; a run of them that the program has not read yet is kept as
    /// the newest one.
    Refused,
    /// The connection is a database (`sqlite3://`, `postgres://`, `mysql://`,
    /// `clickhouse://`): it is not read; statements go through
    /// [`Conn::exec`](crate::Conn::exec). Every read returns it at once.
    NotReadable,
}

/// A lost connection: the cause, the close code where the peer sent one, and the details.
#[derive(Clone, PartialEq, Eq)]
pub struct Disconnect(Arc<DisconnectInner>);

#[derive(PartialEq, Eq)]
struct DisconnectInner {
    cause: Cause,
    code: Option<u16>,
    detail: String,
    status: Option<u16>,
    retry_after: Option<Duration>,
}

impl Disconnect {
    pub(crate) fn new(cause: Cause, detail: impl Into<String>) -> Disconnect {
        Disconnect(Arc::new(DisconnectInner {
            cause,
            code: None,
            detail: detail.into(),
            status: None,
            retry_after: None,
        }))
    }

    /// `cause`, for a dial that failed with `e`: its HTTP status and
    /// `Retry-After` are kept.
    pub(crate) fn after_dial(cause: Cause, detail: impl Into<String>, e: &Error) -> Disconnect {
        Disconnect(Arc::new(DisconnectInner {
            cause,
            code: None,
            detail: detail.into(),
            status: e.http_status(),
            retry_after: e.retry_after(),
        }))
    }

    pub(crate) fn closed(code: u16, reason: &str) -> Disconnect {
        Disconnect(Arc::new(DisconnectInner {
            cause: Cause::ClosedByPeer,
            code: Some(code),
            detail: format!(
                "peer closed with code {code}{}{reason}",
                if reason.is_empty() { "" } else { ": " }
            ),
            status: None,
            retry_after: None,
        }))
    }

    /// Why the connection was lost.
    pub fn cause(&self) -> Cause {
        self.0.cause
    }

    /// The close code the peer sent, for [`Cause::ClosedByPeer`].
    pub fn close_code(&self) -> Option<u16> {
        self.0.code
    }

    /// The HTTP status of a refused handshake, for [`Cause::Refused`] (and
    /// [`Cause::GaveUp`] when the last attempt was refused with one).
    pub fn http_status(&self) -> Option<u16> {
        self.0.status
    }

    /// For [`Cause::Refused`]: the wait the server asked for in its
    /// `Retry-After` header (seconds or an HTTP date; at most a day). The
    /// next attempt waits at least this long.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// A human-readable description.
    pub fn detail(&self) -> &str {
        &self.0.detail
    }
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.detail)
    }
}

impl fmt::Debug for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Disconnect({:?}: {})", self.0.cause, self.0.detail)
    }
}

/// What a read returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message, in arrival order.
    Message(Message),
    /// The connection was lost (the model platform's empty string). Arrives once
    /// per lost connection, after every message that arrived before the loss,
    /// and once per reconnect attempt the server refuses ([`Cause::Refused`]).
    /// Without `reconnect` it is returned again by every later read.
    Disconnected(Disconnect),
}

impl Event {
    /// The message, if this is one.
    pub fn message(&self) -> Option<&Message> {
        match self {
            Event::Message(m) => Some(m),
            Event::Disconnected(_) => None,
        }
    }

    /// The message, if this is one, owned.
    pub fn into_message(self) -> Option<Message> {
        match self {
            Event::Message(m) => Some(m),
            Event::Disconnected(_) => None,
        }
    }

    /// True for [`Event::Disconnected`].
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Event::Disconnected(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_is_never_mangled() {
        let raw = vec![0xff, 0x00, 0xc3, 0x28, b'a'];
        let m = Message::binary(raw.clone());
        assert_eq!((m.as_text(), m.as_bytes()), (None, &raw[..]));
        assert_eq!(m.into_bytes(), raw);
    }

    #[test]
    fn routed_messages_keep_payload_and_route() {
        let route = Route {
            topic: String::from("orders/btc").into(),
            partition: Some(2),
            offset: Some(41),
            key: Some(b"k".to_vec()),
        };
        let m = Message::routed(b"hello".to_vec(), route.clone());
        assert_eq!(
            (m.as_text(), m.topic()),
            (Some("hello"), Some("orders/btc"))
        );
        assert_eq!(
            (m.partition(), m.offset(), m.key()),
            (Some(2), Some(41), Some(&b"k"[..]))
        );
        assert_eq!(m.clone().into_text().unwrap(), "hello");
        let t = Message::routed_bytes(Bytes::from_static(b"hello"), route.clone(), m.stamp());
        assert_eq!(t, m, "from Bytes as from a Vec");
        assert_eq!(t.received(), m.received(), "received at the stamp given");
        assert_eq!(t.topic(), Some("orders/btc"));
        let b = Message::routed_bytes(Bytes::from_static(&[0xff, 0]), route.clone(), Stamp::now());
        assert!(b.is_binary());
        assert_eq!(b.as_bytes(), [0xff, 0]);
        let b = Message::routed(vec![0xff, 0], route);
        assert!(b.is_binary());
        assert_eq!(b.as_bytes(), [0xff, 0]);
        assert_eq!(b.into_bytes(), [0xff, 0]);
        assert_eq!(Message::text("x").topic(), None);
    }

    #[test]
    fn text_views() {
        let m = Message::text("héllo");
        assert_eq!(
            (m.as_text(), m.len(), m.is_text()),
            (Some("héllo"), 6, true)
        );
        assert_eq!(m.clone().into_text().unwrap(), "héllo");
        assert_eq!(m.into_bytes(), "héllo".as_bytes());
    }

    #[test]
    fn a_message_stays_small() {
        // It moves by value through every read on the hot path: the receive
        // time (16 bytes) fits in the room the boxed `Undecoded` left.
        assert!(std::mem::size_of::<Message>() <= 56);
        let m = Message::undecoded(vec![1u8, 2].into(), "bad".into(), Stamp::now());
        assert_eq!(
            (m.as_bytes(), m.decode_error()),
            (&[1u8, 2][..], Some("bad"))
        );
        assert!(m.is_binary() && m.as_text().is_none());
    }

    #[test]
    fn debug_is_short() {
        let m = Message::text("x".repeat(1000));
        assert!(format!("{m:?}").len() < 100);
    }
}
