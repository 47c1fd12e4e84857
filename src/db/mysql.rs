//! `mysql://`: the address (always compiled) and the client (cargo feature
//! `mysql`, the `mysql` crate, in `mysql/client.rs`). MariaDB speaks the same
//! protocol.
//!
//! Two address forms:
//!
//! - Go's driver: `mysql://user:pw@tcp(localhost:3306)/mydb?charset=utf8mb4`;
//! - a URL: `mysql://user:pw@host:3306/mydb`.
//!
//! The host defaults to `localhost`, the port to 3306. Parameters: `charset`
//! (`utf8mb4`, or `utf8`/`utf8mb3`, read as utf8mb4: every connection
//! speaks utf8mb4) and `tls` (`false`, the default; `true`: TLS with the
//! certificate checked; `skip-verify`: TLS without checking it).

use crate::address::Target;
use crate::error::Error;
use crate::options::Options;

use super::Opener;

#[cfg(feature = "mysql")]
mod client;
#[cfg(all(test, feature = "mysql"))]
mod live_tests;

const PARAMS: &str = "charset, tls";

/// A `mysql://` address, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct MyAddress {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dbname: Option<String>,
    /// `false`, `true` or `skip-verify`.
    pub tls: String,
}

/// Checks a `mysql://` address; its host and port.
pub(super) fn endpoint(url: &str) -> Result<(String, u16), Error> {
    let a = parse(url)?;
    Ok((a.host, a.port))
}

/// Reads a `mysql://` address in either form.
pub(crate) fn parse(url: &str) -> Result<MyAddress, Error> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let mut a = MyAddress {
        host: "localhost".into(),
        port: 3306,
        tls: "false".into(),
        ..MyAddress::default()
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let query;
    if let Some(open) = rest.find("tcp(").or_else(|| rest.find("unix(")) {
        // Go: [user[:password]@]tcp(host:port)/dbname[?params]
        if rest[open..].starts_with("unix(") {
            return Err(Error::address(
                None,
                format!("`{url}`: wsdial reaches MySQL over TCP only; write tcp(host:port)"),
            ));
        }
        if open > 0 {
            let user = rest[..open].strip_suffix('@').ok_or_else(|| {
                Error::address(
                    None,
                    format!("`{url}`: write user:password@tcp(host:port)/dbname"),
                )
            })?;
            match user.split_once(':') {
                Some((u, p)) => {
                    a.user = Some(u.to_owned());
                    a.password = Some(p.to_owned());
                }
                None => a.user = Some(user.to_owned()),
            }
        }
        let inner = &rest[open + 4..];
        let close = inner
            .find(')')
            .ok_or_else(|| Error::address(None, format!("`{url}`: tcp( has no closing `)`")))?;
        let hostport = &inner[..close];
        let after = &inner[close + 1..];
        if !hostport.is_empty() {
            let (h, p) = match hostport.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(':') => (h, Some(p)),
                _ => (hostport, None),
            };
            a.host = h.trim_start_matches('[').trim_end_matches(']').to_owned();
            if let Some(p) = p {
                a.port = port(url, p)?;
            }
        }
        let after = if after.is_empty() {
            after
        } else {
            after.strip_prefix('/').ok_or_else(|| {
                Error::address(
                    None,
                    format!("`{url}`: write tcp(host:port)/dbname after the address"),
                )
            })?
        };
        let (db, q) = after.split_once('?').unwrap_or((after, ""));
        if !db.is_empty() {
            a.dbname = Some(db.to_owned());
        }
        query = q.to_owned();
    } else {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::address(
                None,
                format!(
                    "`{url}` is neither Go's form (`mysql://user:pw@tcp(host:3306)/db`) nor a URL \
                     (`mysql://user:pw@host:3306/db`): {e}"
                ),
            )
        })?;
        match parsed.host() {
            Some(url::Host::Ipv6(ip)) => a.host = ip.to_string(),
            Some(h) => a.host = decode(&h.to_string()),
            None => {}
        }
        if let Some(p) = parsed.port() {
            a.port = port(url, &p.to_string())?;
        }
        if !parsed.username().is_empty() {
            a.user = Some(decode(parsed.username()));
        }
        a.password = parsed.password().map(decode);
        let db = parsed.path().trim_start_matches('/');
        if !db.is_empty() {
            a.dbname = Some(decode(db));
        }
        query = parsed.query().unwrap_or("").to_owned();
    }
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "charset" => {
                if !v
                    .split(',')
                    .any(|c| matches!(c, "utf8mb4" | "utf8" | "utf8mb3"))
                {
                    return Err(Error::address(
                        Some("charset"),
                        format!(
                            "`{url}`: charset `{v}`: wsdial speaks utf8mb4 (write charset=utf8mb4)"
                        ),
                    ));
                }
            }
            "tls" => {
                if !matches!(&*v, "true" | "false" | "skip-verify") {
                    return Err(Error::address(
                        Some("tls"),
                        format!("`{url}`: tls `{v}` is not one of true, false, skip-verify"),
                    ));
                }
                a.tls = v.into_owned();
            }
            other => {
                return Err(Error::address(
                    Some(other),
                    format!(
                        "`{url}`: `{other}` is not a parameter wsdial reads; accepted: {PARAMS}"
                    ),
                ))
            }
        }
    }
    Ok(a)
}

