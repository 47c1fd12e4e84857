//! Name resolution and TCP connect, each inside the dial deadline. A name
//! that resolves to several addresses is connected the RFC 8305 ("Happy
//! Eyeballs") way: IPv6 and IPv4 interleaved, a new attempt every 250 ms
//! while the earlier ones are still pending (at once when one fails), the
//! first to connect wins and the others are dropped. So a dead address (a
//! black-holed route, a host that is down) costs 250 ms, not the deadline.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::run_with_deadline;
use crate::error::{Error, ErrorKind};

/// RFC 8305 section 5: how long an attempt has before the next one starts
/// beside it.
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Resolves `host:port`. An IP literal needs no lookup; a name is looked up on a
/// helper thread so that a slow resolver cannot outlive the deadline.
pub(crate) fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    #[cfg(test)]
    if let Some(addrs) = tests::resolved(host, port) {
        return Ok(addrs);
    }
    let name = format!("{host}:{port}");
    let what = format!("resolve {host}");
    let lookup = {
        let name = name.clone();
        move || name.to_socket_addrs().map(|a| a.collect::<Vec<_>>())
    };
    match run_with_deadline(lookup, deadline) {
        None => Err(Error::new(ErrorKind::Dns, format!("{what}: timed out")).timed_out()),
        Some(Err(e)) => Err(Error::io(ErrorKind::Dns, what, e)),
        Some(Ok(addrs)) if addrs.is_empty() => {
            Err(Error::new(ErrorKind::Dns, format!("{what}: no addresses")))
        }
        Some(Ok(addrs)) => Ok(addrs),
    }
}

/// The order of attempts (RFC 8305 section 4): the resolver's order within
/// each family, the families taking turns, starting with the family of the
/// first address.
fn interleave(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return Vec::new();
    };
    let (mut same, mut other): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.iter().partition(|a| a.is_ipv4() == first.is_ipv4());
    same.reverse();
    other.reverse();
    let mut out = Vec::with_capacity(addrs.len());
    while !same.is_empty() || !other.is_empty() {
        out.extend(same.pop());
        out.extend(other.pop());
    }
    out
}

/// Connects to the first address that answers (see the module docs), binding
/// `local_ip` first when given (only addresses of its family are tried).
/// `TCP_NODELAY` is on; the stream is blocking.
pub(crate) fn connect(
    addrs: &[SocketAddr],
    local_ip: Option<IpAddr>,
    deadline: Instant,
) -> Result<TcpStream, Error> {
    // An IPv4 local address cannot reach an IPv6 target and the reverse.
    let usable: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| local_ip.is_none_or(|ip| ip.is_ipv4() == a.is_ipv4()))
        .collect();
    if usable.is_empty() {
        let what = match local_ip {
            Some(ip) => format!("no address of the target matches local_ip {ip}"),
            None => "no address to connect to".to_owned(),
        };
        return Err(Error::new(ErrorKind::Tcp, what));
    }
    let order = interleave(&usable);
    let mut next = order.iter();
    let mut pending: Vec<(SocketAddr, Socket)> = Vec::new();
    let mut last: Option<Error> = None;
    let mut start_next_at = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(timed_out(&pending, last));
        }
        if pending.is_empty() || now >= start_next_at {
            if let Some(&addr) = next.next() {
                match start(addr, local_ip) {
                    Ok(s) => {
                        pending.push((addr, s));
                        start_next_at = Instant::now() + ATTEMPT_DELAY;
                    }
                    // Failed at once: the next attempt starts at once too.
                    Err(e) => last = Some(Error::io(ErrorKind::Tcp, format!("connect {addr}"), e)),
                }
                continue;
            }
            if pending.is_empty() {
                return Err(last.unwrap_or_else(|| {
                    Error::new(ErrorKind::Tcp, "deadline passed before connecting").timed_out()
                }));
            }
        }
        let more = next.len() > 0;
        let until = if more {
            start_next_at.min(deadline)
        } else {
            deadline
        };
        let wait = until.saturating_duration_since(Instant::now());
        let ready = wait_writable(&pending, wait)
            .map_err(|e| Error::io(ErrorKind::Tcp, "wait for the connection", e))?;
        // What became of each attempt that the poll reported: connected
        // (`Ok(true)`), failed, or not yet (`Ok(false)`, a spurious wake-up).
        let outcome: Vec<(usize, io::Result<bool>)> = (0..pending.len())
            .filter(|&i| ready[i])
            .map(|i| {
                let sock = &pending[i].1;
                let state = match sock.take_error() {
                    Ok(None) => Ok(sock.peer_addr().is_ok()),
                    Ok(Some(e)) | Err(e) => Err(e),
                };
                (i, state)
            })
            .collect();
        // The oldest connected attempt wins; the others are dropped.
        if let Some(&(i, _)) = outcome.iter().find(|(_, s)| matches!(s, Ok(true))) {
            let (addr, sock) = pending.swap_remove(i);
            return finish(sock)
                .map_err(|e| Error::io(ErrorKind::Tcp, format!("connect {addr}"), e));
        }
        let mut failed = false;
        for (i, state) in outcome.into_iter().rev() {
            if let Err(e) = state {
                let (addr, _) = pending.remove(i);
                last = Some(Error::io(ErrorKind::Tcp, format!("connect {addr}"), e));
                failed = true;
            }
        }
        if failed {
            // A failure starts the next attempt at once (RFC 8305 section 5).
            start_next_at = Instant::now();
        }
    }
}

