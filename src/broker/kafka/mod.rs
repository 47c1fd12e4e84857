//! `kafka://`: the address (always compiled) and the client (cargo feature
//! `kafka`, in `client.rs`: rdkafka with its vendored librdkafka).
//!
//! The address is `kafka://[user:pass@]host[:9092][,host2[:9092]…]/TOPIC[?group=G&offset=earliest|latest&mechanism=M]`:
//! one or more bootstrap brokers (port 9092 when not written; IPv6 in
//! brackets), one topic, and optional query parameters. A user and password
//! (percent-encoded where they hold `:`, `@`, `/`…) authenticate with SASL
//! over the plain connection (`SASL_PLAINTEXT`), by the `mechanism`:
//! `scram-sha-512` (the default), `scram-sha-256` or `plain`. The SCRAM
//! mechanisms never send the password itself; `plain` does, in the clear, as
//! kafka:// has no TLS. Without `group`
//! the connection reads every partition of the topic by itself (no group
//! coordination); with `group` it joins that consumer group and reads the
//! partitions the group gives it. `offset` is where a partition is read from
//! when there is no position yet: `latest` (the default: what is published
//! from the dial on) or `earliest` (everything the topic still holds).
//! `consume=false` makes a connection that only publishes: no partition is
//! assigned or fetched (a reading connection reads its own publications
//! back), so a read never returns a message, only a `Disconnected`; `group`
//! and `offset`, which are about reading, are refused with it.

use crate::address::Target;
use crate::error::Error;
use crate::options::Options;

use super::Protocol;

#[cfg(feature = "kafka")]
mod client;

/// The port of a broker written without one.
const DEFAULT_PORT: u16 = 9092;

/// What the address's form says, for errors.
const FORM: &str = "kafka://[user:pass@]host[:9092][,host2[:9092]…]/TOPIC[?group=G&offset=earliest|latest&mechanism=scram-sha-512|scram-sha-256|plain&consume=true|false]";

/// Where a partition without a position is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// The oldest message the topic holds.
    Earliest,
    /// What is published from now on.
    Latest,
}

/// How a user and password are checked (librdkafka's `sasl.mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mechanism {
    /// SCRAM-SHA-512 (RFC 5802, 7677): the password is not sent. The default.
    ScramSha512,
    /// SCRAM-SHA-256.
    ScramSha256,
    /// PLAIN (RFC 4616): the password is sent as it is.
    Plain,
}

impl Mechanism {
    /// The `mechanism=` values, for errors.
    const ACCEPTED: &'static str = "scram-sha-512 (the default), scram-sha-256, plain";

    fn parse(v: &str) -> Option<Mechanism> {
        match v.to_ascii_lowercase().as_str() {
            "scram-sha-512" => Some(Mechanism::ScramSha512),
            "scram-sha-256" => Some(Mechanism::ScramSha256),
            "plain" => Some(Mechanism::Plain),
            _ => None,
        }
    }

    /// librdkafka's name for it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::Plain => "PLAIN",
        }
    }
}

/// A user and password, and how they are checked.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Sasl {
    pub(super) user: String,
    pub(super) pass: String,
    pub(super) mechanism: Mechanism,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never goes into a log line or a panic message.
        f.debug_struct("Sasl")
            .field("user", &self.user)
            .field("pass", &"***")
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

/// A `kafka://` address, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KafkaAddress {
    /// The bootstrap brokers, in order (IPv6 without brackets).
    pub(super) brokers: Vec<(String, u16)>,
    pub(super) topic: String,
    pub(super) group: Option<String>,
    pub(super) start: Start,
    /// SASL, when the address has a user.
    pub(super) sasl: Option<Sasl>,
    /// Whether the topic is read (`consume=`, default true).
    pub(super) consume: bool,
}

impl KafkaAddress {
    /// librdkafka's `bootstrap.servers`: `host:port,…`, IPv6 in brackets.
    pub(super) fn bootstrap(&self) -> String {
        let one = |(h, p): &(String, u16)| {
            if h.contains(':') {
                format!("[{h}]:{p}")
            } else {
                format!("{h}:{p}")
            }
        };
        self.brokers.iter().map(one).collect::<Vec<_>>().join(",")
    }