fn port(url: &str, p: &str) -> Result<u16, Error> {
    p.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
        Error::address(
            Some("port"),
            format!("`{url}`: port `{p}` is not a port number (1-65535)"),
        )
    })
}

/// The opener for `target`, or `Unsupported` naming the feature.
#[cfg(not(feature = "mysql"))]
pub(super) fn opener(target: &Target, _options: &Options) -> Result<Box<dyn Opener>, Error> {
    Err(super::feature_off(target.scheme(), "mysql"))
}

/// The opener for `target`.
#[cfg(feature = "mysql")]
pub(super) fn opener(target: &Target, options: &Options) -> Result<Box<dyn Opener>, Error> {
    Ok(Box::new(client::MyOpener::new(
        parse(target.url())?,
        options.timeout,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_form() {
        let a = parse("mysql://user:pw@tcp(localhost:3307)/mydb?charset=utf8mb4").unwrap();
        assert_eq!(a.user.as_deref(), Some("user"));
        assert_eq!(a.password.as_deref(), Some("pw"));
        assert_eq!((a.host.as_str(), a.port), ("localhost", 3307));
        assert_eq!(a.dbname.as_deref(), Some("mydb"));
        let b = parse("mysql://root@tcp(127.0.0.1)/").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.dbname),
            ("127.0.0.1", 3306, None)
        );
        let c = parse("mysql://u:p@tcp([::1]:3306)/d?tls=skip-verify").unwrap();
        assert_eq!((c.host.as_str(), c.tls.as_str()), ("::1", "skip-verify"));
    }

    #[test]
    fn url_form() {
        let a = parse("mysql://bob:p%40ss@db.example:3308/mydb").unwrap();
        assert_eq!(a.user.as_deref(), Some("bob"));
        assert_eq!(a.password.as_deref(), Some("p@ss"));
        assert_eq!((a.host.as_str(), a.port), ("db.example", 3308));
        assert_eq!(a.dbname.as_deref(), Some("mydb"));
    }

    #[test]
    fn bad_addresses_say_what_is_accepted() {
        for (url, says) in [
            ("mysql://u:p@tcp(h:3306/db", "closing"),
            ("mysql://u:p@unix(/run/m.sock)/db", "TCP only"),
            ("mysql://u:p@tcp(h:0)/db", "port number"),
            ("mysql://u:p@tcp(h:1)/db?charset=latin1", "utf8mb4"),
            ("mysql://u:p@tcp(h:1)/db?tls=maybe", "skip-verify"),
            ("mysql://u:p@h:1/db?colour=red", "accepted: charset, tls"),
        ] {
            let e = parse(url).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Address, "{url}");
            assert!(e.to_string().contains(says), "{url}: {e}");
        }
    }
}