/// The error when the deadline passed: the pending attempts timed out.
fn timed_out(pending: &[(SocketAddr, Socket)], last: Option<Error>) -> Error {
    let addrs: Vec<String> = pending.iter().map(|(a, _)| a.to_string()).collect();
    match (addrs.is_empty(), last) {
        (true, Some(e)) => e,
        (true, None) => Error::new(ErrorKind::Tcp, "deadline passed before connecting").timed_out(),
        (false, _) => Error::new(
            ErrorKind::Tcp,
            format!("connect {}: timed out", addrs.join(", ")),
        )
        .timed_out(),
    }
}

/// Starts a non-blocking connect to `addr`.
fn start(addr: SocketAddr, local_ip: Option<IpAddr>) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if let Some(ip) = local_ip {
        sock.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    }
    sock.set_nonblocking(true)?;
    match sock.connect(&SockAddr::from(addr)) {
        Ok(()) => Ok(sock),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {
            Ok(sock)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(sock),
        Err(e) => Err(e),
    }
}

/// Waits until one of the sockets is writable (connected or failed), at most
/// `wait`; which ones are.
fn wait_writable(pending: &[(SocketAddr, Socket)], wait: Duration) -> io::Result<Vec<bool>> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds: Vec<PollFd<'_>> = pending
        .iter()
        .map(|(_, s)| PollFd::new(s, PollFlags::OUT))
        .collect();
    let ts = Timespec::try_from(wait).ok();
    match poll(&mut fds, ts.as_ref()) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(fds.iter().map(|f| !f.revents().is_empty()).collect())
}

