//! Through a proxy, inside the dial deadline: SOCKS5 and SOCKS5h (RFC 1928,
//! with RFC 1929 user/password), and HTTP `CONNECT` with Basic auth.
//!
//! Both are spoken here over a [`Timed`] socket, so every read and write waits
//! at most until the dial deadline, and a refusal is told from the bytes the
//! proxy sent (the SOCKS method it chose, its RFC 1929 status, its CONNECT
//! reply code; the HTTP status), never from the text of an error.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Instant;

use data_encoding::BASE64;

use super::{remaining, tcp, Timed};
use crate::error::{Error, ErrorKind};
use crate::proxy::{Proxy, ProxyKind};

/// A TCP stream to `host:port` through `proxy`.
pub(crate) fn connect(
    proxy: &Proxy,
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<TcpStream, Error> {
    let proxy_addrs = tcp::resolve(proxy.host(), proxy.port(), deadline).map_err(|e| {
        let timeout = e.is_timeout();
        let err = Error::new(ErrorKind::Proxy, format!("proxy {proxy}: {e}")).with_source(e);
        if timeout {
            err.timed_out()
        } else {
            err
        }
    })?;
    match proxy.kind() {
        ProxyKind::Socks5 | ProxyKind::Socks5h => socks5(proxy, &proxy_addrs, host, port, deadline),
        ProxyKind::Http => http_connect(proxy, &proxy_addrs, host, port, deadline),
    }
}

/// The TCP connection to the proxy itself; `label` is `SOCKS5` or `HTTP`.
fn reach(
    proxy: &Proxy,
    label: &str,
    addrs: &[SocketAddr],
    deadline: Instant,
) -> Result<Timed<TcpStream>, Error> {
    match tcp::connect(addrs, None, deadline) {
        Ok(s) => Ok(Timed::new(s, deadline)),
        Err(e) if e.is_timeout() => Err(Error::new(
            ErrorKind::Proxy,
            format!("{label} proxy {proxy} did not accept a connection before the deadline: {e}"),
        )
        .with_source(e)
        .timed_out()),
        Err(e) => Err(Error::new(
            ErrorKind::Proxy,
            format!("{label} proxy {proxy} is down: {e}"),
        )
        .with_source(e)),
    }
}

/// The target as a SOCKS5 request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SocksTarget<'a> {
    Ip(SocketAddr),
    Domain(&'a str, u16),
}

fn socks5(
    proxy: &Proxy,
    proxy_addrs: &[SocketAddr],
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<TcpStream, Error> {
    // socks5: the name is resolved here and the proxy gets an address;
    // socks5h: the name goes to the proxy.
    let target = match (proxy.kind(), host.parse::<IpAddr>()) {
        (_, Ok(ip)) => SocksTarget::Ip(SocketAddr::new(ip, port)),
        (ProxyKind::Socks5, Err(_)) => SocksTarget::Ip(tcp::resolve(host, port, deadline)?[0]),
        (_, Err(_)) if host.len() > 255 => {
            return Err(Error::address(
                Some("proxy"),
                format!(
                    "the host name is {} bytes; a socks5h:// proxy is sent at most 255 (socks5:// resolves it here instead)",
                    host.len()
                ),
            ))
        }
        (_, Err(_)) => SocksTarget::Domain(host, port),
    };
    let auth = proxy.user().map(|u| (u, proxy.password().unwrap_or("")));
    let mut s = reach(proxy, "SOCKS5", proxy_addrs, deadline)?;
    match socks5_handshake(&mut s, auth, &target) {
        Ok(()) => Ok(s.into_inner()),
        Err(Socks5Failure::Refused(r)) => Err(Error::new(
            ErrorKind::Proxy,
            format!("SOCKS5 proxy {proxy} {}", r.describe(host, port)),
        )),
        Err(Socks5Failure::Io(e)) => Err(proxy_io_error(proxy, "SOCKS5", e)),
    }
}

/// A read or write to the proxy failed: the deadline, the proxy hanging up,
/// or another socket error.
fn proxy_io_error(proxy: &Proxy, label: &str, e: io::Error) -> Error {
    let what = match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            return Error::new(
                ErrorKind::Proxy,
                format!("{label} proxy {proxy} did not answer before the deadline"),
            )
            .with_source(e)
            .timed_out()
        }
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => {
            format!("{label} proxy {proxy} closed the connection before the tunnel was open")
        }
        _ => format!("{label} proxy {proxy}: {e}"),
    };
    Error::new(ErrorKind::Proxy, what).with_source(e)
}

