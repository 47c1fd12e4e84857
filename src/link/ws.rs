//! The WebSocket link: tungstenite over a [`Stream`], handshake included.
//! With `enableCompression`, tungstenite reads through [`Inflating`], and the
//! link compresses what it sends (see [`pmd`](super::pmd)).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant, SystemTime};

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::{HeaderMap, HeaderName, HeaderValue};
#[cfg(feature = "permessage-deflate")]
use tungstenite::protocol::frame::coding::{Data as OpData, OpCode};
#[cfg(feature = "permessage-deflate")]
use tungstenite::protocol::frame::{Frame, FrameHeader};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{error::ProtocolError, Message as WsMessage, WebSocket};

#[cfg(feature = "permessage-deflate")]
use super::inflate::{InflateError, Inflating};
#[cfg(feature = "permessage-deflate")]
use super::pmd::{self, Deflater};
use super::stamp::Stamped;
use super::{Incoming, Link, Outgoing};
use crate::backoff;
use crate::clock;
use crate::codec::Codec;
use crate::error::{Error, ErrorKind};
use crate::message::{Cause, Disconnect, Message};
use crate::options::Mode;
use crate::transport::{Plan, Stream};

/// tungstenite's read buffer (its default is 128 KiB). Two costs pull apart:
/// a bigger buffer means fewer `recv` calls in a flood, but tungstenite
/// zero-fills all of its spare room before every read call (tungstenite-rs
/// issue 547), and the last call of every drain finds nothing, so a message
/// that arrives alone pays for a whole buffer's fill. Measured with direct
/// reads (`scripts/bench`, interleaved runs): 32 KiB made 2 KB frames a third
/// slower than the baseline's 128 KiB; 64 KiB keeps both sizes level with it,
/// at half the fill (about 0.9 µs here) per lone message.
const READ_BUFFER: usize = 64 * 1024;

/// Unanswered Pings remembered for their round trip: a peer slower than the
/// ping period still gets measured, and one that never answers costs nothing.
const PINGS_OUT: usize = 8;

/// What tungstenite runs over: the stream, stamped at each read (see
/// [`Stamped`]), under [`Inflating`], which with `enableCompression` inflates
/// what arrives, and is the stamped stream otherwise.
#[cfg(feature = "permessage-deflate")]
type Wire = Inflating<Stamped<Stream>>;
#[cfg(not(feature = "permessage-deflate"))]
type Wire = Stamped<Stream>;

pub(crate) struct WsLink {
    ws: WebSocket<Wire>,
    protocol: Option<String>,
    /// The agreed `Sec-WebSocket-Extensions` value, if any.
    extensions: Option<String>,
    /// `compress` for inbound binary frames (`mode=recv|dual`).
    inflate: Option<Codec>,
    /// `compress` for outbound messages (`mode=send|dual`).
    deflate: Option<Codec>,
    /// Protocol Pings sent and not yet answered, oldest first (at most
    /// [`PINGS_OUT`]): each one's number (its payload) and when it went out
    /// (`clock::mono_now`), for the round trip.
    pings_out: VecDeque<(u64, u64)>,
    pings: u64,
    /// The round trip of the last Pong that answered one, not yet taken.
    rtt: Option<Duration>,
    /// Bytes handed to tungstenite since its buffer was last flushed empty.
    unflushed: usize,
    /// permessage-deflate for outbound messages, when agreed (and `deflate_writes`).
    #[cfg(feature = "permessage-deflate")]
    pmd: Option<Deflater>,
}

impl WsLink {
    /// Opens the stream and runs the WebSocket handshake, all before
    /// `deadline`; with `enableCompression`, offers permessage-deflate, checks
    /// the answer as RFC 7692 says, and uses what was agreed.
    pub(crate) fn dial(plan: &Plan, deadline: Instant) -> Result<WsLink, Error> {
        #[cfg(feature = "permessage-deflate")]
        {
            let o = &plan.options;
            let offer = o.enable_compression.then_some(pmd::OFFER);
            let (mut ws, resp) = handshake(plan, deadline, offer)?;
            let agreed = match offer {
                None => None,
                Some(_) => pmd::agreed(resp.headers(), true).map_err(|why| {
                    Error::new(ErrorKind::Handshake, format!("{}: {why}", plan.shown))
                })?,
            };
            ws.get_mut().agree(agreed.as_ref(), o.maxsize);
            let mut link = WsLink::new(plan, ws, &resp);
            link.pmd = agreed
                .filter(|_| o.deflate_writes)
                .map(|a| Deflater::new(&a));
            Ok(link)
        }
        #[cfg(not(feature = "permessage-deflate"))]
        {
            let (ws, resp) = handshake(plan, deadline, None)?;
            Ok(WsLink::new(plan, ws, &resp))
        }
    }
}