/// The winner: blocking again (the dial's deadline is armed per call on
/// it), with `TCP_NODELAY`.
fn finish(sock: Socket) -> io::Result<TcpStream> {
    sock.set_nonblocking(false)?;
    sock.set_tcp_nodelay(true)?;
    Ok(sock.into())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::net::TcpListener;

    thread_local! {
        /// What a name resolves to on this thread, for tests that need a
        /// name with several addresses (/etc/hosts may give `localhost` one).
        static HOSTS: RefCell<Vec<(String, Vec<IpAddr>)>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn resolved(host: &str, port: u16) -> Option<Vec<SocketAddr>> {
        HOSTS.with(|h| {
            h.borrow()
                .iter()
                .find(|(n, _)| n == host)
                .map(|(_, ips)| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
        })
    }

    /// Makes `host` resolve to `ips`, in this order, on this thread.
    pub(crate) fn set_hosts(host: &str, ips: Vec<IpAddr>) {
        HOSTS.with(|h| h.borrow_mut().push((host.to_owned(), ips)));
    }

    /// A listener on `ip` that never accepts and whose backlog is full, so
    /// that a new connection to it is never completed: a dead address that
    /// sends nothing back (no RST, no ICMP). Keep the guard alive.
    pub(crate) fn black_hole(ip: IpAddr, port: u16) -> (SocketAddr, Vec<Socket>) {
        let addr = SocketAddr::new(ip, port);
        let l = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
        if ip.is_ipv6() {
            l.set_only_v6(true).unwrap();
        }
        l.bind(&addr.into()).unwrap();
        l.listen(0).unwrap();
        let addr = l.local_addr().unwrap().as_socket().unwrap();
        let mut keep = vec![l];
        // Fill the backlog, until a connection stays pending.
        for _ in 0..8 {
            let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
            s.set_nonblocking(true).unwrap();
            let _ = s.connect(&addr.into());
            let done = wait_writable(
                &[(addr, s.try_clone().unwrap())],
                Duration::from_millis(200),
            )
            .unwrap()[0];
            keep.push(s);
            if !done {
                return (addr, keep);
            }
        }
        panic!("could not fill the backlog of {addr}");
    }

    fn v4(last: &str) -> SocketAddr {
        format!("127.0.0.{last}").parse().unwrap()
    }

    #[test]
    fn families_take_turns_starting_with_the_first() {
        let a6: SocketAddr = "[::1]:1".parse().unwrap();
        let b6: SocketAddr = "[::2]:1".parse().unwrap();
        let got = interleave(&[a6, b6, v4("1:1"), v4("2:1"), v4("3:1")]);
        assert_eq!(got, [a6, v4("1:1"), b6, v4("2:1"), v4("3:1")]);
        let got = interleave(&[v4("1:1"), a6, b6]);
        assert_eq!(got, [v4("1:1"), a6, b6]);
        assert!(interleave(&[]).is_empty());
    }

    #[test]
    fn a_dead_address_first_costs_one_attempt_delay_not_the_deadline() {
        let (dead, _keep) = black_hole(IpAddr::from([127, 0, 0, 1]), 0);
        let live = TcpListener::bind("127.0.0.1:0").unwrap();
        let live_addr = live.local_addr().unwrap();
        let t = Instant::now();
        let s = connect(&[dead, live_addr], None, t + Duration::from_secs(10)).unwrap();
        let took = t.elapsed();
        assert_eq!(s.peer_addr().unwrap(), live_addr);
        assert!(
            took >= Duration::from_millis(240) && took < Duration::from_millis(2000),
            "connected after {took:?}"
        );
        // The stream is blocking, with TCP_NODELAY, as the dial expects.
        assert!(s.nodelay().unwrap());
        // Only dead addresses: the deadline, not more, and a timeout error.
        let t = Instant::now();
        let e = connect(&[dead], None, t + Duration::from_millis(400)).unwrap_err();
        assert!(e.is_timeout(), "{e}");
        assert!(e.to_string().contains(&dead.to_string()), "{e}");
        assert!(t.elapsed() < Duration::from_millis(1500));
    }

    #[test]
    fn a_refused_address_starts_the_next_at_once() {
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let live = TcpListener::bind("127.0.0.1:0").unwrap();
        let t = Instant::now();
        let s = connect(
            &[closed, live.local_addr().unwrap()],
            None,
            t + Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(s.peer_addr().unwrap(), live.local_addr().unwrap());
        assert!(
            t.elapsed() < Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
        // Behind a pending dead one: the refusal does not wait out the delay.
        let (dead, _keep) = black_hole(IpAddr::from([127, 0, 0, 1]), 0);
        let t = Instant::now();
        let s = connect(
            &[dead, closed, live.local_addr().unwrap()],
            None,
            t + Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(s.peer_addr().unwrap(), live.local_addr().unwrap());
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(240) && took < Duration::from_millis(450),
            "{took:?}: the third attempt waited for the second's delay"
        );
        // All refused: the last refusal is the error.
        let e = connect(&[closed], None, t + Duration::from_secs(10)).unwrap_err();
        assert!(!e.is_timeout(), "{e}");
        assert!(e.to_string().contains(&format!("connect {closed}")), "{e}");
    }

    #[test]
    fn a_name_resolving_to_a_dead_and_a_live_address_dials_quickly() {
        // A WebSocket server on 127.0.0.1, and a black hole on ::1 at the
        // same port; the name resolves to ::1 first, as a resolver that
        // prefers IPv6 answers.
        let live = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = live.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (s, _) = live.accept().unwrap();
            let mut ws = tungstenite::accept(s).unwrap();
            ws.send(tungstenite::Message::text("live")).unwrap();
            while ws.read().is_ok() {}
        });
        assert!(
            TcpListener::bind("[::1]:0").is_ok(),
            "this test needs the IPv6 loopback address ::1"
        );
        let (_dead, _keep) = black_hole("::1".parse().unwrap(), port);
        let first: IpAddr = "::1".parse().unwrap();
        set_hosts("dual.test", vec![first, IpAddr::from([127, 0, 0, 1])]);
        let t = Instant::now();
        let c = crate::dial(&format!("ws://dual.test:{port}/|timeout=10000")).unwrap();
        let took = t.elapsed();
        assert!(took < Duration::from_millis(2000), "dialed in {took:?}");
        match c.read_timeout(Duration::from_secs(5)) {
            Some(crate::Event::Message(m)) => assert_eq!(m.as_text(), Some("live")),
            e => panic!("{e:?}"),
        }
    }
}