/// Why a SOCKS5 proxy opened no tunnel, from the bytes it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Socks5Refusal {
    /// It chose no method (`0xff`) and the address has no credentials.
    NeedsCredentials,
    /// It chose no method (`0xff`) though user/password was offered too.
    NoAcceptableMethod,
    /// Its RFC 1929 status was not 0.
    CredentialsRejected,
    /// Its CONNECT reply code (RFC 1928 section 6) was not 0.
    Connect(u8),
    /// It sent something that is not SOCKS5: which field, and the byte.
    BadReply(&'static str, u8),
}

impl Socks5Refusal {
    fn describe(self, host: &str, port: u16) -> String {
        match self {
            Socks5Refusal::NeedsCredentials => {
                "requires a user name and password, and the address has none".to_owned()
            }
            Socks5Refusal::NoAcceptableMethod => {
                "accepts none of the offered authentication methods (none, user name and password)"
                    .to_owned()
            }
            Socks5Refusal::CredentialsRejected => "rejected the user name or password".to_owned(),
            Socks5Refusal::Connect(code) => {
                let why = match code {
                    1 => "general SOCKS server failure",
                    2 => "connection not allowed by its rules",
                    3 => "network unreachable",
                    4 => "host unreachable",
                    5 => "connection refused by the target",
                    6 => "TTL expired",
                    7 => "command not supported",
                    8 => "address type not supported",
                    _ => "unknown reply code",
                };
                let target = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                format!("could not connect to {target}: {why} (reply {code})")
            }
            Socks5Refusal::BadReply(field, byte) => {
                format!("sent a reply that is not SOCKS5 ({field} {byte:#04x})")
            }
        }
    }
}

enum Socks5Failure {
    Refused(Socks5Refusal),
    Io(io::Error),
}

impl From<io::Error> for Socks5Failure {
    fn from(e: io::Error) -> Socks5Failure {
        Socks5Failure::Io(e)
    }
}

impl From<Socks5Refusal> for Socks5Failure {
    fn from(r: Socks5Refusal) -> Socks5Failure {
        Socks5Failure::Refused(r)
    }
}

const NO_AUTH: u8 = 0x00;
const USER_PASSWORD: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xff;

