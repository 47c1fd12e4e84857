//! `postgres://`: the address (always compiled) and the client (cargo feature
//! `postgres`, `tokio-postgres`, in `postgres/client.rs`).
//!
//! Two address forms, as libpq reads them:
//!
//! - keywords: `postgres://user=postgres dbname=mydb sslmode=disable password=pw host=localhost port=5432`
//!   (values may be single-quoted, with `\'` and `\\` inside);
//! - a URL: `postgres://user:pw@host:5432/mydb?sslmode=require` (query
//!   parameters are the same keywords).
//!
//! The host defaults to `localhost` and the port to 5432. One host only.

use crate::address::Target;
use crate::error::Error;
use crate::options::Options;

use super::Opener;

#[cfg(feature = "postgres")]
mod client;
#[cfg(all(test, feature = "postgres"))]
mod live_tests;

/// The keywords a `postgres://` address may carry.
const KEYWORDS: &str = "host, port, user, password, dbname, sslmode, sslrootcert, connect_timeout, application_name, options";

/// libpq's `sslmode` values.
const SSLMODES: &str = "disable, allow, prefer, require, verify-ca, verify-full";

/// A `postgres://` address, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PgAddress {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dbname: Option<String>,
    /// One of [`SSLMODES`]; `prefer` when not written, as libpq.
    pub sslmode: String,
    pub sslrootcert: Option<String>,
    pub connect_timeout: Option<u64>,
    pub application_name: Option<String>,
    pub options: Option<String>,
}

/// Checks a `postgres://` address; its host and port.
pub(super) fn endpoint(url: &str) -> Result<(String, u16), Error> {
    let a = parse(url)?;
    Ok((a.host, a.port))
}

/// Reads a `postgres://` (or `postgresql://`) address in either form.
pub(crate) fn parse(url: &str) -> Result<PgAddress, Error> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let pairs = if is_keyword_form(rest) {
        keywords(url, rest)?
    } else {
        url_pairs(url)?
    };
    let mut a = PgAddress {
        host: "localhost".into(),
        port: 5432,
        sslmode: "prefer".into(),
        ..PgAddress::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "host" if !v.is_empty() => {
                if v.contains(',') {
                    return Err(Error::address(
                        Some("host"),
                        format!("`{url}`: host `{v}` is a list; wsdial connects to one host"),
                    ));
                }
                a.host = v
            }
            "host" => {}
            "port" => {
                a.port = v.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
                    Error::address(
                        Some("port"),
                        format!("`{url}`: port `{v}` is not a port number (1-65535)"),
                    )
                })?
            }
            "user" => a.user = Some(v),
            "password" => a.password = Some(v),
            "dbname" => a.dbname = Some(v),
            "sslmode" => {
                if !SSLMODES.split(", ").any(|m| m == v) {
                    return Err(Error::address(
                        Some("sslmode"),
                        format!("`{url}`: sslmode `{v}` is not one of {SSLMODES}"),
                    ));
                }
                a.sslmode = v
            }
            "sslrootcert" => a.sslrootcert = Some(v),
            "connect_timeout" => {
                a.connect_timeout = Some(v.parse().map_err(|_| {
                    Error::address(
                        Some("connect_timeout"),
                        format!("`{url}`: connect_timeout `{v}` is not a number of seconds"),
                    )
                })?)
            }
            "application_name" => a.application_name = Some(v),
            "options" => a.options = Some(v),
            other => {
                return Err(Error::address(
                    Some(other),
                    format!(
                        "`{url}`: `{other}` is not a keyword wsdial reads; accepted: {KEYWORDS}"
                    ),
                ))
            }
        }
    }
    Ok(a)
}

/// `user=… dbname=…` rather than a URL: the first word is `name=`.
fn is_keyword_form(rest: &str) -> bool {
    let t = rest.trim_start();
    let name_len = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(t.len());
    name_len > 0 && t[name_len..].trim_start().starts_with('=')
}