/// Opens the stream and runs the WebSocket handshake (offering `extensions`),
/// all before `deadline`. The response's extensions are checked against the
/// offer.
fn handshake(
    plan: &Plan,
    deadline: Instant,
    extensions: Option<&'static str>,
) -> Result<(WebSocket<Wire>, tungstenite::handshake::client::Response), Error> {
    let url = &plan.shown;
    let mut req =
        plan.target.url().into_client_request().map_err(|e| {
            Error::address(None, format!("`{url}` is not a valid WebSocket URL: {e}"))
        })?;
    let h = req.headers_mut();
    for (name, value) in &plan.options.headers {
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::address(
                Some("header"),
                format!("`{name}` is not a valid header name"),
            )
        })?;
        let v = HeaderValue::from_str(value).map_err(|_| {
            Error::address(
                Some("header"),
                format!("`{value}` is not a valid header value"),
            )
        })?;
        h.insert(n, v);
    }
    if !plan.options.protocols.is_empty() {
        let v = HeaderValue::from_str(&plan.options.protocols.join(", "))
            .map_err(|_| Error::address(Some("protocol"), "not a valid subprotocol list"))?;
        h.insert("Sec-WebSocket-Protocol", v);
    }
    if let Some(offer) = extensions {
        h.insert(EXTENSIONS, HeaderValue::from_static(offer));
    }
    let offered = offered_extensions(req.headers());
    #[cfg(feature = "permessage-deflate")]
    let stream = Inflating::new(Stamped::new(plan.open(deadline)?), extensions.is_some());
    #[cfg(not(feature = "permessage-deflate"))]
    let stream = Stamped::new(plan.open(deadline)?);
    let max = Some(plan.options.maxsize);
    let config = WebSocketConfig::default()
        .max_message_size(max)
        .max_frame_size(max)
        .write_buffer_size(0)
        .read_buffer_size(READ_BUFFER);
    let (mut ws, resp) = match tungstenite::client::client_with_config(req, stream, Some(config)) {
        Ok(ok) => ok,
        Err(HandshakeError::Interrupted(_)) => {
            return Err(Error::new(ErrorKind::Handshake, format!("{url}: timed out")).timed_out())
        }
        Err(HandshakeError::Failure(e)) => {
            let tls = plan.target.scheme().is_tls();
            return Err(handshake_error(url, &plan.options.protocols, tls, e));
        }
    };
    // Checked before anything is read: on failure the socket is dropped unread.
    if let Err(why) = check_extensions(&offered, resp.headers()) {
        return Err(Error::new(ErrorKind::Handshake, format!("{url}: {why}")));
    }
    #[cfg(feature = "permessage-deflate")]
    ws.get_mut().get_mut().inner.finish_dial()?;
    #[cfg(not(feature = "permessage-deflate"))]
    ws.get_mut().inner.finish_dial()?;
    Ok((ws, resp))
}

impl WsLink {
    /// The stamped stream under tungstenite (and the inflater).
    #[inline]
    fn stamped(&self) -> &Stamped<Stream> {
        #[cfg(feature = "permessage-deflate")]
        return self.ws.get_ref().get_ref();
        #[cfg(not(feature = "permessage-deflate"))]
        return self.ws.get_ref();
    }

    fn new(
        plan: &Plan,
        ws: WebSocket<Wire>,
        resp: &tungstenite::handshake::client::Response,
    ) -> WsLink {
        // Every line of the header, joined as one list.
        let extensions = {
            let mut values = resp
                .headers()
                .get_all(EXTENSIONS)
                .iter()
                .filter_map(|v| v.to_str().ok());
            values
                .next()
                .map(|first| values.fold(first.to_owned(), |all, v| all + ", " + v))
        };
        let o = &plan.options;
        let codec = |on: bool| o.compress.filter(|_| on).map(|c| Codec::new(c, o.maxsize));
        WsLink {
            ws,
            protocol: resp
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            extensions,
            inflate: codec(o.mode != Mode::Send),
            deflate: codec(o.mode != Mode::Recv),
            pings_out: VecDeque::new(),
            pings: 0,
            rtt: None,
            unflushed: 0,
            #[cfg(feature = "permessage-deflate")]
            pmd: None,
        }
    }
}

