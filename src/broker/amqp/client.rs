//! The AMQP 0-9-1 client: `lapin` on the connection's own current-thread runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::{FieldTable, ShortString};
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use crate::error::{Error, ErrorKind};
use crate::message::{Cause, Disconnect, Message, Route};
use crate::options::Options;
use crate::seam::Outgoing;

use super::super::{Protocol, Publish, Session};
use super::AmqpAddress;

/// Unacknowledged deliveries the server may send ahead (basic.qos): bounds
/// what the client holds besides the seam's inbox.
const PREFETCH: u16 = 1000;
/// Deliveries acknowledged at most this many at a time (one `multiple` ack).
const ACK_EVERY: u32 = 64;
/// Fewer than [`ACK_EVERY`] pending deliveries are acknowledged once no
/// delivery has come for this long.
const ACK_QUIET: Duration = Duration::from_millis(2);

/// How to connect to one AMQP server; owns the runtime every session of
/// this connection runs on. A current-thread runtime, driven by whoever reads
/// the session (`block_on` in `recv_batch`; the connection's thread also in
/// `connect` and `close`): its reactor sees lapin's socket become readable on
/// the thread that then takes the deliveries, so a delivery wakes two threads
/// (lapin's I/O thread, then the reader), not three (a worker thread's
/// reactor first).
pub(crate) struct Amqp {
    address: AmqpAddress,
    ca: Option<String>,
    /// `insecure=true`: the server's certificate is not checked (tests only).
    insecure: bool,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Amqp {
    pub(crate) fn new(address: AmqpAddress, options: &Options) -> Result<Amqp, Error> {
        let ca = match &options.ca {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                Error::io(
                    ErrorKind::Address,
                    format!("reading ca={}", path.display()),
                    e,
                )
                .for_key("ca")
            })?),
            None => None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io(ErrorKind::Io, "starting the AMQP client's runtime", e))?;
        Ok(Amqp {
            insecure: options.insecure && address.tls,
            address,
            ca,
            runtime: Arc::new(runtime),
        })
    }

    fn uri(&self) -> AMQPUri {
        let a = &self.address;
        AMQPUri {
            scheme: if a.tls {
                AMQPScheme::AMQPS
            } else {
                AMQPScheme::AMQP
            },
            authority: AMQPAuthority {
                userinfo: AMQPUserInfo {
                    username: a.user.clone(),
                    password: a.pass.clone(),
                },
                host: a.host.clone(),
                port: a.port,
            },
            vhost: a.vhost.clone(),
            query: AMQPQueryString::default(),
        }
    }
}

