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
//! | `max_interval` (`maxInterval`) | ms | `30000` | back off exponentially from `interval` (doubling, jitter) up to this cap; equal to `interval`: a fixed wait |
//! | `retry` | count | `0` = unlimited | failed reconnect attempts in a row before giving up |
//! | `retry_first` | `true`/`false` | `false` | a failed first dial is retried in the background as a reconnect is; the dial returns at once |
//! | `payload` | text; may repeat | none | sent after every successful connect, in order |
//! | `pace` | ms | `0` = off | send the messages of each connect (`on_connect`'s, then the payloads, then the subscriptions) at least N ms apart |
//! | `proxy` | `socks5://[u:p@]h:port`, `socks5h://…`, `http://…`, `env` | none | connect through a proxy (write an `&` in the password as `%26`); `env`: the one `HTTPS_PROXY`, `ALL_PROXY`… name, unless `NO_PROXY` lists the host, as curl does |
//! | `header` (`headers`) | `Name: Value`; may repeat | none | extra handshake headers; a later one of the same name replaces an earlier one |
//! | `protocol` (`protocols`, `subprotocol`) | comma list | none | `Sec-WebSocket-Protocol`; the agreed one is `Conn::protocol()` |
//! | `insecure` (`insecureSkipVerify`) | `true`/`false` | `false` | skip TLS certificate checks (tests only) |
//! | `ca` | path to a PEM file | none | trust these roots as well as the system's |
//! | `cert` | path to a PEM file | none | present this client certificate (with `key`) |
//! | `key` | path to a PEM file | none | the private key of `cert` (PKCS#8) |
//! | `ping` (`pingInterval`) | ms | `20000` | send a keepalive every N ms; `0` = off (the default on raw sockets, which need `ping_msg`) |
//! | `ping_msg` (`pingMessage`) | text | none | send this text as the keepalive instead of a protocol Ping (OKX: `ping`) |
//! | `ping_timeout` (`pingTimeout`) | ms | `20000` | nothing received within N ms of a keepalive means the connection is dead; `0` = off (the default on raw sockets) |
//! | `idle` | ms | `0` = off | nothing received for N ms means the connection is dead |
//! | `max_age` (`maxAge`) | ms | `0` = off | replace the connection before it is N ms old, without a gap: dial the new one, switch when it delivers, close the old |
//! | `qsize` | count, at least 1 | `2000` | receive buffer capacity, messages |
//! | `qbytes` | bytes, at least 1 | `16777216` | receive buffer capacity, bytes |
//! | `sendq` (`send_queue`) | bytes, at least 1 | `16777216` | send queue capacity, bytes: a write that does not fit returns 0 (counted) |
//! | `maxsize` (`max_size`) | bytes, at least 1 | `67108864` | largest inbound message accepted |
//! | `timeout` | ms, at least 1 | `10000` | dial deadline: DNS, TCP, proxy, TLS and handshake together |
//! | `local_ip` (`localIp`) | IP | none | bind the local end (not with `proxy`) |
//! | `enableCompression` (`enable_compression`) | `true`/`false` | `false` | offer permessage-deflate (RFC 7692); when the server agrees, compressed messages are inflated (each up to `maxsize`) and writes are compressed |
//! | `deflate_writes` (`deflateWrites`) | `true`/`false` | `true` | with `enableCompression`: `false` sends messages uncompressed (received ones are still inflated) |
//!
//! Options that do not apply to a scheme (`compress` on `tcp://`, `ca` on
//! `ws://`) are refused, never silently ignored.
//!
//! ## Message brokers
//!
//! A broker connection is read and written as a WebSocket is: a read returns
//! the next message of the subscription ([`Message::topic`] says which topic,
//! subject or routing key), a write publishes to it and returns the length, or
//! 0 when the address names a wildcard or the connection is down. The read
//! modes, the drop-oldest buffer, [`select`], [`Conn::stats`], one
//! `Disconnected` per lost connection and `reconnect` (subscribed again, the
//! `payload`s published again) are those of a WebSocket; options for sockets
//! only are refused by name. Wrong credentials are [`ErrorKind::Auth`]. Each
//! broker is a cargo feature (`brokers` turns them all on); without it the
//! scheme is [`ErrorKind::Unsupported`], naming the feature. A background
//! thread ("wsdial-broker") per connection runs the client; the client's own
//! async runtime (if any) lives there, so dialing from inside a program's
//! tokio runtime works.
//!
//! `consume=false` in a broker address (every broker takes it; default
//! `true`) makes a connection that only publishes: nothing is subscribed or
//! consumed, so it reads back neither its own publications (MQTT, NATS and
//! Kafka deliver them to a reader of the same topic) nor a share of a queue
//! (AMQP). A read never returns a message, only a `Disconnected` when the
//! connection is lost; [`Target::publish_only`] says whether an address is
//! such. With it, what only concerns reading is refused: a wildcard topic
//! (MQTT, NATS), a queue group (NATS), `group` and `offset` (Kafka).
//!
//! [`Stats::sent`] counts a broker message when the client crate
//! took it to send, not when the broker has it: into rumqttc's request queue
//! (MQTT; the connection's thread writes it, and at `qos=1`/`2` the broker's
//! acknowledgement is not waited for), into the channel that the connection's
//! runtime hands to async-nats (NATS, which has no acknowledgement), onto
//! lapin's outgoing queue, which its I/O thread writes (AMQP, without
//! publisher confirms), into librdkafka's producer queue
//! (Kafka, which sends in batches; a record the broker does not acknowledge,
//! or that librdkafka still holds when the session ends, is counted as
//! `unsent` and logged). Messages the other clients still hold when a
//! connection is lost are not counted as `unsent` (a WebSocket's are);
//! `close` sends what the client holds within its deadline.
//!
//! | address | feature |
//! |---|---|
//! | `mqtt://[user:pass@]host[:1883]?topic=T[&qos=0\|1\|2][&client_id=ID][&consume=true\|false]`, `mqtts://` (TLS, port 8883, `ca`, `insecure`) | `mqtt` |
//! | `nats://[user[:pass]@]host[:4222]?topic=SUBJECT[&queue=GROUP][&consume=true\|false]` (TLS with `ca`/`insecure` when the server asks) | `nats` |
//! | `amqp://[user:pass@]host[:5672]/[vhost]?queue=Q[&durable=true\|false][&consume=true\|false]`, `amqps://` (TLS, port 5671, `ca`, `insecure`) | `amqp` |
//! | `kafka://[user:pass@]host[:9092][,host2[:9092]…]/TOPIC[?group=G&offset=earliest\|latest&mechanism=scram-sha-512\|scram-sha-256\|plain&consume=true\|false]` (SASL with a user) | `kafka` |
//!
//! ### Kafka
//!
//! A read is the topic's next record, with [`Message::topic`],
//! [`Message::partition`], [`Message::offset`] and [`Message::key`]. Without
//! `group` every partition is read by this connection, from offsets fixed
//! before the dial returns; with `group` the group assigns them. `offset`
//! (default `latest`) is where a partition with no position starts. An unknown
//! topic is an [`ErrorKind::Handshake`] error that names it; no broker within
//! `timeout` is [`ErrorKind::Tcp`]. With `reconnect=true`, losing every broker
//! is one [`Event::Disconnected`], and the new connection goes on from the next
//! unread offset of each partition.
//!
//! ## permessage-deflate
//!
//! `enableCompression=true` offers the WebSocket compression extension
//! (RFC 7692) as `permessage-deflate; client_max_window_bits`, on every
//! connect and reconnect. The server's answer is checked as RFC 7692 section 7
//! says: an unknown parameter, a parameter twice, a window outside 8-15, a
//! value where none belongs, is an [`ErrorKind::Handshake`] error that names
//! the parameter. A server that does not accept the offer is fine: the
//! connection is then uncompressed ([`Conn::extensions`] says what was
//! agreed). When it is agreed, every compressed message is inflated, in one
//! frame or many, with or without context takeover, whatever window the
//! server uses; a message that inflates past `maxsize` ends the connection
//! with [`Cause::Protocol`] instead of being inflated in full. What the
//! program writes is compressed with the window and context takeover the
//! server asked for, unless `deflate_writes=false`. It composes with
//! `compress=` (the extension compresses the binary message `compress`
//! made). The `permessage-deflate` cargo feature (on by default) builds it;
//! without it `enableCompression=true` is refused with
//! [`ErrorKind::Unsupported`].
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
//! ## Reconnecting
//!
//! With `reconnect=true`, a lost connection is dialed again after `interval`
//! (1 s), doubling up to `max_interval` (30 s), each wait shortened by up to a
//! quarter at random; `max_interval` equal to `interval` keeps it fixed. A
//! reconnect whose handshake the server refuses with an HTTP status (401, 403,
//! 429, 503 …) is an [`Event::Disconnected`] with [`Cause::Refused`], whose
//! [`http_status`](Disconnect::http_status) and
//! [`retry_after`](Disconnect::retry_after) say what the server answered; the
//! next attempt waits at least what `Retry-After` asked. A broker reconnect
//! whose credentials the broker refuses is one too (its words, no HTTP
//! status), and reconnecting goes on. Other failed attempts
//! are logged; `retry=N` gives up after N in a row ([`Cause::GaveUp`]).
//!
//! At every connect, `on_connect`'s messages, the payloads and the
//! subscriptions ([`Conn::subscribe`]) go out before anything the program
//! wrote; `pace=MS` spaces them at least MS ms apart (a rotation's
//! replacement too),
//! and the connection is served meanwhile. `retry_first=true` applies the
//! reconnect policy to the first dial: when it fails, `dial` returns the
//! connection anyway (not up yet) and keeps dialing in the background.
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
//! ## Connecting
//!
//! A name that resolves to several addresses is connected the RFC 8305 way
//! (IPv6 and IPv4 interleaved, a new attempt every 250 ms while the earlier
//! ones are pending, the first to connect wins), inside the dial's one
//! `timeout`. IPv6 literals work in the URL, `proxy=` and `local_ip=`
//! (`ws://[::1]:9001/`). `proxy=env` takes the proxy from `HTTPS_PROXY`,
//! `ALL_PROXY` and the like, and `NO_PROXY`, as curl does, and only when the
//! address asks. `cert` and `key` present a client certificate (`wss://`,
//! `tls://`).
//!
//! ## Liveness
//!
//! A WebSocket sends a protocol Ping every 20 s (`ping`) and is lost, with
//! [`Cause::PingTimeout`], when nothing at all (a Pong, a message) arrives
//! within 20 s of one (`ping_timeout`), as Python `websockets` does: a
//! connection that died without closing (a dead NAT, a cable pulled) is found
//! within 40 s instead of never. `ping=0` turns it off; `ping_msg` sends a
//! text keepalive instead of the Ping (its answer, or anything else, counts);
//! `idle` is a separate limit on plain silence. Raw sockets (`tcp`, `tls`,
//! `udp`, `unix`) have no Ping that every peer answers: there both are off
//! unless the address sets them (`ping` with `ping_msg`, and `ping_timeout`).
//!
//! ## Databases
//!
//! `sqlite3://` (cargo feature `sqlite`; `postgres://`, `mysql://` and
//! `clickhouse://` have their addresses checked and their features named)
//! opens a database used through [`Conn::exec`], [`Conn::exec_with`] and
//! [`Conn::exec_many`] (one statement for many parameter rows, prepared once
//! by SQLite, one `timeout=` for the batch, no implicit transaction):
//! statements on the caller's thread, one at a time, each bounded by
//! `timeout=`, returning [`db::Rows`] of [`db::Value`]s, which serialise to
//! Dial's `{"columns": [...], "values": [[...]]}`. A statement that finishes
//! right at its deadline may still be reported as timed out although it ran
//! (its changes kept): the deadline and the answer race. [`Conn::fd`] gives a
//! [`db::Handle`] that another thread dials to use the same session. Reads
//! and writes are refused (see [`Conn`]'s section on databases).
//!
//! `clickhouse://host:8123?username=u&password=p&database=d` is ClickHouse's
//! HTTP interface, on the port written; `clickhouse://tcp://host:9000?…` its
//! native protocol (cargo feature `clickhouse` for both), on the port written
//! or, when none is, 9000 (the native protocol's own port). Both give the same
//! columns and values for the same query (the README lists the exceptions).
//!
//! ```
//! # #[cfg(feature = "sqlite")] {
//! let db = wsdial::dial("sqlite3://:memory:")?;
//! db.exec("CREATE TABLE fills (symbol TEXT, qty REAL)")?;
//! db.exec_with("INSERT INTO fills VALUES (?, ?)", &["BTCUSDT".into(), 0.5.into()])?;
//! let rows = db.exec("SELECT * FROM fills")?;
//! let more = [["ETHUSDT".into(), 2.0.into()], ["SOLUSDT".into(), 3.0.into()]];
//! assert_eq!(db.exec_many("INSERT INTO fills VALUES (?, ?)", &more)?, 2);
//! assert_eq!(
//!     serde_json::to_string(&rows).unwrap(),
//!     r#"{"columns":["symbol","qty"],"values":[["BTCUSDT",0.5]]}"#
//! );
//! # }
//! # Ok::<(), wsdial::Error>(())
//! ```
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
//!   keepalive.rs the ping every `ping` and the wait for its answer
//!   greeting.rs  the messages of each connect, `pace`d
//! link/        WebSocket (tungstenite, non-blocking) or raw tcp/tls/udp/unix;
//!              permessage-deflate: pmd.rs (offer, answer, deflate) and
//!              inflate/ (a stream under tungstenite that rewrites compressed
//!              messages into plain frames)
//! transport/   TCP (one deadline, Happy Eyeballs, local_ip, TCP_NODELAY) -> TLS
//!              (native-tls), through a proxy (SOCKS5, HTTP CONNECT)
//! proxy_env.rs `proxy=env`: the environment's proxy, read as curl reads it
//! broker/      message brokers: one Protocol per broker (mqtt.rs …) and the
//!   driver.rs    generic driver: one thread per connection, recv in 100 ms
//!                slices into the inbox, reconnect, publish from any thread
//!   driver/handoff.rs  who reads a session that a program's thread may
//!                read (Kafka's; AMQP's outside a program's tokio
//!                runtime): the driver's thread, or the program's
//! ```
//!
//! The worker never blocks on the socket: it sleeps in `epoll` until the socket
//! is readable or writable, or the program queued a write. An idle connection
//! wakes it only for its timers: with the default keepalive once per 20 s (the
//! Ping and the check of the last one's answer share one timer), with `ping=0`
//! and no `idle` never; and a write never waits for inbound traffic. When the program keeps up, it reads the socket on its own thread
//! and the worker stands aside (see [`Conn`]); so does a Kafka connection's
//! thread, for a program that reads librdkafka's consumer itself.
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
mod broker;
mod clock;
mod codec;
mod conn;
pub mod db;
mod dialer;
mod error;
mod hooks;
mod inbox;
mod link;
mod message;
mod options;
mod proxy;
mod proxy_env;
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
    #[cfg(feature = "permessage-deflate")]
    pub use crate::link::inflate::replay_permessage_deflate;
}
