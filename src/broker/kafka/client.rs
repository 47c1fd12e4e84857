//! The `kafka://` client: rdkafka's synchronous `BaseConsumer` (polled by
//! [`Session::recv_batch`] on the connection's thread, or on a program's
//! thread that keeps up: the session [reads on any
//! thread](Session::program_readers)) and `BaseProducer` (the
//! [`Publish`] handle, used from any thread), over the vendored librdkafka.
//!
//! librdkafka dials, retries and reconnects by itself, forever. This module
//! bounds it: a connect that has no answer from the cluster by its deadline
//! fails (and fails at once when every bootstrap broker refused the
//! connection); a session whose brokers are all down ends with one
//! `Disconnect`, and the driver's reconnect (with the shared backoff) makes
//! a new client, which carries on from where the old one stopped.
//!
//! Positions: without a group, the session assigns every partition of the
//! topic at an explicit offset looked up before `connect` returns (so what is
//! published after the dial returns is read), and the next offset of each
//! partition outlives the session: a reconnect goes on from there (and reads
//! a partition that appeared meanwhile from its start). A connect that found
//! the topic gone (a broker that lost it, such as tansu with its memory
//! storage, after a restart) is refused by name; the first connect after it
//! reads the new topic of that name from its start. A topic lost and made
//! again between two connects (a producer recreated it before the reconnect
//! looked) is not seen as gone; a saved position past the partition's high
//! watermark is taken as such a loss, and that partition is read from its
//! start, so what is published after the topic came back is read. The cost:
//! on tansu 0.6, whose high watermark is the last batch's base offset + 1,
//! a partition whose position lies inside its last batch is read again
//! (duplicates, never loss). Not caught: a recreated partition that already
//! holds at least as many messages as the saved position (its first ones are
//! skipped; the metadata read here cannot tell the two topics apart). A
//! position out of range while a session runs (retention) is read from the
//! partition's start too (`auto.offset.reset=earliest` without a group).
//! With a group, the group's committed offsets decide (librdkafka commits
//! automatically), and `offset=` applies where the group has none.
//!
//! Reading: [`Session::recv_batch`] takes what librdkafka has fetched, up to
//! the driver's batch, with one clock reading for all of it (one receive
//! time), and copies the payloads of small messages into one buffer of up to
//! [`SHARED`] bytes that they share (one allocation for many messages; a
//! message keeps its buffer alive, as a WebSocket message read from the
//! socket does).
//!
//! Group timings: `session.timeout.ms=6000` and `max.poll.interval.ms=7000`.
//! Some brokers (tansu) hold a JoinGroup for the whole rebalance timeout,
//! which is `max.poll.interval.ms` (300 s by default); the consumer is
//! polled all the time, whatever the program does (by the program's thread
//! while it reads, else by the connection's within 10 ms), so a short value
//! costs nothing here.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message as _};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tungstenite::Bytes;

use super::{KafkaAddress, Start};
use crate::broker::{Protocol, Publish, Session};
use crate::clock::Stamp;
use crate::error::{Error, ErrorKind};
use crate::message::{Cause, Disconnect, Message, Route, Topic};
use crate::options::Options;
use crate::seam::Outgoing;

/// The most payload bytes that messages taken together share in one buffer
/// (a message keeps its buffer alive: the most a program that keeps one small
/// message out of many holds beside it).
const SHARED: usize = 64 * 1024;

/// How long one metadata request may take before the connect looks at what
/// librdkafka reported meanwhile (a refused connection ends it early).
const SLICE: Duration = Duration::from_millis(200);

/// The `kafka://` protocol: one address, and the positions that outlive a session.
pub(crate) struct Kafka {
    address: KafkaAddress,
    url: String,
    /// Next offset of each partition (index = partition), without a group.
    positions: Arc<Mutex<Vec<i64>>>,
    /// A connect found the topic gone: the next one reads the new topic of
    /// that name from its start, whatever its offsets.
    vanished: bool,
}

