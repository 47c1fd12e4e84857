//! TLS with native-tls: system roots, SNI, `insecure` and `ca`.

use std::io::{Read, Write};

use native_tls::{Certificate, HandshakeError, TlsConnector, TlsStream};

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
    b.build()
        .map_err(|e| Error::new(ErrorKind::Tls, format!("set up TLS: {e}")).with_source(e))
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
) -> Result<TlsStream<S>, Error> {
    connector.connect(host, stream).map_err(|e| match e {
        HandshakeError::Failure(e) => {
            let msg = e.to_string();
            let timeout =
                msg.contains("timed out") || msg.contains("Resource temporarily unavailable");
            let err =
                Error::new(ErrorKind::Tls, format!("handshake with {host}: {msg}")).with_source(e);
            if timeout {
                err.timed_out()
            } else {
                err
            }
        }
        HandshakeError::WouldBlock(_) => {
            Error::new(ErrorKind::Tls, format!("handshake with {host}: timed out")).timed_out()
        }
    })
}