    /// Reads a `kafka://` URL; an `Address` error says what is accepted.
    pub(super) fn parse(url: &str) -> Result<KafkaAddress, Error> {
        // Errors show the address with its password masked.
        let shown = crate::db::masked(url);
        let bad = |why: String| Error::address(None, format!("`{shown}`: {why}; accepted: {FORM}"));
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| bad("not a kafka:// address".into()))?;
        // The user info ends at the last `@` before the path (a raw `@` in
        // a password is taken as part of it).
        let path_at = rest.find(['/', '?']).unwrap_or(rest.len());
        let (userinfo, rest) = match rest[..path_at].rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], &rest[i + 1..]),
            _ => {
                return Err(bad(
                    "no topic (write it as the path: kafka://host:9092/TOPIC)".into(),
                ))
            }
        };
        let credentials = match userinfo {
            None => None,
            Some(ui) => {
                let (u, p) = ui.split_once(':').ok_or_else(|| {
                    bad("a user without a password (SASL needs both: user:pass@)".into())
                })?;
                let decode = |s: &str, what: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .map(|s| s.into_owned())
                        .map_err(|_| bad(format!("the {what} is not UTF-8 once percent-decoded")))
                };
                let (user, pass) = (decode(u, "user")?, decode(p, "password")?);
                if user.is_empty() {
                    return Err(bad("an empty user name before `:`".into()));
                }
                Some((user, pass))
            }
        };
        if authority.is_empty() {
            return Err(bad("no broker host".into()));
        }
        let brokers = authority
            .split(',')
            .map(|b| broker(b).map_err(&bad))
            .collect::<Result<Vec<_>, _>>()?;
        let (topic, query) = path.split_once('?').unwrap_or((path, ""));
        check_topic(topic).map_err(bad)?;
        let mut group = None;
        let mut start = Start::Latest;
        let mut mechanism = None;
        let (mut consume, mut offset_given) = (true, false);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "group" if v.is_empty() => return Err(bad("`group=` needs a group id".into())),
                "group" => {
                    let v = percent_encoding::percent_decode_str(v)
                        .decode_utf8()
                        .map_err(|_| bad("`group=` is not UTF-8".into()))?;
                    group = Some(v.into_owned());
                }
                "offset" => {
                    offset_given = true;
                    start = match v {
                        "earliest" => Start::Earliest,
                        "latest" => Start::Latest,
                        _ => {
                            return Err(bad(format!("`offset={v}` is not one of earliest, latest")))
                        }
                    }
                }
                "mechanism" => {
                    mechanism = Some(Mechanism::parse(v).ok_or_else(|| {
                        bad(format!(
                            "`mechanism={v}` is not one of {}",
                            Mechanism::ACCEPTED
                        ))
                    })?)
                }
                "consume" => {
                    consume = match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(bad(format!(
                                "consume=`{v}` is not a boolean; accepted: consume=true or consume=false"
                            )))
                        }
                    }
                }
                _ => {
                    return Err(bad(format!(
                        "unknown query parameter `{k}` (kafka:// takes group, offset, mechanism and consume)"
                    )))
                }
            }
        }
        let sasl =
            match (credentials, mechanism) {
                (Some((user, pass)), m) => Some(Sasl {
                    user,
                    pass,
                    mechanism: m.unwrap_or(Mechanism::ScramSha512),
                }),
                (None, Some(_)) => return Err(bad(
                    "`mechanism=` without a user and password (write kafka://user:pass@host/TOPIC)"
                        .into(),
                )),
                (None, None) => None,
            };
        if !consume && (group.is_some() || offset_given) {
            return Err(bad(
                "consume=false reads nothing, so `group=` and `offset=` (which say how to read) mean nothing with it".into(),
            ));
        }
        Ok(KafkaAddress {
            brokers,
            topic: topic.to_owned(),
            group,
            start,
            sasl,
            consume,
        })
    }
}

/// One `host[:port]` of the broker list.
fn broker(b: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = b.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("broker `{b}` has an unclosed `[`"))?;
        match after {
            "" => (h, None),
            p if p.starts_with(':') => (h, Some(&p[1..])),
            _ => return Err(format!("broker `{b}` is not host:port")),
        }
    } else {
        match b.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (b, None),
        }
    };
    if host.is_empty() {
        return Err(format!(
            "broker `{b}` has no host (an empty entry in the list?)"
        ));
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
    {
        return Err(format!(
            "broker host `{host}` is not a host name or IP address"
        ));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("broker `{b}` has port `{p}`, not one in 1..=65535")),
        },
    };
    Ok((host.to_owned(), port))
}

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("no topic (write it as the path: kafka://host:9092/TOPIC)".into());
    }
    if topic == "." || topic == ".." {
        return Err(format!("`{topic}` is not a topic name"));
    }
    if topic.len() > 249 {
        return Err(format!(
            "the topic is {} characters long; Kafka allows at most 249",
            topic.len()
        ));
    }
    if let Some(c) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic `{topic}` has `{c}`; a Kafka topic is letters, digits, `.`, `_` and `-`"
        ));
    }
    Ok(())
}

/// Checks a `kafka://` address; its first broker's host and port.
pub(super) fn endpoint(url: &str) -> Result<(String, u16), Error> {
    let a = KafkaAddress::parse(url)?;
    Ok(a.brokers[0].clone())
}