impl Kafka {
    pub(crate) fn new(address: KafkaAddress, _options: &Options) -> Kafka {
        let url = format!("kafka://{}/{}", address.bootstrap(), address.topic);
        Kafka {
            address,
            url,
            positions: Arc::default(),
            vanished: false,
        }
    }

    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.address.bootstrap())
            .set("client.id", "wsdial")
            // Fail over to what the broker says quickly; retry the connection
            // itself no slower than once a second while a session is up.
            .set("reconnect.backoff.ms", "50")
            .set("reconnect.backoff.max.ms", "1000")
            .set_log_level(RDKafkaLogLevel::Warning);
        if let Some(sasl) = &self.address.sasl {
            c.set("security.protocol", "sasl_plaintext")
                .set("sasl.mechanism", sasl.mechanism.name())
                .set("sasl.username", &sasl.user)
                .set("sasl.password", &sasl.pass);
        }
        c
    }

    fn consumer(&self, ctx: &Ctx) -> Result<BaseConsumer<Ctx>, Error> {
        let mut c = self.config();
        c.set("enable.partition.eof", "false")
            // librdkafka's own prefetch queue, beside the inbox: 8 MiB per
            // connection at most (the default is 64 MiB); the driver's thread
            // drains it all the time, so the next fetch is asked for 5 ms after
            // the queue was full (the default 1 s made reading 3 times slower).
            .set("queued.max.messages.kbytes", "8192")
            .set("fetch.queue.backoff.ms", "5")
            .set(
                "auto.offset.reset",
                match (&self.address.group, self.address.start) {
                    // Without a group every partition is assigned at an
                    // explicit offset, so this is only used when a position
                    // is out of range: the log it pointed into is gone (a
                    // topic deleted and made again while no connect looked,
                    // or retention). Read what the partition holds now from
                    // its start: `latest` would skip what was published
                    // since the topic came back.
                    (None, _) | (Some(_), Start::Earliest) => "earliest",
                    (Some(_), Start::Latest) => "latest",
                },
            );
        match &self.address.group {
            Some(g) => {
                c.set("group.id", g)
                    .set("session.timeout.ms", "6000")
                    .set("max.poll.interval.ms", "7000")
                    .set("heartbeat.interval.ms", "1000");
            }
            // librdkafka wants a group id even for a consumer that assigns
            // its own partitions; it joins nothing and commits nothing.
            None => {
                c.set("group.id", "wsdial")
                    .set("enable.auto.commit", "false");
            }
        }
        c.create_with_context(ctx.clone())
            .map_err(|e| self.error(ErrorKind::Io, e, None))
    }

    fn producer(&self) -> Result<BaseProducer<Ctx>, Error> {
        self.config()
            .create_with_context(Ctx::default())
            .map_err(|e| self.error(ErrorKind::Io, e, None))
    }

    fn error(&self, kind: ErrorKind, what: impl std::fmt::Display, ctx: Option<&Ctx>) -> Error {
        let seen = ctx.and_then(Ctx::last_failure);
        let seen = seen
            .map(|s| format!(" (librdkafka: {s})"))
            .unwrap_or_default();
        Error::new(kind, format!("{}: {what}{seen}", self.url))
    }

    /// The topic's partitions, asking until `deadline`: an error at once when
    /// every broker refused, a timeout when none answered.
    fn partitions(
        &mut self,
        consumer: &BaseConsumer<Ctx>,
        ctx: &Ctx,
        deadline: Instant,
    ) -> Result<Vec<i32>, Error> {
        let topic = self.address.topic.as_str();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self
                    .error(
                        ErrorKind::Tcp,
                        "no broker answered before the timeout",
                        Some(ctx),
                    )
                    .timed_out());
            }
            match consumer.fetch_metadata(Some(topic), left.min(SLICE)) {
                Ok(md) => {
                    let t = md.topics().iter().find(|t| t.name() == topic);
                    let parts: Vec<i32> = t
                        .filter(|t| t.error().is_none())
                        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
                        .unwrap_or_default();
                    if !parts.is_empty() {
                        return Ok(parts);
                    }
                    self.vanished = true;
                    let why = t.and_then(|t| t.error()).map(RDKafkaErrorCode::from);
                    return Err(Error::new(
                        ErrorKind::Handshake,
                        format!(
                            "{}: the cluster has no topic `{topic}`{}; create it first (tansu: `tansu topic create {topic}`; Kafka: kafka-topics.sh --create)",
                            self.url,
                            why.map(|w| format!(" ({w})")).unwrap_or_default()
                        ),
                    ));
                }
                Err(_) => {
                    // Error events (refused credentials, a name that does not
                    // resolve, all brokers down) wait in the consumer's queue.
                    let mut resolve_failed = false;
                    while let Some(r) = consumer.poll(Duration::ZERO) {
                        let Err(KafkaError::MessageConsumption(code)) = r else {
                            continue;
                        };
                        // librdkafka says so in an event, or only in its log.
                        resolve_failed |= code == RDKafkaErrorCode::Resolve
                            || ctx
                                .last_failure()
                                .is_some_and(|f| f.contains("Failed to resolve"));
                        if let Some((kind, what)) = refusal(code, resolve_failed) {
                            return Err(self.error(kind, what, Some(ctx)));
                        }
                    }
                }
            }
        }
    }

    /// Assigns every partition at an explicit offset (no group).
    fn assign(
        &mut self,
        consumer: &BaseConsumer<Ctx>,
        parts: &[i32],
        ctx: &Ctx,
        deadline: Instant,
    ) -> Result<(), Error> {
        let topic = self.address.topic.as_str();
        let mut positions = self.positions.lock();
        let first = positions.is_empty();
        let mut tpl = TopicPartitionList::new();
        for &p in parts {
            let left = deadline.saturating_duration_since(Instant::now());
            let (low, high) = consumer.fetch_watermarks(topic, p, left).map_err(|e| {
                self.error(
                    ErrorKind::Tcp,
                    format!("partition {p}'s offsets: {e}"),
                    Some(ctx),
                )
            })?;
            let known = usize::try_from(p)
                .ok()
                .and_then(|i| positions.get(i))
                .copied()
                .filter(|&n| n >= 0);
            let at = match known {
                // A new topic of the same name: all of it is new.
                _ if self.vanished => low,
                // Past the partition's end: the log it pointed into is gone
                // (the topic was made again before this connect could see it
                // missing). Its start, or what was published since it came
                // back would be skipped (tansu answers a fetch past the end
                // with nothing, not out-of-range). tansu 0.6 reports the
                // last batch's base offset + 1 as the high watermark, so
                // there a position inside the last batch also lands here:
                // that partition is read again (duplicates, not loss).
                Some(n) if n > high => low,
                // Where the last session stopped.
                Some(n) => n,
                // A partition that appeared since an earlier session: all of it is new.
                None if !first => low,
                None => match self.address.start {
                    Start::Earliest => low,
                    Start::Latest => high,
                },
            };
            if let Ok(i) = usize::try_from(p) {
                if positions.len() <= i {
                    positions.resize(i + 1, -1);
                }
                positions[i] = at;
            }
            tpl.add_partition_offset(topic, p, Offset::Offset(at))
                .map_err(|e| self.error(ErrorKind::Io, e, None))?;
        }
        drop(positions);
        consumer
            .assign(&tpl)
            .map_err(|e| self.error(ErrorKind::Io, e, Some(ctx)))?;
        self.vanished = false;
        Ok(())
    }
}

