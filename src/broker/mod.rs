//! The broker driver: `mqtt`, `mqtts`, `nats`, `amqp`, `amqps` and `kafka`.
//!
//! A broker connection is a [`Conn`](crate::Conn) like any other: the same
//! seam (inbox, outbox, counters, state), one background thread per
//! connection around the protocol's client crate, and the shared reconnect
//! policy ([`crate::backoff`]). Each protocol provides a [`Protocol`] (how to
//! connect and subscribe) and a [`Session`] (one live connection); the driver
//! in `driver.rs` does the rest, the same for every protocol.
//!
//! A protocol whose client crate needs an async runtime runs it on the
//! connection's own thread; nothing calls `block_on` on the program's thread.
//!
//! Each protocol's address is read by its own module (`endpoint`), which is
//! compiled whatever the features, so `wsdial parse` and a dial check an
//! address the same way in every build; only the client is behind the
//! protocol's cargo feature.

#![allow(dead_code)] // Filled in protocol by protocol.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::address::{Scheme, Target};
use crate::error::{Error, ErrorKind};
use crate::message::{Disconnect, Message};
use crate::options::Options;
use crate::seam::{Driver, Outgoing, Seam};

mod amqp;
mod driver;
mod kafka;
mod mqtt;
mod nats;

/// How to connect to one broker and subscribe: made once per `Conn` from its
/// address and options, used on the connection's thread for the first dial
/// and for every reconnect.
pub(crate) trait Protocol: Send + 'static {
    /// Connects, authenticates and subscribes (the address's topic, subject,
    /// queue) before `deadline`. Wrong credentials are `ErrorKind::Auth`.
    fn connect(&mut self, deadline: Instant) -> Result<Box<dyn Session>, Error>;
}

/// One live connection to a broker, used on the connection's thread (and,
/// when its [`program_readers`](Session::program_readers) allow, by a
/// program thread that found the inbox empty).
pub(crate) trait Session: Send {
    /// Appends to `batch` what the subscription has, at most `max` messages:
    /// waits at most `timeout` for the first, then takes only what is already
    /// there. `Err` when the connection is lost (the `Disconnect` says why),
    /// after the messages that came before the loss were appended. A client
    /// that buffers messages takes them in one go (one entry into its runtime
    /// rather than one per message); one that hands them over singly uses
    /// [`one_by_one`].
    fn recv_batch(
        &mut self,
        timeout: Duration,
        batch: &mut Vec<(Message, bool)>,
        max: usize,
    ) -> Result<(), Disconnect>;

    /// Which program threads may read this session themselves when their
    /// inbox is empty (one thread at a time, see the driver's `handoff`), so
    /// that a reader that keeps up costs no hand-off between threads: `None`,
    /// none (only the connection's thread reads); `Some(may)`, a thread on
    /// which `may()` is true, asked before each direct read. `recv_batch`
    /// must work on such a thread.
    ///
    /// librdkafka (Kafka) blocks in C without an async runtime:
    /// [`any_thread`]. AMQP's lapin is driven by a current-thread runtime of
    /// the connection's, which a program's thread may drive too, except from
    /// inside a tokio runtime of its own, where a `block_on` panics. NATS's
    /// and MQTT's clients run tasks that must keep running while the program
    /// does not read (async-nats's connection task, rumqttc's event loop with
    /// its keep-alive): only the connection's thread reads them.
    fn program_readers(&self) -> Option<fn() -> bool> {
        None
    }

    /// Messages the client crate itself dropped since the last call (a
    /// buffer of its own was full), to be counted with the inbox's drops.
    fn dropped(&mut self) -> u64 {
        0
    }

    /// Published messages that the client took but could not deliver since
    /// the last call (Kafka's failed delivery reports), to be counted as
    /// `unsent`. `ending`: the session is over (lost or closed); what the
    /// client still holds to send is given up and counted too.
    fn undelivered(&mut self, _ending: bool) -> u64 {
        0
    }

    /// A handle that publishes from any thread while this session is up, or
    /// `None` when the address names nothing to publish to.
    fn publisher(&self) -> Option<Arc<dyn Publish>>;

