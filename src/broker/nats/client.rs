//! The NATS client: `async-nats` on the connection's own current-thread runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::{ConnectErrorKind, ConnectOptions, Event};
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tungstenite::Bytes;

use crate::clock::{Clock, Stamp};
use crate::error::{Error, ErrorKind};
use crate::message::{Cause, Disconnect, Message, Route};
use crate::options::Options;
use crate::seam::Outgoing;

use super::super::{Protocol, Publish, Session};
use super::NatsAddress;

/// The least room async-nats is given for the subscription's messages: its
/// own default. See [`subscription_capacity`].
const MIN_SUBSCRIPTION_CAPACITY: usize = 65_536;

/// The most tokio's channel takes (it panics above; `qsize` may be
/// `usize::MAX`). The channel allocates as it fills, not up front.
const MAX_SUBSCRIPTION_CAPACITY: usize = usize::MAX >> 3;

/// How many messages async-nats may hold for the subscription: `qsize`, and
/// at least [`MIN_SUBSCRIPTION_CAPACITY`].
///
/// That buffer is a hand-off, not a second inbox: async-nats's connection
/// task and the connection's thread take turns on one runtime, the task
/// parsing one read pass (at most 128 socket reads of 64 KiB, tokio's
/// budget) into it and the thread then moving all of it into the seam's
/// inbox, where drop-oldest, `qsize` and `qbytes` apply. It holds only what
/// one pass brought, whatever its capacity. A capacity below a pass would
/// make async-nats drop the newest of a burst (drop-newest, not the
/// documented drop-oldest) even when the program keeps up; `qsize` is the
/// count the program asked to be kept, so a pass of up to `qsize` messages,
/// or of 65,536 (a pass of messages of 128 bytes or more on the wire), is
/// never cut by the client.
fn subscription_capacity(qsize: usize) -> usize {
    qsize.clamp(MIN_SUBSCRIPTION_CAPACITY, MAX_SUBSCRIPTION_CAPACITY)
}

/// How often a `recv_batch` that waits looks at whether the connection was lost.
const LOST_CHECK: Duration = Duration::from_millis(50);

/// How to connect to one NATS server; owns the runtime every session of this
/// connection runs on.
pub(crate) struct Nats {
    address: NatsAddress,
    ca: Option<std::path::PathBuf>,
    insecure: bool,
    /// async-nats's buffer for the subscription: [`subscription_capacity`].
    capacity: usize,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Nats {
    pub(crate) fn new(address: NatsAddress, options: &Options) -> Result<Nats, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io(ErrorKind::Io, "starting the NATS client's runtime", e))?;
        Ok(Nats {
            address,
            ca: options.ca.clone(),
            insecure: options.insecure,
            capacity: subscription_capacity(options.qsize),
            runtime: Arc::new(runtime),
        })
    }

    fn connect_options(
        &self,
        wait: Duration,
        lost: Arc<AtomicBool>,
    ) -> Result<ConnectOptions, Error> {
        let mut o = ConnectOptions::new()
            .connection_timeout(wait.max(Duration::from_millis(1)))
            .subscription_capacity(self.capacity)
            // The driver reconnects (with the shared backoff and one
            // Disconnected per lost connection); async-nats must not
            // reconnect behind its back. Its attempt 1 is the first connect
            // (no wait); a later one waits a day, by when the session that
            // lost its connection is long gone.
            .reconnect_delay_callback(|attempt| {
                if attempt <= 1 {
                    Duration::ZERO
                } else {
                    Duration::from_secs(24 * 3600)
                }
            })
            .event_callback(move |event| {
                let lost = lost.clone();
                // A slow consumer's drops are counted from the client's
                // statistics (see `Drops`): its events are not reliable
                // (async-nats drops them too when they come faster than this
                // runtime runs the task that delivers them).
                async move {
                    if matches!(event, Event::Disconnected | Event::Closed) {
                        lost.store(true, Ordering::Release);
                    }
                }
            });
        if let Some(user) = &self.address.user {
            o = o.user_and_password(user.clone(), self.address.pass.clone().unwrap_or_default());
        }
        if let Some(ca) = &self.ca {
            o = o.add_root_certificates(ca.clone()).require_tls(true);
        }
        if self.insecure {
            o = o.tls_client_config(insecure::config()).require_tls(true);
        }
        Ok(o)
    }
}

