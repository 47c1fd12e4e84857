//! `amqp://`, `amqps://`: the address (always compiled) and the client (cargo feature `amqp`).
//!
//! `amqp://[user:pass@]host[:5672]/[vhost]?queue=Q[&durable=true|false][&consume=true|false]`
//! (`amqps://`: TLS, port 5671; the server's certificate checked against the
//! system's roots, or against `ca=` (a PEM file: the server's CA or its own
//! certificate); `insecure=true` skips the check, for tests). Reading consumes Q, declared if
//! missing (durable when `durable=true`, the default false); each message is
//! acknowledged once it is in the connection's inbox. Writing publishes to Q
//! through the default exchange. `consume=false` makes a connection that only
//! writes: a consumer would take its share of Q's messages (RabbitMQ hands
//! each message to one consumer), which a program that only publishes (a
//! relay into Q) must not do. A message's `topic()` is its routing key.
//! No user is the AMQP default `guest:guest`; no vhost (or `/`) is the
//! default vhost `/`.
//!
//! The client is `lapin`, on a current-thread tokio runtime that belongs to
//! the connection, beside lapin's own I/O thread. Whoever reads the consumer
//! drives that runtime: the connection's thread, or, while a program keeps
//! up, the program's own thread (the broker driver's hand-off), except from
//! inside a tokio runtime of the program's, where only the connection's
//! thread reads. A publish goes onto lapin's outgoing queue on the writing
//! thread, in order, without waiting (no publisher confirms), and lapin's I/O
//! thread writes it.

use crate::address::{Scheme, Target};
use crate::error::Error;
use crate::options::Options;

use super::Protocol;

const FORM: &str = "amqp://[user:pass@]host[:5672]/[vhost]?queue=Q[&durable=true|false][&consume=true|false] (amqps:// for TLS, port 5671)";

/// An `amqp://` or `amqps://` address, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AmqpAddress {
    pub(super) tls: bool,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) user: String,
    pub(super) pass: String,
    pub(super) vhost: String,
    pub(super) queue: String,
    pub(super) durable: bool,
    pub(super) consume: bool,
}

/// Reads an `amqp://` or `amqps://` address.
pub(super) fn parse(scheme: Scheme, url: &str) -> Result<AmqpAddress, Error> {
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
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let (user, pass) = match parsed.username() {
        "" => ("guest".to_owned(), "guest".to_owned()),
        u => (decode(u), parsed.password().map(decode).unwrap_or_default()),
    };
    let path = parsed.path().strip_prefix('/').unwrap_or("");
    if path.contains('/') {
        return Err(Error::address(
            None,
            format!("`{url}`: the path is the vhost, one segment (`/prod`, `/%2F` for `/`); the queue goes in `?queue=`; write {FORM}"),
        ));
    }
    let vhost = match decode(path) {
        v if v.is_empty() => "/".to_owned(),
        v => v,
    };
    let (mut queue, mut durable, mut consume) = (None, false, true);
    let boolean = |k: &str, v: &str| match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::address(
            None,
            format!("`{url}`: {k}=`{v}` is not a boolean; accepted: {k}=true or {k}=false"),
        )),
    };
    for (k, v) in parsed.query_pairs() {
        match &*k {
            "queue" => queue = Some(v.into_owned()),
            "durable" => durable = boolean(&k, &v)?,
            "consume" => consume = boolean(&k, &v)?,
            other => {
                return Err(Error::address(
                    None,
                    format!("`{url}`: unknown query parameter `{other}`; accepted: queue=Q, durable=true|false, consume=true|false ({FORM})"),
                ))
            }
        }
    }
    let queue = queue
        .ok_or_else(|| Error::address(None, format!("`{url}` names no queue; write {FORM}")))?;
    if queue.is_empty() || queue.len() > 255 {
        return Err(Error::address(
            None,
            format!("`{url}`: the queue name must be 1 to 255 bytes long ({FORM})"),
        ));
    }
    let tls = scheme == Scheme::Amqps;
    Ok(AmqpAddress {
        tls,
        host,
        port: parsed.port().unwrap_or(if tls { 5671 } else { 5672 }),
        user,
        pass,
        vhost,
        queue,
        durable,
        consume,
    })
}