/// Opens a SOCKS5 tunnel to `target` on `s` (RFC 1928 CONNECT, with RFC 1929
/// user/password when `auth` is given and the proxy chooses it). Reads exactly
/// the proxy's replies: what follows is the target's.
fn socks5_handshake<S: Read + Write>(
    s: &mut S,
    auth: Option<(&str, &str)>,
    target: &SocksTarget<'_>,
) -> Result<(), Socks5Failure> {
    // Greeting: version 5 and the methods offered.
    match auth {
        Some(_) => s.write_all(&[5, 2, NO_AUTH, USER_PASSWORD])?,
        None => s.write_all(&[5, 1, NO_AUTH])?,
    }
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply)?;
    if reply[0] != 5 {
        return Err(Socks5Refusal::BadReply("method reply version", reply[0]).into());
    }
    match (reply[1], auth) {
        (NO_AUTH, _) => {}
        (USER_PASSWORD, Some((user, password))) => {
            // Proxy::parse keeps both within 255 bytes.
            let (u, p) = (user.as_bytes(), password.as_bytes());
            let mut req = Vec::with_capacity(3 + u.len() + p.len());
            req.push(1);
            req.push(u8::try_from(u.len()).unwrap_or(u8::MAX));
            req.extend_from_slice(&u[..u.len().min(255)]);
            req.push(u8::try_from(p.len()).unwrap_or(u8::MAX));
            req.extend_from_slice(&p[..p.len().min(255)]);
            s.write_all(&req)?;
            s.read_exact(&mut reply)?;
            // reply[0] is the subnegotiation version (1); some proxies send 5
            // there, and curl accepts that too: only the status counts.
            if reply[1] != 0 {
                return Err(Socks5Refusal::CredentialsRejected.into());
            }
        }
        (NO_ACCEPTABLE, None) => return Err(Socks5Refusal::NeedsCredentials.into()),
        (NO_ACCEPTABLE, Some(_)) => return Err(Socks5Refusal::NoAcceptableMethod.into()),
        (other, _) => {
            return Err(Socks5Refusal::BadReply("method not offered", other).into());
        }
    }
    // CONNECT request: version, command 1, reserved, the address, the port.
    let mut req = vec![5, 1, 0];
    let port = match target {
        SocksTarget::Ip(SocketAddr::V4(a)) => {
            req.push(1);
            req.extend_from_slice(&a.ip().octets());
            a.port()
        }
        SocksTarget::Ip(SocketAddr::V6(a)) => {
            req.push(4);
            req.extend_from_slice(&a.ip().octets());
            a.port()
        }
        SocksTarget::Domain(name, port) => {
            // socks5() refuses longer names before connecting.
            let name = &name.as_bytes()[..name.len().min(255)];
            req.push(3);
            req.push(name.len() as u8);
            req.extend_from_slice(name);
            *port
        }
    };
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req)?;
    // Reply: version, code, reserved, the bound address, its port.
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    if head[0] != 5 {
        return Err(Socks5Refusal::BadReply("CONNECT reply version", head[0]).into());
    }
    if head[1] != 0 {
        return Err(Socks5Refusal::Connect(head[1]).into());
    }
    let addr_len = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut n = [0u8; 1];
            s.read_exact(&mut n)?;
            usize::from(n[0])
        }
        other => return Err(Socks5Refusal::BadReply("CONNECT reply address type", other).into()),
    };
    let mut bound = [0u8; 255 + 2];
    s.read_exact(&mut bound[..addr_len + 2])?;
    Ok(())
}