impl Protocol for Nats {
    fn connect(&mut self, deadline: Instant) -> Result<Box<dyn Session>, Error> {
        let wait = deadline.saturating_duration_since(Instant::now());
        let lost = Arc::new(AtomicBool::new(false));
        let options = self.connect_options(wait, lost.clone())?;
        let a = self.address.clone();
        let server = format!("nats://{}:{}", bracket(&a.host), a.port);
        let attempt = async {
            let client = options
                .connect(server.as_str())
                .await
                .map_err(|e| connect_error(&server, e))?;
            // consume=false: no subscription, so nothing (not even this
            // connection's own publications) is ever delivered to it.
            let sub = match &a.queue {
                _ if !a.consume => None,
                Some(q) => Some(client.queue_subscribe(a.subject.clone(), q.clone()).await),
                None => Some(client.subscribe(a.subject.clone()).await),
            }
            .transpose()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("{server}: subscribing to `{}`: {e}", a.subject),
                )
            })?;
            // A round trip, so that the subscription is in place at the
            // server when the dial returns (a message published right after
            // is received) and a refused subscription shows now.
            client.flush().await.map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("{server}: subscribing to `{}`: {e}", a.subject),
                )
            })?;
            Ok::<_, Error>((client, sub))
        };
        let (client, sub) = self
            .runtime
            .block_on(async { tokio::time::timeout(wait, attempt).await })
            .map_err(|_| {
                Error::new(
                    ErrorKind::Tcp,
                    format!("{server}: no NATS connection within {wait:?}"),
                )
                .timed_out()
            })??;
        let publisher: Option<Arc<dyn Publish>> = if a.is_wildcard() {
            None
        } else {
            let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
            let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
            let publisher = client.clone();
            let subject = a.subject.clone();
            let forward = self.runtime.spawn(async move {
                loop {
                    tokio::select! {
                        biased;
                        m = rx.recv() => match m {
                            Some(m) => {
                                if publisher.publish(subject.clone(), m).await.is_err() {
                                    return;
                                }
                            }
                            None => break,
                        },
                        _ = &mut stop_rx => {
                            rx.close();
                            while let Ok(m) = rx.try_recv() {
                                if publisher.publish(subject.clone(), m).await.is_err() {
                                    return;
                                }
                            }
                            break;
                        }
                    }
                }
                let _ = publisher.flush().await;
            });
            return Ok(Box::new(NatsSession {
                runtime: self.runtime.clone(),
                client,
                sub,
                lost,
                drops: Drops::default(),
                clock: Clock::new(),
                publisher: Some(Arc::new(NatsPublisher { tx })),
                forward: Some((stop_tx, forward)),
            }));
        };
        Ok(Box::new(NatsSession {
            runtime: self.runtime.clone(),
            client,
            sub,
            lost,
            drops: Drops::default(),
            clock: Clock::new(),
            publisher,
            forward: None,
        }))
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn connect_error(server: &str, e: async_nats::ConnectError) -> Error {
    let kind = match e.kind() {
        ConnectErrorKind::AuthorizationViolation | ConnectErrorKind::Authentication => {
            ErrorKind::Auth
        }
        ConnectErrorKind::Dns => ErrorKind::Dns,
        ConnectErrorKind::Tls => ErrorKind::Tls,
        ConnectErrorKind::ServerParse => ErrorKind::Address,
        ConnectErrorKind::TimedOut | ConnectErrorKind::Io | ConnectErrorKind::MaxReconnects => {
            ErrorKind::Tcp
        }
    };
    // A refused certificate comes as an I/O error from async-nats.
    let text = e.to_string();
    let kind = match kind {
        ErrorKind::Tcp | ErrorKind::Io
            if text.contains("certificate") || text.contains("TLS") || text.contains("tls") =>
        {
            ErrorKind::Tls
        }
        k => k,
    };
    let mut err = Error::new(kind, format!("{server}: {text}"));
    if e.kind() == ConnectErrorKind::TimedOut {
        err = err.timed_out();
    }
    err
}

