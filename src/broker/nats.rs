//! `nats://`: the address (always compiled) and the client (cargo feature `nats`).
//!
//! `nats://[user[:pass]@]host[:4222]?topic=SUBJECT[&queue=GROUP][&consume=true|false]`. Reading
//! subscribes to SUBJECT (wildcards `*` and `>` allowed), in queue group
//! GROUP when given; writing publishes to SUBJECT, and a wildcard subject has
//! nothing to publish to. `consume=false` makes a connection that only
//! publishes: nothing is subscribed (NATS delivers a client's own
//! publications to its subscriptions), so a read never returns a message,
//! only a `Disconnected`; with a wildcard subject or a queue group it is
//! refused. TLS is used when the server requires it, with
//! `ca=` and `insecure=`.
//!
//! The client is `async-nats` on a current-thread tokio runtime that belongs
//! to the connection: only the connection's thread drives it (`block_on` in
//! [`Protocol::connect`] and [`Session::recv_batch`], which takes
//! what the client has buffered in one entry into the runtime); a publish from the
//! program's thread goes into an unbounded channel that a task on that
//! runtime empties in order. Nothing runs on the program's thread, so a
//! program inside its own tokio runtime can dial and read.

use crate::address::Target;
use crate::error::Error;
use crate::options::Options;

use super::Protocol;

/// The default port of `nats://`.
const DEFAULT_PORT: u16 = 4222;

const FORM: &str =
    "nats://[user[:pass]@]host[:4222]?topic=SUBJECT[&queue=GROUP][&consume=true|false]";

/// A `nats://` address, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NatsAddress {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) user: Option<String>,
    pub(super) pass: Option<String>,
    pub(super) subject: String,
    pub(super) queue: Option<String>,
    /// Whether SUBJECT is subscribed (`consume=`, default true).
    pub(super) consume: bool,
}

impl NatsAddress {
    /// Whether the subject has a wildcard token (`*` or `>`): readable, not publishable.
    pub(super) fn is_wildcard(&self) -> bool {
        self.subject.split('.').any(|t| t == "*" || t == ">")
    }
}

/// Reads a `nats://` address.
pub(super) fn parse(url: &str) -> Result<NatsAddress, Error> {
    let parsed = url::Url::parse(url).map_err(|e| {
        Error::address(
            None,
            format!("`{url}` is not a valid URL: {e}; write {FORM}"),
        )
    })?;
    let host = match parsed.host() {
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        Some(h) if !h.to_string().is_empty() => h.to_string(),
        _ => {
            return Err(Error::address(
                None,
                format!("`{url}` has no host; write {FORM}"),
            ))
        }
    };
    if !matches!(parsed.path(), "" | "/") {
        return Err(Error::address(
            None,
            format!(
                "`{url}`: a NATS address has no path (`{}`); the subject goes in `?topic=`, as in {FORM}",
                parsed.path()
            ),
        ));
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = Some(parsed.username())
        .filter(|u| !u.is_empty())
        .map(decode);
    let pass = parsed.password().map(decode);
    let (mut subject, mut queue, mut consume) = (None, None, true);
    for (k, v) in parsed.query_pairs() {
        match &*k {
            "topic" | "subject" => subject = Some(v.into_owned()),
            "queue" => queue = Some(v.into_owned()),
            "consume" => {
                consume = match &*v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(Error::address(
                        None,
                        format!("`{url}`: consume=`{v}` is not a boolean; accepted: consume=true or consume=false"),
                    )),
                }
            }
            other => {
                return Err(Error::address(
                    None,
                    format!("`{url}`: unknown query parameter `{other}`; accepted: topic=SUBJECT, queue=GROUP, consume=true|false ({FORM})"),
                ))
            }
        }
    }
    let subject = subject
        .ok_or_else(|| Error::address(None, format!("`{url}` names no subject; write {FORM}")))?;
    check_subject(url, &subject)?;
    if let Some(q) = &queue {
        if q.is_empty() || q.chars().any(char::is_whitespace) {
            return Err(Error::address(
                None,
                format!("`{url}`: queue group `{q}` must be a non-empty name without spaces"),
            ));
        }
    }
    let a = NatsAddress {
        host,
        port: parsed.port().unwrap_or(DEFAULT_PORT),
        user,
        pass,
        subject,
        queue,
        consume,
    };
    if !a.consume && (a.is_wildcard() || a.queue.is_some()) {
        return Err(Error::address(
            None,
            format!("`{url}`: consume=false subscribes nothing, so neither a wildcard subject (nothing to publish to) nor a queue group (for readers) means anything with it; {FORM}"),
        ));
    }
    Ok(a)
}

