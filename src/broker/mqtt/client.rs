//! The MQTT client: `rumqttc`'s blocking `Client` and `Connection`, polled
//! only by the broker driver's thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{
    Client, ConnectReturnCode, Connection, ConnectionError, Event, MqttOptions, Packet, QoS,
    RecvTimeoutError, SubscribeReasonCode, TlsConfiguration, Transport,
};

use super::{is_wildcard, parse, MqttAddress};
use crate::address::{Scheme, Target};
use crate::broker::{Protocol, Publish, Session};
use crate::error::{Error, ErrorKind};
use crate::message::{Cause, Disconnect, Message, Route};
use crate::options::Options;
use crate::seam;

/// The largest packet either way: MQTT's own limit (256 MB). What is kept
/// in memory is bounded by the inbox (`qsize`, `qbytes`), not by this.
const MAX_PACKET: usize = 268_435_455;

/// Requests (publishes) the program may queue ahead of the driver's thread.
const REQUESTS: usize = 1024;

/// How often the client pings an idle broker (and notices a dead one).
const KEEP_ALIVE: Duration = Duration::from_secs(30);

pub(super) fn protocol(target: &Target, options: &Options) -> Result<Box<dyn Protocol>, Error> {
    let scheme = target.scheme();
    let address = parse(scheme, target.url())?;
    let tls = match scheme {
        Scheme::Mqtts => Some(crate::transport::tls::connector(options)?),
        _ => None,
    };
    let client_id = address.client_id.clone().unwrap_or_else(fresh_client_id);
    Ok(Box::new(Mqtt {
        address,
        tls,
        client_id,
        url: target.masked_url(),
    }))
}

/// A client id of this process's own, when the address names none.
fn fresh_client_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "wsdial-{}-{}-{t:08x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

struct Mqtt {
    address: MqttAddress,
    tls: Option<native_tls::TlsConnector>,
    client_id: String,
    url: String,
}

fn qos(n: u8) -> QoS {
    match n {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

impl Mqtt {
    fn options(&self) -> MqttOptions {
        let a = &self.address;
        let mut o = MqttOptions::new(self.client_id.clone(), a.host.clone(), a.port);
        o.set_keep_alive(KEEP_ALIVE)
            .set_clean_session(true)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET)
            .set_request_channel_capacity(REQUESTS);
        if let Some(user) = &a.user {
            o.set_credentials(user.clone(), a.password.clone().unwrap_or_default());
        }
        if let Some(c) = &self.tls {
            o.set_transport(Transport::tls_with_config(
                TlsConfiguration::NativeConnector(c.clone()),
            ));
        }
        o
    }

    /// The error of a failed connect, typed.
    fn error(&self, e: ConnectionError) -> Error {
        let a = &self.address;
        let at = format!("{}:{}", a.host, a.port);
        match e {
            ConnectionError::ConnectionRefused(code) => {
                let why = match code {
                    ConnectReturnCode::BadUserNamePassword => "bad user name or password",
                    ConnectReturnCode::NotAuthorized => "not authorised",
                    ConnectReturnCode::BadClientId => "client id refused",
                    ConnectReturnCode::RefusedProtocolVersion => "MQTT 3.1.1 refused",
                    ConnectReturnCode::ServiceUnavailable => "service unavailable",
                    ConnectReturnCode::Success => "refused",
                };
                let kind = match code {
                    ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized => {
                        ErrorKind::Auth
                    }
                    _ => ErrorKind::Handshake,
                };
                Error::new(
                    kind,
                    format!("{at}: the MQTT broker refused to connect: {why}"),
                )
            }
            ConnectionError::Io(io) => {
                let kind = if io.kind() == std::io::ErrorKind::TimedOut {
                    ErrorKind::Tcp
                } else if io.to_string().contains("failed to lookup") {
                    ErrorKind::Dns
                } else {
                    ErrorKind::Tcp
                };
                Error::io(kind, format!("cannot connect to {at}"), io)
            }
            ConnectionError::Tls(t) => {
                Error::new(ErrorKind::Tls, format!("TLS with {at} failed: {t}"))
            }
            ConnectionError::NetworkTimeout => {
                Error::new(ErrorKind::Tcp, format!("{at}: no answer in time")).timed_out()
            }
            other => Error::new(ErrorKind::Io, format!("{at}: MQTT connect failed: {other}")),
        }
    }
}

impl Protocol for Mqtt {
    fn connect(&mut self, deadline: Instant) -> Result<Box<dyn Session>, Error> {
        let (client, mut conn) = Client::new(self.options(), REQUESTS);
        let a = &self.address;
        let timed_out = |what: &str| {
            Error::new(
                ErrorKind::Tcp,
                format!(
                    "{}:{}: no {what} from the MQTT broker in time",
                    a.host, a.port
                ),
            )
            .timed_out()
        };
        // The ConnAck: the first event rumqttc reports.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match conn.recv_timeout(left) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(self.error(e)),
                Err(RecvTimeoutError::Timeout) => return Err(timed_out("answer")),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::new(ErrorKind::Io, "the MQTT client stopped"))
                }
            }
        }
        // consume=false: no subscription, so nothing (not even this
        // connection's own publications) is ever delivered to it.
        if a.consume {
            client
                .subscribe(a.topic.clone(), qos(a.qos))
                .map_err(|e| Error::new(ErrorKind::Io, format!("cannot subscribe: {e}")))?;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match conn.recv_timeout(left) {
                    Ok(Ok(Event::Incoming(Packet::SubAck(ack)))) => {
                        if ack.return_codes.contains(&SubscribeReasonCode::Failure) {
                            return Err(Error::new(
                                ErrorKind::Auth,
                                format!(
                                    "{}:{}: the MQTT broker refused the subscription to `{}`",
                                    a.host, a.port, a.topic
                                ),
                            ));
                        }
                        break;
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(self.error(e)),
                    Err(RecvTimeoutError::Timeout) => return Err(timed_out("subscription answer")),
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(Error::new(ErrorKind::Io, "the MQTT client stopped"))
                    }
                }
            }
        }
        log::debug!(
            "{}: connected{}",
            self.url,
            if a.consume {
                ", subscribed"
            } else {
                ", publishing only"
            }
        );
        let publisher = (!is_wildcard(&a.topic)).then(|| {
            Arc::new(Publisher {
                client: client.clone(),
                topic: a.topic.clone(),
                qos: qos(a.qos),
            }) as Arc<dyn Publish>
        });
        Ok(Box::new(MqttSession {
            client,
            conn,
            publisher,
        }))
    }
}

