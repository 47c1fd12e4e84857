//! The AMQP 0-9-1 client: `lapin` on the connection's own tokio runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::FieldTable;
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::{mpsc, oneshot};
use tungstenite::Bytes;

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

/// How to connect to one AMQP server; owns the runtime every session of
/// this connection runs on.
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("wsdial-amqp")
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

        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let (ch, queue) = (channel.clone(), a.queue.clone());
        let forward = self.runtime.spawn(async move {
            let publish = |m: Bytes| {
                let ch = ch.clone();
                let queue = queue.clone();
                async move {
                    ch.basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        &m,
                        BasicProperties::default(),
                    )
                    .await
                    .is_ok()
                }
            };
            loop {
                tokio::select! {
                    biased;
                    m = rx.recv() => match m {
                        Some(m) => if !publish(m).await { return },
                        None => return,
                    },
                    _ = &mut stop_rx => {
                        rx.close();
                        while let Ok(m) = rx.try_recv() {
                            if !publish(m).await { return }
                        }
                        return;
                    }
                }
            }
        });
        Ok(Box::new(AmqpSession {
            runtime: self.runtime.clone(),
            conn,
            channel,
            consumer,
            unacked: None,
            publisher: Arc::new(AmqpPublisher { tx }),
            forward: Some((stop_tx, forward)),
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

/// Publishes from any thread: into the channel that the session's
/// forwarding task (on the connection's runtime) empties in order.
struct AmqpPublisher {
    tx: mpsc::UnboundedSender<Bytes>,
}

impl Publish for AmqpPublisher {
    fn publish(&self, m: &Outgoing) -> bool {
        let payload = match m {
            Outgoing::Text(s) => Bytes::copy_from_slice(s.as_bytes()),
            Outgoing::Binary(b) => Bytes::copy_from_slice(b),
        };
        self.tx.send(payload).is_ok()
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
    forward: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

impl Session for AmqpSession {
    fn recv(&mut self, timeout: Duration) -> Result<Option<Message>, Disconnect> {
        let (channel, unacked) = (&self.channel, &mut self.unacked);
        let Some(consumer) = self.consumer.as_mut() else {
            // Write-only: nothing to receive; only watch the connection.
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
            return if lost {
                Err(Disconnect::new(
                    Cause::Eof,
                    "the AMQP server closed the connection",
                ))
            } else {
                Ok(None)
            };
        };
        let got = self.runtime.block_on(async {
            // The deliveries returned so far are in the inbox: acknowledge
            // them (all at once) when no delivery is waiting or enough are
            // pending.
            if let Some((tag, n)) = *unacked {
                if n < ACK_EVERY {
                    if let Some(d) = consumer.next().now_or_never() {
                        return Some(d);
                    }
                }
                let multiple = BasicAckOptions { multiple: true };
                if channel.basic_ack(tag, multiple).await.is_err() {
                    return Some(None);
                }
                *unacked = None;
            }
            tokio::time::timeout(timeout, consumer.next()).await.ok()
        });
        match got {
            None => Ok(None),
            Some(Some(Ok(d))) => {
                let n = self.unacked.map_or(0, |(_, n)| n);
                self.unacked = Some((d.delivery_tag, n + 1));
                Ok(Some(Message::routed(
                    d.data,
                    Route {
                        topic: d.routing_key.to_string().into(),
                        partition: None,
                        offset: None,
                        key: None,
                    },
                )))
            }
            Some(Some(Err(e))) => Err(Disconnect::new(
                Cause::Io,
                format!("AMQP connection lost: {e}"),
            )),
            Some(None) => Err(Disconnect::new(
                Cause::Eof,
                "the AMQP server closed the connection",
            )),
        }
    }

    fn publisher(&self) -> Option<Arc<dyn Publish>> {
        Some(self.publisher.clone())
    }

    fn close(&mut self, deadline: Instant) {
        let wait = deadline.saturating_duration_since(Instant::now());
        let forward = self.forward.take();
        let (conn, channel, unacked) = (&self.conn, &self.channel, self.unacked.take());
        self.runtime.block_on(async move {
            let _ = tokio::time::timeout(wait, async move {
                if let Some((stop, task)) = forward {
                    let _ = stop.send(());
                    let _ = task.await;
                }
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
