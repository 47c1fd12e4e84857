//! A link is one live connection of any scheme, driven by the worker without
//! blocking: it reads what has arrived, buffers what is sent, and flushes when
//! the socket lets it. One worker serves every scheme through this trait.

#[cfg(feature = "permessage-deflate")]
pub(crate) mod inflate;
#[cfg(feature = "permessage-deflate")]
pub(crate) mod pmd;
pub(crate) mod raw;
mod stamp;
pub(crate) mod ws;

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use crate::address::Scheme;
use crate::error::Error;
use crate::message::{Disconnect, Message};
use crate::transport::Plan;

pub(crate) use crate::seam::Outgoing;

/// Dials one connection of the plan's scheme, handshake included, before `deadline`.
pub(crate) fn dial(plan: &Plan, deadline: Instant) -> Result<Box<AnyLink>, Error> {
    Ok(Box::new(match plan.target.scheme() {
        Scheme::Ws | Scheme::Wss => AnyLink::Ws(ws::WsLink::dial(plan, deadline)?),
        Scheme::Tcp | Scheme::Tls | Scheme::Unix => {
            AnyLink::Raw(raw::RawLink::dial_stream(plan, deadline)?)
        }
        Scheme::Udp => AnyLink::Raw(raw::RawLink::dial_udp(plan, deadline)?),
        s => unreachable!("{s}:// is not served by the socket driver"),
    }))
}

/// A link of either kind. An enum, not a trait object, so that a read on the
/// hot path is a direct call the compiler inlines: the message is then built
/// once where the caller wants it, instead of being copied out through each
/// layer (with a trait object, those copies were a tenth of a 200 B read).
// Always boxed whole (`Box<AnyLink>`), so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum AnyLink {
    Ws(ws::WsLink),
    Raw(raw::RawLink),
}

/// Calls the same method on whichever link it is.
macro_rules! each {
    ($self:ident, $l:ident => $e:expr) => {
        match $self {
            AnyLink::Ws($l) => $e,
            AnyLink::Raw($l) => $e,
        }
    };
}

impl Link for AnyLink {
    fn fd(&self) -> BorrowedFd<'_> {
        each!(self, l => l.fd())
    }
    #[inline(always)]
    fn read(&mut self, shared: bool) -> Result<Incoming, Disconnect> {
        each!(self, l => l.read(shared))
    }
    fn send(&mut self, m: Outgoing) -> Result<(), Disconnect> {
        each!(self, l => l.send(m))
    }
    fn flush(&mut self) -> Result<bool, Disconnect> {
        each!(self, l => l.flush())
    }
    fn unflushed(&self) -> usize {
        each!(self, l => l.unflushed())
    }
    fn take_rtt(&mut self) -> Option<Duration> {
        each!(self, l => l.take_rtt())
    }
    fn ping(&mut self, text: Option<&str>) -> Result<(), Disconnect> {
        each!(self, l => l.ping(text))
    }
    fn close(&mut self) -> Result<(), Disconnect> {
        each!(self, l => l.close())
    }
    fn protocol(&self) -> Option<&str> {
        each!(self, l => l.protocol())
    }
    fn extensions(&self) -> Option<&str> {
        each!(self, l => l.extensions())
    }
}

/// What one non-blocking read gave.
pub(crate) enum Incoming {
    /// A message for the inbox.
    Message(Message),
    /// Traffic that is not a message (a ping, a pong): the peer is alive.
    /// A Pong that answered our Ping leaves its round trip in the link
    /// ([`Link::take_rtt`]): this enum, returned for every message on the hot
    /// path, stays as small as it was.
    Control,
    /// Nothing more until the socket is readable again.
    WouldBlock,
}

pub(crate) trait Link: Send {
    /// The socket to wait on.
    fn fd(&self) -> BorrowedFd<'_>;
    /// Reads the next item without blocking. `shared`: the message goes
    /// straight to the program, so it may share memory with the link's read
    /// buffer; otherwise (it will wait in the inbox) it gets its own.
    fn read(&mut self, shared: bool) -> Result<Incoming, Disconnect>;
    /// Buffers a message for sending; `flush` pushes it out.
    fn send(&mut self, m: Outgoing) -> Result<(), Disconnect>;
    /// Writes buffered output; `Ok(true)` when all of it went out.
    fn flush(&mut self) -> Result<bool, Disconnect>;
    /// Bytes sent but not yet written to the socket (at most: since the last
    /// flush that wrote everything), for the send queue's limit.
    fn unflushed(&self) -> usize;
    /// The round trip of a protocol Ping whose Pong was read since the last
    /// call (after an `Incoming::Control`).
    fn take_rtt(&mut self) -> Option<Duration> {
        None
    }
    /// Sends a keepalive: a protocol ping, or `text` as a message when given.
    fn ping(&mut self, text: Option<&str>) -> Result<(), Disconnect>;
    /// Starts an orderly close (a close frame for WebSocket).
    fn close(&mut self) -> Result<(), Disconnect>;
    /// The subprotocol the peer agreed to, for WebSocket.
    fn protocol(&self) -> Option<&str> {
        None
    }
    /// The extensions the peer agreed to (its `Sec-WebSocket-Extensions`), for WebSocket.
    fn extensions(&self) -> Option<&str> {
        None
    }
}