/// The names of the extensions a request offers (`Sec-WebSocket-Extensions`,
/// every line), lowercased: permessage-deflate with `enableCompression`,
/// else none (`header=` may not set the header).
fn offered_extensions(h: &HeaderMap) -> Vec<String> {
    h.get_all(EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(extension_names)
        .filter_map(Result::ok)
        .map(|n| n.to_ascii_lowercase())
        .collect()
}

/// RFC 6455 section 4.1: the extensions a `101` response names must be a
/// subset of those the request offered, else the client fails the connection.
/// The error names the header and the value.
fn check_extensions(offered: &[String], resp: &HeaderMap) -> Result<(), String> {
    for v in resp.get_all(EXTENSIONS) {
        let value = shown(&String::from_utf8_lossy(v.as_bytes()));
        let why = match v.to_str() {
            Err(_) => Some("is not a valid extension list".to_owned()),
            Ok(list) => extension_names(list).find_map(|n| match n {
                Err(()) => Some("is not a valid extension list".to_owned()),
                Ok(n) if offered.iter().any(|o| o.eq_ignore_ascii_case(n)) => None,
                Ok(n) => Some(format!(
                    "names the extension `{}`, which the client did not offer (offered: {})",
                    shown(n),
                    if offered.is_empty() {
                        "none".to_owned()
                    } else {
                        offered.join(", ")
                    }
                )),
            }),
        };
        if let Some(why) = why {
            return Err(format!(
                "the server's 101 response header `{EXTENSIONS}: {value}` {why}; RFC 6455 says the client must fail the connection"
            ));
        }
    }
    Ok(())
}

pub(super) const EXTENSIONS: &str = "Sec-WebSocket-Extensions";

/// The extension names of one `Sec-WebSocket-Extensions` value
/// (`name; param=value, name2`): `Err(())` for an element that is not a token.
/// Empty elements (`a, , b`) are allowed by HTTP's list syntax and skipped.
fn extension_names(list: &str) -> impl Iterator<Item = Result<&str, ()>> {
    split_outside_quotes(list, ',').filter_map(|element| {
        let name = split_outside_quotes(element, ';')
            .next()
            .unwrap_or("")
            .trim();
        let has_params = element.trim() != name;
        if name.is_empty() && !has_params {
            None
        } else if !name.is_empty() && name.bytes().all(is_token_byte) {
            Some(Ok(name))
        } else {
            Some(Err(()))
        }
    })
}

/// `s` split at every `sep` that is not inside a quoted string (a parameter
/// value may be one, RFC 6455 section 9.1).
pub(super) fn split_outside_quotes(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    s.split(move |c: char| {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            return true;
        }
        false
    })
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Peer-sent text as shown in a message: at most 200 characters, control
/// characters escaped.
pub(super) fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(200).flat_map(char::escape_default).collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// Why a TLS server closes a connection between the TLS handshake and the
/// upgrade response.
const CLIENT_CERT_HINT: &str = " (a TLS server that requires a client certificate does this when \
     none is presented, or one it does not trust: see `cert=` and `key=`)";

/// An I/O error after the client's part of the TLS handshake that is the
/// server closing: a reset, an abort, a broken pipe, or a TLS alert.
fn refused_after_tls(io: &io::Error) -> bool {
    use io::ErrorKind as K;
    matches!(
        io.kind(),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
    ) || io.to_string().contains("alert")
}

fn handshake_error(url: &str, protocols: &[String], tls: bool, e: tungstenite::Error) -> Error {
    use tungstenite::error::SubProtocolError as S;
    use tungstenite::Error as E;
    let offered = protocols.join(", ");
    match e {
        E::Protocol(ProtocolError::HandshakeIncomplete) => {
            // TLS 1.3 checks a client certificate after the client's part of
            // the TLS handshake: a refusal shows here, as a closed connection.
            let hint = if tls { CLIENT_CERT_HINT } else { "" };
            Error::new(
                ErrorKind::Handshake,
                format!("{url}: the server closed the connection before answering the upgrade request{hint}"),
            )
            .with_source(e)
        }
        E::Protocol(ProtocolError::SecWebSocketSubProtocolError(kind)) => {
            let why = match kind {
                S::ServerSentSubProtocolNoneRequested => "the server's 101 response has a `Sec-WebSocket-Protocol` header, but the client offered none (offer some with `protocol=`)".to_owned(),
                S::InvalidSubProtocol => format!(
                    "the server's 101 response chose a subprotocol (`Sec-WebSocket-Protocol`) that the client did not offer (offered: {offered})"
                ),
                S::NoSubProtocol => format!(
                    "the server's 101 response has no `Sec-WebSocket-Protocol` header: it accepted none of the offered subprotocols ({offered})"
                ),
            };
            Error::new(ErrorKind::Handshake, format!("{url}: {why}")).with_source(e)
        }
        E::Http(resp) => {
            let status = resp.status();
            let wait = resp
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| backoff::retry_after(v, SystemTime::now()));
            let asked = wait.map_or(String::new(), |w| {
                format!("; it asks to wait {} s (Retry-After)", w.as_secs())
            });
            let body = resp
                .body()
                .as_deref()
                .map(|b| {
                    String::from_utf8_lossy(&b[..b.len().min(200)])
                        .trim()
                        .to_owned()
                })
                .filter(|b| !b.is_empty())
                .map(|b| format!(" ({b})"))
                .unwrap_or_default();
            Error::new(
                ErrorKind::Handshake,
                format!(
                    "{url}: server answered HTTP {status} instead of 101 Switching Protocols{body}{asked}"
                ),
            )
            .with_status(status.as_u16())
            .with_retry_after(wait)
        }
        // The same refusal, when the server's close arrives as a reset (it
        // closed with our upgrade request unread) or as its TLS alert.
        E::Io(io) if tls && refused_after_tls(&io) => Error::io(ErrorKind::Handshake, url, io)
            .map_message(|m| format!("{m}{CLIENT_CERT_HINT}")),
        E::Io(io) => Error::io(ErrorKind::Handshake, url, io),
        E::Url(u) => Error::address(None, format!("`{url}`: {u}")),
        other => Error::new(ErrorKind::Handshake, format!("{url}: {other}")).with_source(other),
    }
}