/// A subject is dot-separated non-empty tokens without spaces; `*` is a whole
/// token, `>` only the last one.
fn check_subject(url: &str, subject: &str) -> Result<(), Error> {
    let bad = |why: &str| {
        Error::address(
            None,
            format!(
                "`{url}`: subject `{subject}` {why}; a subject is dot-separated tokens without spaces \
                 (`orders.eu`), `*` matching one token and a final `>` the rest (`orders.*`, `orders.>`)"
            ),
        )
    };
    if subject.is_empty() {
        return Err(bad("is empty"));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_empty() {
            return Err(bad("has an empty token"));
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("has white space"));
        }
        if t.len() > 1 && (t.contains('*') || t.contains('>')) {
            return Err(bad("has a wildcard inside a token"));
        }
        if *t == ">" && i + 1 != tokens.len() {
            return Err(bad("has `>` before its last token"));
        }
    }
    Ok(())
}

/// Checks a `nats://` address; its host and port.
pub(super) fn endpoint(url: &str) -> Result<(String, u16), Error> {
    let a = parse(url)?;
    Ok((a.host, a.port))
}

/// The protocol for `target`, or `Unsupported` naming the feature.
#[cfg(not(feature = "nats"))]
pub(super) fn protocol(target: &Target, _options: &Options) -> Result<Box<dyn Protocol>, Error> {
    Err(super::feature_off(target.scheme(), "nats"))
}

/// The protocol for `target`.
#[cfg(feature = "nats")]
pub(super) fn protocol(target: &Target, options: &Options) -> Result<Box<dyn Protocol>, Error> {
    Ok(Box::new(client::Nats::new(parse(target.url())?, options)?))
}

#[cfg(feature = "nats")]
mod client;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn reads_user_host_port_subject_queue() {
        let a = parse("nats://al%40ice:s3c%3Aret@127.0.0.1:4333?topic=orders.eu&queue=workers")
            .unwrap();
        assert_eq!(a.host, "127.0.0.1");
        assert_eq!(a.port, 4333);
        assert_eq!(a.user.as_deref(), Some("al@ice"));
        assert_eq!(a.pass.as_deref(), Some("s3c:ret"));
        assert_eq!(a.subject, "orders.eu");
        assert_eq!(a.queue.as_deref(), Some("workers"));
        assert!(!a.is_wildcard());
        assert!(a.consume);
        assert!(!parse("nats://h?topic=a.b&consume=false").unwrap().consume);
        let d = parse("nats://localhost?topic=a.*.c").unwrap();
        assert_eq!((d.port, &d.user, &d.pass), (4222, &None, &None));
        assert!(d.is_wildcard());
        assert!(parse("nats://[::1]?topic=a.>").unwrap().is_wildcard());
        assert_eq!(
            endpoint("nats://[::1]:5000?topic=x").unwrap(),
            ("::1".into(), 5000)
        );
    }

    #[test]
    fn bad_addresses_say_what_is_accepted() {
        for (url, says) in [
            ("nats://127.0.0.1", "names no subject"),
            ("nats://127.0.0.1?topic=", "is empty"),
            ("nats://127.0.0.1?topic=a..b", "empty token"),
            ("nats://127.0.0.1?topic=a.>.b", "before its last token"),
            ("nats://127.0.0.1?topic=a.b*", "inside a token"),
            ("nats://127.0.0.1?topic=a%20b", "white space"),
            (
                "nats://127.0.0.1?topic=a&group=g",
                "unknown query parameter `group`",
            ),
            ("nats://127.0.0.1?topic=a&queue=", "non-empty name"),
            (
                "nats://127.0.0.1?topic=a&consume=no",
                "accepted: consume=true or consume=false",
            ),
            (
                "nats://127.0.0.1?topic=a.*&consume=false",
                "consume=false subscribes nothing",
            ),
            (
                "nats://127.0.0.1?topic=a&queue=q&consume=0",
                "consume=false subscribes nothing",
            ),
            ("nats://127.0.0.1/orders", "no path"),
            ("nats://?topic=a", "no host"),
            ("nats://127.0.0.1:99999?topic=a", "not a valid URL"),
        ] {
            let e = parse(url).expect_err(url);
            assert_eq!(e.kind(), ErrorKind::Address, "{url}");
            assert!(e.to_string().contains(says), "{url}: {e}");
            assert!(
                e.to_string().contains("nats://") || e.to_string().contains("token"),
                "{url}: {e}"
            );
        }
    }

    #[cfg(not(feature = "nats"))]
    #[test]
    fn without_the_feature_a_dial_is_unsupported_naming_it() {
        let e = crate::dial("nats://127.0.0.1?topic=x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("feature `nats`"), "{e}");
    }
}