fn http_connect(
    proxy: &Proxy,
    proxy_addrs: &[SocketAddr],
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<TcpStream, Error> {
    let mut s = reach(proxy, "HTTP", proxy_addrs, deadline)?;
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
    let io_err = |e: io::Error| proxy_io_error(proxy, "HTTP", e);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A proxy that answers with `input` (then EOF) and records what it got.
    struct Script {
        input: io::Cursor<Vec<u8>>,
        got: Vec<u8>,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.got.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const V4: SocksTarget<'static> = SocksTarget::Ip(SocketAddr::new(
        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        8080,
    ));
    /// A CONNECT success reply (bound to 127.0.0.1:8080).
    const OK: [u8; 10] = [5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];

    fn run(
        input: &[u8],
        auth: Option<(&str, &str)>,
        target: &SocksTarget<'_>,
    ) -> (Result<(), Socks5Failure>, Script) {
        let mut s = Script {
            input: io::Cursor::new(input.to_vec()),
            got: Vec::new(),
        };
        let r = socks5_handshake(&mut s, auth, target);
        (r, s)
    }

    fn refusal(input: &[u8], auth: Option<(&str, &str)>) -> Socks5Refusal {
        match run(input, auth, &V4).0 {
            Err(Socks5Failure::Refused(r)) => r,
            Err(Socks5Failure::Io(e)) => panic!("expected a refusal, got {e}"),
            Ok(()) => panic!("expected a refusal, got a tunnel"),
        }
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn a_tunnel_without_auth_reads_exactly_the_replies() {
        let input = cat(&[&[5, NO_AUTH], &OK, b"from the target"]);
        let (r, s) = run(&input, None, &V4);
        assert!(r.is_ok());
        assert_eq!(s.got, [5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]);
        let rest = &s.input.get_ref()[s.input.position() as usize..];
        assert_eq!(rest, b"from the target", "nothing of the tunnel was read");
    }

    #[test]
    fn user_password_and_a_name_for_the_proxy_to_resolve() {
        let input = cat(&[
            &[5, USER_PASSWORD, 1, 0],
            &[5, 0, 0, 3, 4],
            b"name",
            &[0, 80],
            b"!",
        ]);
        let target = SocksTarget::Domain("example.test", 443);
        let (r, s) = run(&input, Some(("al", "pw1")), &target);
        assert!(r.is_ok());
        let want = cat(&[
            &[5, 2, NO_AUTH, USER_PASSWORD],
            &[1, 2],
            b"al",
            &[3],
            b"pw1",
            &[5, 1, 0, 3, 12],
            b"example.test",
            &[1, 0xbb],
        ]);
        assert_eq!(s.got, want);
        assert_eq!(s.input.position() as usize, input.len() - 1);
        // an IPv6 target, and a bound IPv6 address in the reply
        let v6 = SocksTarget::Ip("[::1]:9".parse().unwrap());
        let input = cat(&[&[5, NO_AUTH, 5, 0, 0, 4], &[0; 18]]);
        let (r, s) = run(&input, None, &v6);
        assert!(r.is_ok());
        assert_eq!(s.got[3..7], [5, 1, 0, 4]);
        assert_eq!(s.got.len(), 3 + 4 + 16 + 2);
    }

    #[test]
    fn each_refusal_is_told_by_its_byte() {
        let creds = Some(("u", "p"));
        assert_eq!(refusal(&[5, 0xff], None), Socks5Refusal::NeedsCredentials);
        assert_eq!(
            refusal(&[5, 0xff], creds),
            Socks5Refusal::NoAcceptableMethod
        );
        assert_eq!(
            refusal(&[5, USER_PASSWORD, 1, 1], creds),
            Socks5Refusal::CredentialsRejected
        );
        for code in 1..=9u8 {
            let r = refusal(&[5, 0, 5, code, 0, 1, 0, 0, 0, 0, 0, 0], None);
            assert_eq!(r, Socks5Refusal::Connect(code));
        }
        // an HTTP server taken for a SOCKS5 proxy
        assert_eq!(
            refusal(b"HTTP/1.1 400 Bad Request\r\n\r\n", None),
            Socks5Refusal::BadReply("method reply version", b'H')
        );
        // a method that was not offered
        assert_eq!(
            refusal(&[5, USER_PASSWORD], None),
            Socks5Refusal::BadReply("method not offered", USER_PASSWORD)
        );
        assert_eq!(
            refusal(&[5, 0, 4, 0, 0, 1], None),
            Socks5Refusal::BadReply("CONNECT reply version", 4)
        );
        assert_eq!(
            refusal(&[5, 0, 5, 0, 0, 9], None),
            Socks5Refusal::BadReply("CONNECT reply address type", 9)
        );
    }

    #[test]
    fn a_proxy_that_hangs_up_midway_is_an_io_error() {
        for cut in [0, 1, 2, 5, 9, 11] {
            let input = cat(&[&[5, NO_AUTH], &OK]);
            match run(&input[..cut], None, &V4).0 {
                Err(Socks5Failure::Io(e)) => {
                    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}")
                }
                _ => panic!("cut at {cut}: expected an i/o error"),
            }
        }
    }

    #[test]
    fn refusals_say_what_happened() {
        let say = |r: Socks5Refusal| r.describe("::1", 443);
        assert_eq!(
            say(Socks5Refusal::Connect(4)),
            "could not connect to [::1]:443: host unreachable (reply 4)"
        );
        assert_eq!(
            say(Socks5Refusal::BadReply("method reply version", b'H')),
            "sent a reply that is not SOCKS5 (method reply version 0x48)"
        );
        assert!(say(Socks5Refusal::NeedsCredentials).contains("requires a user name and password"));
        assert!(
            say(Socks5Refusal::CredentialsRejected).contains("rejected the user name or password")
        );
    }
}