/// What a tungstenite error means for the connection.
fn lost(e: tungstenite::Error) -> Disconnect {
    use tungstenite::Error as E;
    match e {
        E::ConnectionClosed | E::AlreadyClosed => Disconnect::new(Cause::Eof, "connection closed"),
        E::Io(io) => match io.kind() {
            io::ErrorKind::UnexpectedEof => {
                Disconnect::new(Cause::Eof, "peer closed the connection")
            }
            #[cfg(feature = "permessage-deflate")]
            _ if io
                .get_ref()
                .is_some_and(|e| e.downcast_ref::<InflateError>().is_some()) =>
            {
                Disconnect::new(Cause::Protocol, format!("permessage-deflate: {io}"))
            }
            _ => Disconnect::new(Cause::Io, format!("i/o error: {io}")),
        },
        E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Disconnect::new(
            Cause::Eof,
            "peer closed the connection without a close frame",
        ),
        E::Capacity(c) => Disconnect::new(Cause::Protocol, format!("message over maxsize: {c}")),
        E::Utf8(s) => Disconnect::new(
            Cause::Protocol,
            format!("invalid UTF-8 in a text message: {s}"),
        ),
        other => Disconnect::new(Cause::Protocol, format!("protocol error: {other}")),
    }
}

/// A one-frame message whose payload permessage-deflate compressed (RSV1 set).
#[cfg(feature = "permessage-deflate")]
fn compressed(opcode: OpData, payload: Vec<u8>) -> WsMessage {
    let header = FrameHeader {
        rsv1: true,
        opcode: OpCode::Data(opcode),
        ..FrameHeader::default()
    };
    WsMessage::Frame(Frame::from_payload(header, payload.into()))
}

fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

