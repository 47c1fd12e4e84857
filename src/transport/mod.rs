//! Making a byte stream: (proxy ->) TCP -> TLS, or a Unix socket, all inside
//! one deadline. The WebSocket layer never opens sockets; it gets a [`Stream`].

pub(crate) mod proxy;
pub(crate) mod tcp;
pub(crate) mod tls;

use std::io::{self, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use native_tls::{TlsConnector, TlsStream};

use crate::address::{Scheme, Target};
use crate::error::{Error, ErrorKind};
use crate::options::Options;

/// The time left before `deadline`, or `None` when it has passed.
pub(crate) fn remaining(deadline: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

/// Runs a blocking call that has no timeout of its own (name lookup) on a
/// helper thread, and waits for it until `deadline`. On timeout the helper is
/// left to finish on its own; its result is dropped.
pub(crate) fn run_with_deadline<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
    deadline: Instant,
) -> Option<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("wsdial-dial".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let _ = tx.send(f());
        });
    if spawned.is_err() {
        return None;
    }
    rx.recv_timeout(remaining(deadline)?).ok()
}

/// A socket that can carry per-call timeouts during the dial.
pub(crate) trait Timeouts {
    fn set_timeouts(&self, t: Option<Duration>) -> io::Result<()>;
    fn set_nonblocking(&self, on: bool) -> io::Result<()>;
}

impl Timeouts for TcpStream {
    fn set_timeouts(&self, t: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(t)?;
        self.set_write_timeout(t)
    }
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        TcpStream::set_nonblocking(self, on)
    }
}

impl Timeouts for UnixStream {
    fn set_timeouts(&self, t: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(t)?;
        self.set_write_timeout(t)
    }
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        UnixStream::set_nonblocking(self, on)
    }
}

/// A socket whose every read and write, while dialing, waits at most until the
/// dial deadline (a peer that trickles bytes cannot stretch it). After the dial
/// it is non-blocking and the deadline is gone.
pub(crate) struct Timed<S> {
    inner: S,
    deadline: Option<Instant>,
}

impl<S: Timeouts> Timed<S> {
    fn new(inner: S, deadline: Instant) -> Timed<S> {
        Timed {
            inner,
            deadline: Some(deadline),
        }
    }

    fn arm(&self) -> io::Result<()> {
        match self.deadline {
            None => Ok(()),
            Some(d) => match remaining(d) {
                Some(left) => self.inner.set_timeouts(Some(left)),
                None => Err(io::ErrorKind::TimedOut.into()),
            },
        }
    }

    /// During the dial a blocking timeout shows as WouldBlock; call it what it is.
    fn map<T>(&self, r: io::Result<T>) -> io::Result<T> {
        match r {
            Err(e) if self.deadline.is_some() && e.kind() == io::ErrorKind::WouldBlock => {
                Err(io::ErrorKind::TimedOut.into())
            }
            r => r,
        }
    }

    fn into_inner(self) -> S {
        self.inner
    }

    fn finish(&mut self) -> io::Result<()> {
        self.deadline = None;
        self.inner.set_timeouts(None)?;
        self.inner.set_nonblocking(true)
    }
}

impl<S: Timeouts + Read> Read for Timed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        let r = self.inner.read(buf);
        self.map(r)
    }
}

impl<S: Timeouts + Write> Write for Timed<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        let r = self.inner.write(buf);
        self.map(r)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A connected byte stream.
pub(crate) enum Stream {
    Tcp(Timed<TcpStream>),
    Tls(Box<TlsStream<Timed<TcpStream>>>),
    Unix(Timed<UnixStream>),
}

impl Stream {
    /// Ends the dial: no deadline, non-blocking from now on.
    pub(crate) fn finish_dial(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.finish(),
            Stream::Tls(s) => s.get_mut().finish(),
            Stream::Unix(s) => s.finish(),
        }
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.inner.as_fd(),
            Stream::Tls(s) => s.get_ref().inner.as_fd(),
            Stream::Unix(s) => s.inner.as_fd(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// What a connection dials, every time it dials: the target, the options, and
/// the TLS connector built once.
pub(crate) struct Plan {
    pub(crate) target: Target,
    pub(crate) options: Options,
    /// The target's URL as logs and errors show it: a password written `***`.
    pub(crate) shown: String,
    tls: Option<TlsConnector>,
}

impl Plan {
    pub(crate) fn new(target: Target, options: Options) -> Result<Plan, Error> {
        let tls = if target.scheme().is_tls() {
            Some(tls::connector(&options)?)
        } else {
            None
        };
        Ok(Plan {
            shown: target.masked_url(),
            target,
            options,
            tls,
        })
    }

    /// Opens the byte stream (TCP, TLS over TCP, or Unix), still in blocking mode
    /// with the deadline armed; the caller runs its handshake, then `finish_dial`.
    pub(crate) fn open(&self, deadline: Instant) -> Result<Stream, Error> {
        let t = &self.target;
        if t.scheme() == Scheme::Unix {
            let s = UnixStream::connect(t.host()).map_err(|e| {
                Error::io(
                    ErrorKind::Tcp,
                    format!("connect unix socket {}", t.host()),
                    e,
                )
            })?;
            return Ok(Stream::Unix(Timed::new(s, deadline)));
        }
        let tcp = match &self.options.proxy {
            Some(p) => proxy::connect(p, t.host(), t.port(), deadline)?,
            None => {
                let addrs = tcp::resolve(t.host(), t.port(), deadline)?;
                tcp::connect(&addrs, self.options.local_ip, deadline)?
            }
        };
        let tcp = Timed::new(tcp, deadline);
        match &self.tls {
            Some(c) => {
                let tls = tls::handshake(c, t.host(), tcp, deadline)?;
                Ok(Stream::Tls(Box::new(tls)))
            }
            None => Ok(Stream::Tcp(tcp)),
        }
    }

    /// Opens a connected UDP socket (non-blocking).
    pub(crate) fn open_udp(&self, deadline: Instant) -> Result<UdpSocket, Error> {
        let t = &self.target;
        let addrs = tcp::resolve(t.host(), t.port(), deadline)?;
        let addr = addrs[0];
        let local = match self.options.local_ip {
            Some(ip) => std::net::SocketAddr::new(ip, 0),
            None if addr.is_ipv4() => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
            None => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let sock = UdpSocket::bind(local)
            .map_err(|e| Error::io(ErrorKind::Tcp, format!("bind {local}"), e))?;
        sock.connect(addr)
            .map_err(|e| Error::io(ErrorKind::Tcp, format!("connect udp {addr}"), e))?;
        sock.set_nonblocking(true)?;
        Ok(sock)
    }
}