/// Checks an `amqp://` or `amqps://` address; its host and port.
pub(super) fn endpoint(scheme: Scheme, url: &str) -> Result<(String, u16), Error> {
    let a = parse(scheme, url)?;
    Ok((a.host, a.port))
}

/// The protocol for `target`, or `Unsupported` naming the feature.
#[cfg(not(feature = "amqp"))]
pub(super) fn protocol(target: &Target, _options: &Options) -> Result<Box<dyn Protocol>, Error> {
    Err(super::feature_off(target.scheme(), "amqp"))
}

/// The protocol for `target`.
#[cfg(feature = "amqp")]
pub(super) fn protocol(target: &Target, options: &Options) -> Result<Box<dyn Protocol>, Error> {
    Ok(Box::new(client::Amqp::new(
        parse(target.scheme(), target.url())?,
        options,
    )?))
}

#[cfg(feature = "amqp")]
mod client;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn reads_user_host_vhost_queue_durable() {
        let a = parse(
            Scheme::Amqp,
            "amqp://al%40ice:s3c%3Aret@127.0.0.1:5673/prod?queue=orders&durable=true",
        )
        .unwrap();
        assert_eq!(
            a,
            AmqpAddress {
                tls: false,
                host: "127.0.0.1".into(),
                port: 5673,
                user: "al@ice".into(),
                pass: "s3c:ret".into(),
                vhost: "prod".into(),
                queue: "orders".into(),
                durable: true,
                consume: true,
            }
        );
        assert!(
            !parse(Scheme::Amqp, "amqp://h/?queue=q&consume=false")
                .unwrap()
                .consume
        );
        let d = parse(Scheme::Amqps, "amqps://localhost?queue=q").unwrap();
        assert_eq!(
            (d.tls, d.port, &*d.user, &*d.vhost, d.durable),
            (true, 5671, "guest", "/", false)
        );
        assert_eq!(
            parse(Scheme::Amqp, "amqp://h/%2F?queue=q").unwrap().vhost,
            "/"
        );
        assert_eq!(parse(Scheme::Amqp, "amqp://h/?queue=q").unwrap().port, 5672);
        assert_eq!(
            endpoint(Scheme::Amqp, "amqp://[::1]/?queue=q").unwrap(),
            ("::1".into(), 5672)
        );
    }

    #[test]
    fn bad_addresses_say_what_is_accepted() {
        for (url, says) in [
            ("amqp://127.0.0.1/", "names no queue"),
            ("amqp://127.0.0.1/?queue=", "1 to 255 bytes"),
            (
                "amqp://127.0.0.1/?queue=q&durable=yes",
                "accepted: durable=true or durable=false",
            ),
            (
                "amqp://127.0.0.1/?queue=q&exchange=x",
                "unknown query parameter `exchange`",
            ),
            (
                "amqp://127.0.0.1/?queue=q&consume=no",
                "accepted: consume=true or consume=false",
            ),
            ("amqp://127.0.0.1/a/b?queue=q", "the path is the vhost"),
            ("amqp://?queue=q", "no host"),
            ("amqp://127.0.0.1:70000/?queue=q", "not a valid URL"),
        ] {
            let e = parse(Scheme::Amqp, url).expect_err(url);
            assert_eq!(e.kind(), ErrorKind::Address, "{url}");
            assert!(e.to_string().contains(says), "{url}: {e}");
        }
    }

    #[cfg(not(feature = "amqp"))]
    #[test]
    fn without_the_feature_a_dial_is_unsupported_naming_it() {
        let e = crate::dial("amqp://127.0.0.1/?queue=x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("feature `amqp`"), "{e}");
    }
}
