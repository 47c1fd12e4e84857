//! Name resolution and TCP connect, each inside the dial deadline.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Instant;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{remaining, run_with_deadline};
use crate::error::{Error, ErrorKind};

/// Resolves `host:port`. An IP literal needs no lookup; a name is looked up on a
/// helper thread so that a slow resolver cannot outlive the deadline.
pub(crate) fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
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

/// Connects to the first address that answers, each with the time that is left;
/// binds `local_ip` first when given. `TCP_NODELAY` is on.
pub(crate) fn connect(
    addrs: &[SocketAddr],
    local_ip: Option<IpAddr>,
    deadline: Instant,
) -> Result<TcpStream, Error> {
    let mut last = None;
    for addr in addrs {
        // An IPv4 local address cannot reach an IPv6 target and the reverse.
        if local_ip.is_some_and(|ip| ip.is_ipv4() != addr.is_ipv4()) {
            continue;
        }
        let left = match remaining(deadline) {
            Some(d) => d,
            None => break,
        };
        match connect_one(addr, local_ip, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(Error::io(ErrorKind::Tcp, format!("connect {addr}"), e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        let what = match local_ip {
            Some(ip) => format!("no address of the target matches local_ip {ip}"),
            None => "deadline passed before connecting".to_owned(),
        };
        let e = Error::new(ErrorKind::Tcp, what);
        if local_ip.is_some() {
            e
        } else {
            e.timed_out()
        }
    }))
}

fn connect_one(
    addr: &SocketAddr,
    local_ip: Option<IpAddr>,
    left: std::time::Duration,
) -> io::Result<TcpStream> {
    let sock = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if let Some(ip) = local_ip {
        sock.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    }
    sock.connect_timeout(&SockAddr::from(*addr), left)?;
    sock.set_tcp_nodelay(true)?;
    Ok(sock.into())
}