/// Counts the messages async-nats dropped for the subscription (its buffer
/// was full: a slow consumer), from its count of the messages that arrived
/// (`Statistics::in_messages`; the connection has this one subscription)
/// and the count of those taken from the subscription. Async-nats runs only
/// inside this session's `block_on`, on the connection's thread, so when
/// the last look found its buffer empty every arrival was either taken or
/// dropped: the difference is exact then, and only then is it reported.
#[derive(Debug, Default)]
struct Drops {
    taken: u64,
    /// Whether the buffer was empty when `recv_batch` last returned.
    empty: bool,
    reported: u64,
}

impl Drops {
    fn taken(&mut self, n: u64, empty: bool) {
        self.taken += n;
        self.empty = empty;
    }

    /// Drops not reported yet, given the count of arrivals.
    fn new_since_last(&mut self, arrived: u64) -> u64 {
        if !self.empty {
            return 0;
        }
        let dropped = arrived.saturating_sub(self.taken);
        let new = dropped.saturating_sub(self.reported);
        self.reported = self.reported.max(dropped);
        new
    }
}

/// A message as the seam holds it, received at `rx`: the payload's `Bytes`
/// kept, not copied, and the subject's buffer (async-nats's own copy, not
/// shared) made the topic `String` without a copy.
fn message(m: async_nats::Message, rx: Stamp) -> Message {
    Message::routed_bytes(
        m.payload,
        Route {
            topic: m.subject.into_string().into(),
            partition: None,
            offset: None,
            key: None,
        },
        rx,
    )
}

/// Publishes from any thread: into the channel that the session's
/// forwarding task (on the connection's runtime) empties in order.
struct NatsPublisher {
    tx: mpsc::UnboundedSender<Bytes>,
}

impl Publish for NatsPublisher {
    fn publish(&self, m: &Outgoing) -> bool {
        let payload = match m {
            Outgoing::Text(s) => Bytes::copy_from_slice(s.as_bytes()),
            Outgoing::Binary(b) => Bytes::copy_from_slice(b),
        };
        self.tx.send(payload).is_ok()
    }
}

/// One live NATS connection and its subscription.
struct NatsSession {
    runtime: Arc<tokio::runtime::Runtime>,
    client: async_nats::Client,
    /// `Some` but with `consume=false` and in `drop` (dropping it spawns its
    /// unsubscribe onto the current runtime, so it is dropped inside this one's).
    sub: Option<async_nats::Subscriber>,
    lost: Arc<AtomicBool>,
    /// What async-nats dropped, as far as this session knows.
    drops: Drops,
    /// The receive times: one monotonic clock read per batch taken.
    clock: Clock,
    publisher: Option<Arc<dyn Publish>>,
    forward: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

impl Session for NatsSession {
    fn dropped(&mut self) -> u64 {
        let arrived = self.client.statistics().in_messages.load(Ordering::Relaxed);
        self.drops.new_since_last(arrived)
    }

    /// One entry into the runtime for the whole batch: what async-nats has
    /// buffered is taken without waiting (no timer, no clock read); only
    /// when it has nothing does this wait, and that wait lets the runtime
    /// run async-nats's connection task, which reads the socket.
    fn recv_batch(
        &mut self,
        timeout: Duration,
        batch: &mut Vec<(Message, bool)>,
        max: usize,
    ) -> Result<(), Disconnect> {
        let (Some(sub), lost, client, clock) =
            (self.sub.as_mut(), &self.lost, &self.client, &self.clock)
        else {
            return self.publishing_only(timeout);
        };
        let first = batch.len();
        let mut empty = false;
        let up = self.runtime.block_on(async {
            let mut deadline = None;
            loop {
                // Messages that arrived before the connection was lost are
                // delivered first.
                empty = false;
                // What is taken now without waiting shares one receive
                // time (a clock read per batch, not per message).
                let rx = clock.now();
                while batch.len() - first < max {
                    match sub.next().now_or_never() {
                        Some(Some(m)) => batch.push((message(m, rx), false)),
                        Some(None) => return false,
                        None => {
                            empty = true;
                            break;
                        }
                    }
                }
                if batch.len() > first {
                    return true;
                }
                // The event is the prompt signal, the client's state the
                // reliable one: async-nats drops events it cannot queue
                // (a 128-slot channel, full during a slow-consumer flood),
                // but its state is a watch that always holds the latest.
                if lost.load(Ordering::Acquire)
                    || client.connection_state() == async_nats::connection::State::Disconnected
                {
                    return false;
                }
                let now = tokio::time::Instant::now();
                let deadline = *deadline.get_or_insert(now + timeout);
                if now >= deadline {
                    return true;
                }
                // The event callback that marks a lost connection runs on
                // this runtime; waking every 50 ms bounds how late it is seen.
                let step = (deadline - now).min(LOST_CHECK);
                match tokio::time::timeout(step, sub.next()).await {
                    Ok(Some(m)) => batch.push((message(m, clock.now()), false)),
                    Ok(None) => return false,
                    Err(_) => {}
                }
            }
        });
        self.drops.taken((batch.len() - first) as u64, empty);
        if up {
            Ok(())
        } else {
            Err(Disconnect::new(
                Cause::Eof,
                "the connection to the NATS server was lost",
            ))
        }
    }

