//! Raw links: a byte stream (`tcp`, `tls`, `unix`) or a connected UDP socket.
//! A read returns whatever bytes arrived (one datagram for UDP), as binary.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::UdpSocket;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use super::{Incoming, Link, Outgoing};
use crate::clock::Clock;
use crate::error::Error;
use crate::message::{Cause, Disconnect, Message};
use crate::transport::{Plan, Stream};

/// Largest read (and largest UDP datagram) taken at once.
const CHUNK: usize = 64 * 1024;

enum Sock {
    Stream(Stream),
    Udp(UdpSocket),
}

pub(crate) struct RawLink {
    sock: Sock,
    buf: Box<[u8]>,
    /// Stream output not yet written, and how much of its front was.
    out: Vec<u8>,
    written: usize,
    /// UDP datagrams not yet sent.
    dgrams: VecDeque<Vec<u8>>,
    /// Their bytes.
    dgram_bytes: usize,
    /// Stamps every read with its receive time.
    clock: Clock,
}

impl RawLink {
    pub(crate) fn dial_stream(plan: &Plan, deadline: Instant) -> Result<RawLink, Error> {
        let mut s = plan.open(deadline)?;
        s.finish_dial()?;
        Ok(RawLink::new(Sock::Stream(s)))
    }

    pub(crate) fn dial_udp(plan: &Plan, deadline: Instant) -> Result<RawLink, Error> {
        Ok(RawLink::new(Sock::Udp(plan.open_udp(deadline)?)))
    }

    fn new(sock: Sock) -> RawLink {
        RawLink {
            sock,
            buf: vec![0; CHUNK].into_boxed_slice(),
            out: Vec::new(),
            written: 0,
            dgrams: VecDeque::new(),
            dgram_bytes: 0,
            clock: Clock::new(),
        }
    }
}

fn io_lost(e: io::Error) -> Disconnect {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            Disconnect::new(Cause::Io, "peer unreachable (connection refused)")
        }
        _ => Disconnect::new(Cause::Io, format!("i/o error: {e}")),
    }
}

impl Link for RawLink {
    fn fd(&self) -> BorrowedFd<'_> {
        match &self.sock {
            Sock::Stream(s) => s.as_fd(),
            Sock::Udp(u) => u.as_fd(),
        }
    }

    fn read(&mut self, _shared: bool) -> Result<Incoming, Disconnect> {
        let r = match &mut self.sock {
            Sock::Stream(s) => match s.read(&mut self.buf) {
                Ok(0) => return Err(Disconnect::new(Cause::Eof, "peer closed the connection")),
                r => r,
            },
            Sock::Udp(u) => u.recv(&mut self.buf),
        };
        match r {
            Ok(n) => Ok(Incoming::Message(Message::from_bytes(
                self.buf[..n].to_vec().into(),
                self.clock.now(),
            ))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Incoming::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Incoming::Control),
            Err(e) => Err(io_lost(e)),
        }
    }

    fn send(&mut self, m: Outgoing) -> Result<(), Disconnect> {
        let bytes = match m {
            Outgoing::Text(s) => s.into_bytes(),
            Outgoing::Binary(b) => b,
        };
        match self.sock {
            Sock::Stream(_) => self.out.extend_from_slice(&bytes),
            Sock::Udp(_) => {
                self.dgram_bytes += bytes.len();
                self.dgrams.push_back(bytes)
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<bool, Disconnect> {
        match &mut self.sock {
            Sock::Stream(s) => {
                while self.written < self.out.len() {
                    match s.write(&self.out[self.written..]) {
                        Ok(0) => {
                            return Err(Disconnect::new(Cause::Eof, "peer stopped accepting data"))
                        }
                        Ok(n) => self.written += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(io_lost(e)),
                    }
                }
                self.out.clear();
                self.written = 0;
                s.flush().map_err(io_lost)?;
                Ok(true)
            }
            Sock::Udp(u) => {
                while let Some(d) = self.dgrams.front() {
                    match u.send(d) {
                        Ok(_) => {
                            let sent = self.dgrams.pop_front().map_or(0, |d| d.len());
                            self.dgram_bytes -= sent;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(io_lost(e)),
                    }
                }
                Ok(true)
            }
        }
    }

    fn unflushed(&self) -> usize {
        self.out.len() - self.written + self.dgram_bytes
    }

    fn ping(&mut self, text: Option<&str>) -> Result<(), Disconnect> {
        // Only `ping_msg` reaches here for raw links (a protocol ping is refused at dial).
        match text {
            Some(t) => self.send(Outgoing::Text(t.to_owned())),
            None => Ok(()),
        }
    }

    fn close(&mut self) -> Result<(), Disconnect> {
        // Raw sockets have no closing handshake: send what is pending, then go.
        let _ = self.flush();
        Err(Disconnect::new(
            Cause::ClosedByUser,
            "closed by the program",
        ))
    }
}
