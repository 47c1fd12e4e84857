//! The NATS client: `async-nats` on the connection's own current-thread runtime.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::{ConnectErrorKind, ConnectOptions, Event};
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tungstenite::Bytes;

use crate::error::{Error, ErrorKind};
use crate::message::{Cause, Disconnect, Message, Route};
use crate::options::Options;
use crate::seam::Outgoing;

use super::super::{Protocol, Publish, Session};
use super::NatsAddress;

/// How many messages async-nats may hold for the subscription before the
/// connection's thread moves them into the seam's inbox (where drop-oldest
/// and the counters apply); beyond it the client drops and reports a slow
/// consumer, which only a connection thread that cannot keep up would see.
const SUBSCRIPTION_CAPACITY: usize = 8192;

/// How to connect to one NATS server; owns the runtime every session of this
/// connection runs on.
pub(crate) struct Nats {
    address: NatsAddress,
    ca: Option<std::path::PathBuf>,
    insecure: bool,
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
            runtime: Arc::new(runtime),
        })
    }

    fn connect_options(
        &self,
        wait: Duration,
        lost: Arc<AtomicBool>,
        dropped: Arc<AtomicU64>,
    ) -> Result<ConnectOptions, Error> {
        let mut o = ConnectOptions::new()
            .connection_timeout(wait.max(Duration::from_millis(1)))
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
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
                let dropped = dropped.clone();
                async move {
                    match event {
                        Event::Disconnected | Event::Closed => lost.store(true, Ordering::Release),
                        // async-nats dropped a message because the
                        // subscription's buffer was full (one event per
                        // message): counted with the inbox's drops.
                        Event::SlowConsumer(_) => {
                            dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
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
        let dropped = Arc::new(AtomicU64::new(0));
        let options = self.connect_options(wait, lost.clone(), dropped.clone())?;
        let a = self.address.clone();
        let server = format!("nats://{}:{}", bracket(&a.host), a.port);
        let attempt = async {
            let client = options
                .connect(server.as_str())
                .await
                .map_err(|e| connect_error(&server, e))?;
            let sub = match &a.queue {
                Some(q) => client.queue_subscribe(a.subject.clone(), q.clone()).await,
                None => client.subscribe(a.subject.clone()).await,
            }
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
                sub: Some(sub),
                lost,
                dropped,
                publisher: Some(Arc::new(NatsPublisher { tx })),
                forward: Some((stop_tx, forward)),
            }));
        };
        Ok(Box::new(NatsSession {
            runtime: self.runtime.clone(),
            client,
            sub: Some(sub),
            lost,
            dropped,
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

/// One live NATS connection and its subscription.
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

struct NatsSession {
    runtime: Arc<tokio::runtime::Runtime>,
    client: async_nats::Client,
    /// Always `Some` but in `drop` (dropping it spawns its unsubscribe
    /// onto the current runtime, so it is dropped inside this one's).
    sub: Option<async_nats::Subscriber>,
    lost: Arc<AtomicBool>,
    /// Messages async-nats dropped (its slow-consumer events), not yet reported.
    dropped: Arc<AtomicU64>,
    publisher: Option<Arc<dyn Publish>>,
    forward: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

impl Session for NatsSession {
    fn dropped(&mut self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }

    fn recv(&mut self, timeout: Duration) -> Result<Option<Message>, Disconnect> {
        let (Some(sub), lost) = (self.sub.as_mut(), &self.lost) else {
            return Err(Disconnect::new(Cause::Eof, "the NATS subscription is gone"));
        };
        enum Got {
            Message(async_nats::Message),
            Nothing,
            Lost,
        }
        let got = self.runtime.block_on(async {
            let next = sub.next();
            tokio::pin!(next);
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                // Messages that arrived before the connection was lost are
                // delivered first.
                if let Some(m) = futures_util::FutureExt::now_or_never(&mut next) {
                    return m.map_or(Got::Lost, Got::Message);
                }
                if lost.load(Ordering::Acquire) {
                    return Got::Lost;
                }
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return Got::Nothing;
                }
                // The event callback that marks a lost connection runs on
                // this runtime; waking every 50 ms bounds how late it is seen.
                let step = (deadline - now).min(Duration::from_millis(50));
                if let Ok(m) = tokio::time::timeout(step, &mut next).await {
                    return m.map_or(Got::Lost, Got::Message);
                }
            }
        });
        match got {
            Got::Message(m) => Ok(Some(Message::routed(
                m.payload.to_vec(),
                Route {
                    topic: m.subject.to_string(),
                    partition: None,
                    offset: None,
                    key: None,
                },
            ))),
            Got::Nothing => Ok(None),
            Got::Lost => Err(Disconnect::new(
                Cause::Eof,
                "the connection to the NATS server was lost",
            )),
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
