//! # wsdial
//!
//! A blocking WebSocket client for threaded programs that do not want async:
//! one string becomes a live, self-healing connection whose background thread
//! keeps reading into a bounded buffer, and the program reads it when it likes.
//!
//! ```no_run
//! use wsdial::Event;
//! use std::time::Duration;
//!
//! let conn = wsdial::dial(
//!     r#"wss://ws.okx.com:8443/ws/v5/public|reconnect=true&payload={"op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"}]}"#,
//! )?;
//! loop {
//!     match conn.read_timeout(Duration::from_secs(5)) {
//!         Some(Event::Message(m)) => println!("{}", m.as_text().unwrap_or("<binary>")),
//!         Some(Event::Disconnected(why)) => eprintln!("lost: {why}; reconnecting"),
//!         None => { conn.write("ping"); }
//!     }
//! }
//! # Ok::<(), wsdial::Error>(())
//! ```
//!
//! ## The address
//!
//! `scheme://host[:port][/path][?query] | key=value & key=value …`
//!
//! The URL is kept byte for byte. If the options contain `|`, write `||` as the
//! separator. Values may contain `=`, raw JSON, base64 (`+` stays `+`), and URLs
//! with their own `&`. Free text (`payload`, `header`, `ping_msg`) ends only at
//! an `&` followed by a known key and `=`, so its own `&`s arrive intact. Every
//! other value (numbers, words, paths, the proxy URL) ends at any `&word=`, so a
//! misspelled key after it is an error, not part of the value; write an `&`
//! that belongs to such a value as `%26`. Percent-encoded values are decoded.
//! An unknown key or a bad value is an [`Error`] that names it and says what is
//! accepted, with the nearest known key as a suggestion. When free text takes
//! in an `&word=` whose `word` nearly spells a known key
//! (`payload=x&reconect=true`), [`Address::warnings`] says so and a dial logs
//! it.
//!
//! The same values are accepted, and refused with the same error, whether
//! they are written in the address or given to a [`Dialer`] setter
//! (`Dialer::new().qsize(0)` fails to dial like `|qsize=0`).
//!
//! | key (aliases) | values | default | meaning |
//! |---|---|---|---|
//! | `compress` | `gzip`, `gzip_raw`, `deflate` (`flate`), `zlib`, `auto`, `none` | none | application-level compression of binary frames |
//! | `mode` | `recv`, `send`, `dual` | `recv` | which direction `compress` applies to |
//! | `reconnect` | `true`/`false` | `false` | reconnect by itself after a lost connection |
//! | `interval` | ms | `1000` | wait before a reconnect attempt |
//! | `max_interval` (`maxInterval`) | ms | = `interval` | back off exponentially (doubling, jitter) up to this cap |
//! | `retry` | count | `0` = unlimited | failed reconnect attempts in a row before giving up |
//! | `payload` | text; may repeat | none | sent after every successful connect, in order |
//! | `proxy` | `socks5://[u:p@]h:port`, `socks5h://…`, `http://…` | none | connect through a proxy (write an `&` in the password as `%26`) |
//! | `header` (`headers`) | `Name: Value`; may repeat | none | extra handshake headers; a later one of the same name replaces an earlier one |
//! | `protocol` (`protocols`, `subprotocol`) | comma list | none | `Sec-WebSocket-Protocol`; the agreed one is `Conn::protocol()` |
//! | `insecure` (`insecureSkipVerify`) | `true`/`false` | `false` | skip TLS certificate checks (tests only) |
//! | `ca` | path to a PEM file | none | trust these roots as well as the system's |
//! | `ping` (`pingInterval`) | ms | `0` = off | send a keepalive every N ms |
//! | `ping_msg` (`pingMessage`) | text | none | send this text as the keepalive instead of a protocol Ping (OKX: `ping`) |
//! | `idle` | ms | `0` = off | nothing received for N ms means the connection is dead |
//! | `max_age` (`maxAge`) | ms | `0` = off | replace the connection before it is N ms old, without a gap: dial the new one, switch when it delivers, close the old |
//! | `qsize` | count, at least 1 | `2000` | receive buffer capacity, messages |
//! | `qbytes` | bytes, at least 1 | `16777216` | receive buffer capacity, bytes |
//! | `sendq` (`send_queue`) | bytes, at least 1 | `16777216` | send queue capacity, bytes: a write that does not fit returns 0 (counted) |
//! | `maxsize` (`max_size`) | bytes, at least 1 | `67108864` | largest inbound message accepted |
//! | `timeout` | ms, at least 1 | `10000` | dial deadline: DNS, TCP, proxy, TLS and handshake together |
//! | `local_ip` (`localIp`) | IP | none | bind the local end (not with `proxy`) |
//! | `enableCompression` (`enable_compression`) | `true`/`false` | `false` | permessage-deflate (not available yet: `true` is refused) |
//!
//! Options that do not apply to a scheme (`compress` on `tcp://`, `ca` on
//! `ws://`) are refused, never silently ignored; so is `enableCompression=true`
//! ([`ErrorKind::Unsupported`]).
//!
//! ## Reading
//!
//! | buffer state | [`read`](Conn::read) | [`read_timeout`](Conn::read_timeout) | [`try_read`](Conn::try_read) (`read(-1)`) | [`read_latest`](Conn::read_latest) (`read(-2)`) |
//! |---|---|---|---|---|
//! | has messages | oldest, at once | oldest, at once | oldest, at once | newest, at once; older discarded |
//! | empty | blocks until a message or a disconnect | waits up to the time, else `None` | `None`, at once | `None`, at once |
//! | connection lost | `Disconnected` | `Disconnected` | `Disconnected` | `Disconnected` |
//!
//! [`Conn::read_ms`] takes the FMZ numbers (`0`, `ms`, `-1`, `-2`). The buffer
//! holds `qsize` messages and `qbytes` bytes; when full, the oldest message is
//! dropped and counted in [`Stats::dropped`]. [`Event::Disconnected`] arrives once
//! per lost connection, after every message that arrived before the loss; without
//! `reconnect` every later read returns it again. [`select`] waits on several
//! connections at once.
//!
//! Every message carries the moment it was read from the socket, on the
//! monotonic clock ([`Message::received`]) and the wall clock
//! ([`Message::received_at`]), so a program that finds 2,000 messages
//! waiting can tell how stale each is. [`Conn::stats`] says when the last
//! message came ([`Stats::last_message`]), since when the connection is up
//! ([`Stats::connected_since`]) and, with protocol pings on (`ping`), the
//! round trip of the last Ping and its smoothed value ([`Stats::rtt`],
//! [`Stats::rtt_smoothed`]).
//!
//! ## Writing and closing
//!
//! [`Conn::write`] hands a message to the connection and returns at once
//! (its length, or 0 when there is no live connection), even while another
//! thread is blocked in `read`. What the socket has not taken yet waits in a
//! send queue of at most `sendq` bytes: a write that does not fit returns 0
//! and is counted ([`Stats::rejected`]), so a program writing into a dead or
//! slow connection cannot grow memory without bound. [`Conn::close`] sends a
//! close frame, stops reconnecting and wakes blocked readers; dropping the
//! `Conn` does the same.
//!
//! [`Conn::subscribe`] sends a message now and again on every later
//! connection, after the `payload`s, in the order subscribed;
//! [`Conn::unsubscribe`] stops replaying it (the program writes its
//! exchange's unsubscribe message itself).
//!
//! ## Rotation
//!
//! With `max_age=MS` the connection is replaced before it is MS old
//! (Binance closes every connection at 24 h, at a time of its choosing),
//! make-before-break: the new connection is dialed beside the old one (on a
//! short-lived thread), greeted like every connection (`on_connect`, the
//! payloads, the subscriptions), and read; 50 ms after it delivers its first
//! message (or when the old one reaches `max_age`), reading switches to it:
//! first what the old one still has, then everything the new one delivered,
//! and the old one is closed. No `Disconnected` is delivered for a rotation;
//! [`Stats::rotations`] counts them. Each connection's messages keep their
//! order, but around the switch the program may see the same data twice:
//! what both connections carried in those 50 ms (and whatever the new
//! connection's server starts with, such as a snapshot) comes once from
//! each. Nothing is skipped unless the old connection's server runs more
//! than 50 ms behind the new one's. Writes go to the old connection until
//! the switch, so a reply to a request written just before it may be lost
//! with the old connection. A replacement that fails is logged and tried
//! again after `interval`; the old connection goes on meanwhile.
//!
//! ## How it works
//!
//! ```text
//! address.rs   &str -> Address { Target, options }   (pure; every parse rule)
//! dialer.rs    Dialer -> Conn, through the scheme's driver
//! conn.rs      read / read_timeout / try_read / read_latest / write / close
//! seam.rs      what Conn and a driver share: inbox, outbox, counters, state
//! inbox.rs     bounded, drop-oldest, disconnect markers in order
//! backoff.rs   the reconnect policy every streaming driver shares
//! socket/      the driver of ws, wss, tcp, tls, udp and unix:
//!   worker.rs    one thread per connection, waiting on readiness (mio): the
//!                socket, or a waker for queued writes and close; reads, answers
//!                pings, writes, keeps timers, reconnects
//!   handoff.rs   who reads the socket: the worker, or the program's thread
//!   rotate.rs    max_age: a replacement dialed beside the connection, then the switch
//! link/        WebSocket (tungstenite, non-blocking) or raw tcp/tls/udp/unix
//! transport/   TCP (one deadline, local_ip, TCP_NODELAY) -> TLS (native-tls)
//! ```
//!
//! The worker never blocks on the socket: it sleeps in `epoll` until the socket
//! is readable or writable, or the program queued a write. An idle connection
//! without `ping` or `idle` never wakes up, and a write never waits for inbound
//! traffic. When the program keeps up, it reads the socket on its own thread
//! and the worker stands aside (see [`Conn`]).
//!
//! ## Logging
//!
//! Disconnects, reconnect attempts and successes go to the [`log`] crate under
//! the `wsdial` target: `warn` for losses and failed attempts, `info` for
//! attempts and successes, `error` when reconnecting gives up.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod address;
mod backoff;
mod clock;
mod codec;
mod conn;
mod dialer;
mod error;
mod hooks;
mod inbox;
mod link;
mod message;
mod options;
mod proxy;
mod seam;
mod select;
mod socket;
mod transport;

pub use address::{Address, Scheme, Target, Warning};
pub use conn::{Conn, Stats};
pub use dialer::{dial, dial_timeout, Dialer};
pub use error::{Error, ErrorKind};
pub use hooks::Reply;
pub use message::{Cause, Disconnect, Event, Message};
pub use options::{Compression, Mode, OptionValue, Options};
pub use proxy::{Proxy, ProxyKind};
pub use select::select;

/// Not part of the API: internals exposed for `benches/` and `fuzz/` only.
#[doc(hidden)]
pub mod __internals {
    pub use crate::codec::Codec;
}
