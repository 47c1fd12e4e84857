//! The `proxy=` option: which proxy, and how to reach the target through it.

use std::fmt;

use percent_encoding::percent_decode_str;

/// The kind of proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    /// SOCKS5; the target's name is resolved locally and the proxy gets an IP.
    Socks5,
    /// SOCKS5; the target's name is sent to the proxy, which resolves it.
    Socks5h,
    /// An HTTP proxy, used through a `CONNECT` tunnel.
    Http,
}

/// A proxy parsed from `socks5://[user:pwd@]host:port`, `socks5h://…` or
/// `http://[user:pwd@]host:port`. User and password are percent-decoded
/// (`p%40ss` is `p@ss`).
///
/// ```
/// let p = wsdial::Proxy::parse("socks5://user:p%40ss@127.0.0.1:1080").unwrap();
/// assert_eq!(p.user(), Some("user"));
/// assert_eq!(p.password(), Some("p@ss"));
/// assert_eq!(p.port(), 1080);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
}

impl Proxy {
    /// Parses a proxy URL; the error says what is accepted.
    pub fn parse(s: &str) -> Result<Proxy, String> {
        let accepted = "accepted: socks5://[user:pwd@]host:port, socks5h://[user:pwd@]host:port, http://[user:pwd@]host:port";
        let url = url::Url::parse(s)
            .map_err(|e| format!("proxy `{s}` is not a URL ({e}); {accepted}"))?;
        let kind = match url.scheme() {
            "socks5" => ProxyKind::Socks5,
            "socks5h" => ProxyKind::Socks5h,
            "http" => ProxyKind::Http,
            other => {
                return Err(format!(
                    "proxy scheme `{other}` is not supported; {accepted}"
                ))
            }
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(h) => h.to_string(),
            None => return Err(format!("proxy `{s}` has no host; {accepted}")),
        };
        let port = match (url.port(), kind) {
            (Some(p), _) => p,
            (None, ProxyKind::Http) => 80,
            (None, _) => 1080,
        };
        let decode = |v: &str| percent_decode_str(v).decode_utf8_lossy().into_owned();
        let user = (!url.username().is_empty()).then(|| decode(url.username()));
        let password = url.password().map(decode);
        Ok(Proxy {
            kind,
            host,
            port,
            user,
            password,
        })
    }

    /// SOCKS5, SOCKS5h or HTTP.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port (1080 for SOCKS, 80 for HTTP when not written).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name, decoded.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password, decoded.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The scheme as written in a proxy URL.
    pub fn scheme(&self) -> &'static str {
        match self.kind {
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
            ProxyKind::Http => "http",
        }
    }
}

/// Shows the proxy with its password hidden.
impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme())?;
        if let Some(u) = &self.user {
            write!(f, "{u}")?;
            if self.password.is_some() {
                write!(f, ":***")?;
            }
            write!(f, "@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_defaults() {
        let p = Proxy::parse("socks5h://127.0.0.1").unwrap();
        assert_eq!(
            (p.kind(), p.port(), p.user()),
            (ProxyKind::Socks5h, 1080, None)
        );
        let p = Proxy::parse("http://a:b@[::1]:8888").unwrap();
        assert_eq!(
            (p.kind(), p.host(), p.port()),
            (ProxyKind::Http, "::1", 8888)
        );
        assert_eq!(format!("{p}"), "http://a:***@[::1]:8888");
    }

    #[test]
    fn bad_scheme_lists_accepted() {
        let e = Proxy::parse("socks4://h:1").unwrap_err();
        assert!(e.contains("socks4") && e.contains("socks5h://"), "{e}");
    }
}