    /// Ends the session politely (disconnect, close the channel, leave the
    /// group) before `deadline`.
    fn close(&mut self, deadline: Instant);
}

/// [`Session::program_readers`] for a session that any thread may read.
pub(crate) fn any_thread() -> bool {
    true
}

/// [`Session::recv_batch`] for a client that hands over one message at a
/// time: `recv` waits at most the given time for the next (`Ok(None)` when
/// none came); the first may take `timeout`, the rest are only what is there.
pub(crate) fn one_by_one(
    timeout: Duration,
    batch: &mut Vec<(Message, bool)>,
    max: usize,
    mut recv: impl FnMut(Duration) -> Result<Option<Message>, Disconnect>,
) -> Result<(), Disconnect> {
    let mut wait = timeout;
    for _ in 0..max {
        match recv(wait)? {
            Some(m) => batch.push((m, false)),
            None => break,
        }
        wait = Duration::ZERO;
    }
    Ok(())
}

/// Publishes to the address's topic (subject, queue, topic), from any thread.
pub(crate) trait Publish: Send + Sync {
    /// Hands `m` to the client; false when the session is gone.
    fn publish(&self, m: &Outgoing) -> bool;
}

/// The host and port of a broker address (the first host of a list), after
/// checking the address the way its protocol reads it.
pub(crate) fn endpoint(scheme: Scheme, url: &str) -> Result<(String, u16), Error> {
    match scheme {
        Scheme::Mqtt | Scheme::Mqtts => mqtt::endpoint(scheme, url),
        Scheme::Nats => nats::endpoint(url),
        Scheme::Amqp | Scheme::Amqps => amqp::endpoint(scheme, url),
        Scheme::Kafka => kafka::endpoint(url),
        _ => unreachable!("not a broker scheme: {scheme}"),
    }
}

/// Whether a broker address subscribes (reads): false with `consume=false`.
pub(crate) fn consumes(scheme: Scheme, url: &str) -> Result<bool, Error> {
    Ok(match scheme {
        Scheme::Mqtt | Scheme::Mqtts => mqtt::parse(scheme, url)?.consume,
        Scheme::Nats => nats::parse(url)?.consume,
        Scheme::Amqp | Scheme::Amqps => amqp::parse(scheme, url)?.consume,
        Scheme::Kafka => kafka::KafkaAddress::parse(url)?.consume,
        _ => unreachable!("not a broker scheme: {scheme}"),
    })
}

/// The `Unsupported` error for a protocol whose cargo feature is off.
pub(crate) fn feature_off(scheme: Scheme, feature: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("{scheme}:// needs wsdial's cargo feature `{feature}`, which this build was made without"),
    )
}

/// Dials a broker: the protocol of `target`'s scheme, served by the driver.
pub(crate) fn start(
    target: &Target,
    options: &Options,
) -> Result<(Arc<Seam>, Box<dyn Driver>), Error> {
    let scheme = target.scheme();
    let protocol: Box<dyn Protocol> = match scheme {
        Scheme::Mqtt | Scheme::Mqtts => mqtt::protocol(target, options)?,
        Scheme::Nats => nats::protocol(target, options)?,
        Scheme::Amqp | Scheme::Amqps => amqp::protocol(target, options)?,
        Scheme::Kafka => kafka::protocol(target, options)?,
        _ => unreachable!("not a broker scheme: {scheme}"),
    };
    // The driver's logs and errors show the address with its password masked.
    driver::start(protocol, &target.masked_url(), options)
}

/// Placeholder address check until each protocol reads its own form: a URL
/// with a host.
fn generic_endpoint(url: &str) -> Result<(String, u16), Error> {
    let parsed = url::Url::parse(url)
        .map_err(|e| Error::address(None, format!("`{url}` is not a valid URL: {e}")))?;
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::address(None, format!("`{url}` has no host")))?;
    Ok((
        host.trim_matches(['[', ']']).to_owned(),
        parsed.port().unwrap_or(0),
    ))
}