impl Protocol for Amqp {
    fn connect(&mut self, deadline: Instant) -> Result<Box<dyn Session>, Error> {
        let wait = deadline.saturating_duration_since(Instant::now());
        let a = self.address.clone();
        let server = format!(
            "{}://{}:{}",
            if a.tls { "amqps" } else { "amqp" },
            a.host,
            a.port
        );
        let uri = self.uri();
        let tls = OwnedTLSConfig {
            identity: None,
            cert_chain: self.ca.clone(),
        };
        let insecure = self.insecure;
        let attempt = async {
            let runtime = lapin::runtime::default_runtime()
                .map_err(|e| amqp_error(&server, "connecting", e))?;
            let conn = if insecure {
                // TLS over lapin's TCP connection without checking the
                // server's certificate or name (native-tls, as the other
                // schemes' `insecure`).
                use lapin::tcp::{AMQPUriTcpExt, TLSConfig};
                let mut plain = uri.clone();
                plain.scheme = AMQPScheme::AMQP;
                let host = uri.authority.host.clone();
                Connection::connector(
                    uri,
                    runtime,
                    async move |_, rt| {
                        let tcp = plain
                            .connect_with_config_async(TLSConfig::default(), &rt)
                            .await?;
                        let mut tls = native_tls::TlsConnector::builder();
                        tls.danger_accept_invalid_certs(true)
                            .danger_accept_invalid_hostnames(true);
                        Ok(tcp.into_native_tls(tls, &host).await?)
                    },
                    ConnectionProperties::default(),
                )
                .await
            } else {
                Connection::connect_uri_with_config(
                    uri,
                    ConnectionProperties::default(),
                    tls,
                    runtime,
                )
                .await
            }
            .map_err(|e| amqp_error(&server, "connecting", e))?;
            let channel = conn
                .create_channel()
                .await
                .map_err(|e| amqp_error(&server, "opening a channel", e))?;
            let declare = QueueDeclareOptions {
                durable: a.durable,
                ..QueueDeclareOptions::default()
            };
            channel
                .queue_declare(a.queue.as_str().into(), declare, FieldTable::default())
                .await
                .map_err(|e| amqp_error(&server, &format!("declaring queue `{}`", a.queue), e))?;
            let consumer = if a.consume {
                channel
                    .basic_qos(PREFETCH, BasicQosOptions::default())
                    .await
                    .map_err(|e| amqp_error(&server, "setting the prefetch", e))?;
                let consumer = channel
                    .basic_consume(
                        a.queue.as_str().into(),
                        "".into(),
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                    .map_err(|e| {
                        amqp_error(&server, &format!("consuming queue `{}`", a.queue), e)
                    })?;
                Some(consumer)
            } else {
                None
            };
            Ok::<_, Error>((conn, channel, consumer))
        };
        let (conn, channel, consumer) = self
            .runtime
            .block_on(async { tokio::time::timeout(wait, attempt).await })
            .map_err(|_| {
                Error::new(
                    ErrorKind::Tcp,
                    format!("{server}: no AMQP connection within {wait:?}"),
                )
                .timed_out()
            })??;

        Ok(Box::new(AmqpSession {
            runtime: self.runtime.clone(),
            conn,
            channel: channel.clone(),
            consumer,
            unacked: None,
            publisher: Arc::new(AmqpPublisher {
                channel,
                queue: a.queue.as_str().into(),
            }),
        }))
    }
}

/// An `lapin::Error` as this crate's: refused credentials are `Auth`, a
/// failed TCP connection `Tcp`, a TLS failure `Tls`, the rest `Io`.
fn amqp_error(server: &str, what: &str, e: lapin::Error) -> Error {
    use lapin::ErrorKind as K;
    let text = e.to_string();
    let kind = match e.kind() {
        K::ProtocolError(p) if p.get_id() == 403 => ErrorKind::Auth,
        K::IOError(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::TimedOut
            ) =>
        {
            ErrorKind::Tcp
        }
        _ if text.contains("ACCESS_REFUSED") || text.contains("authentication") => ErrorKind::Auth,
        _ if text.to_ascii_lowercase().contains("tls") || text.contains("certificate") => {
            ErrorKind::Tls
        }
        _ => ErrorKind::Io,
    };
    Error::new(kind, format!("{server}: {what}: {text}"))
}

/// Publishes from any thread, inside a program's tokio runtime too, without
/// waiting and without the connection's runtime: lapin puts a publish's
/// frames on its outgoing queue, in order, in the first poll of
/// `basic_publish`, and its own I/O thread writes them. Only the promise that
/// they were written is left pending, and it is not needed (no publisher
/// confirms), so it is dropped.
struct AmqpPublisher {
    channel: Channel,
    queue: ShortString,
}

impl Publish for AmqpPublisher {
    fn publish(&self, m: &Outgoing) -> bool {
        let payload = match m {
            Outgoing::Text(s) => s.as_bytes(),
            Outgoing::Binary(b) => b,
        };
        let queued = self
            .channel
            .basic_publish(
                "".into(),
                self.queue.clone(),
                BasicPublishOptions::default(),
                payload,
                BasicProperties::default(),
            )
            .now_or_never();
        !matches!(queued, Some(Err(_)))
    }
}

/// One live AMQP connection, its channel and its consumer.
struct AmqpSession {
    runtime: Arc<tokio::runtime::Runtime>,
    conn: Connection,
    channel: Channel,
    /// None with `consume=false`.
    consumer: Option<lapin::Consumer>,
    /// The newest delivery tag not yet acknowledged, and how many are pending.
    unacked: Option<(u64, u32)>,
    publisher: Arc<AmqpPublisher>,
}

impl AmqpSession {
    /// Write-only (`consume=false`): nothing to receive; only watch the
    /// connection for `timeout`.
    fn watch(&mut self, timeout: Duration) -> Result<(), Disconnect> {
        let conn = &self.conn;
        let lost = self.runtime.block_on(async {
            let until = tokio::time::Instant::now() + timeout;
            loop {
                if !conn.status().connected() {
                    return true;
                }
                let now = tokio::time::Instant::now();
                if now >= until {
                    return false;
                }
                tokio::time::sleep((until - now).min(Duration::from_millis(50))).await;
            }
        });
        if lost {
            Err(closed_by_server())
        } else {
            Ok(())
        }
    }
}

/// Acknowledges the pending deliveries, if any, with one `multiple` ack;
/// false when the channel is gone. Like a publish, it is queued for lapin's
/// I/O thread without waiting for it to be written.
fn ack(channel: &Channel, unacked: &mut Option<(u64, u32)>) -> bool {
    let Some((tag, _)) = unacked.take() else {
        return true;
    };
    let sent = channel
        .basic_ack(tag, BasicAckOptions { multiple: true })
        .now_or_never();
    !matches!(sent, Some(Err(_)))
}

/// What the consumer gave: the next item of its stream.
type Item = Option<lapin::Result<lapin::message::Delivery>>;

/// Waits up to `timeout` for the consumer's next item (`None` when none
/// came). A delivery often follows within microseconds, so the pending
/// deliveries are acknowledged once the queue has been quiet for
/// [`ACK_QUIET`], not at every pause.
async fn wait_quietly(
    consumer: &mut lapin::Consumer,
    channel: &Channel,
    unacked: &mut Option<(u64, u32)>,
    timeout: Duration,
) -> Result<Option<Item>, Disconnect> {
    let quiet = timeout.min(ACK_QUIET);
    if let Ok(item) = tokio::time::timeout(quiet, consumer.next()).await {
        return Ok(Some(item));
    }
    if !ack(channel, unacked) {
        return Err(closed_by_server());
    }
    Ok(tokio::time::timeout(timeout - quiet, consumer.next())
        .await
        .ok())
}

/// A delivery, or the loss the consumer's item means.
fn delivered(item: Item) -> Result<lapin::message::Delivery, Disconnect> {
    match item {
        Some(Ok(d)) => Ok(d),
        Some(Err(e)) => Err(Disconnect::new(
            Cause::Io,
            format!("AMQP connection lost: {e}"),
        )),
        None => Err(closed_by_server()),
    }
}

fn closed_by_server() -> Disconnect {
    Disconnect::new(Cause::Eof, "the AMQP server closed the connection")
}

fn message(d: lapin::message::Delivery) -> Message {
    Message::routed(
        d.data,
        Route {
            topic: d.routing_key.to_string().into(),
            partition: None,
            offset: None,
            key: None,
        },
    )
}

impl Session for AmqpSession {
    /// One entry into the runtime for the whole batch. The deliveries of
    /// earlier calls are in the inbox by now: they are acknowledged (one
    /// `multiple` ack) once [`ACK_EVERY`] are pending, or once this has waited
    /// [`ACK_QUIET`] for more. Those of this batch are not, until the next
    /// call.
    fn recv_batch(
        &mut self,
        timeout: Duration,
        batch: &mut Vec<(Message, bool)>,
        max: usize,
    ) -> Result<(), Disconnect> {
        let (channel, unacked) = (&self.channel, &mut self.unacked);
        let Some(consumer) = self.consumer.as_mut() else {
            return self.watch(timeout);
        };
        let first = batch.len();
        let mut newest = None;
        let lost = self.runtime.block_on(async {
            if unacked.is_some_and(|(_, n)| n >= ACK_EVERY) && !ack(channel, unacked) {
                return Some(closed_by_server());
            }
            while batch.len() - first < max {
                let item = match consumer.next().now_or_never() {
                    Some(item) => item,
                    None if batch.len() > first => return None,
                    None => match wait_quietly(consumer, channel, unacked, timeout).await {
                        Ok(Some(item)) => item,
                        Ok(None) => return None,
                        Err(d) => return Some(d),
                    },
                };
                match delivered(item) {
                    Ok(d) => {
                        newest = Some(d.delivery_tag);
                        batch.push((message(d), false));
                    }
                    Err(d) => return Some(d),
                }
            }
            None
        });
        if let Some(tag) = newest {
            // Acknowledged later with those before it (`multiple`).
            let n = (batch.len() - first) as u32 + self.unacked.map_or(0, |(_, n)| n);
            self.unacked = Some((tag, n));
        }
        match lost {
            Some(d) => Err(d),
            None => Ok(()),
        }
    }

