//! `clickhouse://`: the address (always compiled) and the clients (cargo
//! feature `clickhouse`): ClickHouse's HTTP interface through `ureq`, in
//! `clickhouse/client.rs`, and its native protocol through `klickhouse`, in
//! `clickhouse/native.rs`.
//!
//! Forms:
//!
//! - `clickhouse://host:8123?username=u&password=p&database=d` (also written
//!   `clickhouse://http://host:8123?…`): the HTTP interface, on the port
//!   written (there is no default: write the server's `http_port`, 8123 on a
//!   stock server).
//! - `clickhouse://tcp://host:9000?username=u&password=p&database=d`: the
//!   native protocol, on the port written; `clickhouse://tcp://host` without
//!   a port means 9000, the native protocol's own port (`tcp://` names it).
//!   wsdial never connects to a port other than the one the form names.
//!
//! Parameters: `username` (or `user`), `password`, `database`.

use crate::address::Target;
use crate::error::Error;
use crate::options::Options;

use super::Opener;

#[cfg(feature = "clickhouse")]
mod batch;
#[cfg(feature = "clickhouse")]
mod client;
#[cfg(all(test, feature = "clickhouse"))]
mod live_tests;
#[cfg(feature = "clickhouse")]
mod native;

const PARAMS: &str = "username (or user), password, database";

/// A `clickhouse://` address, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ChAddress {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
    /// `clickhouse://tcp://`: the native protocol (else HTTP).
    pub native: bool,
}

/// The native protocol's port when `clickhouse://tcp://host` names none.
pub(crate) const NATIVE_PORT: u16 = 9000;

/// Checks a `clickhouse://` address; its host and port.
pub(super) fn endpoint(url: &str) -> Result<(String, u16), Error> {
    let a = parse(url)?;
    Ok((a.host, a.port))
}

/// Reads a `clickhouse://` address.
pub(crate) fn parse(url: &str) -> Result<ChAddress, Error> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (inner, rest) = match rest.split_once("://") {
        Some((s, r)) if !s.contains(['/', '?', '@']) => (Some(s), r),
        _ => (None, rest),
    };
    let native = match inner {
        None | Some("http") => false,
        Some("tcp") => true,
        Some(other) => {
            return Err(Error::address(
                None,
                format!(
                    "`{url}`: `{other}://` inside clickhouse:// is not read by wsdial; \
                     write clickhouse://host:8123?… (HTTP) or clickhouse://tcp://host:9000?… (native)"
                ),
            ))
        }
    };
    let parsed = url::Url::parse(&format!("http://{rest}"))
        .map_err(|e| Error::address(None, format!("`{url}` is not host:port?params: {e}")))?;
    let host = match parsed.host() {
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        Some(h) => h.to_string(),
        None => return Err(Error::address(None, format!("`{url}` has no host"))),
    };
    // `http://host` without a port: url reports none (80 is http's default).
    let written = rest.split(['/', '?']).next().unwrap_or("");
    let port = match parsed.port() {
        Some(p) => p,
        None if written.ends_with(":80") => 80,
        None if native => NATIVE_PORT,
        None => {
            return Err(Error::address(
                None,
                format!(
                    "`{url}` has no port; write the server's HTTP port, as in clickhouse://host:8123?username=…"
                ),
            ))
        }
    };
    if !matches!(parsed.path(), "" | "/") {
        return Err(Error::address(
            None,
            format!("`{url}`: a path is not read; name the database with ?database=…"),
        ));
    }
    let mut a = ChAddress {
        host,
        port,
        user: (!parsed.username().is_empty()).then(|| decode(parsed.username())),
        password: parsed.password().map(decode),
        database: None,
        native,
    };
    for (k, v) in parsed.query_pairs() {
        match &*k {
            "username" | "user" => a.user = Some(v.into_owned()),
            "password" => a.password = Some(v.into_owned()),
            "database" => a.database = Some(v.into_owned()),
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

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The opener for `target`, or `Unsupported` naming the feature.
#[cfg(not(feature = "clickhouse"))]
pub(super) fn opener(target: &Target, _options: &Options) -> Result<Box<dyn Opener>, Error> {
    Err(super::feature_off(target.scheme(), "clickhouse"))
}

/// The opener for `target`.
#[cfg(feature = "clickhouse")]
pub(super) fn opener(target: &Target, _options: &Options) -> Result<Box<dyn Opener>, Error> {
    let a = parse(target.url())?;
    if a.native {
        Ok(Box::new(batch::Batched(native::NativeOpener::new(a))))
    } else {
        Ok(Box::new(batch::Batched(client::ChOpener::new(a))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn http_forms() {
        let a = parse("clickhouse://127.0.0.1:8123?username=u&password=p%26q&database=d").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 8123));
        assert_eq!(a.user.as_deref(), Some("u"));
        assert_eq!(a.password.as_deref(), Some("p&q"));
        assert_eq!(a.database.as_deref(), Some("d"));
        let b = parse("clickhouse://http://ch.example:18123?user=x").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.user.as_deref()),
            ("ch.example", 18123, Some("x"))
        );
        assert_eq!(parse("clickhouse://[::1]:8123").unwrap().host, "::1");
    }

    #[test]
    fn native_forms_keep_their_port_or_name_9000() {
        let a =
            parse("clickhouse://tcp://127.0.0.1:19000?username=u&password=p&database=d").unwrap();
        assert!(a.native);
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 19000));
        assert_eq!(
            (
                a.user.as_deref(),
                a.password.as_deref(),
                a.database.as_deref()
            ),
            (Some("u"), Some("p"), Some("d"))
        );
        let b = parse("clickhouse://tcp://[::1]?user=x").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.native),
            ("::1", NATIVE_PORT, true)
        );
        assert!(!parse("clickhouse://host:8123").unwrap().native);
        assert!(!parse("clickhouse://http://host:8123").unwrap().native);
    }

    #[test]
    fn bad_addresses_say_what_is_accepted() {
        for (url, says) in [
            ("clickhouse://host?username=u", "no port"),
            ("clickhouse://host:8123?colour=red", "accepted: username"),
            ("clickhouse://host:8123/db", "?database="),
            ("clickhouse://https://host:8443", "not read by wsdial"),
        ] {
            let e = parse(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Address, "{url}");
            assert!(e.to_string().contains(says), "{url}: {e}");
        }
    }
}