impl Protocol for Kafka {
    fn connect(&mut self, deadline: Instant) -> Result<Box<dyn Session>, Error> {
        let ctx = Ctx::default();
        let consumer = self.consumer(&ctx)?;
        let parts = self.partitions(&consumer, &ctx, deadline)?;
        let topic: Arc<str> = Arc::from(self.address.topic.as_str());
        let mut pending = VecDeque::new();
        if self.address.group.is_some() {
            consumer
                .subscribe(&[&self.address.topic])
                .map_err(|e| self.error(ErrorKind::Io, e, Some(&ctx)))?;
            // Joined when the group has given this member its partitions.
            loop {
                if consumer.assignment().is_ok_and(|a| a.count() > 0) {
                    break;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(self
                        .error(
                            ErrorKind::Tcp,
                            "the consumer group gave no partitions before the timeout",
                            Some(&ctx),
                        )
                        .timed_out());
                }
                if let Some(Ok(m)) = consumer.poll(left.min(Duration::from_millis(100))) {
                    let payload = Bytes::copy_from_slice(m.payload().unwrap_or_default());
                    pending.push_back(routed(&m, &topic, payload, Stamp::now()));
                }
            }
        } else if self.address.consume {
            self.assign(&consumer, &parts, &ctx, deadline)?;
        }
        // consume=false: nothing assigned, nothing fetched; the consumer
        // stays for what librdkafka reports (every broker lost).
        let producer = self.producer()?;
        Ok(Box::new(KafkaSession {
            url: self.url.clone(),
            consumer: Some(consumer),
            ctx,
            topic,
            pending,
            publisher: Arc::new(KafkaPublisher {
                producer,
                topic: self.address.topic.clone(),
                alive: AtomicBool::new(true),
            }),
            positions: self.address.group.is_none().then(|| self.positions.clone()),
            local: Vec::new(),
        }))
    }
}