    /// The program's thread drives the runtime while it reads, as the
    /// connection's thread does: its reactor then wakes the thread that takes
    /// the deliveries. Not from inside a program's tokio runtime (a
    /// `block_on` there panics). A connection that only publishes
    /// (`consume=false`) has nothing to read.
    fn program_readers(&self) -> Option<fn() -> bool> {
        fn outside_tokio() -> bool {
            tokio::runtime::Handle::try_current().is_err()
        }
        self.consumer
            .is_some()
            .then_some(outside_tokio as fn() -> bool)
    }

    fn publisher(&self) -> Option<Arc<dyn Publish>> {
        Some(self.publisher.clone())
    }

    fn close(&mut self, deadline: Instant) {
        let wait = deadline.saturating_duration_since(Instant::now());
        let (conn, channel, unacked) = (&self.conn, &self.channel, self.unacked.take());
        // What was published before is on lapin's queue ahead of the close.
        self.runtime.block_on(async move {
            let _ = tokio::time::timeout(wait, async move {
                if let Some((tag, _)) = unacked {
                    let _ = channel
                        .basic_ack(tag, BasicAckOptions { multiple: true })
                        .await;
                }
                let _ = channel.close(200, "bye".into()).await;
                let _ = conn.close(200, "bye".into()).await;
            })
            .await;
        });
    }
}