impl WsLink {
    /// Every read result but the hot one (see [`Link::read`]).
    fn read_rest(
        &mut self,
        read: tungstenite::Result<WsMessage>,
        shared: bool,
    ) -> Result<Incoming, Disconnect> {
        let rx = self.stamped().rx;
        match read {
            // Messages for the inbox are copied out of tungstenite's read buffer:
            // they wait there, and a slice of the buffer would keep it from being
            // reused, so every refill would allocate fresh (cold, page-faulting)
            // memory and the reader thread would free it. Measured: 2 KB frames 4x
            // faster. A message read on the program's thread goes straight to it,
            // as in a plain tungstenite loop, and keeps the slice (`read` took
            // that case for text).
            Ok(WsMessage::Text(t)) => Ok(Incoming::Message(Message::from_text(
                t.as_str().to_owned().into(),
                rx,
            ))),

            Ok(WsMessage::Binary(b)) => Ok(Incoming::Message(match &mut self.inflate {
                None if shared => Message::from_bytes(b, rx),
                None => Message::from_bytes(b.to_vec().into(), rx),
                Some(c) => match c.inflate(&b) {
                    Ok(v) => Message::from_inflated(v, rx),
                    Err(e) => {
                        log::warn!("a {}-byte binary frame did not inflate: {e}", b.len());
                        Message::undecoded(b, e.to_string(), rx)
                    }
                },
            })),
            Ok(WsMessage::Ping(_)) => {
                // The pong is queued by tungstenite; send it now, not after the burst.
                self.flush()?;
                Ok(Incoming::Control)
            }
            Ok(WsMessage::Pong(p)) => {
                // The answer to one of our Pings: its round trip, from when it
                // went out to when the Pong was read from the socket. Older
                // unanswered ones are forgotten; other Pongs are only traffic.
                let n = <[u8; 8]>::try_from(&p[..]).map(u64::from_be_bytes);
                let at = n
                    .ok()
                    .and_then(|n| self.pings_out.iter().position(|o| o.0 == n));
                if let Some(i) = at {
                    let sent = self.pings_out[i].1;
                    self.pings_out.drain(..=i);
                    self.rtt = Some(Duration::from_nanos(rx.mono.saturating_sub(sent)));
                }
                Ok(Incoming::Control)
            }
            Ok(WsMessage::Frame(_)) => Ok(Incoming::Control),
            Ok(WsMessage::Close(frame)) => {
                let _ = self.flush();
                Err(match frame {
                    // tungstenite turns an invalid close code into exactly this frame.
                    Some(f) if u16::from(f.code) == 1002 && f.reason.as_str() == "Protocol violation" => {
                        Disconnect::closed(1002, "Protocol violation (or the peer sent an invalid close code, answered with 1002)")
                    }
                    Some(f) => Disconnect::closed(f.code.into(), &f.reason),
                    None => Disconnect::closed(1005, ""),
                })
            }
            Err(e) if would_block(&e) => Ok(Incoming::WouldBlock),
            Err(e) => Err(lost(e)),
        }
    }
}

