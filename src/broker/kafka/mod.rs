//! `kafka://`: the address (always compiled) and the client (cargo feature
//! `kafka`, in `client.rs`: rdkafka with its vendored librdkafka).
//!
//! The address is `kafka://host[:9092][,host2[:9092]…]/TOPIC[?group=G&offset=earliest|latest]`:
//! one or more bootstrap brokers (port 9092 when not written; IPv6 in
//! brackets), one topic, and two optional query parameters. Without `group`
//! the connection reads every partition of the topic by itself (no group
//! coordination); with `group` it joins that consumer group and reads the
//! partitions the group gives it. `offset` is where a partition is read from
//! when there is no position yet: `latest` (the default: what is published
//! from the dial on) or `earliest` (everything the topic still holds).

use crate::address::Target;
use crate::error::Error;
use crate::options::Options;

use super::Protocol;

#[cfg(feature = "kafka")]
mod client;

/// The port of a broker written without one.
const DEFAULT_PORT: u16 = 9092;

/// What the address's form says, for errors.
const FORM: &str = "kafka://host[:9092][,host2[:9092]…]/TOPIC[?group=G&offset=earliest|latest]";

/// Where a partition without a position is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// The oldest message the topic holds.
    Earliest,
    /// What is published from now on.
    Latest,
}

/// A `kafka://` address, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KafkaAddress {
    /// The bootstrap brokers, in order (IPv6 without brackets).
    pub(super) brokers: Vec<(String, u16)>,
    pub(super) topic: String,
    pub(super) group: Option<String>,
    pub(super) start: Start,
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
        let bad = |why: String| Error::address(None, format!("`{url}`: {why}; accepted: {FORM}"));
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| bad("not a kafka:// address".into()))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], &rest[i + 1..]),
            _ => {
                return Err(bad(
                    "no topic (write it as the path: kafka://host:9092/TOPIC)".into(),
                ))
            }
        };
        if authority.contains('@') {
            return Err(bad(
                "user names and passwords (SASL) are not supported by kafka:// yet".into(),
            ));
        }
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
                    start = match v {
                        "earliest" => Start::Earliest,
                        "latest" => Start::Latest,
                        _ => {
                            return Err(bad(format!("`offset={v}` is not one of earliest, latest")))
                        }
                    }
                }
                _ => {
                    return Err(bad(format!(
                        "unknown query parameter `{k}` (kafka:// takes group and offset)"
                    )))
                }
            }
        }
        Ok(KafkaAddress {
            brokers,
            topic: topic.to_owned(),
            group,
            start,
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
        assert_eq!((b.group, b.start), (None, Start::Latest));
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
        assert!(err("kafka://u:p@h/t").contains("SASL"));
        assert!(err("kafka://h/a/b").contains("has `/`"));
        assert!(err("kafka://h/t%20").contains("has `%`"));
        assert!(err("kafka://h/..").contains("not a topic name"));
        assert!(err(&format!("kafka://h/{}", "x".repeat(250))).contains("at most 249"));
        assert!(err("kafka://h/t?offset=first").contains("earliest, latest"));
        assert!(err("kafka://h/t?group=").contains("group id"));
        assert!(err("kafka://h/t?qos=1").contains("unknown query parameter `qos`"));
    }

    #[test]
    fn a_dial_reads_the_address_the_same_way() {
        let e = crate::Address::parse("kafka://h:9092|reconnect=true").unwrap_err();
        assert!(e.to_string().contains("no topic"), "{e}");
        let a = crate::Address::parse("kafka://h:9093,g/t?group=x|reconnect=true").unwrap();
        assert_eq!((a.target().host(), a.target().port()), ("h", 9093));
    }
}