/// What an error event of a connect means, if it ends the connect: refused
/// credentials are `Auth` at once (librdkafka would retry them forever);
/// every broker down is `Dns` when a broker's name did not resolve (seen in
/// an earlier event of this connect), else `Tcp`.
fn refusal(code: RDKafkaErrorCode, resolve_failed: bool) -> Option<(ErrorKind, &'static str)> {
    match code {
        RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed => Some((
            ErrorKind::Auth,
            "the broker refused the user name or password (SASL)",
        )),
        RDKafkaErrorCode::AllBrokersDown if resolve_failed => Some((
            ErrorKind::Dns,
            "no broker of the address could be reached: a host name did not resolve",
        )),
        RDKafkaErrorCode::AllBrokersDown => Some((
            ErrorKind::Tcp,
            "no broker of the address accepted a connection",
        )),
        _ => None,
    }
}

/// What librdkafka tells a client through its callbacks (on librdkafka's threads).
#[derive(Clone, Default)]
struct Ctx {
    failure: Arc<Mutex<Option<String>>>,
    /// Published records whose delivery failed (the producer's), not yet
    /// reported (`Session::undelivered`).
    undelivered: Arc<AtomicU64>,
}

impl Ctx {
    fn last_failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }
}

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        // What failed (a refused connection, a lost broker) is kept for the
        // error or disconnect it leads to; all of it goes to `log` at debug.
        if (level as i32) <= (RDKafkaLogLevel::Error as i32) {
            *self.failure.lock() = Some(msg.to_owned());
        }
        log::debug!(target: "wsdial::kafka", "{fac}: {msg}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        *self.failure.lock() = Some(reason.to_owned());
        log::debug!(target: "wsdial::kafka", "{error}: {reason}");
    }
}

impl ConsumerContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = r {
            self.undelivered.fetch_add(1, Ordering::Relaxed);
            log::warn!(target: "wsdial::kafka", "a published message was not delivered: {e}");
        }
    }
}

fn payload_len(m: &BorrowedMessage<'_>) -> usize {
    m.payload().map_or(0, <[u8]>::len)
}

/// A Kafka record of `topic` (the session's one: shared, not copied per
/// record) as a routed message with its payload, received at `rx`.
fn routed(m: &BorrowedMessage<'_>, topic: &Arc<str>, payload: Bytes, rx: Stamp) -> Message {
    debug_assert_eq!(m.topic(), &**topic, "a session reads one topic");
    Message::routed_bytes(
        payload,
        Route {
            topic: Topic::Shared(topic.clone()),
            partition: Some(m.partition()),
            offset: Some(m.offset()),
            key: m.key().map(<[u8]>::to_vec),
        },
        rx,
    )
}

struct KafkaSession {
    url: String,
    consumer: Option<BaseConsumer<Ctx>>,
    ctx: Ctx,
    /// The topic, which every record read has.
    topic: Arc<str>,
    /// Messages that came while joining the group, before the first `recv_batch`.
    pending: VecDeque<Message>,
    publisher: Arc<KafkaPublisher>,
    /// Without a group: the protocol's positions, written back when the session ends.
    positions: Option<Arc<Mutex<Vec<i64>>>>,
    /// This session's next offsets (index = partition; -1 none yet).
    local: Vec<i64>,
}

impl KafkaSession {
    fn save_positions(&mut self) {
        if let Some(shared) = &self.positions {
            let mut shared = shared.lock();
            for (i, &n) in self.local.iter().enumerate() {
                if n >= 0 {
                    if shared.len() <= i {
                        shared.resize(i + 1, -1);
                    }
                    shared[i] = n;
                }
            }
        }
        self.local.clear();
    }
}