impl Link for WsLink {
    fn fd(&self) -> BorrowedFd<'_> {
        self.stamped().inner.as_fd()
    }

    #[inline]
    fn read(&mut self, shared: bool) -> Result<Incoming, Disconnect> {
        // The hot case inline (a text frame for the program's thread), the rest
        // in `read_rest`, so this stays small enough to inline into the reader.
        match self.ws.read() {
            Ok(WsMessage::Text(t)) if shared => {
                Ok(Incoming::Message(Message::from_text(t, self.stamped().rx)))
            }
            other => self.read_rest(other, shared),
        }
    }

    fn send(&mut self, m: Outgoing) -> Result<(), Disconnect> {
        let msg = match (m, &mut self.deflate) {
            (Outgoing::Text(s), Some(c)) => WsMessage::Binary(c.deflate(s.as_bytes()).into()),
            (Outgoing::Binary(b), Some(c)) => WsMessage::Binary(c.deflate(&b).into()),
            (Outgoing::Text(s), None) => WsMessage::Text(s.into()),
            (Outgoing::Binary(b), None) => WsMessage::Binary(b.into()),
        };
        #[cfg(feature = "permessage-deflate")]
        let msg = match (&mut self.pmd, msg) {
            (Some(d), WsMessage::Text(t)) => compressed(OpData::Text, d.compress(t.as_bytes())),
            (Some(d), WsMessage::Binary(b)) => compressed(OpData::Binary, d.compress(&b)),
            (_, msg) => msg,
        };
        self.unflushed += msg.len();
        match self.ws.write(msg) {
            Ok(()) => Ok(()),
            Err(e) if would_block(&e) => Ok(()),
            Err(e) => Err(lost(e)),
        }
    }

    fn flush(&mut self) -> Result<bool, Disconnect> {
        match self.ws.flush() {
            Ok(()) => {
                self.unflushed = 0;
                Ok(true)
            }
            Err(e) if would_block(&e) => Ok(false),
            Err(e) => Err(lost(e)),
        }
    }

    fn unflushed(&self) -> usize {
        self.unflushed
    }

    fn take_rtt(&mut self) -> Option<Duration> {
        self.rtt.take()
    }

    fn ping(&mut self, text: Option<&str>) -> Result<(), Disconnect> {
        // A text keepalive goes out as plain text, never compressed. A
        // protocol Ping carries its number, so its Pong gives the round trip.
        let msg = match text {
            Some(t) => WsMessage::Text(t.to_owned().into()),
            None => {
                self.pings += 1;
                if self.pings_out.len() == PINGS_OUT {
                    self.pings_out.pop_front();
                }
                self.pings_out.push_back((self.pings, clock::mono_now()));
                WsMessage::Ping(self.pings.to_be_bytes().to_vec().into())
            }
        };
        match self.ws.write(msg) {
            Ok(()) => Ok(()),
            Err(e) if would_block(&e) => Ok(()),
            Err(e) => Err(lost(e)),
        }
    }

    fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    fn extensions(&self) -> Option<&str> {
        self.extensions.as_deref()
    }

    fn close(&mut self) -> Result<(), Disconnect> {
        let normal = tungstenite::protocol::CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "".into(),
        };
        match self.ws.close(Some(normal)) {
            Ok(()) => Ok(()),
            Err(e) if would_block(&e) => Ok(()),
            Err(e) => Err(lost(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_server_closing_before_the_upgrade_answer_points_at_client_certificates() {
        let io = |kind| tungstenite::Error::Io(io::Error::from(kind));
        let alert = || {
            tungstenite::Error::Io(io::Error::other(
                "error:0A00045C:SSL routines::tlsv13 alert certificate required",
            ))
        };
        let closed = || tungstenite::Error::Protocol(ProtocolError::HandshakeIncomplete);
        for e in [
            closed(),
            io(io::ErrorKind::ConnectionReset),
            io(io::ErrorKind::BrokenPipe),
            alert(),
        ] {
            let shown = format!("{e}");
            let err = handshake_error("wss://h/", &[], true, e);
            assert_eq!(err.kind(), ErrorKind::Handshake, "{shown}");
            assert!(
                err.to_string().contains("client certificate"),
                "{shown}: {err}"
            );
        }
        // Without TLS, or for an error that is not the server closing, no hint.
        let err = handshake_error("ws://h/", &[], false, io(io::ErrorKind::ConnectionReset));
        assert!(!err.to_string().contains("certificate"), "{err}");
        let err = handshake_error("wss://h/", &[], true, io(io::ErrorKind::TimedOut));
        assert!(!err.to_string().contains("certificate"), "{err}");
    }

    fn names(list: &str) -> Vec<Result<&str, ()>> {
        extension_names(list).collect()
    }

    #[test]
    fn extension_lists_are_split_outside_quoted_strings() {
        assert_eq!(names(""), []);
        assert_eq!(names(" , ,"), []);
        assert_eq!(
            names("permessage-deflate; client_max_window_bits, foo"),
            [Ok("permessage-deflate"), Ok("foo")]
        );
        assert_eq!(
            names(r#"a; p="x,y\",z;w", b"#),
            [Ok("a"), Ok("b")],
            "commas inside a quoted parameter value do not split"
        );
        assert_eq!(names("; p=1"), [Err(())]);
        assert_eq!(names("a b"), [Err(())]);
        assert_eq!(names("a, \"b\""), [Ok("a"), Err(())]);
    }

    #[test]
    fn the_answer_must_be_a_subset_of_the_offer() {
        let answer = |v: &str| {
            let mut h = HeaderMap::new();
            h.append(EXTENSIONS, HeaderValue::from_str(v).unwrap());
            h
        };
        let offered = vec!["permessage-deflate".to_owned()];
        assert!(check_extensions(&offered, &HeaderMap::new()).is_ok());
        assert!(check_extensions(
            &offered,
            &answer("permessage-deflate; server_no_context_takeover")
        )
        .is_ok());
        assert!(check_extensions(&offered, &answer("Permessage-Deflate")).is_ok());
        let e = check_extensions(&[], &answer("permessage-deflate")).unwrap_err();
        assert!(
            e.contains("`Sec-WebSocket-Extensions: permessage-deflate`"),
            "{e}"
        );
        assert!(e.contains("offered: none"), "{e}");
        let e = check_extensions(&offered, &answer("permessage-deflate, x-y")).unwrap_err();
        assert!(
            e.contains("`x-y`") && e.contains("offered: permessage-deflate"),
            "{e}"
        );
        let long = "x".repeat(5000);
        let e = check_extensions(&[], &answer(&long)).unwrap_err();
        assert!(e.len() < 1000, "a long value is cut short in the message");
        let mut bin = HeaderMap::new();
        bin.append(EXTENSIONS, HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let e = check_extensions(&offered, &bin).unwrap_err();
        assert!(e.contains("not a valid extension list"), "{e}");
    }
}