    fn publisher(&self) -> Option<Arc<dyn Publish>> {
        self.publisher.clone()
    }

    fn close(&mut self, deadline: Instant) {
        let wait = deadline.saturating_duration_since(Instant::now());
        let forward = self.forward.take();
        let client = self.client.clone();
        self.runtime.block_on(async move {
            let _ = tokio::time::timeout(wait, async move {
                if let Some((stop, task)) = forward {
                    let _ = stop.send(());
                    let _ = task.await;
                }
                let _ = client.flush().await;
            })
            .await;
        });
    }
}

impl NatsSession {
    /// `recv_batch` of a connection with `consume=false`: nothing to read;
    /// waits `timeout` (on the runtime, which keeps the client's connection
    /// task running) while watching for a lost connection.
    fn publishing_only(&mut self, timeout: Duration) -> Result<(), Disconnect> {
        let (lost, client) = (&self.lost, &self.client);
        let up = self.runtime.block_on(async {
            let until = tokio::time::Instant::now() + timeout;
            loop {
                if lost.load(Ordering::Acquire)
                    || client.connection_state() == async_nats::connection::State::Disconnected
                {
                    return false;
                }
                let now = tokio::time::Instant::now();
                if now >= until {
                    return true;
                }
                tokio::time::sleep((until - now).min(LOST_CHECK)).await;
            }
        });
        if up {
            Ok(())
        } else {
            Err(Disconnect::new(
                Cause::Eof,
                "the connection to the NATS server was lost",
            ))
        }
    }
}

impl Drop for NatsSession {
    fn drop(&mut self) {
        let _inside = self.runtime.enter();
        self.sub.take();
        if let Some((_, task)) = self.forward.take() {
            task.abort();
        }
    }
}

/// `insecure=true`: a TLS configuration that accepts any server certificate.
mod insecure {
    use std::sync::Arc;

    use async_nats::rustls::client::danger::{
        HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
    };
    use async_nats::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use async_nats::rustls::{self, ClientConfig, DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    pub(super) fn config() -> ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth()
    }
}

#[cfg(test)]
mod tests {
    use super::{subscription_capacity, Drops};

    #[test]
    fn the_subscription_capacity_is_qsize_at_least_the_clients_default() {
        assert_eq!(subscription_capacity(1), 65_536);
        assert_eq!(subscription_capacity(2000), 65_536);
        assert_eq!(subscription_capacity(200_000), 200_000);
        // tokio's channel panics above usize::MAX >> 3.
        assert_eq!(subscription_capacity(usize::MAX), usize::MAX >> 3);
        let _ = tokio::sync::mpsc::channel::<()>(subscription_capacity(usize::MAX));
    }

    #[test]
    fn drops_are_arrivals_not_taken_reported_once_and_only_when_the_buffer_was_empty() {
        let mut d = Drops::default();
        // 10 arrived, 4 taken, the buffer not empty yet: the other 6 may
        // still be in it, so nothing is reported.
        d.taken(4, false);
        assert_eq!(d.new_since_last(10), 0);
        // 3 more taken and the buffer empty: the 3 missing were dropped.
        d.taken(3, true);
        assert_eq!(d.new_since_last(10), 3);
        assert_eq!(d.new_since_last(10), 0, "reported once");
        // 5 more arrived, all taken: no new drops.
        d.taken(5, true);
        assert_eq!(d.new_since_last(15), 0);
        // 20 more arrived, 8 taken, then empty: 12 new drops.
        d.taken(8, true);
        assert_eq!(d.new_since_last(35), 12);
    }
}