impl KafkaSession {
    /// What an error event of a running session means: `Some` when the
    /// connection is lost, `None` for what librdkafka retries by itself.
    fn lost(&self, e: KafkaError) -> Option<Disconnect> {
        match e {
            KafkaError::MessageConsumption(RDKafkaErrorCode::AllBrokersDown) => {
                let why = self
                    .ctx
                    .last_failure()
                    .unwrap_or_else(|| "all brokers are down".into());
                Some(Disconnect::new(
                    Cause::Io,
                    format!("{}: lost every broker: {why}", self.url),
                ))
            }
            e @ KafkaError::MessageConsumptionFatal(_) => Some(Disconnect::new(
                Cause::Protocol,
                format!("{}: {e}", self.url),
            )),
            // Transient (one broker's connection, a partition moving):
            // librdkafka retries by itself.
            e => {
                log::debug!(target: "wsdial::kafka", "{}: {e}", self.url);
                None
            }
        }
    }
}

impl Session for KafkaSession {
    /// Takes what librdkafka has fetched, up to `max`, with one clock reading
    /// for all of them (they came together), copies their payloads into
    /// shared buffers of up to [`SHARED`] bytes (one allocation for many
    /// small messages, rather than one each), and serves the producer's
    /// delivery reports and errors once per call.
    fn recv_batch(
        &mut self,
        timeout: Duration,
        batch: &mut Vec<(Message, bool)>,
        max: usize,
    ) -> Result<(), Disconnect> {
        self.publisher.producer.poll(Duration::ZERO);
        let start = batch.len();
        while batch.len() - start < max {
            match self.pending.pop_front() {
                Some(m) => batch.push((m, false)),
                None => break,
            }
        }
        let Some(consumer) = &self.consumer else {
            return Err(Disconnect::new(Cause::ClosedByUser, "closed"));
        };
        let mut wait = if batch.len() > start {
            Duration::ZERO
        } else {
            timeout
        };
        let room = max - (batch.len() - start);
        let mut got: Vec<BorrowedMessage<'_>> = Vec::with_capacity(room);
        let mut lost = None;
        while got.len() < room {
            match consumer.poll(wait) {
                None => break,
                Some(Ok(m)) => got.push(m),
                Some(Err(e)) => {
                    lost = self.lost(e);
                    break;
                }
            }
            wait = Duration::ZERO;
        }
        let rx = if got.is_empty() {
            Stamp::default()
        } else {
            Stamp::now()
        };
        let mut rest = &got[..];
        while !rest.is_empty() {
            // The next messages whose payloads fit in one buffer together
            // (a larger payload has one of its own).
            let mut n = 0;
            let mut size = 0;
            while let Some(m) = rest.get(n) {
                if n > 0 && size + payload_len(m) > SHARED {
                    break;
                }
                size += payload_len(m);
                n += 1;
            }
            let (these, after) = rest.split_at(n);
            rest = after;
            let mut buf = Vec::with_capacity(size);
            for m in these {
                buf.extend_from_slice(m.payload().unwrap_or_default());
            }
            let buf = Bytes::from(buf);
            let mut at = 0;
            for m in these {
                if self.positions.is_some() {
                    if let Ok(i) = usize::try_from(m.partition()) {
                        if self.local.len() <= i {
                            self.local.resize(i + 1, -1);
                        }
                        self.local[i] = m.offset() + 1;
                    }
                }
                let len = payload_len(m);
                let payload = if n == 1 {
                    buf.clone()
                } else {
                    buf.slice(at..at + len)
                };
                at += len;
                batch.push((routed(m, &self.topic, payload, rx), false));
            }
        }
        // The messages before a loss stay in `batch`.
        match lost {
            Some(d) => Err(d),
            None => Ok(()),
        }
    }

    /// librdkafka's `poll` blocks in C, on any thread, without a runtime.
    fn program_readers(&self) -> Option<fn() -> bool> {
        Some(super::super::any_thread)
    }

    fn publisher(&self) -> Option<Arc<dyn Publish>> {
        Some(self.publisher.clone())
    }

    /// Failed delivery reports, served by `recv_batch`'s producer poll. At
    /// the end, what librdkafka still holds is purged (it would go nowhere:
    /// the next session has a producer of its own) and counted too.
    fn undelivered(&mut self, ending: bool) -> u64 {
        let producer = &self.publisher.producer;
        if ending {
            self.publisher.alive.store(false, Ordering::Release);
            producer.purge(PurgeConfig::default().queue().inflight());
            // Serves the purged records' delivery reports (they fail at
            // once: this does not wait for a broker).
            let _ = producer.flush(Duration::from_millis(100));
        }
        producer.context().undelivered.swap(0, Ordering::Relaxed)
    }

