//! Through a proxy, inside the dial deadline: SOCKS5 and SOCKS5h with the
//! `socks` crate, and HTTP `CONNECT` with Basic auth.
//!
//! The `socks` crate opens its own socket and has no timeouts, so (as ureq does)
//! it runs on a helper thread and the dial waits for it until the deadline. A
//! proxy that accepts and then never answers fails the dial at the deadline;
//! the helper thread ends when the operating system gives up on that socket.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use data_encoding::BASE64;

use super::{remaining, run_with_deadline, tcp, Timed};
use crate::error::{Error, ErrorKind};
use crate::proxy::{Proxy, ProxyKind};

/// A TCP stream to `host:port` through `proxy`.
pub(crate) fn connect(
    proxy: &Proxy,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<TcpStream, Error> {
    let proxy_addrs = tcp::resolve(proxy.host(), proxy.port(), deadline)
        .map_err(|e| Error::new(ErrorKind::Proxy, format!("proxy {proxy}: {e}")))?;
    match proxy.kind() {
        ProxyKind::Socks5 | ProxyKind::Socks5h => socks5(proxy, proxy_addrs, host, port, deadline),
        ProxyKind::Http => http_connect(proxy, &proxy_addrs, host, port, deadline),
    }
}

fn socks5(
    proxy: &Proxy,
    proxy_addrs: Vec<SocketAddr>,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<TcpStream, Error> {
    // socks5: the name is resolved here and the proxy gets an address;
    // socks5h: the name goes to the proxy.
    let target = match proxy.kind() {
        ProxyKind::Socks5 => socks::TargetAddr::Ip(tcp::resolve(host, port, deadline)?[0]),
        _ => match host.parse() {
            Ok(ip) => socks::TargetAddr::Ip(SocketAddr::new(ip, port)),
            Err(_) => socks::TargetAddr::Domain(host.to_owned(), port),
        },
    };
    let auth = match (proxy.user(), proxy.password()) {
        (Some(u), p) => Some((u.to_owned(), p.unwrap_or("").to_owned())),
        _ => None,
    };
    let has_auth = auth.is_some();
    let work = move || match &auth {
        Some((u, p)) => socks::Socks5Stream::connect_with_password(&proxy_addrs[..], target, u, p),
        None => socks::Socks5Stream::connect(&proxy_addrs[..], target),
    };
    let stream = match run_with_deadline(work, deadline) {
        None => {
            return Err(Error::new(
                ErrorKind::Proxy,
                format!("proxy {proxy} did not answer before the deadline"),
            )
            .timed_out())
        }
        Some(Err(e)) => return Err(socks_error(proxy, has_auth, e)),
        Some(Ok(s)) => s.into_inner(),
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// What a `socks` crate error means, in words that say what happened.
fn socks_error(proxy: &Proxy, has_auth: bool, e: io::Error) -> Error {
    let msg = e.to_string();
    let what = match e.kind() {
        io::ErrorKind::ConnectionRefused => "is down (connection refused)".to_owned(),
        io::ErrorKind::PermissionDenied => "rejected the user name or password".to_owned(),
        _ if msg.contains("no acceptable auth") && !has_auth => {
            "requires a user name and password, and the address has none".to_owned()
        }
        _ if msg.contains("no acceptable auth") => {
            "accepts none of the offered authentication methods".to_owned()
        }
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => {
            format!("closed the connection during the SOCKS handshake ({msg})")
        }
        _ => format!("refused the connection: {msg}"),
    };
    Error::new(ErrorKind::Proxy, format!("SOCKS5 proxy {proxy} {what}")).with_source(e)
}

fn http_connect(
    proxy: &Proxy,
    proxy_addrs: &[SocketAddr],
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<TcpStream, Error> {
    let tcp = tcp::connect(proxy_addrs, None, deadline).map_err(|e| {
        let down = if e.is_timeout() {
            "did not accept a connection before the deadline"
        } else {
            "is down"
        };
        Error::new(ErrorKind::Proxy, format!("HTTP proxy {proxy} {down}: {e}"))
    })?;
    let mut s = Timed::new(tcp, deadline);
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(u) = proxy.user() {
        let cred = BASE64.encode(format!("{u}:{}", proxy.password().unwrap_or("")).as_bytes());
        req += &format!("Proxy-Authorization: Basic {cred}\r\n");
    }
    req += "\r\n";
    let io_err = |e: io::Error| {
        let timeout = e.kind() == io::ErrorKind::TimedOut;
        let err = Error::io(ErrorKind::Proxy, format!("HTTP proxy {proxy}"), e);
        if timeout {
            err.timed_out()
        } else {
            err
        }
    };
    s.write_all(req.as_bytes()).map_err(io_err)?;
    // Read the answer's head byte by byte: nothing after it may be consumed.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(Error::new(
                ErrorKind::Proxy,
                format!("HTTP proxy {proxy} sent an endless answer"),
            ));
        }
        match s.read(&mut byte).map_err(io_err)? {
            0 => {
                return Err(Error::new(
                    ErrorKind::Proxy,
                    format!("HTTP proxy {proxy} closed the connection without answering CONNECT"),
                ))
            }
            _ => head.push(byte[0]),
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let status = match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) => resp.code.unwrap_or(0),
        _ => {
            return Err(Error::new(
                ErrorKind::Proxy,
                format!("HTTP proxy {proxy} sent an answer that is not HTTP"),
            ))
        }
    };
    let reason = resp.reason.unwrap_or("").to_owned();
    match status {
        200..=299 => {}
        // 407 is the standard answer; some proxies (tinyproxy) send 401 instead.
        401 | 407 if proxy.user().is_none() => {
            return Err(Error::new(ErrorKind::Proxy, format!("HTTP proxy {proxy} requires a user name and password ({status}), and the address has none")).with_status(status))
        }
        401 | 407 => return Err(Error::new(ErrorKind::Proxy, format!("HTTP proxy {proxy} rejected the user name or password ({status})")).with_status(status)),
        code => {
            return Err(Error::new(ErrorKind::Proxy, format!("HTTP proxy {proxy} refused CONNECT {authority}: {code} {reason}")).with_status(code))
        }
    }
    if remaining(deadline).is_none() {
        return Err(Error::new(
            ErrorKind::Proxy,
            format!("HTTP proxy {proxy}: deadline passed"),
        )
        .timed_out());
    }
    Ok(s.into_inner())
}
