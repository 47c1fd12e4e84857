//! The `proxy=` option: which proxy, and how to reach the target through it.

use std::fmt;

use percent_encoding::percent_decode_str;

use crate::error::Error;

/// What `proxy` accepts, as said in its errors.
const ACCEPTED: &str = "accepted: socks5://[user:pwd@]host:port, socks5h://[user:pwd@]host:port, http://[user:pwd@]host:port";

/// A proxy URL as shown in a message: everything between the first `:` of
/// the user info and the last `@` as `***`. Badly written input may have a
/// raw `/`, `?`, `#` or `@` in its password, so the last `@` counts, even at
/// the cost of hiding a part of a path.
fn redact(s: &str) -> String {
    let Some(i) = s.find("://") else {
        return s.to_owned();
    };
    let (head, after) = s.split_at(i + 3);
    match after.rfind('@') {
        Some(at) => match after[..at].split_once(':') {
            Some((user, _)) => format!("{head}{user}:***{}", &after[at..]),
            None => s.to_owned(),
        },
        None => s.to_owned(),
    }
}

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
    /// Parses a proxy URL. Bad input is an [`ErrorKind::Address`](crate::ErrorKind::Address)
    /// error whose [`key`](Error::key) is `proxy` and whose message says what
    /// was wrong and what is accepted (with any password in it hidden).
    ///
    /// ```
    /// let e = wsdial::Proxy::parse("socks4://127.0.0.1:1080").unwrap_err();
    /// assert_eq!(e.kind(), wsdial::ErrorKind::Address);
    /// assert_eq!(e.key(), Some("proxy"));
    /// assert!(e.to_string().contains("socks5h://[user:pwd@]host:port"));
    /// ```
    pub fn parse(s: &str) -> Result<Proxy, Error> {
        let bad = |why: String| Error::address(Some("proxy"), format!("{why}; {ACCEPTED}"));
        let shown = redact(s);
        let url =
            url::Url::parse(s).map_err(|e| bad(format!("proxy `{shown}` is not a URL ({e})")))?;
        let kind = match url.scheme() {
            "socks5" => ProxyKind::Socks5,
            "socks5h" => ProxyKind::Socks5h,
            "http" => ProxyKind::Http,
            other => return Err(bad(format!("proxy scheme `{other}` is not supported"))),
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(h) => h.to_string(),
            None => return Err(bad(format!("proxy `{shown}` has no host"))),
        };
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(format!(
                "proxy `{shown}` has a path, query or fragment after host:port"
            )));
        }
        let port = match (url.port(), kind) {
            (Some(p), _) => p,
            (None, ProxyKind::Http) => 80,
            (None, _) => 1080,
        };
        let decode = |v: &str| percent_decode_str(v).decode_utf8_lossy().into_owned();
        let user = (!url.username().is_empty()).then(|| decode(url.username()));
        let password = url.password().map(decode);
        if user.is_none() && password.is_some() {
            return Err(bad(format!(
                "proxy `{shown}` has a password but no user name"
            )));
        }
        if kind != ProxyKind::Http {
            // RFC 1929 sends each in a length byte.
            for (what, v) in [("user name", &user), ("password", &password)] {
                if let Some(n) = v.as_ref().map(String::len).filter(|&n| n > 255) {
                    return Err(bad(format!(
                        "the proxy {what} is {n} bytes; SOCKS5 allows at most 255"
                    )));
                }
            }
        }
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
    fn bad_input_is_an_address_error_naming_proxy_and_what_is_accepted() {
        let long = "u".repeat(256);
        let cases = [
            ("socks4://h:1", "proxy scheme `socks4` is not supported"),
            ("nonsense", "proxy `nonsense` is not a URL"),
            ("socks5://h:99999", "is not a URL (invalid port number)"),
            ("socks5://:pw@h:1", "has a password but no user name"),
            ("http://h:3128/path", "has a path, query or fragment"),
            ("socks5://h:1?x=1", "has a path, query or fragment"),
            (
                &format!("socks5h://{long}:p@h:1"),
                "user name is 256 bytes; SOCKS5 allows at most 255",
            ),
        ];
        for (input, says) in cases {
            let e = Proxy::parse(input).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Address, "{input}: {e}");
            assert_eq!(e.key(), Some("proxy"), "{input}: {e}");
            let m = e.to_string();
            assert!(m.contains(says), "{input}: {m}");
            assert!(m.contains(ACCEPTED), "{input}: {m}");
        }
        // HTTP Basic has no such limit; a trailing slash is fine
        assert!(Proxy::parse(&format!("http://{long}:p@h:1/")).is_ok());
    }

    #[test]
    fn messages_hide_the_password() {
        assert_eq!(redact("socks5://u:hunter2@h:1"), "socks5://u:***@h:1");
        assert_eq!(redact("socks5://u:a@b@h:1/x"), "socks5://u:***@h:1/x");
        assert_eq!(redact("socks5://u:a/b#c@h:1"), "socks5://u:***@h:1");
        assert_eq!(redact("socks5://u@h:1"), "socks5://u@h:1");
        assert_eq!(redact("http://h:1/a"), "http://h:1/a");
        for bad in [
            "socks5://u:hunter2@h:99999",
            "socks5://u:hun/ter2@h:1",
            "nonsense://u:hunter2@",
        ] {
            let e = Proxy::parse(bad).unwrap_err();
            assert!(!e.to_string().contains("ter2"), "{e}");
            assert!(!format!("{e:?}").contains("ter2"), "{e:?}");
        }
    }
}