    fn close(&mut self, deadline: Instant) {
        self.publisher.alive.store(false, Ordering::Release);
        let left = deadline.saturating_duration_since(Instant::now());
        if let Err(e) = self.publisher.producer.flush(left) {
            let n = self.publisher.producer.in_flight_count();
            log::warn!(target: "wsdial::kafka", "{}: {n} published message(s) not delivered at close: {e}", self.url);
        }
        self.save_positions();
        if let Some(consumer) = self.consumer.take() {
            end_consumer(consumer, deadline);
        }
    }
}

impl Drop for KafkaSession {
    fn drop(&mut self) {
        self.save_positions();
        self.publisher.alive.store(false, Ordering::Release);
        if let Some(consumer) = self.consumer.take() {
            end_consumer(consumer, Instant::now() + Duration::from_millis(500));
        }
    }
}

/// Leaves the group (if any) by `deadline`; a consumer that cannot is
/// dropped on a thread of its own, so the caller never waits longer.
fn end_consumer(consumer: BaseConsumer<Ctx>, deadline: Instant) {
    if consumer.close_queue().is_ok() {
        while !consumer.closed() && Instant::now() < deadline {
            consumer.poll(Duration::from_millis(50));
        }
    }
    if consumer.closed() {
        drop(consumer);
    } else {
        let _ = std::thread::Builder::new()
            .name("wsdial-kafka-close".into())
            .spawn(move || drop(consumer));
    }
}

struct KafkaPublisher {
    producer: BaseProducer<Ctx>,
    topic: String,
    alive: AtomicBool,
}