struct MqttSession {
    client: Client,
    conn: Connection,
    publisher: Option<Arc<dyn Publish>>,
}

fn lost(e: ConnectionError) -> Disconnect {
    let cause = match &e {
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => Cause::Eof,
        ConnectionError::Io(_) => Cause::Io,
        ConnectionError::MqttState(rumqttc::StateError::Io(io))
            if io.kind() == std::io::ErrorKind::ConnectionAborted =>
        {
            Cause::Eof
        }
        ConnectionError::MqttState(rumqttc::StateError::AwaitPingResp) => Cause::PingTimeout,
        ConnectionError::MqttState(_) => Cause::Protocol,
        _ => Cause::Io,
    };
    Disconnect::new(cause, format!("MQTT connection lost: {e}"))
}

impl MqttSession {
    fn recv(&mut self, timeout: Duration) -> Result<Option<Message>, Disconnect> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.conn.recv_timeout(left) {
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    let route = Route {
                        topic: p.topic.into(),
                        partition: None,
                        offset: None,
                        key: None,
                    };
                    return Ok(Some(Message::routed(p.payload.to_vec(), route)));
                }
                Ok(Ok(Event::Incoming(Packet::Disconnect))) => {
                    return Err(Disconnect::new(
                        Cause::ClosedByPeer,
                        "the MQTT broker disconnected",
                    ))
                }
                // Acks, pings, what went out: nothing for the program.
                Ok(Ok(_)) => {}
                // rumqttc would reconnect on the next poll: the driver does it instead.
                Ok(Err(e)) => return Err(lost(e)),
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Disconnect::new(Cause::Io, "the MQTT client stopped"))
                }
            }
            if left.is_zero() {
                return Ok(None);
            }
        }
    }
}

impl Session for MqttSession {
    fn recv_batch(
        &mut self,
        timeout: Duration,
        batch: &mut Vec<(Message, bool)>,
        max: usize,
    ) -> Result<(), Disconnect> {
        super::super::one_by_one(timeout, batch, max, |wait| self.recv(wait))
    }

    fn publisher(&self) -> Option<Arc<dyn Publish>> {
        self.publisher.clone()
    }

    fn close(&mut self, deadline: Instant) {
        // The DISCONNECT queues behind the publications the program wrote;
        // with the request queue full it is asked again once polling (which
        // sends them) has made room. Polls until the broker closes the
        // connection after the DISCONNECT (it then drops the session without
        // publishing a will), or the deadline. Dropping the socket earlier,
        // with unread data in it (what the broker still sends this session's
        // subscription, such as a relay's own publications coming back),
        // makes the kernel reset the connection, and the broker then discards
        // what it had not yet read: the last publications.
        let mut asked = false;
        loop {
            asked = asked || self.client.try_disconnect().is_ok();
            let left = deadline.saturating_duration_since(Instant::now());
            match self.conn.recv_timeout(left) {
                Ok(Ok(_)) if !left.is_zero() => {}
                _ => return,
            }
        }
    }
}

struct Publisher {
    client: Client,
    topic: String,
    qos: QoS,
}

impl Publish for Publisher {
    fn publish(&self, m: &seam::Outgoing) -> bool {
        let payload = match m {
            seam::Outgoing::Text(t) => t.as_bytes().to_vec(),
            seam::Outgoing::Binary(b) => b.clone(),
        };
        // Never blocks the program's thread: with the client's request queue
        // full (a broker that stopped acknowledging QoS 1/2 messages), the
        // write is refused (0, counted as unsent) instead of waiting.
        self.client
            .try_publish(self.topic.as_str(), self.qos, false, payload)
            .is_ok()
    }
}