/// libpq's keyword/value string: `key = value`, values single-quoted when
/// they hold spaces.
fn keywords(url: &str, rest: &str) -> Result<Vec<(String, String)>, Error> {
    let bad = |what: &str| {
        Error::address(
            None,
            format!("`{url}`: {what}; write key=value pairs separated by spaces ({KEYWORDS})"),
        )
    };
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(bad(&format!("`{key}` has no `=value`")));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(bad(&format!("the value of `{key}` ends in `\\`"))),
                    },
                    Some(c) => value.push(c),
                    None => {
                        return Err(bad(&format!("the quote of `{key}`'s value is not closed")))
                    }
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(bad(&format!("the value of `{key}` ends in `\\`"))),
                    }
                    continue;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value));
    }
}

/// `postgres://user:pw@host:port/dbname?key=value…` as keyword pairs.
fn url_pairs(url: &str) -> Result<Vec<(String, String)>, Error> {
    let parsed = url::Url::parse(url).map_err(|e| {
        Error::address(
            None,
            format!(
                "`{url}` is neither libpq keywords (`postgres://user=u dbname=d host=h`) nor a URL \
                 (`postgres://user:pw@host:5432/dbname?sslmode=require`): {e}"
            ),
        )
    })?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut out = Vec::new();
    match parsed.host() {
        Some(url::Host::Ipv6(ip)) => out.push(("host".into(), ip.to_string())),
        Some(h) => out.push(("host".into(), decode(&h.to_string()))),
        None => {}
    }
    if let Some(p) = parsed.port() {
        out.push(("port".into(), p.to_string()));
    }
    if !parsed.username().is_empty() {
        out.push(("user".into(), decode(parsed.username())));
    }
    if let Some(pw) = parsed.password() {
        out.push(("password".into(), decode(pw)));
    }
    let db = parsed.path().trim_start_matches('/');
    if !db.is_empty() {
        out.push(("dbname".into(), decode(db)));
    }
    out.extend(
        parsed
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned())),
    );
    Ok(out)
}

/// The opener for `target`, or `Unsupported` naming the feature.
#[cfg(not(feature = "postgres"))]
pub(super) fn opener(target: &Target, _options: &Options) -> Result<Box<dyn Opener>, Error> {
    Err(super::feature_off(target.scheme(), "postgres"))
}

/// The opener for `target`.
#[cfg(feature = "postgres")]
pub(super) fn opener(target: &Target, _options: &Options) -> Result<Box<dyn Opener>, Error> {
    Ok(Box::new(client::PgOpener::new(parse(target.url())?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_form_as_libpq_reads_it() {
        let a = parse("postgres://user=postgres dbname=mydb sslmode=disable password=pw host=localhost port=5433").unwrap();
        assert_eq!(a.user.as_deref(), Some("postgres"));
        assert_eq!(a.dbname.as_deref(), Some("mydb"));
        assert_eq!(a.password.as_deref(), Some("pw"));
        assert_eq!(a.sslmode, "disable");
        assert_eq!((a.host.as_str(), a.port), ("localhost", 5433));
        let q = parse(r"postgres://password = 'a b\'c' user=x").unwrap();
        assert_eq!(q.password.as_deref(), Some("a b'c"));
        assert_eq!((q.host.as_str(), q.port), ("localhost", 5432));
    }

    #[test]
    fn url_form() {
        let a = parse(
            "postgres://bob:p%40ss@db.example:6000/mydb?sslmode=require&application_name=bot",
        )
        .unwrap();
        assert_eq!(a.user.as_deref(), Some("bob"));
        assert_eq!(a.password.as_deref(), Some("p@ss"));
        assert_eq!((a.host.as_str(), a.port), ("db.example", 6000));
        assert_eq!(a.dbname.as_deref(), Some("mydb"));
        assert_eq!(a.sslmode, "require");
        assert_eq!(a.application_name.as_deref(), Some("bot"));
        let d = parse("postgresql://[::1]/x").unwrap();
        assert_eq!((d.host.as_str(), d.port), ("::1", 5432));
    }

    #[test]
    fn bad_addresses_say_what_is_accepted() {
        for (url, says) in [
            ("postgres://user=x sslmode=maybe", "verify-full"),
            ("postgres://user=x colour=red", "accepted: host"),
            ("postgres://user=x port=99999", "port number"),
            ("postgres://user='x", "not closed"),
            ("postgres://h:1/d?sslmode=no", "disable, allow"),
            ("postgres://user=x host=a,b", "one host"),
        ] {
            let e = parse(url).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Address, "{url}");
            assert!(e.to_string().contains(says), "{url}: {e}");
        }
    }
}
