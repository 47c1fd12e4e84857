//! TLS with native-tls: system roots, SNI, `insecure`, `ca`, and a client
//! identity (`cert` and `key`).

use std::io::{self, Read, Write};
use std::time::Instant;

use std::path::Path;

use native_tls::{Certificate, HandshakeError, Identity, TlsConnector, TlsStream};

use super::remaining;
use crate::error::{Error, ErrorKind};
use crate::options::Options;

/// Builds the connector once per connection (reused for every reconnect).
pub(crate) fn connector(opts: &Options) -> Result<TlsConnector, Error> {
    let mut b = TlsConnector::builder();
    if opts.insecure {
        b.danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true);
    }
    if let Some(path) = &opts.ca {
        let pem = std::fs::read(path).map_err(|e| {
            Error::io(
                ErrorKind::Tls,
                format!("read ca file {}", path.display()),
                e,
            )
        })?;
        let certs = pem_certificates(&pem)
            .map_err(|e| Error::new(ErrorKind::Tls, format!("ca file {}: {e}", path.display())))?;
        for c in certs {
            b.add_root_certificate(c);
        }
    }
    let mut with = String::new();
    if let (Some(cert), Some(key)) = (&opts.cert, &opts.key) {
        b.identity(identity(cert, key)?);
        with = format!(" with cert {} and key {}", cert.display(), key.display());
    }
    // OpenSSL checks here that the key is the certificate's.
    b.build()
        .map_err(|e| Error::new(ErrorKind::Tls, format!("set up TLS{with}: {e}")).with_source(e))
}

/// The client identity of `cert` (PEM: the certificate, then its chain) and
/// `key` (PEM, PKCS#8 as native-tls reads it on every platform). Each error
/// names the file and says what it should hold.
fn identity(cert: &Path, key: &Path) -> Result<Identity, Error> {
    let read = |what: &str, p: &Path| {
        std::fs::read(p).map_err(|e| {
            Error::io(
                ErrorKind::Tls,
                format!("read {what} file {}", p.display()),
                e,
            )
        })
    };
    let (c, k) = (read("cert", cert)?, read("key", key)?);
    let bad = |what: &str, p: &Path, why: &str| {
        Err(Error::new(
            ErrorKind::Tls,
            format!("{what} file {}: {why}", p.display()),
        ))
    };
    if !contains(&c, b"-----BEGIN CERTIFICATE-----") {
        return bad(
            "cert",
            cert,
            "no certificate found (expected a PEM file with -----BEGIN CERTIFICATE-----)",
        );
    }
    if !contains(&k, b"-----BEGIN PRIVATE KEY-----") {
        let kind = [
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----", "an encrypted key"),
            (
                "-----BEGIN RSA PRIVATE KEY-----",
                "an RSA key in the traditional form",
            ),
            (
                "-----BEGIN EC PRIVATE KEY-----",
                "an EC key in the traditional form",
            ),
        ]
        .iter()
        .find(|(head, _)| contains(&k, head.as_bytes()))
        .map(|(_, kind)| format!("{kind}; "))
        .unwrap_or_default();
        return bad(
            "key",
            key,
            &format!(
                "{kind}a PEM PKCS#8 key without a password is needed (-----BEGIN PRIVATE KEY-----): \
                 `openssl pkcs8 -topk8 -nocrypt -in {} -out key.pem` makes one",
                key.display()
            ),
        );
    }
    Identity::from_pkcs8(&c, &k).map_err(|e| {
        Error::new(
            ErrorKind::Tls,
            format!(
                "cert file {} and key file {}: {e}",
                cert.display(),
                key.display()
            ),
        )
        .with_source(e)
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every certificate of a PEM bundle (native-tls reads one at a time).
fn pem_certificates(pem: &[u8]) -> Result<Vec<Certificate>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not a PEM file (not text)".to_owned())?;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let end = rest[start..]
            .find(END)
            .ok_or("a certificate has no END line")?
            + start
            + END.len();
        let cert =
            Certificate::from_pem(&rest.as_bytes()[start..end]).map_err(|e| e.to_string())?;
        out.push(cert);
        rest = &rest[end..];
    }
    if out.is_empty() {
        return Err("no certificate found (expected -----BEGIN CERTIFICATE-----)".into());
    }
    Ok(out)
}

/// Runs the TLS handshake; the stream's own deadline bounds it.
pub(crate) fn handshake<S: Read + Write>(
    connector: &TlsConnector,
    host: &str,
    stream: S,
    deadline: Instant,
) -> Result<TlsStream<S>, Error> {
    connector.connect(host, stream).map_err(|e| match e {
        HandshakeError::Failure(e) if timed_out(&e) || remaining(deadline).is_none() => {
            Error::new(ErrorKind::Tls, format!("handshake with {host}: timed out"))
                .with_source(e)
                .timed_out()
        }
        HandshakeError::Failure(e) => {
            Error::new(ErrorKind::Tls, format!("handshake with {host}: {e}")).with_source(e)
        }
        HandshakeError::WouldBlock(_) => {
            Error::new(ErrorKind::Tls, format!("handshake with {host}: timed out")).timed_out()
        }
    })
}

/// True when a TLS failure was a socket read or write that timed out: an
/// [`io::Error`] of kind `TimedOut` (what [`Timed`](super::Timed) makes of a
/// spent deadline) or `WouldBlock` somewhere in its chain of sources. native-tls
/// passes the socket's error up as the source (OpenSSL: `ssl::Error` -> `io::Error`).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if matches!(
                io.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) {
                return true;
            }
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket whose every read fails with `kind`, or answers `reply` once.
    #[derive(Debug)]
    struct Fake {
        kind: Option<io::ErrorKind>,
        reply: &'static [u8],
    }

    impl Read for Fake {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.kind {
                Some(k) => Err(k.into()),
                None => {
                    let n = self.reply.len().min(buf.len());
                    buf[..n].copy_from_slice(&self.reply[..n]);
                    self.reply = &self.reply[n..];
                    Ok(n)
                }
            }
        }
    }

    impl Write for Fake {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn dial(kind: Option<io::ErrorKind>, reply: &'static [u8]) -> Error {
        let c = connector(&Options::default()).unwrap();
        let later = Instant::now() + std::time::Duration::from_secs(60);
        handshake(&c, "localhost", Fake { kind, reply }, later).unwrap_err()
    }

    #[test]
    fn a_socket_timeout_is_a_tls_timeout() {
        for kind in [io::ErrorKind::TimedOut, io::ErrorKind::WouldBlock] {
            let e = dial(Some(kind), b"");
            assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
            assert!(e.is_timeout(), "{kind:?}: {e}");
            assert_eq!(
                e.to_string(),
                "tls failed: handshake with localhost: timed out"
            );
        }
    }

    #[test]
    fn other_failures_are_not_timeouts() {
        let e = dial(Some(io::ErrorKind::ConnectionReset), b"");
        assert!(!e.is_timeout(), "{e}");
        // a plain HTTP server's answer, whatever its text says
        let e = dial(None, b"HTTP/1.1 400 timed out\r\n\r\n");
        assert!(!e.is_timeout(), "{e}");
        assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    }

    #[test]
    fn a_failure_after_the_deadline_is_a_timeout() {
        let c = connector(&Options::default()).unwrap();
        let fake = Fake {
            kind: Some(io::ErrorKind::ConnectionReset),
            reply: b"",
        };
        let e = handshake(&c, "localhost", fake, Instant::now()).unwrap_err();
        assert!(e.is_timeout(), "{e}");
    }
}