/// The protocol for `target`, or `Unsupported` naming the feature.
pub(super) fn protocol(target: &Target, options: &Options) -> Result<Box<dyn Protocol>, Error> {
    #[cfg(feature = "kafka")]
    {
        let address = KafkaAddress::parse(target.url())?;
        Ok(Box::new(client::Kafka::new(address, options)))
    }
    #[cfg(not(feature = "kafka"))]
    {
        let _ = options;
        Err(super::feature_off(target.scheme(), "kafka"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn err(url: &str) -> String {
        let e = KafkaAddress::parse(url).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Address, "{url}");
        let s = e.to_string();
        assert!(s.contains("accepted: kafka://"), "{url}: {s}");
        s
    }

    #[test]
    fn reads_brokers_topic_and_query() {
        let a = KafkaAddress::parse("kafka://a:1,b,[::1]:3/t.x_y-z?group=g%201&offset=earliest")
            .unwrap();
        assert_eq!(
            a.brokers,
            [
                ("a".to_owned(), 1),
                ("b".to_owned(), 9092),
                ("::1".to_owned(), 3)
            ]
        );
        assert_eq!(a.bootstrap(), "a:1,b:9092,[::1]:3");
        assert_eq!(a.topic, "t.x_y-z");
        assert_eq!(a.group.as_deref(), Some("g 1"));
        assert_eq!(a.start, Start::Earliest);
        let b = KafkaAddress::parse("kafka://127.0.0.1:9092/t").unwrap();
        assert_eq!((b.group, b.start, b.consume), (None, Start::Latest, true));
        assert!(
            !KafkaAddress::parse("kafka://h/t?consume=false")
                .unwrap()
                .consume
        );
        assert_eq!(endpoint("kafka://h:7,i:8/t").unwrap(), ("h".to_owned(), 7));
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        assert!(err("kafka://h:9092").contains("no topic"));
        assert!(err("kafka://h:9092/").contains("no topic"));
        assert!(err("kafka://h:9092?group=g").contains("no topic"));
        assert!(err("kafka:///t").contains("no broker host"));
        assert!(err("kafka://h:0/t").contains("port `0`"));
        assert!(err("kafka://h:x/t").contains("port `x`"));
        assert!(err("kafka://h:70000/t").contains("port `70000`"));
        assert!(err("kafka://a,,b/t").contains("no host"));
        assert!(err("kafka://[::1/t").contains("unclosed"));
        assert!(err("kafka://u@h/t").contains("without a password"));
        assert!(err("kafka://:p@h/t").contains("empty user"));
        assert!(err("kafka://h/t?mechanism=scram-sha-512").contains("without a user"));
        let e = err("kafka://u:hunter2@h/t?mechanism=gssapi");
        assert!(
            e.contains("`mechanism=gssapi` is not one of scram-sha-512 (the default), scram-sha-256, plain"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "the password is masked: {e}");
        assert!(err("kafka://h/a/b").contains("has `/`"));
        assert!(err("kafka://h/t%20").contains("has `%`"));
        assert!(err("kafka://h/..").contains("not a topic name"));
        assert!(err(&format!("kafka://h/{}", "x".repeat(250))).contains("at most 249"));
        assert!(err("kafka://h/t?offset=first").contains("earliest, latest"));
        assert!(err("kafka://h/t?group=").contains("group id"));
        assert!(err("kafka://h/t?qos=1").contains("unknown query parameter `qos`"));
        assert!(err("kafka://h/t?consume=no").contains("accepted: consume=true or consume=false"));
        assert!(err("kafka://h/t?consume=false&group=g").contains("consume=false reads nothing"));
        assert!(
            err("kafka://h/t?offset=earliest&consume=0").contains("consume=false reads nothing")
        );
    }

    #[test]
    fn reads_sasl_credentials_and_mechanism() {
        let a = KafkaAddress::parse("kafka://al%40ice:p%3Aw@d@h:9/t").unwrap();
        let sasl = a.sasl.clone().unwrap();
        assert_eq!(
            (sasl.user.as_str(), sasl.pass.as_str()),
            ("al@ice", "p:w@d")
        );
        assert_eq!(sasl.mechanism, Mechanism::ScramSha512);
        assert_eq!(a.brokers, [("h".to_owned(), 9)]);
        assert!(
            !format!("{a:?}").contains("p:w@d"),
            "Debug masks the password"
        );
        for (q, m) in [
            ("scram-sha-256", Mechanism::ScramSha256),
            ("SCRAM-SHA-512", Mechanism::ScramSha512),
            ("plain", Mechanism::Plain),
        ] {
            let a = KafkaAddress::parse(&format!("kafka://u:p@h/t?mechanism={q}")).unwrap();
            assert_eq!(a.sasl.unwrap().mechanism, m, "{q}");
        }
        assert_eq!(KafkaAddress::parse("kafka://h/t").unwrap().sasl, None);
    }

    #[test]
    fn a_dial_reads_the_address_the_same_way() {
        let e = crate::Address::parse("kafka://h:9092|reconnect=true").unwrap_err();
        assert!(e.to_string().contains("no topic"), "{e}");
        let a = crate::Address::parse("kafka://h:9093,g/t?group=x|reconnect=true").unwrap();
        assert_eq!((a.target().host(), a.target().port()), ("h", 9093));
    }
}