impl Publish for KafkaPublisher {
    fn publish(&self, m: &Outgoing) -> bool {
        if !self.alive.load(Ordering::Acquire) {
            return false;
        }
        let payload: &[u8] = match m {
            Outgoing::Text(s) => s.as_bytes(),
            Outgoing::Binary(b) => b,
        };
        let mut tries = 0;
        loop {
            let record = BaseRecord::<(), [u8], ()>::to(&self.topic).payload(payload);
            match self.producer.send(record) {
                Ok(()) => return true,
                // librdkafka's queue is full: serve delivery reports a moment, once.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if tries == 0 =>
                {
                    tries += 1;
                    self.producer.poll(Duration::from_millis(100));
                }
                Err((e, _)) => {
                    log::warn!(target: "wsdial::kafka", "publish to {}: {e}", self.topic);
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The protocol alone (no driver) against tansu, installed by scripts/peers.
    use super::*;
    use std::process::{Child, Command, Stdio};

    struct Broker(Child, u16);

    impl Broker {
        fn start_on(port: u16) -> Broker {
            let tansu = concat!(env!("CARGO_MANIFEST_DIR"), "/.peers/bin/tansu");
            assert!(
                std::path::Path::new(tansu).exists(),
                "{tansu} is missing: run scripts/peers"
            );
            let url = format!("tcp://127.0.0.1:{port}");
            let child = Command::new(tansu)
                .args([
                    "broker",
                    "--listener-url",
                    &url,
                    "--advertised-listener-url",
                    &url,
                ])
                .args(["--storage-engine", "memory://tansu/", "--silent"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "tansu did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            Broker(child, port)
        }

        /// A topic of two partitions.
        fn topic(&self, name: &str) {
            self.topic_of(name, 2);
        }

        /// A topic of `partitions` partitions.
        fn topic_of(&self, name: &str, partitions: u32) {
            let tansu = concat!(env!("CARGO_MANIFEST_DIR"), "/.peers/bin/tansu");
            let url = format!("tcp://127.0.0.1:{}", self.1);
            let ok = Command::new(tansu)
                .args([
                    "topic",
                    "create",
                    name,
                    "--partitions",
                    &partitions.to_string(),
                    "--broker",
                    &url,
                ])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(ok.success());
        }
    }

    impl Drop for Broker {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    fn kafka(port: u16, topic: &str) -> Kafka {
        let a = KafkaAddress::parse(&format!("kafka://127.0.0.1:{port}/{topic}")).unwrap();
        Kafka::new(a, &Options::default())
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    /// The next message within 10 s, skipping empty polls.
    /// Another client publishes new-0..2 to `topic`; a new session of `k`
    /// reads exactly those.
    fn three_new_ones_are_read(port: u16, topic: &str, k: &mut Kafka) {
        let mut other = kafka(port, topic).connect(soon()).unwrap();
        let po = other.publisher().unwrap();
        for i in 0..3 {
            assert!(po.publish(&Outgoing::Text(format!("new-{i}"))));
        }
        other.close(soon());
        let mut s = k.connect(soon()).unwrap();
        let mut got: Vec<String> = (0..3)
            .map(|_| next(&mut s).as_text().unwrap().to_owned())
            .collect();
        got.sort();
        assert_eq!(got, ["new-0", "new-1", "new-2"]);
        s.close(soon());
    }

    /// One message, or none within `wait`.
    fn recv(s: &mut Box<dyn Session>, wait: Duration) -> Result<Option<Message>, Disconnect> {
        let mut one = Vec::with_capacity(1);
        s.recv_batch(wait, &mut one, 1)?;
        Ok(one.pop().map(|(m, _)| m))
    }

    fn next(s: &mut Box<dyn Session>) -> Message {
        let deadline = soon();
        loop {
            assert!(Instant::now() < deadline, "no message in 10 s");
            if let Some(m) = recv(s, Duration::from_millis(100)).unwrap() {
                return m;
            }
        }
    }

    #[test]
    fn connect_errors_say_auth_dns_or_tcp() {
        use RDKafkaErrorCode as C;
        let kind = |c, r| refusal(c, r).map(|(k, _)| k);
        assert_eq!(kind(C::Authentication, false), Some(ErrorKind::Auth));
        assert_eq!(
            kind(C::SaslAuthenticationFailed, false),
            Some(ErrorKind::Auth)
        );
        assert_eq!(kind(C::AllBrokersDown, true), Some(ErrorKind::Dns));
        assert_eq!(kind(C::AllBrokersDown, false), Some(ErrorKind::Tcp));
        assert_eq!(kind(C::Resolve, true), None, "waits for every broker");
        assert_eq!(kind(C::BrokerTransportFailure, false), None);
    }

    /// Records the session took but could not deliver are counted, not only
    /// logged: here the broker is gone before they are sent, and the session
    /// ends with them still queued in librdkafka.
    #[test]
    fn records_not_delivered_when_the_session_ends_are_counted() {
        let port = free_port();
        let broker = Broker::start_on(port);
        broker.topic("u");
        let mut s = kafka(port, "u").connect(soon()).unwrap();
        let p = s.publisher().unwrap();
        assert!(p.publish(&Outgoing::Text("delivered".into())));
        assert_eq!(next(&mut s).as_text(), Some("delivered"));
        assert_eq!(s.undelivered(false), 0, "a delivered record is not counted");
        drop(broker);
        for i in 0..5 {
            assert!(p.publish(&Outgoing::Text(format!("lost-{i}"))));
        }
        assert_eq!(s.undelivered(true), 5);
        assert!(
            !p.publish(&Outgoing::Text("after".into())),
            "the session is over"
        );
        assert_eq!(s.undelivered(true), 0, "each counted once");
    }

    #[test]
    fn session_publishes_reads_loses_and_resumes_on_a_new_topic() {
        let port = free_port();
        let broker = Broker::start_on(port);
        broker.topic("s");
        let mut k = kafka(port, "s");
        let mut s = k.connect(soon()).unwrap();
        let p = s.publisher().unwrap();
        assert!(p.publish(&Outgoing::Text("one".into())));
        assert!(p.publish(&Outgoing::Binary(vec![0xff, 0])));
        let (a, b) = (next(&mut s), next(&mut s));
        let mut got = [a.as_bytes().to_vec(), b.as_bytes().to_vec()];
        got.sort();
        assert_eq!(got, [b"one".to_vec(), vec![0xff, 0]]);
        assert_eq!(a.topic(), Some("s"));

        drop(broker);
        // Every broker gone: one Err, soon.
        let deadline = soon();
        let lost = loop {
            assert!(
                Instant::now() < deadline,
                "the loss was not reported in 10 s"
            );
            match recv(&mut s, Duration::from_millis(100)) {
                Ok(None) => {}
                Ok(Some(m)) => panic!("unexpected {m:?}"),
                Err(d) => break d,
            }
        };
        assert_eq!(lost.cause(), Cause::Io, "{lost:?}");
        s.close(Instant::now() + Duration::from_secs(1));
        assert!(
            !p.publish(&Outgoing::Text("late".into())),
            "a closed session's publisher refuses"
        );

        // Down: a connect fails fast and names the address.
        let t0 = Instant::now();
        let e = k.connect(soon()).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");

        // Back without the topic: refused by name; once it exists, read from
        // its start (offsets 0..3, though the old topic's next offset was 2).
        let broker = Broker::start_on(port);
        let e = k.connect(soon()).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Handshake, "{e}");
        assert!(e.to_string().contains("no topic `s`"), "{e}");
        broker.topic("s");
        three_new_ones_are_read(port, "s", &mut k);
    }

    /// `recv_batch` takes what librdkafka has fetched several at a time, at
    /// most `max`, in the partition's order, with each record's partition and
    /// offset; a session that ends after a batch resumes after its last record.
    #[test]
    fn recv_batch_takes_several_in_order_at_most_max() {
        let port = free_port();
        let broker = Broker::start_on(port);
        broker.topic_of("b", 1);
        let mut w = kafka(port, "b").connect(soon()).unwrap();
        let pw = w.publisher().unwrap();
        for i in 0..20 {
            assert!(pw.publish(&Outgoing::Text(format!("m-{i}"))));
        }
        w.close(soon());
        let a =
            KafkaAddress::parse(&format!("kafka://127.0.0.1:{port}/b?offset=earliest")).unwrap();
        let mut k = Kafka::new(a, &Options::default());
        let mut s = k.connect(soon()).unwrap();
        let deadline = soon();
        let (mut got, mut largest) = (Vec::new(), 0);
        while got.len() < 12 {
            assert!(Instant::now() < deadline, "only {} in 10 s", got.len());
            let mut batch = vec![(Message::text("before"), true)];
            s.recv_batch(Duration::from_millis(100), &mut batch, 5)
                .unwrap();
            assert_eq!(
                batch[0].0.as_text(),
                Some("before"),
                "appended, not replaced"
            );
            let n = batch.len() - 1;
            assert!(n <= 5, "{n} messages for max 5");
            largest = largest.max(n);
            got.extend(batch.drain(1..).map(|(m, high)| {
                assert!(!high);
                (m.as_text().unwrap().to_owned(), m.partition(), m.offset())
            }));
        }
        assert!(largest > 1, "one message per call: not batched");
        let want: Vec<_> = (0..got.len())
            .map(|i| (format!("m-{i}"), Some(0), Some(i as i64)))
            .collect();
        assert_eq!(got, want);
        // The position saved is after the last record taken. (One more
        // record, in a produce batch of its own: tansu 0.6's high watermark
        // is its last batch's base offset + 1, and a saved position past it
        // is read again from the start; see `assign`.)
        s.close(soon());
        let mut w = kafka(port, "b").connect(soon()).unwrap();
        assert!(w
            .publisher()
            .unwrap()
            .publish(&Outgoing::Text("late".into())));
        w.close(soon());
        let mut s = k.connect(soon()).unwrap();
        assert_eq!(next(&mut s).offset(), Some(got.len() as i64));
        s.close(soon());
    }

    /// The race tests/kafka.rs's restart test used to lose 1 run in 4: the
    /// broker comes back empty and a producer recreates the topic before the
    /// next connect, which so never sees it gone. Partition 0's saved
    /// position (3) is past the new partition's end: it is read from its start.
    #[test]
    fn a_topic_recreated_between_two_connects_is_read_from_its_start() {
        let port = free_port();
        let broker = Broker::start_on(port);
        broker.topic_of("r", 1);
        let mut k = kafka(port, "r");
        let mut s = k.connect(soon()).unwrap();
        let p = s.publisher().unwrap();
        // One partition: its next offset (8) is past the end of either new one.
        for i in 0..8 {
            assert!(p.publish(&Outgoing::Text(format!("old-{i}"))));
        }
        for _ in 0..8 {
            next(&mut s);
        }
        s.close(soon());
        drop(broker);

        let broker = Broker::start_on(port);
        broker.topic("r");
        three_new_ones_are_read(port, "r", &mut k);
    }
}
